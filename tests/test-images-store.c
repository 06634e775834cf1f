/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image store and the registry client against a real registry:
 * Debian's docker-registry on loopback (tests/podvm-test-registry.c) with
 * images the test builds and pushes with skopeo.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <utime.h>

#include "podvm-error.h"
#include "podvm-image-store.h"
#include "podvm-oci-layout.h"
#include "podvm-registry-manifest.h"
#include "podvm-test-image.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmImage *image;
    GError *error;
    gboolean done;
    guint progress_calls;
    guint64 last_done;
    guint64 last_total;
    char *last_phase;
    gboolean went_back;
} PullResult;

static void
pull_result_clear(PullResult *result)
{
    podvm_image_free(result->image);
    g_clear_error(&result->error);
    g_free(result->last_phase);
}

static void
progress_cb(const PodvmPullProgress *progress, gpointer user_data)
{
    PullResult *result = user_data;

    result->progress_calls++;
    if (progress->done_bytes < result->last_done)
        result->went_back = TRUE;
    result->last_done = progress->done_bytes;
    result->last_total = progress->total_bytes;
    g_free(result->last_phase);
    result->last_phase = g_strdup(progress->phase);
    g_assert_cmpuint(progress->layers_done, <=, progress->layers_total);
}

static void
pulled_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    PullResult *result = user_data;

    result->image = podvm_image_store_pull_finish(PODVM_IMAGE_STORE(source), res, &result->error);
    result->done = TRUE;
}

static gboolean
is_done(gpointer user_data)
{
    return ((PullResult *)user_data)->done;
}

static void
pull_start(PodvmImageStore *store, const char *ref, PodvmPullPolicy policy, PullResult *result)
{
    memset(result, 0, sizeof(*result));
    podvm_image_store_pull_async(store, ref, policy, progress_cb, result, NULL, pulled_cb, result);
}

static void
pull_wait(PullResult *result)
{
    g_assert_true(podvm_test_wait_until(is_done, result, 120000));
}

static void
pull(PodvmImageStore *store, const char *ref, PodvmPullPolicy policy, PullResult *result)
{
    pull_start(store, ref, policy, result);
    pull_wait(result);
}

static PodvmImageStore *
store_new(const char *dir, PodvmTestRegistry *reg, PodvmImageStoreOptions *options)
{
    PodvmImageStoreOptions defaults = { 0 };
    const char *insecure[] = { podvm_test_registry_host(reg), NULL };
    g_autoptr(GError) error = NULL;
    PodvmImageStore *store;

    if (options == NULL)
        options = &defaults;
    if (options->insecure_registries == NULL)
        options->insecure_registries = (GStrv)insecure;
    options->os = "linux";
    options->architecture = "amd64";
    store = podvm_image_store_new(dir, options, &error);
    g_assert_no_error(error);
    return store;
}

static char *
blob_path(const char *dir, const char *digest)
{
    return g_build_filename(dir, "blobs", "sha256", digest + strlen("sha256:"), NULL);
}

static guint
count_files(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    guint n = 0;

    while (d != NULL && g_dir_read_name(d) != NULL)
        n++;
    return n;
}

/* An image of @n_layers small layers whose content depends on @seed. */
static PodvmTestImage *
small_image(const char *seed, guint n_layers)
{
    PodvmTestImage *image = podvm_test_image_new();
    const char *cmd[] = { "/bin/true", NULL };

    for (guint i = 0; i < n_layers; i++) {
        PodvmTestLayer *layer = podvm_test_image_add_layer(image);
        g_autofree char *dirname = g_strdup_printf("layer%u", i);
        g_autofree char *name = g_strdup_printf("layer%u/file", i);
        g_autofree char *fill = g_strnfill(4096 * i, 'x');
        g_autofree char *data = g_strdup_printf("%s layer %u %s", seed, i, fill);

        podvm_test_layer_add_dir(layer, dirname, 0755);
        podvm_test_layer_add_file(layer, name, data, -1, 0644);
    }
    podvm_test_image_set_cmd(image, cmd);
    return image;
}

/* Builds @image in a layout, pushes it as @repo_tag; returns the manifest digest. */
static char *
push_image(PodvmTestRegistry *reg, PodvmTestImage *image, const char *repo_tag)
{
    g_autofree char *layout = podvm_test_mkdtemp();
    g_autoptr(GError) error = NULL;
    char *digest = podvm_test_image_write_layout(image, layout, "t", NULL);

    podvm_test_registry_push(reg, layout, "t", repo_tag, &error);
    g_assert_no_error(error);
    podvm_test_rmrf(layout);
    return digest;
}

static void
test_pull(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(PodvmImage) found = NULL;
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *layout_ref = NULL;
    g_autofree char *tmp = NULL;
    PullResult result;
    guint blob_gets;

    if (reg == NULL)
        return;
    image = small_image("pull", 3);
    digest = push_image(reg, image, "apps/multi:v1");
    dir = podvm_test_mkdtemp();
    store = store_new(dir, reg, NULL);
    ref = g_strdup_printf("docker://%s/apps/multi:v1", podvm_test_registry_host(reg));
    canonical = g_strdup_printf("%s/apps/multi:v1", podvm_test_registry_host(reg));

    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_no_error(result.error);
    g_assert_cmpstr(result.image->digest, ==, digest);
    g_assert_cmpstr(result.image->reference, ==, canonical);
    g_assert_null(result.image->index_digest);
    g_assert_cmpstr(result.image->config_digest, ==, podvm_test_image_config_digest(image));
    g_assert_cmpuint(result.image->layers->len, ==, 3);
    for (guint i = 0; i < 3; i++) {
        g_autofree char *path = blob_path(dir, podvm_test_image_layer_digest(image, i));

        g_assert_cmpstr(g_ptr_array_index(result.image->layers, i), ==,
                        podvm_test_image_layer_digest(image, i));
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
    }
    {
        g_autofree char *manifest = blob_path(dir, digest);
        g_autofree char *config = blob_path(dir, podvm_test_image_config_digest(image));
        g_autofree char *data = NULL;
        gsize length = 0;
        g_autofree char *check = NULL;

        g_assert_true(g_file_get_contents(manifest, &data, &length, NULL));
        check = podvm_registry_digest_of(data, length);
        g_assert_cmpstr(check, ==, digest);
        g_assert_true(g_file_test(config, G_FILE_TEST_IS_REGULAR));
    }
    /* Progress: on this thread, never backwards, ending at the total. */
    g_assert_cmpuint(result.progress_calls, >=, 3);
    g_assert_false(result.went_back);
    g_assert_cmpstr(result.last_phase, ==, "done");
    g_assert_cmpuint(result.last_done, ==, result.last_total);
    g_assert_cmpuint(result.last_total, ==, result.image->size);
    tmp = g_build_filename(dir, "tmp", NULL);
    g_assert_cmpuint(count_files(tmp), ==, 0);
    layout_ref = podvm_image_store_layout_ref(store, result.image);
    g_assert_true(g_str_has_prefix(layout_ref, "oci:"));
    g_assert_true(g_str_has_suffix(layout_ref, digest));
    {
        /* The store is an OCI layout the layout reader of storage/ opens by digest. */
        g_autoptr(PodvmOciLayout) oci = podvm_oci_layout_open(layout_ref, NULL, &error);
        g_autoptr(GPtrArray) layers = NULL;

        g_assert_no_error(error);
        g_assert_cmpstr(oci->manifest_desc.digest, ==, digest);
        layers = podvm_oci_layout_get_layers(oci, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(layers->len, ==, 3);
    }
    pull_result_clear(&result);

    /* Lookup and list: by reference (any spelling) and by digest. */
    found = podvm_image_store_lookup(store, canonical, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(found->digest, ==, digest);
    g_clear_pointer(&found, podvm_image_free);
    found = podvm_image_store_lookup(store, digest, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(found->reference, ==, canonical);
    list = podvm_image_store_list(store, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(list->len, ==, 1);

    /* IfNotPresent with a record: no request at all. */
    blob_gets = podvm_test_registry_count_requests(reg, NULL, NULL);
    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_no_error(result.error);
    g_assert_cmpstr(result.image->digest, ==, digest);
    pull_result_clear(&result);
    pull(store, canonical, PODVM_PULL_NEVER, &result);
    g_assert_no_error(result.error);
    pull_result_clear(&result);
    g_assert_cmpuint(podvm_test_registry_count_requests(reg, NULL, NULL), ==, blob_gets);

    /* Always: the tag is resolved again, no blob is fetched again. */
    blob_gets = podvm_test_registry_count_requests(reg, "GET", "/v2/apps/multi/blobs/");
    pull(store, ref, PODVM_PULL_ALWAYS, &result);
    g_assert_no_error(result.error);
    g_assert_cmpstr(result.image->digest, ==, digest);
    pull_result_clear(&result);
    g_assert_cmpuint(podvm_test_registry_count_requests(reg, "GET", "/v2/apps/multi/manifests/v1"),
                     >=, 2);
    g_assert_cmpuint(podvm_test_registry_count_requests(reg, "GET", "/v2/apps/multi/blobs/"), ==,
                     blob_gets);

    /* Never without a record; an unknown tag; an unknown repository. */
    {
        g_autofree char *other = g_strdup_printf("%s/apps/multi:v2", podvm_test_registry_host(reg));
        g_autofree char *none = g_strdup_printf("%s/apps/none", podvm_test_registry_host(reg));

        pull(store, other, PODVM_PULL_NEVER, &result);
        g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        pull_result_clear(&result);
        pull(store, other, PODVM_PULL_IF_NOT_PRESENT, &result);
        g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(result.error->message, podvm_test_registry_host(reg)));
        g_assert_nonnull(strstr(result.error->message, "apps/multi:v2"));
        pull_result_clear(&result);
        pull(store, none, PODVM_PULL_IF_NOT_PRESENT, &result);
        g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        pull_result_clear(&result);
    }

    /* By digest. */
    {
        g_autofree char *by_digest =
            g_strdup_printf("%s/apps/multi@%s", podvm_test_registry_host(reg), digest);

        pull(store, by_digest, PODVM_PULL_IF_NOT_PRESENT, &result);
        g_assert_no_error(result.error);
        g_assert_cmpstr(result.image->digest, ==, digest);
        g_assert_cmpstr(result.image->reference, ==, by_digest);
        pull_result_clear(&result);
    }

    /* Remove: the record goes, the blobs stay until prune. */
    g_assert_true(podvm_image_store_remove(store, ref, &error));
    g_assert_no_error(error);
    g_assert_null(podvm_image_store_lookup(store, ref, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_false(podvm_image_store_remove(store, ref, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_true(podvm_image_store_remove(store, digest, &error));
    g_assert_no_error(error);
    podvm_test_rmrf(dir);
}

static void
test_docker_schema2(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *layout = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    PullResult result;

    if (reg == NULL)
        return;
    image = small_image("v2s2", 2);
    layout = podvm_test_mkdtemp();
    g_free(podvm_test_image_write_layout(image, layout, "t", NULL));
    podvm_test_registry_push_full(reg, layout, "t", "apps/docker:v1", "v2s2", &digest, &error);
    g_assert_no_error(error);
    dir = podvm_test_mkdtemp();
    store = store_new(dir, reg, NULL);
    ref = g_strdup_printf("%s/apps/docker:v1", podvm_test_registry_host(reg));
    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_no_error(result.error);
    g_assert_cmpstr(result.image->media_type, ==, PODVM_MEDIA_DOCKER_MANIFEST);
    g_assert_cmpstr(result.image->digest, ==, digest);
    g_assert_cmpuint(result.image->layers->len, ==, 2);
    pull_result_clear(&result);
    podvm_test_rmrf(layout);
    podvm_test_rmrf(dir);
}

static void
test_index(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) amd64 = NULL;
    g_autoptr(PodvmTestImage) arm64 = NULL;
    g_autoptr(PodvmTestImage) s390x = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *layout = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *index_digest = NULL;
    g_autofree char *amd64_digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *other_ref = NULL;
    g_autofree char *blobs = NULL;
    PullResult result;

    if (reg == NULL)
        return;
    amd64 = small_image("amd64", 1);
    arm64 = small_image("arm64", 1);
    s390x = small_image("s390x", 1);
    podvm_test_image_set_platform(amd64, "linux", "amd64", NULL);
    podvm_test_image_set_platform(arm64, "linux", "arm64", "v8");
    podvm_test_image_set_platform(s390x, "linux", "s390x", NULL);
    layout = podvm_test_mkdtemp();
    {
        PodvmTestImage *both[] = { arm64, amd64 };
        PodvmTestImage *others[] = { arm64, s390x };

        index_digest = podvm_test_image_write_index(both, 2, layout, "multi");
        amd64_digest = podvm_test_image_write_layout(amd64, layout, "amd64", NULL);
        g_free(podvm_test_image_write_index(others, 2, layout, "others"));
    }
    podvm_test_registry_push(reg, layout, "multi", "apps/index:multi", &error);
    g_assert_no_error(error);
    podvm_test_registry_push(reg, layout, "others", "apps/index:others", &error);
    g_assert_no_error(error);
    dir = podvm_test_mkdtemp();
    store = store_new(dir, reg, NULL);

    ref = g_strdup_printf("%s/apps/index:multi", podvm_test_registry_host(reg));
    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_no_error(result.error);
    g_assert_cmpstr(result.image->index_digest, ==, index_digest);
    g_assert_cmpstr(result.image->digest, ==, amd64_digest);
    g_assert_cmpstr(g_ptr_array_index(result.image->layers, 0), ==,
                    podvm_test_image_layer_digest(amd64, 0));
    {
        g_autofree char *path = blob_path(dir, index_digest);
        g_autofree char *arm = blob_path(dir, podvm_test_image_layer_digest(arm64, 0));

        g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
        g_assert_false(g_file_test(arm, G_FILE_TEST_EXISTS));
    }
    pull_result_clear(&result);

    /* An index without this platform: refused, naming what it has; nothing stored. */
    blobs = g_build_filename(dir, "blobs", "sha256", NULL);
    {
        guint before = count_files(blobs);

        other_ref = g_strdup_printf("%s/apps/index:others", podvm_test_registry_host(reg));
        pull(store, other_ref, PODVM_PULL_IF_NOT_PRESENT, &result);
        g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        g_test_message("%s", result.error->message);
        g_assert_nonnull(strstr(result.error->message, "linux/amd64"));
        g_assert_nonnull(strstr(result.error->message, "linux/arm64/v8"));
        g_assert_nonnull(strstr(result.error->message, "linux/s390x"));
        g_assert_nonnull(strstr(result.error->message, "apps/index:others"));
        pull_result_clear(&result);
        g_assert_cmpuint(count_files(blobs), ==, before);
    }
    podvm_test_rmrf(layout);
    podvm_test_rmrf(dir);
}

static void
test_corrupt_blob(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *refs = NULL;
    g_autofree char *layer = NULL;
    PullResult result;

    if (reg == NULL)
        return;
    image = small_image("corrupt", 2);
    digest = push_image(reg, image, "apps/corrupt:v1");
    podvm_test_registry_corrupt_blob(reg, podvm_test_image_layer_digest(image, 1));
    dir = podvm_test_mkdtemp();
    store = store_new(dir, reg, NULL);
    ref = g_strdup_printf("%s/apps/corrupt:v1", podvm_test_registry_host(reg));
    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, "digest mismatch"));
    g_assert_nonnull(strstr(result.error->message, podvm_test_image_layer_digest(image, 1)));
    g_assert_nonnull(strstr(result.error->message, podvm_test_registry_host(reg)));
    pull_result_clear(&result);
    layer = blob_path(dir, podvm_test_image_layer_digest(image, 1));
    g_assert_false(g_file_test(layer, G_FILE_TEST_EXISTS));
    tmp = g_build_filename(dir, "tmp", NULL);
    g_assert_cmpuint(count_files(tmp), ==, 0);
    refs = g_build_filename(dir, "refs", NULL);
    g_assert_cmpuint(count_files(refs), ==, 0);
    g_assert_null(podvm_image_store_lookup(store, ref, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    podvm_test_rmrf(dir);
}

static void
test_limits(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(PodvmTestImage) big = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *big_ref = NULL;
    g_autofree char *annotation = g_strnfill(100 * 1024, 'a');
    g_autofree char *tmp = NULL;
    PodvmImageStoreOptions options = { 0 };
    PullResult result;

    if (reg == NULL)
        return;
    /* A manifest of 100 KiB against a limit of 64 KiB. */
    image = small_image("huge", 1);
    podvm_test_image_add_annotation(image, "org.example.huge", annotation);
    g_free(push_image(reg, image, "apps/huge:v1"));
    /* A layer of 256 KiB against a limit of 128 KiB. */
    big = podvm_test_image_new_sized(256 * 1024, NULL);
    if (big == NULL)
        return;
    g_free(push_image(reg, big, "apps/big:v1"));
    dir = podvm_test_mkdtemp();
    options.max_manifest_size = 64 * 1024;
    options.max_layer_size = 128 * 1024;
    store = store_new(dir, reg, &options);

    ref = g_strdup_printf("%s/apps/huge:v1", podvm_test_registry_host(reg));
    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, "larger than the limit"));
    g_assert_nonnull(strstr(result.error->message, "apps/huge:v1"));
    pull_result_clear(&result);

    big_ref = g_strdup_printf("%s/apps/big:v1", podvm_test_registry_host(reg));
    pull(store, big_ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, "max_layer_size"));
    pull_result_clear(&result);
    tmp = g_build_filename(dir, "tmp", NULL);
    g_assert_cmpuint(count_files(tmp), ==, 0);
    podvm_test_rmrf(dir);
}

static void
test_hanging_registry(void)
{
    g_autoptr(PodvmTestHangingServer) server = podvm_test_hanging_server_new();
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *ref = NULL;
    const char *insecure[] = { podvm_test_hanging_server_host(server), NULL };
    PodvmImageStoreOptions options = { 0 };
    PullResult result;
    gint64 start;

    options.insecure_registries = (GStrv)insecure;
    options.timeout_seconds = 2;
    options.architecture = "amd64";
    store = podvm_image_store_new(dir, &options, &error);
    g_assert_no_error(error);
    ref = g_strdup_printf("%s/apps/x:v1", podvm_test_hanging_server_host(server));
    start = g_get_monotonic_time();
    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_TIMEOUT);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, podvm_test_hanging_server_host(server)));
    g_assert_nonnull(strstr(result.error->message, "did not answer within 2 s"));
    g_assert_cmpint(g_get_monotonic_time() - start, <, 20 * G_USEC_PER_SEC);
    g_assert_cmpuint(podvm_test_hanging_server_accepted(server), >=, 1);
    pull_result_clear(&result);
    podvm_test_rmrf(dir);
}

static void
test_plain_http_refused(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *refs = NULL;
    const char *none[] = { "registry.example:5000", NULL };
    PodvmImageStoreOptions options = { 0 };
    PullResult result;

    if (reg == NULL)
        return;
    g_autoptr(PodvmTestImage) image = small_image("plain", 1);
    g_free(push_image(reg, image, "apps/plain:v1"));
    dir = podvm_test_mkdtemp();
    options.insecure_registries = (GStrv)none;
    store = store_new(dir, reg, &options);
    ref = g_strdup_printf("%s/apps/plain:v1", podvm_test_registry_host(reg));
    pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, podvm_test_registry_host(reg)));
    g_assert_nonnull(strstr(result.error->message, "insecure_registries"));
    pull_result_clear(&result);
    refs = g_build_filename(dir, "refs", NULL);
    g_assert_cmpuint(count_files(refs), ==, 0);
    podvm_test_rmrf(dir);
}

static void
test_policy(void)
{
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = podvm_test_mkdtemp();
    const char *allowed[] = { "quay.io", NULL };
    PodvmImageStoreOptions options = { 0 };
    PullResult result;

    options.allowed_registries = (GStrv)allowed;
    options.require_digest = TRUE;
    store = podvm_image_store_new(dir, &options, &error);
    g_assert_no_error(error);
    pull(store, "docker://redis", PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(result.error->message, "allowed_registries"));
    g_assert_nonnull(strstr(result.error->message, "docker.io"));
    pull_result_clear(&result);
    pull(store, "quay.io/x/y:v1", PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(result.error->message, "require_digest"));
    pull_result_clear(&result);
    pull(store, "Quay.io/X", PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    pull_result_clear(&result);
    podvm_test_rmrf(dir);
}

static void
test_concurrent(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(PodvmImageStore) a = NULL;
    g_autoptr(PodvmImageStore) b = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *tmp = NULL;
    PullResult ra, rb, rc;

    if (reg == NULL)
        return;
    image = small_image("concurrent", 4);
    digest = push_image(reg, image, "apps/concurrent:v1");
    dir = podvm_test_mkdtemp();
    a = store_new(dir, reg, NULL);
    b = store_new(dir, reg, NULL);
    ref = g_strdup_printf("%s/apps/concurrent:v1", podvm_test_registry_host(reg));
    /* Two stores (as two podvmds), and twice in one: that one fetches once for both. */
    pull_start(a, ref, PODVM_PULL_ALWAYS, &ra);
    pull_start(b, ref, PODVM_PULL_ALWAYS, &rb);
    pull_start(a, ref, PODVM_PULL_ALWAYS, &rc);
    pull_wait(&ra);
    pull_wait(&rb);
    pull_wait(&rc);
    g_assert_cmpuint(podvm_test_registry_count_requests(reg, "GET", "/v2/apps/concurrent/blobs/"),
                     <=, 2 * (podvm_test_image_n_layers(image) + 1));
    g_assert_cmpstr(rc.last_phase, ==, "done");
    g_assert_no_error(ra.error);
    g_assert_no_error(rb.error);
    g_assert_no_error(rc.error);
    g_assert_cmpstr(ra.image->digest, ==, digest);
    g_assert_cmpstr(rb.image->digest, ==, digest);
    g_assert_cmpstr(rc.image->digest, ==, digest);
    for (guint i = 0; i < podvm_test_image_n_layers(image); i++) {
        g_autofree char *path = blob_path(dir, podvm_test_image_layer_digest(image, i));

        g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
    }
    tmp = g_build_filename(dir, "tmp", NULL);
    g_assert_cmpuint(count_files(tmp), ==, 0);
    pull_result_clear(&ra);
    pull_result_clear(&rb);
    pull_result_clear(&rc);
    podvm_test_rmrf(dir);
}

typedef struct {
    JsonNode *result;
    GError *error;
    gboolean done;
} PruneResult;

static void
pruned_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    PruneResult *result = user_data;

    result->result = podvm_image_store_prune_finish(PODVM_IMAGE_STORE(source), res, &result->error);
    result->done = TRUE;
}

static gboolean
prune_done(gpointer user_data)
{
    return ((PruneResult *)user_data)->done;
}

static JsonObject *
prune(PodvmImageStore *store, const char *const *keep)
{
    PruneResult result = { 0 };
    JsonObject *object;

    podvm_image_store_prune_async(store, keep, NULL, pruned_cb, &result);
    g_assert_true(podvm_test_wait_until(prune_done, &result, 60000));
    g_assert_no_error(result.error);
    object = json_object_ref(json_node_get_object(result.result));
    json_node_unref(result.result);
    return object;
}

static void
test_prune(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) one = NULL;
    g_autoptr(PodvmTestImage) two = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *one_digest = NULL;
    g_autofree char *two_digest = NULL;
    g_autofree char *one_ref = NULL;
    g_autofree char *two_ref = NULL;
    g_autofree char *stale = NULL;
    g_autofree char *fresh = NULL;
    g_autofree char *rootfs = NULL;
    g_autofree char *blobs = NULL;
    struct utimbuf old = { 0, 0 };
    PullResult result;

    if (reg == NULL)
        return;
    one = small_image("prune-one", 2);
    two = small_image("prune-two", 2);
    one_digest = push_image(reg, one, "apps/one:v1");
    two_digest = push_image(reg, two, "apps/two:v1");
    dir = podvm_test_mkdtemp();
    store = store_new(dir, reg, NULL);
    one_ref = g_strdup_printf("%s/apps/one:v1", podvm_test_registry_host(reg));
    two_ref = g_strdup_printf("%s/apps/two:v1", podvm_test_registry_host(reg));
    pull(store, one_ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_no_error(result.error);
    pull_result_clear(&result);
    pull(store, two_ref, PODVM_PULL_IF_NOT_PRESENT, &result);
    g_assert_no_error(result.error);
    pull_result_clear(&result);
    stale = g_build_filename(dir, "tmp", "stale.part", NULL);
    fresh = g_build_filename(dir, "tmp", "fresh.part", NULL);
    g_assert_true(g_file_set_contents(stale, "x", 1, NULL));
    g_assert_true(g_file_set_contents(fresh, "y", 1, NULL));
    g_assert_cmpint(utime(stale, &old), ==, 0);
    rootfs = g_strdup_printf("%s/rootfs/sha256-%s.erofs", dir, one_digest + strlen("sha256:"));
    g_assert_true(g_file_set_contents(rootfs, "fs", 2, NULL));

    /* Nothing unreferenced yet: only the stale part file goes. */
    answer = prune(store, NULL);
    g_assert_cmpint(json_object_get_int_member(answer, "removedImages"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(answer, "removedBlobs"), ==, 0);
    g_assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(fresh, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(rootfs, G_FILE_TEST_EXISTS));
    g_clear_pointer(&answer, json_object_unref);

    /* Image one removed: its manifest, config, layers and rootfs go; two's stay. */
    g_assert_true(podvm_image_store_remove(store, one_ref, &error));
    g_assert_no_error(error);
    answer = prune(store, NULL);
    g_assert_cmpint(json_object_get_int_member(answer, "removedImages"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(answer, "removedBlobs"), ==, 4);
    g_assert_cmpint(json_object_get_int_member(answer, "freedBytes"), >, 0);
    g_clear_pointer(&answer, json_object_unref);
    g_assert_false(g_file_test(rootfs, G_FILE_TEST_EXISTS));
    for (guint i = 0; i < 2; i++) {
        g_autofree char *gone = blob_path(dir, podvm_test_image_layer_digest(one, i));
        g_autofree char *kept = blob_path(dir, podvm_test_image_layer_digest(two, i));

        g_assert_false(g_file_test(gone, G_FILE_TEST_EXISTS));
        g_assert_true(g_file_test(kept, G_FILE_TEST_IS_REGULAR));
    }
    {
        g_autofree char *gone = blob_path(dir, one_digest);
        g_autofree char *kept = blob_path(dir, two_digest);

        g_assert_false(g_file_test(gone, G_FILE_TEST_EXISTS));
        g_assert_true(g_file_test(kept, G_FILE_TEST_IS_REGULAR));
    }

    /* A keep list without two's digest: its record and blobs go too. */
    {
        const char *keep[] = {
            "sha256:0000000000000000000000000000000000000000000000000000000000000000", NULL
        };

        answer = prune(store, keep);
        g_assert_cmpint(json_object_get_int_member(answer, "removedImages"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(answer, "removedBlobs"), ==, 4);
        g_clear_pointer(&answer, json_object_unref);
    }
    blobs = g_build_filename(dir, "blobs", "sha256", NULL);
    g_assert_cmpuint(count_files(blobs), ==, 0);
    podvm_test_rmrf(dir);
}

static void
write_auth_file(const char *path, const char *host, const char *user, const char *password)
{
    g_autofree char *pair = g_strconcat(user, ":", password, NULL);
    g_autofree char *b64 = g_base64_encode((const guchar *)pair, strlen(pair));
    g_autofree char *text = g_strdup_printf("{\"auths\": {\"%s\": {\"auth\": \"%s\"}}}", host, b64);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void
test_token_auth(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_TOKEN_AUTH);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(PodvmImageStore) wrong = NULL;
    g_autoptr(PodvmImageStore) anonymous = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *wrong_auth = NULL;
    g_autofree char *realm_host = NULL;
    PodvmImageStoreOptions options = { 0 };
    PullResult result;
    guint issued;

    if (reg == NULL)
        return;
    image = small_image("token", 2);
    digest = push_image(reg, image, "apps/private:v1");
    dir = podvm_test_mkdtemp();
    ref = g_strdup_printf("%s/apps/private:v1", podvm_test_registry_host(reg));
    {
        /* The token server is plain HTTP on loopback too. */
        g_autoptr(GUri) realm = g_uri_parse(podvm_test_registry_token_realm(reg), 0, NULL);

        realm_host = g_strdup_printf("%s:%d", g_uri_get_host(realm), g_uri_get_port(realm));
    }
    {
        const char *insecure[] = { podvm_test_registry_host(reg), realm_host, NULL };

        options.insecure_registries = (GStrv)insecure;
        options.auth_file = (char *)podvm_test_registry_auth_file(reg);
        store = store_new(dir, reg, &options);
        issued = podvm_test_registry_tokens_issued(reg);
        pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
        g_assert_no_error(result.error);
        g_assert_cmpstr(result.image->digest, ==, digest);
        pull_result_clear(&result);
        g_assert_cmpuint(podvm_test_registry_tokens_issued(reg), >, issued);
        /* The token is cached: the next pull asks the token server nothing. */
        issued = podvm_test_registry_tokens_issued(reg);
        pull(store, ref, PODVM_PULL_ALWAYS, &result);
        g_assert_no_error(result.error);
        pull_result_clear(&result);
        g_assert_cmpuint(podvm_test_registry_tokens_issued(reg), ==, issued);

        /* A wrong password: PERMISSION_DENIED naming the registry. */
        wrong_auth = g_build_filename(dir, "wrong-auth.json", NULL);
        write_auth_file(wrong_auth, podvm_test_registry_host(reg),
                        podvm_test_registry_username(reg), "not-the-password");
        options.auth_file = wrong_auth;
        wrong = store_new(dir, reg, &options);
        pull(wrong, ref, PODVM_PULL_ALWAYS, &result);
        g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_test_message("%s", result.error->message);
        g_assert_nonnull(strstr(result.error->message, podvm_test_registry_host(reg)));
        g_assert_nonnull(strstr(result.error->message, podvm_test_registry_username(reg)));
        pull_result_clear(&result);

        /* No credentials at all. */
        options.auth_file = NULL;
        anonymous = store_new(dir, reg, &options);
        pull(anonymous, ref, PODVM_PULL_ALWAYS, &result);
        g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_test_message("%s", result.error->message);
        g_assert_nonnull(strstr(result.error->message, "auth_file"));
        pull_result_clear(&result);
    }
    podvm_test_rmrf(dir);
}

static void
test_token_anonymous(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(
        PODVM_TEST_REGISTRY_TOKEN_AUTH | PODVM_TEST_REGISTRY_ANONYMOUS_PULL);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *realm_host = NULL;
    PodvmImageStoreOptions options = { 0 };
    PullResult result;

    if (reg == NULL)
        return;
    image = small_image("anonymous", 1);
    digest = push_image(reg, image, "library/public:v1");
    dir = podvm_test_mkdtemp();
    {
        g_autoptr(GUri) realm = g_uri_parse(podvm_test_registry_token_realm(reg), 0, NULL);

        realm_host = g_strdup_printf("%s:%d", g_uri_get_host(realm), g_uri_get_port(realm));
    }
    {
        const char *insecure[] = { podvm_test_registry_host(reg), realm_host, NULL };

        /* As Docker Hub does: a pull token for anyone, no auth_file. */
        options.insecure_registries = (GStrv)insecure;
        store = store_new(dir, reg, &options);
        ref = g_strdup_printf("docker://%s/library/public:v1", podvm_test_registry_host(reg));
        pull(store, ref, PODVM_PULL_IF_NOT_PRESENT, &result);
        g_assert_no_error(result.error);
        g_assert_cmpstr(result.image->digest, ==, digest);
        pull_result_clear(&result);
        g_assert_cmpuint(podvm_test_registry_tokens_issued(reg), >, 0);
    }
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/images/store/pull", test_pull);
    g_test_add_func("/podvm/images/store/docker-schema2", test_docker_schema2);
    g_test_add_func("/podvm/images/store/index", test_index);
    g_test_add_func("/podvm/images/store/corrupt-blob", test_corrupt_blob);
    g_test_add_func("/podvm/images/store/limits", test_limits);
    g_test_add_func("/podvm/images/store/hanging-registry", test_hanging_registry);
    g_test_add_func("/podvm/images/store/plain-http-refused", test_plain_http_refused);
    g_test_add_func("/podvm/images/store/policy", test_policy);
    g_test_add_func("/podvm/images/store/concurrent", test_concurrent);
    g_test_add_func("/podvm/images/store/prune", test_prune);
    g_test_add_func("/podvm/images/store/token-auth", test_token_auth);
    g_test_add_func("/podvm/images/store/token-anonymous", test_token_anonymous);
    return g_test_run();
}
