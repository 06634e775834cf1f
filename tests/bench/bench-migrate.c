/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-migrate: live migration through podvm against bare QEMU migrations
 * driven by raw QMP, in the same run, on the same test guest (128 MiB,
 * idle) and the argv podvmd builds for it (accel=tcg):
 *
 *   bare, idle    two QEMUs, the target with -incoming defer:
 *                 migrate-incoming unix:T on the target, migrate unix:T on
 *                 the source, query-migrate polled until "completed";
 *   bare, disk    the same guest with a 256 MiB raw disk (sparse, like a
 *                 new emptyDisk) and the steps podvm takes (MIG-DESIGN):
 *                 the target exports its disk (nbd-server-start unix +
 *                 block-export-add, writable); the source turns on
 *                 pause-before-switchover, blockdev-add's an nbd node on
 *                 that export, blockdev-mirror (sync full, write-blocking)
 *                 until BLOCK_JOB_READY, migrate, at "pre-switchover"
 *                 block-job-cancel (the ready mirror completes), then
 *                 migrate-continue until "completed";
 *   podvm         two podvmds on this machine, each with a REST listener on
 *                 127.0.0.1 (http, plaintext allowed, a bearer token), the
 *                 same guest as a pod (with an emptyDisk of 256Mi for the
 *                 disk case) moved by D-Bus Pod.Migrate {"target": URL,
 *                 "tokenFile", "plaintext": true}.
 *
 * Figures: the wall time from the first command (migrate; blockdev-add for
 * the disk) to "completed" seen on the source, QEMU's own total-time and
 * downtime (query-migrate after completion), and for the disk where the
 * time goes (mirror to ready, RAM to pre-switchover, the switchover). The
 * first run of each kind is a warm-up, printed but not counted. Medians
 * and minimums; targets from issue 13: podvm total <= 1.3x bare, podvm
 * downtime <= bare + 10 ms; with the disk, total <= 1.2x the bare
 * mirror+migrate. A miss does not fail the program; something broken
 * does (exit 1). Exit 77 (skip) when QEMU or the test guest is missing.
 * When the podvmds cannot migrate on this build, their rows say why.
 *
 * Environment:
 *   PODVMD, PODVM_GUEST_DIR, PODVM_QEMU   as for the tests (tests/meson.build)
 *   PODVM_BENCH_RUNS=N             timed runs per kind (default 5; 3 quick)
 *   PODVM_BENCH_QUICK=1            fewer runs
 *   PODVM_BENCH_MIGRATE_JSON=PATH  the JSON results (default bench-migrate.json in the cwd)
 *   PODVM_BENCH_VERBOSE=1          library messages and each run's figures
 *
 * Every QEMU started here ends with the benchmark: the bare ones are
 * tracked by pid and killed on every way out (and get PR_SET_PDEATHSIG);
 * the podvmds' by podvm_test_daemon_free().
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"
#include "podvm-qemu-devices.h"
#include "podvm-qmp-client.h"
#include "podvm-storage.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define MARKER "PODVM-GUEST-READY"
#define POD_NAME "bench-migrate"
#define DISK_NAME "data"
#define DISK_SIZE (256 * 1024 * 1024)
#define GRACE_SECONDS 2
#define BOOT_TIMEOUT_MS (180 * 1000)
#define MIGRATE_TIMEOUT_MS (300 * 1000)
#define POLL_MS 2

/* ---- figures ------------------------------------------------------------ */

typedef enum {
    KIND_IDLE,
    KIND_DISK,
    N_KINDS,
} Kind;

static const char *const kind_names[N_KINDS] = { "idle", "disk" };

typedef enum {
    SIDE_BARE,
    SIDE_PODVM,
    N_SIDES,
} Side;

static const char *const side_names[N_SIDES] = { "bare", "podvm" };

typedef enum {
    FIG_WALL,     /* first command -> completed, seen here */
    FIG_TOTAL,    /* QEMU's total-time */
    FIG_DOWNTIME, /* QEMU's downtime */
    FIG_MIRROR,   /* disk: blockdev-add -> BLOCK_JOB_READY */
    FIG_RAM,      /* disk: migrate -> pre-switchover */
    FIG_SWITCH,   /* disk: pre-switchover -> completed (mirror completed, continue) */
    N_FIGS,
} Fig;

static const char *const fig_keys[N_FIGS] = { "wall",   "total", "downtime",
                                              "mirror", "ram",   "switchover" };
static const char *const fig_labels[N_FIGS] = {
    "wall: first command -> completed", "QEMU total-time", "QEMU downtime", "  mirror to ready",
    "  RAM to pre-switchover",          "  switchover",
};

typedef struct {
    GArray *samples[N_KINDS][N_SIDES][N_FIGS];
    char *podvm_unavailable; /* why the podvm side was not measured, or NULL */
} Figures;

typedef struct {
    char *work_dir;
    guint runs;
    gboolean verbose;
    char *qemu_version;
    Figures figures;
    PodvmTestDaemon *daemons[2];
    char *urls[2];
    char *token_paths[2];
} Bench;

/* ---- QMP ---------------------------------------------------------------- */

typedef struct {
    gboolean done;
    JsonNode *reply;
    GError *error;
} QmpCall;

static void
qmp_call_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    QmpCall *call = user_data;

    call->reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &call->error);
    call->done = TRUE;
}

/* @arguments_json: an object as JSON text, or NULL. The reply (or NULL with @error). */
static JsonNode *
qmp(PodvmQmpClient *client, const char *command, const char *arguments_json, GError **error)
{
    g_autoptr(JsonNode) arguments = NULL;
    QmpCall call = { 0 };

    if (arguments_json != NULL) {
        arguments = json_from_string(arguments_json, error);
        if (arguments == NULL)
            return NULL;
    }
    podvm_qmp_client_execute_async(client, command,
                                   arguments != NULL ? json_node_get_object(arguments) : NULL, NULL,
                                   PODVM_QMP_TIMEOUT_DEFAULT, NULL, qmp_call_cb, &call);
    while (!call.done)
        g_main_context_iteration(NULL, TRUE);
    if (call.reply == NULL) {
        g_propagate_prefixed_error(error, call.error, "%s: ", command);
        return NULL;
    }
    return call.reply;
}

static gboolean
qmp_ok(PodvmQmpClient *client, const char *command, const char *arguments_json, GError **error)
{
    JsonNode *reply = qmp(client, command, arguments_json, error);

    if (reply == NULL)
        return FALSE;
    json_node_unref(reply);
    return TRUE;
}

/* A JSON string literal for @text. */
static char *
json_string(const char *text)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_VALUE);

    json_node_set_string(node, text);
    return json_to_string(node, FALSE);
}

/* ---- bare QEMUs --------------------------------------------------------- */

typedef struct {
    BenchQemu qemu;
    PodvmQmpClient *qmp;
} Vm;

static void
vm_free(Vm *vm)
{
    if (vm == NULL)
        return;
    if (vm->qmp != NULL) {
        podvm_qmp_client_close(vm->qmp);
        g_clear_object(&vm->qmp);
    }
    bench_qemu_clear(&vm->qemu);
    g_free(vm);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Vm, vm_free)

typedef struct {
    gboolean done;
    GError *error;
} ConnectCall;

static void
connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ConnectCall *call = user_data;

    podvm_qmp_client_connect_finish(PODVM_QMP_CLIENT(source), result, &call->error);
    call->done = TRUE;
}

static gboolean
file_has_marker(gpointer user_data)
{
    g_autofree char *contents = NULL;

    if (bench_interrupted())
        return TRUE;
    return g_file_get_contents(user_data, &contents, NULL, NULL) &&
           strstr(contents, MARKER) != NULL;
}

/* The test guest's spec, with a hostDisk @image when not NULL. */
static char *
guest_spec(const char *image)
{
    g_autofree char *path = NULL;
    g_autofree char *volumes = NULL;

    if (image == NULL)
        return podvm_test_guest_spec(POD_NAME, NULL, NULL, GRACE_SECONDS);
    path = json_string(image);
    volumes = g_strdup_printf("[{\"name\": \"" DISK_NAME "\", \"hostDisk\": {\"path\": %s, "
                              "\"type\": \"Disk\"}}]",
                              path);
    return podvm_test_guest_spec_with(POD_NAME, NULL, "disks",
                                      "[{\"name\": \"" DISK_NAME "\", \"disk\": {\"bus\": "
                                      "\"virtio\"}}]",
                                      "volumes", volumes);
}

/* A source (running, its guest up) or a target (-incoming defer, paused). */
static Vm *
vm_start(Bench *b, const char *dir, const char *image, gboolean incoming, GError **error)
{
    static const char *const incoming_args[] = { "-incoming", "defer", NULL };
    g_autoptr(Vm) vm = g_new0(Vm, 1);
    g_autofree char *spec = guest_spec(image);
    g_autoptr(GPtrArray) volumes =
        g_ptr_array_new_with_free_func((GDestroyNotify)podvm_prepared_volume_free);
    ConnectCall call = { 0 };

    if (incoming)
        vm->qemu.extra_args = incoming_args;
    if (image != NULL) {
        /* What podvmd's storage makes of the hostDisk: QEMU opens the raw file itself. */
        PodvmPreparedVolume *volume = g_new0(PodvmPreparedVolume, 1);

        volume->volume_name = g_strdup(DISK_NAME);
        volume->filename = g_strdup(image);
        volume->format = g_strdup("raw");
        volume->virtual_size = DISK_SIZE;
        volume->fd = -1;
        volume->backing_fd = -1;
        g_ptr_array_add(volumes, volume);
        vm->qemu.prepared_volumes = volumes;
    }
    if (!bench_qemu_spawn(&vm->qemu, dir, spec, PODVM_QEMU_SPARE_ROOT_PORTS, NULL, error))
        return NULL;
    vm->qemu.prepared_volumes = NULL;
    vm->qmp = podvm_qmp_client_new();
    podvm_qmp_client_connect_async(vm->qmp, vm->qemu.qmp_path, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                                   connect_cb, &call);
    while (!call.done)
        g_main_context_iteration(NULL, TRUE);
    if (call.error != NULL) {
        g_autofree char *tail = bench_file_tail(vm->qemu.qemu_log, 1024);

        g_propagate_prefixed_error(error, call.error, "QEMU: QMP (QEMU said: %s): ", tail);
        return NULL;
    }
    if (b->qemu_version == NULL)
        b->qemu_version = g_strdup(podvm_qmp_client_get_qemu_version(vm->qmp));
    if (incoming)
        return g_steal_pointer(&vm);
    if (!qmp_ok(vm->qmp, "cont", NULL, error))
        return NULL;
    if (!bench_wait_until(file_has_marker, vm->qemu.console_log, 20, BOOT_TIMEOUT_MS) ||
        !bench_check_interrupted(error)) {
        if (error != NULL && *error == NULL)
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "the guest did not print %s within %d s", MARKER, BOOT_TIMEOUT_MS / 1000);
        return NULL;
    }
    return g_steal_pointer(&vm);
}

/* query-migrate on @vm until its status is @wanted; its reply then. */
static JsonNode *
wait_migration(Vm *vm, const char *wanted, gint64 *out_at, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)MIGRATE_TIMEOUT_MS * 1000;

    for (;;) {
        g_autoptr(JsonNode) reply = qmp(vm->qmp, "query-migrate", NULL, error);
        const char *status;

        if (reply == NULL)
            return NULL;
        status = json_object_get_string_member_with_default(json_node_get_object(reply), "status",
                                                            "none");
        if (g_str_equal(status, wanted)) {
            if (out_at != NULL)
                *out_at = g_get_monotonic_time();
            return g_steal_pointer(&reply);
        }
        if (g_str_equal(status, "failed") || g_str_equal(status, "cancelled")) {
            const char *why = json_object_get_string_member_with_default(
                json_node_get_object(reply), "error-desc", "");
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the migration %s: %s", status, why);
            return NULL;
        }
        if (!bench_check_interrupted(error))
            return NULL;
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "the migration did not reach %s (still %s)", wanted, status);
            return NULL;
        }
        g_usleep(POLL_MS * 1000);
    }
}

/* query-block-jobs until the job @id is ready (@ready) or gone (!@ready). */
static gboolean
wait_block_job(Vm *vm, const char *id, gboolean ready, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)MIGRATE_TIMEOUT_MS * 1000;

    for (;;) {
        g_autoptr(JsonNode) reply = qmp(vm->qmp, "query-block-jobs", NULL, error);
        gboolean found = FALSE, is_ready = FALSE;

        if (reply == NULL)
            return FALSE;
        if (JSON_NODE_HOLDS_ARRAY(reply)) {
            JsonArray *jobs = json_node_get_array(reply);

            for (guint i = 0; i < json_array_get_length(jobs); i++) {
                JsonObject *job = json_array_get_object_element(jobs, i);

                if (g_strcmp0(json_object_get_string_member_with_default(job, "device", ""), id) ==
                    0) {
                    found = TRUE;
                    is_ready = json_object_get_boolean_member_with_default(job, "ready", FALSE);
                }
            }
        }
        if (ready ? is_ready : !found)
            return TRUE;
        if (ready && !found) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the mirror %s ended", id);
            return FALSE;
        }
        if (!bench_check_interrupted(error))
            return FALSE;
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the mirror %s did not %s", id,
                        ready ? "become ready" : "end");
            return FALSE;
        }
        g_usleep(POLL_MS * 1000);
    }
}

static gboolean
make_image(const char *path, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || ftruncate(fd, DISK_SIZE) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot make '%s': %s", path,
                    g_strerror(saved));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

static double
member_ms(JsonNode *reply, const char *member)
{
    return (double)json_object_get_int_member_with_default(json_node_get_object(reply), member, -1);
}

/* One bare migration of @kind; the figures into @out (FIG_* in ms; -1 when not measured). */
static gboolean
bare_run(Bench *b, Kind kind, guint index, double out[N_FIGS], GError **error)
{
    g_autofree char *dir = g_strdup_printf("%s/bare-%s-%u", b->work_dir, kind_names[kind], index);
    g_autofree char *src_dir = g_build_filename(dir, "source", NULL);
    g_autofree char *dst_dir = g_build_filename(dir, "target", NULL);
    g_autofree char *src_image = g_build_filename(dir, "source.img", NULL);
    g_autofree char *dst_image = g_build_filename(dir, "target.img", NULL);
    g_autofree char *mig_sock = g_build_filename(dir, "mig.sock", NULL);
    g_autofree char *nbd_sock = g_build_filename(dir, "nbd.sock", NULL);
    g_autofree char *mig_uri = NULL;
    g_autofree char *nbd_path = json_string(nbd_sock);
    g_autofree char *node = podvm_qemu_disk_node_name(DISK_NAME, TRUE);
    g_autofree char *args = NULL;
    g_autoptr(Vm) source = NULL;
    g_autoptr(Vm) target = NULL;
    g_autoptr(JsonNode) done = NULL;
    gboolean disk = kind == KIND_DISK;
    gint64 t0, ready_at = 0, pre_at = 0, completed_at = 0;

    for (guint i = 0; i < N_FIGS; i++)
        out[i] = -1;
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create %s", dir);
        return FALSE;
    }
    if (disk && (!make_image(src_image, error) || !make_image(dst_image, error)))
        return FALSE;
    source = vm_start(b, src_dir, disk ? src_image : NULL, FALSE, error);
    if (source == NULL)
        return FALSE;
    target = vm_start(b, dst_dir, disk ? dst_image : NULL, TRUE, error);
    if (target == NULL)
        return FALSE;

    /* The target listens: its disk exported, its migration socket. */
    if (disk) {
        args =
            g_strdup_printf("{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": %s}}}", nbd_path);
        if (!qmp_ok(target->qmp, "nbd-server-start", args, error))
            return FALSE;
        g_free(args);
        args = g_strdup_printf("{\"type\": \"nbd\", \"id\": \"mig-" DISK_NAME "\", \"node-name\": "
                               "\"%s\", \"name\": \"" DISK_NAME "\", \"writable\": true}",
                               node);
        if (!qmp_ok(target->qmp, "block-export-add", args, error))
            return FALSE;
        if (!qmp_ok(source->qmp, "migrate-set-capabilities",
                    "{\"capabilities\": [{\"capability\": \"pause-before-switchover\", "
                    "\"state\": true}]}",
                    error))
            return FALSE;
    }
    {
        g_autofree char *uri = g_strconcat("unix:", mig_sock, NULL);
        mig_uri = json_string(uri);
    }
    g_free(args);
    args = g_strdup_printf("{\"uri\": %s}", mig_uri);
    if (!qmp_ok(target->qmp, "migrate-incoming", args, error))
        return FALSE;

    t0 = g_get_monotonic_time();
    if (disk) {
        g_autofree char *nbd = g_strdup_printf(
            "{\"driver\": \"nbd\", \"node-name\": \"mig-nbd-" DISK_NAME "\", \"server\": "
            "{\"type\": \"unix\", \"path\": %s}, \"export\": \"" DISK_NAME "\"}",
            nbd_path);
        g_autofree char *mirror =
            g_strdup_printf("{\"job-id\": \"mig-" DISK_NAME
                            "\", \"device\": \"%s\", \"target\": \"mig-nbd-" DISK_NAME
                            "\", \"sync\": \"full\", \"copy-mode\": \"write-blocking\"}",
                            node);

        if (!qmp_ok(source->qmp, "blockdev-add", nbd, error) ||
            !qmp_ok(source->qmp, "blockdev-mirror", mirror, error) ||
            !wait_block_job(source, "mig-" DISK_NAME, TRUE, error))
            return FALSE;
        ready_at = g_get_monotonic_time();
    }
    if (!qmp_ok(source->qmp, "migrate", args, error))
        return FALSE;
    if (disk) {
        g_autoptr(JsonNode) pre = wait_migration(source, "pre-switchover", &pre_at, error);

        if (pre == NULL ||
            !qmp_ok(source->qmp, "block-job-cancel", "{\"device\": \"mig-" DISK_NAME "\"}",
                    error) ||
            !wait_block_job(source, "mig-" DISK_NAME, FALSE, error) ||
            !qmp_ok(source->qmp, "migrate-continue", "{\"state\": \"pre-switchover\"}", error))
            return FALSE;
    }
    done = wait_migration(source, "completed", &completed_at, error);
    if (done == NULL)
        return FALSE;
    out[FIG_WALL] = bench_us_to_ms(completed_at - t0);
    out[FIG_TOTAL] = member_ms(done, "total-time");
    out[FIG_DOWNTIME] = member_ms(done, "downtime");
    if (disk) {
        out[FIG_MIRROR] = bench_us_to_ms(ready_at - t0);
        out[FIG_RAM] = bench_us_to_ms(pre_at - ready_at);
        out[FIG_SWITCH] = bench_us_to_ms(completed_at - pre_at);
    }
    /* The target takes over (not timed): it must run. */
    if (disk && !qmp_ok(target->qmp, "nbd-server-stop", NULL, error))
        return FALSE;
    {
        g_autoptr(JsonNode) in = wait_migration(target, "completed", NULL, error);
        if (in == NULL || !qmp_ok(target->qmp, "cont", NULL, error))
            return FALSE;
    }
    return TRUE;
}

/* ---- podvm: two podvmds on this machine ---------------------------------- */

/* The podvmds, each with a REST listener on 127.0.0.1 and a token; FALSE with why when not. */
static gboolean
podvm_start(Bench *b, char **why)
{
    for (guint i = 0; i < 2; i++) {
        g_autofree char *token_dir = g_strdup_printf("%s/podvmd-%u", b->work_dir, i);
        g_autofree char *conf = NULL;
        g_autofree char *token = g_uuid_string_random();
        g_autoptr(GError) error = NULL;
        guint16 port;

        g_mkdir_with_parents(token_dir, 0700);
        b->token_paths[i] = g_build_filename(token_dir, "token", NULL);
        if (!g_file_set_contents(b->token_paths[i], token, -1, &error)) {
            *why = g_strdup(error->message);
            return FALSE;
        }
        g_chmod(b->token_paths[i], 0600);
        {
            /* A free port: bound, then closed, then given to podvmd. */
            g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                                     G_SOCKET_PROTOCOL_TCP, NULL);
            g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
            g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
            g_autoptr(GSocketAddress) bound = NULL;

            if (socket == NULL || !g_socket_bind(socket, address, TRUE, NULL) ||
                (bound = g_socket_get_local_address(socket, NULL)) == NULL) {
                *why = g_strdup("no free port on 127.0.0.1");
                return FALSE;
            }
            port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
        }
        b->urls[i] = g_strdup_printf("http://127.0.0.1:%u", port);
        /* The request's tokenFile (the other podvmd's) must lie in allowed_host_paths. */
        conf = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n"
                               "[storage]\nallowed_host_paths=%s\n",
                               port, b->token_paths[i], b->work_dir);
        b->daemons[i] = podvm_test_daemon_new_with_config(conf);
        if (b->daemons[i] == NULL) {
            *why = g_strdup("podvmd cannot run here");
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
pod_call(PodvmTestDaemon *daemon, const char *method, GVariant *parameters, GVariant **out,
         GError **error)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(daemon, POD_NAME);
    GVariant *reply =
        g_dbus_proxy_call_sync(G_DBUS_PROXY(pod), method, parameters, G_DBUS_CALL_FLAGS_NONE,
                               MIGRATE_TIMEOUT_MS, NULL, error);

    if (reply == NULL) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: %s: ", method);
        return FALSE;
    }
    if (out != NULL)
        *out = reply;
    else
        g_variant_unref(reply);
    return TRUE;
}

/* The pod on podvmd @host, created and started, its guest up. */
static gboolean
podvm_create(Bench *b, guint host, Kind kind, GError **error)
{
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autofree char *console = NULL;

    if (kind == KIND_DISK)
        spec = podvm_test_guest_spec_with(
            POD_NAME, NULL, "disks",
            "[{\"name\": \"" DISK_NAME "\", \"disk\": {\"bus\": \"virtio\"}}]", "volumes",
            "[{\"name\": \"" DISK_NAME "\", \"emptyDisk\": {\"capacity\": \"256Mi\"}}]");
    else
        spec = podvm_test_guest_spec(POD_NAME, NULL, NULL, GRACE_SECONDS);
    if (!podvm_dbus_manager_call_create_pod_sync(b->daemons[host]->manager, spec, &path, NULL,
                                                 error)) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: CreatePod: ");
        return FALSE;
    }
    if (!pod_call(b->daemons[host], "Start",
                  g_variant_new("(@a{sv})", g_variant_new("a{sv}", NULL)), NULL, error))
        return FALSE;
    console = podvm_test_daemon_console_log(b->daemons[host], POD_NAME);
    if (!bench_wait_until(file_has_marker, console, 20, BOOT_TIMEOUT_MS) ||
        !bench_check_interrupted(error)) {
        if (error != NULL && *error == NULL)
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "podvmd: no %s within %d s",
                        MARKER, BOOT_TIMEOUT_MS / 1000);
        return FALSE;
    }
    return TRUE;
}

static double
result_ms(JsonObject *result, const char *member)
{
    JsonNode *node = result != NULL ? json_object_get_member(result, member) : NULL;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
        return -1;
    return json_node_get_double(node);
}

/* The pod moves from podvmd @from to the other; the figures into @out. */
static gboolean
podvm_run(Bench *b, guint from, double out[N_FIGS], GError **error)
{
    guint to = 1 - from;
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) options = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(JsonNode) result = NULL;
    g_autofree char *options_text = NULL;
    const char *result_text;
    JsonObject *object = NULL;
    gint64 t0, t1;

    for (guint i = 0; i < N_FIGS; i++)
        out[i] = -1;
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "target");
    json_builder_add_string_value(builder, b->urls[to]);
    json_builder_set_member_name(builder, "tokenFile");
    json_builder_add_string_value(builder, b->token_paths[to]);
    json_builder_set_member_name(builder, "plaintext");
    json_builder_add_boolean_value(builder, TRUE);
    json_builder_end_object(builder);
    options = json_builder_get_root(builder);
    options_text = json_to_string(options, FALSE);

    t0 = g_get_monotonic_time();
    if (!pod_call(b->daemons[from], "Migrate", g_variant_new("(s)", options_text), &reply, error))
        return FALSE;
    t1 = g_get_monotonic_time();
    g_variant_get(reply, "(&s)", &result_text);
    result = json_from_string(result_text, NULL);
    if (result != NULL && JSON_NODE_HOLDS_OBJECT(result))
        object = json_node_get_object(result);
    if (b->verbose)
        g_printerr("podvm result: %s\n", result_text);
    out[FIG_WALL] = bench_us_to_ms(t1 - t0);
    out[FIG_TOTAL] = result_ms(object, "totalMs");
    out[FIG_DOWNTIME] = result_ms(object, "downtimeMs");
    if (!podvm_test_daemon_wait_phase(b->daemons[to], POD_NAME, "Running", 60000)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the pod does not run on the target");
        return FALSE;
    }
    return TRUE;
}

/* Deletes the pod wherever it is. */
static void
podvm_delete(Bench *b)
{
    for (guint i = 0; i < 2; i++) {
        g_autofree char *phase = NULL;

        if (b->daemons[i] == NULL)
            continue;
        phase = podvm_test_daemon_phase(b->daemons[i], POD_NAME);
        if (phase == NULL)
            continue;
        pod_call(b->daemons[i], "Delete", g_variant_new("(b)", TRUE), NULL, NULL);
    }
}

/* ---- runs ----------------------------------------------------------------- */

static void
print_run(Bench *b, Side side, Kind kind, guint index, gboolean warm_up, const double f[N_FIGS])
{
    if (!b->verbose && !warm_up)
        return;
    g_printerr("%s %s run %u%s: wall %.0f ms, total %.0f ms, downtime %.0f ms", side_names[side],
               kind_names[kind], index, warm_up ? " (warm-up)" : "", f[FIG_WALL], f[FIG_TOTAL],
               f[FIG_DOWNTIME]);
    if (kind == KIND_DISK)
        g_printerr(", mirror %.0f, RAM %.0f, switchover %.0f ms", f[FIG_MIRROR], f[FIG_RAM],
                   f[FIG_SWITCH]);
    g_printerr("\n");
}

static void
record(Bench *b, Side side, Kind kind, const double f[N_FIGS])
{
    for (guint i = 0; i < N_FIGS; i++) {
        if (f[i] >= 0)
            bench_record(b->figures.samples[kind][side][i], f[i]);
    }
}

static gboolean
run_kind(Bench *b, Kind kind, GError **error)
{
    gboolean podvm = b->figures.podvm_unavailable == NULL;
    guint from = 0;

    if (podvm && !podvm_create(b, 0, kind, error)) {
        g_autofree char *why = g_strdup_printf("the pod did not start: %s", (*error)->message);

        b->figures.podvm_unavailable = g_steal_pointer(&why);
        g_clear_error(error);
        podvm_delete(b);
        podvm = FALSE;
    }
    for (guint i = 0; i <= b->runs; i++) {
        gboolean warm_up = i == 0;
        double f[N_FIGS];

        /* Alternate which side goes first. */
        for (guint turn = 0; turn < 2; turn++) {
            Side side = (turn + i) % 2 == 0 ? SIDE_BARE : SIDE_PODVM;

            if (side == SIDE_BARE) {
                if (!bare_run(b, kind, i, f, error)) {
                    g_prefix_error(error, "bare %s run %u: ", kind_names[kind], i);
                    return FALSE;
                }
            } else {
                g_autoptr(GError) podvm_error = NULL;

                if (!podvm)
                    continue;
                if (!podvm_run(b, from, f, &podvm_error)) {
                    /* Not on this build (yet): the bare figures still stand. */
                    b->figures.podvm_unavailable = g_strdup(podvm_error->message);
                    podvm_delete(b);
                    podvm = FALSE;
                    continue;
                }
                from = 1 - from;
            }
            print_run(b, side, kind, i, warm_up, f);
            if (!warm_up)
                record(b, side, kind, f);
        }
        if (!bench_check_interrupted(error))
            return FALSE;
    }
    if (podvm)
        podvm_delete(b);
    return TRUE;
}

/* ---- results -------------------------------------------------------------- */

static gboolean
median_of(Bench *b, Kind kind, Side side, Fig fig, double *out)
{
    double min, max;

    return bench_samples_stats(b->figures.samples[kind][side][fig], out, &min, &max);
}

static void
print_results(Bench *b)
{
    bench_print_header("bench-migrate", b->qemu_version);
    g_print("test guest, 128 MiB, idle; bare: unix socket between two QEMUs; podvm: two podvmds, "
            "REST over http on 127.0.0.1; %u runs each (median, min)\n",
            b->runs);
    for (guint kind = 0; kind < N_KINDS; kind++) {
        g_print("\n%s%s\n", kind == KIND_IDLE ? "idle guest" : "with a 256 MiB local disk",
                kind == KIND_DISK ? " (mirror over NBD + migrate)" : "");
        for (guint fig = 0; fig < N_FIGS; fig++) {
            if (kind == KIND_IDLE && fig >= FIG_MIRROR)
                continue;
            for (guint side = 0; side < N_SIDES; side++) {
                double median, min, max;

                if (!bench_samples_stats(b->figures.samples[kind][side][fig], &median, &min, &max))
                    continue;
                g_print("  %-5s %-36s %8.1f ms  (min %.1f)\n", side_names[side], fig_labels[fig],
                        median, min);
            }
        }
    }
    if (b->figures.podvm_unavailable != NULL)
        g_print("\npodvm: not measured: %s\n", b->figures.podvm_unavailable);

    g_print("\ntargets (issue 13):\n");
    {
        double bare, pod;
        const double ratio[N_KINDS] = { 1.3, 1.2 };

        for (guint kind = 0; kind < N_KINDS; kind++) {
            if (median_of(b, kind, SIDE_BARE, FIG_WALL, &bare) &&
                median_of(b, kind, SIDE_PODVM, FIG_WALL, &pod))
                g_print("  %s: podvm total %.0f ms <= %.1fx bare %.0f ms (%.0f): %.2fx  %s\n",
                        kind_names[kind], pod, ratio[kind], bare, ratio[kind] * bare, pod / bare,
                        bench_verdict(pod <= ratio[kind] * bare));
            else
                g_print("  %s: podvm total <= %.1fx bare: not measured\n", kind_names[kind],
                        ratio[kind]);
        }
        if (median_of(b, KIND_IDLE, SIDE_BARE, FIG_DOWNTIME, &bare) &&
            median_of(b, KIND_IDLE, SIDE_PODVM, FIG_DOWNTIME, &pod))
            g_print("  idle: podvm downtime %.0f ms <= bare %.0f ms + 10: %s\n", pod, bare,
                    bench_verdict(pod <= bare + 10));
        else
            g_print("  idle: podvm downtime <= bare + 10 ms: not measured\n");
    }
}

static void
write_json(Bench *b, const char *path)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    bench_json_begin(builder, b->qemu_version);
    for (guint kind = 0; kind < N_KINDS; kind++) {
        for (guint side = 0; side < N_SIDES; side++) {
            for (guint fig = 0; fig < N_FIGS; fig++) {
                g_autofree char *key = NULL;

                if (b->figures.samples[kind][side][fig]->len == 0)
                    continue;
                key =
                    g_strdup_printf("%s_%s_%s", side_names[side], kind_names[kind], fig_keys[fig]);
                bench_json_add_samples(builder, key, "ms", b->figures.samples[kind][side][fig],
                                       TRUE);
            }
        }
    }
    if (b->figures.podvm_unavailable != NULL) {
        json_builder_set_member_name(builder, "podvm_unavailable");
        json_builder_add_string_value(builder, b->figures.podvm_unavailable);
    }
    bench_json_write(builder, path);
}

int
main(int argc, char **argv)
{
    Bench bench = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *json_path = NULL;
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *why = NULL;
    gboolean quick = bench_quick();
    int status = 0;

    if (!bench_init("bench-migrate"))
        return 77;
    bench.verbose = bench_verbose();
    bench.runs = bench_env_uint("PODVM_BENCH_RUNS", quick ? 3 : 5);
    for (guint kind = 0; kind < N_KINDS; kind++)
        for (guint side = 0; side < N_SIDES; side++)
            for (guint fig = 0; fig < N_FIGS; fig++)
                bench.figures.samples[kind][side][fig] = g_array_new(FALSE, FALSE, sizeof(double));
    if (g_getenv("PODVM_BENCH_MIGRATE_JSON") != NULL)
        json_path = g_strdup(g_getenv("PODVM_BENCH_MIGRATE_JSON"));
    else
        json_path = g_build_filename(cwd, "bench-migrate.json", NULL);

    bench_catch_interrupts();
    bench.work_dir = podvm_test_mkdtemp();
    if (g_getenv("PODVM_BENCH_MIGRATE_BARE_ONLY") != NULL)
        bench.figures.podvm_unavailable = g_strdup("PODVM_BENCH_MIGRATE_BARE_ONLY is set");
    else if (!podvm_start(&bench, &why))
        bench.figures.podvm_unavailable = g_steal_pointer(&why);
    if (bench.daemons[0] != NULL)
        bench_set_daemon_pid(atoi(g_subprocess_get_identifier(bench.daemons[0]->process)));
    bench_install_crash_handlers();

    for (guint kind = 0; kind < N_KINDS && status == 0; kind++) {
        if (!run_kind(&bench, kind, &error)) {
            g_printerr("bench-migrate: %s\n", error->message);
            status = 1;
        }
    }
    print_results(&bench);
    if (status == 0)
        write_json(&bench, json_path);

    bench_set_daemon_pid(0);
    for (guint i = 0; i < 2; i++) {
        if (bench.daemons[i] != NULL) {
            (void)g_unlink(bench.daemons[i]->log_path);
            podvm_test_daemon_free(bench.daemons[i]);
        }
        g_free(bench.urls[i]);
        g_free(bench.token_paths[i]);
    }
    bench_reap_tracked();
    podvm_test_rmrf(bench.work_dir);
    for (guint kind = 0; kind < N_KINDS; kind++)
        for (guint side = 0; side < N_SIDES; side++)
            for (guint fig = 0; fig < N_FIGS; fig++)
                g_array_unref(bench.figures.samples[kind][side][fig]);
    g_free(bench.figures.podvm_unavailable);
    g_free(bench.work_dir);
    g_free(bench.qemu_version);
    return status;
}
