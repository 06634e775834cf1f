/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spec.livenessProbe and spec.readinessProbe (KubeVirt's Probe): handlers,
 * defaults, the round trip through the writer and the copy, and what is
 * refused (named ports, host, HTTPS, guestAgentPing, two handlers, exec
 * without the app guest, tcp/http without an interface).
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-spec.h"

/* A pod with a masquerade interface and @members in spec (single quotes for double). */
static char *
pod_with(const char *members)
{
    g_autofree char *text = g_strdup_printf(
        "{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': {'name': 'p'}, 'spec': "
        "{'domain': {'firmware': {'kernelBoot': {'kernelPath': '/k'}}, 'devices': "
        "{'interfaces': [{'name': 'default', 'masquerade': {}}]}}, 'networks': [{'name': "
        "'default', 'pod': {}}]%s%s}}",
        *members != '\0' ? ", " : "", members);

    g_strdelimit(text, "'", '"');
    return g_steal_pointer(&text);
}

static PodvmSpec *
parse_ok(const char *json)
{
    g_autoptr(GError) error = NULL;
    PodvmSpec *spec = podvm_spec_parse_data(json, -1, NULL, &error);

    g_assert_no_error(error);
    g_assert_nonnull(spec);
    return spec;
}

/* Exactly one problem, at @path, whose message contains @needle. */
static void
assert_only_problem(const char *json, const char *path, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(json, -1, &problems, &error);
    const PodvmSpecProblem *problem;

    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    if (problems->len != 1)
        g_test_message("%s", error->message);
    g_assert_cmpuint(problems->len, ==, 1);
    problem = g_ptr_array_index(problems, 0);
    g_assert_cmpstr(problem->path, ==, path);
    if (strstr(problem->message, needle) == NULL)
        g_error("%s: %s does not contain %s", problem->path, problem->message, needle);
}

static PodvmSpec *
round_trip(const PodvmSpec *spec)
{
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    g_autofree char *text = json_to_string(node, FALSE);

    return parse_ok(text);
}

static void
assert_probes_equal(const PodvmSpecProbe *a, const PodvmSpecProbe *b)
{
    if (a == NULL || b == NULL) {
        g_assert_true(a == b);
        return;
    }
    g_assert_cmpint(a->handler, ==, b->handler);
    g_assert_cmpuint(a->port, ==, b->port);
    g_assert_cmpstr(a->path, ==, b->path);
    g_assert_cmpuint(a->http_headers->len, ==, b->http_headers->len);
    for (guint i = 0; i < a->http_headers->len; i++) {
        const PodvmSpecHttpHeader *ha = g_ptr_array_index(a->http_headers, i);
        const PodvmSpecHttpHeader *hb = g_ptr_array_index(b->http_headers, i);

        g_assert_cmpstr(ha->name, ==, hb->name);
        g_assert_cmpstr(ha->value, ==, hb->value);
    }
    g_assert_true((a->command == NULL) == (b->command == NULL));
    if (a->command != NULL)
        g_assert_true(
            g_strv_equal((const char *const *)a->command, (const char *const *)b->command));
    g_assert_cmpuint(a->initial_delay_seconds, ==, b->initial_delay_seconds);
    g_assert_cmpuint(a->period_seconds, ==, b->period_seconds);
    g_assert_cmpuint(a->timeout_seconds, ==, b->timeout_seconds);
    g_assert_cmpuint(a->failure_threshold, ==, b->failure_threshold);
    g_assert_cmpuint(a->success_threshold, ==, b->success_threshold);
}

static void
assert_round_trips(const PodvmSpec *spec)
{
    g_autoptr(PodvmSpec) again = round_trip(spec);
    g_autoptr(PodvmSpec) copy = podvm_spec_copy(spec);

    assert_probes_equal(spec->liveness_probe, again->liveness_probe);
    assert_probes_equal(spec->readiness_probe, again->readiness_probe);
    assert_probes_equal(spec->liveness_probe, copy->liveness_probe);
    assert_probes_equal(spec->readiness_probe, copy->readiness_probe);
}

static void
test_tcp_defaults(void)
{
    g_autofree char *json = pod_with("'livenessProbe': {'tcpSocket': {'port': 22}}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    const PodvmSpecProbe *probe = spec->liveness_probe;

    g_assert_nonnull(probe);
    g_assert_null(spec->readiness_probe);
    g_assert_cmpint(probe->handler, ==, PODVM_PROBE_TCP_SOCKET);
    g_assert_cmpuint(probe->port, ==, 22);
    g_assert_cmpuint(probe->initial_delay_seconds, ==, 0);
    g_assert_cmpuint(probe->period_seconds, ==, 10);
    g_assert_cmpuint(probe->timeout_seconds, ==, 1);
    g_assert_cmpuint(probe->failure_threshold, ==, 3);
    g_assert_cmpuint(probe->success_threshold, ==, 1);
    assert_round_trips(spec);
}

static void
test_http_get(void)
{
    g_autofree char *json = pod_with(
        "'readinessProbe': {'httpGet': {'path': '/healthz?full=1', 'port': 8080, 'scheme': "
        "'HTTP', 'httpHeaders': [{'name': 'X-Probe', 'value': 'podvm'}, {'name': 'Host', "
        "'value': 'web.example'}]}, 'initialDelaySeconds': 5, 'periodSeconds': 2, "
        "'timeoutSeconds': 3, 'failureThreshold': 4, 'successThreshold': 2}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    const PodvmSpecProbe *probe = spec->readiness_probe;
    const PodvmSpecHttpHeader *header;

    g_assert_nonnull(probe);
    g_assert_cmpint(probe->handler, ==, PODVM_PROBE_HTTP_GET);
    g_assert_cmpuint(probe->port, ==, 8080);
    g_assert_cmpstr(probe->path, ==, "/healthz?full=1");
    g_assert_cmpuint(probe->http_headers->len, ==, 2);
    header = g_ptr_array_index(probe->http_headers, 1);
    g_assert_cmpstr(header->name, ==, "Host");
    g_assert_cmpstr(header->value, ==, "web.example");
    g_assert_cmpuint(probe->initial_delay_seconds, ==, 5);
    g_assert_cmpuint(probe->period_seconds, ==, 2);
    g_assert_cmpuint(probe->timeout_seconds, ==, 3);
    g_assert_cmpuint(probe->failure_threshold, ==, 4);
    g_assert_cmpuint(probe->success_threshold, ==, 2);
    assert_round_trips(spec);

    {
        /* No path: "/". */
        g_autofree char *plain = pod_with("'readinessProbe': {'httpGet': {'port': 80}}");
        g_autoptr(PodvmSpec) plain_spec = parse_ok(plain);

        g_assert_cmpstr(plain_spec->readiness_probe->path, ==, "/");
        assert_round_trips(plain_spec);
    }
}

static void
test_both_and_off(void)
{
    g_autofree char *json =
        pod_with("'livenessProbe': {'httpGet': {'port': 80}, 'failureThreshold': 1}, "
                 "'readinessProbe': {'tcpSocket': {'port': 8081}, 'periodSeconds': 1}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autofree char *off = pod_with("'livenessProbe': {}, 'readinessProbe': null");
    g_autoptr(PodvmSpec) off_spec = parse_ok(off);

    g_assert_nonnull(spec->liveness_probe);
    g_assert_nonnull(spec->readiness_probe);
    assert_round_trips(spec);
    g_assert_null(off_spec->liveness_probe);
    g_assert_null(off_spec->readiness_probe);
}

/* KubeVirt's VirtualMachine template carries them the same way. */
static void
test_virtual_machine(void)
{
    g_autofree char *json = g_strdup(
        "{\"apiVersion\": \"kubevirt.io/v1\", \"kind\": \"VirtualMachine\", \"metadata\": "
        "{\"name\": \"vm\"}, \"spec\": {\"running\": true, \"template\": {\"spec\": {\"domain\": "
        "{\"firmware\": {\"kernelBoot\": {\"kernelPath\": \"/k\"}}, \"devices\": {\"interfaces\": "
        "[{\"name\": \"default\", \"masquerade\": {}}]}}, \"networks\": [{\"name\": \"default\", "
        "\"pod\": {}}], \"readinessProbe\": {\"tcpSocket\": {\"port\": 1500}, "
        "\"initialDelaySeconds\": 120}}}}}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);

    g_assert_nonnull(spec->readiness_probe);
    g_assert_cmpuint(spec->readiness_probe->port, ==, 1500);
    g_assert_cmpuint(spec->readiness_probe->initial_delay_seconds, ==, 120);
    assert_round_trips(spec);
}

static void
test_refused(void)
{
    static const char *const cases[][3] = {
        { "'livenessProbe': {'tcpSocket': {'port': 'ssh'}}", "spec.livenessProbe.tcpSocket.port",
          "named ports are not supported yet" },
        { "'livenessProbe': {'tcpSocket': {'port': 0}}", "spec.livenessProbe.tcpSocket.port",
          "from 1 to 65535" },
        { "'livenessProbe': {'tcpSocket': {}}", "spec.livenessProbe.tcpSocket.port", "required" },
        { "'livenessProbe': {'tcpSocket': {'port': 22, 'host': '10.0.0.1'}}",
          "spec.livenessProbe.tcpSocket.host", "not supported by podvm" },
        { "'readinessProbe': {'httpGet': {'port': 80, 'host': 'example.com'}}",
          "spec.readinessProbe.httpGet.host", "not supported by podvm" },
        { "'readinessProbe': {'httpGet': {'port': 443, 'scheme': 'HTTPS'}}",
          "spec.readinessProbe.httpGet.scheme", "HTTPS is not supported yet" },
        { "'readinessProbe': {'httpGet': {'port': 80, 'scheme': 'gopher'}}",
          "spec.readinessProbe.httpGet.scheme", "unknown value \"gopher\"" },
        { "'readinessProbe': {'httpGet': {'port': 80, 'path': 'healthz'}}",
          "spec.readinessProbe.httpGet.path", "starting with '/'" },
        { "'readinessProbe': {'httpGet': {'port': 80, 'path': '/a b'}}",
          "spec.readinessProbe.httpGet.path", "without spaces" },
        { "'readinessProbe': {'httpGet': {'port': 80, 'httpHeaders': [{'name': 'Bad Name', "
          "'value': 'x'}]}}",
          "spec.readinessProbe.httpGet.httpHeaders[0].name", "HTTP header name" },
        { "'readinessProbe': {'httpGet': {'port': 80, 'httpHeaders': [{'name': 'X', 'value': "
          "'a\\r\\nInjected: 1'}]}}",
          "spec.readinessProbe.httpGet.httpHeaders[0].value", "control characters" },
        { "'readinessProbe': {'guestAgentPing': {}}", "spec.readinessProbe.guestAgentPing",
          "does not probe through the guest agent yet" },
        { "'readinessProbe': {'tcpSocket': {'port': 1}, 'httpGet': {'port': 2}}",
          "spec.readinessProbe", "only one of" },
        { "'readinessProbe': {'periodSeconds': 3}", "spec.readinessProbe", "give what to check" },
        { "'livenessProbe': {'tcpSocket': {'port': 22}, 'successThreshold': 2}",
          "spec.livenessProbe.successThreshold", "must be 1 for a liveness probe" },
        { "'readinessProbe': {'tcpSocket': {'port': 22}, 'periodSeconds': 0}",
          "spec.readinessProbe.periodSeconds", "from 1 to 86400" },
        { "'readinessProbe': {'tcpSocket': {'port': 22}, 'timeoutSeconds': -1}",
          "spec.readinessProbe.timeoutSeconds", "from 1 to 86400" },
        { "'readinessProbe': {'tcpSocket': {'port': 22}, 'failureThreshold': 0}",
          "spec.readinessProbe.failureThreshold", "from 1 to 10000" },
        { "'readinessProbe': {'tcpSocket': {'port': 22}, 'terminationGracePeriodSeconds': 1}",
          "spec.readinessProbe.terminationGracePeriodSeconds", "unknown field" },
        { "'livenessProbe': {'exec': {'command': ['true']}}", "spec.livenessProbe.exec",
          "exec probes need an app pod" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = pod_with(cases[i][0]);

        g_test_message("case %zu: %s", i, cases[i][0]);
        assert_only_problem(json, cases[i][1], cases[i][2]);
    }
}

/* exec: an app pod (apps, neither a kernel nor disks: podvm's app guest) needs no network. */
static void
test_exec_app_pod(void)
{
    static const char json[] =
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}, "
        "\"spec\": {\"apps\": [{\"name\": \"redis\", \"image\": \"docker://redis\"}], "
        "\"livenessProbe\": {\"exec\": {\"command\": [\"redis-cli\", \"ping\"]}, "
        "\"timeoutSeconds\": 2}}}";
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    const char *const expected[] = { "redis-cli", "ping", NULL };

    g_assert_nonnull(spec->liveness_probe);
    g_assert_cmpint(spec->liveness_probe->handler, ==, PODVM_PROBE_EXEC);
    g_assert_true(g_strv_equal((const char *const *)spec->liveness_probe->command, expected));
    g_assert_cmpuint(spec->liveness_probe->timeout_seconds, ==, 2);
    assert_round_trips(spec);

    /* The same pod with a kernel of its own runs no app guest: refused. */
    {
        static const char with_kernel[] =
            "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
            "\"p\"}, \"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": {\"kernelPath\": "
            "\"/k\"}}}, \"apps\": [{\"name\": \"redis\", \"image\": \"docker://redis\"}], "
            "\"livenessProbe\": {\"exec\": {\"command\": [\"true\"]}}}}";

        assert_only_problem(with_kernel, "spec.livenessProbe.exec", "exec probes need an app pod");
    }
    /* An empty command. */
    {
        static const char empty[] =
            "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
            "\"p\"}, \"spec\": {\"apps\": [{\"name\": \"a\", \"image\": \"docker://a\"}], "
            "\"readinessProbe\": {\"exec\": {\"command\": []}}}}";

        assert_only_problem(empty, "spec.readinessProbe.exec.command", "must name a command");
    }
}

/* tcpSocket and httpGet go through the pod's network: a pod without one is told so. */
static void
test_needs_interface(void)
{
    static const char json[] =
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}, "
        "\"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": {\"kernelPath\": \"/k\"}}}, "
        "\"readinessProbe\": {\"httpGet\": {\"port\": 80}}}}";

    assert_only_problem(json, "spec.readinessProbe.httpGet", "no network interface");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/spec/probes/tcp-defaults", test_tcp_defaults);
    g_test_add_func("/podvm/common/spec/probes/http-get", test_http_get);
    g_test_add_func("/podvm/common/spec/probes/both-and-off", test_both_and_off);
    g_test_add_func("/podvm/common/spec/probes/virtual-machine", test_virtual_machine);
    g_test_add_func("/podvm/common/spec/probes/refused", test_refused);
    g_test_add_func("/podvm/common/spec/probes/needs-interface", test_needs_interface);
    g_test_add_func("/podvm/common/spec/probes/exec-app-pod", test_exec_app_pod);
    return g_test_run();
}
