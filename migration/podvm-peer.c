/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-peer.h"

#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "podvm-build-config.h"
#include "podvm-error.h"
#include "podvm-json.h"

#define DEFAULT_TIMEOUT_MS 30000
/* The head of a stream's answer (101 or an error): far more than any podvmd sends. */
#define MAX_HEAD 16384
/* The body of an error answer to a stream request. */
#define MAX_ERROR_BODY 65536
#define READ_CHUNK 16384

struct _PodvmPeer {
    char *url; /* as given, without a trailing '/' */
    char *token;
    gboolean tls;
    char *host;
    guint16 port;
    guint timeout_ms;
    GTlsDatabase *database; /* from cacert; NULL: the system's */
    SoupSession *session;
};

/* --- settings --------------------------------------------------------------- */

static gboolean
header_value_is_safe(const char *value)
{
    for (const char *c = value; *c != '\0'; c++) {
        if ((guchar)*c < 0x20 || *c == 0x7f)
            return FALSE;
    }
    return TRUE;
}

static gboolean
invalid_url(const char *url, GError **error)
{
    g_autofree char *quoted = podvm_quote_for_message(url != NULL ? url : "");

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("the peer URL %s is not https://HOST:PORT (or http://HOST:PORT)"), quoted);
    return FALSE;
}

static gboolean
parse_url(PodvmPeer *peer, const char *url, gboolean plaintext_ok, GError **error)
{
    g_autoptr(GUri) uri = NULL;
    const char *scheme;
    const char *path;
    int port;

    if (url == NULL || *url == '\0')
        return invalid_url(url, error);
    uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
    if (uri == NULL)
        return invalid_url(url, error);
    scheme = g_uri_get_scheme(uri);
    path = g_uri_get_path(uri);
    if (g_uri_get_host(uri) == NULL || *g_uri_get_host(uri) == '\0' ||
        g_uri_get_userinfo(uri) != NULL || g_uri_get_query(uri) != NULL ||
        g_uri_get_fragment(uri) != NULL || (*path != '\0' && strcmp(path, "/") != 0))
        return invalid_url(url, error);
    if (g_ascii_strcasecmp(scheme, "https") == 0) {
        peer->tls = TRUE;
    } else if (g_ascii_strcasecmp(scheme, "http") == 0) {
        if (!plaintext_ok) {
            g_autofree char *quoted = podvm_quote_for_message(url);
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("the peer URL %s is plain http://: the migration would cross the "
                          "network unencrypted; use https:// or allow plaintext"),
                        quoted);
            return FALSE;
        }
        peer->tls = FALSE;
    } else {
        return invalid_url(url, error);
    }
    port = g_uri_get_port(uri);
    if (port == -1)
        port = peer->tls ? 443 : 80;
    if (port <= 0 || port > 65535)
        return invalid_url(url, error);
    peer->port = (guint16)port;
    peer->host = g_strdup(g_uri_get_host(uri));
    peer->url = g_strdup(url);
    if (g_str_has_suffix(peer->url, "/"))
        peer->url[strlen(peer->url) - 1] = '\0';
    return TRUE;
}

PodvmPeer *
podvm_peer_new(const PodvmPeerSettings *settings, GError **error)
{
    g_autoptr(PodvmPeer) peer = g_new0(PodvmPeer, 1);
    guint timeout_ms = settings->timeout_ms != 0 ? settings->timeout_ms : DEFAULT_TIMEOUT_MS;

    if (!parse_url(peer, settings->url, settings->plaintext_ok, error))
        return NULL;
    if (settings->token != NULL && !header_value_is_safe(settings->token)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the token of the peer %s contains a control character"), peer->url);
        return NULL;
    }
    peer->token = g_strdup(settings->token);
    peer->timeout_ms = timeout_ms;
    if (settings->cacert != NULL) {
        g_autoptr(GError) local = NULL;

        peer->database = g_tls_file_database_new(settings->cacert, &local);
        if (peer->database == NULL) {
            g_autofree char *quoted = podvm_quote_for_message(settings->cacert);
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("cannot read the CA certificates %s for the peer %s: %s"), quoted,
                        peer->url, local->message);
            return NULL;
        }
    }
    peer->session = soup_session_new_with_options("timeout", (timeout_ms + 999) / 1000,
                                                  "user-agent", "podvm/" PODVM_VERSION, NULL);
    /*
     * Straight to the peer, as the stream connections go: no desktop proxy
     * settings in a daemon (the default resolver loads libproxy and dconf,
     * whose threads outlive every call).
     */
    soup_session_set_proxy_resolver(peer->session, NULL);
    if (peer->database != NULL)
        soup_session_set_tls_database(peer->session, peer->database);
    return g_steal_pointer(&peer);
}

void
podvm_peer_free(PodvmPeer *peer)
{
    if (peer == NULL)
        return;
    if (peer->session != NULL) {
        soup_session_abort(peer->session);
        g_object_unref(peer->session);
    }
    g_clear_object(&peer->database);
    g_free(peer->url);
    if (peer->token != NULL)
        explicit_bzero(peer->token, strlen(peer->token));
    g_free(peer->token);
    g_free(peer->host);
    g_free(peer);
}

const char *
podvm_peer_get_url(PodvmPeer *peer)
{
    return peer->url;
}

/* --- errors ------------------------------------------------------------------ */

static gboolean
code_from_reason(const char *reason, PodvmErrorCode *out)
{
    for (int code = PODVM_ERROR_FAILED; code <= PODVM_ERROR_CANCELLED; code++) {
        if (g_strcmp0(reason, podvm_error_reason((PodvmErrorCode)code)) == 0) {
            *out = (PodvmErrorCode)code;
            return TRUE;
        }
    }
    return FALSE;
}

static PodvmErrorCode
code_from_status(guint status)
{
    switch (status) {
    case SOUP_STATUS_BAD_REQUEST:
        return PODVM_ERROR_INVALID_ARGUMENT;
    case SOUP_STATUS_UNAUTHORIZED:
    case SOUP_STATUS_FORBIDDEN:
        return PODVM_ERROR_PERMISSION_DENIED;
    case SOUP_STATUS_NOT_FOUND:
        return PODVM_ERROR_NOT_FOUND;
    case SOUP_STATUS_CONFLICT:
        return PODVM_ERROR_WRONG_PHASE;
    case SOUP_STATUS_GATEWAY_TIMEOUT:
        return PODVM_ERROR_TIMEOUT;
    default:
        return PODVM_ERROR_FAILED;
    }
}

/*
 * The error a peer's non-2xx answer stands for: its error document's reason
 * and message when it sent one, else the HTTP status.
 */
static GError *
error_from_answer(const char *url, guint status, const char *reason_phrase, const char *body,
                  gsize length)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *error_object = NULL;
    const char *reason = NULL;
    const char *message = NULL;
    PodvmErrorCode code;

    if (status == SOUP_STATUS_UNAUTHORIZED)
        return g_error_new(PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                           _("the peer %s refused the token"), url);
    if (body != NULL && length > 0)
        root = podvm_json_parse_limited(body, (gssize)length, MAX_ERROR_BODY, 8, NULL);
    if (root != NULL && JSON_NODE_HOLDS_OBJECT(root)) {
        JsonNode *node = json_object_get_member(json_node_get_object(root), "error");

        if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
            error_object = json_node_get_object(node);
    }
    if (error_object != NULL) {
        JsonNode *node = json_object_get_member(error_object, "reason");

        if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING)
            reason = json_node_get_string(node);
        node = json_object_get_member(error_object, "message");
        if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING)
            message = json_node_get_string(node);
    }
    if (reason == NULL || !code_from_reason(reason, &code))
        code = code_from_status(status);
    if (message != NULL && *message != '\0') {
        /* One printable line, whatever the peer sent. */
        g_autofree char *safe = g_utf8_make_valid(message, -1);

        for (char *c = safe; *c != '\0'; c++) {
            if ((guchar)*c < 0x20 || *c == 0x7f)
                *c = ' ';
        }
        return g_error_new(PODVM_ERROR, code, _("the peer %s: %s"), url, safe);
    }
    {
        g_autofree char *quoted =
            podvm_quote_for_message(reason_phrase != NULL ? reason_phrase : "");
        return g_error_new(PODVM_ERROR, code, _("the peer %s answered HTTP %u %s"), url, status,
                           quoted);
    }
}

/* An error of the transport: the peer was not reached or the connection broke. */
static GError *
error_from_transport(const char *url, const GError *error, gboolean timed_out, guint timeout_ms)
{
    if (timed_out)
        return g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                           _("the peer %s did not answer within %u ms"), url, timeout_ms);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return g_error_copy(error);
    if (error->domain == PODVM_ERROR)
        return g_error_copy(error);
    return g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot reach the peer %s: %s"), url,
                       error->message);
}

/* --- a deadline on an async call ------------------------------------------- */

typedef struct {
    GCancellable *cancellable; /* cancelled by the caller's or the timer */
    GCancellable *caller;
    gulong caller_handler;
    GSource *timer;
    gboolean timed_out;
} Deadline;

static gboolean
deadline_fired_cb(gpointer user_data)
{
    Deadline *deadline = user_data;

    deadline->timed_out = TRUE;
    g_cancellable_cancel(deadline->cancellable);
    g_clear_pointer(&deadline->timer, g_source_unref);
    return G_SOURCE_REMOVE;
}

static void
deadline_caller_cancelled_cb(GCancellable *caller, gpointer user_data)
{
    g_cancellable_cancel(G_CANCELLABLE(user_data));
}

static void
deadline_start(Deadline *deadline, GCancellable *caller, guint timeout_ms)
{
    deadline->cancellable = g_cancellable_new();
    if (caller != NULL) {
        deadline->caller = g_object_ref(caller);
        deadline->caller_handler =
            g_cancellable_connect(caller, G_CALLBACK(deadline_caller_cancelled_cb),
                                  g_object_ref(deadline->cancellable), g_object_unref);
    }
    deadline->timer = g_timeout_source_new(timeout_ms);
    g_source_set_callback(deadline->timer, deadline_fired_cb, deadline, NULL);
    g_source_attach(deadline->timer, g_main_context_get_thread_default());
}

/* Stops the timer (the call is done, or goes on without one). */
static void
deadline_disarm(Deadline *deadline)
{
    if (deadline->timer != NULL) {
        g_source_destroy(deadline->timer);
        g_clear_pointer(&deadline->timer, g_source_unref);
    }
}

static void
deadline_clear(Deadline *deadline)
{
    deadline_disarm(deadline);
    if (deadline->caller != NULL) {
        g_cancellable_disconnect(deadline->caller, deadline->caller_handler);
        g_clear_object(&deadline->caller);
    }
    g_clear_object(&deadline->cancellable);
}

/* --- JSON calls ---------------------------------------------------------------- */

typedef struct {
    char *url;
    guint timeout_ms;
    Deadline deadline;
    SoupSession *session;
    SoupMessage *msg;
    GInputStream *body;
    GByteArray *data;
} Call;

static void
call_free(Call *call)
{
    deadline_clear(&call->deadline);
    g_free(call->url);
    g_clear_object(&call->msg);
    g_clear_object(&call->session);
    g_clear_object(&call->body);
    if (call->data != NULL)
        g_byte_array_unref(call->data);
    g_free(call);
}

static void
call_fail(GTask *task, const GError *error)
{
    Call *call = g_task_get_task_data(task);

    g_task_return_error(
        task, error_from_transport(call->url, error, call->deadline.timed_out, call->timeout_ms));
}

static void
call_complete(GTask *task)
{
    Call *call = g_task_get_task_data(task);
    guint status = soup_message_get_status(call->msg);
    g_autoptr(GError) error = NULL;
    JsonNode *root;

    deadline_disarm(&call->deadline);
    if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
        g_task_return_error(
            task, error_from_answer(call->url, status, soup_message_get_reason_phrase(call->msg),
                                    (const char *)call->data->data, call->data->len));
        return;
    }
    if (status == SOUP_STATUS_NO_CONTENT || call->data->len == 0) {
        g_task_return_pointer(task, NULL, NULL);
        return;
    }
    root = podvm_json_parse_limited((const char *)call->data->data, call->data->len,
                                    PODVM_MIGRATION_MAX_DOC, PODVM_JSON_MAX_DEPTH, &error);
    if (root == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the peer %s answered with something that is not JSON: %s"),
                                call->url, error->message);
        return;
    }
    g_task_return_pointer(task, root, (GDestroyNotify)json_node_unref);
}

static void call_read(GTask *task);

static void
call_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Call *call = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes =
        g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);

    if (bytes == NULL) {
        call_fail(task, error);
        return;
    }
    if (g_bytes_get_size(bytes) == 0) {
        call_complete(task);
        return;
    }
    if (call->data->len + g_bytes_get_size(bytes) > PODVM_MIGRATION_MAX_DOC) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the peer %s answered more than %d bytes"), call->url,
                                PODVM_MIGRATION_MAX_DOC);
        return;
    }
    g_byte_array_append(call->data, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    call_read(g_steal_pointer(&task));
}

static void
call_read(GTask *task)
{
    Call *call = g_task_get_task_data(task);

    g_input_stream_read_bytes_async(call->body, READ_CHUNK, G_PRIORITY_DEFAULT,
                                    call->deadline.cancellable, call_read_cb, task);
}

static void
call_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Call *call = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    call->body = soup_session_send_finish(SOUP_SESSION(source), result, &error);
    if (call->body == NULL) {
        call_fail(task, error);
        return;
    }
    call_read(g_steal_pointer(&task));
}

void
podvm_peer_call_async(PodvmPeer *peer, const char *method, const char *path, JsonNode *body,
                      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autofree char *uri = NULL;
    Call *call;

    g_task_set_source_tag(task, podvm_peer_call_async);
    if (path == NULL || path[0] != '/' || !header_value_is_safe(path)) {
        g_autofree char *quoted = podvm_quote_for_message(path != NULL ? path : "");
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("%s is not a path of the peer API"), quoted);
        return;
    }
    uri = g_strconcat(peer->url, path, NULL);
    call = g_new0(Call, 1);
    g_task_set_task_data(task, call, (GDestroyNotify)call_free);
    call->url = g_strdup(peer->url);
    call->timeout_ms = peer->timeout_ms;
    call->data = g_byte_array_new();
    call->session = g_object_ref(peer->session);
    call->msg = soup_message_new(method, uri);
    if (call->msg == NULL) {
        g_autofree char *quoted = podvm_quote_for_message(path);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("%s is not a path of the peer API"), quoted);
        return;
    }
    if (peer->token != NULL) {
        g_autofree char *authorization = g_strconcat("Bearer ", peer->token, NULL);
        soup_message_headers_replace(soup_message_get_request_headers(call->msg), "Authorization",
                                     authorization);
    }
    soup_message_headers_replace(soup_message_get_request_headers(call->msg), "Accept",
                                 "application/json");
    if (body != NULL) {
        gsize length = 0;
        char *text = podvm_json_to_data(body, FALSE, &length);
        g_autoptr(GBytes) bytes = g_bytes_new_take(text, length);

        soup_message_set_request_body_from_bytes(call->msg, "application/json", bytes);
    }
    deadline_start(&call->deadline, cancellable, call->timeout_ms);
    soup_session_send_async(call->session, call->msg, G_PRIORITY_DEFAULT,
                            call->deadline.cancellable, call_sent_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_peer_call_finish(PodvmPeer *peer, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* --- streams ------------------------------------------------------------------- */

typedef struct {
    char *url;
    guint timeout_ms;
    gboolean tls;
    GTlsDatabase *database;
    Deadline deadline;
    GSocketClient *client;
    GIOStream *connection;
    char *request;
    GString *head;
    guint8 byte;
    guint status;
    char *reason_phrase;
    goffset body_length; /* -1: until EOF */
    GByteArray *body;
} Stream;

static void
stream_free(Stream *stream)
{
    deadline_clear(&stream->deadline);
    g_free(stream->url);
    g_clear_object(&stream->database);
    g_clear_object(&stream->client);
    if (stream->connection != NULL) {
        g_io_stream_close(stream->connection, NULL, NULL);
        g_object_unref(stream->connection);
    }
    if (stream->request != NULL)
        explicit_bzero(stream->request, strlen(stream->request));
    g_free(stream->request);
    if (stream->head != NULL)
        g_string_free(stream->head, TRUE);
    g_free(stream->reason_phrase);
    if (stream->body != NULL)
        g_byte_array_unref(stream->body);
    g_free(stream);
}

static void
stream_fail(GTask *task, const GError *error)
{
    Stream *stream = g_task_get_task_data(task);

    g_task_return_error(task, error_from_transport(stream->url, error, stream->deadline.timed_out,
                                                   stream->timeout_ms));
}

static void
stream_refused(GTask *task)
{
    Stream *stream = g_task_get_task_data(task);

    g_task_return_error(task,
                        error_from_answer(stream->url, stream->status, stream->reason_phrase,
                                          (const char *)stream->body->data, stream->body->len));
}

static void stream_read_body(GTask *task);

static void
stream_body_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Stream *stream = g_task_get_task_data(task);
    g_autoptr(GBytes) bytes =
        g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, NULL);

    /* A broken or cut body still leaves the status to report. */
    if (bytes == NULL || g_bytes_get_size(bytes) == 0) {
        stream_refused(task);
        return;
    }
    g_byte_array_append(stream->body, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    stream_read_body(g_steal_pointer(&task));
}

/* Takes @task (the reference an async call would). */
static void
stream_read_body(GTask *task_in)
{
    g_autoptr(GTask) task = task_in;
    Stream *stream = g_task_get_task_data(task);
    gsize want = MAX_ERROR_BODY - stream->body->len;

    if (stream->body_length >= 0)
        want = MIN(want, (gsize)MAX(stream->body_length - (goffset)stream->body->len, 0));
    if (want == 0) {
        stream_refused(task);
        return;
    }
    g_input_stream_read_bytes_async(
        g_io_stream_get_input_stream(stream->connection), MIN(want, READ_CHUNK), G_PRIORITY_DEFAULT,
        stream->deadline.cancellable, stream_body_cb, g_steal_pointer(&task));
}

/* Takes @task. */
static void
stream_head_complete(GTask *task_in)
{
    g_autoptr(GTask) task = task_in;
    Stream *stream = g_task_get_task_data(task);
    g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new(SOUP_MESSAGE_HEADERS_RESPONSE);
    SoupHTTPVersion version;
    const char *upgrade;

    if (!soup_headers_parse_response(stream->head->str, (int)stream->head->len, headers, &version,
                                     &stream->status, &stream->reason_phrase)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the peer %s answered the stream request with something that "
                                  "is not HTTP"),
                                stream->url);
        return;
    }
    if (stream->status != SOUP_STATUS_SWITCHING_PROTOCOLS) {
        stream->body = g_byte_array_new();
        if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH)
            stream->body_length = soup_message_headers_get_content_length(headers);
        else if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_EOF)
            stream->body_length = -1;
        else
            stream->body_length = 0; /* chunked: the status says enough */
        stream_read_body(g_steal_pointer(&task));
        return;
    }
    upgrade = soup_message_headers_get_one(headers, "Upgrade");
    if (upgrade != NULL && g_ascii_strcasecmp(upgrade, PODVM_MIGRATION_UPGRADE) != 0) {
        g_autofree char *quoted = podvm_quote_for_message(upgrade);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the peer %s switched to the protocol %s, not %s"), stream->url,
                                quoted, PODVM_MIGRATION_UPGRADE);
        return;
    }
    deadline_disarm(&stream->deadline);
    /*
     * Over TLS, GSocketClient gives a GTcpWrapperConnection around the
     * GTlsClientConnection: its streams are the TLS ones, but its socket is
     * the raw TCP one (podvm-relay.c closes such a stream's output rather
     * than shutting the socket down under TLS).
     */
    g_task_return_pointer(task, g_steal_pointer(&stream->connection), g_object_unref);
}

static void stream_read_head(GTask *task);

static void
stream_head_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Stream *stream = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (n < 0) {
        stream_fail(task, error);
        return;
    }
    if (n == 0) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("the peer %s closed the connection before answering the "
                                  "stream request"),
                                stream->url);
        return;
    }
    g_string_append_c(stream->head, (char)stream->byte);
    if (g_str_has_suffix(stream->head->str, "\r\n\r\n")) {
        stream_head_complete(g_steal_pointer(&task));
        return;
    }
    if (stream->head->len >= MAX_HEAD) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the peer %s answered the stream request with a head longer "
                                  "than %d bytes"),
                                stream->url, MAX_HEAD);
        return;
    }
    stream_read_head(g_steal_pointer(&task));
}

/*
 * One byte at a time: what follows the head is the channel's first bytes,
 * which belong to whoever gets the stream (a few hundred reads, once).
 */
static void
stream_read_head(GTask *task)
{
    Stream *stream = g_task_get_task_data(task);

    g_input_stream_read_async(g_io_stream_get_input_stream(stream->connection), &stream->byte, 1,
                              G_PRIORITY_DEFAULT, stream->deadline.cancellable, stream_head_cb,
                              task);
}

static void
stream_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Stream *stream = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        stream_fail(task, error);
        return;
    }
    explicit_bzero(stream->request, strlen(stream->request));
    stream->head = g_string_sized_new(256);
    stream_read_head(g_steal_pointer(&task));
}

static void
stream_connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Stream *stream = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    GSocketConnection *connection =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

    if (connection == NULL) {
        stream_fail(task, error);
        return;
    }
    stream->connection = G_IO_STREAM(connection);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(stream->connection),
                                    stream->request, strlen(stream->request), G_PRIORITY_DEFAULT,
                                    stream->deadline.cancellable, stream_written_cb,
                                    g_steal_pointer(&task));
}

/* The CA certificates of the peer's settings go to the TLS connection as it is made. */
static void
stream_client_event_cb(GSocketClient *client, GSocketClientEvent event,
                       GSocketConnectable *connectable, GIOStream *connection, gpointer user_data)
{
    Stream *stream = user_data;

    if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && stream->database != NULL &&
        G_IS_TLS_CONNECTION(connection))
        g_tls_connection_set_database(G_TLS_CONNECTION(connection), stream->database);
}

void
podvm_peer_open_stream_async(PodvmPeer *peer, const char *id, const char *secret,
                             const char *channel, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GSocketConnectable) address = NULL;
    g_autofree char *escaped_id = NULL;
    g_autofree char *escaped_channel = NULL;
    g_autofree char *host = NULL;
    GString *request;
    Stream *stream;

    g_task_set_source_tag(task, podvm_peer_open_stream_async);
    if (id == NULL || *id == '\0' || secret == NULL || !header_value_is_safe(secret) ||
        channel == NULL || *channel == '\0') {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("a stream needs a migration id, its secret and a channel"));
        return;
    }
    stream = g_new0(Stream, 1);
    g_task_set_task_data(task, stream, (GDestroyNotify)stream_free);
    stream->url = g_strdup(peer->url);
    stream->timeout_ms = peer->timeout_ms;
    stream->tls = peer->tls;
    if (peer->database != NULL)
        stream->database = g_object_ref(peer->database);

    escaped_id = g_uri_escape_string(id, NULL, FALSE);
    escaped_channel = g_uri_escape_string(channel, NULL, FALSE);
    host = strchr(peer->host, ':') != NULL ? g_strdup_printf("[%s]:%u", peer->host, peer->port)
                                           : g_strdup_printf("%s:%u", peer->host, peer->port);
    request = g_string_new(NULL);
    g_string_append_printf(request,
                           "GET /v1/migrations/%s/stream?channel=%s HTTP/1.1\r\n"
                           "Host: %s\r\n"
                           "User-Agent: podvm/" PODVM_VERSION "\r\n",
                           escaped_id, escaped_channel, host);
    if (peer->token != NULL)
        g_string_append_printf(request, "Authorization: Bearer %s\r\n", peer->token);
    g_string_append_printf(request,
                           PODVM_MIGRATION_SECRET_HEADER ": %s\r\n"
                                                         "Connection: Upgrade\r\n"
                                                         "Upgrade: " PODVM_MIGRATION_UPGRADE "\r\n"
                                                         "\r\n",
                           secret);
    stream->request = g_string_free(request, FALSE);

    stream->client = g_socket_client_new();
    g_socket_client_set_enable_proxy(stream->client, FALSE);
    if (stream->tls)
        g_socket_client_set_tls(stream->client, TRUE);
    g_signal_connect(stream->client, "event", G_CALLBACK(stream_client_event_cb), stream);
    address = g_network_address_new(peer->host, peer->port);
    deadline_start(&stream->deadline, cancellable, stream->timeout_ms);
    g_socket_client_connect_async(stream->client, address, stream->deadline.cancellable,
                                  stream_connected_cb, g_steal_pointer(&task));
}

GIOStream *
podvm_peer_open_stream_finish(PodvmPeer *peer, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
