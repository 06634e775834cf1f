/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * containerDisk: the disk image inside an OCI image, as KubeVirt packs it
 * (a layer holding /disk/NAME.img or .qcow2). Sources: "oci:DIR:TAG", a
 * local OCI image layout (index.json, blobs/sha256/...), or
 * "oci:DIR@sha256:HEX", a manifest or index by digest (how images pulled
 * into the image store are read); see podvm-oci-layout.h. "docker://" is
 * refused with NOT_SUPPORTED here: registry images are pulled first.
 *
 * Every blob read (index's manifest, manifest, layers) is checked against
 * its sha256 digest; a mismatch is an error naming the blob. The disk is
 * unpacked (libarchive: tar, tar+gzip) once into
 * CACHE_DIR/sha256-<manifest digest>/disk.<format> (disk-<hash of the
 * path>.<format> for an explicit @path_in_image), written to a temporary
 * name and renamed, so concurrent or crashed unpacks never leave a partial
 * image under the final name. The format is probed once there with
 * qemu-img and must be raw or qcow2 without a backing file.
 */
typedef struct {
    char *path;   /* the cached image */
    char *format; /* "raw" or "qcow2" */
    guint64 virtual_size;
    char *digest; /* "sha256:..." of the manifest */
} PodvmContainerDisk;

void podvm_container_disk_free(PodvmContainerDisk *disk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmContainerDisk, podvm_container_disk_free)

/*
 * @image: "oci:DIR:TAG" (TAG defaults to "latest") or "oci:DIR@sha256:HEX"; @path_in_image: the
 * file in the image (NULL: the one file under /disk/). Heavy work runs in
 * a worker thread.
 */
void podvm_container_disk_unpack_async(const char *image, const char *path_in_image,
                                       const char *cache_dir, const char *qemu_img,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
PodvmContainerDisk *podvm_container_disk_unpack_finish(GAsyncResult *result, GError **error);

/*
 * The same in a separate process: @helper (podvm-unpack-container-disk,
 * installed in LIBEXECDIR and built next to podvmd) runs the unpack and
 * answers in JSON on its stdout. podvmd uses this one, so the daemon
 * neither parses untrusted archives itself nor carries libarchive (and the
 * libxml2/ICU/libstdc++ it pulls in, 2.3 MiB of podvmd's RSS). Errors keep
 * their PODVM_ERROR code; a helper that dies is FAILED with its stderr.
 */
void podvm_container_disk_unpack_in_helper_async(const char *helper, const char *image,
                                                 const char *path_in_image, const char *cache_dir,
                                                 const char *qemu_img, GCancellable *cancellable,
                                                 GAsyncReadyCallback callback, gpointer user_data);
PodvmContainerDisk *podvm_container_disk_unpack_in_helper_finish(GAsyncResult *result,
                                                                 GError **error);

/*
 * The unpack cache's upkeep: removes each entry CACHE_DIR/sha256-HEX (its
 * files with it) whose digest "sha256:HEX" is not in @keep_digests; with
 * @only_digests (NULL: every entry) only those entries are looked at.
 * Other names in @cache_dir are left alone. Runs in a thread. Finish:
 * {"removedCacheEntries": N, "cacheFreedBytes": N}; an entry that cannot
 * be removed is logged and the others go on.
 */
void podvm_container_disk_cache_prune_async(const char *cache_dir, const char *const *keep_digests,
                                            const char *const *only_digests,
                                            GCancellable *cancellable, GAsyncReadyCallback callback,
                                            gpointer user_data);
JsonNode *podvm_container_disk_cache_prune_finish(GAsyncResult *result, GError **error);

/* The helper's answer: {"path", "format", "virtualSize", "digest"} or {"error": {"code",
 * "message"}}. */
JsonNode *podvm_container_disk_to_json(const PodvmContainerDisk *disk);

G_END_DECLS
