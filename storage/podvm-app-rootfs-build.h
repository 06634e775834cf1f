/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "podvm-app-rootfs.h"

G_BEGIN_DECLS

/*
 * The builder behind podvm-unpack-app-rootfs (libarchive; never linked into
 * podvmd). Blocks: run it in the helper process or a worker thread.
 *
 * Layers are applied in order into ROOTFS_DIR/sha256-HEX.rootfs.tmp-XXXXXX:
 * names are normalised ("./a//b" -> "a/b"); a '..' component or an
 * absolute name is refused (INVALID_ARGUMENT naming the layer and the
 * path); every parent directory is resolved inside the root (openat2
 * RESOLVE_IN_ROOT: a symbolic link, absolute or relative, cannot lead a
 * write outside; a missing parent is created as a directory, a dangling
 * link as a parent is refused); the final name is never followed.
 * ".wh.NAME" removes NAME of lower layers, ".wh..wh..opq" empties its
 * directory of what lower layers put there. Hard links must point at an
 * existing non-directory inside the root. Device nodes, FIFOs and sockets
 * are skipped with a log line; setuid/setgid bits are cleared; ownership is
 * kept when running as root, else ignored (and mkfs.erofs --all-root).
 * Then mkfs.erofs -T0 --quiet makes sha256-HEX.erofs (temp name + rename),
 * and sha256-HEX.json holds the config summary. On any error nothing is
 * left in ROOTFS_DIR but what was there before.
 */

#define PODVM_APP_ROOTFS_DEFAULT_MAX_BYTES (16ULL * 1024 * 1024 * 1024)
#define PODVM_APP_ROOTFS_DEFAULT_MAX_ENTRIES 1000000

typedef struct {
    guint64 max_bytes;      /* unpacked regular file bytes; 0: the default */
    guint64 max_entries;    /* archive entries over all layers; 0: the default */
    const char *mkfs_erofs; /* NULL: "mkfs.erofs" from PATH, /usr/sbin, /sbin */
} PodvmAppRootfsOptions;

PodvmAppRootfs *podvm_app_rootfs_build(const char *image, const char *rootfs_dir,
                                       const PodvmAppRootfsOptions *options,
                                       GCancellable *cancellable, GError **error);

G_END_DECLS
