/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What podvm-pod.c shares with the pod's other files (start, lifecycle,
 * QMP, recover, its hotplug operations and podvm-hotplug.c): the object's
 * fields, the operation queue and a few helpers. Nothing else includes
 * this.
 */
#include "podvm-app-channel.h"
#include "podvm-app-rootfs.h"
#include "podvm-console.h"
#include "podvm-hotplug.h"
#include "podvm-pod.h"
#include "podvm-qmp-client.h"
#include "podvm-storage.h"
#include "podvm-store.h"

G_BEGIN_DECLS

/*
 * A log line about the pod: journal fields POD_NAME, POD_UID and POD_PHASE
 * (`journalctl POD_NAME=web`); pod_log_id() adds a MESSAGE_ID of
 * podvm-log.h (a lifecycle message, explained by systemd/podvm.catalog).
 */
#define pod_log(self, level, ...)                                                          \
    g_log_structured(G_LOG_DOMAIN, level, "POD_NAME", (self)->spec->name, "POD_UID",       \
                     pod_log_uid(self), "POD_PHASE", podvm_phase_to_string((self)->phase), \
                     "MESSAGE", __VA_ARGS__)
#define pod_log_id(self, level, message_id, ...)                                    \
    g_log_structured(G_LOG_DOMAIN, level, "MESSAGE_ID", message_id, "POD_NAME",     \
                     (self)->spec->name, "POD_UID", pod_log_uid(self), "POD_PHASE", \
                     podvm_phase_to_string((self)->phase), "MESSAGE", __VA_ARGS__)
#define pod_log_uid(self) ((self)->spec->uid != NULL ? (self)->spec->uid : "")

/*
 * The pod's operations are a protocol: each kind is a PodOpClass (its
 * name and the function that runs it at the head of the queue), and each
 * queued GTask carries its operation as task data, a struct of the
 * operation's own that starts with a PodOp. The queue knows nothing else
 * of them: an operation file (podvm-pod-disks.c, ...) owns its public
 * entry points, makes its task with pod_op_task_new() and queues it with
 * pod_op_enqueue(); it listens to the QMP events it needs on the pod's
 * "qmp-event" signal (detailed by event name).
 */
typedef struct _PodOpClass PodOpClass;

typedef struct {
    const PodOpClass *klass;
} PodOp;

struct _PodOpClass {
    const char *name; /* "start", "attach-disk": for logs */
    /*
     * Runs @task, the current operation of @self (self->current). Every
     * way out ends with pod_op_return() (or leaves the task to the exit
     * of QEMU: self->exit_task).
     */
    void (*run)(PodvmPod *self, GTask *task);
    /* Frees the operation (the task data): a struct starting with PodOp. */
    void (*free)(PodOp *op);
};

/*
 * A task of the pod's queue for @op (a struct starting with PodOp; the
 * task takes it, and frees it with @klass->free). Finished by
 * podvm_pod_run_finish().
 */
GTask *pod_op_task_new(PodvmPod *self, const PodOpClass *klass, PodOp *op,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
/* The operation @task carries. */
#define pod_op_of(task) ((gpointer)g_task_get_task_data(task))
/*
 * Queues @task (taken): it runs at once when nothing is ahead of it (never
 * from another operation's completion), else after those ahead of it.
 * A deleted pod answers NOT_FOUND.
 */
void pod_op_enqueue(PodvmPod *self, GTask *task);
/* Queues @task (taken) to run from an idle, after those ahead of it. */
void pod_op_enqueue_deferred(PodvmPod *self, GTask *task);
/* Runs the next queued operation from an idle, unless one runs. */
void pod_run_next(PodvmPod *self);

/* The lifecycle operations (podvm-pod-lifecycle.c) run by podvm_pod_run_async(). */
typedef struct {
    PodOp parent;
    PodvmPodOp kind;
    PodvmPodOpOptions options;
} PodLifecycleOp;

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
    PodvmVolumePool *pool;        /* claims and dataVolumes; may be NULL */
    PodvmImageStore *image_store; /* containerDisks from registries; may be NULL */
    gint64 pull_event_us;         /* the last "image-pull" event of a containerDisk's pull */
    /* status.volumeStatus: [{name, containerDiskVolume: {image, imageDigest}}], kept from the
     * last start that prepared them */
    JsonArray *volume_status;
    GPtrArray *prepared;     /* of PodvmPreparedVolume*, while a start prepares volumes */
    GCancellable *preparing; /* while the start prepares volumes (kill cancels it) */
    PodvmHotplug *hotplug;   /* placements and removals, while QEMU runs */

    /* app pods (podvm-pod-apps.c): status.apps, the guest's channel; NULL until needed */
    struct _PodApps *apps;

    /* network (podvm-pod-net.c) */
    struct _PodNet *net;   /* its namespace, CNI attachments and DHCP servers */
    GPtrArray *start_nics; /* of PodNetNic*: what a start prepared, until the spawn */

    /*
     * migration (podvm-pod-migrate.c: the source; podvm-pod-incoming.c: the
     * target). The record is stored as runtime.migration ({"role": "source"
     * or "target", "id", "peer", "phase", ...}: what a restarted podvmd
     * decides from, with QEMU's own query-migrate); the state is
     * status.migrationState (progress and the controller's steps).
     */
    JsonObject *migration_record;
    JsonObject *migration_state;
    struct _PodMigrationSource *migration_source; /* the source job while it runs */
    struct _PodIncoming *incoming;                /* the target job while it runs */

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
    gboolean launch_pending;          /* stored before QEMU is spawned, cleared with its pid */
    gboolean deleting;                /* stored before a delete releases anything */
    gboolean start_error_wins;        /* start_error says more than QEMU's stderr */
    gboolean start_error_before_qemu; /* the start failed before QEMU ran: not QEMU's error */
    gboolean adopting;     /* reconciling after a daemon restart: QMP callers and operations wait */
    GQueue qmp_waiting;    /* of QmpWaiter*: passthrough calls waiting for the adoption */
    char *shutdown_reason; /* of the last SHUTDOWN event QEMU sent */
    guint exit_report_timer; /* an adopted QEMU exited: its last events are being read */
    gboolean detached;       /* podvmd is going away: callbacks leave the pod alone */

    /* the QEMU whose balloon was told to poll the guest's statistics (podvm-pod-balloon.c) */
    int balloon_polling_pid;

    /* probes (podvm-pod-probes.c): the runners while Running, and the Ready condition */
    struct _PodProbes *probes;

    /* the guest agent (podvm-pod-agent.c): its channel, what it told, the polls; NULL until
     * needed */
    struct _PodAgent *agent;
};

void pod_save_or_log(PodvmPod *self, PodvmStoreMode mode);
/* The spec changed (already stored): tell the fronts. */
void pod_emit_changed(PodvmPod *self);
void pod_emit_event(PodvmPod *self, const char *type, JsonObject *extra);
/* podvm-pod-log.c: the MESSAGE_ID of a phase change (NULL: none), an event's journal line. */
const char *pod_phase_message_id(PodvmPhase old, PodvmPhase phase);
void pod_log_event(PodvmPod *self, const char *type, JsonObject *details);
/* Logs one step of an operation and publishes it on the event stream. */
void pod_step(PodvmPod *self, const char *format, ...) G_GNUC_PRINTF(2, 3);
/*
 * An operation that fails ends here: an error is also published as the
 * pod's OperationFailed event (an operation refused before it was queued,
 * by podvm_pod_op_check(), is not: its caller had the answer at once).
 */
void pod_op_return(PodvmPod *self, GTask *task, GError *error);
gboolean pod_wrong_phase(PodvmPod *self, GTask *task, const char *what_to_do);
/* WRONG_PHASE: "pod 'NAME' is PHASE; @what_to_do". */
GError *pod_wrong_phase_error(PodvmPod *self, const char *what_to_do);
/*
 * podvm-pod-lifecycle.c: why lifecycle operation @kind cannot run on the pod as it
 * is now (WRONG_PHASE), or NULL: the one place of their phase rules.
 */
GError *pod_op_refusal(PodvmPod *self, PodvmPodOp kind, const PodvmPodOpOptions *options);
/* podvm_qmp_client_execute_async(), timed for the latency histogram. */
void pod_qmp_execute(PodvmQmpClient *qmp, const char *command, JsonObject *arguments,
                     guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data);
/* The storage backends' view of this pod. */
void pod_storage_context(PodvmPod *self, PodvmStorageContext *ctx);
/* The pull of an image by this pod: its "image-pull" events (@user_data: the pod). */
void pod_pull_progress_cb(const PodvmPullProgress *progress, gpointer user_data);
/*
 * A record the next step depends on (the intent to launch QEMU, its pid, a
 * delete): durable, or the step does not happen. @point names it for
 * PODVM_TEST_FAIL_AT.
 */
gboolean pod_save_required(PodvmPod *self, const char *point, GError **error);
/* QEMU was just spawned as self->subprocess: its exit goes to pod_qemu_exited(). */
void pod_watch_subprocess(PodvmPod *self);
/* Drops podvmd's ends of a QEMU (monitor, console, exit watch), never QEMU itself. */
void pod_drop_connections(PodvmPod *self);
/* A QMP command on behalf of the current operation (podvm-pod-qmp.c). */
void pod_qmp_for_task(PodvmPod *self, GTask *task, const char *command, guint timeout_ms,
                      GAsyncReadyCallback callback);
/*
 * podvm-pod-disks.c, for every hotplug: whether QEMU runs (or is paused) with its
 * monitor; otherwise answers @task and returns FALSE.
 */
gboolean pod_hotplug_possible(PodvmPod *self, GTask *task);
/*
 * The answer of podvm_hotplug_remove_async() for the detach @task of @kind
 * ("disk", "interface") @name: TRUE when the guest let go. Otherwise @task
 * is answered (TIMEOUT: the removal stays pending) and FALSE.
 */
gboolean pod_hotplug_removal_answered(PodvmPod *self, GTask *task, GAsyncResult *result,
                                      const char *kind, const char *name);
/*
 * A detach of @kind ("disk", "interface") @name whose device @device_id the
 * guest has not let go of in time (podvm_hotplug_removal_pending()): adds
 * "phase": "Detaching", "reason": "DetachPending" and a "message" to the
 * status entry being built in @b (an object open in it); nothing otherwise.
 * TRUE when it added them.
 */
gboolean pod_hotplug_add_pending_status(PodvmPod *self, JsonBuilder *b, const char *kind,
                                        const char *name, const char *device_id);
/* podvm-pod-disks.c: status.volumeStatus, with the disks whose removal is pending. */
void pod_disks_add_volume_status(PodvmPod *self, JsonBuilder *b);
/* A QMP callback that only logs a failure (debug); @user_data: what was sent (g_free'd). */
void pod_qmp_ignore_reply_cb(GObject *source, GAsyncResult *result, gpointer user_data);
/* podvm-pod-start.c: the start operation (also the second half of a restart). */
void pod_start_op(PodvmPod *self, GTask *task);
/*
 * podvm-pod-start.c: a start from its first step, in @phase (Starting; Incoming
 * for the target of a migration, whose QEMU gets -incoming defer and which
 * ends in pod_incoming_qemu_ready() instead of `cont`). Failures end in
 * pod_start_fail(): QEMU killed, @task answered once it is gone.
 */
void pod_start_begin(PodvmPod *self, GTask *task, PodvmPhase phase);
void pod_start_fail(PodvmPod *self, GTask *task, GError *error);
/* podvm-pod-start.c: raises the running QEMU's RLIMIT_MEMLOCK for a VF plugged in (prlimit). */
void pod_raise_qemu_memlock(PodvmPod *self);
/* podvm-pod-lifecycle.c: a stop that ends with @continuation once QEMU exited. */
void pod_begin_stop(PodvmPod *self, GTask *task, gint64 grace_seconds,
                    ExitContinuation continuation);

/*
 * podvm-pod-migrate.c / podvm-pod-incoming.c, called by podvm_pod_reconcile
 * after a restart for a pod with a migration record, once its QEMU's
 * monitor is connected again (self->qmp) or known gone (self->qmp NULL):
 * decide from the record and query-migrate, then call @done.
 */
void pod_migration_source_recover(PodvmPod *self, GTask *task, void (*done)(PodvmPod *, GTask *));
/*
 * podvm-pod-migrate.c: whether the pod's QEMU migrated away (the source's
 * record is "completed" or "finishing"): it must never run here again, so
 * nothing may `cont` or start it.
 */
gboolean pod_migration_forbids_cont(PodvmPod *self);
void pod_incoming_recover(PodvmPod *self, GTask *task, void (*done)(PodvmPod *, GTask *));
/*
 * podvm-pod-incoming.c, the target's hooks: the start of an Incoming pod
 * has QEMU (paused, monitor connected) and goes on from here; QEMU is
 * gone (from pod_qemu_exited()); whether a restart policy must leave the
 * pod alone (a migration that did not finish tears it down instead); the
 * job freed with the pod.
 */
void pod_incoming_qemu_ready(PodvmPod *self, GTask *task);
void pod_incoming_qemu_gone(PodvmPod *self);
gboolean pod_incoming_blocks_restart(PodvmPod *self);
void pod_incoming_free(struct _PodIncoming *incoming);

/* podvm-pod.c, for the other pod files: the pod's own steps. */
void pod_set_phase(PodvmPod *self, PodvmPhase phase, const char *reason, const char *message);
void pod_maybe_schedule_restart(PodvmPod *self);
void pod_kill_qemu(PodvmPod *self);
void pod_release_volumes(PodvmPod *self);
void pod_connect_qmp(PodvmPod *self, GAsyncReadyCallback callback, gpointer user_data);
/* Whether @pid is still the pod's recorded QEMU (start time and uid checked). */
gboolean pod_process_is_our_qemu(PodvmPod *self, int pid);
/* The end of @path after the last "=== podvmd:" banner, at most @max bytes. */
char *pod_tail_of_file(const char *path, gsize max);
/* QEMU is gone: decide the phase, release what it held, go on. */
void pod_qemu_exited(PodvmPod *self, const char *how);
void pod_emit_deleted(PodvmPod *self);

/* podvm-pod-lifecycle.c: "quit", then SIGKILL after a while. */
void pod_send_quit(PodvmPod *self);
/* podvm-pod-lifecycle.c: a delete's last steps (volumes, files), once no QEMU runs; then
 * pod_emit_deleted(). */
gboolean pod_delete_now(PodvmPod *self, GError **error);
/*
 * podvm-pod-probes.c: the phase just changed (set, not yet stored): probes
 * start when the pod is Running and stop otherwise; the Ready condition
 * follows.
 */
void pod_probes_phase_changed(PodvmPod *self);
/* podvmd is going away: the probes stop, the condition stays. */
void pod_probes_stop(PodvmPod *self);
/* status.conditions (the Ready condition), added to the status object being built. */
void pod_probes_add_conditions(PodvmPod *self, JsonBuilder *builder);
/* The stored status's Ready condition read back (its lastTransitionTime kept). */
void pod_probes_load_status(PodvmPod *self, JsonObject *status);
void pod_probes_free(struct _PodProbes *probes);

/* podvm-pod-qmp.c: the adoption after a restart is over: waiting QMP passthrough calls go on. */
void pod_adoption_done(PodvmPod *self);

/*
 * podvm-pod-apps.c: app pods (podvm_spec_uses_app_guest()). A start
 * prepares the apps (pull, root filesystems, what each runs), then goes on
 * with @done; a failure ends the start (pod_start_fail()). The spawn opens
 * the guest's kernel and initrd, binds the channel's socket and passes the
 * rootfs images (taken: int fds, spec order); after the spawn (and after a
 * podvmd restart) podvmd connects to the channel. status.apps is built,
 * stored and loaded here; once every app has ended, QEMU's exit takes the
 * apps' result as the phase.
 */
typedef struct _PodApps PodApps;
typedef void (*PodAppsDone)(PodvmPod *self, GTask *task);
typedef int (*PodvmListenFunc)(const char *path, GError **error);
void pod_apps_free(PodvmPod *self);
void pod_apps_prepare(PodvmPod *self, GTask *task, PodAppsDone done);
void pod_apps_cancel(PodvmPod *self);
gboolean pod_apps_open_guest(PodvmPod *self, int *out_kernel_fd, int *out_initrd_fd,
                             GError **error);
int pod_apps_listen(PodvmPod *self, PodvmListenFunc listen_func, GError **error);
GArray *pod_apps_take_disk_fds(PodvmPod *self);
const char *pod_apps_socket_path(PodvmPod *self);
gboolean pod_apps_connect(PodvmPod *self, GError **error);
void pod_apps_release(PodvmPod *self);
/* Closes podvmd's end of the channel (podvmd goes away, QEMU is gone); the guest runs on. */
void pod_apps_drop_channel(PodvmPod *self);
gboolean pod_apps_exit_phase(PodvmPod *self, PodvmPhase *out_phase, const char **out_reason,
                             char **out_message);
void pod_apps_add_status(PodvmPod *self, JsonBuilder *builder);
/*
 * What @app runs (Kubernetes' rules: command replaces the image's
 * Entrypoint and drops its Cmd, args replace its Cmd; env: the image's, then
 * the spec's; workingDir: the spec's, the image's, "/"; the image's user).
 * INVALID_SPEC when neither gives a command.
 */
PodvmAppGuestApp *pod_apps_resolve(const PodvmSpecApp *app, const PodvmAppRootfs *rootfs,
                                   const char *disk_serial, GError **error);
void pod_apps_load_status(PodvmPod *self, JsonObject *status);

/*
 * podvm-pod-agent.c: the guest agent of a VM pod (podvm_spec_has_guest_agent()).
 * The spawn binds its channel's socket (RUN_DIR/pods/NAME/qga.sock) and
 * passes it to QEMU; once QEMU runs (and after a podvmd restart) podvmd
 * connects to it; while the pod is Running the agent is polled, which
 * makes status.guestOSInfo, status.fsFreezeStatus, the agent's side of
 * status.interfaces[] and the AgentConnected condition. QEMU gone, the
 * socket goes and what the agent said is forgotten.
 */
typedef struct _PodAgent PodAgent;
typedef void (*PodAgentPowerdown)(PodvmPod *self);
void pod_agent_free(PodvmPod *self);
int pod_agent_listen(PodvmPod *self, PodvmListenFunc listen_func, GError **error);
const char *pod_agent_socket_path(PodvmPod *self);
void pod_agent_connect(PodvmPod *self);
/* Closes podvmd's end (podvmd goes away, QEMU is gone); the guest's agent runs on. */
void pod_agent_drop(PodvmPod *self);
void pod_agent_release(PodvmPod *self);
/* The phase changed (set, not yet stored): the polls run while Running. */
void pod_agent_phase_changed(PodvmPod *self);
/* Polls the agent now (or right after the poll under way). */
void pod_agent_poll(PodvmPod *self);
/* status.guestOSInfo and status.fsFreezeStatus, added to the status object being built. */
void pod_agent_add_status(PodvmPod *self, JsonBuilder *builder);
/* The AgentConnected condition (while connected), added to the conditions array being built. */
void pod_agent_add_condition(PodvmPod *self, JsonBuilder *builder);
/* What the agent reported of the guest's interfaces (PodvmQgaInterface*), or NULL. */
const GPtrArray *pod_agent_interfaces(PodvmPod *self);
/*
 * A graceful stop's first step when the agent is connected: guest-shutdown
 * (mode powerdown). When the agent refuses it or does not answer the sync,
 * or the guest has not begun to power off (no SHUTDOWN event) 10 s after
 * the agent took it, @powerdown runs (the ACPI power-down). FALSE, and
 * nothing sent, when the agent is not connected. The stop's deadline is
 * the caller's.
 */
gboolean pod_agent_stop_guest(PodvmPod *self, PodAgentPowerdown powerdown);

/*
 * podvm-pod-recover.c: ends every QEMU in @pids (from podvm_pod_scan_qemus())
 * that still runs with this pod's uid, except @keep_pid, by pidfd, and
 * waits until they are gone (or a timeout). finish() gives the pids ended
 * ("123, 456") or NULL when there were none.
 */
void pod_end_qemus_async(PodvmPod *self, GArray *pids, int keep_pid, GAsyncReadyCallback callback,
                         gpointer user_data);
char *pod_end_qemus_finish(PodvmPod *self, GAsyncResult *result);

G_END_DECLS
