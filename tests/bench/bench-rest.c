/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-rest: GET /v1/pods on podvmd's REST API, with 100 pods defined
 * (created, not started), against a bare libsoup SoupServer answering a
 * fixed document of the same size: the physical limit of the HTTP stack.
 * podvmd runs as its own process (unix socket and TCP with a bearer
 * token); the bare server runs in a thread of this process with its own
 * main context; the load generator is N libsoup clients (one connection
 * each) in the main thread, for a fixed time. Prints requests/s and p99
 * latency for each, with N connections (throughput; latency then includes
 * queueing) and with one (latency), then the targets with PASS or MISS. A miss does not
 * fail the program; something broken does (exit 1). Exit 77 (skip) when
 * podvmd cannot be run here. When wrk is installed, the TCP figures are
 * measured with wrk too.
 *
 * Environment:
 *   PODVMD, PODVM_GUEST_DIR, PODVM_QEMU   as for the tests (tests/meson.build)
 *   PODVM_BENCH_REST_CONNECTIONS=N   concurrent connections (default 32)
 *   PODVM_BENCH_REST_SECONDS=N       seconds per measurement (default 5)
 */
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define N_PODS 100
#define TOKEN "bench-rest-token"
#define TARGET_P99_MS 2.0
#define TARGET_RATIO 0.5

static guint n_connections = 32;
static guint seconds = 5;

/* ---- the bare server, in its own thread ------------------------------------ */

typedef struct {
    GBytes *document;
    char *socket_path;
    guint16 port;
    GMainContext *context;
    GMainLoop *loop;
    GMutex lock;
    GCond ready_cond;
    gboolean ready;
} Bare;

static void
bare_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
             gpointer user_data)
{
    Bare *bare = user_data;

    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
                                     g_bytes_get_data(bare->document, NULL),
                                     g_bytes_get_size(bare->document));
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

static gpointer
bare_thread(gpointer user_data)
{
    Bare *bare = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(SoupServer) server = NULL;
    g_autoptr(GSocketAddress) unix_address = g_unix_socket_address_new(bare->socket_path);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) tcp_address = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocket) unix_socket = NULL;
    g_autoptr(GSocket) tcp_socket = NULL;
    g_autoptr(GSocketAddress) bound = NULL;

    g_main_context_push_thread_default(bare->context);
    server = soup_server_new(NULL, NULL);
    soup_server_add_handler(server, NULL, bare_handler, bare, NULL);
    unix_socket = listening_socket(unix_address);
    tcp_socket = listening_socket(tcp_address);
    soup_server_listen_socket(server, unix_socket, 0, &error);
    g_assert_no_error(error);
    soup_server_listen_socket(server, tcp_socket, 0, &error);
    g_assert_no_error(error);
    bound = g_socket_get_local_address(tcp_socket, &error);
    g_assert_no_error(error);

    g_mutex_lock(&bare->lock);
    bare->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    bare->ready = TRUE;
    g_cond_signal(&bare->ready_cond);
    g_mutex_unlock(&bare->lock);

    g_main_loop_run(bare->loop);
    soup_server_disconnect(server);
    g_main_context_pop_thread_default(bare->context);
    return NULL;
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

static void
measure_wrk(const char *label, const char *uri, const char *token)
{
    g_autofree char *wrk = g_find_program_in_path("wrk");
    g_autofree char *threads = g_strdup_printf("-t%u", MIN(n_connections, 4u));
    g_autofree char *connections = g_strdup_printf("-c%u", n_connections);
    g_autofree char *duration = g_strdup_printf("-d%us", seconds);
    g_autofree char *header = token != NULL ? g_strdup("Authorization: Bearer " TOKEN) : NULL;
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;
    const char *argv[] = {
        wrk,    threads, connections, duration, "--latency", uri, header != NULL ? "-H" : NULL,
        header, NULL
    };
    int status = 0;

    if (wrk == NULL)
        return;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status,
                      &error)) {
        g_printerr("bench-rest: wrk: %s\n", error->message);
        return;
    }
    g_print("  wrk, %s:\n", label);
    {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++)
            if (strstr(lines[i], "Requests/sec") != NULL || strstr(lines[i], " 99%") != NULL ||
                strstr(lines[i], " 50%") != NULL || strstr(lines[i], "Non-2xx") != NULL)
                g_print("    %s\n", g_strstrip(lines[i]));
    }
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

static const char *
verdict(gboolean ok)
{
    return ok ? "PASS" : "MISS";
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
    Bare bare = { 0 };
    GThread *thread;
    guint16 port;
    gboolean ok = TRUE;

    g_log_set_writer_func(log_writer, NULL, NULL);
    n_connections = env_uint("PODVM_BENCH_REST_CONNECTIONS", n_connections);
    seconds = env_uint("PODVM_BENCH_REST_SECONDS", seconds);

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
        bare.document = g_bytes_ref(reply);
    }

    bare.socket_path = g_build_filename(dir, "bare.sock", NULL);
    bare.context = g_main_context_new();
    bare.loop = g_main_loop_new(bare.context, FALSE);
    g_mutex_init(&bare.lock);
    g_cond_init(&bare.ready_cond);
    thread = g_thread_new("bare-server", bare_thread, &bare);
    g_mutex_lock(&bare.lock);
    while (!bare.ready)
        g_cond_wait(&bare.ready_cond, &bare.lock);
    g_mutex_unlock(&bare.lock);
    bare_tcp_uri = g_strdup_printf("http://127.0.0.1:%u/v1/pods", bare.port);

    g_print("bench-rest: GET /v1/pods, %u pods, %u connections, %u s each\n", N_PODS, n_connections,
            seconds);
    /* Throughput: N connections. Latency: one connection, nothing queued. */
    ok &= measure("podvmd, unix socket", n_connections, "http://localhost/v1/pods", api_socket,
                  NULL, &pod_unix);
    ok &= measure("bare SoupServer, unix socket", n_connections, "http://localhost/v1/pods",
                  bare.socket_path, NULL, &bare_unix);
    ok &= measure("podvmd, TCP + token", n_connections, tcp_uri, NULL, TOKEN, &pod_tcp);
    ok &= measure("bare SoupServer, TCP", n_connections, bare_tcp_uri, NULL, NULL, &bare_tcp);
    ok &= measure("podvmd, unix socket", 1, "http://localhost/v1/pods", api_socket, NULL,
                  &pod_unix_1);
    ok &= measure("bare SoupServer, unix socket", 1, "http://localhost/v1/pods", bare.socket_path,
                  NULL, &bare_unix_1);
    ok &= measure("podvmd, TCP + token", 1, tcp_uri, NULL, TOKEN, &pod_tcp_1);
    ok &= measure("bare SoupServer, TCP", 1, bare_tcp_uri, NULL, NULL, &bare_tcp_1);
    measure_wrk("podvmd, TCP + token", tcp_uri, TOKEN);
    measure_wrk("bare SoupServer, TCP", bare_tcp_uri, NULL);
    if (g_find_program_in_path("wrk") == NULL)
        g_print("  (wrk is not installed: no second measurement)\n");

    if (ok) {
        double ratio_unix = bare_unix.rps > 0 ? pod_unix.rps / bare_unix.rps : 0;
        double ratio_tcp = bare_tcp.rps > 0 ? pod_tcp.rps / bare_tcp.rps : 0;

        g_print("targets:\n");
        g_print("  podvmd p99, unix socket, 1 conn  %6.2f ms < %.1f ms   %s\n", pod_unix_1.p99_ms,
                TARGET_P99_MS, verdict(pod_unix_1.p99_ms < TARGET_P99_MS));
        g_print("  podvmd p99, TCP, 1 conn          %6.2f ms < %.1f ms   %s\n", pod_tcp_1.p99_ms,
                TARGET_P99_MS, verdict(pod_tcp_1.p99_ms < TARGET_P99_MS));
        g_print("  podvmd p99, unix socket, %u conn %6.2f ms < %.1f ms   %s\n", n_connections,
                pod_unix.p99_ms, TARGET_P99_MS, verdict(pod_unix.p99_ms < TARGET_P99_MS));
        g_print("  podvmd p99, TCP, %u conn         %6.2f ms < %.1f ms   %s\n", n_connections,
                pod_tcp.p99_ms, TARGET_P99_MS, verdict(pod_tcp.p99_ms < TARGET_P99_MS));
        g_print("  throughput / bare, unix      %6.2fx >= %.1fx            %s\n", ratio_unix,
                TARGET_RATIO, verdict(ratio_unix >= TARGET_RATIO));
        g_print("  throughput / bare, TCP       %6.2fx >= %.1fx            %s\n", ratio_tcp,
                TARGET_RATIO, verdict(ratio_tcp >= TARGET_RATIO));
        g_print(
            "  (bare p99, 1 conn: unix %.2f ms, TCP %.2f ms; %u conn: unix %.2f ms, TCP %.2f ms)\n",
            bare_unix_1.p99_ms, bare_tcp_1.p99_ms, n_connections, bare_unix.p99_ms,
            bare_tcp.p99_ms);
    }

    g_main_loop_quit(bare.loop);
    g_thread_join(thread);
    g_main_loop_unref(bare.loop);
    g_main_context_unref(bare.context);
    g_bytes_unref(bare.document);
    g_unlink(bare.socket_path);
    g_free(bare.socket_path);
    g_clear_object(&session);
    podvm_test_daemon_free(daemon);
    g_unlink(token_path);
    g_rmdir(dir);
    return ok ? 0 : 1;
}
