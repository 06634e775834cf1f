/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App pods end to end, the whole product as a user drives it: images the
 * test builds (podvm-test-image.h) are pushed with skopeo to Debian's
 * docker-registry on loopback (podvm-test-registry.h), and `podvmctl run
 * docker://127.0.0.1:PORT/...` makes podvmd pull them, unpack them into the
 * app rootfs, boot the app guest with the default pod network (masquerade)
 * and run them. Each program runs in a network and mount namespace of its
 * own (podvm_test_netns_enter), so `redis-cli` from here reaches a pod's
 * address on the test's own bridge and nothing touches the machine's links.
 *
 * A part of the product that is not there yet (the app guest not built,
 * podvmd serving no images) makes the tests skip with that reason.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>

#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

/* podvmctl run: pull, unpack, boot the app guest under TCG, run, power off. */
#define RUN_TIMEOUT_S 300
#define REDIS_TIMEOUT_MS 120000

typedef struct {
    PodvmTestNet net; /* first: the podvm_test_net_* helpers take it */
    PodvmTestRegistry *reg;
    char *tmp;
} Fixture;

/* Test data: the registry asks for tokens (and podvmd has the auth.json). */
#define TOKEN_AUTH GINT_TO_POINTER(1)

static char *
app_guest_dir(void)
{
    const char *dir = g_getenv("PODVM_APP_GUEST_DIR");

    return dir != NULL ? g_strdup(dir) : NULL;
}

/* FALSE after g_test_skip() when the app guest is not built. */
static gboolean
require_app_guest(void)
{
    g_autofree char *dir = app_guest_dir();
    g_autofree char *kernel = dir != NULL ? g_build_filename(dir, "vmlinuz", NULL) : NULL;
    g_autofree char *initrd = dir != NULL ? g_build_filename(dir, "initrd.img", NULL) : NULL;
    g_autofree char *reason = NULL;

    if (dir != NULL && g_file_test(kernel, G_FILE_TEST_EXISTS) &&
        g_file_test(initrd, G_FILE_TEST_EXISTS))
        return TRUE;
    reason = g_strdup_printf("podvm's app guest is not built: no vmlinuz and initrd.img in %s "
                             "(guest/build-app-guest.sh; its build.log there says why)",
                             dir != NULL ? dir : "$PODVM_APP_GUEST_DIR (unset)");
    g_test_skip(reason);
    return FALSE;
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autofree char *conf = NULL;
    g_autofree char *guest_dir = NULL;
    g_autofree char *auth = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (podvm_test_net_skip_reason != NULL) {
        g_test_skip(podvm_test_net_skip_reason);
        return;
    }
    if (!g_file_test("/usr/lib/cni/bridge", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("Debian's containernetworking-plugins are not installed (/usr/lib/cni)");
        return;
    }
    if (!require_app_guest())
        return;
    /* The registry listens on 127.0.0.1 of the test's own namespace. */
    podvm_test_netns_run(&error, "ip", "link", "set", "lo", "up", NULL);
    g_assert_no_error(error);
    f->reg = podvm_test_registry_start(data == TOKEN_AUTH ? PODVM_TEST_REGISTRY_TOKEN_AUTH
                                                          : PODVM_TEST_REGISTRY_NONE);
    if (f->reg == NULL)
        return;
    f->tmp = podvm_test_mkdtemp();
    f->net.cni_dir = g_build_filename(f->tmp, "cni", NULL);
    g_assert_cmpint(g_mkdir_with_parents(f->net.cni_dir, 0700), ==, 0);
    podvm_test_net_write_conflist(f->net.cni_dir, "10-pods.conflist", "pods", "podvm0",
                                  "10.66.0.0/16", TRUE);
    guest_dir = app_guest_dir();
    if (podvm_test_registry_auth_file(f->reg) != NULL)
        auth = g_strdup_printf("auth_file=%s\n", podvm_test_registry_auth_file(f->reg));
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n"
                           "[images]\ninsecure_registries=%s\n%s"
                           "[apps]\nguest_dir=%s\n",
                           f->net.cni_dir, podvm_test_registry_host(f->reg), auth ? auth : "",
                           guest_dir);
    f->net.daemon = podvm_test_daemon_new_with_config(conf);
    if (f->net.daemon == NULL)
        return;
    /* podvmd serves images (Manager.ListImages), or the tests cannot run yet. */
    if (podvm_test_ctl(f->net.daemon, &out, &err, "image", "list", NULL) != 0) {
        g_autofree char *reason = g_strdup_printf(
            "podvmd does not serve images yet: podvmctl image list: %s", g_strstrip(err));

        g_test_skip(reason);
        g_clear_pointer(&f->net.daemon, podvm_test_daemon_free);
    }
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_autofree char *cni_parent = NULL;

    /* The net teardown deletes the pods and ends podvmd; it removes the CNI dir's
     * parent, our tmp, too. */
    if (f->net.cni_dir != NULL)
        cni_parent = g_path_get_dirname(f->net.cni_dir);
    podvm_test_net_teardown(&f->net, data);
    if (f->tmp != NULL && (cni_parent == NULL || strcmp(cni_parent, f->tmp) != 0))
        podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
    g_clear_pointer(&f->reg, podvm_test_registry_stop);
}

static gboolean
ready(Fixture *f)
{
    return f->net.daemon != NULL;
}

/* Builds @image into a layout and pushes it as @repo_tag; the manifest's digest. */
static char *
push_image(Fixture *f, PodvmTestImage *image, const char *repo_tag)
{
    g_autofree char *layout = g_build_filename(f->tmp, "layout", NULL);
    g_autofree char *digest = podvm_test_image_write_layout(image, layout, "push", NULL);
    g_autofree char *pushed = NULL;
    g_autoptr(GError) error = NULL;

    podvm_test_registry_push_full(f->reg, layout, "push", repo_tag, NULL, &pushed, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(pushed, ==, digest);
    return g_steal_pointer(&digest);
}

static char *
image_ref(Fixture *f, const char *repo_tag)
{
    return g_strdup_printf("docker://%s/%s", podvm_test_registry_host(f->reg), repo_tag);
}

static GSubprocessLauncher *
ctl_launcher(Fixture *f)
{
    GSubprocessLauncher *launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);

    /* Not a terminal: no raw mode, no progress bar; EOF on stdin keeps the console. */
    g_subprocess_launcher_set_stdin_file_path(launcher, "/dev/null");
    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(f->net.daemon->bus), TRUE);
    return launcher;
}

typedef struct {
    gboolean done;
    char *out;
    char *err;
} Communicated;

static void
communicated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Communicated *c = user_data;

    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), result, &c->out, &c->err, NULL);
    c->done = TRUE;
}

static gboolean
is_done(gpointer data)
{
    return ((Communicated *)data)->done;
}

/*
 * podvmctl --session ARGS... with a time limit: its exit status (SIGKILL
 * after @timeout_s: the test fails with what it printed).
 */
static int
run_ctl(Fixture *f, guint timeout_s, char **out_stdout, char **out_stderr, const char *first, ...)
{
    g_autoptr(GSubprocessLauncher) launcher = ctl_launcher(f);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;
    Communicated c = { FALSE, NULL, NULL };
    va_list args;

    g_ptr_array_add(argv, (gpointer)g_getenv("PODVMCTL"));
    g_ptr_array_add(argv, (gpointer) "--session");
    va_start(args, first);
    for (const char *arg = first; arg != NULL; arg = va_arg(args, const char *))
        g_ptr_array_add(argv, (gpointer)arg);
    va_end(args);
    g_ptr_array_add(argv, NULL);
    proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8_async(proc, NULL, NULL, communicated_cb, &c);
    if (!podvm_test_wait_until(is_done, &c, timeout_s * 1000)) {
        g_subprocess_force_exit(proc);
        podvm_test_wait_until(is_done, &c, 10000);
        g_printerr("podvmctl %s did not end within %u s\n---- stdout ----\n%s\n---- stderr "
                   "----\n%s\n",
                   first, timeout_s, c.out ? c.out : "", c.err ? c.err : "");
        g_assert_not_reached();
    }
    if (out_stdout != NULL)
        *out_stdout = g_steal_pointer(&c.out);
    if (out_stderr != NULL)
        *out_stderr = g_steal_pointer(&c.err);
    g_free(c.out);
    g_free(c.err);
    return g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc)
                                            : 128 + g_subprocess_get_term_sig(proc);
}

/* status.apps[@i] (a new reference), asserted to be there. */
static JsonObject *
status_app(Fixture *f, const char *pod, guint i)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->net.daemon, pod);
    JsonArray *apps = json_object_has_member(status, "apps")
                          ? json_object_get_array_member(status, "apps")
                          : NULL;

    g_assert_nonnull(apps);
    g_assert_cmpuint(json_array_get_length(apps), >, i);
    return json_object_ref(json_array_get_object_element(apps, i));
}

static void
remember_pod(Fixture *f, const char *name)
{
    if (f->net.pods == NULL)
        f->net.pods = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(f->net.pods, g_strdup(name));
}

/* The rootfs images in the store: path -> mtime (ns). */
static GHashTable *
rootfs_files(Fixture *f)
{
    g_autofree char *dir = g_build_filename(f->net.daemon->state_dir, "images", "rootfs", NULL);
    GHashTable *files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        struct stat st;

        if (!g_str_has_suffix(name, ".erofs") || stat(path, &st) != 0)
            continue;
        g_hash_table_insert(
            files, g_strdup(name),
            g_strdup_printf("%ld.%09ld", (long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec));
    }
    return files;
}

/* GET @path on podvmd's REST socket with curl: the parsed body (asserted 200 and JSON). */
static JsonNode *
rest_get(Fixture *f, const char *path)
{
    g_autofree char *socket_path = g_build_filename(f->net.daemon->run_dir, "api.sock", NULL);
    g_autofree char *url = g_strconcat("http://localhost", path, NULL);
    const char *argv[] = { "curl", "-sS", "--fail-with-body", "--unix-socket", socket_path,
                           url,    NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                 &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_printerr("curl GET %s: %s%s\n", path, err, out);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    json_parser_load_from_data(parser, out, -1, &error);
    g_assert_no_error(error);
    return json_node_copy(json_parser_get_root(parser));
}

/*
 * Asserts podvmctl run ended as expected, printing what it said otherwise;
 * FALSE after g_test_skip() when podvmd cannot boot app pods yet (the pod
 * fails at start with the spec's "nothing to boot").
 */
static gboolean
check_run(int status, int expected, const char *out, const char *err)
{
    if (status != expected && err != NULL && strstr(err, "nothing to boot") != NULL) {
        g_autofree char *said = g_strstrip(g_strdup(err));
        g_autofree char *reason =
            g_strdup_printf("podvmd does not boot app pods in the app guest yet: %s", said);

        g_test_skip(reason);
        return FALSE;
    }
    if (status != expected)
        g_printerr("podvmctl run exited with %d, expected %d\n---- stdout ----\n%s\n---- stderr "
                   "----\n%s\n",
                   status, expected, out ? out : "", err ? err : "");
    g_assert_cmpint(status, ==, expected);
    return TRUE;
}

/* ---- tests ----------------------------------------------------------------------------- */

/*
 * `podvmctl run` of a busybox image: its output on podvmctl's stdout, the
 * pod Succeeded, the app exited 0 and its digest recorded. A second run
 * uses the cache: no request to the registry at all (IfNotPresent), the
 * app rootfs not built again.
 */
static void
test_run_busybox(Fixture *f, gconstpointer data)
{
    const char *cmd[] = { "/bin/sh", "-c", "echo PODVM-APP-HELLO $((6 * 7)); echo PODVM-APP-BYE",
                          NULL };
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(JsonObject) app = NULL;
    g_autoptr(GHashTable) rootfs_before = NULL;
    g_autoptr(GHashTable) rootfs_after = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *phase = NULL;
    guint blob_gets, manifest_gets, tokens;
    int status;

    (void)data;
    if (!ready(f))
        return;
    image = podvm_test_image_new_busybox(cmd);
    if (image == NULL)
        return;
    digest = push_image(f, image, "apps/busybox:v1");
    ref = image_ref(f, "apps/busybox:v1");
    g_assert_cmpuint(podvm_test_registry_count_requests(f->reg, "GET", "/v2/apps/busybox/blobs/"),
                     ==, 0);

    remember_pod(f, "hello");
    status = run_ctl(f, RUN_TIMEOUT_S, &out, &err, "run", "--name", "hello", ref, NULL);
    if (!check_run(status, 0, out, err))
        return;
    g_assert_nonnull(strstr(out, "PODVM-APP-HELLO 42"));
    g_assert_nonnull(strstr(out, "PODVM-APP-BYE"));
    phase = podvm_test_daemon_phase(f->net.daemon, "hello");
    g_assert_cmpstr(phase, ==, "Succeeded");
    app = status_app(f, "hello", 0);
    g_assert_cmpstr(json_object_get_string_member_with_default(app, "state", NULL), ==, "Exited");
    g_assert_cmpint(json_object_get_int_member_with_default(app, "exitCode", -1), ==, 0);
    g_assert_cmpstr(json_object_get_string_member_with_default(app, "imageDigest", NULL), ==,
                    digest);
    /* The pull fetched the layers and the config from the registry. */
    blob_gets = podvm_test_registry_count_requests(f->reg, "GET", "/v2/apps/busybox/blobs/");
    manifest_gets = podvm_test_registry_count_requests(f->reg, NULL, "/v2/apps/busybox/manifests/");
    g_assert_cmpuint(blob_gets, >=, 2);
    g_assert_cmpuint(manifest_gets, >=, 1);
    tokens = f->reg != NULL && data == TOKEN_AUTH ? podvm_test_registry_tokens_issued(f->reg) : 0;
    if (data == TOKEN_AUTH)
        g_assert_cmpuint(tokens, >, 0);
    rootfs_before = rootfs_files(f);
    g_assert_cmpuint(g_hash_table_size(rootfs_before), ==, 1);
    /* REST lists the pulled image with the digest the tag resolved to. */
    {
        g_autoptr(JsonNode) images = rest_get(f, "/v1/images");
        g_autofree char *text = json_to_string(images, FALSE);

        g_assert_nonnull(strstr(text, digest));
        g_assert_nonnull(strstr(text, "apps/busybox:v1"));
    }

    /* Again, as another pod: everything from the cache. */
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_clear_pointer(&phase, g_free);
    remember_pod(f, "hello-again");
    status = run_ctl(f, RUN_TIMEOUT_S, &out, &err, "run", "--name", "hello-again", ref, NULL);
    check_run(status, 0, out, err);
    g_assert_nonnull(strstr(out, "PODVM-APP-HELLO 42"));
    phase = podvm_test_daemon_phase(f->net.daemon, "hello-again");
    g_assert_cmpstr(phase, ==, "Succeeded");
    g_assert_cmpuint(podvm_test_registry_count_requests(f->reg, "GET", "/v2/apps/busybox/blobs/"),
                     ==, blob_gets);
    g_assert_cmpuint(
        podvm_test_registry_count_requests(f->reg, NULL, "/v2/apps/busybox/manifests/"), ==,
        manifest_gets);
    rootfs_after = rootfs_files(f);
    g_assert_cmpuint(g_hash_table_size(rootfs_after), ==, 1);
    {
        GHashTableIter iter;
        gpointer name, mtime;

        g_hash_table_iter_init(&iter, rootfs_before);
        while (g_hash_table_iter_next(&iter, &name, &mtime))
            g_assert_cmpstr(g_hash_table_lookup(rootfs_after, name), ==, mtime);
    }
    g_clear_pointer(&app, json_object_unref);
    app = status_app(f, "hello-again", 0);
    g_assert_cmpstr(json_object_get_string_member_with_default(app, "imageDigest", NULL), ==,
                    digest);
}

/* An app that exits 3: the pod Failed, with the app and its code; podvmctl exits 3. */
static void
test_run_failing(Fixture *f, gconstpointer data)
{
    const char *cmd[] = { "/bin/sh", "-c", "echo PODVM-APP-FAILING; exit 3", NULL };
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(JsonObject) app = NULL;
    g_autoptr(JsonObject) status_json = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *phase = NULL;
    g_autofree char *status_out = NULL;
    const char *message;
    int status;

    (void)data;
    if (!ready(f))
        return;
    image = podvm_test_image_new_busybox(cmd);
    if (image == NULL)
        return;
    g_free(push_image(f, image, "apps/failing:v1"));
    ref = image_ref(f, "apps/failing:v1");

    remember_pod(f, "failing");
    status = run_ctl(f, RUN_TIMEOUT_S, &out, &err, "run", "--name", "failing", ref, NULL);
    if (!check_run(status, 3, out, err))
        return;
    g_assert_nonnull(strstr(out, "PODVM-APP-FAILING"));
    phase = podvm_test_daemon_phase(f->net.daemon, "failing");
    g_assert_cmpstr(phase, ==, "Failed");
    status_json = podvm_test_daemon_status(f->net.daemon, "failing");
    message = json_object_get_string_member_with_default(status_json, "message", "");
    g_assert_nonnull(strstr(message, "exited with code 3"));
    app = status_app(f, "failing", 0);
    g_assert_cmpint(json_object_get_int_member_with_default(app, "exitCode", -1), ==, 3);
    /* The same through REST. */
    {
        g_autoptr(JsonNode) pod = rest_get(f, "/v1/pods/failing");
        JsonObject *rest_status =
            json_object_get_object_member(json_node_get_object(pod), "status");
        JsonArray *apps = json_object_get_array_member(rest_status, "apps");

        g_assert_cmpstr(json_object_get_string_member(rest_status, "phase"), ==, "Failed");
        g_assert_nonnull(apps);
        g_assert_cmpint(json_object_get_int_member_with_default(
                            json_array_get_object_element(apps, 0), "exitCode", -1),
                        ==, 3);
    }
    /* podvmctl status shows the app and its code. */
    g_assert_cmpint(podvm_test_ctl(f->net.daemon, &status_out, NULL, "status", "failing", NULL), ==,
                    0);
    g_assert_nonnull(strstr(status_out, "Failed"));
    g_assert_nonnull(strstr(status_out, "3"));
}

typedef struct {
    const char *ip;
    char *answer;
} RedisPing;

static gboolean
redis_answers(gpointer data)
{
    RedisPing *ping = data;
    /* Debian 12's redis-cli (7.0) has no -t: coreutils' timeout bounds a hung connect. */
    const char *argv[] = {
        "timeout", "5", "redis-cli", "-h", ping->ip, "-p", "6379", "ping", NULL
    };
    g_autofree char *out = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &out, NULL, &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL))
        return FALSE;
    g_free(ping->answer);
    ping->answer = g_strdup(g_strstrip(out));
    return g_strcmp0(ping->answer, "PONG") == 0;
}

static gboolean
pod_has_ip(gpointer data)
{
    Fixture *f = ((gpointer *)data)[0];
    char **ip = ((gpointer *)data)[1];
    g_autofree char *phase = podvm_test_daemon_phase(f->net.daemon, "redis");

    /* podvmctl run has not created it yet. */
    if (phase == NULL)
        return FALSE;
    if (g_strcmp0(phase, "Failed") == 0 || g_strcmp0(phase, "Succeeded") == 0)
        return TRUE;
    g_free(*ip);
    *ip = podvm_test_net_status_string(&f->net, "redis", "podIP");
    return *ip != NULL && g_strcmp0(phase, "Running") == 0;
}

/*
 * The redis image (Debian's redis-server and its libraries): the pod runs
 * and redis-cli from the test's namespace gets PONG through the pod's
 * address (masquerade, port 6379 declared by --port); stop ends podvmctl run.
 */
static void
test_redis(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) run = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *ref = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *ip = NULL;
    g_autofree char *phase = NULL;
    g_autoptr(JsonObject) app = NULL;
    Communicated c = { FALSE, NULL, NULL };
    gpointer ip_data[2] = { f, &ip };
    RedisPing ping = { NULL, NULL };

    (void)data;
    if (!ready(f) || !podvm_test_netns_require("redis-cli", NULL))
        return;
    image = podvm_test_image_new_redis();
    if (image == NULL)
        return;
    digest = push_image(f, image, "apps/redis:7");
    ref = image_ref(f, "apps/redis:7");

    remember_pod(f, "redis");
    launcher = ctl_launcher(f);
    run = g_subprocess_launcher_spawn(launcher, &error, g_getenv("PODVMCTL"), "--session", "run",
                                      "--name", "redis", "--port", "6379", ref, NULL);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8_async(run, NULL, NULL, communicated_cb, &c);

    if (!podvm_test_wait_until(pod_has_ip, ip_data, REDIS_TIMEOUT_MS) ||
        g_strcmp0((phase = podvm_test_daemon_phase(f->net.daemon, "redis")), "Running") != 0) {
        /* A pod that failed ends podvmctl run by itself. */
        if (!podvm_test_wait_until(is_done, &c, 10000)) {
            g_subprocess_force_exit(run);
            podvm_test_wait_until(is_done, &c, 10000);
        }
        if (!check_run(g_subprocess_get_if_exited(run) ? g_subprocess_get_exit_status(run) : -1, 0,
                       c.out, c.err)) {
            g_free(c.out);
            g_free(c.err);
            return;
        }
        g_printerr("the redis pod did not run (phase %s)\n---- podvmctl run ----\n%s\n%s\n", phase,
                   c.out ? c.out : "", c.err ? c.err : "");
        g_assert_not_reached();
    }
    ping.ip = ip;
    if (!podvm_test_wait_until(redis_answers, &ping, REDIS_TIMEOUT_MS)) {
        g_autofree char *log = podvm_test_daemon_console_log(f->net.daemon, "redis");
        g_autofree char *console = NULL;

        g_autoptr(JsonObject) status = podvm_test_daemon_status(f->net.daemon, "redis");
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), status);
        g_autofree char *status_text = json_to_string(node, TRUE);
        g_autofree char *podvmd_log = NULL;

        g_autofree char *netns = podvm_test_net_pod_netns(&f->net, "redis");
        g_autofree char *netns_arg = g_strdup_printf("--net=%s", netns);
        const char *inside[] = { "nsenter",   netns_arg, "--",       "timeout", "5",
                                 "redis-cli", "-h",      "10.0.2.2", "ping",    NULL };
        g_autofree char *inside_answer = podvm_test_net_run(inside);
        const char *links_argv[] = { "nsenter", netns_arg, "--", "ip", "-s", "addr", NULL };
        const char *neigh_argv[] = { "nsenter", netns_arg, "--", "ip", "neigh", NULL };
        g_autofree char *links = podvm_test_net_run(links_argv);
        g_autofree char *neigh = podvm_test_net_run(neigh_argv);
        g_autofree char *nft = podvm_test_net_pod_nft_table(&f->net, "redis");

        /* Where it stops: the guest itself (from the pod's namespace) or the forwarding. */
        g_printerr("from the pod's namespace, redis-cli -h 10.0.2.2 ping: %s\n"
                   "---- ip -s addr ----\n%s\n---- ip neigh ----\n%s\n"
                   "---- the pod's nft table ----\n%s\n",
                   inside_answer ? inside_answer : "(no answer)", links ? links : "",
                   neigh ? neigh : "", nft ? nft : "");
        g_file_get_contents(log, &console, NULL, NULL);
        g_file_get_contents(f->net.daemon->log_path, &podvmd_log, NULL, NULL);
        g_printerr("redis-cli -h %s ping: %s\n---- console ----\n%s\n---- status ----\n%s\n"
                   "---- podvmd log ----\n%s\n",
                   ip, ping.answer ? ping.answer : "(no answer)", console ? console : "",
                   status_text, podvmd_log ? podvmd_log : "");
    }
    g_assert_cmpstr(ping.answer, ==, "PONG");
    app = status_app(f, "redis", 0);
    g_assert_cmpstr(json_object_get_string_member_with_default(app, "state", NULL), ==, "Running");
    g_assert_cmpstr(json_object_get_string_member_with_default(app, "imageDigest", NULL), ==,
                    digest);

    /* Stopped: the app guest stops redis, the pod ends and so does podvmctl run. */
    g_assert_cmpint(podvm_test_ctl(f->net.daemon, NULL, NULL, "stop", "redis", NULL), ==, 0);
    if (!podvm_test_wait_until(is_done, &c, RUN_TIMEOUT_S * 1000)) {
        g_subprocess_force_exit(run);
        podvm_test_wait_until(is_done, &c, 10000);
        g_printerr("podvmctl run did not end after stop\n%s\n%s\n", c.out ? c.out : "",
                   c.err ? c.err : "");
        g_assert_not_reached();
    }
    g_assert_nonnull(c.out);
    g_free(c.out);
    g_free(c.err);
    g_free(ping.answer);
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/apps/e2e/run-busybox", Fixture, NULL, fixture_set_up, test_run_busybox,
               fixture_tear_down);
    g_test_add("/apps/e2e/run-failing", Fixture, NULL, fixture_set_up, test_run_failing,
               fixture_tear_down);
    g_test_add("/apps/e2e/run-busybox-token-auth", Fixture, TOKEN_AUTH, fixture_set_up,
               test_run_busybox, fixture_tear_down);
    g_test_add("/apps/e2e/redis", Fixture, NULL, fixture_set_up, test_redis, fixture_tear_down);
    return g_test_run();
}
