/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-manager.h"
#include "podvm-pod.h"

G_BEGIN_DECLS

/*
 * What /metrics shows, collected by the core: a snapshot of every pod (from
 * what podvmd knows, and from each running QEMU over the core's own QMP
 * queries, never the passthrough) and of the QMP latency histogram. The
 * fronts only format it.
 */

/*
 * How long a collection waits for the QEMUs (and the pods' network
 * counters). All pods are asked at once, so this bounds the whole
 * collection: a wedged QEMU costs its own counters (and sets its
 * scrape_error), never the answer.
 */
#define PODVM_METRICS_QMP_TIMEOUT_MS 500

/* The block counters of query-blockstats, in the order /metrics shows them. */
typedef enum {
    PODVM_BLOCK_READ_BYTES,
    PODVM_BLOCK_WRITE_BYTES,
    PODVM_BLOCK_READ_OPERATIONS,
    PODVM_BLOCK_WRITE_OPERATIONS,
    PODVM_BLOCK_FLUSH_OPERATIONS,
    PODVM_BLOCK_READ_TIME_NS, /* the time the reads took, summed */
    PODVM_BLOCK_WRITE_TIME_NS,
    PODVM_BLOCK_FLUSH_TIME_NS,
    PODVM_BLOCK_N_COUNTERS,
} PodvmBlockCounter;

typedef struct {
    gint64 index;   /* QEMU's cpu-index */
    double seconds; /* CPU time (user + system) of the vCPU thread */
} PodvmVcpuTime;

typedef struct {
    char *drive;                             /* the spec's disk name, else QEMU's name */
    gint64 counters[PODVM_BLOCK_N_COUNTERS]; /* -1 when QEMU did not say */
} PodvmBlockStats;

/*
 * The namespace label of every pod (KubeVirt's kubevirt_vmi_* carry the
 * VMI's namespace): podvm has no namespaces (metadata.namespace is
 * dropped), so every pod is in the one Kubernetes calls "default".
 */
#define PODVM_METRICS_NAMESPACE "default"

typedef struct {
    char *name;
    char *uid;
    const char *kind; /* the document's kind: "Pod", "VirtualMachineInstance", ... */
    PodvmPhase phase;
    guint vcpus;          /* from the spec */
    guint64 memory_bytes; /* from the spec */
    guint restarts;       /* by the restart policy */
    double running_seconds;
    /* Counters of the pod's QEMU, asked only when it is Running or Paused. */
    gboolean asked;
    gboolean scrape_error; /* QEMU failed or did not answer in time */
    GArray *vcpu_times;    /* PodvmVcpuTime, in QEMU's order */
    gint64 rss_bytes;      /* QEMU's resident memory (/proc), -1 when not known */
    double cpu_seconds;    /* QEMU's CPU time, every thread (/proc), -1 when not known */
    gboolean has_balloon;  /* the pod's VM has a balloon: balloon is its guest's view */
    PodvmBalloonStats balloon;
    GPtrArray *blocks; /* PodvmBlockStats*, in QEMU's order */
    /*
     * PodvmPodNetworkStats*, from the pod's namespace (podvm_pod_network_stats_async()):
     * interfaces bound through a tap only (masquerade, bridge).
     */
    GPtrArray *networks;
} PodvmPodMetrics;

typedef struct {
    char *node; /* this host's name (KubeVirt's node label) */
    guint pods_by_phase[PODVM_N_PHASES];
    PodvmQmpLatency qmp_latency;
    GPtrArray *pods; /* PodvmPodMetrics*, sorted by name */
} PodvmMetrics;

void podvm_metrics_free(PodvmMetrics *metrics);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmMetrics, podvm_metrics_free)

/* The name of a query-blockstats counter ("rd_bytes", ...). */
const char *podvm_block_counter_qmp_name(PodvmBlockCounter counter);

/*
 * Collects a snapshot: asks every pod with a live QEMU for its vCPUs,
 * block counters and balloon statistics, reads its QEMU's RSS and CPU time, and reads its
 * interfaces' counters in its network namespace, all at once, and completes when all are in or
 * PODVM_METRICS_QMP_TIMEOUT_MS is up. Cancelling @cancellable completes it
 * at once with what it has (never an error).
 */
void podvm_metrics_collect_async(PodvmManager *manager, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
PodvmMetrics *podvm_metrics_collect_finish(GAsyncResult *result, GError **error);

G_END_DECLS
