/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

GPid
podvm_test_daemon_pid(PodvmTestDaemon *daemon)
{
    const char *id = g_subprocess_get_identifier(daemon->process);

    g_assert_nonnull(id);
    return (GPid)atoi(id);
}

guint
podvm_test_proc_fds(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    guint n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir) != NULL)
        n++;
    return n;
}

guint64
podvm_test_proc_rss_kib(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *line;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "VmRSS:");
    g_assert_nonnull(line);
    return g_ascii_strtoull(line + strlen("VmRSS:"), NULL, 10);
}

guint64
podvm_test_proc_cpu_ticks(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) fields = NULL;
    const char *after;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    /* Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15. */
    after = strrchr(text, ')');
    g_assert_nonnull(after);
    fields = g_strsplit(after + 2, " ", -1);
    g_assert_cmpuint(g_strv_length(fields), >, 13);
    return g_ascii_strtoull(fields[11], NULL, 10) + g_ascii_strtoull(fields[12], NULL, 10);
}

guint
podvm_test_wait_fds_at_most(GPid pid, guint max, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    guint n;

    while ((n = podvm_test_proc_fds(pid)) > max && g_get_monotonic_time() < deadline)
        g_usleep(50 * 1000);
    return n;
}

static void
set_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = 10 };

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int
podvm_test_connect_unix(const char *path)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof address.sun_path);
    strcpy(address.sun_path, path);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
        g_error("connect %s: %s", path, g_strerror(errno));
    set_timeouts(fd);
    return fd;
}

int
podvm_test_connect_tcp(guint16 port)
{
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
        g_error("connect 127.0.0.1:%u: %s", port, g_strerror(errno));
    set_timeouts(fd);
    return fd;
}

void
podvm_test_shrink_receive_buffer(int fd)
{
    int size = 1;

    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

gboolean
podvm_test_send_all(int fd, const char *text, gsize length)
{
    while (length > 0) {
        ssize_t n = send(fd, text, length, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        text += n;
        length -= (gsize)n;
    }
    return TRUE;
}

guint
podvm_test_http_roundtrip(int fd, const char *request)
{
    GString *in = g_string_new(NULL);
    char buffer[4096];
    const char *end = NULL;
    gsize want = 0;
    guint status = 0;

    if (!podvm_test_send_all(fd, request, strlen(request)))
        goto out;
    for (;;) {
        ssize_t n;

        if (end == NULL && (end = strstr(in->str, "\r\n\r\n")) != NULL) {
            const char *length = strcasestr(in->str, "\r\nContent-Length:");

            g_assert_true(length != NULL && length < end);
            want = (gsize)(end + 4 - in->str) +
                   g_ascii_strtoull(length + strlen("\r\nContent-Length:"), NULL, 10);
        }
        if (end != NULL && in->len >= want)
            break;
        n = recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out;
        g_string_append_len(in, buffer, n);
    }
    if (g_str_has_prefix(in->str, "HTTP/1.1 "))
        status = (guint)g_ascii_strtoull(in->str + strlen("HTTP/1.1 "), NULL, 10);
out:
    g_string_free(in, TRUE);
    return status;
}

gboolean
podvm_test_read_until_closed(int fd, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    char buffer[65536];

    while (g_get_monotonic_time() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, 100) <= 0)
            continue;
        n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return TRUE;
    }
    return FALSE;
}

guint16
podvm_test_free_tcp_port(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_no_error(error);
    g_socket_bind(socket, address, TRUE, &error);
    g_assert_no_error(error);
    bound = g_socket_get_local_address(socket, &error);
    g_assert_no_error(error);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

void
podvm_test_http_connections(const char *socket_path, guint16 port, guint n, guint per,
                            const char *unix_request, const char *tcp_request)
{
    for (guint i = 0; i < n; i++) {
        gboolean tcp = i % 2 == 1;
        int fd = tcp ? podvm_test_connect_tcp(port) : podvm_test_connect_unix(socket_path);

        for (guint j = 0; j < per; j++)
            g_assert_cmpuint(podvm_test_http_roundtrip(fd, tcp ? tcp_request : unix_request), ==,
                             200);
        close(fd);
    }
}
