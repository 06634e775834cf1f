/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-oci-layout.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"

#define OCI_LAYOUT_MAX_SIZE (64 * 1024)
#define INDEX_MAX_SIZE (4 * 1024 * 1024)
/* Nested indexes (index -> index -> manifest); real images use one level. */
#define MAX_INDEX_DEPTH 4
#define READ_BUFFER_SIZE (1024 * 1024)

#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

static const char *const tar_layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
};
static const char *const gzip_layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};
static const char *const zstd_layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
};

/* ------------------------------------------------------------------------ */
/* Descriptors */

void
podvm_oci_descriptor_clear(PodvmOciDescriptor *desc)
{
    g_clear_pointer(&desc->media_type, g_free);
    g_clear_pointer(&desc->digest, g_free);
    desc->hex = NULL;
    desc->size = 0;
}

void
podvm_oci_layout_free(PodvmOciLayout *layout)
{
    if (layout == NULL)
        return;
    g_free(layout->image);
    g_free(layout->dir);
    g_free(layout->tag);
    g_free(layout->digest);
    podvm_oci_descriptor_clear(&layout->manifest_desc);
    g_clear_pointer(&layout->manifest, json_node_unref);
    g_free(layout);
}

/* A string member of untrusted JSON, or NULL when absent or not a string
 * (json-glib's getters would complain loudly about the wrong type). */
static const char *
get_string(JsonObject *object, const char *member)
{
    JsonNode *node = json_object_get_member(object, member);

    if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

static gboolean
is_sha256_hex(const char *hex)
{
    gsize i;

    for (i = 0; hex[i] != '\0'; i++) {
        if (!g_ascii_isdigit(hex[i]) && !(hex[i] >= 'a' && hex[i] <= 'f'))
            return FALSE;
    }
    return i == 64;
}

static gboolean
parse_descriptor(const PodvmOciLayout *layout, JsonNode *node, const char *what,
                 PodvmOciDescriptor *out, GError **error)
{
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    JsonNode *media_type = object != NULL ? json_object_get_member(object, "mediaType") : NULL;
    JsonNode *digest = object != NULL ? json_object_get_member(object, "digest") : NULL;
    JsonNode *size = object != NULL ? json_object_get_member(object, "size") : NULL;
    const char *digest_text;
    const char *colon;

    if (object == NULL || media_type == NULL || digest == NULL || size == NULL ||
        json_node_get_value_type(media_type) != G_TYPE_STRING ||
        json_node_get_value_type(digest) != G_TYPE_STRING ||
        json_node_get_value_type(size) != G_TYPE_INT64 || json_node_get_int(size) < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': %s is not a valid descriptor (mediaType, digest, size)"),
                    layout->image, what);
        return FALSE;
    }

    digest_text = json_node_get_string(digest);
    colon = strchr(digest_text, ':');
    if (colon == NULL) {
        g_autofree char *quoted = podvm_quote_for_message(digest_text);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': %s has an invalid digest %s"), layout->image, what, quoted);
        return FALSE;
    }
    if (colon - digest_text != 6 || strncmp(digest_text, "sha256", 6) != 0) {
        g_autofree char *algorithm = g_strndup(digest_text, (gsize)(colon - digest_text));
        g_autofree char *quoted = podvm_quote_for_message(algorithm);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("image '%s': digest algorithm %s is not supported; only sha256 is"),
                    layout->image, quoted);
        return FALSE;
    }
    if (!is_sha256_hex(colon + 1)) {
        g_autofree char *quoted = podvm_quote_for_message(digest_text);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': %s has an invalid digest %s"), layout->image, what, quoted);
        return FALSE;
    }

    out->media_type = g_strdup(json_node_get_string(media_type));
    out->digest = g_strdup(digest_text);
    out->hex = out->digest + strlen("sha256:");
    out->size = (guint64)json_node_get_int(size);
    return TRUE;
}

char *
podvm_oci_layout_blob_path(PodvmOciLayout *layout, const PodvmOciDescriptor *desc)
{
    return g_build_filename(layout->dir, "blobs", "sha256", desc->hex, NULL);
}

/* ------------------------------------------------------------------------ */
/* Reading blobs with their digest checked on the way */

struct _PodvmOciBlobReader {
    char *image;
    PodvmOciDescriptor desc;
    int fd;
    GChecksum *checksum;
    guint64 done;
    guchar *buffer;
    GCancellable *cancellable;
    GError *read_error; /* the first failed read */
    gboolean cancelled;
};

void
podvm_oci_blob_reader_free(PodvmOciBlobReader *reader)
{
    if (reader == NULL)
        return;
    if (reader->fd >= 0)
        close(reader->fd);
    g_free(reader->image);
    podvm_oci_descriptor_clear(&reader->desc);
    g_clear_pointer(&reader->checksum, g_checksum_free);
    g_free(reader->buffer);
    g_clear_object(&reader->cancellable);
    g_clear_error(&reader->read_error);
    g_free(reader);
}

PodvmOciBlobReader *
podvm_oci_layout_open_blob(PodvmOciLayout *layout, const PodvmOciDescriptor *desc,
                           GCancellable *cancellable, GError **error)
{
    g_autofree char *path = podvm_oci_layout_blob_path(layout, desc);
    g_autoptr(PodvmOciBlobReader) reader = g_new0(PodvmOciBlobReader, 1);
    struct stat st;

    /* O_NONBLOCK: a FIFO planted as a blob must not hang the open. */
    reader->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (reader->fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, saved == ENOENT ? PODVM_ERROR_NOT_FOUND : PODVM_ERROR_IO,
                    _("image '%s': cannot open blob %s ('%s'): %s"), layout->image, desc->digest,
                    path, g_strerror(saved));
        return NULL;
    }
    if (fstat(reader->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': blob %s ('%s') is not a regular file"), layout->image,
                    desc->digest, path);
        return NULL;
    }
    reader->image = g_strdup(layout->image);
    reader->desc.media_type = g_strdup(desc->media_type);
    reader->desc.digest = g_strdup(desc->digest);
    reader->desc.hex = reader->desc.digest + strlen("sha256:");
    reader->desc.size = desc->size;
    reader->checksum = g_checksum_new(G_CHECKSUM_SHA256);
    reader->buffer = g_malloc(READ_BUFFER_SIZE);
    reader->cancellable = cancellable != NULL ? g_object_ref(cancellable) : NULL;
    return g_steal_pointer(&reader);
}

/*
 * Reads the next chunk into reader->buffer and hashes it. Stops one byte
 * past the declared size: enough to know the blob is too long without
 * reading a huge file to its end.
 */
gssize
podvm_oci_blob_reader_read(PodvmOciBlobReader *reader, const void **out_data, GError **error)
{
    guint64 room = reader->desc.size + 1 - MIN(reader->done, reader->desc.size + 1);
    gsize want = (gsize)MIN((guint64)READ_BUFFER_SIZE, room);
    gssize n;

    if (reader->read_error == NULL && g_cancellable_is_cancelled(reader->cancellable)) {
        reader->cancelled = TRUE;
        reader->read_error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                         _("reading image '%s' was cancelled"), reader->image);
    }
    if (reader->read_error != NULL) {
        if (error != NULL)
            *error = g_error_copy(reader->read_error);
        return -1;
    }
    if (want == 0)
        return 0;
    do {
        n = read(reader->fd, reader->buffer, want);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int saved = errno;

        reader->read_error =
            g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("image '%s': cannot read blob %s: %s"),
                        reader->image, reader->desc.digest, g_strerror(saved));
        if (error != NULL)
            *error = g_error_copy(reader->read_error);
        return -1;
    }
    g_checksum_update(reader->checksum, reader->buffer, n);
    reader->done += (guint64)n;
    *out_data = reader->buffer;
    return n;
}

gboolean
podvm_oci_blob_reader_was_cancelled(PodvmOciBlobReader *reader)
{
    return reader->cancelled;
}

const char *
podvm_oci_blob_reader_get_error_message(PodvmOciBlobReader *reader)
{
    return reader->read_error != NULL ? reader->read_error->message : NULL;
}

/* Reads whatever is left (the consumer may stop early) and checks size and
 * digest over all of it. */
gboolean
podvm_oci_blob_reader_verify(PodvmOciBlobReader *reader, GError **error)
{
    const void *data;
    gssize n;

    while ((n = podvm_oci_blob_reader_read(reader, &data, error)) > 0)
        ;
    if (n < 0)
        return FALSE;

    if (reader->done != reader->desc.size) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("blob %s of image '%s' is corrupt (size mismatch: %s%" G_GUINT64_FORMAT
                      " bytes instead of %" G_GUINT64_FORMAT ")"),
                    reader->desc.digest, reader->image,
                    reader->done > reader->desc.size ? _("more than ") : "",
                    MIN(reader->done, reader->desc.size), reader->desc.size);
        return FALSE;
    }
    if (g_strcmp0(g_checksum_get_string(reader->checksum), reader->desc.hex) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("blob %s of image '%s' is corrupt (digest mismatch)"), reader->desc.digest,
                    reader->image);
        return FALSE;
    }
    return TRUE;
}

static JsonNode *
parse_json(const PodvmOciLayout *layout, const char *what, const char *data, gsize length,
           GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = NULL;

    /* The caller bounded the size. */
    root = podvm_json_parse_limited(data, (gssize)length, length, PODVM_JSON_MAX_DEPTH, &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': %s is not valid JSON: %s"), layout->image, what, local->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': %s is not a JSON object"), layout->image, what);
        return NULL;
    }
    return g_steal_pointer(&root);
}

static JsonNode *
read_json_blob(PodvmOciLayout *layout, const PodvmOciDescriptor *desc, GCancellable *cancellable,
               GError **error)
{
    g_autoptr(PodvmOciBlobReader) reader = NULL;
    g_autoptr(GByteArray) data = g_byte_array_new();
    g_autofree char *what = NULL;
    const void *chunk;
    gssize n;

    if (desc->size > PODVM_OCI_JSON_BLOB_MAX_SIZE) {
        g_set_error(
            error, PODVM_ERROR, PODVM_ERROR_FAILED,
            _("image '%s': blob %s is too large for a manifest (%" G_GUINT64_FORMAT " bytes)"),
            layout->image, desc->digest, desc->size);
        return NULL;
    }
    reader = podvm_oci_layout_open_blob(layout, desc, cancellable, error);
    if (reader == NULL)
        return NULL;
    while ((n = podvm_oci_blob_reader_read(reader, &chunk, error)) > 0)
        g_byte_array_append(data, chunk, (guint)n);
    if (n < 0 || !podvm_oci_blob_reader_verify(reader, error))
        return NULL;
    what = g_strdup_printf(_("blob %s"), desc->digest);
    return parse_json(layout, what, (const char *)data->data, data->len, error);
}

/* ------------------------------------------------------------------------ */
/* The layout: oci-layout, index.json, manifests */

static char *
read_layout_file(const PodvmOciLayout *layout, const char *name, gsize max_size, gsize *out_length,
                 GError **error)
{
    g_autofree char *path = g_build_filename(layout->dir, name, NULL);
    g_autoptr(GError) local = NULL;
    g_autoptr(GMappedFile) mapped = NULL;
    GStatBuf st;

    if (g_stat(path, &st) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR,
                    saved == ENOENT || saved == ENOTDIR ? PODVM_ERROR_NOT_FOUND : PODVM_ERROR_IO,
                    _("image '%s': cannot read '%s': %s; is '%s' an OCI image layout?"),
                    layout->image, path, g_strerror(saved), layout->dir);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (guint64)st.st_size > max_size) {
        g_set_error(
            error, PODVM_ERROR, PODVM_ERROR_FAILED,
            _("image '%s': '%s' is not a regular file of at most %" G_GSIZE_FORMAT " bytes"),
            layout->image, path, max_size);
        return NULL;
    }
    mapped = g_mapped_file_new(path, FALSE, &local);
    if (mapped == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("image '%s': cannot read '%s': %s"),
                    layout->image, path, local->message);
        return NULL;
    }
    if (g_mapped_file_get_length(mapped) > max_size) {
        g_set_error(
            error, PODVM_ERROR, PODVM_ERROR_FAILED,
            _("image '%s': '%s' is not a regular file of at most %" G_GSIZE_FORMAT " bytes"),
            layout->image, path, max_size);
        return NULL;
    }
    *out_length = g_mapped_file_get_length(mapped);
    return g_strndup(g_mapped_file_get_contents(mapped), *out_length);
}

static gboolean
check_oci_layout(const PodvmOciLayout *layout, GError **error)
{
    g_autofree char *data = NULL;
    g_autoptr(JsonNode) root = NULL;
    gsize length = 0;
    const char *version;

    data = read_layout_file(layout, "oci-layout", OCI_LAYOUT_MAX_SIZE, &length, error);
    if (data == NULL)
        return FALSE;
    root = parse_json(layout, "oci-layout", data, length, error);
    if (root == NULL)
        return FALSE;
    version = get_string(json_node_get_object(root), "imageLayoutVersion");
    /* 1.x: later minor versions stay compatible by the spec's promise. */
    if (version == NULL || !g_str_has_prefix(version, "1.")) {
        g_autofree char *quoted = podvm_quote_for_message(version != NULL ? version : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("image '%s': OCI layout version %s is not supported (1.x is)"), layout->image,
                    quoted);
        return FALSE;
    }
    return TRUE;
}

static JsonArray *
get_manifests(const PodvmOciLayout *layout, JsonNode *index, const char *what, GError **error)
{
    JsonNode *manifests = json_object_get_member(json_node_get_object(index), "manifests");

    if (manifests == NULL || !JSON_NODE_HOLDS_ARRAY(manifests)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': %s has no \"manifests\" list"), layout->image, what);
        return NULL;
    }
    return json_node_get_array(manifests);
}

static const char *
ref_name(JsonNode *descriptor)
{
    JsonObject *object;
    JsonNode *annotations;
    JsonNode *name;

    if (!JSON_NODE_HOLDS_OBJECT(descriptor))
        return NULL;
    object = json_node_get_object(descriptor);
    annotations = json_object_get_member(object, "annotations");
    if (annotations == NULL || !JSON_NODE_HOLDS_OBJECT(annotations))
        return NULL;
    name = json_object_get_member(json_node_get_object(annotations), REF_NAME_ANNOTATION);
    if (name == NULL || json_node_get_value_type(name) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(name);
}

static gboolean
select_by_tag(const PodvmOciLayout *layout, JsonNode *index, PodvmOciDescriptor *out,
              GError **error)
{
    JsonArray *manifests = get_manifests(layout, index, "index.json", error);
    g_autoptr(GString) tags = NULL;
    g_autofree char *quoted = NULL;
    guint n;

    if (manifests == NULL)
        return FALSE;
    n = json_array_get_length(manifests);
    for (guint i = 0; i < n; i++) {
        const char *name = ref_name(json_array_get_element(manifests, i));

        if (g_strcmp0(name, layout->tag) == 0)
            return parse_descriptor(layout, json_array_get_element(manifests, i),
                                    "index.json's manifest", out, error);
    }
    if (n == 1 && ref_name(json_array_get_element(manifests, 0)) == NULL)
        return parse_descriptor(layout, json_array_get_element(manifests, 0),
                                "index.json's manifest", out, error);

    tags = g_string_new(NULL);
    for (guint i = 0; i < n; i++) {
        const char *name = ref_name(json_array_get_element(manifests, i));

        if (name != NULL) {
            g_autofree char *quoted_name = podvm_quote_for_message(name);

            g_string_append_printf(tags, "%s%s", tags->len > 0 ? ", " : "", quoted_name);
        }
    }
    quoted = podvm_quote_for_message(layout->tag);
    if (tags->len == 0)
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("image '%s' has no tag %s; its index names no tags"), layout->image, quoted);
    else
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("image '%s' has no tag %s; available tags: %s"), layout->image, quoted,
                    tags->str);
    return FALSE;
}

const char *
podvm_oci_host_architecture(const char **out_variant)
{
    static const struct {
        const char *machine;
        const char *architecture;
        const char *variant;
    } names[] = {
        { "x86_64", "amd64", NULL },    { "aarch64", "arm64", NULL },
        { "arm64", "arm64", NULL },     { "armv7l", "arm", "v7" },
        { "armv6l", "arm", "v6" },      { "armv5tel", "arm", "v5" },
        { "i386", "386", NULL },        { "i486", "386", NULL },
        { "i586", "386", NULL },        { "i686", "386", NULL },
        { "ppc64le", "ppc64le", NULL }, { "ppc64", "ppc64", NULL },
        { "s390x", "s390x", NULL },     { "riscv64", "riscv64", NULL },
        { "mips64", "mips64", NULL },   { "loongarch64", "loong64", NULL },
    };
    static char machine[65];
    struct utsname uts;

    if (out_variant != NULL)
        *out_variant = NULL;
    if (uname(&uts) != 0)
        return "amd64";
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        if (strcmp(uts.machine, names[i].machine) == 0) {
            if (out_variant != NULL)
                *out_variant = names[i].variant;
            return names[i].architecture;
        }
    }
    /* Unknown: the kernel's name, which is what Go uses for most others. */
    g_strlcpy(machine, uts.machine, sizeof machine);
    return machine;
}

static gboolean
select_platform(const PodvmOciLayout *layout, JsonNode *index, const char *what,
                PodvmOciDescriptor *out, GError **error)
{
    JsonArray *manifests = get_manifests(layout, index, what, error);
    g_autoptr(GString) found = NULL;
    const char *host_variant = NULL;
    const char *host_architecture = podvm_oci_host_architecture(&host_variant);
    guint n;

    if (manifests == NULL)
        return FALSE;
    found = g_string_new(NULL);
    n = json_array_get_length(manifests);
    for (guint i = 0; i < n; i++) {
        JsonNode *node = json_array_get_element(manifests, i);
        JsonObject *platform = NULL;
        const char *os;
        const char *architecture;
        const char *variant;

        if (JSON_NODE_HOLDS_OBJECT(node)) {
            JsonNode *member = json_object_get_member(json_node_get_object(node), "platform");

            if (member != NULL && JSON_NODE_HOLDS_OBJECT(member))
                platform = json_node_get_object(member);
        }
        if (platform == NULL)
            continue;
        os = get_string(platform, "os");
        architecture = get_string(platform, "architecture");
        variant = get_string(platform, "variant");
        if (g_strcmp0(os, "linux") == 0 && g_strcmp0(architecture, host_architecture) == 0 &&
            (strcmp(host_architecture, "arm") != 0 || variant == NULL || host_variant == NULL ||
             strcmp(variant, host_variant) == 0))
            return parse_descriptor(layout, node, what, out, error);
        g_string_append_printf(found, "%s%s/%s", found->len > 0 ? ", " : "", os != NULL ? os : "?",
                               architecture != NULL ? architecture : "?");
    }
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                _("image '%s' has no linux/%s manifest (found: %s)"), layout->image,
                host_architecture, found->len > 0 ? found->str : _("none"));
    return FALSE;
}

static gboolean
is_index_type(const char *media_type)
{
    return g_strcmp0(media_type, MEDIA_OCI_INDEX) == 0 ||
           g_strcmp0(media_type, MEDIA_DOCKER_LIST) == 0;
}

static gboolean
is_manifest_type(const char *media_type)
{
    return g_strcmp0(media_type, MEDIA_OCI_MANIFEST) == 0 ||
           g_strcmp0(media_type, MEDIA_DOCKER_MANIFEST) == 0;
}

/*
 * The descriptor of the blob named by digest: the media type comes from
 * the blob itself (its "mediaType", else the shape: "manifests" makes an
 * index), the size from the file. The blob is read again, verified, below.
 */
static gboolean
describe_digest_blob(PodvmOciLayout *layout, PodvmOciDescriptor *out, GCancellable *cancellable,
                     GError **error)
{
    g_autoptr(JsonNode) blob = NULL;
    PodvmOciDescriptor probe = { 0 };
    g_autofree char *path = NULL;
    JsonObject *object;
    const char *media_type;
    GStatBuf st;

    probe.digest = layout->digest;
    probe.hex = layout->digest + strlen("sha256:");
    path = podvm_oci_layout_blob_path(layout, &probe);
    if (g_lstat(path, &st) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR,
                    saved == ENOENT || saved == ENOTDIR ? PODVM_ERROR_NOT_FOUND : PODVM_ERROR_IO,
                    _("image '%s': the layout '%s' has no blob %s: %s"), layout->image, layout->dir,
                    layout->digest, g_strerror(saved));
        return FALSE;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': blob %s ('%s') is not a regular file"), layout->image,
                    layout->digest, path);
        return FALSE;
    }
    probe.size = (guint64)st.st_size;
    blob = read_json_blob(layout, &probe, cancellable, error);
    if (blob == NULL)
        return FALSE;
    object = json_node_get_object(blob);
    media_type = get_string(object, "mediaType");
    if (media_type == NULL)
        media_type =
            json_object_has_member(object, "manifests") ? MEDIA_OCI_INDEX : MEDIA_OCI_MANIFEST;
    out->media_type = g_strdup(media_type);
    out->digest = g_strdup(layout->digest);
    out->hex = out->digest + strlen("sha256:");
    out->size = probe.size;
    return TRUE;
}

/* Follows the tag or digest (and nested indexes) to the image manifest,
 * read and verified into layout->manifest and layout->manifest_desc. */
static gboolean
resolve_manifest(PodvmOciLayout *layout, GCancellable *cancellable, GError **error)
{
    g_auto(PodvmOciDescriptor) desc = { 0 };

    if (!check_oci_layout(layout, error))
        return FALSE;
    if (layout->digest != NULL) {
        if (!describe_digest_blob(layout, &desc, cancellable, error))
            return FALSE;
    } else {
        g_autofree char *index_data = NULL;
        g_autoptr(JsonNode) index = NULL;
        gsize length = 0;

        index_data = read_layout_file(layout, "index.json", INDEX_MAX_SIZE, &length, error);
        if (index_data == NULL)
            return FALSE;
        index = parse_json(layout, "index.json", index_data, length, error);
        if (index == NULL || !select_by_tag(layout, index, &desc, error))
            return FALSE;
    }

    for (guint depth = 0;; depth++) {
        g_autoptr(JsonNode) blob = NULL;
        g_autofree char *what = NULL;

        if (is_manifest_type(desc.media_type))
            break;
        if (!is_index_type(desc.media_type)) {
            g_autofree char *quoted = podvm_quote_for_message(desc.media_type);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                        _("image '%s': manifest media type %s is not supported"), layout->image,
                        quoted);
            return FALSE;
        }
        if (depth >= MAX_INDEX_DEPTH) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("image '%s': image indexes nest too deeply"), layout->image);
            return FALSE;
        }
        blob = read_json_blob(layout, &desc, cancellable, error);
        if (blob == NULL)
            return FALSE;
        what = g_strdup_printf(_("index %s"), desc.digest);
        podvm_oci_descriptor_clear(&desc);
        if (!select_platform(layout, blob, what, &desc, error))
            return FALSE;
    }

    {
        g_autoptr(JsonNode) manifest = read_json_blob(layout, &desc, cancellable, error);
        const char *inner_type;

        if (manifest == NULL)
            return FALSE;
        /* The manifest's own mediaType, when present, must agree. */
        inner_type = get_string(json_node_get_object(manifest), "mediaType");
        if (inner_type != NULL && !is_manifest_type(inner_type)) {
            g_autofree char *quoted = podvm_quote_for_message(inner_type);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("image '%s': manifest %s says it is a %s"), layout->image, desc.digest,
                        quoted);
            return FALSE;
        }
        layout->manifest_desc = desc;
        memset(&desc, 0, sizeof desc);
        layout->manifest = g_steal_pointer(&manifest);
        return TRUE;
    }
}

/* ------------------------------------------------------------------------ */
/* The reference */

char *
podvm_oci_escape_for_message(const char *image)
{
    g_autofree char *valid = g_utf8_make_valid(image, -1);
    char high[129];

    /* Paths stay as they are (non-ASCII included); only control characters,
     * quotes and invalid UTF-8 change. */
    for (guint i = 0; i < 128; i++)
        high[i] = (char)(0x80 + i);
    high[128] = '\0';
    return g_strescape(valid, high);
}

gboolean
podvm_oci_reference_parse(const char *image, char **out_dir, char **out_tag, char **out_digest,
                          GError **error)
{
    g_autofree char *quoted = podvm_oci_escape_for_message(image);
    g_autofree char *dir = NULL;
    g_autofree char *tag = NULL;
    g_autofree char *digest = NULL;
    const char *rest;
    const char *at;
    const char *colon;

    if (!g_str_has_prefix(image, "oci:")) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("image '%s' is not a reference podvm can use; use oci:DIR:TAG"), quoted);
        return FALSE;
    }
    rest = image + strlen("oci:");
    at = strrchr(rest, '@');
    if (at != NULL && strchr(at + 1, '/') == NULL && strchr(at + 1, ':') != NULL) {
        const char *algorithm_end = strchr(at + 1, ':');

        if (algorithm_end - (at + 1) != 6 || strncmp(at + 1, "sha256", 6) != 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                        _("image '%s': only sha256 digests are supported"), quoted);
            return FALSE;
        }
        if (!is_sha256_hex(algorithm_end + 1)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("image '%s' has an invalid digest; use oci:DIR@sha256:<64 lowercase "
                          "hex digits>"),
                        quoted);
            return FALSE;
        }
        dir = g_strndup(rest, (gsize)(at - rest));
        digest = g_strdup(at + 1);
    } else {
        colon = strrchr(rest, ':');
        if (colon != NULL && strchr(colon + 1, '/') == NULL) {
            dir = g_strndup(rest, (gsize)(colon - rest));
            tag = g_strdup(colon + 1);
        } else {
            dir = g_strdup(rest);
            tag = g_strdup("latest");
        }
        if (tag[0] == '\0') {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("image '%s' has an empty tag; use oci:DIR:TAG"), quoted);
            return FALSE;
        }
    }
    if (!g_path_is_absolute(dir)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("image '%s': the OCI layout directory must be an absolute path"), quoted);
        return FALSE;
    }
    if (out_dir != NULL)
        *out_dir = g_steal_pointer(&dir);
    if (out_tag != NULL)
        *out_tag = g_steal_pointer(&tag);
    if (out_digest != NULL)
        *out_digest = g_steal_pointer(&digest);
    return TRUE;
}

PodvmOciLayout *
podvm_oci_layout_open(const char *image, GCancellable *cancellable, GError **error)
{
    g_autoptr(PodvmOciLayout) layout = g_new0(PodvmOciLayout, 1);

    g_return_val_if_fail(image != NULL, NULL);
    layout->image = podvm_oci_escape_for_message(image);
    if (!podvm_oci_reference_parse(image, &layout->dir, &layout->tag, &layout->digest, error) ||
        !resolve_manifest(layout, cancellable, error))
        return NULL;
    return g_steal_pointer(&layout);
}

JsonNode *
podvm_oci_layout_read_config(PodvmOciLayout *layout, GCancellable *cancellable, GError **error)
{
    g_auto(PodvmOciDescriptor) desc = { 0 };
    JsonNode *member = json_object_get_member(json_node_get_object(layout->manifest), "config");

    if (member == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': the manifest has no config"), layout->image);
        return NULL;
    }
    if (!parse_descriptor(layout, member, _("the manifest's config"), &desc, error))
        return NULL;
    return read_json_blob(layout, &desc, cancellable, error);
}

static gboolean
in_list(const char *value, const char *const *list, gsize n)
{
    for (gsize i = 0; i < n; i++) {
        if (g_strcmp0(value, list[i]) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
layer_free(PodvmOciLayer *layer)
{
    podvm_oci_descriptor_clear(&layer->desc);
    g_free(layer);
}

GPtrArray *
podvm_oci_layout_get_layers(PodvmOciLayout *layout, GError **error)
{
    g_autoptr(GPtrArray) layers = g_ptr_array_new_with_free_func((GDestroyNotify)layer_free);
    JsonNode *member = json_object_get_member(json_node_get_object(layout->manifest), "layers");
    JsonArray *array;

    if (member == NULL || !JSON_NODE_HOLDS_ARRAY(member) ||
        json_array_get_length(json_node_get_array(member)) == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': the manifest lists no layers"), layout->image);
        return NULL;
    }
    array = json_node_get_array(member);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *what = g_strdup_printf(_("layer %u"), i);
        PodvmOciLayer *layer = g_new0(PodvmOciLayer, 1);

        g_ptr_array_add(layers, layer);
        if (!parse_descriptor(layout, json_array_get_element(array, i), what, &layer->desc, error))
            return NULL;
        if (in_list(layer->desc.media_type, gzip_layer_types, G_N_ELEMENTS(gzip_layer_types))) {
            layer->compression = PODVM_OCI_COMPRESSION_GZIP;
        } else if (in_list(layer->desc.media_type, zstd_layer_types,
                           G_N_ELEMENTS(zstd_layer_types))) {
            layer->compression = PODVM_OCI_COMPRESSION_ZSTD;
        } else if (in_list(layer->desc.media_type, tar_layer_types,
                           G_N_ELEMENTS(tar_layer_types))) {
            layer->compression = PODVM_OCI_COMPRESSION_NONE;
        } else {
            g_autofree char *quoted = podvm_quote_for_message(layer->desc.media_type);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                        _("image '%s': layer media type %s is not supported (tar, tar+gzip and "
                          "tar+zstd are)"),
                        layout->image, quoted);
            return NULL;
        }
    }
    return g_steal_pointer(&layers);
}
