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

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n.h>

#include "podvmctl-util.h"

/* The highest exit code a shell can see; a larger one (a bad answer) is a failure. */
#define EXIT_CODE_MAX 255

/*
 * podvmd makes the fds it is given non-blocking, which would change
 * podvmctl's own terminal or pipes (the flag belongs to the shared open
 * file): it gets one end of a socket pair for each, and podvmctl relays.
 */
typedef struct {
    GMainLoop *loop;
    guint pending; /* the call and the two outputs */
    int exit_code;
    GError *error;
} ExecState;

static void
exec_state_done(ExecState *state)
{
    if (--state->pending == 0)
        g_main_loop_quit(state->loop);
}

static void
exec_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ExecState *state = user_data;

    podvm_dbus_pod_call_exec_finish(PODVM_DBUS_POD(source), &state->exit_code, NULL, result,
                                    &state->error);
    exec_state_done(state);
}

static void
output_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    /* A failed write (stdout closed) ends the relay; the exit code still counts. */
    g_output_stream_splice_finish(G_OUTPUT_STREAM(source), result, NULL);
    exec_state_done(user_data);
}

static void
input_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_output_stream_splice_finish(G_OUTPUT_STREAM(source), result, NULL);
}

/* A socket pair: *@ours stays here, *@theirs goes to podvmd. */
static gboolean
make_pair(int *ours, int *theirs, GError **error)
{
    int pair[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        int saved_errno = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
                    _("cannot make a socket pair: %s"), g_strerror(saved_errno));
        return FALSE;
    }
    *ours = pair[0];
    *theirs = pair[1];
    return TRUE;
}

int
podvmctl_cmd_exec(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_app = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(GPtrArray) command = g_ptr_array_new();
    int option_argc = argc;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GInputStream) stdin_in = NULL;
    g_autoptr(GOutputStream) stdin_out = NULL;
    g_autoptr(GInputStream) stdout_in = NULL;
    g_autoptr(GOutputStream) stdout_out = NULL;
    g_autoptr(GInputStream) stderr_in = NULL;
    g_autoptr(GOutputStream) stderr_out = NULL;
    ExecState state = { .exit_code = -1 };
    int ours[3] = { -1, -1, -1 };
    int theirs[3];
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
    for (int i = 0; i < 3; i++) {
        if (!make_pair(&ours[i], &theirs[i], &error))
            return podvmctl_fail_message("%s", error->message);
        g_unix_fd_list_append(fds, theirs[i], &error);
        close(theirs[i]);
        if (error != NULL)
            return podvmctl_fail_message(_("cannot pass a file descriptor: %s"), error->message);
    }
    /* What podvmd writes to stdout and stderr, and our stdin to the command. */
    stdin_in = g_unix_input_stream_new(STDIN_FILENO, FALSE);
    stdin_out = g_unix_output_stream_new(ours[0], TRUE);
    stdout_in = g_unix_input_stream_new(ours[1], TRUE);
    stdout_out = g_unix_output_stream_new(STDOUT_FILENO, FALSE);
    stderr_in = g_unix_input_stream_new(ours[2], TRUE);
    stderr_out = g_unix_output_stream_new(STDERR_FILENO, FALSE);
    /* The command's stdin is only read from; its output only written to. */
    shutdown(ours[0], SHUT_RD);
    shutdown(ours[1], SHUT_WR);
    shutdown(ours[2], SHUT_WR);
    /* A command that ends before reading its input must not kill podvmctl. */
    signal(SIGPIPE, SIG_IGN);

    /* The command runs as long as it needs. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
    state.loop = loop;
    state.pending = 3;
    podvm_dbus_pod_call_exec(pod, opt_app != NULL ? opt_app : "",
                             (const char *const *)command->pdata, g_variant_new_handle(0),
                             g_variant_new_handle(1), g_variant_new_handle(2), fds, NULL, exec_cb,
                             &state);
    /*
     * The message holds the fds until it is sent; ours would keep podvmd's
     * ends of the output open, and their end of file would never come.
     */
    g_clear_object(&fds);
    g_output_stream_splice_async(stdin_out, stdin_in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                 G_PRIORITY_DEFAULT, cancellable, input_cb, NULL);
    g_output_stream_splice_async(stdout_out, stdout_in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE,
                                 G_PRIORITY_DEFAULT, NULL, output_cb, &state);
    g_output_stream_splice_async(stderr_out, stderr_in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE,
                                 G_PRIORITY_DEFAULT, NULL, output_cb, &state);
    g_main_loop_run(loop);
    g_cancellable_cancel(cancellable);
    exit_code = state.exit_code;
    if (state.error != NULL) {
        status = podvmctl_fail(ctl, state.error);
        g_clear_error(&state.error);
        return status;
    }
    if (exit_code < 0 || exit_code > EXIT_CODE_MAX)
        return podvmctl_fail_message(_("podvmd answered exit code %d"), exit_code);
    return exit_code;
}
