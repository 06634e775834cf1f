/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * net/ against the real kernel, in a network and mount namespace of this
 * program's own (podvm_test_netns_enter()): namespaces as files, links,
 * addresses, routes and taps with libnl, sysctls, the nft table.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-netns.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

static char *netns_skip_reason;

static gboolean
require_netns(void)
{
    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return FALSE;
    }
    return TRUE;
}

/* Whether the link @name is up, seen through the socket @fd (FALSE when missing). */
static gboolean
link_is_up_via(int fd, const char *name)
{
    struct ifreq ifr = { 0 };

    g_strlcpy(ifr.ifr_name, name, sizeof ifr.ifr_name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
        return FALSE;
    return (ifr.ifr_flags & IFF_UP) != 0;
}

static gboolean
link_exists_via(int fd, const char *name)
{
    struct ifreq ifr = { 0 };

    g_strlcpy(ifr.ifr_name, name, sizeof ifr.ifr_name);
    return ioctl(fd, SIOCGIFINDEX, &ifr) == 0;
}

typedef struct {
    int calls;
    gboolean fail;
} RunCount;

static gboolean
count_cb(gpointer user_data, GError **error)
{
    RunCount *count = user_data;

    count->calls++;
    if (count->fail) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, "asked to fail");
        return FALSE;
    }
    return TRUE;
}

static void
test_netns_lifecycle(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_autofree char *plain = NULL;
    g_autoptr(GError) error = NULL;
    RunCount count = { 0 };
    int own, inside, fd;

    if (!require_netns())
        return;
    dir = podvm_test_mkdtemp();
    path = g_build_filename(dir, "netns", NULL);
    plain = g_build_filename(dir, "plain", NULL);
    g_assert_true(g_file_set_contents(plain, "", 0, NULL));

    g_assert_false(podvm_netns_exists(path));
    g_assert_false(podvm_netns_exists(plain));
    g_assert_cmpint(podvm_netns_open(path, &error), ==, -1);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);

    g_assert_true(podvm_netns_create(path, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_netns_exists(path));
    /* The path must not exist before. */
    g_assert_false(podvm_netns_create(path, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS);
    g_clear_error(&error);
    g_assert_true(podvm_netns_exists(path));

    fd = podvm_netns_open(path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_GETFD) & FD_CLOEXEC, !=, 0);

    /* A socket made inside sees the new namespace: lo up there (it is down in ours), no pvtest0. */
    own = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(own, >=, 0);
    g_assert_false(link_is_up_via(own, "lo"));
    inside = podvm_netns_socket(fd, AF_INET, SOCK_DGRAM, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpint(inside, >=, 0);
    g_assert_cmpint(fcntl(inside, F_GETFD) & FD_CLOEXEC, !=, 0);
    g_assert_true(link_is_up_via(inside, "lo"));
    g_assert_true(link_exists_via(inside, "lo"));
    close(inside);
    close(own);

    /* run: the function's result and error come back; a bad fd is an error. */
    g_assert_true(podvm_netns_run(fd, count_cb, &count, &error));
    g_assert_no_error(error);
    count.fail = TRUE;
    g_assert_false(podvm_netns_run(fd, count_cb, &count, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_cmpint(count.calls, ==, 2);
    {
        int not_ns = open(plain, O_RDONLY | O_CLOEXEC);

        g_assert_false(podvm_netns_run(not_ns, count_cb, &count, &error));
        g_assert_nonnull(error);
        g_clear_error(&error);
        g_assert_cmpint(count.calls, ==, 2);
        close(not_ns);
    }

    g_assert_true(podvm_netns_remove(path, &error));
    g_assert_no_error(error);
    g_assert_false(podvm_netns_exists(path));
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    /* Missing is fine; so is a plain file left behind. */
    g_assert_true(podvm_netns_remove(path, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_netns_remove(plain, &error));
    g_assert_no_error(error);
    g_assert_false(g_file_test(plain, G_FILE_TEST_EXISTS));
    /* The namespace lives on while an fd holds it. */
    inside = podvm_netns_socket(fd, AF_INET, SOCK_DGRAM, 0, &error);
    g_assert_no_error(error);
    g_assert_true(link_is_up_via(inside, "lo"));
    close(inside);
    close(fd);

    /* A failed create leaves no file. */
    {
        g_autofree char *nodir = g_build_filename(dir, "no", "netns", NULL);

        g_assert_false(podvm_netns_create(nodir, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        g_clear_error(&error);
    }
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    /* Before g_test_init() and anything else that could start a thread. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/net/netns/lifecycle", test_netns_lifecycle);
    return g_test_run();
}
