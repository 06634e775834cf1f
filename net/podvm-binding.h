/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-nft.h"
#include "podvm-spec.h"

G_BEGIN_DECLS

/*
 * One VM interface's binding, inside the pod's network namespace (call
 * these in podvm_netns_run()). What the guest is given is worked out from
 * the stored CNI result, never read back from the links, so a restarted
 * podvmd serves the same leases without touching anything.
 *
 *   masquerade: bridge pvbrN (10.0.2.1/24, fd10:0:2::1/120) + tap pvtapN;
 *               NAT in the "inet podvm" table (podvm-nft.h)
 *   bridge:     bridge pvbrN (169.254.75.10/32) + tap pvtapN + the pod
 *               interface, whose addresses move to the guest
 *   slirp, passt, sriov: nothing here (QEMU, passt or the VF do it)
 */

#define PODVM_BINDING_MAX_QUEUES 8
/* KubeVirt's bridge binding answers DHCP from this link-local address. */
#define PODVM_BINDING_BRIDGE_SERVER_ADDRESS "169.254.75.10"

typedef struct {
    /* in */
    guint slot;
    PodvmBinding binding;
    const char *pod_ifname; /* "eth0", "net1" */
    guint queues;           /* taps to open (multi-queue); 1 at least */
    const char *vm_cidr4;   /* masquerade: "10.0.2.0/24" */
    const char *vm_cidr6;   /* masquerade: "fd10:0:2::/120" */
    GStrv pod_addresses;    /* the CNI result's addresses, "10.66.0.5/16" */
    const PodvmNftPort *ports;
    guint n_ports;
    gboolean all_ports;

    /* out */
    char bridge[16];
    char tap[16];
    int tap_fds[PODVM_BINDING_MAX_QUEUES];
    guint n_tap_fds;
    int dhcp_fd;  /* -1 when none */
    int icmp6_fd; /* -1 when none */
    int dhcp6_fd; /* -1 when none */
    guint8 bridge_mac[6];
    guint mtu; /* the pod interface's */
} PodvmBindingSetup;

void podvm_binding_setup_init(PodvmBindingSetup *setup);
/* Closes the fds still held (after a failure, or ones nobody took). */
void podvm_binding_setup_clear(PodvmBindingSetup *setup);

/* The link names of slot @slot. */
void podvm_binding_names(guint slot, char bridge[16], char tap[16]);

/* The guest and gateway of a masquerade CIDR: "10.0.2.0/24" -> 10.0.2.2, 10.0.2.1, 24. */
gboolean podvm_binding_vm_addresses(const char *cidr, char **out_guest, char **out_gateway,
                                    guint *out_prefix, GError **error);

/* Creates the links, addresses and rules, and opens the taps and servers' sockets. */
gboolean podvm_binding_setup(PodvmBindingSetup *setup, GError **error);
/* Only the servers' sockets (and bridge MAC, MTU): for a pod adopted after a restart. */
gboolean podvm_binding_open_sockets(PodvmBindingSetup *setup, GError **error);
/* Removes what setup made for this slot (hot-unplug); the namespace's removal does it all. */
gboolean podvm_binding_teardown(const PodvmBindingSetup *setup, GError **error);

G_END_DECLS
