/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The storage pool: named volumes (persistentVolumeClaim, dataVolume) as
 * raw images in one directory the daemon owns:
 *   POOL_DIR/NAME.img    the image (raw, sparse)
 *   POOL_DIR/NAME.json   its record: {name, size, format, phase, source,
 *                        sha256, createdAt, message}
 * A volume is created blank (qemu-img create), from a file (qemu-img
 * convert to raw, grown to size when given), or imported from an
 * http(s):// URL (libsoup client; downloaded to POOL_DIR/.NAME.part,
 * sha256 checked when given, then converted). While it imports its phase is
 * "Importing" and "progress" is emitted; then "Ready" (or "Failed" with a
 * message, and the image removed). Records survive daemon restarts; an
 * import cut short by a restart is marked Failed at load. A Failed volume
 * stays listed with its message (no pod can use it) until it is deleted
 * or a create of the same name replaces it: a retry needs no delete.
 *
 * Use: pods acquire a volume when they start (or hotplug it) and release it
 * when they stop. Any number of read-only users, or one read-write user.
 * Who uses what is kept in memory: pods re-acquire at daemon start
 * (reconcile).
 *
 * Signals:
 *   "changed" (const char *name)   a volume appeared, changed phase or was deleted
 *   "progress" (const char *name, guint64 done, guint64 total)  import progress (total 0: unknown)
 */
#define PODVM_TYPE_VOLUME_POOL (podvm_volume_pool_get_type())
G_DECLARE_FINAL_TYPE(PodvmVolumePool, podvm_volume_pool, PODVM, VOLUME_POOL, GObject)

/* Makes @dir (0700) if needed and loads its records. */
PodvmVolumePool *podvm_volume_pool_new(const char *dir, const char *qemu_img, GError **error);

typedef struct {
    const char *name;   /* DNS-1123 label */
    guint64 size;       /* bytes; required when blank, else 0 = the source's size */
    const char *from;   /* NULL (blank), a host file path, or an http(s):// URL */
    const char *sha256; /* expected digest of what @from gives (hex), or NULL */
} PodvmVolumeCreateOptions;

/*
 * Creates a volume. Completes when it is Ready (or failed); the record is
 * written, in phase Importing, before any data moves, so list shows it.
 * EXISTS when the name is taken (by a volume that is Ready or still being
 * created; a Failed one is replaced); INVALID_ARGUMENT for a bad name, size or
 * source (message says what to fix); FAILED with the cause otherwise.
 * Returns the volume's JSON.
 */
void podvm_volume_pool_create_async(PodvmVolumePool *self, const PodvmVolumeCreateOptions *options,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
JsonNode *podvm_volume_pool_create_finish(PodvmVolumePool *self, GAsyncResult *result,
                                          GError **error);

/* {name, size, format, phase, source, sha256, createdAt, message, usedBy: [pods]} */
JsonNode *podvm_volume_pool_get_json(PodvmVolumePool *self, const char *name, GError **error);
/* An array of those, sorted by name. */
JsonNode *podvm_volume_pool_list_json(PodvmVolumePool *self);
/* BUSY while a pod uses it or it imports; NOT_FOUND when there is none. */
gboolean podvm_volume_pool_delete(PodvmVolumePool *self, const char *name, GError **error);

/*
 * The image of a Ready volume, for @pod. NOT_FOUND when there is none (the
 * message says how to create it), WRONG_PHASE while it imports or after a
 * failed import, BUSY when another pod uses it read-write, or uses it at
 * all and @read_only is FALSE. Acquiring twice for the same pod is fine.
 */
gboolean podvm_volume_pool_acquire(PodvmVolumePool *self, const char *name, const char *pod,
                                   gboolean read_only, char **out_path, guint64 *out_size,
                                   GError **error);
/* Gives back what acquire() took; unknown pairs are ignored. */
void podvm_volume_pool_release(PodvmVolumePool *self, const char *name, const char *pod);
/* The image path of volume @name (whether or not it exists). */
char *podvm_volume_pool_image_path(PodvmVolumePool *self, const char *name);
const char *podvm_volume_pool_get_dir(PodvmVolumePool *self);

G_END_DECLS
