/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * containerDisks from registries, end to end: a real docker-registry on
 * loopback holding a containerDisk image the test builds and pushes, a real
 * podvmd pulling it at start, the test guest reading the disk. Also
 * KubeVirt's own VMI (a containerDisk from Docker Hub) accepted by
 * `podvmctl create` as written, v1alpha1's registryDisk refused, and an
 * unreachable registry failing the start with the image and the registry
 * named.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 90000
#define MIB (1024 * 1024)
#define DISK_SIZE (44 * MIB)

typedef struct {
    PodvmTestRegistry *reg;
    PodvmTestDaemon *daemon;
    char *tmp;
} Fixture;

/* A podvmd that reaches @insecure (a registry "HOST:PORT") over plain HTTP. */
static PodvmTestDaemon *
daemon_for(Fixture *f, const char *insecure)
{
    g_autofree char *conf = NULL;
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");

    if (qemu_img == NULL) {
        g_test_skip("qemu-img is not installed (Debian package qemu-utils)");
        return NULL;
    }
    conf = g_strdup_printf("[storage]\nallowed_host_paths=%s\n"
                           "[qemu]\ndetach_timeout_ms=20000\n"
                           "[images]\ninsecure_registries=%s\n",
                           f->tmp, insecure);
    return podvm_test_daemon_new_with_config(conf);
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    f->tmp = podvm_test_mkdtemp();
    if (data != NULL) {
        f->reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
        if (f->reg == NULL)
            return;
        f->daemon = daemon_for(f, podvm_test_registry_host(f->reg));
    } else {
        f->daemon = daemon_for(f, "127.0.0.1:5000");
    }
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    g_clear_pointer(&f->reg, podvm_test_registry_stop);
    if (f->tmp != NULL)
        podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
}

static gboolean
ready(Fixture *f)
{
    return f->daemon != NULL && !g_test_failed();
}

/* A containerDisk image (a raw disk starting with @word) pushed as @repo_tag; its digest. */
static char *
push_container_disk(Fixture *f, const char *word, const char *repo_tag)
{
    g_autofree char *raw = podvm_test_make_raw_image(f->tmp, "disk.img", DISK_SIZE, word);
    g_autofree char *layout = g_build_filename(f->tmp, "layout", NULL);
    g_autoptr(PodvmTestImage) image = podvm_test_image_new_container_disk(raw, NULL);
    g_autofree char *written = NULL;
    g_autoptr(GError) error = NULL;
    char *digest = NULL;

    written = podvm_test_image_write_layout(image, layout, "v1", NULL);
    g_assert_true(
        podvm_test_registry_push_full(f->reg, layout, "v1", repo_tag, NULL, &digest, &error));
    g_assert_no_error(error);
    g_assert_nonnull(digest);
    g_test_message("pushed %s: %s (layout %s)", repo_tag, digest, written);
    return digest;
}

static char *
container_disk_spec(const char *name, const char *image)
{
    g_autofree char *volumes =
        g_strdup_printf("[{\"name\": \"cd\", \"containerDisk\": {\"image\": \"%s\"}}]", image);

    return podvm_test_guest_spec_with(name, NULL, "disks",
                                      "[{\"name\": \"cd\", \"disk\": {\"bus\": \"virtio\"}}]",
                                      "volumes", volumes);
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
    while (podvm_test_count_in_file(log, "PODVM-GUEST-READY") <= boots) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        /* D-Bus signals the test subscribed to arrive meanwhile. */
        while (g_main_context_iteration(NULL, FALSE))
            ;
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
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, name, "Stopped", 60000));
}

/* status.volumeStatus[] entry of @volume's containerDiskVolume, or NULL. */
static JsonObject *
container_disk_status(JsonObject *status, const char *volume)
{
    JsonArray *entries;

    if (!json_object_has_member(status, "volumeStatus"))
        return NULL;
    entries = json_object_get_array_member(status, "volumeStatus");
    for (guint i = 0; i < json_array_get_length(entries); i++) {
        JsonObject *entry = json_array_get_object_element(entries, i);

        if (g_strcmp0(json_object_get_string_member_with_default(entry, "name", NULL), volume) ==
                0 &&
            json_object_has_member(entry, "containerDiskVolume"))
            return json_object_get_object_member(entry, "containerDiskVolume");
    }
    return NULL;
}

/* Manager.Event: the details (JSON text) of "image-pull" events, collected in @user_data. */
static void
event_cb(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
         const char *signal, GVariant *parameters, gpointer user_data)
{
    GPtrArray *events = user_data;
    const char *pod, *type, *details;

    g_variant_get(parameters, "(&s&s&s)", &pod, &type, &details);
    if (g_strcmp0(type, "image-pull") == 0)
        g_ptr_array_add(events, g_strdup_printf("%s %s", pod, details));
}

/*
 * A containerDisk named as KubeVirt writes it (no docker://) is pulled from
 * the registry at start; the guest reads the disk; the status records the
 * digest; a second start takes the image from the store (no registry request).
 */
static void
test_boots_from_registry(Fixture *f, gconstpointer data)
{
    g_autofree char *digest = NULL, *image = NULL, *spec = NULL, *dev = NULL, *read = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func(g_free);
    JsonObject *disk;
    guint requests;
    guint subscription;

    if (!ready(f))
        return;
    digest = push_container_disk(f, "REGISTRYDISK", "disks/demo:v1");
    image = g_strdup_printf("%s/disks/demo:v1", podvm_test_registry_host(f->reg));
    spec = container_disk_spec("cd-registry", image);
    create_pod(f, spec);
    subscription = g_dbus_connection_signal_subscribe(
        f->daemon->connection, NULL, "io.podvm.PodVM1.Manager", "Event", NULL, NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, event_cb, events, NULL);
    requests = podvm_test_registry_count_requests(f->reg, "GET", "/v2/disks/demo/");
    g_assert_cmpuint(requests, ==, 0);

    boot_pod(f, "cd-registry");
    g_assert_cmpuint(podvm_test_registry_count_requests(f->reg, "GET", "/v2/disks/demo/blobs/"), >,
                     0);
    dev = podvm_test_guest_disk_of_size(f->daemon, "cd-registry", DISK_SIZE, NULL);
    if (dev == NULL) {
        g_autofree char *line = podvm_test_guest_disks(f->daemon, "cd-registry");
        g_test_message("guest disks: %s", line);
    }
    g_assert_nonnull(dev);
    read = podvm_test_guest_read(f->daemon, "cd-registry", dev);
    g_assert_cmpstr(read, ==, "REGISTRYDISK");
    /* The pull showed its progress as the pod's "image-pull" events, the last one "done". */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_dbus_connection_signal_unsubscribe(f->daemon->connection, subscription);
    for (guint i = 0; i < events->len; i++)
        g_test_message("event: %s", (const char *)g_ptr_array_index(events, i));
    g_assert_cmpuint(events->len, >=, 1);
    g_assert_true(g_str_has_prefix(g_ptr_array_index(events, events->len - 1), "cd-registry "));
    g_assert_nonnull(strstr(g_ptr_array_index(events, events->len - 1), "\"phase\":\"done\""));

    status = podvm_test_daemon_status(f->daemon, "cd-registry");
    disk = container_disk_status(status, "cd");
    g_assert_nonnull(disk);
    g_assert_cmpstr(json_object_get_string_member(disk, "imageDigest"), ==, digest);
    g_assert_cmpstr(json_object_get_string_member(disk, "image"), ==, image);
    stop_pod(f, "cd-registry");

    /* IfNotPresent (the default): the second start asks the registry nothing. */
    requests = podvm_test_registry_count_requests(f->reg, NULL, "/v2/disks/demo/");
    boot_pod(f, "cd-registry");
    g_assert_cmpuint(podvm_test_registry_count_requests(f->reg, NULL, "/v2/disks/demo/"), ==,
                     requests);
    stop_pod(f, "cd-registry");
}

/* Whether podvmd's containerDisk cache (STATE/cache) has an entry for @digest ("sha256:HEX"). */
static gboolean
cache_has(Fixture *f, const char *digest)
{
    g_autofree char *entry = g_strdup_printf("sha256-%s", digest + strlen("sha256:"));
    g_autofree char *path = g_build_filename(f->daemon->state_dir, "cache", entry, NULL);

    return g_file_test(path, G_FILE_TEST_IS_DIR);
}

static gboolean
cache_lacks_cb(gpointer user_data)
{
    gpointer *args = user_data;

    return !cache_has(args[0], args[1]);
}

/*
 * The unpack cache follows the pods: `podvmctl image prune` removes an
 * entry no pod uses and keeps the one a pod (stopped) uses; deleting that
 * pod removes its entry; a new pod's start unpacks it again.
 */
static void
test_cache_pruned(Fixture *f, gconstpointer data)
{
    g_autofree char *digest = NULL, *image = NULL, *spec = NULL, *orphan = NULL, *disk = NULL;
    g_autofree char *out = NULL, *err = NULL, *dev = NULL, *read = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    const char *orphan_digest =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    gpointer args[2];

    if (!ready(f))
        return;
    digest = push_container_disk(f, "CACHEDISK", "disks/cached:v1");
    image = g_strdup_printf("%s/disks/cached:v1", podvm_test_registry_host(f->reg));
    spec = container_disk_spec("cd-cache", image);
    create_pod(f, spec);
    boot_pod(f, "cd-cache");
    stop_pod(f, "cd-cache");
    g_assert_true(cache_has(f, digest));
    /* An entry nothing records (an older podvmd's, say). */
    orphan = g_build_filename(
        f->daemon->state_dir, "cache",
        "sha256-0000000000000000000000000000000000000000000000000000000000000000", NULL);
    g_assert_cmpint(g_mkdir(orphan, 0700), ==, 0);
    disk = g_build_filename(orphan, "disk.raw", NULL);
    g_assert_true(g_file_set_contents(disk, "orphan", -1, &error));
    g_assert_true(cache_has(f, orphan_digest));

    /* The stopped pod still uses its entry: the prune keeps it, and removes the orphan. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "image", "prune", NULL), ==, 0);
    g_test_message("prune: %s%s", out, err);
    g_assert_nonnull(strstr(out, "removed 1 containerDisk cache entry"));
    g_assert_false(cache_has(f, orphan_digest));
    g_assert_true(cache_has(f, digest));

    /* The pod goes: so does its entry (no other pod uses it). */
    pod = podvm_test_daemon_pod(f->daemon, "cd-cache");
    podvm_dbus_pod_call_delete_sync(pod, FALSE, NULL, &error);
    g_assert_no_error(error);
    args[0] = f;
    args[1] = digest;
    g_assert_true(podvm_test_wait_until(cache_lacks_cb, args, 10000));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "image", "prune", NULL), ==, 0);
    g_test_message("prune: %s%s", out, err);
    g_assert_nonnull(strstr(out, "removed 1 image"));

    /* A new pod of the same image: pulled and unpacked again, the guest reads it. */
    create_pod(f, spec);
    boot_pod(f, "cd-cache");
    g_assert_true(cache_has(f, digest));
    dev = podvm_test_guest_disk_of_size(f->daemon, "cd-cache", DISK_SIZE, NULL);
    g_assert_nonnull(dev);
    read = podvm_test_guest_read(f->daemon, "cd-cache", dev);
    g_assert_cmpstr(read, ==, "CACHEDISK");
    stop_pod(f, "cd-cache");
}

/* Hotplugged into a running pod that pulled nothing at start: pulled, and the guest reads it. */
static void
test_hotplug_from_registry(Fixture *f, gconstpointer data)
{
    g_autofree char *digest = NULL, *spec = NULL, *attachment = NULL, *dev = NULL, *read = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;

    if (!ready(f))
        return;
    digest = push_container_disk(f, "HOTPLUGDISK", "disks/hot:v1");
    spec = podvm_test_guest_spec("cd-hotplug", NULL, NULL, 2);
    create_pod(f, spec);
    boot_pod(f, "cd-hotplug");
    attachment = g_strdup_printf("{\"disk\": {\"name\": \"cd\", \"disk\": {\"bus\": \"virtio\"}},"
                                 " \"volume\": {\"name\": \"cd\", \"containerDisk\": {\"image\":"
                                 " \"%s/disks/hot:v1\"}}}",
                                 podvm_test_registry_host(f->reg));
    pod = podvm_test_daemon_pod(f->daemon, "cd-hotplug");
    podvm_dbus_pod_call_attach_disk_sync(pod, attachment, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "cd-hotplug", DISK_SIZE, TRUE));
    dev = podvm_test_guest_disk_of_size(f->daemon, "cd-hotplug", DISK_SIZE, NULL);
    g_assert_nonnull(dev);
    read = podvm_test_guest_read(f->daemon, "cd-hotplug", dev);
    g_assert_cmpstr(read, ==, "HOTPLUGDISK");
    stop_pod(f, "cd-hotplug");
}

/* A registry that is not there: the start fails, naming the image and the registry. */
static void
test_unreachable_registry(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *image = NULL, *spec = NULL, *registry = NULL;
    g_autoptr(JsonObject) status = NULL;
    const char *message;
    guint16 port;

    if (!ready(f))
        return;
    /* A port nothing listens on: taken, then given back. */
    port = g_socket_listener_add_any_inet_port(listener, NULL, &error);
    g_assert_no_error(error);
    g_socket_listener_close(listener);
    registry = g_strdup_printf("127.0.0.1:%u", port);
    /* This podvmd's insecure registry is 127.0.0.1:5000; restart it with this one. */
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    f->daemon = daemon_for(f, registry);
    if (f->daemon == NULL)
        return;

    image = g_strdup_printf("%s/disks/missing:v1", registry);
    spec = container_disk_spec("cd-unreachable", image);
    create_pod(f, spec);
    g_assert_false(start_pod(f, "cd-unreachable", &error));
    g_assert_nonnull(error);
    g_test_message("start: %s", error->message);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "cd-unreachable", "Failed", 60000));
    status = podvm_test_daemon_status(f->daemon, "cd-unreachable");
    message = json_object_get_string_member_with_default(status, "message", "");
    g_test_message("status.message: %s", message);
    g_assert_nonnull(strstr(message, "disks/missing"));
    g_assert_nonnull(strstr(message, registry));
    g_assert_nonnull(strstr(error->message, registry));
}

/* KubeVirt's VMI from its documentation, a containerDisk on Docker Hub: created as written. */
static void
test_founding_vmi_created(Fixture *f, gconstpointer data)
{
    g_autofree char *file =
        g_test_build_filename(G_TEST_DIST, "specs", "valid-kubevirt-vmi-containerdisk.yaml", NULL);
    g_autofree char *out = NULL, *err = NULL, *phase = NULL;
    g_autoptr(JsonObject) status = NULL;
    int rc;

    if (!ready(f))
        return;
    rc = podvm_test_ctl(f->daemon, &out, &err, "create", "-f", file, NULL);
    g_test_message("podvmctl create: %s%s", out, err);
    g_assert_cmpint(rc, ==, 0);
    phase = podvm_test_daemon_phase(f->daemon, "testvmi-nocloud");
    g_assert_cmpstr(phase, ==, "Pending");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    rc = podvm_test_ctl(f->daemon, &out, &err, "show", "testvmi-nocloud", "-o", "json", NULL);
    g_assert_cmpint(rc, ==, 0);
    g_assert_nonnull(strstr(out, "kubevirt/fedora-cloud-container-disk-demo:latest"));
}

/* KubeVirt v1alpha1's registryDisk: refused, saying to write containerDisk. */
static void
test_registry_disk_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *file = g_build_filename(f->tmp, "v1alpha1.yaml", NULL);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    int rc;

    if (!ready(f))
        return;
    g_file_set_contents(file,
                        "apiVersion: kubevirt.io/v1alpha3\n"
                        "kind: VirtualMachineInstance\n"
                        "metadata:\n  name: old-registrydisk\n"
                        "spec:\n"
                        "  domain:\n"
                        "    resources:\n      requests:\n        memory: 64M\n"
                        "    devices:\n      disks:\n      - name: rootfs\n"
                        "        disk:\n          bus: virtio\n"
                        "  volumes:\n  - name: rootfs\n"
                        "    registryDisk:\n      image: kubevirt/cirros-registry-disk-demo\n",
                        -1, &error);
    g_assert_no_error(error);
    rc = podvm_test_ctl(f->daemon, &out, &err, "create", "-f", file, NULL);
    g_test_message("podvmctl create: %s%s", out, err);
    g_assert_cmpint(rc, !=, 0);
    g_assert_nonnull(strstr(err, "spec.volumes[0].registryDisk"));
    g_assert_nonnull(strstr(err, "write containerDisk"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add("/images/containerdisk/boots-from-registry", Fixture, "registry", fixture_set_up,
               test_boots_from_registry, fixture_tear_down);
    g_test_add("/images/containerdisk/cache-pruned", Fixture, "registry", fixture_set_up,
               test_cache_pruned, fixture_tear_down);
    g_test_add("/images/containerdisk/hotplug-from-registry", Fixture, "registry", fixture_set_up,
               test_hotplug_from_registry, fixture_tear_down);
    g_test_add("/images/containerdisk/unreachable-registry", Fixture, NULL, fixture_set_up,
               test_unreachable_registry, fixture_tear_down);
    g_test_add("/images/containerdisk/founding-vmi-created", Fixture, NULL, fixture_set_up,
               test_founding_vmi_created, fixture_tear_down);
    g_test_add("/images/containerdisk/registrydisk-refused", Fixture, NULL, fixture_set_up,
               test_registry_disk_refused, fixture_tear_down);
    return g_test_run();
}
