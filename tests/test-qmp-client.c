/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client against a scripted fake peer on a socketpair (protocol edge cases), and
 * against real QEMU (skipped with a reason when it is not installed).
 *
 * The fake peer runs in the same main loop as the client. Its replies are
 * the ones QEMU 7.2 sends, captured from a real session.
 */
#include "podvm-qmp-client.h"
#include "podvm-test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

static const char greeting_7_2[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n";

/* ------------------------------------------------------------------------ */
/* Captured log messages */

typedef struct {
    GLogLevelFlags level;
    char *domain;
    char *message;
} LogRecord;

static GPtrArray *captured_logs;

static void
log_record_free(gpointer data)
{
    LogRecord *record = data;

    g_free(record->domain);
    g_free(record->message);
    g_free(record);
}

static GLogWriterOutput
capture_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    LogRecord *record = g_new0(LogRecord, 1);

    record->level = level & G_LOG_LEVEL_MASK;
    for (gsize i = 0; i < n_fields; i++) {
        if (fields[i].length != -1)
            continue;
        if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            record->domain = g_strdup(fields[i].value);
        else if (strcmp(fields[i].key, "MESSAGE") == 0)
            record->message = g_strdup(fields[i].value);
    }
    g_ptr_array_add(captured_logs, record);

    /* Messages of the client are expected here: keep them out of the TAP stream. Debug
     * output is on (to run that code too) but shown only with --verbose. */
    if ((level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) != 0 ||
        ((level & G_LOG_LEVEL_MESSAGE) != 0 && g_strcmp0(record->domain, "podvm-qmp") == 0)) {
        if (g_test_verbose())
            g_test_message("%s: %.2000s", record->domain, record->message);
        return G_LOG_WRITER_HANDLED;
    }
    return g_log_writer_default(level, fields, n_fields, user_data);
}

/* GSocketClient's debug messages (old API, printed in test programs): only with --verbose. */
static void
quiet_handler(const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
    if (g_test_verbose())
        g_test_message("%s: %s", domain, message);
}

/* Messages from the client at @level (exactly) whose text contains @needle. */
static guint
count_logs(GLogLevelFlags level, const char *needle)
{
    guint count = 0;

    for (guint i = 0; i < captured_logs->len; i++) {
        LogRecord *record = captured_logs->pdata[i];

        if (record->level == level && g_strcmp0(record->domain, "podvm-qmp") == 0 &&
            record->message != NULL && strstr(record->message, needle) != NULL)
            count++;
    }
    return count;
}

/* Whether any message above debug contains @text. */
static gboolean
logged_above_debug(const char *text)
{
    for (guint i = 0; i < captured_logs->len; i++) {
        LogRecord *record = captured_logs->pdata[i];

        if (record->level != G_LOG_LEVEL_DEBUG && record->message != NULL &&
            strstr(record->message, text) != NULL)
            return TRUE;
    }
    return FALSE;
}

/* ------------------------------------------------------------------------ */
/* The fake peer */

typedef struct {
    int fd;
    gsize offset; /* of the first byte of the read it came with */
    gsize end;    /* and of the byte after that read */
} ReceivedFd;

typedef struct {
    GSocket *socket;
    GSocketConnection *connection;
    GSource *read_source;
    GByteArray *received;
    gsize read_pos;        /* lines before this were taken by peer_read_line */
    gsize last_line_start; /* offset of the line peer_read_line returned last */
    GArray *fds;           /* ReceivedFd */
    gsize recv_size;
    gboolean eof;
    int write_pending;
} Peer;

static gboolean
peer_readable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    Peer *peer = user_data;

    for (;;) {
        g_autofree guint8 *buffer = g_malloc(peer->recv_size);
        GInputVector vector = { buffer, peer->recv_size };
        GSocketControlMessage **messages = NULL;
        int n_messages = 0;
        int flags = 0;
        g_autoptr(GError) error = NULL;
        gssize n = g_socket_receive_message(socket, NULL, &vector, 1, &messages, &n_messages,
                                            &flags, NULL, &error);

        if (n < 0) {
            if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                return G_SOURCE_CONTINUE;
            peer->eof = TRUE;
            g_clear_pointer(&peer->read_source, g_source_unref);
            return G_SOURCE_REMOVE;
        }
        for (int i = 0; i < n_messages; i++) {
            if (G_IS_UNIX_FD_MESSAGE(messages[i])) {
                int n_fds = 0;
                g_autofree int *fds =
                    g_unix_fd_message_steal_fds(G_UNIX_FD_MESSAGE(messages[i]), &n_fds);

                for (int j = 0; j < n_fds; j++) {
                    ReceivedFd received = { fds[j], peer->received->len,
                                            peer->received->len + (gsize)MAX(n, 0) };
                    g_array_append_val(peer->fds, received);
                }
            }
            g_object_unref(messages[i]);
        }
        g_free(messages);
        if (n == 0) {
            peer->eof = TRUE;
            g_clear_pointer(&peer->read_source, g_source_unref);
            return G_SOURCE_REMOVE;
        }
        g_byte_array_append(peer->received, buffer, (guint)n);
    }
}

static void
peer_resume(Peer *peer)
{
    g_assert_null(peer->read_source);
    peer->read_source = g_socket_create_source(peer->socket, G_IO_IN, NULL);
    g_source_set_callback(peer->read_source, G_SOURCE_FUNC(peer_readable_cb), peer, NULL);
    g_source_attach(peer->read_source, NULL);
}

/* Stops reading, so that what the client sends piles up in the socket. */
static void
peer_pause(Peer *peer)
{
    g_source_destroy(peer->read_source);
    g_clear_pointer(&peer->read_source, g_source_unref);
}

static Peer *
peer_new(GSocket *socket)
{
    Peer *peer = g_new0(Peer, 1);

    peer->socket = g_object_ref(socket);
    g_socket_set_blocking(socket, FALSE);
    peer->connection = g_socket_connection_factory_create_connection(socket);
    peer->received = g_byte_array_new();
    peer->fds = g_array_new(FALSE, FALSE, sizeof(ReceivedFd));
    peer->recv_size = 64 * 1024;
    peer_resume(peer);
    return peer;
}

static void
peer_free(Peer *peer)
{
    if (peer->read_source != NULL) {
        g_source_destroy(peer->read_source);
        g_source_unref(peer->read_source);
    }
    g_socket_close(peer->socket, NULL);
    g_object_unref(peer->connection);
    g_object_unref(peer->socket);
    g_byte_array_unref(peer->received);
    for (guint i = 0; i < peer->fds->len; i++)
        close(g_array_index(peer->fds, ReceivedFd, i).fd);
    g_array_unref(peer->fds);
    g_free(peer);
}

static void
peer_write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Peer *peer = user_data;

    /* The client may have closed the connection on purpose: errors do not matter. */
    g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL);
    peer->write_pending--;
}

static gboolean
peer_write_done(gpointer user_data)
{
    Peer *peer = user_data;

    return peer->write_pending == 0;
}

/* Writes @len bytes with one write, running the main loop until they are written. */
static void
peer_send_len(Peer *peer, const char *data, gsize len)
{
    GOutputStream *output = g_io_stream_get_output_stream(G_IO_STREAM(peer->connection));

    peer->write_pending++;
    g_output_stream_write_all_async(output, data, len, G_PRIORITY_DEFAULT, NULL, peer_write_cb,
                                    peer);
    g_assert_true(podvm_test_wait_until(peer_write_done, peer, 30000));
}

static void
peer_send(Peer *peer, const char *data)
{
    peer_send_len(peer, data, strlen(data));
}

static gboolean
socket_drained(gpointer user_data)
{
    int pending = -1;

    g_assert_cmpint(ioctl(g_socket_get_fd(user_data), FIONREAD, &pending), ==, 0);
    return pending == 0;
}

/* Writes @data one byte at a time; the client reads each byte before the next is sent. */
static void
peer_send_bytewise(Peer *peer, GSocket *client_socket, const char *data)
{
    for (const char *p = data; *p != '\0'; p++) {
        peer_send_len(peer, p, 1);
        g_assert_true(podvm_test_wait_until(socket_drained, client_socket, WAIT_MS));
    }
}

static gboolean
peer_at_eof(gpointer user_data)
{
    Peer *peer = user_data;

    return peer->eof;
}

static void
assert_peer_sees_eof(Peer *peer)
{
    g_assert_true(podvm_test_wait_until(peer_at_eof, peer, WAIT_MS));
}

static gboolean
peer_has_line(gpointer user_data)
{
    Peer *peer = user_data;

    return peer->received->len > peer->read_pos &&
           memchr(peer->received->data + peer->read_pos, '\n',
                  peer->received->len - peer->read_pos) != NULL;
}

static char *
peer_read_line(Peer *peer)
{
    const guint8 *start, *newline;
    char *line;

    g_assert_true(podvm_test_wait_until(peer_has_line, peer, WAIT_MS));
    start = peer->received->data + peer->read_pos;
    newline = memchr(start, '\n', peer->received->len - peer->read_pos);
    line = g_strndup((const char *)start, (gsize)(newline - start));
    peer->last_line_start = peer->read_pos;
    peer->read_pos += (gsize)(newline - start) + 1;
    return line;
}

/* Reads the next command, checks that it is @name, and returns its id. */
static char *
peer_expect_command(Peer *peer, const char *name, JsonObject **out_arguments)
{
    g_autofree char *line = peer_read_line(peer);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonObject *object;

    json_parser_load_from_data(parser, line, -1, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
    object = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(object, "execute"), ==, name);
    g_assert_true(g_str_has_prefix(json_object_get_string_member(object, "id"), "podvm-"));
    if (out_arguments != NULL) {
        JsonNode *arguments = json_object_get_member(object, "arguments");

        *out_arguments =
            arguments != NULL ? json_object_ref(json_node_get_object(arguments)) : NULL;
    }
    return g_strdup(json_object_get_string_member(object, "id"));
}

static void
peer_reply(Peer *peer, const char *id, const char *return_json)
{
    g_autofree char *line =
        g_strdup_printf("{\"return\": %s, \"id\": \"%s\"}\r\n", return_json, id);

    peer_send(peer, line);
}

static char *
event_line(const char *name, const char *data_json)
{
    if (data_json != NULL)
        return g_strdup_printf("{\"timestamp\": {\"seconds\": 1795642865, \"microseconds\": "
                               "104024}, \"event\": \"%s\", \"data\": %s}\r\n",
                               name, data_json);
    return g_strdup_printf("{\"timestamp\": {\"seconds\": 1795642865, \"microseconds\": "
                           "104024}, \"event\": \"%s\"}\r\n",
                           name);
}

/* ------------------------------------------------------------------------ */
/* The fixture */

typedef struct {
    char *name;
    char *data; /* JSON text, or NULL */
    gint64 timestamp_us;
} EventRecord;

typedef struct {
    gboolean done;
    JsonNode *node;
    GError *error;
    gint64 done_us;
} Call;

typedef struct {
    PodvmQmpClient *client;
    GSocket *client_socket;
    GSocketConnection *client_connection;
    Peer *peer;

    GPtrArray *events;   /* EventRecord */
    guint resume_events; /* through "event::RESUME" */
    guint closed_count;
    GError *closed_error;
    Call handshake;

    /* Real QEMU. */
    gboolean skipped;
    char *dir;
    char *socket_path;
    GSubprocess *qemu;
    gboolean qemu_exited;
} Fixture;

static void
event_record_free(gpointer data)
{
    EventRecord *record = data;

    g_free(record->name);
    g_free(record->data);
    g_free(record);
}

static void
call_clear(Call *call)
{
    g_clear_pointer(&call->node, json_node_unref);
    g_clear_error(&call->error);
    call->done = FALSE;
}

static gboolean
call_is_done(gpointer user_data)
{
    Call *call = user_data;

    return call->done;
}

static void
wait_call(Call *call)
{
    g_assert_true(podvm_test_wait_until(call_is_done, call, WAIT_MS));
}

static void
execute_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *call = user_data;

    g_assert_false(call->done);
    call->node = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &call->error);
    g_assert_true((call->node == NULL) != (call->error == NULL));
    call->done_us = g_get_monotonic_time();
    call->done = TRUE;
}

static void
execute(Fixture *f, const char *command, const char *arguments_json, guint timeout_ms, Call *call)
{
    g_autoptr(JsonNode) arguments = NULL;

    if (arguments_json != NULL) {
        arguments = json_from_string(arguments_json, NULL);
        g_assert_nonnull(arguments);
    }
    call_clear(call);
    podvm_qmp_client_execute_async(f->client, command,
                                   arguments != NULL ? json_node_get_object(arguments) : NULL, NULL,
                                   timeout_ms, NULL, execute_cb, call);
}

static char *
node_to_string(JsonNode *node)
{
    return json_to_string(node, FALSE);
}

static void
assert_return(Call *call, const char *expected_json)
{
    g_autoptr(JsonNode) expected = json_from_string(expected_json, NULL);
    g_autofree char *actual = NULL;

    g_assert_no_error(call->error);
    g_assert_nonnull(call->node);
    actual = node_to_string(call->node);
    if (!json_node_equal(expected, call->node))
        g_error("expected %s, got %s", expected_json, actual);
}

static void
handshake_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *call = user_data;
    PodvmQmpClient *client = PODVM_QMP_CLIENT(source);

    if (g_task_get_source_tag(G_TASK(result)) == podvm_qmp_client_connect_async)
        podvm_qmp_client_connect_finish(client, result, &call->error);
    else
        podvm_qmp_client_handshake_finish(client, result, &call->error);
    call->done_us = g_get_monotonic_time();
    call->done = TRUE;
}

static void
event_cb(PodvmQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
         gpointer user_data)
{
    Fixture *f = user_data;
    EventRecord *record = g_new0(EventRecord, 1);

    record->name = g_strdup(name);
    if (data != NULL) {
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), data);
        record->data = node_to_string(node);
    }
    record->timestamp_us = timestamp_us;
    g_ptr_array_add(f->events, record);
}

static void
resume_cb(PodvmQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
          gpointer user_data)
{
    Fixture *f = user_data;

    g_assert_cmpstr(name, ==, "RESUME");
    f->resume_events++;
}

static void
closed_cb(PodvmQmpClient *client, GError *reason, gpointer user_data)
{
    Fixture *f = user_data;

    g_assert_nonnull(reason);
    f->closed_count++;
    g_clear_error(&f->closed_error);
    f->closed_error = g_error_copy(reason);
}

static gboolean
is_closed(gpointer user_data)
{
    Fixture *f = user_data;

    return f->closed_count > 0;
}

static void
watch_client(Fixture *f)
{
    g_signal_connect(f->client, "event", G_CALLBACK(event_cb), f);
    g_signal_connect(f->client, "event::RESUME", G_CALLBACK(resume_cb), f);
    g_signal_connect(f->client, "closed", G_CALLBACK(closed_cb), f);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) peer_socket = NULL;
    int fds[2];

    g_ptr_array_set_size(captured_logs, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
    f->client_socket = g_socket_new_from_fd(fds[0], &error);
    g_assert_no_error(error);
    f->client_connection = g_socket_connection_factory_create_connection(f->client_socket);
    peer_socket = g_socket_new_from_fd(fds[1], &error);
    g_assert_no_error(error);
    f->peer = peer_new(peer_socket);

    f->events = g_ptr_array_new_with_free_func(event_record_free);
    f->client = podvm_qmp_client_new();
    watch_client(f);
}

static void
drain_main_context(void)
{
    for (int i = 0; i < 10; i++) {
        while (g_main_context_iteration(NULL, FALSE))
            ;
    }
}

static void
unref_client_and_check_finalized(Fixture *f)
{
    PodvmQmpClient *weak;

    if (f->client == NULL)
        return;
    weak = f->client;
    g_object_add_weak_pointer(G_OBJECT(weak), (gpointer *)&weak);
    g_clear_object(&f->client);
    drain_main_context();
    g_assert_null(weak);
}

static void
assert_no_warnings(void)
{
    for (guint i = 0; i < captured_logs->len; i++) {
        LogRecord *record = captured_logs->pdata[i];

        g_assert_cmpint(record->level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL), ==, 0);
    }
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    unref_client_and_check_finalized(f);
    g_clear_object(&f->client_connection);
    g_clear_object(&f->client_socket);
    g_clear_pointer(&f->peer, peer_free);
    drain_main_context();
    g_clear_pointer(&f->events, g_ptr_array_unref);
    g_clear_error(&f->closed_error);
    call_clear(&f->handshake);
    assert_no_warnings();
}

static void
start_handshake(Fixture *f, guint timeout_ms, GCancellable *cancellable)
{
    podvm_qmp_client_handshake_async(f->client, f->client_connection, timeout_ms, cancellable,
                                     handshake_cb, &f->handshake);
}

/* Greeting, capabilities, answer: the client is connected afterwards. */
static void
handshake(Fixture *f)
{
    g_autofree char *id = NULL;

    start_handshake(f, WAIT_MS, NULL);
    peer_send(f->peer, greeting_7_2);
    id = peer_expect_command(f->peer, "qmp_capabilities", NULL);
    peer_reply(f->peer, id, "{}");
    wait_call(&f->handshake);
    g_assert_no_error(f->handshake.error);
    g_assert_true(podvm_qmp_client_is_connected(f->client));
}

static const char *
event_name(Fixture *f, guint i)
{
    g_assert_cmpuint(i, <, f->events->len);
    return ((EventRecord *)f->events->pdata[i])->name;
}

/* ------------------------------------------------------------------------ */
/* Handshake */

static void
test_greeting(Fixture *f, gconstpointer data)
{
    g_autofree char *id = NULL;
    g_autoptr(JsonObject) arguments = NULL;

    g_assert_false(podvm_qmp_client_is_connected(f->client));
    g_assert_null(podvm_qmp_client_get_qemu_version(f->client));

    start_handshake(f, WAIT_MS, NULL);
    peer_send(f->peer, greeting_7_2);
    id = peer_expect_command(f->peer, "qmp_capabilities", &arguments);
    g_assert_null(arguments);
    g_assert_false(f->handshake.done);
    g_assert_false(podvm_qmp_client_is_connected(f->client));
    peer_reply(f->peer, id, "{}");
    wait_call(&f->handshake);

    g_assert_no_error(f->handshake.error);
    g_assert_true(podvm_qmp_client_is_connected(f->client));
    g_assert_cmpstr(podvm_qmp_client_get_qemu_version(f->client), ==, "7.2.22");
    g_assert_cmpstr(podvm_qmp_client_get_qemu_package(f->client), ==,
                    "Debian 1:7.2+dfsg-7+deb12u18+b3");
    g_assert_cmpuint(f->closed_count, ==, 0);
    g_assert_cmpuint(f->events->len, ==, 0);
}

static void
assert_handshake_failed(Fixture *f, GQuark domain, int code)
{
    wait_call(&f->handshake);
    g_assert_error(f->handshake.error, domain, code);
    g_assert_false(podvm_qmp_client_is_connected(f->client));
    /* "closed" once, with the same reason. */
    drain_main_context();
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_error(f->closed_error, domain, code);
}

static void
test_greeting_missing(Fixture *f, gconstpointer data)
{
    gint64 start = g_get_monotonic_time();
    Call call = { 0 };

    start_handshake(f, 200, NULL);
    assert_handshake_failed(f, PODVM_QMP_ERROR, PODVM_QMP_ERROR_TIMEOUT);
    g_assert_cmpint(f->handshake.done_us - start, >=, 200 * 1000);
    g_assert_cmpint(f->handshake.done_us - start, <, 2 * G_USEC_PER_SEC);
    g_assert_nonnull(strstr(f->handshake.error->message, "greeting"));
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "within 200 ms"), ==, 1);

    /* The peer sees the connection go. */
    assert_peer_sees_eof(f->peer);
    execute(f, "query-status", NULL, 0, &call);
    wait_call(&call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    call_clear(&call);
}

static void
test_greeting_eof(Fixture *f, gconstpointer data)
{
    start_handshake(f, WAIT_MS, NULL);
    g_socket_shutdown(f->peer->socket, FALSE, TRUE, NULL);
    assert_handshake_failed(f, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
}

typedef struct {
    const char *path;
    const char *line; /* NULL: built by the test */
} GarbageCase;

static const GarbageCase garbage_cases[] = {
    { "not-json", "hello from something that is not QEMU\r\n" },
    { "not-object", "[\"QMP\", 1, 2]\r\n" },
    { "string", "\"QMP\"\r\n" },
    { "not-greeting", "{\"return\": {}}\r\n" },
    { "event-first",
      "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\n" },
    { "no-version", "{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"7\"}}}}\r\n" },
    { "invalid-utf8", "{\"QMP\": \"\xff\xfe\"}\r\n" },
    { "single-quotes", "{'QMP': {'version': {}}}\r\n" },
    { "comment", "/* \" */ {\"QMP\": {}}\r\n" },
    { "two-values", "{\"QMP\": {}} {\"QMP\": {}}\r\n" },
    { "unbalanced", "{\"QMP\": {}}}\r\n" },
    { "deep-nesting", NULL },
};

static void
test_greeting_garbage(Fixture *f, gconstpointer data)
{
    const GarbageCase *garbage = data;
    g_autofree char *line = NULL;

    if (garbage->line != NULL) {
        line = g_strdup(garbage->line);
    } else {
        /* Deep enough to overflow the stack of a recursive parser. */
        gsize depth = 200000;

        line = g_malloc(2 * depth + 2);
        memset(line, '[', depth);
        memset(line + depth, ']', depth);
        line[2 * depth] = '\n';
        line[2 * depth + 1] = '\0';
    }
    start_handshake(f, WAIT_MS, NULL);
    peer_send(f->peer, line);
    assert_handshake_failed(f, PODVM_QMP_ERROR, PODVM_QMP_ERROR_PROTOCOL);

    /* The reason is logged, the line itself is not. */
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "closing the QMP connection"), ==, 1);
    g_strchomp(line);
    g_assert_false(logged_above_debug(line));
    /* Nothing was sent after the garbage: no qmp_capabilities. */
    g_assert_cmpuint(f->peer->received->len, ==, 0);
}

static void
test_capabilities_unanswered(Fixture *f, gconstpointer data)
{
    g_autofree char *id = NULL;

    start_handshake(f, 300, NULL);
    peer_send(f->peer, greeting_7_2);
    id = peer_expect_command(f->peer, "qmp_capabilities", NULL);
    assert_handshake_failed(f, PODVM_QMP_ERROR, PODVM_QMP_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(f->handshake.error->message, "capabilities"));

    /* A late answer finds nothing to do. */
    peer_reply(f->peer, id, "{}");
    drain_main_context();
    g_assert_false(podvm_qmp_client_is_connected(f->client));
}

static void
test_capabilities_error(Fixture *f, gconstpointer data)
{
    g_autofree char *id = NULL;
    g_autofree char *line = NULL;

    start_handshake(f, WAIT_MS, NULL);
    peer_send(f->peer, greeting_7_2);
    id = peer_expect_command(f->peer, "qmp_capabilities", NULL);
    line = g_strdup_printf("{\"id\": \"%s\", \"error\": {\"class\": \"CommandNotFound\", "
                           "\"desc\": \"Capabilities negotiation is already complete, command "
                           "ignored\"}}\r\n",
                           id);
    peer_send(f->peer, line);
    assert_handshake_failed(f, PODVM_QMP_ERROR, PODVM_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_nonnull(strstr(f->handshake.error->message, "already complete"));
}

static void
test_handshake_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GCancellable) cancellable = g_cancellable_new();

    start_handshake(f, WAIT_MS, cancellable);
    peer_send(f->peer, greeting_7_2);
    g_cancellable_cancel(cancellable);
    assert_handshake_failed(f, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* ------------------------------------------------------------------------ */
/* Framing */

static void
test_one_byte_writes(Fixture *f, gconstpointer data)
{
    g_autofree char *id = NULL;
    g_autofree char *caps_reply = NULL;
    g_autofree char *reply = NULL;
    g_autofree char *event = event_line("RESUME", NULL);
    Call call = { 0 };

    start_handshake(f, WAIT_MS, NULL);
    peer_send_bytewise(f->peer, f->client_socket, greeting_7_2);
    id = peer_expect_command(f->peer, "qmp_capabilities", NULL);
    caps_reply = g_strdup_printf("{\"return\": {}, \"id\": \"%s\"}\r\n", id);
    peer_send_bytewise(f->peer, f->client_socket, caps_reply);
    wait_call(&f->handshake);
    g_assert_no_error(f->handshake.error);

    execute(f, "query-status", NULL, 0, &call);
    g_clear_pointer(&id, g_free);
    id = peer_expect_command(f->peer, "query-status", NULL);
    peer_send_bytewise(f->peer, f->client_socket, event);
    reply = g_strdup_printf("{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, "
                            "\"running\": false}, \"id\": \"%s\"}\r\n",
                            id);
    peer_send_bytewise(f->peer, f->client_socket, reply);
    wait_call(&call);
    assert_return(&call, "{\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}");
    g_assert_cmpuint(f->events->len, ==, 1);
    g_assert_cmpstr(event_name(f, 0), ==, "RESUME");
    call_clear(&call);
}

static void
test_many_in_one_write(Fixture *f, gconstpointer data)
{
    g_autofree char *id_a = NULL, *id_b = NULL, *id_c = NULL;
    g_autofree char *stop = event_line("STOP", NULL);
    g_autofree char *resume = event_line("RESUME", NULL);
    g_autofree char *batch = NULL;
    Call a = { 0 }, b = { 0 }, c = { 0 };

    handshake(f);
    execute(f, "cmd-a", NULL, 0, &a);
    execute(f, "cmd-b", "{\"x\": 1}", 0, &b);
    execute(f, "cmd-c", NULL, 0, &c);
    id_a = peer_expect_command(f->peer, "cmd-a", NULL);
    id_b = peer_expect_command(f->peer, "cmd-b", NULL);
    id_c = peer_expect_command(f->peer, "cmd-c", NULL);

    /* Out of order, with events between, in one write. */
    batch = g_strdup_printf("%s{\"return\": {\"n\": 3}, \"id\": \"%s\"}\r\n"
                            "{\"return\": {\"n\": 1}, \"id\": \"%s\"}\r\n%s"
                            "{\"return\": [2], \"id\": \"%s\"}\r\n",
                            stop, id_c, id_a, resume, id_b);
    peer_send(f->peer, batch);
    wait_call(&a);
    wait_call(&b);
    wait_call(&c);
    assert_return(&a, "{\"n\": 1}");
    assert_return(&b, "[2]");
    assert_return(&c, "{\"n\": 3}");
    g_assert_cmpuint(f->events->len, ==, 2);
    g_assert_cmpstr(event_name(f, 0), ==, "STOP");
    g_assert_cmpstr(event_name(f, 1), ==, "RESUME");
    call_clear(&a);
    call_clear(&b);
    call_clear(&c);
}

static void
test_oversized_line(Fixture *f, gconstpointer data)
{
    gsize len = PODVM_QMP_MAX_LINE + 16;
    g_autofree char *line = g_malloc(len);
    Call call = { 0 };
    g_autofree char *id = NULL;

    handshake(f);
    execute(f, "query-qmp-schema", NULL, 0, &call);
    id = peer_expect_command(f->peer, "query-qmp-schema", NULL);

    /* No newline at all: the client must stop buffering at the limit. */
    memset(line, 'a', len);
    memcpy(line, "{\"return\": \"", 12);
    peer_send_len(f->peer, line, len);
    wait_call(&call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_error(f->closed_error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(f->closed_error->message, "longer than"));
    g_assert_false(podvm_qmp_client_is_connected(f->client));
    call_clear(&call);
}

static void
test_large_line(Fixture *f, gconstpointer data)
{
    gsize string_len = PODVM_QMP_MAX_LINE - 1024;
    g_autoptr(GString) line = g_string_sized_new(PODVM_QMP_MAX_LINE);
    g_autofree char *id = NULL;
    Call call = { 0 };

    handshake(f);
    execute(f, "query-qmp-schema", NULL, 0, &call);
    id = peer_expect_command(f->peer, "query-qmp-schema", NULL);
    g_string_append(line, "{\"return\": \"");
    for (gsize i = 0; i < string_len; i++)
        g_string_append_c(line, 'x');
    g_string_append_printf(line, "\", \"id\": \"%s\"}\r\n", id);
    g_assert_cmpuint(line->len, <=, PODVM_QMP_MAX_LINE);
    peer_send_len(f->peer, line->str, line->len);
    wait_call(&call);
    g_assert_no_error(call.error);
    g_assert_cmpuint(strlen(json_node_get_string(call.node)), ==, string_len);
    g_assert_true(podvm_qmp_client_is_connected(f->client));
    call_clear(&call);
}

/* ------------------------------------------------------------------------ */
/* Events */

static void
test_events_during_negotiation(Fixture *f, gconstpointer data)
{
    g_autofree char *stop = event_line("STOP", NULL);
    g_autofree char *resume = event_line("RESUME", "{\"reason\": \"x\"}");
    g_autofree char *first = g_strconcat(greeting_7_2, stop, NULL);
    g_autofree char *id = NULL;
    EventRecord *record;

    start_handshake(f, WAIT_MS, NULL);
    peer_send(f->peer, first);
    id = peer_expect_command(f->peer, "qmp_capabilities", NULL);
    peer_send(f->peer, resume);
    peer_reply(f->peer, id, "{}");
    wait_call(&f->handshake);
    g_assert_no_error(f->handshake.error);

    g_assert_cmpuint(f->events->len, ==, 2);
    record = f->events->pdata[0];
    g_assert_cmpstr(record->name, ==, "STOP");
    g_assert_null(record->data);
    g_assert_cmpint(record->timestamp_us, ==, G_GINT64_CONSTANT(1795642865104024));
    record = f->events->pdata[1];
    g_assert_cmpstr(record->name, ==, "RESUME");
    g_assert_cmpstr(record->data, ==, "{\"reason\":\"x\"}");
    /* The detailed signal got only RESUME. */
    g_assert_cmpuint(f->resume_events, ==, 1);
}

static void
test_events_between_command_and_reply(Fixture *f, gconstpointer data)
{
    g_autofree char *id = NULL;
    g_autofree char *deleted =
        event_line("DEVICE_DELETED", "{\"path\": \"/machine/peripheral/vd1\", "
                                     "\"device\": \"vd1\"}");
    Call call = { 0 };
    EventRecord *record;

    handshake(f);
    execute(f, "device_del", "{\"id\": \"vd1\"}", PODVM_QMP_TIMEOUT_HOTPLUG, &call);
    id = peer_expect_command(f->peer, "device_del", NULL);
    peer_send(f->peer, deleted);
    peer_send(f->peer, "{\"event\": \"NO_TIMESTAMP\"}\r\n");
    drain_main_context();
    g_assert_false(call.done);
    g_assert_cmpuint(f->events->len, ==, 2);
    peer_reply(f->peer, id, "{}");
    wait_call(&call);
    assert_return(&call, "{}");

    record = f->events->pdata[0];
    g_assert_cmpstr(record->name, ==, "DEVICE_DELETED");
    g_assert_cmpstr(record->data, ==, "{\"path\":\"/machine/peripheral/vd1\",\"device\":\"vd1\"}");
    record = f->events->pdata[1];
    g_assert_cmpstr(record->name, ==, "NO_TIMESTAMP");
    g_assert_cmpint(record->timestamp_us, ==, 0);
    call_clear(&call);
}

/* ------------------------------------------------------------------------ */
/* Replies */

static void
test_unknown_id(Fixture *f, gconstpointer data)
{
    g_autofree char *id = NULL;
    g_autofree char *line = NULL;
    Call call = { 0 };

    handshake(f);
    execute(f, "query-status", NULL, 0, &call);
    id = peer_expect_command(f->peer, "query-status", NULL);
    peer_send(f->peer, "{\"return\": {\"status\": \"bogus\"}, \"id\": \"someone-else\"}\r\n"
                       "{\"return\": {}, \"id\": 42}\r\n"
                       "{\"return\": {\"no\": \"id\"}}\r\n"
                       "{\"return\": {}, \"id\": \"podvm-99999\"}\r\n");
    drain_main_context();
    g_assert_false(call.done);
    g_assert_true(podvm_qmp_client_is_connected(f->client));
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "unknown id 'someone-else'"), ==, 1);
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "unknown id (not a string)"), ==, 1);
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "reply without an id"), ==, 1);
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "unknown id 'podvm-99999'"), ==, 1);

    line = g_strdup_printf("{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, "
                           "\"running\": false}, \"id\": \"%s\"}\r\n",
                           id);
    peer_send(f->peer, line);
    wait_call(&call);
    assert_return(&call, "{\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}");
    call_clear(&call);
}

typedef struct {
    const char *klass;
    int code;
    const char *class_name;
} ErrorClassCase;

static void
test_error_reply(Fixture *f, gconstpointer data)
{
    static const ErrorClassCase cases[] = {
        { "GenericError", PODVM_QMP_ERROR_GENERIC_ERROR, "GenericError" },
        { "CommandNotFound", PODVM_QMP_ERROR_COMMAND_NOT_FOUND, "CommandNotFound" },
        { "DeviceNotActive", PODVM_QMP_ERROR_DEVICE_NOT_ACTIVE, "DeviceNotActive" },
        { "DeviceNotFound", PODVM_QMP_ERROR_DEVICE_NOT_FOUND, "DeviceNotFound" },
        { "KVMMissingCap", PODVM_QMP_ERROR_KVM_MISSING_CAP, "KVMMissingCap" },
        { "SomethingNew", PODVM_QMP_ERROR_GENERIC_ERROR, "GenericError" },
    };
    const char *desc = "Device 'vd9' not found; \"quotes\" and 'ticks' kept as is";
    Call call = { 0 };
    g_autoptr(GError) timeout = NULL;
    g_autoptr(GError) io = NULL;

    handshake(f);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *id = NULL;
        g_autofree char *line = NULL;
        g_autoptr(JsonNode) desc_node = json_node_init_string(json_node_alloc(), desc);
        g_autofree char *desc_json = node_to_string(desc_node);

        execute(f, "device_del", "{\"id\": \"vd9\"}", 0, &call);
        id = peer_expect_command(f->peer, "device_del", NULL);
        line = g_strdup_printf("{\"id\": \"%s\", \"error\": {\"class\": \"%s\", \"desc\": %s}}\r\n",
                               id, cases[i].klass, desc_json);
        peer_send(f->peer, line);
        wait_call(&call);
        g_assert_error(call.error, PODVM_QMP_ERROR, cases[i].code);
        g_assert_cmpstr(call.error->message, ==, desc);
        g_assert_cmpstr(podvm_qmp_error_class_name(call.error), ==, cases[i].class_name);
        call_clear(&call);
    }

    /* A malformed error still fails the command (instead of leaving it to time out). */
    {
        g_autofree char *id = NULL;
        g_autofree char *line = NULL;

        execute(f, "cont", NULL, 0, &call);
        id = peer_expect_command(f->peer, "cont", NULL);
        line = g_strdup_printf("{\"id\": \"%s\", \"error\": \"oops\"}\r\n", id);
        peer_send(f->peer, line);
        wait_call(&call);
        g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_GENERIC_ERROR);
        call_clear(&call);
    }

    timeout = g_error_new_literal(PODVM_QMP_ERROR, PODVM_QMP_ERROR_TIMEOUT, "x");
    io = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, "x");
    g_assert_null(podvm_qmp_error_class_name(timeout));
    g_assert_null(podvm_qmp_error_class_name(io));
    g_assert_null(podvm_qmp_error_class_name(NULL));
}

static void
test_error_without_id(Fixture *f, gconstpointer data)
{
    g_autofree char *id_a = NULL, *id_b = NULL;
    Call a = { 0 }, b = { 0 };

    handshake(f);
    execute(f, "cmd-a", NULL, 0, &a);
    execute(f, "cmd-b", NULL, 0, &b);
    id_a = peer_expect_command(f->peer, "cmd-a", NULL);
    id_b = peer_expect_command(f->peer, "cmd-b", NULL);

    /* What QEMU 7.2 answers to a line it cannot parse. */
    peer_send(f->peer, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, "
                       "invalid keyword 'nope'\"}}\r\n");
    wait_call(&a);
    g_assert_error(a.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_GENERIC_ERROR);
    g_assert_cmpstr(a.error->message, ==, "JSON parse error, invalid keyword 'nope'");
    g_assert_false(b.done);

    peer_reply(f->peer, id_b, "{}");
    wait_call(&b);
    assert_return(&b, "{}");

    /* With nothing pending, it is dropped and logged. */
    peer_send(f->peer, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}\r\n");
    drain_main_context();
    g_assert_true(podvm_qmp_client_is_connected(f->client));
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "no command is waiting"), ==, 1);
    call_clear(&a);
    call_clear(&b);
}

/* ------------------------------------------------------------------------ */
/* Closing, timeouts, cancelling */

static void
test_close_mid_command(Fixture *f, gconstpointer data)
{
    g_autofree char *id = NULL;
    Call call = { 0 };
    gint64 start;

    handshake(f);
    execute(f, "query-status", NULL, PODVM_QMP_TIMEOUT_BLOCKJOB, &call);
    id = peer_expect_command(f->peer, "query-status", NULL);
    start = g_get_monotonic_time();
    g_socket_close(f->peer->socket, NULL);
    wait_call(&call);
    g_assert_cmpint(call.done_us - start, <, G_USEC_PER_SEC);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    g_assert_nonnull(strstr(call.error->message, "query-status"));
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_error(f->closed_error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    g_assert_cmpstr(f->closed_error->message, ==, "QEMU closed the QMP connection");
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, ""), ==, 0);
    g_assert_false(podvm_qmp_client_is_connected(f->client));

    /* Later calls fail at once. */
    execute(f, "query-status", NULL, 0, &call);
    drain_main_context();
    g_assert_true(call.done);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    podvm_qmp_client_close(f->client);
    g_assert_cmpuint(f->closed_count, ==, 1);
    call_clear(&call);
}

static void
test_close_explicit(Fixture *f, gconstpointer data)
{
    Call a = { 0 }, b = { 0 }, c = { 0 };
    g_autofree char *id = NULL;

    handshake(f);
    execute(f, "cmd-a", NULL, 0, &a);
    execute(f, "cmd-b", NULL, 0, &b);
    id = peer_expect_command(f->peer, "cmd-a", NULL);
    podvm_qmp_client_close(f->client);
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_false(podvm_qmp_client_is_connected(f->client));
    /* Completed within a main loop turn or two. */
    for (int i = 0; i < 3; i++)
        g_main_context_iteration(NULL, FALSE);
    g_assert_true(a.done);
    g_assert_true(b.done);
    g_assert_error(a.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    g_assert_error(b.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);

    podvm_qmp_client_close(f->client);
    g_assert_cmpuint(f->closed_count, ==, 1);
    execute(f, "cmd-c", NULL, 0, &c);
    wait_call(&c);
    g_assert_error(c.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);

    /* The peer sees the end of the stream. */
    assert_peer_sees_eof(f->peer);
    call_clear(&a);
    call_clear(&b);
    call_clear(&c);
}

static gboolean
tick_cb(gpointer user_data)
{
    guint *ticks = user_data;

    (*ticks)++;
    return G_SOURCE_CONTINUE;
}

static void
test_command_timeout(Fixture *f, gconstpointer data)
{
    g_autofree char *id_slow = NULL, *id_other = NULL, *id_after = NULL;
    Call slow = { 0 }, other = { 0 }, after = { 0 };
    guint ticks = 0;
    guint tick_id;
    gint64 start;

    handshake(f);
    tick_id = g_timeout_add(10, tick_cb, &ticks);
    start = g_get_monotonic_time();
    execute(f, "query-status", NULL, 150, &slow);
    execute(f, "query-version", NULL, 0, &other);
    id_slow = peer_expect_command(f->peer, "query-status", NULL);
    id_other = peer_expect_command(f->peer, "query-version", NULL);

    wait_call(&slow);
    g_assert_error(slow.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_TIMEOUT);
    g_assert_cmpstr(slow.error->message, ==,
                    "QMP command 'query-status' got no answer within 150 ms");
    g_assert_cmpint(slow.done_us - start, >=, 150 * 1000);
    g_assert_cmpint(slow.done_us - start, <, G_USEC_PER_SEC);
    /* The main loop kept running meanwhile. */
    g_assert_cmpuint(ticks, >=, 5);
    g_source_remove(tick_id);
    /* Only that command failed. */
    g_assert_false(other.done);
    g_assert_true(podvm_qmp_client_is_connected(f->client));

    /* Its late answer is dropped; the others work. */
    peer_reply(f->peer, id_slow, "{\"status\": \"late\"}");
    peer_reply(f->peer, id_other, "{\"qemu\": {\"major\": 7}}");
    wait_call(&other);
    assert_return(&other, "{\"qemu\": {\"major\": 7}}");
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "late QMP reply"), ==, 1);

    execute(f, "query-status", NULL, 0, &after);
    id_after = peer_expect_command(f->peer, "query-status", NULL);
    peer_reply(f->peer, id_after, "{\"status\": \"running\"}");
    wait_call(&after);
    assert_return(&after, "{\"status\": \"running\"}");
    g_assert_cmpuint(f->closed_count, ==, 0);
    call_clear(&slow);
    call_clear(&other);
    call_clear(&after);
}

static void
test_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GCancellable) cancelled = g_cancellable_new();
    g_autofree char *id_a = NULL, *id_c = NULL;
    Call a = { 0 }, b = { 0 }, c = { 0 };

    handshake(f);
    podvm_qmp_client_execute_async(f->client, "cmd-a", NULL, NULL, 0, cancellable, execute_cb, &a);
    id_a = peer_expect_command(f->peer, "cmd-a", NULL);
    g_cancellable_cancel(cancellable);
    for (int i = 0; i < 3; i++)
        g_main_context_iteration(NULL, FALSE);
    g_assert_true(a.done);
    g_assert_error(a.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

    /* Cancelled before the call: fails, and is never sent. */
    g_cancellable_cancel(cancelled);
    podvm_qmp_client_execute_async(f->client, "cmd-b", NULL, NULL, 0, cancelled, execute_cb, &b);
    wait_call(&b);
    g_assert_error(b.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

    /* The late answer to the cancelled one is dropped; the next command works. */
    peer_reply(f->peer, id_a, "{}");
    execute(f, "cmd-c", NULL, 0, &c);
    id_c = peer_expect_command(f->peer, "cmd-c", NULL);
    peer_reply(f->peer, id_c, "{\"c\": true}");
    wait_call(&c);
    assert_return(&c, "{\"c\": true}");
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, "late QMP reply"), ==, 1);
    call_clear(&a);
    call_clear(&b);
    call_clear(&c);
}

static void
test_not_connected(Fixture *f, gconstpointer data)
{
    Call call = { 0 };

    execute(f, "query-status", NULL, 0, &call);
    g_assert_false(call.done); /* never synchronously */
    wait_call(&call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    call_clear(&call);

    /* During the handshake too. */
    start_handshake(f, WAIT_MS, NULL);
    execute(f, "query-status", NULL, 0, &call);
    wait_call(&call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    call_clear(&call);

    /* A client connects once. */
    podvm_qmp_client_close(f->client);
    wait_call(&f->handshake);
    g_assert_error(f->handshake.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    call_clear(&f->handshake);
    start_handshake(f, WAIT_MS, NULL);
    wait_call(&f->handshake);
    g_assert_error(f->handshake.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    g_assert_cmpuint(f->closed_count, ==, 1);
}

/* ------------------------------------------------------------------------ */
/* Unref from callbacks */

typedef struct {
    Fixture *f;
    Call call;
} UnrefCall;

static void
unref_in_callback_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    UnrefCall *uc = user_data;

    execute_cb(source, result, &uc->call);
    g_clear_object(&uc->f->client);
}

static void
unref_on_closed_cb(PodvmQmpClient *client, GError *reason, gpointer user_data)
{
    Fixture *f = user_data;

    g_clear_object(&f->client);
}

static void
unref_on_event_cb(PodvmQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
                  gpointer user_data)
{
    Fixture *f = user_data;

    g_clear_object(&f->client);
}

static void
test_unref_in_callback(Fixture *f, gconstpointer data)
{
    g_autofree char *id_a = NULL, *id_b = NULL;
    g_autofree char *batch = NULL;
    UnrefCall a = { f, { 0 } };
    Call b = { 0 };
    PodvmQmpClient *weak = f->client;

    g_object_add_weak_pointer(G_OBJECT(weak), (gpointer *)&weak);
    handshake(f);
    podvm_qmp_client_execute_async(f->client, "cmd-a", NULL, NULL, 0, NULL, unref_in_callback_cb,
                                   &a);
    execute(f, "cmd-b", NULL, 0, &b);
    id_a = peer_expect_command(f->peer, "cmd-a", NULL);
    id_b = peer_expect_command(f->peer, "cmd-b", NULL);
    /* Both answers in one read: the client must survive the first callback. */
    batch = g_strdup_printf("{\"return\": {}, \"id\": \"%s\"}\r\n{\"return\": {}, \"id\": "
                            "\"%s\"}\r\n",
                            id_a, id_b);
    peer_send(f->peer, batch);
    wait_call(&a.call);
    wait_call(&b);
    g_assert_null(f->client);
    assert_return(&b, "{}");
    /* The pending command kept the client alive; now nothing does. */
    drain_main_context();
    g_assert_null(weak);
    call_clear(&a.call);
    call_clear(&b);
}

static void
test_unref_on_closed(Fixture *f, gconstpointer data)
{
    PodvmQmpClient *weak = f->client;

    g_object_add_weak_pointer(G_OBJECT(weak), (gpointer *)&weak);
    handshake(f);
    g_signal_connect(f->client, "closed", G_CALLBACK(unref_on_closed_cb), f);
    g_socket_close(f->peer->socket, NULL);
    g_assert_true(podvm_test_wait_until(is_closed, f, WAIT_MS));
    drain_main_context();
    g_assert_null(f->client);
    g_assert_null(weak);
}

static void
test_unref_on_event(Fixture *f, gconstpointer data)
{
    g_autofree char *stop = event_line("STOP", NULL);
    g_autofree char *batch = g_strconcat(stop, stop, "not even JSON\n", NULL);
    PodvmQmpClient *weak = f->client;

    g_object_add_weak_pointer(G_OBJECT(weak), (gpointer *)&weak);
    handshake(f);
    g_signal_connect(f->client, "event", G_CALLBACK(unref_on_event_cb), f);
    peer_send(f->peer, batch);
    drain_main_context();
    g_assert_null(f->client);
    g_assert_null(weak);
    /* The connection went with the client. */
    assert_peer_sees_eof(f->peer);
}

static void
test_unref_idle(Fixture *f, gconstpointer data)
{
    handshake(f);
    /* Dropping the last reference of a connected client closes the connection. */
    unref_client_and_check_finalized(f);
    assert_peer_sees_eof(f->peer);
}

/* ------------------------------------------------------------------------ */
/* File descriptors */

static void
test_fd_passing(Fixture *f, gconstpointer data)
{
    const char content[] = "disk image bytes 1234\n";
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "disk.img", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(JsonObject) seen_arguments = NULL;
    g_autofree char *id_a = NULL, *id_fd = NULL, *id_b = NULL;
    Call a = { 0 }, getfd = { 0 }, b = { 0 };
    gsize getfd_start;
    ReceivedFd *received;
    char buffer[64] = { 0 };
    int fd;

    g_assert_true(g_file_set_contents(path, content, -1, &error));
    g_assert_no_error(error);
    fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    g_unix_fd_list_append(fds, fd, &error);
    g_assert_no_error(error);
    close(fd);
    json_object_set_string_member(arguments, "fdname", "disk0");

    handshake(f);
    /* Read one byte at a time, so the fds show exactly which byte they came with. */
    f->peer->recv_size = 1;
    execute(f, "query-status", NULL, 0, &a);
    podvm_qmp_client_execute_async(f->client, "getfd", arguments, fds, 0, NULL, execute_cb, &getfd);
    execute(f, "query-version", NULL, 0, &b);

    id_a = peer_expect_command(f->peer, "query-status", NULL);
    id_fd = peer_expect_command(f->peer, "getfd", &seen_arguments);
    getfd_start = f->peer->last_line_start;
    id_b = peer_expect_command(f->peer, "query-version", NULL);
    g_assert_cmpstr(json_object_get_string_member(seen_arguments, "fdname"), ==, "disk0");
    /* The arguments were not consumed. */
    g_assert_cmpstr(json_object_get_string_member(arguments, "fdname"), ==, "disk0");

    g_assert_cmpuint(f->peer->fds->len, ==, 1);
    received = &g_array_index(f->peer->fds, ReceivedFd, 0);
    g_assert_cmpuint(received->offset, ==, getfd_start);
    g_assert_cmpint(pread(received->fd, buffer, sizeof(buffer) - 1, 0), ==, strlen(content));
    g_assert_cmpstr(buffer, ==, content);

    peer_reply(f->peer, id_a, "{}");
    peer_reply(f->peer, id_fd, "{}");
    peer_reply(f->peer, id_b, "{}");
    wait_call(&a);
    wait_call(&getfd);
    wait_call(&b);
    assert_return(&getfd, "{}");

    call_clear(&a);
    call_clear(&getfd);
    call_clear(&b);
    podvm_test_rmrf(dir);
}

static void
test_fd_passing_blocked(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autofree char *padding = g_strnfill(300 * 1024, 'p');
    g_autofree char *filler = g_strnfill(4096, ' ');
    g_autofree char *id_fd = NULL, *id_b = NULL;
    Call getfd = { 0 }, b = { 0 };
    gsize filler_len = 0;
    gsize getfd_start;
    ReceivedFd *received;
    int pipe_fds[2];
    char byte = 0;

    g_assert_cmpint(pipe(pipe_fds), ==, 0);
    g_unix_fd_list_append(fds, pipe_fds[0], &error);
    g_assert_no_error(error);
    close(pipe_fds[0]);
    json_object_set_string_member(arguments, "fdname", "pipe0");
    /* Longer than the socket buffer: sent in parts after the first sendmsg(). */
    json_object_set_string_member(arguments, "padding", padding);

    handshake(f);
    /* Fill the socket from the client's end while the peer does not read. */
    peer_pause(f->peer);
    for (;;) {
        gssize n = g_socket_send_with_blocking(f->client_socket, filler, 4096, FALSE, NULL, &error);

        if (n < 0) {
            g_assert_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
            g_clear_error(&error);
            break;
        }
        filler_len += (gsize)n;
    }

    podvm_qmp_client_execute_async(f->client, "getfd", arguments, fds, 0, NULL, execute_cb, &getfd);
    execute(f, "query-status", NULL, 0, &b);
    drain_main_context();
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_DEBUG, "waiting to send file descriptors"), ==, 1);

    peer_resume(f->peer);
    f->peer->read_pos += filler_len;
    id_fd = peer_expect_command(f->peer, "getfd", NULL);
    getfd_start = f->peer->last_line_start;
    id_b = peer_expect_command(f->peer, "query-status", NULL);

    /* The fd came with the read that holds the first byte of the getfd line. */
    g_assert_cmpuint(f->peer->fds->len, ==, 1);
    received = &g_array_index(f->peer->fds, ReceivedFd, 0);
    g_assert_cmpuint(received->offset, <=, getfd_start);
    g_assert_cmpuint(getfd_start, <, received->end);
    g_assert_cmpint(write(pipe_fds[1], "!", 1), ==, 1);
    g_assert_cmpint(read(received->fd, &byte, 1), ==, 1);
    g_assert_cmpint(byte, ==, '!');
    close(pipe_fds[1]);

    peer_reply(f->peer, id_fd, "{}");
    peer_reply(f->peer, id_b, "{}");
    wait_call(&getfd);
    wait_call(&b);
    assert_return(&getfd, "{}");
    assert_return(&b, "{}");
    call_clear(&getfd);
    call_clear(&b);
}

/* ------------------------------------------------------------------------ */
/* Connecting to a path */

typedef struct {
    Fixture *f;
    GSocketListener *listener;
    char *path;
    GSocketConnection *accepted;
} Server;

static void
accept_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Server *server = user_data;
    g_autoptr(GError) error = NULL;

    server->accepted =
        g_socket_listener_accept_finish(G_SOCKET_LISTENER(source), result, NULL, &error);
    g_assert_no_error(error);
}

static gboolean
start_listening_cb(gpointer user_data)
{
    Server *server = user_data;
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(server->path);
    g_autoptr(GError) error = NULL;

    server->listener = g_socket_listener_new();
    g_socket_listener_add_address(server->listener, address, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &error);
    g_assert_no_error(error);
    g_socket_listener_accept_async(server->listener, NULL, accept_cb, server);
    return G_SOURCE_REMOVE;
}

static gboolean
server_accepted(gpointer user_data)
{
    Server *server = user_data;

    return server->accepted != NULL;
}

static void
test_connect_path(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    Server server = { f, NULL, g_build_filename(dir, "qmp.sock", NULL), NULL };
    g_autofree char *id = NULL;
    Peer *peer;

    /* The socket appears only after the client started: it retries meanwhile. */
    podvm_qmp_client_connect_async(f->client, server.path, WAIT_MS, NULL, handshake_cb,
                                   &f->handshake);
    g_timeout_add(150, start_listening_cb, &server);
    g_assert_true(podvm_test_wait_until(server_accepted, &server, WAIT_MS));

    peer = peer_new(g_socket_connection_get_socket(server.accepted));
    peer_send(peer, greeting_7_2);
    id = peer_expect_command(peer, "qmp_capabilities", NULL);
    peer_reply(peer, id, "{}");
    wait_call(&f->handshake);
    g_assert_no_error(f->handshake.error);
    g_assert_true(podvm_qmp_client_is_connected(f->client));
    g_assert_cmpstr(podvm_qmp_client_get_qemu_version(f->client), ==, "7.2.22");

    podvm_qmp_client_close(f->client);
    g_assert_cmpuint(f->closed_count, ==, 1);
    peer_free(peer);
    g_object_unref(server.accepted);
    g_socket_listener_close(server.listener);
    g_object_unref(server.listener);
    g_free(server.path);
    podvm_test_rmrf(dir);
}

static void
test_connect_missing(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "absent.sock", NULL);
    gint64 start = g_get_monotonic_time();

    podvm_qmp_client_connect_async(f->client, path, 200, NULL, handshake_cb, &f->handshake);
    assert_handshake_failed(f, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_assert_cmpint(f->handshake.done_us - start, >=, 200 * 1000);
    g_assert_cmpint(f->handshake.done_us - start, <, 2 * G_USEC_PER_SEC);
    g_assert_nonnull(strstr(f->handshake.error->message, "absent.sock"));
    podvm_test_rmrf(dir);
}

static void
test_connect_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "stale.sock", NULL);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GError) error = NULL;

    /* A socket nobody listens on, as a QEMU that died leaves behind. */
    socket =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
    g_assert_no_error(error);
    g_socket_bind(socket, address, FALSE, &error);
    g_assert_no_error(error);

    podvm_qmp_client_connect_async(f->client, path, 200, NULL, handshake_cb, &f->handshake);
    assert_handshake_failed(f, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
    podvm_test_rmrf(dir);
}

/* ------------------------------------------------------------------------ */
/* Real QEMU */

static void
qemu_wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Fixture *f = user_data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    f->qemu_exited = TRUE;
}

static gboolean
qemu_exited(gpointer user_data)
{
    Fixture *f = user_data;

    return f->qemu_exited;
}

static void
wait_qemu(Fixture *f)
{
    g_assert_true(podvm_test_wait_until(qemu_exited, f, WAIT_MS));
}

/* QEMU goes with the test program, even when that crashes. */
static void
die_with_parent(gpointer user_data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void
qemu_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autofree char *qmp = NULL;

    g_ptr_array_set_size(captured_logs, 0);
    f->events = g_ptr_array_new_with_free_func(event_record_free);
    if (!podvm_test_require_qemu()) {
        f->skipped = TRUE;
        return;
    }
    f->dir = podvm_test_mkdtemp();
    f->socket_path = g_build_filename(f->dir, "qmp.sock", NULL);
    qmp = g_strdup_printf("unix:%s,server=on,wait=off", f->socket_path);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
    f->qemu = g_subprocess_launcher_spawn(launcher, &error, podvm_test_qemu_binary(), "-machine",
                                          "none", "-nodefaults", "-no-user-config", "-display",
                                          "none", "-S", "-qmp", qmp, NULL);
    g_assert_no_error(error);
    g_subprocess_wait_async(f->qemu, NULL, qemu_wait_cb, f);

    f->client = podvm_qmp_client_new();
    watch_client(f);
    podvm_qmp_client_connect_async(f->client, f->socket_path, WAIT_MS, NULL, handshake_cb,
                                   &f->handshake);
    wait_call(&f->handshake);
    g_assert_no_error(f->handshake.error);
}

static void
qemu_teardown(Fixture *f, gconstpointer data)
{
    if (f->qemu != NULL) {
        if (!f->qemu_exited)
            g_subprocess_force_exit(f->qemu);
        wait_qemu(f);
        g_clear_object(&f->qemu);
    }
    unref_client_and_check_finalized(f);
    drain_main_context();
    if (f->dir != NULL)
        podvm_test_rmrf(f->dir);
    g_free(f->dir);
    g_free(f->socket_path);
    g_clear_pointer(&f->events, g_ptr_array_unref);
    g_clear_error(&f->closed_error);
    call_clear(&f->handshake);
    assert_no_warnings();
}

static void
qemu_execute(Fixture *f, const char *command, const char *arguments_json, Call *call)
{
    execute(f, command, arguments_json, PODVM_QMP_TIMEOUT_QUERY, call);
    wait_call(call);
}

static gboolean
has_event(Fixture *f, const char *name)
{
    for (guint i = 0; i < f->events->len; i++) {
        if (g_strcmp0(event_name(f, i), name) == 0)
            return TRUE;
    }
    return FALSE;
}

typedef struct {
    Fixture *f;
    const char *name;
} EventWait;

static gboolean
event_seen(gpointer user_data)
{
    EventWait *wait = user_data;

    return has_event(wait->f, wait->name);
}

static void
wait_event(Fixture *f, const char *name)
{
    EventWait wait = { f, name };

    g_assert_true(podvm_test_wait_until(event_seen, &wait, WAIT_MS));
}

static void
test_qemu_greeting(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) version = NULL;
    g_autofree char *out = NULL;
    g_autofree char *expected = NULL;

    if (f->skipped)
        return;
    version = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, podvm_test_qemu_binary(),
                               "--version", NULL);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8(version, NULL, NULL, &out, NULL, &error);
    g_assert_no_error(error);

    g_assert_true(podvm_qmp_client_is_connected(f->client));
    g_assert_true(g_regex_match_simple("^[0-9]+\\.[0-9]+\\.[0-9]+$",
                                       podvm_qmp_client_get_qemu_version(f->client), 0, 0));
    expected = g_strdup_printf("version %s", podvm_qmp_client_get_qemu_version(f->client));
    g_assert_nonnull(strstr(out, expected));
    g_test_message("QEMU %s (%s)", podvm_qmp_client_get_qemu_version(f->client),
                   podvm_qmp_client_get_qemu_package(f->client));
}

static void
test_qemu_status(Fixture *f, gconstpointer data)
{
    Call call = { 0 };
    JsonObject *status;

    if (f->skipped)
        return;
    qemu_execute(f, "query-status", NULL, &call);
    g_assert_no_error(call.error);
    status = json_node_get_object(call.node);
    g_assert_false(json_object_get_boolean_member(status, "running"));
    g_assert_true(g_strv_contains((const char *const[]){ "prelaunch", "paused", NULL },
                                  json_object_get_string_member(status, "status")));
    call_clear(&call);

    /* cont and stop, seen as RESUME and STOP. */
    qemu_execute(f, "cont", NULL, &call);
    assert_return(&call, "{}");
    wait_event(f, "RESUME");
    qemu_execute(f, "query-status", NULL, &call);
    g_assert_true(json_object_get_boolean_member(json_node_get_object(call.node), "running"));
    qemu_execute(f, "stop", NULL, &call);
    assert_return(&call, "{}");
    wait_event(f, "STOP");
    qemu_execute(f, "query-status", NULL, &call);
    g_assert_false(json_object_get_boolean_member(json_node_get_object(call.node), "running"));
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(call.node), "status"), ==,
                    "paused");
    g_assert_cmpuint(f->resume_events, ==, 1);
    g_assert_cmpint(((EventRecord *)f->events->pdata[0])->timestamp_us, >, 0);
    call_clear(&call);
}

static void
test_qemu_command_not_found(Fixture *f, gconstpointer data)
{
    Call call = { 0 };

    if (f->skipped)
        return;
    qemu_execute(f, "no-such-command", NULL, &call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_cmpstr(podvm_qmp_error_class_name(call.error), ==, "CommandNotFound");
    g_assert_nonnull(strstr(call.error->message, "no-such-command"));
    call_clear(&call);

    /* A bad argument is a GenericError; the connection stays. */
    qemu_execute(f, "device_del", "{\"id\": \"nothing-here\"}", &call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_DEVICE_NOT_FOUND);
    call_clear(&call);
    qemu_execute(f, "query-status", NULL, &call);
    g_assert_no_error(call.error);
    call_clear(&call);
}

static void
test_qemu_getfd(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(JsonObject) arguments = json_object_new();
    Call call = { 0 };
    int fd;

    if (f->skipped)
        return;
    fd = g_open("/dev/null", O_RDONLY | O_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    g_unix_fd_list_append(fds, fd, &error);
    g_assert_no_error(error);
    close(fd);
    json_object_set_string_member(arguments, "fdname", "podvm-test");

    /* Without fds QEMU refuses; with them it takes the fd, and then knows its name. */
    qemu_execute(f, "getfd", "{\"fdname\": \"podvm-test\"}", &call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_GENERIC_ERROR);
    g_assert_nonnull(strstr(call.error->message, "SCM_RIGHTS"));
    call_clear(&call);

    podvm_qmp_client_execute_async(f->client, "getfd", arguments, fds, PODVM_QMP_TIMEOUT_QUERY,
                                   NULL, execute_cb, &call);
    wait_call(&call);
    assert_return(&call, "{}");
    call_clear(&call);

    qemu_execute(f, "closefd", "{\"fdname\": \"podvm-test\"}", &call);
    assert_return(&call, "{}");
    call_clear(&call);
    qemu_execute(f, "closefd", "{\"fdname\": \"podvm-test\"}", &call);
    g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_GENERIC_ERROR);
    call_clear(&call);
}

static void
test_qemu_quit(Fixture *f, gconstpointer data)
{
    Call call = { 0 };

    if (f->skipped)
        return;
    execute(f, "quit", NULL, PODVM_QMP_TIMEOUT_DEFAULT, &call);
    g_assert_true(podvm_test_wait_until(is_closed, f, WAIT_MS));
    wait_call(&call);
    /* QEMU 7.2 answers before it closes; either way the call has ended. */
    if (call.error != NULL)
        g_assert_error(call.error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    g_assert_true(has_event(f, "SHUTDOWN"));
    g_assert_cmpuint(f->closed_count, ==, 1);
    g_assert_error(f->closed_error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED);
    g_assert_cmpstr(f->closed_error->message, ==, "QEMU closed the QMP connection");
    /* A normal end is no news above debug level. */
    g_assert_cmpuint(count_logs(G_LOG_LEVEL_MESSAGE, ""), ==, 0);
    g_assert_false(podvm_qmp_client_is_connected(f->client));
    wait_qemu(f);
    g_assert_true(g_subprocess_get_if_exited(f->qemu));
    g_assert_cmpint(g_subprocess_get_exit_status(f->qemu), ==, 0);
    call_clear(&call);
}

/* ------------------------------------------------------------------------ */

/* json-glib 1.6 writes U+001F raw: what the client sends is strict JSON all the same. */
static void
test_control_characters_escaped(Fixture *f, gconstpointer data)
{
    Call call = { 0 };
    g_autofree char *id = NULL;
    const char *line;

    handshake(f);
    execute(f, "qom-get", "{\"path\": \"a\\u001fb\\u0001c\", \"property\": \"type\"}", 0, &call);
    id = peer_expect_command(f->peer, "qom-get", NULL);
    line = (const char *)f->peer->received->data + f->peer->last_line_start;
    for (const char *p = line; *p != '\n'; p++)
        g_assert_cmpint((guchar)*p, >=, 0x20);
    g_assert_nonnull(g_strstr_len(line, -1, "a\\u001fb\\u0001c"));
    peer_reply(f->peer, id, "\"ok\"");
    wait_call(&call);
    g_assert_no_error(call.error);
    call_clear(&call);
}

#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
#define ADD_QEMU(path, func) g_test_add(path, Fixture, NULL, qemu_setup, func, qemu_teardown)

int
main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    captured_logs = g_ptr_array_new_with_free_func(log_record_free);
    g_log_set_writer_func(capture_writer, NULL, NULL);
    g_log_set_debug_enabled(TRUE);
    g_log_set_handler("GLib-GIO", G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO, quiet_handler, NULL);

    ADD("/podvm/qmp/client/greeting", test_greeting);
    ADD("/podvm/qmp/client/control-characters-escaped", test_control_characters_escaped);
    ADD("/podvm/qmp/client/greeting-missing", test_greeting_missing);
    ADD("/podvm/qmp/client/greeting-eof", test_greeting_eof);
    for (gsize i = 0; i < G_N_ELEMENTS(garbage_cases); i++) {
        g_autofree char *path =
            g_strdup_printf("/podvm/qmp/client/greeting-garbage/%s", garbage_cases[i].path);

        g_test_add(path, Fixture, &garbage_cases[i], fixture_setup, test_greeting_garbage,
                   fixture_teardown);
    }
    ADD("/podvm/qmp/client/capabilities-unanswered", test_capabilities_unanswered);
    ADD("/podvm/qmp/client/capabilities-error", test_capabilities_error);
    ADD("/podvm/qmp/client/handshake-cancel", test_handshake_cancel);
    ADD("/podvm/qmp/client/one-byte-writes", test_one_byte_writes);
    ADD("/podvm/qmp/client/many-in-one-write", test_many_in_one_write);
    ADD("/podvm/qmp/client/oversized-line", test_oversized_line);
    ADD("/podvm/qmp/client/large-line", test_large_line);
    ADD("/podvm/qmp/client/events-during-negotiation", test_events_during_negotiation);
    ADD("/podvm/qmp/client/events-between-command-and-reply",
        test_events_between_command_and_reply);
    ADD("/podvm/qmp/client/unknown-id", test_unknown_id);
    ADD("/podvm/qmp/client/error-reply", test_error_reply);
    ADD("/podvm/qmp/client/error-without-id", test_error_without_id);
    ADD("/podvm/qmp/client/close-mid-command", test_close_mid_command);
    ADD("/podvm/qmp/client/close-explicit", test_close_explicit);
    ADD("/podvm/qmp/client/command-timeout", test_command_timeout);
    ADD("/podvm/qmp/client/cancel", test_cancel);
    ADD("/podvm/qmp/client/not-connected", test_not_connected);
    ADD("/podvm/qmp/client/unref-in-callback", test_unref_in_callback);
    ADD("/podvm/qmp/client/unref-on-closed", test_unref_on_closed);
    ADD("/podvm/qmp/client/unref-on-event", test_unref_on_event);
    ADD("/podvm/qmp/client/unref-idle", test_unref_idle);
    ADD("/podvm/qmp/client/fd-passing", test_fd_passing);
    ADD("/podvm/qmp/client/fd-passing-blocked", test_fd_passing_blocked);
    ADD("/podvm/qmp/client/connect-path", test_connect_path);
    ADD("/podvm/qmp/client/connect-missing", test_connect_missing);
    ADD("/podvm/qmp/client/connect-refused", test_connect_refused);

    ADD_QEMU("/podvm/qmp/qemu/greeting", test_qemu_greeting);
    ADD_QEMU("/podvm/qmp/qemu/status-cont-stop", test_qemu_status);
    ADD_QEMU("/podvm/qmp/qemu/command-not-found", test_qemu_command_not_found);
    ADD_QEMU("/podvm/qmp/qemu/getfd", test_qemu_getfd);
    ADD_QEMU("/podvm/qmp/qemu/quit", test_qemu_quit);

    ret = g_test_run();
    g_ptr_array_unref(captured_logs);
    return ret;
}
