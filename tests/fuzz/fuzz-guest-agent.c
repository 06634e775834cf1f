/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for what a guest agent sends podvmd
 * (src/daemon/podvm-guest-agent-proto.c): the input split into chunks by a
 * seed derived from it, through the bounded line reader; each line parsed
 * as an answer, and each "return" read as every answer podvmd reads
 * (guest-info, guest-get-osinfo, guest-network-get-interfaces,
 * guest-fsfreeze-status, the freeze count, guest-sync).
 *
 * Checks: no line handed out is longer than the bound or holds 0xFF or a
 * newline; an answer is a return or an error, never both; what is kept of
 * the interfaces respects the limits, each address is one GInetAddress
 * writes back the same, each MAC is lowercase; the OS info holds only
 * KubeVirt's members, strings within the bound.
 */
#include <gio/gio.h>
#include <string.h>

#include "podvm-fuzz-util.h"
#include "podvm-guest-agent-proto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(TRUE);
    return 0;
}

static void
check_os_info(JsonNode *ret)
{
    static const char *const names[] = { "name",      "kernelRelease", "version", "prettyName",
                                         "versionId", "kernelVersion", "machine", "id" };
    g_autoptr(JsonObject) info = podvm_qga_os_info_parse(ret, NULL);
    g_autoptr(GList) members = NULL;

    if (info == NULL)
        return;
    members = json_object_get_members(info);
    for (GList *l = members; l != NULL; l = l->next) {
        gboolean known = FALSE;
        const char *value;

        for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
            known = known || strcmp(names[i], l->data) == 0;
        PODVM_FUZZ_CHECK(known);
        value = json_object_get_string_member(info, l->data);
        PODVM_FUZZ_CHECK(value != NULL && strlen(value) <= PODVM_QGA_MAX_STRING);
        PODVM_FUZZ_CHECK(g_utf8_validate(value, -1, NULL));
    }
}

static void
check_interfaces(JsonNode *ret)
{
    g_autoptr(GPtrArray) interfaces = podvm_qga_interfaces_parse(ret, NULL);

    if (interfaces == NULL)
        return;
    PODVM_FUZZ_CHECK(interfaces->len <= PODVM_QGA_MAX_INTERFACES);
    for (guint i = 0; i < interfaces->len; i++) {
        const PodvmQgaInterface *iface = g_ptr_array_index(interfaces, i);

        PODVM_FUZZ_CHECK(iface->name != NULL && *iface->name != '\0');
        PODVM_FUZZ_CHECK(iface->addresses != NULL);
        PODVM_FUZZ_CHECK(g_strv_length(iface->addresses) <= PODVM_QGA_MAX_ADDRESSES);
        if (iface->mac != NULL) {
            g_autofree char *lower = g_ascii_strdown(iface->mac, -1);

            PODVM_FUZZ_CHECK(strlen(iface->mac) == 17 && strcmp(lower, iface->mac) == 0);
        }
        for (guint j = 0; iface->addresses[j] != NULL; j++) {
            g_autoptr(GInetAddress) address = g_inet_address_new_from_string(iface->addresses[j]);
            g_autofree char *again = address != NULL ? g_inet_address_to_string(address) : NULL;

            PODVM_FUZZ_CHECK(g_strcmp0(again, iface->addresses[j]) == 0);
        }
    }
}

static void
line_cb(const char *line, gsize length, gpointer user_data)
{
    guint *lines = user_data;
    g_autoptr(PodvmQgaReply) reply = NULL;
    g_autofree char *version = NULL;

    (*lines)++;
    if (line == NULL)
        return;
    PODVM_FUZZ_CHECK(length <= PODVM_QGA_MAX_LINE);
    PODVM_FUZZ_CHECK(memchr(line, '\n', length) == NULL);
    PODVM_FUZZ_CHECK(memchr(line, 0xff, length) == NULL);
    reply = podvm_qga_reply_parse(line, length, NULL);
    if (reply == NULL)
        return;
    PODVM_FUZZ_CHECK((reply->ret == NULL) != (reply->error_class == NULL));
    if (reply->ret == NULL) {
        PODVM_FUZZ_CHECK(reply->error_desc != NULL);
        return;
    }
    (void)podvm_qga_sync_matches(reply->ret, 42);
    version = podvm_qga_version_parse(reply->ret, NULL);
    (void)podvm_qga_freeze_status_parse(reply->ret, NULL);
    (void)podvm_qga_count_parse(reply->ret, NULL);
    check_os_info(reply->ret);
    check_interfaces(reply->ret);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PodvmQgaLineBuffer buffer;
    guint32 seed = podvm_fuzz_hash(data, size) | 1;
    guint lines = 0;
    size_t done = 0;

    podvm_qga_line_buffer_init(&buffer);
    /* Chunks of 1 to 64 bytes, as reads may cut the stream anywhere. */
    while (done < size) {
        /* Drawn once: MIN() evaluates its arguments twice. */
        size_t step = (size_t)(podvm_fuzz_next(&seed) % 64) + 1;
        size_t chunk = MIN(size - done, step);

        podvm_qga_line_buffer_feed(&buffer, data + done, chunk, line_cb, &lines);
        done += chunk;
    }
    PODVM_FUZZ_CHECK(buffer.line->len <= PODVM_QGA_MAX_LINE);
    podvm_qga_line_buffer_clear(&buffer);
    return 0;
}
