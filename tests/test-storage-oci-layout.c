/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OCI layout reader (storage/podvm-oci-layout.c): references by tag and
 * by digest, indexes resolved to this host's platform, layers, configs and
 * verified blob streams; and a containerDisk read by digest.
 */
#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-container-disk.h"
#include "podvm-error.h"
#include "podvm-oci-layout.h"
#include "podvm-test-util.h"

#define MEDIA_GZIP_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_TAR_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_ZSTD_LAYER "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_CONFIG "application/vnd.oci.image.config.v1+json"

typedef struct {
    char *tmp;
    char *layout;
    char *cache;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autofree char *blobs = NULL;
    g_autofree char *layout_path = NULL;

    (void)data;
    f->tmp = podvm_test_mkdtemp();
    f->layout = g_build_filename(f->tmp, "layout", NULL);
    f->cache = g_build_filename(f->tmp, "cache", NULL);
    blobs = g_build_filename(f->layout, "blobs", "sha256", NULL);
    g_assert_cmpint(g_mkdir_with_parents(blobs, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(f->cache, 0700), ==, 0);
    /* The image store's shape: oci-layout and blobs, no index.json. */
    layout_path = g_build_filename(f->layout, "oci-layout", NULL);
    g_assert_true(
        g_file_set_contents(layout_path, "{\"imageLayoutVersion\": \"1.0.0\"}", -1, NULL));
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    (void)data;
    podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
    g_free(f->layout);
    g_free(f->cache);
}

/* Stores @data as a blob; returns its digest, and its descriptor in @out_desc. */
static char *
add_blob(Fixture *f, const char *media_type, GBytes *data, const char *extra, char **out_desc)
{
    g_autofree char *hex = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, data);
    g_autofree char *path = g_build_filename(f->layout, "blobs", "sha256", hex, NULL);

    g_assert_true(g_file_set_contents(path, g_bytes_get_data(data, NULL),
                                      (gssize)g_bytes_get_size(data), NULL));
    if (out_desc != NULL)
        *out_desc = g_strdup_printf(
            "{\"mediaType\": \"%s\", \"digest\": \"sha256:%s\", \"size\": %" G_GSIZE_FORMAT "%s%s}",
            media_type, hex, g_bytes_get_size(data), extra != NULL ? ", " : "",
            extra != NULL ? extra : "");
    return g_strdup_printf("sha256:%s", hex);
}

static char *
add_json_blob(Fixture *f, const char *media_type, const char *json, const char *extra,
              char **out_desc)
{
    g_autoptr(GBytes) bytes = g_bytes_new(json, strlen(json));

    return add_blob(f, media_type, bytes, extra, out_desc);
}

static la_ssize_t
tar_write_cb(struct archive *a, void *client_data, const void *buffer, size_t length)
{
    (void)a;
    g_byte_array_append(client_data, buffer, (guint)length);
    return (la_ssize_t)length;
}

/* A tar (gzip'd when asked) of one regular file. */
static GBytes *
make_tar(const char *name, const char *content, gboolean gzip)
{
    GByteArray *out = g_byte_array_new();
    struct archive *a = archive_write_new();
    struct archive_entry *entry = archive_entry_new();
    gsize size = strlen(content);

    if (gzip)
        g_assert_cmpint(archive_write_add_filter_gzip(a), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_set_format_pax_restricted(a), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_open(a, out, NULL, tar_write_cb, NULL), ==, ARCHIVE_OK);
    archive_entry_set_pathname(entry, name);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, (la_int64_t)size);
    g_assert_cmpint(archive_write_header(a, entry), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_data(a, content, size), ==, (la_ssize_t)size);
    archive_entry_free(entry);
    g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
    archive_write_free(a);
    return g_byte_array_free_to_bytes(out);
}

/* A manifest over @layers (descriptors joined); returns its digest and descriptor. */
static char *
add_manifest(Fixture *f, const char *layers, const char *config_json, const char *extra,
             char **out_desc)
{
    g_autofree char *config = NULL;
    g_autofree char *config_digest = add_json_blob(
        f, MEDIA_CONFIG,
        config_json != NULL ? config_json : "{\"architecture\": \"amd64\", \"os\": \"linux\"}",
        NULL, &config);
    g_autofree char *manifest = g_strdup_printf(
        "{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"config\": %s, \"layers\": [%s]}\n",
        MEDIA_MANIFEST, config, layers);

    return add_json_blob(f, MEDIA_MANIFEST, manifest, extra, out_desc);
}

static char *
platform_extra(const char *os, const char *architecture)
{
    return g_strdup_printf("\"platform\": {\"architecture\": \"%s\", \"os\": \"%s\"}", architecture,
                           os);
}

/* An architecture that is not this host's. */
static const char *
other_architecture(void)
{
    return strcmp(podvm_oci_host_architecture(NULL), "s390x") == 0 ? "riscv64" : "s390x";
}

static void
test_reference_parse(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *digest_ref = g_strdup_printf("oci:/srv/x@sha256:%064d", 0);
    char *dir = NULL, *tag = NULL, *digest = NULL;

    g_assert_true(podvm_oci_reference_parse("oci:/srv/img:v1", &dir, &tag, &digest, &error));
    g_assert_cmpstr(dir, ==, "/srv/img");
    g_assert_cmpstr(tag, ==, "v1");
    g_assert_null(digest);
    g_clear_pointer(&dir, g_free);
    g_clear_pointer(&tag, g_free);

    /* A ':' followed by '/' belongs to the directory; no tag means latest. */
    g_assert_true(podvm_oci_reference_parse("oci:/srv/a:b/img", &dir, &tag, &digest, &error));
    g_assert_cmpstr(dir, ==, "/srv/a:b/img");
    g_assert_cmpstr(tag, ==, "latest");
    g_clear_pointer(&dir, g_free);
    g_clear_pointer(&tag, g_free);

    g_assert_true(podvm_oci_reference_parse(digest_ref, &dir, &tag, &digest, &error));
    g_assert_cmpstr(dir, ==, "/srv/x");
    g_assert_null(tag);
    g_assert_true(g_str_has_prefix(digest, "sha256:0000"));
    g_assert_cmpuint(strlen(digest), ==, 7 + 64);
    g_clear_pointer(&dir, g_free);
    g_clear_pointer(&digest, g_free);

    /* An '@' in a directory name is only a digest when a digest follows. */
    g_assert_true(podvm_oci_reference_parse("oci:/srv/a@b/img:v2", &dir, &tag, &digest, &error));
    g_assert_cmpstr(dir, ==, "/srv/a@b/img");
    g_assert_cmpstr(tag, ==, "v2");
    g_clear_pointer(&dir, g_free);
    g_clear_pointer(&tag, g_free);

    g_assert_false(podvm_oci_reference_parse("oci:/srv/x@sha512:00", NULL, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_test_message("%s", error->message);
    g_clear_error(&error);
    g_assert_false(podvm_oci_reference_parse("oci:/srv/x@sha256:ABCD", NULL, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    g_clear_error(&error);
    g_assert_false(podvm_oci_reference_parse("oci:relative@sha256:00", NULL, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(podvm_oci_reference_parse("oci:/srv/x:", NULL, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(podvm_oci_reference_parse("redis", NULL, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
}

static void
test_host_architecture(void)
{
    const char *variant = NULL;
    const char *architecture = podvm_oci_host_architecture(&variant);

    g_test_message("host architecture %s%s%s", architecture, variant != NULL ? "/" : "",
                   variant != NULL ? variant : "");
#if defined(__x86_64__)
    g_assert_cmpstr(architecture, ==, "amd64");
#elif defined(__aarch64__)
    g_assert_cmpstr(architecture, ==, "arm64");
#endif
    g_assert_nonnull(architecture);
}

/* A manifest by digest, without index.json: layers, config, streams. */
static void
test_open_manifest_by_digest(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) tar = make_tar("etc/a", "alpha\n", FALSE);
    g_autoptr(GBytes) tgz = make_tar("etc/b", "beta\n", TRUE);
    g_autoptr(GBytes) zst = g_bytes_new_static("not read here", 13);
    g_autofree char *tar_desc = NULL, *tgz_desc = NULL, *zst_desc = NULL;
    g_autofree char *tar_digest = add_blob(f, MEDIA_TAR_LAYER, tar, NULL, &tar_desc);
    g_autofree char *tgz_digest = add_blob(f, MEDIA_GZIP_LAYER, tgz, NULL, &tgz_desc);
    g_autofree char *zst_digest = add_blob(f, MEDIA_ZSTD_LAYER, zst, NULL, &zst_desc);
    g_autofree char *layers = g_strjoin(", ", tar_desc, tgz_desc, zst_desc, NULL);
    g_autofree char *manifest_digest = add_manifest(
        f, layers, "{\"os\": \"linux\", \"config\": {\"Cmd\": [\"/bin/sh\"]}}", NULL, NULL);
    g_autofree char *image = g_strdup_printf("oci:%s@%s", f->layout, manifest_digest);
    g_autoptr(PodvmOciLayout) layout = NULL;
    g_autoptr(PodvmOciBlobReader) reader = NULL;
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(JsonNode) config = NULL;
    g_autoptr(GError) error = NULL;
    const PodvmOciLayer *layer;
    guint64 total = 0;
    const void *chunk;
    gssize n;

    (void)data;
    layout = podvm_oci_layout_open(image, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(layout->manifest_desc.digest, ==, manifest_digest);
    g_assert_cmpstr(layout->manifest_desc.media_type, ==, MEDIA_MANIFEST);
    g_assert_cmpstr(layout->digest, ==, manifest_digest);
    g_assert_null(layout->tag);

    list = podvm_oci_layout_get_layers(layout, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(list->len, ==, 3);
    layer = g_ptr_array_index(list, 0);
    g_assert_cmpstr(layer->desc.digest, ==, tar_digest);
    g_assert_cmpstr(layer->desc.media_type, ==, MEDIA_TAR_LAYER);
    g_assert_cmpuint(layer->desc.size, ==, g_bytes_get_size(tar));
    g_assert_cmpint(layer->compression, ==, PODVM_OCI_COMPRESSION_NONE);
    layer = g_ptr_array_index(list, 1);
    g_assert_cmpstr(layer->desc.digest, ==, tgz_digest);
    g_assert_cmpint(layer->compression, ==, PODVM_OCI_COMPRESSION_GZIP);
    layer = g_ptr_array_index(list, 2);
    g_assert_cmpstr(layer->desc.digest, ==, zst_digest);
    g_assert_cmpint(layer->compression, ==, PODVM_OCI_COMPRESSION_ZSTD);

    config = podvm_oci_layout_read_config(layout, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(json_object_has_member(json_node_get_object(config), "config"));

    /* A layer as a verified stream. */
    reader = podvm_oci_layout_open_blob(
        layout, &((PodvmOciLayer *)g_ptr_array_index(list, 1))->desc, NULL, &error);
    g_assert_no_error(error);
    while ((n = podvm_oci_blob_reader_read(reader, &chunk, &error)) > 0)
        total += (guint64)n;
    g_assert_no_error(error);
    g_assert_cmpuint(total, ==, g_bytes_get_size(tgz));
    g_assert_true(podvm_oci_blob_reader_verify(reader, &error));
    g_assert_no_error(error);
}

/* An index blob by digest resolves to this host's platform. */
static void
test_open_index_by_digest(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) ours = make_tar("which", "ours\n", TRUE);
    g_autoptr(GBytes) theirs = make_tar("which", "theirs\n", TRUE);
    g_autofree char *ours_desc = NULL, *theirs_desc = NULL;
    g_autofree char *ours_layer = add_blob(f, MEDIA_GZIP_LAYER, ours, NULL, &ours_desc);
    g_autofree char *theirs_layer = add_blob(f, MEDIA_GZIP_LAYER, theirs, NULL, &theirs_desc);
    g_autofree char *ours_platform = platform_extra("linux", podvm_oci_host_architecture(NULL));
    g_autofree char *theirs_platform = platform_extra("linux", other_architecture());
    g_autofree char *windows_platform =
        platform_extra("windows", podvm_oci_host_architecture(NULL));
    g_autofree char *ours_manifest = NULL, *theirs_manifest = NULL, *windows_manifest = NULL;
    g_autofree char *ours_digest = add_manifest(f, ours_desc, NULL, ours_platform, &ours_manifest);
    g_autofree char *theirs_digest =
        add_manifest(f, theirs_desc, NULL, theirs_platform, &theirs_manifest);
    g_autofree char *windows_digest =
        add_manifest(f, theirs_desc, NULL, windows_platform, &windows_manifest);
    g_autofree char *index = g_strdup_printf(
        "{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"manifests\": [%s, %s, %s]}", MEDIA_INDEX,
        theirs_manifest, windows_manifest, ours_manifest);
    g_autofree char *index_digest = add_json_blob(f, MEDIA_INDEX, index, NULL, NULL);
    g_autofree char *only_theirs = g_strdup_printf(
        "{\"schemaVersion\": 2, \"manifests\": [%s, %s]}", theirs_manifest, windows_manifest);
    g_autofree char *only_theirs_digest = add_json_blob(f, MEDIA_INDEX, only_theirs, NULL, NULL);
    g_autofree char *image = g_strdup_printf("oci:%s@%s", f->layout, index_digest);
    g_autofree char *other = g_strdup_printf("oci:%s@%s", f->layout, only_theirs_digest);
    g_autofree char *expected = NULL;
    g_autoptr(PodvmOciLayout) layout = NULL;
    g_autoptr(GPtrArray) layers = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    (void)theirs_layer;
    (void)theirs_digest;
    (void)windows_digest;
    layout = podvm_oci_layout_open(image, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(layout->manifest_desc.digest, ==, ours_digest);
    g_assert_cmpstr(layout->digest, ==, index_digest);
    layers = podvm_oci_layout_get_layers(layout, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(((PodvmOciLayer *)g_ptr_array_index(layers, 0))->desc.digest, ==, ours_layer);

    /* No manifest for this host: the message says what is there. */
    g_assert_null(podvm_oci_layout_open(other, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    expected = g_strdup_printf("no linux/%s manifest", podvm_oci_host_architecture(NULL));
    g_assert_nonnull(strstr(error->message, expected));
    g_assert_nonnull(strstr(error->message, other_architecture()));
    g_assert_nonnull(strstr(error->message, "windows/"));
}

static void
test_open_by_digest_errors(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) tar = make_tar("a", "a\n", FALSE);
    g_autofree char *tar_desc = NULL;
    g_autofree char *tar_digest = add_blob(f, MEDIA_TAR_LAYER, tar, NULL, &tar_desc);
    g_autofree char *manifest_digest = add_manifest(f, tar_desc, NULL, NULL, NULL);
    g_autofree char *missing = g_strdup_printf("oci:%s@sha256:%064d", f->layout, 0);
    g_autofree char *image = g_strdup_printf("oci:%s@%s", f->layout, manifest_digest);
    g_autofree char *not_json = g_strdup_printf("oci:%s@%s", f->layout, tar_digest);
    g_autofree char *manifest_path =
        g_build_filename(f->layout, "blobs", "sha256", manifest_digest + 7, NULL);
    g_autofree char *contents = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    (void)data;
    /* A digest whose blob is not in the layout. */
    g_assert_null(podvm_oci_layout_open(missing, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "sha256:0000"));
    g_clear_error(&error);

    /* A blob that is not a manifest. */
    g_assert_null(podvm_oci_layout_open(not_json, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    /* The manifest changed under its name: the digest says so. */
    g_assert_true(g_file_get_contents(manifest_path, &contents, &length, NULL));
    contents[length - 1] = ' ';
    g_assert_true(g_file_set_contents(manifest_path, contents, (gssize)length, NULL));
    g_assert_null(podvm_oci_layout_open(image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, manifest_digest));
    g_assert_nonnull(strstr(error->message, "corrupt (digest mismatch)"));
}

/* A corrupt layer read as a stream: the error names the blob. */
static void
test_blob_reader_mismatch(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) tgz = make_tar("etc/b", "beta\n", TRUE);
    g_autofree char *tgz_desc = NULL;
    g_autofree char *tgz_digest = add_blob(f, MEDIA_GZIP_LAYER, tgz, NULL, &tgz_desc);
    g_autofree char *manifest_digest = add_manifest(f, tgz_desc, NULL, NULL, NULL);
    g_autofree char *image = g_strdup_printf("oci:%s@%s", f->layout, manifest_digest);
    g_autofree char *layer_path =
        g_build_filename(f->layout, "blobs", "sha256", tgz_digest + 7, NULL);
    g_autofree char *contents = NULL;
    g_autoptr(PodvmOciLayout) layout = NULL;
    g_autoptr(PodvmOciBlobReader) reader = NULL;
    g_autoptr(GPtrArray) layers = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    (void)data;
    g_assert_true(g_file_get_contents(layer_path, &contents, &length, NULL));
    contents[length / 2] ^= 0x55;
    g_assert_true(g_file_set_contents(layer_path, contents, (gssize)length, NULL));

    layout = podvm_oci_layout_open(image, NULL, &error);
    g_assert_no_error(error);
    layers = podvm_oci_layout_get_layers(layout, &error);
    g_assert_no_error(error);
    reader = podvm_oci_layout_open_blob(
        layout, &((PodvmOciLayer *)g_ptr_array_index(layers, 0))->desc, NULL, &error);
    g_assert_no_error(error);
    g_assert_false(podvm_oci_blob_reader_verify(reader, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, tgz_digest));
    g_assert_nonnull(strstr(error->message, "corrupt (digest mismatch)"));
}

/* Tags still work through index.json, and an unknown layer type is refused. */
static void
test_open_by_tag(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) tar = make_tar("a", "a\n", FALSE);
    g_autofree char *tar_desc = NULL;
    g_autofree char *tar_digest = add_blob(f, "application/x-unknown", tar, NULL, &tar_desc);
    g_autofree char *manifest_desc = NULL;
    g_autofree char *manifest_digest = add_manifest(
        f, tar_desc, NULL, "\"annotations\": {\"org.opencontainers.image.ref.name\": \"v1\"}",
        &manifest_desc);
    g_autofree char *index =
        g_strdup_printf("{\"schemaVersion\": 2, \"manifests\": [%s]}", manifest_desc);
    g_autofree char *index_path = g_build_filename(f->layout, "index.json", NULL);
    g_autofree char *image = g_strdup_printf("oci:%s:v1", f->layout);
    g_autoptr(PodvmOciLayout) layout = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    (void)tar_digest;
    g_assert_true(g_file_set_contents(index_path, index, -1, NULL));
    layout = podvm_oci_layout_open(image, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(layout->manifest_desc.digest, ==, manifest_digest);
    g_assert_cmpstr(layout->tag, ==, "v1");
    g_assert_null(layout->digest);
    g_assert_null(podvm_oci_layout_get_layers(layout, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_test_message("%s", error->message);
}

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

/* A containerDisk from the image store: oci:STORE@sha256:HEX. */
static void
test_container_disk_by_digest(Fixture *f, gconstpointer data)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    g_autofree char *disk = g_strnfill(64 * 1024, 'x');
    g_autoptr(GBytes) tgz = make_tar("disk/root.img", disk, TRUE);
    g_autofree char *tgz_desc = NULL;
    g_autofree char *tgz_digest = add_blob(f, MEDIA_GZIP_LAYER, tgz, NULL, &tgz_desc);
    g_autofree char *manifest_digest = add_manifest(f, tgz_desc, NULL, NULL, NULL);
    g_autofree char *image = g_strdup_printf("oci:%s@%s", f->layout, manifest_digest);
    g_autofree char *expected_dir = g_strdup_printf("sha256-%s", manifest_digest + 7);
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(PodvmContainerDisk) unpacked = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *contents = NULL;

    (void)data;
    (void)tgz_digest;
    if (qemu_img == NULL) {
        g_test_skip("qemu-img is not installed; it probes the unpacked disk");
        return;
    }
    podvm_container_disk_unpack_async(image, NULL, f->cache, qemu_img, NULL, store_result_cb,
                                      &result);
    g_assert_true(podvm_test_wait_until(result_ready, &result, 120000));
    unpacked = podvm_container_disk_unpack_finish(result, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(unpacked->digest, ==, manifest_digest);
    g_assert_cmpstr(unpacked->format, ==, "raw");
    g_assert_nonnull(strstr(unpacked->path, expected_dir));
    g_assert_true(g_file_get_contents(unpacked->path, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, disk);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/storage/oci-layout/reference-parse", test_reference_parse);
    g_test_add_func("/podvm/storage/oci-layout/host-architecture", test_host_architecture);
#define ADD(name, func)                                                                \
    g_test_add("/podvm/storage/oci-layout/" name, Fixture, NULL, fixture_set_up, func, \
               fixture_tear_down)
    ADD("manifest-by-digest", test_open_manifest_by_digest);
    ADD("index-by-digest", test_open_index_by_digest);
    ADD("by-digest-errors", test_open_by_digest_errors);
    ADD("blob-reader-mismatch", test_blob_reader_mismatch);
    ADD("by-tag", test_open_by_tag);
    ADD("container-disk-by-digest", test_container_disk_by_digest);
#undef ADD
    return g_test_run();
}
