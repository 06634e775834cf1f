/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-qemu-img.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-json.h"

/*
 * One qemu-img run: argv only, stdout and stderr captured. The task's
 * result is stdout (a string) when qemu-img exits with status 0.
 */
typedef struct {
    GSubprocess *process;
    char *verb; /* "create", "info", ... for messages */
} RunData;

static void
run_data_free(RunData *data)
{
    g_clear_object(&data->process);
    g_free(data->verb);
    g_free(data);
}

/* qemu-img's last non-empty stderr line, trimmed: the line that says why. */
static char *
last_line(const char *text)
{
    g_auto(GStrv) lines = NULL;

    if (text == NULL)
        return NULL;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = g_strv_length(lines); i > 0; i--) {
        char *line = g_strstrip(lines[i - 1]);
        if (*line != '\0')
            return g_strdup(line);
    }
    return NULL;
}

static void
communicate_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    RunData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *why = NULL;

    if (!g_subprocess_communicate_utf8_finish(data->process, result, &out, &err, &error)) {
        /* Cancelled (or the pipes broke): the child must not outlive the request. */
        g_subprocess_force_exit(data->process);
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                    _("qemu-img %s was cancelled"), data->verb);
        else
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                    _("qemu-img %s failed: %s"), data->verb, error->message);
        return;
    }
    if (g_subprocess_get_successful(data->process)) {
        g_task_return_pointer(task, g_steal_pointer(&out), g_free);
        return;
    }
    why = last_line(err);
    if (why == NULL) {
        if (g_subprocess_get_if_signaled(data->process))
            why =
                g_strdup_printf(_("killed by signal %d"), g_subprocess_get_term_sig(data->process));
        else
            why = g_strdup_printf(_("exit status %d"), g_subprocess_get_exit_status(data->process));
    }
    g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED, _("qemu-img %s failed: %s"),
                            data->verb, why);
}

/*
 * @args: NULL-terminated arguments after "qemu-img"; args[0] is the verb.
 * Callers pass absolute paths: with a leading '/' qemu-img never reads a
 * path as an option or as a protocol prefix ("nbd:", "json:").
 */
static void
run_qemu_img(const char *qemu_img, const char *const *args, gpointer source_tag,
             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *command = NULL;
    RunData *data = g_new0(RunData, 1);

    g_task_set_source_tag(task, source_tag);
    data->verb = g_strdup(args[0]);
    g_task_set_task_data(task, data, (GDestroyNotify)run_data_free);

    g_ptr_array_add(argv, (gpointer)(qemu_img != NULL ? qemu_img : "qemu-img"));
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);

    command = g_strjoinv(" ", (char **)argv->pdata);
    g_debug("running %s", command);

    data->process =
        g_subprocess_newv((const char *const *)argv->pdata,
                          G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
    if (data->process == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot run '%s': %s"),
                                (const char *)argv->pdata[0], error->message);
        return;
    }
    g_subprocess_communicate_utf8_async(data->process, NULL, cancellable, communicate_cb,
                                        g_steal_pointer(&task));
}

static char *
size_arg(guint64 size)
{
    return g_strdup_printf("%" G_GUINT64_FORMAT, size);
}

static gboolean
finish_boolean(GAsyncResult *result, gpointer source_tag, GError **error)
{
    g_autofree char *out = NULL;

    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == source_tag, FALSE);
    out = g_task_propagate_pointer(G_TASK(result), error);
    return out != NULL;
}

void
podvm_qemu_img_create_async(const char *qemu_img, const char *format, const char *path,
                            guint64 size, const char *backing, const char *backing_format,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    g_autofree char *size_text = size > 0 ? size_arg(size) : NULL;
    const char *args[10];
    guint n = 0;

    g_return_if_fail(format != NULL && path != NULL);
    g_return_if_fail(backing == NULL || backing_format != NULL);

    args[n++] = "create";
    args[n++] = "-f";
    args[n++] = format;
    if (backing != NULL) {
        args[n++] = "-b";
        args[n++] = backing;
        args[n++] = "-F";
        args[n++] = backing_format;
    }
    args[n++] = path;
    if (size_text != NULL)
        args[n++] = size_text;
    args[n] = NULL;
    run_qemu_img(qemu_img, args, podvm_qemu_img_create_async, cancellable, callback, user_data);
}

gboolean
podvm_qemu_img_create_finish(GAsyncResult *result, GError **error)
{
    return finish_boolean(result, podvm_qemu_img_create_async, error);
}

void
podvm_qemu_img_info_async(const char *qemu_img, const char *path, const char *format,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    const char *args[7];
    guint n = 0;

    g_return_if_fail(path != NULL);

    args[n++] = "info";
    args[n++] = "--output=json";
    if (format != NULL) {
        args[n++] = "-f";
        args[n++] = format;
    }
    args[n++] = path;
    args[n] = NULL;
    run_qemu_img(qemu_img, args, podvm_qemu_img_info_async, cancellable, callback, user_data);
}

JsonObject *
podvm_qemu_img_info_finish(GAsyncResult *result, GError **error)
{
    g_autofree char *out = NULL;
    g_autoptr(GError) parse_error = NULL;
    g_autoptr(JsonNode) root = NULL;

    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_qemu_img_info_async, NULL);
    out = g_task_propagate_pointer(G_TASK(result), error);
    if (out == NULL)
        return NULL;

    root = podvm_json_parse_limited(out, -1, G_MAXSIZE, PODVM_JSON_MAX_DEPTH, &parse_error);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("qemu-img info gave output that is not JSON: %s"), parse_error->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("qemu-img info gave output that is not a JSON object"));
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

void
podvm_qemu_img_convert_async(const char *qemu_img, const char *in, const char *in_format,
                             const char *out, const char *out_format, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
    const char *args[] = { "convert", "-f", in_format, "-O", out_format, in, out, NULL };

    g_return_if_fail(in != NULL && in_format != NULL && out != NULL && out_format != NULL);
    run_qemu_img(qemu_img, args, podvm_qemu_img_convert_async, cancellable, callback, user_data);
}

gboolean
podvm_qemu_img_convert_finish(GAsyncResult *result, GError **error)
{
    return finish_boolean(result, podvm_qemu_img_convert_async, error);
}

void
podvm_qemu_img_resize_async(const char *qemu_img, const char *path, const char *format,
                            guint64 size, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    g_autofree char *size_text = size_arg(size);
    const char *args[] = { "resize", "-f", format, path, size_text, NULL };

    g_return_if_fail(path != NULL && format != NULL);
    run_qemu_img(qemu_img, args, podvm_qemu_img_resize_async, cancellable, callback, user_data);
}

gboolean
podvm_qemu_img_resize_finish(GAsyncResult *result, GError **error)
{
    return finish_boolean(result, podvm_qemu_img_resize_async, error);
}
