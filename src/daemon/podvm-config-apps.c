/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmd.conf [apps]: what app pods (spec.apps without a kernel or disks
 * of their own) need on the host.
 *
 *   guest_dir=DIR   podvm's app guest: DIR/vmlinuz and DIR/initrd.img
 *                   (default DATADIR/podvm/app-guest; guest/build-app-guest.sh
 *                   builds them into BUILD/guest/app)
 */
#include "podvm-config-private.h"

#include <glib/gi18n-lib.h>

#include "podvm-config-defaults.h"
#include "podvm-error.h"

void
podvm_config_apps_defaults(PodvmConfig *config)
{
    config->app_guest_dir = g_strdup(PODVM_DEFAULT_APP_GUEST_DIR);
}

gboolean
podvm_config_read_apps(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error)
{
    g_autofree char *guest_dir = g_key_file_get_string(kf, "apps", "guest_dir", NULL);

    if (guest_dir != NULL) {
        g_strstrip(guest_dir);
        if (!g_path_is_absolute(guest_dir)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [apps] guest_dir: '%s' is not an absolute path"), path, guest_dir);
            return FALSE;
        }
        g_free(config->app_guest_dir);
        config->app_guest_dir = g_steal_pointer(&guest_dir);
    }
    return TRUE;
}

void
podvm_config_apps_clear(PodvmConfig *config)
{
    g_clear_pointer(&config->app_guest_dir, g_free);
}
