/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * net/ against the real kernel, in a network and mount namespace of this
 * program's own (podvm_test_netns_enter()): namespaces as files, links,
 * addresses, routes and taps with libnl, sysctls, the nft table.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "podvm-error.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-nft.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

static char *netns_skip_reason;

/* In a PodvmNetnsFunc: a call that must succeed, with its error when it does not. */
#define CHECK(expr)                                                                        \
    G_STMT_START                                                                           \
        {                                                                                  \
            if (!(expr))                                                                   \
                g_error("%s failed: %s", #expr,                                            \
                        error != NULL && *error != NULL ? (*error)->message : "no error"); \
        }                                                                                  \
    G_STMT_END

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

    if (!podvm_test_netns_require(NULL))
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

/* A pod namespace in a temporary directory, for one test. */
typedef struct {
    char *dir;
    char *path;
    int fd;
} PodNetns;

static void
pod_netns_open(PodNetns *ns)
{
    g_autoptr(GError) error = NULL;

    ns->dir = podvm_test_mkdtemp();
    ns->path = g_build_filename(ns->dir, "netns", NULL);
    g_assert_true(podvm_netns_create(ns->path, &error));
    g_assert_no_error(error);
    ns->fd = podvm_netns_open(ns->path, &error);
    g_assert_no_error(error);
}

static void
pod_netns_close(PodNetns *ns)
{
    g_autoptr(GError) error = NULL;

    close(ns->fd);
    g_assert_true(podvm_netns_remove(ns->path, &error));
    g_assert_no_error(error);
    podvm_test_rmrf(ns->dir);
    g_free(ns->dir);
    g_free(ns->path);
}

static char *
read_trimmed(const char *path)
{
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return g_strdup(g_strstrip(text));
}

static gboolean
strv_has(GPtrArray *array, const char *text)
{
    for (guint i = 0; i < array->len; i++) {
        if (g_strcmp0(g_ptr_array_index(array, i), text) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
test_names(void)
{
    const char *bad_names[] = { "",     "abcdefghijklmnop", "a/b", "a b", "a:b", ".", "..",
                                "a\tb", "\xc3\xa9t" };
    const char *good_names[] = { "eth0", "pvbr0", "abcdefghijklmno", "net-1_x.y" };
    const char *bad_macs[] = { "",
                               "52:54:00:12:34",
                               "52:54:00:12:34:5g",
                               "52-54-00-12-34-56",
                               "52:54:00:12:34:567",
                               " 52:54:00:12:34:56",
                               "5:54:00:12:34:56:" };
    const char *bad_cidrs[] = { "10.0.2.1",    "10.0.2.1/33", "10.0.2.1/",     "10.0.2/24",
                                "fd10::1/129", "x/1",         "10.0.2.1/24/1", "10.0.2.1/-1",
                                "10.0.2.1/+8", "/24" };
    guint8 mac[6], bytes[16];
    g_autofree char *text = NULL;
    guint prefix;
    int family;

    for (guint i = 0; i < G_N_ELEMENTS(bad_names); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_false(podvm_net_check_ifname(bad_names[i], &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    }
    g_assert_false(podvm_net_ifname_valid(NULL));
    for (guint i = 0; i < G_N_ELEMENTS(good_names); i++)
        g_assert_true(podvm_net_ifname_valid(good_names[i]));

    g_assert_true(podvm_mac_parse("52:54:00:AB:cd:0f", mac));
    text = podvm_mac_to_string(mac);
    g_assert_cmpstr(text, ==, "52:54:00:ab:cd:0f");
    for (guint i = 0; i < G_N_ELEMENTS(bad_macs); i++) {
        memset(mac, 0x11, sizeof mac);
        g_assert_false(podvm_mac_parse(bad_macs[i], mac));
        g_assert_cmpint(mac[0], ==, 0x11); /* untouched */
    }
    g_assert_false(podvm_mac_parse(NULL, mac));

    g_assert_true(podvm_net_parse_cidr("10.0.2.1/24", &family, bytes, &prefix, NULL));
    g_assert_cmpint(family, ==, AF_INET);
    g_assert_cmpuint(prefix, ==, 24);
    g_assert_cmpint(bytes[0], ==, 10);
    g_assert_cmpint(bytes[3], ==, 1);
    g_assert_true(podvm_net_parse_cidr("fd10:0:2::1/120", &family, bytes, &prefix, NULL));
    g_assert_cmpint(family, ==, AF_INET6);
    g_assert_cmpuint(prefix, ==, 120);
    g_assert_cmpint(bytes[0], ==, 0xfd);
    g_assert_cmpint(bytes[15], ==, 1);
    for (guint i = 0; i < G_N_ELEMENTS(bad_cidrs); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_false(podvm_net_parse_cidr(bad_cidrs[i], &family, bytes, &prefix, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    }
}

/* Inside the pod namespace: the veth's peer "pvpeer0" arrived from outside. */
static gboolean
links_in_pod_cb(gpointer user_data, GError **error)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);
    g_autoptr(GPtrArray) addrs = NULL;
    g_autoptr(GPtrArray) routes = NULL;
    PodvmLinkInfo bridge, peer, info;
    const guint8 mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    GError *local_error = NULL;

    g_assert_nonnull(nl);
    /* Bridge: made down, with its MTU; a second one of the name is EXISTS. */
    CHECK(podvm_nl_bridge_add(nl, "pvbr0", 1400, error));
    g_assert_false(podvm_nl_bridge_add(nl, "pvbr0", 1400, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_EXISTS);
    g_assert_nonnull(strstr(local_error->message, "pvbr0"));
    g_clear_error(&local_error);
    CHECK(podvm_nl_link_get(nl, "pvbr0", &bridge, error));
    g_assert_cmpuint(bridge.mtu, ==, 1400);
    g_assert_false(bridge.up);
    CHECK(podvm_nl_link_set_up(nl, "pvbr0", TRUE, error));
    CHECK(podvm_nl_link_get(nl, "pvbr0", &info, error));
    g_assert_true(info.up);
    g_assert_cmpint(info.index, ==, bridge.index);

    /* The veth's peer, enslaved and freed, its MAC and MTU. */
    CHECK(podvm_nl_link_get(nl, "pvpeer0", &peer, error));
    g_assert_cmpint(peer.master_index, ==, 0);
    CHECK(podvm_nl_link_set_master(nl, "pvpeer0", "pvbr0", error));
    CHECK(podvm_nl_link_get(nl, "pvpeer0", &info, error));
    g_assert_cmpint(info.master_index, ==, bridge.index);
    CHECK(podvm_nl_link_set_master(nl, "pvpeer0", NULL, error));
    CHECK(podvm_nl_link_get(nl, "pvpeer0", &info, error));
    g_assert_cmpint(info.master_index, ==, 0);
    CHECK(podvm_nl_link_set_mac(nl, "pvpeer0", mac, error));
    CHECK(podvm_nl_link_set_mtu(nl, "pvpeer0", 1300, error));
    CHECK(podvm_nl_link_get(nl, "pvpeer0", &info, error));
    g_assert_cmpmem(info.mac, 6, mac, 6);
    g_assert_cmpuint(info.mtu, ==, 1300);
    g_assert_false(podvm_nl_link_set_mtu(nl, "pvpeer0", 10, &local_error));
    g_assert_nonnull(local_error);
    g_assert_nonnull(strstr(local_error->message, "pvpeer0"));
    g_clear_error(&local_error);
    g_assert_false(podvm_nl_link_set_up(nl, "nosuch0", TRUE, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&local_error);
    g_assert_false(podvm_nl_link_get(nl, "nosuch0", &info, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&local_error);
    g_assert_false(podvm_nl_link_set_up(nl, "bad/name", TRUE, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&local_error);

    /* Addresses: adding twice and deleting twice are fine; link-local IPv6 is left out. */
    for (guint i = 0; i < 2; i++) {
        CHECK(podvm_nl_addr_add(nl, "pvbr0", "10.0.2.1/24", error));
        CHECK(podvm_nl_addr_add(nl, "pvbr0", "fd10:0:2::1/120", error));
    }
    addrs = podvm_nl_addr_list(nl, "pvbr0", AF_UNSPEC, error);
    g_assert_nonnull(addrs);
    g_assert_cmpuint(addrs->len, ==, 2);
    g_assert_true(strv_has(addrs, "10.0.2.1/24"));
    g_assert_true(strv_has(addrs, "fd10:0:2::1/120"));
    g_clear_pointer(&addrs, g_ptr_array_unref);
    addrs = podvm_nl_addr_list(nl, "pvbr0", AF_INET6, error);
    g_assert_cmpuint(addrs->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(addrs, 0), ==, "fd10:0:2::1/120");
    g_clear_pointer(&addrs, g_ptr_array_unref);
    g_assert_false(podvm_nl_addr_add(nl, "pvbr0", "10.0.2.1", &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&local_error);

    /* Routes: the on-link ones the addresses made, one through a gateway (twice is fine). */
    for (guint i = 0; i < 2; i++) {
        CHECK(podvm_nl_route_add(nl, "198.51.100.0/24", "10.0.2.2", "pvbr0", error));
        CHECK(podvm_nl_route_add(nl, "2001:db8::/64", "fd10:0:2::2", "pvbr0", error));
        CHECK(podvm_nl_route_add(nl, "192.0.2.0/28", NULL, "pvbr0", error));
    }
    g_assert_false(podvm_nl_route_add(nl, "2001:db8:1::/64", "10.0.2.2", "pvbr0", &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&local_error);
    routes = podvm_nl_route_list(nl, "pvbr0", AF_UNSPEC, error);
    g_assert_nonnull(routes);
    {
        const char *want[][2] = { { "10.0.2.0/24", NULL },
                                  { "198.51.100.0/24", "10.0.2.2" },
                                  { "192.0.2.0/28", NULL },
                                  { "fd10:0:2::/120", NULL },
                                  { "2001:db8::/64", "fd10:0:2::2" } };

        g_assert_cmpuint(routes->len, ==, G_N_ELEMENTS(want));
        for (guint i = 0; i < G_N_ELEMENTS(want); i++) {
            gboolean found = FALSE;

            for (guint j = 0; j < routes->len; j++) {
                PodvmRoute *route = g_ptr_array_index(routes, j);

                if (g_strcmp0(route->dst, want[i][0]) == 0 &&
                    g_strcmp0(route->gateway, want[i][1]) == 0)
                    found = TRUE;
            }
            if (!found)
                g_error("no route to %s via %s", want[i][0], want[i][1]);
        }
    }
    g_clear_pointer(&routes, g_ptr_array_unref);
    routes = podvm_nl_route_list(nl, NULL, AF_INET, error);
    g_assert_cmpuint(routes->len, ==, 3);
    g_clear_pointer(&routes, g_ptr_array_unref);

    for (guint i = 0; i < 2; i++) {
        CHECK(podvm_nl_addr_del(nl, "pvbr0", "10.0.2.1/24", error));
        CHECK(podvm_nl_addr_del(nl, "pvbr0", "fd10:0:2::1/120", error));
    }
    addrs = podvm_nl_addr_list(nl, "pvbr0", AF_UNSPEC, error);
    g_assert_cmpuint(addrs->len, ==, 0);
    CHECK(podvm_nl_addr_del(nl, "gone0", "10.0.2.1/24", error));

    /* Delete: a missing link is fine. */
    CHECK(podvm_nl_link_delete(nl, "pvbr0", error));
    CHECK(podvm_nl_link_delete(nl, "pvbr0", error));
    g_assert_false(podvm_nl_link_get(nl, "pvbr0", &info, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&local_error);
    return TRUE;
}

static void
test_links(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmNl) nl = NULL;
    PodvmLinkInfo info;
    PodNetns ns;

    if (!podvm_test_netns_require(NULL))
        return;
    pod_netns_open(&ns);
    nl = podvm_nl_open(&error);
    g_assert_no_error(error);

    /* A veth whose peer goes into the pod's namespace. */
    g_assert_true(podvm_nl_veth_add(nl, "pvout0", "pvpeer0", ns.fd, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_nl_link_get(nl, "pvout0", &info, &error));
    g_assert_no_error(error);
    g_assert_false(podvm_nl_link_get(nl, "pvpeer0", &info, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);

    g_assert_true(podvm_netns_run(ns.fd, links_in_pod_cb, NULL, &error));
    g_assert_no_error(error);

    /* The pair goes with either end. */
    g_assert_true(podvm_nl_link_delete(nl, "pvout0", &error));
    g_assert_no_error(error);
    pod_netns_close(&ns);
}

/* Traffic counts: a datagram from outside to the pod over a veth. */
static gboolean
stats_pod_side_cb(gpointer user_data, GError **error)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);
    PodvmLinkInfo *info = user_data;

    CHECK(podvm_nl_addr_add(nl, "pvpeer1", "192.0.2.2/24", error));
    CHECK(podvm_nl_link_set_up(nl, "pvpeer1", TRUE, error));
    return podvm_nl_link_get(nl, "pvpeer1", info, error);
}

static gboolean
stats_pod_read_cb(gpointer user_data, GError **error)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    return podvm_nl_link_get(nl, "pvpeer1", user_data, error);
}

static void
test_link_stats(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmNl) nl = NULL;
    PodvmLinkInfo before, after, pod_before, pod_after;
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
    PodNetns ns;
    int fd;

    if (!podvm_test_netns_require(NULL))
        return;
    pod_netns_open(&ns);
    nl = podvm_nl_open(&error);
    g_assert_true(podvm_nl_veth_add(nl, "pvout1", "pvpeer1", ns.fd, &error));
    g_assert_true(podvm_nl_addr_add(nl, "pvout1", "192.0.2.1/24", &error));
    g_assert_true(podvm_nl_link_set_up(nl, "pvout1", TRUE, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_netns_run(ns.fd, stats_pod_side_cb, &pod_before, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_nl_link_get(nl, "pvout1", &before, &error));

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    inet_pton(AF_INET, "192.0.2.2", &to.sin_addr);
    for (guint i = 0; i < 3; i++)
        g_assert_cmpint(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to), ==, 1);
    close(fd);

    /* ARP first, then the datagrams; give the pair a moment. */
    for (guint i = 0; i < 100; i++) {
        g_assert_true(podvm_nl_link_get(nl, "pvout1", &after, &error));
        if (after.tx_packets >= before.tx_packets + 4)
            break;
        g_usleep(20 * 1000);
    }
    g_assert_cmpuint(after.tx_packets, >=, before.tx_packets + 4);
    g_assert_cmpuint(after.tx_bytes, >, before.tx_bytes);
    g_assert_cmpuint(after.rx_packets, >=, before.rx_packets + 1); /* the ARP reply */
    g_assert_true(podvm_netns_run(ns.fd, stats_pod_read_cb, &pod_after, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(pod_after.rx_packets, >=, pod_before.rx_packets + 4);
    g_assert_cmpuint(pod_after.rx_bytes, >, pod_before.rx_bytes);
    g_assert_cmpuint(pod_after.tx_packets, >=, pod_before.tx_packets + 1);

    g_assert_true(podvm_nl_link_delete(nl, "pvout1", &error));
    g_assert_no_error(error);
    pod_netns_close(&ns);
}

typedef struct {
    guint queues;
} TapCase;

static gboolean
tap_cb(gpointer user_data, GError **error)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);
    GError *local_error = NULL;
    PodvmLinkInfo info, bridge;
    int fds[4] = { -1, -1, -1, -1 };
    int more[1];

    CHECK(podvm_nl_bridge_add(nl, "pvbr0", 0, error));
    CHECK(podvm_nl_link_get(nl, "pvbr0", &bridge, error));
    for (guint queues = 1; queues <= 4; queues += 3) {
        CHECK(podvm_tap_open("pvtap0", queues, fds, error));
        for (guint i = 0; i < queues; i++) {
            g_assert_cmpint(fds[i], >=, 0);
            g_assert_cmpint(fcntl(fds[i], F_GETFD) & FD_CLOEXEC, !=, 0);
        }
        CHECK(podvm_nl_link_get(nl, "pvtap0", &info, error));
        CHECK(podvm_nl_link_set_master(nl, "pvtap0", "pvbr0", error));
        CHECK(podvm_nl_link_set_up(nl, "pvtap0", TRUE, error));
        CHECK(podvm_nl_link_get(nl, "pvtap0", &info, error));
        g_assert_cmpint(info.master_index, ==, bridge.index);
        /* Taken while open. */
        g_assert_false(podvm_tap_open("pvtap0", 1, more, &local_error));
        g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_EXISTS);
        g_clear_error(&local_error);
        /* Not persistent: the link goes with its last fd. */
        for (guint i = 0; i < queues; i++)
            close(fds[i]);
        g_assert_false(podvm_nl_link_get(nl, "pvtap0", &info, &local_error));
        g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        g_clear_error(&local_error);
    }
    g_assert_false(podvm_tap_open("pvtap0", 0, fds, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&local_error);
    g_assert_false(podvm_tap_open("pv/tap", 1, fds, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&local_error);
    /* A name taken by another kind of link. */
    g_assert_false(podvm_tap_open("pvbr0", 1, fds, &local_error));
    g_assert_nonnull(local_error);
    g_clear_error(&local_error);
    return TRUE;
}

static void
test_tap(void)
{
    g_autoptr(GError) error = NULL;
    PodNetns ns;

    if (!podvm_test_netns_require(NULL))
        return;
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        g_test_skip("/dev/net/tun is not usable here");
        return;
    }
    pod_netns_open(&ns);
    g_assert_true(podvm_netns_run(ns.fd, tap_cb, NULL, &error));
    g_assert_no_error(error);
    pod_netns_close(&ns);
}

static gboolean
sysctl_cb(gpointer user_data, GError **error)
{
    g_autofree char *value = NULL;

    if (!podvm_sysctl_set("net/ipv4/ip_forward", "1", error))
        return FALSE;
    value = read_trimmed("/proc/sys/net/ipv4/ip_forward");
    g_assert_cmpstr(value, ==, "1");
    return TRUE;
}

static void
test_sysctl(void)
{
    const char *bad[] = { "", "/net/ipv4/ip_forward", "net/../kernel/hostname", "net/ipv4/..",
                          "../sys" };
    g_autoptr(GError) error = NULL;
    g_autofree char *own = NULL;
    g_autofree char *after = NULL;
    PodNetns ns;

    if (!podvm_test_netns_require(NULL))
        return;
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(podvm_sysctl_set(bad[i], "1", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    g_assert_false(podvm_sysctl_set("net/ipv4/no_such_key", "1", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);

    pod_netns_open(&ns);
    own = read_trimmed("/proc/sys/net/ipv4/ip_forward");
    g_assert_cmpstr(own, ==, "0");
    g_assert_true(podvm_netns_run(ns.fd, sysctl_cb, NULL, &error));
    g_assert_no_error(error);
    /* Ours (this thread's namespace) is unchanged. */
    after = read_trimmed("/proc/sys/net/ipv4/ip_forward");
    g_assert_cmpstr(after, ==, "0");
    pod_netns_close(&ns);
}

/* ---- nft ------------------------------------------------------------------------------- */

/* 80/tcp twice: one element in the set. */
static const PodvmNftPort test_ports[] = {
    { "tcp", 80 }, { "udp", 7000 }, { "tcp", 8443 }, { "tcp", 80 }, { "udp", 80 }
};

static void
masquerade_rules(PodvmNftMasquerade *rules, GStrv pod_addresses, gboolean all_ports)
{
    *rules = (PodvmNftMasquerade){
        .pod_ifname = "eth0",
        .bridge_ifname = "pvbr0",
        .guest_ipv4 = "10.0.2.2",
        .vm_cidr4 = "10.0.2.0/24",
        .guest_ipv6 = "fd10:0:2::2",
        .vm_cidr6 = "fd10:0:2::/120",
        .pod_addresses = pod_addresses,
        .ports = all_ports ? NULL : test_ports,
        .n_ports = all_ports ? 0 : G_N_ELEMENTS(test_ports),
        .all_ports = all_ports,
    };
}

/* tests/golden/nft/NAME.nft; PODVM_TEST_REGENERATE=1 rewrites it. */
static void
assert_golden(const char *name, const char *text)
{
    g_autofree char *file = g_strconcat(name, ".nft", NULL);
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "golden", "nft", file, NULL);
    g_autofree char *expected = NULL;
    g_autoptr(GError) error = NULL;

    if (g_strcmp0(g_getenv("PODVM_TEST_REGENERATE"), "1") == 0) {
        g_file_set_contents(path, text, -1, &error);
        g_assert_no_error(error);
        g_test_message("rewrote %s", path);
        return;
    }
    g_file_get_contents(path, &expected, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, expected);
}

static void
test_nft_golden(void)
{
    char *addresses[] = { "10.66.0.5", "fd66:706f:6476::5", NULL };
    char *v4_only[] = { "10.66.0.5", NULL };
    g_autofree char *ports = NULL;
    g_autofree char *all = NULL;
    g_autofree char *no_v6 = NULL;
    PodvmNftMasquerade rules;

    masquerade_rules(&rules, addresses, FALSE);
    ports = podvm_nft_masquerade_ruleset(&rules);
    assert_golden("masquerade-ports", ports);
    masquerade_rules(&rules, addresses, TRUE);
    all = podvm_nft_masquerade_ruleset(&rules);
    assert_golden("masquerade-all-ports", all);
    /* No IPv6 in the pod: no IPv6 rules at all. */
    masquerade_rules(&rules, v4_only, FALSE);
    rules.guest_ipv6 = NULL;
    rules.vm_cidr6 = NULL;
    no_v6 = podvm_nft_masquerade_ruleset(&rules);
    assert_golden("masquerade-ipv4", no_v6);
    g_assert_null(strstr(no_v6, "ip6"));
}

static void
test_nft_bad_input(void)
{
    char *addresses[] = { "10.66.0.5", NULL };
    char *bad_addresses[] = { "10.66.0.5 } accept; flush ruleset; {", NULL };
    char *prefixed[] = { "10.66.0.5/16", NULL };
    const PodvmNftPort bad_protocol[] = { { "icmp", 1 } };
    const PodvmNftPort bad_port[] = { { "tcp", 0 } };
    const PodvmNftPort big_port[] = { { "udp", 65536 } };
    struct {
        const char *field;
        PodvmNftMasquerade rules;
    } cases[9];
    guint n = 0;

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        masquerade_rules(&cases[i].rules, addresses, FALSE);
        cases[i].field = NULL;
    }
    cases[n].rules.pod_ifname = "eth0\" accept";
    cases[n++].field = "pod interface";
    cases[n].rules.bridge_ifname = "";
    cases[n++].field = "bridge";
    cases[n].rules.guest_ipv4 = "fd10:0:2::2";
    cases[n++].field = "guest IPv4";
    cases[n].rules.vm_cidr4 = "10.0.2.0";
    cases[n++].field = "VM IPv4";
    cases[n].rules.vm_cidr6 = "10.0.2.0/24";
    cases[n++].field = "VM IPv6";
    cases[n].rules.pod_addresses = bad_addresses;
    cases[n++].field = "pod address";
    cases[n].rules.pod_addresses = prefixed;
    cases[n++].field = "pod address";
    cases[n].rules.ports = bad_protocol;
    cases[n].rules.n_ports = 1;
    cases[n++].field = "protocol";
    cases[n].rules.ports = bad_port;
    cases[n].rules.n_ports = 1;
    cases[n++].field = "port";
    g_assert_cmpuint(n, ==, G_N_ELEMENTS(cases));
    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) error = NULL;

        g_assert_null(podvm_nft_masquerade_ruleset(&cases[i].rules));
        g_assert_false(podvm_nft_apply_masquerade(&cases[i].rules, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        if (strstr(error->message, cases[i].field) == NULL)
            g_error("case %u: '%s' does not name %s", i, error->message, cases[i].field);
    }
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;
        PodvmNftMasquerade rules;

        masquerade_rules(&rules, addresses, FALSE);
        rules.ports = big_port;
        rules.n_ports = 1;
        g_assert_false(podvm_nft_apply_masquerade(&rules, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        /* all_ports ignores the list. */
        rules.all_ports = TRUE;
        text = podvm_nft_masquerade_ruleset(&rules);
        g_assert_nonnull(text);
    }
}

static guint
count_text(const char *haystack, const char *needle)
{
    guint count = 0;

    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
        count++;
    return count;
}

static gboolean
nft_apply_cb(gpointer user_data, GError **error)
{
    char *addresses[] = { "192.0.2.2", "2001:db8::2", NULL };
    char *bad_addresses[] = { "nonsense", NULL };
    g_autofree char *first = NULL;
    g_autofree char *second = NULL;
    g_autofree char *after_bad = NULL;
    g_autofree char *gone = NULL;
    GError *local_error = NULL;
    PodvmNftMasquerade rules;

    g_assert_null(podvm_nft_list_table(error));
    /* Deleting a missing table is fine. */
    g_assert_true(podvm_nft_delete_table(error));

    masquerade_rules(&rules, addresses, FALSE);
    CHECK(podvm_nft_apply_masquerade(&rules, error));
    first = podvm_nft_list_table(error);
    g_assert_nonnull(first);
    CHECK(podvm_nft_apply_masquerade(&rules, error));
    second = podvm_nft_list_table(error);
    g_assert_cmpstr(first, ==, second);
    /* One copy of each rule, as built. */
    g_assert_cmpuint(count_text(second, "masquerade"), ==, 2);
    g_assert_cmpuint(count_text(second, "dnat ip to 10.0.2.2"), ==, 4);
    g_assert_cmpuint(count_text(second, "dnat ip6 to fd10:0:2::2"), ==, 4);
    g_assert_cmpuint(count_text(second, "chain "), ==, 3);
    g_assert_nonnull(strstr(second, "tcp dport { 80, 8443 }"));
    g_assert_nonnull(strstr(second, "udp dport { 80, 7000 }"));

    /* A refused input changes nothing. */
    rules.pod_addresses = bad_addresses;
    g_assert_false(podvm_nft_apply_masquerade(&rules, &local_error));
    g_assert_error(local_error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&local_error);
    after_bad = podvm_nft_list_table(error);
    g_assert_cmpstr(after_bad, ==, first);

    /* all ports replaces the port rules. */
    rules.pod_addresses = addresses;
    rules.all_ports = TRUE;
    CHECK(podvm_nft_apply_masquerade(&rules, error));
    g_clear_pointer(&second, g_free);
    second = podvm_nft_list_table(error);
    g_assert_null(strstr(second, "dport"));
    g_assert_cmpuint(count_text(second, "dnat ip to 10.0.2.2"), ==, 2);

    g_assert_true(podvm_nft_delete_table(error));
    gone = podvm_nft_list_table(error);
    g_assert_null(gone);
    g_assert_true(podvm_nft_delete_table(error));
    return TRUE;
}

static void
test_nft_apply(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *ours = NULL;
    PodNetns ns;

    if (!podvm_test_netns_require(NULL))
        return;
    pod_netns_open(&ns);
    g_assert_true(podvm_netns_run(ns.fd, nft_apply_cb, NULL, &error));
    g_assert_no_error(error);
    /* Applied inside the pod's namespace only. */
    ours = podvm_nft_list_table(&error);
    g_assert_no_error(error);
    g_assert_null(ours);
    pod_netns_close(&ns);
}

/*
 * Real packets through the masquerade NAT, IPv4 and IPv6. This program's namespace plays the
 * outside host (192.0.2.1, 2001:db8::1 on pvout2); the pod's namespace has eth0 (192.0.2.2,
 * 2001:db8::2) and the bridge pvbr0 (10.0.2.1/24, fd10:0:2::1/120); a third namespace plays the
 * guest (10.0.2.2, fd10:0:2::2 on gst0, a veth to pvbr0).
 */
typedef struct {
    int guest_fd;
} Topology;

static gboolean
pod_side_cb(gpointer user_data, GError **error)
{
    Topology *topo = user_data;
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);
    char *addresses[] = { "192.0.2.2", "2001:db8::2", NULL };
    const PodvmNftPort ports[] = { { "udp", 7000 } };
    PodvmNftMasquerade rules = {
        .pod_ifname = "eth0",
        .bridge_ifname = "pvbr0",
        .guest_ipv4 = "10.0.2.2",
        .vm_cidr4 = "10.0.2.0/24",
        .guest_ipv6 = "fd10:0:2::2",
        .vm_cidr6 = "fd10:0:2::/120",
        .pod_addresses = addresses,
        .ports = ports,
        .n_ports = 1,
    };

    CHECK(podvm_nl_addr_add(nl, "eth0", "192.0.2.2/24", error));
    CHECK(podvm_nl_addr_add(nl, "eth0", "2001:db8::2/64", error));
    CHECK(podvm_nl_link_set_up(nl, "eth0", TRUE, error));
    CHECK(podvm_nl_bridge_add(nl, "pvbr0", 0, error));
    CHECK(podvm_nl_addr_add(nl, "pvbr0", "10.0.2.1/24", error));
    CHECK(podvm_nl_addr_add(nl, "pvbr0", "fd10:0:2::1/120", error));
    CHECK(podvm_nl_link_set_up(nl, "pvbr0", TRUE, error));
    CHECK(podvm_nl_veth_add(nl, "pvgst0", "gst0", topo->guest_fd, error));
    CHECK(podvm_nl_link_set_master(nl, "pvgst0", "pvbr0", error));
    CHECK(podvm_nl_link_set_up(nl, "pvgst0", TRUE, error));
    CHECK(podvm_sysctl_set("net/ipv4/ip_forward", "1", error));
    CHECK(podvm_sysctl_set("net/ipv6/conf/all/forwarding", "1", error));
    return podvm_nft_apply_masquerade(&rules, error);
}

static gboolean
guest_side_cb(gpointer user_data, GError **error)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    CHECK(podvm_nl_addr_add(nl, "gst0", "10.0.2.2/24", error));
    CHECK(podvm_nl_addr_add(nl, "gst0", "fd10:0:2::2/120", error));
    CHECK(podvm_nl_link_set_up(nl, "gst0", TRUE, error));
    CHECK(podvm_nl_route_add(nl, "0.0.0.0/0", "10.0.2.1", "gst0", error));
    return podvm_nl_route_add(nl, "::/0", "fd10:0:2::1", "gst0", error);
}

static GSocketAddress *
udp_address(const char *address, guint port)
{
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);

    g_assert_nonnull(inet);
    return g_inet_socket_address_new(inet, port);
}

static int
udp_bound(int fd, const char *address, guint port)
{
    g_autoptr(GSocketAddress) sa = udp_address(address, port);
    struct sockaddr_storage ss;

    g_assert_cmpint(fd, >=, 0);
    g_assert_true(g_socket_address_to_native(sa, &ss, sizeof ss, NULL));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&ss, g_socket_address_get_native_size(sa)), ==, 0);
    return fd;
}

static void
udp_send(int fd, const char *address, guint port)
{
    g_autoptr(GSocketAddress) sa = udp_address(address, port);
    struct sockaddr_storage ss;

    g_assert_true(g_socket_address_to_native(sa, &ss, sizeof ss, NULL));
    g_assert_cmpint(
        sendto(fd, "ping", 4, 0, (struct sockaddr *)&ss, g_socket_address_get_native_size(sa)), ==,
        4);
}

/* The source address of the next datagram on @fd within @timeout_ms, or NULL. */
static char *
udp_receive_from(int fd, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    g_autoptr(GSocketAddress) sa = NULL;
    char buf[16];

    if (poll(&pfd, 1, timeout_ms) != 1)
        return NULL;
    g_assert_cmpint(recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len), ==, 4);
    sa = g_socket_address_new_from_native(&from, len);
    return g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(sa)));
}

static void
test_nft_packets(void)
{
    static const struct {
        int family;
        const char *outside, *pod, *any;
    } cases[] = {
        { AF_INET, "192.0.2.1", "192.0.2.2", "0.0.0.0" },
        { AF_INET6, "2001:db8::1", "2001:db8::2", "::" },
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmNl) nl = NULL;
    PodNetns pod, guest;
    Topology topo;

    if (!podvm_test_netns_require(NULL))
        return;
    pod_netns_open(&pod);
    pod_netns_open(&guest);
    topo.guest_fd = guest.fd;
    nl = podvm_nl_open(&error);
    g_assert_true(podvm_nl_veth_add(nl, "pvout2", "eth0", pod.fd, &error));
    g_assert_true(podvm_nl_addr_add(nl, "pvout2", "192.0.2.1/24", &error));
    g_assert_true(podvm_nl_addr_add(nl, "pvout2", "2001:db8::1/64", &error));
    g_assert_true(podvm_nl_link_set_up(nl, "pvout2", TRUE, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_netns_run(pod.fd, pod_side_cb, &topo, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_netns_run(guest.fd, guest_side_cb, NULL, &error));
    g_assert_no_error(error);

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        int family = cases[i].family;
        g_autofree char *from = NULL;
        int outside, guest_declared, guest_other, guest_client, pod_client;

        outside = udp_bound(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), cases[i].outside, 6000);
        guest_declared = udp_bound(podvm_netns_socket(guest.fd, family, SOCK_DGRAM, 0, &error),
                                   cases[i].any, 7000);
        guest_other = udp_bound(podvm_netns_socket(guest.fd, family, SOCK_DGRAM, 0, &error),
                                cases[i].any, 7001);
        guest_client = podvm_netns_socket(guest.fd, family, SOCK_DGRAM, 0, &error);
        pod_client = podvm_netns_socket(pod.fd, family, SOCK_DGRAM, 0, &error);
        g_assert_no_error(error);

        /* Egress: the outside host sees the pod's address, not the guest's. */
        udp_send(guest_client, cases[i].outside, 6000);
        from = udp_receive_from(outside, 5000);
        g_assert_cmpstr(from, ==, cases[i].pod);
        g_clear_pointer(&from, g_free);

        /* Ingress on the declared port reaches the guest; an undeclared one does not. */
        udp_send(outside, cases[i].pod, 7000);
        from = udp_receive_from(guest_declared, 5000);
        g_assert_cmpstr(from, ==, cases[i].outside);
        g_clear_pointer(&from, g_free);
        udp_send(outside, cases[i].pod, 7001);
        from = udp_receive_from(guest_other, 300);
        g_assert_null(from);

        /* From inside the pod's namespace to its own address: the guest too. */
        udp_send(pod_client, cases[i].pod, 7000);
        from = udp_receive_from(guest_declared, 5000);
        g_assert_cmpstr(from, ==, cases[i].pod);
        g_clear_pointer(&from, g_free);

        close(outside);
        close(guest_declared);
        close(guest_other);
        close(guest_client);
        close(pod_client);
    }
    g_assert_true(podvm_nl_link_delete(nl, "pvout2", &error));
    g_assert_no_error(error);
    pod_netns_close(&guest);
    pod_netns_close(&pod);
}

int
main(int argc, char **argv)
{
    /* Before g_test_init() and anything else that could start a thread. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/net/netns/lifecycle", test_netns_lifecycle);
    g_test_add_func("/podvm/net/netlink/names", test_names);
    g_test_add_func("/podvm/net/netlink/links", test_links);
    g_test_add_func("/podvm/net/netlink/stats", test_link_stats);
    g_test_add_func("/podvm/net/netlink/tap", test_tap);
    g_test_add_func("/podvm/net/netlink/sysctl", test_sysctl);
    g_test_add_func("/podvm/net/nft/golden", test_nft_golden);
    g_test_add_func("/podvm/net/nft/bad-input", test_nft_bad_input);
    g_test_add_func("/podvm/net/nft/apply", test_nft_apply);
    g_test_add_func("/podvm/net/nft/packets", test_nft_packets);
    return g_test_run();
}
