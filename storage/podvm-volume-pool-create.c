/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Creating a pool volume: blank, from a file or from a URL (downloaded with
 * libsoup, hashed while it streams, progress signalled), probed by its
 * magic, converted to raw with qemu-img under a temporary name and renamed.
 * The record says Importing until then, and why when it failed.
 */
#include "podvm-volume-pool-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-build-config.h"
#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-qemu-img.h"
#include "podvm-quantity.h"
#include "podvm-spec.h"
#include "podvm-store.h"

/* qcow2's magic: "QFI\xfb". Anything else is taken as raw. */
static const guchar qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };

/* Import progress at most every MiB or every 100 ms, so a fast download does not flood. */
#define PROGRESS_BYTES (1024 * 1024)
#define PROGRESS_USEC (100 * G_TIME_SPAN_MILLISECOND)
#define DOWNLOAD_CHUNK (256 * 1024)

/* ------------------------------------------------------------------------ */
/* Create */

typedef struct {
    char *name;
    guint64 size; /* requested; 0 = the source's */
    char *from;
    char *sha256;
    gboolean from_url;

    char *image;  /* POOL_DIR/NAME.img */
    char *tmp;    /* POOL_DIR/.NAME.img.tmp: the image until it is complete */
    char *part;   /* POOL_DIR/.NAME.part: the download */
    char *source; /* the file converted: @from or @part */
    const char *source_format;
    guint64 source_size;
    guint64 final_size;

    /* Download */
    SoupMessage *message;
    GInputStream *input;
    GOutputStream *output;
    GChecksum *checksum;
    GBytes *chunk;
    guint64 done;
    guint64 total;
    guint64 reported;
    gint64 reported_at;
} CreateData;

static void
create_data_free(CreateData *data)
{
    g_free(data->name);
    g_free(data->from);
    g_free(data->sha256);
    g_free(data->image);
    g_free(data->tmp);
    g_free(data->part);
    g_free(data->source);
    g_clear_object(&data->message);
    g_clear_object(&data->input);
    g_clear_object(&data->output);
    g_clear_pointer(&data->checksum, g_checksum_free);
    g_clear_pointer(&data->chunk, g_bytes_unref);
    g_free(data);
}

static gboolean
is_url(const char *from)
{
    return g_str_has_prefix(from, "http://") || g_str_has_prefix(from, "https://");
}

static gboolean
validate_options(PodvmVolumePool *self, const PodvmVolumeCreateOptions *options, GError **error)
{
    g_autoptr(GError) name_error = NULL;
    PoolVolume *existing;

    if (!podvm_name_is_valid(options->name, &name_error)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("volume name: %s"),
                    name_error->message);
        return FALSE;
    }
    existing = g_hash_table_lookup(self->volumes, options->name);
    /*
     * A volume whose create failed holds no data and no pod can use it: it
     * stays listed (Failed, with why) until it is deleted or a new create
     * of the name replaces it, as a retry does.
     */
    if (existing != NULL && g_strcmp0(existing->phase, PHASE_IMPORTING) == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                    _("volume '%s' is being created; wait until it is Ready or Failed"),
                    options->name);
        return FALSE;
    }
    if (existing != NULL && g_strcmp0(existing->phase, PHASE_FAILED) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                    _("volume '%s' already exists; delete it first or pick another name"),
                    options->name);
        return FALSE;
    }
    if (!podvm_quantity_check_size(options->size, error))
        return FALSE;
    if (options->from == NULL) {
        if (options->size == 0) {
            g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("a blank volume needs a size greater than 0"));
            return FALSE;
        }
        if (options->sha256 != NULL) {
            g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("a sha256 digest only applies to a volume made from a file or "
                                  "URL"));
            return FALSE;
        }
        return TRUE;
    }
    if (options->sha256 != NULL) {
        gsize length = strlen(options->sha256);
        gboolean hex = length == 64;

        for (gsize i = 0; hex && i < length; i++)
            hex = g_ascii_isxdigit(options->sha256[i]);
        if (!hex) {
            g_autofree char *quoted = podvm_quote_for_message(options->sha256);
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("sha256 %s is not a SHA-256 digest: give 64 hexadecimal digits"), quoted);
            return FALSE;
        }
    }
    if (is_url(options->from)) {
        if (!g_uri_is_valid(options->from, G_URI_FLAGS_ENCODED, NULL)) {
            g_autofree char *quoted = podvm_quote_for_message(options->from);
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s is not a valid URL"), quoted);
            return FALSE;
        }
        return TRUE;
    }
    if (strstr(options->from, "://") != NULL) {
        g_autofree char *quoted = podvm_quote_for_message(options->from);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("cannot import from %s: only http:// and https:// URLs and host files are "
                      "supported"),
                    quoted);
        return FALSE;
    }
    if (!g_path_is_absolute(options->from)) {
        g_autofree char *quoted = podvm_quote_for_message(options->from);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("source file %s is not an absolute path"), quoted);
        return FALSE;
    } else {
        GStatBuf st;
        if (g_stat(options->from, &st) != 0) {
            int saved = errno;
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("cannot use source file '%s': %s"), options->from, g_strerror(saved));
            return FALSE;
        }
        if (!S_ISREG(st.st_mode)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("source '%s' is not a regular file"), options->from);
            return FALSE;
        }
    }
    return TRUE;
}

/* Every failure after the record exists ends here: the record says why, the data goes. */
static void
create_fail(GTask *task, GError *error)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    PoolVolume *volume = g_hash_table_lookup(self->volumes, data->name);
    g_autoptr(GError) owned = error;
    g_autoptr(GError) write_error = NULL;

    if (owned->domain != PODVM_ERROR) {
        g_autoptr(GError) converted = podvm_error_from_component(owned);
        g_clear_error(&owned);
        owned = g_steal_pointer(&converted);
    }
    volume_pool_remove_volume_data(self, data->name);
    if (volume != NULL) {
        volume_pool_set_phase(volume, PHASE_FAILED, owned->message);
        if (!volume_pool_write_record(self, volume, &write_error))
            g_message("volume pool: cannot record the failure of '%s': %s", data->name,
                      write_error->message);
        g_signal_emit(self, volume_pool_signals[SIGNAL_CHANGED], 0, data->name);
    }
    g_task_return_error(task, g_steal_pointer(&owned));
}

static void
create_succeed(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    PoolVolume *volume = g_hash_table_lookup(self->volumes, data->name);
    g_autoptr(GError) error = NULL;
    GStatBuf st;

    /* What the guest will see: qemu-img rounds a raw image up to whole 512-byte sectors. */
    if (g_stat(data->tmp, &st) == 0)
        data->final_size = (guint64)st.st_size;
    if (rename(data->tmp, data->image) != 0) {
        int saved = errno;
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot rename '%s': %s"),
                                      data->tmp, g_strerror(saved)));
        return;
    }
    if (data->part != NULL)
        volume_pool_unlink_quietly(data->part);
    volume->size = data->final_size;
    volume_pool_set_phase(volume, PHASE_READY, NULL);
    if (!volume_pool_write_record(self, volume, &error)) {
        create_fail(task, g_steal_pointer(&error));
        return;
    }
    g_signal_emit(self, volume_pool_signals[SIGNAL_CHANGED], 0, data->name);
    g_task_return_pointer(task, volume_pool_volume_to_json(volume, TRUE),
                          (GDestroyNotify)json_node_unref);
}

static void
resize_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;

    if (!podvm_qemu_img_resize_finish(result, &error))
        create_fail(task, error);
    else
        create_succeed(task);
}

static void
convert_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    GError *error = NULL;

    if (!podvm_qemu_img_convert_finish(result, &error)) {
        create_fail(task, error);
        return;
    }
    if (data->final_size > data->source_size) {
        GCancellable *cancellable = g_task_get_cancellable(task);

        podvm_qemu_img_resize_async(self->qemu_img, data->tmp, "raw", data->final_size, cancellable,
                                    resize_cb, g_steal_pointer(&task));
        return;
    }
    create_succeed(task);
}

/* The source is vetted and its size known: convert it to raw under the temporary name. */
static void
convert_source(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);

    if (data->size > 0 && data->size < data->source_size) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                      _("size %llu is smaller than the source (%llu bytes); "
                                        "give at least that much or no size"),
                                      (unsigned long long)data->size,
                                      (unsigned long long)data->source_size));
        g_object_unref(task);
        return;
    }
    data->final_size = MAX(data->size, data->source_size);
    volume_pool_unlink_quietly(data->tmp);
    podvm_qemu_img_convert_async(self->qemu_img, data->source, data->source_format, data->tmp,
                                 "raw", g_task_get_cancellable(task), convert_cb, task);
}

static void
info_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(JsonObject) info = NULL;
    GError *error = NULL;
    JsonObject *specific;
    JsonObject *specific_data;
    JsonNode *size;

    info = podvm_qemu_img_info_finish(result, &error);
    if (info == NULL) {
        create_fail(task, error);
        g_object_unref(task);
        return;
    }
    /* A backing or data file would let the image read other host files (RELIABILITY.md). */
    specific = json_object_get_member(info, "format-specific") != NULL &&
                       JSON_NODE_HOLDS_OBJECT(json_object_get_member(info, "format-specific"))
                   ? json_object_get_object_member(info, "format-specific")
                   : NULL;
    specific_data = specific != NULL && json_object_get_member(specific, "data") != NULL &&
                            JSON_NODE_HOLDS_OBJECT(json_object_get_member(specific, "data"))
                        ? json_object_get_object_member(specific, "data")
                        : NULL;
    if (json_object_has_member(info, "backing-filename") ||
        (specific_data != NULL && json_object_has_member(specific_data, "data-file"))) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                      _("the qcow2 source '%s' refers to another file (a backing "
                                        "or data file); give a self-contained image"),
                                      data->from));
        g_object_unref(task);
        return;
    }
    size = json_object_get_member(info, "virtual-size");
    if (size == NULL || json_node_get_value_type(size) != G_TYPE_INT64 ||
        json_node_get_int(size) <= 0) {
        create_fail(task,
                    g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("qemu-img info gave no virtual size for '%s'"), data->from));
        g_object_unref(task);
        return;
    }
    data->source_size = (guint64)json_node_get_int(size);
    convert_source(task);
}

/* What the thread learns of the source file. */
typedef struct {
    gboolean qcow2;
    guint64 size;
    char *sha256; /* when asked for */
} SourceFacts;

static void
source_facts_free(SourceFacts *facts)
{
    g_free(facts->sha256);
    g_free(facts);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SourceFacts, source_facts_free)

static void
probe_source_thread(GTask *task, gpointer source_object, gpointer task_data,
                    GCancellable *cancellable)
{
    CreateData *data = task_data;
    g_autoptr(SourceFacts) facts = NULL;
    g_autoptr(GChecksum) checksum = NULL;
    guchar magic[sizeof qcow2_magic];
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(data->source, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot open '%s': %s"),
                                data->source, g_strerror(saved));
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("source '%s' is not a regular file"), data->source);
        return;
    }
    facts = g_new0(SourceFacts, 1);
    facts->size = (guint64)st.st_size;
    n = pread(fd, magic, sizeof magic, 0);
    facts->qcow2 = n == (ssize_t)sizeof magic && memcmp(magic, qcow2_magic, sizeof magic) == 0;

    /* A download was hashed while it streamed; a file is hashed here. */
    if (data->sha256 != NULL && !data->from_url) {
        g_autofree guchar *buffer = g_malloc(DOWNLOAD_CHUNK);

        checksum = g_checksum_new(G_CHECKSUM_SHA256);
        while ((n = read(fd, buffer, DOWNLOAD_CHUNK)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                int saved = errno;
                close(fd);
                g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                        _("cannot read '%s': %s"), data->source, g_strerror(saved));
                return;
            }
            if (g_cancellable_is_cancelled(cancellable)) {
                close(fd);
                g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                        _("the import was cancelled"));
                return;
            }
            g_checksum_update(checksum, buffer, n);
        }
        facts->sha256 = g_strdup(g_checksum_get_string(checksum));
    }
    close(fd);
    g_task_return_pointer(task, g_steal_pointer(&facts), (GDestroyNotify)source_facts_free);
}

static gboolean
check_digest(CreateData *data, const char *actual, GError **error)
{
    if (g_ascii_strcasecmp(data->sha256, actual) == 0)
        return TRUE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("checksum mismatch: expected %s, got %s"),
                data->sha256, actual);
    return FALSE;
}

static void
probe_source_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(SourceFacts) facts = NULL;
    GError *error = NULL;

    facts = g_task_propagate_pointer(G_TASK(result), &error);
    if (facts == NULL || (facts->sha256 != NULL && !check_digest(data, facts->sha256, &error))) {
        create_fail(task, error);
        g_object_unref(task);
        return;
    }
    data->source_size = facts->size;
    if (facts->qcow2) {
        data->source_format = "qcow2";
        podvm_qemu_img_info_async(self->qemu_img, data->source, "qcow2",
                                  g_task_get_cancellable(task), info_cb, task);
        return;
    }
    data->source_format = "raw";
    convert_source(task);
}

/* Reads the source's magic (never letting qemu-img guess) and, for a file, its digest. */
static void
probe_source(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    g_autoptr(GTask) probe = g_task_new(self, g_task_get_cancellable(task), probe_source_cb, task);

    g_task_set_task_data(probe, g_task_get_task_data(task), NULL);
    g_task_run_in_thread(probe, probe_source_thread);
}

static void
blank_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;

    if (!podvm_qemu_img_create_finish(result, &error))
        create_fail(task, error);
    else
        create_succeed(task);
}

/* -- Download ------------------------------------------------------------- */

static void read_next_chunk(GTask *task);

static void
report_progress(GTask *task, gboolean last)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    gint64 now = g_get_monotonic_time();

    if (!last && data->done - data->reported < PROGRESS_BYTES &&
        now - data->reported_at < PROGRESS_USEC)
        return;
    data->reported = data->done;
    data->reported_at = now;
    g_signal_emit(self, volume_pool_signals[SIGNAL_PROGRESS], 0, data->name, data->done,
                  data->total);
}

static void
download_done(GTask *task)
{
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!g_output_stream_close(data->output, NULL, &error)) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"),
                                      data->part, error->message));
        g_object_unref(task);
        return;
    }
    report_progress(task, TRUE);
    if (data->checksum != NULL &&
        !check_digest(data, g_checksum_get_string(data->checksum), &error)) {
        create_fail(task, g_steal_pointer(&error));
        g_object_unref(task);
        return;
    }
    data->source = g_strdup(data->part);
    probe_source(task);
}

static void
write_chunk_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"),
                                      data->part, error->message));
        g_object_unref(task);
        return;
    }
    data->done += g_bytes_get_size(data->chunk);
    g_clear_pointer(&data->chunk, g_bytes_unref);
    report_progress(task, FALSE);
    read_next_chunk(task);
}

static void
read_chunk_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    gconstpointer bytes;
    gsize length = 0;

    data->chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
    if (data->chunk == NULL) {
        create_fail(
            task,
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                ? g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("the import was cancelled"))
                : g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("download of '%s' failed: %s"),
                              data->from, error->message));
        g_object_unref(task);
        return;
    }
    bytes = g_bytes_get_data(data->chunk, &length);
    if (length == 0) {
        g_clear_pointer(&data->chunk, g_bytes_unref);
        download_done(task);
        return;
    }
    if (data->checksum != NULL)
        g_checksum_update(data->checksum, bytes, (gssize)length);
    g_output_stream_write_all_async(data->output, bytes, length, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable(task), write_chunk_cb, task);
}

static void
read_next_chunk(GTask *task)
{
    CreateData *data = g_task_get_task_data(task);

    g_input_stream_read_bytes_async(data->input, DOWNLOAD_CHUNK, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable(task), read_chunk_cb, task);
}

static void
send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    guint status;
    goffset length;
    int fd;

    data->input = soup_session_send_finish(SOUP_SESSION(source), result, &error);
    if (data->input == NULL) {
        create_fail(
            task,
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                ? g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("the import was cancelled"))
                : g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot download '%s': %s"),
                              data->from, error->message));
        g_object_unref(task);
        return;
    }
    status = soup_message_get_status(data->message);
    if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
        const char *reason = soup_message_get_reason_phrase(data->message);
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                      _("download of '%s' failed: HTTP %u %s"), data->from, status,
                                      reason != NULL ? reason : ""));
        g_object_unref(task);
        return;
    }
    length =
        soup_message_headers_get_content_length(soup_message_get_response_headers(data->message));
    data->total = length > 0 ? (guint64)length : 0;

    volume_pool_unlink_quietly(data->part);
    fd = open(data->part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int saved = errno;
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"),
                                      data->part, g_strerror(saved)));
        g_object_unref(task);
        return;
    }
    data->output = g_unix_output_stream_new(fd, TRUE);
    if (data->sha256 != NULL)
        data->checksum = g_checksum_new(G_CHECKSUM_SHA256);
    data->reported_at = g_get_monotonic_time();
    report_progress(task, TRUE);
    read_next_chunk(task);
}

static void
start_download(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);

    if (self->session == NULL)
        self->session = soup_session_new_with_options("user-agent", "podvm/" PODVM_VERSION,
                                                      "timeout", 60, NULL);
    data->message = soup_message_new(SOUP_METHOD_GET, data->from);
    if (data->message == NULL) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                      _("'%s' is not a URL podvm can download"), data->from));
        g_object_unref(task);
        return;
    }
    data->part = volume_pool_part_path(self, data->name);
    soup_session_send_async(self->session, data->message, G_PRIORITY_DEFAULT,
                            g_task_get_cancellable(task), send_cb, task);
}

void
podvm_volume_pool_create_async(PodvmVolumePool *self, const PodvmVolumeCreateOptions *options,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GDateTime) now = NULL;
    CreateData *data;
    PoolVolume *volume;

    g_return_if_fail(PODVM_IS_VOLUME_POOL(self));
    g_return_if_fail(options != NULL && options->name != NULL);

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_volume_pool_create_async);
    if (!validate_options(self, options, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }

    data = g_new0(CreateData, 1);
    data->name = g_strdup(options->name);
    data->size = options->size;
    data->from = g_strdup(options->from);
    data->sha256 = options->sha256 != NULL ? g_ascii_strdown(options->sha256, -1) : NULL;
    data->from_url = options->from != NULL && is_url(options->from);
    data->image = podvm_volume_pool_image_path(self, options->name);
    data->tmp = volume_pool_image_tmp_path(self, options->name);
    g_task_set_task_data(task, data, (GDestroyNotify)create_data_free);

    /* The record first, so list shows the import and a restart can mark it failed. */
    now = g_date_time_new_now_utc();
    volume = pool_volume_new(options->name);
    volume->size = options->size;
    volume->source = g_strdup(options->from);
    volume->sha256 = g_strdup(data->sha256);
    volume->created_at = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    volume_pool_set_phase(volume, PHASE_IMPORTING, NULL);
    if (!volume_pool_write_record(self, volume, &error)) {
        g_autofree char *record = volume_pool_record_path(self, volume->name);
        (void)g_unlink(record);
        pool_volume_free(volume);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_hash_table_replace(self->volumes, volume->name, volume);
    g_signal_emit(self, volume_pool_signals[SIGNAL_CHANGED], 0, volume->name);

    if (options->from == NULL) {
        volume_pool_unlink_quietly(data->tmp);
        data->final_size = options->size;
        podvm_qemu_img_create_async(self->qemu_img, "raw", data->tmp, options->size, NULL, NULL,
                                    cancellable, blank_cb, g_steal_pointer(&task));
    } else if (data->from_url) {
        start_download(g_steal_pointer(&task));
    } else {
        data->source = g_strdup(options->from);
        probe_source(g_steal_pointer(&task));
    }
}

JsonNode *
podvm_volume_pool_create_finish(PodvmVolumePool *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_volume_pool_create_async,
                         NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
