/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App root filesystems: OCI layers applied into an erofs image
 * (storage/podvm-app-rootfs-build.c), in process; the helper process
 * podvmd runs for it is tested by test-app-rootfs-helper. Images are
 * built here (podvm-test-image); the erofs image is read back with
 * erofs-utils (fsck.erofs --extract, dump.erofs), never mounted.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-app-rootfs-build.h"
#include "podvm-error.h"
#include "podvm-test-image.h"
#include "podvm-test-util.h"

#include "podvm-test-rootfs.h"

typedef PodvmTestRootfsFixture Fixture;

static PodvmAppRootfs *
build_with(Fixture *f, const char *image, const PodvmAppRootfsOptions *options, GError **error)
{
    return podvm_app_rootfs_build(image, f->rootfs_dir, options, NULL, error);
}

static PodvmAppRootfs *
build(Fixture *f, const char *image, GError **error)
{
    return build_with(f, image, NULL, error);
}

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
assert_rootfs_dir_empty(Fixture *f)
{
    g_autofree char *listing = rootfs_dir_listing(f);

    g_assert_cmpstr(listing, ==, "");
}

/* fsck.erofs checks the image and extracts it into f->extracted. */
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

static void
assert_not_extracted(Fixture *f, const char *path)
{
    g_autofree char *full = extracted_path(f, path);
    GStatBuf st;

    if (g_lstat(full, &st) == 0)
        g_error("'%s' is in the image", path);
}

/*
 * The mode of @path as the image stores it: dump.erofs gives the inode
 * number (its own "Access" hides setuid), the inode is read from the image
 * (compact and extended inodes have i_mode at byte 4).
 */
static guint
mode_in_image(const char *image_path, const char *path)
{
    g_autofree char *arg = g_strdup_printf("--path=%s", path);
    const char *argv[] = { "dump.erofs", arg, image_path, NULL };
    g_autofree char *out = NULL;
    g_autofree char *data = NULL;
    const char *nid_text;
    gsize length = 0;
    guint64 nid, meta_blkaddr, offset;
    guint block_bits;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    nid_text = strstr(out, "NID: ");
    g_assert_nonnull(nid_text);
    nid = g_ascii_strtoull(nid_text + 5, NULL, 10);
    g_assert_true(g_file_get_contents(image_path, &data, &length, NULL));
    g_assert_cmpuint(length, >, 1024 + 64);
    block_bits = (guchar)data[1024 + 12];
    meta_blkaddr = (guchar)data[1024 + 40] | (guint64)(guchar)data[1024 + 41] << 8 |
                   (guint64)(guchar)data[1024 + 42] << 16 | (guint64)(guchar)data[1024 + 43] << 24;
    offset = (meta_blkaddr << block_bits) + nid * 32;
    g_assert_cmpuint(offset + 6, <, length);
    return (guchar)data[offset + 4] | (guint)(guchar)data[offset + 5] << 8;
}

/* "UID:GID" of @path in the image, as dump.erofs shows them. */
static char *
dump_owner(const char *image_path, const char *path)
{
    g_autofree char *arg = g_strdup_printf("--path=%s", path);
    const char *argv[] = { "dump.erofs", arg, image_path, NULL };
    g_autofree char *out = NULL;
    const char *uid, *gid;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    uid = strstr(out, "Uid: ");
    gid = strstr(out, "Gid: ");
    g_assert_nonnull(uid);
    g_assert_nonnull(gid);
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                           g_ascii_strtoull(uid + 5, NULL, 10),
                           g_ascii_strtoull(gid + 5, NULL, 10));
}

static char *
layer_blob_path(Fixture *f, PodvmTestImage *image, guint i)
{
    const char *digest = podvm_test_image_layer_digest(image, i);

    return g_build_filename(f->layout, "blobs", "sha256", digest + strlen("sha256:"), NULL);
}

/* ------------------------------------------------------------------------ */

static void
test_layers_and_config(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *lower = podvm_test_image_add_layer(image);
    PodvmTestLayer *upper = podvm_test_image_add_layer(image);
    const char *entrypoint[] = { "/bin/tool", "--serve", NULL };
    const char *cmd[] = { "8080", NULL };
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *expected_name = NULL;
    g_autofree char *listing = NULL;
    g_autofree char *json_path = NULL;
    g_autofree char *json_text = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_dir(lower, "etc", 0755);
    podvm_test_layer_add_file(lower, "etc/a", "lower a\n", -1, 0644);
    podvm_test_layer_add_file(lower, "bin/tool", "#!/bin/sh\n", -1, 0755);
    podvm_test_layer_add_symlink(lower, "usr/bin", "../bin");
    podvm_test_layer_add_file(lower, "etc/hostname", "x\n", -1, 0644);
    podvm_test_layer_add_hardlink(lower, "etc/hostname-link", "etc/hostname");
    podvm_test_layer_set_compression(upper, PODVM_TEST_LAYER_TAR);
    podvm_test_layer_add_file(upper, "etc/a", "upper a\n", -1, 0600);
    podvm_test_layer_add_file(upper, "./etc//b", "b\n", -1, 0644);
    podvm_test_image_set_entrypoint(image, entrypoint);
    podvm_test_image_set_cmd(image, cmd);
    podvm_test_image_add_env(image, "PATH=/bin");
    podvm_test_image_add_env(image, "MODE=test");
    podvm_test_image_set_working_dir(image, "/srv");
    podvm_test_image_set_user(image, "1000:1000");
    podvm_test_image_add_exposed_port(image, "8080/tcp");
    podvm_test_image_add_exposed_port(image, "53/udp");
    ref = podvm_test_rootfs_write_image(f, image, &digest);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    g_assert_false(rootfs->cached);
    g_assert_cmpstr(rootfs->digest, ==, digest);
    g_assert_cmpstr(rootfs->fs_type, ==, "erofs");
    expected_name = g_strdup_printf("sha256-%s.erofs", digest + strlen("sha256:"));
    g_assert_true(g_str_has_suffix(rootfs->path, expected_name));
    g_assert_true(g_str_has_prefix(rootfs->path, f->rootfs_dir));
    g_assert_nonnull(rootfs->entrypoint);
    g_assert_cmpstrv(rootfs->entrypoint, entrypoint);
    g_assert_cmpstrv(rootfs->cmd, cmd);
    g_assert_cmpuint(g_strv_length(rootfs->env), ==, 2);
    g_assert_cmpstr(rootfs->env[0], ==, "PATH=/bin");
    g_assert_cmpstr(rootfs->env[1], ==, "MODE=test");
    g_assert_cmpstr(rootfs->working_dir, ==, "/srv");
    g_assert_cmpstr(rootfs->user, ==, "1000:1000");
    g_assert_cmpuint(g_strv_length(rootfs->exposed_ports), ==, 2);
    g_assert_true(g_strv_contains((const char *const *)rootfs->exposed_ports, "8080/tcp"));
    g_assert_true(g_strv_contains((const char *const *)rootfs->exposed_ports, "53/udp"));

    /* The image and its summary, nothing else (no temporaries). */
    listing = rootfs_dir_listing(f);
    {
        g_autofree char *expected =
            g_strdup_printf("sha256-%s.erofs sha256-%s.json", digest + 7, digest + 7);

        g_assert_cmpstr(listing, ==, expected);
    }
    json_path = g_strdup_printf("%s/sha256-%s.json", f->rootfs_dir, digest + 7);
    g_assert_true(g_file_get_contents(json_path, &json_text, NULL, NULL));
    g_test_message("%s", json_text);
    g_assert_nonnull(strstr(json_text, "\"exposedPorts\""));
    g_assert_nonnull(strstr(json_text, "\"workingDir\" : \"/srv\""));

    extract(f, rootfs->path);
    assert_extracted_file(f, "etc/a", "upper a\n");
    assert_extracted_file(f, "etc/b", "b\n");
    assert_extracted_file(f, "bin/tool", "#!/bin/sh\n");
    assert_extracted_file(f, "etc/hostname-link", "x\n");
    g_assert_cmpuint(mode_in_image(rootfs->path, "/etc/a") & 07777, ==, 0600);
    g_assert_cmpuint(mode_in_image(rootfs->path, "/bin/tool") & 07777, ==, 0755);
    {
        g_autofree char *link = extracted_path(f, "usr/bin");
        g_autofree char *target = g_file_read_link(link, NULL);

        g_assert_cmpstr(target, ==, "../bin");
    }
}

static void
test_whiteout(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *lower = podvm_test_image_add_layer(image);
    PodvmTestLayer *upper = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(lower, "etc/gone", "gone\n", -1, 0644);
    podvm_test_layer_add_file(lower, "etc/kept", "kept\n", -1, 0644);
    podvm_test_layer_add_file(lower, "var/cache/x/y", "y\n", -1, 0644);
    podvm_test_layer_add_file(lower, "var/cache/keep", "k\n", -1, 0644);
    podvm_test_layer_add_whiteout(upper, "etc/gone");
    podvm_test_layer_add_whiteout(upper, "var/cache/x");
    /* A whiteout of something that never was is harmless. */
    podvm_test_layer_add_whiteout(upper, "nowhere/nothing");
    /* A whiteout and a new file of the same name in one layer: the file stays. */
    podvm_test_layer_add_file(upper, "etc/new", "new\n", -1, 0644);
    podvm_test_layer_add_whiteout(upper, "etc/new");
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    extract(f, rootfs->path);
    assert_not_extracted(f, "etc/gone");
    assert_not_extracted(f, "etc/.wh.gone");
    assert_extracted_file(f, "etc/kept", "kept\n");
    assert_not_extracted(f, "var/cache/x");
    assert_extracted_file(f, "var/cache/keep", "k\n");
    assert_extracted_file(f, "etc/new", "new\n");
    assert_not_extracted(f, "nowhere");
}

static void
test_opaque(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *lower = podvm_test_image_add_layer(image);
    PodvmTestLayer *upper = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(lower, "opt/app/old", "old\n", -1, 0644);
    podvm_test_layer_add_file(lower, "opt/app/sub/old2", "old2\n", -1, 0644);
    podvm_test_layer_add_file(lower, "opt/other", "other\n", -1, 0644);
    /* This layer's entries before the marker stay; lower ones go, also below them. */
    podvm_test_layer_add_dir(upper, "opt/app", 0755);
    podvm_test_layer_add_dir(upper, "opt/app/sub", 0755);
    podvm_test_layer_add_file(upper, "opt/app/before", "before\n", -1, 0644);
    podvm_test_layer_add_opaque(upper, "opt/app");
    podvm_test_layer_add_file(upper, "opt/app/after", "after\n", -1, 0644);
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    extract(f, rootfs->path);
    assert_not_extracted(f, "opt/app/old");
    assert_not_extracted(f, "opt/app/sub/old2");
    assert_not_extracted(f, "opt/app/.wh..wh..opq");
    assert_extracted_file(f, "opt/app/before", "before\n");
    assert_extracted_file(f, "opt/app/after", "after\n");
    assert_extracted_file(f, "opt/other", "other\n");
    {
        g_autofree char *sub = extracted_path(f, "opt/app/sub");

        g_assert_true(g_file_test(sub, G_FILE_TEST_IS_DIR));
    }
}

/* A refused entry: the error names the layer and the path; nothing is left. */
static void
assert_refused(Fixture *f, PodvmTestImage *image, const char *ref, const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = build(f, ref, &error);

    g_assert_null(rootfs);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, podvm_test_image_layer_digest(image, 0)));
    g_assert_nonnull(strstr(error->message, path));
    assert_rootfs_dir_empty(f);
}

static void
test_dotdot_refused(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autofree char *escaped = g_build_filename(f->tmp, "store", "escape", NULL);
    g_autofree char *escaped2 = g_build_filename(f->tmp, "escape", NULL);

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(layer, "etc/ok", "ok\n", -1, 0644);
    podvm_test_layer_add_raw(layer, "../../escape", AE_IFREG, 0644, "owned\n", 6, NULL, FALSE);
    ref = podvm_test_rootfs_write_image(f, image, NULL);
    assert_refused(f, image, ref, "../../escape");
    g_assert_false(g_file_test(escaped, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(escaped2, G_FILE_TEST_EXISTS));
}

static void
test_absolute_name_refused(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autofree char *target = g_build_filename(f->tmp, "abs", NULL);

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_raw(layer, target, AE_IFREG, 0644, "owned\n", 6, NULL, FALSE);
    ref = podvm_test_rootfs_write_image(f, image, NULL);
    assert_refused(f, image, ref, target);
    g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
}

/* /etc -> / in one layer, etc/x in the next: x lands at the root of the image. */
static void
test_absolute_symlink_contained(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *lower = podvm_test_image_add_layer(image);
    PodvmTestLayer *upper = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autofree char *host_dir = g_build_filename(f->tmp, "host", NULL);
    g_autofree char *host_file = g_build_filename(host_dir, "x", NULL);
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    g_assert_cmpint(g_mkdir(host_dir, 0755), ==, 0);
    podvm_test_layer_add_symlink(lower, "etc", "/");
    /* A link to a host directory that exists (on the host, not in the image). */
    podvm_test_layer_add_symlink(lower, "hostdir", host_dir);
    podvm_test_layer_add_file(upper, "etc/x", "inside\n", -1, 0644);
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    extract(f, rootfs->path);
    assert_extracted_file(f, "x", "inside\n");
    {
        g_autofree char *link = extracted_path(f, "etc");
        g_autofree char *target = g_file_read_link(link, NULL);

        g_assert_cmpstr(target, ==, "/");
    }
    g_clear_pointer(&rootfs, podvm_app_rootfs_free);
    podvm_test_rmrf(f->rootfs_dir);
    g_assert_cmpint(g_mkdir_with_parents(f->rootfs_dir, 0755), ==, 0);

    /* Through the link to the host's directory: refused (its target is not
     * in the image), and the host's directory stays empty. */
    {
        g_autoptr(PodvmTestImage) image2 = podvm_test_image_new();
        PodvmTestLayer *l1 = podvm_test_image_add_layer(image2);
        PodvmTestLayer *l2 = podvm_test_image_add_layer(image2);
        g_autofree char *ref2 = NULL;
        g_autofree char *layout2 = g_build_filename(f->tmp, "layout2", NULL);
        g_autofree char *digest2 = NULL;

        podvm_test_layer_add_symlink(l1, "hostdir", host_dir);
        podvm_test_layer_add_file(l2, "hostdir/x", "owned\n", -1, 0644);
        digest2 = podvm_test_image_write_layout(image2, layout2, "v1", NULL);
        ref2 = g_strdup_printf("oci:%s@%s", layout2, digest2);
        rootfs = build(f, ref2, &error);
        g_assert_null(rootfs);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_test_message("%s", error->message);
        g_assert_nonnull(strstr(error->message, podvm_test_image_layer_digest(image2, 1)));
        g_assert_nonnull(strstr(error->message, "hostdir/x"));
        assert_rootfs_dir_empty(f);
    }
    g_assert_false(g_file_test(host_file, G_FILE_TEST_EXISTS));
}

/* a -> ../../.. then a/x: ".." stops at the image's root. */
static void
test_relative_symlink_contained(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *lower = podvm_test_image_add_layer(image);
    PodvmTestLayer *upper = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *outside1 = g_build_filename(f->tmp, "x", NULL);
    g_autofree char *outside2 = g_build_filename(f->tmp, "store", "x", NULL);
    g_autofree char *outside3 = g_build_filename(f->rootfs_dir, "x", NULL);

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_symlink(lower, "a", "../../..");
    podvm_test_layer_add_dir(lower, "deep/er", 0755);
    podvm_test_layer_add_symlink(lower, "deep/er/up", "../../../../../../");
    podvm_test_layer_add_file(upper, "a/x", "inside\n", -1, 0644);
    podvm_test_layer_add_file(upper, "deep/er/up/y", "inside too\n", -1, 0644);
    /* A hard link through the link, to a file outside: not there, refused below. */
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    extract(f, rootfs->path);
    assert_extracted_file(f, "x", "inside\n");
    assert_extracted_file(f, "y", "inside too\n");
    g_assert_false(g_file_test(outside1, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(outside2, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(outside3, G_FILE_TEST_EXISTS));
}

static void
test_hardlinks(Fixture *f, gconstpointer data)
{
    g_autofree char *host_file = g_build_filename(f->tmp, "secret", NULL);
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    g_assert_true(g_file_set_contents(host_file, "secret\n", -1, NULL));
    /* A link to a file of the host, by an absolute name or through "..". */
    {
        g_autoptr(PodvmTestImage) image = podvm_test_image_new();
        PodvmTestLayer *layer = podvm_test_image_add_layer(image);
        g_autofree char *ref = NULL;

        podvm_test_layer_add_raw(layer, "stolen", AE_IFREG, 0644, NULL, 0, host_file, TRUE);
        ref = podvm_test_rootfs_write_image(f, image, NULL);
        assert_refused(f, image, ref, "stolen");
    }
    {
        g_autoptr(PodvmTestImage) image = podvm_test_image_new();
        PodvmTestLayer *layer = podvm_test_image_add_layer(image);
        g_autofree char *ref = NULL;
        g_autofree char *layout = g_build_filename(f->tmp, "layout-dotdot", NULL);
        g_autofree char *digest = NULL;

        podvm_test_layer_add_symlink(layer, "up", "../../../..");
        podvm_test_layer_add_raw(layer, "stolen", AE_IFREG, 0644, NULL, 0, "up/secret", TRUE);
        digest = podvm_test_image_write_layout(image, layout, "v1", NULL);
        ref = g_strdup_printf("oci:%s@%s", layout, digest);
        assert_refused(f, image, ref, "stolen");
    }
    {
        g_autoptr(PodvmTestImage) image = podvm_test_image_new();
        PodvmTestLayer *layer = podvm_test_image_add_layer(image);
        g_autofree char *ref = NULL;
        g_autofree char *layout = g_build_filename(f->tmp, "layout-missing", NULL);
        g_autofree char *digest = NULL;

        podvm_test_layer_add_hardlink(layer, "link", "not/there");
        digest = podvm_test_image_write_layout(image, layout, "v1", NULL);
        ref = g_strdup_printf("oci:%s@%s", layout, digest);
        assert_refused(f, image, ref, "link");
    }
    {
        g_autofree char *contents = NULL;

        g_assert_true(g_file_get_contents(host_file, &contents, NULL, NULL));
        g_assert_cmpstr(contents, ==, "secret\n");
    }
}

static void
test_devices_and_setuid(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_dir(layer, "dev", 0755);
    podvm_test_layer_add_device(layer, "dev/sda", TRUE, 8, 0, 0660);
    podvm_test_layer_add_device(layer, "dev/mem", FALSE, 1, 1, 0640);
    podvm_test_layer_add_fifo(layer, "run/fifo", 0600);
    podvm_test_layer_add_file(layer, "bin/su", "su\n", -1, 04755);
    podvm_test_layer_add_file(layer, "bin/wall", "wall\n", -1, 02755);
    podvm_test_layer_add_dir(layer, "srv/shared", 02775);
    podvm_test_layer_add_file(layer, "bin/plain", "plain\n", -1, 01755);
    podvm_test_layer_set_owner(layer, 999, 998);
    podvm_test_layer_add_file(layer, "home/owned", "owned\n", -1, 0640);
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    extract(f, rootfs->path);
    assert_not_extracted(f, "dev/sda");
    assert_not_extracted(f, "dev/mem");
    assert_not_extracted(f, "run/fifo");
    assert_extracted_file(f, "bin/su", "su\n");
    g_assert_cmpuint(mode_in_image(rootfs->path, "/bin/su") & 07777, ==, 0755);
    g_assert_cmpuint(mode_in_image(rootfs->path, "/bin/wall") & 07777, ==, 0755);
    g_assert_cmpuint(mode_in_image(rootfs->path, "/srv/shared") & 07777, ==, 0775);
    /* The sticky bit is harmless and kept. */
    g_assert_cmpuint(mode_in_image(rootfs->path, "/bin/plain") & 07777, ==, 01755);
    /* Owners are kept when the builder runs as root (else all is root's). */
    {
        g_autofree char *owner = dump_owner(rootfs->path, "/home/owned");

        g_assert_cmpstr(owner, ==, geteuid() == 0 ? "999:998" : "0:0");
    }
}

static void
test_corrupt_layer(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *lower = podvm_test_image_add_layer(image);
    PodvmTestLayer *upper = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autofree char *blob = NULL;
    g_autofree char *contents = NULL;
    g_autofree char *payload = g_strnfill(256 * 1024, 'p');
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(lower, "etc/a", "a\n", -1, 0644);
    podvm_test_layer_set_compression(upper, PODVM_TEST_LAYER_TAR);
    podvm_test_layer_add_file(upper, "data/payload", payload, -1, 0644);
    ref = podvm_test_rootfs_write_image(f, image, NULL);
    /* One flipped byte inside the file's data: the tar still reads. */
    blob = layer_blob_path(f, image, 1);
    g_assert_true(g_file_get_contents(blob, &contents, &length, NULL));
    contents[length / 2] ^= 0x55;
    g_assert_true(g_file_set_contents(blob, contents, (gssize)length, NULL));

    rootfs = build(f, ref, &error);
    g_assert_null(rootfs);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, podvm_test_image_layer_digest(image, 1)));
    g_assert_nonnull(strstr(error->message, "corrupt (digest mismatch)"));
    assert_rootfs_dir_empty(f);
}

/* A second build finds the pair and reads no layer: the layers may even be gone. */
static void
test_cached(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    const char *cmd[] = { "/bin/true", NULL };
    g_autofree char *ref = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *by_digest = NULL;
    g_autofree char *blob = NULL;
    g_autofree char *listing = NULL;
    g_autoptr(PodvmAppRootfs) first = NULL;
    g_autoptr(PodvmAppRootfs) second = NULL;
    g_autoptr(PodvmAppRootfs) third = NULL;
    g_autoptr(GError) error = NULL;
    GStatBuf before, after;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(layer, "bin/true", "true\n", -1, 0755);
    podvm_test_image_set_cmd(image, cmd);
    podvm_test_image_add_exposed_port(image, "6379/tcp");
    ref = podvm_test_rootfs_write_image(f, image, &digest);

    first = build(f, ref, &error);
    g_assert_no_error(error);
    g_assert_false(first->cached);
    g_assert_cmpint(g_stat(first->path, &before), ==, 0);
    listing = rootfs_dir_listing(f);

    blob = layer_blob_path(f, image, 0);
    g_assert_cmpint(g_unlink(blob), ==, 0);
    second = build(f, ref, &error);
    g_assert_no_error(error);
    g_assert_true(second->cached);
    g_assert_cmpstr(second->path, ==, first->path);
    g_assert_cmpstr(second->digest, ==, digest);
    g_assert_cmpstrv(second->cmd, cmd);
    g_assert_null(second->entrypoint);
    g_assert_cmpstrv(second->exposed_ports, first->exposed_ports);
    g_assert_cmpint(g_stat(second->path, &after), ==, 0);
    g_assert_cmpint(before.st_ino, ==, after.st_ino);

    /* The same image by digest (the image store's form) is the same entry. */
    by_digest = g_strdup_printf("oci:%s@%s", f->layout, digest);
    third = build(f, by_digest, &error);
    g_assert_no_error(error);
    g_assert_true(third->cached);
    g_assert_cmpstr(third->path, ==, first->path);
    {
        g_autofree char *again = rootfs_dir_listing(f);

        g_assert_cmpstr(again, ==, listing);
    }
}

/* What a layer puts where a lower layer had something else replaces it. */
static void
test_replace_kinds(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *lower = podvm_test_image_add_layer(image);
    PodvmTestLayer *upper = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(lower, "was-file", "file\n", -1, 0644);
    podvm_test_layer_add_file(lower, "was-dir/child", "child\n", -1, 0644);
    podvm_test_layer_add_symlink(lower, "was-link", "/etc");
    podvm_test_layer_add_dir(lower, "ro", 0555);
    podvm_test_layer_add_file(lower, "ro/inner", "inner\n", -1, 0444);
    /* A directory replaces a file (the entry comes first, as in any diff). */
    podvm_test_layer_add_dir(upper, "was-file", 0755);
    podvm_test_layer_add_file(upper, "was-file/now-child", "now\n", -1, 0644);
    podvm_test_layer_add_file(upper, "was-dir", "now a file\n", -1, 0644);
    podvm_test_layer_add_dir(upper, "was-link", 0750);
    podvm_test_layer_add_file(upper, "was-link/in", "in\n", -1, 0644);
    /* A read-only directory of a lower layer still takes new entries. */
    podvm_test_layer_add_file(upper, "ro/added", "added\n", -1, 0644);
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    extract(f, rootfs->path);
    assert_extracted_file(f, "was-file/now-child", "now\n");
    assert_extracted_file(f, "was-dir", "now a file\n");
    assert_extracted_file(f, "was-link/in", "in\n");
    assert_not_extracted(f, "etc/in");
    assert_extracted_file(f, "ro/inner", "inner\n");
    assert_extracted_file(f, "ro/added", "added\n");
    g_assert_cmpuint(mode_in_image(rootfs->path, "/ro") & 07777, ==, 0555);
    g_assert_cmpuint(mode_in_image(rootfs->path, "/was-link") & 0170000, ==, 0040000);
    g_assert_cmpuint(mode_in_image(rootfs->path, "/was-link") & 07777, ==, 0750);
}

static void
test_limits(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    g_autofree char *ref = NULL;
    g_autofree char *big = g_strnfill(100 * 1024, 'b');
    PodvmAppRootfsOptions few_entries = { .max_entries = 3 };
    PodvmAppRootfsOptions few_bytes = { .max_bytes = 64 * 1024 };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    for (guint i = 0; i < 5; i++) {
        g_autofree char *name = g_strdup_printf("f%u", i);

        podvm_test_layer_add_file(layer, name, "x", 1, 0644);
    }
    podvm_test_layer_add_file(layer, "big", big, -1, 0644);
    ref = podvm_test_rootfs_write_image(f, image, NULL);

    /* A config too large for podvmd to read back (and for the guest channel). */
    {
        g_autoptr(PodvmTestImage) fat = podvm_test_image_new();
        PodvmTestLayer *fat_layer = podvm_test_image_add_layer(fat);
        g_autofree char *value = g_strnfill(600 * 1024, 'v');
        g_autofree char *env = g_strdup_printf("HUGE=%s", value);
        g_autofree char *fat_layout = g_build_filename(f->tmp, "fat", NULL);
        g_autofree char *fat_digest = NULL;
        g_autofree char *fat_ref = NULL;

        podvm_test_layer_add_file(fat_layer, "a", "a", 1, 0644);
        podvm_test_image_add_env(fat, env);
        fat_digest = podvm_test_image_write_layout(fat, fat_layout, "v1", NULL);
        fat_ref = g_strdup_printf("oci:%s@%s", fat_layout, fat_digest);
        g_assert_null(build(f, fat_ref, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "too large"));
        assert_rootfs_dir_empty(f);
        g_clear_error(&error);
    }

    /* Names nested absurdly deep. */
    {
        g_autoptr(PodvmTestImage) deep = podvm_test_image_new();
        PodvmTestLayer *deep_layer = podvm_test_image_add_layer(deep);
        g_autoptr(GString) name = g_string_new(NULL);
        g_autofree char *deep_layout = g_build_filename(f->tmp, "deep", NULL);
        g_autofree char *deep_digest = NULL;
        g_autofree char *deep_ref = NULL;

        for (guint i = 0; i < 600; i++)
            g_string_append(name, "d/");
        g_string_append(name, "f");
        podvm_test_layer_add_raw(deep_layer, name->str, AE_IFREG, 0644, "x", 1, NULL, FALSE);
        deep_digest = podvm_test_image_write_layout(deep, deep_layout, "v1", NULL);
        deep_ref = g_strdup_printf("oci:%s@%s", deep_layout, deep_digest);
        g_assert_null(build(f, deep_ref, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "too deeply nested"));
        assert_rootfs_dir_empty(f);
        g_clear_error(&error);
    }

    g_assert_null(build_with(f, ref, &few_entries, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "more than 3 entries"));
    assert_rootfs_dir_empty(f);
    g_clear_error(&error);

    g_assert_null(build_with(f, ref, &few_bytes, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "more than 65536 bytes"));
    assert_rootfs_dir_empty(f);
    g_clear_error(&error);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
}

static void
test_cancelled(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autofree char *ref = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_add_file(layer, "a", "a", 1, 0644);
    ref = podvm_test_rootfs_write_image(f, image, NULL);
    g_cancellable_cancel(cancellable);
    g_assert_null(podvm_app_rootfs_build(ref, f->rootfs_dir, NULL, cancellable, &error));
    g_assert_nonnull(error);
    g_test_message("%s", error->message);
    g_assert_true(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_CANCELLED) ||
                  g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
    assert_rootfs_dir_empty(f);
}

static la_ssize_t
zstd_write_cb(struct archive *a, void *client_data, const void *buffer, size_t length)
{
    (void)a;
    g_byte_array_append(client_data, buffer, (guint)length);
    return (la_ssize_t)length;
}

/* Stores @data in the layout; returns "sha256:HEX". */
static char *
store_blob(Fixture *f, const void *data, gsize length)
{
    g_autofree char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, length);
    g_autofree char *path = g_build_filename(f->layout, "blobs", "sha256", hex, NULL);

    g_assert_true(g_file_set_contents(path, data, (gssize)length, NULL));
    return g_strdup_printf("sha256:%s", hex);
}

/* tar+zstd layers (what newer builders push) unpack like the others. */
static void
test_zstd_layer(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *tar = NULL;
    g_autofree char *layer_path = NULL;
    g_autofree char *manifest_text = NULL;
    g_autofree char *manifest_path = NULL;
    g_autofree char *zstd_digest = NULL;
    g_autofree char *new_manifest_digest = NULL;
    g_autofree char *new_manifest = NULL;
    g_autoptr(GByteArray) zstd = g_byte_array_new();
    g_autoptr(JsonNode) manifest = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_autoptr(GError) error = NULL;
    struct archive *a;
    struct archive_entry *entry;
    JsonObject *layer_desc;
    gsize tar_length = 0, manifest_length = 0;

    (void)data;
    if (!podvm_test_rootfs_require_erofs())
        return;
    podvm_test_layer_set_compression(layer, PODVM_TEST_LAYER_TAR);
    podvm_test_layer_add_file(layer, "etc/zstd", "zstd\n", -1, 0644);
    ref = podvm_test_rootfs_write_image(f, image, &digest);
    layer_path = layer_blob_path(f, image, 0);
    g_assert_true(g_file_get_contents(layer_path, &tar, &tar_length, NULL));

    /* The same tar, zstd-compressed, in a manifest of its own. */
    a = archive_write_new();
    if (archive_write_add_filter_zstd(a) != ARCHIVE_OK) {
        archive_write_free(a);
        g_test_skip("this libarchive cannot write zstd");
        return;
    }
    g_assert_cmpint(archive_write_set_format_raw(a), ==, ARCHIVE_OK);
    /* No zero padding after the zstd frame. */
    g_assert_cmpint(archive_write_set_bytes_in_last_block(a, 1), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_open(a, zstd, NULL, zstd_write_cb, NULL), ==, ARCHIVE_OK);
    entry = archive_entry_new();
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_size(entry, (la_int64_t)tar_length);
    g_assert_cmpint(archive_write_header(a, entry), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_data(a, tar, tar_length), ==, (la_ssize_t)tar_length);
    archive_entry_free(entry);
    g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
    archive_write_free(a);
    zstd_digest = store_blob(f, zstd->data, zstd->len);

    manifest_path = g_build_filename(f->layout, "blobs", "sha256", digest + 7, NULL);
    g_assert_true(g_file_get_contents(manifest_path, &manifest_text, &manifest_length, NULL));
    manifest = json_from_string(manifest_text, &error);
    g_assert_no_error(error);
    layer_desc = json_array_get_object_element(
        json_object_get_array_member(json_node_get_object(manifest), "layers"), 0);
    json_object_set_string_member(layer_desc, "mediaType",
                                  "application/vnd.oci.image.layer.v1.tar+zstd");
    json_object_set_string_member(layer_desc, "digest", zstd_digest);
    json_object_set_int_member(layer_desc, "size", zstd->len);
    new_manifest = json_to_string(manifest, FALSE);
    new_manifest_digest = store_blob(f, new_manifest, strlen(new_manifest));
    g_free(ref);
    ref = g_strdup_printf("oci:%s@%s", f->layout, new_manifest_digest);

    rootfs = build(f, ref, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(rootfs->digest, ==, new_manifest_digest);
    extract(f, rootfs->path);
    assert_extracted_file(f, "etc/zstd", "zstd\n");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(name, func)                                                                          \
    g_test_add("/podvm/storage/app-rootfs/" name, Fixture, NULL, podvm_test_rootfs_set_up, func, \
               podvm_test_rootfs_tear_down)
    ADD("layers-and-config", test_layers_and_config);
    ADD("whiteout", test_whiteout);
    ADD("opaque", test_opaque);
    ADD("dotdot-refused", test_dotdot_refused);
    ADD("absolute-name-refused", test_absolute_name_refused);
    ADD("absolute-symlink-contained", test_absolute_symlink_contained);
    ADD("relative-symlink-contained", test_relative_symlink_contained);
    ADD("hardlinks", test_hardlinks);
    ADD("devices-and-setuid", test_devices_and_setuid);
    ADD("corrupt-layer", test_corrupt_layer);
    ADD("cached", test_cached);
    ADD("zstd-layer", test_zstd_layer);
    ADD("limits", test_limits);
    ADD("replace-kinds", test_replace_kinds);
    ADD("cancelled", test_cancelled);
#undef ADD
    return g_test_run();
}
