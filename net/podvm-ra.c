/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-ra.c: see podvm-ra.h. */
#include "podvm-build-config.h"
