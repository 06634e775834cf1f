/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmd.conf [images] and the manager's image store. */
#include <string.h>

#include "podvm-config.h"
#include "podvm-error.h"
#include "podvm-image-store.h"
#include "podvm-manager.h"
#include "podvm-test-util.h"

static PodvmConfig *
load(const char *dir, const char *text, GError **error)
{
    g_autoptr(PodvmConfig) config = podvm_config_new_defaults();
    g_autofree char *path = g_build_filename(dir, "podvmd.conf", NULL);

    g_free(config->state_dir);
    config->state_dir = g_build_filename(dir, "state", NULL);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    if (!podvm_config_load_file(config, path, TRUE, error))
        return NULL;
    return g_steal_pointer(&config);
}

static void
test_defaults(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmConfig) config = load(dir, "[daemon]\n", &error);
    g_autofree char *expected = NULL;

    g_assert_no_error(error);
    g_assert_null(config->images_insecure_registries);
    g_assert_null(config->images_allowed_registries);
    g_assert_null(config->images_auth_file);
    g_assert_false(config->images_require_digest);
    g_assert_cmpuint(config->images_max_layer_size, ==, G_GUINT64_CONSTANT(8) << 30);
    g_assert_cmpuint(config->images_max_manifest_size, ==, 4 * 1024 * 1024);
    g_assert_cmpuint(config->images_timeout_seconds, ==, 30);
    g_assert_true(podvm_config_finish(config, &error));
    g_assert_no_error(error);
    expected = g_build_filename(config->state_dir, "images", NULL);
    g_assert_cmpstr(config->images_dir, ==, expected);
    podvm_test_rmrf(dir);
}

static void
test_values(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *text =
        g_strdup_printf("[images]\n"
                        "dir=%s/images\n"
                        "insecure_registries=127.0.0.1:5000; Registry.LAN:5000 ;\n"
                        "auth_file=/etc/podvm/auth.json\n"
                        "allowed_registries=docker.io;quay.io\n"
                        "require_digest=true\n"
                        "max_layer_size=1Gi\n"
                        "max_manifest_size=1Mi\n"
                        "timeout=5\n",
                        dir);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmConfig) config = load(dir, text, &error);
    g_autofree char *images = g_build_filename(dir, "images", NULL);
    g_autofree char *layout = g_build_filename(images, "oci-layout", NULL);
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(PodvmManager) manager = NULL;
    PodvmImageStore *shared;

    g_assert_no_error(error);
    g_assert_cmpstr(config->images_dir, ==, images);
    g_assert_cmpuint(g_strv_length(config->images_insecure_registries), ==, 2);
    g_assert_cmpstr(config->images_insecure_registries[0], ==, "127.0.0.1:5000");
    g_assert_cmpstr(config->images_insecure_registries[1], ==, "registry.lan:5000");
    g_assert_cmpstr(config->images_auth_file, ==, "/etc/podvm/auth.json");
    g_assert_cmpuint(g_strv_length(config->images_allowed_registries), ==, 2);
    g_assert_true(config->images_require_digest);
    g_assert_cmpuint(config->images_max_layer_size, ==, 1024 * 1024 * 1024);
    g_assert_cmpuint(config->images_max_manifest_size, ==, 1024 * 1024);
    g_assert_cmpuint(config->images_timeout_seconds, ==, 5);

    /* The store it makes: the directory, an OCI layout. */
    store = podvm_config_new_image_store(config, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(podvm_image_store_get_dir(store), ==, images);
    g_assert_true(g_file_test(layout, G_FILE_TEST_IS_REGULAR));

    /* The manager's: made once, at its first use. */
    g_assert_true(podvm_config_finish(config, &error));
    g_assert_no_error(error);
    manager = podvm_manager_new(config);
    shared = podvm_manager_get_image_store(manager, &error);
    g_assert_no_error(error);
    g_assert_nonnull(shared);
    g_assert_true(podvm_manager_get_image_store(manager, NULL) == shared);
    g_assert_cmpstr(podvm_image_store_get_dir(shared), ==, images);
    podvm_test_rmrf(dir);
}

static void
test_bad(void)
{
    static const struct {
        const char *text;
        const char *says;
    } cases[] = {
        { "[images]\ndir=relative/images\n", "dir" },
        { "[images]\nauth_file=auth.json\n", "auth_file" },
        { "[images]\ninsecure_registries=http://127.0.0.1:5000\n", "insecure_registries" },
        { "[images]\nallowed_registries=quay.io;bad host\n", "allowed_registries" },
        { "[images]\nrequire_digest=maybe\n", "require_digest" },
        { "[images]\nmax_layer_size=lots\n", "max_layer_size" },
        { "[images]\nmax_layer_size=0\n", "max_layer_size" },
        { "[images]\nmax_manifest_size=-1\n", "max_manifest_size" },
        { "[images]\ntimeout=0\n", "timeout" },
        { "[images]\ntimeout=4000\n", "timeout" },
    };
    g_autofree char *dir = podvm_test_mkdtemp();

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmConfig) config = load(dir, cases[i].text, &error);

        g_test_message("%s", cases[i].text);
        g_assert_null(config);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "[images]"));
        g_assert_nonnull(strstr(error->message, cases[i].says));
    }
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/config-images/defaults", test_defaults);
    g_test_add_func("/podvm/daemon/config-images/values", test_values);
    g_test_add_func("/podvm/daemon/config-images/bad", test_bad);
    return g_test_run();
}
