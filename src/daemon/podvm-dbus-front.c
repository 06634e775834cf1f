/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-dbus-front.h"

#include <gio/gunixfdlist.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>

#include "podvm-build-config.h"
#include "podvm-config.h"
#include "podvm-dbus-generated.h"
#include "podvm-error.h"
#include "podvm-json.h"

/* The D-Bus side of one pod. */
typedef struct {
    PodvmDBusFront *front; /* unowned */
    PodvmPod *pod;
    PodvmDBusObjectSkeleton *object;
    PodvmDBusPod *iface;
} PodEntry;

struct _PodvmDBusFront {
    GObject parent_instance;

    PodvmManager *manager;
    GDBusObjectManagerServer *object_manager;
    PodvmDBusManager *manager_iface;
    GHashTable *entries; /* name -> PodEntry* */
};

G_DEFINE_FINAL_TYPE(PodvmDBusFront, podvm_dbus_front, G_TYPE_OBJECT)

char *
podvm_dbus_pod_path(const char *name)
{
    g_autofree char *escaped = g_dbus_escape_object_path(name);

    return g_strconcat(PODVM_DBUS_POD_PATH_PREFIX, escaped, NULL);
}

static void
return_error(GDBusMethodInvocation *invocation, const GError *error)
{
    g_autoptr(GError) ours = podvm_error_from_component(error);

    g_dbus_method_invocation_return_gerror(invocation, ours);
}

/*
 * A string argument carrying a document (spec, attachment, QMP command) is at
 * most what a REST body may be. dbus-daemon passes far larger messages; this
 * refuses them before any parser copies them.
 */
#define MAX_DOCUMENT_ARGUMENT PODVM_JSON_MAX_SIZE

static gboolean
document_too_large(GDBusMethodInvocation *invocation, const char *text)
{
    gsize length = strlen(text);

    if (length <= MAX_DOCUMENT_ARGUMENT)
        return FALSE;
    g_dbus_method_invocation_return_error(
        invocation, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
        _("the argument of %s is %" G_GSIZE_FORMAT " bytes long; at most %u are accepted"),
        g_dbus_method_invocation_get_method_name(invocation), length, (guint)MAX_DOCUMENT_ARGUMENT);
    return TRUE;
}

static char *
json_to_text(JsonNode *node)
{
    return podvm_json_to_string(node, FALSE);
}

/*
 * Phase and status change; name and uid are set once (set_identity). The
 * spec changes when it is replaced (the skeleton notifies only real changes).
 */
static void
update_properties(PodEntry *entry)
{
    g_autoptr(JsonNode) status = podvm_pod_get_status_json(entry->pod);
    g_autofree char *status_text = json_to_text(status);
    g_autoptr(JsonNode) spec = podvm_spec_to_json_redacted(podvm_pod_get_spec(entry->pod));
    g_autofree char *spec_text = json_to_text(spec);

    podvm_dbus_pod_set_phase(entry->iface, podvm_phase_to_string(podvm_pod_get_phase(entry->pod)));
    podvm_dbus_pod_set_status(entry->iface, status_text);
    podvm_dbus_pod_set_spec(entry->iface, spec_text);
}

static void
set_identity(PodEntry *entry)
{
    g_autoptr(JsonNode) spec = podvm_spec_to_json_redacted(podvm_pod_get_spec(entry->pod));
    g_autofree char *spec_text = json_to_text(spec);

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
        return_error(invocation, error);
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
        return_error(invocation, local);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    fd_list = g_unix_fd_list_new();
    index = g_unix_fd_list_append(fd_list, fd, &local);
    close(fd);
    if (index < 0) {
        return_error(invocation, local);
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
        return_error(invocation, error);
        return;
    }
    text = json_to_text(reply);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

static gboolean
handle_qmp(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, const char *command,
           gpointer user_data)
{
    PodEntry *entry = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;

    if (document_too_large(invocation, command))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    node = podvm_qmp_command_parse(command, -1, &error);
    if (node == NULL) {
        return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    podvm_pod_qmp_async(entry->pod, node, NULL, qmp_done_cb, g_object_ref(invocation));
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

    if (document_too_large(invocation, attachment))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    if (!podvm_manager_parse_attachment(entry->front->manager, attachment, -1, &disk, &volume, NULL,
                                        &error)) {
        return_error(invocation, error);
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
    g_autofree char *text = json_to_text(node);

    podvm_dbus_pod_emit_event(entry->iface, type, text);
}

static void
entry_free(PodEntry *entry)
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

static void
add_pod(PodvmDBusFront *self, PodvmPod *pod)
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
    g_signal_connect(entry->iface, "handle-pause", G_CALLBACK(handle_pause), entry);
    g_signal_connect(entry->iface, "handle-resume", G_CALLBACK(handle_resume), entry);
    g_signal_connect(entry->iface, "handle-restart", G_CALLBACK(handle_restart), entry);
    g_signal_connect(entry->iface, "handle-delete", G_CALLBACK(handle_delete), entry);
    g_signal_connect(entry->iface, "handle-open-console", G_CALLBACK(handle_open_console), entry);
    g_signal_connect(entry->iface, "handle-open-log", G_CALLBACK(handle_open_log), entry);
    g_signal_connect(entry->iface, "handle-qmp", G_CALLBACK(handle_qmp), entry);
    g_signal_connect(entry->iface, "handle-attach-disk", G_CALLBACK(handle_attach_disk), entry);
    g_signal_connect(entry->iface, "handle-detach-disk", G_CALLBACK(handle_detach_disk), entry);
    g_signal_connect(pod, "changed", G_CALLBACK(pod_changed_cb), entry);
    g_signal_connect(pod, "event", G_CALLBACK(pod_event_cb), entry);

    g_hash_table_insert(self->entries, g_strdup(podvm_pod_get_name(pod)), entry);
    if (self->object_manager != NULL)
        g_dbus_object_manager_server_export(self->object_manager,
                                            G_DBUS_OBJECT_SKELETON(entry->object));
}

static void
pod_added_cb(PodvmManager *manager, PodvmPod *pod, gpointer user_data)
{
    add_pod(user_data, pod);
}

static void
pod_removed_cb(PodvmManager *manager, PodvmPod *pod, gpointer user_data)
{
    PodvmDBusFront *self = user_data;

    g_hash_table_remove(self->entries, podvm_pod_get_name(pod));
}

static void
manager_event_cb(PodvmManager *manager, const char *pod, const char *type, JsonObject *details,
                 gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), details);
    g_autofree char *text = json_to_text(node);

    podvm_dbus_manager_emit_event(self->manager_iface, pod, type, text);
}

/* ---- manager methods ---------------------------------------------------- */

static gboolean
handle_create_pod(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *spec,
                  gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    PodvmPod *pod;

    if (document_too_large(invocation, spec))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    pod = podvm_manager_create_pod(self->manager, spec, -1, NULL, &error);
    if (pod == NULL) {
        return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    path = podvm_dbus_pod_path(podvm_pod_get_name(pod));
    podvm_dbus_manager_complete_create_pod(iface, invocation, path);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_pod(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *name,
               gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    PodvmPod *pod = podvm_manager_lookup(self->manager, name, &error);

    if (pod == NULL) {
        return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    path = podvm_dbus_pod_path(podvm_pod_get_name(pod));
    podvm_dbus_manager_complete_get_pod(iface, invocation, path);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_pods(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GBytes) list = podvm_manager_list_text(self->manager, NULL, PODVM_LIST_COMPACT);

    /* The bytes end in a NUL. */
    podvm_dbus_manager_complete_list_pods(iface, invocation, g_bytes_get_data(list, NULL));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- volumes -------------------------------------------------------------- */

static void
volume_created_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) volume = NULL;
    g_autofree char *text = NULL;

    volume = podvm_manager_create_volume_finish(PODVM_MANAGER(source), result, &error);
    if (volume == NULL) {
        return_error(invocation, error);
        return;
    }
    text = json_to_text(volume);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

/*
 * CreateVolume's options are the volume's description, checked by the core
 * as REST's body is. An empty string is how D-Bus leaves a string out.
 */
static gboolean
handle_create_volume(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, GVariant *options,
                     gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(JsonNode) node = json_gvariant_serialize(options);
    JsonObject *description = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;

    for (guint i = 0; description != NULL && i < 2; i++) {
        const char *member = i == 0 ? "from" : "sha256";
        JsonNode *value = json_object_get_member(description, member);

        if (value != NULL && json_node_get_value_type(value) == G_TYPE_STRING &&
            json_node_get_string(value)[0] == '\0')
            json_object_remove_member(description, member);
    }
    podvm_manager_create_volume_from_json_async(self->manager, description, NULL, volume_created_cb,
                                                g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_volume(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *name,
                  gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(self->manager, &error);
    g_autoptr(JsonNode) volume = NULL;
    g_autofree char *text = NULL;

    if (pool != NULL)
        volume = podvm_volume_pool_get_json(pool, name, &error);
    if (volume == NULL) {
        return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    text = json_to_text(volume);
    podvm_dbus_manager_complete_get_volume(iface, invocation, text);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_volumes(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(self->manager, &error);
    g_autoptr(JsonNode) list = NULL;
    g_autofree char *text = NULL;

    if (pool == NULL) {
        return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    list = podvm_volume_pool_list_json(pool);
    text = json_to_text(list);
    podvm_dbus_manager_complete_list_volumes(iface, invocation, text);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_delete_volume(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *name,
                     gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(self->manager, &error);

    if (pool == NULL || !podvm_volume_pool_delete(pool, name, &error)) {
        return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    podvm_dbus_manager_complete_delete_volume(iface, invocation);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- the object ---------------------------------------------------------- */

static void
podvm_dbus_front_dispose(GObject *object)
{
    PodvmDBusFront *self = PODVM_DBUS_FRONT(object);

    if (self->manager != NULL)
        g_signal_handlers_disconnect_by_data(self->manager, self);
    g_clear_pointer(&self->entries, g_hash_table_unref);
    g_clear_object(&self->object_manager);
    g_clear_object(&self->manager_iface);
    g_clear_object(&self->manager);
    G_OBJECT_CLASS(podvm_dbus_front_parent_class)->dispose(object);
}

static void
podvm_dbus_front_class_init(PodvmDBusFrontClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = podvm_dbus_front_dispose;
}

static void
podvm_dbus_front_init(PodvmDBusFront *self)
{
    self->entries =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)entry_free);
}

PodvmDBusFront *
podvm_dbus_front_new(PodvmManager *manager)
{
    PodvmDBusFront *self = g_object_new(PODVM_TYPE_DBUS_FRONT, NULL);
    const PodvmConfig *config = podvm_manager_get_config(manager);
    g_autoptr(GPtrArray) pods = podvm_manager_list(manager);

    /* Registers the error domain's D-Bus names before any reply. */
    (void)PODVM_ERROR;
    self->manager = g_object_ref(manager);
    self->manager_iface = podvm_dbus_manager_skeleton_new();
    podvm_dbus_manager_set_version(self->manager_iface, PODVM_VERSION);
    podvm_dbus_manager_set_accelerator(self->manager_iface, podvm_accel_to_string(config->accel));
    podvm_dbus_manager_set_qemu_binary(self->manager_iface, config->qemu_binary);
    g_signal_connect(self->manager_iface, "handle-create-pod", G_CALLBACK(handle_create_pod), self);
    g_signal_connect(self->manager_iface, "handle-get-pod", G_CALLBACK(handle_get_pod), self);
    g_signal_connect(self->manager_iface, "handle-list-pods", G_CALLBACK(handle_list_pods), self);
    g_signal_connect(self->manager_iface, "handle-create-volume", G_CALLBACK(handle_create_volume),
                     self);
    g_signal_connect(self->manager_iface, "handle-get-volume", G_CALLBACK(handle_get_volume), self);
    g_signal_connect(self->manager_iface, "handle-list-volumes", G_CALLBACK(handle_list_volumes),
                     self);
    g_signal_connect(self->manager_iface, "handle-delete-volume", G_CALLBACK(handle_delete_volume),
                     self);

    for (guint i = 0; i < pods->len; i++)
        add_pod(self, g_ptr_array_index(pods, i));
    g_signal_connect(manager, "pod-added", G_CALLBACK(pod_added_cb), self);
    g_signal_connect(manager, "pod-removed", G_CALLBACK(pod_removed_cb), self);
    g_signal_connect(manager, "event", G_CALLBACK(manager_event_cb), self);
    return self;
}

gboolean
podvm_dbus_front_export(PodvmDBusFront *self, GDBusConnection *connection, GError **error)
{
    GHashTableIter iter;
    gpointer value;

    /*
     * The Manager interface sits beside the ObjectManager at the same path;
     * the ObjectManager only exports objects below it (the pods).
     */
    if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(self->manager_iface),
                                          connection, PODVM_DBUS_PATH, error))
        return FALSE;
    self->object_manager = g_dbus_object_manager_server_new(PODVM_DBUS_PATH);
    g_hash_table_iter_init(&iter, self->entries);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        PodEntry *entry = value;
        g_dbus_object_manager_server_export(self->object_manager,
                                            G_DBUS_OBJECT_SKELETON(entry->object));
    }
    g_dbus_object_manager_server_set_connection(self->object_manager, connection);
    return TRUE;
}
