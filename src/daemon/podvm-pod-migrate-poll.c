/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source while QEMU migrates: the poll of
 * query-migrate (every 250 ms, and at once on MIGRATION and
 * MIGRATION_PASS events) that feeds the convergence controller and applies
 * its steps, notices pre-switchover, completed and failed; and the
 * undoing of QEMU's part when the migration fails or is cancelled
 * (migrate_cancel, the mirrors force-cancelled, the NBD nodes deleted, the
 * guest resumed when the migration paused it).
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-qmp-client.h"
#include "podvm-pod-migrate.h"

#define POLL_INTERVAL_MS 250
/* How long the undoing waits for QEMU to let go of the migration and the mirrors. */
#define UNDO_WAIT_US (10 * G_USEC_PER_SEC)

/* ---- the poll ---------------------------------------------------------------- */

static guint64
member_uint(JsonObject *object, const char *name)
{
    gint64 value = object != NULL ? json_object_get_int_member_with_default(object, name, 0) : 0;

    return value > 0 ? (guint64)value : 0;
}

static guint64
disk_bytes(MigJob *job)
{
    guint64 bytes = 0;

    for (guint i = 0; job->disks != NULL && i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);

        bytes += disk->relay != NULL ? podvm_relay_bytes_a_to_b(disk->relay) : 0;
    }
    return bytes;
}

static void step_taken_cb(MigJob *job, JsonNode *reply, GError *error);

static void
apply_step(MigJob *job, PodvmMigrationStep step, const char *reason)
{
    g_autoptr(JsonObject) parameters = NULL;

    switch (step) {
    case PODVM_MIGRATION_STEP_NONE:
        return;
    case PODVM_MIGRATION_STEP_CANCEL:
        mig_emit_step(job, step, reason, NULL);
        mig_fail(job, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                  _("the migration was cancelled: %s"), reason));
        return;
    case PODVM_MIGRATION_STEP_POSTCOPY:
        job->pending_step = step;
        mig_qmp(job, "migrate-start-postcopy", NULL, NULL, PODVM_QMP_TIMEOUT_DEFAULT,
                step_taken_cb);
        return;
    case PODVM_MIGRATION_STEP_AUTO_CONVERGE:
    case PODVM_MIGRATION_STEP_RAISE_DOWNTIME:
        parameters = podvm_migration_controller_parameters(job->controller, step);
        job->pending_step = step;
        mig_qmp(job, "migrate-set-parameters", parameters, NULL, PODVM_QMP_TIMEOUT_DEFAULT,
                step_taken_cb);
        return;
    }
}

static void
step_taken_cb(MigJob *job, JsonNode *reply, GError *error)
{
    PodvmMigrationStep step = job->pending_step;

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        podvm_migration_controller_step_failed(job->controller, step, g_get_monotonic_time(),
                                               error->message);
        mig_emit_step(job, step, NULL, error->message);
        return;
    }
    podvm_migration_controller_step_taken(job->controller, step, g_get_monotonic_time());
    if (step == PODVM_MIGRATION_STEP_POSTCOPY)
        job->postcopy_started = TRUE;
    mig_emit_step(job, step, NULL, NULL);
}

static void poll_now(MigJob *job);

static void
migrate_status_cb(MigJob *job, JsonNode *reply, GError *error)
{
    JsonObject *info =
        reply != NULL && JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    JsonObject *ram = NULL;
    PodvmMigrationSample sample = { 0 };
    const char *status;
    const char *reason = NULL;
    PodvmMigrationStep step;

    job->polling = FALSE;
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL && g_error_matches(error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_TIMEOUT)) {
        gint64 now = g_get_monotonic_time();

        /*
         * QEMU holds its monitor through the stop-and-copy, which lasts up to
         * the downtime limit the controller may have raised to seconds: no
         * answer yet is no failure. The next poll asks again; a QEMU that
         * never answers fails after the no-progress timeout.
         */
        if (job->query_unanswered_since_us == 0)
            job->query_unanswered_since_us = now;
        if (job->options.no_progress_timeout_ms == 0 ||
            now - job->query_unanswered_since_us <
                (gint64)job->options.no_progress_timeout_ms * 1000) {
            pod_log(job->pod, G_LOG_LEVEL_DEBUG,
                    "pod '%s': query-migrate unanswered (QEMU busy); asking again",
                    job->pod->spec->name);
            return;
        }
    }
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "query-migrate"));
        return;
    }
    job->query_unanswered_since_us = 0;
    status =
        info != NULL ? json_object_get_string_member_with_default(info, "status", "none") : "none";
    if (info != NULL && json_object_has_member(info, "ram") &&
        JSON_NODE_HOLDS_OBJECT(json_object_get_member(info, "ram")))
        ram = json_object_get_object_member(info, "ram");
    sample.now_us = g_get_monotonic_time();
    sample.transferred = member_uint(ram, "transferred") + disk_bytes(job);
    sample.remaining = member_uint(ram, "remaining");
    sample.total = member_uint(ram, "total");
    sample.dirty_sync_count = member_uint(ram, "dirty-sync-count");
    sample.dirty_pages_rate = member_uint(ram, "dirty-pages-rate");
    sample.page_size = member_uint(ram, "page-size");
    sample.mbps_x1000 =
        ram != NULL ? (guint64)(json_object_get_double_member_with_default(ram, "mbps", 0) * 1000)
                    : 0;
    sample.downtime_ms = info != NULL && json_object_has_member(info, "downtime")
                             ? json_object_get_int_member(info, "downtime")
                             : -1;
    sample.expected_downtime_ms = info != NULL && json_object_has_member(info, "expected-downtime")
                                      ? json_object_get_int_member(info, "expected-downtime")
                                      : -1;
    sample.status = status;
    job->transferred = sample.transferred;
    step = podvm_migration_controller_feed(job->controller, &sample, &reason);

    if (g_str_equal(status, "completed")) {
        job->downtime_ms = sample.downtime_ms >= 0 ? sample.downtime_ms : 0;
        job->total_ms =
            info != NULL ? json_object_get_int_member_with_default(info, "total-time", 0) : 0;
        mig_completed(job);
        return;
    }
    if (g_str_equal(status, "failed") || g_str_equal(status, "cancelled")) {
        const char *desc =
            info != NULL ? json_object_get_string_member_with_default(info, "error-desc", NULL)
                         : NULL;
        mig_fail(job, g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU, _("QEMU's migration %s: %s"),
                                  status, desc != NULL ? desc : _("no reason given")));
        return;
    }
    if (g_str_equal(status, "postcopy-active"))
        job->postcopy_started = TRUE;
    if (g_str_equal(status, "pre-switchover")) {
        mig_switchover(job);
        return;
    }
    if (job->stage == MIG_STAGE_SWITCHOVER && job->switchover_us != 0 &&
        sample.now_us - job->switchover_us > (gint64)job->options.no_progress_timeout_ms * 1000) {
        mig_fail(job, g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                                  _("the switchover did not end within %u ms"),
                                  job->options.no_progress_timeout_ms));
        return;
    }
    mig_update_state(job, FALSE);
    if (job->stage == MIG_STAGE_MIGRATING)
        apply_step(job, step, reason);
    if (job->poll_again) {
        job->poll_again = FALSE;
        poll_now(job);
    }
}

/* While the disks are mirrored: the relays must move bytes until every mirror is ready. */
static void
mirror_poll(MigJob *job)
{
    gint64 now = g_get_monotonic_time();
    /* Not from the start of the migration: the target's preparation may have taken long. */
    gint64 last = job->mirroring_us;

    for (guint i = 0; i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);

        if (disk->relay != NULL)
            last = MAX(last, podvm_relay_last_progress_us(disk->relay));
    }
    if (!mig_all_mirrors_ready(job) &&
        now - last > (gint64)job->options.no_progress_timeout_ms * 1000) {
        mig_fail(job, g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                                  _("no disk data reached the target for %u ms"),
                                  job->options.no_progress_timeout_ms));
        return;
    }
    mig_update_state(job, FALSE);
}

static void
poll_now(MigJob *job)
{
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (job->stage == MIG_STAGE_MIRRORING) {
        mirror_poll(job);
        return;
    }
    if (!job->migrate_started)
        return;
    if (job->polling) {
        job->poll_again = TRUE;
        return;
    }
    job->polling = TRUE;
    mig_qmp(job, "query-migrate", NULL, NULL, PODVM_QMP_TIMEOUT_QUERY, migrate_status_cb);
}

static gboolean
poll_cb(gpointer user_data)
{
    MigJob *job = user_data;

    poll_now(job);
    return G_SOURCE_CONTINUE;
}

void
mig_poll_start(MigJob *job)
{
    if (job->poll_timer == 0)
        job->poll_timer = g_timeout_add(POLL_INTERVAL_MS, poll_cb, job);
    poll_now(job);
}

void
mig_poll_stop(MigJob *job)
{
    g_clear_handle_id(&job->poll_timer, g_source_remove);
}

/* ---- undoing (step 8) ------------------------------------------------------- */

typedef struct _MigUndo {
    GTask *task;
    void (*next)(MigJob *job);
    gint64 deadline_us;
    guint timer;
} Undo;

static void undo_mirrors(MigJob *job);

static void
undo_finish(MigJob *job)
{
    Undo *undo = job->undo;
    void (*next)(MigJob * job) = undo->next;

    job->undo = NULL;
    g_clear_handle_id(&undo->timer, g_source_remove);
    g_object_unref(undo->task);
    g_free(undo);
    next(job);
}

static gboolean
undo_finish_idle_cb(gpointer user_data)
{
    MigJob *job = user_data;

    job->undo->timer = 0;
    undo_finish(job);
    return G_SOURCE_REMOVE;
}

static void
undo_status_cb(MigJob *job, JsonNode *reply, GError *error)
{
    JsonObject *info =
        reply != NULL && JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    const char *status =
        info != NULL ? json_object_get_string_member_with_default(info, "status", "") : "";

    /* "paused", "postmigrate", "finish-migrate": QEMU did not start it again by itself. */
    job->qemu_running = g_str_equal(status, "running");
    if (error == NULL && !job->qemu_running && !job->was_paused && !job->postcopy_started &&
        !g_str_equal(status, "shutdown") && !g_str_equal(status, "internal-error") &&
        !g_str_equal(status, "guest-panicked")) {
        pod_step(job->pod, "resuming the guest, paused for the migration (QEMU status %s)", status);
        job->qemu_running = TRUE;
        mig_qmp(job, "cont", NULL, NULL, PODVM_QMP_TIMEOUT_HOTPLUG, mig_ignore_reply);
    }
    undo_finish(job);
}

static void
undo_nodes(MigJob *job)
{
    for (guint i = 0; i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);
        g_autoptr(JsonObject) arguments = json_object_new();

        if (!disk->nbd_added)
            continue;
        json_object_set_string_member(arguments, "node-name", disk->nbd_node);
        mig_qmp(job, "blockdev-del", arguments, NULL, PODVM_QMP_TIMEOUT_HOTPLUG, mig_ignore_reply);
        disk->nbd_added = FALSE;
    }
    mig_qmp(job, "query-status", NULL, NULL, PODVM_QMP_TIMEOUT_QUERY, undo_status_cb);
}

static gboolean
undo_mirrors_again_cb(gpointer user_data)
{
    MigJob *job = user_data;

    job->undo->timer = 0;
    undo_mirrors(job);
    return G_SOURCE_REMOVE;
}

static void
undo_mirrors(MigJob *job)
{
    if (!mig_all_mirrors_ended(job) && g_get_monotonic_time() < job->undo->deadline_us) {
        job->undo->timer = g_timeout_add(50, undo_mirrors_again_cb, job);
        return;
    }
    undo_nodes(job);
}

static void undo_migration_cb(MigJob *job, JsonNode *reply, GError *error);

static gboolean
undo_migration_again_cb(gpointer user_data)
{
    MigJob *job = user_data;

    job->undo->timer = 0;
    mig_qmp(job, "query-migrate", NULL, NULL, PODVM_QMP_TIMEOUT_QUERY, undo_migration_cb);
    return G_SOURCE_REMOVE;
}

/* Waits until QEMU's migration is over; cancels the mirrors then. */
static void
undo_migration_cb(MigJob *job, JsonNode *reply, GError *error)
{
    JsonObject *info =
        reply != NULL && JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    const char *status =
        info != NULL ? json_object_get_string_member_with_default(info, "status", "none") : "none";

    if (error == NULL && g_str_equal(status, "completed")) {
        /* Too late to cancel: the target has the guest. */
        Undo *undo = job->undo;

        job->undo = NULL;
        g_clear_handle_id(&undo->timer, g_source_remove);
        g_object_unref(undo->task);
        g_free(undo);
        job->downtime_ms = json_object_get_int_member_with_default(info, "downtime", 0);
        job->total_ms = json_object_get_int_member_with_default(info, "total-time", 0);
        mig_completed(job);
        return;
    }
    if (error == NULL && !g_str_equal(status, "failed") && !g_str_equal(status, "cancelled") &&
        !g_str_equal(status, "none") && g_get_monotonic_time() < job->undo->deadline_us) {
        job->undo->timer = g_timeout_add(50, undo_migration_again_cb, job);
        return;
    }
    for (guint i = 0; i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);
        g_autoptr(JsonObject) arguments = json_object_new();

        if (!disk->mirror_started || disk->ended)
            continue;
        json_object_set_string_member(arguments, "device", disk->job_id);
        json_object_set_boolean_member(arguments, "force", TRUE);
        mig_qmp(job, "block-job-cancel", arguments, NULL, PODVM_QMP_TIMEOUT_BLOCKJOB,
                mig_ignore_reply);
    }
    undo_mirrors(job);
}

static void
undo_cancel_cb(MigJob *job, JsonNode *reply, GError *error)
{
    mig_ignore_reply(job, reply, error);
    mig_qmp(job, "query-migrate", NULL, NULL, PODVM_QMP_TIMEOUT_QUERY, undo_migration_cb);
}

void
mig_undo_qemu(MigJob *job, void (*next)(MigJob *job))
{
    Undo *undo = g_new0(Undo, 1);

    g_assert(job->undo == NULL);
    undo->task = g_object_ref(job->task);
    undo->next = next;
    undo->deadline_us = g_get_monotonic_time() + UNDO_WAIT_US;
    job->undo = undo;
    if (job->pod->qmp == NULL || !podvm_qmp_client_is_connected(job->pod->qmp)) {
        job->qemu_running = FALSE;
        undo->timer = g_idle_add(undo_finish_idle_cb, job);
        return;
    }
    if (job->migrate_started) {
        mig_qmp(job, "migrate_cancel", NULL, NULL, PODVM_QMP_TIMEOUT_DEFAULT, undo_cancel_cb);
        return;
    }
    undo_migration_cb(job, NULL, NULL);
}
