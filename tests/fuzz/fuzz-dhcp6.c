/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the IPv6 side's parsers: podvm_dhcp6_answer() on a
 * datagram a guest sends to port 547, and podvm_ra_check_solicit() on the
 * same bytes as an ICMPv6 message.
 *
 * The leases: the MAC of a DUID-LL (or DUID-LLT) in the input when there
 * is one (so most inputs reach the reply builder), and another. The
 * source is, by the input's hash, none, the EUI-64 link-local address of
 * the leased MAC, or of a stranger. Checks: a refusal is INVALID_ARGUMENT
 * with a UTF-8 message and no reply; a reply is an ADVERTISE (only to a
 * SOLICIT) or a REPLY with the request's transaction id, options in
 * bounds, our server DUID once, and every IA address in it a lease's.
 */
#include <string.h>

#include "podvm-dhcp-private.h"
#include "podvm-error.h"
#include "podvm-fuzz-util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const guint8 server_mac[6] = { 0x02, 0x50, 0x56, 0, 0, 1 };
static const guint8 address[16] = { 0xfd, 0x10, 0, 0, 0, 2, [15] = 2 };
static const guint8 other_address[16] = { 0xfd, 0x10, 0, 0, 0, 2, [15] = 3 };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(TRUE);
    return 0;
}

/* The MAC in the first DUID-LL or DUID-LLT of Ethernet found in @data, if any. */
static gboolean
find_mac(const uint8_t *data, size_t size, guint8 out[6])
{
    for (size_t i = 0; i + 10 <= size; i++) {
        if (data[i] == 0 && data[i + 1] == 3 && data[i + 2] == 0 && data[i + 3] == 1) {
            memcpy(out, data + i + 4, 6);
            return TRUE;
        }
    }
    return FALSE;
}

static void
check_ia_na(const guint8 *p, gsize len)
{
    PODVM_FUZZ_CHECK(len >= 12);
    for (gsize i = 12; i < len;) {
        guint16 code, olen;

        PODVM_FUZZ_CHECK(len - i >= 4);
        code = (guint16)((p[i] << 8) | p[i + 1]);
        olen = (guint16)((p[i + 2] << 8) | p[i + 3]);
        PODVM_FUZZ_CHECK(olen <= len - i - 4);
        if (code == 5) {
            PODVM_FUZZ_CHECK(olen >= 24);
            PODVM_FUZZ_CHECK(memcmp(p + i + 4, address, 16) == 0 ||
                             memcmp(p + i + 4, other_address, 16) == 0);
        }
        i += 4 + (gsize)olen;
    }
}

static void
check_reply(GBytes *reply, guint8 type, const uint8_t *request, size_t size)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(reply, &len);
    guint server_ids = 0;
    static const guint8 duid[10] = { 0, 3, 0, 1, 0x02, 0x50, 0x56, 0, 0, 1 };

    PODVM_FUZZ_CHECK(size >= 4 && len >= 4);
    PODVM_FUZZ_CHECK(p[0] == type);
    PODVM_FUZZ_CHECK(type == PODVM_DHCP6_REPLY ||
                     (type == PODVM_DHCP6_ADVERTISE && request[0] == PODVM_DHCP6_SOLICIT));
    PODVM_FUZZ_CHECK(memcmp(p + 1, request + 1, 3) == 0);
    for (gsize i = 4; i < len;) {
        guint16 code, olen;

        PODVM_FUZZ_CHECK(len - i >= 4);
        code = (guint16)((p[i] << 8) | p[i + 1]);
        olen = (guint16)((p[i + 2] << 8) | p[i + 3]);
        PODVM_FUZZ_CHECK(olen <= len - i - 4);
        if (code == 2) {
            server_ids++;
            PODVM_FUZZ_CHECK(olen == sizeof(duid) && memcmp(p + i + 4, duid, sizeof(duid)) == 0);
        }
        if (code == 3)
            check_ia_na(p + i + 4, olen);
        i += 4 + (gsize)olen;
    }
    PODVM_FUZZ_CHECK(server_ids == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    guint32 seed = podvm_fuzz_hash(data, size);
    PodvmDhcp6Lease leases[2] = { { .mac = { 0x02, 0, 0, 0, 0, 9 } } };
    guint8 source[16] = { 0xfe, 0x80 };
    const guint8 *from = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) reply = NULL;
    guint8 type = 0;
    int hop_limit = (seed & 0x100) ? 255 : (int)(seed & 0xff);

    memcpy(leases[0].address, other_address, 16);
    if (!find_mac(data, size, leases[1].mac))
        memcpy(leases[1].mac, "\x02\x00\x00\x00\x00\x02", 6);
    memcpy(leases[1].address, address, 16);
    switch (seed % 3) {
    case 1: /* the leased MAC's EUI-64 link-local address */
        source[8] = leases[1].mac[0] ^ 0x02;
        source[9] = leases[1].mac[1];
        source[10] = leases[1].mac[2];
        source[11] = 0xff;
        source[12] = 0xfe;
        source[13] = leases[1].mac[3];
        source[14] = leases[1].mac[4];
        source[15] = leases[1].mac[5];
        from = source;
        break;
    case 2: /* a stranger's */
        source[11] = 0xff;
        source[12] = 0xfe;
        source[15] = 0x77;
        from = source;
        break;
    default:
        break;
    }

    reply = podvm_dhcp6_answer(data, size, from, leases, 2, server_mac, &type, &error);
    if (reply == NULL) {
        if (error != NULL) {
            PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
            PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        }
    } else {
        PODVM_FUZZ_CHECK(error == NULL);
        check_reply(reply, type, data, size);
    }

    g_clear_error(&error);
    if (!podvm_ra_check_solicit(data, size, hop_limit, &error)) {
        PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
        PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
    } else {
        PODVM_FUZZ_CHECK(size >= 8 && data[0] == 133 && hop_limit == 255);
    }
    return 0;
}
