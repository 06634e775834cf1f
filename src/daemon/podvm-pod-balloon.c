/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's memory statistics from the pod's virtio-balloon, for
 * /metrics: turn on the balloon's polling of the guest once per QEMU
 * (qom-set guest-stats-polling-interval), then query-balloon and qom-get
 * guest-stats, one after the other, over the core's own monitor.
 */
#include "podvm-pod-private.h"

#include <glib/gi18n.h>

#include "podvm-error.h"
#include "podvm-qemu-devices.h"

/* The guest-stats members, by PodvmBalloonStat (ACTUAL comes from query-balloon). */
static const char *const stat_names[PODVM_BALLOON_N_STATS] = {
    [PODVM_BALLOON_TOTAL] = "stat-total-memory",
    [PODVM_BALLOON_FREE] = "stat-free-memory",
    [PODVM_BALLOON_AVAILABLE] = "stat-available-memory",
    [PODVM_BALLOON_DISK_CACHES] = "stat-disk-caches",
    [PODVM_BALLOON_SWAP_IN] = "stat-swap-in",
    [PODVM_BALLOON_SWAP_OUT] = "stat-swap-out",
    [PODVM_BALLOON_MAJOR_FAULTS] = "stat-major-faults",
    [PODVM_BALLOON_MINOR_FAULTS] = "stat-minor-faults",
};

/* An integer member of 0 or more of untrusted output, else -1 (QEMU says -1 for "not known"). */
static gint64
count_member(JsonObject *object, const char *member)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, member) : NULL;

    if (node == NULL || json_node_get_value_type(node) != G_TYPE_INT64)
        return -1;
    return MAX(json_node_get_int(node), -1);
}

void
podvm_balloon_stats_parse(JsonNode *guest_stats, PodvmBalloonStats *stats)
{
    JsonObject *object = guest_stats != NULL && JSON_NODE_HOLDS_OBJECT(guest_stats)
                             ? json_node_get_object(guest_stats)
                             : NULL;
    JsonNode *inner = object != NULL ? json_object_get_member(object, "stats") : NULL;
    JsonObject *values =
        inner != NULL && JSON_NODE_HOLDS_OBJECT(inner) ? json_node_get_object(inner) : NULL;

    for (guint i = 0; i < PODVM_BALLOON_N_STATS; i++) {
        if (stat_names[i] != NULL)
            stats->values[i] = count_member(values, stat_names[i]);
    }
}

/* The steps, in order: the polling (once per QEMU), query-balloon, qom-get. */
typedef enum {
    STEP_POLLING,
    STEP_ACTUAL,
    STEP_GUEST_STATS,
} Step;

typedef struct {
    Step step;
    PodvmBalloonStats stats;
} BalloonQuery;

static void balloon_step(GTask *task);

static void
balloon_reply_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    BalloonQuery *query = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (reply == NULL) {
        g_task_return_error(task, podvm_error_from_component(error));
        return;
    }
    switch (query->step) {
    case STEP_POLLING:
        self->balloon_polling_pid = self->qemu_pid;
        query->step = STEP_ACTUAL;
        break;
    case STEP_ACTUAL:
        if (JSON_NODE_HOLDS_OBJECT(reply))
            query->stats.values[PODVM_BALLOON_ACTUAL] =
                count_member(json_node_get_object(reply), "actual");
        query->step = STEP_GUEST_STATS;
        break;
    case STEP_GUEST_STATS:
        podvm_balloon_stats_parse(reply, &query->stats);
        g_task_return_boolean(task, TRUE);
        return;
    }
    balloon_step(g_steal_pointer(&task));
}

/* Sends the command of the query's step; takes @task. */
static void
balloon_step(GTask *task)
{
    PodvmPod *self = g_task_get_source_object(task);
    BalloonQuery *query = g_task_get_task_data(task);
    g_autoptr(JsonObject) arguments = NULL;
    const char *command = "qom-get";

    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; QEMU's monitor is not connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        g_object_unref(task);
        return;
    }
    if (query->step == STEP_ACTUAL) {
        command = "query-balloon";
    } else {
        arguments = json_object_new();
        json_object_set_string_member(arguments, "path", PODVM_QEMU_BALLOON_PATH);
        if (query->step == STEP_POLLING) {
            command = "qom-set";
            json_object_set_string_member(arguments, "property", "guest-stats-polling-interval");
            json_object_set_int_member(arguments, "value", PODVM_BALLOON_POLL_SECONDS);
        } else {
            json_object_set_string_member(arguments, "property", "guest-stats");
        }
    }
    pod_qmp_execute(self->qmp, command, arguments, PODVM_QMP_TIMEOUT_QUERY,
                    g_task_get_cancellable(task), balloon_reply_cb, task);
}

void
podvm_pod_balloon_stats_async(PodvmPod *self, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task;
    BalloonQuery *query;

    g_return_if_fail(PODVM_IS_POD(self));
    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_pod_balloon_stats_async);
    if (!podvm_qemu_has_balloon(self->spec)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                _("pod '%s' has no memory balloon"), self->spec->name);
        g_object_unref(task);
        return;
    }
    query = g_new0(BalloonQuery, 1);
    for (guint i = 0; i < PODVM_BALLOON_N_STATS; i++)
        query->stats.values[i] = -1;
    query->step = self->balloon_polling_pid == self->qemu_pid && self->qemu_pid > 0 ? STEP_ACTUAL
                                                                                    : STEP_POLLING;
    g_task_set_task_data(task, query, g_free);
    balloon_step(task);
}

gboolean
podvm_pod_balloon_stats_finish(PodvmPod *self, GAsyncResult *result, PodvmBalloonStats *out_stats,
                               GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    if (!g_task_propagate_boolean(G_TASK(result), error))
        return FALSE;
    *out_stats = ((BalloonQuery *)g_task_get_task_data(G_TASK(result)))->stats;
    return TRUE;
}
