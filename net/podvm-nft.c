/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-nft.c: see podvm-nft.h. */
#include "podvm-build-config.h"
