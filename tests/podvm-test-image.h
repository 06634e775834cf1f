/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * OCI images built by the tests: layers written as tar (+gzip) with
 * libarchive, blobs named by their sha256, an OCI manifest and config, and
 * an OCI layout (oci-layout, index.json with the tag as
 * org.opencontainers.image.ref.name, blobs/sha256/). Every entry is
 * written as given: raw entries may carry any name ("../x", "/etc/x") for
 * the tests of what an unpacker must refuse. Entries have mtime 0 and owner
 * 0:0 unless set, and gzip carries no timestamp, so the same image built
 * twice has the same digests.
 *
 *     g_autoptr(PodvmTestImage) image = podvm_test_image_new_busybox(cmd);
 *     g_autofree char *digest = podvm_test_image_write_layout(image, dir, "v1", NULL);
 *     podvm_test_registry_push(reg, dir, "v1", "apps/busybox:v1", &error);
 */

typedef struct _PodvmTestImage PodvmTestImage;
typedef struct _PodvmTestLayer PodvmTestLayer;

typedef enum {
    PODVM_TEST_LAYER_GZIP, /* application/vnd.oci.image.layer.v1.tar+gzip (default) */
    PODVM_TEST_LAYER_TAR,  /* application/vnd.oci.image.layer.v1.tar */
} PodvmTestLayerCompression;

/* An empty image for linux/amd64: no layers, an empty config. */
PodvmTestImage *podvm_test_image_new(void);
void podvm_test_image_free(PodvmTestImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmTestImage, podvm_test_image_free)

/* A new (last) layer; owned by @image. */
PodvmTestLayer *podvm_test_image_add_layer(PodvmTestImage *image);
void podvm_test_layer_set_compression(PodvmTestLayer *layer, PodvmTestLayerCompression compression);

/*
 * Entries, in the order added. @path is the name in the tar ("bin/sh" or
 * "/bin/sh": a leading '/' is dropped, as tar does, except by
 * podvm_test_layer_add_raw()). @mode: permission bits (setuid etc. kept);
 * the owner of the entries that follow is set with
 * podvm_test_layer_set_owner().
 */
void podvm_test_layer_set_owner(PodvmTestLayer *layer, guint uid, guint gid);
void podvm_test_layer_add_file(PodvmTestLayer *layer, const char *path, const void *data,
                               gssize length, guint mode);
/* A regular file with the content of @host_path (streamed when written);
 * @mode 0: the host file's permission bits. */
void podvm_test_layer_add_host_file(PodvmTestLayer *layer, const char *path, const char *host_path,
                                    guint mode);
void podvm_test_layer_add_dir(PodvmTestLayer *layer, const char *path, guint mode);
void podvm_test_layer_add_symlink(PodvmTestLayer *layer, const char *path, const char *target);
/* A hard link @path to the earlier entry @target (a tar name). */
void podvm_test_layer_add_hardlink(PodvmTestLayer *layer, const char *path, const char *target);
/* "DIR/.wh.NAME" for @path "DIR/NAME": deletes NAME of the layers below. */
void podvm_test_layer_add_whiteout(PodvmTestLayer *layer, const char *path);
/* "DIR/.wh..wh..opq": DIR's content of the layers below is hidden. */
void podvm_test_layer_add_opaque(PodvmTestLayer *layer, const char *dir);
/* A character (@block FALSE) or block device node. */
void podvm_test_layer_add_device(PodvmTestLayer *layer, const char *path, gboolean block,
                                 guint major, guint minor, guint mode);
/* A fifo. */
void podvm_test_layer_add_fifo(PodvmTestLayer *layer, const char *path, guint mode);
/*
 * Any entry, the name written exactly as given: @type is a libarchive
 * AE_IF* file type (AE_IFREG, AE_IFDIR, AE_IFLNK: @link_target is the
 * symlink's target; for a hard link give AE_IFREG and @hardlink TRUE).
 */
void podvm_test_layer_add_raw(PodvmTestLayer *layer, const char *name, guint type, guint mode,
                              const void *data, gsize length, const char *link_target,
                              gboolean hardlink);

/* The config (OCI image config "config" member). NULL clears. */
void podvm_test_image_set_entrypoint(PodvmTestImage *image, const char *const *argv);
void podvm_test_image_set_cmd(PodvmTestImage *image, const char *const *argv);
/* "KEY=VALUE"; a KEY given again replaces the earlier value. */
void podvm_test_image_add_env(PodvmTestImage *image, const char *key_value);
void podvm_test_image_set_working_dir(PodvmTestImage *image, const char *dir);
void podvm_test_image_set_user(PodvmTestImage *image, const char *user);
/* "6379/tcp" */
void podvm_test_image_add_exposed_port(PodvmTestImage *image, const char *port);
/* os/architecture[/variant] of the config and of the index entry. */
void podvm_test_image_set_platform(PodvmTestImage *image, const char *os, const char *arch,
                                   const char *variant);
/* An annotation on the manifest (a long value makes a huge manifest). */
void podvm_test_image_add_annotation(PodvmTestImage *image, const char *key, const char *value);

/*
 * Writes the image into the OCI layout @dir (created when missing; an
 * existing layout keeps its other tags, and the blobs are shared) under
 * @tag. Returns the manifest's digest ("sha256:HEX"); @out_size (may be
 * NULL) gets the total size of the blobs (manifest, config, layers).
 * Asserts on failures.
 */
char *podvm_test_image_write_layout(PodvmTestImage *image, const char *dir, const char *tag,
                                    guint64 *out_size);
/*
 * Writes @images (each with its platform) and an OCI image index over them
 * into @dir under @tag. Returns the index's digest.
 */
char *podvm_test_image_write_index(PodvmTestImage *const *images, guint n_images, const char *dir,
                                   const char *tag);
/* After a write: the digests ("sha256:HEX") of the config and of layer @i. */
const char *podvm_test_image_config_digest(PodvmTestImage *image);
const char *podvm_test_image_layer_digest(PodvmTestImage *image, guint i);
guint podvm_test_image_n_layers(PodvmTestImage *image);

/* ---- ready-made images ---- */

/*
 * Debian's busybox-static as /bin/busybox, /bin/sh and the usual applets as
 * symlinks to it, /etc/passwd and /etc/group (root, nobody), /tmp, /root;
 * Env PATH; Cmd @cmd (NULL: ["/bin/sh"]). NULL after g_test_skip() when
 * busybox-static is not installed.
 */
PodvmTestImage *podvm_test_image_new_busybox(const char *const *cmd);
/*
 * Debian's redis-server with its libraries (from `ldd`) and the dynamic
 * loader at the paths they have on this host (/lib, /lib64 as the host's
 * symlinks when merged-usr), /etc/passwd and /etc/group with a redis user
 * (999:999), /data (the working dir, owned by redis), /tmp; Entrypoint
 * ["redis-server", "--protected-mode", "no"], ExposedPorts 6379/tcp.
 * NULL after g_test_skip() when redis-server is not installed.
 */
PodvmTestImage *podvm_test_image_new_redis(void);
/*
 * A KubeVirt containerDisk: the raw (or qcow2) disk @disk_path as
 * /disk/@name (NULL: its basename), owned 107:107 mode 0440 in a 0555 /disk
 * as KubeVirt packs it; no config.
 */
PodvmTestImage *podvm_test_image_new_container_disk(const char *disk_path, const char *name);
/*
 * A busybox image plus a layer of @size bytes of incompressible data
 * (/data/blob), for pulls of a known size (benchmarks).
 */
PodvmTestImage *podvm_test_image_new_sized(gsize size, const char *const *cmd);

G_END_DECLS
