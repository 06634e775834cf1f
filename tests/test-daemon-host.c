/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host facts: the accelerator, and /proc/PID/stat read once, in one place. */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-host.h"
#include "podvm-test-util.h"

/* -- accelerator -------------------------------------------------------- */

static void
test_accel_strings(void)
{
    g_autoptr(GError) error = NULL;
    PodvmAccel accel = PODVM_ACCEL_TCG;

    g_assert_cmpstr(podvm_accel_to_string(PODVM_ACCEL_AUTO), ==, "auto");
    g_assert_cmpstr(podvm_accel_to_string(PODVM_ACCEL_KVM), ==, "kvm");
    g_assert_cmpstr(podvm_accel_to_string(PODVM_ACCEL_TCG), ==, "tcg");
    g_assert_true(podvm_accel_from_string("kvm", &accel, &error));
    g_assert_no_error(error);
    g_assert_cmpint(accel, ==, PODVM_ACCEL_KVM);
    g_assert_true(podvm_accel_from_string("auto", &accel, &error));
    g_assert_cmpint(accel, ==, PODVM_ACCEL_AUTO);
    g_assert_true(podvm_accel_from_string("tcg", &accel, &error));
    g_assert_cmpint(accel, ==, PODVM_ACCEL_TCG);

    g_assert_false(podvm_accel_from_string("KVM ", &accel, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "expected auto, kvm or tcg"));
    g_assert_cmpint(accel, ==, PODVM_ACCEL_TCG);
    g_clear_error(&error);
    g_assert_false(podvm_accel_from_string(NULL, &accel, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
}

static char *
write_cpuinfo(const char *dir, const char *name, const char *flags)
{
    g_autoptr(GError) error = NULL;
    char *path = g_build_filename(dir, name, NULL);
    g_autofree char *text = g_strdup_printf("processor\t: 0\n"
                                            "vendor_id\t: GenuineIntel\n"
                                            "model name\t: Fake CPU with flags in its name vmx\n"
                                            "flags\t\t: %s\n"
                                            "bugs\t\t: spectre_v1\n\n"
                                            "processor\t: 1\n"
                                            "flags\t\t: %s\n",
                                            flags, flags);

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
    return path;
}

/* Whether @path opens and answers KVM_GET_API_VERSION = 12 (the real /dev/kvm). */
static gboolean
kvm_answers(const char *path)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *cpuinfo = write_cpuinfo(dir, "vmx", "fpu vmx sse2");
    g_autofree char *why = NULL;
    PodvmAccel accel = podvm_accel_detect(path, cpuinfo, &why);

    podvm_test_rmrf(dir);
    return accel == PODVM_ACCEL_KVM;
}

static void
test_accel_detect(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *none = write_cpuinfo(dir, "none", "fpu vme de pse tsc msr pae vmxe svm_lock");
    g_autofree char *vmx = write_cpuinfo(dir, "vmx", "fpu vme vmx sse2");
    g_autofree char *svm = write_cpuinfo(dir, "svm", "fpu svm\tsse2");
    g_autofree char *missing_kvm = g_build_filename(dir, "no-such-kvm", NULL);
    g_autofree char *missing_cpuinfo = g_build_filename(dir, "no-such-cpuinfo", NULL);
    g_autofree char *why = NULL;

    /* No vmx/svm flag (vmxe and svm_lock are not it): TCG, whatever /dev/kvm says. */
    g_assert_cmpint(podvm_accel_detect("/dev/kvm", none, &why), ==, PODVM_ACCEL_TCG);
    g_assert_true(g_str_has_prefix(why, "using TCG: "));
    g_assert_nonnull(strstr(why, "shows neither vmx nor svm"));
    g_clear_pointer(&why, g_free);

    /* Flags present, but no KVM device. */
    g_assert_cmpint(podvm_accel_detect(missing_kvm, vmx, &why), ==, PODVM_ACCEL_TCG);
    g_assert_nonnull(strstr(why, "cannot open"));
    g_assert_nonnull(strstr(why, missing_kvm));
    g_clear_pointer(&why, g_free);

    /* Something that opens but is not KVM: the ioctl fails. */
    g_assert_cmpint(podvm_accel_detect(svm, svm, &why), ==, PODVM_ACCEL_TCG);
    g_assert_nonnull(strstr(why, "does not answer KVM_GET_API_VERSION"));
    g_clear_pointer(&why, g_free);

    g_assert_cmpint(podvm_accel_detect(missing_kvm, missing_cpuinfo, &why), ==, PODVM_ACCEL_TCG);
    g_assert_nonnull(strstr(why, "cannot read"));
    g_clear_pointer(&why, g_free);

    /* NULL out_why is fine. */
    g_assert_cmpint(podvm_accel_detect(missing_kvm, none, NULL), ==, PODVM_ACCEL_TCG);

    if (kvm_answers("/dev/kvm")) {
        g_assert_cmpint(podvm_accel_detect("/dev/kvm", svm, &why), ==, PODVM_ACCEL_KVM);
        g_assert_true(g_str_has_prefix(why, "using KVM: "));
        g_assert_nonnull(strstr(why, "svm"));
    } else {
        g_test_message("no usable /dev/kvm here: the KVM answer is not exercised");
    }
    podvm_test_rmrf(dir);
}

/* -- CPUs and processes -------------------------------------------------- */

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
    g_assert_cmpuint(stat.rss_pages, ==, 200);

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
    /* This process is resident: a few pages at least. */
    g_assert_cmpint(podvm_host_process_rss_bytes(getpid()), >, 4096);

    /* Gone (or never there): 0 and -1, never an error to log. */
    g_assert_false(podvm_host_read_proc_stat(-1, 0, &stat));
    g_assert_cmpuint(podvm_host_process_start_ticks(0), ==, 0);
    g_assert_cmpfloat(podvm_host_thread_cpu_seconds(getpid(), G_MAXINT32), ==, -1);
    g_assert_cmpint(podvm_host_process_rss_bytes(-1), ==, -1);
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
    g_test_add_func("/podvm/daemon/accel/strings", test_accel_strings);
    g_test_add_func("/podvm/daemon/accel/detect", test_accel_detect);
    g_test_add_func("/podvm/host/parse-proc-stat", test_parse_proc_stat);
    g_test_add_func("/podvm/host/read-own-process", test_read_own_process);
    g_test_add_func("/podvm/host/cpu-count", test_cpu_count);
    return g_test_run();
}
