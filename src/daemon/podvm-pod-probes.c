/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod's probes (spec.livenessProbe, spec.readinessProbe): they run
 * while the pod is Running (from the moment it is, initialDelaySeconds
 * first) and stop with any other phase (stop, pause, migration, exit).
 * Readiness is the Ready condition of status.conditions; a liveness probe
 * that fails failureThreshold times in a row stops the pod, which then
 * ends Failed ("liveness probe failed: ...") and restarts per its
 * restartPolicy (Always, OnFailure; Never: it stays Failed).
 *
 * tcpSocket and httpGet connect from the pod's network namespace to the
 * guest: the masquerade guest address behind the binding, or the pod IP
 * the guest holds (bridge, passt). exec runs the command in the first app
 * of an app pod (podvm_pod_exec_async()); exit code 0 is success.
 */
#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"
#include "podvm-probe.h"

struct _PodProbes {
    PodvmProbe *liveness;
    PodvmProbe *readiness;
    int readiness_state;        /* -1: no result yet; 0: failing; 1: succeeding */
    char *readiness_failed;     /* why, when failing */
    gint64 liveness_failed_run; /* running_since_us of the run whose liveness probe failed */

    /* The Ready condition as shown (and stored). */
    gboolean ready;
    gboolean ready_known; /* ready and its time were set once */
    GDateTime *ready_since;
    char *ready_reason;
    char *ready_message;
};

typedef struct _PodProbes PodProbes;

void
pod_probes_free(PodProbes *probes)
{
    if (probes == NULL)
        return;
    g_clear_pointer(&probes->liveness, podvm_probe_free);
    g_clear_pointer(&probes->readiness, podvm_probe_free);
    g_free(probes->readiness_failed);
    g_clear_pointer(&probes->ready_since, g_date_time_unref);
    g_free(probes->ready_reason);
    g_free(probes->ready_message);
    g_free(probes);
}

static PodProbes *
probes_of(PodvmPod *self)
{
    if (self->probes == NULL) {
        self->probes = g_new0(PodProbes, 1);
        self->probes->readiness_state = -1;
    }
    return self->probes;
}

/* ---- the Ready condition ------------------------------------------------ */

/*
 * Works the Ready condition out again; TRUE when it changed (status,
 * reason or message).
 */
static gboolean
update_ready(PodvmPod *self)
{
    PodProbes *probes = probes_of(self);
    gboolean running = self->phase == PODVM_PHASE_RUNNING;
    gboolean ready = FALSE;
    const char *reason = NULL;
    g_autofree char *message = NULL;
    gboolean changed;

    if (!running) {
        reason = "PodNotRunning";
        message = g_strdup_printf(_("the pod is %s"), podvm_phase_to_string(self->phase));
    } else if (self->spec->readiness_probe == NULL || probes->readiness_state == 1) {
        ready = TRUE;
    } else if (probes->readiness_state == 0) {
        reason = "ReadinessProbeFailed";
        message = g_strdup_printf(_("readiness probe failed: %s"), probes->readiness_failed);
    } else {
        reason = "ReadinessProbePending";
        message = g_strdup(_("waiting for the readiness probe's first success"));
    }

    changed = !probes->ready_known || probes->ready != ready ||
              g_strcmp0(probes->ready_reason, reason) != 0 ||
              g_strcmp0(probes->ready_message, message) != 0;
    if (!probes->ready_known || probes->ready != ready) {
        g_clear_pointer(&probes->ready_since, g_date_time_unref);
        probes->ready_since = g_date_time_new_now_utc();
    }
    probes->ready_known = TRUE;
    probes->ready = ready;
    g_free(probes->ready_reason);
    probes->ready_reason = g_strdup(reason);
    g_free(probes->ready_message);
    probes->ready_message = g_steal_pointer(&message);
    return changed;
}

void
pod_probes_add_conditions(PodvmPod *self, JsonBuilder *b)
{
    PodProbes *probes = probes_of(self);
    g_autofree char *since = NULL;

    if (!probes->ready_known)
        update_ready(self);
    since = probes->ready_since != NULL ? g_date_time_format_iso8601(probes->ready_since) : NULL;
    json_builder_set_member_name(b, "conditions");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "Ready");
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, probes->ready ? "True" : "False");
    if (since != NULL) {
        json_builder_set_member_name(b, "lastTransitionTime");
        json_builder_add_string_value(b, since);
    }
    if (probes->ready_reason != NULL) {
        json_builder_set_member_name(b, "reason");
        json_builder_add_string_value(b, probes->ready_reason);
    }
    if (probes->ready_message != NULL) {
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, probes->ready_message);
    }
    json_builder_end_object(b);
    pod_agent_add_condition(self, b);
    json_builder_end_array(b);
}

void
pod_probes_load_status(PodvmPod *self, JsonObject *status)
{
    PodProbes *probes = probes_of(self);
    JsonArray *conditions;

    if (status == NULL || !json_object_has_member(status, "conditions") ||
        !JSON_NODE_HOLDS_ARRAY(json_object_get_member(status, "conditions")))
        return;
    conditions = json_object_get_array_member(status, "conditions");
    for (guint i = 0; i < json_array_get_length(conditions); i++) {
        JsonNode *node = json_array_get_element(conditions, i);
        JsonObject *condition;
        const char *since;

        if (!JSON_NODE_HOLDS_OBJECT(node))
            continue;
        condition = json_node_get_object(node);
        if (g_strcmp0(json_object_get_string_member_with_default(condition, "type", NULL),
                      "Ready") != 0)
            continue;
        /* What the next start works out again; kept so the time does not move by itself. */
        probes->ready =
            g_strcmp0(json_object_get_string_member_with_default(condition, "status", NULL),
                      "True") == 0;
        since = json_object_get_string_member_with_default(condition, "lastTransitionTime", NULL);
        g_clear_pointer(&probes->ready_since, g_date_time_unref);
        probes->ready_since = since != NULL ? g_date_time_new_from_iso8601(since, NULL) : NULL;
        g_free(probes->ready_reason);
        probes->ready_reason =
            g_strdup(json_object_get_string_member_with_default(condition, "reason", NULL));
        g_free(probes->ready_message);
        probes->ready_message =
            g_strdup(json_object_get_string_member_with_default(condition, "message", NULL));
        probes->ready_known = probes->ready_since != NULL;
    }
}

/* A probe result changed the condition: stored, announced. */
static void
announce_ready(PodvmPod *self)
{
    PodProbes *probes = probes_of(self);
    g_autoptr(JsonObject) details = json_object_new();

    pod_save_or_log(self, PODVM_STORE_ATOMIC);
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': Ready %s%s%s%s%s", self->spec->name,
            probes->ready ? "True" : "False", probes->ready_reason != NULL ? " (" : "",
            probes->ready_reason != NULL ? probes->ready_reason : "",
            probes->ready_message != NULL ? ": " : "",
            probes->ready_message != NULL ? probes->ready_message : "");
    json_object_set_string_member(details, "condition", "Ready");
    json_object_set_string_member(details, "status", probes->ready ? "True" : "False");
    if (probes->ready_reason != NULL)
        json_object_set_string_member(details, "reason", probes->ready_reason);
    if (probes->ready_message != NULL)
        json_object_set_string_member(details, "message", probes->ready_message);
    pod_emit_event(self, "ConditionChanged", details);
    pod_emit_changed(self);
}

/* ---- the checks ------------------------------------------------------- */

/* The guest's address as the pod's namespace reaches it, through the first interface that can. */
static GInetAddress *
guest_address(PodvmPod *self, GError **error)
{
    const char *refused = NULL;

    for (guint i = 0; i < self->spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(self->spec->interfaces, i);
        const PodvmSpecNetwork *network = pod_net_network_of(self->spec, iface->name);
        PodNetAttachment *a = pod_net_find_attachment(self->net, iface->name);
        g_autoptr(PodvmCniResult) result = a != NULL ? pod_net_parse_result(a) : NULL;
        g_autofree char *text = NULL;

        if (result == NULL) {
            refused = refused != NULL ? refused : iface->name;
            continue;
        }
        if (iface->binding == PODVM_BINDING_MASQUERADE) {
            if (!podvm_binding_vm_addresses(pod_net_vm_cidr4(network), &text, NULL, NULL, error))
                return NULL;
        } else if (iface->binding == PODVM_BINDING_BRIDGE ||
                   iface->binding == PODVM_BINDING_PASST) {
            g_auto(GStrv) addresses = pod_net_result_addresses(result);

            for (guint j = 0; addresses[j] != NULL && text == NULL; j++) {
                if (strchr(addresses[j], ':') == NULL)
                    text = pod_net_strip_prefix(addresses[j]);
            }
            if (text == NULL && addresses[0] != NULL)
                text = pod_net_strip_prefix(addresses[0]);
        }
        if (text != NULL)
            return g_inet_address_new_from_string(text);
        refused = refused != NULL ? refused : iface->name;
    }
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                refused != NULL
                    ? _("the guest cannot be reached from the pod's network namespace: interface "
                        "'%s' has no address there (probes go through masquerade, bridge or "
                        "passt interfaces)")
                    : _("the pod has no network interface to reach the guest through%s"),
                refused != NULL ? refused : "");
    return NULL;
}

static void
exec_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    const PodvmSpecProbe *spec = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    int code = -1;

    if (!podvm_pod_exec_finish(PODVM_POD(source), result, &code, &error)) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                                    _("command '%s' did not finish"), spec->command[0]);
        else
            g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (code != 0) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("command '%s' exited with code %d"), spec->command[0], code);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void
check(PodvmProbe *probe, GCancellable *cancellable, GAsyncReadyCallback callback,
      gpointer callback_data)
{
    PodvmPod *self = podvm_probe_get_user_data(probe);
    const PodvmSpecProbe *spec = podvm_probe_get_spec(probe);
    g_autoptr(GError) error = NULL;
    g_autoptr(GInetAddress) address = NULL;
    int netns_fd;

    if (spec->handler == PODVM_PROBE_EXEC) {
        GTask *task = g_task_new(NULL, cancellable, callback, callback_data);

        /* The spec is the probe's, which outlives the check only while it runs: a copy. */
        g_task_set_task_data(task, podvm_spec_probe_copy(spec),
                             (GDestroyNotify)podvm_spec_probe_free);
        /* A command cut short by the timeout says so (exec_done_cb()). */
        g_task_set_check_cancellable(task, FALSE);
        /* The first app; cancelling kills the command. */
        podvm_pod_exec_async(self, NULL, (const char *const *)spec->command, NULL, NULL, NULL,
                             cancellable, exec_done_cb, task);
        return;
    }
    address = guest_address(self, &error);
    netns_fd = address != NULL ? pod_net_open_netns(self, &error) : -1;
    if (netns_fd < 0) {
        g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, callback_data);

        if (error == NULL)
            g_set_error_literal(&error, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the pod has no network namespace"));
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    podvm_probe_check_network_async(spec, netns_fd, address, cancellable, callback, callback_data);
    close(netns_fd);
}

/* ---- liveness: stop, Failed, the restart policy --------------------------- */

typedef struct {
    PodOp parent;
    char *message;           /* "liveness probe failed: ..." */
    gint64 running_since_us; /* the run the probe failed in */
} LivenessOp;

static void
liveness_op_free(PodOp *op)
{
    LivenessOp *liveness = (LivenessOp *)op;

    g_free(liveness->message);
    g_free(liveness);
}

static void
liveness_stopped(PodvmPod *self, GTask *task)
{
    LivenessOp *op = pod_op_of(task);

    pod_set_phase(self, PODVM_PHASE_FAILED, "LivenessProbeFailed", op->message);
    pod_maybe_schedule_restart(self);
    pod_op_return(self, task, NULL);
}

static void
liveness_run(PodvmPod *self, GTask *task)
{
    LivenessOp *op = pod_op_of(task);

    /* Stopped, paused or restarted meanwhile: that run's probe is not this one's. */
    if (self->phase != PODVM_PHASE_RUNNING || self->running_since_us != op->running_since_us) {
        pod_op_return(self, task, NULL);
        return;
    }
    pod_step(self, "%s: stopping the pod (restartPolicy %s)", op->message,
             podvm_restart_policy_to_string(self->spec->restart_policy));
    pod_begin_stop(self, task, PODVM_POD_GRACE_FROM_SPEC, liveness_stopped);
}

static const PodOpClass liveness_class = { "liveness-restart", liveness_run, liveness_op_free };

static void
liveness_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmPod *self = PODVM_POD(source);
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_run_finish(self, result, &error))
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': stopping after the liveness probe: %s",
                self->spec->name, error->message);
}

/* ---- results ---------------------------------------------------------- */

static void
result(PodvmProbe *probe, gboolean success, const char *message, gpointer user_data)
{
    PodvmPod *self = user_data;
    PodProbes *probes = probes_of(self);

    if (probe == probes->readiness) {
        probes->readiness_state = success ? 1 : 0;
        g_free(probes->readiness_failed);
        probes->readiness_failed = g_strdup(message);
        if (update_ready(self))
            announce_ready(self);
        return;
    }
    if (probe == probes->liveness && !success &&
        probes->liveness_failed_run != self->running_since_us) {
        LivenessOp *op = g_new0(LivenessOp, 1);
        g_autoptr(GTask) task = NULL;

        op->message = g_strdup_printf(_("liveness probe failed: %s"), message);
        op->running_since_us = self->running_since_us;
        probes->liveness_failed_run = self->running_since_us;
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': %s", self->spec->name, op->message);
        task = pod_op_task_new(self, &liveness_class, &op->parent, NULL, liveness_done_cb, NULL);
        pod_op_enqueue_deferred(self, g_steal_pointer(&task));
    }
}

/* ---- the hooks -------------------------------------------------------- */

static void
stop_probes(PodProbes *probes)
{
    g_clear_pointer(&probes->liveness, podvm_probe_free);
    g_clear_pointer(&probes->readiness, podvm_probe_free);
    probes->readiness_state = -1;
    g_clear_pointer(&probes->readiness_failed, g_free);
}

void
pod_probes_phase_changed(PodvmPod *self)
{
    PodProbes *probes = probes_of(self);
    gboolean running = self->phase == PODVM_PHASE_RUNNING && !self->detached;

    if (running && probes->liveness == NULL && probes->readiness == NULL) {
        if (self->spec->liveness_probe != NULL) {
            probes->liveness =
                podvm_probe_new(self->spec->liveness_probe, "liveness", check, result, self);
            podvm_probe_start(probes->liveness);
        }
        if (self->spec->readiness_probe != NULL) {
            probes->readiness =
                podvm_probe_new(self->spec->readiness_probe, "readiness", check, result, self);
            podvm_probe_start(probes->readiness);
        }
    } else if (!running) {
        stop_probes(probes);
    }
    /* The phase's own change is what announces this. */
    update_ready(self);
}

void
pod_probes_stop(PodvmPod *self)
{
    if (self->probes != NULL)
        stop_probes(self->probes);
}
