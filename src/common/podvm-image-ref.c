/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-image-ref.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

#define MAX_NAME_LENGTH 255 /* registry, '/', repository: docker's limit */
#define MAX_TAG_LENGTH 128
#define MAX_HOST_LENGTH 253

static void
set_error(GError **error, const char *text, const char *problem)
{
    g_autofree char *quoted = podvm_quote_for_message(text);

    /* TRANSLATORS: image reference "Redis": repository names must be lowercase */
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("image reference %s: %s"),
                quoted, problem);
}

void
podvm_image_ref_free(PodvmImageRef *ref)
{
    if (ref == NULL)
        return;
    g_free(ref->registry);
    g_free(ref->repository);
    g_free(ref->tag);
    g_free(ref->digest);
    g_free(ref);
}

PodvmImageRef *
podvm_image_ref_copy(const PodvmImageRef *ref)
{
    PodvmImageRef *copy = g_new0(PodvmImageRef, 1);

    copy->registry = g_strdup(ref->registry);
    copy->repository = g_strdup(ref->repository);
    copy->tag = g_strdup(ref->tag);
    copy->digest = g_strdup(ref->digest);
    return copy;
}

gboolean
podvm_image_ref_digest_valid(const char *digest)
{
    if (digest == NULL || !g_str_has_prefix(digest, "sha256:"))
        return FALSE;
    digest += strlen("sha256:");
    for (guint i = 0; i < 64; i++) {
        if (!g_ascii_isdigit(digest[i]) && !(digest[i] >= 'a' && digest[i] <= 'f'))
            return FALSE;
    }
    return digest[64] == '\0';
}

/* A DNS label: [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?, @len bytes. */
static gboolean
label_valid(const char *label, gsize len)
{
    if (len == 0 || len > 63)
        return FALSE;
    if (!g_ascii_isalnum(label[0]) || !g_ascii_isalnum(label[len - 1]))
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(label[i]) && label[i] != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean
port_valid(const char *port)
{
    guint64 value = 0;

    if (*port == '\0' || strlen(port) > 5)
        return FALSE;
    for (const char *p = port; *p != '\0'; p++) {
        if (!g_ascii_isdigit(*p))
            return FALSE;
        value = value * 10 + (guint64)(*p - '0');
    }
    return value >= 1 && value <= 65535;
}

gboolean
podvm_image_ref_registry_valid(const char *registry)
{
    const char *port = NULL;
    g_autofree char *host = NULL;

    if (registry == NULL || *registry == '\0')
        return FALSE;
    if (registry[0] == '[') {
        const char *end = strchr(registry, ']');

        if (end == NULL || end == registry + 1)
            return FALSE;
        for (const char *p = registry + 1; p < end; p++) {
            if (!g_ascii_isxdigit(*p) && *p != ':' && *p != '.')
                return FALSE;
        }
        if (end[1] == '\0')
            return TRUE;
        return end[1] == ':' && port_valid(end + 2);
    }
    port = strchr(registry, ':');
    host = port != NULL ? g_strndup(registry, (gsize)(port - registry)) : g_strdup(registry);
    if (port != NULL && !port_valid(port + 1))
        return FALSE;
    if (*host == '\0' || strlen(host) > MAX_HOST_LENGTH)
        return FALSE;
    for (const char *label = host;;) {
        const char *dot = strchr(label, '.');
        gsize len = dot != NULL ? (gsize)(dot - label) : strlen(label);

        if (!label_valid(label, len))
            return FALSE;
        if (dot == NULL)
            break;
        label = dot + 1;
    }
    return TRUE;
}

/*
 * A repository component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*. Sets @problem
 * to a message for the first fault.
 */
static gboolean
component_valid(const char *component, gsize len, const char **problem)
{
    gsize i = 0;

    if (len == 0) {
        *problem = _("the repository has an empty path component");
        return FALSE;
    }
    for (i = 0; i < len; i++) {
        if (g_ascii_isupper(component[i])) {
            *problem = _("repository names must be lowercase");
            return FALSE;
        }
        if (!g_ascii_islower(component[i]) && !g_ascii_isdigit(component[i]) &&
            component[i] != '.' && component[i] != '_' && component[i] != '-') {
            *problem = _("the repository may hold only a-z, 0-9, '.', '_', '-' and '/'");
            return FALSE;
        }
    }
    i = 0;
    while (i < len) {
        gsize run = 0;

        while (i < len && (g_ascii_islower(component[i]) || g_ascii_isdigit(component[i]))) {
            i++;
            run++;
        }
        if (run == 0)
            goto bad_separator;
        if (i == len)
            return TRUE;
        /* A separator: '.', '_', "__" or one or more '-', then alphanumerics again. */
        if (component[i] == '.') {
            i++;
        } else if (component[i] == '_') {
            i++;
            if (i < len && component[i] == '_')
                i++;
        } else {
            while (i < len && component[i] == '-')
                i++;
        }
        if (i == len)
            goto bad_separator;
    }
    return TRUE;

bad_separator:
    *problem = _("each repository path component must start and end with a letter or digit, with "
                 "single '.', '_' or '__' or dashes between");
    return FALSE;
}

static gboolean
tag_valid(const char *tag)
{
    gsize len = strlen(tag);

    if (len == 0 || len > MAX_TAG_LENGTH)
        return FALSE;
    if (!g_ascii_isalnum(tag[0]) && tag[0] != '_')
        return FALSE;
    for (gsize i = 1; i < len; i++) {
        if (!g_ascii_isalnum(tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
            return FALSE;
    }
    return TRUE;
}

gboolean
podvm_image_ref_is_registry(const char *text)
{
    if (text == NULL)
        return FALSE;
    if (g_str_has_prefix(text, PODVM_IMAGE_REF_DOCKER_PREFIX))
        return TRUE;
    if (g_str_has_prefix(text, "oci:") || g_str_has_prefix(text, "/") ||
        g_str_has_prefix(text, "./") || g_str_has_prefix(text, "../"))
        return FALSE;
    return *text != '\0';
}

/* Whether the first path component of a name is a registry (docker's rule). */
static gboolean
is_registry_component(const char *component, gsize len)
{
    return memchr(component, '.', len) != NULL || memchr(component, ':', len) != NULL ||
           (len == strlen("localhost") && memcmp(component, "localhost", len) == 0);
}

PodvmImageRef *
podvm_image_ref_parse(const char *text, GError **error)
{
    g_autoptr(PodvmImageRef) ref = g_new0(PodvmImageRef, 1);
    g_autofree char *rest = NULL;
    const char *problem = NULL;
    const char *slash;
    char *at, *colon, *last_slash;
    const char *name;

    g_return_val_if_fail(text != NULL, NULL);

    if (strlen(text) > PODVM_IMAGE_REF_MAX_LENGTH) {
        set_error(error, text, _("it is too long"));
        return NULL;
    }
    if (!g_utf8_validate(text, -1, NULL)) {
        set_error(error, text, _("it is not valid UTF-8"));
        return NULL;
    }
    rest = g_strdup(g_str_has_prefix(text, PODVM_IMAGE_REF_DOCKER_PREFIX)
                        ? text + strlen(PODVM_IMAGE_REF_DOCKER_PREFIX)
                        : text);
    if (*rest == '\0') {
        set_error(error, text, _("it is empty"));
        return NULL;
    }
    if (g_str_has_prefix(text, "oci:")) {
        set_error(error, text,
                  _("this is a local OCI layout (oci:DIR[:TAG]), not a registry reference"));
        return NULL;
    }
    if (strstr(rest, "://") != NULL) {
        set_error(error, text,
                  _("only docker:// references are supported (docker://[REGISTRY/]REPO[:TAG])"));
        return NULL;
    }

    /* @DIGEST */
    at = strchr(rest, '@');
    if (at != NULL) {
        *at = '\0';
        if (!g_str_has_prefix(at + 1, "sha256:")) {
            set_error(error, text, _("only sha256 digests are supported (@sha256:64 hex digits)"));
            return NULL;
        }
        if (!podvm_image_ref_digest_valid(at + 1)) {
            set_error(error, text,
                      _("the digest must be \"sha256:\" and 64 lowercase hexadecimal digits"));
            return NULL;
        }
        ref->digest = g_strdup(at + 1);
    }

    /* :TAG, a colon after the last slash. */
    last_slash = strrchr(rest, '/');
    colon = strrchr(last_slash != NULL ? last_slash : rest, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (!tag_valid(colon + 1)) {
            set_error(error, text,
                      _("a tag is 1 to 128 of A-Z, a-z, 0-9, '_', '.', '-' and does not start "
                        "with '.' or '-'"));
            return NULL;
        }
        ref->tag = g_strdup(colon + 1);
    }
    if (ref->tag == NULL && ref->digest == NULL)
        ref->tag = g_strdup("latest");

    /* [REGISTRY/]REPO */
    name = rest;
    slash = strchr(name, '/');
    if (slash != NULL && is_registry_component(name, (gsize)(slash - name))) {
        ref->registry = g_ascii_strdown(name, slash - name);
        name = slash + 1;
        if (!podvm_image_ref_registry_valid(ref->registry)) {
            set_error(error, text,
                      _("the registry must be a host name or address with an optional :PORT"));
            return NULL;
        }
        if (g_str_equal(ref->registry, "index.docker.io")) {
            g_free(ref->registry);
            ref->registry = g_strdup(PODVM_IMAGE_REF_DOCKER_HUB);
        }
    } else {
        ref->registry = g_strdup(PODVM_IMAGE_REF_DOCKER_HUB);
    }
    if (*name == '\0') {
        set_error(error, text, _("the repository name is missing"));
        return NULL;
    }
    for (const char *component = name;;) {
        const char *end = strchr(component, '/');
        gsize len = end != NULL ? (gsize)(end - component) : strlen(component);

        if (!component_valid(component, len, &problem)) {
            set_error(error, text, problem);
            return NULL;
        }
        if (end == NULL)
            break;
        component = end + 1;
    }
    if (g_str_equal(ref->registry, PODVM_IMAGE_REF_DOCKER_HUB) && strchr(name, '/') == NULL)
        ref->repository = g_strconcat("library/", name, NULL);
    else
        ref->repository = g_strdup(name);
    if (strlen(ref->registry) + 1 + strlen(ref->repository) > MAX_NAME_LENGTH) {
        set_error(error, text, _("the name is longer than 255 characters"));
        return NULL;
    }
    return g_steal_pointer(&ref);
}

char *
podvm_image_ref_get_name(const PodvmImageRef *ref)
{
    return g_strconcat(ref->registry, "/", ref->repository, NULL);
}

char *
podvm_image_ref_to_string(const PodvmImageRef *ref)
{
    GString *text = g_string_new(ref->registry);

    g_string_append_c(text, '/');
    g_string_append(text, ref->repository);
    if (ref->tag != NULL)
        g_string_append_printf(text, ":%s", ref->tag);
    if (ref->digest != NULL)
        g_string_append_printf(text, "@%s", ref->digest);
    return g_string_free(text, FALSE);
}

const char *
podvm_image_ref_get_manifest_reference(const PodvmImageRef *ref)
{
    return ref->digest != NULL ? ref->digest : ref->tag;
}

const char *
podvm_image_ref_get_api_host(const PodvmImageRef *ref)
{
    if (g_str_equal(ref->registry, PODVM_IMAGE_REF_DOCKER_HUB))
        return PODVM_IMAGE_REF_DOCKER_HUB_API;
    return ref->registry;
}

char *
podvm_image_ref_normalize(const char *text, GError **error)
{
    g_autoptr(PodvmImageRef) ref = podvm_image_ref_parse(text, error);

    return ref != NULL ? podvm_image_ref_to_string(ref) : NULL;
}
