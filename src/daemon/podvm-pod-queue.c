/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pod's operations (start, stop, pause, ...) run one at a time, in the
 * order they came: the queue, and how an operation ends (its answer, and
 * an OperationFailed event when it failed).
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-pod-private.h"

/*
 * An operation that was accepted failed: said on the event stream too
 * (OperationFailed {operation, reason, message}), for the client that did
 * not wait for the answer (REST ?wait=false) and for anyone watching.
 */
static void
publish_op_failed(PodvmPod *self, GTask *task, const GError *error)
{
    PodOp *op = pod_op_of(task);
    g_autoptr(GError) ours = podvm_error_from_component(error);
    g_autoptr(JsonObject) details = json_object_new();

    json_object_set_string_member(details, "operation", op->klass->name);
    json_object_set_string_member(details, "reason", podvm_error_reason(ours->code));
    json_object_set_string_member(details, "message", ours->message);
    pod_emit_event(self, "OperationFailed", details);
}

void
pod_op_return(PodvmPod *self, GTask *task, GError *error)
{
    g_assert(task == self->current);
    self->current = NULL;
    if (error != NULL && !self->detached)
        publish_op_failed(self, task, error);
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    pod_run_next(self);
}

GError *
pod_wrong_phase_error(PodvmPod *self, const char *what_to_do)
{
    return g_error_new(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE, _("pod '%s' is %s; %s"),
                       self->spec->name, podvm_phase_to_string(self->phase), what_to_do);
}

gboolean
pod_wrong_phase(PodvmPod *self, GTask *task, const char *what_to_do)
{
    pod_op_return(self, task, pod_wrong_phase_error(self, what_to_do));
    return FALSE;
}

/* -- the queue -- */

static void
run_op(PodvmPod *self, GTask *task)
{
    PodOp *op = pod_op_of(task);

    if (g_task_return_error_if_cancelled(task)) {
        self->current = NULL;
        g_object_unref(task);
        pod_run_next(self);
        return;
    }
    pod_log(self, G_LOG_LEVEL_DEBUG, "pod '%s': operation %s", self->spec->name, op->klass->name);
    op->klass->run(self, task);
}

static gboolean
run_next_idle_cb(gpointer user_data)
{
    g_autoptr(PodvmPod) self = user_data;

    /* After a daemon restart, operations wait until the pod is adopted (its QEMU's monitor). */
    if (self->current == NULL && !g_queue_is_empty(&self->queue) && !self->adopting) {
        self->current = g_queue_pop_head(&self->queue);
        run_op(self, self->current);
    }
    return G_SOURCE_REMOVE;
}

void
pod_run_next(PodvmPod *self)
{
    /* From an idle: never re-enter an operation from another's completion. */
    if (self->current == NULL && !g_queue_is_empty(&self->queue))
        g_idle_add(run_next_idle_cb, g_object_ref(self));
}

GTask *
pod_op_task_new(PodvmPod *self, const PodOpClass *klass, PodOp *op, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_source_tag(task, podvm_pod_run_async);
    op->klass = klass;
    g_task_set_task_data(task, op, (GDestroyNotify)klass->free);
    return task;
}

void
pod_op_enqueue_deferred(PodvmPod *self, GTask *task)
{
    g_queue_push_tail(&self->queue, task);
    pod_run_next(self);
}

void
pod_op_enqueue(PodvmPod *self, GTask *task)
{
    if (self->deleted) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("pod '%s' was deleted"),
                                self->spec->name);
        g_object_unref(task);
        return;
    }
    if (self->current == NULL && g_queue_is_empty(&self->queue) && !self->adopting) {
        /* Nothing ahead of it, and never called from an operation's completion: run it now. */
        self->current = task;
        run_op(self, task);
        return;
    }
    g_queue_push_tail(&self->queue, task);
    pod_run_next(self);
}

gboolean
podvm_pod_run_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}
