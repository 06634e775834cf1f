/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-netlink.h"

G_BEGIN_DECLS

/*
 * CNI (spec 1.0.0) as a container runtime drives it: the plugins of a
 * conflist run in order for ADD (each gets the previous one's result as
 * prevResult) and CHECK, in reverse for DEL, each a child process
 * (GSubprocess, argv, never a shell) with CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME, CNI_PATH and the network configuration on stdin,
 * killed after the timeout. A plugin's error result ({"code", "msg"}) is
 * the error's message.
 */

typedef struct {
    char *config_dir;  /* the conflists: "*.conflist", taken in name order */
    GStrv plugin_dirs; /* CNI_PATH */
    char *ipam_dir;    /* host-local's dataDir when a conflist gives none */
    guint timeout_ms;  /* per plugin call */
} PodvmCniSettings;

void podvm_cni_settings_clear(PodvmCniSettings *settings);

typedef struct {
    char *name;       /* the conflist's "name" */
    char *source;     /* the file it came from, or "built-in" */
    char *conflist;   /* the whole conflist (JSON), as used: stored with the pod for DEL */
    char *first_type; /* plugins[0].type: "bridge", "macvlan", ... */
    char *sriov_pool; /* a "podvm-sriov" network: the pool named in podvmd.conf; else NULL */
} PodvmCniNetwork;

void podvm_cni_network_free(PodvmCniNetwork *network);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmCniNetwork, podvm_cni_network_free)

/* The built-in default conflist: bridge podvm0, host-local IPv4 + IPv6 ULA, portmap, firewall. */
char *podvm_cni_default_conflist(const PodvmCniSettings *settings);
/* A conflist from text, checked (cniVersion, name, plugins[].type as a plain file name). */
PodvmCniNetwork *podvm_cni_network_parse(const char *text, gssize length, const char *source,
                                         GError **error);
/*
 * The network named @name in settings->config_dir, or the default one
 * (@name NULL): the first conflist there, else the built-in default.
 * NOT_FOUND (naming the directory) when @name is defined nowhere.
 */
PodvmCniNetwork *podvm_cni_network_find(const PodvmCniSettings *settings, const char *name,
                                        GError **error);

typedef struct {
    const char *protocol; /* "tcp" or "udp" */
    guint host_port;
    guint container_port;
} PodvmCniPortMapping;

typedef struct {
    const char *container_id; /* the pod's uid */
    const char *netns_path;
    const char *ifname;                       /* "eth0", "net1", ... */
    const PodvmCniPortMapping *port_mappings; /* runtimeConfig.portMappings, for portmap */
    guint n_port_mappings;
} PodvmCniAttachment;

typedef struct {
    char *address; /* "10.66.0.5/16" */
    char *gateway; /* NULL when none */
    int interface; /* index in interfaces, -1 when not given */
} PodvmCniIp;

typedef struct {
    char *name;
    char *mac;     /* NULL when not given */
    char *sandbox; /* netns path, NULL for a host-side interface */
} PodvmCniInterface;

typedef struct {
    char *json;            /* the result as the last plugin gave it: prevResult for DEL/CHECK */
    GPtrArray *interfaces; /* of PodvmCniInterface* */
    GPtrArray *ips;        /* of PodvmCniIp* */
    GPtrArray *routes;     /* of PodvmRoute* */
    GStrv dns_nameservers; /* never NULL */
    GStrv dns_search;      /* never NULL */
} PodvmCniResult;

void podvm_cni_result_free(PodvmCniResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmCniResult, podvm_cni_result_free)
/* A result document (strict JSON, bounded, every field checked); fuzzed. */
PodvmCniResult *podvm_cni_result_parse(const char *data, gssize length, GError **error);

/*
 * ADD. When a plugin fails, the plugins before it are undone with DEL
 * before the task completes: nothing is left.
 */
void podvm_cni_add_async(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
                         const PodvmCniAttachment *attachment, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data);
PodvmCniResult *podvm_cni_add_finish(GAsyncResult *result, GError **error);
/* DEL; @prev_result is the stored result JSON or NULL. Absent things are not errors (CNI rule). */
void podvm_cni_del_async(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
                         const PodvmCniAttachment *attachment, const char *prev_result,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data);
gboolean podvm_cni_del_finish(GAsyncResult *result, GError **error);
void podvm_cni_check_async(const PodvmCniSettings *settings, const PodvmCniNetwork *network,
                           const PodvmCniAttachment *attachment, const char *prev_result,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean podvm_cni_check_finish(GAsyncResult *result, GError **error);

G_END_DECLS
