/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-apps: images and app pods against their baselines, in the same run.
 *
 *   pull   a cold pull of a ~30 MB image (busybox and one layer of
 *          incompressible data) from Debian's docker-registry on loopback
 *          into an empty image store (podvm_image_store_pull_async(), what
 *          podvmd runs for `podvmctl image pull` and app pods), against
 *          `skopeo copy docker://... oci:DIR` of the same image into an empty
 *          directory. Target: podvm <= 1.2 x skopeo (medians). Rounds
 *          alternate which side goes first.
 *   run    cache warm: `podvmctl run` of an image whose app prints a line at
 *          once, from the spawn of podvmctl to that line on its stdout,
 *          against bare QEMU booting the same app guest kernel and initramfs
 *          with the same rootfs by hand, the benchmark itself speaking the
 *          app channel. Target: podvm <= 1.1 x bare. Skipped (said why)
 *          while the app guest is not built or podvmd serves no images.
 *
 * Prints medians, minimums and the ratios with PASS or MISS; a miss does
 * not fail the program, something broken does (exit 1). Exit 77 when the
 * registry or skopeo is missing.
 *
 * Environment:
 *   PODVMD, PODVMCTL, PODVM_APP_GUEST_DIR   as for the tests (tests/meson.build)
 *   PODVM_BENCH_RUNS=N          timed rounds per side (default 5; 3 quick)
 *   PODVM_BENCH_QUICK=1         fewer rounds
 *   PODVM_BENCH_APPS_MIB=N      the data layer's size (default 30)
 *   PODVM_BENCH_APPS_JSON=PATH  the JSON results (default bench-apps.json in the cwd)
 *   PODVM_BENCH_APPS_BARE_ONLY=1  the run part's bare QEMU alone (its rootfs made here)
 *   PODVM_BENCH_VERBOSE=1       library messages and each round
 */
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "bench-util.h"
#include "podvm-app-channel.h"
#include "podvm-channel-codec.h"
#include "podvm-image-store.h"
#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

#define PULL_TARGET 1.2
#define RUN_TARGET 1.1
#define PULL_TIMEOUT_MS 300000
#define MARKER "PODVM-BENCH-FIRST-LINE"
#define RUN_TIMEOUT_MS 300000

typedef struct {
    gboolean verbose;
    guint runs;
    char *work_dir;
    PodvmTestRegistry *reg;
    char *ref; /* docker://HOST/bench/big:v1 */
    PodvmTestImage *image;
    char *layout;
    guint64 size;       /* of the image's blobs */
    GArray *pull_podvm; /* ms */
    GArray *pull_skopeo;
    GArray *run_podvm;
    GArray *run_bare;
    char *run_skipped; /* why the run part did not run, or NULL */
    char *netns_skip;  /* why the benchmark has no network namespace of its own, or NULL */
} Bench;

typedef struct {
    GAsyncResult *result;
} Waiter;

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Waiter *w = user_data;

    (void)source;
    w->result = g_object_ref(result);
}

static gboolean
has_result(gpointer data)
{
    return ((Waiter *)data)->result != NULL;
}

/* One cold pull into the empty store @dir; its wall time in ms. */
static gboolean
pull_podvm(Bench *bench, const char *dir, double *out_ms, GError **error)
{
    const char *insecure[] = { podvm_test_registry_host(bench->reg), NULL };
    PodvmImageStoreOptions options = { .insecure_registries = (GStrv)insecure };
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(PodvmImage) image = NULL;
    Waiter w = { NULL };
    gint64 start;

    store = podvm_image_store_new(dir, &options, error);
    if (store == NULL)
        return FALSE;
    start = g_get_monotonic_time();
    podvm_image_store_pull_async(store, bench->ref, PODVM_PULL_ALWAYS, NULL, NULL, NULL,
                                 store_result_cb, &w);
    if (!bench_wait_until(has_result, &w, 5, PULL_TIMEOUT_MS)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the pull took over %u s",
                    PULL_TIMEOUT_MS / 1000);
        return FALSE;
    }
    image = podvm_image_store_pull_finish(store, w.result, error);
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    g_object_unref(w.result);
    if (image == NULL)
        return FALSE;
    if (image->size != bench->size) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "the pulled image has %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
                    " were pushed",
                    image->size, bench->size);
        return FALSE;
    }
    return TRUE;
}

/* skopeo copy of the same image into the empty OCI layout @dir; its wall time in ms. */
static gboolean
pull_skopeo(Bench *bench, const char *dir, double *out_ms, GError **error)
{
    g_autofree char *dest = g_strdup_printf("oci:%s:v1", dir);
    g_autofree char *auth = g_build_filename(bench->work_dir, "skopeo-auth.json", NULL);
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *err = NULL;
    gint64 start;

    if (!g_file_set_contents(auth, "{\"auths\": {}}\n", -1, error))
        return FALSE;
    g_subprocess_launcher_setenv(launcher, "REGISTRY_AUTH_FILE", auth, TRUE);
    start = g_get_monotonic_time();
    proc = g_subprocess_launcher_spawn(launcher, error, "skopeo", "--insecure-policy", "copy",
                                       "--quiet", "--src-tls-verify=false", bench->ref, dest, NULL);
    if (proc == NULL || !g_subprocess_communicate_utf8(proc, NULL, NULL, NULL, &err, error))
        return FALSE;
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    if (!g_subprocess_get_successful(proc)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "skopeo copy failed: %s", err);
        return FALSE;
    }
    return TRUE;
}

static gboolean
bench_pull(Bench *bench, GError **error)
{
    const char *cmd[] = { "/bin/sh", "-c", "echo " MARKER, NULL };
    guint mib = bench_env_uint("PODVM_BENCH_APPS_MIB", 30);
    PodvmTestImage *image = podvm_test_image_new_sized((gsize)mib * 1024 * 1024, cmd);
    const char *layout;

    if (image == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "busybox-static is not installed: no image to pull");
        return FALSE;
    }
    bench->image = image;
    bench->layout = g_build_filename(bench->work_dir, "layout", NULL);
    layout = bench->layout;
    g_free(podvm_test_image_write_layout(image, layout, "v1", &bench->size));
    if (!podvm_test_registry_push(bench->reg, layout, "v1", "bench/big:v1", error))
        return FALSE;
    bench->ref = g_strdup_printf("docker://%s/bench/big:v1", podvm_test_registry_host(bench->reg));

    /* A round of each first, not counted: the registry's and the page cache's warm-up. */
    for (guint round = 0; round <= bench->runs; round++) {
        for (guint k = 0; k < 2; k++) {
            gboolean podvm_side = (round + k) % 2 == 0;
            g_autofree char *dir = g_strdup_printf("%s/pull-%s-%u", bench->work_dir,
                                                   podvm_side ? "podvm" : "skopeo", round);
            double ms = 0;
            gboolean ok;

            if (!bench_check_interrupted(error))
                return FALSE;
            ok = podvm_side ? pull_podvm(bench, dir, &ms, error)
                            : pull_skopeo(bench, dir, &ms, error);
            podvm_test_rmrf(dir);
            if (!ok)
                return FALSE;
            if (bench->verbose || round == 0)
                g_printerr("bench-apps: pull round %u%s: %s %.1f ms\n", round,
                           round == 0 ? " (warm-up)" : "", podvm_side ? "podvm" : "skopeo", ms);
            if (round > 0)
                bench_record(podvm_side ? bench->pull_podvm : bench->pull_skopeo, ms);
        }
    }
    return TRUE;
}

/* ---- run: podvmctl run to the first line, against bare QEMU ---- */

typedef struct {
    GDataInputStream *lines;
    gint64 start;
    double ms; /* < 0 until the marker came */
    gboolean eof;
} FirstLine;

static void
read_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    FirstLine *fl = user_data;
    g_autofree char *line =
        g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(source), result, NULL, NULL);

    if (line == NULL) {
        fl->eof = TRUE;
        return;
    }
    if (fl->ms < 0 && strstr(line, MARKER) != NULL)
        fl->ms = bench_us_to_ms(g_get_monotonic_time() - fl->start);
    /* Read on to the end: podvmctl must not block on a full pipe. */
    g_data_input_stream_read_line_async(fl->lines, G_PRIORITY_DEFAULT, NULL, read_line_cb, fl);
}

static gboolean
first_line_done(gpointer data)
{
    FirstLine *fl = data;

    return fl->ms >= 0 || fl->eof;
}

static gboolean
first_line_eof(gpointer data)
{
    return ((FirstLine *)data)->eof;
}

/* podvmctl run of the image, from its spawn to the marker on its stdout; it ends by itself. */
static gboolean
run_podvm(Bench *bench, PodvmTestDaemon *daemon, const char *name, double *out_ms, GError **error)
{
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_autoptr(GSubprocess) proc = NULL;
    FirstLine fl = { NULL, 0, -1, FALSE };
    g_autofree char *out = NULL, *err = NULL;

    g_subprocess_launcher_set_stdin_file_path(launcher, "/dev/null");
    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(daemon->bus), TRUE);
    fl.start = g_get_monotonic_time();
    proc = g_subprocess_launcher_spawn(launcher, error, g_getenv("PODVMCTL"), "--session", "run",
                                       "--name", name, bench->ref, NULL);
    if (proc == NULL)
        return FALSE;
    fl.lines = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
    g_data_input_stream_read_line_async(fl.lines, G_PRIORITY_DEFAULT, NULL, read_line_cb, &fl);
    bench_wait_until(first_line_done, &fl, 1, RUN_TIMEOUT_MS);
    bench_wait_until(first_line_eof, &fl, 20, RUN_TIMEOUT_MS);
    g_clear_object(&fl.lines);
    if (!fl.eof)
        g_subprocess_force_exit(proc);
    g_subprocess_wait(proc, NULL, NULL);
    if (fl.ms < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "podvmctl run of %s printed no '%s' (exit status %d)", bench->ref, MARKER,
                    g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1);
        return FALSE;
    }
    *out_ms = fl.ms;
    podvm_test_ctl(daemon, &out, &err, "delete", "--force", name, NULL);
    return TRUE;
}

static void
qemu_child_setup(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
console_has_marker(gpointer data)
{
    g_autofree char *text = NULL;

    return g_file_get_contents(data, &text, NULL, NULL) && strstr(text, MARKER) != NULL;
}

static gboolean
path_exists(gpointer data)
{
    return g_file_test(data, G_FILE_TEST_EXISTS);
}

static gboolean
subprocess_gone(gpointer data)
{
    return g_subprocess_get_identifier(data) == NULL;
}

/*
 * Bare QEMU: the same app guest kernel and initramfs, the same command line
 * podvmd gives it, the rootfs podvmd built as its one disk, and the
 * benchmark on the channel with the app's configuration; from QEMU's spawn
 * to the marker on its serial console (a file).
 */
static gboolean
run_bare(Bench *bench, const char *rootfs, guint round, double *out_ms, GError **error)
{
    const char *guest_dir = g_getenv("PODVM_APP_GUEST_DIR");
    g_autofree char *dir = g_strdup_printf("%s/bare-%u", bench->work_dir, round);
    g_autofree char *kernel = g_build_filename(guest_dir, "vmlinuz", NULL);
    g_autofree char *initrd = g_build_filename(guest_dir, "initrd.img", NULL);
    g_autofree char *console = g_build_filename(dir, "console.log", NULL);
    g_autofree char *chan = g_build_filename(dir, "app.sock", NULL);
    g_autofree char *serial_arg = g_strdup_printf("file:%s", console);
    g_autofree char *drive =
        g_strdup_printf("file=%s,if=none,id=app0,format=raw,readonly=on", rootfs);
    g_autofree char *chardev = g_strdup_printf("socket,id=chan0,path=%s,server=on,wait=off", chan);
    g_autofree char *smp = g_strdup_printf("%u", g_get_num_processors());
    const char *argv[] = { podvm_test_qemu_binary(),
                           "-nodefaults",
                           "-no-user-config",
                           "-machine",
                           "q35",
                           "-accel",
                           "tcg",
                           "-m",
                           "256",
                           "-smp",
                           smp,
                           "-display",
                           "none",
                           "-kernel",
                           kernel,
                           "-initrd",
                           initrd,
                           "-append",
                           "console=ttyS0 podvm.app=1 loglevel=0",
                           "-no-reboot",
                           "-serial",
                           serial_arg,
                           "-drive",
                           drive,
                           "-device",
                           "virtio-blk-pci,drive=app0,serial=app0",
                           "-netdev",
                           "user,id=net0",
                           "-device",
                           "virtio-net-pci,netdev=net0",
                           "-device",
                           "virtio-serial-pci",
                           "-chardev",
                           chardev,
                           "-device",
                           "virtserialport,chardev=chan0,name=" PODVM_CHANNEL_PORT_NAME,
                           NULL };
    const char *app_argv[] = { "/bin/sh", "-c", "echo " MARKER, NULL };
    const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          NULL };
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_autoptr(GSubprocess) qemu = NULL;
    g_autoptr(PodvmAppGuestConfig) config = podvm_app_guest_config_new();
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocketConnection) connection = NULL;
    g_autoptr(PodvmAppChannel) channel = NULL;
    PodvmAppGuestApp *app = g_new0(PodvmAppGuestApp, 1);
    gboolean ok;
    gint64 start;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    app->name = g_strdup("big");
    app->disk_serial = g_strdup("app0");
    app->argv = g_strdupv((char **)app_argv);
    app->env = g_strdupv((char **)env);
    config->hostname = g_strdup("bare");
    g_ptr_array_add(config->apps, app);

    g_subprocess_launcher_set_child_setup(launcher, qemu_child_setup, NULL, NULL);
    start = g_get_monotonic_time();
    qemu = g_subprocess_launcher_spawnv(launcher, argv, error);
    if (qemu == NULL)
        return FALSE;
    /* As podvmd does: connect to the channel once QEMU listens. */
    if (!bench_wait_until(path_exists, chan, 1, 30000)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "bare QEMU made no channel socket");
        g_subprocess_force_exit(qemu);
        return FALSE;
    }
    address = g_unix_socket_address_new(chan);
    for (guint tries = 0; connection == NULL && tries < 2000; tries++) {
        connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, NULL);
        if (connection == NULL)
            g_usleep(1000);
    }
    if (connection == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot connect to bare QEMU's channel");
        g_subprocess_force_exit(qemu);
        return FALSE;
    }
    channel = podvm_app_channel_new(G_IO_STREAM(connection), config);
    ok = bench_wait_until(console_has_marker, console, 2, RUN_TIMEOUT_MS);
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    /* The app ends, the guest halts and powers off. */
    if (!bench_wait_until(subprocess_gone, qemu, 20, 60000))
        g_subprocess_force_exit(qemu);
    g_subprocess_wait(qemu, NULL, NULL);
    podvm_app_channel_close(channel);
    if (!ok) {
        g_autofree char *tail = bench_file_tail(console, 2000);

        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "bare QEMU's app printed no '%s'; its console:\n%s", MARKER, tail);
        return FALSE;
    }
    podvm_test_rmrf(dir);
    return TRUE;
}

/* The one app rootfs podvmd built (STATE/images/rootfs/sha256-HEX.erofs), or NULL. */
static char *
find_rootfs(PodvmTestDaemon *daemon)
{
    g_autofree char *dir = g_build_filename(daemon->state_dir, "images", "rootfs", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        if (g_str_has_suffix(name, ".erofs"))
            return g_build_filename(dir, name, NULL);
    }
    return NULL;
}

/*
 * PODVM_BENCH_APPS_BARE_ONLY=1: the rootfs made here as podvmd's helper
 * makes it (layers unpacked in order, mkfs.erofs -T0 --all-root), to time
 * the bare side alone.
 */
static char *
make_rootfs(Bench *bench, GError **error)
{
    g_autofree char *root = g_build_filename(bench->work_dir, "rootfs", NULL);
    char *image = g_build_filename(bench->work_dir, "rootfs.erofs", NULL);

    g_assert_cmpint(g_mkdir_with_parents(root, 0755), ==, 0);
    for (guint i = 0; i < podvm_test_image_n_layers(bench->image); i++) {
        g_autofree char *blob =
            g_build_filename(bench->layout, "blobs", "sha256",
                             podvm_test_image_layer_digest(bench->image, i) + 7, NULL);

        if (!podvm_test_netns_run(error, "tar", "-xzf", blob, "-C", root, NULL))
            return NULL;
    }
    if (!podvm_test_netns_run(error, "mkfs.erofs", "--quiet", "-T0", "--all-root", image, root,
                              NULL))
        return NULL;
    podvm_test_rmrf(root);
    return image;
}

static gboolean
bench_run_apps(Bench *bench, GError **error)
{
    const char *guest_dir = g_getenv("PODVM_APP_GUEST_DIR");
    g_autofree char *kernel =
        guest_dir != NULL ? g_build_filename(guest_dir, "vmlinuz", NULL) : NULL;
    g_autofree char *cni_dir = g_build_filename(bench->work_dir, "cni", NULL);
    g_autofree char *conf = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *rootfs = NULL;
    PodvmTestDaemon *daemon;
    double warm_ms = 0;
    gboolean ok = TRUE;

    if (kernel == NULL || !g_file_test(kernel, G_FILE_TEST_EXISTS)) {
        bench->run_skipped =
            g_strdup_printf("podvm's app guest is not built (no vmlinuz in %s)",
                            guest_dir != NULL ? guest_dir : "$PODVM_APP_GUEST_DIR (unset)");
        return TRUE;
    }
    if (bench->netns_skip != NULL) {
        /* podvmctl run puts the app on the default pod network: CNI in a namespace of ours. */
        bench->run_skipped = g_strdup_printf("no network namespace: %s", bench->netns_skip);
        return TRUE;
    }
    g_assert_cmpint(g_mkdir_with_parents(cni_dir, 0700), ==, 0);
    podvm_test_net_write_conflist(cni_dir, "10-pods.conflist", "pods", "podvm0", "10.66.0.0/16",
                                  TRUE);
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n[images]\ninsecure_registries=%s\n"
                           "[apps]\nguest_dir=%s\n",
                           cni_dir, podvm_test_registry_host(bench->reg), guest_dir);
    daemon = podvm_test_daemon_new_with_config(conf);
    if (daemon == NULL) {
        bench->run_skipped = g_strdup("podvmd cannot run here");
        return TRUE;
    }
    bench_set_daemon_pid(atoi(g_subprocess_get_identifier(daemon->process)));
    if (g_strcmp0(g_getenv("PODVM_BENCH_APPS_BARE_ONLY"), "1") == 0) {
        rootfs = make_rootfs(bench, error);
        ok = rootfs != NULL;
        for (guint round = 0; ok && round <= bench->runs; round++) {
            double ms = 0;

            ok = run_bare(bench, rootfs, round, &ms, error);
            g_printerr("bench-apps: run round %u: bare %.1f ms\n", round, ms);
            if (ok && round > 0)
                bench_record(bench->run_bare, ms);
        }
        bench->run_skipped = g_strdup("PODVM_BENCH_APPS_BARE_ONLY=1: bare QEMU only");
        goto out;
    }
    if (podvm_test_ctl(daemon, &out, &err, "image", "list", NULL) != 0) {
        bench->run_skipped =
            g_strdup_printf("podvmd does not serve images yet: %s", g_strstrip(err));
        goto out;
    }
    /* The warm-up pulls the image and builds its rootfs: the cache is warm from here on. */
    if (!run_podvm(bench, daemon, "warm-up", &warm_ms, error) ||
        (rootfs = find_rootfs(daemon)) == NULL) {
        if (rootfs == NULL && (error == NULL || *error == NULL))
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "podvmd built no app rootfs");
        bench_print_failure(daemon, *error);
        ok = FALSE;
        goto out;
    }
    g_printerr("bench-apps: run warm-up (pull, unpack, boot): podvm %.1f ms\n", warm_ms);
    for (guint round = 0; ok && round <= bench->runs; round++) {
        for (guint k = 0; ok && k < 2; k++) {
            gboolean podvm_side = (round + k) % 2 == 0;
            g_autofree char *name = g_strdup_printf("run-%u", round);
            double ms = 0;

            if (!bench_check_interrupted(error)) {
                ok = FALSE;
                break;
            }
            ok = podvm_side ? run_podvm(bench, daemon, name, &ms, error)
                            : run_bare(bench, rootfs, round, &ms, error);
            if (!ok) {
                if (podvm_side)
                    bench_print_failure(daemon, *error);
                break;
            }
            if (bench->verbose || round == 0)
                g_printerr("bench-apps: run round %u%s: %s %.1f ms\n", round,
                           round == 0 ? " (warm-up)" : "", podvm_side ? "podvm" : "bare", ms);
            if (round > 0)
                bench_record(podvm_side ? bench->run_podvm : bench->run_bare, ms);
        }
    }
out:
    bench_set_daemon_pid(0);
    /* Said above when it mattered; podvm_test_daemon_free() would print it all. */
    (void)g_unlink(daemon->log_path);
    podvm_test_daemon_free(daemon);
    return ok;
}

/* ---- results ---- */

static void
print_pair(const char *what, GArray *podvm, GArray *base, const char *base_name, double target)
{
    double pm, pmin, pmax, bm, bmin, bmax;

    if (!bench_samples_stats(podvm, &pm, &pmin, &pmax) ||
        !bench_samples_stats(base, &bm, &bmin, &bmax))
        return;
    g_print("  %-6s podvm  median %8.1f ms  min %8.1f  max %8.1f  (%u runs)\n", what, pm, pmin,
            pmax, podvm->len);
    g_print("  %-6s %-6s median %8.1f ms  min %8.1f  max %8.1f  (%u runs)\n", what, base_name, bm,
            bmin, bmax, base->len);
    g_print("  %-6s ratio podvm/%s %.2f (target <= %.1f): %s\n", what, base_name, pm / bm, target,
            bench_verdict(pm / bm <= target));
}

static void
write_json(Bench *bench, const char *path)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    bench_json_begin(b, NULL);
    json_builder_set_member_name(b, "imageBytes");
    json_builder_add_int_value(b, (gint64)bench->size);
    bench_json_add_samples(b, "pullPodvm", "ms", bench->pull_podvm, TRUE);
    bench_json_add_samples(b, "pullSkopeo", "ms", bench->pull_skopeo, TRUE);
    if (bench->run_skipped != NULL) {
        json_builder_set_member_name(b, "runSkipped");
        json_builder_add_string_value(b, bench->run_skipped);
    } else {
        bench_json_add_samples(b, "runPodvm", "ms", bench->run_podvm, TRUE);
        bench_json_add_samples(b, "runBare", "ms", bench->run_bare, TRUE);
    }
    bench_json_write(b, path);
}

int
main(int argc, char **argv)
{
    Bench bench = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *json_path = NULL;
    g_autofree char *registry = g_find_program_in_path("docker-registry");
    g_autofree char *skopeo = g_find_program_in_path("skopeo");
    int status = 0;

    (void)argc;
    (void)argv;
    /* Before any thread: a network namespace of our own for podvmd's pods (and the registry). */
    if (!podvm_test_netns_enter(&bench.netns_skip))
        g_assert_nonnull(bench.netns_skip);
    else
        podvm_test_netns_run(NULL, "ip", "link", "set", "lo", "up", NULL);
    if (!bench_init("bench-apps"))
        return 77;
    if (registry == NULL || skopeo == NULL) {
        g_print("SKIP: docker-registry and skopeo are needed (apt-get install docker-registry "
                "skopeo)\n");
        return 77;
    }
    bench.verbose = bench_verbose();
    bench.runs = bench_env_uint("PODVM_BENCH_RUNS", bench_quick() ? 3 : 5);
    bench.pull_podvm = g_array_new(FALSE, FALSE, sizeof(double));
    bench.pull_skopeo = g_array_new(FALSE, FALSE, sizeof(double));
    bench.run_podvm = g_array_new(FALSE, FALSE, sizeof(double));
    bench.run_bare = g_array_new(FALSE, FALSE, sizeof(double));
    json_path =
        g_strdup(g_getenv("PODVM_BENCH_APPS_JSON") != NULL ? g_getenv("PODVM_BENCH_APPS_JSON")
                                                           : "bench-apps.json");
    if (!g_path_is_absolute(json_path)) {
        char *absolute = g_build_filename(cwd, json_path, NULL);

        g_free(json_path);
        json_path = absolute;
    }
    bench_catch_interrupts();
    bench.work_dir = podvm_test_mkdtemp();
    bench.reg = podvm_test_registry_start(PODVM_TEST_REGISTRY_NONE);
    g_assert_nonnull(bench.reg);

    if (!bench_pull(&bench, &error) || !bench_run_apps(&bench, &error)) {
        g_printerr("bench-apps: %s\n", error->message);
        status = 1;
    }

    bench_print_header("bench-apps", NULL);
    g_print("  image: %" G_GUINT64_FORMAT " bytes (manifest, config, 2 gzip layers)\n", bench.size);
    print_pair("pull", bench.pull_podvm, bench.pull_skopeo, "skopeo", PULL_TARGET);
    if (bench.run_skipped != NULL) {
        double median, lo, hi;

        g_print("  run    skipped: %s\n", bench.run_skipped);
        if (bench_samples_stats(bench.run_bare, &median, &lo, &hi))
            g_print("  run    bare   median %8.1f ms  min %8.1f  max %8.1f  (%u runs)\n", median,
                    lo, hi, bench.run_bare->len);
    } else
        print_pair("run", bench.run_podvm, bench.run_bare, "bare", RUN_TARGET);
    if (status == 0)
        write_json(&bench, json_path);

    podvm_test_registry_stop(bench.reg);
    podvm_test_rmrf(bench.work_dir);
    g_free(bench.work_dir);
    g_free(bench.ref);
    g_free(bench.run_skipped);
    g_clear_pointer(&bench.image, podvm_test_image_free);
    g_free(bench.layout);
    g_free(bench.netns_skip);
    g_array_unref(bench.pull_podvm);
    g_array_unref(bench.pull_skopeo);
    g_array_unref(bench.run_podvm);
    g_array_unref(bench.run_bare);
    return status;
}
