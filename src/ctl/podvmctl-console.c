/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl console NAME: joins the terminal to the pod's serial console.
 * stdin goes to the console socket, the socket goes to stdout, both driven
 * by the main loop. Ctrl-a x or Ctrl-] leaves; Ctrl-a Ctrl-a sends one
 * Ctrl-a. When stdin is a terminal it is put in raw mode (so Ctrl-c reaches
 * the guest) and restored on the way out, signals included.
 */
#include "podvm-build-config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "podvmctl-util.h"

#define KEY_CTRL_A 0x01
#define KEY_CTRL_BRACKET 0x1d

typedef enum {
    CONSOLE_END_NONE,
    CONSOLE_END_ESCAPE,     /* the user typed the escape sequence */
    CONSOLE_END_STDIN_EOF,  /* stdin ended */
    CONSOLE_END_SOCKET_EOF, /* podvmd closed the console */
    CONSOLE_END_SIGNAL,     /* SIGINT, SIGTERM or SIGHUP */
    CONSOLE_END_STDOUT,     /* stdout went away */
    CONSOLE_END_ERROR,      /* see error */
} ConsoleEnd;

typedef struct {
    GMainLoop *loop;
    int sock;
    guint stdin_id;
    guint sock_in_id;
    guint sock_out_id;
    GByteArray *to_sock; /* input not yet written to the socket */
    gboolean ctrl_a;     /* the last input byte was a Ctrl-a */
    gboolean stdin_eof;
    gboolean until_closed; /* stdin's end is not the console's (run: until the pod ends) */
    ConsoleEnd end;
    GError *error;
} Console;

static gboolean stdin_cb(int fd, GIOCondition condition, gpointer user_data);

static void
console_finish(Console *console, ConsoleEnd end)
{
    if (console->end == CONSOLE_END_NONE)
        console->end = end;
    g_main_loop_quit(console->loop);
}

static void
console_fail(Console *console, const char *what, int errnum)
{
    if (console->error == NULL)
        g_set_error(&console->error, G_IO_ERROR, g_io_error_from_errno(errnum), "%s: %s", what,
                    g_strerror(errnum));
    console_finish(console, CONSOLE_END_ERROR);
}

static gboolean sock_out_cb(int fd, GIOCondition condition, gpointer user_data);

/* Writes what it can of to_sock; watches for POLLOUT (and holds stdin) for the rest. */
static void
console_flush(Console *console)
{
    while (console->to_sock->len > 0) {
        ssize_t n = write(console->sock, console->to_sock->data, console->to_sock->len);

        if (n < 0) {
            int saved_errno = errno;

            if (saved_errno == EINTR)
                continue;
            if (saved_errno == EAGAIN)
                break;
            if (saved_errno == EPIPE || saved_errno == ECONNRESET)
                console_finish(console, CONSOLE_END_SOCKET_EOF);
            else
                console_fail(console, _("cannot write to the console"), saved_errno);
            return;
        }
        g_byte_array_remove_range(console->to_sock, 0, n);
    }

    if (console->to_sock->len > 0) {
        if (console->sock_out_id == 0)
            console->sock_out_id = g_unix_fd_add(console->sock, G_IO_OUT, sock_out_cb, console);
        g_clear_handle_id(&console->stdin_id, g_source_remove);
        return;
    }

    g_clear_handle_id(&console->sock_out_id, g_source_remove);
    if (console->end != CONSOLE_END_NONE)
        return;
    if (console->stdin_eof) {
        if (!console->until_closed)
            console_finish(console, CONSOLE_END_STDIN_EOF);
    } else if (console->stdin_id == 0)
        console->stdin_id = g_unix_fd_add(STDIN_FILENO, G_IO_IN, stdin_cb, console);
}

static gboolean
sock_out_cb(int fd, GIOCondition condition, gpointer user_data)
{
    Console *console = user_data;

    console->sock_out_id = 0;
    console_flush(console);
    return G_SOURCE_REMOVE;
}

/* Forwards input to to_sock minus the escape sequences; TRUE when the user leaves. */
static gboolean
console_filter_input(Console *console, const guint8 *data, gsize length)
{
    for (gsize i = 0; i < length; i++) {
        guint8 byte = data[i];

        if (console->ctrl_a) {
            console->ctrl_a = FALSE;
            if (byte == 'x')
                return TRUE;
            g_byte_array_append(console->to_sock, (const guint8[]){ KEY_CTRL_A }, 1);
            if (byte == KEY_CTRL_A)
                continue;
        }
        if (byte == KEY_CTRL_BRACKET)
            return TRUE;
        if (byte == KEY_CTRL_A) {
            console->ctrl_a = TRUE;
            continue;
        }
        g_byte_array_append(console->to_sock, &byte, 1);
    }
    return FALSE;
}

static gboolean
stdin_cb(int fd, GIOCondition condition, gpointer user_data)
{
    Console *console = user_data;
    guint8 buffer[4096];
    ssize_t n = read(fd, buffer, sizeof(buffer));

    if (n < 0) {
        int saved_errno = errno;

        if (saved_errno == EINTR || saved_errno == EAGAIN)
            return G_SOURCE_CONTINUE;
        console->stdin_id = 0;
        console_fail(console, _("cannot read stdin"), saved_errno);
        return G_SOURCE_REMOVE;
    }
    if (n == 0) {
        console->stdin_id = 0;
        console->stdin_eof = TRUE;
        if (console->ctrl_a) {
            console->ctrl_a = FALSE;
            g_byte_array_append(console->to_sock, (const guint8[]){ KEY_CTRL_A }, 1);
        }
        console_flush(console);
        return G_SOURCE_REMOVE;
    }
    if (console_filter_input(console, buffer, n)) {
        console->stdin_id = 0;
        console_finish(console, CONSOLE_END_ESCAPE);
        /* Best effort for what came before the escape. */
        console_flush(console);
        return G_SOURCE_REMOVE;
    }
    /* console_flush() may remove this source while the socket is full. */
    if (console->to_sock->len > 0) {
        guint id = console->stdin_id;

        console_flush(console);
        return console->stdin_id == id ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
sock_in_cb(int fd, GIOCondition condition, gpointer user_data)
{
    Console *console = user_data;
    guint8 buffer[65536];
    g_autoptr(GError) error = NULL;
    ssize_t n = read(fd, buffer, sizeof(buffer));

    if (n < 0) {
        int saved_errno = errno;

        if (saved_errno == EINTR || saved_errno == EAGAIN)
            return G_SOURCE_CONTINUE;
        console->sock_in_id = 0;
        if (saved_errno == ECONNRESET)
            console_finish(console, CONSOLE_END_SOCKET_EOF);
        else
            console_fail(console, _("cannot read the console"), saved_errno);
        return G_SOURCE_REMOVE;
    }
    if (n == 0) {
        console->sock_in_id = 0;
        console_finish(console, CONSOLE_END_SOCKET_EOF);
        return G_SOURCE_REMOVE;
    }
    if (!podvmctl_write_all(STDOUT_FILENO, buffer, n, &error)) {
        console->sock_in_id = 0;
        console_finish(console, CONSOLE_END_STDOUT);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
signal_cb(gpointer user_data)
{
    console_finish(user_data, CONSOLE_END_SIGNAL);
    return G_SOURCE_CONTINUE;
}

/* The pod's phase as podvmd sees it now, or NULL when podvmd does not answer. */
static char *
current_phase(PodvmDBusPod *pod)
{
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) value = NULL;

    reply = g_dbus_connection_call_sync(
        g_dbus_proxy_get_connection(G_DBUS_PROXY(pod)), g_dbus_proxy_get_name(G_DBUS_PROXY(pod)),
        g_dbus_proxy_get_object_path(G_DBUS_PROXY(pod)), "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", "io.podvm.PodVM1.Pod", "Phase"), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NO_AUTO_START, 2000, NULL, NULL);
    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(v)", &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
        return NULL;
    return g_variant_dup_string(value, NULL);
}

int
podvmctl_console_attach(PodvmCtl *ctl, PodvmDBusPod *pod, const char *name, gboolean replay)
{
    return podvmctl_console_attach_full(ctl, pod, name, replay, NULL);
}

int
podvmctl_console_attach_full(PodvmCtl *ctl, PodvmDBusPod *pod, const char *name, gboolean replay,
                             gboolean *out_closed)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(GByteArray) to_sock = g_byte_array_new();
    g_auto(GVariantDict) options = G_VARIANT_DICT_INIT(NULL);
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    Console console = {
        .loop = loop, .to_sock = to_sock, .sock = -1, .until_closed = out_closed != NULL
    };
    struct termios saved_termios;
    gboolean raw = FALSE;
    guint signal_ids[3];
    const int signals[3] = { SIGINT, SIGTERM, SIGHUP };
    int status = PODVMCTL_EXIT_OK;

    g_variant_dict_insert(&options, "replay", "b", replay);
    if (!podvm_dbus_pod_call_open_console_sync(pod, g_variant_dict_end(&options), NULL, &handle,
                                               &fds, NULL, &error))
        return podvmctl_fail(ctl, error);
    console.sock = podvmctl_steal_fd(handle, fds, "OpenConsole", &error);
    if (console.sock < 0)
        return podvmctl_fail(ctl, error);
    if (!g_unix_set_fd_nonblocking(console.sock, TRUE, &error)) {
        close(console.sock);
        return podvmctl_fail_message(_("cannot set up the console: %s"), error->message);
    }

    /* A console socket closed under us is an end, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);

    g_printerr(_("Connected to pod %s; leave with Ctrl-a x or Ctrl-]\n"), name);

    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
        struct termios raw_termios = saved_termios;

        cfmakeraw(&raw_termios);
        raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw_termios) == 0;
    }

    for (gsize i = 0; i < G_N_ELEMENTS(signals); i++)
        signal_ids[i] = g_unix_signal_add(signals[i], signal_cb, &console);
    console.stdin_id = g_unix_fd_add(STDIN_FILENO, G_IO_IN, stdin_cb, &console);
    console.sock_in_id = g_unix_fd_add(console.sock, G_IO_IN, sock_in_cb, &console);

    g_main_loop_run(loop);

    g_clear_handle_id(&console.stdin_id, g_source_remove);
    g_clear_handle_id(&console.sock_in_id, g_source_remove);
    g_clear_handle_id(&console.sock_out_id, g_source_remove);
    for (gsize i = 0; i < G_N_ELEMENTS(signals); i++)
        g_source_remove(signal_ids[i]);
    close(console.sock);

    if (raw) {
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
        g_printerr("\n");
    }

    switch (console.end) {
    case CONSOLE_END_ESCAPE:
        g_printerr(_("Left the console of pod %s; the pod keeps running\n"), name);
        break;
    case CONSOLE_END_SOCKET_EOF: {
        g_autofree char *phase = NULL;

        if (out_closed != NULL) {
            /* The caller tells how the pod ended. */
            *out_closed = TRUE;
            break;
        }
        phase = current_phase(pod);
        if (phase != NULL)
            g_printerr(_("The console of pod %s closed; the pod is %s\n"), name, phase);
        else
            g_printerr(_("The console of pod %s closed; podvmd went away\n"), name);
        break;
    }
    case CONSOLE_END_ERROR:
        status = podvmctl_fail_message("%s", console.error->message);
        break;
    case CONSOLE_END_NONE:
    case CONSOLE_END_STDIN_EOF:
    case CONSOLE_END_SIGNAL:
    case CONSOLE_END_STDOUT:
        break;
    }
    g_clear_error(&console.error);
    return status;
}

int
podvmctl_cmd_console(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    gboolean opt_no_replay = FALSE;
    int status;
    const GOptionEntry entries[] = {
        { "no-replay", 0, 0, G_OPTION_ARG_NONE, &opt_no_replay,
          N_("Do not print the console's recent output first"), NULL },
        { NULL },
    };

    if (!podvmctl_parse_options("console", "NAME",
                                _("Attach to a pod's serial console.\n"
                                  "Leave with Ctrl-a x or Ctrl-]; Ctrl-a Ctrl-a sends Ctrl-a. "
                                  "The pod keeps running."),
                                entries, 1, 1, &argc, &argv, &status))
        return status;
    if (!podvmctl_check_name("console", argv[1], &status))
        return status;

    pod = podvmctl_get_pod(ctl, argv[1], &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    return podvmctl_console_attach(ctl, pod, argv[1], !opt_no_replay);
}
