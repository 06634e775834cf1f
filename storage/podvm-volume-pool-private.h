/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the volume pool's files share: the pool and its volume records
 * (podvm-volume-pool.c) and the create/import path
 * (podvm-volume-pool-create.c). Not for users of the pool.
 */
#include <libsoup/soup.h>

#include "podvm-volume-pool.h"

#define PHASE_IMPORTING "Importing"
#define PHASE_READY "Ready"
#define PHASE_FAILED "Failed"

typedef enum {
    USE_READ_ONLY = 1,
    USE_READ_WRITE = 2,
} VolumeUse;

typedef struct {
    char *name;
    guint64 size;
    char *format; /* always "raw" for now */
    char *phase;  /* PHASE_* */
    char *source; /* NULL: blank */
    char *sha256; /* lowercase hex or NULL */
    char *created_at;
    char *message;     /* why it failed, or NULL */
    GHashTable *users; /* pod name -> GINT_TO_POINTER(VolumeUse); memory only */
} PoolVolume;

struct _PodvmVolumePool {
    GObject parent_instance;

    char *dir;            /* owned */
    char *qemu_img;       /* owned */
    GHashTable *volumes;  /* name -> PoolVolume*, owned */
    SoupSession *session; /* owned; made at the first import */
};

enum {
    SIGNAL_CHANGED,
    SIGNAL_PROGRESS,
    N_SIGNALS,
};

extern guint volume_pool_signals[N_SIGNALS];

PoolVolume *pool_volume_new(const char *name);
void pool_volume_free(PoolVolume *volume);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PoolVolume, pool_volume_free)
void volume_pool_set_phase(PoolVolume *volume, const char *phase, const char *message);

/* POOL_DIR/NAME.json, POOL_DIR/.NAME.part (a download), POOL_DIR/.NAME.img.tmp (a half image). */
char *volume_pool_record_path(PodvmVolumePool *self, const char *name);
char *volume_pool_part_path(PodvmVolumePool *self, const char *name);
char *volume_pool_image_tmp_path(PodvmVolumePool *self, const char *name);
void volume_pool_unlink_quietly(const char *path);
/* Removes what an import may have left: the download, the half image, the image. */
void volume_pool_remove_volume_data(PodvmVolumePool *self, const char *name);

/* The record; with @with_users also "usedBy". Written durably (temp, fsync, rename). */
JsonNode *volume_pool_volume_to_json(PoolVolume *volume, gboolean with_users);
gboolean volume_pool_write_record(PodvmVolumePool *self, PoolVolume *volume, GError **error);
