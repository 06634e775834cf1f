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
 * The DHCPv6 server (RFC 8415) gives one address to each known MAC, found
 * from the client's DUID-LL or DUID-LLT (Ethernet) or else from an EUI-64
 * link-local source address; anything else gets nothing. Like the DHCPv4
 * server it is written here and not dnsmasq: the lease is fixed, there is
 * no state to keep, and the parser is small enough to fuzz whole. Every
 * option length is checked before it is read.
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

#define DHCP6_T1 43200
#define DHCP6_T2 69120
#define DHCP6_LIFETIME 86400

enum {
    OPT6_CLIENTID = 1,
    OPT6_SERVERID = 2,
    OPT6_IA_NA = 3,
    OPT6_IAADDR = 5,
    OPT6_STATUS_CODE = 13,
    OPT6_RAPID_COMMIT = 14,
};

enum {
    STATUS_SUCCESS = 0,
    STATUS_NOADDRSAVAIL = 2,
    STATUS_NOTONLINK = 4,
};

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

static void
put_u16(GByteArray *out, guint16 value)
{
    guint8 data[2] = { value >> 8, value & 0xff };

    g_byte_array_append(out, data, 2);
}

static void
put_u32(GByteArray *out, guint32 value)
{
    guint8 data[4] = { value >> 24, value >> 16, value >> 8, value };

    g_byte_array_append(out, data, 4);
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
    put_u16(out, RA_ROUTER_LIFETIME);
    put_u32(out, 0); /* reachable time: unspecified */
    put_u32(out, 0); /* retrans timer: unspecified */

    {
        guint8 sllao[2] = { ND_OPT_SOURCE_LINKADDR, 1 };

        g_byte_array_append(out, sllao, 2);
        g_byte_array_append(out, router_mac, 6);
    }
    if (mtu >= 1280) {
        guint8 head_mtu[4] = { ND_OPT_MTU, 1, 0, 0 };

        g_byte_array_append(out, head_mtu, 4);
        put_u32(out, mtu);
    }
    {
        /* on-link (L), not autonomous (no A): the address comes from DHCPv6 */
        guint8 head_prefix[4] = { ND_OPT_PREFIX_INFORMATION, 4, (guint8)prefix_len,
                                  ND_OPT_PI_FLAG_ONLINK };

        g_byte_array_append(out, head_prefix, 4);
        put_u32(out, RA_PREFIX_VALID);
        put_u32(out, RA_PREFIX_PREFERRED);
        put_u32(out, 0);
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

/* ---- DHCPv6 -------------------------------------------------------------------- */

typedef struct {
    guint8 type;
    guint8 xid[3];
    const guint8 *client_id; /* into the packet */
    guint16 client_id_len;
    const guint8 *server_id;
    guint16 server_id_len;
    gboolean rapid_commit;
    GArray *ia_na;              /* guint32 IAIDs, in order */
    gboolean addresses_on_link; /* every IAADDR in the IA_NAs is the lease's */
    guint n_addresses;
} Dhcp6Request;

static guint16
get_u16(const guint8 *p)
{
    return (guint16)((p[0] << 8) | p[1]);
}

static guint32
get_u32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

/* The IAADDRs inside an IA_NA's options, each compared with @lease_address. */
static gboolean
parse_ia_na_options(const guint8 *p, gsize len, const guint8 *lease_address, Dhcp6Request *request,
                    GError **error)
{
    for (gsize i = 0; i < len;) {
        guint16 code, olen;

        if (len - i < 4) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("DHCPv6 IA_NA has a truncated option"));
            return FALSE;
        }
        code = get_u16(p + i);
        olen = get_u16(p + i + 2);
        if (olen > len - i - 4) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("DHCPv6 option %u in an IA_NA is %u bytes long but only %" G_GSIZE_FORMAT
                          " are left"),
                        code, olen, len - i - 4);
            return FALSE;
        }
        if (code == OPT6_IAADDR) {
            if (olen < 24) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("DHCPv6 IAADDR is %u bytes long, less than 24"), olen);
                return FALSE;
            }
            request->n_addresses++;
            if (lease_address == NULL || memcmp(p + i + 4, lease_address, 16) != 0)
                request->addresses_on_link = FALSE;
        }
        i += 4 + (gsize)olen;
    }
    return TRUE;
}

static gboolean
parse_dhcp6(const guint8 *packet, gsize length, const guint8 *lease_address, Dhcp6Request *request,
            GError **error)
{
    if (length < 4) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCPv6 message of %" G_GSIZE_FORMAT " bytes is too short"), length);
        return FALSE;
    }
    request->type = packet[0];
    memcpy(request->xid, packet + 1, 3);
    request->addresses_on_link = TRUE;
    for (gsize i = 4; i < length;) {
        guint16 code, len;
        const guint8 *data;

        if (length - i < 4) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("DHCPv6 option at offset %" G_GSIZE_FORMAT " is truncated"), i);
            return FALSE;
        }
        code = get_u16(packet + i);
        len = get_u16(packet + i + 2);
        if (len > length - i - 4) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("DHCPv6 option %u at offset %" G_GSIZE_FORMAT
                          " is %u bytes long but only %" G_GSIZE_FORMAT " are left"),
                        code, i, len, length - i - 4);
            return FALSE;
        }
        data = packet + i + 4;
        switch (code) {
        case OPT6_CLIENTID:
        case OPT6_SERVERID:
            if (len < 2 || len > 130) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("DHCPv6 DUID of %u bytes"), len);
                return FALSE;
            }
            if ((code == OPT6_CLIENTID ? request->client_id : request->server_id) != NULL) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("DHCPv6 option %u appears twice"), code);
                return FALSE;
            }
            if (code == OPT6_CLIENTID) {
                request->client_id = data;
                request->client_id_len = len;
            } else {
                request->server_id = data;
                request->server_id_len = len;
            }
            break;
        case OPT6_IA_NA: {
            guint32 iaid;

            if (len < 12) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("DHCPv6 IA_NA is %u bytes long, less than 12"), len);
                return FALSE;
            }
            if (request->ia_na->len >= 16) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("DHCPv6 message with more than 16 IA_NAs"));
                return FALSE;
            }
            iaid = get_u32(data);
            g_array_append_val(request->ia_na, iaid);
            if (!parse_ia_na_options(data + 12, len - 12, lease_address, request, error))
                return FALSE;
            break;
        }
        case OPT6_RAPID_COMMIT:
            request->rapid_commit = TRUE;
            break;
        default:
            break;
        }
        i += 4 + (gsize)len;
    }
    return TRUE;
}

/* The MAC of a DUID-LLT or DUID-LL of Ethernet. */
static gboolean
mac_of_duid(const guint8 *duid, gsize len, guint8 out[6])
{
    if (len == 10 && get_u16(duid) == 3 && get_u16(duid + 2) == 1) {
        memcpy(out, duid + 4, 6);
        return TRUE;
    }
    if (len == 14 && get_u16(duid) == 1 && get_u16(duid + 2) == 1) {
        memcpy(out, duid + 8, 6);
        return TRUE;
    }
    return FALSE;
}

/* The MAC of an EUI-64 link-local address (fe80::XXXX:XXff:feXX:XXXX). */
static gboolean
mac_of_link_local(const guint8 source[16], guint8 out[6])
{
    static const guint8 fe80[8] = { 0xfe, 0x80 };

    if (memcmp(source, fe80, 8) != 0 || source[11] != 0xff || source[12] != 0xfe)
        return FALSE;
    out[0] = source[8] ^ 0x02;
    out[1] = source[9];
    out[2] = source[10];
    out[3] = source[13];
    out[4] = source[14];
    out[5] = source[15];
    return TRUE;
}

static void
put_option6(GByteArray *out, guint16 code, const guint8 *data, gsize len)
{
    put_u16(out, code);
    put_u16(out, (guint16)len);
    if (len > 0)
        g_byte_array_append(out, data, (guint)len);
}

static void
put_status(GByteArray *out, guint16 status, const char *message)
{
    put_u16(out, OPT6_STATUS_CODE);
    put_u16(out, (guint16)(2 + strlen(message)));
    put_u16(out, status);
    g_byte_array_append(out, (const guint8 *)message, (guint)strlen(message));
}

static void
put_ia_na(GByteArray *out, guint32 iaid, const guint8 *address)
{
    put_u16(out, OPT6_IA_NA);
    if (address != NULL) {
        put_u16(out, 12 + 4 + 24);
        put_u32(out, iaid);
        put_u32(out, DHCP6_T1);
        put_u32(out, DHCP6_T2);
        put_u16(out, OPT6_IAADDR);
        put_u16(out, 24);
        g_byte_array_append(out, address, 16);
        put_u32(out, DHCP6_LIFETIME);
        put_u32(out, DHCP6_LIFETIME);
    } else {
        static const char message[] = "no address for this IA";

        put_u16(out, (guint16)(12 + 6 + strlen(message)));
        put_u32(out, iaid);
        put_u32(out, 0);
        put_u32(out, 0);
        put_status(out, STATUS_NOADDRSAVAIL, message);
    }
}

GBytes *
podvm_dhcp6_answer(const guint8 *packet, gsize length, const guint8 *source,
                   const PodvmDhcp6Lease *leases, guint n_leases, const guint8 server_mac[6],
                   guint8 *out_type, GError **error)
{
    g_autoptr(GArray) ia_na = g_array_new(FALSE, FALSE, sizeof(guint32));
    Dhcp6Request request = { .ia_na = ia_na };
    const PodvmDhcp6Lease *lease = NULL;
    guint8 server_duid[10] = { 0, 3, 0, 1 };
    guint8 mac[6];
    gboolean have_mac;
    g_autoptr(GByteArray) out = NULL;
    guint8 reply_type = PODVM_DHCP6_REPLY;
    guint8 head[4];

    memcpy(server_duid + 4, server_mac, 6);
    /* First pass without a lease address, to find the client. */
    if (!parse_dhcp6(packet, length, NULL, &request, error))
        return NULL;

    have_mac = request.client_id != NULL
                   ? mac_of_duid(request.client_id, request.client_id_len, mac)
                   : FALSE;
    if (!have_mac && source != NULL)
        have_mac = mac_of_link_local(source, mac);
    for (guint i = 0; have_mac && lease == NULL && i < n_leases; i++)
        if (memcmp(leases[i].mac, mac, 6) == 0)
            lease = &leases[i];
    if (lease == NULL) {
        g_debug("DHCPv6: no lease for the client of message type %u", request.type);
        return NULL;
    }
    /* Again, comparing the IA_NAs' addresses with the lease's. */
    g_array_set_size(ia_na, 0);
    memset(&request, 0, sizeof(request));
    request.ia_na = ia_na;
    if (!parse_dhcp6(packet, length, lease->address, &request, error))
        return NULL;

    switch (request.type) {
    case PODVM_DHCP6_SOLICIT:
    case PODVM_DHCP6_REBIND:
    case PODVM_DHCP6_CONFIRM:
        /* Sent to all servers: no server identifier, a client identifier (RFC 8415 16). */
        if (request.server_id != NULL || request.client_id == NULL)
            return NULL;
        break;
    case PODVM_DHCP6_REQUEST:
    case PODVM_DHCP6_RENEW:
    case PODVM_DHCP6_RELEASE:
    case PODVM_DHCP6_DECLINE:
        /* For us alone. */
        if (request.client_id == NULL || request.server_id == NULL ||
            request.server_id_len != sizeof(server_duid) ||
            memcmp(request.server_id, server_duid, sizeof(server_duid)) != 0)
            return NULL;
        break;
    case PODVM_DHCP6_INFORMATION_REQUEST:
        if (request.server_id != NULL &&
            (request.server_id_len != sizeof(server_duid) ||
             memcmp(request.server_id, server_duid, sizeof(server_duid)) != 0))
            return NULL;
        break;
    default:
        g_debug("DHCPv6: message type %u ignored", request.type);
        return NULL;
    }
    if (request.type == PODVM_DHCP6_SOLICIT && !request.rapid_commit)
        reply_type = PODVM_DHCP6_ADVERTISE;

    out = g_byte_array_sized_new(128);
    head[0] = reply_type;
    memcpy(head + 1, request.xid, 3);
    g_byte_array_append(out, head, 4);
    if (request.client_id != NULL)
        put_option6(out, OPT6_CLIENTID, request.client_id, request.client_id_len);
    put_option6(out, OPT6_SERVERID, server_duid, sizeof(server_duid));

    switch (request.type) {
    case PODVM_DHCP6_SOLICIT:
    case PODVM_DHCP6_REQUEST:
    case PODVM_DHCP6_RENEW:
    case PODVM_DHCP6_REBIND:
        if (ia_na->len == 0) {
            put_status(out, STATUS_NOADDRSAVAIL, "only IA_NA addresses are given here");
            break;
        }
        /* The first IA_NA gets the address; any other, none. */
        for (guint i = 0; i < ia_na->len; i++)
            put_ia_na(out, g_array_index(ia_na, guint32, i), i == 0 ? lease->address : NULL);
        if (reply_type == PODVM_DHCP6_REPLY && request.type == PODVM_DHCP6_SOLICIT)
            put_option6(out, OPT6_RAPID_COMMIT, NULL, 0);
        break;
    case PODVM_DHCP6_CONFIRM:
        if (request.n_addresses == 0)
            return NULL; /* nothing to confirm (RFC 8415 18.3.3) */
        if (request.addresses_on_link)
            put_status(out, STATUS_SUCCESS, "on link");
        else
            put_status(out, STATUS_NOTONLINK, "not on link");
        break;
    case PODVM_DHCP6_RELEASE:
    case PODVM_DHCP6_DECLINE:
        if (request.type == PODVM_DHCP6_DECLINE)
            g_message("DHCPv6: the guest declined its address (in use on the link?)");
        put_status(out, STATUS_SUCCESS, "done");
        break;
    default:
        break;
    }
    if (out_type != NULL)
        *out_type = reply_type;
    return g_byte_array_free_to_bytes(g_steal_pointer(&out));
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
