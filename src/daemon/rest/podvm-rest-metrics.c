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

/* Per pod, from what podvmd knows already. */
static void
append_pod_gauges(GString *out, GPtrArray *pods)
{
    static const char *const headers[] = {
        "# HELP podvm_pod_vcpus vCPUs of the pod's VM (from the spec).\n"
        "# TYPE podvm_pod_vcpus gauge\n",
        "# HELP podvm_pod_memory_bytes Memory of the pod's VM (from the spec).\n"
        "# TYPE podvm_pod_memory_bytes gauge\n",
        "# HELP podvm_pod_restarts_total Restarts by the pod's restart policy.\n"
        "# TYPE podvm_pod_restarts_total counter\n",
        "# HELP podvm_pod_running_seconds Seconds since the pod became Running (0 when not).\n"
        "# TYPE podvm_pod_running_seconds gauge\n",
    };
    char number[G_ASCII_DTOSTR_BUF_SIZE];

    for (guint metric = 0; metric < G_N_ELEMENTS(headers); metric++) {
        g_string_append(out, headers[metric]);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *name = label_value(pm->name);

            switch (metric) {
            case 0:
                g_string_append_printf(out, "podvm_pod_vcpus{pod=\"%s\"} %u\n", name, pm->vcpus);
                break;
            case 1:
                g_string_append_printf(out,
                                       "podvm_pod_memory_bytes{pod=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                       name, pm->memory_bytes);
                break;
            case 2:
                g_string_append_printf(out, "podvm_pod_restarts_total{pod=\"%s\"} %u\n", name,
                                       pm->restarts);
                break;
            default:
                g_string_append_printf(
                    out, "podvm_pod_running_seconds{pod=\"%s\"} %s\n", name,
                    g_ascii_formatd(number, sizeof number, "%.3f", pm->running_seconds));
                break;
            }
        }
    }
}

static void
append_vcpu_seconds(GString *out, GPtrArray *pods)
{
    char number[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append(out, "# HELP podvm_pod_vcpu_seconds_total CPU time (user + system) of each "
                         "vCPU thread of the pod's QEMU.\n"
                         "# TYPE podvm_pod_vcpu_seconds_total counter\n");
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *name = label_value(pm->name);

        for (guint j = 0; j < pm->vcpu_times->len; j++) {
            PodvmVcpuTime *time = &g_array_index(pm->vcpu_times, PodvmVcpuTime, j);

            g_string_append_printf(
                out, "podvm_pod_vcpu_seconds_total{pod=\"%s\",vcpu=\"%" G_GINT64_FORMAT "\"} %s\n",
                name, time->index, g_ascii_formatd(number, sizeof number, "%.2f", time->seconds));
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
    };

    for (guint c = 0; c < PODVM_BLOCK_N_COUNTERS; c++) {
        g_string_append_printf(out,
                               "# HELP %s %s, per block device (QMP query-blockstats).\n"
                               "# TYPE %s counter\n",
                               counters[c].metric, counters[c].help, counters[c].metric);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *name = label_value(pm->name);

            for (guint j = 0; j < pm->blocks->len; j++) {
                PodvmBlockStats *block = g_ptr_array_index(pm->blocks, j);
                g_autofree char *label = NULL;

                if (block->counters[c] < 0)
                    continue;
                label = label_value(block->drive);
                g_string_append_printf(out, "%s{pod=\"%s\",drive=\"%s\"} %" G_GINT64_FORMAT "\n",
                                       counters[c].metric, name, label, block->counters[c]);
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
    } counters[] = {
        { "podvm_pod_network_receive_bytes_total", "Bytes received by the guest" },
        { "podvm_pod_network_receive_packets_total", "Packets received by the guest" },
        { "podvm_pod_network_transmit_bytes_total", "Bytes sent by the guest" },
        { "podvm_pod_network_transmit_packets_total", "Packets sent by the guest" },
    };

    for (guint c = 0; c < G_N_ELEMENTS(counters); c++) {
        g_string_append_printf(out,
                               "# HELP %s %s, per interface (its tap in the pod's network "
                               "namespace: masquerade and bridge bindings only; slirp, passt "
                               "and sriov interfaces have none).\n"
                               "# TYPE %s counter\n",
                               counters[c].metric, counters[c].help, counters[c].metric);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *name = label_value(pm->name);

            for (guint j = 0; j < pm->networks->len; j++) {
                PodvmPodNetworkStats *stats = g_ptr_array_index(pm->networks, j);
                g_autofree char *label = label_value(stats->interface);
                guint64 value = c == 0   ? stats->rx_bytes
                                : c == 1 ? stats->rx_packets
                                : c == 2 ? stats->tx_bytes
                                         : stats->tx_packets;

                g_string_append_printf(out,
                                       "%s{pod=\"%s\",interface=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                       counters[c].metric, name, label, value);
            }
        }
    }
}

static void
append_scrape_errors(GString *out, GPtrArray *pods)
{
    g_string_append_printf(out,
                           "# HELP podvm_pod_scrape_error 1 when the pod's QEMU failed or did not "
                           "answer within %u ms, or its network counters could not be read in "
                           "that time: its vCPU, block or network lines are missing.\n"
                           "# TYPE podvm_pod_scrape_error gauge\n",
                           PODVM_METRICS_QMP_TIMEOUT_MS);
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *name = NULL;

        if (!pm->asked)
            continue;
        name = label_value(pm->name);
        g_string_append_printf(out, "podvm_pod_scrape_error{pod=\"%s\"} %d\n", name,
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
    append_pod_gauges(out, metrics->pods);
    append_vcpu_seconds(out, metrics->pods);
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
