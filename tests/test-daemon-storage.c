/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Storage end to end: a real podvmd on a private bus, real QEMU (TCG)
 * booting the test guest, whose init reports the block devices it sees
 * (PODVM-DISKS name:bytes[:label]) and reads or writes a disk's first bytes
 * on request (podvm-read / podvm-write typed on the console).
 *
 * Each volume gets a size no other has, so the guest's view can be matched
 * to the spec by size alone.
 */
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 60000
#define GUEST_TIMEOUT_MS 30000
#define MIB (1024 * 1024)

typedef struct {
    PodvmTestDaemon *daemon;
    char *images; /* the allowed hostDisk directory */
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new_for_storage(&f->images);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    if (f->images != NULL)
        podvm_test_rmrf(f->images);
    g_free(f->images);
}

/* ---- helpers --------------------------------------------------------------- */

/* The test guest's spec with these disks and volumes (JSON arrays as text). */
static char *
spec_with_disks(const char *name, const char *disks, const char *volumes)
{
    return podvm_test_guest_spec_with(name, NULL, "disks", disks, "volumes", volumes);
}

static void
create_pod(Fixture *f, const char *spec)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
}

static gboolean
start_pod(Fixture *f, const char *name, GError **error)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);

    return podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, error);
}

static void
boot_pod(Fixture *f, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);
    guint boots = podvm_test_count_in_file(log, "PODVM-GUEST-READY");
    gint64 deadline = g_get_monotonic_time() + BOOT_TIMEOUT_MS * 1000LL;

    start_pod(f, name, &error);
    g_assert_no_error(error);
    /* The log keeps earlier boots: wait for this one's marker. */
    while (podvm_test_count_in_file(log, "PODVM-GUEST-READY") <= boots) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50000);
    }
}

static void
stop_pod(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_stop_sync(pod, 0, NULL, &error);
    g_assert_no_error(error);
}

static void
guest_write(Fixture *f, const char *name, const char *dev, const char *word)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);
    g_autofree char *command = g_strdup_printf("podvm-write %s %s", dev, word);
    g_autofree char *answer = g_strdup_printf("PODVM-WROTE %s %s", dev, word);

    podvm_test_console_type(f->daemon, name, command);
    g_assert_true(podvm_test_wait_for_file_content(log, answer, GUEST_TIMEOUT_MS));
}

static JsonObject *
pod_spec(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) value = NULL;
    JsonNode *root;
    JsonObject *object;

    /* Read from the daemon, not the proxy's cache. */
    value = g_dbus_connection_call_sync(
        f->daemon->connection, "io.podvm.PodVM1", g_dbus_proxy_get_object_path(G_DBUS_PROXY(pod)),
        "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", "io.podvm.PodVM1.Pod", "Spec"), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error(error);
    {
        g_autoptr(GVariant) inner = NULL;
        g_variant_get(value, "(v)", &inner);
        text = g_variant_dup_string(inner, NULL);
    }
    root = json_from_string(text, &error);
    g_assert_no_error(error);
    object = json_object_ref(json_node_get_object(root));
    json_node_unref(root);
    return object;
}

/* Names of the disks in the pod's stored spec, joined with ",". */
static char *
spec_disk_names(Fixture *f, const char *name)
{
    g_autoptr(JsonObject) spec = pod_spec(f, name);
    JsonObject *inner = json_object_get_object_member(spec, "spec");
    JsonObject *domain = json_object_get_object_member(inner, "domain");
    JsonObject *devices;
    JsonArray *disks;
    g_autoptr(GString) names = g_string_new(NULL);

    if (!json_object_has_member(domain, "devices"))
        return g_strdup("");
    devices = json_object_get_object_member(domain, "devices");
    if (!json_object_has_member(devices, "disks"))
        return g_strdup("");
    disks = json_object_get_array_member(devices, "disks");
    for (guint i = 0; i < json_array_get_length(disks); i++) {
        JsonObject *disk = json_array_get_object_element(disks, i);
        g_string_append_printf(names, "%s%s", i > 0 ? "," : "",
                               json_object_get_string_member(disk, "name"));
    }
    return g_string_free(g_steal_pointer(&names), FALSE);
}

static gboolean
attach(Fixture *f, const char *name, const char *attachment, GError **error)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);

    return podvm_dbus_pod_call_attach_disk_sync(pod, attachment, NULL, error);
}

static gboolean
detach(Fixture *f, const char *name, const char *disk, GError **error)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);

    return podvm_dbus_pod_call_detach_disk_sync(pod, disk, NULL, error);
}

static void
create_volume(Fixture *f, const char *name, guint64 size, const char *from)
{
    GVariantBuilder options;
    g_autoptr(GError) error = NULL;
    g_autofree char *volume = NULL;

    g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&options, "{sv}", "name", g_variant_new_string(name));
    if (size > 0)
        g_variant_builder_add(&options, "{sv}", "size", g_variant_new_uint64(size));
    if (from != NULL)
        g_variant_builder_add(&options, "{sv}", "from", g_variant_new_string(from));
    podvm_dbus_manager_call_create_volume_sync(f->daemon->manager, g_variant_builder_end(&options),
                                               &volume, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(volume, "\"Ready\""));
}

/* Writes @data to @dir/blobs/sha256/HEX and returns "sha256:HEX". */
static char *
write_blob(const char *dir, const char *data, gsize length)
{
    g_autofree char *hex =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, length);
    g_autofree char *blobs = g_build_filename(dir, "blobs", "sha256", NULL);
    g_autofree char *path = g_build_filename(blobs, hex, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(g_mkdir_with_parents(blobs, 0700), ==, 0);
    g_file_set_contents(path, data, (gssize)length, &error);
    g_assert_no_error(error);
    return g_strconcat("sha256:", hex, NULL);
}

/*
 * An OCI image layout at @dir, tag "v1", one layer with disk/disk.img (raw,
 * @size bytes): as KubeVirt's containerDisk images are built. The layer is
 * made with tar(1), like a user would.
 */
static gboolean
make_oci_layout(const char *dir, gsize size)
{
    g_autofree char *work = g_build_filename(dir, "work", NULL);
    g_autofree char *disk_dir = g_build_filename(work, "disk", NULL);
    g_autofree char *disk = g_build_filename(disk_dir, "disk.img", NULL);
    g_autofree char *layer_path = g_build_filename(dir, "layer.tar", NULL);
    g_autofree char *layer = NULL, *layer_digest = NULL, *config_digest = NULL;
    g_autofree char *manifest = NULL, *manifest_digest = NULL, *index = NULL;
    g_autofree char *index_path = g_build_filename(dir, "index.json", NULL);
    g_autofree char *layout_path = g_build_filename(dir, "oci-layout", NULL);
    g_autoptr(GSubprocess) tar = NULL;
    g_autoptr(GError) error = NULL;
    const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                         "\"layers\",\"diff_ids\":[]}}";
    gsize layer_length = 0;
    FILE *file;

    g_assert_cmpint(g_mkdir_with_parents(disk_dir, 0700), ==, 0);
    file = fopen(disk, "w");
    g_assert_nonnull(file);
    fputs("CONTAINERDISK", file);
    g_assert_cmpint(ftruncate(fileno(file), (off_t)size), ==, 0);
    fclose(file);
    tar = g_subprocess_new(G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error, "tar", "-C", work, "-cf",
                           layer_path, "disk", NULL);
    if (tar == NULL || !g_subprocess_wait_check(tar, NULL, &error))
        return FALSE;
    g_assert_true(g_file_get_contents(layer_path, &layer, &layer_length, NULL));
    layer_digest = write_blob(dir, layer, layer_length);
    config_digest = write_blob(dir, config, strlen(config));
    manifest = g_strdup_printf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
        "\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"application/"
        "vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}]}",
        config_digest, strlen(config), layer_digest, layer_length);
    manifest_digest = write_blob(dir, manifest, strlen(manifest));
    index = g_strdup_printf(
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
        "vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{"
        "\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
        manifest_digest, strlen(manifest));
    g_assert_true(g_file_set_contents(index_path, index, -1, NULL));
    g_assert_true(g_file_set_contents(layout_path, "{\"imageLayoutVersion\":\"1.0.0\"}", -1, NULL));
    podvm_test_rmrf(work);
    (void)g_unlink(layer_path);
    return TRUE;
}

/* ---- tests ---------------------------------------------------------------- */

/* Every volume source at once; the guest sees each disk with its size (and ISO label). */
static void
test_boot_every_source(Fixture *f, gconstpointer data)
{
    g_autofree char *base = NULL, *source = NULL, *oci = NULL, *disks = NULL, *volumes = NULL;
    g_autofree char *spec = NULL, *dev = NULL, *host = NULL;
    struct {
        const char *volume;
        guint64 size;
    } expected[] = {
        { "host", 20 * MIB },  { "empty", 24 * MIB },    { "eph", 28 * MIB },
        { "claim", 36 * MIB }, { "imported", 40 * MIB }, { "container", 44 * MIB },
    };

    if (f->daemon == NULL)
        return;
    base = podvm_test_make_raw_image(f->images, "base.img", 28 * MIB, "BASEDATA");
    source = podvm_test_make_raw_image(f->images, "import-source.img", 40 * MIB, "IMPORTED");
    oci = g_build_filename(f->images, "oci", NULL);
    if (!make_oci_layout(oci, 44 * MIB)) {
        g_test_skip("tar(1) is not available to build an OCI layout");
        return;
    }
    host = g_build_filename(f->images, "host.img", NULL);
    create_volume(f, "claim", 36 * MIB, NULL);
    create_volume(f, "imported", 0, source);

    disks =
        g_strdup("[{\"name\": \"host\", \"disk\": {\"bus\": \"virtio\"}, \"serial\": \"HOST1\"},"
                 " {\"name\": \"empty\", \"disk\": {\"bus\": \"virtio\"}, \"cache\": \"none\"},"
                 " {\"name\": \"eph\", \"disk\": {\"bus\": \"scsi\"}},"
                 " {\"name\": \"nocloud\", \"cdrom\": {\"bus\": \"scsi\"}},"
                 " {\"name\": \"configdrive\", \"disk\": {\"bus\": \"virtio\"}},"
                 " {\"name\": \"claim\", \"disk\": {\"bus\": \"virtio\"}},"
                 " {\"name\": \"imported\", \"disk\": {\"bus\": \"scsi\"}},"
                 " {\"name\": \"container\", \"disk\": {\"bus\": \"virtio\"}},"
                 " {\"name\": \"sata\", \"disk\": {\"bus\": \"sata\"}}]");
    volumes = g_strdup_printf(
        "[{\"name\": \"host\", \"hostDisk\": {\"path\": \"%s\", \"type\": \"DiskOrCreate\","
        "   \"capacity\": \"20Mi\"}},"
        " {\"name\": \"empty\", \"emptyDisk\": {\"capacity\": \"24Mi\"}},"
        " {\"name\": \"eph\", \"ephemeral\": {\"image\": \"%s\"}},"
        " {\"name\": \"nocloud\", \"cloudInitNoCloud\": {\"userData\": \"#cloud-config\\n\"}},"
        " {\"name\": \"configdrive\", \"cloudInitConfigDrive\": {\"userDataBase64\": "
        "   \"I2Nsb3VkLWNvbmZpZwo=\"}},"
        " {\"name\": \"claim\", \"persistentVolumeClaim\": {\"claimName\": \"claim\"}},"
        " {\"name\": \"imported\", \"dataVolume\": {\"name\": \"imported\"}},"
        " {\"name\": \"container\", \"containerDisk\": {\"image\": \"oci:%s:v1\"}},"
        " {\"name\": \"sata\", \"emptyDisk\": {\"capacity\": \"4Mi\"}}]",
        host, base, oci);
    spec = spec_with_disks("every", disks, volumes);
    create_pod(f, spec);
    boot_pod(f, "every");

    for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
        g_autofree char *found =
            podvm_test_guest_disk_of_size(f->daemon, "every", expected[i].size, NULL);
        if (found == NULL) {
            g_autofree char *line = podvm_test_guest_disks(f->daemon, "every");
            g_test_message("guest disks: %s", line);
        }
        g_assert_nonnull(found);
        g_test_message("volume %s is %s in the guest", expected[i].volume, found);
    }
    /* The cloud-init media carry their labels; their sizes are whatever the ISO is. */
    {
        g_autofree char *line = podvm_test_guest_disks(f->daemon, "every");
        g_assert_nonnull(strstr(line, ":cidata"));
        g_assert_nonnull(strstr(line, ":config-2"));
    }
    /* hostDisk DiskOrCreate made a sparse file of its capacity. */
    {
        GStatBuf st;
        g_assert_cmpint(g_stat(host, &st), ==, 0);
        g_assert_cmpint(st.st_size, ==, 20 * MIB);
        g_assert_cmpint(st.st_blocks * 512, <, 20 * MIB);
    }
    /* Data reached the guest unchanged: the ephemeral base, the import, the container image. */
    {
        static const struct {
            guint64 size;
            const char *word;
        } contents[] = {
            { 28 * MIB, "BASEDATA" },
            { 40 * MIB, "IMPORTED" },
            { 44 * MIB, "CONTAINERDISK" },
        };
        for (guint i = 0; i < G_N_ELEMENTS(contents); i++) {
            g_autofree char *read = NULL;
            g_clear_pointer(&dev, g_free);
            dev = podvm_test_guest_disk_of_size(f->daemon, "every", contents[i].size, NULL);
            read = podvm_test_guest_read(f->daemon, "every", dev);
            g_assert_cmpstr(read, ==, contents[i].word);
        }
    }
    stop_pod(f, "every");
}

/* A line "KEY:\tVALUE" of /proc/PID/status, the value stripped; NULL if missing. */
static char *
proc_status_field(int pid, const char *key)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autofree char *prefix = g_strconcat(key, ":", NULL);

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        if (g_str_has_prefix(lines[i], prefix))
            return g_strstrip(g_strdup(lines[i] + strlen(prefix)));
    }
    return NULL;
}

/*
 * RELIABILITY security rule 4: QEMU runs as podvm-qemu, no supplementary
 * groups, no capabilities, the -sandbox on; every disk source still reaches
 * the guest (all of them are fds now: the user cannot reach podvm's
 * directories), and the console log still fills.
 */
static void
test_qemu_unprivileged(Fixture *f, gconstpointer data)
{
    g_autofree char *base = NULL, *host = NULL, *volumes = NULL, *spec = NULL;
    g_autofree char *uid = NULL, *gid = NULL, *groups = NULL, *cap_eff = NULL, *cap_prm = NULL;
    g_autofree char *seccomp = NULL, *expected_uid = NULL, *expected_gid = NULL;
    g_autofree char *read = NULL, *dev = NULL;
    g_autoptr(JsonObject) status = NULL;
    struct passwd *pw;
    int pid;

    if (f->daemon == NULL)
        return;
    if (geteuid() != 0) {
        g_test_skip("podvmd is not root here: QEMU runs as podvmd's user, nothing to drop");
        return;
    }
    pw = getpwnam("podvm-qemu");
    if (pw == NULL) {
        g_test_skip("there is no user podvm-qemu: run tools/setup.sh (it creates it)");
        return;
    }
    expected_uid = g_strdup_printf("%u\t%u\t%u\t%u", (guint)pw->pw_uid, (guint)pw->pw_uid,
                                   (guint)pw->pw_uid, (guint)pw->pw_uid);
    expected_gid = g_strdup_printf("%u\t%u\t%u\t%u", (guint)pw->pw_gid, (guint)pw->pw_gid,
                                   (guint)pw->pw_gid, (guint)pw->pw_gid);
    base = podvm_test_make_raw_image(f->images, "base.img", 30 * MIB, "BASEDATA");
    host = podvm_test_make_raw_image(f->images, "host.img", 22 * MIB, "HOSTDATA");
    volumes = g_strdup_printf(
        "[{\"name\": \"host\", \"hostDisk\": {\"path\": \"%s\", \"type\": \"Disk\"}},"
        " {\"name\": \"empty\", \"emptyDisk\": {\"capacity\": \"26Mi\"}},"
        " {\"name\": \"eph\", \"ephemeral\": {\"image\": \"%s\"}},"
        " {\"name\": \"nocloud\", \"cloudInitNoCloud\": {\"userData\": \"#cloud-config\\n\"}}]",
        host, base);
    spec = spec_with_disks("unpriv",
                           "[{\"name\": \"host\"}, {\"name\": \"empty\"},"
                           " {\"name\": \"eph\", \"disk\": {\"bus\": \"scsi\"}},"
                           " {\"name\": \"nocloud\", \"cdrom\": {\"bus\": \"scsi\"}}]",
                           volumes);
    create_pod(f, spec);
    boot_pod(f, "unpriv");

    status = podvm_test_daemon_status(f->daemon, "unpriv");
    pid = (int)json_object_get_int_member_with_default(status, "qemuPid", 0);
    g_assert_cmpint(pid, >, 0);
    uid = proc_status_field(pid, "Uid");
    gid = proc_status_field(pid, "Gid");
    groups = proc_status_field(pid, "Groups");
    cap_eff = proc_status_field(pid, "CapEff");
    cap_prm = proc_status_field(pid, "CapPrm");
    seccomp = proc_status_field(pid, "Seccomp");
    g_test_message("QEMU %d: Uid %s, Gid %s, Groups '%s', CapEff %s, Seccomp %s", pid, uid, gid,
                   groups, cap_eff, seccomp);
    g_assert_cmpstr(uid, ==, expected_uid);
    g_assert_cmpstr(gid, ==, expected_gid);
    g_assert_cmpstr(groups, ==, "");
    g_assert_cmpstr(cap_eff, ==, "0000000000000000");
    g_assert_cmpstr(cap_prm, ==, "0000000000000000");
    g_assert_cmpstr(seccomp, ==, "2"); /* -sandbox on: a seccomp filter */

    /* The guest has every disk, with the data the host gave it. */
    dev = podvm_test_guest_disk_of_size(f->daemon, "unpriv", 22 * MIB, NULL);
    read = podvm_test_guest_read(f->daemon, "unpriv", dev);
    g_assert_cmpstr(read, ==, "HOSTDATA");
    g_clear_pointer(&dev, g_free);
    g_clear_pointer(&read, g_free);
    dev = podvm_test_guest_disk_of_size(f->daemon, "unpriv", 30 * MIB, NULL);
    read = podvm_test_guest_read(f->daemon, "unpriv", dev);
    g_assert_cmpstr(read, ==, "BASEDATA");
    g_clear_pointer(&dev, g_free);
    dev = podvm_test_guest_disk_of_size(f->daemon, "unpriv", 26 * MIB, NULL);
    g_assert_nonnull(dev);
    guest_write(f, "unpriv", dev, "EMPTYOK");
    {
        g_autofree char *line = podvm_test_guest_disks(f->daemon, "unpriv");
        g_assert_nonnull(strstr(line, ":cidata"));
    }
    stop_pod(f, "unpriv");
}

/* emptyDisk keeps what the guest wrote across a restart; an ephemeral disk does not. */
static void
test_persistence(Fixture *f, gconstpointer data)
{
    g_autofree char *base = NULL, *volumes = NULL, *spec = NULL;
    g_autofree char *empty_dev = NULL, *eph_dev = NULL, *read = NULL, *state = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;

    if (f->daemon == NULL)
        return;
    base = podvm_test_make_raw_image(f->images, "persist-base.img", 28 * MIB, "BASEDATA");
    volumes = g_strdup_printf("[{\"name\": \"empty\", \"emptyDisk\": {\"capacity\": \"24Mi\"}},"
                              " {\"name\": \"eph\", \"ephemeral\": {\"image\": \"%s\"}}]",
                              base);
    spec = spec_with_disks("persist", "[{\"name\": \"empty\"}, {\"name\": \"eph\", \"disk\": {}}]",
                           volumes);
    create_pod(f, spec);
    boot_pod(f, "persist");
    empty_dev = podvm_test_guest_disk_of_size(f->daemon, "persist", 24 * MIB, NULL);
    eph_dev = podvm_test_guest_disk_of_size(f->daemon, "persist", 28 * MIB, NULL);
    g_assert_nonnull(empty_dev);
    g_assert_nonnull(eph_dev);
    guest_write(f, "persist", empty_dev, "KEEPDATA");
    guest_write(f, "persist", eph_dev, "LOSEDATA");
    g_assert_cmpstr((read = podvm_test_guest_read(f->daemon, "persist", eph_dev)), ==, "LOSEDATA");
    g_clear_pointer(&read, g_free);

    stop_pod(f, "persist");
    boot_pod(f, "persist");
    g_assert_cmpstr((read = podvm_test_guest_read(f->daemon, "persist", empty_dev)), ==,
                    "KEEPDATA");
    g_clear_pointer(&read, g_free);
    g_assert_cmpstr((read = podvm_test_guest_read(f->daemon, "persist", eph_dev)), ==, "BASEDATA");
    g_clear_pointer(&read, g_free);
    /* The base image was never written. */
    {
        g_autofree char *content = NULL;
        g_assert_true(g_file_get_contents(base, &content, NULL, NULL));
        g_assert_true(g_str_has_prefix(content, "BASEDATA"));
    }

    stop_pod(f, "persist");
    state =
        g_build_filename(f->daemon->state_dir, "pods", "persist", "volumes", "empty.qcow2", NULL);
    g_assert_true(g_file_test(state, G_FILE_TEST_EXISTS));
    pod = podvm_test_daemon_pod(f->daemon, "persist");
    podvm_dbus_pod_call_delete_sync(pod, FALSE, NULL, &error);
    g_assert_no_error(error);
    g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
}

/* Attach and detach while running, virtio and scsi; the guest sees both ways. */
static void
test_hotplug(Fixture *f, gconstpointer data)
{
    g_autofree char *image = NULL, *attachment = NULL, *names = NULL, *dev = NULL;
    g_autoptr(GError) error = NULL;

    if (f->daemon == NULL)
        return;
    image = podvm_test_make_raw_image(f->images, "hot.img", 20 * MIB, "HOTDATA");
    {
        g_autofree char *spec = spec_with_disks("hot", "[]", "[]");
        create_pod(f, spec);
    }
    boot_pod(f, "hot");

    attachment = g_strdup_printf("{\"disk\": {\"name\": \"hot\", \"disk\": {\"bus\": \"virtio\"}},"
                                 " \"volume\": {\"name\": \"hot\", \"hostDisk\": {\"path\": \"%s\","
                                 " \"type\": \"Disk\"}}}",
                                 image);
    attach(f, "hot", attachment, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hot", 20 * MIB, TRUE));
    dev = podvm_test_guest_disk_of_size(f->daemon, "hot", 20 * MIB, NULL);
    {
        g_autofree char *read = podvm_test_guest_read(f->daemon, "hot", dev);
        g_assert_cmpstr(read, ==, "HOTDATA");
    }

    /* A SCSI disk: the pod had no controller, so podvmd plugs one in first. */
    attach(f, "hot",
           "{\"disk\": {\"name\": \"scratch\", \"disk\": {\"bus\": \"scsi\"}},"
           " \"volume\": {\"name\": \"scratch\", \"emptyDisk\": {\"capacity\": \"12Mi\"}}}",
           &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hot", 12 * MIB, TRUE));
    names = spec_disk_names(f, "hot");
    g_assert_cmpstr(names, ==, "hot,scratch");
    g_clear_pointer(&names, g_free);

    detach(f, "hot", "hot", &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hot", 20 * MIB, FALSE));
    detach(f, "hot", "scratch", &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hot", 12 * MIB, FALSE));
    names = spec_disk_names(f, "hot");
    g_assert_cmpstr(names, ==, "");
    /* The user's image is untouched. */
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS));

    /* Detaching what is not there says so. */
    detach(f, "hot", "hot", &error);
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, "NotFound"));
    stop_pod(f, "hot");
}

/* Failed attaches leave the pod as it was; a path with commas works and injects nothing. */
static void
test_hotplug_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *outside_dir = podvm_test_mkdtemp();
    g_autofree char *outside = g_build_filename(outside_dir, "x.img", NULL);
    g_autofree char *missing = g_build_filename(f->images, "missing.img", NULL);
    g_autofree char *commas = NULL, *attachment = NULL, *names = NULL;
    g_autoptr(GError) error = NULL;
    struct {
        const char *what;
        char *attachment;
        const char *error_name;
    } refused[4];

    if (f->daemon == NULL) {
        podvm_test_rmrf(outside_dir);
        return;
    }
    g_assert_true(g_file_set_contents(outside, "x", 1, NULL));
    {
        g_autofree char *spec = spec_with_disks("refuse", "[]", "[]");
        create_pod(f, spec);
    }
    boot_pod(f, "refuse");

    refused[0].what = "outside the allowed directories";
    refused[0].attachment =
        g_strdup_printf("{\"disk\": {\"name\": \"d\"}, \"volume\": {\"name\": \"d\", \"hostDisk\": "
                        "{\"path\": \"%s\", \"type\": \"Disk\"}}}",
                        outside);
    refused[0].error_name = "PermissionDenied";
    refused[1].what = "a missing image";
    refused[1].attachment =
        g_strdup_printf("{\"disk\": {\"name\": \"d\"}, \"volume\": {\"name\": \"d\", \"hostDisk\": "
                        "{\"path\": \"%s\", \"type\": \"Disk\"}}}",
                        missing);
    refused[1].error_name = "NotFound";
    refused[2].what = "SATA on a running pod";
    refused[2].attachment = g_strdup("{\"disk\": {\"name\": \"d\", \"disk\": {\"bus\": \"sata\"}},"
                                     " \"volume\": {\"name\": \"d\", \"emptyDisk\": "
                                     "{\"capacity\": \"1Mi\"}}}");
    refused[2].error_name = "NotSupported";
    refused[3].what = "a disk without its volume";
    refused[3].attachment = g_strdup("{\"disk\": {\"name\": \"d\"}, \"volume\": {\"name\": \"e\","
                                     " \"emptyDisk\": {\"capacity\": \"1Mi\"}}}");
    refused[3].error_name = "InvalidSpec";
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autofree char *listing = NULL;
        g_test_message("attach refused: %s", refused[i].what);
        attach(f, "refuse", refused[i].attachment, &error);
        g_assert_nonnull(error);
        g_test_message("  %s", error->message);
        g_assert_nonnull(strstr(error->message, refused[i].error_name));
        g_clear_error(&error);
        g_free(refused[i].attachment);
        names = spec_disk_names(f, "refuse");
        g_assert_cmpstr(names, ==, "");
        g_clear_pointer(&names, g_free);
    }
    /* Nothing was left in the pod's run directory either. */
    {
        g_autofree char *volumes =
            g_build_filename(f->daemon->run_dir, "pods", "refuse", "volumes", NULL);
        g_autoptr(GDir) dir = g_dir_open(volumes, 0, NULL);
        g_assert_true(dir == NULL || g_dir_read_name(dir) == NULL);
    }

    /* Commas and '=' are part of the name: QEMU opens exactly this file. */
    commas = podvm_test_make_raw_image(f->images, "a,format=qcow2,file.filename=x.img", 8 * MIB,
                                       "COMMAS");
    attachment = g_strdup_printf("{\"disk\": {\"name\": \"commas\"}, \"volume\": {\"name\": "
                                 "\"commas\", \"hostDisk\": {\"path\": \"%s\", \"type\": "
                                 "\"Disk\"}}}",
                                 commas);
    attach(f, "refuse", attachment, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "refuse", 8 * MIB, TRUE));
    {
        g_autofree char *dev = podvm_test_guest_disk_of_size(f->daemon, "refuse", 8 * MIB, NULL);
        g_autofree char *read = podvm_test_guest_read(f->daemon, "refuse", dev);
        g_assert_cmpstr(read, ==, "COMMAS");
    }
    stop_pod(f, "refuse");
    podvm_test_rmrf(outside_dir);
}

/* The entry of status.volumeStatus[] named @volume of pod @pod, or NULL. */
static JsonObject *
volume_status_of(Fixture *f, const char *pod, const char *volume)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, pod);
    JsonArray *entries = json_object_has_member(status, "volumeStatus")
                             ? json_object_get_array_member(status, "volumeStatus")
                             : NULL;

    for (guint i = 0; entries != NULL && i < json_array_get_length(entries); i++) {
        JsonObject *entry = json_array_get_object_element(entries, i);

        if (g_strcmp0(json_object_get_string_member_with_default(entry, "name", NULL), volume) == 0)
            return json_object_ref(entry);
    }
    return NULL;
}

/* podvmd restarts between attach and detach: the detach still works. */
/*
 * A guest that does not let go of a disk in time (here: it is paused)
 * leaves the detach pending: Timeout, the disk stays in the spec, and the
 * pod's status.volumeStatus[] says DetachPending until the guest lets go.
 * When the guest lets go later (resumed), podvmd finishes the detach by
 * itself; the disk's root port is free again for the next attach.
 */
static void
test_detach_pending(Fixture *f, gconstpointer data)
{
    g_autofree char *conf = NULL, *image = NULL, *attachment = NULL, *names = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline;

    if (f->daemon == NULL)
        return;
    /* A short wait for the guest, so the paused one misses it. */
    podvm_test_daemon_free(f->daemon);
    conf = g_strdup_printf("[storage]\nallowed_host_paths=%s\n[qemu]\ndetach_timeout_ms=1000\n",
                           f->images);
    f->daemon = podvm_test_daemon_new_with_config(conf);
    image = podvm_test_make_raw_image(f->images, "late.img", 18 * MIB, "LATE");
    {
        g_autofree char *spec = spec_with_disks("late", "[]", "[]");
        create_pod(f, spec);
    }
    boot_pod(f, "late");
    attachment =
        g_strdup_printf("{\"disk\": {\"name\": \"late\", \"disk\": {\"bus\": \"virtio\"}},"
                        " \"volume\": {\"name\": \"late\", \"hostDisk\": {\"path\": \"%s\","
                        " \"type\": \"Disk\"}}}",
                        image);
    attach(f, "late", attachment, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "late", 18 * MIB, TRUE));

    pod = podvm_test_daemon_pod(f->daemon, "late");
    podvm_dbus_pod_call_pause_sync(pod, NULL, &error);
    g_assert_no_error(error);
    detach(f, "late", "late", &error);
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, "Timeout"));
    g_assert_nonnull(strstr(error->message, "the removal stays pending"));
    g_clear_error(&error);
    names = spec_disk_names(f, "late");
    g_assert_cmpstr(names, ==, "late");
    g_clear_pointer(&names, g_free);
    /* The status says so: the disk's removal is pending. */
    {
        g_autoptr(JsonObject) entry = volume_status_of(f, "late", "late");

        g_assert_nonnull(entry);
        g_assert_cmpstr(json_object_get_string_member(entry, "phase"), ==, "Detaching");
        g_assert_cmpstr(json_object_get_string_member(entry, "reason"), ==, "DetachPending");
        g_assert_nonnull(strstr(json_object_get_string_member(entry, "message"),
                                "removal pending: the guest has not released disk 'late'"));
    }

    /* The guest runs again, sees the request and lets go: the detach finishes. */
    podvm_dbus_pod_call_resume_sync(pod, NULL, &error);
    g_assert_no_error(error);
    deadline = g_get_monotonic_time() + GUEST_TIMEOUT_MS * 1000LL;
    do {
        g_clear_pointer(&names, g_free);
        names = spec_disk_names(f, "late");
        if (*names == '\0')
            break;
        g_usleep(100 * 1000);
    } while (g_get_monotonic_time() < deadline);
    g_assert_cmpstr(names, ==, "");
    g_assert_null(volume_status_of(f, "late", "late"));
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "late", 18 * MIB, FALSE));
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS));

    /* Its placement went with it: the same disk plugs in again. */
    attach(f, "late", attachment, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "late", 18 * MIB, TRUE));
    stop_pod(f, "late");
}

static void
test_hotplug_across_daemon_restart(Fixture *f, gconstpointer data)
{
    g_autofree char *image = NULL, *attachment = NULL, *names = NULL;
    g_autoptr(GError) error = NULL;

    if (f->daemon == NULL)
        return;
    image = podvm_test_make_raw_image(f->images, "restart.img", 18 * MIB, NULL);
    {
        g_autofree char *spec = spec_with_disks("survive", "[]", "[]");
        create_pod(f, spec);
    }
    boot_pod(f, "survive");
    attachment = g_strdup_printf("{\"disk\": {\"name\": \"r\"}, \"volume\": {\"name\": \"r\","
                                 " \"hostDisk\": {\"path\": \"%s\", \"type\": \"Disk\"}}}",
                                 image);
    attach(f, "survive", attachment, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "survive", 18 * MIB, TRUE));

    podvm_test_daemon_kill9(f->daemon);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "survive", "Running", 10000));
    names = spec_disk_names(f, "survive");
    g_assert_cmpstr(names, ==, "r");
    g_clear_pointer(&names, g_free);

    /* An attach into the adopted QEMU works too. */
    attach(f, "survive",
           "{\"disk\": {\"name\": \"later\", \"disk\": {\"bus\": \"scsi\"}}, \"volume\": "
           "{\"name\": \"later\", \"emptyDisk\": {\"capacity\": \"14Mi\"}}}",
           &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "survive", 14 * MIB, TRUE));
    detach(f, "survive", "later", &error);
    g_assert_no_error(error);

    detach(f, "survive", "r", &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "survive", 18 * MIB, FALSE));
    names = spec_disk_names(f, "survive");
    g_assert_cmpstr(names, ==, "");
    stop_pod(f, "survive");
}

/* A claim is used read-write by one running pod at a time. */
static void
test_claim_in_use(Fixture *f, gconstpointer data)
{
    const char *claim_disk = "[{\"name\": \"data\"}]";
    const char *claim_volume =
        "[{\"name\": \"data\", \"persistentVolumeClaim\": {\"claimName\": \"shared\"}}]";
    g_autoptr(GError) error = NULL;
    g_autofree char *status = NULL;

    if (f->daemon == NULL)
        return;
    create_volume(f, "shared", 16 * MIB, NULL);
    {
        g_autofree char *first = spec_with_disks("first", claim_disk, claim_volume);
        g_autofree char *second = spec_with_disks("second", claim_disk, claim_volume);
        create_pod(f, first);
        create_pod(f, second);
    }
    boot_pod(f, "first");

    start_pod(f, "second", &error);
    g_assert_nonnull(error);
    g_test_message("second start: %s", error->message);
    g_assert_nonnull(strstr(error->message, "shared"));
    g_assert_nonnull(strstr(error->message, "first"));
    g_assert_nonnull(strstr(error->message, "Busy"));
    g_clear_error(&error);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "second", "Failed", 5000));

    /* Nor can it be deleted while in use. */
    podvm_dbus_manager_call_delete_volume_sync(f->daemon->manager, "shared", NULL, &error);
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, "Busy"));
    g_clear_error(&error);

    stop_pod(f, "first");
    boot_pod(f, "second");
    stop_pod(f, "second");
    podvm_dbus_manager_call_delete_volume_sync(f->daemon->manager, "shared", NULL, &error);
    g_assert_no_error(error);
}

/* A spec naming a hostDisk outside the allowed directories is refused at create, with its path. */
static void
test_create_refuses_outside_path(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autofree char *pod_dir = NULL;

    if (f->daemon == NULL)
        return;
    spec = spec_with_disks("outside", "[{\"name\": \"d\"}]",
                           "[{\"name\": \"d\", \"hostDisk\": {\"path\": \"/etc/passwd\", "
                           "\"type\": \"Disk\"}}]");
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_nonnull(error);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "spec.volumes[0].hostDisk.path"));
    pod_dir = g_build_filename(f->daemon->state_dir, "pods", "outside", NULL);
    g_assert_false(g_file_test(pod_dir, G_FILE_TEST_EXISTS));
}

/* ---- REST ------------------------------------------------------------------ */

typedef struct {
    guint status;
    JsonNode *json;
    char *body;
} Answer;

static void
answer_free(Answer *answer)
{
    g_clear_pointer(&answer->json, json_node_unref);
    g_free(answer->body);
    g_free(answer);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Answer, answer_free)

/* One request on podvmd's unix socket, as curl --unix-socket would send it. */
static Answer *
rest(Fixture *f, const char *method, const char *path, const char *body)
{
    g_autofree char *socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);
    g_autoptr(SoupSession) session =
        soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
    g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GError) error = NULL;
    Answer *answer = g_new0(Answer, 1);

    if (body != NULL) {
        g_autoptr(GBytes) request = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", request);
    }
    bytes = soup_session_send_and_read(session, msg, NULL, &error);
    g_assert_no_error(error);
    answer->status = soup_message_get_status(msg);
    answer->body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    answer->json = json_from_string(answer->body, NULL);
    return answer;
}

static const char *
error_reason(Answer *answer)
{
    JsonObject *error;

    g_assert_nonnull(answer->json);
    error = json_object_get_object_member(json_node_get_object(answer->json), "error");
    return json_object_get_string_member(error, "reason");
}

/* ---- host paths change under podvmd's feet ------------------------------------- */

typedef struct {
    char *dir;     /* the allowed directory */
    char *name;    /* the path the spec gives: flips between the two */
    char *real;    /* a file in @dir */
    char *outside; /* a file elsewhere */
    gint stop;
    guint flips;
} Flipper;

/* Swaps @name, atomically and again and again, between a hard link to the real file and a
 * symlink to the outside one. */
static gpointer
flip_thread(gpointer data)
{
    Flipper *flip = data;
    g_autofree char *link_tmp = g_build_filename(flip->dir, ".flip-symlink", NULL);
    g_autofree char *hard_tmp = g_build_filename(flip->dir, ".flip-hardlink", NULL);

    while (!g_atomic_int_get(&flip->stop)) {
        (void)unlink(link_tmp);
        g_assert_cmpint(symlink(flip->outside, link_tmp), ==, 0);
        g_assert_cmpint(rename(link_tmp, flip->name), ==, 0);
        (void)unlink(hard_tmp);
        g_assert_cmpint(link(flip->real, hard_tmp), ==, 0);
        g_assert_cmpint(rename(hard_tmp, flip->name), ==, 0);
        flip->flips++;
    }
    return NULL;
}

/* Whether any fd of process @pid is the file @path (by inode: the name it was opened by may be
 * gone). */
static gboolean
process_has_file_open(int pid, const char *path)
{
    g_autofree char *dir_path = g_strdup_printf("/proc/%d/fd", pid);
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
    const char *entry;
    GStatBuf want;

    g_assert_cmpint(g_stat(path, &want), ==, 0);
    while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
        g_autofree char *fd_path = g_build_filename(dir_path, entry, NULL);
        GStatBuf st;

        if (g_stat(fd_path, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            return TRUE;
    }
    return FALSE;
}

/*
 * RELIABILITY 24 and security rule 3, against a race: while the pod
 * starts again and again, its hostDisk flips between the real image and a
 * symlink to a file outside the allowed directory. A start may fail (403:
 * the path changed while it was opened), but QEMU never holds the outside
 * file, and the guest reads the real image's first bytes.
 */
static void
test_host_disk_swapped_while_starting(Fixture *f, gconstpointer data)
{
    g_autofree char *outside_dir = NULL;
    g_autofree char *spec = NULL, *volumes = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    GThread *thread;
    Flipper flip = { 0 };
    guint started = 0, refused = 0;
    guint runs = g_getenv("PODVM_TEST_QUICK") != NULL ? 8 : 20;

    if (f->daemon == NULL)
        return;
    outside_dir = podvm_test_mkdtemp();
    flip.dir = f->images;
    flip.name = g_build_filename(f->images, "swap.img", NULL);
    flip.real = podvm_test_make_raw_image(f->images, "real.img", 26 * MIB, "INSIDE");
    flip.outside = podvm_test_make_raw_image(outside_dir, "secret.img", 26 * MIB, "OUTSIDE");
    g_assert_cmpint(link(flip.real, flip.name), ==, 0);

    volumes = g_strdup_printf("[{\"name\": \"swap\", \"hostDisk\": {\"path\": \"%s\", "
                              "\"type\": \"Disk\"}}]",
                              flip.name);
    {
        g_autofree char *base = spec_with_disks("swap", "[{\"name\": \"swap\"}]", volumes);
        g_autoptr(JsonNode) root = json_from_string(base, NULL);
        JsonObject *object = json_object_get_object_member(json_node_get_object(root), "spec");

        /* Failed starts are the test's to count, not the restart policy's to retry. */
        json_object_set_string_member(object, "restartPolicy", "Never");
        spec = json_to_string(root, FALSE);
    }
    create_pod(f, spec);
    pod = podvm_test_daemon_pod(f->daemon, "swap");

    thread = g_thread_new("flip", flip_thread, &flip);
    for (guint i = 0; i < runs; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonObject) status = NULL;
        int pid;

        if (!start_pod(f, "swap", &error)) {
            /* The swap won the race: refused, never opened. */
            g_assert_nonnull(strstr(error->message, "PermissionDenied"));
            refused++;
            continue;
        }
        started++;
        status = podvm_test_daemon_status(f->daemon, "swap");
        pid = (int)json_object_get_int_member_with_default(status, "qemuPid", 0);
        g_assert_cmpint(pid, >, 0);
        g_assert_false(process_has_file_open(pid, flip.outside));
        g_assert_true(process_has_file_open(pid, flip.real));
        podvm_dbus_pod_call_kill_sync(pod, NULL, &error);
        g_assert_no_error(error);
    }
    g_atomic_int_set(&flip.stop, 1);
    g_thread_join(thread);
    g_test_message("%u starts, %u refused, %u flips", started, refused, flip.flips);
    g_assert_cmpuint(started + refused, ==, runs);

    /* One more start with the flipping on, through to the guest: it reads the real image. */
    g_atomic_int_set(&flip.stop, 0);
    thread = g_thread_new("flip", flip_thread, &flip);
    for (guint tries = 0; tries < 20; tries++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *log = podvm_test_daemon_console_log(f->daemon, "swap");
        guint boots = podvm_test_count_in_file(log, "PODVM-GUEST-READY");
        gint64 deadline = g_get_monotonic_time() + BOOT_TIMEOUT_MS * 1000LL;
        g_autofree char *dev = NULL, *read = NULL;

        if (!start_pod(f, "swap", &error))
            continue;
        g_atomic_int_set(&flip.stop, 1);
        g_thread_join(thread);
        thread = NULL;
        while (podvm_test_count_in_file(log, "PODVM-GUEST-READY") <= boots) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(50000);
        }
        dev = podvm_test_guest_disk_of_size(f->daemon, "swap", 26 * MIB, NULL);
        g_assert_nonnull(dev);
        read = podvm_test_guest_read(f->daemon, "swap", dev);
        g_assert_cmpstr(read, ==, "INSIDE");
        podvm_dbus_pod_call_kill_sync(pod, NULL, &error);
        g_assert_no_error(error);
        break;
    }
    if (thread != NULL) {
        g_atomic_int_set(&flip.stop, 1);
        g_thread_join(thread);
        g_assert_not_reached(); /* 20 starts, every one refused: not a race any more */
    }
    podvm_test_rmrf(outside_dir);
    g_free(flip.name);
    g_free(flip.real);
    g_free(flip.outside);
}

/* A symlink inside the allowed directory that leads out: create 403, start 403, nothing opened. */
static void
test_host_disk_symlink_out(Fixture *f, gconstpointer data)
{
    g_autofree char *outside_dir = NULL, *outside = NULL, *link_path = NULL;
    g_autofree char *volumes = NULL, *spec = NULL, *body = NULL;
    g_autoptr(Answer) answer = NULL;
    g_autoptr(GError) error = NULL;

    if (f->daemon == NULL)
        return;
    outside_dir = podvm_test_mkdtemp();
    outside = podvm_test_make_raw_image(outside_dir, "secret.img", 4 * MIB, "OUTSIDE");
    link_path = g_build_filename(f->images, "link.img", NULL);
    g_assert_cmpint(symlink(outside, link_path), ==, 0);

    volumes = g_strdup_printf("[{\"name\": \"d\", \"hostDisk\": {\"path\": \"%s\", "
                              "\"type\": \"Disk\"}}]",
                              link_path);
    spec = spec_with_disks("linkout", "[{\"name\": \"d\"}]", volumes);
    answer = rest(f, "POST", "/v1/pods", spec);
    g_assert_cmpuint(answer->status, ==, 403);
    g_assert_cmpstr(error_reason(answer), ==, "PermissionDenied");
    g_clear_pointer(&answer, answer_free);

    /* Created while the link pointed inside, then pointed out: the start is refused. */
    g_assert_cmpint(unlink(link_path), ==, 0);
    {
        g_autofree char *inside = podvm_test_make_raw_image(f->images, "in.img", 4 * MIB, "IN");
        g_assert_cmpint(symlink(inside, link_path), ==, 0);
    }
    answer = rest(f, "POST", "/v1/pods", spec);
    g_assert_cmpuint(answer->status, ==, 201);
    g_clear_pointer(&answer, answer_free);
    g_assert_cmpint(unlink(link_path), ==, 0);
    g_assert_cmpint(symlink(outside, link_path), ==, 0);
    answer = rest(f, "POST", "/v1/pods/linkout/start", NULL);
    g_assert_cmpuint(answer->status, ==, 403);
    g_assert_cmpstr(error_reason(answer), ==, "PermissionDenied");
    podvm_test_rmrf(outside_dir);
}

/* kernelPath and initrdPath: absolute, under [qemu] kernel_dirs or allowed_host_paths. */
static void
test_kernel_paths_checked(Fixture *f, gconstpointer data)
{
    g_autofree char *base = NULL, *kernel = NULL, *link_path = NULL;
    g_autoptr(Answer) answer = NULL;
    struct {
        const char *kernel;
        const char *initrd;
        guint status;
        const char *field;
    } cases[] = {
        { NULL, "/etc/shadow", 403, "spec.domain.firmware.kernelBoot.initrdPath" },
        { "/etc/passwd", NULL, 403, "spec.domain.firmware.kernelBoot.kernelPath" },
        { "vmlinuz", NULL, 400, "spec.domain.firmware.kernelBoot.kernelPath" },
        { NULL, "../../../etc/shadow", 400, "spec.domain.firmware.kernelBoot.initrdPath" },
    };

    if (f->daemon == NULL)
        return;
    base = podvm_test_guest_spec("kern", NULL, "Never", 2);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(JsonNode) root = json_from_string(base, NULL);
        JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
        JsonObject *domain = json_object_get_object_member(spec, "domain");
        JsonObject *firmware = json_object_get_object_member(domain, "firmware");
        JsonObject *boot = json_object_get_object_member(firmware, "kernelBoot");
        g_autofree char *text = NULL;
        g_autofree char *pod_dir = g_build_filename(f->daemon->state_dir, "pods", "kern", NULL);

        if (cases[i].kernel != NULL)
            json_object_set_string_member(boot, "kernelPath", cases[i].kernel);
        if (cases[i].initrd != NULL)
            json_object_set_string_member(boot, "initrdPath", cases[i].initrd);
        text = json_to_string(root, FALSE);
        answer = rest(f, "POST", "/v1/pods", text);
        g_test_message("%s", answer->body);
        g_assert_cmpuint(answer->status, ==, cases[i].status);
        g_assert_nonnull(strstr(answer->body, cases[i].field));
        g_assert_false(g_file_test(pod_dir, G_FILE_TEST_EXISTS));
        g_clear_pointer(&answer, answer_free);
    }

    /* Checked again at start: the kernel became a symlink out of its directory. */
    kernel = podvm_test_make_raw_image(f->images, "vmlinuz", 4096, "KERNEL");
    {
        g_autoptr(JsonNode) root = json_from_string(base, NULL);
        JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
        JsonObject *domain = json_object_get_object_member(spec, "domain");
        JsonObject *firmware = json_object_get_object_member(domain, "firmware");
        JsonObject *boot = json_object_get_object_member(firmware, "kernelBoot");
        g_autofree char *text = NULL;

        json_object_set_string_member(boot, "kernelPath", kernel);
        text = json_to_string(root, FALSE);
        answer = rest(f, "POST", "/v1/pods", text);
        g_assert_cmpuint(answer->status, ==, 201);
        g_clear_pointer(&answer, answer_free);
    }
    g_assert_cmpint(unlink(kernel), ==, 0);
    g_assert_cmpint(symlink("/etc/passwd", kernel), ==, 0);
    answer = rest(f, "POST", "/v1/pods/kern/start", NULL);
    g_test_message("%s", answer->body);
    g_assert_cmpuint(answer->status, ==, 403);
    g_assert_nonnull(strstr(answer->body, "kernelPath"));
}

/* Disks and volumes through the REST API, as automation drives them. */
static void
test_rest(Fixture *f, gconstpointer data)
{
    g_autoptr(Answer) answer = NULL;
    g_autofree char *image = NULL, *attachment = NULL, *names = NULL;

    if (f->daemon == NULL)
        return;
    image = podvm_test_make_raw_image(f->images, "rest.img", 22 * MIB, "RESTDATA");
    {
        g_autofree char *spec = spec_with_disks("viarest", "[]", "[]");
        create_pod(f, spec);
    }
    boot_pod(f, "viarest");

    /* Volumes: create (201), list, get, bad input, delete. */
    answer = rest(f, "POST", "/v1/volumes", "{\"name\": \"vol\", \"size\": \"30Mi\"}");
    g_assert_cmpuint(answer->status, ==, 201);
    g_assert_nonnull(strstr(answer->body, "\"Ready\""));
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "GET", "/v1/volumes", NULL);
    g_assert_cmpuint(answer->status, ==, 200);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(answer->json));
    g_assert_cmpuint(json_array_get_length(json_node_get_array(answer->json)), ==, 1);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "GET", "/v1/volumes/vol", NULL);
    g_assert_cmpuint(answer->status, ==, 200);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(answer->json), "size"), ==,
                    30 * MIB);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/volumes", "{\"name\": \"vol\", \"size\": \"1Mi\"}");
    g_assert_cmpuint(answer->status, ==, 409);
    g_assert_cmpstr(error_reason(answer), ==, "AlreadyExists");
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/volumes", "{\"name\": \"x\", \"size\": \"ten\"}");
    g_assert_cmpuint(answer->status, ==, 400);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/volumes", "{\"name\": \"x\", \"from\": \"/etc/passwd\"}");
    g_assert_cmpuint(answer->status, ==, 403);
    g_test_message("import from /etc/passwd: %s", answer->body);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "GET", "/v1/volumes/x", NULL);
    g_assert_cmpuint(answer->status, ==, 404);
    g_clear_pointer(&answer, answer_free);

    /* Attach a host disk and the claim; the guest sees both. */
    attachment = g_strdup_printf("{\"disk\": {\"name\": \"h\"}, \"volume\": {\"name\": "
                                 "\"h\", \"hostDisk\": {\"path\": \"%s\", \"type\": "
                                 "\"Disk\"}}}",
                                 image);
    answer = rest(f, "POST", "/v1/pods/viarest/disks", attachment);
    g_assert_cmpuint(answer->status, ==, 200);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/pods/viarest/disks",
                  "{\"disk\": {\"name\": \"v\", \"disk\": {\"bus\": \"scsi\"}}, "
                  "\"volume\": {\"name\": \"v\", \"persistentVolumeClaim\": "
                  "{\"claimName\": \"vol\"}}}");
    g_assert_cmpuint(answer->status, ==, 200);
    g_clear_pointer(&answer, answer_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "viarest", 22 * MIB, TRUE));
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "viarest", 30 * MIB, TRUE));
    {
        g_autofree char *dev = podvm_test_guest_disk_of_size(f->daemon, "viarest", 22 * MIB, NULL);
        g_autofree char *read = podvm_test_guest_read(f->daemon, "viarest", dev);
        g_assert_cmpstr(read, ==, "RESTDATA");
    }

    /* In use: the volume cannot go. */
    answer = rest(f, "DELETE", "/v1/volumes/vol", NULL);
    g_assert_cmpuint(answer->status, ==, 409);
    g_assert_cmpstr(error_reason(answer), ==, "Busy");
    g_clear_pointer(&answer, answer_free);

    /* Bad attachments: every problem with its path, nothing changed. */
    answer = rest(f, "POST", "/v1/pods/viarest/disks",
                  "{\"disk\": {\"name\": \"b\", \"disk\": {\"bus\": \"virtoi\"}}, "
                  "\"volume\": {\"name\": \"b\", \"emptyDisk\": {}}}");
    g_assert_cmpuint(answer->status, ==, 400);
    g_assert_cmpstr(error_reason(answer), ==, "InvalidSpec");
    g_assert_nonnull(strstr(answer->body, "disk.disk.bus"));
    g_assert_nonnull(strstr(answer->body, "volume.emptyDisk.capacity"));
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/pods/viarest/disks",
                  "{\"disk\": {\"name\": \"e\"}, \"volume\": {\"name\": \"e\", \"hostDisk\": "
                  "{\"path\": \"/etc/shadow\", \"type\": \"Disk\"}}}");
    g_assert_cmpuint(answer->status, ==, 403);
    g_assert_cmpstr(error_reason(answer), ==, "PermissionDenied");
    g_assert_nonnull(strstr(answer->body, "volume.hostDisk.path"));
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/pods/viarest/disks", "{\"disk\": ");
    g_assert_cmpuint(answer->status, ==, 400);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/pods/nope/disks", attachment);
    g_assert_cmpuint(answer->status, ==, 404);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "POST", "/v1/pods/viarest/disks", attachment);
    g_assert_cmpuint(answer->status, ==, 409);
    g_assert_cmpstr(error_reason(answer), ==, "AlreadyExists");
    g_clear_pointer(&answer, answer_free);
    names = spec_disk_names(f, "viarest");
    g_assert_cmpstr(names, ==, "h,v");
    g_clear_pointer(&names, g_free);

    /* Cloud-init data is hidden in answers unless asked for, and a placeholder sent back is
     * refused. */
    {
        g_autofree char *spec =
            spec_with_disks("secret", "[{\"name\": \"ci\", \"cdrom\": {\"bus\": \"scsi\"}}]",
                            "[{\"name\": \"ci\", \"cloudInitNoCloud\": {\"userData\": "
                            "\"#cloud-config\\npassword: hunter2\\n\"}}]");
        g_autoptr(Answer) shown = NULL;
        g_autoptr(Answer) secret = NULL;
        g_autoptr(Answer) put = NULL;
        g_autoptr(Answer) list = NULL;

        create_pod(f, spec);
        shown = rest(f, "GET", "/v1/pods/secret", NULL);
        g_assert_cmpuint(shown->status, ==, 200);
        g_assert_null(strstr(shown->body, "hunter2"));
        g_assert_nonnull(strstr(shown->body, "(hidden: 32 bytes"));
        list = rest(f, "GET", "/v1/pods", NULL);
        g_assert_null(strstr(list->body, "hunter2"));
        secret = rest(f, "GET", "/v1/pods/secret?secrets=true", NULL);
        g_assert_nonnull(strstr(secret->body, "hunter2"));
        /* GET, edit, PUT without the data: refused, the stored data kept. */
        {
            JsonObject *root = json_node_get_object(shown->json);
            g_autofree char *text = NULL;

            json_object_remove_member(root, "status");
            text = json_to_string(shown->json, FALSE);
            put = rest(f, "PUT", "/v1/pods/secret", text);
        }
        g_assert_cmpuint(put->status, ==, 400);
        g_assert_nonnull(strstr(put->body, "cloudInitNoCloud.userData"));
        g_clear_pointer(&secret, answer_free);
        secret = rest(f, "GET", "/v1/pods/secret?secrets=true", NULL);
        g_assert_nonnull(strstr(secret->body, "hunter2"));
    }

    /* Detach both; then the volume can be deleted. */
    answer = rest(f, "DELETE", "/v1/pods/viarest/disks/h", NULL);
    g_assert_cmpuint(answer->status, ==, 200);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "DELETE", "/v1/pods/viarest/disks/v", NULL);
    g_assert_cmpuint(answer->status, ==, 200);
    g_clear_pointer(&answer, answer_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "viarest", 22 * MIB, FALSE));
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "viarest", 30 * MIB, FALSE));
    answer = rest(f, "DELETE", "/v1/pods/viarest/disks/v", NULL);
    g_assert_cmpuint(answer->status, ==, 404);
    g_clear_pointer(&answer, answer_free);
    answer = rest(f, "DELETE", "/v1/volumes/vol", NULL);
    g_assert_cmpuint(answer->status, ==, 200);
    g_clear_pointer(&answer, answer_free);
    stop_pod(f, "viarest");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, func) \
    g_test_add("/daemon/storage/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
    ADD("boot-every-source", test_boot_every_source);
    ADD("persistence", test_persistence);
    ADD("hotplug", test_hotplug);
    ADD("hotplug-refused", test_hotplug_refused);
    ADD("hotplug-across-daemon-restart", test_hotplug_across_daemon_restart);
    ADD("detach-pending", test_detach_pending);
    ADD("claim-in-use", test_claim_in_use);
    ADD("create-refuses-outside-path", test_create_refuses_outside_path);
    ADD("rest", test_rest);
    ADD("host-disk-swapped-while-starting", test_host_disk_swapped_while_starting);
    ADD("host-disk-symlink-out", test_host_disk_symlink_out);
    ADD("kernel-paths-checked", test_kernel_paths_checked);
    ADD("qemu-unprivileged", test_qemu_unprivileged);
#undef ADD
    return g_test_run();
}
