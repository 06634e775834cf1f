/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager's images: pull (with progress events), list (with the pods
 * that use each), remove, prune. The store itself is registry/'s.
 */
#include "podvm-manager.h"
#include "podvm-manager-private.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#include "podvm-container-disk.h"
#include "podvm-error.h"
#include "podvm-event.h"
#include "podvm-image-ref.h"
#include "podvm-image-store.h"

static void
add_digest(GPtrArray *digests, JsonNode *node)
{
    const char *digest;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return;
    digest = json_node_get_string(node);
    if (g_str_has_prefix(digest, "sha256:"))
        g_ptr_array_add(digests, g_strdup(digest));
}

static JsonArray *
array_member(JsonObject *object, const char *name)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

    return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

static JsonObject *
object_element(JsonArray *array, guint i)
{
    JsonNode *node = json_array_get_element(array, i);

    return JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

GStrv
podvm_manager_pod_image_digests(PodvmPod *pod)
{
    g_autoptr(JsonNode) status_node = podvm_pod_get_status_json(pod);
    JsonObject *status = json_node_get_object(status_node);
    g_autoptr(GPtrArray) digests = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    JsonArray *array;

    array = array_member(status, "volumeStatus");
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        JsonObject *entry = object_element(array, i);
        JsonNode *disk =
            entry != NULL ? json_object_get_member(entry, "containerDiskVolume") : NULL;

        if (disk != NULL && JSON_NODE_HOLDS_OBJECT(disk))
            add_digest(digests, json_object_get_member(json_node_get_object(disk), "imageDigest"));
    }
    array = array_member(status, "apps");
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        JsonObject *entry = object_element(array, i);

        if (entry != NULL)
            add_digest(digests, json_object_get_member(entry, "imageDigest"));
    }
    g_ptr_array_sort(digests, compare_strings);
    for (guint i = 0; i < digests->len; i++) {
        const char *digest = g_ptr_array_index(digests, i);

        if (i == 0 || strcmp(digest, g_ptr_array_index(digests, i - 1)) != 0)
            g_strv_builder_add(builder, digest);
    }
    return g_strv_builder_end(builder);
}

static gboolean
volume_pulls_image(const PodvmSpecVolume *volume)
{
    return volume->source == PODVM_VOLUME_CONTAINER_DISK && volume->image != NULL &&
           podvm_image_ref_is_registry(volume->image);
}

static gboolean
spec_pulls_images(const PodvmSpec *spec)
{
    if (spec->apps != NULL && spec->apps->len > 0)
        return TRUE;
    for (guint i = 0; spec->volumes != NULL && i < spec->volumes->len; i++) {
        if (volume_pulls_image(g_ptr_array_index(spec->volumes, i)))
            return TRUE;
    }
    return FALSE;
}

void
manager_images_attach_for_volume(PodvmManager *self, const PodvmSpecVolume *volume)
{
    g_autoptr(GPtrArray) pods = NULL;
    g_autoptr(GError) error = NULL;
    PodvmImageStore *store;

    if (!volume_pulls_image(volume))
        return;
    store = podvm_manager_get_image_store(self, &error);
    if (store == NULL) {
        g_message("a hotplugged containerDisk pulls an image, and the image store is "
                  "unavailable: %s",
                  error->message);
        return;
    }
    pods = podvm_manager_list(self);
    for (guint i = 0; i < pods->len; i++)
        podvm_pod_set_image_store(g_ptr_array_index(pods, i), store);
}

void
manager_images_attach(PodvmManager *self, PodvmPod *pod)
{
    g_autoptr(GError) error = NULL;
    PodvmImageStore *store;

    if (!spec_pulls_images(podvm_pod_get_spec(pod)))
        return;
    store = podvm_manager_get_image_store(self, &error);
    if (store == NULL) {
        /* The pod's start says it has no image store; here, why. */
        g_message("pod '%s' pulls images, and the image store is unavailable: %s",
                  podvm_pod_get_name(pod), error->message);
        return;
    }
    podvm_pod_set_image_store(pod, store);
}

/* digest -> GPtrArray of pod names (sorted, as the manager lists pods) */
static GHashTable *
images_in_use(PodvmManager *self)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);
    GHashTable *in_use =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);

    for (guint i = 0; i < pods->len; i++) {
        PodvmPod *pod = g_ptr_array_index(pods, i);
        g_auto(GStrv) digests = podvm_manager_pod_image_digests(pod);

        for (guint j = 0; digests[j] != NULL; j++) {
            GPtrArray *names = g_hash_table_lookup(in_use, digests[j]);

            if (names == NULL) {
                names = g_ptr_array_new_with_free_func(g_free);
                g_hash_table_insert(in_use, g_strdup(digests[j]), names);
            }
            g_ptr_array_add(names, g_strdup(podvm_pod_get_name(pod)));
        }
    }
    return in_use;
}

static JsonNode *
image_json(const PodvmImage *image, GHashTable *in_use)
{
    JsonNode *node = podvm_image_to_json(image);
    GPtrArray *names = g_hash_table_lookup(in_use, image->digest);
    JsonArray *array = json_array_new();

    for (guint i = 0; names != NULL && i < names->len; i++)
        json_array_add_string_element(array, g_ptr_array_index(names, i));
    json_object_set_array_member(json_node_get_object(node), "inUseBy", array);
    return node;
}

/* ---- pull ---------------------------------------------------------------- */

/* At most this often an "image-pull" event per pull (the last one always). */
#define PULL_EVENT_INTERVAL_US (G_USEC_PER_SEC / 4)

typedef struct {
    PodvmManager *manager; /* owned */
    char *reference;       /* as given */
    gint64 last_event_us;
    char *last_phase;
} PullData;

static void
pull_data_free(PullData *data)
{
    g_object_unref(data->manager);
    g_free(data->reference);
    g_free(data->last_phase);
    g_free(data);
}

static void
pull_progress_cb(const PodvmPullProgress *progress, gpointer user_data)
{
    PullData *data = user_data;
    gint64 now = g_get_monotonic_time();
    g_autoptr(JsonObject) details = NULL;
    gboolean phase_changed = g_strcmp0(progress->phase, data->last_phase) != 0;

    if (!phase_changed && g_strcmp0(progress->phase, "done") != 0 &&
        now - data->last_event_us < PULL_EVENT_INTERVAL_US)
        return;
    data->last_event_us = now;
    g_free(data->last_phase);
    data->last_phase = g_strdup(progress->phase);

    details = podvm_event_new("", "image-pull", NULL, NULL);
    json_object_set_string_member(
        details, "reference", progress->reference != NULL ? progress->reference : data->reference);
    json_object_set_string_member(details, "phase", progress->phase);
    json_object_set_int_member(details, "doneBytes", (gint64)progress->done_bytes);
    json_object_set_int_member(details, "totalBytes", (gint64)progress->total_bytes);
    json_object_set_int_member(details, "layersDone", progress->layers_done);
    json_object_set_int_member(details, "layersTotal", progress->layers_total);
    manager_emit_event(data->manager, "", "image-pull", details);
}

static void
pulled_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmManager *self = g_task_get_source_object(task);
    g_autoptr(PodvmImage) image = NULL;
    g_autoptr(GHashTable) in_use = NULL;
    GError *error = NULL;

    image = podvm_image_store_pull_finish(PODVM_IMAGE_STORE(source), result, &error);
    if (image == NULL) {
        g_task_return_error(task, error);
        return;
    }
    in_use = images_in_use(self);
    g_task_return_pointer(task, image_json(image, in_use), (GDestroyNotify)json_node_unref);
}

void
podvm_manager_pull_image_async(PodvmManager *self, const char *reference, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    PodvmImageStore *store;
    PullData *data;
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_manager_pull_image_async);
    if (reference == NULL || reference[0] == '\0') {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("required: the image's reference"));
        return;
    }
    store = podvm_manager_get_image_store(self, &error);
    if (store == NULL) {
        g_task_return_error(task, error);
        return;
    }
    data = g_new0(PullData, 1);
    data->manager = g_object_ref(self);
    data->reference = g_strdup(reference);
    g_task_set_task_data(task, data, (GDestroyNotify)pull_data_free);
    podvm_image_store_pull_async(store, reference, PODVM_PULL_ALWAYS, pull_progress_cb, data,
                                 cancellable, pulled_cb, g_object_ref(task));
}

JsonNode *
podvm_manager_pull_image_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- list and remove -------------------------------------------------------- */

static int
compare_images(gconstpointer a, gconstpointer b)
{
    const PodvmImage *x = *(const PodvmImage *const *)a;
    const PodvmImage *y = *(const PodvmImage *const *)b;
    int order = g_strcmp0(x->reference, y->reference);

    return order != 0 ? order : g_strcmp0(x->digest, y->digest);
}

JsonNode *
podvm_manager_list_images(PodvmManager *self, GError **error)
{
    PodvmImageStore *store = podvm_manager_get_image_store(self, error);
    g_autoptr(GPtrArray) images = NULL;
    g_autoptr(GHashTable) in_use = NULL;
    JsonArray *array;
    JsonNode *node;

    if (store == NULL)
        return NULL;
    images = podvm_image_store_list(store, error);
    if (images == NULL)
        return NULL;
    g_ptr_array_sort(images, compare_images);
    in_use = images_in_use(self);
    array = json_array_sized_new(images->len);
    for (guint i = 0; i < images->len; i++)
        json_array_add_element(array, image_json(g_ptr_array_index(images, i), in_use));
    node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, array);
    return node;
}

static char *
join_names(GPtrArray *names)
{
    g_autoptr(GString) text = g_string_new(NULL);

    for (guint i = 0; i < names->len; i++)
        g_string_append_printf(text, "%s'%s'", i > 0 ? ", " : "",
                               (const char *)g_ptr_array_index(names, i));
    return g_string_free(g_steal_pointer(&text), FALSE);
}

gboolean
podvm_manager_remove_image(PodvmManager *self, const char *reference_or_digest, gboolean force,
                           GError **error)
{
    PodvmImageStore *store = podvm_manager_get_image_store(self, error);
    g_autoptr(PodvmImage) image = NULL;
    g_autoptr(GHashTable) in_use = NULL;
    GPtrArray *names;

    if (store == NULL)
        return FALSE;
    if (reference_or_digest == NULL || reference_or_digest[0] == '\0') {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("required: the image's reference or digest"));
        return FALSE;
    }
    image = podvm_image_store_lookup(store, reference_or_digest, error);
    if (image == NULL)
        return FALSE;
    in_use = images_in_use(self);
    names = g_hash_table_lookup(in_use, image->digest);
    if (names != NULL && !force) {
        g_autofree char *joined = join_names(names);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("image %s (%s) is in use by pod(s) %s; remove them first, or force"),
                    image->reference, image->digest, joined);
        return FALSE;
    }
    if (!podvm_image_store_remove(store, reference_or_digest, error))
        return FALSE;
    g_message("image %s (%s) removed%s", image->reference, image->digest,
              names != NULL ? " although pods use it (forced)" : "");
    return TRUE;
}

/* ---- prune ---------------------------------------------------------------- */

static void
keep_reference(PodvmImageStore *store, const char *image, GHashTable *keep)
{
    g_autoptr(PodvmImage) found = NULL;

    if (image == NULL || !podvm_image_ref_is_registry(image))
        return;
    found = podvm_image_store_lookup(store, image, NULL);
    if (found != NULL)
        g_hash_table_add(keep, g_strdup(found->digest));
}

/*
 * The digests the pods use: what their status records, and what the
 * references in their specs resolve to in @store (may be NULL) now.
 */
static GStrv
digests_in_use(PodvmManager *self, PodvmImageStore *store)
{
    g_autoptr(GHashTable) keep = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    GHashTableIter iter;
    gpointer digest;

    for (guint i = 0; i < pods->len; i++) {
        PodvmPod *pod = g_ptr_array_index(pods, i);
        const PodvmSpec *spec = podvm_pod_get_spec(pod);
        g_auto(GStrv) digests = podvm_manager_pod_image_digests(pod);

        for (guint j = 0; digests[j] != NULL; j++)
            g_hash_table_add(keep, g_strdup(digests[j]));
        if (store == NULL)
            continue;
        for (guint j = 0; spec->volumes != NULL && j < spec->volumes->len; j++) {
            const PodvmSpecVolume *volume = g_ptr_array_index(spec->volumes, j);

            if (volume->source == PODVM_VOLUME_CONTAINER_DISK)
                keep_reference(store, volume->image, keep);
        }
        for (guint j = 0; spec->apps != NULL && j < spec->apps->len; j++)
            keep_reference(store, ((const PodvmSpecApp *)g_ptr_array_index(spec->apps, j))->image,
                           keep);
    }
    g_hash_table_iter_init(&iter, keep);
    while (g_hash_table_iter_next(&iter, &digest, NULL))
        g_strv_builder_add(builder, digest);
    return g_strv_builder_end(builder);
}

/* The image store when a pod's spec pulls images, else NULL (without making it). */
static PodvmImageStore *
store_if_pulling(PodvmManager *self)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);

    for (guint i = 0; i < pods->len; i++) {
        if (spec_pulls_images(podvm_pod_get_spec(g_ptr_array_index(pods, i))))
            return podvm_manager_get_image_store(self, NULL);
    }
    return NULL;
}

/* The pod that may be unpacking into the cache now, or NULL. */
static PodvmPod *
pod_preparing_volumes(PodvmManager *self)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);

    for (guint i = 0; i < pods->len; i++) {
        if (podvm_pod_is_preparing_volumes(g_ptr_array_index(pods, i)))
            return g_object_ref(g_ptr_array_index(pods, i));
    }
    return NULL;
}

/* ---- the containerDisk cache ------------------------------------------------ */

/*
 * The containerDisk unpack cache (CACHE_DIR/sha256-DIGEST) follows the
 * pods: an entry goes once no pod uses its digest, at the delete of the
 * last pod that recorded it, and at every image prune (which also finds
 * entries nothing records: older podvmds', a crash's). While a pod
 * prepares volumes (it may be unpacking an entry not recorded yet), the
 * cache is left alone.
 */
typedef struct {
    PodvmManager *manager; /* owned */
    char *pod_name;        /* the deleted pod's, or NULL for a prune */
} CachePrune;

static void
cache_prune_free(CachePrune *prune)
{
    g_object_unref(prune->manager);
    g_free(prune->pod_name);
    g_free(prune);
}

static void
cache_pruned_after_delete_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CachePrune *prune = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = podvm_container_disk_cache_prune_finish(result, &error);

    if (node == NULL) {
        g_message("containerDisk cache after pod '%s' went: %s", prune->pod_name, error->message);
    } else {
        JsonObject *object = json_node_get_object(node);
        gint64 removed = json_object_get_int_member_with_default(object, "removedCacheEntries", 0);

        if (removed > 0)
            g_message("containerDisk cache: %" G_GINT64_FORMAT " entr%s no pod uses since pod "
                      "'%s' went removed, %" G_GINT64_FORMAT " bytes freed",
                      removed, removed == 1 ? "y" : "ies", prune->pod_name,
                      json_object_get_int_member_with_default(object, "cacheFreedBytes", 0));
    }
    cache_prune_free(prune);
}

void
manager_images_pod_deleted(PodvmManager *self, PodvmPod *pod)
{
    g_auto(GStrv) digests = podvm_manager_pod_image_digests(pod);
    g_autoptr(PodvmPod) busy = NULL;
    g_auto(GStrv) keep = NULL;
    CachePrune *prune;

    if (digests[0] == NULL)
        return;
    busy = pod_preparing_volumes(self);
    if (busy != NULL) {
        g_debug("containerDisk cache: left alone at pod '%s''s delete while pod '%s' prepares "
                "volumes (the next image prune collects it)",
                podvm_pod_get_name(pod), podvm_pod_get_name(busy));
        return;
    }
    keep = digests_in_use(self, store_if_pulling(self));
    prune = g_new0(CachePrune, 1);
    prune->manager = g_object_ref(self);
    prune->pod_name = g_strdup(podvm_pod_get_name(pod));
    podvm_container_disk_cache_prune_async(podvm_manager_get_config(self)->cache_dir,
                                           (const char *const *)keep, (const char *const *)digests,
                                           NULL, cache_pruned_after_delete_cb, prune);
}

/* ---- prune ---------------------------------------------------------------- */

typedef struct {
    GStrv keep;          /* the digests in use, when the prune began */
    JsonNode *answer;    /* the store's, once it is in */
    gboolean skip_cache; /* a pod prepares volumes */
} PruneData;

static void
prune_data_free(PruneData *data)
{
    g_strfreev(data->keep);
    g_clear_pointer(&data->answer, json_node_unref);
    g_free(data);
}

static void
prune_done(GTask *task)
{
    PruneData *data = g_task_get_task_data(task);
    JsonObject *object = json_node_get_object(data->answer);

    json_object_set_int_member(object, "removed",
                               json_object_get_int_member_with_default(object, "removedImages", 0));
    g_message("images pruned: %" G_GINT64_FORMAT " image(s), %" G_GINT64_FORMAT
              " bytes freed; containerDisk cache: %" G_GINT64_FORMAT " entr%s, %" G_GINT64_FORMAT
              " bytes freed",
              json_object_get_int_member_with_default(object, "removed", 0),
              json_object_get_int_member_with_default(object, "freedBytes", 0),
              json_object_get_int_member_with_default(object, "removedCacheEntries", 0),
              json_object_get_int_member_with_default(object, "removedCacheEntries", 0) == 1
                  ? "y"
                  : "ies",
              json_object_get_int_member_with_default(object, "cacheFreedBytes", 0));
    g_task_return_pointer(task, g_steal_pointer(&data->answer), (GDestroyNotify)json_node_unref);
}

static void
cache_pruned_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PruneData *data = g_task_get_task_data(task);
    JsonObject *object = json_node_get_object(data->answer);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = podvm_container_disk_cache_prune_finish(result, &error);

    if (node == NULL) {
        /* The images are pruned; the cache waits for the next prune. */
        g_message("containerDisk cache not pruned: %s", error->message);
        json_object_set_int_member(object, "removedCacheEntries", 0);
        json_object_set_int_member(object, "cacheFreedBytes", 0);
    } else {
        JsonObject *cache = json_node_get_object(node);

        json_object_set_int_member(
            object, "removedCacheEntries",
            json_object_get_int_member_with_default(cache, "removedCacheEntries", 0));
        json_object_set_int_member(
            object, "cacheFreedBytes",
            json_object_get_int_member_with_default(cache, "cacheFreedBytes", 0));
    }
    prune_done(task);
}

static void
pruned_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    PodvmManager *self = g_task_get_source_object(task);
    PruneData *data = g_task_get_task_data(task);
    GError *error = NULL;

    data->answer = podvm_image_store_prune_finish(PODVM_IMAGE_STORE(source), result, &error);
    if (data->answer == NULL) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    if (data->skip_cache) {
        JsonObject *object = json_node_get_object(data->answer);

        json_object_set_int_member(object, "removedCacheEntries", 0);
        json_object_set_int_member(object, "cacheFreedBytes", 0);
        prune_done(task);
        g_object_unref(task);
        return;
    }
    podvm_container_disk_cache_prune_async(podvm_manager_get_config(self)->cache_dir,
                                           (const char *const *)data->keep, NULL,
                                           g_task_get_cancellable(task), cache_pruned_cb, task);
}

void
podvm_manager_prune_images_async(PodvmManager *self, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(PodvmPod) busy = NULL;
    PodvmImageStore *store;
    PruneData *data;
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_manager_prune_images_async);
    store = podvm_manager_get_image_store(self, &error);
    if (store == NULL) {
        g_task_return_error(task, error);
        return;
    }
    data = g_new0(PruneData, 1);
    g_task_set_task_data(task, data, (GDestroyNotify)prune_data_free);
    /* Kept: what the pods' status records, and what their specs' references name now. */
    data->keep = digests_in_use(self, store);
    busy = pod_preparing_volumes(self);
    if (busy != NULL) {
        g_message("containerDisk cache not pruned: pod '%s' prepares volumes",
                  podvm_pod_get_name(busy));
        data->skip_cache = TRUE;
    }
    podvm_image_store_prune_async(store, (const char *const *)data->keep, cancellable, pruned_cb,
                                  g_object_ref(task));
}

JsonNode *
podvm_manager_prune_images_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
