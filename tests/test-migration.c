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

/* A guest's page at its pod's address, fetched from inside @host (curl), retried. */
static char *
host_http_get(PodvmTestHost *host, const char *address, guint timeout_ms)
{
    g_autofree char *url = g_strdup_printf("http://%s:80/", address);
    const char *argv[] = { "curl", "-sS", "--fail", "--max-time", "3", url, NULL };
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        char *out = NULL;

        if (podvm_test_host_run(host, argv, &out, NULL))
            return out;
        if (g_get_monotonic_time() > deadline)
            return NULL;
        g_usleep(500000);
    }
}

static char *
pod_ip(PodvmTestHost *host, const char *name)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(host->daemon, name);

    return g_strdup(json_object_get_string_member_with_default(status, "podIP", NULL));
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
        ip = pod_ip(both[i], "web");
        g_assert_nonnull(ip);
        g_assert_true(g_str_has_prefix(ip, "10.66."));
        body = host_http_get(both[i], ip, PODVM_TEST_NET_TIMEOUT_MS);
        g_assert_nonnull(body);
        g_assert_nonnull(strstr(body, "PODVM-PAGE"));
        /* Not from the test's own namespace: the pod network is the host's. */
        url = g_strdup_printf("http://%s:80/", ip);
        outside = podvm_test_net_http_get(url, 2);
        g_assert_null(outside);
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
    return g_test_run();
}
