/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The masquerade binding's NAT, with libnftables, in the calling thread's
 * network namespace (a pod's, inside podvm_netns_run()). podvm owns one
 * table, "inet podvm"; applying replaces it whole in one transaction, so
 * applying twice gives the same rules, never duplicates.
 */

typedef struct {
    const char *protocol; /* "tcp" or "udp" */
    guint port;
} PodvmNftPort;

typedef struct {
    const char *pod_ifname;    /* the CNI interface, "eth0" */
    const char *bridge_ifname; /* the guest side bridge */
    const char *guest_ipv4;    /* "10.0.2.2" */
    const char *vm_cidr4;      /* "10.0.2.0/24" */
    const char *guest_ipv6;    /* NULL when the pod has no IPv6 */
    const char *vm_cidr6;      /* "fd10:0:2::/120" */
    GStrv pod_addresses;       /* the pod's own addresses (no prefix): forwards go from these */
    const PodvmNftPort *ports; /* forwarded ports */
    guint n_ports;
    gboolean all_ports; /* no ports given: every port is forwarded (KubeVirt's rule) */
} PodvmNftMasquerade;

/* The ruleset text applied (for golden tests and the log). */
char *podvm_nft_masquerade_ruleset(const PodvmNftMasquerade *rules);
gboolean podvm_nft_apply_masquerade(const PodvmNftMasquerade *rules, GError **error);
/* A missing table is fine. */
gboolean podvm_nft_delete_table(GError **error);
/* `nft list table inet podvm` as text, or NULL when there is none (tests compare it). */
char *podvm_nft_list_table(GError **error);

G_END_DECLS
