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

/*
 * A pool as podvmd.conf defines it: @name a DNS-1123 label, at least one PF,
 * each a valid interface name (1..15 bytes, no '/', ':', whitespace, not "."
 * or ".."), none twice. INVALID_ARGUMENT saying which otherwise.
 */
PodvmSriovPool *podvm_sriov_pool_new(const char *name, const char *const *physical_functions,
                                     GError **error);

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
/* Told of each sysfs write once it is done: @path is the file, @value what went in. */
typedef void (*PodvmSriovWroteFunc)(const char *path, const char *value, gpointer user_data);

typedef struct {
    const char *sysfs_root; /* "/sys" */
    const char *claim_dir;  /* one file per claimed VF, named by its PCI address */
    PodvmSriovSetVfFunc set_vf;
    gpointer set_vf_data;
    /*
     * NULL in podvmd. A fake sysfs tree plays the kernel here: binds the
     * device to the driver named in driver_override when drivers_probe is
     * written, drops the driver link when unbind is.
     */
    PodvmSriovWroteFunc wrote;
    gpointer wrote_data;
    const char *dev_root; /* "/dev" when NULL: where vfio/GROUP is */
} PodvmSriovHost;

/* The production set_vf: podvm_nl_vf_set() on a route socket opened for the call, in the
 * calling thread's namespace (podvmd's own: the PFs are the host's). In podvm-netlink-vf.c. */
gboolean podvm_sriov_set_vf_netlink(const char *pf_ifname, guint vf_index, const guint8 mac[6],
                                    guint vlan, gpointer user_data, GError **error);

/*
 * Claims a free VF of @pool for @owner (a pod uid + interface name), sets
 * its MAC and VLAN, binds it to vfio-pci (driver_override, unbind, probe).
 * BUSY when every VF is taken. Nothing is left claimed on failure.
 * The PFs are taken in the pool's order, their VFs by index; a VF that fails
 * a check (no IOMMU group, a group shared with another device, ...) is
 * passed over. @vlan is 0 (none) to 4095. Blocking (sysfs): call it in a thread.
 */
PodvmSriovVf *podvm_sriov_claim(const PodvmSriovHost *host, const PodvmSriovPool *pool,
                                const char *owner, const guint8 mac[6], guint vlan, GError **error);
/*
 * The same for the one VF @pci_address (the spec's sriov_host_address).
 * Refused before any write: INVALID_ARGUMENT for an address that is not
 * DDDD:BB:SS.F or a device that is no VF (a PF: no physfn link), NOT_FOUND
 * for no such device, PERMISSION_DENIED for a VF of a PF outside @pool,
 * BUSY for a VF already claimed.
 */
PodvmSriovVf *podvm_sriov_claim_address(const PodvmSriovHost *host, const PodvmSriovPool *pool,
                                        const char *pci_address, const char *owner,
                                        const guint8 mac[6], guint vlan, GError **error);
/*
 * Gives a VF back: unbinds it from vfio-pci, clears driver_override and its
 * MAC and VLAN, reprobes its original driver, removes the claim. Call it once
 * QEMU let go of the device (after its exit, or DEVICE_DELETED): the kernel's
 * unbind waits for vfio's users. A VF with no claim is fine (already given back).
 */
gboolean podvm_sriov_release(const PodvmSriovHost *host, const char *pci_address, GError **error);
/* The VFs @owner holds (after a restart), as PCI addresses, sorted. */
GStrv podvm_sriov_claims_of(const PodvmSriovHost *host, const char *owner);
/* Every claim: PCI address -> owner (for start-up, to give back what no pod holds any more).
 * A claim file that cannot be read is left out with a warning (and stays claimed). */
GHashTable *podvm_sriov_claims(const PodvmSriovHost *host);

/* The IOMMU group of the device @pci_address (the basename of its iommu_group link), checked. */
char *podvm_sriov_iommu_group(const PodvmSriovHost *host, const char *pci_address, GError **error);

/*
 * QEMU runs unprivileged and opens DEV/vfio/GROUP (the VF's IOMMU group) itself
 * (QEMU 7.2 takes no fd for it): grant gives that character device to
 * @uid:@gid, mode 0600; revoke gives it back to root. Refuses anything but a
 * character device there (no symlinks followed). QEMU also needs
 * RLIMIT_MEMLOCK above the guest's memory: vfio pins it.
 */
gboolean podvm_sriov_vfio_grant(const PodvmSriovHost *host, const char *iommu_group, guint uid,
                                guint gid, GError **error);
gboolean podvm_sriov_vfio_revoke(const PodvmSriovHost *host, const char *iommu_group,
                                 GError **error);

G_END_DECLS
