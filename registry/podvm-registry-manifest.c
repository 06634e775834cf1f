/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-registry-manifest.h"

#include <glib/gi18n-lib.h>
#include <string.h>
#include <sys/utsname.h>

#include "podvm-error.h"
#include "podvm-image-ref.h"
#include "podvm-json.h"

#define MAX_DEPTH 16
#define MAX_PLATFORM_FIELD 64

void
podvm_registry_descriptor_free(PodvmRegistryDescriptor *descriptor)
{
    if (descriptor == NULL)
        return;
    g_free(descriptor->media_type);
    g_free(descriptor->digest);
    g_free(descriptor->os);
    g_free(descriptor->architecture);
    g_free(descriptor->variant);
    g_free(descriptor);
}

void
podvm_registry_manifest_free(PodvmRegistryManifest *manifest)
{
    if (manifest == NULL)
        return;
    g_free(manifest->media_type);
    podvm_registry_descriptor_free(manifest->config);
    g_clear_pointer(&manifest->layers, g_ptr_array_unref);
    g_clear_pointer(&manifest->manifests, g_ptr_array_unref);
    g_free(manifest);
}

char *
podvm_registry_digest_of(const void *data, gsize length)
{
    g_autofree char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, length);

    return g_strconcat("sha256:", hex, NULL);
}

static gboolean
media_type_known(const char *media_type)
{
    return g_str_equal(media_type, PODVM_MEDIA_OCI_MANIFEST) ||
           g_str_equal(media_type, PODVM_MEDIA_OCI_INDEX) ||
           g_str_equal(media_type, PODVM_MEDIA_DOCKER_MANIFEST) ||
           g_str_equal(media_type, PODVM_MEDIA_DOCKER_LIST);
}

/* A string member, NULL when absent; FALSE (error set) when present and not a string. */
static gboolean
get_string(JsonObject *object, const char *what, const char *member, const char **out,
           GError **error)
{
    JsonNode *node = json_object_get_member(object, member);

    *out = NULL;
    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("%s: \"%s\" is not a string"), what,
                    member);
        return FALSE;
    }
    *out = json_node_get_string(node);
    return TRUE;
}

static gboolean
platform_field_valid(const char *text)
{
    gsize len = strlen(text);

    if (len == 0 || len > MAX_PLATFORM_FIELD)
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(text[i]) && text[i] != '_' && text[i] != '-' && text[i] != '.')
            return FALSE;
    }
    return TRUE;
}

static PodvmRegistryDescriptor *
parse_descriptor(JsonNode *node, const char *what, gboolean with_platform, GError **error)
{
    g_autoptr(GError) local = NULL;
    PodvmRegistryDescriptor *descriptor;
    JsonObject *object;
    JsonNode *size, *platform;
    const char *media_type = NULL, *digest = NULL;
    gint64 value;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("%s is not an object"), what);
        return NULL;
    }
    object = json_node_get_object(node);
    if (!get_string(object, what, "mediaType", &media_type, error) ||
        !get_string(object, what, "digest", &digest, error))
        return NULL;
    if (digest == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("%s has no digest"), what);
        return NULL;
    }
    if (!podvm_image_ref_digest_valid(digest)) {
        g_autofree char *quoted = podvm_quote_for_message(digest);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("%s has digest %s: only sha256 digests (64 lowercase hex digits) are "
                      "supported"),
                    what, quoted);
        return NULL;
    }
    size = json_object_get_member(object, "size");
    if (size == NULL || !JSON_NODE_HOLDS_VALUE(size) ||
        json_node_get_value_type(size) != G_TYPE_INT64 || (value = json_node_get_int(size)) < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("%s has no size (a whole number of bytes)"), what);
        return NULL;
    }
    descriptor = g_new0(PodvmRegistryDescriptor, 1);
    descriptor->media_type = g_strdup(media_type);
    descriptor->digest = g_strdup(digest);
    descriptor->size = (guint64)value;
    platform = json_object_get_member(object, "platform");
    if (with_platform && platform != NULL && JSON_NODE_HOLDS_OBJECT(platform)) {
        JsonObject *p = json_node_get_object(platform);
        const char *os = NULL, *arch = NULL, *variant = NULL;

        if (!get_string(p, what, "os", &os, &local) ||
            !get_string(p, what, "architecture", &arch, &local) ||
            !get_string(p, what, "variant", &variant, &local) ||
            (os != NULL && !platform_field_valid(os)) ||
            (arch != NULL && !platform_field_valid(arch)) ||
            (variant != NULL && !platform_field_valid(variant))) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("%s has a malformed platform"),
                        what);
            podvm_registry_descriptor_free(descriptor);
            return NULL;
        }
        descriptor->os = g_strdup(os);
        descriptor->architecture = g_strdup(arch);
        descriptor->variant = g_strdup(variant);
    }
    return descriptor;
}

static GPtrArray *
parse_descriptors(JsonObject *root, const char *member, gboolean with_platform, GError **error)
{
    g_autoptr(GPtrArray) list =
        g_ptr_array_new_with_free_func((GDestroyNotify)podvm_registry_descriptor_free);
    JsonNode *node = json_object_get_member(root, member);
    JsonArray *array;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("\"%s\" is missing or not a list"),
                    member);
        return NULL;
    }
    array = json_node_get_array(node);
    if (json_array_get_length(array) > PODVM_REGISTRY_MAX_ENTRIES) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("\"%s\" has more than %u entries"),
                    member, PODVM_REGISTRY_MAX_ENTRIES);
        return NULL;
    }
    for (guint i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *what = g_strdup_printf("%s[%u]", member, i);
        PodvmRegistryDescriptor *descriptor =
            parse_descriptor(json_array_get_element(array, i), what, with_platform, error);

        if (descriptor == NULL)
            return NULL;
        g_ptr_array_add(list, descriptor);
    }
    return g_steal_pointer(&list);
}

PodvmRegistryManifest *
podvm_registry_manifest_parse(const char *data, gsize length, const char *content_type,
                              GError **error)
{
    g_autoptr(PodvmRegistryManifest) manifest = g_new0(PodvmRegistryManifest, 1);
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *header_type = NULL;
    const char *body_type = NULL;
    JsonObject *object;
    JsonNode *version;

    if (content_type != NULL) {
        const char *semicolon = strchr(content_type, ';');

        header_type = semicolon != NULL ? g_strndup(content_type, semicolon - content_type)
                                        : g_strdup(content_type);
        g_strstrip(header_type);
        if (*header_type == '\0' || g_str_equal(header_type, "application/json") ||
            g_str_equal(header_type, "application/octet-stream") ||
            g_str_equal(header_type, "text/plain"))
            g_clear_pointer(&header_type, g_free);
    }
    root = podvm_json_parse_limited(data, (gssize)length, MAX(length, 1), MAX_DEPTH, &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("the manifest is not JSON: %s"),
                    local->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("the manifest is not a JSON object"));
        return NULL;
    }
    object = json_node_get_object(root);
    version = json_object_get_member(object, "schemaVersion");
    if (version == NULL || !JSON_NODE_HOLDS_VALUE(version) ||
        json_node_get_value_type(version) != G_TYPE_INT64 || json_node_get_int(version) != 2) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("the manifest is not schema version 2 (Docker schema 1 images "
                              "are not supported)"));
        return NULL;
    }
    if (!get_string(object, "the manifest", "mediaType", &body_type, error))
        return NULL;
    if (body_type != NULL && header_type != NULL && !g_str_equal(body_type, header_type)) {
        g_autofree char *a = podvm_quote_for_message(header_type);
        g_autofree char *b = podvm_quote_for_message(body_type);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("the registry sent the manifest as %s but it says it is %s"), a, b);
        return NULL;
    }
    if (body_type != NULL)
        manifest->media_type = g_strdup(body_type);
    else if (header_type != NULL)
        manifest->media_type = g_strdup(header_type);
    else if (json_object_has_member(object, "manifests"))
        manifest->media_type = g_strdup(PODVM_MEDIA_OCI_INDEX);
    else
        manifest->media_type = g_strdup(PODVM_MEDIA_OCI_MANIFEST);
    if (!media_type_known(manifest->media_type)) {
        g_autofree char *quoted = podvm_quote_for_message(manifest->media_type);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("the manifest's media type %s is not supported (OCI image manifest or "
                      "index, Docker schema 2 manifest or manifest list)"),
                    quoted);
        return NULL;
    }
    manifest->is_index = g_str_equal(manifest->media_type, PODVM_MEDIA_OCI_INDEX) ||
                         g_str_equal(manifest->media_type, PODVM_MEDIA_DOCKER_LIST);
    if (manifest->is_index) {
        manifest->manifests = parse_descriptors(object, "manifests", TRUE, error);
        if (manifest->manifests == NULL)
            return NULL;
    } else {
        manifest->config =
            parse_descriptor(json_object_get_member(object, "config"), "config", FALSE, error);
        if (manifest->config == NULL)
            return NULL;
        manifest->layers = parse_descriptors(object, "layers", FALSE, error);
        if (manifest->layers == NULL)
            return NULL;
    }
    return g_steal_pointer(&manifest);
}

static const struct {
    const char *machine;
    const char *architecture;
    const char *variant;
} architectures[] = {
    { "x86_64", "amd64", NULL },
    { "aarch64", "arm64", "v8" },
    { "armv7l", "arm", "v7" },
    { "armv6l", "arm", "v6" },
    { "i686", "386", NULL },
    { "i386", "386", NULL },
    { "ppc64le", "ppc64le", NULL },
    { "s390x", "s390x", NULL },
    { "riscv64", "riscv64", NULL },
    { "mips64", "mips64le", NULL },
    { "loongarch64", "loong64", NULL },
};

static int
host_architecture_index(void)
{
    static gsize once = 0;
    static int index = -1;

    if (g_once_init_enter(&once)) {
        struct utsname name;

        if (uname(&name) == 0) {
            for (guint i = 0; i < G_N_ELEMENTS(architectures); i++) {
                if (g_str_equal(name.machine, architectures[i].machine))
                    index = (int)i;
            }
        }
        g_once_init_leave(&once, 1);
    }
    return index;
}

const char *
podvm_registry_host_architecture(void)
{
    int i = host_architecture_index();

    return i >= 0 ? architectures[i].architecture : "amd64";
}

const char *
podvm_registry_host_variant(void)
{
    int i = host_architecture_index();

    return i >= 0 ? architectures[i].variant : NULL;
}

static char *
platform_name(const PodvmRegistryDescriptor *d)
{
    return g_strdup_printf("%s/%s%s%s", d->os != NULL ? d->os : "?",
                           d->architecture != NULL ? d->architecture : "?",
                           d->variant != NULL ? "/" : "", d->variant != NULL ? d->variant : "");
}

const PodvmRegistryDescriptor *
podvm_registry_manifest_pick_platform(const PodvmRegistryManifest *manifest, const char *os,
                                      const char *architecture, const char *variant, GError **error)
{
    const PodvmRegistryDescriptor *best = NULL;
    g_autoptr(GString) have = g_string_new(NULL);
    gboolean arm = g_str_equal(architecture, "arm") || g_str_equal(architecture, "arm64");

    g_return_val_if_fail(manifest->is_index, NULL);
    for (guint i = 0; i < manifest->manifests->len; i++) {
        const PodvmRegistryDescriptor *d = g_ptr_array_index(manifest->manifests, i);

        if (d->os == NULL || d->architecture == NULL)
            continue;
        if (g_str_equal(d->os, os) && g_str_equal(d->architecture, architecture)) {
            /* The variant matters only on arm: an exact one wins, one without comes next. */
            if (!arm || variant == NULL || g_strcmp0(d->variant, variant) == 0) {
                best = d;
                break;
            }
            if (d->variant == NULL && best == NULL)
                best = d;
        }
    }
    if (best != NULL)
        return best;
    for (guint i = 0; i < manifest->manifests->len; i++) {
        const PodvmRegistryDescriptor *d = g_ptr_array_index(manifest->manifests, i);
        g_autofree char *name = NULL;

        if (d->os == NULL || d->architecture == NULL || g_str_equal(d->os, "unknown"))
            continue;
        name = platform_name(d);
        if (strstr(have->str, name) != NULL)
            continue;
        if (have->len > 0)
            g_string_append(have, ", ");
        g_string_append(have, name);
    }
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                _("the image has no manifest for this host's platform %s/%s (it has: %s)"), os,
                architecture, have->len > 0 ? have->str : _("none"));
    return NULL;
}
