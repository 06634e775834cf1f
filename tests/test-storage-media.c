/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "podvm-cloud-init.h"
#include "podvm-container-disk.h"
#include "podvm-error.h"
#include "podvm-test-util.h"

#define PVD_OFFSET (16 * 2048)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoImage, iso_image_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoReadOpts, iso_read_opts_free)

/* ------------------------------------------------------------------------ */
/* Helpers */

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **out = user_data;

    (void)source;
    *out = g_object_ref(result);
}

static gboolean
result_ready(gpointer user_data)
{
    return *(GAsyncResult **)user_data != NULL;
}

static GAsyncResult *
wait_for_result(GAsyncResult **slot)
{
    g_assert_true(podvm_test_wait_until(result_ready, slot, 120000));
    return *slot;
}

static gboolean
write_iso(const PodvmCloudInitMedia *media, const char *path, GError **error)
{
    g_autoptr(GAsyncResult) result = NULL;

    podvm_cloud_init_write_iso_async(media, path, NULL, store_result_cb, &result);
    return podvm_cloud_init_write_iso_finish(wait_for_result(&result), error);
}

static guint
count_dir_entries(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    guint n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir) != NULL)
        n++;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Reading an ISO back */

typedef struct {
    IsoImage *image;
    gboolean has_rockridge;
    gboolean has_joliet;
} IsoReadBack;

static void
iso_read_back_free(IsoReadBack *iso)
{
    if (iso->image != NULL)
        iso_image_unref(iso->image);
    g_free(iso);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoReadBack, iso_read_back_free)

/* The primary volume descriptor as the kernel and blkid see it. */
static void
assert_pvd(const char *path, const char *volume_id)
{
    g_autofree char *contents = NULL;
    gsize length = 0;
    char expected[33];

    g_assert_true(g_file_get_contents(path, &contents, &length, NULL));
    g_assert_cmpuint(length, >, PVD_OFFSET + 2048);
    g_assert_cmpuint(length % 2048, ==, 0);
    g_assert_cmpint((guchar)contents[PVD_OFFSET], ==, 1); /* primary */
    g_assert_cmpmem(contents + PVD_OFFSET + 1, 5, "CD001", 5);
    memset(expected, ' ', 32);
    memcpy(expected, volume_id, strlen(volume_id));
    g_assert_cmpmem(contents + PVD_OFFSET + 40, 32, expected, 32);
}

static IsoReadBack *
iso_read_back(const char *path)
{
    g_autoptr(IsoReadBack) iso = g_new0(IsoReadBack, 1);
    g_autoptr(IsoReadOpts) opts = NULL;
    IsoDataSource *source = NULL;
    IsoReadImageFeatures *features = NULL;
    int ret;

    g_assert_cmpint(iso_read_opts_new(&opts, 0), ==, 1);
    g_assert_cmpint(iso_data_source_new_from_file(path, &source), ==, 1);
    g_assert_cmpint(iso_image_new("readback", &iso->image), ==, 1);
    ret = iso_image_import(iso->image, source, opts, &features);
    iso_data_source_unref(source);
    g_assert_cmpint(ret, >=, 0);
    iso->has_rockridge = iso_read_image_features_has_rockridge(features);
    iso->has_joliet = iso_read_image_features_has_joliet(features);
    iso_read_image_features_destroy(features);
    return g_steal_pointer(&iso);
}

/* The content of @path in the image, or NULL when there is no such file. */
static GBytes *
iso_file_contents(IsoReadBack *iso, const char *path, mode_t *out_mode)
{
    g_autoptr(GByteArray) data = g_byte_array_new();
    IsoNode *node = NULL;
    IsoStream *stream;
    guint8 buf[4096];
    int n;

    if (iso_image_path_to_node(iso->image, path, &node) != 1 || node == NULL)
        return NULL;
    g_assert_cmpint(iso_node_get_type(node), ==, LIBISO_FILE);
    if (out_mode != NULL)
        *out_mode = iso_node_get_permissions(node);
    stream = iso_file_get_stream((IsoFile *)node);
    g_assert_cmpint(iso_stream_open(stream), >=, 0);
    while ((n = iso_stream_read(stream, buf, sizeof buf)) > 0)
        g_byte_array_append(data, buf, (guint)n);
    g_assert_cmpint(n, ==, 0);
    iso_stream_close(stream);
    return g_byte_array_free_to_bytes(g_steal_pointer(&data));
}

static void
assert_iso_file(IsoReadBack *iso, const char *path, const char *expected)
{
    g_autoptr(GBytes) bytes = NULL;
    mode_t mode = 0;
    gsize size = 0;
    const char *data;

    bytes = iso_file_contents(iso, path, &mode);
    if (bytes == NULL)
        g_error("%s is missing from the image", path);
    data = g_bytes_get_data(bytes, &size);
    g_assert_cmpuint(size, ==, strlen(expected));
    g_assert_cmpmem(data, size, expected, strlen(expected));
    g_assert_cmpint(mode & 07777, ==, 0444);
}

static void
assert_iso_no_file(IsoReadBack *iso, const char *path)
{
    IsoNode *node = NULL;

    g_assert_cmpint(iso_image_path_to_node(iso->image, path, &node), !=, 1);
}

/* ------------------------------------------------------------------------ */
/* cloud-init media */

static void
test_cloud_init_nocloud(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "cidata.iso", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(IsoReadBack) iso = NULL;
    const char *user_data = "#cloud-config\npassword: secret\nchpasswd: {expire: False}\n";
    const char *network = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n";
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = "6a3e1c2b-0d4f-4e5a-9b8c-7d6e5f4a3b2c",
        .hostname = "web-0",
        .user_data = user_data,
        .network_data = network,
    };
    GStatBuf st;

    g_assert_true(write_iso(&media, path, &error));
    g_assert_no_error(error);

    /* Private: user data may hold secrets. */
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);
    /* Only the image: no temporary file left next to it. */
    g_assert_cmpuint(count_dir_entries(dir), ==, 1);

    assert_pvd(path, "cidata");
    iso = iso_read_back(path);
    g_assert_true(iso->has_rockridge);
    g_assert_true(iso->has_joliet);
    assert_iso_file(iso, "/user-data", user_data);
    assert_iso_file(iso, "/meta-data",
                    "instance-id: 6a3e1c2b-0d4f-4e5a-9b8c-7d6e5f4a3b2c\n"
                    "local-hostname: web-0\n");
    assert_iso_file(iso, "/network-config", network);

    podvm_test_rmrf(dir);
}

static void
test_cloud_init_nocloud_minimal(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "cidata.iso", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(IsoReadBack) iso = NULL;
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = "uid-1",
        .hostname = "db",
        .meta_data = "instance-id: custom\n",
    };

    /* An older image under the same name is replaced as a whole. */
    g_assert_true(g_file_set_contents(path, "old", -1, NULL));
    g_assert_true(write_iso(&media, path, &error));
    g_assert_no_error(error);

    assert_pvd(path, "cidata");
    iso = iso_read_back(path);
    /* cloud-init wants user-data to exist, even empty. */
    assert_iso_file(iso, "/user-data", "");
    assert_iso_file(iso, "/meta-data", "instance-id: custom\n");
    assert_iso_no_file(iso, "/network-config");

    podvm_test_rmrf(dir);
}

static void
test_cloud_init_config_drive(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "config-2.iso", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(IsoReadBack) iso = NULL;
    g_autoptr(GBytes) meta = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    const char *network = "{\"links\": [], \"networks\": [], \"services\": []}";
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_CONFIG_DRIVE,
        .instance_id = "0c8f5c1e-9f6b-4c39-8a34-2b5f0e8d1a77",
        .hostname = "api",
        .user_data = "#!/bin/sh\necho hello\n",
        .network_data = network,
    };
    JsonObject *object;
    const char *data;
    gsize size;

    g_assert_true(write_iso(&media, path, &error));
    g_assert_no_error(error);

    assert_pvd(path, "config-2");
    iso = iso_read_back(path);
    g_assert_true(iso->has_rockridge);
    g_assert_true(iso->has_joliet);
    assert_iso_file(iso, "/openstack/latest/user_data", "#!/bin/sh\necho hello\n");
    assert_iso_file(iso, "/openstack/latest/network_data.json", network);

    /* What cloud-init's ConfigDrive datasource reads from meta_data.json. */
    meta = iso_file_contents(iso, "/openstack/latest/meta_data.json", NULL);
    g_assert_nonnull(meta);
    data = g_bytes_get_data(meta, &size);
    g_assert_true(json_parser_load_from_data(parser, data, (gssize)size, NULL));
    object = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(object, "uuid"), ==,
                    "0c8f5c1e-9f6b-4c39-8a34-2b5f0e8d1a77");
    g_assert_cmpstr(json_object_get_string_member(object, "hostname"), ==, "api");
    g_assert_cmpstr(json_object_get_string_member(object, "name"), ==, "api");
    g_assert_cmpint(json_object_get_int_member(object, "launch_index"), ==, 0);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(json_object_get_member(object, "public_keys")));
    g_assert_true(JSON_NODE_HOLDS_ARRAY(json_object_get_member(object, "files")));

    podvm_test_rmrf(dir);
}

static void
test_cloud_init_config_drive_no_user_data(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "config-2.iso", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(IsoReadBack) iso = NULL;
    g_autoptr(GBytes) meta = NULL;
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_CONFIG_DRIVE,
        .instance_id = "uid-2",
        .hostname = "worker",
    };

    g_assert_true(write_iso(&media, path, &error));
    g_assert_no_error(error);
    iso = iso_read_back(path);
    assert_iso_no_file(iso, "/openstack/latest/user_data");
    assert_iso_no_file(iso, "/openstack/latest/network_data.json");
    meta = iso_file_contents(iso, "/openstack/latest/meta_data.json", NULL);
    g_assert_nonnull(meta);

    podvm_test_rmrf(dir);
}

static void
test_cloud_init_large_unicode(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "cidata.iso", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(IsoReadBack) iso = NULL;
    g_autoptr(GString) user_data = g_string_new("#cloud-config\n");
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = "uid-3",
        .hostname = "big",
    };
    guint i;

    /* 200 KiB spanning many ISO blocks, with multi-byte UTF-8 throughout. */
    g_string_append(user_data, "write_files:\n- path: /etc/motd\n  content: |\n");
    for (i = 0; user_data->len < 200 * 1024; i++)
        g_string_append_printf(user_data, "    %u: grüße, 日本語, emoji 🚀, ελληνικά\n", i);
    g_assert_true(g_utf8_validate(user_data->str, -1, NULL));
    media.user_data = user_data->str;

    g_assert_true(write_iso(&media, path, &error));
    g_assert_no_error(error);
    iso = iso_read_back(path);
    assert_iso_file(iso, "/user-data", user_data->str);

    podvm_test_rmrf(dir);
}

static void
test_cloud_init_write_fails_cleanly(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *missing = g_build_filename(dir, "no-such-dir", "cidata.iso", NULL);
    g_autofree char *taken = g_build_filename(dir, "taken", NULL);
    g_autoptr(GError) error = NULL;
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = "uid-4",
        .hostname = "host",
        .user_data = "#cloud-config\n",
    };

    /* The directory does not exist. */
    g_assert_false(write_iso(&media, missing, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "no-such-dir"));
    g_clear_error(&error);
    g_assert_cmpuint(count_dir_entries(dir), ==, 0);

    /* The final rename fails (a directory holds the name): the temporary
     * image is removed and the directory is left as it was. */
    g_assert_cmpint(g_mkdir(taken, 0700), ==, 0);
    g_assert_false(write_iso(&media, taken, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
    g_clear_error(&error);
    g_assert_cmpuint(count_dir_entries(dir), ==, 1);
    g_assert_true(g_file_test(taken, G_FILE_TEST_IS_DIR));
    g_assert_cmpuint(count_dir_entries(taken), ==, 0);

    podvm_test_rmrf(dir);
}

static void
test_cloud_init_read_only_dir(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = "uid-5",
        .hostname = "host",
    };

    if (geteuid() == 0) {
        g_test_skip("running as root, which may write into a read-only directory");
        return;
    }
    dir = podvm_test_mkdtemp();
    path = g_build_filename(dir, "cidata.iso", NULL);
    g_assert_cmpint(g_chmod(dir, 0500), ==, 0);
    g_assert_false(write_iso(&media, path, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
    g_assert_cmpint(g_chmod(dir, 0700), ==, 0);
    g_assert_cmpuint(count_dir_entries(dir), ==, 0);
    podvm_test_rmrf(dir);
}

static void
test_cloud_init_bad_identity(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "cidata.iso", NULL);
    g_autoptr(GError) error = NULL;
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = "uid-6",
        /* Would inject a key into the default meta-data. */
        .hostname = "evil\ninstance-id: other",
    };

    g_assert_false(write_iso(&media, path, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_clear_error(&error);

    media.hostname = NULL;
    g_assert_false(write_iso(&media, path, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_cmpuint(count_dir_entries(dir), ==, 0);

    podvm_test_rmrf(dir);
}

/* ------------------------------------------------------------------------ */
/* containerDisk: OCI layouts built here */

#define DISK_SIZE (1024 * 1024)
#define MEDIA_GZIP_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_TAR_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_INDEX "application/vnd.oci.image.index.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"

typedef struct {
    const char *name;
    GBytes *data; /* NULL: a directory */
} TarEntry;

typedef struct {
    char *tmp;
    char *layout;
    char *cache;
    char *qemu_img;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autofree char *blobs = NULL;

    (void)data;
    f->tmp = podvm_test_mkdtemp();
    f->layout = g_build_filename(f->tmp, "layout", NULL);
    f->cache = g_build_filename(f->tmp, "cache", NULL);
    blobs = g_build_filename(f->layout, "blobs", "sha256", NULL);
    g_assert_cmpint(g_mkdir_with_parents(blobs, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(f->cache, 0700), ==, 0);
    f->qemu_img = g_find_program_in_path("qemu-img");
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    (void)data;
    podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
    g_free(f->layout);
    g_free(f->cache);
    g_free(f->qemu_img);
}

static gboolean
require_qemu_img(Fixture *f)
{
    if (f->qemu_img == NULL) {
        g_test_skip("qemu-img is not installed; it probes the unpacked disk");
        return FALSE;
    }
    return TRUE;
}

static char *
blob_file(Fixture *f, const char *digest)
{
    g_assert_true(g_str_has_prefix(digest, "sha256:"));
    return g_build_filename(f->layout, "blobs", "sha256", digest + 7, NULL);
}

/* Stores @data as a blob; returns its descriptor as JSON. */
static char *
add_blob(Fixture *f, const char *media_type, GBytes *data, const char *extra)
{
    g_autofree char *hex = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, data);
    g_autofree char *digest = g_strdup_printf("sha256:%s", hex);
    g_autofree char *path = blob_file(f, digest);

    g_assert_true(g_file_set_contents(path, g_bytes_get_data(data, NULL),
                                      (gssize)g_bytes_get_size(data), NULL));
    return g_strdup_printf("{\"mediaType\": \"%s\", \"digest\": \"%s\", \"size\": %" G_GSIZE_FORMAT
                           "%s%s}",
                           media_type, digest, g_bytes_get_size(data), extra != NULL ? ", " : "",
                           extra != NULL ? extra : "");
}

static char *
add_json_blob(Fixture *f, const char *media_type, const char *json, const char *extra)
{
    g_autoptr(GBytes) bytes = g_bytes_new(json, strlen(json));

    return add_blob(f, media_type, bytes, extra);
}

static la_ssize_t
tar_write_cb(struct archive *a, void *client_data, const void *buffer, size_t length)
{
    (void)a;
    g_byte_array_append(client_data, buffer, (guint)length);
    return (la_ssize_t)length;
}

static GBytes *
make_tar(const TarEntry *entries, guint n_entries, gboolean gzip)
{
    GByteArray *out = g_byte_array_new();
    struct archive *a = archive_write_new();

    if (gzip)
        g_assert_cmpint(archive_write_add_filter_gzip(a), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_set_format_pax_restricted(a), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_open(a, out, NULL, tar_write_cb, NULL), ==, ARCHIVE_OK);
    for (guint i = 0; i < n_entries; i++) {
        struct archive_entry *entry = archive_entry_new();
        gsize size = entries[i].data != NULL ? g_bytes_get_size(entries[i].data) : 0;

        archive_entry_set_pathname(entry, entries[i].name);
        archive_entry_set_filetype(entry, entries[i].data != NULL ? AE_IFREG : AE_IFDIR);
        archive_entry_set_perm(entry, entries[i].data != NULL ? 0644 : 0755);
        archive_entry_set_size(entry, (la_int64_t)size);
        g_assert_cmpint(archive_write_header(a, entry), ==, ARCHIVE_OK);
        if (size > 0)
            g_assert_cmpint(archive_write_data(a, g_bytes_get_data(entries[i].data, NULL), size),
                            ==, (la_ssize_t)size);
        archive_entry_free(entry);
    }
    g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
    archive_write_free(a);
    return g_byte_array_free_to_bytes(out);
}

static char *
add_layer(Fixture *f, const TarEntry *entries, guint n_entries, gboolean gzip)
{
    g_autoptr(GBytes) tar = make_tar(entries, n_entries, gzip);

    return add_blob(f, gzip ? MEDIA_GZIP_LAYER : MEDIA_TAR_LAYER, tar, NULL);
}

/* A manifest over @layers (NULL-terminated descriptors); returns its
 * descriptor with @extra added (annotations, platform). */
static char *
add_manifest(Fixture *f, const char *const *layers, const char *extra)
{
    g_autofree char *config =
        add_json_blob(f, "application/vnd.oci.image.config.v1+json",
                      "{\"architecture\": \"amd64\", \"os\": \"linux\"}", NULL);
    g_autofree char *layer_list = g_strjoinv(", ", (char **)layers);
    g_autofree char *manifest = g_strdup_printf(
        "{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"config\": %s, \"layers\": [%s]}\n",
        MEDIA_MANIFEST, config, layer_list);

    return add_json_blob(f, MEDIA_MANIFEST, manifest, extra);
}

static void
write_index(Fixture *f, const char *const *manifests)
{
    g_autofree char *list = g_strjoinv(", ", (char **)manifests);
    g_autofree char *index = g_strdup_printf("{\"schemaVersion\": 2, \"manifests\": [%s]}", list);
    g_autofree char *index_path = g_build_filename(f->layout, "index.json", NULL);
    g_autofree char *layout_path = g_build_filename(f->layout, "oci-layout", NULL);

    g_assert_true(g_file_set_contents(index_path, index, -1, NULL));
    g_assert_true(
        g_file_set_contents(layout_path, "{\"imageLayoutVersion\": \"1.0.0\"}", -1, NULL));
}

/* A raw disk with a recognisable pattern, zeros at both ends. */
static GBytes *
make_raw_disk(guint8 seed)
{
    guint8 *data = g_malloc0(DISK_SIZE);

    for (gsize i = 64 * 1024; i < DISK_SIZE - 64 * 1024; i++)
        data[i] = (guint8)((i * 31 + seed) % 251);
    return g_bytes_new_take(data, DISK_SIZE);
}

/* An image "v1" whose single gzip layer holds @entries. */
static char *
make_image(Fixture *f, const TarEntry *entries, guint n_entries)
{
    g_autofree char *layer = add_layer(f, entries, n_entries, TRUE);
    const char *layers[] = { layer, NULL };
    g_autofree char *manifest =
        add_manifest(f, layers, "\"annotations\": {\"" REF_NAME "\": \"v1\"}");
    const char *manifests[] = { manifest, NULL };

    write_index(f, manifests);
    return g_strdup_printf("oci:%s:v1", f->layout);
}

static PodvmContainerDisk *
unpack(Fixture *f, const char *image, const char *path_in_image, GError **error)
{
    g_autoptr(GAsyncResult) result = NULL;

    podvm_container_disk_unpack_async(image, path_in_image, f->cache, f->qemu_img, NULL,
                                      store_result_cb, &result);
    return podvm_container_disk_unpack_finish(wait_for_result(&result), error);
}

static void
assert_file_equals(const char *path, GBytes *expected)
{
    g_autofree char *contents = NULL;
    gsize length = 0;

    g_assert_true(g_file_get_contents(path, &contents, &length, NULL));
    g_assert_cmpmem(contents, length, g_bytes_get_data(expected, NULL), g_bytes_get_size(expected));
}

static int
compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
collect_tree(const char *root, const char *relative, GPtrArray *out)
{
    g_autofree char *path = g_build_filename(root, relative, NULL);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *child =
            relative[0] != '\0' ? g_strdup_printf("%s/%s", relative, name) : g_strdup(name);
        g_autofree char *child_path = g_build_filename(root, child, NULL);

        if (g_file_test(child_path, G_FILE_TEST_IS_DIR) &&
            !g_file_test(child_path, G_FILE_TEST_IS_SYMLINK))
            collect_tree(root, child, out);
        g_ptr_array_add(out, g_steal_pointer(&child));
    }
}

/* Every path under the cache, sorted and joined by spaces. */
static char *
cache_listing(Fixture *f)
{
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);

    collect_tree(f->cache, "", paths);
    g_ptr_array_sort(paths, compare_paths);
    g_ptr_array_add(paths, NULL);
    return g_strjoinv(" ", (char **)paths->pdata);
}

static void
test_container_disk_raw(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(7);
    TarEntry entries[] = { { "disk", NULL }, { "disk/rootfs.img", disk } };
    g_autofree char *image = NULL;
    g_autofree char *layer_blob = NULL;
    g_autofree char *listing = NULL;
    g_autoptr(PodvmContainerDisk) first = NULL;
    g_autoptr(PodvmContainerDisk) second = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *expected_path = NULL;
    GStatBuf st1, st2;

    (void)data;
    if (!require_qemu_img(f))
        return;
    image = make_image(f, entries, G_N_ELEMENTS(entries));

    first = unpack(f, image, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(first->format, ==, "raw");
    g_assert_cmpuint(first->virtual_size, ==, DISK_SIZE);
    g_assert_true(g_str_has_prefix(first->digest, "sha256:"));
    expected_path =
        g_strdup_printf("%s/sha256-%s/disk.raw", f->cache, first->digest + strlen("sha256:"));
    g_assert_cmpstr(first->path, ==, expected_path);
    assert_file_equals(first->path, disk);
    /* Nothing else in the cache: no temporary files. */
    listing = cache_listing(f);
    g_assert_cmpstr(strrchr(listing, ' ') + 1, ==, strrchr(expected_path, '/') - 71);
    g_assert_cmpuint(strlen(listing), ==, 71 + 1 + 71 + 9);
    /* Cached images are shared: nobody may write them. */
    g_assert_cmpint(g_stat(first->path, &st1), ==, 0);
    g_assert_cmpint(st1.st_mode & 0222, ==, 0);

    /* The second time is a cache hit: the layers are not even read. */
    {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autofree char *manifest_path = blob_file(f, first->digest);
        JsonObject *manifest;
        JsonObject *layer;

        g_assert_true(json_parser_load_from_file(parser, manifest_path, NULL));
        manifest = json_node_get_object(json_parser_get_root(parser));
        layer = json_array_get_object_element(json_object_get_array_member(manifest, "layers"), 0);
        layer_blob = blob_file(f, json_object_get_string_member(layer, "digest"));
        g_assert_cmpint(g_unlink(layer_blob), ==, 0);
    }
    second = unpack(f, image, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(second->path, ==, first->path);
    g_assert_cmpstr(second->format, ==, "raw");
    g_assert_cmpuint(second->virtual_size, ==, DISK_SIZE);
    g_assert_cmpstr(second->digest, ==, first->digest);
    g_assert_cmpint(g_stat(second->path, &st2), ==, 0);
    g_assert_cmpint(st1.st_ino, ==, st2.st_ino);
    g_assert_cmpint(st1.st_mtime, ==, st2.st_mtime);
}

static void
test_container_disk_qcow2(Fixture *f, gconstpointer data)
{
    g_autofree char *source = g_build_filename(f->tmp, "source.qcow2", NULL);
    g_autofree char *contents = NULL;
    g_autoptr(GBytes) disk = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmContainerDisk) result = NULL;
    g_autoptr(PodvmContainerDisk) cached = NULL;
    g_autofree char *image = NULL;
    gsize length = 0;
    int status = -1;

    (void)data;
    if (!require_qemu_img(f))
        return;
    {
        const char *argv[] = { f->qemu_img, "create", "-q", "-f", "qcow2", source, "64M", NULL };

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                                   NULL, &status, &error));
        g_assert_no_error(error);
        g_assert_true(g_spawn_check_wait_status(status, NULL));
    }
    g_assert_true(g_file_get_contents(source, &contents, &length, NULL));
    disk = g_bytes_new_take(g_steal_pointer(&contents), length);
    {
        TarEntry entries[] = { { "./disk/", NULL }, { "./disk/fedora.qcow2", disk } };

        image = make_image(f, entries, G_N_ELEMENTS(entries));
    }

    result = unpack(f, image, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(result->format, ==, "qcow2");
    g_assert_cmpuint(result->virtual_size, ==, 64 * 1024 * 1024);
    g_assert_true(g_str_has_suffix(result->path, "/disk.qcow2"));
    assert_file_equals(result->path, disk);

    /* The cache hit reads the size from the qcow2 header. */
    cached = unpack(f, image, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(cached->path, ==, result->path);
    g_assert_cmpstr(cached->format, ==, "qcow2");
    g_assert_cmpuint(cached->virtual_size, ==, 64 * 1024 * 1024);
}

static void
test_container_disk_qcow2_backing(Fixture *f, gconstpointer data)
{
    g_autofree char *base = g_build_filename(f->tmp, "base.raw", NULL);
    g_autofree char *overlay = g_build_filename(f->tmp, "overlay.qcow2", NULL);
    g_autofree char *contents = NULL;
    g_autofree char *image = NULL;
    g_autofree char *listing = NULL;
    g_autoptr(GBytes) disk = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmContainerDisk) result = NULL;
    gsize length = 0;
    int status = -1;

    (void)data;
    if (!require_qemu_img(f))
        return;
    g_assert_true(g_file_set_contents(base, "", 0, NULL));
    {
        const char *argv[] = { f->qemu_img, "create", "-q",  "-f",    "qcow2", "-b",
                               base,        "-F",     "raw", overlay, "1M",    NULL };

        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                                   NULL, &status, &error));
        g_assert_no_error(error);
        g_assert_true(g_spawn_check_wait_status(status, NULL));
    }
    g_assert_true(g_file_get_contents(overlay, &contents, &length, NULL));
    disk = g_bytes_new_take(g_steal_pointer(&contents), length);
    {
        TarEntry entries[] = { { "disk/evil.qcow2", disk } };

        image = make_image(f, entries, G_N_ELEMENTS(entries));
    }

    /* A backing file would let the image pick a host file for QEMU. */
    result = unpack(f, image, NULL, &error);
    g_assert_null(result);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "backing"));
    /* Only the (empty) cache entry directory remains. */
    listing = cache_listing(f);
    g_assert_true(g_str_has_prefix(listing, "sha256-"));
    g_assert_null(strchr(listing, ' '));
}

static void
test_container_disk_tag_not_found(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(1);
    TarEntry entries[] = { { "disk/a.img", disk } };
    g_autofree char *image = make_image(f, entries, G_N_ELEMENTS(entries));
    g_autofree char *other = g_strdup_printf("oci:%s:v2", f->layout);
    g_autofree char *latest = g_strdup_printf("oci:%s", f->layout);
    g_autoptr(GError) error = NULL;
    g_autofree char *listing = NULL;

    (void)data;
    g_assert_null(unpack(f, other, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "\"v2\""));
    g_assert_nonnull(strstr(error->message, "available tags: \"v1\""));
    g_clear_error(&error);

    /* No tag means "latest", which this image does not have either. */
    g_assert_null(unpack(f, latest, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "\"latest\""));

    listing = cache_listing(f);
    g_assert_cmpstr(listing, ==, "");
}

static void
test_container_disk_corrupt_layer(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(2);
    TarEntry entries[] = { { "disk/a.img", disk } };
    g_autofree char *layer = add_layer(f, entries, G_N_ELEMENTS(entries), TRUE);
    const char *layers[] = { layer, NULL };
    g_autofree char *manifest =
        add_manifest(f, layers, "\"annotations\": {\"" REF_NAME "\": \"v1\"}");
    const char *manifests[] = { manifest, NULL };
    g_autofree char *image = g_strdup_printf("oci:%s:v1", f->layout);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *layer_path = NULL;
    g_autofree char *contents = NULL;
    g_autofree char *listing = NULL;
    g_autoptr(GError) error = NULL;
    const char *digest;
    gsize length = 0;

    (void)data;
    if (!require_qemu_img(f))
        return;
    write_index(f, manifests);
    g_assert_true(json_parser_load_from_data(parser, layer, -1, NULL));
    digest =
        json_object_get_string_member(json_node_get_object(json_parser_get_root(parser)), "digest");
    layer_path = blob_file(f, digest);

    /* One flipped byte in the middle of the compressed layer. */
    g_assert_true(g_file_get_contents(layer_path, &contents, &length, NULL));
    contents[length / 2] ^= 0x55;
    g_assert_true(g_file_set_contents(layer_path, contents, (gssize)length, NULL));

    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, digest));
    g_assert_nonnull(strstr(error->message, "corrupt (digest mismatch)"));

    /* Nothing under a final name, and no partial file either. */
    listing = cache_listing(f);
    g_assert_true(g_str_has_prefix(listing, "sha256-"));
    g_assert_null(strchr(listing, ' '));
}

static void
test_container_disk_truncated_layer(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(3);
    TarEntry entries[] = { { "disk/a.img", disk } };
    g_autofree char *layer = add_layer(f, entries, G_N_ELEMENTS(entries), FALSE);
    const char *layers[] = { layer, NULL };
    g_autofree char *manifest =
        add_manifest(f, layers, "\"annotations\": {\"" REF_NAME "\": \"v1\"}");
    const char *manifests[] = { manifest, NULL };
    g_autofree char *image = g_strdup_printf("oci:%s:v1", f->layout);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *layer_path = NULL;
    g_autoptr(GError) error = NULL;

    (void)data;
    write_index(f, manifests);
    g_assert_true(json_parser_load_from_data(parser, layer, -1, NULL));
    layer_path = blob_file(f, json_object_get_string_member(
                                  json_node_get_object(json_parser_get_root(parser)), "digest"));
    g_assert_cmpint(truncate(layer_path, 4096), ==, 0);

    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "corrupt (size mismatch"));
}

static void
test_container_disk_corrupt_manifest(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(4);
    TarEntry entries[] = { { "disk/a.img", disk } };
    g_autofree char *layer = add_layer(f, entries, G_N_ELEMENTS(entries), TRUE);
    const char *layers[] = { layer, NULL };
    g_autofree char *manifest =
        add_manifest(f, layers, "\"annotations\": {\"" REF_NAME "\": \"v1\"}");
    const char *manifests[] = { manifest, NULL };
    g_autofree char *image = g_strdup_printf("oci:%s:v1", f->layout);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(PodvmContainerDisk) result = NULL;
    g_autofree char *manifest_path = NULL;
    g_autofree char *contents = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    (void)data;
    if (!require_qemu_img(f))
        return;
    write_index(f, manifests);
    g_assert_true(json_parser_load_from_data(parser, manifest, -1, NULL));
    manifest_path = blob_file(f, json_object_get_string_member(
                                     json_node_get_object(json_parser_get_root(parser)), "digest"));

    /* Unpacked once, so the next call would be a cache hit... */
    result = unpack(f, image, NULL, &error);
    g_assert_no_error(error);

    /* ...but the manifest is checked every time: same size, other bytes. */
    g_assert_true(g_file_get_contents(manifest_path, &contents, &length, NULL));
    g_assert_cmpint(contents[length - 1], ==, '\n');
    contents[length - 1] = ' ';
    g_assert_true(g_file_set_contents(manifest_path, contents, (gssize)length, NULL));
    g_clear_pointer(&result, podvm_container_disk_free);
    result = unpack(f, image, NULL, &error);
    g_assert_null(result);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "corrupt (digest mismatch)"));
}

static void
test_container_disk_no_disk(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) hostname = g_bytes_new_static("pod\n", 4);
    TarEntry entries[] = { { "etc/hostname", hostname }, { "disk", NULL } };
    g_autofree char *image = make_image(f, entries, G_N_ELEMENTS(entries));
    g_autoptr(GError) error = NULL;

    (void)data;
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "no disk image under /disk/"));
}

static void
test_container_disk_two_disks(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) a = make_raw_disk(5);
    g_autoptr(GBytes) b = make_raw_disk(6);
    TarEntry entries[] = { { "disk/b.img", b }, { "disk/a.img", a } };
    g_autofree char *image = make_image(f, entries, G_N_ELEMENTS(entries));
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmContainerDisk) result = NULL;
    g_autoptr(PodvmContainerDisk) other = NULL;

    (void)data;
    if (!require_qemu_img(f))
        return;
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "disk/a.img, disk/b.img"));
    g_clear_error(&error);

    /* Naming one picks it, with or without the leading slash. */
    result = unpack(f, image, "/disk/b.img", &error);
    g_assert_no_error(error);
    assert_file_equals(result->path, b);
    other = unpack(f, image, "disk/a.img", &error);
    g_assert_no_error(error);
    assert_file_equals(other->path, a);
    g_assert_cmpstr(other->path, !=, result->path);
    g_clear_pointer(&other, podvm_container_disk_free);

    g_assert_null(unpack(f, image, "/disk/c.img", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_clear_error(&error);
    g_assert_null(unpack(f, image, "../../etc/passwd", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
}

static void
test_container_disk_whiteout(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) old_disk = make_raw_disk(8);
    g_autoptr(GBytes) new_disk = make_raw_disk(9);
    g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
    TarEntry lower[] = { { "disk/old.img", old_disk } };
    /* Later layers win: the whiteout hides old.img, uncompressed tar. */
    TarEntry upper[] = { { "disk/.wh.old.img", empty }, { "disk/new.img", new_disk } };
    g_autofree char *layer1 = add_layer(f, lower, G_N_ELEMENTS(lower), TRUE);
    g_autofree char *layer2 = add_layer(f, upper, G_N_ELEMENTS(upper), FALSE);
    const char *layers[] = { layer1, layer2, NULL };
    g_autofree char *manifest =
        add_manifest(f, layers, "\"annotations\": {\"" REF_NAME "\": \"v1\"}");
    const char *manifests[] = { manifest, NULL };
    g_autofree char *image = g_strdup_printf("oci:%s:v1", f->layout);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmContainerDisk) result = NULL;

    (void)data;
    if (!require_qemu_img(f))
        return;
    write_index(f, manifests);
    result = unpack(f, image, NULL, &error);
    g_assert_no_error(error);
    assert_file_equals(result->path, new_disk);
}

static void
test_container_disk_path_traversal(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(10);
    g_autoptr(GBytes) payload = g_bytes_new_static("owned\n", 6);
    TarEntry entries[] = {
        { "../../etc/x", payload },
        { "/disk/../../../x.img", payload },
        { "disk/root.img", disk },
    };
    g_autofree char *image = make_image(f, entries, G_N_ELEMENTS(entries));
    g_autofree char *escaped1 = g_build_filename(f->tmp, "etc", "x", NULL);
    g_autofree char *escaped2 = g_build_filename(f->tmp, "x.img", NULL);
    g_autofree char *listing = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmContainerDisk) result = NULL;

    (void)data;
    if (!require_qemu_img(f))
        return;
    result = unpack(f, image, NULL, &error);
    g_assert_no_error(error);
    assert_file_equals(result->path, disk);
    g_assert_false(g_file_test(escaped1, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(escaped2, G_FILE_TEST_EXISTS));
    /* The cache holds the entry and its disk, nothing more. */
    listing = cache_listing(f);
    g_assert_true(g_str_has_suffix(listing, "/disk.raw"));
    g_assert_nonnull(strchr(listing, ' '));
    g_assert_null(strchr(strchr(listing, ' ') + 1, ' '));
}

static void
test_container_disk_nested_index(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) arm = make_raw_disk(11);
    g_autoptr(GBytes) amd = make_raw_disk(12);
    TarEntry arm_entries[] = { { "disk/arm.img", arm } };
    TarEntry amd_entries[] = { { "disk/amd.img", amd } };
    g_autofree char *arm_layer = add_layer(f, arm_entries, 1, TRUE);
    g_autofree char *amd_layer = add_layer(f, amd_entries, 1, TRUE);
    const char *arm_layers[] = { arm_layer, NULL };
    const char *amd_layers[] = { amd_layer, NULL };
    g_autofree char *arm_manifest = add_manifest(
        f, arm_layers, "\"platform\": {\"architecture\": \"arm64\", \"os\": \"linux\"}");
    g_autofree char *amd_manifest = add_manifest(
        f, amd_layers, "\"platform\": {\"architecture\": \"amd64\", \"os\": \"linux\"}");
    g_autofree char *nested =
        g_strdup_printf("{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"manifests\": [%s, %s]}",
                        MEDIA_INDEX, arm_manifest, amd_manifest);
    g_autofree char *index_desc = add_json_blob(f, MEDIA_INDEX, nested, NULL);
    const char *manifests[] = { index_desc, NULL };
    g_autofree char *image = g_strdup_printf("oci:%s", f->layout);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmContainerDisk) result = NULL;

    (void)data;
    if (!require_qemu_img(f))
        return;
    /* One manifest, no names: it is the image whatever the tag. */
    write_index(f, manifests);
    result = unpack(f, image, NULL, &error);
    g_assert_no_error(error);
    assert_file_equals(result->path, amd);
}

static void
test_container_disk_bad_references(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *missing = g_strdup_printf("oci:%s:v1", f->layout);
    g_autofree char *layout_path = g_build_filename(f->layout, "oci-layout", NULL);
    g_autofree char *listing = NULL;

    (void)data;
    g_assert_null(unpack(f, "docker://quay.io/containerdisks/fedora:40", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "use oci:DIR:TAG"));
    g_clear_error(&error);

    g_assert_null(unpack(f, "oci:relative/dir:v1", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    g_assert_null(unpack(f, "quay.io/containerdisks/fedora:40", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    /* A directory that is not (yet) a layout: the missing file is named. */
    g_assert_null(unpack(f, missing, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "oci-layout"));
    g_clear_error(&error);

    g_assert_true(
        g_file_set_contents(layout_path, "{\"imageLayoutVersion\": \"1.0.0\"}", -1, NULL));
    g_assert_null(unpack(f, missing, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "index.json"));

    listing = cache_listing(f);
    g_assert_cmpstr(listing, ==, "");
}

static void
test_container_disk_missing_blob(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(13);
    TarEntry entries[] = { { "disk/a.img", disk } };
    g_autofree char *image = make_image(f, entries, G_N_ELEMENTS(entries));
    g_autofree char *blobs = g_build_filename(f->layout, "blobs", NULL);
    g_autoptr(GError) error = NULL;

    (void)data;
    podvm_test_rmrf(blobs);
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "sha256:"));
}

static void
test_container_disk_concurrent(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(14);
    TarEntry entries[] = { { "disk/a.img", disk } };
    g_autofree char *image = make_image(f, entries, G_N_ELEMENTS(entries));
    g_autoptr(GAsyncResult) result1 = NULL;
    g_autoptr(GAsyncResult) result2 = NULL;
    g_autoptr(PodvmContainerDisk) disk1 = NULL;
    g_autoptr(PodvmContainerDisk) disk2 = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *listing = NULL;

    (void)data;
    if (!require_qemu_img(f))
        return;
    /* Two pods starting with the same image at once. */
    podvm_container_disk_unpack_async(image, NULL, f->cache, f->qemu_img, NULL, store_result_cb,
                                      &result1);
    podvm_container_disk_unpack_async(image, NULL, f->cache, f->qemu_img, NULL, store_result_cb,
                                      &result2);
    disk1 = podvm_container_disk_unpack_finish(wait_for_result(&result1), &error);
    g_assert_no_error(error);
    disk2 = podvm_container_disk_unpack_finish(wait_for_result(&result2), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(disk1->path, ==, disk2->path);
    assert_file_equals(disk1->path, disk);
    listing = cache_listing(f);
    g_assert_true(g_str_has_suffix(listing, "/disk.raw"));
    g_assert_null(strchr(strchr(listing, ' ') + 1, ' '));
}

static void
test_container_disk_cancelled(Fixture *f, gconstpointer data)
{
    g_autoptr(GBytes) disk = make_raw_disk(15);
    TarEntry entries[] = { { "disk/a.img", disk } };
    g_autofree char *image = make_image(f, entries, G_N_ELEMENTS(entries));
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *listing = NULL;

    (void)data;
    g_cancellable_cancel(cancellable);
    podvm_container_disk_unpack_async(image, NULL, f->cache, f->qemu_img, cancellable,
                                      store_result_cb, &result);
    g_assert_null(podvm_container_disk_unpack_finish(wait_for_result(&result), &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    /* No disk, no partial file. */
    listing = cache_listing(f);
    g_assert_null(strstr(listing, "disk"));
}

static void
test_container_disk_malformed(Fixture *f, gconstpointer data)
{
    g_autofree char *image = g_strdup_printf("oci:%s:v1", f->layout);
    g_autofree char *layout_path = g_build_filename(f->layout, "oci-layout", NULL);
    g_autofree char *index_path = g_build_filename(f->layout, "index.json", NULL);
    g_autoptr(GError) error = NULL;

    (void)data;
    /* Wrong JSON types in the image's files are errors, not warnings. */
    g_assert_true(g_file_set_contents(layout_path, "{\"imageLayoutVersion\": {}}", -1, NULL));
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_clear_error(&error);

    g_assert_true(
        g_file_set_contents(layout_path, "{\"imageLayoutVersion\": \"1.0.0\"}", -1, NULL));
    g_assert_true(g_file_set_contents(index_path, "{\"manifests\": ", -1, NULL));
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    g_assert_true(g_file_set_contents(index_path, "{\"manifests\": [5]}", -1, NULL));
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    g_assert_true(g_file_set_contents(index_path,
                                      "{\"manifests\": [{\"mediaType\": \"" MEDIA_MANIFEST
                                      "\", \"digest\": \"sha512:00\", "
                                      "\"size\": 2}]}",
                                      -1, NULL));
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_test_message("%s", error->message);
    g_clear_error(&error);

    g_assert_true(g_file_set_contents(index_path,
                                      "{\"manifests\": [{\"mediaType\": \"" MEDIA_MANIFEST
                                      "\", \"digest\": \"sha256:../../x\", "
                                      "\"size\": 2}]}",
                                      -1, NULL));
    g_assert_null(unpack(f, image, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", error->message);
}

static void
test_cloud_init_cancelled(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "cidata.iso", NULL);
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(GError) error = NULL;
    PodvmCloudInitMedia media = {
        .flavor = PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = "uid-7",
        .hostname = "host",
    };

    g_cancellable_cancel(cancellable);
    podvm_cloud_init_write_iso_async(&media, path, cancellable, store_result_cb, &result);
    g_assert_false(podvm_cloud_init_write_iso_finish(wait_for_result(&result), &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpuint(count_dir_entries(dir), ==, 0);
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    /* For reading images back; the code under test initialises libisofs
     * itself, and a second iso_init() is harmless. */
    g_assert_cmpint(iso_init_with_flag(1), ==, 1);

    g_test_add_func("/podvm/storage/cloud-init/nocloud", test_cloud_init_nocloud);
    g_test_add_func("/podvm/storage/cloud-init/nocloud-minimal", test_cloud_init_nocloud_minimal);
    g_test_add_func("/podvm/storage/cloud-init/config-drive", test_cloud_init_config_drive);
    g_test_add_func("/podvm/storage/cloud-init/config-drive-no-user-data",
                    test_cloud_init_config_drive_no_user_data);
    g_test_add_func("/podvm/storage/cloud-init/large-unicode", test_cloud_init_large_unicode);
    g_test_add_func("/podvm/storage/cloud-init/write-fails-cleanly",
                    test_cloud_init_write_fails_cleanly);
    g_test_add_func("/podvm/storage/cloud-init/read-only-dir", test_cloud_init_read_only_dir);
    g_test_add_func("/podvm/storage/cloud-init/bad-identity", test_cloud_init_bad_identity);
    g_test_add_func("/podvm/storage/cloud-init/cancelled", test_cloud_init_cancelled);

#define ADD_DISK_TEST(name, func)                                                          \
    g_test_add("/podvm/storage/container-disk/" name, Fixture, NULL, fixture_set_up, func, \
               fixture_tear_down)
    ADD_DISK_TEST("raw", test_container_disk_raw);
    ADD_DISK_TEST("qcow2", test_container_disk_qcow2);
    ADD_DISK_TEST("qcow2-backing-file", test_container_disk_qcow2_backing);
    ADD_DISK_TEST("tag-not-found", test_container_disk_tag_not_found);
    ADD_DISK_TEST("corrupt-layer", test_container_disk_corrupt_layer);
    ADD_DISK_TEST("truncated-layer", test_container_disk_truncated_layer);
    ADD_DISK_TEST("corrupt-manifest", test_container_disk_corrupt_manifest);
    ADD_DISK_TEST("no-disk", test_container_disk_no_disk);
    ADD_DISK_TEST("two-disks", test_container_disk_two_disks);
    ADD_DISK_TEST("whiteout", test_container_disk_whiteout);
    ADD_DISK_TEST("path-traversal", test_container_disk_path_traversal);
    ADD_DISK_TEST("nested-index", test_container_disk_nested_index);
    ADD_DISK_TEST("bad-references", test_container_disk_bad_references);
    ADD_DISK_TEST("missing-blob", test_container_disk_missing_blob);
    ADD_DISK_TEST("concurrent", test_container_disk_concurrent);
    ADD_DISK_TEST("cancelled", test_container_disk_cancelled);
    ADD_DISK_TEST("malformed", test_container_disk_malformed);
#undef ADD_DISK_TEST

    return g_test_run();
}
