/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The app guest's channel without a guest: the line codec
 * (guest/podvm-channel-codec.c), and PodvmAppChannel against a fake guest
 * on the other end of a socket pair.
 */
#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>

#include "podvm-app-channel.h"
#include "podvm-channel-codec.h"
#include "podvm-error.h"
#include "podvm-test-util.h"

/* --- codec ------------------------------------------------------------ */

static char *
encode(const char *verb, const char *const *kv)
{
    PodvmChannelLine line;
    char *out;

    podvm_channel_line_init(&line, verb);
    for (gsize i = 0; kv != NULL && kv[i] != NULL; i += 2)
        podvm_channel_line_add(&line, kv[i], kv[i + 1]);
    g_assert_cmpint(podvm_channel_line_finish(&line), ==, 0);
    out = g_strdup(line.data);
    podvm_channel_line_clear(&line);
    return out;
}

static void
test_codec_encode(void)
{
    const char *const kv[] = { "app",           "web",   "arg", "sh",    "arg",
                               "echo a=b 100%", "env",   "K=V", "empty", "",
                               "utf8",          "é\t\n", NULL };
    g_autofree char *line = encode("exec", kv);

    g_assert_cmpstr(line, ==,
                    "exec app=web arg=sh arg=echo%20a%3Db%20100%25 env=K%3DV empty= "
                    "utf8=%C3%A9%09%0A\n");
}

static void
test_codec_roundtrip(void)
{
    PodvmChannelLine line;
    PodvmChannelMessage msg;
    guint8 all[256];
    const char *value;
    size_t len;
    long long n;

    for (guint i = 0; i < 256; i++)
        all[i] = (guint8)i;
    podvm_channel_line_init(&line, "output");
    podvm_channel_line_add_int(&line, "id", 42);
    podvm_channel_line_add_data(&line, "data", all, sizeof(all));
    podvm_channel_line_add(&line, "arg", "1");
    podvm_channel_line_add(&line, "arg", "2");
    podvm_channel_line_add_int(&line, "neg", -7);
    g_assert_cmpint(podvm_channel_line_finish(&line), ==, 0);
    g_assert_cmpint(podvm_channel_decode(line.data, line.len, &msg), ==, 0);
    podvm_channel_line_clear(&line);

    g_assert_cmpstr(msg.verb, ==, "output");
    g_assert_cmpuint(msg.n_fields, ==, 5);
    value = podvm_channel_message_get_data(&msg, "data", &len);
    g_assert_nonnull(value);
    g_assert_cmpmem(value, len, all, sizeof(all));
    g_assert_cmpuint(podvm_channel_message_count(&msg, "arg"), ==, 2);
    g_assert_cmpstr(msg.fields[2].value, ==, "1");
    g_assert_cmpstr(msg.fields[3].value, ==, "2");
    g_assert_cmpint(podvm_channel_message_get_int(&msg, "id", 0, 100, &n), ==, 0);
    g_assert_cmpint(n, ==, 42);
    g_assert_cmpint(podvm_channel_message_get_int(&msg, "neg", -10, 10, &n), ==, 0);
    g_assert_cmpint(n, ==, -7);
    g_assert_cmpint(podvm_channel_message_get_int(&msg, "id", 0, 10, &n), ==, -EINVAL);
    g_assert_cmpint(podvm_channel_message_get_int(&msg, "arg", 3, 10, &n), ==, -EINVAL);
    g_assert_cmpint(podvm_channel_message_get_int(&msg, "nope", 0, 10, &n), ==, -ENOENT);
    g_assert_null(podvm_channel_message_get(&msg, "nope"));
    podvm_channel_message_clear(&msg);

    /* A verb alone, without newline; lowercase hex is accepted. */
    g_assert_cmpint(podvm_channel_decode("halt", 4, &msg), ==, 0);
    g_assert_cmpstr(msg.verb, ==, "halt");
    g_assert_cmpuint(msg.n_fields, ==, 0);
    podvm_channel_message_clear(&msg);
    g_assert_cmpint(podvm_channel_decode("log message=a%2fb\n", 18, &msg), ==, 0);
    g_assert_cmpstr(podvm_channel_message_get(&msg, "message"), ==, "a/b");
    podvm_channel_message_clear(&msg);
}

static void
test_codec_malformed(void)
{
    const char *const bad[] = {
        "",          "\n",         "Hello",      "1verb",       "verb ",
        "verb  a=1", "verb a",     "verb =1",    "verb A=1",    "verb a=%",
        "verb a=%4", "verb a=%zz", "verb a=b=c", "verb a=\x01", "verb a=\xc3\xa9",
        "ve rb",     "verb a=1\r", "verb\tx=1",  "-verb",       "verb a_b=1",
    };
    PodvmChannelMessage msg;

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_test_message("malformed: '%s'", bad[i]);
        g_assert_cmpint(podvm_channel_decode(bad[i], strlen(bad[i]), &msg), ==, -EINVAL);
        g_assert_null(msg.verb);
    }
    /* A NUL or a newline inside. */
    g_assert_cmpint(podvm_channel_decode("a b=\0c\n", 6, &msg), ==, -EINVAL);
    g_assert_cmpint(podvm_channel_decode("a b=c\nd\n", 8, &msg), ==, -EINVAL);
}

static void
test_codec_limits(void)
{
    PodvmChannelLine line;
    PodvmChannelMessage msg;
    g_autofree char *big = g_malloc(PODVM_CHANNEL_MAX_LINE + 2);
    gsize fill;

    /* A line of exactly the limit (its newline included) decodes; one byte more does not. */
    memcpy(big, "log message=", 12);
    fill = PODVM_CHANNEL_MAX_LINE - 12 - 1;
    memset(big + 12, 'x', fill);
    big[PODVM_CHANNEL_MAX_LINE - 1] = '\n';
    g_assert_cmpint(podvm_channel_decode(big, PODVM_CHANNEL_MAX_LINE, &msg), ==, 0);
    g_assert_cmpuint(strlen(podvm_channel_message_get(&msg, "message")), ==, fill);
    podvm_channel_message_clear(&msg);
    memset(big + 12, 'x', fill + 1);
    big[PODVM_CHANNEL_MAX_LINE] = '\n';
    g_assert_cmpint(podvm_channel_decode(big, PODVM_CHANNEL_MAX_LINE + 1, &msg), ==, -EMSGSIZE);
    /* The limit without a newline: no room left for it. */
    g_assert_cmpint(podvm_channel_decode(big, PODVM_CHANNEL_MAX_LINE, &msg), ==, -EMSGSIZE);

    /* The encoder: the same limit, errors stick. */
    podvm_channel_line_init(&line, "log");
    podvm_channel_line_add_data(&line, "message", big + 12, fill);
    g_assert_cmpint(podvm_channel_line_finish(&line), ==, 0);
    g_assert_cmpuint(line.len, ==, PODVM_CHANNEL_MAX_LINE);
    podvm_channel_line_clear(&line);
    podvm_channel_line_init(&line, "log");
    podvm_channel_line_add_data(&line, "message", big + 12, fill + 1);
    podvm_channel_line_add(&line, "x", "1");
    g_assert_cmpint(podvm_channel_line_finish(&line), ==, -EMSGSIZE);
    podvm_channel_line_clear(&line);
    /* A chunk of PODVM_CHANNEL_MAX_CHUNK bytes that all need escaping fits. */
    memset(big, 0xff, PODVM_CHANNEL_MAX_CHUNK);
    podvm_channel_line_init(&line, "output");
    podvm_channel_line_add_int(&line, "id", 4294967295LL);
    podvm_channel_line_add_int(&line, "fd", 2);
    podvm_channel_line_add_data(&line, "data", big, PODVM_CHANNEL_MAX_CHUNK);
    g_assert_cmpint(podvm_channel_line_finish(&line), ==, 0);
    podvm_channel_line_clear(&line);

    podvm_channel_line_init(&line, "Bad");
    g_assert_cmpint(podvm_channel_line_finish(&line), ==, -EINVAL);
    podvm_channel_line_clear(&line);
    podvm_channel_line_init(&line, "ok");
    podvm_channel_line_add(&line, "bad key", "1");
    g_assert_cmpint(podvm_channel_line_finish(&line), ==, -EINVAL);
    podvm_channel_line_clear(&line);
}

/* --- the channel against a fake guest ------------------------------- */

typedef struct {
    GSocket *guest; /* the fake guest's end, blocking */
    GString *guest_in;
    PodvmAppChannel *channel;
    GPtrArray *events; /* "started web 12", "exited web 3 0", ... */
    GError *closed_error;
    gboolean closed;
} Fixture;

static GIOStream *
stream_from_fd(int fd)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket = g_socket_new_from_fd(fd, &error);

    g_assert_no_error(error);
    return G_IO_STREAM(g_socket_connection_factory_create_connection(socket));
}

static void
on_started(PodvmAppChannel *channel, const char *app, int pid, Fixture *f)
{
    g_ptr_array_add(f->events, g_strdup_printf("started %s %d", app, pid));
}

static void
on_exited(PodvmAppChannel *channel, const char *app, int code, int sig, Fixture *f)
{
    g_ptr_array_add(f->events, g_strdup_printf("exited %s %d %d", app, code, sig));
}

static void
on_failed(PodvmAppChannel *channel, const char *app, const char *message, Fixture *f)
{
    g_ptr_array_add(f->events, g_strdup_printf("failed %s %s", app, message));
}

static void
on_halted(PodvmAppChannel *channel, Fixture *f)
{
    g_ptr_array_add(f->events, g_strdup("halted"));
}

static void
on_log(PodvmAppChannel *channel, const char *message, Fixture *f)
{
    g_ptr_array_add(f->events, g_strdup_printf("log %s", message));
}

static void
on_closed(PodvmAppChannel *channel, const GError *error, Fixture *f)
{
    g_assert_false(f->closed);
    f->closed = TRUE;
    f->closed_error = error != NULL ? g_error_copy(error) : NULL;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    int fds[2];
    g_autoptr(GError) error = NULL;
    g_autoptr(GIOStream) host = NULL;
    g_autoptr(PodvmAppGuestConfig) config = podvm_app_guest_config_new();
    PodvmAppGuestApp *app = g_new0(PodvmAppGuestApp, 1);
    PodvmAppGuestNic *nic = g_new0(PodvmAppGuestNic, 1);
    const char *const argv[] = { "sh", "-c", "echo hi there", NULL };
    const char *const env[] = { "PATH=/bin", "A=b c", NULL };
    const char *const dns[] = { "10.0.2.3", NULL };

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
    f->guest = g_socket_new_from_fd(fds[1], &error);
    g_assert_no_error(error);
    g_socket_set_timeout(f->guest, 10);
    f->guest_in = g_string_new(NULL);
    f->events = g_ptr_array_new_with_free_func(g_free);
    host = stream_from_fd(fds[0]);

    config->hostname = g_strdup("pod1");
    app->name = g_strdup("web");
    app->disk_serial = g_strdup("app0");
    app->argv = g_strdupv((char **)argv);
    app->env = g_strdupv((char **)env);
    app->working_dir = g_strdup("/srv");
    g_ptr_array_add(config->apps, app);
    nic->ifname = g_strdup("eth0");
    nic->mac = g_strdup("02:00:00:00:00:01");
    nic->address = g_strdup("10.0.2.2/24");
    nic->gateway = g_strdup("10.0.2.1");
    nic->dns = g_strdupv((char **)dns);
    g_ptr_array_add(config->nics, nic);

    f->channel = podvm_app_channel_new(host, config);
    g_signal_connect(f->channel, "app-started", G_CALLBACK(on_started), f);
    g_signal_connect(f->channel, "app-exited", G_CALLBACK(on_exited), f);
    g_signal_connect(f->channel, "app-failed", G_CALLBACK(on_failed), f);
    g_signal_connect(f->channel, "halted", G_CALLBACK(on_halted), f);
    g_signal_connect(f->channel, "log", G_CALLBACK(on_log), f);
    g_signal_connect(f->channel, "closed", G_CALLBACK(on_closed), f);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    if (f->channel != NULL)
        podvm_app_channel_close(f->channel);
    g_clear_object(&f->channel);
    g_clear_object(&f->guest);
    g_string_free(f->guest_in, TRUE);
    g_ptr_array_unref(f->events);
    g_clear_error(&f->closed_error);
    /* Let the cancelled operations finish before the next test. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void
guest_send(Fixture *f, const char *text)
{
    g_autoptr(GError) error = NULL;
    gsize len = strlen(text);

    g_assert_cmpint(g_socket_send(f->guest, text, len, NULL, &error), ==, (gssize)len);
    g_assert_no_error(error);
}

/* The next line the host sent (without its newline), running the main loop meanwhile. */
static char *
guest_read_line(Fixture *f)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        char *nl = strchr(f->guest_in->str, '\n');
        char buf[4096];
        gssize n;

        if (nl != NULL) {
            char *line = g_strndup(f->guest_in->str, (gsize)(nl - f->guest_in->str));

            g_string_erase(f->guest_in, 0, nl - f->guest_in->str + 1);
            return line;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        if (!g_socket_condition_timed_wait(f->guest, G_IO_IN, 10000, NULL, NULL))
            continue;
        n = g_socket_receive(f->guest, buf, sizeof(buf), NULL, NULL);
        g_assert_cmpint(n, >, 0);
        g_string_append_len(f->guest_in, buf, n);
    }
}

static gboolean
closed_cond(gpointer data)
{
    return ((Fixture *)data)->closed;
}

static gboolean
six_events_cond(gpointer data)
{
    return ((Fixture *)data)->events->len >= 6;
}

static void hello(Fixture *f);

/* The channel's own hello, first: an empty line ends what an earlier connection left. */
static void
expect_host_hello(Fixture *f)
{
    char *line = guest_read_line(f);

    g_assert_cmpstr(line, ==, "");
    g_free(line);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "hello version=1");
    g_free(line);
}

static void
test_channel_config(Fixture *f, gconstpointer data)
{
    char *line;

    expect_host_hello(f);
    guest_send(f, "hello version=1 future=x\n");
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "config version=1 hostname=pod1 debug=0");
    g_free(line);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==,
                    "app name=web disk=app0 cwd=/srv arg=sh arg=-c arg=echo%20hi%20there "
                    "env=PATH%3D/bin env=A%3Db%20c");
    g_free(line);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==,
                    "net ifname=eth0 mac=02:00:00:00:00:01 address=10.0.2.2/24 "
                    "gateway=10.0.2.1 dns=10.0.2.3");
    g_free(line);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "start");
    g_free(line);
    g_assert_true(podvm_app_channel_get_connected(f->channel));

    guest_send(f, "started app=web pid=12\nlog message=no%20eth1\nunknown-verb a=1\n"
                  "exited app=web code=3\nexited app=web signal=9\n"
                  "failed app=db message=disk%20app1%20missing\nhalt\n");
    g_assert_true(podvm_test_wait_until(six_events_cond, f, 5000));
    g_assert_cmpstr(f->events->pdata[0], ==, "started web 12");
    g_assert_cmpstr(f->events->pdata[1], ==, "log no eth1");
    g_assert_cmpstr(f->events->pdata[2], ==, "exited web 3 0");
    g_assert_cmpstr(f->events->pdata[3], ==, "exited web 137 9");
    g_assert_cmpstr(f->events->pdata[4], ==, "failed db disk app1 missing");
    g_assert_cmpstr(f->events->pdata[5], ==, "halted");

    /* The guest's hello again (it answers the channel's): the config goes once. */
    guest_send(f, "hello version=1\n");
    podvm_app_channel_shutdown(f->channel, 7);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "shutdown grace=7");
    g_free(line);

    /* The guest powers off: its end closes, cleanly. */
    g_socket_close(f->guest, NULL);
    g_assert_true(podvm_test_wait_until(closed_cond, f, 5000));
    g_assert_null(f->closed_error);
}

/* Closing the channel closes the stream: the guest reads its end. */
static void
test_channel_close(Fixture *f, gconstpointer data)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    char buf[4096];
    gssize n;

    hello(f);
    podvm_app_channel_close(f->channel);
    g_assert_true(f->closed);
    g_assert_null(f->closed_error);
    g_clear_object(&f->channel);
    for (;;) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        if (!g_socket_condition_timed_wait(f->guest, G_IO_IN | G_IO_HUP, 10000, NULL, NULL))
            continue;
        n = g_socket_receive(f->guest, buf, sizeof(buf), NULL, NULL);
        if (n == 0)
            break;
    }
}

static void
test_channel_bad_version(Fixture *f, gconstpointer data)
{
    guest_send(f, "hello version=2\n");
    g_assert_true(podvm_test_wait_until(closed_cond, f, 5000));
    g_assert_error(f->closed_error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(f->closed_error->message, "version \"2\""));
}

/* Before the guest's hello: what an earlier connection left, ignored (malformed too). */
static void
test_channel_before_hello(Fixture *f, gconstpointer data)
{
    char *line;

    expect_host_hello(f);
    guest_send(f, "output id=1 fd=1 data=abc\nded%%%\nstarted app=web pid=1\nhello version=1\n");
    line = guest_read_line(f);
    g_assert_true(g_str_has_prefix(line, "config "));
    g_free(line);
    g_assert_false(f->closed);
    g_assert_cmpuint(f->events->len, ==, 0);
}

static void
test_channel_garbage(Fixture *f, gconstpointer data)
{
    guest_send(f, "hello version=1\n\x01\x02garbage %%%\n");
    g_assert_true(podvm_test_wait_until(closed_cond, f, 5000));
    g_assert_error(f->closed_error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(f->closed_error->message, "malformed"));
}

static void
test_channel_too_long(Fixture *f, gconstpointer data)
{
    g_autofree char *big = g_malloc(200000);

    /* No newline at all: the channel gives up once it holds more than a line's limit. */
    memset(big, 'a', 199999);
    big[199999] = '\0';
    guest_send(f, "hello version=1\nlog message=");
    guest_send(f, big);
    g_assert_true(podvm_test_wait_until(closed_cond, f, 5000));
    g_assert_error(f->closed_error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(f->closed_error->message, "65536"));
}

typedef struct {
    gboolean done;
    int code;
    GError *error;
} ExecResult;

static void
exec_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ExecResult *r = user_data;

    r->code = -1;
    podvm_app_channel_exec_finish(PODVM_APP_CHANNEL(source), result, &r->code, &r->error);
    r->done = TRUE;
}

static gboolean
exec_done_cond(gpointer data)
{
    return ((ExecResult *)data)->done;
}

static void
hello(Fixture *f)
{
    char *line;

    expect_host_hello(f);
    guest_send(f, "hello version=1\n");
    do {
        line = guest_read_line(f);
        if (strcmp(line, "start") == 0) {
            g_free(line);
            break;
        }
        g_free(line);
    } while (TRUE);
}

static void
test_channel_exec(Fixture *f, gconstpointer data)
{
    const char *const argv[] = { "cat", "-", NULL };
    g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data("in put", 6, NULL);
    g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
    g_autoptr(GOutputStream) err = g_memory_output_stream_new_resizable();
    ExecResult r = { 0 };
    char *line;

    hello(f);
    podvm_app_channel_exec_async(f->channel, NULL, argv, in, out, err, NULL, exec_cb, &r);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "exec id=1 app=web arg=cat arg=- stdin=1");
    g_free(line);
    guest_send(f, "exec-started id=1 pid=40\n");
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "input id=1 data=in%20put");
    g_free(line);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "input-eof id=1");
    g_free(line);
    guest_send(f, "output id=1 fd=1 data=in%20\noutput id=9 fd=1 data=stray\n"
                  "output id=1 fd=2 data=warn%0A\noutput id=1 fd=1 data=put\n"
                  "exec-exited id=1 code=5\n");
    g_assert_true(podvm_test_wait_until(exec_done_cond, &r, 5000));
    g_assert_no_error(r.error);
    g_assert_cmpint(r.code, ==, 5);
    g_assert_cmpmem(g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(out)),
                    g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(out)), "in put", 6);
    g_assert_cmpmem(g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(err)),
                    g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(err)), "warn\n", 5);

    /* Killed by a signal: 128 + signal. Failed: an error. */
    memset(&r, 0, sizeof(r));
    podvm_app_channel_exec_async(f->channel, "web", argv, NULL, NULL, NULL, NULL, exec_cb, &r);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "exec id=2 app=web arg=cat arg=- stdin=0");
    g_free(line);
    guest_send(f, "exec-started id=2 pid=41\nexec-exited id=2 signal=15\n");
    g_assert_true(podvm_test_wait_until(exec_done_cond, &r, 5000));
    g_assert_no_error(r.error);
    g_assert_cmpint(r.code, ==, 143);

    memset(&r, 0, sizeof(r));
    podvm_app_channel_exec_async(f->channel, "nope", argv, NULL, NULL, NULL, NULL, exec_cb, &r);
    g_free(guest_read_line(f));
    guest_send(f, "exec-failed id=3 message=no%20app%20nope\n");
    g_assert_true(podvm_test_wait_until(exec_done_cond, &r, 5000));
    g_assert_error(r.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(r.error->message, "no app nope"));
    g_clear_error(&r.error);
}

static void
test_channel_exec_cancel_and_close(Fixture *f, gconstpointer data)
{
    const char *const argv[] = { "sleep", "100", NULL };
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    ExecResult r = { 0 }, r2 = { 0 };
    char *line;

    hello(f);
    podvm_app_channel_exec_async(f->channel, NULL, argv, NULL, NULL, NULL, cancellable, exec_cb,
                                 &r);
    g_free(guest_read_line(f));
    guest_send(f, "exec-started id=1 pid=40\n");
    g_cancellable_cancel(cancellable);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "kill id=1 signal=9");
    g_free(line);
    g_assert_true(podvm_test_wait_until(exec_done_cond, &r, 5000));
    g_assert_error(r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error(&r.error);
    guest_send(f, "exec-exited id=1 signal=9\n");

    /* A session pending when the guest goes: it fails. */
    podvm_app_channel_exec_async(f->channel, NULL, argv, NULL, NULL, NULL, NULL, exec_cb, &r2);
    g_free(guest_read_line(f));
    g_socket_close(f->guest, NULL);
    g_assert_true(podvm_test_wait_until(exec_done_cond, &r2, 5000));
    g_assert_error(r2.error, PODVM_ERROR, PODVM_ERROR_IO);
    g_clear_error(&r2.error);
    g_assert_true(f->closed);
}

static void
ping_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ExecResult *r = user_data;

    r->code = podvm_app_channel_ping_finish(PODVM_APP_CHANNEL(source), result, &r->error);
    r->done = TRUE;
}

static void
test_channel_ping(Fixture *f, gconstpointer data)
{
    ExecResult r = { 0 };
    char *line;

    hello(f);
    podvm_app_channel_ping_async(f->channel, NULL, ping_cb, &r);
    line = guest_read_line(f);
    g_assert_cmpstr(line, ==, "ping id=1");
    g_free(line);
    guest_send(f, "pong id=2\n");
    g_assert_false(podvm_test_wait_until(exec_done_cond, &r, 200));
    guest_send(f, "pong id=1\n");
    g_assert_true(podvm_test_wait_until(exec_done_cond, &r, 5000));
    g_assert_no_error(r.error);
    g_assert_true(r.code);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/app-channel/codec/encode", test_codec_encode);
    g_test_add_func("/app-channel/codec/roundtrip", test_codec_roundtrip);
    g_test_add_func("/app-channel/codec/malformed", test_codec_malformed);
    g_test_add_func("/app-channel/codec/limits", test_codec_limits);
#define ADD(path, fn) \
    g_test_add("/app-channel/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("config-and-events", test_channel_config);
    ADD("close", test_channel_close);
    ADD("bad-version", test_channel_bad_version);
    ADD("before-hello", test_channel_before_hello);
    ADD("garbage", test_channel_garbage);
    ADD("too-long", test_channel_too_long);
    ADD("exec", test_channel_exec);
    ADD("exec-cancel-and-close", test_channel_exec_cancel_and_close);
    ADD("ping", test_channel_ping);
#undef ADD
    return g_test_run();
}
