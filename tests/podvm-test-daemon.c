/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-daemon.h"

#include <fcntl.h>
#include <sched.h>
#include <gio/gunixfdlist.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "podvm-test-util.h"

#define BUS_NAME "io.podvm.PodVM1"
#define MANAGER_PATH "/io/podvm/PodVM1"

/*
 * A failed assertion aborts the test program (SIGABRT, or SIGTRAP for a
 * fatal critical) before any teardown runs, while QEMU (in its own session,
 * by design) would run on. The handler ends every QEMU and podvmd whose
 * command line points into one of our temporary directories, then dies as asked. It
 * uses only async-signal-safe calls: no malloc, no stdio.
 */
#define MAX_LIVE_TMPDIRS 8
static char live_tmpdirs[MAX_LIVE_TMPDIRS][256];

/*
 * Whether process PID holds an open file below DIR. QEMU gets its files as
 * descriptors (its command line names /dev/fdset/N and /proc/self/fd/N, not
 * our directory), but it always holds the pod's console log open.
 * Async-signal-safe, like its caller.
 */
static gboolean
holds_file_under(const char *pid, const char *dir)
{
    char fd_dir[64] = "/proc/";
    char dents[4096];
    gboolean found = FALSE;
    long n;
    int fds;

    strcat(fd_dir, pid);
    strcat(fd_dir, "/fd");
    fds = open(fd_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fds < 0)
        return FALSE;
    while (!found && (n = syscall(SYS_getdents64, fds, dents, sizeof dents)) > 0) {
        for (long off = 0; off < n && !found;) {
            struct {
                guint64 ino;
                gint64 off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(dents + off);
            char target[512];
            ssize_t len;

            off += d->reclen;
            if (d->name[0] < '0' || d->name[0] > '9')
                continue;
            len = readlinkat(fds, d->name, target, sizeof target - 1);
            if (len > 0 && (size_t)len > strlen(dir) && strncmp(target, dir, strlen(dir)) == 0 &&
                target[strlen(dir)] == '/')
                found = TRUE;
        }
    }
    close(fds);
    return found;
}

static void
kill_qemus_under(const char *tmpdir)
{
    char dents[8192];
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long n;

    if (dir < 0)
        return;
    while ((n = syscall(SYS_getdents64, dir, dents, sizeof dents)) > 0) {
        for (long off = 0; off < n;) {
            struct {
                guint64 ino;
                gint64 off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(dents + off);
            char path[64] = "/proc/";
            char cmdline[16384];
            int pid = 0, fd;
            ssize_t len;

            off += d->reclen;
            for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
                pid = pid * 10 + (*c - '0');
            if (pid <= 0 || pid == getpid() || strlen(d->name) > 20)
                continue;
            strcat(path, d->name);
            strcat(path, "/cmdline");
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            len = read(fd, cmdline, sizeof cmdline);
            close(fd);
            /* QEMU, and podvmd too: a daemon left behind would hold the test run open. */
            if (len > 0 &&
                (memmem(cmdline, (size_t)len, "qemu-system", 11) != NULL ||
                 memmem(cmdline, (size_t)len, "podvmd", 6) != NULL) &&
                (memmem(cmdline, (size_t)len, tmpdir, strlen(tmpdir)) != NULL ||
                 holds_file_under(d->name, tmpdir)))
                kill(pid, SIGKILL);
        }
    }
    close(dir);
}

/*
 * Ends the test's own children: podvmd and GTestDBus's dbus-daemon (which
 * would keep meson's stdout open until its timeout). Async-signal-safe.
 */
static void
kill_children(void)
{
    char dents[8192];
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long n;

    if (dir < 0)
        return;
    while ((n = syscall(SYS_getdents64, dir, dents, sizeof dents)) > 0) {
        for (long off = 0; off < n;) {
            struct {
                guint64 ino;
                gint64 off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(dents + off);
            char path[64] = "/proc/";
            char stat[1024];
            const char *c;
            int pid = 0, ppid = 0, fd;
            ssize_t len;

            off += d->reclen;
            for (c = d->name; *c >= '0' && *c <= '9'; c++)
                pid = pid * 10 + (*c - '0');
            if (pid <= 0 || *c != '\0' || pid == getpid() || strlen(d->name) > 20)
                continue;
            strcat(path, d->name);
            strcat(path, "/stat");
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            len = read(fd, stat, sizeof stat - 1);
            close(fd);
            if (len <= 0)
                continue;
            stat[len] = '\0';
            /* "pid (comm) state ppid ...": comm may hold anything, up to the last ')'. */
            c = strrchr(stat, ')');
            if (c == NULL || c[1] != ' ' || c[2] == '\0' || c[3] != ' ')
                continue;
            for (c += 4; *c >= '0' && *c <= '9'; c++)
                ppid = ppid * 10 + (*c - '0');
            if (ppid == getpid())
                kill(pid, SIGKILL);
        }
    }
    close(dir);
}

static void
fatal_signal_handler(int sig)
{
    for (guint i = 0; i < MAX_LIVE_TMPDIRS; i++) {
        if (live_tmpdirs[i][0] != '\0')
            kill_qemus_under(live_tmpdirs[i]);
    }
    kill_children();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
track_tmpdir(const char *tmpdir, gboolean live)
{
    static gboolean installed;

    if (!installed) {
        signal(SIGABRT, fatal_signal_handler);
        signal(SIGTRAP, fatal_signal_handler);
        installed = TRUE;
    }
    for (guint i = 0; i < MAX_LIVE_TMPDIRS; i++) {
        if (live && live_tmpdirs[i][0] == '\0' && strlen(tmpdir) < sizeof live_tmpdirs[i]) {
            strcpy(live_tmpdirs[i], tmpdir);
            return;
        }
        if (!live && strcmp(live_tmpdirs[i], tmpdir) == 0) {
            live_tmpdirs[i][0] = '\0';
            return;
        }
    }
}

static PodvmTestDaemon *daemon_new(const char *conf_text, const char *netns_path);

PodvmTestDaemon *
podvm_test_daemon_new(void)
{
    return daemon_new(NULL, NULL);
}

PodvmTestDaemon *
podvm_test_daemon_new_with_config(const char *conf_text)
{
    return daemon_new(conf_text, NULL);
}

PodvmTestDaemon *
podvm_test_daemon_new_in_netns(const char *conf_text, const char *netns_path)
{
    return daemon_new(conf_text, netns_path);
}

static PodvmTestDaemon *
daemon_new(const char *conf_text, const char *netns_path)
{
    PodvmTestDaemon *daemon;

    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return NULL;
    }
    if (!podvm_test_require_guest())
        return NULL;

    daemon = g_new0(PodvmTestDaemon, 1);
    daemon->netns_fd = -1;
    if (netns_path != NULL) {
        daemon->netns_path = g_strdup(netns_path);
        daemon->netns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(daemon->netns_fd, >=, 0);
    }
    daemon->tmpdir = podvm_test_mkdtemp();
    daemon->state_dir = g_build_filename(daemon->tmpdir, "state", NULL);
    daemon->run_dir = g_build_filename(daemon->tmpdir, "run", NULL);
    daemon->log_path = g_build_filename(daemon->tmpdir, "podvmd.log", NULL);
    track_tmpdir(daemon->tmpdir, TRUE);
    {
        /* The test guest's kernel lies in the build tree: a kernel directory of every daemon. */
        g_autofree char *kernel = podvm_test_guest_kernel();
        g_autofree char *guest_dir = g_path_get_dirname(kernel);
        g_autofree char *absolute = g_canonicalize_filename(guest_dir, NULL);
        /* The daemon's own directory too, for kernels a test makes. */
        g_autofree char *text = g_strdup_printf("[qemu]\nkernel_dirs=%s;%s\n%s", absolute,
                                                daemon->tmpdir, conf_text != NULL ? conf_text : "");
        g_autoptr(GError) error = NULL;

        daemon->config_path = g_build_filename(daemon->tmpdir, "podvmd.conf", NULL);
        g_file_set_contents(daemon->config_path, text, -1, &error);
        g_assert_no_error(error);
    }
    daemon->bus = g_test_dbus_new(G_TEST_DBUS_NONE);
    g_test_dbus_up(daemon->bus);
    podvm_test_daemon_start(daemon);
    return daemon;
}

static void
stop_process(PodvmTestDaemon *daemon, int sig)
{
    if (daemon->process == NULL)
        return;
    g_subprocess_send_signal(daemon->process, sig);
    g_subprocess_wait(daemon->process, NULL, NULL);
    if (sig == SIGTERM) {
        /* A clean exit, and no sanitizer report from podvmd (in its log). */
        g_autofree char *log = NULL;

        g_file_get_contents(daemon->log_path, &log, NULL, NULL);
        if (log != NULL &&
            (strstr(log, "Sanitizer") != NULL || !g_subprocess_get_if_exited(daemon->process) ||
             g_subprocess_get_exit_status(daemon->process) != 0)) {
            g_printerr("---- podvmd log ----\n%s\n", log);
            if (g_subprocess_get_if_signaled(daemon->process))
                g_printerr("podvmd ended by signal %d\n",
                           g_subprocess_get_term_sig(daemon->process));
        }
        g_assert_true(log == NULL || strstr(log, "Sanitizer") == NULL);
        g_assert_true(g_subprocess_get_if_exited(daemon->process));
        g_assert_cmpint(g_subprocess_get_exit_status(daemon->process), ==, 0);
    }
    g_clear_object(&daemon->process);
    g_clear_object(&daemon->manager);
    g_clear_object(&daemon->connection);
}

void
podvm_test_daemon_free(PodvmTestDaemon *daemon)
{
    if (daemon == NULL)
        return;
    stop_process(daemon, SIGTERM);
    /* The pods' QEMUs outlive podvmd by design: end the ones we caused. */
    kill_qemus_under(daemon->tmpdir);
    track_tmpdir(daemon->tmpdir, FALSE);
    if (g_test_failed()) {
        g_autofree char *log = NULL;
        if (g_file_get_contents(daemon->log_path, &log, NULL, NULL))
            g_printerr("---- podvmd log ----\n%s\n--------------------\n", log);
    }
    g_test_dbus_down(daemon->bus);
    g_object_unref(daemon->bus);
    podvm_test_rmrf(daemon->tmpdir);
    g_free(daemon->tmpdir);
    g_free(daemon->state_dir);
    g_free(daemon->run_dir);
    g_free(daemon->log_path);
    g_free(daemon->config_path);
    g_strfreev(daemon->env);
    if (daemon->netns_fd >= 0)
        close(daemon->netns_fd);
    g_free(daemon->netns_path);
    g_free(daemon);
}

/* In the child, before exec: setns() is async-signal-safe. */
static void
enter_netns_cb(gpointer user_data)
{
    if (setns(GPOINTER_TO_INT(user_data), CLONE_NEWNET) != 0)
        _exit(127);
}

void
podvm_test_daemon_start(PodvmTestDaemon *daemon)
{
    /* Not the test's stdout: meson waits for it to close, and podvmd may outlive a failure. */
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_autoptr(GError) error = NULL;
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    const char *qemu = podvm_test_qemu_binary();

    g_subprocess_launcher_set_stderr_file_path(launcher, NULL);
    /*
     * Its own bus, not whichever GTestDBus came up last (each sets the
     * variable in this process): a test may run two podvmds.
     */
    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(daemon->bus), TRUE);
    for (guint i = 0; daemon->env != NULL && daemon->env[i] != NULL; i++) {
        g_auto(GStrv) pair = g_strsplit(daemon->env[i], "=", 2);
        g_subprocess_launcher_setenv(launcher, pair[0], pair[1], TRUE);
    }
    {
        /* Append: a restarted daemon keeps the earlier log. */
        int fd = open(daemon->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        g_assert_cmpint(fd, >=, 0);
        g_subprocess_launcher_take_stderr_fd(launcher, fd);
    }
    if (daemon->netns_fd >= 0)
        g_subprocess_launcher_set_child_setup(launcher, enter_netns_cb,
                                              GINT_TO_POINTER(daemon->netns_fd), NULL);
    daemon->process = g_subprocess_launcher_spawn(
        launcher, &error, g_getenv("PODVMD"), "--session", "--verbose", "--accel", "tcg", "--qemu",
        qemu, "--state-dir", daemon->state_dir, "--run-dir", daemon->run_dir,
        daemon->config_path != NULL ? "--config" : NULL, daemon->config_path, NULL);
    g_assert_no_error(error);

    daemon->connection =
        g_dbus_connection_new_for_address_sync(g_test_dbus_get_bus_address(daemon->bus),
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    g_assert_no_error(error);
    /* Ready once the name has an owner that answers. */
    while (g_get_monotonic_time() < deadline) {
        g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
            daemon->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
            "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", BUS_NAME),
            G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
        gboolean has_owner = FALSE;

        if (reply != NULL)
            g_variant_get(reply, "(b)", &has_owner);
        if (has_owner)
            break;
        g_usleep(20000);
    }
    daemon->manager =
        podvm_dbus_manager_proxy_new_sync(daemon->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                          BUS_NAME, MANAGER_PATH, NULL, &error);
    g_assert_no_error(error);
}

void
podvm_test_daemon_kill9(PodvmTestDaemon *daemon)
{
    stop_process(daemon, SIGKILL);
}

void
podvm_test_daemon_stop(PodvmTestDaemon *daemon)
{
    stop_process(daemon, SIGTERM);
}

void
podvm_test_daemon_setenv(PodvmTestDaemon *daemon, const char *name, const char *value)
{
    if (daemon->env == NULL)
        daemon->env = g_new0(char *, 1);
    daemon->env = value != NULL ? g_environ_setenv(daemon->env, name, value, TRUE)
                                : g_environ_unsetenv(daemon->env, name);
}

static void
exited_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    gboolean *done = user_data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    *done = TRUE;
}

gboolean
podvm_test_daemon_running(PodvmTestDaemon *daemon)
{
    return daemon->process != NULL;
}

gboolean
podvm_test_daemon_wait_killed(PodvmTestDaemon *daemon, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    gboolean done = FALSE, killed;

    g_assert_nonnull(daemon->process);
    g_subprocess_wait_async(daemon->process, cancellable, exited_cb, &done);
    while (!done && g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(10000);
    }
    if (!done) {
        g_cancellable_cancel(cancellable);
        while (!done)
            g_main_context_iteration(NULL, TRUE);
        return FALSE;
    }
    killed = g_subprocess_get_if_signaled(daemon->process) &&
             g_subprocess_get_term_sig(daemon->process) == SIGKILL;
    g_clear_object(&daemon->process);
    g_clear_object(&daemon->manager);
    g_clear_object(&daemon->connection);
    return killed;
}

char *
podvm_test_guest_spec(const char *name, const char *extra_args, const char *restart_policy,
                      int grace_seconds)
{
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *initrd = podvm_test_guest_initrd();
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *args = g_strdup_printf("console=ttyS0 %s", extra_args ? extra_args : "");
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "apiVersion");
    json_builder_add_string_value(b, "podvm.io/v1");
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, "Pod");
    json_builder_set_member_name(b, "metadata");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "spec");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "domain");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "resources");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "requests");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "memory");
    json_builder_add_string_value(b, "128Mi");
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "cpu");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "cores");
    json_builder_add_int_value(b, 1);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "firmware");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "kernelBoot");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "kernelPath");
    json_builder_add_string_value(b, kernel);
    json_builder_set_member_name(b, "initrdPath");
    json_builder_add_string_value(b, initrd);
    json_builder_set_member_name(b, "kernelArgs");
    json_builder_add_string_value(b, g_strstrip(args));
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_end_object(b);
    if (restart_policy != NULL) {
        json_builder_set_member_name(b, "restartPolicy");
        json_builder_add_string_value(b, restart_policy);
    }
    json_builder_set_member_name(b, "terminationGracePeriodSeconds");
    json_builder_add_int_value(b, grace_seconds);
    json_builder_end_object(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

char *
podvm_test_guest_spec_with(const char *name, const char *extra_args, const char *devices_member,
                           const char *devices_json, const char *spec_member, const char *spec_json)
{
    g_autofree char *base = podvm_test_guest_spec(name, extra_args, NULL, 2);
    g_autoptr(JsonNode) root = json_from_string(base, NULL);
    JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
    JsonObject *domain = json_object_get_object_member(spec, "domain");
    g_autoptr(GError) error = NULL;
    JsonNode *devices_node = json_from_string(devices_json, &error);
    JsonNode *spec_node;
    JsonObject *devices;

    g_assert_no_error(error);
    spec_node = json_from_string(spec_json, &error);
    g_assert_no_error(error);
    if (!json_object_has_member(domain, "devices"))
        json_object_set_object_member(domain, "devices", json_object_new());
    devices = json_object_get_object_member(domain, "devices");
    json_object_set_member(devices, devices_member, devices_node);
    json_object_set_member(spec, spec_member, spec_node);
    return json_to_string(root, FALSE);
}

PodvmDBusPod *
podvm_test_daemon_pod(PodvmTestDaemon *daemon, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    PodvmDBusPod *pod;

    podvm_dbus_manager_call_get_pod_sync(daemon->manager, name, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_dbus_pod_proxy_new_sync(daemon->connection,
                                        G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                            G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                        BUS_NAME, path, NULL, &error);
    g_assert_no_error(error);
    /* Long operations (stop waits the grace period) must not hit the default 25 s. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), 120000);
    return pod;
}

static char *
get_property(PodvmTestDaemon *daemon, const char *name, const char *property)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) value = NULL;

    if (!podvm_dbus_manager_call_get_pod_sync(daemon->manager, name, &path, NULL, &error))
        return NULL;
    reply = g_dbus_connection_call_sync(
        daemon->connection, BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", "io.podvm.PodVM1.Pod", property), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(v)", &value);
    return g_variant_dup_string(value, NULL);
}

char *
podvm_test_daemon_phase(PodvmTestDaemon *daemon, const char *name)
{
    return get_property(daemon, name, "Phase");
}

JsonObject *
podvm_test_daemon_status(PodvmTestDaemon *daemon, const char *name)
{
    g_autofree char *text = get_property(daemon, name, "Status");
    g_autoptr(JsonParser) parser = json_parser_new();

    g_assert_nonnull(text);
    g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
    return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

gboolean
podvm_test_daemon_wait_phase(PodvmTestDaemon *daemon, const char *name, const char *phase,
                             guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    do {
        g_autofree char *now = podvm_test_daemon_phase(daemon, name);
        if (g_strcmp0(now, phase) == 0)
            return TRUE;
        g_usleep(20000);
    } while (g_get_monotonic_time() < deadline);
    return FALSE;
}

char *
podvm_test_daemon_console_log(PodvmTestDaemon *daemon, const char *name)
{
    return g_build_filename(daemon->state_dir, "pods", name, "console.log", NULL);
}

int
podvm_test_ctl(PodvmTestDaemon *daemon, char **out_stdout, char **out_stderr, const char *first_arg,
               ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) envp = g_get_environ();
    const char *arg;
    int status = 0;
    va_list args;

    g_ptr_array_add(argv, (gpointer)g_getenv("PODVMCTL"));
    g_ptr_array_add(argv, "--session");
    va_start(args, first_arg);
    for (arg = first_arg; arg != NULL; arg = va_arg(args, const char *))
        g_ptr_array_add(argv, (gpointer)arg);
    va_end(args);
    g_ptr_array_add(argv, NULL);

    envp = g_environ_setenv(envp, "DBUS_SESSION_BUS_ADDRESS",
                            g_test_dbus_get_bus_address(daemon->bus), TRUE);
    g_spawn_sync(NULL, (char **)argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                 &error);
    g_assert_no_error(error);
    if (out_stdout != NULL)
        *out_stdout = g_steal_pointer(&out);
    if (out_stderr != NULL)
        *out_stderr = g_steal_pointer(&err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- what the test guest reports ---------------------------------------------- */

#define GUEST_ANSWER_TIMEOUT_MS 30000

char *
podvm_test_guest_disks(PodvmTestDaemon *daemon, const char *pod)
{
    g_autofree char *log = podvm_test_daemon_console_log(daemon, pod);
    g_autofree char *text = NULL;
    char *last_newline;
    const char *line, *end;

    if (!g_file_get_contents(log, &text, NULL, NULL))
        return NULL;
    /* The guest may be half-way through a line: a partial report would miss disks. */
    last_newline = strrchr(text, '\n');
    if (last_newline == NULL)
        return NULL;
    last_newline[1] = '\0';
    line = g_strrstr(text, "PODVM-DISKS");
    if (line == NULL)
        return NULL;
    end = strpbrk(line, "\r\n");
    return end != NULL ? g_strndup(line, (gsize)(end - line)) : g_strdup(line);
}

char *
podvm_test_guest_disk_of_size(PodvmTestDaemon *daemon, const char *pod, guint64 size,
                              char **out_label)
{
    g_autofree char *line = podvm_test_guest_disks(daemon, pod);
    g_auto(GStrv) entries = NULL;

    if (line == NULL)
        return NULL;
    entries = g_strsplit(line, " ", -1);
    for (guint i = 1; entries[i] != NULL; i++) {
        g_auto(GStrv) parts = g_strsplit(g_strstrip(entries[i]), ":", 3);
        if (parts[0] != NULL && parts[1] != NULL && g_ascii_strtoull(parts[1], NULL, 10) == size) {
            if (out_label != NULL)
                *out_label = g_strdup(parts[2]);
            return g_strdup(parts[0]);
        }
    }
    return NULL;
}

gboolean
podvm_test_wait_guest_disk(PodvmTestDaemon *daemon, const char *pod, guint64 size, gboolean present)
{
    gint64 deadline = g_get_monotonic_time() + GUEST_ANSWER_TIMEOUT_MS * 1000LL;

    for (;;) {
        g_autofree char *dev = podvm_test_guest_disk_of_size(daemon, pod, size, NULL);

        if ((dev != NULL) == present)
            return TRUE;
        if (g_get_monotonic_time() > deadline) {
            g_autofree char *line = podvm_test_guest_disks(daemon, pod);
            g_test_message("guest disks: %s", line);
            return FALSE;
        }
        g_usleep(50000);
    }
}

void
podvm_test_console_type(PodvmTestDaemon *daemon, const char *pod, const char *line)
{
    g_autoptr(PodvmDBusPod) proxy = podvm_test_daemon_pod(daemon, pod);
    g_autoptr(GUnixFDList) fds = NULL;
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = g_strdup_printf("%s\n", line);
    GVariantBuilder options;
    int fd;

    g_variant_builder_init(&options, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&options, "{sv}", "replay", g_variant_new_boolean(FALSE));
    podvm_dbus_pod_call_open_console_sync(proxy, g_variant_builder_end(&options), NULL, &handle,
                                          &fds, NULL, &error);
    g_assert_no_error(error);
    fd = g_unix_fd_list_get(fds, g_variant_get_handle(handle), &error);
    g_assert_no_error(error);
    g_assert_cmpint(write(fd, text, strlen(text)), ==, (gssize)strlen(text));
    /* Let the daemon pass it on before the connection goes. */
    g_usleep(200000);
    close(fd);
}

char *
podvm_test_guest_read(PodvmTestDaemon *daemon, const char *pod, const char *dev)
{
    g_autofree char *log = podvm_test_daemon_console_log(daemon, pod);
    g_autofree char *command = g_strdup_printf("podvm-read %s", dev);
    g_autofree char *prefix = g_strdup_printf("PODVM-READ %s ", dev);
    guint before = podvm_test_count_in_file(log, prefix);
    g_autofree char *text = NULL;
    const char *answer, *end;
    gint64 deadline = g_get_monotonic_time() + GUEST_ANSWER_TIMEOUT_MS * 1000LL;

    podvm_test_console_type(daemon, pod, command);
    while (podvm_test_count_in_file(log, prefix) <= before) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50000);
    }
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    answer = g_strrstr(text, prefix) + strlen(prefix);
    end = strpbrk(answer, "\r\n");
    return end != NULL ? g_strndup(answer, (gsize)(end - answer)) : g_strdup(answer);
}

/* ---- storage tests ------------------------------------------------------------ */

PodvmTestDaemon *
podvm_test_daemon_new_for_storage(char **out_images)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    g_autofree char *conf = NULL;

    *out_images = NULL;
    if (qemu_img == NULL) {
        g_test_skip("qemu-img is not installed (Debian package qemu-utils)");
        return NULL;
    }
    *out_images = podvm_test_mkdtemp();
    conf = g_strdup_printf("[storage]\nallowed_host_paths=%s\n"
                           "[qemu]\ndetach_timeout_ms=20000\n",
                           *out_images);
    return podvm_test_daemon_new_with_config(conf);
}

char *
podvm_test_make_raw_image(const char *dir, const char *name, gsize size, const char *word)
{
    char *path = g_build_filename(dir, name, NULL);
    FILE *file = fopen(path, "w");

    g_assert_nonnull(file);
    if (word != NULL)
        g_assert_cmpint(fwrite(word, 1, strlen(word), file), ==, strlen(word));
    g_assert_cmpint(ftruncate(fileno(file), (off_t)size), ==, 0);
    fclose(file);
    return path;
}

int
podvm_test_run_podvmd(const char *conf_text, char **out_stderr)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *conf = g_build_filename(dir, "podvmd.conf", NULL);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_autoptr(GError) error = NULL;
    const char *argv[] = { g_getenv("PODVMD"), "--session", "--accel",   "tcg", "--config", conf,
                           "--state-dir",      state,       "--run-dir", run,   NULL };
    int status = 0;

    g_assert_nonnull(argv[0]);
    g_file_set_contents(conf, conf_text, -1, &error);
    g_assert_no_error(error);
    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, out_stderr, &status,
                 &error);
    g_assert_no_error(error);
    podvm_test_rmrf(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
