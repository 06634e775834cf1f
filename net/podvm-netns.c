/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-netns.c: see podvm-netns.h. */
#include "podvm-build-config.h"
