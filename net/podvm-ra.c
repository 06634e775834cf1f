/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-ra.c: IPv6 for a binding's guest (see podvm-dhcp.h): router
 * advertisements and a stateful DHCPv6 server for the guest's one address.
 *
 * The RA (RFC 4861) makes this interface the guest's default router and
 * announces the VM network's prefix as on-link only (L set, A clear: no
 * SLAAC), with M and O set, so the guest asks DHCPv6 for its address. It is
 * sent at start, twice more 16 s apart, then every 200..600 s, and at once
 * (at most every 3 s) to a router solicitation with hop limit 255.
 *
 * The DHCPv6 server answers on UDP port 547 with podvm_dhcp6_answer()
 * (podvm-dhcp6.c), back to the client's link-local address. Like the DHCPv4
 * server it is written here and not dnsmasq: the lease is fixed, there is
 * no state to keep, and the parsers are small enough to fuzz whole.
 */
#include "podvm-build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-dhcp-private.h"
#include "podvm-dhcp.h"
#include "podvm-error.h"

#define RA_ROUTER_LIFETIME 1800
#define RA_PREFIX_VALID 86400
#define RA_PREFIX_PREFERRED 14400
#define RA_INITIAL_INTERVAL 16
#define RA_INITIAL_COUNT 3
#define RA_MIN_INTERVAL 200
#define RA_MAX_INTERVAL 600
#define RA_MIN_DELAY_MS 3000

/* ---- router advertisements --------------------------------------------------- */

gboolean
podvm_ra_parse_prefix(const char *cidr, guint8 out_prefix[16], guint *out_len, GError **error)
{
    const char *slash = cidr != NULL ? strchr(cidr, '/') : NULL;
    g_autofree char *address = NULL;
    guint64 len = 0;
    struct in6_addr addr;

    if (slash != NULL)
        address = g_strndup(cidr, (gsize)(slash - cidr));
    if (slash == NULL || inet_pton(AF_INET6, address, &addr) != 1 ||
        !g_ascii_string_to_unsigned(slash + 1, 10, 1, 128, &len, NULL)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("'%s' is not an IPv6 prefix like fd10:0:2::/120"), cidr != NULL ? cidr : "");
        return FALSE;
    }
    /* The bits past the prefix length are cleared. */
    for (guint bit = (guint)len; bit < 128; bit++)
        addr.s6_addr[bit / 8] &= (guint8) ~(0x80 >> (bit % 8));
    memcpy(out_prefix, addr.s6_addr, 16);
    *out_len = (guint)len;
    return TRUE;
}

GBytes *
podvm_ra_build(const guint8 router_mac[6], const guint8 prefix[16], guint prefix_len, guint mtu)
{
    GByteArray *out = g_byte_array_sized_new(64);
    /* type 134, code 0, checksum (the kernel's), hop limit 64, M and O */
    guint8 head[4] = { ND_ROUTER_ADVERT, 0, 0, 0 };
    guint8 hop_flags[2] = { 64, ND_RA_FLAG_MANAGED | ND_RA_FLAG_OTHER };

    g_byte_array_append(out, head, 4);
    g_byte_array_append(out, hop_flags, 2);
    podvm_dhcp_put_u16(out, RA_ROUTER_LIFETIME);
    podvm_dhcp_put_u32(out, 0); /* reachable time: unspecified */
    podvm_dhcp_put_u32(out, 0); /* retrans timer: unspecified */

    {
        guint8 sllao[2] = { ND_OPT_SOURCE_LINKADDR, 1 };

        g_byte_array_append(out, sllao, 2);
        g_byte_array_append(out, router_mac, 6);
    }
    if (mtu >= 1280) {
        guint8 head_mtu[4] = { ND_OPT_MTU, 1, 0, 0 };

        g_byte_array_append(out, head_mtu, 4);
        podvm_dhcp_put_u32(out, mtu);
    }
    {
        /* on-link (L), not autonomous (no A): the address comes from DHCPv6 */
        guint8 head_prefix[4] = { ND_OPT_PREFIX_INFORMATION, 4, (guint8)prefix_len,
                                  ND_OPT_PI_FLAG_ONLINK };

        g_byte_array_append(out, head_prefix, 4);
        podvm_dhcp_put_u32(out, RA_PREFIX_VALID);
        podvm_dhcp_put_u32(out, RA_PREFIX_PREFERRED);
        podvm_dhcp_put_u32(out, 0);
        g_byte_array_append(out, prefix, 16);
    }
    return g_byte_array_free_to_bytes(out);
}

gboolean
podvm_ra_check_solicit(const guint8 *packet, gsize length, int hop_limit, GError **error)
{
    gsize i;

    if (length < 8 || packet[0] != ND_ROUTER_SOLICIT || packet[1] != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("not a router solicitation"));
        return FALSE;
    }
    if (hop_limit != 255) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("router solicitation with hop limit %d, not 255"), hop_limit);
        return FALSE;
    }
    /* Options in units of 8 bytes; none of length 0 (RFC 4861 6.1.1). */
    for (i = 8; i < length;) {
        if (length - i < 2 || packet[i + 1] == 0 || (gsize)packet[i + 1] * 8 > length - i) {
            g_set_error(
                error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("router solicitation option at offset %" G_GSIZE_FORMAT " has a bad length"), i);
            return FALSE;
        }
        i += (gsize)packet[i + 1] * 8;
    }
    return TRUE;
}

/* ---- sockets and the server ---------------------------------------------------- */

static int
ifindex_of(int fd, const char *ifname, GError **error)
{
    struct ifreq ifr = { 0 };

    /* On the socket, so in the socket's namespace, whichever thread asks. */
    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("no interface '%s': %s"), ifname,
                    g_strerror(saved));
        return -1;
    }
    return ifr.ifr_ifindex;
}

static gboolean
set_up_socket(int fd, const char *ifname, const char *what, GError **error)
{
    int one = 1;

    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot set up the %s socket on '%s': %s"), what, ifname, g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}

static gboolean
join_group(int fd, int ifindex, const char *group, const char *ifname, GError **error)
{
    struct ipv6_mreq mreq = { .ipv6mr_interface = (unsigned)ifindex };

    inet_pton(AF_INET6, group, &mreq.ipv6mr_multiaddr);
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot join %s on '%s': %s"), group,
                    ifname, g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_ra_open_sockets(const char *ifname, int *out_icmp6_fd, int *out_dhcp6_fd, GError **error)
{
    int icmp6_fd = -1, dhcp6_fd = -1;
    int ifindex, hops = 255, one = 1, zero = 0;
    struct icmp6_filter filter;
    struct sockaddr_in6 addr = { .sin6_family = AF_INET6, .sin6_port = htons(547) };

    if (ifname == NULL || ifname[0] == '\0' || strlen(ifname) >= IFNAMSIZ) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("'%s' is not an interface name"), ifname != NULL ? ifname : "");
        return FALSE;
    }
    icmp6_fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
    dhcp6_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
    if (icmp6_fd < 0 || dhcp6_fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot open the IPv6 sockets: %s"),
                    g_strerror(saved));
        goto fail;
    }
    ifindex = ifindex_of(icmp6_fd, ifname, error);
    if (ifindex < 0)
        goto fail;

    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ND_ROUTER_SOLICIT, &filter);
    if (!set_up_socket(icmp6_fd, ifname, "ICMPv6", error))
        goto fail;
    if (setsockopt(icmp6_fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)) != 0 ||
        setsockopt(icmp6_fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) != 0 ||
        setsockopt(icmp6_fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops)) != 0 ||
        setsockopt(icmp6_fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof(zero)) != 0 ||
        setsockopt(icmp6_fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) != 0 ||
        setsockopt(icmp6_fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot set up the ICMPv6 socket on '%s': %s"), ifname, g_strerror(saved));
        goto fail;
    }
    if (!join_group(icmp6_fd, ifindex, "ff02::2", ifname, error))
        goto fail;

    if (!set_up_socket(dhcp6_fd, ifname, "DHCPv6", error))
        goto fail;
    if (setsockopt(dhcp6_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0 ||
        bind(dhcp6_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot set up the DHCPv6 socket on '%s': %s"), ifname, g_strerror(saved));
        goto fail;
    }
    if (!join_group(dhcp6_fd, ifindex, "ff02::1:2", ifname, error))
        goto fail;
    *out_icmp6_fd = icmp6_fd;
    *out_dhcp6_fd = dhcp6_fd;
    return TRUE;

fail:
    if (icmp6_fd >= 0)
        close(icmp6_fd);
    if (dhcp6_fd >= 0)
        close(dhcp6_fd);
    return FALSE;
}

struct _PodvmRaServer {
    int icmp6_fd, dhcp6_fd;
    int ifindex;
    char *ifname;
    guint8 router_mac[6];
    GBytes *ra;
    GArray *leases; /* PodvmDhcp6Lease */
    GMainContext *context;
    GSource *icmp6_source, *dhcp6_source;
    GSource *timer;     /* the next RA */
    gint64 last_ra_us;  /* monotonic; 0: none yet */
    guint initial_left; /* initial RAs still to send */
};

static void schedule_ra(PodvmRaServer *server, guint delay_ms);

static void
send_ra(PodvmRaServer *server)
{
    struct sockaddr_in6 to = {
        .sin6_family = AF_INET6,
        .sin6_scope_id = (guint32)server->ifindex,
    };
    gsize len;
    const guint8 *data = g_bytes_get_data(server->ra, &len);

    inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
    if (sendto(server->icmp6_fd, data, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
        g_debug("RA: cannot send on '%s': %s", server->ifname, g_strerror(errno));
    server->last_ra_us = g_get_monotonic_time();
}

static gboolean
timer_cb(gpointer user_data)
{
    PodvmRaServer *server = user_data;
    guint next_s;

    g_clear_pointer(&server->timer, g_source_unref);
    send_ra(server);
    if (server->initial_left > 0) {
        server->initial_left--;
        next_s = RA_INITIAL_INTERVAL;
    } else {
        next_s = (guint)g_random_int_range(RA_MIN_INTERVAL, RA_MAX_INTERVAL + 1);
    }
    schedule_ra(server, next_s * 1000);
    return G_SOURCE_REMOVE;
}

static void
schedule_ra(PodvmRaServer *server, guint delay_ms)
{
    if (server->timer != NULL) {
        g_source_destroy(server->timer);
        g_clear_pointer(&server->timer, g_source_unref);
    }
    server->timer = g_timeout_source_new(delay_ms);
    g_source_set_callback(server->timer, timer_cb, server, NULL);
    g_source_set_static_name(server->timer, "podvm-ra-timer");
    g_source_attach(server->timer, server->context);
}

static gboolean
icmp6_readable_cb(int fd, GIOCondition condition, gpointer user_data)
{
    PodvmRaServer *server = user_data;

    for (guint n = 0; n < 16; n++) {
        guint8 buffer[1500];
        union {
            struct cmsghdr align;
            guint8 data[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = buffer, .iov_len = sizeof(buffer) };
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = &control,
            .msg_controllen = sizeof(control),
        };
        g_autoptr(GError) error = NULL;
        int hop_limit = -1;
        ssize_t got = recvmsg(fd, &msg, 0);
        gint64 since_ms;

        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                g_warning("RA: cannot read on '%s': %s", server->ifname, g_strerror(errno));
            break;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT &&
                c->cmsg_len == CMSG_LEN(sizeof(int)))
                memcpy(&hop_limit, CMSG_DATA(c), sizeof(int));
        if ((msg.msg_flags & MSG_TRUNC) ||
            !podvm_ra_check_solicit(buffer, (gsize)got, hop_limit, &error)) {
            g_debug("RA: solicitation ignored: %s", error != NULL ? error->message : "truncated");
            continue;
        }
        /* Answer at once, but multicast RAs at most every 3 s (RFC 4861 10). */
        since_ms = (g_get_monotonic_time() - server->last_ra_us) / 1000;
        if (server->last_ra_us == 0 || since_ms >= RA_MIN_DELAY_MS)
            schedule_ra(server, 0);
        else
            schedule_ra(server, (guint)(RA_MIN_DELAY_MS - since_ms));
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
dhcp6_readable_cb(int fd, GIOCondition condition, gpointer user_data)
{
    PodvmRaServer *server = user_data;

    for (guint n = 0; n < 16; n++) {
        guint8 buffer[2048];
        struct sockaddr_in6 from = { 0 };
        socklen_t from_len = sizeof(from);
        ssize_t got =
            recvfrom(fd, buffer, sizeof(buffer), MSG_TRUNC, (struct sockaddr *)&from, &from_len);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = NULL;
        gsize len;
        const guint8 *data;

        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                g_warning("DHCPv6: cannot read on '%s': %s", server->ifname, g_strerror(errno));
            break;
        }
        if ((gsize)got > sizeof(buffer) || from.sin6_family != AF_INET6)
            continue;
        reply = podvm_dhcp6_answer(buffer, (gsize)got, from.sin6_addr.s6_addr,
                                   (const PodvmDhcp6Lease *)server->leases->data,
                                   server->leases->len, server->router_mac, NULL, &error);
        if (error != NULL)
            g_debug("DHCPv6: message refused: %s", error->message);
        if (reply == NULL)
            continue;
        /* Back to where it came from: the client's link-local address, port 546. */
        if (from.sin6_scope_id == 0)
            from.sin6_scope_id = (guint32)server->ifindex;
        data = g_bytes_get_data(reply, &len);
        if (sendto(fd, data, len, 0, (struct sockaddr *)&from, sizeof(from)) < 0)
            g_warning("DHCPv6: cannot answer on '%s': %s", server->ifname, g_strerror(errno));
    }
    return G_SOURCE_CONTINUE;
}

PodvmRaServer *
podvm_ra_server_new(int icmp6_fd, int dhcp6_fd, const char *ifname, const guint8 router_mac[6],
                    const char *prefix_cidr, guint mtu, GError **error)
{
    g_autoptr(PodvmRaServer) server = g_new0(PodvmRaServer, 1);
    guint8 prefix[16];
    guint prefix_len;

    server->icmp6_fd = icmp6_fd;
    server->dhcp6_fd = dhcp6_fd;
    server->ifname = g_strdup(ifname);
    server->leases = g_array_new(FALSE, TRUE, sizeof(PodvmDhcp6Lease));
    server->context = g_main_context_ref_thread_default();
    memcpy(server->router_mac, router_mac, 6);
    if (!podvm_ra_parse_prefix(prefix_cidr, prefix, &prefix_len, error))
        return NULL;
    server->ifindex = ifindex_of(icmp6_fd, ifname, error);
    if (server->ifindex < 0)
        return NULL;
    server->ra = podvm_ra_build(router_mac, prefix, prefix_len, mtu);

    server->icmp6_source = g_unix_fd_source_new(icmp6_fd, G_IO_IN);
    g_source_set_callback(server->icmp6_source, G_SOURCE_FUNC(icmp6_readable_cb), server, NULL);
    g_source_set_static_name(server->icmp6_source, "podvm-ra");
    g_source_attach(server->icmp6_source, server->context);
    server->dhcp6_source = g_unix_fd_source_new(dhcp6_fd, G_IO_IN);
    g_source_set_callback(server->dhcp6_source, G_SOURCE_FUNC(dhcp6_readable_cb), server, NULL);
    g_source_set_static_name(server->dhcp6_source, "podvm-dhcp6");
    g_source_attach(server->dhcp6_source, server->context);

    server->initial_left = RA_INITIAL_COUNT - 1;
    schedule_ra(server, 0);
    return g_steal_pointer(&server);
}

void
podvm_ra_server_set_lease(PodvmRaServer *server, const guint8 mac[6], const char *address)
{
    PodvmDhcp6Lease lease = { 0 };
    struct in6_addr addr;

    for (guint i = 0; i < server->leases->len; i++) {
        if (memcmp(g_array_index(server->leases, PodvmDhcp6Lease, i).mac, mac, 6) == 0) {
            g_array_remove_index(server->leases, i);
            break;
        }
    }
    if (address == NULL)
        return;
    if (inet_pton(AF_INET6, address, &addr) != 1) {
        g_warning("DHCPv6: '%s' is not an IPv6 address; no lease", address);
        return;
    }
    memcpy(lease.mac, mac, 6);
    memcpy(lease.address, addr.s6_addr, 16);
    g_array_append_val(server->leases, lease);
}

void
podvm_ra_server_free(PodvmRaServer *server)
{
    if (server == NULL)
        return;
    if (server->timer != NULL) {
        g_source_destroy(server->timer);
        g_source_unref(server->timer);
    }
    if (server->icmp6_source != NULL) {
        g_source_destroy(server->icmp6_source);
        g_source_unref(server->icmp6_source);
    }
    if (server->dhcp6_source != NULL) {
        g_source_destroy(server->dhcp6_source);
        g_source_unref(server->dhcp6_source);
    }
    if (server->icmp6_fd >= 0)
        close(server->icmp6_fd);
    if (server->dhcp6_fd >= 0)
        close(server->dhcp6_fd);
    g_clear_pointer(&server->ra, g_bytes_unref);
    g_clear_pointer(&server->leases, g_array_unref);
    g_clear_pointer(&server->context, g_main_context_unref);
    g_free(server->ifname);
    g_free(server);
}
