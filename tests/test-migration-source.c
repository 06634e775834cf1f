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
                           "[peer near]\nurl=https://127.0.0.1:1\ntoken_file=%s\n"
                           "[peer clear]\nurl=http://127.0.0.1:2\ntoken_file=%s\nplaintext=true\n",
                           core->tmpdir, core->tmpdir, kernel_dirs, core->token_file,
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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration-source/request-refusals", test_request_refusals);
    g_test_add_func("/migration-source/token-file-not-shown", test_token_file_not_shown);
    g_test_add_func("/migration-source/unknown-pod-and-cancel", test_unknown_pod_and_cancel);
    g_test_add_func("/migration-source/valid-request-reaches-the-pod",
                    test_valid_request_reaches_the_pod);
    return g_test_run();
}
