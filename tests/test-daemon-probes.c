/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * livenessProbe and readinessProbe end to end, in a network and mount
 * namespace of the test's own (podvm_test_netns_enter), with a real
 * podvmd, real CNI plugins and the test guest behind a masquerade
 * interface: the probes connect from the pod's namespace to the guest
 * (10.0.2.2). The guest serves its page on port 80, and on another port
 * while told to ("podvm-serve PORT" / "podvm-unserve PORT" typed on its
 * console), so readiness can go both ways.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS PODVM_TEST_NET_BOOT_TIMEOUT_MS
#define PROBE_TIMEOUT_MS 60000

/* The test guest with a masquerade interface (all ports) and @members added to spec. */
static char *
probe_spec(const char *name, const char *members)
{
    g_autofree char *base = podvm_test_net_spec(
        name, NULL, "[{\"name\": \"default\", \"masquerade\": {}}]", PODVM_TEST_NET_POD_NETWORK);
    g_autoptr(JsonNode) root = json_from_string(base, NULL);
    JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
    g_autofree char *text = g_strdup_printf("{%s}", members);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) extra = json_from_string(text, &error);
    JsonObjectIter iter;
    const char *member;
    JsonNode *node;

    g_assert_no_error(error);
    json_object_iter_init(&iter, json_node_get_object(extra));
    while (json_object_iter_next(&iter, &member, &node))
        json_object_set_member(spec, member, json_node_copy(node));
    return json_to_string(root, FALSE);
}

/* The Ready condition of the pod's status (a new reference), or NULL. */
static JsonObject *
ready_condition(PodvmTestNet *f, const char *name)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);
    JsonArray *conditions;

    if (!json_object_has_member(status, "conditions"))
        return NULL;
    conditions = json_object_get_array_member(status, "conditions");
    for (guint i = 0; i < json_array_get_length(conditions); i++) {
        JsonObject *condition = json_array_get_object_element(conditions, i);

        if (g_strcmp0(json_object_get_string_member_with_default(condition, "type", NULL),
                      "Ready") == 0)
            return json_object_ref(condition);
    }
    return NULL;
}

/*
 * Waits until Ready has @status (and, unless NULL, @reason, and a message
 * containing @needle); returns the condition.
 */
static JsonObject *
wait_ready_message(PodvmTestNet *f, const char *name, const char *status, const char *reason,
                   const char *needle)
{
    gint64 deadline = g_get_monotonic_time() + PROBE_TIMEOUT_MS * 1000LL;
    g_autoptr(JsonObject) condition = NULL;

    do {
        g_clear_pointer(&condition, json_object_unref);
        condition = ready_condition(f, name);
        if (condition != NULL &&
            g_strcmp0(json_object_get_string_member_with_default(condition, "status", NULL),
                      status) == 0 &&
            (reason == NULL ||
             g_strcmp0(json_object_get_string_member_with_default(condition, "reason", NULL),
                       reason) == 0) &&
            (needle == NULL ||
             strstr(json_object_get_string_member_with_default(condition, "message", ""), needle) !=
                 NULL))
            return g_steal_pointer(&condition);
        g_usleep(100 * 1000);
    } while (g_get_monotonic_time() < deadline);
    {
        g_autoptr(JsonNode) node =
            condition != NULL ? json_node_init_object(json_node_alloc(), condition) : NULL;
        g_autofree char *text = condition != NULL ? json_to_string(node, FALSE) : NULL;

        g_error("pod '%s': Ready never became %s%s%s; last: %s", name, status,
                reason != NULL ? " with reason " : "", reason != NULL ? reason : "",
                text != NULL ? text : "none");
    }
    return NULL;
}

static JsonObject *
wait_ready(PodvmTestNet *f, const char *name, const char *status, const char *reason)
{
    return wait_ready_message(f, name, status, reason, NULL);
}

static gint64
restart_count(PodvmTestNet *f, const char *name)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);

    return json_object_get_int_member_with_default(status, "restartCount", -1);
}

/*
 * Readiness follows the guest's server: not ready while the probed port
 * is closed (the message says why), ready once it serves, not ready again
 * when it stops; a passing liveness probe (tcpSocket on port 80) leaves
 * the pod alone meanwhile.
 */
static void
test_readiness(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autoptr(JsonObject) pending = NULL, ready = NULL, unready = NULL;
    g_autofree char *phase = NULL;
    const char *message;

    if (f->daemon == NULL)
        return;
    spec =
        probe_spec("ready", "\"readinessProbe\": {\"httpGet\": {\"port\": 8082, \"path\": \"/\"}, "
                            "\"periodSeconds\": 1, \"failureThreshold\": 1}, "
                            "\"livenessProbe\": {\"tcpSocket\": {\"port\": 80}, "
                            "\"initialDelaySeconds\": 30, \"periodSeconds\": 2, "
                            "\"failureThreshold\": 30}");
    podvm_test_net_create_pod(f, spec);

    /* Not running: not ready. */
    pending = ready_condition(f, "ready");
    g_assert_nonnull(pending);
    g_assert_cmpstr(json_object_get_string_member(pending, "status"), ==, "False");

    podvm_test_net_start_pod(f, "ready");
    podvm_test_net_wait_console(f, "ready", "PODVM-GUEST-READY", BOOT_TIMEOUT_MS);
    /* The guest itself refuses the closed port. */
    unready = wait_ready_message(f, "ready", "False", "ReadinessProbeFailed", "refused");
    message = json_object_get_string_member(unready, "message");
    g_assert_true(g_str_has_prefix(message, "readiness probe failed: "));
    g_assert_nonnull(strstr(message, "10.0.2.2:8082"));
    g_clear_pointer(&unready, json_object_unref);

    podvm_test_console_type(f->daemon, "ready", "podvm-serve 8082");
    podvm_test_net_wait_console(f, "ready", "PODVM-SERVE 8082", PROBE_TIMEOUT_MS);
    ready = wait_ready(f, "ready", "True", NULL);
    g_assert_nonnull(json_object_get_string_member_with_default(ready, "lastTransitionTime", NULL));
    g_assert_false(json_object_has_member(ready, "reason"));

    podvm_test_console_type(f->daemon, "ready", "podvm-unserve 8082");
    podvm_test_net_wait_console(f, "ready", "PODVM-UNSERVE 8082", PROBE_TIMEOUT_MS);
    unready = wait_ready(f, "ready", "False", "ReadinessProbeFailed");
    message = json_object_get_string_member(unready, "message");
    g_assert_nonnull(strstr(message, "10.0.2.2:8082"));
    g_assert_cmpstr(json_object_get_string_member(unready, "lastTransitionTime"), !=,
                    json_object_get_string_member(ready, "lastTransitionTime"));

    /* The liveness probe on port 80 passed all along. */
    g_assert_cmpint(restart_count(f, "ready"), ==, 0);
    phase = podvm_test_daemon_phase(f->daemon, "ready");
    g_assert_cmpstr(phase, ==, "Running");

    /* Stopped: not ready, and the reason says so. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "stop", "ready", NULL), ==, 0);
    g_clear_pointer(&unready, json_object_unref);
    unready = wait_ready(f, "ready", "False", "PodNotRunning");
}

/*
 * A liveness probe that keeps failing (tcpSocket on a port nobody serves)
 * restarts a pod with restartPolicy Always: the restart count rises, and
 * while it waits to restart the pod is Failed and says why.
 */
static void
test_liveness_restarts(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    gint64 deadline;
    gint64 restarts = 0;
    gboolean said_why = FALSE;

    if (f->daemon == NULL)
        return;
    spec = probe_spec("alive", "\"restartPolicy\": \"Always\", "
                               "\"livenessProbe\": {\"tcpSocket\": {\"port\": 9}, "
                               "\"periodSeconds\": 1, \"failureThreshold\": 2}");
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "alive");

    deadline = g_get_monotonic_time() + (BOOT_TIMEOUT_MS + PROBE_TIMEOUT_MS) * 1000LL;
    while ((restarts < 2 || !said_why) && g_get_monotonic_time() < deadline) {
        g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, "alive");
        const char *phase = json_object_get_string_member(status, "phase");
        const char *message = json_object_get_string_member_with_default(status, "message", "");

        restarts = json_object_get_int_member(status, "restartCount");
        if (g_strcmp0(phase, "Failed") == 0 &&
            g_str_has_prefix(message, "liveness probe failed: ") &&
            strstr(message, "restarting in") != NULL)
            said_why = TRUE;
        g_usleep(100 * 1000);
    }
    g_assert_true(said_why);
    g_assert_cmpint(restarts, >=, 2);

    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "stop", "alive", NULL), ==, 0);
}

/* With restartPolicy Never, a failed liveness probe leaves the pod Failed, and says why. */
static void
test_liveness_never(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autofree char *phase = NULL;
    const char *message;

    if (f->daemon == NULL)
        return;
    spec = probe_spec("never", "\"restartPolicy\": \"Never\", "
                               "\"livenessProbe\": {\"httpGet\": {\"port\": 8083}, "
                               "\"periodSeconds\": 1, \"failureThreshold\": 2}");
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "never");
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "never", "Failed", BOOT_TIMEOUT_MS));
    status = podvm_test_daemon_status(f->daemon, "never");
    g_assert_cmpstr(json_object_get_string_member(status, "reason"), ==, "LivenessProbeFailed");
    message = json_object_get_string_member(status, "message");
    g_assert_true(g_str_has_prefix(message, "liveness probe failed: "));
    g_assert_nonnull(strstr(message, "10.0.2.2:8083"));
    g_assert_cmpint(json_object_get_int_member(status, "restartCount"), ==, 0);
    /* It stays so: nothing restarts it. */
    g_usleep(3 * G_USEC_PER_SEC);
    phase = podvm_test_daemon_phase(f->daemon, "never");
    g_assert_cmpstr(phase, ==, "Failed");
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/net/probes/readiness", PodvmTestNet, NULL, podvm_test_net_setup, test_readiness,
               podvm_test_net_teardown);
    g_test_add("/net/probes/liveness-restarts", PodvmTestNet, NULL, podvm_test_net_setup,
               test_liveness_restarts, podvm_test_net_teardown);
    g_test_add("/net/probes/liveness-never", PodvmTestNet, NULL, podvm_test_net_setup,
               test_liveness_never, podvm_test_net_teardown);
    return g_test_run();
}
