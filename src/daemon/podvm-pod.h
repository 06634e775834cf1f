/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-config.h"
#include "podvm-image-store.h"
#include "podvm-labels.h"
#include "podvm-phase.h"
#include "podvm-spec.h"
#include "podvm-volume-pool.h"

G_BEGIN_DECLS

/*
 * One pod: its spec, its status and, while it runs, its QEMU process, QMP
 * connection and console. Operations (start, stop, pause, resume, restart,
 * delete) run one at a time in arrival order, like libvirt's job lock;
 * kill does not wait in line. Every change of phase is stored durably
 * before it is announced.
 *
 * Signals:
 *   "changed" ()  phase or status changed (already stored)
 *   "event" (const char *type, JsonObject *details)
 *   "deleted" ()  the pod's files are gone; drop it
 */
#define PODVM_TYPE_POD (podvm_pod_get_type())
G_DECLARE_FINAL_TYPE(PodvmPod, podvm_pod, PODVM, POD, GObject)

/* A new pod from a validated spec with a uid; stores it. */
/*
 * In state_dir/pods, entries with these prefixes are a create that did not
 * finish and a delete's leftovers: podvm_manager_load() removes them.
 */
#define PODVM_POD_NEW_DIR_PREFIX ".new-"
#define PODVM_POD_DELETED_DIR_PREFIX ".deleted-"

PodvmPod *podvm_pod_create(const PodvmConfig *config, const PodvmSpec *spec, GError **error);

/*
 * Loads a stored pod (state_dir/pods/NAME/pod.json) and, when its QEMU
 * should be running, reconnects to it in the background
 * (podvm_pod_reconcile_async) without restarting the guest.
 */
PodvmPod *podvm_pod_load(const PodvmConfig *config, const char *name, GError **error);
/*
 * Every process with "-uuid UID" on its command line that a podvmd of
 * @run_dir started (QEMU's environment says PODVM_RUN_DIR=@run_dir; one
 * without it is counted too: started before podvmd said so), as uid ->
 * GArray of int pids: one pass over /proc for all pods at start-up. The
 * QEMUs of another podvmd on the same machine (a migration's other end
 * has the same uid) are not this one's to end.
 */
GHashTable *podvm_pod_scan_qemus(const char *run_dir);
/*
 * @qemus (from podvm_pod_scan_qemus(), may be NULL): a QEMU with the pod's
 * uid that its record does not name (podvmd died between the spawn and the
 * record) is ended; a pod whose delete was under way is deleted.
 */
void podvm_pod_reconcile_async(PodvmPod *self, GHashTable *qemus, GAsyncReadyCallback callback,
                               gpointer user_data);
gboolean podvm_pod_reconcile_finish(PodvmPod *self, GAsyncResult *result, GError **error);

const char *podvm_pod_get_name(PodvmPod *self);
const char *podvm_pod_get_uid(PodvmPod *self);
PodvmPhase podvm_pod_get_phase(PodvmPod *self);
/* Logs the pod's creation (its MESSAGE_ID, uid): the manager, once it is stored. */
void podvm_pod_log_created(PodvmPod *self);
/* The configuration's live keys changed (a reload): the console's limits follow. */
void podvm_pod_config_changed(PodvmPod *self);
/* Whether a follower of the console log is done (podvm_log_follow_ends with the pod's phase). */
gboolean podvm_pod_log_follow_ends(PodvmPod *self, PodvmLogFollow *follow, gboolean found_new);
const PodvmSpec *podvm_pod_get_spec(PodvmPod *self);
/*
 * Replaces the spec of a pod without QEMU (Pending, Stopped, Succeeded,
 * Failed): WRONG_PHASE while QEMU runs, BUSY while an operation is under
 * way, INVALID_ARGUMENT when @spec names another pod. The uid stays; the
 * new spec is stored durably before "changed" is emitted.
 */
gboolean podvm_pod_replace_spec(PodvmPod *self, const PodvmSpec *spec, GError **error);
int podvm_pod_get_qemu_pid(PodvmPod *self);
/* {phase, reason, message, qemuPid, startedAt, restartCount, conditions} */
JsonNode *podvm_pod_get_status_json(PodvmPod *self);
/*
 * {metadata, spec, status} as podvmctl show prints it, cloud-init data
 * hidden (podvm_spec_to_json_redacted); podvm_pod_to_json_with_secrets()
 * shows it, for a client that asks explicitly.
 */
JsonNode *podvm_pod_to_json(PodvmPod *self);
JsonNode *podvm_pod_to_json_with_secrets(PodvmPod *self);
/* Whether the pod's labels match @selector (podvm-labels.h); a NULL @selector matches every pod. */
gboolean podvm_pod_matches_labels(PodvmPod *self, const PodvmLabelSelector *selector);
/* Paths of the pod's files. */
const char *podvm_pod_get_console_log_path(PodvmPod *self);

/*
 * The lifecycle operations of podvm_pod_run_async(). Other operations
 * (disk hotplug, below) have entry points of their own; all of them wait
 * in the pod's one queue.
 */
typedef enum {
    PODVM_POD_OP_START,
    PODVM_POD_OP_STOP,
    PODVM_POD_OP_PAUSE,
    PODVM_POD_OP_RESUME,
    PODVM_POD_OP_RESTART,
    PODVM_POD_OP_DELETE,
    PODVM_POD_OP_KILL,
} PodvmPodOp;

const char *podvm_pod_op_to_string(PodvmPodOp op);

/* grace_seconds: use the spec's terminationGracePeriodSeconds. */
#define PODVM_POD_GRACE_FROM_SPEC G_MININT64

typedef struct {
    gboolean debug;       /* start: kernel boot messages on the console */
    gint64 grace_seconds; /* stop, restart: 0..86400 as the spec's, or PODVM_POD_GRACE_FROM_SPEC */
    gboolean force;       /* delete: kill a running QEMU first */
} PodvmPodOpOptions;

#define PODVM_POD_OP_OPTIONS_INIT               \
    {                                           \
        FALSE, PODVM_POD_GRACE_FROM_SPEC, FALSE \
    }

/*
 * The one check of operation options, made by podvm_pod_run_async too:
 * INVALID_ARGUMENT for a grace period outside the spec's bound
 * (terminationGracePeriodSeconds, 0..86400). For a front that answers
 * before the operation completes.
 */
gboolean podvm_pod_op_options_check(const PodvmPodOpOptions *options, GError **error);

/*
 * What can be decided now about @op, before it runs: the options
 * (podvm_pod_op_options_check), a deleted pod (NOT_FOUND) and, when no
 * operation is ahead of it in the queue (whose outcome could change the
 * phase), the phase rules the operation applies when it runs, with the
 * same error (WRONG_PHASE: start of a running pod, delete without force
 * of a pod whose QEMU runs, pause of a stopped pod, ...). TRUE: accepted;
 * it may still fail when it runs, and then the pod publishes an
 * "OperationFailed" event {operation, reason, message}.
 * podvm_pod_run_async() makes this check first; a front that answers
 * before the operation completes (REST ?wait=false) makes it itself.
 */
gboolean podvm_pod_op_check(PodvmPod *self, PodvmPodOp op, const PodvmPodOpOptions *options,
                            GError **error);

/*
 * Runs an operation. Completes when the pod reached the operation's
 * phase (start: Running; stop: Stopped; pause: Paused; ...), or with a
 * PODVM_ERROR (WRONG_PHASE when the phase does not allow it).
 */
void podvm_pod_run_async(PodvmPod *self, PodvmPodOp op, const PodvmPodOpOptions *options,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data);
gboolean podvm_pod_run_finish(PodvmPod *self, GAsyncResult *result, GError **error);

/*
 * The storage pool the pod's claims and dataVolumes come from (the
 * manager's). Set before the first start; the pod keeps a reference.
 */
void podvm_pod_set_volume_pool(PodvmPod *self, PodvmVolumePool *pool);
/* The image store containerDisks from registries are pulled into (the manager's); may be NULL. */
void podvm_pod_set_image_store(PodvmPod *self, PodvmImageStore *store);

/*
 * Disk hotplug. Attach, on a pod with QEMU (Running or Paused): prepare
 * the volume, blockdev-add, device_add; on a pod without QEMU: only
 * checks and adds to the spec. Either way the stored spec gains the disk
 * and volume only when everything worked; a failure undoes what was done.
 * EXISTS when the disk or volume name is taken; NOT_SUPPORTED for SATA
 * on a running pod (AHCI has no hotplug); BUSY without a free root port.
 * Detach: device_del, then waits up to [qemu] detach_timeout_ms for the
 * guest to let go (DEVICE_DELETED), then blockdev-del and release; the
 * spec loses the disk. TIMEOUT leaves the disk in place and marked as
 * removal pending: if the guest lets go later, podvmd finishes the detach.
 * Both run in the pod's operation queue; finish with podvm_pod_run_finish().
 */
void podvm_pod_attach_disk_async(PodvmPod *self, const PodvmSpecDisk *disk,
                                 const PodvmSpecVolume *volume, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
void podvm_pod_detach_disk_async(PodvmPod *self, const char *disk_name, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);

/*
 * NIC hotplug, like disks: attach, on a pod with QEMU: the interface's
 * network (CNI ADD, binding, taps), getfd + netdev_add + device_add on a
 * spare root port, announce-self; on a pod without QEMU: only the spec.
 * The stored spec gains the interface and its network only when it all
 * worked. EXISTS when the name is taken. Detach: device_del, waits for the
 * guest (TIMEOUT leaves it pending), netdev_del, CNI DEL; the spec loses
 * both. Finish with podvm_pod_run_finish().
 */
void podvm_pod_attach_interface_async(PodvmPod *self, const PodvmSpecInterface *iface,
                                      const PodvmSpecNetwork *network, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
void podvm_pod_detach_interface_async(PodvmPod *self, const char *iface, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);

/*
 * Expert passthrough: one QMP command ({"execute", "arguments"}), first
 * checked against [qmp] passthrough (podvm-qmp-policy.h): a refused one
 * fails with PERMISSION_DENIED and never reaches QEMU.
 */
void podvm_pod_qmp_async(PodvmPod *self, JsonNode *command, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data);
JsonNode *podvm_pod_qmp_finish(PodvmPod *self, GAsyncResult *result, GError **error);
/*
 * A read-only query the core itself sends (metrics): @command must be
 * named "query-*" and takes no arguments. Not the passthrough, so it works
 * however the passthrough is restricted. Completes with QEMU's "return";
 * WRONG_PHASE when QEMU's monitor is not connected.
 */
void podvm_pod_query_async(PodvmPod *self, const char *command, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
JsonNode *podvm_pod_query_finish(PodvmPod *self, GAsyncResult *result, GError **error);
/* The text of a passthrough command as JSON; INVALID_ARGUMENT when it is not JSON. */
JsonNode *podvm_qmp_command_parse(const char *text, gssize length, GError **error);

/*
 * Per-interface network counters of a pod with QEMU, as the guest sees
 * them: rx is what the guest received, tx what it sent. They are the
 * counters of each interface's tap in the pod's namespace, so only
 * interfaces bound through a tap (masquerade, bridge) have them; slirp,
 * passt and sriov interfaces are left out. Completes with a GPtrArray of
 * PodvmPodNetworkStats*, in the order of the pod's attachments, empty when
 * the pod has no network (or no namespace any more); an error only when
 * the namespace could not be entered. The reading runs in a thread (it
 * joins the namespace): it never blocks the caller's main loop.
 */
typedef struct {
    char *interface; /* the spec's interface name */
    guint64 rx_bytes, rx_packets, tx_bytes, tx_packets;
    guint64 rx_errors, tx_errors, rx_dropped, tx_dropped; /* as the guest sees them, too */
} PodvmPodNetworkStats;

void podvm_pod_network_stats_free(PodvmPodNetworkStats *stats);
void podvm_pod_network_stats_async(PodvmPod *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *podvm_pod_network_stats_finish(PodvmPod *self, GAsyncResult *result, GError **error);

/*
 * The guest's memory as its balloon driver reports it (podvm-pod-balloon.c),
 * KubeVirt's kubevirt_vmi_memory_*: QEMU's query-balloon and the balloon's
 * guest-stats (qom-get). The first call for a QEMU turns on its polling of
 * the guest (guest-stats-polling-interval, PODVM_BALLOON_POLL_SECONDS), so
 * the statistics are -1 until the guest's driver has answered once. An
 * error when the pod has no balloon (app pods, autoattachMemBalloon: false,
 * NOT_SUPPORTED) or QEMU failed.
 */
#define PODVM_BALLOON_POLL_SECONDS 5
typedef enum {
    PODVM_BALLOON_ACTUAL,       /* the guest's memory, the balloon taken out (bytes) */
    PODVM_BALLOON_TOTAL,        /* stat-total-memory (bytes) */
    PODVM_BALLOON_FREE,         /* stat-free-memory (bytes) */
    PODVM_BALLOON_AVAILABLE,    /* stat-available-memory (bytes) */
    PODVM_BALLOON_DISK_CACHES,  /* stat-disk-caches (bytes) */
    PODVM_BALLOON_SWAP_IN,      /* stat-swap-in (bytes, since boot) */
    PODVM_BALLOON_SWAP_OUT,     /* stat-swap-out (bytes, since boot) */
    PODVM_BALLOON_MAJOR_FAULTS, /* stat-major-faults (since boot) */
    PODVM_BALLOON_MINOR_FAULTS, /* stat-minor-faults (since boot) */
    PODVM_BALLOON_N_STATS,
} PodvmBalloonStat;

typedef struct {
    gint64 values[PODVM_BALLOON_N_STATS]; /* -1 when not known */
} PodvmBalloonStats;

/*
 * Whether the pod may be preparing volumes right now (a start, an incoming
 * migration, a disk attach): a containerDisk it unpacks is not recorded in
 * its status yet, so the unpack cache must not be pruned meanwhile.
 */
gboolean podvm_pod_is_preparing_volumes(PodvmPod *self);

void podvm_pod_balloon_stats_async(PodvmPod *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_pod_balloon_stats_finish(PodvmPod *self, GAsyncResult *result,
                                        PodvmBalloonStats *out_stats, GError **error);
/* Parses QEMU's guest-stats object (untrusted) into @stats' statistics (not ACTUAL). */
void podvm_balloon_stats_parse(JsonNode *guest_stats, PodvmBalloonStats *stats);

/*
 * App pods (podvm-pod-apps.c): runs @argv in @app's root (NULL: the first
 * app) through the app guest's channel, like `kubectl exec`. @stdin_stream
 * may be NULL (the command reads end-of-file); @stdout_stream and
 * @stderr_stream may be NULL (output dropped). Completes with the
 * command's exit code (128 + signal when a signal ended it). WRONG_PHASE
 * unless the pod is Running; NOT_SUPPORTED for a pod without the app
 * guest (it has a kernel or disks of its own); NOT_FOUND for an unknown
 * @app; INVALID_ARGUMENT for an empty @argv. Cancelling kills the command.
 * Does not wait in the pod's operation queue.
 */
void podvm_pod_exec_async(PodvmPod *self, const char *app, const char *const *argv,
                          GInputStream *stdin_stream, GOutputStream *stdout_stream,
                          GOutputStream *stderr_stream, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_pod_exec_finish(PodvmPod *self, GAsyncResult *result, int *exit_code,
                               GError **error);

/*
 * The guest agent (podvm-pod-agent.c; README "The guest agent"), as
 * KubeVirt's guestosinfo, freeze and unfreeze subresources. Neither waits
 * in the pod's operation queue. NOT_SUPPORTED for a pod without the
 * agent's channel; WRONG_PHASE unless the pod is Running with its agent
 * connected; the agent's refusal is FAILED, no answer TIMEOUT.
 *
 * guestosinfo: {"guestAgentVersion", "os": status.guestOSInfo (KubeVirt's
 * names), "fsFreezeStatus"}, asked of the agent now.
 */
void podvm_pod_guest_os_info_async(PodvmPod *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
JsonNode *podvm_pod_guest_os_info_finish(PodvmPod *self, GAsyncResult *result, GError **error);
/*
 * guest-fsfreeze-freeze (@freeze) or guest-fsfreeze-thaw, then
 * guest-fsfreeze-status: finish() gives "frozen" or "thawed" (also
 * status.fsFreezeStatus).
 */
void podvm_pod_freeze_async(PodvmPod *self, gboolean freeze, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
char *podvm_pod_freeze_finish(PodvmPod *self, GAsyncResult *result, GError **error);

/*
 * Live migration, the source side (podvm-pod-migrate.c; README "Live
 * migration"). Moves the running or paused pod to @peer: the target
 * prepares an Incoming copy, the source mirrors its non-shared disks into
 * the target's NBD exports, migrates with pause-before-switchover,
 * completes the mirrors at the switchover, asks the target to finish (it
 * conts and announces), then quits its QEMU, releases everything and
 * deletes the pod here ("deleted" is emitted). Progress goes to
 * status.migrationState and "MigrationProgress"/"MigrationStep" events.
 * Any failure or a cancel leaves the pod running here as it was (paused
 * stays paused) and tells the target to tear down; the error says why.
 * WRONG_PHASE unless Running or Paused; BUSY while another migration runs.
 * Runs in the pod's queue; finish with podvm_pod_migrate_finish().
 */
typedef struct {
    guint64 max_bandwidth;        /* bytes/s; 0: [migration] max_bandwidth */
    guint max_downtime_ms;        /* 0: [migration] max_downtime_ms */
    gboolean postcopy;            /* the request allows post-copy (the spec may too) */
    guint no_progress_timeout_ms; /* 0: [migration] no_progress_timeout_ms */
    /* How to reach the peer again after a podvmd restart (stored in the record; no secret). */
    const char *token_file; /* the file holding the peer's token */
    const char *cacert;     /* or NULL */
    gboolean plaintext;     /* http:// allowed */
} PodvmMigrateOptions;

struct _PodvmPeer;
/* @peer is taken. */
void podvm_pod_migrate_async(PodvmPod *self, struct _PodvmPeer *peer,
                             const PodvmMigrateOptions *options, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
/* {"pod", "target", "id", "totalMs", "downtimeMs", "transferredBytes"} */
JsonNode *podvm_pod_migrate_finish(PodvmPod *self, GAsyncResult *result, GError **error);
/* Cancels the pod's outgoing migration; NOT_FOUND when none runs. */
gboolean podvm_pod_cancel_migration(PodvmPod *self, GError **error);
/* Whether a migration (either role) holds the pod. */
gboolean podvm_pod_is_migrating(PodvmPod *self);

/* A console client fd (see PodvmConsole). */
int podvm_pod_open_console(PodvmPod *self, gboolean replay, GError **error);
/* A read-only fd on the console log. */
int podvm_pod_open_log(PodvmPod *self, GError **error);

/* Drops the connections without touching QEMU (daemon shutdown). */
void podvm_pod_detach(PodvmPod *self);

/*
 * At start-up: gives back (in a thread, logged) every VF claimed for a pod
 * that is not among @uids, the uids of the pods podvmd has: a podvmd that
 * died between a claim and storing it leaves such a claim when the pod is
 * deleted meanwhile. A pod's own unrecorded claim is taken again at its next
 * start.
 */
void podvm_pods_release_orphan_vfs(const PodvmConfig *config, const char *const *uids);

/*
 * A number that grows on every change of the pod (every "changed" and
 * "event" signal, bumped before any handler runs): what was derived from
 * the pod at one generation is still right while it stays the same.
 */
guint64 podvm_pod_get_generation(PodvmPod *self);

/* Restarts done by the restart policy. */
guint podvm_pod_get_restart_count(PodvmPod *self);
/* Seconds since the pod last became Running; 0 when it is not Running. */
double podvm_pod_get_running_seconds(PodvmPod *self);

/* The latency of every QMP command the pods sent, as a histogram. */
#define PODVM_QMP_LATENCY_BUCKETS 14
typedef struct {
    const double *bounds;                          /* upper bounds in seconds, ascending */
    guint64 cumulative[PODVM_QMP_LATENCY_BUCKETS]; /* commands that took <= bounds[i] */
    guint64 count;
    double sum_seconds;
} PodvmQmpLatency;

void podvm_pod_get_qmp_latency(PodvmQmpLatency *out);

G_END_DECLS
