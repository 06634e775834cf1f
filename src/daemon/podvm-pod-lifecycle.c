/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod's lifecycle operations, podvm_pod_run_async(): start (in
 * podvm-pod-start.c), stop and restart (ACPI power-down, a grace period,
 * then quit, then SIGKILL), pause and resume, delete, and kill, which
 * does not wait in line.
 */
#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"
#include "podvm-store.h"

/* -- stop, kill, restart, delete -- */

static gboolean
quit_timeout_cb(gpointer user_data)
{
    PodvmPod *self = user_data;

    self->quit_timer = 0;
    pod_step(self, "QEMU did not quit within %u ms; sending SIGKILL",
             self->config->stop_quit_timeout_ms);
    pod_kill_qemu(self);
    return G_SOURCE_REMOVE;
}

static void
quit_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    /* A closed socket is the expected answer to quit; the exit is what counts. */
    if (reply == NULL && !g_error_matches(error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED))
        g_debug("quit: %s", error->message);
}

void
pod_send_quit(PodvmPod *self)
{
    pod_step(self, "asking QEMU to quit");
    if (self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp))
        pod_qmp_execute(self->qmp, "quit", NULL, PODVM_QMP_TIMEOUT_DEFAULT, NULL, quit_cb, NULL);
    g_clear_handle_id(&self->quit_timer, g_source_remove);
    self->quit_timer = g_timeout_add(self->config->stop_quit_timeout_ms, quit_timeout_cb, self);
}

static gboolean
grace_timeout_cb(gpointer user_data)
{
    PodvmPod *self = user_data;

    self->grace_timer = 0;
    pod_step(self, "the guest did not power off within the grace period");
    pod_send_quit(self);
    return G_SOURCE_REMOVE;
}

static void
powerdown_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (reply == NULL)
        g_debug("system_powerdown: %s", error->message);
}

/* The ACPI power button. */
static void
send_powerdown(PodvmPod *self)
{
    if (self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp))
        pod_qmp_execute(self->qmp, "system_powerdown", NULL, PODVM_QMP_TIMEOUT_DEFAULT, NULL,
                        powerdown_cb, NULL);
}

/* Stops QEMU the graceful way and calls @continuation once it has exited. */
void
pod_begin_stop(PodvmPod *self, GTask *task, gint64 grace_seconds, ExitContinuation continuation)
{
    PodvmPhase was = self->phase;

    if (grace_seconds == PODVM_POD_GRACE_FROM_SPEC)
        grace_seconds = self->spec->termination_grace_period_seconds;
    self->exit_intent = "Stopped";
    self->exit_task = task;
    self->exit_continuation = continuation;
    pod_set_phase(self, PODVM_PHASE_STOPPING, NULL, NULL);

    if (was == PODVM_PHASE_PAUSED) {
        /* A paused guest cannot handle ACPI: there is nothing to wait for. */
        pod_step(self, "the guest is paused; skipping ACPI power-down");
        pod_send_quit(self);
    } else if (grace_seconds == 0) {
        pod_send_quit(self);
    } else if (pod_agent_stop_guest(self, send_powerdown)) {
        /* The agent first, as libvirt's and KubeVirt's graceful shutdown; ACPI if it fails. */
        pod_step(self,
                 "asked the guest agent to shut the guest down (guest-shutdown); waiting up to "
                 "%" G_GINT64_FORMAT " s for the guest",
                 grace_seconds);
        self->grace_timer = g_timeout_add((guint)grace_seconds * 1000, grace_timeout_cb, self);
    } else {
        pod_step(self, "sent ACPI power-down; waiting up to %" G_GINT64_FORMAT " s for the guest",
                 grace_seconds);
        send_powerdown(self);
        /* Not g_timeout_add_seconds(): it rounds, and may end the grace period early. */
        self->grace_timer = g_timeout_add((guint)grace_seconds * 1000, grace_timeout_cb, self);
    }
}

static void
stop_done(PodvmPod *self, GTask *task)
{
    pod_op_return(self, task, NULL);
}

static void
restart_stopped(PodvmPod *self, GTask *task)
{
    pod_start_op(self, task);
}

/*
 * The last steps of a delete, once no QEMU runs: give back the volumes,
 * then take the state directory out of the pod namespace in one rename
 * and remove it. The pod was marked deleting before: a crash on the way
 * makes the next podvmd finish the job.
 */
gboolean
pod_delete_now(PodvmPod *self, GError **error)
{
    g_autofree char *pods_dir = g_path_get_dirname(self->state_dir);
    g_autofree char *trash = NULL;
    PodvmStorageContext ctx;

    g_clear_handle_id(&self->backoff_timer, g_source_remove);
    pod_storage_context(self, &ctx);
    for (guint i = 0; i < self->spec->volumes->len; i++)
        podvm_storage_delete(&ctx, g_ptr_array_index(self->spec->volumes, i));
    podvm_fault_crash_point("delete:after-release");
    trash = g_strdup_printf("%s/" PODVM_POD_DELETED_DIR_PREFIX "%s-%s", pods_dir, self->spec->name,
                            self->spec->uid);
    if (g_rename(self->state_dir, trash) != 0 && errno != ENOENT) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot remove '%s': %s"),
                    self->state_dir, g_strerror(saved));
        return FALSE;
    }
    /* Left-overs of either are removed at the next start-up. */
    if (!podvm_store_remove_tree(self->run_dir, error) || !podvm_store_remove_tree(trash, error))
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': %s", self->spec->name, (*error)->message);
    g_clear_error(error);
    self->deleted = TRUE;
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': deleted", self->spec->name);
    return TRUE;
}

static void delete_files_now(PodvmPod *self, GTask *task);

static void
delete_network_released_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    g_autoptr(GError) error = NULL;

    /* What could not be released is in the log; the pod goes anyway. */
    if (!pod_net_release_finish(self, result, &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': %s", self->spec->name, error->message);
    delete_files_now(self, task);
}

static void
delete_files(PodvmPod *self, GTask *task)
{
    /* The network first (CNI DEL gives back IPAM leases, the namespace is a mount in run_dir). */
    if (pod_net_is_set_up(self->net)) {
        pod_net_release_async(self, delete_network_released_cb, g_object_ref(task));
        return;
    }
    delete_files_now(self, task);
}

static void
delete_files_now(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;

    if (!pod_delete_now(self, &error)) {
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    pod_op_return(self, task, NULL);
    pod_emit_deleted(self);
}

/* -- the lifecycle operations (podvm_pod_run_async) -- */

static void
lifecycle_op_free(PodOp *op)
{
    g_free(op);
}

static void
delete_strays_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    g_autofree char *ended = pod_end_qemus_finish(self, result);

    delete_files(self, task);
}

/* Delete, once marked: QEMU goes first (ours, or any other with the pod's uid). */
static void
delete_op(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) qemus = NULL;

    self->deleting = TRUE;
    if (!pod_save_required(self, "delete:mark", &error)) {
        self->deleting = FALSE;
        g_prefix_error(&error, _("cannot mark it for deletion: "));
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    podvm_fault_crash_point("delete:after-mark");
    if (podvm_phase_has_qemu(self->phase) && (self->subprocess != NULL || self->pidfd >= 0)) {
        self->exit_intent = "Killed";
        self->exit_task = task;
        self->exit_continuation = delete_files;
        pod_step(self, "deleting with force: killing QEMU");
        pod_kill_qemu(self);
        return;
    }
    /* No QEMU of ours; one podvmd lost track of must not outlive the pod. */
    pod_drop_connections(self);
    qemus = podvm_pod_scan_qemus(self->config->run_dir);
    pod_end_qemus_async(self, g_hash_table_lookup(qemus, self->spec->uid), -1, delete_strays_cb,
                        g_object_ref(task));
}

static void
pause_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    PodLifecycleOp *op = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (self->current != task)
        return;
    if (reply == NULL) {
        pod_op_return(self, task, podvm_error_from_component(error));
        return;
    }
    /* The STOP/RESUME event usually came first; this is for when it did not. */
    if (op->kind == PODVM_POD_OP_PAUSE && self->phase == PODVM_PHASE_RUNNING)
        pod_set_phase(self, PODVM_PHASE_PAUSED, "Paused", NULL);
    else if (op->kind == PODVM_POD_OP_RESUME && self->phase == PODVM_PHASE_PAUSED)
        pod_set_phase(self, PODVM_PHASE_RUNNING, NULL, NULL);
    pod_op_return(self, task, NULL);
}

/*
 * The phase rules of the lifecycle operations, in one place: why @kind
 * cannot run on the pod as it is now (WRONG_PHASE, saying what to do), or
 * NULL. Each operation applies them when it reaches the head of the
 * queue; podvm_pod_op_check() applies them when it is asked for, if
 * nothing is ahead of it (so the answer is the same).
 */
GError *
pod_op_refusal(PodvmPod *self, PodvmPodOp kind, const PodvmPodOpOptions *options)
{
    switch (kind) {
    case PODVM_POD_OP_START:
        if (pod_migration_forbids_cont(self))
            /* Its guest runs on the migration's target: a second copy must not boot here. */
            return pod_wrong_phase_error(self, _("it migrated to another host, which runs it"));
        if (self->phase != PODVM_PHASE_PENDING && self->phase != PODVM_PHASE_STOPPED &&
            self->phase != PODVM_PHASE_SUCCEEDED && self->phase != PODVM_PHASE_FAILED)
            return pod_wrong_phase_error(self, _("it is already running"));
        return NULL;
    case PODVM_POD_OP_STOP:
        /* A pod that waits to restart (backoff) can be stopped: it stays down. */
        if (!podvm_phase_has_qemu(self->phase) && self->backoff_timer == 0)
            return pod_wrong_phase_error(self, _("there is nothing to stop"));
        return NULL;
    case PODVM_POD_OP_RESTART:
        /* Without QEMU a restart is a start. */
        return podvm_phase_has_qemu(self->phase)
                   ? NULL
                   : pod_op_refusal(self, PODVM_POD_OP_START, options);
    case PODVM_POD_OP_PAUSE:
        /* Pausing a paused pod is done already. */
        if (self->phase != PODVM_PHASE_RUNNING && self->phase != PODVM_PHASE_PAUSED)
            return pod_wrong_phase_error(self, _("only a running pod can be paused"));
        return NULL;
    case PODVM_POD_OP_RESUME:
        if (pod_migration_forbids_cont(self))
            return pod_wrong_phase_error(
                self, _("it migrated to another host, which runs it: this copy never runs again"));
        if (self->phase != PODVM_PHASE_RUNNING && self->phase != PODVM_PHASE_PAUSED)
            return pod_wrong_phase_error(self, _("only a paused pod can be resumed"));
        return NULL;
    case PODVM_POD_OP_DELETE:
        if (podvm_phase_has_qemu(self->phase) && (options == NULL || !options->force))
            return pod_wrong_phase_error(self, _("stop it first, or delete it with force"));
        return NULL;
    case PODVM_POD_OP_KILL:
        if (self->preparing == NULL && self->subprocess == NULL && self->pidfd < 0)
            return pod_wrong_phase_error(self, _("there is nothing to kill"));
        return NULL;
    }
    g_return_val_if_reached(NULL);
}

/* Answers @task with the refusal of its operation and TRUE, or FALSE when it may run. */
static gboolean
lifecycle_refused(PodvmPod *self, GTask *task)
{
    PodLifecycleOp *op = pod_op_of(task);
    GError *error = pod_op_refusal(self, op->kind, &op->options);

    if (error == NULL)
        return FALSE;
    pod_op_return(self, task, error);
    return TRUE;
}

static void
stop_op(PodvmPod *self, GTask *task)
{
    PodLifecycleOp *op = pod_op_of(task);

    if (lifecycle_refused(self, task))
        return;
    if (!podvm_phase_has_qemu(self->phase)) {
        /* Stopping a pod that waits to restart: it stays down. */
        g_clear_handle_id(&self->backoff_timer, g_source_remove);
        pod_set_phase(self, PODVM_PHASE_STOPPED, "Stopped", NULL);
        pod_op_return(self, task, NULL);
        return;
    }
    pod_begin_stop(self, task, op->options.grace_seconds, stop_done);
}

static void
restart_op(PodvmPod *self, GTask *task)
{
    PodLifecycleOp *op = pod_op_of(task);

    if (!podvm_phase_has_qemu(self->phase)) {
        pod_start_op(self, task);
        return;
    }
    pod_begin_stop(self, task, op->options.grace_seconds, restart_stopped);
}

static void
pause_op(PodvmPod *self, GTask *task)
{
    if (lifecycle_refused(self, task))
        return;
    if (self->phase == PODVM_PHASE_PAUSED) {
        pod_op_return(self, task, NULL);
        return;
    }
    pod_qmp_for_task(self, task, "stop", PODVM_QMP_TIMEOUT_DEFAULT, pause_cb);
}

static void
resume_op(PodvmPod *self, GTask *task)
{
    if (lifecycle_refused(self, task))
        return;
    if (self->phase == PODVM_PHASE_RUNNING) {
        pod_op_return(self, task, NULL);
        return;
    }
    pod_qmp_for_task(self, task, "cont", PODVM_QMP_TIMEOUT_HOTPLUG, pause_cb);
}

static void
delete_run(PodvmPod *self, GTask *task)
{
    if (lifecycle_refused(self, task))
        return;
    delete_op(self, task);
}

/* Kill has none: it does not wait in line. */
static const PodOpClass lifecycle_classes[] = {
    [PODVM_POD_OP_START] = { "start", pod_start_op, lifecycle_op_free },
    [PODVM_POD_OP_STOP] = { "stop", stop_op, lifecycle_op_free },
    [PODVM_POD_OP_PAUSE] = { "pause", pause_op, lifecycle_op_free },
    [PODVM_POD_OP_RESUME] = { "resume", resume_op, lifecycle_op_free },
    [PODVM_POD_OP_RESTART] = { "restart", restart_op, lifecycle_op_free },
    [PODVM_POD_OP_DELETE] = { "delete", delete_run, lifecycle_op_free },
};

gboolean
podvm_pod_op_options_check(const PodvmPodOpOptions *options, GError **error)
{
    gint64 grace = options->grace_seconds;

    if (grace != PODVM_POD_GRACE_FROM_SPEC && (grace < 0 || grace > PODVM_SPEC_MAX_GRACE_SECONDS)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the grace period must be a whole number of seconds from 0 to %d, not "
                      "%" G_GINT64_FORMAT),
                    PODVM_SPEC_MAX_GRACE_SECONDS, grace);
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_pod_op_check(PodvmPod *self, PodvmPodOp op, const PodvmPodOpOptions *options, GError **error)
{
    GError *refusal;

    g_return_val_if_fail(op <= PODVM_POD_OP_KILL, FALSE);
    if (options != NULL && !podvm_pod_op_options_check(options, error))
        return FALSE;
    if (self->deleted) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("pod '%s' was deleted"),
                    self->spec->name);
        return FALSE;
    }
    /*
     * An operation ahead in the queue (or an adoption after a restart) may
     * change the phase before this one runs: then only the run can tell.
     * Kill does not wait in line: it is always decided now.
     */
    if (op != PODVM_POD_OP_KILL &&
        (self->current != NULL || !g_queue_is_empty(&self->queue) || self->adopting))
        return TRUE;
    refusal = pod_op_refusal(self, op, options);
    if (refusal != NULL) {
        g_propagate_error(error, refusal);
        return FALSE;
    }
    return TRUE;
}

void
podvm_pod_run_async(PodvmPod *self, PodvmPodOp op, const PodvmPodOpOptions *options,
                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    PodLifecycleOp *lifecycle;
    PodvmPodOpOptions defaults = PODVM_POD_OP_OPTIONS_INIT;

    g_return_if_fail(op <= PODVM_POD_OP_KILL);
    if (op == PODVM_POD_OP_KILL) {
        task = g_task_new(self, cancellable, callback, user_data);
        g_task_set_source_tag(task, podvm_pod_run_async);
    } else {
        lifecycle = g_new0(PodLifecycleOp, 1);
        lifecycle->kind = op;
        lifecycle->options = options != NULL ? *options : defaults;
        task = pod_op_task_new(self, &lifecycle_classes[op], &lifecycle->parent, cancellable,
                               callback, user_data);
    }
    /* What can be refused now is, as a front that does not wait hears it. */
    if (!podvm_pod_op_check(self, op, options, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (op == PODVM_POD_OP_KILL) {
        /* Kill does not wait in line: it is what ends a stuck operation. */
        if (self->preparing != NULL) {
            /* No QEMU yet: stop preparing its volumes instead. */
            self->exit_intent = "Killed";
            pod_step(self, "killing the pod while it prepares its volumes");
            g_ptr_array_add(self->kill_waiters, g_steal_pointer(&task));
            g_cancellable_cancel(self->preparing);
            return;
        }
        if (self->exit_intent == NULL || self->phase == PODVM_PHASE_STARTING)
            self->exit_intent = "Killed";
        pod_step(self, "killing QEMU (SIGKILL)");
        g_ptr_array_add(self->kill_waiters, g_steal_pointer(&task));
        pod_kill_qemu(self);
        return;
    }
    pod_op_enqueue_deferred(self, g_steal_pointer(&task));
}
