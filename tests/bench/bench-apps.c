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
 *   PODVM_BENCH_VERBOSE=1       library messages and each round
 */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"
#include "podvm-image-store.h"
#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-registry.h"
#include "podvm-test-util.h"

#define PULL_TARGET 1.2
#define RUN_TARGET 1.1
#define PULL_TIMEOUT_MS 300000
#define MARKER "PODVM-BENCH-FIRST-LINE"

typedef struct {
    gboolean verbose;
    guint runs;
    char *work_dir;
    PodvmTestRegistry *reg;
    char *ref;          /* docker://HOST/bench/big:v1 */
    guint64 size;       /* of the image's blobs */
    GArray *pull_podvm; /* ms */
    GArray *pull_skopeo;
    GArray *run_podvm;
    GArray *run_bare;
    char *run_skipped; /* why the run part did not run, or NULL */
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
    g_autoptr(PodvmTestImage) image = podvm_test_image_new_sized((gsize)mib * 1024 * 1024, cmd);
    g_autofree char *layout = g_build_filename(bench->work_dir, "layout", NULL);

    if (image == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "busybox-static is not installed: no image to pull");
        return FALSE;
    }
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

static gboolean
bench_run_apps(Bench *bench, GError **error)
{
    const char *guest_dir = g_getenv("PODVM_APP_GUEST_DIR");
    g_autofree char *kernel =
        guest_dir != NULL ? g_build_filename(guest_dir, "vmlinuz", NULL) : NULL;

    (void)error;
    if (kernel == NULL || !g_file_test(kernel, G_FILE_TEST_EXISTS)) {
        bench->run_skipped =
            g_strdup_printf("podvm's app guest is not built (no vmlinuz in %s)",
                            guest_dir != NULL ? guest_dir : "$PODVM_APP_GUEST_DIR (unset)");
        return TRUE;
    }
    bench->run_skipped = g_strdup("the run part is not written yet: the app guest's channel "
                                  "was not on main when this benchmark was written");
    return TRUE;
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
    if (bench.run_skipped != NULL)
        g_print("  run    skipped: %s\n", bench.run_skipped);
    else
        print_pair("run", bench.run_podvm, bench.run_bare, "bare", RUN_TARGET);
    if (status == 0)
        write_json(&bench, json_path);

    podvm_test_registry_stop(bench.reg);
    podvm_test_rmrf(bench.work_dir);
    g_free(bench.work_dir);
    g_free(bench.ref);
    g_free(bench.run_skipped);
    g_array_unref(bench.pull_podvm);
    g_array_unref(bench.pull_skopeo);
    g_array_unref(bench.run_podvm);
    g_array_unref(bench.run_bare);
    return status;
}
