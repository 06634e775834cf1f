/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-tap.c: taps, sysctls and MAC text of podvm-netlink.h (links, addresses and routes are in
 * podvm-netlink.c). */
#include "podvm-build-config.h"

#include "podvm-netlink.h"

#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "podvm-net-private.h"

/* More queues than QEMU takes for one NIC are a mistake, not a request. */
#define TAP_MAX_QUEUES 256

/* One queue of the tap @name: an fd, or -1 with @error. */
static int
tap_open_queue(const char *name, gboolean multi_queue, GError **error)
{
    struct ifreq ifr = { 0 };
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    int errsv;

    if (fd < 0) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot open /dev/net/tun for the tap '%s': %s"), name, g_strerror(errsv));
        return -1;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (multi_queue)
        ifr.ifr_flags |= IFF_MULTI_QUEUE;
    g_strlcpy(ifr.ifr_name, name, sizeof ifr.ifr_name);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        errsv = errno;
        close(fd);
        /* EBUSY: a tap of that name is open elsewhere; EINVAL: the name is another kind of link
         * (or a tap with other flags). */
        g_set_error(error, PODVM_ERROR,
                    errsv == EBUSY || errsv == EINVAL ? PODVM_ERROR_EXISTS
                                                      : podvm_net_errno_code(errsv),
                    _("cannot make the tap '%s': %s"), name, g_strerror(errsv));
        return -1;
    }
    return fd;
}

gboolean
podvm_tap_open(const char *name, guint queues, int *fds, GError **error)
{
    g_autofree int *opened = NULL;

    if (!podvm_net_check_ifname(name, error))
        return FALSE;
    if (queues < 1 || queues > TAP_MAX_QUEUES) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("a tap has 1 to %u queues, not %u"), TAP_MAX_QUEUES, queues);
        return FALSE;
    }
    opened = g_new(int, queues);
    for (guint i = 0; i < queues; i++) {
        opened[i] = tap_open_queue(name, queues > 1, error);
        if (opened[i] < 0) {
            for (guint j = 0; j < i; j++)
                close(opened[j]);
            return FALSE;
        }
    }
    memcpy(fds, opened, queues * sizeof *fds);
    return TRUE;
}

gboolean
podvm_sysctl_set(const char *key, const char *value, GError **error)
{
    g_autofree char *path = NULL;
    size_t len;
    int fd, errsv;

    if (key == NULL || key[0] == '\0' || key[0] == '/' || strstr(key, "..") != NULL ||
        strchr(key, '\n') != NULL) {
        g_autofree char *quoted = podvm_quote_for_message(key != NULL ? key : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("bad sysctl key %s: a path below /proc/sys, without '..'"), quoted);
        return FALSE;
    }
    path = g_build_filename("/proc/sys", key, NULL);
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot open the sysctl '%s': %s"), key, g_strerror(errsv));
        return FALSE;
    }
    len = strlen(value);
    if (write(fd, value, len) != (ssize_t)len) {
        errsv = errno;
        close(fd);
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot set the sysctl '%s' to '%s': %s"), key, value, g_strerror(errsv));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

gboolean
podvm_mac_parse(const char *text, guint8 out[6])
{
    guint8 mac[6];

    if (text == NULL || strlen(text) != 17)
        return FALSE;
    for (guint i = 0; i < 6; i++) {
        const char *p = text + i * 3;
        int hi = g_ascii_xdigit_value(p[0]);
        int lo = g_ascii_xdigit_value(p[1]);

        if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
            return FALSE;
        mac[i] = (guint8)(hi << 4 | lo);
    }
    memcpy(out, mac, 6);
    return TRUE;
}

char *
podvm_mac_to_string(const guint8 mac[6])
{
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                           mac[5]);
}
