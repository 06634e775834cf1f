/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client's byte I/O: the write queue (one line at a time, a line
 * with file descriptors in one sendmsg()) and the reads, split into lines
 * of at most PODVM_QMP_MAX_LINE bytes, each checked to be plain JSON before
 * json-glib parses it. The reads and writes in flight hold only weak
 * references on the client (see podvm-qmp-client.c).
 */
#include "podvm-qmp-client-private.h"

#include <gio/gunixfdmessage.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Writing */

static void
write_op_free(WriteOp *op)
{
    g_weak_ref_clear(&op->client);
    g_clear_pointer(&op->msg, qmp_client_out_msg_free);
    g_free(op);
}

static void
write_done(PodvmQmpClient *self, WriteOp *op)
{
    write_op_free(op);
    self->writing = FALSE;
}

static void
write_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    WriteOp *op = user_data;
    g_autoptr(PodvmQmpClient) self = g_weak_ref_get(&op->client);
    g_autoptr(GError) error = NULL;
    gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error);

    if (self == NULL || self->state == STATE_CLOSED) {
        write_op_free(op);
        return;
    }
    if (!ok) {
        write_op_free(op);
        qmp_client_io_failed(self, "writing to", error);
        return;
    }
    write_done(self, op);
    qmp_client_write_next(self);
}

static void
write_rest(PodvmQmpClient *self, WriteOp *op)
{
    g_output_stream_write_all_async(self->output, op->msg->data + op->offset,
                                    op->msg->len - op->offset, G_PRIORITY_DEFAULT,
                                    self->io_cancellable, write_cb, op);
}

static void send_with_fds(PodvmQmpClient *self, WriteOp *op);

static gboolean
socket_writable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    WriteOp *op = user_data;
    g_autoptr(PodvmQmpClient) self = g_weak_ref_get(&op->client);

    if (self == NULL || self->state == STATE_CLOSED) {
        write_op_free(op);
        return G_SOURCE_REMOVE;
    }
    send_with_fds(self, op);
    qmp_client_write_next(self);
    return G_SOURCE_REMOVE;
}

/*
 * Sends the whole line with one sendmsg() carrying the fds, so that they arrive with its
 * first byte. Whatever the socket did not take goes out as a plain write.
 */
static void
send_with_fds(PodvmQmpClient *self, WriteOp *op)
{
    g_autoptr(GSocketControlMessage) message = g_unix_fd_message_new_with_fd_list(op->msg->fds);
    GOutputVector vector = { op->msg->data, op->msg->len };
    g_autoptr(GError) error = NULL;
    gsize written = 0;
    GPollableReturn ret;

    ret = g_socket_send_message_with_timeout(self->socket, NULL, &vector, 1, &message, 1,
                                             G_SOCKET_MSG_NONE, 0, &written, self->io_cancellable,
                                             &error);
    if (ret == G_POLLABLE_RETURN_OK) {
        qmp_client_log(self, G_LOG_LEVEL_DEBUG,
                       "sent %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                       " bytes with file descriptors",
                       written, op->msg->len);
        g_clear_object(&op->msg->fds);
        op->offset = written;
        if (op->offset < op->msg->len)
            write_rest(self, op);
        else
            write_done(self, op);
    } else if (ret == G_POLLABLE_RETURN_WOULD_BLOCK) {
        g_autoptr(GSource) source =
            g_socket_create_source(self->socket, G_IO_OUT, self->io_cancellable);

        qmp_client_log(self, G_LOG_LEVEL_DEBUG,
                       "QMP socket full; waiting to send file descriptors");
        g_source_set_callback(source, G_SOURCE_FUNC(socket_writable_cb), op, NULL);
        g_source_attach(source, self->context);
    } else {
        write_op_free(op);
        qmp_client_io_failed(self, "sending file descriptors over", error);
    }
}

void
qmp_client_write_next(PodvmQmpClient *self)
{
    while (!self->writing && self->state != STATE_CLOSED && !g_queue_is_empty(&self->out_queue)) {
        OutMsg *msg = g_queue_pop_head(&self->out_queue);
        WriteOp *op = g_new0(WriteOp, 1);

        if (msg->cmd != NULL) {
            msg->cmd->out = NULL;
            msg->cmd->sent = TRUE;
            msg->cmd = NULL;
        }
        g_weak_ref_init(&op->client, self);
        op->msg = msg;
        self->writing = TRUE;
        if (msg->fds != NULL)
            send_with_fds(self, op);
        else
            write_rest(self, op);
    }
}

/* ------------------------------------------------------------------------ */
/* Reading */

static void
handle_line(PodvmQmpClient *self, const char *line, gsize len)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) error = NULL;
    const char *reason = NULL;
    JsonNode *root;

    while (len > 0 && g_ascii_isspace(line[len - 1]))
        len--;
    while (len > 0 && g_ascii_isspace(line[0])) {
        line++;
        len--;
    }
    if (len == 0)
        return;
    if (!g_utf8_validate_len(line, len, NULL)) {
        qmp_client_protocol_error(self, "QEMU sent a QMP line that is not UTF-8 text");
        return;
    }
    if (!podvm_qmp_check_plain_json(line, len, &reason)) {
        qmp_client_protocol_error(self, "QEMU sent a QMP line that is not plain JSON: %s", reason);
        return;
    }
    qmp_client_log(self, G_LOG_LEVEL_DEBUG, "<<< %.*s", (int)len, line);

    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, line, (gssize)len, &error)) {
        g_autofree char *printable = qmp_client_excerpt(error->message);

        qmp_client_protocol_error(self, "QEMU sent a QMP line that is not JSON: %s", printable);
        return;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        qmp_client_protocol_error(self, "QEMU sent a QMP line that is not a JSON object");
        return;
    }
    qmp_client_dispatch(self, json_node_get_object(root));
}

/* Handles every complete line in inbuf. Stops when a line closes the client. */
static void
process_input(PodvmQmpClient *self)
{
    gsize start = 0;
    gsize longest = 0;

    while (self->state != STATE_CLOSED) {
        const guint8 *data = self->inbuf->data;
        gsize len = self->inbuf->len;
        const guint8 *newline = NULL;
        gsize line_len;

        if (self->scan_pos < len)
            newline = memchr(data + self->scan_pos, '\n', len - self->scan_pos);
        if (newline == NULL) {
            self->scan_pos = len;
            if (len - start > PODVM_QMP_MAX_LINE)
                qmp_client_protocol_error(self, "QEMU sent a QMP line longer than %u bytes",
                                          (guint)PODVM_QMP_MAX_LINE);
            break;
        }
        line_len = (gsize)(newline - data) - start;
        self->scan_pos = (gsize)(newline - data) + 1;
        if (line_len > PODVM_QMP_MAX_LINE) {
            qmp_client_protocol_error(self, "QEMU sent a QMP line longer than %u bytes",
                                      (guint)PODVM_QMP_MAX_LINE);
            break;
        }
        longest = MAX(longest, line_len);
        /* May run callbacks that close the client (which empties inbuf). */
        handle_line(self, (const char *)data + start, line_len);
        start = self->scan_pos;
    }
    if (self->state == STATE_CLOSED)
        return;

    if (start > 0) {
        g_byte_array_remove_range(self->inbuf, 0, (guint)start);
        self->scan_pos -= start;
    }
    /* Give back the memory of a huge line once it is handled. */
    if (longest > 4 * READ_CHUNK && self->inbuf->len < READ_CHUNK) {
        GByteArray *fresh = g_byte_array_sized_new(READ_CHUNK);

        g_byte_array_append(fresh, self->inbuf->data, self->inbuf->len);
        g_byte_array_unref(self->inbuf);
        self->inbuf = fresh;
    }
}

static void
read_op_free(ReadOp *op)
{
    g_weak_ref_clear(&op->client);
    g_free(op->buffer);
    g_free(op);
}

static void read_next(PodvmQmpClient *self, ReadOp *op);

static void
read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ReadOp *op = user_data;
    g_autoptr(PodvmQmpClient) self = g_weak_ref_get(&op->client);
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (self == NULL || self->state == STATE_CLOSED) {
        read_op_free(op);
        return;
    }
    if (n < 0) {
        read_op_free(op);
        qmp_client_io_failed(self, "reading from", error);
        return;
    }
    if (n == 0) {
        read_op_free(op);
        qmp_client_peer_closed(self);
        return;
    }
    g_byte_array_append(self->inbuf, op->buffer, (guint)n);
    process_input(self);
    if (self->state == STATE_CLOSED) {
        read_op_free(op);
        return;
    }
    read_next(self, op);
}

static void
read_next(PodvmQmpClient *self, ReadOp *op)
{
    g_input_stream_read_async(self->input, op->buffer, READ_CHUNK, G_PRIORITY_DEFAULT,
                              self->io_cancellable, read_cb, op);
}

void
qmp_client_start_session(PodvmQmpClient *self, GSocketConnection *connection)
{
    ReadOp *op = g_new0(ReadOp, 1);

    self->connection = g_object_ref(connection);
    self->socket = g_socket_connection_get_socket(connection);
    self->input = g_io_stream_get_input_stream(G_IO_STREAM(connection));
    self->output = g_io_stream_get_output_stream(G_IO_STREAM(connection));
    self->state = STATE_GREETING;

    g_weak_ref_init(&op->client, self);
    op->buffer = g_malloc(READ_CHUNK);
    read_next(self, op);
}
