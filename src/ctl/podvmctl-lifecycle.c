/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmctl start|stop|kill|pause|resume|restart NAME…: one pod after the other */
#include "podvm-build-config.h"

#include <glib/gi18n.h>

#include "podvmctl-util.h"

static gboolean
start_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    const gboolean *debug = user_data;
    g_auto(GVariantDict) options = G_VARIANT_DICT_INIT(NULL);

    g_variant_dict_insert(&options, "debug", "b", *debug);
    return podvm_dbus_pod_call_start_sync(pod, g_variant_dict_end(&options), NULL, error);
}

int
podvmctl_cmd_start(PodvmCtl *ctl, int argc, char **argv)
{
    gboolean opt_debug = FALSE;
    const GOptionEntry entries[] = {
        { "debug", 0, 0, G_OPTION_ARG_NONE, &opt_debug,
          N_("Show the guest kernel's boot messages on the console"), NULL },
        { NULL },
    };

    /* Start returns once the guest runs: no D-Bus timeout of our own. */
    return podvmctl_pod_command(ctl, "start", _("Start a pod and wait until its guest runs."),
                                entries, argc, argv, PODVMCTL_TIMEOUT_LONG, start_cb, &opt_debug);
}

/* --grace: a callback so that a bad value is a usage error like any other. */
static int stop_grace = -1;

static gboolean
parse_grace_cb(const char *option_name, const char *value, gpointer data, GError **error)
{
    gint64 seconds;

    if (!g_ascii_string_to_signed(value, 10, -1, G_MAXINT, &seconds, NULL)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    _("bad value '%s' for %s; expected seconds (0 or more, or -1 for the "
                      "pod's terminationGracePeriodSeconds)"),
                    value, option_name);
        return FALSE;
    }
    stop_grace = (int)seconds;
    return TRUE;
}

static gboolean
stop_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    return podvm_dbus_pod_call_stop_sync(pod, stop_grace, NULL, error);
}

int
podvmctl_cmd_stop(PodvmCtl *ctl, int argc, char **argv)
{
    const GOptionEntry entries[] = {
        { "grace", 0, 0, G_OPTION_ARG_CALLBACK, parse_grace_cb,
          N_("Seconds the guest gets to power off before QEMU is stopped "
             "(default: the pod's terminationGracePeriodSeconds)"),
          N_("SECONDS") },
        { NULL },
    };

    /* Stop can wait the whole grace period: no D-Bus timeout of our own. */
    return podvmctl_pod_command(ctl, "stop",
                                _("Stop a pod: ACPI power-down, wait for the grace period, then "
                                  "stop QEMU."),
                                entries, argc, argv, PODVMCTL_TIMEOUT_LONG, stop_cb, NULL);
}

static gboolean
kill_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    return podvm_dbus_pod_call_kill_sync(pod, NULL, error);
}

int
podvmctl_cmd_kill(PodvmCtl *ctl, int argc, char **argv)
{
    return podvmctl_pod_command(ctl, "kill",
                                _("Stop a pod's QEMU at once, without a grace "
                                  "period."),
                                NULL, argc, argv, PODVMCTL_TIMEOUT_DEFAULT, kill_cb, NULL);
}

static gboolean
pause_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    return podvm_dbus_pod_call_pause_sync(pod, NULL, error);
}

int
podvmctl_cmd_pause(PodvmCtl *ctl, int argc, char **argv)
{
    return podvmctl_pod_command(ctl, "pause", _("Pause a running pod's vCPUs."), NULL, argc, argv,
                                PODVMCTL_TIMEOUT_DEFAULT, pause_cb, NULL);
}

static gboolean
resume_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    return podvm_dbus_pod_call_resume_sync(pod, NULL, error);
}

int
podvmctl_cmd_resume(PodvmCtl *ctl, int argc, char **argv)
{
    return podvmctl_pod_command(ctl, "resume", _("Resume a paused pod."), NULL, argc, argv,
                                PODVMCTL_TIMEOUT_DEFAULT, resume_cb, NULL);
}

static gboolean
restart_cb(PodvmDBusPod *pod, gpointer user_data, GError **error)
{
    return podvm_dbus_pod_call_restart_sync(pod, NULL, error);
}

int
podvmctl_cmd_restart(PodvmCtl *ctl, int argc, char **argv)
{
    return podvmctl_pod_command(ctl, "restart", _("Stop a pod gracefully and start it again."),
                                NULL, argc, argv, PODVMCTL_TIMEOUT_LONG, restart_cb, NULL);
}
