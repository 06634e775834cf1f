/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disks (spec.domain.devices.disks) and volumes (spec.volumes): each disk
 * shows the volume of its name. Also the attachment document's disk and
 * volume, read by podvm_spec_parse_disk_attachment().
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-image-ref.h"

/* Indexed by PodvmDiskBus, PodvmDiskKind and PodvmVolumeSource. */
static const char *const disk_bus_names[] = { "virtio", "scsi", "sata" };
static const char *const disk_kind_names[] = { "disk", "cdrom", "lun" };
static const char *const volume_source_names[] = {
    "hostDisk",
    "emptyDisk",
    "ephemeral",
    "containerDisk",
    "cloudInitNoCloud",
    "cloudInitConfigDrive",
    "persistentVolumeClaim",
    "dataVolume",
};

const char *
podvm_disk_bus_to_string(PodvmDiskBus bus)
{
    g_return_val_if_fail((guint)bus < G_N_ELEMENTS(disk_bus_names), "virtio");
    return disk_bus_names[bus];
}

const char *
podvm_disk_kind_to_string(PodvmDiskKind kind)
{
    g_return_val_if_fail((guint)kind < G_N_ELEMENTS(disk_kind_names), "disk");
    return disk_kind_names[kind];
}

const char *
podvm_volume_source_to_string(PodvmVolumeSource source)
{
    g_return_val_if_fail((guint)source < G_N_ELEMENTS(volume_source_names), "hostDisk");
    return volume_source_names[source];
}

/* An absolute host (or image) path without ".." components or control characters. */
static char *
read_absolute_path(Parser *p, const char *path, JsonNode *node)
{
    const char *text = spec_read_string(p, path, node);
    g_auto(GStrv) components = NULL;
    guint i;

    if (text == NULL)
        return NULL;
    if (spec_has_control_character(text, FALSE)) {
        spec_add_problem_literal(p, path, _("must not contain control characters"));
        return NULL;
    }
    if (!g_path_is_absolute(text)) {
        g_autofree char *quoted = podvm_quote_for_message(text);
        spec_add_problem(p, path, _("%s is not an absolute path: write it from \"/\""), quoted);
        return NULL;
    }
    components = g_strsplit(text, "/", -1);
    for (i = 0; components[i] != NULL; i++) {
        if (strcmp(components[i], "..") == 0) {
            g_autofree char *quoted = podvm_quote_for_message(text);
            spec_add_problem(p, path, _("%s has a \"..\" component: write the path without it"),
                             quoted);
            return NULL;
        }
    }
    return g_strdup(text);
}

static gboolean
disk_serial_is_valid(const char *serial)
{
    const char *c;

    if (*serial == '\0' || strlen(serial) > MAX_DISK_SERIAL)
        return FALSE;
    for (c = serial; *c != '\0'; c++) {
        if (!g_ascii_isalnum(*c) && strchr("_.+-", *c) == NULL)
            return FALSE;
    }
    return TRUE;
}

/* The disk: {...}, cdrom: {...} or lun: {...} member of a disk. */
static void
parse_disk_target(Parser *p, const char *path, JsonNode *node, PodvmSpecDisk *disk)
{
    static const Field disk_fields[] = {
        { "bus", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "pciAddress", FIELD_NOT_YET, NULL },
    };
    static const Field cdrom_fields[] = {
        { "bus", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "tray", FIELD_NOT_YET, NULL },
    };
    static const Field lun_fields[] = {
        { "bus", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "reservation", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    g_autofree char *bus_path = spec_path_member(path, "bus");
    g_autofree char *readonly_path = spec_path_member(path, "readonly");
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    switch (disk->kind) {
    case PODVM_DISK_KIND_CDROM:
        CHECK_MEMBERS(p, path, object, cdrom_fields);
        break;
    case PODVM_DISK_KIND_LUN:
        CHECK_MEMBERS(p, path, object, lun_fields);
        break;
    case PODVM_DISK_KIND_DISK:
    default:
        CHECK_MEMBERS(p, path, object, disk_fields);
        break;
    }

    if ((child = spec_member(object, "bus")) != NULL) {
        const char *text = spec_read_string(p, bus_path, child);
        guint bus = 0;

        if (text != NULL &&
            !spec_parse_enum(text, disk_bus_names, G_N_ELEMENTS(disk_bus_names), &bus)) {
            g_autofree char *quoted = podvm_quote_for_message(text);
            spec_add_problem(p, bus_path, _("unknown bus %s; expected virtio, scsi or sata"),
                             quoted);
        } else if (text != NULL) {
            disk->bus = (PodvmDiskBus)bus;
            if (disk->kind == PODVM_DISK_KIND_CDROM && disk->bus == PODVM_DISK_BUS_VIRTIO)
                spec_add_problem_literal(
                    p, bus_path, _("a cdrom cannot be on the virtio bus; use sata or scsi"));
            else if (disk->kind == PODVM_DISK_KIND_LUN && disk->bus != PODVM_DISK_BUS_SCSI)
                spec_add_problem(p, bus_path,
                                 _("a lun is a SCSI device: it cannot be on the %s bus; "
                                   "use scsi"),
                                 text);
        }
    }

    if ((child = spec_member(object, "readonly")) != NULL) {
        gboolean readonly = FALSE;

        if (spec_read_bool(p, readonly_path, child, &readonly)) {
            if (disk->kind == PODVM_DISK_KIND_CDROM && !readonly)
                spec_add_problem_literal(p, readonly_path, _("a cdrom is always read-only"));
            else
                disk->readonly = readonly;
        }
    }
}

PodvmSpecDisk *
spec_parse_disk(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "disk", FIELD_KNOWN, NULL },
        { "cdrom", FIELD_KNOWN, NULL },
        { "lun", FIELD_KNOWN, NULL },
        { "bootOrder", FIELD_KNOWN, NULL },
        { "serial", FIELD_KNOWN, NULL },
        { "cache", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "dedicatedIOThread", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "io", FIELD_NOT_YET, NULL },
        { "blockSize", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "shareable", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "tag", FIELD_NOT_YET, NULL },
        { "errorPolicy", FIELD_NOT_YET, NULL },
    };
    /* Indexed by PodvmDiskKind; the bus each kind gets when none is given (as KubeVirt). */
    static const PodvmDiskBus default_bus[] = {
        PODVM_DISK_BUS_VIRTIO,
        PODVM_DISK_BUS_SATA,
        PODVM_DISK_BUS_SCSI,
    };
    g_autoptr(PodvmSpecDisk) disk = g_new0(PodvmSpecDisk, 1);
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;
    guint n_kinds = 0;
    gsize i;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    disk->name =
        spec_read_required_name(p, path, object, _("required: the name of the volume it shows"));

    /* None of disk, cdrom and lun: a disk with the defaults, as in KubeVirt. */
    disk->kind = PODVM_DISK_KIND_DISK;
    for (i = 0; i < G_N_ELEMENTS(disk_kind_names); i++) {
        if (spec_member(object, disk_kind_names[i]) == NULL)
            continue;
        if (n_kinds++ == 0)
            disk->kind = (PodvmDiskKind)i;
    }
    if (n_kinds > 1)
        spec_add_problem_literal(p, path, _("give only one of disk, cdrom and lun"));
    disk->bus = default_bus[disk->kind];
    disk->readonly = disk->kind == PODVM_DISK_KIND_CDROM;
    child = spec_member(object, disk_kind_names[disk->kind]);
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, disk_kind_names[disk->kind]);
        parse_disk_target(p, child_path, child, disk);
    }

    if ((child = spec_member(object, "readonly")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "readonly");
        spec_add_problem(p, child_path, _("unknown field: write %s.readonly, as KubeVirt does"),
                         disk_kind_names[disk->kind]);
    }

    if ((child = spec_member(object, "bootOrder")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "bootOrder");
        gint64 value = 0;

        if (spec_read_integer(p, child_path, child, 1, MAX_BOOT_ORDER,
                              _("must be a whole number from 1 to 65535"), &value))
            disk->boot_order = (guint)value;
    }

    if ((child = spec_member(object, "serial")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "serial");
        const char *serial = spec_read_string(p, child_path, child);

        if (serial != NULL && !disk_serial_is_valid(serial)) {
            g_autofree char *quoted = podvm_quote_for_message(serial);
            spec_add_problem(p, child_path,
                             _("%s is not a valid disk serial: use 1 to 20 letters, digits, '_', "
                               "'.', '+' or '-' (virtio-blk's limit)"),
                             quoted);
        } else if (serial != NULL) {
            disk->serial = g_strdup(serial);
        }
    }

    if ((child = spec_member(object, "cache")) != NULL) {
        /* Indexed by PodvmDiskCache, after PODVM_DISK_CACHE_DEFAULT. */
        static const char *const caches[] = { "none", "writethrough", "writeback" };
        g_autofree char *child_path = spec_path_member(path, "cache");
        const char *cache = spec_read_string(p, child_path, child);
        guint value = 0;

        if (cache != NULL && !spec_parse_enum(cache, caches, G_N_ELEMENTS(caches), &value)) {
            g_autofree char *quoted = podvm_quote_for_message(cache);
            spec_add_problem(p, child_path,
                             _("unknown value %s: use none, writethrough or writeback"), quoted);
        } else if (cache != NULL) {
            disk->cache = (PodvmDiskCache)(value + 1);
        }
    }
    return g_steal_pointer(&disk);
}

static gpointer
read_disk(Parser *p, const char *path, JsonNode *node)
{
    return spec_parse_disk(p, path, node);
}

static const char *
disk_name(gconstpointer item)
{
    return ((const PodvmSpecDisk *)item)->name;
}

typedef struct {
    PodvmSpec *spec;
    GHashTable *boot_orders;
} DisksState;

static void
take_disk(Parser *p, const char *item_path, gpointer item, gpointer user_data)
{
    DisksState *state = user_data;
    PodvmSpecDisk *disk = item;

    g_ptr_array_add(state->spec->disks, disk);
    if (disk->boot_order != 0 &&
        g_hash_table_contains(state->boot_orders, GUINT_TO_POINTER(disk->boot_order))) {
        g_autofree char *order_path = spec_path_member(item_path, "bootOrder");
        spec_add_problem(p, order_path, _("another disk has boot order %u: boot orders are unique"),
                         disk->boot_order);
    } else if (disk->boot_order != 0) {
        g_hash_table_add(state->boot_orders, GUINT_TO_POINTER(disk->boot_order));
    }
}

static void
too_many_disks(Parser *p, const char *path, guint length, guint max_items)
{
    spec_add_problem(p, path, _("has %u disks: a pod has at most %d"), length, (int)max_items);
}

/* A disk shows the volume of its own name, so a second disk of the same name would use that
 * volume twice. */
static void
duplicate_disk(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    spec_add_problem(p, name_path,
                     _("%s is the name of another disk: disk names are unique, and a volume "
                       "is used by one disk only"),
                     quoted);
}

void
spec_parse_disks(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, SpecNamedList *list)
{
    static const SpecNamedListKind kind = {
        .read = read_disk,
        .name = disk_name,
        .take = take_disk,
        .max_items = MAX_DISKS,
        .too_many = too_many_disks,
        .duplicate = duplicate_disk,
    };
    g_autoptr(GHashTable) boot_orders = g_hash_table_new(g_direct_hash, g_direct_equal);
    DisksState state = { spec, boot_orders };

    spec_read_named_list(p, path, node, &kind, &state, list);
}

/* Go's base64.StdEncoding, as KubeVirt reads it: padded, line breaks ignored. */
static gboolean
base64_is_valid(const char *text)
{
    gsize n = 0;
    gsize padding = 0;
    const char *c;

    for (c = text; *c != '\0'; c++) {
        if (*c == '\r' || *c == '\n')
            continue;
        n++;
        if (*c == '=') {
            padding++;
            continue;
        }
        if (padding > 0 || !(g_ascii_isalnum(*c) || *c == '+' || *c == '/'))
            return FALSE;
    }
    return n % 4 == 0 && padding <= 2;
}

/* Cloud-init text (given as is, or in base64): UTF-8, at most 256 KiB. */
static char *
read_cloud_init_text(Parser *p, const char *path, JsonNode *node, gboolean base64)
{
    const char *text = spec_read_string(p, path, node);
    g_autofree guchar *decoded = NULL;
    gsize length;

    if (text == NULL)
        return NULL;
    if (base64) {
        if (!base64_is_valid(text)) {
            spec_add_problem_literal(p, path,
                                     _("is not valid base64: use the letters A-Z, a-z, digits, '+' "
                                       "and '/', padded with '=' to a multiple of 4 characters"));
            return NULL;
        }
        decoded = g_base64_decode(text, &length);
        text = (const char *)decoded;
    } else {
        length = strlen(text);
    }
    if (length > MAX_CLOUD_INIT_TEXT) {
        spec_add_problem(p, path,
                         base64
                             ? _("decodes to %" G_GSIZE_FORMAT " bytes: cloud-init data has at "
                                 "most 256 KiB")
                             : _("is %" G_GSIZE_FORMAT " bytes long: cloud-init data has at most "
                                 "256 KiB"),
                         length);
        return NULL;
    }
    if (!g_utf8_validate_len(text, length, NULL)) {
        spec_add_problem_literal(p, path,
                                 base64
                                     ? _("does not decode to UTF-8 text (or contains a NUL byte)")
                                     : _("is not UTF-8 text"));
        return NULL;
    }
    return g_strndup(text, length);
}

static void
parse_host_disk(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "path", FIELD_KNOWN, NULL },
        { "type", FIELD_KNOWN, NULL },
        { "capacity", FIELD_KNOWN, NULL },
        { "shared", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    g_autofree char *path_path = spec_path_member(path, "path");
    g_autofree char *type_path = spec_path_member(path, "type");
    g_autofree char *capacity_path = spec_path_member(path, "capacity");
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);

    child = spec_member(object, "path");
    if (child == NULL)
        spec_add_problem_literal(p, path_path,
                                 _("required: the absolute path of the image on the host"));
    else
        volume->path = read_absolute_path(p, path_path, child);

    child = spec_member(object, "type");
    if (child == NULL) {
        spec_add_problem_literal(p, type_path,
                                 _("required: \"Disk\" (an existing image) or \"DiskOrCreate\" "
                                   "(created when missing)"));
    } else {
        const char *type = spec_read_string(p, type_path, child);

        if (g_strcmp0(type, "DiskOrCreate") == 0) {
            volume->create = TRUE;
        } else if (type != NULL && strcmp(type, "Disk") != 0) {
            g_autofree char *quoted = podvm_quote_for_message(type);
            spec_add_problem(p, type_path, _("unknown value %s: use Disk or DiskOrCreate"), quoted);
        }
    }

    child = spec_member(object, "capacity");
    if (child != NULL)
        spec_read_bytes(p, capacity_path, child, &volume->capacity);
    else if (volume->create)
        spec_add_problem_literal(
            p, capacity_path,
            _("required with type DiskOrCreate: the size of the image to create, "
              "like \"10Gi\""));
}

static void
parse_empty_disk(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "capacity", FIELD_KNOWN, NULL },
    };
    g_autofree char *capacity_path = spec_path_member(path, "capacity");
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);
    child = spec_member(object, "capacity");
    if (child == NULL)
        spec_add_problem_literal(p, capacity_path,
                                 _("required: the size of the disk, like \"10Gi\""));
    else
        spec_read_bytes(p, capacity_path, child, &volume->capacity);
}

/* {claimName, readOnly}: a volume of podvm's storage pool. */
static void
parse_claim(Parser *p, const char *path, JsonObject *object, gboolean hotpluggable,
            PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "claimName", FIELD_KNOWN, NULL },
        { "readOnly", FIELD_KNOWN, NULL },
        { "hotpluggable", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    g_autofree char *name_path = spec_path_member(path, "claimName");
    JsonNode *child;

    /* Only the top-level persistentVolumeClaim has hotpluggable. */
    spec_check_members(p, path, object, fields, G_N_ELEMENTS(fields) - (hotpluggable ? 0 : 1));

    child = spec_member(object, "claimName");
    if (child == NULL)
        spec_add_problem_literal(p, name_path,
                                 _("required: the name of a volume of podvm's storage pool"));
    else
        volume->claim_name = spec_read_name(p, name_path, child);

    child = spec_member(object, "readOnly");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "readOnly");
        spec_read_bool(p, child_path, child, &volume->readonly);
    }
}

static void
parse_persistent_volume_claim(Parser *p, const char *path, JsonObject *object,
                              PodvmSpecVolume *volume)
{
    parse_claim(p, path, object, TRUE, volume);
}

static void
parse_ephemeral(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "persistentVolumeClaim", FIELD_KNOWN, NULL },
        { "image", FIELD_KNOWN, NULL },
    };
    JsonNode *claim = spec_member(object, "persistentVolumeClaim");
    JsonNode *image = spec_member(object, "image");

    CHECK_MEMBERS(p, path, object, fields);

    if (claim == NULL && image == NULL) {
        spec_add_problem_literal(p, path,
                                 _("give the base: persistentVolumeClaim: {claimName} or image: "
                                   "an absolute path on the host"));
    } else if (claim != NULL && image != NULL) {
        spec_add_problem_literal(p, path,
                                 _("give either persistentVolumeClaim or image, not both"));
    } else if (claim != NULL) {
        g_autofree char *claim_path = spec_path_member(path, "persistentVolumeClaim");
        JsonObject *claim_object = spec_read_object(p, claim_path, claim);

        if (claim_object != NULL)
            parse_claim(p, claim_path, claim_object, FALSE, volume);
    } else {
        g_autofree char *image_path = spec_path_member(path, "image");
        volume->path = read_absolute_path(p, image_path, image);
    }
}

/* "oci:DIR[:TAG]" or "oci:DIR@sha256:HEX" with DIR absolute. */
static gboolean
oci_layout_image_is_valid(const char *image)
{
    const char *rest = image + strlen("oci:");
    const char *colon;
    const char *slash;

    if (spec_has_control_character(image, FALSE) || strchr(image, ' ') != NULL)
        return FALSE;
    if (rest[0] != '/')
        return FALSE;
    /* A colon after the last slash starts the tag (or the digest's algorithm), which must not be
     * empty. */
    colon = strrchr(rest, ':');
    slash = strrchr(rest, '/');
    if (colon != NULL && colon > slash && colon[1] == '\0')
        return FALSE;
    return TRUE;
}

static void
parse_container_disk_image(Parser *p, const char *image_path, JsonNode *node,
                           PodvmSpecVolume *volume)
{
    const char *image = spec_read_string(p, image_path, node);
    g_autoptr(GError) error = NULL;
    g_autofree char *quoted = NULL;

    if (image == NULL)
        return;
    quoted = podvm_quote_for_message(image);
    if (g_str_has_prefix(image, "oci:")) {
        if (!oci_layout_image_is_valid(image)) {
            spec_add_problem(p, image_path,
                             _("%s is not a local OCI layout podvm can use: write \"oci:DIR:TAG\" "
                               "or \"oci:DIR@sha256:HEX\" with DIR an absolute path"),
                             quoted);
            return;
        }
    } else {
        g_autoptr(PodvmImageRef) ref = podvm_image_ref_parse(image, &error);

        if (ref == NULL) {
            spec_add_problem(p, image_path,
                             _("%s is not an image reference podvm can use (%s): write a registry "
                               "reference such as \"quay.io/containerdisks/fedora:40\" or "
                               "\"docker://REPO:TAG\", or \"oci:DIR:TAG\" with DIR the absolute "
                               "path of a local OCI layout"),
                             quoted, error->message);
            return;
        }
    }
    volume->image = g_strdup(image);
}

static void
parse_container_disk(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "image", FIELD_KNOWN, NULL },
        { "path", FIELD_KNOWN, NULL },
        { "imagePullPolicy", FIELD_KNOWN, NULL },
        { "imagePullSecret", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API: podvmd reads registry credentials from the file "
             "podvmd.conf's [images] auth_file names (podman's auth.json)") },
    };
    static const char *const pull_policies[] = { "IfNotPresent", "Always", "Never" };
    g_autofree char *image_path = spec_path_member(path, "image");
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);

    child = spec_member(object, "image");
    if (child == NULL)
        spec_add_problem_literal(p, image_path,
                                 _("required: a registry reference (\"REPO:TAG\", "
                                   "\"docker://REPO:TAG\") or \"oci:DIR:TAG\""));
    else
        parse_container_disk_image(p, image_path, child, volume);

    child = spec_member(object, "path");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "path");
        volume->image_path = read_absolute_path(p, child_path, child);
    }

    child = spec_member(object, "imagePullPolicy");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "imagePullPolicy");
        const char *policy = spec_read_string(p, child_path, child);
        guint value;

        if (policy != NULL &&
            !spec_parse_enum(policy, pull_policies, G_N_ELEMENTS(pull_policies), &value)) {
            g_autofree char *quoted = podvm_quote_for_message(policy);
            spec_add_problem(p, child_path,
                             _("unknown value %s: use IfNotPresent, Always or Never"), quoted);
        } else if (policy != NULL) {
            volume->image_pull_policy = g_strdup(pull_policies[value]);
        }
    }
}

static void
parse_cloud_init(Parser *p, const char *path, JsonObject *object, gboolean nocloud,
                 PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "userData", FIELD_KNOWN, NULL },
        { "userDataBase64", FIELD_KNOWN, NULL },
        { "networkData", FIELD_KNOWN, NULL },
        { "networkDataBase64", FIELD_KNOWN, NULL },
        { "secretRef", FIELD_NOT_PODVM,
          N_("podvm has no Kubernetes secrets: give the data inline") },
        { "networkDataSecretRef", FIELD_NOT_PODVM,
          N_("podvm has no Kubernetes secrets: give the data inline") },
        { "metaData", FIELD_KNOWN, NULL }, /* NoCloud only: last */
    };
    static const struct {
        const char *plain;
        const char *base64;
    } texts[] = {
        { "userData", "userDataBase64" },
        { "networkData", "networkDataBase64" },
    };
    char **outs[] = { &volume->user_data, &volume->network_data };
    gboolean any = FALSE;
    JsonNode *child;
    gsize i;

    spec_check_members(p, path, object, fields, G_N_ELEMENTS(fields) - (nocloud ? 0 : 1));

    for (i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autofree char *plain_path = spec_path_member(path, texts[i].plain);
        g_autofree char *base64_path = spec_path_member(path, texts[i].base64);
        JsonNode *plain = spec_member(object, texts[i].plain);
        JsonNode *base64 = spec_member(object, texts[i].base64);

        if (plain != NULL || base64 != NULL)
            any = TRUE;
        if (plain != NULL && base64 != NULL) {
            spec_add_problem(p, base64_path, _("give either %s or %s, not both"), texts[i].plain,
                             texts[i].base64);
            continue;
        }
        if (plain != NULL) {
            *outs[i] = read_cloud_init_text(p, plain_path, plain, FALSE);
            spec_refuse_hidden(p, plain_path, *outs[i]);
        } else if (base64 != NULL) {
            *outs[i] = read_cloud_init_text(p, base64_path, base64, TRUE);
            if (i == 0)
                volume->user_data_was_base64 = TRUE;
        }
    }
    if (!any && spec_member(object, "secretRef") == NULL &&
        spec_member(object, "networkDataSecretRef") == NULL)
        spec_add_problem_literal(p, path,
                                 _("required: userData or userDataBase64, networkData or "
                                   "networkDataBase64, or both"));

    if (nocloud && (child = spec_member(object, "metaData")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "metaData");
        volume->meta_data = read_cloud_init_text(p, child_path, child, FALSE);
        spec_refuse_hidden(p, child_path, volume->meta_data);
    }
}

static void
parse_cloud_init_nocloud(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    parse_cloud_init(p, path, object, TRUE, volume);
}

static void
parse_cloud_init_config_drive(Parser *p, const char *path, JsonObject *object,
                              PodvmSpecVolume *volume)
{
    parse_cloud_init(p, path, object, FALSE, volume);
}

static void
parse_data_volume(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "hotpluggable", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    CHECK_MEMBERS(p, path, object, fields);
    volume->claim_name = spec_read_required_name(
        p, path, object, _("required: the name of a volume of podvm's storage pool"));
}

typedef void (*VolumeSourceParser)(Parser *p, const char *path, JsonObject *object,
                                   PodvmSpecVolume *volume);

/* Indexed by PodvmVolumeSource, like volume_source_names. */
static const VolumeSourceParser volume_source_parsers[] = {
    parse_host_disk,
    parse_empty_disk,
    parse_ephemeral,
    parse_container_disk,
    parse_cloud_init_nocloud,
    parse_cloud_init_config_drive,
    parse_persistent_volume_claim,
    parse_data_volume,
};

/* Not translated: field names. */
#define VOLUME_SOURCES_TEXT                                                                   \
    "hostDisk, emptyDisk, ephemeral, containerDisk, cloudInitNoCloud, cloudInitConfigDrive, " \
    "persistentVolumeClaim, dataVolume"

PodvmSpecVolume *
spec_parse_volume(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "hostDisk", FIELD_KNOWN, NULL },
        { "emptyDisk", FIELD_KNOWN, NULL },
        { "ephemeral", FIELD_KNOWN, NULL },
        { "containerDisk", FIELD_KNOWN, NULL },
        { "cloudInitNoCloud", FIELD_KNOWN, NULL },
        { "cloudInitConfigDrive", FIELD_KNOWN, NULL },
        { "persistentVolumeClaim", FIELD_KNOWN, NULL },
        { "dataVolume", FIELD_KNOWN, NULL },
        /* KubeVirt's other sources. */
        { "configMap", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "secret", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "serviceAccount", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "downwardAPI", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "downwardMetrics", FIELD_NOT_PODVM, NULL },
        { "sysprep", FIELD_NOT_PODVM, NULL },
        { "memoryDump", FIELD_NOT_PODVM, NULL },
        /* KubeVirt v1alpha1's name of containerDisk. */
        { "registryDisk", FIELD_NOT_PODVM,
          N_("it is KubeVirt v1alpha1's name of containerDisk: write containerDisk (same "
             "image field)") },
    };
    g_autoptr(PodvmSpecVolume) volume = g_new0(PodvmSpecVolume, 1);
    g_autoptr(GString) given = g_string_new(NULL);
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;
    guint n_sources = 0;
    gboolean have_source = FALSE;
    gsize i;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    volume->name = spec_read_required_name(p, path, object, _("required: the name its disk gives"));

    /* Every field after "name" is a source. Sources podvm refuses count too, so that they are
     * not also reported missing. */
    for (i = 1; i < G_N_ELEMENTS(fields); i++) {
        if (spec_member(object, fields[i].name) == NULL)
            continue;
        if (n_sources++ > 0)
            g_string_append(given, ", ");
        g_string_append(given, fields[i].name);
    }
    if (n_sources == 0)
        spec_add_problem(p, path, _("required: a source, one of %s"), VOLUME_SOURCES_TEXT);
    else if (n_sources > 1)
        spec_add_problem(p, path, _("has %u sources (%s): give only one of %s"), n_sources,
                         given->str, VOLUME_SOURCES_TEXT);

    /* Each source given is checked; the first one is the volume's. */
    for (i = 0; i < G_N_ELEMENTS(volume_source_parsers); i++) {
        g_autofree char *source_path = NULL;
        JsonObject *source;

        child = spec_member(object, volume_source_names[i]);
        if (child == NULL)
            continue;
        source_path = spec_path_member(path, volume_source_names[i]);
        source = spec_read_object(p, source_path, child);
        if (source == NULL)
            continue;
        if (!have_source) {
            volume->source = (PodvmVolumeSource)i;
            volume_source_parsers[i](p, source_path, source, volume);
            have_source = TRUE;
        } else {
            g_autoptr(PodvmSpecVolume) other = g_new0(PodvmSpecVolume, 1);
            volume_source_parsers[i](p, source_path, source, other);
        }
    }
    return g_steal_pointer(&volume);
}

static gpointer
read_volume(Parser *p, const char *path, JsonNode *node)
{
    return spec_parse_volume(p, path, node);
}

static const char *
volume_name(gconstpointer item)
{
    return ((const PodvmSpecVolume *)item)->name;
}

static void
take_volume(Parser *p, const char *item_path, gpointer item, gpointer user_data)
{
    PodvmSpec *spec = user_data;

    g_ptr_array_add(spec->volumes, item);
}

static void
too_many_volumes(Parser *p, const char *path, guint length, guint max_items)
{
    spec_add_problem(p, path, _("has %u volumes: a pod has at most %d"), length, (int)max_items);
}

static void
duplicate_volume(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    spec_add_problem(p, name_path, _("%s is the name of another volume: volume names are unique"),
                     quoted);
}

void
spec_parse_volumes(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                   SpecNamedList *list)
{
    static const SpecNamedListKind kind = {
        .read = read_volume,
        .name = volume_name,
        .take = take_volume,
        .max_items = MAX_DISKS,
        .too_many = too_many_volumes,
        .duplicate = duplicate_volume,
    };

    spec_read_named_list(p, path, node, &kind, spec, list);
}

static void
no_such_volume(Parser *p, const char *name_path, const char *quoted, const char *volumes_path)
{
    spec_add_problem(p, name_path, _("no volume named %s in %s"), quoted, volumes_path);
}

static void
volume_not_used(Parser *p, const char *name_path, const char *quoted, const char *disks_path)
{
    spec_add_problem(p, name_path, _("no disk uses this volume: add a disk named %s to %s"), quoted,
                     disks_path);
}

/* Every disk shows a volume of its name, and every volume is shown by a disk. */
void
spec_check_disks_use_volumes(Parser *p, const char *disks_path, const SpecNamedList *disks,
                             const char *volumes_path, const SpecNamedList *volumes)
{
    spec_join_named_lists(p, disks_path, disks, volumes_path, volumes, no_such_volume,
                          volume_not_used);
}
