/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-container-disk.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-oci-layout.h"

/*
 * The image is read with podvm-oci-layout ("oci:DIR[:TAG]" or
 * "oci:DIR@sha256:HEX"). Layout of the cache:
 *
 *   CACHE_DIR/sha256-<manifest hex>/disk.<format>
 *                   the disk found under /disk/ (no @path_in_image);
 *   CACHE_DIR/sha256-<manifest hex>/disk-<hash of the path>.<format>
 *                   an explicitly named file, so two files of one image
 *                   never share a cache name.
 */

/* Runs of zeros this long are left as holes, so empty disks stay sparse. */
#define HOLE_CHUNK 4096
#define STALE_TEMPORARY_SECONDS 3600
/* Limits for qemu-img probing an untrusted image, as OpenStack uses. */
#define QEMU_IMG_MAX_ADDRESS_SPACE (1024ULL * 1024 * 1024)
#define QEMU_IMG_MAX_CPU_SECONDS 30

typedef struct archive Archive;
static void
archive_free_read(Archive *a)
{
    archive_read_free(a);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Archive, archive_free_read)

/* ------------------------------------------------------------------------ */
/* Jobs and descriptors */

typedef struct {
    char *image;         /* as given (control characters escaped), for messages */
    char *reference;     /* as given */
    char *path_in_image; /* normalised, or NULL for "the file under disk/" */
    char *cache_dir;
    char *qemu_img;
} UnpackJob;

static void
unpack_job_free(UnpackJob *job)
{
    g_free(job->image);
    g_free(job->reference);
    g_free(job->path_in_image);
    g_free(job->cache_dir);
    g_free(job->qemu_img);
    g_free(job);
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

/* ------------------------------------------------------------------------ */
/* Paths inside layers */

/*
 * "/disk/a.img", "./disk//a.img" -> "disk/a.img". NULL for names with a
 * ".." component: they could only matter to an extractor writing by name,
 * which we are not, but such an entry never names the disk either.
 */
static char *
normalize_path(const char *name)
{
    g_auto(GStrv) parts = g_strsplit(name, "/", -1);
    g_autoptr(GPtrArray) kept = g_ptr_array_new();

    for (guint i = 0; parts[i] != NULL; i++) {
        if (parts[i][0] == '\0' || strcmp(parts[i], ".") == 0)
            continue;
        if (strcmp(parts[i], "..") == 0)
            return NULL;
        g_ptr_array_add(kept, parts[i]);
    }
    g_ptr_array_add(kept, NULL);
    return g_strjoinv("/", (char **)kept->pdata);
}

static gboolean
path_is_under(const char *path, const char *dir)
{
    gsize len = strlen(dir);

    if (len == 0)
        return TRUE;
    return strncmp(path, dir, len) == 0 && path[len] == '/';
}

/* ------------------------------------------------------------------------ */
/* Unpacking */

typedef struct {
    char *tmp_path; /* unlinked when the candidate is dropped */
    guint layer;
} Candidate;

static void
candidate_free(Candidate *candidate)
{
    if (candidate->tmp_path != NULL)
        g_unlink(candidate->tmp_path);
    g_free(candidate->tmp_path);
    g_free(candidate);
}

typedef struct {
    const UnpackJob *job;
    PodvmOciLayout *layout;
    const char *entry_dir; /* CACHE_DIR/sha256-HEX */
    GCancellable *cancellable;
    /* Normalised path -> Candidate: the files that could be the disk, as
     * the layers seen so far leave them. */
    GHashTable *candidates;
} Unpack;

static gboolean
wants(const Unpack *unpack, const char *path)
{
    if (unpack->job->path_in_image != NULL)
        return strcmp(path, unpack->job->path_in_image) == 0;
    return path_is_under(path, "disk");
}

/* Drops candidates at or below @path from layers before @layer. */
static void
drop_lower(Unpack *unpack, const char *path, guint layer, gboolean only_below)
{
    GHashTableIter iter;
    const char *key;
    Candidate *candidate;

    g_hash_table_iter_init(&iter, unpack->candidates);
    while (g_hash_table_iter_next(&iter, (gpointer *)&key, (gpointer *)&candidate)) {
        if (candidate->layer >= layer)
            continue;
        if ((!only_below && strcmp(key, path) == 0) || path_is_under(key, path))
            g_hash_table_iter_remove(&iter);
    }
}

static gboolean
is_zero(const guchar *data, gsize length)
{
    return length > 0 && data[0] == 0 && memcmp(data, data + 1, length - 1) == 0;
}

static gboolean
write_at(int fd, const guchar *data, gsize length, gint64 offset)
{
    while (length > 0) {
        ssize_t n = pwrite(fd, data, length, (off_t)offset);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return FALSE;
        data += n;
        length -= (gsize)n;
        offset += n;
    }
    return TRUE;
}

/* Copies the current entry's data into a new temporary file. */
static char *
extract_entry(Unpack *unpack, Archive *a, struct archive_entry *entry, const char *path,
              const PodvmOciLayer *layer, GError **error)
{
    g_autofree char *tmp_path = g_build_filename(unpack->entry_dir, ".disk.tmp-XXXXXX", NULL);
    int fd = g_mkstemp_full(tmp_path, O_RDWR | O_CLOEXEC, 0600);
    const void *block;
    size_t size;
    la_int64_t offset;
    gint64 end = 0;
    int saved = 0;
    int ret;

    if (fd < 0) {
        saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create a file in '%s': %s"),
                    unpack->entry_dir, g_strerror(saved));
        return NULL;
    }
    while ((ret = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
        for (gsize done = 0; done < size; done += HOLE_CHUNK) {
            gsize chunk = MIN((gsize)HOLE_CHUNK, size - done);
            const guchar *data = (const guchar *)block + done;

            if (is_zero(data, chunk))
                continue;
            if (!write_at(fd, data, chunk, offset + (gint64)done)) {
                saved = errno;
                break;
            }
        }
        if (saved != 0)
            break;
        end = MAX(end, offset + (gint64)size);
    }
    if (saved == 0 && ret != ARCHIVE_EOF && ret != ARCHIVE_OK) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': cannot read '%s' from layer %s: %s"), unpack->job->image, path,
                    layer->desc.digest, archive_error_string(a));
        close(fd);
        g_unlink(tmp_path);
        return NULL;
    }
    /* Zeros at the end were skipped too: the length comes from here. */
    if (archive_entry_size_is_set(entry))
        end = MAX(end, archive_entry_size(entry));
    if (saved == 0 && ftruncate(fd, (off_t)end) != 0)
        saved = errno;
    if (close(fd) != 0 && saved == 0)
        saved = errno;
    if (saved != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"), tmp_path,
                    g_strerror(saved));
        g_unlink(tmp_path);
        return NULL;
    }
    return g_steal_pointer(&tmp_path);
}

static la_ssize_t
layer_read_cb(struct archive *a, void *client_data, const void **buffer)
{
    PodvmOciBlobReader *reader = client_data;
    gssize n = podvm_oci_blob_reader_read(reader, buffer, NULL);

    if (n < 0) {
        archive_set_error(a, podvm_oci_blob_reader_was_cancelled(reader) ? ECANCELED : EIO, "%s",
                          podvm_oci_blob_reader_get_error_message(reader));
        return -1;
    }
    return n;
}

static gboolean
unpack_entries(Unpack *unpack, Archive *a, guint layer_index, const PodvmOciLayer *layer,
               GError **error)
{
    struct archive_entry *entry;
    int ret;

    while ((ret = archive_read_next_header(a, &entry)) == ARCHIVE_OK || ret == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(entry);
        g_autofree char *path = name != NULL ? normalize_path(name) : NULL;
        g_autofree char *dir = NULL;
        g_autofree char *base = NULL;
        char *tmp_path;
        Candidate *candidate;

        if (path == NULL || path[0] == '\0') {
            g_debug("image '%s': skipping layer entry %s", unpack->job->image,
                    name != NULL ? name : "(unnamed)");
            continue;
        }
        dir = g_path_get_dirname(path);
        if (strcmp(dir, ".") == 0) {
            g_free(dir);
            dir = g_strdup("");
        }
        base = g_path_get_basename(path);

        /* Whiteouts hide lower layers only, not the layer they are in. */
        if (g_str_has_prefix(base, ".wh.")) {
            if (strcmp(base, ".wh..wh..opq") == 0) {
                drop_lower(unpack, dir, layer_index, TRUE);
            } else {
                g_autofree char *hidden =
                    dir[0] != '\0' ? g_strdup_printf("%s/%s", dir, base + 4) : g_strdup(base + 4);

                drop_lower(unpack, hidden, layer_index, FALSE);
            }
            continue;
        }

        /* Whatever this entry is, it replaces what lower layers had here;
         * and a non-directory also replaces anything below it. */
        g_hash_table_remove(unpack->candidates, path);
        if (archive_entry_filetype(entry) != AE_IFDIR)
            drop_lower(unpack, path, layer_index + 1, TRUE);

        if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_hardlink(entry) != NULL ||
            !wants(unpack, path))
            continue;

        tmp_path = extract_entry(unpack, a, entry, path, layer, error);
        if (tmp_path == NULL)
            return FALSE;
        candidate = g_new0(Candidate, 1);
        candidate->tmp_path = tmp_path;
        candidate->layer = layer_index;
        g_hash_table_insert(unpack->candidates, g_steal_pointer(&path), candidate);
    }
    if (ret != ARCHIVE_EOF) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': cannot read layer %s: %s"), unpack->job->image,
                    layer->desc.digest, archive_error_string(a));
        return FALSE;
    }
    return TRUE;
}

static gboolean
unpack_layer(Unpack *unpack, guint layer_index, const PodvmOciLayer *layer, GError **error)
{
    g_autoptr(PodvmOciBlobReader) reader = NULL;
    g_autoptr(Archive) a = archive_read_new();
    g_autoptr(GError) unpack_error = NULL;
    g_autoptr(GError) verify_error = NULL;
    gboolean unpacked;

    reader = podvm_oci_layout_open_blob(unpack->layout, &layer->desc, unpack->cancellable, error);
    if (reader == NULL)
        return FALSE;

    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_filter_none(a);
    /* ARCHIVE_WARN would mean an external program: we want none. */
    if (layer->compression == PODVM_OCI_COMPRESSION_GZIP &&
        archive_read_support_filter_gzip(a) != ARCHIVE_OK) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("this libarchive cannot read gzip layers by itself"));
        return FALSE;
    }
    if (layer->compression == PODVM_OCI_COMPRESSION_ZSTD &&
        archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("this libarchive cannot read zstd layers by itself"));
        return FALSE;
    }
    /* No skip callback: every byte goes through the reader and its hash. */
    if (archive_read_open(a, reader, NULL, layer_read_cb, NULL) != ARCHIVE_OK) {
        g_set_error(&unpack_error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': cannot read layer %s: %s"), unpack->job->image,
                    layer->desc.digest, archive_error_string(a));
        unpacked = FALSE;
    } else {
        unpacked = unpack_entries(unpack, a, layer_index, layer, &unpack_error);
    }

    if (podvm_oci_blob_reader_was_cancelled(reader))
        return podvm_oci_blob_reader_verify(reader, error);
    /* Our own write failures (disk full) are not the image's fault. */
    if (!unpacked && g_error_matches(unpack_error, PODVM_ERROR, PODVM_ERROR_IO)) {
        g_propagate_error(error, g_steal_pointer(&unpack_error));
        return FALSE;
    }
    /* A corrupt layer usually also breaks the tar or gzip stream; the
     * digest is the clearer report, so it comes first. */
    if (!podvm_oci_blob_reader_verify(reader, &verify_error)) {
        g_propagate_error(error, g_steal_pointer(&verify_error));
        return FALSE;
    }
    if (!unpacked) {
        g_propagate_error(error, g_steal_pointer(&unpack_error));
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Probing the result */

static void
limit_resources(gpointer user_data)
{
    struct rlimit as = { QEMU_IMG_MAX_ADDRESS_SPACE, QEMU_IMG_MAX_ADDRESS_SPACE };
    struct rlimit cpu = { QEMU_IMG_MAX_CPU_SECONDS, QEMU_IMG_MAX_CPU_SECONDS };

    (void)user_data;
    setrlimit(RLIMIT_AS, &as);
    setrlimit(RLIMIT_CPU, &cpu);
}

typedef struct {
    char *format;
    guint64 virtual_size;
} ProbeResult;

static gboolean
probe_image(const UnpackJob *job, const char *path, const char *path_in_image, ProbeResult *out,
            GCancellable *cancellable, GError **error)
{
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) process = NULL;
    g_autoptr(GBytes) out_bytes = NULL;
    g_autoptr(GBytes) err_bytes = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *binary = NULL;
    const char *name = job->qemu_img != NULL ? job->qemu_img : "qemu-img";
    const char *env[] = { "LC_ALL=C", NULL };
    JsonObject *info;
    JsonNode *node;
    const char *format;
    gint64 virtual_size;

    /* The child gets a clean environment, so resolve the name here. */
    binary = g_path_is_absolute(name) ? g_strdup(name) : g_find_program_in_path(name);
    if (binary == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("cannot check the disk of image '%s': '%s' not found"), job->image, name);
        return FALSE;
    }

    launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_subprocess_launcher_set_environ(launcher, (char **)env);
    g_subprocess_launcher_set_child_setup(launcher, limit_resources, NULL, NULL);
    /* No -f: this is where an untrusted image gets its format determined,
     * under resource limits; everything later passes the format. */
    process =
        g_subprocess_launcher_spawn(launcher, &local, binary, "info", "--output=json", path, NULL);
    if (process == NULL ||
        !g_subprocess_communicate(process, NULL, cancellable, &out_bytes, &err_bytes, &local)) {
        g_set_error(error, PODVM_ERROR,
                    g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? PODVM_ERROR_CANCELLED
                                                                             : PODVM_ERROR_FAILED,
                    _("cannot check the disk of image '%s': %s"), job->image, local->message);
        return FALSE;
    }
    if (!g_subprocess_get_successful(process)) {
        g_autofree char *text =
            g_strndup(g_bytes_get_data(err_bytes, NULL), g_bytes_get_size(err_bytes));
        g_auto(GStrv) lines = g_strsplit(g_strstrip(text), "\n", -1);
        guint n_lines = g_strv_length(lines);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': qemu-img cannot read its disk '%s': %s"), job->image,
                    path_in_image, n_lines > 0 ? g_strstrip(lines[n_lines - 1]) : "");
        return FALSE;
    }
    root = podvm_json_parse_limited(g_bytes_get_data(out_bytes, NULL), g_bytes_get_size(out_bytes),
                                    G_MAXSIZE, PODVM_JSON_MAX_DEPTH, &local);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("cannot check the disk of image '%s': qemu-img gave no JSON object"),
                    job->image);
        return FALSE;
    }
    info = json_node_get_object(root);
    format = get_string(info, "format");
    node = json_object_get_member(info, "virtual-size");
    virtual_size = node != NULL && json_node_get_value_type(node) == G_TYPE_INT64
                       ? json_node_get_int(node)
                       : -1;

    if (g_strcmp0(format, "raw") != 0 && g_strcmp0(format, "qcow2") != 0) {
        g_autofree char *quoted = podvm_quote_for_message(format != NULL ? format : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("image '%s': disk '%s' is in format %s; only raw and qcow2 are supported"),
                    job->image, path_in_image, quoted);
        return FALSE;
    }
    /* A backing or data file would make QEMU open a host path the image
     * chose. */
    node = json_object_get_member(info, "format-specific");
    if (json_object_has_member(info, "backing-filename") ||
        json_object_has_member(info, "full-backing-filename") ||
        (node != NULL && JSON_NODE_HOLDS_OBJECT(node) &&
         json_object_has_member(json_node_get_object(node), "data") &&
         JSON_NODE_HOLDS_OBJECT(json_object_get_member(json_node_get_object(node), "data")) &&
         json_object_has_member(json_object_get_object_member(json_node_get_object(node), "data"),
                                "data-file"))) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("image '%s': disk '%s' refers to a backing or data file; a containerDisk "
                      "must be self-contained"),
                    job->image, path_in_image);
        return FALSE;
    }
    if (virtual_size < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("cannot check the disk of image '%s': qemu-img reported no size"),
                    job->image);
        return FALSE;
    }
    out->format = g_strdup(format);
    out->virtual_size = (guint64)virtual_size;
    return TRUE;
}

/* The size of an image this code vetted and cached before. */
static gboolean
cached_virtual_size(const char *path, const char *format, const GStatBuf *st, guint64 *out_size)
{
    guchar header[32];
    gssize n;
    int fd;

    if (strcmp(format, "raw") == 0) {
        *out_size = (guint64)st->st_size;
        return TRUE;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return FALSE;
    n = pread(fd, header, sizeof header, 0);
    close(fd);
    /* qcow2 header: magic "QFI\xfb", ..., size (big endian) at byte 24. */
    if (n != (gssize)sizeof header || memcmp(header, "QFI\xfb", 4) != 0)
        return FALSE;
    *out_size = 0;
    for (guint i = 24; i < 32; i++)
        *out_size = (*out_size << 8) | header[i];
    return TRUE;
}

static PodvmContainerDisk *
lookup_cache(const char *entry_dir, const char *stem, const PodvmOciDescriptor *manifest)
{
    static const char *const formats[] = { "raw", "qcow2" };

    for (guint i = 0; i < G_N_ELEMENTS(formats); i++) {
        g_autofree char *name = g_strdup_printf("%s.%s", stem, formats[i]);
        g_autofree char *path = g_build_filename(entry_dir, name, NULL);
        PodvmContainerDisk *disk;
        GStatBuf st;
        guint64 size = 0;

        if (g_lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (!cached_virtual_size(path, formats[i], &st, &size)) {
            g_message("ignoring unreadable cached disk '%s'", path);
            continue;
        }
        disk = g_new0(PodvmContainerDisk, 1);
        disk->path = g_steal_pointer(&path);
        disk->format = g_strdup(formats[i]);
        disk->virtual_size = size;
        disk->digest = g_strdup(manifest->digest);
        return disk;
    }
    return NULL;
}

static gboolean
sync_path(const char *path, int flags, GError **error)
{
    int fd = open(path, flags | O_RDONLY | O_CLOEXEC);
    int saved;

    if (fd >= 0 && fsync(fd) == 0) {
        close(fd);
        return TRUE;
    }
    saved = errno;
    if (fd >= 0)
        close(fd);
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot sync '%s': %s"), path,
                g_strerror(saved));
    return FALSE;
}

/* Temporary files of an unpack that crashed. A live unpack keeps writing
 * its files, and probes a finished one for seconds, not an hour. */
static void
remove_stale_temporaries(const char *entry_dir)
{
    g_autoptr(GDir) dir = g_dir_open(entry_dir, 0, NULL);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = NULL;
        GStatBuf st;

        if (!g_str_has_prefix(name, ".disk.tmp-"))
            continue;
        path = g_build_filename(entry_dir, name, NULL);
        if (g_lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_mtime < now - STALE_TEMPORARY_SECONDS) {
            g_debug("removing stale temporary file '%s'", path);
            g_unlink(path);
        }
    }
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static PodvmContainerDisk *
unpack(const UnpackJob *job, GCancellable *cancellable, GError **error)
{
    g_autoptr(PodvmOciLayout) layout = NULL;
    const PodvmOciDescriptor *manifest_desc;
    g_autoptr(GPtrArray) layers = NULL;
    g_autoptr(GHashTable) candidates = NULL;
    g_autofree char *entry_name = NULL;
    g_autofree char *entry_dir = NULL;
    g_autofree char *stem = NULL;
    g_autofree char *final_name = NULL;
    g_autofree char *final_path = NULL;
    const char *shown;
    Candidate *chosen = NULL;
    ProbeResult probe = { 0 };
    PodvmContainerDisk *disk;
    Unpack state;

    layout = podvm_oci_layout_open(job->reference, cancellable, error);
    if (layout == NULL)
        return NULL;
    manifest_desc = &layout->manifest_desc;

    entry_name = g_strdup_printf("sha256-%s", manifest_desc->hex);
    entry_dir = g_build_filename(job->cache_dir, entry_name, NULL);
    if (job->path_in_image == NULL) {
        stem = g_strdup("disk");
    } else {
        g_autofree char *hash =
            g_compute_checksum_for_string(G_CHECKSUM_SHA256, job->path_in_image, -1);

        stem = g_strdup_printf("disk-%.16s", hash);
    }

    disk = lookup_cache(entry_dir, stem, manifest_desc);
    if (disk != NULL) {
        g_debug("image '%s': cached disk '%s'", job->image, disk->path);
        return disk;
    }

    layers = podvm_oci_layout_get_layers(layout, error);
    if (layers == NULL)
        return NULL;
    if (g_mkdir_with_parents(entry_dir, 0700) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"), entry_dir,
                    g_strerror(saved));
        return NULL;
    }

    remove_stale_temporaries(entry_dir);

    /* Every temporary file is removed with the table unless renamed. */
    candidates =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)candidate_free);
    state.job = job;
    state.layout = layout;
    state.entry_dir = entry_dir;
    state.cancellable = cancellable;
    state.candidates = candidates;
    for (guint i = 0; i < layers->len; i++) {
        if (!unpack_layer(&state, i, g_ptr_array_index(layers, i), error))
            return NULL;
    }

    if (job->path_in_image != NULL) {
        chosen = g_hash_table_lookup(candidates, job->path_in_image);
        shown = job->path_in_image;
        if (chosen == NULL) {
            g_autofree char *quoted = podvm_quote_for_message(job->path_in_image);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                        _("image '%s' has no regular file %s"), job->image, quoted);
            return NULL;
        }
    } else {
        g_autofree const char **names =
            (const char **)g_hash_table_get_keys_as_array(candidates, NULL);
        guint n = g_hash_table_size(candidates);

        if (n == 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                        _("image '%s' has no disk image under /disk/"), job->image);
            return NULL;
        }
        if (n > 1) {
            g_autofree char *list = NULL;

            qsort(names, n, sizeof *names, compare_strings);
            list = g_strjoinv(", ", (char **)names);
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("image '%s' has several files under /disk/ (%s); name one with the "
                          "volume's path"),
                        job->image, list);
            return NULL;
        }
        shown = names[0];
        chosen = g_hash_table_lookup(candidates, names[0]);
    }

    if (!sync_path(chosen->tmp_path, 0, error) ||
        !probe_image(job, chosen->tmp_path, shown, &probe, cancellable, error))
        return NULL;

    final_name = g_strdup_printf("%s.%s", stem, probe.format);
    final_path = g_build_filename(entry_dir, final_name, NULL);
    /* Shared by every pod using the image: nobody writes to it. */
    if (g_chmod(chosen->tmp_path, 0400) != 0 || g_rename(chosen->tmp_path, final_path) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"), final_path,
                    g_strerror(saved));
        g_free(probe.format);
        return NULL;
    }
    g_clear_pointer(&chosen->tmp_path, g_free);
    g_hash_table_remove_all(candidates);
    if (!sync_path(entry_dir, O_DIRECTORY, error)) {
        g_free(probe.format);
        return NULL;
    }

    disk = g_new0(PodvmContainerDisk, 1);
    disk->path = g_steal_pointer(&final_path);
    disk->format = probe.format;
    disk->virtual_size = probe.virtual_size;
    disk->digest = g_strdup(manifest_desc->digest);
    return disk;
}

static void
unpack_thread(GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
    const UnpackJob *job = task_data;
    g_autoptr(GError) error = NULL;
    PodvmContainerDisk *disk;

    (void)source_object;
    disk = unpack(job, cancellable, &error);
    if (disk == NULL)
        g_task_return_error(task, g_steal_pointer(&error));
    else
        g_task_return_pointer(task, disk, (GDestroyNotify)podvm_container_disk_free);
}

void
podvm_container_disk_unpack_async(const char *image, const char *path_in_image,
                                  const char *cache_dir, const char *qemu_img,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    UnpackJob *job;

    g_return_if_fail(image != NULL);
    g_return_if_fail(cache_dir != NULL);

    task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_container_disk_unpack_async);
    job = g_new0(UnpackJob, 1);
    g_task_set_task_data(task, job, (GDestroyNotify)unpack_job_free);

    job->image = podvm_oci_escape_for_message(image);
    job->reference = g_strdup(image);
    job->cache_dir = g_strdup(cache_dir);
    job->qemu_img = g_strdup(qemu_img);
    /* Registry images reach this reader through the image store (storage pulls them first). */
    if (g_str_has_prefix(image, "docker://")) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                _("image '%s' is in a registry: it is read once pulled into the "
                                  "image store (oci:DIR@sha256:HEX); here use oci:DIR:TAG"),
                                job->image);
        return;
    }
    /* Refused references fail at once, without a thread. */
    if (!podvm_oci_reference_parse(image, NULL, NULL, NULL, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (path_in_image != NULL) {
        g_autofree char *quoted = podvm_quote_for_message(path_in_image);

        job->path_in_image = normalize_path(path_in_image);
        if (job->path_in_image == NULL || job->path_in_image[0] == '\0') {
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                    _("path %s in image '%s' is not a file path inside the image"),
                                    quoted, job->image);
            return;
        }
    }
    g_task_run_in_thread(task, unpack_thread);
}

PodvmContainerDisk *
podvm_container_disk_unpack_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_async_result_is_tagged(result, podvm_container_disk_unpack_async), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
