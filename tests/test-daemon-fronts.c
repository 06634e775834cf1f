/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * D-Bus and REST answer alike because the core answers for both.
 * The pod list is one answer of the core, cached per pod generation: after
 * each change (create, start, pause, replace, delete) D-Bus ListPods and
 * REST GET /v1/pods list the same pods, and each listed pod is the pod as
 * it is now (its own GET), at once. A volume's description is checked by
 * the core: CreateVolume and POST /v1/volumes refuse it with one error.
 */
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
    SoupSession *session;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree char *socket_path = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    f->daemon = podvm_test_daemon_new();
    if (f->daemon == NULL)
        return;
    socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    address = g_unix_socket_address_new(socket_path);
    f->session = soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->session);
    podvm_test_daemon_free(f->daemon);
}

/* The body of an HTTP request; asserts @expected_status. */
static char *
http(Fixture *f, const char *method, const char *path, const char *body, guint expected_status)
{
    g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;
    char *text;

    if (body != NULL) {
        g_autoptr(GBytes) request = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", request);
    }
    bytes = soup_session_send_and_read(f->session, msg, NULL, &error);
    g_assert_no_error(error);
    text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    if (soup_message_get_status(msg) != expected_status)
        g_test_message("%s %s: %u %s", method, path, soup_message_get_status(msg), text);
    g_assert_cmpuint(soup_message_get_status(msg), ==, expected_status);
    return text;
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

static char *
print(JsonNode *node, gboolean pretty)
{
    g_autoptr(JsonGenerator) generator = json_generator_new();

    json_generator_set_root(generator, node);
    json_generator_set_pretty(generator, pretty);
    return json_generator_to_data(generator, NULL);
}

static const char *
name_of(JsonNode *pod)
{
    JsonObject *metadata = json_object_get_object_member(json_node_get_object(pod), "metadata");

    return json_object_get_string_member(metadata, "name");
}

static const char *
phase_in(JsonNode *pod)
{
    JsonObject *status = json_object_get_object_member(json_node_get_object(pod), "status");

    return json_object_get_string_member(status, "phase");
}

/*
 * Asserts that both fronts list the same pods, printed as a JSON tree
 * prints them, each the pod as its own GET shows it now; returns
 * "name=Phase name=Phase" for the test to check what changed.
 */
static char *
assert_same_lists(Fixture *f)
{
    g_autofree char *rest_text = http(f, "GET", "/v1/pods", NULL, 200);
    g_autofree char *dbus_text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) rest = NULL;
    g_autoptr(JsonNode) dbus = NULL;
    g_autofree char *pretty = NULL;
    g_autofree char *compact = NULL;
    g_autoptr(GString) summary = g_string_new(NULL);
    JsonArray *pods;

    podvm_dbus_manager_call_list_pods_sync(f->daemon->manager, &dbus_text, NULL, &error);
    g_assert_no_error(error);
    rest = parse(rest_text);
    dbus = parse(dbus_text);
    g_assert_true(json_node_equal(rest, dbus));
    /* The texts are those of a JSON tree: REST pretty with a line feed, D-Bus compact. */
    pretty = print(dbus, TRUE);
    compact = print(rest, FALSE);
    g_assert_true(g_str_has_suffix(rest_text, "\n"));
    rest_text[strlen(rest_text) - 1] = '\0';
    g_assert_cmpstr(rest_text, ==, pretty);
    g_assert_cmpstr(dbus_text, ==, compact);

    pods = json_node_get_array(rest);
    for (guint i = 0; i < json_array_get_length(pods); i++) {
        JsonNode *pod = json_array_get_element(pods, i);
        g_autofree char *path = g_strconcat("/v1/pods/", name_of(pod), NULL);
        g_autofree char *text = http(f, "GET", path, NULL, 200);
        g_autoptr(JsonNode) now = parse(text);

        g_assert_true(json_node_equal(pod, now));
        g_string_append_printf(summary, "%s%s=%s", i > 0 ? " " : "", name_of(pod), phase_in(pod));
    }
    return g_string_free(g_steal_pointer(&summary), FALSE);
}

#define assert_listed(f, expected)                        \
    G_STMT_START                                          \
        {                                                 \
            g_autofree char *s_ = assert_same_lists((f)); \
            g_assert_cmpstr(s_, ==, (expected));          \
        }                                                 \
    G_STMT_END

static void
test_same_list(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    if (f->daemon == NULL)
        return;
    assert_listed(f, "");

    /* Created over each front. */
    {
        g_autofree char *spec = podvm_test_guest_spec("alpha", NULL, NULL, 1);
        g_autofree char *body = http(f, "POST", "/v1/pods", spec, 201);
    }
    assert_listed(f, "alpha=Pending");
    {
        g_autofree char *spec = podvm_test_guest_spec("beta", NULL, NULL, 1);

        podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
        g_assert_no_error(error);
    }
    assert_listed(f, "alpha=Pending beta=Pending");

    /* Started over D-Bus, paused and resumed over REST. */
    {
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, "alpha");

        podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
        g_assert_no_error(error);
    }
    assert_listed(f, "alpha=Running beta=Pending");
    {
        g_autofree char *body = http(f, "POST", "/v1/pods/alpha/pause", NULL, 200);
    }
    assert_listed(f, "alpha=Paused beta=Pending");
    {
        g_autofree char *body = http(f, "POST", "/v1/pods/alpha/resume", NULL, 200);
    }
    assert_listed(f, "alpha=Running beta=Pending");

    /* A replaced spec is listed at once (kernelArgs are hidden in lists: the grace shows it). */
    {
        g_autofree char *spec = podvm_test_guest_spec("beta", "podvm-replaced=1", NULL, 7);
        g_autofree char *body = http(f, "PUT", "/v1/pods/beta", spec, 200);
        g_autofree char *list = http(f, "GET", "/v1/pods", NULL, 200);
        g_autofree char *dbus_text = NULL;

        g_assert_nonnull(strstr(list, "\"terminationGracePeriodSeconds\" : 7"));
        podvm_dbus_manager_call_list_pods_sync(f->daemon->manager, &dbus_text, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(strstr(dbus_text, "\"terminationGracePeriodSeconds\":7"));
    }
    assert_listed(f, "alpha=Running beta=Pending");

    /* Deleted over each front: gone from both lists at once. */
    {
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, "alpha");

        podvm_dbus_pod_call_delete_sync(pod, TRUE, NULL, &error);
        g_assert_no_error(error);
    }
    assert_listed(f, "beta=Pending");
    {
        g_autofree char *body = http(f, "DELETE", "/v1/pods/beta", NULL, 200);
    }
    assert_listed(f, "");
}

/* One bad description, as REST's body and as D-Bus options. */
typedef struct {
    const char *body;
    const char *options; /* GVariant text of a{sv} */
    const char *message_part;
} BadVolume;

static void
test_volume_errors(Fixture *f, gconstpointer data)
{
    static const BadVolume cases[] = {
        { "{}", "@a{sv} {}", "\"name\" is required" },
        { "{\"name\": \"v\", \"size\": 0}", "{'name': <'v'>, 'size': <uint64 0>}",
          "more than 0 bytes" },
        { "{\"name\": \"v\", \"bogus\": \"x\"}", "{'name': <'v'>, 'bogus': <'x'>}",
          "unknown member \"bogus\"" },
        { "{\"name\": \"v\", \"size\": \"ten\"}", "{'name': <'v'>, 'size': <'ten'>}",
          "\"size\": " },
        { "{\"name\": \"v\", \"from\": 7}", "{'name': <'v'>, 'from': <7>}",
          "\"from\" must be a string" },
        { "{\"name\": 7}", "{'name': <7>}", "\"name\" must be a string" },
    };

    if (f->daemon == NULL)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = http(f, "POST", "/v1/volumes", cases[i].body, 400);
        g_autoptr(JsonNode) doc = parse(text);
        JsonObject *error_object =
            json_object_get_object_member(json_node_get_object(doc), "error");
        const char *rest_message = json_object_get_string_member(error_object, "message");
        g_autoptr(GVariant) options = g_variant_parse(NULL, cases[i].options, NULL, NULL, NULL);
        g_autoptr(GError) error = NULL;
        g_autofree char *volume = NULL;
        g_autofree char *remote = NULL;

        g_assert_nonnull(options);
        g_assert_cmpstr(json_object_get_string_member(error_object, "reason"), ==,
                        "InvalidArgument");
        g_assert_nonnull(strstr(rest_message, cases[i].message_part));
        podvm_dbus_manager_call_create_volume_sync(f->daemon->manager, options, &volume, NULL,
                                                   &error);
        g_assert_nonnull(error);
        remote = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(remote, ==, "io.podvm.PodVM1.Error.InvalidArgument");
        g_dbus_error_strip_remote_error(error);
        g_assert_cmpstr(error->message, ==, rest_message);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/fronts/same-pod-list", Fixture, NULL, fixture_setup, test_same_list,
               fixture_teardown);
    g_test_add("/podvm/fronts/same-volume-errors", Fixture, NULL, fixture_setup, test_volume_errors,
               fixture_teardown);
    return g_test_run();
}
