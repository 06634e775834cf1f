/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-core: podvmd against bare QEMU, measured in the same run, with the
 * same guest and the same argv: podvm_qemu_argv_build() on the same spec,
 * the bare QEMU binding its own sockets by path, accel=tcg. The bare QEMU
 * is driven by libpodvm-qmp directly. Prints the median of each figure,
 * then each target with its ratio and PASS or MISS. A miss does not fail
 * the program; something broken does (exit 1). Exit 77 (skip) when QEMU or
 * the test guest is missing.
 *
 * Environment:
 *   PODVMD, PODVM_GUEST_DIR, PODVM_QEMU   as for the tests (tests/meson.build)
 *   PODVM_BENCH_RUNS=N               single-VM runs (default 5; 2 when quick)
 *   PODVM_BENCH_CONCURRENT_RUNS=N    runs of the 10-at-once start (default 2; 1 when quick)
 *   PODVM_BENCH_PAUSE_ITERATIONS=N   pause/resume round trips (default 200; 50 when quick)
 *   PODVM_BENCH_QUICK=1              fewer runs
 *   PODVM_BENCH_JSON=PATH            the JSON results (default bench-core.json in the cwd)
 *   PODVM_BENCH_VERBOSE=1            library messages and both argvs on stderr
 * A count of 0 leaves that part out (its targets say "not measured").
 *
 * Reading the figures: QEMU sends its QMP greeting from the monitor thread
 * before the machine is built; commands wait for the main loop (here about
 * 15 ms later). "spawn -> negotiated, cont done" is the bare figure that
 * matches what podvmd's Start waits for, printed under the targets.
 *
 * Every QEMU started here ends with the benchmark, also on failure: bare
 * QEMUs are tracked by pid, killed on every way out (and get
 * PR_SET_PDEATHSIG); podvmd's are killed through D-Bus, and otherwise by
 * podvm_test_daemon_free() or the abort handler of podvm-test-daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "podvm-qemu-argv.h"
#include "podvm-qmp-client.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BUS_NAME "io.podvm.PodVM1"
#define MANAGER_PATH "/io/podvm/PodVM1"
#define MANAGER_IFACE "io.podvm.PodVM1.Manager"
#define POD_IFACE "io.podvm.PodVM1.Pod"

#define MARKER "PODVM-GUEST-READY"
#define MANY 10
#define GRACE_SECONDS 5
#define POLL_MS 2
#define CONNECT_RETRY_MS 1
#define BOOT_TIMEOUT_MS (180 * 1000)
#define MANY_TIMEOUT_MS (600 * 1000)
#define CALL_TIMEOUT_MS (120 * 1000)

/* ---- figures and targets ------------------------------------------------ */

typedef enum {
    FIG_BARE_GREETING,
    FIG_BARE_CONT,
    FIG_BARE_MARKER,
    FIG_BARE_KILL,
    FIG_BARE_MANY,
    FIG_BARE_MANY_CPU,
    FIG_BARE_PAUSE,
    FIG_POD_CREATE_START,
    FIG_POD_START,
    FIG_POD_MARKER,
    FIG_POD_KILL,
    FIG_POD_MANY,
    FIG_POD_MANY_CPU,
    FIG_POD_MANY_SELF,
    FIG_POD_PAUSE,
    FIG_POD_DBUS,
    FIG_RSS_IDLE,
    FIG_RSS_MANY,
    N_FIGURES
} Figure;

static const struct {
    const char *key; /* in the JSON output */
    const char *label;
    const char *unit;
} figure_info[N_FIGURES] = {
    [FIG_BARE_GREETING] = { "bare_spawn_to_greeting", "bare: spawn -> QMP greeting", "ms" },
    [FIG_BARE_CONT] = { "bare_spawn_to_cont", "bare: spawn -> negotiated, cont done", "ms" },
    [FIG_BARE_MARKER] = { "bare_spawn_to_marker", "bare: spawn -> guest marker", "ms" },
    [FIG_BARE_KILL] = { "bare_sigterm_to_reaped", "bare: SIGTERM -> reaped", "ms" },
    [FIG_BARE_MANY] = { "bare_10_to_markers", "bare: 10 spawned at once -> all markers", "ms" },
    [FIG_BARE_MANY_CPU] = { "bare_10_qemu_cpu", "bare: 10 QEMUs' CPU until all markers", "ms" },
    [FIG_BARE_PAUSE] = { "bare_stop_cont", "bare: QMP stop + cont", "ms" },
    [FIG_POD_CREATE_START] = { "podvmd_create_start", "podvmd: CreatePod + Start (after cont)",
                               "ms" },
    [FIG_POD_START] = { "podvmd_start", "podvmd: Start (returns after cont)", "ms" },
    [FIG_POD_MARKER] = { "podvmd_start_to_marker", "podvmd: Start -> guest marker", "ms" },
    [FIG_POD_KILL] = { "podvmd_kill_to_stopped", "podvmd: Kill -> Stopped", "ms" },
    [FIG_POD_MANY] = { "podvmd_10_to_markers", "podvmd: 10 Start at once -> all markers", "ms" },
    [FIG_POD_MANY_CPU] = { "podvmd_10_qemu_cpu", "podvmd: 10 QEMUs' CPU until all markers", "ms" },
    [FIG_POD_MANY_SELF] = { "podvmd_10_own_cpu", "podvmd: own CPU during the 10 starts", "ms" },
    [FIG_POD_PAUSE] = { "podvmd_pause_resume", "podvmd: Pause + Resume (D-Bus)", "ms" },
    [FIG_POD_DBUS] = { "podvmd_dbus_round_trip", "podvmd: GetPod round trip (D-Bus only)", "ms" },
    [FIG_RSS_IDLE] = { "podvmd_rss_idle", "podvmd: VmRSS, no pod", "MiB" },
    [FIG_RSS_MANY] = { "podvmd_rss_10_pods", "podvmd: VmRSS, 10 pods running", "MiB" },
};

typedef enum {
    LIMIT_RATIO, /* podvmd / bare <= limit */
    LIMIT_PLUS,  /* podvmd - bare <= limit (ms) */
    LIMIT_BELOW, /* podvmd < limit (the figure's unit) */
} LimitKind;

static const struct {
    const char *label;
    Figure podvmd;
    int bare; /* a Figure, or -1 */
    LimitKind kind;
    double limit;
} targets[] = {
    { "1 create+start vs spawn->greeting", FIG_POD_CREATE_START, FIG_BARE_GREETING, LIMIT_RATIO,
      1.5 },
    { "2 start -> guest marker", FIG_POD_MARKER, FIG_BARE_MARKER, LIMIT_RATIO, 1.05 },
    { "3 10 at once -> all markers", FIG_POD_MANY, FIG_BARE_MANY, LIMIT_RATIO, 1.05 },
    { "4 kill->Stopped vs SIGTERM->reaped", FIG_POD_KILL, FIG_BARE_KILL, LIMIT_RATIO, 2.0 },
    { "5 pause+resume vs QMP stop+cont", FIG_POD_PAUSE, FIG_BARE_PAUSE, LIMIT_PLUS, 0.5 },
    { "6 podvmd VmRSS with 10 pods", FIG_RSS_MANY, -1, LIMIT_BELOW, 12.0 },
};

typedef struct {
    PodvmTestDaemon *daemon;
    char *bare_dir;     /* the bare QEMUs' sockets and logs */
    char *qemu_version; /* from the first QMP greeting */
    guint runs;
    guint many_runs;
    guint pause_iterations;
    gboolean verbose;
    pid_t podvmd_pid;
    guint serial; /* for unique names */
    GArray *samples[N_FIGURES];
} Bench;

static void
record(Bench *b, Figure figure, double value)
{
    bench_record(b->samples[figure], value);
}

/* FALSE when there is no sample. */
static gboolean
figure_stats(Bench *b, Figure figure, double *out_median, double *out_min, double *out_max)
{
    return bench_samples_stats(b->samples[figure], out_median, out_min, out_max);
}

static char *
format_value(double value, const char *unit)
{
    if (g_str_equal(unit, "ms") && value < 10.0)
        return g_strdup_printf("%.2f ms", value);
    if (g_str_equal(unit, "ms") && value >= 1000.0)
        return g_strdup_printf("%.0f ms", value);
    return g_strdup_printf("%.1f %s", value, unit);
}

/* ---- waiting ------------------------------------------------------------ */

/* Watches a console log for the guest's ready marker, reading only what is new. */
typedef struct {
    char *path;
    int fd;
    guint64 offset;
    char carry[sizeof MARKER]; /* the end of what was read before */
    gsize carry_len;
    gint64 found_at; /* monotonic time; 0 until seen */
} LogWatch;

static LogWatch *
log_watch_new(const char *path)
{
    LogWatch *watch = g_new0(LogWatch, 1);

    watch->path = g_strdup(path);
    watch->fd = -1;
    return watch;
}

static void
log_watch_free(LogWatch *watch)
{
    if (watch == NULL)
        return;
    if (watch->fd >= 0)
        close(watch->fd);
    g_free(watch->path);
    g_free(watch);
}

static void
log_watch_poll(LogWatch *watch)
{
    char buf[sizeof MARKER + 8192];
    const gsize marker_len = strlen(MARKER);

    if (watch->found_at != 0)
        return;
    if (watch->fd < 0) {
        watch->fd = open(watch->path, O_RDONLY | O_CLOEXEC);
        if (watch->fd < 0)
            return;
    }
    for (;;) {
        ssize_t n = pread(watch->fd, buf + watch->carry_len, sizeof buf - sizeof MARKER,
                          (off_t)watch->offset);
        gsize len;

        if (n <= 0)
            return;
        memcpy(buf, watch->carry, watch->carry_len);
        len = watch->carry_len + (gsize)n;
        watch->offset += (guint64)n;
        if (memmem(buf, len, MARKER, marker_len) != NULL) {
            watch->found_at = g_get_monotonic_time();
            return;
        }
        watch->carry_len = MIN(len, marker_len - 1);
        memcpy(watch->carry, buf + len - watch->carry_len, watch->carry_len);
    }
}

/* ---- bare QEMU ---------------------------------------------------------- */

typedef struct {
    BenchQemu qemu;
    gint64 spawned_at; /* just before the spawn */
    gint64 greeting_at;
    gint64 negotiated_at;
    gint64 cont_at;
    LogWatch *log;
    guint connect_timer;
    GSocket *socket;
    GSource *greeting_source;
    PodvmQmpClient *qmp;
    GCancellable *cancellable;
    GError *error;
    gboolean closed;
    Bench *bench; /* unowned */
} BareVm;

static void
bare_vm_shutdown(BareVm *vm)
{
    if (vm->closed)
        return;
    vm->closed = TRUE;
    g_cancellable_cancel(vm->cancellable);
    g_clear_handle_id(&vm->connect_timer, g_source_remove);
    if (vm->greeting_source != NULL) {
        g_source_destroy(vm->greeting_source);
        g_clear_pointer(&vm->greeting_source, g_source_unref);
    }
    if (vm->qmp != NULL)
        podvm_qmp_client_close(vm->qmp);
    bench_qemu_kill(&vm->qemu);
}

static void
bare_vm_clear(gpointer data)
{
    BareVm *vm = data;

    bare_vm_shutdown(vm);
    g_clear_object(&vm->qmp);
    g_clear_object(&vm->socket);
    g_clear_object(&vm->cancellable);
    g_clear_pointer(&vm->log, log_watch_free);
    g_clear_error(&vm->error);
    bench_qemu_clear(&vm->qemu);
}

static BareVm *
bare_vm_ref(BareVm *vm)
{
    return g_rc_box_acquire(vm);
}

static void
bare_vm_unref(BareVm *vm)
{
    g_rc_box_release_full(vm, bare_vm_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BareVm, bare_vm_unref)

static void
bare_vm_fail(BareVm *vm, GError *error)
{
    if (vm->error == NULL)
        vm->error = error;
    else
        g_error_free(error);
}

static void
bare_cont_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(BareVm) vm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (vm->closed)
        return;
    if (reply == NULL) {
        g_prefix_error(&error, "bare QEMU: cont: ");
        bare_vm_fail(vm, g_steal_pointer(&error));
        return;
    }
    vm->cont_at = g_get_monotonic_time();
}

static void
bare_handshake_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(BareVm) vm = user_data;
    g_autoptr(GError) error = NULL;

    if (!podvm_qmp_client_handshake_finish(PODVM_QMP_CLIENT(source), result, &error)) {
        if (!vm->closed) {
            g_prefix_error(&error, "bare QEMU: QMP negotiation: ");
            bare_vm_fail(vm, g_steal_pointer(&error));
        }
        return;
    }
    if (vm->closed)
        return;
    vm->negotiated_at = g_get_monotonic_time();
    if (vm->bench->qemu_version == NULL)
        vm->bench->qemu_version = g_strdup(podvm_qmp_client_get_qemu_version(vm->qmp));
    podvm_qmp_client_execute_async(vm->qmp, "cont", NULL, NULL, PODVM_QMP_TIMEOUT_HOTPLUG,
                                   vm->cancellable, bare_cont_cb, bare_vm_ref(vm));
}

/* The greeting has arrived once a whole line can be peeked at. */
static gboolean
bare_greeting_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    BareVm *vm = user_data;
    g_autoptr(GSocketConnection) connection = NULL;
    char buf[4096];
    ssize_t n = recv(g_socket_get_fd(socket), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n > 0 && (gsize)n < sizeof buf && memchr(buf, '\n', (gsize)n) == NULL)
        return G_SOURCE_CONTINUE;
    g_clear_pointer(&vm->greeting_source, g_source_unref);
    if (n <= 0) {
        bare_vm_fail(vm, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED,
                                     "bare QEMU closed its QMP socket before the greeting"));
        return G_SOURCE_REMOVE;
    }
    vm->greeting_at = g_get_monotonic_time();
    connection = g_socket_connection_factory_create_connection(socket);
    vm->qmp = podvm_qmp_client_new();
    podvm_qmp_client_handshake_async(vm->qmp, connection, PODVM_QMP_TIMEOUT_DEFAULT,
                                     vm->cancellable, bare_handshake_cb, bare_vm_ref(vm));
    return G_SOURCE_REMOVE;
}

/* Connects as soon as QEMU listens: retried every CONNECT_RETRY_MS. */
static gboolean
bare_connect_cb(gpointer user_data)
{
    BareVm *vm = user_data;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_autoptr(GError) error = NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    g_strlcpy(addr.sun_path, vm->qemu.qmp_path, sizeof addr.sun_path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int saved = errno;

        close(fd);
        if (saved == ENOENT || saved == ECONNREFUSED || saved == EAGAIN || saved == EINTR)
            return G_SOURCE_CONTINUE;
        fd = -1;
        errno = saved;
    }
    vm->connect_timer = 0;
    if (fd < 0) {
        int saved = errno;
        bare_vm_fail(vm, g_error_new(G_IO_ERROR, g_io_error_from_errno(saved),
                                     "cannot connect to '%s': %s", vm->qemu.qmp_path,
                                     g_strerror(saved)));
        return G_SOURCE_REMOVE;
    }
    vm->socket = g_socket_new_from_fd(fd, &error);
    if (vm->socket == NULL) {
        close(fd);
        bare_vm_fail(vm, g_steal_pointer(&error));
        return G_SOURCE_REMOVE;
    }
    vm->greeting_source = g_socket_create_source(vm->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(vm->greeting_source, G_SOURCE_FUNC(bare_greeting_cb), vm, NULL);
    g_source_attach(vm->greeting_source, NULL);
    return G_SOURCE_REMOVE;
}

static BareVm *
bare_vm_spawn(Bench *b, GError **error)
{
    g_autoptr(BareVm) vm = g_rc_box_new0(BareVm);
    g_autofree char *name = g_strdup_printf("bare-%u", ++b->serial);
    g_autofree char *dir = g_build_filename(b->bare_dir, name, NULL);
    g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, GRACE_SECONDS);

    vm->bench = b;
    vm->cancellable = g_cancellable_new();
    if (!bench_qemu_spawn(&vm->qemu, dir, spec, PODVM_QEMU_SPARE_ROOT_PORTS, &vm->spawned_at,
                          error))
        return NULL; /* bare_vm_clear kills it, if it runs */
    vm->log = log_watch_new(vm->qemu.console_log);
    vm->connect_timer = g_timeout_add(CONNECT_RETRY_MS, bare_connect_cb, vm);
    return g_steal_pointer(&vm);
}

/* Reaps a QEMU that exited on its own and says so. */
static void
bare_vm_check_alive(BareVm *vm)
{
    int status = 0;
    g_autofree char *tail = NULL;

    if (vm->qemu.pid <= 0 || waitpid(vm->qemu.pid, &status, WNOHANG) != vm->qemu.pid)
        return;
    bench_untrack_pid(vm->qemu.pid);
    vm->qemu.pid = 0;
    tail = bench_file_tail(vm->qemu.qemu_log, 1024);
    bare_vm_fail(vm, g_error_new(G_IO_ERROR, G_IO_ERROR_FAILED,
                                 "bare QEMU exited early (status 0x%x): %s", status, tail));
}

/* SIGTERM, then waitpid: returns the time it took, or a negative value. */
static double
bare_vm_terminate(BareVm *vm)
{
    gint64 start = g_get_monotonic_time();
    pid_t pid = vm->qemu.pid;
    pid_t reaped;

    if (pid <= 0 || kill(pid, SIGTERM) != 0)
        return -1.0;
    while ((reaped = waitpid(pid, NULL, 0)) < 0 && errno == EINTR)
        ;
    if (reaped != pid)
        return -1.0;
    bench_untrack_pid(pid);
    vm->qemu.pid = 0;
    return bench_us_to_ms(g_get_monotonic_time() - start);
}

static gboolean
bares_ready(gpointer user_data)
{
    GPtrArray *vms = user_data;
    gboolean all = TRUE;

    if (bench_interrupted())
        return TRUE;
    for (guint i = 0; i < vms->len; i++) {
        BareVm *vm = g_ptr_array_index(vms, i);

        log_watch_poll(vm->log);
        bare_vm_check_alive(vm);
        if (vm->error != NULL)
            return TRUE;
        if (vm->cont_at == 0 || vm->log->found_at == 0)
            all = FALSE;
    }
    return all;
}

static gboolean
wait_bares(GPtrArray *vms, guint timeout_ms, GError **error)
{
    bench_wait_until(bares_ready, vms, POLL_MS, timeout_ms);
    if (!bench_check_interrupted(error))
        return FALSE;
    for (guint i = 0; i < vms->len; i++) {
        BareVm *vm = g_ptr_array_index(vms, i);

        if (vm->error != NULL) {
            g_propagate_error(error, g_error_copy(vm->error));
            return FALSE;
        }
        if (vm->cont_at == 0 || vm->log->found_at == 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "bare QEMU: no %s within %u s (see '%s' and '%s')",
                        vm->cont_at == 0 ? "QMP cont" : MARKER, timeout_ms / 1000,
                        vm->qemu.console_log, vm->qemu.qemu_log);
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- podvmd ------------------------------------------------------------- */

typedef struct {
    char *name;
    char *path; /* D-Bus object path */
    gint64 start_called_at;
    gint64 started_at; /* the Start call returned */
    gboolean start_done;
    LogWatch *log;
    GCancellable *cancellable;
    GError *error;
} PodRun;

static void
pod_run_clear(gpointer data)
{
    PodRun *run = data;

    g_cancellable_cancel(run->cancellable);
    g_clear_object(&run->cancellable);
    g_clear_pointer(&run->log, log_watch_free);
    g_clear_error(&run->error);
    g_free(run->name);
    g_free(run->path);
}

static void
pod_run_unref(PodRun *run)
{
    g_rc_box_release_full(run, pod_run_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodRun, pod_run_unref)

static GVariant *
call_sync(Bench *b, const char *path, const char *iface, const char *method, GVariant *parameters,
          const GVariantType *reply_type, GError **error)
{
    GVariant *reply = g_dbus_connection_call_sync(
        b->daemon->connection, BUS_NAME, path, iface, method, parameters, reply_type,
        G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);

    if (reply == NULL) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: %s: ", method);
    }
    return reply;
}

static gboolean
pod_call(Bench *b, PodRun *run, const char *method, GVariant *parameters, GError **error)
{
    g_autoptr(GVariant) reply = call_sync(b, run->path, POD_IFACE, method, parameters, NULL, error);

    return reply != NULL;
}

/* CreatePod, unless the pod exists already. */
static PodRun *
pod_run_create(Bench *b, GError **error)
{
    g_autoptr(PodRun) run = g_rc_box_new0(PodRun);
    g_autofree char *spec = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *log = NULL;

    run->name = g_strdup_printf("bench-%u", ++b->serial);
    run->cancellable = g_cancellable_new();
    spec = podvm_test_guest_spec(run->name, NULL, NULL, GRACE_SECONDS);
    reply = call_sync(b, MANAGER_PATH, MANAGER_IFACE, "CreatePod", g_variant_new("(s)", spec),
                      G_VARIANT_TYPE("(o)"), error);
    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(o)", &run->path);
    log = podvm_test_daemon_console_log(b->daemon, run->name);
    run->log = log_watch_new(log);
    return g_steal_pointer(&run);
}

static void
pod_start_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodRun) run = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = NULL;

    reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
    if (g_cancellable_is_cancelled(run->cancellable))
        return;
    run->started_at = g_get_monotonic_time();
    run->start_done = TRUE;
    if (reply == NULL) {
        g_dbus_error_strip_remote_error(error);
        g_prefix_error(&error, "podvmd: Start '%s': ", run->name);
        run->error = g_steal_pointer(&error);
    }
}

static void
pod_run_start(Bench *b, PodRun *run)
{
    run->start_called_at = g_get_monotonic_time();
    g_dbus_connection_call(b->daemon->connection, BUS_NAME, run->path, POD_IFACE, "Start",
                           g_variant_new("(@a{sv})", g_variant_new("a{sv}", NULL)), NULL,
                           G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, run->cancellable, pod_start_cb,
                           g_rc_box_acquire(run));
}

static gboolean
pods_ready(gpointer user_data)
{
    GPtrArray *runs = user_data;
    gboolean all = TRUE;

    if (bench_interrupted())
        return TRUE;
    for (guint i = 0; i < runs->len; i++) {
        PodRun *run = g_ptr_array_index(runs, i);

        log_watch_poll(run->log);
        if (run->error != NULL)
            return TRUE;
        if (!run->start_done || run->log->found_at == 0)
            all = FALSE;
    }
    return all;
}

static gboolean
wait_pods(GPtrArray *runs, guint timeout_ms, GError **error)
{
    bench_wait_until(pods_ready, runs, POLL_MS, timeout_ms);
    if (!bench_check_interrupted(error))
        return FALSE;
    for (guint i = 0; i < runs->len; i++) {
        PodRun *run = g_ptr_array_index(runs, i);

        if (run->error != NULL) {
            g_propagate_error(error, g_error_copy(run->error));
            return FALSE;
        }
        if (!run->start_done || run->log->found_at == 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "podvmd: pod '%s': no %s within %u s (see '%s')", run->name,
                        run->start_done ? MARKER : "reply to Start", timeout_ms / 1000,
                        run->log->path);
            return FALSE;
        }
    }
    return TRUE;
}

/* Kill (timed, in ms; NULL to skip the timing), then Delete. */
static gboolean
pod_kill_delete(Bench *b, PodRun *run, double *out_kill_ms, GError **error)
{
    gint64 start = g_get_monotonic_time();

    if (!pod_call(b, run, "Kill", NULL, error))
        return FALSE;
    if (out_kill_ms != NULL)
        *out_kill_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    return pod_call(b, run, "Delete", g_variant_new("(b)", FALSE), error);
}

static gboolean
read_rss_mib(pid_t pid, double *out_mib, GError **error)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *status = NULL;
    const char *line;

    if (!g_file_get_contents(path, &status, NULL, error))
        return FALSE;
    line = strstr(status, "\nVmRSS:");
    if (line == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "no VmRSS in '%s'", path);
        return FALSE;
    }
    *out_mib = (double)g_ascii_strtoull(line + strlen("\nVmRSS:"), NULL, 10) / 1024.0;
    return TRUE;
}

/* utime + stime in ms, or -1 when it cannot be read. */
static double
process_cpu_ms(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    g_auto(GStrv) fields = NULL;
    const char *end;
    long ticks = sysconf(_SC_CLK_TCK);

    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL) ||
        (end = strrchr(stat, ')')) == NULL)
        return -1.0;
    /* After "pid (comm) ": state is field 3, utime 14, stime 15. */
    fields = g_strsplit(end + 2, " ", 14);
    if (g_strv_length(fields) < 14 || ticks <= 0)
        return -1.0;
    return (double)(g_ascii_strtoull(fields[11], NULL, 10) +
                    g_ascii_strtoull(fields[12], NULL, 10)) *
           1000.0 / (double)ticks;
}

/* ---- argv check ----------------------------------------------------------- */

/*
 * podvmd's QEMU and the bare QEMU should differ only where the pod differs:
 * -name, -uuid and the two socket chardevs (fd= against path=, log paths).
 */
static void
compare_argv(Bench *b, PodRun *run, BareVm *vm)
{
    bench_compare_argv(b->daemon, run->name, vm->qemu.argv, b->verbose,
                       "4: -name, -uuid and the two socket chardevs");
}

/* ---- the scenarios ---------------------------------------------------- */

/* One pod: create+start, marker, kill. */
static gboolean
run_podvmd_single(Bench *b, guint index, BareVm *compare_with, GError **error)
{
    g_autoptr(GPtrArray) runs = g_ptr_array_new();
    g_autoptr(PodRun) run = NULL;
    gint64 created_from = g_get_monotonic_time();
    double kill_ms = 0;

    run = pod_run_create(b, error);
    if (run == NULL)
        return FALSE;
    pod_run_start(b, run);
    g_ptr_array_add(runs, run);
    if (!wait_pods(runs, BOOT_TIMEOUT_MS, error))
        return FALSE;
    if (compare_with != NULL)
        compare_argv(b, run, compare_with);
    if (!pod_kill_delete(b, run, &kill_ms, error))
        return FALSE;
    record(b, FIG_POD_CREATE_START, bench_us_to_ms(run->started_at - created_from));
    record(b, FIG_POD_START, bench_us_to_ms(run->started_at - run->start_called_at));
    record(b, FIG_POD_MARKER, bench_us_to_ms(run->log->found_at - run->start_called_at));
    record(b, FIG_POD_KILL, kill_ms);
    g_printerr("  run %u podvmd: create+start %.1f ms, start %.1f ms, marker %.0f ms, "
               "kill %.1f ms\n",
               index, bench_us_to_ms(run->started_at - created_from),
               bench_us_to_ms(run->started_at - run->start_called_at),
               bench_us_to_ms(run->log->found_at - run->start_called_at), kill_ms);
    return TRUE;
}

/* One bare QEMU: greeting, cont, marker, SIGTERM. */
static BareVm *
run_bare_single(Bench *b, guint index, GError **error)
{
    g_autoptr(GPtrArray) vms = g_ptr_array_new();
    g_autoptr(BareVm) vm = bare_vm_spawn(b, error);
    double kill_ms;

    if (vm == NULL)
        return NULL;
    g_ptr_array_add(vms, vm);
    if (!wait_bares(vms, BOOT_TIMEOUT_MS, error))
        return NULL;
    kill_ms = bare_vm_terminate(vm);
    if (kill_ms < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "bare QEMU: cannot SIGTERM and reap it");
        return NULL;
    }
    record(b, FIG_BARE_GREETING, bench_us_to_ms(vm->greeting_at - vm->spawned_at));
    record(b, FIG_BARE_CONT, bench_us_to_ms(vm->cont_at - vm->spawned_at));
    record(b, FIG_BARE_MARKER, bench_us_to_ms(vm->log->found_at - vm->spawned_at));
    record(b, FIG_BARE_KILL, kill_ms);
    g_printerr("  run %u bare:   greeting %.1f ms, negotiated %.1f ms, cont %.1f ms, "
               "marker %.0f ms, SIGTERM->reaped %.1f ms\n",
               index, bench_us_to_ms(vm->greeting_at - vm->spawned_at),
               bench_us_to_ms(vm->negotiated_at - vm->spawned_at),
               bench_us_to_ms(vm->cont_at - vm->spawned_at),
               bench_us_to_ms(vm->log->found_at - vm->spawned_at), kill_ms);
    bare_vm_shutdown(vm);
    return g_steal_pointer(&vm);
}

static gboolean
run_singles(Bench *b, GError **error)
{
    if (b->runs == 0)
        return TRUE;
    g_printerr("single VM: %u runs\n", b->runs);
    for (guint i = 1; i <= b->runs; i++) {
        g_autoptr(BareVm) bare = NULL;

        /* Alternate who goes first: caches and other load favour neither. */
        if (i % 2 == 0 && !run_podvmd_single(b, i, NULL, error))
            return FALSE;
        bare = run_bare_single(b, i, error);
        if (bare == NULL)
            return FALSE;
        /* On the first run, podvmd's QEMU command line is checked against the bare one. */
        if (i % 2 == 1 && !run_podvmd_single(b, i, i == 1 ? bare : NULL, error))
            return FALSE;
        if (!bench_check_interrupted(error))
            return FALSE;
    }
    return TRUE;
}

/* Pause+Resume through podvmd against stop+cont on a bare QEMU, interleaved. */
static gboolean
run_pause_resume(Bench *b, GError **error)
{
    g_autoptr(GPtrArray) runs = g_ptr_array_new();
    g_autoptr(GPtrArray) vms = g_ptr_array_new();
    g_autoptr(PodRun) run = NULL;
    g_autoptr(BareVm) vm = NULL;
    double kill_ms;

    if (b->pause_iterations == 0)
        return TRUE;
    g_printerr("pause/resume: %u round trips each, interleaved\n", b->pause_iterations);
    run = pod_run_create(b, error);
    if (run == NULL)
        return FALSE;
    pod_run_start(b, run);
    g_ptr_array_add(runs, run);
    if (!wait_pods(runs, BOOT_TIMEOUT_MS, error))
        return FALSE;
    vm = bare_vm_spawn(b, error);
    if (vm == NULL)
        return FALSE;
    g_ptr_array_add(vms, vm);
    if (!wait_bares(vms, BOOT_TIMEOUT_MS, error))
        return FALSE;

    for (guint i = 0; i < b->pause_iterations; i++) {
        g_autoptr(GVariant) reply = NULL;
        gint64 start = g_get_monotonic_time();

        if (!pod_call(b, run, "Pause", NULL, error) || !pod_call(b, run, "Resume", NULL, error))
            return FALSE;
        record(b, FIG_POD_PAUSE, bench_us_to_ms(g_get_monotonic_time() - start));
        start = g_get_monotonic_time();
        if (!bench_qmp_run(vm->qmp, "stop", NULL, PODVM_QMP_TIMEOUT_DEFAULT, error) ||
            !bench_qmp_run(vm->qmp, "cont", NULL, PODVM_QMP_TIMEOUT_DEFAULT, error))
            return FALSE;
        record(b, FIG_BARE_PAUSE, bench_us_to_ms(g_get_monotonic_time() - start));
        /* What the bus alone costs: a call that does no work in podvmd. */
        start = g_get_monotonic_time();
        reply = call_sync(b, MANAGER_PATH, MANAGER_IFACE, "GetPod", g_variant_new("(s)", run->name),
                          G_VARIANT_TYPE("(o)"), error);
        if (reply == NULL)
            return FALSE;
        record(b, FIG_POD_DBUS, bench_us_to_ms(g_get_monotonic_time() - start));
        if (!bench_check_interrupted(error))
            return FALSE;
    }
    kill_ms = bare_vm_terminate(vm);
    bare_vm_shutdown(vm);
    if (kill_ms < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "bare QEMU: cannot SIGTERM and reap it");
        return FALSE;
    }
    return pod_kill_delete(b, run, NULL, error);
}

static gboolean
run_podvmd_many(Bench *b, guint index, GError **error)
{
    g_autoptr(GPtrArray) runs = g_ptr_array_new_with_free_func((GDestroyNotify)pod_run_unref);
    gint64 start, last = 0;
    double rss = 0, own_cpu = process_cpu_ms(b->podvmd_pid), qemu_cpu = 0;

    for (guint i = 0; i < MANY; i++) {
        PodRun *run = pod_run_create(b, error);

        if (run == NULL)
            return FALSE;
        g_ptr_array_add(runs, run);
    }
    start = g_get_monotonic_time();
    for (guint i = 0; i < runs->len; i++)
        pod_run_start(b, g_ptr_array_index(runs, i));
    if (!wait_pods(runs, MANY_TIMEOUT_MS, error))
        return FALSE;
    for (guint i = 0; i < runs->len; i++)
        last = MAX(last, ((PodRun *)g_ptr_array_index(runs, i))->log->found_at);
    if (!read_rss_mib(b->podvmd_pid, &rss, error))
        return FALSE;
    own_cpu = process_cpu_ms(b->podvmd_pid) - own_cpu;
    for (guint i = 0; i < runs->len; i++) {
        PodRun *run = g_ptr_array_index(runs, i);
        g_autoptr(JsonObject) status = podvm_test_daemon_status(b->daemon, run->name);

        qemu_cpu +=
            process_cpu_ms((pid_t)json_object_get_int_member_with_default(status, "qemuPid", 0));
    }
    record(b, FIG_POD_MANY, bench_us_to_ms(last - start));
    record(b, FIG_POD_MANY_CPU, qemu_cpu);
    record(b, FIG_POD_MANY_SELF, own_cpu);
    record(b, FIG_RSS_MANY, rss);
    g_printerr("  run %u podvmd: %d pods, all markers after %.0f ms; CPU: QEMUs %.0f ms, "
               "podvmd %.0f ms; podvmd VmRSS %.1f MiB\n",
               index, MANY, bench_us_to_ms(last - start), qemu_cpu, own_cpu, rss);
    for (guint i = 0; i < runs->len; i++) {
        if (!pod_kill_delete(b, g_ptr_array_index(runs, i), NULL, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
run_bare_many(Bench *b, guint index, GError **error)
{
    g_autoptr(GPtrArray) vms = g_ptr_array_new_with_free_func((GDestroyNotify)bare_vm_unref);
    gint64 start = g_get_monotonic_time(), last = 0;
    double qemu_cpu = 0;

    for (guint i = 0; i < MANY; i++) {
        BareVm *vm = bare_vm_spawn(b, error);

        if (vm == NULL)
            return FALSE;
        g_ptr_array_add(vms, vm);
    }
    if (!wait_bares(vms, MANY_TIMEOUT_MS, error))
        return FALSE;
    for (guint i = 0; i < vms->len; i++) {
        BareVm *vm = g_ptr_array_index(vms, i);

        last = MAX(last, vm->log->found_at);
        qemu_cpu += process_cpu_ms(vm->qemu.pid);
    }
    record(b, FIG_BARE_MANY, bench_us_to_ms(last - start));
    record(b, FIG_BARE_MANY_CPU, qemu_cpu);
    g_printerr("  run %u bare:   %d QEMUs, all markers after %.0f ms; CPU: QEMUs %.0f ms\n", index,
               MANY, bench_us_to_ms(last - start), qemu_cpu);
    for (guint i = 0; i < vms->len; i++) {
        BareVm *vm = g_ptr_array_index(vms, i);

        if (bare_vm_terminate(vm) < 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "bare QEMU: cannot SIGTERM and reap it");
            return FALSE;
        }
        bare_vm_shutdown(vm);
    }
    return TRUE;
}

static gboolean
run_many(Bench *b, GError **error)
{
    if (b->many_runs == 0)
        return TRUE;
    g_printerr("%d VMs at once: %u run(s)\n", MANY, b->many_runs);
    for (guint i = 1; i <= b->many_runs; i++) {
        gboolean podvmd_first = i % 2 == 1;

        if (podvmd_first && !run_podvmd_many(b, i, error))
            return FALSE;
        if (!run_bare_many(b, i, error))
            return FALSE;
        if (!podvmd_first && !run_podvmd_many(b, i, error))
            return FALSE;
        if (!bench_check_interrupted(error))
            return FALSE;
    }
    return TRUE;
}

/* ---- output --------------------------------------------------------------- */

/* Fills @out_value (ratio or difference) and returns whether the target holds. */
static gboolean
target_eval(Bench *b, guint t, double *out_podvmd, double *out_bare, double *out_value,
            gboolean *out_measured)
{
    double pod = 0, bare = 0, lo, hi;

    *out_measured = figure_stats(b, targets[t].podvmd, &pod, &lo, &hi) &&
                    (targets[t].bare < 0 || figure_stats(b, targets[t].bare, &bare, &lo, &hi));
    *out_podvmd = pod;
    *out_bare = bare;
    if (!*out_measured)
        return FALSE;
    switch (targets[t].kind) {
    case LIMIT_RATIO:
        *out_value = bare > 0 ? pod / bare : 0;
        return bare > 0 && *out_value <= targets[t].limit;
    case LIMIT_PLUS:
        *out_value = pod - bare;
        return *out_value <= targets[t].limit;
    case LIMIT_BELOW:
    default:
        *out_value = pod;
        return pod < targets[t].limit;
    }
}

/* Target 1 against the bare figure that waits for what podvmd's Start waits for. */
static void
print_context(Bench *b)
{
    double pod, bare, lo, hi;

    if (figure_stats(b, FIG_POD_START, &pod, &lo, &hi) &&
        figure_stats(b, FIG_BARE_CONT, &bare, &lo, &hi) && bare > 0)
        g_print("context for 1: podvmd Start %.1f ms against bare spawn -> cont done %.1f ms: "
                "%.2fx\n",
                pod, bare, pod / bare);
}

static void
print_results(Bench *b)
{
    bench_print_header("podvm core benchmark", b->qemu_version);
    g_print("%u single-VM runs, %u run(s) of %d at once, %u pause/resume round trips\n\n", b->runs,
            b->many_runs, MANY, b->pause_iterations);

    g_print("%-42s %11s %11s %11s %5s\n", "figure", "median", "min", "max", "n");
    for (guint f = 0; f < N_FIGURES; f++) {
        double median, lo, hi;
        g_autofree char *m = NULL, *l = NULL, *h = NULL;

        if (!figure_stats(b, f, &median, &lo, &hi)) {
            g_print("%-42s %11s\n", figure_info[f].label, "-");
            continue;
        }
        m = format_value(median, figure_info[f].unit);
        l = format_value(lo, figure_info[f].unit);
        h = format_value(hi, figure_info[f].unit);
        g_print("%-42s %11s %11s %11s %5u\n", figure_info[f].label, m, l, h, b->samples[f]->len);
    }

    g_print("\n%-36s %11s %11s %10s %12s  %s\n", "target (medians)", "podvmd", "bare", "ratio",
            "limit", "result");
    for (guint t = 0; t < G_N_ELEMENTS(targets); t++) {
        const char *unit = figure_info[targets[t].podvmd].unit;
        double pod, bare, value;
        gboolean measured;
        gboolean pass = target_eval(b, t, &pod, &bare, &value, &measured);
        g_autofree char *pod_text = format_value(pod, unit);
        g_autofree char *bare_text =
            targets[t].bare >= 0 ? format_value(bare, unit) : g_strdup("-");
        g_autofree char *value_text = NULL;
        g_autofree char *limit_text = NULL;

        switch (targets[t].kind) {
        case LIMIT_RATIO:
            value_text = g_strdup_printf("%.2fx", value);
            limit_text = g_strdup_printf("<= %.2fx", targets[t].limit);
            break;
        case LIMIT_PLUS:
            value_text = g_strdup_printf("%+.2f ms", value);
            limit_text = g_strdup_printf("<= %+.2f ms", targets[t].limit);
            break;
        case LIMIT_BELOW:
        default:
            value_text = g_strdup("-");
            limit_text = g_strdup_printf("< %.0f %s", targets[t].limit, unit);
            break;
        }
        if (!measured) {
            g_print("%-36s %11s %11s %10s %12s  %s\n", targets[t].label, "-", "-", "-", limit_text,
                    "not measured");
            continue;
        }
        g_print("%-36s %11s %11s %10s %12s  %s\n", targets[t].label, pod_text, bare_text,
                value_text, limit_text, bench_verdict(pass));
    }

    print_context(b);

    g_print("\nlibvirt, for reference (figures from the issue, not measured here):\n"
            "  libvirtd 32 MiB + virtlogd 8 MiB resident; virsh create 390 ms, "
            "destroy 226 ms, suspend 2.6 ms\n");
}

static void
write_json(Bench *b, const char *path)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    bench_json_begin(builder, b->qemu_version);
    json_builder_set_member_name(builder, "figures");
    json_builder_begin_object(builder);
    for (guint f = 0; f < N_FIGURES; f++)
        bench_json_add_samples(builder, figure_info[f].key, figure_info[f].unit, b->samples[f],
                               FALSE);
    json_builder_end_object(builder);
    json_builder_set_member_name(builder, "targets");
    json_builder_begin_array(builder);
    for (guint t = 0; t < G_N_ELEMENTS(targets); t++) {
        double pod, bare, value;
        gboolean measured;
        gboolean pass = target_eval(b, t, &pod, &bare, &value, &measured);

        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "target");
        json_builder_add_string_value(builder, targets[t].label);
        json_builder_set_member_name(builder, "podvmd");
        json_builder_add_string_value(builder, figure_info[targets[t].podvmd].key);
        if (targets[t].bare >= 0) {
            json_builder_set_member_name(builder, "bare");
            json_builder_add_string_value(builder, figure_info[targets[t].bare].key);
        }
        json_builder_set_member_name(builder, "kind");
        json_builder_add_string_value(builder, targets[t].kind == LIMIT_RATIO  ? "ratio"
                                               : targets[t].kind == LIMIT_PLUS ? "plus_ms"
                                                                               : "below");
        json_builder_set_member_name(builder, "limit");
        json_builder_add_double_value(builder, targets[t].limit);
        if (measured) {
            json_builder_set_member_name(builder, "value");
            json_builder_add_double_value(builder, value);
        }
        json_builder_set_member_name(builder, "result");
        json_builder_add_string_value(builder, measured ? bench_verdict(pass) : "not measured");
        json_builder_end_object(builder);
    }
    json_builder_end_array(builder);
    json_builder_set_member_name(builder, "libvirt_reference");
    json_builder_add_string_value(builder, "libvirtd 32 MiB + virtlogd 8 MiB; virsh create "
                                           "390 ms, destroy 226 ms, suspend 2.6 ms");
    bench_json_write(builder, path);
}

/* ---- main ----------------------------------------------------------------- */

static gboolean
bench_run(Bench *b, GError **error)
{
    double rss = 0;

    if (!read_rss_mib(b->podvmd_pid, &rss, error))
        return FALSE;
    record(b, FIG_RSS_IDLE, rss);
    return run_singles(b, error) && run_pause_resume(b, error) && run_many(b, error);
}

int
main(int argc, char **argv)
{
    Bench bench = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *json_path = NULL;
    g_autofree char *cwd = g_get_current_dir();
    gboolean quick = bench_quick();
    int status = 0;

    if (!bench_init("bench-core"))
        return 77;
    bench.verbose = bench_verbose();
    bench.runs = bench_env_uint("PODVM_BENCH_RUNS", quick ? 2 : 5);
    bench.many_runs = bench_env_uint("PODVM_BENCH_CONCURRENT_RUNS", quick ? 1 : 2);
    bench.pause_iterations = bench_env_uint("PODVM_BENCH_PAUSE_ITERATIONS", quick ? 50 : 200);
    for (guint f = 0; f < N_FIGURES; f++)
        bench.samples[f] = g_array_new(FALSE, FALSE, sizeof(double));
    if (g_getenv("PODVM_BENCH_JSON") != NULL)
        json_path = g_strdup(g_getenv("PODVM_BENCH_JSON"));
    else
        json_path = g_build_filename(cwd, "bench-core.json", NULL);

    bench_catch_interrupts();

    bench.bare_dir = podvm_test_mkdtemp();
    bench.daemon = podvm_test_daemon_new();
    if (bench.daemon == NULL) {
        g_print("SKIP: podvmd cannot run here\n");
        podvm_test_rmrf(bench.bare_dir);
        return 77;
    }
    bench.podvmd_pid = atoi(g_subprocess_get_identifier(bench.daemon->process));
    bench_set_daemon_pid(bench.podvmd_pid);
    /* After podvm_test_daemon_new(): ours runs first, then its handler. */
    bench_install_crash_handlers();

    if (!bench_run(&bench, &error)) {
        bench_print_failure(bench.daemon, error);
        status = 1;
    }
    /* Said above when it mattered; podvm_test_daemon_free() would print it all. */
    (void)g_unlink(bench.daemon->log_path);
    print_results(&bench);
    if (status == 0)
        write_json(&bench, json_path);

    /* Bare QEMUs left by a failure (each BareVm reaps its own on the normal path). */
    bench_reap_tracked();
    podvm_test_rmrf(bench.bare_dir);
    g_free(bench.bare_dir);
    /* Stops podvmd and kills any QEMU its pods left. */
    bench_set_daemon_pid(0);
    podvm_test_daemon_free(bench.daemon);
    for (guint f = 0; f < N_FIGURES; f++)
        g_array_unref(bench.samples[f]);
    g_free(bench.qemu_version);
    return status;
}
