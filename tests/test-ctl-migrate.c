/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What podvmctl migrate and drain show, against a scripted podvmd: this
 * test owns io.podvm.PodVM1 on a private bus and answers Pod.Migrate as
 * it is told, emitting the manager's MigrationProgress and MigrationStep
 * events first. Without a terminal: one line per event of the pod (other
 * pods' are not shown), then "migrated POD to TARGET in T ms (downtime D
 * ms)"; on a terminal (script(1)): the progress line redrawn in place;
 * Ctrl-C asks CancelMigration and the failure is reported; drain migrates
 * the LiveMigrate pod, stops the others that run and sums up.
 */
#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "podvm-dbus-generated.h"

#define MANAGER_PATH "/io/podvm/PodVM1"
#define POD_PREFIX MANAGER_PATH "/pod/"

typedef struct {
    GTestDBus *bus;
    GDBusConnection *connection;
    PodvmDBusManager *manager;
    GHashTable *pods; /* name -> PodvmDBusPod skeleton */
    GString *calls;   /* "Migrate p {...}; Stop b -1; CancelMigration p; " */
    const char *list; /* ListPods' answer */
    gboolean migrate_fails;
    gboolean migrate_waits;         /* Migrate answers only after CancelMigration */
    GDBusMethodInvocation *pending; /* a Migrate that waits */
    GSubprocess *ctl;               /* the podvmctl running */
} Fake;

static void
emit(Fake *f, const char *pod, const char *type, const char *details)
{
    podvm_dbus_manager_emit_event(f->manager, pod, type, details);
}

static gboolean
handle_migrate(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, const char *options,
               gpointer user_data)
{
    Fake *f = user_data;
    const char *name = g_object_get_data(G_OBJECT(iface), "name");

    g_string_append_printf(f->calls, "Migrate %s %s; ", name, options);
    emit(f, name, "MigrationStarted", "{}");
    emit(f, name, "MigrationProgress",
         "{\"phase\": \"mirroring\", \"disks\": 1, \"diskTransferredBytes\": 2097152}");
    emit(f, name, "MigrationProgress",
         "{\"phase\": \"migrating\", \"passes\": 1, \"transferredBytes\": 1048576, "
         "\"remainingBytes\": 3145728, \"totalBytes\": 4194304, \"dirtyRate\": 524288, "
         "\"disks\": 1, \"diskTransferredBytes\": 2097152}");
    emit(f, "other", "MigrationProgress",
         "{\"phase\": \"migrating\", \"passes\": 9, \"transferredBytes\": 1}");
    emit(f, name, "MigrationStep",
         "{\"step\": \"auto-converge\", \"reason\": \"the remaining RAM stopped shrinking\"}");
    emit(f, name, "MigrationProgress",
         "{\"phase\": \"migrating\", \"passes\": 2, \"transferredBytes\": 4194304, "
         "\"remainingBytes\": 0, \"totalBytes\": 4194304, \"dirtyRate\": 0, \"disks\": 1, "
         "\"diskTransferredBytes\": 2097152}");
    if (f->migrate_waits) {
        /* The handler's reference: answering it later (handle_cancel) consumes it. */
        f->pending = invocation;
        if (f->ctl != NULL)
            g_subprocess_send_signal(f->ctl, SIGINT);
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    if (f->migrate_fails) {
        g_dbus_method_invocation_return_dbus_error(
            invocation, "io.podvm.PodVM1.Error.Failed",
            "the target lost the migrated pod; it runs here again");
        return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
    emit(f, name, "MigrationCompleted", "{\"totalMs\": 1234, \"downtimeMs\": 56}");
    podvm_dbus_pod_complete_migrate(
        iface, invocation,
        "{\"pod\": \"p\", \"target\": \"https://b:8443\", \"id\": \"x\", \"totalMs\": 1234, "
        "\"downtimeMs\": 56, \"transferredBytes\": 4194304}");
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_cancel(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    Fake *f = user_data;

    g_string_append_printf(f->calls, "CancelMigration %s; ",
                           (const char *)g_object_get_data(G_OBJECT(iface), "name"));
    podvm_dbus_pod_complete_cancel_migration(iface, invocation);
    if (f->pending != NULL) {
        g_dbus_method_invocation_return_dbus_error(g_steal_pointer(&f->pending),
                                                   "io.podvm.PodVM1.Error.Cancelled",
                                                   "the migration was cancelled; the pod runs "
                                                   "here");
    }
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_stop(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, gint grace, gpointer user_data)
{
    Fake *f = user_data;

    g_string_append_printf(f->calls, "Stop %s %d; ",
                           (const char *)g_object_get_data(G_OBJECT(iface), "name"), grace);
    podvm_dbus_pod_complete_stop(iface, invocation);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static PodvmDBusPod *
add_pod(Fake *f, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = g_strconcat(POD_PREFIX, name, NULL);
    PodvmDBusPod *pod = podvm_dbus_pod_skeleton_new();

    g_object_set_data_full(G_OBJECT(pod), "name", g_strdup(name), g_free);
    podvm_dbus_pod_set_name(pod, name);
    g_signal_connect(pod, "handle-migrate", G_CALLBACK(handle_migrate), f);
    g_signal_connect(pod, "handle-cancel-migration", G_CALLBACK(handle_cancel), f);
    g_signal_connect(pod, "handle-stop", G_CALLBACK(handle_stop), f);
    g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(pod), f->connection, path, &error);
    g_assert_no_error(error);
    g_hash_table_insert(f->pods, g_strdup(name), pod);
    return pod;
}

static gboolean
handle_get_pod(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *name,
               gpointer user_data)
{
    Fake *f = user_data;
    g_autofree char *path = g_strconcat(POD_PREFIX, name, NULL);

    if (!g_hash_table_contains(f->pods, name))
        g_dbus_method_invocation_return_dbus_error(invocation, "io.podvm.PodVM1.Error.NotFound",
                                                   "no pod 'x'");
    else
        podvm_dbus_manager_complete_get_pod(iface, invocation, path);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_pods(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    Fake *f = user_data;

    podvm_dbus_manager_complete_list_pods(iface, invocation, f->list != NULL ? f->list : "[]");
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
fake_setup(Fake *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = NULL;

    f->bus = g_test_dbus_new(G_TEST_DBUS_NONE);
    g_test_dbus_up(f->bus);
    f->connection =
        g_dbus_connection_new_for_address_sync(g_test_dbus_get_bus_address(f->bus),
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    g_assert_no_error(error);
    f->pods = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    f->calls = g_string_new(NULL);
    f->manager = podvm_dbus_manager_skeleton_new();
    g_signal_connect(f->manager, "handle-get-pod", G_CALLBACK(handle_get_pod), f);
    g_signal_connect(f->manager, "handle-list-pods", G_CALLBACK(handle_list_pods), f);
    g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(f->manager), f->connection,
                                     MANAGER_PATH, &error);
    g_assert_no_error(error);
    reply = g_dbus_connection_call_sync(f->connection, "org.freedesktop.DBus",
                                        "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                        "RequestName", g_variant_new("(su)", "io.podvm.PodVM1", 0),
                                        NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error(error);
}

static void
fake_teardown(Fake *f, gconstpointer data)
{
    g_clear_object(&f->pending);
    g_clear_object(&f->ctl);
    g_hash_table_unref(f->pods);
    g_object_unref(f->manager);
    g_string_free(f->calls, TRUE);
    g_dbus_connection_close_sync(f->connection, NULL, NULL);
    g_object_unref(f->connection);
    g_test_dbus_down(f->bus);
    g_object_unref(f->bus);
}

typedef struct {
    GMainLoop *loop;
    char *out;
    char *err;
} Outcome;

static void
communicated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Outcome *outcome = user_data;
    g_autoptr(GError) error = NULL;

    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), result, &outcome->out, &outcome->err,
                                         &error);
    g_assert_no_error(error);
    g_main_loop_quit(outcome->loop);
}

/*
 * Runs @argv (podvmctl --session is put first; with @tty under script(1))
 * while this process serves the bus; returns the exit status.
 */
static int
run_ctl(Fake *f, gboolean tty, const char *const *args, char **out, char **err)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) command = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    Outcome outcome = { .loop = loop };
    const char *ctl = g_getenv("PODVMCTL");
    int status;

    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(f->bus), TRUE);
    g_subprocess_launcher_setenv(launcher, "LC_ALL", "C", TRUE);
    g_ptr_array_add(argv, g_strdup(ctl != NULL ? ctl : "podvmctl"));
    g_ptr_array_add(argv, g_strdup("--session"));
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, g_strdup(args[i]));
    if (tty) {
        /* script(1) gives podvmctl a terminal; its output is the terminal's. */
        for (guint i = 0; i < argv->len; i++) {
            g_autofree char *quoted = g_shell_quote(g_ptr_array_index(argv, i));
            g_string_append_printf(command, "%s%s", i > 0 ? " " : "", quoted);
        }
        g_ptr_array_set_size(argv, 0);
        g_ptr_array_add(argv, g_strdup("script"));
        g_ptr_array_add(argv, g_strdup("-qefc"));
        g_ptr_array_add(argv, g_strdup(command->str));
        g_ptr_array_add(argv, g_strdup("/dev/null"));
    }
    g_ptr_array_add(argv, NULL);
    f->ctl = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8_async(f->ctl, NULL, NULL, communicated_cb, &outcome);
    g_main_loop_run(loop);
    status = g_subprocess_get_if_exited(f->ctl) ? g_subprocess_get_exit_status(f->ctl) : 128;
    g_clear_object(&f->ctl);
    g_test_message("stdout: %s\nstderr: %s", outcome.out, outcome.err);
    *out = outcome.out;
    *err = outcome.err;
    return status;
}

static void
test_lines(Fake *f, gconstpointer data)
{
    const char *const args[] = { "migrate", "p", "--to", "b", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    add_pod(f, "p");
    g_assert_cmpint(run_ctl(f, FALSE, args, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==,
                    "p: progress: mirroring 1 disk: 2Mi sent\n"
                    "p: progress: 1Mi of 4Mi, remaining 3Mi, pass 1, dirty 512Ki/s, "
                    "disks 2Mi\n"
                    "p: step: auto-converge: the remaining RAM stopped shrinking\n"
                    "p: progress: 4Mi of 4Mi, remaining 0, pass 2, dirty 0/s"
                    ", disks 2Mi\n"
                    "migrated p to b in 1234 ms (downtime 56 ms)\n");
    g_assert_cmpstr(err, ==, "");
    g_assert_cmpstr(f->calls->str, ==, "Migrate p {\"target\":\"b\"}; ");
}

static void
test_failure(Fake *f, gconstpointer data)
{
    const char *const args[] = { "migrate", "p", "--to", "b", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    add_pod(f, "p");
    f->migrate_fails = TRUE;
    g_assert_cmpint(run_ctl(f, FALSE, args, &out, &err), ==, 1);
    g_assert_cmpstr(err, ==, "podvmctl: the target lost the migrated pod; it runs here again\n");
    g_assert_null(strstr(out, "migrated p"));
}

static void
test_terminal(Fake *f, gconstpointer data)
{
    const char *const args[] = { "migrate", "p", "--to", "b", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *script = g_find_program_in_path("script");

    if (script == NULL) {
        g_test_skip("no script(1) to give podvmctl a terminal");
        return;
    }
    add_pod(f, "p");
    g_assert_cmpint(run_ctl(f, TRUE, args, &out, &err), ==, 0);
    /* Redrawn in place: carriage return, erase the line, the bar. */
    g_assert_nonnull(strstr(out, "\r\033[Kp [-----"));
    g_assert_nonnull(strstr(out, "\r\033[Kp [#####---------------] 1Mi / 4Mi  "
                                 "remaining 3Mi  pass 1"));
    g_assert_nonnull(strstr(out, "\r\033[Kp [####################] 4Mi / 4Mi  "
                                 "remaining 0  pass 2"));
    /* A step is a line of its own, the bar drawn again below it. */
    g_assert_nonnull(strstr(out, "p: step: auto-converge: the remaining RAM stopped shrinking\r\n"
                                 "\r\033[Kp [#####"));
    g_assert_nonnull(strstr(out, "\r\033[Kmigrated p to b in 1234 ms (downtime 56 ms)\r\n"));
    g_assert_null(strstr(out, "pass 9"));
}

static void
test_interrupt(Fake *f, gconstpointer data)
{
    const char *const args[] = { "migrate", "p", "--to", "b", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    add_pod(f, "p");
    f->migrate_waits = TRUE;
    g_assert_cmpint(run_ctl(f, FALSE, args, &out, &err), ==, 1);
    g_assert_cmpstr(f->calls->str, ==, "Migrate p {\"target\":\"b\"}; CancelMigration p; ");
    g_assert_nonnull(strstr(err, "podvmctl: cancelling the migration of 'p'"));
    g_assert_nonnull(strstr(err, "podvmctl: the migration was cancelled; the pod runs here\n"));
}

static void
test_drain(Fake *f, gconstpointer data)
{
    const char *const args[] = { "drain", "--to", "b", "--bandwidth", "1Mi", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    f->list = "[{\"metadata\": {\"name\": \"a\"}, \"spec\": {\"evictionStrategy\": "
              "\"LiveMigrate\"}, \"status\": {\"phase\": \"Running\"}},"
              " {\"metadata\": {\"name\": \"c\"}, \"spec\": {}, \"status\": {\"phase\": "
              "\"Paused\"}},"
              " {\"metadata\": {\"name\": \"d\"}, \"spec\": {}, \"status\": {\"phase\": "
              "\"Stopped\"}},"
              " {\"metadata\": {\"name\": \"e\"}, \"spec\": {\"evictionStrategy\": "
              "\"LiveMigrate\"}, \"status\": {\"phase\": \"Pending\"}}]";
    add_pod(f, "a");
    add_pod(f, "c");
    add_pod(f, "d");
    add_pod(f, "e");
    g_assert_cmpint(run_ctl(f, FALSE, args, &out, &err), ==, 0);
    g_assert_cmpstr(f->calls->str, ==,
                    "Migrate a {\"target\":\"b\",\"maxBandwidth\":1048576}; Stop c -1; ");
    g_assert_nonnull(strstr(out, "migrated a to b in 1234 ms (downtime 56 ms)\n"));
    g_assert_nonnull(strstr(out, "stopped c\n"));
    g_assert_true(g_str_has_suffix(out, "drain: 1 migrated to b, 1 stopped, 0 failed\n"));
    g_assert_cmpstr(err, ==, "");
}

/* show: the JSON on stdout as ever, the migration's state for people on stderr. */
static void
test_show(Fake *f, gconstpointer data)
{
    const char *const args[] = { "show", "p", NULL };
    PodvmDBusPod *pod = add_pod(f, "p");
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_set_spec(pod, "{\"metadata\": {\"name\": \"p\"}, \"spec\": {}}");
    podvm_dbus_pod_set_status(
        pod, "{\"phase\": \"Migrating\", \"migrationState\": {\"phase\": \"migrating\", "
             "\"target\": \"https://b:8443\", \"passes\": 3, \"transferredBytes\": 1048576, "
             "\"totalBytes\": 4194304, \"remainingBytes\": 3145728, \"dirtyRate\": 1024, "
             "\"mbps\": 95.5, \"expectedDowntimeMs\": 120, \"steps\": [{\"step\": "
             "\"auto-converge\", \"at\": 900, \"pass\": 2}]}}");
    g_assert_cmpint(run_ctl(f, FALSE, args, &out, &err), ==, 0);
    json_parser_load_from_data(parser, out, -1, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(err, ==,
                    "p: migration to https://b:8443 (phase migrating): 1Mi of "
                    "4Mi sent, 3Mi remaining, pass 3, dirty "
                    "1Ki/s, 95.5 Mbps, expected downtime 120 ms; steps: "
                    "auto-converge (pass 2)\n");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/ctl/migrate/lines", Fake, NULL, fake_setup, test_lines, fake_teardown);
    g_test_add("/podvm/ctl/migrate/failure", Fake, NULL, fake_setup, test_failure, fake_teardown);
    g_test_add("/podvm/ctl/migrate/terminal", Fake, NULL, fake_setup, test_terminal, fake_teardown);
    g_test_add("/podvm/ctl/migrate/interrupt", Fake, NULL, fake_setup, test_interrupt,
               fake_teardown);
    g_test_add("/podvm/ctl/migrate/drain", Fake, NULL, fake_setup, test_drain, fake_teardown);
    g_test_add("/podvm/ctl/migrate/show", Fake, NULL, fake_setup, test_show, fake_teardown);
    return g_test_run();
}
