/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "podvm-image-ref.h"
#include "podvm-image-store.h"
#include "podvm-registry-client.h"

G_BEGIN_DECLS

struct _PodvmImageStore {
    GObject parent_instance;

    char *dir;
    char *blobs_dir; /* DIR/blobs/sha256 */
    char *tmp_dir;
    char *refs_dir;
    char *rootfs_dir;
    char *lock_path;
    GStrv insecure_registries;
    GStrv allowed_registries;
    char *auth_file;
    gboolean require_digest;
    guint64 max_manifest_size;
    guint64 max_layer_size;
    char *os;
    char *architecture;
    PodvmRegistryClient *client;
    GHashTable *pulls; /* canonical reference -> its pull running (podvm-image-store-pull.c) */
};

/* DIR/blobs/sha256/HEX of "sha256:HEX". */
char *podvm_image_store_blob_path(PodvmImageStore *self, const char *digest);
/* DIR/refs/KEY.json of a canonical reference. */
char *podvm_image_store_record_path(PodvmImageStore *self, const char *canonical);
/* The record at @path as an image, or NULL with @error set. */
PodvmImage *podvm_image_store_read_record(const char *path, GError **error);
/* The record's JSON text. */
char *podvm_image_store_record_data(const PodvmImage *image, gsize *out_length);
/* Whether every blob of @image is in the store. */
gboolean podvm_image_store_has_blobs(PodvmImageStore *self, const PodvmImage *image);
/* Every record (PodvmImage *), unreadable ones skipped with a warning. */
GPtrArray *podvm_image_store_read_records(PodvmImageStore *self, GError **error);
/* Opens DIR/lock (O_CLOEXEC), -1 with @error set. */
int podvm_image_store_open_lock(PodvmImageStore *self, GError **error);

G_END_DECLS
