/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CNI (net/podvm-cni*.c): ADD/DEL/CHECK with Debian's real
 * plugins (bridge, host-local, portmap, firewall) into pod namespaces made
 * with podvm_netns_create(), all inside this program's own network and
 * mount namespace (podvm_test_netns_enter()). Fake plugins (small scripts in
 * the test's directory) fail, hang or give bad results.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-cni.h"
#include "podvm-error.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define DEBIAN_PLUGINS "/usr/lib/cni"

static char *netns_skip_reason;

/* The namespace and Debian's plugins, or a skip with the reason. */
static gboolean
require_plugins(void)
{
    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return FALSE;
    }
    if (!g_file_test(DEBIAN_PLUGINS "/bridge", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("the CNI plugins are not installed (" DEBIAN_PLUGINS "/bridge is missing; "
                    "apt-get install containernetworking-plugins)");
        return FALSE;
    }
    return TRUE;
}

/* ---- ADD, DEL, CHECK with the real plugins ----------------------------------------- */

typedef struct {
    char *dir;
    char *netns;    /* the pod's namespace */
    char *ipam;     /* settings.ipam_dir */
    char *fake_dir; /* fake plugins */
    PodvmCniSettings settings;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    if (netns_skip_reason != NULL || !g_file_test(DEBIAN_PLUGINS "/bridge", G_FILE_TEST_EXISTS))
        return;
    f->dir = podvm_test_mkdtemp();
    f->netns = g_build_filename(f->dir, "netns", NULL);
    f->ipam = g_build_filename(f->dir, "ipam", NULL);
    f->fake_dir = g_build_filename(f->dir, "plugins", NULL);
    g_assert_cmpint(g_mkdir(f->fake_dir, 0700), ==, 0);
    g_assert_true(podvm_netns_create(f->netns, &error));
    g_assert_no_error(error);
    f->settings.config_dir = g_build_filename(f->dir, "cni", NULL);
    f->settings.ipam_dir = g_strdup(f->ipam);
    f->settings.plugin_dirs = g_new0(char *, 3);
    f->settings.plugin_dirs[0] = g_strdup(f->fake_dir);
    f->settings.plugin_dirs[1] = g_strdup(DEBIAN_PLUGINS);
    f->settings.timeout_ms = 20000;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    if (f->dir == NULL)
        return;
    g_assert_true(podvm_netns_remove(f->netns, &error));
    g_assert_no_error(error);
    podvm_test_rmrf(f->dir);
    g_free(f->dir);
    g_free(f->netns);
    g_free(f->ipam);
    g_free(f->fake_dir);
    podvm_cni_settings_clear(&f->settings);
}

/* A fake plugin: a shell script (test-only) in the fixture's plugin directory. */
static void
fake_plugin(Fixture *f, const char *name, const char *script)
{
    g_autofree char *path = g_build_filename(f->fake_dir, name, NULL);
    g_autofree char *text = g_strconcat("#!/bin/sh\n", script, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    g_assert_cmpint(chmod(path, 0755), ==, 0);
}

typedef struct {
    GAsyncResult *result;
} Waiter;

static void
done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Waiter *waiter = user_data;

    waiter->result = g_object_ref(result);
}

static gboolean
waiter_done(gpointer user_data)
{
    return ((Waiter *)user_data)->result != NULL;
}

static GAsyncResult *
wait_result(Waiter *waiter)
{
    g_assert_true(podvm_test_wait_until(waiter_done, waiter, 120000));
    return waiter->result;
}

static PodvmCniResult *
cni_add(Fixture *f, const PodvmCniNetwork *network, const PodvmCniAttachment *attachment,
        GError **error)
{
    Waiter waiter = { 0 };
    PodvmCniResult *result;

    podvm_cni_add_async(&f->settings, network, attachment, NULL, done_cb, &waiter);
    result = podvm_cni_add_finish(wait_result(&waiter), error);
    g_object_unref(waiter.result);
    return result;
}

static gboolean
cni_del(Fixture *f, const PodvmCniNetwork *network, const PodvmCniAttachment *attachment,
        const char *prev, GError **error)
{
    Waiter waiter = { 0 };
    gboolean ok;

    podvm_cni_del_async(&f->settings, network, attachment, prev, NULL, done_cb, &waiter);
    ok = podvm_cni_del_finish(wait_result(&waiter), error);
    g_object_unref(waiter.result);
    return ok;
}

static gboolean
cni_check(Fixture *f, const PodvmCniNetwork *network, const PodvmCniAttachment *attachment,
          const char *prev, GError **error)
{
    Waiter waiter = { 0 };
    gboolean ok;

    podvm_cni_check_async(&f->settings, network, attachment, prev, NULL, done_cb, &waiter);
    ok = podvm_cni_check_finish(wait_result(&waiter), error);
    g_object_unref(waiter.result);
    return ok;
}

typedef struct {
    const char *ifname;
    GPtrArray *addresses;
} AddrQuery;

static gboolean
list_addresses_cb(gpointer user_data, GError **error)
{
    AddrQuery *query = user_data;
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    if (nl == NULL)
        return FALSE;
    query->addresses = podvm_nl_addr_list(nl, query->ifname, AF_UNSPEC, error);
    return query->addresses != NULL;
}

/* The addresses of @ifname inside the namespace at @path; NULL when it has no such link. */
static GPtrArray *
pod_addresses(const char *path, const char *ifname)
{
    g_autoptr(GError) error = NULL;
    AddrQuery query = { ifname, NULL };
    int fd = podvm_netns_open(path, &error);

    g_assert_no_error(error);
    if (!podvm_netns_run(fd, list_addresses_cb, &query, &error)) {
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        query.addresses = NULL;
    }
    close(fd);
    return query.addresses;
}

static gboolean
link_exists(const char *name)
{
    g_autoptr(PodvmNl) nl = podvm_nl_open(NULL);
    g_autoptr(GError) error = NULL;
    PodvmLinkInfo info;

    g_assert_nonnull(nl);
    if (podvm_nl_link_get(nl, name, &info, &error))
        return TRUE;
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    return FALSE;
}

/* The veth links of this (the test's host) namespace. */
static guint
count_veths(void)
{
    g_autoptr(GDir) dir = g_dir_open("/sys/class/net", 0, NULL);
    const char *name;
    guint count = 0;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)) != NULL) {
        if (g_str_has_prefix(name, "veth"))
            count++;
    }
    return count;
}

/* host-local's leases for network @name: files named by an address, under ipam/NAME. */
static guint
count_leases(Fixture *f, const char *name)
{
    g_autofree char *path = g_build_filename(f->ipam, name, NULL);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *entry;
    guint count = 0;

    if (dir == NULL)
        return 0;
    while ((entry = g_dir_read_name(dir)) != NULL) {
        g_autoptr(GInetAddress) address = g_inet_address_new_from_string(entry);
        if (address != NULL)
            count++;
    }
    return count;
}

static gboolean
has_address_in(GPtrArray *addresses, const char *prefix)
{
    for (guint i = 0; addresses != NULL && i < addresses->len; i++) {
        if (g_str_has_prefix(g_ptr_array_index(addresses, i), prefix))
            return TRUE;
    }
    return FALSE;
}

/* The ruleset (nft sees iptables-nft's rules too). */
static char *
ruleset(void)
{
    const char *argv[] = { "nft", "list", "ruleset", NULL };
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               NULL, &status, &error));
    g_assert_no_error(error);
    return g_steal_pointer(&out);
}

/* Chains a pod's ADD made (bridge's ipMasq: "CNI-<hash>"), not the firewall's shared ones. */
static guint
count_pod_chains(const char *rules)
{
    guint count = 0;

    for (const char *p = strstr(rules, "chain CNI-"); p != NULL; p = strstr(p + 1, "chain CNI-")) {
        if (!g_str_has_prefix(p, "chain CNI-FORWARD ") && !g_str_has_prefix(p, "chain CNI-ADMIN "))
            count++;
    }
    return count;
}

static void
test_add_del_check(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniResult) result = NULL;
    g_autoptr(GPtrArray) addresses = NULL;
    PodvmCniAttachment attachment = { "4f1c2a9e-0b7d-4c55-9a51-0d3c2b1e7f60", f->netns, "eth0" };
    g_autofree char *rules = NULL;
    g_autofree char *pod_v4 = NULL;
    const char *veth = NULL;
    gboolean has_eth0 = FALSE;

    if (!require_plugins())
        return;
    network = podvm_cni_network_find(&f->settings, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->source, ==, "built-in");

    result = cni_add(f, network, &attachment, &error);
    g_assert_no_error(error);
    g_assert_nonnull(result);
    g_test_message("the result: %s", result->json);

    /* The pod's eth0 holds an address of each range. */
    addresses = pod_addresses(f->netns, "eth0");
    g_assert_nonnull(addresses);
    g_assert_true(has_address_in(addresses, "10.66."));
    g_assert_true(has_address_in(addresses, "fd66:706f:6476:"));
    g_assert_cmpuint(result->ips->len, ==, 2);
    g_assert_true(g_str_has_prefix(((PodvmCniIp *)result->ips->pdata[0])->address, "10.66."));
    g_assert_cmpstr(((PodvmCniIp *)result->ips->pdata[0])->gateway, ==, "10.66.0.1");
    for (guint i = 0; i < result->interfaces->len; i++) {
        PodvmCniInterface *iface = result->interfaces->pdata[i];

        if (g_str_equal(iface->name, "eth0") && g_strcmp0(iface->sandbox, f->netns) == 0)
            has_eth0 = TRUE;
        if (g_str_has_prefix(iface->name, "veth"))
            veth = iface->name;
    }
    g_assert_true(has_eth0);
    g_assert_nonnull(veth);
    {
        const char *address = ((PodvmCniIp *)result->ips->pdata[0])->address;

        /* "10.66.0.2 ", not "10.66.0.20" */
        pod_v4 = g_strdup_printf("%.*s ", (int)strcspn(address, "/"), address);
    }
    /* The bridge and the veth are in the test's (the host's) namespace; a lease of each family. */
    g_assert_true(link_exists("podvm0"));
    g_assert_true(link_exists(veth));
    g_assert_cmpuint(count_leases(f, "podvm"), ==, 2);

    /* bridge's ipMasq and firewall's rules for the pod (named by its id and address). */
    rules = ruleset();
    g_assert_nonnull(strstr(rules, pod_v4));
    g_assert_nonnull(strstr(rules, "fd66:706f:6476::2 "));
    g_assert_cmpuint(count_pod_chains(rules), ==, 2); /* ip and ip6 nat */

    g_assert_true(cni_check(f, network, &attachment, result->json, &error));
    g_assert_no_error(error);
    /* CHECK without the ADD's result cannot run. */
    g_assert_false(cni_check(f, network, &attachment, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    g_assert_true(cni_del(f, network, &attachment, result->json, &error));
    g_assert_no_error(error);
    g_assert_false(link_exists(veth));
    g_assert_cmpuint(count_veths(), ==, 0);
    g_assert_cmpuint(count_leases(f, "podvm"), ==, 0);
    g_clear_pointer(&rules, g_free);
    /* Only the firewall plugin's shared chains (CNI-FORWARD, CNI-ADMIN) stay. */
    rules = ruleset();
    g_assert_null(strstr(rules, pod_v4));
    g_assert_null(strstr(rules, "fd66:706f:6476::2 "));
    g_assert_cmpuint(count_pod_chains(rules), ==, 0);
    g_clear_pointer(&addresses, g_ptr_array_unref);
    addresses = pod_addresses(f->netns, "eth0");
    g_assert_null(addresses);
    /* CHECK now fails, naming a plugin. */
    g_assert_false(cni_check(f, network, &attachment, result->json, &error));
    g_assert_nonnull(error);
    g_assert_nonnull(strstr(error->message, "CNI plugin '"));
    g_clear_error(&error);
    /* DEL again (and without a stored result): absent things are not errors. */
    g_assert_true(cni_del(f, network, &attachment, result->json, &error));
    g_assert_no_error(error);
    g_assert_true(cni_del(f, network, &attachment, NULL, &error));
    g_assert_no_error(error);
}

/* Three pods' ADDs at once on one network (host-local's lock, one bridge): distinct addresses. */
static void
test_concurrent(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    char *dirs[3], *paths[3], ids[3][16];
    PodvmCniAttachment attachments[3];
    PodvmCniResult *results[3];
    Waiter waiters[3] = { { 0 } };

    if (!require_plugins())
        return;
    network = podvm_cni_network_find(&f->settings, NULL, &error);
    g_assert_no_error(error);
    for (guint i = 0; i < 3; i++) {
        dirs[i] = podvm_test_mkdtemp();
        paths[i] = g_build_filename(dirs[i], "netns", NULL);
        g_assert_true(podvm_netns_create(paths[i], &error));
        g_assert_no_error(error);
        g_snprintf(ids[i], sizeof ids[i], "pod-%u", i);
        attachments[i] = (PodvmCniAttachment){ ids[i], paths[i], "eth0" };
        podvm_cni_add_async(&f->settings, network, &attachments[i], NULL, done_cb, &waiters[i]);
    }
    for (guint i = 0; i < 3; i++) {
        results[i] = podvm_cni_add_finish(wait_result(&waiters[i]), &error);
        g_assert_no_error(error);
        g_object_unref(waiters[i].result);
        waiters[i].result = NULL;
        g_assert_cmpuint(results[i]->ips->len, ==, 2);
        for (guint j = 0; j < 2; j++) {
            const char *address = ((PodvmCniIp *)results[i]->ips->pdata[j])->address;

            g_assert_false(g_hash_table_contains(seen, address));
            g_hash_table_add(seen, (gpointer)address);
        }
    }
    g_assert_cmpuint(count_veths(), ==, 3);
    g_assert_cmpuint(count_leases(f, "podvm"), ==, 6);
    for (guint i = 0; i < 3; i++)
        podvm_cni_del_async(&f->settings, network, &attachments[i], results[i]->json, NULL, done_cb,
                            &waiters[i]);
    for (guint i = 0; i < 3; i++) {
        g_assert_true(podvm_cni_del_finish(wait_result(&waiters[i]), &error));
        g_assert_no_error(error);
        g_object_unref(waiters[i].result);
    }
    g_assert_cmpuint(count_veths(), ==, 0);
    g_assert_cmpuint(count_leases(f, "podvm"), ==, 0);
    g_hash_table_remove_all(seen);
    for (guint i = 0; i < 3; i++) {
        podvm_cni_result_free(results[i]);
        g_assert_true(podvm_netns_remove(paths[i], &error));
        g_assert_no_error(error);
        podvm_test_rmrf(dirs[i]);
        g_free(dirs[i]);
        g_free(paths[i]);
    }
}

/* A conflist of the default bridge then @second. */
static PodvmCniNetwork *
bridge_then(Fixture *f, const char *second)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = g_strdup_printf(
        "{\"cniVersion\": \"1.0.0\", \"name\": \"twostep\", \"plugins\": [{\"type\": \"bridge\", "
        "\"bridge\": \"podvm1\", \"isGateway\": true, \"ipam\": {\"type\": \"host-local\", "
        "\"dataDir\": \"%s\", \"ranges\": [[{\"subnet\": \"10.67.0.0/16\"}]]}}, %s]}",
        f->ipam, second);
    PodvmCniNetwork *network = podvm_cni_network_parse(text, -1, "test", &error);

    g_assert_no_error(error);
    return network;
}

static void
test_portmap(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniResult) result = NULL;
    g_autofree char *before = NULL;
    g_autofree char *during = NULL;
    g_autofree char *after = NULL;
    const PodvmCniPortMapping ports[] = { { "tcp", 18080, 80 }, { "udp", 15353, 53 } };
    PodvmCniAttachment attachment = { "portmap-pod", f->netns, "eth0", ports, 2 };

    if (!require_plugins())
        return;
    network = podvm_cni_network_find(&f->settings, NULL, &error);
    g_assert_no_error(error);
    before = ruleset();
    g_assert_null(strstr(before, "18080"));

    result = cni_add(f, network, &attachment, &error);
    g_assert_no_error(error);
    during = ruleset();
    g_assert_nonnull(strstr(during, "dport 18080"));
    g_assert_nonnull(strstr(during, "dport 15353"));
    /* CHECK with ports: see below. */
    g_assert_true(cni_del(f, network, &attachment, result->json, &error));
    g_assert_no_error(error);
    after = ruleset();
    g_assert_null(strstr(after, "18080"));
    g_assert_null(strstr(after, "15353"));
    g_assert_cmpuint(count_veths(), ==, 0);
    g_assert_cmpuint(count_leases(f, "podvm"), ==, 0);

    /* IPv4 only, and CHECK with ports. */
    {
        g_autoptr(PodvmCniNetwork) v4 =
            bridge_then(f, "{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}");
        g_autoptr(PodvmCniResult) v4_result = cni_add(f, v4, &attachment, &error);
        g_autofree char *v4_rules = NULL;

        g_assert_no_error(error);
        v4_rules = ruleset();
        g_assert_nonnull(strstr(v4_rules, "dport 18080"));
        /*
         * portmap 1.1.1 (Debian 12) checks the IPv4 rules in the ip6 nat table
         * as well and fails CHECK with port mappings wherever ip6tables works;
         * anything else is a failure of ours.
         */
        if (!cni_check(f, v4, &attachment, v4_result->json, &error)) {
            g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
            if (strstr(error->message, "CNI plugin 'portmap' (CHECK) failed: could not check "
                                       "ipv6 dnat") == NULL)
                g_error("CHECK failed: %s", error->message);
            g_test_message("portmap's known CHECK bug: %s", error->message);
            g_clear_error(&error);
        }
        g_assert_true(cni_del(f, v4, &attachment, v4_result->json, &error));
        g_assert_no_error(error);
        g_clear_pointer(&v4_rules, g_free);
        v4_rules = ruleset();
        g_assert_null(strstr(v4_rules, "18080"));
        g_assert_cmpuint(count_veths(), ==, 0);
        g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
    }

    /* Bad mappings are refused before any plugin runs. */
    {
        const PodvmCniPortMapping bad[] = { { "sctp", 1, 2 } };
        const PodvmCniPortMapping zero[] = { { "tcp", 0, 80 } };
        PodvmCniAttachment a1 = { "portmap-pod", f->netns, "eth0", bad, 1 };
        PodvmCniAttachment a2 = { "portmap-pod", f->netns, "eth0", zero, 1 };
        g_autoptr(PodvmCniResult) none = cni_add(f, network, &a1, &error);

        g_assert_null(none);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(cni_add(f, network, &a2, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
}

static void
test_add_fails_undone(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    PodvmCniAttachment attachment = { "failing-pod", f->netns, "eth0" };
    g_autofree char *log = g_build_filename(f->dir, "fake.log", NULL);
    g_autofree char *script = NULL;

    if (!require_plugins())
        return;
    /* Fails ADD with an error result; records each call. */
    script = g_strdup_printf(
        "echo \"$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME\" >> %s\n"
        "cat > /dev/null\n"
        "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
        "  echo '{\"cniVersion\": \"1.0.0\", \"code\": 11, \"msg\": \"no more room\", "
        "\"details\": \"the pool is full\"}'\n"
        "  exit 1\n"
        "fi\n"
        "exit 0\n",
        log);
    fake_plugin(f, "podvm-test-fail", script);

    {
        g_autoptr(PodvmCniNetwork) network = bridge_then(f, "{\"type\": \"podvm-test-fail\"}");
        g_autoptr(PodvmCniResult) result = cni_add(f, network, &attachment, &error);
        g_autofree char *calls = NULL;

        g_assert_null(result);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "CNI plugin 'podvm-test-fail' (ADD) failed"));
        g_assert_nonnull(strstr(error->message, "no more room: the pool is full (code 11)"));
        g_clear_error(&error);
        /* Undone: DEL ran for the whole list, the failed plugin too. */
        g_assert_cmpuint(count_veths(), ==, 0);
        g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
        g_assert_null(pod_addresses(f->netns, "eth0"));
        g_assert_true(g_file_get_contents(log, &calls, NULL, NULL));
        g_assert_cmpstr(calls, ==, "ADD failing-pod eth0\nDEL failing-pod eth0\n");
    }
    /* Its DEL fails too: the ADD's error says so; the bridge is undone all the same. */
    {
        g_autoptr(PodvmCniNetwork) network = bridge_then(f, "{\"type\": \"podvm-test-fail2\"}");
        g_autoptr(PodvmCniResult) result = NULL;

        fake_plugin(f, "podvm-test-fail2",
                    "echo \"{\\\"code\\\": 7, \\\"msg\\\": \\\"$CNI_COMMAND refused\\\"}\"\n"
                    "exit 1\n");
        result = cni_add(f, network, &attachment, &error);
        g_assert_null(result);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "CNI plugin 'podvm-test-fail2' (ADD) failed: ADD "
                                                "refused (code 7) (undoing it failed too: CNI "
                                                "plugin 'podvm-test-fail2' (DEL) failed: DEL "
                                                "refused (code 7))"));
        g_clear_error(&error);
        g_assert_cmpuint(count_veths(), ==, 0);
        g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
    }
    /* A plugin that is not installed: the same. */
    {
        g_autoptr(PodvmCniNetwork) network = bridge_then(f, "{\"type\": \"no-such-plugin\"}");
        g_autoptr(PodvmCniResult) result = cni_add(f, network, &attachment, &error);

        g_assert_null(result);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "CNI plugin 'no-such-plugin' is not in"));
        g_assert_nonnull(strstr(error->message, DEBIAN_PLUGINS));
        /* Its DEL could not run either; that is not an undo failure. */
        g_assert_null(strstr(error->message, "undoing it failed"));
        g_clear_error(&error);
        g_assert_cmpuint(count_veths(), ==, 0);
        g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
        g_assert_null(pod_addresses(f->netns, "eth0"));
    }
    /* A plugin whose result podvm refuses: the ADD fails and is undone. */
    {
        g_autoptr(PodvmCniNetwork) network = bridge_then(f, "{\"type\": \"podvm-test-bad\"}");
        g_autoptr(PodvmCniResult) result = NULL;

        fake_plugin(f, "podvm-test-bad",
                    "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                    "  echo '{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": "
                    "\"10.67.0.9/16\", \"interface\": 7}]}'\n"
                    "fi\n");
        result = cni_add(f, network, &attachment, &error);
        g_assert_null(result);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "'podvm-test-bad' (ADD) gave a result podvm "
                                                "refuses"));
        g_assert_nonnull(strstr(error->message, "interface 7 is not an index"));
        g_clear_error(&error);
        g_assert_cmpuint(count_veths(), ==, 0);
        g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
    }
    /* DEL goes on past a failing plugin and reports the first error. */
    {
        g_autoptr(PodvmCniNetwork) network = bridge_then(f, "{\"type\": \"podvm-test-del\"}");
        g_autoptr(PodvmCniResult) result = NULL;

        fake_plugin(f, "podvm-test-del",
                    "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                    "  sed -n 's/.*\"prevResult\":\\({.*}\\)}$/\\1/p'\n"
                    "  exit 0\n"
                    "fi\n"
                    "echo 'not json' >&2\n"
                    "exit 3\n");
        result = cni_add(f, network, &attachment, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(count_veths(), ==, 1);
        g_assert_cmpuint(count_leases(f, "twostep"), ==, 1);
        g_assert_false(cni_del(f, network, &attachment, result->json, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "'podvm-test-del' (DEL) failed: not json"));
        g_clear_error(&error);
        /* The bridge plugin still ran. */
        g_assert_cmpuint(count_veths(), ==, 0);
        g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
    }
}

static void
test_timeout(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniResult) result = NULL;
    PodvmCniAttachment attachment = { "hanging-pod", f->netns, "eth0" };
    g_autofree char *pid_file = g_build_filename(f->dir, "hang.pid", NULL);
    g_autofree char *script = NULL;
    g_autofree char *pid_text = NULL;
    gint64 start;
    pid_t pid;

    if (!require_plugins())
        return;
    script = g_strdup_printf("if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                             "  echo $$ > %s\n"
                             "  exec sleep 600\n"
                             "fi\n",
                             pid_file);
    fake_plugin(f, "podvm-test-hang", script);
    network = bridge_then(f, "{\"type\": \"podvm-test-hang\"}");
    f->settings.timeout_ms = 1000;
    start = g_get_monotonic_time();
    result = cni_add(f, network, &attachment, &error);
    g_assert_null(result);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(error->message, "'podvm-test-hang' (ADD) did not finish within "
                                            "1000 ms and was killed"));
    /* Killed at the timeout, then undone (bridge DEL and the hanging plugin's DEL). */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 15 * G_USEC_PER_SEC);
    g_assert_true(g_file_get_contents(pid_file, &pid_text, NULL, NULL));
    pid = (pid_t)g_ascii_strtoll(pid_text, NULL, 10);
    g_assert_cmpint(pid, >, 1);
    g_assert_cmpint(kill(pid, 0), ==, -1);
    g_assert_cmpint(errno, ==, ESRCH);
    g_assert_cmpuint(count_veths(), ==, 0);
    g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
}

static gboolean
cancel_cb(gpointer user_data)
{
    g_cancellable_cancel(user_data);
    return G_SOURCE_REMOVE;
}

/* The caller's cancellable kills the plugin; the ADD is still undone. */
static void
test_cancel(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniResult) result = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    PodvmCniAttachment attachment = { "cancelled-pod", f->netns, "eth0" };
    g_autofree char *pid_file = g_build_filename(f->dir, "hang.pid", NULL);
    g_autofree char *script = NULL;
    g_autofree char *pid_text = NULL;
    Waiter waiter = { 0 };
    gint64 start;
    pid_t pid;

    if (!require_plugins())
        return;
    script = g_strdup_printf("if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                             "  echo $$ > %s\n"
                             "  exec sleep 600\n"
                             "fi\n",
                             pid_file);
    fake_plugin(f, "podvm-test-hang", script);
    network = bridge_then(f, "{\"type\": \"podvm-test-hang\"}");
    start = g_get_monotonic_time();
    podvm_cni_add_async(&f->settings, network, &attachment, cancellable, done_cb, &waiter);
    g_assert_true(podvm_test_wait_for_file_content(pid_file, "\n", 20000));
    g_timeout_add(100, cancel_cb, cancellable);
    result = podvm_cni_add_finish(wait_result(&waiter), &error);
    g_object_unref(waiter.result);
    g_assert_null(result);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_CANCELLED);
    g_assert_nonnull(strstr(error->message, "'podvm-test-hang' (ADD) was cancelled"));
    /* Well before the 20 s timeout. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 15 * G_USEC_PER_SEC);
    g_assert_true(g_file_get_contents(pid_file, &pid_text, NULL, NULL));
    pid = (pid_t)g_ascii_strtoll(pid_text, NULL, 10);
    g_assert_cmpint(pid, >, 1);
    g_assert_cmpint(kill(pid, 0), ==, -1);
    g_assert_cmpint(errno, ==, ESRCH);
    g_assert_cmpuint(count_veths(), ==, 0);
    g_assert_cmpuint(count_leases(f, "twostep"), ==, 0);
}

static void
test_bad_calls(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniNetwork) sriov = NULL;
    PodvmCniAttachment bad_id = { "a/b", f->netns, "eth0" };
    PodvmCniAttachment bad_if = { "pod", f->netns, "eth0/x" };
    PodvmCniAttachment bad_ns = { "pod", "netns", "eth0" };
    PodvmCniAttachment good = { "pod", f->netns, "eth0" };

    if (!require_plugins())
        return;
    network = podvm_cni_network_find(&f->settings, NULL, &error);
    g_assert_no_error(error);
    g_assert_null(cni_add(f, network, &bad_id, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "'a/b' is not a CNI container id"));
    g_clear_error(&error);
    g_assert_null(cni_add(f, network, &bad_if, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "'eth0/x' is not an interface name"));
    g_clear_error(&error);
    g_assert_null(cni_add(f, network, &bad_ns, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    /* A stored result that is not one. */
    g_assert_false(cni_del(f, network, &good, "{\"cniVersion\":\"1.0.0\",\"ips\":[{}]}", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "the stored CNI result of network 'podvm'"));
    g_clear_error(&error);
    /* An SR-IOV network runs no plugin. */
    sriov = podvm_cni_network_parse("{\"cniVersion\": \"1.0.0\", \"name\": \"fast\", "
                                    "\"plugins\": [{\"type\": \"podvm-sriov\", \"pool\": \"p1\"}]}",
                                    -1, "test", &error);
    g_assert_no_error(error);
    g_assert_null(cni_add(f, sriov, &good, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_clear_error(&error);
    g_assert_cmpuint(count_veths(), ==, 0);
    /* A plugin whose output is too large is killed and refused. */
    {
        g_autoptr(PodvmCniNetwork) loud = NULL;

        fake_plugin(f, "podvm-test-loud",
                    "if [ \"$CNI_COMMAND\" = ADD ]; then exec yes '{}'; fi\n");
        loud = podvm_cni_network_parse("{\"cniVersion\": \"1.0.0\", \"name\": \"loud\", "
                                       "\"plugins\": [{\"type\": \"podvm-test-loud\"}]}",
                                       -1, "test", &error);
        g_assert_no_error(error);
        g_assert_null(cni_add(f, loud, &good, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "wrote more than 1048576 bytes"));
        g_clear_error(&error);
    }
}

/* What a plugin gets: argv, environment, stdin (name, cniVersion, prevResult, runtimeConfig). */
static void
test_plugin_input(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniResult) result = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *dump = g_build_filename(f->dir, "dump", NULL);
    g_autofree char *script = NULL;
    g_autofree char *env = NULL;
    g_autofree char *args = NULL;
    g_autofree char *stdin_path = g_strconcat(dump, ".stdin", NULL);
    g_autofree char *env_path = g_strconcat(dump, ".env", NULL);
    g_autofree char *args_path = g_strconcat(dump, ".args", NULL);
    g_autofree char *expected_path = NULL;
    const PodvmCniPortMapping ports[] = { { "tcp", 8080, 80 } };
    PodvmCniAttachment attachment = { "input-pod", f->netns, "net1", ports, 1 };
    JsonObject *config, *runtime;

    if (!require_plugins())
        return;
    script = g_strdup_printf("if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                             "  cat > %s.stdin\n"
                             "  env | sort > %s.env\n"
                             "  echo \"$# $0\" > %s.args\n"
                             "  echo '{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": "
                             "\"192.0.2.5/24\"}]}'\n"
                             "fi\n",
                             dump, dump, dump);
    fake_plugin(f, "podvm-test-dump", script);
    network = podvm_cni_network_parse(
        "{\"cniVersion\": \"0.4.0\", \"name\": \"dump\", \"plugins\": [{\"type\": "
        "\"podvm-test-dump\", \"capabilities\": {\"portMappings\": true}, \"x\": [1]}]}",
        -1, "test", &error);
    g_assert_no_error(error);
    result = cni_add(f, network, &attachment, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(((PodvmCniIp *)result->ips->pdata[0])->address, ==, "192.0.2.5/24");

    g_assert_true(json_parser_load_from_file(parser, stdin_path, &error));
    g_assert_no_error(error);
    config = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(config, "name"), ==, "dump");
    g_assert_cmpstr(json_object_get_string_member(config, "cniVersion"), ==, "0.4.0");
    g_assert_cmpstr(json_object_get_string_member(config, "type"), ==, "podvm-test-dump");
    g_assert_false(json_object_has_member(config, "prevResult"));
    runtime = json_object_get_object_member(config, "runtimeConfig");
    {
        JsonObject *mapping =
            json_array_get_object_element(json_object_get_array_member(runtime, "portMappings"), 0);

        g_assert_cmpint(json_object_get_int_member(mapping, "hostPort"), ==, 8080);
        g_assert_cmpint(json_object_get_int_member(mapping, "containerPort"), ==, 80);
        g_assert_cmpstr(json_object_get_string_member(mapping, "protocol"), ==, "tcp");
    }
    g_assert_true(g_file_get_contents(env_path, &env, NULL, NULL));
    g_assert_nonnull(strstr(env, "CNI_COMMAND=ADD\n"));
    g_assert_nonnull(strstr(env, "CNI_CONTAINERID=input-pod\n"));
    g_assert_nonnull(strstr(env, "CNI_IFNAME=net1\n"));
    {
        g_autofree char *netns_line = g_strdup_printf("CNI_NETNS=%s\n", f->netns);
        g_autofree char *path_line =
            g_strdup_printf("CNI_PATH=%s:%s\n", f->fake_dir, DEBIAN_PLUGINS);

        g_assert_nonnull(strstr(env, netns_line));
        g_assert_nonnull(strstr(env, path_line));
    }
    g_assert_null(strstr(env, "G_TEST_SRCDIR"));
    g_assert_null(strstr(env, "G_DEBUG"));
    g_assert_true(g_file_get_contents(args_path, &args, NULL, NULL));
    expected_path = g_strdup_printf("0 %s/podvm-test-dump\n", f->fake_dir);
    g_assert_cmpstr(args, ==, expected_path);
}

int
main(int argc, char **argv)
{
    /* Before g_test_init() and anything else that could start a thread. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);

    g_test_init(&argc, &argv, NULL);
#define ADD_PLUGIN_TEST(path, func) \
    g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
    ADD_PLUGIN_TEST("/podvm/net/cni/run/add-del-check", test_add_del_check);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/concurrent", test_concurrent);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/portmap", test_portmap);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/add-fails-undone", test_add_fails_undone);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/timeout", test_timeout);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/cancel", test_cancel);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/bad-calls", test_bad_calls);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/plugin-input", test_plugin_input);
#undef ADD_PLUGIN_TEST
    return g_test_run();
}
