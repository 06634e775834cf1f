/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The console WebSocket against hostile clients, with WebSocket framing
 * written by hand on the REST unix socket: a message sent in fragments
 * that never ends is closed at the bound (1009), pings from a client that
 * never reads the pongs cost bounded memory, and a normal client works
 * afterwards.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

/* podvmd is built like this test: under AddressSanitizer, so is it. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_IS_MEANINGFUL FALSE
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_IS_MEANINGFUL FALSE
#endif
#endif
#ifndef RSS_IS_MEANINGFUL
#define RSS_IS_MEANINGFUL TRUE
#endif

/* What podvmd lets one message from a console client grow to. */
#define MAX_MESSAGE (1024 * 1024)

typedef struct {
    int fd;
    GString *in;   /* received, not yet parsed */
    GString *text; /* payload of the data frames received */
    guint close_code;
    gboolean closed; /* end of file, or a close frame */
} Ws;

/* Opens the console WebSocket of @pod: asserts the 101. */
static Ws *
ws_open(const char *socket_path, const char *pod)
{
    g_autofree char *request = g_strdup_printf("GET /v1/pods/%s/console HTTP/1.1\r\n"
                                               "Host: localhost\r\n"
                                               "Upgrade: websocket\r\n"
                                               "Connection: Upgrade\r\n"
                                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                               "Sec-WebSocket-Version: 13\r\n\r\n",
                                               pod);
    Ws *ws = g_new0(Ws, 1);
    const char *end;

    ws->fd = podvm_test_connect_unix(socket_path);
    ws->in = g_string_new(NULL);
    ws->text = g_string_new(NULL);
    g_assert_true(podvm_test_send_all(ws->fd, request, strlen(request)));
    while ((end = strstr(ws->in->str, "\r\n\r\n")) == NULL) {
        char buffer[4096];
        ssize_t n = recv(ws->fd, buffer, sizeof buffer, 0);

        g_assert_cmpint(n, >, 0);
        g_string_append_len(ws->in, buffer, n);
    }
    if (!g_str_has_prefix(ws->in->str, "HTTP/1.1 101"))
        g_error("no WebSocket: %s", ws->in->str);
    g_string_erase(ws->in, 0, end + 4 - ws->in->str);
    return ws;
}

static void
ws_free(Ws *ws)
{
    close(ws->fd);
    g_string_free(ws->in, TRUE);
    g_string_free(ws->text, TRUE);
    g_free(ws);
}

/* Parses the server's (unmasked) frames received so far. */
static void
ws_parse(Ws *ws)
{
    for (;;) {
        const guint8 *data = (const guint8 *)ws->in->str;
        gsize at = 2;
        guint64 length;

        if (ws->in->len < 2)
            return;
        length = data[1] & 0x7f;
        if (length == 126) {
            at = 4;
            if (ws->in->len < at)
                return;
            length = ((guint64)data[2] << 8) | data[3];
        } else if (length == 127) {
            at = 10;
            if (ws->in->len < at)
                return;
            length = 0;
            for (guint i = 2; i < 10; i++)
                length = (length << 8) | data[i];
        }
        if (ws->in->len < at + length)
            return;
        switch (data[0] & 0x0f) {
        case 0x0:
        case 0x1:
        case 0x2:
            g_string_append_len(ws->text, (const char *)data + at, (gssize)length);
            break;
        case 0x8:
            ws->closed = TRUE;
            if (length >= 2)
                ws->close_code = ((guint)data[at] << 8) | data[at + 1];
            break;
        default:
            break;
        }
        g_string_erase(ws->in, 0, (gssize)(at + length));
    }
}

/* Reads what is there, waiting up to @timeout_ms for something. */
static void
ws_pump(Ws *ws, int timeout_ms)
{
    struct pollfd pfd = { .fd = ws->fd, .events = POLLIN };
    char buffer[65536];
    ssize_t n;

    if (poll(&pfd, 1, timeout_ms) <= 0)
        return;
    while ((n = recv(ws->fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0)
        g_string_append_len(ws->in, buffer, n);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        ws->closed = TRUE;
    ws_parse(ws);
}

/* Sends one frame, masked (with a zero key: the payload goes as it is). */
static gboolean
ws_send(Ws *ws, gboolean fin, guint8 opcode, const char *payload, gsize length)
{
    guint8 header[14];
    gsize n = 0;

    header[n++] = (fin ? 0x80 : 0) | opcode;
    if (length < 126) {
        header[n++] = 0x80 | (guint8)length;
    } else if (length < 65536) {
        header[n++] = 0x80 | 126;
        header[n++] = (guint8)(length >> 8);
        header[n++] = (guint8)length;
    } else {
        header[n++] = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            header[n++] = (guint8)((guint64)length >> shift);
    }
    memset(header + n, 0, 4);
    n += 4;
    return podvm_test_send_all(ws->fd, (const char *)header, n) &&
           podvm_test_send_all(ws->fd, payload, length);
}

static gboolean
ws_wait_text(Ws *ws, const char *needle, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (g_get_monotonic_time() < deadline) {
        if (strstr(ws->text->str, needle) != NULL)
            return TRUE;
        if (ws->closed)
            return FALSE;
        ws_pump(ws, 100);
    }
    return FALSE;
}

static gboolean
ws_wait_closed(Ws *ws, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!ws->closed && g_get_monotonic_time() < deadline)
        ws_pump(ws, 100);
    return ws->closed;
}

/* A normal console client: what it types comes back from the guest. */
static void
echo_round_trip(const char *socket_path, const char *word)
{
    Ws *ws = ws_open(socket_path, "ws");
    g_autofree char *line = g_strdup_printf("%s\n", word);
    g_autofree char *echo = g_strdup_printf("PODVM-ECHO %s", word);

    g_assert_true(ws_send(ws, TRUE, 0x1, line, strlen(line)));
    g_assert_true(ws_wait_text(ws, echo, 30000));
    ws_free(ws);
}

/* Waits until the server closes @fd, reading nothing. */
static gboolean
wait_hangup(int fd, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP)) != 0;
}

static guint64
rss_kib(PodvmTestDaemon *daemon)
{
    return podvm_test_proc_rss_kib(podvm_test_daemon_pid(daemon));
}

/*
 * issue 10 item 10: libsoup 3.2 bounds each frame a WebSocket client
 * sends, not the message it assembles from continuation frames: 20 MiB of
 * fragments without an end grew podvmd by 20.6 MB. And a client sending
 * pings without reading the pongs made libsoup queue them (+23 MB for
 * 141k pings).
 */
static void
test_hostile_console_clients(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *spec_path = NULL;
    g_autofree char *socket_path = NULL;
    g_autofree char *log = NULL;
    g_autofree char *block = g_malloc(64 * 1024);
    char ping[125];
    PodvmTestDaemon *daemon;
    guint64 before, after;

    if (!podvm_test_require_qemu() || !podvm_test_require_guest())
        return;
    daemon = podvm_test_daemon_new();
    if (daemon == NULL)
        return;
    dir = podvm_test_mkdtemp();
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    spec = podvm_test_guest_spec("ws", NULL, NULL, 1);
    spec_path = g_build_filename(dir, "ws.json", NULL);
    g_assert_true(g_file_set_contents(spec_path, spec, -1, NULL));
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "create", "-f", spec_path, NULL), ==, 0);
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "start", "ws", NULL), ==, 0);
    log = podvm_test_daemon_console_log(daemon, "ws");
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-GUEST-READY", 120000));

    /* Warm up: a console client allocates what any needs. */
    echo_round_trip(socket_path, "warm-up");
    before = rss_kib(daemon);
    memset(block, 'x', 64 * 1024);

    {
        /* 20 MiB of one message in 64 KiB fragments, never the last. */
        Ws *ws = ws_open(socket_path, "ws");
        gsize sent = 0;

        if (ws_send(ws, FALSE, 0x2, block, 64 * 1024)) {
            sent += 64 * 1024;
            while (sent < 20 * 1024 * 1024 && !ws->closed &&
                   ws_send(ws, FALSE, 0x0, block, 64 * 1024)) {
                sent += 64 * 1024;
                ws_pump(ws, 0);
            }
        }
        g_assert_true(ws_wait_closed(ws, 20000));
        after = rss_kib(daemon);
        g_test_message("unfinished message: %zu bytes sent before the close (code %u); "
                       "VmRSS %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " kB",
                       sent, ws->close_code, before, after);
        g_assert_cmpuint(ws->close_code, ==, 1009);
        /* The bound, plus what the sockets buffer. */
        g_assert_cmpuint(sent, <, MAX_MESSAGE + 2 * 1024 * 1024);
        if (RSS_IS_MEANINGFUL)
            g_assert_cmpuint(after, <, before + 5 * 1000);
        ws_free(ws);
    }
    g_assert_cmpuint(
        podvm_test_count_in_file(daemon->log_path, "its client sent a message of more than"), ==,
        1);

    {
        /* 141k pings, the pongs never read. */
        Ws *ws = ws_open(socket_path, "ws");
        guint n = 0;

        memset(ping, 'p', sizeof ping);
        podvm_test_shrink_receive_buffer(ws->fd);
        while (n < 141000 && ws_send(ws, TRUE, 0x9, ping, sizeof ping))
            n++;
        after = rss_kib(daemon);
        g_test_message("pings: %u sent; VmRSS %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " kB", n,
                       before, after);
        if (RSS_IS_MEANINGFUL)
            g_assert_cmpuint(after, <, before + 5 * 1000);
        /* podvmd closes it, for it reads nothing (reading would make it a client that reads). */
        g_assert_true(wait_hangup(ws->fd, 60000));
        ws_free(ws);
    }

    /* A normal client works afterwards, and podvmd answers. */
    echo_round_trip(socket_path, "still-here");
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "kill", "ws", NULL), ==, 0);
    podvm_test_daemon_free(daemon);
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/rest/ws/hostile-console-clients", test_hostile_console_clients);
    return g_test_run();
}
