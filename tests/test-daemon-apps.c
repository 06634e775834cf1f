/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App pods end to end (suite apps): a real podvmd runs pods with spec.apps
 * and no kernel or disks in podvm's app guest (BUILD/guest/app), from OCI
 * layouts the test writes (a busybox image), their root filesystems built
 * by podvm-unpack-app-rootfs. What an app prints reaches the console log as
 * "NAME: line"; the apps' exits make the phase and status.apps.
 *
 * Skips with the reason when QEMU, the app guest, the rootfs helper,
 * mkfs.erofs or busybox-static is missing.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 120000

typedef struct {
    PodvmTestDaemon *daemon;
    char *dir;    /* OCI layouts */
    char *layout; /* DIR/busybox */
} Fixture;

static gboolean
app_guest_dir(char **out_dir)
{
    const char *dir = g_getenv("PODVM_APP_GUEST_DIR");
    g_autofree char *kernel = dir != NULL ? g_build_filename(dir, "vmlinuz", NULL) : NULL;
    g_autofree char *initrd = dir != NULL ? g_build_filename(dir, "initrd.img", NULL) : NULL;
    GStatBuf st;

    if (kernel == NULL || g_stat(kernel, &st) != 0 || st.st_size == 0 || g_stat(initrd, &st) != 0 ||
        st.st_size == 0) {
        g_test_skip("the app guest is not built (guest/build-app-guest.sh; see BUILD/guest/app/"
                    "build.log)");
        return FALSE;
    }
    *out_dir = g_strdup(dir);
    return TRUE;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree char *guest_dir = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *erofs = g_find_program_in_path("mkfs.erofs");
    const char *podvmd = g_getenv("PODVMD");
    g_autofree char *podvmd_dir = podvmd != NULL ? g_path_get_dirname(podvmd) : NULL;
    g_autofree char *beside =
        podvmd_dir != NULL ? g_build_filename(podvmd_dir, "podvm-unpack-app-rootfs", NULL) : NULL;
    const char *helper =
        g_getenv("PODVM_APP_ROOTFS_HELPER") != NULL ? g_getenv("PODVM_APP_ROOTFS_HELPER") : beside;

    memset(f, 0, sizeof *f);
    if (!podvm_test_require_qemu() || !app_guest_dir(&guest_dir))
        return;
    if (helper == NULL || !g_file_test(helper, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("podvm-unpack-app-rootfs is not built");
        return;
    }
    if (erofs == NULL) {
        g_test_skip("mkfs.erofs (erofs-utils) is not installed");
        return;
    }
    f->dir = podvm_test_mkdtemp();
    f->layout = g_build_filename(f->dir, "busybox", NULL);
    /* Port 9 of loopback has no registry: a pull from it fails at once. */
    conf = g_strdup_printf("[apps]\nguest_dir=%s\nrootfs_helper=%s\n[images]\n"
                           "insecure_registries=127.0.0.1:9\n",
                           guest_dir, helper);
    f->daemon = podvm_test_daemon_new_with_config(conf);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    if (f->dir != NULL)
        podvm_test_rmrf(f->dir);
    g_free(f->dir);
    g_free(f->layout);
}

/* The busybox image with @entrypoint/@cmd, written as @tag; NULL (skipped) without busybox. */
static char *
write_busybox(Fixture *f, const char *tag, const char *const *entrypoint, const char *const *cmd,
              void (*adjust)(PodvmTestImage *image))
{
    g_autoptr(PodvmTestImage) image = podvm_test_image_new_busybox(cmd);
    g_autofree char *digest = NULL;

    if (image == NULL)
        return NULL;
    if (entrypoint != NULL)
        podvm_test_image_set_entrypoint(image, entrypoint);
    if (adjust != NULL)
        adjust(image);
    digest = podvm_test_image_write_layout(image, f->layout, tag, NULL);
    return g_strdup_printf("oci:%s:%s", f->layout, tag);
}

/* A Pod document: @apps_json is spec.apps (JSON text). */
static char *
app_pod(const char *name, const char *restart_policy, const char *apps_json)
{
    return g_strdup_printf("{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": "
                           "{\"name\": \"%s\"}, \"spec\": {\"terminationGracePeriodSeconds\": 5, "
                           "\"restartPolicy\": \"%s\", \"apps\": %s}}",
                           name, restart_policy, apps_json);
}

static void
create_and_start(Fixture *f, const char *doc, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, doc, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_test_daemon_pod(f->daemon, name);
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
}

/* The pod's status.apps[@i] (a new reference). */
static JsonObject *
app_status(Fixture *f, const char *pod, guint i)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, pod);
    JsonArray *apps;

    g_assert_true(json_object_has_member(status, "apps"));
    apps = json_object_get_array_member(status, "apps");
    g_assert_cmpuint(json_array_get_length(apps), >, i);
    return json_object_ref(json_array_get_object_element(apps, i));
}

static void
assert_console(Fixture *f, const char *pod, const char *needle)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, pod);

    if (!podvm_test_wait_for_file_content(log, needle, BOOT_TIMEOUT_MS)) {
        g_autofree char *text = NULL;

        g_file_get_contents(log, &text, NULL, NULL);
        g_test_message("console log of %s:\n%s", pod, text != NULL ? text : "(none)");
        g_error("'%s' never appeared on %s's console", needle, pod);
    }
}

static void
wait_phase(Fixture *f, const char *pod, const char *phase)
{
    if (!podvm_test_daemon_wait_phase(f->daemon, pod, phase, BOOT_TIMEOUT_MS)) {
        g_autofree char *log = podvm_test_daemon_console_log(f->daemon, pod);
        g_autofree char *text = NULL;
        g_autofree char *now = podvm_test_daemon_phase(f->daemon, pod);
        g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, pod);
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), status);
        g_autofree char *status_text = json_to_string(node, TRUE);

        g_file_get_contents(log, &text, NULL, NULL);
        g_test_message("console log of %s:\n%s", pod, text != NULL ? text : "(none)");
        g_test_message("status: %s", status_text);
        g_error("pod %s is %s, not %s", pod, now, phase);
    }
}

/* An app prints a line: the console shows "NAME: line"; Succeeded with exit code 0. */
static void
test_hello(Fixture *f, gconstpointer data)
{
    static const char *const cmd[] = { "/bin/sh", "-c", "echo hello from the app", NULL };
    g_autofree char *image = NULL;
    g_autofree char *apps = NULL;
    g_autofree char *doc = NULL;
    g_autoptr(JsonObject) app = NULL;
    g_autoptr(JsonObject) status = NULL;

    if (f->daemon == NULL || (image = write_busybox(f, "hello", NULL, cmd, NULL)) == NULL)
        return;
    apps = g_strdup_printf("[{\"name\": \"greeter\", \"image\": \"%s\"}]", image);
    doc = app_pod("hello", "Never", apps);
    create_and_start(f, doc, "hello");
    assert_console(f, "hello", "greeter: hello from the app");
    wait_phase(f, "hello", "Succeeded");

    app = app_status(f, "hello", 0);
    g_assert_cmpstr(json_object_get_string_member(app, "name"), ==, "greeter");
    g_assert_cmpstr(json_object_get_string_member(app, "image"), ==, image);
    g_assert_cmpstr(json_object_get_string_member(app, "state"), ==, "Exited");
    g_assert_cmpint(json_object_get_int_member(app, "exitCode"), ==, 0);
    g_assert_true(g_str_has_prefix(json_object_get_string_member(app, "imageDigest"), "sha256:"));
    g_assert_true(json_object_has_member(app, "startedAt"));
    g_assert_true(json_object_has_member(app, "finishedAt"));
    status = podvm_test_daemon_status(f->daemon, "hello");
    g_assert_cmpstr(json_object_get_string_member(status, "reason"), ==, "AppsCompleted");
}

/* An app exits 3: Failed, the message names the app and the code. */
static void
test_exit_code(Fixture *f, gconstpointer data)
{
    static const char *const cmd[] = { "/bin/sh", "-c", "echo failing; exit 3", NULL };
    g_autofree char *image = NULL;
    g_autofree char *apps = NULL;
    g_autofree char *doc = NULL;
    g_autoptr(JsonObject) app = NULL;
    g_autoptr(JsonObject) status = NULL;

    if (f->daemon == NULL || (image = write_busybox(f, "fail", NULL, cmd, NULL)) == NULL)
        return;
    apps = g_strdup_printf("[{\"name\": \"bad\", \"image\": \"%s\"}]", image);
    doc = app_pod("failing", "Never", apps);
    create_and_start(f, doc, "failing");
    assert_console(f, "failing", "bad: failing");
    wait_phase(f, "failing", "Failed");
    status = podvm_test_daemon_status(f->daemon, "failing");
    g_assert_cmpstr(json_object_get_string_member(status, "message"), ==,
                    "app bad exited with code 3");
    app = app_status(f, "failing", 0);
    g_assert_cmpstr(json_object_get_string_member(app, "state"), ==, "Exited");
    g_assert_cmpint(json_object_get_int_member(app, "exitCode"), ==, 3);
}

static gboolean
restarted(gpointer user_data)
{
    Fixture *f = user_data;
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, "again");

    return json_object_get_int_member_with_default(status, "restartCount", 0) >= 1;
}

/* restartPolicy Always: an app pod that Succeeded starts again. */
static void
test_restart_always(Fixture *f, gconstpointer data)
{
    static const char *const cmd[] = { "/bin/sh", "-c", "echo round", NULL };
    g_autofree char *image = NULL;
    g_autofree char *apps = NULL;
    g_autofree char *doc = NULL;
    g_autofree char *log = NULL;

    if (f->daemon == NULL || (image = write_busybox(f, "again", NULL, cmd, NULL)) == NULL)
        return;
    apps = g_strdup_printf("[{\"name\": \"loop\", \"image\": \"%s\"}]", image);
    doc = app_pod("again", "Always", apps);
    create_and_start(f, doc, "again");
    g_assert_true(podvm_test_wait_until(restarted, f, BOOT_TIMEOUT_MS));
    log = podvm_test_daemon_console_log(f->daemon, "again");
    g_assert_true(podvm_test_wait_for_file_content(log, "loop: round", BOOT_TIMEOUT_MS));
    /* The second round prints again. */
    for (int i = 0; i < 1200 && podvm_test_count_in_file(log, "loop: round") < 2; i++)
        g_usleep(100 * 1000);
    g_assert_cmpuint(podvm_test_count_in_file(log, "loop: round"), >=, 2);
    /* It may be between two runs (its back-off), with nothing to kill: the fixture ends it. */
    podvm_test_ctl(f->daemon, NULL, NULL, "kill", "again", NULL);
}

static void
image_env(PodvmTestImage *image)
{
    podvm_test_image_add_env(image, "FOO=from-image");
    podvm_test_image_add_env(image, "KEEP=kept");
    podvm_test_image_set_working_dir(image, "/tmp");
}

/*
 * Two apps. "over": the spec's command replaces the image's Entrypoint and
 * Cmd, its env overrides the image's (the rest kept), its workingDir the
 * image's. "argsonly": the image's Entrypoint with the spec's args instead of
 * its Cmd, in the image's workingDir.
 */
static void
test_overrides_two_apps(Fixture *f, gconstpointer data)
{
    static const char *const entrypoint[] = { "/bin/sh", "-c", NULL };
    static const char *const cmd[] = { "echo image-cmd-ran", NULL };
    g_autofree char *image = NULL;
    g_autofree char *apps = NULL;
    g_autofree char *doc = NULL;
    g_autoptr(JsonObject) a = NULL;
    g_autoptr(JsonObject) b = NULL;

    if (f->daemon == NULL || (image = write_busybox(f, "env", entrypoint, cmd, image_env)) == NULL)
        return;
    apps = g_strdup_printf(
        "[{\"name\": \"over\", \"image\": \"%s\", \"command\": [\"/bin/sh\", \"-c\", "
        "\"echo FOO=$FOO KEEP=$KEEP PWD=$(pwd) ARG=$0\", \"first\"], \"env\": [{\"name\": \"FOO\", "
        "\"value\": \"from-spec\"}], \"workingDir\": \"/root\"}, "
        "{\"name\": \"argsonly\", \"image\": \"%s\", \"args\": [\"echo args-ran in $(pwd)\"]}]",
        image, image);
    doc = app_pod("overrides", "Never", apps);
    create_and_start(f, doc, "overrides");
    assert_console(f, "overrides", "over: FOO=from-spec KEEP=kept PWD=/root ARG=first");
    assert_console(f, "overrides", "argsonly: args-ran in /tmp");
    wait_phase(f, "overrides", "Succeeded");
    {
        g_autofree char *log = podvm_test_daemon_console_log(f->daemon, "overrides");

        g_assert_cmpuint(podvm_test_count_in_file(log, "image-cmd-ran"), ==, 0);
    }
    a = app_status(f, "overrides", 0);
    b = app_status(f, "overrides", 1);
    g_assert_cmpstr(json_object_get_string_member(a, "name"), ==, "over");
    g_assert_cmpstr(json_object_get_string_member(b, "name"), ==, "argsonly");
    g_assert_cmpint(json_object_get_int_member(a, "exitCode"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(b, "exitCode"), ==, 0);
}

static gboolean
app_running(gpointer user_data)
{
    Fixture *f = user_data;
    g_autoptr(JsonObject) app = app_status(f, "sleeper", 0);

    return g_strcmp0(json_object_get_string_member(app, "state"), "Running") == 0;
}

/*
 * status.apps while the app runs: Running with its pid; exec into the app;
 * a stop ends the pod Stopped.
 */
static void
test_status_running(Fixture *f, gconstpointer data)
{
    static const char *const cmd[] = { "/bin/sh", "-c", "echo sleeping; exec sleep 600", NULL };
    g_autofree char *image = NULL;
    g_autofree char *apps = NULL;
    g_autofree char *doc = NULL;
    g_autoptr(JsonObject) app = NULL;
    g_autofree char *out = NULL;

    if (f->daemon == NULL || (image = write_busybox(f, "sleep", NULL, cmd, NULL)) == NULL)
        return;
    apps = g_strdup_printf("[{\"name\": \"napper\", \"image\": \"%s\"}]", image);
    doc = app_pod("sleeper", "Never", apps);
    create_and_start(f, doc, "sleeper");
    assert_console(f, "sleeper", "napper: sleeping");
    g_assert_true(podvm_test_wait_until(app_running, f, 30000));
    app = app_status(f, "sleeper", 0);
    g_assert_cmpint(json_object_get_int_member(app, "pid"), >, 1);
    g_assert_false(json_object_has_member(app, "exitCode"));
    /* podvmctl show -o json has it too. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "show", "sleeper", "-o", "json", NULL),
                    ==, 0);
    g_assert_nonnull(strstr(out, "\"napper\""));
    g_assert_nonnull(strstr(out, "\"Running\""));

    /* exec through the channel: output relayed, the command's exit code is podvmctl's. */
    {
        g_autofree char *exec_out = NULL;
        g_autofree char *exec_err = NULL;

        g_assert_cmpint(podvm_test_ctl(f->daemon, &exec_out, &exec_err, "exec", "sleeper", "--app",
                                       "napper", "--", "/bin/sh", "-c",
                                       "echo in-$(hostname); echo oops >&2; exit 5", NULL),
                        ==, 5);
        g_assert_cmpstr(exec_out, ==, "in-sleeper\n");
        g_assert_nonnull(strstr(exec_err, "oops"));
        g_clear_pointer(&exec_err, g_free);
        g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &exec_err, "exec", "sleeper", "--app",
                                       "nobody", "--", "/bin/true", NULL),
                        !=, 0);
        g_assert_nonnull(strstr(exec_err, "nobody"));
    }

    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "stop", "sleeper", NULL), ==, 0);
    wait_phase(f, "sleeper", "Stopped");
}

static gboolean
app_exited(gpointer user_data)
{
    Fixture *f = user_data;
    g_autoptr(JsonObject) app = app_status(f, "survivor", 0);

    return g_strcmp0(json_object_get_string_member(app, "state"), "Exited") == 0;
}

/*
 * podvmd restarts while the app runs: the guest runs on, podvmd connects to
 * its channel again, and the app's later exit (code 4) still makes the phase.
 */
static void
test_daemon_restart(Fixture *f, gconstpointer data)
{
    static const char *const cmd[] = { "/bin/sh", "-c", "echo up; sleep 20; echo done; exit 4",
                                       NULL };
    g_autofree char *image = NULL;
    g_autofree char *apps = NULL;
    g_autofree char *doc = NULL;
    g_autoptr(JsonObject) before = NULL;
    g_autoptr(JsonObject) after = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autofree char *phase = NULL;

    if (f->daemon == NULL || (image = write_busybox(f, "restart", NULL, cmd, NULL)) == NULL)
        return;
    apps = g_strdup_printf("[{\"name\": \"steady\", \"image\": \"%s\"}]", image);
    doc = app_pod("survivor", "Never", apps);
    create_and_start(f, doc, "survivor");
    assert_console(f, "survivor", "steady: up");
    before = app_status(f, "survivor", 0);
    g_assert_cmpstr(json_object_get_string_member(before, "state"), ==, "Running");

    podvm_test_daemon_kill9(f->daemon);
    podvm_test_daemon_start(f->daemon);
    /* The stored status, then the guest's report again: still the same run of the app. */
    phase = podvm_test_daemon_phase(f->daemon, "survivor");
    g_assert_cmpstr(phase, ==, "Running");
    after = app_status(f, "survivor", 0);
    g_assert_cmpint(json_object_get_int_member(after, "pid"), ==,
                    json_object_get_int_member(before, "pid"));

    g_assert_true(podvm_test_wait_until(app_exited, f, BOOT_TIMEOUT_MS));
    wait_phase(f, "survivor", "Failed");
    status = podvm_test_daemon_status(f->daemon, "survivor");
    g_assert_cmpstr(json_object_get_string_member(status, "message"), ==,
                    "app steady exited with code 4");
    {
        g_autofree char *log = podvm_test_daemon_console_log(f->daemon, "survivor");

        g_assert_cmpuint(podvm_test_count_in_file(log, "steady: up"), ==, 1);
    }
}

/* An image the registry cannot give: the start fails naming the app, the image and the registry. */
static void
test_pull_fails(Fixture *f, gconstpointer data)
{
    static const char doc[] =
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
        "\"nopull\"}, \"spec\": {\"apps\": [{\"name\": \"ghost\", \"image\": "
        "\"docker://127.0.0.1:9/apps/none:1\"}]}}";
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonObject) status = NULL;
    const char *message;

    if (f->daemon == NULL)
        return;
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, doc, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_test_daemon_pod(f->daemon, "nopull");
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_nonnull(error);
    g_test_message("%s", error->message);
    wait_phase(f, "nopull", "Failed");
    status = podvm_test_daemon_status(f->daemon, "nopull");
    message = json_object_get_string_member(status, "message");
    g_test_message("%s", message);
    g_assert_nonnull(strstr(message, "app ghost"));
    g_assert_nonnull(strstr(message, "docker://127.0.0.1:9/apps/none:1"));
    g_assert_nonnull(strstr(message, "127.0.0.1:9"));
    g_assert_nonnull(strstr(error->message, "app ghost"));
    /* Nothing of QEMU's: the start failed before QEMU ran, and says so by its code. */
    {
        g_autofree char *remote = g_dbus_error_get_remote_error(error);

        g_assert_cmpstr(remote, ==, "io.podvm.PodVM1.Error.Failed");
    }
}

/* The Ready condition's status ("True", "False") of @pod, or NULL. */
static char *
ready_status(Fixture *f, const char *pod)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, pod);
    JsonArray *conditions;

    if (!json_object_has_member(status, "conditions"))
        return NULL;
    conditions = json_object_get_array_member(status, "conditions");
    for (guint i = 0; i < json_array_get_length(conditions); i++) {
        JsonObject *condition = json_array_get_object_element(conditions, i);

        if (g_strcmp0(json_object_get_string_member_with_default(condition, "type", NULL),
                      "Ready") == 0)
            return g_strdup(json_object_get_string_member_with_default(condition, "status", NULL));
    }
    return NULL;
}

typedef struct {
    Fixture *f;
    const char *want;
} ReadyWait;

static gboolean
ready_is(gpointer user_data)
{
    ReadyWait *wait = user_data;
    g_autofree char *now = ready_status(wait->f, "prober");

    return g_strcmp0(now, wait->want) == 0;
}

/*
 * An exec readiness probe runs its command in the app through the channel:
 * Ready follows a file the test creates and removes with podvmctl exec.
 */
static void
test_exec_probe(Fixture *f, gconstpointer data)
{
    static const char *const cmd[] = { "/bin/sh", "-c", "echo probing; exec sleep 600", NULL };
    g_autofree char *image = NULL;
    g_autofree char *doc = NULL;
    ReadyWait wait = { f, "False" };

    if (f->daemon == NULL || (image = write_busybox(f, "probe", NULL, cmd, NULL)) == NULL)
        return;
    doc = g_strdup_printf(
        "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
        "\"prober\"}, \"spec\": {\"terminationGracePeriodSeconds\": 5, \"restartPolicy\": "
        "\"Never\", \"apps\": [{\"name\": \"app\", \"image\": \"%s\"}], "
        "\"readinessProbe\": {\"exec\": {\"command\": [\"/bin/sh\", \"-c\", \"test -f "
        "/tmp/ready\"]}, \"periodSeconds\": 1, \"timeoutSeconds\": 5, \"failureThreshold\": "
        "1}}}",
        image);
    create_and_start(f, doc, "prober");
    assert_console(f, "prober", "app: probing");
    g_assert_true(podvm_test_wait_until(ready_is, &wait, 60000));
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "exec", "prober", "--", "/bin/touch",
                                   "/tmp/ready", NULL),
                    ==, 0);
    wait.want = "True";
    g_assert_true(podvm_test_wait_until(ready_is, &wait, 60000));
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "exec", "prober", "--", "/bin/rm",
                                   "/tmp/ready", NULL),
                    ==, 0);
    wait.want = "False";
    g_assert_true(podvm_test_wait_until(ready_is, &wait, 60000));
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "stop", "prober", NULL), ==, 0);
    wait_phase(f, "prober", "Stopped");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/apps/daemon/hello", Fixture, NULL, fixture_setup, test_hello,
               fixture_teardown);
    g_test_add("/podvm/apps/daemon/exit-code", Fixture, NULL, fixture_setup, test_exit_code,
               fixture_teardown);
    g_test_add("/podvm/apps/daemon/overrides-two-apps", Fixture, NULL, fixture_setup,
               test_overrides_two_apps, fixture_teardown);
    g_test_add("/podvm/apps/daemon/status-running", Fixture, NULL, fixture_setup,
               test_status_running, fixture_teardown);
    g_test_add("/podvm/apps/daemon/restart-always", Fixture, NULL, fixture_setup,
               test_restart_always, fixture_teardown);
    g_test_add("/podvm/apps/daemon/daemon-restart", Fixture, NULL, fixture_setup,
               test_daemon_restart, fixture_teardown);
    g_test_add("/podvm/apps/daemon/exec-probe", Fixture, NULL, fixture_setup, test_exec_probe,
               fixture_teardown);
    g_test_add("/podvm/apps/daemon/pull-fails", Fixture, NULL, fixture_setup, test_pull_fails,
               fixture_teardown);
    return g_test_run();
}
