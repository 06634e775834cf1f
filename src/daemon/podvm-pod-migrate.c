/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source side (README "Live migration"): an operation
 * of the pod's queue that moves the running or paused pod to another
 * podvmd. This file holds its frame: the durable record
 * (runtime.migration), the offer to the target and the undoing of a
 * failure or a cancel, which leaves the pod running here as it was. QEMU's
 * part is in podvm-pod-migrate-qemu.c and -poll.c, the end once QEMU
 * completed in podvm-pod-migrate-finish.c.
 *
 * Never two copies: once QEMU says "completed" the record says so
 * durably before anything else, and from then on this QEMU is never
 * resumed unless the target says it does not run the guest.
 */
#include <gio/gunixfdlist.h>
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-pod-migrate.h"
#include "podvm-pod-net.h"

/* How long a failed migration waits for the target to take its DELETE (best effort). */
#define ABORT_WAIT_MS 5000
/* Events and status.migrationState at most this often while it runs. */
#define STATE_INTERVAL_US (500 * 1000)

static const char *const stage_names[] = {
    [MIG_STAGE_PREPARING] = "preparing", [MIG_STAGE_MIRRORING] = "mirroring",
    [MIG_STAGE_MIGRATING] = "migrating", [MIG_STAGE_SWITCHOVER] = "switchover",
    [MIG_STAGE_COMPLETED] = "completed", [MIG_STAGE_FAILING] = "failing",
    [MIG_STAGE_DONE] = "done",
};

static void
job_free(PodOp *op)
{
    MigJob *job = (MigJob *)op;

    g_clear_handle_id(&job->finish_timer, g_source_remove);
    g_clear_pointer(&job->relay, podvm_relay_free);
    g_clear_pointer(&job->disks, g_ptr_array_unref);
    g_clear_pointer(&job->peer, podvm_peer_free);
    g_clear_pointer(&job->controller, podvm_migration_controller_free);
    g_clear_object(&job->cancellable);
    g_clear_error(&job->failure);
    g_clear_pointer(&job->result, json_node_unref);
    g_clear_handle_id(&job->abort_timer, g_source_remove);
    g_clear_handle_id(&job->drain_timer, g_source_remove);
    g_free(job->id);
    if (job->secret != NULL)
        explicit_bzero(job->secret, strlen(job->secret));
    g_free(job->secret);
    g_free(job->token_file);
    g_free(job->cacert);
    g_free(job);
}

gboolean
mig_live(MigJob *job)
{
    return job->stage < MIG_STAGE_COMPLETED;
}

const char *
mig_target_url(MigJob *job)
{
    return podvm_peer_get_url(job->peer);
}

/* ---- record and state ---------------------------------------------------- */

void
mig_record_phase(MigJob *job, const char *phase, gboolean durable)
{
    PodvmPod *self = job->pod;

    if (self->migration_record == NULL)
        return;
    json_object_set_string_member(self->migration_record, "phase", phase);
    if (job->id != NULL)
        json_object_set_string_member(self->migration_record, "id", job->id);
    pod_save_or_log(self, durable ? PODVM_STORE_DURABLE : PODVM_STORE_ATOMIC);
}

void
mig_update_state(MigJob *job, gboolean force)
{
    PodvmPod *self = job->pod;
    gint64 now = g_get_monotonic_time();
    g_autoptr(JsonObject) state = NULL;
    guint64 disk_bytes = 0;

    if (!force && now - job->last_emit_us < STATE_INTERVAL_US)
        return;
    job->last_emit_us = now;
    state = podvm_migration_controller_to_json(job->controller);
    json_object_set_string_member(state, "phase", stage_names[job->stage]);
    json_object_set_string_member(state, "target", mig_target_url(job));
    if (job->id != NULL)
        json_object_set_string_member(state, "id", job->id);
    for (guint i = 0; job->disks != NULL && i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);

        disk_bytes += disk->relay != NULL ? podvm_relay_bytes_a_to_b(disk->relay) : 0;
    }
    json_object_set_int_member(state, "diskTransferredBytes", (gint64)disk_bytes);
    json_object_set_int_member(state, "disks", job->disks != NULL ? job->disks->len : 0);
    if (job->failure != NULL)
        json_object_set_string_member(state, "message", job->failure->message);
    g_clear_pointer(&self->migration_state, json_object_unref);
    self->migration_state = json_object_ref(state);
    pod_emit_changed(self);
    if (job->stage == MIG_STAGE_MIRRORING || job->stage == MIG_STAGE_MIGRATING) {
        /* The state's "id" goes as migrationId: "id" is the event's own (podvm_event_new). */
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), state);
        g_autoptr(JsonNode) copy = json_node_copy(node);
        JsonObject *details = json_node_get_object(copy);

        if (job->id != NULL)
            json_object_set_string_member(details, "migrationId", job->id);
        pod_emit_event(self, "MigrationProgress", details);
    }
}

void
mig_emit_step(MigJob *job, PodvmMigrationStep step, const char *reason, const char *error)
{
    g_autoptr(JsonObject) details = json_object_new();

    json_object_set_string_member(details, "step", podvm_migration_step_to_string(step));
    if (reason != NULL)
        json_object_set_string_member(details, "reason", reason);
    if (error != NULL)
        json_object_set_string_member(details, "error", error);
    pod_step(job->pod, "migration step %s%s%s%s%s", podvm_migration_step_to_string(step),
             reason != NULL ? ": " : "", reason != NULL ? reason : "",
             error != NULL ? "; it failed: " : "", error != NULL ? error : "");
    pod_emit_event(job->pod, "MigrationStep", details);
    mig_update_state(job, TRUE);
}

/* ---- the end of the operation -------------------------------------------- */

void
mig_close_relays(MigJob *job)
{
    if (job->relay != NULL)
        podvm_relay_close(job->relay);
    for (guint i = 0; job->disks != NULL && i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);

        if (disk->relay != NULL)
            podvm_relay_close(disk->relay);
    }
}

void
mig_end(MigJob *job, JsonNode *result, GError *error)
{
    PodvmPod *self = job->pod;
    GTask *task = job->task;
    GCancellable *cancellable = g_task_get_cancellable(task);

    job->stage = MIG_STAGE_DONE;
    mig_poll_stop(job);
    g_clear_handle_id(&job->finish_timer, g_source_remove);
    g_clear_signal_handler(&job->event_id, self);
    if (job->task_cancelled_id != 0 && cancellable != NULL)
        g_cancellable_disconnect(cancellable, job->task_cancelled_id);
    job->task_cancelled_id = 0;
    if (job->cancellable != NULL)
        g_cancellable_cancel(job->cancellable);
    mig_close_relays(job);
    if (self->migration_source == job)
        self->migration_source = NULL;
    g_assert(self->current == task);
    self->current = NULL;
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, result, (GDestroyNotify)json_node_unref);
    g_object_unref(task);
    pod_run_next(self);
}

/* A post-copy that failed: the pod is Failed, with why (its QEMU was killed). */
static void
postcopy_failed_exited(PodvmPod *self, GTask *task)
{
    const char *why = g_object_get_data(G_OBJECT(self), "podvm-postcopy-failure");
    g_autofree char *message =
        g_strdup_printf(_("post-copy migration failed after the switch (%s): the guest's memory "
                          "was split between the hosts, so this copy was ended"),
                        why != NULL ? why : "");

    pod_set_phase(self, PODVM_PHASE_FAILED, "MigrationFailed", message);
    g_object_set_data(G_OBJECT(self), "podvm-postcopy-failure", NULL);
    pod_maybe_schedule_restart(self);
}

/* After a failure: the pod runs here as it did (or stays Failed when QEMU went). */
static void
failure_done(MigJob *job)
{
    PodvmPod *self = job->pod;
    GError *error = g_steal_pointer(&job->failure);
    g_autoptr(JsonObject) details = json_object_new();

    g_clear_pointer(&self->migration_record, json_object_unref);
    if (job->failed_at == MIG_STAGE_PREPARING) {
        /* Refused before anything moved: the pod is as it was (the reason says why). */
        g_clear_pointer(&self->migration_state, json_object_unref);
    } else if (self->migration_state != NULL) {
        /* What moved and the controller's steps stay for `podvmctl show`. */
        json_object_set_string_member(self->migration_state, "phase", "failed");
        json_object_set_string_member(self->migration_state, "message", error->message);
    }
    if (job->postcopy_started && self->phase == PODVM_PHASE_MIGRATING) {
        /* The guest's memory is split between the hosts: neither half can run alone. */
        g_object_set_data_full(G_OBJECT(self), "podvm-postcopy-failure", g_strdup(error->message),
                               g_free);
        self->exit_continuation = postcopy_failed_exited;
        self->exit_task = NULL;
        pod_kill_qemu(self);
    } else if (self->phase == PODVM_PHASE_MIGRATING) {
        pod_set_phase(self, job->qemu_running ? PODVM_PHASE_RUNNING : PODVM_PHASE_PAUSED,
                      "MigrationFailed", error->message);
    } else {
        /* QEMU went meanwhile: its phase says so; the record is gone. */
        pod_save_or_log(self, PODVM_STORE_DURABLE);
        pod_emit_changed(self);
    }
    json_object_set_string_member(details, "message", error->message);
    json_object_set_string_member(details, "target", mig_target_url(job));
    pod_emit_event(self, "MigrationFailed", details);
    mig_end(job, NULL, error);
}

static gboolean
abort_wait_over_cb(gpointer user_data)
{
    MigJob *job = user_data;

    /* An unreachable target tears its copy down by itself (no progress). */
    job->abort_timer = 0;
    g_cancellable_cancel(job->cancellable);
    return G_SOURCE_REMOVE;
}

static void
abort_at_target_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    MigJob *job = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer = podvm_peer_call_finish(job->peer, result, &error);

    g_clear_handle_id(&job->abort_timer, g_source_remove);
    if (error != NULL)
        pod_log(job->pod, G_LOG_LEVEL_MESSAGE,
                "pod '%s': the target could not be told to drop the migration: %s",
                job->pod->spec->name, error->message);
    failure_done(job);
}

/* How long a failed migration waits for the target to acknowledge its DELETE. */
#define MIG_ABORT_AT_TARGET_TIMEOUT_MS 5000

static gboolean
cancel_cb(gpointer user_data)
{
    g_cancellable_cancel(user_data);
    return G_SOURCE_REMOVE;
}

/* QEMU's part is undone: tell the target (best effort), then say how it ended. */
static void
undone(MigJob *job)
{
    g_autofree char *path = NULL;

    if (job->stage == MIG_STAGE_COMPLETED || job->stage == MIG_STAGE_DONE)
        return; /* QEMU completed while it was cancelled: mig_completed() took over */
    mig_close_relays(job);
    if (job->id == NULL) {
        failure_done(job);
        return;
    }
    g_clear_object(&job->cancellable);
    job->cancellable = g_cancellable_new();
    /*
     * Best effort, and bounded: an unreachable target (the link cut) would
     * keep the pod Migrating for the peer's whole call timeout (30 s) after
     * its QEMU was already back. The target tears its copy down by itself.
     */
    g_timeout_add_full(G_PRIORITY_DEFAULT, MIG_ABORT_AT_TARGET_TIMEOUT_MS, cancel_cb,
                       g_object_ref(job->cancellable), g_object_unref);
    path = g_strdup_printf("/v1/migrations/%s", job->id);
    job->abort_timer = g_timeout_add(ABORT_WAIT_MS, abort_wait_over_cb, job);
    podvm_peer_call_async(job->peer, "DELETE", path, NULL, job->cancellable, abort_at_target_cb,
                          g_object_ref(job->task));
}

void
mig_fail(MigJob *job, GError *error)
{
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING) {
        pod_log(job->pod, G_LOG_LEVEL_DEBUG, "pod '%s': migration: %s (after the fact)",
                job->pod->spec->name, error->message);
        g_error_free(error);
        return;
    }
    if (job->pod->detached) {
        /* podvmd is going away: the record stays, the restart decides (recovery). */
        mig_end(job, NULL, error);
        return;
    }
    job->failure = error;
    job->failed_at = job->stage;
    job->stage = MIG_STAGE_FAILING;
    pod_step(job->pod, "migration to %s failed: %s; undoing it", mig_target_url(job),
             error->message);
    mig_poll_stop(job);
    g_cancellable_cancel(job->cancellable);
    /*
     * The channels go first: QEMU's NBD requests and migration writes that
     * wait on a dead link fail at once, so the mirrors and the migration
     * can end (with write-blocking mirrors, the guest's writes wait too).
     */
    mig_close_relays(job);
    mig_update_state(job, TRUE);
    mig_undo_qemu(job, undone);
}

/* ---- the offer ------------------------------------------------------------- */

static void
offer_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    MigJob *job = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = podvm_peer_call_finish(job->peer, result, &error);
    g_autoptr(PodvmMigrationAnswer) answer = NULL;
    g_autofree char *text = NULL;

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (node == NULL) {
        g_prefix_error(&error, _("the offer to the target failed: "));
        mig_fail(job, g_steal_pointer(&error));
        return;
    }
    text = json_to_string(node, FALSE);
    answer = podvm_migration_answer_parse(text, -1, &error);
    if (answer == NULL) {
        g_prefix_error(&error, _("the target's answer: "));
        mig_fail(job, g_steal_pointer(&error));
        return;
    }
    job->id = g_strdup(answer->id);
    job->secret = g_strdup(answer->secret);
    for (guint i = 0; i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);
        const PodvmMigrationDisk *given = NULL;

        for (guint j = 0; j < answer->disks->len && given == NULL; j++) {
            const PodvmMigrationDisk *candidate = g_ptr_array_index(answer->disks, j);

            if (g_str_equal(candidate->name, disk->name))
                given = candidate;
        }
        if (given == NULL || given->export_name == NULL) {
            mig_fail(job,
                     g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                 _("the target gave no NBD export for disk '%s'"), disk->name));
            return;
        }
        disk->export_name = g_strdup(given->export_name);
    }
    pod_step(job->pod, "the target %s prepared migration %s", mig_target_url(job), job->id);
    job->stage = MIG_STAGE_MIRRORING;
    job->mirroring_us = g_get_monotonic_time();
    mig_record_phase(job, MIG_PHASE_MIRRORING, TRUE);
    podvm_fault_crash_point("migrate:after-offer");
    mig_update_state(job, TRUE);
    mig_start_mirrors(job);
}

/* The MAC of each interface, as the pod's status shows it. */
static GHashTable *
interface_macs(PodvmPod *self)
{
    GHashTable *macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(JsonNode) status = podvm_pod_get_status_json(self);
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(status) ? json_node_get_object(status) : NULL;
    JsonArray *interfaces = NULL;

    if (object != NULL && json_object_has_member(object, "interfaces") &&
        JSON_NODE_HOLDS_ARRAY(json_object_get_member(object, "interfaces")))
        interfaces = json_object_get_array_member(object, "interfaces");
    for (guint i = 0; interfaces != NULL && i < json_array_get_length(interfaces); i++) {
        JsonObject *iface = json_array_get_object_element(interfaces, i);
        const char *name =
            iface ? json_object_get_string_member_with_default(iface, "name", NULL) : NULL;
        const char *mac =
            iface ? json_object_get_string_member_with_default(iface, "mac", NULL) : NULL;

        if (name != NULL && mac != NULL)
            g_hash_table_insert(macs, g_strdup(name), g_strdup(mac));
    }
    return macs;
}

static void
offer(MigJob *job)
{
    PodvmPod *self = job->pod;
    g_autoptr(PodvmMigrationOffer) offer = g_new0(PodvmMigrationOffer, 1);
    g_autoptr(JsonNode) body = NULL;

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    offer->pod = podvm_pod_to_json_with_secrets(self);
    offer->disks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_migration_disk_free);
    for (guint i = 0; i < job->disks->len; i++) {
        const MigDisk *disk = g_ptr_array_index(job->disks, i);
        PodvmMigrationDisk *offered = g_new0(PodvmMigrationDisk, 1);

        offered->name = g_strdup(disk->name);
        offered->size = disk->size;
        g_ptr_array_add(offer->disks, offered);
    }
    offer->macs = interface_macs(self);
    offer->postcopy = job->postcopy_allowed;
    offer->paused = job->was_paused;
    body = podvm_migration_offer_to_json(offer);
    pod_step(self, "offering the pod to %s (%u disk%s to copy)", mig_target_url(job),
             job->disks->len, job->disks->len == 1 ? "" : "s");
    podvm_peer_call_async(job->peer, "POST", "/v1/migrations", body, job->cancellable, offer_cb,
                          g_object_ref(job->task));
}

/* ---- the operation --------------------------------------------------------- */

static void
qmp_event_cb(PodvmPod *self, const char *name, JsonObject *data, gpointer user_data)
{
    MigJob *job = user_data;

    if (job->stage != MIG_STAGE_DONE)
        mig_handle_event(job, name, data);
}

static gboolean
cancel_idle_cb(gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    MigJob *job = pod_op_of(task);

    if (mig_live(job) && job->stage != MIG_STAGE_FAILING)
        mig_fail(job,
                 g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("the migration was cancelled")));
    return G_SOURCE_REMOVE;
}

static void
task_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    MigJob *job = user_data;

    /* Not from inside the signal: the undoing disconnects this handler. */
    g_idle_add(cancel_idle_cb, g_object_ref(job->task));
}

static JsonObject *
new_record(MigJob *job)
{
    JsonObject *record = json_object_new();

    json_object_set_string_member(record, "role", "source");
    json_object_set_null_member(record, "id");
    json_object_set_string_member(record, "peer", mig_target_url(job));
    json_object_set_string_member(record, "phase", MIG_PHASE_PREPARING);
    json_object_set_boolean_member(record, "wasPaused", job->was_paused);
    if (job->token_file != NULL)
        json_object_set_string_member(record, "tokenFile", job->token_file);
    if (job->cacert != NULL)
        json_object_set_string_member(record, "cacert", job->cacert);
    json_object_set_boolean_member(record, "plaintext", job->options.plaintext);
    return record;
}

static void
migrate_run(PodvmPod *self, GTask *task)
{
    MigJob *job = pod_op_of(task);
    const PodvmConfig *config = self->config;
    PodvmMigrationPolicy policy = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) started = json_object_new();
    GCancellable *cancellable = g_task_get_cancellable(task);

    if (self->phase != PODVM_PHASE_RUNNING && self->phase != PODVM_PHASE_PAUSED) {
        pod_wrong_phase(self, task, _("only a running or paused pod can be migrated"));
        return;
    }
    if (self->migration_source != NULL || self->incoming != NULL ||
        self->migration_record != NULL) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_BUSY, _("pod '%s' is already migrating"),
                                  self->spec->name));
        return;
    }
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                                  _("pod '%s': QEMU's monitor is not connected"),
                                  self->spec->name));
        return;
    }
    job->pod = self;
    job->task = task;
    job->was_paused = self->phase == PODVM_PHASE_PAUSED;
    job->qemu_running = !job->was_paused;
    job->started_us = g_get_monotonic_time();
    job->cancellable = g_cancellable_new();
    job->disks = g_ptr_array_new_with_free_func((GDestroyNotify)mig_disk_free);
    if (job->options.max_bandwidth == 0)
        job->options.max_bandwidth = config->migration_max_bandwidth;
    if (job->options.max_downtime_ms == 0)
        job->options.max_downtime_ms = config->migration_max_downtime_ms;
    if (job->options.no_progress_timeout_ms == 0)
        job->options.no_progress_timeout_ms = config->migration_no_progress_timeout_ms;
    job->postcopy_allowed = job->options.postcopy || config->migration_allow_postcopy;
    policy.max_bandwidth = job->options.max_bandwidth;
    policy.initial_downtime_ms =
        MIN(config->migration_initial_downtime_ms, job->options.max_downtime_ms);
    policy.max_downtime_ms = job->options.max_downtime_ms;
    policy.stall_passes = config->migration_stall_passes;
    policy.no_progress_timeout_ms = job->options.no_progress_timeout_ms;
    policy.auto_converge = config->migration_auto_converge;
    policy.postcopy_allowed = job->postcopy_allowed;
    job->controller = podvm_migration_controller_new(&policy);

    self->migration_record = new_record(job);
    if (!pod_save_required(self, "migrate:record", &error)) {
        g_clear_pointer(&self->migration_record, json_object_unref);
        g_prefix_error(&error, _("cannot record the migration: "));
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    self->migration_source = job;
    job->event_id = g_signal_connect(self, "qmp-event", G_CALLBACK(qmp_event_cb), job);
    if (cancellable != NULL)
        job->task_cancelled_id =
            g_cancellable_connect(cancellable, G_CALLBACK(task_cancelled_cb), job, NULL);
    pod_set_phase(self, PODVM_PHASE_MIGRATING, "Migrating", NULL);
    json_object_set_string_member(started, "target", mig_target_url(job));
    if (job->id != NULL)
        json_object_set_string_member(started, "migrationId", job->id);
    pod_emit_event(self, "MigrationStarted", started);
    mig_update_state(job, TRUE);
    mig_find_disks(job, offer);
}

static const PodOpClass migrate_class = { "migrate", migrate_run, job_free };

void
podvm_pod_migrate_async(PodvmPod *self, struct _PodvmPeer *peer, const PodvmMigrateOptions *options,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    MigJob *job = g_new0(MigJob, 1);
    GTask *task;

    job->peer = peer;
    if (options != NULL) {
        job->options = *options;
        job->token_file = g_strdup(options->token_file);
        job->cacert = g_strdup(options->cacert);
    }
    job->options.token_file = job->token_file;
    job->options.cacert = job->cacert;
    task = pod_op_task_new(self, &migrate_class, &job->parent, cancellable, callback, user_data);
    /* Its answer counts once it completed, whatever the caller's cancellable says. */
    g_task_set_check_cancellable(task, FALSE);
    if (peer == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("no target to migrate pod '%s' to"), self->spec->name);
        g_object_unref(task);
        return;
    }
    if (podvm_pod_is_migrating(self)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_BUSY,
                                _("pod '%s' is already migrating"), self->spec->name);
        g_object_unref(task);
        return;
    }
    pod_op_enqueue(self, task);
}

JsonNode *
podvm_pod_migrate_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
podvm_pod_cancel_migration(PodvmPod *self, GError **error)
{
    MigJob *job = self->migration_source;

    if (job == NULL || job->stage == MIG_STAGE_DONE) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("pod '%s' has no outgoing migration"), self->spec->name);
        return FALSE;
    }
    if (job->stage == MIG_STAGE_COMPLETED) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("the migration of pod '%s' completed: the target takes over"),
                    self->spec->name);
        return FALSE;
    }
    if (job->stage != MIG_STAGE_FAILING)
        mig_fail(job,
                 g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("the migration was cancelled")));
    return TRUE;
}

gboolean
podvm_pod_is_migrating(PodvmPod *self)
{
    return self->migration_source != NULL || self->incoming != NULL ||
           self->migration_record != NULL;
}

gboolean
pod_migration_forbids_cont(PodvmPod *self)
{
    const char *role;
    const char *phase;

    if (self->migration_record == NULL)
        return FALSE;
    role = json_object_get_string_member_with_default(self->migration_record, "role", NULL);
    phase = json_object_get_string_member_with_default(self->migration_record, "phase", NULL);
    return g_strcmp0(role, "source") == 0 && (g_strcmp0(phase, MIG_PHASE_COMPLETED) == 0 ||
                                              g_strcmp0(phase, MIG_PHASE_FINISHING) == 0);
}
