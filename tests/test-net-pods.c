/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pod networking end to end, each run in a network and mount namespace of
 * the test's own (podvm_test_netns_enter): a real podvmd runs real CNI
 * plugins (Debian's containernetworking-plugins) for each pod, real QEMU
 * boots the test guest, whose init takes its address by DHCP
 * ("PODVM-NET eth0 up ADDR/PREFIX gw GW ...") and serves a page on ports
 * 80 and 8081 ("PODVM-PAGE"). Nothing touches the machine's own links.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-outside.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS PODVM_TEST_NET_BOOT_TIMEOUT_MS
#define NET_TIMEOUT_MS PODVM_TEST_NET_TIMEOUT_MS

#define MASQUERADE_IFACES PODVM_TEST_NET_MASQUERADE_IFACES
#define POD_NETWORK PODVM_TEST_NET_POD_NETWORK

/* ---- masquerade -------------------------------------------------------------------------- */

/*
 * The KubeVirt default: the guest takes 10.0.2.2 by DHCP behind NAT, its
 * declared port 80 is served at the pod's address and its undeclared 8081
 * is not; status shows the guest's and the pod's addresses.
 */
static void
test_masquerade(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autofree char *pod_ip = NULL, *guest_ip = NULL, *url = NULL, *body = NULL;
    g_autofree char *url_8081 = NULL, *undeclared = NULL;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_net_spec("web", NULL, MASQUERADE_IFACES, POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "web");
    podvm_test_net_wait_console(f, "web", "PODVM-NET eth0 up 10.0.2.2/24 gw 10.0.2.1",
                                BOOT_TIMEOUT_MS);

    pod_ip = podvm_test_net_status_string(f, "web", "podIP");
    g_assert_nonnull(pod_ip);
    g_assert_true(g_str_has_prefix(pod_ip, "10.66."));
    guest_ip = podvm_test_net_interface_string(f, "web", 0, "ipAddress");
    g_assert_cmpstr(guest_ip, ==, "10.0.2.2");

    url = g_strdup_printf("http://%s:80/", pod_ip);
    body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    /* 8081 is served by the guest too, but not declared: not forwarded. */
    url_8081 = g_strdup_printf("http://%s:8081/", pod_ip);
    undeclared = podvm_test_net_http_get(url_8081, 3);
    g_assert_null(undeclared);

    /* Stopped, its network is released: podvmctl (D-Bus properties) shows no IP any more. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "stop", "web", NULL), ==, 0);
    {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        gboolean shown = TRUE;

        while (shown && g_get_monotonic_time() < deadline) {
            g_autofree char *list = NULL;

            g_assert_cmpint(podvm_test_ctl(f->daemon, &list, NULL, "list", NULL), ==, 0);
            shown = strstr(list, pod_ip) != NULL;
            if (shown)
                g_usleep(100 * 1000);
        }
        g_assert_false(shown);
    }
}

/* With no ports listed, every port is forwarded (KubeVirt's rule). */
static void
test_masquerade_all_ports(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *pod_ip = NULL, *url = NULL, *body = NULL;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_net_spec("open", NULL, "[{\"name\": \"default\", \"masquerade\": {}}]",
                               POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "open");
    podvm_test_net_wait_console(f, "open", "PODVM-NET eth0 up 10.0.2.2/24", BOOT_TIMEOUT_MS);
    pod_ip = podvm_test_net_status_string(f, "open", "podIP");
    url = g_strdup_printf("http://%s:8081/", pod_ip);
    body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
}

/* ---- the outside host ------------------------------------------------------------------------ */

/*
 * Egress and hostPort against a host outside (another namespace on a veth,
 * podvm-test-outside.c), with a pod network the host does not masquerade:
 * the outside host sees the guest's request come from the pod's address
 * (the binding's NAT), and reaches the guest's page at the host's address
 * on the hostPort (CNI portmap, then the binding's forward).
 */
static void
test_outside(PodvmTestNet *f, gconstpointer data)
{
    g_autoptr(PodvmTestOutside) outside = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = NULL, *pod_ip = NULL, *marker = NULL, *body = NULL;
    gint64 deadline;

    if (f->daemon == NULL)
        return;
    outside = podvm_test_outside_new(f->daemon->tmpdir, &error);
    g_assert_no_error(error);
    spec = podvm_test_net_spec(
        "egress", "podvm.fetch=" PODVM_TEST_OUTSIDE_URL,
        "[{\"name\": \"default\", \"masquerade\": {}, \"ports\": [{\"name\": \"http\", "
        "\"port\": 80, \"hostPort\": 8088}]}]",
        POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "egress");
    pod_ip = podvm_test_net_status_string(f, "egress", "podIP");
    g_assert_nonnull(pod_ip);
    /* The outside server runs on this thread's main loop: wait with it. */
    g_assert_true(podvm_test_outside_wait_peer(outside, pod_ip, BOOT_TIMEOUT_MS + NET_TIMEOUT_MS));
    marker = g_strdup_printf("PODVM-FETCH OK PODVM-OUTSIDE %s", pod_ip);
    podvm_test_net_wait_console(f, "egress", marker, NET_TIMEOUT_MS);

    deadline = g_get_monotonic_time() + NET_TIMEOUT_MS * 1000LL;
    while (body == NULL && g_get_monotonic_time() < deadline) {
        g_clear_error(&error);
        body = podvm_test_outside_get(outside, PODVM_TEST_OUTSIDE_GATEWAY, 8088, "/", 5000, &error);
        if (body == NULL)
            g_usleep(500 * 1000);
    }
    g_assert_no_error(error);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
}

/* ---- bridge and slirp ---------------------------------------------------------------------- */

/*
 * The bridge binding: the guest holds the pod's own address, serves on it,
 * and reaches the outside through the pod network (the CNI bridge
 * hairpins: the pod interface's port must not learn the guest's MAC).
 */
static void
test_bridge(PodvmTestNet *f, gconstpointer data)
{
    g_autoptr(PodvmTestOutside) outside = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = NULL, *pod_ip = NULL, *marker = NULL, *url = NULL, *body = NULL;
    g_autofree char *netns = NULL, *netns_arg = NULL, *port = NULL;

    if (f->daemon == NULL)
        return;
    outside = podvm_test_outside_new(f->daemon->tmpdir, &error);
    g_assert_no_error(error);
    spec = podvm_test_net_spec("br", "podvm.fetch=" PODVM_TEST_OUTSIDE_URL,
                               "[{\"name\": \"default\", \"bridge\": {}}]", POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "br");
    pod_ip = podvm_test_net_status_string(f, "br", "podIP");
    g_assert_nonnull(pod_ip);
    marker = g_strdup_printf("PODVM-NET eth0 up %s/16 gw 10.66.0.1", pod_ip);
    podvm_test_net_wait_console(f, "br", marker, BOOT_TIMEOUT_MS);
    url = g_strdup_printf("http://%s:8081/", pod_ip);
    body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    /* Out through the pod network: the host masquerades the pod's address to its own. */
    g_assert_true(
        podvm_test_outside_wait_peer(outside, PODVM_TEST_OUTSIDE_GATEWAY, NET_TIMEOUT_MS));
    podvm_test_net_wait_console(f, "br", "PODVM-FETCH OK PODVM-OUTSIDE", NET_TIMEOUT_MS);
    netns = podvm_test_net_pod_netns(f, "br");
    netns_arg = g_strdup_printf("--net=%s", netns);
    {
        const char *argv[] = { "nsenter", netns_arg, "--",  "bridge", "-d",
                               "link",    "show",    "dev", "eth0",   NULL };
        port = podvm_test_net_run(argv);
    }
    g_assert_nonnull(strstr(port, "learning off"));
}

/* slirp: QEMU's user network inside the pod's namespace; the declared port is a host forward. */
static void
test_slirp(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *pod_ip = NULL, *url = NULL, *body = NULL;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_net_spec(
        "user", NULL, "[{\"name\": \"default\", \"slirp\": {}, \"ports\": [{\"port\": 80}]}]",
        POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "user");
    podvm_test_net_wait_console(f, "user", "PODVM-NET eth0 up 10.0.2.15/24 gw 10.0.2.2",
                                BOOT_TIMEOUT_MS);
    pod_ip = podvm_test_net_status_string(f, "user", "podIP");
    url = g_strdup_printf("http://%s:80/", pod_ip);
    body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
}

/* passt: the guest holds the pod's address (passt's DHCP); the declared port is forwarded, 8081
 * not. */
static void
test_passt(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *pod_ip = NULL, *marker = NULL, *url = NULL, *body = NULL;
    g_autofree char *url_8081 = NULL, *undeclared = NULL, *guest_ip = NULL;

    if (f->daemon == NULL)
        return;
    if (!g_file_test("/usr/bin/passt", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("passt is not installed (Debian's passt)");
        return;
    }
    spec = podvm_test_net_spec("pst", NULL,
                               "[{\"name\": \"default\", \"passt\": {}, \"ports\": "
                               "[{\"port\": 80}]}]",
                               POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "pst");
    pod_ip = podvm_test_net_status_string(f, "pst", "podIP");
    g_assert_nonnull(pod_ip);
    marker = g_strdup_printf("PODVM-NET eth0 up %s/16", pod_ip);
    podvm_test_net_wait_console(f, "pst", marker, BOOT_TIMEOUT_MS);
    guest_ip = podvm_test_net_interface_string(f, "pst", 0, "ipAddress");
    g_assert_cmpstr(guest_ip, ==, pod_ip);
    url = g_strdup_printf("http://%s:80/", pod_ip);
    body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    url_8081 = g_strdup_printf("http://%s:8081/", pod_ip);
    undeclared = podvm_test_net_http_get(url_8081, 3);
    g_assert_null(undeclared);
}

/* ---- two pods, one network ------------------------------------------------------------------ */

static void
test_two_pods(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *server = NULL, *client = NULL, *server_ip = NULL, *args = NULL;

    if (f->daemon == NULL)
        return;
    server = podvm_test_net_spec("server", NULL, MASQUERADE_IFACES, POD_NETWORK);
    podvm_test_net_create_pod(f, server);
    podvm_test_net_start_pod(f, "server");
    server_ip = podvm_test_net_status_string(f, "server", "podIP");
    g_assert_nonnull(server_ip);
    args = g_strdup_printf("podvm.fetch=http://%s:80/", server_ip);
    client = podvm_test_net_spec("client", args, MASQUERADE_IFACES, POD_NETWORK);
    podvm_test_net_create_pod(f, client);
    podvm_test_net_start_pod(f, "client");
    podvm_test_net_wait_console(f, "server", "PODVM-NET eth0 up", BOOT_TIMEOUT_MS);
    podvm_test_net_wait_console(f, "client", "PODVM-FETCH OK", BOOT_TIMEOUT_MS + NET_TIMEOUT_MS);
}

/* A REST call on podvmd's unix socket (curl): the answer's body; asserts a 2xx answer. */
static char *
rest_call(PodvmTestNet *f, const char *method, const char *path, const char *body)
{
    g_autofree char *socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    g_autofree char *url = g_strconcat("http://localhost", path, NULL);
    const char *argv[] = { "curl",
                           "-sS",
                           "--fail-with-body",
                           "--max-time",
                           "120",
                           "--unix-socket",
                           socket_path,
                           "-X",
                           method,
                           "-H",
                           "Content-Type: application/json",
                           "--data-binary",
                           body != NULL ? body : "",
                           url,
                           NULL };
    const char *argv_nobody[] = { "curl",       "-sS", "--fail-with-body",
                                  "--max-time", "120", "--unix-socket",
                                  socket_path,  "-X",  method,
                                  url,          NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)(body != NULL ? argv : argv_nobody), NULL, G_SPAWN_SEARCH_PATH,
                 NULL, NULL, &out, &err, &status, &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("%s %s failed: %s %s", method, path, out, err);
    return g_steal_pointer(&out);
}

/* ---- NIC hotplug ------------------------------------------------------------------------------
 */

static void
test_nic_hotplug(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *out = NULL, *err = NULL, *attachment = NULL, *path = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) status = NULL;
    guint ports_before;
    int rc;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_net_spec("hot", NULL, MASQUERADE_IFACES, POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "hot");
    podvm_test_net_wait_console(f, "hot", "PODVM-NET eth0 up 10.0.2.2/24", BOOT_TIMEOUT_MS);
    ports_before = podvm_test_net_bridge_ports("podvm1");

    /* A second NIC on the multus network "extra", bridge binding, from a file (podvmctl). */
    attachment = g_strdup("{\"interface\": {\"name\": \"extra\", \"bridge\": {}}, "
                          "\"network\": {\"name\": \"extra\", \"multus\": {\"networkName\": "
                          "\"extra\"}}}");
    path = g_build_filename(f->daemon->tmpdir, "nic.json", NULL);
    g_file_set_contents(path, attachment, -1, &error);
    g_assert_no_error(error);
    rc = podvm_test_ctl(f->daemon, &out, &err, "attach-nic", "hot", "-f", path, NULL);
    g_assert_cmpint(rc, ==, 0);
    /* The same network again under another name: refused, nothing changes. */
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    rc = podvm_test_ctl(f->daemon, &out, &err, "attach-nic", "hot", "--name", "again", "--binding",
                        "bridge", "--multus", "extra", NULL);
    g_assert_cmpint(rc, !=, 0);
    g_assert_nonnull(strstr(err, "already on network 'extra'"));
    podvm_test_net_wait_console(f, "hot", "PODVM-NET eth1 up 10.77.0.", NET_TIMEOUT_MS);
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm1"), ==, ports_before + 1);
    status = podvm_test_daemon_status(f->daemon, "hot");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(status, "interfaces")), ==,
                     2);

    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    rc = podvm_test_ctl(f->daemon, &out, &err, "detach-nic", "hot", "extra", NULL);
    g_assert_cmpint(rc, ==, 0);
    podvm_test_net_wait_console(f, "hot", "PODVM-NET eth1 gone", NET_TIMEOUT_MS);
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm1"), ==, ports_before);

    /* The same through REST, with a MAC of our choosing to tell this NIC from the first. */
    g_clear_pointer(&out, g_free);
    out = rest_call(f, "POST", "/v1/pods/hot/interfaces",
                    "{\"interface\": {\"name\": \"rest\", \"bridge\": {}, \"macAddress\": "
                    "\"02:00:00:00:aa:01\"}, \"network\": {\"name\": \"rest\", \"multus\": "
                    "{\"networkName\": \"extra\"}}}");
    g_assert_nonnull(strstr(out, "\"rest\""));
    podvm_test_net_wait_console(f, "hot", "up 10.77.0.", NET_TIMEOUT_MS);
    podvm_test_net_wait_console(f, "hot", "mac 02:00:00:00:aa:01", NET_TIMEOUT_MS);
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm1"), ==, ports_before + 1);
    g_clear_pointer(&out, g_free);
    out = rest_call(f, "DELETE", "/v1/pods/hot/interfaces/rest", NULL);
    g_assert_null(strstr(out, "\"rest\""));
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm1"), ==, ports_before);
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void
expect_refused(PodvmTestNet *f, const char *name, const char *interfaces, const char *networks,
               const char *path_in_message)
{
    g_autofree char *spec = podvm_test_net_spec(name, NULL, interfaces, networks);
    g_autoptr(GError) error = NULL;
    g_autofree char *object_path = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &object_path, NULL, &error);
    g_assert_nonnull(error);
    if (strstr(error->message, path_in_message) == NULL)
        g_error("refusal of %s does not name %s: %s", name, path_in_message, error->message);
}

static void
test_bad_input(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *pods = NULL;

    if (f->daemon == NULL)
        return;
    expect_refused(f, "unknown-net", "[{\"name\": \"x\", \"bridge\": {}}]",
                   "[{\"name\": \"x\", \"multus\": {\"networkName\": \"nowhere\"}}]",
                   "spec.networks[0].multus.networkName");
    expect_refused(f, "masq-multus", "[{\"name\": \"x\", \"masquerade\": {}}]",
                   "[{\"name\": \"x\", \"multus\": {\"networkName\": \"extra\"}}]",
                   "spec.domain.devices.interfaces[0]");
    expect_refused(f, "bad-mac",
                   "[{\"name\": \"default\", \"masquerade\": {}, \"macAddress\": \"02:00:zz\"}]",
                   POD_NETWORK, "macAddress");
    expect_refused(f, "multicast-mac",
                   "[{\"name\": \"default\", \"masquerade\": {}, \"macAddress\": "
                   "\"01:00:5e:00:00:01\"}]",
                   POD_NETWORK, "macAddress");
    expect_refused(f, "dup-names",
                   "[{\"name\": \"default\", \"masquerade\": {}}, {\"name\": \"default\", "
                   "\"bridge\": {}}]",
                   POD_NETWORK, "spec.domain.devices.interfaces[1].name");
    expect_refused(f, "port-range",
                   "[{\"name\": \"default\", \"masquerade\": {}, \"ports\": [{\"port\": 70000}]}]",
                   POD_NETWORK, "ports[0].port");
    expect_refused(
        f, "sriov-dots", "[{\"name\": \"x\", \"sriov\": {\"hostPciAddress\": \"0000:../../x\"}}]",
        "[{\"name\": \"x\", \"multus\": {\"networkName\": \"extra\"}}]", "hostPciAddress");
    /* Nothing was created. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &pods, NULL, "list", NULL), ==, 0);
    g_assert_null(strstr(pods, "unknown-net"));
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm0"), ==, 0);
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/net/pods/bad-input", PodvmTestNet, NULL, podvm_test_net_setup, test_bad_input,
               podvm_test_net_teardown);
    g_test_add("/net/pods/masquerade", PodvmTestNet, NULL, podvm_test_net_setup, test_masquerade,
               podvm_test_net_teardown);
    g_test_add("/net/pods/masquerade-all-ports", PodvmTestNet, NULL, podvm_test_net_setup,
               test_masquerade_all_ports, podvm_test_net_teardown);
    g_test_add("/net/pods/outside", PodvmTestNet, PODVM_TEST_NET_NO_HOST_MASQUERADE,
               podvm_test_net_setup, test_outside, podvm_test_net_teardown);
    g_test_add("/net/pods/passt", PodvmTestNet, NULL, podvm_test_net_setup, test_passt,
               podvm_test_net_teardown);
    g_test_add("/net/pods/bridge", PodvmTestNet, NULL, podvm_test_net_setup, test_bridge,
               podvm_test_net_teardown);
    g_test_add("/net/pods/slirp", PodvmTestNet, NULL, podvm_test_net_setup, test_slirp,
               podvm_test_net_teardown);
    g_test_add("/net/pods/two-pods", PodvmTestNet, NULL, podvm_test_net_setup, test_two_pods,
               podvm_test_net_teardown);
    g_test_add("/net/pods/nic-hotplug", PodvmTestNet, NULL, podvm_test_net_setup, test_nic_hotplug,
               podvm_test_net_teardown);
    return g_test_run();
}
