/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus front: io.podvm.PodVM1.Manager (pods, volumes, images, the
 * event signal), the ObjectManager that exports one Pod object per pod
 * (podvm-dbus-pod.c), and what both share: errors and JSON text.
 */
#include "podvm-dbus-private.h"

#include <string.h>

#include "podvm-build-config.h"
#include "podvm-config.h"
#include "podvm-json.h"

G_DEFINE_FINAL_TYPE(PodvmDBusFront, podvm_dbus_front, G_TYPE_OBJECT)

char *
podvm_dbus_pod_path(const char *name)
{
    g_autofree char *escaped = g_dbus_escape_object_path(name);

    return g_strconcat(PODVM_DBUS_POD_PATH_PREFIX, escaped, NULL);
}

void
podvm_dbus_return_error(GDBusMethodInvocation *invocation, const GError *error)
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

gboolean
podvm_dbus_document_too_large(GDBusMethodInvocation *invocation, const char *text)
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

char *
podvm_dbus_json_to_text(JsonNode *node)
{
    return podvm_json_to_string(node, FALSE);
}

static void
pod_added_cb(PodvmManager *manager, PodvmPod *pod, gpointer user_data)
{
    podvm_dbus_front_add_pod(user_data, pod);
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
    g_autofree char *text = podvm_dbus_json_to_text(node);

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

    if (podvm_dbus_document_too_large(invocation, spec))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    pod = podvm_manager_create_pod(self->manager, spec, -1, NULL, &error);
    if (pod == NULL) {
        podvm_dbus_return_error(invocation, error);
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
        podvm_dbus_return_error(invocation, error);
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

/* ListPodsFiltered: "labelSelector" (s), parsed as REST's ?labelSelector=; nothing else. */
static gboolean
handle_list_pods_filtered(PodvmDBusManager *iface, GDBusMethodInvocation *invocation,
                          GVariant *options, gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(PodvmLabelSelector) selector = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) list = NULL;
    GVariantIter iter;
    const char *key;
    GVariant *value;

    g_variant_iter_init(&iter, options);
    while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
        /* Each way out of the loop lets go of the value (g_variant_iter_loop would leak it). */
        g_autoptr(GVariant) owned = value;

        if (!g_str_equal(key, "labelSelector")) {
            g_dbus_method_invocation_return_error(
                invocation, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("unknown option '%s'; ListPodsFiltered takes labelSelector"), key);
            return G_DBUS_METHOD_INVOCATION_HANDLED;
        }
        if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
            g_dbus_method_invocation_return_error_literal(
                invocation, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("option 'labelSelector' must be a string (s)"));
            return G_DBUS_METHOD_INVOCATION_HANDLED;
        }
        g_clear_pointer(&selector, podvm_label_selector_free);
        selector = podvm_label_selector_parse(g_variant_get_string(value, NULL), &error);
        if (selector == NULL) {
            podvm_dbus_return_error(invocation, error);
            return G_DBUS_METHOD_INVOCATION_HANDLED;
        }
    }
    list = podvm_manager_list_text(self->manager, selector, PODVM_LIST_COMPACT);
    podvm_dbus_manager_complete_list_pods_filtered(iface, invocation, g_bytes_get_data(list, NULL));
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
        podvm_dbus_return_error(invocation, error);
        return;
    }
    text = podvm_dbus_json_to_text(volume);
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
        podvm_dbus_return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    text = podvm_dbus_json_to_text(volume);
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
        podvm_dbus_return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    list = podvm_volume_pool_list_json(pool);
    text = podvm_dbus_json_to_text(list);
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
        podvm_dbus_return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    podvm_dbus_manager_complete_delete_volume(iface, invocation);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- images --------------------------------------------------------------- */

static void
image_pulled_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) image = NULL;
    g_autofree char *text = NULL;

    image = podvm_manager_pull_image_finish(PODVM_MANAGER(source), result, &error);
    if (image == NULL) {
        podvm_dbus_return_error(invocation, error);
        return;
    }
    text = podvm_dbus_json_to_text(image);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

static gboolean
handle_pull_image(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *reference,
                  gpointer user_data)
{
    PodvmDBusFront *self = user_data;

    if (podvm_dbus_document_too_large(invocation, reference))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    podvm_manager_pull_image_async(self->manager, reference, NULL, image_pulled_cb,
                                   g_object_ref(invocation));
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_images(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) list = podvm_manager_list_images(self->manager, &error);
    g_autofree char *text = NULL;

    if (list == NULL) {
        podvm_dbus_return_error(invocation, error);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    text = podvm_dbus_json_to_text(list);
    podvm_dbus_manager_complete_list_images(iface, invocation, text);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_remove_image(PodvmDBusManager *iface, GDBusMethodInvocation *invocation,
                    const char *reference, gboolean force, gpointer user_data)
{
    PodvmDBusFront *self = user_data;
    g_autoptr(GError) error = NULL;

    if (podvm_dbus_document_too_large(invocation, reference))
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    if (!podvm_manager_remove_image(self->manager, reference, force, &error))
        podvm_dbus_return_error(invocation, error);
    else
        podvm_dbus_manager_complete_remove_image(iface, invocation);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
images_pruned_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GDBusMethodInvocation) invocation = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *text = NULL;

    answer = podvm_manager_prune_images_finish(PODVM_MANAGER(source), result, &error);
    if (answer == NULL) {
        podvm_dbus_return_error(invocation, error);
        return;
    }
    text = podvm_dbus_json_to_text(answer);
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(s)", text));
}

static gboolean
handle_prune_images(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    PodvmDBusFront *self = user_data;

    podvm_manager_prune_images_async(self->manager, NULL, images_pruned_cb,
                                     g_object_ref(invocation));
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
    self->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)podvm_dbus_pod_entry_free);
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
    g_signal_connect(self->manager_iface, "handle-list-pods-filtered",
                     G_CALLBACK(handle_list_pods_filtered), self);
    g_signal_connect(self->manager_iface, "handle-create-volume", G_CALLBACK(handle_create_volume),
                     self);
    g_signal_connect(self->manager_iface, "handle-get-volume", G_CALLBACK(handle_get_volume), self);
    g_signal_connect(self->manager_iface, "handle-list-volumes", G_CALLBACK(handle_list_volumes),
                     self);
    g_signal_connect(self->manager_iface, "handle-delete-volume", G_CALLBACK(handle_delete_volume),
                     self);
    g_signal_connect(self->manager_iface, "handle-pull-image", G_CALLBACK(handle_pull_image), self);
    g_signal_connect(self->manager_iface, "handle-list-images", G_CALLBACK(handle_list_images),
                     self);
    g_signal_connect(self->manager_iface, "handle-remove-image", G_CALLBACK(handle_remove_image),
                     self);
    g_signal_connect(self->manager_iface, "handle-prune-images", G_CALLBACK(handle_prune_images),
                     self);

    for (guint i = 0; i < pods->len; i++)
        podvm_dbus_front_add_pod(self, g_ptr_array_index(pods, i));
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
