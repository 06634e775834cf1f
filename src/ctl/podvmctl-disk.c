/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl attach-disk POD -f FILE
 * podvmctl attach-disk POD --name NAME (--host-path PATH | --claim VOLUME | --empty-disk SIZE)
 *                          [--bus virtio|scsi|sata] [--cdrom] [--readonly] [--serial S]
 * podvmctl detach-disk POD DISK
 *
 * FILE (JSON or YAML) is what Pod.AttachDisk takes: {"disk": <a
 * devices.disks[] entry>, "volume": <a volumes[] entry>}. The flags build
 * the same document for the common cases, as virsh attach-disk does.
 */
#include "podvm-build-config.h"
#include "podvm-json.h"

#include <glib/gi18n.h>

#include "podvm-quantity.h"
#include "podvm-spec.h"
#include "podvmctl-util.h"

typedef struct {
    char *file;
    char *name;
    char *host_path;
    char *claim;
    char *empty_disk;
    char *bus;
    char *serial;
    gboolean cdrom;
    gboolean readonly;
} AttachOptions;

static void
attach_options_clear(AttachOptions *options)
{
    g_clear_pointer(&options->file, g_free);
    g_clear_pointer(&options->name, g_free);
    g_clear_pointer(&options->host_path, g_free);
    g_clear_pointer(&options->claim, g_free);
    g_clear_pointer(&options->empty_disk, g_free);
    g_clear_pointer(&options->bus, g_free);
    g_clear_pointer(&options->serial, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AttachOptions, attach_options_clear)

/* The bus named @text, by the spec's own names. */
static gboolean
disk_bus_from_string(const char *text, PodvmDiskBus *out_bus)
{
    for (PodvmDiskBus bus = PODVM_DISK_BUS_VIRTIO; bus <= PODVM_DISK_BUS_SATA; bus++) {
        if (g_str_equal(text, podvm_disk_bus_to_string(bus))) {
            *out_bus = bus;
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * The attachment document from the flags. Checks what the client can
 * check alone (one source, a known bus, a size with a unit); the daemon
 * validates the rest, as it does for -f.
 */
static char *
build_attachment(const AttachOptions *options, int *out_status)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    PodvmSpecDisk disk = { 0 };
    PodvmSpecVolume volume = { 0 };
    guint64 capacity = 0;
    guint sources = 0;

    if (options->name == NULL) {
        *out_status = podvmctl_usage_error("attach-disk", _("missing -f FILE or --name NAME"));
        return NULL;
    }
    if (!podvmctl_check_name_option("attach-disk", "--name", options->name, out_status))
        return NULL;
    sources =
        (options->host_path != NULL) + (options->claim != NULL) + (options->empty_disk != NULL);
    if (sources != 1) {
        *out_status = podvmctl_usage_error(
            "attach-disk", sources == 0 ? _("missing --host-path, --claim or --empty-disk")
                                        : _("--host-path, --claim and --empty-disk exclude "
                                            "each other"));
        return NULL;
    }
    /*
     * Without --bus a disk is on virtio, the kind's default; a cdrom goes on
     * scsi: the spec's default there is sata, which QEMU cannot hotplug, and
     * this command is made for hotplug.
     */
    disk.bus = options->cdrom ? PODVM_DISK_BUS_SCSI : PODVM_DISK_BUS_VIRTIO;
    if (options->bus != NULL && !disk_bus_from_string(options->bus, &disk.bus)) {
        *out_status = podvmctl_usage_error(
            "attach-disk", _("unknown bus '%s'; expected virtio, scsi or sata"), options->bus);
        return NULL;
    }
    if (options->claim != NULL &&
        !podvmctl_check_name_option("attach-disk", "--claim", options->claim, out_status))
        return NULL;
    if (options->empty_disk != NULL) {
        if (!podvm_quantity_parse_bytes(options->empty_disk, &capacity, &error)) {
            *out_status = podvmctl_usage_error("attach-disk", "--empty-disk: %s", error->message);
            return NULL;
        }
    }
    if (options->host_path != NULL && *options->host_path == '\0') {
        *out_status = podvmctl_usage_error("attach-disk", _("--host-path is empty"));
        return NULL;
    }

    /*
     * The document is written by the spec's own writers. A cdrom is
     * read-only, as the spec has it.
     */
    disk.name = options->name;
    disk.kind = options->cdrom ? PODVM_DISK_KIND_CDROM : PODVM_DISK_KIND_DISK;
    disk.readonly = options->readonly || options->cdrom;
    disk.serial = options->serial;
    volume.name = options->name;
    if (options->host_path != NULL) {
        /* podvmd runs elsewhere: a relative path means this shell's directory. */
        path = g_canonicalize_filename(options->host_path, NULL);
        volume.source = PODVM_VOLUME_HOST_DISK;
        volume.path = path;
    } else if (options->claim != NULL) {
        volume.source = PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM;
        volume.claim_name = options->claim;
        volume.readonly = options->readonly;
    } else {
        volume.source = PODVM_VOLUME_EMPTY_DISK;
        volume.capacity = capacity;
    }

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "disk");
    json_builder_add_value(builder, podvm_spec_disk_to_json(&disk));
    json_builder_set_member_name(builder, "volume");
    json_builder_add_value(builder, podvm_spec_volume_to_json(&volume));
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    return podvm_json_to_string(root, FALSE);
}

int
podvmctl_cmd_attach_disk(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_auto(AttachOptions) options = { 0 };
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *attachment = NULL;
    const char *pod_name;
    const char *disk_name = NULL;
    int status;
    const GOptionEntry entries[] = {
        { "filename", 'f', 0, G_OPTION_ARG_FILENAME, &options.file,
          N_("The attachment {\"disk\": …, \"volume\": …} (JSON or YAML; '-' reads stdin)"),
          N_("FILE") },
        { "name", 0, 0, G_OPTION_ARG_STRING, &options.name,
          N_("The disk's name (also its volume's)"), N_("NAME") },
        { "host-path", 0, 0, G_OPTION_ARG_FILENAME, &options.host_path,
          N_("Use this image file on the host (hostDisk)"), N_("PATH") },
        { "claim", 0, 0, G_OPTION_ARG_STRING, &options.claim,
          N_("Use this volume of the storage pool (persistentVolumeClaim)"), N_("VOLUME") },
        { "empty-disk", 0, 0, G_OPTION_ARG_STRING, &options.empty_disk,
          N_("Use a new blank disk of this size, deleted with the pod (emptyDisk)"), N_("SIZE") },
        { "bus", 0, 0, G_OPTION_ARG_STRING, &options.bus,
          N_("virtio, scsi or sata (default: virtio; scsi for --cdrom)"), N_("BUS") },
        { "cdrom", 0, 0, G_OPTION_ARG_NONE, &options.cdrom, N_("Attach as a CD-ROM"), NULL },
        { "readonly", 0, 0, G_OPTION_ARG_NONE, &options.readonly, N_("The guest cannot write"),
          NULL },
        { "serial", 0, 0, G_OPTION_ARG_STRING, &options.serial,
          N_("The serial number the guest sees"), N_("SERIAL") },
        { NULL },
    };

    if (!podvmctl_parse_options(
            "attach-disk", "POD",
            _("Hotplug a disk into a pod; returns once the guest has it. The pod's spec keeps "
              "the disk across restarts.\n"
              "Give the attachment as a file, {\"disk\": <a devices.disks[] entry>, "
              "\"volume\": <a volumes[] entry>}, or build it with --name and one of "
              "--host-path, --claim, --empty-disk."),
            entries, 1, 1, &argc, &argv, &status))
        return status;
    pod_name = argv[1];
    if (!podvmctl_check_name("attach-disk", pod_name, &status))
        return status;

    if (options.file != NULL) {
        if (options.name != NULL || options.host_path != NULL || options.claim != NULL ||
            options.empty_disk != NULL || options.bus != NULL || options.serial != NULL ||
            options.cdrom || options.readonly)
            return podvmctl_usage_error("attach-disk",
                                        _("-f FILE excludes --name, --host-path, --claim, "
                                          "--empty-disk, --bus, --cdrom, --readonly and "
                                          "--serial"));
        root = podvmctl_read_document(options.file, &attachment, &error);
        if (root == NULL)
            return podvmctl_fail_message("%s", error->message);
        disk_name =
            podvmctl_json_string(podvmctl_json_object(json_node_get_object(root), "disk"), "name");
    } else {
        attachment = build_attachment(&options, &status);
        if (attachment == NULL)
            return status;
        disk_name = options.name;
    }

    pod = podvmctl_get_pod(ctl, pod_name, &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    /* Hotplug waits for the guest and may create or import the disk first. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
    if (!podvm_dbus_pod_call_attach_disk_sync(pod, attachment, NULL, &error))
        return podvmctl_fail(ctl, error);

    g_print(_("disk %s attached to %s\n"), disk_name != NULL ? disk_name : "?", pod_name);
    return PODVMCTL_EXIT_OK;
}

int
podvmctl_cmd_detach_disk(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    const char *pod_name;
    const char *disk_name;
    int status;

    if (!podvmctl_parse_options("detach-disk", "POD DISK",
                                _("Unplug a disk from a pod and remove it from the pod's spec.\n"
                                  "On a running pod this waits until the guest lets the disk "
                                  "go."),
                                NULL, 2, 2, &argc, &argv, &status))
        return status;
    pod_name = argv[1];
    disk_name = argv[2];
    if (!podvmctl_check_name("detach-disk", pod_name, &status))
        return status;
    if (!podvmctl_check_name_option("detach-disk", NULL, disk_name, &status))
        return status;

    pod = podvmctl_get_pod(ctl, pod_name, &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    /* The daemon waits for the guest (DEVICE_DELETED) with its own timeout. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
    if (!podvm_dbus_pod_call_detach_disk_sync(pod, disk_name, NULL, &error))
        return podvmctl_fail(ctl, error);

    g_print(_("disk %s detached from %s\n"), disk_name, pod_name);
    return PODVMCTL_EXIT_OK;
}
