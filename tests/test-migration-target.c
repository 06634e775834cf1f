/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the target alone: a real podvmd receives a pod over its
 * peer API (REST on its unix socket), from a "source" that is this test
 * (podvm-test-target.c): offers, stream upgrades on raw sockets, and a
 * bare QEMU driven by raw QMP whose `migrate` goes to the upgraded stream.
 * Failures and restarts: test-migration-target-faults.c.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-target.h"
#include "podvm-test-util.h"

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

/* An offer of @spec (a pod document, given a new uid) copying @disks (a JSON array text). */
static char *
offer_of_spec(const char *spec, const char *disks)
{
    g_autoptr(JsonNode) pod = json_from_string(spec, NULL);
    g_autofree char *uid = g_uuid_string_random();
    g_autofree char *pod_text = NULL;

    json_object_set_string_member(
        json_object_get_object_member(json_node_get_object(pod), "metadata"), "uid", uid);
    pod_text = json_to_string(pod, FALSE);
    return g_strdup_printf("{\"version\": 1, \"pod\": %s, \"disks\": %s, \"macs\": {}}", pod_text,
                           disks);
}

static void
expect_refused_offer(Fixture *f, const char *offer, guint status, const char *reason)
{
    g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);
    g_autofree char *got = answer_reason(a);

    if (a->status != status || g_strcmp0(got, reason) != 0)
        g_error("offer %s: %u %s", offer, a->status, a->body);
}

/*
 * The disks an offer copies: only disks of the pod; an emptyDisk of its
 * own capacity; a hostDisk is not copied (NotSupported); a cloud-init
 * medium is made again, never copied. Nothing is created for a refusal.
 */
static void
test_offer_disks(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autofree char *host_dir = NULL;
    g_autofree char *host_image = NULL;
    g_autofree char *volumes = NULL;

    if (f->daemon == NULL)
        return;
    host_dir = podvm_test_mkdtemp();
    volumes = g_strdup_printf(
        "[{\"name\": \"data\", \"emptyDisk\": {\"capacity\": \"64Mi\"}},"
        " {\"name\": \"host\", \"hostDisk\": {\"path\": \"%s/h.img\", \"type\": "
        "\"DiskOrCreate\", \"capacity\": \"1Mi\"}},"
        " {\"name\": \"ci\", \"cloudInitNoCloud\": {\"userData\": \"#cloud-config\\n\"}}]",
        host_dir);
    spec = podvm_test_guest_spec_with("disky", NULL, "disks",
                                      "[{\"name\": \"data\", \"disk\": {\"bus\": \"virtio\"}},"
                                      " {\"name\": \"host\", \"disk\": {\"bus\": \"virtio\"}},"
                                      " {\"name\": \"ci\", \"disk\": {\"bus\": \"virtio\"}}]",
                                      "volumes", volumes);
    {
        g_autofree char *offer = offer_of_spec(spec, "[{\"name\": \"nope\", \"size\": 1}]");
        expect_refused_offer(f, offer, 400, "InvalidArgument");
    }
    {
        g_autofree char *offer = offer_of_spec(spec, "[{\"name\": \"data\", \"size\": 4096}]");
        expect_refused_offer(f, offer, 400, "InvalidArgument");
    }
    {
        g_autofree char *offer = offer_of_spec(spec, "[{\"name\": \"host\", \"size\": 1048576}]");
        expect_refused_offer(f, offer, 400, "NotSupported");
    }
    {
        g_autofree char *offer = offer_of_spec(spec, "[{\"name\": \"ci\", \"size\": 1048576}]");
        expect_refused_offer(f, offer, 400, "InvalidArgument");
    }
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/pods", NULL, NULL);
        g_autoptr(JsonNode) root = json_from_string(a->body, NULL);

        g_assert_cmpuint(json_array_get_length(json_node_get_array(root)), ==, 0);
    }
    host_image = g_build_filename(host_dir, "h.img", NULL);
    g_assert_false(g_file_test(host_image, G_FILE_TEST_EXISTS));
    podvm_test_rmrf(host_dir);
}

/*
 * [migration] max_parallel=1: a second offer while one Incoming pod waits
 * is refused (409 Busy); once the first is given up, it is taken.
 */
static void
test_busy(Fixture *f, gconstpointer data)
{
    g_autofree char *first = make_offer("first", NULL, NULL);
    g_autofree char *second = make_offer("second", NULL, NULL);
    g_autofree char *path = NULL;
    g_autoptr(JsonNode) root = NULL;

    if (f->daemon == NULL)
        return;
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, first);

        g_assert_cmpuint(a->status, ==, 201);
        root = json_from_string(a->body, NULL);
        path = g_strconcat("/v1/migrations/",
                           json_object_get_string_member(json_node_get_object(root), "id"), NULL);
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, second);
        g_autofree char *reason = answer_reason(a);

        g_assert_cmpuint(a->status, ==, 409);
        g_assert_cmpstr(reason, ==, "Busy");
    }
    {
        g_autoptr(Answer) a = http(f, "DELETE", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 204);
    }
    {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        for (;;) {
            g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, second);

            if (a->status == 201)
                break;
            g_assert_cmpuint(a->status, ==, 409);
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(200 * 1000);
        }
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

/*
 * The whole receive: offer, the migration stream (the source QEMU's
 * `migrate` to the upgraded connection, passed by getfd), completed,
 * finish: the pod runs here, the guest's heartbeat goes on from where it
 * was (no reboot), and the source QEMU is left paused (postmigrate).
 */
static void
test_receive(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autoptr(GString) seen = g_string_new(NULL);
    int events;
    g_autofree char *offer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *target_log = NULL;
    g_autofree char *finish = NULL;
    int stream, early;
    guint status = 0;
    gint64 deadline;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    events = events_open(f, "mig");
    offer = source_offer(src, "[]");
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);

        if (a->status != 201)
            g_error("offer: %u %s", a->status, a->body);
        answer_id_secret(a, &id, &secret);
    }
    g_assert_true(events_wait_for(events, seen, "event: MigrationIncoming", 10000));
    {
        g_autofree char *phase = phase_of(f->socket_path, "mig");
        g_autofree char *state = migration_state(f, id);

        g_assert_cmpstr(phase, ==, "Incoming");
        g_assert_cmpstr(state, ==, "waiting");
    }
    /*
     * The finish, asked for before anything moved: it waits for this
     * QEMU's "completed" (a source may see its own a moment before).
     */
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    early = podvm_test_connect_unix(f->socket_path);
    {
        g_autofree char *request = g_strdup_printf(
            "POST %s HTTP/1.1\r\nHost: podvm\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            finish);

        g_assert_true(podvm_test_send_all(early, request, strlen(request)));
    }
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    {
        g_autoptr(JsonNode) r1 =
            qmp(src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n",
                stream);
        g_autoptr(JsonNode) r2 = qmp(
            src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1);
    }
    close(stream);
    deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *s = migrate_status(src->qmp_fd);

        if (g_str_equal(s, "completed"))
            break;
        g_assert_cmpstr(s, !=, "failed");
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    {
        g_autofree char *head = read_head(early);
        g_autoptr(GString) body = g_string_new(NULL);
        char buffer[4096];
        ssize_t n;

        while ((n = read(early, buffer, sizeof buffer)) > 0)
            g_string_append_len(body, buffer, n);
        close(early);
        if (head_status(head) != 200)
            g_error("finish: %s %s", head, body->str);
        g_assert_nonnull(strstr(body->str, "\"running\""));
    }
    {
        g_autofree char *phase = phase_of(f->socket_path, "mig");
        g_autofree char *state = migration_state(f, id);

        g_assert_cmpstr(phase, ==, "Running");
        g_assert_cmpstr(state, ==, "running");
    }
    g_assert_true(events_wait_for(events, seen, "event: MigrationActivated", 10000));
    close(events);
    /* A second finish (the source lost the answer) gets the same answer. */
    {
        g_autoptr(Answer) a = http(f, "POST", finish, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 200);
    }
    /* Running here now: DELETE of the migration is refused. */
    {
        g_autofree char *path = g_strconcat("/v1/migrations/", id, NULL);
        g_autoptr(Answer) a = http(f, "DELETE", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 409);
    }
    /* The guest goes on where it was: heartbeats past the source's last one, no new boot. */
    target_log = podvm_test_daemon_console_log(f->daemon, "mig");
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (last_heartbeat(target_log) <= src->heartbeat && g_get_monotonic_time() < deadline)
        g_usleep(100 * 1000);
    g_assert_cmpuint(last_heartbeat(target_log), >, src->heartbeat);
    g_assert_cmpuint(podvm_test_count_in_file(target_log, "PODVM-HEARTBEAT 1\n"), ==, 0);
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/pods/mig", NULL, NULL);

        g_assert_nonnull(strstr(a->body, src->uid));
        g_assert_null(strstr(a->body, "\"migration\""));
        g_assert_null(strstr(a->body, "\"migrationState\""));
    }
}

/*
 * A pod with a local emptyDisk: the source mirrors it into the target's
 * NBD export (the nbd:data stream), pauses before the switchover, completes
 * the mirror, then the migration completes; after finish the guest on the
 * target reads what it wrote on the source.
 */
static void
test_receive_disk(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *spec = podvm_test_guest_spec_with(
        "mig", NULL, "disks", "[{\"name\": \"data\", \"disk\": {\"bus\": \"virtio\"}}]", "volumes",
        "[{\"name\": \"data\", \"emptyDisk\": {\"capacity\": \"64Mi\"}}]");
    g_autofree char *offer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *export = NULL;
    g_autofree char *command = NULL;
    g_autofree char *finish = NULL;
    g_autofree char *word = NULL;
    guint status = 0;
    int nbd, stream;

    if (f->daemon == NULL)
        return;
    src = source_new_with("mig", spec, "MIGRATEDWORD");
    if (src == NULL)
        return;
    offer = source_offer(src, "[{\"name\": \"data\", \"size\": 67108864}]");
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);
        g_autoptr(JsonNode) root = NULL;
        JsonArray *disks;

        if (a->status != 201)
            g_error("offer: %u %s", a->status, a->body);
        answer_id_secret(a, &id, &secret);
        root = json_from_string(a->body, NULL);
        disks = json_object_get_array_member(json_node_get_object(root), "disks");
        g_assert_cmpuint(json_array_get_length(disks), ==, 1);
        export = g_strdup(
            json_object_get_string_member(json_array_get_object_element(disks, 0), "export"));
    }
    /* The disk: an NBD client on the upgraded stream, mirrored into it. */
    nbd = open_stream(f, id, secret, "nbd:data", &status);
    g_assert_cmpuint(status, ==, 101);
    g_clear_pointer(&command, g_free);
    {
        g_autoptr(JsonNode) r = qmp(
            src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"nbd\"}}\n", nbd);
    }
    close(nbd);
    command = g_strdup_printf(
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"nbd\", \"node-name\": "
        "\"tgt-data\", \"server\": {\"type\": \"fd\", \"str\": \"nbd\"}, \"export\": \"%s\"}}\n",
        export);
    json_node_unref(qmp(src->qmp_fd, command, -1));
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"blockdev-mirror\", \"arguments\": {\"job-id\": "
                        "\"m-data\", \"device\": \"d-data\", \"target\": \"tgt-data\", \"sync\": "
                        "\"full\", \"copy-mode\": \"write-blocking\"}}\n",
                        -1));
    wait_block_job(src->qmp_fd, "m-data");
    /* The memory, paused before the switchover to complete the mirror there. */
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
                        "{\"capabilities\": [{\"capability\": \"pause-before-switchover\", "
                        "\"state\": true}, {\"capability\": \"events\", \"state\": true}]}}\n",
                        -1));
    json_node_unref(qmp(
        src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n", stream));
    close(stream);
    json_node_unref(
        qmp(src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1));
    wait_migrate_status(src->qmp_fd, "pre-switchover");
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"block-job-cancel\", \"arguments\": {\"device\": "
                        "\"m-data\"}}\n",
                        -1));
    wait_block_job(src->qmp_fd, NULL);
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"migrate-continue\", \"arguments\": {\"state\": "
                        "\"pre-switchover\"}}\n",
                        -1));
    wait_migrate_status(src->qmp_fd, "completed");
    {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        for (;;) {
            g_autofree char *state = migration_state(f, id);

            if (g_str_equal(state, "completed"))
                break;
            g_assert_cmpstr(state, !=, "failed");
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(100 * 1000);
        }
    }
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    {
        g_autoptr(Answer) a = http(f, "POST", finish, NULL, NULL);

        if (a->status != 200)
            g_error("finish: %u %s", a->status, a->body);
    }
    /* The guest, on the target, reads what it wrote on the source. */
    word = podvm_test_guest_read(f->daemon, "mig", src->dev);
    g_assert_cmpstr(word, ==, "MIGRATEDWORD");
}

/*
 * Refusals of the streams: a wrong or missing secret is 403 and no 101,
 * an unknown channel 400; then DELETE tears the Incoming pod down and
 * nothing of it stays (no QEMU, no directories, no pod).
 */
static void
test_abort(Fixture *f, gconstpointer data)
{
    gint64 pid;
    g_autoptr(Source) src = NULL;
    g_autoptr(GString) seen = g_string_new(NULL);
    int events;
    g_autofree char *offer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *path = NULL;
    guint status = 0;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", "podvm.heartbeat=1");
    if (src == NULL)
        return;
    events = events_open(f, "mig");
    offer = source_offer(src, "[]");
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);

        if (a->status != 201)
            g_error("offer: %u %s", a->status, a->body);
        answer_id_secret(a, &id, &secret);
    }
    g_assert_cmpint(open_stream(f, id, "wrong-secret", "migration", &status), ==, -1);
    g_assert_cmpuint(status, ==, 403);
    {
        g_autofree char *request_path =
            g_strconcat("/v1/migrations/", id, "/stream?channel=migration", NULL);
        g_autoptr(Answer) a = http(f, "GET", request_path,
                                   "Connection: Upgrade\r\nUpgrade: podvm-migration/1\r\n", NULL);
        g_assert_cmpuint(a->status, ==, 403);
    }
    g_assert_cmpint(open_stream(f, id, secret, "nbd:nothing", &status), ==, -1);
    g_assert_cmpuint(status, ==, 400);
    /* A second offer of the same pod: the name is taken by the Incoming pod. */
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);
        g_assert_cmpuint(a->status, ==, 409);
    }
    path = g_strconcat("/v1/migrations/", id, NULL);
    pid = qemu_pid_of(f, "mig");
    g_assert_cmpint(pid, >, 0);
    {
        g_autoptr(Answer) a = http(f, "DELETE", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 204);
    }
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    g_assert_false(process_alive(pid));
    g_assert_true(process_alive(src->qemu_pid));
    {
        g_autoptr(Answer) a = http(f, "GET", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    g_assert_true(events_wait_for(events, seen, "event: Deleted", 10000));
    g_assert_nonnull(strstr(seen->str, "event: MigrationIncoming"));
    g_assert_nonnull(strstr(seen->str, "event: MigrationFailed"));
    g_assert_nonnull(strstr(seen->str, "the source gave the migration up"));
    close(events);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/migration-target/offer-refused", Fixture, NULL, fixture_setup, test_offer_refused,
               fixture_teardown);
    g_test_add("/migration-target/offer-disks", Fixture, NULL, fixture_setup, test_offer_disks,
               fixture_teardown);
    g_test_add("/migration-target/busy", Fixture, "[migration]\nmax_parallel=1\n", fixture_setup,
               test_busy, fixture_teardown);
    g_test_add("/migration-target/unknown-migration", Fixture, NULL, fixture_setup,
               test_unknown_migration, fixture_teardown);
    g_test_add("/migration-target/receive", Fixture, NULL, fixture_setup, test_receive,
               fixture_teardown);
    g_test_add("/migration-target/receive-disk", Fixture, NULL, fixture_setup, test_receive_disk,
               fixture_teardown);
    g_test_add("/migration-target/abort", Fixture, NULL, fixture_setup, test_abort,
               fixture_teardown);
    return g_test_run();
}
