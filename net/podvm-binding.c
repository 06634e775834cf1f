/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-binding.c: see podvm-binding.h. */
#include "podvm-build-config.h"
