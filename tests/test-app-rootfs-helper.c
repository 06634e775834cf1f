/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App root filesystems as podvmd gets them: through the helper process
 * podvm-unpack-app-rootfs (podvm_app_rootfs_build_in_helper_async: its
 * answer, errors kept across the process, cancellation), the summary's
 * JSON and [apps] rootfs_helper in podvmd.conf. The layer rules are tested
 * in process by test-app-rootfs.
 */
#include <archive_entry.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-app-rootfs.h"
#include "podvm-config.h"
#include "podvm-error.h"
#include "podvm-test-image.h"
#include "podvm-test-util.h"

#include "podvm-test-rootfs.h"

typedef PodvmTestRootfsFixture Fixture;

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in ROOTFS_DIR, sorted and joined by spaces. */
static char *
rootfs_dir_listing(Fixture *f)
{
    g_autoptr(GDir) dir = g_dir_open(f->rootfs_dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)) != NULL)
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

static void
extract(Fixture *f, const char *image_path)
{
    g_autofree char *arg = g_strdup_printf("--extract=%s", f->extracted);
    const char *argv[] = { "fsck.erofs", arg, image_path, NULL };
    g_autofree char *err = NULL;
    int status = 0;

    podvm_test_rmrf(f->extracted);
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                               &err, &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("fsck.erofs failed: %s", err);
}

static char *
extracted_path(Fixture *f, const char *path)
{
    return g_build_filename(f->extracted, path, NULL);
}

static void
assert_extracted_file(Fixture *f, const char *path, const char *content)
{
    g_autofree char *full = extracted_path(f, path);
    g_autofree char *contents = NULL;

    if (!g_file_get_contents(full, &contents, NULL, NULL))
        g_error("'%s' is not in the image", path);
    g_assert_cmpstr(contents, ==, content);
}

/* ------------------------------------------------------------------------ */
/* Through the helper process, as podvmd runs it */

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    (void)source;
    *(GAsyncResult **)user_data = g_object_ref(result);
}

static gboolean
result_ready(gpointer user_data)
{
    return *(GAsyncResult **)user_data != NULL;
}

static PodvmAppRootfs *
build_in_helper(Fixture *f, const char *ref, GError **error)
{
    g_autoptr(GAsyncResult) result = NULL;

    podvm_app_rootfs_build_in_helper_async(g_getenv("PODVM_APP_ROOTFS_HELPER"), ref, f->rootfs_dir,
                                           NULL, store_result_cb, &result);
    g_assert_true(podvm_test_wait_until(result_ready, &result, 120000));
    return podvm_app_rootfs_build_in_helper_finish(result, error);
}

static void
test_helper(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    const char *entrypoint[] = { "/bin/app", NULL };
    g_autofree char *ref = NULL;
    g_autofree char *digest = NULL;
    g_autoptr(PodvmAppRootfs) first = NULL;
    g_autoptr(PodvmAppRootfs) second = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (g_getenv("PODVM_APP_ROOTFS_HELPER") == NULL) {
        g_test_skip("PODVM_APP_ROOTFS_HELPER is not set (run the test through meson)");
        return;
    }
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(layer, "bin/app", "app\n", -1, 0755);
    podvm_test_layer_add_device(layer, "dev/null", FALSE, 1, 3, 0666);
    podvm_test_image_set_entrypoint(image, entrypoint);
    podvm_test_image_set_working_dir(image, "/work");
    ref = podvm_test_rootfs_write_image(f, image, &digest);

    first = build_in_helper(f, ref, &error);
    g_assert_no_error(error);
    g_assert_false(first->cached);
    g_assert_cmpstr(first->digest, ==, digest);
    g_assert_cmpstrv(first->entrypoint, entrypoint);
    g_assert_null(first->cmd);
    g_assert_cmpstr(first->working_dir, ==, "/work");
    g_assert_null(first->user);
    extract(f, first->path);
    assert_extracted_file(f, "bin/app", "app\n");

    second = build_in_helper(f, ref, &error);
    g_assert_no_error(error);
    g_assert_true(second->cached);
    g_assert_cmpstr(second->path, ==, first->path);

    /* A refused entry keeps its code and message across the process. */
    {
        g_autoptr(PodvmTestImage) bad = podvm_test_image_new();
        PodvmTestLayer *bad_layer = podvm_test_image_add_layer(bad);
        g_autofree char *bad_layout = g_build_filename(f->tmp, "bad", NULL);
        g_autofree char *bad_digest = NULL;
        g_autofree char *bad_ref = NULL;
        g_autoptr(PodvmAppRootfs) none = NULL;

        podvm_test_layer_add_raw(bad_layer, "a/../../x", AE_IFREG, 0644, "x", 1, NULL, FALSE);
        bad_digest = podvm_test_image_write_layout(bad, bad_layout, "v1", NULL);
        bad_ref = g_strdup_printf("oci:%s:v1", bad_layout);
        none = build_in_helper(f, bad_ref, &error);
        g_assert_null(none);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_test_message("%s", error->message);
        g_assert_nonnull(strstr(error->message, podvm_test_image_layer_digest(bad, 0)));
        g_assert_nonnull(strstr(error->message, "a/../../x"));
        g_clear_error(&error);
    }

    /* No helper configured: said so. */
    {
        g_autoptr(GAsyncResult) result = NULL;

        podvm_app_rootfs_build_in_helper_async(NULL, ref, f->rootfs_dir, NULL, store_result_cb,
                                               &result);
        g_assert_true(podvm_test_wait_until(result_ready, &result, 10000));
        g_assert_null(podvm_app_rootfs_build_in_helper_finish(result, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "rootfs_helper"));
    }
}

static gboolean
cancel_cb(gpointer user_data)
{
    g_cancellable_cancel(user_data);
    return G_SOURCE_REMOVE;
}

static gboolean
rootfs_dir_is_empty(gpointer user_data)
{
    Fixture *f = user_data;
    g_autofree char *listing = rootfs_dir_listing(f);

    return listing[0] == '\0';
}

/* podvmd gives up on a build (the pod was deleted while it started): the
 * helper stops on SIGTERM and removes its temporaries. */
static void
test_helper_cancelled(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *ref = NULL;
    gsize size = 16 * 1024 * 1024;
    g_autofree guchar *big = g_malloc(size);

    (void)data;
    if (g_getenv("PODVM_APP_ROOTFS_HELPER") == NULL) {
        g_test_skip("PODVM_APP_ROOTFS_HELPER is not set (run the test through meson)");
        return;
    }
    if (!podvm_test_rootfs_require_erofs())
        return;
    for (gsize i = 0; i < size; i++)
        big[i] = (guchar)(i * 7919 / 13);
    for (guint i = 0; i < 4; i++) {
        PodvmTestLayer *layer = podvm_test_image_add_layer(image);
        g_autofree char *name = g_strdup_printf("data/big%u", i);

        podvm_test_layer_set_compression(layer, PODVM_TEST_LAYER_TAR);
        podvm_test_layer_add_file(layer, name, big, (gssize)size, 0644);
    }
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    podvm_app_rootfs_build_in_helper_async(g_getenv("PODVM_APP_ROOTFS_HELPER"), ref, f->rootfs_dir,
                                           cancellable, store_result_cb, &result);
    g_timeout_add(150, cancel_cb, cancellable);
    g_assert_true(podvm_test_wait_until(result_ready, &result, 120000));
    rootfs = podvm_app_rootfs_build_in_helper_finish(result, &error);
    if (rootfs != NULL) {
        g_test_message("the build finished before it was cancelled");
        return;
    }
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    /* The helper cleans up on its own, just after. */
    g_assert_true(podvm_test_wait_until(rootfs_dir_is_empty, f, 30000));
}

static void
test_json_round_trip(void)
{
    PodvmAppRootfs rootfs = { 0 };
    char *entrypoint[] = { "/bin/sh", "-c", NULL };
    char *env[] = { "A=1", "B=2", NULL };
    char *ports[] = { "80/tcp", NULL };
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(PodvmAppRootfs) back = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) bad = json_from_string("{\"env\": [1]}", NULL);

    rootfs.path = "/x/sha256-00.erofs";
    rootfs.fs_type = "erofs";
    rootfs.digest = "sha256:00";
    rootfs.entrypoint = entrypoint;
    rootfs.env = env;
    rootfs.user = "redis";
    rootfs.exposed_ports = ports;
    rootfs.cached = TRUE;
    node = podvm_app_rootfs_to_json(&rootfs);
    back = podvm_app_rootfs_from_json(node, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(back->path, ==, rootfs.path);
    g_assert_cmpstr(back->digest, ==, rootfs.digest);
    g_assert_cmpstrv(back->entrypoint, entrypoint);
    g_assert_null(back->cmd);
    g_assert_cmpstrv(back->env, env);
    g_assert_null(back->working_dir);
    g_assert_cmpstr(back->user, ==, "redis");
    g_assert_cmpstrv(back->exposed_ports, ports);
    g_assert_true(back->cached);

    g_assert_null(podvm_app_rootfs_from_json(bad, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
}

/* [apps] rootfs_helper in podvmd.conf. */
static void
test_config(void)
{
    g_autoptr(PodvmConfig) config = podvm_config_new_defaults();
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *conf = g_build_filename(dir, "podvmd.conf", NULL);
    g_autoptr(GError) error = NULL;

    /* The default: next to podvmd (the test program here), else LIBEXECDIR. */
    g_assert_nonnull(config->app_rootfs_helper);
    g_assert_true(g_str_has_suffix(config->app_rootfs_helper, "/podvm-unpack-app-rootfs"));

    g_assert_true(g_file_set_contents(
        conf, "[apps]\nrootfs_helper= /opt/podvm/podvm-unpack-app-rootfs \n", -1, NULL));
    g_assert_true(podvm_config_load_file(config, conf, TRUE, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(config->app_rootfs_helper, ==, "/opt/podvm/podvm-unpack-app-rootfs");

    g_assert_true(g_file_set_contents(conf, "[apps]\nrootfs_helper=bin/helper\n", -1, NULL));
    g_assert_false(podvm_config_load_file(config, conf, TRUE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "rootfs_helper"));
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/storage/app-rootfs-helper/json-round-trip", test_json_round_trip);
    g_test_add_func("/podvm/storage/app-rootfs-helper/config", test_config);
#define ADD(name, func)                                                                           \
    g_test_add("/podvm/storage/app-rootfs-helper/" name, Fixture, NULL, podvm_test_rootfs_set_up, \
               func, podvm_test_rootfs_tear_down)
    ADD("build", test_helper);
    ADD("cancelled", test_helper_cancelled);
#undef ADD
    return g_test_run();
}
