/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "podvm-qemu-argv.h"
#include "podvm-spec.h"
#include "podvm-test-util.h"

#define MAX_TRACKED 64

static const char *program_name = "bench";

gboolean
bench_verbose(void)
{
    return g_strcmp0(g_getenv("PODVM_BENCH_VERBOSE"), "1") == 0;
}

GLogWriterOutput
bench_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    /* The QMP client reports closed connections at message level: noise here. */
    if ((level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) != 0 &&
        !bench_verbose())
        return G_LOG_WRITER_HANDLED;
    return g_log_writer_default(level, fields, n_fields, user_data);
}

guint
bench_env_uint(const char *name, guint fallback)
{
    const char *value = g_getenv(name);
    guint64 parsed = 0;

    if (value == NULL || *value == '\0')
        return fallback;
    if (!g_ascii_string_to_unsigned(value, 10, 0, 100000, &parsed, NULL)) {
        g_printerr("%s: ignoring %s='%s' (expected a number)\n", program_name, name, value);
        return fallback;
    }
    return (guint)parsed;
}

/* The reason the benchmark cannot run here, or NULL. */
static char *
missing_requirement(void)
{
    g_autofree char *qemu = g_find_program_in_path(podvm_test_qemu_binary());
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *initrd = podvm_test_guest_initrd();
    GStatBuf st;

    if (g_getenv("PODVMD") == NULL)
        return g_strdup("PODVMD is not set: run it with `meson test --benchmark --suite bench`");
    if (qemu == NULL)
        return g_strdup_printf("QEMU (%s) is not installed", podvm_test_qemu_binary());
    if (g_stat(kernel, &st) != 0 || st.st_size == 0 || g_stat(initrd, &st) != 0 || st.st_size == 0)
        return g_strdup_printf("the test guest was not built (%s)", kernel);
    return NULL;
}

gboolean
bench_init(const char *name)
{
    g_autofree char *missing = NULL;

    program_name = name;
    g_log_set_writer_func(bench_log_writer, NULL, NULL);
    missing = missing_requirement();
    if (missing != NULL) {
        g_print("SKIP: %s\n", missing);
        return FALSE;
    }
    return TRUE;
}

gboolean
bench_quick(void)
{
    return g_strcmp0(g_getenv("PODVM_BENCH_QUICK"), "1") == 0;
}

/* ---- cleanup on every way out ------------------------------------------- */

/* Read by the crash handler, so plain values only. */
static volatile pid_t tracked_pids[MAX_TRACKED];
static volatile pid_t daemon_pid;
static struct sigaction previous_abort_action;
static struct sigaction previous_trap_action;
static volatile gboolean interrupted;

static gboolean
interrupt_cb(gpointer user_data)
{
    if (!interrupted)
        g_printerr("%s: interrupted; cleaning up\n", program_name);
    interrupted = TRUE;
    return G_SOURCE_CONTINUE;
}

void
bench_catch_interrupts(void)
{
    g_unix_signal_add(SIGINT, interrupt_cb, NULL);
    g_unix_signal_add(SIGTERM, interrupt_cb, NULL);
    g_unix_signal_add(SIGHUP, interrupt_cb, NULL);
}

gboolean
bench_interrupted(void)
{
    return interrupted;
}

gboolean
bench_check_interrupted(GError **error)
{
    if (!interrupted)
        return TRUE;
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "interrupted");
    return FALSE;
}

gboolean
bench_track_pid(pid_t pid)
{
    for (guint i = 0; i < MAX_TRACKED; i++) {
        if (tracked_pids[i] == 0) {
            tracked_pids[i] = pid;
            return TRUE;
        }
    }
    return FALSE;
}

void
bench_untrack_pid(pid_t pid)
{
    for (guint i = 0; i < MAX_TRACKED; i++) {
        if (tracked_pids[i] == pid)
            tracked_pids[i] = 0;
    }
}

void
bench_reap_tracked(void)
{
    for (guint i = 0; i < MAX_TRACKED; i++) {
        pid_t pid = tracked_pids[i];

        if (pid > 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            tracked_pids[i] = 0;
        }
    }
}

void
bench_set_daemon_pid(pid_t pid)
{
    daemon_pid = pid;
}

/* Async-signal-safe. */
static void
kill_children(void)
{
    for (guint i = 0; i < MAX_TRACKED; i++) {
        if (tracked_pids[i] > 0)
            kill(tracked_pids[i], SIGKILL);
    }
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
}

static void
crash_handler(int sig)
{
    kill_children();
    if (sig == SIGABRT || sig == SIGTRAP) {
        /* podvm-test-daemon's handler then ends podvmd's QEMUs, and we die. */
        sigaction(sig, sig == SIGABRT ? &previous_abort_action : &previous_trap_action, NULL);
        raise(sig);
        return;
    }
    abort();
}

void
bench_install_crash_handlers(void)
{
    struct sigaction action = { 0 };
    const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };

    action.sa_handler = crash_handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGABRT, &action, &previous_abort_action);
    sigaction(SIGTRAP, &action, &previous_trap_action);
    for (guint i = 0; i < G_N_ELEMENTS(fatal); i++)
        sigaction(fatal[i], &action, NULL);
}

/* ---- samples -------------------------------------------------------------- */

double
bench_us_to_ms(gint64 us)
{
    return (double)us / 1000.0;
}

void
bench_record(GArray *samples, double value)
{
    g_array_append_val(samples, value);
}

static int
compare_doubles(gconstpointer a, gconstpointer b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

gboolean
bench_samples_stats(GArray *samples, double *out_median, double *out_min, double *out_max)
{
    g_autoptr(GArray) sorted = NULL;
    guint n = samples->len;

    if (n == 0)
        return FALSE;
    sorted = g_array_copy(samples);
    g_array_sort(sorted, compare_doubles);
    *out_median =
        n % 2 == 1
            ? g_array_index(sorted, double, n / 2)
            : (g_array_index(sorted, double, n / 2 - 1) + g_array_index(sorted, double, n / 2)) /
                  2.0;
    *out_min = g_array_index(sorted, double, 0);
    *out_max = g_array_index(sorted, double, n - 1);
    return TRUE;
}

const char *
bench_verdict(gboolean pass)
{
    return pass ? "PASS" : "MISS";
}

char *
bench_file_tail(const char *path, gsize max)
{
    g_autofree char *contents = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &contents, &length, NULL))
        return g_strdup("");
    return g_strstrip(g_strdup(length > max ? contents + length - max : contents));
}

/* ---- waiting -------------------------------------------------------------- */

static gboolean
tick_cb(gpointer user_data)
{
    return G_SOURCE_CONTINUE;
}

gboolean
bench_wait_until(gboolean (*condition)(gpointer user_data), gpointer user_data, guint poll_ms,
                 guint timeout_ms)
{
    guint tick = g_timeout_add(poll_ms, tick_cb, NULL);
    gboolean done = podvm_test_wait_until(condition, user_data, timeout_ms);

    g_source_remove(tick);
    return done;
}

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

gboolean
bench_qmp_run(PodvmQmpClient *qmp, const char *command, JsonNode *arguments, guint timeout_ms,
              GError **error)
{
    QmpCall call = { 0 };

    /* The client's own timeout ends the wait. */
    podvm_qmp_client_execute_async(qmp, command,
                                   arguments != NULL ? json_node_get_object(arguments) : NULL, NULL,
                                   timeout_ms, NULL, qmp_call_cb, &call);
    while (!call.done)
        g_main_context_iteration(NULL, TRUE);
    if (call.reply == NULL) {
        g_propagate_prefixed_error(error, call.error, "bare QEMU: %s: ", command);
        return FALSE;
    }
    json_node_unref(call.reply);
    return TRUE;
}

/* ---- bare QEMU ------------------------------------------------------------ */

static void
child_setup(gpointer user_data)
{
    /*
     * Its own session, as podvmd does (with autogroup scheduling, a session
     * is also a CPU share); and it dies with the benchmark, however that ends.
     */
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The argv podvmd would build for this spec, with QEMU binding the sockets by path. */
static GStrv
qemu_argv(BenchQemu *qemu, const char *spec_json, guint spare_root_ports, const GPtrArray *nics,
          GError **error)
{
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(spec_json, -1, NULL, error);
    PodvmQemuArgvContext ctx = { 0 };

    if (spec == NULL)
        return NULL;
    spec->uid = g_uuid_string_random();
    ctx.qemu_binary = podvm_test_qemu_binary();
    ctx.accel = PODVM_ACCEL_TCG;
    ctx.uid = spec->uid;
    ctx.qmp_socket = qemu->qmp_path;
    ctx.console_socket = qemu->console_path;
    ctx.console_log = qemu->console_log;
    ctx.guest_agent_socket = qemu->guest_agent_path;
    ctx.pidfile = NULL;
    ctx.qmp_listen_fd = -1;
    ctx.console_listen_fd = -1;
    ctx.host_cpus = g_get_num_processors();
    ctx.prepared_volumes = qemu->prepared_volumes;
    ctx.spare_root_ports = spare_root_ports;
    ctx.debug = FALSE;
    ctx.nics = nics;
    return podvm_qemu_argv_build(spec, &ctx, error);
}

gboolean
bench_qemu_spawn(BenchQemu *qemu, const char *dir, const char *spec_json, guint spare_root_ports,
                 gint64 *out_spawned_at, GError **error)
{
    return bench_qemu_spawn_with_nics(qemu, dir, spec_json, spare_root_ports, NULL, NULL, NULL, 0,
                                      out_spawned_at, error);
}

gboolean
bench_qemu_spawn_with_nics(BenchQemu *qemu, const char *dir, const char *spec_json,
                           guint spare_root_ports, const GPtrArray *nics, const int *source_fds,
                           const int *target_fds, gsize n_fds, gint64 *out_spawned_at,
                           GError **error)
{
    /* Like podvmd: a fixed environment, stdout and stderr to a log file. */
    const char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C", NULL };
    int log_fd;
    gboolean spawned;

    qemu->dir = g_strdup(dir);
    qemu->qmp_path = g_build_filename(qemu->dir, "qmp.sock", NULL);
    qemu->console_path = g_build_filename(qemu->dir, "console.sock", NULL);
    qemu->guest_agent_path = g_build_filename(qemu->dir, "qga.sock", NULL);
    qemu->console_log = g_build_filename(qemu->dir, "console.log", NULL);
    qemu->qemu_log = g_build_filename(qemu->dir, "qemu.log", NULL);
    if (g_mkdir_with_parents(qemu->dir, 0700) != 0) {
        int saved = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot create '%s': %s",
                    qemu->dir, g_strerror(saved));
        return FALSE;
    }
    qemu->argv = qemu_argv(qemu, spec_json, spare_root_ports, nics, error);
    if (qemu->argv == NULL)
        return FALSE;
    if (qemu->extra_args != NULL) {
        guint n = g_strv_length(qemu->argv);
        guint extra = g_strv_length((GStrv)qemu->extra_args);

        qemu->argv = g_renew(char *, qemu->argv, n + extra + 1);
        for (guint i = 0; i < extra; i++)
            qemu->argv[n + i] = g_strdup(qemu->extra_args[i]);
        qemu->argv[n + extra] = NULL;
    }
    log_fd = open(qemu->qemu_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        int saved = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot create '%s': %s",
                    qemu->qemu_log, g_strerror(saved));
        return FALSE;
    }
    if (out_spawned_at != NULL)
        *out_spawned_at = g_get_monotonic_time();
    spawned = g_spawn_async_with_pipes_and_fds(
        NULL, (const char *const *)qemu->argv, env,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH_FROM_ENVP, child_setup, NULL, -1, log_fd,
        log_fd, source_fds, target_fds, n_fds, &qemu->pid, NULL, NULL, NULL, error);
    close(log_fd);
    if (!spawned) {
        g_prefix_error(error, "cannot run QEMU '%s': ", qemu->argv[0]);
        return FALSE;
    }
    if (!bench_track_pid(qemu->pid)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, "too many QEMUs to track");
        return FALSE; /* bench_qemu_clear() kills it */
    }
    return TRUE;
}

void
bench_qemu_kill(BenchQemu *qemu)
{
    if (qemu->pid <= 0)
        return;
    kill(qemu->pid, SIGKILL);
    while (waitpid(qemu->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    bench_untrack_pid(qemu->pid);
    qemu->pid = 0;
}

void
bench_qemu_clear(BenchQemu *qemu)
{
    bench_qemu_kill(qemu);
    g_clear_pointer(&qemu->argv, g_strfreev);
    g_clear_pointer(&qemu->dir, g_free);
    g_clear_pointer(&qemu->qmp_path, g_free);
    g_clear_pointer(&qemu->console_path, g_free);
    g_clear_pointer(&qemu->guest_agent_path, g_free);
    g_clear_pointer(&qemu->console_log, g_free);
    g_clear_pointer(&qemu->qemu_log, g_free);
}

void
bench_compare_argv(PodvmTestDaemon *daemon, const char *pod_name, char **bare_argv,
                   gboolean verbose, const char *expected)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(daemon, pod_name);
    int pid = (int)json_object_get_int_member_with_default(status, "qemuPid", 0);
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
    g_autofree char *cmdline = NULL;
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    gsize length = 0;
    guint n_bare = g_strv_length(bare_argv);
    guint differ = 0;

    if (pid <= 0 || !g_file_get_contents(path, &cmdline, &length, NULL)) {
        g_printerr("argv check: cannot read podvmd's QEMU command line\n");
        return;
    }
    for (gsize i = 0; i < length; i += strlen(cmdline + i) + 1)
        g_ptr_array_add(args, cmdline + i);
    for (guint i = 0; i < MAX(args->len, n_bare); i++) {
        const char *ours = i < args->len ? g_ptr_array_index(args, i) : "(none)";
        const char *bare = i < n_bare ? bare_argv[i] : "(none)";

        if (g_strcmp0(ours, bare) == 0)
            continue;
        differ++;
        if (verbose)
            g_printerr("argv[%u]:\n  podvmd %s\n  bare   %s\n", i, ours, bare);
    }
    g_printerr("argv check: %u arguments (podvmd) and %u (bare); %u differ (expected %s)\n",
               args->len, n_bare, differ, expected);
}

/* ---- results -------------------------------------------------------------- */

void
bench_print_header(const char *title, const char *qemu_version)
{
    g_autofree char *load = NULL;

    g_file_get_contents("/proc/loadavg", &load, NULL, NULL);
    g_print("\n%s: QEMU %s, accel=tcg, %u CPUs, load %s\n", title,
            qemu_version != NULL ? qemu_version : "?", g_get_num_processors(),
            load != NULL ? g_strstrip(load) : "?");
}

void
bench_print_failure(PodvmTestDaemon *daemon, const GError *error)
{
    g_autofree char *tail = bench_file_tail(daemon->log_path, 3000);

    g_printerr("%s: %s\n---- podvmd log (end) ----\n%s\n--------------------------\n", program_name,
               error->message, tail);
}

void
bench_json_begin(JsonBuilder *builder, const char *qemu_version)
{
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "qemu");
    json_builder_add_string_value(builder, qemu_version != NULL ? qemu_version : "");
    json_builder_set_member_name(builder, "accel");
    json_builder_add_string_value(builder, "tcg");
    json_builder_set_member_name(builder, "cpus");
    json_builder_add_int_value(builder, g_get_num_processors());
}

void
bench_json_add_samples(JsonBuilder *builder, const char *key, const char *unit, GArray *samples,
                       gboolean with_min)
{
    double median, lo, hi;

    json_builder_set_member_name(builder, key);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "unit");
    json_builder_add_string_value(builder, unit);
    if (bench_samples_stats(samples, &median, &lo, &hi)) {
        json_builder_set_member_name(builder, "median");
        json_builder_add_double_value(builder, median);
        if (with_min) {
            json_builder_set_member_name(builder, "min");
            json_builder_add_double_value(builder, lo);
        }
    }
    json_builder_set_member_name(builder, "samples");
    json_builder_begin_array(builder);
    for (guint i = 0; i < samples->len; i++)
        json_builder_add_double_value(builder, g_array_index(samples, double, i));
    json_builder_end_array(builder);
    json_builder_end_object(builder);
}

void
bench_json_write(JsonBuilder *builder, const char *path)
{
    g_autoptr(JsonGenerator) generator = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;

    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    json_generator_set_root(generator, root);
    json_generator_set_pretty(generator, TRUE);
    if (!json_generator_to_file(generator, path, &error))
        g_printerr("%s: cannot write '%s': %s\n", program_name, path, error->message);
    else
        g_print("\nresults: %s\n", path);
}
