/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What podvm-pod.c shares with podvm-pod-disks.c (disk hotplug): the
 * object's fields and a few helpers. Nothing outside src/daemon/podvm-pod*.c
 * includes this.
 */
#include "podvm-console.h"
#include "podvm-pod.h"
#include "podvm-qmp-client.h"
#include "podvm-storage.h"
#include "podvm-store.h"

G_BEGIN_DECLS

#define pod_log(self, level, ...) \
    g_log_structured(G_LOG_DOMAIN, level, "PODVM_POD", (self)->spec->name, "MESSAGE", __VA_ARGS__)

typedef struct {
    PodvmPodOp op;
    PodvmPodOpOptions options;
    /* attach-disk / detach-disk */
    PodvmSpecDisk *disk;
    PodvmSpecVolume *volume;
    char *disk_name;
    /* attach: what is done so far, undone in reverse on failure */
    PodvmPreparedVolume *prepared;
    gboolean protocol_node_added;
    gboolean format_node_added;
    int port;                 /* root port taken for the device, or -1 */
    int lun;                  /* SCSI LUN taken, or -1 */
    guint timeout_id;         /* detach: waiting for DEVICE_DELETED */
    gboolean device_gone;     /* detach: DEVICE_DELETED arrived */
    gboolean device_del_done; /* detach: QEMU answered device_del */
} OpData;

void pod_op_data_free(OpData *data);

/*
 * Where a disk sits in the running QEMU, kept in the state file so a
 * detach after a daemon restart finds it: the spare root port a hotplugged
 * virtio disk (or the hotplugged SCSI controller) took, and the LUN of a
 * SCSI disk. Keyed by disk name; the controller by POD_SCSI_CONTROLLER_KEY.
 */
typedef struct {
    int port; /* index of podvm-rpN, or -1 */
    int lun;  /* or -1 */
} DiskPlacement;

/* Not a DNS-1123 label, so never a disk name. */
#define POD_SCSI_CONTROLLER_KEY ":scsi-controller"

/* What to do once QEMU has exited, for the operation that waits for it. */
typedef void (*ExitContinuation)(PodvmPod *self, GTask *task);

struct _PodvmPod {
    GObject parent_instance;

    const PodvmConfig *config; /* unowned: outlives every pod */
    PodvmSpec *spec;           /* with uid */
    char *state_dir;
    char *state_file;
    char *run_dir;
    char *qmp_path;
    char *console_path;
    char *console_log;
    char *qemu_log;

    /* status */
    PodvmPhase phase;
    char *reason;
    char *message;
    GDateTime *started_at;
    guint restart_count;
    int qemu_pid;
    guint64 qemu_start_ticks; /* /proc/PID/stat field 22, against pid reuse */

    /* the running QEMU */
    GSubprocess *subprocess; /* when it is our child */
    int pidfd;               /* when adopted after a daemon restart */
    guint pidfd_watch;
    PodvmQmpClient *qmp;
    PodvmConsole *console;
    gboolean guest_shutdown;
    const char *exit_intent; /* "Stopped" or "Killed" when we asked for the exit */
    GError *start_error;
    gint64 running_since_us;

    /* storage */
    PodvmVolumePool *pool;       /* claims and dataVolumes; may be NULL */
    GPtrArray *prepared;         /* of PodvmPreparedVolume*, while a start prepares volumes */
    GCancellable *preparing;     /* while the start prepares volumes (kill cancels it) */
    GHashTable *placements;      /* disk name -> DiskPlacement*, while QEMU runs */
    GHashTable *pending_removal; /* disk names whose device_del timed out -> NULL */

    /* operations */
    GQueue queue; /* of GTask*, waiting */
    GTask *current;
    GTask *exit_task; /* the operation waiting for QEMU to exit */
    ExitContinuation exit_continuation;
    GPtrArray *kill_waiters; /* of GTask* */
    guint grace_timer;
    guint quit_timer;
    guint backoff_timer;
    guint backoff_ms;
    gboolean deleted;
    guint64 generation; /* see podvm_pod_get_generation() */

    /* crash consistency (podvm-pod-recover.c) */
    gboolean launch_pending;   /* stored before QEMU is spawned, cleared with its pid */
    gboolean deleting;         /* stored before a delete releases anything */
    gboolean start_error_wins; /* start_error says more than QEMU's stderr */
    gboolean adopting;         /* reconciling after a daemon restart: QMP callers wait */
    GQueue qmp_waiting;        /* of QmpWaiter*: passthrough calls waiting for the adoption */
    char *shutdown_reason;     /* of the last SHUTDOWN event QEMU sent */
    guint exit_report_timer;   /* an adopted QEMU exited: its last events are being read */
    gboolean detached;         /* podvmd is going away: callbacks leave the pod alone */
};

void pod_save_or_log(PodvmPod *self, PodvmStoreMode mode);
/* The spec changed (already stored): tell the fronts. */
void pod_emit_changed(PodvmPod *self);
void pod_emit_event(PodvmPod *self, const char *type, JsonObject *extra);
/* Logs one step of an operation and publishes it on the event stream. */
void pod_step(PodvmPod *self, const char *format, ...) G_GNUC_PRINTF(2, 3);
void pod_op_return(PodvmPod *self, GTask *task, GError *error);
gboolean pod_wrong_phase(PodvmPod *self, GTask *task, const char *what_to_do);
/* podvm_qmp_client_execute_async(), timed for the latency histogram. */
void pod_qmp_execute(PodvmQmpClient *qmp, const char *command, JsonObject *arguments,
                     guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data);
/* The storage backends' view of this pod. */
void pod_storage_context(PodvmPod *self, PodvmStorageContext *ctx);
/* Placements as stored: {"disk": {"port": N, "lun": N}, ...} */
JsonObject *pod_placements_to_json(PodvmPod *self);
void pod_placements_from_json(PodvmPod *self, JsonObject *object);
void pod_placement_set(PodvmPod *self, const char *key, int port, int lun);
/* Lowest spare root port / SCSI LUN not taken, or -1. */
int pod_free_root_port(PodvmPod *self);
int pod_free_scsi_lun(PodvmPod *self);

/* podvm-pod.c, for podvm-pod-recover.c: the pod's own steps. */
void pod_set_phase(PodvmPod *self, PodvmPhase phase, const char *reason, const char *message);
void pod_maybe_schedule_restart(PodvmPod *self);
void pod_kill_qemu(PodvmPod *self);
void pod_send_quit(PodvmPod *self);
void pod_release_volumes(PodvmPod *self);
void pod_connect_qmp(PodvmPod *self, GAsyncReadyCallback callback, gpointer user_data);
/* Whether @pid is still the pod's recorded QEMU (start time and uid checked). */
gboolean pod_process_is_our_qemu(PodvmPod *self, int pid);
/* The end of @path after the last "=== podvmd:" banner, at most @max bytes. */
char *pod_tail_of_file(const char *path, gsize max);
/* QEMU is gone: decide the phase, release what it held, go on. */
void pod_qemu_exited(PodvmPod *self, const char *how);
/* A delete's last steps (volumes, files), once no QEMU runs; then pod_emit_deleted(). */
gboolean pod_delete_now(PodvmPod *self, GError **error);
void pod_emit_deleted(PodvmPod *self);
/* The adoption after a restart is over: waiting QMP passthrough calls go on. */
void pod_adoption_done(PodvmPod *self);

/*
 * podvm-pod-recover.c: ends every QEMU in @pids (from podvm_pod_scan_qemus())
 * that still runs with this pod's uid, except @keep_pid, by pidfd, and
 * waits until they are gone (or a timeout). finish() gives the pids ended
 * ("123, 456") or NULL when there were none.
 */
void pod_end_qemus_async(PodvmPod *self, GArray *pids, int keep_pid, GAsyncReadyCallback callback,
                         gpointer user_data);
char *pod_end_qemus_finish(PodvmPod *self, GAsyncResult *result);

/* podvm-pod-disks.c: the attach/detach operations, run from the queue. */
void pod_attach_disk_op(PodvmPod *self, GTask *task);
void pod_detach_disk_op(PodvmPod *self, GTask *task);
/* A DEVICE_DELETED for a disk whose detach timed out: finish it. */
void pod_disk_device_deleted(PodvmPod *self, const char *device_id);

G_END_DECLS
