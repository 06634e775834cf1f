/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest's DHCPv6 client (tests/guest/podvm-dhcp6.c, built for the
 * host too) against podvmd's RA/DHCPv6 server, on a veth pair between this
 * test's namespace and a "guest" namespace: the guest's MAC gets its
 * address; another MAC gets nothing and the client gives up.
 */
#include <locale.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "podvm-dhcp.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

static char *netns_skip_reason;

static const guint8 router_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x01 };
static const guint8 guest_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x02 };
static const guint8 other_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x99 };

typedef struct {
    char *dir;
    char *guest_ns;
    int guest_ns_fd;
    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    PodvmRaServer *server;
} Net;

static gboolean
guest_side_cb(gpointer user_data, GError **error)
{
    const guint8 *mac = user_data;
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    return nl != NULL && podvm_nl_link_set_mac(nl, "gst0", mac, error) &&
           podvm_sysctl_set("net/ipv6/conf/gst0/accept_dad", "0", error) &&
           podvm_nl_link_set_up(nl, "gst0", TRUE, error);
}

static gpointer
server_thread(gpointer data)
{
    Net *net = data;

    g_main_context_push_thread_default(net->context);
    g_main_loop_run(net->loop);
    g_main_context_pop_thread_default(net->context);
    return NULL;
}

/* srv0 here <-> gst0 (@mac) in the guest namespace; the server on srv0, in a thread of its own,
 * leases fd10:0:2::2 to guest_mac. */
static void
net_setup(Net *net, const guint8 mac[6])
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmNl) nl = NULL;
    int icmp6_fd = -1, dhcp6_fd = -1;

    net->dir = podvm_test_mkdtemp();
    net->guest_ns = g_build_filename(net->dir, "guest", NULL);
    g_assert_true(podvm_netns_create(net->guest_ns, &error));
    net->guest_ns_fd = podvm_netns_open(net->guest_ns, &error);
    g_assert_no_error(error);
    nl = podvm_nl_open(&error);
    g_assert_no_error(error);
    g_assert_true(podvm_nl_veth_add(nl, "srv0", "gst0", net->guest_ns_fd, &error));
    g_assert_true(podvm_nl_link_set_mac(nl, "srv0", router_mac, &error));
    g_assert_true(podvm_sysctl_set("net/ipv6/conf/srv0/accept_dad", "0", &error));
    g_assert_true(podvm_nl_link_set_up(nl, "srv0", TRUE, &error));
    g_assert_true(podvm_netns_run(net->guest_ns_fd, guest_side_cb, (gpointer)mac, &error));
    g_assert_no_error(error);

    g_assert_true(podvm_ra_open_sockets("srv0", &icmp6_fd, &dhcp6_fd, &error));
    g_assert_no_error(error);
    net->context = g_main_context_new();
    net->loop = g_main_loop_new(net->context, FALSE);
    g_main_context_push_thread_default(net->context);
    net->server =
        podvm_ra_server_new(icmp6_fd, dhcp6_fd, "srv0", router_mac, "fd10:0:2::/120", 1400, &error);
    g_main_context_pop_thread_default(net->context);
    g_assert_no_error(error);
    podvm_ra_server_set_lease(net->server, guest_mac, "fd10:0:2::2");
    net->thread = g_thread_new("ra-server", server_thread, net);
}

static void
net_teardown(Net *net)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(NULL);

    g_main_loop_quit(net->loop);
    g_thread_join(net->thread);
    podvm_ra_server_free(net->server);
    g_main_loop_unref(net->loop);
    g_main_context_unref(net->context);
    if (nl != NULL)
        podvm_nl_link_delete(nl, "srv0", NULL);
    close(net->guest_ns_fd);
    podvm_netns_remove(net->guest_ns, NULL);
    podvm_test_rmrf(net->dir);
    g_free(net->dir);
    g_free(net->guest_ns);
}

static const char *
client_path(void)
{
    const char *path = g_getenv("PODVM_DHCP6_CLIENT");

    return path != NULL ? path : "tests/podvm-dhcp6";
}

static gboolean
require(void)
{
    g_autofree char *nsenter = g_find_program_in_path("nsenter");

    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return FALSE;
    }
    if (nsenter == NULL) {
        g_test_skip("nsenter is not installed (apt-get install util-linux)");
        return FALSE;
    }
    if (!g_file_test(client_path(), G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("podvm-dhcp6 is not built (PODVM_DHCP6_CLIENT)");
        return FALSE;
    }
    return TRUE;
}

/* Runs the client on gst0 in the guest namespace; its exit status, stdout in @out. */
static int
run_client(Net *net, char **out)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *ns_arg = g_strdup_printf("--net=%s", net->guest_ns);
    g_autofree char *err = NULL;
    const char *argv[] = { "nsenter", ns_arg, "--", client_path(), "gst0", NULL };
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out,
                               &err, &status, &error));
    g_assert_no_error(error);
    g_test_message("podvm-dhcp6: %s%s", *out, err);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void
test_lease(void)
{
    Net net = { 0 };
    g_autofree char *out = NULL;
    gint64 start;

    if (!require())
        return;
    net_setup(&net, guest_mac);
    start = g_get_monotonic_time();
    g_assert_cmpint(run_client(&net, &out), ==, 0);
    /* The address first ("dns" lines follow when the server gives DNS servers). */
    g_assert_true(g_str_has_prefix(out, "address fd10:0:2::2\n"));
    /* One exchange, no waiting for retransmissions. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * G_USEC_PER_SEC);
    net_teardown(&net);
}

static void
test_unknown_mac(void)
{
    Net net = { 0 };
    g_autofree char *out = NULL;

    if (!require())
        return;
    net_setup(&net, other_mac);
    g_assert_cmpint(run_client(&net, &out), ==, 1);
    g_assert_cmpstr(out, ==, "");
    net_teardown(&net);
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    /* Before g_test_init() and anything else that could start a thread. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/net/guest-dhcp6/lease", test_lease);
    g_test_add_func("/podvm/net/guest-dhcp6/unknown-mac", test_unknown_mac);
    return g_test_run();
}
