/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP passthrough end to end, over REST, D-Bus and podvmctl, with a
 * real QEMU (TCG): read-only by default, expert mode from podvmd.conf, and
 * never a command that writes a host file; the files such commands would
 * write are checked not to exist.
 */
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define POD "guard"
#define PERMISSION_DENIED "io.podvm.PodVM1.Error.PermissionDenied"

typedef struct {
    PodvmTestDaemon *daemon;
    SoupSession *session;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree char *socket_path = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    /* @data: a podvmd.conf, or NULL */
    f->daemon = data != NULL ? podvm_test_daemon_new_with_config(data) : podvm_test_daemon_new();
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

/* POST @body to @path; the status, and the body parsed (it is always JSON here). */
static guint
post(Fixture *f, const char *path, const char *body, JsonNode **out_json)
{
    g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("POST", uri);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();

    if (body != NULL) {
        g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }
    answer = soup_session_send_and_read(f->session, msg, NULL, &error);
    g_assert_no_error(error);
    g_test_message("POST %s %s: %u %.*s", path, body != NULL ? body : "",
                   soup_message_get_status(msg), (int)g_bytes_get_size(answer),
                   (const char *)g_bytes_get_data(answer, NULL));
    json_parser_load_from_data(parser, g_bytes_get_data(answer, NULL),
                               (gssize)g_bytes_get_size(answer), &error);
    g_assert_no_error(error);
    if (out_json != NULL)
        *out_json = json_node_ref(json_parser_get_root(parser));
    return soup_message_get_status(msg);
}

static void
start_pod(Fixture *f)
{
    g_autofree char *spec = podvm_test_guest_spec(POD, NULL, NULL, 1);

    g_assert_cmpuint(post(f, "/v1/pods", spec, NULL), ==, 201);
    g_assert_cmpuint(post(f, "/v1/pods/" POD "/start", NULL, NULL), ==, 200);
}

/* The command over REST: 200 and QEMU's "return" as the body. */
static JsonNode *
rest_qmp_ok(Fixture *f, const char *command)
{
    JsonNode *reply = NULL;

    g_assert_cmpuint(post(f, "/v1/pods/" POD "/qmp", command, &reply), ==, 200);
    return reply;
}

/* The command over REST: 403 PermissionDenied whose message contains @needle. */
static void
rest_qmp_refused(Fixture *f, const char *command, const char *needle)
{
    g_autoptr(JsonNode) reply = NULL;
    JsonObject *error;

    g_assert_cmpuint(post(f, "/v1/pods/" POD "/qmp", command, &reply), ==, 403);
    error = json_object_get_object_member(json_node_get_object(reply), "error");
    g_assert_cmpint(json_object_get_int_member(error, "code"), ==, 403);
    g_assert_cmpstr(json_object_get_string_member(error, "reason"), ==, "PermissionDenied");
    g_assert_nonnull(strstr(json_object_get_string_member(error, "message"), needle));
}

/* The command over D-Bus Pod.Qmp: refused with PermissionDenied. */
static void
dbus_qmp_refused(Fixture *f, const char *command, const char *needle)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, POD);
    g_autoptr(GError) error = NULL;
    g_autofree char *reply = NULL;
    g_autofree char *remote = NULL;

    g_assert_false(podvm_dbus_pod_call_qmp_sync(pod, command, &reply, NULL, &error));
    g_assert_nonnull(error);
    remote = g_dbus_error_get_remote_error(error);
    g_assert_cmpstr(remote, ==, PERMISSION_DENIED);
    g_assert_nonnull(strstr(error->message, needle));
}

/* podvmctl qmp: exit status 1 and the reason on stderr. */
static void
ctl_qmp_refused(Fixture *f, const char *command, const char *needle)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "qmp", POD, command, NULL), ==, 1);
    g_test_message("podvmctl qmp %s: %s", command, err);
    g_assert_nonnull(strstr(err, needle));
    g_assert_cmpstr(out, ==, "");
}

static char *
qemu_status(Fixture *f)
{
    g_autoptr(JsonNode) reply = rest_qmp_ok(f, "{\"execute\": \"query-status\"}");

    return g_strdup(json_object_get_string_member(json_node_get_object(reply), "status"));
}

/* What the refused commands would write: none of these may exist afterwards. */
typedef struct {
    char *hmp_dump;
    char *pmem_dump;
    char *memsave_dump;
    char *guest_dump;
    char *blockdev_file;
    char *screendump;
} Targets;

static void
targets_init(Fixture *f, Targets *t)
{
    t->hmp_dump = g_build_filename(f->daemon->tmpdir, "hmp-pmemsave.bin", NULL);
    t->pmem_dump = g_build_filename(f->daemon->tmpdir, "pmemsave.bin", NULL);
    t->memsave_dump = g_build_filename(f->daemon->tmpdir, "memsave.bin", NULL);
    t->guest_dump = g_build_filename(f->daemon->tmpdir, "guest.core", NULL);
    t->blockdev_file = g_build_filename(f->daemon->tmpdir, "blockdev-victim.img", NULL);
    t->screendump = g_build_filename(f->daemon->tmpdir, "screen.ppm", NULL);
}

static void
targets_assert_absent(Targets *t)
{
    const char *paths[] = { t->hmp_dump,   t->pmem_dump,     t->memsave_dump,
                            t->guest_dump, t->blockdev_file, t->screendump };

    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        if (g_file_test(paths[i], G_FILE_TEST_EXISTS))
            g_test_message("%s was written", paths[i]);
        g_assert_false(g_file_test(paths[i], G_FILE_TEST_EXISTS));
    }
}

static void
targets_clear(Targets *t)
{
    g_free(t->hmp_dump);
    g_free(t->pmem_dump);
    g_free(t->memsave_dump);
    g_free(t->guest_dump);
    g_free(t->blockdev_file);
    g_free(t->screendump);
}

/* Every way to a host file, over each front; each must be refused whatever the mode. */
static void
assert_host_writes_refused(Fixture *f, Targets *t)
{
    g_autofree char *hmp = g_strdup_printf("{\"execute\": \"human-monitor-command\", "
                                           "\"arguments\": {\"command-line\": \"pmemsave 0 4096 "
                                           "%s\"}}",
                                           t->hmp_dump);
    g_autofree char *hmp_qemu_io =
        g_strdup("{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": "
                 "\"qemu-io pod-victim \\\"write 0 512\\\"\"}}");
    g_autofree char *pmemsave =
        g_strdup_printf("{\"execute\": \"pmemsave\", \"arguments\": {\"val\": 0, \"size\": 4096, "
                        "\"filename\": \"%s\"}}",
                        t->pmem_dump);
    g_autofree char *memsave =
        g_strdup_printf("{\"execute\": \"memsave\", \"arguments\": {\"val\": 0, \"size\": 4096, "
                        "\"filename\": \"%s\"}}",
                        t->memsave_dump);
    g_autofree char *dump =
        g_strdup_printf("{\"execute\": \"dump-guest-memory\", \"arguments\": {\"paging\": false, "
                        "\"protocol\": \"file:%s\"}}",
                        t->guest_dump);
    g_autofree char *blockdev =
        g_strdup_printf("{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"file\", "
                        "\"node-name\": \"pod-victim\", \"filename\": \"%s\"}}",
                        t->blockdev_file);
    g_autofree char *screendump = g_strdup_printf(
        "{\"execute\": \"screendump\", \"arguments\": {\"filename\": \"%s\"}}", t->screendump);

    /* The file blockdev-add names exists in real attacks; here its creation would show. */
    rest_qmp_refused(f, hmp, "never allowed");
    rest_qmp_refused(f, hmp_qemu_io, "never allowed");
    rest_qmp_refused(f, pmemsave, "never allowed");
    rest_qmp_refused(f, memsave, "never allowed");
    rest_qmp_refused(f, dump, "never allowed");
    rest_qmp_refused(f, blockdev, "host path");
    rest_qmp_refused(f, screendump, "never allowed");
    dbus_qmp_refused(f, hmp, "never allowed");
    dbus_qmp_refused(f, pmemsave, "never allowed");
    dbus_qmp_refused(f, blockdev, "host path");
    ctl_qmp_refused(f, hmp, "never allowed");
    ctl_qmp_refused(f, pmemsave, "never allowed");
    ctl_qmp_refused(f, blockdev, "host path");
    /* The same with QEMU's other spelling and a migration to a file. */
    rest_qmp_refused(f, "{\"execute\": \"human_monitor_command\"}", "never allowed");
    rest_qmp_refused(f, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"exec:touch /x\"}}",
                     "never allowed");
    targets_assert_absent(t);
}

/* Default configuration: queries answer; anything else is refused, and nothing is written. */
static void
test_read_only(Fixture *f, gconstpointer data)
{
    Targets t = { 0 };

    if (f->daemon == NULL)
        return;
    targets_init(f, &t);
    start_pod(f);

    {
        g_autofree char *status = qemu_status(f);
        g_assert_cmpstr(status, ==, "running");
    }
    {
        /* Every command of the read-only list exists in this QEMU (the table is not stale). */
        g_autoptr(JsonNode) reply = rest_qmp_ok(f, "{\"execute\": \"query-commands\"}");
        g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
        JsonArray *commands = json_node_get_array(reply);
        const char *listed[] = { "query-status",
                                 "query-cpus-fast",
                                 "query-block",
                                 "query-blockstats",
                                 "query-pci",
                                 "query-version",
                                 "query-name",
                                 "query-uuid",
                                 "query-kvm",
                                 "query-commands",
                                 "query-named-block-nodes",
                                 "query-migrate" };

        for (guint i = 0; i < json_array_get_length(commands); i++) {
            JsonObject *command = json_array_get_object_element(commands, i);
            g_hash_table_add(names, (gpointer)json_object_get_string_member(command, "name"));
        }
        for (guint i = 0; i < G_N_ELEMENTS(listed); i++) {
            g_autoptr(JsonNode) answer = NULL;
            g_autofree char *command = g_strdup_printf("{\"execute\": \"%s\"}", listed[i]);

            g_assert_true(g_hash_table_contains(names, listed[i]));
            g_assert_cmpuint(post(f, "/v1/pods/" POD "/qmp", command, &answer), ==, 200);
        }
    }
    {
        /* D-Bus and podvmctl reach QEMU for queries. */
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, POD);
        g_autoptr(GError) error = NULL;
        g_autofree char *reply = NULL;
        g_autofree char *out = NULL;

        g_assert_true(podvm_dbus_pod_call_qmp_sync(pod, "{\"execute\": \"query-status\"}", &reply,
                                                   NULL, &error));
        g_assert_no_error(error);
        g_assert_nonnull(strstr(reply, "\"running\""));
        g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "qmp", POD, "query-name", NULL), ==,
                        0);
    }

    /* Harmless but not a query: refused, saying how to allow it. */
    rest_qmp_refused(f, "{\"execute\": \"stop\"}", "passthrough=expert");
    dbus_qmp_refused(f, "{\"execute\": \"system_reset\"}", "passthrough=expert");
    ctl_qmp_refused(f, "{\"execute\": \"stop\"}", "passthrough=expert");
    {
        g_autofree char *status = qemu_status(f);
        g_assert_cmpstr(status, ==, "running");
    }
    assert_host_writes_refused(f, &t);
    {
        g_autofree char *status = qemu_status(f);
        g_assert_cmpstr(status, ==, "running");
    }
    targets_clear(&t);
}

/* Expert mode: commands that change the guest work; host writes are still refused. */
static void
test_expert(Fixture *f, gconstpointer data)
{
    Targets t = { 0 };

    if (f->daemon == NULL)
        return;
    targets_init(f, &t);
    start_pod(f);

    {
        g_autoptr(JsonNode) reply = rest_qmp_ok(f, "{\"execute\": \"stop\"}");
        g_autofree char *status = qemu_status(f);
        g_assert_cmpstr(status, ==, "paused");
    }
    {
        g_autoptr(JsonNode) reply = rest_qmp_ok(f, "{\"execute\": \"cont\"}");
        g_autofree char *status = qemu_status(f);
        g_assert_cmpstr(status, ==, "running");
    }
    {
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, POD);
        g_autoptr(GError) error = NULL;
        g_autofree char *reply = NULL;
        g_autofree char *out = NULL;

        g_assert_true(podvm_dbus_pod_call_qmp_sync(pod, "{\"execute\": \"system_reset\"}", &reply,
                                                   NULL, &error));
        g_assert_no_error(error);
        g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "qmp", POD, "system_reset", NULL), ==,
                        0);
    }
    {
        /* A node that opens nothing on the host is fine; one on a host file is not. */
        g_autoptr(JsonNode) reply =
            rest_qmp_ok(f, "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
                           "\"null-co\", \"node-name\": \"guard-null\", \"size\": 1048576}}");
        g_autoptr(JsonNode) del = rest_qmp_ok(
            f, "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": \"guard-null\"}}");
    }
    /* A host file as a device's option ROM, even by a relative name: never. */
    rest_qmp_refused(f,
                     "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"e1000\", "
                     "\"id\": \"rom\", \"romfile\": \"etc/shadow\"}}",
                     "property \"romfile\"");
    assert_host_writes_refused(f, &t);
    targets_clear(&t);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/rest/qmp-passthrough/read-only", Fixture, NULL, fixture_setup,
               test_read_only, fixture_teardown);
    g_test_add("/podvm/rest/qmp-passthrough/expert", Fixture, "[qmp]\npassthrough=expert\n",
               fixture_setup, test_expert, fixture_teardown);
    return g_test_run();
}
