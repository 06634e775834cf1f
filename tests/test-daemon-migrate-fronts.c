/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What users touch of live migration, without a second host (the two-host
 * tests are test-migration-*): the core checks a request once, so D-Bus
 * Pod.Migrate, REST POST /v1/pods/NAME/migrate (waiting or not) and
 * podvmctl migrate refuse a bad one with the same error; a cancel with no
 * migration is NotFound on both fronts; podvmctl migrate's usage errors;
 * podvmctl drain stops the running pods that do not migrate, leaves the
 * others alone, and fails when a LiveMigrate pod could not be migrated.
 */
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
    SoupSession *session;
    char *dir;        /* the token file's directory */
    char *token_file; /* a bearer token for the peers */
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *socket_path = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    f->dir = g_dir_make_tmp("podvm-migrate-fronts-XXXXXX", &error);
    g_assert_no_error(error);
    f->token_file = g_build_filename(f->dir, "peer.token", NULL);
    g_file_set_contents(f->token_file, "not-a-real-token\n", -1, &error);
    g_assert_no_error(error);
    /* Port 1 of the loopback: nobody listens, so a migration there fails at once. */
    /* A request's tokenFile must lie in [storage] allowed_host_paths. */
    conf = g_strdup_printf("[storage]\nallowed_host_paths=%s\n"
                           "[peer b]\nurl=https://127.0.0.1:1\ntoken_file=%s\n",
                           f->dir, f->token_file);
    f->daemon = podvm_test_daemon_new_with_config(conf);
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
    if (f->token_file != NULL)
        g_unlink(f->token_file);
    if (f->dir != NULL)
        g_rmdir(f->dir);
    g_free(f->token_file);
    g_free(f->dir);
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

/* error.reason and error.message of a REST error answer. */
static void
rest_error(const char *text, char **out_reason, char **out_message)
{
    g_autoptr(JsonNode) doc = parse(text);
    JsonObject *error = json_object_get_object_member(json_node_get_object(doc), "error");

    *out_reason = g_strdup(json_object_get_string_member(error, "reason"));
    *out_message = g_strdup(json_object_get_string_member(error, "message"));
}

/* Asserts @error is io.podvm.PodVM1.Error.@reason with @message. */
static void
assert_dbus_error(GError *error, const char *reason, const char *message)
{
    g_autofree char *remote = NULL;
    g_autofree char *expected = g_strconcat("io.podvm.PodVM1.Error.", reason, NULL);

    g_assert_nonnull(error);
    remote = g_dbus_error_get_remote_error(error);
    g_assert_cmpstr(remote, ==, expected);
    g_dbus_error_strip_remote_error(error);
    g_assert_cmpstr(error->message, ==, message);
}

static void
create_pod(Fixture *f, const char *name, const char *eviction)
{
    g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 5);
    g_autoptr(JsonNode) doc = parse(spec);
    g_autofree char *text = NULL;
    g_autofree char *answer = NULL;

    if (eviction != NULL)
        json_object_set_string_member(
            json_object_get_object_member(json_node_get_object(doc), "spec"), "evictionStrategy",
            eviction);
    text = json_to_string(doc, FALSE);
    answer = http(f, "POST", "/v1/pods", text, 201);
}

static void
start_pod(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), 180000);
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
}

static void
assert_phase(Fixture *f, const char *name, const char *expected)
{
    g_autofree char *phase = podvm_test_daemon_phase(f->daemon, name);

    g_assert_cmpstr(phase, ==, expected);
}

/* ---- refusals ----------------------------------------------------------------------------- */

/* @text with each "%s" replaced by @token_file. */
static char *
with_token(const char *text, const char *token_file)
{
    g_auto(GStrv) parts = g_strsplit(text, "%s", -1);

    return g_strjoinv(token_file, parts);
}

typedef struct {
    const char *body; /* %s: the token file */
    const char *reason;
    const char *message_part;
    const char *ctl_args; /* podvmctl migrate p ARGS (space-separated; %s: the token file) */
} BadRequest;

static void
test_refusals(Fixture *f, gconstpointer data)
{
    static const BadRequest cases[] = {
        /* Unknown peer. */
        { "{\"target\": \"nowhere\"}", "InvalidArgument", "no peer 'nowhere'", "--to nowhere" },
        /* A bandwidth that is no quantity: podvmctl refuses it itself (a usage error). */
        { "{\"target\": \"b\", \"maxBandwidth\": \"fast\"}", "InvalidArgument", "\"maxBandwidth\"",
          NULL },
        { "{\"target\": \"b\", \"maxBandwidth\": -5}", "InvalidArgument", "\"maxBandwidth\"",
          NULL },
        /* http:// without plaintext: the streams would go unencrypted. */
        { "{\"target\": \"http://127.0.0.1:9\", \"tokenFile\": \"%s\"}", "InvalidArgument",
          "\"plaintext\"", "--to http://127.0.0.1:9 --token-file %s" },
        /* A URL no [peer] names needs a token file. */
        { "{\"target\": \"https://127.0.0.1:9\"}", "InvalidArgument", "\"tokenFile\"",
          "--to https://127.0.0.1:9" },
        { "{}", "InvalidArgument", "\"target\"", NULL },
        { "{\"target\": \"b\", \"speed\": 1}", "InvalidArgument", "unknown member \"speed\"",
          NULL },
        { "{\"target\": \"b\", \"maxDowntimeMs\": 0}", "InvalidArgument", "\"maxDowntimeMs\"",
          NULL },
    };
    g_autoptr(PodvmDBusPod) pod = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "p", NULL);
    pod = podvm_test_daemon_pod(f->daemon, "p");

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *body = with_token(cases[i].body, f->token_file);
        g_autofree char *text = http(f, "POST", "/v1/pods/p/migrate", body, 400);
        g_autofree char *nowait = http(f, "POST", "/v1/pods/p/migrate?wait=false", body, 400);
        g_autofree char *reason = NULL;
        g_autofree char *message = NULL;
        g_autofree char *nowait_reason = NULL;
        g_autofree char *nowait_message = NULL;
        g_autofree char *result = NULL;
        g_autoptr(GError) error = NULL;

        g_test_message("request %s", body);
        rest_error(text, &reason, &message);
        g_assert_cmpstr(reason, ==, cases[i].reason);
        g_assert_nonnull(strstr(message, cases[i].message_part));
        /* ?wait=false checks the request before it answers 202: the same refusal. */
        rest_error(nowait, &nowait_reason, &nowait_message);
        g_assert_cmpstr(nowait_reason, ==, reason);
        g_assert_cmpstr(nowait_message, ==, message);

        podvm_dbus_pod_call_migrate_sync(pod, body, &result, NULL, &error);
        g_assert_null(result);
        assert_dbus_error(error, reason, message);

        if (cases[i].ctl_args != NULL) {
            g_autofree char *args = with_token(cases[i].ctl_args, f->token_file);
            g_auto(GStrv) split = g_strsplit(args, " ", -1);
            const char *words[5] = { NULL };
            g_autofree char *out = NULL;
            g_autofree char *err = NULL;
            g_autofree char *expected = g_strdup_printf("podvmctl: %s\n", message);
            int status;

            g_assert_cmpuint(g_strv_length(split), <=, 4);
            for (guint w = 0; split[w] != NULL; w++)
                words[w] = split[w];
            status = podvm_test_ctl(f->daemon, &out, &err, "migrate", "p", words[0], words[1],
                                    words[2], words[3], NULL);
            g_assert_cmpint(status, ==, 1);
            g_assert_cmpstr(err, ==, expected);
        }
    }
    /* Nothing started: the pod is as it was. */
    assert_phase(f, "p", "Pending");

    /* No such pod: NotFound on both, naming it. */
    {
        g_autofree char *text =
            http(f, "POST", "/v1/pods/ghost/migrate", "{\"target\": \"b\"}", 404);
        g_autofree char *reason = NULL;
        g_autofree char *message = NULL;

        rest_error(text, &reason, &message);
        g_assert_cmpstr(reason, ==, "NotFound");
        g_assert_nonnull(strstr(message, "ghost"));
    }
    /* Not JSON: refused by each front before the core. */
    {
        g_autofree char *text = http(f, "POST", "/v1/pods/p/migrate", "{target", 400);
        g_autoptr(GError) error = NULL;
        g_autofree char *result = NULL;
        g_autofree char *remote = NULL;

        podvm_dbus_pod_call_migrate_sync(pod, "{target", &result, NULL, &error);
        g_assert_nonnull(error);
        remote = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(remote, ==, "io.podvm.PodVM1.Error.InvalidArgument");
    }
}

/* A valid request for a pod that does not run: Conflict on both fronts, alike. */
static void
test_not_running(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *text = NULL;
    g_autofree char *reason = NULL;
    g_autofree char *message = NULL;
    g_autofree char *result = NULL;
    g_autoptr(GError) error = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "p", NULL);
    pod = podvm_test_daemon_pod(f->daemon, "p");
    text = http(f, "POST", "/v1/pods/p/migrate", "{\"target\": \"b\"}", 409);
    rest_error(text, &reason, &message);
    g_assert_cmpstr(reason, ==, "Conflict");
    podvm_dbus_pod_call_migrate_sync(pod, "{\"target\": \"b\"}", &result, NULL, &error);
    assert_dbus_error(error, reason, message);
    assert_phase(f, "p", "Pending");
}

static void
test_cancel_none(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *reason = NULL;
    g_autofree char *message = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *expected = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "p", NULL);
    pod = podvm_test_daemon_pod(f->daemon, "p");

    text = http(f, "DELETE", "/v1/pods/p/migrate", NULL, 404);
    rest_error(text, &reason, &message);
    g_assert_cmpstr(reason, ==, "NotFound");
    podvm_dbus_pod_call_cancel_migration_sync(pod, NULL, &error);
    assert_dbus_error(error, reason, message);

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "migrate", "--cancel", "p", NULL), ==, 1);
    expected = g_strdup_printf("podvmctl: %s\n", message);
    g_assert_cmpstr(err, ==, expected);
    assert_phase(f, "p", "Pending");

    /* No such pod. */
    g_free(g_steal_pointer(&text));
    text = http(f, "DELETE", "/v1/pods/ghost/migrate", NULL, 404);
}

/* ---- podvmctl ------------------------------------------------------------------------------- */

static void
test_ctl_usage(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *args[4];
        const char *message_part;
    } cases[] = {
        { { "p", NULL }, "missing --to NAME|URL" },
        { { NULL }, "missing argument" },
        { { "p", "--to", "b", "--bandwidth=lots" }, "--bandwidth: " },
        { { "p", "--to", "b", "--max-downtime=soon" }, "--max-downtime 'soon': expected a whole" },
        { { "p", "--to", "b", "--no-progress-timeout=0" },
          "--no-progress-timeout '0': expected a whole" },
        { { "p", "--to", "b", "--speed" }, "Unknown option --speed" },
        { { "--cancel", "p", "--to", "b" }, "--cancel takes the pod's name alone" },
        { { "Not_A_Name", "--to", "b" }, "Not_A_Name" },
    };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (f->daemon == NULL)
        return;
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "migrate", "--help", NULL), ==, 0);
    for (guint i = 0; i < 8; i++) {
        static const char *const options[] = { "--to",           "--token-file", "--cacert",
                                               "--plaintext",    "--postcopy",   "--bandwidth",
                                               "--max-downtime", "--cancel" };
        g_assert_nonnull(strstr(out, options[i]));
    }
    g_assert_nonnull(strstr(out, "podvmctl migrate"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "help", "drain", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "--selector"));
    g_assert_nonnull(strstr(out, "LiveMigrate"));

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "migrate", cases[i].args[0],
                                       cases[i].args[1], cases[i].args[2], cases[i].args[3], NULL),
                        ==, 2);
        g_test_message("%s", err);
        g_assert_true(g_str_has_prefix(err, "podvmctl: "));
        g_assert_nonnull(strstr(err, cases[i].message_part));
        g_assert_nonnull(strstr(err, "podvmctl migrate --help"));
        g_assert_cmpstr(out, ==, "");
    }
    /* The request as podvmd gets it: numbers in bytes and ms, the files absolute. */
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    {
        const char *const args[] = { "migrate",
                                     "p",
                                     "--to",
                                     "b",
                                     "--bandwidth",
                                     "100Mi",
                                     "--max-downtime",
                                     "500",
                                     "--no-progress-timeout",
                                     "9000",
                                     "--token-file",
                                     "t.token",
                                     "--cacert",
                                     "/ca.pem",
                                     "--plaintext",
                                     "--postcopy",
                                     "--dry-run" };
        g_autofree char *cwd = g_get_current_dir();
        g_autofree char *token = g_build_filename(cwd, "t.token", NULL);
        g_autofree char *expected = g_strdup_printf(
            "{\"target\":\"b\",\"tokenFile\":\"%s\",\"cacert\":\"/ca.pem\",\"plaintext\":"
            "true,\"postcopy\":true,\"maxBandwidth\":104857600,\"maxDowntimeMs\":500,"
            "\"noProgressTimeoutMs\":9000}\n",
            token);

        g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, args[0], args[1], args[2], args[3],
                                       args[4], args[5], args[6], args[7], args[8], args[9],
                                       args[10], args[11], args[12], args[13], args[14], args[15],
                                       args[16], NULL),
                        ==, 0);
        g_assert_cmpstr(out, ==, expected);
        g_assert_cmpstr(err, ==, "");
    }
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "drain", NULL), ==, 2);
    g_assert_nonnull(strstr(err, "missing --to"));
}

/* No LiveMigrate pod: drain stops the running pods and leaves the others alone. */
static void
test_drain_stops(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "run", NULL);
    create_pod(f, "idle", "LiveMigrate");
    start_pod(f, "run");

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "drain", "--to", "b", NULL), ==, 0);
    g_test_message("stdout: %s\nstderr: %s", out, err);
    g_assert_nonnull(strstr(out, "stopped run\n"));
    g_assert_nonnull(strstr(out, "drain: 0 migrated to b, 1 stopped, 0 failed\n"));
    g_assert_cmpstr(err, ==, "");
    assert_phase(f, "run", "Stopped");
    /* Not running: not drained, whatever its strategy. */
    assert_phase(f, "idle", "Pending");

    /* Nothing left to drain. */
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "drain", "--to", "b", NULL), ==, 0);
    g_assert_cmpstr(out, ==, "drain: 0 migrated to b, 0 stopped, 0 failed\n");
}

/*
 * The target cannot be reached: the LiveMigrate pod keeps running here and
 * the drain fails; the LiveMigrateIfPossible pod is stopped instead; the
 * selector leaves out what it does not pick.
 */
static void
test_drain_failures(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *spec = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "must", "LiveMigrate");
    create_pod(f, "may", "LiveMigrateIfPossible");
    start_pod(f, "must");
    start_pod(f, "may");

    /* A selector that picks nothing: nothing happens. */
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, &out, &err, "drain", "--to", "b", "-l", "tier=db", NULL), ==, 0);
    g_assert_cmpstr(out, ==, "drain: 0 migrated to b, 0 stopped, 0 failed\n");
    assert_phase(f, "must", "Running");
    assert_phase(f, "may", "Running");

    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "drain", "--to", "b", NULL), ==, 1);
    g_test_message("stdout: %s\nstderr: %s", out, err);
    g_assert_nonnull(strstr(err, "podvmctl: could not migrate may: "));
    g_assert_nonnull(strstr(err, "podvmctl: could not migrate must: "));
    g_assert_nonnull(strstr(out, "stopped may\n"));
    g_assert_nonnull(strstr(out, "drain: 0 migrated to b, 1 stopped, 1 failed\n  must: migrate: "));
    /* Exactly one copy, here, running as before. */
    assert_phase(f, "must", "Running");
    assert_phase(f, "may", "Stopped");

    /*
     * ?wait=false: 202 with the pod once the request passed; the migration
     * fails behind it and the pod runs on here.
     */
    {
        g_autofree char *text =
            http(f, "POST", "/v1/pods/must/migrate?wait=false", "{\"target\": \"b\"}", 202);
        g_autoptr(JsonNode) doc = parse(text);
        JsonObject *metadata = json_object_get_object_member(json_node_get_object(doc), "metadata");
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, "must");
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
        gboolean ended = FALSE;

        g_assert_cmpstr(json_object_get_string_member(metadata, "name"), ==, "must");
        /* It has ended when there is nothing to cancel. */
        while (!ended && g_get_monotonic_time() < deadline) {
            g_autoptr(GError) error = NULL;
            g_autofree char *remote = NULL;

            podvm_dbus_pod_call_cancel_migration_sync(pod, NULL, &error);
            if (error != NULL)
                remote = g_dbus_error_get_remote_error(error);
            ended = g_strcmp0(remote, "io.podvm.PodVM1.Error.NotFound") == 0;
            if (!ended)
                g_usleep(200 * 1000);
        }
        g_assert_true(ended);
        assert_phase(f, "must", "Running");
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/migrate-fronts/refusals", Fixture, NULL, fixture_setup, test_refusals,
               fixture_teardown);
    g_test_add("/podvm/migrate-fronts/not-running", Fixture, NULL, fixture_setup, test_not_running,
               fixture_teardown);
    g_test_add("/podvm/migrate-fronts/cancel-none", Fixture, NULL, fixture_setup, test_cancel_none,
               fixture_teardown);
    g_test_add("/podvm/migrate-fronts/ctl-usage", Fixture, NULL, fixture_setup, test_ctl_usage,
               fixture_teardown);
    g_test_add("/podvm/migrate-fronts/drain-stops", Fixture, NULL, fixture_setup, test_drain_stops,
               fixture_teardown);
    g_test_add("/podvm/migrate-fronts/drain-failures", Fixture, NULL, fixture_setup,
               test_drain_failures, fixture_teardown);
    return g_test_run();
}
