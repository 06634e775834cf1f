/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon fixture itself: a test that fails with a podvmd running ends
 * at once, its podvmd and dbus-daemon with it (they would otherwise hold
 * the test's output open until meson's timeout).
 */
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

static void
test_failure_fails_fast(void)
{
    gint64 start;

    if (g_test_subprocess()) {
        PodvmTestDaemon *daemon = podvm_test_daemon_new();

        if (daemon == NULL)
            exit(77);
        g_printerr("podvm-fixture: failing on purpose\n");
        g_assert_not_reached();
    }
    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    start = g_get_monotonic_time();
    /* The trap waits for the child's end and for its stdout and stderr to close. */
    g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
    g_test_message("the failed test and all it started ended in %.1f s",
                   (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC);
    g_assert_false(g_test_trap_reached_timeout());
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*podvm-fixture: failing on purpose*");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/fixture/failure-fails-fast", test_failure_fails_fast);
    return g_test_run();
}
