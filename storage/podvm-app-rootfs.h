/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * An app's root filesystem: the layers of an OCI image applied in order
 * (whiteouts and opaque directories honoured, nothing written outside the
 * root, device nodes skipped, setuid/setgid cleared) into a read-only erofs
 * image, cached by the manifest digest:
 *
 *   ROOTFS_DIR/sha256-HEX.erofs   the filesystem
 *   ROOTFS_DIR/sha256-HEX.json    the image config summary (below)
 *
 * Both appear under their final names only when complete (temp + rename);
 * when both exist nothing is unpacked again.
 */
typedef struct {
    char *path;          /* the .erofs image */
    char *fs_type;       /* "erofs" */
    char *digest;        /* the manifest's "sha256:..." */
    GStrv entrypoint;    /* NULL when the image gives none */
    GStrv cmd;           /* NULL when the image gives none */
    GStrv env;           /* "K=V" */
    char *working_dir;   /* NULL: "/" */
    char *user;          /* NULL: root */
    GStrv exposed_ports; /* "6379/tcp" */
    gboolean cached;     /* found in the cache: nothing unpacked */
} PodvmAppRootfs;

void podvm_app_rootfs_free(PodvmAppRootfs *rootfs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmAppRootfs, podvm_app_rootfs_free)
JsonNode *podvm_app_rootfs_to_json(const PodvmAppRootfs *rootfs);
PodvmAppRootfs *podvm_app_rootfs_from_json(JsonNode *node, GError **error);

/*
 * @image: "oci:DIR[:TAG]" or "oci:DIR@sha256:HEX" (a pulled image:
 * podvm_image_store_layout_ref()). Runs @helper (podvm-unpack-app-rootfs,
 * in LIBEXECDIR and built next to podvmd) so podvmd never parses layers
 * itself. Errors keep their PODVM_ERROR code and name the image and, for a
 * refused entry, the layer and the path.
 */
void podvm_app_rootfs_build_in_helper_async(const char *helper, const char *image,
                                            const char *rootfs_dir, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
PodvmAppRootfs *podvm_app_rootfs_build_in_helper_finish(GAsyncResult *result, GError **error);

G_END_DECLS
