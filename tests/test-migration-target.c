/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the target alone: a real podvmd receives a pod over its
 * peer API (REST on its unix socket), from a "source" that is this test:
 * offers, stream upgrades on raw sockets, and a bare QEMU driven by raw
 * QMP whose `migrate` goes to a unix socket the test relays to the stream.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
    char *socket_path;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new_with_config(data != NULL ? data : "[migration]\n");
    if (f->daemon == NULL)
        return;
    f->socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_free(f->socket_path);
    podvm_test_daemon_free(f->daemon);
}

/* ---- raw HTTP on the unix socket ---------------------------------------------------- */

typedef struct {
    guint status;
    char *head; /* the status line and headers */
    char *body;
} Answer;

static void
answer_free(Answer *a)
{
    g_free(a->head);
    g_free(a->body);
    g_free(a);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Answer, answer_free)

/* Reads one answer's head (to the blank line) from @fd: its bytes, without the blank line. */
static char *
read_head(int fd)
{
    g_autoptr(GString) head = g_string_new(NULL);
    char c;

    while (!g_str_has_suffix(head->str, "\r\n\r\n")) {
        ssize_t n = read(fd, &c, 1);

        if (n <= 0)
            return NULL;
        g_string_append_c(head, c);
    }
    g_string_truncate(head, head->len - 4);
    return g_string_free(g_steal_pointer(&head), FALSE);
}

static guint
head_status(const char *head)
{
    return head != NULL && strlen(head) > 12 ? (guint)atoi(head + 9) : 0;
}

/* One request on a fresh connection ("Connection: close"); the whole answer. */
static Answer *
http(Fixture *f, const char *method, const char *path, const char *extra_headers, const char *body)
{
    int fd = podvm_test_connect_unix(f->socket_path);
    g_autofree char *length =
        g_strdup_printf("Content-Type: application/json\r\nContent-Length: %zu\r\n",
                        body != NULL ? strlen(body) : 0);
    g_autofree char *request =
        g_strdup_printf("%s %s HTTP/1.1\r\nHost: podvm\r\nConnection: close\r\n%s%s\r\n%s", method,
                        path, extra_headers != NULL ? extra_headers : "",
                        body != NULL ? length : "", body != NULL ? body : "");
    g_autoptr(GString) rest = g_string_new(NULL);
    Answer *a = g_new0(Answer, 1);
    char buffer[4096];
    ssize_t n;

    g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
    a->head = read_head(fd);
    g_assert_nonnull(a->head);
    a->status = head_status(a->head);
    while ((n = read(fd, buffer, sizeof buffer)) > 0)
        g_string_append_len(rest, buffer, n);
    close(fd);
    a->body = g_string_free(g_steal_pointer(&rest), FALSE);
    return a;
}

/* The error reason of an error document, or "". */
static char *
answer_reason(Answer *a)
{
    g_autoptr(JsonNode) root = json_from_string(a->body, NULL);
    JsonObject *error;

    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root) ||
        !json_object_has_member(json_node_get_object(root), "error"))
        return g_strdup("");
    error = json_object_get_object_member(json_node_get_object(root), "error");
    return g_strdup(json_object_get_string_member_with_default(error, "reason", ""));
}

/* ---- offers -------------------------------------------------------------------------- */

/* An offer of the test guest named @name with @uid (NULL: a new one). */
static char *
make_offer(const char *name, const char *uid, const char *extra_args)
{
    g_autofree char *spec = podvm_test_guest_spec(name, extra_args, NULL, 2);
    g_autoptr(JsonNode) pod = json_from_string(spec, NULL);
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *fresh = g_uuid_string_random();
    JsonObject *offer = json_object_new();

    json_object_set_string_member(
        json_object_get_object_member(json_node_get_object(pod), "metadata"), "uid",
        uid != NULL ? uid : fresh);
    json_object_set_int_member(offer, "version", 1);
    json_object_set_member(offer, "pod", json_node_ref(pod));
    json_object_set_array_member(offer, "disks", json_array_new());
    json_object_set_object_member(offer, "macs", json_object_new());
    json_object_set_boolean_member(offer, "postcopy", FALSE);
    json_node_take_object(root, offer);
    return json_to_string(root, FALSE);
}

/* A pod named @name, created over REST; its uid. */
static char *
create_pod(Fixture *f, const char *name)
{
    g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 2);
    g_autoptr(Answer) a = http(f, "POST", "/v1/pods", NULL, spec);
    g_autoptr(JsonNode) root = NULL;

    g_assert_cmpuint(a->status, ==, 201);
    root = json_from_string(a->body, NULL);
    g_assert_nonnull(root);
    return g_strdup(json_object_get_string_member(
        json_object_get_object_member(json_node_get_object(root), "metadata"), "uid"));
}

/* An offer of a name or uid this host has is refused (409), and nothing changes here. */
static void
test_offer_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *uid = NULL;
    g_autofree char *same_name = NULL;
    g_autofree char *same_uid = NULL;

    if (f->daemon == NULL)
        return;
    uid = create_pod(f, "taken");
    same_name = make_offer("taken", NULL, NULL);
    same_uid = make_offer("other", uid, NULL);
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, same_name);
        g_autofree char *reason = answer_reason(a);

        g_assert_cmpuint(a->status, ==, 409);
        g_assert_cmpstr(reason, ==, "AlreadyExists");
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, same_uid);
        g_autofree char *reason = answer_reason(a);

        g_assert_cmpuint(a->status, ==, 409);
        g_assert_cmpstr(reason, ==, "AlreadyExists");
        g_assert_nonnull(strstr(a->body, uid));
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, "{\"version\": 1");

        g_assert_cmpuint(a->status, ==, 400);
    }
    {
        g_autoptr(Answer) a =
            http(f, "POST", "/v1/migrations", NULL, "{\"version\": 99, \"pod\": {}}");

        g_assert_cmpuint(a->status, ==, 400);
    }
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/pods", NULL, NULL);
        g_autoptr(JsonNode) root = json_from_string(a->body, NULL);

        g_assert_cmpuint(a->status, ==, 200);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(root)), ==, 1);
    }
}

/* Unknown migrations: 404 for each route; a stream request that is no upgrade: 400. */
static void
test_unknown_migration(Fixture *f, gconstpointer data)
{
    const char *upgrade = "Connection: Upgrade\r\nUpgrade: podvm-migration/1\r\n"
                          "X-Podvm-Migration-Secret: nothing\r\n";

    if (f->daemon == NULL)
        return;
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/migrations/nope", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations/nope/finish", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a = http(f, "DELETE", "/v1/migrations/nope", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a =
            http(f, "GET", "/v1/migrations/nope/stream?channel=migration", upgrade, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a =
            http(f, "GET", "/v1/migrations/nope/stream?channel=migration", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 400);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/migration-target/offer-refused", Fixture, NULL, fixture_setup, test_offer_refused,
               fixture_teardown);
    g_test_add("/migration-target/unknown-migration", Fixture, NULL, fixture_setup,
               test_unknown_migration, fixture_teardown);
    return g_test_run();
}
