/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hostile input over REST, end to end against a real podvmd, with a raw
 * client on the unix socket: deeply nested JSON bodies, bad Content-Length
 * headers, bytes that are not UTF-8 in a path, and control characters in
 * what podvm stores and writes (answers, podvmctl's output, pod.json) that
 * must stay JSON for strict parsers. No QEMU is started.
 */
#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define DEEP 100000

typedef struct {
    guint status;
    char *head;
    char *body;
    gint64 elapsed_us;
} Answer;

static void
answer_free(Answer *a)
{
    g_free(a->head);
    g_free(a->body);
    g_free(a);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Answer, answer_free)

/* Whether @seen holds headers and as much body as their Content-Length says. */
static gboolean
answer_is_whole(const char *seen, gsize length)
{
    const char *end = g_strstr_len(seen, (gssize)length, "\r\n\r\n");
    g_autofree char *head = NULL;
    const char *field;

    if (end == NULL)
        return FALSE;
    head = g_ascii_strdown(seen, end - seen);
    field = strstr(head, "\r\ncontent-length:");
    if (field == NULL)
        return FALSE;
    return length - (gsize)(end + 4 - seen) >=
           g_ascii_strtoull(field + strlen("\r\ncontent-length:"), NULL, 10);
}

/* Sends @request (@length bytes) on a new connection and reads until the server closes. */
static Answer *
raw_request(const char *socket_path, const char *request, gsize length)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);
    g_autoptr(GSocketConnection) connection = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) seen = g_string_new(NULL);
    Answer *a = g_new0(Answer, 1);
    gint64 start = g_get_monotonic_time();
    const char *end;
    char buffer[65536];
    gssize n;

    connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
    g_assert_no_error(error);
    /* The server answers at once or not at all: a read waits at most this long. */
    g_socket_set_timeout(g_socket_connection_get_socket(connection), 20);
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(connection)), request,
                              length, NULL, NULL, &error);
    /* A server that died may reset the connection while we write. */
    g_clear_error(&error);
    /* Until the server closes, or the answer is whole (a refusal waits for us to close). */
    do {
        n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(connection)), buffer,
                                sizeof buffer, NULL, &error);
        if (n > 0)
            g_string_append_len(seen, buffer, n);
    } while (n > 0 && !answer_is_whole(seen->str, seen->len));
    if (error != NULL)
        g_test_message("reading the answer: %s", error->message);
    a->elapsed_us = g_get_monotonic_time() - start;
    end = strstr(seen->str, "\r\n\r\n");
    if (g_str_has_prefix(seen->str, "HTTP/1.1 ") && end != NULL) {
        a->status = (guint)g_ascii_strtoull(seen->str + 9, NULL, 10);
        a->head = g_strndup(seen->str, end - seen->str);
        a->body = g_strdup(end + 4);
    } else {
        a->head = g_strdup(seen->str);
        a->body = g_strdup("");
    }
    return a;
}

static Answer *
post(const char *socket_path, const char *path, const char *body, gsize body_length)
{
    g_autoptr(GString) request = g_string_new(NULL);

    g_string_append_printf(request,
                           "POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nContent-Length: %" G_GSIZE_FORMAT
                           "\r\n\r\n",
                           path, body_length);
    g_string_append_len(request, body, (gssize)body_length);
    return raw_request(socket_path, request->str, request->len);
}

static Answer *
get(const char *socket_path, const char *path)
{
    g_autofree char *request =
        g_strdup_printf("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);

    return raw_request(socket_path, request, strlen(request));
}

/*
 * @text is JSON a strict parser takes: UTF-8, no raw control character in a
 * string. Our own oracle (independent of podvm's writer); python3's json
 * module too when it is installed.
 */
static void
assert_strict_json(const char *what, const char *text)
{
    gboolean in_string = FALSE;

    if (!g_utf8_validate(text, -1, NULL))
        g_error("%s is not UTF-8: %s", what, text);
    for (const char *p = text; *p != '\0'; p++) {
        if (in_string && *p == '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            in_string = !in_string;
        else if (in_string && (guchar)*p < 0x20)
            g_error("%s has a raw control character 0x%02x in a string: %s", what, (guchar)*p,
                    text);
    }

    {
        g_autofree char *python = g_find_program_in_path("python3");
        g_autoptr(GSubprocess) process = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *err = NULL;

        if (python == NULL) {
            g_test_message("python3 is not installed: %s checked by the C oracle only", what);
            return;
        }
        process = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                   &error, python, "-c",
                                   "import json, sys\n"
                                   "json.load(sys.stdin)\n",
                                   NULL);
        g_assert_no_error(error);
        g_subprocess_communicate_utf8(process, text, NULL, NULL, &err, &error);
        g_assert_no_error(error);
        if (!g_subprocess_get_successful(process))
            g_error("python3's json module refuses %s: %s\n%s", what, err, text);
    }
}

static JsonNode *
parse(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_data(parser, text, -1, &error);
    g_assert_no_error(error);
    return json_node_ref(json_parser_get_root(parser));
}

/* A 400 InvalidArgument (or @reason) error document. */
static void
assert_refused(Answer *a, guint status, const char *reason)
{
    g_autoptr(JsonNode) doc = NULL;
    JsonObject *error;

    if (a->status != status)
        g_test_message("unexpected answer %u (%" G_GINT64_FORMAT " us): %s\n%s", a->status,
                       a->elapsed_us, a->head, a->body);
    g_assert_cmpuint(a->status, ==, status);
    assert_strict_json("the error", a->body);
    doc = parse(a->body);
    error = json_object_get_object_member(json_node_get_object(doc), "error");
    g_assert_nonnull(error);
    g_assert_cmpint(json_object_get_int_member(error, "code"), ==, status);
    g_assert_cmpstr(json_object_get_string_member(error, "reason"), ==, reason);
}

static void
assert_alive(const char *socket_path)
{
    g_autoptr(Answer) a = get(socket_path, "/healthz");

    g_assert_cmpuint(a->status, ==, 200);
    g_assert_cmpstr(a->body, ==, "ok\n");
}

static void
create_pod(const char *socket_path, const char *spec)
{
    g_autoptr(Answer) a = post(socket_path, "/v1/pods", spec, strlen(spec));

    if (a->status != 201)
        g_test_message("create: %s", a->body);
    g_assert_cmpuint(a->status, ==, 201);
}

/* ---- tests ---------------------------------------------------------------------- */

static void
test_deep_json(void)
{
    static const char *const paths[] = {
        "/v1/pods/ANY/stop", "/v1/pods/ANY/start", "/v1/volumes",         "/v1/pods/deep/qmp",
        "/v1/pods",          "/v1/pods/deep/stop", "/v1/pods/deep/disks",
    };
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autofree char *socket_path = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *brackets = NULL;
    g_autofree char *objects = NULL;

    if (daemon == NULL)
        return;
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    spec = podvm_test_guest_spec("deep", NULL, NULL, 1);
    create_pod(socket_path, spec);

    /* 100,000 '[' then as many ']': 200 KB, under the body limit. */
    brackets = g_malloc(2 * DEEP + 1);
    memset(brackets, '[', DEEP);
    memset(brackets + DEEP, ']', DEEP);
    brackets[2 * DEEP] = '\0';
    /* The same depth in objects: {"a":{"a":... */
    {
        GString *text = g_string_sized_new(6 * DEEP);

        for (guint i = 0; i < DEEP / 2; i++)
            g_string_append(text, "{\"a\":");
        objects = g_string_free(text, FALSE);
    }

    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
        const char *reason =
            g_str_equal(paths[i], "/v1/pods") || g_str_equal(paths[i], "/v1/pods/deep/disks")
                ? "InvalidSpec"
                : "InvalidArgument";

        g_test_message("POST %s with %d nested '['", paths[i], DEEP);
        {
            g_autoptr(Answer) a = post(socket_path, paths[i], brackets, 2 * DEEP);
            assert_refused(a, 400, reason);
        }
        {
            g_autoptr(Answer) a = post(socket_path, paths[i], objects, strlen(objects));
            assert_refused(a, 400, reason);
        }
        assert_alive(socket_path);
    }
    {
        /* Says why. */
        g_autoptr(Answer) a = post(socket_path, "/v1/pods/deep/qmp", brackets, 2 * DEEP);
        g_assert_nonnull(strstr(a->body, "nested deeper than 64 levels"));
    }
    {
        /* What is not deep still works: the pod is not running. */
        const char *command = "{\"execute\": \"query-status\", \"arguments\": {\"a\": [[[]]]}}";
        g_autoptr(Answer) a = post(socket_path, "/v1/pods/deep/qmp", command, strlen(command));
        assert_refused(a, 409, "Conflict");
    }
    podvm_test_daemon_free(daemon);
}

static void
test_content_length(void)
{
    static const char *const headers[] = {
        "Content-Length: -1\r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length: 99999999999999999999999\r\n",
        "Content-Length: 2\r\nContent-Length: 2\r\n",
        "Content-Length: 2\r\nContent-Length: 3\r\n",
        "Content-Length: +2\r\n",
        "Content-Length: 2, 2\r\n",
    };
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autofree char *socket_path = NULL;

    if (daemon == NULL)
        return;
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(headers); i++) {
        g_autofree char *request = g_strdup_printf(
            "POST /v1/pods/x/stop HTTP/1.1\r\nHost: localhost\r\n%s\r\n{}", headers[i]);
        g_autoptr(Answer) a = raw_request(socket_path, request, strlen(request));

        g_test_message("%s", headers[i]);
        g_assert_cmpuint(a->status, ==, 400);
        /* At once, not after the request timeout. */
        g_assert_cmpint(a->elapsed_us, <, 5 * G_USEC_PER_SEC);
        if (*a->body != '\0')
            assert_strict_json("the refusal", a->body);
        assert_alive(socket_path);
    }
    {
        /* A good length still works. */
        g_autoptr(Answer) a = post(socket_path, "/v1/pods/x/stop", "{}", 2);
        assert_refused(a, 404, "NotFound");
    }
    podvm_test_daemon_free(daemon);
}

static void
test_not_utf8_echo(void)
{
    static const char *const paths[] = {
        "/v1/pods/%ff",       "/v1/pods/a%c3",         "/v1/pods/%ff/start",
        "/v1/volumes/%fe%ff", "/v1/pods/%e2%80%a8%1f",
    };
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autofree char *socket_path = NULL;

    if (daemon == NULL)
        return;
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autoptr(Answer) a = g_str_has_suffix(paths[i], "start")
                                  ? post(socket_path, paths[i], "", 0)
                                  : get(socket_path, paths[i]);

        g_test_message("%s: %u %s", paths[i], a->status, a->body);
        g_assert_cmpuint(a->status, >=, 400);
        g_assert_cmpuint(a->status, <, 500);
        assert_strict_json(paths[i], a->body);
    }
    assert_alive(socket_path);
    podvm_test_daemon_free(daemon);
}

/* The annotation "note" of the pod document @doc (an object with "metadata"). */
static const char *
annotation_of(JsonObject *doc)
{
    JsonObject *metadata = json_object_get_object_member(doc, "metadata");
    JsonObject *annotations = json_object_get_object_member(metadata, "annotations");

    return json_object_get_string_member(annotations, "note");
}

static void
test_control_characters(void)
{
    /* Every control character json-glib 1.6 lets through (U+001F), and others. */
    const char *expected = "a\x1f"
                           "b\x01"
                           "c\x7f"
                           "d\xe2\x80\xa8"
                           "e";
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autofree char *socket_path = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *with_note = NULL;
    const char *metadata = "\"metadata\":{\"name\":\"ctl\"}";

    if (daemon == NULL)
        return;
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    spec = podvm_test_guest_spec("ctl", NULL, NULL, 1);
    g_assert_nonnull(strstr(spec, metadata));
    {
        g_auto(GStrv) parts = g_strsplit(spec, metadata, 2);
        with_note = g_strconcat(parts[0],
                                "\"metadata\":{\"name\":\"ctl\",\"annotations\":{\"note\":"
                                "\"a\\u001fb\\u0001c\\u007fd\\u2028e\"}}",
                                parts[1], NULL);
    }
    create_pod(socket_path, with_note);

    {
        g_autoptr(Answer) a = get(socket_path, "/v1/pods");
        g_autoptr(JsonNode) list = NULL;

        g_assert_cmpuint(a->status, ==, 200);
        assert_strict_json("GET /v1/pods", a->body);
        list = parse(a->body);
        g_assert_cmpstr(annotation_of(json_array_get_object_element(json_node_get_array(list), 0)),
                        ==, expected);
    }
    {
        g_autoptr(Answer) a = get(socket_path, "/v1/pods/ctl");
        g_autoptr(JsonNode) doc = NULL;

        g_assert_cmpuint(a->status, ==, 200);
        assert_strict_json("GET /v1/pods/ctl", a->body);
        doc = parse(a->body);
        g_assert_cmpstr(annotation_of(json_node_get_object(doc)), ==, expected);
    }
    {
        g_autofree char *out = NULL;
        g_autoptr(JsonNode) list = NULL;

        g_assert_cmpint(podvm_test_ctl(daemon, &out, NULL, "list", "-o", "json", NULL), ==, 0);
        assert_strict_json("podvmctl list -o json", out);
        list = parse(out);
        g_assert_cmpstr(annotation_of(json_array_get_object_element(json_node_get_array(list), 0)),
                        ==, expected);
    }
    {
        g_autofree char *out = NULL;
        g_autoptr(JsonNode) doc = NULL;

        g_assert_cmpint(podvm_test_ctl(daemon, &out, NULL, "show", "ctl", NULL), ==, 0);
        assert_strict_json("podvmctl show", out);
        doc = parse(out);
        g_assert_cmpstr(annotation_of(json_node_get_object(doc)), ==, expected);
    }
    {
        g_autofree char *path =
            g_build_filename(daemon->state_dir, "pods", "ctl", "pod.json", NULL);
        g_autofree char *contents = NULL;

        g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
        assert_strict_json("pod.json", contents);
        g_assert_nonnull(strstr(contents, "\\u001f"));
    }
    {
        /* And it comes back the same after a restart, from pod.json. */
        g_autoptr(Answer) a = NULL;
        g_autoptr(JsonNode) doc = NULL;

        podvm_test_daemon_stop(daemon);
        podvm_test_daemon_start(daemon);
        a = get(socket_path, "/v1/pods/ctl");
        g_assert_cmpuint(a->status, ==, 200);
        doc = parse(a->body);
        g_assert_cmpstr(annotation_of(json_node_get_object(doc)), ==, expected);
    }
    podvm_test_daemon_free(daemon);
}

/* The spec of pod @name with @fragment put inside "spec": {...}. */
static char *
spec_with(const char *name, const char *fragment)
{
    g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 1);
    g_auto(GStrv) parts = g_strsplit(spec, "\"spec\":{", 2);

    g_assert_nonnull(parts[1]);
    return g_strconcat(parts[0], "\"spec\":{", fragment, parts[1], NULL);
}

static void
test_sizes(void)
{
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autofree char *socket_path = NULL;

    if (daemon == NULL)
        return;
    socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
    {
        /* Once validated, then a 500 from qemu-img at start: now a 400 naming the field. */
        g_autofree char *spec = spec_with("big", "\"volumes\":[{\"name\":\"s\",\"emptyDisk\":"
                                                 "{\"capacity\":\"8Ei\"}}],");
        g_autoptr(Answer) a = post(socket_path, "/v1/pods", spec, strlen(spec));

        assert_refused(a, 400, "InvalidSpec");
        g_assert_nonnull(strstr(a->body, "spec.volumes[0].emptyDisk.capacity"));
        g_assert_nonnull(strstr(a->body, "64Ti"));
    }
    {
        g_autofree char *spec = podvm_test_guest_spec("mem", NULL, NULL, 1);
        g_autoptr(GString) text = g_string_new(spec);
        g_autoptr(Answer) a = NULL;

        g_assert_cmpuint(g_string_replace(text, "\"128Mi\"", "\"8Ei\"", 1), ==, 1);
        a = post(socket_path, "/v1/pods", text->str, text->len);
        assert_refused(a, 400, "InvalidSpec");
        g_assert_nonnull(strstr(a->body, "spec.domain.resources.requests.memory"));
    }
    {
        const char *body = "{\"name\": \"huge\", \"size\": \"8Ei\"}";
        g_autoptr(Answer) a = post(socket_path, "/v1/volumes", body, strlen(body));

        assert_refused(a, 400, "InvalidArgument");
        g_assert_nonnull(strstr(a->body, "size"));
        g_assert_nonnull(strstr(a->body, "64Ti"));
    }
    {
        /* D-Bus takes the size as a number: bounded in the pool. */
        g_autoptr(GError) error = NULL;
        g_autofree char *volume = NULL;
        GVariantBuilder options;

        g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&options, "{sv}", "name", g_variant_new_string("huge"));
        g_variant_builder_add(&options, "{sv}", "size",
                              g_variant_new_uint64(G_GUINT64_CONSTANT(8) << 50));
        podvm_dbus_manager_call_create_volume_sync(daemon->manager, g_variant_builder_end(&options),
                                                   &volume, NULL, &error);
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "64Ti"));
    }
    assert_alive(socket_path);
    podvm_test_daemon_free(daemon);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/rest/input/deep-json", test_deep_json);
    g_test_add_func("/podvm/rest/input/content-length", test_content_length);
    g_test_add_func("/podvm/rest/input/not-utf8-echo", test_not_utf8_echo);
    g_test_add_func("/podvm/rest/input/control-characters", test_control_characters);
    g_test_add_func("/podvm/rest/input/sizes", test_sizes);
    return g_test_run();
}
