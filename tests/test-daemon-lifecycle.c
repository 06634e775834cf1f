/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * End to end: podvmd on a private bus boots the test guest under real QEMU
 * (TCG) and is driven through D-Bus and podvmctl.
 */
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 90000

typedef struct {
    PodvmTestDaemon *daemon;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new();
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    podvm_test_daemon_free(f->daemon);
}

static void
create_pod(Fixture *f, const char *name, const char *extra_args, const char *policy, int grace)
{
    g_autofree char *spec = podvm_test_guest_spec(name, extra_args, policy, grace);
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(g_str_has_prefix(path, "/io/podvm/PodVM1/pod/"));
}

static void
start_pod(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
}

static void
boot_pod(Fixture *f, const char *name, const char *extra_args, const char *policy, int grace)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);
    g_autofree char *phase = NULL;

    create_pod(f, name, extra_args, policy, grace);
    start_pod(f, name);
    phase = podvm_test_daemon_phase(f->daemon, name);
    g_assert_cmpstr(phase, ==, "Running");
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-GUEST-READY", BOOT_TIMEOUT_MS));
}

#define assert_phase(f, name, expected)                                             \
    G_STMT_START                                                                    \
        {                                                                           \
            g_autofree char *phase_ = podvm_test_daemon_phase((f)->daemon, (name)); \
            g_assert_cmpstr(phase_, ==, (expected));                                \
        }                                                                           \
    G_STMT_END

static int
qemu_pid_of(Fixture *f, const char *name)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);

    return (int)json_object_get_int_member_with_default(status, "qemuPid", 0);
}

/* Alive and not a zombie (an adopted QEMU is reaped by whoever is init here). */
static gboolean
process_alive(int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *stat = NULL;
    const char *state;

    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL))
        return FALSE;
    state = strrchr(stat, ')');
    return state != NULL && state[1] == ' ' && state[2] != 'Z' && state[2] != 'X';
}

/* Waits until @needle appears @count times in @path. */
static gboolean
wait_for_count(const char *path, const char *needle, guint count, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (podvm_test_count_in_file(path, needle) < count) {
        if (g_get_monotonic_time() > deadline)
            return FALSE;
        g_usleep(20000);
    }
    return TRUE;
}

/* Heartbeats seen so far in the console log. */
static guint
heartbeats(Fixture *f, const char *name)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);

    return podvm_test_count_in_file(log, "PODVM-HEARTBEAT");
}

static void
test_boot_and_show(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonObject *doc, *status;
    int pid;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "tiny", NULL, NULL, 30);
    pid = qemu_pid_of(f, "tiny");
    g_assert_true(process_alive(pid));

    /* podvmctl list: a table with the pod Running. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "list", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "tiny"));
    g_assert_nonnull(strstr(out, "Running"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* podvmctl show -o json: metadata, spec and status as in docs/pod-format.md. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "show", "tiny", "-o", "json", NULL), ==,
                    0);
    json_parser_load_from_data(parser, out, -1, &error);
    g_assert_no_error(error);
    doc = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(
        json_object_get_string_member(json_object_get_object_member(doc, "metadata"), "name"), ==,
        "tiny");
    g_assert_true(json_object_has_member(doc, "spec"));
    status = json_object_get_object_member(doc, "status");
    g_assert_cmpstr(json_object_get_string_member(status, "phase"), ==, "Running");
    g_assert_cmpint(json_object_get_int_member(status, "qemuPid"), ==, pid);
    g_assert_true(json_object_has_member(status, "startedAt"));
    g_clear_pointer(&out, g_free);

    /* podvmctl logs: the console log, with the guest's marker. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "logs", "tiny", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "PODVM-GUEST-READY"));
    g_clear_pointer(&out, g_free);

    /* podvmctl qmp: the expert passthrough reaches QEMU. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "qmp", "tiny",
                                   "{\"execute\": \"query-status\"}", NULL),
                    ==, 0);
    g_assert_nonnull(strstr(out, "running"));
}

static void
test_pause_resume(Fixture *f, gconstpointer data)
{
    guint before, after;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "pr", NULL, NULL, 30);
    {
        g_autofree char *log = podvm_test_daemon_console_log(f->daemon, "pr");
        g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-HEARTBEAT 2", 20000));
    }

    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "pause", "pr", NULL), ==, 0);
    assert_phase(f, "pr", "Paused");
    g_usleep(300000); /* a heartbeat already on its way may still land */
    before = heartbeats(f, "pr");
    g_usleep(2500000);
    after = heartbeats(f, "pr");
    g_assert_cmpuint(after, ==, before);

    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "resume", "pr", NULL), ==, 0);
    assert_phase(f, "pr", "Running");
    g_usleep(3000000);
    g_assert_cmpuint(heartbeats(f, "pr"), >, after);

    /* Resume of a running pod is a no-op; pause of a stopped pod is refused. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "resume", "pr", NULL), ==, 0);
}

static void
test_graceful_stop(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autofree char *log = NULL;
    gint64 begin, elapsed_ms;
    int pid;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "gs", NULL, NULL, 30);
    log = podvm_test_daemon_console_log(f->daemon, "gs");
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-HEARTBEAT 1", 20000));
    pid = qemu_pid_of(f, "gs");
    pod = podvm_test_daemon_pod(f->daemon, "gs");

    begin = g_get_monotonic_time();
    podvm_dbus_pod_call_stop_sync(pod, -1, NULL, &error);
    g_assert_no_error(error);
    elapsed_ms = (g_get_monotonic_time() - begin) / 1000;
    g_test_message("graceful stop took %" G_GINT64_FORMAT " ms", elapsed_ms);

    g_assert_cmpint(elapsed_ms, <, 30000);
    assert_phase(f, "gs", "Stopped");
    /* The guest powered itself off: by the ACPI button, or through its guest agent when that
     * had connected by then (test-daemon-agent tells the two apart). */
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-GUEST-POWEROFF", 1000) ||
                  podvm_test_wait_for_file_content(log, "PODVM-AGENT-SHUTDOWN", 1000));
    g_assert_false(process_alive(pid));
    status = podvm_test_daemon_status(f->daemon, "gs");
    g_assert_false(json_object_has_member(status, "qemuPid"));

    /* A stopped pod has nothing to stop: a clear error, exit code 1. */
    {
        g_autofree char *err = NULL;
        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "stop", "gs", NULL), ==, 1);
        g_assert_nonnull(strstr(err, "Stopped"));
    }
    /* And it starts again. */
    start_pod(f, "gs");
    assert_phase(f, "gs", "Running");

    /* restart: a graceful stop and a start, with a new QEMU (once the guest is up again). */
    pid = qemu_pid_of(f, "gs");
    g_assert_true(wait_for_count(log, "PODVM-GUEST-READY", 2, BOOT_TIMEOUT_MS));
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "restart", "gs", NULL), ==, 0);
    assert_phase(f, "gs", "Running");
    g_assert_cmpint(qemu_pid_of(f, "gs"), !=, pid);
    g_assert_false(process_alive(pid));
}

static void
test_guest_exit_on_failure_policy(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonObject) status = NULL;

    if (f->daemon == NULL)
        return;
    /* The guest powers itself off: Succeeded, and OnFailure does not restart it. */
    create_pod(f, "done", "podvm.exit=0", "OnFailure", 30);
    start_pod(f, "done");
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "done", "Succeeded", BOOT_TIMEOUT_MS));
    g_usleep(1500000);
    status = podvm_test_daemon_status(f->daemon, "done");
    g_assert_cmpstr(json_object_get_string_member(status, "phase"), ==, "Succeeded");
    g_assert_cmpstr(json_object_get_string_member(status, "reason"), ==, "GuestShutdown");
    g_assert_cmpint(json_object_get_int_member(status, "restartCount"), ==, 0);
}

static void
test_stop_ignored_powerdown(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *daemon_log = NULL;
    gint64 begin, elapsed_ms;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "deaf", "podvm.ignore_powerdown=1", NULL, 2);
    pod = podvm_test_daemon_pod(f->daemon, "deaf");

    begin = g_get_monotonic_time();
    podvm_dbus_pod_call_stop_sync(pod, -1, NULL, &error);
    g_assert_no_error(error);
    elapsed_ms = (g_get_monotonic_time() - begin) / 1000;
    g_test_message("stop of a guest ignoring ACPI took %" G_GINT64_FORMAT " ms", elapsed_ms);
    g_assert_cmpint(elapsed_ms, >=, 2000);
    g_assert_cmpint(elapsed_ms, <, 15000);
    assert_phase(f, "deaf", "Stopped");
    g_file_get_contents(f->daemon->log_path, &daemon_log, NULL, NULL);
    g_assert_nonnull(strstr(daemon_log, "did not power off within the grace period"));
}

static void
test_qemu_sigkill_restart_policy(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonObject) status = NULL;
    int pid, pid2;
    gint64 killed_at, failed_ms;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "crash", NULL, "Always", 30);
    pid = qemu_pid_of(f, "crash");
    killed_at = g_get_monotonic_time();
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "crash", "Failed", 5000));
    failed_ms = (g_get_monotonic_time() - killed_at) / 1000;
    g_test_message("SIGKILL to Failed: %" G_GINT64_FORMAT " ms", failed_ms);
    g_assert_cmpint(failed_ms, <, 1000);
    status = podvm_test_daemon_status(f->daemon, "crash");
    g_assert_nonnull(strstr(json_object_get_string_member(status, "message"), "signal 9"));

    /* restartPolicy Always: it comes back (after the first back-off, 1 s). */
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "crash", "Running", 30000));
    g_clear_pointer(&status, json_object_unref);
    status = podvm_test_daemon_status(f->daemon, "crash");
    g_assert_cmpint(json_object_get_int_member(status, "restartCount"), ==, 1);
    pid2 = qemu_pid_of(f, "crash");
    g_assert_cmpint(pid2, !=, pid);
    g_assert_true(process_alive(pid2));
}

static void
test_daemon_restart_keeps_pods(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    int pid_a, pid_b;
    guint beats;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "keep-a", NULL, NULL, 30);
    boot_pod(f, "keep-b", NULL, NULL, 30);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "pause", "keep-b", NULL), ==, 0);
    pid_a = qemu_pid_of(f, "keep-a");
    pid_b = qemu_pid_of(f, "keep-b");

    podvm_test_daemon_kill9(f->daemon);
    g_assert_true(process_alive(pid_a));
    g_assert_true(process_alive(pid_b));
    podvm_test_daemon_start(f->daemon);

    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "keep-a", "Running", 10000));
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "keep-b", "Paused", 10000));
    g_assert_cmpint(qemu_pid_of(f, "keep-a"), ==, pid_a);
    g_assert_cmpint(qemu_pid_of(f, "keep-b"), ==, pid_b);

    /* A clean SIGTERM of podvmd leaves them running too. */
    podvm_test_daemon_stop(f->daemon);
    g_assert_true(process_alive(pid_a));
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "keep-a", "Running", 10000));
    g_assert_cmpint(qemu_pid_of(f, "keep-a"), ==, pid_a);

    /* Still under control: resume, then a graceful stop. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "resume", "keep-b", NULL), ==, 0);
    beats = heartbeats(f, "keep-b");
    g_usleep(2500000);
    g_assert_cmpuint(heartbeats(f, "keep-b"), >, beats);
    pod = podvm_test_daemon_pod(f->daemon, "keep-a");
    podvm_dbus_pod_call_stop_sync(pod, -1, NULL, &error);
    g_assert_no_error(error);
    assert_phase(f, "keep-a", "Stopped");
    g_assert_false(process_alive(pid_a));
}

static void
test_qemu_died_while_daemon_down(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonObject) status = NULL;
    int pid;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "orphan", NULL, NULL, 30);
    pid = qemu_pid_of(f, "orphan");
    podvm_test_daemon_kill9(f->daemon);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    g_usleep(200000);
    podvm_test_daemon_start(f->daemon);

    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "orphan", "Failed", 10000));
    status = podvm_test_daemon_status(f->daemon, "orphan");
    g_assert_nonnull(
        strstr(json_object_get_string_member(status, "message"), "exited while podvmd was down"));
}

static void
test_start_failure_reports_qemu_error(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autofree char *path = NULL;
    g_autofree char *err = NULL;
    g_autofree char *missing =
        g_build_filename(f->daemon ? f->daemon->tmpdir : "/", "no-kernel", NULL);

    if (f->daemon == NULL)
        return;
    spec = podvm_test_guest_spec("broken", NULL, NULL, 5);
    /*
     * Point the kernel at a file that is no kernel, in a directory podvmd
     * takes kernels from: podvmd opens it, QEMU refuses it and exits at once.
     */
    g_assert_true(g_file_set_contents(missing, "this is not a kernel\n", -1, NULL));
    {
        g_autofree char *kernel = podvm_test_guest_kernel();
        g_autoptr(GString) s = g_string_new(spec);
        g_string_replace(s, kernel, missing, 1);
        g_free(spec);
        spec = g_string_free(g_steal_pointer(&s), FALSE);
    }
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_test_daemon_pod(f->daemon, "broken");
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_nonnull(error);
    {
        g_autofree char *name = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(name, ==, "io.podvm.PodVM1.Error.QemuError");
    }
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "broken", "Failed", 5000));
    status = podvm_test_daemon_status(f->daemon, "broken");
    g_assert_cmpstr(json_object_get_string_member(status, "reason"), ==, "StartFailed");
    /* The tail of QEMU's stderr says what was wrong. */
    g_assert_nonnull(strstr(json_object_get_string_member(status, "message"), "kernel"));

    /* restartPolicy Never: no retry storm. */
    g_usleep(1500000);
    g_clear_pointer(&status, json_object_unref);
    status = podvm_test_daemon_status(f->daemon, "broken");
    g_assert_cmpstr(json_object_get_string_member(status, "phase"), ==, "Failed");
    g_assert_cmpint(json_object_get_int_member(status, "restartCount"), ==, 0);

    /* podvmctl start says the same in one line. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "start", "broken", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "kernel"));
}

static void
test_bad_specs(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autofree char *file = NULL;
    g_autofree char *err = NULL;
    g_autofree char *pods_dir = NULL;
    g_autoptr(GDir) dir = NULL;
    const char *bad =
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
        "\"../../etc\"}, \"spec\": {\"domain\": {\"cpu\": {\"cores\": \"two\"}}, "
        "\"bogus\": 1}}";

    if (f->daemon == NULL)
        return;
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, bad, &path, NULL, &error);
    g_assert_nonnull(error);
    g_assert_true(g_dbus_error_is_remote_error(error));
    {
        g_autofree char *name = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(name, ==, "io.podvm.PodVM1.Error.InvalidSpec");
    }
    /* Every problem at once, each with its path. */
    g_assert_nonnull(strstr(error->message, "metadata.name"));
    g_assert_nonnull(strstr(error->message, "spec.domain.cpu.cores"));
    g_assert_nonnull(strstr(error->message, "spec.bogus"));

    /* The same through podvmctl: one clear error, exit code 1, nothing created. */
    file = g_build_filename(f->daemon->tmpdir, "bad.json", NULL);
    g_assert_true(g_file_set_contents(file, bad, -1, NULL));
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "create", "-f", file, NULL), ==, 1);
    g_assert_nonnull(strstr(err, "metadata.name"));
    pods_dir = g_build_filename(f->daemon->state_dir, "pods", NULL);
    dir = g_dir_open(pods_dir, 0, NULL);
    g_assert_nonnull(dir);
    g_assert_null(g_dir_read_name(dir));
}

static void
test_ctl_errors(Fixture *f, gconstpointer data)
{
    g_autofree char *err = NULL;

    if (f->daemon == NULL)
        return;
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "start", "nope", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "not found"));
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "frobnicate", NULL), ==, 2);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "start", NULL), ==, 2);
}

static void
test_delete(Fixture *f, gconstpointer data)
{
    g_autofree char *err = NULL;
    g_autofree char *state = NULL;
    int pid;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "gone", NULL, NULL, 30);
    pid = qemu_pid_of(f, "gone");
    /* Refused while running... */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "delete", "gone", NULL), ==, 1);
    g_assert_nonnull(strstr(err, "Running"));
    g_assert_true(process_alive(pid));
    /* ...unless forced. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "delete", "gone", "--force", NULL), ==,
                    0);
    g_assert_false(process_alive(pid));
    state = g_build_filename(f->daemon->state_dir, "pods", "gone", NULL);
    g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "show", "gone", NULL), ==, 1);
}

/* ---- podvmctl as a long-running child (console, run, events) ---------- */

typedef struct {
    GSubprocess *process;
    GOutputStream *in;
    GInputStream *out;
    GString *seen;
} CtlChild;

static CtlChild *
ctl_child_spawn(Fixture *f, const char *const *args)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    CtlChild *child = g_new0(CtlChild, 1);

    g_ptr_array_add(argv, (gpointer)g_getenv("PODVMCTL"));
    g_ptr_array_add(argv, "--session");
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(f->daemon->bus), TRUE);
    child->process =
        g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    child->in = g_subprocess_get_stdin_pipe(child->process);
    child->out = g_subprocess_get_stdout_pipe(child->process);
    child->seen = g_string_new(NULL);
    return child;
}

/* Reads the child's output until @needle shows up (TRUE) or @timeout_ms passes. */
static gboolean
ctl_child_expect(CtlChild *child, const char *needle, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int fd = g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(child->out));

    while (strstr(child->seen->str, needle) == NULL) {
        gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char buf[4096];
        gssize n;

        if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) <= 0)
            return FALSE;
        n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return strstr(child->seen->str, needle) != NULL;
        g_string_append_len(child->seen, buf, n);
    }
    return TRUE;
}

static void
ctl_child_write(CtlChild *child, const char *text)
{
    g_autoptr(GError) error = NULL;

    g_output_stream_write_all(child->in, text, strlen(text), NULL, NULL, &error);
    g_assert_no_error(error);
    g_output_stream_flush(child->in, NULL, NULL);
}

static void
child_exited_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    gboolean *done = user_data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    *done = TRUE;
}

/* Waits up to @timeout_ms for the child to exit (then kills it); its exit status or -1. */
static int
ctl_child_finish(CtlChild *child, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gboolean done = FALSE;
    int status = -1;

    g_subprocess_wait_async(child->process, NULL, child_exited_cb, &done);
    while (!done && g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(10000);
    }
    if (!done) {
        g_subprocess_force_exit(child->process);
        while (!done)
            g_main_context_iteration(NULL, TRUE);
    } else if (g_subprocess_get_if_exited(child->process)) {
        status = g_subprocess_get_exit_status(child->process);
    }
    g_object_unref(child->process);
    g_string_free(child->seen, TRUE);
    g_free(child);
    return status;
}

/*
 * podvmctl logs -f ends by the rule REST's log?follow=true ends by: it
 * follows while the pod has QEMU and ends once the pod is down and its
 * log complete (it used to go on until Ctrl-c).
 */
static void
test_logs_follow_ends(Fixture *f, gconstpointer data)
{
    const char *args[] = { "logs", "-f", "lfe", NULL };
    CtlChild *logs;

    if (f->daemon == NULL)
        return;
    create_pod(f, "lfe", NULL, NULL, 1);
    start_pod(f, "lfe");
    logs = ctl_child_spawn(f, args);
    g_usleep(1500000);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_nonnull(g_subprocess_get_identifier(logs->process)); /* still following */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "kill", "lfe", NULL), ==, 0);
    g_assert_cmpint(ctl_child_finish(logs, 10000), ==, 0);
}

static void
test_console(Fixture *f, gconstpointer data)
{
    const char *args[] = { "console", "con", NULL };
    CtlChild *child;

    if (f->daemon == NULL)
        return;
    boot_pod(f, "con", NULL, NULL, 30);
    child = ctl_child_spawn(f, args);
    /* The replay shows what the guest printed before we attached. */
    g_assert_true(ctl_child_expect(child, "PODVM-GUEST-READY", 10000));
    /* Started without --debug: the kernel's boot messages are not shown. */
    g_assert_null(strstr(child->seen->str, "Linux version"));
    /* Input reaches the guest, and its answer comes back. */
    ctl_child_write(child, "hello-from-podvmctl\n");
    g_assert_true(ctl_child_expect(child, "PODVM-ECHO hello-from-podvmctl", 10000));
    /* Ctrl-] leaves; the pod keeps running. */
    ctl_child_write(child, "\x1d");
    g_assert_cmpint(ctl_child_finish(child, 5000), ==, 0);
    assert_phase(f, "con", "Running");
    /* Two readers at once both see the guest. */
    {
        CtlChild *a = ctl_child_spawn(f, args);
        CtlChild *b = ctl_child_spawn(f, args);
        g_assert_true(ctl_child_expect(a, "PODVM-HEARTBEAT", 10000));
        g_assert_true(ctl_child_expect(b, "PODVM-HEARTBEAT", 10000));
        ctl_child_write(a, "\x01x"); /* Ctrl-a x */
        ctl_child_write(b, "\x1d");
        g_assert_cmpint(ctl_child_finish(a, 5000), ==, 0);
        g_assert_cmpint(ctl_child_finish(b, 5000), ==, 0);
    }
}

static void
test_run_debug_and_events(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = podvm_test_guest_spec("runner", NULL, NULL, 30);
    g_autofree char *file =
        g_build_filename(f->daemon ? f->daemon->tmpdir : "/", "runner.json", NULL);
    const char *events_args[] = { "events", NULL };
    const char *run_args[] = { "run", "-f", file, "--debug", NULL };
    CtlChild *events, *run;

    if (f->daemon == NULL)
        return;
    g_assert_true(g_file_set_contents(file, spec, -1, NULL));
    events = ctl_child_spawn(f, events_args);
    g_usleep(300000); /* let it subscribe */

    /* run: create + start + console; --debug shows the kernel booting. */
    run = ctl_child_spawn(f, run_args);
    g_assert_true(ctl_child_expect(run, "Linux version", 60000));
    g_assert_true(ctl_child_expect(run, "PODVM-GUEST-READY", 60000));
    ctl_child_write(run, "\x01x");
    g_assert_cmpint(ctl_child_finish(run, 5000), ==, 0);
    assert_phase(f, "runner", "Running");

    /* The event stream saw the pod come up, with each phase. */
    g_assert_true(ctl_child_expect(events, "Created", 5000));
    g_assert_true(ctl_child_expect(events, "Starting", 5000));
    g_assert_true(ctl_child_expect(events, "Running", 5000));
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "pause", "runner", NULL), ==, 0);
    g_assert_true(ctl_child_expect(events, "Paused", 5000));
    ctl_child_finish(events, 0);
}

/*
 * An app pod's VM is sized by the apps rule, in the status, and podvmctl
 * list shows those figures (it used to show "-" for a pod without domain.cpu).
 */
static void
test_list_app_pod(Fixture *f, gconstpointer data)
{
    const char *apps = "[{\"name\": \"a\", \"image\": \"docker://a:1\", \"memory\": \"256Mi\", "
                       "\"cpus\": \"500m\"}, "
                       "{\"name\": \"b\", \"image\": \"docker://b:1\", \"cpus\": \"1500m\"}]";
    g_autofree char *guest = podvm_test_guest_spec("apps", NULL, NULL, 30);
    g_autoptr(JsonNode) root = json_from_string(guest, NULL);
    JsonObject *pod_spec = json_object_get_object_member(json_node_get_object(root), "spec");
    JsonObject *domain = json_object_get_object_member(pod_spec, "domain");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) row = NULL;

    if (f->daemon == NULL)
        return;
    /* The test guest's kernel, sized by its apps only. */
    json_object_remove_member(domain, "resources");
    json_object_remove_member(domain, "cpu");
    json_object_set_member(pod_spec, "apps", json_from_string(apps, NULL));
    json_object_set_member(json_object_get_object_member(json_node_get_object(root), "metadata"),
                           "labels", json_from_string("{\"app\": \"web\"}", NULL));
    spec = json_to_string(root, FALSE);
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    /* 256Mi + 128Mi (b gives none) + 128Mi for the system; 500m + 1500m. */
    status = podvm_test_daemon_status(f->daemon, "apps");
    g_assert_cmpint(json_object_get_int_member(status, "memory"), ==, 512 * 1024 * 1024);
    g_assert_cmpint(json_object_get_int_member(status, "vcpus"), ==, 2);

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "list", NULL), ==, 0);
    lines = g_strsplit(out, "\n", -1);
    g_assert_nonnull(strstr(lines[0], "MEMORY"));
    g_assert_true(g_str_has_prefix(lines[1], "apps "));
    row = g_regex_split_simple("\\s+", lines[1], 0, 0);
    /* NAME PHASE UPTIME PID MEMORY CPUS IP */
    g_assert_nonnull(strstr(lines[0], " IP"));
    g_assert_cmpstr(row[4], ==, "512Mi");
    g_assert_cmpstr(row[5], ==, "2");
    /* No interfaces: no address. */
    g_assert_cmpstr(row[6], ==, "-");
    g_clear_pointer(&out, g_free);

    /* podvmctl list -l: the selector REST and the pod use. */
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, &out, NULL, "list", "-o", "name", "-l", "app=web,app", NULL), ==,
        0);
    g_assert_cmpstr(out, ==, "apps\n");
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(
        podvm_test_ctl(f->daemon, &out, NULL, "list", "-o", "name", "-l", "app=db", NULL), ==, 0);
    g_assert_cmpstr(out, ==, "");
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "list", "-l", "=web", NULL), ==, 2);
    g_assert_nonnull(strstr(err, "bad label selector"));
}

typedef struct {
    GPtrArray *types;   /* char*: the Event signals' types, in order */
    GPtrArray *details; /* JsonObject*: their details */
} EventLog;

static void
manager_event_cb(PodvmDBusManager *manager, const char *pod, const char *type, const char *details,
                 gpointer user_data)
{
    EventLog *log = user_data;
    g_autoptr(JsonNode) node = json_from_string(details, NULL);

    g_assert_nonnull(node);
    g_ptr_array_add(log->types, g_strdup(type));
    g_ptr_array_add(log->details, json_object_ref(json_node_get_object(node)));
}

/* Every event has the envelope {pod, type, time, phase}: Created and Deleted too. */
static void
test_events_envelope(Fixture *f, gconstpointer data)
{
    EventLog log = { g_ptr_array_new_with_free_func(g_free),
                     g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref) };
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    const char *types[] = { "Created", "Deleted" };
    gulong id;

    if (f->daemon == NULL) {
        g_ptr_array_unref(log.types);
        g_ptr_array_unref(log.details);
        return;
    }
    id = g_signal_connect(f->daemon->manager, "event", G_CALLBACK(manager_event_cb), &log);
    create_pod(f, "envl", NULL, NULL, 1);
    pod = podvm_test_daemon_pod(f->daemon, "envl");
    podvm_dbus_pod_call_delete_sync(pod, FALSE, NULL, &error);
    g_assert_no_error(error);
    while (!g_ptr_array_find_with_equal_func(log.types, "Deleted", g_str_equal, NULL)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(10000);
    }
    for (guint i = 0; i < G_N_ELEMENTS(types); i++) {
        JsonObject *event = NULL;
        g_autoptr(GDateTime) time = NULL;

        for (guint j = 0; j < log.types->len && event == NULL; j++) {
            if (g_strcmp0(g_ptr_array_index(log.types, j), types[i]) == 0)
                event = g_ptr_array_index(log.details, j);
        }
        g_assert_nonnull(event);
        g_assert_cmpstr(json_object_get_string_member(event, "pod"), ==, "envl");
        g_assert_cmpstr(json_object_get_string_member(event, "type"), ==, types[i]);
        g_assert_cmpstr(json_object_get_string_member(event, "phase"), ==, "Pending");
        time = g_date_time_new_from_iso8601(json_object_get_string_member(event, "time"), NULL);
        g_assert_nonnull(time);
    }
    g_signal_handler_disconnect(f->daemon->manager, id);
    g_ptr_array_unref(log.types);
    g_ptr_array_unref(log.details);
}

/*
 * Stop's grace period is checked by the pod against the spec's bound
 * (0..86400): 4294968 s used to wrap to 0.7 s as milliseconds in a guint.
 */
static void
test_stop_grace_bound(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmDBusPod) pod = NULL;
    const int bad[] = { 4294968, 86401, -2, G_MAXINT };
    g_autofree char *err = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "gb", NULL, NULL, 1);
    pod = podvm_test_daemon_pod(f->daemon, "gb");
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *name = NULL;

        podvm_dbus_pod_call_stop_sync(pod, bad[i], NULL, &error);
        g_assert_nonnull(error);
        name = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(name, ==, "io.podvm.PodVM1.Error.InvalidArgument");
        g_assert_nonnull(strstr(error->message, "86400"));
    }
    {
        /* In the bound, the pod's phase decides: there is nothing to stop. */
        g_autoptr(GError) error = NULL;
        g_autofree char *name = NULL;

        podvm_dbus_pod_call_stop_sync(pod, 86400, NULL, &error);
        g_assert_nonnull(error);
        name = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(name, ==, "io.podvm.PodVM1.Error.Conflict");
    }
    /* podvmctl says the same. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "stop", "--grace", "4294968", "gb", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "86400"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/podvm/daemon/boot-and-show", test_boot_and_show);
    ADD("/podvm/daemon/pause-resume", test_pause_resume);
    ADD("/podvm/daemon/graceful-stop", test_graceful_stop);
    ADD("/podvm/daemon/stop-ignored-powerdown", test_stop_ignored_powerdown);
    ADD("/podvm/daemon/qemu-sigkill-restart-policy", test_qemu_sigkill_restart_policy);
    ADD("/podvm/daemon/daemon-restart-keeps-pods", test_daemon_restart_keeps_pods);
    ADD("/podvm/daemon/qemu-died-while-daemon-down", test_qemu_died_while_daemon_down);
    ADD("/podvm/daemon/start-failure", test_start_failure_reports_qemu_error);
    ADD("/podvm/daemon/bad-specs", test_bad_specs);
    ADD("/podvm/daemon/ctl-errors", test_ctl_errors);
    ADD("/podvm/daemon/delete", test_delete);
    ADD("/podvm/daemon/console", test_console);
    ADD("/podvm/daemon/guest-exit-on-failure-policy", test_guest_exit_on_failure_policy);
    ADD("/podvm/daemon/run-debug-and-events", test_run_debug_and_events);
    ADD("/podvm/daemon/events-envelope", test_events_envelope);
    ADD("/podvm/daemon/list-app-pod", test_list_app_pod);
    ADD("/podvm/daemon/logs-follow-ends", test_logs_follow_ends);
    ADD("/podvm/daemon/stop-grace-bound", test_stop_grace_bound);
#undef ADD
    return g_test_run();
}
