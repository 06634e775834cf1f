/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CNI networks: the conflists in the configuration directory, the built-in
 * default, and the checks a conflist passes before any plugin of it runs.
 * Running the plugins is podvm-cni-exec.c; results are podvm-cni-result.c.
 */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-build-config.h"
#include "podvm-cni-private.h"
#include "podvm-error.h"
#include "podvm-json.h"

#define BUILT_IN_SOURCE "built-in"

void
podvm_cni_settings_clear(PodvmCniSettings *settings)
{
    if (settings == NULL)
        return;
    g_clear_pointer(&settings->config_dir, g_free);
    g_clear_pointer(&settings->plugin_dirs, g_strfreev);
    g_clear_pointer(&settings->ipam_dir, g_free);
    settings->timeout_ms = 0;
}

void
podvm_cni_network_free(PodvmCniNetwork *network)
{
    if (network == NULL)
        return;
    g_free(network->name);
    g_free(network->source);
    g_free(network->conflist);
    g_free(network->first_type);
    g_free(network->sriov_pool);
    g_free(network);
}

/* ---- names ------------------------------------------------------------------- */

gboolean
podvm_cni_name_is_valid(const char *name)
{
    gsize length = name != NULL ? strlen(name) : 0;

    if (length == 0 || length > 253 || !g_ascii_isalnum(name[0]))
        return FALSE;
    for (gsize i = 0; i < length; i++) {
        if (!g_ascii_isalnum(name[i]) && name[i] != '_' && name[i] != '.' && name[i] != '-')
            return FALSE;
    }
    return TRUE;
}

gboolean
podvm_cni_type_is_valid(const char *type)
{
    gsize length = type != NULL ? strlen(type) : 0;

    if (length == 0 || length > 255 || g_str_equal(type, ".") || g_str_equal(type, "..") ||
        type[0] == '-')
        return FALSE;
    for (gsize i = 0; i < length; i++) {
        if (type[i] == '/' || (guchar)type[i] <= ' ' || (guchar)type[i] >= 0x7f)
            return FALSE;
    }
    return TRUE;
}

gboolean
podvm_cni_version_is_supported(const char *version)
{
    return g_strcmp0(version, "0.4.0") == 0 || g_strcmp0(version, "1.0.0") == 0;
}

/* ---- the built-in default ------------------------------------------------------- */

static void
add_range(JsonBuilder *b, const char *subnet)
{
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "subnet");
    json_builder_add_string_value(b, subnet);
    json_builder_end_object(b);
    json_builder_end_array(b);
}

static void
add_route(JsonBuilder *b, const char *dst)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "dst");
    json_builder_add_string_value(b, dst);
    json_builder_end_object(b);
}

/*
 * NET-DESIGN's default network; data/podvm.conflist.in is the same
 * document (with the default state directory), checked by test-net-cni.
 */
char *
podvm_cni_default_conflist(const PodvmCniSettings *settings)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    g_return_val_if_fail(settings != NULL && settings->ipam_dir != NULL, NULL);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "cniVersion");
    json_builder_add_string_value(b, "1.0.0");
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "podvm");
    json_builder_set_member_name(b, "plugins");
    json_builder_begin_array(b);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "bridge");
    json_builder_set_member_name(b, "bridge");
    json_builder_add_string_value(b, "podvm0");
    json_builder_set_member_name(b, "isGateway");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "ipMasq");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "hairpinMode");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "ipam");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "host-local");
    json_builder_set_member_name(b, "dataDir");
    json_builder_add_string_value(b, settings->ipam_dir);
    json_builder_set_member_name(b, "ranges");
    json_builder_begin_array(b);
    add_range(b, "10.66.0.0/16");
    add_range(b, "fd66:706f:6476::/64");
    json_builder_end_array(b);
    json_builder_set_member_name(b, "routes");
    json_builder_begin_array(b);
    add_route(b, "0.0.0.0/0");
    add_route(b, "::/0");
    json_builder_end_array(b);
    json_builder_end_object(b); /* ipam */
    json_builder_end_object(b); /* bridge */

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "portmap");
    json_builder_set_member_name(b, "capabilities");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "portMappings");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_end_object(b);
    json_builder_end_object(b);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "firewall");
    json_builder_end_object(b);

    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return podvm_json_to_string(root, TRUE);
}

/* ---- parsing ------------------------------------------------------------------------ */

static gboolean network_fail(GError **error, const char *source, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean
network_fail(GError **error, const char *source, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("CNI network %s: %s"), source,
                message);
    return FALSE;
}

static const char *
member_string(JsonObject *object, const char *member, gboolean *wrong_type)
{
    JsonNode *node = json_object_get_member(object, member);

    *wrong_type = FALSE;
    if (node == NULL)
        return NULL;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        *wrong_type = TRUE;
        return NULL;
    }
    return json_node_get_string(node);
}

/* The checks of one plugins[] entry. */
static gboolean
check_plugin(JsonNode *node, guint i, const char *source, const char **out_type, GError **error)
{
    JsonObject *plugin, *ipam;
    JsonNode *member;
    const char *type, *ipam_type;
    gboolean wrong = FALSE;

    if (!JSON_NODE_HOLDS_OBJECT(node))
        return network_fail(error, source, _("plugins[%u] must be an object"), i);
    plugin = json_node_get_object(node);
    type = member_string(plugin, "type", &wrong);
    if (type == NULL)
        return network_fail(error, source, _("plugins[%u].type must be a string"), i);
    if (!podvm_cni_type_is_valid(type))
        return network_fail(error, source,
                            _("plugins[%u].type '%s' must be a plain file name (no '/', not "
                              "'..')"),
                            i, type);
    member = json_object_get_member(plugin, "capabilities");
    if (member != NULL && !JSON_NODE_HOLDS_OBJECT(member))
        return network_fail(error, source, _("plugins[%u].capabilities must be an object"), i);
    member = json_object_get_member(plugin, "ipam");
    if (member != NULL) {
        if (!JSON_NODE_HOLDS_OBJECT(member))
            return network_fail(error, source, _("plugins[%u].ipam must be an object"), i);
        ipam = json_node_get_object(member);
        ipam_type = member_string(ipam, "type", &wrong);
        if (wrong || (ipam_type != NULL && !podvm_cni_type_is_valid(ipam_type)))
            return network_fail(error, source,
                                _("plugins[%u].ipam.type must be a plain file name (no '/', not "
                                  "'..')"),
                                i);
    }
    *out_type = type;
    return TRUE;
}

/* Gives every host-local IPAM without a dataDir @ipam_dir; TRUE when it changed something. */
static gboolean
inject_ipam_dir(JsonArray *plugins, const char *ipam_dir)
{
    gboolean changed = FALSE;

    for (guint i = 0; i < json_array_get_length(plugins); i++) {
        JsonObject *plugin = json_array_get_object_element(plugins, i);
        JsonNode *ipam_node = json_object_get_member(plugin, "ipam");
        JsonObject *ipam;

        if (ipam_node == NULL)
            continue;
        ipam = json_node_get_object(ipam_node);
        if (g_strcmp0(json_object_get_string_member_with_default(ipam, "type", NULL),
                      "host-local") != 0 ||
            json_object_has_member(ipam, "dataDir"))
            continue;
        json_object_set_string_member(ipam, "dataDir", ipam_dir);
        changed = TRUE;
    }
    return changed;
}

static PodvmCniNetwork *
network_parse(const char *text, gssize length, const char *source, const char *ipam_dir,
              GError **error)
{
    g_autoptr(PodvmCniNetwork) network = g_new0(PodvmCniNetwork, 1);
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) local = NULL;
    JsonObject *object;
    JsonArray *plugins;
    JsonNode *member;
    const char *version, *name, *first_type = NULL;
    gboolean wrong = FALSE;

    g_return_val_if_fail(text != NULL && source != NULL, NULL);

    root =
        podvm_json_parse_limited(text, length, PODVM_CNI_MAX_CONFLIST, PODVM_CNI_MAX_DEPTH, &local);
    if (root == NULL) {
        network_fail(error, source, _("not a JSON document podvm reads: %s"), local->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        network_fail(error, source, _("must be a JSON object"));
        return NULL;
    }
    object = json_node_get_object(root);
    version = member_string(object, "cniVersion", &wrong);
    if (version == NULL) {
        network_fail(error, source, _("cniVersion must be a string"));
        return NULL;
    }
    if (!podvm_cni_version_is_supported(version)) {
        network_fail(error, source, _("cniVersion '%s' is not supported (use 1.0.0 or 0.4.0)"),
                     version);
        return NULL;
    }
    name = member_string(object, "name", &wrong);
    if (name == NULL) {
        network_fail(error, source, _("name must be a string"));
        return NULL;
    }
    if (!podvm_cni_name_is_valid(name)) {
        network_fail(error, source,
                     _("name '%s' is not a network name (letters, digits, '_', '.', '-'; "
                       "a letter or digit first)"),
                     name);
        return NULL;
    }
    member = json_object_get_member(object, "disableCheck");
    if (member != NULL &&
        (!JSON_NODE_HOLDS_VALUE(member) || json_node_get_value_type(member) != G_TYPE_BOOLEAN)) {
        network_fail(error, source, _("disableCheck must be true or false"));
        return NULL;
    }
    member = json_object_get_member(object, "plugins");
    if (member == NULL || !JSON_NODE_HOLDS_ARRAY(member) ||
        json_array_get_length(json_node_get_array(member)) == 0) {
        network_fail(error, source, _("plugins must be an array of at least one plugin"));
        return NULL;
    }
    plugins = json_node_get_array(member);
    if (json_array_get_length(plugins) > PODVM_CNI_MAX_PLUGINS) {
        network_fail(error, source, _("more than %u plugins"), PODVM_CNI_MAX_PLUGINS);
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(plugins); i++) {
        const char *type = NULL;

        if (!check_plugin(json_array_get_element(plugins, i), i, source, &type, error))
            return NULL;
        if (i == 0)
            first_type = type;
        else if (g_str_equal(type, PODVM_CNI_SRIOV_TYPE)) {
            network_fail(error, source, _("plugins[%u]: %s must be the first plugin"), i,
                         PODVM_CNI_SRIOV_TYPE);
            return NULL;
        }
    }
    if (g_str_equal(first_type, PODVM_CNI_SRIOV_TYPE)) {
        JsonObject *plugin = json_array_get_object_element(plugins, 0);
        const char *pool = member_string(plugin, "pool", &wrong);

        if (pool == NULL || !podvm_cni_name_is_valid(pool)) {
            network_fail(error, source,
                         _("plugins[0].pool must name an SR-IOV pool of podvmd.conf"));
            return NULL;
        }
        network->sriov_pool = g_strdup(pool);
    }

    network->name = g_strdup(name);
    network->source = g_strdup(source);
    network->first_type = g_strdup(first_type);
    if (ipam_dir != NULL && inject_ipam_dir(plugins, ipam_dir))
        network->conflist = podvm_json_to_string(root, FALSE);
    else if (length < 0)
        network->conflist = g_strdup(text);
    else
        network->conflist = g_strndup(text, (gsize)length);
    return g_steal_pointer(&network);
}

PodvmCniNetwork *
podvm_cni_network_parse(const char *text, gssize length, const char *source, GError **error)
{
    return network_parse(text, length, source, NULL, error);
}

/* ---- finding ------------------------------------------------------------------------ */

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The *.conflist files of @dir in name order; empty when it does not exist. */
static GPtrArray *
list_conflists(const char *dir, GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) handle = g_dir_open(dir, 0, &local);
    const char *entry;

    if (handle == NULL) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return g_steal_pointer(&names);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot read the CNI configuration directory '%s': %s"), dir, local->message);
        return NULL;
    }
    while ((entry = g_dir_read_name(handle)) != NULL) {
        if (entry[0] != '.' && g_str_has_suffix(entry, ".conflist"))
            g_ptr_array_add(names, g_strdup(entry));
    }
    g_ptr_array_sort(names, compare_names);
    return g_steal_pointer(&names);
}

static PodvmCniNetwork *
load_conflist(const PodvmCniSettings *settings, const char *file, GError **error)
{
    g_autofree char *path = g_build_filename(settings->config_dir, file, NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GMappedFile) mapped = NULL;
    gsize length;

    /* Bounded before it is read: a FIFO or a huge file is refused, not read. */
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("CNI network %s: not a regular file"), path);
        return NULL;
    }
    mapped = g_mapped_file_new(path, FALSE, &local);
    if (mapped == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot read CNI network %s: %s"), path,
                    local->message);
        return NULL;
    }
    length = g_mapped_file_get_length(mapped);
    if (length > PODVM_CNI_MAX_CONFLIST) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("CNI network %s: larger than %u bytes"), path, PODVM_CNI_MAX_CONFLIST);
        return NULL;
    }
    text = g_strndup(length > 0 ? g_mapped_file_get_contents(mapped) : "", length);
    if (strlen(text) != length) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("CNI network %s: holds a NUL byte"), path);
        return NULL;
    }
    return network_parse(text, (gssize)length, path, settings->ipam_dir, error);
}

static PodvmCniNetwork *
built_in(const PodvmCniSettings *settings, GError **error)
{
    g_autofree char *text = podvm_cni_default_conflist(settings);

    return network_parse(text, -1, BUILT_IN_SOURCE, NULL, error);
}

PodvmCniNetwork *
podvm_cni_network_find(const PodvmCniSettings *settings, const char *name, GError **error)
{
    g_autoptr(GPtrArray) files = NULL;
    g_autofree char *by_file = NULL;

    g_return_val_if_fail(
        settings != NULL && settings->config_dir != NULL && settings->ipam_dir != NULL, NULL);

    if (name != NULL && !podvm_cni_name_is_valid(name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("'%s' is not a CNI network name (letters, digits, '_', '.', '-'; a letter "
                      "or digit first)"),
                    name);
        return NULL;
    }
    files = list_conflists(settings->config_dir, error);
    if (files == NULL)
        return NULL;
    if (name == NULL) {
        if (files->len == 0)
            return built_in(settings, error);
        return load_conflist(settings, files->pdata[0], error);
    }

    /* NAME.conflist first; else the conflist that says "name": NAME. */
    by_file = g_strconcat(name, ".conflist", NULL);
    for (guint i = 0; i < files->len; i++) {
        if (g_str_equal(files->pdata[i], by_file))
            return load_conflist(settings, by_file, error);
    }
    for (guint i = 0; i < files->len; i++) {
        g_autoptr(GError) local = NULL;
        g_autoptr(PodvmCniNetwork) network = load_conflist(settings, files->pdata[i], &local);

        if (network == NULL) {
            g_debug("looking for CNI network %s: %s", name, local->message);
            continue;
        }
        if (g_str_equal(network->name, name))
            return g_steal_pointer(&network);
    }
    /* The built-in default answers to its name when no file defines that name. */
    if (g_str_equal(name, "podvm"))
        return built_in(settings, error);
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                _("there is no CNI network '%s': no conflist in %s defines it"), name,
                settings->config_dir);
    return NULL;
}
