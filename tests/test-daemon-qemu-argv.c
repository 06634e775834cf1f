/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU argv builder: golden files (tests/golden/argv/NAME.json is a pod
 * spec, NAME.argv the expected argv, one argument per line), the escaping
 * rules, accelerator detection, disks (node names, the JSON objects hotplug
 * sends, refused combinations), and real QEMU accepting every argv and the
 * hotplug objects.
 *
 * The disk cases are also built in C (build_disks_*()) and must give the
 * same argv as their JSON files: that checks the parser and the builders
 * against each other. Their volumes are "prepared" by prepare_volumes()
 * from the names alone; for real QEMU they become real files (qemu-img
 * for qcow2, a loop device for a block device) in a temporary directory.
 *
 * PODVM_TEST_REGENERATE=1 rewrites the .argv files from the current output
 * (and writes a missing NAME.json of a disk case from its C spec);
 * review the diff before committing it.
 */
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-qemu-argv.h"
#include "podvm-spec.h"
#include "podvm-test-util.h"

#define TEST_UID "0b4f2b7e-9a57-4d3f-8f0e-6a1d2c3b4a59"
#define QMP_CHILD_FD 3
#define CONSOLE_CHILD_FD 4
#define KERNEL_CHILD_FD 5
#define INITRD_CHILD_FD 6
#define FIRST_DISK_CHILD_FD 7
/* After the disks' fds, as podvmd numbers it (only the golden files see it). */
#define GUEST_AGENT_CHILD_FD 40
/* Where the golden prepared volumes live: the same on every machine. */
#define GOLDEN_STATE_DIR "/var/lib/podvm"
#define GOLDEN_RUN_DIR "/run/podvm"
#define NO_SPARE_PORTS (-1)
#define NAME_63 "a-disk-name-that-is-exactly-sixty-three-characters-long-abcdefg"
#define NAME_63_TWIN "a-disk-name-that-is-exactly-sixty-three-characters-long-zyxwvut"

/*
 * Specs built in C: the disk cases. They start from minimal.json and add
 * disks and volumes (see the builders below), so they do not depend on the
 * JSON parser for disks.
 */
typedef PodvmSpec TestSpec;

static void
test_spec_free(TestSpec *spec)
{
    if (spec == NULL)
        return;
    /* The arrays (and their free functions) may be the test's own: drop them first. */
    g_clear_pointer(&spec->disks, g_ptr_array_unref);
    g_clear_pointer(&spec->volumes, g_ptr_array_unref);
    podvm_spec_free(spec);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestSpec, test_spec_free)

/* One golden case: the spec file (or builder) and the host facts that go with it. */
typedef struct {
    const char *name;
    PodvmAccel accel;
    gboolean debug;
    gboolean pidfile;
    /* podvmd binds the sockets and passes fds 3 and 4, the kernel and initrd as 5 and 6,
     * and the disks in fd sets 1, 2, ... (fds 7, 8, ...) */
    gboolean listen_fds;
    guint host_cpus;
    /* NULL: golden/argv/NAME.json; else minimal.json named NAME, changed by this. */
    void (*build)(PodvmSpec *spec);
    int spare_root_ports; /* 0: PODVM_QEMU_SPARE_ROOT_PORTS; NO_SPARE_PORTS: none */
} GoldenCase;

static void build_disks_virtio(PodvmSpec *spec);
static void build_disks_scsi(PodvmSpec *spec);
static void build_disks_sata(PodvmSpec *spec);
static void build_disks_sata_more(PodvmSpec *spec);
static void build_disks_machine_pc(PodvmSpec *spec);
static void build_disks_cache(PodvmSpec *spec);
static void build_disks_serial_boot(PodvmSpec *spec);
static void build_disks_boot_from_disk(PodvmSpec *spec);
static void build_disks_boot_order(PodvmSpec *spec);
static void build_disks_lun(PodvmSpec *spec);
static void build_disks_long_names(PodvmSpec *spec);
static void build_disks_path_commas(PodvmSpec *spec);

#define DISK_CASE(name, build)                                  \
    {                                                           \
        name, PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, build, 0 \
    }

static const GoldenCase golden_cases[] = {
    { "minimal", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "debug", PODVM_ACCEL_TCG, TRUE, FALSE, FALSE, 4, NULL, 0 },
    { "kvm-fds", PODVM_ACCEL_KVM, FALSE, TRUE, TRUE, 4, NULL, 0 },
    { "no-serial", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "topology", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "firmware", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "path-commas", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "apps", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "apps-host-cpus", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 6, NULL, 0 },
    { "rng", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "no-guest-agent", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "machine-pc", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
    { "root-ports-none", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, NO_SPARE_PORTS },
    { "root-ports-12", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 12 },
    { "root-ports-32", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 32 },
    DISK_CASE("disks-virtio", build_disks_virtio),
    DISK_CASE("disks-scsi", build_disks_scsi),
    DISK_CASE("disks-sata", build_disks_sata),
    DISK_CASE("disks-sata-more", build_disks_sata_more),
    DISK_CASE("disks-machine-pc", build_disks_machine_pc),
    DISK_CASE("disks-cache", build_disks_cache),
    DISK_CASE("disks-serial-boot", build_disks_serial_boot),
    DISK_CASE("disks-boot-from-disk", build_disks_boot_from_disk),
    DISK_CASE("disks-boot-order", build_disks_boot_order),
    DISK_CASE("disks-lun", build_disks_lun),
    DISK_CASE("disks-long-names", build_disks_long_names),
    DISK_CASE("disks-path-commas", build_disks_path_commas),
    { "disks-fds", PODVM_ACCEL_TCG, FALSE, FALSE, TRUE, 4, build_disks_virtio, 0 },
    { "no-balloon", PODVM_ACCEL_TCG, FALSE, FALSE, FALSE, 4, NULL, 0 },
};

static const GoldenCase *
golden_case(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(golden_cases); i++) {
        if (strcmp(golden_cases[i].name, name) == 0)
            return &golden_cases[i];
    }
    g_assert_not_reached();
}

/* -- disks and volumes built in C ---------------------------------------- */

static void
test_disk_free(PodvmSpecDisk *disk)
{
    g_free(disk->name);
    g_free(disk->serial);
    g_free(disk);
}

static void
test_volume_free(PodvmSpecVolume *volume)
{
    g_free(volume->name);
    g_free(volume->path);
    g_free(volume->claim_name);
    g_free(volume->image);
    g_free(volume->image_path);
    g_free(volume->user_data);
    g_free(volume->meta_data);
    g_free(volume->network_data);
    g_free(volume);
}

/*
 * Adds a volume of @source named @name, with the usual values of that
 * source, and a disk of @kind on @bus for it. A hostDisk path under /dev/
 * is a block device (see prepare_volumes()).
 */
static PodvmSpecDisk *
add_disk_full(PodvmSpec *spec, const char *name, PodvmVolumeSource source, PodvmDiskKind kind,
              PodvmDiskBus bus, const char *host_path)
{
    PodvmSpecVolume *volume = g_new0(PodvmSpecVolume, 1);
    PodvmSpecDisk *disk = g_new0(PodvmSpecDisk, 1);

    if (spec->disks == NULL)
        spec->disks = g_ptr_array_new_with_free_func((GDestroyNotify)test_disk_free);
    if (spec->volumes == NULL)
        spec->volumes = g_ptr_array_new_with_free_func((GDestroyNotify)test_volume_free);

    volume->name = g_strdup(name);
    volume->source = source;
    switch (source) {
    case PODVM_VOLUME_HOST_DISK:
        volume->path =
            host_path != NULL ? g_strdup(host_path) : g_strdup_printf("/srv/images/%s.img", name);
        break;
    case PODVM_VOLUME_EMPTY_DISK:
        volume->capacity = 1024 * 1024 * 1024;
        break;
    case PODVM_VOLUME_EPHEMERAL:
        volume->path = g_strdup("/srv/images/base.qcow2");
        break;
    case PODVM_VOLUME_CONTAINER_DISK:
        volume->image = g_strdup("oci:/srv/oci/fedora:40");
        break;
    case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
    case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
        volume->user_data = g_strdup("#cloud-config\n");
        break;
    case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
    case PODVM_VOLUME_DATA_VOLUME:
        volume->claim_name = g_strdup(name);
        break;
    }
    g_ptr_array_add(spec->volumes, volume);

    disk->name = g_strdup(name);
    disk->kind = kind;
    disk->bus = bus;
    disk->readonly = kind == PODVM_DISK_KIND_CDROM;
    g_ptr_array_add(spec->disks, disk);
    return disk;
}

static PodvmSpecDisk *
add_disk(PodvmSpec *spec, const char *name, PodvmVolumeSource source, PodvmDiskKind kind,
         PodvmDiskBus bus)
{
    return add_disk_full(spec, name, source, kind, bus, NULL);
}

static PodvmSpecVolume *
find_volume(PodvmSpec *spec, const char *name)
{
    for (guint i = 0; i < spec->volumes->len; i++) {
        PodvmSpecVolume *volume = g_ptr_array_index(spec->volumes, i);

        if (strcmp(volume->name, name) == 0)
            return volume;
    }
    g_assert_not_reached();
}

/* Every source once, as a disk on @bus (the cloud-init ISO too: it becomes read-only). */
static void
add_every_source(PodvmSpec *spec, PodvmDiskBus bus)
{
    const PodvmDiskKind disk = PODVM_DISK_KIND_DISK;

    add_disk(spec, "hostdisk-raw", PODVM_VOLUME_HOST_DISK, disk, bus);
    add_disk_full(spec, "hostdisk-block", PODVM_VOLUME_HOST_DISK, disk, bus,
                  "/dev/disk/by-id/podvm-test-block");
    add_disk(spec, "emptydisk", PODVM_VOLUME_EMPTY_DISK, disk, bus);
    add_disk(spec, "ephemeral", PODVM_VOLUME_EPHEMERAL, disk, bus);
    add_disk(spec, "containerdisk", PODVM_VOLUME_CONTAINER_DISK, disk, bus);
    add_disk(spec, "cloudinit", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, disk, bus);
    add_disk(spec, "pvc", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM, disk, bus);
    add_disk(spec, "pvc-readonly", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM, disk, bus);
    find_volume(spec, "pvc-readonly")->readonly = TRUE;
    add_disk(spec, "datavolume", PODVM_VOLUME_DATA_VOLUME, disk, bus);
}

static void
build_disks_virtio(PodvmSpec *spec)
{
    add_every_source(spec, PODVM_DISK_BUS_VIRTIO);
}

static void
build_disks_scsi(PodvmSpec *spec)
{
    add_every_source(spec, PODVM_DISK_BUS_SCSI);
    add_disk(spec, "configdrive", PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE, PODVM_DISK_KIND_CDROM,
             PODVM_DISK_BUS_SCSI);
}

/* q35's six ports: what a sata disk can be (ide-hd is never read-only) and a cdrom. */
static void
build_disks_sata(PodvmSpec *spec)
{
    const PodvmDiskKind disk = PODVM_DISK_KIND_DISK;
    const PodvmDiskBus sata = PODVM_DISK_BUS_SATA;

    add_disk(spec, "hostdisk-raw", PODVM_VOLUME_HOST_DISK, disk, sata);
    add_disk_full(spec, "hostdisk-block", PODVM_VOLUME_HOST_DISK, disk, sata,
                  "/dev/disk/by-id/podvm-test-block");
    add_disk(spec, "emptydisk", PODVM_VOLUME_EMPTY_DISK, disk, sata);
    add_disk(spec, "ephemeral", PODVM_VOLUME_EPHEMERAL, disk, sata);
    add_disk(spec, "containerdisk", PODVM_VOLUME_CONTAINER_DISK, disk, sata);
    add_disk(spec, "cloudinit", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, PODVM_DISK_KIND_CDROM, sata);
}

static void
build_disks_sata_more(PodvmSpec *spec)
{
    const PodvmDiskBus sata = PODVM_DISK_BUS_SATA;

    add_disk(spec, "pvc", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM, PODVM_DISK_KIND_DISK, sata);
    add_disk(spec, "datavolume", PODVM_VOLUME_DATA_VOLUME, PODVM_DISK_KIND_DISK, sata);
    add_disk(spec, "configdrive", PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE, PODVM_DISK_KIND_CDROM,
             sata);
    /* A readOnly claim can be a sata cdrom (not a sata disk). */
    add_disk(spec, "pvc-readonly", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM, PODVM_DISK_KIND_CDROM,
             sata);
    find_volume(spec, "pvc-readonly")->readonly = TRUE;
}

/* pc: PIIX IDE (ide.0/ide.1, two units each), virtio and scsi on the PCI bus. */
static void
build_disks_machine_pc(PodvmSpec *spec)
{
    const PodvmDiskBus sata = PODVM_DISK_BUS_SATA;

    g_free(spec->machine_type);
    spec->machine_type = g_strdup("pc");
    add_disk(spec, "hostdisk-raw", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_DISK, sata);
    add_disk(spec, "emptydisk", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, sata);
    add_disk(spec, "datavolume", PODVM_VOLUME_DATA_VOLUME, PODVM_DISK_KIND_DISK,
             PODVM_DISK_BUS_VIRTIO);
    add_disk(spec, "cloudinit", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, PODVM_DISK_KIND_CDROM, sata);
    add_disk(spec, "ephemeral", PODVM_VOLUME_EPHEMERAL, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SCSI);
    add_disk(spec, "pvc", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM, PODVM_DISK_KIND_DISK, sata);
}

static void
build_disks_cache(PodvmSpec *spec)
{
    static const struct {
        const char *name;
        PodvmDiskBus bus;
        PodvmDiskCache cache;
    } disks[] = {
        { "virtio-none", PODVM_DISK_BUS_VIRTIO, PODVM_DISK_CACHE_NONE },
        { "virtio-writethrough", PODVM_DISK_BUS_VIRTIO, PODVM_DISK_CACHE_WRITETHROUGH },
        { "virtio-writeback", PODVM_DISK_BUS_VIRTIO, PODVM_DISK_CACHE_WRITEBACK },
        { "scsi-none", PODVM_DISK_BUS_SCSI, PODVM_DISK_CACHE_NONE },
        { "scsi-writethrough", PODVM_DISK_BUS_SCSI, PODVM_DISK_CACHE_WRITETHROUGH },
        { "scsi-writeback", PODVM_DISK_BUS_SCSI, PODVM_DISK_CACHE_WRITEBACK },
        { "sata-none", PODVM_DISK_BUS_SATA, PODVM_DISK_CACHE_NONE },
        { "sata-writethrough", PODVM_DISK_BUS_SATA, PODVM_DISK_CACHE_WRITETHROUGH },
        { "sata-writeback", PODVM_DISK_BUS_SATA, PODVM_DISK_CACHE_WRITEBACK },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(disks); i++) {
        PodvmVolumeSource source = i % 2 == 0 ? PODVM_VOLUME_HOST_DISK : PODVM_VOLUME_EMPTY_DISK;

        add_disk(spec, disks[i].name, source, PODVM_DISK_KIND_DISK, disks[i].bus)->cache =
            disks[i].cache;
    }
    /* A cdrom with a cache mode: ide-cd takes write-cache too. */
    add_disk(spec, "cdrom-none", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, PODVM_DISK_KIND_CDROM,
             PODVM_DISK_BUS_SCSI)
        ->cache = PODVM_DISK_CACHE_NONE;
}

/* With a kernel: the disks' bootOrder still goes to the firmware (the kernel boots first). */
static void
build_disks_serial_boot(PodvmSpec *spec)
{
    PodvmSpecDisk *disk;

    disk = add_disk(spec, "root", PODVM_VOLUME_CONTAINER_DISK, PODVM_DISK_KIND_DISK,
                    PODVM_DISK_BUS_VIRTIO);
    disk->serial = g_strdup("ROOT-0001");
    disk->boot_order = 2;
    disk = add_disk(spec, "install", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_CDROM,
                    PODVM_DISK_BUS_SCSI);
    disk->serial = g_strdup("INSTALL.1");
    disk->boot_order = 1;
    disk =
        add_disk(spec, "data", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SATA);
    disk->serial = g_strdup("data_2+x");
}

static void
drop_kernel(PodvmSpec *spec)
{
    g_clear_pointer(&spec->kernel_path, g_free);
    g_clear_pointer(&spec->initrd_path, g_free);
    g_clear_pointer(&spec->kernel_args, g_free);
}

/* No kernel, no bootOrder: the first disk boots. */
static void
build_disks_boot_from_disk(PodvmSpec *spec)
{
    drop_kernel(spec);
    add_disk(spec, "root", PODVM_VOLUME_CONTAINER_DISK, PODVM_DISK_KIND_DISK,
             PODVM_DISK_BUS_VIRTIO);
    add_disk(spec, "cloudinit", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, PODVM_DISK_KIND_CDROM,
             PODVM_DISK_BUS_SATA);
}

/* No kernel, bootOrder given: only what the spec says. */
static void
build_disks_boot_order(PodvmSpec *spec)
{
    drop_kernel(spec);
    add_disk(spec, "data", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_VIRTIO);
    add_disk(spec, "root", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM, PODVM_DISK_KIND_DISK,
             PODVM_DISK_BUS_SCSI)
        ->boot_order = 2;
    add_disk(spec, "installer", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_CDROM, PODVM_DISK_BUS_SATA)
        ->boot_order = 1;
}

static void
build_disks_lun(PodvmSpec *spec)
{
    add_disk(spec, "scratch", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SCSI);
    add_disk_full(spec, "san", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_LUN, PODVM_DISK_BUS_SCSI,
                  "/dev/disk/by-id/scsi-podvm-test-san")
        ->cache = PODVM_DISK_CACHE_NONE;
}

/* Two 63-character names that share their first 55 characters. */
static void
build_disks_long_names(PodvmSpec *spec)
{
    add_disk(spec, NAME_63, PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_VIRTIO);
    add_disk(spec, NAME_63_TWIN, PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SCSI);
}

#define COMMA_PATH "/srv/images/a,file.driver=nbd,b=c.img"
#define COMMA_PATH_2 "/srv/images/x=y,,read-only=off"

static void
build_disks_path_commas(PodvmSpec *spec)
{
    add_disk_full(spec, "commas", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_DISK,
                  PODVM_DISK_BUS_VIRTIO, COMMA_PATH);
    add_disk_full(spec, "commas-cdrom", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_CDROM,
                  PODVM_DISK_BUS_SATA, COMMA_PATH_2);
}

/* -- prepared volumes: what the storage backends would have made ---------- */

static void
test_prepared_free(PodvmPreparedVolume *prepared)
{
    g_free(prepared->volume_name);
    g_free(prepared->filename);
    g_free(prepared->format);
    g_free(prepared);
}

/*
 * The volumes of @spec as the backends of storage/podvm-storage.h prepare
 * them, from the names alone (so the golden files are the same everywhere).
 */
static GPtrArray *
prepare_volumes(const PodvmSpec *spec, const char *state_dir, const char *run_dir)
{
    GPtrArray *prepared = g_ptr_array_new_with_free_func((GDestroyNotify)test_prepared_free);

    for (guint i = 0; spec->volumes != NULL && i < spec->volumes->len; i++) {
        const PodvmSpecVolume *volume = g_ptr_array_index(spec->volumes, i);
        PodvmPreparedVolume *p = g_new0(PodvmPreparedVolume, 1);
        g_autofree char *qcow2 = g_strconcat(volume->name, ".qcow2", NULL);
        g_autofree char *iso = g_strconcat(volume->name, ".iso", NULL);
        g_autofree char *image = g_strconcat(volume->claim_name, ".img", NULL);

        p->volume_name = g_strdup(volume->name);
        switch (volume->source) {
        case PODVM_VOLUME_HOST_DISK:
            p->filename = g_strdup(volume->path);
            p->format = g_strdup("raw");
            p->block_device = g_str_has_prefix(volume->path, "/dev/");
            break;
        case PODVM_VOLUME_EMPTY_DISK:
            p->filename = g_build_filename(state_dir, "pods", spec->name, "volumes", qcow2, NULL);
            p->format = g_strdup("qcow2");
            break;
        case PODVM_VOLUME_EPHEMERAL:
        case PODVM_VOLUME_CONTAINER_DISK:
            p->filename = g_build_filename(run_dir, "pods", spec->name, "volumes", qcow2, NULL);
            p->format = g_strdup("qcow2");
            break;
        case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
        case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
            p->filename = g_build_filename(run_dir, "pods", spec->name, "volumes", iso, NULL);
            p->format = g_strdup("raw");
            p->read_only = TRUE;
            break;
        case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
        case PODVM_VOLUME_DATA_VOLUME:
            p->filename = g_build_filename(state_dir, "pool", image, NULL);
            p->format = g_strdup("raw");
            p->read_only = volume->readonly;
            break;
        }
        g_ptr_array_add(prepared, p);
    }
    return prepared;
}

/* The context of a golden case, with run_dir-like paths that are the same everywhere. */
typedef struct {
    PodvmQemuArgvContext ctx;
    char *qmp_socket;
    char *console_socket;
    char *console_log;
    char *guest_agent_socket;
    char *pidfile;
    GPtrArray *prepared;
} Context;

static void
context_clear(Context *c)
{
    g_free(c->qmp_socket);
    g_free(c->console_socket);
    g_free(c->console_log);
    g_free(c->guest_agent_socket);
    g_free(c->pidfile);
    g_clear_pointer(&c->prepared, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Context, context_clear)

static void
context_init(Context *c, const GoldenCase *tc, const char *run_dir, const PodvmSpec *spec)
{
    const char *pod = spec->name;

    memset(c, 0, sizeof(*c));
    c->qmp_socket = g_build_filename(run_dir, "pods", pod, "qmp.sock", NULL);
    c->console_socket = g_build_filename(run_dir, "pods", pod, "console.sock", NULL);
    c->console_log = g_build_filename(run_dir, "pods", pod, "console.log", NULL);
    c->guest_agent_socket = g_build_filename(run_dir, "pods", pod, "qga.sock", NULL);
    if (tc->pidfile)
        c->pidfile = g_build_filename(run_dir, "pods", pod, "qemu.pid", NULL);
    c->prepared = prepare_volumes(spec, GOLDEN_STATE_DIR, GOLDEN_RUN_DIR);
    c->ctx.qemu_binary = "qemu-system-x86_64";
    c->ctx.accel = tc->accel;
    c->ctx.uid = TEST_UID;
    c->ctx.qmp_socket = c->qmp_socket;
    c->ctx.console_socket = c->console_socket;
    c->ctx.console_log = c->console_log;
    c->ctx.guest_agent_socket = c->guest_agent_socket;
    c->ctx.pidfile = c->pidfile;
    c->ctx.qmp_listen_fd = tc->listen_fds ? QMP_CHILD_FD : -1;
    c->ctx.console_listen_fd = tc->listen_fds ? CONSOLE_CHILD_FD : -1;
    c->ctx.guest_agent_listen_fd = tc->listen_fds ? GUEST_AGENT_CHILD_FD : -1;
    if (tc->listen_fds) {
        c->ctx.kernel_fd = spec->kernel_path != NULL ? KERNEL_CHILD_FD : 0;
        c->ctx.initrd_fd = spec->initrd_path != NULL ? INITRD_CHILD_FD : 0;
        for (guint i = 0; i < c->prepared->len; i++) {
            PodvmPreparedVolume *p = g_ptr_array_index(c->prepared, i);

            p->qemu_fd = FIRST_DISK_CHILD_FD + (int)i;
            p->fdset = i + 1;
            p->in_fdset = TRUE;
        }
    }
    c->ctx.host_cpus = tc->host_cpus;
    c->ctx.prepared_volumes = c->prepared;
    if (tc->spare_root_ports == 0)
        c->ctx.spare_root_ports = PODVM_QEMU_SPARE_ROOT_PORTS;
    else if (tc->spare_root_ports > 0)
        c->ctx.spare_root_ports = tc->spare_root_ports;
    c->ctx.debug = tc->debug;
}

static TestSpec *
load_spec(const char *name)
{
    g_autofree char *file = g_strconcat(name, ".json", NULL);
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "golden", "argv", file, NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) error = NULL;
    gsize length;
    PodvmSpec *spec;

    g_file_get_contents(path, &data, &length, &error);
    g_assert_no_error(error);
    spec = podvm_spec_parse_data(data, length, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(spec);
    return spec;
}

/* minimal.json, named after @tc and changed by its builder. */
static TestSpec *
build_spec(const GoldenCase *tc)
{
    TestSpec *spec = load_spec("minimal");

    g_free(spec->name);
    spec->name = g_strdup(tc->name);
    tc->build(spec);
    return spec;
}

static char *
golden_json_path(const GoldenCase *tc)
{
    g_autofree char *file = g_strconcat(tc->name, ".json", NULL);

    return g_test_build_filename(G_TEST_DIST, "golden", "argv", file, NULL);
}

/*
 * The spec of a golden case: its JSON file, or (for a case with a builder
 * whose JSON file is not written yet) the spec its builder makes.
 */
static TestSpec *
load_case(const GoldenCase *tc)
{
    g_autofree char *path = golden_json_path(tc);

    if (tc->build == NULL || g_file_test(path, G_FILE_TEST_EXISTS))
        return load_spec(tc->name);
    return build_spec(tc);
}

static gssize
argv_index(GStrv argv, const char *arg)
{
    for (gsize i = 0; argv[i] != NULL; i++) {
        if (strcmp(argv[i], arg) == 0)
            return (gssize)i;
    }
    return -1;
}

/* The value after the first occurrence of @option, or NULL. */
static const char *
option_value(GStrv argv, const char *option)
{
    gssize i = argv_index(argv, option);

    return i >= 0 && argv[i + 1] != NULL ? argv[i + 1] : NULL;
}

static guint
count_option(GStrv argv, const char *option)
{
    guint n = 0;

    for (gsize i = 0; argv[i] != NULL; i++)
        n += strcmp(argv[i], option) == 0;
    return n;
}

/* What every argv must hold, whatever the spec. */
static void
assert_invariants(GStrv argv, const PodvmSpec *spec)
{
    g_assert_cmpstr(argv[0], ==, "qemu-system-x86_64");
    g_assert_cmpint(argv_index(argv, "-S"), >, 0);
    g_assert_cmpint(argv_index(argv, "-nodefaults"), >, 0);
    g_assert_cmpint(argv_index(argv, "-no-user-config"), >, 0);
    g_assert_cmpint(argv_index(argv, "-no-shutdown"), <, 0);
    g_assert_cmpstr(option_value(argv, "-display"), ==, "none");
    g_assert_cmpstr(option_value(argv, "-uuid"), ==, TEST_UID);
    g_assert_cmpstr(option_value(argv, "-sandbox"), ==,
                    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    g_assert_cmpstr(option_value(argv, "-mon"), ==, "chardev=qmp,mode=control");
    if (spec->kernel_path != NULL) {
        g_assert_cmpuint(count_option(argv, "-kernel"), ==, 1);
        /* The spec's path, or the file podvmd passed (fd 5): never anything else. */
        if (!g_str_equal(option_value(argv, "-kernel"), "/proc/self/fd/5"))
            g_assert_cmpstr(option_value(argv, "-kernel"), ==, spec->kernel_path);
        g_assert_cmpuint(count_option(argv, "-append"), ==, 1);
    } else {
        /* QEMU refuses -initrd and -append without -kernel. */
        g_assert_cmpint(argv_index(argv, "-kernel"), <, 0);
        g_assert_cmpint(argv_index(argv, "-append"), <, 0);
    }
    if (spec->initrd_path == NULL)
        g_assert_cmpint(argv_index(argv, "-initrd"), <, 0);
    else if (!g_str_equal(option_value(argv, "-initrd"), "/proc/self/fd/6"))
        g_assert_cmpstr(option_value(argv, "-initrd"), ==, spec->initrd_path);
    /* Two nodes per disk, and no -drive (its key=value syntax is not for user data). */
    g_assert_cmpuint(count_option(argv, "-blockdev"), ==,
                     2 * (spec->disks != NULL ? spec->disks->len : 0));
    g_assert_cmpint(argv_index(argv, "-drive"), <, 0);
    for (gsize i = 0; argv[i] != NULL; i++)
        g_assert_null(strchr(argv[i], '\n'));
}

static char *
argv_to_text(GStrv argv)
{
    g_autoptr(GString) text = g_string_new(NULL);

    for (gsize i = 0; argv[i] != NULL; i++) {
        g_string_append(text, argv[i]);
        g_string_append_c(text, '\n');
    }
    return g_string_free(g_steal_pointer(&text), FALSE);
}

static void
test_golden(gconstpointer data)
{
    const GoldenCase *tc = data;
    g_autoptr(TestSpec) spec = load_case(tc);
    g_auto(Context) c = { 0 };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) again = NULL;
    g_autofree char *text = NULL;
    g_autofree char *file = g_strconcat(tc->name, ".argv", NULL);
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "golden", "argv", file, NULL);
    g_autofree char *expected = NULL;

    context_init(&c, tc, GOLDEN_RUN_DIR, spec);
    argv = podvm_qemu_argv_build(spec, &c.ctx, &error);
    g_assert_no_error(error);
    g_assert_nonnull(argv);
    assert_invariants(argv, spec);

    /* A pure function: the same input gives the same argv. */
    again = podvm_qemu_argv_build(spec, &c.ctx, &error);
    g_assert_no_error(error);
    g_assert_true(g_strv_equal((const char *const *)argv, (const char *const *)again));

    /*
     * A case with a builder: the spec built in C and the one parsed from
     * its JSON file give the same argv (the JSON file is written from the
     * C spec when regenerating and it does not exist yet).
     */
    if (tc->build != NULL) {
        g_autoptr(TestSpec) built = build_spec(tc);
        g_autofree char *json_path = golden_json_path(tc);
        g_auto(GStrv) built_argv = podvm_qemu_argv_build(built, &c.ctx, &error);

        g_assert_no_error(error);
        g_assert_true(g_strv_equal((const char *const *)argv, (const char *const *)built_argv));
        if (g_strcmp0(g_getenv("PODVM_TEST_REGENERATE"), "1") == 0 &&
            !g_file_test(json_path, G_FILE_TEST_EXISTS)) {
            g_autoptr(JsonNode) document = podvm_spec_to_json(built);
            g_autofree char *json = json_to_string(document, TRUE);
            g_autofree char *with_newline = g_strconcat(json, "\n", NULL);

            g_file_set_contents(json_path, with_newline, -1, &error);
            g_assert_no_error(error);
            g_test_message("wrote %s", json_path);
        }
    }

    text = argv_to_text(argv);
    if (g_strcmp0(g_getenv("PODVM_TEST_REGENERATE"), "1") == 0) {
        g_file_set_contents(path, text, -1, &error);
        g_assert_no_error(error);
        g_test_message("rewrote %s", path);
        return;
    }
    g_file_get_contents(path, &expected, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, expected);
}

/* -- properties the golden files also show, asserted where they matter -- */

static GStrv
build_case(const char *name, const GoldenCase *tc, TestSpec **out_spec)
{
    g_autoptr(TestSpec) spec = load_case(golden_case(name));
    g_auto(Context) c = { 0 };
    g_autoptr(GError) error = NULL;
    GStrv argv;

    context_init(&c, tc, GOLDEN_RUN_DIR, spec);
    argv = podvm_qemu_argv_build(spec, &c.ctx, &error);
    g_assert_no_error(error);
    g_assert_nonnull(argv);
    if (out_spec != NULL)
        *out_spec = g_steal_pointer(&spec);
    return argv;
}

static void
test_path_commas(void)
{
    g_auto(GStrv) argv = build_case("path-commas", &golden_cases[0], NULL);

    /*
     * QEMU 7.2 takes -kernel/-initrd/-append as plain strings (not key=value
     * lists): the path stays one argument, unchanged, and adds no option.
     */
    g_assert_cmpstr(option_value(argv, "-kernel"), ==, "/tmp/a,format=raw");
    g_assert_cmpstr(option_value(argv, "-initrd"), ==, "/tmp/i,if=none,id=x=y");
    g_assert_cmpstr(option_value(argv, "-append"), ==, "console=ttyS0 podvm.x=a,b -S quiet");
    for (gsize i = 0; argv[i] != NULL; i++) {
        g_assert_cmpstr(argv[i], !=, "format=raw");
        g_assert_false(g_str_has_prefix(argv[i], "if=none"));
        g_assert_false(g_str_has_prefix(argv[i], "-drive"));
    }
    g_assert_cmpuint(count_option(argv, "-S"), ==, 1);
}

/*
 * An app pod: podvm's app guest from the kernel and initrd podvmd opened,
 * one read-only virtio disk per app (serial app0, app1: how the guest's
 * init finds them) from fd sets, the channel's virtio-serial port on the
 * socket podvmd bound, and the app guest's command line.
 */
static void
test_app_guest(void)
{
    static const char doc[] =
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
        "\"web\", \"uid\": \"" TEST_UID "\"}, \"spec\": {\"apps\": [{\"name\": \"a\", "
        "\"image\": \"redis\"}, {\"name\": \"b\", \"image\": \"oci:/srv/x:1\"}]}}";
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(doc, -1, NULL, &error);
    const int disk_fds[] = { 10, 11 };
    PodvmQemuAppGuest guest = { "/run/podvm/pods/web/app.sock", 9, disk_fds, 2 };
    PodvmQemuArgvContext ctx = { 0 };
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) debug_argv = NULL;
    g_autofree char *joined = NULL;

    g_assert_no_error(error);
    g_assert_true(podvm_spec_uses_app_guest(spec));
    ctx.qemu_binary = "qemu-system-x86_64";
    ctx.accel = PODVM_ACCEL_TCG;
    ctx.uid = TEST_UID;
    ctx.qmp_socket = "/run/podvm/pods/web/qmp.sock";
    ctx.console_socket = "/run/podvm/pods/web/console.sock";
    ctx.console_log = "/var/lib/podvm/pods/web/console.log";
    ctx.qmp_listen_fd = QMP_CHILD_FD;
    ctx.console_listen_fd = CONSOLE_CHILD_FD;
    ctx.host_cpus = 4;

    /* Without the guest's files it is refused, as without a kernel. */
    argv = podvm_qemu_argv_build(spec, &ctx, &error);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_null(argv);
    g_clear_error(&error);
    ctx.app_guest = &guest;
    argv = podvm_qemu_argv_build(spec, &ctx, &error);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_null(argv);
    g_clear_error(&error);

    ctx.kernel_fd = KERNEL_CHILD_FD;
    ctx.initrd_fd = INITRD_CHILD_FD;
    argv = podvm_qemu_argv_build(spec, &ctx, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(option_value(argv, "-kernel"), ==, "/proc/self/fd/5");
    g_assert_cmpstr(option_value(argv, "-initrd"), ==, "/proc/self/fd/6");
    g_assert_cmpstr(option_value(argv, "-append"), ==, "console=ttyS0 podvm.app=1 loglevel=0");
    /* Two apps of 128Mi and the system's 128Mi; every host CPU (no app gives cpus). */
    g_assert_cmpstr(option_value(argv, "-m"), ==, "384M");
    g_assert_cmpstr(option_value(argv, "-smp"), ==, "4");
    g_assert_cmpuint(count_option(argv, "-blockdev"), ==, 4);
    joined = g_strjoinv("\n", argv);
    g_assert_nonnull(strstr(joined, "-add-fd\nfd=10,set=2000,opaque=podvm:app0\n"));
    g_assert_nonnull(strstr(joined, "-add-fd\nfd=11,set=2001,opaque=podvm:app1\n"));
    g_assert_nonnull(strstr(joined, "{\"driver\":\"file\",\"node-name\":\"app0-file\","
                                    "\"filename\":\"/dev/fdset/2000\",\"read-only\":true}"));
    g_assert_nonnull(strstr(joined, "{\"driver\":\"raw\",\"node-name\":\"app1\",\"file\":"
                                    "\"app1-file\",\"read-only\":true}"));
    g_assert_nonnull(strstr(joined, "{\"driver\":\"virtio-blk-pci\",\"id\":\"app1\",\"drive\":"
                                    "\"app1\",\"serial\":\"app1\"}"));
    g_assert_nonnull(strstr(joined, "-chardev\nsocket,id=appchannel,fd=9,server=on,wait=off\n"));
    g_assert_nonnull(strstr(joined, "{\"driver\":\"virtserialport\",\"bus\":\"appserial.0\","
                                    "\"chardev\":\"appchannel\",\"name\":\"io.podvm.app.0\","
                                    "\"id\":\"appchannel\"}"));

    ctx.debug = TRUE;
    debug_argv = podvm_qemu_argv_build(spec, &ctx, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(option_value(debug_argv, "-append"), ==, "console=ttyS0 podvm.app=1");
}

/*
 * The guest agent's channel: a VM pod has it (KubeVirt always attaches it),
 * last of the devices, on its own virtio-serial controller; the socket is
 * the path (QEMU binds it) or the fd podvmd bound; autoattachGuestAgent:
 * false and app pods have none.
 */
static void
test_guest_agent(void)
{
    g_auto(GStrv) minimal = build_case("minimal", golden_case("minimal"), NULL);
    g_auto(GStrv) fds = build_case("kvm-fds", golden_case("kvm-fds"), NULL);
    g_auto(GStrv) off = build_case("no-guest-agent", golden_case("no-guest-agent"), NULL);
    g_autofree char *joined = g_strjoinv("\n", minimal);
    g_autofree char *joined_fds = g_strjoinv("\n", fds);
    g_autofree char *joined_off = g_strjoinv("\n", off);
    const char *port = "-device\n{\"driver\":\"virtserialport\",\"bus\":\"qgaserial.0\","
                       "\"chardev\":\"qga0\",\"name\":\"org.qemu.guest_agent.0\","
                       "\"id\":\"qga0\"}";

    g_assert_nonnull(strstr(joined, "-chardev\nsocket,id=qga0,path=/run/podvm/pods/minimal/"
                                    "qga.sock,server=on,wait=off\n-device\n{\"driver\":"
                                    "\"virtio-serial-pci\",\"id\":\"qgaserial\"}\n"));
    g_assert_nonnull(strstr(joined, port));
    /* Last of the devices: only the kernel comes after it. */
    g_assert_cmpstr(minimal[argv_index(minimal, "-kernel") - 1], ==, port + strlen("-device\n"));
    g_assert_nonnull(strstr(joined_fds, "-chardev\nsocket,id=qga0,fd=40,server=on,wait=off\n"));
    g_assert_null(strstr(joined_off, "qga"));
    g_assert_null(strstr(joined_off, "virtserialport"));
}

static void
test_firmware_escaped(void)
{
    g_auto(GStrv) argv = build_case("firmware", &golden_cases[0], NULL);

    /* -smbios is a key=value list: the serial's commas are doubled. */
    g_assert_cmpstr(option_value(argv, "-smbios"), ==,
                    "type=1,uuid=0e6a4ad1-47e3-4c33-9d3c-7f8d2a0f5b11,"
                    "serial=SN 12,,type=2,,manufacturer=evil");
}

static void
test_sizing(void)
{
    g_autoptr(TestSpec) spec = NULL;
    g_auto(GStrv) apps = build_case("apps", &golden_cases[0], &spec);
    g_auto(GStrv) host = build_case("apps-host-cpus", &golden_cases[8], NULL);
    g_auto(GStrv) topology = build_case("topology", &golden_cases[0], NULL);
    g_auto(GStrv) odd = build_case("no-serial", &golden_cases[0], NULL);

    /* 256Mi + 128Mi (no memory given) + 128Mi system; 0.5 + 1.2 CPUs -> 2. */
    g_assert_cmpstr(option_value(apps, "-m"), ==, "512M");
    g_assert_cmpstr(option_value(apps, "-smp"), ==, "2");
    /* An app without cpus: the host's CPU count (6 in that case). */
    g_assert_cmpstr(option_value(host, "-m"), ==, "1280M");
    g_assert_cmpstr(option_value(host, "-smp"), ==, "6");
    g_assert_cmpstr(option_value(topology, "-smp"), ==, "4,sockets=2,cores=2,threads=1");
    g_assert_cmpstr(option_value(topology, "-cpu"), ==, "Nehalem");
    /* 100000000 bytes is 95.4 MiB: rounded up. */
    g_assert_cmpstr(option_value(odd, "-m"), ==, "96M");
}

static void
test_console_and_debug(void)
{
    g_auto(GStrv) minimal = build_case("minimal", &golden_cases[0], NULL);
    g_auto(GStrv) debug = build_case("debug", &golden_cases[1], NULL);
    g_auto(GStrv) no_serial = build_case("no-serial", &golden_cases[3], NULL);
    g_auto(GStrv) apps = build_case("apps", &golden_cases[7], NULL);

    g_assert_cmpstr(option_value(minimal, "-append"), ==, "console=ttyS0 quiet");
    g_assert_cmpstr(option_value(debug, "-append"), ==, "console=ttyS0");
    g_assert_cmpstr(option_value(no_serial, "-append"), ==, "panic=-1 quiet");
    g_assert_cmpint(argv_index(no_serial, "-serial"), <, 0);
    /* QMP, the guest agent's channel, and the serial console when there is one. */
    g_assert_cmpuint(count_option(no_serial, "-chardev"), ==, 2);
    g_assert_cmpuint(count_option(minimal, "-chardev"), ==, 3);
    g_assert_cmpstr(option_value(apps, "-append"), ==,
                    "console=ttyS0 podvm.hostname=apps-host quiet");
}

static void
test_root_ports(void)
{
    g_auto(GStrv) q35 = build_case("minimal", &golden_cases[0], NULL);
    g_auto(GStrv) versioned = build_case("topology", &golden_cases[0], NULL);
    g_auto(GStrv) pc = build_case("machine-pc", &golden_cases[0], NULL);
    guint q35_ports = 0, versioned_ports = 0;

    for (gsize i = 0; q35[i] != NULL; i++)
        q35_ports += strstr(q35[i], "\"pcie-root-port\"") != NULL;
    for (gsize i = 0; versioned[i] != NULL; i++)
        versioned_ports += strstr(versioned[i], "\"pcie-root-port\"") != NULL;
    g_assert_cmpuint(q35_ports, ==, PODVM_QEMU_SPARE_ROOT_PORTS);
    g_assert_cmpuint(versioned_ports, ==, PODVM_QEMU_SPARE_ROOT_PORTS);
    for (gsize i = 0; pc[i] != NULL; i++)
        g_assert_null(strstr(pc[i], "pcie-root-port"));
    g_assert_cmpstr(option_value(pc, "-machine"), ==, "pc,accel=tcg");
    g_assert_true(podvm_qemu_machine_is_q35("q35"));
    g_assert_true(podvm_qemu_machine_is_q35("pc-q35-7.2"));
    g_assert_false(podvm_qemu_machine_is_q35("pc"));
    g_assert_false(podvm_qemu_machine_is_q35("pc-i440fx-7.2"));
}

static guint
count_root_ports(GStrv argv)
{
    guint n = 0;

    for (gsize i = 0; argv[i] != NULL; i++)
        n += strstr(argv[i], "\"pcie-root-port\"") != NULL;
    return n;
}

/* The parsed JSON object of every @option argument, in order. */
static GPtrArray *
json_args(GStrv argv, const char *option)
{
    GPtrArray *objects = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);

    for (gsize i = 0; argv[i] != NULL; i++) {
        g_autoptr(GError) error = NULL;

        if (strcmp(argv[i], option) != 0 || argv[i + 1] == NULL || argv[i + 1][0] != '{')
            continue;
        g_ptr_array_add(objects, json_from_string(argv[i + 1], &error));
        g_assert_no_error(error);
    }
    return objects;
}

/* The @option JSON object whose @member is @value (it must be there). */
static JsonObject *
find_json_arg(GPtrArray *objects, const char *member, const char *value)
{
    for (guint i = 0; i < objects->len; i++) {
        JsonObject *object = json_node_get_object(g_ptr_array_index(objects, i));

        if (g_strcmp0(json_object_get_string_member_with_default(object, member, NULL), value) == 0)
            return object;
    }
    g_assert_not_reached();
}

static void
test_root_port_counts(void)
{
    g_auto(GStrv) none = build_case("root-ports-none", golden_case("root-ports-none"), NULL);
    g_auto(GStrv) many = build_case("root-ports-32", golden_case("root-ports-32"), NULL);
    g_autoptr(TestSpec) spec = load_spec("minimal");
    g_autoptr(GPtrArray) devices = json_args(many, "-device");
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_auto(Context) c = { 0 };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) zeroed = NULL;
    PodvmQemuArgvContext ctx;
    guint multifunction = 0;

    g_assert_cmpuint(count_root_ports(none), ==, 0);
    g_assert_cmpuint(count_root_ports(many), ==, PODVM_QEMU_MAX_SPARE_ROOT_PORTS);

    /* A context initialised with zeros means no spare ports (not the default of 4). */
    context_init(&c, &golden_cases[0], GOLDEN_RUN_DIR, spec);
    ctx = c.ctx;
    ctx.spare_root_ports = 0;
    zeroed = podvm_qemu_argv_build(spec, &ctx, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(count_root_ports(zeroed), ==, 0);

    /* 32 ports: slots 0x10..0x13, eight functions each, every chassis/port/addr once. */
    for (guint i = 0; i < devices->len; i++) {
        JsonObject *port = json_node_get_object(g_ptr_array_index(devices, i));
        const char *addr = json_object_get_string_member_with_default(port, "addr", "");

        if (g_strcmp0(json_object_get_string_member(port, "driver"), "pcie-root-port") != 0)
            continue;
        g_assert_true(
            g_hash_table_add(seen, g_strdup_printf("chassis %" G_GINT64_FORMAT,
                                                   json_object_get_int_member(port, "chassis"))));
        g_assert_true(
            g_hash_table_add(seen, g_strdup_printf("port %" G_GINT64_FORMAT,
                                                   json_object_get_int_member(port, "port"))));
        g_assert_true(g_hash_table_add(seen, g_strdup(addr)));
        g_assert_true(g_str_has_prefix(addr, "0x10.") || g_str_has_prefix(addr, "0x11.") ||
                      g_str_has_prefix(addr, "0x12.") || g_str_has_prefix(addr, "0x13."));
        if (json_object_has_member(port, "multifunction")) {
            g_assert_true(g_str_has_suffix(addr, ".0"));
            multifunction++;
        } else {
            g_assert_false(g_str_has_suffix(addr, ".0"));
        }
    }
    g_assert_cmpuint(g_hash_table_size(seen), ==, 3 * PODVM_QEMU_MAX_SPARE_ROOT_PORTS);
    g_assert_cmpuint(multifunction, ==, PODVM_QEMU_MAX_SPARE_ROOT_PORTS / 8);
}

/* -- disks --------------------------------------------------------------- */

/* QEMU 7.2's rule for node names: a letter first, then [A-Za-z0-9-._], at most 31. */
static void
assert_node_name_valid(const char *name)
{
    g_assert_cmpuint(strlen(name), <=, 31);
    g_assert_true(g_ascii_isalpha(name[0]));
    for (const char *p = name; *p != '\0'; p++)
        g_assert_true(g_ascii_isalnum(*p) || *p == '-' || *p == '.' || *p == '_');
}

static void
test_disk_names(void)
{
    static const char *const names[] = {
        "root",
        "0disk",
        "a",
        "twenty-nine-characters-long-x",
        "thirty-characters-long-name-xy",
        NAME_63,
        NAME_63_TWIN,
    };
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        for (int format = 0; format < 2; format++) {
            char *node_name = podvm_qemu_disk_node_name(names[i], format);

            assert_node_name_valid(node_name);
            g_assert_true(g_str_has_prefix(node_name, format ? "d-" : "f-"));
            g_assert_true(g_hash_table_add(seen, node_name));
        }
    }

    {
        g_autofree char *file = podvm_qemu_disk_node_name("root", FALSE);
        g_autofree char *format = podvm_qemu_disk_node_name("root", TRUE);
        g_autofree char *fits = podvm_qemu_disk_node_name("twenty-nine-characters-long-x", TRUE);
        g_autofree char *cut = podvm_qemu_disk_node_name("thirty-characters-long-name-xy", TRUE);
        g_autofree char *long_file = podvm_qemu_disk_node_name(NAME_63, FALSE);
        g_autofree char *long_format = podvm_qemu_disk_node_name(NAME_63, TRUE);
        g_autofree char *id = podvm_qemu_disk_device_id(NAME_63);

        g_assert_cmpstr(file, ==, "f-root");
        g_assert_cmpstr(format, ==, "d-root");
        g_assert_cmpstr(fits, ==, "d-twenty-nine-characters-long-x");
        g_assert_cmpuint(strlen(cut), ==, 31);
        g_assert_true(g_str_has_prefix(cut, "d-thirty-characters-lo-"));
        /*
         * Stable across daemon restarts and GLib versions (running pods are
         * found by these names): the first 8 hex digits of SHA-256 of the name.
         */
        g_assert_cmpstr(long_file, ==, "f-a-disk-name-that-is--207a8030");
        g_assert_cmpstr(long_format, ==, "d-a-disk-name-that-is--207a8030");
        /* Device ids are not limited: the whole name. */
        g_assert_cmpstr(id, ==, "disk-" NAME_63);
    }
}

static PodvmPreparedVolume
prepared_volume(const char *filename, const char *format)
{
    PodvmPreparedVolume prepared = { 0 };

    prepared.volume_name = (char *)"vol";
    prepared.filename = (char *)filename;
    prepared.format = (char *)format;
    return prepared;
}

static char *
node_text(JsonNode *node)
{
    char *text = json_to_string(node, FALSE);

    json_node_unref(node);
    return text;
}

/* The objects hotplug sends (blockdev-add, device_add), key by key. */
static void
test_disk_objects(void)
{
    PodvmSpecDisk disk = { 0 };
    PodvmPreparedVolume qcow2 =
        prepared_volume("/var/lib/podvm/pods/p/volumes/data.qcow2", "qcow2");
    PodvmPreparedVolume iso = prepared_volume("/run/podvm/pods/p/volumes/ci.iso", "raw");
    PodvmPreparedVolume block = prepared_volume("/dev/sdb", "raw");
    g_autoptr(GError) error = NULL;
    g_autofree char *protocol = NULL;
    g_autofree char *format = NULL;
    g_autofree char *device = NULL;
    g_autofree char *scsi = NULL;
    g_autofree char *cdrom = NULL;
    g_autofree char *iso_node = NULL;
    g_autofree char *lun = NULL;
    g_autofree char *block_node = NULL;
    g_autofree char *sata = NULL;
    g_autofree char *controller = node_text(podvm_qemu_scsi_controller(NULL));
    g_autofree char *hot_controller = node_text(podvm_qemu_scsi_controller("podvm-rp1"));

    disk.name = (char *)"data";
    disk.kind = PODVM_DISK_KIND_DISK;
    disk.bus = PODVM_DISK_BUS_VIRTIO;
    disk.cache = PODVM_DISK_CACHE_NONE;
    disk.serial = (char *)"SN-1";
    disk.boot_order = 3;
    protocol = node_text(podvm_qemu_disk_protocol_blockdev(&disk, &qcow2));
    format = node_text(podvm_qemu_disk_format_blockdev(&disk, &qcow2));
    device = node_text(podvm_qemu_disk_device(&disk, &qcow2, "podvm-rp0", 0, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(
        protocol, ==,
        "{\"driver\":\"file\",\"node-name\":\"f-data\",\"filename\":\"/var/lib/podvm/pods/"
        "p/volumes/data.qcow2\",\"read-only\":false,\"discard\":\"unmap\",\"cache\":{"
        "\"direct\":true,\"no-flush\":false}}");
    g_assert_cmpstr(format, ==,
                    "{\"driver\":\"qcow2\",\"node-name\":\"d-data\",\"file\":\"f-data\",\"read-"
                    "only\":false,\"discard\":\"unmap\",\"cache\":{\"direct\":true,\"no-flush\":"
                    "false}}");
    g_assert_cmpstr(
        device, ==,
        "{\"driver\":\"virtio-blk-pci\",\"id\":\"disk-data\",\"drive\":\"d-data\",\"bus\":"
        "\"podvm-rp0\",\"bootindex\":3,\"serial\":\"SN-1\",\"write-cache\":\"on\"}");

    disk.bus = PODVM_DISK_BUS_SCSI;
    disk.cache = PODVM_DISK_CACHE_WRITETHROUGH;
    disk.serial = NULL;
    disk.boot_order = 0;
    scsi = node_text(podvm_qemu_disk_device(&disk, &qcow2, NULL, 3, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(scsi, ==,
                    "{\"driver\":\"scsi-hd\",\"id\":\"disk-data\",\"drive\":\"d-data\",\"bus\":"
                    "\"podvm-scsi0.0\",\"channel\":0,\"scsi-id\":0,\"lun\":3,\"write-cache\":"
                    "\"off\"}");

    /* A read-only medium: read-only nodes, cache members only when a mode is given. */
    iso.read_only = TRUE;
    disk.name = (char *)"ci";
    disk.kind = PODVM_DISK_KIND_CDROM;
    disk.cache = PODVM_DISK_CACHE_DEFAULT;
    iso_node = node_text(podvm_qemu_disk_protocol_blockdev(&disk, &iso));
    cdrom = node_text(podvm_qemu_disk_device(&disk, &iso, NULL, 0, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(iso_node, ==,
                    "{\"driver\":\"file\",\"node-name\":\"f-ci\",\"filename\":\"/run/podvm/pods/p/"
                    "volumes/ci.iso\",\"read-only\":true,\"discard\":\"unmap\"}");
    g_assert_cmpstr(cdrom, ==,
                    "{\"driver\":\"scsi-cd\",\"id\":\"disk-ci\",\"drive\":\"d-ci\",\"bus\":"
                    "\"podvm-scsi0.0\",\"channel\":0,\"scsi-id\":0,\"lun\":0}");
    disk.bus = PODVM_DISK_BUS_SATA;
    sata = node_text(podvm_qemu_disk_device(&disk, &iso, NULL, 5, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(sata, ==,
                    "{\"driver\":\"ide-cd\",\"id\":\"disk-ci\",\"drive\":\"d-ci\",\"bus\":"
                    "\"ide.5\"}");

    /* A lun: host_device, scsi-block, no write-cache (scsi-block has none). */
    block.block_device = TRUE;
    disk.name = (char *)"san";
    disk.kind = PODVM_DISK_KIND_LUN;
    disk.bus = PODVM_DISK_BUS_SCSI;
    disk.cache = PODVM_DISK_CACHE_WRITEBACK;
    block_node = node_text(podvm_qemu_disk_protocol_blockdev(&disk, &block));
    lun = node_text(podvm_qemu_disk_device(&disk, &block, NULL, 1, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(block_node, ==,
                    "{\"driver\":\"host_device\",\"node-name\":\"f-san\",\"filename\":\"/dev/sdb\","
                    "\"read-only\":false,\"discard\":\"unmap\",\"cache\":{\"direct\":false,"
                    "\"no-flush\":false}}");
    g_assert_cmpstr(lun, ==,
                    "{\"driver\":\"scsi-block\",\"id\":\"disk-san\",\"drive\":\"d-san\",\"bus\":"
                    "\"podvm-scsi0.0\",\"channel\":0,\"scsi-id\":0,\"lun\":1}");

    g_assert_cmpstr(controller, ==, "{\"driver\":\"virtio-scsi-pci\",\"id\":\"podvm-scsi0\"}");
    g_assert_cmpstr(
        hot_controller, ==,
        "{\"driver\":\"virtio-scsi-pci\",\"id\":\"podvm-scsi0\",\"bus\":\"podvm-rp1\"}");
}

/* What the disk cases' argv shows, asserted where a user would care. */
static void
test_disk_argv(void)
{
    g_autoptr(TestSpec) virtio_spec = NULL;
    g_auto(GStrv) commas = build_case("disks-path-commas", &golden_cases[0], NULL);
    g_auto(GStrv) virtio = build_case("disks-virtio", &golden_cases[0], &virtio_spec);
    g_auto(GStrv) cache = build_case("disks-cache", &golden_cases[0], NULL);
    g_auto(GStrv) boot_disk = build_case("disks-boot-from-disk", &golden_cases[0], NULL);
    g_auto(GStrv) boot_order = build_case("disks-boot-order", &golden_cases[0], NULL);
    g_auto(GStrv) lun = build_case("disks-lun", &golden_cases[0], NULL);
    g_autoptr(GPtrArray) comma_nodes = json_args(commas, "-blockdev");
    g_autoptr(GPtrArray) virtio_nodes = json_args(virtio, "-blockdev");
    g_autoptr(GPtrArray) virtio_devices = json_args(virtio, "-device");
    g_autoptr(GPtrArray) cache_nodes = json_args(cache, "-blockdev");
    g_autoptr(GPtrArray) cache_devices = json_args(cache, "-device");
    g_autoptr(GPtrArray) boot_disk_devices = json_args(boot_disk, "-device");
    g_autoptr(GPtrArray) boot_order_devices = json_args(boot_order, "-device");
    g_autoptr(GPtrArray) lun_devices = json_args(lun, "-device");
    JsonObject *object;
    guint bootindexes = 0;

    /* A path with commas and '=' is one JSON string and adds no option. */
    g_assert_cmpstr(json_object_get_string_member(
                        find_json_arg(comma_nodes, "node-name", "f-commas"), "filename"),
                    ==, COMMA_PATH);
    g_assert_cmpstr(json_object_get_string_member(
                        find_json_arg(comma_nodes, "node-name", "f-commas-cdrom"), "filename"),
                    ==, COMMA_PATH_2);
    for (gsize i = 0; commas[i] != NULL; i++) {
        g_assert_false(g_str_has_prefix(commas[i], "file.driver"));
        g_assert_false(g_str_has_prefix(commas[i], "b=c"));
        g_assert_false(g_str_has_prefix(commas[i], "read-only=off"));
    }
    g_assert_cmpuint(comma_nodes->len, ==, 4);

    /* Read-only media are opened read-only even under a writable disk. */
    object = find_json_arg(virtio_nodes, "node-name", "d-cloudinit");
    g_assert_true(json_object_get_boolean_member(object, "read-only"));
    object = find_json_arg(virtio_nodes, "node-name", "f-pvc-readonly");
    g_assert_true(json_object_get_boolean_member(object, "read-only"));
    object = find_json_arg(virtio_nodes, "node-name", "d-pvc");
    g_assert_false(json_object_get_boolean_member(object, "read-only"));
    object = find_json_arg(virtio_nodes, "node-name", "f-hostdisk-block");
    g_assert_cmpstr(json_object_get_string_member(object, "driver"), ==, "host_device");
    object = find_json_arg(virtio_nodes, "node-name", "d-emptydisk");
    g_assert_cmpstr(json_object_get_string_member(object, "driver"), ==, "qcow2");

    /* The argv and hotplug use the same builders: the argv's device is the API's. */
    for (guint i = 0; i < virtio_spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(virtio_spec->disks, i);
        g_autoptr(GPtrArray) prepared =
            prepare_volumes(virtio_spec, GOLDEN_STATE_DIR, GOLDEN_RUN_DIR);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) device =
            podvm_qemu_disk_device(disk, g_ptr_array_index(prepared, i), NULL, 0, &error);
        g_autofree char *id = podvm_qemu_disk_device_id(disk->name);
        g_autoptr(JsonNode) from_argv = json_node_new(JSON_NODE_OBJECT);

        g_assert_no_error(error);
        json_node_set_object(from_argv, find_json_arg(virtio_devices, "id", id));
        g_assert_true(json_node_equal(device, from_argv));
    }

    /* Cache modes as libvirt maps them. */
    object = find_json_arg(cache_nodes, "node-name", "f-virtio-none");
    g_assert_true(
        json_object_get_boolean_member(json_object_get_object_member(object, "cache"), "direct"));
    object = find_json_arg(cache_nodes, "node-name", "d-sata-writeback");
    g_assert_false(
        json_object_get_boolean_member(json_object_get_object_member(object, "cache"), "direct"));
    object = find_json_arg(cache_devices, "id", "disk-virtio-none");
    g_assert_cmpstr(json_object_get_string_member(object, "write-cache"), ==, "on");
    object = find_json_arg(cache_devices, "id", "disk-scsi-writethrough");
    g_assert_cmpstr(json_object_get_string_member(object, "write-cache"), ==, "off");
    object = find_json_arg(cache_devices, "id", "disk-sata-writeback");
    g_assert_cmpstr(json_object_get_string_member(object, "write-cache"), ==, "on");

    /* No kernel, no bootOrder: the first disk boots, and only it has a bootindex. */
    g_assert_cmpint(argv_index(boot_disk, "-kernel"), <, 0);
    object = find_json_arg(boot_disk_devices, "id", "disk-root");
    g_assert_cmpint(json_object_get_int_member(object, "bootindex"), ==, 1);
    for (guint i = 0; i < boot_disk_devices->len; i++)
        bootindexes += json_object_has_member(
            json_node_get_object(g_ptr_array_index(boot_disk_devices, i)), "bootindex");
    g_assert_cmpuint(bootindexes, ==, 1);
    /* bootOrder given: exactly that. */
    object = find_json_arg(boot_order_devices, "id", "disk-data");
    g_assert_false(json_object_has_member(object, "bootindex"));
    object = find_json_arg(boot_order_devices, "id", "disk-installer");
    g_assert_cmpint(json_object_get_int_member(object, "bootindex"), ==, 1);

    object = find_json_arg(lun_devices, "id", "disk-san");
    g_assert_cmpstr(json_object_get_string_member(object, "driver"), ==, "scsi-block");
    g_assert_false(json_object_has_member(object, "write-cache"));
}

static void assert_refused(PodvmSpec *spec, const PodvmQemuArgvContext *ctx, int code,
                           const char *needle);

/* A spec with a kernel and the disks @setup adds, built with its prepared volumes. */
static void
assert_disks_refused(void (*setup)(PodvmSpec *spec), void (*tweak)(Context *c), int code,
                     const char *needle)
{
    g_autoptr(TestSpec) spec = load_spec("minimal");
    g_auto(Context) c = { 0 };

    setup(spec);
    context_init(&c, &golden_cases[0], GOLDEN_RUN_DIR, spec);
    if (tweak != NULL)
        tweak(&c);
    assert_refused(spec, &c.ctx, code, needle);
}

static void
setup_lun_on_file(PodvmSpec *spec)
{
    add_disk(spec, "san", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_LUN, PODVM_DISK_BUS_SCSI);
}

static void
setup_lun_on_qcow2(PodvmSpec *spec)
{
    add_disk(spec, "san", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_LUN, PODVM_DISK_BUS_SCSI);
}

static void
setup_lun_on_virtio(PodvmSpec *spec)
{
    add_disk_full(spec, "san", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_LUN, PODVM_DISK_BUS_VIRTIO,
                  "/dev/sdb");
}

static void
setup_lun_serial(PodvmSpec *spec)
{
    add_disk_full(spec, "san", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_LUN, PODVM_DISK_BUS_SCSI,
                  "/dev/sdb")
        ->serial = g_strdup("SN1");
}

static void
setup_seven_sata(PodvmSpec *spec)
{
    for (guint i = 0; i < 7; i++) {
        g_autofree char *name = g_strdup_printf("sata%u", i);

        add_disk(spec, name, PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SATA);
    }
}

static void
setup_five_ide_on_pc(PodvmSpec *spec)
{
    g_free(spec->machine_type);
    spec->machine_type = g_strdup("pc");
    for (guint i = 0; i < 5; i++) {
        g_autofree char *name = g_strdup_printf("ide%u", i);

        add_disk(spec, name, PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SATA);
    }
}

static void
setup_readonly_sata(PodvmSpec *spec)
{
    add_disk(spec, "data", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SATA)
        ->readonly = TRUE;
}

static void
setup_iso_as_sata_disk(PodvmSpec *spec)
{
    add_disk(spec, "cloudinit", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, PODVM_DISK_KIND_DISK,
             PODVM_DISK_BUS_SATA);
}

static void
setup_cdrom_on_virtio(PodvmSpec *spec)
{
    add_disk(spec, "cloudinit", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, PODVM_DISK_KIND_CDROM,
             PODVM_DISK_BUS_VIRTIO);
}

static void
setup_bad_name(PodvmSpec *spec)
{
    add_disk(spec, "Data,file=/etc/shadow", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK,
             PODVM_DISK_BUS_VIRTIO);
}

static void
setup_same_name_twice(PodvmSpec *spec)
{
    add_disk(spec, "data", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_VIRTIO);
    add_disk(spec, "data", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SCSI);
}

static void
setup_one_disk(PodvmSpec *spec)
{
    add_disk(spec, "data", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_VIRTIO);
}

static void
tweak_not_prepared(Context *c)
{
    g_ptr_array_set_size(c->prepared, 0);
}

static void
tweak_no_prepared_volumes(Context *c)
{
    c->ctx.prepared_volumes = NULL;
}

static void
tweak_vmdk(Context *c)
{
    PodvmPreparedVolume *prepared = g_ptr_array_index(c->prepared, 0);

    g_free(prepared->format);
    prepared->format = g_strdup("vmdk");
}

static void
tweak_relative_filename(Context *c)
{
    PodvmPreparedVolume *prepared = g_ptr_array_index(c->prepared, 0);

    g_free(prepared->filename);
    prepared->filename = g_strdup("data.qcow2");
}

static void
test_disks_refused(void)
{
    const int spec_error = PODVM_ERROR_INVALID_SPEC;
    const int argument_error = PODVM_ERROR_INVALID_ARGUMENT;
    PodvmSpecDisk disk = { 0 };
    PodvmPreparedVolume raw = prepared_volume("/srv/images/a.img", "raw");
    g_autoptr(GError) error = NULL;
    JsonNode *node;

    assert_disks_refused(setup_lun_on_file, NULL, spec_error,
                         "lun 'san' needs a raw host block device; use disk");
    assert_disks_refused(setup_lun_on_qcow2, NULL, spec_error, "needs a raw host block device");
    assert_disks_refused(setup_lun_on_virtio, NULL, spec_error, "lun 'san' must be on bus scsi");
    assert_disks_refused(setup_lun_serial, NULL, spec_error, "lun 'san' cannot have a serial");
    assert_disks_refused(setup_seven_sata, NULL, spec_error,
                         "7 sata disks, but machine type 'q35' has 6 sata ports");
    assert_disks_refused(setup_five_ide_on_pc, NULL, spec_error,
                         "5 sata disks, but machine type 'pc' has 4 sata ports");
    assert_disks_refused(setup_readonly_sata, NULL, spec_error,
                         "disk 'data': a sata disk cannot be read-only");
    assert_disks_refused(setup_iso_as_sata_disk, NULL, spec_error,
                         "disk 'cloudinit': its volume can only be read");
    assert_disks_refused(setup_cdrom_on_virtio, NULL, spec_error,
                         "cdrom 'cloudinit' cannot be on bus virtio");
    assert_disks_refused(setup_bad_name, NULL, spec_error, "disk name");
    assert_disks_refused(setup_same_name_twice, NULL, spec_error,
                         "gets the QEMU node name 'f-data' of another disk");
    assert_disks_refused(setup_one_disk, tweak_not_prepared, argument_error,
                         "volume 'data' of spec.domain.devices.disks[0] was not prepared");
    assert_disks_refused(setup_one_disk, tweak_no_prepared_volumes, argument_error,
                         "no prepared volumes");
    assert_disks_refused(setup_one_disk, tweak_vmdk, argument_error,
                         "format 'vmdk': only raw and qcow2");
    assert_disks_refused(setup_one_disk, tweak_relative_filename, argument_error,
                         "absolute file name");

    /* The device builder alone (hotplug): units out of range. */
    disk.name = (char *)"data";
    disk.bus = PODVM_DISK_BUS_SATA;
    node = podvm_qemu_disk_device(&disk, &raw, NULL, 6, &error);
    g_assert_null(node);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_clear_error(&error);
    disk.bus = PODVM_DISK_BUS_SCSI;
    node = podvm_qemu_disk_device(&disk, &raw, NULL, 16384, &error);
    g_assert_null(node);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_clear_error(&error);
    node = podvm_qemu_disk_device(&disk, &raw, NULL, 16383, &error);
    g_assert_no_error(error);
    json_node_unref(node);
}

/* -- refused input ------------------------------------------------------ */

static void
assert_refused(PodvmSpec *spec, const PodvmQemuArgvContext *ctx, int code, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = podvm_qemu_argv_build(spec, ctx, &error);

    g_assert_null(argv);
    g_assert_error(error, PODVM_ERROR, code);
    if (strstr(error->message, needle) == NULL)
        g_assert_cmpstr(error->message, ==, needle);
}

static void
test_refused(void)
{
    g_autoptr(TestSpec) spec = load_spec("minimal");
    g_auto(Context) c = { 0 };
    char *saved;

    context_init(&c, &golden_cases[0], GOLDEN_RUN_DIR, spec);

    /* Values that bypassed the parser still cannot smuggle options in. */
    saved = g_steal_pointer(&spec->cpu_model);
    spec->cpu_model = g_strdup("qemu64,+vmx");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "spec.domain.cpu.model");
    g_free(spec->cpu_model);
    spec->cpu_model = saved;

    saved = g_steal_pointer(&spec->machine_type);
    spec->machine_type = g_strdup("q35,accel=kvm");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "spec.domain.machine.type");
    g_free(spec->machine_type);
    spec->machine_type = saved;

    saved = g_steal_pointer(&spec->firmware_uuid);
    spec->firmware_uuid = g_strdup("not-a-uuid,type=2");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "spec.domain.firmware.uuid");
    g_free(spec->firmware_uuid);
    spec->firmware_uuid = saved;

    /* Neither a kernel nor a disk. */
    saved = g_steal_pointer(&spec->kernel_path);
    g_clear_pointer(&spec->initrd_path, g_free);
    g_clear_pointer(&spec->kernel_args, g_free);
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "nothing to boot");
    /* QEMU takes no -initrd or -append without -kernel. */
    spec->initrd_path = g_strdup("/srv/initrd.img");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "initrdPath: needs kernelPath");
    g_clear_pointer(&spec->initrd_path, g_free);
    spec->kernel_args = g_strdup("console=ttyS0");
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_SPEC, "kernelArgs: needs kernelPath");
    spec->kernel_path = saved;

    c.ctx.spare_root_ports = PODVM_QEMU_MAX_SPARE_ROOT_PORTS + 1;
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_ARGUMENT, "at most 32");
    c.ctx.spare_root_ports = PODVM_QEMU_SPARE_ROOT_PORTS;

    c.ctx.uid = "1234,x=y";
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_ARGUMENT, "UUID");
    c.ctx.uid = TEST_UID;

    c.ctx.accel = PODVM_ACCEL_AUTO;
    assert_refused(spec, &c.ctx, PODVM_ERROR_INVALID_ARGUMENT, "auto");
}

static void
test_escape(void)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "", "" },
        { "plain", "plain" },
        { "a,b", "a,,b" },
        { ",,", ",,,," },
        { "/tmp/x,format=raw,", "/tmp/x,,format=raw,," },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GString) out = g_string_new("k=");

        podvm_qemu_escape_value(out, cases[i].in);
        g_assert_cmpstr(out->str + 2, ==, cases[i].out);
    }
}

/* -- real QEMU ----------------------------------------------------------- */

typedef struct {
    GSubprocess *process;
    gboolean exited;
    GSocketConnection *qmp;
    GDataInputStream *qmp_in;
    const char *qmp_path;
} Qemu;

static void
qemu_exited_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Qemu *q = user_data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    q->exited = TRUE;
}

/* Connected to QMP and read the greeting, or QEMU is gone. */
static gboolean
qmp_greeted(gpointer user_data)
{
    Qemu *q = user_data;
    g_autoptr(GSocketClient) client = NULL;
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocketConnection) connection = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autofree char *line = NULL;

    if (q->exited || q->qmp != NULL)
        return TRUE;
    if (!g_file_test(q->qmp_path, G_FILE_TEST_EXISTS))
        return FALSE;
    client = g_socket_client_new();
    g_socket_client_set_timeout(client, 10);
    address = g_unix_socket_address_new(q->qmp_path);
    connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, NULL);
    if (connection == NULL)
        return FALSE;
    in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
    line = g_data_input_stream_read_line(in, NULL, NULL, NULL);
    if (line == NULL || strstr(line, "\"QMP\"") == NULL)
        return FALSE;
    q->qmp = g_steal_pointer(&connection);
    q->qmp_in = g_steal_pointer(&in);
    return TRUE;
}

static gboolean
qemu_gone(gpointer user_data)
{
    Qemu *q = user_data;

    return q->exited;
}

static gboolean
tick_cb(gpointer user_data)
{
    return G_SOURCE_CONTINUE;
}

/* Sends @command and reads lines until its reply (events are skipped), which must be a return. */
static char *
qmp_command(Qemu *q, const char *command)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(q->qmp));
    g_autoptr(GError) error = NULL;
    g_autofree char *text = g_strconcat(command, "\n", NULL);

    g_output_stream_write_all(out, text, strlen(text), NULL, NULL, &error);
    g_assert_no_error(error);
    for (;;) {
        g_autofree char *line = g_data_input_stream_read_line(q->qmp_in, NULL, NULL, &error);

        g_assert_no_error(error);
        g_assert_nonnull(line);
        if (strstr(line, "\"event\"") != NULL)
            continue;
        /* Shows QEMU's error text when it refused. */
        if (strstr(line, "\"return\"") == NULL)
            g_assert_cmpstr(line, ==, command);
        return g_steal_pointer(&line);
    }
}

/* {"execute": @name, "arguments": @arguments} (arguments taken), must succeed; the reply. */
static char *
qmp_execute(Qemu *q, const char *name, JsonNode *arguments)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, name);
    if (arguments != NULL) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, arguments);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = json_to_string(root, FALSE);
    return qmp_command(q, text);
}

static int
listen_unix(const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);

    g_assert_no_error(error);
    g_socket_bind(socket, address, FALSE, &error);
    g_assert_no_error(error);
    g_socket_listen(socket, &error);
    g_assert_no_error(error);
    return fcntl(g_socket_get_fd(socket), F_DUPFD_CLOEXEC, 3);
}

/* Replaces *@path by DIR/basename(*@path), a symlink to @target (taken). */
static void
link_guest_file(char **path, const char *dir, char *target)
{
    g_autofree char *absolute = g_canonicalize_filename(target, NULL);
    g_autofree char *base = g_path_get_basename(*path);
    char *link = g_build_filename(dir, base, NULL);

    g_free(target);
    g_assert_cmpint(symlink(absolute, link), ==, 0);
    g_free(*path);
    *path = link;
}

/* Runs @argv (a tool: qemu-img, losetup) and returns its stdout, or NULL with @error. */
static char *
run_tool(const char *const *argv, GError **error)
{
    g_autoptr(GSubprocess) process = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    process = g_subprocess_newv(
        argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
    if (process == NULL || !g_subprocess_communicate_utf8(process, NULL, NULL, &out, &err, error))
        return NULL;
    if (!g_subprocess_get_successful(process)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed: %s", argv[0], err);
        return NULL;
    }
    return g_steal_pointer(&out);
}

/* In the child: QEMU dies with the test, also when a failed assertion aborts it. */
static void
die_with_parent(gpointer user_data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* A QEMU started from a golden case's argv, with real files for its volumes. */
typedef struct {
    Qemu q;
    char *dir;
    char *stderr_path;
    Context c;
    GPtrArray *loop_devices; /* of char*: losetup'd by us, detached at the end */
    guint tick;
} QemuRun;

/* A sparse raw file of 1 MiB. */
static void
make_raw_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1024 * 1024), ==, 0);
    close(fd);
}

/*
 * Gives every prepared volume a real file in @run->dir (its golden base
 * name, commas and all) that QEMU opens: raw files, qcow2 images made by
 * qemu-img, and a loop device for a block device. FALSE after
 * g_test_skip() when this machine cannot make one.
 */
static gboolean
materialize_volumes(QemuRun *run)
{
    g_autofree char *volumes = g_build_filename(run->dir, "volumes", NULL);
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");

    g_assert_cmpint(g_mkdir_with_parents(volumes, 0700), ==, 0);
    for (guint i = 0; i < run->c.prepared->len; i++) {
        PodvmPreparedVolume *p = g_ptr_array_index(run->c.prepared, i);
        g_autofree char *base = g_path_get_basename(p->filename);
        g_autofree char *path = g_build_filename(volumes, base, NULL);
        g_autoptr(GError) error = NULL;

        if (strcmp(p->format, "qcow2") == 0) {
            const char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2", path, "1M", NULL };
            g_autofree char *out = NULL;

            if (qemu_img == NULL) {
                g_test_skip("qemu-img is not installed: apt-get install qemu-utils");
                return FALSE;
            }
            out = run_tool(argv, &error);
            g_assert_no_error(error);
        } else {
            make_raw_file(path);
        }
        if (p->block_device) {
            const char *argv[] = { "losetup", "--find", "--show", path, NULL };
            g_autofree char *device = run_tool(argv, &error);

            if (device == NULL) {
                g_test_skip_printf("no loop device for the block device case: %s", error->message);
                return FALSE;
            }
            g_strstrip(device);
            g_ptr_array_add(run->loop_devices, g_strdup(device));
            g_free(p->filename);
            p->filename = g_steal_pointer(&device);
        } else {
            g_free(p->filename);
            p->filename = g_steal_pointer(&path);
        }
    }
    return TRUE;
}

/*
 * Starts QEMU with the argv of @spec under @golden (the guest kernel
 * instead of the spec's, TCG, paths in a temporary directory) and waits
 * until it answers on QMP, i.e. it accepted every option. FALSE after
 * g_test_skip() when something is missing here.
 */
static gboolean
qemu_run_start(QemuRun *run, const GoldenCase *golden, PodvmSpec *spec)
{
    g_autofree char *pod_dir = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    GoldenCase tc = *golden;

    memset(run, 0, sizeof(*run));
    run->loop_devices = g_ptr_array_new_with_free_func(g_free);
    if (!podvm_test_require_guest())
        return FALSE;
    for (guint i = 0; spec->disks != NULL && i < spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);

        if (disk->kind == PODVM_DISK_KIND_LUN) {
            g_test_skip("a lun (scsi-block) needs a host SCSI device that answers SG_IO; a loop "
                        "device does not, and tests do not touch the host's disks");
            return FALSE;
        }
    }
    /* Keep the guest small whatever the spec asks: this checks options, not sizes. */
    tc.accel = PODVM_ACCEL_TCG;
    tc.host_cpus = 1;

    /*
     * The guest's kernel and initrd under the file names the spec gives
     * ("a,format=raw" and all): QEMU must open exactly those files.
     */
    run->dir = podvm_test_mkdtemp();
    if (spec->kernel_path != NULL)
        link_guest_file(&spec->kernel_path, run->dir, podvm_test_guest_kernel());
    if (spec->initrd_path != NULL)
        link_guest_file(&spec->initrd_path, run->dir, podvm_test_guest_initrd());
    context_init(&run->c, &tc, run->dir, spec);
    if (!materialize_volumes(run))
        return FALSE;
    run->c.ctx.qemu_binary = podvm_test_qemu_binary();
    pod_dir = g_path_get_dirname(run->c.qmp_socket);
    g_assert_cmpint(g_mkdir_with_parents(pod_dir, 0700), ==, 0);
    argv = podvm_qemu_argv_build(spec, &run->c.ctx, &error);
    g_assert_no_error(error);

    run->stderr_path = g_build_filename(run->dir, "qemu.stderr", NULL);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
    g_subprocess_launcher_set_stdout_file_path(launcher, run->stderr_path);
    g_subprocess_launcher_set_stderr_file_path(launcher, run->stderr_path);
    if (tc.listen_fds) {
        g_subprocess_launcher_take_fd(launcher, listen_unix(run->c.qmp_socket), QMP_CHILD_FD);
        g_subprocess_launcher_take_fd(launcher, listen_unix(run->c.console_socket),
                                      CONSOLE_CHILD_FD);
        if (podvm_spec_has_guest_agent(spec))
            g_subprocess_launcher_take_fd(launcher, listen_unix(run->c.guest_agent_socket),
                                          GUEST_AGENT_CHILD_FD);
        /* What podvmd opens and passes: the kernel files and each disk, in the mode QEMU uses. */
        if (spec->kernel_path != NULL)
            g_subprocess_launcher_take_fd(launcher, open(spec->kernel_path, O_RDONLY | O_CLOEXEC),
                                          KERNEL_CHILD_FD);
        if (spec->initrd_path != NULL)
            g_subprocess_launcher_take_fd(launcher, open(spec->initrd_path, O_RDONLY | O_CLOEXEC),
                                          INITRD_CHILD_FD);
        for (guint i = 0; i < run->c.prepared->len; i++) {
            PodvmPreparedVolume *p = g_ptr_array_index(run->c.prepared, i);
            const PodvmSpecDisk *disk = podvm_spec_find_disk(spec, p->volume_name);
            gboolean read_only =
                p->read_only ||
                (disk != NULL && (disk->readonly || disk->kind == PODVM_DISK_KIND_CDROM));
            int fd = open(p->filename, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

            g_assert_cmpint(fd, >=, 0);
            g_subprocess_launcher_take_fd(launcher, fd, p->qemu_fd);
        }
    }
    run->q.process = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, &error);
    g_assert_no_error(error);
    g_subprocess_wait_async(run->q.process, NULL, qemu_exited_cb, &run->q);
    run->q.qmp_path = run->c.qmp_socket;

    run->tick = g_timeout_add(20, tick_cb, NULL);
    podvm_test_wait_until(qmp_greeted, &run->q, 20000);
    if (run->q.qmp == NULL) {
        g_autofree char *log = NULL;

        g_file_get_contents(run->stderr_path, &log, NULL, NULL);
        g_test_message("QEMU (%s) output: %s", tc.name, log != NULL ? log : "");
    }
    g_assert_false(run->q.exited);
    g_assert_nonnull(run->q.qmp);

    if (run->c.pidfile != NULL) {
        g_autofree char *pid = NULL;

        g_file_get_contents(run->c.pidfile, &pid, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(g_strstrip(pid), ==, g_subprocess_get_identifier(run->q.process));
    }
    return TRUE;
}

/* Ends what qemu_run_start() started (also after it skipped halfway). */
static void
qemu_run_stop(QemuRun *run)
{
    if (run->q.process != NULL) {
        g_subprocess_force_exit(run->q.process);
        podvm_test_wait_until(qemu_gone, &run->q, 10000);
        g_assert_true(run->q.exited);
    }
    g_clear_handle_id(&run->tick, g_source_remove);
    g_clear_object(&run->q.qmp_in);
    g_clear_object(&run->q.qmp);
    g_clear_object(&run->q.process);
    for (guint i = 0; i < run->loop_devices->len; i++) {
        const char *argv[] = { "losetup", "-d", g_ptr_array_index(run->loop_devices, i), NULL };
        g_autoptr(GError) error = NULL;
        g_autofree char *out = run_tool(argv, &error);

        g_assert_no_error(error);
    }
    g_clear_pointer(&run->loop_devices, g_ptr_array_unref);
    if (run->dir != NULL)
        podvm_test_rmrf(run->dir);
    g_clear_pointer(&run->dir, g_free);
    g_clear_pointer(&run->stderr_path, g_free);
    context_clear(&run->c);
}

/* QEMU takes the argv of a golden case: it comes up and answers on QMP. */
static void
test_qemu_accepts(gconstpointer data)
{
    const GoldenCase *golden = data;
    g_autoptr(TestSpec) spec = load_case(golden);
    QemuRun run;

    qemu_run_start(&run, golden, spec);
    qemu_run_stop(&run);
}

/*
 * The guest boots (minimal.json's kernel boot, the guest's ready marker)
 * and finds the disks the argv gives it: a virtio disk (vda), a qcow2
 * scsi-hd (sda) and a read-only scsi-cd (sr0), 1 MiB each. (The test kernel
 * has no SATA driver: sata is checked by QEMU accepting it only.) One boot
 * for both, as booting under TCG takes seconds.
 */
static void
test_qemu_boots(void)
{
    g_autoptr(TestSpec) spec = load_spec("minimal");
    g_autofree char *log = NULL;
    g_autofree char *line = NULL;
    QemuRun run;

    add_disk(spec, "data", PODVM_VOLUME_HOST_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_VIRTIO);
    add_disk(spec, "scratch", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SCSI)
        ->cache = PODVM_DISK_CACHE_NONE;
    add_disk(spec, "cloudinit", PODVM_VOLUME_CLOUD_INIT_NOCLOUD, PODVM_DISK_KIND_CDROM,
             PODVM_DISK_BUS_SCSI);
    if (qemu_run_start(&run, &golden_cases[0], spec)) {
        g_free(qmp_command(&run.q, "{\"execute\": \"qmp_capabilities\"}"));
        g_free(qmp_command(&run.q, "{\"execute\": \"cont\"}"));
        g_assert_true(
            podvm_test_wait_for_file_content(run.c.console_log, "PODVM-GUEST-READY", 60000));
        g_file_get_contents(run.c.console_log, &log, NULL, NULL);
        g_assert_nonnull(strstr(log, "PODVM-DISKS "));
        line = g_strndup(strstr(log, "PODVM-DISKS "), strcspn(strstr(log, "PODVM-DISKS "), "\r\n"));
        g_test_message("%s", line);
        g_assert_nonnull(strstr(line, " vda:1048576"));
        g_assert_nonnull(strstr(line, " sda:1048576"));
        g_assert_nonnull(strstr(line, " sr0:"));
        g_assert_false(run.q.exited);
    }
    qemu_run_stop(&run);
}

/* A volume to hotplug, prepared in @run's directory as a real file. */
static PodvmPreparedVolume *
hotplug_volume(QemuRun *run, const char *name, const char *format, gboolean read_only)
{
    PodvmPreparedVolume *p = g_new0(PodvmPreparedVolume, 1);
    g_autofree char *base = g_strconcat(name, ",hot=1.", format, NULL);

    p->volume_name = g_strdup(name);
    p->filename = g_build_filename(run->dir, base, NULL);
    p->format = g_strdup(format);
    p->read_only = read_only;
    if (strcmp(format, "qcow2") == 0) {
        const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", p->filename, "1M", NULL };
        g_autoptr(GError) error = NULL;
        g_autofree char *out = run_tool(argv, &error);

        g_assert_no_error(error);
    } else {
        make_raw_file(p->filename);
    }
    return p;
}

/*
 * What the daemon does to attach a disk: blockdev-add of the protocol node
 * and of the format node, then device_add, all with the objects the argv
 * uses. The device must then be in QEMU's qtree under its id.
 */
static void
hotplug(QemuRun *run, const PodvmSpecDisk *disk, const PodvmPreparedVolume *prepared,
        const char *pci_bus, guint unit)
{
    g_autoptr(GError) error = NULL;
    JsonNode *device = podvm_qemu_disk_device(disk, prepared, pci_bus, unit, &error);
    g_autofree char *id = podvm_qemu_disk_device_id(disk->name);
    g_autofree char *node_name = podvm_qemu_disk_node_name(disk->name, TRUE);
    g_autofree char *path = NULL;
    g_autofree char *reply = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_assert_no_error(error);
    g_free(qmp_execute(&run->q, "blockdev-add", podvm_qemu_disk_protocol_blockdev(disk, prepared)));
    g_free(qmp_execute(&run->q, "blockdev-add", podvm_qemu_disk_format_blockdev(disk, prepared)));
    g_free(qmp_execute(&run->q, "device_add", device));

    /* The device is there, and its drive is the format node. */
    path = g_strconcat("/machine/peripheral/", id, NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path);
    json_builder_set_member_name(b, "property");
    json_builder_add_string_value(b, "drive");
    json_builder_end_object(b);
    reply = qmp_execute(&run->q, "qom-get", json_builder_get_root(b));
    g_assert_nonnull(strstr(reply, node_name));
}

static PodvmSpecDisk
hot_disk(const char *name, PodvmDiskKind kind, PodvmDiskBus bus)
{
    PodvmSpecDisk disk = { 0 };

    disk.name = (char *)name;
    disk.kind = kind;
    disk.bus = bus;
    disk.readonly = kind == PODVM_DISK_KIND_CDROM;
    return disk;
}

/*
 * Disk hotplug into a real QEMU: virtio-blk on a spare root port, scsi-hd
 * onto the controller the pod booted with (next LUN), with a cache mode, a
 * serial and a 63-character name.
 */
static void
test_qemu_hotplug(void)
{
    g_autoptr(TestSpec) spec = load_spec("minimal");
    QemuRun run;
    PodvmSpecDisk virtio = hot_disk("hot-virtio", PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_VIRTIO);
    PodvmSpecDisk scsi = hot_disk(NAME_63, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SCSI);
    g_autoptr(GPtrArray) volumes =
        g_ptr_array_new_with_free_func((GDestroyNotify)test_prepared_free);
    PodvmPreparedVolume *volume;

    add_disk(spec, "boot-scsi", PODVM_VOLUME_EMPTY_DISK, PODVM_DISK_KIND_DISK, PODVM_DISK_BUS_SCSI);
    if (qemu_run_start(&run, &golden_cases[0], spec)) {
        g_free(qmp_command(&run.q, "{\"execute\": \"qmp_capabilities\"}"));
        virtio.cache = PODVM_DISK_CACHE_NONE;
        virtio.serial = (char *)"HOT-1";
        volume = hotplug_volume(&run, "hot-virtio", "qcow2", FALSE);
        g_ptr_array_add(volumes, volume);
        hotplug(&run, &virtio, volume, "podvm-rp0", 0);
        scsi.cache = PODVM_DISK_CACHE_WRITETHROUGH;
        volume = hotplug_volume(&run, NAME_63, "raw", FALSE);
        g_ptr_array_add(volumes, volume);
        hotplug(&run, &scsi, volume, NULL, 1);
    }
    qemu_run_stop(&run);
}

/*
 * A pod that booted without scsi disks: the controller is hotplugged onto
 * a spare root port first, then a cdrom (read-only ISO) onto it.
 */
static void
test_qemu_hotplug_scsi_controller(void)
{
    g_autoptr(TestSpec) spec = load_spec("minimal");
    QemuRun run;
    PodvmSpecDisk cdrom = hot_disk("hot-cdrom", PODVM_DISK_KIND_CDROM, PODVM_DISK_BUS_SCSI);
    g_autoptr(GPtrArray) volumes =
        g_ptr_array_new_with_free_func((GDestroyNotify)test_prepared_free);
    PodvmPreparedVolume *iso;

    if (qemu_run_start(&run, &golden_cases[0], spec)) {
        g_free(qmp_command(&run.q, "{\"execute\": \"qmp_capabilities\"}"));
        g_free(qmp_execute(&run.q, "device_add", podvm_qemu_scsi_controller("podvm-rp1")));
        iso = hotplug_volume(&run, "hot-cdrom", "raw", TRUE);
        g_ptr_array_add(volumes, iso);
        hotplug(&run, &cdrom, iso, NULL, 0);
    }
    qemu_run_stop(&run);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(golden_cases); i++) {
        g_autofree char *golden =
            g_strdup_printf("/podvm/daemon/qemu-argv/golden/%s", golden_cases[i].name);
        g_autofree char *qemu =
            g_strdup_printf("/podvm/daemon/qemu-argv/qemu-accepts/%s", golden_cases[i].name);

        g_test_add_data_func(golden, &golden_cases[i], test_golden);
        g_test_add_data_func(qemu, &golden_cases[i], test_qemu_accepts);
    }
    g_test_add_func("/podvm/daemon/qemu-argv/path-commas", test_path_commas);
    g_test_add_func("/podvm/daemon/qemu-argv/firmware-escaped", test_firmware_escaped);
    g_test_add_func("/podvm/daemon/qemu-argv/app-guest", test_app_guest);
    g_test_add_func("/podvm/daemon/qemu-argv/guest-agent", test_guest_agent);
    g_test_add_func("/podvm/daemon/qemu-argv/sizing", test_sizing);
    g_test_add_func("/podvm/daemon/qemu-argv/console-and-debug", test_console_and_debug);
    g_test_add_func("/podvm/daemon/qemu-argv/root-ports", test_root_ports);
    g_test_add_func("/podvm/daemon/qemu-argv/root-port-counts", test_root_port_counts);
    g_test_add_func("/podvm/daemon/qemu-argv/disk-names", test_disk_names);
    g_test_add_func("/podvm/daemon/qemu-argv/disk-objects", test_disk_objects);
    g_test_add_func("/podvm/daemon/qemu-argv/disk-argv", test_disk_argv);
    g_test_add_func("/podvm/daemon/qemu-argv/disks-refused", test_disks_refused);
    g_test_add_func("/podvm/daemon/qemu-argv/refused", test_refused);
    g_test_add_func("/podvm/daemon/qemu-argv/escape", test_escape);
    g_test_add_func("/podvm/daemon/qemu-argv/qemu-boots", test_qemu_boots);
    g_test_add_func("/podvm/daemon/qemu-argv/qemu-hotplug", test_qemu_hotplug);
    g_test_add_func("/podvm/daemon/qemu-argv/qemu-hotplug-scsi-controller",
                    test_qemu_hotplug_scsi_controller);

    return g_test_run();
}
