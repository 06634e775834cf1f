/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IPv6 for a guest: the router advertisement and DHCPv6 answers as bytes,
 * then the server on a veth pair: the kernel of a second namespace takes
 * the RA (on-link prefix, default route, no SLAAC address), and a DHCPv6
 * client on a socket in that namespace gets fd10:0:2::2 by SOLICIT,
 * ADVERTISE, REQUEST, REPLY; a client with an unknown MAC gets nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-dhcp-private.h"
#include "podvm-dhcp.h"
#include "podvm-error.h"
#include "podvm-netns.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

static char *netns_why;

static const guint8 router_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x01 };
static const guint8 guest_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x02 };
static const guint8 other_mac[6] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x99 };
static const guint8 guest_address[16] = { 0xfd, 0x10, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

/* ---- DHCPv6 messages --------------------------------------------------------- */

static void
put_u16(GByteArray *out, guint16 value)
{
    guint8 data[2] = { value >> 8, value & 0xff };

    g_byte_array_append(out, data, 2);
}

static void
put_option(GByteArray *out, guint16 code, const void *data, gsize len)
{
    put_u16(out, code);
    put_u16(out, (guint16)len);
    g_byte_array_append(out, data, (guint)len);
}

/* A client's message: DUID-LL of @mac (none when NULL), one IA_NA (IAID 7) holding
 * @ia_address when given, our server's DUID when @to_server. */
static GByteArray *
make_message(guint8 type, const guint8 *mac, gboolean to_server, gboolean rapid,
             const guint8 *ia_address)
{
    GByteArray *out = g_byte_array_new();
    guint8 head[4] = { type, 0x12, 0x34, 0x56 };
    guint8 elapsed[2] = { 0, 0 };
    guint8 oro[2] = { 0, 23 };

    g_byte_array_append(out, head, 4);
    if (mac != NULL) {
        guint8 duid[10] = { 0, 3, 0, 1 };

        memcpy(duid + 4, mac, 6);
        put_option(out, 1, duid, sizeof(duid));
    }
    if (to_server) {
        guint8 duid[10] = { 0, 3, 0, 1 };

        memcpy(duid + 4, router_mac, 6);
        put_option(out, 2, duid, sizeof(duid));
    }
    put_option(out, 8, elapsed, 2);
    put_option(out, 6, oro, 2);
    if (rapid)
        put_option(out, 14, NULL, 0);
    {
        g_autoptr(GByteArray) ia = g_byte_array_new();
        guint8 iaid_t1_t2[12] = { 0, 0, 0, 7 };

        g_byte_array_append(ia, iaid_t1_t2, 12);
        if (ia_address != NULL) {
            guint8 iaaddr[24] = { 0 };

            memcpy(iaaddr, ia_address, 16);
            put_option(ia, 5, iaaddr, 24);
        }
        put_option(out, 3, ia->data, ia->len);
    }
    return out;
}

/* Option @code at the top level of a DHCPv6 reply (its data, or NULL). */
static GBytes *
option6(GBytes *reply, guint16 code)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(reply, &len);

    for (gsize i = 4; i + 4 <= len;) {
        guint16 c = (guint16)((p[i] << 8) | p[i + 1]);
        guint16 l = (guint16)((p[i + 2] << 8) | p[i + 3]);

        g_assert_cmpuint(i + 4 + l, <=, len);
        if (c == code)
            return g_bytes_new(p + i + 4, l);
        i += 4 + (gsize)l;
    }
    return NULL;
}

static guint16
status_of(GBytes *option)
{
    const guint8 *p = g_bytes_get_data(option, NULL);

    g_assert_cmpuint(g_bytes_get_size(option), >=, 2);
    return (guint16)((p[0] << 8) | p[1]);
}

/* The IA_NA's IAID 7 and address fd10:0:2::2 with its lifetimes. */
static void
assert_ia_na(GBytes *reply)
{
    g_autoptr(GBytes) ia = option6(reply, 3);
    const guint8 *p;

    g_assert_nonnull(ia);
    g_assert_cmpuint(g_bytes_get_size(ia), ==, 12 + 4 + 24);
    p = g_bytes_get_data(ia, NULL);
    g_assert_cmpmem(p, 4, "\0\0\0\7", 4);
    g_assert_cmpmem(p + 12, 4, "\0\5\0\x18", 4);
    g_assert_cmpmem(p + 16, 16, guest_address, 16);
}

static GBytes *
answer6(GByteArray *message, const guint8 *source, guint8 *out_type, GError **error)
{
    PodvmDhcp6Lease lease = { 0 };

    memcpy(lease.mac, guest_mac, 6);
    memcpy(lease.address, guest_address, 16);
    return podvm_dhcp6_answer(message->data, message->len, source, &lease, 1, router_mac, out_type,
                              error);
}

static void
assert_ids(GBytes *reply, const guint8 *client_mac)
{
    g_autoptr(GBytes) client = option6(reply, 1);
    g_autoptr(GBytes) server = option6(reply, 2);
    guint8 duid[10] = { 0, 3, 0, 1 };

    memcpy(duid + 4, router_mac, 6);
    g_assert_nonnull(server);
    g_assert_cmpmem(g_bytes_get_data(server, NULL), g_bytes_get_size(server), duid, 10);
    memcpy(duid + 4, client_mac, 6);
    g_assert_nonnull(client);
    g_assert_cmpmem(g_bytes_get_data(client, NULL), g_bytes_get_size(client), duid, 10);
}

/* ---- pure tests ------------------------------------------------------------ */

static void
test_ra_bytes(void)
{
    guint8 prefix[16];
    guint len = 0;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) ra = NULL;
    static const guint8 expected[] = {
        134,  0,    0,    0,    64,   0xc0, 0x07, 0x08,
        0,    0,    0,    0,    0,    0,    0,    0,    /* header, M|O, 1800 s */
        1,    1,    0x02, 0x50, 0x56, 0x00, 0x00, 0x01, /* source link-layer */
        5,    1,    0,    0,    0,    0,    0x05, 0x78, /* MTU 1400 */
        3,    4,    120,  0x80, 0,    1,    0x51, 0x80,
        0,    0,    0x38, 0x40, 0,    0,    0,    0, /* L only */
        0xfd, 0x10, 0,    0,    0,    2,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,
    };

    g_assert_true(podvm_ra_parse_prefix("fd10:0:2::5/120", prefix, &len, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(len, ==, 120);
    ra = podvm_ra_build(router_mac, prefix, len, 1400);
    g_assert_cmpmem(g_bytes_get_data(ra, NULL), g_bytes_get_size(ra), expected, sizeof(expected));

    for (gsize i = 0; i < 4; i++) {
        static const char *const bad[] = { "fd10:0:2::", "fd10:0:2::/0", "10.0.2.0/24",
                                           "fd10::/129" };
        g_autoptr(GError) bad_error = NULL;

        g_assert_false(podvm_ra_parse_prefix(bad[i], prefix, &len, &bad_error));
        g_assert_error(bad_error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_ra_solicit(void)
{
    static const guint8 plain[8] = { 133 };
    static const guint8 with_sllao[16] = { 133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 2 };
    static const guint8 zero_option[16] = { 133, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    static const guint8 long_option[16] = { 133, 0, 0, 0, 0, 0, 0, 0, 1, 2 };
    static const guint8 advert[8] = { 134 };
    g_autoptr(GError) error = NULL;

    g_assert_true(podvm_ra_check_solicit(plain, sizeof(plain), 255, NULL));
    g_assert_true(podvm_ra_check_solicit(with_sllao, sizeof(with_sllao), 255, NULL));
    g_assert_false(podvm_ra_check_solicit(plain, sizeof(plain), 254, &error));
    g_assert_nonnull(strstr(error->message, "hop limit 254"));
    g_clear_error(&error);
    g_assert_false(podvm_ra_check_solicit(zero_option, sizeof(zero_option), 255, &error));
    g_clear_error(&error);
    g_assert_false(podvm_ra_check_solicit(long_option, sizeof(long_option), 255, &error));
    g_clear_error(&error);
    g_assert_false(podvm_ra_check_solicit(with_sllao, 9, 255, &error));
    g_clear_error(&error);
    g_assert_false(podvm_ra_check_solicit(advert, sizeof(advert), 255, &error));
    g_clear_error(&error);
    g_assert_false(podvm_ra_check_solicit(plain, 4, 255, &error));
}

static void
test_dhcp6_exchange(void)
{
    g_autoptr(GByteArray) solicit =
        make_message(PODVM_DHCP6_SOLICIT, guest_mac, FALSE, FALSE, NULL);
    g_autoptr(GByteArray) rapid = make_message(PODVM_DHCP6_SOLICIT, guest_mac, FALSE, TRUE, NULL);
    g_autoptr(GByteArray) request =
        make_message(PODVM_DHCP6_REQUEST, guest_mac, TRUE, FALSE, guest_address);
    g_autoptr(GByteArray) renew =
        make_message(PODVM_DHCP6_RENEW, guest_mac, TRUE, FALSE, guest_address);
    g_autoptr(GByteArray) rebind =
        make_message(PODVM_DHCP6_REBIND, guest_mac, FALSE, FALSE, guest_address);
    g_autoptr(GError) error = NULL;
    GByteArray *replied[] = { request, renew, rebind };
    guint8 type = 0;
    g_autoptr(GBytes) advertise = answer6(solicit, NULL, &type, &error);
    g_autoptr(GBytes) committed = NULL;
    g_autoptr(GBytes) rapid_option = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(advertise);
    g_assert_cmpuint(type, ==, PODVM_DHCP6_ADVERTISE);
    g_assert_cmpmem(g_bytes_get_data(advertise, NULL), 4, "\x02\x12\x34\x56", 4);
    assert_ids(advertise, guest_mac);
    assert_ia_na(advertise);

    committed = answer6(rapid, NULL, &type, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(type, ==, PODVM_DHCP6_REPLY);
    assert_ia_na(committed);
    rapid_option = option6(committed, 14);
    g_assert_nonnull(rapid_option);

    for (gsize i = 0; i < G_N_ELEMENTS(replied); i++) {
        g_autoptr(GBytes) reply = answer6(replied[i], NULL, &type, &error);

        g_assert_no_error(error);
        g_assert_nonnull(reply);
        g_assert_cmpuint(type, ==, PODVM_DHCP6_REPLY);
        assert_ids(reply, guest_mac);
        assert_ia_na(reply);
    }
}

static void
test_dhcp6_confirm_release(void)
{
    static const guint8 elsewhere[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    g_autoptr(GByteArray) confirm =
        make_message(PODVM_DHCP6_CONFIRM, guest_mac, FALSE, FALSE, guest_address);
    g_autoptr(GByteArray) moved =
        make_message(PODVM_DHCP6_CONFIRM, guest_mac, FALSE, FALSE, elsewhere);
    g_autoptr(GByteArray) release =
        make_message(PODVM_DHCP6_RELEASE, guest_mac, TRUE, FALSE, guest_address);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = answer6(confirm, NULL, NULL, &error);
    g_autoptr(GBytes) status = option6(reply, 13);

    g_assert_cmpuint(status_of(status), ==, 0);
    g_clear_pointer(&reply, g_bytes_unref);
    g_clear_pointer(&status, g_bytes_unref);
    reply = answer6(moved, NULL, NULL, &error);
    status = option6(reply, 13);
    g_assert_cmpuint(status_of(status), ==, 4); /* NotOnLink */
    g_clear_pointer(&reply, g_bytes_unref);
    g_clear_pointer(&status, g_bytes_unref);
    reply = answer6(release, NULL, NULL, &error);
    status = option6(reply, 13);
    g_assert_cmpuint(status_of(status), ==, 0);
    g_assert_no_error(error);
}

static void
test_dhcp6_silent(void)
{
    static const guint8 stranger_ll[16] = { 0xfe, 0x80, [8] = 0x00, 0x50, 0x56,
                                            0xff, 0xfe, 0x00,       0x00, 0x99 };
    static const guint8 guest_ll[16] = { 0xfe, 0x80, [8] = 0x00, 0x50, 0x56,
                                         0xff, 0xfe, 0x00,       0x00, 0x02 };
    g_autoptr(GByteArray) unknown =
        make_message(PODVM_DHCP6_SOLICIT, other_mac, FALSE, FALSE, NULL);
    g_autoptr(GByteArray) no_duid = make_message(PODVM_DHCP6_SOLICIT, NULL, FALSE, FALSE, NULL);
    g_autoptr(GByteArray) info =
        make_message(PODVM_DHCP6_INFORMATION_REQUEST, NULL, FALSE, FALSE, NULL);
    g_autoptr(GByteArray) not_ours =
        make_message(PODVM_DHCP6_REQUEST, guest_mac, FALSE, FALSE, guest_address);
    g_autoptr(GByteArray) solicit_to_us =
        make_message(PODVM_DHCP6_SOLICIT, guest_mac, TRUE, FALSE, NULL);
    g_autoptr(GByteArray) advertise =
        make_message(PODVM_DHCP6_ADVERTISE, guest_mac, TRUE, FALSE, NULL);
    GByteArray *silent[] = { unknown, not_ours, solicit_to_us, advertise };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(silent); i++) {
        g_autoptr(GBytes) none = answer6(silent[i], guest_ll, NULL, &error);

        g_test_message("case %" G_GSIZE_FORMAT, i);
        g_assert_no_error(error);
        g_assert_null(none);
    }
    /* No DUID: the MAC from an EUI-64 link-local source; a stranger's gets nothing. */
    reply = answer6(no_duid, stranger_ll, NULL, &error);
    g_assert_no_error(error);
    g_assert_null(reply);
    reply = answer6(info, guest_ll, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(reply);
    g_clear_pointer(&reply, g_bytes_unref);
    /* A SOLICIT needs a client identifier even from a known link-local address. */
    reply = answer6(no_duid, guest_ll, NULL, &error);
    g_assert_no_error(error);
    g_assert_null(reply);
}

static void
test_dhcp6_malformed(void)
{
    g_autoptr(GByteArray) good =
        make_message(PODVM_DHCP6_REQUEST, guest_mac, TRUE, FALSE, guest_address);
    const struct {
        const guint8 *data;
        gsize len;
        const char *needle;
    } cases[] = {
        { (const guint8 *)"\x01\x00\x00", 3, "too short" },
        { (const guint8 *)"\x01\x00\x00\x00\x00\x01\x00", 7, "truncated" },
        { (const guint8 *)"\x01\x00\x00\x00\x00\x01\x00\x09\x00\x03", 10, "only 2 are left" },
        { (const guint8 *)"\x01\x00\x00\x00\x00\x01\x00\x01\x00", 9, "DUID of 1 bytes" },
        { (const guint8 *)"\x01\x00\x00\x00\x00\x03\x00\x04\x00\x00\x00\x07", 12,
          "IA_NA is 4 bytes long" },
        { (const guint8 *)"\x01\x00\x00\x00\x00\x03\x00\x14\0\0\0\7\0\0\0\0\0\0\0\0\0\5\0\4"
                          "\0\0\0\0",
          28, "IAADDR is 4 bytes long" },
        { (const guint8 *)"\x01\x00\x00\x00\x00\x01\x00\x02\x00\x03\x00\x01\x00\x02\x00\x03", 16,
          "appears twice" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) message = g_byte_array_new();
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = NULL;

        g_byte_array_append(message, cases[i].data, (guint)cases[i].len);
        reply = answer6(message, NULL, NULL, &error);
        g_test_message("case %" G_GSIZE_FORMAT ": %s", i, error != NULL ? error->message : "");
        g_assert_null(reply);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, cases[i].needle));
    }
    /* Every cut of a good message: refused or answered, never read past the cut. */
    for (guint len = 0; len < good->len; len++) {
        g_autoptr(GByteArray) cut = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = NULL;

        /* an exact-size copy, so AddressSanitizer sees a read past the cut */
        cut = g_byte_array_new_take(g_memdup2(good->data, len), len);
        reply = answer6(cut, NULL, NULL, &error);
        g_assert_true(reply == NULL || error == NULL);
    }
}

/* ---- the server on a veth pair ------------------------------------------------ */

typedef struct {
    char *dir;
    char *client_ns;
    int client_ns_fd;
    GMainContext *context;
    GMainLoop *loop;
    GThread *thread;
    PodvmRaServer *server;
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

/* srv0 (router_mac, no DAD) here <-> cli0 (guest_mac, no DAD) in the client namespace; the
 * RA/DHCPv6 server on srv0 in a thread of its own, leasing fd10:0:2::2 to guest_mac. */
static void
net_setup(Net *net)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *ns_arg = NULL;
    g_autofree char *router =
        g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", router_mac[0], router_mac[1],
                        router_mac[2], router_mac[3], router_mac[4], router_mac[5]);
    g_autofree char *guest =
        g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", guest_mac[0], guest_mac[1], guest_mac[2],
                        guest_mac[3], guest_mac[4], guest_mac[5]);
    int icmp6_fd = -1, dhcp6_fd = -1;

    net->dir = podvm_test_mkdtemp();
    net->client_ns = g_build_filename(net->dir, "client", NULL);
    g_assert_true(podvm_netns_create(net->client_ns, &error));
    g_assert_no_error(error);
    net->client_ns_fd = podvm_netns_open(net->client_ns, &error);
    g_assert_no_error(error);
    ns_arg = g_strdup_printf("--net=%s", net->client_ns);

    podvm_test_netns_run(NULL, "ip", "link", "del", "srv0", NULL);
    g_assert_true(podvm_test_netns_run(&error, "ip", "link", "add", "srv0", "address", router,
                                       "type", "veth", "peer", "name", "cli0", "address", guest,
                                       "netns", net->client_ns, NULL));
    g_assert_true(podvm_test_netns_run(&error, "busybox", "sysctl", "-w",
                                       "net.ipv6.conf.srv0.accept_dad=0", NULL));
    g_assert_true(podvm_test_netns_run(&error, "ip", "link", "set", "srv0", "up", NULL));
    g_assert_true(podvm_test_netns_run(&error, "nsenter", ns_arg, "busybox", "sysctl", "-w",
                                       "net.ipv6.conf.cli0.accept_dad=0", NULL));
    g_assert_true(
        podvm_test_netns_run(&error, "nsenter", ns_arg, "ip", "link", "set", "cli0", "up", NULL));
    g_assert_no_error(error);

    g_assert_true(podvm_ra_open_sockets("srv0", &icmp6_fd, &dhcp6_fd, &error));
    g_assert_no_error(error);
    net->context = g_main_context_new();
    net->loop = g_main_loop_new(net->context, FALSE);
    g_main_context_push_thread_default(net->context);
    net->server =
        podvm_ra_server_new(icmp6_fd, dhcp6_fd, "srv0", router_mac, "fd10:0:2::/120", 1400, &error);
    g_main_context_pop_thread_default(net->context);
    g_assert_no_error(error);
    podvm_ra_server_set_lease(net->server, guest_mac, "fd10:0:2::2");
    net->thread = g_thread_new("ra-server", server_thread, net);
}

static void
net_teardown(Net *net)
{
    g_main_loop_quit(net->loop);
    g_thread_join(net->thread);
    podvm_ra_server_free(net->server);
    g_main_loop_unref(net->loop);
    g_main_context_unref(net->context);
    podvm_test_netns_run(NULL, "ip", "link", "del", "srv0", NULL);
    close(net->client_ns_fd);
    podvm_netns_remove(net->client_ns, NULL);
    podvm_test_rmrf(net->dir);
    g_free(net->dir);
    g_free(net->client_ns);
}

static void
test_ra_kernel(void)
{
    Net net = { 0 };
    g_autofree char *ns_arg = NULL;
    g_autofree char *routes = NULL;
    g_autofree char *addresses = NULL;
    g_autofree char *mtu = NULL;
    gboolean seen = FALSE;

    if (!podvm_test_netns_require("ip", "nsenter", "busybox", NULL))
        return;
    net_setup(&net);
    ns_arg = g_strdup_printf("--net=%s", net.client_ns);
    /* The client's kernel solicits when cli0 comes up; the answer comes at once. */
    for (guint i = 0; i < 100 && !seen; i++) {
        g_free(routes);
        routes = podvm_test_netns_run_output("nsenter", ns_arg, "ip", "-6", "route", "show", "dev",
                                             "cli0", NULL);
        seen = strstr(routes, "fd10:0:2::/120 proto kernel") != NULL &&
               strstr(routes, "default via fe80::50:56ff:fe00:1 proto ra") != NULL;
        if (!seen)
            g_usleep(100 * 1000);
    }
    g_test_message("routes:\n%s", routes);
    g_assert_true(seen);
    /* No autonomous flag: no SLAAC address from the prefix. */
    addresses = podvm_test_netns_run_output("nsenter", ns_arg, "ip", "-6", "addr", "show", "dev",
                                            "cli0", NULL);
    g_test_message("addresses:\n%s", addresses);
    g_assert_null(strstr(addresses, "fd10:"));
    mtu = podvm_test_netns_run_output("nsenter", ns_arg, "cat", "/proc/sys/net/ipv6/conf/cli0/mtu",
                                      NULL);
    g_assert_cmpstr(g_strstrip(mtu), ==, "1400");
    net_teardown(&net);
}

/* Sends @message from a socket on cli0 (in the client namespace) to ff02::1:2 and returns the
 * first answer within @timeout_ms, or NULL. */
static GBytes *
exchange(Net *net, int fd, int ifindex, GByteArray *message, guint timeout_ms)
{
    struct sockaddr_in6 to = {
        .sin6_family = AF_INET6,
        .sin6_port = htons(547),
        .sin6_scope_id = (guint32)ifindex,
    };
    gint64 deadline = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;

    inet_pton(AF_INET6, "ff02::1:2", &to.sin6_addr);
    /* Resent every 500 ms, as a client does, until the link is ready. */
    while (g_get_monotonic_time() < deadline) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        guint8 buffer[1500];
        ssize_t got;

        ssize_t sent =
            sendto(fd, message->data, message->len, 0, (struct sockaddr *)&to, sizeof(to));

        /* Until its link-local address is usable (DAD, a loaded machine) the send may fail. */
        if (sent < 0) {
            int saved = errno;

            g_test_message("sendto: %s; again", g_strerror(saved));
            g_assert_true(saved == EADDRNOTAVAIL || saved == ENETUNREACH || saved == ENETDOWN ||
                          saved == EAGAIN || saved == ENOBUFS);
            g_usleep(200 * 1000);
            continue;
        }
        g_assert_cmpint(sent, ==, (ssize_t)message->len);
        if (poll(&pfd, 1, 500) <= 0)
            continue;
        got = recv(fd, buffer, sizeof(buffer), 0);
        g_assert_cmpint(got, >=, 4);
        return g_bytes_new(buffer, (gsize)got);
    }
    return NULL;
}

static void
test_dhcp6_client(void)
{
    Net net = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) solicit =
        make_message(PODVM_DHCP6_SOLICIT, guest_mac, FALSE, FALSE, NULL);
    g_autoptr(GByteArray) request =
        make_message(PODVM_DHCP6_REQUEST, guest_mac, TRUE, FALSE, guest_address);
    g_autoptr(GByteArray) stranger =
        make_message(PODVM_DHCP6_SOLICIT, other_mac, FALSE, FALSE, NULL);
    g_autoptr(GBytes) advertise = NULL;
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(GBytes) none = NULL;
    struct sockaddr_in6 any = { .sin6_family = AF_INET6, .sin6_port = htons(546) };
    struct ifreq ifr = { .ifr_name = "cli0" };
    int fd, one = 1;

    if (!podvm_test_netns_require("ip", "nsenter", "busybox", NULL))
        return;
    net_setup(&net);
    fd = podvm_netns_socket(net.client_ns_fd, AF_INET6, SOCK_DGRAM, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "cli0", 5), ==, 0);
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), ==, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&any, sizeof(any)), ==, 0);
    g_assert_cmpint(ioctl(fd, SIOCGIFINDEX, &ifr), ==, 0);

    advertise = exchange(&net, fd, ifr.ifr_ifindex, solicit, 10000);
    g_assert_nonnull(advertise);
    g_assert_cmpuint(((const guint8 *)g_bytes_get_data(advertise, NULL))[0], ==,
                     PODVM_DHCP6_ADVERTISE);
    assert_ids(advertise, guest_mac);
    assert_ia_na(advertise);

    reply = exchange(&net, fd, ifr.ifr_ifindex, request, 5000);
    g_assert_nonnull(reply);
    g_assert_cmpuint(((const guint8 *)g_bytes_get_data(reply, NULL))[0], ==, PODVM_DHCP6_REPLY);
    assert_ids(reply, guest_mac);
    assert_ia_na(reply);

    /* A client the server has no lease for: no answer at all. */
    none = exchange(&net, fd, ifr.ifr_ifindex, stranger, 1500);
    g_assert_null(none);
    close(fd);
    net_teardown(&net);
}

/* dhcpcd, a real client, in the client namespace: it takes the RA, sees M, asks DHCPv6. Its
 * state directories are private tmpfs mounts in this test's mount namespace, and its script
 * (which would otherwise run hooks writing /etc/resolv.conf) is ours. */
static void
test_dhcpcd(void)
{
    Net net = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *ns_arg = NULL;
    g_autofree char *script = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *addresses = NULL;
    g_autofree char *routes = NULL;
    int status = 0;
    static const char script_text[] = "#!/bin/sh\n"
                                      "echo \"reason=$reason\"\n"
                                      "env | grep -E '^new_dhcp6_' | sort\n";

    if (!podvm_test_netns_require("ip", "nsenter", "busybox", "dhcpcd", NULL))
        return;
    if (!g_file_test("/var/lib/dhcpcd", G_FILE_TEST_IS_DIR)) {
        g_test_skip("/var/lib/dhcpcd is missing: dhcpcd is not installed as Debian does");
        return;
    }
    net_setup(&net);
    g_assert_true(podvm_test_netns_run(&error, "mount", "-t", "tmpfs", "tmpfs", "/run", NULL));
    g_assert_true(
        podvm_test_netns_run(&error, "mount", "-t", "tmpfs", "tmpfs", "/var/lib/dhcpcd", NULL));
    g_assert_no_error(error);
    script = g_build_filename(net.dir, "script", NULL);
    conf = g_build_filename(net.dir, "dhcpcd.conf", NULL);
    g_assert_true(g_file_set_contents(script, script_text, -1, &error));
    g_assert_cmpint(g_chmod(script, 0755), ==, 0);
    g_assert_true(g_file_set_contents(conf, "", 0, &error));
    ns_arg = g_strdup_printf("--net=%s", net.client_ns);
    {
        const char *argv[] = { "nsenter", ns_arg, "dhcpcd", "-6", "-1", "-B",   "-f",
                               conf,      "-c",   script,   "-t", "30", "cli0", NULL };

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                                   &err, &status, &error));
    }
    g_test_message("dhcpcd:\n%s%s", out, err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_assert_nonnull(strstr(out, "reason=BOUND6"));
    g_assert_nonnull(strstr(out, "new_dhcp6_ia_na1_ia_addr1=fd10:0:2::2\n"));
    g_assert_nonnull(strstr(out, "new_dhcp6_server_id=00030001025056000001"));

    addresses = podvm_test_netns_run_output("nsenter", ns_arg, "ip", "-6", "addr", "show", "dev",
                                            "cli0", NULL);
    routes = podvm_test_netns_run_output("nsenter", ns_arg, "ip", "-6", "route", "show", "dev",
                                         "cli0", NULL);
    g_test_message("addresses:\n%sroutes:\n%s", addresses, routes);
    g_assert_nonnull(strstr(addresses, "inet6 fd10:0:2::2/128"));
    g_assert_nonnull(strstr(routes, "fd10:0:2::/120"));
    g_assert_nonnull(strstr(routes, "default via fe80::50:56ff:fe00:1"));

    podvm_test_netns_run(NULL, "umount", "/var/lib/dhcpcd", NULL);
    podvm_test_netns_run(NULL, "umount", "/run", NULL);
    net_teardown(&net);
}

/* Whether an RA comes to @fd within @timeout_ms, after sending an RS with @hop_limit. */
static gboolean
solicit(int fd, int ifindex, int hop_limit, guint timeout_ms)
{
    static const guint8 rs[8] = { 133 };
    struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_scope_id = (guint32)ifindex };
    gint64 deadline = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;
    guint8 drain[1500];

    while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
        ;
    inet_pton(AF_INET6, "ff02::2", &to.sin6_addr);
    g_assert_cmpint(
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hop_limit, sizeof(hop_limit)), ==, 0);
    g_assert_cmpint(sendto(fd, rs, sizeof(rs), 0, (struct sockaddr *)&to, sizeof(to)), ==, 8);
    while (TRUE) {
        gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        guint8 buffer[1500];

        if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0)
            return FALSE;
        if (recv(fd, buffer, sizeof(buffer), 0) >= 16 && buffer[0] == 134)
            return TRUE;
    }
}

/* A solicitation with hop limit 255 is answered at once, one with less is not (RFC 4861 6.1.1);
 * answers are at most 3 s apart. */
static void
test_ra_solicited(void)
{
    Net net = { 0 };
    g_autoptr(GError) error = NULL;
    struct icmp6_filter filter;
    struct ifreq ifr = { .ifr_name = "cli0" };
    int fd;
    gint64 start;

    if (!podvm_test_netns_require("ip", "nsenter", "busybox", NULL))
        return;
    net_setup(&net);
    fd = podvm_netns_socket(net.client_ns_fd, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, &error);
    g_assert_no_error(error);
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ND_ROUTER_ADVERT, &filter);
    g_assert_cmpint(setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)), ==, 0);
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "cli0", 5), ==, 0);
    g_assert_cmpint(ioctl(fd, SIOCGIFINDEX, &ifr), ==, 0);

    /* Past the first RA and the answer (3 s later) to the kernel's own solicitation; the next
     * unsolicited one is 16 s after the first. */
    g_usleep(7 * G_USEC_PER_SEC);
    start = g_get_monotonic_time();
    g_assert_true(solicit(fd, ifr.ifr_ifindex, 255, 1000));
    g_assert_cmpint(g_get_monotonic_time() - start, <, G_USEC_PER_SEC);
    g_assert_false(solicit(fd, ifr.ifr_ifindex, 64, 3500));
    /* Answered again, 3 s after the last RA at the earliest. */
    start = g_get_monotonic_time();
    g_assert_true(solicit(fd, ifr.ifr_ifindex, 255, 3500));
    close(fd);
    net_teardown(&net);
}

int
main(int argc, char **argv)
{
    /* First, before any thread exists. */
    podvm_test_netns_enter(&netns_why);

    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/net/ra/bytes", test_ra_bytes);
    g_test_add_func("/podvm/net/ra/solicit", test_ra_solicit);
    g_test_add_func("/podvm/net/dhcp6/exchange", test_dhcp6_exchange);
    g_test_add_func("/podvm/net/dhcp6/confirm-release", test_dhcp6_confirm_release);
    g_test_add_func("/podvm/net/dhcp6/silent", test_dhcp6_silent);
    g_test_add_func("/podvm/net/dhcp6/malformed", test_dhcp6_malformed);
    g_test_add_func("/podvm/net/ra/kernel", test_ra_kernel);
    g_test_add_func("/podvm/net/ra/solicited", test_ra_solicited);
    g_test_add_func("/podvm/net/dhcp6/client", test_dhcp6_client);
    g_test_add_func("/podvm/net/dhcp6/dhcpcd", test_dhcpcd);
    return g_test_run();
}
