/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-ws-bound.h"

/* ---- the input: client frames, their headers read as they pass ---------------------- */

#define BOUND_TYPE_INPUT (bound_input_get_type())
G_DECLARE_FINAL_TYPE(BoundInput, bound_input, BOUND, INPUT, GFilterInputStream)

struct _BoundInput {
    GFilterInputStream parent_instance;
    GPollableOutputStream *output; /* the client's, to see whether it reads (owned) */
    GWeakRef ws;                   /* the SoupWebsocketConnection reading us */
    guint64 max_message;
    guint8 header[14]; /* the frame header being read */
    guint header_len;
    guint header_want;
    guint64 payload_left; /* of the frame being passed */
    guint64 message_size; /* payload of the unfinished data message so far */
    gboolean too_big;     /* the client passed the bound: reads fail from now on */
};

static void bound_input_pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE(BoundInput, bound_input, G_TYPE_FILTER_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                              bound_input_pollable_init))

static guint64
header_payload_length(const guint8 *header)
{
    guint64 length = header[1] & 0x7f;

    if (length == 126)
        return ((guint64)header[2] << 8) | header[3];
    if (length == 127) {
        length = 0;
        for (guint i = 2; i < 10; i++)
            length = (length << 8) | header[i];
    }
    return length;
}

/*
 * Follows the frames in @data: returns how much of it may pass, all of it
 * unless a data frame makes its message larger than the bound (then what
 * comes before that frame's header, and too_big is set).
 */
static gsize
bound_input_scan(BoundInput *self, const guint8 *data, gsize n)
{
    gsize i = 0;
    gsize frame_start = 0;

    while (i < n) {
        guint64 length;
        guint8 opcode;

        if (self->payload_left > 0) {
            guint64 skip = MIN(self->payload_left, (guint64)(n - i));

            self->payload_left -= skip;
            i += (gsize)skip;
            continue;
        }
        if (self->header_len == 0)
            frame_start = i;
        self->header[self->header_len++] = data[i++];
        if (self->header_len == 2) {
            guint length7 = self->header[1] & 0x7f;

            self->header_want = 2 +
                                (length7 == 126   ? 2
                                 : length7 == 127 ? 8
                                                  : 0) +
                                ((self->header[1] & 0x80) != 0 ? 4 : 0);
        }
        if (self->header_len < 2 || self->header_len < self->header_want)
            continue;
        length = header_payload_length(self->header);
        opcode = self->header[0] & 0x0f;
        self->header_len = 0;
        self->payload_left = length;
        if ((opcode & 0x08) != 0)
            continue; /* a control frame: libsoup bounds those to 125 bytes */
        if (opcode != 0)
            self->message_size = 0; /* a new message (libsoup refuses one out of order) */
        if (length > self->max_message - self->message_size) {
            self->too_big = TRUE;
            return frame_start;
        }
        self->message_size += length;
        if ((self->header[0] & 0x80) != 0)
            self->message_size = 0; /* its last fragment */
    }
    return n;
}

static void
bound_input_fail(BoundInput *self, GError **error)
{
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "message too big");
}

/* The client passed the bound: 1009 goes out, and the next read fails (libsoup closes then). */
static void
bound_input_too_big(BoundInput *self)
{
    g_autoptr(SoupWebsocketConnection) ws = g_weak_ref_get(&self->ws);

    g_message("REST: closing a WebSocket: its client sent a message of more than %" G_GUINT64_FORMAT
              " bytes",
              self->max_message);
    if (ws != NULL && soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
}

static gboolean
bound_input_client_reads(BoundInput *self)
{
    return g_pollable_output_stream_is_writable(self->output);
}

static GPollableInputStream *
bound_input_base(BoundInput *self)
{
    return G_POLLABLE_INPUT_STREAM(
        g_filter_input_stream_get_base_stream(G_FILTER_INPUT_STREAM(self)));
}

static gssize
bound_input_read_nonblocking(GPollableInputStream *stream, void *buffer, gsize count,
                             GError **error)
{
    BoundInput *self = BOUND_INPUT(stream);
    gssize n;
    gsize allowed;

    if (self->too_big) {
        bound_input_fail(self, error);
        return -1;
    }
    /* Back-pressure: nothing is read (pings answered) while the client reads nothing. */
    if (!bound_input_client_reads(self)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "the client does not read");
        return -1;
    }
    n = g_pollable_input_stream_read_nonblocking(bound_input_base(self), buffer, count, NULL,
                                                 error);
    if (n <= 0)
        return n;
    allowed = bound_input_scan(self, buffer, (gsize)n);
    if (!self->too_big)
        return n;
    bound_input_too_big(self);
    if (allowed > 0)
        return (gssize)allowed;
    bound_input_fail(self, error);
    return -1;
}

static gboolean
bound_input_is_readable(GPollableInputStream *stream)
{
    BoundInput *self = BOUND_INPUT(stream);

    if (self->too_big)
        return TRUE;
    return bound_input_client_reads(self) &&
           g_pollable_input_stream_is_readable(bound_input_base(self));
}

static gboolean
bound_input_can_poll(GPollableInputStream *stream)
{
    return TRUE;
}

/* Waits for input, or for the client to read when it does not. */
static GSource *
bound_input_create_source(GPollableInputStream *stream, GCancellable *cancellable)
{
    BoundInput *self = BOUND_INPUT(stream);
    g_autoptr(GSource) child = NULL;

    if (self->too_big)
        child = g_idle_source_new();
    else if (!bound_input_client_reads(self))
        child = g_pollable_output_stream_create_source(self->output, NULL);
    else
        child = g_pollable_input_stream_create_source(bound_input_base(self), NULL);
    return g_pollable_source_new_full(stream, child, cancellable);
}

static gssize
bound_input_read(GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                 GError **error)
{
    BoundInput *self = BOUND_INPUT(stream);
    gssize n;
    gsize allowed;

    if (self->too_big) {
        bound_input_fail(self, error);
        return -1;
    }
    n = g_input_stream_read(G_INPUT_STREAM(bound_input_base(self)), buffer, count, cancellable,
                            error);
    if (n <= 0)
        return n;
    allowed = bound_input_scan(self, buffer, (gsize)n);
    if (!self->too_big)
        return n;
    bound_input_too_big(self);
    if (allowed > 0)
        return (gssize)allowed;
    bound_input_fail(self, error);
    return -1;
}

static void
bound_input_finalize(GObject *object)
{
    BoundInput *self = BOUND_INPUT(object);

    g_clear_object(&self->output);
    g_weak_ref_clear(&self->ws);
    G_OBJECT_CLASS(bound_input_parent_class)->finalize(object);
}

static void
bound_input_class_init(BoundInputClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = bound_input_finalize;
    G_INPUT_STREAM_CLASS(klass)->read_fn = bound_input_read;
}

static void
bound_input_pollable_init(GPollableInputStreamInterface *iface)
{
    iface->can_poll = bound_input_can_poll;
    iface->is_readable = bound_input_is_readable;
    iface->create_source = bound_input_create_source;
    iface->read_nonblocking = bound_input_read_nonblocking;
}

static void
bound_input_init(BoundInput *self)
{
    g_weak_ref_init(&self->ws, NULL);
}

/* ---- the stream: the bounded input, the client's output ----------------------------- */

struct _PodvmWsBound {
    GIOStream parent_instance;
    GIOStream *base;   /* owned */
    BoundInput *input; /* owned */
};

G_DEFINE_TYPE(PodvmWsBound, podvm_ws_bound, G_TYPE_IO_STREAM)

static GInputStream *
podvm_ws_bound_get_input_stream(GIOStream *stream)
{
    return G_INPUT_STREAM(PODVM_WS_BOUND(stream)->input);
}

static GOutputStream *
podvm_ws_bound_get_output_stream(GIOStream *stream)
{
    return g_io_stream_get_output_stream(PODVM_WS_BOUND(stream)->base);
}

static gboolean
podvm_ws_bound_close(GIOStream *stream, GCancellable *cancellable, GError **error)
{
    PodvmWsBound *self = PODVM_WS_BOUND(stream);

    g_input_stream_close(G_INPUT_STREAM(self->input), NULL, NULL);
    return g_io_stream_close(self->base, cancellable, error);
}

/* Closing a socket does not block: no thread (GIOStream's default) for it. */
static void
podvm_ws_bound_close_async(GIOStream *stream, int io_priority, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(stream, cancellable, callback, user_data);
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_ws_bound_close_async);
    if (podvm_ws_bound_close(stream, cancellable, &error))
        g_task_return_boolean(task, TRUE);
    else
        g_task_return_error(task, error);
}

static gboolean
podvm_ws_bound_close_finish(GIOStream *stream, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void
podvm_ws_bound_finalize(GObject *object)
{
    PodvmWsBound *self = PODVM_WS_BOUND(object);

    g_clear_object(&self->input);
    g_clear_object(&self->base);
    G_OBJECT_CLASS(podvm_ws_bound_parent_class)->finalize(object);
}

static void
podvm_ws_bound_class_init(PodvmWsBoundClass *klass)
{
    GIOStreamClass *stream_class = G_IO_STREAM_CLASS(klass);

    G_OBJECT_CLASS(klass)->finalize = podvm_ws_bound_finalize;
    stream_class->get_input_stream = podvm_ws_bound_get_input_stream;
    stream_class->get_output_stream = podvm_ws_bound_get_output_stream;
    stream_class->close_fn = podvm_ws_bound_close;
    stream_class->close_async = podvm_ws_bound_close_async;
    stream_class->close_finish = podvm_ws_bound_close_finish;
}

static void
podvm_ws_bound_init(PodvmWsBound *self)
{
}

GIOStream *
podvm_ws_bound_new(GIOStream *base, guint64 max_message)
{
    GInputStream *in = g_io_stream_get_input_stream(base);
    GOutputStream *out = g_io_stream_get_output_stream(base);
    PodvmWsBound *self;

    g_return_val_if_fail(max_message > 0, NULL);
    if (!G_IS_POLLABLE_INPUT_STREAM(in) ||
        !g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(in)) ||
        !G_IS_POLLABLE_OUTPUT_STREAM(out) ||
        !g_pollable_output_stream_can_poll(G_POLLABLE_OUTPUT_STREAM(out)))
        return g_object_ref(base);
    self = g_object_new(PODVM_TYPE_WS_BOUND, NULL);
    self->base = g_object_ref(base);
    self->input =
        g_object_new(BOUND_TYPE_INPUT, "base-stream", in, "close-base-stream", FALSE, NULL);
    self->input->output = G_POLLABLE_OUTPUT_STREAM(g_object_ref(out));
    self->input->max_message = max_message;
    return G_IO_STREAM(self);
}

void
podvm_ws_bound_set_connection(GIOStream *stream, SoupWebsocketConnection *ws)
{
    if (PODVM_IS_WS_BOUND(stream))
        g_weak_ref_set(&PODVM_WS_BOUND(stream)->input->ws, ws);
}
