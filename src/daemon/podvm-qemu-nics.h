/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The JSON objects of a VM's NICs, for the boot argv (-netdev/-device) and
 * for hotplug (netdev_add/device_add) alike, and the ids podvm gives them:
 *   netdev id  "netdev-NAME"
 *   device id  "net-NAME"
 * NAME is the interface's name (a DNS-1123 label).
 */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "podvm-spec.h"

G_BEGIN_DECLS

/* What one NIC is attached to in QEMU, as the pod's network prepared it. */
typedef struct {
    char *name; /* the spec interface */
    PodvmBinding binding;
    PodvmNicModel model;
    guint8 mac[6];
    guint boot_order;
    /*
     * The fds QEMU gets, as it knows them ("23" at boot, a getfd name when
     * hotplugged): tap bindings, each queue's tap; passt, its end of the
     * stream socket passt serves.
     */
    GStrv fds;
    /* slirp: hostfwd rules, "tcp::80-:80" */
    GStrv hostfwd;
    /* sriov: the VF's PCI address */
    char *vfio_host;
} PodvmQemuNic;

PodvmQemuNic *podvm_qemu_nic_new(const char *name);
void podvm_qemu_nic_free(PodvmQemuNic *nic);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmQemuNic, podvm_qemu_nic_free)

char *podvm_qemu_nic_netdev_id(const char *iface_name);
char *podvm_qemu_nic_device_id(const char *iface_name);
/* The interface name in a device id "net-NAME", or NULL. */
char *podvm_qemu_nic_name_from_device_id(const char *device_id);

/* The -netdev / netdev_add object; NULL for a NIC without one (sriov). */
JsonNode *podvm_qemu_nic_netdev(const PodvmQemuNic *nic);
/* The -device / device_add object, on @pci_bus when not NULL. */
JsonNode *podvm_qemu_nic_device(const PodvmQemuNic *nic, const char *pci_bus);

G_END_DECLS
