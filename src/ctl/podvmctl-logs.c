/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl logs NAME [-f]: copies the pod's console log (an fd from
 * Pod.OpenLog) to stdout. With -f it then polls for growth every 200 ms,
 * starts again from the top when the log was truncated, and stops on
 * SIGINT/SIGTERM, or when the pod is down and its log complete (the rule
 * REST's log?follow=true ends by, podvm_log_follow_ends). A regular file is read with pread() so
 * that the file offset, which the fd may share with podvmd, is never moved.
 */
#include "podvm-build-config.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "podvm-phase.h"
#include "podvmctl-util.h"

#define FOLLOW_INTERVAL_MS 200

typedef struct {
    GMainLoop *loop;
    PodvmDBusPod *pod; /* its Phase property says when following ends */
    PodvmLogFollow follow;
    int fd;
    gboolean regular; /* a regular file: pread() at offset; else read() to EOF */
    off_t offset;
    gboolean eof;   /* read() reached the end (not a regular file) */
    gboolean ended; /* the pod is down and its log complete */
    GError *error;
} LogReader;

/* Copies what can be read now; FALSE with reader->error set on failure. */
static gboolean
log_copy(LogReader *reader)
{
    char buffer[65536];

    for (;;) {
        ssize_t n;

        if (reader->regular)
            n = pread(reader->fd, buffer, sizeof(buffer), reader->offset);
        else
            n = read(reader->fd, buffer, sizeof(buffer));
        if (n < 0) {
            int saved_errno = errno;

            if (saved_errno == EINTR)
                continue;
            if (saved_errno == EAGAIN)
                return TRUE;
            g_set_error(&reader->error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
                        _("cannot read the log: %s"), g_strerror(saved_errno));
            return FALSE;
        }
        if (n == 0) {
            reader->eof = !reader->regular;
            return TRUE;
        }
        if (!podvmctl_write_all(STDOUT_FILENO, buffer, n, &reader->error))
            return FALSE;
        reader->offset += n;
    }
}

static gboolean
follow_tick_cb(gpointer user_data)
{
    LogReader *reader = user_data;
    PodvmPhase phase = PODVM_PHASE_RUNNING; /* unknown: keep following */
    off_t before;

    if (podvm_log_follow_restarts(reader->fd, reader->offset))
        reader->offset = 0; /* rotated or truncated: the log starts again */
    before = reader->offset;
    /* The phase before the look: a QEMU that wrote its last words and went is seen to go next time.
     */
    podvm_phase_from_string(podvm_dbus_pod_get_phase(reader->pod), &phase);
    if (!log_copy(reader)) {
        g_main_loop_quit(reader->loop);
        return G_SOURCE_REMOVE;
    }
    if (podvm_log_follow_ends(&reader->follow, phase, reader->offset != before)) {
        reader->ended = TRUE;
        g_main_loop_quit(reader->loop);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
follow_fd_cb(int fd, GIOCondition condition, gpointer user_data)
{
    LogReader *reader = user_data;

    if (!log_copy(reader) || reader->eof) {
        g_main_loop_quit(reader->loop);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
follow_signal_cb(gpointer user_data)
{
    LogReader *reader = user_data;

    g_main_loop_quit(reader->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean
log_follow(LogReader *reader)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    guint sigint_id;
    guint sigterm_id;
    guint source_id;

    reader->loop = loop;
    sigint_id = g_unix_signal_add(SIGINT, follow_signal_cb, reader);
    sigterm_id = g_unix_signal_add(SIGTERM, follow_signal_cb, reader);
    if (reader->regular) {
        source_id = g_timeout_add(FOLLOW_INTERVAL_MS, follow_tick_cb, reader);
    } else {
        g_unix_set_fd_nonblocking(reader->fd, TRUE, NULL);
        source_id = g_unix_fd_add(reader->fd, G_IO_IN, follow_fd_cb, reader);
    }

    g_main_loop_run(loop);

    g_source_remove(sigint_id);
    g_source_remove(sigterm_id);
    /* The callbacks return G_SOURCE_REMOVE when they end the loop themselves. */
    if (reader->error == NULL && !reader->eof && !reader->ended)
        g_source_remove(source_id);
    reader->loop = NULL;
    return reader->error == NULL;
}

int
podvmctl_cmd_logs(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    LogReader reader = { .fd = -1, .follow = PODVM_LOG_FOLLOW_INIT };
    gboolean opt_follow = FALSE;
    gboolean ok;
    struct stat st;
    int status;
    const GOptionEntry entries[] = {
        { "follow", 'f', 0, G_OPTION_ARG_NONE, &opt_follow,
          N_("Keep printing what is added to the log (until Ctrl-c, or the pod is down)"), NULL },
        { NULL },
    };

    if (!podvmctl_parse_options("logs", "NAME", _("Print a pod's console log."), entries, 1, 1,
                                &argc, &argv, &status))
        return status;
    if (!podvmctl_check_name("logs", argv[1], &status))
        return status;

    pod = podvmctl_get_pod(ctl, argv[1], &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_pod_call_open_log_sync(pod, NULL, &handle, &fds, NULL, &error))
        return podvmctl_fail(ctl, error);
    reader.fd = podvmctl_steal_fd(handle, fds, "OpenLog", &error);
    if (reader.fd < 0)
        return podvmctl_fail(ctl, error);
    reader.regular = fstat(reader.fd, &st) == 0 && S_ISREG(st.st_mode);
    reader.pod = pod;

    ok = log_copy(&reader);
    if (ok && opt_follow)
        ok = log_follow(&reader);
    close(reader.fd);
    if (!ok) {
        status = podvmctl_fail_message("%s", reader.error->message);
        g_clear_error(&reader.error);
        return status;
    }
    return PODVMCTL_EXIT_OK;
}
