/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image test fixtures themselves: a docker-registry on loopback (plain
 * and with token auth), images built by the test and pushed with skopeo,
 * and the layers they are made of.
 */
#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "podvm-test-image.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

static JsonObject *
parse_object(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_data(parser, text, -1, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
    return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

/* Unpacks every layer of @image (written to @layout) into @root, as a runtime would. */
static void
extract_image(PodvmTestImage *image, const char *layout, const char *root)
{
    g_assert_cmpint(g_mkdir_with_parents(root, 0755), ==, 0);
    for (guint l = 0; l < podvm_test_image_n_layers(image); l++) {
        g_autofree char *blob = g_build_filename(layout, "blobs", "sha256",
                                                 podvm_test_image_layer_digest(image, l) + 7, NULL);
        struct archive *a = archive_read_new();
        struct archive *disk = archive_write_disk_new();
        struct archive_entry *ae;

        archive_read_support_filter_gzip(a);
        archive_read_support_format_tar(a);
        archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS);
        g_assert_cmpint(archive_read_open_filename(a, blob, 16384), ==, ARCHIVE_OK);
        while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
            g_autofree char *path = g_build_filename(root, archive_entry_pathname(ae), NULL);
            const char *hardlink = archive_entry_hardlink(ae);

            archive_entry_set_pathname(ae, path);
            if (hardlink != NULL) {
                g_autofree char *target = g_build_filename(root, hardlink, NULL);

                archive_entry_set_hardlink(ae, target);
            }
            g_assert_cmpint(archive_read_extract2(a, ae, disk), ==, ARCHIVE_OK);
        }
        archive_read_free(a);
        archive_write_free(disk);
    }
}

/* Runs @argv chrooted into @root (root only); returns its stdout. */
static char *
run_chrooted(const char *root, const char *const *argv)
{
    g_autoptr(GPtrArray) full = g_ptr_array_new();
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_ptr_array_add(full, (gpointer) "chroot");
    g_ptr_array_add(full, (gpointer)root);
    for (guint i = 0; argv[i] != NULL; i++)
        g_ptr_array_add(full, (gpointer)argv[i]);
    g_ptr_array_add(full, NULL);
    g_spawn_sync(NULL, (char **)full->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                 &status, &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("%s in the image failed: %s", argv[0], err);
    return g_steal_pointer(&out);
}

static gboolean
tags_list_has(const char *body, const char *tag)
{
    g_autoptr(JsonObject) o = parse_object(body);
    JsonArray *tags = json_object_get_array_member(o, "tags");

    for (guint i = 0; tags != NULL && i < json_array_get_length(tags); i++) {
        if (g_strcmp0(json_array_get_string_element(tags, i), tag) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
test_push_busybox(void)
{
    const char *cmd[] = { "/bin/sh", "-c", "echo hello", NULL };
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *layout = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *pushed = NULL;
    g_autofree char *body = NULL;
    g_autofree char *manifest_path = NULL;
    g_autoptr(GError) error = NULL;
    guint64 size = 0;

    if (reg == NULL)
        return;
    image = podvm_test_image_new_busybox(cmd);
    if (image == NULL)
        return;
    tmp = podvm_test_mkdtemp();
    layout = g_build_filename(tmp, "busybox", NULL);
    digest = podvm_test_image_write_layout(image, layout, "v1", &size);
    g_assert_true(g_str_has_prefix(digest, "sha256:"));
    g_assert_cmpuint(size, >, 500 * 1024);

    g_assert_true(g_str_has_prefix(podvm_test_registry_host(reg), "127.0.0.1:"));
    g_assert_cmpuint(podvm_test_registry_get(reg, "/v2/", FALSE, NULL), ==, 200);
    g_assert_null(podvm_test_registry_auth_file(reg));

    podvm_test_registry_push_full(reg, layout, "v1", "apps/busybox:v1", NULL, &pushed, &error);
    g_assert_no_error(error);
    /* skopeo copies the OCI manifest as it is. */
    g_assert_cmpstr(pushed, ==, digest);

    g_assert_cmpuint(podvm_test_registry_get(reg, "/v2/apps/busybox/tags/list", FALSE, &body), ==,
                     200);
    g_assert_true(tags_list_has(body, "v1"));
    g_clear_pointer(&body, g_free);
    manifest_path = g_strdup_printf("/v2/apps/busybox/manifests/%s", digest);
    g_assert_cmpuint(podvm_test_registry_get(reg, manifest_path, FALSE, &body), ==, 200);
    g_assert_nonnull(strstr(body, podvm_test_image_layer_digest(image, 0)));
    g_assert_cmpuint(podvm_test_registry_count_requests(reg, "GET", "/v2/apps/busybox/tags/list"),
                     ==, 1);
    g_assert_cmpuint(podvm_test_registry_count_requests(reg, "PUT", "/v2/apps/busybox/manifests/"),
                     ==, 1);

    if (getuid() == 0) {
        g_autofree char *root = g_build_filename(tmp, "root", NULL);
        g_autofree char *out = NULL;

        extract_image(image, layout, root);
        out = run_chrooted(root, cmd);
        g_assert_cmpstr(out, ==, "hello\n");
    }

    /* The same image built again: the same digests. */
    {
        g_autoptr(PodvmTestImage) again = podvm_test_image_new_busybox(cmd);
        g_autofree char *other = g_build_filename(tmp, "again", NULL);
        g_autofree char *digest2 = podvm_test_image_write_layout(again, other, "v1", NULL);

        g_assert_cmpstr(digest2, ==, digest);
    }
    podvm_test_rmrf(tmp);
}

static void
test_token_auth(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_TOKEN_AUTH);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *body = NULL;
    g_autofree char *auth = NULL;
    g_autofree char *expected = NULL;
    g_autofree char *bad_url = NULL;
    g_autoptr(JsonObject) auth_json = NULL;
    g_autoptr(GError) error = NULL;
    JsonObject *auths, *entry;

    if (reg == NULL)
        return;
    image = podvm_test_image_new_busybox(NULL);
    if (image == NULL)
        return;
    tmp = podvm_test_mkdtemp();
    g_free(podvm_test_image_write_layout(image, tmp, "v1", NULL));

    /* Anonymous: 401, and the challenge names the test's token server. */
    g_assert_cmpuint(podvm_test_registry_get(reg, "/v2/", FALSE, NULL), ==, 401);
    g_assert_cmpuint(podvm_test_registry_get(reg, "/v2/apps/busybox/tags/list", FALSE, NULL), ==,
                     401);
    g_assert_true(g_str_has_prefix(podvm_test_registry_token_realm(reg), "http://127.0.0.1:"));

    podvm_test_registry_push(reg, tmp, "v1", "apps/busybox:v1", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(podvm_test_registry_tokens_issued(reg), >, 0);

    g_assert_cmpuint(podvm_test_registry_get(reg, "/v2/apps/busybox/tags/list", TRUE, &body), ==,
                     200);
    g_assert_true(tags_list_has(body, "v1"));

    /* Wrong credentials and none at all are refused by the token server. */
    bad_url = g_strdup_printf("%s?service=podvm-test-registry&scope=repository:apps/busybox:pull",
                              podvm_test_registry_token_realm(reg));
    g_assert_cmpuint(podvm_test_registry_get(reg, bad_url, FALSE, NULL), ==, 401);
    g_assert_cmpuint(podvm_test_registry_tokens_refused(reg), >=, 1);

    /* auth.json in podman's format for podvmd. */
    g_clear_pointer(&body, g_free);
    g_assert_true(g_file_get_contents(podvm_test_registry_auth_file(reg), &body, NULL, NULL));
    auth_json = parse_object(body);
    auths = json_object_get_object_member(auth_json, "auths");
    g_assert_nonnull(auths);
    entry = json_object_get_object_member(auths, podvm_test_registry_host(reg));
    g_assert_nonnull(entry);
    expected = g_strdup_printf("%s:%s", podvm_test_registry_username(reg),
                               podvm_test_registry_password(reg));
    {
        gsize len = 0;
        g_autofree guchar *decoded =
            g_base64_decode(json_object_get_string_member(entry, "auth"), &len);

        auth = g_strndup((const char *)decoded, len);
    }
    g_assert_cmpstr(auth, ==, expected);
    podvm_test_rmrf(tmp);
}

static void
test_anonymous_pull(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(
        PODVM_TEST_REGISTRY_TOKEN_AUTH | PODVM_TEST_REGISTRY_ANONYMOUS_PULL);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *body = NULL;
    g_autoptr(GError) error = NULL;

    if (reg == NULL)
        return;
    image = podvm_test_image_new_busybox(NULL);
    if (image == NULL)
        return;
    tmp = podvm_test_mkdtemp();
    g_free(podvm_test_image_write_layout(image, tmp, "v1", NULL));
    podvm_test_registry_push(reg, tmp, "v1", "apps/busybox:v1", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(podvm_test_registry_get(reg, "/v2/apps/busybox/tags/list", FALSE, NULL), ==,
                     401);
    g_assert_cmpuint(podvm_test_registry_get(reg, "/v2/apps/busybox/tags/list", TRUE, &body), ==,
                     200);
    g_assert_true(tags_list_has(body, "v1"));
    podvm_test_rmrf(tmp);
}

/* An index of two platforms pushed whole; a Docker schema 2 push. */
static void
test_index_and_v2s2(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) arm = NULL;
    g_autoptr(PodvmTestImage) s390x = NULL;
    g_autoptr(PodvmTestImage) plain = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *index_digest = NULL;
    g_autofree char *pushed = NULL;
    g_autofree char *body = NULL;
    g_autofree char *path = NULL;
    g_autoptr(JsonObject) index = NULL;
    g_autoptr(GError) error = NULL;
    PodvmTestImage *images[2];
    JsonArray *manifests;

    if (reg == NULL)
        return;
    tmp = podvm_test_mkdtemp();
    arm = podvm_test_image_new();
    podvm_test_layer_add_file(podvm_test_image_add_layer(arm), "hello", "arm\n", -1, 0644);
    podvm_test_image_set_platform(arm, "linux", "arm64", "v8");
    s390x = podvm_test_image_new();
    podvm_test_layer_add_file(podvm_test_image_add_layer(s390x), "hello", "s390x\n", -1, 0644);
    podvm_test_image_set_platform(s390x, "linux", "s390x", NULL);
    images[0] = arm;
    images[1] = s390x;
    index_digest = podvm_test_image_write_index(images, 2, tmp, "multi");
    podvm_test_registry_push_full(reg, tmp, "multi", "apps/other-platforms:v1", NULL, &pushed,
                                  &error);
    g_assert_no_error(error);
    g_assert_cmpstr(pushed, ==, index_digest);
    path = g_strdup_printf("/v2/apps/other-platforms/manifests/%s", index_digest);
    g_assert_cmpuint(podvm_test_registry_get(reg, path, FALSE, &body), ==, 200);
    index = parse_object(body);
    manifests = json_object_get_array_member(index, "manifests");
    g_assert_cmpuint(json_array_get_length(manifests), ==, 2);

    /* Docker schema 2: skopeo converts the manifest. */
    plain = podvm_test_image_new();
    podvm_test_layer_add_file(podvm_test_image_add_layer(plain), "hello", "v2s2\n", -1, 0644);
    g_free(podvm_test_image_write_layout(plain, tmp, "plain", NULL));
    g_clear_pointer(&pushed, g_free);
    podvm_test_registry_push_full(reg, tmp, "plain", "apps/docker:v1", "v2s2", &pushed, &error);
    g_assert_no_error(error);
    g_clear_pointer(&body, g_free);
    g_clear_pointer(&path, g_free);
    path = g_strdup_printf("/v2/apps/docker/manifests/%s", pushed);
    g_assert_cmpuint(podvm_test_registry_get(reg, path, FALSE, &body), ==, 200);
    g_assert_nonnull(strstr(body, "application/vnd.docker.distribution.manifest.v2+json"));
    podvm_test_rmrf(tmp);
}

typedef struct {
    const char *name;
    guint type;
    const char *link; /* symlink or hard link target */
} Expected;

/* Every kind of entry goes into the layer as written, names and all. */
static void
test_layer_entries(void)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    g_autofree char *tmp = podvm_test_mkdtemp();
    g_autofree char *host_file = g_build_filename(tmp, "host.txt", NULL);
    g_autofree char *digest = NULL;
    g_autofree char *blob = NULL;
    g_autofree char *config = NULL;
    g_autofree char *config_path = NULL;
    g_autoptr(JsonObject) config_json = NULL;
    JsonObject *cfg;
    struct archive *a;
    struct archive_entry *ae;
    const Expected expected[] = {
        { "etc/", AE_IFDIR, NULL }, /* tar writes directories with a slash */
        { "etc/motd", AE_IFREG, NULL },
        { "etc/host.txt", AE_IFREG, NULL },
        { "bin/su", AE_IFREG, NULL },
        { "etc/link", AE_IFLNK, "motd" },
        { "etc/hard", AE_IFREG, "etc/motd" },
        { "var/.wh.cache", AE_IFREG, NULL },
        { "opt/.wh..wh..opq", AE_IFREG, NULL },
        { "dev/null", AE_IFCHR, NULL },
        { "run/fifo", AE_IFIFO, NULL },
        { "../escape", AE_IFREG, NULL },
        { "/abs", AE_IFREG, NULL },
        { "evil", AE_IFLNK, "/etc" },
    };
    const char *entrypoint[] = { "/bin/app", "--flag", NULL };
    guint i = 0;

    g_assert_true(g_file_set_contents(host_file, "from the host\n", -1, NULL));
    podvm_test_layer_add_dir(layer, "/etc", 0755);
    podvm_test_layer_add_file(layer, "etc/motd", "hi\n", -1, 0644);
    podvm_test_layer_add_host_file(layer, "etc/host.txt", host_file, 0600);
    podvm_test_layer_add_file(layer, "bin/su", "x", 1, 04755);
    podvm_test_layer_add_symlink(layer, "etc/link", "motd");
    podvm_test_layer_add_hardlink(layer, "etc/hard", "etc/motd");
    podvm_test_layer_add_whiteout(layer, "var/cache");
    podvm_test_layer_add_opaque(layer, "opt");
    podvm_test_layer_add_device(layer, "dev/null", FALSE, 1, 3, 0666);
    podvm_test_layer_add_fifo(layer, "run/fifo", 0600);
    podvm_test_layer_add_raw(layer, "../escape", AE_IFREG, 0644, "x", 1, NULL, FALSE);
    podvm_test_layer_add_raw(layer, "/abs", AE_IFREG, 0644, "y", 1, NULL, FALSE);
    podvm_test_layer_add_raw(layer, "evil", AE_IFLNK, 0777, NULL, 0, "/etc", FALSE);
    podvm_test_image_set_entrypoint(image, entrypoint);
    podvm_test_image_add_env(image, "A=1");
    podvm_test_image_add_env(image, "A=2");
    podvm_test_image_set_working_dir(image, "/work");
    podvm_test_image_set_user(image, "1000:1000");
    podvm_test_image_add_exposed_port(image, "8080/tcp");

    digest = podvm_test_image_write_layout(image, tmp, "v1", NULL);
    blob =
        g_build_filename(tmp, "blobs", "sha256", podvm_test_image_layer_digest(image, 0) + 7, NULL);
    a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    g_assert_cmpint(archive_read_open_filename(a, blob, 16384), ==, ARCHIVE_OK);
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        g_assert_cmpuint(i, <, G_N_ELEMENTS(expected));
        g_assert_cmpstr(archive_entry_pathname(ae), ==, expected[i].name);
        if (archive_entry_hardlink(ae) != NULL) {
            g_assert_cmpstr(archive_entry_hardlink(ae), ==, expected[i].link);
        } else {
            g_assert_cmpuint(archive_entry_filetype(ae), ==, expected[i].type);
            if (expected[i].type == AE_IFLNK)
                g_assert_cmpstr(archive_entry_symlink(ae), ==, expected[i].link);
        }
        if (strcmp(expected[i].name, "bin/su") == 0)
            g_assert_cmpuint(archive_entry_perm(ae), ==, 04755);
        if (strcmp(expected[i].name, "dev/null") == 0) {
            g_assert_cmpuint(archive_entry_rdevmajor(ae), ==, 1);
            g_assert_cmpuint(archive_entry_rdevminor(ae), ==, 3);
        }
        i++;
    }
    archive_read_free(a);
    g_assert_cmpuint(i, ==, G_N_ELEMENTS(expected));

    config_path =
        g_build_filename(tmp, "blobs", "sha256", podvm_test_image_config_digest(image) + 7, NULL);
    g_assert_true(g_file_get_contents(config_path, &config, NULL, NULL));
    config_json = parse_object(config);
    g_assert_cmpstr(json_object_get_string_member(config_json, "architecture"), ==, "amd64");
    cfg = json_object_get_object_member(config_json, "config");
    g_assert_cmpstr(
        json_array_get_string_element(json_object_get_array_member(cfg, "Entrypoint"), 1), ==,
        "--flag");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(cfg, "Env")), ==, 1);
    g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(cfg, "Env"), 0), ==,
                    "A=2");
    g_assert_cmpstr(json_object_get_string_member(cfg, "WorkingDir"), ==, "/work");
    g_assert_cmpstr(json_object_get_string_member(cfg, "User"), ==, "1000:1000");
    g_assert_true(
        json_object_has_member(json_object_get_object_member(cfg, "ExposedPorts"), "8080/tcp"));
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(
                         json_object_get_object_member(config_json, "rootfs"), "diff_ids")),
                     ==, 1);
    podvm_test_rmrf(tmp);
}

/* The redis image: the binary, every library ldd names, and the loader. */
static void
test_redis_image(void)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new_redis();
    g_autofree char *tmp = NULL;
    g_autofree char *blob = NULL;
    g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    struct archive *a;
    struct archive_entry *ae;
    guint64 size = 0;

    if (image == NULL)
        return;
    tmp = podvm_test_mkdtemp();
    g_free(podvm_test_image_write_layout(image, tmp, "v1", &size));
    blob =
        g_build_filename(tmp, "blobs", "sha256", podvm_test_image_layer_digest(image, 0) + 7, NULL);
    a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    g_assert_cmpint(archive_read_open_filename(a, blob, 16384), ==, ARCHIVE_OK);
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK)
        g_hash_table_add(names, g_strdup(archive_entry_pathname(ae)));
    archive_read_free(a);
    g_assert_true(g_hash_table_contains(names, "usr/bin/redis-server"));
    g_assert_true(g_hash_table_contains(names, "etc/passwd"));
    g_assert_true(g_hash_table_contains(names, "data/"));
    /* The loader, where the binary's PT_INTERP finds it: lib64/ld-linux-x86-64.so.2
     * itself or through the host's merged-usr symlink. */
    g_assert_true(g_hash_table_contains(names, "lib64/ld-linux-x86-64.so.2") ||
                  (g_hash_table_contains(names, "lib64") &&
                   g_file_test("/lib64", G_FILE_TEST_IS_SYMLINK) &&
                   g_hash_table_contains(names, "usr/lib64/ld-linux-x86-64.so.2")));
    g_test_message("redis image: %" G_GUINT64_FORMAT " bytes, %u entries", size,
                   g_hash_table_size(names));
    /* It runs, chrooted into its unpacked root, as the app guest runs it. */
    if (getuid() == 0) {
        g_autofree char *root = g_build_filename(tmp, "root", NULL);
        const char *argv[] = { "/usr/bin/redis-server", "--version", NULL };
        g_autofree char *out = NULL;

        extract_image(image, tmp, root);
        out = run_chrooted(root, argv);
        g_assert_true(g_str_has_prefix(out, "Redis server v="));
    } else {
        g_test_message("not root: the redis image is not run chrooted");
    }
    podvm_test_rmrf(tmp);
}

static void
test_container_disk_image(void)
{
    g_autofree char *tmp = podvm_test_mkdtemp();
    g_autofree char *disk = g_build_filename(tmp, "disk.raw", NULL);
    g_autofree char *layout = g_build_filename(tmp, "layout", NULL);
    g_autofree char *blob = NULL;
    g_autoptr(PodvmTestImage) image = NULL;
    struct archive *a;
    struct archive_entry *ae;
    gboolean found = FALSE;

    g_assert_true(g_file_set_contents(disk, "PODVM-DISK", -1, NULL));
    image = podvm_test_image_new_container_disk(disk, "fedora.img");
    g_free(podvm_test_image_write_layout(image, layout, "latest", NULL));
    blob = g_build_filename(layout, "blobs", "sha256", podvm_test_image_layer_digest(image, 0) + 7,
                            NULL);
    a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    g_assert_cmpint(archive_read_open_filename(a, blob, 16384), ==, ARCHIVE_OK);
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        if (g_strcmp0(archive_entry_pathname(ae), "disk/fedora.img") == 0) {
            found = TRUE;
            g_assert_cmpint(archive_entry_uid(ae), ==, 107);
            g_assert_cmpuint(archive_entry_perm(ae), ==, 0440);
            g_assert_cmpint(archive_entry_size(ae), ==, 10);
        }
    }
    archive_read_free(a);
    g_assert_true(found);
    podvm_test_rmrf(tmp);
}

/* A stored blob served with a byte changed: its digest no longer matches. */
static void
test_corrupt_blob(void)
{
    g_autoptr(PodvmTestRegistry) reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_autoptr(PodvmTestImage) image = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *path = NULL;
    g_autofree char *body = NULL;
    g_autoptr(GError) error = NULL;
    const char *layer;

    if (reg == NULL)
        return;
    tmp = podvm_test_mkdtemp();
    image = podvm_test_image_new();
    podvm_test_layer_add_file(podvm_test_image_add_layer(image), "data", "0123456789abcdef", -1,
                              0644);
    g_free(podvm_test_image_write_layout(image, tmp, "v1", NULL));
    podvm_test_registry_push(reg, tmp, "v1", "apps/corrupt:v1", &error);
    g_assert_no_error(error);
    layer = podvm_test_image_layer_digest(image, 0);
    podvm_test_registry_corrupt_blob(reg, layer);
    path = g_strdup_printf("/v2/apps/corrupt/blobs/%s", layer);
    g_assert_cmpuint(podvm_test_registry_get(reg, path, FALSE, &body), ==, 200);
    /* soup hands the body as text: hash the bytes we have (a gzip stream). */
    {
        g_autofree char *blob_path = g_build_filename(tmp, "blobs", "sha256", layer + 7, NULL);
        g_autofree char *orig = NULL;
        gsize len = 0;

        g_assert_true(g_file_get_contents(blob_path, &orig, &len, NULL));
        g_assert_true(memcmp(orig, body, len) != 0);
    }
    podvm_test_rmrf(tmp);
}

/* The hanging server accepts and says nothing. */
static void
test_hanging_server(void)
{
    g_autoptr(PodvmTestHangingServer) server = podvm_test_hanging_server_new();
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GError) error = NULL;
    GInputStream *in;
    GSocket *socket;
    char buf[16];
    gssize n;

    g_socket_client_set_enable_proxy(client, FALSE);
    conn = g_socket_client_connect_to_host(client, podvm_test_hanging_server_host(server), 0, NULL,
                                           &error);
    g_assert_no_error(error);
    g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
                                            "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", 29, NULL, NULL,
                                            &error));
    g_assert_no_error(error);
    socket = g_socket_connection_get_socket(conn);
    g_socket_set_timeout(socket, 1);
    in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    n = g_input_stream_read(in, buf, sizeof buf, NULL, &error);
    g_assert_cmpint(n, ==, -1);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_assert_cmpuint(podvm_test_hanging_server_accepted(server), ==, 1);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/images/fixture/push-busybox", test_push_busybox);
    g_test_add_func("/images/fixture/token-auth", test_token_auth);
    g_test_add_func("/images/fixture/anonymous-pull", test_anonymous_pull);
    g_test_add_func("/images/fixture/index-and-v2s2", test_index_and_v2s2);
    g_test_add_func("/images/fixture/layer-entries", test_layer_entries);
    g_test_add_func("/images/fixture/redis-image", test_redis_image);
    g_test_add_func("/images/fixture/container-disk-image", test_container_disk_image);
    g_test_add_func("/images/fixture/corrupt-blob", test_corrupt_blob);
    g_test_add_func("/images/fixture/hanging-server", test_hanging_server);
    return g_test_run();
}
