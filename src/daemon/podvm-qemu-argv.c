/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU command line of a pod: a pure function of the spec and a few
 * host facts, golden-file tested (tests/golden/argv/).
 *
 * How values reach QEMU 7.2 safely (each checked against QEMU 7.2):
 * - -device, -object and -blockdev take JSON, built with JsonBuilder, so
 *   every value is escaped by construction and keys come out in a fixed
 *   order. A disk's file name ("/srv/a,file.driver=nbd") is one JSON string.
 *   The device and block-node objects come from podvm-qemu-devices.c, the
 *   very ones hotplug sends with blockdev-add and device_add, so boot and
 *   hotplug cannot drift apart.
 * - -chardev, -name, -machine, -smbios and -mon only take key=value lists
 *   (7.2 has no JSON form of -chardev): every value that does not come from
 *   this file is comma-escaped (",,"), so it stays one value.
 * - -kernel, -initrd, -append, -pidfile and -uuid are NOT key=value lists:
 *   QEMU uses the argument as it is (a kernel "/k,format=raw" is opened
 *   under that very name, and "/k,,format=raw" would not be found). They
 *   are passed verbatim as one argv element each, so they cannot add an
 *   option either.
 * - CPU models and machine types must match a strict charset: QEMU splits
 *   the -cpu argument at its first comma without any escaping.
 */
#include "podvm-qemu-argv.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"

#define MIB ((guint64)1024 * 1024)

/* -- helpers ------------------------------------------------------------ */

void
podvm_qemu_escape_value(GString *out, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == ',')
            g_string_append_c(out, ',');
        g_string_append_c(out, *p);
    }
}

/* Letters, digits, '.', '_', '-', not empty, not starting with '-'. */
static gboolean
is_plain_name(const char *text)
{
    if (text == NULL || *text == '\0' || *text == '-' || strlen(text) > 64)
        return FALSE;
    for (const char *p = text; *p != '\0'; p++) {
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
            return FALSE;
    }
    return TRUE;
}

/* Whether @args (a kernel command line) has a word equal to @word, or
 * starting with @word when it ends with '='. */
static gboolean
cmdline_has(const char *args, const char *word)
{
    g_auto(GStrv) words = NULL;
    gboolean prefix = g_str_has_suffix(word, "=");

    if (args == NULL)
        return FALSE;
    words = g_strsplit_set(args, " \t", -1);
    for (guint i = 0; words[i] != NULL; i++) {
        if (prefix ? g_str_has_prefix(words[i], word) : strcmp(words[i], word) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
add(GPtrArray *argv, const char *arg)
{
    g_ptr_array_add(argv, g_strdup(arg));
}

static void
add_pair(GPtrArray *argv, const char *option, const char *value)
{
    add(argv, option);
    add(argv, value);
}

/* @option followed by the compact JSON text of @builder's root. */
static void
add_json(GPtrArray *argv, const char *option, JsonBuilder *builder)
{
    g_autoptr(JsonNode) root = json_builder_get_root(builder);

    add(argv, option);
    g_ptr_array_add(argv, podvm_json_to_string(root, FALSE));
}

static void
member_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

/*
 * "-chardev socket,id=ID,path=PATH,server=on,wait=off[,logfile=LOG,logappend=on]",
 * with fd=N instead of path= when podvmd bound the socket itself.
 */
static void
add_socket_chardev(GPtrArray *argv, const char *id, const char *path, int listen_fd,
                   const char *logfile)
{
    g_autoptr(GString) opts = g_string_new("socket,id=");

    g_string_append(opts, id);
    if (listen_fd > 0) {
        g_string_append_printf(opts, ",fd=%d", listen_fd);
    } else {
        g_string_append(opts, ",path=");
        podvm_qemu_escape_value(opts, path);
    }
    g_string_append(opts, ",server=on,wait=off");
    if (logfile != NULL) {
        g_string_append(opts, ",logfile=");
        podvm_qemu_escape_value(opts, logfile);
        g_string_append(opts, ",logappend=on");
    }
    add(argv, "-chardev");
    g_ptr_array_add(argv, g_string_free(g_steal_pointer(&opts), FALSE));
}

/* @option followed by the compact JSON text of @node. */
static void
add_json_node(GPtrArray *argv, const char *option, JsonNode *node)
{
    add(argv, option);
    g_ptr_array_add(argv, podvm_json_to_string(node, FALSE));
}

/* The spare root ports: see podvm_qemu_spare_root_port(). */
static void
add_spare_root_ports(GPtrArray *argv, guint count)
{
    for (guint i = 0; i < count; i++) {
        g_autoptr(JsonNode) port = podvm_qemu_spare_root_port(i);

        add_json_node(argv, "-device", port);
    }
}

static void
add_serial_console(GPtrArray *argv, const PodvmQemuArgvContext *ctx)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *log_fdset = NULL;

    if (ctx->console_log_fd > 2) {
        /* The log podvmd opened (O_WRONLY|O_APPEND): QEMU's chardev logfile takes /dev/fdset. */
        g_autofree char *add_fd =
            g_strdup_printf("fd=%d,set=%d,opaque=podvm:console-log", ctx->console_log_fd,
                            PODVM_QEMU_CONSOLE_LOG_FDSET);
        add_pair(argv, "-add-fd", add_fd);
        log_fdset = g_strdup_printf("/dev/fdset/%d", PODVM_QEMU_CONSOLE_LOG_FDSET);
    }
    add_socket_chardev(argv, "serial0", ctx->console_socket, ctx->console_listen_fd,
                       log_fdset != NULL ? log_fdset : ctx->console_log);
    json_builder_begin_object(b);
    member_string(b, "driver", "isa-serial");
    member_string(b, "chardev", "serial0");
    json_builder_end_object(b);
    add_json(argv, "-device", b);
}

static void
add_rng(GPtrArray *argv)
{
    g_autoptr(JsonBuilder) object = json_builder_new();
    g_autoptr(JsonBuilder) device = json_builder_new();

    json_builder_begin_object(object);
    member_string(object, "qom-type", "rng-random");
    member_string(object, "id", "rng0");
    member_string(object, "filename", "/dev/urandom");
    json_builder_end_object(object);
    add_json(argv, "-object", object);

    json_builder_begin_object(device);
    member_string(device, "driver", "virtio-rng-pci");
    member_string(device, "rng", "rng0");
    json_builder_end_object(device);
    add_json(argv, "-device", device);
}

/* After the disks and NICs: their slots stay where they were without it. */
static void
add_balloon(GPtrArray *argv)
{
    g_autoptr(JsonBuilder) device = json_builder_new();

    json_builder_begin_object(device);
    member_string(device, "driver", "virtio-balloon-pci");
    member_string(device, "id", PODVM_QEMU_BALLOON_ID);
    json_builder_end_object(device);
    add_json(argv, "-device", device);
}

/* -- disks -------------------------------------------------------------- */

static const PodvmPreparedVolume *
find_prepared(const PodvmQemuArgvContext *ctx, const char *volume_name)
{
    for (guint i = 0; ctx->prepared_volumes != NULL && i < ctx->prepared_volumes->len; i++) {
        const PodvmPreparedVolume *prepared = g_ptr_array_index(ctx->prepared_volumes, i);

        if (g_strcmp0(prepared->volume_name, volume_name) == 0)
            return prepared;
    }
    return NULL;
}

static guint
disk_count(const PodvmSpec *spec)
{
    return spec->disks != NULL ? spec->disks->len : 0;
}

/*
 * For every disk in spec order: its protocol node, its format node, its
 * device; the SCSI controller once, before the first scsi disk. SCSI disks
 * get LUNs 0, 1, ... and sata disks the ports 0, 1, ... in spec order.
 */
static gboolean
add_disks(GPtrArray *argv, const PodvmSpec *spec, const PodvmQemuArgvContext *ctx, gboolean q35,
          GError **error)
{
    g_autoptr(GHashTable) node_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gboolean any_boot_order = FALSE;
    gboolean scsi_controller = FALSE;
    guint scsi_luns = 0;
    guint sata_units = 0;
    guint sata_disks = 0;
    guint sata_ports = q35 ? PODVM_QEMU_Q35_SATA_PORTS : PODVM_QEMU_PC_IDE_UNITS;

    for (guint i = 0; i < disk_count(spec); i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);

        any_boot_order |= disk->boot_order > 0;
        sata_disks += disk->bus == PODVM_DISK_BUS_SATA;
    }
    if (sata_disks > sata_ports) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("spec.domain.devices.disks: %u sata disks, but machine type '%s' has %u "
                      "sata ports; put the others on virtio or scsi"),
                    sata_disks, spec->machine_type != NULL ? spec->machine_type : "q35",
                    sata_ports);
        return FALSE;
    }

    for (guint i = 0; i < disk_count(spec); i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);
        const PodvmPreparedVolume *prepared = find_prepared(ctx, disk->name);
        PodvmSpecDisk boot_disk = *disk;
        g_autoptr(JsonNode) protocol = NULL;
        g_autoptr(JsonNode) format = NULL;
        g_autoptr(JsonNode) device = NULL;
        guint unit = 0;

        if (prepared == NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("volume '%s' of spec.domain.devices.disks[%u] was not prepared"),
                        disk->name != NULL ? disk->name : "", i);
            return FALSE;
        }
        /* Without a kernel the firmware boots a disk: the first one unless bootOrder says. */
        if (spec->kernel_path == NULL && !any_boot_order && i == 0)
            boot_disk.boot_order = 1;
        if (disk->bus == PODVM_DISK_BUS_SCSI)
            unit = scsi_luns++;
        else if (disk->bus == PODVM_DISK_BUS_SATA)
            unit = sata_units++;

        device = podvm_qemu_disk_device_for_machine(&boot_disk, prepared, NULL, unit, q35, error);
        if (device == NULL) {
            g_prefix_error(error, "spec.domain.devices.disks[%u]: ", i);
            return FALSE;
        }
        /* Names stay apart in practice (a hash): refuse the impossible rather than let QEMU. */
        for (guint n = 0; n < 2; n++) {
            char *node_name = podvm_qemu_disk_node_name(disk->name, n == 1);

            if (!g_hash_table_add(node_names, node_name)) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                            _("spec.domain.devices.disks[%u]: disk '%s' gets the QEMU node name "
                              "'%s' of another disk; rename one of them"),
                            i, disk->name, node_name);
                return FALSE;
            }
        }
        protocol = podvm_qemu_disk_protocol_blockdev(disk, prepared);
        format = podvm_qemu_disk_format_blockdev(disk, prepared);

        if (prepared->in_fdset) {
            g_autoptr(GString) opt = g_string_new(NULL);
            g_autofree char *opaque = podvm_qemu_disk_fdset_opaque(disk->name);

            if (prepared->qemu_fd <= 2) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("volume '%s' is in fd set %u without an fd number"), disk->name,
                            prepared->fdset);
                return FALSE;
            }
            /* The opaque text shows in query-fdsets: which disk the set belongs to. */
            g_string_printf(opt, "fd=%d,set=%u,opaque=", prepared->qemu_fd, prepared->fdset);
            podvm_qemu_escape_value(opt, opaque);
            add_pair(argv, "-add-fd", opt->str);
            if (prepared->backing_in_fdset) {
                g_string_printf(opt, "fd=%d,set=%u,opaque=", prepared->backing_qemu_fd,
                                prepared->backing_fdset);
                podvm_qemu_escape_value(opt, opaque);
                add_pair(argv, "-add-fd", opt->str);
            }
        }
        if (disk->bus == PODVM_DISK_BUS_SCSI && !scsi_controller) {
            g_autoptr(JsonNode) controller = podvm_qemu_scsi_controller(NULL);

            add_json_node(argv, "-device", controller);
            scsi_controller = TRUE;
        }
        add_json_node(argv, "-blockdev", protocol);
        add_json_node(argv, "-blockdev", format);
        add_json_node(argv, "-device", device);
    }
    return TRUE;
}

/* "max" under TCG, "host" under KVM for host-model/host-passthrough or no model. */
static const char *
cpu_model(const PodvmSpec *spec, PodvmAccel accel)
{
    const char *model = spec->cpu_model;

    if (model == NULL || strcmp(model, "host-model") == 0 || strcmp(model, "host-passthrough") == 0)
        return accel == PODVM_ACCEL_KVM ? "host" : "max";
    return model;
}

static char *
kernel_cmdline(const PodvmSpec *spec, const PodvmQemuArgvContext *ctx)
{
    g_autoptr(GString) cmdline = g_string_new(spec->kernel_args != NULL ? spec->kernel_args : "");

    /* The guest console is the serial port when there is one. */
    if (spec->autoattach_serial_console && !cmdline_has(cmdline->str, "console="))
        g_string_append(cmdline, " console=ttyS0");
    if (spec->hostname != NULL && !cmdline_has(cmdline->str, "podvm.hostname="))
        g_string_append_printf(cmdline, " podvm.hostname=%s", spec->hostname);
    if (!ctx->debug && !cmdline_has(cmdline->str, "quiet"))
        g_string_append(cmdline, " quiet");
    return g_strstrip(g_string_free(g_steal_pointer(&cmdline), FALSE));
}

static gboolean
check_input(const PodvmSpec *spec, const PodvmQemuArgvContext *ctx, GError **error)
{
    if (ctx->qemu_binary == NULL || ctx->qmp_socket == NULL ||
        (spec->autoattach_serial_console && ctx->console_socket == NULL) ||
        (podvm_spec_has_guest_agent(spec) && ctx->guest_agent_socket == NULL)) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("the QEMU binary, QMP socket, console socket and guest agent "
                              "socket paths are required"));
        return FALSE;
    }
    if (ctx->accel != PODVM_ACCEL_KVM && ctx->accel != PODVM_ACCEL_TCG) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("accelerator '%s' is not resolved: detect kvm or tcg first"),
                    podvm_accel_to_string(ctx->accel));
        return FALSE;
    }
    if (ctx->uid == NULL || !g_uuid_string_is_valid(ctx->uid)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("pod uid '%s' is not a UUID"), ctx->uid != NULL ? ctx->uid : "");
        return FALSE;
    }
    if (spec->name == NULL || *spec->name == '\0') {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                            _("metadata.name: required"));
        return FALSE;
    }
    if (!is_plain_name(spec->machine_type != NULL ? spec->machine_type : "q35")) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("spec.domain.machine.type: '%s' is not a valid machine type"),
                    spec->machine_type);
        return FALSE;
    }
    if (spec->cpu_model != NULL && !is_plain_name(spec->cpu_model)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("spec.domain.cpu.model: '%s' is not a valid CPU model"), spec->cpu_model);
        return FALSE;
    }
    if (spec->hostname != NULL && !is_plain_name(spec->hostname)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("spec.hostname: '%s' is not a valid hostname"), spec->hostname);
        return FALSE;
    }
    if (spec->firmware_uuid != NULL && !g_uuid_string_is_valid(spec->firmware_uuid)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("spec.domain.firmware.uuid: '%s' is not a UUID"), spec->firmware_uuid);
        return FALSE;
    }
    /* QEMU refuses -initrd and -append without -kernel. */
    if (spec->kernel_path == NULL && spec->initrd_path != NULL) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                            _("spec.domain.firmware.kernelBoot.initrdPath: needs kernelPath"));
        return FALSE;
    }
    if (spec->kernel_path == NULL && spec->kernel_args != NULL) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                            _("spec.domain.firmware.kernelBoot.kernelArgs: needs kernelPath"));
        return FALSE;
    }
    if (ctx->app_guest != NULL) {
        if (ctx->kernel_fd <= 2 || ctx->initrd_fd <= 2 ||
            ctx->app_guest->n_disks != spec->apps->len) {
            g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("the app guest needs its kernel and initrd fds and one disk per "
                                  "app"));
            return FALSE;
        }
    } else if (spec->kernel_path != NULL ? *spec->kernel_path == '\0' : disk_count(spec) == 0) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                            _("spec.domain.firmware.kernelBoot.kernelPath: nothing to boot: give "
                              "the host path of a kernel, or a disk"));
        return FALSE;
    }
    if (ctx->spare_root_ports > PODVM_QEMU_MAX_SPARE_ROOT_PORTS) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%u spare root ports asked for: at most %d"), ctx->spare_root_ports,
                    PODVM_QEMU_MAX_SPARE_ROOT_PORTS);
        return FALSE;
    }
    if (disk_count(spec) > 0 && ctx->prepared_volumes == NULL) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("the pod has disks but no prepared volumes"));
        return FALSE;
    }
    return TRUE;
}

/* NICs sit on the root bus; the pod's network says what each is attached to. */
static void
add_nics(GPtrArray *argv, const PodvmQemuArgvContext *ctx)
{
    for (guint i = 0; ctx->nics != NULL && i < ctx->nics->len; i++) {
        const PodvmQemuNic *nic = g_ptr_array_index(ctx->nics, i);
        g_autoptr(JsonNode) netdev = podvm_qemu_nic_netdev(nic);
        g_autoptr(JsonNode) device = podvm_qemu_nic_device(nic, NULL);

        if (netdev != NULL)
            add_json_node(argv, "-netdev", netdev);
        add_json_node(argv, "-device", device);
    }
}

/* -- the app guest -------------------------------------------------------- */

static void
add_app_guest(GPtrArray *argv, const PodvmQemuArgvContext *ctx)
{
    const PodvmQemuAppGuest *guest = ctx->app_guest;
    g_autofree char *kernel = g_strdup_printf("/proc/self/fd/%d", ctx->kernel_fd);
    g_autofree char *initrd = g_strdup_printf("/proc/self/fd/%d", ctx->initrd_fd);

    for (guint i = 0; i < guest->n_disks; i++) {
        g_autofree char *add_fd =
            g_strdup_printf("fd=%d,set=%u,opaque=podvm:app%u", guest->disk_fds[i],
                            PODVM_QEMU_APP_DISK_FDSET + i, i);
        g_autofree char *id = g_strdup_printf("app%u", i);
        g_autofree char *file_node = g_strdup_printf("app%u-file", i);
        g_autofree char *filename = g_strdup_printf("/dev/fdset/%u", PODVM_QEMU_APP_DISK_FDSET + i);
        g_autoptr(JsonBuilder) file = json_builder_new();
        g_autoptr(JsonBuilder) format = json_builder_new();
        g_autoptr(JsonBuilder) device = json_builder_new();

        add_pair(argv, "-add-fd", add_fd);
        json_builder_begin_object(file);
        member_string(file, "driver", "file");
        member_string(file, "node-name", file_node);
        member_string(file, "filename", filename);
        json_builder_set_member_name(file, "read-only");
        json_builder_add_boolean_value(file, TRUE);
        json_builder_end_object(file);
        add_json(argv, "-blockdev", file);
        json_builder_begin_object(format);
        member_string(format, "driver", "raw");
        member_string(format, "node-name", id);
        member_string(format, "file", file_node);
        json_builder_set_member_name(format, "read-only");
        json_builder_add_boolean_value(format, TRUE);
        json_builder_end_object(format);
        add_json(argv, "-blockdev", format);
        json_builder_begin_object(device);
        member_string(device, "driver", "virtio-blk-pci");
        member_string(device, "id", id);
        member_string(device, "drive", id);
        member_string(device, "serial", id);
        json_builder_end_object(device);
        add_json(argv, "-device", device);
    }
    {
        g_autoptr(JsonNode) controller = podvm_qemu_virtio_serial_controller("appserial");
        g_autoptr(JsonNode) port = podvm_qemu_virtio_serial_port("appserial", "appchannel",
                                                                 "io.podvm.app.0", "appchannel");

        add_socket_chardev(argv, "appchannel", guest->channel_socket, guest->channel_listen_fd,
                           NULL);
        add_json_node(argv, "-device", controller);
        add_json_node(argv, "-device", port);
    }
    add_pair(argv, "-kernel", kernel);
    add_pair(argv, "-initrd", initrd);
    /*
     * Without --debug the console shows the apps' output only: loglevel=0
     * hides even the kernel's emergency messages ("reboot: Power down"),
     * which loglevel=1 and quiet still print.
     */
    add_pair(argv, "-append",
             ctx->debug ? "console=ttyS0 podvm.app=1" : "console=ttyS0 podvm.app=1 loglevel=0");
}

/* -- the guest agent ------------------------------------------------------ */

/*
 * The qemu-guest-agent channel (podvm_spec_has_guest_agent()): a socket
 * chardev podvmd connects to and the virtio-serial port the agent in the
 * guest opens. Last of the devices, so it never takes a PCI slot a device
 * before it asks for.
 */
static void
add_guest_agent(GPtrArray *argv, const PodvmQemuArgvContext *ctx)
{
    g_autoptr(JsonNode) controller =
        podvm_qemu_virtio_serial_controller(PODVM_QEMU_GUEST_AGENT_SERIAL);
    g_autoptr(JsonNode) port =
        podvm_qemu_virtio_serial_port(PODVM_QEMU_GUEST_AGENT_SERIAL, PODVM_QEMU_GUEST_AGENT_CHARDEV,
                                      PODVM_QEMU_GUEST_AGENT_PORT, PODVM_QEMU_GUEST_AGENT_CHARDEV);

    add_socket_chardev(argv, PODVM_QEMU_GUEST_AGENT_CHARDEV, ctx->guest_agent_socket,
                       ctx->guest_agent_listen_fd, NULL);
    add_json_node(argv, "-device", controller);
    add_json_node(argv, "-device", port);
}

/* -- the command line --------------------------------------------------- */

GStrv
podvm_qemu_argv_build(const PodvmSpec *spec, const PodvmQemuArgvContext *ctx, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) opt = g_string_new(NULL);
    const char *machine;
    guint vcpus;
    guint64 memory;

    g_return_val_if_fail(spec != NULL, NULL);
    g_return_val_if_fail(ctx != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!check_input(spec, ctx, error))
        return NULL;
    machine = spec->machine_type != NULL ? spec->machine_type : "q35";

    add(argv, ctx->qemu_binary);

    g_string_assign(opt, "guest=");
    podvm_qemu_escape_value(opt, spec->name);
    g_string_append(opt, ",debug-threads=on");
    add_pair(argv, "-name", opt->str);
    add_pair(argv, "-uuid", ctx->uid);
    add(argv, "-S");
    if (ctx->incoming_defer)
        add_pair(argv, "-incoming", "defer");
    add(argv, "-nodefaults");
    add(argv, "-no-user-config");
    add_pair(argv, "-display", "none");
    add_pair(argv, "-msg", "timestamp=on");
    add_pair(argv, "-sandbox",
             "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");

    g_string_truncate(opt, 0);
    podvm_qemu_escape_value(opt, machine);
    g_string_append_printf(opt, ",accel=%s", podvm_accel_to_string(ctx->accel));
    add_pair(argv, "-machine", opt->str);
    add_pair(argv, "-cpu", cpu_model(spec, ctx->accel));

    vcpus = podvm_spec_resolve_vcpus(spec, ctx->host_cpus);
    g_string_printf(opt, "%u", vcpus);
    if (spec->cpu_sockets > 0 || spec->cpu_cores > 0 || spec->cpu_threads > 0) {
        g_string_append_printf(opt, ",sockets=%u,cores=%u,threads=%u", MAX(spec->cpu_sockets, 1),
                               MAX(spec->cpu_cores, 1), MAX(spec->cpu_threads, 1));
    }
    add_pair(argv, "-smp", opt->str);

    /* Whole MiB, rounded up. */
    memory = podvm_spec_resolve_memory(spec);
    g_string_printf(opt, "%" G_GUINT64_FORMAT "M", MAX((memory + MIB - 1) / MIB, 1));
    add_pair(argv, "-m", opt->str);

    if (spec->firmware_uuid != NULL || spec->firmware_serial != NULL) {
        g_string_assign(opt, "type=1");
        if (spec->firmware_uuid != NULL) {
            g_string_append(opt, ",uuid=");
            podvm_qemu_escape_value(opt, spec->firmware_uuid);
        }
        if (spec->firmware_serial != NULL) {
            g_string_append(opt, ",serial=");
            podvm_qemu_escape_value(opt, spec->firmware_serial);
        }
        add_pair(argv, "-smbios", opt->str);
    }

    if (ctx->pidfile != NULL)
        add_pair(argv, "-pidfile", ctx->pidfile);

    add_socket_chardev(argv, "qmp", ctx->qmp_socket, ctx->qmp_listen_fd, NULL);
    add_pair(argv, "-mon", "chardev=qmp,mode=control");

    if (podvm_qemu_machine_is_q35(machine))
        add_spare_root_ports(argv, ctx->spare_root_ports);
    if (spec->autoattach_serial_console)
        add_serial_console(argv, ctx);
    if (spec->rng)
        add_rng(argv);
    if (!add_disks(argv, spec, ctx, podvm_qemu_machine_is_q35(machine), error))
        return NULL;
    add_nics(argv, ctx);
    if (ctx->app_guest != NULL)
        add_app_guest(argv, ctx);
    if (podvm_qemu_has_balloon(spec))
        add_balloon(argv);
    if (podvm_spec_has_guest_agent(spec))
        add_guest_agent(argv, ctx);

    /* Without a kernel, the firmware boots the disks by their bootindex. */
    if (spec->kernel_path != NULL) {
        /*
         * QEMU reads the kernel and initrd with a plain open(), so /dev/fdset
         * does not work for them: podvmd passes the files it opened and
         * QEMU opens them again through /proc/self/fd.
         */
        if (ctx->kernel_fd > 2) {
            g_autofree char *fd_path = g_strdup_printf("/proc/self/fd/%d", ctx->kernel_fd);
            add_pair(argv, "-kernel", fd_path);
        } else {
            add_pair(argv, "-kernel", spec->kernel_path);
        }
        if (spec->initrd_path != NULL && ctx->initrd_fd > 2) {
            g_autofree char *fd_path = g_strdup_printf("/proc/self/fd/%d", ctx->initrd_fd);
            add_pair(argv, "-initrd", fd_path);
        } else if (spec->initrd_path != NULL) {
            add_pair(argv, "-initrd", spec->initrd_path);
        }
        g_ptr_array_add(argv, g_strdup("-append"));
        g_ptr_array_add(argv, kernel_cmdline(spec, ctx));
    }

    g_ptr_array_add(argv, NULL);
    return (GStrv)g_ptr_array_steal(argv, NULL);
}
