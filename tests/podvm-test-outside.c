/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-outside.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-netlink.h"
#include "podvm-netns.h"

/* Bounds of the server: a request head larger than this is answered as is. */
#define REQUEST_MAX 16384

struct _PodvmTestOutside {
    char *netns_path;
    int netns_fd;
    gboolean veth_made;
    GPtrArray *listeners; /* (element-type GSocket) */
    GPtrArray *sources;   /* (element-type GSource): accept on each listener */
    GPtrArray *peers;     /* (element-type utf8) */
};

/* ---- the HTTP server --------------------------------------------------- */

typedef struct {
    GSocketConnection *connection;
    char *peer;
    GString *request;
    char *response;
    guint8 buffer[2048];
} ServerConn;

static void
server_conn_free(ServerConn *conn)
{
    g_io_stream_close(G_IO_STREAM(conn->connection), NULL, NULL);
    g_object_unref(conn->connection);
    g_free(conn->peer);
    g_string_free(conn->request, TRUE);
    g_free(conn->response);
    g_free(conn);
}

static void
server_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ServerConn *conn = user_data;

    g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL);
    server_conn_free(conn);
}

static void server_read_cb(GObject *source, GAsyncResult *result, gpointer user_data);

static void
server_read_more(ServerConn *conn)
{
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn->connection));

    g_input_stream_read_async(in, conn->buffer, sizeof conn->buffer, G_PRIORITY_DEFAULT, NULL,
                              server_read_cb, conn);
}

static void
server_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ServerConn *conn = user_data;
    GOutputStream *out;
    g_autofree char *body = NULL;
    gssize n;

    n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);
    if (n < 0) {
        server_conn_free(conn);
        return;
    }
    g_string_append_len(conn->request, (const char *)conn->buffer, n);
    if (n > 0 && strstr(conn->request->str, "\r\n\r\n") == NULL &&
        strstr(conn->request->str, "\n\n") == NULL && conn->request->len < REQUEST_MAX) {
        server_read_more(conn);
        return;
    }
    body = g_strdup_printf("PODVM-OUTSIDE %s\n", conn->peer);
    conn->response = g_strdup_printf("HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "Content-Length: %zu\r\n"
                                     "Connection: close\r\n"
                                     "\r\n"
                                     "%s",
                                     strlen(body), body);
    out = g_io_stream_get_output_stream(G_IO_STREAM(conn->connection));
    g_output_stream_write_all_async(out, conn->response, strlen(conn->response), G_PRIORITY_DEFAULT,
                                    NULL, server_written_cb, conn);
}

static void
server_accepted(PodvmTestOutside *outside, GSocketConnection *connection)
{
    g_autoptr(GSocketAddress) remote = NULL;
    ServerConn *conn;

    conn = g_new0(ServerConn, 1);
    conn->connection = g_object_ref(connection);
    conn->request = g_string_new(NULL);
    remote = g_socket_connection_get_remote_address(connection, NULL);
    if (remote != NULL && G_IS_INET_SOCKET_ADDRESS(remote)) {
        GInetAddress *address = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote));

        conn->peer = g_inet_address_to_string(address);
    } else {
        conn->peer = g_strdup("unknown");
    }
    /* Recorded when accepted: the peer is known even if the client goes away. */
    g_ptr_array_add(outside->peers, g_strdup(conn->peer));
    server_read_more(conn);
}

static gboolean
server_accept_cb(GSocket *listener, GIOCondition condition, gpointer user_data)
{
    PodvmTestOutside *outside = user_data;
    g_autoptr(GSocket) client = NULL;
    g_autoptr(GSocketConnection) connection = NULL;

    (void)condition;
    client = g_socket_accept(listener, NULL, NULL);
    if (client == NULL)
        return G_SOURCE_CONTINUE;
    connection = g_socket_connection_factory_create_connection(client);
    server_accepted(outside, connection);
    return G_SOURCE_CONTINUE;
}

/* A listening socket on @address:PODVM_TEST_OUTSIDE_PORT made inside the outside namespace. */
static gboolean
server_listen(PodvmTestOutside *outside, const char *address, GError **error)
{
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) socket_address = NULL;
    g_autoptr(GSocket) sock = NULL;
    gboolean ipv6 = g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6;
    GSource *source;
    int fd;

    fd = podvm_netns_socket(outside->netns_fd, ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0, error);
    if (fd < 0)
        return FALSE;
    sock = g_socket_new_from_fd(fd, error);
    if (sock == NULL) {
        close(fd);
        return FALSE;
    }
    if (ipv6 && !g_socket_set_option(sock, IPPROTO_IPV6, IPV6_V6ONLY, 1, error))
        return FALSE;
    socket_address = g_inet_socket_address_new(inet, PODVM_TEST_OUTSIDE_PORT);
    if (!g_socket_bind(sock, socket_address, TRUE, error) || !g_socket_listen(sock, error)) {
        g_prefix_error(error, "listening on %s port %d in the outside namespace: ", address,
                       PODVM_TEST_OUTSIDE_PORT);
        return FALSE;
    }
    /*
     * Accepted by a source of our own rather than a GSocketService: freeing
     * destroys it at once, before the fd is closed. A GSocketService's
     * cancelled accept lingers until the next main loop iteration, still
     * polling the fd number, and takes (and drops) the first connection of
     * a new listening socket that got the same number.
     */
    source = g_socket_create_source(sock, G_IO_IN, NULL);
    g_source_set_callback(source, G_SOURCE_FUNC(server_accept_cb), outside, NULL);
    g_source_attach(source, g_main_context_get_thread_default());
    g_ptr_array_add(outside->sources, source);
    g_ptr_array_add(outside->listeners, g_steal_pointer(&sock));
    return TRUE;
}

/* ---- the namespace --------------------------------------------------------- */

static gboolean
outside_side_cb(gpointer user_data, GError **error)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    (void)user_data;
    return nl != NULL && podvm_nl_link_set_up(nl, "eth0", TRUE, error) &&
           podvm_nl_addr_add(nl, "eth0", PODVM_TEST_OUTSIDE_ADDRESS "/24", error) &&
           podvm_nl_addr_add(nl, "eth0", PODVM_TEST_OUTSIDE_ADDRESS6 "/64", error) &&
           podvm_nl_route_add(nl, "0.0.0.0/0", PODVM_TEST_OUTSIDE_GATEWAY, "eth0", error) &&
           podvm_nl_route_add(nl, "::/0", PODVM_TEST_OUTSIDE_GATEWAY6, "eth0", error);
}

/*
 * Whether @address can be bound in @netns_fd (-1: here). An IPv6 address
 * stays tentative until its link has a carrier (both ends of the veth up,
 * noticed by the kernel a little later), even without DAD.
 */
static gboolean
address_usable(int netns_fd, const char *address)
{
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new(inet, 0);
    g_autoptr(GSocket) sock = NULL;
    int fd;

    fd = netns_fd >= 0 ? podvm_netns_socket(netns_fd, AF_INET6, SOCK_DGRAM, 0, NULL)
                       : socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FALSE;
    sock = g_socket_new_from_fd(fd, NULL);
    if (sock == NULL) {
        close(fd);
        return FALSE;
    }
    return g_socket_bind(sock, socket_address, FALSE, NULL);
}

static gboolean
wait_usable(PodvmTestOutside *outside, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (!address_usable(outside->netns_fd, PODVM_TEST_OUTSIDE_ADDRESS6) ||
           !address_usable(-1, PODVM_TEST_OUTSIDE_GATEWAY6)) {
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "the IPv6 addresses of the outside veth pair are still tentative "
                        "after 10 s");
            return FALSE;
        }
        g_usleep(10000);
    }
    return TRUE;
}

PodvmTestOutside *
podvm_test_outside_new(const char *tmpdir, GError **error)
{
    g_autoptr(PodvmTestOutside) outside = g_new0(PodvmTestOutside, 1);
    g_autoptr(PodvmNl) nl = NULL;

    outside->netns_fd = -1;
    outside->peers = g_ptr_array_new_with_free_func(g_free);
    outside->listeners = g_ptr_array_new_with_free_func(g_object_unref);
    outside->sources = g_ptr_array_new_with_free_func((GDestroyNotify)g_source_unref);
    outside->netns_path = g_build_filename(tmpdir, "outside", NULL);
    if (!podvm_netns_create(outside->netns_path, error)) {
        g_clear_pointer(&outside->netns_path, g_free);
        return NULL;
    }
    outside->netns_fd = podvm_netns_open(outside->netns_path, error);
    if (outside->netns_fd < 0)
        return NULL;

    nl = podvm_nl_open(error);
    if (nl == NULL ||
        !podvm_nl_veth_add(nl, PODVM_TEST_OUTSIDE_LINK, "eth0", outside->netns_fd, error))
        return NULL;
    outside->veth_made = TRUE;
    if (!podvm_nl_link_set_up(nl, PODVM_TEST_OUTSIDE_LINK, TRUE, error) ||
        !podvm_nl_addr_add(nl, PODVM_TEST_OUTSIDE_LINK, PODVM_TEST_OUTSIDE_GATEWAY "/24", error) ||
        !podvm_nl_addr_add(nl, PODVM_TEST_OUTSIDE_LINK, PODVM_TEST_OUTSIDE_GATEWAY6 "/64", error))
        return NULL;
    if (!podvm_netns_run(outside->netns_fd, outside_side_cb, NULL, error) ||
        !wait_usable(outside, error))
        return NULL;

    if (!server_listen(outside, PODVM_TEST_OUTSIDE_ADDRESS, error) ||
        !server_listen(outside, PODVM_TEST_OUTSIDE_ADDRESS6, error))
        return NULL;
    return g_steal_pointer(&outside);
}

void
podvm_test_outside_free(PodvmTestOutside *outside)
{
    if (outside == NULL)
        return;
    /* The sources first: nothing polls the fds once they are closed. */
    for (guint i = 0; i < outside->sources->len; i++)
        g_source_destroy(g_ptr_array_index(outside->sources, i));
    g_ptr_array_unref(outside->sources);
    for (guint i = 0; i < outside->listeners->len; i++)
        g_socket_close(g_ptr_array_index(outside->listeners, i), NULL);
    g_ptr_array_unref(outside->listeners);
    /* Deleting one end deletes both, now (the namespace's end would go
     * only when the kernel gets round to cleaning the namespace up). */
    if (outside->veth_made) {
        g_autoptr(PodvmNl) nl = podvm_nl_open(NULL);

        if (nl != NULL)
            podvm_nl_link_delete(nl, PODVM_TEST_OUTSIDE_LINK, NULL);
    }
    if (outside->netns_fd >= 0)
        close(outside->netns_fd);
    if (outside->netns_path != NULL) {
        g_autoptr(GError) error = NULL;

        if (!podvm_netns_remove(outside->netns_path, &error))
            g_warning("cannot remove the outside namespace: %s", error->message);
        g_free(outside->netns_path);
    }
    g_ptr_array_unref(outside->peers);
    g_free(outside);
}

const char *
podvm_test_outside_netns_path(PodvmTestOutside *outside)
{
    return outside->netns_path;
}

int
podvm_test_outside_netns_fd(PodvmTestOutside *outside)
{
    return outside->netns_fd;
}

GPtrArray *
podvm_test_outside_peers(PodvmTestOutside *outside)
{
    return outside->peers;
}

typedef struct {
    PodvmTestOutside *outside;
    const char *address;
} PeerWait;

static gboolean
peer_seen(gpointer user_data)
{
    PeerWait *wait = user_data;

    for (guint i = 0; i < wait->outside->peers->len; i++) {
        if (g_str_equal(g_ptr_array_index(wait->outside->peers, i), wait->address))
            return TRUE;
    }
    return FALSE;
}

gboolean
podvm_test_outside_wait_peer(PodvmTestOutside *outside, const char *address, guint timeout_ms)
{
    PeerWait wait = { outside, address };
    GMainContext *context = g_main_context_get_thread_default();
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!peer_seen(&wait)) {
        if (g_get_monotonic_time() >= deadline)
            return FALSE;
        /* Wake up at least every 50 ms to look at the clock. */
        g_autoptr(GSource) tick = g_timeout_source_new(50);

        g_source_set_dummy_callback(tick);
        g_source_attach(tick, context);
        g_main_context_iteration(context, TRUE);
        g_source_destroy(tick);
    }
    return TRUE;
}

/* ---- the client ------------------------------------------------------------ */

typedef struct {
    int netns_fd;
    char *address;
    guint16 port;
    char *path;
    guint timeout_ms;
} GetData;

static void
get_data_free(GetData *data)
{
    g_free(data->address);
    g_free(data->path);
    g_free(data);
}

static char *
http_get_blocking(const GetData *data, GError **error)
{
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(data->address);
    g_autoptr(GSocketAddress) socket_address = NULL;
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GString) answer = g_string_new(NULL);
    g_autofree char *request = NULL;
    g_autofree char *host = NULL;
    const char *body;
    gboolean ipv6;
    gsize sent = 0;
    int fd;
    guint status = 0;

    if (inet == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "'%s' is not an IPv4 or IPv6 address", data->address);
        return NULL;
    }
    ipv6 = g_inet_address_get_family(inet) == G_SOCKET_FAMILY_IPV6;
    if (data->netns_fd >= 0) {
        fd = podvm_netns_socket(data->netns_fd, ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0, error);
        if (fd < 0)
            return NULL;
    } else {
        fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
                        g_strerror(errno));
            return NULL;
        }
    }
    sock = g_socket_new_from_fd(fd, error);
    if (sock == NULL) {
        close(fd);
        return NULL;
    }
    g_socket_set_timeout(sock, MAX(1, (data->timeout_ms + 999) / 1000));
    socket_address = g_inet_socket_address_new(inet, data->port);
    if (!g_socket_connect(sock, socket_address, NULL, error))
        return NULL;

    host = ipv6 ? g_strdup_printf("[%s]", data->address) : g_strdup(data->address);
    request = g_strdup_printf("GET %s HTTP/1.0\r\nHost: %s:%u\r\nConnection: close\r\n\r\n",
                              data->path, host, data->port);
    while (sent < strlen(request)) {
        gssize n = g_socket_send(sock, request + sent, strlen(request) - sent, NULL, error);

        if (n < 0)
            return NULL;
        sent += n;
    }
    for (;;) {
        char buffer[4096];
        gssize n = g_socket_receive(sock, buffer, sizeof buffer, NULL, error);

        if (n < 0)
            return NULL;
        if (n == 0)
            break;
        g_string_append_len(answer, buffer, n);
    }
    if (sscanf(answer->str, "HTTP/%*u.%*u %u", &status) != 1) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s port %u answered no HTTP status line: '%.80s'", data->address, data->port,
                    answer->str);
        return NULL;
    }
    body = strstr(answer->str, "\r\n\r\n");
    body = body != NULL ? body + 4 : "";
    if (status != 200) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s port %u answered %u: '%.80s'",
                    data->address, data->port, status, body);
        return NULL;
    }
    return g_strdup(body);
}

static void
http_get_thread(GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
    GError *error = NULL;
    char *body;

    (void)source_object;
    (void)cancellable;
    body = http_get_blocking(task_data, &error);
    if (body == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, body, g_free);
}

static void
task_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **out = user_data;

    (void)source;
    *out = g_object_ref(result);
}

char *
podvm_test_http_get(int netns_fd, const char *address, guint16 port, const char *path,
                    guint timeout_ms, GError **error)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    GetData *data = g_new0(GetData, 1);

    data->netns_fd = netns_fd;
    data->address = g_strdup(address);
    data->port = port;
    data->path = g_strdup(path != NULL ? path : "/");
    data->timeout_ms = timeout_ms;
    task = g_task_new(NULL, NULL, task_done_cb, &result);
    g_task_set_task_data(task, data, (GDestroyNotify)get_data_free);
    g_task_run_in_thread(task, http_get_thread);
    /* The main loop runs meanwhile: the server may be in this process. */
    while (result == NULL)
        g_main_context_iteration(g_main_context_get_thread_default(), TRUE);
    return g_task_propagate_pointer(G_TASK(result), error);
}

char *
podvm_test_outside_get(PodvmTestOutside *outside, const char *address, guint16 port,
                       const char *path, guint timeout_ms, GError **error)
{
    return podvm_test_http_get(outside->netns_fd, address, port, path, timeout_ms, error);
}

/* ---- commands -------------------------------------------------------------- */

char **
podvm_test_netns_argv(const char *netns_path, const char *const *argv)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_autofree char *net = g_strdup_printf("--net=%s", netns_path);

    g_strv_builder_add_many(builder, "nsenter", net, "--", NULL);
    g_strv_builder_addv(builder, (const char **)argv);
    return g_strv_builder_end(builder);
}

gboolean
podvm_test_outside_run(PodvmTestOutside *outside, const char *const *argv, char **out_stdout,
                       GError **error)
{
    g_auto(GStrv) full = podvm_test_netns_argv(outside->netns_path, argv);
    g_autoptr(GSubprocess) process = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    process =
        g_subprocess_newv((const char *const *)full,
                          G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
    if (process == NULL)
        return FALSE;
    g_subprocess_communicate_utf8_async(process, NULL, NULL, task_done_cb, &result);
    while (result == NULL)
        g_main_context_iteration(g_main_context_get_thread_default(), TRUE);
    if (!g_subprocess_communicate_utf8_finish(process, result, &out, &err, error))
        return FALSE;
    if (!g_subprocess_get_if_exited(process) || g_subprocess_get_exit_status(process) != 0) {
        g_autofree char *command = g_strjoinv(" ", (char **)argv);

        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "'%s' in the outside namespace failed: %s", command,
                    err != NULL ? g_strstrip(err) : "");
        return FALSE;
    }
    if (out_stdout != NULL)
        *out_stdout = g_steal_pointer(&out);
    return TRUE;
}
