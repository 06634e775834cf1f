/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-build-config.h"
#include "podvm-binding.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gi18n.h>
#include <unistd.h>

#include "podvm-dhcp.h"
#include "podvm-error.h"
#include "podvm-netlink.h"

void
podvm_binding_setup_init(PodvmBindingSetup *setup)
{
    memset(setup, 0, sizeof *setup);
    setup->dhcp_fd = -1;
    setup->icmp6_fd = -1;
    setup->dhcp6_fd = -1;
    for (guint i = 0; i < PODVM_BINDING_MAX_QUEUES; i++)
        setup->tap_fds[i] = -1;
}

void
podvm_binding_setup_clear(PodvmBindingSetup *setup)
{
    for (guint i = 0; i < PODVM_BINDING_MAX_QUEUES; i++) {
        if (setup->tap_fds[i] >= 0)
            close(setup->tap_fds[i]);
        setup->tap_fds[i] = -1;
    }
    setup->n_tap_fds = 0;
    if (setup->dhcp_fd >= 0)
        close(setup->dhcp_fd);
    if (setup->icmp6_fd >= 0)
        close(setup->icmp6_fd);
    if (setup->dhcp6_fd >= 0)
        close(setup->dhcp6_fd);
    setup->dhcp_fd = setup->icmp6_fd = setup->dhcp6_fd = -1;
}

void
podvm_binding_names(guint slot, char bridge[16], char tap[16])
{
    g_snprintf(bridge, 16, "pvbr%u", slot);
    g_snprintf(tap, 16, "pvtap%u", slot);
}

/* Splits "ADDR/LEN" of @family; FALSE when it is not one. */
static gboolean
parse_cidr(const char *cidr, int family, guint8 *out_addr, guint *out_prefix)
{
    g_auto(GStrv) parts = g_strsplit(cidr, "/", 2);
    guint64 prefix;
    guint max = family == AF_INET ? 32 : 128;

    if (parts[0] == NULL || parts[1] == NULL || inet_pton(family, parts[0], out_addr) != 1 ||
        !g_ascii_string_to_unsigned(parts[1], 10, 0, max, &prefix, NULL))
        return FALSE;
    *out_prefix = (guint)prefix;
    return TRUE;
}

/* The address @index hosts into @cidr's network (1: the gateway, 2: the guest). */
static char *
host_in_cidr(const char *cidr, int family, guint index, guint *out_prefix)
{
    guint8 addr[16] = { 0 };
    char text[INET6_ADDRSTRLEN];
    guint prefix, bytes = family == AF_INET ? 4 : 16;

    if (!parse_cidr(cidr, family, addr, &prefix))
        return NULL;
    /* The network address, then + index in the last byte (the CIDRs are at least /30, /126). */
    for (guint bit = prefix; bit < bytes * 8; bit++)
        addr[bit / 8] &= (guint8) ~(0x80 >> (bit % 8));
    addr[bytes - 1] = (guint8)(addr[bytes - 1] + index);
    if (inet_ntop(family, addr, text, sizeof text) == NULL)
        return NULL;
    if (out_prefix != NULL)
        *out_prefix = prefix;
    return g_strdup(text);
}

gboolean
podvm_binding_vm_addresses(const char *cidr, char **out_guest, char **out_gateway,
                           guint *out_prefix, GError **error)
{
    int family = strchr(cidr, ':') != NULL ? AF_INET6 : AF_INET;
    g_autofree char *guest = host_in_cidr(cidr, family, 2, out_prefix);
    g_autofree char *gateway = host_in_cidr(cidr, family, 1, NULL);

    if (guest == NULL || gateway == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("'%s' is not a network in CIDR notation"), cidr);
        return FALSE;
    }
    if (out_guest != NULL)
        *out_guest = g_steal_pointer(&guest);
    if (out_gateway != NULL)
        *out_gateway = g_steal_pointer(&gateway);
    return TRUE;
}

/* The bridge and its tap(s), up, with the tap enslaved. */
static gboolean
make_bridge_and_tap(PodvmNl *nl, PodvmBindingSetup *setup, GError **error)
{
    guint queues = CLAMP(setup->queues, 1, PODVM_BINDING_MAX_QUEUES);

    if (!podvm_nl_bridge_add(nl, setup->bridge, setup->mtu, error))
        return FALSE;
    if (!podvm_tap_open(setup->tap, queues, setup->tap_fds, error))
        return FALSE;
    setup->n_tap_fds = queues;
    if (setup->mtu > 0 && !podvm_nl_link_set_mtu(nl, setup->tap, setup->mtu, error))
        return FALSE;
    return podvm_nl_link_set_master(nl, setup->tap, setup->bridge, error) &&
           podvm_nl_link_set_up(nl, setup->tap, TRUE, error) &&
           podvm_nl_link_set_up(nl, setup->bridge, TRUE, error);
}

static gboolean
has_ipv6(GStrv addresses)
{
    for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++) {
        if (strchr(addresses[i], ':') != NULL)
            return TRUE;
    }
    return FALSE;
}

static gboolean
setup_masquerade(PodvmNl *nl, PodvmBindingSetup *setup, GError **error)
{
    g_autofree char *guest4 = NULL, *gateway4 = NULL, *guest6 = NULL, *gateway6 = NULL;
    g_autofree char *gateway4_cidr = NULL, *gateway6_cidr = NULL;
    g_autoptr(GPtrArray) pod_ips = g_ptr_array_new_with_free_func(g_free);
    gboolean ipv6 = has_ipv6(setup->pod_addresses) && setup->vm_cidr6 != NULL;
    PodvmNftMasquerade rules = { 0 };
    guint prefix4, prefix6 = 0;

    if (!podvm_binding_vm_addresses(setup->vm_cidr4, &guest4, &gateway4, &prefix4, error))
        return FALSE;
    if (ipv6 && !podvm_binding_vm_addresses(setup->vm_cidr6, &guest6, &gateway6, &prefix6, error))
        return FALSE;
    if (!make_bridge_and_tap(nl, setup, error))
        return FALSE;
    gateway4_cidr = g_strdup_printf("%s/%u", gateway4, prefix4);
    if (!podvm_nl_addr_add(nl, setup->bridge, gateway4_cidr, error))
        return FALSE;
    if (ipv6) {
        gateway6_cidr = g_strdup_printf("%s/%u", gateway6, prefix6);
        if (!podvm_sysctl_set("net/ipv6/conf/all/forwarding", "1", error) ||
            !podvm_nl_addr_add(nl, setup->bridge, gateway6_cidr, error))
            return FALSE;
    }
    if (!podvm_sysctl_set("net/ipv4/ip_forward", "1", error))
        return FALSE;

    for (guint i = 0; setup->pod_addresses != NULL && setup->pod_addresses[i] != NULL; i++) {
        const char *slash = strchr(setup->pod_addresses[i], '/');

        g_ptr_array_add(pod_ips, slash != NULL ? g_strndup(setup->pod_addresses[i],
                                                           (gsize)(slash - setup->pod_addresses[i]))
                                               : g_strdup(setup->pod_addresses[i]));
    }
    g_ptr_array_add(pod_ips, NULL);
    rules.pod_ifname = setup->pod_ifname;
    rules.bridge_ifname = setup->bridge;
    rules.guest_ipv4 = guest4;
    rules.vm_cidr4 = setup->vm_cidr4;
    rules.guest_ipv6 = ipv6 ? guest6 : NULL;
    rules.vm_cidr6 = ipv6 ? setup->vm_cidr6 : NULL;
    rules.pod_addresses = (GStrv)pod_ips->pdata;
    rules.ports = setup->ports;
    rules.n_ports = setup->n_ports;
    rules.all_ports = setup->all_ports;
    return podvm_nft_apply_masquerade(&rules, error);
}

static gboolean
setup_bridge(PodvmNl *nl, PodvmBindingSetup *setup, GError **error)
{
    g_autofree char *server = g_strdup_printf("%s/32", PODVM_BINDING_BRIDGE_SERVER_ADDRESS);

    /* The pod's addresses go to the guest: the pod interface keeps none. */
    for (guint i = 0; setup->pod_addresses != NULL && setup->pod_addresses[i] != NULL; i++) {
        if (!podvm_nl_addr_del(nl, setup->pod_ifname, setup->pod_addresses[i], error))
            return FALSE;
    }
    if (!make_bridge_and_tap(nl, setup, error))
        return FALSE;
    return podvm_nl_link_set_master(nl, setup->pod_ifname, setup->bridge, error) &&
           podvm_nl_bridge_port_set_learning(nl, setup->pod_ifname, FALSE, error) &&
           podvm_nl_link_set_up(nl, setup->pod_ifname, TRUE, error) &&
           podvm_nl_addr_add(nl, setup->bridge, server, error);
}

gboolean
podvm_binding_open_sockets(PodvmBindingSetup *setup, GError **error)
{
    g_autoptr(PodvmNl) nl = NULL;
    PodvmLinkInfo info;

    podvm_binding_names(setup->slot, setup->bridge, setup->tap);
    if (setup->binding != PODVM_BINDING_MASQUERADE && setup->binding != PODVM_BINDING_BRIDGE)
        return TRUE;
    nl = podvm_nl_open(error);
    if (nl == NULL || !podvm_nl_link_get(nl, setup->bridge, &info, error))
        return FALSE;
    memcpy(setup->bridge_mac, info.mac, 6);
    if (setup->mtu == 0 && podvm_nl_link_get(nl, setup->pod_ifname, &info, NULL))
        setup->mtu = info.mtu;
    setup->dhcp_fd = podvm_dhcp_open_socket(setup->bridge, error);
    if (setup->dhcp_fd < 0)
        return FALSE;
    if (setup->binding == PODVM_BINDING_MASQUERADE && has_ipv6(setup->pod_addresses) &&
        setup->vm_cidr6 != NULL &&
        !podvm_ra_open_sockets(setup->bridge, &setup->icmp6_fd, &setup->dhcp6_fd, error))
        return FALSE;
    return TRUE;
}

gboolean
podvm_binding_setup(PodvmBindingSetup *setup, GError **error)
{
    g_autoptr(PodvmNl) nl = NULL;
    PodvmLinkInfo info;
    gboolean ok;

    podvm_binding_names(setup->slot, setup->bridge, setup->tap);
    /*
     * slirp and passt listen for the declared ports themselves, as QEMU's
     * unprivileged user: the pod's namespace lets any user bind low ports
     * (the sysctl is the namespace's own, the host's is untouched).
     */
    if (setup->binding == PODVM_BINDING_SLIRP || setup->binding == PODVM_BINDING_PASST)
        return podvm_sysctl_set("net/ipv4/ip_unprivileged_port_start", "0", error);
    if (setup->binding != PODVM_BINDING_MASQUERADE && setup->binding != PODVM_BINDING_BRIDGE)
        return TRUE;
    nl = podvm_nl_open(error);
    if (nl == NULL)
        return FALSE;
    if (!podvm_nl_link_get(nl, setup->pod_ifname, &info, error))
        return FALSE;
    setup->mtu = info.mtu;
    ok = setup->binding == PODVM_BINDING_MASQUERADE ? setup_masquerade(nl, setup, error)
                                                    : setup_bridge(nl, setup, error);
    return ok && podvm_binding_open_sockets(setup, error);
}

gboolean
podvm_binding_teardown(const PodvmBindingSetup *setup, GError **error)
{
    g_autoptr(PodvmNl) nl = NULL;
    char bridge[16], tap[16];
    PodvmLinkInfo info;

    if (setup->binding != PODVM_BINDING_MASQUERADE && setup->binding != PODVM_BINDING_BRIDGE)
        return TRUE;
    podvm_binding_names(setup->slot, bridge, tap);
    nl = podvm_nl_open(error);
    if (nl == NULL)
        return FALSE;
    if (setup->binding == PODVM_BINDING_MASQUERADE && !podvm_nft_delete_table(error))
        return FALSE;
    if (!podvm_nl_link_delete(nl, tap, error) || !podvm_nl_link_delete(nl, bridge, error))
        return FALSE;
    /* bridge: the pod interface gets its addresses back from the guest, for CNI DEL (the
     * bridge plugin removes the NAT rules of the addresses it finds on it). */
    if (setup->binding == PODVM_BINDING_BRIDGE && setup->pod_ifname != NULL &&
        podvm_nl_link_get(nl, setup->pod_ifname, &info, NULL)) {
        for (guint i = 0; setup->pod_addresses != NULL && setup->pod_addresses[i] != NULL; i++) {
            if (!podvm_nl_addr_add(nl, setup->pod_ifname, setup->pod_addresses[i], error))
                return FALSE;
        }
    }
    return TRUE;
}
