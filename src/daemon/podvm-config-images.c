/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmd.conf [images]: images pulled from registries (app pods and
 * containerDisks), kept in the image store (registry/podvm-image-store.h).
 *
 *   dir=DIR                       the store; default STATE_DIR/images
 *   insecure_registries=H:P;...   reached over plain HTTP (rkt's --insecure-options)
 *   auth_file=FILE                credentials, podman's auth.json format
 *   allowed_registries=H;...      only these (docker.io, quay.io, HOST:PORT)
 *   require_digest=true|false     references must be pinned (REPO@sha256:...)
 *   max_layer_size=QUANTITY       a larger layer is refused (default 8Gi)
 *   max_manifest_size=QUANTITY    manifests, indexes, configs (default 4Mi)
 *   timeout=SECONDS               a registry silent this long fails the pull (30)
 */
#include "podvm-config-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-image-ref.h"
#include "podvm-image-store.h"
#include "podvm-quantity.h"

#define GROUP "images"

void
podvm_config_images_defaults(PodvmConfig *config)
{
    config->images_max_layer_size = G_GUINT64_CONSTANT(8) << 30;
    config->images_max_manifest_size = 4 * 1024 * 1024;
    config->images_timeout_seconds = 30;
}

void
podvm_config_images_clear(PodvmConfig *config)
{
    g_clear_pointer(&config->images_dir, g_free);
    g_clear_pointer(&config->images_insecure_registries, g_strfreev);
    g_clear_pointer(&config->images_auth_file, g_free);
    g_clear_pointer(&config->images_allowed_registries, g_strfreev);
}

void
podvm_config_images_finish(PodvmConfig *config)
{
    if (config->images_dir == NULL)
        config->images_dir = g_build_filename(config->state_dir, "images", NULL);
}

static gboolean
read_path(GKeyFile *kf, const char *path, const char *key, char **out, GError **error)
{
    g_autofree char *value = g_key_file_get_string(kf, GROUP, key, NULL);

    if (value == NULL)
        return TRUE;
    g_strstrip(value);
    if (!g_path_is_absolute(value)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [images] %s: '%s' is not an absolute path"), path, key, value);
        return FALSE;
    }
    g_free(*out);
    *out = g_steal_pointer(&value);
    return TRUE;
}

/* "a;b;c" of registries ("HOST[:PORT]"); empty entries are skipped. */
static gboolean
read_registries(GKeyFile *kf, const char *path, const char *key, GStrv *out, GError **error)
{
    g_autofree char *value = g_key_file_get_string(kf, GROUP, key, NULL);
    g_autoptr(GStrvBuilder) builder = NULL;
    g_auto(GStrv) parts = NULL;

    if (value == NULL)
        return TRUE;
    builder = g_strv_builder_new();
    parts = g_strsplit(value, ";", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        g_autofree char *entry = g_ascii_strdown(g_strstrip(parts[i]), -1);

        if (*entry == '\0')
            continue;
        if (!podvm_image_ref_registry_valid(entry)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [images] %s: '%s' is not a registry (HOST or HOST:PORT)"), path, key,
                        entry);
            return FALSE;
        }
        g_strv_builder_add(builder, entry);
    }
    g_strfreev(*out);
    *out = g_strv_builder_end(builder);
    return TRUE;
}

static gboolean
read_size(GKeyFile *kf, const char *path, const char *key, guint64 *out, GError **error)
{
    g_autofree char *value = g_key_file_get_string(kf, GROUP, key, NULL);
    g_autoptr(GError) local = NULL;
    guint64 bytes = 0;

    if (value == NULL)
        return TRUE;
    if (!podvm_quantity_parse_bytes(g_strstrip(value), &bytes, &local) || bytes == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [images] %s: expected a size above 0 such as 512Mi or 8Gi"), path, key);
        return FALSE;
    }
    *out = bytes;
    return TRUE;
}

gboolean
podvm_config_read_images(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (!g_key_file_has_group(kf, GROUP))
        return TRUE;
    if (!read_path(kf, path, "dir", &config->images_dir, error) ||
        !read_path(kf, path, "auth_file", &config->images_auth_file, error) ||
        !read_registries(kf, path, "insecure_registries", &config->images_insecure_registries,
                         error) ||
        !read_registries(kf, path, "allowed_registries", &config->images_allowed_registries,
                         error) ||
        !read_size(kf, path, "max_layer_size", &config->images_max_layer_size, error) ||
        !read_size(kf, path, "max_manifest_size", &config->images_max_manifest_size, error))
        return FALSE;
    if (g_key_file_has_key(kf, GROUP, "require_digest", NULL)) {
        gboolean value = g_key_file_get_boolean(kf, GROUP, "require_digest", &local);

        if (local != NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [images] require_digest: expected true or false"), path);
            return FALSE;
        }
        config->images_require_digest = value;
    }
    if (g_key_file_has_key(kf, GROUP, "timeout", NULL)) {
        gint64 value = g_key_file_get_int64(kf, GROUP, "timeout", &local);

        if (local != NULL || value < 1 || value > 3600) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [images] timeout: expected a whole number of seconds from 1 to "
                          "3600"),
                        path);
            return FALSE;
        }
        config->images_timeout_seconds = (guint)value;
    }
    return TRUE;
}

PodvmImageStore *
podvm_config_new_image_store(const PodvmConfig *config, GError **error)
{
    PodvmImageStoreOptions options = {
        .insecure_registries = config->images_insecure_registries,
        .auth_file = config->images_auth_file,
        .allowed_registries = config->images_allowed_registries,
        .require_digest = config->images_require_digest,
        .max_manifest_size = config->images_max_manifest_size,
        .max_layer_size = config->images_max_layer_size,
        .timeout_seconds = config->images_timeout_seconds,
    };
    g_autofree char *dir = config->images_dir != NULL
                               ? g_strdup(config->images_dir)
                               : g_build_filename(config->state_dir, "images", NULL);

    return podvm_image_store_new(dir, &options, error);
}
