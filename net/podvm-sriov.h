/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * SR-IOV: virtual functions of an administrator's pool of physical
 * functions (podvmd.conf "[sriov-pool NAME] physical_functions=PF;PF"),
 * handed to a pod as vfio-pci devices. Everything goes through sysfs under
 * a configurable root ("/sys"; tests point it at a fake tree) and is
 * checked before any write: a strict PCI address grammar, the VF's physfn
 * link naming a PF of the pool, its IOMMU group. Which VF a pod holds is
 * recorded in a claim file per VF (in a directory podvmd gives), so two
 * pods never get the same VF and a restarted podvmd knows them.
 */

typedef struct {
    char *name;
    GStrv physical_functions; /* netdev names of the PFs */
} PodvmSriovPool;

void podvm_sriov_pool_free(PodvmSriovPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSriovPool, podvm_sriov_pool_free)

typedef struct {
    char *pci_address;     /* "0000:3b:02.1" */
    char *pf_ifname;       /* the PF it belongs to */
    guint vf_index;        /* its index on the PF */
    char *iommu_group;     /* the group number */
    char *original_driver; /* what it was bound to before, or NULL */
} PodvmSriovVf;

void podvm_sriov_vf_free(PodvmSriovVf *vf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSriovVf, podvm_sriov_vf_free)

/* "0000:3b:02.1": exactly DDDD:BB:SS.F in lowercase hex (function 0-7); nothing else. */
gboolean podvm_pci_address_is_valid(const char *text);

/* Sets a VF's MAC and VLAN on its PF (netlink in production, a fake in tests). */
typedef gboolean (*PodvmSriovSetVfFunc)(const char *pf_ifname, guint vf_index, const guint8 mac[6],
                                        guint vlan, gpointer user_data, GError **error);

typedef struct {
    const char *sysfs_root; /* "/sys" */
    const char *claim_dir;  /* one file per claimed VF, named by its PCI address */
    PodvmSriovSetVfFunc set_vf;
    gpointer set_vf_data;
} PodvmSriovHost;

/*
 * Claims a free VF of @pool for @owner (a pod uid + interface name), sets
 * its MAC and VLAN, binds it to vfio-pci (driver_override, unbind, probe).
 * BUSY when every VF is taken. Nothing is left claimed on failure.
 */
PodvmSriovVf *podvm_sriov_claim(const PodvmSriovHost *host, const PodvmSriovPool *pool,
                                const char *owner, const guint8 mac[6], guint vlan, GError **error);
/* Gives a VF back: unbinds it from vfio-pci, restores its driver, removes the claim. */
gboolean podvm_sriov_release(const PodvmSriovHost *host, const char *pci_address, GError **error);
/* The VFs @owner holds (after a restart), as PCI addresses. */
GStrv podvm_sriov_claims_of(const PodvmSriovHost *host, const char *owner);

G_END_DECLS
