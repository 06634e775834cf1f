/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Two podvmd "hosts" for the live-migration tests (suite migration), made
 * inside the test program's own network and mount namespace
 * (podvm_test_netns_enter() first in main):
 *
 *   host A: namespace DIR/a/netns, PODVM_TEST_HOSTS_LINK 198.51.100.1/24
 *   host B: namespace DIR/b/netns, PODVM_TEST_HOSTS_LINK 198.51.100.2/24
 *
 * joined by a veth pair, loopback up in each. Each host runs its own
 * podvmd in its namespace (own bus, state and run directories, CNI
 * directory with the test networks of podvm-test-net.h, so its own podvm0
 * bridge), with a REST TCP listener on ADDRESS:PODVM_TEST_HOSTS_PORT, TLS
 * (a CA of the host's own and a server certificate for its address) and a
 * bearer token, and a [peer NAME] group naming the other host ("host-b" on
 * A, "host-a" on B). Nothing leaves the test's namespace.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-test-daemon.h"

G_BEGIN_DECLS

#define PODVM_TEST_HOST_A_ADDRESS "198.51.100.1"
#define PODVM_TEST_HOST_B_ADDRESS "198.51.100.2"
#define PODVM_TEST_HOSTS_PORT 8443
#define PODVM_TEST_HOSTS_LINK "hostlink0"

typedef struct {
    char *name;      /* "host-a": what the other host's [peer] calls it */
    char *peer_name; /* the other host's name, as this one's [peer] group says */
    char *address;   /* 198.51.100.X */
    char *url;       /* https://ADDRESS:PORT */
    char *dir;       /* the host's files: netns, token, certificates, CNI */
    char *netns_path;
    int netns_fd;
    char *token; /* this podvmd's bearer token, and its file */
    char *token_path;
    char *cacert_path; /* the CA that signed this podvmd's certificate */
    char *cni_dir;
    char *conf; /* what goes into podvmd.conf (after [qemu] kernel_dirs) */
    PodvmTestDaemon *daemon;
} PodvmTestHost;

typedef struct {
    char *dir;
    PodvmTestHost *a;
    PodvmTestHost *b;
} PodvmTestHosts;

/*
 * Both hosts, their podvmds started; @extra_conf (may be NULL) is added to
 * both podvmd.conf files ([migration] settings). NULL after g_test_skip()
 * when this cannot run here (no namespace of the test's own, no CNI
 * plugins, no openssl or curl, no guest).
 */
PodvmTestHosts *podvm_test_hosts_new(const char *extra_conf);
/* Deletes the pods both hosts have, ends both podvmds, removes the namespaces. */
void podvm_test_hosts_free(PodvmTestHosts *hosts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmTestHosts, podvm_test_hosts_free)

/* Fails the test (g_error) with the message, after printing both podvmds' logs. */
G_NORETURN void podvm_test_hosts_fail(const char *format, ...) G_GNUC_PRINTF(1, 2);

/*
 * Runs @argv (NULL-terminated, found on PATH) inside @host's network
 * namespace; TRUE when it exits 0. Its stdout in @out_stdout (may be NULL);
 * its stderr in the error when it fails.
 */
gboolean podvm_test_host_run(PodvmTestHost *host, const char *const *argv, char **out_stdout,
                             GError **error);

/*
 * An HTTPS request to @target's REST listener made from inside @from's
 * namespace with curl (@from may be @target): @method @path with
 * @token (NULL: no Authorization header) and @body (NULL: none), verifying
 * @target's certificate with its CA. Returns the HTTP status (0 when no
 * answer came); the body in @out_body.
 */
guint podvm_test_host_rest(PodvmTestHost *from, PodvmTestHost *target, const char *method,
                           const char *path, const char *token, const char *body, char **out_body);

/* The veth between the hosts: down (on both ends: no carrier) or up again. */
void podvm_test_hosts_set_link(PodvmTestHosts *hosts, gboolean up);

/* kill -9 of the host's podvmd (its pods' QEMUs run on); start again (waits for its listener). */
void podvm_test_host_kill9(PodvmTestHost *host);
void podvm_test_host_restart(PodvmTestHost *host);
/* Waits (20 s) until the host's podvmd answers on its TCP listener. */
void podvm_test_host_wait_listening(PodvmTestHost *host);

/*
 * The test guest with a masquerade interface "default" declaring port 80 on
 * the pod network, @kernel_args, and, unless @disk_capacity is NULL, an
 * emptyDisk "data" of that capacity on a virtio disk (the guest's vdb).
 */
char *podvm_test_hosts_spec(const char *name, const char *kernel_args, const char *disk_capacity);

/* Creates a pod from @spec on @host (deleted at the end, like all pods there); starts it. */
void podvm_test_host_create_pod(PodvmTestHost *host, const char *spec);
void podvm_test_host_start_pod(PodvmTestHost *host, const char *name);
/* Whether @host has the pod @name (GetPod answers). */
gboolean podvm_test_host_has_pod(PodvmTestHost *host, const char *name);
/* Waits up to @timeout_ms for the pod's phase; fails the test with what it was. */
void podvm_test_host_wait_phase(PodvmTestHost *host, const char *name, const char *phase,
                                guint timeout_ms);
/* Waits up to @timeout_ms for the pod to be gone from @host. */
gboolean podvm_test_host_wait_no_pod(PodvmTestHost *host, const char *name, guint timeout_ms);

/* The pod's console log so far (empty when none), and waits for @needle on it. */
char *podvm_test_host_console(PodvmTestHost *host, const char *name);
void podvm_test_host_wait_console(PodvmTestHost *host, const char *name, const char *needle,
                                  guint timeout_ms);

/*
 * The test guest's heartbeat ("PODVM-HEARTBEAT BOOTID N", podvm.counter):
 * the last complete one in @text. FALSE when there is none.
 */
gboolean podvm_test_heartbeat_last(const char *text, char **out_boot_id, guint64 *out_n);
/* The first complete one in @text. */
gboolean podvm_test_heartbeat_first(const char *text, char **out_boot_id, guint64 *out_n);
/* Waits until the pod's console on @host shows a heartbeat with N > @after; returns it. */
guint64 podvm_test_host_wait_heartbeat(PodvmTestHost *host, const char *name, guint64 after,
                                       char **out_boot_id, guint timeout_ms);

/*
 * The pids of the QEMU processes whose command line has "-uuid @uid",
 * anywhere on the machine; and whether @pid belongs to @host (holds a
 * file under its podvmd's directory: the pod's console log).
 */
GArray *podvm_test_qemu_pids_with_uuid(const char *uid);
gboolean podvm_test_host_owns_pid(PodvmTestHost *host, int pid);

/*
 * Pod.Migrate on @host's D-Bus with @options_json ({"target": ...}):
 * returns the result JSON or NULL with @error. Runs the main loop while it
 * waits (up to @timeout_ms). The _begin variant returns at once; finish
 * it with podvm_test_host_migrate_end().
 */
char *podvm_test_host_migrate(PodvmTestHost *host, const char *name, const char *options_json,
                              guint timeout_ms, GError **error);
typedef struct _PodvmTestMigrateCall PodvmTestMigrateCall;
PodvmTestMigrateCall *podvm_test_host_migrate_begin(PodvmTestHost *host, const char *name,
                                                    const char *options_json, guint timeout_ms);
gboolean podvm_test_migrate_call_done(PodvmTestMigrateCall *call);
char *podvm_test_host_migrate_end(PodvmTestMigrateCall *call, GError **error);

/* status.migrationState of the pod on @host (a new reference), or NULL. */
JsonObject *podvm_test_host_migration_state(PodvmTestHost *host, const char *name);

/* ---- the live-migration witness: the test guest with podvm.counter -------------------- */

#define PODVM_TEST_HOSTS_BOOT_TIMEOUT_MS 90000
/* The counter on the last virtio disk: the pod's emptyDisk. */
#define PODVM_TEST_HOSTS_COUNTER_ARGS "podvm.counter=1"

/* Whether the test guest knows podvm.counter (else skipped with the reason). */
gboolean podvm_test_hosts_require_counter(void);
/*
 * Creates and starts on @host the masquerade test guest with an emptyDisk
 * of @disk_capacity and the counter (+ @extra_args), waits until it runs,
 * has its address and beats; returns its boot id.
 */
char *podvm_test_host_start_witness(PodvmTestHost *host, const char *name,
                                    const char *disk_capacity, const char *extra_args);
/* The pod's uid (the Uid property). */
char *podvm_test_host_pod_uid(PodvmTestHost *host, const char *name);
/* The counter on the guest's disk now ("podvm-counter" typed on its console). */
guint64 podvm_test_host_counter(PodvmTestHost *host, const char *name);
/* An fd on the pod's console log (read after the pod is gone), and all it holds. */
int podvm_test_host_console_open(PodvmTestHost *host, const char *name);
char *podvm_test_fd_read_all(int fd);

/*
 * Nothing of the pod @name (uid @uid) on @host: no pod, no QEMU of it, no
 * namespace, no run or state directory (so no disk image), within @timeout_ms.
 */
void podvm_test_host_assert_pod_gone(PodvmTestHost *host, const char *name, const char *uid,
                                     guint timeout_ms);
/* Exactly one QEMU with "-uuid @uid" on the machine, and it is @host's: its pid. */
int podvm_test_hosts_assert_one_qemu(PodvmTestHosts *hosts, PodvmTestHost *host, const char *uid);

/* The guest's page (port 80) at @address, fetched from inside @host (curl), retried; or NULL. */
char *podvm_test_host_http_get(PodvmTestHost *host, const char *address, guint timeout_ms);
/* status.podIP of the pod on @host. */
char *podvm_test_host_pod_ip(PodvmTestHost *host, const char *name);

/* What must not change when a pod moves. */
typedef struct {
    char *uid;
    char *mac;      /* status.interfaces[0].mac */
    char *guest_ip; /* status.interfaces[0].ipAddress */
    char *boot_id;  /* the heartbeat's */
} PodvmTestWitness;

void podvm_test_witness_read(PodvmTestHost *host, const char *name, PodvmTestWitness *w);
void podvm_test_witness_clear(PodvmTestWitness *w);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PodvmTestWitness, podvm_test_witness_clear)

/*
 * The pod @name moved from @from to @to, where it is @phase: one QEMU
 * (@to's), nothing left on @from, the same guest (boot id, MAC, address),
 * the counter on disk continuous across the hosts; a running guest beats
 * on and its page is served at @to's pod address. @from_console is an fd
 * on @from's console log opened before the migration.
 */
void podvm_test_hosts_check_moved(PodvmTestHosts *hosts, PodvmTestHost *from, PodvmTestHost *to,
                                  const char *name, const PodvmTestWitness *before,
                                  int from_console, const char *phase);
/* A migration's result JSON names the pod, its target and the times (logged). */
void podvm_test_check_migrate_result(const char *result_json, const char *name);

/*
 * A Pod.Migrate (or REST) error that says this podvmd cannot migrate at all
 * (no such method, not supported): the test skips with that. TRUE after
 * g_test_skip().
 */
gboolean podvm_test_migrate_unavailable(const GError *error);

G_END_DECLS
