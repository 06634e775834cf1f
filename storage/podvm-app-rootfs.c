/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App root filesystems from podvmd's side: the struct, its JSON form (the
 * cache's .json file and the helper's answer) and running the helper
 * podvm-unpack-app-rootfs, so podvmd never parses layers nor links
 * libarchive. See podvm-app-rootfs.h.
 */
#include "podvm-app-rootfs.h"

#include <glib/gi18n-lib.h>
#include <signal.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-helper-answer.h"
#include "podvm-json.h"

void
podvm_app_rootfs_free(PodvmAppRootfs *rootfs)
{
    if (rootfs == NULL)
        return;
    g_free(rootfs->path);
    g_free(rootfs->fs_type);
    g_free(rootfs->digest);
    g_strfreev(rootfs->entrypoint);
    g_strfreev(rootfs->cmd);
    g_strfreev(rootfs->env);
    g_free(rootfs->working_dir);
    g_free(rootfs->user);
    g_strfreev(rootfs->exposed_ports);
    g_free(rootfs);
}

static void
add_string(JsonBuilder *builder, const char *name, const char *value)
{
    if (value == NULL)
        return;
    json_builder_set_member_name(builder, name);
    json_builder_add_string_value(builder, value);
}

static void
add_strv(JsonBuilder *builder, const char *name, char *const *values, gboolean always)
{
    if (values == NULL && !always)
        return;
    json_builder_set_member_name(builder, name);
    json_builder_begin_array(builder);
    for (guint i = 0; values != NULL && values[i] != NULL; i++)
        json_builder_add_string_value(builder, values[i]);
    json_builder_end_array(builder);
}

/*
 * {"path", "fsType", "digest", "entrypoint"?, "cmd"?, "env", "workingDir"?,
 *  "user"?, "exposedPorts", "cached"}: entrypoint and cmd are absent when
 * the image gives none (an empty list is an empty command).
 */
JsonNode *
podvm_app_rootfs_to_json(const PodvmAppRootfs *rootfs)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    json_builder_begin_object(builder);
    add_string(builder, "path", rootfs->path);
    add_string(builder, "fsType", rootfs->fs_type);
    add_string(builder, "digest", rootfs->digest);
    add_strv(builder, "entrypoint", rootfs->entrypoint, FALSE);
    add_strv(builder, "cmd", rootfs->cmd, FALSE);
    add_strv(builder, "env", rootfs->env, TRUE);
    add_string(builder, "workingDir", rootfs->working_dir);
    add_string(builder, "user", rootfs->user);
    add_strv(builder, "exposedPorts", rootfs->exposed_ports, TRUE);
    json_builder_set_member_name(builder, "cached");
    json_builder_add_boolean_value(builder, rootfs->cached);
    json_builder_end_object(builder);
    return json_builder_get_root(builder);
}

static gboolean
get_string(JsonObject *object, const char *name, char **out, GError **error)
{
    JsonNode *node = json_object_get_member(object, name);

    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("app root filesystem: \"%s\" is not a string"), name);
        return FALSE;
    }
    *out = g_strdup(json_node_get_string(node));
    return TRUE;
}

static gboolean
get_strv(JsonObject *object, const char *name, GStrv *out, GError **error)
{
    JsonNode *node = json_object_get_member(object, name);
    g_autoptr(GStrvBuilder) builder = NULL;
    JsonArray *array;

    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("app root filesystem: \"%s\" is not a list of strings"), name);
        return FALSE;
    }
    array = json_node_get_array(node);
    builder = g_strv_builder_new();
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);

        if (json_node_get_value_type(element) != G_TYPE_STRING) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("app root filesystem: \"%s\" is not a list of strings"), name);
            return FALSE;
        }
        g_strv_builder_add(builder, json_node_get_string(element));
    }
    *out = g_strv_builder_end(builder);
    return TRUE;
}

PodvmAppRootfs *
podvm_app_rootfs_from_json(JsonNode *node, GError **error)
{
    g_autoptr(PodvmAppRootfs) rootfs = g_new0(PodvmAppRootfs, 1);
    JsonObject *object;
    JsonNode *cached;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("app root filesystem: not a JSON object"));
        return NULL;
    }
    object = json_node_get_object(node);
    if (!get_string(object, "path", &rootfs->path, error) ||
        !get_string(object, "fsType", &rootfs->fs_type, error) ||
        !get_string(object, "digest", &rootfs->digest, error) ||
        !get_strv(object, "entrypoint", &rootfs->entrypoint, error) ||
        !get_strv(object, "cmd", &rootfs->cmd, error) ||
        !get_strv(object, "env", &rootfs->env, error) ||
        !get_string(object, "workingDir", &rootfs->working_dir, error) ||
        !get_string(object, "user", &rootfs->user, error) ||
        !get_strv(object, "exposedPorts", &rootfs->exposed_ports, error))
        return NULL;
    if (rootfs->fs_type == NULL)
        rootfs->fs_type = g_strdup("erofs");
    if (rootfs->env == NULL)
        rootfs->env = g_new0(char *, 1);
    if (rootfs->exposed_ports == NULL)
        rootfs->exposed_ports = g_new0(char *, 1);
    cached = json_object_get_member(object, "cached");
    rootfs->cached = cached != NULL && json_node_get_value_type(cached) == G_TYPE_BOOLEAN &&
                     json_node_get_boolean(cached);
    return g_steal_pointer(&rootfs);
}

/* ------------------------------------------------------------------------ */
/* Running the helper */

typedef struct {
    char *helper;
    char *image; /* for messages */
    GSubprocess *process;
    gulong cancelled_id;
    GCancellable *cancellable;
} HelperCall;

static void
helper_call_free(HelperCall *call)
{
    if (call->cancelled_id != 0)
        g_cancellable_disconnect(call->cancellable, call->cancelled_id);
    g_clear_object(&call->cancellable);
    g_clear_object(&call->process);
    g_free(call->helper);
    g_free(call->image);
    g_free(call);
}

static PodvmAppRootfs *
parse_answer(const HelperCall *call, const char *out, const char *err, GError **error)
{
    g_autofree char *who = g_strdup_printf(_("image '%s': the app root filesystem helper '%s'"),
                                           call->image, call->helper);
    g_autoptr(JsonObject) object = podvm_helper_read_answer(
        call->process, out, err, who, _("building the app root filesystem failed"), error);
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) local = NULL;

    if (object == NULL)
        return NULL;
    root = json_node_init_object(json_node_alloc(), object);
    rootfs = podvm_app_rootfs_from_json(root, &local);
    if (rootfs == NULL || rootfs->path == NULL || rootfs->digest == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': the app root filesystem helper '%s' gave an answer without "
                      "a path or digest%s%s"),
                    call->image, call->helper, local != NULL ? ": " : "",
                    local != NULL ? local->message : "");
        return NULL;
    }
    return g_steal_pointer(&rootfs);
}

/* The helper's log lines (skipped device nodes and the like, each naming
 * the image) go to ours. */
static void
relay_log(const char *err)
{
    g_auto(GStrv) lines = g_strsplit(err != NULL ? err : "", "\n", 64);

    for (guint i = 0; lines[i] != NULL; i++) {
        if (*g_strstrip(lines[i]) != '\0')
            g_message("%s", lines[i]);
    }
}

static void
communicated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    HelperCall *call = g_task_get_task_data(task);
    g_autofree char *out = NULL, *err = NULL;
    GError *error = NULL;
    PodvmAppRootfs *rootfs;

    if (!g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), result, &out, &err, &error)) {
        /* Cancelled: the helper was told to stop (SIGTERM) and cleans up. */
        g_task_return_error(task, error);
        return;
    }
    rootfs = parse_answer(call, out, err, &error);
    if (rootfs == NULL) {
        g_task_return_error(task, error);
        return;
    }
    relay_log(err);
    g_task_return_pointer(task, rootfs, (GDestroyNotify)podvm_app_rootfs_free);
}

/* Cancelled while the helper runs: it removes its temporary files on SIGTERM. */
static void
cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    GSubprocess *process = user_data;

    (void)cancellable;
    g_subprocess_send_signal(process, SIGTERM);
}

void
podvm_app_rootfs_build_in_helper_async(const char *helper, const char *image,
                                       const char *rootfs_dir, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    HelperCall *call = g_new0(HelperCall, 1);
    GError *error = NULL;
    const char *argv[] = { helper, image, rootfs_dir, NULL };

    g_return_if_fail(image != NULL);
    g_return_if_fail(rootfs_dir != NULL);

    g_task_set_source_tag(task, podvm_app_rootfs_build_in_helper_async);
    g_task_set_task_data(task, call, (GDestroyNotify)helper_call_free);
    call->helper = g_strdup(helper != NULL ? helper : "");
    call->image = g_strescape(image, NULL);
    if (helper == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("app pods need the podvm-unpack-app-rootfs helper; set [apps] "
                                  "rootfs_helper in podvmd.conf"));
        return;
    }
    call->process = g_subprocess_newv(
        argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
    if (call->process == NULL) {
        g_prefix_error(&error, _("cannot run the app root filesystem helper '%s': "), helper);
        g_task_return_error(task, podvm_error_from_component(error));
        g_error_free(error);
        return;
    }
    if (cancellable != NULL) {
        call->cancellable = g_object_ref(cancellable);
        call->cancelled_id =
            g_cancellable_connect(cancellable, G_CALLBACK(cancelled_cb), call->process, NULL);
    }
    g_subprocess_communicate_utf8_async(call->process, NULL, cancellable, communicated_cb,
                                        g_steal_pointer(&task));
}

PodvmAppRootfs *
podvm_app_rootfs_build_in_helper_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
