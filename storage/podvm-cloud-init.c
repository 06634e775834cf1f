/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-cloud-init.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

/* libisofs.h needs the fixed-width types first; and we read libisofs's own
 * burn_source without linking libburn. */
#include <stdint.h>
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "podvm-error.h"
#include "podvm-json.h"

#define ISO_BLOCK_SIZE 2048
/* Output is read block by block (the ring buffer needs whole blocks) but
 * written to the file in larger chunks. */
#define WRITE_CHUNK_BLOCKS 32
#define FILE_MODE 0444
#define DIR_MODE 0555

G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoImage, iso_image_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoWriteOpts, iso_write_opts_free)

typedef struct {
    PodvmCloudInitFlavor flavor;
    char *instance_id;
    char *hostname;
    char *user_data;
    char *meta_data;
    char *network_data;
    char *path;
} WriteJob;

static void
write_job_free(WriteJob *job)
{
    g_free(job->instance_id);
    g_free(job->hostname);
    g_free(job->user_data);
    g_free(job->meta_data);
    g_free(job->network_data);
    g_free(job->path);
    g_free(job);
}

/*
 * libisofs keeps process-wide state (its message queue, registered xinfo
 * cloners) set up by iso_init(); iso_finish() would tear it down under any
 * other thread still writing, so we initialise once and never finish.
 * Bit 0: do not call setlocale() from a worker thread; names are ASCII and
 * contents are bytes, so the charset is simply UTF-8.
 */
static gpointer
init_libisofs(gpointer data)
{
    int ret = iso_init_with_flag(1);

    (void)data;
    if (ret < 0)
        return GINT_TO_POINTER(ret);
    iso_set_local_charset((char *)"UTF-8", 0);
    return GINT_TO_POINTER(1);
}

static gboolean
ensure_libisofs(GError **error)
{
    static GOnce once = G_ONCE_INIT;
    int ret = GPOINTER_TO_INT(g_once(&once, init_libisofs, NULL));

    if (ret < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot initialise libisofs: %s"),
                    iso_error_to_msg(ret));
        return FALSE;
    }
    return TRUE;
}

static gboolean
iso_check(int ret, const char *what, GError **error)
{
    if (ret >= 0)
        return TRUE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot build the cloud-init image (%s): %s"),
                what, iso_error_to_msg(ret));
    return FALSE;
}

/* The default NoCloud meta-data and meta_data.json put these values into
 * YAML and JSON; they are a UID and a host name, so anything else is a bug
 * of the caller rather than something to escape. */
static gboolean
is_plain_identifier(const char *text)
{
    if (text == NULL || *text == '\0' || strlen(text) > 253)
        return FALSE;
    for (const char *p = text; *p != '\0'; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_')
            return FALSE;
    }
    return TRUE;
}

static gboolean
add_dir(IsoImage *image, IsoDir *parent, const char *name, IsoDir **out_dir, GError **error)
{
    IsoDir *dir = NULL;

    if (!iso_check(iso_image_add_new_dir(image, parent, name, &dir), name, error))
        return FALSE;
    iso_node_set_permissions((IsoNode *)dir, DIR_MODE);
    *out_dir = dir;
    return TRUE;
}

static gboolean
add_file(IsoImage *image, IsoDir *parent, const char *name, const char *content, GError **error)
{
    size_t size = content != NULL ? strlen(content) : 0;
    /* The stream owns the buffer and releases it with free(); one byte at
     * least, as malloc(0) may return NULL, which libisofs refuses. */
    unsigned char *buf = malloc(MAX(size, 1));
    IsoStream *stream = NULL;
    IsoFile *file = NULL;

    if (buf == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot build the cloud-init image (%s): out of memory"), name);
        return FALSE;
    }
    if (size > 0)
        memcpy(buf, content, size);
    if (!iso_check(iso_memory_stream_new(buf, size, &stream), name, error)) {
        free(buf);
        return FALSE;
    }
    /* The new file takes our reference to the stream, but only on success. */
    if (!iso_check(iso_image_add_new_file(image, parent, name, stream, &file), name, error)) {
        iso_stream_unref(stream);
        return FALSE;
    }
    iso_node_set_permissions((IsoNode *)file, FILE_MODE);
    return TRUE;
}

static char *
config_drive_meta_data(const WriteJob *job)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "uuid");
    json_builder_add_string_value(builder, job->instance_id);
    json_builder_set_member_name(builder, "hostname");
    json_builder_add_string_value(builder, job->hostname);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, job->hostname);
    json_builder_set_member_name(builder, "launch_index");
    json_builder_add_int_value(builder, 0);
    json_builder_set_member_name(builder, "availability_zone");
    json_builder_add_string_value(builder, "");
    json_builder_set_member_name(builder, "files");
    json_builder_begin_array(builder);
    json_builder_end_array(builder);
    json_builder_set_member_name(builder, "devices");
    json_builder_begin_array(builder);
    json_builder_end_array(builder);
    json_builder_set_member_name(builder, "public_keys");
    json_builder_begin_object(builder);
    json_builder_end_object(builder);
    json_builder_end_object(builder);

    root = json_builder_get_root(builder);
    return podvm_json_to_string(root, TRUE);
}

static gboolean
build_tree(IsoImage *image, const WriteJob *job, GError **error)
{
    IsoDir *root = iso_image_get_root(image);

    iso_node_set_permissions((IsoNode *)root, DIR_MODE);

    if (job->flavor == PODVM_CLOUD_INIT_NOCLOUD) {
        g_autofree char *default_meta_data = NULL;
        const char *meta_data = job->meta_data;

        if (meta_data == NULL) {
            default_meta_data = g_strdup_printf("instance-id: %s\nlocal-hostname: %s\n",
                                                job->instance_id, job->hostname);
            meta_data = default_meta_data;
        }
        if (!add_file(image, root, "user-data", job->user_data, error) ||
            !add_file(image, root, "meta-data", meta_data, error))
            return FALSE;
        if (job->network_data != NULL &&
            !add_file(image, root, "network-config", job->network_data, error))
            return FALSE;
    } else {
        g_autofree char *meta_data = config_drive_meta_data(job);
        IsoDir *openstack = NULL;
        IsoDir *latest = NULL;

        if (!add_dir(image, root, "openstack", &openstack, error) ||
            !add_dir(image, openstack, "latest", &latest, error))
            return FALSE;
        if (job->user_data != NULL && !add_file(image, latest, "user_data", job->user_data, error))
            return FALSE;
        if (!add_file(image, latest, "meta_data.json", meta_data, error))
            return FALSE;
        if (job->network_data != NULL &&
            !add_file(image, latest, "network_data.json", job->network_data, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
write_all(int fd, const unsigned char *buf, gsize len, const char *path, GError **error)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"), path,
                        g_strerror(saved));
            return FALSE;
        }
        buf += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Pulls the image out of libisofs's writer thread into @fd. */
static gboolean
stream_image(struct burn_source *source, int fd, const char *path, GCancellable *cancellable,
             GError **error)
{
    g_autofree unsigned char *chunk = g_malloc(ISO_BLOCK_SIZE * WRITE_CHUNK_BLOCKS);
    gsize filled = 0;
    off_t expected = source->get_size(source);
    off_t written = 0;
    size_t ring_size = 0;
    size_t ring_free = 0;
    int status;

    for (;;) {
        int n;

        if (g_cancellable_set_error_if_cancelled(cancellable, error))
            return FALSE;
        n = source->read_xt(source, chunk + filled, ISO_BLOCK_SIZE);
        if (n < 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                        _("libisofs failed while generating the cloud-init image '%s'"), path);
            return FALSE;
        }
        filled += (gsize)n;
        if (filled > 0 && (n == 0 || filled == ISO_BLOCK_SIZE * WRITE_CHUNK_BLOCKS)) {
            if (!write_all(fd, chunk, filled, path, error))
                return FALSE;
            written += (off_t)filled;
            filled = 0;
        }
        if (n == 0)
            break;
    }

    /* The ring buffer reports EOF also when the writer thread gave up. */
    status = iso_ring_buffer_get_status(source, &ring_size, &ring_free);
    if (status == 3 || status == 7 || (expected > 0 && written != expected)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("libisofs failed while generating the cloud-init image '%s'"), path);
        return FALSE;
    }
    return TRUE;
}

static gboolean
fsync_directory(const char *dir, GError **error)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int saved;

    if (fd < 0 || fsync(fd) != 0) {
        saved = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot sync directory '%s': %s"), dir,
                    g_strerror(saved));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

static gboolean
write_iso(const WriteJob *job, GCancellable *cancellable, GError **error)
{
    g_autoptr(IsoImage) image = NULL;
    g_autoptr(IsoWriteOpts) opts = NULL;
    struct burn_source *source = NULL;
    const char *volume_id = job->flavor == PODVM_CLOUD_INIT_NOCLOUD ? "cidata" : "config-2";
    g_autofree char *dir = g_path_get_dirname(job->path);
    g_autofree char *base = g_path_get_basename(job->path);
    g_autofree char *tmp_path = NULL;
    gboolean ok;
    int fd;

    if (!ensure_libisofs(error))
        return FALSE;

    if (!iso_check(iso_image_new(volume_id, &image), "image", error))
        return FALSE;
    iso_image_set_volume_id(image, volume_id);
    iso_image_set_application_id(image, "podvm");
    if (!build_tree(image, job, error))
        return FALSE;

    if (!iso_check(iso_write_opts_new(&opts, 0), "options", error) ||
        !iso_check(iso_write_opts_set_iso_level(opts, 3), "options", error) ||
        !iso_check(iso_write_opts_set_rockridge(opts, 1), "options", error) ||
        !iso_check(iso_write_opts_set_joliet(opts, 1), "options", error) ||
        /* The volume id stays "cidata" as written, like genisoimage does
         * it, instead of being uppercased to ISO 9660 d-characters. */
        !iso_check(iso_write_opts_set_relaxed_vol_atts(opts, 1), "options", error) ||
        !iso_check(iso_write_opts_set_replace_mode(opts, 0, 0, 2, 2), "options", error) ||
        !iso_check(iso_write_opts_set_default_uid(opts, 0), "options", error) ||
        !iso_check(iso_write_opts_set_default_gid(opts, 0), "options", error) ||
        !iso_check(iso_write_opts_set_always_gmt(opts, 1), "options", error))
        return FALSE;

    /* Same directory as the target, so the rename is atomic. */
    tmp_path = g_strdup_printf("%s/.%s.tmp-XXXXXX", dir, base);
    fd = g_mkstemp_full(tmp_path, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot create the cloud-init image in '%s': %s"), dir, g_strerror(saved));
        return FALSE;
    }

    ok = iso_check(iso_image_create_burn_source(image, opts, &source), "writer", error);
    if (ok) {
        ok = stream_image(source, fd, job->path, cancellable, error);
        /* Stops the writer thread if we quit early; free_data joins it. */
        if (!ok)
            source->cancel(source);
        source->free_data(source);
        free(source);
    }
    if (ok && fsync(fd) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"), job->path,
                    g_strerror(saved));
        ok = FALSE;
    }
    if (close(fd) != 0 && ok) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"), job->path,
                    g_strerror(saved));
        ok = FALSE;
    }
    if (ok && g_rename(tmp_path, job->path) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"), job->path,
                    g_strerror(saved));
        ok = FALSE;
    }
    if (!ok) {
        g_unlink(tmp_path);
        return FALSE;
    }
    return fsync_directory(dir, error);
}

static void
write_iso_thread(GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
    const WriteJob *job = task_data;
    g_autoptr(GError) error = NULL;

    (void)source_object;
    if (!write_iso(job, cancellable, &error))
        g_task_return_error(task, g_steal_pointer(&error));
    else
        g_task_return_boolean(task, TRUE);
}

void
podvm_cloud_init_write_iso_async(const PodvmCloudInitMedia *media, const char *path,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    WriteJob *job;

    g_return_if_fail(media != NULL);
    g_return_if_fail(path != NULL);

    g_task_set_source_tag(task, podvm_cloud_init_write_iso_async);

    if (media->flavor != PODVM_CLOUD_INIT_NOCLOUD &&
        media->flavor != PODVM_CLOUD_INIT_CONFIG_DRIVE) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("unknown cloud-init media flavor %d"), (int)media->flavor);
        return;
    }
    if (!is_plain_identifier(media->instance_id) || !is_plain_identifier(media->hostname)) {
        g_autofree char *id =
            podvm_quote_for_message(media->instance_id != NULL ? media->instance_id : "");
        g_autofree char *host =
            podvm_quote_for_message(media->hostname != NULL ? media->hostname : "");

        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("cloud-init media need an instance id and a host name made of "
                                  "letters, digits, '-', '.' and '_' (got %s and %s)"),
                                id, host);
        return;
    }

    job = g_new0(WriteJob, 1);
    job->flavor = media->flavor;
    job->instance_id = g_strdup(media->instance_id);
    job->hostname = g_strdup(media->hostname);
    job->user_data = g_strdup(media->user_data);
    job->meta_data = g_strdup(media->meta_data);
    job->network_data = g_strdup(media->network_data);
    job->path = g_strdup(path);
    g_task_set_task_data(task, job, (GDestroyNotify)write_job_free);
    g_task_run_in_thread(task, write_iso_thread);
}

gboolean
podvm_cloud_init_write_iso_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    g_return_val_if_fail(g_async_result_is_tagged(result, podvm_cloud_init_write_iso_async), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}
