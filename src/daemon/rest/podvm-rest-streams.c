/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chunked answers that last: the console log (?follow=true) and the event
 * stream (Server-Sent Events).
 */
#include "podvm-rest-private.h"

#include <gio/gunixinputstream.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-json.h"

/* How often a log follower looks for growth, and an event stream says it is alive. */
#define LOG_POLL_MS 250
#define SSE_KEEPALIVE_S 15
#define LOG_CHUNK (64 * 1024)

/* ---- streams: the log and the event stream --------------------------------------- */

typedef enum {
    STREAM_LOG,
    STREAM_EVENTS
} StreamKind;

struct _PodvmRestStream {
    StreamKind kind;
    Request *req; /* owned */
    gulong finished_id;
    gulong write_signal_id; /* log: wrote-chunk; events: wrote-body-data */
    guint timer;
    gboolean ended; /* the last chunk is queued */
    /* log */
    GInputStream *input;
    GCancellable *cancellable;
    gboolean follow;
    gboolean reading;
    gboolean writing; /* a chunk waits to be written */
    PodvmLogFollow follow_state;
    goffset offset; /* read so far */
    /* events */
    char *pod_filter;
    gsize backlog;
};
typedef PodvmRestStream Stream;

void
podvm_rest_stream_free(Stream *stream)
{
    g_clear_handle_id(&stream->timer, g_source_remove);
    if (stream->cancellable != NULL)
        g_cancellable_cancel(stream->cancellable);
    g_clear_object(&stream->cancellable);
    g_clear_object(&stream->input);
    g_clear_signal_handler(&stream->finished_id, stream->req->msg);
    g_clear_signal_handler(&stream->write_signal_id, stream->req->msg);
    g_clear_pointer(&stream->req, podvm_rest_request_unref);
    g_free(stream->pod_filter);
    g_free(stream);
}

static void
stream_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
    Stream *stream = user_data;

    /* Frees the stream. */
    g_ptr_array_remove_fast(stream->req->front->streams, stream);
}

static Stream *
stream_begin(Request *req, StreamKind kind, const char *content_type)
{
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(req->msg);
    Stream *stream = g_new0(Stream, 1);

    stream->kind = kind;
    stream->req = podvm_rest_request_ref(req);
    soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
    soup_message_headers_set_content_type(headers, content_type, NULL);
    soup_message_headers_replace(headers, "Cache-Control", "no-cache");
    soup_message_body_set_accumulate(soup_server_message_get_response_body(req->msg), FALSE);
    soup_server_message_set_status(req->msg, SOUP_STATUS_OK, NULL);
    stream->finished_id =
        g_signal_connect(req->msg, "finished", G_CALLBACK(stream_finished_cb), stream);
    g_ptr_array_add(req->front->streams, stream);
    return stream;
}

static void
stream_write(Stream *stream, const void *data, gsize length)
{
    if (stream->ended || stream->req->finished)
        return;
    soup_message_body_append(soup_server_message_get_response_body(stream->req->msg),
                             SOUP_MEMORY_COPY, data, length);
    podvm_rest_resume(stream->req);
}

static void
stream_end(Stream *stream)
{
    if (stream->ended)
        return;
    stream->ended = TRUE;
    g_clear_handle_id(&stream->timer, g_source_remove);
    if (stream->req->finished)
        return;
    soup_message_body_complete(soup_server_message_get_response_body(stream->req->msg));
    podvm_rest_resume(stream->req);
}

/*
 * A client that does not read: the stream ends, and so does the
 * connection, at once. Only then does libsoup let go of what it queued
 * for the client (its write fails), instead of keeping it until the
 * client reads.
 */
static void
stream_drop_client(Stream *stream)
{
    GSocket *socket = NULL;

    if (!stream->req->finished)
        socket = soup_server_message_get_socket(stream->req->msg);
    stream_end(stream);
    if (socket != NULL && !g_socket_is_closed(socket))
        g_socket_shutdown(socket, TRUE, TRUE, NULL);
}

/*
 * Whether the client closed its end. libsoup looks at the socket only while
 * it writes, so a quiet stream asks the socket itself.
 */
static gboolean
stream_client_gone(Stream *stream)
{
    GSocket *socket;
    GIOCondition condition;
    char c;

    if (stream->req->finished)
        return TRUE;
    socket = soup_server_message_get_socket(stream->req->msg);
    if (socket == NULL)
        return TRUE;
    condition = g_socket_condition_check(socket, G_IO_IN | G_IO_HUP | G_IO_ERR);
    if (condition & (G_IO_HUP | G_IO_ERR))
        return TRUE;
    if (condition & G_IO_IN)
        return recv(g_socket_get_fd(socket), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    return FALSE;
}

/* -- the console log -- */

static void log_read_next(Stream *stream);

static gboolean
log_poll_cb(gpointer user_data)
{
    Stream *stream = user_data;

    stream->timer = 0;
    if (stream_client_gone(stream)) {
        stream_end(stream);
        return G_SOURCE_REMOVE;
    }
    log_read_next(stream);
    return G_SOURCE_REMOVE;
}

/* The log is shorter than what was read: it was rotated; read it from the start. */
static gboolean
log_was_rotated(Stream *stream)
{
    int fd = g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(stream->input));

    if (!podvm_log_follow_restarts(fd, stream->offset) || lseek(fd, 0, SEEK_SET) != 0)
        return FALSE;
    stream->offset = 0;
    return TRUE;
}

static void
log_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes =
        g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
    Stream *stream = user_data;

    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return; /* the stream is gone */
    stream->reading = FALSE;
    if (bytes == NULL) {
        g_message("cannot read the console log of pod '%s': %s", stream->req->name, error->message);
        stream_end(stream);
        return;
    }
    if (g_bytes_get_size(bytes) > 0) {
        podvm_pod_log_follow_ends(stream->req->pod, &stream->follow_state, TRUE);
        stream->offset += (goffset)g_bytes_get_size(bytes);
        stream->writing = TRUE;
        stream_write(stream, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
        return; /* wrote-chunk asks for more */
    }
    /* End of the file for now. */
    if (!stream->follow) {
        stream_end(stream);
        return;
    }
    if (log_was_rotated(stream)) {
        /* Rotated in place: the log starts again (its older part is in console.log.1). */
        log_read_next(stream);
        return;
    }
    if (podvm_pod_log_follow_ends(stream->req->pod, &stream->follow_state, FALSE)) {
        stream_end(stream);
        return;
    }
    stream->timer = g_timeout_add(LOG_POLL_MS, log_poll_cb, stream);
}

static void
log_read_next(Stream *stream)
{
    if (stream->reading || stream->writing || stream->ended)
        return;
    stream->reading = TRUE;
    g_input_stream_read_bytes_async(stream->input, LOG_CHUNK, G_PRIORITY_DEFAULT,
                                    stream->cancellable, log_read_cb, stream);
}

static void
log_wrote_chunk_cb(SoupServerMessage *msg, gpointer user_data)
{
    Stream *stream = user_data;

    stream->writing = FALSE;
    log_read_next(stream);
}

void
podvm_rest_handle_log(Request *req)
{
    g_autoptr(GError) error = NULL;
    gboolean follow;
    Stream *stream;
    int fd;

    if (!podvm_rest_query_boolean(req, "follow", FALSE, &follow) || !podvm_rest_lookup_pod(req))
        return;
    fd = podvm_pod_open_log(req->pod, &error);
    if (fd < 0) {
        podvm_rest_respond_error(req, error);
        return;
    }
    stream = stream_begin(req, STREAM_LOG, "text/plain");
    stream->input = g_unix_input_stream_new(fd, TRUE);
    stream->cancellable = g_cancellable_new();
    stream->follow = follow;
    stream->write_signal_id =
        g_signal_connect(req->msg, "wrote-chunk", G_CALLBACK(log_wrote_chunk_cb), stream);
    log_read_next(stream);
}

/* -- events -- */

static void
events_wrote_data_cb(SoupServerMessage *msg, guint size, gpointer user_data)
{
    Stream *stream = user_data;

    stream->backlog = size < stream->backlog ? stream->backlog - size : 0;
}

static void
events_write(Stream *stream, const char *text)
{
    gsize length = strlen(text);

    if (stream->ended)
        return;
    if (stream->backlog + length > stream->req->front->max_client_queue) {
        g_message("REST: closing an event stream: its client does not read (%" G_GSIZE_FORMAT
                  " bytes queued)",
                  stream->backlog);
        stream_drop_client(stream);
        return;
    }
    stream->backlog += length;
    stream_write(stream, text, length);
}

static gboolean
events_keepalive_cb(gpointer user_data)
{
    Stream *stream = user_data;

    if (stream_client_gone(stream)) {
        stream->timer = 0;
        stream_end(stream);
        return G_SOURCE_REMOVE;
    }
    events_write(stream, ": keepalive\n\n");
    return G_SOURCE_CONTINUE;
}

/*
 * One event as Server-Sent Events frame it: its id (what the client sends
 * back as Last-Event-ID; none for a notice that is not an event of the
 * stream), its type and its details as one line of JSON (it fits one
 * "data:" field).
 */
static char *
sse_frame(const char *type, JsonObject *details)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), details);
    g_autofree char *json = podvm_json_to_string(node, FALSE);
    const char *id = json_object_get_string_member_with_default(details, "id", NULL);

    if (id == NULL)
        return g_strdup_printf("event: %s\ndata: %s\n\n", type, json);
    return g_strdup_printf("id: %s\nevent: %s\ndata: %s\n\n", id, type, json);
}

void
podvm_rest_manager_event_cb(PodvmManager *manager, const char *pod, const char *type,
                            JsonObject *details, gpointer user_data)
{
    PodvmRestFront *self = user_data;
    g_autofree char *text = NULL;

    for (guint i = 0; i < self->streams->len; i++) {
        Stream *stream = g_ptr_array_index(self->streams, i);

        if (stream->kind != STREAM_EVENTS || stream->ended)
            continue;
        if (stream->pod_filter != NULL && g_strcmp0(stream->pod_filter, pod) != 0)
            continue;
        if (text == NULL)
            text = sse_frame(type, details);
        events_write(stream, text);
    }
}

/*
 * A client that resumes (Last-Event-ID): the events after it that the
 * core still holds, and first an EventsLost notice when some are gone.
 */
static void
events_replay(Stream *stream, const char *last_event_id)
{
    PodvmEventGap gap = PODVM_EVENT_GAP_NONE;
    g_autoptr(GPtrArray) since =
        podvm_manager_events_since(stream->req->front->manager, last_event_id, &gap);

    if (gap != PODVM_EVENT_GAP_NONE) {
        g_autoptr(JsonObject) lost = podvm_event_lost_new(last_event_id, gap);
        g_autofree char *text = sse_frame("EventsLost", lost);

        events_write(stream, text);
    }
    for (guint i = 0; i < since->len; i++) {
        PodvmEventRecord *record = g_ptr_array_index(since, i);
        g_autofree char *text = NULL;

        if (stream->pod_filter != NULL && g_strcmp0(stream->pod_filter, record->pod) != 0)
            continue;
        text = sse_frame(record->type, record->details);
        events_write(stream, text);
    }
}

void
podvm_rest_handle_events(Request *req)
{
    const char *pod = podvm_rest_query_get(req, "pod");
    const char *last_event_id = soup_message_headers_get_one(
        soup_server_message_get_request_headers(req->msg), "Last-Event-ID");
    Stream *stream;

    if (pod != NULL && !podvm_name_is_valid(pod, NULL)) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT, _("'%s' is not a pod name"),
                                     pod);
        return;
    }
    stream = stream_begin(req, STREAM_EVENTS, "text/event-stream");
    stream->pod_filter = g_strdup(pod);
    stream->write_signal_id =
        g_signal_connect(req->msg, "wrote-body-data", G_CALLBACK(events_wrote_data_cb), stream);
    stream->timer = g_timeout_add_seconds(SSE_KEEPALIVE_S, events_keepalive_cb, stream);
    /* Headers and a first comment now: the client knows it is subscribed. */
    events_write(stream, ": podvm events\n\n");
    /* An empty Last-Event-ID is what a client that saw no id sends: nothing to resume. */
    if (last_event_id != NULL && *last_event_id != '\0')
        events_replay(stream, last_event_id);
}
