/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest agent, as virtctl has it: podvmctl guestosinfo NAME prints
 * what the pod's guest agent says of the guest's OS (JSON); podvmctl
 * freeze NAME and unfreeze NAME freeze and thaw the guest's filesystems
 * and print the freeze status the agent then gives.
 */
#include "podvm-build-config.h"

#include <stdio.h>

#include <glib/gi18n.h>

#include "podvmctl-util.h"

int
podvmctl_cmd_guestosinfo(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autofree char *reply = NULL;
    int status;

    if (!podvmctl_parse_options("guestosinfo", "NAME",
                                _("Print the guest's OS as the pod's guest agent tells it "
                                  "(qemu-guest-agent's guest-get-osinfo, with KubeVirt's names), "
                                  "as JSON."),
                                NULL, 1, 1, &argc, &argv, &status))
        return status;
    if (!podvmctl_check_name("guestosinfo", argv[1], &status))
        return status;
    pod = podvmctl_get_pod(ctl, argv[1], &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_pod_call_guest_osinfo_sync(pod, &reply, NULL, &error))
        return podvmctl_fail(ctl, error);
    info = podvmctl_parse_json(reply, -1, _("podvmd's answer"), &error);
    if (info == NULL)
        return podvmctl_fail(ctl, error);
    podvmctl_print_json(info, TRUE);
    return PODVMCTL_EXIT_OK;
}

static gboolean
freeze_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    g_autofree char *status = NULL;
    gboolean ok = GPOINTER_TO_INT(user_data)
                      ? podvm_dbus_pod_call_freeze_sync(pod, &status, NULL, error)
                      : podvm_dbus_pod_call_unfreeze_sync(pod, &status, NULL, error);

    if (ok)
        printf("%s\n", status);
    /* qemu-ga freezes what it can and says how many: none leaves the guest thawed. */
    if (ok && GPOINTER_TO_INT(user_data) && g_strcmp0(status, "thawed") == 0)
        g_printerr(_("podvmctl: the guest agent found no filesystem it could freeze; the guest "
                     "stays thawed\n"));
    return ok;
}

int
podvmctl_cmd_freeze(PodvmCtl *ctl, int argc, char **argv)
{
    return podvmctl_pod_command(ctl, "freeze",
                                _("Freeze the guest's filesystems through its guest agent "
                                  "(guest-fsfreeze-freeze); prints the freeze status."),
                                NULL, argc, argv, PODVMCTL_TIMEOUT_LONG, freeze_cb,
                                GINT_TO_POINTER(TRUE));
}

int
podvmctl_cmd_unfreeze(PodvmCtl *ctl, int argc, char **argv)
{
    return podvmctl_pod_command(ctl, "unfreeze",
                                _("Thaw the guest's filesystems through its guest agent "
                                  "(guest-fsfreeze-thaw); prints the freeze status."),
                                NULL, argc, argv, PODVMCTL_TIMEOUT_LONG, freeze_cb,
                                GINT_TO_POINTER(FALSE));
}
