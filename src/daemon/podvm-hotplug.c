/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The placement ledger and device removal shared by the pod's hotplug
 * operations (see podvm-hotplug.h). The removal listens to the pod's
 * "qmp-event::DEVICE_DELETED", connected on the first removal.
 */
#include "podvm-hotplug.h"

#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-pod-private.h"
#include "podvm-qemu-devices.h"
#include "podvm-qmp-client.h"

typedef struct {
    int port; /* index of podvm-rpN, or -1 */
    int lun;  /* or -1 */
} Placement;

/* A removal that timed out: the guest may still let go. */
typedef struct {
    PodvmHotplugReleasedFunc released;
    GDateTime *since; /* when podvmd asked for it */
} PendingRemoval;

static void
pending_removal_free(PendingRemoval *pending)
{
    g_date_time_unref(pending->since);
    g_free(pending);
}

struct _PodvmHotplug {
    guint spare_root_ports;
    GHashTable *placements; /* key -> Placement* */
    GHashTable *pending;    /* device id -> PendingRemoval*, removals that timed out */
    GList *removals;        /* of GTask*, removals under way (the list holds a reference) */
    gulong device_deleted_handler;
};

PodvmHotplug *
podvm_hotplug_new(guint spare_root_ports)
{
    PodvmHotplug *hotplug = g_new0(PodvmHotplug, 1);

    hotplug->spare_root_ports = spare_root_ports;
    hotplug->placements = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    hotplug->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify)pending_removal_free);
    return hotplug;
}

void
podvm_hotplug_free(PodvmHotplug *hotplug)
{
    if (hotplug == NULL)
        return;
    /* Each removal under way holds the pod, so none is left when the pod goes. */
    g_warn_if_fail(hotplug->removals == NULL);
    g_hash_table_unref(hotplug->placements);
    g_hash_table_unref(hotplug->pending);
    g_free(hotplug);
}

/* ---- the ledger ---------------------------------------------------------- */

void
podvm_hotplug_place(PodvmHotplug *hotplug, const char *key, int port, int lun)
{
    Placement *placement = g_new0(Placement, 1);

    placement->port = port;
    placement->lun = lun;
    g_hash_table_replace(hotplug->placements, g_strdup(key), placement);
}

void
podvm_hotplug_place_boot_devices(PodvmHotplug *hotplug, const PodvmSpec *spec)
{
    int scsi_lun = 0;

    /* The argv gives SCSI disks LUNs in spec order; hotplug takes free ones later. */
    for (guint i = 0; i < spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);

        if (disk->bus == PODVM_DISK_BUS_SCSI) {
            podvm_hotplug_place(hotplug, disk->name, -1, scsi_lun++);
            podvm_hotplug_place(hotplug, PODVM_HOTPLUG_SCSI_CONTROLLER_KEY, -1, -1);
        }
    }
}

gboolean
podvm_hotplug_is_placed(PodvmHotplug *hotplug, const char *key)
{
    return g_hash_table_contains(hotplug->placements, key);
}

int
podvm_hotplug_free_root_port(PodvmHotplug *hotplug)
{
    for (guint port = 0; port < hotplug->spare_root_ports; port++) {
        GHashTableIter iter;
        gpointer value;
        gboolean taken = FALSE;

        g_hash_table_iter_init(&iter, hotplug->placements);
        while (!taken && g_hash_table_iter_next(&iter, NULL, &value))
            taken = ((Placement *)value)->port == (int)port;
        if (!taken)
            return (int)port;
    }
    return -1;
}

int
podvm_hotplug_free_scsi_lun(PodvmHotplug *hotplug)
{
    /* virtio-scsi takes LUNs 0..16383 on one target; podvm's disks stay far below. */
    for (int lun = 0; lun <= PODVM_QEMU_SCSI_MAX_LUN; lun++) {
        GHashTableIter iter;
        gpointer value;
        gboolean taken = FALSE;

        g_hash_table_iter_init(&iter, hotplug->placements);
        while (!taken && g_hash_table_iter_next(&iter, NULL, &value))
            taken = ((Placement *)value)->lun == lun;
        if (!taken)
            return lun;
    }
    return -1;
}

void
podvm_hotplug_forget(PodvmHotplug *hotplug, const char *key, const char *device_id)
{
    g_hash_table_remove(hotplug->placements, key);
    g_hash_table_remove(hotplug->pending, device_id);
}

gboolean
podvm_hotplug_removal_pending(PodvmHotplug *hotplug, const char *device_id, GDateTime **out_since)
{
    PendingRemoval *pending =
        hotplug != NULL ? g_hash_table_lookup(hotplug->pending, device_id) : NULL;

    if (pending != NULL && out_since != NULL)
        *out_since = g_date_time_ref(pending->since);
    return pending != NULL;
}

void
podvm_hotplug_clear(PodvmHotplug *hotplug)
{
    g_hash_table_remove_all(hotplug->placements);
    g_hash_table_remove_all(hotplug->pending);
}

JsonObject *
podvm_hotplug_to_json(PodvmHotplug *hotplug)
{
    JsonObject *object;
    GHashTableIter iter;
    gpointer key, value;

    if (g_hash_table_size(hotplug->placements) == 0)
        return NULL;
    object = json_object_new();
    g_hash_table_iter_init(&iter, hotplug->placements);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        Placement *placement = value;
        JsonObject *entry = json_object_new();

        json_object_set_int_member(entry, "port", placement->port);
        json_object_set_int_member(entry, "lun", placement->lun);
        json_object_set_object_member(object, key, entry);
    }
    return object;
}

void
podvm_hotplug_load_json(PodvmHotplug *hotplug, JsonObject *object)
{
    JsonObjectIter iter;
    const char *key;
    JsonNode *value;

    json_object_iter_init(&iter, object);
    while (json_object_iter_next(&iter, &key, &value)) {
        JsonObject *entry;

        if (!JSON_NODE_HOLDS_OBJECT(value))
            continue;
        entry = json_node_get_object(value);
        podvm_hotplug_place(hotplug, key,
                            (int)json_object_get_int_member_with_default(entry, "port", -1),
                            (int)json_object_get_int_member_with_default(entry, "lun", -1));
    }
}

/* ---- removal ------------------------------------------------------------- */

typedef struct {
    char *device_id;
    PodvmHotplugReleasedFunc released;
    guint timeout_ms;
    guint timeout_id;
    GDateTime *asked;         /* when device_del went out */
    gboolean device_gone;     /* DEVICE_DELETED arrived */
    gboolean device_del_done; /* QEMU answered device_del */
    gboolean done;            /* the task returned */
} Removal;

static void
removal_free(Removal *removal)
{
    g_clear_handle_id(&removal->timeout_id, g_source_remove);
    g_free(removal->device_id);
    g_clear_pointer(&removal->asked, g_date_time_unref);
    g_free(removal);
}

/* Completes @task (a removal under way) with @error (taken), or TRUE. */
static void
removal_return(GTask *task, GError *error)
{
    PodvmPod *pod = g_task_get_source_object(task);
    Removal *removal = g_task_get_task_data(task);

    g_assert(!removal->done);
    removal->done = TRUE;
    g_clear_handle_id(&removal->timeout_id, g_source_remove);
    pod->hotplug->removals = g_list_remove(pod->hotplug->removals, task);
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
    g_object_unref(task); /* the list's */
}

static void
removal_maybe_done(GTask *task)
{
    Removal *removal = g_task_get_task_data(task);

    if (removal->device_gone && removal->device_del_done)
        removal_return(task, NULL);
}

static gboolean
removal_timeout_cb(gpointer user_data)
{
    GTask *task = user_data;
    PodvmPod *pod = g_task_get_source_object(task);
    Removal *removal = g_task_get_task_data(task);

    removal->timeout_id = 0;
    /* Not an error of ours: the guest may still let go; then its DEVICE_DELETED finishes it. */
    {
        PendingRemoval *pending = g_new0(PendingRemoval, 1);

        pending->released = removal->released;
        pending->since = g_date_time_ref(removal->asked);
        g_hash_table_replace(pod->hotplug->pending, g_strdup(removal->device_id), pending);
    }
    /* status shows it (volumeStatus[], interfaces[]: DetachPending) */
    pod_emit_changed(pod);
    removal_return(task, g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                                     _("the guest did not release device '%s' within %.1f s"),
                                     removal->device_id, removal->timeout_ms / 1000.0));
    return G_SOURCE_REMOVE;
}

static void
removal_device_del_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Removal *removal = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (removal->done)
        return;
    if (reply == NULL) {
        if (!g_error_matches(error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_DEVICE_NOT_FOUND)) {
            removal_return(task, podvm_error_from_component(error));
            return;
        }
        /* Gone already (say, it went while podvmd was down): just clean up. */
        removal->device_gone = TRUE;
    }
    removal->device_del_done = TRUE;
    podvm_fault_crash_point("detach:after-device-del");
    removal_maybe_done(task);
}

static void
device_deleted_cb(PodvmPod *pod, const char *name, JsonObject *data, gpointer user_data)
{
    PodvmHotplug *hotplug = pod->hotplug;
    const char *device_id =
        data != NULL ? json_object_get_string_member_with_default(data, "device", NULL) : NULL;
    g_autofree char *pending_id = NULL;
    PendingRemoval *pending = NULL;

    if (device_id == NULL)
        return;
    for (GList *l = hotplug->removals; l != NULL; l = l->next) {
        GTask *task = l->data;
        Removal *removal = g_task_get_task_data(task);

        if (g_str_equal(removal->device_id, device_id)) {
            removal->device_gone = TRUE;
            removal_maybe_done(task);
            return;
        }
    }
    /* A removal that timed out earlier: the guest let go after all. */
    if (g_hash_table_steal_extended(hotplug->pending, device_id, (gpointer *)&pending_id,
                                    (gpointer *)&pending)) {
        PodvmHotplugReleasedFunc released = pending->released;

        pending_removal_free(pending);
        pod_emit_changed(pod);
        if (released != NULL)
            released(pod, pending_id);
    }
}

void
podvm_hotplug_remove_async(PodvmPod *pod, const char *device_id, guint timeout_ms,
                           PodvmHotplugReleasedFunc released, GAsyncReadyCallback callback,
                           gpointer user_data)
{
    GTask *task = g_task_new(pod, NULL, callback, user_data);
    Removal *removal = g_new0(Removal, 1);
    g_autoptr(JsonObject) arguments = json_object_new();

    g_task_set_source_tag(task, podvm_hotplug_remove_async);
    removal->device_id = g_strdup(device_id);
    removal->released = released;
    removal->timeout_ms = timeout_ms;
    removal->asked = g_date_time_new_now_utc();
    g_task_set_task_data(task, removal, (GDestroyNotify)removal_free);
    if (pod->hotplug->device_deleted_handler == 0)
        pod->hotplug->device_deleted_handler =
            g_signal_connect(pod, "qmp-event::DEVICE_DELETED", G_CALLBACK(device_deleted_cb), NULL);
    pod->hotplug->removals = g_list_prepend(pod->hotplug->removals, task);

    json_object_set_string_member(arguments, "id", device_id);
    removal->timeout_id = g_timeout_add(timeout_ms, removal_timeout_cb, task);
    pod_qmp_execute(pod->qmp, "device_del", arguments, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                    removal_device_del_cb, g_object_ref(task));
}

gboolean
podvm_hotplug_remove_finish(PodvmPod *pod, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, pod), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

gboolean
pod_hotplug_add_pending_status(PodvmPod *self, JsonBuilder *b, const char *kind, const char *name,
                               const char *device_id)
{
    g_autoptr(GDateTime) since = NULL;
    g_autofree char *when = NULL;
    g_autofree char *message = NULL;

    if (!podvm_hotplug_removal_pending(self->hotplug, device_id, &since))
        return FALSE;
    when = g_date_time_format_iso8601(since);
    /* TRANSLATORS: the first %s is "disk" or "interface", the last a time (RFC 3339) */
    message = g_strdup_printf(_("removal pending: the guest has not released %s '%s' since %s; "
                                "the detach finishes when it does, or when the pod stops"),
                              kind, name, when);
    json_builder_set_member_name(b, "phase");
    json_builder_add_string_value(b, "Detaching");
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, "DetachPending");
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    return TRUE;
}
