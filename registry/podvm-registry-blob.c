/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Blob downloads: streamed into DIR/tmp/HEX-XXXXXX.part while hashed,
 * checked against the descriptor's size and the limit as bytes arrive,
 * fsync'd and renamed into place (in a thread) only when the digest
 * matches; anything else removes the part file. A transfer that breaks is
 * tried again, from where it broke when the server takes Range requests.
 */
#include "podvm-registry-client-private.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "podvm-error.h"

#define CHUNK_SIZE (256 * 1024)
#define BACKOFF_MS 500

typedef struct {
    PodvmImageRef *ref;
    char *digest;
    char *what;
    guint64 size;
    guint64 max_size;
    char *dest;
    char *tmp_path;
    int fd;
    GOutputStream *out;
    GChecksum *checksum;
    guint64 received; /* bytes in the part file (and the checksum) */
    guint64 reported; /* bytes given to @progress */
    PodvmRegistryBytesFunc progress;
    gpointer progress_data;
    GInputStream *stream;
    SoupMessage *message;
    guint attempt;
    gboolean can_resume;
    gboolean renamed;
    guint retry_id;
} FetchBlob;

static void
fetch_blob_free(FetchBlob *fetch)
{
    g_clear_handle_id(&fetch->retry_id, g_source_remove);
    g_clear_object(&fetch->stream);
    g_clear_object(&fetch->message);
    g_clear_object(&fetch->out);
    if (fetch->fd >= 0)
        close(fetch->fd);
    if (fetch->tmp_path != NULL && !fetch->renamed)
        g_unlink(fetch->tmp_path);
    podvm_image_ref_free(fetch->ref);
    g_free(fetch->digest);
    g_free(fetch->what);
    g_free(fetch->dest);
    g_free(fetch->tmp_path);
    g_clear_pointer(&fetch->checksum, g_checksum_free);
    g_free(fetch);
}

static void fetch_send(GTask *task);
static void fetch_read(GTask *task);

static void
fetch_fail(GTask *task, const GError *error)
{
    PodvmRegistryClient *self = g_task_get_source_object(task);
    FetchBlob *fetch = g_task_get_task_data(task);

    g_task_return_error(task,
                        podvm_registry_client_transport_error(self, fetch->ref->registry, error));
}

static gboolean
fetch_retry_cb(gpointer user_data)
{
    GTask *task = user_data;
    FetchBlob *fetch = g_task_get_task_data(task);

    fetch->retry_id = 0;
    fetch_send(task);
    return G_SOURCE_REMOVE;
}

/* The transfer broke: another try (keeping what arrived when the server resumes). */
static gboolean
fetch_retry(GTask *task)
{
    FetchBlob *fetch = g_task_get_task_data(task);

    if (fetch->attempt + 1 >= PODVM_REGISTRY_TRIES)
        return FALSE;
    fetch->attempt++;
    g_clear_object(&fetch->stream);
    g_debug("registry %s: %s broke after %" G_GUINT64_FORMAT " bytes: try %u of %u%s",
            fetch->ref->registry, fetch->what, fetch->received, fetch->attempt + 1,
            PODVM_REGISTRY_TRIES, fetch->can_resume ? " (resuming)" : "");
    fetch->retry_id = g_timeout_add(BACKOFF_MS << (fetch->attempt - 1), fetch_retry_cb, task);
    return TRUE;
}

/* Starts the part file over: the server sends the whole blob again. */
static gboolean
fetch_restart(FetchBlob *fetch, GError **error)
{
    if (fetch->received == 0)
        return TRUE;
    if (ftruncate(fetch->fd, 0) < 0 || lseek(fetch->fd, 0, SEEK_SET) < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot truncate %s: %s"),
                    fetch->tmp_path, g_strerror(saved));
        return FALSE;
    }
    g_checksum_reset(fetch->checksum);
    fetch->received = 0;
    return TRUE;
}

static void
commit_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    FetchBlob *fetch = task_data;
    int saved;

    if (fsync(fetch->fd) < 0 || rename(fetch->tmp_path, fetch->dest) < 0) {
        saved = errno;
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("cannot store blob %s in %s: %s"), fetch->digest, fetch->dest,
                                g_strerror(saved));
        return;
    }
    fetch->renamed = TRUE;
    g_task_return_boolean(task, TRUE);
}

static void
commit_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error))
        g_task_return_error(task, g_steal_pointer(&error));
    else
        g_task_return_boolean(task, TRUE);
}

static void
fetch_done(GTask *task)
{
    FetchBlob *fetch = g_task_get_task_data(task);
    g_autofree char *registry = podvm_quote_for_message(fetch->ref->registry);
    g_autofree char *digest = NULL;
    GTask *commit;

    if (fetch->received != fetch->size) {
        if (fetch_retry(task))
            return;
        g_task_return_new_error(
            task, PODVM_ERROR, PODVM_ERROR_FAILED,
            _("registry %s: %s ended after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes"),
            registry, fetch->what, fetch->received, fetch->size);
        g_object_unref(task);
        return;
    }
    /* Only now: reading the checksum closes it. */
    digest = g_strconcat("sha256:", g_checksum_get_string(fetch->checksum), NULL);
    if (!g_str_equal(digest, fetch->digest)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s sent %s with the content of %s: digest mismatch, "
                                  "nothing kept"),
                                registry, fetch->what, digest);
        g_object_unref(task);
        return;
    }
    /* fsync and rename in a thread: a big layer's fsync takes a while. */
    commit = g_task_new(NULL, g_task_get_cancellable(task), commit_cb, task);
    g_task_set_task_data(commit, fetch, NULL);
    g_task_run_in_thread(commit, commit_thread);
    g_object_unref(commit);
}

static void
write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    FetchBlob *fetch = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    gsize written = 0;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, &written, &error)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write %s: %s"),
                                fetch->tmp_path, error->message);
        return;
    }
    fetch->received += written;
    if (fetch->received > fetch->reported) {
        if (fetch->progress != NULL)
            fetch->progress(fetch->received - fetch->reported, fetch->progress_data);
        fetch->reported = fetch->received;
    }
    fetch_read(g_steal_pointer(&task));
}

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    FetchBlob *fetch = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(fetch->stream, result, &error);
    g_autofree char *registry = podvm_quote_for_message(fetch->ref->registry);
    gsize length;

    if (chunk == NULL) {
        if (podvm_registry_error_is_transient(error) && fetch_retry(task)) {
            g_steal_pointer(&task);
            return;
        }
        fetch_fail(task, error);
        return;
    }
    length = g_bytes_get_size(chunk);
    if (length == 0) {
        g_input_stream_close_async(fetch->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        fetch_done(g_steal_pointer(&task));
        return;
    }
    if (fetch->received + length > fetch->size || fetch->received + length > fetch->max_size) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s sent more of %s than its %" G_GUINT64_FORMAT
                                  " bytes (limit %" G_GUINT64_FORMAT "), nothing kept"),
                                registry, fetch->what, fetch->size, fetch->max_size);
        return;
    }
    g_checksum_update(fetch->checksum, g_bytes_get_data(chunk, NULL), length);
    g_output_stream_write_all_async(fetch->out, g_bytes_get_data(chunk, NULL), length,
                                    G_PRIORITY_DEFAULT, g_task_get_cancellable(task), write_cb,
                                    task);
    /* The chunk must live until the write is done. */
    g_object_set_data_full(G_OBJECT(task), "chunk", g_steal_pointer(&chunk),
                           (GDestroyNotify)g_bytes_unref);
    g_steal_pointer(&task);
}

static void
fetch_read(GTask *task)
{
    FetchBlob *fetch = g_task_get_task_data(task);

    g_input_stream_read_bytes_async(fetch->stream, CHUNK_SIZE, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable(task), read_cb, task);
}

static void
fetch_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    FetchBlob *fetch = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    SoupMessageHeaders *headers;
    const char *ranges;
    goffset length, start = 0, end = 0, total = 0;

    g_clear_object(&fetch->message);
    fetch->stream = podvm_registry_client_request_finish(PODVM_REGISTRY_CLIENT(source), result,
                                                         &fetch->message, &error);
    if (fetch->stream == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    headers = soup_message_get_response_headers(fetch->message);
    if (soup_message_get_status(fetch->message) == SOUP_STATUS_PARTIAL_CONTENT) {
        if (!soup_message_headers_get_content_range(headers, &start, &end, &total) || start < 0 ||
            (guint64)start != fetch->received) {
            /* Not the part asked for: start over without ranges. */
            fetch->can_resume = FALSE;
            g_clear_object(&fetch->stream);
            if (!fetch_restart(fetch, &error)) {
                g_task_return_error(task, g_steal_pointer(&error));
                return;
            }
            fetch_send(g_steal_pointer(&task));
            return;
        }
        fetch_read(g_steal_pointer(&task));
        return;
    }
    /* The whole blob. */
    ranges = soup_message_headers_get_one(headers, "Accept-Ranges");
    fetch->can_resume = ranges != NULL && strstr(ranges, "bytes") != NULL;
    if (!fetch_restart(fetch, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    length = soup_message_headers_get_content_length(headers);
    if (length > 0 && ((guint64)length > fetch->size || (guint64)length > fetch->max_size)) {
        g_autofree char *registry = podvm_quote_for_message(fetch->ref->registry);

        g_task_return_new_error(
            task, PODVM_ERROR, PODVM_ERROR_FAILED,
            _("registry %s sends %s as %" G_GINT64_FORMAT " bytes, more than its %" G_GUINT64_FORMAT
              " (limit %" G_GUINT64_FORMAT "), nothing kept"),
            registry, fetch->what, (gint64)length, fetch->size, fetch->max_size);
        return;
    }
    fetch_read(g_steal_pointer(&task));
}

static void
fetch_send(GTask *task)
{
    PodvmRegistryClient *self = g_task_get_source_object(task);
    FetchBlob *fetch = g_task_get_task_data(task);
    g_autofree char *path =
        g_strdup_printf("/v2/%s/blobs/%s", fetch->ref->repository, fetch->digest);

    podvm_registry_client_request_async(self, fetch->ref, fetch->what, path, NULL,
                                        fetch->can_resume ? (goffset)fetch->received : 0,
                                        g_task_get_cancellable(task), fetch_sent_cb, task);
}

void
podvm_registry_client_fetch_blob_async(PodvmRegistryClient *self, const PodvmImageRef *ref,
                                       const char *digest, guint64 size, guint64 max_size,
                                       const char *dest, const char *tmp_dir,
                                       PodvmRegistryBytesFunc progress, gpointer progress_data,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    FetchBlob *fetch = g_new0(FetchBlob, 1);
    g_autofree char *registry = podvm_quote_for_message(ref->registry);
    g_autofree char *template = NULL;
    int saved;

    g_task_set_source_tag(task, podvm_registry_client_fetch_blob_async);
    fetch->fd = -1;
    fetch->ref = podvm_image_ref_copy(ref);
    fetch->digest = g_strdup(digest);
    fetch->what = g_strdup_printf(_("blob %s"), digest);
    fetch->size = size;
    fetch->max_size = max_size;
    fetch->dest = g_strdup(dest);
    fetch->progress = progress;
    fetch->progress_data = progress_data;
    fetch->checksum = g_checksum_new(G_CHECKSUM_SHA256);
    g_task_set_task_data(task, fetch, (GDestroyNotify)fetch_blob_free);
    if (size > max_size) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s: %s is %" G_GUINT64_FORMAT
                                  " bytes, larger than the limit of %" G_GUINT64_FORMAT),
                                registry, fetch->what, size, max_size);
        g_object_unref(task);
        return;
    }
    template = g_strdup_printf("%s/%s-XXXXXX.part", tmp_dir, digest + strlen("sha256:"));
    fetch->fd = g_mkstemp_full(template, O_RDWR | O_CLOEXEC, 0644);
    if (fetch->fd < 0) {
        saved = errno;
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create %s: %s"),
                                template, g_strerror(saved));
        g_object_unref(task);
        return;
    }
    fetch->tmp_path = g_steal_pointer(&template);
    fetch->out = g_unix_output_stream_new(fetch->fd, FALSE);
    fetch_send(task);
}

gboolean
podvm_registry_client_fetch_blob_finish(PodvmRegistryClient *self, GAsyncResult *result,
                                        GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
