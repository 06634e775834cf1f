/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* State files are small; anything bigger is not ours. */
#define PODVM_STORE_MAX_FILE (4 * 1024 * 1024)

/*
 * Atomic replace, durable by default: write PATH.tmp (O_EXCL, 0600), fsync, rename over
 * PATH, fsync the directory. On any failure the previous file is intact
 * and the temporary file is removed. Small and synchronous on purpose: the
 * caller answers only once the state is on disk.
 */
gboolean podvm_store_write_durable(const char *path, const char *contents, gsize length,
                                   GError **error);

typedef enum {
    PODVM_STORE_DURABLE, /* fsync file and directory: survives a host crash */
    PODVM_STORE_ATOMIC,  /* rename only: a reader sees the old or the new file, never half */
} PodvmStoreMode;

gboolean podvm_store_write_json(const char *path, JsonNode *node, PodvmStoreMode mode,
                                GError **error);
/*
 * fsync()s @path and its directory in a worker thread: makes an ATOMIC
 * write durable without holding up the caller. Failures are logged.
 */
void podvm_store_sync_in_background(const char *path);

/* Reads a state file, refusing symlinks, non-regular files and files not
 * owned by us, and anything over PODVM_STORE_MAX_FILE. */
JsonNode *podvm_store_read_json(const char *path, GError **error);

/* fsync()s directory @dir: makes a rename or unlink in it durable. */
gboolean podvm_store_sync_dir(const char *dir, GError **error);

/* Removes a directory tree that podvm made (no symlinks followed). */
gboolean podvm_store_remove_tree(const char *path, GError **error);

G_END_DECLS
