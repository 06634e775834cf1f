/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-relay.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-error.h"

#define BUFFER_SIZE (64 * 1024)

/*
 * One direction: read from @from into the buffer, write it all to @to,
 * again, until @from ends (then @to's writing side is shut down) or
 * something fails. Each pending read or write holds a reference on the
 * relay, so a relay freed by its owner meanwhile stays valid until the
 * cancelled operations come back.
 */
typedef struct {
    PodvmRelay *relay;
    GIOStream *from;
    GIOStream *to;
    guint8 *buffer;
    guint64 bytes;
    gboolean ended; /* @from reached its end and @to was shut down */
} Direction;

struct _PodvmRelay {
    gint refs;
    guint pending;    /* reads and writes under way */
    gboolean closing; /* ended: the streams close once nothing is pending */
    Direction a_to_b;
    Direction b_to_a;
    GCancellable *cancellable;
    gint64 last_progress_us;
    gboolean open;
    PodvmRelayDone done;
    gpointer user_data;
};

static PodvmRelay *
relay_ref(PodvmRelay *relay)
{
    relay->refs++;
    return relay;
}

static void
relay_unref(PodvmRelay *relay)
{
    if (--relay->refs > 0)
        return;
    g_object_unref(relay->a_to_b.from);
    g_object_unref(relay->b_to_a.from);
    g_free(relay->a_to_b.buffer);
    g_free(relay->b_to_a.buffer);
    g_object_unref(relay->cancellable);
    g_free(relay);
}

static void
closed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_io_stream_close_finish(G_IO_STREAM(source), result, NULL);
}

/*
 * The streams close once their cancelled reads and writes came back (a
 * stream does not close under a pending operation), asynchronously: a TLS
 * stream says goodbye on close, and not on the caller's time.
 */
static void
relay_close_streams(PodvmRelay *relay)
{
    if (!relay->closing || relay->pending > 0)
        return;
    relay->closing = FALSE;
    g_io_stream_close_async(relay->a_to_b.from, G_PRIORITY_DEFAULT, NULL, closed_cb, NULL);
    g_io_stream_close_async(relay->b_to_a.from, G_PRIORITY_DEFAULT, NULL, closed_cb, NULL);
}

/* An operation came back: drops its reference, closes the streams when it was the last. */
static void
relay_op_done(PodvmRelay *relay)
{
    relay->pending--;
    relay_close_streams(relay);
    relay_unref(relay);
}

static void
relay_op_start(PodvmRelay *relay)
{
    relay->pending++;
    relay_ref(relay);
}

/* Closes both streams, reports @why and runs @done once. */
static void
relay_end(PodvmRelay *relay, const GError *why)
{
    PodvmRelayDone done = relay->done;

    if (!relay->open)
        return;
    relay->open = FALSE;
    relay->done = NULL;
    relay->closing = TRUE;
    g_cancellable_cancel(relay->cancellable);
    relay_close_streams(relay);
    if (done != NULL) {
        relay_ref(relay);
        done(relay, why, relay->user_data);
        relay_unref(relay);
    }
}

static void direction_read(Direction *direction);

static void
direction_fail(Direction *direction, const GError *error, const char *what)
{
    PodvmRelay *relay = direction->relay;
    g_autoptr(GError) why = NULL;

    if (!relay->open)
        return;
    why =
        g_error_new(PODVM_ERROR,
                    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? PODVM_ERROR_CANCELLED
                                                                             : PODVM_ERROR_IO,
                    "%s: %s", what, error->message);
    relay_end(relay, why);
}

/*
 * The stream whose writing side carries the bytes on the wire: a wrapper
 * (libsoup's stolen SoupIOStream, GSocketClient's GTcpWrapperConnection)
 * is followed through its "base-iostream" or "base-io-stream" down to a
 * TLS connection or a plain socket connection.
 */
static GIOStream *
wire_stream(GIOStream *stream)
{
    for (guint depth = 0; depth < 8; depth++) {
        GObjectClass *klass = G_OBJECT_GET_CLASS(stream);
        const char *property = NULL;
        GIOStream *base = NULL;

        if (G_IS_TLS_CONNECTION(stream))
            return stream;
        if (g_object_class_find_property(klass, "base-iostream") != NULL)
            property = "base-iostream";
        else if (g_object_class_find_property(klass, "base-io-stream") != NULL)
            property = "base-io-stream";
        if (property == NULL)
            return stream;
        g_object_get(stream, property, &base, NULL);
        if (base == NULL)
            return stream;
        /* The wrapper holds it: the borrowed pointer stays valid. */
        g_object_unref(base);
        stream = base;
    }
    return stream;
}

/*
 * Nothing more comes from @from: @to hears the end too (its writing side
 * shut down, its reading side still open), and when both ways ended the
 * relay ends cleanly. A plain socket is shut down for writing; a TLS
 * connection's output is closed (it sends close_notify and keeps reading);
 * closing the output of a wrapper or of a GSocketConnection alone would
 * send nothing.
 */
static void
direction_shutdown(Direction *direction)
{
    PodvmRelay *relay = direction->relay;
    GIOStream *wire = wire_stream(direction->to);
    g_autoptr(GError) error = NULL;

    direction->ended = TRUE;
    if (G_IS_SOCKET_CONNECTION(wire)) {
        GSocket *socket = g_socket_connection_get_socket(G_SOCKET_CONNECTION(wire));

        if (!g_socket_shutdown(socket, FALSE, TRUE, &error) &&
            !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED)) {
            direction_fail(direction, error, _("cannot shut down the relay's stream"));
            return;
        }
    } else {
        g_output_stream_close_async(g_io_stream_get_output_stream(wire), G_PRIORITY_DEFAULT, NULL,
                                    NULL, NULL);
    }
    if (relay->a_to_b.ended && relay->b_to_a.ended)
        relay_end(relay, NULL);
}

static void
direction_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Direction *direction = user_data;
    PodvmRelay *relay = direction->relay;
    g_autoptr(GError) error = NULL;
    gsize written = 0;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, &written, &error)) {
        direction_fail(direction, error, _("cannot write to the relay's stream"));
    } else if (relay->open) {
        direction->bytes += written;
        relay->last_progress_us = g_get_monotonic_time();
        direction_read(direction);
    }
    relay_op_done(relay);
}

static void
direction_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Direction *direction = user_data;
    PodvmRelay *relay = direction->relay;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (n < 0) {
        direction_fail(direction, error, _("cannot read from the relay's stream"));
    } else if (!relay->open) {
        /* Closed meanwhile: nothing more to do. */
    } else if (n == 0) {
        direction_shutdown(direction);
    } else {
        relay->last_progress_us = g_get_monotonic_time();
        relay_op_start(relay);
        g_output_stream_write_all_async(g_io_stream_get_output_stream(direction->to),
                                        direction->buffer, (gsize)n, G_PRIORITY_DEFAULT,
                                        relay->cancellable, direction_written_cb, direction);
    }
    relay_op_done(relay);
}

static void
direction_read(Direction *direction)
{
    PodvmRelay *relay = direction->relay;

    relay_op_start(relay);
    g_input_stream_read_async(g_io_stream_get_input_stream(direction->from), direction->buffer,
                              BUFFER_SIZE, G_PRIORITY_DEFAULT, relay->cancellable,
                              direction_read_cb, direction);
}

PodvmRelay *
podvm_relay_new(GIOStream *a, GIOStream *b, PodvmRelayDone done, gpointer user_data)
{
    PodvmRelay *relay = g_new0(PodvmRelay, 1);

    g_return_val_if_fail(G_IS_IO_STREAM(a) && G_IS_IO_STREAM(b), NULL);
    relay->refs = 1;
    relay->open = TRUE;
    relay->done = done;
    relay->user_data = user_data;
    relay->cancellable = g_cancellable_new();
    relay->last_progress_us = g_get_monotonic_time();
    relay->a_to_b = (Direction){
        .relay = relay, .from = g_object_ref(a), .to = b, .buffer = g_malloc(BUFFER_SIZE)
    };
    relay->b_to_a = (Direction){
        .relay = relay, .from = g_object_ref(b), .to = a, .buffer = g_malloc(BUFFER_SIZE)
    };
    direction_read(&relay->a_to_b);
    direction_read(&relay->b_to_a);
    return relay;
}

void
podvm_relay_close(PodvmRelay *relay)
{
    g_autoptr(GError) why = NULL;

    if (relay == NULL || !relay->open)
        return;
    why = g_error_new_literal(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("the relay was closed"));
    relay_end(relay, why);
}

void
podvm_relay_free(PodvmRelay *relay)
{
    if (relay == NULL)
        return;
    podvm_relay_close(relay);
    relay_unref(relay);
}

guint64
podvm_relay_bytes_a_to_b(PodvmRelay *relay)
{
    return relay->a_to_b.bytes;
}

guint64
podvm_relay_bytes_b_to_a(PodvmRelay *relay)
{
    return relay->b_to_a.bytes;
}

gint64
podvm_relay_last_progress_us(PodvmRelay *relay)
{
    return relay->last_progress_us;
}

gboolean
podvm_relay_is_open(PodvmRelay *relay)
{
    return relay->open;
}

gboolean
podvm_relay_socketpair(GSocket **out_qemu_end, GIOStream **out_our_end, GError **error)
{
    g_autoptr(GSocket) qemu_end = NULL;
    g_autoptr(GSocket) our_end = NULL;
    g_autoptr(GError) local = NULL;
    int fds[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot make a socket pair: %s"),
                    g_strerror(saved));
        return FALSE;
    }
    qemu_end = g_socket_new_from_fd(fds[0], &local);
    if (qemu_end == NULL) {
        close(fds[0]);
        close(fds[1]);
        g_propagate_error(error, podvm_error_from_component(local));
        return FALSE;
    }
    our_end = g_socket_new_from_fd(fds[1], &local);
    if (our_end == NULL) {
        close(fds[1]);
        g_propagate_error(error, podvm_error_from_component(local));
        return FALSE;
    }
    *out_qemu_end = g_steal_pointer(&qemu_end);
    *out_our_end = G_IO_STREAM(g_socket_connection_factory_create_connection(our_end));
    return TRUE;
}
