/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The pod's network (podvm-pod-net.c), for the pod's other files: its
 * namespace, each interface's CNI attachment (stored with the pod, so DEL
 * works after a restart), the bindings inside the namespace and the
 * DHCP/RA servers that answer the guest. Nothing else includes this.
 */
#include "podvm-cni.h"
#include "podvm-dhcp.h"
#include "podvm-binding.h"
#include "podvm-pod-private.h"
#include "podvm-sriov.h"
#include "podvm-qemu-nics.h"

G_BEGIN_DECLS

/* One interface's attachment, as stored. */
typedef struct {
    char *iface;      /* the spec interface */
    guint slot;       /* names inside the namespace: eth0/netN, pvbrN, pvtapN */
    char *pod_ifname; /* "eth0", "net1" */
    char *network;    /* the CNI network's name, or the SR-IOV pool's */
    char *conflist;   /* the conflist ADD ran with, for DEL; NULL for SR-IOV */
    char *result;     /* the CNI result; NULL until ADD completed */
    gboolean added;   /* ADD was started: DEL is owed */
    char *vf;         /* SR-IOV: the VF claimed; NULL otherwise */
} PodNetAttachment;

typedef struct _PodNet {
    char *netns_path;
    GPtrArray *attachments; /* of PodNetAttachment* */
    GHashTable *servers;    /* iface -> PodNetServers* */
    gboolean releasing;
    gboolean whole_pending;     /* a whole release was asked for while one interface was released */
    GPtrArray *after_release;   /* of GTask*: prepares waiting for the release */
    GPtrArray *release_waiters; /* of GTask*: releases asked for while one ran */
    GPtrArray *orphan_netdevs;  /* of char*: interfaces whose netdev QEMU may hold, unrecorded */
} PodNet;

/* Shared by the podvm-pod-net*.c files. */
PodNetAttachment *pod_net_find_attachment(PodNet *net, const char *iface);
/* The stored CNI result, parsed; NULL when there is none. */
PodvmCniResult *pod_net_parse_result(const PodNetAttachment *a);
/* The result's addresses ("10.66.0.5/16"), NULL-terminated. */
GStrv pod_net_result_addresses(const PodvmCniResult *result);
char *pod_net_strip_prefix(const char *cidr);
const PodvmSpecNetwork *pod_net_network_of(const PodvmSpec *spec, const char *iface);
/* The masquerade networks the guest sees (the spec's or KubeVirt's defaults). */
const char *pod_net_vm_cidr4(const PodvmSpecNetwork *network);
const char *pod_net_vm_cidr6(const PodvmSpecNetwork *network);

PodNet *pod_net_new(const char *run_dir);
void pod_net_free(PodNet *net);
/* What is stored in the pod's state file ("network" of "runtime"); NULL when nothing. */
JsonObject *pod_net_to_json(PodNet *net);
void pod_net_load_json(PodNet *net, JsonObject *object);
/* Whether anything is set up (a namespace or attachments): a release is owed. */
gboolean pod_net_is_set_up(PodNet *net);

/* A NIC ready for QEMU: its description and the host fds of its taps (owned). */
typedef struct {
    PodvmQemuNic *nic;
    GArray *fds; /* of int */
} PodNetNic;
void pod_net_nic_free(PodNetNic *nic);

/*
 * Sets up the pod's network for a start: namespace, CNI ADD per
 * interface, bindings, servers. Completes with a GPtrArray of PodNetNic*
 * (spec order); empty when the pod has no interfaces. On failure
 * everything done is undone before the error is reported.
 */
void pod_net_prepare_async(PodvmPod *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
GPtrArray *pod_net_prepare_finish(PodvmPod *self, GAsyncResult *result, GError **error);
/* The namespace QEMU joins (O_RDONLY|O_CLOEXEC), or -1 when the pod has none. */
int pod_net_open_netns(PodvmPod *self, GError **error);

/*
 * Releases everything (servers at once; VFs, CNI DEL, the namespace in
 * the background). A prepare waits for a release under way. The callback
 * may be NULL; the release then logs what failed.
 */
void pod_net_release_async(PodvmPod *self, GAsyncReadyCallback callback, gpointer user_data);
gboolean pod_net_release_finish(PodvmPod *self, GAsyncResult *result, GError **error);

/*
 * After a daemon restart, with QEMU still running: servers again, CNI CHECK
 * (logged); an interface whose attach a restart cut short (recorded, not in
 * the spec) is released (pod_net_release_orphans()).
 */
void pod_net_adopt(PodvmPod *self);
/*
 * Releases, in the background, the attachments of interfaces the spec does
 * not have; their names are kept for pod_net_take_orphan_netdevs().
 */
void pod_net_release_orphans(PodvmPod *self);
/* The interfaces released as orphans, whose netdev QEMU may still have (taken; of char*). */
GPtrArray *pod_net_take_orphan_netdevs(PodvmPod *self);

/*
 * The IPv4 lease the guest gets on @iface (masquerade: the spec's guest
 * address, the gateway, DNS; bridge: the pod's address), as podvmd's DHCP
 * server gives it; NULL for other bindings or before the network is set up.
 * For the app guest, which has no DHCP client.
 */
PodvmDhcpLease *pod_net_guest_lease(PodvmPod *self, const char *iface);

/* status.interfaces[] and status.podIPs, added to the status object being built. */
void pod_net_add_status(PodvmPod *self, JsonBuilder *builder);

/* One more interface, for a hotplug: like prepare, for @iface only (slot: first free). */
void pod_net_attach_async(PodvmPod *self, const PodvmSpecInterface *iface,
                          const PodvmSpecNetwork *network, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
PodNetNic *pod_net_attach_finish(PodvmPod *self, GAsyncResult *result, GError **error);
/* Releases one interface's attachment (hot-unplug), in the background when @callback is NULL. */
void pod_net_detach_async(PodvmPod *self, const char *iface, GAsyncReadyCallback callback,
                          gpointer user_data);
gboolean pod_net_detach_finish(PodvmPod *self, GAsyncResult *result, GError **error);

/* ---- for the pod-net files only ---- */

typedef struct {
    PodvmDhcpServer *dhcp;
    PodvmRaServer *ra;
} PodNetServers;

typedef struct {
    PodvmBindingSetup setup;
    const PodvmSpecInterface *iface; /* owned by the spec copy below */
    char *iface_name;
    GStrv pod_addresses;
    PodvmNftPort *ports;
    guint8 mac[6];
    /* SR-IOV */
    char *pool;
    char *vf;              /* claimed (or held already) */
    gboolean sockets_only; /* adoption: only reopen the servers' sockets */
} BindJob;

typedef struct {
    int netns_fd;
    GPtrArray *jobs; /* of BindJob* */
    PodvmSpec *spec; /* a copy: the thread reads it */
    /* SR-IOV: where the pools and claims are */
    PodvmSriovHost sriov_host;
    const PodvmConfig *config; /* read-only, outlives the pod: its SR-IOV pools */
} BindWork;

void pod_net_attachment_free(PodNetAttachment *a);
PodNetAttachment *pod_net_attachment_copy(const PodNetAttachment *a);
void pod_net_net_servers_free(PodNetServers *servers);
void pod_net_bind_job_free(BindJob *job);
void pod_net_bind_work_free(BindWork *work);
/* How a VF's MAC and VLAN are set: netlink, or only logged (PODVM_TEST_FAKE=sriov:set-vf). */
PodvmSriovSetVfFunc pod_net_set_vf_func(void);
/* Where SR-IOV pools and claims are, for a worker thread (copies). */
void pod_net_sriov_host_of(PodvmPod *self, BindWork *work);
/* Starts the DHCP/RA servers of a binding from the sockets its setup opened (taken). */
gboolean pod_net_start_servers(PodvmPod *self, const PodvmSpecInterface *iface,
                               const PodNetAttachment *a, PodvmBindingSetup *setup, GError **error);
/* Releases @attachments (taken; in order), the namespace too when @whole; completes @task. */
void pod_net_release_begin(PodvmPod *self, GTask *task, GPtrArray *attachments, gboolean whole);
/* The release task's callback: answers the waiters, then prepares that waited. */
void pod_net_release_done_cb(GObject *source, GAsyncResult *result, gpointer user_data);
/* A prepare (a start's or a hotplug's) from the top, once nothing is being released. */
void pod_net_prepare_begin(GTask *task);

G_END_DECLS
