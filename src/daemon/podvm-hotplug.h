/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What every hotplug operation of a pod shares (disks now, NICs next):
 *
 * - The placement ledger: where each hotplugged device sits in the running
 *   QEMU, the spare root port it took (index of podvm-rpN) and its SCSI
 *   LUN, -1 for none. Kept in the pod's state file, so a detach after a
 *   daemon restart finds them; forgotten when QEMU goes. Keys are the
 *   device's name in the spec (a disk name: a DNS-1123 label), or a key of
 *   the caller's that is no such label (":scsi-controller"); a NIC would
 *   take keys of its own form ("nic:NAME") so names of different kinds
 *   never meet.
 *
 * - The removal of a device: device_del, then waiting for the guest to let
 *   go (QEMU's DEVICE_DELETED) for a limited time; a removal that timed out
 *   stays pending, and its late DEVICE_DELETED finishes it.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-pod.h"

G_BEGIN_DECLS

typedef struct _PodvmHotplug PodvmHotplug;

PodvmHotplug *podvm_hotplug_new(guint spare_root_ports);
void podvm_hotplug_free(PodvmHotplug *hotplug);

/* ---- the ledger ---------------------------------------------------------- */

void podvm_hotplug_place(PodvmHotplug *hotplug, const char *key, int port, int lun);
/*
 * A QEMU was just started from @spec: what its argv placed (SCSI disks
 * take LUNs in spec order, on the controller it plugged) goes on record.
 */
void podvm_hotplug_place_boot_devices(PodvmHotplug *hotplug, const PodvmSpec *spec);
/* Not a DNS-1123 label, so never a disk name: the hotplugged SCSI controller's root port. */
#define PODVM_HOTPLUG_SCSI_CONTROLLER_KEY ":scsi-controller"
gboolean podvm_hotplug_is_placed(PodvmHotplug *hotplug, const char *key);
/* Lowest spare root port / SCSI LUN nothing takes, or -1. */
int podvm_hotplug_free_root_port(PodvmHotplug *hotplug);
int podvm_hotplug_free_scsi_lun(PodvmHotplug *hotplug);
/* The device of @key left QEMU: its placement and any pending removal of @device_id go. */
void podvm_hotplug_forget(PodvmHotplug *hotplug, const char *key, const char *device_id);
/*
 * Whether the removal of @device_id timed out and is still pending (the
 * guest has not let go); @out_since (may be NULL) gets when podvmd asked.
 * Shown in the pod's status until DEVICE_DELETED or QEMU's end.
 */
gboolean podvm_hotplug_removal_pending(PodvmHotplug *hotplug, const char *device_id,
                                       GDateTime **out_since);
/* QEMU is gone (or about to start): every placement and pending removal goes. */
void podvm_hotplug_clear(PodvmHotplug *hotplug);
/* As stored: {"KEY": {"port": N, "lun": N}, ...}; NULL when nothing is placed. */
JsonObject *podvm_hotplug_to_json(PodvmHotplug *hotplug);
/* Adds the placements of @object (as podvm_hotplug_to_json() wrote it). */
void podvm_hotplug_load_json(PodvmHotplug *hotplug, JsonObject *object);

/* ---- removal ------------------------------------------------------------- */

/*
 * Called when the guest let go of @device_id after its removal timed out
 * (see podvm_hotplug_remove_async()): the caller finishes what the removal
 * was for (block nodes, the spec).
 */
typedef void (*PodvmHotplugReleasedFunc)(PodvmPod *pod, const char *device_id);

/*
 * Asks @pod's QEMU to remove device @device_id (device_del) and waits up
 * to @timeout_ms for the guest to let go (DEVICE_DELETED). Completes TRUE
 * once both QEMU answered and the device is gone (or it was gone already:
 * DeviceNotFound). PODVM_ERROR_TIMEOUT when the guest did not let go in
 * time: the removal stays pending until QEMU goes, and @released is
 * called if the guest lets go later. Other errors: device_del failed.
 * The pod's monitor must be connected.
 */
void podvm_hotplug_remove_async(PodvmPod *pod, const char *device_id, guint timeout_ms,
                                PodvmHotplugReleasedFunc released, GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean podvm_hotplug_remove_finish(PodvmPod *pod, GAsyncResult *result, GError **error);

G_END_DECLS
