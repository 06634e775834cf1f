/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmd.conf [apps]: what app pods (spec.apps without a kernel or disks
 * of their own) need on the host.
 *
 *   guest_dir=DIR   podvm's app guest: DIR/vmlinuz and DIR/initrd.img
 *                   (default DATADIR/podvm/app-guest; guest/build-app-guest.sh
 *                   builds them into BUILD/guest/app)
 *   rootfs_helper=PATH
 *                   podvm-unpack-app-rootfs, which builds an app's root
 *                   filesystem (layers -> erofs) out of podvmd's process
 *                   (default: next to podvmd in a build tree, else
 *                   LIBEXECDIR)
 */
#include "podvm-config-private.h"

#include <glib/gi18n-lib.h>

#include "podvm-build-config.h"
#include "podvm-config-defaults.h"
#include "podvm-error.h"

#define APP_ROOTFS_HELPER "podvm-unpack-app-rootfs"

/* Next to the running podvmd (a build tree), else where it is installed. */
static char *
default_rootfs_helper(void)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self != NULL ? g_path_get_dirname(self) : NULL;
    g_autofree char *beside = dir != NULL ? g_build_filename(dir, APP_ROOTFS_HELPER, NULL) : NULL;

    if (beside != NULL && g_file_test(beside, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer(&beside);
    return g_build_filename(PODVM_LIBEXECDIR, APP_ROOTFS_HELPER, NULL);
}

void
podvm_config_apps_defaults(PodvmConfig *config)
{
    config->app_guest_dir = g_strdup(PODVM_DEFAULT_APP_GUEST_DIR);
    config->app_rootfs_helper = default_rootfs_helper();
}

gboolean
podvm_config_read_apps(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error)
{
    g_autofree char *guest_dir = g_key_file_get_string(kf, "apps", "guest_dir", NULL);
    g_autofree char *rootfs_helper = g_key_file_get_string(kf, "apps", "rootfs_helper", NULL);

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
    if (rootfs_helper != NULL) {
        g_strstrip(rootfs_helper);
        if (!g_path_is_absolute(rootfs_helper)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [apps] rootfs_helper: '%s' is not an absolute path"), path,
                        rootfs_helper);
            return FALSE;
        }
        g_free(config->app_rootfs_helper);
        config->app_rootfs_helper = g_steal_pointer(&rootfs_helper);
    }
    return TRUE;
}

void
podvm_config_apps_clear(PodvmConfig *config)
{
    g_clear_pointer(&config->app_guest_dir, g_free);
    g_clear_pointer(&config->app_rootfs_helper, g_free);
}
