/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "bench-util.h"
#include "podvm-dhcp.h"
#include "podvm-netlink.h"
#include "podvm-qmp-client.h"
#include "podvm-test-daemon.h"
#include "podvm-test-outside.h"

G_BEGIN_DECLS

/* What bench-net.c and bench-net-hotplug.c share (see bench-net.c). */

typedef enum {
    SIDE_MASQUERADE,
    SIDE_BRIDGE,
    SIDE_SLIRP,
    SIDE_BARE,
    N_SIDES,
} Side;

#define N_PODS SIDE_BARE

/* podvmd's start, from the pod's events: call -> "preparing", -> "QEMU started", -> Running. */
typedef enum {
    START_IN,
    START_NET,
    START_QEMU,
    N_START_PHASES,
} StartPhase;

/* podvmd's attach: call -> "attaching", -> "adding" (CNI), -> "attached", -> reply. */
typedef enum {
    ATTACH_IN,
    ATTACH_PREP,
    ATTACH_NET_QMP,
    ATTACH_OUT,
    N_ATTACH_PHASES,
} AttachPhase;

/* podvmd's detach: call -> "detaching", -> "detached" (guest, QMP, CNI DEL), -> reply. */
typedef enum {
    DETACH_IN,
    DETACH_WORK,
    DETACH_OUT,
    N_DETACH_PHASES,
} DetachPhase;

typedef struct {
    GArray *running[N_SIDES]; /* start -> Running (podvmd) / cont answered (bare), ms */
    GArray *lease[N_SIDES];   /* start -> "PODVM-NET eth0 up", ms */
    GArray *start_phases[N_PODS][N_START_PHASES];
    GArray *throughput[N_SIDES]; /* Mbit/s, first byte to last */
    GArray *attach[2];           /* [0] podvmd AttachInterface, [1] raw QMP; ms */
    GArray *detach[2];
    GArray *attach_phases[N_ATTACH_PHASES];
    GArray *detach_phases[N_DETACH_PHASES];
    GArray *raw_getfd;    /* getfd alone */
    GArray *raw_release;  /* device_del -> DEVICE_DELETED */
    GArray *raw_tap_open; /* opening a tap (untimed in the raw attach) */
    GArray *cni_add;      /* the "extra" conflist's plugins, ADD and DEL, run directly */
    GArray *cni_del;
} Figures;

typedef struct {
    BenchQemu qemu;
    PodvmQmpClient *qmp;
    char *qemu_version;
    const char *awaited_device; /* the id a DEVICE_DELETED is awaited for, or NULL */
    gint64 deleted_at;          /* monotonic time of that event; 0 until seen */
} BareVm;

typedef struct {
    PodvmTestDaemon *daemon;
    char *work_dir;
    char *cni_dir;
    PodvmTestOutside *outside;
    PodvmNl *nl;
    int tap_fd;     /* the bare QEMU's tap on podvm0, kept open across its starts */
    int hot_tap_fd; /* the tap the raw hotplug passes */
    PodvmDhcpServer *dhcp;
    PodvmDBusPod *pods[N_PODS];
    char *console_logs[N_PODS];
    BareVm *bare;
    guint bare_starts;
    char *bare_args;            /* the bare guest's kernel command line additions */
    char *push_failed[N_SIDES]; /* why a side's push did not come, or NULL */
    GPtrArray *events;          /* PodEvent since the last podvmd call began */
    guint lease_runs, push_runs, hotplug_runs, push_mib;
    gboolean verbose;
    Figures figures;
} Bench;

typedef struct {
    char *type;
    char *message;
    gint64 time_us; /* wall clock, podvmd's */
} PodEvent;

/* bench-net.c */
void run_main_loop_for(guint ms);
gboolean pod_call(Bench *b, Side side, const char *method, GVariant *parameters, GError **error);
gint64 event_time(Bench *b, const char *type, const char *message);
gboolean bare_qmp(BareVm *vm, const char *command, JsonNode *arguments, GUnixFDList *fds,
                  GError **error);

/* bench-net-hotplug.c: the NIC rounds (masquerade pod and bare QEMU running), CNI alone. */
gboolean run_hotplug(Bench *b, GError **error);
gboolean run_cni_alone(Bench *b, GError **error);

G_END_DECLS
