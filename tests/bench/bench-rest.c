/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-rest: GET /v1/pods on podvmd's REST API, with 100 pods defined
 * (created, not started), against a bare libsoup SoupServer answering a
 * fixed document of the same size: the physical limit of the HTTP stack.
 * podvmd runs as its own process (unix socket and TCP with a bearer
 * token); so does the bare server (this program with --bare-server, see
 * bare_server_main). On the unix socket the load generator is N libsoup
 * clients (one connection each) in the main thread, for a fixed time; on
 * TCP it is wrk when installed (the built-in one otherwise). Prints
 * requests/s and p50/p99 latency for each, with N connections (throughput;
 * latency then includes queueing) and with one (latency), the ratio
 * podvmd / bare, then the targets with PASS or MISS. A miss does not fail
 * the program; something broken does (exit 1). Exit 77 (skip) when podvmd
 * cannot be run here.
 *
 * Environment:
 *   PODVMD, PODVM_GUEST_DIR, PODVM_QEMU   as for the tests (tests/meson.build)
 *   PODVM_BENCH_REST_CONNECTIONS=N   concurrent connections (default 32)
 *   PODVM_BENCH_REST_SECONDS=N       seconds per measurement (default 5)
 *   PODVM_BENCH_REST_WRK_THREADS=N   wrk threads (default 4, at most N connections)
 */
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define N_PODS 100
#define TOKEN "bench-rest-token"
#define TARGET_P99_MS 2.0
#define TARGET_RATIO 0.5

static guint n_connections = 32;
static guint seconds = 5;
static guint wrk_threads = 4;
/* The size of the document both servers answer. */
static gsize body_size;

/* ---- the bare server, in its own process ------------------------------------- */

/*
 * This program run as "bench-rest --bare-server DOCUMENT SOCKET": a bare
 * SoupServer answering DOCUMENT on the unix socket SOCKET and on a TCP
 * port of 127.0.0.1 it prints; it ends when its stdin closes. A process of
 * its own, like podvmd: in a thread of the load generator's process the
 * two would share GLib's process-wide locks and the allocator.
 */
static void
bare_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
             gpointer user_data)
{
    GBytes *document = user_data;

    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
                                     g_bytes_get_data(document, NULL), g_bytes_get_size(document));
}

static GSocket *
listening_socket(GSocketAddress *address)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket =
        g_socket_new(g_socket_address_get_family(address), G_SOCKET_TYPE_STREAM,
                     G_SOCKET_PROTOCOL_DEFAULT, &error);

    g_assert_no_error(error);
    g_socket_bind(socket, address, TRUE, &error);
    g_assert_no_error(error);
    g_socket_set_listen_backlog(socket, 1024);
    g_socket_listen(socket, &error);
    g_assert_no_error(error);
    return g_steal_pointer(&socket);
}

static gboolean
bare_stdin_cb(int fd, GIOCondition condition, gpointer user_data)
{
    char c;

    if (read(fd, &c, 1) > 0)
        return G_SOURCE_CONTINUE;
    g_main_loop_quit(user_data);
    return G_SOURCE_REMOVE;
}

static int
bare_server_main(const char *document_path, const char *socket_path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(SoupServer) server = soup_server_new(NULL, NULL);
    g_autoptr(GSocketAddress) unix_address = g_unix_socket_address_new(socket_path);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) tcp_address = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocket) unix_socket = NULL;
    g_autoptr(GSocket) tcp_socket = NULL;
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GBytes) document = NULL;
    g_autofree char *contents = NULL;
    gsize length = 0;

    g_file_get_contents(document_path, &contents, &length, &error);
    g_assert_no_error(error);
    document = g_bytes_new_take(g_steal_pointer(&contents), length);
    soup_server_add_handler(server, NULL, bare_handler, document, NULL);
    unix_socket = listening_socket(unix_address);
    tcp_socket = listening_socket(tcp_address);
    soup_server_listen_socket(server, unix_socket, 0, &error);
    g_assert_no_error(error);
    soup_server_listen_socket(server, tcp_socket, 0, &error);
    g_assert_no_error(error);
    bound = g_socket_get_local_address(tcp_socket, &error);
    g_assert_no_error(error);
    g_print("%u\n", g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
    fflush(stdout);
    g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, bare_stdin_cb, loop);
    g_main_loop_run(loop);
    soup_server_disconnect(server);
    g_unlink(socket_path);
    return 0;
}

/* Starts the bare server serving @document; its TCP port goes to @out_port. */
static GSubprocess *
bare_server_start(const char *dir, GBytes *document, const char *socket_path, guint16 *out_port)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *self = g_file_read_link("/proc/self/exe", &error);
    g_autofree char *document_path = g_build_filename(dir, "bare.json", NULL);
    g_autoptr(GSubprocess) process = NULL;
    g_autoptr(GDataInputStream) output = NULL;
    g_autofree char *line = NULL;

    g_assert_no_error(error);
    g_file_set_contents(document_path, g_bytes_get_data(document, NULL),
                        (gssize)g_bytes_get_size(document), &error);
    g_assert_no_error(error);
    process = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                               &error, self, "--bare-server", document_path, socket_path, NULL);
    g_assert_no_error(error);
    output = g_data_input_stream_new(g_subprocess_get_stdout_pipe(process));
    line = g_data_input_stream_read_line(output, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(line);
    *out_port = (guint16)g_ascii_strtoull(line, NULL, 10);
    g_assert_cmpuint(*out_port, >, 0);
    /* It has read the document: the file can go. */
    g_unlink(document_path);
    return g_steal_pointer(&process);
}

static void
bare_server_stop(GSubprocess *process)
{
    g_autoptr(GError) error = NULL;

    /* Its stdin closing is its signal to end. */
    g_output_stream_close(g_subprocess_get_stdin_pipe(process), NULL, NULL);
    g_subprocess_wait_check(process, NULL, &error);
    g_assert_no_error(error);
}

/* ---- the load generator ------------------------------------------------------ */

typedef struct _Run Run;

typedef struct {
    Run *run;
    SoupSession *session;
    gint64 sent_us;
    gboolean busy;
} Client;

struct _Run {
    const char *uri;
    const char *token; /* or NULL */
    gint64 end_us;
    gboolean measuring;
    GArray *latencies_us;
    guint failures;
    gsize body_size;
};

static void client_send(Client *client);

static void
client_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Client *client = user_data;
    Run *run = client->run;
    SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body =
        soup_session_send_and_read_finish(SOUP_SESSION(source), result, &error);
    gint64 now = g_get_monotonic_time();

    client->busy = FALSE;
    if (body == NULL || soup_message_get_status(msg) != SOUP_STATUS_OK) {
        if (run->failures++ == 0)
            g_printerr("bench-rest: %s: %s\n", run->uri,
                       error != NULL ? error->message : soup_message_get_reason_phrase(msg));
        return;
    }
    run->body_size = g_bytes_get_size(body);
    if (run->measuring) {
        gint64 took = now - client->sent_us;
        g_array_append_val(run->latencies_us, took);
    }
    if (now < run->end_us)
        client_send(client);
}

static void
client_send(Client *client)
{
    g_autoptr(SoupMessage) msg = soup_message_new("GET", client->run->uri);

    if (client->run->token != NULL)
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                     "Bearer " TOKEN);
    client->busy = TRUE;
    client->sent_us = g_get_monotonic_time();
    soup_session_send_and_read_async(client->session, msg, G_PRIORITY_DEFAULT, NULL, client_done_cb,
                                     client);
}

static void
wait_idle(Client *clients, guint n_clients)
{
    for (gboolean busy = TRUE; busy;) {
        busy = FALSE;
        for (guint i = 0; i < n_clients; i++)
            busy |= clients[i].busy;
        if (busy)
            g_main_context_iteration(NULL, TRUE);
    }
}

static int
compare_gint64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

typedef struct {
    double rps;
    double p99_ms;
    double p50_ms;
    gsize body_size;
} Result;

/* @socket_path: connect there (the URI's host is only a name); NULL for TCP. */
static gboolean
measure(const char *label, guint n_clients, const char *uri, const char *socket_path,
        const char *token, Result *out)
{
    g_autofree Client *clients = g_new0(Client, n_clients);
    g_autoptr(GSocketAddress) address =
        socket_path != NULL ? g_unix_socket_address_new(socket_path) : NULL;
    Run run = { .uri = uri, .token = token };
    gint64 start;

    run.latencies_us = g_array_new(FALSE, FALSE, sizeof(gint64));
    for (guint i = 0; i < n_clients; i++) {
        clients[i].run = &run;
        clients[i].session =
            soup_session_new_with_options("remote-connectable", address, "max-conns", 1,
                                          "max-conns-per-host", 1, "timeout", 30, NULL);
    }
    /* Warm up: every connection open, one request each. */
    run.end_us = 0;
    for (guint i = 0; i < n_clients; i++)
        client_send(&clients[i]);
    wait_idle(clients, n_clients);
    if (run.failures == 0) {
        start = g_get_monotonic_time();
        run.end_us = start + (gint64)seconds * G_USEC_PER_SEC;
        run.measuring = TRUE;
        for (guint i = 0; i < n_clients; i++)
            client_send(&clients[i]);
        wait_idle(clients, n_clients);
        g_array_sort(run.latencies_us, compare_gint64);
        out->rps = run.latencies_us->len / ((g_get_monotonic_time() - start) / 1e6);
        if (run.latencies_us->len > 0) {
            out->p99_ms =
                g_array_index(run.latencies_us, gint64, run.latencies_us->len * 99 / 100) / 1000.0;
            out->p50_ms =
                g_array_index(run.latencies_us, gint64, run.latencies_us->len / 2) / 1000.0;
        }
        out->body_size = run.body_size;
        g_print("  %-28s %3u conn %9.0f req/s   p50 %6.2f ms   p99 %6.2f ms   (%u requests, "
                "%zu-byte body)\n",
                label, n_clients, out->rps, out->p50_ms, out->p99_ms, run.latencies_us->len,
                run.body_size);
    }
    for (guint i = 0; i < n_clients; i++)
        g_object_unref(clients[i].session);
    g_array_unref(run.latencies_us);
    return run.failures == 0;
}

/* ---- wrk, when installed ----------------------------------------------------------- */

/* A wrk duration ("812.00us", "1.33ms", "2.01s", "1.50m") in milliseconds; -1 when unreadable. */
static double
wrk_duration_ms(const char *text)
{
    char *end = NULL;
    double value = g_ascii_strtod(text, &end);

    if (end == text)
        return -1;
    if (g_str_has_prefix(end, "us"))
        return value / 1000.0;
    if (g_str_has_prefix(end, "ms"))
        return value;
    if (g_str_has_prefix(end, "s"))
        return value * 1000.0;
    if (g_str_has_prefix(end, "m"))
        return value * 60000.0;
    return -1;
}

/*
 * The same measurement with wrk (TCP only): a load generator in C with
 * its own threads, so it does not cap the server the way one GLib thread
 * of libsoup clients can. FALSE when wrk failed or saw errors.
 */
static gboolean
measure_wrk(const char *wrk, const char *label, guint n_clients, const char *uri, const char *token,
            Result *out)
{
    guint n_threads = MIN(n_clients, wrk_threads);
    g_autofree char *threads = g_strdup_printf("-t%u", n_threads);
    g_autofree char *connections = g_strdup_printf("-c%u", n_clients);
    g_autofree char *duration = g_strdup_printf("-d%us", seconds);
    g_autofree char *header = token != NULL ? g_strdup("Authorization: Bearer " TOKEN) : NULL;
    g_autofree char *stdout_text = NULL;
    g_autofree char *stderr_text = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) lines = NULL;
    const char *argv[] = {
        wrk,    threads, connections, duration, "--latency", uri, header != NULL ? "-H" : NULL,
        header, NULL
    };
    guint64 errors = 0;
    guint64 requests = 0;
    int status = 0;

    *out = (Result){ 0 };
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &stdout_text,
                      &stderr_text, &status, &error) ||
        !g_spawn_check_wait_status(status, &error)) {
        g_printerr("bench-rest: wrk: %s %s\n", error->message, stderr_text ? stderr_text : "");
        return FALSE;
    }
    lines = g_strsplit(stdout_text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = g_strstrip(lines[i]);

        if (g_str_has_prefix(line, "Requests/sec:"))
            out->rps = g_ascii_strtod(line + strlen("Requests/sec:"), NULL);
        else if (g_str_has_prefix(line, "50%"))
            out->p50_ms = wrk_duration_ms(g_strchug((char *)line + 3));
        else if (g_str_has_prefix(line, "99%"))
            out->p99_ms = wrk_duration_ms(g_strchug((char *)line + 3));
        else if (g_str_has_prefix(line, "Non-2xx or 3xx responses:"))
            errors += g_ascii_strtoull(line + strlen("Non-2xx or 3xx responses:"), NULL, 10);
        else if (g_str_has_prefix(line, "Socket errors:"))
            errors++;
        else if (strstr(line, " requests in ") != NULL)
            requests = g_ascii_strtoull(line, NULL, 10);
    }
    out->body_size = body_size;
    g_print("  %-28s %3u conn %9.0f req/s   p50 %6.2f ms   p99 %6.2f ms   (%" G_GUINT64_FORMAT
            " requests, wrk -t%u)\n",
            label, n_clients, out->rps, out->p50_ms, out->p99_ms, requests, n_threads);
    if (errors > 0 || out->rps <= 0 || out->p99_ms < 0) {
        g_printerr("bench-rest: wrk on %s: errors or no result:\n%s\n", uri, stdout_text);
        return FALSE;
    }
    return TRUE;
}

/* ---- main ------------------------------------------------------------------------------ */

static guint16
free_port(void)
{
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocket) socket = listening_socket(address);
    g_autoptr(GSocketAddress) bound = g_socket_get_local_address(socket, NULL);

    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    if ((level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) != 0)
        return G_LOG_WRITER_HANDLED;
    return g_log_writer_default(level, fields, n_fields, user_data);
}

static guint
env_uint(const char *name, guint fallback)
{
    const char *text = g_getenv(name);

    return text != NULL && atoi(text) > 0 ? (guint)atoi(text) : fallback;
}

/* Median of @samples (microseconds) in ms. */
static double
median_ms(GArray *samples)
{
    g_array_sort(samples, compare_gint64);
    return g_array_index(samples, gint64, samples->len / 2) / 1000.0;
}

/*
 * The same list over both fronts: D-Bus ListPods and REST GET /v1/pods
 * (one connection), LIST_PODS pods, median of LIST_CALLS calls each.
 * Reported, not judged.
 */
#define LIST_PODS 300
#define LIST_CALLS 51

static void
list_on_both_fronts(PodvmTestDaemon *daemon, SoupSession *session)
{
    g_autoptr(GArray) dbus = g_array_new(FALSE, FALSE, sizeof(gint64));
    g_autoptr(GArray) rest = g_array_new(FALSE, FALSE, sizeof(gint64));
    g_autoptr(GError) error = NULL;
    gsize size = 0;

    for (guint i = N_PODS; i < LIST_PODS; i++) {
        g_autofree char *name = g_strdup_printf("bench-%03u", i);
        g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 1);
        g_autofree char *path = NULL;

        podvm_dbus_manager_call_create_pod_sync(daemon->manager, spec, &path, NULL, &error);
        g_assert_no_error(error);
    }
    /* One front after the other: work one leaves behind is not the other's latency. */
    for (guint i = 0; i < LIST_CALLS; i++) {
        g_autofree char *text = NULL;
        gint64 start = g_get_monotonic_time(), took;

        podvm_dbus_manager_call_list_pods_sync(daemon->manager, &text, NULL, &error);
        g_assert_no_error(error);
        took = g_get_monotonic_time() - start;
        g_array_append_val(dbus, took);
    }
    for (guint i = 0; i < LIST_CALLS; i++) {
        g_autoptr(SoupMessage) msg = soup_message_new("GET", "http://localhost/v1/pods");
        g_autoptr(GBytes) reply = NULL;
        gint64 start = g_get_monotonic_time(), took;

        reply = soup_session_send_and_read(session, msg, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), ==, SOUP_STATUS_OK);
        took = g_get_monotonic_time() - start;
        g_array_append_val(rest, took);
        size = g_bytes_get_size(reply);
    }
    g_print("the pod list on both fronts, %u pods (%zu-byte REST answer), median of %u calls:\n",
            LIST_PODS, size, LIST_CALLS);
    g_print("  D-Bus ListPods   %6.2f ms\n", median_ms(dbus));
    g_print("  REST GET /v1/pods %5.2f ms\n", median_ms(rest));
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *token_path = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *api_socket = NULL;
    g_autofree char *tcp_uri = NULL;
    g_autofree char *bare_tcp_uri = NULL;
    g_autofree char *list = NULL;
    g_autoptr(SoupSession) session = NULL;
    g_autoptr(GSocketAddress) api_address = NULL;
    PodvmTestDaemon *daemon;
    Result pod_unix = { 0 }, pod_tcp = { 0 }, bare_unix = { 0 }, bare_tcp = { 0 };
    Result pod_unix_1 = { 0 }, pod_tcp_1 = { 0 }, bare_unix_1 = { 0 }, bare_tcp_1 = { 0 };
    g_autofree char *wrk = g_find_program_in_path("wrk");
    g_autoptr(GBytes) document = NULL;
    g_autoptr(GSubprocess) bare = NULL;
    g_autofree char *bare_socket = NULL;
    guint16 bare_port = 0;
    guint16 port;
    gboolean ok = TRUE;

    if (argc == 4 && g_str_equal(argv[1], "--bare-server"))
        return bare_server_main(argv[2], argv[3]);
    g_log_set_writer_func(log_writer, NULL, NULL);
    n_connections = env_uint("PODVM_BENCH_REST_CONNECTIONS", n_connections);
    seconds = env_uint("PODVM_BENCH_REST_SECONDS", seconds);
    wrk_threads = env_uint("PODVM_BENCH_REST_WRK_THREADS", wrk_threads);

    dir = g_dir_make_tmp("podvm-bench-rest-XXXXXX", &error);
    g_assert_no_error(error);
    token_path = g_build_filename(dir, "token", NULL);
    g_assert_true(g_file_set_contents(token_path, TOKEN "\n", -1, NULL));
    port = free_port();
    conf = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n", port, token_path);
    daemon = podvm_test_daemon_new_with_config(conf);
    if (daemon == NULL) {
        g_printerr("bench-rest: podvmd cannot run here; skipped\n");
        g_unlink(token_path);
        g_rmdir(dir);
        return 77;
    }
    api_socket = g_build_filename(daemon->run_dir, "api.sock", NULL);
    tcp_uri = g_strdup_printf("http://127.0.0.1:%u/v1/pods", port);

    /* 100 pods, created and not started. */
    api_address = g_unix_socket_address_new(api_socket);
    session = soup_session_new_with_options("remote-connectable", api_address, NULL);
    for (guint i = 0; i < N_PODS; i++) {
        g_autofree char *name = g_strdup_printf("bench-%03u", i);
        g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 1);
        g_autoptr(SoupMessage) msg = soup_message_new("POST", "http://localhost/v1/pods");
        g_autoptr(GBytes) body = g_bytes_new_take(g_steal_pointer(&spec), strlen(spec));
        g_autoptr(GBytes) reply = NULL;

        soup_message_set_request_body_from_bytes(msg, "application/json", body);
        reply = soup_session_send_and_read(session, msg, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), ==, SOUP_STATUS_CREATED);
    }
    {
        g_autoptr(SoupMessage) msg = soup_message_new("GET", "http://localhost/v1/pods");
        g_autoptr(GBytes) reply = soup_session_send_and_read(session, msg, NULL, &error);

        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), ==, SOUP_STATUS_OK);
        /* The bare server answers this very document. */
        document = g_bytes_ref(reply);
    }

    bare_socket = g_build_filename(dir, "bare.sock", NULL);
    bare = bare_server_start(dir, document, bare_socket, &bare_port);
    bare_tcp_uri = g_strdup_printf("http://127.0.0.1:%u/v1/pods", bare_port);

    body_size = g_bytes_get_size(document);
    g_print("bench-rest: GET /v1/pods, %u pods (%zu-byte answer), %u connections, %u s each\n",
            N_PODS, body_size, n_connections, seconds);
    /*
     * Throughput: N connections (latency then includes waiting behind the
     * others). Latency: one connection, nothing queued. The unix socket
     * with the built-in generator (wrk speaks only TCP); TCP with wrk when
     * installed.
     */
    g_print("unix socket (built-in load generator):\n");
    ok &= measure("podvmd", n_connections, "http://localhost/v1/pods", api_socket, NULL, &pod_unix);
    ok &= measure("bare SoupServer", n_connections, "http://localhost/v1/pods", bare_socket, NULL,
                  &bare_unix);
    ok &= measure("podvmd", 1, "http://localhost/v1/pods", api_socket, NULL, &pod_unix_1);
    ok &=
        measure("bare SoupServer", 1, "http://localhost/v1/pods", bare_socket, NULL, &bare_unix_1);
    if (wrk != NULL) {
        g_print("TCP (wrk):\n");
        ok &= measure_wrk(wrk, "podvmd + bearer token", n_connections, tcp_uri, TOKEN, &pod_tcp);
        ok &= measure_wrk(wrk, "bare SoupServer", n_connections, bare_tcp_uri, NULL, &bare_tcp);
        ok &= measure_wrk(wrk, "podvmd + bearer token", 1, tcp_uri, TOKEN, &pod_tcp_1);
        ok &= measure_wrk(wrk, "bare SoupServer", 1, bare_tcp_uri, NULL, &bare_tcp_1);
    } else {
        g_print("TCP (built-in load generator; wrk is not installed):\n");
        ok &= measure("podvmd + bearer token", n_connections, tcp_uri, NULL, TOKEN, &pod_tcp);
        ok &= measure("bare SoupServer", n_connections, bare_tcp_uri, NULL, NULL, &bare_tcp);
        ok &= measure("podvmd + bearer token", 1, tcp_uri, NULL, TOKEN, &pod_tcp_1);
        ok &= measure("bare SoupServer", 1, bare_tcp_uri, NULL, NULL, &bare_tcp_1);
    }

    if (ok) {
        double ratio_unix = bare_unix.rps > 0 ? pod_unix.rps / bare_unix.rps : 0;
        double ratio_tcp = bare_tcp.rps > 0 ? pod_tcp.rps / bare_tcp.rps : 0;

        g_print("podvmd / bare SoupServer, %u connections:\n", n_connections);
        g_print("  unix socket  %8.0f / %8.0f req/s = %5.2fx   p99 %6.2f / %6.2f ms\n",
                pod_unix.rps, bare_unix.rps, ratio_unix, pod_unix.p99_ms, bare_unix.p99_ms);
        g_print("  TCP          %8.0f / %8.0f req/s = %5.2fx   p99 %6.2f / %6.2f ms\n", pod_tcp.rps,
                bare_tcp.rps, ratio_tcp, pod_tcp.p99_ms, bare_tcp.p99_ms);
        g_print("targets:\n");
        g_print("  throughput / bare, unix          %6.2fx >= %.1fx    %s\n", ratio_unix,
                TARGET_RATIO, bench_verdict(ratio_unix >= TARGET_RATIO));
        g_print("  throughput / bare, TCP           %6.2fx >= %.1fx    %s\n", ratio_tcp,
                TARGET_RATIO, bench_verdict(ratio_tcp >= TARGET_RATIO));
        g_print("  podvmd p99, unix socket, 1 conn  %6.2f ms < %.1f ms   %s\n", pod_unix_1.p99_ms,
                TARGET_P99_MS, bench_verdict(pod_unix_1.p99_ms < TARGET_P99_MS));
        g_print("  podvmd p99, TCP, 1 conn          %6.2f ms < %.1f ms   %s\n", pod_tcp_1.p99_ms,
                TARGET_P99_MS, bench_verdict(pod_tcp_1.p99_ms < TARGET_P99_MS));
        if (wrk != NULL)
            g_print("  podvmd p99, TCP, %u conn         %6.2f ms < %.1f ms   %s\n", n_connections,
                    pod_tcp.p99_ms, TARGET_P99_MS, bench_verdict(pod_tcp.p99_ms < TARGET_P99_MS));
        /*
         * The built-in generator is one GLib thread: with N connections
         * its p99 is mostly its own queueing (the bare server's shows how
         * much), so it is reported, not judged.
         */
        g_print("  (p99 with %u connections, built-in generator on the unix socket: podvmd %.2f "
                "ms, bare %.2f ms)\n",
                n_connections, pod_unix.p99_ms, bare_unix.p99_ms);
    }

    list_on_both_fronts(daemon, session);

    bare_server_stop(bare);
    g_unlink(bare_socket);
    g_clear_object(&session);
    podvm_test_daemon_free(daemon);
    g_unlink(token_path);
    g_rmdir(dir);
    return ok ? 0 : 1;
}
