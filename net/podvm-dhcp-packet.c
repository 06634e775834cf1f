/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-dhcp-packet.c: the DHCPv4 server's pure part: the request parser and
 * podvm_dhcp_answer() (see podvm-dhcp.h and podvm-dhcp-private.h).
 *
 * The wire format (RFC 2131): a fixed 236-byte BOOTP header, the magic
 * cookie, then options (code, length, data) up to the end option. Every
 * option length is checked against what is left of the packet before it is
 * read; a request that does not parse is refused with the reason, and a
 * request from a MAC without a lease gets nothing. Replies carry the lease
 * (RFC 2132 options, RFC 3397 domain search, RFC 3442 classless routes),
 * long options split as RFC 3396 says, within what the client takes.
 */
#include "podvm-build-config.h"

#include <arpa/inet.h>
#include <glib/gi18n-lib.h>
#include <netinet/in.h>
#include <string.h>

#include "podvm-dhcp.h"
#include "podvm-dhcp-private.h"
#include "podvm-error.h"

#define BOOTREQUEST 1
#define BOOTREPLY 2
#define FIXED_LEN 236
#define OPTIONS_OFFSET 240
#define BOOTP_MIN_LEN 300  /* RFC 1542: some clients drop shorter replies */
#define CLIENT_MIN_MAX 576 /* every client takes a 576-byte IP datagram */
#define IP_UDP_HEADERS 28

enum {
    OPT_PAD = 0,
    OPT_SUBNET_MASK = 1,
    OPT_ROUTER = 3,
    OPT_DNS = 6,
    OPT_HOSTNAME = 12,
    OPT_DOMAIN_NAME = 15,
    OPT_MTU = 26,
    OPT_BROADCAST = 28,
    OPT_REQUESTED_IP = 50,
    OPT_LEASE_TIME = 51,
    OPT_MESSAGE_TYPE = 53,
    OPT_SERVER_ID = 54,
    OPT_MAX_SIZE = 57,
    OPT_DOMAIN_SEARCH = 119,
    OPT_CLASSLESS_ROUTES = 121,
    OPT_END = 255,
};

static const guint8 magic_cookie[4] = { 99, 130, 83, 99 };

/* ---- parsing --------------------------------------------------------------- */

gboolean
podvm_dhcp_parse_request(const guint8 *packet, gsize length, PodvmDhcpRequest *out, GError **error)
{
    PodvmDhcpRequest request = { 0 };
    gboolean seen_end = FALSE;
    gsize i;

    if (length < OPTIONS_OFFSET) {
        g_set_error(
            error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
            _("DHCP packet of %" G_GSIZE_FORMAT " bytes is shorter than its %d-byte header"),
            length, OPTIONS_OFFSET);
        return FALSE;
    }
    if (memcmp(packet + FIXED_LEN, magic_cookie, sizeof(magic_cookie)) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP packet has no magic cookie"));
        return FALSE;
    }
    request.op = packet[0];
    if (request.op != BOOTREQUEST) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP packet is not a request (op %u)"), request.op);
        return FALSE;
    }
    if (packet[1] != 1 || packet[2] != 6) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP request is not from Ethernet (hardware type %u, length %u)"), packet[1],
                    packet[2]);
        return FALSE;
    }
    memcpy(request.xid, packet + 4, 4);
    request.flags = (guint16)((packet[10] << 8) | packet[11]);
    memcpy(request.ciaddr, packet + 12, 4);
    memcpy(request.giaddr, packet + 24, 4);
    memcpy(request.chaddr, packet + 28, 16);

    for (i = OPTIONS_OFFSET; i < length && !seen_end;) {
        guint8 code = packet[i];
        guint8 len;
        const guint8 *data;
        guint expected = 0;

        if (code == OPT_PAD) {
            i++;
            continue;
        }
        if (code == OPT_END) {
            seen_end = TRUE;
            break;
        }
        if (i + 1 >= length) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("DHCP option %u at offset %" G_GSIZE_FORMAT " has no length byte"), code,
                        i);
            return FALSE;
        }
        len = packet[i + 1];
        if (len > length - i - 2) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("DHCP option %u at offset %" G_GSIZE_FORMAT
                          " is %u bytes long but only %" G_GSIZE_FORMAT " are left"),
                        code, i, len, length - i - 2);
            return FALSE;
        }
        data = packet + i + 2;
        switch (code) {
        case OPT_MESSAGE_TYPE:
            expected = 1;
            break;
        case OPT_REQUESTED_IP:
        case OPT_SERVER_ID:
            expected = 4;
            break;
        case OPT_MAX_SIZE:
            expected = 2;
            break;
        default:
            break;
        }
        if (expected != 0 && len != expected) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("DHCP option %u is %u bytes long, expected %u"), code, len, expected);
            return FALSE;
        }
        switch (code) {
        case OPT_MESSAGE_TYPE:
            if (request.type != 0) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("DHCP request has two message types"));
                return FALSE;
            }
            if (data[0] == 0) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("DHCP message type 0 is not valid"));
                return FALSE;
            }
            request.type = data[0];
            break;
        case OPT_REQUESTED_IP:
            request.has_requested = TRUE;
            memcpy(request.requested, data, 4);
            break;
        case OPT_SERVER_ID:
            request.has_server_id = TRUE;
            memcpy(request.server_id, data, 4);
            break;
        case OPT_MAX_SIZE:
            request.max_size = (guint16)((data[0] << 8) | data[1]);
            break;
        default:
            break;
        }
        i += 2 + (gsize)len;
    }
    if (!seen_end) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP request has no end option"));
        return FALSE;
    }
    if (request.type == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP request has no message type (option 53)"));
        return FALSE;
    }
    *out = request;
    return TRUE;
}

/* ---- building -------------------------------------------------------------- */

/* An option, split into several of at most 255 bytes when longer (RFC 3396). */
static void
put_option(GByteArray *out, guint8 code, const guint8 *data, gsize len)
{
    do {
        guint8 chunk = (guint8)MIN(len, 255);
        guint8 head[2] = { code, chunk };

        g_byte_array_append(out, head, 2);
        if (chunk > 0)
            g_byte_array_append(out, data, chunk);
        data += chunk;
        len -= chunk;
    } while (len > 0);
}

static void
put_option_u32(GByteArray *out, guint8 code, guint32 value)
{
    guint8 data[4] = { value >> 24, value >> 16, value >> 8, value };

    put_option(out, code, data, 4);
}

gboolean
podvm_dhcp_parse_ipv4(const char *text, guint8 out[4])
{
    struct in_addr addr;

    if (text == NULL || inet_pton(AF_INET, text, &addr) != 1)
        return FALSE;
    memcpy(out, &addr, 4);
    return TRUE;
}

void
podvm_dhcp_put_u16(GByteArray *out, guint16 value)
{
    guint8 data[2] = { value >> 8, value & 0xff };

    g_byte_array_append(out, data, 2);
}

void
podvm_dhcp_put_u32(GByteArray *out, guint32 value)
{
    guint8 data[4] = { value >> 24, value >> 16, value >> 8, value };

    g_byte_array_append(out, data, 4);
}

/* "10.1.0.0/16" -> address and width; FALSE for anything else (IPv6 included). */
static gboolean
parse_ipv4_cidr(const char *text, guint8 out[4], guint *out_width)
{
    const char *slash = text != NULL ? strchr(text, '/') : NULL;
    g_autofree char *address = NULL;
    guint64 width = 0;

    if (slash == NULL || slash[1] == '\0')
        return FALSE;
    address = g_strndup(text, (gsize)(slash - text));
    if (!podvm_dhcp_parse_ipv4(address, out))
        return FALSE;
    if (!g_ascii_string_to_unsigned(slash + 1, 10, 0, 32, &width, NULL))
        return FALSE;
    *out_width = (guint)width;
    return TRUE;
}

static guint32
mask_of(guint prefix)
{
    return prefix == 0 ? 0 : G_MAXUINT32 << (32 - prefix);
}

/*
 * Domain search (RFC 3397): the names in DNS wire format, a later name
 * pointing at a suffix already written (RFC 1035 4.1.4 compression).
 * Names that are not valid DNS names are left out.
 */
void
podvm_dhcp_encode_search(const char *const *domains, GByteArray *out)
{
    g_autoptr(GPtrArray) suffixes = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) offsets = g_array_new(FALSE, FALSE, sizeof(guint));

    for (gsize d = 0; domains != NULL && domains[d] != NULL; d++) {
        g_autofree char *name = NULL;
        g_auto(GStrv) labels = NULL;
        guint n_labels;
        gboolean valid = TRUE;

        name = g_strdup(domains[d]);
        if (g_str_has_suffix(name, "."))
            name[strlen(name) - 1] = '\0';
        if (name[0] == '\0' || strlen(name) > 253)
            continue;
        labels = g_strsplit(name, ".", -1);
        n_labels = g_strv_length(labels);
        for (guint l = 0; l < n_labels; l++) {
            gsize len = strlen(labels[l]);

            if (len == 0 || len > 63)
                valid = FALSE;
        }
        if (!valid) {
            g_debug("DHCP: domain search '%s' is not a DNS name; left out", domains[d]);
            continue;
        }
        for (guint l = 0; l < n_labels; l++) {
            g_autofree char *suffix = g_strjoinv(".", labels + l);
            guint found = G_MAXUINT;

            for (guint s = 0; s < suffixes->len; s++) {
                if (g_ascii_strcasecmp(g_ptr_array_index(suffixes, s), suffix) == 0) {
                    found = g_array_index(offsets, guint, s);
                    break;
                }
            }
            if (found != G_MAXUINT) {
                guint8 pointer[2] = { 0xc0 | (found >> 8), found & 0xff };

                g_byte_array_append(out, pointer, 2);
                goto next_name;
            }
            if (out->len < 0x3fff) {
                guint offset = out->len;

                g_ptr_array_add(suffixes, g_steal_pointer(&suffix));
                g_array_append_val(offsets, offset);
            }
            {
                guint8 len = (guint8)strlen(labels[l]);

                g_byte_array_append(out, &len, 1);
                g_byte_array_append(out, (const guint8 *)labels[l], len);
            }
        }
        {
            guint8 root = 0;

            g_byte_array_append(out, &root, 1);
        }
    next_name:;
    }
}

/* The classless static routes (RFC 3442), the default route through the router included. */
static gboolean
encode_routes(const PodvmDhcpLease *lease, GByteArray *out, GError **error)
{
    gboolean have_default = FALSE;
    guint8 router[4];

    for (guint i = 0; i < lease->routes->len; i++) {
        const PodvmRoute *route = g_ptr_array_index(lease->routes, i);
        guint8 dst[4], gateway[4] = { 0 };
        guint width = 0;
        guint8 head;

        if (route->dst != NULL && strchr(route->dst, ':') != NULL)
            continue; /* IPv6: for router advertisements */
        if (!parse_ipv4_cidr(route->dst, dst, &width)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("route destination '%s' is not an IPv4 prefix"),
                        route->dst != NULL ? route->dst : "");
            return FALSE;
        }
        if (route->gateway != NULL && !podvm_dhcp_parse_ipv4(route->gateway, gateway)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("route gateway '%s' is not an IPv4 address"), route->gateway);
            return FALSE;
        }
        if (width == 0)
            have_default = TRUE;
        head = (guint8)width;
        g_byte_array_append(out, &head, 1);
        g_byte_array_append(out, dst, (width + 7) / 8);
        g_byte_array_append(out, gateway, 4);
    }
    /* A client that gets option 121 ignores option 3 (RFC 3442), so the default route
     * must be in it. */
    if (out->len > 0 && !have_default && lease->router != NULL &&
        podvm_dhcp_parse_ipv4(lease->router, router)) {
        guint8 head = 0;

        g_byte_array_append(out, &head, 1);
        g_byte_array_append(out, router, 4);
    }
    return TRUE;
}

static GByteArray *
build_reply(const PodvmDhcpRequest *request, const PodvmDhcpLease *lease, guint8 type,
            const guint8 server_ip[4], gboolean lean, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_sized_new(BOOTP_MIN_LEN);
    guint8 header[OPTIONS_OFFSET] = { 0 };
    guint8 address[4] = { 0 };
    gboolean give_address =
        type == PODVM_DHCP_OFFER || (type == PODVM_DHCP_ACK && request->type != PODVM_DHCP_INFORM);

    if (type != PODVM_DHCP_NAK && !podvm_dhcp_parse_ipv4(lease->address, address)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("lease address '%s' is not an IPv4 address"),
                    lease->address != NULL ? lease->address : "");
        return NULL;
    }
    if (type != PODVM_DHCP_NAK && lease->prefix > 32) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("lease prefix length %u is more than 32"), lease->prefix);
        return NULL;
    }

    header[0] = BOOTREPLY;
    header[1] = 1;
    header[2] = 6;
    memcpy(header + 4, request->xid, 4);
    header[10] = request->flags >> 8;
    header[11] = request->flags & 0xff;
    if (type == PODVM_DHCP_ACK)
        memcpy(header + 12, request->ciaddr, 4);
    if (give_address)
        memcpy(header + 16, address, 4);
    memcpy(header + 24, request->giaddr, 4);
    memcpy(header + 28, request->chaddr, 16);
    memcpy(header + FIXED_LEN, magic_cookie, 4);
    g_byte_array_append(out, header, sizeof(header));

    put_option(out, OPT_MESSAGE_TYPE, &type, 1);
    put_option(out, OPT_SERVER_ID, server_ip, 4);
    if (type != PODVM_DHCP_NAK) {
        guint32 mask = mask_of(lease->prefix);
        guint8 router[4];

        if (give_address)
            put_option_u32(out, OPT_LEASE_TIME,
                           lease->lease_seconds == 0 ? G_MAXUINT32 : lease->lease_seconds);
        put_option_u32(out, OPT_SUBNET_MASK, mask);
        if (lease->prefix <= 30) {
            guint32 host = ((guint32)address[0] << 24) | ((guint32)address[1] << 16) |
                           ((guint32)address[2] << 8) | address[3];

            put_option_u32(out, OPT_BROADCAST, host | ~mask);
        }
        if (lease->router != NULL && podvm_dhcp_parse_ipv4(lease->router, router))
            put_option(out, OPT_ROUTER, router, 4);
        if (lease->dns != NULL) {
            g_autoptr(GByteArray) dns = g_byte_array_new();

            for (gsize i = 0; lease->dns[i] != NULL; i++) {
                guint8 server[4];

                if (podvm_dhcp_parse_ipv4(lease->dns[i], server))
                    g_byte_array_append(dns, server, 4);
            }
            if (dns->len > 0)
                put_option(out, OPT_DNS, dns->data, dns->len);
        }
        if (lease->mtu >= 68 && lease->mtu <= G_MAXUINT16) {
            guint8 mtu[2] = { lease->mtu >> 8, lease->mtu & 0xff };

            put_option(out, OPT_MTU, mtu, 2);
        }
        if (lease->routes != NULL && lease->routes->len > 0) {
            g_autoptr(GByteArray) routes = g_byte_array_new();

            if (!encode_routes(lease, routes, error))
                return NULL;
            if (routes->len > 0)
                put_option(out, OPT_CLASSLESS_ROUTES, routes->data, routes->len);
        }
        if (!lean && lease->hostname != NULL && lease->hostname[0] != '\0')
            put_option(out, OPT_HOSTNAME, (const guint8 *)lease->hostname, strlen(lease->hostname));
        if (!lean && lease->search != NULL && lease->search[0] != NULL) {
            g_autoptr(GByteArray) search = g_byte_array_new();
            const char *first = lease->search[0];

            podvm_dhcp_encode_search((const char *const *)lease->search, search);
            if (search->len > 0)
                put_option(out, OPT_DOMAIN_SEARCH, search->data, search->len);
            if (first[0] != '\0')
                put_option(out, OPT_DOMAIN_NAME, (const guint8 *)first, strlen(first));
        }
    }
    {
        guint8 end = OPT_END;

        g_byte_array_append(out, &end, 1);
    }
    if (out->len < BOOTP_MIN_LEN) {
        guint old = out->len;

        g_byte_array_set_size(out, BOOTP_MIN_LEN);
        memset(out->data + old, 0, BOOTP_MIN_LEN - old);
    }
    return g_steal_pointer(&out);
}

static const PodvmDhcpLease *
find_lease(const PodvmDhcpLease *const *leases, guint n_leases, const guint8 mac[6])
{
    for (guint i = 0; i < n_leases; i++)
        if (leases[i] != NULL && memcmp(leases[i]->mac, mac, 6) == 0)
            return leases[i];
    return NULL;
}

GBytes *
podvm_dhcp_answer_full(const guint8 *packet, gsize length, const PodvmDhcpLease *const *leases,
                       guint n_leases, const char *server_address, guint8 *out_type,
                       const PodvmDhcpLease **out_lease, GError **error)
{
    PodvmDhcpRequest request;
    const PodvmDhcpLease *lease;
    guint8 server_ip[4], address[4];
    guint8 type;
    gsize max_len;
    g_autoptr(GByteArray) reply = NULL;

    if (!podvm_dhcp_parse_ipv4(server_address, server_ip)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP server address '%s' is not an IPv4 address"),
                    server_address != NULL ? server_address : "");
        return NULL;
    }
    if (!podvm_dhcp_parse_request(packet, length, &request, error))
        return NULL;

    /* Only the pod's own taps are on this link: nothing comes through a relay. */
    if (request.giaddr[0] | request.giaddr[1] | request.giaddr[2] | request.giaddr[3]) {
        g_debug("DHCP: request through a relay agent ignored");
        return NULL;
    }
    lease = find_lease(leases, n_leases, request.chaddr);
    if (lease == NULL) {
        g_debug("DHCP: no lease for %02x:%02x:%02x:%02x:%02x:%02x", request.chaddr[0],
                request.chaddr[1], request.chaddr[2], request.chaddr[3], request.chaddr[4],
                request.chaddr[5]);
        return NULL;
    }
    if (!podvm_dhcp_parse_ipv4(lease->address, address)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("lease address '%s' is not an IPv4 address"),
                    lease->address != NULL ? lease->address : "");
        return NULL;
    }

    switch (request.type) {
    case PODVM_DHCP_DISCOVER:
        type = PODVM_DHCP_OFFER;
        break;
    case PODVM_DHCP_REQUEST: {
        const guint8 *wanted = NULL;

        /* SELECTING with another server's identifier: the client took its offer. */
        if (request.has_server_id && memcmp(request.server_id, server_ip, 4) != 0)
            return NULL;
        if (request.has_requested)
            wanted = request.requested; /* SELECTING, INIT-REBOOT */
        else if (request.ciaddr[0] | request.ciaddr[1] | request.ciaddr[2] | request.ciaddr[3])
            wanted = request.ciaddr; /* RENEWING, REBINDING */
        type = wanted != NULL && memcmp(wanted, address, 4) == 0 ? PODVM_DHCP_ACK : PODVM_DHCP_NAK;
        break;
    }
    case PODVM_DHCP_INFORM:
        /* Only from the address the client holds: the ACK is sent there. */
        if (memcmp(request.ciaddr, address, 4) != 0)
            return NULL;
        type = PODVM_DHCP_ACK;
        break;
    case PODVM_DHCP_DECLINE:
        g_message("DHCP: %02x:%02x:%02x:%02x:%02x:%02x declined %s (in use on the link?)",
                  request.chaddr[0], request.chaddr[1], request.chaddr[2], request.chaddr[3],
                  request.chaddr[4], request.chaddr[5], lease->address);
        return NULL;
    case PODVM_DHCP_RELEASE:
        g_debug("DHCP: %s released", lease->address);
        return NULL;
    default:
        g_debug("DHCP: message type %u ignored", request.type);
        return NULL;
    }

    /* What the client takes: 576 bytes of IP datagram, or what it says (option 57). */
    max_len = MAX(CLIENT_MIN_MAX, MIN(request.max_size, 1500)) - IP_UDP_HEADERS;
    reply = build_reply(&request, lease, type, server_ip, FALSE, error);
    if (reply != NULL && reply->len > max_len) {
        g_clear_pointer(&reply, g_byte_array_unref);
        reply = build_reply(&request, lease, type, server_ip, TRUE, error);
    }
    if (reply == NULL)
        return NULL;
    if (reply->len > max_len) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP reply of %u bytes is more than the client takes (%" G_GSIZE_FORMAT
                      "); too many routes or nameservers"),
                    reply->len, max_len);
        return NULL;
    }
    if (out_type != NULL)
        *out_type = type;
    if (out_lease != NULL)
        *out_lease = lease;
    return g_byte_array_free_to_bytes(g_steal_pointer(&reply));
}

GBytes *
podvm_dhcp_answer(const guint8 *request, gsize length, const PodvmDhcpLease *const *leases,
                  guint n_leases, const char *server_address, GError **error)
{
    return podvm_dhcp_answer_full(request, length, leases, n_leases, server_address, NULL, NULL,
                                  error);
}
