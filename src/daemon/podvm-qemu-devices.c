/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's device and block-node objects of a pod, their ids and node names
 * (see podvm-qemu-devices.h). Built with JsonBuilder, so every value is
 * escaped by construction and keys come out in a fixed order (the golden
 * argv files depend on it).
 */
#include "podvm-qemu-devices.h"

#include <glib/gi18n.h>
#include <string.h>

#include "podvm-error.h"

/* QEMU 7.2 keeps a node name in a 32-byte buffer: 31 characters and the NUL. */
#define NODE_NAME_MAX 31
#define NODE_NAME_HASH_DIGITS 8
/* The bus of the SCSI controller's only channel. */
#define SCSI_BUS PODVM_QEMU_SCSI_CONTROLLER_ID ".0"
/* A disk's device id: "disk-NAME". */
#define DISK_ID_PREFIX "disk-"

static void
member_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

static void
member_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void
member_bool(JsonBuilder *b, const char *name, gboolean value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, value);
}

/* -- the machine and its root ports -------------------------------------- */

gboolean
podvm_qemu_machine_is_q35(const char *machine_type)
{
    return g_strcmp0(machine_type, "q35") == 0 || g_str_has_prefix(machine_type, "pc-q35-");
}

char *
podvm_qemu_spare_root_port_id(guint index)
{
    return g_strdup_printf("podvm-rp%u", index);
}

/*
 * Eight pcie-root-ports per PCI slot (one per function, multifunction on
 * function 0, as libvirt packs them), from PODVM_QEMU_ROOT_PORT_SLOT on:
 * 32 ports take slots 0x10..0x13, so the slots QEMU assigns to devices
 * without an address (from 0x01 up) never reach them.
 */
JsonNode *
podvm_qemu_spare_root_port(guint index)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *id = podvm_qemu_spare_root_port_id(index);
    guint function = index % 8;
    g_autofree char *addr =
        g_strdup_printf("0x%x.%u", PODVM_QEMU_ROOT_PORT_SLOT + index / 8, function);

    json_builder_begin_object(b);
    member_string(b, "driver", "pcie-root-port");
    member_string(b, "id", id);
    member_string(b, "bus", "pcie.0");
    member_int(b, "chassis", index + 1);
    member_int(b, "port", PODVM_QEMU_ROOT_PORT_SLOT + index);
    member_string(b, "addr", addr);
    if (function == 0)
        member_bool(b, "multifunction", TRUE);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* -- disks -------------------------------------------------------------- */

char *
podvm_qemu_disk_node_name(const char *disk_name, gboolean format_node)
{
    const char *prefix = format_node ? "d-" : "f-";
    const int keep = NODE_NAME_MAX - 2 - 1 - NODE_NAME_HASH_DIGITS;
    g_autofree char *digest = NULL;

    g_return_val_if_fail(disk_name != NULL, NULL);

    if (strlen(prefix) + strlen(disk_name) <= NODE_NAME_MAX)
        return g_strconcat(prefix, disk_name, NULL);
    /*
     * The start of the name (for people reading query-named-block-nodes)
     * and a hash of all of it (so names sharing that start stay apart).
     * SHA-256 rather than g_str_hash(): a daemon restarted on another GLib
     * must find the nodes of running pods under the same names.
     */
    digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, disk_name, -1);
    return g_strdup_printf("%s%.*s-%.*s", prefix, keep, disk_name, NODE_NAME_HASH_DIGITS, digest);
}

char *
podvm_qemu_disk_device_id(const char *disk_name)
{
    g_return_val_if_fail(disk_name != NULL, NULL);

    /* QEMU ids have no short length limit; "disk-" makes the first character a letter. */
    return g_strconcat(DISK_ID_PREFIX, disk_name, NULL);
}

char *
podvm_qemu_disk_fdset_opaque(const char *disk_name)
{
    return g_strconcat("podvm:", disk_name, NULL);
}

char *
podvm_qemu_disk_name_from_device_id(const char *device_id)
{
    if (device_id == NULL || !g_str_has_prefix(device_id, DISK_ID_PREFIX) ||
        device_id[strlen(DISK_ID_PREFIX)] == '\0')
        return NULL;
    return g_strdup(device_id + strlen(DISK_ID_PREFIX));
}

/*
 * Read-only when the spec says so, for a cdrom, and when the medium can
 * only be read (a cloud-init ISO, a readOnly claim). The last is forced
 * rather than refused: KubeVirt manifests often attach the cloud-init ISO
 * as a plain disk, and a read-only disk is the truth about such a medium
 * (virtio-blk and scsi-hd tell the guest; only sata's ide-hd cannot, and
 * is refused in check_disk()).
 */
static gboolean
disk_read_only(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared)
{
    return disk->readonly || disk->kind == PODVM_DISK_KIND_CDROM || prepared->read_only;
}

/*
 * libvirt's mapping of cache modes: none = O_DIRECT, the others go through
 * the host page cache; writethrough also tells the guest there is no
 * volatile write cache (device "write-cache": "off"), so QEMU flushes after
 * every write. Not given: QEMU's defaults (writeback), nothing written.
 */
static void
member_cache(JsonBuilder *b, PodvmDiskCache cache)
{
    if (cache == PODVM_DISK_CACHE_DEFAULT)
        return;
    json_builder_set_member_name(b, "cache");
    json_builder_begin_object(b);
    member_bool(b, "direct", cache == PODVM_DISK_CACHE_NONE);
    member_bool(b, "no-flush", FALSE);
    json_builder_end_object(b);
}

static const char *
device_write_cache(PodvmDiskCache cache)
{
    switch (cache) {
    case PODVM_DISK_CACHE_NONE:
    case PODVM_DISK_CACHE_WRITEBACK:
        return "on";
    case PODVM_DISK_CACHE_WRITETHROUGH:
        return "off";
    case PODVM_DISK_CACHE_DEFAULT:
        break;
    }
    return NULL;
}

JsonNode *
podvm_qemu_disk_protocol_blockdev(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *node_name = NULL;

    g_return_val_if_fail(disk != NULL && disk->name != NULL, NULL);
    g_return_val_if_fail(prepared != NULL && prepared->filename != NULL, NULL);

    node_name = podvm_qemu_disk_node_name(disk->name, FALSE);
    json_builder_begin_object(b);
    member_string(b, "driver", prepared->block_device ? "host_device" : "file");
    member_string(b, "node-name", node_name);
    if (prepared->in_fdset) {
        /* The file podvmd opened, in the fd set -add-fd / add-fd gave QEMU. */
        g_autofree char *fdset = g_strdup_printf("/dev/fdset/%u", prepared->fdset);
        member_string(b, "filename", fdset);
    } else {
        /* A JSON string: commas and '=' in the path are just characters. */
        member_string(b, "filename", prepared->filename);
    }
    member_bool(b, "read-only", disk_read_only(disk, prepared));
    member_string(b, "discard", "unmap");
    member_cache(b, disk->cache);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
podvm_qemu_disk_format_blockdev(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *node_name = NULL;
    g_autofree char *file_node_name = NULL;

    g_return_val_if_fail(disk != NULL && disk->name != NULL, NULL);
    g_return_val_if_fail(prepared != NULL && prepared->format != NULL, NULL);

    node_name = podvm_qemu_disk_node_name(disk->name, TRUE);
    file_node_name = podvm_qemu_disk_node_name(disk->name, FALSE);
    json_builder_begin_object(b);
    /* Always explicit: QEMU never probes the format (RELIABILITY.md, security rule 2). */
    member_string(b, "driver", prepared->format);
    member_string(b, "node-name", node_name);
    member_string(b, "file", file_node_name);
    if (prepared->backing_in_fdset && prepared->backing_format != NULL) {
        /* The overlay's base, as podvmd opened it: QEMU never follows the header's path. */
        g_autofree char *fdset = g_strdup_printf("/dev/fdset/%u", prepared->backing_fdset);

        json_builder_set_member_name(b, "backing");
        json_builder_begin_object(b);
        member_string(b, "driver", prepared->backing_format);
        member_bool(b, "read-only", TRUE);
        json_builder_set_member_name(b, "file");
        json_builder_begin_object(b);
        member_string(b, "driver", "file");
        member_string(b, "filename", fdset);
        member_bool(b, "read-only", TRUE);
        json_builder_end_object(b);
        json_builder_end_object(b);
    }
    member_bool(b, "read-only", disk_read_only(disk, prepared));
    /* Discard is checked at every layer: without it here, the guest's discards stop at qcow2. */
    member_string(b, "discard", "unmap");
    member_cache(b, disk->cache);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Whether QEMU 7.2 can build this disk from this medium on this bus. */
static gboolean
check_disk(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared, guint unit, gboolean q35,
           GError **error)
{
    g_autoptr(GError) name_error = NULL;

    if (!podvm_name_is_valid(disk->name, &name_error)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, _("disk name: %s"),
                    name_error->message);
        return FALSE;
    }
    if (prepared->filename == NULL || !g_path_is_absolute(prepared->filename)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("volume '%s' was prepared without an absolute file name"), disk->name);
        return FALSE;
    }
    if (g_strcmp0(prepared->format, "raw") != 0 && g_strcmp0(prepared->format, "qcow2") != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("volume '%s' was prepared in format '%s': only raw and qcow2 are opened"),
                    disk->name, prepared->format != NULL ? prepared->format : "");
        return FALSE;
    }

    switch (disk->bus) {
    case PODVM_DISK_BUS_VIRTIO:
        if (disk->kind == PODVM_DISK_KIND_CDROM) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("cdrom '%s' cannot be on bus virtio: use sata or scsi"), disk->name);
            return FALSE;
        }
        break;
    case PODVM_DISK_BUS_SCSI:
        if (unit > PODVM_QEMU_SCSI_MAX_LUN) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("disk '%s': more than %d scsi disks"), disk->name,
                        PODVM_QEMU_SCSI_MAX_LUN + 1);
            return FALSE;
        }
        break;
    case PODVM_DISK_BUS_SATA:
        if (unit >= (q35 ? PODVM_QEMU_Q35_SATA_PORTS : PODVM_QEMU_PC_IDE_UNITS)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("disk '%s': the machine has %d sata ports; put the other disks on "
                          "virtio or scsi"),
                        disk->name, q35 ? PODVM_QEMU_Q35_SATA_PORTS : PODVM_QEMU_PC_IDE_UNITS);
            return FALSE;
        }
        /* QEMU 7.2's ide-hd refuses a read-only node ("Block node is read-only"). */
        if (disk->kind != PODVM_DISK_KIND_CDROM && disk_read_only(disk, prepared)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        prepared->read_only
                            ? _("disk '%s': its volume can only be read, and a sata disk cannot "
                                "be read-only: use bus virtio or scsi, or a cdrom")
                            : _("disk '%s': a sata disk cannot be read-only: use bus virtio or "
                                "scsi, or a cdrom"),
                        disk->name);
            return FALSE;
        }
        break;
    default:
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, _("disk '%s': unknown bus %d"),
                    disk->name, (int)disk->bus);
        return FALSE;
    }

    if (disk->kind == PODVM_DISK_KIND_LUN) {
        /* scsi-block passes SCSI commands through to the host device (SG_IO). */
        if (disk->bus != PODVM_DISK_BUS_SCSI) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("lun '%s' must be on bus scsi"), disk->name);
            return FALSE;
        }
        if (!prepared->block_device || strcmp(prepared->format, "raw") != 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("lun '%s' needs a raw host block device; use disk"), disk->name);
            return FALSE;
        }
        /* scsi-block has no serial property: the guest sees the device's own. */
        if (disk->serial != NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("lun '%s' cannot have a serial: the guest sees the host device's own"),
                        disk->name);
            return FALSE;
        }
    }
    return TRUE;
}

/* The machine type only matters for sata: q35's AHCI or pc's IDE. */
static JsonNode *
disk_device(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared, const char *pci_bus,
            guint unit, gboolean q35, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *id = NULL;
    g_autofree char *drive = NULL;
    g_autofree char *ide_bus = NULL;
    const char *write_cache = device_write_cache(disk->cache);

    if (!check_disk(disk, prepared, unit, q35, error))
        return NULL;
    id = podvm_qemu_disk_device_id(disk->name);
    drive = podvm_qemu_disk_node_name(disk->name, TRUE);

    json_builder_begin_object(b);
    switch (disk->bus) {
    case PODVM_DISK_BUS_VIRTIO:
        member_string(b, "driver", "virtio-blk-pci");
        member_string(b, "id", id);
        member_string(b, "drive", drive);
        if (pci_bus != NULL)
            member_string(b, "bus", pci_bus);
        break;
    case PODVM_DISK_BUS_SCSI:
        member_string(b, "driver",
                      disk->kind == PODVM_DISK_KIND_LUN     ? "scsi-block"
                      : disk->kind == PODVM_DISK_KIND_CDROM ? "scsi-cd"
                                                            : "scsi-hd");
        member_string(b, "id", id);
        member_string(b, "drive", drive);
        /* libvirt's addressing: one target, a LUN per disk. */
        member_string(b, "bus", SCSI_BUS);
        member_int(b, "channel", 0);
        member_int(b, "scsi-id", 0);
        member_int(b, "lun", unit);
        /* scsi-block has no write-cache property: the host device decides. */
        if (disk->kind == PODVM_DISK_KIND_LUN)
            write_cache = NULL;
        break;
    case PODVM_DISK_BUS_SATA:
        member_string(b, "driver", disk->kind == PODVM_DISK_KIND_CDROM ? "ide-cd" : "ide-hd");
        member_string(b, "id", id);
        member_string(b, "drive", drive);
        if (q35) {
            ide_bus = g_strdup_printf("ide.%u", unit);
            member_string(b, "bus", ide_bus);
        } else {
            ide_bus = g_strdup_printf("ide.%u", unit / 2);
            member_string(b, "bus", ide_bus);
            member_int(b, "unit", unit % 2);
        }
        break;
    }
    if (disk->boot_order > 0)
        member_int(b, "bootindex", disk->boot_order);
    if (disk->serial != NULL)
        member_string(b, "serial", disk->serial);
    if (write_cache != NULL)
        member_string(b, "write-cache", write_cache);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
podvm_qemu_disk_device(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared,
                       const char *pci_bus, guint sata_unit, GError **error)
{
    g_return_val_if_fail(disk != NULL, NULL);
    g_return_val_if_fail(prepared != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    /* Hotplug only happens on q35 (pc pods have no spare root ports). */
    return disk_device(disk, prepared, pci_bus, sata_unit, TRUE, error);
}

JsonNode *
podvm_qemu_disk_device_for_machine(const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared,
                                   const char *pci_bus, guint sata_unit, gboolean q35,
                                   GError **error)
{
    g_return_val_if_fail(disk != NULL, NULL);
    g_return_val_if_fail(prepared != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    return disk_device(disk, prepared, pci_bus, sata_unit, q35, error);
}

JsonNode *
podvm_qemu_scsi_controller(const char *pci_bus)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    member_string(b, "driver", "virtio-scsi-pci");
    member_string(b, "id", PODVM_QEMU_SCSI_CONTROLLER_ID);
    if (pci_bus != NULL)
        member_string(b, "bus", pci_bus);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
podvm_qemu_virtio_serial_controller(const char *controller_id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    member_string(b, "driver", "virtio-serial-pci");
    member_string(b, "id", controller_id);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
podvm_qemu_virtio_serial_port(const char *controller_id, const char *chardev, const char *name,
                              const char *id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *bus = g_strconcat(controller_id, ".0", NULL);

    json_builder_begin_object(b);
    member_string(b, "driver", "virtserialport");
    member_string(b, "bus", bus);
    member_string(b, "chardev", chardev);
    member_string(b, "name", name);
    member_string(b, "id", id);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

gboolean
podvm_qemu_has_balloon(const PodvmSpec *spec)
{
    return spec->autoattach_mem_balloon && !podvm_spec_uses_app_guest(spec);
}
