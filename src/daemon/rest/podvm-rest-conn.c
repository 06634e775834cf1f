/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-rest-conn.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <sys/socket.h>
#include <unistd.h>

/* What libsoup calls its server-side connection (not in its API). */
#define CONNECTION_TYPE_NAME "SoupServerConnection"

struct _PodvmRestConns {
    SoupServer *server;  /* owned */
    GHashTable *records; /* Conn* (owned through the connection's qdata) */
    guint64 released;
};

/* Polls a connection's socket between two requests. */
typedef struct {
    GSource source;
    gpointer conn;   /* Conn*, unowned: the record owns the source */
    GSocket *socket; /* owned */
    gpointer fd_tag; /* while the connection waits for a request; else NULL */
} Watch;

/* One connection of the server. */
typedef struct {
    PodvmRestConns *owner;
    GObject *connection; /* unowned: the record is its qdata */
    Watch *watch;        /* made when the connection first waits for a request */
    gulong disconnected_id;
} Conn;

/* On a connection: its Conn. */
static GQuark
conn_record_quark(void)
{
    return g_quark_from_static_string("podvm-rest-conn");
}

/* On a message: its connection (unowned: the message holds it). */
static GQuark
message_connection_quark(void)
{
    return g_quark_from_static_string("podvm-rest-conn-of-message");
}

static gboolean
workaround_needed(void)
{
    return soup_get_major_version() == 3 && soup_get_minor_version() < 3;
}

/*
 * libsoup registers its connection type with the first connection; the
 * hook wants the type before that. One connection on a server of our own,
 * ended at once, registers it.
 */
static GType
connection_type(void)
{
    GType type = g_type_from_name(CONNECTION_TYPE_NAME);
    int fds[2];

    if (type != 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return type;
    {
        g_autoptr(SoupServer) server = soup_server_new(NULL, NULL);
        g_autoptr(GSocket) socket = g_socket_new_from_fd(fds[0], NULL);
        g_autoptr(GSocketAddress) address =
            g_unix_socket_address_new_with_type("", 0, G_UNIX_SOCKET_ADDRESS_ANONYMOUS);

        if (socket == NULL) {
            close(fds[0]);
        } else {
            g_autoptr(GSocketConnection) stream =
                g_socket_connection_factory_create_connection(socket);

            soup_server_accept_iostream(server, G_IO_STREAM(stream), address, address, NULL);
            soup_server_disconnect(server);
        }
        close(fds[1]);
    }
    return g_type_from_name(CONNECTION_TYPE_NAME);
}

/* Every request of every connection, before the server sees it: which connection it is on. */
static gboolean
request_started_hook(GSignalInvocationHint *hint, guint n_values, const GValue *values,
                     gpointer data)
{
    GObject *connection;
    GObject *msg;

    if (n_values < 2 || !G_VALUE_HOLDS_OBJECT(&values[0]) || !G_VALUE_HOLDS_OBJECT(&values[1]))
        return TRUE;
    connection = g_value_get_object(&values[0]);
    msg = g_value_get_object(&values[1]);
    /* The message holds a reference to its connection: no need for one here. */
    if (connection != NULL && SOUP_IS_SERVER_MESSAGE(msg))
        g_object_set_qdata(msg, message_connection_quark(), connection);
    return TRUE;
}

static gboolean
hook_install(void)
{
    static gsize installed;

    if (g_once_init_enter(&installed)) {
        GType type = connection_type();
        guint signal = type != 0 ? g_signal_lookup("request-started", type) : 0;
        gsize result = 1;

        if (signal != 0)
            g_signal_add_emission_hook(signal, 0, request_started_hook, NULL, NULL);
        else
            result = 2;
        g_once_init_leave(&installed, result);
    }
    return installed == 1;
}

/* The client closed the connection while no request was on it: release it. */
static gboolean
watch_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    Watch *watch = (Watch *)source;
    Conn *conn = watch->conn;
    GObject *connection;
    char c;
    ssize_t n;

    if (watch->fd_tag == NULL || g_source_query_unix_fd(source, watch->fd_tag) == 0)
        return G_SOURCE_CONTINUE;
    n = recv(g_socket_get_fd(watch->socket), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
        return G_SOURCE_CONTINUE; /* a request comes: libsoup reads it */
    connection = g_object_ref(conn->connection);
    conn->owner->released++;
    g_debug("REST: a client closed its kept-alive connection; releasing it");
    /* The server drops its reference; our handler frees @conn and this source. */
    g_signal_emit_by_name(connection, "disconnected");
    /* The last reference, unless a message still holds one: then the socket closes. */
    g_object_unref(connection);
    return G_SOURCE_REMOVE;
}

static void
watch_finalize(GSource *source)
{
    g_clear_object(&((Watch *)source)->socket);
}

static GSourceFuncs watch_funcs = {
    .dispatch = watch_dispatch,
    .finalize = watch_finalize,
};

static void
watch_stop(Conn *conn)
{
    if (conn->watch != NULL) {
        g_source_destroy(&conn->watch->source);
        g_source_unref(&conn->watch->source);
        conn->watch = NULL;
    }
}

/* Frees the record: the connection finalizes, or is forgotten. */
static void
conn_free(gpointer data)
{
    Conn *conn = data;

    watch_stop(conn);
    g_hash_table_remove(conn->owner->records, conn);
    g_free(conn);
}

/* The connection ended (by libsoup, or by us): forget it. */
static void
connection_disconnected_cb(GObject *connection, gpointer user_data)
{
    Conn *conn = user_data;

    g_clear_signal_handler(&conn->disconnected_id, connection);
    /* Frees the record (and the watch, before anything polls the closed socket). */
    g_object_set_qdata(connection, conn_record_quark(), NULL);
}

/*
 * libsoup 3.2's listener keeps the reference g_socket_accept() gave it
 * (the connection takes its own): every accepted GSocket stays allocated
 * after its connection ended, closed, with what hangs on it (our request
 * deadline's source). Called with the first request of a connection, when
 * that reference and the connection's are the only ones: one goes.
 */
static void
drop_accept_reference(GSocket *socket)
{
    if (socket == NULL || soup_get_minor_version() != 2)
        return;
    if (g_atomic_int_get(&G_OBJECT(socket)->ref_count) >= 2)
        g_object_unref(socket);
}

static Conn *
conn_of(PodvmRestConns *self, SoupServerMessage *msg)
{
    GObject *connection = g_object_get_qdata(G_OBJECT(msg), message_connection_quark());
    Conn *conn;

    if (connection == NULL)
        return NULL;
    conn = g_object_get_qdata(connection, conn_record_quark());
    if (conn == NULL) {
        conn = g_new0(Conn, 1);
        conn->owner = self;
        conn->connection = connection;
        conn->disconnected_id = g_signal_connect(connection, "disconnected",
                                                 G_CALLBACK(connection_disconnected_cb), conn);
        g_object_set_qdata_full(connection, conn_record_quark(), conn, conn_free);
        g_hash_table_add(self->records, conn);
        drop_accept_reference(soup_server_message_get_socket(msg));
    }
    return conn;
}

/* A request begins (its first byte is in): libsoup reads the socket now. */
static void
request_started_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    Conn *conn = conn_of(user_data, msg);

    /* Not polled at all (a hang-up shows even unasked): a busy connection is libsoup's. */
    if (conn != NULL && conn->watch != NULL && conn->watch->fd_tag != NULL) {
        g_source_remove_unix_fd(&conn->watch->source, conn->watch->fd_tag);
        conn->watch->fd_tag = NULL;
    }
}

/* A request is answered: until the next one begins, the socket is watched. */
static void
request_ended_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    Conn *conn = conn_of(user_data, msg);
    GSocket *socket;

    if (conn == NULL)
        return;
    if (conn->watch == NULL) {
        socket = soup_server_message_get_socket(msg);
        if (socket == NULL || g_socket_is_closed(socket))
            return;
        conn->watch = (Watch *)g_source_new(&watch_funcs, sizeof(Watch));
        conn->watch->conn = conn;
        conn->watch->socket = g_object_ref(socket);
        g_source_set_priority(&conn->watch->source, G_PRIORITY_LOW);
        g_source_set_static_name(&conn->watch->source, "podvm-rest-idle-connection");
        g_source_attach(&conn->watch->source, NULL);
    }
    if (conn->watch->fd_tag == NULL)
        conn->watch->fd_tag =
            g_source_add_unix_fd(&conn->watch->source, g_socket_get_fd(conn->watch->socket),
                                 G_IO_IN | G_IO_HUP | G_IO_ERR);
}

PodvmRestConns *
podvm_rest_conns_new(SoupServer *server)
{
    PodvmRestConns *self = g_new0(PodvmRestConns, 1);

    self->server = g_object_ref(server);
    self->records = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (!workaround_needed())
        return self;
    if (!hook_install()) {
        g_message("REST: cannot watch libsoup %u.%u's connections: clients that close a "
                  "kept-alive connection leave it open",
                  soup_get_major_version(), soup_get_minor_version());
        return self;
    }
    g_signal_connect(server, "request-started", G_CALLBACK(request_started_cb), self);
    g_signal_connect(server, "request-finished", G_CALLBACK(request_ended_cb), self);
    g_signal_connect(server, "request-aborted", G_CALLBACK(request_ended_cb), self);
    return self;
}

void
podvm_rest_conns_free(PodvmRestConns *self)
{
    GHashTableIter iter;
    gpointer key;

    if (self == NULL)
        return;
    g_signal_handlers_disconnect_by_data(self->server, self);
    /* The connections live on with the server: they forget us. */
    g_hash_table_iter_init(&iter, self->records);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        Conn *conn = key;

        g_hash_table_iter_steal(&iter);
        g_clear_signal_handler(&conn->disconnected_id, conn->connection);
        g_object_steal_qdata(conn->connection, conn_record_quark());
        watch_stop(conn);
        g_free(conn);
    }
    g_hash_table_unref(self->records);
    g_object_unref(self->server);
    g_free(self);
}

guint
podvm_rest_conns_get_n(PodvmRestConns *self)
{
    return g_hash_table_size(self->records);
}

guint64
podvm_rest_conns_get_n_released(PodvmRestConns *self)
{
    return self->released;
}
