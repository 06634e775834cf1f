/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP transport: greeting, capabilities, ids, the pending table, events.
 *
 * Input is framed by hand: reads land in a buffer that is split at '\n'; a
 * line may not grow past PODVM_QMP_MAX_LINE. Each line is checked to be
 * plain JSON no deeper than MAX_DEPTH (json-glib's parser is recursive and
 * also takes single-quoted strings and comments), then parsed with
 * json-glib.
 *
 * Output is a queue of lines written one at a time, in order. A line that
 * carries file descriptors goes out with one sendmsg() so that the
 * SCM_RIGHTS data sits on its first byte.
 *
 * Lifetime: pending commands (their GTask) and the handshake hold a
 * reference on the client. The long-lived read and any write in flight hold
 * only a weak reference, so dropping the last reference of an idle client
 * closes it. Every entry point from the main loop holds a reference while it
 * runs, because completing a task may run the caller's callback at once, and
 * that callback may unref or close the client.
 */
#include "podvm-qmp-client.h"

#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "podvm-json.h"

#define READ_CHUNK (64 * 1024)
/* QEMU's own JSON parser refuses input nested deeper than this. */
#define MAX_DEPTH 1024
/* A command without its own timer (qmp_capabilities, under the handshake's). */
#define NO_TIMEOUT G_MAXUINT
/* At most this many fds in one SCM_RIGHTS message (the kernel's SCM_MAX_FD). */
#define MAX_FDS 253
#define CONNECT_RETRY_FIRST_MS 10
#define CONNECT_RETRY_MAX_MS 200
/* Longest excerpt of an untrusted string (ids, parser errors) put in a log. */
#define LOG_EXCERPT 200

GQuark
podvm_qmp_error_quark(void)
{
    return g_quark_from_static_string("podvm-qmp-error-quark");
}

typedef enum {
    STATE_IDLE,
    STATE_CONNECTING,
    STATE_GREETING,
    STATE_NEGOTIATING,
    STATE_READY,
    STATE_CLOSED,
} State;

typedef struct _Command Command;

/* One line waiting in the write queue. */
typedef struct {
    char *data; /* owned: the JSON text and '\n' */
    gsize len;
    GUnixFDList *fds; /* owned, nullable */
    Command *cmd;     /* unowned: the command whose line this is */
} OutMsg;

struct _Command {
    PodvmQmpClient *client; /* unowned */
    GList order_link;       /* in client->pending_order; data = this */
    char *id;               /* owned; key in client->pending */
    char *name;             /* owned */
    guint timeout_ms;
    gint64 queued_us;
    GTask *task;             /* owned */
    GSource *timeout_source; /* owned, nullable */
    GSource *cancel_source;  /* owned, nullable */
    OutMsg *out;             /* unowned: set while the line waits in the queue */
    gboolean sent;           /* its line left the queue */
};

/* The read in flight; owns the buffer it reads into. */
typedef struct {
    GWeakRef client;
    guint8 *buffer;
} ReadOp;

/* The write in flight; owns the line. */
typedef struct {
    GWeakRef client;
    OutMsg *msg;
    gsize offset;
} WriteOp;

struct _PodvmQmpClient {
    GObject parent_instance;

    GMainContext *context; /* owned */
    State state;
    GCancellable *io_cancellable; /* owned; cancelled on close */

    /* Connecting to a path. */
    GSocketClient *socket_client; /* owned, nullable */
    char *socket_path;            /* owned, nullable */
    GError *connect_error;        /* owned, nullable: the last failed attempt */
    guint connect_delay_ms;
    GSource *retry_source; /* owned, nullable */

    GSocketConnection *connection; /* owned, nullable */
    GSocket *socket;               /* unowned, from connection */
    GInputStream *input;           /* unowned, from connection */
    GOutputStream *output;         /* unowned, from connection */

    GByteArray *inbuf; /* owned: bytes read and not yet handled */
    gsize scan_pos;    /* inbuf holds no '\n' before this */

    GQueue out_queue; /* OutMsg, owned, not yet written */
    gboolean writing; /* a WriteOp is in flight */

    GHashTable *pending;  /* id -> Command, owned through pending_order */
    GQueue pending_order; /* Command.order_link, oldest first */
    guint64 next_serial;

    GTask *handshake_task; /* owned, nullable */
    guint handshake_timeout_ms;
    GSource *handshake_timeout_source; /* owned, nullable */
    GSource *handshake_cancel_source;  /* owned, nullable */

    char *qemu_version; /* owned, nullable */
    char *qemu_package; /* owned, nullable */

    char *log_field; /* owned, nullable */
    char *log_value; /* owned, nullable */
};

G_DEFINE_TYPE(PodvmQmpClient, podvm_qmp_client, G_TYPE_OBJECT)

enum {
    SIGNAL_EVENT,
    SIGNAL_CLOSED,
    N_SIGNALS,
};

static guint signals[N_SIGNALS];

static const struct {
    PodvmQmpErrorCode code;
    const char *name;
} error_classes[] = {
    { PODVM_QMP_ERROR_GENERIC_ERROR, "GenericError" },
    { PODVM_QMP_ERROR_COMMAND_NOT_FOUND, "CommandNotFound" },
    { PODVM_QMP_ERROR_DEVICE_NOT_ACTIVE, "DeviceNotActive" },
    { PODVM_QMP_ERROR_DEVICE_NOT_FOUND, "DeviceNotFound" },
    { PODVM_QMP_ERROR_KVM_MISSING_CAP, "KVMMissingCap" },
};

static void close_with_reason(PodvmQmpClient *self, const GError *reason);
static void write_next(PodvmQmpClient *self);

/* ------------------------------------------------------------------------ */
/* Logging */

static const char *
log_priority(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_ERROR)
        return "3";
    if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        return "4";
    if (level & G_LOG_LEVEL_MESSAGE)
        return "5";
    if (level & G_LOG_LEVEL_INFO)
        return "6";
    return "7";
}

static void qmp_log(PodvmQmpClient *self, GLogLevelFlags level, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static void
qmp_log(PodvmQmpClient *self, GLogLevelFlags level, const char *format, ...)
{
    g_autofree char *text = NULL;
    g_autofree char *message = NULL;
    GLogField fields[4];
    gsize n_fields = 0;
    va_list args;

    /* Checked first: debug messages carry whole QMP lines. */
    if (g_log_writer_default_would_drop(level, G_LOG_DOMAIN))
        return;

    va_start(args, format);
    text = g_strdup_vprintf(format, args);
    va_end(args);
    if (self->log_value != NULL)
        message = g_strdup_printf("%s: %s", self->log_value, text);

    fields[n_fields++] = (GLogField){ "PRIORITY", log_priority(level), -1 };
    fields[n_fields++] = (GLogField){ "GLIB_DOMAIN", G_LOG_DOMAIN, -1 };
    fields[n_fields++] = (GLogField){ "MESSAGE", message != NULL ? message : text, -1 };
    if (self->log_field != NULL && self->log_value != NULL)
        fields[n_fields++] = (GLogField){ self->log_field, self->log_value, -1 };
    g_log_structured_array(level, fields, n_fields);
}

/* A printable excerpt of an untrusted string for a log line or an error. */
static char *
excerpt(const char *text)
{
    g_autofree char *head = g_strndup(text, LOG_EXCERPT);
    g_autofree char *escaped = g_strescape(head, NULL);

    if (strlen(text) > LOG_EXCERPT)
        return g_strconcat(escaped, "...", NULL);
    return g_steal_pointer(&escaped);
}

/* ------------------------------------------------------------------------ */
/* Small helpers */

static void
clear_source(GSource **source)
{
    if (*source == NULL)
        return;
    g_source_destroy(*source);
    g_clear_pointer(source, g_source_unref);
}

static GSource *
add_timeout(PodvmQmpClient *self, guint timeout_ms, GSourceFunc func, gpointer data)
{
    GSource *source = g_timeout_source_new(timeout_ms);

    g_source_set_callback(source, func, data, NULL);
    g_source_attach(source, self->context);
    return source;
}

static GSource *
add_cancel_watch(PodvmQmpClient *self, GCancellable *cancellable, GCancellableSourceFunc func,
                 gpointer data)
{
    GSource *source = g_cancellable_source_new(cancellable);

    g_source_set_callback(source, G_SOURCE_FUNC(func), data, NULL);
    g_source_attach(source, self->context);
    return source;
}

static JsonNode *
member(JsonObject *object, const char *name, JsonNodeType type)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

    return node != NULL && JSON_NODE_TYPE(node) == type ? node : NULL;
}

static JsonObject *
member_object(JsonObject *object, const char *name)
{
    JsonNode *node = member(object, name, JSON_NODE_OBJECT);

    return node != NULL ? json_node_get_object(node) : NULL;
}

static const char *
member_string(JsonObject *object, const char *name)
{
    JsonNode *node = member(object, name, JSON_NODE_VALUE);

    if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

static gboolean
member_int(JsonObject *object, const char *name, gint64 *out_value)
{
    JsonNode *node = member(object, name, JSON_NODE_VALUE);

    if (node == NULL || json_node_get_value_type(node) != G_TYPE_INT64)
        return FALSE;
    *out_value = json_node_get_int(node);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Errors */

const char *
podvm_qmp_error_class_name(const GError *error)
{
    if (error == NULL || error->domain != PODVM_QMP_ERROR)
        return NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(error_classes); i++) {
        if ((int)error_classes[i].code == error->code)
            return error_classes[i].name;
    }
    return NULL;
}

static GError *
error_from_reply(PodvmQmpClient *self, Command *cmd, JsonNode *node)
{
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *klass = member_string(object, "class");
    const char *desc = member_string(object, "desc");
    PodvmQmpErrorCode code = PODVM_QMP_ERROR_GENERIC_ERROR;
    gboolean known = FALSE;

    for (gsize i = 0; klass != NULL && i < G_N_ELEMENTS(error_classes); i++) {
        if (strcmp(klass, error_classes[i].name) == 0) {
            code = error_classes[i].code;
            known = TRUE;
        }
    }
    if (klass != NULL && !known) {
        g_autofree char *printable = excerpt(klass);
        qmp_log(self, G_LOG_LEVEL_DEBUG, "unknown QMP error class '%s' for '%s'", printable,
                cmd->name);
    }
    if (desc == NULL)
        return g_error_new(PODVM_QMP_ERROR, code,
                           "QEMU answered '%s' with an error that has no description", cmd->name);
    return g_error_new_literal(PODVM_QMP_ERROR, code, desc);
}

/* ------------------------------------------------------------------------ */
/* Commands */

static void
out_msg_free(OutMsg *msg)
{
    g_free(msg->data);
    g_clear_object(&msg->fds);
    g_free(msg);
}

/* Frees @cmd, which is in no table any more, and returns its task. */
static GTask *
command_free(Command *cmd)
{
    GTask *task = g_steal_pointer(&cmd->task);

    clear_source(&cmd->timeout_source);
    clear_source(&cmd->cancel_source);
    g_free(cmd->id);
    g_free(cmd->name);
    g_free(cmd);
    return task;
}

/* Takes @cmd out of the pending table and the write queue, frees it, completes its task with
 * a copy of @value, or with @error (consumed). May run the caller's callback. */
static void
command_complete(PodvmQmpClient *self, Command *cmd, JsonNode *value, GError *error)
{
    g_autoptr(GTask) task = NULL;

    g_hash_table_remove(self->pending, cmd->id);
    g_queue_unlink(&self->pending_order, &cmd->order_link);
    if (cmd->out != NULL) {
        g_queue_remove(&self->out_queue, cmd->out);
        out_msg_free(cmd->out);
        cmd->out = NULL;
    }
    task = command_free(cmd);
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, json_node_copy(value), (GDestroyNotify)json_node_unref);
}

static gboolean
command_timeout_cb(gpointer user_data)
{
    Command *cmd = user_data;
    g_autoptr(PodvmQmpClient) self = g_object_ref(cmd->client);
    GError *error =
        g_error_new(PODVM_QMP_ERROR, PODVM_QMP_ERROR_TIMEOUT,
                    "QMP command '%s' got no answer within %u ms", cmd->name, cmd->timeout_ms);

    qmp_log(self, G_LOG_LEVEL_MESSAGE, "%s (id '%s'); a late answer will be dropped",
            error->message, cmd->id);
    command_complete(self, cmd, NULL, error);
    return G_SOURCE_REMOVE;
}

static gboolean
command_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    Command *cmd = user_data;
    g_autoptr(PodvmQmpClient) self = g_object_ref(cmd->client);

    qmp_log(self, G_LOG_LEVEL_DEBUG, "QMP command '%s' (id '%s') cancelled%s", cmd->name, cmd->id,
            cmd->sent ? "; a late answer will be dropped" : " before it was sent");
    command_complete(
        self, cmd, NULL,
        g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "QMP command '%s' was cancelled", cmd->name));
    return G_SOURCE_REMOVE;
}

static char *
build_line(const char *id, const char *name, JsonObject *arguments, gsize *out_len)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    GString *line = g_string_new(NULL);

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "execute");
    json_builder_add_string_value(builder, name);
    if (arguments != NULL) {
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(node, arguments);
        json_builder_set_member_name(builder, "arguments");
        json_builder_add_value(builder, node);
    }
    json_builder_set_member_name(builder, "id");
    json_builder_add_string_value(builder, id);
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);

    /* QEMU refuses raw control characters in strings (json-glib writes U+001F raw). */
    podvm_json_append(line, root, FALSE);
    g_string_append_c(line, '\n');
    *out_len = line->len;
    return g_string_free(line, FALSE);
}

/* Queues @name; takes @task. */
static void
queue_command(PodvmQmpClient *self, const char *name, JsonObject *arguments, GUnixFDList *fds,
              guint timeout_ms, GCancellable *cancellable, GTask *task)
{
    Command *cmd = g_new0(Command, 1);
    OutMsg *msg = g_new0(OutMsg, 1);

    cmd->client = self;
    cmd->order_link.data = cmd;
    cmd->id = g_strdup_printf("podvm-%" G_GUINT64_FORMAT, self->next_serial++);
    cmd->name = g_strdup(name);
    cmd->timeout_ms = timeout_ms;
    cmd->queued_us = g_get_monotonic_time();
    cmd->task = task;
    cmd->out = msg;

    msg->data = build_line(cmd->id, name, arguments, &msg->len);
    msg->fds = fds != NULL && g_unix_fd_list_get_length(fds) > 0 ? g_object_ref(fds) : NULL;
    msg->cmd = cmd;

    g_hash_table_insert(self->pending, cmd->id, cmd);
    g_queue_push_tail_link(&self->pending_order, &cmd->order_link);
    g_queue_push_tail(&self->out_queue, msg);
    if (timeout_ms != NO_TIMEOUT)
        cmd->timeout_source = add_timeout(self, timeout_ms, command_timeout_cb, cmd);
    if (cancellable != NULL)
        cmd->cancel_source = add_cancel_watch(self, cancellable, command_cancelled_cb, cmd);

    qmp_log(self, G_LOG_LEVEL_DEBUG, ">>> %.*s%s", (int)(msg->len - 1), msg->data,
            msg->fds != NULL ? " (with file descriptors)" : "");
    write_next(self);
}

/* The oldest command whose line went out: the one an error without an id is about. */
static Command *
oldest_sent_command(PodvmQmpClient *self)
{
    for (GList *l = self->pending_order.head; l != NULL; l = l->next) {
        Command *cmd = l->data;

        if (cmd->sent)
            return cmd;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Closing */

static void
teardown_io(PodvmQmpClient *self)
{
    OutMsg *msg;

    g_cancellable_cancel(self->io_cancellable);
    clear_source(&self->retry_source);
    g_clear_object(&self->socket_client);
    if (self->connection != NULL) {
        /* Closing a socket does not block; the reads and writes in flight finish as
         * cancelled. */
        g_io_stream_close(G_IO_STREAM(self->connection), NULL, NULL);
        g_clear_object(&self->connection);
    }
    self->socket = NULL;
    self->input = NULL;
    self->output = NULL;
    while ((msg = g_queue_pop_head(&self->out_queue)) != NULL) {
        if (msg->cmd != NULL)
            msg->cmd->out = NULL;
        out_msg_free(msg);
    }
    self->writing = FALSE;
    g_byte_array_set_size(self->inbuf, 0);
    self->scan_pos = 0;
}

static GTask *
take_handshake(PodvmQmpClient *self)
{
    clear_source(&self->handshake_timeout_source);
    clear_source(&self->handshake_cancel_source);
    g_clear_pointer(&self->socket_path, g_free);
    g_clear_error(&self->connect_error);
    return g_steal_pointer(&self->handshake_task);
}

/*
 * Ends the connection: fails the handshake (with @reason) and every pending command (with
 * PODVM_QMP_ERROR_CLOSED), then emits "closed". Does nothing when already closed.
 */
static void
close_with_reason(PodvmQmpClient *self, const GError *reason)
{
    g_autoptr(PodvmQmpClient) hold = NULL;
    g_autoptr(GTask) handshake = NULL;
    GQueue commands = G_QUEUE_INIT;
    GList *l;

    if (self->state == STATE_CLOSED)
        return;
    hold = g_object_ref(self);
    self->state = STATE_CLOSED;

    teardown_io(self);
    handshake = take_handshake(self);
    commands = self->pending_order;
    g_queue_init(&self->pending_order);
    g_hash_table_remove_all(self->pending);

    /* The client is consistent now: callbacks below may call anything. */
    if (handshake != NULL)
        g_task_return_error(handshake, g_error_copy(reason));
    while ((l = g_queue_pop_head_link(&commands)) != NULL) {
        Command *cmd = l->data;
        g_autofree char *name = g_steal_pointer(&cmd->name);
        g_autoptr(GTask) task = command_free(cmd);

        g_task_return_new_error(task, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED,
                                "QMP connection closed before '%s' got an answer: %s", name,
                                reason->message);
    }
    g_signal_emit(self, signals[SIGNAL_CLOSED], 0, reason);
}

static void protocol_error(PodvmQmpClient *self, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
protocol_error(PodvmQmpClient *self, const char *format, ...)
{
    g_autoptr(GError) error = NULL;
    va_list args;

    va_start(args, format);
    error = g_error_new_valist(PODVM_QMP_ERROR, PODVM_QMP_ERROR_PROTOCOL, format, args);
    va_end(args);
    qmp_log(self, G_LOG_LEVEL_MESSAGE, "closing the QMP connection: %s", error->message);
    close_with_reason(self, error);
}

static void
peer_closed(PodvmQmpClient *self)
{
    g_autoptr(GError) reason = g_error_new_literal(PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED,
                                                   "QEMU closed the QMP connection");

    qmp_log(self, G_LOG_LEVEL_DEBUG, "%s", reason->message);
    close_with_reason(self, reason);
}

static void
io_failed(PodvmQmpClient *self, const char *what, const GError *error)
{
    g_autoptr(GError) reason = NULL;

    /* ECONNRESET and EPIPE: QEMU went away (it resets the socket when it quits). */
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
        peer_closed(self);
        return;
    }
    reason = g_error_new(PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED, "%s the QMP socket failed: %s",
                         what, error->message);
    qmp_log(self, G_LOG_LEVEL_MESSAGE, "closing the QMP connection: %s", reason->message);
    close_with_reason(self, reason);
}

/* ------------------------------------------------------------------------ */
/* Writing */

static void
write_op_free(WriteOp *op)
{
    g_weak_ref_clear(&op->client);
    g_clear_pointer(&op->msg, out_msg_free);
    g_free(op);
}

static void
write_done(PodvmQmpClient *self, WriteOp *op)
{
    write_op_free(op);
    self->writing = FALSE;
}

static void
write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    WriteOp *op = user_data;
    g_autoptr(PodvmQmpClient) self = g_weak_ref_get(&op->client);
    g_autoptr(GError) error = NULL;
    gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error);

    if (self == NULL || self->state == STATE_CLOSED) {
        write_op_free(op);
        return;
    }
    if (!ok) {
        write_op_free(op);
        io_failed(self, "writing to", error);
        return;
    }
    write_done(self, op);
    write_next(self);
}

static void
write_rest(PodvmQmpClient *self, WriteOp *op)
{
    g_output_stream_write_all_async(self->output, op->msg->data + op->offset,
                                    op->msg->len - op->offset, G_PRIORITY_DEFAULT,
                                    self->io_cancellable, write_cb, op);
}

static void send_with_fds(PodvmQmpClient *self, WriteOp *op);

static gboolean
socket_writable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    WriteOp *op = user_data;
    g_autoptr(PodvmQmpClient) self = g_weak_ref_get(&op->client);

    if (self == NULL || self->state == STATE_CLOSED) {
        write_op_free(op);
        return G_SOURCE_REMOVE;
    }
    send_with_fds(self, op);
    write_next(self);
    return G_SOURCE_REMOVE;
}

/*
 * Sends the whole line with one sendmsg() carrying the fds, so that they arrive with its
 * first byte. Whatever the socket did not take goes out as a plain write.
 */
static void
send_with_fds(PodvmQmpClient *self, WriteOp *op)
{
    g_autoptr(GSocketControlMessage) message = g_unix_fd_message_new_with_fd_list(op->msg->fds);
    GOutputVector vector = { op->msg->data, op->msg->len };
    g_autoptr(GError) error = NULL;
    gsize written = 0;
    GPollableReturn ret;

    ret = g_socket_send_message_with_timeout(self->socket, NULL, &vector, 1, &message, 1,
                                             G_SOCKET_MSG_NONE, 0, &written, self->io_cancellable,
                                             &error);
    if (ret == G_POLLABLE_RETURN_OK) {
        qmp_log(self, G_LOG_LEVEL_DEBUG,
                "sent %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes with file descriptors",
                written, op->msg->len);
        g_clear_object(&op->msg->fds);
        op->offset = written;
        if (op->offset < op->msg->len)
            write_rest(self, op);
        else
            write_done(self, op);
    } else if (ret == G_POLLABLE_RETURN_WOULD_BLOCK) {
        g_autoptr(GSource) source =
            g_socket_create_source(self->socket, G_IO_OUT, self->io_cancellable);

        qmp_log(self, G_LOG_LEVEL_DEBUG, "QMP socket full; waiting to send file descriptors");
        g_source_set_callback(source, G_SOURCE_FUNC(socket_writable_cb), op, NULL);
        g_source_attach(source, self->context);
    } else {
        write_op_free(op);
        io_failed(self, "sending file descriptors over", error);
    }
}

static void
write_next(PodvmQmpClient *self)
{
    while (!self->writing && self->state != STATE_CLOSED && !g_queue_is_empty(&self->out_queue)) {
        OutMsg *msg = g_queue_pop_head(&self->out_queue);
        WriteOp *op = g_new0(WriteOp, 1);

        if (msg->cmd != NULL) {
            msg->cmd->out = NULL;
            msg->cmd->sent = TRUE;
            msg->cmd = NULL;
        }
        g_weak_ref_init(&op->client, self);
        op->msg = msg;
        self->writing = TRUE;
        if (msg->fds != NULL)
            send_with_fds(self, op);
        else
            write_rest(self, op);
    }
}

/* ------------------------------------------------------------------------ */
/* Handshake */

static void
capabilities_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmQmpClient *self = PODVM_QMP_CLIENT(source);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = g_task_propagate_pointer(G_TASK(result), &error);
    g_autoptr(GTask) task = NULL;

    if (self->state != STATE_NEGOTIATING)
        return;
    if (node == NULL) {
        g_prefix_error(&error, "QEMU refused QMP capabilities negotiation: ");
        qmp_log(self, G_LOG_LEVEL_MESSAGE, "%s", error->message);
        close_with_reason(self, error);
        return;
    }
    self->state = STATE_READY;
    task = take_handshake(self);
    qmp_log(self, G_LOG_LEVEL_DEBUG, "QMP connected to QEMU %s (%s)", self->qemu_version,
            self->qemu_package);
    if (task != NULL)
        g_task_return_boolean(task, TRUE);
}

static void
handle_greeting(PodvmQmpClient *self, JsonObject *message)
{
    JsonObject *qmp = member_object(message, "QMP");
    JsonObject *version = member_object(qmp, "version");
    JsonObject *qemu = member_object(version, "qemu");
    const char *package = member_string(version, "package");
    gint64 major, minor, micro;
    GTask *task;

    if (self->state != STATE_GREETING) {
        qmp_log(self, G_LOG_LEVEL_MESSAGE, "dropping a second QMP greeting");
        return;
    }
    if (!member_int(qemu, "major", &major) || !member_int(qemu, "minor", &minor) ||
        !member_int(qemu, "micro", &micro)) {
        protocol_error(self, "QEMU sent a QMP greeting without a version");
        return;
    }
    self->qemu_version = g_strdup_printf(
        "%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT, major, minor, micro);
    self->qemu_package = g_strdup(package != NULL ? package : "");
    self->state = STATE_NEGOTIATING;

    task = g_task_new(self, NULL, capabilities_cb, NULL);
    g_task_set_source_tag(task, capabilities_cb);
    queue_command(self, "qmp_capabilities", NULL, NULL, NO_TIMEOUT, NULL, task);
}

static gboolean
handshake_timeout_cb(gpointer user_data)
{
    g_autoptr(PodvmQmpClient) self = g_object_ref(user_data);
    g_autoptr(GError) error = NULL;

    if (self->state == STATE_CONNECTING && self->connect_error != NULL) {
        error = g_error_new(self->connect_error->domain, self->connect_error->code,
                            "cannot connect to QMP socket '%s' within %u ms: %s", self->socket_path,
                            self->handshake_timeout_ms, self->connect_error->message);
    } else {
        const char *step = self->state == STATE_CONNECTING ? "connecting"
                           : self->state == STATE_GREETING ? "waiting for the greeting"
                                                           : "negotiating capabilities";

        error = g_error_new(PODVM_QMP_ERROR, PODVM_QMP_ERROR_TIMEOUT,
                            "QMP handshake did not complete within %u ms (%s)",
                            self->handshake_timeout_ms, step);
    }
    qmp_log(self, G_LOG_LEVEL_MESSAGE, "%s", error->message);
    close_with_reason(self, error);
    return G_SOURCE_REMOVE;
}

static gboolean
handshake_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    g_autoptr(PodvmQmpClient) self = g_object_ref(user_data);
    g_autoptr(GError) error =
        g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "QMP handshake was cancelled");

    close_with_reason(self, error);
    return G_SOURCE_REMOVE;
}

/* Takes @task as the handshake's if the client is fresh; otherwise fails it. */
static gboolean
begin_handshake(PodvmQmpClient *self, GTask *task, guint timeout_ms, GCancellable *cancellable)
{
    if (g_task_return_error_if_cancelled(task))
        return FALSE;
    if (self->state == STATE_CLOSED) {
        g_task_return_new_error(task, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED,
                                "this QMP client is closed; use a new one");
        return FALSE;
    }
    if (self->state != STATE_IDLE) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_PENDING,
                                "this QMP client is already connecting or connected");
        return FALSE;
    }
    self->handshake_task = g_object_ref(task);
    self->handshake_timeout_ms = timeout_ms != 0 ? timeout_ms : PODVM_QMP_TIMEOUT_DEFAULT;
    self->handshake_timeout_source =
        add_timeout(self, self->handshake_timeout_ms, handshake_timeout_cb, self);
    if (cancellable != NULL)
        self->handshake_cancel_source =
            add_cancel_watch(self, cancellable, handshake_cancelled_cb, self);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Reading */

static void
dispatch_event(PodvmQmpClient *self, JsonObject *message)
{
    const char *name = member_string(message, "event");
    JsonObject *data = member_object(message, "data");
    JsonObject *timestamp = member_object(message, "timestamp");
    gint64 seconds, microseconds, timestamp_us = 0;

    if (name == NULL) {
        qmp_log(self, G_LOG_LEVEL_MESSAGE, "dropping a QMP event without a name");
        return;
    }
    if (member_int(timestamp, "seconds", &seconds) &&
        member_int(timestamp, "microseconds", &microseconds) && seconds >= 0 &&
        seconds < G_MAXINT64 / G_USEC_PER_SEC - 1 && microseconds >= 0 &&
        microseconds < G_USEC_PER_SEC)
        timestamp_us = seconds * G_USEC_PER_SEC + microseconds;

    /* g_quark_try_string: untrusted names must not grow the quark table. */
    g_signal_emit(self, signals[SIGNAL_EVENT], g_quark_try_string(name), name, data, timestamp_us);
}

static void
drop_reply(PodvmQmpClient *self, JsonNode *id_node)
{
    const char *id =
        JSON_NODE_HOLDS_VALUE(id_node) && json_node_get_value_type(id_node) == G_TYPE_STRING
            ? json_node_get_string(id_node)
            : NULL;
    g_autofree char *printable = NULL;
    guint64 serial;

    if (id == NULL) {
        qmp_log(self, G_LOG_LEVEL_MESSAGE,
                "dropping a QMP reply with an unknown id (not a string)");
        return;
    }
    printable = excerpt(id);
    if (g_str_has_prefix(id, "podvm-") &&
        g_ascii_string_to_unsigned(id + strlen("podvm-"), 10, 0, G_MAXUINT64, &serial, NULL) &&
        serial < self->next_serial)
        qmp_log(self, G_LOG_LEVEL_MESSAGE,
                "dropping a late QMP reply to id '%s' (the command timed out or was cancelled)",
                printable);
    else
        qmp_log(self, G_LOG_LEVEL_MESSAGE, "dropping a QMP reply with unknown id '%s'", printable);
}

static void
dispatch_reply(PodvmQmpClient *self, JsonObject *message)
{
    JsonNode *id_node = json_object_get_member(message, "id");
    JsonNode *error_node = json_object_get_member(message, "error");
    Command *cmd = NULL;

    if (id_node != NULL) {
        const char *id = member_string(message, "id");

        cmd = id != NULL ? g_hash_table_lookup(self->pending, id) : NULL;
        if (cmd == NULL) {
            drop_reply(self, id_node);
            return;
        }
    } else if (error_node != NULL) {
        /* QEMU could not read a command (a JSON error): that is the oldest one. */
        cmd = oldest_sent_command(self);
        if (cmd == NULL) {
            qmp_log(self, G_LOG_LEVEL_MESSAGE,
                    "dropping a QMP error without an id: no command is waiting");
            return;
        }
    } else {
        qmp_log(self, G_LOG_LEVEL_MESSAGE, "dropping a QMP reply without an id");
        return;
    }

    qmp_log(self, G_LOG_LEVEL_DEBUG, "'%s' (id '%s') answered after %" G_GINT64_FORMAT " ms",
            cmd->name, cmd->id, (g_get_monotonic_time() - cmd->queued_us) / 1000);
    if (error_node != NULL)
        command_complete(self, cmd, NULL, error_from_reply(self, cmd, error_node));
    else
        command_complete(self, cmd, json_object_get_member(message, "return"), NULL);
}

static void
dispatch(PodvmQmpClient *self, JsonObject *message)
{
    if (json_object_has_member(message, "QMP")) {
        handle_greeting(self, message);
    } else if (self->state == STATE_GREETING) {
        protocol_error(self, "QEMU sent a QMP message before the greeting");
    } else if (json_object_has_member(message, "event")) {
        dispatch_event(self, message);
    } else if (json_object_has_member(message, "return") ||
               json_object_has_member(message, "error")) {
        dispatch_reply(self, message);
    } else {
        qmp_log(self, G_LOG_LEVEL_MESSAGE,
                "dropping a QMP message that is no reply, error or event");
    }
}

/* The value of four hex digits at @at, or -1. */
static gint
hex4(const char *data, gsize len, gsize at)
{
    gint value = 0;

    if (at + 4 > len)
        return -1;
    for (gsize k = at; k < at + 4; k++) {
        if (!g_ascii_isxdigit(data[k]))
            return -1;
        value = value * 16 + g_ascii_xdigit_value(data[k]);
    }
    return value;
}

/* At the backslash of a \\uXXXX escape: checks it (a surrogate comes in a pair) and moves *i
 * to its last character. */
static gboolean
check_unicode_escape(const char *data, gsize len, gsize *i)
{
    gint unit = hex4(data, len, *i + 2);
    gint low;

    if (unit < 0 || (unit >= 0xdc00 && unit <= 0xdfff))
        return FALSE;
    if (unit < 0xd800 || unit > 0xdbff) {
        *i += 5;
        return TRUE;
    }
    if (*i + 7 >= len || data[*i + 6] != '\\' || data[*i + 7] != 'u')
        return FALSE;
    low = hex4(data, len, *i + 8);
    if (low < 0xdc00 || low > 0xdfff)
        return FALSE;
    *i += 11;
    return TRUE;
}

/*
 * Checks that a line is plain JSON text (double-quoted strings, no comments, nothing but
 * numbers and literals between the punctuation), one value, nested at most MAX_DEPTH deep.
 * That keeps json-glib's recursive parser safe and its extensions out.
 */
static gboolean
check_plain_json(const char *data, gsize len, const char **out_reason)
{
    guint depth = 0;
    gboolean in_string = FALSE, escaped = FALSE, ended = FALSE;

    for (gsize i = 0; i < len; i++) {
        char c = data[i];

        if (in_string) {
            if (escaped) {
                escaped = FALSE;
            } else if (c == '\\' && i + 1 < len && data[i + 1] == 'u') {
                /* json-glib turns unpaired surrogates into bytes that are not UTF-8. */
                if (!check_unicode_escape(data, len, &i)) {
                    *out_reason = "an unpaired UTF-16 surrogate or a bad \\u escape";
                    return FALSE;
                }
            } else if (c == '\\') {
                escaped = TRUE;
            } else if (c == '"') {
                in_string = FALSE;
            }
            continue;
        }
        if (ended && !g_ascii_isspace(c)) {
            *out_reason = "more than one JSON value on a line";
            return FALSE;
        }
        /* json-glib takes a value before an object ("1 {...}") and leaks the object. */
        if (depth == 0 && !ended && c != '{' && !g_ascii_isspace(c)) {
            *out_reason = "a line that is not a JSON object";
            return FALSE;
        }
        switch (c) {
        case '"':
            in_string = TRUE;
            break;
        case '{':
        case '[':
            if (++depth > MAX_DEPTH) {
                *out_reason = "JSON nested too deep";
                return FALSE;
            }
            break;
        case '}':
        case ']':
            if (depth == 0) {
                *out_reason = "unbalanced brackets";
                return FALSE;
            }
            if (--depth == 0)
                ended = TRUE;
            break;
        case ',':
        case ':':
        case '-':
        case '+':
        case '.':
            break;
        default:
            if (!g_ascii_isalnum(c) && !g_ascii_isspace(c)) {
                *out_reason = "a character that is not JSON outside strings";
                return FALSE;
            }
        }
    }
    return TRUE;
}

static void
handle_line(PodvmQmpClient *self, const char *line, gsize len)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) error = NULL;
    const char *reason = NULL;
    JsonNode *root;

    while (len > 0 && g_ascii_isspace(line[len - 1]))
        len--;
    while (len > 0 && g_ascii_isspace(line[0])) {
        line++;
        len--;
    }
    if (len == 0)
        return;
    if (!g_utf8_validate_len(line, len, NULL)) {
        protocol_error(self, "QEMU sent a QMP line that is not UTF-8 text");
        return;
    }
    if (!check_plain_json(line, len, &reason)) {
        protocol_error(self, "QEMU sent a QMP line that is not plain JSON: %s", reason);
        return;
    }
    qmp_log(self, G_LOG_LEVEL_DEBUG, "<<< %.*s", (int)len, line);

    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, line, (gssize)len, &error)) {
        g_autofree char *printable = excerpt(error->message);

        protocol_error(self, "QEMU sent a QMP line that is not JSON: %s", printable);
        return;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        protocol_error(self, "QEMU sent a QMP line that is not a JSON object");
        return;
    }
    dispatch(self, json_node_get_object(root));
}

/* Handles every complete line in inbuf. Stops when a line closes the client. */
static void
process_input(PodvmQmpClient *self)
{
    gsize start = 0;
    gsize longest = 0;

    while (self->state != STATE_CLOSED) {
        const guint8 *data = self->inbuf->data;
        gsize len = self->inbuf->len;
        const guint8 *newline = NULL;
        gsize line_len;

        if (self->scan_pos < len)
            newline = memchr(data + self->scan_pos, '\n', len - self->scan_pos);
        if (newline == NULL) {
            self->scan_pos = len;
            if (len - start > PODVM_QMP_MAX_LINE)
                protocol_error(self, "QEMU sent a QMP line longer than %u bytes",
                               (guint)PODVM_QMP_MAX_LINE);
            break;
        }
        line_len = (gsize)(newline - data) - start;
        self->scan_pos = (gsize)(newline - data) + 1;
        if (line_len > PODVM_QMP_MAX_LINE) {
            protocol_error(self, "QEMU sent a QMP line longer than %u bytes",
                           (guint)PODVM_QMP_MAX_LINE);
            break;
        }
        longest = MAX(longest, line_len);
        /* May run callbacks that close the client (which empties inbuf). */
        handle_line(self, (const char *)data + start, line_len);
        start = self->scan_pos;
    }
    if (self->state == STATE_CLOSED)
        return;

    if (start > 0) {
        g_byte_array_remove_range(self->inbuf, 0, (guint)start);
        self->scan_pos -= start;
    }
    /* Give back the memory of a huge line once it is handled. */
    if (longest > 4 * READ_CHUNK && self->inbuf->len < READ_CHUNK) {
        GByteArray *fresh = g_byte_array_sized_new(READ_CHUNK);

        g_byte_array_append(fresh, self->inbuf->data, self->inbuf->len);
        g_byte_array_unref(self->inbuf);
        self->inbuf = fresh;
    }
}

static void
read_op_free(ReadOp *op)
{
    g_weak_ref_clear(&op->client);
    g_free(op->buffer);
    g_free(op);
}

static void read_next(PodvmQmpClient *self, ReadOp *op);

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ReadOp *op = user_data;
    g_autoptr(PodvmQmpClient) self = g_weak_ref_get(&op->client);
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (self == NULL || self->state == STATE_CLOSED) {
        read_op_free(op);
        return;
    }
    if (n < 0) {
        read_op_free(op);
        io_failed(self, "reading from", error);
        return;
    }
    if (n == 0) {
        read_op_free(op);
        peer_closed(self);
        return;
    }
    g_byte_array_append(self->inbuf, op->buffer, (guint)n);
    process_input(self);
    if (self->state == STATE_CLOSED) {
        read_op_free(op);
        return;
    }
    read_next(self, op);
}

static void
read_next(PodvmQmpClient *self, ReadOp *op)
{
    g_input_stream_read_async(self->input, op->buffer, READ_CHUNK, G_PRIORITY_DEFAULT,
                              self->io_cancellable, read_cb, op);
}

static void
start_session(PodvmQmpClient *self, GSocketConnection *connection)
{
    ReadOp *op = g_new0(ReadOp, 1);

    self->connection = g_object_ref(connection);
    self->socket = g_socket_connection_get_socket(connection);
    self->input = g_io_stream_get_input_stream(G_IO_STREAM(connection));
    self->output = g_io_stream_get_output_stream(G_IO_STREAM(connection));
    self->state = STATE_GREETING;

    g_weak_ref_init(&op->client, self);
    op->buffer = g_malloc(READ_CHUNK);
    read_next(self, op);
}

/* ------------------------------------------------------------------------ */
/* Connecting */

static void try_connect(PodvmQmpClient *self);

static gboolean
retry_connect_cb(gpointer user_data)
{
    PodvmQmpClient *self = user_data;

    clear_source(&self->retry_source);
    try_connect(self);
    return G_SOURCE_REMOVE;
}

static void
connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmQmpClient) self = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) connection =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

    if (self->state != STATE_CONNECTING) {
        if (connection != NULL)
            g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
        return;
    }
    if (connection == NULL) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
            /* QEMU has not created or is not yet listening on its socket. */
            g_clear_error(&self->connect_error);
            self->connect_error = g_steal_pointer(&error);
            self->retry_source = add_timeout(self, self->connect_delay_ms, retry_connect_cb, self);
            self->connect_delay_ms = MIN(self->connect_delay_ms * 2, CONNECT_RETRY_MAX_MS);
            return;
        }
        g_prefix_error(&error, "cannot connect to QMP socket '%s': ", self->socket_path);
        qmp_log(self, G_LOG_LEVEL_MESSAGE, "%s", error->message);
        close_with_reason(self, error);
        return;
    }
    g_clear_object(&self->socket_client);
    g_clear_error(&self->connect_error);
    start_session(self, connection);
}

static void
try_connect(PodvmQmpClient *self)
{
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(self->socket_path);

    if (self->socket_client == NULL) {
        self->socket_client = g_socket_client_new();
        g_socket_client_set_enable_proxy(self->socket_client, FALSE);
    }
    g_socket_client_connect_async(self->socket_client, G_SOCKET_CONNECTABLE(address),
                                  self->io_cancellable, connect_cb, g_object_ref(self));
}

/* ------------------------------------------------------------------------ */
/* Public API */

void
podvm_qmp_client_connect_async(PodvmQmpClient *self, const char *socket_path, guint timeout_ms,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_return_if_fail(PODVM_IS_QMP_CLIENT(self));
    g_return_if_fail(socket_path != NULL);
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_qmp_client_connect_async);
    if (!begin_handshake(self, task, timeout_ms, cancellable))
        return;
    self->state = STATE_CONNECTING;
    self->socket_path = g_strdup(socket_path);
    self->connect_delay_ms = CONNECT_RETRY_FIRST_MS;
    try_connect(self);
}

gboolean
podvm_qmp_client_connect_finish(PodvmQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_qmp_client_connect_async,
                         FALSE);

    return g_task_propagate_boolean(G_TASK(result), error);
}

void
podvm_qmp_client_handshake_async(PodvmQmpClient *self, GSocketConnection *connection,
                                 guint timeout_ms, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_return_if_fail(PODVM_IS_QMP_CLIENT(self));
    g_return_if_fail(G_IS_SOCKET_CONNECTION(connection));
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_qmp_client_handshake_async);
    if (!begin_handshake(self, task, timeout_ms, cancellable))
        return;
    start_session(self, connection);
}

gboolean
podvm_qmp_client_handshake_finish(PodvmQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_qmp_client_handshake_async,
                         FALSE);

    return g_task_propagate_boolean(G_TASK(result), error);
}

void
podvm_qmp_client_execute_async(PodvmQmpClient *self, const char *command, JsonObject *arguments,
                               GUnixFDList *fds, guint timeout_ms, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_return_if_fail(PODVM_IS_QMP_CLIENT(self));
    g_return_if_fail(command != NULL && *command != '\0');
    g_return_if_fail(fds == NULL || G_IS_UNIX_FD_LIST(fds));
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_qmp_client_execute_async);
    if (g_task_return_error_if_cancelled(task))
        return;
    if (self->state == STATE_CLOSED) {
        g_task_return_new_error(task, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED,
                                "the QMP connection is closed; cannot run '%s'", command);
        return;
    }
    if (self->state != STATE_READY) {
        g_task_return_new_error(task, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED,
                                "the QMP connection is not open yet; cannot run '%s'", command);
        return;
    }
    if (fds != NULL && g_unix_fd_list_get_length(fds) > MAX_FDS) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                "cannot pass %d file descriptors with '%s'; at most %d",
                                g_unix_fd_list_get_length(fds), command, MAX_FDS);
        return;
    }
    if (fds != NULL && g_unix_fd_list_get_length(fds) > 0 &&
        g_socket_get_family(self->socket) != G_SOCKET_FAMILY_UNIX) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                "cannot pass file descriptors with '%s' over a socket that is "
                                "not a unix socket",
                                command);
        return;
    }
    queue_command(self, command, arguments, fds,
                  timeout_ms != 0 ? timeout_ms : PODVM_QMP_TIMEOUT_DEFAULT, cancellable,
                  g_steal_pointer(&task));
}

JsonNode *
podvm_qmp_client_execute_finish(PodvmQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_qmp_client_execute_async,
                         NULL);

    return g_task_propagate_pointer(G_TASK(result), error);
}

void
podvm_qmp_client_close(PodvmQmpClient *self)
{
    g_autoptr(GError) reason = NULL;

    g_return_if_fail(PODVM_IS_QMP_CLIENT(self));

    if (self->state == STATE_CLOSED)
        return;
    reason = g_error_new_literal(PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED,
                                 "the QMP connection was closed on request");
    qmp_log(self, G_LOG_LEVEL_DEBUG, "%s", reason->message);
    close_with_reason(self, reason);
}

gboolean
podvm_qmp_client_is_connected(PodvmQmpClient *self)
{
    g_return_val_if_fail(PODVM_IS_QMP_CLIENT(self), FALSE);

    return self->state == STATE_READY;
}

const char *
podvm_qmp_client_get_qemu_version(PodvmQmpClient *self)
{
    g_return_val_if_fail(PODVM_IS_QMP_CLIENT(self), NULL);

    return self->qemu_version;
}

const char *
podvm_qmp_client_get_qemu_package(PodvmQmpClient *self)
{
    g_return_val_if_fail(PODVM_IS_QMP_CLIENT(self), NULL);

    return self->qemu_package;
}

void
podvm_qmp_client_set_log_field(PodvmQmpClient *self, const char *field, const char *value)
{
    g_return_if_fail(PODVM_IS_QMP_CLIENT(self));
    g_return_if_fail(field != NULL && *field != '\0');

    g_free(self->log_field);
    g_free(self->log_value);
    self->log_field = value != NULL ? g_strdup(field) : NULL;
    self->log_value = g_strdup(value);
}

PodvmQmpClient *
podvm_qmp_client_new(void)
{
    return g_object_new(PODVM_TYPE_QMP_CLIENT, NULL);
}

/* ------------------------------------------------------------------------ */
/* GObject */

static void
podvm_qmp_client_dispose(GObject *object)
{
    PodvmQmpClient *self = PODVM_QMP_CLIENT(object);

    /* Pending commands and the handshake hold references, so there are none here: just
     * drop the connection, without "closed" (nobody holds the client any more). */
    if (self->state != STATE_CLOSED) {
        self->state = STATE_CLOSED;
        teardown_io(self);
    }
    clear_source(&self->handshake_timeout_source);
    clear_source(&self->handshake_cancel_source);

    G_OBJECT_CLASS(podvm_qmp_client_parent_class)->dispose(object);
}

static void
podvm_qmp_client_finalize(GObject *object)
{
    PodvmQmpClient *self = PODVM_QMP_CLIENT(object);

    g_warn_if_fail(g_hash_table_size(self->pending) == 0);
    g_hash_table_unref(self->pending);
    g_byte_array_unref(self->inbuf);
    g_clear_object(&self->io_cancellable);
    g_clear_object(&self->handshake_task);
    g_clear_error(&self->connect_error);
    g_free(self->socket_path);
    g_free(self->qemu_version);
    g_free(self->qemu_package);
    g_free(self->log_field);
    g_free(self->log_value);
    g_main_context_unref(self->context);

    G_OBJECT_CLASS(podvm_qmp_client_parent_class)->finalize(object);
}

static void
podvm_qmp_client_class_init(PodvmQmpClientClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = podvm_qmp_client_dispose;
    object_class->finalize = podvm_qmp_client_finalize;

    signals[SIGNAL_EVENT] =
        g_signal_new("event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0,
                     NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                     JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_INT64);
    signals[SIGNAL_CLOSED] =
        g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
podvm_qmp_client_init(PodvmQmpClient *self)
{
    self->context = g_main_context_ref_thread_default();
    self->io_cancellable = g_cancellable_new();
    self->inbuf = g_byte_array_sized_new(READ_CHUNK);
    self->pending = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&self->out_queue);
    g_queue_init(&self->pending_order);
    self->next_serial = 1;
}
