/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-net.h"

#include <glib/gstdio.h>
#include <string.h>

#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS PODVM_TEST_NET_BOOT_TIMEOUT_MS
#define NET_TIMEOUT_MS PODVM_TEST_NET_TIMEOUT_MS

char *podvm_test_net_skip_reason;

/* A conflist for the tests' own networks: a bridge, host-local IPAM in @subnet (and @subnet6). */
void
podvm_test_net_write_conflist_dual(const char *dir, const char *file, const char *name,
                                   const char *bridge, const char *subnet, const char *subnet6,
                                   gboolean masquerade)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *ipam_dir = g_build_filename(dir, "..", "ipam", NULL);
    /* The IPv6 range first: the CNI result lists it first, and podvmd still shows IPv4 first. */
    g_autofree char *range6 =
        subnet6 != NULL ? g_strdup_printf("[{\"subnet\": \"%s\"}], ", subnet6) : g_strdup("");
    g_autofree char *text = g_strdup_printf(
        "{\"cniVersion\": \"1.0.0\", \"name\": \"%s\", \"plugins\": ["
        "{\"type\": \"bridge\", \"bridge\": \"%s\", \"isGateway\": true, \"ipMasq\": %s,"
        " \"hairpinMode\": true, \"ipam\": {\"type\": \"host-local\", \"ranges\": [%s[{\"subnet\": "
        "\"%s\"}]], \"routes\": [{\"dst\": \"0.0.0.0/0\"}%s], \"dataDir\": \"%s\"}},"
        "{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}]}",
        name, bridge, masquerade ? "true" : "false", range6, subnet,
        subnet6 != NULL ? ", {\"dst\": \"::/0\"}" : "", ipam_dir);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
}

void
podvm_test_net_write_conflist(const char *dir, const char *file, const char *name,
                              const char *bridge, const char *subnet, gboolean masquerade)
{
    podvm_test_net_write_conflist_dual(dir, file, name, bridge, subnet, NULL, masquerade);
}

void
podvm_test_net_setup(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *conf = NULL;
    g_autofree char *tmp = NULL;

    if (podvm_test_net_skip_reason != NULL) {
        g_test_skip(podvm_test_net_skip_reason);
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
    podvm_test_net_write_conflist_dual(
        f->cni_dir, "10-pods.conflist", "pods", "podvm0", "10.66.0.0/16",
        data == PODVM_TEST_NET_DUAL_STACK ? PODVM_TEST_NET_POD_SUBNET6 : NULL,
        data != PODVM_TEST_NET_NO_HOST_MASQUERADE);
    podvm_test_net_write_conflist(f->cni_dir, "20-extra.conflist", "extra", "podvm1",
                                  "10.77.0.0/24", TRUE);
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n", f->cni_dir);
    f->daemon = podvm_test_daemon_new_with_config(conf);
}

void
podvm_test_net_teardown(PodvmTestNet *f, gconstpointer data)
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
char *
podvm_test_net_spec(const char *name, const char *kernel_args, const char *interfaces,
                    const char *networks)
{
    return podvm_test_guest_spec_with(name, kernel_args, "interfaces", interfaces, "networks",
                                      networks);
}

void
podvm_test_net_create_pod(PodvmTestNet *f, const char *spec)
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

void
podvm_test_net_start_pod(PodvmTestNet *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
}

void
podvm_test_net_delete_pod(PodvmTestNet *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_delete_sync(pod, TRUE, NULL, &error);
    g_assert_no_error(error);
}

guint
podvm_test_net_console_count(PodvmTestNet *f, const char *name, const char *needle)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);

    return podvm_test_count_in_file(log, needle);
}

typedef struct {
    const char *log;
    const char *needle;
    guint seen;
} ConsoleWait;

static gboolean
console_has_more(gpointer user_data)
{
    const ConsoleWait *wait = user_data;

    return podvm_test_count_in_file(wait->log, wait->needle) > wait->seen;
}

/*
 * Waits for @needle on the pod's console (running the main loop: a test's
 * outside host may serve on it); the console log as it was, for the message.
 */
void
podvm_test_net_wait_console_again(PodvmTestNet *f, const char *name, const char *needle, guint seen,
                                  guint timeout_ms)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, name);
    ConsoleWait wait = { log, needle, seen };

    if (!podvm_test_wait_until(console_has_more, &wait, timeout_ms)) {
        g_autofree char *text = NULL;

        g_file_get_contents(log, &text, NULL, NULL);
        g_error("pod '%s': no \"%s\" on the console within %u ms; console:\n%s", name, needle,
                timeout_ms, text != NULL ? text : "(none)");
    }
}

void
podvm_test_net_wait_console(PodvmTestNet *f, const char *name, const char *needle, guint timeout_ms)
{
    podvm_test_net_wait_console_again(f, name, needle, 0, timeout_ms);
}

/* status.<member> as a string, or NULL. */
char *
podvm_test_net_status_string(PodvmTestNet *f, const char *name, const char *member)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);

    return g_strdup(json_object_get_string_member_with_default(status, member, NULL));
}

/* status.interfaces[0].<member> as a string, or NULL. */
char *
podvm_test_net_interface_string(PodvmTestNet *f, const char *name, guint index, const char *member)
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
char *
podvm_test_net_http_get(const char *url, guint seconds)
{
    g_autofree char *max_time = g_strdup_printf("%u", seconds);
    /* -g: an IPv6 URL's brackets are no glob. */
    const char *argv[] = { "curl", "-g", "-sS", "--fail", "--max-time", max_time, url, NULL };
    g_autofree char *out = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &out, NULL, &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL))
        return NULL;
    return g_steal_pointer(&out);
}

/* GET until it works (the guest's httpd starts after its lease), up to @timeout_ms. */
char *
podvm_test_net_http_get_retry(const char *url, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;

    while (g_get_monotonic_time() < deadline) {
        char *body = podvm_test_net_http_get(url, 3);

        if (body != NULL)
            return body;
        g_usleep(500 * 1000);
    }
    return NULL;
}

/* Runs @argv (a NULL-terminated list) and returns its stdout; asserts it ran. */
char *
podvm_test_net_run(const char *const *argv)
{
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                 NULL, &out, NULL, &status, &error);
    g_assert_no_error(error);
    return g_steal_pointer(&out);
}

char *
podvm_test_net_pod_netns(PodvmTestNet *f, const char *name)
{
    return g_build_filename(f->daemon->run_dir, "pods", name, "netns", NULL);
}

/* `nft list table inet podvm` in the pod's namespace. */
char *
podvm_test_net_pod_nft_table(PodvmTestNet *f, const char *name)
{
    g_autofree char *netns = podvm_test_net_pod_netns(f, name);
    g_autofree char *arg = g_strdup_printf("--net=%s", netns);
    const char *argv[] = {
        "nsenter", arg, "--", "nft", "-s", "list", "table", "inet", "podvm", NULL
    };

    return podvm_test_net_run(argv);
}

/* The number of files in the host-local IPAM directory of network @network (its leases). */
char *
podvm_test_net_host_ruleset(void)
{
    const char *argv[] = { "nft", "-s", "list", "ruleset", NULL };

    return podvm_test_net_run(argv);
}

guint
podvm_test_net_ipam_leases(PodvmTestNet *f, const char *network)
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
guint
podvm_test_net_bridge_ports(const char *bridge)
{
    const char *argv[] = { "ip", "-o", "link", "show", "master", bridge, NULL };
    g_autofree char *out = podvm_test_net_run(argv);
    guint count = 0;

    for (const char *p = out; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (*p != '\0')
            count++;
    }
    return count;
}
