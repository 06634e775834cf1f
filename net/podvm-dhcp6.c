/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-dhcp6.c: the DHCPv6 server's pure part, podvm_dhcp6_answer() (see
 * podvm-dhcp-private.h); the server around it is in podvm-ra.c.
 *
 * Stateful DHCPv6 (RFC 8415) for one address per known MAC, found from the
 * client's DUID-LL or DUID-LLT (Ethernet) or else from an EUI-64 link-local
 * source address; anything else gets nothing. SOLICIT (with rapid commit
 * too), REQUEST, RENEW, REBIND, CONFIRM, RELEASE, DECLINE and
 * INFORMATION-REQUEST are answered. Every option length, nested ones
 * included, is checked before it is read.
 */
#include "podvm-build-config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-dhcp-private.h"
#include "podvm-error.h"

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
    podvm_dhcp_put_u16(out, code);
    podvm_dhcp_put_u16(out, (guint16)len);
    if (len > 0)
        g_byte_array_append(out, data, (guint)len);
}

static void
put_status(GByteArray *out, guint16 status, const char *message)
{
    podvm_dhcp_put_u16(out, OPT6_STATUS_CODE);
    podvm_dhcp_put_u16(out, (guint16)(2 + strlen(message)));
    podvm_dhcp_put_u16(out, status);
    g_byte_array_append(out, (const guint8 *)message, (guint)strlen(message));
}

static void
put_ia_na(GByteArray *out, guint32 iaid, const guint8 *address)
{
    podvm_dhcp_put_u16(out, OPT6_IA_NA);
    if (address != NULL) {
        podvm_dhcp_put_u16(out, 12 + 4 + 24);
        podvm_dhcp_put_u32(out, iaid);
        podvm_dhcp_put_u32(out, DHCP6_T1);
        podvm_dhcp_put_u32(out, DHCP6_T2);
        podvm_dhcp_put_u16(out, OPT6_IAADDR);
        podvm_dhcp_put_u16(out, 24);
        g_byte_array_append(out, address, 16);
        podvm_dhcp_put_u32(out, DHCP6_LIFETIME);
        podvm_dhcp_put_u32(out, DHCP6_LIFETIME);
    } else {
        static const char message[] = "no address for this IA";

        podvm_dhcp_put_u16(out, (guint16)(12 + 6 + strlen(message)));
        podvm_dhcp_put_u32(out, iaid);
        podvm_dhcp_put_u32(out, 0);
        podvm_dhcp_put_u32(out, 0);
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
