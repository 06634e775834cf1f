/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-host.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "podvm-error.h"

/* What KVM_GET_API_VERSION has answered since Linux 2.6.22. */
#define PODVM_KVM_API_VERSION 12

/* -- accelerator -------------------------------------------------------- */

const char *
podvm_accel_to_string(PodvmAccel accel)
{
    switch (accel) {
    case PODVM_ACCEL_AUTO:
        return "auto";
    case PODVM_ACCEL_KVM:
        return "kvm";
    case PODVM_ACCEL_TCG:
        return "tcg";
    }
    return "unknown";
}

gboolean
podvm_accel_from_string(const char *text, PodvmAccel *out_accel, GError **error)
{
    static const PodvmAccel accels[] = { PODVM_ACCEL_AUTO, PODVM_ACCEL_KVM, PODVM_ACCEL_TCG };

    for (gsize i = 0; text != NULL && i < G_N_ELEMENTS(accels); i++) {
        if (g_strcmp0(text, podvm_accel_to_string(accels[i])) == 0) {
            if (out_accel != NULL)
                *out_accel = accels[i];
            return TRUE;
        }
    }
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("unknown accelerator '%s': expected auto, kvm or tcg"), text != NULL ? text : "");
    return FALSE;
}

/* Whether a "flags" line of @cpuinfo lists @flag as a whole word. */
static gboolean
cpuinfo_has_flag(const char *cpuinfo, const char *flag)
{
    g_auto(GStrv) lines = g_strsplit(cpuinfo, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) words = NULL;
        const char *colon;

        if (!g_str_has_prefix(lines[i], "flags"))
            continue;
        colon = strchr(lines[i], ':');
        if (colon == NULL)
            continue;
        words = g_strsplit_set(colon + 1, " \t", -1);
        if (g_strv_contains((const char *const *)words, flag))
            return TRUE;
    }
    return FALSE;
}

/*
 * NULL when KVM is usable (then @out_flag is "vmx" or "svm"), else why not.
 * The CPU flags come first: these hosts have a /dev/kvm that answers, but
 * a guest started on it without vmx/svm hangs.
 */
static char *
kvm_unusable_reason(const char *kvm_path, const char *cpuinfo_path, const char **out_flag)
{
    g_autofree char *cpuinfo = NULL;
    g_autoptr(GError) error = NULL;
    int fd;
    int version;
    int saved_errno;

    if (!g_file_get_contents(cpuinfo_path, &cpuinfo, NULL, &error))
        return g_strdup_printf(_("cannot read %s: %s"), cpuinfo_path, error->message);
    if (cpuinfo_has_flag(cpuinfo, "vmx"))
        *out_flag = "vmx";
    else if (cpuinfo_has_flag(cpuinfo, "svm"))
        *out_flag = "svm";
    else
        return g_strdup_printf(_("%s shows neither vmx nor svm"), cpuinfo_path);

    fd = open(kvm_path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        saved_errno = errno;
        return g_strdup_printf(_("cannot open %s: %s"), kvm_path, g_strerror(saved_errno));
    }
    version = ioctl(fd, KVM_GET_API_VERSION, 0);
    saved_errno = errno;
    close(fd);
    if (version < 0) {
        return g_strdup_printf(_("%s does not answer KVM_GET_API_VERSION: %s"), kvm_path,
                               g_strerror(saved_errno));
    }
    if (version != PODVM_KVM_API_VERSION) {
        return g_strdup_printf(_("%s answers KVM API version %d, expected %d"), kvm_path, version,
                               PODVM_KVM_API_VERSION);
    }
    return NULL;
}

PodvmAccel
podvm_accel_detect(const char *kvm_path, const char *cpuinfo_path, char **out_why)
{
    const char *flag = NULL;
    g_autofree char *reason = kvm_unusable_reason(kvm_path, cpuinfo_path, &flag);
    PodvmAccel accel = reason == NULL ? PODVM_ACCEL_KVM : PODVM_ACCEL_TCG;

    if (out_why != NULL) {
        if (reason != NULL) {
            *out_why = g_strdup_printf(_("using TCG: %s"), reason);
        } else {
            *out_why = g_strdup_printf(_("using KVM: %s answers API version %d and %s shows %s"),
                                       kvm_path, PODVM_KVM_API_VERSION, cpuinfo_path, flag);
        }
    }
    return accel;
}

/* -- CPUs and processes -------------------------------------------------- */

guint
podvm_host_cpu_count(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    return cpus > 0 ? (guint)cpus : 1;
}

gboolean
podvm_host_parse_proc_stat(const char *text, PodvmProcStat *out_stat)
{
    g_auto(GStrv) fields = NULL;
    const char *after_name = text != NULL ? strrchr(text, ')') : NULL;

    if (after_name == NULL || after_name[1] != ' ' || after_name[2] == '\0')
        return FALSE;
    fields = g_strsplit(after_name + 2, " ", 23);
    /* fields[0] is field 3 (state); utime, stime, starttime, rss are fields 14, 15, 22, 24. */
    if (g_strv_length(fields) < 20)
        return FALSE;
    out_stat->state = fields[0][0];
    out_stat->utime = g_ascii_strtoull(fields[11], NULL, 10);
    out_stat->stime = g_ascii_strtoull(fields[12], NULL, 10);
    out_stat->start_ticks = g_ascii_strtoull(fields[19], NULL, 10);
    out_stat->rss_pages = g_strv_length(fields) > 21 ? g_ascii_strtoull(fields[21], NULL, 10) : 0;
    return TRUE;
}

gboolean
podvm_host_read_proc_stat(int pid, gint64 tid, PodvmProcStat *out_stat)
{
    g_autofree char *path =
        tid > 0 ? g_strdup_printf("/proc/%d/task/%" G_GINT64_FORMAT "/stat", pid, tid)
                : g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *contents = NULL;

    if (pid <= 0 || !g_file_get_contents(path, &contents, NULL, NULL))
        return FALSE;
    return podvm_host_parse_proc_stat(contents, out_stat);
}

guint64
podvm_host_process_start_ticks(int pid)
{
    PodvmProcStat stat;

    return podvm_host_read_proc_stat(pid, 0, &stat) ? stat.start_ticks : 0;
}

double
podvm_host_thread_cpu_seconds(int pid, gint64 tid)
{
    static long ticks_per_second;
    PodvmProcStat stat;

    if (ticks_per_second <= 0)
        ticks_per_second = sysconf(_SC_CLK_TCK);
    if (ticks_per_second <= 0 || !podvm_host_read_proc_stat(pid, tid, &stat))
        return -1;
    return (double)(stat.utime + stat.stime) / (double)ticks_per_second;
}

gint64
podvm_host_process_rss_bytes(int pid)
{
    static long page_size;
    PodvmProcStat stat;

    if (page_size <= 0)
        page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0 || !podvm_host_read_proc_stat(pid, 0, &stat))
        return -1;
    return (gint64)stat.rss_pages * page_size;
}
