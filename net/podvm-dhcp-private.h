/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The DHCP servers' internals, shared by podvm-dhcp.c, podvm-ra.c, tests and fuzzers. */

#include "podvm-dhcp.h"

G_BEGIN_DECLS

/* DHCPv4 message types (option 53). */
enum {
    PODVM_DHCP_DISCOVER = 1,
    PODVM_DHCP_OFFER = 2,
    PODVM_DHCP_REQUEST = 3,
    PODVM_DHCP_DECLINE = 4,
    PODVM_DHCP_ACK = 5,
    PODVM_DHCP_NAK = 6,
    PODVM_DHCP_RELEASE = 7,
    PODVM_DHCP_INFORM = 8,
};

typedef struct {
    guint8 op;
    guint8 xid[4];
    guint16 flags;
    guint8 ciaddr[4];
    guint8 giaddr[4];
    guint8 chaddr[16];
    guint8 type; /* option 53 */
    gboolean has_requested;
    guint8 requested[4]; /* option 50 */
    gboolean has_server_id;
    guint8 server_id[4]; /* option 54 */
    guint16 max_size;    /* option 57; 0: not sent */
} PodvmDhcpRequest;

/* A BOOTREQUEST from Ethernet with a message type, its options in bounds up to an end option. */
gboolean podvm_dhcp_parse_request(const guint8 *packet, gsize length, PodvmDhcpRequest *out,
                                  GError **error);

/* podvm_dhcp_answer(), also saying which reply it is (PODVM_DHCP_OFFER, _ACK, _NAK) and for
 * which lease (one of @leases). */
GBytes *podvm_dhcp_answer_full(const guint8 *packet, gsize length,
                               const PodvmDhcpLease *const *leases, guint n_leases,
                               const char *server_address, guint8 *out_type,
                               const PodvmDhcpLease **out_lease, GError **error);

/* A dotted IPv4 address as 4 bytes; FALSE for anything else (NULL included). */
gboolean podvm_dhcp_parse_ipv4(const char *text, guint8 out[4]);
/* @value appended to @out in network byte order (DHCPv6 and RA fields). */
void podvm_dhcp_put_u16(GByteArray *out, guint16 value);
void podvm_dhcp_put_u32(GByteArray *out, guint32 value);

/* RFC 3397: @domains in DNS wire format, compressed, appended to @out. */
void podvm_dhcp_encode_search(const char *const *domains, GByteArray *out);

/* ---- IPv6 (podvm-ra.c) ---- */

/* DHCPv6 message types (RFC 8415 7.3). */
enum {
    PODVM_DHCP6_SOLICIT = 1,
    PODVM_DHCP6_ADVERTISE = 2,
    PODVM_DHCP6_REQUEST = 3,
    PODVM_DHCP6_CONFIRM = 4,
    PODVM_DHCP6_RENEW = 5,
    PODVM_DHCP6_REBIND = 6,
    PODVM_DHCP6_REPLY = 7,
    PODVM_DHCP6_RELEASE = 8,
    PODVM_DHCP6_DECLINE = 9,
    PODVM_DHCP6_INFORMATION_REQUEST = 11,
};

typedef struct {
    guint8 mac[6];
    guint8 address[16];
} PodvmDhcp6Lease;

/*
 * The reply (ADVERTISE or REPLY; NULL for nothing to send) to a DHCPv6
 * message from @source (the client's address, 16 bytes, or NULL), the
 * client known by the MAC in its DUID-LL/LLT or else in its EUI-64
 * link-local @source. The server's DUID is the DUID-LL of @server_mac.
 * A malformed message gives NULL and why.
 */
GBytes *podvm_dhcp6_answer(const guint8 *packet, gsize length, const guint8 *source,
                           const PodvmDhcp6Lease *leases, guint n_leases,
                           const guint8 server_mac[6], guint8 *out_type, GError **error);

/* The router advertisement (ICMPv6, checksum left to the kernel): M and O set, the source
 * link-layer address, the MTU when >= 1280, @prefix on-link without autonomous. */
GBytes *podvm_ra_build(const guint8 router_mac[6], const guint8 prefix[16], guint prefix_len,
                       guint mtu);
/* Whether an ICMPv6 message received with @hop_limit is a valid router solicitation. */
gboolean podvm_ra_check_solicit(const guint8 *packet, gsize length, int hop_limit, GError **error);
/* "fd10:0:2::/120" -> prefix (host bits cleared) and length 1..128. */
gboolean podvm_ra_parse_prefix(const char *cidr, guint8 out_prefix[16], guint *out_len,
                               GError **error);

G_END_DECLS
