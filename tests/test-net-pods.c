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
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 90000
#define NET_TIMEOUT_MS 60000

static char *netns_skip_reason;

typedef struct {
    PodvmTestDaemon *daemon;
    char *cni_dir;
    GPtrArray *pods; /* names created: deleted at teardown, so CNI DEL runs for each */
} Fixture;

/* A conflist for the tests' own networks: a bridge, host-local IPAM in @subnet. */
static void
write_conflist(const char *dir, const char *file, const char *name, const char *bridge,
               const char *subnet, gboolean masquerade)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *ipam_dir = g_build_filename(dir, "..", "ipam", NULL);
    g_autofree char *text = g_strdup_printf(
        "{\"cniVersion\": \"1.0.0\", \"name\": \"%s\", \"plugins\": ["
        "{\"type\": \"bridge\", \"bridge\": \"%s\", \"isGateway\": true, \"ipMasq\": %s,"
        " \"hairpinMode\": true, \"ipam\": {\"type\": \"host-local\", \"ranges\": [[{\"subnet\": "
        "\"%s\"}]], \"routes\": [{\"dst\": \"0.0.0.0/0\"}], \"dataDir\": \"%s\"}},"
        "{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}]}",
        name, bridge, masquerade ? "true" : "false", subnet, ipam_dir);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree char *conf = NULL;
    g_autofree char *tmp = NULL;

    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return;
    }
    if (!g_file_test("/usr/lib/cni/bridge", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("Debian's containernetworking-plugins are not installed (/usr/lib/cni)");
        return;
    }
    tmp = podvm_test_mkdtemp();
    f->cni_dir = g_build_filename(tmp, "cni", NULL);
    g_mkdir_with_parents(f->cni_dir, 0700);
    /* The default network (first conflist) and a second one for multus and hotplug. */
    write_conflist(f->cni_dir, "10-pods.conflist", "pods", "podvm0", "10.66.0.0/16", TRUE);
    write_conflist(f->cni_dir, "20-extra.conflist", "extra", "podvm1", "10.77.0.0/24", TRUE);
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n", f->cni_dir);
    f->daemon = podvm_test_daemon_new_with_config(conf);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    /* Pods go through podvmd: their veths and leases on the test's bridges go with them. */
    for (guint i = 0; f->daemon != NULL && f->pods != NULL && i < f->pods->len; i++) {
        g_autofree char *out = NULL, *err = NULL;

        podvm_test_ctl(f->daemon, &out, &err, "delete", "--force",
                       (const char *)g_ptr_array_index(f->pods, i), NULL);
    }
    g_clear_pointer(&f->pods, g_ptr_array_unref);
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    if (f->cni_dir != NULL) {
        g_autofree char *parent = g_path_get_dirname(f->cni_dir);
        podvm_test_rmrf(parent);
    }
    g_free(f->cni_dir);
}

/* ---- helpers ---------------------------------------------------------------------------- */

/* The test guest with @interfaces and @networks (JSON arrays as text). */
static char *
net_spec(const char *name, const char *kernel_args, const char *interfaces, const char *networks)
{
    g_autofree char *base = podvm_test_guest_spec(name, kernel_args, NULL, 2);
    g_autoptr(JsonNode) root = json_from_string(base, NULL);
    JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
    JsonObject *domain = json_object_get_object_member(spec, "domain");
    JsonObject *devices;

    if (!json_object_has_member(domain, "devices"))
        json_object_set_object_member(domain, "devices", json_object_new());
    devices = json_object_get_object_member(domain, "devices");
    json_object_set_member(devices, "interfaces", json_from_string(interfaces, NULL));
    json_object_set_member(spec, "networks", json_from_string(networks, NULL));
    return json_to_string(root, FALSE);
}

static void
create_pod(Fixture *f, const char *spec)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    if (f->pods == NULL)
        f->pods = g_ptr_array_new_with_free_func(g_free);
    {
        g_autoptr(JsonNode) root = json_from_string(spec, NULL);
        JsonObject *metadata =
            json_object_get_object_member(json_node_get_object(root), "metadata");

        g_ptr_array_add(f->pods, g_strdup(json_object_get_string_member(metadata, "name")));
    }
}

static void
start_pod(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
}

/* Waits for @needle on the pod's console; the console log as it was, for the message. */
static void
wait_console(Fixture *f, const char *name, const char *needle, guint timeout_ms)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);

    if (!podvm_test_wait_for_file_content(log, needle, timeout_ms)) {
        g_autofree char *text = NULL;

        g_file_get_contents(log, &text, NULL, NULL);
        g_error("pod '%s': no \"%s\" on the console within %u ms; console:\n%s", name, needle,
                timeout_ms, text != NULL ? text : "(none)");
    }
}

/* status.<member> as a string, or NULL. */
static char *
status_string(Fixture *f, const char *name, const char *member)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);

    return g_strdup(json_object_get_string_member_with_default(status, member, NULL));
}

/* status.interfaces[0].<member> as a string, or NULL. */
static char *
interface_string(Fixture *f, const char *name, guint index, const char *member)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);
    JsonArray *interfaces = json_object_has_member(status, "interfaces")
                                ? json_object_get_array_member(status, "interfaces")
                                : NULL;
    JsonObject *iface;

    if (interfaces == NULL || json_array_get_length(interfaces) <= index)
        return NULL;
    iface = json_array_get_object_element(interfaces, index);
    return g_strdup(json_object_get_string_member_with_default(iface, member, NULL));
}

/*
 * GET @url with curl (a real client), in this namespace; the body, or NULL
 * when it cannot be fetched (refused, timed out, HTTP error) within @seconds.
 */
static char *
http_get(const char *url, guint seconds)
{
    g_autofree char *max_time = g_strdup_printf("%u", seconds);
    const char *argv[] = { "curl", "-sS", "--fail", "--max-time", max_time, url, NULL };
    g_autofree char *out = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &out, NULL, &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL))
        return NULL;
    return g_steal_pointer(&out);
}

/* GET until it works (the guest's httpd starts after its lease), up to @timeout_ms. */
static char *
http_get_retry(const char *url, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;

    while (g_get_monotonic_time() < deadline) {
        char *body = http_get(url, 3);

        if (body != NULL)
            return body;
        g_usleep(500 * 1000);
    }
    return NULL;
}

/* Runs @argv (a NULL-terminated list) and returns its stdout; asserts it ran. */
static char *
run(const char *const *argv)
{
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                 NULL, &out, NULL, &status, &error);
    g_assert_no_error(error);
    return g_steal_pointer(&out);
}

static char *
pod_netns(Fixture *f, const char *name)
{
    return g_build_filename(f->daemon->run_dir, "pods", name, "netns", NULL);
}

/* `nft list table inet podvm` in the pod's namespace. */
static char *
pod_nft_table(Fixture *f, const char *name)
{
    g_autofree char *netns = pod_netns(f, name);
    g_autofree char *arg = g_strdup_printf("--net=%s", netns);
    const char *argv[] = { "nsenter", arg, "--", "nft", "list", "table", "inet", "podvm", NULL };

    return run(argv);
}

/* The number of files in the host-local IPAM directory of network @network (its leases). */
static guint
ipam_leases(Fixture *f, const char *network)
{
    g_autofree char *parent = g_path_get_dirname(f->cni_dir);
    g_autofree char *dir = g_build_filename(parent, "ipam", network, NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *entry;
    guint count = 0;

    while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
        /* host-local keeps "last_reserved_ip.0" and a lock beside one file per address. */
        if (strchr(entry, '.') != NULL && !g_str_has_prefix(entry, "last_reserved_ip") &&
            !g_str_equal(entry, "lock"))
            count++;
        else if (strchr(entry, ':') != NULL)
            count++;
    }
    return count;
}

/* The links whose master is @bridge in the test's namespace (one veth per attached pod). */
static guint
bridge_ports(const char *bridge)
{
    const char *argv[] = { "ip", "-o", "link", "show", "master", bridge, NULL };
    g_autofree char *out = run(argv);
    guint count = 0;

    for (const char *p = out; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (*p != '\0')
            count++;
    }
    return count;
}

static const char MASQUERADE_IFACES[] = "[{\"name\": \"default\", \"masquerade\": {}, \"ports\": "
                                        "[{\"name\": \"http\", \"port\": 80}]}]";
static const char POD_NETWORK[] = "[{\"name\": \"default\", \"pod\": {}}]";

/* ---- masquerade -------------------------------------------------------------------------- */

/*
 * The KubeVirt default: the guest takes 10.0.2.2 by DHCP behind NAT, its
 * declared port 80 is served at the pod's address and its undeclared 8081
 * is not; status shows the guest's and the pod's addresses.
 */
static void
test_masquerade(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autofree char *pod_ip = NULL, *guest_ip = NULL, *url = NULL, *body = NULL;
    g_autofree char *url_8081 = NULL, *undeclared = NULL;

    if (f->daemon == NULL)
        return;
    spec = net_spec("web", NULL, MASQUERADE_IFACES, POD_NETWORK);
    create_pod(f, spec);
    start_pod(f, "web");
    wait_console(f, "web", "PODVM-NET eth0 up 10.0.2.2/24 gw 10.0.2.1", BOOT_TIMEOUT_MS);

    pod_ip = status_string(f, "web", "podIP");
    g_assert_nonnull(pod_ip);
    g_assert_true(g_str_has_prefix(pod_ip, "10.66."));
    guest_ip = interface_string(f, "web", 0, "ipAddress");
    g_assert_cmpstr(guest_ip, ==, "10.0.2.2");

    url = g_strdup_printf("http://%s:80/", pod_ip);
    body = http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    /* 8081 is served by the guest too, but not declared: not forwarded. */
    url_8081 = g_strdup_printf("http://%s:8081/", pod_ip);
    undeclared = http_get(url_8081, 3);
    g_assert_null(undeclared);
}

/* With no ports listed, every port is forwarded (KubeVirt's rule). */
static void
test_masquerade_all_ports(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *pod_ip = NULL, *url = NULL, *body = NULL;

    if (f->daemon == NULL)
        return;
    spec = net_spec("open", NULL, "[{\"name\": \"default\", \"masquerade\": {}}]", POD_NETWORK);
    create_pod(f, spec);
    start_pod(f, "open");
    wait_console(f, "open", "PODVM-NET eth0 up 10.0.2.2/24", BOOT_TIMEOUT_MS);
    pod_ip = status_string(f, "open", "podIP");
    url = g_strdup_printf("http://%s:8081/", pod_ip);
    body = http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
}

/* ---- bridge and slirp ---------------------------------------------------------------------- */

/* The bridge binding: the guest holds the pod's own address, and serves on it. */
static void
test_bridge(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *pod_ip = NULL, *marker = NULL, *url = NULL, *body = NULL;

    if (f->daemon == NULL)
        return;
    spec = net_spec("br", NULL, "[{\"name\": \"default\", \"bridge\": {}}]", POD_NETWORK);
    create_pod(f, spec);
    start_pod(f, "br");
    pod_ip = status_string(f, "br", "podIP");
    g_assert_nonnull(pod_ip);
    marker = g_strdup_printf("PODVM-NET eth0 up %s/16 gw 10.66.0.1", pod_ip);
    wait_console(f, "br", marker, BOOT_TIMEOUT_MS);
    url = g_strdup_printf("http://%s:8081/", pod_ip);
    body = http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
}

/* slirp: QEMU's user network inside the pod's namespace; the declared port is a host forward. */
static void
test_slirp(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *pod_ip = NULL, *url = NULL, *body = NULL;

    if (f->daemon == NULL)
        return;
    spec = net_spec("user", NULL,
                    "[{\"name\": \"default\", \"slirp\": {}, \"ports\": [{\"port\": 80}]}]",
                    POD_NETWORK);
    create_pod(f, spec);
    start_pod(f, "user");
    wait_console(f, "user", "PODVM-NET eth0 up 10.0.2.15/24 gw 10.0.2.2", BOOT_TIMEOUT_MS);
    pod_ip = status_string(f, "user", "podIP");
    url = g_strdup_printf("http://%s:80/", pod_ip);
    body = http_get_retry(url, NET_TIMEOUT_MS);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
}

/* ---- two pods, one network ------------------------------------------------------------------ */

static void
test_two_pods(Fixture *f, gconstpointer data)
{
    g_autofree char *server = NULL, *client = NULL, *server_ip = NULL, *args = NULL;

    if (f->daemon == NULL)
        return;
    server = net_spec("server", NULL, MASQUERADE_IFACES, POD_NETWORK);
    create_pod(f, server);
    start_pod(f, "server");
    server_ip = status_string(f, "server", "podIP");
    g_assert_nonnull(server_ip);
    args = g_strdup_printf("podvm.fetch=http://%s:80/", server_ip);
    client = net_spec("client", args, MASQUERADE_IFACES, POD_NETWORK);
    create_pod(f, client);
    start_pod(f, "client");
    wait_console(f, "server", "PODVM-NET eth0 up", BOOT_TIMEOUT_MS);
    wait_console(f, "client", "PODVM-FETCH OK", BOOT_TIMEOUT_MS + NET_TIMEOUT_MS);
}

/* ---- NIC hotplug ------------------------------------------------------------------------------
 */

static void
test_nic_hotplug(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *out = NULL, *err = NULL, *attachment = NULL, *path = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) status = NULL;
    guint ports_before;
    int rc;

    if (f->daemon == NULL)
        return;
    spec = net_spec("hot", NULL, MASQUERADE_IFACES, POD_NETWORK);
    create_pod(f, spec);
    start_pod(f, "hot");
    wait_console(f, "hot", "PODVM-NET eth0 up 10.0.2.2/24", BOOT_TIMEOUT_MS);
    ports_before = bridge_ports("podvm1");

    /* A second NIC on the multus network "extra", bridge binding, from a file (podvmctl). */
    attachment = g_strdup("{\"interface\": {\"name\": \"extra\", \"bridge\": {}}, "
                          "\"network\": {\"name\": \"extra\", \"multus\": {\"networkName\": "
                          "\"extra\"}}}");
    path = g_build_filename(f->daemon->tmpdir, "nic.json", NULL);
    g_file_set_contents(path, attachment, -1, &error);
    g_assert_no_error(error);
    rc = podvm_test_ctl(f->daemon, &out, &err, "attach-nic", "hot", "-f", path, NULL);
    g_assert_cmpint(rc, ==, 0);
    wait_console(f, "hot", "PODVM-NET eth1 up 10.77.0.", NET_TIMEOUT_MS);
    g_assert_cmpuint(bridge_ports("podvm1"), ==, ports_before + 1);
    status = podvm_test_daemon_status(f->daemon, "hot");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(status, "interfaces")), ==,
                     2);

    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    rc = podvm_test_ctl(f->daemon, &out, &err, "detach-nic", "hot", "extra", NULL);
    g_assert_cmpint(rc, ==, 0);
    wait_console(f, "hot", "PODVM-NET eth1 gone", NET_TIMEOUT_MS);
    g_assert_cmpuint(bridge_ports("podvm1"), ==, ports_before);
}

/* ---- restarts, delete -------------------------------------------------------------------------
 */

/*
 * podvmd killed with SIGKILL and restarted again and again: the pod keeps
 * its namespace, address and NAT rules, identical and not duplicated; a
 * delete then leaves no lease, no veth and no namespace.
 */
static void
test_restarts_and_delete(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *rules = NULL, *pod_ip = NULL, *netns = NULL, *url = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    guint restarts = g_test_slow() ? 20 : 5;

    if (f->daemon == NULL)
        return;
    spec = net_spec("keep", NULL, MASQUERADE_IFACES, POD_NETWORK);
    create_pod(f, spec);
    start_pod(f, "keep");
    wait_console(f, "keep", "PODVM-NET eth0 up 10.0.2.2/24", BOOT_TIMEOUT_MS);
    rules = pod_nft_table(f, "keep");
    g_assert_nonnull(strstr(rules, "masquerade"));
    pod_ip = status_string(f, "keep", "podIP");
    g_assert_cmpuint(ipam_leases(f, "pods"), ==, 1);
    g_assert_cmpuint(bridge_ports("podvm0"), ==, 1);

    for (guint i = 0; i < restarts; i++) {
        g_autofree char *again = NULL, *ip_again = NULL;

        podvm_test_daemon_kill9(f->daemon);
        podvm_test_daemon_start(f->daemon);
        g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "keep", "Running", 30000));
        again = pod_nft_table(f, "keep");
        g_assert_cmpstr(again, ==, rules);
        ip_again = status_string(f, "keep", "podIP");
        g_assert_cmpstr(ip_again, ==, pod_ip);
    }
    g_assert_cmpuint(ipam_leases(f, "pods"), ==, 1);
    g_assert_cmpuint(bridge_ports("podvm0"), ==, 1);
    url = g_strdup_printf("http://%s:80/", pod_ip);
    {
        g_autofree char *body = http_get_retry(url, NET_TIMEOUT_MS);
        g_assert_nonnull(body);
    }

    pod = podvm_test_daemon_pod(f->daemon, "keep");
    podvm_dbus_pod_call_delete_sync(pod, TRUE, NULL, &error);
    g_assert_no_error(error);
    netns = pod_netns(f, "keep");
    g_assert_false(g_file_test(netns, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(ipam_leases(f, "pods"), ==, 0);
    g_assert_cmpuint(bridge_ports("podvm0"), ==, 0);
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void
expect_refused(Fixture *f, const char *name, const char *interfaces, const char *networks,
               const char *path_in_message)
{
    g_autofree char *spec = net_spec(name, NULL, interfaces, networks);
    g_autoptr(GError) error = NULL;
    g_autofree char *object_path = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &object_path, NULL, &error);
    g_assert_nonnull(error);
    if (strstr(error->message, path_in_message) == NULL)
        g_error("refusal of %s does not name %s: %s", name, path_in_message, error->message);
}

static void
test_bad_input(Fixture *f, gconstpointer data)
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
    g_assert_cmpuint(bridge_ports("podvm0"), ==, 0);
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/net/pods/bad-input", Fixture, NULL, fixture_setup, test_bad_input,
               fixture_teardown);
    g_test_add("/net/pods/masquerade", Fixture, NULL, fixture_setup, test_masquerade,
               fixture_teardown);
    g_test_add("/net/pods/masquerade-all-ports", Fixture, NULL, fixture_setup,
               test_masquerade_all_ports, fixture_teardown);
    g_test_add("/net/pods/bridge", Fixture, NULL, fixture_setup, test_bridge, fixture_teardown);
    g_test_add("/net/pods/slirp", Fixture, NULL, fixture_setup, test_slirp, fixture_teardown);
    g_test_add("/net/pods/two-pods", Fixture, NULL, fixture_setup, test_two_pods, fixture_teardown);
    g_test_add("/net/pods/nic-hotplug", Fixture, NULL, fixture_setup, test_nic_hotplug,
               fixture_teardown);
    g_test_add("/net/pods/restarts-and-delete", Fixture, NULL, fixture_setup,
               test_restarts_and_delete, fixture_teardown);
    return g_test_run();
}
