/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-image.h"

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>

#define MEDIA_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_INDEX "application/vnd.oci.image.index.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct {
    char *name; /* as written in the tar */
    guint type; /* AE_IF* */
    guint mode;
    guint uid, gid;
    GBytes *data;    /* regular files, or NULL */
    char *host_path; /* regular files streamed from the host, or NULL */
    char *link;      /* symlink target or hard link target */
    gboolean hardlink;
    guint rdev_major, rdev_minor;
} Entry;

struct _PodvmTestLayer {
    GPtrArray *entries; /* Entry */
    PodvmTestLayerCompression compression;
    guint uid, gid;
    /* After a write. */
    char *digest;
    char *diff_id;
    gsize size;
};

struct _PodvmTestImage {
    GPtrArray *layers; /* PodvmTestLayer */
    char **entrypoint;
    char **cmd;
    GPtrArray *env; /* "K=V" */
    char *working_dir;
    char *user;
    GPtrArray *exposed_ports;
    char *os, *arch, *variant;
    GPtrArray *annotations; /* key, value, key, value... */
    /* After a write. */
    char *config_digest;
    char *manifest_digest;
    GBytes *manifest;
    guint64 total_size;
};

static void
entry_free(gpointer data)
{
    Entry *entry = data;

    g_free(entry->name);
    g_clear_pointer(&entry->data, g_bytes_unref);
    g_free(entry->host_path);
    g_free(entry->link);
    g_free(entry);
}

static void
layer_free(gpointer data)
{
    PodvmTestLayer *layer = data;

    g_ptr_array_unref(layer->entries);
    g_free(layer->digest);
    g_free(layer->diff_id);
    g_free(layer);
}

PodvmTestImage *
podvm_test_image_new(void)
{
    PodvmTestImage *image = g_new0(PodvmTestImage, 1);

    image->layers = g_ptr_array_new_with_free_func(layer_free);
    image->env = g_ptr_array_new_with_free_func(g_free);
    image->exposed_ports = g_ptr_array_new_with_free_func(g_free);
    image->annotations = g_ptr_array_new_with_free_func(g_free);
    image->os = g_strdup("linux");
    image->arch = g_strdup("amd64");
    return image;
}

void
podvm_test_image_free(PodvmTestImage *image)
{
    if (image == NULL)
        return;
    g_ptr_array_unref(image->layers);
    g_strfreev(image->entrypoint);
    g_strfreev(image->cmd);
    g_ptr_array_unref(image->env);
    g_free(image->working_dir);
    g_free(image->user);
    g_ptr_array_unref(image->exposed_ports);
    g_free(image->os);
    g_free(image->arch);
    g_free(image->variant);
    g_ptr_array_unref(image->annotations);
    g_free(image->config_digest);
    g_free(image->manifest_digest);
    g_clear_pointer(&image->manifest, g_bytes_unref);
    g_free(image);
}

PodvmTestLayer *
podvm_test_image_add_layer(PodvmTestImage *image)
{
    PodvmTestLayer *layer = g_new0(PodvmTestLayer, 1);

    layer->entries = g_ptr_array_new_with_free_func(entry_free);
    layer->compression = PODVM_TEST_LAYER_GZIP;
    g_ptr_array_add(image->layers, layer);
    return layer;
}

void
podvm_test_layer_set_compression(PodvmTestLayer *layer, PodvmTestLayerCompression compression)
{
    layer->compression = compression;
}

void
podvm_test_layer_set_owner(PodvmTestLayer *layer, guint uid, guint gid)
{
    layer->uid = uid;
    layer->gid = gid;
}

static Entry *
add_entry(PodvmTestLayer *layer, const char *path, gboolean raw, guint type, guint mode)
{
    Entry *entry = g_new0(Entry, 1);

    if (!raw) {
        while (*path == '/')
            path++;
    }
    entry->name = g_strdup(path);
    entry->type = type;
    entry->mode = mode & 07777;
    entry->uid = layer->uid;
    entry->gid = layer->gid;
    g_ptr_array_add(layer->entries, entry);
    return entry;
}

void
podvm_test_layer_add_file(PodvmTestLayer *layer, const char *path, const void *data, gssize length,
                          guint mode)
{
    Entry *entry = add_entry(layer, path, FALSE, AE_IFREG, mode);

    if (length < 0)
        length = (gssize)strlen(data);
    entry->data = g_bytes_new(data, (gsize)length);
}

void
podvm_test_layer_add_host_file(PodvmTestLayer *layer, const char *path, const char *host_path,
                               guint mode)
{
    Entry *entry;
    struct stat st;

    g_assert_cmpint(stat(host_path, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    entry = add_entry(layer, path, FALSE, AE_IFREG, mode != 0 ? mode : (st.st_mode & 07777));
    entry->host_path = g_strdup(host_path);
}

void
podvm_test_layer_add_dir(PodvmTestLayer *layer, const char *path, guint mode)
{
    add_entry(layer, path, FALSE, AE_IFDIR, mode);
}

void
podvm_test_layer_add_symlink(PodvmTestLayer *layer, const char *path, const char *target)
{
    Entry *entry = add_entry(layer, path, FALSE, AE_IFLNK, 0777);

    entry->link = g_strdup(target);
}

void
podvm_test_layer_add_hardlink(PodvmTestLayer *layer, const char *path, const char *target)
{
    Entry *entry = add_entry(layer, path, FALSE, AE_IFREG, 0644);

    while (*target == '/')
        target++;
    entry->link = g_strdup(target);
    entry->hardlink = TRUE;
}

void
podvm_test_layer_add_whiteout(PodvmTestLayer *layer, const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *wh_name = g_strconcat(".wh.", base, NULL);
    g_autofree char *name = strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0
                                ? g_strdup(wh_name)
                                : g_build_filename(dir, wh_name, NULL);

    add_entry(layer, name, FALSE, AE_IFREG, 0);
}

void
podvm_test_layer_add_opaque(PodvmTestLayer *layer, const char *dir)
{
    g_autofree char *name = g_build_filename(dir, ".wh..wh..opq", NULL);

    add_entry(layer, name, FALSE, AE_IFREG, 0);
}

void
podvm_test_layer_add_device(PodvmTestLayer *layer, const char *path, gboolean block, guint major,
                            guint minor, guint mode)
{
    Entry *entry = add_entry(layer, path, FALSE, block ? AE_IFBLK : AE_IFCHR, mode);

    entry->rdev_major = major;
    entry->rdev_minor = minor;
}

void
podvm_test_layer_add_fifo(PodvmTestLayer *layer, const char *path, guint mode)
{
    add_entry(layer, path, FALSE, AE_IFIFO, mode);
}

void
podvm_test_layer_add_raw(PodvmTestLayer *layer, const char *name, guint type, guint mode,
                         const void *data, gsize length, const char *link_target, gboolean hardlink)
{
    Entry *entry = add_entry(layer, name, TRUE, type, mode);

    if (data != NULL)
        entry->data = g_bytes_new(data, length);
    entry->link = g_strdup(link_target);
    entry->hardlink = hardlink;
}

/* ---- config ---- */

static char **
copy_argv(const char *const *argv)
{
    return argv != NULL ? g_strdupv((char **)argv) : NULL;
}

void
podvm_test_image_set_entrypoint(PodvmTestImage *image, const char *const *argv)
{
    g_strfreev(image->entrypoint);
    image->entrypoint = copy_argv(argv);
}

void
podvm_test_image_set_cmd(PodvmTestImage *image, const char *const *argv)
{
    g_strfreev(image->cmd);
    image->cmd = copy_argv(argv);
}

void
podvm_test_image_add_env(PodvmTestImage *image, const char *key_value)
{
    const char *eq = strchr(key_value, '=');
    gsize key_len = eq != NULL ? (gsize)(eq - key_value) + 1 : strlen(key_value);

    for (guint i = 0; i < image->env->len; i++) {
        if (strncmp(image->env->pdata[i], key_value, key_len) == 0) {
            g_free(image->env->pdata[i]);
            image->env->pdata[i] = g_strdup(key_value);
            return;
        }
    }
    g_ptr_array_add(image->env, g_strdup(key_value));
}

void
podvm_test_image_set_working_dir(PodvmTestImage *image, const char *dir)
{
    g_free(image->working_dir);
    image->working_dir = g_strdup(dir);
}

void
podvm_test_image_set_user(PodvmTestImage *image, const char *user)
{
    g_free(image->user);
    image->user = g_strdup(user);
}

void
podvm_test_image_add_exposed_port(PodvmTestImage *image, const char *port)
{
    g_ptr_array_add(image->exposed_ports, g_strdup(port));
}

void
podvm_test_image_set_platform(PodvmTestImage *image, const char *os, const char *arch,
                              const char *variant)
{
    g_free(image->os);
    g_free(image->arch);
    g_free(image->variant);
    image->os = g_strdup(os);
    image->arch = g_strdup(arch);
    image->variant = g_strdup(variant);
}

void
podvm_test_image_add_annotation(PodvmTestImage *image, const char *key, const char *value)
{
    g_ptr_array_add(image->annotations, g_strdup(key));
    g_ptr_array_add(image->annotations, g_strdup(value));
}

/* ---- writing ---- */

static la_ssize_t
tar_write_cb(struct archive *a, void *client_data, const void *buffer, size_t length)
{
    (void)a;
    g_byte_array_append(client_data, buffer, (guint)length);
    return (la_ssize_t)length;
}

static void
write_entry_data(struct archive *a, Entry *entry)
{
    if (entry->data != NULL) {
        gsize size = g_bytes_get_size(entry->data);

        if (size > 0)
            g_assert_cmpint(archive_write_data(a, g_bytes_get_data(entry->data, NULL), size), ==,
                            (la_ssize_t)size);
    } else if (entry->host_path != NULL) {
        g_autoptr(GFile) file = g_file_new_for_path(entry->host_path);
        g_autoptr(GError) error = NULL;
        g_autoptr(GFileInputStream) in = g_file_read(file, NULL, &error);
        g_autofree guint8 *buffer = g_malloc(256 * 1024);
        gssize n;

        g_assert_no_error(error);
        while ((n = g_input_stream_read(G_INPUT_STREAM(in), buffer, 256 * 1024, NULL, &error)) > 0)
            g_assert_cmpint(archive_write_data(a, buffer, (size_t)n), ==, n);
        g_assert_no_error(error);
    }
}

static gint64
entry_size(Entry *entry)
{
    struct stat st;

    if (entry->hardlink)
        return 0;
    if (entry->data != NULL)
        return (gint64)g_bytes_get_size(entry->data);
    if (entry->host_path != NULL) {
        g_assert_cmpint(stat(entry->host_path, &st), ==, 0);
        return (gint64)st.st_size;
    }
    return 0;
}

/* The uncompressed tar of @layer. */
static GBytes *
layer_tar(PodvmTestLayer *layer)
{
    GByteArray *out = g_byte_array_new();
    struct archive *a = archive_write_new();

    g_assert_cmpint(archive_write_set_format_pax_restricted(a), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_set_bytes_in_last_block(a, 1), ==, ARCHIVE_OK);
    g_assert_cmpint(archive_write_open(a, out, NULL, tar_write_cb, NULL), ==, ARCHIVE_OK);
    for (guint i = 0; i < layer->entries->len; i++) {
        Entry *entry = layer->entries->pdata[i];
        struct archive_entry *ae = archive_entry_new();

        archive_entry_set_pathname(ae, entry->name);
        archive_entry_set_filetype(ae, entry->type);
        archive_entry_set_perm(ae, entry->mode);
        archive_entry_set_uid(ae, entry->uid);
        archive_entry_set_gid(ae, entry->gid);
        archive_entry_set_mtime(ae, 0, 0);
        if (entry->type == AE_IFLNK)
            archive_entry_set_symlink(ae, entry->link);
        else if (entry->hardlink)
            archive_entry_set_hardlink(ae, entry->link);
        if (entry->type == AE_IFCHR || entry->type == AE_IFBLK) {
            archive_entry_set_rdevmajor(ae, entry->rdev_major);
            archive_entry_set_rdevminor(ae, entry->rdev_minor);
        }
        archive_entry_set_size(ae, entry->type == AE_IFREG ? entry_size(entry) : 0);
        if (archive_write_header(a, ae) != ARCHIVE_OK)
            g_error("cannot write the tar entry '%s': %s", entry->name, archive_error_string(a));
        if (entry->type == AE_IFREG && !entry->hardlink)
            write_entry_data(a, entry);
        archive_entry_free(ae);
    }
    g_assert_cmpint(archive_write_close(a), ==, ARCHIVE_OK);
    archive_write_free(a);
    return g_byte_array_free_to_bytes(out);
}

/* gzip without a name or timestamp (GZlibCompressor's header). */
static GBytes *
gzip_bytes(GBytes *data)
{
    g_autoptr(GZlibCompressor) compressor = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, 6);
    g_autoptr(GOutputStream) memory = g_memory_output_stream_new_resizable();
    g_autoptr(GOutputStream) out = g_converter_output_stream_new(memory, G_CONVERTER(compressor));
    g_autoptr(GError) error = NULL;
    gsize written = 0;

    g_assert_true(g_output_stream_write_all(out, g_bytes_get_data(data, NULL),
                                            g_bytes_get_size(data), &written, NULL, &error));
    g_assert_no_error(error);
    g_assert_true(g_output_stream_close(out, NULL, &error));
    g_assert_no_error(error);
    return g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(memory));
}

static char *
sha256_digest(GBytes *data)
{
    g_autofree char *hex = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, data);

    return g_strconcat("sha256:", hex, NULL);
}

/* Stores @data as a blob of the layout @dir; returns its digest. */
static char *
write_blob(const char *dir, GBytes *data)
{
    char *digest = sha256_digest(data);
    g_autofree char *path = g_build_filename(dir, "blobs", "sha256", digest + 7, NULL);
    g_autoptr(GError) error = NULL;

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_file_set_contents(path, g_bytes_get_data(data, NULL), (gssize)g_bytes_get_size(data),
                            &error);
        g_assert_no_error(error);
    }
    return digest;
}

static void
add_descriptor(JsonBuilder *b, const char *media_type, const char *digest, gsize size)
{
    json_builder_set_member_name(b, "mediaType");
    json_builder_add_string_value(b, media_type);
    json_builder_set_member_name(b, "digest");
    json_builder_add_string_value(b, digest);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, (gint64)size);
}

static void
add_string_array(JsonBuilder *b, const char *member, char **strv)
{
    json_builder_set_member_name(b, member);
    json_builder_begin_array(b);
    for (guint i = 0; strv[i] != NULL; i++)
        json_builder_add_string_value(b, strv[i]);
    json_builder_end_array(b);
}

static GBytes *
builder_bytes(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) generator = json_generator_new();
    gsize length = 0;
    char *text;

    json_generator_set_root(generator, root);
    text = json_generator_to_data(generator, &length);
    return g_bytes_new_take(text, length);
}

static GBytes *
config_bytes(PodvmTestImage *image)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "created");
    json_builder_add_string_value(b, "1970-01-01T00:00:00Z");
    json_builder_set_member_name(b, "architecture");
    json_builder_add_string_value(b, image->arch);
    json_builder_set_member_name(b, "os");
    json_builder_add_string_value(b, image->os);
    if (image->variant != NULL) {
        json_builder_set_member_name(b, "variant");
        json_builder_add_string_value(b, image->variant);
    }
    json_builder_set_member_name(b, "config");
    json_builder_begin_object(b);
    if (image->entrypoint != NULL)
        add_string_array(b, "Entrypoint", image->entrypoint);
    if (image->cmd != NULL)
        add_string_array(b, "Cmd", image->cmd);
    if (image->env->len > 0) {
        json_builder_set_member_name(b, "Env");
        json_builder_begin_array(b);
        for (guint i = 0; i < image->env->len; i++)
            json_builder_add_string_value(b, image->env->pdata[i]);
        json_builder_end_array(b);
    }
    if (image->working_dir != NULL) {
        json_builder_set_member_name(b, "WorkingDir");
        json_builder_add_string_value(b, image->working_dir);
    }
    if (image->user != NULL) {
        json_builder_set_member_name(b, "User");
        json_builder_add_string_value(b, image->user);
    }
    if (image->exposed_ports->len > 0) {
        json_builder_set_member_name(b, "ExposedPorts");
        json_builder_begin_object(b);
        for (guint i = 0; i < image->exposed_ports->len; i++) {
            json_builder_set_member_name(b, image->exposed_ports->pdata[i]);
            json_builder_begin_object(b);
            json_builder_end_object(b);
        }
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "rootfs");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "layers");
    json_builder_set_member_name(b, "diff_ids");
    json_builder_begin_array(b);
    for (guint i = 0; i < image->layers->len; i++) {
        PodvmTestLayer *layer = image->layers->pdata[i];

        json_builder_add_string_value(b, layer->diff_id);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return builder_bytes(b);
}

static void
ensure_layout(const char *dir)
{
    g_autofree char *blobs = g_build_filename(dir, "blobs", "sha256", NULL);
    g_autofree char *layout = g_build_filename(dir, "oci-layout", NULL);
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(g_mkdir_with_parents(blobs, 0755), ==, 0);
    g_file_set_contents(layout, "{\"imageLayoutVersion\": \"1.0.0\"}", -1, &error);
    g_assert_no_error(error);
}

/* Writes layers, config and manifest of @image as blobs of @dir. */
static void
write_image_blobs(PodvmTestImage *image, const char *dir)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GBytes) config = NULL;
    guint64 total = 0;

    for (guint i = 0; i < image->layers->len; i++) {
        PodvmTestLayer *layer = image->layers->pdata[i];
        g_autoptr(GBytes) tar = layer_tar(layer);
        g_autoptr(GBytes) blob =
            layer->compression == PODVM_TEST_LAYER_GZIP ? gzip_bytes(tar) : g_bytes_ref(tar);

        g_free(layer->diff_id);
        g_free(layer->digest);
        layer->diff_id = sha256_digest(tar);
        layer->digest = write_blob(dir, blob);
        layer->size = g_bytes_get_size(blob);
        total += layer->size;
    }
    config = config_bytes(image);
    g_free(image->config_digest);
    image->config_digest = write_blob(dir, config);
    total += g_bytes_get_size(config);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "schemaVersion");
    json_builder_add_int_value(b, 2);
    json_builder_set_member_name(b, "mediaType");
    json_builder_add_string_value(b, MEDIA_MANIFEST);
    json_builder_set_member_name(b, "config");
    json_builder_begin_object(b);
    add_descriptor(b, MEDIA_CONFIG, image->config_digest, g_bytes_get_size(config));
    json_builder_end_object(b);
    json_builder_set_member_name(b, "layers");
    json_builder_begin_array(b);
    for (guint i = 0; i < image->layers->len; i++) {
        PodvmTestLayer *layer = image->layers->pdata[i];

        json_builder_begin_object(b);
        add_descriptor(
            b, layer->compression == PODVM_TEST_LAYER_GZIP ? MEDIA_LAYER_GZIP : MEDIA_LAYER_TAR,
            layer->digest, layer->size);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    if (image->annotations->len > 0) {
        json_builder_set_member_name(b, "annotations");
        json_builder_begin_object(b);
        for (guint i = 0; i + 1 < image->annotations->len; i += 2) {
            json_builder_set_member_name(b, image->annotations->pdata[i]);
            json_builder_add_string_value(b, image->annotations->pdata[i + 1]);
        }
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    g_clear_pointer(&image->manifest, g_bytes_unref);
    image->manifest = builder_bytes(b);
    g_free(image->manifest_digest);
    image->manifest_digest = write_blob(dir, image->manifest);
    total += g_bytes_get_size(image->manifest);
    image->total_size = total;
}

static void
add_platform(JsonBuilder *b, PodvmTestImage *image)
{
    json_builder_set_member_name(b, "platform");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "architecture");
    json_builder_add_string_value(b, image->arch);
    json_builder_set_member_name(b, "os");
    json_builder_add_string_value(b, image->os);
    if (image->variant != NULL) {
        json_builder_set_member_name(b, "variant");
        json_builder_add_string_value(b, image->variant);
    }
    json_builder_end_object(b);
}

/*
 * index.json of @dir with the descriptor (@media_type, @digest, @size) as
 * @tag: other tags of an existing index.json are kept.
 */
static void
write_index_json(const char *dir, const char *media_type, const char *digest, gsize size,
                 const char *tag)
{
    g_autofree char *path = g_build_filename(dir, "index.json", NULL);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GError) error = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "schemaVersion");
    json_builder_add_int_value(b, 2);
    json_builder_set_member_name(b, "manifests");
    json_builder_begin_array(b);
    if (json_parser_load_from_file(parser, path, NULL)) {
        JsonObject *root = json_node_get_object(json_parser_get_root(parser));
        JsonArray *manifests = json_object_get_array_member(root, "manifests");

        for (guint i = 0; i < json_array_get_length(manifests); i++) {
            JsonObject *m = json_array_get_object_element(manifests, i);
            JsonObject *annotations = json_object_get_object_member(m, "annotations");
            const char *name =
                annotations != NULL
                    ? json_object_get_string_member_with_default(annotations, REF_NAME, NULL)
                    : NULL;

            if (g_strcmp0(name, tag) != 0)
                json_builder_add_value(b, json_node_copy(json_array_get_element(manifests, i)));
        }
    }
    json_builder_begin_object(b);
    add_descriptor(b, media_type, digest, size);
    json_builder_set_member_name(b, "annotations");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, REF_NAME);
    json_builder_add_string_value(b, tag);
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    bytes = builder_bytes(b);
    g_file_set_contents(path, g_bytes_get_data(bytes, NULL), (gssize)g_bytes_get_size(bytes),
                        &error);
    g_assert_no_error(error);
}

char *
podvm_test_image_write_layout(PodvmTestImage *image, const char *dir, const char *tag,
                              guint64 *out_size)
{
    ensure_layout(dir);
    write_image_blobs(image, dir);
    write_index_json(dir, MEDIA_MANIFEST, image->manifest_digest, g_bytes_get_size(image->manifest),
                     tag);
    if (out_size != NULL)
        *out_size = image->total_size;
    return g_strdup(image->manifest_digest);
}

char *
podvm_test_image_write_index(PodvmTestImage *const *images, guint n_images, const char *dir,
                             const char *tag)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GBytes) index = NULL;
    char *digest;

    ensure_layout(dir);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "schemaVersion");
    json_builder_add_int_value(b, 2);
    json_builder_set_member_name(b, "mediaType");
    json_builder_add_string_value(b, MEDIA_INDEX);
    json_builder_set_member_name(b, "manifests");
    json_builder_begin_array(b);
    for (guint i = 0; i < n_images; i++) {
        write_image_blobs(images[i], dir);
        json_builder_begin_object(b);
        add_descriptor(b, MEDIA_MANIFEST, images[i]->manifest_digest,
                       g_bytes_get_size(images[i]->manifest));
        add_platform(b, images[i]);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    index = builder_bytes(b);
    digest = write_blob(dir, index);
    write_index_json(dir, MEDIA_INDEX, digest, g_bytes_get_size(index), tag);
    return digest;
}

const char *
podvm_test_image_config_digest(PodvmTestImage *image)
{
    return image->config_digest;
}

const char *
podvm_test_image_layer_digest(PodvmTestImage *image, guint i)
{
    g_assert_cmpuint(i, <, image->layers->len);
    return ((PodvmTestLayer *)image->layers->pdata[i])->digest;
}

guint
podvm_test_image_n_layers(PodvmTestImage *image)
{
    return image->layers->len;
}

/* ---- ready-made images ---- */

static const char *const busybox_applets[] = {
    "sh",    "ash",   "cat", "echo",     "env",  "false", "hostname", "id",    "ls",
    "mkdir", "mount", "nc",  "ps",       "pwd",  "rm",    "sleep",    "test",  "touch",
    "true",  "uname", "wc",  "whoami",   "wget", "grep",  "head",     "tail",  "printf",
    "kill",  "date",  "dd",  "ifconfig", "ip",   "stat",  "readlink", "chmod", NULL,
};

static void
add_etc(PodvmTestLayer *layer, const char *passwd, const char *group)
{
    podvm_test_layer_add_dir(layer, "etc", 0755);
    podvm_test_layer_add_file(layer, "etc/passwd", passwd, -1, 0644);
    podvm_test_layer_add_file(layer, "etc/group", group, -1, 0644);
}

static void
add_base_dirs(PodvmTestLayer *layer)
{
    podvm_test_layer_add_dir(layer, "tmp", 01777);
    podvm_test_layer_add_dir(layer, "root", 0700);
    podvm_test_layer_add_dir(layer, "proc", 0555);
    podvm_test_layer_add_dir(layer, "sys", 0555);
    podvm_test_layer_add_dir(layer, "dev", 0755);
}

static char *
find_busybox(void)
{
    const char *candidates[] = { "/bin/busybox", "/usr/bin/busybox", NULL };

    /* busybox-static's; the dynamic busybox package installs the same path. */
    for (guint i = 0; candidates[i] != NULL; i++) {
        g_autofree char *out = NULL;
        const char *argv[] = { "ldd", candidates[i], NULL };
        int status = 0;

        if (!g_file_test(candidates[i], G_FILE_TEST_IS_EXECUTABLE))
            continue;
        /* ldd says "not a dynamic executable" (and fails) for a static binary. */
        if (g_spawn_sync(NULL, (char **)argv, NULL,
                         G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                         &status, NULL) &&
            !g_spawn_check_wait_status(status, NULL))
            return g_strdup(candidates[i]);
    }
    return NULL;
}

PodvmTestImage *
podvm_test_image_new_busybox(const char *const *cmd)
{
    g_autofree char *busybox = find_busybox();
    const char *default_cmd[] = { "/bin/sh", NULL };
    PodvmTestImage *image;
    PodvmTestLayer *layer;

    if (busybox == NULL) {
        g_test_skip("a static busybox is not installed (apt-get install busybox-static)");
        return NULL;
    }
    image = podvm_test_image_new();
    layer = podvm_test_image_add_layer(image);
    podvm_test_layer_add_dir(layer, "bin", 0755);
    podvm_test_layer_add_host_file(layer, "bin/busybox", busybox, 0755);
    for (guint i = 0; busybox_applets[i] != NULL; i++) {
        g_autofree char *path = g_build_filename("bin", busybox_applets[i], NULL);

        podvm_test_layer_add_symlink(layer, path, "busybox");
    }
    add_etc(layer,
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            "root:x:0:\nnogroup:x:65534:\n");
    add_base_dirs(layer);
    podvm_test_image_add_env(image, DEFAULT_PATH);
    podvm_test_image_set_cmd(image, cmd != NULL ? cmd : default_cmd);
    return image;
}

/*
 * @path as it is on this host once its directories' symlinks are followed
 * ("/lib/x86_64-linux-gnu/libc.so.6" -> "/usr/lib/x86_64-linux-gnu/libc.so.6"),
 * the file itself not followed.
 */
static char *
canonical_dir_path(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *real_dir = realpath(dir, NULL);

    g_assert_nonnull(real_dir);
    return g_build_filename(real_dir, base, NULL);
}

/* Adds each directory of @path (a tar name) not added yet. */
static void
add_parents(PodvmTestLayer *layer, GHashTable *dirs, const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);

    if (strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0 || g_hash_table_contains(dirs, dir))
        return;
    add_parents(layer, dirs, dir);
    podvm_test_layer_add_dir(layer, dir, 0755);
    g_hash_table_add(dirs, g_steal_pointer(&dir));
}

/* The libraries and loader `ldd @binary` names: absolute paths as printed. */
static GPtrArray *
ldd_paths(const char *binary)
{
    const char *argv[] = { "ldd", binary, NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                 &error);
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    lines = g_strsplit(out, "\n", -1);
    /* "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)",
     * "\t/lib64/ld-linux-x86-64.so.2 (0x...)", "\tlinux-vdso.so.1 (0x...)". */
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = g_strstrip(lines[i]);
        const char *arrow = strstr(line, "=> ");
        const char *start = arrow != NULL ? arrow + 3 : line;
        const char *end;

        if (*start != '/')
            continue;
        end = strstr(start, " (");
        g_ptr_array_add(paths,
                        end != NULL ? g_strndup(start, (gsize)(end - start)) : g_strdup(start));
    }
    return paths;
}

/* A top-level directory of the host that is a symlink (merged /usr: "/lib"
 * -> "usr/lib") becomes the same symlink in the image. */
static void
add_toplevel_links(PodvmTestLayer *layer, GHashTable *dirs)
{
    const char *names[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32", NULL };

    for (guint i = 0; names[i] != NULL; i++) {
        g_autofree char *host = g_build_filename("/", names[i], NULL);
        g_autofree char *target = g_file_read_link(host, NULL);

        if (target != NULL) {
            podvm_test_layer_add_symlink(layer, names[i], target);
            g_hash_table_add(dirs, g_strdup(names[i]));
        }
    }
}

PodvmTestImage *
podvm_test_image_new_redis(void)
{
    g_autofree char *redis = g_find_program_in_path("redis-server");
    g_autofree char *real_redis = NULL;
    g_autoptr(GPtrArray) libs = NULL;
    g_autoptr(GHashTable) dirs = NULL;
    const char *entrypoint[] = { "redis-server", "--protected-mode", "no", NULL };
    PodvmTestImage *image;
    PodvmTestLayer *layer;

    if (redis == NULL) {
        g_test_skip("redis-server is not installed (apt-get install redis-server)");
        return NULL;
    }
    real_redis = realpath(redis, NULL);
    g_assert_nonnull(real_redis);
    dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    image = podvm_test_image_new();
    layer = podvm_test_image_add_layer(image);
    add_toplevel_links(layer, dirs);
    add_parents(layer, dirs, "usr/bin/redis-server");
    podvm_test_layer_add_host_file(layer, "usr/bin/redis-server", real_redis, 0755);
    libs = ldd_paths(real_redis);
    g_assert_cmpuint(libs->len, >, 0);
    for (guint i = 0; i < libs->len; i++) {
        g_autofree char *in_image = canonical_dir_path(libs->pdata[i]);
        g_autofree char *real = realpath(libs->pdata[i], NULL);

        g_assert_nonnull(real);
        add_parents(layer, dirs, in_image + 1);
        podvm_test_layer_add_host_file(layer, in_image, real, 0755);
    }
    add_etc(layer,
            "root:x:0:0:root:/root:/bin/sh\nredis:x:999:999:redis:/data:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "root:x:0:\nredis:x:999:\nnogroup:x:65534:\n");
    add_base_dirs(layer);
    podvm_test_layer_set_owner(layer, 999, 999);
    podvm_test_layer_add_dir(layer, "data", 0755);
    podvm_test_layer_set_owner(layer, 0, 0);
    podvm_test_image_add_env(image, DEFAULT_PATH);
    podvm_test_image_set_entrypoint(image, entrypoint);
    podvm_test_image_set_working_dir(image, "/data");
    podvm_test_image_add_exposed_port(image, "6379/tcp");
    return image;
}

PodvmTestImage *
podvm_test_image_new_container_disk(const char *disk_path, const char *name)
{
    g_autofree char *base = g_path_get_basename(disk_path);
    g_autofree char *in_image = g_build_filename("disk", name != NULL ? name : base, NULL);
    PodvmTestImage *image = podvm_test_image_new();
    PodvmTestLayer *layer = podvm_test_image_add_layer(image);

    /* KubeVirt's containerDisks: FROM scratch, ADD --chown=107:107 x.qcow2 /disk/. */
    podvm_test_layer_set_owner(layer, 107, 107);
    podvm_test_layer_add_dir(layer, "disk", 0555);
    podvm_test_layer_add_host_file(layer, in_image, disk_path, 0440);
    return image;
}

PodvmTestImage *
podvm_test_image_new_sized(gsize size, const char *const *cmd)
{
    PodvmTestImage *image = podvm_test_image_new_busybox(cmd);
    PodvmTestLayer *layer;
    guint8 *data;
    GRand *rand;

    if (image == NULL)
        return NULL;
    data = g_malloc0(size);
    rand = g_rand_new_with_seed(14);
    for (gsize i = 0; i + 4 <= size; i += 4) {
        guint32 v = g_rand_int(rand);

        memcpy(data + i, &v, 4);
    }
    g_rand_free(rand);
    layer = podvm_test_image_add_layer(image);
    podvm_test_layer_add_dir(layer, "data", 0755);
    podvm_test_layer_add_file(layer, "data/blob", data, (gssize)size, 0644);
    g_free(data);
    return image;
}
