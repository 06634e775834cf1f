/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl's storage commands end to end: a real podvmd on a private bus,
 * real QEMU (TCG) booting the test guest, and podvmctl run as a user runs
 * it (create -f YAML, volume create/list/show/delete, attach-disk,
 * detach-disk). The test guest's init reports the block devices it sees
 * (PODVM-DISKS name:bytes[:label]) and reads a disk's first bytes on
 * request (podvm-read typed on the console).
 *
 * Each disk gets a size no other disk of its pod has, so the guest's view
 * can be matched to the spec by size alone.
 */
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 60000
#define GUEST_TIMEOUT_MS 30000
#define CTL_TIMEOUT_MS 120000
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

/* Writes @text to @dir/@name; returns the path. */
static char *
write_file(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
    return path;
}

/* @text as a YAML single-quoted scalar: no escapes but '' for '. */
static char *
yaml_quote(const char *text)
{
    g_auto(GStrv) parts = g_strsplit(text, "'", -1);
    g_autofree char *joined = g_strjoinv("''", parts);

    return g_strconcat("'", joined, "'", NULL);
}

typedef struct {
    gboolean done;
    char *out;
    char *err;
    GError *error;
} CtlRun;

static void
communicate_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CtlRun *run = user_data;

    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), result, &run->out, &run->err,
                                         &run->error);
    run->done = TRUE;
}

static gboolean
ctl_timeout_cb(gpointer user_data)
{
    gboolean *timed_out = user_data;

    *timed_out = TRUE;
    return G_SOURCE_REMOVE;
}

/*
 * podvmctl --session ARGS with @stdin_text (may be NULL) on its stdin,
 * while this process keeps running its main loop: a server in the test
 * (SoupServer) answers podvmd meanwhile. Returns the exit status.
 */
static int ctl_run(Fixture *f, const char *stdin_text, char **out_stdout, char **out_stderr,
                   const char *first_arg, ...) G_GNUC_NULL_TERMINATED;

static int
ctl_run(Fixture *f, const char *stdin_text, char **out_stdout, char **out_stderr,
        const char *first_arg, ...)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocess) process = NULL;
    g_autoptr(GError) error = NULL;
    CtlRun run = { 0 };
    gboolean timed_out = FALSE;
    guint timeout_id;
    const char *arg;
    va_list args;

    g_ptr_array_add(argv, (gpointer)g_getenv("PODVMCTL"));
    g_ptr_array_add(argv, "--session");
    va_start(args, first_arg);
    for (arg = first_arg; arg != NULL; arg = va_arg(args, const char *))
        g_ptr_array_add(argv, (gpointer)arg);
    va_end(args);
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(f->daemon->bus), TRUE);
    process = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);

    timeout_id = g_timeout_add(CTL_TIMEOUT_MS, ctl_timeout_cb, &timed_out);
    g_subprocess_communicate_utf8_async(process, stdin_text != NULL ? stdin_text : "", NULL,
                                        communicate_cb, &run);
    while (!run.done) {
        if (timed_out && timeout_id != 0) {
            /* The source removed itself; a hung podvmctl fails the test, after it is gone. */
            timeout_id = 0;
            g_subprocess_force_exit(process);
        }
        g_main_context_iteration(NULL, TRUE);
    }
    if (!timed_out)
        g_clear_handle_id(&timeout_id, g_source_remove);
    g_assert_no_error(run.error);
    if (timed_out)
        g_test_message("podvmctl %s ... did not finish in %d ms", first_arg, CTL_TIMEOUT_MS);
    g_assert_false(timed_out);
    g_assert_true(g_subprocess_get_if_exited(process));
    g_test_message("podvmctl %s ... -> %d; stdout: %s; stderr: %s", first_arg,
                   g_subprocess_get_exit_status(process), run.out, run.err);
    if (out_stdout != NULL)
        *out_stdout = g_steal_pointer(&run.out);
    if (out_stderr != NULL)
        *out_stderr = g_steal_pointer(&run.err);
    g_free(run.out);
    g_free(run.err);
    return g_subprocess_get_exit_status(process);
}

/* `podvmctl start NAME`, then waits for this boot's ready marker. */
static void
boot_pod(Fixture *f, const char *name)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);
    guint boots = podvm_test_count_in_file(log, "PODVM-GUEST-READY");
    gint64 deadline = g_get_monotonic_time() + BOOT_TIMEOUT_MS * 1000LL;

    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "start", name, NULL), ==, 0);
    /* The log keeps earlier boots: wait for this one's marker. */
    while (podvm_test_count_in_file(log, "PODVM-GUEST-READY") <= boots) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50000);
    }
}

static void
stop_pod(Fixture *f, const char *name)
{
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "stop", name, NULL), ==, 0);
}

/* Waits until the guest reports a disk with the ISO label @label. */
static gboolean
wait_guest_label(Fixture *f, const char *name, const char *label)
{
    g_autofree char *needle = g_strconcat(":", label, NULL);
    gint64 deadline = g_get_monotonic_time() + GUEST_TIMEOUT_MS * 1000LL;

    for (;;) {
        g_autofree char *line = podvm_test_guest_disks(f->daemon, name);

        if (line != NULL && strstr(line, needle) != NULL)
            return TRUE;
        if (g_get_monotonic_time() > deadline) {
            g_test_message("guest disks: %s", line);
            return FALSE;
        }
        g_usleep(100000);
    }
}

static JsonNode *
parse_json(const char *text)
{
    g_autoptr(GError) error = NULL;
    JsonNode *node = json_from_string(text, &error);

    g_assert_no_error(error);
    g_assert_nonnull(node);
    return node;
}

/* Names of the disks in `podvmctl show NAME -o json`, joined with ",". */
static char *
shown_disk_names(Fixture *f, const char *name)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GString) names = g_string_new(NULL);
    JsonObject *spec, *domain, *devices;
    JsonArray *disks;

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "show", name, "-o", "json", NULL), ==, 0);
    root = parse_json(out);
    spec = json_object_get_object_member(json_node_get_object(root), "spec");
    domain = json_object_get_object_member(spec, "domain");
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

/* The disk @disk of `podvmctl show NAME -o json`; asserts it is there. */
static JsonObject *
shown_disk(Fixture *f, const char *name, const char *disk)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonObject *spec, *domain, *devices;
    JsonArray *disks;

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "show", name, "-o", "json", NULL), ==, 0);
    root = parse_json(out);
    spec = json_object_get_object_member(json_node_get_object(root), "spec");
    domain = json_object_get_object_member(spec, "domain");
    devices = json_object_get_object_member(domain, "devices");
    disks = json_object_get_array_member(devices, "disks");
    for (guint i = 0; i < json_array_get_length(disks); i++) {
        JsonObject *object = json_array_get_object_element(disks, i);
        if (g_str_equal(json_object_get_string_member(object, "name"), disk))
            return json_object_ref(object);
    }
    g_assert_not_reached();
}

/* The volume as `podvmctl volume show NAME -o json` has it, or NULL when there is none. */
static JsonObject *
shown_volume(Fixture *f, const char *name)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonNode) root = NULL;

    if (podvm_test_ctl(f->daemon, &out, NULL, "volume", "show", name, "-o", "json", NULL) != 0)
        return NULL;
    root = parse_json(out);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return json_object_ref(json_node_get_object(root));
}

/* `podvmctl volume list -o name`, one name per line. */
static char *
volume_names(Fixture *f)
{
    char *out = NULL;

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "volume", "list", "-o", "name", NULL), ==,
                    0);
    return out;
}

/* The table row of `podvmctl volume list` for @name, split on blanks, or NULL. */
static char **
volume_table_row(Fixture *f, const char *name)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "volume", "list", NULL), ==, 0);
    lines = g_strsplit(out, "\n", -1);
    g_assert_true(g_str_has_prefix(lines[0], "NAME"));
    for (guint i = 1; lines[i] != NULL; i++) {
        g_auto(GStrv) cells = g_strsplit_set(lines[i], " ", -1);
        g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(g_free);

        for (guint c = 0; cells[c] != NULL; c++) {
            if (*cells[c] != '\0')
                g_ptr_array_add(kept, g_strdup(cells[c]));
        }
        if (kept->len > 0 && g_str_equal(g_ptr_array_index(kept, 0), name)) {
            g_ptr_array_add(kept, NULL);
            return (char **)g_ptr_array_free(g_steal_pointer(&kept), FALSE);
        }
    }
    return NULL;
}

/* A spec file for the test guest, with these disks and volumes (JSON arrays as text). */
static char *
write_spec_with_disks(Fixture *f, const char *name, const char *disks, const char *volumes)
{
    g_autofree char *text =
        podvm_test_guest_spec_with(name, NULL, "disks", disks, "volumes", volumes);
    g_autofree char *file = g_strconcat(name, ".json", NULL);

    return write_file(f->daemon->tmpdir, file, text);
}

static gboolean
file_contains(const char *path, const char *needle)
{
    g_autofree char *contents = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &contents, &length, NULL))
        return FALSE;
    return memmem(contents, length, needle, strlen(needle)) != NULL;
}

/* ---- an HTTP server in the test process ------------------------------------ */

typedef struct {
    GBytes *body;
    guint requests;
} Server;

static void
server_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
    Server *s = user_data;

    s->requests++;
    if (strcmp(path, "/disk.img") != 0) {
        soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
        return;
    }
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                     g_bytes_get_data(s->body, NULL), g_bytes_get_size(s->body));
}

/* ---- tests ---------------------------------------------------------------- */

/*
 * A KubeVirt VirtualMachineInstance written in YAML, as people bring it:
 * a cloud-init NoCloud CD-ROM with block-text user data, and an emptyDisk.
 */
static void
test_create_yaml_vmi(Fixture *f, gconstpointer data)
{
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *initrd = podvm_test_guest_initrd();
    g_autofree char *kernel_q = NULL, *initrd_q = NULL, *yaml = NULL, *file = NULL;
    g_autofree char *out = NULL, *err = NULL, *names = NULL, *label = NULL, *dev = NULL;
    g_autofree char *line = NULL, *iso = NULL;

    if (f->daemon == NULL)
        return;
    kernel_q = yaml_quote(kernel);
    initrd_q = yaml_quote(initrd);
    yaml = g_strdup_printf("# A KubeVirt manifest, unchanged but for kernelBoot's host paths.\n"
                           "apiVersion: kubevirt.io/v1\n"
                           "kind: VirtualMachineInstance\n"
                           "metadata:\n"
                           "  name: vmi\n"
                           "  labels:\n"
                           "    app: ctl-storage\n"
                           "spec:\n"
                           "  terminationGracePeriodSeconds: 2\n"
                           "  domain:\n"
                           "    resources:\n"
                           "      requests:\n"
                           "        memory: 128Mi\n"
                           "    cpu:\n"
                           "      cores: 1\n"
                           "    firmware:\n"
                           "      kernelBoot:\n"
                           "        kernelPath: %s\n"
                           "        initrdPath: %s\n"
                           "        kernelArgs: console=ttyS0\n"
                           "    devices:\n"
                           "      disks:\n"
                           "        - name: cloudinitdisk\n"
                           "          cdrom:\n"
                           "            bus: scsi\n"
                           "        - name: scratch\n"
                           "          disk:\n"
                           "            bus: virtio\n"
                           "  volumes:\n"
                           "    - name: cloudinitdisk\n"
                           "      cloudInitNoCloud:\n"
                           "        userData: |\n"
                           "          #cloud-config\n"
                           "          hostname: yaml-vmi\n"
                           "          runcmd:\n"
                           "            - echo from-the-block-text\n"
                           "    - name: scratch\n"
                           "      emptyDisk:\n"
                           "        capacity: 20Mi\n",
                           kernel_q, initrd_q);
    file = write_file(f->daemon->tmpdir, "vmi.yaml", yaml);

    /* Broken YAML, and a volume source podvm lacks: one clear error each, no pod made. */
    {
        g_autofree char *broken = write_file(f->daemon->tmpdir, "broken.yaml",
                                             "apiVersion: kubevirt.io/v1\n"
                                             "kind: VirtualMachineInstance\n"
                                             "metadata: {name: vmi\n");
        g_autofree char *unsupported = NULL;
        g_autofree char *unsupported_yaml = g_strconcat(yaml,
                                                        "    - name: token\n"
                                                        "      serviceAccount:\n"
                                                        "        serviceAccountName: default\n",
                                                        NULL);

        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "create", "-f", broken, NULL), ==, 1);
        g_assert_nonnull(strstr(err, "YAML"));
        g_clear_pointer(&err, g_free);
        unsupported = write_file(f->daemon->tmpdir, "unsupported.yaml", unsupported_yaml);
        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "create", "-f", unsupported, NULL),
                        ==, 1);
        g_assert_nonnull(strstr(err, "spec.volumes[2]"));
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "show", "vmi", NULL), ==, 1);
    }

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "create", "-f", file, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "vmi"));
    boot_pod(f, "vmi");

    /* The guest sees the NoCloud CD-ROM by its label and the emptyDisk by its size. */
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "vmi", 20 * MIB, TRUE));
    g_assert_true(wait_guest_label(f, "vmi", "cidata"));
    line = podvm_test_guest_disks(f->daemon, "vmi");
    g_test_message("%s", line);
    g_assert_nonnull(line);
    g_assert_nonnull(strstr(line, ":cidata"));
    dev = podvm_test_guest_disk_of_size(f->daemon, "vmi", 20 * MIB, &label);
    g_assert_nonnull(dev);
    g_assert_null(label);

    /* The block text reached the ISO with its line breaks. */
    iso = g_build_filename(f->daemon->run_dir, "pods", "vmi", "volumes", "cloudinitdisk.iso", NULL);
    g_assert_true(file_contains(
        iso, "#cloud-config\nhostname: yaml-vmi\nruncmd:\n  - echo from-the-block-text\n"));

    /* show -o json has the disks as the manifest gave them. */
    names = shown_disk_names(f, "vmi");
    g_assert_cmpstr(names, ==, "cloudinitdisk,scratch");
    {
        g_autofree char *shown = NULL;
        g_autoptr(JsonNode) root = NULL;
        JsonObject *spec;
        JsonArray *volumes;

        g_assert_cmpint(podvm_test_ctl(f->daemon, &shown, NULL, "show", "vmi", "-o", "json", NULL),
                        ==, 0);
        root = parse_json(shown);
        spec = json_object_get_object_member(json_node_get_object(root), "spec");
        volumes = json_object_get_array_member(spec, "volumes");
        g_assert_cmpint(json_array_get_length(volumes), ==, 2);
        {
            JsonObject *nocloud = json_object_get_object_member(
                json_array_get_object_element(volumes, 0), "cloudInitNoCloud");
            g_assert_nonnull(nocloud);
            /*
             * User data is a secret: show gives its text to an admin only (Pod.GetSpec;
             * on this session bus everyone is one), and readers its size
             * (test-daemon-bus-policy).
             */
            g_assert_cmpstr(json_object_get_string_member(nocloud, "userData"), ==,
                            "#cloud-config\nhostname: yaml-vmi\nruncmd:\n  - echo "
                            "from-the-block-text\n");
        }
    }
    stop_pod(f, "vmi");
}

/* volume create / list / show / delete, and what they refuse. */
static void
test_volume_commands(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL, *err = NULL, *source = NULL, *outside_dir = NULL;
    g_autofree char *outside = NULL, *before = NULL, *after = NULL;
    g_auto(GStrv) row = NULL;
    g_autoptr(JsonObject) volume = NULL;

    if (f->daemon == NULL)
        return;

    /* A blank volume. */
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, &out, &err, "volume", "create", "data", "--size", "32Mi", NULL),
        ==, 0);
    g_assert_nonnull(strstr(out, "volume data created"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    row = volume_table_row(f, "data");
    g_assert_nonnull(row);
    g_assert_cmpstr(row[1], ==, "32Mi");
    g_assert_cmpstr(row[2], ==, "Ready");
    g_assert_cmpstr(row[3], ==, "-");
    g_clear_pointer(&row, g_strfreev);

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "volume", "list", "-o", "json", NULL), ==,
                    0);
    {
        g_autoptr(JsonNode) root = parse_json(out);
        JsonArray *volumes;
        JsonObject *first;

        g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
        volumes = json_node_get_array(root);
        g_assert_cmpint(json_array_get_length(volumes), ==, 1);
        first = json_array_get_object_element(volumes, 0);
        g_assert_cmpstr(json_object_get_string_member(first, "name"), ==, "data");
        g_assert_cmpstr(json_object_get_string_member(first, "phase"), ==, "Ready");
        g_assert_cmpint(json_object_get_int_member(first, "size"), ==, 32 * MIB);
    }
    g_clear_pointer(&out, g_free);

    /* The same name again: refused, the first volume untouched. */
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, NULL, &err, "volume", "create", "data", "--size", "8Mi", NULL),
        ==, 1);
    g_assert_nonnull(strstr(err, "'data' already exists"));
    g_clear_pointer(&err, g_free);
    volume = shown_volume(f, "data");
    g_assert_cmpint(json_object_get_int_member(volume, "size"), ==, 32 * MIB);
    g_clear_pointer(&volume, json_object_unref);

    /* A name that is no name: a usage error that says the rule; nothing made. */
    before = volume_names(f);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "volume", "create", "Bad_Name", "--size",
                                   "8Mi", NULL),
                    ==, 2);
    g_assert_nonnull(strstr(err, "Bad_Name"));
    g_assert_nonnull(strstr(err, "lowercase"));
    g_clear_pointer(&err, g_free);
    /* A size that is no size, and no size at all. */
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, NULL, &err, "volume", "create", "big", "--size", "lots", NULL),
        ==, 2);
    g_assert_nonnull(strstr(err, "--size"));
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "volume", "create", "big", NULL), ==, 2);
    g_assert_nonnull(strstr(err, "--size"));
    g_clear_pointer(&err, g_free);
    after = volume_names(f);
    g_assert_cmpstr(after, ==, before);
    g_clear_pointer(&after, g_free);

    /* An import from a file in the allowed directory. */
    source = podvm_test_make_raw_image(f->images, "import.img", 24 * MIB, "IMPORTED");
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, &out, &err, "volume", "create", "imp", "--from", source, NULL),
        ==, 0);
    g_assert_nonnull(strstr(out, "volume imp created"));
    g_assert_nonnull(strstr(out, "24Mi"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    volume = shown_volume(f, "imp");
    g_assert_nonnull(volume);
    g_assert_cmpstr(json_object_get_string_member(volume, "phase"), ==, "Ready");
    g_assert_cmpint(json_object_get_int_member(volume, "size"), ==, 24 * MIB);
    g_clear_pointer(&volume, json_object_unref);
    /* The text form names the fields as -o json does. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "volume", "show", "imp", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "phase:"));
    g_assert_nonnull(strstr(out, "Ready"));
    g_assert_nonnull(strstr(out, "24Mi"));
    g_clear_pointer(&out, g_free);

    /* A file outside the allowed directories: refused, nothing created. */
    g_clear_pointer(&before, g_free);
    before = volume_names(f);
    outside_dir = podvm_test_mkdtemp();
    outside = podvm_test_make_raw_image(outside_dir, "secret.img", 1 * MIB, "SECRET");
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, NULL, &err, "volume", "create", "leak", "--from", outside, NULL),
        ==, 1);
    g_assert_nonnull(strstr(err, outside));
    g_assert_nonnull(strstr(err, "allowed"));
    g_clear_pointer(&err, g_free);
    after = volume_names(f);
    g_assert_cmpstr(after, ==, before);
    g_clear_pointer(&after, g_free);
    podvm_test_rmrf(outside_dir);

    /* An unknown volume: show and delete say so. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "volume", "show", "nope", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "nope"));
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "volume", "delete", "nope", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "nope"));
    g_clear_pointer(&err, g_free);

    /* delete removes it from the list. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "volume", "delete", "imp", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "volume imp deleted"));
    g_clear_pointer(&out, g_free);
    after = volume_names(f);
    g_assert_cmpstr(after, ==, "data\n");
}

/* volume create --from http://... with and without the right --sha256. */
static void
test_volume_http_import(Fixture *f, gconstpointer data)
{
    g_autoptr(SoupServer) server = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *url = NULL, *digest = NULL, *out = NULL, *err = NULL, *names = NULL;
    g_autoptr(JsonObject) volume = NULL;
    const char *wrong = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    Server s = { 0 };
    GSList *uris;

    if (f->daemon == NULL)
        return;
    {
        /* 2 MiB, "WEBDISK" first, then a pattern, so a wrong byte changes the digest. */
        gsize size = 2 * MIB;
        guint8 *bytes = g_malloc(size);

        for (gsize i = 0; i < size; i++)
            bytes[i] = (guint8)(i * 7 + i / 4096);
        memcpy(bytes, "WEBDISK", 7);
        memset(bytes + 7, 0, 25);
        s.body = g_bytes_new_take(bytes, size);
    }
    digest = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, s.body);
    server = soup_server_new(NULL, NULL);
    soup_server_add_handler(server, NULL, server_cb, &s, NULL);
    soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
    g_assert_no_error(error);
    uris = soup_server_get_uris(server);
    g_assert_nonnull(uris);
    url = g_strdup_printf("http://127.0.0.1:%d/disk.img", g_uri_get_port(uris->data));
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

    /* The right digest (in capitals, as some sites print it): Ready. */
    {
        g_autofree char *upper = g_ascii_strup(digest, -1);
        g_assert_cmpint(ctl_run(f, NULL, &out, &err, "volume", "create", "web", "--from", url,
                                "--sha256", upper, NULL),
                        ==, 0);
    }
    g_assert_nonnull(strstr(out, "volume web created"));
    g_assert_cmpuint(s.requests, >=, 1);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    volume = shown_volume(f, "web");
    g_assert_nonnull(volume);
    g_assert_cmpstr(json_object_get_string_member(volume, "phase"), ==, "Ready");
    g_assert_cmpint(json_object_get_int_member(volume, "size"), ==, 2 * MIB);
    g_assert_cmpstr(json_object_get_string_member(volume, "source"), ==, url);
    g_clear_pointer(&volume, json_object_unref);

    /* A wrong digest: exit 1 naming the mismatch; the volume is Failed or absent. */
    g_assert_cmpint(ctl_run(f, NULL, &out, &err, "volume", "create", "bad-sum", "--from", url,
                            "--sha256", wrong, NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "checksum"));
    g_assert_nonnull(strstr(err, digest));
    g_assert_null(strstr(out, "created"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    volume = shown_volume(f, "bad-sum");
    if (volume != NULL) {
        g_assert_cmpstr(json_object_get_string_member(volume, "phase"), ==, "Failed");
        g_assert_nonnull(strstr(json_object_get_string_member(volume, "message"), "checksum"));
    }

    /* A digest that is not one: refused before anything is fetched. */
    {
        guint requests = s.requests;
        g_assert_cmpint(ctl_run(f, NULL, NULL, &err, "volume", "create", "short", "--from", url,
                                "--sha256", "abc123", NULL),
                        ==, 2);
        g_assert_nonnull(strstr(err, "SHA-256"));
        g_clear_pointer(&err, g_free);
        g_assert_cmpuint(s.requests, ==, requests);
    }
    names = volume_names(f);
    g_assert_true(g_str_equal(names, "bad-sum\nweb\n") || g_str_equal(names, "web\n"));

    soup_server_disconnect(server);
    g_bytes_unref(s.body);
}

/* attach-disk and detach-disk on one running pod, with flags and with a YAML file. */
static void
test_attach_detach(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *image = NULL, *out = NULL, *err = NULL, *names = NULL;
    g_autofree char *dev = NULL, *read = NULL, *attachment = NULL, *cd = NULL;
    g_auto(GStrv) row = NULL;

    if (f->daemon == NULL)
        return;
    spec = write_spec_with_disks(f, "hp", "[]", "[]");
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "create", "-f", spec, NULL), ==, 0);
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, NULL, NULL, "volume", "create", "data", "--size", "32Mi", NULL),
        ==, 0);
    image = podvm_test_make_raw_image(f->images, "hot.img", 20 * MIB, "HOTDATA");
    boot_pod(f, "hp");

    /* A host image, with flags; relative to podvmctl's directory is fine too. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "attach-disk", "hp", "--name", "hot",
                                   "--host-path", image, NULL),
                    ==, 0);
    g_assert_nonnull(strstr(out, "disk hot attached to hp"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 20 * MIB, TRUE));
    dev = podvm_test_guest_disk_of_size(f->daemon, "hp", 20 * MIB, NULL);
    read = podvm_test_guest_read(f->daemon, "hp", dev);
    g_assert_cmpstr(read, ==, "HOTDATA");
    g_clear_pointer(&read, g_free);

    /* A pool volume on SCSI. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "attach-disk", "hp", "--name", "c",
                                   "--claim", "data", "--bus", "scsi", NULL),
                    ==, 0);
    g_assert_nonnull(strstr(out, "disk c attached to hp"));
    g_clear_pointer(&out, g_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 32 * MIB, TRUE));
    names = shown_disk_names(f, "hp");
    g_assert_cmpstr(names, ==, "hot,c");
    g_clear_pointer(&names, g_free);
    row = volume_table_row(f, "data");
    g_assert_nonnull(row);
    g_assert_cmpstr(row[3], ==, "hp");
    g_clear_pointer(&row, g_strfreev);

    /* In use: it cannot be deleted, and says by whom. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "volume", "delete", "data", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "used by pod"));
    g_assert_nonnull(strstr(err, "hp"));
    g_clear_pointer(&err, g_free);
    {
        g_autoptr(JsonObject) volume = shown_volume(f, "data");
        g_assert_nonnull(volume);
        g_assert_cmpstr(json_object_get_string_member(volume, "phase"), ==, "Ready");
    }

    /* Detached: the guest lets it go, and then it can be deleted. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "detach-disk", "hp", "c", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "disk c detached from hp"));
    g_clear_pointer(&out, g_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 32 * MIB, FALSE));
    names = shown_disk_names(f, "hp");
    g_assert_cmpstr(names, ==, "hot");
    g_clear_pointer(&names, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "volume", "delete", "data", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "volume data deleted"));
    g_clear_pointer(&out, g_free);

    /* The attachment as a YAML file. */
    attachment = write_file(f->daemon->tmpdir, "disk.yaml",
                            "# podvmctl attach-disk hp -f disk.yaml\n"
                            "disk:\n"
                            "  name: yml\n"
                            "  serial: YAMLDISK\n"
                            "  disk:\n"
                            "    bus: virtio\n"
                            "volume:\n"
                            "  name: yml\n"
                            "  emptyDisk:\n"
                            "    capacity: 12Mi\n");
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, &out, &err, "attach-disk", "hp", "-f", attachment, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "disk yml attached to hp"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 12 * MIB, TRUE));

    /* The same form as JSON on stdin (-f -). */
    g_assert_cmpint(ctl_run(f,
                            "{\"disk\": {\"name\": \"piped\"},"
                            " \"volume\": {\"name\": \"piped\", \"emptyDisk\": {\"capacity\": "
                            "\"6Mi\"}}}",
                            &out, NULL, "attach-disk", "hp", "-f", "-", NULL),
                    ==, 0);
    g_assert_nonnull(strstr(out, "disk piped attached to hp"));
    g_clear_pointer(&out, g_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 6 * MIB, TRUE));
    names = shown_disk_names(f, "hp");
    g_assert_cmpstr(names, ==, "hot,yml,piped");
    g_clear_pointer(&names, g_free);

    /* SATA cannot be hotplugged: said so, and the pod is as it was. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "attach-disk", "hp", "--name", "s",
                                   "--empty-disk", "4Mi", "--bus", "sata", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "SATA"));
    g_assert_null(strstr(out, "attached"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    names = shown_disk_names(f, "hp");
    g_assert_cmpstr(names, ==, "hot,yml,piped");
    g_clear_pointer(&names, g_free);

    /* A read-only CD-ROM (on scsi without --bus: hotpluggable) with a serial: the flags land in the
     * pod's spec. */
    cd = podvm_test_make_raw_image(f->images, "cd.img", 10 * MIB, "CDDATA");
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "attach-disk", "hp", "--name", "cd",
                                   "--host-path", cd, "--cdrom", "--readonly", "--serial", "CD0001",
                                   NULL),
                    ==, 0);
    g_assert_nonnull(strstr(out, "disk cd attached to hp"));
    g_clear_pointer(&out, g_free);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 10 * MIB, TRUE));
    g_clear_pointer(&dev, g_free);
    dev = podvm_test_guest_disk_of_size(f->daemon, "hp", 10 * MIB, NULL);
    g_assert_true(g_str_has_prefix(dev, "sr"));
    read = podvm_test_guest_read(f->daemon, "hp", dev);
    g_assert_cmpstr(read, ==, "CDDATA");
    g_clear_pointer(&read, g_free);
    {
        g_autoptr(JsonObject) disk = shown_disk(f, "hp", "cd");
        JsonObject *cdrom = json_object_get_object_member(disk, "cdrom");

        g_assert_nonnull(cdrom);
        g_assert_cmpstr(json_object_get_string_member(cdrom, "bus"), ==, "scsi");
        g_assert_true(json_object_get_boolean_member(cdrom, "readonly"));
        g_assert_cmpstr(json_object_get_string_member(disk, "serial"), ==, "CD0001");
    }
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "detach-disk", "hp", "cd", NULL), ==, 0);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 10 * MIB, FALSE));

    /* Flags the client can check alone: usage errors (2), nothing sent. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "attach-disk", "hp", "--name", "u",
                                   "--empty-disk", "4Mi", "--bus", "ide", NULL),
                    ==, 2);
    g_assert_nonnull(strstr(err, "ide"));
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "attach-disk", "hp", "--name", "u",
                                   "--empty-disk", "4Mi", "--claim", "data", NULL),
                    ==, 2);
    g_assert_nonnull(strstr(err, "exclude"));
    g_clear_pointer(&err, g_free);

    /* No such disk. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "detach-disk", "hp", "nope", NULL), ==,
                    1);
    g_assert_nonnull(strstr(err, "no disk"));
    g_assert_nonnull(strstr(err, "nope"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* The host image goes back to the user unchanged. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "detach-disk", "hp", "hot", NULL), ==, 0);
    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "hp", 20 * MIB, FALSE));
    g_assert_true(file_contains(image, "HOTDATA"));
    names = shown_disk_names(f, "hp");
    g_assert_cmpstr(names, ==, "yml,piped");
    stop_pod(f, "hp");
}

/* A volume imported with podvmctl, used as a dataVolume: the guest reads its data. */
static void
test_data_volume(Fixture *f, gconstpointer data)
{
    g_autofree char *source = NULL, *spec = NULL, *out = NULL, *dev = NULL, *read = NULL;
    g_auto(GStrv) row = NULL;

    if (f->daemon == NULL)
        return;
    source = podvm_test_make_raw_image(f->images, "dv-source.img", 28 * MIB, "IMPORTED");
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, &out, NULL, "volume", "create", "dv", "--from", source, NULL), ==,
        0);
    g_assert_nonnull(strstr(out, "volume dv created"));
    spec = write_spec_with_disks(f, "dvpod", "[{\"name\": \"imported\", \"disk\": {}}]",
                                 "[{\"name\": \"imported\", \"dataVolume\": {\"name\": \"dv\"}}]");
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "create", "-f", spec, NULL), ==, 0);
    boot_pod(f, "dvpod");

    g_assert_true(podvm_test_wait_guest_disk(f->daemon, "dvpod", 28 * MIB, TRUE));
    dev = podvm_test_guest_disk_of_size(f->daemon, "dvpod", 28 * MIB, NULL);
    g_assert_nonnull(dev);
    read = podvm_test_guest_read(f->daemon, "dvpod", dev);
    g_assert_cmpstr(read, ==, "IMPORTED");
    row = volume_table_row(f, "dv");
    g_assert_nonnull(row);
    g_assert_cmpstr(row[3], ==, "dvpod");
    stop_pod(f, "dvpod");
    /* The source file is the user's: importing copied it. */
    g_assert_true(file_contains(source, "IMPORTED"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, func) \
    g_test_add("/daemon/ctl-storage/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
    ADD("create-yaml-vmi", test_create_yaml_vmi);
    ADD("volume-commands", test_volume_commands);
    ADD("volume-http-import", test_volume_http_import);
    ADD("attach-detach", test_attach_detach);
    ADD("data-volume", test_data_volume);
#undef ADD
    return g_test_run();
}
