/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Pods as machines of systemd-machined (`machinectl list` shows them, as
 * libvirt's guests): each pod's QEMU registered as machine "podvm-NAME",
 * class vm, service "podvm", its id the pod's uid, its leader QEMU. The
 * machine goes when its leader dies (machined watches the unit). Only on
 * the system bus (podvmd.c); failures are logged, never fatal.
 */
#define PODVM_MACHINED_SERVICE "podvm"

/* "podvm-NAME". */
char *podvm_machined_machine_name(const char *pod_name);

/*
 * Registers @leader on @bus (NULL: the system bus). With @wait_scope, a
 * leader still in podvmd's own cgroup is waited for (a few seconds) until
 * it moved into its scope (podvm-cgroup.c), and not registered if it never
 * does: machined takes the leader's unit for the machine's, and
 * terminating that machine would end podvmd. Completes with whether it
 * worked; the error says why not (G_DBUS_ERROR_SERVICE_UNKNOWN or
 * G_DBUS_ERROR_NAME_HAS_NO_OWNER: machined is not running).
 */
void podvm_machined_register_async(GDBusConnection *bus, const char *pod_name, const char *uid,
                                   int leader, gboolean wait_scope, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_machined_register_finish(GAsyncResult *result, GError **error);

/* Registers as above on the system bus and logs the outcome (a warning when it failed). */
void podvm_machined_register_pod(const char *pod_name, const char *uid, int leader);

G_END_DECLS
