/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-netlink.c: see podvm-netlink.h. Links, addresses and routes; taps,
 * sysctls and MACs are in podvm-tap.c. */
#include "podvm-build-config.h"

#include "podvm-netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <string.h>

#include "podvm-libnl.h"
#include "podvm-net-private.h"

/* ---- errors and input checks ---------------------------------------------------------- */

static PodvmErrorCode
nl_error_code(int err)
{
    switch (err < 0 ? -err : err) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
        return PODVM_ERROR_NOT_FOUND;
    case NLE_EXIST:
        return PODVM_ERROR_EXISTS;
    case NLE_PERM:
        return PODVM_ERROR_PERMISSION_DENIED;
    default:
        return PODVM_ERROR_FAILED;
    }
}

static gboolean
nl_is_not_found(int err)
{
    return nl_error_code(err) == PODVM_ERROR_NOT_FOUND;
}

/* "cannot WHAT 'NAME': libnl's message" */
static gboolean
set_nl_error(GError **error, int err, const char *what, const char *name)
{
    g_set_error(error, PODVM_ERROR, nl_error_code(err), _("cannot %s '%s': %s"), what, name,
                nl_geterror(err));
    return FALSE;
}

gboolean
podvm_net_ifname_valid(const char *name)
{
    size_t len;

    if (name == NULL)
        return FALSE;
    len = strlen(name);
    if (len == 0 || len >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return FALSE;
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '/' || *p == ':' || g_ascii_isspace(*p) || g_ascii_iscntrl(*p) ||
            (guchar)*p >= 0x80)
            return FALSE;
    }
    return TRUE;
}

gboolean
podvm_net_check_ifname(const char *name, GError **error)
{
    g_autofree char *quoted = NULL;

    if (podvm_net_ifname_valid(name))
        return TRUE;
    quoted = podvm_quote_for_message(name != NULL ? name : "");
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("bad interface name %s: 1 to 15 bytes, no '/', ':' or spaces"), quoted);
    return FALSE;
}

gboolean
podvm_net_parse_cidr(const char *text, int *out_family, guint8 out_bytes[16], guint *out_prefix,
                     GError **error)
{
    g_autofree char *addr_text = NULL;
    g_autoptr(GInetAddress) addr = NULL;
    const char *slash;
    guint64 prefix = 0;
    guint max;

    slash = text != NULL ? strchr(text, '/') : NULL;
    if (slash != NULL) {
        addr_text = g_strndup(text, slash - text);
        addr = g_inet_address_new_from_string(addr_text);
    }
    if (addr == NULL) {
        g_autofree char *quoted = podvm_quote_for_message(text != NULL ? text : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("bad address %s: expected ADDRESS/PREFIX"), quoted);
        return FALSE;
    }
    max = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV4 ? 32 : 128;
    if (!g_ascii_string_to_unsigned(slash + 1, 10, 0, max, &prefix, NULL)) {
        g_autofree char *quoted = podvm_quote_for_message(text);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("bad address %s: the prefix length must be 0 to %u"), quoted, max);
        return FALSE;
    }
    *out_family = max == 32 ? AF_INET : AF_INET6;
    memset(out_bytes, 0, 16);
    memcpy(out_bytes, g_inet_address_to_bytes(addr), g_inet_address_get_native_size(addr));
    *out_prefix = (guint)prefix;
    return TRUE;
}

/* A checked "A/P" as a libnl address. */
static PodvmNlAddr *
nl_addr_from_cidr(const char *cidr, GError **error)
{
    guint8 bytes[16];
    guint prefix;
    int family;
    PodvmNlAddr *addr;

    if (!podvm_net_parse_cidr(cidr, &family, bytes, &prefix, error))
        return NULL;
    addr = nl_addr_build(family, bytes, family == AF_INET ? 4 : 16);
    nl_addr_set_prefixlen(addr, (int)prefix);
    return addr;
}

/* A checked plain address (no prefix) as a libnl address. */
static PodvmNlAddr *
nl_addr_from_ip(const char *text, int family, GError **error)
{
    g_autoptr(GInetAddress) addr = text != NULL ? g_inet_address_new_from_string(text) : NULL;
    int got;

    if (addr != NULL) {
        got = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV4 ? AF_INET : AF_INET6;
        if (family == AF_UNSPEC || family == got)
            return nl_addr_build(got, g_inet_address_to_bytes(addr),
                                 g_inet_address_get_native_size(addr));
    }
    {
        g_autofree char *quoted = podvm_quote_for_message(text != NULL ? text : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    family == AF_INET    ? _("bad address %s: expected an IPv4 address")
                    : family == AF_INET6 ? _("bad address %s: expected an IPv6 address")
                                         : _("bad address %s"),
                    quoted);
    }
    return NULL;
}

/* "10.0.2.1/24", "::/0": always with the prefix length, zero-filled when shorter. */
static char *
format_cidr(int family, const PodvmNlAddr *addr, guint prefix)
{
    guint8 bytes[16] = { 0 };
    char text[INET6_ADDRSTRLEN];
    guint len = addr != NULL ? nl_addr_get_len(addr) : 0;

    if (len > sizeof bytes)
        len = sizeof bytes;
    if (len > 0)
        memcpy(bytes, nl_addr_get_binary_addr(addr), len);
    if (inet_ntop(family, bytes, text, sizeof text) == NULL)
        return NULL;
    return g_strdup_printf("%s/%u", text, prefix);
}

static char *
format_ip(int family, const PodvmNlAddr *addr)
{
    guint8 bytes[16] = { 0 };
    char text[INET6_ADDRSTRLEN];
    guint len = nl_addr_get_len(addr);

    if (len > sizeof bytes)
        len = sizeof bytes;
    memcpy(bytes, nl_addr_get_binary_addr(addr), len);
    if (inet_ntop(family, bytes, text, sizeof text) == NULL)
        return NULL;
    return g_strdup(text);
}

/* ---- the socket ----------------------------------------------------------------------- */

PodvmNl *
podvm_nl_open(GError **error)
{
    g_autofree PodvmNl *nl = g_new0(PodvmNl, 1);
    int err;

    nl->sock = nl_socket_alloc();
    if (nl->sock == NULL) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("cannot allocate a netlink socket"));
        return NULL;
    }
    err = nl_connect(nl->sock, NETLINK_ROUTE);
    if (err < 0) {
        g_set_error(error, PODVM_ERROR, nl_error_code(err),
                    _("cannot open a route netlink socket: %s"), nl_geterror(err));
        nl_socket_free(nl->sock);
        return NULL;
    }
    /* Close-on-exec: QEMU and CNI plugins must not inherit it. */
    {
        int fd = nl_socket_get_fd(nl->sock);
        int flags = fcntl(fd, F_GETFD);

        if (flags >= 0)
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    return g_steal_pointer(&nl);
}

void
podvm_nl_close(PodvmNl *nl)
{
    if (nl == NULL)
        return;
    nl_socket_free(nl->sock);
    g_free(nl);
}

/* ---- links ---------------------------------------------------------------------------- */

/* The kernel's link @ifname (checked first). */
static PodvmRtnlLink *
get_link(PodvmNl *nl, const char *ifname, GError **error)
{
    struct rtnl_link *link = NULL;
    int err;

    if (!podvm_net_check_ifname(ifname, error))
        return NULL;
    err = rtnl_link_get_kernel(nl->sock, 0, ifname, &link);
    if (err < 0) {
        if (nl_is_not_found(err))
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("there is no link '%s'"),
                        ifname);
        else
            set_nl_error(error, err, _("read the link"), ifname);
        return NULL;
    }
    return link;
}

gboolean
podvm_nl_link_get(PodvmNl *nl, const char *ifname, PodvmLinkInfo *out, GError **error)
{
    g_autoptr(PodvmRtnlLink) link = get_link(nl, ifname, error);
    struct nl_addr *addr;

    if (link == NULL)
        return FALSE;
    memset(out, 0, sizeof *out);
    out->index = rtnl_link_get_ifindex(link);
    out->mtu = rtnl_link_get_mtu(link);
    out->up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
    out->master_index = rtnl_link_get_master(link);
    addr = rtnl_link_get_addr(link);
    if (addr != NULL && nl_addr_get_len(addr) == 6)
        memcpy(out->mac, nl_addr_get_binary_addr(addr), 6);
    out->rx_bytes = rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES);
    out->rx_packets = rtnl_link_get_stat(link, RTNL_LINK_RX_PACKETS);
    out->tx_bytes = rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES);
    out->tx_packets = rtnl_link_get_stat(link, RTNL_LINK_TX_PACKETS);
    out->rx_errors = rtnl_link_get_stat(link, RTNL_LINK_RX_ERRORS);
    out->tx_errors = rtnl_link_get_stat(link, RTNL_LINK_TX_ERRORS);
    out->rx_dropped = rtnl_link_get_stat(link, RTNL_LINK_RX_DROPPED);
    out->tx_dropped = rtnl_link_get_stat(link, RTNL_LINK_TX_DROPPED);
    return TRUE;
}

/* Applies @change to the link @ifname; @what names the change for the message. */
static gboolean
change_link(PodvmNl *nl, const char *ifname, struct rtnl_link *change, const char *what,
            GError **error)
{
    g_autoptr(PodvmRtnlLink) link = get_link(nl, ifname, error);
    int err;

    if (link == NULL)
        return FALSE;
    err = rtnl_link_change(nl->sock, link, change, 0);
    if (err < 0)
        return set_nl_error(error, err, what, ifname);
    return TRUE;
}

gboolean
podvm_nl_link_set_up(PodvmNl *nl, const char *ifname, gboolean up, GError **error)
{
    g_autoptr(PodvmRtnlLink) change = rtnl_link_alloc();

    if (up)
        rtnl_link_set_flags(change, IFF_UP);
    else
        rtnl_link_unset_flags(change, IFF_UP);
    return change_link(nl, ifname, change, up ? _("set up the link") : _("set down the link"),
                       error);
}

gboolean
podvm_nl_link_set_master(PodvmNl *nl, const char *ifname, const char *master, GError **error)
{
    g_autoptr(PodvmRtnlLink) change = rtnl_link_alloc();
    int master_index = 0;

    if (master != NULL) {
        g_autoptr(PodvmRtnlLink) bridge = get_link(nl, master, error);

        if (bridge == NULL)
            return FALSE;
        master_index = rtnl_link_get_ifindex(bridge);
    }
    rtnl_link_set_master(change, master_index);
    return change_link(nl, ifname, change,
                       master != NULL ? _("add to its bridge the link")
                                      : _("take out of its bridge the link"),
                       error);
}

gboolean
podvm_nl_bridge_port_set_learning(PodvmNl *nl, const char *ifname, gboolean learning,
                                  GError **error)
{
    g_autoptr(PodvmRtnlLink) link = get_link(nl, ifname, error);
    g_autoptr(PodvmRtnlLink) port = NULL;
    g_autoptr(PodvmRtnlLink) change = NULL;
    int err;

    if (link == NULL)
        return FALSE;
    /*
     * A bridge port's flags travel as IFLA_PROTINFO of an AF_BRIDGE link
     * message; libnl keeps a link's family fixed, so both sides of the
     * change are AF_BRIDGE objects naming the port by its index.
     */
    port = rtnl_link_alloc();
    change = rtnl_link_alloc();
    rtnl_link_set_family(port, AF_BRIDGE);
    rtnl_link_set_ifindex(port, rtnl_link_get_ifindex(link));
    rtnl_link_set_family(change, AF_BRIDGE);
    if (learning)
        rtnl_link_bridge_set_flags(change, RTNL_BRIDGE_LEARNING);
    else
        rtnl_link_bridge_unset_flags(change, RTNL_BRIDGE_LEARNING);
    err = rtnl_link_change(nl->sock, port, change, 0);
    if (err < 0)
        return set_nl_error(error, err, _("set MAC learning on the bridge port"), ifname);
    return TRUE;
}

gboolean
podvm_nl_link_set_mac(PodvmNl *nl, const char *ifname, const guint8 mac[6], GError **error)
{
    g_autoptr(PodvmRtnlLink) change = rtnl_link_alloc();
    g_autoptr(PodvmNlAddr) addr = nl_addr_build(AF_LLC, mac, 6);

    rtnl_link_set_addr(change, addr);
    return change_link(nl, ifname, change, _("set the MAC address of the link"), error);
}

gboolean
podvm_nl_link_set_mtu(PodvmNl *nl, const char *ifname, guint mtu, GError **error)
{
    g_autoptr(PodvmRtnlLink) change = rtnl_link_alloc();

    rtnl_link_set_mtu(change, mtu);
    return change_link(nl, ifname, change, _("set the MTU of the link"), error);
}

gboolean
podvm_nl_link_delete(PodvmNl *nl, const char *ifname, GError **error)
{
    g_autoptr(PodvmRtnlLink) link = NULL;
    int err;

    if (!podvm_net_check_ifname(ifname, error))
        return FALSE;
    link = rtnl_link_alloc();
    rtnl_link_set_name(link, ifname);
    err = rtnl_link_delete(nl->sock, link);
    if (err < 0 && !nl_is_not_found(err))
        return set_nl_error(error, err, _("delete the link"), ifname);
    return TRUE;
}

gboolean
podvm_nl_bridge_add(PodvmNl *nl, const char *name, guint mtu, GError **error)
{
    g_autoptr(PodvmRtnlLink) link = NULL;
    int err;

    if (!podvm_net_check_ifname(name, error))
        return FALSE;
    link = rtnl_link_bridge_alloc();
    rtnl_link_set_name(link, name);
    if (mtu > 0)
        rtnl_link_set_mtu(link, mtu);
    err = rtnl_link_add(nl->sock, link, NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0)
        return set_nl_error(error, err, _("add the bridge"), name);
    return TRUE;
}

gboolean
podvm_nl_veth_add(PodvmNl *nl, const char *name, const char *peer, int peer_netns_fd,
                  GError **error)
{
    g_autoptr(PodvmRtnlLink) link = NULL;
    g_autoptr(PodvmRtnlLink) peer_link = NULL;
    int err;

    if (!podvm_net_check_ifname(name, error) || !podvm_net_check_ifname(peer, error))
        return FALSE;
    link = rtnl_link_veth_alloc();
    rtnl_link_set_name(link, name);
    peer_link = rtnl_link_veth_get_peer(link);
    rtnl_link_set_name(peer_link, peer);
    if (peer_netns_fd >= 0)
        rtnl_link_set_ns_fd(peer_link, peer_netns_fd);
    err = rtnl_link_add(nl->sock, link, NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0)
        return set_nl_error(error, err, _("add the veth pair"), name);
    return TRUE;
}

/* ---- addresses ------------------------------------------------------------------------ */

static PodvmRtnlAddr *
build_addr(PodvmNl *nl, const char *ifname, const char *cidr, int *out_index, GError **error)
{
    g_autoptr(PodvmRtnlLink) link = NULL;
    g_autoptr(PodvmNlAddr) local = nl_addr_from_cidr(cidr, error);
    g_autoptr(PodvmRtnlAddr) addr = NULL;

    if (local == NULL)
        return NULL;
    link = get_link(nl, ifname, error);
    if (link == NULL)
        return NULL;
    addr = rtnl_addr_alloc();
    *out_index = rtnl_link_get_ifindex(link);
    rtnl_addr_set_ifindex(addr, *out_index);
    rtnl_addr_set_family(addr, nl_addr_get_family(local));
    rtnl_addr_set_local(addr, local);
    rtnl_addr_set_prefixlen(addr, nl_addr_get_prefixlen(local));
    return g_steal_pointer(&addr);
}

gboolean
podvm_nl_addr_add(PodvmNl *nl, const char *ifname, const char *cidr, GError **error)
{
    g_autoptr(PodvmRtnlAddr) addr = NULL;
    int index, err;

    addr = build_addr(nl, ifname, cidr, &index, error);
    if (addr == NULL)
        return FALSE;
    /* Our addresses are ours alone on links we made: no duplicate address detection, so an
     * IPv6 address is usable at once (a DHCPv6 server binds to it right after). */
    if (rtnl_addr_get_family(addr) == AF_INET6)
        rtnl_addr_set_flags(addr, IFA_F_NODAD);
    err = rtnl_addr_add(nl->sock, addr, 0);
    if (err < 0 && nl_error_code(err) != PODVM_ERROR_EXISTS) {
        g_set_error(error, PODVM_ERROR, nl_error_code(err), _("cannot add %s to '%s': %s"), cidr,
                    ifname, nl_geterror(err));
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_nl_addr_del(PodvmNl *nl, const char *ifname, const char *cidr, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    g_autoptr(PodvmRtnlAddr) addr = NULL;
    int index, err;

    addr = build_addr(nl, ifname, cidr, &index, &local_error);
    if (addr == NULL) {
        /* The link is gone, and its addresses with it. */
        if (g_error_matches(local_error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND))
            return TRUE;
        g_propagate_error(error, g_steal_pointer(&local_error));
        return FALSE;
    }
    err = rtnl_addr_delete(nl->sock, addr, 0);
    if (err < 0 && !nl_is_not_found(err) && -err != NLE_NOADDR) {
        g_set_error(error, PODVM_ERROR, nl_error_code(err), _("cannot remove %s from '%s': %s"),
                    cidr, ifname, nl_geterror(err));
        return FALSE;
    }
    return TRUE;
}

static gboolean
is_ipv6_link_local(const PodvmNlAddr *addr)
{
    const guint8 *bytes = nl_addr_get_binary_addr(addr);

    return nl_addr_get_family(addr) == AF_INET6 && nl_addr_get_len(addr) == 16 &&
           bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

GPtrArray *
podvm_nl_addr_list(PodvmNl *nl, const char *ifname, int family, GError **error)
{
    g_autoptr(PodvmRtnlLink) link = get_link(nl, ifname, error);
    g_autoptr(PodvmNlCache) cache = NULL;
    g_autoptr(GPtrArray) out = NULL;
    int index, err;

    if (link == NULL)
        return NULL;
    index = rtnl_link_get_ifindex(link);
    err = rtnl_addr_alloc_cache(nl->sock, &cache);
    if (err < 0) {
        set_nl_error(error, err, _("read the addresses of"), ifname);
        return NULL;
    }
    out = g_ptr_array_new_with_free_func(g_free);
    for (struct nl_object *obj = nl_cache_get_first(cache); obj != NULL;
         obj = nl_cache_get_next(obj)) {
        struct rtnl_addr *addr = (struct rtnl_addr *)obj;
        struct nl_addr *local = rtnl_addr_get_local(addr);
        int addr_family = rtnl_addr_get_family(addr);
        char *text;

        if (rtnl_addr_get_ifindex(addr) != index || local == NULL)
            continue;
        if (addr_family != AF_INET && addr_family != AF_INET6)
            continue;
        if (family != AF_UNSPEC && addr_family != family)
            continue;
        if (is_ipv6_link_local(local))
            continue;
        text = format_cidr(addr_family, local, rtnl_addr_get_prefixlen(addr));
        if (text != NULL)
            g_ptr_array_add(out, text);
    }
    return g_steal_pointer(&out);
}

/* ---- routes --------------------------------------------------------------------------- */

void
podvm_route_free(PodvmRoute *route)
{
    if (route == NULL)
        return;
    g_free(route->dst);
    g_free(route->gateway);
    g_free(route);
}

GPtrArray *
podvm_nl_route_list(PodvmNl *nl, const char *ifname, int family, GError **error)
{
    g_autoptr(PodvmRtnlLink) link = NULL;
    g_autoptr(PodvmNlCache) cache = NULL;
    g_autoptr(GPtrArray) out = NULL;
    int index = 0, err;

    if (ifname != NULL) {
        link = get_link(nl, ifname, error);
        if (link == NULL)
            return NULL;
        index = rtnl_link_get_ifindex(link);
    }
    err = rtnl_route_alloc_cache(nl->sock, family, 0, &cache);
    if (err < 0) {
        set_nl_error(error, err, _("read the routes of"), ifname != NULL ? ifname : "*");
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_route_free);
    for (struct nl_object *obj = nl_cache_get_first(cache); obj != NULL;
         obj = nl_cache_get_next(obj)) {
        struct rtnl_route *route = (struct rtnl_route *)obj;
        struct rtnl_nexthop *nh;
        struct nl_addr *dst = rtnl_route_get_dst(route);
        struct nl_addr *gateway;
        int route_family = rtnl_route_get_family(route);
        PodvmRoute *item;

        if (rtnl_route_get_table(route) != RT_TABLE_MAIN ||
            rtnl_route_get_type(route) != RTN_UNICAST)
            continue;
        if (route_family != AF_INET && route_family != AF_INET6)
            continue;
        if (family != AF_UNSPEC && route_family != family)
            continue;
        if (rtnl_route_get_nnexthops(route) < 1)
            continue;
        nh = rtnl_route_nexthop_n(route, 0);
        if (index != 0 && rtnl_route_nh_get_ifindex(nh) != index)
            continue;
        /* fe80::/64 is on every IPv6 link; it is no route of ours. */
        if (dst != NULL && is_ipv6_link_local(dst))
            continue;
        item = g_new0(PodvmRoute, 1);
        item->dst = format_cidr(route_family, dst, dst != NULL ? nl_addr_get_prefixlen(dst) : 0);
        gateway = rtnl_route_nh_get_gateway(nh);
        if (gateway != NULL && nl_addr_get_len(gateway) > 0)
            item->gateway = format_ip(route_family, gateway);
        if (item->dst == NULL) {
            podvm_route_free(item);
            continue;
        }
        g_ptr_array_add(out, item);
    }
    return g_steal_pointer(&out);
}

gboolean
podvm_nl_route_add(PodvmNl *nl, const char *dst, const char *gateway, const char *ifname,
                   GError **error)
{
    g_autoptr(PodvmNlAddr) dst_addr = nl_addr_from_cidr(dst, error);
    g_autoptr(PodvmNlAddr) gw_addr = NULL;
    g_autoptr(PodvmRtnlLink) link = NULL;
    g_autoptr(PodvmRtnlRoute) route = NULL;
    struct rtnl_nexthop *nh;
    int family, err;

    if (dst_addr == NULL)
        return FALSE;
    family = nl_addr_get_family(dst_addr);
    if (gateway != NULL) {
        gw_addr = nl_addr_from_ip(gateway, family, error);
        if (gw_addr == NULL)
            return FALSE;
    }
    if (ifname == NULL && gateway == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("a route to %s needs a gateway or a link"), dst);
        return FALSE;
    }
    route = rtnl_route_alloc();
    rtnl_route_set_family(route, family);
    rtnl_route_set_dst(route, dst_addr);
    rtnl_route_set_table(route, RT_TABLE_MAIN);
    rtnl_route_set_type(route, RTN_UNICAST);
    rtnl_route_set_protocol(route, RTPROT_STATIC);
    rtnl_route_set_scope(route, gateway == NULL ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
    nh = rtnl_route_nh_alloc();
    if (ifname != NULL) {
        link = get_link(nl, ifname, error);
        if (link == NULL) {
            rtnl_route_nh_free(nh);
            return FALSE;
        }
        rtnl_route_nh_set_ifindex(nh, rtnl_link_get_ifindex(link));
    }
    if (gw_addr != NULL)
        rtnl_route_nh_set_gateway(nh, gw_addr);
    rtnl_route_add_nexthop(route, nh); /* the route owns it now */
    err = rtnl_route_add(nl->sock, route, 0);
    if (err < 0 && nl_error_code(err) != PODVM_ERROR_EXISTS) {
        g_set_error(error, PODVM_ERROR, nl_error_code(err),
                    _("cannot add the route to %s via %s on '%s': %s"), dst,
                    gateway != NULL ? gateway : "-", ifname != NULL ? ifname : "-",
                    nl_geterror(err));
        return FALSE;
    }
    return TRUE;
}
