/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-dbus-generated.h"

G_BEGIN_DECLS

/*
 * A real podvmd for end-to-end tests: a private bus (GTestDBus), temporary
 * state and run directories, accel=tcg. QEMU processes outlive podvmd by
 * design, so podvm_test_daemon_free() kills every QEMU the pods started.
 */
typedef struct {
    GTestDBus *bus;
    char *tmpdir;
    char *state_dir;
    char *run_dir;
    char *log_path;
    GSubprocess *process;
    GDBusConnection *connection;
    PodvmDBusManager *manager;
    char *config_path; /* podvmd --config, or NULL */
    char **env;        /* extra environment of podvmd (podvm_test_daemon_setenv) */
    char *netns_path;  /* podvmd runs in this network namespace, or NULL: the test's own */
    int netns_fd;
} PodvmTestDaemon;

/* NULL (after g_test_skip) when podvmd cannot be run here. */
PodvmTestDaemon *podvm_test_daemon_new(void);
/*
 * The same, with @conf_text (a podvmd.conf) written to TMPDIR/podvmd.conf
 * and passed as --config.
 */
PodvmTestDaemon *podvm_test_daemon_new_with_config(const char *conf_text);
/*
 * The same, with podvmd (and so its pods' QEMUs, CNI plugins) started in
 * the network namespace bound at @netns_path (a "host" of the two-host
 * tests, podvm-test-hosts.h). Its bus is a socket path, reachable from
 * there.
 */
PodvmTestDaemon *podvm_test_daemon_new_in_netns(const char *conf_text, const char *netns_path);
void podvm_test_daemon_free(PodvmTestDaemon *daemon);

/* Starts (or restarts) podvmd and waits until it answers on the bus. */
void podvm_test_daemon_start(PodvmTestDaemon *daemon);
/* SIGKILL to podvmd (pods keep running). */
void podvm_test_daemon_kill9(PodvmTestDaemon *daemon);
/* SIGTERM to podvmd: it ends, the pods keep running. */
void podvm_test_daemon_stop(PodvmTestDaemon *daemon);
/*
 * Sets @name=@value (or unsets it, with NULL) in podvmd's environment from
 * its next start on: PODVM_TEST_CRASH_AT and friends (src/common/podvm-fault.h).
 */
void podvm_test_daemon_setenv(PodvmTestDaemon *daemon, const char *name, const char *value);
/*
 * Waits up to @timeout_ms for podvmd to end by itself; TRUE if SIGKILL ended
 * it. Once it has ended (killed or not) the process is reaped and forgotten:
 * podvm_test_daemon_running() says FALSE.
 */
gboolean podvm_test_daemon_wait_killed(PodvmTestDaemon *daemon, guint timeout_ms);
/* Whether the podvmd this fixture started has not been seen to end. */
gboolean podvm_test_daemon_running(PodvmTestDaemon *daemon);

/*
 * Runs podvmd (--session, in temporary directories) with @conf_text as its
 * podvmd.conf, for a configuration it must refuse: its exit status (128+N
 * for signal N) and stderr. Call it when PODVMD is set.
 */
int podvm_test_run_podvmd(const char *conf_text, char **out_stderr);

/* A pod spec for the test guest; @extra_args go on the kernel command line. */
char *podvm_test_guest_spec(const char *name, const char *extra_args, const char *restart_policy,
                            int grace_seconds);
/*
 * The same (no restart policy, a 2 s grace) with spec.domain.devices.@devices_member
 * and spec.@spec_member set to the JSON arrays @devices_json and @spec_json
 * (given as text): "disks" and "volumes", or "interfaces" and "networks".
 */
char *podvm_test_guest_spec_with(const char *name, const char *extra_args,
                                 const char *devices_member, const char *devices_json,
                                 const char *spec_member, const char *spec_json);

/* A proxy for the pod; asserts it exists. */
PodvmDBusPod *podvm_test_daemon_pod(PodvmTestDaemon *daemon, const char *name);
/* Phase read from the daemon (not a cached property). */
char *podvm_test_daemon_phase(PodvmTestDaemon *daemon, const char *name);
/* Status JSON read from the daemon. */
JsonObject *podvm_test_daemon_status(PodvmTestDaemon *daemon, const char *name);
gboolean podvm_test_daemon_wait_phase(PodvmTestDaemon *daemon, const char *name, const char *phase,
                                      guint timeout_ms);
/* Path of the pod's console log. */
char *podvm_test_daemon_console_log(PodvmTestDaemon *daemon, const char *name);

/* Runs podvmctl --session ARGS...; returns its exit status. */
int podvm_test_ctl(PodvmTestDaemon *daemon, char **out_stdout, char **out_stderr,
                   const char *first_arg, ...) G_GNUC_NULL_TERMINATED;

/*
 * A daemon for storage tests: skips (returns NULL) without qemu-img;
 * @out_images gets a fresh directory listed in [storage]
 * allowed_host_paths (the caller removes it with podvm_test_rmrf()).
 */
PodvmTestDaemon *podvm_test_daemon_new_for_storage(char **out_images);
/* A file @dir/@name of @size bytes (sparse), starting with @word (may be NULL). */
char *podvm_test_make_raw_image(const char *dir, const char *name, gsize size, const char *word);

/*
 * What the test guest (tests/guest/init) reports on its console:
 * the last complete "PODVM-DISKS name:bytes[:label] ..." line, or NULL;
 * the guest's name ("vdb") of its disk of @size bytes, or NULL (@out_label:
 * the ISO label, if any); waiting (30 s) until such a disk is there, or gone.
 */
char *podvm_test_guest_disks(PodvmTestDaemon *daemon, const char *pod);
char *podvm_test_guest_disk_of_size(PodvmTestDaemon *daemon, const char *pod, guint64 size,
                                    char **out_label);
gboolean podvm_test_wait_guest_disk(PodvmTestDaemon *daemon, const char *pod, guint64 size,
                                    gboolean present);
/* Types @line (a newline is added) on the pod's serial console. */
void podvm_test_console_type(PodvmTestDaemon *daemon, const char *pod, const char *line);
/* What the guest reads at the start of @dev ("podvm-read DEV"; "-" for nothing). */
char *podvm_test_guest_read(PodvmTestDaemon *daemon, const char *pod, const char *dev);

G_END_DECLS
