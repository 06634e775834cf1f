/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source once QEMU completed: wait until the channel
 * delivered QEMU's last bytes, record "completed" durably, ask the target
 * to run the pod (finish), then end this copy (QEMU quits, network and
 * volumes released, the pod deleted here). A target that does not confirm
 * is asked again; one that lost the pod (and runs no pod of this uid) gets
 * it back here; this copy is never resumed while the target may run it.
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-pod-migrate.h"
#include "podvm-pod-net.h"

/* How often an unreachable target is asked again to finish. */
#define FINISH_RETRY_MS 5000
/* How long a completed migration waits for its channel to deliver QEMU's last bytes. */
#define DRAIN_WAIT_MS 10000

/* ---- completed: finish at the target, then go ---------------------------- */

static void finish_at_target(MigJob *job);

static void
migrated_gone(MigJob *job)
{
    PodvmPod *self = job->pod;
    g_autoptr(GError) error = NULL;

    if (!pod_delete_now(self, &error)) {
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': %s", self->spec->name, error->message);
        g_clear_error(&error);
    }
    mig_end(job, g_steal_pointer(&job->result), NULL);
    pod_emit_deleted(self);
}

static void
migrated_network_released_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;

    if (!pod_net_release_finish(PODVM_POD(source), result, &error))
        pod_log(PODVM_POD(source), G_LOG_LEVEL_WARNING, "pod '%s': %s",
                PODVM_POD(source)->spec->name, error->message);
    migrated_gone(pod_op_of(task));
}

/* QEMU quit: release the network and volumes, delete the pod here. */
static void
migrated_qemu_exited(PodvmPod *self, GTask *task)
{
    if (pod_net_is_set_up(self->net)) {
        pod_net_release_async(self, migrated_network_released_cb, g_object_ref(task));
        return;
    }
    migrated_gone(pod_op_of(task));
}

/* The target runs the guest: this copy goes. */
static void
migrated(MigJob *job)
{
    PodvmPod *self = job->pod;
    g_autoptr(JsonObject) details = json_object_new();
    g_autoptr(JsonObject) result = json_object_new();

    g_clear_handle_id(&job->finish_timer, g_source_remove);
    mig_record_phase(job, MIG_PHASE_FINISHING, TRUE);
    json_object_set_string_member(result, "pod", self->spec->name);
    json_object_set_string_member(result, "target", mig_target_url(job));
    json_object_set_string_member(result, "id", job->id);
    json_object_set_int_member(result, "totalMs", job->total_ms);
    json_object_set_int_member(result, "downtimeMs", job->downtime_ms);
    json_object_set_int_member(result, "transferredBytes", (gint64)job->transferred);
    job->result = json_node_init_object(json_node_alloc(), result);
    json_object_set_string_member(details, "target", mig_target_url(job));
    json_object_set_int_member(details, "totalMs", job->total_ms);
    json_object_set_int_member(details, "downtimeMs", job->downtime_ms);
    json_object_set_string_member(details, "migrationId", job->id);
    pod_emit_event(self, "MigrationCompleted", details);
    pod_step(self, "the pod runs at %s now; ending its QEMU here", mig_target_url(job));
    mig_close_relays(job);
    if (self->subprocess == NULL && self->pidfd < 0) {
        migrated_qemu_exited(self, job->task);
        return;
    }
    self->exit_intent = "Migrated";
    self->exit_task = job->task;
    self->exit_continuation = migrated_qemu_exited;
    pod_send_quit(self);
}

static void
resumed_here_cb(MigJob *job, JsonNode *reply, GError *error)
{
    PodvmPod *self = job->pod;
    GError *lost = g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                               _("the target lost the migrated pod; it runs here again"));

    if (error != NULL)
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': cont: %s", self->spec->name, error->message);
    g_clear_pointer(&self->migration_record, json_object_unref);
    pod_set_phase(self,
                  error == NULL && !job->was_paused ? PODVM_PHASE_RUNNING : PODVM_PHASE_PAUSED,
                  "MigrationFailed", lost->message);
    {
        g_autoptr(JsonObject) details = json_object_new();

        json_object_set_string_member(details, "message", lost->message);
        pod_emit_event(self, "MigrationFailed", details);
    }
    mig_end(job, NULL, lost);
}

/* The target does not run the guest (failed, or knows no such migration): it runs here. */
static void
target_lost(MigJob *job)
{
    pod_step(job->pod, "the target does not run the migrated pod; resuming it here");
    if (job->was_paused) {
        resumed_here_cb(job, NULL, NULL);
        return;
    }
    mig_qmp(job, "cont", NULL, NULL, PODVM_QMP_TIMEOUT_HOTPLUG, resumed_here_cb);
}

static void target_unreachable(MigJob *job, const GError *error);

typedef struct {
    char *uid;
    PodvmPeer *peer; /* unowned: the caller keeps it until @done */
    void (*done)(gpointer data, gboolean runs, const GError *error);
    gpointer data;
} AskPod;

static void
ask_pod_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    AskPod *ask = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) pod = podvm_peer_call_finish(ask->peer, result, &error);
    JsonObject *object =
        pod != NULL && JSON_NODE_HOLDS_OBJECT(pod) ? json_node_get_object(pod) : NULL;
    JsonObject *metadata = NULL;
    JsonObject *status = NULL;
    gboolean runs = FALSE;

    if (object != NULL && json_object_has_member(object, "metadata") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(object, "metadata")))
        metadata = json_object_get_object_member(object, "metadata");
    if (object != NULL && json_object_has_member(object, "status") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(object, "status")))
        status = json_object_get_object_member(object, "status");
    if (metadata != NULL && status != NULL &&
        g_strcmp0(json_object_get_string_member_with_default(metadata, "uid", NULL), ask->uid) ==
            0) {
        const char *phase = json_object_get_string_member_with_default(status, "phase", "");

        /* Incoming: it has not run there; anything with a QEMU past that: it has. */
        runs = podvm_phase_name_has_qemu(phase) && !g_str_equal(phase, "Incoming");
    }
    if (g_error_matches(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND))
        g_clear_error(&error); /* no such pod there: an answer */
    ask->done(ask->data, runs, error);
    g_free(ask->uid);
    g_free(ask);
}

void
mig_ask_target_pod(PodvmPod *self, PodvmPeer *peer, GCancellable *cancellable,
                   void (*done)(gpointer data, gboolean runs, const GError *error), gpointer data)
{
    AskPod *ask = g_new0(AskPod, 1);
    g_autofree char *path = g_strdup_printf("/v1/pods/%s", self->spec->name);

    ask->uid = g_strdup(self->spec->uid);
    ask->peer = peer;
    ask->done = done;
    ask->data = data;
    podvm_peer_call_async(peer, "GET", path, NULL, cancellable, ask_pod_cb, ask);
}

static void
target_pod_asked(gpointer data, gboolean runs, const GError *error)
{
    g_autoptr(GTask) task = data;
    MigJob *job = pod_op_of(task);

    if (job->stage == MIG_STAGE_DONE)
        return;
    if (runs)
        migrated(job);
    else if (error != NULL)
        target_unreachable(job, error);
    else
        target_lost(job);
}

static gboolean
finish_retry_cb(gpointer user_data)
{
    MigJob *job = user_data;

    job->finish_timer = 0;
    finish_at_target(job);
    return G_SOURCE_REMOVE;
}

static void
target_unreachable(MigJob *job, const GError *error)
{
    PodvmPod *self = job->pod;
    gint64 waited_ms = (g_get_monotonic_time() - job->completed_us) / 1000;

    if (waited_ms < job->options.no_progress_timeout_ms) {
        if (g_strcmp0(self->reason, "TargetUnreachable") != 0)
            pod_set_phase(self, PODVM_PHASE_MIGRATING, "TargetUnreachable", error->message);
        job->finish_timer = g_timeout_add(FINISH_RETRY_MS, finish_retry_cb, job);
        return;
    }
    /* Resuming here could run the guest twice: it stays paused, and a restart asks again. */
    pod_set_phase(self, PODVM_PHASE_MIGRATING, "TargetUnreachable",
                  _("the migration completed but the target did not confirm it runs the pod; "
                    "it stays paused here and is never resumed (a podvmd restart asks the "
                    "target again; delete it with force once the target runs it)"));
    mig_end(job, NULL,
            g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                        _("the migration completed but the target at %s did not confirm it "
                          "runs the pod within %u ms (%s); the pod stays paused here"),
                        mig_target_url(job), job->options.no_progress_timeout_ms, error->message));
}

static void
status_at_target_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    MigJob *job = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) status = podvm_peer_call_finish(job->peer, result, &error);
    const char *state = NULL;

    if (job->stage == MIG_STAGE_DONE)
        return;
    if (status != NULL && JSON_NODE_HOLDS_OBJECT(status))
        state =
            json_object_get_string_member_with_default(json_node_get_object(status), "state", NULL);
    if (g_strcmp0(state, "running") == 0)
        migrated(job);
    else if (g_strcmp0(state, "failed") == 0 ||
             g_error_matches(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND))
        /* Before resuming here: does a pod of this uid run there (finished, forgotten)? */
        mig_ask_target_pod(job->pod, job->peer, job->cancellable, target_pod_asked,
                           g_object_ref(job->task));
    else if (error != NULL)
        target_unreachable(job, error);
    else {
        /* "completed" still: the finish did not get through; ask again. */
        g_autoptr(GError) pending =
            g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("the target's migration is %s"), state);
        target_unreachable(job, pending);
    }
}

static void
finish_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    MigJob *job = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) status = podvm_peer_call_finish(job->peer, result, &error);
    g_autofree char *path = NULL;

    if (job->stage == MIG_STAGE_DONE)
        return;
    if (status != NULL) {
        migrated(job);
        return;
    }
    pod_log(job->pod, G_LOG_LEVEL_MESSAGE, "pod '%s': finish at the target: %s",
            job->pod->spec->name, error->message);
    path = g_strdup_printf("/v1/migrations/%s", job->id);
    podvm_peer_call_async(job->peer, "GET", path, NULL, job->cancellable, status_at_target_cb,
                          g_steal_pointer(&task));
}

static void
finish_at_target(MigJob *job)
{
    g_autofree char *path = g_strdup_printf("/v1/migrations/%s/finish", job->id);

    podvm_peer_call_async(job->peer, "POST", path, NULL, job->cancellable, finish_cb,
                          g_object_ref(job->task));
}

/* QEMU completed and its channel delivered everything: record it, then finish. */
static void
completed_delivered(MigJob *job)
{
    PodvmPod *self = job->pod;
    g_autoptr(GError) error = NULL;

    job->draining = FALSE;
    g_clear_handle_id(&job->drain_timer, g_source_remove);
    /* Before anything else: a restart must know this QEMU is never to run again. */
    json_object_set_string_member(self->migration_record, "phase", MIG_PHASE_COMPLETED);
    if (!pod_save_required(self, "migrate:completed", &error))
        pod_log(self, G_LOG_LEVEL_WARNING,
                "pod '%s': cannot store that the migration completed: %s", self->spec->name,
                error->message);
    podvm_fault_crash_point("migrate:after-completed");
    pod_step(self,
             "QEMU completed the migration (downtime %" G_GINT64_FORMAT " ms); asking %s "
             "to run the pod",
             job->downtime_ms, mig_target_url(job));
    mig_update_state(job, TRUE);
    mig_release_nbd(job);
    g_clear_object(&job->cancellable);
    job->cancellable = g_cancellable_new();
    finish_at_target(job);
}

static gboolean
drain_timeout_cb(gpointer user_data)
{
    MigJob *job = user_data;

    job->drain_timer = 0;
    pod_log(job->pod, G_LOG_LEVEL_MESSAGE,
            "pod '%s': the migration channel did not close within %u ms after QEMU completed",
            job->pod->spec->name, DRAIN_WAIT_MS);
    completed_delivered(job);
    return G_SOURCE_REMOVE;
}

void
mig_migration_channel_ended(MigJob *job)
{
    if (job->stage == MIG_STAGE_COMPLETED && job->draining)
        completed_delivered(job);
}

void
mig_completed(MigJob *job)
{
    PodvmPod *self = job->pod;

    if (job->stage == MIG_STAGE_COMPLETED || job->stage == MIG_STAGE_DONE)
        return;
    if (job->stage == MIG_STAGE_FAILING) {
        /* It completed while being cancelled: the guest is the target's anyway. */
        pod_step(self, "QEMU completed the migration while it was being undone; finishing it");
        g_clear_error(&job->failure);
    }
    job->stage = MIG_STAGE_COMPLETED;
    job->completed_us = g_get_monotonic_time();
    mig_poll_stop(job);
    if (job->total_ms == 0)
        job->total_ms = (job->completed_us - job->started_us) / 1000;
    /*
     * QEMU's "completed" means it wrote its last bytes to our socketpair:
     * the target has them once the relay delivered them and both ends
     * closed. The crash point after the record is only reached then.
     */
    if (job->relay != NULL && podvm_relay_is_open(job->relay)) {
        job->draining = TRUE;
        job->drain_timer = g_timeout_add(DRAIN_WAIT_MS, drain_timeout_cb, job);
        return;
    }
    completed_delivered(job);
}
