/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The DHCPv4 server: podvm_dhcp_answer() on hand-made packets (every
 * reply type, refusals, bounds), then the server on a veth pair answering
 * Debian's busybox udhcpc, the client the test guest runs, in a second
 * network namespace.
 */
#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <signal.h>
#include <string.h>

#include "podvm-dhcp-private.h"
#include "podvm-dhcp.h"
#include "podvm-error.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

static char *netns_why;

static const guint8 guest_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x02 };
static const guint8 other_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x99 };

/* ---- packets ------------------------------------------------------------- */

typedef struct {
    guint8 type;
    const guint8 *mac;
    const char *ciaddr;
    const char *requested; /* option 50 */
    const char *server_id; /* option 54 */
    guint16 max_size;      /* option 57 */
    const char *giaddr;
} RequestSpec;

static void
put_ip(GByteArray *out, const char *text)
{
    struct in_addr addr;

    g_assert_cmpint(inet_pton(AF_INET, text, &addr), ==, 1);
    g_byte_array_append(out, (const guint8 *)&addr, 4);
}

static GByteArray *
make_request(const RequestSpec *spec)
{
    GByteArray *out = g_byte_array_new();
    guint8 header[240] = { 1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef };
    guint8 param_list[] = { 55, 7, 1, 3, 6, 12, 15, 26, 121 };

    if (spec->ciaddr != NULL)
        inet_pton(AF_INET, spec->ciaddr, header + 12);
    if (spec->giaddr != NULL)
        inet_pton(AF_INET, spec->giaddr, header + 24);
    memcpy(header + 28, spec->mac != NULL ? spec->mac : guest_mac, 6);
    header[236] = 99;
    header[237] = 130;
    header[238] = 83;
    header[239] = 99;
    g_byte_array_append(out, header, sizeof(header));
    {
        guint8 type[3] = { 53, 1, spec->type };

        g_byte_array_append(out, type, 3);
    }
    if (spec->requested != NULL) {
        guint8 head[2] = { 50, 4 };

        g_byte_array_append(out, head, 2);
        put_ip(out, spec->requested);
    }
    if (spec->server_id != NULL) {
        guint8 head[2] = { 54, 4 };

        g_byte_array_append(out, head, 2);
        put_ip(out, spec->server_id);
    }
    if (spec->max_size != 0) {
        guint8 opt[4] = { 57, 2, spec->max_size >> 8, spec->max_size & 0xff };

        g_byte_array_append(out, opt, 4);
    }
    g_byte_array_append(out, param_list, sizeof(param_list));
    {
        guint8 end = 255;

        g_byte_array_append(out, &end, 1);
    }
    return out;
}

/* The data of option @code in @reply (concatenated when split, RFC 3396); NULL when absent. */
static GByteArray *
reply_option(GBytes *reply, guint8 code)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(reply, &len);
    GByteArray *found = NULL;
    gsize i = 240;

    g_assert_cmpuint(len, >=, 300);
    g_assert_cmpuint(p[0], ==, 2);
    g_assert_cmpmem(p + 236, 4, "\x63\x82\x53\x63", 4);
    while (TRUE) {
        g_assert_cmpuint(i, <, len);
        if (p[i] == 255)
            break;
        if (p[i] == 0) {
            i++;
            continue;
        }
        g_assert_cmpuint(i + 2 + p[i + 1], <=, len);
        if (p[i] == code) {
            if (found == NULL)
                found = g_byte_array_new();
            g_byte_array_append(found, p + i + 2, p[i + 1]);
        }
        i += 2 + p[i + 1];
    }
    return found;
}

static void
assert_option(GBytes *reply, guint8 code, const void *data, gsize len)
{
    g_autoptr(GByteArray) value = reply_option(reply, code);

    g_test_message("option %u", code);
    g_assert_nonnull(value);
    g_assert_cmpmem(value->data, value->len, data, len);
}

static void
assert_no_option(GBytes *reply, guint8 code)
{
    g_autoptr(GByteArray) value = reply_option(reply, code);

    g_test_message("option %u", code);
    g_assert_null(value);
}

static guint8
reply_type(GBytes *reply)
{
    g_autoptr(GByteArray) type = reply_option(reply, 53);

    g_assert_nonnull(type);
    g_assert_cmpuint(type->len, ==, 1);
    return type->data[0];
}

static const guint8 *
reply_field(GBytes *reply, gsize offset)
{
    return (const guint8 *)g_bytes_get_data(reply, NULL) + offset;
}

static PodvmDhcpLease *
make_lease(const guint8 mac[6])
{
    PodvmDhcpLease *lease = g_new0(PodvmDhcpLease, 1);
    const char *dns[] = { "10.0.2.3", "192.0.2.53", NULL };
    const char *search[] = { "example.com", "svc.example.com", "podvm.test", NULL };
    PodvmRoute *route = g_new0(PodvmRoute, 1);

    memcpy(lease->mac, mac, 6);
    lease->address = g_strdup("10.0.2.2");
    lease->prefix = 24;
    lease->router = g_strdup("10.0.2.1");
    lease->dns = g_strdupv((char **)dns);
    lease->search = g_strdupv((char **)search);
    lease->hostname = g_strdup("guest");
    lease->mtu = 1400;
    lease->lease_seconds = 3600;
    lease->routes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_route_free);
    route->dst = g_strdup("198.51.100.0/24");
    route->gateway = g_strdup("10.0.2.254");
    g_ptr_array_add(lease->routes, route);
    return lease;
}

static void
free_routes(PodvmDhcpLease *lease)
{
    g_clear_pointer(&lease->routes, g_ptr_array_unref);
}

static GBytes *
answer(const RequestSpec *spec, const PodvmDhcpLease *lease, GError **error)
{
    g_autoptr(GByteArray) request = make_request(spec);
    const PodvmDhcpLease *leases[] = { lease };

    return podvm_dhcp_answer(request->data, request->len, leases, 1, "10.0.2.1", error);
}

/* ---- pure tests ------------------------------------------------------------ */

static void
assert_lease_options(GBytes *reply)
{
    static const guint8 routes[] = { 24, 198, 51, 100, 10, 0, 2, 254, 0, 10, 0, 2, 1 };
    static const guint8 search[] = {
        7, 'e', 'x', 'a', 'm',  'p', 'l', 'e', 3,   'c', 'o', 'm', 0, /* example.com */
        3, 's', 'v', 'c', 0xc0, 0,                                    /* svc.<0> */
        5, 'p', 'o', 'd', 'v',  'm', 4,   't', 'e', 's', 't', 0,      /* podvm.test */
    };

    assert_option(reply, 54, "\x0a\x00\x02\x01", 4);
    assert_option(reply, 1, "\xff\xff\xff\x00", 4);
    assert_option(reply, 28, "\x0a\x00\x02\xff", 4);
    assert_option(reply, 3, "\x0a\x00\x02\x01", 4);
    assert_option(reply, 6, "\x0a\x00\x02\x03\xc0\x00\x02\x35", 8);
    assert_option(reply, 26, "\x05\x78", 2);
    assert_option(reply, 121, routes, sizeof(routes));
    assert_option(reply, 12, "guest", 5);
    assert_option(reply, 119, search, sizeof(search));
    assert_option(reply, 15, "example.com", 11);
}

static void
test_discover_offer(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    RequestSpec spec = { .type = PODVM_DHCP_DISCOVER };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = answer(&spec, lease, &error);

    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_assert_cmpuint(reply_type(reply), ==, PODVM_DHCP_OFFER);
    g_assert_cmpmem(reply_field(reply, 4), 4, "\xde\xad\xbe\xef", 4);
    g_assert_cmpmem(reply_field(reply, 12), 4, "\0\0\0\0", 4);
    g_assert_cmpmem(reply_field(reply, 16), 4, "\x0a\x00\x02\x02", 4);
    g_assert_cmpmem(reply_field(reply, 28), 6, guest_mac, 6);
    assert_option(reply, 51, "\x00\x00\x0e\x10", 4);
    assert_lease_options(reply);
}

static void
test_request_ack(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    RequestSpec spec = {
        .type = PODVM_DHCP_REQUEST,
        .requested = "10.0.2.2",
        .server_id = "10.0.2.1",
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = answer(&spec, lease, &error);

    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_assert_cmpuint(reply_type(reply), ==, PODVM_DHCP_ACK);
    g_assert_cmpmem(reply_field(reply, 16), 4, "\x0a\x00\x02\x02", 4);
    assert_option(reply, 51, "\x00\x00\x0e\x10", 4);
    assert_lease_options(reply);
}

static void
test_renew(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    RequestSpec spec = { .type = PODVM_DHCP_REQUEST, .ciaddr = "10.0.2.2" };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = answer(&spec, lease, &error);

    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_assert_cmpuint(reply_type(reply), ==, PODVM_DHCP_ACK);
    g_assert_cmpmem(reply_field(reply, 12), 4, "\x0a\x00\x02\x02", 4);
    g_assert_cmpmem(reply_field(reply, 16), 4, "\x0a\x00\x02\x02", 4);
}

static void
test_request_nak(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    const RequestSpec specs[] = {
        { .type = PODVM_DHCP_REQUEST, .requested = "10.0.2.9", .server_id = "10.0.2.1" },
        { .type = PODVM_DHCP_REQUEST, .requested = "10.0.2.9" }, /* INIT-REBOOT elsewhere */
        { .type = PODVM_DHCP_REQUEST, .ciaddr = "192.0.2.7" },   /* renewing a stranger */
        { .type = PODVM_DHCP_REQUEST },                          /* nothing requested */
    };

    for (gsize i = 0; i < G_N_ELEMENTS(specs); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = answer(&specs[i], lease, &error);

        g_test_message("case %" G_GSIZE_FORMAT, i);
        g_assert_no_error(error);
        g_assert_nonnull(reply);
        g_assert_cmpuint(reply_type(reply), ==, PODVM_DHCP_NAK);
        g_assert_cmpmem(reply_field(reply, 16), 4, "\0\0\0\0", 4);
        assert_option(reply, 54, "\x0a\x00\x02\x01", 4);
        assert_no_option(reply, 51);
        assert_no_option(reply, 1);
        assert_no_option(reply, 3);
    }
}

static void
test_inform(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    RequestSpec spec = { .type = PODVM_DHCP_INFORM, .ciaddr = "10.0.2.2" };
    RequestSpec stranger = { .type = PODVM_DHCP_INFORM, .ciaddr = "192.0.2.7" };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = answer(&spec, lease, &error);
    g_autoptr(GBytes) none = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_assert_cmpuint(reply_type(reply), ==, PODVM_DHCP_ACK);
    /* RFC 2131 4.3.5: no address and no lease time in the ACK to an INFORM. */
    g_assert_cmpmem(reply_field(reply, 16), 4, "\0\0\0\0", 4);
    g_assert_cmpmem(reply_field(reply, 12), 4, "\x0a\x00\x02\x02", 4);
    assert_no_option(reply, 51);
    assert_lease_options(reply);

    none = answer(&stranger, lease, &error);
    g_assert_no_error(error);
    g_assert_null(none);
}

static void
test_silent(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    const RequestSpec specs[] = {
        { .type = PODVM_DHCP_DISCOVER, .mac = other_mac },
        { .type = PODVM_DHCP_REQUEST, .mac = other_mac, .requested = "10.0.2.2" },
        { .type = PODVM_DHCP_REQUEST, .mac = other_mac, .ciaddr = "10.0.2.2" },
        { .type = PODVM_DHCP_INFORM, .mac = other_mac, .ciaddr = "10.0.2.2" },
        /* the client took another server's offer */
        { .type = PODVM_DHCP_REQUEST, .requested = "10.0.2.2", .server_id = "10.0.2.5" },
        { .type = PODVM_DHCP_RELEASE, .ciaddr = "10.0.2.2" },
        { .type = PODVM_DHCP_DECLINE, .requested = "10.0.2.2", .server_id = "10.0.2.1" },
        { .type = PODVM_DHCP_OFFER },
        { .type = PODVM_DHCP_ACK },
        { .type = 200 },
        /* nothing comes through a relay on a pod's link */
        { .type = PODVM_DHCP_DISCOVER, .giaddr = "10.0.2.77" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(specs); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = answer(&specs[i], lease, &error);

        g_test_message("case %" G_GSIZE_FORMAT, i);
        g_assert_no_error(error);
        g_assert_null(reply);
    }
}

static void
assert_refused(const guint8 *data, gsize len, const char *needle)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    const PodvmDhcpLease *leases[] = { lease };
    /* An exact-size copy, so AddressSanitizer sees any read past the end. */
    g_autofree guint8 *copy = g_memdup2(data, len);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = podvm_dhcp_answer(copy, len, leases, 1, "10.0.2.1", &error);

    g_assert_null(reply);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    if (needle != NULL)
        g_assert_nonnull(strstr(error->message, needle));
}

static void
test_malformed(void)
{
    RequestSpec spec = { .type = PODVM_DHCP_DISCOVER };
    g_autoptr(GByteArray) good = make_request(&spec);
    g_autoptr(GByteArray) bad = NULL;
    const guint8 no_type[] = { 255 };
    const guint8 long_type[] = { 53, 2, 1, 1, 255 };
    const guint8 short_ip[] = { 53, 1, 3, 50, 3, 10, 0, 2, 255 };
    const guint8 two_types[] = { 53, 1, 1, 53, 1, 3, 255 };
    const guint8 no_end[] = { 53, 1, 1, 0, 0 };
    const guint8 past_end[] = { 53, 1, 1, 12, 200, 'a', 'b' };
    const guint8 no_length[] = { 53, 1, 1, 12 };
    const struct {
        const guint8 *options;
        gsize len;
        const char *needle;
    } cases[] = {
        { no_type, sizeof(no_type), "no message type" },
        { long_type, sizeof(long_type), "option 53 is 2 bytes long, expected 1" },
        { short_ip, sizeof(short_ip), "option 50 is 3 bytes long, expected 4" },
        { two_types, sizeof(two_types), "two message types" },
        { no_end, sizeof(no_end), "no end option" },
        { past_end, sizeof(past_end), "is 200 bytes long but only 2 are left" },
        { no_length, sizeof(no_length), "has no length byte" },
    };

    assert_refused(good->data, 100, "shorter than its 240-byte header");
    assert_refused(good->data, 0, "shorter than");

    bad = g_byte_array_new();
    g_byte_array_append(bad, good->data, good->len);
    bad->data[236] = 0;
    assert_refused(bad->data, bad->len, "no magic cookie");
    bad->data[236] = 99;
    bad->data[0] = 2;
    assert_refused(bad->data, bad->len, "not a request");
    bad->data[0] = 1;
    bad->data[2] = 16;
    assert_refused(bad->data, bad->len, "not from Ethernet");

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) packet = g_byte_array_new();

        g_byte_array_append(packet, good->data, 240);
        g_byte_array_append(packet, cases[i].options, cases[i].len);
        assert_refused(packet->data, packet->len, cases[i].needle);
    }

    /* Every cut of a good request is refused without reading past the cut. */
    for (gsize len = 0; len < good->len; len++)
        assert_refused(good->data, len, NULL);
}

static void
test_oversized(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    RequestSpec spec = { .type = PODVM_DHCP_DISCOVER };
    RequestSpec big = { .type = PODVM_DHCP_DISCOVER, .max_size = 1500 };
    g_autoptr(GPtrArray) search = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(GByteArray) value = NULL;

    /* Search domains past what a 576-byte reply holds: left out, the lease still goes. */
    for (guint i = 0; i < 30; i++)
        g_ptr_array_add(search, g_strdup_printf("domain%02u.example%02u.test", i, i));
    g_ptr_array_add(search, NULL);
    g_strfreev(lease->search);
    lease->search = g_strdupv((char **)search->pdata);
    reply = answer(&spec, lease, &error);
    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_assert_cmpuint(g_bytes_get_size(reply), <=, 576 - 28);
    assert_no_option(reply, 119);
    assert_option(reply, 26, "\x05\x78", 2);
    g_clear_pointer(&reply, g_bytes_unref);

    /* A client that takes 1500 bytes gets them, split in 255-byte options (RFC 3396). */
    reply = answer(&big, lease, &error);
    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_assert_cmpuint(g_bytes_get_size(reply), >, 576 - 28);
    value = reply_option(reply, 119);
    g_assert_nonnull(value);
    g_assert_cmpuint(value->len, >, 255);
    g_clear_pointer(&reply, g_bytes_unref);

    /* Routes are not optional: too many for the client is an error. */
    for (guint i = 0; i < 200; i++) {
        PodvmRoute *route = g_new0(PodvmRoute, 1);

        route->dst = g_strdup_printf("172.16.%u.0/24", i);
        route->gateway = g_strdup("10.0.2.1");
        g_ptr_array_add(lease->routes, route);
    }
    reply = answer(&spec, lease, &error);
    g_assert_null(reply);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "more than the client takes"));
}

static void
test_routes(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    RequestSpec spec = { .type = PODVM_DHCP_DISCOVER };
    /* An explicit default route, an on-link route and IPv6 (left to the RA). */
    static const char *const routes[][2] = {
        { "0.0.0.0/0", "10.0.2.1" },
        { "10.96.0.0/12", NULL },
        { "fd00::/8", "fd10:0:2::1" },
        { "192.0.2.128/25", "10.0.2.1" },
    };
    static const guint8 expected[] = {
        0,  10,  0,  2, 1,                /* default */
        12, 10,  96, 0, 0,   0,  0,       /* 10.96/12 on-link */
        25, 192, 0,  2, 128, 10, 0, 2, 1, /* 192.0.2.128/25 */
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = NULL;

    free_routes(lease);
    lease->routes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_route_free);
    for (gsize i = 0; i < G_N_ELEMENTS(routes); i++) {
        PodvmRoute *route = g_new0(PodvmRoute, 1);

        route->dst = g_strdup(routes[i][0]);
        route->gateway = g_strdup(routes[i][1]);
        g_ptr_array_add(lease->routes, route);
    }
    reply = answer(&spec, lease, &error);
    g_assert_no_error(error);
    assert_option(reply, 121, expected, sizeof(expected));
    g_clear_pointer(&reply, g_bytes_unref);

    /* No routes: no option 121, the router alone. */
    free_routes(lease);
    reply = answer(&spec, lease, &error);
    g_assert_no_error(error);
    assert_no_option(reply, 121);
    assert_option(reply, 3, "\x0a\x00\x02\x01", 4);
}

static void
test_lease_copy(void)
{
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    g_autoptr(PodvmDhcpLease) copy = podvm_dhcp_lease_copy(lease);

    g_assert_cmpmem(copy->mac, 6, guest_mac, 6);
    g_assert_cmpstr(copy->address, ==, "10.0.2.2");
    g_assert_cmpstrv(copy->dns, lease->dns);
    g_assert_cmpstrv(copy->search, lease->search);
    g_assert_cmpuint(copy->routes->len, ==, 1);
    g_assert_cmpstr(((PodvmRoute *)g_ptr_array_index(copy->routes, 0))->gateway, ==, "10.0.2.254");
}

/* The byte helpers the DHCPv4, DHCPv6 and RA code share (podvm-dhcp-private.h). */
static void
test_byte_helpers(void)
{
    static const guint8 be[] = { 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef };
    static const guint8 ten[] = { 10, 0, 2, 1 };
    g_autoptr(GByteArray) out = g_byte_array_new();
    guint8 ip[4] = { 0 };

    podvm_dhcp_put_u16(out, 0x1234);
    podvm_dhcp_put_u32(out, 0xdeadbeef);
    g_assert_cmpmem(out->data, out->len, be, sizeof be);
    g_assert_true(podvm_dhcp_parse_ipv4("10.0.2.1", ip));
    g_assert_cmpmem(ip, 4, ten, 4);
    g_assert_false(podvm_dhcp_parse_ipv4(NULL, ip));
    g_assert_false(podvm_dhcp_parse_ipv4("10.0.2", ip));
    g_assert_false(podvm_dhcp_parse_ipv4("10.0.2.1/24", ip));
    g_assert_false(podvm_dhcp_parse_ipv4("fd10::1", ip));
}

static void
test_resolv_conf(void)
{
    static const char text[] = "# generated\n"
                               "nameserver 192.0.2.53\n"
                               "nameserver 127.0.0.53\n"
                               "  nameserver\t2001:db8::53  \n"
                               "nameserver ::1\n"
                               "nameserver fe80::1%eth0\n"
                               "domain first.example\n"
                               "search corp.example example.com\n"
                               "options edns0 trust-ad\n"
                               "nameserver 198.51.100.53\n"
                               "nameserver 198.51.100.54\n";
    g_auto(GStrv) dns = NULL;
    g_auto(GStrv) search = NULL;
    const char *expected_dns[] = { "192.0.2.53", "2001:db8::53", "198.51.100.53", NULL };
    const char *expected_search[] = { "corp.example", "example.com", NULL };
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "resolv.conf", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing", NULL);
    g_autofree char *big = g_strnfill(70 * 1024, '#');
    g_autoptr(GError) error = NULL;

    podvm_dhcp_parse_resolv_conf(text, &dns, &search);
    g_assert_cmpstrv(dns, expected_dns);
    g_assert_cmpstrv(search, expected_search);
    g_clear_pointer(&dns, g_strfreev);
    g_clear_pointer(&search, g_strfreev);

    /* systemd-resolved's stub alone: nothing a guest can use. */
    podvm_dhcp_parse_resolv_conf("nameserver 127.0.0.53\noptions edns0\n", &dns, &search);
    g_assert_null(dns);
    g_assert_null(search);

    g_assert_true(g_file_set_contents(path, text, -1, &error));
    g_assert_true(podvm_dhcp_read_resolv_conf(path, &dns, &search, &error));
    g_assert_no_error(error);
    g_assert_cmpstrv(dns, expected_dns);
    g_clear_pointer(&dns, g_strfreev);
    g_clear_pointer(&search, g_strfreev);

    g_assert_true(podvm_dhcp_read_resolv_conf(missing, &dns, &search, &error));
    g_assert_null(dns);
    g_assert_null(search);

    g_assert_true(g_file_set_contents(path, big, -1, &error));
    g_assert_false(podvm_dhcp_read_resolv_conf(path, &dns, &search, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
    podvm_test_rmrf(dir);
}

/* ---- the server against busybox udhcpc --------------------------------------- */

typedef struct {
    char *dir;
    char *client_ns; /* the client's namespace, a bind-mounted nsfs file */
    char *script;
    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    PodvmDhcpServer *server;
    const char *address; /* the lease's */
    gint acks;
} Net;

static gpointer
server_thread(gpointer data)
{
    Net *net = data;

    g_main_context_push_thread_default(net->context);
    g_main_loop_run(net->loop);
    g_main_context_pop_thread_default(net->context);
    return NULL;
}

static void
ack_cb(const guint8 mac[6], const char *address, gpointer user_data)
{
    Net *net = user_data;

    g_assert_cmpmem(mac, 6, guest_mac, 6);
    g_assert_cmpstr(address, ==, net->address);
    g_atomic_int_inc(&net->acks);
}

/*
 * srv0 (10.0.2.1/24, this namespace) <-> cli0 (MAC @client_mac, the client's namespace);
 * the server on srv0 with the lease for guest_mac, running in a thread of its own. With
 * @bridge_binding, as the bridge binding has it: srv0 has 169.254.75.10/32 alone and the
 * lease is 192.0.2.10/24 through 192.0.2.1, a network this namespace has no route to.
 */
static void
net_setup(Net *net, const guint8 client_mac[6], gboolean bridge_binding)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *mac =
        g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", client_mac[0], client_mac[1],
                        client_mac[2], client_mac[3], client_mac[4], client_mac[5]);
    g_autofree char *ns_arg = NULL;
    g_autoptr(PodvmDhcpLease) lease = make_lease(guest_mac);
    int fd;
    static const char script[] =
        "#!/bin/sh\n"
        "echo \"event=$1\"\n"
        "env | grep -E '^(interface|ip|subnet|mask|router|dns|mtu|staticroutes|hostname|search|"
        "domain|lease|serverid|broadcast)=' | sort\n"
        "case $1 in\n"
        "bound|renew) busybox ifconfig \"$interface\" \"$ip\" netmask "
        "\"$subnet\" ;;\n"
        "esac\n"
        "echo end\n";

    const char *server_cidr = bridge_binding ? "169.254.75.10/32" : "10.0.2.1/24";
    const char *server_address = bridge_binding ? "169.254.75.10" : "10.0.2.1";

    net->address = bridge_binding ? "192.0.2.10" : "10.0.2.2";
    if (bridge_binding) {
        PodvmRoute *route = g_ptr_array_index(lease->routes, 0);

        g_free(lease->address);
        lease->address = g_strdup(net->address);
        g_free(lease->router);
        lease->router = g_strdup("192.0.2.1");
        g_free(route->gateway);
        route->gateway = g_strdup("192.0.2.254");
    }
    net->dir = podvm_test_mkdtemp();
    net->client_ns = g_build_filename(net->dir, "client", NULL);
    net->script = g_build_filename(net->dir, "script", NULL);
    g_assert_true(g_file_set_contents(net->script, script, -1, &error));
    g_assert_cmpint(g_chmod(net->script, 0755), ==, 0);
    g_assert_true(g_file_set_contents(net->client_ns, "", 0, &error));
    ns_arg = g_strdup_printf("--net=%s", net->client_ns);

    g_assert_true(podvm_test_netns_run(&error, "unshare", ns_arg, "true", NULL));
    g_assert_no_error(error);
    podvm_test_netns_run(NULL, "ip", "link", "del", "srv0", NULL);
    g_assert_true(podvm_test_netns_run(&error, "ip", "link", "add", "srv0", "type", "veth", "peer",
                                       "name", "cli0", "address", mac, "netns", net->client_ns,
                                       NULL));
    g_assert_true(
        podvm_test_netns_run(&error, "ip", "addr", "add", server_cidr, "dev", "srv0", NULL));
    g_assert_true(podvm_test_netns_run(&error, "ip", "link", "set", "srv0", "up", NULL));
    g_assert_true(
        podvm_test_netns_run(&error, "nsenter", ns_arg, "ip", "link", "set", "lo", "up", NULL));
    g_assert_true(
        podvm_test_netns_run(&error, "nsenter", ns_arg, "ip", "link", "set", "cli0", "up", NULL));
    g_assert_no_error(error);

    fd = podvm_dhcp_open_socket("srv0", &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    net->context = g_main_context_new();
    net->loop = g_main_loop_new(net->context, FALSE);
    g_main_context_push_thread_default(net->context);
    net->server = podvm_dhcp_server_new(fd, server_address, &error);
    g_main_context_pop_thread_default(net->context);
    g_assert_no_error(error);
    podvm_dhcp_server_set_lease(net->server, lease);
    podvm_dhcp_server_set_ack_func(net->server, ack_cb, net);
    net->thread = g_thread_new("dhcp-server", server_thread, net);
}

static void
net_teardown(Net *net)
{
    g_main_loop_quit(net->loop);
    g_thread_join(net->thread);
    podvm_dhcp_server_free(net->server);
    g_main_loop_unref(net->loop);
    g_main_context_unref(net->context);
    podvm_test_netns_run(NULL, "ip", "link", "del", "srv0", NULL);
    podvm_test_netns_run(NULL, "umount", net->client_ns, NULL);
    podvm_test_rmrf(net->dir);
    g_free(net->dir);
    g_free(net->client_ns);
    g_free(net->script);
}

static GSubprocess *
spawn_udhcpc(Net *net, gboolean once, GError **error)
{
    g_autofree char *ns_arg = g_strdup_printf("--net=%s", net->client_ns);

    /* -O: ask for what udhcpc does not by default; -t/-T: quick retries. */
    return g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, error,
                            "nsenter", ns_arg, "busybox", "udhcpc", "-f", once ? "-q" : "-f", "-n",
                            "-i", "cli0", "-s", net->script, "-t", "4", "-T", "1", "-A", "1", "-O",
                            "mtu", "-O", "staticroutes", "-O", "search", "-x", "hostname:guest",
                            NULL);
}

/* The variables the script printed for the first event @event, up to its "end". */
static GHashTable *
read_event(GDataInputStream *in, const char *event, GString *log)
{
    g_autofree char *wanted = g_strdup_printf("event=%s", event);
    GHashTable *vars = NULL;

    while (TRUE) {
        g_autoptr(GError) error = NULL;
        g_autofree char *line = g_data_input_stream_read_line_utf8(in, NULL, NULL, &error);
        char *eq;

        g_assert_no_error(error);
        if (line == NULL)
            return vars; /* udhcpc is gone */
        g_string_append_printf(log, "%s\n", line);
        if (vars == NULL) {
            if (g_str_equal(line, wanted))
                vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
            continue;
        }
        if (g_str_equal(line, "end"))
            return vars;
        eq = strchr(line, '=');
        if (eq != NULL) {
            *eq = '\0';
            g_hash_table_insert(vars, g_strdup(line), g_strdup(eq + 1));
        }
    }
}

static void
assert_var(GHashTable *vars, const char *name, const char *value)
{
    g_test_message("%s", name);
    g_assert_cmpstr(g_hash_table_lookup(vars, name), ==, value);
}

static void
test_udhcpc(void)
{
    Net net = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) client = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autoptr(GHashTable) bound = NULL;
    g_autoptr(GHashTable) renew = NULL;
    g_autoptr(GString) log = g_string_new(NULL);

    if (!podvm_test_netns_require("ip", "nsenter", "busybox", NULL))
        return;
    net_setup(&net, guest_mac, FALSE);
    client = spawn_udhcpc(&net, FALSE, &error);
    g_assert_no_error(error);
    in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(client));

    bound = read_event(in, "bound", log);
    g_test_message("udhcpc:\n%s", log->str);
    g_assert_nonnull(bound);
    assert_var(bound, "interface", "cli0");
    assert_var(bound, "ip", "10.0.2.2");
    assert_var(bound, "subnet", "255.255.255.0");
    assert_var(bound, "mask", "24");
    assert_var(bound, "router", "10.0.2.1");
    assert_var(bound, "dns", "10.0.2.3 192.0.2.53");
    assert_var(bound, "mtu", "1400");
    assert_var(bound, "staticroutes", "198.51.100.0/24 10.0.2.254 0.0.0.0/0 10.0.2.1");
    assert_var(bound, "hostname", "guest");
    assert_var(bound, "search", "example.com svc.example.com podvm.test");
    assert_var(bound, "domain", "example.com");
    assert_var(bound, "lease", "3600");
    assert_var(bound, "serverid", "10.0.2.1");
    assert_var(bound, "broadcast", "10.0.2.255");
    g_assert_cmpint(g_atomic_int_get(&net.acks), ==, 1);

    /* A renewal: unicast from the bound address, answered there. */
    g_subprocess_send_signal(client, SIGUSR1);
    renew = read_event(in, "renew", log);
    g_test_message("udhcpc:\n%s", log->str);
    g_assert_nonnull(renew);
    assert_var(renew, "ip", "10.0.2.2");
    assert_var(renew, "router", "10.0.2.1");
    /* At least one more ACK: on a busy machine udhcpc may give up on the unicast answer
     * after its 1 s (-T 1) and broadcast the renewal again. */
    g_assert_cmpint(g_atomic_int_get(&net.acks), >=, 2);

    g_subprocess_send_signal(client, SIGTERM);
    g_assert_true(g_subprocess_wait(client, NULL, &error));
    net_teardown(&net);
}

static void
test_udhcpc_unknown_mac(void)
{
    Net net = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) client = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autoptr(GHashTable) bound = NULL;
    g_autoptr(GString) log = g_string_new(NULL);

    if (!podvm_test_netns_require("ip", "nsenter", "busybox", NULL))
        return;
    net_setup(&net, other_mac, FALSE);
    client = spawn_udhcpc(&net, TRUE, &error);
    g_assert_no_error(error);
    in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(client));
    bound = read_event(in, "bound", log);
    g_test_message("udhcpc:\n%s", log->str);
    g_assert_null(bound);
    g_assert_true(g_subprocess_wait(client, NULL, &error));
    /* -n: udhcpc gave up without a lease. */
    g_assert_false(g_subprocess_get_successful(client));
    g_assert_nonnull(strstr(log->str, "event=deconfig"));
    g_assert_cmpint(g_atomic_int_get(&net.acks), ==, 0);
    net_teardown(&net);
}

/*
 * The bridge binding: the server answers from 169.254.75.10/32 and has no route to the
 * guest's 192.0.2.10, nor the guest to the server. Both sockets are bound to their device,
 * so the kernel takes the other side as on-link: the renewal goes both ways by unicast (a
 * reply that could not be unicast would be broadcast).
 */
static void
test_udhcpc_bridge_binding(void)
{
    Net net = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) client = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autoptr(GHashTable) bound = NULL;
    g_autoptr(GHashTable) renew = NULL;
    g_autoptr(GString) log = g_string_new(NULL);

    if (!podvm_test_netns_require("ip", "nsenter", "busybox", NULL))
        return;
    net_setup(&net, guest_mac, TRUE);
    client = spawn_udhcpc(&net, FALSE, &error);
    g_assert_no_error(error);
    in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(client));

    bound = read_event(in, "bound", log);
    g_test_message("udhcpc:\n%s", log->str);
    g_assert_nonnull(bound);
    assert_var(bound, "ip", "192.0.2.10");
    assert_var(bound, "router", "192.0.2.1");
    assert_var(bound, "serverid", "169.254.75.10");
    assert_var(bound, "staticroutes", "198.51.100.0/24 192.0.2.254 0.0.0.0/0 192.0.2.1");

    g_subprocess_send_signal(client, SIGUSR1);
    renew = read_event(in, "renew", log);
    g_test_message("udhcpc:\n%s", log->str);
    g_assert_nonnull(renew);
    assert_var(renew, "ip", "192.0.2.10");
    g_assert_cmpint(g_atomic_int_get(&net.acks), >=, 2);

    g_subprocess_send_signal(client, SIGTERM);
    g_assert_true(g_subprocess_wait(client, NULL, &error));
    net_teardown(&net);
}

int
main(int argc, char **argv)
{
    /* First, before any thread exists. */
    podvm_test_netns_enter(&netns_why);

    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/net/dhcp/discover-offer", test_discover_offer);
    g_test_add_func("/podvm/net/dhcp/request-ack", test_request_ack);
    g_test_add_func("/podvm/net/dhcp/renew", test_renew);
    g_test_add_func("/podvm/net/dhcp/request-nak", test_request_nak);
    g_test_add_func("/podvm/net/dhcp/inform", test_inform);
    g_test_add_func("/podvm/net/dhcp/silent", test_silent);
    g_test_add_func("/podvm/net/dhcp/malformed", test_malformed);
    g_test_add_func("/podvm/net/dhcp/oversized", test_oversized);
    g_test_add_func("/podvm/net/dhcp/routes", test_routes);
    g_test_add_func("/podvm/net/dhcp/lease-copy", test_lease_copy);
    g_test_add_func("/podvm/net/dhcp/resolv-conf", test_resolv_conf);
    g_test_add_func("/podvm/net/dhcp/byte-helpers", test_byte_helpers);
    g_test_add_func("/podvm/net/dhcp/udhcpc", test_udhcpc);
    g_test_add_func("/podvm/net/dhcp/udhcpc-unknown-mac", test_udhcpc_unknown_mac);
    g_test_add_func("/podvm/net/dhcp/udhcpc-bridge-binding", test_udhcpc_bridge_binding);
    return g_test_run();
}
