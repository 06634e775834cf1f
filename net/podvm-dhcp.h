/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-netlink.h"

G_BEGIN_DECLS

/*
 * A DHCPv4 server with static leases only (RFC 2131/2132, classless routes
 * RFC 3442), serving one interface inside a pod's network namespace: the
 * bridge a VM's tap hangs on. It answers only MACs it has a lease for, so
 * it can never hand out an address to anything else on the pod network.
 * Written here rather than running dnsmasq: a lease is fixed by the
 * binding, the server needs no state, files or child process per pod, and
 * its parser is small enough to fuzz whole.
 */

typedef struct {
    guint8 mac[6];
    char *address;       /* "10.0.2.2" */
    guint prefix;        /* 24 */
    char *router;        /* NULL: none */
    GStrv dns;           /* nameservers; may be NULL */
    GStrv search;        /* search domains; may be NULL */
    char *hostname;      /* NULL: none */
    guint mtu;           /* 0: not sent */
    GPtrArray *routes;   /* classless static routes (PodvmRoute*), may be NULL */
    guint lease_seconds; /* 0: infinite */
} PodvmDhcpLease;

void podvm_dhcp_lease_free(PodvmDhcpLease *lease);
PodvmDhcpLease *podvm_dhcp_lease_copy(const PodvmDhcpLease *lease);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmDhcpLease, podvm_dhcp_lease_free)

/* A UDP socket on 0.0.0.0:67 bound to @ifname, for the server; call it inside the namespace. */
int podvm_dhcp_open_socket(const char *ifname, GError **error);

typedef struct _PodvmDhcpServer PodvmDhcpServer;
/* Called when the server ACKs a lease (the guest got or renewed its address), on the server's
 * main context. */
typedef void (*PodvmDhcpAckFunc)(const guint8 mac[6], const char *address, gpointer user_data);

/* Takes @fd (closed on failure too); answers from @server_address (the interface's own IPv4)
 * on the thread-default main context. A client renewing from its address is answered there by
 * unicast; everything else is broadcast to 255.255.255.255:68. */
PodvmDhcpServer *podvm_dhcp_server_new(int fd, const char *server_address, GError **error);
void podvm_dhcp_server_set_lease(PodvmDhcpServer *server, const PodvmDhcpLease *lease);
void podvm_dhcp_server_remove_lease(PodvmDhcpServer *server, const guint8 mac[6]);
void podvm_dhcp_server_set_ack_func(PodvmDhcpServer *server, PodvmDhcpAckFunc func,
                                    gpointer user_data);
void podvm_dhcp_server_free(PodvmDhcpServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmDhcpServer, podvm_dhcp_server_free)

/*
 * The nameservers and search domains of resolv.conf text, for a lease's
 * dns and search: "nameserver" lines in order (at most 3, as the resolver
 * reads; IPv4 and IPv6), the last "search" or "domain" line. Loopback
 * nameservers (127.0.0.53 of systemd-resolved, ::1) are left out: a guest
 * cannot reach the host's loopback. Sets NULL for none.
 */
void podvm_dhcp_parse_resolv_conf(const char *text, GStrv *out_dns, GStrv *out_search);
/*
 * The same from the host: /etc/resolv.conf, or, when that gives no
 * nameserver a guest can use (systemd-resolved's stub), the upstream list
 * systemd-resolved keeps in /run/systemd/resolve/resolv.conf. @path
 * overrides /etc/resolv.conf (tests). A missing file gives none, not an
 * error; a file larger than 64 KiB is an error.
 */
gboolean podvm_dhcp_read_resolv_conf(const char *path, GStrv *out_dns, GStrv *out_search,
                                     GError **error);

/*
 * The pure part, for tests and the fuzzer: the reply (OFFER, ACK or NAK;
 * NULL for nothing to send) a request gets with these leases. A malformed
 * request gives NULL and, when @error is not NULL, why.
 */
GBytes *podvm_dhcp_answer(const guint8 *request, gsize length, const PodvmDhcpLease *const *leases,
                          guint n_leases, const char *server_address, GError **error);

/*
 * IPv6 on the same interface: router advertisements (the gateway, the
 * on-link prefix without the autonomous flag, the MTU, M and O flags) and a
 * stateful DHCPv6 server for the guest's one address (KubeVirt gives
 * fd10:0:2::2/120 so). Same rules: only known MACs (from the client's
 * DUID-LL/LLT, or its EUI-64 link-local address). The pure parts are in
 * podvm-dhcp-private.h.
 */
typedef struct _PodvmRaServer PodvmRaServer;
/* An ICMPv6 socket (RS in, RA out) and a UDP [::]:547 socket, both bound to @ifname; call
 * inside the namespace. */
gboolean podvm_ra_open_sockets(const char *ifname, int *out_icmp6_fd, int *out_dhcp6_fd,
                               GError **error);
/* Takes both fds (closed on failure too); @router_mac is the bridge's MAC, @prefix_cidr
 * "fd10:0:2::/120". Sends its first RA at once, on the thread-default main context. */
PodvmRaServer *podvm_ra_server_new(int icmp6_fd, int dhcp6_fd, const char *ifname,
                                   const guint8 router_mac[6], const char *prefix_cidr, guint mtu,
                                   GError **error);
/* @address NULL: the MAC's lease is removed. */
void podvm_ra_server_set_lease(PodvmRaServer *server, const guint8 mac[6], const char *address);
void podvm_ra_server_free(PodvmRaServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRaServer, podvm_ra_server_free)

G_END_DECLS
