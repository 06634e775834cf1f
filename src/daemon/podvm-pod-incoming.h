/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The target of a live migration, the pod's side (podvm-pod-incoming.c),
 * for the manager (podvm-manager-incoming.c): an Incoming pod receives
 * the source's QEMU state and copied disks, then runs here on finish, or
 * is torn down as if it never existed.
 */
#include "podvm-pod.h"
#include "migration/podvm-migration-doc.h"

G_BEGIN_DECLS

typedef enum {
    PODVM_INCOMING_PREPARING, /* storage, network, QEMU being set up */
    PODVM_INCOMING_WAITING,   /* QEMU waits for the source */
    PODVM_INCOMING_RECEIVING, /* bytes moved */
    PODVM_INCOMING_COMPLETED, /* QEMU's incoming migration completed; not running yet */
    PODVM_INCOMING_RUNNING,   /* finished: the pod runs here */
    PODVM_INCOMING_FAILED,    /* torn down */
} PodvmIncomingState;

/* "preparing", "waiting", ... as in the status document. */
const char *podvm_incoming_state_to_string(PodvmIncomingState state);

/*
 * Makes @self (just created, Pending) the target of migration @id and
 * starts it: the record (runtime.migration, role target) stored first,
 * then a start in phase Incoming (storage with every copied disk new and
 * empty, the network with its links down, QEMU with -incoming defer),
 * migrate-set-capabilities, the NBD exports of @disks
 * (PodvmMigrationDisk*, copied) and migrate-incoming. Completes with the
 * answer ({id, secret, disks[{name, export}]}); on failure the pod is
 * already being torn down.
 */
void podvm_pod_incoming_start_async(PodvmPod *self, const char *id, const char *secret,
                                    GPtrArray *disks, gboolean postcopy, gboolean paused,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
JsonNode *podvm_pod_incoming_start_finish(PodvmPod *self, GAsyncResult *result, GError **error);

/* The id of the migration that holds @self (until it finished or failed), or NULL. */
const char *podvm_pod_incoming_get_id(PodvmPod *self);
/* {"id", "pod", "state", "message"}. */
JsonNode *podvm_pod_incoming_status(PodvmPod *self);
/*
 * Whether a stream of @channel ("migration", "nbd:DISK") may be opened
 * with @secret: PERMISSION_DENIED, INVALID_ARGUMENT for an unknown
 * channel, WRONG_PHASE once the migration is past taking streams.
 */
gboolean podvm_pod_incoming_check_stream(PodvmPod *self, const char *secret, const char *channel,
                                         GError **error);
/* Relays @stream to QEMU's socket of @channel (closed when that cannot be). */
void podvm_pod_incoming_take_stream(PodvmPod *self, const char *channel, GIOStream *stream);
/* The source saw "completed": the pod runs here (a queued operation). */
void podvm_pod_incoming_finish_async(PodvmPod *self, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_pod_incoming_finish_finish(PodvmPod *self, GAsyncResult *result, GError **error);
/* Tears the Incoming pod down (in the background); WRONG_PHASE once it runs. */
gboolean podvm_pod_incoming_abort(PodvmPod *self, const char *why, GError **error);

G_END_DECLS
