/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running a conflist's plugins, as libcni does (CNI spec 1.0.0):
 *
 * - ADD runs the plugins in order, each with the previous one's result as
 *   prevResult; the last result is the network's. When plugin k fails, DEL
 *   runs for the whole list (in reverse, with the last result there was)
 *   before the ADD completes with plugin k's error: nothing is left.
 * - DEL runs them in reverse with the stored result, going on past a
 *   failure, and reports the first error.
 * - CHECK runs them in order with the stored result; it stops at the first
 *   failure. A conflist with "disableCheck": true is not checked.
 *
 * One plugin call: a GSubprocess with argv = the plugin's path only, a clean
 * environment (CNI_* and PATH), the working directory /, stdin a sealed
 * memfd holding the configuration (no pipe to write, so no SIGPIPE), stdout
 * and stderr pipes read bounded, and a timer that kills the plugin.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "podvm-cni-private.h"
#include "podvm-error.h"
#include "podvm-json.h"

#define MAX_STDERR 4096
#define READ_CHUNK 65536
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef enum {
    CNI_ADD,
    CNI_DEL,
    CNI_CHECK,
} CniCommand;

static const char *const command_names[] = { "ADD", "DEL", "CHECK" };

typedef struct {
    /* copies of the caller's arguments */
    GStrv plugin_dirs;
    guint timeout_ms;
    char *network_name;
    char *version;
    JsonArray *plugins; /* owned ref */
    char *container_id;
    char *netns_path;
    char *ifname;
    JsonNode *port_mappings; /* an array, or NULL when there are none */

    CniCommand command;
    gboolean undoing; /* the DEL after a failed ADD */
    int index;        /* the plugin running */
    JsonNode *prev;   /* prevResult for the next plugin (ADD: the last result) */
    PodvmCniResult *result;
    GError *first_error; /* ADD: the failure being undone; DEL: the first failure */
    GError *undo_error;  /* the first failure while undoing an ADD */

    /* the plugin call in flight */
    char *type;
    GSubprocess *process;
    GCancellable *call_cancellable; /* cancels its reads (timeout, caller's cancel) */
    gulong cancel_handler;
    guint timeout_id;
    GByteArray *out;
    GByteArray *err;
    gboolean exited, timed_out, too_large, plugin_missing;
    guint pending; /* of out, err, exit */
} CniOp;

static void
op_free(CniOp *op)
{
    g_strfreev(op->plugin_dirs);
    g_free(op->network_name);
    g_free(op->version);
    g_clear_pointer(&op->plugins, json_array_unref);
    g_free(op->container_id);
    g_free(op->netns_path);
    g_free(op->ifname);
    g_clear_pointer(&op->port_mappings, json_node_unref);
    g_clear_pointer(&op->prev, json_node_unref);
    g_clear_pointer(&op->result, podvm_cni_result_free);
    g_clear_error(&op->first_error);
    g_clear_error(&op->undo_error);
    g_free(op->type);
    g_clear_object(&op->process);
    g_clear_object(&op->call_cancellable);
    g_clear_handle_id(&op->timeout_id, g_source_remove);
    g_clear_pointer(&op->out, g_byte_array_unref);
    g_clear_pointer(&op->err, g_byte_array_unref);
    g_free(op);
}

/* ---- the configuration a plugin gets --------------------------------------------- */

static JsonNode *
port_mappings_node(const PodvmCniAttachment *attachment)
{
    g_autoptr(JsonArray) array = json_array_new();

    for (guint i = 0; i < attachment->n_port_mappings; i++) {
        const PodvmCniPortMapping *m = &attachment->port_mappings[i];
        JsonObject *object = json_object_new();

        json_object_set_int_member(object, "hostPort", m->host_port);
        json_object_set_int_member(object, "containerPort", m->container_port);
        json_object_set_string_member(object, "protocol", m->protocol);
        json_array_add_object_element(array, object);
    }
    return json_node_init_array(json_node_alloc(), array);
}

static gboolean
wants_capability(JsonObject *plugin, const char *capability)
{
    JsonNode *node = json_object_get_member(plugin, "capabilities");
    JsonNode *value;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
        return FALSE;
    value = json_object_get_member(json_node_get_object(node), capability);
    return value != NULL && JSON_NODE_HOLDS_VALUE(value) &&
           json_node_get_value_type(value) == G_TYPE_BOOLEAN && json_node_get_boolean(value);
}

/* The plugin's object with name and cniVersion of the list, prevResult and runtimeConfig. */
static char *
plugin_config(CniOp *op, JsonObject *plugin, gsize *out_length)
{
    g_autoptr(JsonNode) copy =
        json_node_copy(json_array_get_element(op->plugins, (guint)op->index));
    JsonObject *config = json_node_get_object(copy);

    json_object_set_string_member(config, "name", op->network_name);
    json_object_set_string_member(config, "cniVersion", op->version);
    json_object_remove_member(config, "prevResult");
    json_object_remove_member(config, "runtimeConfig");
    if (op->prev != NULL)
        json_object_set_member(config, "prevResult", json_node_copy(op->prev));
    if (op->port_mappings != NULL && wants_capability(plugin, "portMappings")) {
        JsonObject *runtime = json_object_new();

        json_object_set_member(runtime, "portMappings", json_node_copy(op->port_mappings));
        json_object_set_object_member(config, "runtimeConfig", runtime);
    }
    return podvm_json_to_data(copy, FALSE, out_length);
}

/* A sealed memfd holding @text, at offset 0: the plugin's stdin. */
static int
stdin_fd(const char *text, gsize length, GError **error)
{
    int fd = memfd_create("podvm-cni-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    gsize done = 0;

    if (fd < 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot make a memfd: %s"),
                    g_strerror(saved));
        return -1;
    }
    while (done < length) {
        ssize_t n = write(fd, text + done, length - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                        _("cannot write the CNI configuration to a memfd: %s"), g_strerror(saved));
            close(fd);
            return -1;
        }
        done += (gsize)n;
    }
    (void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    if (lseek(fd, 0, SEEK_SET) != 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot rewind a memfd: %s"),
                    g_strerror(saved));
        close(fd);
        return -1;
    }
    return fd;
}

/* The plugin's path: the first plugin directory holding an executable of that name. */
static char *
find_plugin(CniOp *op, GError **error)
{
    g_autofree char *dirs = NULL;

    for (guint i = 0; op->plugin_dirs != NULL && op->plugin_dirs[i] != NULL; i++) {
        g_autofree char *path = g_build_filename(op->plugin_dirs[i], op->type, NULL);

        if (g_file_test(path, G_FILE_TEST_IS_REGULAR) &&
            g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
            return g_steal_pointer(&path);
    }
    dirs = op->plugin_dirs != NULL ? g_strjoinv(":", op->plugin_dirs) : g_strdup("");
    /* The host's setup, not the caller's request: FAILED (500), not NOT_FOUND (404). */
    op->plugin_missing = TRUE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                _("CNI plugin '%s' is not in the plugin directories (%s)"), op->type, dirs);
    return NULL;
}

/* ---- one plugin call ------------------------------------------------------------- */

static void run_next(GTask *task);
static void plugin_finished(GTask *task, GError *error);

static gboolean
timeout_cb(gpointer user_data)
{
    CniOp *op = user_data;

    op->timeout_id = 0;
    /* Exited but its output not yet read to the end: something it started holds the pipes. */
    if (!op->exited) {
        op->timed_out = TRUE;
        g_subprocess_force_exit(op->process);
    }
    g_cancellable_cancel(op->call_cancellable);
    return G_SOURCE_REMOVE;
}

/* The caller's cancellable: kill the plugin (thread-safe: a signal and a cancel). */
static void
cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    CniOp *op = user_data;

    if (op->process != NULL)
        g_subprocess_force_exit(op->process);
    g_cancellable_cancel(op->call_cancellable);
}

/* The text of a plugin's error result: "msg: details (code N)", or NULL when it is none. */
static char *
error_result_text(const GByteArray *out)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *object;
    JsonNode *code, *msg, *details;
    g_autoptr(GString) text = g_string_new(NULL);

    if (out->len == 0)
        return NULL;
    root = podvm_json_parse_limited((const char *)out->data, (gssize)out->len, PODVM_CNI_MAX_RESULT,
                                    PODVM_CNI_MAX_DEPTH, NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return NULL;
    object = json_node_get_object(root);
    code = json_object_get_member(object, "code");
    msg = json_object_get_member(object, "msg");
    details = json_object_get_member(object, "details");
    if (msg != NULL && JSON_NODE_HOLDS_VALUE(msg) && json_node_get_value_type(msg) == G_TYPE_STRING)
        g_string_append(text, json_node_get_string(msg));
    if (details != NULL && JSON_NODE_HOLDS_VALUE(details) &&
        json_node_get_value_type(details) == G_TYPE_STRING &&
        *json_node_get_string(details) != '\0')
        g_string_append_printf(text, "%s%s", text->len > 0 ? ": " : "",
                               json_node_get_string(details));
    if (code != NULL && JSON_NODE_HOLDS_VALUE(code) &&
        json_node_get_value_type(code) == G_TYPE_INT64)
        g_string_append_printf(text, " (code %" G_GINT64_FORMAT ")", json_node_get_int(code));
    if (text->len == 0)
        return NULL;
    /* One line, bounded: it goes into API answers. */
    g_strdelimit(text->str, "\r\n\t", ' ');
    if (text->len > 1024)
        g_string_truncate(text, 1024);
    return g_utf8_make_valid(text->str, -1);
}

/* The first non-empty line of stderr, for a plugin that gave no error result. */
static char *
stderr_line(const GByteArray *err)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (err->len == 0)
        return NULL;
    text = g_utf8_make_valid((const char *)err->data, (gssize)err->len);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        char *line = g_strstrip(lines[i]);
        if (*line != '\0')
            return g_strdup(line);
    }
    return NULL;
}

/* All three of stdout, stderr and the exit are in: what the call came to. */
static void
call_done(GTask *task)
{
    CniOp *op = g_task_get_task_data(task);
    GCancellable *cancellable = g_task_get_cancellable(task);
    const char *command = command_names[op->command];
    g_autofree char *why = NULL;
    GError *error = NULL;

    if (op->cancel_handler != 0) {
        g_cancellable_disconnect(cancellable, op->cancel_handler);
        op->cancel_handler = 0;
    }
    g_clear_handle_id(&op->timeout_id, g_source_remove);

    if (!op->undoing && cancellable != NULL && g_cancellable_is_cancelled(cancellable)) {
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                            _("CNI plugin '%s' (%s) was cancelled"), op->type, command);
    } else if (op->timed_out) {
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                            _("CNI plugin '%s' (%s) did not finish within %u ms and was killed"),
                            op->type, command, op->timeout_ms);
    } else if (op->too_large) {
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("CNI plugin '%s' (%s) wrote more than %u bytes to its output"),
                            op->type, command, PODVM_CNI_MAX_RESULT);
    } else if (!g_subprocess_get_successful(op->process)) {
        why = error_result_text(op->out);
        if (why == NULL)
            why = stderr_line(op->err);
        if (why == NULL && g_subprocess_get_if_signaled(op->process))
            why = g_strdup_printf(_("killed by signal %d"), g_subprocess_get_term_sig(op->process));
        if (why == NULL)
            why = g_strdup_printf(_("exit status %d"), g_subprocess_get_exit_status(op->process));
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("CNI plugin '%s' (%s) failed: %s"),
                            op->type, command, why);
    } else if (op->command == CNI_ADD) {
        g_autoptr(GError) local = NULL;
        g_autoptr(PodvmCniResult) result =
            podvm_cni_result_parse((const char *)op->out->data, (gssize)op->out->len, &local);

        if (result == NULL) {
            error = g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("CNI plugin '%s' (%s) gave a result podvm refuses: %s"), op->type,
                                command, local->message);
        } else {
            g_clear_pointer(&op->prev, json_node_unref);
            op->prev =
                podvm_json_parse_limited(result->json, -1, G_MAXSIZE, PODVM_CNI_MAX_DEPTH, NULL);
            g_clear_pointer(&op->result, podvm_cni_result_free);
            op->result = g_steal_pointer(&result);
        }
    }
    if (op->err != NULL && op->err->len > 0 && error == NULL)
        g_debug("CNI plugin %s (%s) said on stderr: %.*s", op->type, command, (int)op->err->len,
                (const char *)op->err->data);
    plugin_finished(task, error);
}

static void
call_step_done(GTask *task)
{
    CniOp *op = g_task_get_task_data(task);

    g_assert(op->pending > 0);
    if (--op->pending == 0)
        call_done(task);
}

static void read_cb(GObject *source, GAsyncResult *result, gpointer user_data);

static void
read_more(GTask *task, GInputStream *stream)
{
    CniOp *op = g_task_get_task_data(task);

    g_input_stream_read_bytes_async(stream, READ_CHUNK, G_PRIORITY_DEFAULT, op->call_cancellable,
                                    read_cb, g_object_ref(task));
}

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    CniOp *op = g_task_get_task_data(task);
    GInputStream *stream = G_INPUT_STREAM(source);
    gboolean is_out = stream == g_subprocess_get_stdout_pipe(op->process);
    GByteArray *buffer = is_out ? op->out : op->err;
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GError) error = NULL;
    gsize size;

    bytes = g_input_stream_read_bytes_finish(stream, result, &error);
    if (bytes == NULL || g_bytes_get_size(bytes) == 0) {
        if (error != NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_debug("CNI plugin %s: reading its %s: %s", op->type, is_out ? "stdout" : "stderr",
                    error->message);
        call_step_done(task);
        return;
    }
    size = g_bytes_get_size(bytes);
    if (is_out) {
        if (buffer->len + size > PODVM_CNI_MAX_RESULT) {
            op->too_large = TRUE;
            g_subprocess_force_exit(op->process);
            g_cancellable_cancel(op->call_cancellable);
            call_step_done(task);
            return;
        }
        g_byte_array_append(buffer, g_bytes_get_data(bytes, NULL), (guint)size);
    } else if (buffer->len < MAX_STDERR) {
        /* The start of stderr is kept (it says why); the rest is read and dropped. */
        g_byte_array_append(buffer, g_bytes_get_data(bytes, NULL),
                            (guint)MIN(size, MAX_STDERR - buffer->len));
    }
    read_more(task, stream);
}

static void
wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;

    CniOp *op = g_task_get_task_data(task);

    /* Without a cancellable this completes once the plugin has been reaped. */
    (void)g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    op->exited = TRUE;
    call_step_done(task);
}

static void
reset_call(CniOp *op)
{
    g_clear_pointer(&op->type, g_free);
    g_clear_object(&op->process);
    g_clear_object(&op->call_cancellable);
    g_clear_handle_id(&op->timeout_id, g_source_remove);
    g_clear_pointer(&op->out, g_byte_array_unref);
    g_clear_pointer(&op->err, g_byte_array_unref);
    op->exited = op->timed_out = op->too_large = op->plugin_missing = FALSE;
    op->pending = 0;
}

/* Starts plugin op->index; FALSE (nothing running) when it cannot be started. */
static gboolean
start_call(GTask *task, GError **error)
{
    CniOp *op = g_task_get_task_data(task);
    JsonObject *plugin = json_array_get_object_element(op->plugins, (guint)op->index);
    GCancellable *cancellable = op->undoing ? NULL : g_task_get_cancellable(task);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *path = NULL;
    g_autofree char *config = NULL;
    g_autofree char *cni_path = NULL;
    gsize config_length = 0;
    int fd;

    reset_call(op);
    op->type = g_strdup(json_object_get_string_member(plugin, "type"));
    op->out = g_byte_array_new();
    op->err = g_byte_array_new();
    op->call_cancellable = g_cancellable_new();

    if (cancellable != NULL && g_cancellable_is_cancelled(cancellable)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_CANCELLED,
                    _("CNI plugin '%s' (%s) was cancelled"), op->type, command_names[op->command]);
        return FALSE;
    }
    path = find_plugin(op, error);
    if (path == NULL)
        return FALSE;
    config = plugin_config(op, plugin, &config_length);
    fd = stdin_fd(config, config_length, error);
    if (fd < 0)
        return FALSE;
    cni_path = g_strjoinv(":", op->plugin_dirs);

    launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    {
        const char *path_env = g_getenv("PATH");
        g_autofree char *e_command = g_strconcat("CNI_COMMAND=", command_names[op->command], NULL);
        g_autofree char *e_id = g_strconcat("CNI_CONTAINERID=", op->container_id, NULL);
        g_autofree char *e_netns = g_strconcat("CNI_NETNS=", op->netns_path, NULL);
        g_autofree char *e_ifname = g_strconcat("CNI_IFNAME=", op->ifname, NULL);
        g_autofree char *e_path = g_strconcat("CNI_PATH=", cni_path, NULL);
        g_autofree char *e_sys_path =
            g_strconcat("PATH=", path_env != NULL ? path_env : DEFAULT_PATH, NULL);
        const char *const environment[] = { e_command, e_id,       e_netns, e_ifname,
                                            e_path,    e_sys_path, NULL };

        g_subprocess_launcher_set_environ(launcher, (char **)environment);
    }
    g_subprocess_launcher_set_cwd(launcher, "/");
    g_subprocess_launcher_take_stdin_fd(launcher, fd);

    g_debug("CNI %s: %s on network %s for %s (%s)", command_names[op->command], path,
            op->network_name, op->container_id, op->ifname);
    op->process = g_subprocess_launcher_spawn(launcher, &local, path, NULL);
    if (op->process == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("CNI plugin '%s' (%s) cannot be run: %s"), op->type,
                    command_names[op->command], local->message);
        return FALSE;
    }

    op->pending = 3;
    op->timeout_id = g_timeout_add(op->timeout_ms, timeout_cb, op);
    if (cancellable != NULL)
        op->cancel_handler = g_cancellable_connect(cancellable, G_CALLBACK(cancelled_cb), op, NULL);
    g_subprocess_wait_async(op->process, NULL, wait_cb, g_object_ref(task));
    read_more(task, g_subprocess_get_stdout_pipe(op->process));
    read_more(task, g_subprocess_get_stderr_pipe(op->process));
    return TRUE;
}

/* ---- the sequence ---------------------------------------------------------------- */

static void
complete(GTask *task)
{
    CniOp *op = g_task_get_task_data(task);

    reset_call(op);
    switch (op->command) {
    case CNI_ADD:
        g_task_return_pointer(task, g_steal_pointer(&op->result),
                              (GDestroyNotify)podvm_cni_result_free);
        return;
    case CNI_DEL:
        if (op->first_error != NULL)
            g_task_return_error(task, g_steal_pointer(&op->first_error));
        else
            g_task_return_boolean(task, TRUE);
        return;
    case CNI_CHECK:
        g_task_return_boolean(task, TRUE);
        return;
    }
}

static void
plugin_finished(GTask *task, GError *error)
{
    CniOp *op = g_task_get_task_data(task);
    guint n = json_array_get_length(op->plugins);

    switch (op->command) {
    case CNI_ADD:
        if (error != NULL) {
            /* The CNI rule: a failed ADD is followed by DEL of the whole list. */
            g_message("CNI ADD of network %s for %s failed, undoing it: %s", op->network_name,
                      op->container_id, error->message);
            op->first_error = error;
            op->command = CNI_DEL;
            op->undoing = TRUE;
            op->index = (int)n - 1;
            break;
        }
        op->index++;
        break;
    case CNI_DEL:
        if (error != NULL) {
            if (op->undoing && op->plugin_missing) {
                /* A plugin that is not installed has nothing to undo. */
                g_debug("undoing the CNI ADD of network %s: %s", op->network_name, error->message);
                g_error_free(error);
            } else if (op->undoing) {
                g_message("undoing the CNI ADD of network %s for %s: %s", op->network_name,
                          op->container_id, error->message);
                if (op->undo_error == NULL)
                    op->undo_error = error;
                else
                    g_error_free(error);
            } else if (op->first_error == NULL) {
                op->first_error = error;
            } else {
                g_message("CNI DEL of network %s for %s: %s", op->network_name, op->container_id,
                          error->message);
                g_error_free(error);
            }
        }
        op->index--;
        break;
    case CNI_CHECK:
        if (error != NULL) {
            reset_call(op);
            g_task_return_error(task, error);
            return;
        }
        op->index++;
        break;
    }
    run_next(task);
}

static void
run_next(GTask *task)
{
    CniOp *op = g_task_get_task_data(task);
    guint n = json_array_get_length(op->plugins);
    GError *error = NULL;

    if (op->index < 0 || op->index >= (int)n) {
        if (op->undoing) {
            /* The ADD's own error is the answer. */
            reset_call(op);
            if (op->undo_error != NULL) {
                char *message = g_strdup_printf(_("%s (undoing it failed too: %s)"),
                                                op->first_error->message, op->undo_error->message);
                g_free(op->first_error->message);
                op->first_error->message = message;
            }
            g_clear_pointer(&op->result, podvm_cni_result_free);
            g_task_return_error(task, g_steal_pointer(&op->first_error));
            return;
        }
        complete(task);
        return;
    }
    if (!start_call(task, &error))
        plugin_finished(task, error);
}

/* ---- entry points ---------------------------------------------------------------- */

static gboolean
container_id_is_valid(const char *id)
{
    gsize length = id != NULL ? strlen(id) : 0;

    if (length == 0 || length > 256)
        return FALSE;
    for (gsize i = 0; i < length; i++) {
        if (!g_ascii_isalnum(id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-')
            return FALSE;
    }
    return TRUE;
}

/* A CniOp for @network and @attachment, or NULL with @error. */
static CniOp *
op_new(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
       const PodvmCniAttachment *attachment, CniCommand command, const char *prev_result,
       GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) local = NULL;
    CniOp *op;
    JsonObject *object;

    if (network->sriov_pool != NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("network '%s' is the SR-IOV pool '%s': podvm assigns its VFs, no CNI "
                      "plugin runs for it"),
                    network->name, network->sriov_pool);
        return NULL;
    }
    if (!container_id_is_valid(attachment->container_id)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("'%s' is not a CNI container id (letters, digits, '_', '.', '-')"),
                    attachment->container_id != NULL ? attachment->container_id : "");
        return NULL;
    }
    if (attachment->netns_path == NULL || !g_path_is_absolute(attachment->netns_path)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the CNI network namespace must be an absolute path"));
        return NULL;
    }
    if (!podvm_net_ifname_valid(attachment->ifname)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("'%s' is not an interface name (1 to 15 bytes, no '/', ':' or space)"),
                    attachment->ifname != NULL ? attachment->ifname : "");
        return NULL;
    }
    for (guint i = 0; i < attachment->n_port_mappings; i++) {
        const PodvmCniPortMapping *m = &attachment->port_mappings[i];

        if ((g_strcmp0(m->protocol, "tcp") != 0 && g_strcmp0(m->protocol, "udp") != 0) ||
            m->host_port < 1 || m->host_port > 65535 || m->container_port < 1 ||
            m->container_port > 65535) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("port mapping %u: ports from 1 to 65535, protocol tcp or udp"), i);
            return NULL;
        }
    }
    /* Checked again: the conflist may come from a pod's state file. */
    {
        g_autoptr(PodvmCniNetwork) checked =
            podvm_cni_network_parse(network->conflist, -1, network->source, error);
        if (checked == NULL)
            return NULL;
    }
    root = podvm_json_parse_limited(network->conflist, -1, PODVM_CNI_MAX_CONFLIST,
                                    PODVM_CNI_MAX_DEPTH, error);
    if (root == NULL)
        return NULL;
    object = json_node_get_object(root);

    op = g_new0(CniOp, 1);
    if (prev_result != NULL) {
        g_autoptr(PodvmCniResult) parsed = podvm_cni_result_parse(prev_result, -1, &local);

        if (parsed == NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("the stored CNI result of network '%s': %s"), network->name,
                        local->message);
            op_free(op);
            return NULL;
        }
        op->prev = podvm_json_parse_limited(parsed->json, -1, G_MAXSIZE, PODVM_CNI_MAX_DEPTH, NULL);
    }
    op->plugin_dirs = g_strdupv(settings->plugin_dirs);
    if (op->plugin_dirs == NULL)
        op->plugin_dirs = g_new0(char *, 1);
    op->timeout_ms = settings->timeout_ms > 0 ? settings->timeout_ms : 30000;
    op->network_name = g_strdup(network->name);
    op->version = g_strdup(json_object_get_string_member(object, "cniVersion"));
    op->plugins = json_array_ref(json_object_get_array_member(object, "plugins"));
    op->container_id = g_strdup(attachment->container_id);
    op->netns_path = g_strdup(attachment->netns_path);
    op->ifname = g_strdup(attachment->ifname);
    if (attachment->n_port_mappings > 0)
        op->port_mappings = port_mappings_node(attachment);
    op->command = command;
    op->index = command == CNI_DEL ? (int)json_array_get_length(op->plugins) - 1 : 0;
    return op;
}

static void
start(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
      const PodvmCniAttachment *attachment, CniCommand command, const char *prev_result,
      gpointer source_tag, GCancellable *cancellable, GAsyncReadyCallback callback,
      gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GError) error = NULL;
    CniOp *op;

    g_task_set_source_tag(task, source_tag);
    /* A cancelled ADD is still undone; the answer is ours (PODVM_ERROR_CANCELLED), not GIO's. */
    g_task_set_check_cancellable(task, FALSE);
    op = op_new(settings, network, attachment, command, prev_result, &error);
    if (op == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_task_set_task_data(task, op, (GDestroyNotify)op_free);
    if (command == CNI_CHECK) {
        g_autoptr(JsonNode) root =
            podvm_json_parse_limited(network->conflist, -1, G_MAXSIZE, PODVM_CNI_MAX_DEPTH, NULL);
        JsonNode *disable = json_object_get_member(json_node_get_object(root), "disableCheck");

        if (disable != NULL && json_node_get_boolean(disable)) {
            g_task_return_boolean(task, TRUE);
            return;
        }
        if (op->prev == NULL) {
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                    _("CNI CHECK of network '%s' needs the result of its ADD"),
                                    network->name);
            return;
        }
    }
    run_next(task);
}

void
podvm_cni_add_async(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
                    const PodvmCniAttachment *attachment, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_return_if_fail(settings != NULL && network != NULL && attachment != NULL);
    start(settings, network, attachment, CNI_ADD, NULL, podvm_cni_add_async, cancellable, callback,
          user_data);
}

PodvmCniResult *
podvm_cni_add_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_cni_add_async, NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
podvm_cni_del_async(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
                    const PodvmCniAttachment *attachment, const char *prev_result,
                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_return_if_fail(settings != NULL && network != NULL && attachment != NULL);
    start(settings, network, attachment, CNI_DEL, prev_result, podvm_cni_del_async, cancellable,
          callback, user_data);
}

gboolean
podvm_cni_del_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_cni_del_async, FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
podvm_cni_check_async(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
                      const PodvmCniAttachment *attachment, const char *prev_result,
                      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_return_if_fail(settings != NULL && network != NULL && attachment != NULL);
    start(settings, network, attachment, CNI_CHECK, prev_result, podvm_cni_check_async, cancellable,
          callback, user_data);
}

gboolean
podvm_cni_check_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_cni_check_async, FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}
