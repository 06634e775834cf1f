/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod's network on record (each attachment, stored in the pod's state
 * file) and what its guest is given (DHCP leases and the servers that answer).
 */
#include "podvm-build-config.h"
#include "podvm-pod-net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>

#include "podvm-binding.h"
#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-sriov.h"

void
pod_net_net_servers_free(PodNetServers *servers)
{
    if (servers == NULL)
        return;
    g_clear_pointer(&servers->dhcp, podvm_dhcp_server_free);
    g_clear_pointer(&servers->ra, podvm_ra_server_free);
    g_free(servers);
}

PodNetAttachment *
pod_net_attachment_copy(const PodNetAttachment *a)
{
    PodNetAttachment *copy = g_new0(PodNetAttachment, 1);

    copy->iface = g_strdup(a->iface);
    copy->slot = a->slot;
    copy->pod_ifname = g_strdup(a->pod_ifname);
    copy->network = g_strdup(a->network);
    copy->conflist = g_strdup(a->conflist);
    copy->result = g_strdup(a->result);
    copy->added = a->added;
    copy->vf = g_strdup(a->vf);
    return copy;
}

void
pod_net_attachment_free(PodNetAttachment *a)
{
    if (a == NULL)
        return;
    g_free(a->iface);
    g_free(a->pod_ifname);
    g_free(a->network);
    g_free(a->conflist);
    g_free(a->result);
    g_free(a->vf);
    g_free(a);
}

/* ---- the state file ------------------------------------------------------------------ */

JsonObject *
pod_net_to_json(PodNet *net)
{
    JsonObject *object;
    JsonArray *array;

    if (net->attachments->len == 0)
        return NULL;
    object = json_object_new();
    array = json_array_new();
    for (guint i = 0; i < net->attachments->len; i++) {
        const PodNetAttachment *a = g_ptr_array_index(net->attachments, i);
        JsonObject *item = json_object_new();

        json_object_set_string_member(item, "interface", a->iface);
        json_object_set_int_member(item, "slot", a->slot);
        json_object_set_string_member(item, "podInterface", a->pod_ifname);
        json_object_set_string_member(item, "network", a->network);
        if (a->conflist != NULL)
            json_object_set_string_member(item, "conflist", a->conflist);
        if (a->result != NULL)
            json_object_set_string_member(item, "result", a->result);
        json_object_set_boolean_member(item, "added", a->added);
        if (a->vf != NULL)
            json_object_set_string_member(item, "vf", a->vf);
        json_array_add_object_element(array, item);
    }
    json_object_set_array_member(object, "attachments", array);
    return object;
}

void
pod_net_load_json(PodNet *net, JsonObject *object)
{
    JsonArray *array;

    if (!json_object_has_member(object, "attachments") ||
        !JSON_NODE_HOLDS_ARRAY(json_object_get_member(object, "attachments")))
        return;
    array = json_object_get_array_member(object, "attachments");
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *node = json_array_get_element(array, i);
        JsonObject *item;
        PodNetAttachment *a;
        gint64 slot;

        if (!JSON_NODE_HOLDS_OBJECT(node))
            continue;
        item = json_node_get_object(node);
        slot = json_object_get_int_member_with_default(item, "slot", -1);
        if (json_object_get_string_member_with_default(item, "interface", NULL) == NULL ||
            json_object_get_string_member_with_default(item, "podInterface", NULL) == NULL ||
            slot < 0 || slot > 255)
            continue;
        a = g_new0(PodNetAttachment, 1);
        a->iface = g_strdup(json_object_get_string_member(item, "interface"));
        a->slot = (guint)slot;
        a->pod_ifname = g_strdup(json_object_get_string_member(item, "podInterface"));
        a->network = g_strdup(json_object_get_string_member_with_default(item, "network", ""));
        a->conflist = g_strdup(json_object_get_string_member_with_default(item, "conflist", NULL));
        a->result = g_strdup(json_object_get_string_member_with_default(item, "result", NULL));
        a->added = json_object_get_boolean_member_with_default(item, "added", FALSE);
        a->vf = g_strdup(json_object_get_string_member_with_default(item, "vf", NULL));
        g_ptr_array_add(net->attachments, a);
    }
}

/* ---- what the guest is given ----------------------------------------------------------- */

/* The spec's network for @iface, and whether it is the pod network. */
const PodvmSpecNetwork *
pod_net_network_of(const PodvmSpec *spec, const char *iface)
{
    return podvm_spec_find_network(spec, iface);
}

const char *
pod_net_vm_cidr4(const PodvmSpecNetwork *network)
{
    return network != NULL && network->vm_cidr != NULL ? network->vm_cidr
                                                       : PODVM_SPEC_DEFAULT_VM_CIDR;
}

const char *
pod_net_vm_cidr6(const PodvmSpecNetwork *network)
{
    return network != NULL && network->vm_ipv6_cidr != NULL ? network->vm_ipv6_cidr
                                                            : PODVM_SPEC_DEFAULT_VM_IPV6_CIDR;
}

/* The CNI result's addresses ("10.66.0.5/16"), NULL-terminated; empty without a result. */
GStrv
pod_net_result_addresses(const PodvmCniResult *result)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    for (guint i = 0; result != NULL && i < result->ips->len; i++) {
        const PodvmCniIp *ip = g_ptr_array_index(result->ips, i);

        g_strv_builder_add(b, ip->address);
    }
    return g_strv_builder_end(b);
}

char *
pod_net_strip_prefix(const char *cidr)
{
    const char *slash = strchr(cidr, '/');

    return slash != NULL ? g_strndup(cidr, (gsize)(slash - cidr)) : g_strdup(cidr);
}

PodvmCniResult *
pod_net_parse_result(const PodNetAttachment *a)
{
    if (a->result == NULL)
        return NULL;
    return podvm_cni_result_parse(a->result, -1, NULL);
}

/* The DHCPv4 lease of a masquerade or bridge interface, from the spec and the stored result. */
static PodvmDhcpLease *
lease_for(PodvmPod *self, const PodvmSpecInterface *iface, const PodNetAttachment *a, guint mtu)
{
    g_autoptr(PodvmCniResult) result = pod_net_parse_result(a);
    g_autoptr(PodvmDhcpLease) lease = g_new0(PodvmDhcpLease, 1);

    podvm_spec_interface_mac(iface, self->spec->uid, lease->mac);
    if (iface->binding == PODVM_BINDING_MASQUERADE) {
        if (!podvm_binding_vm_addresses(
                pod_net_vm_cidr4(pod_net_network_of(self->spec, iface->name)), &lease->address,
                &lease->router, &lease->prefix, NULL))
            return NULL;
    } else {
        /* The pod's own IPv4 address, gateway and routes go to the guest. */
        for (guint i = 0; result != NULL && i < result->ips->len; i++) {
            const PodvmCniIp *ip = g_ptr_array_index(result->ips, i);
            guint64 prefix = 32;
            const char *slash = strchr(ip->address, '/');

            if (strchr(ip->address, ':') != NULL)
                continue;
            lease->address = pod_net_strip_prefix(ip->address);
            if (slash != NULL)
                g_ascii_string_to_unsigned(slash + 1, 10, 0, 32, &prefix, NULL);
            lease->prefix = (guint)prefix;
            lease->router = g_strdup(ip->gateway);
            break;
        }
        if (lease->address == NULL)
            return NULL;
        lease->routes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_route_free);
        for (guint i = 0; result != NULL && i < result->routes->len; i++) {
            const PodvmRoute *route = g_ptr_array_index(result->routes, i);
            PodvmRoute *copy;

            if (strchr(route->dst, ':') != NULL)
                continue;
            copy = g_new0(PodvmRoute, 1);
            copy->dst = g_strdup(route->dst);
            copy->gateway = g_strdup(route->gateway != NULL ? route->gateway : lease->router);
            g_ptr_array_add(lease->routes, copy);
        }
    }
    /* DNS from the network (CNI's result), else the host's resolver config. */
    if (result != NULL && result->dns_nameservers[0] != NULL) {
        lease->dns = g_strdupv(result->dns_nameservers);
        if (result->dns_search[0] != NULL)
            lease->search = g_strdupv(result->dns_search);
    } else {
        podvm_dhcp_read_resolv_conf(NULL, &lease->dns, &lease->search, NULL);
    }
    lease->hostname =
        g_strdup(self->spec->hostname != NULL ? self->spec->hostname : self->spec->name);
    lease->mtu = mtu;
    lease->lease_seconds = 0;
    return g_steal_pointer(&lease);
}

PodvmDhcpLease *
pod_net_guest_lease(PodvmPod *self, const char *iface_name)
{
    const PodvmSpecInterface *iface = podvm_spec_find_interface(self->spec, iface_name);
    const PodNetAttachment *a = pod_net_find_attachment(self->net, iface_name);

    if (iface == NULL || a == NULL ||
        (iface->binding != PODVM_BINDING_MASQUERADE && iface->binding != PODVM_BINDING_BRIDGE))
        return NULL;
    return lease_for(self, iface, a, 0);
}

/* Starts the servers of one binding from the sockets its setup opened (taken). */
gboolean
pod_net_start_servers(PodvmPod *self, const PodvmSpecInterface *iface, const PodNetAttachment *a,
                      PodvmBindingSetup *setup, GError **error)
{
    g_autoptr(PodvmDhcpLease) lease = NULL;
    PodNetServers *servers;
    const char *server_address;
    g_autofree char *gateway4 = NULL;
    int fd;

    if (setup->dhcp_fd < 0)
        return TRUE;
    lease = lease_for(self, iface, a, setup->mtu);
    if (lease == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("interface '%s': the network gave the pod no IPv4 address to give the guest"),
                    iface->name);
        return FALSE;
    }
    if (iface->binding == PODVM_BINDING_MASQUERADE) {
        gateway4 = g_strdup(lease->router);
        server_address = gateway4;
    } else {
        server_address = PODVM_BINDING_BRIDGE_SERVER_ADDRESS;
    }
    servers = g_new0(PodNetServers, 1);
    fd = setup->dhcp_fd;
    setup->dhcp_fd = -1;
    servers->dhcp = podvm_dhcp_server_new(fd, server_address, error);
    if (servers->dhcp == NULL) {
        pod_net_net_servers_free(servers);
        return FALSE;
    }
    podvm_dhcp_server_set_lease(servers->dhcp, lease);
    if (setup->icmp6_fd >= 0 && setup->dhcp6_fd >= 0) {
        g_autofree char *guest6 = NULL;
        int icmp6_fd = setup->icmp6_fd, dhcp6_fd = setup->dhcp6_fd;
        const char *cidr6 = pod_net_vm_cidr6(pod_net_network_of(self->spec, iface->name));

        setup->icmp6_fd = setup->dhcp6_fd = -1;
        servers->ra = podvm_ra_server_new(icmp6_fd, dhcp6_fd, setup->bridge, setup->bridge_mac,
                                          cidr6, setup->mtu, error);
        if (servers->ra == NULL || !podvm_binding_vm_addresses(cidr6, &guest6, NULL, NULL, error)) {
            pod_net_net_servers_free(servers);
            return FALSE;
        }
        podvm_ra_server_set_lease(servers->ra, lease->mac, guest6);
    }
    g_hash_table_replace(self->net->servers, g_strdup(iface->name), servers);
    return TRUE;
}
