/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "outside host" fixture (podvm-test-outside.c) that network tests
 * reach pods from and pods reach: its namespace, veth pair and addresses,
 * its HTTP server and the peers it records, GETs made from inside it, a
 * command run in it, and that freeing it leaves nothing behind.
 */
#include <locale.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "podvm-netns.h"
#include "podvm-test-netns.h"
#include "podvm-test-outside.h"
#include "podvm-test-util.h"

static char *netns_skip_reason;

typedef struct {
    char *tmpdir;
    PodvmTestOutside *outside;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    (void)data;
    if (netns_skip_reason != NULL)
        return;
    f->tmpdir = podvm_test_mkdtemp();
    f->outside = podvm_test_outside_new(f->tmpdir, &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->outside);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    g_clear_pointer(&f->outside, podvm_test_outside_free);
    if (f->tmpdir != NULL) {
        podvm_test_rmrf(f->tmpdir);
        g_free(f->tmpdir);
    }
}

/* From the test's namespace: the answer names the test side's address, which is recorded. */
static void
test_get_from_test_side(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *body = NULL;
    GPtrArray *peers;

    (void)data;
    if (!podvm_test_netns_require(NULL))
        return;
    body = podvm_test_http_get(-1, PODVM_TEST_OUTSIDE_ADDRESS, PODVM_TEST_OUTSIDE_PORT, "/", 5000,
                               &error);
    g_assert_no_error(error);
    g_assert_cmpstr(body, ==, "PODVM-OUTSIDE 192.0.2.2\n");
    g_assert_true(podvm_test_outside_wait_peer(f->outside, "192.0.2.2", 1000));
    peers = podvm_test_outside_peers(f->outside);
    g_assert_cmpuint(peers->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(peers, 0), ==, "192.0.2.2");
    /* A peer that never came is not seen. */
    g_assert_false(podvm_test_outside_wait_peer(f->outside, "10.0.2.2", 100));
}

static void
test_get_ipv6(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *body = NULL;

    (void)data;
    if (!podvm_test_netns_require(NULL))
        return;
    body = podvm_test_http_get(-1, PODVM_TEST_OUTSIDE_ADDRESS6, PODVM_TEST_OUTSIDE_PORT, "/x", 5000,
                               &error);
    g_assert_no_error(error);
    g_assert_cmpstr(body, ==, "PODVM-OUTSIDE 2001:db8::2\n");
    g_assert_true(podvm_test_outside_wait_peer(f->outside, "2001:db8::2", 1000));
}

/*
 * A GET made inside the outside namespace leaves from there: to its own
 * address it comes from that address; to the test side it goes over the
 * veth, seen by a server in the test's namespace with the outside address.
 */
static void
test_get_from_outside(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *body = NULL;

    (void)data;
    if (!podvm_test_netns_require(NULL))
        return;
    body = podvm_test_outside_get(f->outside, PODVM_TEST_OUTSIDE_ADDRESS, PODVM_TEST_OUTSIDE_PORT,
                                  "/", 5000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(body, ==, "PODVM-OUTSIDE 192.0.2.1\n");
    g_clear_pointer(&body, g_free);

    body = podvm_test_outside_get(f->outside, PODVM_TEST_OUTSIDE_ADDRESS6, PODVM_TEST_OUTSIDE_PORT,
                                  "/", 5000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(body, ==, "PODVM-OUTSIDE 2001:db8::1\n");
}

typedef struct {
    char *peer;
} TestSideServer;

static gboolean
test_side_incoming_cb(GSocketService *service, GSocketConnection *connection,
                      GObject *source_object, gpointer user_data)
{
    TestSideServer *server = user_data;
    g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(connection, NULL);
    const char *answer = "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhere\n";
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(connection));
    g_autoptr(GString) request = g_string_new(NULL);
    char buffer[512];
    gssize n;

    (void)service;
    (void)source_object;
    g_assert_nonnull(remote);
    server->peer =
        g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
    /* The whole request first: closing with unread data would reset the connection. */
    while (strstr(request->str, "\r\n\r\n") == NULL &&
           (n = g_input_stream_read(in, buffer, sizeof buffer, NULL, NULL)) > 0)
        g_string_append_len(request, buffer, n);
    g_output_stream_write_all(out, answer, strlen(answer), NULL, NULL, NULL);
    g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
    return TRUE;
}

static void
test_outside_reaches_test_side(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketService) service = g_socket_service_new();
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(PODVM_TEST_OUTSIDE_GATEWAY);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(inet, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autofree char *body = NULL;
    TestSideServer server = { NULL };

    (void)data;
    if (!podvm_test_netns_require(NULL))
        return;
    g_signal_connect(service, "incoming", G_CALLBACK(test_side_incoming_cb), &server);
    g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(service), address,
                                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                                &bound, &error));
    g_assert_no_error(error);
    body = podvm_test_outside_get(f->outside, PODVM_TEST_OUTSIDE_GATEWAY,
                                  g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)), "/",
                                  5000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(body, ==, "here\n");
    g_assert_cmpstr(server.peer, ==, PODVM_TEST_OUTSIDE_ADDRESS);
    g_socket_service_stop(service);
    g_socket_listener_close(G_SOCKET_LISTENER(service));
    g_free(server.peer);
}

/* A port nobody listens on: refused, an error, not a hang. */
static void
test_get_refused(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *body = NULL;

    (void)data;
    if (!podvm_test_netns_require(NULL))
        return;
    body = podvm_test_http_get(-1, PODVM_TEST_OUTSIDE_ADDRESS, 8081, "/", 3000, &error);
    g_assert_null(body);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
    g_clear_error(&error);
    body = podvm_test_outside_get(f->outside, "not-an-address", 80, "/", 1000, &error);
    g_assert_null(body);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_assert_cmpuint(podvm_test_outside_peers(f->outside)->len, ==, 0);
}

/* A command in the outside namespace sees the outside side of the veth. */
static void
test_run_command(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *nsenter = g_find_program_in_path("nsenter");
    g_autofree char *ip = g_find_program_in_path("ip");
    const char *const show[] = { "ip", "-o", "addr", "show", "dev", "eth0", NULL };
    const char *const fail[] = { "ip", "link", "show", "dev", PODVM_TEST_OUTSIDE_LINK, NULL };

    (void)data;
    if (!podvm_test_netns_require(NULL))
        return;
    if (nsenter == NULL || ip == NULL) {
        g_test_skip("nsenter (util-linux) or ip (iproute2) is not installed");
        return;
    }
    g_assert_true(podvm_test_outside_run(f->outside, show, &out, &error));
    g_assert_no_error(error);
    g_assert_nonnull(strstr(out, "inet 192.0.2.1/24"));
    g_assert_nonnull(strstr(out, "inet6 2001:db8::1/64"));
    /* The test side's link is not in there. */
    g_assert_false(podvm_test_outside_run(f->outside, fail, NULL, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, PODVM_TEST_OUTSIDE_LINK));
}

static void
test_argv(void)
{
    const char *const argv[] = { "ip", "addr", NULL };
    g_auto(GStrv) full = podvm_test_netns_argv("/run/x/outside", argv);
    g_autofree char *joined = g_strjoinv("|", full);

    g_assert_cmpstr(joined, ==, "nsenter|--net=/run/x/outside|--|ip|addr");
}

/* Freeing the fixture removes the veth pair and the namespace, and a new one can be made. */
static void
test_free_leaves_nothing(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *tmpdir = NULL;
    g_autofree char *path = NULL;
    PodvmTestOutside *outside;

    if (!podvm_test_netns_require(NULL))
        return;
    tmpdir = podvm_test_mkdtemp();
    path = g_build_filename(tmpdir, "outside", NULL);
    for (int round = 0; round < 2; round++) {
        g_autofree char *body = NULL;

        outside = podvm_test_outside_new(tmpdir, &error);
        g_assert_no_error(error);
        g_assert_true(podvm_netns_exists(path));
        g_assert_cmpuint(if_nametoindex(PODVM_TEST_OUTSIDE_LINK), !=, 0);
        body = podvm_test_http_get(-1, PODVM_TEST_OUTSIDE_ADDRESS, PODVM_TEST_OUTSIDE_PORT, "/",
                                   5000, &error);
        g_assert_no_error(error);
        podvm_test_outside_free(outside);
        g_assert_false(podvm_netns_exists(path));
        g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
        g_assert_cmpuint(if_nametoindex(PODVM_TEST_OUTSIDE_LINK), ==, 0);
    }
    /* A path that is taken: an error, nothing made. */
    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    outside = podvm_test_outside_new(tmpdir, &error);
    g_assert_null(outside);
    g_assert_nonnull(error);
    g_assert_cmpuint(if_nametoindex(PODVM_TEST_OUTSIDE_LINK), ==, 0);
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
    podvm_test_rmrf(tmpdir);
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    /* First, while the program has one thread. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/podvm/net/outside/get-from-test-side", Fixture, NULL, fixture_setup,
               test_get_from_test_side, fixture_teardown);
    g_test_add("/podvm/net/outside/get-ipv6", Fixture, NULL, fixture_setup, test_get_ipv6,
               fixture_teardown);
    g_test_add("/podvm/net/outside/get-from-outside", Fixture, NULL, fixture_setup,
               test_get_from_outside, fixture_teardown);
    g_test_add("/podvm/net/outside/reaches-test-side", Fixture, NULL, fixture_setup,
               test_outside_reaches_test_side, fixture_teardown);
    g_test_add("/podvm/net/outside/get-refused", Fixture, NULL, fixture_setup, test_get_refused,
               fixture_teardown);
    g_test_add("/podvm/net/outside/run-command", Fixture, NULL, fixture_setup, test_run_command,
               fixture_teardown);
    g_test_add_func("/podvm/net/outside/argv", test_argv);
    g_test_add_func("/podvm/net/outside/free-leaves-nothing", test_free_leaves_nothing);
    return g_test_run();
}
