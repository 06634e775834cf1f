/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pulling an image into the store: the reference checked against the
 * policy ([images] allowed_registries, require_digest), the record used
 * when the pull policy allows, else the store's lock taken shared (in a
 * thread: prune holds it exclusive), the manifest fetched (an index
 * resolved to this host's platform), the missing blobs fetched (three at a
 * time), the manifest, index and record written last (temp + fsync +
 * rename, in a thread).
 */
#include "podvm-image-store-private.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-registry-manifest.h"

#define PARALLEL_BLOBS 3

/* A caller waiting for a job: its task and its progress callback. */
typedef struct {
    GTask *task;
    PodvmPullProgressFunc progress;
    gpointer progress_data;
} Waiter;

/*
 * The network part of a pull: one job per reference in this store at a
 * time; pulls of the reference that come while it runs wait for it and get
 * its outcome (the first caller's cancellable cancels the job).
 */
typedef struct {
    PodvmImageStore *store; /* borrowed: the job's task holds it */
    PodvmImageRef *ref;
    char *canonical;
    GPtrArray *waiters; /* Waiter * */
    int lock_fd;
    GBytes *index_data;
    char *index_digest;
    GBytes *manifest_data;
    char *manifest_digest;
    PodvmRegistryManifest *manifest;
    GQueue missing; /* PodvmRegistryDescriptor * (borrowed from manifest) to fetch */
    guint active;
    guint64 done_bytes;
    guint64 total_bytes;
    guint layers_done;
    GError *error; /* the first blob's failure */
    PodvmImage *image;
} Pull;

static void
waiter_free(Waiter *waiter)
{
    g_clear_object(&waiter->task);
    g_free(waiter);
}

static void
pull_free(Pull *pull)
{
    g_ptr_array_unref(pull->waiters);
    podvm_image_ref_free(pull->ref);
    g_free(pull->canonical);
    if (pull->lock_fd >= 0)
        close(pull->lock_fd);
    g_clear_pointer(&pull->index_data, g_bytes_unref);
    g_free(pull->index_digest);
    g_clear_pointer(&pull->manifest_data, g_bytes_unref);
    g_free(pull->manifest_digest);
    podvm_registry_manifest_free(pull->manifest);
    g_queue_clear(&pull->missing);
    g_clear_error(&pull->error);
    podvm_image_free(pull->image);
    g_free(pull);
}

static void
report(Pull *pull, const char *phase)
{
    PodvmPullProgress progress = {
        .reference = pull->canonical,
        .phase = phase,
        .done_bytes = pull->done_bytes,
        .total_bytes = pull->total_bytes,
        .layers_done = pull->layers_done,
        .layers_total = pull->manifest != NULL && pull->manifest->layers != NULL
                            ? pull->manifest->layers->len
                            : 0,
    };

    for (guint i = 0; i < pull->waiters->len; i++) {
        Waiter *waiter = g_ptr_array_index(pull->waiters, i);

        if (waiter->progress != NULL)
            waiter->progress(&progress, waiter->progress_data);
    }
}

/* Fails the pull with @error, its message prefixed with the image. */
static void
pull_fail(GTask *task, GError *error)
{
    Pull *pull = g_task_get_task_data(task);
    /* Canonical references hold only safe characters: quoted whole, never cut. */
    g_autofree char *quoted = g_strdup_printf("\"%s\"", pull->canonical);

    g_prefix_error(&error, _("cannot pull image %s: "), quoted);
    g_task_return_error(task, error);
}

static gboolean
registry_allowed(PodvmImageStore *self, const PodvmImageRef *ref)
{
    if (self->allowed_registries == NULL)
        return TRUE;
    for (guint i = 0; self->allowed_registries[i] != NULL; i++) {
        if (g_ascii_strcasecmp(g_strstrip(self->allowed_registries[i]), ref->registry) == 0)
            return TRUE;
    }
    return FALSE;
}

static PodvmImage *
image_from_pull(PodvmImageStore *self, Pull *pull)
{
    PodvmImage *image = g_new0(PodvmImage, 1);

    image->reference = g_strdup(pull->canonical);
    image->digest = g_strdup(pull->manifest_digest);
    image->index_digest = g_strdup(pull->index_digest);
    image->config_digest = g_strdup(pull->manifest->config->digest);
    image->media_type = g_strdup(pull->manifest->media_type);
    image->layers = g_ptr_array_new_with_free_func(g_free);
    image->size = g_bytes_get_size(pull->manifest_data) + pull->manifest->config->size;
    for (guint i = 0; i < pull->manifest->layers->len; i++) {
        PodvmRegistryDescriptor *layer = g_ptr_array_index(pull->manifest->layers, i);

        g_ptr_array_add(image->layers, g_strdup(layer->digest));
        image->size += layer->size;
    }
    image->pulled_at = g_get_real_time() / G_USEC_PER_SEC;
    return image;
}

/* --- the end: manifest, index and record written in a thread ----------- */

static gboolean
write_blob(PodvmImageStore *self, const char *digest, GBytes *data, GError **error)
{
    g_autofree char *path = podvm_image_store_blob_path(self, digest);
    g_autoptr(GError) local = NULL;

    if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    if (!g_file_set_contents_full(
            path, g_bytes_get_data(data, NULL), (gssize)g_bytes_get_size(data),
            G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644, &local)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot store blob %s: %s"), digest,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

static void
finish_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    PodvmImageStore *self = source;
    Pull *pull = task_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *record = NULL;
    g_autofree char *path = podvm_image_store_record_path(self, pull->canonical);
    gsize length = 0;

    if (!write_blob(self, pull->manifest_digest, pull->manifest_data, &error) ||
        (pull->index_data != NULL &&
         !write_blob(self, pull->index_digest, pull->index_data, &error))) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    record = podvm_image_store_record_data(pull->image, &length);
    if (!g_file_set_contents_full(path, record, (gssize)length,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0644, &error)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("cannot write the image record %s: %s"), path, error->message);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void
finish_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Pull *pull = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        pull_fail(task, g_steal_pointer(&error));
        return;
    }
    close(pull->lock_fd);
    pull->lock_fd = -1;
    pull->done_bytes = pull->total_bytes;
    report(pull, "done");
    g_task_return_pointer(task, g_steal_pointer(&pull->image), (GDestroyNotify)podvm_image_free);
}

static void
pull_finish_store(GTask *task)
{
    PodvmImageStore *self = g_task_get_source_object(task);
    Pull *pull = g_task_get_task_data(task);
    GTask *finish = g_task_new(self, g_task_get_cancellable(task), finish_cb, task);

    pull->image = image_from_pull(self, pull);
    g_task_set_task_data(finish, pull, NULL);
    g_task_run_in_thread(finish, finish_thread);
    g_object_unref(finish);
}

/* --- blobs ------------------------------------------------------------- */

static void fetch_next(GTask *task);

typedef struct {
    GTask *task; /* owned */
    gboolean config;
} BlobFetch;

static void
blob_progress_cb(guint64 bytes, gpointer user_data)
{
    GTask *task = user_data;
    Pull *pull = g_task_get_task_data(task);

    pull->done_bytes += bytes;
    report(pull, "downloading");
}

static void
blob_fetched_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    BlobFetch *fetch = user_data;
    g_autoptr(GTask) task = fetch->task;
    Pull *pull = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    gboolean config = fetch->config;

    g_free(fetch);

    pull->active--;
    if (!podvm_registry_client_fetch_blob_finish(PODVM_REGISTRY_CLIENT(source), result, &error)) {
        if (pull->error == NULL)
            pull->error = g_steal_pointer(&error);
    } else if (!config) {
        pull->layers_done++;
        report(pull, "downloading");
    }
    fetch_next(g_steal_pointer(&task));
}

/* Starts fetches up to PARALLEL_BLOBS; the last one to end goes on. Consumes @task. */
static void
fetch_next(GTask *task)
{
    PodvmImageStore *self = g_task_get_source_object(task);
    Pull *pull = g_task_get_task_data(task);

    while (pull->error == NULL && pull->active < PARALLEL_BLOBS &&
           !g_queue_is_empty(&pull->missing)) {
        PodvmRegistryDescriptor *blob = g_queue_pop_head(&pull->missing);
        g_autofree char *dest = podvm_image_store_blob_path(self, blob->digest);
        BlobFetch *fetch = g_new0(BlobFetch, 1);

        fetch->task = g_object_ref(task);
        fetch->config = blob == pull->manifest->config;
        pull->active++;
        podvm_registry_client_fetch_blob_async(
            self->client, pull->ref, blob->digest, blob->size,
            fetch->config ? self->max_manifest_size : self->max_layer_size, dest, self->tmp_dir,
            blob_progress_cb, task, g_task_get_cancellable(task), blob_fetched_cb, fetch);
    }
    if (pull->active > 0) {
        g_object_unref(task);
        return;
    }
    if (pull->error != NULL) {
        pull_fail(task, g_steal_pointer(&pull->error));
        g_object_unref(task);
        return;
    }
    pull_finish_store(task);
}

static gboolean
descriptor_present(PodvmImageStore *self, const PodvmRegistryDescriptor *blob)
{
    g_autofree char *path = podvm_image_store_blob_path(self, blob->digest);
    GStatBuf st;

    return g_stat(path, &st) == 0 && (guint64)st.st_size == blob->size;
}

static void
fetch_blobs(GTask *task)
{
    PodvmImageStore *self = g_task_get_source_object(task);
    Pull *pull = g_task_get_task_data(task);
    PodvmRegistryManifest *manifest = pull->manifest;
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    pull->total_bytes = g_bytes_get_size(pull->manifest_data) + manifest->config->size;
    pull->done_bytes = g_bytes_get_size(pull->manifest_data);
    if (pull->index_data != NULL) {
        pull->total_bytes += g_bytes_get_size(pull->index_data);
        pull->done_bytes += g_bytes_get_size(pull->index_data);
    }
    if (manifest->config->size > self->max_manifest_size) {
        pull_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                    _("its config is %" G_GUINT64_FORMAT
                                      " bytes, larger than the limit of %" G_GUINT64_FORMAT),
                                    manifest->config->size, self->max_manifest_size));
        g_object_unref(task);
        return;
    }
    g_hash_table_add(seen, manifest->config->digest);
    if (descriptor_present(self, manifest->config))
        pull->done_bytes += manifest->config->size;
    else
        g_queue_push_tail(&pull->missing, manifest->config);
    for (guint i = 0; i < manifest->layers->len; i++) {
        PodvmRegistryDescriptor *layer = g_ptr_array_index(manifest->layers, i);

        pull->total_bytes += layer->size;
        if (layer->size > self->max_layer_size) {
            pull_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                        _("layer %s is %" G_GUINT64_FORMAT
                                          " bytes, larger than the limit of %" G_GUINT64_FORMAT
                                          " ([images] max_layer_size)"),
                                        layer->digest, layer->size, self->max_layer_size));
            g_object_unref(task);
            return;
        }
        if (!g_hash_table_add(seen, layer->digest) || descriptor_present(self, layer)) {
            pull->done_bytes += layer->size;
            pull->layers_done++;
            continue;
        }
        g_queue_push_tail(&pull->missing, layer);
    }
    report(pull, "downloading");
    fetch_next(task);
}

/* --- manifests ----------------------------------------------------------- */

static void
manifest_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmImageStore *self = g_task_get_source_object(task);
    Pull *pull = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autofree char *content_type = NULL;
    g_autofree char *digest = NULL;
    g_autoptr(GBytes) data = podvm_registry_client_get_manifest_finish(
        PODVM_REGISTRY_CLIENT(source), result, &content_type, &digest, &error);
    g_autoptr(PodvmRegistryManifest) manifest = NULL;
    g_autofree char *registry = podvm_quote_for_message(pull->ref->registry);

    if (data == NULL) {
        pull_fail(task, g_steal_pointer(&error));
        return;
    }
    manifest = podvm_registry_manifest_parse(g_bytes_get_data(data, NULL), g_bytes_get_size(data),
                                             content_type, &error);
    if (manifest == NULL) {
        g_prefix_error(&error, _("registry %s sent a manifest podvm cannot use: "), registry);
        pull_fail(task, g_steal_pointer(&error));
        return;
    }
    if (manifest->is_index) {
        const PodvmRegistryDescriptor *pick;

        if (pull->index_data != NULL) {
            pull_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                        _("registry %s: the index names another index (nested "
                                          "indexes are not supported)"),
                                        registry));
            return;
        }
        pick = podvm_registry_manifest_pick_platform(
            manifest, self->os, self->architecture,
            g_str_equal(self->architecture, podvm_registry_host_architecture())
                ? podvm_registry_host_variant()
                : NULL,
            &error);
        if (pick == NULL) {
            pull_fail(task, g_steal_pointer(&error));
            return;
        }
        pull->index_data = g_steal_pointer(&data);
        pull->index_digest = g_steal_pointer(&digest);
        podvm_registry_client_get_manifest_async(self->client, pull->ref, pick->digest,
                                                 self->max_manifest_size,
                                                 g_task_get_cancellable(task), manifest_cb, task);
        g_steal_pointer(&task);
        return;
    }
    pull->manifest_data = g_steal_pointer(&data);
    pull->manifest_digest = g_steal_pointer(&digest);
    pull->manifest = g_steal_pointer(&manifest);
    fetch_blobs(g_steal_pointer(&task));
}

static void
lock_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    Pull *pull = task_data;

    while (flock(pull->lock_fd, LOCK_SH) < 0) {
        int saved = errno;

        if (saved == EINTR)
            continue;
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("cannot lock the image store: %s"), g_strerror(saved));
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void
locked_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmImageStore *self = PODVM_IMAGE_STORE(source);
    Pull *pull = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        pull_fail(task, g_steal_pointer(&error));
        return;
    }
    report(pull, "resolving");
    podvm_registry_client_get_manifest_async(
        self->client, pull->ref, podvm_image_ref_get_manifest_reference(pull->ref),
        self->max_manifest_size, g_task_get_cancellable(task), manifest_cb, task);
    g_steal_pointer(&task);
}

static PodvmImage *
image_copy(const PodvmImage *image)
{
    PodvmImage *copy = g_new0(PodvmImage, 1);

    copy->reference = g_strdup(image->reference);
    copy->digest = g_strdup(image->digest);
    copy->index_digest = g_strdup(image->index_digest);
    copy->config_digest = g_strdup(image->config_digest);
    copy->media_type = g_strdup(image->media_type);
    copy->layers = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < image->layers->len; i++)
        g_ptr_array_add(copy->layers, g_strdup(g_ptr_array_index(image->layers, i)));
    copy->size = image->size;
    copy->pulled_at = image->pulled_at;
    return copy;
}

/* The job ended: every waiter gets its outcome. */
static void
job_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmImageStore *self = PODVM_IMAGE_STORE(source);
    Pull *pull = g_task_get_task_data(G_TASK(result));
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmImage) image = g_task_propagate_pointer(G_TASK(result), &error);
    g_autoptr(GPtrArray) waiters = g_steal_pointer(&pull->waiters);

    pull->waiters = g_ptr_array_new();
    g_hash_table_remove(self->pulls, pull->canonical);
    for (guint i = 0; i < waiters->len; i++) {
        Waiter *waiter = g_ptr_array_index(waiters, i);

        if (image != NULL)
            g_task_return_pointer(waiter->task, image_copy(image),
                                  (GDestroyNotify)podvm_image_free);
        else
            g_task_return_error(waiter->task, g_error_copy(error));
    }
}

void
podvm_image_store_pull_async(PodvmImageStore *self, const char *reference, PodvmPullPolicy policy,
                             PodvmPullProgressFunc progress, gpointer progress_data,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(PodvmImageRef) ref = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmImage) stored = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *quoted = NULL;
    Waiter *waiter;
    Pull *pull;
    GTask *job;
    GTask *lock;

    g_task_set_source_tag(task, podvm_image_store_pull_async);
    ref = podvm_image_ref_parse(reference, &error);
    if (ref == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    canonical = podvm_image_ref_to_string(ref);
    quoted = g_strdup_printf("\"%s\"", canonical);
    if (!registry_allowed(self, ref)) {
        g_autofree char *registry = podvm_quote_for_message(ref->registry);

        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("image %s: registry %s is not in podvmd.conf [images] "
                                  "allowed_registries"),
                                quoted, registry);
        return;
    }
    if (self->require_digest && ref->digest == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("image %s: podvmd.conf [images] require_digest asks for a "
                                  "reference pinned by digest (REPO@sha256:...)"),
                                quoted);
        return;
    }
    if (policy != PODVM_PULL_ALWAYS) {
        g_autofree char *path = podvm_image_store_record_path(self, canonical);

        stored = podvm_image_store_read_record(path, NULL);
        if (stored != NULL && podvm_image_store_has_blobs(self, stored)) {
            g_task_return_pointer(task, g_steal_pointer(&stored), (GDestroyNotify)podvm_image_free);
            return;
        }
        if (policy == PODVM_PULL_NEVER) {
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                                    _("image %s is not in the image store and the pull policy is "
                                      "Never"),
                                    quoted);
            return;
        }
    }

    waiter = g_new0(Waiter, 1);
    waiter->task = g_steal_pointer(&task);
    waiter->progress = progress;
    waiter->progress_data = progress_data;
    pull = g_hash_table_lookup(self->pulls, canonical);
    if (pull != NULL) {
        g_ptr_array_add(pull->waiters, waiter);
        return;
    }
    pull = g_new0(Pull, 1);
    pull->store = self;
    pull->lock_fd = -1;
    pull->ref = g_steal_pointer(&ref);
    pull->canonical = g_steal_pointer(&canonical);
    pull->waiters = g_ptr_array_new_with_free_func((GDestroyNotify)waiter_free);
    g_ptr_array_add(pull->waiters, waiter);
    job = g_task_new(self, cancellable, job_done_cb, NULL);
    g_task_set_task_data(job, pull, (GDestroyNotify)pull_free);
    g_hash_table_insert(self->pulls, pull->canonical, pull);

    pull->lock_fd = podvm_image_store_open_lock(self, &error);
    if (pull->lock_fd < 0) {
        pull_fail(job, g_steal_pointer(&error));
        g_object_unref(job);
        return;
    }
    /* flock() may wait for a prune: in a thread. */
    lock = g_task_new(self, cancellable, locked_cb, job);
    g_task_set_task_data(lock, pull, NULL);
    g_task_run_in_thread(lock, lock_thread);
    g_object_unref(lock);
}

PodvmImage *
podvm_image_store_pull_finish(PodvmImageStore *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
