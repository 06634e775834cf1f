/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A bounded soak (suite "slow", about a minute): thousands of requests on
 * kept-alive and one-shot connections (unix socket and TCP), event streams
 * and console WebSockets whose clients never read, while a guest floods
 * its console. podvmd's fds come back to where they were and its RSS
 * stays bounded; the figures are printed.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#if defined(__SANITIZE_ADDRESS__)
#define RSS_IS_MEANINGFUL FALSE
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_IS_MEANINGFUL FALSE
#endif
#endif
#ifndef RSS_IS_MEANINGFUL
#define RSS_IS_MEANINGFUL TRUE
#endif

#define TEST_TOKEN "soak-test-token"
#define STREAMS 20
#define CONSOLES 3

static const char unix_request[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
static const char tcp_request[] = "GET /v1/pods HTTP/1.1\r\nHost: localhost\r\n"
                                  "Authorization: Bearer " TEST_TOKEN "\r\n\r\n";

static void
make_events(int fd, const char *spec)
{
    g_autofree char *create = g_strdup_printf(
        "POST /v1/pods HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: %zu\r\n\r\n%s",
        strlen(spec), spec);

    g_assert_cmpuint(podvm_test_http_roundtrip(fd, create), ==, 201);
    g_assert_cmpuint(
        podvm_test_http_roundtrip(fd, "DELETE /v1/pods/ev HTTP/1.1\r\nHost: localhost\r\n\r\n") /
            100,
        ==, 2);
}

static void
test_soak(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *token = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *socket_path = NULL;
    g_autofree char *ev_spec = podvm_test_guest_spec("ev", NULL, NULL, 1);
    g_autofree char *flood_spec =
        podvm_test_guest_spec("flood", "podvm.flood=1 podvm.heartbeat=0", NULL, 1);
    g_autofree char *flood_path = NULL;
    g_autofree char *log = NULL;
    PodvmTestDaemon *daemon;
    int streams[STREAMS], consoles[CONSOLES];
    guint64 rss_start, rss_end;
    guint fds_start, fds_end, closed = 0, cycles = 0;
    gint64 deadline, t0;
    guint16 port = podvm_test_free_tcp_port();
    int fd;
    GPid pid;

    if (!podvm_test_require_qemu() || !podvm_test_require_guest())
        return;
    dir = podvm_test_mkdtemp();
    token = g_build_filename(dir, "token", NULL);
    g_assert_true(g_file_set_contents(token, TEST_TOKEN "\n", -1, NULL));
    conf = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\nmax_client_queue=65536\n",
                           port, token);
    daemon = podvm_test_daemon_new_with_config(conf);
    if (daemon == NULL) {
        podvm_test_rmrf(dir);
        return;
    }
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    pid = podvm_test_daemon_pid(daemon);
    t0 = g_get_monotonic_time();

    /* A guest flooding its console: running through it all. */
    flood_path = g_build_filename(dir, "flood.json", NULL);
    g_assert_true(g_file_set_contents(flood_path, flood_spec, -1, NULL));
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "create", "-f", flood_path, NULL), ==, 0);
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "start", "flood", NULL), ==, 0);
    log = podvm_test_daemon_console_log(daemon, "flood");
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-FLOOD", 120000));
    podvm_test_http_connections(socket_path, port, 100, 2, unix_request, tcp_request);
    fds_start = podvm_test_proc_fds(pid);
    rss_start = podvm_test_proc_rss_kib(pid);

    /* 1. Thousands of requests: 10 kept-alive connections of 300, 2,000 of one. */
    podvm_test_http_connections(socket_path, port, 10, 300, unix_request, tcp_request);
    podvm_test_http_connections(socket_path, port, 2000, 1, unix_request, tcp_request);
    g_test_message("after 5,000 requests: fds %u -> %u, RSS %" G_GUINT64_FORMAT
                   " -> %" G_GUINT64_FORMAT " KiB",
                   fds_start, podvm_test_wait_fds_at_most(pid, fds_start + 2, 5000), rss_start,
                   podvm_test_proc_rss_kib(pid));

    /* 2. Event streams that never read, and console WebSockets that never read. */
    for (guint i = 0; i < STREAMS; i++) {
        static const char request[] = "GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n";

        streams[i] = podvm_test_connect_unix(socket_path);
        g_assert_true(podvm_test_send_all(streams[i], request, strlen(request)));
    }
    for (guint i = 0; i < CONSOLES; i++) {
        static const char request[] = "GET /v1/pods/flood/console HTTP/1.1\r\nHost: localhost\r\n"
                                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                      "Sec-WebSocket-Version: 13\r\n\r\n";

        consoles[i] = podvm_test_connect_unix(socket_path);
        g_assert_true(podvm_test_send_all(consoles[i], request, strlen(request)));
    }
    fd = podvm_test_connect_unix(socket_path);
    deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
        guint events_closed, consoles_closed;

        make_events(fd, ev_spec);
        if (++cycles % 25 != 0)
            continue;
        events_closed = podvm_test_count_in_file(daemon->log_path, "closing an event stream");
        consoles_closed = podvm_test_count_in_file(daemon->log_path, "closing the console of pod");
        closed = events_closed + consoles_closed;
        if (events_closed >= STREAMS && consoles_closed >= CONSOLES)
            break;
        g_usleep(20 * 1000);
    }
    rss_end = podvm_test_proc_rss_kib(pid);
    g_test_message("%u event cycles; %u of %u non-reading clients closed; RSS %" G_GUINT64_FORMAT
                   " KiB",
                   cycles, closed, STREAMS + CONSOLES, rss_end);
    g_assert_cmpuint(podvm_test_count_in_file(daemon->log_path, "closing an event stream"), ==,
                     STREAMS);
    g_assert_cmpuint(podvm_test_count_in_file(daemon->log_path, "closing the console of pod"), ==,
                     CONSOLES);
    for (guint i = 0; i < STREAMS; i++) {
        g_assert_true(podvm_test_read_until_closed(streams[i], 10000));
        close(streams[i]);
    }
    for (guint i = 0; i < CONSOLES; i++) {
        g_assert_true(podvm_test_read_until_closed(consoles[i], 20000));
        close(consoles[i]);
    }
    close(fd);

    /* 3. Where podvmd was: fds back, RSS bounded. */
    fds_end = podvm_test_wait_fds_at_most(pid, fds_start + 2, 10000);
    rss_end = podvm_test_proc_rss_kib(pid);
    g_test_message("soak done in %.0f s: fds %u -> %u, RSS %" G_GUINT64_FORMAT
                   " -> %" G_GUINT64_FORMAT " KiB",
                   (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, fds_start, fds_end,
                   rss_start, rss_end);
    g_assert_cmpuint(fds_end, <=, fds_start + 2);
    if (RSS_IS_MEANINGFUL)
        g_assert_cmpuint(rss_end, <=, rss_start + 16 * 1024);
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "kill", "flood", NULL), ==, 0);
    podvm_test_daemon_free(daemon);
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/soak/clients", test_soak);
    return g_test_run();
}
