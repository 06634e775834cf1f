/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager's image API (podvm-manager-images.c) in-process against a
 * real docker-registry on loopback: pull with "image-pull" progress events,
 * list with the pods that use each image (inUseBy: the digests pods'
 * status records), remove refused while in use unless forced, prune keeping
 * what pods use.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "podvm-config.h"
#include "podvm-error.h"
#include "podvm-manager.h"
#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestRegistry *reg;
    char *tmp;
    PodvmConfig *config;
    PodvmManager *manager;
    GPtrArray *events; /* of JsonObject*: "image-pull" details */
} Fixture;

static void
event_cb(PodvmManager *manager, const char *pod, const char *type, JsonObject *details,
         gpointer user_data)
{
    Fixture *f = user_data;

    if (g_strcmp0(type, "image-pull") == 0)
        g_ptr_array_add(f->events, json_object_ref(details));
}

static void
new_manager(Fixture *f)
{
    if (f->manager != NULL) {
        g_signal_handlers_disconnect_by_data(f->manager, f);
        g_clear_object(&f->manager);
    }
    f->manager = podvm_manager_new(f->config);
    g_signal_connect(f->manager, "event", G_CALLBACK(event_cb), f);
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *conf = NULL, *conf_path = NULL;
    g_autofree char *kernel = NULL, *kernel_dir = NULL, *kernel_dirs = NULL;

    f->events = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    f->reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    if (f->reg == NULL)
        return;
    f->tmp = podvm_test_mkdtemp();
    kernel = podvm_test_guest_kernel();
    kernel_dir = g_path_get_dirname(kernel);
    kernel_dirs = g_canonicalize_filename(kernel_dir, NULL);
    conf = g_strdup_printf("[daemon]\nstate_dir=%s/state\nrun_dir=%s/run\n[qemu]\nkernel_dirs=%s\n"
                           "[images]\ninsecure_registries=%s\n",
                           f->tmp, f->tmp, kernel_dirs, podvm_test_registry_host(f->reg));
    conf_path = g_build_filename(f->tmp, "podvmd.conf", NULL);
    g_file_set_contents(conf_path, conf, -1, &error);
    g_assert_no_error(error);
    f->config = podvm_config_new_defaults();
    g_assert_true(podvm_config_load_file(f->config, conf_path, TRUE, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_config_finish(f->config, &error));
    g_assert_no_error(error);
    new_manager(f);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    if (f->manager != NULL)
        g_signal_handlers_disconnect_by_data(f->manager, f);
    g_clear_object(&f->manager);
    g_clear_pointer(&f->config, podvm_config_free);
    g_clear_pointer(&f->reg, podvm_test_registry_stop);
    if (f->tmp != NULL)
        podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
    g_ptr_array_unref(f->events);
}

/* A small containerDisk image (a 1 MiB disk starting with @word) pushed as @repo_tag. */
static char *
push_image(Fixture *f, const char *word, const char *repo_tag)
{
    g_autofree char *name = g_strdup_printf("%s.img", word);
    g_autofree char *raw = podvm_test_make_raw_image(f->tmp, name, 1024 * 1024, word);
    g_autofree char *layout = g_build_filename(f->tmp, word, NULL);
    g_autoptr(PodvmTestImage) image = podvm_test_image_new_container_disk(raw, "disk.img");
    g_autofree char *written = podvm_test_image_write_layout(image, layout, "v1", NULL);
    g_autoptr(GError) error = NULL;
    char *digest = NULL;

    g_assert_true(
        podvm_test_registry_push_full(f->reg, layout, "v1", repo_tag, NULL, &digest, &error));
    g_assert_no_error(error);
    return digest;
}

static void
async_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    *(GAsyncResult **)user_data = g_object_ref(result);
}

static GAsyncResult *
wait_result(GAsyncResult **slot)
{
    while (*slot == NULL)
        g_main_context_iteration(NULL, TRUE);
    return *slot;
}

static JsonNode *
pull(Fixture *f, const char *reference, GError **error)
{
    g_autoptr(GAsyncResult) result = NULL;

    podvm_manager_pull_image_async(f->manager, reference, NULL, async_done, &result);
    return podvm_manager_pull_image_finish(f->manager, wait_result(&result), error);
}

static JsonNode *
prune(Fixture *f)
{
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GError) error = NULL;
    JsonNode *node;

    podvm_manager_prune_images_async(f->manager, NULL, async_done, &result);
    node = podvm_manager_prune_images_finish(f->manager, wait_result(&result), &error);
    g_assert_no_error(error);
    return node;
}

/* The listed image whose reference is @reference, or NULL. */
static JsonObject *
find_image(JsonNode *list, const char *reference)
{
    JsonArray *array = json_node_get_array(list);

    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonObject *image = json_array_get_object_element(array, i);

        if (g_strcmp0(json_object_get_string_member(image, "reference"), reference) == 0)
            return image;
    }
    return NULL;
}

static char *
in_use_by(JsonObject *image)
{
    JsonArray *names = json_object_get_array_member(image, "inUseBy");
    g_autoptr(GString) text = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(names); i++)
        g_string_append_printf(text, "%s%s", i > 0 ? "," : "",
                               json_array_get_string_element(names, i));
    return g_string_free(g_steal_pointer(&text), FALSE);
}

/*
 * A pod whose spec names @image in a containerDisk and whose stored status
 * records @digest (as a start that pulled it does), loaded by a new manager.
 */
static void
make_pod_using(Fixture *f, const char *name, const char *image, const char *digest)
{
    g_autofree char *volumes =
        g_strdup_printf("[{\"name\": \"cd\", \"containerDisk\": {\"image\": \"%s\"}}]", image);
    g_autofree char *spec = podvm_test_guest_spec_with(
        name, NULL, "disks", "[{\"name\": \"cd\", \"disk\": {}}]", "volumes", volumes);
    g_autofree char *state = g_build_filename(f->config->state_dir, "pods", name, "pod.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(JsonGenerator) generator = json_generator_new();
    g_autoptr(GError) error = NULL;
    JsonObject *status;
    JsonObject *entry = json_object_new();
    JsonObject *disk = json_object_new();
    JsonArray *entries = json_array_new();

    g_assert_nonnull(podvm_manager_create_pod(f->manager, spec, -1, NULL, &error));
    g_assert_no_error(error);
    g_assert_true(json_parser_load_from_file(parser, state, &error));
    g_assert_no_error(error);
    status =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "status");
    json_object_set_string_member(disk, "image", image);
    json_object_set_string_member(disk, "imageDigest", digest);
    json_object_set_string_member(entry, "name", "cd");
    json_object_set_object_member(entry, "containerDiskVolume", disk);
    json_array_add_object_element(entries, entry);
    json_object_set_array_member(status, "volumeStatus", entries);
    json_generator_set_root(generator, json_parser_get_root(parser));
    g_assert_true(json_generator_to_file(generator, state, &error));
    g_assert_no_error(error);
    new_manager(f);
    podvm_manager_load(f->manager);
}

static void
test_pull_list_remove_prune(Fixture *f, gconstpointer data)
{
    g_autofree char *digest_a = NULL, *digest_b = NULL, *ref_a = NULL, *ref_b = NULL;
    g_autofree char *users = NULL;
    g_autoptr(JsonNode) pulled = NULL, list = NULL, pruned = NULL;
    g_autoptr(GError) error = NULL;
    JsonObject *image;
    JsonObject *last;
    const char *host;

    if (f->reg == NULL)
        return;
    host = podvm_test_registry_host(f->reg);
    digest_a = push_image(f, "ALPHA", "disks/a:v1");
    digest_b = push_image(f, "BRAVO", "disks/b:v1");
    ref_a = g_strdup_printf("%s/disks/a:v1", host);
    ref_b = g_strdup_printf("%s/disks/b:v1", host);

    /* Pull: the image JSON, and progress events ending with "done". */
    pulled = pull(f, ref_a, &error);
    g_assert_no_error(error);
    image = json_node_get_object(pulled);
    g_assert_cmpstr(json_object_get_string_member(image, "reference"), ==, ref_a);
    g_assert_cmpstr(json_object_get_string_member(image, "digest"), ==, digest_a);
    g_assert_cmpint(json_object_get_int_member(image, "size"), >, 0);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(image, "inUseBy")), ==, 0);
    g_assert_cmpuint(f->events->len, >=, 1);
    last = g_ptr_array_index(f->events, f->events->len - 1);
    g_assert_cmpstr(json_object_get_string_member(last, "type"), ==, "image-pull");
    g_assert_cmpstr(json_object_get_string_member(last, "pod"), ==, "");
    g_assert_cmpstr(json_object_get_string_member(last, "phase"), ==, "done");
    g_assert_cmpstr(json_object_get_string_member(last, "reference"), ==, ref_a);
    g_assert_cmpint(json_object_get_int_member(last, "doneBytes"), ==,
                    json_object_get_int_member(last, "totalBytes"));
    g_clear_pointer(&pulled, json_node_unref);
    pulled = pull(f, ref_b, &error);
    g_assert_no_error(error);

    /* A pod records image a: it is in use by it. */
    make_pod_using(f, "user", ref_a, digest_a);
    list = podvm_manager_list_images(f->manager, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 2);
    users = in_use_by(find_image(list, ref_a));
    g_assert_cmpstr(users, ==, "user");
    g_clear_pointer(&users, g_free);
    users = in_use_by(find_image(list, ref_b));
    g_assert_cmpstr(users, ==, "");
    g_clear_pointer(&list, json_node_unref);

    /* Remove: refused while in use (by reference or digest), unless forced later. */
    g_assert_false(podvm_manager_remove_image(f->manager, ref_a, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "'user'"));
    g_clear_error(&error);
    g_assert_false(podvm_manager_remove_image(f->manager, digest_a, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_clear_error(&error);
    g_assert_true(podvm_manager_remove_image(f->manager, ref_b, FALSE, &error));
    g_assert_no_error(error);
    g_assert_false(podvm_manager_remove_image(f->manager, ref_b, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);

    /* Prune: b (pulled again, used by nobody) goes with its blobs; a stays. */
    g_clear_pointer(&pulled, json_node_unref);
    pulled = pull(f, ref_b, &error);
    g_assert_no_error(error);
    pruned = prune(f);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(pruned), "removed"), ==, 1);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(pruned), "freedBytes"), >, 0);
    list = podvm_manager_list_images(f->manager, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 1);
    g_assert_nonnull(find_image(list, ref_a));
    g_clear_pointer(&list, json_node_unref);

    /* Forced: removed although the pod uses it. */
    g_assert_true(podvm_manager_remove_image(f->manager, ref_a, TRUE, &error));
    g_assert_no_error(error);
    list = podvm_manager_list_images(f->manager, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 0);
}

/* The spec's references count for prune too: a pod that names an image keeps it. */
static void
test_prune_keeps_spec_references(Fixture *f, gconstpointer data)
{
    g_autofree char *digest = NULL, *ref = NULL, *spec = NULL, *volumes = NULL;
    g_autoptr(JsonNode) pulled = NULL, pruned = NULL, list = NULL;
    g_autoptr(GError) error = NULL;

    if (f->reg == NULL)
        return;
    digest = push_image(f, "CHARLIE", "disks/c:v1");
    ref = g_strdup_printf("%s/disks/c:v1", podvm_test_registry_host(f->reg));
    pulled = pull(f, ref, &error);
    g_assert_no_error(error);
    volumes = g_strdup_printf("[{\"name\": \"cd\", \"containerDisk\": {\"image\": \"%s\"}}]", ref);
    spec = podvm_test_guest_spec_with("names-it", NULL, "disks",
                                      "[{\"name\": \"cd\", \"disk\": {}}]", "volumes", volumes);
    g_assert_nonnull(podvm_manager_create_pod(f->manager, spec, -1, NULL, &error));
    g_assert_no_error(error);
    pruned = prune(f);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(pruned), "removed"), ==, 0);
    list = podvm_manager_list_images(f->manager, &error);
    g_assert_no_error(error);
    g_assert_nonnull(find_image(list, ref));
}

/* Not a reference: refused before any network. */
static void
test_pull_bad_reference(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonNode) pulled = NULL;
    g_autoptr(GError) error = NULL;

    if (f->reg == NULL)
        return;
    pulled = pull(f, "Not/A/Reference", &error);
    g_assert_null(pulled);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(podvm_manager_remove_image(f->manager, "sha256:0000", FALSE, &error));
    g_assert_nonnull(error);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add("/images/manager/pull-list-remove-prune", Fixture, NULL, fixture_set_up,
               test_pull_list_remove_prune, fixture_tear_down);
    g_test_add("/images/manager/prune-keeps-spec-references", Fixture, NULL, fixture_set_up,
               test_prune_keeps_spec_references, fixture_tear_down);
    g_test_add("/images/manager/pull-bad-reference", Fixture, NULL, fixture_set_up,
               test_pull_bad_reference, fixture_tear_down);
    return g_test_run();
}
