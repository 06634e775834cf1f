/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Each pod's QEMU in a cgroup of its own, with the spec's limits.
 *
 * Where systemd is PID 1 and answers on the system bus: a transient scope
 * "podvm-NAME.scope" under machine.slice (StartTransientUnit, as
 * systemd-machined does for libvirt), with MemoryMax and CPUQuota. Else,
 * on a cgroup v2 hierarchy podvmd may write: a directory "podvm-NAME" next
 * to podvmd's own cgroup's processes (memory.max and cpu.max where the
 * controllers are enabled). Else nothing, with one log line saying why.
 * Never fails the start: the outcome is logged.
 *
 * @memory_max: bytes, 0 for none; @cpu_millis: thousandths of a CPU, 0 for none.
 */
void podvm_cgroup_place(const char *pod_name, int pid, guint64 memory_max, guint64 cpu_millis);

/* Removes what podvm_cgroup_place() made for the pod once its QEMU is gone (v2 directory;
 * a systemd scope goes by itself). */
void podvm_cgroup_remove(const char *pod_name);

/*
 * Where a process is: the cgroup v2 path of /proc/PID/cgroup ("0::PATH"),
 * or NULL. For tests and logs.
 */
char *podvm_cgroup_of_pid(int pid);

G_END_DECLS
