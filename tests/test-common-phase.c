/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib/gstdio.h>
#include <unistd.h>

#include "podvm-phase.h"

static void
test_names(void)
{
    for (int phase = 0; phase < PODVM_N_PHASES; phase++) {
        PodvmPhase back = PODVM_PHASE_FAILED;

        g_assert_true(podvm_phase_from_string(podvm_phase_to_string(phase), &back));
        g_assert_cmpint(back, ==, phase);
    }
    g_assert_cmpstr(podvm_phase_to_string(PODVM_PHASE_MIGRATING), ==, "Migrating");
    g_assert_cmpstr(podvm_phase_to_string(PODVM_PHASE_INCOMING), ==, "Incoming");
    {
        PodvmPhase phase;

        g_assert_false(podvm_phase_from_string("running", &phase));
        g_assert_false(podvm_phase_from_string("", &phase));
        g_assert_false(podvm_phase_from_string(NULL, &phase));
    }
}

static void
test_has_qemu(void)
{
    const char *with[] = { "Starting", "Running", "Paused", "Stopping", "Migrating", "Incoming" };
    const char *without[] = { "Pending", "Stopped", "Succeeded", "Failed", "Unknown", "" };

    for (guint i = 0; i < G_N_ELEMENTS(with); i++)
        g_assert_true(podvm_phase_name_has_qemu(with[i]));
    for (guint i = 0; i < G_N_ELEMENTS(without); i++)
        g_assert_false(podvm_phase_name_has_qemu(without[i]));
    g_assert_false(podvm_phase_name_has_qemu(NULL));
    g_assert_true(podvm_phase_has_qemu(PODVM_PHASE_RUNNING));
    g_assert_false(podvm_phase_has_qemu(PODVM_PHASE_PENDING));
}

/* The rule a followed log ends by: two quiet looks in a row while the pod is down. */
static void
test_log_follow(void)
{
    PodvmLogFollow follow = PODVM_LOG_FOLLOW_INIT;

    /* Up: never ends, however quiet. */
    for (int i = 0; i < 5; i++)
        g_assert_false(podvm_log_follow_ends(&follow, PODVM_PHASE_RUNNING, FALSE));
    g_assert_false(podvm_log_follow_ends(&follow, PODVM_PHASE_STOPPING, FALSE));
    /* Down: the first quiet look may have raced QEMU's last words. */
    g_assert_false(podvm_log_follow_ends(&follow, PODVM_PHASE_STOPPED, FALSE));
    /* Something new: counting starts again. */
    g_assert_false(podvm_log_follow_ends(&follow, PODVM_PHASE_STOPPED, TRUE));
    g_assert_false(podvm_log_follow_ends(&follow, PODVM_PHASE_FAILED, FALSE));
    g_assert_true(podvm_log_follow_ends(&follow, PODVM_PHASE_FAILED, FALSE));
}

/* A followed log starts again when its file is shorter than what was read of it. */
static void
test_log_restarts(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    int fds[2];
    int fd = g_file_open_tmp("podvm-log-XXXXXX", &path, &error);

    g_assert_no_error(error);
    g_assert_cmpint(write(fd, "0123456789", 10), ==, 10);
    g_assert_false(podvm_log_follow_restarts(fd, 0));
    g_assert_false(podvm_log_follow_restarts(fd, 10));
    g_assert_true(podvm_log_follow_restarts(fd, 11));
    /* Rotated in place: shorter than what was read. */
    g_assert_cmpint(ftruncate(fd, 4), ==, 0);
    g_assert_true(podvm_log_follow_restarts(fd, 10));
    g_assert_false(podvm_log_follow_restarts(fd, 4));
    close(fd);
    g_unlink(path);
    /* Not a file: never. */
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_false(podvm_log_follow_restarts(fds[0], 10));
    close(fds[0]);
    close(fds[1]);
    g_assert_false(podvm_log_follow_restarts(-1, 10));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/phase/names", test_names);
    g_test_add_func("/podvm/common/phase/has-qemu", test_has_qemu);
    g_test_add_func("/podvm/common/phase/log-follow", test_log_follow);
    g_test_add_func("/podvm/common/phase/log-restarts", test_log_restarts);
    return g_test_run();
}
