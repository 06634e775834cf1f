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
#include "podvm-qmp-client-private.h"

#include <gio/gunixfdmessage.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "podvm-json.h"

GQuark
podvm_qmp_error_quark(void)
{
    return g_quark_from_static_string("podvm-qmp-error-quark");
}

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

void
qmp_client_log(PodvmQmpClient *self, GLogLevelFlags level, const char *format, ...)
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
char *
qmp_client_excerpt(const char *text)
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
        g_autofree char *printable = qmp_client_excerpt(klass);
        qmp_client_log(self, G_LOG_LEVEL_DEBUG, "unknown QMP error class '%s' for '%s'", printable,
                       cmd->name);
    }
    if (desc == NULL)
        return g_error_new(PODVM_QMP_ERROR, code,
                           "QEMU answered '%s' with an error that has no description", cmd->name);
    return g_error_new_literal(PODVM_QMP_ERROR, code, desc);
}

/* ------------------------------------------------------------------------ */
/* Commands */

void
qmp_client_out_msg_free(OutMsg *msg)
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
        qmp_client_out_msg_free(cmd->out);
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

    qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "%s (id '%s'); a late answer will be dropped",
                   error->message, cmd->id);
    command_complete(self, cmd, NULL, error);
    return G_SOURCE_REMOVE;
}

static gboolean
command_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    Command *cmd = user_data;
    g_autoptr(PodvmQmpClient) self = g_object_ref(cmd->client);

    qmp_client_log(self, G_LOG_LEVEL_DEBUG, "QMP command '%s' (id '%s') cancelled%s", cmd->name,
                   cmd->id, cmd->sent ? "; a late answer will be dropped" : " before it was sent");
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

    qmp_client_log(self, G_LOG_LEVEL_DEBUG, ">>> %.*s%s", (int)(msg->len - 1), msg->data,
                   msg->fds != NULL ? " (with file descriptors)" : "");
    qmp_client_write_next(self);
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
        qmp_client_out_msg_free(msg);
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

void
qmp_client_protocol_error(PodvmQmpClient *self, const char *format, ...)
{
    g_autoptr(GError) error = NULL;
    va_list args;

    va_start(args, format);
    error = g_error_new_valist(PODVM_QMP_ERROR, PODVM_QMP_ERROR_PROTOCOL, format, args);
    va_end(args);
    qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "closing the QMP connection: %s", error->message);
    close_with_reason(self, error);
}

void
qmp_client_peer_closed(PodvmQmpClient *self)
{
    g_autoptr(GError) reason = g_error_new_literal(PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED,
                                                   "QEMU closed the QMP connection");

    qmp_client_log(self, G_LOG_LEVEL_DEBUG, "%s", reason->message);
    close_with_reason(self, reason);
}

void
qmp_client_io_failed(PodvmQmpClient *self, const char *what, const GError *error)
{
    g_autoptr(GError) reason = NULL;

    /* ECONNRESET and EPIPE: QEMU went away (it resets the socket when it quits). */
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)) {
        qmp_client_peer_closed(self);
        return;
    }
    reason = g_error_new(PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED, "%s the QMP socket failed: %s",
                         what, error->message);
    qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "closing the QMP connection: %s", reason->message);
    close_with_reason(self, reason);
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
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "%s", error->message);
        close_with_reason(self, error);
        return;
    }
    self->state = STATE_READY;
    task = take_handshake(self);
    qmp_client_log(self, G_LOG_LEVEL_DEBUG, "QMP connected to QEMU %s (%s)", self->qemu_version,
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
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "dropping a second QMP greeting");
        return;
    }
    if (!member_int(qemu, "major", &major) || !member_int(qemu, "minor", &minor) ||
        !member_int(qemu, "micro", &micro)) {
        qmp_client_protocol_error(self, "QEMU sent a QMP greeting without a version");
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
    qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "%s", error->message);
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
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "dropping a QMP event without a name");
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
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE,
                       "dropping a QMP reply with an unknown id (not a string)");
        return;
    }
    printable = qmp_client_excerpt(id);
    if (g_str_has_prefix(id, "podvm-") &&
        g_ascii_string_to_unsigned(id + strlen("podvm-"), 10, 0, G_MAXUINT64, &serial, NULL) &&
        serial < self->next_serial)
        qmp_client_log(
            self, G_LOG_LEVEL_MESSAGE,
            "dropping a late QMP reply to id '%s' (the command timed out or was cancelled)",
            printable);
    else
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "dropping a QMP reply with unknown id '%s'",
                       printable);
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
            qmp_client_log(self, G_LOG_LEVEL_MESSAGE,
                           "dropping a QMP error without an id: no command is waiting");
            return;
        }
    } else {
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "dropping a QMP reply without an id");
        return;
    }

    qmp_client_log(self, G_LOG_LEVEL_DEBUG, "'%s' (id '%s') answered after %" G_GINT64_FORMAT " ms",
                   cmd->name, cmd->id, (g_get_monotonic_time() - cmd->queued_us) / 1000);
    if (error_node != NULL)
        command_complete(self, cmd, NULL, error_from_reply(self, cmd, error_node));
    else
        command_complete(self, cmd, json_object_get_member(message, "return"), NULL);
}

void
qmp_client_dispatch(PodvmQmpClient *self, JsonObject *message)
{
    if (json_object_has_member(message, "QMP")) {
        handle_greeting(self, message);
    } else if (self->state == STATE_GREETING) {
        qmp_client_protocol_error(self, "QEMU sent a QMP message before the greeting");
    } else if (json_object_has_member(message, "event")) {
        dispatch_event(self, message);
    } else if (json_object_has_member(message, "return") ||
               json_object_has_member(message, "error")) {
        dispatch_reply(self, message);
    } else {
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE,
                       "dropping a QMP message that is no reply, error or event");
    }
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
        qmp_client_log(self, G_LOG_LEVEL_MESSAGE, "%s", error->message);
        close_with_reason(self, error);
        return;
    }
    g_clear_object(&self->socket_client);
    g_clear_error(&self->connect_error);
    qmp_client_start_session(self, connection);
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
    qmp_client_start_session(self, connection);
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
    qmp_client_log(self, G_LOG_LEVEL_DEBUG, "%s", reason->message);
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
