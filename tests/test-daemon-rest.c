/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * End to end over REST: podvmd on a private bus with its REST socket
 * (RUN_DIR/api.sock), driven with libsoup's client and with real curl,
 * booting the test guest under real QEMU (TCG).
 */
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 90000

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

typedef struct {
    PodvmTestDaemon *daemon;
    char *socket_path;
    SoupSession *session;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocketAddress) address = NULL;

    /* @data: a podvmd.conf, or NULL */
    f->daemon = data != NULL ? podvm_test_daemon_new_with_config(data) : podvm_test_daemon_new();
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

/* The phase of pod @name in the list GET @path answers; NULL when it is not listed. */
static char *
listed_phase(Fixture *f, const char *path, const char *name)
{
    g_autoptr(Response) r = http(f, "GET", path, NULL);
    JsonArray *pods;

    g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    g_assert_true(r->json != NULL && JSON_NODE_HOLDS_ARRAY(r->json));
    pods = json_node_get_array(r->json);
    for (guint i = 0; i < json_array_get_length(pods); i++) {
        JsonObject *pod = json_array_get_object_element(pods, i);
        JsonObject *metadata = json_object_get_object_member(pod, "metadata");

        if (g_strcmp0(json_object_get_string_member(metadata, "name"), name) == 0)
            return g_strdup(json_object_get_string_member(
                json_object_get_object_member(pod, "status"), "phase"));
    }
    return NULL;
}

/*
 * The list GET @path answers is what the pods are: printed the way
 * json-glib prints the document (pretty, one line feed at the end), and
 * each element the same document as GET /v1/pods/NAME. Returns how many.
 */
static guint
assert_list_is_current(Fixture *f, const char *path)
{
    g_autoptr(Response) r = http(f, "GET", path, NULL);
    g_autoptr(JsonGenerator) generator = json_generator_new();
    g_autofree char *printed = NULL;
    g_autofree char *expected = NULL;
    JsonArray *pods;

    g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    g_assert_cmpstr(soup_message_headers_get_content_type(r->headers, NULL), ==,
                    "application/json");
    g_assert_cmpint(soup_message_headers_get_content_length(r->headers), ==, strlen(r->body));
    g_assert_true(r->json != NULL && JSON_NODE_HOLDS_ARRAY(r->json));
    json_generator_set_root(generator, r->json);
    json_generator_set_pretty(generator, TRUE);
    printed = json_generator_to_data(generator, NULL);
    expected = g_strconcat(printed, "\n", NULL);
    g_assert_cmpstr(r->body, ==, expected);
    pods = json_node_get_array(r->json);
    for (guint i = 0; i < json_array_get_length(pods); i++) {
        JsonNode *element = json_array_get_element(pods, i);
        JsonObject *metadata =
            json_object_get_object_member(json_node_get_object(element), "metadata");
        g_autofree char *pod_path =
            g_strconcat("/v1/pods/", json_object_get_string_member(metadata, "name"), NULL);
        g_autoptr(Response) one = http(f, "GET", pod_path, NULL);

        g_assert_cmpuint(one->status, ==, SOUP_STATUS_OK);
        if (!json_node_equal(element, one->json))
            g_test_message("listed: %s\nalone: %s", r->body, one->body);
        g_assert_true(json_node_equal(element, one->json));
    }
    return json_array_get_length(pods);
}

/* The value of the sample that starts with @prefix in a /metrics answer; -1 when absent. */
static double
metric_value(const char *body, const char *prefix)
{
    for (const char *line = body; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');

        if (g_str_has_prefix(line, prefix))
            return g_ascii_strtod(line + strlen(prefix), NULL);
        line = end != NULL ? end + 1 : NULL;
    }
    return -1;
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
    /* The list answer is cached: each change shows in the next answer. */
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods"), ==, 1);
    start_pod(f, "web");
    {
        g_autofree char *phase = listed_phase(f, "/v1/pods", "web");
        g_assert_cmpstr(phase, ==, "Running");
    }
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods"), ==, 1);
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
        /* The QMP commands so far (cont, query-status) are in the histogram. */
        g_autoptr(Response) r = http(f, "GET", "/metrics", NULL);
        const char *count;

        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_nonnull(strstr(r->body, "# TYPE podvm_qmp_command_duration_seconds histogram\n"));
        g_assert_nonnull(
            strstr(r->body, "podvm_qmp_command_duration_seconds_bucket{le=\"0.001\"} "));
        g_assert_nonnull(
            strstr(r->body, "podvm_qmp_command_duration_seconds_bucket{le=\"+Inf\"} "));
        g_assert_nonnull(strstr(r->body, "podvm_qmp_command_duration_seconds_sum "));
        count = strstr(r->body, "podvm_qmp_command_duration_seconds_count ");
        g_assert_nonnull(count);
        g_assert_cmpuint(
            g_ascii_strtoull(count + strlen("podvm_qmp_command_duration_seconds_count "), NULL, 10),
            >=, 2);
        g_assert_nonnull(strstr(r->body, "podvm_pod_vcpus{name=\"web\",namespace=\"default\"} "));
        g_assert_nonnull(
            strstr(r->body, "podvm_pod_memory_bytes{name=\"web\",namespace=\"default\"} "));
        g_assert_nonnull(
            strstr(r->body, "podvm_pod_restarts_total{name=\"web\",namespace=\"default\"} 0\n"));
        g_assert_nonnull(
            strstr(r->body, "podvm_pod_running_seconds{name=\"web\",namespace=\"default\"} "));
        g_assert_null(strstr(
            r->body, "podvm_pod_running_seconds{name=\"web\",namespace=\"default\"} 0.000\n"));
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
        g_autofree char *phase = listed_phase(f, "/v1/pods", "web");
        g_assert_cmpstr(phase, ==, "Paused");
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
        g_autofree char *phase = listed_phase(f, "/v1/pods", "web");
        g_assert_cmpstr(phase, ==, "Running");
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
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods"), ==, 1);
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

/* GET /metrics; asserts it answers 200 in under @max_ms. */
static Response *
get_metrics(Fixture *f, guint max_ms)
{
    gint64 before = g_get_monotonic_time();
    Response *r = http(f, "GET", "/metrics", NULL);

    g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    g_assert_cmpint(g_get_monotonic_time() - before, <, (gint64)max_ms * 1000);
    return r;
}

static void
qmp_ok(Fixture *f, const char *pod, const char *command)
{
    g_autofree char *path = g_strdup_printf("/v1/pods/%s/qmp", pod);
    g_autoptr(Response) r = http(f, "POST", path, command);

    if (r->status != SOUP_STATUS_OK)
        g_test_message("%s: %s", command, r->body);
    g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
}

/* The counters QEMU gives, per pod: vCPU time, block I/O; a wedged QEMU costs only its lines. */
static void
test_metrics_qemu(Fixture *f, gconstpointer data)
{
    const char *vcpu =
        "podvm_pod_vcpu_seconds_total{name=\"metered\",namespace=\"default\",vcpu=\"0\"} ";
    const char *read_bytes = "podvm_pod_block_read_bytes_total{name=\"metered\",namespace="
                             "\"default\",drive=\"scratch\"} ";
    g_autoptr(JsonObject) status = NULL;
    double read = -1;
    int qemu_pid;

    if (f->daemon == NULL)
        return;
    create_pod(f, "metered", 1);
    start_pod(f, "metered");
    wait_guest_ready(f, "metered");
    {
        g_autoptr(Response) r = get_metrics(f, 5000);

        /* The guest booted: its vCPU thread has used CPU time. */
        g_assert_cmpfloat(metric_value(r->body, vcpu), >, 0);
        g_assert_nonnull(
            strstr(r->body, "podvm_pod_scrape_error{name=\"metered\",namespace=\"default\"} 0\n"));
        /* No disk yet: the block counters are described, with no samples for this pod. */
        g_assert_nonnull(strstr(r->body, "# TYPE podvm_pod_block_read_bytes_total counter\n"));
        g_assert_nonnull(strstr(r->body, "# TYPE podvm_pod_block_write_bytes_total counter\n"));
        g_assert_nonnull(
            strstr(r->body, "# TYPE podvm_pod_block_flush_operations_total counter\n"));
        g_assert_null(strstr(
            r->body, "podvm_pod_block_read_bytes_total{name=\"metered\",namespace=\"default\""));
        /* No network: the network counters are described, with no samples for this pod. */
        g_assert_nonnull(
            strstr(r->body, "# TYPE podvm_pod_network_transmit_bytes_total counter\n"));
        g_assert_null(strstr(
            r->body,
            "podvm_pod_network_transmit_bytes_total{name=\"metered\",namespace=\"default\""));
    }

    /* A disk that reads zeroes, hotplugged by hand over the QMP passthrough (expert mode). */
    qmp_ok(f, "metered",
           "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"null-co\", "
           "\"node-name\": \"scratch-node\", \"size\": 16777216, \"read-zeroes\": true}}");
    qmp_ok(f, "metered",
           "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-blk-pci\", "
           "\"id\": \"disk-scratch\", \"drive\": \"scratch-node\", \"bus\": \"podvm-rp0\"}}");
    {
        /* The guest kernel reads the new disk's partition table: the counters move. */
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

        while (g_get_monotonic_time() < deadline) {
            g_autoptr(Response) r = get_metrics(f, 5000);

            read = metric_value(r->body, read_bytes);
            g_assert_cmpfloat(read, >=, 0);
            g_assert_cmpfloat(metric_value(r->body,
                                           "podvm_pod_block_read_operations_total{name=\"metered\","
                                           "namespace=\"default\",drive=\"scratch\"} "),
                              >=, 0);
            g_assert_cmpfloat(metric_value(r->body,
                                           "podvm_pod_block_write_bytes_total{name=\"metered\","
                                           "namespace=\"default\",drive=\"scratch\"} "),
                              >=, 0);
            if (read > 0)
                break;
            g_usleep(200 * 1000);
        }
        g_assert_cmpfloat(read, >, 0);
    }
    {
        /* The time the reads took (the mean latency is its rate over the reads' rate). */
        g_autoptr(Response) r = get_metrics(f, 5000);

        g_assert_nonnull(
            strstr(r->body, "# TYPE podvm_pod_block_read_time_seconds_total counter\n"));
        g_assert_cmpfloat(metric_value(r->body, "podvm_pod_block_read_time_seconds_total{name="
                                                "\"metered\",namespace=\"default\",drive="
                                                "\"scratch\"} "),
                          >=, 0);
    }

    /* A wedged QEMU (stopped by signal) does not hold the answer: it lacks its lines. */
    status = podvm_test_daemon_status(f->daemon, "metered");
    qemu_pid = (int)json_object_get_int_member(status, "qemuPid");
    g_assert_cmpint(qemu_pid, >, 0);
    g_assert_cmpint(kill(qemu_pid, SIGSTOP), ==, 0);
    {
        g_autoptr(Response) r = get_metrics(f, 3000);

        g_assert_nonnull(
            strstr(r->body, "podvm_pod_scrape_error{name=\"metered\",namespace=\"default\"} 1\n"));
        g_assert_cmpfloat(metric_value(r->body, vcpu), <, 0);
        g_assert_cmpfloat(metric_value(r->body, read_bytes), <, 0);
        g_assert_nonnull(
            strstr(r->body, "podvm_pod_vcpus{name=\"metered\",namespace=\"default\"} "));
    }
    g_assert_cmpint(kill(qemu_pid, SIGCONT), ==, 0);
    {
        g_autoptr(Response) r = get_metrics(f, 5000);

        g_assert_nonnull(
            strstr(r->body, "podvm_pod_scrape_error{name=\"metered\",namespace=\"default\"} 0\n"));
        g_assert_cmpfloat(metric_value(r->body, read_bytes), >=, read);
    }
    {
        g_autoptr(Response) r = http(f, "DELETE", "/v1/pods/metered?force=true", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
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
        g_autoptr(Response) r =
            http(f, "POST", "/v1/pods/dup/qmp", "{\"execute\": \"query-status\"}");
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
        /* No QEMU runs: the counters QEMU gives are described, with no samples. */
        g_assert_nonnull(strstr(r->body, "# TYPE podvm_pod_vcpu_seconds_total counter\n"));
        g_assert_nonnull(strstr(r->body, "# TYPE podvm_pod_block_read_bytes_total counter\n"));
        g_assert_nonnull(strstr(r->body, "# TYPE podvm_pod_scrape_error gauge\n"));
        g_assert_null(strstr(r->body, "podvm_pod_vcpu_seconds_total{"));
        g_assert_null(strstr(r->body, "podvm_pod_scrape_error{"));
    }
}

/* A pod with labels; its kernel is no kernel, which only matters at start. */
#define LABELED_SPEC                                                       \
    "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": "  \
    "{\"name\": \"%s\", \"labels\": {\"app\": \"%s\", \"tier\": \"x\"}}, " \
    "\"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": "              \
    "{\"kernelPath\": \"%s\"}}}}}"

static void
test_labels(Fixture *f, gconstpointer data)
{
    g_autofree char *kernel = NULL;

    if (f->daemon == NULL)
        return;
    /* In a kernel directory of the test daemon: podvmd opens it, QEMU refuses it. */
    kernel = g_build_filename(f->daemon->tmpdir, "no-kernel", NULL);
    g_assert_true(g_file_set_contents(kernel, "this is not a kernel\n", -1, NULL));
    for (guint i = 0; i < 3; i++) {
        const char *names[] = { "a", "b", "c" }, *apps[] = { "web", "db", "web" };
        g_autofree char *spec = g_strdup_printf(LABELED_SPEC, names[i], apps[i], kernel);
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
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods"), ==, 3);
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods?labelSelector=app=web"), ==, 2);
    {
        /* New labels show in the very next list, with and without a selector. */
        g_autofree char *spec = g_strdup_printf(LABELED_SPEC, "b", "web", kernel);
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods/b", spec);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods?labelSelector=app=web"), ==, 3);
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods?labelSelector=app=db"), ==, 0);
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods"), ==, 3);
    {
        /* A start that fails (no kernel) changes the phase: the list says so at once. */
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/a/start", NULL);
        g_autoptr(Response) alone = http(f, "GET", "/v1/pods/a", NULL);
        g_autofree char *phase = listed_phase(f, "/v1/pods?labelSelector=app=web", "a");
        g_autofree char *unfiltered = listed_phase(f, "/v1/pods", "a");

        g_assert_cmpuint(r->status, !=, SOUP_STATUS_OK);
        g_assert_cmpstr(phase_of(alone), !=, "Pending");
        g_assert_cmpstr(phase, ==, phase_of(alone));
        g_assert_cmpstr(unfiltered, ==, phase_of(alone));
    }
    {
        g_autoptr(Response) r = http(f, "DELETE", "/v1/pods/c?force=true", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods?labelSelector=app=web"), ==, 2);
    g_assert_cmpuint(assert_list_is_current(f, "/v1/pods"), ==, 2);
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

/* ---- a large body ------------------------------------------------------- */

/* VmRSS of the test daemon, in bytes. */
static guint64
daemon_rss(Fixture *f)
{
    const char *pid = g_subprocess_get_identifier(f->daemon->process);
    g_autofree char *path = g_strdup_printf("/proc/%s/status", pid);
    g_autofree char *text = NULL;
    const char *line;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "\nVmRSS:");
    g_assert_nonnull(line);
    return g_ascii_strtoull(line + strlen("\nVmRSS:"), NULL, 10) * 1024;
}

/*
 * Sends a request's head and then up to @size bytes of body (as chunks of
 * 64 KiB when @chunked) on @fd until all is sent or podvmd no longer takes
 * it: a client that sees its writes fail after the 413 is fine, podvmd
 * drains for a while and then closes. Returns the bytes of body sent.
 */
static gsize
send_huge_body(int fd, gsize size, gboolean chunked, gboolean *answered)
{
    g_autofree char *block = g_malloc(64 * 1024);
    g_autofree char *head = g_strdup_printf(
        "POST /v1/pods HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n%s\r\n",
        chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 104857600\r\n");
    gsize sent = 0;

    memset(block, ' ', 64 * 1024);
    *answered = FALSE;
    g_assert_true(podvm_test_send_all(fd, head, strlen(head)));
    while (sent < size) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        if (chunked && !podvm_test_send_all(fd, "10000\r\n", strlen("10000\r\n")))
            break;
        if (!podvm_test_send_all(fd, block, 64 * 1024))
            break;
        if (chunked && !podvm_test_send_all(fd, "\r\n", 2))
            break;
        sent += 64 * 1024;
        if (!*answered && poll(&pfd, 1, 0) == 1)
            *answered = TRUE;
    }
    if (chunked && sent == size)
        podvm_test_send_all(fd, "0\r\n\r\n", 5);
    return sent;
}

/* Reads all podvmd sends on @fd until it closes (the 413 closes the connection). */
static char *
read_all(int fd)
{
    GString *in = g_string_new(NULL);
    char buffer[4096];

    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        g_string_append_len(in, buffer, n);
    }
    return g_string_free(in, FALSE);
}

/*
 * 100 MiB streamed by a raw client, with a Content-Length and then
 * chunked: podvmd answers 413 before it has read the body (the answer is
 * there to read while the client still sends), and does not hold the body
 * (its RSS grows by under 5 MB); it keeps answering. Whether the client
 * gets to send all of it (podvmd drains for a while) or sees its writes
 * fail once podvmd closes is timing, and not asserted.
 */
static void
test_huge_body(Fixture *f, gconstpointer data)
{
    const gsize size = 100 * 1024 * 1024;
    guint64 before, after;

    if (f->daemon == NULL)
        return;
    {
        /* Warm up: the first answers allocate what any request needs. */
        g_autoptr(Response) r = http(f, "GET", "/v1/pods", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    before = daemon_rss(f);
    for (guint i = 0; i < 2; i++) {
        gboolean chunked = i == 1;
        int fd = podvm_test_connect_unix(f->socket_path);
        gboolean answered;
        gsize sent = send_huge_body(fd, size, chunked, &answered);
        g_autofree char *answer = read_all(fd);

        close(fd);
        g_test_message("%s: %zu of %zu bytes sent; answer while sending: %s",
                       chunked ? "chunked" : "Content-Length", sent, size, answered ? "yes" : "no");
        g_assert_true(g_str_has_prefix(answer, "HTTP/1.1 413 "));
        g_assert_nonnull(strstr(answer, "PayloadTooLarge"));
        /* The answer came before the body was read to its end. */
        g_assert_true(answered || sent < size);
        after = daemon_rss(f);
        g_test_message("%s: VmRSS %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " kB",
                       chunked ? "chunked" : "Content-Length", before / 1024, after / 1024);
        /* AddressSanitizer keeps freed memory in quarantine: RSS says nothing there. */
        if (!RSS_IS_MEANINGFUL)
            continue;
        g_assert_cmpuint(after, <, before + 5 * 1000 * 1000);
    }
    {
        g_autoptr(Response) r = http(f, "GET", "/healthz", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
}

/* ---- many clients at once ------------------------------------------------- */

#define N_CLIENTS 50

typedef struct _Load Load;

typedef struct {
    Load *load;
    SoupSession *session;
    guint sent;
    guint answered;
    gboolean busy;
} Client;

struct _Load {
    Client clients[N_CLIENTS];
    gboolean stopping;
    guint bad;          /* answers other than 200 */
    gboolean started;   /* the start request answered */
    guint start_status; /* its status */
    char *start_phase;
    guint dbus_calls;
    guint dbus_pending;
    gint64 dbus_max_us;
    gint64 dbus_sent_us;
    gboolean dbus_failed;
};

static void client_next(Client *client);

static void
client_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Client *client = user_data;
    SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body =
        soup_session_send_and_read_finish(SOUP_SESSION(source), result, &error);

    client->busy = FALSE;
    client->answered++;
    if (body == NULL || soup_message_get_status(msg) != SOUP_STATUS_OK) {
        g_test_message("client: %s", error != NULL ? error->message : "not 200");
        client->load->bad++;
    }
    client_next(client);
}

static void
client_next(Client *client)
{
    g_autoptr(SoupMessage) msg = NULL;

    if (client->load->stopping)
        return;
    msg = new_message("GET", client->sent % 2 == 0 ? "/v1/pods" : "/healthz");
    client->sent++;
    client->busy = TRUE;
    soup_session_send_and_read_async(client->session, msg, G_PRIORITY_DEFAULT, NULL, client_done_cb,
                                     client);
}

static void
load_start_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Load *load = user_data;
    SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body =
        soup_session_send_and_read_finish(SOUP_SESSION(source), result, &error);
    g_autoptr(JsonParser) parser = json_parser_new();

    g_assert_no_error(error);
    load->started = TRUE;
    load->start_status = soup_message_get_status(msg);
    if (json_parser_load_from_data(parser, g_bytes_get_data(body, NULL),
                                   (gssize)g_bytes_get_size(body), NULL) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        JsonObject *status = json_object_get_object_member(
            json_node_get_object(json_parser_get_root(parser)), "status");
        load->start_phase = g_strdup(json_object_get_string_member(status, "phase"));
    }
}

static void
load_dbus_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Load *load = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *pod = NULL;
    gint64 took = g_get_monotonic_time() - load->dbus_sent_us;

    if (!podvm_dbus_manager_call_get_pod_finish(PODVM_DBUS_MANAGER(source), &pod, result, &error)) {
        g_test_message("GetPod: %s", error->message);
        load->dbus_failed = TRUE;
    }
    load->dbus_pending--;
    load->dbus_calls++;
    load->dbus_max_us = MAX(load->dbus_max_us, took);
}

/*
 * 50 clients ask GET /v1/pods and /healthz in a loop while a pod starts:
 * every request is answered 200, the pod reaches Running, and the D-Bus
 * front answers GetPod within a second meanwhile.
 */
static void
test_many_clients(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(SoupSession) starter = NULL;
    g_autoptr(SoupMessage) start = NULL;
    Load load = { 0 };
    gint64 deadline = g_get_monotonic_time() + (gint64)BOOT_TIMEOUT_MS * 1000;
    gint64 next_dbus = 0;
    guint total = 0;

    if (f->daemon == NULL)
        return;
    create_pod(f, "busy", 1);
    address = g_unix_socket_address_new(f->socket_path);
    for (guint i = 0; i < N_CLIENTS; i++) {
        load.clients[i].load = &load;
        load.clients[i].session =
            soup_session_new_with_options("remote-connectable", address, "timeout", 30, NULL);
        client_next(&load.clients[i]);
    }
    starter = soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
    start = new_message("POST", "/v1/pods/busy/start");
    soup_session_send_and_read_async(starter, start, G_PRIORITY_DEFAULT, NULL, load_start_cb,
                                     &load);

    /* Until the pod runs and D-Bus answered a few times while it started. */
    while (!load.started || load.dbus_calls < 3 || load.dbus_pending > 0) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        if (load.dbus_pending == 0 && g_get_monotonic_time() >= next_dbus) {
            load.dbus_pending++;
            load.dbus_sent_us = g_get_monotonic_time();
            next_dbus = load.dbus_sent_us + 200 * 1000;
            podvm_dbus_manager_call_get_pod(f->daemon->manager, "busy", NULL, load_dbus_cb, &load);
        }
        g_main_context_iteration(NULL, FALSE);
        if (!g_main_context_pending(NULL))
            g_usleep(1000);
    }
    load.stopping = TRUE;
    for (gboolean busy = TRUE; busy;) {
        busy = FALSE;
        for (guint i = 0; i < N_CLIENTS; i++)
            busy |= load.clients[i].busy;
        if (busy) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_main_context_iteration(NULL, TRUE);
        }
    }
    for (guint i = 0; i < N_CLIENTS; i++) {
        total += load.clients[i].answered;
        g_assert_cmpuint(load.clients[i].answered, >, 0);
        g_clear_object(&load.clients[i].session);
    }
    g_test_message("%u requests from %u clients; %u D-Bus calls, the slowest %.1f ms", total,
                   N_CLIENTS, load.dbus_calls, load.dbus_max_us / 1000.0);
    g_assert_cmpuint(load.bad, ==, 0);
    g_assert_cmpuint(load.start_status, ==, SOUP_STATUS_OK);
    g_assert_cmpstr(load.start_phase, ==, "Running");
    g_assert_false(load.dbus_failed);
    g_assert_cmpint(load.dbus_max_us, <, G_USEC_PER_SEC);
    g_free(load.start_phase);
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/busy/kill", NULL);
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

/* The data of the first "event: TYPE" in an SSE text, parsed. */
static JsonObject *
sse_event_data(const char *seen, const char *type)
{
    g_autofree char *head = g_strdup_printf("event: %s\ndata: ", type);
    const char *start = strstr(seen, head);
    const char *end;
    g_autofree char *json = NULL;
    g_autoptr(JsonNode) node = NULL;

    g_assert_nonnull(start);
    start += strlen(head);
    end = strchr(start, '\n');
    g_assert_nonnull(end);
    json = g_strndup(start, end - start);
    node = json_from_string(json, NULL);
    g_assert_nonnull(node);
    return json_object_ref(json_node_get_object(node));
}

/* Every event has the envelope {pod, type, time, phase}: Created and Deleted too. */
static void
test_events_envelope(Fixture *f, gconstpointer data)
{
    g_autoptr(SoupMessage) msg = new_message("GET", "/v1/events?pod=envl");
    g_autoptr(GInputStream) stream = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *seen = NULL;
    const char *types[] = { "Created", "Deleted" };

    if (f->daemon == NULL)
        return;
    stream = soup_session_send(f->session, msg, NULL, &error);
    g_assert_no_error(error);
    create_pod(f, "envl", 1);
    {
        g_autoptr(Response) r = http(f, "DELETE", "/v1/pods/envl", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    {
        /* Up to the end of the Deleted event. */
        GString *all = g_string_new(NULL);
        const char *deleted;

        while ((deleted = strstr(all->str, "event: Deleted")) == NULL ||
               strstr(deleted, "\n\n") == NULL) {
            char buffer[4096];
            gssize n = g_input_stream_read(stream, buffer, sizeof buffer, NULL, &error);

            g_assert_no_error(error);
            g_assert_cmpint(n, >, 0);
            g_string_append_len(all, buffer, n);
        }
        seen = g_string_free(all, FALSE);
    }
    for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autoptr(JsonObject) event = NULL;
        g_autoptr(GDateTime) time = NULL;

        event = sse_event_data(seen, types[i]);
        g_assert_cmpstr(json_object_get_string_member(event, "pod"), ==, "envl");
        g_assert_cmpstr(json_object_get_string_member(event, "type"), ==, types[i]);
        g_assert_cmpstr(json_object_get_string_member(event, "phase"), ==, "Pending");
        time = g_date_time_new_from_iso8601(json_object_get_string_member(event, "time"), NULL);
        g_assert_nonnull(time);
    }
    g_input_stream_close(stream, NULL, NULL);
}

/*
 * A grace period is checked once, by the pod, against the spec's bound
 * (0..86400): 4294968 s would wrap to 0.7 s as milliseconds in a guint.
 */
static void
test_stop_grace_bound(Fixture *f, gconstpointer data)
{
    const char *bodies[] = {
        "{\"gracePeriodSeconds\": 4294968}",
        "{\"gracePeriodSeconds\": 86401}",
        "{\"gracePeriodSeconds\": -1}",
        "{\"gracePeriodSeconds\": 1.5}",
    };

    if (f->daemon == NULL)
        return;
    create_pod(f, "gb", 1);
    for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
        const char *paths[] = { "/v1/pods/gb/stop", "/v1/pods/gb/stop?wait=false" };

        for (guint j = 0; j < G_N_ELEMENTS(paths); j++) {
            g_autoptr(Response) r = http(f, "POST", paths[j], bodies[i]);
            assert_error(r, 400, "InvalidArgument");
        }
    }
    {
        /* In the bound, the pod's phase decides: there is nothing to stop. */
        g_autoptr(Response) r =
            http(f, "POST", "/v1/pods/gb/stop", "{\"gracePeriodSeconds\": 86400}");
        assert_error(r, 409, "Conflict");
    }
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

/* ---- PUT: replacing a stopped pod's spec ------------------------------------------ */

static char *
dbus_spec_of(Fixture *f, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) value = NULL;

    podvm_dbus_manager_call_get_pod_sync(f->daemon->manager, name, &path, NULL, &error);
    g_assert_no_error(error);
    reply = g_dbus_connection_call_sync(
        f->daemon->connection, "io.podvm.PodVM1", path, "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", "io.podvm.PodVM1.Pod", "Spec"), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error(error);
    g_variant_get(reply, "(v)", &value);
    return g_variant_dup_string(value, NULL);
}

static char *
uid_of(Response *r)
{
    JsonObject *metadata = json_object_get_object_member(object_of(r), "metadata");

    return g_strdup(json_object_get_string_member(metadata, "uid"));
}

static void
test_replace(Fixture *f, gconstpointer data)
{
    g_autofree char *uid = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "rep", 1);
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/rep", NULL);
        uid = uid_of(r);
        g_assert_nonnull(uid);
    }
    {
        /* kernelArgs are hidden in answers but ?secrets=true's: the grace shows the new spec. */
        g_autofree char *spec = podvm_test_guest_spec("rep", "podvm-replaced=1", NULL, 7);
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods/rep", spec);
        g_autoptr(Response) full = NULL;
        g_autofree char *new_uid = NULL;
        g_autofree char *dbus_spec = NULL;

        if (r->status != SOUP_STATUS_OK)
            g_test_message("replace: %s", r->body);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_nonnull(strstr(r->body, "\"terminationGracePeriodSeconds\" : 7"));
        g_assert_cmpstr(phase_of(r), ==, "Pending");
        new_uid = uid_of(r);
        g_assert_cmpstr(new_uid, ==, uid);
        dbus_spec = dbus_spec_of(f, "rep");
        g_assert_nonnull(strstr(dbus_spec, "\"terminationGracePeriodSeconds\":7"));
        full = http(f, "GET", "/v1/pods/rep?secrets=true", NULL);
        g_assert_nonnull(strstr(full->body, "podvm-replaced=1"));
    }
    {
        /* The name in the body is the one in the path. */
        g_autofree char *spec = podvm_test_guest_spec("other", NULL, NULL, 1);
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods/rep", spec);
        assert_error(r, 400, "InvalidArgument");
    }
    {
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods/rep", "{\"kind\": \"Pod\"");
        assert_error(r, 400, "InvalidSpec");
    }
    {
        g_autofree char *spec = podvm_test_guest_spec("nope", NULL, NULL, 1);
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods/nope", spec);
        assert_error(r, 404, "NotFound");
    }
    /* Stored durably: a restarted daemon has the new spec and the same uid. */
    podvm_test_daemon_stop(f->daemon);
    podvm_test_daemon_start(f->daemon);
    {
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/rep?secrets=true", NULL);
        g_autofree char *new_uid = NULL;

        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        g_assert_nonnull(strstr(r->body, "podvm-replaced=1"));
        new_uid = uid_of(r);
        g_assert_cmpstr(new_uid, ==, uid);
    }
    start_pod(f, "rep");
    {
        /* The new spec is the one that runs. */
        g_autoptr(Response) r =
            http(f, "POST", "/v1/pods/rep/qmp", "{\"execute\": \"query-status\"}");
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    {
        g_autofree char *spec = podvm_test_guest_spec("rep", NULL, NULL, 1);
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods/rep", spec);
        assert_error(r, 409, "Conflict");
    }
    {
        g_autoptr(Response) r = http(f, "POST", "/v1/pods/rep/kill", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
    {
        g_autofree char *spec = podvm_test_guest_spec("rep", "podvm-second=1", NULL, 1);
        g_autoptr(Response) r = http(f, "PUT", "/v1/pods/rep", spec);
        g_autoptr(Response) full = NULL;

        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        full = http(f, "GET", "/v1/pods/rep?secrets=true", NULL);
        g_assert_nonnull(strstr(full->body, "podvm-second=1"));
        g_assert_null(strstr(full->body, "podvm-replaced=1"));
    }
}

/* ---- the console WebSocket ------------------------------------------------------- */

typedef struct {
    SoupWebsocketConnection *ws;
    GError *error;
    GString *seen;
    gboolean closed;
    guint status; /* of the handshake */
} WsState;

static void
ws_connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    WsState *state = user_data;

    state->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &state->error);
    if (state->error != NULL)
        state->closed = TRUE;
}

static void
ws_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
    WsState *state = user_data;

    g_string_append_len(state->seen, g_bytes_get_data(message, NULL), g_bytes_get_size(message));
}

static void
ws_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
    WsState *state = user_data;

    state->closed = TRUE;
}

/* Iterates the main context until @needle was seen (or the WebSocket closed). */
static gboolean
ws_wait_for(WsState *state, const char *needle, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (g_get_monotonic_time() < deadline) {
        if (needle != NULL && strstr(state->seen->str, needle) != NULL)
            return TRUE;
        if (state->closed)
            return needle == NULL;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return FALSE;
}

static void
ws_connect(Fixture *f, const char *path, WsState *state)
{
    g_autoptr(SoupMessage) msg = new_message("GET", path);

    state->seen = g_string_new(NULL);
    soup_session_websocket_connect_async(f->session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                         ws_connected_cb, state);
    while (state->ws == NULL && state->error == NULL)
        g_main_context_iteration(NULL, TRUE);
    state->status = soup_message_get_status(msg);
    if (state->ws != NULL) {
        g_signal_connect(state->ws, "message", G_CALLBACK(ws_message_cb), state);
        g_signal_connect(state->ws, "closed", G_CALLBACK(ws_closed_cb), state);
    }
}

static void
ws_state_clear(WsState *state)
{
    if (state->ws != NULL)
        g_signal_handlers_disconnect_by_data(state->ws, state);
    g_clear_object(&state->ws);
    g_clear_error(&state->error);
    if (state->seen != NULL)
        g_string_free(state->seen, TRUE);
}

static void
test_console(Fixture *f, gconstpointer data)
{
    if (f->daemon == NULL)
        return;
    create_pod(f, "con", 1);
    {
        /* Not running: no console. */
        WsState state = { 0 };
        ws_connect(f, "/v1/pods/con/console", &state);
        g_assert_nonnull(state.error);
        g_assert_cmpuint(state.status, ==, 409);
        ws_state_clear(&state);
    }
    {
        /* A plain GET is no WebSocket handshake. */
        g_autoptr(Response) r = http(f, "GET", "/v1/pods/con/console", NULL);
        assert_error(r, 400, "InvalidArgument");
    }
    {
        WsState state = { 0 };
        ws_connect(f, "/v1/pods/nope/console", &state);
        g_assert_nonnull(state.error);
        g_assert_cmpuint(state.status, ==, 404);
        ws_state_clear(&state);
    }
    start_pod(f, "con");
    {
        WsState state = { 0 };

        ws_connect(f, "/v1/pods/con/console", &state);
        g_assert_no_error(state.error);
        g_assert_true(ws_wait_for(&state, "PODVM-HEARTBEAT", BOOT_TIMEOUT_MS));
        soup_websocket_connection_send_text(state.ws, "hello-ws\n");
        g_assert_true(ws_wait_for(&state, "PODVM-ECHO hello-ws", 30000));
        {
            /* The pod goes down: the server closes the WebSocket. */
            g_autoptr(Response) r = http(f, "POST", "/v1/pods/con/kill", NULL);
            g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
        }
        g_assert_true(ws_wait_for(&state, NULL, 30000));
        g_assert_true(state.closed);
        ws_state_clear(&state);
    }
    {
        /* The daemon carries on. */
        g_autoptr(Response) r = http(f, "GET", "/healthz", NULL);
        g_assert_cmpuint(r->status, ==, SOUP_STATUS_OK);
    }
}

/* ---- idle and slow clients ------------------------------------------------------------ */

static GSocketConnection *
raw_connect(const char *socket_path)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);
    g_autoptr(GError) error = NULL;
    GSocketConnection *connection =
        g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);

    g_assert_no_error(error);
    /* Reads block at most this long: longer means the server did not hang up. */
    g_socket_set_timeout(g_socket_connection_get_socket(connection), 10);
    return connection;
}

static void
raw_send(GSocketConnection *connection, const char *text)
{
    g_autoptr(GError) error = NULL;

    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(connection)), text,
                              strlen(text), NULL, NULL, &error);
    g_assert_no_error(error);
}

/* Reads until the server closes; returns what came, and how long it took. */
static char *
raw_read_to_end(GSocketConnection *connection, gint64 *out_elapsed_us)
{
    GString *seen = g_string_new(NULL);
    gint64 start = g_get_monotonic_time();
    char buffer[4096];
    gssize n;

    do {
        g_autoptr(GError) error = NULL;

        n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(connection)), buffer,
                                sizeof buffer, NULL, &error);
        g_assert_no_error(error);
        g_string_append_len(seen, buffer, MAX(n, 0));
    } while (n > 0);
    *out_elapsed_us = g_get_monotonic_time() - start;
    return g_string_free(seen, FALSE);
}

static void
test_request_timeout(void)
{
    PodvmTestDaemon *daemon =
        podvm_test_daemon_new_with_config("[rest]\nrequest_timeout_ms=1000\n");
    g_autofree char *socket_path = NULL;
    gint64 elapsed;

    if (daemon == NULL)
        return;
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    {
        /* Connects and says nothing. */
        g_autoptr(GSocketConnection) c = raw_connect(socket_path);
        g_autofree char *seen = raw_read_to_end(c, &elapsed);
        g_assert_cmpstr(seen, ==, "");
        g_assert_cmpint(elapsed, >=, 800 * 1000);
    }
    {
        /* Headers that never end. */
        g_autoptr(GSocketConnection) c = raw_connect(socket_path);
        g_autofree char *seen = NULL;

        raw_send(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n");
        seen = raw_read_to_end(c, &elapsed);
        g_assert_cmpstr(seen, ==, "");
    }
    {
        /* A body that never comes whole. */
        g_autoptr(GSocketConnection) c = raw_connect(socket_path);
        g_autofree char *seen = NULL;

        raw_send(c,
                 "POST /v1/pods HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"a\"");
        seen = raw_read_to_end(c, &elapsed);
        g_assert_cmpstr(seen, ==, "");
    }
    {
        /* Answered, then idle on a kept-alive connection: closed. */
        g_autoptr(GSocketConnection) c = raw_connect(socket_path);
        g_autofree char *seen = NULL;

        raw_send(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
        seen = raw_read_to_end(c, &elapsed);
        g_assert_true(g_str_has_prefix(seen, "HTTP/1.1 200"));
        g_assert_true(g_str_has_suffix(seen, "ok\n"));
        g_assert_cmpint(elapsed, <, 9 * G_USEC_PER_SEC);
    }
    {
        /* A stream outlives the limit: it was asked for in time. */
        g_autoptr(GSocketConnection) c = raw_connect(socket_path);
        g_autofree char *seen = NULL;
        g_autofree char *spec = podvm_test_guest_spec("late", NULL, NULL, 1);
        g_autofree char *out = NULL;

        raw_send(c, "GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n");
        g_usleep(2500 * 1000);
        {
            g_autofree char *path = g_build_filename(daemon->tmpdir, "late.json", NULL);
            g_file_set_contents(path, spec, -1, NULL);
            g_assert_cmpint(podvm_test_ctl(daemon, &out, NULL, "create", "-f", path, NULL), ==, 0);
        }
        seen = read_until(g_io_stream_get_input_stream(G_IO_STREAM(c)), "event: Created");
        g_assert_nonnull(strstr(seen, "event: Created"));
    }
    podvm_test_daemon_free(daemon);
}

/* ---- TCP with a bearer token, TLS ------------------------------------------------ */

#define TEST_TOKEN "s3cret-token-for-tests"

typedef struct {
    char *dir;
    char *config;
    char *base_uri;
    char *cert_path;
} TcpSetup;

static void
tcp_setup_free(TcpSetup *t)
{
    if (t->dir != NULL)
        podvm_test_rmrf(t->dir);
    g_free(t->dir);
    g_free(t->config);
    g_free(t->base_uri);
    g_free(t->cert_path);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TcpSetup, tcp_setup_free)

/* A token file (with whitespace around the token) and a [rest] section. */
static void
tcp_setup_init(TcpSetup *t, gboolean tls)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *token_path = NULL;
    g_autofree char *key_path = NULL;
    g_autofree char *tls_lines = NULL;
    guint16 port = podvm_test_free_tcp_port();

    t->dir = podvm_test_mkdtemp();
    token_path = g_build_filename(t->dir, "token", NULL);
    g_file_set_contents(token_path, "  " TEST_TOKEN "\n", -1, &error);
    g_assert_no_error(error);
    if (tls) {
        t->cert_path = g_build_filename(t->dir, "cert.pem", NULL);
        key_path = g_build_filename(t->dir, "key.pem", NULL);
        tls_lines = g_strdup_printf("tls_cert=%s\ntls_key=%s\n", t->cert_path, key_path);
    }
    t->config = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n%s", port, token_path,
                                tls_lines != NULL ? tls_lines : "");
    t->base_uri = g_strdup_printf("%s://127.0.0.1:%u", tls ? "https" : "http", port);
}

static gboolean
accept_certificate_cb(SoupMessage *msg, GTlsCertificate *certificate, GTlsCertificateFlags errors,
                      gpointer user_data)
{
    return g_tls_certificate_is_same(certificate, user_data);
}

static guint
tcp_get(SoupSession *session, const char *uri, const char *authorization, GTlsCertificate *accept,
        char **out_body, SoupMessageHeaders **out_headers)
{
    g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;

    if (authorization != NULL)
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                     authorization);
    if (accept != NULL)
        g_signal_connect(msg, "accept-certificate", G_CALLBACK(accept_certificate_cb), accept);
    bytes = soup_session_send_and_read(session, msg, NULL, &error);
    g_assert_no_error(error);
    if (out_body != NULL)
        *out_body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    if (out_headers != NULL)
        *out_headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
    return soup_message_get_status(msg);
}

static void
check_token_auth(PodvmTestDaemon *daemon, const char *base_uri, GTlsCertificate *accept)
{
    g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 30, NULL);
    g_autofree char *healthz = g_strconcat(base_uri, "/healthz", NULL);
    g_autofree char *pods = g_strconcat(base_uri, "/v1/pods", NULL);
    g_autofree char *log = NULL;

    {
        g_autofree char *body = NULL;
        g_assert_cmpuint(tcp_get(session, healthz, "Bearer " TEST_TOKEN, accept, &body, NULL), ==,
                         SOUP_STATUS_OK);
        g_assert_cmpstr(body, ==, "ok\n");
    }
    g_assert_cmpuint(tcp_get(session, pods, "Bearer " TEST_TOKEN, accept, NULL, NULL), ==,
                     SOUP_STATUS_OK);
    for (guint i = 0; i < 3; i++) {
        const char *wrong[] = { NULL, "Bearer not-the-token", "Basic " TEST_TOKEN };
        g_autofree char *body = NULL;
        g_autoptr(SoupMessageHeaders) headers = NULL;

        g_assert_cmpuint(tcp_get(session, pods, wrong[i], accept, &body, &headers), ==,
                         SOUP_STATUS_UNAUTHORIZED);
        g_assert_nonnull(strstr(body, "\"error\""));
        g_assert_nonnull(strstr(body, "Unauthorized"));
        g_assert_true(
            g_str_has_prefix(soup_message_headers_get_one(headers, "WWW-Authenticate"), "Bearer"));
    }
    /* The refusals are logged, the token never. */
    g_file_get_contents(daemon->log_path, &log, NULL, NULL);
    g_assert_nonnull(strstr(log, "missing or wrong bearer token"));
    g_assert_null(strstr(log, TEST_TOKEN));
    g_assert_null(strstr(log, "not-the-token"));
}

static void
test_tcp_token(void)
{
    g_auto(TcpSetup) t = { 0 };
    PodvmTestDaemon *daemon;

    tcp_setup_init(&t, FALSE);
    daemon = podvm_test_daemon_new_with_config(t.config);
    if (daemon == NULL)
        return;
    check_token_auth(daemon, t.base_uri, NULL);
    {
        /* The unix socket needs no token. */
        g_autofree char *path = g_build_filename(daemon->run_dir, "api.sock", NULL);
        g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
        g_autoptr(SoupSession) session =
            soup_session_new_with_options("remote-connectable", address, NULL);
        g_assert_cmpuint(tcp_get(session, "http://localhost/v1/pods", NULL, NULL, NULL, NULL), ==,
                         SOUP_STATUS_OK);
    }
    podvm_test_daemon_free(daemon);
}

static void
test_tcp_needs_token(void)
{
    g_autofree char *empty_dir = NULL;
    g_autofree char *empty = NULL;
    g_autoptr(GError) error = NULL;

    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    {
        g_autofree char *err = NULL;
        g_assert_cmpint(podvm_test_run_podvmd("[rest]\nlisten=127.0.0.1:1\n", &err), !=, 0);
        g_assert_nonnull(strstr(err, "token_file"));
    }
    {
        g_autofree char *err = NULL;
        g_assert_cmpint(podvm_test_run_podvmd(
                            "[rest]\nlisten=127.0.0.1:1\ntoken_file=/nonexistent/token\n", &err),
                        !=, 0);
        g_assert_nonnull(strstr(err, "cannot read the token"));
    }
    empty_dir = podvm_test_mkdtemp();
    empty = g_build_filename(empty_dir, "token", NULL);
    g_file_set_contents(empty, " \n\t\n", -1, &error);
    g_assert_no_error(error);
    {
        g_autofree char *conf =
            g_strdup_printf("[rest]\nlisten=127.0.0.1:1\ntoken_file=%s\n", empty);
        g_autofree char *err = NULL;
        g_assert_cmpint(podvm_test_run_podvmd(conf, &err), !=, 0);
        g_assert_nonnull(strstr(err, "holds no token"));
    }
    podvm_test_rmrf(empty_dir);
}

static void
test_tls(void)
{
    g_autofree char *openssl = g_find_program_in_path("openssl");
    g_auto(TcpSetup) t = { 0 };
    g_autoptr(GTlsCertificate) certificate = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *key = NULL;
    g_autofree char *err = NULL;
    PodvmTestDaemon *daemon;
    int status = 0;

    if (openssl == NULL) {
        g_test_skip("openssl is not installed: no certificate to test TLS with");
        return;
    }
    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    tcp_setup_init(&t, TRUE);
    key = g_build_filename(t.dir, "key.pem", NULL);
    {
        const char *argv[] = { openssl,   "req",   "-x509",         "-newkey",   "rsa:2048",
                               "-nodes",  "-subj", "/CN=localhost", "-days",     "1",
                               "-keyout", key,     "-out",          t.cert_path, NULL };
        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err, &status,
                     &error);
        g_assert_no_error(error);
        if (!g_spawn_check_wait_status(status, NULL)) {
            g_test_skip("openssl could not make a certificate");
            g_test_message("openssl: %s", err);
            return;
        }
    }
    certificate = g_tls_certificate_new_from_file(t.cert_path, &error);
    g_assert_no_error(error);
    daemon = podvm_test_daemon_new_with_config(t.config);
    if (daemon == NULL)
        return;
    check_token_auth(daemon, t.base_uri, certificate);
    {
        /* Plain HTTP on the TLS port gets no answer. */
        g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 10, NULL);
        g_autofree char *uri = g_strconcat("http", t.base_uri + strlen("https"), "/healthz", NULL);
        g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
        g_autoptr(GBytes) bytes = soup_session_send_and_read(session, msg, NULL, NULL);

        g_assert_cmpuint(soup_message_get_status(msg), !=, SOUP_STATUS_OK);
    }
    {
        /* A certificate the client does not accept: no connection. */
        g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 10, NULL);
        g_autofree char *uri = g_strconcat(t.base_uri, "/healthz", NULL);
        g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
        g_autoptr(GError) tls_error = NULL;
        g_autoptr(GBytes) bytes = soup_session_send_and_read(session, msg, NULL, &tls_error);

        g_assert_nonnull(tls_error);
        g_assert_null(bytes);
    }
    podvm_test_daemon_free(daemon);
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
    ADD("/podvm/rest/huge-body", test_huge_body);
    ADD("/podvm/rest/many-clients", test_many_clients);
    ADD("/podvm/rest/curl", test_curl);
    ADD("/podvm/rest/lifecycle", test_lifecycle);
    g_test_add("/podvm/rest/metrics-qemu", Fixture, "[qmp]\npassthrough=expert\n", fixture_setup,
               test_metrics_qemu, fixture_teardown);
    ADD("/podvm/rest/nowait", test_nowait);
    ADD("/podvm/rest/events", test_events);
    ADD("/podvm/rest/events-envelope", test_events_envelope);
    ADD("/podvm/rest/stop-grace-bound", test_stop_grace_bound);
    ADD("/podvm/rest/log-follow", test_log_follow);
    ADD("/podvm/rest/replace", test_replace);
    ADD("/podvm/rest/console", test_console);
#undef ADD
    g_test_add_func("/podvm/rest/tcp-token", test_tcp_token);
    g_test_add_func("/podvm/rest/tcp-needs-token", test_tcp_needs_token);
    g_test_add_func("/podvm/rest/tls", test_tls);
    g_test_add_func("/podvm/rest/request-timeout", test_request_timeout);
    return g_test_run();
}
