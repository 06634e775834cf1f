/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-netlink.c: see podvm-netlink.h. */
#include "podvm-build-config.h"
