/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The app guest (guest/: Debian's cloud kernel + podvm's static init)
 * booted for real by QEMU (TCG), without podvmd: the test is the host end
 * of the channel (PodvmAppChannel on QEMU's chardev socket) and the app's
 * root filesystem is an erofs image the test makes from busybox-static.
 */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include "podvm-app-channel.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 60000

typedef struct {
    char *dir;
    char *image;
    char *console;
    char *chan_path;
    char *qmp_path;
    GSubprocess *qemu;
    gboolean qemu_exited;
    PodvmAppChannel *channel;
    GPtrArray *events;
    gboolean halted;
    gboolean closed;
} Fixture;

static char *
app_guest_file(const char *name)
{
    const char *dir = g_getenv("PODVM_APP_GUEST_DIR");

    return g_build_filename(dir != NULL ? dir : "guest/app", name, NULL);
}

/* QEMU, the app guest, mkfs.erofs and busybox-static, or a skip with the reason. */
static gboolean
require_everything(void)
{
    g_autofree char *kernel = app_guest_file("vmlinuz");
    g_autofree char *initrd = app_guest_file("initrd.img");
    g_autofree char *log = app_guest_file("build.log");
    g_autofree char *mkfs = g_find_program_in_path("mkfs.erofs");
    g_autofree char *contents = NULL;
    GStatBuf kst, ist;

    if (!podvm_test_require_qemu())
        return FALSE;
    if (g_stat(kernel, &kst) != 0 || kst.st_size == 0 || g_stat(initrd, &ist) != 0 ||
        ist.st_size == 0) {
        g_file_get_contents(log, &contents, NULL, NULL);
        g_test_skip_printf("the app guest was not built (%s): %s", kernel,
                           contents != NULL ? g_strstrip(contents) : "no build log");
        return FALSE;
    }
    if (mkfs == NULL) {
        g_test_skip("mkfs.erofs is not installed: apt-get install erofs-utils");
        return FALSE;
    }
    if (!g_file_test("/bin/busybox", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("/bin/busybox is missing: apt-get install busybox-static");
        return FALSE;
    }
    return TRUE;
}

static void
run_or_fail(const char *const *argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                 NULL, &out, NULL, &status, &error);
    g_assert_no_error(error);
    g_spawn_check_wait_status(status, &error);
    g_assert_no_error(error);
}

/* DIR/rootfs: busybox and its applets, /etc/passwd and /etc/group with a user "app"; then the
 * erofs image. */
static void
make_image(Fixture *f)
{
    g_autofree char *root = g_build_filename(f->dir, "rootfs", NULL);
    g_autofree char *bin = g_build_filename(root, "bin", NULL);
    g_autofree char *etc = g_build_filename(root, "etc", NULL);
    g_autofree char *busybox = g_build_filename(bin, "busybox", NULL);
    g_autofree char *list = NULL;
    g_autoptr(GError) error = NULL;
    const char *cp[] = { "cp", "/bin/busybox", busybox, NULL };
    const char *list_argv[] = { "/bin/busybox", "--list", NULL };
    g_auto(GStrv) applets = NULL;

    g_assert_cmpint(g_mkdir_with_parents(bin, 0755), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(etc, 0755), ==, 0);
    run_or_fail(cp);
    g_spawn_sync(NULL, (char **)list_argv, NULL, 0, NULL, NULL, &list, NULL, NULL, &error);
    g_assert_no_error(error);
    applets = g_strsplit(list, "\n", -1);
    for (guint i = 0; applets[i] != NULL; i++) {
        g_autofree char *link = NULL;

        if (*applets[i] == '\0' || strcmp(applets[i], "busybox") == 0)
            continue;
        link = g_build_filename(bin, applets[i], NULL);
        g_assert_cmpint(symlink("busybox", link), ==, 0);
    }
    g_autofree char *passwd = g_build_filename(etc, "passwd", NULL);
    g_autofree char *group = g_build_filename(etc, "group", NULL);
    g_file_set_contents(passwd,
                        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
                        -1, &error);
    g_assert_no_error(error);
    g_file_set_contents(group, "root:x:0:\napp:x:1000:\nextra:x:2000:app\n", -1, &error);
    g_assert_no_error(error);

    f->image = g_build_filename(f->dir, "app.erofs", NULL);
    const char *mkfs[] = { "mkfs.erofs", "--quiet", "-T0", "--all-root", f->image, root, NULL };
    run_or_fail(mkfs);
}

static void
on_started(PodvmAppChannel *channel, const char *app, int pid, Fixture *f)
{
    g_test_message("app %s started (pid %d)", app, pid);
    g_ptr_array_add(f->events, g_strdup_printf("started %s", app));
}

static void
on_exited(PodvmAppChannel *channel, const char *app, int code, int sig, Fixture *f)
{
    g_test_message("app %s exited: code %d signal %d", app, code, sig);
    g_ptr_array_add(f->events, g_strdup_printf("exited %s %d %d", app, code, sig));
}

static void
on_failed(PodvmAppChannel *channel, const char *app, const char *message, Fixture *f)
{
    g_test_message("app %s failed: %s", app, message);
    g_ptr_array_add(f->events, g_strdup_printf("failed %s %s", app, message));
}

static void
on_log(PodvmAppChannel *channel, const char *message, Fixture *f)
{
    g_test_message("guest: %s", message);
}

static void
on_halted(PodvmAppChannel *channel, Fixture *f)
{
    f->halted = TRUE;
}

static void
on_closed(PodvmAppChannel *channel, const GError *error, Fixture *f)
{
    g_test_message("channel closed: %s", error != NULL ? error->message : "cleanly");
    g_assert_no_error(error);
    f->closed = TRUE;
}

static void connect_channel(Fixture *f, const PodvmAppGuestConfig *config);

static void
qemu_child_setup(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void
qemu_wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Fixture *f = user_data;

    g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
    f->qemu_exited = TRUE;
}

static gboolean
exists_cond(gpointer data)
{
    return g_file_test(data, G_FILE_TEST_EXISTS);
}

/* Boots the app guest with @n_disks copies of the image (serials app0, app1, ...), a user-mode
 * NIC, and connects the channel with @config. */
static void
boot(Fixture *f, const PodvmAppGuestConfig *config, guint n_disks)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *kernel = app_guest_file("vmlinuz");
    g_autofree char *initrd = app_guest_file("initrd.img");
    g_autoptr(GError) error = NULL;

    f->console = g_build_filename(f->dir, "console.log", NULL);
    f->chan_path = g_build_filename(f->dir, "app.sock", NULL);
    f->qmp_path = g_build_filename(f->dir, "qmp.sock", NULL);
#define ARG(...) g_ptr_array_add(argv, g_strdup_printf(__VA_ARGS__))
    ARG("%s", podvm_test_qemu_binary());
    ARG("-nodefaults");
    ARG("-no-user-config");
    ARG("-accel");
    ARG("tcg");
    ARG("-m");
    ARG("256");
    ARG("-display");
    ARG("none");
    ARG("-kernel");
    ARG("%s", kernel);
    ARG("-initrd");
    ARG("%s", initrd);
    ARG("-append");
    ARG("console=ttyS0 podvm.app=1 panic=-1");
    ARG("-no-reboot");
    ARG("-serial");
    ARG("file:%s", f->console);
    ARG("-qmp");
    ARG("unix:%s,server=on,wait=off", f->qmp_path);
    for (guint i = 0; i < n_disks; i++) {
        ARG("-drive");
        ARG("file=%s,if=none,id=disk%u,format=raw,readonly=on", f->image, i);
        ARG("-device");
        ARG("virtio-blk-pci,drive=disk%u,serial=app%u", i, i);
    }
    ARG("-netdev");
    ARG("user,id=net0");
    ARG("-device");
    ARG("virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56");
    ARG("-device");
    ARG("virtio-serial-pci");
    ARG("-chardev");
    ARG("socket,id=chan0,path=%s,server=on,wait=off", f->chan_path);
    ARG("-device");
    ARG("virtserialport,chardev=chan0,name=io.podvm.app.0");
#undef ARG
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_set_child_setup(launcher, qemu_child_setup, NULL, NULL);
    f->qemu = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_wait_async(f->qemu, NULL, qemu_wait_cb, f);

    g_assert_true(podvm_test_wait_until(exists_cond, f->chan_path, 30000));
    connect_channel(f, config);
}

/* Connects to the channel's socket (as podvmd does after spawning QEMU, or after a restart). */
static void
connect_channel(Fixture *f, const PodvmAppGuestConfig *config)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocketConnection) connection = NULL;

    address = g_unix_socket_address_new(f->chan_path);
    /* The socket exists a moment before QEMU listens on it. */
    for (int tries = 0;; tries++) {
        connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
        if (connection != NULL || tries == 200)
            break;
        g_clear_error(&error);
        g_usleep(50000);
    }
    g_assert_no_error(error);
    f->channel = podvm_app_channel_new(G_IO_STREAM(connection), config);
    g_signal_connect(f->channel, "app-started", G_CALLBACK(on_started), f);
    g_signal_connect(f->channel, "app-exited", G_CALLBACK(on_exited), f);
    g_signal_connect(f->channel, "app-failed", G_CALLBACK(on_failed), f);
    g_signal_connect(f->channel, "log", G_CALLBACK(on_log), f);
    g_signal_connect(f->channel, "halted", G_CALLBACK(on_halted), f);
    g_signal_connect(f->channel, "closed", G_CALLBACK(on_closed), f);
}

static PodvmAppGuestApp *
add_app(PodvmAppGuestConfig *config, const char *name, const char *disk, const char *user,
        const char *const *argv)
{
    PodvmAppGuestApp *app = g_new0(PodvmAppGuestApp, 1);
    const char *const env[] = { "GREETING=hello from env", NULL };

    app->name = g_strdup(name);
    app->disk_serial = g_strdup(disk);
    app->user = g_strdup(user);
    app->argv = g_strdupv((char **)argv);
    app->env = g_strdupv((char **)env);
    g_ptr_array_add(config->apps, app);
    return app;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->events = g_ptr_array_new_with_free_func(g_free);
    if (!require_everything())
        return;
    f->dir = podvm_test_mkdtemp();
    make_image(f);
}

static void
print_console(Fixture *f)
{
    g_autofree char *text = NULL;

    if (f->console != NULL && g_file_get_contents(f->console, &text, NULL, NULL))
        g_test_message("console:\n%s", text);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    if (f->channel != NULL)
        podvm_app_channel_close(f->channel);
    g_clear_object(&f->channel);
    if (f->qemu != NULL && !f->qemu_exited) {
        g_subprocess_force_exit(f->qemu);
        while (!f->qemu_exited)
            g_main_context_iteration(NULL, TRUE);
    }
    g_clear_object(&f->qemu);
    podvm_test_rmrf(f->dir);
    g_free(f->dir);
    g_free(f->image);
    g_free(f->console);
    g_free(f->chan_path);
    g_free(f->qmp_path);
    g_ptr_array_unref(f->events);
}

static gboolean
event_seen(Fixture *f, const char *event)
{
    for (guint i = 0; i < f->events->len; i++) {
        if (strcmp(f->events->pdata[i], event) == 0)
            return TRUE;
    }
    return FALSE;
}

typedef struct {
    Fixture *f;
    const char *event;
} EventWait;

static gboolean
event_cond(gpointer data)
{
    EventWait *w = data;

    return event_seen(w->f, w->event);
}

static void
wait_event(Fixture *f, const char *event)
{
    EventWait w = { f, event };

    if (!podvm_test_wait_until(event_cond, &w, BOOT_TIMEOUT_MS)) {
        print_console(f);
        g_error("no '%s' from the app guest", event);
    }
}

static gboolean
ended_cond(gpointer data)
{
    Fixture *f = data;

    return f->halted && f->closed && f->qemu_exited;
}

/* "halt", the channel's end and QEMU's exit (the guest powered off). */
static void
wait_end(Fixture *f)
{
    if (!podvm_test_wait_until(ended_cond, f, 60000)) {
        print_console(f);
        g_error("the app guest did not power off (halted %d, closed %d, QEMU exited %d)", f->halted,
                f->closed, f->qemu_exited);
    }
    g_assert_true(g_subprocess_get_if_exited(f->qemu));
    g_assert_cmpint(g_subprocess_get_exit_status(f->qemu), ==, 0);
}

static void
assert_console(Fixture *f, const char *needle)
{
    if (!podvm_test_wait_for_file_content(f->console, needle, 10000)) {
        print_console(f);
        g_error("the console has no '%s'", needle);
    }
}

/* One app that prints and exits 3: its line on the console, its code, and the power-off. */
static void
test_run_to_end(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmAppGuestConfig) config = podvm_app_guest_config_new();
    const char *const argv[] = { "sh", "-c", "echo hello; echo \"$GREETING\" >&2; exit 3", NULL };

    if (f->dir == NULL)
        return;
    config->hostname = g_strdup("pod1");
    add_app(config, "hello", "app0", NULL, argv);
    boot(f, config, 1);
    wait_event(f, "exited hello 3 0");
    wait_end(f);
    g_assert_true(event_seen(f, "started hello"));
    assert_console(f, "hello: hello");
    assert_console(f, "hello: hello from env");
}

typedef struct {
    gboolean done;
    int code;
    GError *error;
} ExecResult;

static void
exec_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ExecResult *r = user_data;

    r->code = -1;
    podvm_app_channel_exec_finish(PODVM_APP_CHANNEL(source), result, &r->code, &r->error);
    r->done = TRUE;
}

static gboolean
exec_done_cond(gpointer data)
{
    return ((ExecResult *)data)->done;
}

/* Runs @argv in @app; returns its exit code, stdout and stderr. */
static int
run_exec(Fixture *f, const char *app, const char *const *argv, const char *input, char **out_stdout,
         char **out_stderr)
{
    g_autoptr(GInputStream) in =
        input != NULL ? g_memory_input_stream_new_from_data(input, -1, NULL) : NULL;
    g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable();
    g_autoptr(GOutputStream) err = g_memory_output_stream_new_resizable();
    ExecResult r = { 0 };

    podvm_app_channel_exec_async(f->channel, app, argv, in, out, err, NULL, exec_cb, &r);
    g_assert_true(podvm_test_wait_until(exec_done_cond, &r, 60000));
    g_assert_no_error(r.error);
    g_output_stream_write_all(out, "", 1, NULL, NULL, NULL);
    g_output_stream_write_all(err, "", 1, NULL, NULL, NULL);
    *out_stdout = g_strdup(g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(out)));
    *out_stderr = g_strdup(g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(err)));
    g_test_message("exec %s: code %d, stdout '%s', stderr '%s'", argv[0], r.code, *out_stdout,
                   *out_stderr);
    return r.code;
}

static void
ping_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ExecResult *r = user_data;

    r->code = podvm_app_channel_ping_finish(PODVM_APP_CHANNEL(source), result, &r->error);
    r->done = TRUE;
}

/* A long-running app: exec sessions (output, stdin, exit codes, the guest's setup), then
 * shutdown. */
static void
test_exec_and_shutdown(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmAppGuestConfig) config = podvm_app_guest_config_new();
    const char *const argv[] = { "sh", "-c", "echo up; while true; do sleep 1; done", NULL };
    const char *const echo[] = { "echo", "hi", NULL };
    const char *const missing[] = { "no-such-command", NULL };
    const char *const cat[] = { "cat", NULL };
    const char *const hostname[] = { "hostname", NULL };
    const char *const ip[] = { "ip", "-4", "addr", "show", NULL };
    const char *const route[] = { "ip", "route", NULL };
    const char *const resolv[] = { "cat", "/etc/resolv.conf", NULL };
    const char *const whoami[] = { "sh", "-c", "id -u; id -G; pwd; echo $HOME", NULL };
    PodvmAppGuestNic *nic = g_new0(PodvmAppGuestNic, 1);
    const char *const dns[] = { "10.0.2.3", NULL };
    PodvmAppGuestApp *app;
    ExecResult ping = { 0 };
    char *out, *err;

    if (f->dir == NULL)
        return;
    config->hostname = g_strdup("pod2");
    config->debug = TRUE;
    app = add_app(config, "web", "app0", "app", argv);
    app->working_dir = g_strdup("/tmp");
    nic->ifname = g_strdup("eth0");
    nic->mac = g_strdup("52:54:00:12:34:56");
    nic->address = g_strdup("10.0.2.15/24");
    nic->gateway = g_strdup("10.0.2.2");
    nic->dns = g_strdupv((char **)dns);
    g_ptr_array_add(config->nics, nic);
    boot(f, config, 1);
    wait_event(f, "started web");
    assert_console(f, "web: up");

    g_assert_cmpint(run_exec(f, NULL, echo, NULL, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "hi\n");
    g_assert_cmpstr(err, ==, "");
    g_free(out);
    g_free(err);
    g_assert_cmpint(run_exec(f, "web", missing, NULL, &out, &err), ==, 127);
    g_assert_nonnull(strstr(err, "no-such-command"));
    g_free(out);
    g_free(err);
    g_assert_cmpint(run_exec(f, "web", cat, "from stdin\n", &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "from stdin\n");
    g_free(out);
    g_free(err);
    g_assert_cmpint(run_exec(f, "web", hostname, NULL, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "pod2\n");
    g_free(out);
    g_free(err);
    g_assert_cmpint(run_exec(f, "web", whoami, NULL, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "1000\n1000 2000\n/tmp\n/home/app\n");
    g_free(out);
    g_free(err);
    g_assert_cmpint(run_exec(f, "web", ip, NULL, &out, &err), ==, 0);
    g_assert_nonnull(strstr(out, "10.0.2.15/24"));
    g_assert_nonnull(strstr(out, "127.0.0.1/8"));
    g_free(out);
    g_free(err);
    g_assert_cmpint(run_exec(f, "web", route, NULL, &out, &err), ==, 0);
    g_assert_nonnull(strstr(out, "default via 10.0.2.2"));
    g_free(out);
    g_free(err);
    g_assert_cmpint(run_exec(f, "web", resolv, NULL, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "nameserver 10.0.2.3\n");
    g_free(out);
    g_free(err);

    podvm_app_channel_ping_async(f->channel, NULL, ping_cb, &ping);
    g_assert_true(podvm_test_wait_until(exec_done_cond, &ping, 30000));
    g_assert_no_error(ping.error);
    g_assert_true(ping.code);

    /* podvmd restarted: a new connection gets hello again and the app's state again. */
    podvm_app_channel_close(f->channel);
    g_clear_object(&f->channel);
    g_ptr_array_set_size(f->events, 0);
    f->closed = FALSE;
    connect_channel(f, config);
    wait_event(f, "started web");
    g_assert_cmpint(run_exec(f, "web", echo, NULL, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "hi\n");
    g_free(out);
    g_free(err);

    podvm_app_channel_shutdown(f->channel, 5);
    wait_event(f, "exited web 143 15");
    wait_end(f);
}

static void
qmp_powerdown(Fixture *f)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(f->qmp_path);
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) connection =
        g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, &error);
    g_autoptr(GDataInputStream) in = NULL;
    GOutputStream *out;
    const char *cmds = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"system_powerdown\"}\n";

    g_assert_no_error(error);
    in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
    out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
    g_free(g_data_input_stream_read_line(in, NULL, NULL, &error)); /* the greeting */
    g_assert_no_error(error);
    g_output_stream_write_all(out, cmds, strlen(cmds), NULL, NULL, &error);
    g_assert_no_error(error);
    /* Two answers; events (POWERDOWN) may come between them. */
    for (int answers = 0; answers < 2;) {
        g_autofree char *line = g_data_input_stream_read_line(in, NULL, NULL, &error);

        g_assert_no_error(error);
        g_assert_nonnull(line);
        g_assert_null(strstr(line, "\"error\""));
        if (strstr(line, "\"return\"") != NULL)
            answers++;
    }
}

/* Two apps on two disks with their own prefixes, an app whose disk is missing, then the ACPI
 * power button. */
static void
test_two_apps_and_power_button(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmAppGuestConfig) config = podvm_app_guest_config_new();
    const char *const one[] = { "sh", "-c", "echo from-one", NULL };
    const char *const two[] = { "sh", "-c", "id -u; exec sleep 1000", NULL };
    const char *const three[] = { "true", NULL };

    if (f->dir == NULL)
        return;
    add_app(config, "one", "app0", NULL, one);
    add_app(config, "two", "app1", "app", two);
    add_app(config, "three", "app7", NULL, three);
    boot(f, config, 2);
    wait_event(f, "exited one 0 0");
    wait_event(f, "started two");
    wait_event(f, "failed three no disk with serial app7 for its root filesystem");
    assert_console(f, "one: from-one");
    assert_console(f, "two: 1000");
    g_assert_false(f->halted);

    qmp_powerdown(f);
    wait_event(f, "exited two 143 15");
    wait_end(f);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) \
    g_test_add("/app-guest/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("run-to-end", test_run_to_end);
    ADD("exec-and-shutdown", test_exec_and_shutdown);
    ADD("two-apps-and-power-button", test_two_apps_and_power_button);
#undef ADD
    return g_test_run();
}
