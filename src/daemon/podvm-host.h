/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Host facts, read from the kernel: the accelerator, the CPU count, and a
 * process's or thread's /proc/PID/stat. Reads of /proc never wait on a
 * disk, so they may be done in the main loop (libvirt does the same).
 */

/* -- accelerator ---------------------------------------------------------- */

typedef enum {
    PODVM_ACCEL_AUTO,
    PODVM_ACCEL_KVM,
    PODVM_ACCEL_TCG,
} PodvmAccel;

const char *podvm_accel_to_string(PodvmAccel accel);
gboolean podvm_accel_from_string(const char *text, PodvmAccel *out_accel, GError **error);

/*
 * accel=auto: KVM only when /dev/kvm opens, answers KVM_GET_API_VERSION
 * (12), and /proc/cpuinfo shows vmx or svm; otherwise TCG. @out_why gets
 * one sentence for the log ("using TCG: /proc/cpuinfo shows neither vmx nor svm").
 * @kvm_path and @cpuinfo_path are parameters so tests can point elsewhere.
 */
PodvmAccel podvm_accel_detect(const char *kvm_path, const char *cpuinfo_path, char **out_why);

/* -- CPUs and processes -------------------------------------------------- */

/* The CPUs online, at least 1. */
guint podvm_host_cpu_count(void);

/* What podvmd reads of /proc/PID/stat (or /proc/PID/task/TID/stat). */
typedef struct {
    char state;          /* field 3: R, S, D, Z, X, ... */
    guint64 utime;       /* field 14, clock ticks */
    guint64 stime;       /* field 15, clock ticks */
    guint64 start_ticks; /* field 22: when it started, clock ticks after boot */
    guint64 rss_pages;   /* field 24: resident set size, pages (0 when the line is short) */
} PodvmProcStat;

/*
 * Parses the text of a stat file; FALSE when it is not one. The command
 * name (field 2) may hold spaces and parentheses: fields count from its
 * last ')'.
 */
gboolean podvm_host_parse_proc_stat(const char *text, PodvmProcStat *out_stat);
/* Reads process @pid's stat, or its thread @tid's when @tid > 0; FALSE when it is gone. */
gboolean podvm_host_read_proc_stat(int pid, gint64 tid, PodvmProcStat *out_stat);
/* When @pid started (field 22), or 0 when it is gone. */
guint64 podvm_host_process_start_ticks(int pid);
/* CPU time (user + system) of thread @tid of process @pid in seconds; -1 when it is gone. */
double podvm_host_thread_cpu_seconds(int pid, gint64 tid);
/* Resident memory of process @pid in bytes (/proc/PID/stat's rss); -1 when it is gone. */
gint64 podvm_host_process_rss_bytes(int pid);

G_END_DECLS
