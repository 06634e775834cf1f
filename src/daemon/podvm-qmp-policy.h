/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * What the QMP passthrough (REST POST /v1/pods/NAME/qmp, D-Bus Pod.Qmp,
 * podvmctl qmp) lets through to a pod's QEMU. QEMU runs as root and many
 * of its commands open, create or write host files, listen on host
 * sockets or start processes, so the passthrough is a policy, decided
 * here and only here (the pod's passthrough entry point asks it):
 *
 * - read-only (the default, `[qmp] passthrough=read-only`): only the
 *   query commands of a fixed list (podvm_qmp_policy_read_only_commands());
 * - expert (`[qmp] passthrough=expert`): any command except those that
 *   name host paths, open host resources or spawn things, which are
 *   refused in every mode (human-monitor-command, pmemsave, migrate,
 *   chardev-add, netdev_add, object-add, every x-* and xen-* command, ...);
 *   blockdev-add only of drivers that open nothing on the host and
 *   device_add only of devices that do not reach host devices, and neither
 *   with an argument that is a path.
 */
typedef enum {
    PODVM_QMP_PASSTHROUGH_READ_ONLY,
    PODVM_QMP_PASSTHROUGH_EXPERT,
} PodvmQmpPassthrough;

/* "read-only" or "expert". */
const char *podvm_qmp_passthrough_to_string(PodvmQmpPassthrough mode);
gboolean podvm_qmp_passthrough_from_string(const char *text, PodvmQmpPassthrough *out_mode,
                                           GError **error);

/*
 * TRUE when @execute with @arguments (may be NULL) may go to QEMU in
 * @mode; otherwise FALSE with PODVM_ERROR_PERMISSION_DENIED naming the
 * command and, where expert mode would allow it, how to enable it.
 */
gboolean podvm_qmp_policy_check(PodvmQmpPassthrough mode, const char *execute,
                                JsonObject *arguments, GError **error);

/* The commands read-only mode allows, NULL-terminated (QEMU's spelling). */
const char *const *podvm_qmp_policy_read_only_commands(void);

G_END_DECLS
