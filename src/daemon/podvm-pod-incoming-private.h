/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the files of a migration's target share (podvm-pod-incoming.c: the
 * job, its start, streams and teardown; podvm-pod-incoming-finish.c: the
 * finish and the recovery after a restart; podvm-pod-incoming-qmp.c: QMP
 * scripts and the links). Nothing else includes this.
 */
#include "podvm-pod-incoming.h"
#include "podvm-pod-private.h"
#include "migration/podvm-relay.h"

G_BEGIN_DECLS

/* The qdata key of a finished migration's id (the status says "running" after that). */
#define FINISHED_ID_KEY "podvm-incoming-finished-id"

typedef struct _PodIncoming PodIncoming;

typedef struct {
    PodIncoming *incoming; /* unowned; NULL once it is gone */
    PodvmRelay *relay;
    char *channel;
} IncomingRelay;

struct _PodIncoming {
    PodvmPod *pod; /* unowned: the pod owns this */
    char *id;
    char *secret;
    PodvmIncomingState state;
    char *message;
    GPtrArray *disks; /* of PodvmMigrationDisk*, export_name set */
    gboolean postcopy;
    gboolean paused;          /* the source's guest was paused: finish does not cont it */
    char *nbd_socket;         /* QEMU's NBD server listens there (on podvmd's socket) */
    gboolean migration_taken; /* the migration stream came (one only) */
    GPtrArray *relays;        /* of IncomingRelay* */
    guint progress_timer;
    gint64 last_progress_us;
    guint64 last_bytes;
    gulong event_handler;
    gboolean checking;     /* a query-migrate after a relay ended is under way */
    GTask *finish_waiting; /* the finish, asked for before this QEMU completed */
};

/* podvm-pod-incoming.c */
PodIncoming *pod_incoming_new(PodvmPod *self, const char *id, const char *secret);
/* Stops watching: timers, events, relays. */
void pod_incoming_quiesce(PodIncoming *in);
void pod_incoming_set_state(PodvmPod *self, PodvmIncomingState state, const char *message);
void pod_incoming_record_set_phase(PodvmPod *self, const char *phase);
void pod_incoming_emit_migration_event(PodvmPod *self, const char *type, const char *message);
/* Everything goes, as if the pod never came (a forced delete, queued). Idempotent. */
void pod_incoming_teardown(PodvmPod *self, const char *why);
/* The block export's id of a copied disk. */
char *pod_incoming_export_id_of(const char *disk);

/* podvm-pod-incoming-finish.c: the finish operation @task, once completed. */
void pod_incoming_finish_now(PodvmPod *self, GTask *task);

/* podvm-pod-incoming-qmp.c: QMP commands one after the other. */
typedef void (*ScriptDone)(PodvmPod *self, GError *error, gpointer data);
typedef struct _Script Script;
Script *pod_incoming_script_new(PodvmPod *self);
/* Adds @command; @arguments is taken. @may_fail: a failure is logged, the script goes on. */
void pod_incoming_script_add(Script *script, const char *command, JsonObject *arguments,
                             gboolean may_fail);
/* Adds getfd @name with @fd (taken). */
void pod_incoming_script_add_getfd(Script *script, const char *name, int fd);
/* Runs it; @done gets the first error (taken) or NULL. */
void pod_incoming_script_run(Script *script, ScriptDone done, gpointer data);
/* Frees a script that was never run. */
void pod_incoming_script_free(Script *script);
/* The pod's taps up or down (in its namespace). */
void pod_incoming_set_links_async(PodvmPod *self, gboolean up, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean pod_incoming_set_links_finish(PodvmPod *self, GAsyncResult *result, GError **error);

G_END_DECLS
