/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the source side of a live migration shares between its files:
 * podvm-pod-migrate.c (the operation: record, offer, failure),
 * podvm-pod-migrate-finish.c (completed: finish at the target, the end here),
 * podvm-pod-migrate-qemu.c (QEMU's part: the disks, the mirrors, migrate,
 * the switchover), podvm-pod-migrate-poll.c (the poll feeding the
 * controller, the undoing of QEMU's part) and
 * podvm-pod-migrate-recover.c (a restarted podvmd finishing or undoing it).
 */
#include "migration/podvm-migration-controller.h"
#include "migration/podvm-peer.h"
#include "migration/podvm-relay.h"
#include "podvm-pod-private.h"

G_BEGIN_DECLS

/* Record phases (runtime.migration.phase of a source). */
#define MIG_PHASE_PREPARING "preparing"
#define MIG_PHASE_MIRRORING "mirroring"
#define MIG_PHASE_MIGRATING "migrating"
#define MIG_PHASE_SWITCHOVER "switchover"
#define MIG_PHASE_COMPLETED "completed"
#define MIG_PHASE_FINISHING "finishing"

typedef enum {
    MIG_STAGE_PREPARING,
    MIG_STAGE_MIRRORING,
    MIG_STAGE_MIGRATING,
    MIG_STAGE_SWITCHOVER,
    MIG_STAGE_COMPLETED, /* QEMU completed: the guest is the target's now */
    MIG_STAGE_FAILING,   /* undoing (step 8) */
    MIG_STAGE_DONE,      /* the operation answered */
} MigStage;

/* One disk copied over NBD. */
typedef struct {
    char *name;
    char *node;     /* the disk's top node (the format node) */
    char *nbd_node; /* our NBD client node */
    char *job_id;   /* the mirror's */
    char *fd_name;
    guint64 size;
    gboolean top;      /* sync "top": the target rebuilt the backing chain itself */
    char *export_name; /* the target's */
    PodvmRelay *relay;
    gboolean nbd_added;
    gboolean mirror_started;
    gboolean ready;
    gboolean ended;
    guint64 offset; /* of the mirror job (query-block-jobs) */
} MigDisk;

typedef struct _PodMigrationSource MigJob;

/* The migrate operation, and the source job while it runs (self->migration_source). */
struct _PodMigrationSource {
    PodOp parent;
    PodvmPod *pod; /* unowned: the task holds it */
    GTask *task;   /* unowned: the operation */
    PodvmPeer *peer;
    PodvmMigrateOptions options; /* its strings are token_file and cacert below */
    char *token_file;
    char *cacert;
    gboolean postcopy_allowed;
    MigStage stage;
    MigStage failed_at; /* the stage it failed in */
    gboolean was_paused;
    char *id;
    char *secret;
    GPtrArray *disks;  /* of MigDisk* */
    PodvmRelay *relay; /* the migration channel */
    PodvmMigrationController *controller;
    GCancellable *cancellable; /* of our peer calls and streams; cancelled at the end */
    gulong task_cancelled_id;
    gulong event_id;
    guint poll_timer;
    gboolean polling;                 /* a query-migrate is out */
    gint64 query_unanswered_since_us; /* query-migrate timed out since then (0: answered) */
    gboolean poll_again;              /* an event asked for one meanwhile */
    gboolean migrate_started;
    gboolean postcopy_started;
    gboolean continue_sent;
    gint64 started_us;
    gint64 mirroring_us; /* when the mirrors began: their no-progress clock starts there */
    gint64 last_emit_us;
    gint64 downtime_ms;
    gint64 total_ms;
    guint64 transferred;
    guint next_disk;      /* the mirror being set up */
    gint64 switchover_us; /* when pre-switchover was reached */
    gint64 completed_us;  /* when QEMU completed */
    guint finish_timer;
    guint abort_timer;                /* bounds the wait for the target's DELETE */
    guint drain_timer;                /* bounds the wait for the migration channel to deliver */
    gboolean draining;                /* completed: waiting for the migration channel to close */
    gboolean qemu_running;            /* what query-status said last (undo) */
    JsonNode *result;                 /* the operation's answer once migrated */
    void (*after_disks)(MigJob *job); /* mig_find_disks()'s continuation */
    PodvmMigrationStep pending_step;  /* the controller's step QEMU was asked for */
    struct _MigUndo *undo;            /* while mig_undo_qemu() runs */
    GError *failure;                  /* why it is being undone */
};

/* podvm-pod-migrate.c */
void mig_fail(MigJob *job, GError *error);
/* Answers the operation with @result or @error (one of them, taken). */
void mig_end(MigJob *job, JsonNode *result, GError *error);
void mig_close_relays(MigJob *job);
const char *mig_target_url(MigJob *job);

/* The record's phase (stored: atomic, or durable when @durable). */
void mig_record_phase(MigJob *job, const char *phase, gboolean durable);
/* status.migrationState from the controller, + phase, target, id; events at most 2/s. */
void mig_update_state(MigJob *job, gboolean force);
void mig_emit_step(MigJob *job, PodvmMigrationStep step, const char *reason, const char *error);
/* Whether the job goes on (neither failing nor done): the callbacks' guard. */
gboolean mig_live(MigJob *job);

/* podvm-pod-migrate-finish.c */
void mig_completed(MigJob *job);
/* The migration channel's relay ended (after "completed": everything was delivered). */
void mig_migration_channel_ended(MigJob *job);

/* podvm-pod-migrate-qemu.c */
typedef void (*MigReply)(MigJob *job, JsonNode *reply, GError *error);
/* A QMP command for the job (@fds sent with it); @next runs unless the job is done. */
void mig_qmp(MigJob *job, const char *command, JsonObject *arguments, GUnixFDList *fds,
             guint timeout_ms, MigReply next);
/* The disks to copy, from the spec and query-named-block-nodes; then @next. */
void mig_find_disks(MigJob *job, void (*next)(MigJob *job));
void mig_start_mirrors(MigJob *job);
void mig_start_migrate(MigJob *job);
void mig_handle_event(MigJob *job, const char *name, JsonObject *data);
/* pre-switchover: the mirrors complete (point in time), then migrate-continue. */
void mig_switchover(MigJob *job);
gboolean mig_all_mirrors_ready(MigJob *job);
gboolean mig_all_mirrors_ended(MigJob *job);
/* A QMP error of a step, as the job's failure: "WHAT: QEMU's words". */
GError *mig_step_error(const GError *error, const char *what);
/* A MigReply that only logs a failure. */
void mig_ignore_reply(MigJob *job, JsonNode *reply, GError *error);

/* podvm-pod-migrate-poll.c */
void mig_poll_start(MigJob *job);
void mig_poll_stop(MigJob *job);
/* Step 8's QEMU part: migrate-cancel, mirrors force-cancelled, NBD nodes deleted; then @next. */
void mig_undo_qemu(MigJob *job, void (*next)(MigJob *job));
void mig_disk_free(MigDisk *disk);
/* Completed: the NBD client nodes go and their connections close (the target stops its server). */
void mig_release_nbd(MigJob *job);

/*
 * GET /v1/pods/NAME at the target: @runs when a pod of this uid runs (or is
 * paused) there; @error when the target could not be asked (not for "no such pod").
 */
void mig_ask_target_pod(PodvmPod *self, PodvmPeer *peer, GCancellable *cancellable,
                        void (*done)(gpointer data, gboolean runs, const GError *error),
                        gpointer data);
/* A peer for the record's target (its [peer] or the stored token file), for a restart. */
PodvmPeer *mig_peer_from_record(PodvmPod *self, GError **error);
/* The token in @path (one line of visible ASCII); errors never show the file. */
char *mig_read_token(const char *path, GError **error);

G_END_DECLS
