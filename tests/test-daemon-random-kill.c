/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A bounded soak: rounds of kill -9 of podvmd at a random moment of a
 * burst of create/start/stop/delete (podvmctl processes in parallel), each
 * followed by a restart and a check of what must always hold: no QEMU that
 * no pod owns, never two QEMUs with one uuid, every pod's recorded QEMU is
 * the one that runs, and every pod name usable. The seed is printed; rerun
 * with --seed to replay a round.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define ROUNDS 10
#define SETTLE_TIMEOUT_MS 30000

static const char *const names[] = { "rk-a", "rk-b", "rk-c" };

typedef struct {
    PodvmTestDaemon *daemon;
    GPtrArray *children; /* of GSubprocess* */
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new();
    f->children = g_ptr_array_new_with_free_func(g_object_unref);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_ptr_array_unref(f->children);
    podvm_test_daemon_free(f->daemon);
}

/* podvmctl ARGS... in the background. */
static void
ctl_async(Fixture *f, const char *const *args)
{
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    GSubprocess *child;

    g_ptr_array_add(argv, (gpointer)g_getenv("PODVMCTL"));
    g_ptr_array_add(argv, "--session");
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (gpointer)args[i]);
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(f->daemon->bus), TRUE);
    child = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_ptr_array_add(f->children, child);
}

static void
wait_children(Fixture *f)
{
    for (guint i = 0; i < f->children->len; i++)
        g_subprocess_wait(g_ptr_array_index(f->children, i), NULL, NULL);
    g_ptr_array_set_size(f->children, 0);
}

/* Whether @pid holds a file below @dir open (QEMU gets its files as fds; the console log stays). */
static gboolean
holds_file_under(const char *pid, const char *dir)
{
    g_autofree char *fd_path = g_strdup_printf("/proc/%s/fd", pid);
    g_autoptr(GDir) fds = g_dir_open(fd_path, 0, NULL);
    const char *name;

    while (fds != NULL && (name = g_dir_read_name(fds)) != NULL) {
        g_autofree char *link = g_build_filename(fd_path, name, NULL);
        g_autofree char *target = g_file_read_link(link, NULL);

        if (target != NULL && g_str_has_prefix(target, dir) && target[strlen(dir)] == '/')
            return TRUE;
    }
    return FALSE;
}

/* The uuid after "-uuid" of every live QEMU of ours (its command line or its files name our
 * directory). */
static GPtrArray *
our_qemus(Fixture *f, GArray *out_pids)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    GPtrArray *uuids = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *cmd_path = g_strdup_printf("/proc/%s/cmdline", name);
        g_autofree char *stat_path = g_strdup_printf("/proc/%s/stat", name);
        g_autofree char *cmdline = NULL;
        g_autofree char *stat = NULL;
        const char *state;
        gsize length = 0;

        if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(cmd_path, &cmdline, &length, NULL) ||
            length == 0 || !g_file_get_contents(stat_path, &stat, NULL, NULL))
            continue;
        state = strrchr(stat, ')');
        if (state == NULL || state[2] == 'Z' || state[2] == 'X' ||
            strstr(cmdline, "qemu-system") == NULL ||
            (memmem(cmdline, length, f->daemon->tmpdir, strlen(f->daemon->tmpdir)) == NULL &&
             !holds_file_under(name, f->daemon->tmpdir)))
            continue;
        for (gsize i = 0; i < length; i += strlen(cmdline + i) + 1) {
            gsize next = i + strlen(cmdline + i) + 1;
            if (strcmp(cmdline + i, "-uuid") == 0 && next < length) {
                int pid = atoi(name);
                g_ptr_array_add(uuids, g_strdup(cmdline + next));
                g_array_append_val(out_pids, pid);
                break;
            }
        }
    }
    return uuids;
}

static char *
pod_uid(Fixture *f, const char *name)
{
    g_autofree char *path = g_build_filename(f->daemon->state_dir, "pods", name, "pod.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *pod;

    if (!json_parser_load_from_file(parser, path, NULL))
        return NULL;
    pod = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "pod");
    return g_strdup(
        json_object_get_string_member(json_object_get_object_member(pod, "metadata"), "uid"));
}

static gboolean
pod_exists(Fixture *f, const char *name)
{
    g_autofree char *path = NULL;

    return podvm_dbus_manager_call_get_pod_sync(f->daemon->manager, name, &path, NULL, NULL);
}

/*
 * Whether the invariants hold now; @why says which does not. Every QEMU of
 * ours belongs to a pod that records exactly that pid, and no uuid runs twice.
 */
static gboolean
invariants_hold(Fixture *f, char **why)
{
    g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GPtrArray) uuids = our_qemus(f, pids);

    for (guint i = 0; i < uuids->len; i++) {
        const char *uuid = g_ptr_array_index(uuids, i);
        int pid = g_array_index(pids, int, i);
        gboolean owned = FALSE;

        for (guint j = i + 1; j < uuids->len; j++) {
            if (g_str_equal(uuid, g_ptr_array_index(uuids, j))) {
                *why = g_strdup_printf("two QEMUs with uuid %s", uuid);
                return FALSE;
            }
        }
        for (guint n = 0; n < G_N_ELEMENTS(names) && !owned; n++) {
            g_autofree char *uid = NULL;
            g_autoptr(JsonObject) status = NULL;

            if (!pod_exists(f, names[n]) || (uid = pod_uid(f, names[n])) == NULL ||
                !g_str_equal(uid, uuid))
                continue;
            status = podvm_test_daemon_status(f->daemon, names[n]);
            owned = json_object_get_int_member_with_default(status, "qemuPid", 0) == pid;
            if (!owned) {
                *why = g_strdup_printf("pod '%s' (%s) does not record its QEMU pid %d", names[n],
                                       json_object_get_string_member(status, "phase"), pid);
                return FALSE;
            }
        }
        if (!owned) {
            *why = g_strdup_printf("QEMU pid %d (uuid %s) belongs to no pod", pid, uuid);
            return FALSE;
        }
    }
    return TRUE;
}

static void
assert_settles(Fixture *f, guint round)
{
    gint64 deadline = g_get_monotonic_time() + SETTLE_TIMEOUT_MS * 1000LL;
    g_autofree char *why = NULL;

    while (!invariants_hold(f, &why)) {
        if (g_get_monotonic_time() > deadline) {
            g_test_message("round %u: %s", round, why);
            g_assert_not_reached();
        }
        g_clear_pointer(&why, g_free);
        g_usleep(100000);
    }
}

/* Every name works: GET answers, or a create succeeds (and is undone). */
static void
assert_names_usable(Fixture *f, guint round)
{
    for (guint n = 0; n < G_N_ELEMENTS(names); n++) {
        g_autofree char *spec = NULL;
        g_autofree char *path = NULL;
        g_autoptr(GError) error = NULL;

        if (pod_exists(f, names[n])) {
            g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, names[n]);
            g_assert_nonnull(json_object_get_string_member(status, "phase"));
            continue;
        }
        spec = podvm_test_guest_spec(names[n], NULL, NULL, 1);
        podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
        if (error != NULL)
            g_test_message("round %u: create '%s': %s", round, names[n], error->message);
        g_assert_no_error(error);
        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "delete", names[n], NULL), ==, 0);
    }
}

static void
test_random_kill(Fixture *f, gconstpointer data)
{
    g_autofree char *spec_dir = NULL;
    gint64 begin = g_get_monotonic_time();

    if (f->daemon == NULL)
        return;
    spec_dir = g_build_filename(f->daemon->tmpdir, "specs", NULL);
    g_assert_cmpint(g_mkdir_with_parents(spec_dir, 0700), ==, 0);
    for (guint n = 0; n < G_N_ELEMENTS(names); n++) {
        g_autofree char *spec = podvm_test_guest_spec(names[n], NULL, NULL, 1);
        g_autofree char *file = g_strdup_printf("%s/%s.json", spec_dir, names[n]);
        g_assert_true(g_file_set_contents(file, spec, -1, NULL));
    }

    for (guint round = 0; round < ROUNDS; round++) {
        guint delay_ms = (guint)g_test_rand_int_range(20, 1500);

        /* A burst: each pod is created, started, stopped or deleted, all at once. */
        for (guint n = 0; n < G_N_ELEMENTS(names); n++) {
            g_autofree char *file = g_strdup_printf("%s/%s.json", spec_dir, names[n]);
            const char *create[] = { "create", "-f", file, NULL };
            const char *start[] = { "start", names[n], NULL };
            const char *stop[] = { "stop", names[n], "--grace", "0", NULL };
            const char *del[] = { "delete", "--force", names[n], NULL };

            switch (g_test_rand_int_range(0, 4)) {
            case 0:
                ctl_async(f, create);
                ctl_async(f, start);
                break;
            case 1:
                ctl_async(f, start);
                break;
            case 2:
                ctl_async(f, stop);
                break;
            default:
                ctl_async(f, del);
                ctl_async(f, create);
                ctl_async(f, start);
                break;
            }
        }
        g_test_message("round %u: kill -9 after %u ms", round, delay_ms);
        g_usleep(delay_ms * 1000);
        podvm_test_daemon_kill9(f->daemon);
        wait_children(f);
        {
            g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(int));
            g_autoptr(GPtrArray) running = our_qemus(f, pids);
            g_test_message("round %u: %u QEMU(s) while podvmd was down", round, running->len);
        }
        podvm_test_daemon_start(f->daemon);
        assert_settles(f, round);
        assert_names_usable(f, round);
    }

    /* And in the end a forced delete of each leaves no QEMU at all. */
    for (guint n = 0; n < G_N_ELEMENTS(names); n++) {
        if (pod_exists(f, names[n]))
            g_assert_cmpint(
                podvm_test_ctl(f->daemon, NULL, NULL, "delete", "--force", names[n], NULL), ==, 0);
    }
    {
        g_autoptr(GArray) pids = g_array_new(FALSE, FALSE, sizeof(int));
        g_autoptr(GPtrArray) left = our_qemus(f, pids);
        g_assert_cmpuint(left->len, ==, 0);
    }
    g_test_message("%u rounds in %.1f s", ROUNDS,
                   (double)(g_get_monotonic_time() - begin) / G_USEC_PER_SEC);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/slow/random-kill", Fixture, NULL, fixture_setup, test_random_kill,
               fixture_teardown);
    return g_test_run();
}
