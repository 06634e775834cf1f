/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Links, addresses and routes with libnl-route-3, in the network namespace
 * of the calling thread (inside podvm_netns_run() for a pod's namespace).
 * Interface names are checked (1..15 bytes, no '/', no whitespace) before
 * any request. Errors are PODVM_ERROR_* with the link's name and libnl's
 * message. Addresses are text: "10.0.2.1/24", "fd10:0:2::1/120".
 */

typedef struct _PodvmNl PodvmNl;

PodvmNl *podvm_nl_open(GError **error);
void podvm_nl_close(PodvmNl *nl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmNl, podvm_nl_close)

typedef struct {
    int index;
    guint mtu;
    guint8 mac[6];
    gboolean up;
    int master_index; /* 0: none */
    guint64 rx_bytes, rx_packets, tx_bytes, tx_packets;
    guint64 rx_errors, tx_errors, rx_dropped, tx_dropped;
} PodvmLinkInfo;

/* FALSE with PODVM_ERROR_NOT_FOUND when there is no such link. */
gboolean podvm_nl_link_get(PodvmNl *nl, const char *ifname, PodvmLinkInfo *out, GError **error);
gboolean podvm_nl_link_set_up(PodvmNl *nl, const char *ifname, gboolean up, GError **error);
/* Enslaves @ifname to the bridge @master, or frees it when @master is NULL. */
gboolean podvm_nl_link_set_master(PodvmNl *nl, const char *ifname, const char *master,
                                  GError **error);
/*
 * MAC learning on @ifname's port of its bridge. The bridge binding turns it
 * off on the pod interface: with a hairpinning CNI bridge outside, the
 * guest's own broadcasts come back through it, and a learning port would
 * send the guest's frames back out there instead of to its tap.
 */
gboolean podvm_nl_bridge_port_set_learning(PodvmNl *nl, const char *ifname, gboolean learning,
                                           GError **error);
gboolean podvm_nl_link_set_mac(PodvmNl *nl, const char *ifname, const guint8 mac[6],
                               GError **error);
gboolean podvm_nl_link_set_mtu(PodvmNl *nl, const char *ifname, guint mtu, GError **error);
/* A missing link is fine. */
gboolean podvm_nl_link_delete(PodvmNl *nl, const char *ifname, GError **error);
/* A bridge (down; the caller sets it up). EXISTS when the name is taken. */
gboolean podvm_nl_bridge_add(PodvmNl *nl, const char *name, guint mtu, GError **error);
/* A veth pair; @peer is moved into @peer_netns_fd when that is >= 0. */
gboolean podvm_nl_veth_add(PodvmNl *nl, const char *name, const char *peer, int peer_netns_fd,
                           GError **error);

/* Adding an address that is already there is fine; so is deleting one that is gone. */
gboolean podvm_nl_addr_add(PodvmNl *nl, const char *ifname, const char *cidr, GError **error);
gboolean podvm_nl_addr_del(PodvmNl *nl, const char *ifname, const char *cidr, GError **error);
/* The addresses of @ifname ("a.b.c.d/len"), AF_INET, AF_INET6 or AF_UNSPEC for both;
 * IPv6 link-local ones left out. */
GPtrArray *podvm_nl_addr_list(PodvmNl *nl, const char *ifname, int family, GError **error);

typedef struct {
    char *dst;     /* "0.0.0.0/0", "::/0", "10.1.0.0/16" */
    char *gateway; /* NULL: on-link */
} PodvmRoute;
void podvm_route_free(PodvmRoute *route);
/* Main-table unicast routes through @ifname (NULL: all), of @family (AF_UNSPEC: both); the
 * kernel's fe80::/64 of every IPv6 link left out. dst always has its prefix length. */
GPtrArray *podvm_nl_route_list(PodvmNl *nl, const char *ifname, int family, GError **error);
/* An existing equal route is fine. @gateway may be NULL. */
gboolean podvm_nl_route_add(PodvmNl *nl, const char *dst, const char *gateway, const char *ifname,
                            GError **error);

/* SR-IOV: the MAC and VLAN (0: none) of VF @vf_index of the PF @pf_ifname. */
gboolean podvm_nl_vf_set(PodvmNl *nl, const char *pf_ifname, guint vf_index, const guint8 mac[6],
                         guint vlan, GError **error);

/*
 * A tap named @name (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; IFF_MULTI_QUEUE
 * when @queues > 1) in the calling thread's namespace, with @queues fds
 * (CLOEXEC) stored in @fds. Not persistent: the link goes when the last fd
 * is closed (when QEMU exits).
 */
gboolean podvm_tap_open(const char *name, guint queues, int *fds, GError **error);

/* Writes @value to /proc/sys/@key ("net/ipv4/ip_forward") in the calling thread's namespace. */
gboolean podvm_sysctl_set(const char *key, const char *value, GError **error);

/* "52:54:00:12:34:56" <-> bytes. Parse refuses anything else (case-insensitive hex). */
gboolean podvm_mac_parse(const char *text, guint8 out[6]);
char *podvm_mac_to_string(const guint8 mac[6]);

/* Interface names as the kernel takes them: 1..15 bytes, no '/', ':', whitespace, control or
 * non-ASCII bytes, not "." or "..". Check says why with INVALID_ARGUMENT. */
gboolean podvm_net_ifname_valid(const char *name);
gboolean podvm_net_check_ifname(const char *name, GError **error);
/* "10.0.2.1/24" or "fd10:0:2::1/120" (the prefix required) into AF_INET/AF_INET6, 4 or 16
 * address bytes (the rest zero) and the prefix length; INVALID_ARGUMENT otherwise. */
gboolean podvm_net_parse_cidr(const char *text, int *out_family, guint8 out_bytes[16],
                              guint *out_prefix, GError **error);

G_END_DECLS
