/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The convergence controller end to end (suite migration): a guest that
 * dirties memory (podvm.dirty) faster than [migration] max_bandwidth lets
 * a pass send it, migrated between two podvmd hosts (podvm-test-hosts.h).
 *
 * With 8 MiB dirtied again and again and 8 MiB/s, every pass has the whole
 * 8 MiB to send, a second's worth: a 50 ms downtime limit never allows the
 * switchover. The controller steps (stall_passes 2):
 *   - auto-converge, then the request's raised maxDowntimeMs (5 s, room for
 *     a loaded host's slower link): completes;
 *   - auto-converge, then post-copy (the request allows it, maxDowntimeMs
 *     is the starting limit so no raise): completes in post-copy;
 *   - auto-converge, a raise to 200 ms (still too small), then cancel: the
 *     migration fails with the controller's reason and the pod runs on at
 *     the source, the target has nothing.
 * Each checks the steps in the MigrationStep events and in
 * status.migrationState while it ran, and the guest's counter and boot id.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-hosts.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define POD "conv"
#define GUEST_ARGS "podvm.counter=1 podvm.dirty=8"
#define BOOT_TIMEOUT_MS 120000
#define MIGRATE_TIMEOUT_MS 240000

#define CONF                         \
    "[migration]\n"                  \
    "max_bandwidth=8Mi\n"            \
    "stall_passes=2\n"               \
    "initial_downtime_ms=50\n"       \
    "max_downtime_ms=50\n"           \
    "no_progress_timeout_ms=60000\n" \
    "auto_converge=true\n"

/* What a migration showed while it ran. */
typedef struct {
    GPtrArray *steps;      /* MigrationStep events' "step", in order */
    GPtrArray *reasons;    /* and their "reason" ("" when none) */
    GPtrArray *types;      /* every Migration* event type of the pod, in order */
    JsonObject *state;     /* the last status.migrationState seen with steps */
    char *failed_message;  /* MigrationFailed's "message" */
    guint progress_events; /* MigrationProgress */
    gint64 max_dirty_rate; /* the highest migrationState.dirtyRate seen (bytes/s) */
    guint step_errors;     /* MigrationStep events with an "error": a step QEMU refused */
    gboolean saw_postcopy; /* a migrationState with status "postcopy-active" */
} Seen;

static void
seen_clear(Seen *seen)
{
    g_ptr_array_unref(seen->steps);
    g_ptr_array_unref(seen->reasons);
    g_ptr_array_unref(seen->types);
    g_clear_pointer(&seen->state, json_object_unref);
    g_free(seen->failed_message);
}

static void
event_cb(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
         const char *signal, GVariant *parameters, gpointer user_data)
{
    Seen *seen = user_data;
    const char *pod, *type, *details;
    g_autoptr(JsonNode) node = NULL;
    JsonObject *object;

    g_variant_get(parameters, "(&s&s&s)", &pod, &type, &details);
    if (!g_str_equal(pod, POD) || !g_str_has_prefix(type, "Migration"))
        return;
    g_ptr_array_add(seen->types, g_strdup(type));
    node = json_from_string(details, NULL);
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
        return;
    object = json_node_get_object(node);
    if (g_str_equal(type, "MigrationStep")) {
        g_ptr_array_add(seen->steps,
                        g_strdup(json_object_get_string_member_with_default(object, "step", "")));
        g_ptr_array_add(seen->reasons,
                        g_strdup(json_object_get_string_member_with_default(object, "reason", "")));
        if (json_object_has_member(object, "error")) {
            g_test_message("step %s failed: %s", json_object_get_string_member(object, "step"),
                           json_object_get_string_member(object, "error"));
            seen->step_errors++;
        }
    } else if (g_str_equal(type, "MigrationProgress")) {
        seen->progress_events++;
    } else if (g_str_equal(type, "MigrationFailed")) {
        g_free(seen->failed_message);
        seen->failed_message =
            g_strdup(json_object_get_string_member_with_default(object, "message", ""));
    }
}

/* The hosts with CONF and @extra; a running pod on A, its boot id and last heartbeat. */
static PodvmTestHosts *
hosts_with_pod(const char *extra, char **out_boot_id, guint64 *out_n)
{
    g_autofree char *conf = g_strconcat(CONF, extra != NULL ? extra : "", NULL);
    PodvmTestHosts *hosts = podvm_test_hosts_new(conf);
    g_autofree char *spec = NULL;

    if (hosts == NULL)
        return NULL;
    spec = podvm_test_hosts_spec(POD, GUEST_ARGS, "16Mi");
    podvm_test_host_create_pod(hosts->a, spec);
    podvm_test_host_start_pod(hosts->a, POD);
    podvm_test_host_wait_phase(hosts->a, POD, "Running", BOOT_TIMEOUT_MS);
    podvm_test_host_wait_console(hosts->a, POD, "PODVM-DIRTY 8", BOOT_TIMEOUT_MS);
    *out_n = podvm_test_host_wait_heartbeat(hosts->a, POD, 0, out_boot_id, BOOT_TIMEOUT_MS);
    return hosts;
}

/*
 * Migrates the pod from A to B with @options_json while watching A's events
 * and the pod's migrationState; returns the result (NULL with @error).
 */
static char *
migrate_watching(PodvmTestHosts *hosts, const char *options_json, Seen *seen, GError **error)
{
    PodvmTestMigrateCall *call;
    guint subscription;
    gint64 next_poll = 0;
    char *result;

    *seen = (Seen){
        .steps = g_ptr_array_new_with_free_func(g_free),
        .reasons = g_ptr_array_new_with_free_func(g_free),
        .types = g_ptr_array_new_with_free_func(g_free),
    };
    subscription = g_dbus_connection_signal_subscribe(
        hosts->a->daemon->connection, NULL, "io.podvm.PodVM1.Manager", "Event", NULL, NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, event_cb, seen, NULL);
    call = podvm_test_host_migrate_begin(hosts->a, POD, options_json, MIGRATE_TIMEOUT_MS);
    while (!podvm_test_migrate_call_done(call)) {
        if (g_get_monotonic_time() >= next_poll) {
            g_autoptr(JsonObject) state = podvm_test_host_migration_state(hosts->a, POD);

            if (state != NULL &&
                g_strcmp0(json_object_get_string_member_with_default(state, "status", ""),
                          "postcopy-active") == 0)
                seen->saw_postcopy = TRUE;
            if (state != NULL)
                seen->max_dirty_rate =
                    MAX(seen->max_dirty_rate,
                        json_object_get_int_member_with_default(state, "dirtyRate", 0));
            if (state != NULL && json_object_has_member(state, "steps") &&
                json_array_get_length(json_object_get_array_member(state, "steps")) > 0) {
                g_clear_pointer(&seen->state, json_object_unref);
                seen->state = g_steal_pointer(&state);
            }
            next_poll = g_get_monotonic_time() + 200 * G_TIME_SPAN_MILLISECOND;
        }
        g_usleep(20000);
    }
    result = podvm_test_host_migrate_end(call, error);
    /* The last signals may still be on their way. */
    for (guint i = 0; i < 20; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(10000);
    }
    g_dbus_connection_signal_unsubscribe(hosts->a->daemon->connection, subscription);
    for (guint i = 0; i < seen->steps->len; i++)
        g_test_message("step %u: %s %s", i, (char *)g_ptr_array_index(seen->steps, i),
                       (char *)g_ptr_array_index(seen->reasons, i));
    return result;
}

static gboolean
seen_type(Seen *seen, const char *type)
{
    for (guint i = 0; i < seen->types->len; i++)
        if (g_str_equal(g_ptr_array_index(seen->types, i), type))
            return TRUE;
    return FALSE;
}

static void
assert_steps(Seen *seen, const char *const *expected)
{
    guint n = g_strv_length((char **)expected);

    g_assert_cmpuint(seen->steps->len, ==, n);
    g_assert_cmpuint(seen->step_errors, ==, 0);
    for (guint i = 0; i < n; i++)
        g_assert_cmpstr(g_ptr_array_index(seen->steps, i), ==, expected[i]);
    g_assert_cmpuint(seen->progress_events, >, 0);
    /* status.migrationState listed the steps (those taken before it was last read), in order,
     * each with the pass it came at. */
    g_assert_nonnull(seen->state);
    {
        JsonArray *steps = json_object_get_array_member(seen->state, "steps");
        gint64 pass = 0;

        g_assert_cmpuint(json_array_get_length(steps), <=, n);
        for (guint i = 0; i < json_array_get_length(steps); i++) {
            JsonObject *step = json_array_get_object_element(steps, i);

            g_assert_cmpstr(json_object_get_string_member(step, "step"), ==, expected[i]);
            g_assert_cmpint(json_object_get_int_member(step, "pass"), >, pass);
            pass = json_object_get_int_member(step, "pass");
        }
        g_assert_cmpint(json_object_get_int_member(seen->state, "passes"), >=, 2);
    }
    /* The guest dirtied memory at about the link's rate (8 MiB/s): at least 1 MiB/s. */
    g_test_message("highest dirty rate seen: %" G_GINT64_FORMAT " bytes/s", seen->max_dirty_rate);
    g_assert_cmpint(seen->max_dirty_rate, >, 1024 * 1024);
}

/* The pod runs on B, not on A; its heartbeat goes on from @n with the same boot id. */
static void
assert_moved(PodvmTestHosts *hosts, const char *boot_id, guint64 n)
{
    g_autofree char *after_id = NULL;
    guint64 after;

    g_assert_true(podvm_test_host_wait_no_pod(hosts->a, POD, 60000));
    podvm_test_host_wait_phase(hosts->b, POD, "Running", 60000);
    after = podvm_test_host_wait_heartbeat(hosts->b, POD, n, &after_id, 60000);
    g_assert_cmpstr(after_id, ==, boot_id);
    g_assert_cmpuint(after, >, n);
}

/* Stalled: auto-converge does not help (the whole set is dirty again at once), 5 s does. */
static void
test_raise_downtime(void)
{
    static const char *const expected[] = { "auto-converge", "raise-downtime", NULL };
    g_autofree char *boot_id = NULL, *result = NULL;
    g_autoptr(PodvmTestHosts) hosts = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    guint64 n = 0;
    Seen seen;

    hosts = hosts_with_pod(NULL, &boot_id, &n);
    if (hosts == NULL)
        return;
    result =
        migrate_watching(hosts, "{\"target\": \"host-b\", \"maxDowntimeMs\": 5000}", &seen, &error);
    g_assert_no_error(error);
    g_test_message("result: %s", result);
    assert_steps(&seen, expected);
    g_assert_true(seen_type(&seen, "MigrationStarted"));
    g_assert_true(seen_type(&seen, "MigrationCompleted"));
    g_assert_false(seen_type(&seen, "MigrationFailed"));
    node = json_from_string(result, &error);
    g_assert_no_error(error);
    g_assert_true(json_object_has_member(json_node_get_object(node), "downtimeMs"));
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(node), "totalMs"), >, 0);
    assert_moved(hosts, boot_id, n);
    seen_clear(&seen);
}

/* Whether QEMU could register userfaultfd (post-copy's target side) here, and why not. */
static gboolean
postcopy_possible(const char **out_reason)
{
    g_autofree char *value = NULL;

    if (g_file_get_contents("/proc/sys/vm/unprivileged_userfaultfd", &value, NULL, NULL) &&
        g_str_has_prefix(value, "1"))
        return TRUE;
    /* QEMU as root has CAP_SYS_PTRACE; the test runs it as root for this case. */
    if (geteuid() == 0)
        return TRUE;
    *out_reason = "post-copy needs userfaultfd: vm.unprivileged_userfaultfd is 0 and the test "
                  "is not root, so QEMU cannot run as root for it";
    return FALSE;
}

/* Stalled, post-copy allowed, no raise (max = start): auto-converge, then post-copy completes. */
static void
test_postcopy(void)
{
    static const char *const expected[] = { "auto-converge", "postcopy", NULL };
    g_autofree char *boot_id = NULL, *result = NULL;
    g_autoptr(PodvmTestHosts) hosts = NULL;
    g_autoptr(GError) error = NULL;
    const char *why = NULL;
    guint64 n = 0;
    Seen seen;

    if (!postcopy_possible(&why)) {
        g_test_skip(why);
        return;
    }
    /* An unprivileged QEMU (vm.unprivileged_userfaultfd=0) cannot: QEMU as root for this one. */
    hosts = hosts_with_pod("[qemu]\nqemu_user=root\n", &boot_id, &n);
    if (hosts == NULL)
        return;
    result = migrate_watching(hosts,
                              "{\"target\": \"host-b\", \"postcopy\": true, \"maxDowntimeMs\": 50}",
                              &seen, &error);
    if (error != NULL && (strstr(error->message, "userfault") != NULL ||
                          strstr(error->message, "ostcopy") != NULL)) {
        g_test_skip_printf("QEMU here cannot post-copy: %s", error->message);
        seen_clear(&seen);
        return;
    }
    g_assert_no_error(error);
    g_test_message("result: %s", result);
    assert_steps(&seen, expected);
    g_assert_true(seen_type(&seen, "MigrationCompleted"));
    g_test_message("status postcopy-active seen in migrationState: %s",
                   seen.saw_postcopy ? "yes" : "no (shorter than a poll)");
    assert_moved(hosts, boot_id, n);
    seen_clear(&seen);
}

/*
 * Stalled, no post-copy, a raise too small: auto-converge, raise-downtime,
 * cancel. The migration fails with the controller's reason; the pod runs
 * on at A (same QEMU, same boot, counter going on); B has no pod.
 */
static void
test_cancel(void)
{
    static const char *const expected[] = { "auto-converge", "raise-downtime", "cancel", NULL };
    g_autofree char *boot_id = NULL, *result = NULL, *after_id = NULL;
    g_autoptr(PodvmTestHosts) hosts = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) state = NULL;
    guint64 n = 0, after, on_source;
    Seen seen;

    hosts = hosts_with_pod(NULL, &boot_id, &n);
    if (hosts == NULL)
        return;
    result =
        migrate_watching(hosts, "{\"target\": \"host-b\", \"maxDowntimeMs\": 200}", &seen, &error);
    g_assert_null(result);
    g_assert_nonnull(error);
    g_test_message("error: %s", error->message);
    g_assert_nonnull(strstr(error->message, "does not converge"));
    assert_steps(&seen, expected);
    g_assert_nonnull(strstr(g_ptr_array_index(seen.reasons, 2), "does not converge"));
    g_assert_true(seen_type(&seen, "MigrationFailed"));
    g_assert_false(seen_type(&seen, "MigrationCompleted"));
    g_assert_nonnull(seen.failed_message);
    g_assert_nonnull(strstr(seen.failed_message, "does not converge"));

    /* One copy, on the source, running the same boot. */
    podvm_test_host_wait_phase(hosts->a, POD, "Running", 30000);
    g_assert_true(podvm_test_host_wait_no_pod(hosts->b, POD, 60000));
    /* migrationState stays for `podvmctl show`: failed, why, and every step with the cancel. */
    state = podvm_test_host_migration_state(hosts->a, POD);
    g_assert_nonnull(state);
    g_assert_cmpstr(json_object_get_string_member(state, "phase"), ==, "failed");
    g_assert_nonnull(strstr(json_object_get_string_member(state, "message"), "does not converge"));
    {
        JsonArray *steps = json_object_get_array_member(state, "steps");
        JsonObject *cancel;

        g_assert_cmpint(json_array_get_length(steps), ==, 3);
        for (guint i = 0; i < 3; i++)
            g_assert_cmpstr(
                json_object_get_string_member(json_array_get_object_element(steps, i), "step"), ==,
                expected[i]);
        cancel = json_array_get_object_element(steps, 2);
        g_assert_cmpstr(json_object_get_string_member(cancel, "reason"), ==,
                        g_ptr_array_index(seen.reasons, 2));
    }
    {
        g_autofree char *text = podvm_test_host_console(hosts->a, POD);
        g_assert_true(podvm_test_heartbeat_last(text, NULL, &on_source));
    }
    after = podvm_test_host_wait_heartbeat(hosts->a, POD, on_source, &after_id, 60000);
    g_assert_cmpstr(after_id, ==, boot_id);
    g_assert_cmpuint(after, >, n);
    seen_clear(&seen);
}

int
main(int argc, char **argv)
{
    /* First, before any thread: the namespace of the test's own. */
    podvm_test_netns_enter(&podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/converge/raise-downtime", test_raise_downtime);
    g_test_add_func("/migration/converge/postcopy", test_postcopy);
    g_test_add_func("/migration/converge/cancel", test_cancel);
    return g_test_run();
}
