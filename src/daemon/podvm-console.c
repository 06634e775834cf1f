/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-console.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"

/* One end of the conversation: QEMU's socket or a client's socketpair end. */
typedef struct {
    PodvmConsole *console; /* unowned */
    GSocket *socket;
    GSource *read_source;
    GSource *write_source;
    GByteArray *pending; /* not yet written */
    gboolean is_qemu;
    guint linger_id; /* a client flushing its last output after the console ended */
} Peer;

struct _PodvmConsole {
    GObject parent_instance;

    char *pod_name;
    Peer *qemu;
    GPtrArray *clients; /* of Peer* */
    /* Ring of the most recent output; ring_len <= PODVM_CONSOLE_RING_SIZE. */
    guint8 *ring;
    gsize ring_start;
    gsize ring_len;
    guint8 *buffer; /* PODVM_CONSOLE_READ_CHUNK */
    /* Bounds on what a guest printing without end costs. */
    char *log_path; /* QEMU appends the console to it; NULL: not rotated */
    guint64 log_max_bytes;
    guint log_keep;
    gsize since_rotate_check;
    guint max_rate;       /* bytes a second; 0: no limit */
    gint64 window_start;  /* monotonic, the current second began */
    guint64 window_bytes; /* read from QEMU in it */
    guint resume_id;      /* reading QEMU's socket pauses until this runs */
    gboolean log_rotate_failed;
};

G_DEFINE_FINAL_TYPE(PodvmConsole, podvm_console, G_TYPE_OBJECT)

static void peer_free(Peer *peer);
static gboolean peer_readable_cb(GSocket *socket, GIOCondition condition, gpointer user_data);

static void
ring_append(PodvmConsole *self, const guint8 *data, gsize length)
{
    /* Only the last ring-full can stay. */
    if (length > PODVM_CONSOLE_RING_SIZE) {
        data += length - PODVM_CONSOLE_RING_SIZE;
        length = PODVM_CONSOLE_RING_SIZE;
    }
    while (length > 0) {
        gsize pos = (self->ring_start + self->ring_len) % PODVM_CONSOLE_RING_SIZE;
        gsize n = MIN(length, PODVM_CONSOLE_RING_SIZE - pos);
        gsize overflow;

        memcpy(self->ring + pos, data, n);
        self->ring_len += n;
        if (self->ring_len > PODVM_CONSOLE_RING_SIZE) {
            overflow = self->ring_len - PODVM_CONSOLE_RING_SIZE;
            self->ring_start = (self->ring_start + overflow) % PODVM_CONSOLE_RING_SIZE;
            self->ring_len = PODVM_CONSOLE_RING_SIZE;
        }
        data += n;
        length -= n;
    }
}

static gboolean peer_flush(Peer *peer);

static gboolean
linger_timeout_cb(gpointer user_data)
{
    Peer *peer = user_data;

    peer->linger_id = 0;
    peer_free(peer);
    return G_SOURCE_REMOVE;
}

/*
 * A client of a console that ends: closed once what was queued for it is
 * written (the guest's last lines, the ones before it powered off), or
 * after PODVM_CONSOLE_LINGER_MS if it does not read them.
 */
static void
peer_end(Peer *peer)
{
    if (peer->pending->len > 0 && peer_flush(peer) && peer->pending->len > 0 &&
        peer->write_source != NULL) {
        peer->console = NULL;
        if (peer->read_source != NULL) {
            g_source_destroy(peer->read_source);
            g_clear_pointer(&peer->read_source, g_source_unref);
        }
        peer->linger_id = g_timeout_add(PODVM_CONSOLE_LINGER_MS, linger_timeout_cb, peer);
        return;
    }
    peer_free(peer);
}

/* Ends every client (see peer_end); the console takes new ones afterwards. */
static void
end_clients(PodvmConsole *self)
{
    GPtrArray *clients = self->clients;

    self->clients = g_ptr_array_new_with_free_func((GDestroyNotify)peer_free);
    for (guint i = 0; i < clients->len; i++)
        peer_end(g_ptr_array_index(clients, i));
    g_ptr_array_set_free_func(clients, NULL);
    g_ptr_array_unref(clients);
}

static void
drop_peer(PodvmConsole *self, Peer *peer)
{
    if (peer->is_qemu) {
        g_clear_handle_id(&self->resume_id, g_source_remove);
        /* QEMU went away: the clients get what is queued for them, then the end. */
        self->qemu = NULL;
        peer_free(peer);
        end_clients(self);
        return;
    }
    g_ptr_array_remove(self->clients, peer);
}

static gboolean
peer_flush(Peer *peer)
{
    while (peer->pending->len > 0) {
        g_autoptr(GError) error = NULL;
        gssize n = g_socket_send_with_blocking(peer->socket, (const char *)peer->pending->data,
                                               peer->pending->len, FALSE, NULL, &error);
        if (n < 0) {
            if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                return TRUE;
            return FALSE;
        }
        g_byte_array_remove_range(peer->pending, 0, (guint)n);
    }
    return TRUE;
}

static gboolean
peer_writable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    Peer *peer = user_data;
    PodvmConsole *self = peer->console;

    if (self == NULL) {
        /* Lingering (peer_end): its last output written, or it cannot be. */
        if (peer_flush(peer) && peer->pending->len > 0)
            return G_SOURCE_CONTINUE;
        g_clear_pointer(&peer->write_source, g_source_unref);
        peer_free(peer);
        return G_SOURCE_REMOVE;
    }
    if (!peer_flush(peer)) {
        g_clear_pointer(&peer->write_source, g_source_unref);
        drop_peer(self, peer);
        return G_SOURCE_REMOVE;
    }
    if (peer->pending->len == 0) {
        g_clear_pointer(&peer->write_source, g_source_unref);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Queues @data for @peer; FALSE when the peer must be dropped. */
static gboolean
peer_send(Peer *peer, const guint8 *data, gsize length)
{
    if (peer->pending->len + length > PODVM_CONSOLE_CLIENT_BACKLOG)
        return FALSE;
    g_byte_array_append(peer->pending, data, (guint)length);
    if (peer->write_source != NULL)
        return TRUE;
    if (!peer_flush(peer))
        return FALSE;
    if (peer->pending->len > 0) {
        peer->write_source = g_socket_create_source(peer->socket, G_IO_OUT, NULL);
        g_source_set_callback(peer->write_source, G_SOURCE_FUNC(peer_writable_cb), peer, NULL);
        g_source_attach(peer->write_source, NULL);
    }
    return TRUE;
}

static void
peer_watch(Peer *peer)
{
    peer->read_source = g_socket_create_source(peer->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(peer->read_source, G_SOURCE_FUNC(peer_readable_cb), peer, NULL);
    g_source_attach(peer->read_source, NULL);
}

static gboolean
qemu_resume_cb(gpointer user_data)
{
    PodvmConsole *self = user_data;

    self->resume_id = 0;
    if (self->qemu != NULL && self->qemu->read_source == NULL)
        peer_watch(self->qemu);
    return G_SOURCE_REMOVE;
}

/*
 * After a read of QEMU's socket: the next one waits a little, so that a
 * guest writing byte by byte is read in large chunks, and longer once the
 * second's budget is spent. Meanwhile the socket fills and QEMU's
 * chardev holds the guest back.
 */
static void
qemu_throttle(PodvmConsole *self, gsize n)
{
    gint64 now = g_get_monotonic_time();
    guint wait_ms = PODVM_CONSOLE_READ_INTERVAL_MS;

    if (now - self->window_start >= G_USEC_PER_SEC) {
        self->window_start = now;
        self->window_bytes = 0;
    }
    self->window_bytes += n;
    if (self->max_rate > 0 && self->window_bytes >= self->max_rate) {
        gint64 left_us = self->window_start + G_USEC_PER_SEC - now;

        wait_ms = (guint)MAX(left_us / 1000, PODVM_CONSOLE_READ_INTERVAL_MS);
        g_debug("console of pod '%s': %" G_GUINT64_FORMAT " bytes this second; pausing %u ms",
                self->pod_name, self->window_bytes, wait_ms);
    }
    g_source_destroy(self->qemu->read_source);
    g_clear_pointer(&self->qemu->read_source, g_source_unref);
    self->resume_id = g_timeout_add(wait_ms, qemu_resume_cb, self);
}

static void
log_check(PodvmConsole *self, gsize n)
{
    g_autoptr(GError) error = NULL;

    if (self->log_path == NULL)
        return;
    self->since_rotate_check += n;
    if (self->since_rotate_check < MIN(self->log_max_bytes / 8, 64 * 1024))
        return;
    self->since_rotate_check = 0;
    if (!podvm_console_rotate_log(self->log_path, self->log_max_bytes, self->log_keep, &error)) {
        if (error != NULL && !self->log_rotate_failed)
            g_message("console log of pod '%s': %s", self->pod_name, error->message);
        self->log_rotate_failed = error != NULL;
    }
}

static Peer *
peer_new(PodvmConsole *self, GSocket *socket, gboolean is_qemu)
{
    Peer *peer = g_new0(Peer, 1);

    peer->console = self;
    peer->socket = g_object_ref(socket);
    peer->pending = g_byte_array_new();
    peer->is_qemu = is_qemu;
    g_socket_set_blocking(socket, FALSE);
    peer_watch(peer);
    return peer;
}

static void
peer_free(Peer *peer)
{
    g_clear_handle_id(&peer->linger_id, g_source_remove);
    if (peer->read_source != NULL) {
        g_source_destroy(peer->read_source);
        g_source_unref(peer->read_source);
    }
    if (peer->write_source != NULL) {
        g_source_destroy(peer->write_source);
        g_source_unref(peer->write_source);
    }
    g_socket_close(peer->socket, NULL);
    g_object_unref(peer->socket);
    g_byte_array_unref(peer->pending);
    g_free(peer);
}

/* What QEMU wrote: into the ring and to every client. */
static void
broadcast(PodvmConsole *self, const guint8 *buf, gsize n)
{
    ring_append(self, buf, n);
    for (guint i = self->clients->len; i > 0; i--) {
        Peer *client = g_ptr_array_index(self->clients, i - 1);
        if (!peer_send(client, buf, n)) {
            g_message("console client of pod '%s' does not read; disconnecting it", self->pod_name);
            g_ptr_array_remove_index(self->clients, i - 1);
        }
    }
    log_check(self, n);
}

/*
 * What QEMU wrote that podvmd has not read yet (the reads are paced, see
 * qemu_throttle), to the clients before they end: when QEMU exits, its
 * last output is still in the socket. At most PODVM_CONSOLE_DRAIN_MAX bytes.
 */
static void
drain_qemu(PodvmConsole *self)
{
    gsize total = 0;

    while (self->qemu != NULL && total < PODVM_CONSOLE_DRAIN_MAX) {
        gssize n = g_socket_receive_with_blocking(self->qemu->socket, (char *)self->buffer,
                                                  PODVM_CONSOLE_READ_CHUNK, FALSE, NULL, NULL);

        if (n <= 0)
            break;
        broadcast(self, self->buffer, (gsize)n);
        total += (gsize)n;
    }
}

static gboolean
peer_readable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    Peer *peer = user_data;
    PodvmConsole *self = peer->console;
    g_autoptr(GError) error = NULL;
    guint8 *buf = self->buffer;
    gssize n;

    /* Clients write little (typing): a small read is enough for them. */
    n = g_socket_receive_with_blocking(
        socket, (char *)buf, peer->is_qemu ? PODVM_CONSOLE_READ_CHUNK : 4096, FALSE, NULL, &error);
    if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        /* The source is destroyed by peer_free(); keep it alive until then. */
        g_clear_pointer(&peer->read_source, g_source_unref);
        drop_peer(self, peer);
        return G_SOURCE_REMOVE;
    }

    if (peer->is_qemu) {
        broadcast(self, buf, (gsize)n);
        qemu_throttle(self, (gsize)n);
        return G_SOURCE_REMOVE;
    } else if (self->qemu != NULL) {
        if (!peer_send(self->qemu, buf, (gsize)n))
            g_message("console input for pod '%s' dropped: the guest is not reading",
                      self->pod_name);
    }
    return G_SOURCE_CONTINUE;
}

static void
podvm_console_finalize(GObject *object)
{
    PodvmConsole *self = PODVM_CONSOLE(object);

    podvm_console_disconnect(self);
    g_ptr_array_unref(self->clients);
    g_free(self->ring);
    g_free(self->buffer);
    g_free(self->log_path);
    g_free(self->pod_name);
    G_OBJECT_CLASS(podvm_console_parent_class)->finalize(object);
}

static void
podvm_console_class_init(PodvmConsoleClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = podvm_console_finalize;
}

static void
podvm_console_init(PodvmConsole *self)
{
    self->clients = g_ptr_array_new_with_free_func((GDestroyNotify)peer_free);
    self->ring = g_malloc(PODVM_CONSOLE_RING_SIZE);
    self->buffer = g_malloc(PODVM_CONSOLE_READ_CHUNK);
}

PodvmConsole *
podvm_console_new(const char *pod_name)
{
    PodvmConsole *self = g_object_new(PODVM_TYPE_CONSOLE, NULL);

    self->pod_name = g_strdup(pod_name);
    return self;
}

void
podvm_console_set_limits(PodvmConsole *self, const PodvmConfig *config)
{
    self->log_max_bytes = config->console_log_max_bytes;
    self->log_keep = config->console_log_keep;
    self->max_rate = config->console_max_rate;
}

PodvmConsole *
podvm_console_new_for_pod(const char *pod_name, const char *log_path, const PodvmConfig *config)
{
    PodvmConsole *self = podvm_console_new(pod_name);

    self->log_path = g_strdup(log_path);
    podvm_console_set_limits(self, config);
    /* A log that grew while podvmd was away is cut down at once. */
    self->since_rotate_check = G_MAXSIZE / 2;
    return self;
}

static void
connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmConsole *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) connection = NULL;

    connection = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);
    if (connection == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    podvm_console_disconnect(self);
    /* The GSocketConnection is only a wrapper: keep the GSocket. */
    self->qemu = peer_new(self, g_socket_connection_get_socket(connection), TRUE);
    g_task_return_boolean(task, TRUE);
}

void
podvm_console_connect_async(PodvmConsole *self, const char *socket_path, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);
    GTask *task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_source_tag(task, podvm_console_connect_async);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(address), cancellable, connect_cb,
                                  task);
}

gboolean
podvm_console_connect_finish(PodvmConsole *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
podvm_console_disconnect(PodvmConsole *self)
{
    g_clear_handle_id(&self->resume_id, g_source_remove);
    drain_qemu(self);
    end_clients(self);
    g_clear_pointer(&self->qemu, peer_free);
}

int
podvm_console_open_client(PodvmConsole *self, gboolean replay, GError **error)
{
    g_autoptr(GSocket) ours = NULL;
    int fds[2];
    Peer *peer;

    if (self->qemu == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("pod '%s' has no console: it is not running"), self->pod_name);
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create a console socket: %s"),
                    g_strerror(saved));
        return -1;
    }
    ours = g_socket_new_from_fd(fds[0], error);
    if (ours == NULL) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    peer = peer_new(self, ours, FALSE);
    g_ptr_array_add(self->clients, peer);
    if (replay && self->ring_len > 0) {
        gsize first = MIN(self->ring_len, PODVM_CONSOLE_RING_SIZE - self->ring_start);
        peer_send(peer, self->ring + self->ring_start, first);
        peer_send(peer, self->ring, self->ring_len - first);
    }
    return fds[1];
}

guint
podvm_console_get_n_clients(PodvmConsole *self)
{
    return self->clients->len;
}

static char *
rotated_name(const char *log_path, guint i)
{
    return g_strdup_printf("%s.%u", log_path, i);
}

static gboolean
io_failed(GError **error, const char *what, const char *path)
{
    int saved = errno;

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot %s '%s': %s"), what, path,
                g_strerror(saved));
    return FALSE;
}

gboolean
podvm_console_rotate_log(const char *log_path, guint64 max_bytes, guint keep, GError **error)
{
    g_autofree char *first = rotated_name(log_path, 1);
    g_autofree char *tmp = g_strconcat(first, ".tmp", NULL);
    g_autofree guint8 *buffer = NULL;
    struct stat st;
    off_t offset;
    int fd, out;

    if (lstat(log_path, &st) != 0 || !S_ISREG(st.st_mode) || (guint64)st.st_size <= max_bytes)
        return FALSE;
    fd = open(log_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return io_failed(error, "open", log_path);
    for (guint i = keep; i > 1; i--) {
        g_autofree char *from = rotated_name(log_path, i - 1);
        g_autofree char *to = rotated_name(log_path, i);

        if (rename(from, to) != 0 && errno != ENOENT) {
            io_failed(error, "rename", from);
            close(fd);
            return FALSE;
        }
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        io_failed(error, "create", tmp);
        close(fd);
        return FALSE;
    }
    /* The newest max_bytes go to LOG.1: up to the end as it is now (QEMU still appends). */
    buffer = g_malloc(64 * 1024);
    offset = st.st_size - (off_t)max_bytes;
    for (;;) {
        ssize_t n = pread(fd, buffer, 64 * 1024, offset);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (write(out, buffer, (size_t)n) != n) {
            io_failed(error, "write", tmp);
            close(out);
            g_unlink(tmp);
            close(fd);
            return FALSE;
        }
        offset += n;
    }
    close(out);
    if (rename(tmp, first) != 0) {
        io_failed(error, "rename", tmp);
        g_unlink(tmp);
        close(fd);
        return FALSE;
    }
    /* QEMU appends (O_APPEND): it goes on at the new end. */
    if (ftruncate(fd, 0) != 0) {
        io_failed(error, "truncate", log_path);
        close(fd);
        return FALSE;
    }
    close(fd);
    return TRUE;
}
