/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "podvm-sriov.h"

G_BEGIN_DECLS

/*
 * What podvm-sriov.c (pools, claims, claim and release) and
 * podvm-sriov-sysfs.c (names, the sysfs tree: checks before any write, the
 * vfio-pci binding and its undoing) share. Not a contract.
 */

/* podvm_pci_address_is_valid() with INVALID_ARGUMENT saying what is expected. */
gboolean podvm_sriov_check_pci_address(const char *text, GError **error);
/* A driver's name as sysfs shows it ("ixgbevf", "vfio-pci", "mlx5_core"). */
gboolean podvm_sriov_driver_name_is_valid(const char *name);

/* The PCI address of the PF @ifname (the device link of SYSFS/class/net/IFNAME). */
char *podvm_sriov_pf_address(const PodvmSriovHost *host, const char *ifname, GError **error);

typedef struct {
    guint index;   /* N of virtfnN */
    char *address; /* checked */
} PodvmSriovVfEntry;
void podvm_sriov_vf_entry_clear(PodvmSriovVfEntry *entry);
/* The VFs of the PF at @pf_addr (its virtfnN links), by index: a GArray of PodvmSriovVfEntry. */
GArray *podvm_sriov_pf_vfs(const PodvmSriovHost *host, const char *pf_ifname, const char *pf_addr,
                           GError **error);

/*
 * That @address is a VF: the device exists and has a physfn link;
 * *@out_pf_addr is its PF's PCI address. INVALID_ARGUMENT for a bad address
 * or a device with no physfn (a PF), NOT_FOUND for no such device. Reads only.
 */
gboolean podvm_sriov_check_is_vf(const PodvmSriovHost *host, const char *address,
                                 char **out_pf_addr, GError **error);
/*
 * That the VF @address can go to vfio: an IOMMU group it has alone;
 * *@out_group is the group, *@out_driver its driver now (NULL: none). Reads only.
 */
gboolean podvm_sriov_check_vf_usable(const PodvmSriovHost *host, const char *address,
                                     char **out_group, char **out_driver, GError **error);

/*
 * Binds @vf to vfio-pci: driver_override, unbind from its driver, probe;
 * then checks that vfio-pci took it. A VF already on vfio-pci is left as it is.
 */
gboolean podvm_sriov_bind_vfio(const PodvmSriovHost *host, const PodvmSriovVf *vf, GError **error);
/*
 * Undoes podvm_sriov_bind_vfio() and the MAC/VLAN (when @pf_ifname is not
 * NULL): off vfio-pci (unless that is where the VF was), driver_override
 * cleared, MAC and VLAN cleared (a warning if the PF refuses), the original
 * driver probed again. Goes on past a failed step and reports the first.
 */
gboolean podvm_sriov_restore(const PodvmSriovHost *host, const char *address, const char *pf_ifname,
                             gint64 vf_index, const char *original_driver, GError **error);

G_END_DECLS
