/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The image store: images pulled from registries (OCI distribution API),
 * kept content-addressed in a directory that is itself an OCI image layout
 * (oci-layout, blobs/sha256/HEX), so every reader opens a pulled image as
 * "oci:DIR@sha256:HEX" with the layout reader of storage/.
 *
 *   DIR/blobs/sha256/HEX   verified blobs; written to DIR/tmp/ while they
 *                          stream and hash, renamed only when the digest matches
 *   DIR/refs/KEY.json      what a reference resolved to (atomic rewrite)
 *   DIR/rootfs/            app root filesystems (storage/podvm-app-rootfs.h)
 *   DIR/lock               flock: prune exclusive, pulls shared
 *
 * Several pulls of one image, in one process or several, are safe; a crash
 * leaves at most files under tmp/, which prune removes.
 */
#define PODVM_TYPE_IMAGE_STORE (podvm_image_store_get_type())
G_DECLARE_FINAL_TYPE(PodvmImageStore, podvm_image_store, PODVM, IMAGE_STORE, GObject)

typedef enum {
    PODVM_PULL_IF_NOT_PRESENT, /* a stored record for the reference: no network */
    PODVM_PULL_ALWAYS,         /* resolve the tag again; fetch only missing blobs */
    PODVM_PULL_NEVER,          /* a stored record or NOT_FOUND */
} PodvmPullPolicy;

typedef struct {
    GStrv insecure_registries; /* "HOST:PORT" reached over plain HTTP; NULL: none */
    char *auth_file;           /* podman's auth.json; NULL: anonymous only */
    GStrv allowed_registries;  /* NULL: any */
    gboolean require_digest;   /* references must name a digest */
    guint64 max_manifest_size; /* manifests, indexes, configs; 0: 4 MiB */
    guint64 max_layer_size;    /* 0: 8 GiB */
    guint timeout_seconds;     /* a request idle this long fails; 0: 30 */
    const char *os;            /* platform of an index's pick; NULL: "linux" */
    const char *architecture;  /* NULL: this host's, in OCI's names ("amd64") */
} PodvmImageStoreOptions;

typedef struct {
    char *reference;     /* canonical: "docker.io/library/redis:latest" */
    char *digest;        /* the (platform) manifest's "sha256:..." */
    char *index_digest;  /* the index the tag named, or NULL */
    char *config_digest; /* "sha256:..." */
    char *media_type;    /* the manifest's */
    GPtrArray *layers;   /* char *: layer digests, in order */
    guint64 size;        /* manifest + config + layers, bytes */
    gint64 pulled_at;    /* unix seconds */
} PodvmImage;

void podvm_image_free(PodvmImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmImage, podvm_image_free)
/* {"reference", "digest", "indexDigest"?, "configDigest", "mediaType", "size", "pulledAt" (RFC
 * 3339)} */
JsonNode *podvm_image_to_json(const PodvmImage *image);

typedef struct {
    const char *reference; /* canonical */
    const char *phase;     /* "resolving", "downloading", "done" */
    guint64 done_bytes;
    guint64 total_bytes; /* 0 until the manifest is known */
    guint layers_done;
    guint layers_total;
} PodvmPullProgress;
typedef void (*PodvmPullProgressFunc)(const PodvmPullProgress *progress, gpointer user_data);

/* Creates DIR and its layout when missing. */
PodvmImageStore *podvm_image_store_new(const char *dir, const PodvmImageStoreOptions *options,
                                       GError **error);
const char *podvm_image_store_get_dir(PodvmImageStore *self);
/* "oci:DIR@sha256:HEX" for an image of this store. */
char *podvm_image_store_layout_ref(PodvmImageStore *self, const PodvmImage *image);

/*
 * @reference: "docker://..." or a bare registry reference (podvm-image-ref.h).
 * Errors name the image and the registry: INVALID_ARGUMENT (bad reference,
 * registry not allowed, digest required), NOT_FOUND (no such image or tag,
 * no manifest for this platform, Never and not stored), PERMISSION_DENIED
 * (registry refused the credentials), TIMEOUT (registry did not answer),
 * FAILED (digest mismatch, size limit, protocol error, unreachable).
 * @progress is called on the caller's main context.
 * A pull of a reference this store is already pulling joins it: every
 * caller gets the progress and the outcome, and the first caller's
 * @cancellable cancels it for all.
 */
void podvm_image_store_pull_async(PodvmImageStore *self, const char *reference,
                                  PodvmPullPolicy policy, PodvmPullProgressFunc progress,
                                  gpointer progress_data, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
PodvmImage *podvm_image_store_pull_finish(PodvmImageStore *self, GAsyncResult *result,
                                          GError **error);

/* Stored images only (no network). @reference_or_digest: a reference or "sha256:...". */
PodvmImage *podvm_image_store_lookup(PodvmImageStore *self, const char *reference_or_digest,
                                     GError **error);
GPtrArray *podvm_image_store_list(PodvmImageStore *self, GError **error); /* PodvmImage * */
/* Removes the record(s); blobs go at the next prune. */
gboolean podvm_image_store_remove(PodvmImageStore *self, const char *reference_or_digest,
                                  GError **error);
/*
 * Removes records whose digest is not in @keep_digests (NULL: keep every
 * record, collect only garbage), then every blob and rootfs no record
 * reaches, and tmp files older than an hour. Runs in a thread.
 */
void podvm_image_store_prune_async(PodvmImageStore *self, const char *const *keep_digests,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
/* {"removedImages": N, "removedBlobs": N, "freedBytes": N} */
JsonNode *podvm_image_store_prune_finish(PodvmImageStore *self, GAsyncResult *result,
                                         GError **error);

G_END_DECLS
