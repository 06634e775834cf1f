/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The model of interfaces (spec.domain.devices.interfaces) and networks
 * (spec.networks): free, copy, lookups, the names of bindings and models,
 * the MAC an interface gets, and their JSON in the native form. Their
 * parser and rules are in podvm-spec-network.c.
 */
#include "podvm-spec-private.h"

#include <string.h>

/* Indexed by PodvmBinding, PodvmNicModel and PodvmNetworkSource. */
const char *const spec_binding_names[] = { "masquerade", "bridge", "slirp", "sriov", "passt" };
const char *const spec_nic_model_names[] = { "virtio", "e1000", "rtl8139" };
const char *const spec_network_source_names[] = { "pod", "multus" };

G_STATIC_ASSERT(PODVM_BINDING_PASST + 1 == SPEC_N_BINDINGS);
G_STATIC_ASSERT(PODVM_NIC_MODEL_RTL8139 + 1 == SPEC_N_NIC_MODELS);
G_STATIC_ASSERT(PODVM_NETWORK_MULTUS == 1);

const char *
podvm_binding_to_string(PodvmBinding binding)
{
    g_return_val_if_fail((guint)binding < SPEC_N_BINDINGS, "masquerade");
    return spec_binding_names[binding];
}

const char *
podvm_nic_model_to_string(PodvmNicModel model)
{
    g_return_val_if_fail((guint)model < SPEC_N_NIC_MODELS, "virtio");
    return spec_nic_model_names[model];
}

/* ------------------------------------------------------------------------ */
/* The model */

void
spec_port_free(PodvmSpecPort *port)
{
    if (port == NULL)
        return;
    g_free(port->name);
    g_free(port->protocol);
    g_free(port);
}

static PodvmSpecPort *
port_copy(const PodvmSpecPort *port)
{
    PodvmSpecPort *copy = g_memdup2(port, sizeof(*port));

    copy->name = g_strdup(port->name);
    copy->protocol = g_strdup(port->protocol);
    return copy;
}

PodvmSpecInterface *
spec_interface_new(void)
{
    PodvmSpecInterface *iface = g_new0(PodvmSpecInterface, 1);

    iface->ports = g_ptr_array_new_with_free_func((GDestroyNotify)spec_port_free);
    return iface;
}

void
podvm_spec_interface_free(PodvmSpecInterface *iface)
{
    if (iface == NULL)
        return;
    g_free(iface->name);
    g_free(iface->mac_address);
    g_clear_pointer(&iface->ports, g_ptr_array_unref);
    g_free(iface->pci_address);
    g_free(iface->sriov_host_address);
    g_free(iface);
}

PodvmSpecInterface *
podvm_spec_interface_copy(const PodvmSpecInterface *iface)
{
    PodvmSpecInterface *copy;
    guint i;

    g_return_val_if_fail(iface != NULL, NULL);

    copy = g_memdup2(iface, sizeof(*iface));
    copy->name = g_strdup(iface->name);
    copy->mac_address = g_strdup(iface->mac_address);
    copy->ports = g_ptr_array_new_with_free_func((GDestroyNotify)spec_port_free);
    for (i = 0; iface->ports != NULL && i < iface->ports->len; i++)
        g_ptr_array_add(copy->ports, port_copy(g_ptr_array_index(iface->ports, i)));
    copy->pci_address = g_strdup(iface->pci_address);
    copy->sriov_host_address = g_strdup(iface->sriov_host_address);
    return copy;
}

void
podvm_spec_network_free(PodvmSpecNetwork *network)
{
    if (network == NULL)
        return;
    g_free(network->name);
    g_free(network->network_name);
    g_free(network->vm_cidr);
    g_free(network->vm_ipv6_cidr);
    g_free(network);
}

PodvmSpecNetwork *
podvm_spec_network_copy(const PodvmSpecNetwork *network)
{
    PodvmSpecNetwork *copy;

    g_return_val_if_fail(network != NULL, NULL);

    copy = g_memdup2(network, sizeof(*network));
    copy->name = g_strdup(network->name);
    copy->network_name = g_strdup(network->network_name);
    copy->vm_cidr = g_strdup(network->vm_cidr);
    copy->vm_ipv6_cidr = g_strdup(network->vm_ipv6_cidr);
    return copy;
}

const PodvmSpecNetwork *
podvm_spec_find_network(const PodvmSpec *spec, const char *name)
{
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    for (i = 0; name != NULL && spec->networks != NULL && i < spec->networks->len; i++) {
        const PodvmSpecNetwork *network = g_ptr_array_index(spec->networks, i);

        if (g_strcmp0(network->name, name) == 0)
            return network;
    }
    return NULL;
}

const PodvmSpecInterface *
podvm_spec_find_interface(const PodvmSpec *spec, const char *name)
{
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    for (i = 0; name != NULL && spec->interfaces != NULL && i < spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(spec->interfaces, i);

        if (g_strcmp0(iface->name, name) == 0)
            return iface;
    }
    return NULL;
}

gboolean
spec_mac_parse(const char *text, guint8 out[6])
{
    guint8 bytes[6];
    guint i;

    if (text == NULL || strlen(text) != 17)
        return FALSE;
    for (i = 0; i < 6; i++) {
        const char *pair = text + i * 3;
        int high = g_ascii_xdigit_value(pair[0]);
        int low = g_ascii_xdigit_value(pair[1]);

        if (high < 0 || low < 0)
            return FALSE;
        if (i < 5 && pair[2] != text[2])
            return FALSE;
        bytes[i] = (guint8)(high << 4 | low);
    }
    if (text[2] != ':' && text[2] != '-')
        return FALSE;
    memcpy(out, bytes, sizeof(bytes));
    return TRUE;
}

void
podvm_spec_interface_mac(const PodvmSpecInterface *iface, const char *uid, guint8 out[6])
{
    g_autoptr(GChecksum) checksum = NULL;
    g_autofree char *seed = NULL;
    guint8 digest[32];
    gsize digest_length = sizeof(digest);

    g_return_if_fail(iface != NULL);
    g_return_if_fail(out != NULL);

    if (spec_mac_parse(iface->mac_address, out))
        return;

    /* Locally administered (0x02) and unicast (0x01 clear): no vendor's range, no group. */
    seed = g_strdup_printf("%s/%s", uid != NULL ? uid : "", iface->name != NULL ? iface->name : "");
    checksum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(checksum, (const guchar *)seed, -1);
    g_checksum_get_digest(checksum, digest, &digest_length);
    out[0] = 0x02;
    memcpy(out + 1, digest, 5);
}

/* ------------------------------------------------------------------------ */
/* JSON */

static void
add_string_member(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

static void
add_int_member(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

void
spec_write_interface(JsonBuilder *b, const PodvmSpecInterface *iface)
{
    guint i;

    json_builder_begin_object(b);
    if (iface->name != NULL)
        add_string_member(b, "name", iface->name);
    json_builder_set_member_name(b, podvm_binding_to_string(iface->binding));
    json_builder_begin_object(b);
    if (iface->binding == PODVM_BINDING_SRIOV && iface->sriov_host_address != NULL)
        add_string_member(b, "hostPciAddress", iface->sriov_host_address);
    json_builder_end_object(b);
    add_string_member(b, "model", podvm_nic_model_to_string(iface->model));
    if (iface->mac_address != NULL)
        add_string_member(b, "macAddress", iface->mac_address);
    if (iface->ports != NULL && iface->ports->len > 0) {
        json_builder_set_member_name(b, "ports");
        json_builder_begin_array(b);
        for (i = 0; i < iface->ports->len; i++) {
            const PodvmSpecPort *port = g_ptr_array_index(iface->ports, i);

            json_builder_begin_object(b);
            if (port->name != NULL)
                add_string_member(b, "name", port->name);
            add_string_member(b, "protocol", port->protocol != NULL ? port->protocol : "TCP");
            add_int_member(b, "port", port->port);
            if (port->host_port != 0)
                add_int_member(b, "hostPort", port->host_port);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    if (iface->boot_order != 0)
        add_int_member(b, "bootOrder", iface->boot_order);
    if (iface->pci_address != NULL)
        add_string_member(b, "pciAddress", iface->pci_address);
    json_builder_end_object(b);
}

void
spec_write_network(JsonBuilder *b, const PodvmSpecNetwork *network)
{
    json_builder_begin_object(b);
    if (network->name != NULL)
        add_string_member(b, "name", network->name);
    json_builder_set_member_name(
        b, spec_network_source_names[network->source == PODVM_NETWORK_MULTUS]);
    json_builder_begin_object(b);
    if (network->source == PODVM_NETWORK_MULTUS) {
        if (network->network_name != NULL)
            add_string_member(b, "networkName", network->network_name);
    } else {
        if (network->vm_cidr != NULL)
            add_string_member(b, "vmNetworkCIDR", network->vm_cidr);
        if (network->vm_ipv6_cidr != NULL)
            add_string_member(b, "vmIPv6NetworkCIDR", network->vm_ipv6_cidr);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
}

JsonNode *
podvm_spec_interface_to_json(const PodvmSpecInterface *iface)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(iface != NULL, NULL);

    spec_write_interface(b, iface);
    return json_builder_get_root(b);
}

JsonNode *
podvm_spec_network_to_json(const PodvmSpecNetwork *network)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(network != NULL, NULL);

    spec_write_network(b, network);
    return json_builder_get_root(b);
}
