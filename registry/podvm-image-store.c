/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image store: its directory (an OCI layout), its records of what
 * references resolved to, lookup, list and remove. Pulls are in
 * podvm-image-store-pull.c, prune in podvm-image-store-prune.c.
 */
#include "podvm-image-store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-registry-manifest.h"

#define RECORD_MAX (1024 * 1024)

G_DEFINE_FINAL_TYPE(PodvmImageStore, podvm_image_store, G_TYPE_OBJECT)

void
podvm_image_free(PodvmImage *image)
{
    if (image == NULL)
        return;
    g_free(image->reference);
    g_free(image->digest);
    g_free(image->index_digest);
    g_free(image->config_digest);
    g_free(image->media_type);
    g_clear_pointer(&image->layers, g_ptr_array_unref);
    g_free(image);
}

static char *
format_time(gint64 unix_seconds)
{
    g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc(unix_seconds);

    return time != NULL ? g_date_time_format_iso8601(time) : g_strdup("1970-01-01T00:00:00Z");
}

JsonNode *
podvm_image_to_json(const PodvmImage *image)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autofree char *pulled_at = format_time(image->pulled_at);

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "reference");
    json_builder_add_string_value(builder, image->reference);
    json_builder_set_member_name(builder, "digest");
    json_builder_add_string_value(builder, image->digest);
    if (image->index_digest != NULL) {
        json_builder_set_member_name(builder, "indexDigest");
        json_builder_add_string_value(builder, image->index_digest);
    }
    json_builder_set_member_name(builder, "configDigest");
    json_builder_add_string_value(builder, image->config_digest);
    json_builder_set_member_name(builder, "mediaType");
    json_builder_add_string_value(builder, image->media_type);
    json_builder_set_member_name(builder, "size");
    json_builder_add_int_value(builder, (gint64)image->size);
    json_builder_set_member_name(builder, "pulledAt");
    json_builder_add_string_value(builder, pulled_at);
    json_builder_end_object(builder);
    return json_builder_get_root(builder);
}

char *
podvm_image_store_record_data(const PodvmImage *image, gsize *out_length)
{
    g_autoptr(JsonNode) node = podvm_image_to_json(image);
    JsonObject *object = json_node_get_object(node);
    JsonArray *layers = json_array_new();

    for (guint i = 0; i < image->layers->len; i++)
        json_array_add_string_element(layers, g_ptr_array_index(image->layers, i));
    json_object_set_array_member(object, "layers", layers);
    return podvm_json_to_data(node, TRUE, out_length);
}

static const char *
record_string(JsonObject *object, const char *member, gboolean digest)
{
    JsonNode *node = json_object_get_member(object, member);
    const char *value;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    value = json_node_get_string(node);
    return !digest || podvm_image_ref_digest_valid(value) ? value : NULL;
}

PodvmImage *
podvm_image_store_read_record(const char *path, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *data = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(PodvmImage) image = g_new0(PodvmImage, 1);
    g_autoptr(GDateTime) time = NULL;
    JsonObject *object;
    JsonNode *layers, *size;
    const char *pulled_at;
    gsize length = 0;

    if (!g_file_get_contents(path, &data, &length, &local)) {
        g_set_error(error, PODVM_ERROR,
                    g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? PODVM_ERROR_NOT_FOUND
                                                                             : PODVM_ERROR_IO,
                    _("cannot read %s: %s"), path, local->message);
        return NULL;
    }
    root = podvm_json_parse_limited(data, (gssize)length, RECORD_MAX, 8, NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        goto bad;
    object = json_node_get_object(root);
    image->reference = g_strdup(record_string(object, "reference", FALSE));
    image->digest = g_strdup(record_string(object, "digest", TRUE));
    image->index_digest = g_strdup(record_string(object, "indexDigest", TRUE));
    image->config_digest = g_strdup(record_string(object, "configDigest", TRUE));
    image->media_type = g_strdup(record_string(object, "mediaType", FALSE));
    if (image->reference == NULL || image->digest == NULL || image->config_digest == NULL)
        goto bad;
    if (image->media_type == NULL)
        image->media_type = g_strdup(PODVM_MEDIA_OCI_MANIFEST);
    size = json_object_get_member(object, "size");
    if (size != NULL && JSON_NODE_HOLDS_VALUE(size) &&
        json_node_get_value_type(size) == G_TYPE_INT64 && json_node_get_int(size) >= 0)
        image->size = (guint64)json_node_get_int(size);
    pulled_at = record_string(object, "pulledAt", FALSE);
    time = pulled_at != NULL ? g_date_time_new_from_iso8601(pulled_at, NULL) : NULL;
    image->pulled_at = time != NULL ? g_date_time_to_unix(time) : 0;
    image->layers = g_ptr_array_new_with_free_func(g_free);
    layers = json_object_get_member(object, "layers");
    if (layers == NULL || !JSON_NODE_HOLDS_ARRAY(layers))
        goto bad;
    for (guint i = 0; i < json_array_get_length(json_node_get_array(layers)); i++) {
        JsonNode *layer = json_array_get_element(json_node_get_array(layers), i);

        if (!JSON_NODE_HOLDS_VALUE(layer) || json_node_get_value_type(layer) != G_TYPE_STRING ||
            !podvm_image_ref_digest_valid(json_node_get_string(layer)))
            goto bad;
        g_ptr_array_add(image->layers, g_strdup(json_node_get_string(layer)));
    }
    return g_steal_pointer(&image);

bad:
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("image record %s is malformed"), path);
    return NULL;
}

char *
podvm_image_store_blob_path(PodvmImageStore *self, const char *digest)
{
    g_return_val_if_fail(podvm_image_ref_digest_valid(digest), NULL);
    return g_build_filename(self->blobs_dir, digest + strlen("sha256:"), NULL);
}

char *
podvm_image_store_record_path(PodvmImageStore *self, const char *canonical)
{
    g_autofree char *key = g_compute_checksum_for_string(G_CHECKSUM_SHA256, canonical, -1);
    g_autofree char *name = g_strconcat(key, ".json", NULL);

    return g_build_filename(self->refs_dir, name, NULL);
}

gboolean
podvm_image_store_has_blobs(PodvmImageStore *self, const PodvmImage *image)
{
    const char *digests[] = { image->digest, image->config_digest, image->index_digest };

    for (guint i = 0; i < G_N_ELEMENTS(digests); i++) {
        g_autofree char *path = NULL;

        if (digests[i] == NULL)
            continue;
        path = podvm_image_store_blob_path(self, digests[i]);
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
            return FALSE;
    }
    for (guint i = 0; i < image->layers->len; i++) {
        g_autofree char *path = podvm_image_store_blob_path(self, image->layers->pdata[i]);

        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
            return FALSE;
    }
    return TRUE;
}

static gint
compare_references(gconstpointer a, gconstpointer b)
{
    const PodvmImage *x = *(PodvmImage *const *)a;
    const PodvmImage *y = *(PodvmImage *const *)b;

    return strcmp(x->reference, y->reference);
}

GPtrArray *
podvm_image_store_read_records(PodvmImageStore *self, GError **error)
{
    g_autoptr(GPtrArray) images = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_image_free);
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) dir = g_dir_open(self->refs_dir, 0, &local);
    const char *name;

    if (dir == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot read the image store: %s"),
                    local->message);
        return NULL;
    }
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = NULL;
        PodvmImage *image;

        if (!g_str_has_suffix(name, ".json") || name[0] == '.')
            continue;
        path = g_build_filename(self->refs_dir, name, NULL);
        image = podvm_image_store_read_record(path, &local);
        if (image == NULL) {
            g_warning("image store: %s", local->message);
            g_clear_error(&local);
            continue;
        }
        g_ptr_array_add(images, image);
    }
    g_ptr_array_sort(images, compare_references);
    return g_steal_pointer(&images);
}

int
podvm_image_store_open_lock(PodvmImageStore *self, GError **error)
{
    int fd = open(self->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot open %s: %s"), self->lock_path,
                    g_strerror(saved));
    }
    return fd;
}

static void
podvm_image_store_finalize(GObject *object)
{
    PodvmImageStore *self = PODVM_IMAGE_STORE(object);

    g_free(self->dir);
    g_free(self->blobs_dir);
    g_free(self->tmp_dir);
    g_free(self->refs_dir);
    g_free(self->rootfs_dir);
    g_free(self->lock_path);
    g_strfreev(self->insecure_registries);
    g_strfreev(self->allowed_registries);
    g_free(self->auth_file);
    g_free(self->os);
    g_free(self->architecture);
    g_clear_object(&self->client);
    g_hash_table_unref(self->pulls);
    G_OBJECT_CLASS(podvm_image_store_parent_class)->finalize(object);
}

static void
podvm_image_store_class_init(PodvmImageStoreClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = podvm_image_store_finalize;
}

static void
podvm_image_store_init(PodvmImageStore *self)
{
    self->pulls = g_hash_table_new(g_str_hash, g_str_equal);
}

/* Writes @path with @contents when it is missing (temp + rename). */
static gboolean
ensure_file(const char *path, const char *contents, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (g_file_test(path, G_FILE_TEST_EXISTS))
        return TRUE;
    if (!g_file_set_contents_full(path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                  &local)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write %s: %s"), path,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

PodvmImageStore *
podvm_image_store_new(const char *dir, const PodvmImageStoreOptions *options, GError **error)
{
    static const PodvmImageStoreOptions defaults = { 0 };
    g_autoptr(PodvmImageStore) self = g_object_new(PODVM_TYPE_IMAGE_STORE, NULL);
    g_autofree char *layout = NULL;
    g_autofree char *index = NULL;
    const char *dirs[4];

    g_return_val_if_fail(dir != NULL, NULL);
    if (options == NULL)
        options = &defaults;
    self->dir = g_canonicalize_filename(dir, NULL);
    self->blobs_dir = g_build_filename(self->dir, "blobs", "sha256", NULL);
    self->tmp_dir = g_build_filename(self->dir, "tmp", NULL);
    self->refs_dir = g_build_filename(self->dir, "refs", NULL);
    self->rootfs_dir = g_build_filename(self->dir, "rootfs", NULL);
    self->lock_path = g_build_filename(self->dir, "lock", NULL);
    self->insecure_registries = g_strdupv(options->insecure_registries);
    self->allowed_registries = g_strdupv(options->allowed_registries);
    self->auth_file = g_strdup(options->auth_file);
    self->require_digest = options->require_digest;
    self->max_manifest_size = options->max_manifest_size != 0 ? options->max_manifest_size
                                                              : PODVM_REGISTRY_MANIFEST_MAX_SIZE;
    self->max_layer_size =
        options->max_layer_size != 0 ? options->max_layer_size : G_GUINT64_CONSTANT(8) << 30;
    self->os = g_strdup(options->os != NULL ? options->os : "linux");
    self->architecture = g_strdup(
        options->architecture != NULL ? options->architecture : podvm_registry_host_architecture());
    dirs[0] = self->blobs_dir;
    dirs[1] = self->tmp_dir;
    dirs[2] = self->refs_dir;
    dirs[3] = self->rootfs_dir;
    for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
        if (g_mkdir_with_parents(dirs[i], 0755) < 0) {
            int saved = errno;

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create %s: %s"), dirs[i],
                        g_strerror(saved));
            return NULL;
        }
    }
    layout = g_build_filename(self->dir, "oci-layout", NULL);
    index = g_build_filename(self->dir, "index.json", NULL);
    if (!ensure_file(layout, "{\"imageLayoutVersion\": \"1.0.0\"}\n", error) ||
        !ensure_file(index, "{\"schemaVersion\": 2, \"manifests\": []}\n", error))
        return NULL;
    self->client = podvm_registry_client_new(options);
    return g_steal_pointer(&self);
}

const char *
podvm_image_store_get_dir(PodvmImageStore *self)
{
    return self->dir;
}

char *
podvm_image_store_layout_ref(PodvmImageStore *self, const PodvmImage *image)
{
    return g_strdup_printf("oci:%s@%s", self->dir, image->digest);
}

PodvmImage *
podvm_image_store_lookup(PodvmImageStore *self, const char *reference_or_digest, GError **error)
{
    g_autofree char *quoted = podvm_quote_for_message(reference_or_digest);

    if (g_str_has_prefix(reference_or_digest, "sha256:")) {
        g_autoptr(GPtrArray) images = NULL;

        if (!podvm_image_ref_digest_valid(reference_or_digest)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s is not a sha256 digest (64 lowercase hex digits)"), quoted);
            return NULL;
        }
        images = podvm_image_store_read_records(self, error);
        if (images == NULL)
            return NULL;
        for (guint i = 0; i < images->len; i++) {
            PodvmImage *image = g_ptr_array_index(images, i);

            if (g_str_equal(image->digest, reference_or_digest) ||
                g_strcmp0(image->index_digest, reference_or_digest) == 0)
                return g_ptr_array_steal_index(images, i);
        }
    } else {
        g_autofree char *canonical = podvm_image_ref_normalize(reference_or_digest, error);
        g_autofree char *path = NULL;
        g_autoptr(GError) local = NULL;
        PodvmImage *image;

        if (canonical == NULL)
            return NULL;
        path = podvm_image_store_record_path(self, canonical);
        image = podvm_image_store_read_record(path, &local);
        if (image != NULL)
            return image;
        if (!g_error_matches(local, PODVM_ERROR, PODVM_ERROR_NOT_FOUND)) {
            g_propagate_error(error, g_steal_pointer(&local));
            return NULL;
        }
    }
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                _("image %s is not in the image store; pull it first"), quoted);
    return NULL;
}

GPtrArray *
podvm_image_store_list(PodvmImageStore *self, GError **error)
{
    return podvm_image_store_read_records(self, error);
}

gboolean
podvm_image_store_remove(PodvmImageStore *self, const char *reference_or_digest, GError **error)
{
    g_autofree char *quoted = podvm_quote_for_message(reference_or_digest);
    g_autoptr(GPtrArray) images = NULL;
    guint removed = 0;

    if (!g_str_has_prefix(reference_or_digest, "sha256:")) {
        g_autoptr(PodvmImage) image = podvm_image_store_lookup(self, reference_or_digest, error);
        g_autofree char *path = NULL;

        if (image == NULL)
            return FALSE;
        path = podvm_image_store_record_path(self, image->reference);
        if (g_unlink(path) < 0 && errno != ENOENT) {
            int saved = errno;

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot remove %s: %s"), path,
                        g_strerror(saved));
            return FALSE;
        }
        return TRUE;
    }
    if (!podvm_image_ref_digest_valid(reference_or_digest)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s is not a sha256 digest (64 lowercase hex digits)"), quoted);
        return FALSE;
    }
    images = podvm_image_store_read_records(self, error);
    if (images == NULL)
        return FALSE;
    for (guint i = 0; i < images->len; i++) {
        PodvmImage *image = g_ptr_array_index(images, i);
        g_autofree char *path = NULL;

        if (!g_str_equal(image->digest, reference_or_digest) &&
            g_strcmp0(image->index_digest, reference_or_digest) != 0)
            continue;
        path = podvm_image_store_record_path(self, image->reference);
        if (g_unlink(path) == 0)
            removed++;
    }
    if (removed == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("image %s is not in the image store"), quoted);
        return FALSE;
    }
    return TRUE;
}
