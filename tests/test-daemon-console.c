/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The console fan-out without a guest: this test plays QEMU's end of the
 * console socket. What QEMU wrote before it went reaches the clients even
 * when podvmd learns of QEMU's exit before it read the last bytes (a
 * guest's last lines before it powered off, `podvmctl run`'s app output).
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "podvm-console.h"
#include "podvm-test-util.h"

typedef struct {
    char *dir;
    int listener;
    int qemu;   /* the test's end: what QEMU would write into */
    int client; /* a console client's end */
    PodvmConsole *console;
} Fixture;

static void
connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    gboolean *done = user_data;
    g_autoptr(GError) error = NULL;

    g_assert_true(podvm_console_connect_finish(PODVM_CONSOLE(source), result, &error));
    g_assert_no_error(error);
    *done = TRUE;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;
    gboolean done = FALSE;

    (void)data;
    f->dir = podvm_test_mkdtemp();
    path = g_build_filename(f->dir, "console.sock", NULL);
    g_assert_cmpuint(strlen(path), <, sizeof addr.sun_path);
    strcpy(addr.sun_path, path);
    f->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(f->listener, >=, 0);
    g_assert_cmpint(bind(f->listener, (struct sockaddr *)&addr, sizeof addr), ==, 0);
    g_assert_cmpint(listen(f->listener, 1), ==, 0);
    f->console = podvm_console_new("con");
    podvm_console_connect_async(f->console, path, NULL, connected_cb, &done);
    /* The connection is made on the main loop: accept while it runs. */
    g_assert_cmpint(fcntl(f->listener, F_SETFL, O_NONBLOCK), ==, 0);
    f->qemu = -1;
    while (!done || f->qemu < 0) {
        g_main_context_iteration(NULL, FALSE);
        if (f->qemu < 0)
            f->qemu = accept4(f->listener, NULL, NULL, SOCK_CLOEXEC);
        if (f->qemu < 0)
            g_assert_cmpint(errno, ==, EAGAIN);
        g_usleep(1000);
    }
    g_assert_cmpint(fcntl(f->qemu, F_SETFL, 0), ==, 0);
    f->client = podvm_console_open_client(f->console, FALSE, &error);
    g_assert_no_error(error);
    g_assert_cmpint(f->client, >=, 0);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    g_clear_object(&f->console);
    if (f->qemu >= 0)
        close(f->qemu);
    close(f->client);
    close(f->listener);
    /* Lingering clients' timers, if any, go with the program. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    podvm_test_rmrf(f->dir);
    g_free(f->dir);
}

static void
write_all(int fd, const char *data, gsize length)
{
    while (length > 0) {
        ssize_t n = write(fd, data, length);

        if (n < 0 && errno == EINTR)
            continue;
        g_assert_cmpint(n, >, 0);
        data += n;
        length -= (gsize)n;
    }
}

/*
 * Everything the client reads until end of file, running the main loop
 * while it waits; fails after @timeout_ms.
 */
static GString *
read_to_eof(int fd, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    GString *seen = g_string_new(NULL);

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[65536];
        ssize_t n;

        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        if (poll(&p, 1, 10) <= 0)
            continue;
        n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        g_assert_cmpint(n, >=, 0);
        if (n == 0)
            return seen;
        g_string_append_len(seen, buf, n);
    }
}

/* Reads until @needle shows, running the main loop meanwhile. */
static void
read_until(int fd, const char *needle)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autoptr(GString) seen = g_string_new(NULL);

    while (strstr(seen->str, needle) == NULL) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[4096];
        ssize_t n;

        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        if (poll(&p, 1, 10) <= 0)
            continue;
        n = read(fd, buf, sizeof buf);
        g_assert_cmpint(n, >, 0);
        g_string_append_len(seen, buf, n);
    }
}

/*
 * QEMU prints its last line and exits; podvmd hears of the exit (its pidfd)
 * before it read that line: the client still gets it, then end of file.
 */
static void
test_last_words(Fixture *f, gconstpointer data)
{
    g_autoptr(GString) seen = NULL;

    (void)data;
    write_all(f->qemu, "booting\n", 8);
    read_until(f->client, "booting\n");
    write_all(f->qemu, "app: last words\n", 16);
    close(f->qemu);
    f->qemu = -1;
    podvm_console_disconnect(f->console);
    seen = read_to_eof(f->client, 10000);
    g_assert_cmpstr(seen->str, ==, "app: last words\n");
}

/*
 * A client that has not read for a while when the console ends: what was
 * queued for it (more than its socket holds) still comes, whole and in
 * order, then end of file.
 */
static void
test_slow_client_gets_the_rest(Fixture *f, gconstpointer data)
{
    const gsize total = 600 * 1024;
    g_autofree char *text = g_malloc(total);
    g_autoptr(GString) seen = NULL;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    gsize written = 0;

    (void)data;
    for (gsize i = 0; i < total; i++)
        text[i] = (char)('a' + i % 26);
    /* QEMU writes it all while the client reads nothing; podvmd queues it. */
    g_assert_cmpint(fcntl(f->qemu, F_SETFL, O_NONBLOCK), ==, 0);
    while (written < total) {
        ssize_t n = write(f->qemu, text + written, total - written);

        if (n > 0)
            written += (gsize)n;
        g_main_context_iteration(NULL, FALSE);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    close(f->qemu);
    f->qemu = -1;
    /* Let podvmd read some of it, not necessarily all. */
    for (int i = 0; i < 20; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(5000);
    }
    podvm_console_disconnect(f->console);
    seen = read_to_eof(f->client, 10000);
    g_assert_cmpuint(seen->len, ==, total);
    g_assert_true(memcmp(seen->str, text, total) == 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/daemon/console/last-words", Fixture, NULL, fixture_setup, test_last_words,
               fixture_teardown);
    g_test_add("/daemon/console/slow-client-gets-the-rest", Fixture, NULL, fixture_setup,
               test_slow_client_gets_the_rest, fixture_teardown);
    return g_test_run();
}
