/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-app-channel.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-channel-codec.h"
#include "podvm-error.h"

/* One exec session: the guest's "exec id=I". */
typedef struct {
    PodvmAppChannel *channel; /* unowned: the channel outlives its table entries */
    guint id;
    GTask *task; /* owned; NULL once completed */
    GInputStream *stdin_stream;
    GOutputStream *stdout_stream;
    GOutputStream *stderr_stream;
    GCancellable *stdin_cancellable; /* stops the stdin relay */
    gboolean stdin_reading;
    GQueue writes; /* WriteItem * to stdout_stream/stderr_stream, in order */
    gboolean writing;
    gboolean exited;
    int exit_code;
    gulong cancel_id;
    guint refs;
} ExecSession;

typedef struct {
    GOutputStream *stream;
    GBytes *bytes;
} WriteItem;

struct _PodvmAppChannel {
    GObject parent_instance;

    GIOStream *stream;
    PodvmAppGuestConfig *config;
    GCancellable *cancellable; /* reads and writes of the channel */
    guint8 read_buffer[16384];
    GByteArray *pending; /* bytes read, not yet a whole line */
    gboolean reading;
    GQueue out_queue; /* GBytes *: lines to send */
    gboolean writing;
    gboolean hello_seen;
    gboolean closed;
    gboolean stream_closed;
    guint next_id;
    GHashTable *execs; /* id -> ExecSession * */
    GHashTable *pings; /* id -> GTask * */
};

G_DEFINE_TYPE(PodvmAppChannel, podvm_app_channel, G_TYPE_OBJECT)

enum {
    SIGNAL_APP_STARTED,
    SIGNAL_APP_EXITED,
    SIGNAL_APP_FAILED,
    SIGNAL_HALTED,
    SIGNAL_CLOSED,
    SIGNAL_LOG,
    N_SIGNALS
};
static guint signals[N_SIGNALS];

static void read_next(PodvmAppChannel *self);
static void close_with_error(PodvmAppChannel *self, GError *error);
static void maybe_close_stream(PodvmAppChannel *self);
static void exec_unref(ExecSession *exec);
static void exec_maybe_finish(ExecSession *exec);

/* --- the configuration ------------------------------------------------ */

PodvmAppGuestConfig *
podvm_app_guest_config_new(void)
{
    PodvmAppGuestConfig *config = g_new0(PodvmAppGuestConfig, 1);

    config->apps = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_app_guest_app_free);
    config->nics = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_app_guest_nic_free);
    return config;
}

void
podvm_app_guest_app_free(PodvmAppGuestApp *app)
{
    if (app == NULL)
        return;
    g_free(app->name);
    g_free(app->disk_serial);
    g_strfreev(app->argv);
    g_strfreev(app->env);
    g_free(app->working_dir);
    g_free(app->user);
    g_free(app);
}

void
podvm_app_guest_nic_free(PodvmAppGuestNic *nic)
{
    if (nic == NULL)
        return;
    g_free(nic->ifname);
    g_free(nic->mac);
    g_free(nic->address);
    g_free(nic->gateway);
    g_strfreev(nic->dns);
    g_strfreev(nic->search);
    g_free(nic);
}

void
podvm_app_guest_config_free(PodvmAppGuestConfig *config)
{
    if (config == NULL)
        return;
    g_free(config->hostname);
    g_clear_pointer(&config->apps, g_ptr_array_unref);
    g_clear_pointer(&config->nics, g_ptr_array_unref);
    g_free(config);
}

static PodvmAppGuestConfig *
config_copy(const PodvmAppGuestConfig *config)
{
    PodvmAppGuestConfig *copy = podvm_app_guest_config_new();

    if (config == NULL)
        return copy;
    copy->hostname = g_strdup(config->hostname);
    copy->debug = config->debug;
    for (guint i = 0; config->apps != NULL && i < config->apps->len; i++) {
        const PodvmAppGuestApp *app = g_ptr_array_index(config->apps, i);
        PodvmAppGuestApp *a = g_new0(PodvmAppGuestApp, 1);

        a->name = g_strdup(app->name);
        a->disk_serial = g_strdup(app->disk_serial);
        a->argv = g_strdupv(app->argv);
        a->env = g_strdupv(app->env);
        a->working_dir = g_strdup(app->working_dir);
        a->user = g_strdup(app->user);
        g_ptr_array_add(copy->apps, a);
    }
    for (guint i = 0; config->nics != NULL && i < config->nics->len; i++) {
        const PodvmAppGuestNic *nic = g_ptr_array_index(config->nics, i);
        PodvmAppGuestNic *n = g_new0(PodvmAppGuestNic, 1);

        n->ifname = g_strdup(nic->ifname);
        n->mac = g_strdup(nic->mac);
        n->address = g_strdup(nic->address);
        n->gateway = g_strdup(nic->gateway);
        n->dns = g_strdupv(nic->dns);
        n->search = g_strdupv(nic->search);
        g_ptr_array_add(copy->nics, n);
    }
    return copy;
}

/* --- writing ---------------------------------------------------------- */

static void write_next(PodvmAppChannel *self);

static void
write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmAppChannel) self = user_data;
    g_autoptr(GError) error = NULL;

    self->writing = FALSE;
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        maybe_close_stream(self);
        if (!self->closed)
            close_with_error(self, g_error_new(PODVM_ERROR, PODVM_ERROR_IO,
                                               _("cannot write to the app guest's channel: %s"),
                                               error->message));
        return;
    }
    g_bytes_unref(g_queue_pop_head(&self->out_queue));
    write_next(self);
    maybe_close_stream(self);
}

static void
write_next(PodvmAppChannel *self)
{
    GBytes *bytes;
    gsize size;
    gconstpointer data;

    if (self->writing || self->closed || (bytes = g_queue_peek_head(&self->out_queue)) == NULL)
        return;
    self->writing = TRUE;
    data = g_bytes_get_data(bytes, &size);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(self->stream), data, size,
                                    G_PRIORITY_DEFAULT, self->cancellable, write_cb,
                                    g_object_ref(self));
}

/* Queues @line (finished or failed): a line that cannot be encoded is a bug of ours, logged. */
static gboolean
send_line(PodvmAppChannel *self, PodvmChannelLine *line)
{
    int r = podvm_channel_line_finish(line);

    if (r < 0) {
        g_warning("app channel: cannot encode a line: %s", g_strerror(-r));
        podvm_channel_line_clear(line);
        return FALSE;
    }
    if (self->closed) {
        podvm_channel_line_clear(line);
        return FALSE;
    }
    g_debug("app channel: sending %.*s", (int)MIN(line->len - 1, 200), line->data);
    g_queue_push_tail(&self->out_queue, g_bytes_new_take(line->data, line->len));
    line->data = NULL;
    podvm_channel_line_clear(line);
    write_next(self);
    return TRUE;
}

static void
add_strv(PodvmChannelLine *line, const char *key, char *const *values)
{
    for (gsize i = 0; values != NULL && values[i] != NULL; i++)
        podvm_channel_line_add(line, key, values[i]);
}

static void
send_config(PodvmAppChannel *self)
{
    PodvmChannelLine line;

    podvm_channel_line_init(&line, "config");
    podvm_channel_line_add_int(&line, "version", PODVM_CHANNEL_VERSION);
    podvm_channel_line_add(&line, "hostname",
                           self->config->hostname != NULL ? self->config->hostname : "");
    podvm_channel_line_add_int(&line, "debug", self->config->debug ? 1 : 0);
    send_line(self, &line);
    for (guint i = 0; i < self->config->apps->len; i++) {
        const PodvmAppGuestApp *app = g_ptr_array_index(self->config->apps, i);

        podvm_channel_line_init(&line, "app");
        podvm_channel_line_add(&line, "name", app->name != NULL ? app->name : "");
        podvm_channel_line_add(&line, "disk", app->disk_serial != NULL ? app->disk_serial : "");
        if (app->user != NULL)
            podvm_channel_line_add(&line, "user", app->user);
        if (app->working_dir != NULL)
            podvm_channel_line_add(&line, "cwd", app->working_dir);
        add_strv(&line, "arg", app->argv);
        add_strv(&line, "env", app->env);
        send_line(self, &line);
    }
    for (guint i = 0; i < self->config->nics->len; i++) {
        const PodvmAppGuestNic *nic = g_ptr_array_index(self->config->nics, i);

        podvm_channel_line_init(&line, "net");
        podvm_channel_line_add(&line, "ifname", nic->ifname != NULL ? nic->ifname : "eth0");
        if (nic->mac != NULL)
            podvm_channel_line_add(&line, "mac", nic->mac);
        if (nic->address != NULL)
            podvm_channel_line_add(&line, "address", nic->address);
        if (nic->gateway != NULL)
            podvm_channel_line_add(&line, "gateway", nic->gateway);
        add_strv(&line, "dns", nic->dns);
        add_strv(&line, "search", nic->search);
        send_line(self, &line);
    }
    podvm_channel_line_init(&line, "start");
    send_line(self, &line);
}

/*
 * Ours, first: a guest whose host reconnected at once may not have seen it
 * go, and says hello again when asked. The newline ends a partial line an
 * earlier connection may have left in the guest.
 */
static void
send_hello(PodvmAppChannel *self)
{
    PodvmChannelLine line;

    g_queue_push_tail(&self->out_queue, g_bytes_new_static("\n", 1));
    podvm_channel_line_init(&line, "hello");
    podvm_channel_line_add_int(&line, "version", PODVM_CHANNEL_VERSION);
    send_line(self, &line);
}

/* --- closing ---------------------------------------------------------- */

static void
fail_pending(PodvmAppChannel *self, const GError *error)
{
    GHashTableIter iter;
    gpointer value;
    g_autoptr(GList) execs = NULL;

    g_hash_table_iter_init(&iter, self->pings);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        GTask *task = value;

        g_hash_table_iter_steal(&iter);
        g_task_return_error(task, g_error_copy(error));
        g_object_unref(task);
    }
    execs = g_hash_table_get_values(self->execs);
    g_hash_table_steal_all(self->execs);
    for (GList *l = execs; l != NULL; l = l->next) {
        ExecSession *exec = l->data;

        if (exec->stdin_cancellable != NULL)
            g_cancellable_cancel(exec->stdin_cancellable);
        if (exec->task != NULL) {
            GTask *task = g_steal_pointer(&exec->task);

            g_task_return_error(task, g_error_copy(error));
            g_object_unref(task);
        }
        exec_unref(exec);
    }
}

/* Closes the stream once closed and no read or write of ours is pending on it. */
static void
maybe_close_stream(PodvmAppChannel *self)
{
    if (!self->closed || self->reading || self->writing || self->stream_closed)
        return;
    self->stream_closed = TRUE;
    g_io_stream_close(self->stream, NULL, NULL);
}

/* Takes @error (NULL: a clean end). Emits "closed" once. */
static void
close_with_error(PodvmAppChannel *self, GError *error)
{
    g_autoptr(GError) owned = error;
    g_autoptr(GError) pending_error = NULL;

    if (self->closed)
        return;
    self->closed = TRUE;
    g_object_ref(self);
    if (error != NULL)
        g_debug("app channel: closed: %s", error->message);
    g_cancellable_cancel(self->cancellable);
    maybe_close_stream(self);
    pending_error = error != NULL ? g_error_copy(error)
                                  : g_error_new(PODVM_ERROR, PODVM_ERROR_IO,
                                                _("the app guest's channel closed"));
    fail_pending(self, pending_error);
    g_signal_emit(self, signals[SIGNAL_CLOSED], 0, owned);
    g_object_unref(self);
}

void
podvm_app_channel_close(PodvmAppChannel *self)
{
    g_return_if_fail(PODVM_IS_APP_CHANNEL(self));
    close_with_error(self, NULL);
}

/* --- exec sessions ---------------------------------------------------- */

static ExecSession *
exec_ref(ExecSession *exec)
{
    exec->refs++;
    return exec;
}

static void
exec_unref(ExecSession *exec)
{
    WriteItem *item;

    if (--exec->refs > 0)
        return;
    g_assert(exec->task == NULL);
    while ((item = g_queue_pop_head(&exec->writes)) != NULL) {
        g_bytes_unref(item->bytes);
        g_free(item);
    }
    g_clear_object(&exec->stdin_stream);
    g_clear_object(&exec->stdout_stream);
    g_clear_object(&exec->stderr_stream);
    g_clear_object(&exec->stdin_cancellable);
    g_free(exec);
}

static void
exec_complete(ExecSession *exec, GError *error)
{
    GTask *task = g_steal_pointer(&exec->task);
    GCancellable *cancellable;

    if (task == NULL) {
        g_clear_error(&error);
        return;
    }
    cancellable = g_task_get_cancellable(task);
    if (cancellable != NULL && exec->cancel_id != 0)
        g_cancellable_disconnect(cancellable, exec->cancel_id);
    exec->cancel_id = 0;
    if (exec->stdin_cancellable != NULL)
        g_cancellable_cancel(exec->stdin_cancellable);
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_int(task, exec->exit_code);
    g_object_unref(task);
}

/* Removes @exec from the channel's table (dropping the table's reference). */
static void
exec_forget(ExecSession *exec)
{
    PodvmAppChannel *self = exec->channel;

    if (g_hash_table_lookup(self->execs, GUINT_TO_POINTER(exec->id)) == exec)
        g_hash_table_remove(self->execs, GUINT_TO_POINTER(exec->id));
}

static void exec_write_next(ExecSession *exec);

static void
exec_write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ExecSession *exec = user_data;
    g_autoptr(GError) error = NULL;
    WriteItem *item = g_queue_pop_head(&exec->writes);

    exec->writing = FALSE;
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        /* A reader that went away: its output is dropped from now on. */
        g_debug("app channel: exec %u: dropping output: %s", exec->id, error->message);
        if (item->stream == exec->stdout_stream)
            g_clear_object(&exec->stdout_stream);
        else if (item->stream == exec->stderr_stream)
            g_clear_object(&exec->stderr_stream);
    }
    g_bytes_unref(item->bytes);
    g_free(item);
    exec_write_next(exec);
    exec_maybe_finish(exec);
    exec_unref(exec);
}

static void
exec_write_next(ExecSession *exec)
{
    WriteItem *item;
    gconstpointer data;
    gsize size;

    while (!exec->writing && (item = g_queue_peek_head(&exec->writes)) != NULL) {
        if (item->stream != exec->stdout_stream && item->stream != exec->stderr_stream) {
            g_queue_pop_head(&exec->writes);
            g_bytes_unref(item->bytes);
            g_free(item);
            continue;
        }
        exec->writing = TRUE;
        data = g_bytes_get_data(item->bytes, &size);
        g_output_stream_write_all_async(item->stream, data, size, G_PRIORITY_DEFAULT, NULL,
                                        exec_write_cb, exec_ref(exec));
    }
}

/* Finishes the task once the command exited and its output is written. */
static void
exec_maybe_finish(ExecSession *exec)
{
    if (!exec->exited || exec->writing || !g_queue_is_empty(&exec->writes))
        return;
    exec_complete(exec, NULL);
}

static void exec_read_stdin(ExecSession *exec);

static void
exec_stdin_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ExecSession *exec = user_data;
    PodvmAppChannel *self = exec->channel;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes =
        g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
    PodvmChannelLine line;

    exec->stdin_reading = FALSE;
    if (g_cancellable_is_cancelled(exec->stdin_cancellable) || self->closed || exec->task == NULL) {
        exec_unref(exec);
        return;
    }
    if (bytes == NULL || g_bytes_get_size(bytes) == 0) {
        if (error != NULL)
            g_debug("app channel: exec %u: stdin: %s", exec->id, error->message);
        podvm_channel_line_init(&line, "input-eof");
        podvm_channel_line_add_int(&line, "id", exec->id);
        send_line(self, &line);
        exec_unref(exec);
        return;
    }
    podvm_channel_line_init(&line, "input");
    podvm_channel_line_add_int(&line, "id", exec->id);
    podvm_channel_line_add_data(&line, "data", g_bytes_get_data(bytes, NULL),
                                g_bytes_get_size(bytes));
    send_line(self, &line);
    exec_read_stdin(exec);
    exec_unref(exec);
}

static void
exec_read_stdin(ExecSession *exec)
{
    if (exec->stdin_stream == NULL || exec->stdin_reading)
        return;
    exec->stdin_reading = TRUE;
    g_input_stream_read_bytes_async(exec->stdin_stream, PODVM_CHANNEL_MAX_CHUNK, G_PRIORITY_DEFAULT,
                                    exec->stdin_cancellable, exec_stdin_cb, exec_ref(exec));
}

static gboolean
exec_cancelled_idle_cb(gpointer user_data)
{
    ExecSession *exec = user_data;
    PodvmAppChannel *self = exec->channel;
    PodvmChannelLine line;

    if (exec->task != NULL) {
        if (!self->closed) {
            podvm_channel_line_init(&line, "kill");
            podvm_channel_line_add_int(&line, "id", exec->id);
            podvm_channel_line_add_int(&line, "signal", 9);
            send_line(self, &line);
        }
        exec_complete(
            exec, g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, _("the command was cancelled")));
        exec_forget(exec);
    }
    return G_SOURCE_REMOVE;
}

static void
exec_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    ExecSession *exec = user_data;

    /* Not from here: the handler may run inside g_cancellable_connect(). */
    g_idle_add_full(G_PRIORITY_DEFAULT, exec_cancelled_idle_cb, exec_ref(exec),
                    (GDestroyNotify)exec_unref);
}

void
podvm_app_channel_exec_async(PodvmAppChannel *self, const char *app, const char *const *argv,
                             GInputStream *stdin_stream, GOutputStream *stdout_stream,
                             GOutputStream *stderr_stream, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    ExecSession *exec;
    PodvmChannelLine line;

    g_return_if_fail(PODVM_IS_APP_CHANNEL(self));
    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_app_channel_exec_async);
    if (argv == NULL || argv[0] == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("exec needs a command"));
        return;
    }
    if (app == NULL) {
        if (self->config->apps->len == 0) {
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                                    _("the pod has no apps"));
            return;
        }
        app = ((PodvmAppGuestApp *)g_ptr_array_index(self->config->apps, 0))->name;
    }
    if (self->closed) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("the app guest's channel is closed"));
        return;
    }
    if (g_task_return_error_if_cancelled(task))
        return;

    exec = g_new0(ExecSession, 1);
    exec->refs = 1;
    exec->channel = self;
    exec->id = ++self->next_id;
    exec->task = g_steal_pointer(&task);
    exec->stdin_stream = stdin_stream != NULL ? g_object_ref(stdin_stream) : NULL;
    exec->stdout_stream = stdout_stream != NULL ? g_object_ref(stdout_stream) : NULL;
    exec->stderr_stream = stderr_stream != NULL ? g_object_ref(stderr_stream) : NULL;
    exec->stdin_cancellable = g_cancellable_new();
    g_queue_init(&exec->writes);
    g_hash_table_insert(self->execs, GUINT_TO_POINTER(exec->id), exec);

    podvm_channel_line_init(&line, "exec");
    podvm_channel_line_add_int(&line, "id", exec->id);
    podvm_channel_line_add(&line, "app", app);
    for (gsize i = 0; argv[i] != NULL; i++)
        podvm_channel_line_add(&line, "arg", argv[i]);
    podvm_channel_line_add_int(&line, "stdin", stdin_stream != NULL ? 1 : 0);
    if (!send_line(self, &line)) {
        exec_complete(exec, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                        _("the command is too long for the app guest")));
        exec_forget(exec);
        return;
    }
    if (cancellable != NULL)
        exec->cancel_id =
            g_cancellable_connect(cancellable, G_CALLBACK(exec_cancelled_cb), exec, NULL);
}

gboolean
podvm_app_channel_exec_finish(PodvmAppChannel *self, GAsyncResult *result, int *exit_code,
                              GError **error)
{
    gssize code;

    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    code = g_task_propagate_int(G_TASK(result), error);
    if (code < 0)
        return FALSE;
    if (exit_code != NULL)
        *exit_code = (int)code;
    return TRUE;
}

/* --- ping, shutdown --------------------------------------------------- */

void
podvm_app_channel_ping_async(PodvmAppChannel *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    PodvmChannelLine line;
    guint id;

    g_return_if_fail(PODVM_IS_APP_CHANNEL(self));
    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_app_channel_ping_async);
    if (self->closed) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("the app guest's channel is closed"));
        return;
    }
    id = ++self->next_id;
    g_hash_table_insert(self->pings, GUINT_TO_POINTER(id), g_steal_pointer(&task));
    podvm_channel_line_init(&line, "ping");
    podvm_channel_line_add_int(&line, "id", id);
    send_line(self, &line);
}

gboolean
podvm_app_channel_ping_finish(PodvmAppChannel *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
podvm_app_channel_shutdown(PodvmAppChannel *self, guint grace_seconds)
{
    PodvmChannelLine line;

    g_return_if_fail(PODVM_IS_APP_CHANNEL(self));
    podvm_channel_line_init(&line, "shutdown");
    podvm_channel_line_add_int(&line, "grace", grace_seconds);
    send_line(self, &line);
}

gboolean
podvm_app_channel_get_connected(PodvmAppChannel *self)
{
    g_return_val_if_fail(PODVM_IS_APP_CHANNEL(self), FALSE);
    return self->hello_seen && !self->closed;
}

gboolean
podvm_app_channel_get_closed(PodvmAppChannel *self)
{
    g_return_val_if_fail(PODVM_IS_APP_CHANNEL(self), TRUE);
    return self->closed;
}

/* --- reading ---------------------------------------------------------- */

/* The session of the message's id=, or NULL (logged: a late message of a cancelled one). */
static ExecSession *
message_exec(PodvmAppChannel *self, const PodvmChannelMessage *msg)
{
    long long id;
    ExecSession *exec;

    if (podvm_channel_message_get_int(msg, "id", 1, G_MAXUINT, &id) < 0) {
        g_debug("app channel: '%s' without a valid id, ignored", msg->verb);
        return NULL;
    }
    exec = g_hash_table_lookup(self->execs, GUINT_TO_POINTER((guint)id));
    if (exec == NULL)
        g_debug("app channel: '%s' for unknown exec %lld, ignored", msg->verb, id);
    return exec;
}

static void
handle_output(PodvmAppChannel *self, const PodvmChannelMessage *msg)
{
    ExecSession *exec = message_exec(self, msg);
    long long fd;
    size_t len;
    const char *data;
    GOutputStream *stream;
    WriteItem *item;

    if (exec == NULL || exec->task == NULL)
        return;
    data = podvm_channel_message_get_data(msg, "data", &len);
    if (data == NULL || podvm_channel_message_get_int(msg, "fd", 1, 2, &fd) < 0)
        return;
    stream = fd == 1 ? exec->stdout_stream : exec->stderr_stream;
    if (stream == NULL || len == 0)
        return;
    item = g_new0(WriteItem, 1);
    item->stream = stream;
    item->bytes = g_bytes_new(data, len);
    g_queue_push_tail(&exec->writes, item);
    exec_write_next(exec);
}

static void
handle_exec_message(PodvmAppChannel *self, const PodvmChannelMessage *msg)
{
    ExecSession *exec = message_exec(self, msg);
    long long value;

    if (exec == NULL)
        return;
    if (strcmp(msg->verb, "exec-started") == 0) {
        exec_read_stdin(exec);
    } else if (strcmp(msg->verb, "exec-failed") == 0) {
        const char *message = podvm_channel_message_get(msg, "message");
        g_autofree char *quoted = podvm_quote_for_message(message != NULL ? message : "");

        exec_complete(exec, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                        _("the app guest could not run the command: %s"), quoted));
        exec_forget(exec);
    } else if (strcmp(msg->verb, "exec-exited") == 0) {
        if (podvm_channel_message_get_int(msg, "code", 0, 255, &value) == 0)
            exec->exit_code = (int)value;
        else if (podvm_channel_message_get_int(msg, "signal", 1, 127, &value) == 0)
            exec->exit_code = 128 + (int)value;
        else
            exec->exit_code = 255;
        exec->exited = TRUE;
        exec_ref(exec);
        exec_forget(exec);
        exec_maybe_finish(exec);
        exec_unref(exec);
    }
}

static void
handle_hello(PodvmAppChannel *self, const PodvmChannelMessage *msg)
{
    long long version;
    PodvmChannelLine line;

    if (podvm_channel_message_get_int(msg, "version", 1, G_MAXINT, &version) < 0 ||
        version != PODVM_CHANNEL_VERSION) {
        const char *v = podvm_channel_message_get(msg, "version");
        g_autofree char *quoted = podvm_quote_for_message(v != NULL ? v : "");

        podvm_channel_line_init(&line, "error");
        podvm_channel_line_add(&line, "message", "unsupported protocol version");
        send_line(self, &line);
        close_with_error(self, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                           _("the app guest speaks protocol version %s; "
                                             "podvm speaks version %d"),
                                           quoted, PODVM_CHANNEL_VERSION));
        return;
    }
    /* The guest's hello again (it answers ours too): the configuration goes once. */
    if (self->hello_seen)
        return;
    self->hello_seen = TRUE;
    send_config(self);
}

static void
handle_message(PodvmAppChannel *self, const PodvmChannelMessage *msg)
{
    const char *verb = msg->verb;
    const char *app = podvm_channel_message_get(msg, "app");
    long long value;

    if (strcmp(verb, "hello") == 0) {
        handle_hello(self, msg);
        return;
    }
    if (!self->hello_seen) {
        /* What an earlier connection left in the guest's queue. */
        g_debug("app channel: '%s' before the guest's hello, ignored", verb);
        return;
    }
    if (strcmp(verb, "started") == 0) {
        if (app == NULL)
            return;
        if (podvm_channel_message_get_int(msg, "pid", 0, G_MAXINT, &value) < 0)
            value = 0;
        g_signal_emit(self, signals[SIGNAL_APP_STARTED], 0, app, (gint)value);
    } else if (strcmp(verb, "exited") == 0) {
        if (app == NULL)
            return;
        if (podvm_channel_message_get_int(msg, "code", 0, 255, &value) == 0)
            g_signal_emit(self, signals[SIGNAL_APP_EXITED], 0, app, (gint)value, 0);
        else if (podvm_channel_message_get_int(msg, "signal", 1, 127, &value) == 0)
            g_signal_emit(self, signals[SIGNAL_APP_EXITED], 0, app, 128 + (gint)value, (gint)value);
    } else if (strcmp(verb, "failed") == 0) {
        const char *message = podvm_channel_message_get(msg, "message");

        if (app != NULL)
            g_signal_emit(self, signals[SIGNAL_APP_FAILED], 0, app, message != NULL ? message : "");
    } else if (strcmp(verb, "halt") == 0) {
        g_signal_emit(self, signals[SIGNAL_HALTED], 0);
    } else if (strcmp(verb, "log") == 0) {
        const char *message = podvm_channel_message_get(msg, "message");

        if (message != NULL)
            g_signal_emit(self, signals[SIGNAL_LOG], 0, message);
    } else if (strcmp(verb, "pong") == 0) {
        GTask *task;

        if (podvm_channel_message_get_int(msg, "id", 1, G_MAXUINT, &value) < 0)
            return;
        task = g_hash_table_lookup(self->pings, GUINT_TO_POINTER((guint)value));
        if (task == NULL)
            return;
        g_hash_table_steal(self->pings, GUINT_TO_POINTER((guint)value));
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
    } else if (strcmp(verb, "output") == 0) {
        handle_output(self, msg);
    } else if (g_str_has_prefix(verb, "exec-")) {
        handle_exec_message(self, msg);
    } else {
        g_debug("app channel: unknown verb '%s' ignored", verb);
    }
}

/* Decodes and handles every whole line in the buffer; FALSE when the channel closed. */
static gboolean
process_pending(PodvmAppChannel *self)
{
    gsize start = 0;

    while (!self->closed) {
        guint8 *nl = memchr(self->pending->data + start, '\n', self->pending->len - start);
        gsize len;
        PodvmChannelMessage msg;
        int r;

        if (nl == NULL)
            break;
        len = (gsize)(nl - (self->pending->data + start)) + 1;
        r = podvm_channel_decode((const char *)self->pending->data + start, len, &msg);
        start += len;
        if (r < 0 && !self->hello_seen) {
            g_debug("app channel: a malformed line before the guest's hello, ignored");
            continue;
        }
        if (r < 0) {
            close_with_error(self, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                               r == -EMSGSIZE
                                                   ? _("the app guest sent a line over %d bytes")
                                                   : _("the app guest sent a malformed line "
                                                       "(protocol error)"),
                                               PODVM_CHANNEL_MAX_LINE));
            break;
        }
        handle_message(self, &msg);
        podvm_channel_message_clear(&msg);
    }
    if (self->closed)
        return FALSE;
    g_byte_array_remove_range(self->pending, 0, (guint)start);
    if (self->pending->len >= PODVM_CHANNEL_MAX_LINE) {
        close_with_error(self, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                           _("the app guest sent a line over %d bytes"),
                                           PODVM_CHANNEL_MAX_LINE));
        return FALSE;
    }
    return TRUE;
}

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmAppChannel) self = user_data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    self->reading = FALSE;
    if (self->closed) {
        maybe_close_stream(self);
        return;
    }
    if (n < 0) {
        close_with_error(self,
                         g_error_new(PODVM_ERROR, PODVM_ERROR_IO,
                                     _("cannot read the app guest's channel: %s"), error->message));
        return;
    }
    if (n == 0) {
        close_with_error(self, NULL);
        return;
    }
    g_byte_array_append(self->pending, self->read_buffer, (guint)n);
    if (process_pending(self))
        read_next(self);
}

static void
read_next(PodvmAppChannel *self)
{
    if (self->reading || self->closed)
        return;
    self->reading = TRUE;
    g_input_stream_read_async(g_io_stream_get_input_stream(self->stream), self->read_buffer,
                              sizeof(self->read_buffer), G_PRIORITY_DEFAULT, self->cancellable,
                              read_cb, g_object_ref(self));
}

/* --- the object ------------------------------------------------------- */

PodvmAppChannel *
podvm_app_channel_new(GIOStream *stream, const PodvmAppGuestConfig *config)
{
    PodvmAppChannel *self;

    g_return_val_if_fail(G_IS_IO_STREAM(stream), NULL);
    self = g_object_new(PODVM_TYPE_APP_CHANNEL, NULL);
    self->stream = g_object_ref(stream);
    self->config = config_copy(config);
    send_hello(self);
    read_next(self);
    return self;
}

static void
podvm_app_channel_dispose(GObject *object)
{
    PodvmAppChannel *self = PODVM_APP_CHANNEL(object);

    /* Reads and writes hold references: here only when none is pending. */
    if (self->stream != NULL && !self->stream_closed) {
        self->closed = TRUE;
        self->stream_closed = TRUE;
        g_cancellable_cancel(self->cancellable);
        g_io_stream_close(self->stream, NULL, NULL);
    }
    G_OBJECT_CLASS(podvm_app_channel_parent_class)->dispose(object);
}

static void
podvm_app_channel_finalize(GObject *object)
{
    PodvmAppChannel *self = PODVM_APP_CHANNEL(object);

    g_queue_clear_full(&self->out_queue, (GDestroyNotify)g_bytes_unref);
    g_hash_table_unref(self->execs);
    g_hash_table_unref(self->pings);
    g_byte_array_unref(self->pending);
    g_clear_object(&self->cancellable);
    g_clear_object(&self->stream);
    podvm_app_guest_config_free(self->config);
    G_OBJECT_CLASS(podvm_app_channel_parent_class)->finalize(object);
}

static void
podvm_app_channel_init(PodvmAppChannel *self)
{
    self->cancellable = g_cancellable_new();
    self->pending = g_byte_array_new();
    g_queue_init(&self->out_queue);
    self->execs = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)exec_unref);
    self->pings = g_hash_table_new(NULL, NULL);
}

static void
podvm_app_channel_class_init(PodvmAppChannelClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = podvm_app_channel_dispose;
    object_class->finalize = podvm_app_channel_finalize;

    signals[SIGNAL_APP_STARTED] =
        g_signal_new("app-started", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_INT);
    signals[SIGNAL_APP_EXITED] =
        g_signal_new("app-exited", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_INT, G_TYPE_INT);
    signals[SIGNAL_APP_FAILED] =
        g_signal_new("app-failed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
    signals[SIGNAL_HALTED] = g_signal_new("halted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIGNAL_CLOSED] =
        g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
    signals[SIGNAL_LOG] = g_signal_new("log", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                       NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}
