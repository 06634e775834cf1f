/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two roles of the REST API (README "Access") through each listener,
 * with libsoup's client (HTTP and WebSocket): RUN_DIR/api-ro.sock and the
 * read-only token may call every reader's route and get 403 on every
 * admin's route of the route table (QMP passthrough, console, exec,
 * create, delete, ...); RUN_DIR/api.sock and the admin token may call
 * everything; /healthz needs no token on TCP; readers see secrets hidden;
 * podvmd refuses a read-only token file it cannot use; and console
 * tickets open the console WebSocket on TCP without a header, once, for
 * their pod, within their lifetime.
 */
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>

#include "podvm-rest-front.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define ADMIN_TOKEN "admin-token-5f0e"
#define READER_TOKEN "reader-token-9a1c"
#define SECRET "cloud-init-secret-77aa"
#define BOOT_TIMEOUT_MS 90000

static const char *debug_log;

/* ---- a client --------------------------------------------------------------- */

typedef struct {
    SoupSession *session;
    char *base;          /* "http://localhost" on a unix socket, "http://127.0.0.1:PORT" */
    char *authorization; /* NULL: none */
} Client;

static Client *
client_new_unix(const char *socket_path)
{
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);
    Client *c = g_new0(Client, 1);

    c->session = soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
    c->base = g_strdup("http://localhost");
    return c;
}

static Client *
client_new_tcp(const char *base, const char *token)
{
    Client *c = g_new0(Client, 1);

    c->session = soup_session_new_with_options("timeout", 120, NULL);
    c->base = g_strdup(base);
    c->authorization = token != NULL ? g_strconcat("Bearer ", token, NULL) : NULL;
    return c;
}

static void
client_free(Client *c)
{
    g_object_unref(c->session);
    g_free(c->base);
    g_free(c->authorization);
    g_free(c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Client, client_free)

static SoupMessage *
client_message(Client *c, const char *method, const char *path, const char *body)
{
    g_autofree char *uri = g_strconcat(c->base, path, NULL);
    SoupMessage *msg = soup_message_new(method, uri);

    g_assert_nonnull(msg);
    if (c->authorization != NULL)
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                     c->authorization);
    if (body != NULL) {
        g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }
    return msg;
}

/*
 * One request: its status, and up to 64 KiB of the answer's body in
 * *@out_body. Streams (events, a followed log) are cut there.
 */
static guint
call(Client *c, const char *method, const char *path, const char *body, char **out_body)
{
    g_autoptr(SoupMessage) msg = client_message(c, method, path, body);
    g_autoptr(GError) error = NULL;
    g_autoptr(GInputStream) stream = soup_session_send(c->session, msg, NULL, &error);
    g_autoptr(GString) text = g_string_new(NULL);

    if (error != NULL) {
        g_autofree char *log = NULL;
        g_test_message("%s %s: %s", method, path, error->message);
        if (debug_log != NULL && g_file_get_contents(debug_log, &log, NULL, NULL))
            g_printerr("---- podvmd log ----\n%s\n", log);
    }
    g_assert_no_error(error);
    /* An event stream sends nothing until an event: read a complete answer only. */
    if (!g_str_has_prefix(
            soup_message_headers_get_content_type(soup_message_get_response_headers(msg), NULL)
                ?: "",
            "text/event-stream")) {
        char buffer[4096];
        gssize n;

        while (text->len < 64 * 1024 &&
               (n = g_input_stream_read(stream, buffer, sizeof buffer, NULL, &error)) > 0)
            g_string_append_len(text, buffer, n);
    }
    g_input_stream_close(stream, NULL, NULL);
    if (out_body != NULL)
        *out_body = g_strdup(text->str);
    return soup_message_get_status(msg);
}

/* Asserts an error document with @status and @reason. */
static void
assert_error(guint got, const char *body, guint status, const char *reason)
{
    g_autofree char *needle = g_strdup_printf("\"reason\" : \"%s\"", reason);

    if (got != status)
        g_test_message("expected %u %s, got %u: %s", status, reason, got, body);
    g_assert_cmpuint(got, ==, status);
    g_assert_nonnull(strstr(body, needle));
}

/* One request that must fail with @status and @reason. */
static void
assert_refused(Client *c, const char *method, const char *path, const char *body, guint status,
               const char *reason)
{
    g_autofree char *answer = NULL;
    guint got = call(c, method, path, body, &answer);

    assert_error(got, answer, status, reason);
}

static char *
secret_pod(const char *name)
{
    return podvm_test_guest_spec_with(
        name, NULL, "disks", "[{\"name\": \"ci\", \"cdrom\": {\"bus\": \"scsi\"}}]", "volumes",
        "[{\"name\": \"ci\", \"cloudInitNoCloud\": {\"userData\": "
        "\"#cloud-config\\npassword: " SECRET "\\n\"}}]");
}

/* A route's pattern with its placeholders filled in: {name} is @pod. */
static char *
route_path(const char *pattern, const char *pod)
{
    g_autoptr(GString) path = g_string_new(pattern);

    g_string_replace(path, "{name}", pod, 0);
    g_string_replace(path, "{disk}", "d", 0);
    g_string_replace(path, "{iface}", "i", 0);
    g_string_replace(path, "{image}", "docker.io/library/none:1", 0);
    return g_string_free(g_steal_pointer(&path), FALSE);
}

/*
 * Every route of the table as a reader through @reader: an admin's route
 * answers 403 Forbidden, a reader's anything but 401 and 403. The pod
 * @pod is still there afterwards, as it was.
 */
static void
check_reader_routes(Client *reader, Client *admin, const char *pod)
{
    const PodvmRestRoute *routes;
    gsize n_routes = 0;
    guint admins = 0, readers = 0;

    routes = podvm_rest_front_get_routes(&n_routes);
    for (gsize i = 0; i < n_routes; i++) {
        g_autofree char *path = route_path(routes[i].pattern, pod);
        g_autofree char *body = NULL;
        const char *send = g_str_equal(routes[i].method, "GET") ? NULL : "{}";
        guint status = call(reader, routes[i].method, path, send, &body);

        g_test_message("reader: %s %s (%s): %u", routes[i].method, path,
                       podvm_rest_role_to_string(routes[i].role), status);
        if (routes[i].role == PODVM_REST_ROLE_ADMIN) {
            assert_error(status, body, SOUP_STATUS_FORBIDDEN, "Forbidden");
            g_assert_nonnull(strstr(body, "needs the admin role"));
            admins++;
        } else {
            g_assert_cmpuint(status, !=, SOUP_STATUS_FORBIDDEN);
            g_assert_cmpuint(status, !=, SOUP_STATUS_UNAUTHORIZED);
            readers++;
        }
    }
    g_assert_cmpuint(admins, >, 0);
    g_assert_cmpuint(readers, >, 0);
    {
        /* What readers must never do is marked so: the table cannot drift silently. */
        static const char *const admin_only[] = {
            "POST /v1/pods",
            "DELETE /v1/pods/{name}",
            "POST /v1/pods/{name}/start",
            "POST /v1/pods/{name}/qmp",
            "GET /v1/pods/{name}/console",
            "POST /v1/pods/{name}/console/ticket",
            "POST /v1/pods/{name}/exec",
            "POST /v1/pods/{name}/disks",
            "POST /v1/pods/{name}/migrate",
            "GET /v1/migrations/{name}/stream",
            "POST /v1/images",
        };
        static const char *const for_readers[] = {
            "GET /v1/pods", "GET /v1/pods/{name}", "GET /v1/pods/{name}/log", "GET /v1/events",
            "GET /metrics", "GET /healthz",        "GET /v1/version",
        };

        for (gsize i = 0; i < n_routes; i++) {
            g_autofree char *key = g_strdup_printf("%s %s", routes[i].method, routes[i].pattern);

            if (g_strv_contains((const char *const *)admin_only, key))
                g_assert_cmpint(routes[i].role, ==, PODVM_REST_ROLE_ADMIN);
        }
        for (gsize j = 0; j < G_N_ELEMENTS(for_readers); j++) {
            gboolean found = FALSE;

            for (gsize i = 0; i < n_routes; i++) {
                g_autofree char *key =
                    g_strdup_printf("%s %s", routes[i].method, routes[i].pattern);

                if (g_str_equal(key, for_readers[j])) {
                    g_assert_cmpint(routes[i].role, !=, PODVM_REST_ROLE_ADMIN);
                    found = TRUE;
                }
            }
            g_assert_true(found);
        }
    }
    {
        /* A reader sees the pod with its secret hidden, and may not ask for it. */
        g_autofree char *one = g_strdup_printf("/v1/pods/%s", pod);
        g_autofree char *with = g_strdup_printf("/v1/pods/%s?secrets=true", pod);
        g_autofree char *body = NULL;
        g_autofree char *list = NULL;

        g_assert_cmpuint(call(reader, "GET", one, NULL, &body), ==, SOUP_STATUS_OK);
        g_assert_null(strstr(body, SECRET));
        g_assert_nonnull(strstr(body, "(hidden: "));
        g_assert_cmpuint(call(reader, "GET", "/v1/pods", NULL, &list), ==, SOUP_STATUS_OK);
        g_assert_null(strstr(list, SECRET));
        g_assert_nonnull(strstr(list, pod));
        assert_refused(reader, "GET", with, NULL, SOUP_STATUS_FORBIDDEN, "Forbidden");
    }
    {
        /* The admin sees it, and the pod is as it was: Pending, not deleted. */
        g_autofree char *with = g_strdup_printf("/v1/pods/%s?secrets=true", pod);
        g_autofree char *body = NULL;

        g_assert_cmpuint(call(admin, "GET", with, NULL, &body), ==, SOUP_STATUS_OK);
        g_assert_nonnull(strstr(body, SECRET));
        g_assert_nonnull(strstr(body, "\"phase\" : \"Pending\""));
    }
}

/* ---- the unix sockets ----------------------------------------------------------- */

static void
test_unix_sockets(void)
{
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autofree char *admin_path = NULL;
    g_autofree char *reader_path = NULL;
    g_autoptr(Client) admin = NULL;
    g_autoptr(Client) reader = NULL;
    g_autofree char *spec = secret_pod("sec");
    g_autofree char *body = NULL;
    struct stat st;

    if (daemon == NULL)
        return;
    admin_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    reader_path = g_build_filename(daemon->run_dir, "api-ro.sock", NULL);
    g_assert_cmpint(stat(reader_path, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));
    g_assert_cmpint(st.st_mode & 0777, ==, 0666);
    g_assert_cmpint(stat(admin_path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0660);
    admin = client_new_unix(admin_path);
    reader = client_new_unix(reader_path);

    g_assert_cmpuint(call(admin, "POST", "/v1/pods", spec, &body), ==, SOUP_STATUS_CREATED);
    check_reader_routes(reader, admin, "sec");
    {
        /* The admin's socket may do what the reader's may not. */
        g_autofree char *ticket = NULL;
        g_autofree char *deleted = NULL;

        g_assert_cmpuint(call(admin, "POST", "/v1/pods/sec/console/ticket", NULL, &ticket), ==,
                         SOUP_STATUS_CREATED);
        g_assert_cmpuint(call(admin, "DELETE", "/v1/pods/sec", NULL, &deleted), ==, SOUP_STATUS_OK);
    }
    podvm_test_daemon_free(daemon);
}

/* ---- TCP ------------------------------------------------------------------------- */

typedef struct {
    char *dir;
    char *config;
    char *base;
} Tcp;

static void
tcp_clear(Tcp *t)
{
    if (t->dir != NULL)
        podvm_test_rmrf(t->dir);
    g_free(t->dir);
    g_free(t->config);
    g_free(t->base);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Tcp, tcp_clear)

static guint16
free_port(void)
{
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_true(g_socket_bind(socket, any, TRUE, NULL));
    bound = g_socket_get_local_address(socket, NULL);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

/* Both token files and a [rest] section listening on loopback; @extra goes into [rest]. */
static void
tcp_init(Tcp *t, const char *extra)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *admin = NULL;
    g_autofree char *reader = NULL;
    guint16 port = free_port();

    t->dir = podvm_test_mkdtemp();
    admin = g_build_filename(t->dir, "token", NULL);
    reader = g_build_filename(t->dir, "ro-token", NULL);
    g_file_set_contents(admin, ADMIN_TOKEN "\n", -1, &error);
    g_assert_no_error(error);
    g_file_set_contents(reader, " " READER_TOKEN "\n", -1, &error);
    g_assert_no_error(error);
    t->config = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n"
                                "read_only_token_file=%s\n%s",
                                port, admin, reader, extra != NULL ? extra : "");
    t->base = g_strdup_printf("http://127.0.0.1:%u", port);
}

static void
test_tcp(void)
{
    g_auto(Tcp) t = { 0 };
    PodvmTestDaemon *daemon;
    g_autoptr(Client) anyone = NULL;
    g_autoptr(Client) wrong = NULL;
    g_autoptr(Client) reader = NULL;
    g_autoptr(Client) admin = NULL;
    g_autofree char *spec = secret_pod("tcp");
    g_autofree char *log = NULL;

    tcp_init(&t, NULL);
    daemon = podvm_test_daemon_new_with_config(t.config);
    if (daemon == NULL)
        return;
    anyone = client_new_tcp(t.base, NULL);
    wrong = client_new_tcp(t.base, "not-a-token");
    reader = client_new_tcp(t.base, READER_TOKEN);
    admin = client_new_tcp(t.base, ADMIN_TOKEN);
    {
        /* /healthz is open; nothing else is, not even a 404. */
        g_autofree char *ok = NULL;

        g_assert_cmpuint(call(anyone, "GET", "/healthz", NULL, &ok), ==, SOUP_STATUS_OK);
        g_assert_cmpstr(ok, ==, "ok\n");
        assert_refused(anyone, "GET", "/v1/pods", NULL, SOUP_STATUS_UNAUTHORIZED, "Unauthorized");
        assert_refused(anyone, "GET", "/v1/nothing", NULL, SOUP_STATUS_UNAUTHORIZED,
                       "Unauthorized");
        assert_refused(wrong, "GET", "/v1/pods", NULL, SOUP_STATUS_UNAUTHORIZED, "Unauthorized");
    }
    {
        g_autofree char *body = NULL;

        assert_refused(reader, "POST", "/v1/pods", spec, SOUP_STATUS_FORBIDDEN, "Forbidden");
        g_clear_pointer(&body, g_free);
        g_assert_cmpuint(call(admin, "POST", "/v1/pods", spec, &body), ==, SOUP_STATUS_CREATED);
    }
    check_reader_routes(reader, admin, "tcp");
    /* The refusals are logged, the tokens never. */
    g_file_get_contents(daemon->log_path, &log, NULL, NULL);
    g_assert_nonnull(strstr(log, "missing or wrong bearer token"));
    g_assert_null(strstr(log, READER_TOKEN));
    g_assert_null(strstr(log, ADMIN_TOKEN));
    podvm_test_daemon_free(daemon);
}

/* podvmd refuses a read-only token file it cannot use, as it refuses token_file. */
static void
test_reader_token_refused(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *empty = NULL;
    g_autofree char *admin = NULL;
    g_autofree char *same = NULL;
    g_autoptr(GError) error = NULL;
    struct {
        const char *reader;
        const char *expected;
    } cases[3];

    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    dir = podvm_test_mkdtemp();
    empty = g_build_filename(dir, "empty", NULL);
    admin = g_build_filename(dir, "admin", NULL);
    same = g_build_filename(dir, "same", NULL);
    g_file_set_contents(empty, " \n", -1, &error);
    g_assert_no_error(error);
    g_file_set_contents(admin, ADMIN_TOKEN, -1, &error);
    g_assert_no_error(error);
    g_file_set_contents(same, ADMIN_TOKEN "\n", -1, &error);
    g_assert_no_error(error);
    cases[0].reader = "/nonexistent/ro-token";
    cases[0].expected = "read_only_token_file: cannot read the token";
    cases[1].reader = empty;
    cases[1].expected = "holds no token";
    cases[2].reader = same;
    cases[2].expected = "holds the token of token_file";
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        /* With the TCP listener, and without it: a token file that is set must be usable. */
        for (guint listen = 0; listen < 2; listen++) {
            g_autofree char *conf =
                g_strdup_printf("[rest]\n%stoken_file=%s\nread_only_token_file=%s\n",
                                listen ? "listen=127.0.0.1:1\n" : "", admin, cases[i].reader);
            g_autofree char *err = NULL;

            if (!listen && i == 2)
                continue; /* without a listener the admin token is not read */
            g_assert_cmpint(podvm_test_run_podvmd(conf, &err), !=, 0);
            if (strstr(err, cases[i].expected) == NULL)
                g_test_message("stderr: %s", err);
            g_assert_nonnull(strstr(err, cases[i].expected));
            g_assert_null(strstr(err, ADMIN_TOKEN));
        }
    }
    podvm_test_rmrf(dir);
}

/* ---- console tickets -------------------------------------------------------------- */

typedef struct {
    SoupWebsocketConnection *ws;
    GError *error;
    GString *seen;
    gboolean closed;
    guint status;
} Ws;

static void
ws_connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Ws *ws = user_data;

    ws->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &ws->error);
}

static void
ws_message_cb(SoupWebsocketConnection *connection, gint type, GBytes *message, gpointer user_data)
{
    Ws *ws = user_data;

    g_string_append_len(ws->seen, g_bytes_get_data(message, NULL), g_bytes_get_size(message));
}

static void
ws_closed_cb(SoupWebsocketConnection *connection, gpointer user_data)
{
    ((Ws *)user_data)->closed = TRUE;
}

/* Opens the WebSocket at @path through @c (its Authorization header, if any). */
static void
ws_open(Client *c, const char *path, Ws *ws)
{
    g_autoptr(SoupMessage) msg = client_message(c, "GET", path, NULL);

    ws->seen = g_string_new(NULL);
    soup_session_websocket_connect_async(c->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                         ws_connected_cb, ws);
    while (ws->ws == NULL && ws->error == NULL)
        g_main_context_iteration(NULL, TRUE);
    ws->status = soup_message_get_status(msg);
    if (ws->ws != NULL) {
        g_signal_connect(ws->ws, "message", G_CALLBACK(ws_message_cb), ws);
        g_signal_connect(ws->ws, "closed", G_CALLBACK(ws_closed_cb), ws);
    }
}

static gboolean
ws_wait_for(Ws *ws, const char *needle, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (g_get_monotonic_time() < deadline) {
        if (strstr(ws->seen->str, needle) != NULL)
            return TRUE;
        if (ws->closed)
            return FALSE;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return FALSE;
}

static void
ws_clear(Ws *ws)
{
    if (ws->ws != NULL) {
        g_signal_handlers_disconnect_by_data(ws->ws, ws);
        if (soup_websocket_connection_get_state(ws->ws) == SOUP_WEBSOCKET_STATE_OPEN)
            soup_websocket_connection_close(ws->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    }
    g_clear_object(&ws->ws);
    g_clear_error(&ws->error);
    if (ws->seen != NULL)
        g_string_free(ws->seen, TRUE);
}

/* A new ticket for @pod from @admin: its console path; asserts the answer. */
static char *
new_ticket(Client *admin, const char *pod, char **out_ticket)
{
    g_autofree char *path = g_strdup_printf("/v1/pods/%s/console/ticket", pod);
    g_autofree char *body = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GDateTime) expires = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *expected_path = NULL;
    JsonObject *doc;
    const char *ticket;
    GTimeSpan left;

    g_assert_cmpuint(call(admin, "POST", path, NULL, &body), ==, SOUP_STATUS_CREATED);
    json_parser_load_from_data(parser, body, -1, &error);
    g_assert_no_error(error);
    doc = json_node_get_object(json_parser_get_root(parser));
    ticket = json_object_get_string_member(doc, "ticket");
    /* 256 bits, in hex. */
    g_assert_cmpuint(strlen(ticket), ==, 64);
    g_assert_cmpuint(strspn(ticket, "0123456789abcdef"), ==, 64);
    expires = g_date_time_new_from_iso8601(json_object_get_string_member(doc, "expiresAt"), NULL);
    g_assert_nonnull(expires);
    left = g_date_time_difference(expires, now);
    g_assert_cmpint(left, >, 0);
    g_assert_cmpint(left, <=, 3 * G_TIME_SPAN_SECOND);
    expected_path = g_strdup_printf("/v1/pods/%s/console?ticket=%s", pod, ticket);
    g_assert_cmpstr(json_object_get_string_member(doc, "path"), ==, expected_path);
    if (out_ticket != NULL)
        *out_ticket = g_strdup(ticket);
    return g_steal_pointer(&expected_path);
}

/* Opening @path through @c is refused with @status before any WebSocket. */
static void
assert_ws_refused(Client *c, const char *path, guint status)
{
    Ws ws = { 0 };

    ws_open(c, path, &ws);
    g_assert_nonnull(ws.error);
    g_assert_null(ws.ws);
    g_assert_cmpuint(ws.status, ==, status);
    ws_clear(&ws);
}

static void
test_console_ticket(void)
{
    g_auto(Tcp) t = { 0 };
    PodvmTestDaemon *daemon;
    g_autoptr(Client) anyone = NULL;
    g_autoptr(Client) reader = NULL;
    g_autoptr(Client) admin = NULL;
    g_autofree char *con_spec = podvm_test_guest_spec("con", NULL, NULL, 1);
    g_autofree char *other_spec = podvm_test_guest_spec("other", NULL, NULL, 1);
    g_autofree char *path = NULL;
    g_autofree char *ticket = NULL;
    g_autofree char *body = NULL;

    /* Tickets live 2 s here (30 by default), so that expiring one is quick. */
    tcp_init(&t, "console_ticket_seconds=2\n");
    daemon = podvm_test_daemon_new_with_config(t.config);
    if (daemon == NULL)
        return;
    debug_log = daemon->log_path;
    anyone = client_new_tcp(t.base, NULL);
    reader = client_new_tcp(t.base, READER_TOKEN);
    admin = client_new_tcp(t.base, ADMIN_TOKEN);
    g_assert_cmpuint(call(admin, "POST", "/v1/pods", con_spec, NULL), ==, SOUP_STATUS_CREATED);
    g_assert_cmpuint(call(admin, "POST", "/v1/pods", other_spec, NULL), ==, SOUP_STATUS_CREATED);
    g_assert_cmpuint(call(admin, "POST", "/v1/pods/con/start", NULL, &body), ==, SOUP_STATUS_OK);

    /* Only an admin gets a ticket, for a pod that exists. */
    assert_refused(reader, "POST", "/v1/pods/con/console/ticket", NULL, SOUP_STATUS_FORBIDDEN,
                   "Forbidden");
    assert_refused(anyone, "POST", "/v1/pods/con/console/ticket", NULL, SOUP_STATUS_UNAUTHORIZED,
                   "Unauthorized");
    assert_refused(admin, "POST", "/v1/pods/nope/console/ticket", NULL, SOUP_STATUS_NOT_FOUND,
                   "NotFound");
    /* Without a ticket or a token, no console; a reader has none either. */
    assert_ws_refused(anyone, "/v1/pods/con/console", SOUP_STATUS_UNAUTHORIZED);
    assert_ws_refused(reader, "/v1/pods/con/console", SOUP_STATUS_FORBIDDEN);

    /* The ticket opens the console without any header, both ways. */
    path = new_ticket(admin, "con", &ticket);
    {
        Ws ws = { 0 };

        ws_open(anyone, path, &ws);
        g_assert_no_error(ws.error);
        g_assert_true(ws_wait_for(&ws, "PODVM-HEARTBEAT", BOOT_TIMEOUT_MS));
        soup_websocket_connection_send_text(ws.ws, "hello-ticket\n");
        g_assert_true(ws_wait_for(&ws, "PODVM-ECHO hello-ticket", 30000));
        ws_clear(&ws);
    }
    /* Once. */
    assert_ws_refused(anyone, path, SOUP_STATUS_UNAUTHORIZED);
    {
        /* Not a credential anywhere else, and never a ticket made up. */
        g_autofree char *pods = g_strdup_printf("/v1/pods?ticket=%s", ticket);
        g_autofree char *fresh = NULL;
        g_autofree char *fresh_pods = NULL;

        g_clear_pointer(&path, g_free);
        path = new_ticket(admin, "con", &fresh);
        fresh_pods = g_strdup_printf("/v1/pods?ticket=%s", fresh);
        assert_refused(anyone, "GET", fresh_pods, NULL, SOUP_STATUS_UNAUTHORIZED, "Unauthorized");
        assert_refused(anyone, "GET", pods, NULL, SOUP_STATUS_UNAUTHORIZED, "Unauthorized");
        assert_ws_refused(anyone,
                          "/v1/pods/con/console?ticket="
                          "00000000000000000000000000000000000000000000000000000000000000000",
                          SOUP_STATUS_UNAUTHORIZED);
        /* The fresh one was not used by the GET: it still opens the console. */
        {
            Ws ws = { 0 };

            ws_open(anyone, path, &ws);
            g_assert_no_error(ws.error);
            ws_clear(&ws);
        }
    }
    {
        /* Bound to its pod: another pod's ticket is refused, and used up. */
        g_autofree char *other_ticket = NULL;
        g_autofree char *other_path = new_ticket(admin, "other", &other_ticket);
        g_autofree char *on_con = g_strdup_printf("/v1/pods/con/console?ticket=%s", other_ticket);

        assert_ws_refused(anyone, on_con, SOUP_STATUS_UNAUTHORIZED);
        assert_ws_refused(anyone, other_path, SOUP_STATUS_UNAUTHORIZED);
    }
    {
        /* Expired. */
        g_autofree char *late = new_ticket(admin, "con", NULL);

        g_usleep(2500 * 1000);
        assert_ws_refused(anyone, late, SOUP_STATUS_UNAUTHORIZED);
    }
    {
        /*
         * Clients that close at once, while the replayed output still comes:
         * podvmd lets each go (it once made a socket source on the closed
         * socket, a warning that aborts it under the tests).
         */
        for (guint i = 0; i < 5; i++) {
            Ws ws = { 0 };

            ws_open(admin, "/v1/pods/con/console", &ws);
            g_assert_no_error(ws.error);
            ws_clear(&ws);
        }
        g_usleep(200 * 1000);
        g_assert_cmpuint(call(admin, "GET", "/healthz", NULL, NULL), ==, SOUP_STATUS_OK);
    }
    {
        /* The refusals are logged, the tickets never. */
        g_autofree char *text = NULL;

        g_file_get_contents(daemon->log_path, &text, NULL, NULL);
        g_assert_nonnull(strstr(text, "wrong, expired or used console ticket"));
        g_assert_null(strstr(text, ticket));
    }
    g_assert_cmpuint(call(admin, "POST", "/v1/pods/con/kill", NULL, NULL), ==, SOUP_STATUS_OK);
    podvm_test_daemon_free(daemon);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/rest/access/unix-sockets", test_unix_sockets);
    g_test_add_func("/podvm/rest/access/tcp", test_tcp);
    g_test_add_func("/podvm/rest/access/reader-token-refused", test_reader_token_refused);
    g_test_add_func("/podvm/rest/access/console-ticket", test_console_ticket);
    return g_test_run();
}
