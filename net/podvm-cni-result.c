/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A CNI result (spec 1.0.0; 0.3.x/0.4.0 results, which add ips[].version,
 * are read too): strict JSON (podvm_json_parse_limited), bounded, and
 * every field podvm knows checked for its type and grammar. Members podvm
 * does not know are left alone (later spec versions add some), but they
 * count against the size bound.
 */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-cni-private.h"
#include "podvm-error.h"
#include "podvm-json.h"

#define MAX_INTERFACES 64
#define MAX_IPS 256
#define MAX_ROUTES 1024
#define MAX_DNS 64
#define MAX_STRING 4096

static void
ip_free(PodvmCniIp *ip)
{
    g_free(ip->address);
    g_free(ip->gateway);
    g_free(ip);
}

static void
interface_free(PodvmCniInterface *iface)
{
    g_free(iface->name);
    g_free(iface->mac);
    g_free(iface->sandbox);
    g_free(iface);
}

void
podvm_cni_result_free(PodvmCniResult *result)
{
    if (result == NULL)
        return;
    g_free(result->json);
    g_clear_pointer(&result->interfaces, g_ptr_array_unref);
    g_clear_pointer(&result->ips, g_ptr_array_unref);
    g_clear_pointer(&result->routes, g_ptr_array_unref);
    g_strfreev(result->dns_nameservers);
    g_strfreev(result->dns_search);
    g_free(result);
}

static gboolean fail(GError **error, const char *path, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
fail(GError **error, const char *path, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("CNI result: %s: %s"), path,
                message);
    return FALSE;
}

/* A string member: NULL with *ok TRUE when absent (and !required). */
static gboolean
get_string(JsonObject *object, const char *member, const char *path, gboolean required,
           const char **out, GError **error)
{
    JsonNode *node = json_object_get_member(object, member);

    *out = NULL;
    if (node == NULL) {
        if (required)
            return fail(error, path, _("'%s' is missing"), member);
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
        return fail(error, path, _("'%s' must be a string"), member);
    *out = json_node_get_string(node);
    if (strlen(*out) > MAX_STRING)
        return fail(error, path, _("'%s' is longer than %u bytes"), member, MAX_STRING);
    return TRUE;
}

/* An array member, at most @max elements; NULL when absent. */
static gboolean
get_array(JsonObject *object, const char *member, const char *path, guint max, JsonArray **out,
          GError **error)
{
    JsonNode *node = json_object_get_member(object, member);

    *out = NULL;
    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(node))
        return fail(error, path, _("'%s' must be an array"), member);
    *out = json_node_get_array(node);
    if (json_array_get_length(*out) > max)
        return fail(error, path, _("'%s' has more than %u entries"), member, max);
    return TRUE;
}

static JsonObject *
element_object(JsonArray *array, guint i, const char *path, GError **error)
{
    JsonNode *node = json_array_get_element(array, i);

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        fail(error, path, _("must be an object"));
        return NULL;
    }
    return json_node_get_object(node);
}

/* "10.66.0.5" or "fd66::5"; its family in *@out_family. */
static gboolean
parse_address(const char *text, int *out_family)
{
    g_autoptr(GInetAddress) address = NULL;

    if (text[0] == '\0' || strchr(text, '%') != NULL)
        return FALSE;
    address = g_inet_address_new_from_string(text);
    if (address == NULL)
        return FALSE;
    *out_family = g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV4 ? 4 : 6;
    return TRUE;
}

/* "10.66.0.5/16", "fd66::5/64": an address, '/', a prefix length in decimal without sign. */
static gboolean
parse_cidr(const char *text, int *out_family)
{
    const char *slash = strchr(text, '/');
    g_autofree char *address = NULL;
    guint64 prefix = 0;
    int family;

    if (slash == NULL || slash[1] == '\0' || strlen(slash + 1) > 3)
        return FALSE;
    for (const char *p = slash + 1; *p != '\0'; p++) {
        if (!g_ascii_isdigit(*p))
            return FALSE;
    }
    if (slash[1] == '0' && slash[2] != '\0')
        return FALSE;
    prefix = g_ascii_strtoull(slash + 1, NULL, 10);
    address = g_strndup(text, (gsize)(slash - text));
    if (!parse_address(address, &family))
        return FALSE;
    if (prefix > (family == 4 ? 32 : 128))
        return FALSE;
    *out_family = family;
    return TRUE;
}

/* "aa:bb:cc:dd:ee:ff" (6 bytes) up to 20 bytes (InfiniBand), hex pairs joined by ':'. */
static gboolean
mac_is_valid(const char *text)
{
    gsize length = strlen(text);

    if (length < 17 || length > 59 || (length + 1) % 3 != 0)
        return FALSE;
    for (gsize i = 0; i < length; i++) {
        if (i % 3 == 2 ? text[i] != ':' : !g_ascii_isxdigit(text[i]))
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_interfaces(JsonObject *root, GPtrArray *out, GError **error)
{
    JsonArray *array;

    if (!get_array(root, "interfaces", "interfaces", MAX_INTERFACES, &array, error))
        return FALSE;
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        g_autofree char *path = g_strdup_printf("interfaces[%u]", i);
        JsonObject *object = element_object(array, i, path, error);
        PodvmCniInterface *iface;
        const char *name, *mac, *sandbox;

        if (object == NULL || !get_string(object, "name", path, TRUE, &name, error) ||
            !get_string(object, "mac", path, FALSE, &mac, error) ||
            !get_string(object, "sandbox", path, FALSE, &sandbox, error))
            return FALSE;
        if (!podvm_net_ifname_valid(name))
            return fail(error, path, _("'%s' is not an interface name"), name);
        if (mac != NULL && *mac == '\0')
            mac = NULL;
        if (mac != NULL && !mac_is_valid(mac))
            return fail(error, path, _("'%s' is not a MAC address"), mac);
        if (sandbox != NULL && *sandbox == '\0')
            sandbox = NULL;
        if (sandbox != NULL && !g_path_is_absolute(sandbox))
            return fail(error, path, _("sandbox '%s' is not an absolute path"), sandbox);
        iface = g_new0(PodvmCniInterface, 1);
        iface->name = g_strdup(name);
        iface->mac = g_strdup(mac);
        iface->sandbox = g_strdup(sandbox);
        g_ptr_array_add(out, iface);
    }
    return TRUE;
}

static gboolean
parse_ips(JsonObject *root, guint n_interfaces, GPtrArray *out, GError **error)
{
    JsonArray *array;

    if (!get_array(root, "ips", "ips", MAX_IPS, &array, error))
        return FALSE;
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        g_autofree char *path = g_strdup_printf("ips[%u]", i);
        JsonObject *object = element_object(array, i, path, error);
        JsonNode *index_node;
        const char *address, *gateway, *version;
        int family = 0, gateway_family = 0;
        gint64 index = -1;
        PodvmCniIp *ip;

        if (object == NULL || !get_string(object, "address", path, TRUE, &address, error) ||
            !get_string(object, "gateway", path, FALSE, &gateway, error) ||
            !get_string(object, "version", path, FALSE, &version, error))
            return FALSE;
        if (!parse_cidr(address, &family))
            return fail(error, path, _("address '%s' is not an address with a prefix length"),
                        address);
        if (gateway != NULL &&
            (!parse_address(gateway, &gateway_family) || gateway_family != family))
            return fail(error, path, _("gateway '%s' is not an IPv%d address"), gateway, family);
        /* 0.3.x/0.4.0 results say the family; it must agree. */
        if (version != NULL && !(g_str_equal(version, family == 4 ? "4" : "6")))
            return fail(error, path, _("version '%s' does not match address '%s'"), version,
                        address);
        index_node = json_object_get_member(object, "interface");
        if (index_node != NULL) {
            if (!JSON_NODE_HOLDS_VALUE(index_node) ||
                json_node_get_value_type(index_node) != G_TYPE_INT64)
                return fail(error, path, _("'interface' must be an integer"));
            index = json_node_get_int(index_node);
            if (index < 0 || index >= (gint64)n_interfaces)
                return fail(error, path,
                            _("interface %" G_GINT64_FORMAT " is not an index in interfaces "
                              "(%u entries)"),
                            index, n_interfaces);
        }
        ip = g_new0(PodvmCniIp, 1);
        ip->address = g_strdup(address);
        ip->gateway = g_strdup(gateway);
        ip->interface = (int)index;
        g_ptr_array_add(out, ip);
    }
    return TRUE;
}

static gboolean
parse_routes(JsonObject *root, GPtrArray *out, GError **error)
{
    JsonArray *array;

    if (!get_array(root, "routes", "routes", MAX_ROUTES, &array, error))
        return FALSE;
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        g_autofree char *path = g_strdup_printf("routes[%u]", i);
        JsonObject *object = element_object(array, i, path, error);
        const char *dst, *gw;
        int family = 0, gw_family = 0;
        PodvmRoute *route;

        if (object == NULL || !get_string(object, "dst", path, TRUE, &dst, error) ||
            !get_string(object, "gw", path, FALSE, &gw, error))
            return FALSE;
        if (!parse_cidr(dst, &family))
            return fail(error, path, _("dst '%s' is not an address with a prefix length"), dst);
        if (gw != NULL && (!parse_address(gw, &gw_family) || gw_family != family))
            return fail(error, path, _("gw '%s' is not an IPv%d address"), gw, family);
        route = g_new0(PodvmRoute, 1);
        route->dst = g_strdup(dst);
        route->gateway = g_strdup(gw);
        g_ptr_array_add(out, route);
    }
    return TRUE;
}

/* A list of strings: nameservers (addresses), search domains, options. */
static gboolean
parse_string_list(JsonObject *dns, const char *member, gboolean addresses, GStrv *out,
                  GError **error)
{
    g_autofree char *path = g_strdup_printf("dns.%s", member);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    JsonArray *array;

    if (!get_array(dns, member, "dns", MAX_DNS, &array, error))
        return FALSE;
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);
        const char *text;
        int family;

        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
            return fail(error, path, _("entry %u must be a string"), i);
        text = json_node_get_string(node);
        if (strlen(text) > 255)
            return fail(error, path, _("entry %u is longer than 255 bytes"), i);
        if (addresses && !parse_address(text, &family))
            return fail(error, path, _("'%s' is not an IP address"), text);
        /* Search domains end up in a guest's resolver configuration: no control characters. */
        for (const char *p = text; *p != '\0'; p++) {
            if ((guchar)*p < 0x20 || *p == 0x7f || *p == ' ')
                return fail(error, path, _("entry %u holds a space or a control character"), i);
        }
        g_strv_builder_add(builder, text);
    }
    if (out != NULL)
        *out = g_strv_builder_end(builder);
    return TRUE;
}

static gboolean
parse_dns(JsonObject *root, PodvmCniResult *result, GError **error)
{
    JsonNode *node = json_object_get_member(root, "dns");
    JsonObject *dns;
    const char *domain;

    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return fail(error, "dns", _("must be an object"));
    dns = json_node_get_object(node);
    if (!get_string(dns, "domain", "dns", FALSE, &domain, error))
        return FALSE;
    g_clear_pointer(&result->dns_nameservers, g_strfreev);
    g_clear_pointer(&result->dns_search, g_strfreev);
    return parse_string_list(dns, "nameservers", TRUE, &result->dns_nameservers, error) &&
           parse_string_list(dns, "search", FALSE, &result->dns_search, error) &&
           parse_string_list(dns, "options", FALSE, NULL, error);
}

PodvmCniResult *
podvm_cni_result_parse(const char *data, gssize length, GError **error)
{
    g_autoptr(PodvmCniResult) result = g_new0(PodvmCniResult, 1);
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) local = NULL;
    JsonObject *object;
    const char *version;

    g_return_val_if_fail(data != NULL || length == 0, NULL);

    root = podvm_json_parse_limited(data != NULL ? data : "", data != NULL ? length : 0,
                                    PODVM_CNI_MAX_RESULT, PODVM_CNI_MAX_DEPTH, &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("CNI result: not JSON: %s"),
                    local->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        fail(error, "$", _("must be an object"));
        return NULL;
    }
    object = json_node_get_object(root);
    if (!get_string(object, "cniVersion", "$", TRUE, &version, error))
        return NULL;
    if (!g_str_equal(version, "0.3.0") && !g_str_equal(version, "0.3.1") &&
        !g_str_equal(version, "0.4.0") && !g_str_equal(version, "1.0.0") &&
        !g_str_equal(version, "1.1.0")) {
        fail(error, "cniVersion", _("version '%s' is not one podvm reads"), version);
        return NULL;
    }

    result->interfaces = g_ptr_array_new_with_free_func((GDestroyNotify)interface_free);
    result->ips = g_ptr_array_new_with_free_func((GDestroyNotify)ip_free);
    result->routes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_route_free);
    result->dns_nameservers = g_new0(char *, 1);
    result->dns_search = g_new0(char *, 1);
    if (!parse_interfaces(object, result->interfaces, error) ||
        !parse_ips(object, result->interfaces->len, result->ips, error) ||
        !parse_routes(object, result->routes, error) || !parse_dns(object, result, error))
        return NULL;
    result->json = podvm_json_to_string(root, FALSE);
    return g_steal_pointer(&result);
}
