/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-image-store.h"
#include "podvm-spec.h"
#include "podvm-volume-pool.h"

G_BEGIN_DECLS

/*
 * Volume backends: one per volume source of docs/pod-format.md. prepare() makes
 * what a pod needs for one volume and says which file QEMU opens and in
 * which format (always explicit: QEMU never probes); release() undoes it.
 *
 * Every path a backend makes is derived from the context and the volume's
 * name alone, so release() needs nothing saved from prepare(): it works
 * after a daemon crash, and twice in a row.
 *
 *   hostDisk              the file itself (raw), in an allowed directory;
 *                         DiskOrCreate makes a sparse raw file of capacity
 *   emptyDisk             POD_STATE_DIR/volumes/NAME.qcow2, made once; kept
 *                         across stops; podvm_storage_delete() removes it
 *   ephemeral             POD_RUN_DIR/volumes/NAME.qcow2 over the image or
 *                         claim (backing read-only, backing format explicit);
 *                         removed by release()
 *   containerDisk         POD_RUN_DIR/volumes/NAME.qcow2 over the disk
 *                         unpacked once into CACHE_DIR (keyed by digest); a
 *                         registry reference is pulled into the image store
 *                         first (imagePullPolicy, default IfNotPresent) and
 *                         read from it as "oci:STORE_DIR@sha256:HEX"
 *   cloudInitNoCloud      POD_RUN_DIR/volumes/NAME.iso, label "cidata"
 *   cloudInitConfigDrive  POD_RUN_DIR/volumes/NAME.iso, label "config-2"
 *   persistentVolumeClaim, dataVolume
 *                         the pool's image, acquired for the pod (one pod
 *                         read-write at a time); release() gives it back
 */
typedef struct {
    const char *pod_name;
    const char *pod_uid;
    const char *hostname;      /* the guest's hostname (spec hostname, else the pod name) */
    const char *pod_state_dir; /* state_dir/pods/NAME: durable */
    const char *pod_run_dir;   /* run_dir/pods/NAME: gone at reboot */
    const char *cache_dir;     /* containerDisk cache, shared by pods */
    const char *const *allowed_host_paths; /* NULL-terminated; hostDisk paths must lie under one */
    const char *qemu_img;                  /* "qemu-img" or a path */
    const char *container_disk_helper; /* podvm-unpack-container-disk; NULL: containerDisk fails */
    PodvmVolumePool *pool;        /* claims and dataVolumes; may be NULL (then such volumes fail) */
    PodvmImageStore *image_store; /* containerDisks from registries; NULL: they fail */
    /*
     * A containerDisk's pull reports its progress to @pull_progress (on the
     * caller's main context) with @pull_progress_owner as its data, which a
     * prepare keeps a reference on while it runs. NULL: no progress.
     */
    PodvmPullProgressFunc pull_progress;
    GObject *pull_progress_owner;
} PodvmStorageContext;

/* What QEMU opens for one volume. */
typedef struct {
    char *volume_name;
    char *filename;        /* host path */
    char *format;          /* "raw" or "qcow2" */
    gboolean read_only;    /* the medium can only be read (ISO, readOnly claim) */
    gboolean block_device; /* filename is a host block device (QEMU driver host_device) */
    guint64 virtual_size;  /* bytes the guest sees; 0 when unknown */
    /*
     * The file, opened by podvmd (O_CLOEXEC; O_RDWR, or O_RDONLY when the
     * disk is read-only), owned: QEMU gets it through an fd set rather than
     * opening @filename itself. -1 when the backend opened nothing.
     */
    int fd;
    /*
     * Set by whoever hands @fd to QEMU: @in_fdset, the fd set QEMU holds it
     * in (the blockdev's filename is then "/dev/fdset/N") and, at boot, the
     * fd number in QEMU (for -add-fd). @in_fdset FALSE: QEMU opens @filename.
     */
    gboolean in_fdset;
    guint fdset;
    int qemu_fd;
    /*
     * An overlay's base (ephemeral, containerDisk), opened read-only, and
     * its format: QEMU gets it as the format node's "backing" (its own fd
     * set), so it never opens the path in the overlay's header. -1 / NULL
     * when the volume is no overlay.
     */
    int backing_fd;
    char *backing_format;
    gboolean backing_in_fdset;
    guint backing_fdset;
    int backing_qemu_fd;
    /*
     * containerDisk: the image as pulled (the canonical reference of a
     * registry image, else the image as the spec gives it) and its
     * manifest's digest ("sha256:..."); NULL for other volumes.
     */
    char *image_reference;
    char *image_digest;
} PodvmPreparedVolume;

void podvm_prepared_volume_free(PodvmPreparedVolume *prepared);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmPreparedVolume, podvm_prepared_volume_free)

/*
 * Prepares one volume. @ctx and @volume are copied: the caller may free
 * them at once. Errors are PODVM_ERROR: PERMISSION_DENIED for a path outside the
 * allowed directories, a symlink leaving them or a '..' (RELIABILITY: 403), NOT_FOUND for a missing
 * image or claim, BUSY for a claim another pod uses read-write, IO/FAILED
 * with qemu-img's own message otherwise. A failed prepare leaves nothing
 * behind. @read_only: the disk is read-only (a claim is then shared).
 */
void podvm_storage_prepare_async(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume,
                                 gboolean read_only, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
PodvmPreparedVolume *podvm_storage_prepare_finish(GAsyncResult *result, GError **error);

/* Undoes prepare (idempotent; nothing to undo is fine). Never blocks long: unlinks only. */
void podvm_storage_release(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume);

/* The pod is deleted: release() plus what outlives a stop (emptyDisk's image). */
void podvm_storage_delete(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume);

/*
 * Whether @path (absolute) lies under one of @allowed (after resolving
 * symlinks of the existing part; the file itself may not exist yet).
 * PERMISSION_DENIED with a message naming the path and the allowed directories.
 */
gboolean podvm_storage_check_host_path(const char *path, const char *const *allowed,
                                       GError **error);

/*
 * Opens @path as podvm_storage_check_host_path() checks it: resolved, under
 * one of @allowed, then opened relative to that directory with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so
 * a symlink swapped in after the check fails the open (PERMISSION_DENIED)
 * instead of leading out. Returns the fd (O_CLOEXEC added) or -1 with
 * @error (NOT_FOUND when it does not exist, errno kept). @out_resolved: the
 * path that was opened.
 */
int podvm_storage_open_host_path(const char *path, const char *const *allowed, int flags,
                                 mode_t mode, char **out_resolved, GError **error);

/*
 * openat(@dirfd, @relative) where no component may be a symlink, "." or
 * "..": openat2 when @use_openat2 and the kernel has it (Linux 5.6), else a
 * walk with O_NOFOLLOW. -1 with errno (ELOOP or EXDEV for a symlink or "..").
 */
int podvm_storage_openat_beneath(int dirfd, const char *relative, int flags, mode_t mode,
                                 gboolean use_openat2);

G_END_DECLS
