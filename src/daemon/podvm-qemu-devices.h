/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The JSON objects of QEMU's devices and block nodes, and the ids and
 * node names podvm gives them, with their inverses: one home for the boot
 * argv (podvm-qemu-argv.c), hotplug (podvm-pod-disks.c) and what reads
 * QEMU's answers back (podvm-metrics.c). The same objects serve
 * -blockdev/-device at boot and blockdev-add/device_add when hotplugging,
 * so boot and hotplug cannot drift apart.
 */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "podvm-spec.h"
#include "podvm-storage.h"

G_BEGIN_DECLS

/* "q35" or a versioned "pc-q35-X.Y". */
gboolean podvm_qemu_machine_is_q35(const char *machine_type);

/*
 * q35 cannot hotplug a root port, so a q35 pod starts with spare
 * pcie-root-ports for hotplug ([qemu] spare_root_ports): ids
 * podvm_qemu_spare_root_port_id(0..N-1), at PCI slots
 * PODVM_QEMU_ROOT_PORT_SLOT.. of pcie.0, eight functions per slot
 * (multifunction on function 0). Other machine types get none.
 */
#define PODVM_QEMU_SPARE_ROOT_PORTS 4 /* the default of [qemu] spare_root_ports */
#define PODVM_QEMU_MAX_SPARE_ROOT_PORTS 32
#define PODVM_QEMU_ROOT_PORT_SLOT 0x10

/* "podvm-rp0", "podvm-rp1", ... */
char *podvm_qemu_spare_root_port_id(guint index);
/* The -device object of spare root port @index (see above). */
JsonNode *podvm_qemu_spare_root_port(guint index);

/* virtio-scsi answers LUNs 0..16383 on a target. */
#define PODVM_QEMU_SCSI_MAX_LUN 16383
/* q35's built-in ICH9 AHCI: six ports, buses ide.0..ide.5, one device each. */
#define PODVM_QEMU_Q35_SATA_PORTS 6
/* pc's built-in PIIX IDE: buses ide.0 and ide.1, two units (master, slave) each. */
#define PODVM_QEMU_PC_IDE_UNITS 4

/*
 * Disks. Node names and ids come from the disk name only (a DNS-1123
 * label), within QEMU's 31-character node-name limit: names too long are
 * shortened and given a hash suffix, so they stay unique and stable across
 * daemon restarts.
 *   protocol node  "f-NAME"     (driver file, or host_device)
 *   format node    "d-NAME"     (driver raw or qcow2)
 *   device id      "disk-NAME"
 */
char *podvm_qemu_disk_node_name(const char *disk_name, gboolean format_node);
char *podvm_qemu_disk_device_id(const char *disk_name);
/*
 * The inverse of podvm_qemu_disk_device_id(): the disk name in a device id
 * "disk-NAME", or NULL when @device_id is not a disk's (NULL, another
 * prefix, nothing after it).
 */
char *podvm_qemu_disk_name_from_device_id(const char *device_id);
/*
 * The opaque text of the fd sets QEMU holds for a disk's files ("podvm:NAME",
 * -add-fd at boot, add-fd when hotplugging): query-fdsets shows it, so the
 * sets of a disk are found again after a daemon restart.
 */
char *podvm_qemu_disk_fdset_opaque(const char *disk_name);
/*
 * {"driver": "file"|"host_device", "node-name", "filename", "read-only", "discard": "unmap",
 *  "cache": {"direct", "no-flush"} (only when the disk gives a cache mode)}
 * filename is "/dev/fdset/N" when podvmd opened the file (prepared->in_fdset).
 * read-only is explicit (never auto-read-only): TRUE for a readonly disk, a
 * cdrom, or a medium that can only be read (prepared->read_only: that one is
 * forced rather than refused, so a cloud-init ISO attached as a disk works).
 * These two builders check nothing: call podvm_qemu_disk_device() first.
 */
JsonNode *podvm_qemu_disk_protocol_blockdev(const PodvmSpecDisk *disk,
                                            const PodvmPreparedVolume *prepared);
/*
 * {"driver": FORMAT, "node-name", "file": protocol node, "read-only", "discard", "cache"},
 * and "backing" (the base podvmd opened, in its fd set) for an overlay whose base is.
 */
JsonNode *podvm_qemu_disk_format_blockdev(const PodvmSpecDisk *disk,
                                          const PodvmPreparedVolume *prepared);
/*
 * The -device / device_add object: virtio-blk-pci, scsi-hd, scsi-cd,
 * scsi-block, ide-hd or ide-cd, with drive, id, bootindex, serial,
 * write-cache (cache none/writeback: on, writethrough: off).
 * @pci_bus: for virtio-blk-pci, the bus to plug into (a spare root port
 * when hotplugging), or NULL for the boot-time placement.
 * @sata_unit: the unit on the disk's bus: for sata the AHCI port (q35's
 * ide.N, 0..5), for scsi the LUN on PODVM_QEMU_SCSI_CONTROLLER_ID's bus
 * (0..16383); ignored for virtio.
 * It also checks what the blockdev builders assume: INVALID_SPEC when the
 * combination cannot be (lun on a non-block or non-raw source, lun off the
 * scsi bus or with a serial, cdrom on virtio, a read-only sata disk (QEMU's
 * ide-hd refuses it), a unit out of range); INVALID_ARGUMENT when @prepared
 * is not raw or qcow2 or has no absolute filename. (sata hotplug is refused by the caller.)
 * The machine is q35 (hotplug only happens there).
 */
JsonNode *podvm_qemu_disk_device(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared,
                                 const char *pci_bus, guint sata_unit, GError **error);
/* The same for machine type q35 (@q35) or pc: sata is q35's AHCI or pc's IDE. */
JsonNode *podvm_qemu_disk_device_for_machine(const PodvmSpecDisk *disk,
                                             const PodvmPreparedVolume *prepared,
                                             const char *pci_bus, guint sata_unit, gboolean q35,
                                             GError **error);
/* The SCSI controller every scsi disk hangs on: {"driver": "virtio-scsi-pci", "id": "podvm-scsi0"}
 * (+ "bus" when given). */
#define PODVM_QEMU_SCSI_CONTROLLER_ID "podvm-scsi0"

/*
 * The memory balloon (virtio-balloon-pci) of VM pods, as KubeVirt's
 * autoattachMemBalloon: the guest's memory statistics for /metrics
 * (podvm_pod_balloon_stats_async()). App pods have none.
 */
#define PODVM_QEMU_BALLOON_ID "balloon0"
#define PODVM_QEMU_BALLOON_PATH "/machine/peripheral/" PODVM_QEMU_BALLOON_ID
gboolean podvm_qemu_has_balloon(const PodvmSpec *spec);
JsonNode *podvm_qemu_scsi_controller(const char *pci_bus);

/*
 * A virtio-serial channel: its controller {"driver": "virtio-serial-pci",
 * "id": @controller_id} and the port on it {"driver": "virtserialport",
 * "bus": "@controller_id.0", "chardev": @chardev, "name": @name, "id": @id}
 * (the guest sees /dev/virtio-ports/@name). The app guest's channel and the
 * guest agent's.
 */
JsonNode *podvm_qemu_virtio_serial_controller(const char *controller_id);
JsonNode *podvm_qemu_virtio_serial_port(const char *controller_id, const char *chardev,
                                        const char *name, const char *id);

/* The guest agent's channel: its chardev and device ids, and the port's name. */
#define PODVM_QEMU_GUEST_AGENT_CHARDEV "qga0"
#define PODVM_QEMU_GUEST_AGENT_SERIAL "qgaserial"
#define PODVM_QEMU_GUEST_AGENT_PORT "org.qemu.guest_agent.0"

G_END_DECLS
