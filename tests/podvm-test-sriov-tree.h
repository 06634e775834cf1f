/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A fake sysfs tree for SR-IOV tests, laid out as the kernel lays it out:
 * devices/pci0000:00/ADDR with bus/pci/devices/ADDR links, a PF's net/IFNAME
 * and class/net/IFNAME, physfn and virtfnN links, iommu_group links and
 * kernel/iommu_groups/N/devices, driver links, driver_override, each
 * driver's unbind and bus/pci/drivers_probe. The kernel's side of a write
 * is played by podvm_test_sriov_tree_wrote() (in the writing process, the
 * library's "wrote" hook) or, for another process such as podvmd, by a
 * thread serving FIFOs in place of the unbind and drivers_probe files
 * (podvm_test_sriov_kernel_start()).
 */
#include <glib.h>

G_BEGIN_DECLS

/* The VFs' own driver in the tree. */
#define PODVM_TEST_SRIOV_VF_DRIVER "ixgbevf"

void podvm_test_sriov_mkdirs(const char *root, const char *rel);
void podvm_test_sriov_touch(const char *root, const char *rel);
void podvm_test_sriov_symlink(const char *root, const char *rel, const char *target);
/* The content of ROOT/@rel, or NULL. */
char *podvm_test_sriov_read(const char *root, const char *rel);
/* The basename of a device's driver link, or NULL. */
char *podvm_test_sriov_driver_of(const char *root, const char *addr);
void podvm_test_sriov_set_driver(const char *root, const char *addr, const char *driver);
void podvm_test_sriov_add_device(const char *root, const char *addr, const char *driver,
                                 guint group);
/*
 * The drivers (ixgbevf, vfio-pci, ixgbe: unbind files), drivers_probe and
 * class/net: a tree with no device yet.
 */
void podvm_test_sriov_tree_base(const char *root);
/* A PF @ifname at @pf_addr (IOMMU group @group) with four VFs VF_PREFIX.0-3 on ixgbevf
 * (groups @group + 1 ...). */
void podvm_test_sriov_add_pf(const char *root, const char *ifname, const char *pf_addr,
                             const char *vf_prefix, guint group);

/*
 * The kernel's side of writing @value to ROOT/@rel: an unbind drops the
 * driver link (asserting the device was on that driver), a probe binds an
 * unbound device to the driver in its driver_override (vfio-pci only when
 * @vfio_loaded), else to the VF driver.
 */
void podvm_test_sriov_tree_wrote(const char *root, const char *rel, const char *value,
                                 gboolean vfio_loaded);

/*
 * The kernel for another process: the unbind files of the VF driver and
 * vfio-pci and drivers_probe become FIFOs that a thread serves. A writer of
 * drivers_probe waits in open() until the thread took the unbind before
 * it, and the thread binds a device unbound from its own driver with
 * driver_override "vfio-pci" before it lets that probe in, so the writer
 * sees the result as it would from the kernel. Every write is recorded
 * ("REL=VALUE").
 */
typedef struct _PodvmTestSriovKernel PodvmTestSriovKernel;
PodvmTestSriovKernel *podvm_test_sriov_kernel_start(const char *root);
/* The writes so far, a NULL-terminated copy. */
GStrv podvm_test_sriov_kernel_writes(PodvmTestSriovKernel *kernel);
/* After each unbind, "claimed=ADDR" is recorded too when @claim_dir/ADDR exists. */
void podvm_test_sriov_kernel_watch_claims(PodvmTestSriovKernel *kernel, const char *claim_dir);
void podvm_test_sriov_kernel_stop(PodvmTestSriovKernel *kernel);

G_END_DECLS
