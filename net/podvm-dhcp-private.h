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

/* RFC 3397: @domains in DNS wire format, compressed, appended to @out. */
void podvm_dhcp_encode_search(const char *const *domains, GByteArray *out);

G_END_DECLS
