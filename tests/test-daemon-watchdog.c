/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The systemd watchdog (RELIABILITY case 5): podvmd started as systemd
 * would start it with WatchdogSec= ($NOTIFY_SOCKET, $WATCHDOG_USEC) sends
 * WATCHDOG=1 from its main loop, often enough, and only while the loop
 * runs. The test plays systemd's part: it binds the datagram socket.
 */
#include <gio/gio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

typedef PodvmTestDgram NotifySocket;

static void
notify_socket_open(NotifySocket *n)
{
    podvm_test_dgram_open(n, "notify");
}

static void
notify_socket_close(NotifySocket *n)
{
    podvm_test_dgram_close(n);
}

static char *
next_message(NotifySocket *n, int timeout_ms)
{
    return podvm_test_dgram_next_text(n, timeout_ms);
}

/* Counts the datagrams equal to @what that arrive within @ms (all are read). */
static guint
count_messages(NotifySocket *n, const char *what, gint64 ms)
{
    gint64 deadline = g_get_monotonic_time() + ms * 1000;
    guint count = 0;

    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        g_autofree char *message = NULL;

        if (left <= 0)
            break;
        message = next_message(n, (int)left);
        if (message != NULL && strcmp(message, what) == 0)
            count++;
    }
    return count;
}

static PodvmTestDaemon *
daemon_with_watchdog(NotifySocket *n, const char *watchdog_pid)
{
    PodvmTestDaemon *daemon;

    /* podvmd inherits the test's environment, as it would systemd's. */
    g_setenv("NOTIFY_SOCKET", n->path, TRUE);
    g_setenv("WATCHDOG_USEC", "200000", TRUE);
    if (watchdog_pid != NULL)
        g_setenv("WATCHDOG_PID", watchdog_pid, TRUE);
    daemon = podvm_test_daemon_new();
    g_unsetenv("NOTIFY_SOCKET");
    g_unsetenv("WATCHDOG_USEC");
    g_unsetenv("WATCHDOG_PID");
    return daemon;
}

static void
test_pings(void)
{
    NotifySocket n = { 0 };
    PodvmTestDaemon *daemon;
    gint64 deadline;
    gboolean ready = FALSE;
    guint pings;
    pid_t pid;

    notify_socket_open(&n);
    daemon = daemon_with_watchdog(&n, NULL);
    if (daemon == NULL) {
        notify_socket_close(&n);
        return;
    }
    pid = (pid_t)g_ascii_strtoll(g_subprocess_get_identifier(daemon->process), NULL, 10);

    /* READY=1 once the bus name is owned. */
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (!ready && g_get_monotonic_time() < deadline) {
        g_autofree char *message = next_message(&n, 1000);
        ready = message != NULL && strcmp(message, "READY=1") == 0;
    }
    g_assert_true(ready);

    /* Then WATCHDOG=1 every 100 ms (half of WATCHDOG_USEC): about 10 a second. */
    pings = count_messages(&n, "WATCHDOG=1", 1000);
    g_test_message("%u pings in 1 s after READY=1", pings);
    g_assert_cmpuint(pings, >=, 5);
    g_assert_cmpuint(pings, <=, 15);

    /* A process that does not run does not ping: the pings come from the live loop. */
    g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
    count_messages(&n, "WATCHDOG=1", 150); /* what was sent before the stop took */
    g_assert_cmpuint(count_messages(&n, "WATCHDOG=1", 600), ==, 0);
    g_assert_cmpint(kill(pid, SIGCONT), ==, 0);
    g_assert_cmpuint(count_messages(&n, "WATCHDOG=1", 600), >=, 3);

    podvm_test_daemon_free(daemon);
    notify_socket_close(&n);
}

/* WATCHDOG_PID names another process: not podvmd's watchdog, no pings. */
static void
test_other_pid(void)
{
    NotifySocket n = { 0 };
    PodvmTestDaemon *daemon;
    gint64 deadline;
    gboolean ready = FALSE;

    notify_socket_open(&n);
    daemon = daemon_with_watchdog(&n, "1");
    if (daemon == NULL) {
        notify_socket_close(&n);
        return;
    }
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (!ready && g_get_monotonic_time() < deadline) {
        g_autofree char *message = next_message(&n, 1000);
        g_assert_cmpstr(message, !=, "WATCHDOG=1");
        ready = message != NULL && strcmp(message, "READY=1") == 0;
    }
    g_assert_true(ready);
    g_assert_cmpuint(count_messages(&n, "WATCHDOG=1", 600), ==, 0);
    podvm_test_daemon_free(daemon);
    notify_socket_close(&n);
}

/*
 * A child that exits before reading its pipe sends podvmd SIGPIPE: it must
 * cost an EPIPE, never the daemon. podvmd ignores the signal.
 */
static void
test_sigpipe_ignored(void)
{
    g_autoptr(GError) error = NULL;
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autofree char *out = NULL;
    int pid;

    if (daemon == NULL)
        return;
    pid = atoi(g_subprocess_get_identifier(daemon->process));
    g_assert_cmpint(kill(pid, SIGPIPE), ==, 0);
    g_usleep(200 * 1000);
    g_assert_cmpint(podvm_test_ctl(daemon, &out, NULL, "list", NULL), ==, 0);
    g_assert_null(g_subprocess_get_identifier(daemon->process) == NULL ? "exited" : NULL);
    podvm_test_daemon_free(daemon);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/watchdog/pings", test_pings);
    g_test_add_func("/podvm/daemon/watchdog/other-pid", test_other_pid);
    g_test_add_func("/podvm/daemon/sigpipe-ignored", test_sigpipe_ignored);
    return g_test_run();
}
