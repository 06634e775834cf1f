/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the QMP client: the input is what QEMU sends.
 *
 * A PodvmQmpClient does its handshake over a socketpair; the input is
 * written to the other end in chunks (1 byte to all of it; sizes drawn from
 * a hash of the input, so a crash replays exactly), the main context runs
 * after each chunk, then that end closes. Mostly a chunk also ends at each
 * newline, as when QEMU answers what the client just sent; otherwise lines
 * run together in one read. Once the handshake succeeds the client sends
 * query-status (id podvm-2), query-version (podvm-3) and device_del
 * (podvm-4); the reply to query-status sends cont (podvm-5), so the corpus,
 * captured from QEMU with those ids, reaches reply matching.
 * The hash also picks what the caller does meanwhile: cancel device_del,
 * close the client on an event, drop its reference in a callback.
 *
 * No timer is relied on: the handshake and commands have long timeouts and
 * every run ends when the client sees the socket close (libFuzzer's
 * -timeout reports a client that does not). Checked at the end of every
 * run: each callback ran once, "closed" was emitted at most once, the
 * client was finalized, its socket closed and none of its sources (timers,
 * socket watches, cancellable watches) left in the main context.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-fuzz-util.h"
#include "podvm-qmp-client.h"

/* Long enough never to fire in a run; a run stuck this long is a hang anyway. */
#define LONG_TIMEOUT_MS 60000

enum {
    FLAG_CANCEL_DEVICE_DEL = 1 << 0,
    FLAG_CLOSE_ON_EVENT = 1 << 1,
    FLAG_UNREF_IN_CALLBACK = 1 << 2,
    FLAG_CLOSE_IN_HANDSHAKE = 1 << 3,
    FLAG_BY_LINE = 1 << 4,
};

/* What the caller does besides, drawn from @r: the rarer, the earlier it ends a run. */
static guint32
pick_flags(guint32 r)
{
    guint32 flags = 0;

    if ((r & 3) == 0)
        flags |= FLAG_CANCEL_DEVICE_DEL;
    if (((r >> 2) & 3) == 0)
        flags |= FLAG_CLOSE_ON_EVENT;
    if (((r >> 4) & 7) == 0)
        flags |= FLAG_UNREF_IN_CALLBACK;
    if (((r >> 7) & 15) == 0)
        flags |= FLAG_CLOSE_IN_HANDSHAKE;
    if (((r >> 11) & 3) != 0)
        flags |= FLAG_BY_LINE;
    return flags;
}

typedef struct {
    PodvmQmpClient *client;    /* owned, until a callback drops it */
    PodvmQmpClient *weak;      /* weak pointer: NULL once finalized */
    GCancellable *cancellable; /* owned: device_del's */
    guint32 flags;
    guint callbacks_due; /* async calls whose callback has not run yet */
    guint closed_count;
    guint event_count;
} Run;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* Debug messages carry whole QMP lines: format them too, as --verbose does. */
    podvm_fuzz_init(TRUE);
    /* Create the default context (and its wakeup fd) once, outside the fd checks. */
    g_main_context_default();
    return 0;
}

static void
drain(void)
{
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void
drop_client(Run *run)
{
    g_clear_object(&run->client);
}

static void
check_error(const GError *error)
{
    PODVM_FUZZ_CHECK(error != NULL);
    PODVM_FUZZ_CHECK(error->message != NULL && g_utf8_validate(error->message, -1, NULL));
    if (error->domain == PODVM_QMP_ERROR) {
        PODVM_FUZZ_CHECK(error->code >= PODVM_QMP_ERROR_GENERIC_ERROR &&
                         error->code <= PODVM_QMP_ERROR_PROTOCOL);
        PODVM_FUZZ_CHECK((podvm_qmp_error_class_name(error) != NULL) ==
                         (error->code < PODVM_QMP_ERROR_TIMEOUT));
    } else {
        PODVM_FUZZ_CHECK(error->domain == G_IO_ERROR);
    }
}

static void
execute_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Run *run = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    PODVM_FUZZ_CHECK(run->callbacks_due > 0);
    run->callbacks_due--;
    if (node != NULL) {
        g_autofree char *text = json_to_string(node, FALSE);

        PODVM_FUZZ_CHECK(error == NULL);
        PODVM_FUZZ_CHECK(text != NULL);
    } else {
        check_error(error);
    }
}

static void
execute(Run *run, const char *command, JsonObject *arguments, GCancellable *cancellable,
        GAsyncReadyCallback callback)
{
    run->callbacks_due++;
    podvm_qmp_client_execute_async(run->client, command, arguments, NULL, LONG_TIMEOUT_MS,
                                   cancellable, callback, run);
}

static void
query_status_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Run *run = user_data;
    gboolean ok;

    {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node =
            podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

        PODVM_FUZZ_CHECK(run->callbacks_due > 0);
        run->callbacks_due--;
        ok = node != NULL;
        if (!ok)
            check_error(error);
    }
    /* A command sent from a reply callback, while the client is dispatching. */
    if (ok && run->client != NULL)
        execute(run, "cont", NULL, NULL, execute_cb);
}

static void
query_version_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Run *run = user_data;

    execute_cb(source, result, user_data);
    /* Pending commands keep the client alive; dispose must cope with what is left. */
    if (run->flags & FLAG_UNREF_IN_CALLBACK)
        drop_client(run);
}

static void
handshake_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Run *run = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) arguments = NULL;

    PODVM_FUZZ_CHECK(run->callbacks_due > 0);
    run->callbacks_due--;
    if (!podvm_qmp_client_handshake_finish(PODVM_QMP_CLIENT(source), result, &error)) {
        check_error(error);
        PODVM_FUZZ_CHECK(!podvm_qmp_client_is_connected(PODVM_QMP_CLIENT(source)));
        return;
    }
    PODVM_FUZZ_CHECK(podvm_qmp_client_is_connected(run->client));
    PODVM_FUZZ_CHECK(podvm_qmp_client_get_qemu_version(run->client) != NULL);
    PODVM_FUZZ_CHECK(podvm_qmp_client_get_qemu_package(run->client) != NULL);

    execute(run, "query-status", NULL, NULL, query_status_cb);
    execute(run, "query-version", NULL, NULL, query_version_cb);
    arguments = json_object_new();
    json_object_set_string_member(arguments, "id", "tab");
    execute(run, "device_del", arguments,
            (run->flags & FLAG_CANCEL_DEVICE_DEL) ? run->cancellable : NULL, execute_cb);
    if (run->flags & FLAG_CLOSE_IN_HANDSHAKE)
        podvm_qmp_client_close(run->client);
}

static void
event_cb(PodvmQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
         gpointer user_data)
{
    Run *run = user_data;

    PODVM_FUZZ_CHECK(name != NULL && g_utf8_validate(name, -1, NULL));
    PODVM_FUZZ_CHECK(timestamp_us >= 0);
    PODVM_FUZZ_CHECK(run->closed_count == 0);
    if (data != NULL) {
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), data);
        g_autofree char *text = json_to_string(node, FALSE);

        PODVM_FUZZ_CHECK(text != NULL);
    }
    run->event_count++;
    if ((run->flags & FLAG_CLOSE_ON_EVENT) && run->event_count == 1)
        podvm_qmp_client_close(client);
}

static void
shutdown_cb(PodvmQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
            gpointer user_data)
{
    PODVM_FUZZ_CHECK(g_strcmp0(name, "SHUTDOWN") == 0);
}

static void
closed_cb(PodvmQmpClient *client, GError *reason, gpointer user_data)
{
    Run *run = user_data;

    check_error(reason);
    PODVM_FUZZ_CHECK(!podvm_qmp_client_is_connected(client));
    run->closed_count++;
    PODVM_FUZZ_CHECK(run->closed_count == 1);
}

/* Writes all of @data to the nonblocking @fd, running the main context when it is full. */
static gboolean
write_chunk(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            g_main_context_iteration(NULL, TRUE);
            continue;
        }
        if (n < 0)
            return FALSE; /* the client closed its end */
        data += n;
        len -= (size_t)n;
    }
    return TRUE;
}

static size_t
chunk_size(guint32 *state, const uint8_t *data, size_t left, gboolean by_line)
{
    guint32 r = podvm_fuzz_next(state);
    size_t len;
    const uint8_t *newline;

    switch (r % 4) {
    case 0:
        len = 1;
        break;
    case 1:
        len = MIN(left, 1 + (r >> 8) % 16);
        break;
    case 2:
        len = MIN(left, 1 + (r >> 8) % 512);
        break;
    default:
        len = left;
    }
    if (by_line && (newline = memchr(data, '\n', len)) != NULL)
        len = (size_t)(newline - data) + 1;
    return len;
}

/* The id the next source attached to the default context gets, roughly: ids only grow. */
static guint
next_source_id(void)
{
    GSource *source = g_idle_source_new();
    guint id = g_source_attach(source, NULL);

    g_source_destroy(source);
    g_source_unref(source);
    return id;
}

static gboolean
fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Run run = { 0 };
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GSocketConnection) connection = NULL;
    g_autoptr(GError) error = NULL;
    guint32 state = podvm_fuzz_hash(data, size);
    guint cancel_after;
    size_t offset = 0;
    guint chunk = 0;
    guint first_source = next_source_id();
    guint last_source;
    int fds[2];

    run.flags = pick_flags(podvm_fuzz_next(&state));
    cancel_after = podvm_fuzz_next(&state) % 8;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0)
        PODVM_FUZZ_FAIL("socketpair: %s", g_strerror(errno));
    socket = g_socket_new_from_fd(fds[0], &error);
    PODVM_FUZZ_CHECK(socket != NULL);
    connection = g_socket_connection_factory_create_connection(socket);

    run.client = podvm_qmp_client_new();
    run.weak = run.client;
    g_object_add_weak_pointer(G_OBJECT(run.client), (gpointer *)&run.weak);
    run.cancellable = g_cancellable_new();
    g_signal_connect(run.client, "event", G_CALLBACK(event_cb), &run);
    g_signal_connect(run.client, "event::SHUTDOWN", G_CALLBACK(shutdown_cb), &run);
    g_signal_connect(run.client, "closed", G_CALLBACK(closed_cb), &run);

    run.callbacks_due++;
    podvm_qmp_client_handshake_async(run.client, connection, LONG_TIMEOUT_MS, NULL, handshake_cb,
                                     &run);
    /* The client holds what it needs. */
    g_clear_object(&connection);
    g_clear_object(&socket);
    drain();

    while (offset < size) {
        size_t len =
            chunk_size(&state, data + offset, size - offset, (run.flags & FLAG_BY_LINE) != 0);

        if (!write_chunk(fds[1], data + offset, len))
            break;
        offset += len;
        drain();
        if (chunk++ == cancel_after)
            g_cancellable_cancel(run.cancellable);
    }
    close(fds[1]);

    /* The client must see the end of the stream (or be gone already). */
    while (run.weak != NULL && run.closed_count == 0)
        g_main_context_iteration(NULL, TRUE);
    drain();
    PODVM_FUZZ_CHECK(run.callbacks_due == 0);

    drop_client(&run);
    drain();
    if (run.weak != NULL)
        PODVM_FUZZ_FAIL("the client was not finalized");
    if (fd_is_open(fds[0]))
        PODVM_FUZZ_FAIL("the client's socket was left open");
    g_object_unref(run.cancellable);
    last_source = next_source_id();
    for (guint id = first_source + 1; id < last_source; id++) {
        if (g_main_context_find_source_by_id(NULL, id) != NULL)
            PODVM_FUZZ_FAIL("source %u is still attached", id);
    }
    return 0;
}
