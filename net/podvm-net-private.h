/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>

#include "podvm-error.h"

G_BEGIN_DECLS

/* Shared by the net/ modules (not installed, not a contract). */

/* The PODVM_ERROR code for an errno: NOT_FOUND, EXISTS, PERMISSION_DENIED, else IO. */
static inline PodvmErrorCode
podvm_net_errno_code(int errsv)
{
    switch (errsv) {
    case ENOENT:
    case ENODEV:
        return PODVM_ERROR_NOT_FOUND;
    case EEXIST:
        return PODVM_ERROR_EXISTS;
    case EPERM:
    case EACCES:
        return PODVM_ERROR_PERMISSION_DENIED;
    default:
        return PODVM_ERROR_IO;
    }
}

/* The route netlink socket behind a PodvmNl (podvm-netlink.c), for the files that extend it
 * (podvm-netlink-vf.c). */
struct nl_sock;
struct _PodvmNl {
    struct nl_sock *sock;
};

G_END_DECLS
