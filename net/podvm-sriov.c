/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-sriov.c: see podvm-sriov.h. */
#include "podvm-build-config.h"
