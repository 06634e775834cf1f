/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

#include "podvm-qmp-client.h"
#include "podvm-test-daemon.h"

G_BEGIN_DECLS

/*
 * What the benchmarks (bench-core, bench-disk, bench-rest) share: cleanup
 * on every way out, sample statistics, main-loop waits, the bare QEMU's
 * start and QMP calls, and the common parts of the printed and JSON results.
 */

/*
 * Names the program in messages ("bench-core: ...") and installs
 * bench_log_writer(); FALSE after "SKIP: <reason>" on stdout when the
 * benchmark cannot run here (no PODVMD, QEMU or test guest: exit 77).
 */
gboolean bench_init(const char *name);

/* Whether PODVM_BENCH_QUICK=1 (fewer runs). */
gboolean bench_quick(void);

/* Whether PODVM_BENCH_VERBOSE=1. */
gboolean bench_verbose(void);

/* Drops library messages, info and debug unless bench_verbose(); the default writer otherwise. */
GLogWriterOutput bench_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                  gpointer user_data);

/* $@name as a number up to 100000, or @fallback when unset, empty or not a number (said on stderr).
 */
guint bench_env_uint(const char *name, guint fallback);

/* SIGINT, SIGTERM and SIGHUP set the flag bench_interrupted() reads (through the main loop). */
void bench_catch_interrupts(void);

/* Whether one of the signals of bench_catch_interrupts() has come. */
gboolean bench_interrupted(void);

/* FALSE with G_IO_ERROR_CANCELLED once bench_interrupted(); TRUE otherwise. */
gboolean bench_check_interrupted(GError **error);

/* Adds a child to SIGKILL on a crash; FALSE when too many are tracked already. */
gboolean bench_track_pid(pid_t pid);

/* Forgets a child bench_track_pid() added (one that was reaped). */
void bench_untrack_pid(pid_t pid);

/* SIGKILLs and reaps every child still tracked, and forgets them. */
void bench_reap_tracked(void);

/* podvmd's pid, SIGKILLed on a crash too (0: none, before podvm_test_daemon_free()). */
void bench_set_daemon_pid(pid_t pid);

/*
 * On SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT and SIGTRAP: SIGKILLs the
 * tracked children and podvmd, then (abort, trap) runs the handler that was
 * there before, i.e. podvm-test-daemon's: install after podvm_test_daemon_new().
 */
void bench_install_crash_handlers(void);

/* Microseconds to milliseconds. */
double bench_us_to_ms(gint64 us);

/* Appends @value to @samples (a GArray of double). */
void bench_record(GArray *samples, double value);

/* The median, minimum and maximum of @samples (double); FALSE when there is none. */
gboolean bench_samples_stats(GArray *samples, double *out_median, double *out_min, double *out_max);

/* "PASS" or "MISS". */
const char *bench_verdict(gboolean pass);

/* The last @max bytes of the file at @path, stripped; "" when it cannot be read. */
char *bench_file_tail(const char *path, gsize max);

/* podvm_test_wait_until(), checking @condition at least every @poll_ms. */
gboolean bench_wait_until(gboolean (*condition)(gpointer user_data), gpointer user_data,
                          guint poll_ms, guint timeout_ms);

/* Runs one QMP command (@arguments an object or NULL) and waits for its reply, or the timeout. */
gboolean bench_qmp_run(PodvmQmpClient *qmp, const char *command, JsonNode *arguments,
                       guint timeout_ms, GError **error);

/* A bare QEMU: the files it uses and the process. */
typedef struct {
    char *dir; /* the sockets and the logs */
    char *qmp_path;
    char *console_path;
    char *guest_agent_path; /* the guest agent channel QEMU binds (unused by the benches) */
    char *console_log;
    char *qemu_log; /* its stdout and stderr */
    GStrv argv;
    GPid pid; /* 0 once reaped */
    /* Appended to podvmd's argv (e.g. "-incoming", "defer"); NULL: none. The caller's. */
    const char *const *extra_args;
    /* The volumes the spec's disks use (PodvmPreparedVolume*); NULL: none. The caller's. */
    const GPtrArray *prepared_volumes;
} BenchQemu;

/*
 * Spawns QEMU in @dir (created) with the argv podvmd builds for @spec_json
 * (accel=tcg, @spare_root_ports, QEMU binding its sockets by path), like
 * podvmd: a fixed environment, its own session, output to qemu_log; it
 * dies with the benchmark (PR_SET_PDEATHSIG) and is tracked. The monotonic
 * time just before the spawn goes to @out_spawned_at (may be NULL). On
 * failure, what is filled in is left for bench_qemu_clear().
 */
gboolean bench_qemu_spawn(BenchQemu *qemu, const char *dir, const char *spec_json,
                          guint spare_root_ports, gint64 *out_spawned_at, GError **error);

/*
 * The same with NICs (PodvmQemuNic*, as podvmd's argv has them; NULL for
 * none) and @n_fds fds the QEMU gets: @source_fds[i] (still the caller's)
 * as @target_fds[i], the numbers the NICs' tap_fds name.
 */
gboolean bench_qemu_spawn_with_nics(BenchQemu *qemu, const char *dir, const char *spec_json,
                                    guint spare_root_ports, const GPtrArray *nics,
                                    const int *source_fds, const int *target_fds, gsize n_fds,
                                    gint64 *out_spawned_at, GError **error);

/* SIGKILLs and reaps the QEMU, if it still runs. */
void bench_qemu_kill(BenchQemu *qemu);

/* bench_qemu_kill(), then frees what @qemu holds (not @qemu itself). */
void bench_qemu_clear(BenchQemu *qemu);

/*
 * Prints on stderr how many arguments of podvmd's QEMU for @pod_name differ
 * from @bare_argv (each one when @verbose), and the @expected count.
 */
void bench_compare_argv(PodvmTestDaemon *daemon, const char *pod_name, char **bare_argv,
                        gboolean verbose, const char *expected);

/* "\n@title: QEMU version, accel=tcg, N CPUs, load ..." */
void bench_print_header(const char *title, const char *qemu_version);

/* Prints @error with the end of podvmd's log on stderr. */
void bench_print_failure(PodvmTestDaemon *daemon, const GError *error);

/* Opens the results object with "qemu", "accel" and "cpus". */
void bench_json_begin(JsonBuilder *builder, const char *qemu_version);

/* Adds @key: {"unit", "median", "min" (with @with_min), "samples"} for @samples. */
void bench_json_add_samples(JsonBuilder *builder, const char *key, const char *unit,
                            GArray *samples, gboolean with_min);

/* Closes the results object and writes it to @path, saying where (or why not). */
void bench_json_write(JsonBuilder *builder, const char *path);

G_END_DECLS
