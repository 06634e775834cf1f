/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-build-config.h"
#include "podvm-qemu-nics.h"

#include <string.h>

#define NETDEV_ID_PREFIX "netdev-"
#define DEVICE_ID_PREFIX "net-"

PodvmQemuNic *
podvm_qemu_nic_new(const char *name)
{
    PodvmQemuNic *nic = g_new0(PodvmQemuNic, 1);

    nic->name = g_strdup(name);
    return nic;
}

void
podvm_qemu_nic_free(PodvmQemuNic *nic)
{
    if (nic == NULL)
        return;
    g_free(nic->name);
    g_strfreev(nic->fds);
    g_strfreev(nic->hostfwd);
    g_free(nic->vfio_host);
    g_free(nic);
}

char *
podvm_qemu_nic_netdev_id(const char *iface_name)
{
    return g_strconcat(NETDEV_ID_PREFIX, iface_name, NULL);
}

char *
podvm_qemu_nic_device_id(const char *iface_name)
{
    return g_strconcat(DEVICE_ID_PREFIX, iface_name, NULL);
}

char *
podvm_qemu_nic_name_from_device_id(const char *device_id)
{
    if (device_id == NULL || !g_str_has_prefix(device_id, DEVICE_ID_PREFIX) ||
        device_id[strlen(DEVICE_ID_PREFIX)] == '\0')
        return NULL;
    return g_strdup(device_id + strlen(DEVICE_ID_PREFIX));
}

JsonNode *
podvm_qemu_nic_netdev(const PodvmQemuNic *nic)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *id = podvm_qemu_nic_netdev_id(nic->name);

    if (nic->binding == PODVM_BINDING_SRIOV)
        return NULL;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_set_member_name(b, "type");
    if (nic->binding == PODVM_BINDING_PASST) {
        /* passt speaks QEMU's stream protocol on a socket podvmd connected it to. */
        json_builder_add_string_value(b, "stream");
        json_builder_set_member_name(b, "server");
        json_builder_add_boolean_value(b, FALSE);
        json_builder_set_member_name(b, "addr");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, "fd");
        json_builder_set_member_name(b, "str");
        json_builder_add_string_value(b,
                                      nic->fds != NULL && nic->fds[0] != NULL ? nic->fds[0] : "");
        json_builder_end_object(b);
    } else if (nic->binding == PODVM_BINDING_SLIRP) {
        json_builder_add_string_value(b, "user");
        if (nic->hostfwd != NULL && nic->hostfwd[0] != NULL) {
            json_builder_set_member_name(b, "hostfwd");
            json_builder_begin_array(b);
            for (guint i = 0; nic->hostfwd[i] != NULL; i++) {
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "str");
                json_builder_add_string_value(b, nic->hostfwd[i]);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
        }
    } else {
        g_autofree char *fds = nic->fds != NULL ? g_strjoinv(":", nic->fds) : g_strdup("");

        json_builder_add_string_value(b, "tap");
        /* One fd is "fd", several (multi-queue) are "fds". */
        json_builder_set_member_name(b, nic->fds != NULL && g_strv_length(nic->fds) > 1 ? "fds"
                                                                                        : "fd");
        json_builder_add_string_value(b, fds);
        json_builder_set_member_name(b, "vhost");
        json_builder_add_boolean_value(b, FALSE);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static const char *
model_driver(PodvmNicModel model)
{
    switch (model) {
    case PODVM_NIC_MODEL_E1000:
        return "e1000";
    case PODVM_NIC_MODEL_RTL8139:
        return "rtl8139";
    case PODVM_NIC_MODEL_VIRTIO:
    default:
        return "virtio-net-pci";
    }
}

JsonNode *
podvm_qemu_nic_device(const PodvmQemuNic *nic, const char *pci_bus)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *id = podvm_qemu_nic_device_id(nic->name);
    g_autofree char *netdev = podvm_qemu_nic_netdev_id(nic->name);
    g_autofree char *mac =
        g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", nic->mac[0], nic->mac[1], nic->mac[2],
                        nic->mac[3], nic->mac[4], nic->mac[5]);
    guint queues =
        nic->binding != PODVM_BINDING_PASST && nic->fds != NULL ? g_strv_length(nic->fds) : 1;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "driver");
    if (nic->binding == PODVM_BINDING_SRIOV) {
        json_builder_add_string_value(b, "vfio-pci");
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, nic->vfio_host);
    } else {
        json_builder_add_string_value(b, model_driver(nic->model));
        json_builder_set_member_name(b, "netdev");
        json_builder_add_string_value(b, netdev);
        json_builder_set_member_name(b, "mac");
        json_builder_add_string_value(b, mac);
        if (nic->model == PODVM_NIC_MODEL_VIRTIO && queues > 1) {
            json_builder_set_member_name(b, "mq");
            json_builder_add_boolean_value(b, TRUE);
            /* 2 vectors per queue pair, one for config, one for control */
            json_builder_set_member_name(b, "vectors");
            json_builder_add_int_value(b, 2 * queues + 2);
        }
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    if (pci_bus != NULL) {
        json_builder_set_member_name(b, "bus");
        json_builder_add_string_value(b, pci_bus);
    }
    if (nic->boot_order > 0) {
        json_builder_set_member_name(b, "bootindex");
        json_builder_add_int_value(b, nic->boot_order);
    } else if (nic->binding != PODVM_BINDING_SRIOV) {
        /* No network boot: no option ROM to load (and no need for ipxe-qemu). */
        json_builder_set_member_name(b, "romfile");
        json_builder_add_string_value(b, "");
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
