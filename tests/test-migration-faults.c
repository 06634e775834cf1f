/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration between two podvmd hosts (podvm-test-hosts.h) going
 * wrong: the target's QEMU killed and the link cut mid-copy, the source's
 * podvmd killed mid-copy and after QEMU completed, a wrong token, a name
 * the target already has. Each must leave exactly one copy of the guest
 * running, and the right phase on both hosts.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-hosts.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define MIGRATE_TIMEOUT_MS 150000
#define DISK "64Mi"
#define TO_B "{\"target\": \"host-b\"}"

/*
 * A migration that stays in its copy long enough to be hit: a low
 * bandwidth, and a guest that keeps dirtying its memory (podvm.dirty) so
 * it does not converge by itself; no auto-converge, no post-copy. A short
 * no-progress timeout, for the cut link.
 */
#define SLOW_CONF                                                                 \
    "[migration]\nmax_bandwidth=2Mi\nauto_converge=false\nallow_postcopy=false\n" \
    "no_progress_timeout_ms=3000\nstall_passes=1000\n"
#define DIRTY_ARGS "podvm.dirty=24"

/* ---- helpers ---------------------------------------------------------------------------- */

static char *
status_string(PodvmTestHost *host, const char *name, const char *member)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(host->daemon, name);

    return g_strdup(json_object_get_string_member_with_default(status, member, NULL));
}

/*
 * Waits until the source reports the migration in @phase
 * (status.migrationState.phase) with bytes moved when @moved; FALSE if the
 * call ended first or @timeout_ms passed.
 */
static gboolean
wait_migration_phase(PodvmTestHost *host, const char *name, PodvmTestMigrateCall *call,
                     const char *phase, gboolean moved, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (g_get_monotonic_time() < deadline) {
        g_autoptr(JsonObject) state = NULL;

        if (podvm_test_migrate_call_done(call))
            return FALSE;
        state = podvm_test_host_migration_state(host, name);
        if (state != NULL &&
            g_strcmp0(json_object_get_string_member_with_default(state, "phase", NULL), phase) ==
                0 &&
            (!moved || json_object_get_int_member_with_default(state, "transferredBytes", 0) > 0))
            return TRUE;
        g_usleep(50000);
    }
    return FALSE;
}

/* The pid of @host's QEMU of pod @uid, or 0. */
static int
host_qemu(PodvmTestHost *host, const char *uid)
{
    g_autoptr(GArray) pids = podvm_test_qemu_pids_with_uuid(uid);

    for (guint i = 0; i < pids->len; i++) {
        if (podvm_test_host_owns_pid(host, g_array_index(pids, int, i)))
            return g_array_index(pids, int, i);
    }
    return 0;
}

/*
 * The migration failed and the pod runs on where it was: @source has it
 * @phase, with its QEMU (@qemu_pid when not 0) the only one; its guest beats on
 * with its boot id past @after; @target has nothing of it (within @timeout_ms).
 */
static void
check_stayed(PodvmTestHosts *hosts, PodvmTestHost *source, PodvmTestHost *target, const char *name,
             const PodvmTestWitness *before, int qemu_pid, const char *phase, guint timeout_ms)
{
    g_autofree char *boot_id = NULL;
    g_autoptr(JsonObject) state = NULL;
    guint64 n;
    int pid;

    podvm_test_host_wait_phase(source, name, phase, timeout_ms);
    podvm_test_host_assert_pod_gone(target, name, before->uid, timeout_ms);
    pid = podvm_test_hosts_assert_one_qemu(hosts, source, before->uid);
    if (qemu_pid != 0)
        g_assert_cmpint(pid, ==, qemu_pid);
    /* No migration is left in the status. */
    state = podvm_test_host_migration_state(source, name);
    if (state != NULL) {
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), state);
        g_autofree char *text = json_to_string(node, 0);

        g_test_message("migrationState left: %s", text);
    }
    if (g_str_equal(phase, "Running")) {
        g_autofree char *text = podvm_test_host_console(source, name);
        guint64 last = 0;

        g_assert_true(podvm_test_heartbeat_last(text, NULL, &last));
        n = podvm_test_host_wait_heartbeat(source, name, last, &boot_id, 30000);
        g_assert_cmpstr(boot_id, ==, before->boot_id);
        g_assert_cmpuint(podvm_test_host_counter(source, name), >=, n);
    }
}

/* The call failed (not unavailable: then the test skipped); its message logged. */
static gboolean
expect_failure(PodvmTestMigrateCall *call, char **out_message)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *result = podvm_test_host_migrate_end(call, &error);

    if (podvm_test_migrate_unavailable(error))
        return FALSE;
    if (result != NULL)
        podvm_test_hosts_fail("the migration succeeded: %s", result);
    g_test_message("the migration failed: %s", error->message);
    if (out_message != NULL)
        *out_message = g_strdup(error->message);
    return TRUE;
}

/* ---- mid-copy ----------------------------------------------------------------------------- */

/*
 * The target's QEMU killed while the memory is copied: the target tears
 * its Incoming pod down, the source cancels and runs on (same QEMU).
 */
static void
test_kill_target_qemu(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(SLOW_CONF);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL;
    PodvmTestMigrateCall *call;
    int source_qemu, target_qemu;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, DIRTY_ARGS);
    podvm_test_witness_read(hosts->a, "mig", &before);
    source_qemu = host_qemu(hosts->a, before.uid);
    call = podvm_test_host_migrate_begin(hosts->a, "mig", TO_B, MIGRATE_TIMEOUT_MS);
    if (!wait_migration_phase(hosts->a, "mig", call, "migrating", TRUE, 60000)) {
        if (expect_failure(call, NULL))
            podvm_test_hosts_fail("the migration never reached its memory copy");
        return;
    }
    target_qemu = host_qemu(hosts->b, before.uid);
    g_assert_cmpint(target_qemu, >, 0);
    g_assert_cmpint(kill(target_qemu, SIGKILL), ==, 0);
    g_assert_true(expect_failure(call, NULL));
    check_stayed(hosts, hosts->a, hosts->b, "mig", &before, source_qemu, "Running", 30000);
    {
        g_autofree char *reason = status_string(hosts->a, "mig", "reason");

        g_assert_cmpstr(reason, ==, "MigrationFailed");
    }
}

/*
 * The link between the hosts cut while the memory is copied: nothing
 * moves, the source cancels after [migration] no_progress_timeout_ms and
 * runs on; the target tears its copy down by itself (its own timeout).
 */
static void
test_cut_link(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(SLOW_CONF);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL;
    PodvmTestMigrateCall *call;
    gint64 cut_at, restored_at, failed_at;
    int source_qemu;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, DIRTY_ARGS);
    podvm_test_witness_read(hosts->a, "mig", &before);
    source_qemu = host_qemu(hosts->a, before.uid);
    call = podvm_test_host_migrate_begin(hosts->a, "mig", TO_B, MIGRATE_TIMEOUT_MS);
    if (!wait_migration_phase(hosts->a, "mig", call, "migrating", TRUE, 60000)) {
        if (expect_failure(call, NULL))
            podvm_test_hosts_fail("the migration never reached its memory copy");
        return;
    }
    podvm_test_hosts_set_link(hosts, FALSE);
    cut_at = g_get_monotonic_time();
    /* The pod is back to Running (MigrationFailed) soon after the timeout (3 s). */
    for (;;) {
        g_autofree char *reason = status_string(hosts->a, "mig", "reason");

        if (g_strcmp0(reason, "MigrationFailed") == 0)
            break;
        if (g_get_monotonic_time() - cut_at > 15 * G_USEC_PER_SEC)
            podvm_test_hosts_fail("host-a: pod 'mig' still migrating 15 s after the link was cut "
                                  "(no_progress_timeout_ms=3000): reason %s",
                                  reason != NULL ? reason : "(none)");
        g_usleep(50000);
    }
    restored_at = g_get_monotonic_time();
    g_assert_true(expect_failure(call, NULL));
    failed_at = g_get_monotonic_time();
    g_test_message("back to Running %" G_GINT64_FORMAT
                   " ms after the cut, the call failed after %" G_GINT64_FORMAT " ms",
                   (restored_at - cut_at) / 1000, (failed_at - cut_at) / 1000);
    /* Not before the timeout. */
    g_assert_cmpint((restored_at - cut_at) / 1000, >=, 2500);
    g_assert_cmpint((failed_at - cut_at) / 1000, <, 15000);
    /* The target gave up too, without anyone telling it. */
    podvm_test_host_assert_pod_gone(hosts->b, "mig", before.uid, 30000);
    podvm_test_hosts_set_link(hosts, TRUE);
    check_stayed(hosts, hosts->a, hosts->b, "mig", &before, source_qemu, "Running", 30000);
}

/* ---- the source's podvmd killed ------------------------------------------------------------ */

/* podvmd of @host restarted with PODVM_TEST_CRASH_AT=@point (before any pod exists). */
static void
arm_crash(PodvmTestHost *host, const char *point)
{
    podvm_test_daemon_setenv(host->daemon, "PODVM_TEST_CRASH_AT", point);
    podvm_test_daemon_stop(host->daemon);
    podvm_test_host_restart(host);
}

/*
 * Waits for @host's podvmd to die at its crash point; it starts again
 * without one later. FALSE (skipped) when the migration is not available.
 */
static gboolean
wait_crash(PodvmTestHost *host, PodvmTestMigrateCall *call)
{
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    g_autoptr(GError) error = NULL;
    g_autofree char *result = NULL;

    /*
     * The D-Bus call often ends (the bus saw podvmd go) before its exit is
     * reaped here: then give the reaping a moment before calling it a miss.
     * A wait that saw podvmd end has reaped it, so it is never waited twice.
     */
    for (;;) {
        gboolean call_done = podvm_test_migrate_call_done(call);

        if (podvm_test_daemon_wait_killed(host->daemon, call_done ? 2000 : 500))
            break;
        if (!podvm_test_daemon_running(host->daemon))
            podvm_test_hosts_fail("podvmd ended, but not by its crash point's SIGKILL");
        if (call_done) {
            result = podvm_test_host_migrate_end(call, &error);
            if (podvm_test_migrate_unavailable(error))
                return FALSE;
            podvm_test_hosts_fail("podvmd did not die at its crash point; the migration ended: %s",
                                  result != NULL ? result : error->message);
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    /* The D-Bus call ends without an answer: the bus saw podvmd go. */
    result = podvm_test_host_migrate_end(call, &error);
    g_assert_null(result);
    g_assert_nonnull(error);
    podvm_test_daemon_setenv(host->daemon, "PODVM_TEST_CRASH_AT", NULL);
    return TRUE;
}

/*
 * The source's podvmd killed once the disks are mirrored, before the memory
 * moves: its restart finds QEMU not migrated, cancels, resumes nothing (the
 * guest never stopped), tells the target to tear down, and keeps the pod.
 */
static void
test_source_crash_mid_copy(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL;
    PodvmTestMigrateCall *call;
    int source_qemu;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    arm_crash(hosts->a, "migrate:after-mirror-ready");
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, NULL);
    podvm_test_witness_read(hosts->a, "mig", &before);
    source_qemu = host_qemu(hosts->a, before.uid);
    call = podvm_test_host_migrate_begin(hosts->a, "mig", TO_B, MIGRATE_TIMEOUT_MS);
    if (!wait_crash(hosts->a, call))
        return;
    /* What the target holds meanwhile: an Incoming copy, never running. */
    if (podvm_test_host_has_pod(hosts->b, "mig")) {
        g_autofree char *phase = podvm_test_daemon_phase(hosts->b->daemon, "mig");

        g_test_message("the target's copy while the source is down: %s", phase);
        g_assert_cmpstr(phase, !=, "Running");
    }
    podvm_test_host_restart(hosts->a);
    check_stayed(hosts, hosts->a, hosts->b, "mig", &before, source_qemu, "Running", 60000);
    {
        g_autofree char *reason = status_string(hosts->a, "mig", "reason");
        g_autofree char *message = status_string(hosts->a, "mig", "message");

        g_assert_cmpstr(reason, ==, "MigrationFailed");
        g_test_message("the source after its restart: %s", message);
    }
}

/*
 * The source's podvmd killed after its QEMU completed the migration, before
 * the target was told to finish: the target's copy waits (not running, the
 * source's QEMU stays stopped). The restart asks the target to finish: it
 * runs the guest on and everything goes here. Unless the stream's last
 * bytes died with podvmd's relay (QEMU's "completed" means they were
 * handed to podvmd, not that the target has them): then the target failed
 * its incoming migration, and the restart runs the guest here again. Either
 * way one copy runs, the same guest, its counter continuous.
 */
static void
test_source_crash_after_completed(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL, *log = NULL, *reason = NULL, *message = NULL;
    PodvmTestMigrateCall *call;
    gboolean target_has_it;
    int console;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    arm_crash(hosts->a, "migrate:after-completed");
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, NULL);
    podvm_test_witness_read(hosts->a, "mig", &before);
    console = podvm_test_host_console_open(hosts->a, "mig");
    call = podvm_test_host_migrate_begin(hosts->a, "mig", TO_B, MIGRATE_TIMEOUT_MS);
    if (!wait_crash(hosts->a, call)) {
        close(console);
        return;
    }
    /* Neither runs the guest now: the target waits for the source to decide. */
    target_has_it = podvm_test_host_has_pod(hosts->b, "mig");
    if (target_has_it) {
        g_autofree char *phase = podvm_test_daemon_phase(hosts->b->daemon, "mig");
        guint beats;

        g_test_message("the target's copy while the source is down: %s", phase);
        g_assert_cmpstr(phase, !=, "Running");
        log = podvm_test_daemon_console_log(hosts->b->daemon, "mig");
        beats = podvm_test_count_in_file(log, "PODVM-HEARTBEAT ");
        g_usleep(2 * G_USEC_PER_SEC);
        g_assert_cmpuint(podvm_test_count_in_file(log, "PODVM-HEARTBEAT "), ==, beats);
        target_has_it = podvm_test_host_has_pod(hosts->b, "mig");
    }
    podvm_test_host_restart(hosts->a);
    if (target_has_it) {
        g_test_message("the target had the whole stream: the restart finished there");
        podvm_test_hosts_check_moved(hosts, hosts->a, hosts->b, "mig", &before, console, "Running");
        close(console);
        return;
    }
    close(console);
    g_test_message("the stream's tail died with the source's podvmd: the target failed it");
    check_stayed(hosts, hosts->a, hosts->b, "mig", &before, 0, "Running", 60000);
    reason = status_string(hosts->a, "mig", "reason");
    message = status_string(hosts->a, "mig", "message");
    g_assert_cmpstr(reason, ==, "MigrationFailed");
    g_test_message("the source after its restart: %s", message);
}

/* ---- refused ------------------------------------------------------------------------------ */

/* No migration in the pod's status, or one that failed (with the message). */
static void
assert_no_migration(PodvmTestHost *host, const char *name)
{
    g_autoptr(JsonObject) state = podvm_test_host_migration_state(host, name);

    if (state != NULL) {
        g_assert_cmpstr(json_object_get_string_member_with_default(state, "phase", NULL), ==,
                        "failed");
        g_assert_nonnull(json_object_get_string_member_with_default(state, "message", NULL));
    }
}

/* The source is as it was: Running, the same QEMU; the target has nothing. */
static void
check_untouched(PodvmTestHosts *hosts, const PodvmTestWitness *before, int qemu_pid)
{
    podvm_test_host_wait_phase(hosts->a, "mig", "Running", 10000);
    assert_no_migration(hosts->a, "mig");
    check_stayed(hosts, hosts->a, hosts->b, "mig", before, qemu_pid, "Running", 10000);
}

/* A token the target does not take: 401, nothing starts. */
static void
test_wrong_token(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL, *message = NULL, *request = NULL, *token_file = NULL;
    g_autofree char *log = NULL;
    g_autoptr(GError) error = NULL;
    int qemu_pid;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, NULL);
    podvm_test_witness_read(hosts->a, "mig", &before);
    qemu_pid = host_qemu(hosts->a, before.uid);
    token_file = g_build_filename(hosts->a->dir, "wrong-token", NULL);
    g_file_set_contents(token_file, "not-the-token-of-host-b", -1, &error);
    g_assert_no_error(error);
    request = g_strdup_printf("{\"target\": \"%s\", \"tokenFile\": \"%s\", \"cacert\": \"%s\"}",
                              hosts->b->url, token_file, hosts->b->cacert_path);
    if (!expect_failure(podvm_test_host_migrate_begin(hosts->a, "mig", request, MIGRATE_TIMEOUT_MS),
                        &message))
        return;
    g_assert_true(strstr(message, "401") != NULL || strstr(message, "nauthorized") != NULL ||
                  strstr(message, "token") != NULL);
    check_untouched(hosts, &before, qemu_pid);
    g_file_get_contents(hosts->b->daemon->log_path, &log, NULL, NULL);
    g_assert_nonnull(strstr(log, "POST /v1/migrations from 198.51.100.1"));
    g_assert_nonnull(strstr(log, "missing or wrong bearer token"));
}

/* The target has a pod of that name already: 409, nothing starts, its pod is left alone. */
static void
test_name_taken(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL, *message = NULL, *spec = NULL, *other_uid = NULL;
    g_autofree char *phase_before = NULL, *phase_after = NULL;
    int qemu_pid;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, NULL);
    podvm_test_witness_read(hosts->a, "mig", &before);
    qemu_pid = host_qemu(hosts->a, before.uid);
    /* B's own "mig", created and not started. */
    spec = podvm_test_guest_spec("mig", NULL, NULL, 2);
    podvm_test_host_create_pod(hosts->b, spec);
    other_uid = podvm_test_host_pod_uid(hosts->b, "mig");
    g_assert_cmpstr(other_uid, !=, before.uid);
    phase_before = podvm_test_daemon_phase(hosts->b->daemon, "mig");
    if (!expect_failure(podvm_test_host_migrate_begin(hosts->a, "mig", TO_B, MIGRATE_TIMEOUT_MS),
                        &message))
        return;
    g_assert_true(strstr(message, "409") != NULL || strstr(message, "xists") != NULL);
    /* The source as it was. */
    podvm_test_host_wait_phase(hosts->a, "mig", "Running", 10000);
    {
        g_autoptr(GArray) pids = podvm_test_qemu_pids_with_uuid(before.uid);

        assert_no_migration(hosts->a, "mig");
        g_assert_cmpuint(pids->len, ==, 1);
        g_assert_cmpint(g_array_index(pids, int, 0), ==, qemu_pid);
    }
    /* B's pod as it was. */
    {
        g_autofree char *uid = podvm_test_host_pod_uid(hosts->b, "mig");
        g_autoptr(GArray) pids = podvm_test_qemu_pids_with_uuid(other_uid);

        g_assert_cmpstr(uid, ==, other_uid);
        phase_after = podvm_test_daemon_phase(hosts->b->daemon, "mig");
        g_assert_cmpstr(phase_after, ==, phase_before);
        g_assert_cmpuint(pids->len, ==, 0);
    }
}

int
main(int argc, char **argv)
{
    podvm_test_netns_enter(&podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/faults/kill-target-qemu", test_kill_target_qemu);
    g_test_add_func("/migration/faults/cut-link", test_cut_link);
    g_test_add_func("/migration/faults/source-crash-mid-copy", test_source_crash_mid_copy);
    g_test_add_func("/migration/faults/source-crash-after-completed",
                    test_source_crash_after_completed);
    g_test_add_func("/migration/faults/wrong-token", test_wrong_token);
    g_test_add_func("/migration/faults/name-taken", test_name_taken);
    return g_test_run();
}
