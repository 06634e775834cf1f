/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One pod's io.podvm.PodVM1.Pod object: its properties kept in step with
 * the pod, its methods (operations, console, log, QMP, disks, exec), its
 * events.
 */
#include "podvm-dbus-private.h"

#include <errno.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <unistd.h>

#include "podvm-json.h"

/*
 * Phase and status change; name and uid are set once (set_identity). The
 * spec changes when it is replaced (the skeleton notifies only real changes).
 */
static void
update_properties(PodEntry *entry)
{
    g_autoptr(JsonNode) status = podvm_pod_get_status_json(entry->pod);
    g_autofree char *status_text = podvm_dbus_json_to_text(status);
    g_autoptr(JsonNode) spec = podvm_spec_to_json_redacted(podvm_pod_get_spec(entry->pod));
    g_autofree char *spec_text = podvm_dbus_json_to_text(spec);

    podvm_dbus_pod_set_phase(entry->iface, podvm_phase_to_string(podvm_pod_get_phase(entry->pod)));
    podvm_dbus_pod_set_status(entry->iface, status_text);
    podvm_dbus_pod_set_spec(entry->iface, spec_text);
}

static void
set_identity(PodEntry *entry)
{
    g_autoptr(JsonNode) spec = podvm_spec_to_json_redacted(podvm_pod_get_spec(entry->pod));
    g_autofree char *spec_text = podvm_dbus_json_to_text(spec);

    podvm_dbus_pod_set_name(entry->iface, podvm_pod_get_name(entry->pod));
    podvm_dbus_pod_set_uid(entry->iface, podvm_pod_get_uid(entry->pod));
    podvm_dbus_pod_set_spec(entry->iface, spec_text);
}

/* ---- pod methods ------------------------------------------------------- */

static void
op_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_run_finish(PODVM_POD(source), result, &error))
        podvm_dbus_return_error(invocation, error);
    else
        g_dbus_method_invocation_return_value(invocation, NULL);
}

static gboolean
run_op(PodEntry *entry, GDBusMethodInvocation *invocation, PodvmPodOp op,
       const PodvmPodOpOptions *options)
{
    podvm_pod_run_async(entry->pod, op, options, NULL, op_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_start(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, GVariant *options,
             gpointer user_data)
{
    PodvmPodOpOptions op_options = PODVM_POD_OP_OPTIONS_INIT;

    g_variant_lookup(options, "debug", "b", &op_options.debug);
    return run_op(user_data, invocation, PODVM_POD_OP_START, &op_options);
}

static gboolean
handle_stop(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gint grace_seconds,
            gpointer user_data)
{
    PodvmPodOpOptions op_options = PODVM_POD_OP_OPTIONS_INIT;

    /* -1 is how the D-Bus API says "the spec's"; any other value is the pod's to check. */
    op_options.grace_seconds = grace_seconds == -1 ? PODVM_POD_GRACE_FROM_SPEC : grace_seconds;
    return run_op(user_data, invocation, PODVM_POD_OP_STOP, &op_options);
}

/* The spec with its secrets; admins only, by the bus policy (data/io.podvm.PodVM1.conf). */
static gboolean
handle_get_spec(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(JsonNode) spec = podvm_spec_to_json(podvm_pod_get_spec(entry->pod));
    g_autofree char *spec_text = podvm_dbus_json_to_text(spec);

    podvm_dbus_pod_complete_get_spec(iface, invocation, spec_text);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_kill(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    return run_op(user_data, invocation, PODVM_POD_OP_KILL, NULL);
}

static gboolean
handle_pause(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    return run_op(user_data, invocation, PODVM_POD_OP_PAUSE, NULL);
}

static gboolean
handle_resume(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    return run_op(user_data, invocation, PODVM_POD_OP_RESUME, NULL);
}

static gboolean
handle_restart(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    return run_op(user_data, invocation, PODVM_POD_OP_RESTART, NULL);
}

static gboolean
handle_delete(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gboolean force,
              gpointer user_data)
{
    PodvmPodOpOptions op_options = PODVM_POD_OP_OPTIONS_INIT;

    op_options.force = force;
    return run_op(user_data, invocation, PODVM_POD_OP_DELETE, &op_options);
}

static gboolean
return_fd(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, int fd, GError *error,
          gboolean console)
{
    g_autoptr(GUnixFDList) fd_list = NULL;
    g_autoptr(GError) local = error;
    int index;

    if (fd < 0) {
        podvm_dbus_return_error(invocation, local);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    fd_list = g_unix_fd_list_new();
    index = g_unix_fd_list_append(fd_list, fd, &local);
    close(fd);
    if (index < 0) {
        podvm_dbus_return_error(invocation, local);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    if (console)
        podvm_dbus_pod_complete_open_console(iface, invocation, fd_list,
                                             g_variant_new_handle(index));
    else
        podvm_dbus_pod_complete_open_log(iface, invocation, fd_list, g_variant_new_handle(index));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_open_console(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, GUnixFDList *in_fds,
                    GVariant *options, gpointer user_data)
{
    PodEntry *entry = user_data;
    GError *error = NULL;
    gboolean replay = TRUE;
    int fd;

    g_variant_lookup(options, "replay", "b", &replay);
    fd = podvm_pod_open_console(entry->pod, replay, &error);
    return return_fd(iface, invocation, fd, error, TRUE);
}

static gboolean
handle_open_log(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, GUnixFDList *in_fds,
                gpointer user_data)
{
    PodEntry *entry = user_data;
    GError *error = NULL;
    int fd = podvm_pod_open_log(entry->pod, &error);

    return return_fd(iface, invocation, fd, error, FALSE);
}

static void
qmp_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = podvm_pod_qmp_finish(PODVM_POD(source), result, &error);
    g_autofree char *text = NULL;

    if (reply == NULL) {
        podvm_dbus_return_error(invocation, error);
        return;
    }
    text = podvm_dbus_json_to_text(reply);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

static gboolean
handle_qmp(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, const char *command,
           gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;

    if (podvm_dbus_document_too_large(invocation, command))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    node = podvm_qmp_command_parse(command, -1, &error);
    if (node == NULL) {
        podvm_dbus_return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    podvm_pod_qmp_async(entry->pod, node, NULL, qmp_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
guest_os_info_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) info = podvm_pod_guest_os_info_finish(PODVM_POD(source), result, &error);
    g_autofree char *text = NULL;

    if (info == NULL) {
        podvm_dbus_return_error(invocation, error);
        return;
    }
    text = podvm_dbus_json_to_text(info);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

static gboolean
handle_guest_os_info(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodEntry *entry = user_data;

    podvm_pod_guest_os_info_async(entry->pod, NULL, guest_os_info_done_cb,
                                  g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
freeze_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *status = podvm_pod_freeze_finish(PODVM_POD(source), result, &error);

    if (status == NULL) {
        podvm_dbus_return_error(invocation, error);
        return;
    }
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", status));
}

static gboolean
handle_freeze(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodEntry *entry = user_data;

    podvm_pod_freeze_async(entry->pod, TRUE, NULL, freeze_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_unfreeze(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodEntry *entry = user_data;

    podvm_pod_freeze_async(entry->pod, FALSE, NULL, freeze_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_attach_disk(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, const char *attachment,
                   gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;

    if (podvm_dbus_document_too_large(invocation, attachment))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    if (!podvm_manager_parse_attachment(entry->front->manager, attachment, -1, &disk, &volume, NULL,
                                        &error)) {
        podvm_dbus_return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    podvm_pod_attach_disk_async(entry->pod, disk, volume, NULL, op_done_cb,
                                g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_detach_disk(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, const char *disk,
                   gpointer user_data)
{
    PodEntry *entry = user_data;

    podvm_pod_detach_disk_async(entry->pod, disk, NULL, op_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_attach_interface(PodvmDBusPod *iface, GDBusMethodInvocation *invocation,
                        const char *attachment, gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpecInterface) nic = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;

    if (podvm_dbus_document_too_large(invocation, attachment))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    if (!podvm_manager_parse_interface_attachment(entry->front->manager, attachment, -1, &nic,
                                                  &network, NULL, &error)) {
        podvm_dbus_return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    podvm_pod_attach_interface_async(entry->pod, nic, network, NULL, op_done_cb,
                                     g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_detach_interface(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, const char *name,
                        gpointer user_data)
{
    PodEntry *entry = user_data;

    podvm_pod_detach_interface_async(entry->pod, name, NULL, op_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
migrate_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer =
        podvm_manager_migrate_finish(PODVM_MANAGER(source), result, &error);
    g_autofree char *text = NULL;

    if (answer == NULL) {
        podvm_dbus_return_error(invocation, error);
        return;
    }
    text = podvm_dbus_json_to_text(answer);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

/*
 * The request is the body of POST /v1/pods/NAME/migrate; "" (or null) is
 * no request, which the manager refuses as REST does an empty body.
 */
static gboolean
handle_migrate(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, const char *options,
               gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    JsonObject *request = NULL;

    if (podvm_dbus_document_too_large(invocation, options))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    if (*options != '\0') {
        node = podvm_json_parse(options, -1, &error);
        if (node == NULL) {
            g_dbus_method_invocation_return_error(
                invocation, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("the options are not valid JSON: %s"), error->message);
            return G_DBUS_METHOD_INVOCATION_HANDLED;
        }
        if (!JSON_NODE_HOLDS_NULL(node) && !JSON_NODE_HOLDS_OBJECT(node)) {
            g_dbus_method_invocation_return_error_literal(invocation, PODVM_ERROR,
                                                          PODVM_ERROR_INVALID_ARGUMENT,
                                                          _("the options must be a JSON object"));
            return G_DBUS_METHOD_INVOCATION_HANDLED;
        }
        if (JSON_NODE_HOLDS_OBJECT(node))
            request = json_node_get_object(node);
    }
    podvm_manager_migrate_async(entry->front->manager, podvm_pod_get_name(entry->pod), request,
                                NULL, migrate_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_cancel_migration(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(GError) error = NULL;

    if (!podvm_manager_cancel_migration(entry->front->manager, podvm_pod_get_name(entry->pod),
                                        &error))
        podvm_dbus_return_error(invocation, error);
    else
        podvm_dbus_pod_complete_cancel_migration(iface, invocation);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
exec_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    int exit_code = -1;

    if (!podvm_pod_exec_finish(PODVM_POD(source), result, &exit_code, &error))
        podvm_dbus_return_error(invocation, error);
    else
        g_dbus_method_invocation_return_value(invocation, g_variant_new("(i)", exit_code));
}

/*
 * The fds of the message, taken from it (the message would hold them open
 * until it goes, and the caller would never see the output's end), made
 * non-blocking for the main loop; NULL with INVALID_ARGUMENT when one of
 * the three handles does not name one.
 */
static int *
exec_take_fds(GDBusMethodInvocation *invocation, GUnixFDList *fd_list, GVariant *const *handles,
              int *out_n_fds)
{
    g_autofree int *fds = NULL;
    int n_fds = 0;

    if (fd_list != NULL)
        fds = g_unix_fd_list_steal_fds(fd_list, &n_fds);
    for (guint i = 0; i < 3; i++) {
        gint32 index = g_variant_get_handle(handles[i]);

        if (index < 0 || index >= n_fds) {
            for (int j = 0; j < n_fds; j++)
                close(fds[j]);
            g_dbus_method_invocation_return_error(
                invocation, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("Exec needs three file descriptors (stdin, stdout, stderr) with the call; "
                  "handle %d names none"),
                index);
            return NULL;
        }
    }
    for (int j = 0; j < n_fds; j++)
        g_unix_set_fd_nonblocking(fds[j], TRUE, NULL);
    *out_n_fds = n_fds;
    return g_steal_pointer(&fds);
}

static gboolean
handle_exec(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
            const char *app, const char *const *argv, GVariant *stdin_handle,
            GVariant *stdout_handle, GVariant *stderr_handle, gpointer user_data)
{
    PodEntry *entry = user_data;
    GVariant *handles[3] = { stdin_handle, stdout_handle, stderr_handle };
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GOutputStream) out = NULL;
    g_autoptr(GOutputStream) err = NULL;
    g_autofree int *fds = NULL;
    int n_fds = 0;
    int in_fd, out_fd, err_fd;

    fds = exec_take_fds(invocation, fd_list, handles, &n_fds);
    if (fds == NULL)
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    /* Each stream owns a copy: one fd may be given for two handles. */
    in_fd = dup(fds[g_variant_get_handle(stdin_handle)]);
    out_fd = dup(fds[g_variant_get_handle(stdout_handle)]);
    err_fd = dup(fds[g_variant_get_handle(stderr_handle)]);
    for (int j = 0; j < n_fds; j++)
        close(fds[j]);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
        int saved_errno = errno;

        if (in_fd >= 0)
            close(in_fd);
        if (out_fd >= 0)
            close(out_fd);
        if (err_fd >= 0)
            close(err_fd);
        g_dbus_method_invocation_return_error(invocation, PODVM_ERROR, PODVM_ERROR_IO,
                                              _("cannot take the file descriptors: %s"),
                                              g_strerror(saved_errno));
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    in = g_unix_input_stream_new(in_fd, TRUE);
    out = g_unix_output_stream_new(out_fd, TRUE);
    err = g_unix_output_stream_new(err_fd, TRUE);
    podvm_pod_exec_async(entry->pod, *app != '\0' ? app : NULL, argv, in, out, err, NULL,
                         exec_done_cb, g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
pod_changed_cb(PodvmPod *pod, gpointer user_data)
{
    update_properties(user_data);
}

static void
pod_event_cb(PodvmPod *pod, const char *type, JsonObject *details, gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), details);
    g_autofree char *text = podvm_dbus_json_to_text(node);

    podvm_dbus_pod_emit_event(entry->iface, type, text);
}

void
podvm_dbus_pod_entry_free(PodEntry *entry)
{
    g_autofree char *path = podvm_dbus_pod_path(podvm_pod_get_name(entry->pod));

    g_signal_handlers_disconnect_by_data(entry->pod, entry);
    g_signal_handlers_disconnect_by_data(entry->iface, entry);
    if (entry->front->object_manager != NULL)
        g_dbus_object_manager_server_unexport(entry->front->object_manager, path);
    g_object_unref(entry->iface);
    g_object_unref(entry->object);
    g_object_unref(entry->pod);
    g_free(entry);
}

void
podvm_dbus_front_add_pod(PodvmDBusFront *self, PodvmPod *pod)
{
    g_autofree char *path = podvm_dbus_pod_path(podvm_pod_get_name(pod));
    PodEntry *entry = g_new0(PodEntry, 1);

    entry->front = self;
    entry->pod = g_object_ref(pod);
    entry->object = podvm_dbus_object_skeleton_new(path);
    entry->iface = podvm_dbus_pod_skeleton_new();
    set_identity(entry);
    update_properties(entry);
    podvm_dbus_object_skeleton_set_pod(entry->object, entry->iface);

    g_signal_connect(entry->iface, "handle-start", G_CALLBACK(handle_start), entry);
    g_signal_connect(entry->iface, "handle-stop", G_CALLBACK(handle_stop), entry);
    g_signal_connect(entry->iface, "handle-kill", G_CALLBACK(handle_kill), entry);
    g_signal_connect(entry->iface, "handle-get-spec", G_CALLBACK(handle_get_spec), entry);
    g_signal_connect(entry->iface, "handle-pause", G_CALLBACK(handle_pause), entry);
    g_signal_connect(entry->iface, "handle-resume", G_CALLBACK(handle_resume), entry);
    g_signal_connect(entry->iface, "handle-restart", G_CALLBACK(handle_restart), entry);
    g_signal_connect(entry->iface, "handle-delete", G_CALLBACK(handle_delete), entry);
    g_signal_connect(entry->iface, "handle-open-console", G_CALLBACK(handle_open_console), entry);
    g_signal_connect(entry->iface, "handle-open-log", G_CALLBACK(handle_open_log), entry);
    g_signal_connect(entry->iface, "handle-qmp", G_CALLBACK(handle_qmp), entry);
    g_signal_connect(entry->iface, "handle-attach-disk", G_CALLBACK(handle_attach_disk), entry);
    g_signal_connect(entry->iface, "handle-detach-disk", G_CALLBACK(handle_detach_disk), entry);
    g_signal_connect(entry->iface, "handle-attach-interface", G_CALLBACK(handle_attach_interface),
                     entry);
    g_signal_connect(entry->iface, "handle-detach-interface", G_CALLBACK(handle_detach_interface),
                     entry);
    g_signal_connect(entry->iface, "handle-migrate", G_CALLBACK(handle_migrate), entry);
    g_signal_connect(entry->iface, "handle-cancel-migration", G_CALLBACK(handle_cancel_migration),
                     entry);
    g_signal_connect(entry->iface, "handle-exec", G_CALLBACK(handle_exec), entry);
    g_signal_connect(entry->iface, "handle-guest-osinfo", G_CALLBACK(handle_guest_os_info), entry);
    g_signal_connect(entry->iface, "handle-freeze", G_CALLBACK(handle_freeze), entry);
    g_signal_connect(entry->iface, "handle-unfreeze", G_CALLBACK(handle_unfreeze), entry);
    g_signal_connect(pod, "changed", G_CALLBACK(pod_changed_cb), entry);
    g_signal_connect(pod, "event", G_CALLBACK(pod_event_cb), entry);

    g_hash_table_insert(self->entries, g_strdup(podvm_pod_get_name(pod)), entry);
    if (self->object_manager != NULL)
        g_dbus_object_manager_server_export(self->object_manager,
                                            G_DBUS_OBJECT_SKELETON(entry->object));
}
