/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What podvmctl image, exec, status and run (of an image) send and show,
 * against a scripted podvmd: this test owns io.podvm.PodVM1 on a private
 * bus and answers as it is told. The real runs (a registry, the app
 * guest) are the images and apps suites'.
 */
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "podvm-dbus-generated.h"

#define MANAGER_PATH "/io/podvm/PodVM1"
#define POD_PREFIX MANAGER_PATH "/pod/"
#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct {
    GTestDBus *bus;
    GDBusConnection *connection;
    PodvmDBusManager *manager;
    GHashTable *pods;       /* name -> PodvmDBusPod skeleton */
    GString *calls;         /* "PullImage docker://x; RemoveImage x true; " */
    char *created;          /* the last CreatePod's spec */
    const char *end_status; /* the Status set when the console opens, before it closes */
    gboolean remove_busy;
} Fake;

static void
emit(Fake *f, const char *pod, const char *type, const char *details)
{
    podvm_dbus_manager_emit_event(f->manager, pod, type, details);
}

/* ---- images ---- */

static gboolean
handle_pull(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *reference,
            gpointer user_data)
{
    Fake *f = user_data;

    g_string_append_printf(f->calls, "PullImage %s; ", reference);
    emit(f, "", "image-pull",
         "{\"reference\": \"docker.io/library/busybox:latest\", \"phase\": \"manifest\"}");
    emit(f, "", "image-pull",
         "{\"reference\": \"docker.io/library/busybox:latest\", \"phase\": \"layers\", "
         "\"doneBytes\": 1048576, \"totalBytes\": 4194304}");
    emit(f, "", "image-pull",
         "{\"reference\": \"docker.io/library/busybox:latest\", \"phase\": \"layers\", "
         "\"doneBytes\": 4194304, \"totalBytes\": 4194304}");
    emit(f, "other", "image-pull",
         "{\"reference\": \"docker.io/library/other:latest\", \"phase\": \"elsewhere\"}");
    podvm_dbus_manager_complete_pull_image(
        iface, invocation,
        "{\"reference\": \"docker.io/library/busybox:latest\", \"digest\": \"" DIGEST
        "\", \"size\": 4200000, \"pulledAt\": \"2026-12-05T06:00:00Z\", \"inUseBy\": []}");
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_images(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autoptr(GDateTime) then = g_date_time_add_seconds(now, -3 * 3600 - 30);
    g_autofree char *pulled = g_date_time_format_iso8601(then);
    g_autofree char *list = g_strdup_printf(
        "[{\"reference\": \"docker.io/library/redis:latest\", \"digest\": \"" DIGEST "\", "
        "\"size\": 31457280, \"pulledAt\": \"%s\", \"inUseBy\": [\"web\", \"cache\"]},"
        " {\"reference\": \"127.0.0.1:5000/apps/busybox@sha256:ff\", \"digest\": "
        "\"sha256:ffeeddccbbaa99887766\", \"size\": 1024, \"inUseBy\": []}]",
        pulled);

    podvm_dbus_manager_complete_list_images(iface, invocation, list);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_remove_image(PodvmDBusManager *iface, GDBusMethodInvocation *invocation,
                    const char *reference, gboolean force, gpointer user_data)
{
    Fake *f = user_data;

    g_string_append_printf(f->calls, "RemoveImage %s %s; ", reference, force ? "true" : "false");
    if (f->remove_busy && !force)
        g_dbus_method_invocation_return_dbus_error(
            invocation, "io.podvm.PodVM1.Error.Busy",
            "image 'docker.io/library/redis:latest' is used by pod 'web'; stop it or use --force");
    else
        podvm_dbus_manager_complete_remove_image(iface, invocation);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_prune(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
    Fake *f = user_data;

    g_string_append(f->calls, "PruneImages; ");
    podvm_dbus_manager_complete_prune_images(
        iface, invocation,
        "{\"removed\": 2, \"freedBytes\": 3145728, "
        "\"removedCacheEntries\": 1, \"cacheFreedBytes\": 46137344}");
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- pods ---- */

static gboolean
handle_exec(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
            const char *app, const char *const *argv, GVariant *in, GVariant *out, GVariant *err,
            gpointer user_data)
{
    Fake *f = user_data;
    g_autofree char *joined = g_strjoinv(",", (char **)argv);
    g_autoptr(GError) error = NULL;
    /* Taken from the message, which would keep them open until it goes. */
    int n_fds = 0;
    g_autofree int *all = g_unix_fd_list_steal_fds(fds, &n_fds);
    int in_fd = all[g_variant_get_handle(in)];
    int out_fd = all[g_variant_get_handle(out)];
    int err_fd = all[g_variant_get_handle(err)];
    char buffer[256];
    ssize_t n;
    g_autofree char *echo = NULL;

    g_assert_cmpint(n_fds, ==, 3);
    g_string_append_printf(f->calls, "Exec %s [%s]; ", app, joined);
    /* The command reads its stdin to the end, echoes it, complains on stderr. */
    n = read(in_fd, buffer, sizeof(buffer) - 1);
    g_assert_cmpint(n, >=, 0);
    buffer[n] = '\0';
    echo = g_strdup_printf("got: %s", buffer);
    g_assert_cmpint(write(out_fd, echo, strlen(echo)), ==, (gssize)strlen(echo));
    g_assert_cmpint(write(err_fd, "oops\n", 5), ==, 5);
    close(in_fd);
    close(out_fd);
    close(err_fd);
    podvm_dbus_pod_complete_exec(iface, invocation, NULL, 3);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_start(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, GVariant *options,
             gpointer user_data)
{
    Fake *f = user_data;
    const char *name = g_object_get_data(G_OBJECT(iface), "name");
    gboolean debug = FALSE;

    g_variant_lookup(options, "debug", "b", &debug);
    g_string_append_printf(f->calls, "Start %s%s; ", name, debug ? " debug" : "");
    emit(f, name, "image-pull",
         "{\"reference\": \"docker.io/library/busybox:latest\", \"phase\": \"layers\", "
         "\"doneBytes\": 2097152, \"totalBytes\": 4194304}");
    podvm_dbus_pod_set_phase(iface, "Running");
    podvm_dbus_pod_set_status(iface, "{\"phase\": \"Running\"}");
    podvm_dbus_pod_complete_start(iface, invocation);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* The console: the app's output, then the pod ends and the console closes. */
static gboolean
handle_open_console(PodvmDBusPod *iface, GDBusMethodInvocation *invocation, GUnixFDList *in_fds,
                    GVariant *options, gpointer user_data)
{
    Fake *f = user_data;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(GError) error = NULL;
    int pair[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
    g_unix_fd_list_append(fds, pair[1], &error);
    g_assert_no_error(error);
    close(pair[1]);
    g_assert_cmpint(write(pair[0], "busybox: hello from the app\r\n", 29), ==, 29);
    if (f->end_status != NULL) {
        podvm_dbus_pod_set_status(iface, f->end_status);
        close(pair[0]);
    }
    podvm_dbus_pod_complete_open_console(iface, invocation, fds, g_variant_new_handle(0));
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
    podvm_dbus_pod_set_phase(pod, "Pending");
    podvm_dbus_pod_set_status(pod, "{\"phase\": \"Pending\"}");
    g_signal_connect(pod, "handle-exec", G_CALLBACK(handle_exec), f);
    g_signal_connect(pod, "handle-start", G_CALLBACK(handle_start), f);
    g_signal_connect(pod, "handle-open-console", G_CALLBACK(handle_open_console), f);
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
handle_create_pod(PodvmDBusManager *iface, GDBusMethodInvocation *invocation, const char *spec,
                  gpointer user_data)
{
    Fake *f = user_data;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    const char *name;

    json_parser_load_from_data(parser, spec, -1, &error);
    g_assert_no_error(error);
    name = json_object_get_string_member(
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
                                      "metadata"),
        "name");
    g_free(f->created);
    f->created = g_strdup(spec);
    g_string_append_printf(f->calls, "CreatePod %s; ", name);
    add_pod(f, name);
    path = g_strconcat(POD_PREFIX, name, NULL);
    podvm_dbus_manager_complete_create_pod(iface, invocation, path);
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
    g_signal_connect(f->manager, "handle-create-pod", G_CALLBACK(handle_create_pod), f);
    g_signal_connect(f->manager, "handle-pull-image", G_CALLBACK(handle_pull), f);
    g_signal_connect(f->manager, "handle-list-images", G_CALLBACK(handle_list_images), f);
    g_signal_connect(f->manager, "handle-remove-image", G_CALLBACK(handle_remove_image), f);
    g_signal_connect(f->manager, "handle-prune-images", G_CALLBACK(handle_prune), f);
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
    g_hash_table_unref(f->pods);
    g_object_unref(f->manager);
    g_string_free(f->calls, TRUE);
    g_free(f->created);
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
 * Runs podvmctl --session @args (under script(1) with @tty) with @input on
 * its stdin while this process serves the bus; returns the exit status.
 */
static int
run_ctl(Fake *f, gboolean tty, const char *input, const char *const *args, char **out, char **err)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) command = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(GSubprocess) ctl_process = NULL;
    Outcome outcome = { .loop = loop };
    const char *ctl = g_getenv("PODVMCTL");

    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(f->bus), TRUE);
    g_subprocess_launcher_setenv(launcher, "LC_ALL", "C", TRUE);
    g_ptr_array_add(argv, g_strdup(ctl != NULL ? ctl : "podvmctl"));
    g_ptr_array_add(argv, g_strdup("--session"));
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, g_strdup(args[i]));
    if (tty) {
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
    ctl_process = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8_async(ctl_process, input != NULL ? input : "", NULL,
                                        communicated_cb, &outcome);
    g_main_loop_run(loop);
    g_test_message("stdout: %s\nstderr: %s", outcome.out, outcome.err);
    *out = outcome.out;
    *err = outcome.err;
    return g_subprocess_get_if_exited(ctl_process) ? g_subprocess_get_exit_status(ctl_process)
                                                   : 128;
}

static gboolean
have_script(void)
{
    g_autofree char *script = g_find_program_in_path("script");

    if (script == NULL)
        g_test_skip("no script(1) to give podvmctl a terminal");
    return script != NULL;
}

/* ---- image ---- */

static void
test_pull_lines(Fake *f, gconstpointer data)
{
    const char *const args[] = { "image", "pull", "busybox", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_assert_cmpint(run_ctl(f, FALSE, NULL, args, &out, &err), ==, 0);
    g_assert_cmpstr(f->calls->str, ==, "PullImage busybox; ");
    g_assert_cmpstr(out, ==, "pulled docker.io/library/busybox:latest (" DIGEST ", 4.0Mi)\n");
    /* A line per phase, not per event; other pods' pulls are not ours. */
    g_assert_cmpstr(err, ==,
                    "docker.io/library/busybox:latest: manifest\n"
                    "docker.io/library/busybox:latest: layers (4Mi)\n");
}

static void
test_pull_terminal(Fake *f, gconstpointer data)
{
    const char *const args[] = { "image", "pull", "docker://busybox", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (!have_script())
        return;
    g_assert_cmpint(run_ctl(f, TRUE, NULL, args, &out, &err), ==, 0);
    /* script(1) merges stderr into the terminal's output. */
    g_assert_nonnull(strstr(out, "\r\033[Kdocker.io/library/busybox:latest [#####---------------] "
                                 "1Mi / 4Mi"));
    g_assert_nonnull(strstr(out, "\r\033[Kdocker.io/library/busybox:latest "
                                 "[####################] 4Mi / 4Mi"));
    g_assert_nonnull(strstr(out, "\r\033[Kpulled docker.io/library/busybox:latest"));
    g_assert_null(strstr(out, "elsewhere"));
}

static void
test_list(Fake *f, gconstpointer data)
{
    const char *const args[] = { "image", "list", NULL };
    const char *const json_args[] = { "image", "list", "-o", "json", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(run_ctl(f, FALSE, NULL, args, &out, &err), ==, 0);
    lines = g_strsplit(out, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 4);
    g_assert_cmpstr(lines[0], ==,
                    "REFERENCE                              DIGEST        SIZE  PULLED    "
                    "IN USE");
    g_assert_cmpstr(lines[1], ==,
                    "docker.io/library/redis:latest         0123456789ab  30Mi  3h0m ago  "
                    "web,cache");
    g_assert_cmpstr(lines[2], ==,
                    "127.0.0.1:5000/apps/busybox@sha256:ff  ffeeddccbbaa  1Ki   -         -");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_ctl(f, FALSE, NULL, json_args, &out, &err), ==, 0);
    json_parser_load_from_data(parser, out, -1, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(json_parser_get_root(parser)));
    g_assert_cmpuint(json_array_get_length(json_node_get_array(json_parser_get_root(parser))), ==,
                     2);
}

/* -o wide: the whole digest and when it was pulled; -o yaml: the list as YAML. */
static void
test_list_wide_yaml(Fake *f, gconstpointer data)
{
    const char *const wide_args[] = { "image", "list", "-o", "wide", NULL };
    const char *const yaml_args[] = { "image", "list", "-o", "yaml", NULL };
    const char *const bad_args[] = { "image", "list", "-o", "xml", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_cmpint(run_ctl(f, FALSE, NULL, wide_args, &out, &err), ==, 0);
    lines = g_strsplit(out, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 4);
    g_assert_true(g_str_has_prefix(lines[0], "REFERENCE "));
    g_assert_true(g_str_has_suffix(lines[0], "  IN USE     PULLED AT"));
    g_assert_true(g_str_has_prefix(lines[1], "docker.io/library/redis:latest         " DIGEST
                                             "  30Mi  3h0m ago  web,cache  2026-"));
    g_assert_true(g_str_has_prefix(lines[2], "127.0.0.1:5000/apps/busybox@sha256:ff  "
                                             "sha256:ffeeddccbbaa99887766 "));
    g_assert_true(g_str_has_suffix(lines[2], "  -"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_ctl(f, FALSE, NULL, yaml_args, &out, &err), ==, 0);
    g_assert_true(g_str_has_prefix(out, "- reference: docker.io/library/redis:latest\n"
                                        "  digest: " DIGEST "\n"
                                        "  size: 31457280\n"));
    g_assert_nonnull(strstr(out, "  inUseBy:\n  - web\n  - cache\n"));
    g_assert_nonnull(strstr(out, "  inUseBy: []\n"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(run_ctl(f, FALSE, NULL, bad_args, &out, &err), ==, 2);
    g_assert_nonnull(
        strstr(err, "unknown output format 'xml'; expected one of table, wide, json, yaml"));
}

static void
test_rm_prune(Fake *f, gconstpointer data)
{
    const char *const rm[] = { "image", "rm", "redis", NULL };
    const char *const rm_force[] = { "image", "rm", "redis", "--force", NULL };
    const char *const prune[] = { "image", "prune", NULL };
    const char *const bad[] = { "image", "remove", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    f->remove_busy = TRUE;
    g_assert_cmpint(run_ctl(f, FALSE, NULL, rm, &out, &err), ==, 1);
    g_assert_cmpstr(err, ==,
                    "podvmctl: image 'docker.io/library/redis:latest' is used by pod 'web'; stop "
                    "it or use --force\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_ctl(f, FALSE, NULL, rm_force, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "removed redis\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_ctl(f, FALSE, NULL, prune, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==,
                    "removed 2 images, freed 3Mi\n"
                    "removed 1 containerDisk cache entry, freed 44Mi\n");
    g_assert_cmpstr(f->calls->str, ==,
                    "RemoveImage redis false; RemoveImage redis true; PruneImages; ");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_ctl(f, FALSE, NULL, bad, &out, &err), ==, 2);
    g_assert_nonnull(strstr(err, "unknown subcommand 'remove'; expected pull, list, rm or prune"));
}

/* ---- exec ---- */

static void
test_exec(Fake *f, gconstpointer data)
{
    const char *const args[] = { "exec", "web", "--app", "redis", "--", "sh", "-c", "cat", NULL };
    const char *const no_command[] = { "exec", "web", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    add_pod(f, "web");
    /* The command's exit code is podvmctl's; its stdio are podvmctl's own. */
    g_assert_cmpint(run_ctl(f, FALSE, "ping\n", args, &out, &err), ==, 3);
    g_assert_cmpstr(f->calls->str, ==, "Exec redis [sh,-c,cat]; ");
    g_assert_cmpstr(out, ==, "got: ping\n");
    g_assert_cmpstr(err, ==, "oops\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_ctl(f, FALSE, NULL, no_command, &out, &err), ==, 2);
    g_assert_nonnull(strstr(err, "missing the command; give it after --"));
}

/* ---- status ---- */

static void
test_status(Fake *f, gconstpointer data)
{
    const char *const args[] = { "status", "web", NULL };
    PodvmDBusPod *pod = add_pod(f, "web");
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    podvm_dbus_pod_set_status(
        pod, "{\"phase\": \"Failed\", \"reason\": \"AppFailed\", \"message\": \"app redis "
             "exited with code 1\", \"apps\": [{\"name\": \"redis\", \"state\": \"Exited\", "
             "\"exitCode\": 1, \"imageDigest\": \"" DIGEST "\"}, {\"name\": \"side\", \"state\": "
             "\"Exited\", \"exitCode\": 137, \"signal\": 9, \"message\": \"killed at the stop\"}, "
             "{\"name\": "
             "\"w\", \"state\": \"Waiting\"}]}");
    g_assert_cmpint(run_ctl(f, FALSE, NULL, args, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==,
                    "pod:     web\n"
                    "phase:   Failed\n"
                    "reason:  AppFailed\n"
                    "message: app redis exited with code 1\n"
                    "APP    STATE    EXIT CODE       IMAGE DIGEST\n"
                    "redis  Exited   1               sha256:0123456789ab\n"
                    "side   Exited   137 (signal 9)  -\n"
                    "w      Waiting  -               -\n"
                    "side: killed at the stop\n");
}

/* ---- run ---- */

static void
test_run_spec(Fake *f, gconstpointer data)
{
    const char *const args[] = { "run",       "docker://localhost:5000/apps/redis_server:7",
                                 "--name",    "cache",
                                 "--port",    "6379",
                                 "-p",        "8080:80/udp",
                                 "--memory",  "256Mi",
                                 "--cpus",    "1",
                                 "--dry-run", "--",
                                 "--port",    "7000",
                                 NULL };
    const char *const bad_port[] = { "run", "redis", "--port", "70000", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_assert_cmpint(run_ctl(f, FALSE, NULL, args, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==,
                    "{\"apiVersion\":\"podvm.io/v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                    "\"cache\"},\"spec\":{\"domain\":{\"devices\":{\"interfaces\":[{\"name\":"
                    "\"default\",\"masquerade\":{},\"ports\":[{\"protocol\":\"TCP\",\"port\":6379},"
                    "{\"protocol\":\"UDP\",\"port\":80,\"hostPort\":8080}]}]}},\"networks\":[{"
                    "\"name\":\"default\",\"pod\":{}}],\"apps\":[{\"name\":\"redis-server\","
                    "\"image\":\"docker://localhost:5000/apps/redis_server:7\",\"args\":"
                    "[\"--port\",\"7000\"],\"memory\":\"256Mi\",\"cpus\":\"1\"}]}}\n");
    g_assert_cmpstr(f->calls->str, ==, "");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_ctl(f, FALSE, NULL, bad_port, &out, &err), ==, 2);
    g_assert_nonnull(strstr(err, "--port '70000': expected [HOSTPORT:]PORT[/tcp|udp]"));
}

static void
test_run_oci_name(Fake *f, gconstpointer data)
{
    const char *const args[] = { "run", "oci:images/my.app:v1", "--dry-run", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *expected = NULL;

    g_assert_cmpint(run_ctl(f, FALSE, NULL, args, &out, &err), ==, 0);
    /* The directory made absolute for podvmd; the app named after it; a generated pod name. */
    expected = g_strdup_printf(
        "\"apps\":[{\"name\":\"my-app\",\"image\":\"oci:%s/images/my.app:v1\"}]", cwd);
    g_assert_nonnull(strstr(out, expected));
    g_assert_nonnull(strstr(out, "\"metadata\":{\"name\":\"my-app-"));
}

static void
test_run(Fake *f, gconstpointer data)
{
    const char *const args[] = { "run", "busybox", "--name", "web", "--", "echo", "hi", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    f->end_status = "{\"phase\": \"Failed\", \"message\": \"app busybox exited with code 3\", "
                    "\"apps\": [{\"name\": \"busybox\", \"state\": \"Exited\", \"exitCode\": 3}]}";
    /* Exits with the app's code; the last line names the phase. */
    g_assert_cmpint(run_ctl(f, FALSE, NULL, args, &out, &err), ==, 3);
    g_assert_cmpstr(f->calls->str, ==, "CreatePod web; Start web; ");
    g_assert_nonnull(strstr(f->created, "\"args\":[\"echo\",\"hi\"]"));
    g_assert_cmpstr(out, ==, "busybox: hello from the app\r\n");
    g_assert_true(g_str_has_suffix(err, "pod web Failed: app busybox exited with code 3\n"));
    /* No terminal: no progress. */
    g_assert_null(strstr(err, "MiB"));
}

/* An app a signal ended: 128 + N, and the line says which signal. */
static void
test_run_killed(Fake *f, gconstpointer data)
{
    const char *const args[] = { "run", "busybox", "--name", "web", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    f->end_status = "{\"phase\": \"Failed\", \"apps\": [{\"name\": \"busybox\", \"state\": "
                    "\"Exited\", \"exitCode\": 137, \"signal\": 9}]}";
    g_assert_cmpint(run_ctl(f, FALSE, NULL, args, &out, &err), ==, 137);
    g_assert_true(g_str_has_suffix(
        err, "pod web Failed: app busybox was killed by signal 9 (exit code 137)\n"));
}

static void
test_run_terminal(Fake *f, gconstpointer data)
{
    const char *const args[] = { "run", "busybox", "--name", "web", "--debug", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (!have_script())
        return;
    f->end_status = "{\"phase\": \"Succeeded\", \"apps\": [{\"name\": \"busybox\", \"state\": "
                    "\"Exited\", \"exitCode\": 0}]}";
    g_assert_cmpint(run_ctl(f, TRUE, NULL, args, &out, &err), ==, 0);
    g_assert_cmpstr(f->calls->str, ==, "CreatePod web; Start web debug; ");
    g_assert_nonnull(strstr(out, "\r\033[Kdocker.io/library/busybox:latest [##########"
                                 "----------] 2Mi / 4Mi"));
    g_assert_nonnull(strstr(out, "busybox: hello from the app"));
    g_assert_nonnull(strstr(out, "pod web Succeeded: app busybox exited with code 0"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/ctl/image/pull-lines", Fake, NULL, fake_setup, test_pull_lines,
               fake_teardown);
    g_test_add("/podvm/ctl/image/pull-terminal", Fake, NULL, fake_setup, test_pull_terminal,
               fake_teardown);
    g_test_add("/podvm/ctl/image/list", Fake, NULL, fake_setup, test_list, fake_teardown);
    g_test_add("/podvm/ctl/image/list/wide-yaml", Fake, NULL, fake_setup, test_list_wide_yaml,
               fake_teardown);
    g_test_add("/podvm/ctl/image/rm-prune", Fake, NULL, fake_setup, test_rm_prune, fake_teardown);
    g_test_add("/podvm/ctl/exec", Fake, NULL, fake_setup, test_exec, fake_teardown);
    g_test_add("/podvm/ctl/status", Fake, NULL, fake_setup, test_status, fake_teardown);
    g_test_add("/podvm/ctl/run/spec", Fake, NULL, fake_setup, test_run_spec, fake_teardown);
    g_test_add("/podvm/ctl/run/oci-name", Fake, NULL, fake_setup, test_run_oci_name, fake_teardown);
    g_test_add("/podvm/ctl/run/ends", Fake, NULL, fake_setup, test_run, fake_teardown);
    g_test_add("/podvm/ctl/run/killed", Fake, NULL, fake_setup, test_run_killed, fake_teardown);
    g_test_add("/podvm/ctl/run/terminal", Fake, NULL, fake_setup, test_run_terminal, fake_teardown);
    return g_test_run();
}
