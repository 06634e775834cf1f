/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmd.conf's live-migration settings: [migration] (the convergence
 * controller's policy and limits), [peer NAME] (the podvmds pods may move
 * to: `podvmctl migrate POD --to NAME`) and [storage] shared_paths (pool
 * directories both hosts see, whose claims are not copied).
 */
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "podvm-config-private.h"
#include "podvm-error.h"
#include "podvm-quantity.h"

#define PEER_PREFIX "peer "
/* A bearer token is a line of visible ASCII; more than this is not a token file. */
#define TOKEN_MAX 4096

static void
peer_free(PodvmConfigPeer *peer)
{
    g_free(peer->name);
    g_free(peer->url);
    g_free(peer->token_file);
    g_free(peer->cacert);
    g_free(peer);
}

void
podvm_config_migration_defaults(PodvmConfig *config)
{
    config->migration_max_bandwidth = 0;
    config->migration_initial_downtime_ms = 300;
    config->migration_max_downtime_ms = 2000;
    config->migration_no_progress_timeout_ms = 30000;
    config->migration_stall_passes = 3;
    config->migration_max_parallel = 2;
    config->migration_allow_postcopy = FALSE;
    config->migration_auto_converge = TRUE;
    config->peers = g_ptr_array_new_with_free_func((GDestroyNotify)peer_free);
    config->shared_pool_paths = g_new0(char *, 1);
}

void
podvm_config_migration_clear(PodvmConfig *config)
{
    g_clear_pointer(&config->peers, g_ptr_array_unref);
    g_clear_pointer(&config->shared_pool_paths, g_strfreev);
}

const PodvmConfigPeer *
podvm_config_find_peer(const PodvmConfig *config, const char *name)
{
    for (guint i = 0; name != NULL && config->peers != NULL && i < config->peers->len; i++) {
        const PodvmConfigPeer *peer = g_ptr_array_index(config->peers, i);

        if (g_str_equal(peer->name, name))
            return peer;
    }
    return NULL;
}

static gboolean
read_number(GKeyFile *kf, const char *path, const char *key, guint min, guint max, guint *out,
            GError **error)
{
    g_autoptr(GError) local = NULL;
    gint64 value;

    if (!g_key_file_has_key(kf, "migration", key, NULL))
        return TRUE;
    value = g_key_file_get_int64(kf, "migration", key, &local);
    if (local != NULL || value < min || value > max) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [migration] %s: expected a whole number from %u to %u"), path, key, min,
                    max);
        return FALSE;
    }
    *out = (guint)value;
    return TRUE;
}

static gboolean
read_flag(GKeyFile *kf, const char *path, const char *group, const char *key, gboolean *out,
          GError **error)
{
    g_autoptr(GError) local = NULL;
    gboolean value;

    if (!g_key_file_has_key(kf, group, key, NULL))
        return TRUE;
    value = g_key_file_get_boolean(kf, group, key, &local);
    if (local != NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [%s] %s: expected true or false"), path, group, key);
        return FALSE;
    }
    *out = value;
    return TRUE;
}

/* "https://HOST:PORT" or "http://HOST:PORT", nothing after the port. */
gboolean
podvm_config_peer_url_valid(const char *url)
{
    g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
    const char *scheme;

    if (uri == NULL)
        return FALSE;
    scheme = g_uri_get_scheme(uri);
    return (g_strcmp0(scheme, "https") == 0 || g_strcmp0(scheme, "http") == 0) &&
           g_uri_get_host(uri) != NULL && *g_uri_get_host(uri) != '\0' && g_uri_get_port(uri) > 0 &&
           (g_uri_get_path(uri)[0] == '\0' || g_str_equal(g_uri_get_path(uri), "/")) &&
           g_uri_get_query(uri) == NULL && g_uri_get_fragment(uri) == NULL &&
           g_uri_get_userinfo(uri) == NULL;
}

static gboolean
read_peer(GKeyFile *kf, const char *path, const char *group, PodvmConfig *config, GError **error)
{
    const char *name = group + strlen(PEER_PREFIX);
    g_autoptr(GString) token = NULL;
    PodvmConfigPeer *peer;
    g_autofree char *url = g_key_file_get_string(kf, group, "url", NULL);
    g_autofree char *token_file = g_key_file_get_string(kf, group, "token_file", NULL);
    g_autofree char *cacert = g_key_file_get_string(kf, group, "cacert", NULL);
    gboolean plaintext = FALSE;

    if (*name == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [%s]: a peer's name is lowercase letters, digits, '-' and '.'"), path,
                    group);
        return FALSE;
    }
    if (url == NULL || !podvm_config_peer_url_valid(g_strstrip(url))) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [%s] url: expected https://HOST:PORT"), path, group);
        return FALSE;
    }
    if (token_file == NULL || !g_path_is_absolute(g_strstrip(token_file))) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [%s] token_file: expected the absolute path of the peer's token"), path,
                    group);
        return FALSE;
    }
    if (cacert != NULL && !g_path_is_absolute(g_strstrip(cacert))) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [%s] cacert: expected an absolute path"), path, group);
        return FALSE;
    }
    if (!read_flag(kf, path, group, "plaintext", &plaintext, error))
        return FALSE;
    if (g_str_has_prefix(url, "http://") && !plaintext) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [%s] url: http:// sends the guest's memory in the clear; use https:// "
                      "or set plaintext=true"),
                    path, group);
        return FALSE;
    }
    peer = g_new0(PodvmConfigPeer, 1);
    peer->name = g_strdup(name);
    peer->url = g_strdup(url);
    peer->token_file = g_strdup(token_file);
    peer->cacert = cacert != NULL && *cacert != '\0' ? g_strdup(cacert) : NULL;
    peer->plaintext = plaintext;
    g_ptr_array_remove(config->peers, (gpointer)podvm_config_find_peer(config, name));
    g_ptr_array_add(config->peers, peer);
    return TRUE;
}

gboolean
podvm_config_read_migration(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    g_autofree char *bandwidth = g_key_file_get_string(kf, "migration", "max_bandwidth", NULL);
    g_auto(GStrv) shared = g_key_file_get_string_list(kf, "storage", "shared_paths", NULL, NULL);

    if (bandwidth != NULL) {
        g_autoptr(GError) local = NULL;
        guint64 bytes = 0;

        /* A quantity ("100Mi", bytes a second) or 0 for QEMU's default. */
        if (!podvm_quantity_parse_bytes(g_strstrip(bandwidth), &bytes, &local)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [migration] max_bandwidth: %s"), path, local->message);
            return FALSE;
        }
        config->migration_max_bandwidth = bytes;
    }
    if (!read_number(kf, path, "initial_downtime_ms", 1, 600000,
                     &config->migration_initial_downtime_ms, error) ||
        !read_number(kf, path, "max_downtime_ms", 1, 600000, &config->migration_max_downtime_ms,
                     error) ||
        !read_number(kf, path, "no_progress_timeout_ms", 100, 3600000,
                     &config->migration_no_progress_timeout_ms, error) ||
        !read_number(kf, path, "stall_passes", 1, 1000, &config->migration_stall_passes, error) ||
        !read_number(kf, path, "max_parallel", 1, 64, &config->migration_max_parallel, error) ||
        !read_flag(kf, path, "migration", "allow_postcopy", &config->migration_allow_postcopy,
                   error) ||
        !read_flag(kf, path, "migration", "auto_converge", &config->migration_auto_converge, error))
        return FALSE;
    if (config->migration_max_downtime_ms < config->migration_initial_downtime_ms) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [migration] max_downtime_ms is less than initial_downtime_ms"), path);
        return FALSE;
    }
    for (guint i = 0; groups[i] != NULL; i++) {
        if (g_str_has_prefix(groups[i], PEER_PREFIX) &&
            !read_peer(kf, path, groups[i], config, error))
            return FALSE;
    }
    if (shared != NULL) {
        g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);

        for (guint i = 0; shared[i] != NULL; i++) {
            char *entry = g_strstrip(shared[i]);

            if (*entry == '\0')
                continue;
            if (!g_path_is_absolute(entry)) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("%s: [storage] shared_paths: '%s' is not an absolute path"), path,
                            entry);
                return FALSE;
            }
            g_ptr_array_add(list, g_canonicalize_filename(entry, NULL));
        }
        g_ptr_array_add(list, NULL);
        g_strfreev(config->shared_pool_paths);
        config->shared_pool_paths = (GStrv)g_ptr_array_free(g_steal_pointer(&list), FALSE);
    }
    return TRUE;
}

/*
 * The token in @path: one line of visible ASCII. Errors name the file,
 * never what it holds (podvmd reads it as root: it says no more of a file
 * that is not a token than that it is not one).
 */
char *
podvm_config_read_peer_token(const char *path, const char *member, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    GStatBuf st;
    gsize length = 0;

    if (g_stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"%s\": '%s' is not a readable file"), member, path);
        return NULL;
    }
    if (st.st_size > TOKEN_MAX || !g_file_get_contents(path, &text, &length, &local)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"%s\": '%s' does not hold a token (%s)"), member, path,
                    local != NULL ? local->message : _("too large"));
        return NULL;
    }
    if (memchr(text, '\0', length) != NULL)
        g_clear_pointer(&text, g_free);
    else
        g_strstrip(text);
    for (const char *p = text; p != NULL && *p != '\0'; p++) {
        if (*p <= ' ' || *p > '~') {
            g_clear_pointer(&text, g_free);
            break;
        }
    }
    if (text == NULL || *text == '\0') {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"%s\": '%s' does not hold a token (one line of visible ASCII)"), member,
                    path);
        return NULL;
    }
    return g_steal_pointer(&text);
}
