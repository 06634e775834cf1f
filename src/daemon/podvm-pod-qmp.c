/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod's QMP: every command timed for the latency histogram, commands
 * on behalf of an operation, the expert passthrough (checked against
 * [qmp] passthrough) and the core's own queries; passthrough calls that
 * come while the pod is being adopted after a daemon restart wait for it.
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-pod-private.h"
#include "podvm-qmp-client.h"
#include "podvm-qmp-policy.h"

/* -- QMP command latency, over every pod (for /metrics) -- */

static const double qmp_latency_bounds[PODVM_QMP_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
static guint64 qmp_latency_counts[PODVM_QMP_LATENCY_BUCKETS];
static guint64 qmp_latency_count;
static double qmp_latency_sum;

void
podvm_pod_get_qmp_latency(PodvmQmpLatency *out)
{
    out->bounds = qmp_latency_bounds;
    for (guint i = 0; i < PODVM_QMP_LATENCY_BUCKETS; i++)
        out->cumulative[i] = qmp_latency_counts[i];
    out->count = qmp_latency_count;
    out->sum_seconds = qmp_latency_sum;
}

typedef struct {
    GAsyncReadyCallback callback;
    gpointer user_data;
    gint64 start_us;
} QmpTiming;

static void
qmp_timed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    QmpTiming *timing = user_data;
    double seconds = (double)(g_get_monotonic_time() - timing->start_us) / G_USEC_PER_SEC;

    /* Buckets are cumulative, as Prometheus has them. */
    for (guint i = 0; i < PODVM_QMP_LATENCY_BUCKETS; i++)
        if (seconds <= qmp_latency_bounds[i])
            qmp_latency_counts[i]++;
    qmp_latency_count++;
    qmp_latency_sum += seconds;
    if (timing->callback != NULL)
        timing->callback(source, result, timing->user_data);
    g_free(timing);
}

/* podvm_qmp_client_execute_async(), timed. */
void
pod_qmp_execute(PodvmQmpClient *qmp, const char *command, JsonObject *arguments, guint timeout_ms,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    QmpTiming *timing = g_new0(QmpTiming, 1);

    timing->callback = callback;
    timing->user_data = user_data;
    timing->start_us = g_get_monotonic_time();
    podvm_qmp_client_execute_async(qmp, command, arguments, NULL, timeout_ms, cancellable,
                                   qmp_timed_cb, timing);
}

/* A QMP command on behalf of the current operation. */
void
pod_qmp_for_task(PodvmPod *self, GTask *task, const char *command, guint timeout_ms,
                 GAsyncReadyCallback callback)
{
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                                  _("pod '%s': QEMU's monitor is not connected"),
                                  self->spec->name));
        return;
    }
    pod_qmp_execute(self->qmp, command, NULL, timeout_ms, g_task_get_cancellable(task), callback,
                    g_object_ref(task));
}

/* -- passthrough and queries -- */

static void
qmp_passthrough_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;
    JsonNode *reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (reply == NULL)
        g_task_return_error(task, podvm_error_from_component(error));
    else
        g_task_return_pointer(task, reply, (GDestroyNotify)json_node_unref);
}

/* A passthrough call that came while the pod was being adopted after a restart. */
typedef struct {
    PodvmPod *self; /* unowned: the pod flushes its waiters before it goes */
    GTask *task;    /* owned; task data: the command */
    guint timeout_id;
} QmpWaiter;

static void
qmp_waiter_run(QmpWaiter *waiter)
{
    PodvmPod *self = waiter->self;
    GTask *task = waiter->task;
    JsonObject *obj = json_node_get_object(g_task_get_task_data(task));

    g_clear_handle_id(&waiter->timeout_id, g_source_remove);
    g_queue_remove(&self->qmp_waiting, waiter);
    g_free(waiter);
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; QEMU's monitor is not connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        g_object_unref(task);
        return;
    }
    pod_qmp_execute(
        self->qmp, json_object_get_string_member(obj, "execute"),
        json_object_has_member(obj, "arguments") ? json_object_get_object_member(obj, "arguments")
                                                 : NULL,
        PODVM_QMP_TIMEOUT_HOTPLUG, g_task_get_cancellable(task), qmp_passthrough_cb, task);
}

static gboolean
qmp_waiter_timeout_cb(gpointer user_data)
{
    QmpWaiter *waiter = user_data;

    waiter->timeout_id = 0;
    qmp_waiter_run(waiter);
    return G_SOURCE_REMOVE;
}

/* Holds @task until the adoption is over (or a timeout), then runs it. */
static void
qmp_wait_for_adoption(PodvmPod *self, GTask *task, JsonNode *command)
{
    QmpWaiter *waiter = g_new0(QmpWaiter, 1);

    waiter->self = self;
    waiter->task = task;
    g_task_set_task_data(task, json_node_copy(command), (GDestroyNotify)json_node_unref);
    waiter->timeout_id =
        g_timeout_add(self->config->qmp_connect_timeout_ms + PODVM_QMP_TIMEOUT_QUERY,
                      qmp_waiter_timeout_cb, waiter);
    g_queue_push_tail(&self->qmp_waiting, waiter);
}

/* The adoption is over: the waiting passthrough calls go on, in order. */
void
pod_adoption_done(PodvmPod *self)
{
    self->adopting = FALSE;
    while (!g_queue_is_empty(&self->qmp_waiting))
        qmp_waiter_run(g_queue_peek_head(&self->qmp_waiting));
    /* Operations that arrived meanwhile (an attach, a stop) run now, in order. */
    pod_run_next(self);
}

void
podvm_pod_qmp_async(PodvmPod *self, JsonNode *command, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    JsonObject *obj = JSON_NODE_HOLDS_OBJECT(command) ? json_node_get_object(command) : NULL;
    JsonNode *execute_node = obj != NULL ? json_object_get_member(obj, "execute") : NULL;
    JsonNode *arguments_node = obj != NULL ? json_object_get_member(obj, "arguments") : NULL;
    const char *execute = NULL;
    JsonObject *arguments = NULL;
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_pod_qmp_async);
    if (execute_node != NULL && JSON_NODE_HOLDS_VALUE(execute_node) &&
        json_node_get_value_type(execute_node) == G_TYPE_STRING)
        execute = json_node_get_string(execute_node);
    if (arguments_node != NULL && JSON_NODE_HOLDS_OBJECT(arguments_node))
        arguments = json_node_get_object(arguments_node);
    if (execute == NULL || (arguments_node != NULL && arguments == NULL)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("a QMP command is an object with \"execute\" and optionally "
                                  "\"arguments\""));
        return;
    }
    /* What may reach QEMU (running as root): one policy, for every front. */
    if (!podvm_qmp_policy_check(self->config->qmp_passthrough, execute, arguments, &error)) {
        g_task_return_error(task, error);
        return;
    }
    /* A migration drives QEMU (cont, block jobs, migrate-*): only queries meanwhile. */
    if (podvm_pod_is_migrating(self) &&
        !g_strv_contains(podvm_qmp_policy_read_only_commands(), execute)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_BUSY,
                                _("pod '%s' is migrating: only read-only QMP commands pass "
                                  "until it ends"),
                                self->spec->name);
        return;
    }
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        if (self->adopting) {
            /* Just after a daemon restart: wait for the monitor rather than fail. */
            qmp_wait_for_adoption(self, g_steal_pointer(&task), command);
            return;
        }
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; QEMU's monitor is not connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        return;
    }
    pod_qmp_execute(self->qmp, execute, arguments, PODVM_QMP_TIMEOUT_HOTPLUG, cancellable,
                    qmp_passthrough_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_pod_qmp_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
podvm_pod_query_async(PodvmPod *self, const char *command, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_return_if_fail(g_str_has_prefix(command, "query-"));
    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_pod_query_async);
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; QEMU's monitor is not connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        return;
    }
    /* The same answer as the passthrough's: QEMU's "return", errors converted. */
    pod_qmp_execute(self->qmp, command, NULL, PODVM_QMP_TIMEOUT_QUERY, cancellable,
                    qmp_passthrough_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_pod_query_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

JsonNode *
podvm_qmp_command_parse(const char *text, gssize length, GError **error)
{
    g_autoptr(GError) local = NULL;
    JsonNode *root = podvm_json_parse(text, length, &local);

    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the QMP command is not valid JSON: %s"), local->message);
        return NULL;
    }
    return root;
}
