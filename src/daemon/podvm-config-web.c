/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmd.conf [web]: the web console page on the REST listeners.
 *
 *   enabled=true|false   serve the page under /ui/ (default false)
 *   dir=DIR              where its files are (default DATADIR/podvm/web,
 *                        where meson installs them; a build tree has them
 *                        in BUILD/web)
 */
#include "podvm-config-private.h"

#include <glib/gi18n-lib.h>

#include "podvm-config-defaults.h"
#include "podvm-error.h"

void
podvm_config_web_defaults(PodvmConfig *config)
{
    config->web_enabled = FALSE;
    config->web_dir = g_strdup(PODVM_DEFAULT_WEB_DIR);
}

gboolean
podvm_config_read_web(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error)
{
    g_autofree char *dir = g_key_file_get_string(kf, "web", "dir", NULL);

    if (g_key_file_has_key(kf, "web", "enabled", NULL)) {
        g_autoptr(GError) local = NULL;
        gboolean enabled = g_key_file_get_boolean(kf, "web", "enabled", &local);

        if (local != NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [web] enabled: expected true or false"), path);
            return FALSE;
        }
        config->web_enabled = enabled;
    }
    if (dir != NULL) {
        g_strstrip(dir);
        if (!g_path_is_absolute(dir)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [web] dir: '%s' is not an absolute path"), path, dir);
            return FALSE;
        }
        g_free(config->web_dir);
        config->web_dir = g_steal_pointer(&dir);
    }
    return TRUE;
}

void
podvm_config_web_clear(PodvmConfig *config)
{
    g_clear_pointer(&config->web_dir, g_free);
}
