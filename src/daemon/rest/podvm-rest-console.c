/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /v1/pods/NAME/console: the serial console as a WebSocket.
 */
#include "podvm-rest-private.h"
#include "podvm-ws-bound.h"

#include <unistd.h>

/* ---- the console WebSocket ---------------------------------------------------------- */

/* Input from the client waiting to reach the console, and one message of it, at most. */
#define CONSOLE_MAX_PENDING (1024 * 1024)

/*
 * One console WebSocket: bytes from the pod's serial console go out as
 * binary messages; messages (text or binary) from the client go to the
 * console. Each pending read or write holds a reference.
 */
struct _PodvmRestConsole {
    PodvmRestFront *front; /* unowned */
    char *pod_name;
    SoupWebsocketConnection *ws;
    GIOStream *console;
    GCancellable *cancellable;
    GQueue pending; /* GBytes* for the console */
    gsize pending_size;
    gboolean writing;
    gboolean closed;
    gulong message_id;
    gulong closed_id;
    GSocket *socket;   /* the client's, to see whether it reads */
    GSource *writable; /* waits for the client to read before reading more */
    guint stall_timer; /* looks whether the client's socket takes data */
    gint64 stalled_since;
    char buffer[16 * 1024];
};
typedef PodvmRestConsole Console;

/* A console client whose socket takes nothing for this long is closed. */
#define CONSOLE_STALL_S 10

static void
console_clear(Console *console)
{
    g_queue_clear_full(&console->pending, (GDestroyNotify)g_bytes_unref);
    if (console->writable != NULL)
        g_source_destroy(console->writable);
    g_clear_pointer(&console->writable, g_source_unref);
    g_clear_handle_id(&console->stall_timer, g_source_remove);
    g_clear_object(&console->socket);
    g_clear_object(&console->cancellable);
    g_clear_object(&console->console);
    g_clear_object(&console->ws);
    g_free(console->pod_name);
}

void
podvm_rest_console_release(Console *console)
{
    g_rc_box_release_full(console, (GDestroyNotify)console_clear);
}

/* Ends both sides once; the front drops its reference. */
void
podvm_rest_console_end(Console *console, const char *why)
{
    if (console->closed)
        return;
    console->closed = TRUE;
    g_debug("REST: console of pod '%s' closed: %s", console->pod_name, why);
    g_cancellable_cancel(console->cancellable);
    if (console->writable != NULL) {
        g_source_destroy(console->writable);
        g_clear_pointer(&console->writable, g_source_unref);
    }
    g_clear_handle_id(&console->stall_timer, g_source_remove);
    g_clear_signal_handler(&console->message_id, console->ws);
    g_clear_signal_handler(&console->closed_id, console->ws);
    if (soup_websocket_connection_get_state(console->ws) == SOUP_WEBSOCKET_STATE_OPEN) {
        /* Alive until the closing handshake is over (libsoup bounds it in time). */
        g_signal_connect(g_object_ref(console->ws), "closed", G_CALLBACK(g_object_unref), NULL);
        soup_websocket_connection_close(console->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, why);
    }
    g_io_stream_close(console->console, NULL, NULL);
    /* Frees through podvm_rest_console_release (the array's reference). */
    g_ptr_array_remove_fast(console->front->consoles, console);
}

static void console_read(Console *console);

/* The client took some of what waits for it: read on. */
static gboolean
console_writable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    Console *console = user_data;

    g_clear_pointer(&console->writable, g_source_unref);
    if (!console->closed)
        console_read(console);
    return G_SOURCE_REMOVE;
}

/*
 * Every CONSOLE_STALL_S / 2: a client whose socket took nothing for
 * CONSOLE_STALL_S is closed, whatever waits for it (the guest's output, or
 * libsoup's answers to its pings).
 */
static gboolean
console_stall_check_cb(gpointer user_data)
{
    Console *console = user_data;
    gint64 now = g_get_monotonic_time();

    if ((g_socket_condition_check(console->socket, G_IO_OUT) & G_IO_OUT) != 0) {
        console->stalled_since = 0;
        return G_SOURCE_CONTINUE;
    }
    if (console->stalled_since == 0) {
        console->stalled_since = now;
        return G_SOURCE_CONTINUE;
    }
    if (now - console->stalled_since < CONSOLE_STALL_S * G_USEC_PER_SEC)
        return G_SOURCE_CONTINUE;
    console->stall_timer = 0;
    g_message("REST: closing the console of pod '%s': its client does not read", console->pod_name);
    podvm_rest_console_end(console, "the client does not read");
    return G_SOURCE_REMOVE;
}

/*
 * The guest's output goes on only while the client's socket takes it:
 * else libsoup would queue it without bound. Meanwhile the console's
 * socket fills, and the console drops this client once it is far enough
 * behind, or console_stall_check_cb() closes it.
 */
static void
console_read_when_writable(Console *console)
{
    /* The client closed (and libsoup its socket) while output came: nothing waits for it. */
    if (console->socket != NULL && g_socket_is_closed(console->socket)) {
        podvm_rest_console_end(console, "the client's connection is closed");
        return;
    }
    if (console->socket == NULL ||
        (g_socket_condition_check(console->socket, G_IO_OUT) & G_IO_OUT) != 0) {
        console_read(console);
        return;
    }
    console->writable = g_socket_create_source(console->socket, G_IO_OUT, NULL);
    g_source_set_callback(console->writable, G_SOURCE_FUNC(console_writable_cb), console, NULL);
    g_source_attach(console->writable, NULL);
}

static void
console_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Console *console = user_data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (!console->closed) {
        if (n > 0) {
            /* While the client closes, its output is dropped (the close ends us soon). */
            if (soup_websocket_connection_get_state(console->ws) == SOUP_WEBSOCKET_STATE_OPEN)
                soup_websocket_connection_send_binary(console->ws, console->buffer, (gsize)n);
            console_read_when_writable(console);
        } else {
            podvm_rest_console_end(console, n == 0 ? "the console ended" : error->message);
        }
    }
    podvm_rest_console_release(console);
}

static void
console_read(Console *console)
{
    g_input_stream_read_async(g_io_stream_get_input_stream(console->console), console->buffer,
                              sizeof console->buffer, G_PRIORITY_DEFAULT, console->cancellable,
                              console_read_cb, g_rc_box_acquire(console));
}

static void console_write_next(Console *console);

static void
console_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Console *console = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) done = NULL;

    console->writing = FALSE;
    if (!console->closed) {
        if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
            podvm_rest_console_end(console, error->message);
        } else {
            done = g_queue_pop_head(&console->pending);
            console->pending_size -= g_bytes_get_size(done);
            console_write_next(console);
        }
    }
    podvm_rest_console_release(console);
}

static void
console_write_next(Console *console)
{
    GBytes *next = g_queue_peek_head(&console->pending);
    gsize size = 0;
    const void *data;

    if (console->writing || next == NULL)
        return;
    data = g_bytes_get_data(next, &size);
    console->writing = TRUE;
    g_output_stream_write_all_async(g_io_stream_get_output_stream(console->console), data, size,
                                    G_PRIORITY_DEFAULT, console->cancellable, console_written_cb,
                                    g_rc_box_acquire(console));
}

static void
console_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
    Console *console = user_data;
    gsize size = g_bytes_get_size(message);

    if (size == 0)
        return;
    if (console->pending_size + size > CONSOLE_MAX_PENDING) {
        /* The guest does not read its console: refuse to buffer without bound. */
        podvm_rest_console_end(console, "the client sends faster than the console takes");
        return;
    }
    g_queue_push_tail(&console->pending, g_bytes_ref(message));
    console->pending_size += size;
    console_write_next(console);
}

static void
console_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
    podvm_rest_console_end(user_data, "the client closed the WebSocket");
}

static void console_upgraded_cb(SoupServerMessage *msg, gpointer user_data);

/* The client went away before the upgrade: the console is not needed. */
static void
console_unused_cb(SoupServerMessage *msg, gpointer user_data)
{
    Console *console = user_data;

    g_signal_handlers_disconnect_by_func(msg, console_upgraded_cb, console);
    g_signal_handlers_disconnect_by_func(msg, console_unused_cb, console);
    g_io_stream_close(console->console, NULL, NULL);
    podvm_rest_console_release(console);
}

/* The 101 answer is out: the connection is ours now. */
static void
console_upgraded_cb(SoupServerMessage *msg, gpointer user_data)
{
    Console *console = user_data;
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GIOStream) bounded = NULL;

    /* Ours from now on: no idle deadline of the HTTP connection applies. */
    g_object_set_data(G_OBJECT(msg), "podvm-rest-stolen", GINT_TO_POINTER(1));
    podvm_rest_deadline_disarm(msg);
    g_signal_handlers_disconnect_by_func(msg, console_upgraded_cb, console);
    g_signal_handlers_disconnect_by_func(msg, console_unused_cb, console);
    if (soup_server_message_get_socket(msg) != NULL)
        console->socket = g_object_ref(soup_server_message_get_socket(msg));
    stream = soup_server_message_steal_connection(msg);
    if (stream == NULL) {
        g_io_stream_close(console->console, NULL, NULL);
        podvm_rest_console_release(console);
        return;
    }
    bounded = podvm_ws_bound_new(stream, CONSOLE_MAX_PENDING);
    console->ws = soup_websocket_connection_new(
        bounded, soup_server_message_get_uri(msg), SOUP_WEBSOCKET_CONNECTION_SERVER,
        soup_message_headers_get_one(headers, "Origin"), NULL, NULL);
    podvm_ws_bound_set_connection(bounded, console->ws);
    console->cancellable = g_cancellable_new();
    console->message_id =
        g_signal_connect(console->ws, "message", G_CALLBACK(console_message_cb), console);
    console->closed_id =
        g_signal_connect(console->ws, "closed", G_CALLBACK(console_closed_cb), console);
    /* The reference of the handshake goes to the front's list. */
    g_ptr_array_add(console->front->consoles, console);
    if (console->socket != NULL)
        console->stall_timer =
            g_timeout_add_seconds(CONSOLE_STALL_S / 2, console_stall_check_cb, console);
    console_read(console);
}

void
podvm_rest_handle_console(Request *req)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket = NULL;
    gboolean replay;
    Console *console;
    int fd;

    if (!podvm_rest_query_boolean(req, "replay", TRUE, &replay) || !podvm_rest_lookup_pod(req))
        return;
    if (!soup_websocket_server_check_handshake(req->msg, NULL, NULL, NULL, &error)) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("the console is a WebSocket; this request is no WebSocket "
                                       "handshake: %s"),
                                     error->message);
        return;
    }
    fd = podvm_pod_open_console(req->pod, replay, &error);
    if (fd < 0) {
        podvm_rest_respond_error(req, error);
        return;
    }
    socket = g_socket_new_from_fd(fd, &error);
    if (socket == NULL) {
        close(fd);
        podvm_rest_respond_error(req, error);
        return;
    }
    if (!soup_websocket_server_process_handshake(req->msg, NULL, NULL, NULL, NULL))
        return; /* the answer (400) is set */
    console = g_rc_box_new0(Console);
    console->front = req->front;
    console->pod_name = g_strdup(req->name);
    console->console = G_IO_STREAM(g_socket_connection_factory_create_connection(socket));
    g_signal_connect(req->msg, "wrote-informational", G_CALLBACK(console_upgraded_cb), console);
    g_signal_connect(req->msg, "finished", G_CALLBACK(console_unused_cb), console);
}
