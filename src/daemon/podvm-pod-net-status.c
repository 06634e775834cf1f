/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod's network as QEMU's guest and the users see it: status.interfaces[]
 * and podIPs, and per-interface counters from the pod's namespace.
 */
#include "podvm-build-config.h"
#include "podvm-pod-net.h"

#include <string.h>

#include "podvm-binding.h"
#include "podvm-guest-agent-proto.h"
#include "podvm-cni.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"

/* slirp's fixed guest address (QEMU's user network, 10.0.2.0/24). */
#define SLIRP_GUEST_ADDRESS "10.0.2.15"

/* ---- status --------------------------------------------------------------------------------- */

/* IPv4 before IPv6, each family in the CNI result's order (the sort is stable). */
static gint
ipv4_first(gconstpointer a, gconstpointer b)
{
    gboolean a6 = strchr(*(const char *const *)a, ':') != NULL;
    gboolean b6 = strchr(*(const char *const *)b, ':') != NULL;

    return (gint)a6 - (gint)b6;
}

static void
add_string_array(JsonBuilder *b, const char *name, GPtrArray *values)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (guint i = 0; i < values->len; i++)
        json_builder_add_string_value(b, g_ptr_array_index(values, i));
    json_builder_end_array(b);
}

/* The interface the guest agent reported with MAC @mac, or NULL. */
static const PodvmQgaInterface *
agent_interface(const GPtrArray *reported, const char *mac)
{
    for (guint i = 0; reported != NULL && i < reported->len; i++) {
        const PodvmQgaInterface *iface = g_ptr_array_index(reported, i);

        if (iface->mac != NULL && g_ascii_strcasecmp(iface->mac, mac) == 0)
            return iface;
    }
    return NULL;
}

static gboolean
has_string(GPtrArray *values, const char *value)
{
    for (guint i = 0; i < values->len; i++) {
        if (g_strcmp0(g_ptr_array_index(values, i), value) == 0)
            return TRUE;
    }
    return FALSE;
}

/*
 * The guest's interfaces that no spec interface has (their MAC), as KubeVirt shows them:
 * infoSource "guest-agent". Loopback (no MAC) is left out.
 */
static void
add_agent_only(PodvmPod *self, JsonBuilder *b, const GPtrArray *reported)
{
    for (guint i = 0; reported != NULL && i < reported->len; i++) {
        const PodvmQgaInterface *iface = g_ptr_array_index(reported, i);
        gboolean known = FALSE;

        if (iface->mac == NULL)
            continue;
        for (guint j = 0; j < self->spec->interfaces->len && !known; j++) {
            guint8 mac[6];
            g_autofree char *text = NULL;

            podvm_spec_interface_mac(g_ptr_array_index(self->spec->interfaces, j), self->spec->uid,
                                     mac);
            text = podvm_mac_to_string(mac);
            known = g_ascii_strcasecmp(text, iface->mac) == 0;
        }
        if (known)
            continue;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "interfaceName");
        json_builder_add_string_value(b, iface->name);
        json_builder_set_member_name(b, "mac");
        json_builder_add_string_value(b, iface->mac);
        if (iface->addresses[0] != NULL) {
            json_builder_set_member_name(b, "ipAddress");
            json_builder_add_string_value(b, iface->addresses[0]);
            json_builder_set_member_name(b, "ipAddresses");
            json_builder_begin_array(b);
            for (guint j = 0; iface->addresses[j] != NULL; j++)
                json_builder_add_string_value(b, iface->addresses[j]);
            json_builder_end_array(b);
        }
        json_builder_set_member_name(b, "infoSource");
        json_builder_add_string_value(b, "guest-agent");
        json_builder_end_object(b);
    }
}

static gboolean
any_agent_only(PodvmPod *self, const GPtrArray *reported)
{
    for (guint i = 0; reported != NULL && i < reported->len; i++) {
        const PodvmQgaInterface *iface = g_ptr_array_index(reported, i);

        if (iface->mac != NULL)
            return TRUE;
    }
    return FALSE;
}

void
pod_net_add_status(PodvmPod *self, JsonBuilder *b)
{
    g_autoptr(GPtrArray) pod_ips = g_ptr_array_new_with_free_func(g_free);
    const GPtrArray *reported = pod_agent_interfaces(self);

    if (self->spec->interfaces->len == 0 && !any_agent_only(self, reported))
        return;
    json_builder_set_member_name(b, "interfaces");
    json_builder_begin_array(b);
    for (guint i = 0; i < self->spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(self->spec->interfaces, i);
        const PodvmSpecNetwork *network = pod_net_network_of(self->spec, iface->name);
        PodNetAttachment *a = pod_net_find_attachment(self->net, iface->name);
        g_autoptr(PodvmCniResult) result = a != NULL ? pod_net_parse_result(a) : NULL;
        g_autoptr(GPtrArray) guest_ips = g_ptr_array_new_with_free_func(g_free);
        guint8 mac[6];
        g_autofree char *mac_text = NULL;
        const PodvmQgaInterface *agent;

        podvm_spec_interface_mac(iface, self->spec->uid, mac);
        mac_text = podvm_mac_to_string(mac);
        if (result != NULL && iface->binding == PODVM_BINDING_MASQUERADE) {
            g_autofree char *guest4 = NULL, *guest6 = NULL;
            g_auto(GStrv) addresses = pod_net_result_addresses(result);

            if (podvm_binding_vm_addresses(pod_net_vm_cidr4(network), &guest4, NULL, NULL, NULL))
                g_ptr_array_add(guest_ips, g_steal_pointer(&guest4));
            for (guint j = 0; addresses[j] != NULL; j++) {
                if (strchr(addresses[j], ':') != NULL &&
                    podvm_binding_vm_addresses(pod_net_vm_cidr6(network), &guest6, NULL, NULL,
                                               NULL)) {
                    g_ptr_array_add(guest_ips, g_steal_pointer(&guest6));
                    break;
                }
            }
        } else if (result != NULL && (iface->binding == PODVM_BINDING_BRIDGE ||
                                      iface->binding == PODVM_BINDING_PASST)) {
            g_auto(GStrv) addresses = pod_net_result_addresses(result);

            for (guint j = 0; addresses[j] != NULL; j++)
                g_ptr_array_add(guest_ips, pod_net_strip_prefix(addresses[j]));
        } else if (a != NULL && iface->binding == PODVM_BINDING_SLIRP) {
            g_ptr_array_add(guest_ips, g_strdup(SLIRP_GUEST_ADDRESS));
        }
        if (result != NULL && network != NULL && network->source == PODVM_NETWORK_POD) {
            g_auto(GStrv) addresses = pod_net_result_addresses(result);

            for (guint j = 0; addresses[j] != NULL; j++)
                g_ptr_array_add(pod_ips, pod_net_strip_prefix(addresses[j]));
        }

        /* What the guest agent reports of this NIC (KubeVirt merges both the same way). */
        agent = agent_interface(reported, mac_text);
        for (guint j = 0; agent != NULL && agent->addresses[j] != NULL; j++) {
            if (!has_string(guest_ips, agent->addresses[j]))
                g_ptr_array_add(guest_ips, g_strdup(agent->addresses[j]));
        }

        g_ptr_array_sort(guest_ips, ipv4_first);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, iface->name);
        json_builder_set_member_name(b, "mac");
        json_builder_add_string_value(b, mac_text);
        json_builder_set_member_name(b, "binding");
        json_builder_add_string_value(b, podvm_binding_to_string(iface->binding));
        if (guest_ips->len > 0) {
            json_builder_set_member_name(b, "ipAddress");
            json_builder_add_string_value(b, g_ptr_array_index(guest_ips, 0));
            add_string_array(b, "ipAddresses", guest_ips);
        }
        if (a != NULL) {
            json_builder_set_member_name(b, "podInterfaceName");
            json_builder_add_string_value(b, a->pod_ifname);
            if (a->vf != NULL) {
                json_builder_set_member_name(b, "hostDevice");
                json_builder_add_string_value(b, a->vf);
            }
        }
        {
            g_autofree char *device_id = podvm_qemu_nic_device_id(iface->name);

            pod_hotplug_add_pending_status(self, b, "interface", iface->name, device_id);
        }
        if (agent != NULL) {
            json_builder_set_member_name(b, "interfaceName");
            json_builder_add_string_value(b, agent->name);
        }
        json_builder_set_member_name(b, "infoSource");
        json_builder_add_string_value(b, agent != NULL ? "domain, guest-agent" : "domain");
        json_builder_end_object(b);
    }
    add_agent_only(self, b, reported);
    json_builder_end_array(b);
    g_ptr_array_sort(pod_ips, ipv4_first);
    if (pod_ips->len > 0) {
        json_builder_set_member_name(b, "podIP");
        json_builder_add_string_value(b, g_ptr_array_index(pod_ips, 0));
        add_string_array(b, "podIPs", pod_ips);
    }
}

/* ---- counters ------------------------------------------------------------------------------- */

void
podvm_pod_network_stats_free(PodvmPodNetworkStats *stats)
{
    if (stats == NULL)
        return;
    g_free(stats->interface);
    g_free(stats);
}

typedef struct {
    int netns_fd;
    GPtrArray *names; /* iface names, then the taps' names, interleaved */
    GPtrArray *stats; /* of PodvmPodNetworkStats* */
} StatsWork;

static void
stats_work_free(StatsWork *work)
{
    if (work->netns_fd >= 0)
        close(work->netns_fd);
    g_ptr_array_unref(work->names);
    g_ptr_array_unref(work->stats);
    g_free(work);
}

static gboolean
stats_in_namespace(gpointer user_data, GError **error)
{
    StatsWork *work = user_data;
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    if (nl == NULL)
        return FALSE;
    for (guint i = 0; i + 1 < work->names->len; i += 2) {
        PodvmLinkInfo info;
        PodvmPodNetworkStats *stats;

        /* A tap being hot-plugged or unplugged right now: no counters this time. */
        if (!podvm_nl_link_get(nl, g_ptr_array_index(work->names, i + 1), &info, NULL))
            continue;
        /* A tap's rx is what the guest sent. */
        stats = g_new0(PodvmPodNetworkStats, 1);
        stats->interface = g_strdup(g_ptr_array_index(work->names, i));
        stats->rx_bytes = info.tx_bytes;
        stats->rx_packets = info.tx_packets;
        stats->tx_bytes = info.rx_bytes;
        stats->tx_packets = info.rx_packets;
        stats->rx_errors = info.tx_errors;
        stats->tx_errors = info.rx_errors;
        stats->rx_dropped = info.tx_dropped;
        stats->tx_dropped = info.rx_dropped;
        g_ptr_array_add(work->stats, stats);
    }
    return TRUE;
}

static void
stats_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    StatsWork *work = task_data;
    GError *error = NULL;

    if (!podvm_netns_run(work->netns_fd, stats_in_namespace, work, &error)) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, g_ptr_array_ref(work->stats), (GDestroyNotify)g_ptr_array_unref);
}

static GPtrArray *
no_stats(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)podvm_pod_network_stats_free);
}

void
podvm_pod_network_stats_async(PodvmPod *self, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    StatsWork *work;

    g_return_if_fail(PODVM_IS_POD(self));
    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_pod_network_stats_async);
    work = g_new0(StatsWork, 1);
    work->netns_fd = -1;
    work->names = g_ptr_array_new_with_free_func(g_free);
    work->stats = no_stats();
    g_task_set_task_data(task, work, (GDestroyNotify)stats_work_free);
    for (guint i = 0; i < self->net->attachments->len; i++) {
        const PodNetAttachment *a = g_ptr_array_index(self->net->attachments, i);
        const PodvmSpecInterface *iface = NULL;
        char bridge[16], tap[16];

        for (guint j = 0; j < self->spec->interfaces->len && iface == NULL; j++) {
            const PodvmSpecInterface *candidate = g_ptr_array_index(self->spec->interfaces, j);

            if (g_strcmp0(candidate->name, a->iface) == 0)
                iface = candidate;
        }
        /* Only these have a tap; the others' traffic never crosses a link of the namespace. */
        if (iface == NULL ||
            (iface->binding != PODVM_BINDING_MASQUERADE && iface->binding != PODVM_BINDING_BRIDGE))
            continue;
        podvm_binding_names(a->slot, bridge, tap);
        g_ptr_array_add(work->names, g_strdup(a->iface));
        g_ptr_array_add(work->names, g_strdup(tap));
    }
    if (work->names->len == 0 || !podvm_netns_exists(self->net->netns_path)) {
        g_task_return_pointer(task, no_stats(), (GDestroyNotify)g_ptr_array_unref);
        return;
    }
    work->netns_fd = podvm_netns_open(self->net->netns_path, NULL);
    if (work->netns_fd < 0) {
        /* Released between the check and the open. */
        g_task_return_pointer(task, no_stats(), (GDestroyNotify)g_ptr_array_unref);
        return;
    }
    g_task_run_in_thread(task, stats_thread);
}

GPtrArray *
podvm_pod_network_stats_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
