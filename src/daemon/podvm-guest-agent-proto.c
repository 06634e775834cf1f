/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The qemu-guest-agent protocol's answers, read as untrusted input (see
 * podvm-guest-agent-proto.h). Fuzzed by tests/fuzz/fuzz-guest-agent.c.
 */
#include "podvm-guest-agent-proto.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-json.h"

#define MAX_DEPTH 16

/* ---- lines ---------------------------------------------------------------------------------- */

void
podvm_qga_line_buffer_init(PodvmQgaLineBuffer *buffer)
{
    buffer->line = g_byte_array_new();
    buffer->overflow = FALSE;
}

void
podvm_qga_line_buffer_clear(PodvmQgaLineBuffer *buffer)
{
    g_clear_pointer(&buffer->line, g_byte_array_unref);
    buffer->overflow = FALSE;
}

void
podvm_qga_line_buffer_reset(PodvmQgaLineBuffer *buffer)
{
    g_byte_array_set_size(buffer->line, 0);
    buffer->overflow = FALSE;
}

void
podvm_qga_line_buffer_feed(PodvmQgaLineBuffer *buffer, const guint8 *data, gsize length,
                           PodvmQgaLineFunc func, gpointer user_data)
{
    gsize start = 0;

    for (gsize i = 0; i < length; i++) {
        if (data[i] == 0xff) {
            /* The sentinel: what came before it on this line is not an answer. */
            podvm_qga_line_buffer_reset(buffer);
            start = i + 1;
            continue;
        }
        if (data[i] != '\n')
            continue;
        if (buffer->overflow) {
            podvm_qga_line_buffer_reset(buffer);
            func(NULL, 0, user_data);
        } else if (buffer->line->len + (i - start) > PODVM_QGA_MAX_LINE) {
            podvm_qga_line_buffer_reset(buffer);
            func(NULL, 0, user_data);
        } else {
            g_byte_array_append(buffer->line, data + start, (guint)(i - start));
            /* A NUL-terminated copy for the parser; the length is what counts. */
            g_byte_array_append(buffer->line, (const guint8 *)"", 1);
            func((const char *)buffer->line->data, buffer->line->len - 1, user_data);
            /* The callback may have reset the buffer (a reconnect): it is still ours. */
            if (buffer->line != NULL)
                podvm_qga_line_buffer_reset(buffer);
        }
        if (buffer->line == NULL)
            return;
        start = i + 1;
    }
    if (start < length && !buffer->overflow) {
        if (buffer->line->len + (length - start) > PODVM_QGA_MAX_LINE) {
            g_byte_array_set_size(buffer->line, 0);
            buffer->overflow = TRUE;
        } else {
            g_byte_array_append(buffer->line, data + start, (guint)(length - start));
        }
    }
}

/* ---- answers -------------------------------------------------------------------------------- */

void
podvm_qga_reply_free(PodvmQgaReply *reply)
{
    if (reply == NULL)
        return;
    g_clear_pointer(&reply->ret, json_node_unref);
    g_free(reply->error_class);
    g_free(reply->error_desc);
    g_free(reply);
}

/* @text cut to PODVM_QGA_MAX_STRING bytes of valid UTF-8, control characters made '?'. */
static char *
clean_string(const char *text)
{
    g_autofree char *valid = g_utf8_make_valid(text, -1);
    const char *end = valid;
    char *out;

    while (*end != '\0') {
        const char *next = g_utf8_next_char(end);

        if ((gsize)(next - valid) > PODVM_QGA_MAX_STRING)
            break;
        end = next;
    }
    out = g_strndup(valid, end - valid);
    for (char *p = out; *p != '\0'; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
    return out;
}

/* The string member @name of @object, cleaned, or NULL. */
static char *
string_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return clean_string(json_node_get_string(node));
}

PodvmQgaReply *
podvm_qga_reply_parse(const char *line, gsize length, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(PodvmQgaReply) reply = NULL;
    JsonObject *object;
    JsonNode *member;

    root = podvm_json_parse_limited(line, (gssize)length, PODVM_QGA_MAX_LINE, MAX_DEPTH, &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("the guest agent sent a line that is not JSON: %s"), local->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("the guest agent sent JSON that is not an object"));
        return NULL;
    }
    object = json_node_get_object(root);
    reply = g_new0(PodvmQgaReply, 1);
    if ((member = json_object_get_member(object, "return")) != NULL) {
        reply->ret = json_node_copy(member);
        return g_steal_pointer(&reply);
    }
    member = json_object_get_member(object, "error");
    if (member != NULL && JSON_NODE_HOLDS_OBJECT(member)) {
        JsonObject *error_object = json_node_get_object(member);

        reply->error_class = string_member(error_object, "class");
        reply->error_desc = string_member(error_object, "desc");
        if (reply->error_class == NULL)
            reply->error_class = g_strdup("GenericError");
        if (reply->error_desc == NULL)
            reply->error_desc = g_strdup(_("no description"));
        return g_steal_pointer(&reply);
    }
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("the guest agent sent an object with neither \"return\" nor \"error\""));
    return NULL;
}

gboolean
podvm_qga_sync_matches(JsonNode *ret, gint64 id)
{
    return ret != NULL && JSON_NODE_HOLDS_VALUE(ret) &&
           json_node_get_value_type(ret) == G_TYPE_INT64 && json_node_get_int(ret) == id;
}

static gboolean
expect_object(JsonNode *ret, const char *command, GError **error)
{
    if (ret != NULL && JSON_NODE_HOLDS_OBJECT(ret))
        return TRUE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                _("the guest agent's answer to %s is not an object"), command);
    return FALSE;
}

JsonObject *
podvm_qga_os_info_parse(JsonNode *ret, GError **error)
{
    /* qemu-guest-agent's names, KubeVirt's names. */
    static const char *const names[][2] = {
        { "name", "name" },
        { "kernel-release", "kernelRelease" },
        { "version", "version" },
        { "pretty-name", "prettyName" },
        { "version-id", "versionId" },
        { "kernel-version", "kernelVersion" },
        { "machine", "machine" },
        { "id", "id" },
    };
    JsonObject *object;
    JsonObject *info;

    if (!expect_object(ret, "guest-get-osinfo", error))
        return NULL;
    object = json_node_get_object(ret);
    info = json_object_new();
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *value = string_member(object, names[i][0]);

        if (value != NULL)
            json_object_set_string_member(info, names[i][1], value);
    }
    return info;
}

char *
podvm_qga_version_parse(JsonNode *ret, GError **error)
{
    char *version;

    if (!expect_object(ret, "guest-info", error))
        return NULL;
    version = string_member(json_node_get_object(ret), "version");
    if (version == NULL)
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("the guest agent's answer to guest-info has no version"));
    return version;
}

const char *
podvm_qga_freeze_status_parse(JsonNode *ret, GError **error)
{
    if (ret != NULL && JSON_NODE_HOLDS_VALUE(ret) &&
        json_node_get_value_type(ret) == G_TYPE_STRING) {
        if (g_strcmp0(json_node_get_string(ret), "frozen") == 0)
            return "frozen";
        if (g_strcmp0(json_node_get_string(ret), "thawed") == 0)
            return "thawed";
    }
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("the guest agent's answer to guest-fsfreeze-status is neither "
                          "\"frozen\" nor \"thawed\""));
    return NULL;
}

gint64
podvm_qga_count_parse(JsonNode *ret, GError **error)
{
    if (ret != NULL && JSON_NODE_HOLDS_VALUE(ret) &&
        json_node_get_value_type(ret) == G_TYPE_INT64 && json_node_get_int(ret) >= 0)
        return json_node_get_int(ret);
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("the guest agent's answer is not a count of filesystems"));
    return -1;
}

void
podvm_qga_interface_free(PodvmQgaInterface *iface)
{
    if (iface == NULL)
        return;
    g_free(iface->name);
    g_free(iface->mac);
    g_strfreev(iface->addresses);
    g_free(iface);
}

/* "AA:bb:..." as lowercase "aa:bb:...", or NULL when it is not a MAC or all zeros. */
static char *
normal_mac(const char *text)
{
    guint8 bytes[6];
    gboolean zero = TRUE;

    if (text == NULL || strlen(text) != 17)
        return NULL;
    for (guint i = 0; i < 6; i++) {
        const char *pair = text + i * 3;

        if (!g_ascii_isxdigit(pair[0]) || !g_ascii_isxdigit(pair[1]) ||
            (i < 5 && pair[2] != ':' && pair[2] != '-'))
            return NULL;
        bytes[i] = (guint8)(g_ascii_xdigit_value(pair[0]) * 16 + g_ascii_xdigit_value(pair[1]));
        zero = zero && bytes[i] == 0;
    }
    if (zero)
        return NULL;
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                           bytes[4], bytes[5]);
}

/* The addresses of one entry, IPv4 first; each checked by GInetAddress and written as it
 * writes them. */
static GStrv
entry_addresses(JsonObject *entry)
{
    JsonNode *node = json_object_get_member(entry, "ip-addresses");
    g_autoptr(GPtrArray) v4 = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) v6 = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *all;
    JsonArray *array;

    if (node != NULL && JSON_NODE_HOLDS_ARRAY(node)) {
        array = json_node_get_array(node);
        for (guint i = 0;
             i < json_array_get_length(array) && v4->len + v6->len < PODVM_QGA_MAX_ADDRESSES; i++) {
            JsonNode *element = json_array_get_element(array, i);
            g_autofree char *text = NULL;
            g_autoptr(GInetAddress) address = NULL;

            if (!JSON_NODE_HOLDS_OBJECT(element))
                continue;
            text = string_member(json_node_get_object(element), "ip-address");
            address = text != NULL ? g_inet_address_new_from_string(text) : NULL;
            if (address == NULL)
                continue;
            g_ptr_array_add(g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV4 ? v4 : v6,
                            g_inet_address_to_string(address));
        }
    }
    all = g_ptr_array_new();
    for (guint i = 0; i < v4->len; i++)
        g_ptr_array_add(all, g_strdup(g_ptr_array_index(v4, i)));
    for (guint i = 0; i < v6->len; i++)
        g_ptr_array_add(all, g_strdup(g_ptr_array_index(v6, i)));
    g_ptr_array_add(all, NULL);
    return (GStrv)g_ptr_array_free(all, FALSE);
}

GPtrArray *
podvm_qga_interfaces_parse(JsonNode *ret, GError **error)
{
    g_autoptr(GPtrArray) interfaces = NULL;
    JsonArray *array;

    if (ret == NULL || !JSON_NODE_HOLDS_ARRAY(ret)) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("the guest agent's answer to guest-network-get-interfaces is not "
                              "an array"));
        return NULL;
    }
    interfaces = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_qga_interface_free);
    array = json_node_get_array(ret);
    for (guint i = 0;
         i < json_array_get_length(array) && interfaces->len < PODVM_QGA_MAX_INTERFACES; i++) {
        JsonNode *element = json_array_get_element(array, i);
        JsonObject *entry;
        g_autofree char *mac_text = NULL;
        PodvmQgaInterface *iface;

        if (!JSON_NODE_HOLDS_OBJECT(element))
            continue;
        entry = json_node_get_object(element);
        iface = g_new0(PodvmQgaInterface, 1);
        iface->name = string_member(entry, "name");
        if (iface->name == NULL || *iface->name == '\0') {
            podvm_qga_interface_free(iface);
            continue;
        }
        mac_text = string_member(entry, "hardware-address");
        iface->mac = normal_mac(mac_text);
        iface->addresses = entry_addresses(entry);
        g_ptr_array_add(interfaces, iface);
    }
    return g_steal_pointer(&interfaces);
}
