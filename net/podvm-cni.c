/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-cni.c: see podvm-cni.h. */
#include "podvm-build-config.h"
