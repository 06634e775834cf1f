/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /metrics: the core's snapshot (podvm-metrics.c) and the front's own
 * request counters as Prometheus text.
 */
#include "podvm-rest-private.h"

#include "podvm-build-config.h"
#include "podvm-metrics.h"

/* ---- metrics: the core's snapshot as Prometheus text ------------------------------ */

static int
compare_uint(gconstpointer a, gconstpointer b)
{
    guint x = GPOINTER_TO_UINT(*(gconstpointer *)a), y = GPOINTER_TO_UINT(*(gconstpointer *)b);

    return x < y ? -1 : x > y;
}

/* A Prometheus label value: backslash, double quote and line feed escaped. */
static char *
label_value(const char *text)
{
    GString *out = g_string_new(NULL);

    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            g_string_append_c(out, '\\');
        if (*p == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *p);
    }
    return g_string_free(out, FALSE);
}

static void
append_qmp_latency(GString *out, const PodvmQmpLatency *latency)
{
    char number[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append(out, "# HELP podvm_qmp_command_duration_seconds Time from sending a QMP "
                         "command to its reply, over every pod.\n"
                         "# TYPE podvm_qmp_command_duration_seconds histogram\n");
    for (guint i = 0; i < PODVM_QMP_LATENCY_BUCKETS; i++)
        g_string_append_printf(
            out, "podvm_qmp_command_duration_seconds_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n",
            g_ascii_formatd(number, sizeof number, "%g", latency->bounds[i]),
            latency->cumulative[i]);
    g_string_append_printf(
        out, "podvm_qmp_command_duration_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
        latency->count);
    g_string_append_printf(out, "podvm_qmp_command_duration_seconds_sum %s\n",
                           g_ascii_formatd(number, sizeof number, "%.6f", latency->sum_seconds));
    g_string_append_printf(out, "podvm_qmp_command_duration_seconds_count %" G_GUINT64_FORMAT "\n",
                           latency->count);
}

/* The labels that name a pod on every per-pod line: name="...",namespace="..." (KubeVirt's). */
static char *
pod_labels(const PodvmPodMetrics *pm)
{
    g_autofree char *name = label_value(pm->name);

    return g_strdup_printf("name=\"%s\",namespace=\"%s\"", name, PODVM_METRICS_NAMESPACE);
}

static void
append_header(GString *out, const char *metric, const char *type, const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

/* One sample: metric{labels} value, the value formatted with @format ("%.0f", "%.3f"). */
static void
append_sample(GString *out, const char *metric, const char *labels, const char *format,
              double value)
{
    char number[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append_printf(out, "%s{%s} %s\n", metric, labels,
                           g_ascii_formatd(number, sizeof number, format, value));
}

/* One info line per pod (KubeVirt's kubevirt_vmi_info): what to join other series with. */
static void
append_pod_info(GString *out, const PodvmMetrics *metrics)
{
    g_autofree char *node = label_value(metrics->node);

    append_header(out, "podvm_pod_info", "gauge",
                  "The pod: its uid, phase, kind (of the document it was created from) and "
                  "node (this host), always 1.");
    for (guint i = 0; i < metrics->pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(metrics->pods, i);
        g_autofree char *labels = pod_labels(pm);
        g_autofree char *uid = label_value(pm->uid);
        g_autofree char *kind = label_value(pm->kind);

        g_string_append_printf(
            out, "podvm_pod_info{%s,uid=\"%s\",phase=\"%s\",kind=\"%s\",node=\"%s\"} 1\n", labels,
            uid, podvm_phase_to_string(pm->phase), kind, node);
    }
}

/* Per pod, from what podvmd knows already. */
static void
append_pod_gauges(GString *out, GPtrArray *pods)
{
    static const struct {
        const char *metric, *type, *help;
    } gauges[] = {
        { "podvm_pod_vcpus", "gauge", "vCPUs of the pod's VM (from the spec)." },
        { "podvm_pod_memory_bytes", "gauge", "Memory of the pod's VM (from the spec)." },
        { "podvm_pod_restarts_total", "counter", "Restarts by the pod's restart policy." },
        { "podvm_pod_running_seconds", "gauge",
          "Seconds since the pod became Running (0 when not)." },
    };

    for (guint metric = 0; metric < G_N_ELEMENTS(gauges); metric++) {
        append_header(out, gauges[metric].metric, gauges[metric].type, gauges[metric].help);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *labels = pod_labels(pm);
            double value = metric == 0   ? pm->vcpus
                           : metric == 1 ? (double)pm->memory_bytes
                           : metric == 2 ? pm->restarts
                                         : pm->running_seconds;

            append_sample(out, gauges[metric].metric, labels, metric == 3 ? "%.3f" : "%.0f", value);
        }
    }
}

/* The pod's QEMU as the host sees it (/proc): resident memory and CPU time, all threads. */
static void
append_qemu_process(GString *out, GPtrArray *pods)
{
    append_header(out, "podvm_pod_memory_resident_bytes", "gauge",
                  "Resident memory (RSS) of the pod's QEMU process.");
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *labels = NULL;

        if (pm->rss_bytes < 0)
            continue;
        labels = pod_labels(pm);
        append_sample(out, "podvm_pod_memory_resident_bytes", labels, "%.0f",
                      (double)pm->rss_bytes);
    }
    append_header(out, "podvm_pod_cpu_usage_seconds_total", "counter",
                  "CPU time (user + system) of the pod's QEMU process, all its threads "
                  "(vCPUs, I/O, emulation).");
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *labels = NULL;

        if (pm->cpu_seconds < 0)
            continue;
        labels = pod_labels(pm);
        append_sample(out, "podvm_pod_cpu_usage_seconds_total", labels, "%.2f", pm->cpu_seconds);
    }
}

static void
append_vcpu_seconds(GString *out, GPtrArray *pods)
{
    append_header(out, "podvm_pod_vcpu_seconds_total", "counter",
                  "CPU time (user + system) of each vCPU thread of the pod's QEMU.");
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *name = pod_labels(pm);

        for (guint j = 0; j < pm->vcpu_times->len; j++) {
            PodvmVcpuTime *time = &g_array_index(pm->vcpu_times, PodvmVcpuTime, j);
            g_autofree char *labels =
                g_strdup_printf("%s,vcpu=\"%" G_GINT64_FORMAT "\"", name, time->index);

            append_sample(out, "podvm_pod_vcpu_seconds_total", labels, "%.2f", time->seconds);
        }
    }
}

/* The guest's memory from its balloon driver (KubeVirt's kubevirt_vmi_memory_*). */
static void
append_balloon(GString *out, GPtrArray *pods)
{
    static const struct {
        const char *metric, *type, *help;
    } stats[PODVM_BALLOON_N_STATS] = {
        [PODVM_BALLOON_ACTUAL] = { "podvm_pod_memory_actual_balloon_bytes", "gauge",
                                   "Memory the guest has, the balloon's taken out." },
        [PODVM_BALLOON_TOTAL] = { "podvm_pod_memory_available_bytes", "gauge",
                                  "Memory the guest's kernel sees (its total)." },
        [PODVM_BALLOON_FREE] = { "podvm_pod_memory_unused_bytes", "gauge",
                                 "Memory the guest leaves unused (its free memory)." },
        [PODVM_BALLOON_AVAILABLE] = { "podvm_pod_memory_usable_bytes", "gauge",
                                      "Memory the guest could use without swapping (its "
                                      "available memory: free and reclaimable)." },
        [PODVM_BALLOON_DISK_CACHES] = { "podvm_pod_memory_cached_bytes", "gauge",
                                        "Memory the guest uses for its disk caches." },
        [PODVM_BALLOON_SWAP_IN] = { "podvm_pod_memory_swap_in_bytes_total", "counter",
                                    "Memory the guest swapped in." },
        [PODVM_BALLOON_SWAP_OUT] = { "podvm_pod_memory_swap_out_bytes_total", "counter",
                                     "Memory the guest swapped out." },
        [PODVM_BALLOON_MAJOR_FAULTS] = { "podvm_pod_memory_pgmajfault_total", "counter",
                                         "Major page faults in the guest." },
        [PODVM_BALLOON_MINOR_FAULTS] = { "podvm_pod_memory_pgminfault_total", "counter",
                                         "Minor page faults in the guest." },
    };

    for (guint s = 0; s < PODVM_BALLOON_N_STATS; s++) {
        g_autofree char *help = g_strdup_printf(
            "%s From the guest's virtio-balloon driver (QEMU's guest-stats, polled every %u s; "
            "none until the guest's driver reported).",
            stats[s].help, PODVM_BALLOON_POLL_SECONDS);

        append_header(out, stats[s].metric, stats[s].type, help);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *labels = NULL;

            if (!pm->has_balloon || pm->balloon.values[s] < 0)
                continue;
            labels = pod_labels(pm);
            append_sample(out, stats[s].metric, labels, "%.0f", (double)pm->balloon.values[s]);
        }
    }
}

static void
append_block_counters(GString *out, GPtrArray *pods)
{
    static const struct {
        const char *metric;
        const char *help;
    } counters[PODVM_BLOCK_N_COUNTERS] = {
        [PODVM_BLOCK_READ_BYTES] = { "podvm_pod_block_read_bytes_total",
                                     "Bytes read by the guest" },
        [PODVM_BLOCK_WRITE_BYTES] = { "podvm_pod_block_write_bytes_total",
                                      "Bytes written by the guest" },
        [PODVM_BLOCK_READ_OPERATIONS] = { "podvm_pod_block_read_operations_total",
                                          "Read requests" },
        [PODVM_BLOCK_WRITE_OPERATIONS] = { "podvm_pod_block_write_operations_total",
                                           "Write requests" },
        [PODVM_BLOCK_FLUSH_OPERATIONS] = { "podvm_pod_block_flush_operations_total",
                                           "Flush requests" },
        [PODVM_BLOCK_READ_TIME_NS] = { "podvm_pod_block_read_time_seconds_total",
                                       "Time the read requests took, summed (divided by the "
                                       "read requests: their mean latency)" },
        [PODVM_BLOCK_WRITE_TIME_NS] = { "podvm_pod_block_write_time_seconds_total",
                                        "Time the write requests took, summed" },
        [PODVM_BLOCK_FLUSH_TIME_NS] = { "podvm_pod_block_flush_time_seconds_total",
                                        "Time the flush requests took, summed" },
    };

    for (guint c = 0; c < PODVM_BLOCK_N_COUNTERS; c++) {
        gboolean ns = c >= PODVM_BLOCK_READ_TIME_NS;
        g_autofree char *help =
            g_strdup_printf("%s, per block device (QMP query-blockstats).", counters[c].help);

        append_header(out, counters[c].metric, "counter", help);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *name = pod_labels(pm);

            for (guint j = 0; j < pm->blocks->len; j++) {
                PodvmBlockStats *block = g_ptr_array_index(pm->blocks, j);
                g_autofree char *drive = NULL;
                g_autofree char *labels = NULL;

                if (block->counters[c] < 0)
                    continue;
                drive = label_value(block->drive);
                labels = g_strdup_printf("%s,drive=\"%s\"", name, drive);
                append_sample(out, counters[c].metric, labels, ns ? "%.9f" : "%.0f",
                              ns ? (double)block->counters[c] / 1e9 : (double)block->counters[c]);
            }
        }
    }
}

/* Per interface with a tap, as the guest sees it (KubeVirt's kubevirt_vmi_network_*). */
static void
append_network_counters(GString *out, GPtrArray *pods)
{
    static const struct {
        const char *metric;
        const char *help;
        gsize offset;
    } counters[] = {
        { "podvm_pod_network_receive_bytes_total", "Bytes received by the guest",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, rx_bytes) },
        { "podvm_pod_network_receive_packets_total", "Packets received by the guest",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, rx_packets) },
        { "podvm_pod_network_receive_errors_total", "Receive errors",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, rx_errors) },
        { "podvm_pod_network_receive_packets_dropped_total",
          "Packets dropped on their way to the guest",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, rx_dropped) },
        { "podvm_pod_network_transmit_bytes_total", "Bytes sent by the guest",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, tx_bytes) },
        { "podvm_pod_network_transmit_packets_total", "Packets sent by the guest",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, tx_packets) },
        { "podvm_pod_network_transmit_errors_total", "Transmit errors",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, tx_errors) },
        { "podvm_pod_network_transmit_packets_dropped_total",
          "Packets the guest sent that were dropped",
          G_STRUCT_OFFSET(PodvmPodNetworkStats, tx_dropped) },
    };

    for (guint c = 0; c < G_N_ELEMENTS(counters); c++) {
        g_autofree char *help = g_strdup_printf(
            "%s, per interface (its tap in the pod's network namespace: masquerade and bridge "
            "bindings only; slirp, passt and sriov interfaces have none).",
            counters[c].help);

        append_header(out, counters[c].metric, "counter", help);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *name = pod_labels(pm);

            for (guint j = 0; j < pm->networks->len; j++) {
                PodvmPodNetworkStats *stats = g_ptr_array_index(pm->networks, j);
                g_autofree char *iface = label_value(stats->interface);
                guint64 value = G_STRUCT_MEMBER(guint64, stats, counters[c].offset);

                g_string_append_printf(out, "%s{%s,interface=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                       counters[c].metric, name, iface, value);
            }
        }
    }
}

static void
append_scrape_errors(GString *out, GPtrArray *pods)
{
    g_autofree char *help = g_strdup_printf(
        "1 when the pod's QEMU failed or did not answer within %u ms, or its network counters "
        "could not be read in that time: its vCPU, block or network lines are missing.",
        PODVM_METRICS_QMP_TIMEOUT_MS);

    append_header(out, "podvm_pod_scrape_error", "gauge", help);
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *labels = NULL;

        if (!pm->asked)
            continue;
        labels = pod_labels(pm);
        g_string_append_printf(out, "podvm_pod_scrape_error{%s} %d\n", labels,
                               pm->scrape_error ? 1 : 0);
    }
}

/* The front's own counters: REST requests answered, by status. */
static char *
rest_requests_text(PodvmRestFront *self)
{
    g_autoptr(GPtrArray) codes = g_ptr_array_new();
    GString *out = g_string_new(NULL);
    GHashTableIter iter;
    gpointer key;

    g_string_append(out, "# HELP podvm_rest_requests_total REST requests answered, by status.\n"
                         "# TYPE podvm_rest_requests_total counter\n");
    g_hash_table_iter_init(&iter, self->status_counts);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(codes, key);
    g_ptr_array_sort(codes, compare_uint);
    for (guint i = 0; i < codes->len; i++) {
        gpointer count = g_hash_table_lookup(self->status_counts, codes->pdata[i]);
        g_string_append_printf(out, "podvm_rest_requests_total{code=\"%u\"} %u\n",
                               GPOINTER_TO_UINT(codes->pdata[i]), GPOINTER_TO_UINT(count));
    }
    return g_string_free(out, FALSE);
}

static char *
metrics_text(const PodvmMetrics *metrics, const char *rest_requests)
{
    GString *out = g_string_new(NULL);

    g_string_append(out, "# HELP podvm_build_info The running podvmd.\n"
                         "# TYPE podvm_build_info gauge\n");
    g_string_append_printf(out, "podvm_build_info{version=\"%s\"} 1\n", PODVM_VERSION);
    g_string_append(out, "# HELP podvm_pods Pods by phase.\n# TYPE podvm_pods gauge\n");
    for (int phase = PODVM_PHASE_PENDING; phase < PODVM_N_PHASES; phase++)
        g_string_append_printf(out, "podvm_pods{phase=\"%s\"} %u\n", podvm_phase_to_string(phase),
                               metrics->pods_by_phase[phase]);
    g_string_append(out, rest_requests);
    append_qmp_latency(out, &metrics->qmp_latency);
    append_pod_info(out, metrics);
    append_pod_gauges(out, metrics->pods);
    append_qemu_process(out, metrics->pods);
    append_vcpu_seconds(out, metrics->pods);
    append_balloon(out, metrics->pods);
    append_block_counters(out, metrics->pods);
    append_network_counters(out, metrics->pods);
    append_scrape_errors(out, metrics->pods);
    return g_string_free(out, FALSE);
}

/* One GET /metrics waiting for the core's snapshot. */
typedef struct {
    PodvmRestFront *front; /* unowned; NULL once the front is gone */
    Request *req;          /* owned */
    char *rest_requests;   /* the front's counters as they were when asked */
    GCancellable *cancellable;
} Scrape;

static void
scrape_free(Scrape *scrape)
{
    podvm_rest_request_unref(scrape->req);
    g_free(scrape->rest_requests);
    g_object_unref(scrape->cancellable);
    g_free(scrape);
}

static void
metrics_collected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Scrape *scrape = user_data;
    g_autoptr(PodvmMetrics) metrics = podvm_metrics_collect_finish(result, NULL);

    if (scrape->front != NULL)
        g_ptr_array_remove_fast(scrape->front->scrapes, scrape);
    podvm_rest_respond_text(scrape->req, SOUP_STATUS_OK, "text/plain; version=0.0.4",
                            metrics_text(metrics, scrape->rest_requests));
    podvm_rest_resume(scrape->req);
    scrape_free(scrape);
}

void
podvm_rest_handle_metrics(Request *req)
{
    Scrape *scrape = g_new0(Scrape, 1);

    scrape->front = req->front;
    scrape->req = podvm_rest_request_ref(req);
    scrape->rest_requests = rest_requests_text(req->front);
    scrape->cancellable = g_cancellable_new();
    g_ptr_array_add(req->front->scrapes, scrape);
    soup_server_message_pause(req->msg);
    podvm_metrics_collect_async(req->front->manager, scrape->cancellable, metrics_collected_cb,
                                scrape);
}

void
podvm_rest_count_status(PodvmRestFront *self, guint status)
{
    gpointer count = g_hash_table_lookup(self->status_counts, GUINT_TO_POINTER(status));

    g_hash_table_insert(self->status_counts, GUINT_TO_POINTER(status),
                        GUINT_TO_POINTER(GPOINTER_TO_UINT(count) + 1));
}

/* The front goes: scrapes still waiting answer with what they have. */
void
podvm_rest_scrapes_abandon(PodvmRestFront *self)
{
    while (self->scrapes != NULL && self->scrapes->len > 0) {
        Scrape *scrape = g_ptr_array_steal_index_fast(self->scrapes, 0);
        scrape->front = NULL;
        g_cancellable_cancel(scrape->cancellable);
    }
}
