/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl exec POD [--app NAME] -- CMD [ARG...]
 *
 * Runs a command in an app of a running app pod (like kubectl exec, rkt
 * enter): podvmctl hands its own stdin, stdout and stderr to podvmd with
 * the Pod.Exec call, podvmd relays them through the app guest's channel,
 * and the command's exit code becomes podvmctl's.
 */
#include "podvm-build-config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "podvmctl-util.h"

/* The highest exit code a shell can see; a larger one (a bad answer) is a failure. */
#define EXIT_CODE_MAX 255

int
podvmctl_cmd_exec(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_app = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(GPtrArray) command = g_ptr_array_new();
    int option_argc = argc;
    int exit_code = -1;
    int status;
    const GOptionEntry entries[] = {
        { "app", 'a', 0, G_OPTION_ARG_STRING, &opt_app,
          N_("The app to run the command in (default: the pod's first app)"), N_("NAME") },
        { NULL },
    };

    /* What follows "--" is the command, options and all. */
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "--")) {
            option_argc = i;
            for (int j = i + 1; j < argc; j++)
                g_ptr_array_add(command, argv[j]);
            break;
        }
    }
    argc = option_argc;
    if (!podvmctl_parse_options("exec", "POD -- COMMAND [ARGUMENT…]",
                                _("Run a command in an app of a running app pod.\n"
                                  "The command's stdin, stdout and stderr are podvmctl's; its exit "
                                  "code is podvmctl's."),
                                entries, 1, -1, &argc, &argv, &status))
        return status;
    /* Without "--", the arguments after the pod are the command. */
    for (int i = 2; i < argc; i++)
        g_ptr_array_insert(command, i - 2, argv[i]);
    if (command->len == 0)
        return podvmctl_usage_error("exec", _("missing the command; give it after --"));
    g_ptr_array_add(command, NULL);
    if (!podvmctl_check_name("exec", argv[1], &status))
        return status;
    if (opt_app != NULL && !podvmctl_check_name_option("exec", "--app", opt_app, &status))
        return status;

    pod = podvmctl_get_pod(ctl, argv[1], &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (g_unix_fd_list_append(fds, fd, &error) < 0)
            return podvmctl_fail_message(_("cannot pass file descriptor %d: %s"), fd,
                                         error->message);
    }
    /* The command runs as long as it needs. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
    if (!podvm_dbus_pod_call_exec_sync(pod, opt_app != NULL ? opt_app : "",
                                       (const char *const *)command->pdata, g_variant_new_handle(0),
                                       g_variant_new_handle(1), g_variant_new_handle(2), fds,
                                       &exit_code, NULL, NULL, &error))
        return podvmctl_fail(ctl, error);
    if (exit_code < 0 || exit_code > EXIT_CODE_MAX)
        return podvmctl_fail_message(_("podvmd answered exit code %d"), exit_code);
    return exit_code;
}
