/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-netns.c: see podvm-netns.h. */
#include "podvm-build-config.h"

#include "podvm-netns.h"

#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "podvm-net-private.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* Sets the loopback link of the calling thread's namespace up. */
static gboolean
loopback_up(GError **error)
{
    struct ifreq ifr = { 0 };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int errsv;

    if (fd < 0) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot make a socket in the new network namespace: %s"), g_strerror(errsv));
        return FALSE;
    }
    g_strlcpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)) {
        errsv = errno;
        close(fd);
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot set 'lo' up in the new network namespace: %s"), g_strerror(errsv));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

typedef struct {
    const char *path;
    GError *error;
} CreateData;

/* A fresh thread: it leaves the process's namespace for a new one and ends. */
static gpointer
create_thread(gpointer user_data)
{
    CreateData *data = user_data;
    int errsv;

    if (unshare(CLONE_NEWNET) != 0) {
        errsv = errno;
        g_set_error(&data->error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot make a network namespace: %s"), g_strerror(errsv));
        return NULL;
    }
    if (!loopback_up(&data->error))
        return NULL;
    if (mount("/proc/thread-self/ns/net", data->path, "none", MS_BIND, NULL) != 0) {
        errsv = errno;
        g_set_error(&data->error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot bind-mount the network namespace at '%s': %s"), data->path,
                    g_strerror(errsv));
        return NULL;
    }
    return NULL;
}

gboolean
podvm_netns_create(const char *path, GError **error)
{
    CreateData data = { .path = path };
    int fd, errsv;

    g_return_val_if_fail(path != NULL, FALSE);

    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot create the network namespace file '%s': %s"), path,
                    g_strerror(errsv));
        return FALSE;
    }
    close(fd);

    g_thread_join(g_thread_new("podvm-netns-new", create_thread, &data));
    if (data.error != NULL) {
        unlink(path);
        g_propagate_error(error, data.error);
        return FALSE;
    }
    return TRUE;
}

int
podvm_netns_open(const char *path, GError **error)
{
    int fd, errsv;

    g_return_val_if_fail(path != NULL, -1);

    if (!podvm_netns_exists(path)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("'%s' is not a network namespace"),
                    path);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot open the network namespace '%s': %s"), path, g_strerror(errsv));
        return -1;
    }
    return fd;
}

gboolean
podvm_netns_exists(const char *path)
{
    struct statfs sfs;

    g_return_val_if_fail(path != NULL, FALSE);

    if (statfs(path, &sfs) != 0)
        return FALSE;
    return sfs.f_type == (__typeof__(sfs.f_type))NSFS_MAGIC;
}

gboolean
podvm_netns_remove(const char *path, GError **error)
{
    int errsv;

    g_return_val_if_fail(path != NULL, FALSE);

    /* EINVAL: not a mount point (a file left by a create that failed). */
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot unmount the network namespace '%s': %s"), path, g_strerror(errsv));
        return FALSE;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot remove the network namespace file '%s': %s"), path,
                    g_strerror(errsv));
        return FALSE;
    }
    return TRUE;
}

typedef struct {
    int netns_fd;
    PodvmNetnsFunc func;
    gpointer user_data;
    gboolean ok;
    GError *error;
} RunData;

/* A fresh thread: it joins the namespace, runs the function and ends there. */
static gpointer
run_thread(gpointer user_data)
{
    RunData *data = user_data;
    int errsv;

    if (setns(data->netns_fd, CLONE_NEWNET) != 0) {
        errsv = errno;
        g_set_error(&data->error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot enter the network namespace: %s"), g_strerror(errsv));
        return NULL;
    }
    data->ok = data->func(data->user_data, &data->error);
    /* A function that fails must say why. */
    if (!data->ok && data->error == NULL)
        g_set_error_literal(&data->error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("an operation inside the network namespace failed"));
    return NULL;
}

gboolean
podvm_netns_run(int netns_fd, PodvmNetnsFunc func, gpointer user_data, GError **error)
{
    RunData data = { .netns_fd = netns_fd, .func = func, .user_data = user_data };

    g_return_val_if_fail(netns_fd >= 0, FALSE);
    g_return_val_if_fail(func != NULL, FALSE);

    g_thread_join(g_thread_new("podvm-netns-run", run_thread, &data));
    if (data.error != NULL) {
        g_propagate_error(error, data.error);
        return FALSE;
    }
    return data.ok;
}

typedef struct {
    int domain, type, protocol;
    int fd;
} SocketData;

static gboolean
socket_in_netns(gpointer user_data, GError **error)
{
    SocketData *data = user_data;
    int errsv;

    data->fd = socket(data->domain, data->type | SOCK_CLOEXEC, data->protocol);
    if (data->fd < 0) {
        errsv = errno;
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(errsv),
                    _("cannot make a socket in the network namespace: %s"), g_strerror(errsv));
        return FALSE;
    }
    return TRUE;
}

int
podvm_netns_socket(int netns_fd, int domain, int type, int protocol, GError **error)
{
    SocketData data = { .domain = domain, .type = type, .protocol = protocol, .fd = -1 };

    if (!podvm_netns_run(netns_fd, socket_in_netns, &data, error))
        return -1;
    return data.fd;
}
