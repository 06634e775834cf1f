/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The qemu-guest-agent client (see podvm-guest-agent.h): a queue of
 * commands, each sent as "0xFF, guest-sync-delimited {id}, the command"
 * once the sync's answer came, with its own timer.
 */
#include "podvm-guest-agent.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-guest-agent-proto.h"
#include "podvm-json.h"

#define READ_CHUNK 4096

typedef enum {
    STEP_WAITING, /* in the queue */
    STEP_SYNC,    /* the sync went out; lines are dropped until its answer */
    STEP_COMMAND, /* the command went out; the next line is its answer */
} Step;

typedef struct {
    char *command;
    char *text; /* the command's line */
    guint timeout_ms;
    gboolean no_reply;
    gint64 sync_id;
    Step step;
    guint timer;
    GTask *task;
} Request;

struct _PodvmGuestAgent {
    GObject parent_instance;

    char *pod;
    GIOStream *stream;
    GCancellable *cancellable; /* the reads and writes of this connection */
    PodvmQgaLineBuffer lines;
    GQueue requests; /* of Request*; the head is the one under way */
    GByteArray *out; /* to write */
    GBytes *writing; /* being written */
    gint64 last_sync_id;
};

G_DEFINE_FINAL_TYPE(PodvmGuestAgent, podvm_guest_agent, G_TYPE_OBJECT)

enum {
    SIGNAL_CLOSED,
    N_SIGNALS
};
static guint signals[N_SIGNALS];

#define agent_log(self, level, ...) \
    g_log_structured(G_LOG_DOMAIN, level, "PODVM_POD", (self)->pod, "MESSAGE", __VA_ARGS__)

static void next_request(PodvmGuestAgent *self);
static void start_read(PodvmGuestAgent *self);

static void
request_free(Request *request)
{
    g_clear_handle_id(&request->timer, g_source_remove);
    g_clear_object(&request->task);
    g_free(request->command);
    g_free(request->text);
    g_free(request);
}

/* Ends the head request with @node or @error (taken), and goes on with the next one. */
static void
finish_head(PodvmGuestAgent *self, JsonNode *node, GError *error)
{
    Request *request = g_queue_pop_head(&self->requests);

    g_assert(request != NULL);
    g_clear_handle_id(&request->timer, g_source_remove);
    if (error != NULL)
        g_task_return_error(request->task, error);
    else
        g_task_return_pointer(request->task, node, (GDestroyNotify)json_node_unref);
    request_free(request);
    next_request(self);
}

static void flush_out(PodvmGuestAgent *self);

static void
write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmGuestAgent) self = user_data;
    g_autoptr(GError) error = NULL;

    /* A failed write shows as a closed channel or a timeout: the read side reports. */
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error) &&
        !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug("guest agent: write: %s", error->message);
    g_clear_pointer(&self->writing, g_bytes_unref);
    if (error == NULL)
        flush_out(self);
}

/* Writes what is queued, one write at a time. */
static void
flush_out(PodvmGuestAgent *self)
{
    if (self->writing != NULL || self->stream == NULL || self->out->len == 0)
        return;
    self->writing = g_byte_array_free_to_bytes(g_steal_pointer(&self->out));
    self->out = g_byte_array_new();
    g_output_stream_write_all_async(g_io_stream_get_output_stream(self->stream),
                                    g_bytes_get_data(self->writing, NULL),
                                    g_bytes_get_size(self->writing), G_PRIORITY_DEFAULT,
                                    self->cancellable, write_cb, g_object_ref(self));
}

static void
send_text(PodvmGuestAgent *self, const char *text, gsize length)
{
    g_byte_array_append(self->out, (const guint8 *)text, (guint)length);
    flush_out(self);
}

static gboolean
timeout_cb(gpointer user_data)
{
    PodvmGuestAgent *self = user_data;
    Request *request = g_queue_peek_head(&self->requests);

    request->timer = 0;
    if (request->step == STEP_COMMAND && request->no_reply) {
        finish_head(self, json_node_new(JSON_NODE_NULL), NULL);
        return G_SOURCE_REMOVE;
    }
    agent_log(self, G_LOG_LEVEL_DEBUG, "guest agent: no answer to %s",
              request->step == STEP_SYNC ? "guest-sync-delimited" : request->command);
    finish_head(
        self, NULL,
        g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                    _("the guest agent did not answer %s within %.1f s"),
                    request->step == STEP_SYNC ? "guest-sync-delimited" : request->command,
                    (request->step == STEP_SYNC ? PODVM_QGA_TIMEOUT_SYNC_MS : request->timeout_ms) /
                        1000.0));
    return G_SOURCE_REMOVE;
}

static void
arm_timer(PodvmGuestAgent *self, Request *request, guint timeout_ms)
{
    g_clear_handle_id(&request->timer, g_source_remove);
    request->timer = g_timeout_add(timeout_ms, timeout_cb, self);
}

static void
next_request(PodvmGuestAgent *self)
{
    Request *request = g_queue_peek_head(&self->requests);
    g_autofree char *sync = NULL;

    if (request == NULL || request->step != STEP_WAITING || self->stream == NULL)
        return;
    /* A fresh id: an answer to an earlier sync can never match it. */
    do {
        request->sync_id = (gint64)(g_random_int() & 0x7fffffff);
    } while (request->sync_id == self->last_sync_id);
    self->last_sync_id = request->sync_id;
    request->step = STEP_SYNC;
    /* 0xFF first: the agent drops whatever partial command it holds. */
    sync = g_strdup_printf(
        "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%" G_GINT64_FORMAT "}}\n",
        request->sync_id);
    arm_timer(self, request, PODVM_QGA_TIMEOUT_SYNC_MS);
    send_text(self, sync, strlen(sync));
}

static void
line_cb(const char *line, gsize length, gpointer user_data)
{
    PodvmGuestAgent *self = user_data;
    Request *request = g_queue_peek_head(&self->requests);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmQgaReply) reply = NULL;

    if (request == NULL || request->step == STEP_WAITING) {
        agent_log(self, G_LOG_LEVEL_DEBUG, "guest agent: dropped a line nobody waits for");
        return;
    }
    if (line == NULL) {
        agent_log(self, G_LOG_LEVEL_MESSAGE, "guest agent: dropped a line longer than %d bytes",
                  PODVM_QGA_MAX_LINE);
        if (request->step == STEP_COMMAND)
            finish_head(self, NULL,
                        g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                    _("the guest agent's answer to %s is longer than %d bytes"),
                                    request->command, PODVM_QGA_MAX_LINE));
        return;
    }
    reply = podvm_qga_reply_parse(line, length, &error);
    if (request->step == STEP_SYNC) {
        /* Everything before the sync's own answer is stale or garbage. */
        if (reply == NULL || reply->ret == NULL ||
            !podvm_qga_sync_matches(reply->ret, request->sync_id)) {
            agent_log(self, G_LOG_LEVEL_DEBUG,
                      "guest agent: dropped a line before the sync's "
                      "answer");
            return;
        }
        request->step = STEP_COMMAND;
        arm_timer(self, request, request->timeout_ms);
        send_text(self, request->text, strlen(request->text));
        return;
    }
    if (reply == NULL) {
        finish_head(self, NULL, g_steal_pointer(&error));
        return;
    }
    if (reply->ret == NULL) {
        finish_head(self, NULL,
                    g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the guest agent refused %s: %s (%s)"), request->command,
                                reply->error_desc, reply->error_class));
        return;
    }
    finish_head(self, g_steal_pointer(&reply->ret), NULL);
}

/* The channel is gone: every request fails (a no-reply command already sent succeeds). */
static void
closed(PodvmGuestAgent *self, const char *why)
{
    Request *request;

    if (self->stream == NULL)
        return;
    agent_log(self, G_LOG_LEVEL_DEBUG, "guest agent: channel closed: %s", why);
    g_cancellable_cancel(self->cancellable);
    g_clear_object(&self->cancellable);
    g_io_stream_close(self->stream, NULL, NULL);
    g_clear_object(&self->stream);
    podvm_qga_line_buffer_reset(&self->lines);
    g_byte_array_set_size(self->out, 0);
    while ((request = g_queue_pop_head(&self->requests)) != NULL) {
        g_clear_handle_id(&request->timer, g_source_remove);
        if (request->step == STEP_COMMAND && request->no_reply)
            g_task_return_pointer(request->task, json_node_new(JSON_NODE_NULL),
                                  (GDestroyNotify)json_node_unref);
        else
            g_task_return_new_error(request->task, PODVM_ERROR, PODVM_ERROR_IO,
                                    _("the guest agent's channel closed: %s"), why);
        request_free(request);
    }
    g_signal_emit(self, signals[SIGNAL_CLOSED], 0);
}

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmGuestAgent) self = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes =
        g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
    gsize length = 0;
    const guint8 *data;

    if (bytes == NULL) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            closed(self, error->message);
        return;
    }
    data = g_bytes_get_data(bytes, &length);
    if (length == 0) {
        closed(self, _("end of file"));
        return;
    }
    if (self->stream == NULL ||
        G_INPUT_STREAM(source) != g_io_stream_get_input_stream(self->stream))
        return;
    podvm_qga_line_buffer_feed(&self->lines, data, length, line_cb, self);
    if (self->stream != NULL)
        start_read(self);
}

static void
start_read(PodvmGuestAgent *self)
{
    g_input_stream_read_bytes_async(g_io_stream_get_input_stream(self->stream), READ_CHUNK,
                                    G_PRIORITY_DEFAULT, self->cancellable, read_cb,
                                    g_object_ref(self));
}

void
podvm_guest_agent_open_stream(PodvmGuestAgent *self, GIOStream *stream)
{
    g_return_if_fail(PODVM_IS_GUEST_AGENT(self));

    podvm_guest_agent_close(self);
    self->stream = g_object_ref(stream);
    self->cancellable = g_cancellable_new();
    podvm_qga_line_buffer_reset(&self->lines);
    start_read(self);
    next_request(self);
}

gboolean
podvm_guest_agent_connect(PodvmGuestAgent *self, const char *path, GError **error)
{
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocketConnection) connection = NULL;

    g_return_val_if_fail(PODVM_IS_GUEST_AGENT(self), FALSE);

    socket =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
    if (socket == NULL)
        return FALSE;
    /* QEMU listens on the socket podvmd bound: the connect does not wait. */
    g_socket_set_blocking(socket, FALSE);
    address = g_unix_socket_address_new(path);
    if (!g_socket_connect(socket, address, NULL, error)) {
        g_prefix_error(error, _("cannot connect to the guest agent's channel '%s': "), path);
        return FALSE;
    }
    connection = g_socket_connection_factory_create_connection(socket);
    podvm_guest_agent_open_stream(self, G_IO_STREAM(connection));
    return TRUE;
}

void
podvm_guest_agent_close(PodvmGuestAgent *self)
{
    g_return_if_fail(PODVM_IS_GUEST_AGENT(self));

    closed(self, _("closed by podvmd"));
}

gboolean
podvm_guest_agent_is_open(PodvmGuestAgent *self)
{
    g_return_val_if_fail(PODVM_IS_GUEST_AGENT(self), FALSE);

    return self->stream != NULL;
}

void
podvm_guest_agent_execute_async(PodvmGuestAgent *self, const char *command, JsonObject *arguments,
                                guint timeout_ms, gboolean no_reply, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(JsonObject) message = json_object_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;
    Request *request;

    g_return_if_fail(PODVM_IS_GUEST_AGENT(self));
    g_task_set_source_tag(task, podvm_guest_agent_execute_async);
    if (self->stream == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("the guest agent's channel is not connected"));
        return;
    }
    json_object_set_string_member(message, "execute", command);
    if (arguments != NULL)
        json_object_set_object_member(message, "arguments", json_object_ref(arguments));
    json_node_set_object(node, message);
    text = podvm_json_to_string(node, FALSE);
    request = g_new0(Request, 1);
    request->command = g_strdup(command);
    request->text = g_strconcat(text, "\n", NULL);
    request->timeout_ms = timeout_ms;
    request->no_reply = no_reply;
    request->task = g_steal_pointer(&task);
    g_queue_push_tail(&self->requests, request);
    next_request(self);
}

JsonNode *
podvm_guest_agent_execute_finish(PodvmGuestAgent *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- the object ----------------------------------------------------------------------------- */

PodvmGuestAgent *
podvm_guest_agent_new(const char *pod)
{
    PodvmGuestAgent *self = g_object_new(PODVM_TYPE_GUEST_AGENT, NULL);

    self->pod = g_strdup(pod);
    return self;
}

static void
podvm_guest_agent_dispose(GObject *object)
{
    PodvmGuestAgent *self = PODVM_GUEST_AGENT(object);

    closed(self, _("closed by podvmd"));
    G_OBJECT_CLASS(podvm_guest_agent_parent_class)->dispose(object);
}

static void
podvm_guest_agent_finalize(GObject *object)
{
    PodvmGuestAgent *self = PODVM_GUEST_AGENT(object);

    podvm_qga_line_buffer_clear(&self->lines);
    g_clear_pointer(&self->out, g_byte_array_unref);
    g_clear_pointer(&self->writing, g_bytes_unref);
    g_free(self->pod);
    G_OBJECT_CLASS(podvm_guest_agent_parent_class)->finalize(object);
}

static void
podvm_guest_agent_class_init(PodvmGuestAgentClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = podvm_guest_agent_dispose;
    object_class->finalize = podvm_guest_agent_finalize;
    signals[SIGNAL_CLOSED] = g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
podvm_guest_agent_init(PodvmGuestAgent *self)
{
    podvm_qga_line_buffer_init(&self->lines);
    g_queue_init(&self->requests);
    self->out = g_byte_array_new();
}
