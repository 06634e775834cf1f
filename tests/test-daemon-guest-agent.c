/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest agent's protocol (podvm-guest-agent-proto.c) and podvmd's
 * client (podvm-guest-agent.c) against a scripted fake agent on a socket
 * pair: the protocol's edge cases that a real qemu-guest-agent does not
 * produce on demand (garbage, stale sync answers, over-long lines, an
 * agent that never answers, a channel that closes). The real agent is
 * tested in test-daemon-agent.c.
 */
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>

#include "podvm-error.h"
#include "podvm-guest-agent-proto.h"
#include "podvm-guest-agent.h"
#include "podvm-json.h"

/* ---- the pure parts ---------------------------------------------------------------------------
 */

typedef struct {
    GPtrArray *lines; /* char*, "<dropped>" for an over-long one */
} Lines;

static void
collect_line(const char *line, gsize length, gpointer user_data)
{
    Lines *lines = user_data;

    g_assert_true(line == NULL || strlen(line) == length);
    g_ptr_array_add(lines->lines, g_strdup(line != NULL ? line : "<dropped>"));
}

static void
test_line_buffer(void)
{
    PodvmQgaLineBuffer buffer;
    Lines lines = { g_ptr_array_new_with_free_func(g_free) };
    g_autofree char *big = g_malloc(PODVM_QGA_MAX_LINE + 10);

    podvm_qga_line_buffer_init(&buffer);
    /* Split anywhere; 0xFF drops the partial line before it. */
    podvm_qga_line_buffer_feed(&buffer, (const guint8 *)"{\"re", 4, collect_line, &lines);
    podvm_qga_line_buffer_feed(&buffer, (const guint8 *)"turn\": 1}\npart", 14, collect_line,
                               &lines);
    podvm_qga_line_buffer_feed(&buffer, (const guint8 *)"ial\xff{}\n\n", 8, collect_line, &lines);
    g_assert_cmpuint(lines.lines->len, ==, 3);
    g_assert_cmpstr(g_ptr_array_index(lines.lines, 0), ==, "{\"return\": 1}");
    g_assert_cmpstr(g_ptr_array_index(lines.lines, 1), ==, "{}");
    g_assert_cmpstr(g_ptr_array_index(lines.lines, 2), ==, "");

    /* A line over the bound is dropped whole, in one piece or many. */
    memset(big, 'x', PODVM_QGA_MAX_LINE + 10);
    podvm_qga_line_buffer_feed(&buffer, (const guint8 *)big, PODVM_QGA_MAX_LINE + 10, collect_line,
                               &lines);
    podvm_qga_line_buffer_feed(&buffer, (const guint8 *)big, 100, collect_line, &lines);
    podvm_qga_line_buffer_feed(&buffer, (const guint8 *)"\n{\"return\": 2}\n", 15, collect_line,
                               &lines);
    big[PODVM_QGA_MAX_LINE + 1] = '\n';
    podvm_qga_line_buffer_feed(&buffer, (const guint8 *)big, PODVM_QGA_MAX_LINE + 2, collect_line,
                               &lines);
    g_assert_cmpuint(lines.lines->len, ==, 6);
    g_assert_cmpstr(g_ptr_array_index(lines.lines, 3), ==, "<dropped>");
    g_assert_cmpstr(g_ptr_array_index(lines.lines, 4), ==, "{\"return\": 2}");
    g_assert_cmpstr(g_ptr_array_index(lines.lines, 5), ==, "<dropped>");
    podvm_qga_line_buffer_clear(&buffer);
    g_ptr_array_unref(lines.lines);
}

static PodvmQgaReply *
reply(const char *text, GError **error)
{
    return podvm_qga_reply_parse(text, strlen(text), error);
}

static void
test_replies(void)
{
    static const char *const refused[] = {
        "",
        "not json",
        "[1]",
        "{\"event\": \"x\"}",
        "{\"error\": 1}",
        "{\"return\": 1",
        "{\"return\": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmQgaReply) ok = reply("{\"return\": 42}", &error);
    g_autoptr(PodvmQgaReply) failed =
        reply("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\\u0001pe\"}}", &error);

    g_assert_no_error(error);
    g_assert_true(podvm_qga_sync_matches(ok->ret, 42));
    g_assert_false(podvm_qga_sync_matches(ok->ret, 43));
    g_assert_cmpstr(failed->error_class, ==, "CommandNotFound");
    /* The guest's text is cleaned of control characters. */
    g_assert_cmpstr(failed->error_desc, ==, "no?pe");
    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(PodvmQgaReply) bad = reply(refused[i], &error);

        g_assert_null(bad);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_clear_error(&error);
    }
}

static JsonNode *
ret_of(const char *text)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmQgaReply) r = reply(text, &error);

    g_assert_no_error(error);
    return json_node_copy(r->ret);
}

static void
test_os_info(void)
{
    g_autoptr(JsonNode) ret = ret_of(
        "{\"return\": {\"name\": \"Debian GNU/Linux\", \"kernel-release\": "
        "\"6.1.0-57-cloud-amd64\", "
        "\"version\": \"12 (bookworm)\", \"pretty-name\": \"Debian GNU/Linux 12 (bookworm)\", "
        "\"version-id\": \"12\", \"kernel-version\": \"#1 SMP PREEMPT_DYNAMIC\", \"machine\": "
        "\"x86_64\", \"id\": \"debian\", \"variant\": 7, \"extra\": \"x\"}}");
    g_autoptr(JsonNode) not_object = ret_of("{\"return\": \"linux\"}");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) info = podvm_qga_os_info_parse(ret, &error);
    g_autoptr(JsonObject) none = podvm_qga_os_info_parse(not_object, &error);

    g_assert_nonnull(info);
    g_assert_cmpstr(json_object_get_string_member(info, "name"), ==, "Debian GNU/Linux");
    g_assert_cmpstr(json_object_get_string_member(info, "kernelRelease"), ==,
                    "6.1.0-57-cloud-amd64");
    g_assert_cmpstr(json_object_get_string_member(info, "prettyName"), ==,
                    "Debian GNU/Linux 12 (bookworm)");
    g_assert_cmpstr(json_object_get_string_member(info, "versionId"), ==, "12");
    g_assert_cmpstr(json_object_get_string_member(info, "kernelVersion"), ==,
                    "#1 SMP PREEMPT_DYNAMIC");
    g_assert_cmpstr(json_object_get_string_member(info, "machine"), ==, "x86_64");
    g_assert_cmpstr(json_object_get_string_member(info, "id"), ==, "debian");
    g_assert_cmpstr(json_object_get_string_member(info, "version"), ==, "12 (bookworm)");
    /* Only KubeVirt's members, only strings. */
    g_assert_cmpuint(json_object_get_size(info), ==, 8);
    g_assert_null(none);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
}

static void
test_interfaces(void)
{
    g_autoptr(JsonNode) ret = ret_of(
        "{\"return\": [{\"name\": \"lo\", \"hardware-address\": \"00:00:00:00:00:00\", "
        "\"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": \"127.0.0.1\", "
        "\"prefix\": 8}]}, {\"name\": \"eth0\", \"hardware-address\": \"02:AB:cd:00:11:22\", "
        "\"ip-addresses\": [{\"ip-address-type\": \"ipv6\", \"ip-address\": \"fd10:0:2::2\"}, "
        "{\"ip-address\": \"10.0.2.2\"}, {\"ip-address\": \"10.0.2.999\"}, 5, {}]}, "
        "{\"name\": \"\"}, 7, {\"name\": \"eth1\", \"hardware-address\": \"zz\"}]}");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) interfaces = podvm_qga_interfaces_parse(ret, &error);
    const PodvmQgaInterface *lo, *eth0, *eth1;

    g_assert_no_error(error);
    g_assert_cmpuint(interfaces->len, ==, 3);
    lo = g_ptr_array_index(interfaces, 0);
    eth0 = g_ptr_array_index(interfaces, 1);
    eth1 = g_ptr_array_index(interfaces, 2);
    g_assert_cmpstr(lo->name, ==, "lo");
    g_assert_null(lo->mac);
    g_assert_cmpstr(lo->addresses[0], ==, "127.0.0.1");
    g_assert_cmpstr(eth0->mac, ==, "02:ab:cd:00:11:22");
    /* IPv4 first; what is not an address is dropped. */
    g_assert_cmpuint(g_strv_length(eth0->addresses), ==, 2);
    g_assert_cmpstr(eth0->addresses[0], ==, "10.0.2.2");
    g_assert_cmpstr(eth0->addresses[1], ==, "fd10:0:2::2");
    g_assert_null(eth1->mac);
    g_assert_cmpuint(g_strv_length(eth1->addresses), ==, 0);
}

static void
test_small_answers(void)
{
    g_autoptr(JsonNode) frozen = ret_of("{\"return\": \"frozen\"}");
    g_autoptr(JsonNode) odd = ret_of("{\"return\": \"melting\"}");
    g_autoptr(JsonNode) count = ret_of("{\"return\": 3}");
    g_autoptr(JsonNode) negative = ret_of("{\"return\": -1}");
    g_autoptr(JsonNode) info = ret_of("{\"return\": {\"version\": \"7.2.0\"}}");
    g_autoptr(GError) error = NULL;
    g_autofree char *version = podvm_qga_version_parse(info, &error);

    g_assert_cmpstr(version, ==, "7.2.0");
    g_assert_cmpstr(podvm_qga_freeze_status_parse(frozen, &error), ==, "frozen");
    g_assert_no_error(error);
    g_assert_null(podvm_qga_freeze_status_parse(odd, &error));
    g_clear_error(&error);
    g_assert_cmpint(podvm_qga_count_parse(count, &error), ==, 3);
    g_assert_cmpint(podvm_qga_count_parse(negative, &error), ==, -1);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
}

/* ---- the client against a scripted fake agent -------------------------------------------------
 */

typedef struct {
    PodvmGuestAgent *client;
    GSocket *peer;
    GString *received;
    guint closed;
} Fixture;

static void
closed_cb(PodvmGuestAgent *client, gpointer user_data)
{
    Fixture *f = user_data;

    f->closed++;
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    int fds[2];
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) mine = NULL;
    g_autoptr(GSocketConnection) connection = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
    mine = g_socket_new_from_fd(fds[0], &error);
    g_assert_no_error(error);
    f->peer = g_socket_new_from_fd(fds[1], &error);
    g_assert_no_error(error);
    g_socket_set_blocking(f->peer, FALSE);
    connection = g_socket_connection_factory_create_connection(mine);
    f->client = podvm_guest_agent_new("test");
    g_signal_connect(f->client, "closed", G_CALLBACK(closed_cb), f);
    podvm_guest_agent_open_stream(f->client, G_IO_STREAM(connection));
    f->received = g_string_new(NULL);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->client);
    g_clear_object(&f->peer);
    g_string_free(f->received, TRUE);
    /* Whatever the client left to finish (closed tasks) runs now. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

/* The next line the client sent (its 0xFF bytes shown as "<FF>"), waiting up to 10 s. */
static char *
peer_line(Fixture *f)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        char buffer[4096];
        gssize n;
        const char *eol = strchr(f->received->str, '\n');

        if (eol != NULL) {
            g_autoptr(GString) line = g_string_new_len(f->received->str, eol - f->received->str);

            g_string_erase(f->received, 0, eol - f->received->str + 1);
            g_string_replace(line, "\xff", "<FF>", 0);
            return g_string_free(g_steal_pointer(&line), FALSE);
        }
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        n = g_socket_receive(f->peer, buffer, sizeof buffer, NULL, NULL);
        if (n > 0)
            g_string_append_len(f->received, buffer, n);
        else
            g_main_context_iteration(NULL, n < 0);
    }
}

/* Sends @text whole; the main loop runs while the socket is full (the client reads it). */
static void
peer_send(Fixture *f, const char *text)
{
    gsize length = strlen(text);
    gsize done = 0;

    while (done < length) {
        g_autoptr(GError) error = NULL;
        gssize n = g_socket_send(f->peer, text + done, length - done, NULL, &error);

        if (n > 0) {
            done += (gsize)n;
            continue;
        }
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
        g_main_context_iteration(NULL, FALSE);
    }
}

/* Reads the sync the client sent and gives its id. */
static gint64
peer_sync(Fixture *f)
{
    g_autofree char *line = peer_line(f);
    const char *prefix = "<FF>{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":";

    g_assert_true(g_str_has_prefix(line, prefix));
    return g_ascii_strtoll(line + strlen(prefix), NULL, 10);
}

typedef struct {
    gboolean done;
    JsonNode *ret;
    GError *error;
} Result;

static void
done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Result *r = user_data;

    r->ret = podvm_guest_agent_execute_finish(PODVM_GUEST_AGENT(source), result, &r->error);
    r->done = TRUE;
}

static void
wait_result(Result *r)
{
    gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

    while (!r->done) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_main_context_iteration(NULL, TRUE);
    }
}

static void
result_clear(Result *r)
{
    g_clear_pointer(&r->ret, json_node_unref);
    g_clear_error(&r->error);
    r->done = FALSE;
}

/* Garbage and stale answers before the sync's own are dropped; then the command's answer. */
static void
test_sync_drops_stale(Fixture *f, gconstpointer data)
{
    Result r = { 0 };
    gint64 id;
    g_autofree char *command = NULL;
    g_autofree char *text = NULL;

    podvm_guest_agent_execute_async(f->client, "guest-info", NULL, 2000, FALSE, NULL, done_cb, &r);
    id = peer_sync(f);
    text = g_strdup_printf("garbage\n{\"return\": %" G_GINT64_FORMAT "}\n"
                           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
                           "error\"}}\n{\"return\": {\"version\": \"stale\"}}\npartial\xff"
                           "{\"return\": %" G_GINT64_FORMAT "}\n",
                           id + 1, id);
    peer_send(f, text);
    command = peer_line(f);
    g_assert_cmpstr(command, ==, "{\"execute\":\"guest-info\"}");
    peer_send(f, "{\"return\": {\"version\": \"7.2.0\"}}\n");
    wait_result(&r);
    g_assert_no_error(r.error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(r.ret), "version"), ==,
                    "7.2.0");
    result_clear(&r);
    g_assert_cmpuint(f->closed, ==, 0);
}

/* An error answer is the command's error; garbage as the answer too; the next one works. */
static void
test_errors(Fixture *f, gconstpointer data)
{
    Result r = { 0 };
    g_autofree char *text = NULL;
    g_autofree char *command = NULL;
    g_autoptr(JsonObject) arguments = json_object_new();

    json_object_set_string_member(arguments, "mode", "powerdown");
    podvm_guest_agent_execute_async(f->client, "guest-x", NULL, 2000, FALSE, NULL, done_cb, &r);
    text = g_strdup_printf("{\"return\": %" G_GINT64_FORMAT "}\n", peer_sync(f));
    peer_send(f, text);
    g_free(peer_line(f));
    peer_send(f, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command guest-x "
                 "has not been found\"}}\n");
    wait_result(&r);
    g_assert_error(r.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(r.error->message, "has not been found (CommandNotFound)"));
    result_clear(&r);

    podvm_guest_agent_execute_async(f->client, "guest-y", arguments, 2000, FALSE, NULL, done_cb,
                                    &r);
    g_free(text);
    text = g_strdup_printf("{\"return\": %" G_GINT64_FORMAT "}\n", peer_sync(f));
    peer_send(f, text);
    command = peer_line(f);
    g_assert_cmpstr(command, ==,
                    "{\"execute\":\"guest-y\",\"arguments\":{\"mode\":\"powerdown\"}}");
    peer_send(f, "]]]\n");
    wait_result(&r);
    g_assert_error(r.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    result_clear(&r);
}

/*
 * A hung agent: the sync times out; the late answer to it is dropped by the
 * next command's sync (another id), which then works.
 */
static void
test_timeout_then_resync(Fixture *f, gconstpointer data)
{
    Result r = { 0 };
    gint64 first, second;
    g_autofree char *late = NULL;
    g_autofree char *text = NULL;
    gint64 started = g_get_monotonic_time();

    podvm_guest_agent_execute_async(f->client, "guest-info", NULL, 2000, FALSE, NULL, done_cb, &r);
    first = peer_sync(f);
    wait_result(&r);
    g_assert_error(r.error, PODVM_ERROR, PODVM_ERROR_TIMEOUT);
    g_assert_cmpint(g_get_monotonic_time() - started, >=,
                    (PODVM_QGA_TIMEOUT_SYNC_MS - 100) * (gint64)1000);
    result_clear(&r);

    podvm_guest_agent_execute_async(f->client, "guest-ping", NULL, 2000, FALSE, NULL, done_cb, &r);
    second = peer_sync(f);
    g_assert_cmpint(first, !=, second);
    late = g_strdup_printf("{\"return\": %" G_GINT64_FORMAT "}\n", first);
    peer_send(f, late);
    text = g_strdup_printf("{\"return\": %" G_GINT64_FORMAT "}\n", second);
    peer_send(f, text);
    g_free(peer_line(f));
    /* The command's own timeout: the sync was answered, the command not. */
    wait_result(&r);
    g_assert_error(r.error, PODVM_ERROR, PODVM_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(r.error->message, "guest-ping"));
    result_clear(&r);
}

/* guest-shutdown answers only when it fails: silence, or the channel closing, is success. */
static void
test_no_reply(Fixture *f, gconstpointer data)
{
    Result r = { 0 };
    g_autofree char *text = NULL;

    podvm_guest_agent_execute_async(f->client, "guest-shutdown", NULL, 500, TRUE, NULL, done_cb,
                                    &r);
    text = g_strdup_printf("{\"return\": %" G_GINT64_FORMAT "}\n", peer_sync(f));
    peer_send(f, text);
    g_free(peer_line(f));
    wait_result(&r);
    g_assert_no_error(r.error);
    g_assert_true(JSON_NODE_HOLDS_NULL(r.ret));
    result_clear(&r);

    podvm_guest_agent_execute_async(f->client, "guest-shutdown", NULL, 5000, TRUE, NULL, done_cb,
                                    &r);
    g_free(text);
    text = g_strdup_printf("{\"return\": %" G_GINT64_FORMAT "}\n", peer_sync(f));
    peer_send(f, text);
    g_free(peer_line(f));
    g_socket_close(f->peer, NULL);
    wait_result(&r);
    g_assert_no_error(r.error);
    g_assert_cmpuint(f->closed, ==, 1);
    g_assert_false(podvm_guest_agent_is_open(f->client));
    result_clear(&r);
}

/* An over-long answer fails the command, never grows memory; a closed channel fails the rest. */
static void
test_long_line_and_close(Fixture *f, gconstpointer data)
{
    Result r = { 0 };
    Result queued = { 0 };
    g_autofree char *text = NULL;
    g_autofree char *big = g_malloc(64 * 1024 + 1);

    podvm_guest_agent_execute_async(f->client, "guest-get-osinfo", NULL, 10000, FALSE, NULL,
                                    done_cb, &r);
    podvm_guest_agent_execute_async(f->client, "guest-info", NULL, 10000, FALSE, NULL, done_cb,
                                    &queued);
    text = g_strdup_printf("{\"return\": %" G_GINT64_FORMAT "}\n", peer_sync(f));
    peer_send(f, text);
    g_free(peer_line(f));
    memset(big, 'a', 64 * 1024);
    big[64 * 1024] = '\0';
    for (guint i = 0; i < PODVM_QGA_MAX_LINE / (64 * 1024) + 1; i++)
        peer_send(f, big);
    peer_send(f, "\n");
    wait_result(&r);
    g_assert_error(r.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(r.error->message, "longer than"));
    result_clear(&r);

    /* The queued one syncs; the channel closes under it. */
    peer_sync(f);
    g_socket_close(f->peer, NULL);
    wait_result(&queued);
    g_assert_error(queued.error, PODVM_ERROR, PODVM_ERROR_IO);
    result_clear(&queued);
    g_assert_cmpuint(f->closed, ==, 1);

    /* Closed: a new command fails at once. */
    podvm_guest_agent_execute_async(f->client, "guest-info", NULL, 1000, FALSE, NULL, done_cb, &r);
    wait_result(&r);
    g_assert_error(r.error, PODVM_ERROR, PODVM_ERROR_IO);
    result_clear(&r);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/guest-agent/proto/line-buffer", test_line_buffer);
    g_test_add_func("/podvm/daemon/guest-agent/proto/replies", test_replies);
    g_test_add_func("/podvm/daemon/guest-agent/proto/os-info", test_os_info);
    g_test_add_func("/podvm/daemon/guest-agent/proto/interfaces", test_interfaces);
    g_test_add_func("/podvm/daemon/guest-agent/proto/small-answers", test_small_answers);
    g_test_add("/podvm/daemon/guest-agent/client/sync-drops-stale", Fixture, NULL, fixture_set_up,
               test_sync_drops_stale, fixture_tear_down);
    g_test_add("/podvm/daemon/guest-agent/client/errors", Fixture, NULL, fixture_set_up,
               test_errors, fixture_tear_down);
    g_test_add("/podvm/daemon/guest-agent/client/timeout-then-resync", Fixture, NULL,
               fixture_set_up, test_timeout_then_resync, fixture_tear_down);
    g_test_add("/podvm/daemon/guest-agent/client/no-reply", Fixture, NULL, fixture_set_up,
               test_no_reply, fixture_tear_down);
    g_test_add("/podvm/daemon/guest-agent/client/long-line-and-close", Fixture, NULL,
               fixture_set_up, test_long_line_and_close, fixture_tear_down);
    return g_test_run();
}
