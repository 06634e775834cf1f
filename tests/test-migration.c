/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration end to end between two podvmd "hosts" (podvm-test-hosts.h):
 * each in a network namespace of its own inside the test's, joined by a
 * veth pair, each with its own podvmd, REST listener (TLS, token) and
 * [peer] naming the other.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-hosts.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

/* ---- the fixture itself ------------------------------------------------------------------ */

/* The namespace inode of @pid's network namespace and of the file @path. */
static guint64
netns_inode_of_pid(int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/ns/net", pid);
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return (guint64)st.st_ino;
}

static guint64
netns_inode_of_path(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return (guint64)st.st_ino;
}

static void
check_host_answers(PodvmTestHost *from, PodvmTestHost *target)
{
    g_autofree char *body = NULL, *wrong_body = NULL, *none_body = NULL;
    g_autofree char *wrong = g_strdup_printf("%s-not", target->token);

    g_assert_cmpuint(
        podvm_test_host_rest(from, target, "GET", "/healthz", target->token, NULL, &body), ==, 200);
    g_clear_pointer(&body, g_free);
    g_assert_cmpuint(
        podvm_test_host_rest(from, target, "GET", "/v1/pods", target->token, NULL, &body), ==, 200);
    g_assert_nonnull(strstr(body, "["));
    /* The other host's token is not this one's. */
    g_assert_cmpuint(
        podvm_test_host_rest(from, target, "GET", "/v1/pods", from->token, NULL, &wrong_body), ==,
        401);
    g_clear_pointer(&wrong_body, g_free);
    g_assert_cmpuint(
        podvm_test_host_rest(from, target, "GET", "/v1/pods", wrong, NULL, &wrong_body), ==, 401);
    g_assert_cmpuint(podvm_test_host_rest(from, target, "GET", "/v1/pods", NULL, NULL, &none_body),
                     ==, 401);
}

/*
 * Both podvmds run, each in its host's namespace, and answer on their TCP
 * listener with TLS (the certificate checked against the host's CA, for
 * its address) from the other host's namespace, with the token; a wrong
 * or missing token gets 401. The hosts' addresses are not in the test's
 * own namespace.
 */
static void
test_hosts_smoke(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    PodvmTestHost *both[2];

    if (hosts == NULL)
        return;
    both[0] = hosts->a;
    both[1] = hosts->b;
    for (guint i = 0; i < 2; i++) {
        PodvmTestHost *host = both[i];
        g_autofree char *pods = NULL;
        g_autoptr(GError) error = NULL;
        int pid = atoi(g_subprocess_get_identifier(host->daemon->process));

        podvm_dbus_manager_call_list_pods_sync(host->daemon->manager, &pods, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(pods, ==, "[]");
        g_assert_cmpuint(netns_inode_of_pid(pid), ==, netns_inode_of_path(host->netns_path));
    }
    check_host_answers(hosts->b, hosts->a);
    check_host_answers(hosts->a, hosts->b);
    {
        /* The link carries them; cut, nothing answers; up again, it does. */
        g_autofree char *body = NULL;

        podvm_test_hosts_set_link(hosts, FALSE);
        g_assert_cmpuint(podvm_test_host_rest(hosts->b, hosts->a, "GET", "/healthz",
                                              hosts->a->token, NULL, &body),
                         ==, 0);
        podvm_test_hosts_set_link(hosts, TRUE);
        g_clear_pointer(&body, g_free);
        g_assert_cmpuint(podvm_test_host_rest(hosts->b, hosts->a, "GET", "/healthz",
                                              hosts->a->token, NULL, &body),
                         ==, 200);
    }
    {
        /* Not from the test's own namespace: the hosts' link is theirs. */
        g_autofree char *addresses = podvm_test_netns_run_output("ip", "-o", "addr", NULL);

        g_assert_null(strstr(addresses, "198.51.100."));
    }
    {
        /* kill -9 and a restart: the listener comes back. */
        g_autofree char *body = NULL;

        podvm_test_host_kill9(hosts->a);
        podvm_test_host_restart(hosts->a);
        g_assert_cmpuint(podvm_test_host_rest(hosts->b, hosts->a, "GET", "/healthz",
                                              hosts->a->token, NULL, &body),
                         ==, 200);
    }
}

/*
 * A masquerade pod of the same name on each host: each host's own CNI
 * network gives it an address, its page is served there from inside that
 * host, not from the test's namespace, and the guests' emptyDisk is there.
 */
static void
test_hosts_pods(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_autofree char *spec = NULL;
    PodvmTestHost *both[2];

    if (hosts == NULL)
        return;
    both[0] = hosts->a;
    both[1] = hosts->b;
    spec = podvm_test_hosts_spec("web", NULL, "16Mi");
    for (guint i = 0; i < 2; i++) {
        podvm_test_host_create_pod(both[i], spec);
        podvm_test_host_start_pod(both[i], "web");
    }
    for (guint i = 0; i < 2; i++) {
        g_autofree char *ip = NULL, *body = NULL, *url = NULL, *outside = NULL;

        podvm_test_host_wait_phase(both[i], "web", "Running", 60000);
        podvm_test_host_wait_console(both[i], "web", "PODVM-NET eth0 up 10.0.2.2/24",
                                     PODVM_TEST_NET_BOOT_TIMEOUT_MS);
        ip = podvm_test_host_pod_ip(both[i], "web");
        g_assert_nonnull(ip);
        g_assert_true(g_str_has_prefix(ip, "10.66."));
        body = podvm_test_host_http_get(both[i], ip, PODVM_TEST_NET_TIMEOUT_MS);
        g_assert_nonnull(body);
        g_assert_nonnull(strstr(body, "PODVM-PAGE"));
        /* Not from the test's own namespace: the pod network is the host's. */
        url = g_strdup_printf("http://%s:80/", ip);
        outside = podvm_test_net_http_get(url, 2);
        g_assert_null(outside);
    }
}

/* ---- live migration ------------------------------------------------------------------- */

#define MIGRATE_TIMEOUT_MS 150000
#define DISK "64Mi"

/*
 * A running pod with a local emptyDisk and a masquerade NIC moves from A
 * to B (D-Bus Pod.Migrate to the peer "host-b"), then back to A (REST
 * POST /v1/pods/NAME/migrate on B's TCP listener, to "host-a").
 */
static void
test_live_there_and_back(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL, *result = NULL, *body = NULL;
    g_autoptr(GError) error = NULL;
    int console;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, NULL);
    podvm_test_witness_read(hosts->a, "mig", &before);
    podvm_test_hosts_assert_one_qemu(hosts, hosts->a, before.uid);

    console = podvm_test_host_console_open(hosts->a, "mig");
    result = podvm_test_host_migrate(hosts->a, "mig", "{\"target\": \"host-b\"}",
                                     MIGRATE_TIMEOUT_MS, &error);
    if (podvm_test_migrate_unavailable(error)) {
        close(console);
        return;
    }
    g_assert_no_error(error);
    podvm_test_check_migrate_result(result, "mig");
    podvm_test_hosts_check_moved(hosts, hosts->a, hosts->b, "mig", &before, console, "Running");
    close(console);

    /* And back, through REST on B's TCP listener. */
    console = podvm_test_host_console_open(hosts->b, "mig");
    g_assert_cmpuint(podvm_test_host_rest(hosts->b, hosts->b, "POST", "/v1/pods/mig/migrate",
                                          hosts->b->token, "{\"target\": \"host-a\"}", &body),
                     ==, 200);
    podvm_test_check_migrate_result(body, "mig");
    podvm_test_hosts_check_moved(hosts, hosts->b, hosts->a, "mig", &before, console, "Running");
    close(console);
}

/* podvmctl migrate POD --to NAME: the same move from the command line. */
static void
test_live_podvmctl(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL, *out = NULL, *err = NULL;
    int console, status;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, NULL);
    podvm_test_witness_read(hosts->a, "mig", &before);
    console = podvm_test_host_console_open(hosts->a, "mig");
    status = podvm_test_ctl(hosts->a->daemon, &out, &err, "migrate", "mig", "--to", "host-b", NULL);
    if (status != 0 &&
        (strstr(err, "nknown command") != NULL || strstr(err, "not available") != NULL ||
         strstr(err, "not yet supported") != NULL)) {
        g_autofree char *why = g_strdup_printf("podvmctl cannot migrate: %s", err);

        g_test_skip(why);
        close(console);
        return;
    }
    if (status != 0)
        g_error("podvmctl migrate: exit %d: %s%s", status, out, err);
    podvm_test_hosts_check_moved(hosts, hosts->a, hosts->b, "mig", &before, console, "Running");
    close(console);
}

/* A paused pod moves paused, and runs on where it was once resumed there. */
static void
test_live_paused(void)
{
    g_autoptr(PodvmTestHosts) hosts = podvm_test_hosts_new(NULL);
    g_auto(PodvmTestWitness) before = { 0 };
    g_autofree char *boot_id = NULL, *result = NULL, *log = NULL;
    g_autoptr(GError) error = NULL;
    guint beats;
    int console;

    if (hosts == NULL || !podvm_test_hosts_require_counter())
        return;
    boot_id = podvm_test_host_start_witness(hosts->a, "mig", DISK, NULL);
    podvm_test_witness_read(hosts->a, "mig", &before);
    {
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(hosts->a->daemon, "mig");

        podvm_dbus_pod_call_pause_sync(pod, NULL, &error);
        g_assert_no_error(error);
    }
    podvm_test_host_wait_phase(hosts->a, "mig", "Paused", 10000);
    console = podvm_test_host_console_open(hosts->a, "mig");
    result = podvm_test_host_migrate(hosts->a, "mig", "{\"target\": \"host-b\"}",
                                     MIGRATE_TIMEOUT_MS, &error);
    if (podvm_test_migrate_unavailable(error)) {
        close(console);
        return;
    }
    g_assert_no_error(error);
    podvm_test_check_migrate_result(result, "mig");
    podvm_test_hosts_check_moved(hosts, hosts->a, hosts->b, "mig", &before, console, "Paused");
    close(console);
    /* Paused there: no heartbeat for two seconds. */
    log = podvm_test_daemon_console_log(hosts->b->daemon, "mig");
    beats = podvm_test_count_in_file(log, "PODVM-HEARTBEAT ");
    g_usleep(2 * G_USEC_PER_SEC);
    g_assert_cmpuint(podvm_test_count_in_file(log, "PODVM-HEARTBEAT "), ==, beats);
    podvm_test_host_wait_phase(hosts->b, "mig", "Paused", 1000);
    {
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(hosts->b->daemon, "mig");
        g_autofree char *after_boot = NULL;

        podvm_dbus_pod_call_resume_sync(pod, NULL, &error);
        g_assert_no_error(error);
        podvm_test_host_wait_phase(hosts->b, "mig", "Running", 10000);
        podvm_test_host_wait_heartbeat(hosts->b, "mig", 0, &after_boot, 30000);
        g_assert_cmpstr(after_boot, ==, before.boot_id);
    }
}

int
main(int argc, char **argv)
{
    /* First, before any thread: the namespace of the test's own. */
    podvm_test_netns_enter(&podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/hosts/smoke", test_hosts_smoke);
    g_test_add_func("/migration/hosts/pods", test_hosts_pods);
    g_test_add_func("/migration/live/there-and-back", test_live_there_and_back);
    g_test_add_func("/migration/live/podvmctl", test_live_podvmctl);
    g_test_add_func("/migration/live/paused", test_live_paused);
    return g_test_run();
}
