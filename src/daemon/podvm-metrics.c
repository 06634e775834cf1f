/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-metrics.h"

#include <string.h>

#include "podvm-error.h"
#include "podvm-host.h"
#include "podvm-qemu-devices.h"
#include "podvm-qmp-client.h"

static const char *const block_counter_names[PODVM_BLOCK_N_COUNTERS] = {
    "rd_bytes",         "wr_bytes",         "rd_operations",    "wr_operations",
    "flush_operations", "rd_total_time_ns", "wr_total_time_ns", "flush_total_time_ns",
};

const char *
podvm_block_counter_qmp_name(PodvmBlockCounter counter)
{
    g_return_val_if_fail(counter < PODVM_BLOCK_N_COUNTERS, NULL);
    return block_counter_names[counter];
}

static void
block_stats_free(PodvmBlockStats *stats)
{
    g_free(stats->drive);
    g_free(stats);
}

static void
pod_metrics_free(PodvmPodMetrics *pm)
{
    g_free(pm->name);
    g_free(pm->uid);
    g_clear_pointer(&pm->vcpu_times, g_array_unref);
    g_clear_pointer(&pm->blocks, g_ptr_array_unref);
    g_clear_pointer(&pm->networks, g_ptr_array_unref);
    g_free(pm);
}

void
podvm_metrics_free(PodvmMetrics *metrics)
{
    if (metrics == NULL)
        return;
    g_ptr_array_unref(metrics->pods);
    g_free(metrics->node);
    g_free(metrics);
}

/* ---- what QEMU says, untrusted -------------------------------------------- */

/* A member of untrusted QMP output: a string, or NULL. */
static const char *
qmp_string(JsonObject *object, const char *member)
{
    JsonNode *node = json_object_get_member(object, member);

    return node != NULL && json_node_get_value_type(node) == G_TYPE_STRING
               ? json_node_get_string(node)
               : NULL;
}

/* A member of untrusted QMP output: an integer of 0 or more, or -1. */
static gint64
qmp_count(JsonObject *object, const char *member)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, member) : NULL;

    if (node == NULL || json_node_get_value_type(node) != G_TYPE_INT64)
        return -1;
    return MAX(json_node_get_int(node), -1);
}

/*
 * The name a block device goes by: the spec's disk name for podvm's
 * devices (podvm_qemu_disk_name_from_device_id()), else QEMU's device id, drive or node name.
 */
static char *
block_drive_name(JsonObject *entry)
{
    const char *qdev = qmp_string(entry, "qdev");
    const char *device = qmp_string(entry, "device");
    const char *node_name = qmp_string(entry, "node-name");
    const char *prefix = "/machine/peripheral/";

    if (qdev != NULL && g_str_has_prefix(qdev, prefix)) {
        const char *id = qdev + strlen(prefix);
        const char *end = strchr(id, '/');
        g_autofree char *whole = end != NULL ? g_strndup(id, (gsize)(end - id)) : g_strdup(id);
        char *disk_name = podvm_qemu_disk_name_from_device_id(whole);

        return disk_name != NULL ? disk_name : g_steal_pointer(&whole);
    }
    if (device != NULL && device[0] != '\0')
        return g_strdup(device);
    if (qdev != NULL && qdev[0] != '\0')
        return g_strdup(qdev);
    if (node_name != NULL && node_name[0] != '\0')
        return g_strdup(node_name);
    return NULL;
}

/* query-cpus-fast's answer -> each vCPU's thread time, read now. */
static GArray *
vcpu_times_from_qmp(JsonNode *reply, int qemu_pid)
{
    GArray *times = g_array_new(FALSE, FALSE, sizeof(PodvmVcpuTime));
    JsonArray *cpus;

    if (reply == NULL || !JSON_NODE_HOLDS_ARRAY(reply))
        return times;
    cpus = json_node_get_array(reply);
    for (guint j = 0; j < json_array_get_length(cpus); j++) {
        JsonNode *node = json_array_get_element(cpus, j);
        JsonObject *cpu = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
        PodvmVcpuTime time = { .index = qmp_count(cpu, "cpu-index") };
        gint64 tid = qmp_count(cpu, "thread-id");

        if (time.index < 0 || tid <= 0)
            continue;
        time.seconds = podvm_host_thread_cpu_seconds(qemu_pid, tid);
        if (time.seconds < 0)
            continue;
        g_array_append_val(times, time);
    }
    return times;
}

/* query-blockstats's answer -> the devices that have a name. */
static GPtrArray *
blocks_from_qmp(JsonNode *reply)
{
    GPtrArray *blocks = g_ptr_array_new_with_free_func((GDestroyNotify)block_stats_free);
    JsonArray *array;

    if (reply == NULL || !JSON_NODE_HOLDS_ARRAY(reply))
        return blocks;
    array = json_node_get_array(reply);
    for (guint j = 0; j < json_array_get_length(array); j++) {
        JsonNode *node = json_array_get_element(array, j);
        JsonObject *entry = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
        JsonNode *stats_node = entry != NULL ? json_object_get_member(entry, "stats") : NULL;
        JsonObject *stats = stats_node != NULL && JSON_NODE_HOLDS_OBJECT(stats_node)
                                ? json_node_get_object(stats_node)
                                : NULL;
        g_autofree char *drive = entry != NULL ? block_drive_name(entry) : NULL;
        PodvmBlockStats *block;

        if (drive == NULL)
            continue;
        block = g_new0(PodvmBlockStats, 1);
        block->drive = g_steal_pointer(&drive);
        for (guint c = 0; c < PODVM_BLOCK_N_COUNTERS; c++)
            block->counters[c] = qmp_count(stats, block_counter_names[c]);
        g_ptr_array_add(blocks, block);
    }
    return blocks;
}

/* ---- one collection ------------------------------------------------------- */

typedef struct _Collection Collection;

typedef struct {
    Collection *collection; /* unowned: the collection owns this */
    PodvmPod *pod;          /* owned */
    PodvmPodMetrics *pm;    /* unowned: in the snapshot */
    int qemu_pid;
    JsonNode *cpus;      /* query-cpus-fast's answer, or NULL */
    JsonNode *blocks;    /* query-blockstats's answer, or NULL */
    GPtrArray *networks; /* podvm_pod_network_stats_finish()'s answer, or NULL */
    PodvmBalloonStats balloon;
    gboolean balloon_ok; /* the balloon answered */
    guint pending;       /* commands (and the network counters) not answered yet */
    gboolean failed;     /* a QMP command failed */
    gboolean net_failed; /* the network counters could not be read */
} PodQuery;

/* Reference-counted: each QMP call, the timer and the cancel watch hold one. */
struct _Collection {
    GTask *task;           /* owned until the snapshot is returned */
    PodvmMetrics *metrics; /* owned until returned */
    GPtrArray *queries;    /* PodQuery* */
    GCancellable *qmp;     /* cancels the queries still out once done */
    GSource *cancel_watch; /* on the caller's cancellable, or NULL */
    guint timer;
    guint pending; /* pods not done */
    gboolean done;
};

static void
pod_query_free(PodQuery *query)
{
    g_object_unref(query->pod);
    g_clear_pointer(&query->cpus, json_node_unref);
    g_clear_pointer(&query->blocks, json_node_unref);
    g_clear_pointer(&query->networks, g_ptr_array_unref);
    g_free(query);
}

static void
collection_clear(Collection *c)
{
    g_clear_handle_id(&c->timer, g_source_remove);
    if (c->cancel_watch != NULL) {
        g_source_destroy(c->cancel_watch);
        g_source_unref(c->cancel_watch);
    }
    g_clear_object(&c->qmp);
    g_ptr_array_unref(c->queries);
    g_clear_pointer(&c->metrics, podvm_metrics_free);
    g_clear_object(&c->task);
}

static void
collection_release(Collection *c)
{
    g_rc_box_release_full(c, (GDestroyNotify)collection_clear);
}

/* Everything is in (or the time is up, or the caller cancelled): return the snapshot. */
static void
collection_done(Collection *c)
{
    g_autoptr(GTask) task = NULL;

    if (c->done)
        return;
    c->done = TRUE;
    /* Late answers are dropped by the QMP client. */
    g_cancellable_cancel(c->qmp);
    for (guint i = 0; i < c->queries->len; i++) {
        PodQuery *query = g_ptr_array_index(c->queries, i);
        PodvmPodMetrics *pm = query->pm;

        if (query->pending > 0)
            g_debug("metrics: pod '%s' did not answer within %u ms", pm->name,
                    PODVM_METRICS_QMP_TIMEOUT_MS);
        pm->scrape_error = query->failed || query->net_failed || query->pending > 0;
        if (!query->failed) {
            g_array_unref(pm->vcpu_times);
            pm->vcpu_times = vcpu_times_from_qmp(query->cpus, query->qemu_pid);
            g_ptr_array_unref(pm->blocks);
            pm->blocks = blocks_from_qmp(query->blocks);
        }
        /* Read now, with the vCPUs' times; a QEMU that is gone says -1. */
        pm->rss_bytes = podvm_host_process_rss_bytes(query->qemu_pid);
        pm->cpu_seconds = podvm_host_thread_cpu_seconds(query->qemu_pid, 0);
        if (query->balloon_ok)
            pm->balloon = query->balloon;
        if (query->networks != NULL) {
            g_ptr_array_unref(pm->networks);
            pm->networks = g_steal_pointer(&query->networks);
        }
    }
    g_clear_handle_id(&c->timer, g_source_remove);
    if (c->cancel_watch != NULL)
        g_source_destroy(c->cancel_watch);
    task = g_steal_pointer(&c->task);
    g_task_return_pointer(task, g_steal_pointer(&c->metrics), (GDestroyNotify)podvm_metrics_free);
}

static gboolean
collection_timeout_cb(gpointer user_data)
{
    Collection *c = user_data;

    c->timer = 0;
    collection_done(c);
    return G_SOURCE_REMOVE;
}

static gboolean
collection_cancelled_cb(GCancellable *cancellable, gpointer user_data)
{
    collection_done(user_data);
    return G_SOURCE_REMOVE;
}

/* The pod is done when its commands and its network counters are in. */
static void
query_answered(PodQuery *query)
{
    Collection *c = query->collection;

    if (--query->pending == 0 && --c->pending == 0)
        collection_done(c);
}

/* One command's answer. */
static void
query_reply(PodQuery *query, GObject *source, GAsyncResult *result, const char *command,
            JsonNode **out_reply)
{
    Collection *c = query->collection;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = podvm_pod_query_finish(PODVM_POD(source), result, &error);

    if (!c->done) {
        if (reply == NULL) {
            g_debug("metrics: pod '%s': %s: %s", query->pm->name, command, error->message);
            query->failed = TRUE;
        } else {
            *out_reply = g_steal_pointer(&reply);
        }
        query_answered(query);
    }
    collection_release(c);
}

static void
query_cpus_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodQuery *query = user_data;

    query_reply(query, source, result, "query-cpus-fast", &query->cpus);
}

static void
query_blocks_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodQuery *query = user_data;

    query_reply(query, source, result, "query-blockstats", &query->blocks);
}

static void
query_networks_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodQuery *query = user_data;
    Collection *c = query->collection;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) networks =
        podvm_pod_network_stats_finish(PODVM_POD(source), result, &error);

    if (!c->done) {
        if (networks == NULL) {
            g_debug("metrics: pod '%s': network counters: %s", query->pm->name, error->message);
            query->net_failed = TRUE;
        } else {
            query->networks = g_steal_pointer(&networks);
        }
        query_answered(query);
    }
    collection_release(c);
}

/* A balloon that failed costs only its own lines: not a scrape error (a QEMU of an older podvmd).
 */
static void
query_balloon_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodQuery *query = user_data;
    Collection *c = query->collection;
    g_autoptr(GError) error = NULL;
    PodvmBalloonStats stats;

    if (podvm_pod_balloon_stats_finish(PODVM_POD(source), result, &stats, &error)) {
        query->balloon = stats;
        query->balloon_ok = TRUE;
    } else if (!c->done) {
        g_debug("metrics: pod '%s': balloon: %s", query->pm->name, error->message);
    }
    if (!c->done)
        query_answered(query);
    collection_release(c);
}

void
podvm_metrics_collect_async(PodvmManager *manager, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(manager);
    guint host_cpus = podvm_manager_get_config(manager)->host_cpus;
    Collection *c = g_rc_box_new0(Collection);
    PodvmMetrics *metrics = g_new0(PodvmMetrics, 1);

    /* No check of @cancellable on return: a cancelled collection returns what it has. */
    c->task = g_task_new(manager, NULL, callback, user_data);
    g_task_set_source_tag(c->task, podvm_metrics_collect_async);
    c->queries = g_ptr_array_new_with_free_func((GDestroyNotify)pod_query_free);
    c->qmp = g_cancellable_new();
    c->metrics = metrics;

    podvm_pod_get_qmp_latency(&metrics->qmp_latency);
    metrics->node = g_strdup(g_get_host_name());
    metrics->pods = g_ptr_array_new_with_free_func((GDestroyNotify)pod_metrics_free);
    for (guint i = 0; i < pods->len; i++) {
        PodvmPod *pod = g_ptr_array_index(pods, i);
        const PodvmSpec *spec = podvm_pod_get_spec(pod);
        PodvmPodMetrics *pm = g_new0(PodvmPodMetrics, 1);

        pm->name = g_strdup(podvm_pod_get_name(pod));
        pm->uid = g_strdup(spec->uid != NULL ? spec->uid : "");
        pm->kind = spec->source_kind != NULL ? spec->source_kind : "Pod";
        pm->rss_bytes = -1;
        pm->cpu_seconds = -1;
        pm->has_balloon = podvm_qemu_has_balloon(spec);
        for (guint s = 0; s < PODVM_BALLOON_N_STATS; s++)
            pm->balloon.values[s] = -1;
        pm->phase = podvm_pod_get_phase(pod);
        pm->vcpus = podvm_spec_resolve_vcpus(spec, host_cpus);
        pm->memory_bytes = podvm_spec_resolve_memory(spec);
        pm->restarts = podvm_pod_get_restart_count(pod);
        pm->running_seconds = podvm_pod_get_running_seconds(pod);
        pm->vcpu_times = g_array_new(FALSE, FALSE, sizeof(PodvmVcpuTime));
        pm->blocks = g_ptr_array_new_with_free_func((GDestroyNotify)block_stats_free);
        pm->networks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_pod_network_stats_free);
        metrics->pods_by_phase[pm->phase]++;
        g_ptr_array_add(metrics->pods, pm);
        if (pm->phase == PODVM_PHASE_RUNNING || pm->phase == PODVM_PHASE_PAUSED) {
            PodQuery *query = g_new0(PodQuery, 1);

            pm->asked = TRUE;
            query->collection = c;
            query->pod = g_object_ref(pod);
            query->pm = pm;
            query->qemu_pid = podvm_pod_get_qemu_pid(pod);
            query->pending = pm->has_balloon ? 4 : 3;
            g_ptr_array_add(c->queries, query);
        }
    }
    if (c->queries->len == 0) {
        collection_done(c);
        collection_release(c);
        return;
    }
    c->pending = c->queries->len;
    c->timer =
        g_timeout_add_full(G_PRIORITY_DEFAULT, PODVM_METRICS_QMP_TIMEOUT_MS, collection_timeout_cb,
                           g_rc_box_acquire(c), (GDestroyNotify)collection_release);
    if (cancellable != NULL) {
        c->cancel_watch = g_cancellable_source_new(cancellable);
        g_source_set_callback(c->cancel_watch, G_SOURCE_FUNC(collection_cancelled_cb),
                              g_rc_box_acquire(c), (GDestroyNotify)collection_release);
        g_source_attach(c->cancel_watch, g_main_context_get_thread_default());
    }
    for (guint i = 0; i < c->queries->len; i++) {
        PodQuery *query = g_ptr_array_index(c->queries, i);

        g_rc_box_acquire(c);
        podvm_pod_query_async(query->pod, "query-cpus-fast", c->qmp, query_cpus_cb, query);
        g_rc_box_acquire(c);
        podvm_pod_query_async(query->pod, "query-blockstats", c->qmp, query_blocks_cb, query);
        g_rc_box_acquire(c);
        podvm_pod_network_stats_async(query->pod, c->qmp, query_networks_cb, query);
        if (query->pm->has_balloon) {
            g_rc_box_acquire(c);
            podvm_pod_balloon_stats_async(query->pod, c->qmp, query_balloon_cb, query);
        }
    }
    collection_release(c);
}

PodvmMetrics *
podvm_metrics_collect_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(G_IS_TASK(result), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
