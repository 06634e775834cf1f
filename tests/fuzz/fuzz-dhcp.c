/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the DHCPv4 server's pure part, podvm_dhcp_answer(),
 * as the server calls it for each datagram a guest sends.
 *
 * The leases: one for the MAC in the input's chaddr (so most inputs reach
 * the reply builder) with routes, nameservers and search domains, one for
 * another MAC, and, picked by the input's hash, a lease with many routes or
 * many search domains (replies near and past the client's size limit).
 * Checks: a refusal is INVALID_ARGUMENT with a UTF-8 message and no reply;
 * a reply is a BOOTREPLY of at least 300 bytes and at most the 1472 a
 * client may take, with the request's xid and chaddr, the magic cookie and
 * options in bounds up to an end option, of type OFFER, ACK or NAK, whose
 * server identifier is ours; an OFFER or ACK gives the lease's address or
 * none (INFORM), a NAK none; nothing is sent to a MAC without a lease.
 */
#include <string.h>

#include "podvm-dhcp-private.h"
#include "podvm-dhcp.h"
#include "podvm-error.h"
#include "podvm-fuzz-util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(TRUE);
    return 0;
}

static void
add_route(PodvmDhcpLease *lease, const char *dst, const char *gateway)
{
    PodvmRoute *route = g_new0(PodvmRoute, 1);

    route->dst = g_strdup(dst);
    route->gateway = g_strdup(gateway);
    g_ptr_array_add(lease->routes, route);
}

static PodvmDhcpLease *
make_lease(const guint8 mac[6], guint32 seed)
{
    static const char *const dns[] = { "10.0.2.3", "192.0.2.53", NULL };
    static const char *const search[] = { "example.com", "svc.example.com", "a..b", "podvm.test",
                                          NULL };
    PodvmDhcpLease *lease = g_new0(PodvmDhcpLease, 1);

    memcpy(lease->mac, mac, 6);
    lease->address = g_strdup("10.0.2.2");
    lease->prefix = seed % 33;
    lease->router = g_strdup("10.0.2.1");
    lease->dns = g_strdupv((char **)dns);
    lease->search = g_strdupv((char **)search);
    lease->hostname = g_strdup("guest");
    lease->mtu = seed & 1 ? 1400 : 0;
    lease->lease_seconds = seed & 2 ? 3600 : 0;
    lease->routes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_route_free);
    add_route(lease, "198.51.100.0/24", "10.0.2.254");
    add_route(lease, "10.96.0.0/12", NULL);
    add_route(lease, "fd00::/8", "fd10:0:2::1");
    switch ((seed >> 2) % 4) {
    case 0:
        for (guint i = 0; i < 120; i++) {
            g_autofree char *dst = g_strdup_printf("172.16.%u.0/24", i);

            add_route(lease, dst, "10.0.2.1");
        }
        break;
    case 1: {
        g_autoptr(GPtrArray) many = g_ptr_array_new_with_free_func(g_free);

        for (guint i = 0; i < 40; i++)
            g_ptr_array_add(many, g_strdup_printf("d%u.example%u.test", i, i % 3));
        g_ptr_array_add(many, NULL);
        g_strfreev(lease->search);
        lease->search = g_strdupv((char **)many->pdata);
        break;
    }
    default:
        break;
    }
    return lease;
}

static void
check_reply(GBytes *reply, const uint8_t *request, size_t size, guint8 type,
            const PodvmDhcpLease *lease)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(reply, &len);
    gboolean seen_type = FALSE, seen_server = FALSE, seen_end = FALSE;
    static const guint8 zero[4] = { 0 };
    static const guint8 server[4] = { 10, 0, 2, 1 };
    static const guint8 address[4] = { 10, 0, 2, 2 };

    PODVM_FUZZ_CHECK(size >= 240);
    PODVM_FUZZ_CHECK(len >= 300);
    PODVM_FUZZ_CHECK(len <= 1500 - 28);
    PODVM_FUZZ_CHECK(p[0] == 2 && p[1] == 1 && p[2] == 6);
    PODVM_FUZZ_CHECK(memcmp(p + 4, request + 4, 4) == 0);
    PODVM_FUZZ_CHECK(memcmp(p + 28, request + 28, 16) == 0);
    PODVM_FUZZ_CHECK(memcmp(p + 28, lease->mac, 6) == 0);
    PODVM_FUZZ_CHECK(memcmp(p + 236, "\x63\x82\x53\x63", 4) == 0);
    PODVM_FUZZ_CHECK(type == PODVM_DHCP_OFFER || type == PODVM_DHCP_ACK || type == PODVM_DHCP_NAK);
    if (type == PODVM_DHCP_NAK || type == PODVM_DHCP_OFFER)
        PODVM_FUZZ_CHECK(memcmp(p + 12, zero, 4) == 0);
    if (type == PODVM_DHCP_NAK)
        PODVM_FUZZ_CHECK(memcmp(p + 16, zero, 4) == 0);
    else
        PODVM_FUZZ_CHECK(memcmp(p + 16, address, 4) == 0 || memcmp(p + 16, zero, 4) == 0);
    if (type == PODVM_DHCP_OFFER)
        PODVM_FUZZ_CHECK(memcmp(p + 16, address, 4) == 0);

    for (gsize i = 240; i < len;) {
        if (p[i] == 255) {
            seen_end = TRUE;
            break;
        }
        if (p[i] == 0) {
            i++;
            continue;
        }
        PODVM_FUZZ_CHECK(i + 1 < len);
        PODVM_FUZZ_CHECK(i + 2 + p[i + 1] <= len);
        if (p[i] == 53) {
            PODVM_FUZZ_CHECK(!seen_type && p[i + 1] == 1 && p[i + 2] == type);
            seen_type = TRUE;
        }
        if (p[i] == 54) {
            PODVM_FUZZ_CHECK(p[i + 1] == 4 && memcmp(p + i + 2, server, 4) == 0);
            seen_server = TRUE;
        }
        i += 2 + (gsize)p[i + 1];
    }
    PODVM_FUZZ_CHECK(seen_end && seen_type && seen_server);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    guint32 seed = podvm_fuzz_hash(data, size);
    guint8 mac[6] = { 0x02, 0, 0, 0, 0, 1 };
    guint8 other[6] = { 0x02, 0, 0, 0, 0, 2 };
    g_autoptr(PodvmDhcpLease) lease = NULL;
    g_autoptr(PodvmDhcpLease) other_lease = NULL;
    const PodvmDhcpLease *leases[2];
    const PodvmDhcpLease *answered = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(GBytes) plain = NULL;
    guint8 type = 0;

    /* Most inputs: a lease for the MAC they carry; some: none for it. */
    if (size >= 34 && (seed & 0x70) != 0)
        memcpy(mac, data + 28, 6);
    lease = make_lease(mac, seed);
    other_lease = make_lease(other, seed >> 8);
    leases[0] = other_lease;
    leases[1] = lease;

    reply = podvm_dhcp_answer_full(data, size, leases, 2, "10.0.2.1", &type, &answered, &error);
    if (reply == NULL) {
        if (error != NULL) {
            PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
            PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        }
        PODVM_FUZZ_CHECK(answered == NULL);
    } else {
        PODVM_FUZZ_CHECK(error == NULL);
        PODVM_FUZZ_CHECK(answered == lease || answered == other_lease);
        check_reply(reply, data, size, type, answered);
    }

    /* The public entry point gives the same bytes. */
    g_clear_error(&error);
    plain = podvm_dhcp_answer(data, size, leases, 2, "10.0.2.1", &error);
    PODVM_FUZZ_CHECK((plain == NULL) == (reply == NULL));
    if (plain != NULL)
        PODVM_FUZZ_CHECK(g_bytes_equal(plain, reply));
    return 0;
}
