/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * End to end over REST: podvmd on a private bus with its REST socket
 * (RUN_DIR/api.sock), driven with libsoup's client and with real curl,
 * booting the test guest under real QEMU (TCG).
 */
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 90000

typedef struct {
    PodvmTestDaemon *daemon;
    char *socket_path;
    SoupSession *session;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocketAddress) address = NULL;

    f->daemon = podvm_test_daemon_new();
    if (f->daemon == NULL)
        return;
    f->socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    address = g_unix_socket_address_new(f->socket_path);
    /* Long operations (stop waits out the grace period) answer late. */
    f->session = soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->session);
    g_free(f->socket_path);
    podvm_test_daemon_free(f->daemon);
}

typedef struct {
    guint status;
    char *body;
    SoupMessageHeaders *headers;
    JsonNode *json; /* NULL when the body is not JSON */
} Response;

static void
response_free(Response *r)
{
    g_free(r->body);
    g_clear_pointer(&r->headers, soup_message_headers_unref);
    g_clear_pointer(&r->json, json_node_unref);
    g_free(r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Response, response_free)

static SoupMessage *
new_message(const char *method, const char *path)
{
    g_autofree char *uri = g_strconcat("http://localhost", path, NULL);

    return soup_message_new(method, uri);
}

static Response *
send_message(Fixture *f, SoupMessage *msg)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = soup_session_send_and_read(f->session, msg, NULL, &error);
    g_autoptr(JsonParser) parser = json_parser_new();
    Response *r = g_new0(Response, 1);

    g_assert_no_error(error);
    r->status = soup_message_get_status(msg);
    r->body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    r->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
    if (json_parser_load_from_data(parser, r->body, -1, NULL) &&
        json_parser_get_root(parser) != NULL)
        r->json = json_node_ref(json_parser_get_root(parser));
    return r;
}

static Response *
http(Fixture *f, const char *method, const char *path, const char *body)
{
    g_autoptr(SoupMessage) msg = new_message(method, path);

    if (body != NULL) {
        g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }
    return send_message(f, msg);
}

static JsonObject *
object_of(Response *r)
{
    if (r->json == NULL || !JSON_NODE_HOLDS_OBJECT(r->json))
        g_error("expected a JSON object, got: %s", r->body);
    return json_node_get_object(r->json);
}

static const char *
phase_of(Response *r)
{
    JsonObject *status = json_object_get_object_member(object_of(r), "status");

    return json_object_get_string_member(status, "phase");
}

/* Asserts an error document with this status and reason; returns its "error". */
static JsonObject *
assert_error(Response *r, guint status, const char *reason)
{
    JsonObject *error;

    if (r->status != status)
        g_test_message("unexpected answer %u: %s", r->status, r->body);
    g_assert_cmpuint(r->status, ==, status);
    g_assert_cmpstr(soup_message_headers_get_content_type(r->headers, NULL), ==,
                    "application/json");
    error = json_object_get_object_member(object_of(r), "error");
    g_assert_nonnull(error);
    g_assert_cmpint(json_object_get_int_member(error, "code"), ==, status);
    g_assert_cmpstr(json_object_get_string_member(error, "reason"), ==, reason);
    g_assert_cmpstr(json_object_get_string_member(error, "message"), !=, "");
    return error;
}

static void
create_pod(Fixture *f, const char *name, int grace)
{
    g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, grace);
    g_autoptr(Response) r = http(f, "POST", "/v1/pods", spec);
    g_autofree char *location = g_strconcat("/v1/pods/", name, NULL);

    if (r->status != SOUP_STATUS_CREATED)
        g_test_message("create: %s", r->body);
    g_assert_cmpuint(r->status, ==, SOUP_STATUS_CREATED);
    g_assert_cmpstr(soup_message_headers_get_one(r->headers, "Location"), ==, location);
    g_assert_cmpstr(phase_of(r), ==, "Pending");
}

static void
start_pod(Fixture *f, const char *name)
{
    g_autofree char *path = g_strdup_printf("/v1/pods/%s/start", name);
    g_autoptr(Response) r = http(f, "POST", path, NULL);

    if (r->status != SOUP_STATUS_OK)
        g_test_message("start: %s", r->body);
    g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    g_assert_cmpstr(phase_of(r), ==, "Running");
}

static void
wait_guest_ready(Fixture *f, const char *name)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);

    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-GUEST-READY", BOOT_TIMEOUT_MS));
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_socket(Fixture *f, gconstpointer data)
{
    struct stat st;

    if (f->daemon == NULL)
        return;
    g_assert_cmpint(stat(f->socket_path, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));
    g_assert_cmpint(st.st_mode & 0777, ==, 0660);
    {
        g_autoptr(Response) r = http(f, "GET", "/healthz", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_cmpstr(r->body, ==, "ok\n");
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/version", NULL);
        JsonObject *doc = object_of(r);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_cmpstr(json_object_get_string_member(doc, "accelerator"), ==, "tcg");
        g_assert_true(json_object_has_member(doc, "version"));
        g_assert_true(json_object_has_member(doc, "qemuBinary"));
    }
}

static void
test_lifecycle(Fixture *f, gconstpointer data)
{
    if (f->daemon == NULL)
        return;
    create_pod(f, "web", 2);
    start_pod(f, "web");
    wait_guest_ready(f, "web");

    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/web/log", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_nonnull(strstr(r->body, "PODVM-GUEST-READY"));
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/metrics", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_nonnull(strstr(r->body, "podvm_pods{phase=\"Running\"} 1\n"));
        g_assert_nonnull(strstr(r->body, "podvm_pods{phase=\"Stopped\"} 0\n"));
        g_assert_nonnull(strstr(r->body, "podvm_rest_requests_total{code=\"200\"} "));
    }
    {
        g_autoptr(Response) r =
            http(f, "POST", "/v1/pods/web/qmp", "{\"execute\": \"query-status\"}");
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_nonnull(strstr(r->body, "running"));
    }
    {
        /* Start of a running pod: 409 Conflict. */
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/web/start", NULL);
        assert_error(r, 409, "Conflict");
    }
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/web/pause", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_cmpstr(phase_of(r), ==, "Paused");
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/web", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_cmpstr(phase_of(r), ==, "Paused");
    }
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/web/resume", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_cmpstr(phase_of(r), ==, "Running");
    }
    {
        /* Deleting a running pod without force: refused. */
        g_autoptr(Response) r = http(f, "DELETE", "/v1/pods/web", NULL);
        assert_error(r, 409, "Conflict");
    }
    {
        g_autoptr(Response) r =
            http(f, "POST", "/v1/pods/web/stop", "{\"gracePeriodSeconds\": -1}");
        assert_error(r, 400, "InvalidArgument");
    }
    {
        gint64 before = g_get_monotonic_time();
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/web/stop", "{\"gracePeriodSeconds\": 1}");
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_cmpstr(phase_of(r), ==, "Stopped");
        /* Within the grace period given here, plus QEMU's quit. */
        g_assert_cmpint(g_get_monotonic_time() - before, <, 30 * G_USEC_PER_SEC);
    }
    {
        g_autoptr(Response) r = http(f, "DELETE", "/v1/pods/web", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/web", NULL);
        assert_error(r, 404, "NotFound");
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_true(JSON_NODE_HOLDS_ARRAY(r->json));
        g_assert_cmpuint(json_array_get_length(json_node_get_array(r->json)), ==, 0);
    }
}

static void
test_nowait(Fixture *f, gconstpointer data)
{
    if (f->daemon == NULL)
        return;
    create_pod(f, "quick", 1);
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/quick/start?wait=false", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_ACCEPTED);
        g_assert_nonnull(object_of(r));
    }
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "quick", "Running", BOOT_TIMEOUT_MS));
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/quick/start?wait=maybe", NULL);
        assert_error(r, 400, "InvalidArgument");
    }
    {
        g_autoptr(Response) r = http(f, "DELETE", "/v1/pods/quick?force=true", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/quick", NULL);
        assert_error(r, 404, "NotFound");
    }
}

static void
test_errors(Fixture *f, gconstpointer data)
{
    if (f->daemon == NULL)
        return;
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/nope", NULL);
        JsonObject *error = assert_error(r, 404, "NotFound");
        g_assert_nonnull(strstr(json_object_get_string_member(error, "message"), "nope"));
    }
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/nope/start", NULL);
        assert_error(r, 404, "NotFound");
    }
    {
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods", "{}");
        assert_error(r, 405, "MethodNotAllowed");
        g_assert_cmpstr(soup_message_headers_get_one(r->headers, "Allow"), ==, "GET, POST");
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/web/start", NULL);
        assert_error(r, 405, "MethodNotAllowed");
        g_assert_cmpstr(soup_message_headers_get_one(r->headers, "Allow"), ==, "POST");
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/nothing/here", NULL);
        assert_error(r, 404, "NotFound");
    }
    {
        /* Bad JSON: the message says where (line:column). */
        g_autoptr(Response) r = http(f, "POST", "/v1/pods", "{\n  \"metadata\": {,\n}");
        JsonObject *error = assert_error(r, 400, "InvalidSpec");
        g_assert_nonnull(strstr(json_object_get_string_member(error, "message"), ":2:"));
    }
    {
        /* An invalid spec: every problem with its JSON path. */
        g_autoptr(Response) r =
            http(f, "POST", "/v1/pods",
                 "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", "
                 "\"metadata\": {\"name\": \"Bad_Name\"}, "
                 "\"spec\": {\"domain\": {\"cpu\": {\"cores\": \"two\"}}, \"bogus\": 1}}");
        JsonObject *error = assert_error(r, 400, "InvalidSpec");
        JsonArray *details = json_object_get_array_member(error, "details");
        gboolean saw_name = FALSE, saw_cores = FALSE, saw_bogus = FALSE;

        g_assert_nonnull(details);
        for (guint i = 0; i < json_array_get_length(details); i++) {
            JsonObject *problem = json_array_get_object_element(details, i);
            const char *path = json_object_get_string_member(problem, "path");
            g_assert_cmpstr(json_object_get_string_member(problem, "message"), !=, "");
            saw_name |= g_str_equal(path, "metadata.name");
            saw_cores |= g_str_equal(path, "spec.domain.cpu.cores");
            saw_bogus |= g_str_equal(path, "spec.bogus");
        }
        g_assert_true(saw_name && saw_cores && saw_bogus);
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods", NULL);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(r->json)), ==, 0);
    }
    create_pod(f, "dup", 1);
    {
        g_autofree char *spec = podvm_test_guest_spec("dup", NULL, NULL, 1);
        g_autoptr(Response) r = http(f, "POST", "/v1/pods", spec);
        assert_error(r, 409, "AlreadyExists");
    }
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/dup/qmp", "{\"execute\":");
        assert_error(r, 400, "InvalidArgument");
    }
    {
        /* Not running: no monitor to talk to. */
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/dup/qmp", "{\"execute\": \"stop\"}");
        assert_error(r, 409, "Conflict");
    }
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/dup/stop", NULL);
        assert_error(r, 409, "Conflict");
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods?labelSelector==x", NULL);
        assert_error(r, 400, "InvalidArgument");
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods?labelSelector=app=none", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(r->json)), ==, 0);
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/metrics", NULL);
        g_assert_nonnull(strstr(r->body, "podvm_pods{phase=\"Pending\"} 1\n"));
        g_assert_nonnull(strstr(r->body, "podvm_rest_requests_total{code=\"404\"} "));
        g_assert_nonnull(strstr(r->body, "podvm_rest_requests_total{code=\"409\"} "));
    }
}

/* A pod with labels; its kernel does not exist, which only matters at start. */
#define LABELED_SPEC                                                       \
    "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": "  \
    "{\"name\": \"%s\", \"labels\": {\"app\": \"%s\", \"tier\": \"x\"}}, " \
    "\"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": "              \
    "{\"kernelPath\": \"/nonexistent/vmlinuz\"}}}}}"

static void
test_labels(Fixture *f, gconstpointer data)
{

    if (f->daemon == NULL)
        return;
    for (guint i = 0; i < 3; i++) {
        const char *names[] = { "a", "b", "c" }, *apps[] = { "web", "db", "web" };
        g_autofree char *spec = g_strdup_printf(LABELED_SPEC, names[i], apps[i]);
        g_autoptr(Response) r = http(f, "POST", "/v1/pods", spec);
        if (r->status != SOUP_STATUS_CREATED)
            g_test_message("create: %s", r->body);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_CREATED);
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods?labelSelector=app%3Dweb", NULL);
        JsonArray *pods = json_node_get_array(r->json);
        g_assert_cmpuint(json_array_get_length(pods), ==, 2);
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods?labelSelector=app=db,tier", NULL);
        JsonArray *pods = json_node_get_array(r->json);
        g_assert_cmpuint(json_array_get_length(pods), ==, 1);
    }
}

/* 2 MiB with a Content-Length, then 2 MiB chunked: 413 both times. */
static void
test_too_large(Fixture *f, gconstpointer data)
{
    gsize size = 2 * 1024 * 1024;
    g_autofree char *big = g_malloc(size);

    if (f->daemon == NULL)
        return;
    memset(big, ' ', size);
    {
        g_autoptr(SoupMessage) msg = new_message("POST", "/v1/pods");
        g_autoptr(GBytes) bytes = g_bytes_new_static(big, size);
        g_autoptr(Response) r = NULL;

        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
        r = send_message(f, msg);
        assert_error(r, 413, "PayloadTooLarge");
    }
    {
        g_autoptr(SoupMessage) msg = new_message("POST", "/v1/pods");
        g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_data(big, size, NULL);
        g_autoptr(Response) r = NULL;

        soup_message_set_request_body(msg, "application/json", stream, -1);
        r = send_message(f, msg);
        assert_error(r, 413, "PayloadTooLarge");
    }
    {
        /* The daemon carries on. */
        g_autoptr(Response) r = http(f, "GET", "/healthz", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
}

/* Reads the stream until @needle has been seen; returns what was read. */
static char *
read_until(GInputStream *stream, const char *needle)
{
    GString *seen = g_string_new(NULL);
    char buffer[4096];

    while (strstr(seen->str, needle) == NULL) {
        g_autoptr(GError) error = NULL;
        gssize n = g_input_stream_read(stream, buffer, sizeof buffer, NULL, &error);

        g_assert_no_error(error);
        if (n == 0)
            break;
        g_string_append_len(seen, buffer, n);
    }
    return g_string_free(seen, FALSE);
}

static void
test_events(Fixture *f, gconstpointer data)
{
    g_autoptr(SoupMessage) msg = new_message("GET", "/v1/events?pod=ev");
    g_autoptr(GInputStream) stream = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *seen = NULL;

    if (f->daemon == NULL)
        return;
    stream = soup_session_send(f->session, msg, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(soup_message_get_status(msg), ==, SOUP_STATUS_OK);
    g_assert_cmpstr(
        soup_message_headers_get_content_type(soup_message_get_response_headers(msg), NULL), ==,
        "text/event-stream");

    create_pod(f, "other", 1); /* filtered out */
    create_pod(f, "ev", 1);
    start_pod(f, "ev");
    seen = read_until(stream, "\"phase\":\"Running\"");
    g_assert_nonnull(strstr(seen, "event: Created\ndata: {"));
    g_assert_nonnull(strstr(seen, "event: PhaseChanged\ndata: {"));
    g_assert_nonnull(strstr(seen, "\"phase\":\"Starting\""));
    g_assert_nonnull(strstr(seen, "\"phase\":\"Running\""));
    g_assert_null(strstr(seen, "\"other\""));
    g_clear_pointer(&seen, g_free);

    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/ev/kill", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    seen = read_until(stream, "\"previousPhase\":\"Running\"");
    g_assert_nonnull(strstr(seen, "event: PhaseChanged"));
    g_input_stream_close(stream, NULL, NULL);
}

static void
test_log_follow(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    if (f->daemon == NULL)
        return;
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/nope/log", NULL);
        assert_error(r, 404, "NotFound");
    }
    create_pod(f, "lf", 1);
    start_pod(f, "lf");
    {
        /* Follows the boot until the guest's marker. */
        g_autoptr(SoupMessage) msg = new_message("GET", "/v1/pods/lf/log?follow=true");
        g_autoptr(GInputStream) stream = soup_session_send(f->session, msg, NULL, &error);
        g_autofree char *seen = NULL;

        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), ==, SOUP_STATUS_OK);
        seen = read_until(stream, "PODVM-GUEST-READY");
        g_assert_nonnull(strstr(seen, "PODVM-GUEST-READY"));
        g_input_stream_close(stream, NULL, NULL);
    }
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/lf/kill", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    {
        /* The pod is down: following ends by itself, with the whole log. */
        g_autoptr(SoupMessage) msg = new_message("GET", "/v1/pods/lf/log?follow=true");
        g_autoptr(GInputStream) stream = soup_session_send(f->session, msg, NULL, &error);
        g_autofree char *seen = NULL;

        g_assert_no_error(error);
        seen = read_until(stream, "\x01never\x01");
        g_assert_nonnull(strstr(seen, "PODVM-GUEST-READY"));
    }
}

static void
test_curl(Fixture *f, gconstpointer data)
{
    g_autofree char *curl = g_find_program_in_path("curl");
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonArray *pods;
    int status = 0;

    if (f->daemon == NULL)
        return;
    if (curl == NULL) {
        g_test_skip("curl is not installed");
        return;
    }
    create_pod(f, "curled", 1);
    {
        const char *argv[] = { curl,
                               "-sS",
                               "--fail-with-body",
                               "--unix-socket",
                               f->socket_path,
                               "http://localhost/v1/pods",
                               NULL };
        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                     &error);
        g_assert_no_error(error);
        if (!g_spawn_check_wait_status(status, NULL))
            g_test_message("curl: %s", err);
        g_assert_true(g_spawn_check_wait_status(status, NULL));
    }
    json_parser_load_from_data(parser, out, -1, &error);
    g_assert_no_error(error);
    pods = json_node_get_array(json_parser_get_root(parser));
    g_assert_cmpuint(json_array_get_length(pods), ==, 1);
    g_assert_cmpstr(
        json_object_get_string_member(
            json_object_get_object_member(json_array_get_object_element(pods, 0), "metadata"),
            "name"),
        ==, "curled");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/podvm/rest/socket", test_socket);
    ADD("/podvm/rest/errors", test_errors);
    ADD("/podvm/rest/labels", test_labels);
    ADD("/podvm/rest/too-large", test_too_large);
    ADD("/podvm/rest/curl", test_curl);
    ADD("/podvm/rest/lifecycle", test_lifecycle);
    ADD("/podvm/rest/nowait", test_nowait);
    ADD("/podvm/rest/events", test_events);
    ADD("/podvm/rest/log-follow", test_log_follow);
#undef ADD
    return g_test_run();
}
