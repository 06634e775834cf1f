/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host facts: /proc/PID/stat read once, in one place. */
#include <sys/syscall.h>
#include <unistd.h>

#include "podvm-host.h"

static void
test_parse_proc_stat(void)
{
    /* A command name with spaces and parentheses; fields count from its last ')'. */
    const char *text = "4242 (qemu) (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                       "31 17 0 0 20 0 5 0 987654 1000000 200 18446744073709551615\n";
    PodvmProcStat stat = { 0 };

    g_assert_true(podvm_host_parse_proc_stat(text, &stat));
    g_assert_cmpint(stat.state, ==, 'S');
    g_assert_cmpuint(stat.utime, ==, 31);
    g_assert_cmpuint(stat.stime, ==, 17);
    g_assert_cmpuint(stat.start_ticks, ==, 987654);

    g_assert_false(podvm_host_parse_proc_stat("", &stat));
    g_assert_false(podvm_host_parse_proc_stat(NULL, &stat));
    g_assert_false(podvm_host_parse_proc_stat("1 (short) S 1 2 3", &stat));
    g_assert_false(podvm_host_parse_proc_stat("1 (no end", &stat));
}

static void
test_read_own_process(void)
{
    PodvmProcStat stat = { 0 };
    gint64 tid = syscall(SYS_gettid);

    g_assert_true(podvm_host_read_proc_stat(getpid(), 0, &stat));
    g_assert_cmpint(stat.state, ==, 'R');
    g_assert_cmpuint(stat.start_ticks, >, 0);
    g_assert_cmpuint(podvm_host_process_start_ticks(getpid()), ==, stat.start_ticks);
    g_assert_cmpfloat(podvm_host_thread_cpu_seconds(getpid(), tid), >=, 0);

    /* Gone (or never there): 0 and -1, never an error to log. */
    g_assert_false(podvm_host_read_proc_stat(-1, 0, &stat));
    g_assert_cmpuint(podvm_host_process_start_ticks(0), ==, 0);
    g_assert_cmpfloat(podvm_host_thread_cpu_seconds(getpid(), G_MAXINT32), ==, -1);
}

static void
test_cpu_count(void)
{
    g_assert_cmpuint(podvm_host_cpu_count(), >=, 1);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/host/parse-proc-stat", test_parse_proc_stat);
    g_test_add_func("/podvm/host/read-own-process", test_read_own_process);
    g_test_add_func("/podvm/host/cpu-count", test_cpu_count);
    return g_test_run();
}
