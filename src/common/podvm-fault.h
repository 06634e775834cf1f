/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Fault injection, for tests only. Compiled in always, inert unless the
 * environment asks for it (the variables are read once):
 *
 *   PODVM_TEST_CRASH_AT=POINT   podvmd raise(SIGKILL)s itself at POINT
 *   PODVM_TEST_FAIL_AT=POINT    the state write at POINT fails as on a
 *                               full disk (ENOSPC)
 *   PODVM_TEST_DELAY_AT=POINT   the step at POINT waits one second
 *
 * POINT is one of the names passed to the functions below. Crash points:
 * create:after-mkdir, create:after-write, start:before-spawn,
 * start:after-spawn, start:after-record, delete:after-mark,
 * delete:after-release, attach:after-blockdev-add, detach:after-device-del,
 * net:before-add, net:after-add, net:after-release, incoming:after-spawn
 * (a migration's target QEMU runs, before it is told to wait),
 * incoming:after-completed (the target recorded "completed"),
 * incoming:before-cont (the finish recorded "activating", before `cont`).
 * Fail points (the state write they name): start:before-spawn (the launch
 * intent), start:after-spawn (the pid), delete:mark, net:before-add (a CNI
 * attachment owed), net:after-add (its result), incoming:record (a
 * migration target's record), incoming:completed, incoming:activating. Delay points:
 * reconcile:before-connect, net:before-del (each CNI DEL of a release).
 * Never set these in production: they exist so the tests can stop podvmd
 * at an exact step and check what a restart makes of it.
 */
void podvm_fault_crash_point(const char *point);
/* TRUE (with @error set) when PODVM_TEST_FAIL_AT names @point. */
gboolean podvm_fault_fail_point(const char *point, GError **error);

/*
 * TRUE when PODVM_TEST_FAKE names @point: podvmd fakes that step (logs what
 * it would do). Points: sriov:set-vf (a VF's MAC and VLAN are not set on its
 * PF by netlink: the PFs of a fake sysfs tree exist nowhere else).
 */
gboolean podvm_fault_fake_point(const char *point);

/* 1000 when PODVM_TEST_DELAY_AT names @point, else 0: how long to wait there (ms). */
guint podvm_fault_delay_ms(const char *point);

G_END_DECLS
