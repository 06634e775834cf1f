/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shipped bus policy (data/io.podvm.PodVM1.conf) on a real system-like
 * bus: a dbus-daemon of our own with the default policy of Debian's
 * system.conf and the policy file included as system.d would include it,
 * podvmd on it as on the system bus (DBUS_SYSTEM_BUS_ADDRESS). Listeners
 * run as separate processes (this program, re-executed with --listen):
 * one as root, one as nobody. Both receive podvmd's signals and may call
 * the readers' methods (lists, properties, introspection), and neither
 * sees a secret there (cloud-init data, kernel arguments, app environment
 * values: the reader view). Only root may call the admins' methods
 * (GetSpec, with the secrets; CreatePod, Start, Delete, Qmp,
 * OpenConsole): nobody gets AccessDenied from the bus, and podvmctl says
 * which role it needs; podvmctl show gives root the secrets, nobody the
 * reader view.
 */
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BUS_NAME "io.podvm.PodVM1"
#define MANAGER_PATH "/io/podvm/PodVM1"
#define NOBODY 65534
#define SECRET "cloud-init-secret-c0ffee"
#define SECRET_KERNEL_ARG "podvm-secret-kernel-arg=d00d"
#define ENV_SECRET "app-env-secret-beef"

/* ---- the listener (this program with --listen ADDRESS) -------------------- */

static void
listener_signal_cb(GDBusConnection *connection, const char *sender, const char *path,
                   const char *interface, const char *member, GVariant *parameters,
                   gpointer user_data)
{
    g_autofree char *body = g_variant_print(parameters, FALSE);

    if (g_strcmp0(sender, "org.freedesktop.DBus") == 0)
        return; /* NameAcquired and the like */
    printf("SIGNAL %s.%s %s\n", interface, member, body);
    fflush(stdout);
}

static gboolean
listener_stdin_cb(int fd, GIOCondition condition, gpointer user_data)
{
    char buffer[64];

    if (read(fd, buffer, sizeof buffer) > 0)
        return G_SOURCE_CONTINUE;
    g_main_loop_quit(user_data);
    return G_SOURCE_REMOVE;
}

/*
 * One call to podvmd: "CALL name OK <reply>" or "CALL name DENIED <error>" on
 * stdout; with @quiet, "CALL name OK" and whether the reply holds the
 * cloud-init secret, not the reply itself.
 */
static void
listener_call(GDBusConnection *connection, const char *what, const char *path,
              const char *interface, const char *method, GVariant *parameters, gboolean quiet)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply =
        g_dbus_connection_call_sync(connection, BUS_NAME, path, interface, method, parameters, NULL,
                                    G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);

    if (reply != NULL) {
        g_autofree char *body = g_variant_print(reply, FALSE);

        if (quiet)
            printf("CALL %s OK secret=%s\n", what, strstr(body, SECRET) != NULL ? "yes" : "no");
        else
            printf("CALL %s OK %s\n", what, body);
    } else {
        g_autofree char *remote = g_dbus_error_get_remote_error(error);
        printf("CALL %s DENIED %s\n", what, remote != NULL ? remote : error->message);
    }
    fflush(stdout);
}

/*
 * Listens to every signal it may receive (and asks to eavesdrop), until
 * stdin closes; then calls podvmd: the readers' methods, and the admins'
 * on a pod that does not exist (the bus refuses a reader before podvmd
 * sees the call; root's calls find no such object, and change nothing).
 */
static int
run_listener(const char *address)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) connection = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(GVariant) eavesdrop = NULL;
    const char *nopod = MANAGER_PATH "/pod/nopod";

    connection =
        g_dbus_connection_new_for_address_sync(address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    if (connection == NULL) {
        printf("CONNECT FAILED %s\n", error->message);
        return 1;
    }
    g_dbus_connection_signal_subscribe(connection, NULL, NULL, NULL, NULL, NULL,
                                       G_DBUS_SIGNAL_FLAGS_NONE, listener_signal_cb, NULL, NULL);
    /* What `dbus-monitor` tries first; the bus refuses it to anyone but root. */
    eavesdrop = g_dbus_connection_call_sync(
        connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "AddMatch", g_variant_new("(s)", "eavesdrop=true,sender='" BUS_NAME "'"), NULL,
        G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
    printf("UID %u\nREADY\n", (guint)getuid());
    fflush(stdout);
    g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, listener_stdin_cb, loop);
    g_main_loop_run(loop);

    /* A reader's. */
    listener_call(connection, "GetManagedObjects", MANAGER_PATH,
                  "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, FALSE);
    listener_call(connection, "ListPods", MANAGER_PATH, "io.podvm.PodVM1.Manager", "ListPods", NULL,
                  FALSE);
    listener_call(connection, "GetPod", MANAGER_PATH, "io.podvm.PodVM1.Manager", "GetPod",
                  g_variant_new("(s)", "secret"), FALSE);
    listener_call(connection, "ListPodsFiltered", MANAGER_PATH, "io.podvm.PodVM1.Manager",
                  "ListPodsFiltered", g_variant_new_parsed("({'labelSelector': <'!x'>},)"), FALSE);
    listener_call(connection, "ListImages", MANAGER_PATH, "io.podvm.PodVM1.Manager", "ListImages",
                  NULL, FALSE);
    listener_call(connection, "GetSpecProperty", MANAGER_PATH "/pod/secret",
                  "org.freedesktop.DBus.Properties", "Get",
                  g_variant_new("(ss)", "io.podvm.PodVM1.Pod", "Spec"), FALSE);
    listener_call(connection, "GetAll", MANAGER_PATH "/pod/secret",
                  "org.freedesktop.DBus.Properties", "GetAll",
                  g_variant_new("(s)", "io.podvm.PodVM1.Pod"), FALSE);
    listener_call(connection, "Introspect", MANAGER_PATH "/pod/secret",
                  "org.freedesktop.DBus.Introspectable", "Introspect", NULL, TRUE);
    /* An admin's: the spec with its secrets, and what changes pods. */
    listener_call(connection, "GetSpec", MANAGER_PATH "/pod/secret", "io.podvm.PodVM1.Pod",
                  "GetSpec", NULL, TRUE);
    listener_call(connection, "CreatePod", MANAGER_PATH, "io.podvm.PodVM1.Manager", "CreatePod",
                  g_variant_new("(s)", "{}"), TRUE);
    listener_call(connection, "Start", nopod, "io.podvm.PodVM1.Pod", "Start",
                  g_variant_new("(a{sv})", NULL), TRUE);
    listener_call(connection, "Delete", nopod, "io.podvm.PodVM1.Pod", "Delete",
                  g_variant_new("(b)", TRUE), TRUE);
    listener_call(connection, "Qmp", nopod, "io.podvm.PodVM1.Pod", "Qmp",
                  g_variant_new("(s)", "{\"execute\": \"query-status\"}"), TRUE);
    listener_call(connection, "OpenConsole", nopod, "io.podvm.PodVM1.Pod", "OpenConsole",
                  g_variant_new("(a{sv})", NULL), TRUE);
    /* Whatever arrived while the calls ran. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    printf("DONE\n");
    fflush(stdout);
    return 0;
}

/* ---- the test -------------------------------------------------------------- */

typedef struct {
    GSubprocess *process;
    GDataInputStream *out;
    GOutputStream *in;
} Listener;

static void
drop_to_nobody(gpointer user_data)
{
    /* After fork, before exec: only async-signal-safe calls; failing ones end the child. */
    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
        _exit(127);
}

/* The bus and podvmd end with the test, even when an assertion aborts it. */
static void
die_with_parent(gpointer user_data)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static Listener *
listener_start(const char *address, gboolean as_nobody)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GError) error = NULL;
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    Listener *l = g_new0(Listener, 1);

    if (as_nobody)
        g_subprocess_launcher_set_child_setup(launcher, drop_to_nobody, NULL, NULL);
    l->process = g_subprocess_launcher_spawn(launcher, &error, self, "--listen", address, NULL);
    g_assert_no_error(error);
    l->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(l->process));
    l->in = g_subprocess_get_stdin_pipe(l->process);
    for (;;) {
        g_autofree char *line = g_data_input_stream_read_line_utf8(l->out, NULL, NULL, &error);

        g_assert_no_error(error);
        if (line == NULL) {
            /* It could not start (as nobody: the program not reachable by uid 65534). */
            g_subprocess_wait(l->process, NULL, NULL);
            g_object_unref(l->out);
            g_object_unref(l->process);
            g_free(l);
            return NULL;
        }
        g_test_message("listener: %s", line);
        if (g_str_has_prefix(line, "UID "))
            g_assert_cmpuint(g_ascii_strtoull(line + 4, NULL, 10), ==, as_nobody ? NOBODY : 0);
        if (strcmp(line, "READY") == 0)
            break;
    }
    return l;
}

/* Closes the listener's stdin; everything it printed afterwards, one string. */
static char *
listener_finish(Listener *l)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) all = g_string_new(NULL);

    g_output_stream_close(l->in, NULL, &error);
    g_assert_no_error(error);
    for (;;) {
        g_autofree char *line = g_data_input_stream_read_line_utf8(l->out, NULL, NULL, &error);

        g_assert_no_error(error);
        if (line == NULL)
            break;
        g_string_append_printf(all, "%s\n", line);
    }
    g_subprocess_wait_check(l->process, NULL, &error);
    g_assert_no_error(error);
    g_object_unref(l->out);
    g_object_unref(l->process);
    g_free(l);
    return g_string_free(g_steal_pointer(&all), FALSE);
}

/* podvmctl on the system bus at @address, as root or nobody; its exit status. */
static int
ctl_as(const char *address, gboolean as_nobody, char **out_stdout, char **out_stderr,
       const char *first_arg, ...)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocess) ctl = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    va_list args;

    g_ptr_array_add(argv, (char *)g_getenv("PODVMCTL"));
    va_start(args, first_arg);
    for (const char *arg = first_arg; arg != NULL; arg = va_arg(args, const char *))
        g_ptr_array_add(argv, (char *)arg);
    va_end(args);
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_setenv(launcher, "DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);
    g_subprocess_launcher_unsetenv(launcher, "PODVM_BUS");
    if (as_nobody)
        g_subprocess_launcher_set_child_setup(launcher, drop_to_nobody, NULL, NULL);
    ctl = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8(ctl, NULL, NULL, &out, &err, &error);
    g_assert_no_error(error);
    g_test_message("podvmctl %s (%s): %s%s", first_arg, as_nobody ? "nobody" : "root", out, err);
    if (out_stdout != NULL)
        *out_stdout = g_steal_pointer(&out);
    if (out_stderr != NULL)
        *out_stderr = g_steal_pointer(&err);
    return g_subprocess_get_exit_status(ctl);
}

#define ctl_as_nobody(address, out, err, ...) ctl_as(address, TRUE, out, err, __VA_ARGS__, NULL)

static char *
bus_config(const char *socket_path)
{
    g_autofree char *policy =
        g_test_build_filename(G_TEST_DIST, "..", "data", "io.podvm.PodVM1.conf", NULL);
    g_autofree char *canonical = g_canonicalize_filename(policy, NULL);

    /* The default policy of dbus 1.14's system.conf, then the policy as system.d adds it. */
    return g_strdup_printf(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig>\n"
        "  <type>system</type>\n"
        "  <listen>unix:path=%s</listen>\n"
        "  <auth>EXTERNAL</auth>\n"
        "  <policy context=\"default\">\n"
        "    <allow user=\"*\"/>\n"
        "    <deny own=\"*\"/>\n"
        "    <deny send_type=\"method_call\"/>\n"
        "    <allow send_type=\"signal\"/>\n"
        "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
        "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
        "    <allow receive_type=\"method_call\"/>\n"
        "    <allow receive_type=\"method_return\"/>\n"
        "    <allow receive_type=\"error\"/>\n"
        "    <allow receive_type=\"signal\"/>\n"
        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
        "           send_interface=\"org.freedesktop.DBus\"/>\n"
        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
        "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
        "    <allow send_destination=\"org.freedesktop.DBus\"\n"
        "           send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
        "    <deny send_destination=\"org.freedesktop.DBus\"\n"
        "          send_interface=\"org.freedesktop.DBus\"\n"
        "          send_member=\"UpdateActivationEnvironment\"/>\n"
        "  </policy>\n"
        "  <include>%s</include>\n"
        "</busconfig>\n",
        socket_path, canonical);
}

/* A pod of the test guest with cloud-init user data and a kernel argument that are secrets. */
static char *
secret_spec(void)
{
    g_autofree char *base = podvm_test_guest_spec("secret", SECRET_KERNEL_ARG, NULL, 1);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonObject *spec;
    JsonObject *domain;
    JsonObject *devices = json_object_new();
    JsonArray *disks = json_array_new();
    JsonArray *volumes = json_array_new();
    JsonObject *disk = json_object_new();
    JsonObject *cdrom = json_object_new();
    JsonObject *volume = json_object_new();
    JsonObject *nocloud = json_object_new();

    json_parser_load_from_data(parser, base, -1, &error);
    g_assert_no_error(error);
    spec =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "spec");
    domain = json_object_get_object_member(spec, "domain");
    json_object_set_string_member(cdrom, "bus", "scsi");
    json_object_set_string_member(disk, "name", "ci");
    json_object_set_object_member(disk, "cdrom", cdrom);
    json_array_add_object_element(disks, disk);
    json_object_set_array_member(devices, "disks", disks);
    json_object_set_object_member(domain, "devices", devices);
    json_object_set_string_member(nocloud, "userData", "#cloud-config\npassword: " SECRET "\n");
    json_object_set_string_member(volume, "name", "ci");
    json_object_set_object_member(volume, "cloudInitNoCloud", nocloud);
    json_array_add_object_element(volumes, volume);
    json_object_set_array_member(spec, "volumes", volumes);
    return json_to_string(json_parser_get_root(parser), FALSE);
}

/* A pod with an app whose environment holds a password (created only, never started). */
static char *
app_spec(void)
{
    g_autofree char *base = podvm_test_guest_spec("appsecret", NULL, NULL, 1);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonObject *spec;
    JsonArray *apps = json_array_new();
    JsonObject *app = json_object_new();
    JsonArray *env = json_array_new();
    JsonObject *var = json_object_new();

    json_parser_load_from_data(parser, base, -1, &error);
    g_assert_no_error(error);
    spec =
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "spec");
    json_object_set_string_member(var, "name", "DB_PASSWORD");
    json_object_set_string_member(var, "value", ENV_SECRET);
    json_array_add_object_element(env, var);
    json_object_set_string_member(app, "name", "db");
    json_object_set_string_member(app, "image", "oci:/srv/db:1");
    json_object_set_array_member(app, "env", env);
    json_array_add_object_element(apps, app);
    json_object_set_array_member(spec, "apps", apps);
    return json_to_string(json_parser_get_root(parser), FALSE);
}

static guint
count(const char *text, const char *needle)
{
    guint n = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
test_policy(void)
{
    g_autofree char *tmpdir = NULL;
    g_autofree char *socket_path = NULL;
    g_autofree char *config_path = NULL;
    g_autofree char *config = NULL;
    g_autofree char *address = NULL;
    g_autofree char *state_dir = NULL;
    g_autofree char *run_dir = NULL;
    g_autofree char *log_path = NULL;
    g_autofree char *dbus_daemon = g_find_program_in_path("dbus-daemon");
    g_autoptr(GSubprocess) bus = NULL;
    g_autoptr(GSubprocess) podvmd = NULL;
    g_autoptr(GDBusConnection) connection = NULL;
    g_autoptr(PodvmDBusManager) manager = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *created = NULL;
    g_autofree char *root_out = NULL;
    g_autofree char *nobody_out = NULL;
    Listener *root_listener;
    Listener *nobody_listener;
    gint64 deadline;

    if (getuid() != 0) {
        g_test_skip("needs root: the bus policy is told apart by uid (root, nobody)");
        return;
    }
    if (dbus_daemon == NULL) {
        g_test_skip("dbus-daemon is not installed (apt-get install dbus-daemon)");
        return;
    }
    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    if (!podvm_test_require_guest())
        return;

    tmpdir = podvm_test_mkdtemp();
    /* nobody must reach the bus socket, and nothing else in here. */
    g_assert_cmpint(chmod(tmpdir, 0711), ==, 0);
    socket_path = g_build_filename(tmpdir, "system_bus_socket", NULL);
    config_path = g_build_filename(tmpdir, "bus.conf", NULL);
    state_dir = g_build_filename(tmpdir, "state", NULL);
    run_dir = g_build_filename(tmpdir, "run", NULL);
    log_path = g_build_filename(tmpdir, "podvmd.log", NULL);
    config = bus_config(socket_path);
    g_file_set_contents(config_path, config, -1, &error);
    g_assert_no_error(error);

    {
        g_autoptr(GDataInputStream) out = NULL;

        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);

        g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
        bus = g_subprocess_launcher_spawn(launcher, &error, "dbus-daemon", "--nofork", "--nosyslog",
                                          "--print-address", "--config-file", config_path, NULL);
        g_assert_no_error(error);
        out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(bus));
        address = g_data_input_stream_read_line_utf8(out, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(address);
        g_test_message("bus at %s", address);
    }

    {
        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);

        /* The system bus, as in production: no --session. */
        g_subprocess_launcher_setenv(launcher, "DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);
        g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
        g_subprocess_launcher_set_stderr_file_path(launcher, log_path);
        /* The test guest's kernel lies in the build tree: a kernel directory. */
        g_autofree char *kernel = podvm_test_guest_kernel();
        g_autofree char *guest_dir = g_path_get_dirname(kernel);
        g_autofree char *guest_abs = g_canonicalize_filename(guest_dir, NULL);
        g_autofree char *podvmd_conf = g_build_filename(tmpdir, "podvmd.conf", NULL);
        g_autofree char *podvmd_conf_text = g_strdup_printf("[qemu]\nkernel_dirs=%s\n", guest_abs);

        g_file_set_contents(podvmd_conf, podvmd_conf_text, -1, &error);
        g_assert_no_error(error);
        podvmd = g_subprocess_launcher_spawn(launcher, &error, g_getenv("PODVMD"), "--verbose",
                                             "--accel", "tcg", "--qemu", podvm_test_qemu_binary(),
                                             "--config", podvmd_conf, "--state-dir", state_dir,
                                             "--run-dir", run_dir, NULL);
        g_assert_no_error(error);
    }
    connection =
        g_dbus_connection_new_for_address_sync(address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    g_assert_no_error(error);
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
            connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "NameHasOwner", g_variant_new("(s)", BUS_NAME), G_VARIANT_TYPE("(b)"),
            G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
        gboolean has_owner = FALSE;

        if (reply != NULL)
            g_variant_get(reply, "(b)", &has_owner);
        if (has_owner)
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20000);
    }

    root_listener = listener_start(address, FALSE);
    g_assert_nonnull(root_listener);
    nobody_listener = listener_start(address, TRUE);
    if (nobody_listener == NULL) {
        g_test_skip("this test program cannot run as uid 65534 (nobody): its directory is not "
                    "reachable by that user");
        g_free(listener_finish(root_listener));
        g_subprocess_send_signal(podvmd, SIGTERM);
        g_subprocess_wait(podvmd, NULL, NULL);
        g_clear_object(&connection);
        g_subprocess_send_signal(bus, SIGTERM);
        g_subprocess_wait(bus, NULL, NULL);
        podvm_test_rmrf(tmpdir);
        return;
    }

    /* Signals with the spec (InterfacesAdded, Event), then with status (PropertiesChanged). */
    manager = podvm_dbus_manager_proxy_new_sync(connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                BUS_NAME, MANAGER_PATH, NULL, &error);
    g_assert_no_error(error);
    spec = secret_spec();
    podvm_dbus_manager_call_create_pod_sync(manager, spec, &created, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_dbus_pod_proxy_new_sync(connection, G_DBUS_PROXY_FLAGS_NONE, BUS_NAME,
                                        MANAGER_PATH "/pod/secret", NULL, &error);
    g_assert_no_error(error);
    {
        /* The Spec property: the secrets hidden, the rest there; GetSpec: all of it. */
        g_autofree char *spec_property = podvm_dbus_pod_dup_spec(pod);
        g_autofree char *full = NULL;

        g_assert_nonnull(spec_property);
        g_assert_null(strstr(spec_property, SECRET));
        g_assert_nonnull(strstr(spec_property, "(hidden: "));
        g_assert_null(strstr(spec_property, SECRET_KERNEL_ARG));
        g_assert_nonnull(strstr(spec_property, "\"memory\""));
        podvm_dbus_pod_call_get_spec_sync(pod, &full, NULL, &error);
        g_assert_no_error(error);
        g_assert_nonnull(strstr(full, SECRET));
        g_assert_nonnull(strstr(full, SECRET_KERNEL_ARG));
    }
    {
        g_autofree char *apps = app_spec();
        g_autofree char *created_app = NULL;

        podvm_dbus_manager_call_create_pod_sync(manager, apps, &created_app, NULL, &error);
        g_assert_no_error(error);
    }
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
    podvm_dbus_pod_call_kill_sync(pod, NULL, &error);
    g_assert_no_error(error);
    g_usleep(300000); /* the last signals reach the listeners */

    root_out = listener_finish(root_listener);
    nobody_out = listener_finish(nobody_listener);
    g_test_message("root heard:\n%s", root_out);
    g_test_message("nobody heard:\n%s", nobody_out);

    /*
     * Both hear the pod and may read it: its spec as a reader sees it,
     * secrets hidden (cloud-init data, the kernel's arguments, the app's
     * environment values; the names shown).
     */
    for (guint i = 0; i < 2; i++) {
        const char *out = i == 0 ? root_out : nobody_out;

        g_assert_cmpuint(count(out, "SIGNAL org.freedesktop.DBus.ObjectManager.InterfacesAdded"),
                         >=, 1);
        g_assert_cmpuint(count(out, "SIGNAL org.freedesktop.DBus.Properties.PropertiesChanged"), >=,
                         1);
        g_assert_cmpuint(count(out, "SIGNAL io.podvm.PodVM1.Manager.Event"), >=, 1);
        g_assert_nonnull(strstr(out, "CALL GetManagedObjects OK"));
        g_assert_nonnull(strstr(out, "CALL ListPods OK"));
        g_assert_nonnull(strstr(out, "CALL GetPod OK"));
        g_assert_nonnull(strstr(out, "CALL ListPodsFiltered OK"));
        g_assert_nonnull(strstr(out, "CALL ListImages OK"));
        g_assert_nonnull(strstr(out, "CALL GetSpecProperty OK"));
        g_assert_nonnull(strstr(out, "CALL GetAll OK"));
        g_assert_nonnull(strstr(out, "CALL Introspect OK"));
        g_assert_nonnull(strstr(out, "(hidden: "));
        g_assert_nonnull(strstr(out, "DB_PASSWORD"));
        g_assert_null(strstr(out, SECRET));
        g_assert_null(strstr(out, SECRET_KERNEL_ARG));
        g_assert_null(strstr(out, ENV_SECRET));
    }

    /* root may call the admins' methods: GetSpec shows the secret; the others reach podvmd. */
    g_assert_nonnull(strstr(root_out, "CALL GetSpec OK secret=yes"));
    g_assert_null(strstr(root_out, "DENIED org.freedesktop.DBus.Error.AccessDenied"));

    /* nobody, a reader, may not: the bus refuses before podvmd sees the call. */
    {
        static const char *const admin_calls[] = { "GetSpec", "CreatePod", "Start",
                                                   "Delete",  "Qmp",       "OpenConsole" };

        for (gsize i = 0; i < G_N_ELEMENTS(admin_calls); i++) {
            g_autofree char *denied = g_strdup_printf(
                "CALL %s DENIED org.freedesktop.DBus.Error.AccessDenied", admin_calls[i]);

            g_assert_nonnull(strstr(nobody_out, denied));
        }
    }
    {
        /* As podvmctl tells it: the role it needs, and how to get it. */
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        g_assert_cmpint(ctl_as_nobody(address, &out, &err, "start", "secret"), ==, 1);
        g_assert_nonnull(strstr(err, "needs the admin role"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        /* show as a reader: the reader view. */
        g_assert_cmpint(ctl_as_nobody(address, &out, &err, "show", "secret"), ==, 0);
        g_assert_nonnull(strstr(out, "(hidden: "));
        g_assert_null(strstr(out, SECRET));
        g_assert_cmpint(ctl_as_nobody(address, NULL, NULL, "list"), ==, 0);
        g_clear_pointer(&out, g_free);
        /* show as root: everything. */
        g_assert_cmpint(ctl_as(address, FALSE, &out, NULL, "show", "secret", NULL), ==, 0);
        g_assert_nonnull(strstr(out, SECRET));
        g_assert_nonnull(strstr(out, SECRET_KERNEL_ARG));
    }

    g_clear_object(&pod);
    g_clear_object(&manager);
    g_subprocess_send_signal(podvmd, SIGTERM);
    g_subprocess_wait(podvmd, NULL, NULL);
    {
        /* A clean exit, and no sanitizer report in podvmd's log. */
        g_autofree char *log = NULL;

        g_file_get_contents(log_path, &log, NULL, NULL);
        if (g_test_failed() || (log != NULL && strstr(log, "Sanitizer") != NULL))
            g_printerr("---- podvmd log ----\n%s\n", log != NULL ? log : "");
        g_assert_true(log == NULL || strstr(log, "Sanitizer") == NULL);
        g_assert_true(g_subprocess_get_if_exited(podvmd));
        g_assert_cmpint(g_subprocess_get_exit_status(podvmd), ==, 0);
    }
    g_clear_object(&connection);
    g_subprocess_send_signal(bus, SIGTERM);
    g_subprocess_wait(bus, NULL, NULL);
    podvm_test_rmrf(tmpdir);
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--listen") == 0)
        return run_listener(argv[2]);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/dbus/bus-policy", test_policy);
    return g_test_run();
}
