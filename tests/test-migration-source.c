/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source side. The request checks run against the
 * daemon core in this process (a manager on temporary directories, a pod
 * that is never started): every refusal names what is wrong, and says
 * nothing of what a token file holds.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-manager.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

typedef struct {
    char *tmpdir;
    char *token_file;
    PodvmConfig *config;
    PodvmManager *manager;
} Core;

static Core *
core_new(void)
{
    Core *core = g_new0(Core, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *conf_path = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *kernel_dir = g_path_get_dirname(kernel);
    g_autofree char *kernel_dirs = g_canonicalize_filename(kernel_dir, NULL);
    PodvmPod *pod;

    core->tmpdir = podvm_test_mkdtemp();
    core->token_file = g_build_filename(core->tmpdir, "token", NULL);
    g_file_set_contents(core->token_file, "s3cret-token\n", -1, &error);
    g_assert_no_error(error);
    conf = g_strdup_printf("[daemon]\nstate_dir=%s/state\nrun_dir=%s/run\n[qemu]\nkernel_dirs=%s\n"
                           "[storage]\nallowed_host_paths=%s\n"
                           "[peer near]\nurl=https://127.0.0.1:1\ntoken_file=%s\n"
                           "[peer clear]\nurl=http://127.0.0.1:2\ntoken_file=%s\nplaintext=true\n",
                           core->tmpdir, core->tmpdir, kernel_dirs, core->tmpdir, core->token_file,
                           core->token_file);
    conf_path = g_build_filename(core->tmpdir, "podvmd.conf", NULL);
    g_file_set_contents(conf_path, conf, -1, &error);
    g_assert_no_error(error);
    core->config = podvm_config_new_defaults();
    g_assert_true(podvm_config_load_file(core->config, conf_path, TRUE, &error));
    g_assert_no_error(error);
    g_assert_true(podvm_config_finish(core->config, &error));
    g_assert_no_error(error);
    core->manager = podvm_manager_new(core->config);
    spec = podvm_test_guest_spec("web", NULL, NULL, 2);
    pod = podvm_manager_create_pod(core->manager, spec, -1, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(pod);
    return core;
}

static void
core_free(Core *core)
{
    g_object_unref(core->manager);
    podvm_config_free(core->config);
    podvm_test_rmrf(core->tmpdir);
    g_free(core->tmpdir);
    g_free(core->token_file);
    g_free(core);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Core, core_free)

static void
migrated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **out = user_data;

    *out = g_object_ref(result);
}

static gboolean
result_arrived(gpointer user_data)
{
    return *(GAsyncResult **)user_data != NULL;
}

/* podvm_manager_migrate_async() of @request_json to pod @name; the error it ends with. */
static GError *
migrate_error(Core *core, const char *name, const char *request_json)
{
    g_autoptr(JsonNode) request = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(JsonNode) answer = NULL;
    GError *error = NULL;

    if (request_json != NULL) {
        request = json_from_string(request_json, &error);
        g_assert_no_error(error);
    }
    podvm_manager_migrate_async(core->manager, name,
                                request != NULL ? json_node_get_object(request) : NULL, NULL,
                                migrated_cb, &result);
    g_assert_true(podvm_test_wait_until(result_arrived, &result, 10000));
    answer = podvm_manager_migrate_finish(core->manager, result, &error);
    g_assert_null(answer);
    g_assert_nonnull(error);
    return error;
}

static void
assert_refused(Core *core, const char *request_json, int code, const char *needle)
{
    g_autoptr(GError) error = migrate_error(core, "web", request_json);

    g_test_message("%s -> %s", request_json ? request_json : "(none)", error->message);
    g_assert_error(error, PODVM_ERROR, code);
    g_assert_nonnull(strstr(error->message, needle));
}

/* Every refusal of a request names the member (or what is missing). */
static void
test_request_refusals(void)
{
    g_autoptr(Core) core = core_new();
    g_autofree char *missing = g_build_filename(core->tmpdir, "nothing", NULL);
    g_autofree char *with_missing = NULL;
    g_autofree char *with_token = NULL;
    g_autofree char *with_cacert = NULL;

    assert_refused(core, NULL, PODVM_ERROR_INVALID_ARGUMENT, "\"target\"");
    assert_refused(core, "{}", PODVM_ERROR_INVALID_ARGUMENT, "\"target\" is required");
    assert_refused(core, "{\"target\": \"near\", \"speed\": 1}", PODVM_ERROR_INVALID_ARGUMENT,
                   "\"speed\"");
    assert_refused(core, "{\"target\": 5}", PODVM_ERROR_INVALID_ARGUMENT, "\"target\"");
    assert_refused(core, "{\"target\": \"far\"}", PODVM_ERROR_INVALID_ARGUMENT, "'far'");
    assert_refused(core, "{\"target\": \"ftp://host:21\"}", PODVM_ERROR_INVALID_ARGUMENT,
                   "\"target\"");
    assert_refused(core, "{\"target\": \"https://host:8443/v1\"}", PODVM_ERROR_INVALID_ARGUMENT,
                   "\"target\"");
    /* A URL no [peer] names needs a token file. */
    assert_refused(core, "{\"target\": \"https://host:8443\"}", PODVM_ERROR_INVALID_ARGUMENT,
                   "\"tokenFile\"");
    assert_refused(core, "{\"target\": \"https://host:8443\", \"tokenFile\": \"token\"}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"tokenFile\"");
    with_missing =
        g_strdup_printf("{\"target\": \"https://host:8443\", \"tokenFile\": \"%s\"}", missing);
    assert_refused(core, with_missing, PODVM_ERROR_INVALID_ARGUMENT, "\"tokenFile\"");
    /* podvmd reads it as root: only from [storage] allowed_host_paths, never any file. */
    assert_refused(core, "{\"target\": \"https://host:8443\", \"tokenFile\": \"/etc/hostname\"}",
                   PODVM_ERROR_INVALID_ARGUMENT, "allowed_host_paths");
    with_cacert = g_strdup_printf("{\"target\": \"near\", \"cacert\": \"%s\"}", missing);
    assert_refused(core, with_cacert, PODVM_ERROR_INVALID_ARGUMENT, "\"cacert\"");
    /* http:// only with plaintext, from the request or the [peer]. */
    with_token = g_strdup_printf("{\"target\": \"http://host:8080\", \"tokenFile\": \"%s\"}",
                                 core->token_file);
    assert_refused(core, with_token, PODVM_ERROR_INVALID_ARGUMENT, "\"plaintext\"");
    assert_refused(core, "{\"target\": \"clear\", \"plaintext\": false}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"plaintext\"");
    assert_refused(core, "{\"target\": \"near\", \"plaintext\": \"yes\"}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"plaintext\"");
    assert_refused(core, "{\"target\": \"near\", \"postcopy\": 1}", PODVM_ERROR_INVALID_ARGUMENT,
                   "\"postcopy\"");
    assert_refused(core, "{\"target\": \"near\", \"maxBandwidth\": \"fast\"}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"maxBandwidth\"");
    assert_refused(core, "{\"target\": \"near\", \"maxBandwidth\": -1}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"maxBandwidth\"");
    assert_refused(core, "{\"target\": \"near\", \"maxBandwidth\": true}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"maxBandwidth\"");
    assert_refused(core, "{\"target\": \"near\", \"maxDowntimeMs\": 0}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"maxDowntimeMs\"");
    assert_refused(core, "{\"target\": \"near\", \"maxDowntimeMs\": 1.5}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"maxDowntimeMs\"");
    assert_refused(core, "{\"target\": \"near\", \"noProgressTimeoutMs\": 5}",
                   PODVM_ERROR_INVALID_ARGUMENT, "\"noProgressTimeoutMs\"");
}

/* A token file that holds no token is refused without a word of what it holds. */
static void
test_token_file_not_shown(void)
{
    g_autoptr(Core) core = core_new();
    g_autofree char *path = g_build_filename(core->tmpdir, "secret", NULL);
    g_autofree char *request = NULL;
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, "root:HASHED-SECRET:19000:0:99999:7:::\nline two\n", -1, &error);
    g_assert_no_error(error);
    request = g_strdup_printf("{\"target\": \"https://host:8443\", \"tokenFile\": \"%s\"}", path);
    {
        g_autoptr(GError) refused = migrate_error(core, "web", request);

        g_assert_error(refused, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(refused->message, "\"tokenFile\""));
        g_assert_null(strstr(refused->message, "HASHED"));
        g_assert_null(strstr(refused->message, "line two"));
    }
    request = (g_free(request), g_strdup_printf("{\"target\": \"https://host:8443\", "
                                                "\"tokenFile\": \"%s\"}",
                                                core->tmpdir));
    {
        g_autoptr(GError) refused = migrate_error(core, "web", request);

        g_assert_error(refused, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    }
}

/* An unknown pod is NOT_FOUND; a cancel without a migration too. */
static void
test_unknown_pod_and_cancel(void)
{
    g_autoptr(Core) core = core_new();
    g_autoptr(GError) error = migrate_error(core, "nope", "{\"target\": \"near\"}");
    g_autoptr(GError) cancel = NULL;

    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_false(podvm_manager_cancel_migration(core->manager, "web", &cancel));
    g_assert_error(cancel, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&cancel);
    g_assert_false(podvm_manager_cancel_migration(core->manager, "nope", &cancel));
    g_assert_error(cancel, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
}

/* A request that passes every check reaches the pod, which migrates only what runs. */
static void
test_valid_request_reaches_the_pod(void)
{
    g_autoptr(Core) core = core_new();
    g_autofree char *by_url =
        g_strdup_printf("{\"target\": \"https://198.51.100.2:8443\", \"tokenFile\": \"%s\", "
                        "\"postcopy\": true, \"maxBandwidth\": \"100Mi\", \"maxDowntimeMs\": 500, "
                        "\"noProgressTimeoutMs\": 10000}",
                        core->token_file);

    assert_refused(core, "{\"target\": \"near\"}", PODVM_ERROR_WRONG_PHASE, "running or paused");
    assert_refused(core, "{\"target\": \"clear\", \"maxBandwidth\": 1000000}",
                   PODVM_ERROR_WRONG_PHASE, "running or paused");
    assert_refused(core, by_url, PODVM_ERROR_WRONG_PHASE, "running or paused");
}

/* ---- with a running pod (QEMU started by the core in this process) ---- */

static void
run_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    gboolean *done = user_data;
    g_autoptr(GError) error = NULL;

    podvm_pod_run_finish(PODVM_POD(source), result, &error);
    if (error != NULL)
        g_test_message("operation: %s", error->message);
    *done = TRUE;
}

static gboolean
flag_set(gpointer user_data)
{
    return *(gboolean *)user_data;
}

static void
run_op(PodvmPod *pod, PodvmPodOp op)
{
    gboolean done = FALSE;

    podvm_pod_run_async(pod, op, NULL, NULL, run_cb, &done);
    g_assert_true(podvm_test_wait_until(flag_set, &done, 60000));
}

typedef struct {
    PodvmPod *pod;
    PodvmPhase phase;
} PhaseWait;

static gboolean
phase_is(gpointer user_data)
{
    PhaseWait *wait = user_data;

    return podvm_pod_get_phase(wait->pod) == wait->phase;
}

static void
wait_phase(PodvmPod *pod, PodvmPhase phase)
{
    PhaseWait wait = { pod, phase };

    g_assert_true(podvm_test_wait_until(phase_is, &wait, 60000));
}

static PodvmPod *
start_web(Core *core)
{
    PodvmPod *pod = podvm_manager_lookup(core->manager, "web", NULL);

    run_op(pod, PODVM_POD_OP_START);
    wait_phase(pod, PODVM_PHASE_RUNNING);
    return pod;
}

/* The stored runtime.migration of @pod, or NULL. */
static gboolean
stored_record(Core *core, const char *name)
{
    g_autofree char *path = g_build_filename(core->tmpdir, "state", "pods", name, "pod.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *runtime;
    g_autoptr(GError) error = NULL;

    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    runtime = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
                                            "runtime");
    return runtime != NULL && json_object_has_member(runtime, "migration");
}

/* Refused or cancelled before anything moved: as it was, but the reason; no record, no state. */
static void
assert_back_here(Core *core, PodvmPod *pod, PodvmPhase phase)
{
    g_autoptr(JsonNode) status = podvm_pod_get_status_json(pod);
    JsonObject *object = json_node_get_object(status);

    g_assert_cmpint(podvm_pod_get_phase(pod), ==, phase);
    g_assert_cmpstr(json_object_get_string_member(object, "reason"), ==, "MigrationFailed");
    g_assert_nonnull(json_object_get_string_member(object, "message"));
    g_assert_false(podvm_pod_is_migrating(pod));
    g_assert_false(stored_record(core, "web"));
    g_assert_false(json_object_has_member(object, "migrationState"));
}

/*
 * A target nobody answers at: the migration fails at its offer and the pod
 * runs on here (paused stays paused), with reason MigrationFailed and no
 * record left.
 */
static void
test_unreachable_peer(void)
{
    g_autoptr(Core) core = NULL;
    PodvmPod *pod;

    if (!podvm_test_require_qemu() || !podvm_test_require_guest())
        return;
    core = core_new();
    pod = start_web(core);
    {
        g_autoptr(GError) error = migrate_error(core, "web", "{\"target\": \"near\"}");

        g_test_message("%s", error->message);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
        g_assert_nonnull(strstr(error->message, "127.0.0.1:1"));
    }
    assert_back_here(core, pod, PODVM_PHASE_RUNNING);

    run_op(pod, PODVM_POD_OP_PAUSE);
    wait_phase(pod, PODVM_PHASE_PAUSED);
    {
        g_autoptr(GError) error = migrate_error(core, "web", "{\"target\": \"near\"}");

        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
    }
    assert_back_here(core, pod, PODVM_PHASE_PAUSED);
    run_op(pod, PODVM_POD_OP_KILL);
}

/* A target that takes the connection and never answers: held until cancelled. */
static gboolean
hold_connection_cb(GSocketService *service, GSocketConnection *connection, GObject *source,
                   gpointer user_data)
{
    g_ptr_array_add(user_data, g_object_ref(connection));
    return TRUE;
}

typedef struct {
    Core *core;
    GAsyncResult *result;
    guint connections;
    GPtrArray *held;
} CancelCase;

static gboolean
offer_arrived(gpointer user_data)
{
    CancelCase *c = user_data;

    return c->held->len > 0;
}

/* Cancelled while the target has not answered the offer: the pod runs on here. */
static void
test_cancel(void)
{
    g_autoptr(Core) core = NULL;
    g_autoptr(GSocketService) service = g_socket_service_new();
    g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(g_object_unref);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) cancel_error = NULL;
    g_autoptr(JsonNode) request = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *json = NULL;
    CancelCase c = { 0 };
    guint16 port;
    PodvmPod *pod;

    if (!podvm_test_require_qemu() || !podvm_test_require_guest())
        return;
    core = core_new();
    pod = start_web(core);
    port = g_socket_listener_add_any_inet_port(G_SOCKET_LISTENER(service), NULL, &error);
    g_assert_no_error(error);
    g_signal_connect(service, "incoming", G_CALLBACK(hold_connection_cb), held);
    g_socket_service_start(service);
    json = g_strdup_printf("{\"target\": \"http://127.0.0.1:%u\", \"plaintext\": true, "
                           "\"tokenFile\": \"%s\"}",
                           port, core->token_file);
    request = json_from_string(json, &error);
    g_assert_no_error(error);
    c.core = core;
    c.held = held;
    podvm_manager_migrate_async(core->manager, "web", json_node_get_object(request), NULL,
                                migrated_cb, &c.result);
    g_assert_true(podvm_test_wait_until(offer_arrived, &c, 10000));
    g_assert_true(podvm_pod_is_migrating(pod));
    g_assert_cmpint(podvm_pod_get_phase(pod), ==, PODVM_PHASE_MIGRATING);
    g_assert_true(stored_record(core, "web"));
    g_assert_true(podvm_manager_cancel_migration(core->manager, "web", &cancel_error));
    g_assert_no_error(cancel_error);
    g_assert_true(podvm_test_wait_until(result_arrived, &c.result, 10000));
    answer = podvm_manager_migrate_finish(core->manager, c.result, &error);
    g_assert_null(answer);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_CANCELLED);
    g_clear_object(&c.result);
    assert_back_here(core, pod, PODVM_PHASE_RUNNING);
    g_socket_service_stop(service);
    run_op(pod, PODVM_POD_OP_KILL);
}

/* A stored source record saying the migration completed: the pod never runs here again. */
static void
write_completed_record(Core *core, const char *name)
{
    g_autofree char *path = g_build_filename(core->tmpdir, "state", "pods", name, "pod.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    JsonObject *root;
    JsonObject *runtime;
    JsonObject *record = json_object_new();

    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    root = json_node_get_object(json_parser_get_root(parser));
    if (!json_object_has_member(root, "runtime"))
        json_object_set_object_member(root, "runtime", json_object_new());
    runtime = json_object_get_object_member(root, "runtime");
    json_object_set_string_member(record, "role", "source");
    json_object_set_string_member(record, "id", "0123456789abcdef");
    json_object_set_string_member(record, "peer", "https://127.0.0.1:1");
    json_object_set_string_member(record, "phase", "completed");
    json_object_set_boolean_member(record, "wasPaused", FALSE);
    json_object_set_string_member(record, "tokenFile", core->token_file);
    json_object_set_object_member(runtime, "migration", record);
    text = json_to_string(json_parser_get_root(parser), TRUE);
    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
}

static gboolean
reason_is_unreachable(gpointer user_data)
{
    g_autoptr(JsonNode) status = podvm_pod_get_status_json(user_data);

    return g_strcmp0(json_object_get_string_member_with_default(json_node_get_object(status),
                                                                "reason", NULL),
                     "TargetUnreachable") == 0;
}

static void
start_refused_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GError **out = user_data;

    g_assert_false(podvm_pod_run_finish(PODVM_POD(source), result, out));
    g_assert_nonnull(*out);
}

static gboolean
error_arrived(gpointer user_data)
{
    return *(GError **)user_data != NULL;
}

/*
 * A restarted podvmd that finds a migration completed (the record) and
 * cannot reach the target keeps the pod with reason TargetUnreachable and
 * the record, and refuses to start it: never two copies.
 */
static void
test_completed_record_never_runs(void)
{
    g_autoptr(Core) core = core_new();
    g_autoptr(GError) error = NULL;
    PodvmPod *pod;

    write_completed_record(core, "web");
    g_clear_object(&core->manager);
    core->manager = podvm_manager_new(core->config);
    podvm_manager_load(core->manager);
    pod = podvm_manager_lookup(core->manager, "web", NULL);
    g_assert_nonnull(pod);
    g_assert_true(podvm_test_wait_until(reason_is_unreachable, pod, 30000));
    g_assert_true(podvm_pod_is_migrating(pod));
    g_assert_true(stored_record(core, "web"));
    podvm_pod_run_async(pod, PODVM_POD_OP_START, NULL, NULL, start_refused_cb, &error);
    g_assert_true(podvm_test_wait_until(error_arrived, &error, 30000));
    g_test_message("start: %s", error->message);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE);
    g_assert_nonnull(strstr(error->message, "migrated"));
    g_assert_cmpint(podvm_pod_get_phase(pod), !=, PODVM_PHASE_RUNNING);
    g_assert_cmpint(podvm_pod_get_phase(pod), !=, PODVM_PHASE_STARTING);
}

/* ---- two podvmds on this machine, REST on 127.0.0.1, plaintext --------------- */

static guint16
free_port(void)
{
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_true(g_socket_bind(socket, any, FALSE, NULL));
    bound = g_socket_get_local_address(socket, NULL);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static PodvmTestDaemon *
daemon_with_peer(guint16 port, guint16 peer_port, const char *peer, const char *token_file)
{
    g_autofree char *conf =
        g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n"
                        "[peer %s]\nurl=http://127.0.0.1:%u\ntoken_file=%s\nplaintext=true\n",
                        port, token_file, peer, peer_port, token_file);

    return podvm_test_daemon_new_with_config(conf);
}

/* The last "PODVM-HEARTBEAT BOOTID N" of @text: its boot id and N. */
static gboolean
last_heartbeat(const char *text, char **out_boot_id, guint64 *out_n)
{
    const char *found = NULL;
    g_auto(GStrv) words = NULL;

    for (const char *p = text; p != NULL && (p = strstr(p, "PODVM-HEARTBEAT ")) != NULL; p++)
        found = p;
    if (found == NULL)
        return FALSE;
    words = g_strsplit_set(found, " \r\n", 4);
    if (g_strv_length(words) < 3)
        return FALSE;
    *out_boot_id = g_strdup(words[1]);
    *out_n = g_ascii_strtoull(words[2], NULL, 10);
    return TRUE;
}

typedef struct {
    PodvmTestDaemon *daemon;
    const char *name;
    guint64 after;
    char *boot_id;
    guint64 n;
} Beat;

static gboolean
beat_after(gpointer user_data)
{
    Beat *beat = user_data;
    g_autofree char *log = podvm_test_daemon_console_log(beat->daemon, beat->name);
    g_autofree char *text = NULL;

    g_free(beat->boot_id);
    beat->boot_id = NULL;
    return g_file_get_contents(log, &text, NULL, NULL) &&
           last_heartbeat(text, &beat->boot_id, &beat->n) && beat->n > beat->after;
}

static gboolean
daemon_has_no_pod(gpointer user_data)
{
    PodvmTestDaemon *daemon = user_data;
    g_autofree char *pods = NULL;

    /* The list as JSON text: "[]" once no pod is left. */
    return podvm_dbus_manager_call_list_pods_sync(daemon->manager, &pods, NULL, NULL) &&
           g_str_equal(g_strstrip(pods), "[]");
}

/* The last 4 KiB of @path as a test message. */
static void
print_tail(const char *what, const char *path)
{
    g_autofree char *text = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &text, &length, NULL)) {
        g_test_message("%s: cannot read %s", what, path);
        return;
    }
    g_test_message("%s, its end:\n%s", what, text + (length > 4096 ? length - 4096 : 0));
}

/*
 * A pod with an emptyDisk whose guest writes a counter there moves from one
 * podvmd to another: it runs at the target with the same boot (heartbeats
 * go on with the same boot id) and is gone from the source (no pod, its
 * state directory removed).
 */
static void
test_two_daemons(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *token_file = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autofree char *result = NULL;
    g_autofree char *state_dir = NULL;
    g_autoptr(GError) error = NULL;
    PodvmTestDaemon *a = NULL, *b = NULL;
    Beat beat = { 0 };
    g_autofree char *boot_id = NULL;
    PodvmDBusPod *pod;
    guint16 port_a, port_b;

    if (!podvm_test_require_qemu() || !podvm_test_require_guest())
        return;
    dir = podvm_test_mkdtemp();
    token_file = g_build_filename(dir, "token", NULL);
    g_file_set_contents(token_file, "two-daemons-token\n", -1, &error);
    g_assert_no_error(error);
    port_a = free_port();
    port_b = free_port();
    a = daemon_with_peer(port_a, port_b, "b", token_file);
    if (a == NULL)
        goto out;
    b = daemon_with_peer(port_b, port_a, "a", token_file);
    if (b == NULL)
        goto out;
    spec = podvm_test_guest_spec_with("moving", "podvm.net=0 podvm.counter=/dev/vda", "disks",
                                      "[{\"name\": \"data\"}]", "volumes",
                                      "[{\"name\": \"data\", \"emptyDisk\": {\"capacity\": "
                                      "\"8Mi\"}}]");
    podvm_dbus_manager_call_create_pod_sync(a->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_test_daemon_pod(a, "moving");
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_daemon_wait_phase(a, "moving", "Running", 60000));
    beat.daemon = a;
    beat.name = "moving";
    g_assert_true(podvm_test_wait_until(beat_after, &beat, 60000));
    boot_id = g_strdup(beat.boot_id);

    podvm_dbus_pod_call_migrate_sync(pod, "{\"target\": \"b\"}", &result, NULL, &error);
    g_object_unref(pod);
    if (error != NULL && strstr(error->message, "not yet") != NULL) {
        g_autofree char *why = g_strdup_printf("the target cannot receive: %s", error->message);

        g_test_skip(why);
        goto out;
    }
    g_assert_no_error(error);
    g_test_message("migrated: %s", result);
    g_assert_nonnull(strstr(result, "\"target\""));

    /* Gone from the source, files and all. */
    g_assert_true(podvm_test_wait_until(daemon_has_no_pod, a, 30000));
    state_dir = g_build_filename(a->state_dir, "pods", "moving", NULL);
    g_assert_false(g_file_test(state_dir, G_FILE_TEST_EXISTS));
    /* Running at the target, the same boot going on. */
    g_assert_true(podvm_test_daemon_wait_phase(b, "moving", "Running", 30000));
    beat.daemon = b;
    beat.after = 0;
    if (!podvm_test_wait_until(beat_after, &beat, 60000)) {
        /* Rare (once in CI, on a loaded machine): keep what tells why. */
        g_autofree char *console = podvm_test_daemon_console_log(b, "moving");

        print_tail("the target's podvmd log", b->log_path);
        print_tail("the target's console log", console);
        g_error("the guest went on with no heartbeat at the target for 60 s");
    }
    g_assert_cmpstr(beat.boot_id, ==, boot_id);
out:
    g_free(beat.boot_id);
    g_clear_pointer(&a, podvm_test_daemon_free);
    g_clear_pointer(&b, podvm_test_daemon_free);
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    /* The peer client runs in this process: no dconf GSettings thread (it leaks under LSan). */
    g_setenv("GSETTINGS_BACKEND", "memory", TRUE);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration-source/request-refusals", test_request_refusals);
    g_test_add_func("/migration-source/token-file-not-shown", test_token_file_not_shown);
    g_test_add_func("/migration-source/unknown-pod-and-cancel", test_unknown_pod_and_cancel);
    g_test_add_func("/migration-source/valid-request-reaches-the-pod",
                    test_valid_request_reaches_the_pod);
    g_test_add_func("/migration-source/unreachable-peer", test_unreachable_peer);
    g_test_add_func("/migration-source/cancel", test_cancel);
    g_test_add_func("/migration-source/completed-record-never-runs",
                    test_completed_record_never_runs);
    g_test_add_func("/migration-source/two-daemons", test_two_daemons);
    return g_test_run();
}
