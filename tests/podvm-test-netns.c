/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-netns.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>

gboolean
podvm_test_netns_enter(char **why)
{
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        *why = g_strdup_printf("cannot make a network and mount namespace of its own: %s",
                               g_strerror(errno));
        return FALSE;
    }
    /* Mounts made from now on (pods' namespaces) stay in this namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        *why =
            g_strdup_printf("cannot make / private in its mount namespace: %s", g_strerror(errno));
        return FALSE;
    }
    /* A fresh /run/netns and sysfs of this namespace (for /sys/class/net). */
    if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0) {
        *why = g_strdup_printf("cannot mount sysfs for its namespace: %s", g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}
