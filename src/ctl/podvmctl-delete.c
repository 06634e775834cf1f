/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmctl delete NAME… [--force] */
#include "podvm-build-config.h"

#include <glib/gi18n.h>

#include "podvmctl-util.h"

static gboolean
delete_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    const gboolean *force = user_data;

    return podvm_dbus_pod_call_delete_sync(pod, *force, NULL, error);
}

int
podvmctl_cmd_delete(PodvmCtl *ctl, int argc, char **argv)
{
    gboolean opt_force = FALSE;
    const GOptionEntry entries[] = {
        { "force", 0, 0, G_OPTION_ARG_NONE, &opt_force,
          N_("Delete the pod even while QEMU runs (it is killed)"), NULL },
        { NULL },
    };

    return podvmctl_pod_command(ctl, "delete",
                                _("Delete pods and what they own (their emptyDisk volumes, their "
                                  "logs).\nA pod whose QEMU runs is refused unless --force is "
                                  "given. With several names, each is deleted in turn; a "
                                  "failure is named and the others still go (exit status 1)."),
                                entries, argc, argv, PODVMCTL_TIMEOUT_DEFAULT, delete_cb,
                                &opt_force);
}
