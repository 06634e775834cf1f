/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-dhcp.c: see podvm-dhcp.h. */
#include "podvm-build-config.h"
