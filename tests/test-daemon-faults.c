/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Crash consistency: podvmd is stopped at a named step of create, start,
 * delete, attach and detach (PODVM_TEST_CRASH_AT, src/common/podvm-fault.h),
 * or a state write fails there as on a full disk (PODVM_TEST_FAIL_AT); then
 * a podvmd without the hook starts, and the test checks what a user cares
 * about: at most one QEMU with the pod's uid runs, the phase is honest, the
 * name is usable, delete leaves nothing behind, data survives a delete that
 * did not happen.
 */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define PHASE_TIMEOUT_MS 30000
#define KILLED_TIMEOUT_MS 30000
#define MIB (1024 * 1024)

typedef struct {
    PodvmTestDaemon *daemon;
    char *images;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new_for_storage(&f->images);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    if (f->images != NULL)
        podvm_test_rmrf(f->images);
    g_free(f->images);
}

/* ---- helpers ----------------------------------------------------------------- */

/* The test guest with one virtio disk on an emptyDisk volume "data". */
static char *
spec_with_empty_disk(const char *name)
{
    return podvm_test_guest_spec_with(
        name, NULL, "disks", "[{\"name\": \"data\", \"disk\": {\"bus\": \"virtio\"}}]", "volumes",
        "[{\"name\": \"data\", \"emptyDisk\": {\"capacity\": \"8Mi\"}}]");
}

static gboolean
create_pod(Fixture *f, const char *name, GError **error)
{
    g_autofree char *spec = spec_with_empty_disk(name);
    g_autofree char *path = NULL;

    return podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, error);
}

static gboolean
pod_exists(Fixture *f, const char *name)
{
    g_autofree char *path = NULL;

    return podvm_dbus_manager_call_get_pod_sync(f->daemon->manager, name, &path, NULL, NULL);
}

static gboolean
start_pod(Fixture *f, const char *name, GError **error)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);

    return podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, error);
}

static gboolean
delete_pod(Fixture *f, const char *name, GError **error)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);

    return podvm_dbus_pod_call_delete_sync(pod, TRUE, NULL, error);
}

/* The pod's uid, from its state file. */
static char *
pod_uid(Fixture *f, const char *name)
{
    g_autofree char *path = g_build_filename(f->daemon->state_dir, "pods", name, "pod.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonObject *pod;

    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    pod = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "pod");
    return g_strdup(
        json_object_get_string_member(json_object_get_object_member(pod, "metadata"), "uid"));
}

/* Live (not zombie) processes with "-uuid @uid" on their command line. */
static guint
count_qemus(const char *uid)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *name;
    guint count = 0;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *cmd_path = g_strdup_printf("/proc/%s/cmdline", name);
        g_autofree char *stat_path = g_strdup_printf("/proc/%s/stat", name);
        g_autofree char *cmdline = NULL;
        g_autofree char *stat = NULL;
        const char *state;
        gsize length = 0;

        if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(cmd_path, &cmdline, &length, NULL) ||
            !g_file_get_contents(stat_path, &stat, NULL, NULL))
            continue;
        state = strrchr(stat, ')');
        if (state == NULL || state[2] == 'Z' || state[2] == 'X')
            continue;
        for (gsize i = 0; i < length; i += strlen(cmdline + i) + 1) {
            gsize next = i + strlen(cmdline + i) + 1;
            if (strcmp(cmdline + i, "-uuid") == 0 && next < length &&
                strcmp(cmdline + next, uid) == 0) {
                count++;
                break;
            }
        }
    }
    return count;
}

/* Waits until exactly @expected QEMUs with @uid run (strays take a moment to go). */
static gboolean
wait_qemus(const char *uid, guint expected, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (count_qemus(uid) != expected) {
        if (g_get_monotonic_time() > deadline) {
            g_test_message("%u QEMU(s) with uuid %s, expected %u", count_qemus(uid), uid, expected);
            return FALSE;
        }
        g_usleep(50000);
    }
    return TRUE;
}

static char *
status_string(Fixture *f, const char *name, const char *member)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);

    return g_strdup(json_object_get_string_member_with_default(status, member, NULL));
}

/* Entries of state_dir/pods, sorted and joined with ",". */
static char *
pods_dir_entries(Fixture *f)
{
    g_autofree char *path = g_build_filename(f->daemon->state_dir, "pods", NULL);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)) != NULL)
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(",", (char **)names->pdata);
}

static char *
empty_disk_path(Fixture *f, const char *name)
{
    return g_build_filename(f->daemon->state_dir, "pods", name, "volumes", "data.qcow2", NULL);
}

/* Restarts podvmd with @variable=@point set. */
static void
restart_with(Fixture *f, const char *variable, const char *point)
{
    podvm_test_daemon_stop(f->daemon);
    podvm_test_daemon_setenv(f->daemon, variable, point);
    podvm_test_daemon_start(f->daemon);
}

/* @call failed because podvmd died at the crash point; start it again without the hook. */
static void
expect_crash_then_restart(Fixture *f, gboolean call_ok, GError *call_error)
{
    g_assert_false(call_ok);
    g_assert_nonnull(call_error);
    g_assert_true(podvm_test_daemon_wait_killed(f->daemon, KILLED_TIMEOUT_MS));
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", NULL);
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_FAIL_AT", NULL);
    podvm_test_daemon_start(f->daemon);
}

/* The name works again: delete leaves no QEMU and no files; a new pod of that name starts. */
static void
assert_name_usable(Fixture *f, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uid = NULL;
    g_autofree char *dir = g_build_filename(f->daemon->state_dir, "pods", name, NULL);

    if (pod_exists(f, name)) {
        uid = pod_uid(f, name);
        delete_pod(f, name, &error);
        g_assert_no_error(error);
        g_assert_true(wait_qemus(uid, 0, 5000));
        g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
        g_clear_pointer(&uid, g_free);
    }
    create_pod(f, name, &error);
    g_assert_no_error(error);
    uid = pod_uid(f, name);
    start_pod(f, name, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(count_qemus(uid), ==, 1);
    delete_pod(f, name, &error);
    g_assert_no_error(error);
    g_assert_true(wait_qemus(uid, 0, 5000));
    g_assert_false(pod_exists(f, name));
    g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
}

/* ---- create ------------------------------------------------------------------ */

static void
test_create_crash(Fixture *f, gconstpointer data)
{
    const char *point = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *entries = NULL;
    gboolean ok;

    if (f->daemon == NULL)
        return;
    restart_with(f, "PODVM_TEST_CRASH_AT", point);
    ok = create_pod(f, "fresh", &error);
    expect_crash_then_restart(f, ok, error);

    /* The create was never answered: no pod, and nothing on disk in its way. */
    g_assert_false(pod_exists(f, "fresh"));
    entries = pods_dir_entries(f);
    g_assert_cmpstr(entries, ==, "");
    assert_name_usable(f, "fresh");
}

/* A pod directory without pod.json (an older podvmd died in its create) does not hold the name. */
static void
test_create_leftover_dir(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = NULL;
    g_autofree char *tmp = NULL;

    if (f->daemon == NULL)
        return;
    podvm_test_daemon_stop(f->daemon);
    dir = g_build_filename(f->daemon->state_dir, "pods", "stuck", NULL);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    tmp = g_build_filename(dir, "pod.json.tmp", NULL);
    g_assert_true(g_file_set_contents(tmp, "{\"pod\":", -1, NULL));
    podvm_test_daemon_start(f->daemon);
    g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
    assert_name_usable(f, "stuck");
}

/* ---- start ------------------------------------------------------------------- */

static void
test_start_crash(Fixture *f, gconstpointer data)
{
    const char *point = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *uid = NULL;
    g_autofree char *phase = NULL;
    g_autofree char *message = NULL;
    gboolean ok;

    if (f->daemon == NULL)
        return;
    create_pod(f, "starter", &error);
    g_assert_no_error(error);
    uid = pod_uid(f, "starter");
    restart_with(f, "PODVM_TEST_CRASH_AT", point);
    ok = start_pod(f, "starter", &error);
    expect_crash_then_restart(f, ok, error);

    /* QEMU started paused and was never resumed: ended, not adopted; no duplicate. */
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "starter", "Failed", PHASE_TIMEOUT_MS));
    g_assert_true(wait_qemus(uid, 0, 10000));
    phase = status_string(f, "starter", "reason");
    g_assert_cmpstr(phase, ==, "StartInterrupted");
    message = status_string(f, "starter", "message");
    g_test_message("status: %s", message);
    g_assert_nonnull(strstr(message, "interrupted by a podvmd restart"));
    if (g_str_equal(point, "start:after-spawn"))
        g_assert_nonnull(strstr(message, "was ended"));

    /* It starts again, with exactly one QEMU; a forced delete leaves none. */
    g_clear_error(&error);
    start_pod(f, "starter", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(count_qemus(uid), ==, 1);
    delete_pod(f, "starter", &error);
    g_assert_no_error(error);
    g_assert_true(wait_qemus(uid, 0, 5000));
    assert_name_usable(f, "starter");
}

/* A start whose state cannot be written fails and leaves no QEMU (a full state disk). */
static void
test_start_state_unwritable(Fixture *f, gconstpointer data)
{
    const char *point = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *uid = NULL;
    g_autofree char *phase = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "full", &error);
    g_assert_no_error(error);
    uid = pod_uid(f, "full");
    restart_with(f, "PODVM_TEST_FAIL_AT", point);
    g_assert_false(start_pod(f, "full", &error));
    g_assert_nonnull(error);
    g_test_message("start: %s", error->message);
    g_assert_nonnull(strstr(error->message, "cannot store"));
    if (g_str_equal(point, "start:after-spawn"))
        g_assert_nonnull(strstr(error->message, "could not be recorded"));
    g_assert_true(wait_qemus(uid, 0, 5000));
    phase = podvm_test_daemon_phase(f->daemon, "full");
    g_assert_cmpstr(phase, ==, "Failed");

    /* And after a restart: still no QEMU, and the pod starts once there is space. */
    podvm_test_daemon_kill9(f->daemon);
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_FAIL_AT", NULL);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(wait_qemus(uid, 0, 5000));
    g_clear_pointer(&phase, g_free);
    phase = podvm_test_daemon_phase(f->daemon, "full");
    g_assert_cmpstr(phase, !=, "Running");
    g_clear_error(&error);
    start_pod(f, "full", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(count_qemus(uid), ==, 1);
}

/* ---- delete ------------------------------------------------------------------ */

static void
test_delete_crash(Fixture *f, gconstpointer data)
{
    const char *point = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *uid = NULL;
    g_autofree char *image = NULL;
    g_autofree char *entries = NULL;
    gboolean ok;

    if (f->daemon == NULL)
        return;
    create_pod(f, "doomed", &error);
    g_assert_no_error(error);
    uid = pod_uid(f, "doomed");
    start_pod(f, "doomed", &error);
    g_assert_no_error(error);
    image = empty_disk_path(f, "doomed");
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS));
    restart_with(f, "PODVM_TEST_CRASH_AT", point);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "doomed", "Running", PHASE_TIMEOUT_MS));
    ok = delete_pod(f, "doomed", &error);
    expect_crash_then_restart(f, ok, error);

    /* The delete was recorded before anything went: the restart finishes it. */
    g_assert_true(wait_qemus(uid, 0, 10000));
    {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (pod_exists(f, "doomed") && g_get_monotonic_time() < deadline)
            g_usleep(50000);
    }
    g_assert_false(pod_exists(f, "doomed"));
    entries = pods_dir_entries(f);
    g_assert_cmpstr(entries, ==, "");
    assert_name_usable(f, "doomed");
}

/* A delete that cannot be recorded does not happen: the pod, its QEMU and its data stay. */
static void
test_delete_unrecorded_keeps_data(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uid = NULL;
    g_autofree char *image = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "kept", &error);
    g_assert_no_error(error);
    uid = pod_uid(f, "kept");
    start_pod(f, "kept", &error);
    g_assert_no_error(error);
    restart_with(f, "PODVM_TEST_FAIL_AT", "delete:mark");
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "kept", "Running", PHASE_TIMEOUT_MS));
    g_assert_false(delete_pod(f, "kept", &error));
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, "cannot mark it for deletion"));
    g_assert_true(pod_exists(f, "kept"));
    image = empty_disk_path(f, "kept");
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(count_qemus(uid), ==, 1);

    /* Also across a kill -9: the pod comes back running, with its data. */
    podvm_test_daemon_kill9(f->daemon);
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_FAIL_AT", NULL);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "kept", "Running", PHASE_TIMEOUT_MS));
    g_assert_true(g_file_test(image, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(count_qemus(uid), ==, 1);
}

/* A QEMU with the pod's uid that podvmd does not know of (say, a lost record): delete ends it. */
static void
test_delete_ends_unknown_qemu(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *uid = NULL;
    gboolean ok;

    if (f->daemon == NULL)
        return;
    create_pod(f, "ghost", &error);
    g_assert_no_error(error);
    uid = pod_uid(f, "ghost");
    /* podvmd dies after the spawn, before the record: the QEMU is known to no file. */
    restart_with(f, "PODVM_TEST_CRASH_AT", "start:after-spawn");
    ok = start_pod(f, "ghost", &error);
    g_assert_false(ok);
    g_clear_error(&error);
    g_assert_true(podvm_test_daemon_wait_killed(f->daemon, KILLED_TIMEOUT_MS));
    g_assert_cmpuint(count_qemus(uid), ==, 1);
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", NULL);
    podvm_test_daemon_start(f->daemon);
    /* Whether the start-up scan or the delete gets it first, none is left. */
    delete_pod(f, "ghost", &error);
    g_assert_no_error(error);
    g_assert_true(wait_qemus(uid, 0, 10000));
    g_assert_false(pod_exists(f, "ghost"));
}

/* ---- attach, detach ------------------------------------------------------------ */

static const char *const hot_attachment =
    "{\"disk\": {\"name\": \"hot\", \"disk\": {\"bus\": \"virtio\"}},"
    " \"volume\": {\"name\": \"hot\", \"emptyDisk\": {\"capacity\": \"4Mi\"}}}";

static void
test_hotplug_crash(Fixture *f, gconstpointer data)
{
    const char *point = data;
    gboolean attach = g_str_has_prefix(point, "attach:");
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *uid = NULL;
    g_autofree char *log = NULL;
    gboolean ok;

    if (f->daemon == NULL)
        return;
    create_pod(f, "hp", &error);
    g_assert_no_error(error);
    uid = pod_uid(f, "hp");
    start_pod(f, "hp", &error);
    g_assert_no_error(error);
    log = podvm_test_daemon_console_log(f->daemon, "hp");
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-GUEST-READY", 90000));
    if (!attach) {
        pod = podvm_test_daemon_pod(f->daemon, "hp");
        podvm_dbus_pod_call_attach_disk_sync(pod, hot_attachment, NULL, &error);
        g_assert_no_error(error);
        g_clear_object(&pod);
    }
    restart_with(f, "PODVM_TEST_CRASH_AT", point);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "hp", "Running", PHASE_TIMEOUT_MS));
    pod = podvm_test_daemon_pod(f->daemon, "hp");
    if (attach)
        ok = podvm_dbus_pod_call_attach_disk_sync(pod, hot_attachment, NULL, &error);
    else
        ok = podvm_dbus_pod_call_detach_disk_sync(pod, "hot", NULL, &error);
    g_clear_object(&pod);
    expect_crash_then_restart(f, ok, error);

    /* The guest runs on, adopted: same one QEMU, Running, still under control. */
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "hp", "Running", PHASE_TIMEOUT_MS));
    g_assert_cmpuint(count_qemus(uid), ==, 1);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "pause", "hp", NULL), ==, 0);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "resume", "hp", NULL), ==, 0);
    assert_name_usable(f, "hp");
}

/* ---- after a restart: QMP waits for the adoption; an adopted QEMU's end is told ---- */

static void
boot_and_restart(Fixture *f, const char *name, char **out_uid)
{
    g_autoptr(GError) error = NULL;

    create_pod(f, name, &error);
    g_assert_no_error(error);
    *out_uid = pod_uid(f, name);
    start_pod(f, name, &error);
    g_assert_no_error(error);
    podvm_test_daemon_kill9(f->daemon);
}

static void
test_qmp_waits_for_adoption(Fixture *f, gconstpointer data)
{
    g_autofree char *uid = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status;

    if (f->daemon == NULL)
        return;
    boot_and_restart(f, "early", &uid);
    /* The adoption takes a second longer than usual: a QMP call in that second waits. */
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_DELAY_AT", "reconcile:before-connect");
    podvm_test_daemon_start(f->daemon);
    status = podvm_test_ctl(f->daemon, &out, &err, "qmp", "early",
                            "{\"execute\": \"query-status\"}", NULL);
    g_test_message("qmp: %s%s", out, err);
    g_assert_cmpint(status, ==, 0);
    g_assert_nonnull(strstr(out, "running"));
    g_assert_cmpuint(count_qemus(uid), ==, 1);
}

static void
test_adopted_qemu_exit_reported(Fixture *f, gconstpointer data)
{
    g_autofree char *uid_a = NULL;
    g_autofree char *uid_b = NULL;
    g_autofree char *message = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autoptr(GError) error = NULL;
    int pid;

    if (f->daemon == NULL)
        return;
    create_pod(f, "sigterm", &error);
    g_assert_no_error(error);
    uid_b = pod_uid(f, "sigterm");
    start_pod(f, "sigterm", &error);
    g_assert_no_error(error);
    boot_and_restart(f, "sigkill", &uid_a);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "sigkill", "Running", PHASE_TIMEOUT_MS));
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "sigterm", "Running", PHASE_TIMEOUT_MS));

    /* SIGKILL: QEMU says nothing; the status says the cause is unknown, and why. */
    status = podvm_test_daemon_status(f->daemon, "sigkill");
    pid = (int)json_object_get_int_member(status, "qemuPid");
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "sigkill", "Failed", PHASE_TIMEOUT_MS));
    message = status_string(f, "sigkill", "message");
    g_test_message("after SIGKILL: %s", message);
    g_assert_nonnull(strstr(message, "exit status unknown: QEMU was not started by this podvmd"));
    g_clear_pointer(&message, g_free);

    /* SIGTERM: QEMU's own SHUTDOWN event names the cause. */
    g_clear_pointer(&status, json_object_unref);
    status = podvm_test_daemon_status(f->daemon, "sigterm");
    pid = (int)json_object_get_int_member(status, "qemuPid");
    g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "sigterm", "Failed", PHASE_TIMEOUT_MS));
    message = status_string(f, "sigterm", "message");
    g_test_message("after SIGTERM: %s", message);
    g_assert_nonnull(strstr(message, "host-signal"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, data, fn) g_test_add(path, Fixture, data, fixture_setup, fn, fixture_teardown)
    ADD("/podvm/faults/create/after-mkdir", "create:after-mkdir", test_create_crash);
    ADD("/podvm/faults/create/after-write", "create:after-write", test_create_crash);
    ADD("/podvm/faults/create/leftover-dir", NULL, test_create_leftover_dir);
    ADD("/podvm/faults/start/before-spawn", "start:before-spawn", test_start_crash);
    ADD("/podvm/faults/start/after-spawn", "start:after-spawn", test_start_crash);
    ADD("/podvm/faults/start/after-record", "start:after-record", test_start_crash);
    ADD("/podvm/faults/start/intent-unwritable", "start:before-spawn", test_start_state_unwritable);
    ADD("/podvm/faults/start/pid-unwritable", "start:after-spawn", test_start_state_unwritable);
    ADD("/podvm/faults/delete/after-mark", "delete:after-mark", test_delete_crash);
    ADD("/podvm/faults/delete/after-release", "delete:after-release", test_delete_crash);
    ADD("/podvm/faults/delete/unrecorded-keeps-data", NULL, test_delete_unrecorded_keeps_data);
    ADD("/podvm/faults/delete/ends-unknown-qemu", NULL, test_delete_ends_unknown_qemu);
    ADD("/podvm/faults/attach/after-blockdev-add", "attach:after-blockdev-add", test_hotplug_crash);
    ADD("/podvm/faults/detach/after-device-del", "detach:after-device-del", test_hotplug_crash);
    ADD("/podvm/faults/qmp-waits-for-adoption", NULL, test_qmp_waits_for_adoption);
    ADD("/podvm/faults/adopted-qemu-exit-reported", NULL, test_adopted_qemu_exit_reported);
#undef ADD
    return g_test_run();
}
