/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /metrics of a live podvmd with a booted pod (the test guest, real QEMU),
 * on podvmd's TCP listener with a bearer token: the per-pod series (info,
 * QEMU's RSS and CPU time, the guest's memory from its balloon), the text
 * checked by Debian's `promtool check metrics`, and a real Prometheus
 * (Debian's binary) scraping podvmd for a few seconds, asked over its HTTP
 * API. One pod boots once for the whole program.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define TOKEN "metrics-test-token"
#define POD "metered"
#define BOOT_TIMEOUT_MS 90000
/* The balloon's polling is every PODVM_BALLOON_POLL_SECONDS (5): a few rounds. */
#define BALLOON_TIMEOUT_MS 30000
#define PROMETHEUS_TIMEOUT_MS 20000

static PodvmTestDaemon *daemon_;
static char *dir;
static char *token_path;
static guint16 port;

/* Runs @argv (with @input on its stdin, or none); its exit status, output in @out_stdout. */
static int
run(const char *const *argv, const char *input, char **out_stdout, char **out_stderr)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) process =
        g_subprocess_newv(argv,
                          G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_PIPE,
                          &error);
    g_autofree char *out = NULL, *err = NULL;

    g_assert_no_error(error);
    g_subprocess_communicate_utf8(process, input != NULL ? input : "", NULL, &out, &err, &error);
    g_assert_no_error(error);
    if (out_stdout != NULL)
        *out_stdout = g_steal_pointer(&out);
    if (out_stderr != NULL)
        *out_stderr = g_steal_pointer(&err);
    return g_subprocess_get_if_exited(process) ? g_subprocess_get_exit_status(process) : -1;
}

/* GET @url with curl; the body, or NULL when it failed. */
static char *
curl_get(const char *url, const char *authorization)
{
    g_autofree char *header = authorization != NULL
                                  ? g_strdup_printf("Authorization: %s", authorization)
                                  : g_strdup("X-None: 1");
    const char *argv[] = { "curl", "-sS", "--fail", "--max-time", "10", "-H", header, url, NULL };
    g_autofree char *body = NULL;

    return run(argv, NULL, &body, NULL) == 0 ? g_steal_pointer(&body) : NULL;
}

/* GET /metrics over TCP with the token. */
static char *
scrape(void)
{
    g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/metrics", port);
    char *body = curl_get(url, "Bearer " TOKEN);

    g_assert_nonnull(body);
    return body;
}

/* The value of the line starting with @prefix ("metric{labels} "); -1 when absent. */
static double
sample(const char *body, const char *prefix)
{
    for (const char *line = body; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');

        if (g_str_has_prefix(line, prefix))
            return g_ascii_strtod(line + strlen(prefix), NULL);
        line = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

#define LABELS "{name=\"" POD "\",namespace=\"default\"} "

static gboolean
setup(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autofree char *log = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;

    if (!podvm_test_require_qemu() || !podvm_test_require_guest())
        return FALSE;
    dir = podvm_test_mkdtemp();
    token_path = g_build_filename(dir, "token", NULL);
    g_assert_true(g_file_set_contents(token_path, TOKEN "\n", -1, &error));
    port = podvm_test_free_tcp_port();
    conf = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n", port, token_path);
    daemon_ = podvm_test_daemon_new_with_config(conf);
    if (daemon_ == NULL)
        return FALSE;
    spec = podvm_test_guest_spec(POD, NULL, NULL, 2);
    podvm_dbus_manager_call_create_pod_sync(daemon_->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_test_daemon_pod(daemon_, POD);
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
    log = podvm_test_daemon_console_log(daemon_, POD);
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-GUEST-READY", BOOT_TIMEOUT_MS));
    return TRUE;
}

/* The pod's series: info, QEMU's RSS and CPU, and the guest's memory from its balloon. */
static void
test_pod_series(void)
{
    g_autofree char *body = NULL;
    g_autofree char *info = NULL;
    double available = -1;
    gint64 deadline;

    if (daemon_ == NULL) {
        g_test_skip("podvmd or the test guest cannot run here");
        return;
    }
    body = scrape();
    /* The info line names the pod as KubeVirt's kubevirt_vmi_info does, with its uid. */
    {
        g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u/v1/pods/" POD, port);
        g_autofree char *document = curl_get(url, "Bearer " TOKEN);
        g_autoptr(JsonNode) root = json_from_string(document, NULL);
        const char *uid = json_object_get_string_member(
            json_object_get_object_member(json_node_get_object(root), "metadata"), "uid");

        g_assert_nonnull(uid);
        g_assert_cmpuint(strlen(uid), ==, 36);
        info = g_strdup_printf("podvm_pod_info{name=\"" POD
                               "\",namespace=\"default\",uid=\"%s\",phase=\"Running\","
                               "kind=\"Pod\",node=\"%s\"} 1\n",
                               uid, g_get_host_name());
    }
    if (strstr(body, info) == NULL)
        g_error("no line %s in:\n%s", info, body);
    g_assert_nonnull(strstr(body, "# TYPE podvm_pod_info gauge\n"));
    /* QEMU is resident (128 MiB of guest, some of it touched) and has used CPU. */
    g_assert_cmpfloat(sample(body, "podvm_pod_memory_resident_bytes" LABELS), >, 16 << 20);
    g_assert_cmpfloat(sample(body, "podvm_pod_cpu_usage_seconds_total" LABELS), >, 0);
    g_assert_cmpfloat(sample(body, "podvm_pod_cpu_usage_seconds_total" LABELS), >=,
                      sample(body, "podvm_pod_vcpu_seconds_total{name=\"" POD
                                   "\",namespace=\"default\",vcpu=\"0\"} "));
    /* No balloon inflated: the guest has all its memory. */
    g_assert_cmpfloat(sample(body, "podvm_pod_memory_actual_balloon_bytes" LABELS), ==, 128 << 20);
    g_assert_cmpfloat(sample(body, "podvm_pod_scrape_error" LABELS), ==, 0);

    /* The guest's driver reports once the polling is on. */
    deadline = g_get_monotonic_time() + BALLOON_TIMEOUT_MS * 1000;
    while (g_get_monotonic_time() < deadline) {
        g_free(body);
        body = scrape();
        available = sample(body, "podvm_pod_memory_available_bytes" LABELS);
        if (available > 0)
            break;
        g_usleep(500 * 1000);
    }
    if (available <= 0)
        g_error("no guest memory statistics from the balloon:\n%s", body);
    /* The guest's kernel sees at most its 128 MiB, uses some, and has some free. */
    g_assert_cmpfloat(available, <=, 128 << 20);
    g_assert_cmpfloat(available, >, 64 << 20);
    g_assert_cmpfloat(sample(body, "podvm_pod_memory_unused_bytes" LABELS), >, 0);
    g_assert_cmpfloat(sample(body, "podvm_pod_memory_unused_bytes" LABELS), <, available);
    g_assert_cmpfloat(sample(body, "podvm_pod_memory_usable_bytes" LABELS), >, 0);
    g_assert_cmpfloat(sample(body, "podvm_pod_memory_pgminfault_total" LABELS), >, 0);
}

/* Debian's promtool finds nothing to say about the text of a podvmd with a booted pod. */
static void
test_promtool(void)
{
    g_autofree char *promtool = g_find_program_in_path("promtool");
    g_autofree char *body = NULL, *out = NULL, *err = NULL;
    const char *argv[] = { "promtool", "check", "metrics", NULL };
    int status;

    if (daemon_ == NULL) {
        g_test_skip("podvmd or the test guest cannot run here");
        return;
    }
    if (promtool == NULL) {
        g_test_skip("promtool is not installed (Debian's prometheus package)");
        return;
    }
    body = scrape();
    /* The balloon's lines are in the text, so promtool sees them too. */
    g_assert_nonnull(strstr(body, "podvm_pod_memory_actual_balloon_bytes{"));
    status = run(argv, body, &out, &err);
    if (status != 0 || out[0] != '\0' || err[0] != '\0')
        g_error("promtool check metrics (exit %d):\n%s%s\n--- the text:\n%s", status, out, err,
                body);
}

/* Asks Prometheus's HTTP API for @query; the "result" array's length (-1: no answer). */
static gint
prometheus_query(guint16 prometheus_port, const char *query, JsonArray **out_result)
{
    g_autofree char *escaped = g_uri_escape_string(query, NULL, FALSE);
    g_autofree char *url =
        g_strdup_printf("http://127.0.0.1:%u/api/v1/query?query=%s", prometheus_port, escaped);
    g_autofree char *body = curl_get(url, NULL);
    g_autoptr(JsonNode) root = NULL;
    JsonObject *data;

    if (body == NULL)
        return -1;
    root = json_from_string(body, NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root) ||
        g_strcmp0(
            json_object_get_string_member_with_default(json_node_get_object(root), "status", ""),
            "success") != 0)
        return -1;
    data = json_object_get_object_member(json_node_get_object(root), "data");
    if (out_result != NULL)
        *out_result = json_array_ref(json_object_get_array_member(data, "result"));
    return (gint)json_array_get_length(json_object_get_array_member(data, "result"));
}

/*
 * A real Prometheus scrapes podvmd's TCP listener every second with the
 * bearer token from a file, and has the pod's info and RSS series.
 */
static void
test_prometheus(void)
{
    g_autofree char *prometheus = g_find_program_in_path("prometheus");
    g_autofree char *config_path = NULL, *config = NULL, *data = NULL, *listen = NULL;
    g_autofree char *log_path = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) process = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonArray) result = NULL;
    guint16 prometheus_port;
    gint64 deadline;
    gboolean found = FALSE;

    if (daemon_ == NULL) {
        g_test_skip("podvmd or the test guest cannot run here");
        return;
    }
    if (prometheus == NULL) {
        g_test_skip("prometheus is not installed (Debian's prometheus package)");
        return;
    }
    prometheus_port = podvm_test_free_tcp_port();
    config_path = g_build_filename(dir, "prometheus.yml", NULL);
    data = g_build_filename(dir, "prometheus-data", NULL);
    log_path = g_build_filename(dir, "prometheus.log", NULL);
    listen = g_strdup_printf("--web.listen-address=127.0.0.1:%u", prometheus_port);
    config = g_strdup_printf("global:\n"
                             "  scrape_interval: 1s\n"
                             "  scrape_timeout: 1s\n"
                             "scrape_configs:\n"
                             "  - job_name: podvm\n"
                             "    authorization:\n"
                             "      type: Bearer\n"
                             "      credentials_file: %s\n"
                             "    static_configs:\n"
                             "      - targets: ['127.0.0.1:%u']\n",
                             token_path, port);
    g_assert_true(g_file_set_contents(config_path, config, -1, &error));
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_subprocess_launcher_set_stderr_file_path(launcher, log_path);
    {
        g_autofree char *config_arg = g_strdup_printf("--config.file=%s", config_path);
        g_autofree char *data_arg = g_strdup_printf("--storage.tsdb.path=%s", data);

        process = g_subprocess_launcher_spawn(launcher, &error, prometheus, config_arg, data_arg,
                                              listen, NULL);
    }
    g_assert_no_error(error);

    /* The target is up and the pod's series are in (scraped once a second). */
    deadline = g_get_monotonic_time() + PROMETHEUS_TIMEOUT_MS * 1000;
    while (g_get_monotonic_time() < deadline && !found) {
        g_usleep(500 * 1000);
        found =
            prometheus_query(prometheus_port, "up{job=\"podvm\"} == 1", NULL) == 1 &&
            prometheus_query(prometheus_port, "podvm_pod_info{name=\"" POD "\"}", NULL) == 1 &&
            prometheus_query(prometheus_port,
                             "podvm_pod_memory_resident_bytes{name=\"" POD "\"} > 0", NULL) == 1;
    }
    if (!found) {
        g_autofree char *log = NULL;

        g_file_get_contents(log_path, &log, NULL, NULL);
        g_error("Prometheus has no podvm_pod_info and RSS series of pod '" POD "':\n%s",
                log != NULL ? log : "");
    }
    /* The series carry the namespace label, as KubeVirt's do. */
    g_assert_cmpint(prometheus_query(prometheus_port,
                                     "podvm_pod_info{name=\"" POD "\",namespace=\"default\","
                                     "phase=\"Running\"}",
                                     &result),
                    ==, 1);
    g_subprocess_force_exit(process);
    g_subprocess_wait(process, NULL, NULL);
}

int
main(int argc, char **argv)
{
    int status;

    g_test_init(&argc, &argv, NULL);
    if (!setup())
        g_clear_pointer(&daemon_, podvm_test_daemon_free);
    g_test_add_func("/podvm/metrics/pod-series", test_pod_series);
    g_test_add_func("/podvm/metrics/promtool", test_promtool);
    g_test_add_func("/podvm/metrics/prometheus", test_prometheus);
    status = g_test_run();
    g_clear_pointer(&daemon_, podvm_test_daemon_free);
    if (dir != NULL)
        podvm_test_rmrf(dir);
    g_free(dir);
    g_free(token_path);
    return status;
}
