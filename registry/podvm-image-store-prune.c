/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Prune, in a thread with the store's lock held exclusive (no pull is
 * between its blobs and its record): records not kept go, then every blob
 * no record reaches (the manifest, its index, config and layers), every
 * rootfs of a manifest no record names, and part files older than an hour.
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

#define STALE_TMP_SECONDS 3600

typedef struct {
    GStrv keep; /* NULL: keep every record */
    guint removed_images;
    guint removed_blobs;
    guint64 freed_bytes;
} Prune;

static void
prune_free(Prune *prune)
{
    g_strfreev(prune->keep);
    g_free(prune);
}

/* Adds what @image reaches: its record's digests and, from the manifest blob, config and layers. */
static void
mark_reachable(PodvmImageStore *self, const PodvmImage *image, GHashTable *reachable)
{
    g_autofree char *path = podvm_image_store_blob_path(self, image->digest);
    g_autofree char *data = NULL;
    gsize length = 0;

    g_hash_table_add(reachable, g_strdup(image->digest));
    g_hash_table_add(reachable, g_strdup(image->config_digest));
    if (image->index_digest != NULL)
        g_hash_table_add(reachable, g_strdup(image->index_digest));
    for (guint i = 0; i < image->layers->len; i++)
        g_hash_table_add(reachable, g_strdup(g_ptr_array_index(image->layers, i)));
    if (g_file_get_contents(path, &data, &length, NULL) &&
        length <= PODVM_REGISTRY_MANIFEST_MAX_SIZE * 16) {
        g_autoptr(PodvmRegistryManifest) manifest =
            podvm_registry_manifest_parse(data, length, NULL, NULL);

        if (manifest != NULL && !manifest->is_index) {
            g_hash_table_add(reachable, g_strdup(manifest->config->digest));
            for (guint i = 0; i < manifest->layers->len; i++) {
                PodvmRegistryDescriptor *layer = g_ptr_array_index(manifest->layers, i);

                g_hash_table_add(reachable, g_strdup(layer->digest));
            }
        }
    }
}

static void
remove_file(const char *path, Prune *prune, gboolean blob)
{
    GStatBuf st;

    if (g_lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    if (g_unlink(path) < 0) {
        g_warning("image store: cannot remove %s: %s", path, g_strerror(errno));
        return;
    }
    prune->freed_bytes += (guint64)st.st_size;
    if (blob)
        prune->removed_blobs++;
}

static void
prune_blobs(PodvmImageStore *self, GHashTable *reachable, Prune *prune)
{
    g_autoptr(GDir) dir = g_dir_open(self->blobs_dir, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *digest = g_strconcat("sha256:", name, NULL);
        g_autofree char *path = NULL;

        if (g_hash_table_contains(reachable, digest))
            continue;
        path = g_build_filename(self->blobs_dir, name, NULL);
        remove_file(path, prune, TRUE);
    }
}

/* rootfs/sha256-HEX.*: the app root filesystems of manifests. */
static void
prune_rootfs(PodvmImageStore *self, GHashTable *reachable, Prune *prune)
{
    g_autoptr(GDir) dir = g_dir_open(self->rootfs_dir, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *digest = NULL;
        g_autofree char *path = NULL;
        const char *dot;

        if (!g_str_has_prefix(name, "sha256-") || (dot = strchr(name, '.')) == NULL)
            continue;
        digest = g_strdup_printf("sha256:%.*s", (int)(dot - name - strlen("sha256-")),
                                 name + strlen("sha256-"));
        if (!podvm_image_ref_digest_valid(digest) || g_hash_table_contains(reachable, digest))
            continue;
        path = g_build_filename(self->rootfs_dir, name, NULL);
        remove_file(path, prune, FALSE);
    }
}

static void
prune_tmp(PodvmImageStore *self, Prune *prune)
{
    g_autoptr(GDir) dir = g_dir_open(self->tmp_dir, 0, NULL);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = g_build_filename(self->tmp_dir, name, NULL);
        GStatBuf st;

        if (g_lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            now - (gint64)st.st_mtime > STALE_TMP_SECONDS)
            remove_file(path, prune, FALSE);
    }
}

static void
prune_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    PodvmImageStore *self = source;
    Prune *prune = task_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) images = NULL;
    g_autoptr(GHashTable) reachable = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(JsonBuilder) builder = json_builder_new();
    int fd = podvm_image_store_open_lock(self, &error);

    if (fd < 0) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    while (flock(fd, LOCK_EX) < 0) {
        int saved = errno;

        if (saved == EINTR)
            continue;
        close(fd);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("cannot lock the image store: %s"), g_strerror(saved));
        return;
    }
    images = podvm_image_store_read_records(self, &error);
    if (images == NULL) {
        close(fd);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    for (guint i = 0; i < images->len; i++) {
        PodvmImage *image = g_ptr_array_index(images, i);

        if (prune->keep != NULL &&
            !g_strv_contains((const char *const *)prune->keep, image->digest) &&
            (image->index_digest == NULL ||
             !g_strv_contains((const char *const *)prune->keep, image->index_digest))) {
            g_autofree char *path = podvm_image_store_record_path(self, image->reference);

            if (g_unlink(path) == 0) {
                prune->removed_images++;
                continue;
            }
        }
        mark_reachable(self, image, reachable);
    }
    prune_blobs(self, reachable, prune);
    prune_rootfs(self, reachable, prune);
    prune_tmp(self, prune);
    close(fd);

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "removedImages");
    json_builder_add_int_value(builder, prune->removed_images);
    json_builder_set_member_name(builder, "removedBlobs");
    json_builder_add_int_value(builder, prune->removed_blobs);
    json_builder_set_member_name(builder, "freedBytes");
    json_builder_add_int_value(builder, (gint64)prune->freed_bytes);
    json_builder_end_object(builder);
    g_task_return_pointer(task, json_builder_get_root(builder), (GDestroyNotify)json_node_unref);
}

void
podvm_image_store_prune_async(PodvmImageStore *self, const char *const *keep_digests,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    Prune *prune = g_new0(Prune, 1);

    g_task_set_source_tag(task, podvm_image_store_prune_async);
    prune->keep = g_strdupv((GStrv)keep_digests);
    g_task_set_task_data(task, prune, (GDestroyNotify)prune_free);
    g_task_run_in_thread(task, prune_thread);
}

JsonNode *
podvm_image_store_prune_finish(PodvmImageStore *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
