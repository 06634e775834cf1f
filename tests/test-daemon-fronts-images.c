/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image fronts against a real podvmd: D-Bus Manager.PullImage,
 * ListImages, RemoveImage, PruneImages and REST /v1/images answer alike
 * because the core answers for both. Without a registry: the errors (a bad
 * reference, an unknown image) are the same on both fronts, and what only
 * REST decodes (its body) is refused naming the member. With Debian's
 * docker-registry on loopback: an image pulled over D-Bus (its "image-pull"
 * events on the bus) is listed alike by both, pulled again over REST
 * (also with ?wait=false), removed by its URL-escaped reference and by its
 * digest, and pruned.
 */
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
    PodvmTestRegistry *reg;
    SoupSession *session;
    guint pull_events;
} Fixture;

#define WITH_REGISTRY GINT_TO_POINTER(1)

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree char *socket_path = NULL;
    g_autofree char *conf = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    if (data == WITH_REGISTRY) {
        f->reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
        if (f->reg == NULL)
            return;
        conf =
            g_strdup_printf("[images]\ninsecure_registries=%s\n", podvm_test_registry_host(f->reg));
    }
    f->daemon = conf != NULL ? podvm_test_daemon_new_with_config(conf) : podvm_test_daemon_new();
    if (f->daemon == NULL)
        return;
    socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    address = g_unix_socket_address_new(socket_path);
    f->session = soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
}

/* FALSE after g_test_skip() while podvmd has no image store to serve. */
static gboolean
store_ready(Fixture *f)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *list = NULL;
    g_autofree char *reason = NULL;

    if (f->daemon == NULL)
        return FALSE;
    if (podvm_dbus_manager_call_list_images_sync(f->daemon->manager, &list, NULL, &error))
        return TRUE;
    g_dbus_error_strip_remote_error(error);
    reason = g_strdup_printf("podvmd serves no images yet: ListImages: %s", error->message);
    g_test_skip(reason);
    return FALSE;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->session);
    podvm_test_daemon_free(f->daemon);
    g_clear_pointer(&f->reg, podvm_test_registry_stop);
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

    g_assert_nonnull(msg);
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

/* Asserts a REST error document and a D-Bus error say the same. */
static void
assert_same_error(const char *rest_text, GError *dbus_error, const char *reason,
                  const char *message_part)
{
    g_autoptr(JsonNode) doc = parse(rest_text);
    JsonObject *error = json_object_get_object_member(json_node_get_object(doc), "error");
    const char *message = json_object_get_string_member(error, "message");
    g_autofree char *remote = NULL;
    g_autofree char *expected = g_strconcat("io.podvm.PodVM1.Error.", reason, NULL);

    g_assert_cmpstr(json_object_get_string_member(error, "reason"), ==, reason);
    g_assert_nonnull(strstr(message, message_part));
    g_assert_nonnull(dbus_error);
    remote = g_dbus_error_get_remote_error(dbus_error);
    g_assert_cmpstr(remote, ==, expected);
    g_dbus_error_strip_remote_error(dbus_error);
    g_assert_cmpstr(dbus_error->message, ==, message);
}

/* Both fronts' image lists, asserted equal; the list. */
static JsonNode *
assert_same_lists(Fixture *f)
{
    g_autofree char *rest_text = http(f, "GET", "/v1/images", NULL, 200);
    g_autofree char *dbus_text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) dbus = NULL;
    JsonNode *rest;

    podvm_dbus_manager_call_list_images_sync(f->daemon->manager, &dbus_text, NULL, &error);
    g_assert_no_error(error);
    rest = parse(rest_text);
    dbus = parse(dbus_text);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(rest));
    g_assert_true(json_node_equal(rest, dbus));
    return rest;
}

static void
test_errors_alike(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *body;
        const char *message;
    } bodies[] = {
        { NULL, "reference: required" },
        { "{}", "reference: required" },
        { "{\"reference\": 7}", "reference: must be a string" },
        { "{\"reference\": \"busybox\", \"platform\": \"arm\"}",
          "platform: unknown member; the body is {\"reference\"}" },
        { "[]", "the body must be a JSON object" },
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) list = NULL;

    if (!store_ready(f))
        return;
    list = assert_same_lists(f);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 0);

    /* A reference that is not one. */
    {
        g_autofree char *text =
            http(f, "POST", "/v1/images", "{\"reference\": \"docker://Not A Ref\"}", 400);
        g_autofree char *image = NULL;

        podvm_dbus_manager_call_pull_image_sync(f->daemon->manager, "docker://Not A Ref", &image,
                                                NULL, &error);
        assert_same_error(text, error, "InvalidArgument", "");
        g_clear_error(&error);
    }
    /* An image that is not stored, by reference (URL-escaped) and by digest. */
    {
        g_autofree char *text =
            http(f, "DELETE", "/v1/images/docker.io%2Flibrary%2Fnope%3Alatest", NULL, 404);
        g_autofree char *unescaped =
            http(f, "DELETE", "/v1/images/docker.io/library/nope:latest", NULL, 404);

        podvm_dbus_manager_call_remove_image_sync(
            f->daemon->manager, "docker.io/library/nope:latest", FALSE, NULL, &error);
        /* The reference is the rest of the path, escaped or not. */
        g_assert_cmpstr(text, ==, unescaped);
        assert_same_error(text, error, "NotFound", "nope");
        g_clear_error(&error);
    }
    {
        const char *digest =
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        g_autofree char *path = g_strconcat("/v1/images/", digest, "?force=true", NULL);
        g_autofree char *text = http(f, "DELETE", path, NULL, 404);

        podvm_dbus_manager_call_remove_image_sync(f->daemon->manager, digest, TRUE, NULL, &error);
        assert_same_error(text, error, "NotFound", "");
        g_clear_error(&error);
    }
    /* What only REST decodes. */
    for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
        g_autofree char *text = http(f, "POST", "/v1/images", bodies[i].body, 400);
        g_autoptr(JsonNode) doc = parse(text);
        JsonObject *object = json_object_get_object_member(json_node_get_object(doc), "error");

        g_assert_cmpstr(json_object_get_string_member(object, "reason"), ==, "InvalidArgument");
        g_assert_true(
            g_str_has_prefix(json_object_get_string_member(object, "message"), bodies[i].message));
    }
    {
        g_autofree char *text = http(f, "DELETE", "/v1/images/x?force=maybe", NULL, 400);
        g_autofree char *get = http(f, "GET", "/v1/images/prune", NULL, 405);
    }
    /* An empty store prunes nothing, alike. */
    {
        g_autofree char *text = http(f, "POST", "/v1/images/prune", NULL, 200);
        g_autofree char *dbus_text = NULL;
        g_autoptr(JsonNode) rest = parse(text);
        g_autoptr(JsonNode) dbus = NULL;

        podvm_dbus_manager_call_prune_images_sync(f->daemon->manager, &dbus_text, NULL, &error);
        g_assert_no_error(error);
        dbus = parse(dbus_text);
        g_assert_cmpint(json_object_get_int_member(json_node_get_object(rest), "removed"), ==, 0);
        g_assert_true(json_node_equal(rest, dbus));
    }
}

static void
event_cb(PodvmDBusManager *manager, const char *pod, const char *type, const char *details,
         gpointer user_data)
{
    Fixture *f = user_data;

    if (g_str_equal(type, "image-pull"))
        f->pull_events++;
}

static gboolean
got_events(gpointer user_data)
{
    Fixture *f = user_data;

    return f->pull_events > 0;
}

typedef struct {
    GMainLoop *loop;
    char *image;
    GError *error;
} Pull;

static void
pulled_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Pull *pull = user_data;

    podvm_dbus_manager_call_pull_image_finish(PODVM_DBUS_MANAGER(source), &pull->image, result,
                                              &pull->error);
    g_main_loop_quit(pull->loop);
}

static const char *
member(JsonNode *object_node, const char *name)
{
    return json_object_get_string_member_with_default(json_node_get_object(object_node), name,
                                                      NULL);
}

static void
test_pull_list_remove(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(JsonNode) pulled = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *manifest = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *reference = NULL;
    g_autofree char *escaped = NULL;
    g_autofree char *body = NULL;
    g_autofree char *digest = NULL;
    Pull pull = { .loop = loop };
    gulong handler;

    if (!store_ready(f))
        return;
    image = podvm_test_image_new_busybox(NULL);
    if (image == NULL)
        return;
    tmp = podvm_test_mkdtemp();
    manifest = podvm_test_image_write_layout(image, tmp, "v1", NULL);
    g_assert_nonnull(manifest);
    podvm_test_registry_push(f->reg, tmp, "v1", "apps/busybox:v1", &error);
    g_assert_no_error(error);
    reference = g_strdup_printf("%s/apps/busybox:v1", podvm_test_registry_host(f->reg));

    /* Over D-Bus, with its progress on the bus. */
    handler = g_signal_connect(f->daemon->manager, "event", G_CALLBACK(event_cb), f);
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(f->daemon->manager), 120000);
    podvm_dbus_manager_call_pull_image(f->daemon->manager, reference, NULL, pulled_cb, &pull);
    g_main_loop_run(loop);
    g_assert_no_error(pull.error);
    pulled = parse(pull.image);
    g_free(pull.image);
    g_assert_cmpstr(member(pulled, "reference"), ==, reference);
    digest = g_strdup(member(pulled, "digest"));
    g_assert_true(g_str_has_prefix(digest, "sha256:"));
    /* The last event ("done") is sent before the answer; the signal may come just after it. */
    podvm_test_wait_until(got_events, f, 10000);
    g_assert_cmpuint(f->pull_events, >, 0);
    g_signal_handler_disconnect(f->daemon->manager, handler);

    list = assert_same_lists(f);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 1);
    g_assert_cmpstr(member(json_array_get_element(json_node_get_array(list), 0), "digest"), ==,
                    digest);
    g_clear_pointer(&list, json_node_unref);

    /* Over REST: the same image. */
    body = g_strdup_printf("{\"reference\": \"docker://%s\"}", reference);
    {
        g_autofree char *text = http(f, "POST", "/v1/images", body, 200);
        g_autoptr(JsonNode) again = parse(text);

        g_assert_cmpstr(member(again, "digest"), ==, digest);
    }

    /* Removed by its URL-escaped reference: gone from both lists. */
    escaped = g_uri_escape_string(reference, NULL, FALSE);
    {
        g_autofree char *path = g_strconcat("/v1/images/", escaped, NULL);
        g_autofree char *text = http(f, "DELETE", path, NULL, 200);
    }
    list = assert_same_lists(f);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 0);
    g_clear_pointer(&list, json_node_unref);

    /* ?wait=false: 202 at once, the image there a little later. */
    {
        g_autofree char *text = http(f, "POST", "/v1/images?wait=false", body, 202);
        g_autoptr(JsonNode) accepted = parse(text);
        gint64 deadline = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;

        g_autofree char *given = g_strconcat("docker://", reference, NULL);

        g_assert_cmpstr(member(accepted, "reference"), ==, given);
        /*
         * Waits on one front: comparing the two while the pull runs races it
         * (REST listed nothing yet, D-Bus the image a moment later).
         */
        for (;;) {
            g_autofree char *listed = http(f, "GET", "/v1/images", NULL, 200);

            list = parse(listed);
            if (json_array_get_length(json_node_get_array(list)) == 1)
                break;
            g_clear_pointer(&list, json_node_unref);
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(100000);
        }
        g_clear_pointer(&list, json_node_unref);
        list = assert_same_lists(f);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 1);
        g_clear_pointer(&list, json_node_unref);
    }

    /* Removed by its digest over D-Bus, then pruned: the blobs go. */
    {
        g_autofree char *text = NULL;
        g_autoptr(JsonNode) pruned = NULL;

        podvm_dbus_manager_call_remove_image_sync(f->daemon->manager, digest, FALSE, NULL, &error);
        g_assert_no_error(error);
        text = http(f, "POST", "/v1/images/prune", NULL, 200);
        pruned = parse(text);
        g_assert_cmpint(json_object_get_int_member(json_node_get_object(pruned), "freedBytes"), >,
                        0);
    }
    list = assert_same_lists(f);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 0);
    podvm_test_rmrf(tmp);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/fronts/images/errors-alike", Fixture, NULL, fixture_setup, test_errors_alike,
               fixture_teardown);
    g_test_add("/podvm/fronts/images/pull-list-remove", Fixture, WITH_REGISTRY, fixture_setup,
               test_pull_list_remove, fixture_teardown);
    return g_test_run();
}
