/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-quantity.h"
#include "podvm-spec.h"
#include "podvm-yaml.h"

#define MiB (G_GUINT64_CONSTANT(1024) * 1024)
#define GiB (MiB * 1024)

/* ------------------------------------------------------------------------ */
/* Helpers */

/* JSON written with single quotes, so the tables below stay readable. */
static char *
q(const char *text)
{
    char *json = g_strdup(text);

    g_strdelimit(json, "'", '"');
    return json;
}

/* A native pod named "p" that boots a kernel, with @domain and @spec members added. */
static char *
pod(const char *domain_members, const char *spec_members)
{
    g_autofree char *text = g_strdup_printf(
        "{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': {'name': 'p'}, "
        "'spec': {'domain': {'firmware': {'kernelBoot': {'kernelPath': '/k'}}%s%s}%s%s}}",
        *domain_members != '\0' ? ", " : "", domain_members, *spec_members != '\0' ? ", " : "",
        spec_members);
    return q(text);
}

static char *
spec_file_contents(const char *name)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "specs", name, NULL);
    g_autoptr(GError) error = NULL;
    char *contents = NULL;

    g_file_get_contents(path, &contents, NULL, &error);
    g_assert_no_error(error);
    return contents;
}

static char *
example_contents(const char *name)
{
    g_autofree char *path =
        g_test_build_filename(G_TEST_DIST, "..", "data", "examples", name, NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *contents = NULL;
    g_auto(GStrv) parts = NULL;

    g_file_get_contents(path, &contents, NULL, &error);
    g_assert_no_error(error);
    /* What the demo script does. */
    parts = g_strsplit(contents, "@GUEST_DIR@", -1);
    return g_strjoinv("/var/lib/podvm/guest", parts);
}

static PodvmSpec *
parse_ok(const char *json)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    PodvmSpec *spec = podvm_spec_parse_data(json, -1, &problems, &error);

    if (error != NULL)
        g_test_message("unexpected problems:\n%s\nin: %s", error->message, json);
    g_assert_no_error(error);
    g_assert_nonnull(spec);
    g_assert_null(problems);
    return spec;
}

/* Parses @json, which must fail; returns the problems. */
static GPtrArray *
parse_fail(const char *json)
{
    g_autoptr(GError) error = NULL;
    GPtrArray *problems = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(json, -1, &problems, &error);
    g_autoptr(GString) joined = g_string_new(NULL);
    guint i;

    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_nonnull(problems);
    g_assert_cmpuint(problems->len, >, 0);

    /* The message is every problem as "PATH: MESSAGE", one per line. */
    for (i = 0; i < problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);

        if (i > 0)
            g_string_append_c(joined, '\n');
        if (*problem->path != '\0')
            g_string_append_printf(joined, "%s: ", problem->path);
        g_string_append(joined, problem->message);
    }
    g_assert_cmpstr(error->message, ==, joined->str);
    g_test_message("%s", error->message);
    return problems;
}

static const PodvmSpecProblem *
find_problem(GPtrArray *problems, const char *path, const char *needle)
{
    guint i;

    for (i = 0; i < problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);

        if (g_strcmp0(problem->path, path) == 0 && strstr(problem->message, needle) != NULL)
            return problem;
    }
    return NULL;
}

static void
assert_problem(GPtrArray *problems, const char *path, const char *needle)
{
    if (find_problem(problems, path, needle) == NULL) {
        guint i;

        for (i = 0; i < problems->len; i++) {
            const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);
            g_test_message("have %s: %s", problem->path, problem->message);
        }
        g_error("no problem at %s saying \"%s\"", path, needle);
    }
}

/* Exactly one problem, at @path, containing @needle. */
static void
assert_only_problem(const char *json, const char *path, const char *needle)
{
    g_autoptr(GPtrArray) problems = parse_fail(json);

    assert_problem(problems, path, needle);
    g_assert_cmpuint(problems->len, ==, 1);
}

static gboolean
maps_equal(GHashTable *a, GHashTable *b)
{
    GHashTableIter iter;
    gpointer key, value;

    if (g_hash_table_size(a) != g_hash_table_size(b))
        return FALSE;
    g_hash_table_iter_init(&iter, a);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (g_strcmp0(value, g_hash_table_lookup(b, key)) != 0 || !g_hash_table_contains(b, key))
            return FALSE;
    }
    return TRUE;
}

static gboolean
strv_equal_or_null(GStrv a, GStrv b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return g_strv_equal((const char *const *)a, (const char *const *)b);
}

static void
assert_disk_equal(const PodvmSpecDisk *x, const PodvmSpecDisk *y)
{
    g_assert_cmpstr(x->name, ==, y->name);
    g_assert_cmpint(x->kind, ==, y->kind);
    g_assert_cmpint(x->bus, ==, y->bus);
    g_assert_cmpint(x->readonly, ==, y->readonly);
    g_assert_cmpuint(x->boot_order, ==, y->boot_order);
    g_assert_cmpstr(x->serial, ==, y->serial);
    g_assert_cmpint(x->cache, ==, y->cache);
}

static void
assert_volume_equal(const PodvmSpecVolume *x, const PodvmSpecVolume *y)
{
    g_assert_cmpstr(x->name, ==, y->name);
    g_assert_cmpint(x->source, ==, y->source);
    g_assert_cmpstr(x->path, ==, y->path);
    g_assert_cmpint(x->create, ==, y->create);
    g_assert_cmpuint(x->capacity, ==, y->capacity);
    g_assert_cmpstr(x->claim_name, ==, y->claim_name);
    g_assert_cmpint(x->readonly, ==, y->readonly);
    g_assert_cmpstr(x->image, ==, y->image);
    g_assert_cmpstr(x->image_path, ==, y->image_path);
    g_assert_cmpstr(x->user_data, ==, y->user_data);
    g_assert_cmpstr(x->meta_data, ==, y->meta_data);
    g_assert_cmpstr(x->network_data, ==, y->network_data);
    g_assert_cmpint(x->user_data_was_base64, ==, y->user_data_was_base64);
}

/* Field by field, leaving out source_kind and start_on_create (not in the native form). */
static void
assert_spec_equal(const PodvmSpec *a, const PodvmSpec *b)
{
    guint i, j;

    g_assert_cmpstr(a->name, ==, b->name);
    g_assert_cmpstr(a->uid, ==, b->uid);
    g_assert_true(maps_equal(a->labels, b->labels));
    g_assert_true(maps_equal(a->annotations, b->annotations));
    g_assert_cmpuint(a->memory, ==, b->memory);
    g_assert_cmpuint(a->cpu_cores, ==, b->cpu_cores);
    g_assert_cmpuint(a->cpu_sockets, ==, b->cpu_sockets);
    g_assert_cmpuint(a->cpu_threads, ==, b->cpu_threads);
    g_assert_cmpstr(a->cpu_model, ==, b->cpu_model);
    g_assert_cmpstr(a->machine_type, ==, b->machine_type);
    g_assert_cmpstr(a->kernel_path, ==, b->kernel_path);
    g_assert_cmpstr(a->initrd_path, ==, b->initrd_path);
    g_assert_cmpstr(a->kernel_args, ==, b->kernel_args);
    g_assert_cmpstr(a->firmware_uuid, ==, b->firmware_uuid);
    g_assert_cmpstr(a->firmware_serial, ==, b->firmware_serial);
    g_assert_cmpint(a->autoattach_serial_console, ==, b->autoattach_serial_console);
    g_assert_cmpint(a->rng, ==, b->rng);
    g_assert_cmpint(a->termination_grace_period_seconds, ==, b->termination_grace_period_seconds);
    g_assert_cmpint(a->restart_policy, ==, b->restart_policy);
    g_assert_cmpstr(a->hostname, ==, b->hostname);
    g_assert_cmpint(a->eviction_strategy, ==, b->eviction_strategy);

    g_assert_cmpuint(a->disks->len, ==, b->disks->len);
    for (i = 0; i < a->disks->len; i++)
        assert_disk_equal(g_ptr_array_index(a->disks, i), g_ptr_array_index(b->disks, i));
    g_assert_cmpuint(a->volumes->len, ==, b->volumes->len);
    for (i = 0; i < a->volumes->len; i++)
        assert_volume_equal(g_ptr_array_index(a->volumes, i), g_ptr_array_index(b->volumes, i));

    g_assert_cmpuint(a->apps->len, ==, b->apps->len);
    for (i = 0; i < a->apps->len; i++) {
        const PodvmSpecApp *x = g_ptr_array_index(a->apps, i);
        const PodvmSpecApp *y = g_ptr_array_index(b->apps, i);

        g_assert_cmpstr(x->name, ==, y->name);
        g_assert_cmpstr(x->image, ==, y->image);
        g_assert_true(strv_equal_or_null(x->command, y->command));
        g_assert_true(strv_equal_or_null(x->args, y->args));
        g_assert_cmpstr(x->working_dir, ==, y->working_dir);
        g_assert_cmpuint(x->memory, ==, y->memory);
        g_assert_cmpuint(x->millicpus, ==, y->millicpus);
        g_assert_cmpuint(x->env->len, ==, y->env->len);
        for (j = 0; j < x->env->len; j++) {
            const PodvmSpecEnvVar *v = g_ptr_array_index(x->env, j);
            const PodvmSpecEnvVar *w = g_ptr_array_index(y->env, j);

            g_assert_cmpstr(v->name, ==, w->name);
            g_assert_cmpstr(v->value, ==, w->value);
        }
    }
}

static char *
spec_to_string(const PodvmSpec *spec)
{
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);

    return json_to_string(node, FALSE);
}

/* parse(to_json(spec)) equals spec, and writing it again gives the same text. */
static void
assert_round_trip(const PodvmSpec *spec)
{
    g_autofree char *text = spec_to_string(spec);
    g_autoptr(PodvmSpec) again = parse_ok(text);
    g_autofree char *text_again = spec_to_string(again);
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    g_autoptr(PodvmSpec) from_node = podvm_spec_parse_node(node, NULL, NULL);

    assert_spec_equal(spec, again);
    g_assert_cmpstr(text, ==, text_again);
    g_assert_cmpstr(again->source_kind, ==, "Pod");
    g_assert_nonnull(from_node);
    assert_spec_equal(spec, from_node);
}

/* ------------------------------------------------------------------------ */
/* Valid documents */

static void
test_minimal_defaults(void)
{
    g_autofree char *json = spec_file_contents("valid-minimal.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_cmpstr(spec->name, ==, "minimal");
    g_assert_null(spec->uid);
    g_assert_cmpuint(g_hash_table_size(spec->labels), ==, 0);
    g_assert_cmpuint(g_hash_table_size(spec->annotations), ==, 0);
    g_assert_cmpstr(spec->source_kind, ==, "Pod");
    g_assert_false(spec->start_on_create);
    g_assert_cmpuint(spec->memory, ==, 0);
    g_assert_cmpuint(spec->cpu_cores, ==, 0);
    g_assert_null(spec->cpu_model);
    g_assert_cmpstr(spec->machine_type, ==, "q35");
    g_assert_cmpstr(spec->kernel_path, ==, "/boot/vmlinuz");
    g_assert_null(spec->initrd_path);
    g_assert_null(spec->kernel_args);
    g_assert_true(spec->autoattach_serial_console);
    g_assert_false(spec->rng);
    g_assert_cmpuint(spec->apps->len, ==, 0);
    g_assert_cmpint(spec->termination_grace_period_seconds, ==, 30);
    g_assert_cmpint(spec->restart_policy, ==, PODVM_RESTART_NEVER);
    g_assert_null(spec->hostname);
    assert_round_trip(spec);
}

static void
test_full(void)
{
    g_autofree char *json = spec_file_contents("valid-full.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    const PodvmSpecApp *app;
    const PodvmSpecEnvVar *var;

    g_assert_cmpstr(spec->name, ==, "web-1");
    g_assert_cmpstr(spec->uid, ==, "5f2e9a2c-6a5b-4b1e-9f0e-3c2d1b0a9f8e");
    g_assert_cmpuint(g_hash_table_size(spec->labels), ==, 3);
    g_assert_cmpstr(g_hash_table_lookup(spec->labels, "example.com/owner"), ==, "team-a");
    g_assert_cmpstr(g_hash_table_lookup(spec->annotations, "empty"), ==, "");
    g_assert_cmpuint(spec->memory, ==, GiB);
    g_assert_cmpuint(spec->cpu_cores, ==, 2);
    g_assert_cmpuint(spec->cpu_sockets, ==, 1);
    g_assert_cmpuint(spec->cpu_threads, ==, 2);
    g_assert_cmpstr(spec->cpu_model, ==, "host-model");
    g_assert_cmpstr(spec->machine_type, ==, "pc-q35-7.2");
    g_assert_cmpstr(spec->kernel_path, ==, "guest/vmlinuz");
    g_assert_cmpstr(spec->initrd_path, ==, "/srv/guest/initrd, with a comma.img");
    g_assert_cmpstr(spec->kernel_args, ==, "console=ttyS0 root=/dev/vda quiet\tpanic=1");
    g_assert_cmpstr(spec->firmware_uuid, ==, "0e6a4ad1-47e3-4c33-9d3c-7f8d2a0f5b11");
    g_assert_cmpstr(spec->firmware_serial, ==, "SN 12,34 \"x\"");
    g_assert_false(spec->autoattach_serial_console);
    g_assert_true(spec->rng);
    g_assert_cmpint(spec->termination_grace_period_seconds, ==, 60);
    g_assert_cmpint(spec->restart_policy, ==, PODVM_RESTART_ON_FAILURE);
    g_assert_cmpstr(spec->hostname, ==, "web-1");

    g_assert_cmpuint(spec->apps->len, ==, 2);
    app = g_ptr_array_index(spec->apps, 0);
    g_assert_cmpstr(app->name, ==, "nginx");
    g_assert_cmpstr(app->image, ==, "docker://nginx:1.25");
    g_assert_cmpstrv(app->command, ((const char *const[]){ "/usr/sbin/nginx", NULL }));
    g_assert_cmpstrv(app->args, ((const char *const[]){ "-g", "daemon off;", NULL }));
    g_assert_cmpuint(app->env->len, ==, 2);
    var = g_ptr_array_index(app->env, 0);
    g_assert_cmpstr(var->name, ==, "A");
    g_assert_cmpstr(var->value, ==, "1");
    var = g_ptr_array_index(app->env, 1);
    g_assert_cmpstr(var->name, ==, "EMPTY");
    g_assert_cmpstr(var->value, ==, "");
    g_assert_cmpstr(app->working_dir, ==, "/srv");
    g_assert_cmpuint(app->memory, ==, 256 * MiB);
    g_assert_cmpuint(app->millicpus, ==, 500);
    app = g_ptr_array_index(spec->apps, 1);
    g_assert_cmpstr(app->image, ==, "oci:/var/lib/images/sidecar:latest");
    g_assert_nonnull(app->command);
    g_assert_null(app->command[0]);
    g_assert_null(app->args);
    g_assert_null(app->working_dir);
    g_assert_cmpuint(app->memory, ==, 256 * MiB);
    g_assert_cmpuint(app->millicpus, ==, 1500);

    assert_round_trip(spec);
}

static void
test_to_json_form(void)
{
    g_autofree char *json = spec_file_contents("valid-full.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    JsonObject *root = json_node_get_object(node);
    JsonObject *spec_object = json_object_get_object_member(root, "spec");
    JsonObject *domain = json_object_get_object_member(spec_object, "domain");
    JsonArray *apps = json_object_get_array_member(spec_object, "apps");
    JsonObject *app0 = json_array_get_object_element(apps, 0);
    JsonObject *app1 = json_array_get_object_element(apps, 1);
    g_autoptr(PodvmSpec) minimal = parse_ok("{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", "
                                            "\"metadata\": {\"name\": \"m\"}, \"spec\": "
                                            "{\"domain\": {\"firmware\": {\"kernelBoot\": "
                                            "{\"kernelPath\": \"/k\"}}}}}");
    g_autofree char *minimal_text = spec_to_string(minimal);

    g_assert_cmpstr(json_object_get_string_member(root, "apiVersion"), ==, "podvm.io/v1");
    g_assert_cmpstr(json_object_get_string_member(root, "kind"), ==, "Pod");
    g_assert_false(json_object_has_member(root, "status"));
    g_assert_cmpstr(json_object_get_string_member(
                        json_object_get_object_member(
                            json_object_get_object_member(domain, "resources"), "requests"),
                        "memory"),
                    ==, "1Gi");
    g_assert_cmpstr(json_object_get_string_member(app0, "cpus"), ==, "500m");
    g_assert_cmpstr(json_object_get_string_member(app0, "memory"), ==, "256Mi");
    g_assert_cmpstr(json_object_get_string_member(app1, "cpus"), ==, "1500m");

    /* Only what was given, plus defaults that mean something. */
    g_assert_cmpstr(minimal_text, ==,
                    "{\"apiVersion\":\"podvm.io/v1\",\"kind\":\"Pod\","
                    "\"metadata\":{\"name\":\"m\"},"
                    "\"spec\":{\"domain\":{\"machine\":{\"type\":\"q35\"},\"firmware\":"
                    "{\"kernelBoot\":{\"kernelPath\":\"/k\"}},\"devices\":"
                    "{\"autoattachSerialConsole\":true}},\"terminationGracePeriodSeconds\":30,"
                    "\"restartPolicy\":\"Never\"}}");
}

static void
test_round_trip_files(void)
{
    static const char *const files[] = {
        "valid-minimal.json",
        "valid-full.json",
        "valid-kubevirt-vm.json",
        "valid-kubevirt-v1alpha3.json",
        "valid-kubevirt-vmi-disks.json",
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *json = spec_file_contents(files[i]);
        g_autoptr(PodvmSpec) spec = NULL;

        g_test_message("%s", files[i]);
        spec = parse_ok(json);
        assert_round_trip(spec);
    }
}

/* KubeVirt's own VMI with a containerDisk from Docker Hub and cloud-init, as written. */
static void
test_file_containerdisk_registry(void)
{
    g_autofree char *yaml = spec_file_contents("valid-kubevirt-vmi-containerdisk.yaml");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = podvm_yaml_to_json(yaml, -1, &error);
    g_autoptr(PodvmSpec) spec = NULL;
    const PodvmSpecVolume *volume;

    g_assert_no_error(error);
    spec = podvm_spec_parse_node(root, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(spec->name, ==, "testvmi-nocloud");
    g_assert_cmpuint(spec->volumes->len, ==, 3);
    volume = podvm_spec_find_volume(spec, "containerdisk");
    g_assert_nonnull(volume);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_CONTAINER_DISK);
    g_assert_cmpstr(volume->image, ==, "kubevirt/fedora-cloud-container-disk-demo:latest");
    g_assert_null(volume->image_pull_policy);
    assert_round_trip(spec);
}

static void
test_round_trip_inline(void)
{
    static const char *const docs[][2] = {
        { "'memory': {'guest': '1536'}", "" },
        { "'resources': {'limits': {'memory': '1G'}}", "" },
        { "'cpu': {'threads': 2}", "'restartPolicy': 'Always'" },
        { "'devices': {'rng': {}, 'autoattachSerialConsole': true}", "'hostname': 'h-1'" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'cpus': 2, 'args': []}]" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'cpus': '0.25', 'memory': '1e9'}]" },
        { "", "'terminationGracePeriodSeconds': 0" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(docs); i++) {
        g_autofree char *json = pod(docs[i][0], docs[i][1]);
        g_autoptr(PodvmSpec) spec = parse_ok(json);

        assert_round_trip(spec);
    }
}

static void
test_status_ignored(void)
{
    g_autofree char *json = spec_file_contents("valid-minimal.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    g_autoptr(JsonNode) status = json_from_string("{\"phase\": \"Running\", \"conditions\": "
                                                  "[{\"type\": \"Ready\"}], \"qemuPid\": 42}",
                                                  NULL);
    g_autoptr(PodvmSpec) again = NULL;
    g_autofree char *text = NULL;

    /* What "podvmctl show -o json" prints can be fed back. */
    json_object_set_member(json_node_get_object(node), "status", g_steal_pointer(&status));
    text = json_to_string(node, TRUE);
    again = parse_ok(text);
    assert_spec_equal(spec, again);
}

static void
test_null_is_absent(void)
{
    g_autofree char *json = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', "
                              "'metadata': {'name': 'n', 'creationTimestamp': null, "
                              "'labels': null, 'uid': null}, "
                              "'spec': {'domain': {'firmware': {'kernelBoot': {'kernelPath': "
                              "'/k', 'initrdPath': null}}, 'cpu': null}, 'hostname': null, "
                              "'volumes': null, 'evictionStrategy': null}}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_null(spec->uid);
    g_assert_null(spec->initrd_path);
    g_assert_null(spec->hostname);
}

static void
test_empty_not_supported_ok(void)
{
    g_autofree char *json = pod("'devices': {'disks': [], 'interfaces': [], "
                                "'autoattachGraphicsDevice': false, 'autoattachPodInterface': "
                                "false}, 'cpu': {'dedicatedCpuPlacement': false}, "
                                "'memory': {'hugepages': {}}",
                                "'volumes': [], 'networks': [], 'livenessProbe': {}, "
                                "'nodeSelector': {}, 'tolerations': []");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_nonnull(spec);
}

/* ------------------------------------------------------------------------ */
/* KubeVirt */

static void
test_kubevirt_vmi_example(void)
{
    g_autofree char *json = example_contents("kubevirt-vmi.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_cmpstr(spec->source_kind, ==, "VirtualMachineInstance");
    g_assert_cmpstr(spec->name, ==, "testvmi-kernel-boot");
    g_assert_cmpstr(g_hash_table_lookup(spec->labels, "special"), ==, "vmi-kernel-boot");
    g_assert_cmpuint(spec->memory, ==, 128 * MiB);
    g_assert_cmpuint(spec->cpu_cores, ==, 1);
    g_assert_cmpstr(spec->kernel_path, ==, "/var/lib/podvm/guest/vmlinuz");
    g_assert_cmpstr(spec->initrd_path, ==, "/var/lib/podvm/guest/initrd.img");
    g_assert_cmpstr(spec->kernel_args, ==, "console=ttyS0");
    g_assert_cmpstr(spec->firmware_serial, ==, "podvm-example-0001");
    g_assert_true(spec->rng);
    g_assert_cmpint(spec->termination_grace_period_seconds, ==, 0);
    g_assert_false(spec->start_on_create);
    assert_round_trip(spec);
}

static void
test_tiny_example(void)
{
    g_autofree char *json = example_contents("tiny.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_cmpstr(spec->name, ==, "tiny");
    g_assert_cmpuint(spec->memory, ==, 128 * MiB);
    g_assert_cmpuint(spec->cpu_cores, ==, 1);
    g_assert_cmpstr(spec->kernel_path, ==, "/var/lib/podvm/guest/vmlinuz");
    g_assert_cmpstr(spec->initrd_path, ==, "/var/lib/podvm/guest/initrd.img");
    g_assert_cmpstr(spec->kernel_args, ==, "console=ttyS0");
    g_assert_cmpint(spec->termination_grace_period_seconds, ==, 10);
    g_assert_cmpuint(podvm_spec_resolve_vcpus(spec, 8), ==, 1);
    assert_round_trip(spec);
}

/* The demo's manifest: a KubeVirt VMI in YAML with a masquerade interface on the pod network. */
static void
test_web_example(void)
{
    g_autofree char *yaml = example_contents("web.yaml");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = podvm_yaml_to_json(yaml, -1, &error);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    const PodvmSpecInterface *iface;
    const PodvmSpecNetwork *network;
    const PodvmSpecPort *port;

    g_assert_no_error(error);
    spec = podvm_spec_parse_node(root, &problems, &error);
    g_assert_no_error(error);
    g_assert_null(problems);
    g_assert_cmpstr(spec->source_kind, ==, "VirtualMachineInstance");
    g_assert_cmpstr(spec->name, ==, "web");
    g_assert_cmpstr(spec->kernel_path, ==, "/var/lib/podvm/guest/vmlinuz");
    g_assert_cmpuint(spec->interfaces->len, ==, 1);
    iface = spec->interfaces->pdata[0];
    g_assert_cmpstr(iface->name, ==, "default");
    g_assert_cmpint(iface->binding, ==, PODVM_BINDING_MASQUERADE);
    g_assert_cmpuint(iface->ports->len, ==, 1);
    port = iface->ports->pdata[0];
    g_assert_cmpstr(port->name, ==, "http");
    g_assert_cmpuint(port->port, ==, 80);
    g_assert_cmpstr(port->protocol, ==, "TCP");
    g_assert_cmpuint(spec->networks->len, ==, 1);
    network = spec->networks->pdata[0];
    g_assert_cmpstr(network->name, ==, "default");
    g_assert_cmpint(network->source, ==, PODVM_NETWORK_POD);
    assert_round_trip(spec);
}

static void
test_kubevirt_vm_file(void)
{
    g_autofree char *json = spec_file_contents("valid-kubevirt-vm.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_cmpstr(spec->source_kind, ==, "VirtualMachine");
    g_assert_cmpstr(spec->name, ==, "vm-cirros");
    /* Template labels merge in; the top metadata wins. */
    g_assert_cmpuint(g_hash_table_size(spec->labels), ==, 3);
    g_assert_cmpstr(g_hash_table_lookup(spec->labels, "kubevirt.io/vm"), ==, "vm-cirros");
    g_assert_cmpstr(g_hash_table_lookup(spec->labels, "tier"), ==, "top");
    g_assert_cmpstr(g_hash_table_lookup(spec->labels, "extra"), ==, "yes");
    g_assert_cmpstr(g_hash_table_lookup(spec->annotations, "from"), ==, "template");
    g_assert_cmpint(spec->restart_policy, ==, PODVM_RESTART_ON_FAILURE);
    g_assert_true(spec->start_on_create);
    g_assert_cmpuint(spec->memory, ==, 128 * MiB);
    g_assert_cmpint(spec->termination_grace_period_seconds, ==, 0);
}

static void
test_kubevirt_vm_run_strategy(void)
{
    static const struct {
        const char *run; /* the members that say how it runs */
        PodvmRestartPolicy policy;
        gboolean start;
    } cases[] = {
        { "'runStrategy': 'Always'", PODVM_RESTART_ALWAYS, TRUE },
        { "'runStrategy': 'RerunOnFailure'", PODVM_RESTART_ON_FAILURE, TRUE },
        { "'runStrategy': 'Once'", PODVM_RESTART_NEVER, TRUE },
        { "'runStrategy': 'Manual'", PODVM_RESTART_NEVER, FALSE },
        { "'runStrategy': 'Halted'", PODVM_RESTART_NEVER, FALSE },
        { "'running': true", PODVM_RESTART_ALWAYS, TRUE },
        { "'running': false", PODVM_RESTART_NEVER, FALSE },
        { "'running': null", PODVM_RESTART_NEVER, FALSE },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = g_strdup_printf(
            "{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', "
            "'metadata': {'name': 'vm'}, 'spec': {%s, 'template': {'spec': {'domain': "
            "{'firmware': {'kernelBoot': {'kernelPath': '/k'}}}}}}}",
            cases[i].run);
        g_autofree char *json = q(text);
        g_autoptr(PodvmSpec) spec = NULL;

        g_test_message("%s", cases[i].run);
        spec = parse_ok(json);
        g_assert_cmpint(spec->restart_policy, ==, cases[i].policy);
        g_assert_cmpint(spec->start_on_create, ==, cases[i].start);
        g_assert_cmpstr(spec->source_kind, ==, "VirtualMachine");
    }
}

static void
test_kubevirt_vm_problems(void)
{
    g_autofree char *both = q("{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', "
                              "'metadata': {'name': 'vm'}, 'spec': {'running': true, "
                              "'runStrategy': 'Always', 'template': {'spec': {'domain': "
                              "{'firmware': {'kernelBoot': {'kernelPath': '/k'}}}}}}}");
    g_autofree char *bad = q("{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', "
                             "'metadata': {'name': 'vm'}, 'spec': {'runStrategy': 'Sometimes', "
                             "'instancetype': {'name': 'u1.small'}, "
                             "'template': {'metadata': {'name': 'x'}, 'spec': {'restartPolicy': "
                             "'Always', 'domain': {'cpu': {'cores': 0}}}}}}");
    g_autofree char *conflict = q("{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', "
                                  "'metadata': {'name': 'vm'}, 'spec': {'running': false, "
                                  "'template': {'spec': {'restartPolicy': 'Always', 'domain': "
                                  "{'firmware': {'kernelBoot': {'kernelPath': '/k'}}}}}}}");
    g_autofree char *no_template = q("{'apiVersion': 'kubevirt.io/v1', 'kind': "
                                     "'VirtualMachine', 'metadata': {'name': 'vm'}, "
                                     "'spec': {'running': true}}");
    g_autoptr(GPtrArray) problems = NULL;

    assert_only_problem(both, "spec.running", "not both");
    assert_only_problem(conflict, "spec.template.spec.restartPolicy", "run strategy");
    assert_only_problem(no_template, "spec.template", "required");

    problems = parse_fail(bad);
    assert_problem(problems, "spec.runStrategy", "unknown value \"Sometimes\"");
    assert_problem(problems, "spec.instancetype", "not supported by podvm");
    assert_problem(problems, "spec.template.metadata.name", "not supported by podvm");
    assert_problem(problems, "spec.template.spec.domain.cpu.cores", "from 1 to 255");
    assert_problem(problems, "spec.template.spec.domain.firmware.kernelBoot", "required");
    g_assert_cmpuint(problems->len, ==, 5);
}

static void
test_api_version_kind(void)
{
    static const struct {
        const char *type;
        const char *path;
        const char *needle;
    } cases[] = {
        { "'kind': 'Pod'", "apiVersion", "required" },
        { "'apiVersion': 'podvm.io/v1'", "kind", "required" },
        { "'apiVersion': 'podvm.io/v2', 'kind': 'Pod'", "apiVersion", "unknown value" },
        { "'apiVersion': 'podvm.io/v1', 'kind': 'VirtualMachineInstance'", "kind",
          "not a kind of podvm.io/v1" },
        { "'apiVersion': 'kubevirt.io/v1', 'kind': 'Pod'", "kind", "not a kind of kubevirt" },
        { "'apiVersion': 'v1', 'kind': 'Pod'", "apiVersion", "unknown value \"v1\"" },
        { "'apiVersion': 1, 'kind': 'Pod'", "apiVersion", "expected a string, got a number" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text =
            g_strdup_printf("{%s, 'metadata': {'name': 'p'}, 'spec': {'domain': {'firmware': "
                            "{'kernelBoot': {'kernelPath': '/k'}}}}}",
                            cases[i].type);
        g_autofree char *json = q(text);

        assert_only_problem(json, cases[i].path, cases[i].needle);
    }
}

/* ------------------------------------------------------------------------ */
/* Invalid documents */

static void
test_multi_error(void)
{
    static const char *const expected[][2] = {
        { "metadata.generateName", "not supported by podvm" },
        { "metadata.name",
          "\"Web_1\" is not a valid name: use lowercase letters, digits and '-', starting and "
          "ending with a letter or digit, at most 63 characters" },
        { "metadata.uid", "\"not-a-uuid\" is not a UUID" },
        { "metadata.labels.app", "expected a string, got a number" },
        { "spec.domain.bogus", "unknown field" },
        { "spec.domain.resources.requests.cpu", "not supported yet" },
        { "spec.domain.resources.requests.memory", "unknown suffix \"GiB\"" },
        { "spec.domain.cpu.cores", "expected a number, got a string" },
        { "spec.domain.cpu.sockets", "must be a whole number from 1 to 255" },
        { "spec.domain.cpu.threads", "must be a whole number from 1 to 255" },
        { "spec.domain.cpu.model", "\"host model\" is not a valid CPU model" },
        { "spec.domain.machine.type", "\"Q35\" is not a valid machine type" },
        { "spec.domain.firmware.bootloader.efi", "not supported yet" },
        { "spec.domain.firmware.kernelBoot.kernelPath", "required" },
        { "spec.domain.firmware.kernelBoot.kernelArgs", "one line" },
        { "spec.domain.firmware.uuid", "\"xyz\" is not a UUID" },
        { "spec.domain.firmware.serial", "printable ASCII" },
        { "spec.domain.devices.autoattachGraphicsDevice", "not supported by podvm" },
        { "spec.domain.devices.gadgets", "unknown field" },
        { "spec.domain.devices.autoattachSerialConsole", "expected a boolean, got a string" },
        { "spec.apps[0].image", "\"/srv/nginx\" is not an image reference" },
        { "spec.apps[0].workingDir", "absolute path" },
        { "spec.apps[0].memory", "\"-1\" is negative" },
        { "spec.apps[0].cpus", "must be more than 0" },
        { "spec.apps[1].ports", "unknown field" },
        { "spec.apps[1].env[0].name", "required" },
        { "spec.apps[1].name", "\"a\" is the name of another app" },
        { "spec.terminationGracePeriodSeconds", "from 0 to 86400" },
        { "spec.restartPolicy", "unknown value \"Sometimes\": use Always, OnFailure or Never" },
        { "spec.hostname", "\"-bad\" starts with '-'" },
        { "spec.volumes[0].containerDisk.image", "\"X\" is not an image reference" },
        { "spec.livenessProbe.tcpSocket", "no network interface" },
        { "spec.nodeSelector", "not supported by podvm" },
    };
    g_autofree char *json = spec_file_contents("invalid-multi.json");
    g_autoptr(GPtrArray) problems = parse_fail(json);
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(expected); i++)
        assert_problem(problems, expected[i][0], expected[i][1]);
    g_assert_cmpuint(problems->len, ==, G_N_ELEMENTS(expected));
}

static void
test_problems_optional(void)
{
    g_autofree char *json = pod("'cpu': {'cores': 0}", "");
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(json, -1, NULL, &error);

    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_cmpstr(error->message, ==,
                    "spec.domain.cpu.cores: must be a whole number from 1 to 255");
}

static void
test_unknown_fields(void)
{
    static const char *const cases[][3] = {
        /* domain members, spec members, path */
        { "", "'foo': 1", "spec.foo" },
        { "", "'foo': null", "spec.foo" },
        { "'foo': {}", "", "spec.domain.foo" },
        { "'cpu': {'coress': 2}", "", "spec.domain.cpu.coress" },
        { "'machine': {'type': 'q35', 'accel': 'kvm'}", "", "spec.domain.machine.accel" },
        { "'devices': {'rng': {'rate': 1}}", "", "spec.domain.devices.rng.rate" },
        { "'devices': {'emulator': '/bin/sh'}", "", "spec.domain.devices.emulator" },
        { "'qemuArgs': ['-device', 'x']", "", "spec.domain.qemuArgs" },
        { "'resources': {'requests': {'memory': '1Gi', 'storage': '1Gi'}}", "",
          "spec.domain.resources.requests.storage" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'ports': []}]", "spec.apps[0].ports" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = pod(cases[i][0], cases[i][1]);

        assert_only_problem(json, cases[i][2], "unknown field");
    }

    {
        g_autofree char *top = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                 "{'name': 'p', 'owner': 'me'}, 'spec': {'domain': {'firmware': "
                                 "{'kernelBoot': {'kernelPath': '/k'}}}}, 'extra': true}");
        g_autoptr(GPtrArray) problems = parse_fail(top);

        assert_problem(problems, "extra", "unknown field");
        assert_problem(problems, "metadata.owner", "unknown field");
        g_assert_cmpuint(problems->len, ==, 2);
    }
}

static void
test_not_supported(void)
{
    static const char *const cases[][4] = {
        /* domain members, spec members, path, message */
        { "'devices': {'interfaces': [{'name': 'default', 'masquerade': {}, 'dhcpOptions': "
          "{'bootFileName': 'x'}}]}",
          "'networks': [{'name': 'default', 'pod': {}}]",
          "spec.domain.devices.interfaces[0].dhcpOptions", "not supported yet" },
        { "", "'readinessProbe': {'guestAgentPing': {}}", "spec.readinessProbe.guestAgentPing",
          "not supported yet" },
        { "", "'affinity': {'nodeAffinity': {}}", "spec.affinity", "not supported by podvm" },
        { "", "'tolerations': [{'key': 'k'}]", "spec.tolerations", "not supported by podvm" },
        { "", "'schedulerName': 'x'", "spec.schedulerName", "not supported by podvm" },
        { "'devices': {'disks': [{'name': 'd', 'dedicatedIOThread': true}]}",
          "'volumes': [{'name': 'd', 'emptyDisk': {'capacity': '1Gi'}}]",
          "spec.domain.devices.disks[0].dedicatedIOThread", "not supported yet" },
        { "'devices': {'disks': [{'name': 'd'}]}",
          "'volumes': [{'name': 'd', 'serviceAccount': {'serviceAccountName': 'x'}}]",
          "spec.volumes[0].serviceAccount", "not supported by podvm" },
        { "'devices': {'interfaces': [{'name': 'n', 'bridge': {}}]}",
          "'networks': [{'name': 'n', 'multus': {'networkName': 'x', 'default': true}}]",
          "spec.networks[0].multus.default", "not supported yet" },
        { "'devices': {'autoattachGraphicsDevice': true}", "",
          "spec.domain.devices.autoattachGraphicsDevice", "not supported by podvm" },
        { "'cpu': {'dedicatedCpuPlacement': true}", "", "spec.domain.cpu.dedicatedCpuPlacement",
          "not supported yet" },
        { "'memory': {'hugepages': {'pageSize': '2Mi'}}", "", "spec.domain.memory.hugepages",
          "not supported yet" },
        { "'resources': {'requests': {'cpu': '2'}}", "", "spec.domain.resources.requests.cpu",
          "not supported yet" },
        { "'resources': {'limits': {'cpu': '2'}}", "", "spec.domain.resources.limits.cpu",
          "not supported yet" },
        { "'features': {'acpi': {}}", "", "spec.domain.features", "not supported yet" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = pod(cases[i][0], cases[i][1]);

        assert_only_problem(json, cases[i][2], cases[i][3]);
    }
}

static void
test_firmware_not_supported(void)
{
    g_autofree char *efi = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                             "{'name': 'p'}, 'spec': {'domain': {'firmware': {'bootloader': "
                             "{'efi': {'secureBoot': false}}, 'kernelBoot': "
                             "{'kernelPath': '/k'}}}}}");
    g_autofree char *container = q("{'apiVersion': 'kubevirt.io/v1', 'kind': "
                                   "'VirtualMachineInstance', 'metadata': {'name': 'p'}, "
                                   "'spec': {'domain': {'firmware': {'kernelBoot': "
                                   "{'kernelArgs': 'console=ttyS0', 'container': {'image': "
                                   "'quay.io/kubevirt/alpine-ext-kernel-boot-demo', "
                                   "'kernelPath': '/boot/vmlinuz'}}}}}}");

    assert_only_problem(efi, "spec.domain.firmware.bootloader.efi", "not supported yet");
    assert_only_problem(container, "spec.domain.firmware.kernelBoot.container",
                        "not supported yet");
}

static void
test_types(void)
{
    static const char *const cases[][4] = {
        /* domain members, spec members, path, message */
        { "'cpu': {'cores': '2'}", "", "spec.domain.cpu.cores", "expected a number, got a string" },
        { "'cpu': {'cores': true}", "", "spec.domain.cpu.cores",
          "expected a number, got a boolean" },
        { "'cpu': {'cores': 2.5}", "", "spec.domain.cpu.cores", "whole number from 1 to 255" },
        { "'cpu': {'cores': 256}", "", "spec.domain.cpu.cores", "whole number from 1 to 255" },
        { "'cpu': {'cores': -1}", "", "spec.domain.cpu.cores", "whole number from 1 to 255" },
        { "'cpu': []", "", "spec.domain.cpu", "expected an object, got an array" },
        { "'cpu': {'model': 7}", "", "spec.domain.cpu.model", "expected a string, got a number" },
        { "'cpu': {'model': 'host,kvm=off'}", "", "spec.domain.cpu.model",
          "not a valid CPU model" },
        { "'machine': {'type': 'q35,accel=tcg'}", "", "spec.domain.machine.type",
          "not a valid machine type" },
        { "'devices': {'rng': true}", "", "spec.domain.devices.rng",
          "expected an object, got a boolean" },
        { "'memory': {'guest': true}", "", "spec.domain.memory.guest",
          "expected a quantity string, got a boolean" },
        { "'memory': {'guest': '0'}", "", "spec.domain.memory.guest", "more than 0" },
        { "'resources': {'requests': {'memory': '1.5'}}", "",
          "spec.domain.resources.requests.memory", "not a whole number of bytes" },
        { "", "'apps': {}", "spec.apps", "expected an array, got an object" },
        { "", "'apps': ['x']", "spec.apps[0]", "expected an object, got a string" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'command': 'ls'}]", "spec.apps[0].command",
          "expected an array, got a string" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'args': ['a', 1]}]", "spec.apps[0].args[1]",
          "expected a string, got a number" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'env': [{'name': 'A', 'value': 1}]}]",
          "spec.apps[0].env[0].value", "expected a string, got a number" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'env': [{'name': 'A=B'}]}]",
          "spec.apps[0].env[0].name", "without '='" },
        { "", "'apps': [{'name': 'a', 'image': 'oci:x', 'cpus': '0.1m'}]", "spec.apps[0].cpus",
          "not a whole number of millicpus" },
        { "", "'apps': [{'name': 'a', 'image': 'docker://'}]", "spec.apps[0].image",
          "not an image reference" },
        { "", "'apps': [{'name': 'a', 'image': '/srv/layout'}]", "spec.apps[0].image",
          "not an image reference" },
        { "", "'apps': [{'name': 'a', 'image': 'docker://redis latest'}]", "spec.apps[0].image",
          "not an image reference" },
        { "", "'apps': [{'name': 'a', 'image': 'http://example.com/redis'}]", "spec.apps[0].image",
          "only docker:// references are supported" },
        { "", "'apps': [{'name': 'a', 'image': 'docker://Redis'}]", "spec.apps[0].image",
          "repository names must be lowercase" },
        { "", "'apps': [{'name': 'a'}]", "spec.apps[0].image", "required" },
        { "", "'apps': [{'image': 'oci:x'}]", "spec.apps[0].name", "required" },
        { "", "'apps': [{'name': 'A', 'image': 'oci:x'}]", "spec.apps[0].name",
          "not a valid name" },
        { "", "'terminationGracePeriodSeconds': '30'", "spec.terminationGracePeriodSeconds",
          "expected a number, got a string" },
        { "", "'terminationGracePeriodSeconds': -1", "spec.terminationGracePeriodSeconds",
          "from 0 to 86400" },
        { "", "'restartPolicy': 'always'", "spec.restartPolicy", "unknown value \"always\"" },
        { "", "'hostname': 'my_host'", "spec.hostname", "not a valid name" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = pod(cases[i][0], cases[i][1]);
        g_autoptr(GPtrArray) problems = NULL;

        g_test_message("%s / %s", cases[i][0], cases[i][1]);
        problems = parse_fail(json);
        assert_problem(problems, cases[i][2], cases[i][3]);
    }
}

static void
test_cpu_topology(void)
{
    g_autofree char *big = pod("'cpu': {'cores': 16, 'sockets': 4, 'threads': 4}", "");
    g_autofree char *limit = pod("'cpu': {'cores': 255}", "");
    g_autofree char *whole_float = pod("'cpu': {'cores': 2.0, 'sockets': 1e0}", "");
    g_autoptr(PodvmSpec) at_limit = parse_ok(limit);
    g_autoptr(PodvmSpec) floats = parse_ok(whole_float);

    assert_only_problem(big, "spec.domain.cpu", "256");
    g_assert_cmpuint(at_limit->cpu_cores, ==, 255);
    g_assert_cmpuint(floats->cpu_cores, ==, 2);
    g_assert_cmpuint(floats->cpu_sockets, ==, 1);
}

static void
test_memory_sources(void)
{
    static const struct {
        const char *domain;
        guint64 memory;
    } good[] = {
        { "'resources': {'requests': {'memory': '512Mi'}}", 512 * MiB },
        { "'resources': {'limits': {'memory': '1Gi'}}", GiB },
        { "'resources': {'requests': {'memory': '512Mi'}, 'limits': {'memory': '1Gi'}}",
          512 * MiB },
        { "'memory': {'guest': '2Gi'}", 2 * GiB },
        { "'memory': {'guest': '1Gi'}, 'resources': {'requests': {'memory': '1024Mi'}}", GiB },
        { "'memory': {'guest': 1073741824}", GiB },
        { "'memory': {'guest': '1e9'}", G_GUINT64_CONSTANT(1000000000) },
        { "", 0 },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *json = pod(good[i].domain, "");
        g_autoptr(PodvmSpec) spec = parse_ok(json);

        g_assert_cmpuint(spec->memory, ==, good[i].memory);
    }

    {
        g_autofree char *json = pod("'memory': {'guest': '1Gi'}, "
                                    "'resources': {'requests': {'memory': '512Mi'}}",
                                    "");
        assert_only_problem(json, "spec.domain.memory.guest",
                            "is 1Gi but spec.domain.resources.requests.memory is 512Mi");
    }
    {
        g_autofree char *json = pod("'memory': {'guest': '1Gi'}, "
                                    "'resources': {'limits': {'memory': '2Gi'}}",
                                    "");
        assert_only_problem(json, "spec.domain.memory.guest",
                            "spec.domain.resources.limits.memory is 2Gi");
    }
}

static void
test_bootable(void)
{
    g_autofree char *none = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                              "{'name': 'p'}, 'spec': {'domain': {}}}");
    g_autofree char *no_domain = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                   "{'name': 'p'}, 'spec': {}}");
    g_autofree char *apps = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                              "{'name': 'p'}, 'spec': {'apps': [{'name': 'a', 'image': "
                              "'docker://busybox:latest'}]}}");
    g_autofree char *empty_kernel_boot = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', "
                                           "'metadata': {'name': 'p'}, 'spec': {'domain': "
                                           "{'firmware': {'kernelBoot': {}}}}}");
    g_autofree char *empty_path = pod("", "");
    g_autofree char *empty_path_doc = NULL;
    g_auto(GStrv) parts = g_strsplit(empty_path, "\"/k\"", -1);

    assert_only_problem(none, "spec.domain.firmware.kernelBoot",
                        "required: give a kernel to boot (firmware.kernelBoot) or a disk to boot "
                        "from (devices.disks)");
    assert_only_problem(no_domain, "spec.domain.firmware.kernelBoot", "or a disk");
    /* A pod with apps and nothing to boot runs podvm's app guest. */
    {
        g_autoptr(PodvmSpec) spec = parse_ok(apps);

        g_assert_cmpuint(spec->apps->len, ==, 1);
        g_assert_null(spec->kernel_path);
        g_assert_cmpuint(spec->disks->len, ==, 0);
        g_assert_true(podvm_spec_uses_app_guest(spec));
    }
    /* Registry references with or without docker://, and local layouts. */
    {
        static const char *const images[] = {
            "docker://busybox",
            "redis",
            "kubevirt/fedora-cloud-container-disk-demo:latest",
            "127.0.0.1:5000/apps/busybox:1.36",
            "docker://localhost/x@sha256:"
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "oci:/srv/oci/busybox:latest",
        };

        for (guint i = 0; i < G_N_ELEMENTS(images); i++) {
            g_autofree char *doc =
                g_strdup_printf("{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", "
                                "\"metadata\": {\"name\": \"p\"}, \"spec\": {\"apps\": "
                                "[{\"name\": \"a\", \"image\": \"%s\"}]}}",
                                images[i]);
            g_autoptr(PodvmSpec) spec = parse_ok(doc);
            const PodvmSpecApp *app = g_ptr_array_index(spec->apps, 0);

            g_assert_cmpstr(app->image, ==, images[i]);
        }
    }
    assert_only_problem(empty_kernel_boot, "spec.domain.firmware.kernelBoot.kernelPath",
                        "required");
    empty_path_doc = g_strjoinv("\"\"", parts);
    assert_only_problem(empty_path_doc, "spec.domain.firmware.kernelBoot.kernelPath",
                        "must not be empty");
}

static void
test_missing_parts(void)
{
    g_autoptr(GPtrArray) problems = NULL;
    g_autofree char *no_spec = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                 "{'name': 'p'}}");
    g_autofree char *no_metadata = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'spec': "
                                     "{'domain': {'firmware': {'kernelBoot': {'kernelPath': "
                                     "'/k'}}}}}");
    g_autofree char *no_name = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                 "{'labels': {'a': 'b'}}, 'spec': {'domain': {'firmware': "
                                 "{'kernelBoot': {'kernelPath': '/k'}}}}}");

    assert_only_problem(no_spec, "spec", "required");
    assert_only_problem(no_metadata, "metadata", "required");
    assert_only_problem(no_name, "metadata.name", "required");

    problems = parse_fail("{}");
    assert_problem(problems, "apiVersion", "required");
    assert_problem(problems, "kind", "required");
    assert_problem(problems, "metadata", "required");
    assert_problem(problems, "spec", "required");
    g_assert_cmpuint(problems->len, ==, 4);
}

static void
test_metadata(void)
{
    g_autofree char *long_key = g_strnfill(254, 'k');
    g_autofree char *long_key_doc = g_strdup_printf(
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\", "
        "\"labels\": {\"%s\": \"v\"}}, \"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": "
        "{\"kernelPath\": \"/k\"}}}}}",
        long_key);
    g_autofree char *empty_key = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                   "{'name': 'p', 'annotations': {'': 'v'}}, 'spec': {'domain': "
                                   "{'firmware': {'kernelBoot': {'kernelPath': '/k'}}}}}");
    g_autofree char *managed = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                 "{'name': 'p', 'resourceVersion': '12', 'creationTimestamp': "
                                 "'2024-01-01T00:00:00Z', 'namespace': 7}, 'spec': {'domain': "
                                 "{'firmware': {'kernelBoot': {'kernelPath': '/k'}}}}}");
    g_autoptr(GPtrArray) problems = NULL;

    assert_only_problem(long_key_doc, "metadata.labels", "longer than 253 characters");
    assert_only_problem(empty_key, "metadata.annotations", "empty");

    problems = parse_fail(managed);
    assert_problem(problems, "metadata.resourceVersion", "not supported by podvm");
    assert_problem(problems, "metadata.creationTimestamp", "not supported by podvm");
    assert_problem(problems, "metadata.namespace", "expected a string, got a number");
    g_assert_cmpuint(problems->len, ==, 3);
}

/* RELIABILITY.md item 23. */
static void
test_bad_names(void)
{
    static const struct {
        const char *json_name; /* as written in JSON, escapes included */
        const char *needle;
    } cases[] = {
        { "../../etc", "not a valid name" },
        { "a/b", "not a valid name" },
        { "", "empty" },
        { "-web", "starts with '-'" },
        { "web-", "ends with '-'" },
        { "web\\u0000x", "NUL" },
        { "\\u0000", "NUL" },
        { "p\\u00f6d", "not ASCII" },
        { "Web_1", "not a valid name" },
        { "web 1", "not a valid name" },
        { "web\\n", "control character" },
        { "LONG", "300 characters long" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *long_name = g_strnfill(300, 'a');
        const char *name = strcmp(cases[i].json_name, "LONG") == 0 ? long_name : cases[i].json_name;
        g_autofree char *json = g_strdup_printf(
            "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
            "\"%s\"}, \"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": {\"kernelPath\": "
            "\"/k\"}}}}}",
            name);
        g_autoptr(GPtrArray) problems = NULL;
        const PodvmSpecProblem *problem;

        g_test_message("name %s", cases[i].json_name);
        problems = parse_fail(json);
        g_assert_cmpuint(problems->len, ==, 1);
        problem = g_ptr_array_index(problems, 0);
        g_assert_cmpstr(problem->path, ==, "metadata.name");
        g_assert_nonnull(strstr(problem->message, cases[i].needle));
        /* The message never carries raw control characters or the whole long name. */
        g_assert_cmpuint(strlen(problem->message), <, 250);
    }
}

static void
test_name_is_valid(void)
{
    static const char *const good[] = {
        "a",    "web-1", "1abc",
        "a--b", "0",     "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz", /* 63 */
    };
    static const char *const bad[] = {
        "",
        "-a",
        "a-",
        "A",
        "a.b",
        "a_b",
        "a/b",
        "..",
        "a b",
        "é",
        "a\tb",
        "\xff",
        "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz0", /* 64 */
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_true(podvm_name_is_valid(good[i], &error));
        g_assert_no_error(error);
    }
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_false(podvm_name_is_valid(bad[i], &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_true(strstr(error->message, "use lowercase letters") != NULL ||
                      strstr(error->message, "at most 63 characters") != NULL);
    }
    g_assert_false(podvm_name_is_valid(NULL, NULL));
}

/* ------------------------------------------------------------------------ */
/* What json-glib would lose, and limits */

static void
test_json_syntax(void)
{
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    const PodvmSpecProblem *problem;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(
        "{\n  \"apiVersion\": \"podvm.io/v1\",\n  \"kind\": \"Pod\",,\n}", -1, &problems, &error);

    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    /* json-glib's message, with line and column. */
    g_assert_nonnull(strstr(error->message, ":3:"));
    g_assert_cmpuint(problems->len, ==, 1);
    problem = g_ptr_array_index(problems, 0);
    g_assert_cmpstr(problem->path, ==, "");
    g_assert_cmpstr(problem->message, ==, error->message);
}

static void
test_not_strict_json(void)
{
    static const struct {
        const char *text;
        const char *needle;
    } cases[] = {
        { "{'apiVersion': 'podvm.io/v1'}", "line 1, column 2: unexpected character '''" },
        { "// comment\n{}", "line 1, column 1" },
        { "{\"a\": 0x10}", "unexpected character 'x'" },
        { "{\"a\": \"tab\there\"}", "control character" },
        { "{\"a\": \"\\q\"}", "unknown escape" },
        { "{\"a\": \"\\u12\"}", "four hexadecimal digits" },
        { "{\"a\": \"open", "not terminated" },
        { "{\"a\": 1.}", "decimal point" },
        { "{\"a\": tru}", "unexpected character 't'" },
        { "{\n\"a\": @}", "line 2, column 6" },
        { "", "empty" },
        { "   ", "empty" },
        { "[1, 2]", "must be a JSON object, got an array" },
        { "\"pod\"", "must be a JSON object, got a string" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GPtrArray) problems = NULL;

        g_test_message("%s", cases[i].text);
        problems = parse_fail(cases[i].text);
        g_assert_cmpuint(problems->len, ==, 1);
        assert_problem(problems, "", cases[i].needle);
    }
}

static void
test_bytes_level_checks(void)
{
    static const char nul_inside[] = "{\"a\": \"x\0y\"}";
    static const char not_utf8[] = "{\"a\": \"\xff\"}";
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) spec = NULL;

    spec = podvm_spec_parse_data(nul_inside, sizeof(nul_inside) - 1, &problems, &error);
    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_nonnull(strstr(error->message, "NUL byte"));
    g_clear_error(&error);
    g_clear_pointer(&problems, g_ptr_array_unref);

    spec = podvm_spec_parse_data(not_utf8, -1, &problems, &error);
    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_nonnull(strstr(error->message, "not UTF-8"));
}

static void
test_size_limit(void)
{
    g_autofree char *valid = pod("", "");
    g_autoptr(GString) big = g_string_new(NULL);
    g_autoptr(GString) fits = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(PodvmSpec) spec_fits = NULL;

    /* Whitespace padding: only the size is wrong. */
    g_string_append(big, valid);
    while (big->len <= 1024 * 1024)
        g_string_append_c(big, ' ');
    spec = podvm_spec_parse_data(big->str, (gssize)big->len, NULL, &error);
    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_nonnull(strstr(error->message, "at most 1 MiB"));

    g_string_append(fits, valid);
    while (fits->len < 1024 * 1024)
        g_string_append_c(fits, ' ');
    spec_fits = parse_ok(fits->str);
    g_assert_nonnull(spec_fits);
}

static char *
nested_document(guint levels)
{
    g_autoptr(GString) text = g_string_new(NULL);
    guint i;

    /* levels counts the top object: {"a": [[...]]} */
    g_string_append(text, "{\"a\": ");
    for (i = 1; i < levels; i++)
        g_string_append_c(text, '[');
    for (i = 1; i < levels; i++)
        g_string_append_c(text, ']');
    g_string_append_c(text, '}');
    return g_string_free(g_steal_pointer(&text), FALSE);
}

static void
test_depth_limit(void)
{
    g_autofree char *ok = nested_document(32);
    g_autofree char *deep = nested_document(33);
    g_autofree char *very_deep = g_strnfill(1000 * 1000, '[');
    g_autoptr(GPtrArray) problems = NULL;

    /* 32 levels are read (and then refused for other reasons). */
    problems = parse_fail(ok);
    assert_problem(problems, "a", "unknown field");
    g_clear_pointer(&problems, g_ptr_array_unref);

    problems = parse_fail(deep);
    g_assert_cmpuint(problems->len, ==, 1);
    assert_problem(problems, "", "nested deeper than 32 levels");
    g_clear_pointer(&problems, g_ptr_array_unref);

    /* Refused before json-glib could recurse a million times. */
    problems = parse_fail(very_deep);
    assert_problem(problems, "", "nested deeper than 32 levels");
}

static void
test_depth_limit_node(void)
{
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonObject) object = json_object_new();
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    JsonArray *inner = json_array_new();
    guint i;

    for (i = 0; i < 40; i++) {
        JsonArray *outer = json_array_new();

        json_array_add_array_element(outer, inner);
        inner = outer;
    }
    json_object_set_array_member(object, "a", inner);
    json_node_set_object(root, object);

    spec = podvm_spec_parse_node(root, &problems, &error);
    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_nonnull(strstr(error->message, "nested deeper than 32 levels"));
    g_assert_cmpuint(problems->len, ==, 1);
}

static void
test_lost_by_json_glib(void)
{
    g_autofree char *label_value = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                     "{'name': 'p', 'labels': {'a': 'x\\u0000y'}}, 'spec': "
                                     "{'domain': {'firmware': {'kernelBoot': {'kernelPath': "
                                     "'/k\\u0000/evil'}}}}}");
    g_autofree char *nul_key = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                 "{'name': 'p', 'labels': {'a\\u0000b': 'x'}}, 'spec': "
                                 "{'domain': {'firmware': {'kernelBoot': {'kernelPath': "
                                 "'/k'}}}}}");
    g_autofree char *duplicate = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                   "{'name': 'p', 'name': 'q'}, 'spec': {'domain': {'firmware': "
                                   "{'kernelBoot': {'kernelPath': '/k'}}}}}");
    g_autofree char *overflow = pod("'cpu': {'cores': 18446744073709551617}", "");
    g_autofree char *big_float = pod("'cpu': {'cores': 1e300}", "");
    g_autofree char *escaped_ok = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                    "{'name': 'p', 'annotations': {'x': 'a\\u0041\\n\\\\u0000'}}, "
                                    "'spec': {'domain': {'firmware': {'kernelBoot': "
                                    "{'kernelPath': '/k'}}}}}");
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) spec = NULL;

    problems = parse_fail(label_value);
    assert_problem(problems, "metadata.labels.a", "NUL");
    assert_problem(problems, "spec.domain.firmware.kernelBoot.kernelPath", "NUL");
    g_assert_cmpuint(problems->len, ==, 2);
    g_clear_pointer(&problems, g_ptr_array_unref);

    assert_only_problem(nul_key, "metadata.labels.a\\u0000b", "NUL");
    assert_only_problem(duplicate, "metadata.name", "given more than once");
    assert_only_problem(overflow, "spec.domain.cpu.cores", "out of range");
    assert_only_problem(big_float, "spec.domain.cpu.cores", "from 1 to 255");

    /* An escaped backslash followed by "u0000" is not a NUL. */
    spec = parse_ok(escaped_ok);
    g_assert_cmpstr(g_hash_table_lookup(spec->annotations, "x"), ==, "aA\n\\u0000");
}

static void
test_problem_cap(void)
{
    g_autoptr(GString) text = g_string_new("{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", "
                                           "\"metadata\": {\"name\": \"p\"}, \"spec\": {"
                                           "\"domain\": {\"firmware\": {\"kernelBoot\": "
                                           "{\"kernelPath\": \"/k\"}}}");
    g_autoptr(GPtrArray) problems = NULL;
    const PodvmSpecProblem *last;
    guint i;

    for (i = 0; i < 5000; i++)
        g_string_append_printf(text, ", \"x%u\": 1", i);
    g_string_append(text, "}}");

    problems = parse_fail(text->str);
    g_assert_cmpuint(problems->len, ==, 101);
    assert_problem(problems, "spec.x0", "unknown field");
    last = g_ptr_array_index(problems, 100);
    g_assert_cmpstr(last->path, ==, "");
    g_assert_cmpstr(last->message, ==, "and 4900 more problems");
}

/* ------------------------------------------------------------------------ */
/* Disks and volumes */

/* A native pod named "p" with no kernel: the members of devices.disks and of volumes. */
static char *
disk_pod(const char *disks, const char *volumes)
{
    g_autofree char *text =
        g_strdup_printf("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': {'name': 'p'}, "
                        "'spec': {'domain': {'devices': {'disks': [%s]}}, 'volumes': [%s]}}",
                        disks, volumes);
    return q(text);
}

static const PodvmSpecDisk *
disk_at(const PodvmSpec *spec, guint i)
{
    g_assert_cmpuint(i, <, spec->disks->len);
    return g_ptr_array_index(spec->disks, i);
}

static const PodvmSpecVolume *
volume_at(const PodvmSpec *spec, guint i)
{
    g_assert_cmpuint(i, <, spec->volumes->len);
    return g_ptr_array_index(spec->volumes, i);
}

static void
test_disks_kubevirt_vmi(void)
{
    g_autofree char *json = spec_file_contents("valid-kubevirt-vmi-disks.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    const PodvmSpecDisk *disk;
    const PodvmSpecVolume *volume;

    g_assert_cmpstr(spec->source_kind, ==, "VirtualMachineInstance");
    /* Boots from its disks: no kernel. */
    g_assert_null(spec->kernel_path);
    g_assert_cmpuint(spec->disks->len, ==, 11);
    g_assert_cmpuint(spec->volumes->len, ==, 11);

    disk = disk_at(spec, 0);
    g_assert_cmpstr(disk->name, ==, "root");
    g_assert_cmpint(disk->kind, ==, PODVM_DISK_KIND_DISK);
    g_assert_cmpint(disk->bus, ==, PODVM_DISK_BUS_VIRTIO);
    g_assert_false(disk->readonly);
    g_assert_cmpuint(disk->boot_order, ==, 1);
    g_assert_cmpstr(disk->serial, ==, "ROOT-0001");
    g_assert_cmpint(disk->cache, ==, PODVM_DISK_CACHE_NONE);
    disk = disk_at(spec, 1);
    g_assert_cmpint(disk->bus, ==, PODVM_DISK_BUS_SCSI);
    g_assert_cmpint(disk->cache, ==, PODVM_DISK_CACHE_WRITEBACK);
    g_assert_cmpuint(disk->boot_order, ==, 0);
    g_assert_null(disk->serial);
    disk = disk_at(spec, 2);
    g_assert_cmpint(disk->kind, ==, PODVM_DISK_KIND_DISK);
    g_assert_cmpint(disk->bus, ==, PODVM_DISK_BUS_VIRTIO);
    g_assert_cmpint(disk->cache, ==, PODVM_DISK_CACHE_DEFAULT);
    g_assert_cmpint(disk_at(spec, 3)->bus, ==, PODVM_DISK_BUS_SATA);
    g_assert_cmpuint(disk_at(spec, 3)->boot_order, ==, 2);
    /* Neither disk, cdrom nor lun: a virtio disk, as in KubeVirt. */
    g_assert_cmpint(disk_at(spec, 4)->kind, ==, PODVM_DISK_KIND_DISK);
    g_assert_cmpint(disk_at(spec, 4)->bus, ==, PODVM_DISK_BUS_VIRTIO);
    g_assert_true(disk_at(spec, 5)->readonly);
    g_assert_cmpint(disk_at(spec, 5)->cache, ==, PODVM_DISK_CACHE_WRITETHROUGH);
    disk = disk_at(spec, 7);
    g_assert_cmpint(disk->kind, ==, PODVM_DISK_KIND_CDROM);
    g_assert_cmpint(disk->bus, ==, PODVM_DISK_BUS_SATA);
    g_assert_true(disk->readonly);
    disk = disk_at(spec, 8);
    g_assert_cmpint(disk->kind, ==, PODVM_DISK_KIND_CDROM);
    g_assert_cmpint(disk->bus, ==, PODVM_DISK_BUS_SCSI);
    disk = disk_at(spec, 9);
    g_assert_cmpint(disk->kind, ==, PODVM_DISK_KIND_LUN);
    g_assert_cmpint(disk->bus, ==, PODVM_DISK_BUS_SCSI);
    g_assert_false(disk->readonly);
    g_assert_cmpstr(disk->serial, ==, "data_1.2+3-4");
    g_assert_true(disk_at(spec, 10)->readonly);

    volume = volume_at(spec, 0);
    g_assert_cmpstr(volume->name, ==, "root");
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_HOST_DISK);
    g_assert_cmpstr(volume->path, ==, "/var/lib/podvm/images/root.qcow2");
    g_assert_false(volume->create);
    g_assert_cmpuint(volume->capacity, ==, 0);
    volume = volume_at(spec, 1);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_HOST_DISK);
    g_assert_true(volume->create);
    g_assert_cmpuint(volume->capacity, ==, 10 * GiB);
    volume = volume_at(spec, 2);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_EMPTY_DISK);
    g_assert_cmpuint(volume->capacity, ==, 2 * GiB);
    volume = volume_at(spec, 3);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_EPHEMERAL);
    g_assert_cmpstr(volume->claim_name, ==, "fedora-base");
    g_assert_true(volume->readonly);
    g_assert_null(volume->path);
    volume = volume_at(spec, 4);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_EPHEMERAL);
    g_assert_cmpstr(volume->path, ==, "/var/lib/podvm/images/base.qcow2");
    g_assert_null(volume->claim_name);
    volume = volume_at(spec, 5);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_CONTAINER_DISK);
    g_assert_cmpstr(volume->image, ==, "oci:/var/lib/podvm/oci/fedora:39");
    g_assert_cmpstr(volume->image_path, ==, "/disk/fedora.qcow2");
    volume = volume_at(spec, 6);
    g_assert_cmpstr(volume->image, ==, "docker://quay.io/containerdisks/fedora:39");
    g_assert_null(volume->image_path);
    volume = volume_at(spec, 7);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_CLOUD_INIT_NOCLOUD);
    g_assert_cmpstr(volume->user_data, ==,
                    "#cloud-config\nhostname: vm-disks\nchpasswd: { expire: False }\n");
    g_assert_true(volume->user_data_was_base64);
    g_assert_cmpstr(volume->meta_data, ==, "instance-id: vm-disks-1\nlocal-hostname: vm-disks\n");
    g_assert_cmpstr(volume->network_data, ==, "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n");
    volume = volume_at(spec, 8);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE);
    g_assert_cmpstr(volume->user_data, ==, "#cloud-config\nruncmd: [\"echo hello\"]\n");
    g_assert_false(volume->user_data_was_base64);
    g_assert_null(volume->meta_data);
    /* networkDataBase64, decoded. */
    g_assert_cmpstr(volume->network_data, ==, "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n");
    volume = volume_at(spec, 9);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM);
    g_assert_cmpstr(volume->claim_name, ==, "data-vol");
    g_assert_false(volume->readonly);
    volume = volume_at(spec, 10);
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_DATA_VOLUME);
    g_assert_cmpstr(volume->claim_name, ==, "imported-dv");

    g_assert_true(podvm_spec_find_volume(spec, "cloudinit") == volume_at(spec, 7));
    g_assert_true(podvm_spec_find_disk(spec, "data") == disk_at(spec, 9));
    g_assert_null(podvm_spec_find_volume(spec, "nope"));
    g_assert_null(podvm_spec_find_disk(spec, "nope"));
    g_assert_null(podvm_spec_find_disk(spec, NULL));

    assert_round_trip(spec);
}

static void
test_disks_to_json_form(void)
{
    g_autofree char *json =
        disk_pod("{'name': 'root', 'bootOrder': 1}, {'name': 'seed', 'cdrom': {}}",
                 "{'name': 'root', 'emptyDisk': {'capacity': 1073741824}}, "
                 "{'name': 'seed', 'cloudInitNoCloud': {'userDataBase64': 'aGk='}}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autofree char *text = spec_to_string(spec);

    /* Defaults are written out; the user data goes back as base64. */
    g_assert_cmpstr(text, ==,
                    "{\"apiVersion\":\"podvm.io/v1\",\"kind\":\"Pod\","
                    "\"metadata\":{\"name\":\"p\"},"
                    "\"spec\":{\"domain\":{\"machine\":{\"type\":\"q35\"},\"devices\":"
                    "{\"autoattachSerialConsole\":true,\"disks\":["
                    "{\"name\":\"root\",\"disk\":{\"bus\":\"virtio\"},\"bootOrder\":1},"
                    "{\"name\":\"seed\",\"cdrom\":{\"bus\":\"sata\",\"readonly\":true}}]}},"
                    "\"volumes\":["
                    "{\"name\":\"root\",\"emptyDisk\":{\"capacity\":\"1Gi\"}},"
                    "{\"name\":\"seed\",\"cloudInitNoCloud\":{\"userDataBase64\":\"aGk=\"}}],"
                    "\"terminationGracePeriodSeconds\":30,\"restartPolicy\":\"Never\"}}");
    g_assert_cmpstr(volume_at(spec, 1)->user_data, ==, "hi");
}

static void
test_disks_round_trip_inline(void)
{
    static const char *const docs[][2] = {
        { "{'name': 'a', 'lun': {'readonly': true}, 'cache': 'writethrough'}",
          "{'name': 'a', 'persistentVolumeClaim': {'claimName': 'x', 'readOnly': true}}" },
        { "{'name': 'a', 'cdrom': {'bus': 'scsi'}}",
          "{'name': 'a', 'cloudInitConfigDrive': {'networkData': 'n', 'userData': ''}}" },
        { "{'name': 'a', 'disk': {'bus': 'sata', 'readonly': true}, 'serial': 'S'}",
          "{'name': 'a', 'hostDisk': {'path': '/x/y.img', 'type': 'DiskOrCreate', "
          "'capacity': '1.5Gi'}}" },
        { "{'name': 'a'}", "{'name': 'a', 'containerDisk': {'image': 'oci:/srv/oci'}}" },
        { "{'name': 'a'}", "{'name': 'a', 'containerDisk': {'image': "
                           "'kubevirt/fedora-cloud-container-disk-demo:latest', "
                           "'imagePullPolicy': 'IfNotPresent'}}" },
        { "{'name': 'a'}",
          "{'name': 'a', 'containerDisk': {'image': 'docker://127.0.0.1:5000/disks/cirros@sha256:"
          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'imagePullPolicy': "
          "'Never', 'path': '/disk/a.img'}}" },
        { "{'name': 'a'}",
          "{'name': 'a', 'containerDisk': {'image': 'oci:/srv/oci@sha256:"
          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'imagePullPolicy': "
          "'Always'}}" },
        { "{'name': 'a'}", "{'name': 'a', 'cloudInitNoCloud': {'userData': '\\u00e9t\\u00e9', "
                           "'metaData': ''}}" },
        { "{'name': 'a'}",
          "{'name': 'a', 'cloudInitNoCloud': {'networkDataBase64': 'bmV0\\nd29yaw=='}}" },
        { "{'name': 'a'}", "{'name': 'a', 'dataVolume': {'name': 'dv', 'hotpluggable': false}}" },
        { "{'name': 'a', 'bootOrder': 65535}",
          "{'name': 'a', 'ephemeral': {'persistentVolumeClaim': {'claimName': 'base'}}}" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(docs); i++) {
        g_autofree char *json = disk_pod(docs[i][0], docs[i][1]);
        g_autoptr(PodvmSpec) spec = NULL;

        g_test_message("%s / %s", docs[i][0], docs[i][1]);
        spec = parse_ok(json);
        assert_round_trip(spec);
    }

    /* A kernel and disks together. */
    {
        g_autofree char *json = pod("'devices': {'disks': [{'name': 'd'}]}",
                                    "'volumes': [{'name': 'd', 'emptyDisk': {'capacity': '1M'}}]");
        g_autoptr(PodvmSpec) spec = parse_ok(json);

        g_assert_cmpstr(spec->kernel_path, ==, "/k");
        g_assert_cmpuint(spec->disks->len, ==, 1);
        assert_round_trip(spec);
    }
}

static void
test_disk_defaults(void)
{
    g_autofree char *json = disk_pod("{'name': 'd'}, {'name': 'c', 'cdrom': {}}, "
                                     "{'name': 'l', 'lun': {}}, {'name': 'e', 'disk': {}}",
                                     "{'name': 'd', 'emptyDisk': {'capacity': '1Gi'}}, "
                                     "{'name': 'c', 'emptyDisk': {'capacity': '1Gi'}}, "
                                     "{'name': 'l', 'emptyDisk': {'capacity': '1Gi'}}, "
                                     "{'name': 'e', 'emptyDisk': {'capacity': '1Gi'}}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_cmpint(disk_at(spec, 0)->kind, ==, PODVM_DISK_KIND_DISK);
    g_assert_cmpint(disk_at(spec, 0)->bus, ==, PODVM_DISK_BUS_VIRTIO);
    g_assert_false(disk_at(spec, 0)->readonly);
    g_assert_cmpint(disk_at(spec, 1)->kind, ==, PODVM_DISK_KIND_CDROM);
    g_assert_cmpint(disk_at(spec, 1)->bus, ==, PODVM_DISK_BUS_SATA);
    g_assert_true(disk_at(spec, 1)->readonly);
    g_assert_cmpint(disk_at(spec, 2)->kind, ==, PODVM_DISK_KIND_LUN);
    g_assert_cmpint(disk_at(spec, 2)->bus, ==, PODVM_DISK_BUS_SCSI);
    g_assert_false(disk_at(spec, 2)->readonly);
    g_assert_cmpint(disk_at(spec, 3)->bus, ==, PODVM_DISK_BUS_VIRTIO);
    for (guint i = 0; i < spec->disks->len; i++) {
        g_assert_cmpuint(disk_at(spec, i)->boot_order, ==, 0);
        g_assert_null(disk_at(spec, i)->serial);
        g_assert_cmpint(disk_at(spec, i)->cache, ==, PODVM_DISK_CACHE_DEFAULT);
    }

    g_assert_cmpstr(podvm_disk_bus_to_string(PODVM_DISK_BUS_SATA), ==, "sata");
    g_assert_cmpstr(podvm_disk_kind_to_string(PODVM_DISK_KIND_LUN), ==, "lun");
    g_assert_cmpstr(podvm_volume_source_to_string(PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE), ==,
                    "cloudInitConfigDrive");
    g_assert_cmpstr(podvm_volume_source_to_string(PODVM_VOLUME_DATA_VOLUME), ==, "dataVolume");
}

#define VOLUME_A "{'name': 'a', 'emptyDisk': {'capacity': '1Gi'}}"
#define VOLUME_B "{'name': 'b', 'emptyDisk': {'capacity': '1Gi'}}"
#define DISK_A "{'name': 'a'}"

static void
test_disk_problems(void)
{
    static const char *const cases[][4] = {
        /* disks, volumes, path, message (a part of it) */
        { DISK_A ", {'name': 'b', 'disk': {'bus': 'virtoi'}}", VOLUME_A ", " VOLUME_B,
          "spec.domain.devices.disks[1].disk.bus",
          "unknown bus \"virtoi\"; expected virtio, scsi or sata" },
        { "{'name': 'a', 'cdrom': {'bus': 'usb'}}", VOLUME_A,
          "spec.domain.devices.disks[0].cdrom.bus", "unknown bus \"usb\"" },
        { "{'name': 'a', 'disk': {'bus': 1}}", VOLUME_A, "spec.domain.devices.disks[0].disk.bus",
          "expected a string, got a number" },
        { "{'name': 'a', 'cdrom': {'bus': 'virtio'}}", VOLUME_A,
          "spec.domain.devices.disks[0].cdrom.bus",
          "a cdrom cannot be on the virtio bus; use sata or scsi" },
        { "{'name': 'a', 'cdrom': {'readonly': false}}", VOLUME_A,
          "spec.domain.devices.disks[0].cdrom.readonly", "a cdrom is always read-only" },
        { "{'name': 'a', 'lun': {'bus': 'virtio'}}", VOLUME_A,
          "spec.domain.devices.disks[0].lun.bus",
          "a lun is a SCSI device: it cannot be on the virtio bus; use scsi" },
        { "{'name': 'a', 'lun': {'bus': 'sata'}}", VOLUME_A, "spec.domain.devices.disks[0].lun.bus",
          "use scsi" },
        { "{'name': 'a', 'disk': {}, 'lun': {}}", VOLUME_A, "spec.domain.devices.disks[0]",
          "give only one of disk, cdrom and lun" },
        { "{'name': 'a', 'disk': true}", VOLUME_A, "spec.domain.devices.disks[0].disk",
          "expected an object, got a boolean" },
        { "{'name': 'a', 'disk': {'model': 'virtio'}}", VOLUME_A,
          "spec.domain.devices.disks[0].disk.model", "unknown field" },
        { "{'disk': {}}", "", "spec.domain.devices.disks[0].name", "required" },
        { "{'name': 'A'}", "", "spec.domain.devices.disks[0].name", "\"A\" is not a valid name" },
        { DISK_A ", " DISK_A, VOLUME_A, "spec.domain.devices.disks[1].name",
          "\"a\" is the name of another disk" },
        { DISK_A, "", "spec.domain.devices.disks[0].name",
          "no volume named \"a\" in spec.volumes" },
        { DISK_A ", {'name': 'b'}", VOLUME_A, "spec.domain.devices.disks[1].name",
          "no volume named \"b\" in spec.volumes" },
        { "{'name': 'a', 'bootOrder': 0}", VOLUME_A, "spec.domain.devices.disks[0].bootOrder",
          "must be a whole number from 1 to 65535" },
        { "{'name': 'a', 'bootOrder': 65536}", VOLUME_A, "spec.domain.devices.disks[0].bootOrder",
          "from 1 to 65535" },
        { "{'name': 'a', 'bootOrder': '1'}", VOLUME_A, "spec.domain.devices.disks[0].bootOrder",
          "expected a number, got a string" },
        { "{'name': 'a', 'bootOrder': 2}, {'name': 'b', 'bootOrder': 2}", VOLUME_A ", " VOLUME_B,
          "spec.domain.devices.disks[1].bootOrder",
          "another disk has boot order 2: boot orders are unique" },
        { "{'name': 'a', 'serial': '123456789012345678901'}", VOLUME_A,
          "spec.domain.devices.disks[0].serial", "is not a valid disk serial" },
        { "{'name': 'a', 'serial': 'a b'}", VOLUME_A, "spec.domain.devices.disks[0].serial",
          "1 to 20 letters, digits" },
        { "{'name': 'a', 'serial': ''}", VOLUME_A, "spec.domain.devices.disks[0].serial",
          "is not a valid disk serial" },
        { "{'name': 'a', 'cache': 'unsafe'}", VOLUME_A, "spec.domain.devices.disks[0].cache",
          "unknown value \"unsafe\": use none, writethrough or writeback" },
        { "{'name': 'a', 'readonly': true}", VOLUME_A, "spec.domain.devices.disks[0].readonly",
          "write disk.readonly" },
        { "{'name': 'a', 'cdrom': {}, 'readonly': true}", VOLUME_A,
          "spec.domain.devices.disks[0].readonly", "write cdrom.readonly" },
        { "{'name': 'a', 'dedicatedIOThread': true}", VOLUME_A,
          "spec.domain.devices.disks[0].dedicatedIOThread", "not supported yet" },
        { "{'name': 'a', 'io': 'native'}", VOLUME_A, "spec.domain.devices.disks[0].io",
          "not supported yet" },
        { "{'name': 'a', 'blockSize': {'matchVolume': {'enabled': true}}}", VOLUME_A,
          "spec.domain.devices.disks[0].blockSize", "not supported yet" },
        { "{'name': 'a', 'shareable': true}", VOLUME_A, "spec.domain.devices.disks[0].shareable",
          "not supported yet" },
        { "{'name': 'a', 'tag': 'x'}", VOLUME_A, "spec.domain.devices.disks[0].tag",
          "not supported yet" },
        { "{'name': 'a', 'errorPolicy': 'stop'}", VOLUME_A,
          "spec.domain.devices.disks[0].errorPolicy", "not supported yet" },
        { "{'name': 'a', 'disk': {'pciAddress': '0000:81:01.0'}}", VOLUME_A,
          "spec.domain.devices.disks[0].disk.pciAddress", "not supported yet" },
        { "{'name': 'a', 'cdrom': {'tray': 'open'}}", VOLUME_A,
          "spec.domain.devices.disks[0].cdrom.tray", "not supported yet" },
        { "{'name': 'a', 'lun': {'reservation': true}}", VOLUME_A,
          "spec.domain.devices.disks[0].lun.reservation", "not supported yet" },
        { "{'name': 'a', 'floppy': {}}", VOLUME_A, "spec.domain.devices.disks[0].floppy",
          "unknown field" },
        { "'a'", "", "spec.domain.devices.disks[0]", "expected an object, got a string" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = disk_pod(cases[i][0], cases[i][1]);

        g_test_message("%s / %s", cases[i][0], cases[i][1]);
        assert_only_problem(json, cases[i][2], cases[i][3]);
    }

    /* Off values of fields podvm does not do yet are fine. */
    {
        g_autofree char *json =
            disk_pod("{'name': 'a', 'dedicatedIOThread': false, 'shareable': false, "
                     "'blockSize': {}, 'lun': {'reservation': false}}",
                     VOLUME_A);
        g_autoptr(PodvmSpec) spec = parse_ok(json);

        g_assert_cmpint(disk_at(spec, 0)->kind, ==, PODVM_DISK_KIND_LUN);
    }
    /* Not an array: no disk-volume checks on top. */
    {
        g_autofree char *json = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                  "{'name': 'p'}, 'spec': {'domain': {'devices': "
                                  "{'disks': {'name': 'a'}}}, 'volumes': [" VOLUME_A "]}}");

        assert_only_problem(json, "spec.domain.devices.disks", "expected an array, got an object");
    }
    /* Too many disks. */
    {
        g_autoptr(GString) disks = g_string_new(NULL);
        g_autoptr(GString) volumes = g_string_new(NULL);
        g_autofree char *json = NULL;
        g_autoptr(GPtrArray) problems = NULL;

        for (i = 0; i < 257; i++) {
            g_string_append_printf(disks, "%s{'name': 'd%u'}", i > 0 ? ", " : "", (guint)i);
            g_string_append_printf(volumes, "%s{'name': 'd%u', 'emptyDisk': {'capacity': 1}}",
                                   i > 0 ? ", " : "", (guint)i);
        }
        json = disk_pod(disks->str, volumes->str);
        problems = parse_fail(json);
        assert_problem(problems, "spec.domain.devices.disks",
                       "has 257 disks: a pod has at most 256");
        assert_problem(problems, "spec.volumes", "has 257 volumes");
        g_assert_cmpuint(problems->len, ==, 2);
    }
}

static void
test_volume_problems(void)
{
    static const char *const cases[][4] = {
        /* disks, volumes, path, message (a part of it) */
        { DISK_A, VOLUME_A ", " VOLUME_A, "spec.volumes[1].name",
          "\"a\" is the name of another volume" },
        { DISK_A, VOLUME_A ", " VOLUME_B, "spec.volumes[1].name",
          "no disk uses this volume: add a disk named \"b\" to spec.domain.devices.disks" },
        { DISK_A, VOLUME_A ", {'emptyDisk': {'capacity': '1Gi'}}", "spec.volumes[1].name",
          "required" },
        { DISK_A, VOLUME_A ", {'name': 'a_b', 'emptyDisk': {'capacity': '1Gi'}}",
          "spec.volumes[1].name", "not a valid name" },
        { DISK_A, "{'name': 'a'}", "spec.volumes[0]",
          "required: a source, one of hostDisk, emptyDisk, ephemeral, containerDisk, "
          "cloudInitNoCloud, cloudInitConfigDrive, persistentVolumeClaim, dataVolume" },
        { DISK_A,
          "{'name': 'a', 'hostDisk': {'path': '/a', 'type': 'Disk'}, 'emptyDisk': {'capacity': "
          "'1Gi'}}",
          "spec.volumes[0]", "has 2 sources (hostDisk, emptyDisk): give only one of hostDisk" },
        { DISK_A, "{'name': 'a', 'configMap': {'name': 'c'}}", "spec.volumes[0].configMap",
          "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'secret': {'secretName': 's'}}", "spec.volumes[0].secret",
          "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'serviceAccount': {}}", "spec.volumes[0].serviceAccount",
          "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'downwardAPI': {'fields': []}}", "spec.volumes[0].downwardAPI",
          "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'downwardMetrics': {}}", "spec.volumes[0].downwardMetrics",
          "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'sysprep': {}}", "spec.volumes[0].sysprep",
          "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'memoryDump': {}}", "spec.volumes[0].memoryDump",
          "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'emptyDisk': {'capacity': 1}, 'gitRepo': {}}",
          "spec.volumes[0].gitRepo", "unknown field" },
        /* hostDisk */
        { DISK_A, "{'name': 'a', 'hostDisk': {'type': 'Disk'}}", "spec.volumes[0].hostDisk.path",
          "required" },
        { DISK_A, "{'name': 'a', 'hostDisk': {'path': 'x.img', 'type': 'Disk'}}",
          "spec.volumes[0].hostDisk.path", "\"x.img\" is not an absolute path" },
        { DISK_A, "{'name': 'a', 'hostDisk': {'path': '/srv/../etc/shadow', 'type': 'Disk'}}",
          "spec.volumes[0].hostDisk.path", "has a \"..\" component" },
        { DISK_A, "{'name': 'a', 'hostDisk': {'path': '/srv/a\\nb', 'type': 'Disk'}}",
          "spec.volumes[0].hostDisk.path", "control characters" },
        { DISK_A, "{'name': 'a', 'hostDisk': {'path': '/a'}}", "spec.volumes[0].hostDisk.type",
          "required: \"Disk\"" },
        { DISK_A, "{'name': 'a', 'hostDisk': {'path': '/a', 'type': 'File'}}",
          "spec.volumes[0].hostDisk.type", "unknown value \"File\": use Disk or DiskOrCreate" },
        { DISK_A, "{'name': 'a', 'hostDisk': {'path': '/a', 'type': 'DiskOrCreate'}}",
          "spec.volumes[0].hostDisk.capacity", "required with type DiskOrCreate" },
        { DISK_A,
          "{'name': 'a', 'hostDisk': {'path': '/a', 'type': 'DiskOrCreate', 'capacity': '0'}}",
          "spec.volumes[0].hostDisk.capacity", "must be more than 0" },
        { DISK_A, "{'name': 'a', 'hostDisk': {'path': '/a', 'type': 'Disk', 'shared': true}}",
          "spec.volumes[0].hostDisk.shared", "not supported yet" },
        /* emptyDisk */
        { DISK_A, "{'name': 'a', 'emptyDisk': {}}", "spec.volumes[0].emptyDisk.capacity",
          "required" },
        { DISK_A, "{'name': 'a', 'emptyDisk': {'capacity': '-1Gi'}}",
          "spec.volumes[0].emptyDisk.capacity", "negative" },
        { DISK_A, "{'name': 'a', 'emptyDisk': []}", "spec.volumes[0].emptyDisk",
          "expected an object, got an array" },
        /* ephemeral */
        { DISK_A, "{'name': 'a', 'ephemeral': {}}", "spec.volumes[0].ephemeral",
          "give the base: persistentVolumeClaim: {claimName} or image" },
        { DISK_A,
          "{'name': 'a', 'ephemeral': {'image': '/b', 'persistentVolumeClaim': {'claimName': "
          "'b'}}}",
          "spec.volumes[0].ephemeral", "not both" },
        { DISK_A, "{'name': 'a', 'ephemeral': {'persistentVolumeClaim': {}}}",
          "spec.volumes[0].ephemeral.persistentVolumeClaim.claimName", "required" },
        { DISK_A,
          "{'name': 'a', 'ephemeral': {'persistentVolumeClaim': {'claimName': 'b', "
          "'hotpluggable': false}}}",
          "spec.volumes[0].ephemeral.persistentVolumeClaim.hotpluggable", "unknown field" },
        { DISK_A, "{'name': 'a', 'ephemeral': {'image': 'base.qcow2'}}",
          "spec.volumes[0].ephemeral.image", "not an absolute path" },
        /* containerDisk */
        { DISK_A, "{'name': 'a', 'containerDisk': {}}", "spec.volumes[0].containerDisk.image",
          "required" },
        { DISK_A, "{'name': 'a', 'containerDisk': {'image': 'quay.io/ContainerDisks/fedora'}}",
          "spec.volumes[0].containerDisk.image", "is not an image reference podvm can use" },
        { DISK_A,
          "{'name': 'a', 'containerDisk': {'image': 'quay.io/containerdisks/fedora@md5:00'}}",
          "spec.volumes[0].containerDisk.image", "is not an image reference podvm can use" },
        { DISK_A, "{'name': 'a', 'containerDisk': {'image': 'fedora:'}}",
          "spec.volumes[0].containerDisk.image", "is not an image reference podvm can use" },
        { DISK_A, "{'name': 'a', 'containerDisk': {'image': 'oci:layout:tag'}}",
          "spec.volumes[0].containerDisk.image", "with DIR an absolute path" },
        { DISK_A, "{'name': 'a', 'containerDisk': {'image': 'oci:/srv/layout:'}}",
          "spec.volumes[0].containerDisk.image", "not a local OCI layout podvm can use" },
        { DISK_A, "{'name': 'a', 'containerDisk': {'image': 'docker://'}}",
          "spec.volumes[0].containerDisk.image", "not an image reference" },
        { DISK_A, "{'name': 'a', 'containerDisk': {'image': 'oci:/srv/x', 'path': 'disk/a'}}",
          "spec.volumes[0].containerDisk.path", "not an absolute path" },
        { DISK_A,
          "{'name': 'a', 'containerDisk': {'image': 'oci:/srv/x', 'imagePullPolicy': "
          "'Sometimes'}}",
          "spec.volumes[0].containerDisk.imagePullPolicy",
          "unknown value \"Sometimes\": use IfNotPresent, Always or Never" },
        { DISK_A, "{'name': 'a', 'containerDisk': {'image': 'oci:/srv/x', 'imagePullSecret': 's'}}",
          "spec.volumes[0].containerDisk.imagePullSecret",
          "not supported by podvm; podvm runs no Kubernetes API: podvmd reads registry "
          "credentials from the file podvmd.conf's [images] auth_file names" },
        /* KubeVirt v1alpha1's registryDisk: said what to write instead, and nothing else. */
        { DISK_A, "{'name': 'a', 'registryDisk': {'image': 'kubevirt/cirros-registry-disk-demo'}}",
          "spec.volumes[0].registryDisk",
          "not supported by podvm; it is KubeVirt v1alpha1's name of containerDisk: write "
          "containerDisk" },
        /* cloud-init */
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {}}", "spec.volumes[0].cloudInitNoCloud",
          "required: userData or userDataBase64" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'metaData': 'm'}}",
          "spec.volumes[0].cloudInitNoCloud", "required" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'userData': 'a', 'userDataBase64': 'YQ=='}}",
          "spec.volumes[0].cloudInitNoCloud.userDataBase64",
          "give either userData or userDataBase64, not both" },
        { DISK_A,
          "{'name': 'a', 'cloudInitNoCloud': {'networkData': 'a', 'networkDataBase64': "
          "'YQ=='}}",
          "spec.volumes[0].cloudInitNoCloud.networkDataBase64", "not both" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'userDataBase64': 'abc'}}",
          "spec.volumes[0].cloudInitNoCloud.userDataBase64", "is not valid base64" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'userDataBase64': 'YQ=a'}}",
          "spec.volumes[0].cloudInitNoCloud.userDataBase64", "is not valid base64" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'userDataBase64': 'Y-Q_'}}",
          "spec.volumes[0].cloudInitNoCloud.userDataBase64", "is not valid base64" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'networkDataBase64': '/w=='}}",
          "spec.volumes[0].cloudInitNoCloud.networkDataBase64", "does not decode to UTF-8" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'userDataBase64': 'YQBi'}}",
          "spec.volumes[0].cloudInitNoCloud.userDataBase64", "NUL" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'userData': 1}}",
          "spec.volumes[0].cloudInitNoCloud.userData", "expected a string, got a number" },
        { DISK_A, "{'name': 'a', 'cloudInitNoCloud': {'secretRef': {'name': 's'}}}",
          "spec.volumes[0].cloudInitNoCloud.secretRef",
          "not supported by podvm; podvm has no Kubernetes secrets" },
        { DISK_A,
          "{'name': 'a', 'cloudInitNoCloud': {'userData': 'u', 'networkDataSecretRef': "
          "{'name': 's'}}}",
          "spec.volumes[0].cloudInitNoCloud.networkDataSecretRef", "not supported by podvm" },
        { DISK_A, "{'name': 'a', 'cloudInitConfigDrive': {'userData': 'u', 'metaData': 'm'}}",
          "spec.volumes[0].cloudInitConfigDrive.metaData", "unknown field" },
        { DISK_A, "{'name': 'a', 'cloudInitConfigDrive': {'userDataBase64': '!!!!'}}",
          "spec.volumes[0].cloudInitConfigDrive.userDataBase64", "is not valid base64" },
        /* persistentVolumeClaim, dataVolume */
        { DISK_A, "{'name': 'a', 'persistentVolumeClaim': {}}",
          "spec.volumes[0].persistentVolumeClaim.claimName", "required" },
        { DISK_A, "{'name': 'a', 'persistentVolumeClaim': {'claimName': 'Big_Data'}}",
          "spec.volumes[0].persistentVolumeClaim.claimName", "not a valid name" },
        { DISK_A, "{'name': 'a', 'persistentVolumeClaim': {'claimName': 'b', 'readOnly': 'no'}}",
          "spec.volumes[0].persistentVolumeClaim.readOnly", "expected a boolean, got a string" },
        { DISK_A,
          "{'name': 'a', 'persistentVolumeClaim': {'claimName': 'b', 'hotpluggable': true}}",
          "spec.volumes[0].persistentVolumeClaim.hotpluggable", "not supported yet" },
        { DISK_A, "{'name': 'a', 'dataVolume': {}}", "spec.volumes[0].dataVolume.name",
          "required" },
        { DISK_A, "{'name': 'a', 'dataVolume': {'name': 'dv', 'hotpluggable': true}}",
          "spec.volumes[0].dataVolume.hotpluggable", "not supported yet" },
        { DISK_A, "{'name': 'a', 'dataVolume': {'name': 'dv', 'source': {}}}",
          "spec.volumes[0].dataVolume.source", "unknown field" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = disk_pod(cases[i][0], cases[i][1]);

        g_test_message("%s / %s", cases[i][0], cases[i][1]);
        assert_only_problem(json, cases[i][2], cases[i][3]);
    }

    /* Not an array: no disk-volume checks on top. */
    {
        g_autofree char *json = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                  "{'name': 'p'}, 'spec': {'domain': {'devices': "
                                  "{'disks': [" DISK_A "]}}, 'volumes': {'a': {}}}}");

        assert_only_problem(json, "spec.volumes", "expected an array, got an object");
    }
    /* In a VirtualMachine, paths are those of the template. */
    {
        g_autofree char *json = q("{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', "
                                  "'metadata': {'name': 'vm'}, 'spec': {'template': {'spec': "
                                  "{'domain': {'devices': {'disks': [" DISK_A "]}}}}}}");

        assert_only_problem(json, "spec.template.spec.domain.devices.disks[0].name",
                            "no volume named \"a\" in spec.template.spec.volumes");
    }
}

static void
test_disks_multi_error(void)
{
    static const char *const expected[][2] = {
        { "spec.domain.devices.disks[0].disk.bus",
          "unknown bus \"virtoi\"; expected virtio, scsi or sata" },
        { "spec.domain.devices.disks[1].cdrom.bus", "cannot be on the virtio bus" },
        { "spec.domain.devices.disks[1].cdrom.readonly", "always read-only" },
        { "spec.domain.devices.disks[1].bootOrder", "another disk has boot order 1" },
        { "spec.domain.devices.disks[2].lun.bus", "use scsi" },
        { "spec.domain.devices.disks[2].serial", "not a valid disk serial" },
        { "spec.domain.devices.disks[3].cache", "unknown value \"unsafe\"" },
        { "spec.domain.devices.disks[3].name", "\"root\" is the name of another disk" },
        { "spec.domain.devices.disks[4]", "give only one of disk, cdrom and lun" },
        { "spec.domain.devices.disks[4].name", "no volume named \"missing\" in spec.volumes" },
        { "spec.domain.devices.disks[5].name", "\"Bad_Name\" is not a valid name" },
        { "spec.domain.devices.disks[5].readonly", "write disk.readonly" },
        { "spec.domain.devices.disks[5].bootOrder", "from 1 to 65535" },
        { "spec.domain.devices.disks[6].io", "not supported yet" },
        { "spec.domain.devices.disks[6].dedicatedIOThread", "not supported yet" },
        { "spec.domain.devices.disks[6].name", "required" },
        { "spec.domain.devices.disks[6].disk.pciAddress", "not supported yet" },
        { "spec.domain.devices.disks[7].tag", "not supported yet" },
        { "spec.volumes[0].hostDisk.path", "not an absolute path" },
        { "spec.volumes[1].hostDisk.path", "\"..\" component" },
        { "spec.volumes[1].hostDisk.type", "required" },
        { "spec.volumes[2].emptyDisk.capacity", "required" },
        { "spec.volumes[3].name", "no disk uses this volume" },
        { "spec.volumes[4].cloudInitNoCloud.secretRef", "not supported by podvm" },
        { "spec.volumes[4].cloudInitNoCloud.userDataBase64", "not valid base64" },
        { "spec.volumes[5].containerDisk.imagePullSecret", "not supported by podvm" },
        { "spec.volumes[5].containerDisk.image", "not a local OCI layout" },
        { "spec.volumes[6].ephemeral", "not both" },
        { "spec.volumes[7].persistentVolumeClaim.hotpluggable", "not supported yet" },
        { "spec.volumes[7].persistentVolumeClaim.claimName", "required" },
        { "spec.volumes[7].persistentVolumeClaim.readOnly", "expected a boolean" },
        { "spec.volumes[8].dataVolume.name", "\"DV\" is not a valid name" },
        { "spec.volumes[9]", "has 2 sources (hostDisk, emptyDisk)" },
        { "spec.volumes[10]", "required: a source" },
        { "spec.volumes[11].secret", "not supported by podvm" },
        { "spec.volumes[12].cloudInitConfigDrive.metaData", "unknown field" },
        { "spec.volumes[12].cloudInitConfigDrive.userDataBase64", "not both" },
        { "spec.volumes[13].name", "\"root\" is the name of another volume" },
    };
    g_autofree char *json = spec_file_contents("invalid-disks.json");
    g_autoptr(GPtrArray) problems = parse_fail(json);
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(expected); i++)
        assert_problem(problems, expected[i][0], expected[i][1]);
    g_assert_cmpuint(problems->len, ==, G_N_ELEMENTS(expected));
}

static void
test_boot_kernel_or_disk(void)
{
    g_autofree char *disk_only = disk_pod(DISK_A, VOLUME_A);
    g_autofree char *empty = disk_pod("", "");
    g_autofree char *apps_and_disk = q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': "
                                       "{'name': 'p'}, 'spec': {'domain': {'devices': {'disks': "
                                       "[" DISK_A "]}}, 'volumes': [" VOLUME_A "], 'apps': "
                                       "[{'name': 'a', 'image': 'oci:x'}]}}");
    g_autofree char *bad_disk = disk_pod("{'name': 'a', 'disk': {'bus': 'ide'}}", VOLUME_A);
    g_autoptr(PodvmSpec) spec = parse_ok(disk_only);
    g_autoptr(PodvmSpec) with_apps = parse_ok(apps_and_disk);

    g_assert_null(spec->kernel_path);
    g_assert_cmpuint(spec->disks->len, ==, 1);
    g_assert_cmpuint(with_apps->apps->len, ==, 1);
    /* Apps with a disk to boot: the disk boots, the apps only size the VM. */
    g_assert_false(podvm_spec_uses_app_guest(with_apps));
    g_assert_false(podvm_spec_uses_app_guest(spec));

    /* Empty lists give nothing to boot. */
    assert_only_problem(empty, "spec.domain.firmware.kernelBoot",
                        "give a kernel to boot (firmware.kernelBoot) or a disk");
    /* A disk with a problem is still a disk: only its own problem. */
    assert_only_problem(bad_disk, "spec.domain.devices.disks[0].disk.bus", "unknown bus");
}

static void
test_cloud_init_texts(void)
{
    g_autofree char *limit_text = g_strnfill(256 * 1024, 'x');
    g_autofree char *over_text = g_strnfill(256 * 1024 + 1, 'x');
    g_autofree char *over_base64 = g_base64_encode((const guchar *)over_text, strlen(over_text));
    g_autofree char *limit_volume =
        g_strdup_printf("{'name': 'a', 'cloudInitNoCloud': {'userData': '%s', 'metaData': '%s'}}",
                        limit_text, limit_text);
    g_autofree char *over_volume = g_strdup_printf(
        "{'name': 'a', 'cloudInitNoCloud': {'userData': 'u', 'networkData': '%s'}}", over_text);
    g_autofree char *over_meta = g_strdup_printf(
        "{'name': 'a', 'cloudInitNoCloud': {'userData': 'u', 'metaData': '%s'}}", over_text);
    g_autofree char *over_base64_volume = g_strdup_printf(
        "{'name': 'a', 'cloudInitConfigDrive': {'userDataBase64': '%s'}}", over_base64);
    g_autofree char *limit_json = disk_pod(DISK_A, limit_volume);
    g_autofree char *over_json = disk_pod(DISK_A, over_volume);
    g_autofree char *over_meta_json = disk_pod(DISK_A, over_meta);
    g_autofree char *over_base64_json = disk_pod(DISK_A, over_base64_volume);
    g_autofree char *lines = disk_pod(DISK_A, "{'name': 'a', 'cloudInitConfigDrive': "
                                              "{'userDataBase64': 'aGVs\\r\\nbG8=\\n'}}");
    g_autofree char *empty = disk_pod(DISK_A, "{'name': 'a', 'cloudInitNoCloud': "
                                              "{'userDataBase64': ''}}");
    g_autoptr(PodvmSpec) at_limit = parse_ok(limit_json);
    g_autoptr(PodvmSpec) with_lines = parse_ok(lines);
    g_autoptr(PodvmSpec) empty_spec = parse_ok(empty);

    g_assert_cmpuint(strlen(volume_at(at_limit, 0)->user_data), ==, 256 * 1024);
    assert_round_trip(at_limit);
    assert_only_problem(over_json, "spec.volumes[0].cloudInitNoCloud.networkData",
                        "is 262145 bytes long: cloud-init data has at most 256 KiB");
    assert_only_problem(over_meta_json, "spec.volumes[0].cloudInitNoCloud.metaData",
                        "at most 256 KiB");
    assert_only_problem(over_base64_json, "spec.volumes[0].cloudInitConfigDrive.userDataBase64",
                        "decodes to 262145 bytes");

    /* Line breaks in base64 are skipped, as Go's decoder (KubeVirt's) does. */
    g_assert_cmpstr(volume_at(with_lines, 0)->user_data, ==, "hello");
    g_assert_true(volume_at(with_lines, 0)->user_data_was_base64);
    assert_round_trip(with_lines);
    g_assert_cmpstr(volume_at(empty_spec, 0)->user_data, ==, "");
    assert_round_trip(empty_spec);
}

/* ------------------------------------------------------------------------ */
/* Hotplug attachments */

static void
attachment_fail(const char *json, const char *path, const char *needle, guint n_problems)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    PodvmSpecDisk *disk = (PodvmSpecDisk *)0x1;
    PodvmSpecVolume *volume = (PodvmSpecVolume *)0x1;

    g_test_message("%.200s", json);
    g_assert_false(podvm_spec_parse_disk_attachment(json, -1, &disk, &volume, &problems, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_test_message("%s", error->message);
    /* Out-parameters are left alone. */
    g_assert_true(disk == (PodvmSpecDisk *)0x1);
    g_assert_true(volume == (PodvmSpecVolume *)0x1);
    g_assert_nonnull(problems);
    assert_problem(problems, path, needle);
    g_assert_cmpuint(problems->len, ==, n_problems);
}

static void
test_attachment_good(void)
{
    g_autofree char *json = q("{'disk': {'name': 'data', 'disk': {'bus': 'scsi'}, "
                              "'serial': 'D1', 'cache': 'none'}, 'volume': {'name': 'data', "
                              "'persistentVolumeClaim': {'claimName': 'pool-vol'}}}");
    g_autofree char *cdrom = q("{'volume': {'name': 'seed', 'cloudInitNoCloud': "
                               "{'userData': '#cloud-config'}}, 'disk': {'name': 'seed', "
                               "'cdrom': {}}}");
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;
    g_autoptr(PodvmSpecDisk) seed_disk = NULL;
    g_autoptr(PodvmSpecVolume) seed_volume = NULL;
    g_autoptr(PodvmSpecDisk) disk_again = NULL;
    g_autoptr(PodvmSpecVolume) volume_again = NULL;
    g_autoptr(JsonNode) disk_node = NULL;
    g_autoptr(JsonNode) volume_node = NULL;
    g_autoptr(JsonObject) both = json_object_new();
    g_autoptr(JsonNode) both_node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *disk_text = NULL;
    g_autofree char *both_text = NULL;

    g_assert_true(podvm_spec_parse_disk_attachment(json, -1, &disk, &volume, NULL, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(disk->name, ==, "data");
    g_assert_cmpint(disk->kind, ==, PODVM_DISK_KIND_DISK);
    g_assert_cmpint(disk->bus, ==, PODVM_DISK_BUS_SCSI);
    g_assert_cmpstr(disk->serial, ==, "D1");
    g_assert_cmpint(disk->cache, ==, PODVM_DISK_CACHE_NONE);
    g_assert_cmpstr(volume->name, ==, "data");
    g_assert_cmpint(volume->source, ==, PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM);
    g_assert_cmpstr(volume->claim_name, ==, "pool-vol");

    /* The native entries, and back. */
    disk_node = podvm_spec_disk_to_json(disk);
    volume_node = podvm_spec_volume_to_json(volume);
    disk_text = json_to_string(disk_node, FALSE);
    g_assert_cmpstr(disk_text, ==,
                    "{\"name\":\"data\",\"disk\":{\"bus\":\"scsi\"},\"serial\":\"D1\","
                    "\"cache\":\"none\"}");
    json_object_set_member(both, "disk", g_steal_pointer(&disk_node));
    json_object_set_member(both, "volume", g_steal_pointer(&volume_node));
    json_node_set_object(both_node, both);
    both_text = json_to_string(both_node, FALSE);
    g_assert_true(
        podvm_spec_parse_disk_attachment(both_text, -1, &disk_again, &volume_again, NULL, &error));
    g_assert_no_error(error);
    assert_disk_equal(disk, disk_again);
    assert_volume_equal(volume, volume_again);

    /* Defaults as in a pod; the out-parameters are optional. */
    g_assert_true(
        podvm_spec_parse_disk_attachment(cdrom, -1, &seed_disk, &seed_volume, NULL, &error));
    g_assert_no_error(error);
    g_assert_cmpint(seed_disk->kind, ==, PODVM_DISK_KIND_CDROM);
    g_assert_cmpint(seed_disk->bus, ==, PODVM_DISK_BUS_SATA);
    g_assert_true(seed_disk->readonly);
    g_assert_cmpstr(seed_volume->user_data, ==, "#cloud-config");
    g_assert_true(podvm_spec_parse_disk_attachment(cdrom, -1, NULL, NULL, NULL, &error));
    g_assert_no_error(error);
}

static void
test_attachment_bad(void)
{
    static const struct {
        const char *json;
        const char *path;
        const char *needle;
        guint n_problems;
    } cases[] = {
        { "{'disk': {'name': 'a'}, 'volume': {'name': 'b', 'emptyDisk': {'capacity': '1Gi'}}}",
          "disk.name", "is \"a\" but the volume is named \"b\"", 1 },
        { "{'volume': {'name': 'a', 'emptyDisk': {'capacity': '1Gi'}}}", "disk", "required", 1 },
        { "{'disk': {'name': 'a'}}", "volume", "required", 1 },
        { "{}", "disk", "required", 2 },
        { "{'disk': {'name': 'a'}, 'volume': {'name': 'a', 'emptyDisk': {'capacity': '1Gi'}}, "
          "'pod': 'p'}",
          "pod", "unknown field", 1 },
        { "{'disk': {'name': 'a', 'disk': {'bus': 'usb'}}, 'volume': {'name': 'a', 'emptyDisk': "
          "{'capacity': '1Gi'}}}",
          "disk.disk.bus", "unknown bus \"usb\"; expected virtio, scsi or sata", 1 },
        { "{'disk': {'name': 'a', 'cdrom': {'bus': 'virtio'}}, 'volume': {'name': 'a', "
          "'hostDisk': {'path': 'rel.img', 'type': 'Disk'}}}",
          "volume.hostDisk.path", "not an absolute path", 2 },
        { "{'disk': {'name': 'a', 'cdrom': {'bus': 'virtio'}}, 'volume': {'name': 'a', "
          "'hostDisk': {'path': 'rel.img', 'type': 'Disk'}}}",
          "disk.cdrom.bus", "cannot be on the virtio bus", 2 },
        { "{'disk': {'name': 'a'}, 'volume': {'name': 'a', 'secret': {}}}", "volume.secret",
          "not supported by podvm", 1 },
        { "{'disk': 'a', 'volume': []}", "disk", "expected an object, got a string", 2 },
        { "[]", "", "must be a JSON object, got an array", 1 },
        { "{'disk': {'name': 'a', 'name': 'a'}, 'volume': {'name': 'a', 'emptyDisk': "
          "{'capacity': '1Gi'}}}",
          "disk.name", "given more than once", 1 },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = q(cases[i].json);

        attachment_fail(json, cases[i].path, cases[i].needle, cases[i].n_problems);
    }

    /* The same text-level rules as a pod document. */
    attachment_fail("{'disk': {}}", "", "unexpected character", 1);
    attachment_fail("{\"disk\": {\"name\": \"a\"}, \"volume\": {\"name\": \"a\", \"emptyDisk\": "
                    "{\"capacity\": 18446744073709551617}}}",
                    "volume.emptyDisk.capacity", "out of range", 1);
    attachment_fail("", "", "empty", 1);
    {
        g_autoptr(GString) big = g_string_new("{\"disk\": {\"name\": \"a\"}}");

        while (big->len <= 1024 * 1024)
            g_string_append_c(big, ' ');
        attachment_fail(big->str, "", "at most 1 MiB", 1);
    }
}

/* ------------------------------------------------------------------------ */
/* The apps rule, copy */

static PodvmSpecApp *
make_app(const char *name, guint64 memory, guint64 millicpus)
{
    g_autofree char *json = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(GString) members = g_string_new(NULL);
    PodvmSpecApp *app;

    g_string_append_printf(members, "'apps': [{'name': '%s', 'image': 'oci:x'", name);
    if (memory != 0)
        g_string_append_printf(members, ", 'memory': '%" G_GUINT64_FORMAT "'", memory);
    if (millicpus != 0)
        g_string_append_printf(members, ", 'cpus': '%" G_GUINT64_FORMAT "m'", millicpus);
    g_string_append(members, "}]");
    json = pod("", members->str);
    spec = parse_ok(json);
    app = g_ptr_array_steal_index(spec->apps, 0);
    return app;
}

static void
test_resolve_memory(void)
{
    g_autofree char *json = pod("", "");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    /* No apps, no memory: the system's share. */
    g_assert_cmpuint(podvm_spec_resolve_memory(spec), ==, 128 * MiB);

    /* One app without memory (128Mi), one with 256Mi, plus 128Mi. */
    g_ptr_array_add(spec->apps, make_app("a", 0, 0));
    g_ptr_array_add(spec->apps, make_app("b", 256 * MiB, 0));
    g_assert_cmpuint(podvm_spec_resolve_memory(spec), ==, (128 + 256 + 128) * MiB);

    /* Given memory wins. */
    spec->memory = 3 * GiB;
    g_assert_cmpuint(podvm_spec_resolve_memory(spec), ==, 3 * GiB);

    /* No overflow, even past what the parser lets through (64Ti). */
    spec->memory = 0;
    {
        PodvmSpecApp *big = make_app("c", G_GUINT64_CONSTANT(64) << 40, 0);

        big->memory = G_MAXUINT64;
        g_ptr_array_add(spec->apps, big);
    }
    g_assert_cmpuint(podvm_spec_resolve_memory(spec), ==, G_MAXUINT64);
}

static void
test_resolve_vcpus(void)
{
    g_autofree char *json = pod("", "");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    /* No apps: the host's CPUs. */
    g_assert_cmpuint(podvm_spec_resolve_vcpus(spec, 8), ==, 8);

    /* Apps with 500m and 1: 1.5 rounded up. */
    g_ptr_array_add(spec->apps, make_app("a", 0, 500));
    g_ptr_array_add(spec->apps, make_app("b", 0, 1000));
    g_assert_cmpuint(podvm_spec_resolve_vcpus(spec, 8), ==, 2);

    /* Apps adding up to less than one CPU still get one. */
    g_ptr_array_set_size(spec->apps, 0);
    g_ptr_array_add(spec->apps, make_app("a", 0, 100));
    g_assert_cmpuint(podvm_spec_resolve_vcpus(spec, 8), ==, 1);

    /* One app without cpus: the host's CPUs. */
    g_ptr_array_add(spec->apps, make_app("b", 0, 0));
    g_assert_cmpuint(podvm_spec_resolve_vcpus(spec, 8), ==, 8);

    /* Topology wins; unset members count 1. */
    spec->cpu_cores = 2;
    spec->cpu_sockets = 2;
    g_assert_cmpuint(podvm_spec_resolve_vcpus(spec, 8), ==, 4);
    spec->cpu_cores = 0;
    spec->cpu_sockets = 0;
    spec->cpu_threads = 3;
    g_assert_cmpuint(podvm_spec_resolve_vcpus(spec, 8), ==, 3);
}

static void
test_copy(void)
{
    g_autofree char *json = spec_file_contents("valid-full.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autoptr(PodvmSpec) copy = podvm_spec_copy(spec);
    PodvmSpecApp *app;
    PodvmSpecEnvVar *var;

    assert_spec_equal(spec, copy);
    g_assert_cmpstr(copy->source_kind, ==, spec->source_kind);
    g_assert_cmpint(copy->start_on_create, ==, spec->start_on_create);

    /* Nothing is shared. */
    g_assert_true(copy->name != spec->name);
    g_assert_true(copy->labels != spec->labels);
    g_assert_true(copy->apps != spec->apps);
    g_hash_table_replace(copy->labels, g_strdup("app"), g_strdup("changed"));
    app = g_ptr_array_index(copy->apps, 0);
    g_free(app->args[0]);
    app->args[0] = g_strdup("changed");
    var = g_ptr_array_index(app->env, 0);
    g_free(var->value);
    var->value = g_strdup("changed");
    g_ptr_array_remove_index(copy->apps, 1);

    app = g_ptr_array_index(spec->apps, 0);
    var = g_ptr_array_index(app->env, 0);
    g_assert_cmpstr(g_hash_table_lookup(spec->labels, "app"), ==, "web");
    g_assert_cmpstr(app->args[0], ==, "-g");
    g_assert_cmpstr(var->value, ==, "1");
    g_assert_cmpuint(spec->apps->len, ==, 2);
}

static void
test_copy_disks(void)
{
    g_autofree char *json = spec_file_contents("valid-kubevirt-vmi-disks.json");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autoptr(PodvmSpec) copy = podvm_spec_copy(spec);
    g_autofree char *text = spec_to_string(spec);
    g_autofree char *copy_text = spec_to_string(copy);
    PodvmSpecDisk *disk;
    PodvmSpecVolume *volume;

    assert_spec_equal(spec, copy);
    g_assert_cmpstr(text, ==, copy_text);

    /* Nothing is shared. */
    g_assert_true(copy->disks != spec->disks);
    g_assert_true(copy->volumes != spec->volumes);
    disk = g_ptr_array_index(copy->disks, 0);
    g_free(disk->serial);
    disk->serial = g_strdup("CHANGED");
    volume = g_ptr_array_index(copy->volumes, 7);
    g_free(volume->user_data);
    volume->user_data = g_strdup("changed");
    g_ptr_array_remove_index(copy->volumes, 0);
    g_ptr_array_set_size(copy->disks, 0);

    g_assert_cmpstr(disk_at(spec, 0)->serial, ==, "ROOT-0001");
    g_assert_cmpstr(volume_at(spec, 7)->user_data, ==,
                    "#cloud-config\nhostname: vm-disks\nchpasswd: { expire: False }\n");
    g_assert_cmpuint(spec->disks->len, ==, 11);
    g_assert_cmpuint(spec->volumes->len, ==, 11);

    /* One entry at a time, too. */
    {
        g_autoptr(PodvmSpecDisk) disk_copy = podvm_spec_disk_copy(disk_at(spec, 9));
        g_autoptr(PodvmSpecVolume) volume_copy = podvm_spec_volume_copy(volume_at(spec, 7));

        assert_disk_equal(disk_at(spec, 9), disk_copy);
        assert_volume_equal(volume_at(spec, 7), volume_copy);
        g_assert_true(disk_copy->serial != disk_at(spec, 9)->serial);
        g_assert_true(volume_copy->meta_data != volume_at(spec, 7)->meta_data);
    }
}

static void
test_restart_policy_strings(void)
{
    PodvmRestartPolicy policy = PODVM_RESTART_NEVER;

    g_assert_cmpstr(podvm_restart_policy_to_string(PODVM_RESTART_ALWAYS), ==, "Always");
    g_assert_cmpstr(podvm_restart_policy_to_string(PODVM_RESTART_ON_FAILURE), ==, "OnFailure");
    g_assert_cmpstr(podvm_restart_policy_to_string(PODVM_RESTART_NEVER), ==, "Never");
    g_assert_true(podvm_restart_policy_from_string("OnFailure", &policy));
    g_assert_cmpint(policy, ==, PODVM_RESTART_ON_FAILURE);
    g_assert_false(podvm_restart_policy_from_string("never", &policy));
    g_assert_cmpint(policy, ==, PODVM_RESTART_ON_FAILURE);
}

/* Cloud-init data never shows in answers; the placeholder cannot be stored back. */
static void
test_redacted_cloud_init(void)
{
    const char *doc =
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"ci\"},"
        " \"spec\": {\"domain\": {\"devices\": {\"disks\": [{\"name\": \"d\"}, {\"name\": \"c\","
        " \"cdrom\": {}}]}}, \"volumes\": [{\"name\": \"d\", \"emptyDisk\": {\"capacity\": "
        "\"1Mi\"}},"
        " {\"name\": \"c\", \"cloudInitNoCloud\": {\"userDataBase64\": \"c2VjcmV0\","
        " \"networkData\": \"net-secret\", \"metaData\": \"meta-secret\"}}]}}";
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(doc, -1, NULL, &error);
    g_autoptr(JsonNode) redacted = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) again = NULL;
    g_autofree char *text = NULL;

    g_assert_no_error(error);
    redacted = podvm_spec_to_json_redacted(spec);
    text = json_to_string(redacted, FALSE);
    g_assert_null(strstr(text, "net-secret"));
    g_assert_null(strstr(text, "meta-secret"));
    g_assert_null(strstr(text, "c2VjcmV0"));
    g_assert_null(strstr(text, "\"secret\""));
    g_assert_nonnull(strstr(text, "(hidden: 6 bytes"));
    /* The spec itself is untouched. */
    g_assert_cmpstr(((PodvmSpecVolume *)g_ptr_array_index(spec->volumes, 1))->user_data, ==,
                    "secret");

    again = podvm_spec_parse_data(text, -1, &problems, &error);
    g_assert_null(again);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_cmpuint(problems->len, ==, 3);
    g_assert_cmpstr(((PodvmSpecProblem *)g_ptr_array_index(problems, 0))->path, ==,
                    "spec.volumes[1].cloudInitNoCloud.userData");
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/common/spec/valid/minimal", test_minimal_defaults);
    g_test_add_func("/podvm/common/spec/valid/full", test_full);
    g_test_add_func("/podvm/common/spec/valid/kubevirt-containerdisk-registry",
                    test_file_containerdisk_registry);
    g_test_add_func("/podvm/common/spec/valid/null-is-absent", test_null_is_absent);
    g_test_add_func("/podvm/common/spec/valid/empty-not-supported", test_empty_not_supported_ok);
    g_test_add_func("/podvm/common/spec/valid/status-ignored", test_status_ignored);
    g_test_add_func("/podvm/common/spec/to-json/form", test_to_json_form);
    g_test_add_func("/podvm/common/spec/round-trip/files", test_round_trip_files);
    g_test_add_func("/podvm/common/spec/round-trip/inline", test_round_trip_inline);
    g_test_add_func("/podvm/common/spec/kubevirt/vmi-example", test_kubevirt_vmi_example);
    g_test_add_func("/podvm/common/spec/kubevirt/vm", test_kubevirt_vm_file);
    g_test_add_func("/podvm/common/spec/kubevirt/vm-run-strategy", test_kubevirt_vm_run_strategy);
    g_test_add_func("/podvm/common/spec/kubevirt/vm-problems", test_kubevirt_vm_problems);
    g_test_add_func("/podvm/common/spec/examples/tiny", test_tiny_example);
    g_test_add_func("/podvm/common/spec/examples/web", test_web_example);
    g_test_add_func("/podvm/common/spec/invalid/api-version-kind", test_api_version_kind);
    g_test_add_func("/podvm/common/spec/invalid/multi-error", test_multi_error);
    g_test_add_func("/podvm/common/spec/invalid/problems-optional", test_problems_optional);
    g_test_add_func("/podvm/common/spec/invalid/unknown-fields", test_unknown_fields);
    g_test_add_func("/podvm/common/spec/invalid/not-supported", test_not_supported);
    g_test_add_func("/podvm/common/spec/invalid/firmware", test_firmware_not_supported);
    g_test_add_func("/podvm/common/spec/invalid/types", test_types);
    g_test_add_func("/podvm/common/spec/invalid/cpu-topology", test_cpu_topology);
    g_test_add_func("/podvm/common/spec/invalid/bootable", test_bootable);
    g_test_add_func("/podvm/common/spec/invalid/missing", test_missing_parts);
    g_test_add_func("/podvm/common/spec/invalid/metadata", test_metadata);
    g_test_add_func("/podvm/common/spec/memory", test_memory_sources);
    g_test_add_func("/podvm/common/spec/names/bad", test_bad_names);
    g_test_add_func("/podvm/common/spec/names/is-valid", test_name_is_valid);
    g_test_add_func("/podvm/common/spec/json/syntax", test_json_syntax);
    g_test_add_func("/podvm/common/spec/json/strict", test_not_strict_json);
    g_test_add_func("/podvm/common/spec/json/bytes", test_bytes_level_checks);
    g_test_add_func("/podvm/common/spec/json/size-limit", test_size_limit);
    g_test_add_func("/podvm/common/spec/json/depth-limit", test_depth_limit);
    g_test_add_func("/podvm/common/spec/json/depth-limit-node", test_depth_limit_node);
    g_test_add_func("/podvm/common/spec/json/lost-by-json-glib", test_lost_by_json_glib);
    g_test_add_func("/podvm/common/spec/invalid/problem-cap", test_problem_cap);
    g_test_add_func("/podvm/common/spec/disks/kubevirt-vmi", test_disks_kubevirt_vmi);
    g_test_add_func("/podvm/common/spec/disks/to-json-form", test_disks_to_json_form);
    g_test_add_func("/podvm/common/spec/disks/round-trip", test_disks_round_trip_inline);
    g_test_add_func("/podvm/common/spec/disks/defaults", test_disk_defaults);
    g_test_add_func("/podvm/common/spec/disks/disk-problems", test_disk_problems);
    g_test_add_func("/podvm/common/spec/disks/volume-problems", test_volume_problems);
    g_test_add_func("/podvm/common/spec/disks/multi-error", test_disks_multi_error);
    g_test_add_func("/podvm/common/spec/disks/boot-kernel-or-disk", test_boot_kernel_or_disk);
    g_test_add_func("/podvm/common/spec/disks/cloud-init-texts", test_cloud_init_texts);
    g_test_add_func("/podvm/common/spec/attachment/good", test_attachment_good);
    g_test_add_func("/podvm/common/spec/attachment/bad", test_attachment_bad);
    g_test_add_func("/podvm/common/spec/resolve/memory", test_resolve_memory);
    g_test_add_func("/podvm/common/spec/resolve/vcpus", test_resolve_vcpus);
    g_test_add_func("/podvm/common/spec/copy", test_copy);
    g_test_add_func("/podvm/common/spec/copy-disks", test_copy_disks);
    g_test_add_func("/podvm/common/spec/restart-policy", test_restart_policy_strings);

    g_test_add_func("/podvm/common/spec/redacted-cloud-init", test_redacted_cloud_init);
    return g_test_run();
}
