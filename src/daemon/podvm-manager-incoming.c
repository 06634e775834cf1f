/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the target's entry points (the peer API; README "Live
 * migration"): an offer from another podvmd becomes an Incoming pod here.
 * The manager checks the offer against this host (a name or uid taken,
 * too many migrations at once, the spec against podvmd.conf) and finds a
 * migration by its id; the pod does the work (podvm-pod-incoming.c).
 */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-event.h"
#include "podvm-json.h"
#include "podvm-manager-private.h"
#include "podvm-pod-incoming.h"
#include "podvm-storage.h"
#include "podvm-store.h"
#include "migration/podvm-migration-doc.h"

/* The pod of migration @id (an Incoming pod, or one that ran from one), or NULL. */
static PodvmPod *
incoming_lookup(PodvmManager *self, const char *id, GError **error)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);

    for (guint i = 0; id != NULL && i < pods->len; i++) {
        PodvmPod *pod = g_ptr_array_index(pods, i);

        if (g_strcmp0(podvm_pod_incoming_get_id(pod), id) == 0)
            return pod;
    }
    {
        g_autofree char *quoted = podvm_quote_for_message(id != NULL ? id : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("no migration %s here"), quoted);
    }
    return NULL;
}

/* Migrations in or out that hold a pod here. */
static guint
count_migrations(PodvmManager *self)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);
    guint count = 0;

    for (guint i = 0; i < pods->len; i++) {
        if (podvm_pod_is_migrating(g_ptr_array_index(pods, i)))
            count++;
    }
    return count;
}

/* Whether the volume pool lies on storage both hosts share ([storage] shared_paths). */
static gboolean
pool_is_shared(const PodvmConfig *config)
{
    return config->pool_dir != NULL && config->shared_pool_paths != NULL &&
           config->shared_pool_paths[0] != NULL &&
           podvm_storage_check_host_path(config->pool_dir,
                                         (const char *const *)config->shared_pool_paths, NULL);
}

/*
 * What this host does with each disk the offer copies. It is created new
 * and empty by the pod's start, the source's mirror fills it: an emptyDisk
 * (of the offer's size, which must be its capacity), a containerDisk's or
 * an ephemeral volume's overlay (its base is this host's own). A claim or
 * dataVolume in a shared pool is not copied; one in a local pool, and a
 * hostDisk, would need the file made here first: not supported (NOT_SUPPORTED
 * says to put it on shared storage). Read-only media are never copied.
 */
static gboolean
check_offered_disks(PodvmManager *self, const PodvmSpec *spec, GPtrArray *disks, GError **error)
{
    const PodvmConfig *config = podvm_manager_get_config(self);

    for (guint i = 0; i < disks->len; i++) {
        const PodvmMigrationDisk *offered = g_ptr_array_index(disks, i);
        const PodvmSpecDisk *disk = NULL;
        const PodvmSpecVolume *volume;

        for (guint j = 0; j < spec->disks->len; j++) {
            const PodvmSpecDisk *candidate = g_ptr_array_index(spec->disks, j);
            if (g_strcmp0(candidate->name, offered->name) == 0)
                disk = candidate;
        }
        volume = disk != NULL ? podvm_spec_find_volume(spec, disk->name) : NULL;
        if (volume == NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("\"disks\": '%s' is no disk of the pod"), offered->name);
            return FALSE;
        }
        switch (volume->source) {
        case PODVM_VOLUME_EMPTY_DISK:
            /* qemu-img rounds a size up to whole sectors. */
            if (offered->size != volume->capacity &&
                offered->size != (volume->capacity + 511) / 512 * 512) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("\"disks\": '%s' has %" G_GUINT64_FORMAT
                              " bytes, its emptyDisk capacity is %" G_GUINT64_FORMAT),
                            offered->name, offered->size, volume->capacity);
                return FALSE;
            }
            break;
        case PODVM_VOLUME_CONTAINER_DISK:
        case PODVM_VOLUME_EPHEMERAL:
            break;
        case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
        case PODVM_VOLUME_DATA_VOLUME:
            if (pool_is_shared(config)) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("\"disks\": '%s' is on shared storage here ([storage] "
                              "shared_paths); it is not copied"),
                            offered->name);
                return FALSE;
            }
            G_GNUC_FALLTHROUGH;
        case PODVM_VOLUME_HOST_DISK:
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                        _("\"disks\": '%s' is a %s; copying one is not supported: put it on "
                          "storage both hosts share ([storage] shared_paths)"),
                        offered->name, podvm_volume_source_to_string(volume->source));
            return FALSE;
        case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
        case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
        default:
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("\"disks\": '%s' is a %s, made again here; it is not copied"),
                        offered->name, podvm_volume_source_to_string(volume->source));
            return FALSE;
        }
    }
    return TRUE;
}

/* The interfaces keep the source's MACs. */
static gboolean
apply_macs(PodvmSpec *spec, GHashTable *macs, GError **error)
{
    for (guint i = 0; macs != NULL && i < spec->interfaces->len; i++) {
        PodvmSpecInterface *iface = g_ptr_array_index(spec->interfaces, i);
        const char *mac = g_hash_table_lookup(macs, iface->name);

        if (mac == NULL)
            continue;
        g_free(iface->mac_address);
        iface->mac_address = g_ascii_strdown(mac, -1);
    }
    return TRUE;
}

/*
 * The pod the offer carries, parsed as a spec (with its uid), checked
 * against this host, and refused when its name or uid is taken here.
 */
static PodvmSpec *
offer_spec(PodvmManager *self, PodvmMigrationOffer *offer, GError **error)
{
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(GPtrArray) pods = NULL;

    spec = podvm_spec_parse_node(offer->pod, NULL, error);
    if (spec == NULL) {
        g_prefix_error(error, _("\"pod\": "));
        return NULL;
    }
    if (spec->uid == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"pod\": metadata.uid is required (the pod keeps it)"));
        return NULL;
    }
    if (!apply_macs(spec, offer->macs, error) ||
        !check_offered_disks(self, spec, offer->disks, error))
        return NULL;
    if (!manager_check_spec(self, spec, NULL, error)) {
        g_prefix_error(error, _("the pod does not fit this host: "));
        return NULL;
    }
    if (manager_has_pod(self, spec->name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS, _("pod '%s' already exists here"),
                    spec->name);
        return NULL;
    }
    pods = podvm_manager_list(self);
    for (guint i = 0; i < pods->len; i++) {
        PodvmPod *other = g_ptr_array_index(pods, i);

        if (g_strcmp0(podvm_pod_get_uid(other), spec->uid) == 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                        _("a pod with uid %s already exists here ('%s')"), spec->uid,
                        podvm_pod_get_name(other));
            return NULL;
        }
    }
    if (count_migrations(self) >= podvm_manager_get_config(self)->migration_max_parallel) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("this host already runs %u migration(s) ([migration] max_parallel)"),
                    podvm_manager_get_config(self)->migration_max_parallel);
        return NULL;
    }
    return g_steal_pointer(&spec);
}

static void
incoming_started_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    JsonNode *answer = podvm_pod_incoming_start_finish(PODVM_POD(source), result, &error);

    if (answer == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, answer, (GDestroyNotify)json_node_unref);
}

void
podvm_manager_incoming_create_async(PodvmManager *self, const char *offer_text, gssize length,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(PodvmMigrationOffer) offer = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(JsonObject) details = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    GError *error = NULL;
    PodvmPod *pod;

    g_task_set_source_tag(task, podvm_manager_incoming_create_async);
    offer = podvm_migration_offer_parse(offer_text, length, &error);
    if (offer == NULL || (spec = offer_spec(self, offer, &error)) == NULL) {
        g_task_return_error(task, error);
        return;
    }
    pod = podvm_pod_create(podvm_manager_get_config(self), spec, &error);
    if (pod == NULL) {
        g_task_return_error(task, error);
        return;
    }
    manager_add_pod(self, pod);
    g_object_unref(pod); /* the table holds it */
    details =
        podvm_event_new(spec->name, "Created", podvm_phase_to_string(PODVM_PHASE_PENDING), NULL);
    manager_emit_event(self, spec->name, "Created", details);
    id = podvm_migration_new_id();
    secret = podvm_migration_new_secret();
    podvm_pod_incoming_start_async(pod, id, secret, offer->disks, offer->postcopy, offer->paused,
                                   cancellable, incoming_started_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_manager_incoming_create_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

JsonNode *
podvm_manager_incoming_status(PodvmManager *self, const char *id, GError **error)
{
    PodvmPod *pod = incoming_lookup(self, id, error);

    return pod != NULL ? podvm_pod_incoming_status(pod) : NULL;
}

static void
incoming_finished_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *pod = PODVM_POD(source);
    GError *error = NULL;

    if (!podvm_pod_incoming_finish_finish(pod, result, &error))
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, podvm_pod_incoming_status(pod),
                              (GDestroyNotify)json_node_unref);
}

void
podvm_manager_incoming_finish_async(PodvmManager *self, const char *id, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    GError *error = NULL;
    PodvmPod *pod;

    g_task_set_source_tag(task, podvm_manager_incoming_finish_async);
    pod = incoming_lookup(self, id, &error);
    if (pod == NULL) {
        g_task_return_error(task, error);
        return;
    }
    /* Asked again after it ran here (the source lost the first answer): the same answer. */
    if (g_strcmp0(podvm_pod_incoming_get_id(pod), id) == 0 && !podvm_pod_is_migrating(pod)) {
        g_task_return_pointer(task, podvm_pod_incoming_status(pod),
                              (GDestroyNotify)json_node_unref);
        return;
    }
    podvm_pod_incoming_finish_async(pod, cancellable, incoming_finished_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_manager_incoming_finish_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
podvm_manager_incoming_abort(PodvmManager *self, const char *id, GError **error)
{
    PodvmPod *pod = incoming_lookup(self, id, error);

    return pod != NULL &&
           podvm_pod_incoming_abort(pod, _("the source gave the migration up"), error);
}

gboolean
podvm_manager_incoming_check_stream(PodvmManager *self, const char *id, const char *secret,
                                    const char *channel, GError **error)
{
    PodvmPod *pod = incoming_lookup(self, id, error);

    return pod != NULL && podvm_pod_incoming_check_stream(pod, secret, channel, error);
}

void
podvm_manager_incoming_take_stream(PodvmManager *self, const char *id, const char *channel,
                                   GIOStream *stream)
{
    PodvmPod *pod = incoming_lookup(self, id, NULL);

    if (pod == NULL) {
        /* Gone between the check and the upgrade: the peer sees the end at once. */
        g_io_stream_close(stream, NULL, NULL);
        return;
    }
    podvm_pod_incoming_take_stream(pod, channel, stream);
}
