/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CNI (net/podvm-cni*.c): conflists and results refused or taken, the
 * [network] settings of podvmd.conf, and ADD/DEL/CHECK with Debian's real
 * plugins (bridge, host-local, portmap, firewall) into pod namespaces made
 * with podvm_netns_create(), all inside this program's own network and
 * mount namespace (podvm_test_netns_enter()). Fake plugins (small scripts in
 * the test's directory) fail, hang or give bad results.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-cni.h"
#include "podvm-config.h"
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

/* ---- conflists ------------------------------------------------------------------- */

static void
assert_conflist_refused(const char *text, const char *message_part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = podvm_cni_network_parse(text, -1, "test", &error);

    g_assert_null(network);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    if (strstr(error->message, message_part) == NULL)
        g_error("expected '%s' in: %s", message_part, error->message);
    g_assert_nonnull(strstr(error->message, "CNI network test"));
}

static void
test_conflist_parse(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniNetwork) sriov = NULL;
    g_autoptr(GString) many =
        g_string_new("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[");
    g_autofree char *huge = NULL;

    network = podvm_cni_network_parse(
        "{\"cniVersion\": \"0.4.0\", \"name\": \"lan.1_x-y\", \"plugins\": ["
        "{\"type\": \"macvlan\", \"master\": \"eth0\", \"ipam\": {\"type\": \"dhcp\"}},"
        "{\"type\": \"tuning\"}]}",
        -1, "lan.conflist", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->name, ==, "lan.1_x-y");
    g_assert_cmpstr(network->source, ==, "lan.conflist");
    g_assert_cmpstr(network->first_type, ==, "macvlan");
    g_assert_null(network->sriov_pool);
    g_assert_nonnull(strstr(network->conflist, "\"master\": \"eth0\""));

    sriov = podvm_cni_network_parse("{\"cniVersion\": \"1.0.0\", \"name\": \"fast\", "
                                    "\"plugins\": [{\"type\": \"podvm-sriov\", \"pool\": \"p1\"}]}",
                                    -1, "fast.conflist", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(sriov->first_type, ==, "podvm-sriov");
    g_assert_cmpstr(sriov->sriov_pool, ==, "p1");

#define HEAD "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", "
    assert_conflist_refused("", "not a JSON document");
    assert_conflist_refused("{\"cniVersion\": \"1.0.0\",}", "not a JSON document");
    assert_conflist_refused("{\"a\": 1} {\"b\": 2}", "not a JSON document");
    assert_conflist_refused("[]", "must be a JSON object");
    assert_conflist_refused("{\"name\": \"n\", \"plugins\": [{\"type\": \"bridge\"}]}",
                            "cniVersion must be a string");
    assert_conflist_refused("{\"cniVersion\": \"0.3.1\", \"name\": \"n\", \"plugins\": "
                            "[{\"type\": \"bridge\"}]}",
                            "cniVersion '0.3.1' is not supported");
    assert_conflist_refused("{\"cniVersion\": \"1.0.0\", \"plugins\": [{\"type\": \"bridge\"}]}",
                            "name must be a string");
    assert_conflist_refused("{\"cniVersion\": \"1.0.0\", \"name\": \"../x\", \"plugins\": "
                            "[{\"type\": \"bridge\"}]}",
                            "name '../x' is not a network name");
    assert_conflist_refused("{\"cniVersion\": \"1.0.0\", \"name\": \"-x\", \"plugins\": "
                            "[{\"type\": \"bridge\"}]}",
                            "is not a network name");
    assert_conflist_refused(HEAD "\"plugins\": []}", "plugins must be an array of at least one");
    assert_conflist_refused(HEAD "\"plugins\": {}}", "plugins must be an array");
    assert_conflist_refused(HEAD "\"plugins\": [1]}", "plugins[0] must be an object");
    assert_conflist_refused(HEAD "\"plugins\": [{}]}", "plugins[0].type must be a string");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"../../bin/sh\"}]}",
                            "plugins[0].type '../../bin/sh' must be a plain file name");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"bridge\"}, {\"type\": \"..\"}]}",
                            "plugins[1].type '..' must be a plain file name");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"/bin/sh\"}]}", "plain file name");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"\"}]}", "plain file name");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"a b\"}]}", "plain file name");
    assert_conflist_refused(HEAD
                            "\"plugins\": [{\"type\": \"b\", \"ipam\": {\"type\": \"../x\"}}]}",
                            "plugins[0].ipam.type must be a plain file name");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"b\", \"ipam\": 3}]}",
                            "plugins[0].ipam must be an object");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"b\", \"capabilities\": true}]}",
                            "plugins[0].capabilities must be an object");
    assert_conflist_refused(HEAD "\"disableCheck\": \"yes\", \"plugins\": [{\"type\": \"b\"}]}",
                            "disableCheck must be true or false");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"podvm-sriov\"}]}",
                            "plugins[0].pool must name an SR-IOV pool");
    assert_conflist_refused(HEAD "\"plugins\": [{\"type\": \"podvm-sriov\", \"pool\": \"a/b\"}]}",
                            "plugins[0].pool must name an SR-IOV pool");
    assert_conflist_refused(
        HEAD "\"plugins\": [{\"type\": \"b\"}, {\"type\": \"podvm-sriov\", \"pool\": \"p\"}]}",
        "plugins[1]: podvm-sriov must be the first plugin");
#undef HEAD
    for (guint i = 0; i < 17; i++)
        g_string_append_printf(many, "%s{\"type\":\"tuning\"}", i > 0 ? "," : "");
    g_string_append(many, "]}");
    assert_conflist_refused(many->str, "more than 16 plugins");
    huge = g_strdup_printf("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":"
                           "\"b\",\"pad\":\"%0300000d\"}]}",
                           0);
    assert_conflist_refused(huge, "not a JSON document");
}

static void
test_default_conflist(void)
{
    PodvmCniSettings settings = { .ipam_dir = (char *)"/var/lib/x \"y\"/cni" };
    g_autofree char *text = podvm_cni_default_conflist(&settings);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = podvm_cni_network_parse(text, -1, "built-in", &error);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root, *bridge, *ipam;
    JsonArray *plugins, *ranges, *routes;

    g_assert_no_error(error);
    g_assert_cmpstr(network->name, ==, "podvm");
    g_assert_cmpstr(network->first_type, ==, "bridge");
    g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
    root = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(root, "cniVersion"), ==, "1.0.0");
    plugins = json_object_get_array_member(root, "plugins");
    g_assert_cmpuint(json_array_get_length(plugins), ==, 3);
    bridge = json_array_get_object_element(plugins, 0);
    g_assert_cmpstr(json_object_get_string_member(bridge, "bridge"), ==, "podvm0");
    g_assert_true(json_object_get_boolean_member(bridge, "isGateway"));
    g_assert_true(json_object_get_boolean_member(bridge, "ipMasq"));
    g_assert_true(json_object_get_boolean_member(bridge, "hairpinMode"));
    ipam = json_object_get_object_member(bridge, "ipam");
    g_assert_cmpstr(json_object_get_string_member(ipam, "type"), ==, "host-local");
    /* Escaped, not pasted. */
    g_assert_cmpstr(json_object_get_string_member(ipam, "dataDir"), ==, "/var/lib/x \"y\"/cni");
    ranges = json_object_get_array_member(ipam, "ranges");
    g_assert_cmpuint(json_array_get_length(ranges), ==, 2);
    g_assert_cmpstr(
        json_object_get_string_member(
            json_array_get_object_element(json_array_get_array_element(ranges, 0), 0), "subnet"),
        ==, "10.66.0.0/16");
    g_assert_cmpstr(
        json_object_get_string_member(
            json_array_get_object_element(json_array_get_array_element(ranges, 1), 0), "subnet"),
        ==, "fd66:706f:6476::/64");
    routes = json_object_get_array_member(ipam, "routes");
    g_assert_cmpuint(json_array_get_length(routes), ==, 2);
    g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(routes, 0), "dst"),
                    ==, "0.0.0.0/0");
    g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(routes, 1), "dst"),
                    ==, "::/0");
    g_assert_cmpstr(
        json_object_get_string_member(json_array_get_object_element(plugins, 1), "type"), ==,
        "portmap");
    g_assert_true(json_object_get_boolean_member(
        json_object_get_object_member(json_array_get_object_element(plugins, 1), "capabilities"),
        "portMappings"));
    g_assert_cmpstr(
        json_object_get_string_member(json_array_get_object_element(plugins, 2), "type"), ==,
        "firewall");
}

/* data/podvm.conflist (installed in SYSCONFDIR/podvm/cni) is the built-in default. */
static void
test_installed_conflist(void)
{
    g_autofree char *path =
        g_test_build_filename(G_TEST_BUILT, "..", "data", "podvm.conflist", NULL);
    g_autoptr(JsonParser) installed = json_parser_new();
    g_autoptr(JsonParser) built_in = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *file_text = NULL;
    PodvmCniSettings settings = { 0 };
    JsonObject *ipam;

    g_assert_true(g_file_get_contents(path, &file_text, NULL, &error));
    g_assert_no_error(error);
    {
        g_autoptr(PodvmCniNetwork) network = podvm_cni_network_parse(file_text, -1, path, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(network->name, ==, "podvm");
    }
    g_assert_true(json_parser_load_from_data(installed, file_text, -1, NULL));
    ipam = json_object_get_object_member(
        json_array_get_object_element(
            json_object_get_array_member(json_node_get_object(json_parser_get_root(installed)),
                                         "plugins"),
            0),
        "ipam");
    g_assert_true(g_str_has_suffix(json_object_get_string_member(ipam, "dataDir"),
                                   "/lib/podvm/cni/networks"));
    settings.ipam_dir = (char *)json_object_get_string_member(ipam, "dataDir");
    text = podvm_cni_default_conflist(&settings);
    g_assert_true(json_parser_load_from_data(built_in, text, -1, NULL));
    g_assert_true(json_node_equal(json_parser_get_root(installed), json_parser_get_root(built_in)));
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, text, -1, &error));
    g_assert_no_error(error);
}

static void
test_network_find(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *conf = g_build_filename(dir, "cni", NULL);
    g_autofree char *ipam = g_build_filename(dir, "ipam", NULL);
    PodvmCniSettings settings = { .config_dir = conf, .ipam_dir = ipam };
    g_autoptr(GError) error = NULL;
    PodvmCniNetwork *network;

    /* No directory at all: the built-in default; by its name too. */
    network = podvm_cni_network_find(&settings, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->name, ==, "podvm");
    g_assert_cmpstr(network->source, ==, "built-in");
    g_assert_nonnull(strstr(network->conflist, ipam));
    podvm_cni_network_free(network);
    network = podvm_cni_network_find(&settings, "podvm", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->source, ==, "built-in");
    podvm_cni_network_free(network);
    network = podvm_cni_network_find(&settings, "lan", &error);
    g_assert_null(network);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "'lan'"));
    g_assert_nonnull(strstr(error->message, conf));
    g_clear_error(&error);
    network = podvm_cni_network_find(&settings, "../etc", &error);
    g_assert_null(network);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    /* Conflists: the first in name order is the default; others by name or file name. */
    g_assert_cmpint(g_mkdir(conf, 0700), ==, 0);
    write_file(conf, "20-lan.conflist",
               "{\"cniVersion\": \"1.0.0\", \"name\": \"lan\", \"plugins\": [{\"type\": "
               "\"macvlan\", \"master\": \"eth0\", \"ipam\": {\"type\": \"host-local\", "
               "\"subnet\": \"192.0.2.0/24\"}}]}");
    write_file(conf, "10-main.conflist",
               "{\"cniVersion\": \"1.0.0\", \"name\": \"main\", \"plugins\": [{\"type\": "
               "\"bridge\", \"ipam\": {\"type\": \"host-local\", \"dataDir\": \"/srv/x\"}}]}");
    write_file(conf, "storage.conflist",
               "{\"cniVersion\": \"1.0.0\", \"name\": \"other-name\", \"plugins\": [{\"type\": "
               "\"bridge\"}]}");
    write_file(conf, "30-bad.conflist", "{\"cniVersion\": \"1.0.0\"}");
    write_file(conf, "README", "not a conflist");
    write_file(conf, "05-skipped.conf", "{}");
    network = podvm_cni_network_find(&settings, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->name, ==, "main");
    g_assert_true(g_str_has_suffix(network->source, "/10-main.conflist"));
    /* A dataDir given is kept. */
    g_assert_nonnull(strstr(network->conflist, "/srv/x"));
    g_assert_null(strstr(network->conflist, ipam));
    podvm_cni_network_free(network);
    /* host-local without dataDir gets settings->ipam_dir. */
    network = podvm_cni_network_find(&settings, "lan", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->first_type, ==, "macvlan");
    g_assert_nonnull(strstr(network->conflist, ipam));
    podvm_cni_network_free(network);
    network = podvm_cni_network_find(&settings, "storage", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->name, ==, "other-name");
    podvm_cni_network_free(network);
    network = podvm_cni_network_find(&settings, "other-name", &error);
    g_assert_no_error(error);
    g_assert_true(g_str_has_suffix(network->source, "/storage.conflist"));
    podvm_cni_network_free(network);
    /* With conflists present, "podvm" is not the built-in any more... unless no file says so. */
    network = podvm_cni_network_find(&settings, "podvm", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(network->source, ==, "built-in");
    podvm_cni_network_free(network);
    network = podvm_cni_network_find(&settings, "missing", &error);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, conf));
    g_clear_error(&error);
    /* A bad file asked for by its file name says what is wrong with it. */
    network = podvm_cni_network_find(&settings, "30-bad", &error);
    g_assert_null(network);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "30-bad.conflist"));
    g_assert_nonnull(strstr(error->message, "name must be a string"));
    g_clear_error(&error);
    /* A bad first conflist is an error for the default network, not a silent fallback. */
    write_file(conf, "00-broken.conflist", "{");
    network = podvm_cni_network_find(&settings, NULL, &error);
    g_assert_null(network);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "00-broken.conflist"));
    g_clear_error(&error);
    podvm_test_rmrf(dir);
}

/* ---- results --------------------------------------------------------------------- */

/* A real result of the default network (bridge, host-local, portmap, firewall). */
static const char *real_result =
    "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"podvm0\",\"mac\":\"7a:1e:5b:47:"
    "6c:3d\"},{\"name\":\"veth4c1cb5f1\",\"mac\":\"be:a1:33:90:56:02\"},{\"name\":\"eth0\","
    "\"mac\":\"ea:9e:98:04:8e:14\",\"sandbox\":\"/run/podvm/pods/web/netns\"}],\"ips\":[{"
    "\"interface\":2,\"address\":\"10.66.0.2/16\",\"gateway\":\"10.66.0.1\"},{\"interface\":2,"
    "\"address\":\"fd66:706f:6476::2/64\",\"gateway\":\"fd66:706f:6476::1\"}],\"routes\":[{"
    "\"dst\":\"0.0.0.0/0\"},{\"dst\":\"::/0\",\"gw\":\"fd66:706f:6476::1\"}],\"dns\":{"
    "\"nameservers\":[\"10.66.0.1\"],\"search\":[\"example.org\"]}}";

static void
test_result_parse(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniResult) result = podvm_cni_result_parse(real_result, -1, &error);
    g_autoptr(PodvmCniResult) old = NULL;
    g_autoptr(PodvmCniResult) empty = NULL;
    PodvmCniInterface *iface;
    PodvmCniIp *ip;
    PodvmRoute *route;

    g_assert_no_error(error);
    g_assert_cmpuint(result->interfaces->len, ==, 3);
    iface = g_ptr_array_index(result->interfaces, 2);
    g_assert_cmpstr(iface->name, ==, "eth0");
    g_assert_cmpstr(iface->mac, ==, "ea:9e:98:04:8e:14");
    g_assert_cmpstr(iface->sandbox, ==, "/run/podvm/pods/web/netns");
    iface = g_ptr_array_index(result->interfaces, 0);
    g_assert_null(iface->sandbox);
    g_assert_cmpuint(result->ips->len, ==, 2);
    ip = g_ptr_array_index(result->ips, 1);
    g_assert_cmpstr(ip->address, ==, "fd66:706f:6476::2/64");
    g_assert_cmpstr(ip->gateway, ==, "fd66:706f:6476::1");
    g_assert_cmpint(ip->interface, ==, 2);
    g_assert_cmpuint(result->routes->len, ==, 2);
    route = g_ptr_array_index(result->routes, 0);
    g_assert_cmpstr(route->dst, ==, "0.0.0.0/0");
    g_assert_null(route->gateway);
    route = g_ptr_array_index(result->routes, 1);
    g_assert_cmpstr(route->gateway, ==, "fd66:706f:6476::1");
    g_assert_cmpstr(result->dns_nameservers[0], ==, "10.66.0.1");
    g_assert_null(result->dns_nameservers[1]);
    g_assert_cmpstr(result->dns_search[0], ==, "example.org");
    g_assert_nonnull(strstr(result->json, "\"10.66.0.2/16\""));

    /* 0.4.0: ips[].version; no interface index; unknown members are left alone. */
    old = podvm_cni_result_parse(
        "{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"192.0.2.9/24\"}],"
        "\"future\":{\"x\":1}}",
        -1, &error);
    g_assert_no_error(error);
    ip = g_ptr_array_index(old->ips, 0);
    g_assert_cmpint(ip->interface, ==, -1);
    g_assert_null(ip->gateway);
    g_assert_cmpuint(old->interfaces->len, ==, 0);
    empty = podvm_cni_result_parse("{\"cniVersion\":\"1.0.0\"}", -1, &error);
    g_assert_no_error(error);
    g_assert_nonnull(empty->dns_nameservers);
    g_assert_null(empty->dns_nameservers[0]);
    g_assert_nonnull(empty->dns_search);
}

static void
assert_result_refused(const char *text, const char *message_part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniResult) result = podvm_cni_result_parse(text, -1, &error);

    g_assert_null(result);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_true(g_utf8_validate(error->message, -1, NULL));
    if (strstr(error->message, message_part) == NULL)
        g_error("expected '%s' in: %s", message_part, error->message);
}

static void
test_result_refused(void)
{
    g_autoptr(GString) many = g_string_new("{\"cniVersion\":\"1.0.0\",\"ips\":[");

#define V "{\"cniVersion\":\"1.0.0\","
    assert_result_refused("", "not JSON");
    assert_result_refused("{\"cniVersion\":\"1.0.0\"} x", "not JSON");
    assert_result_refused("[1]", "$: must be an object");
    assert_result_refused("{}", "'cniVersion' is missing");
    assert_result_refused("{\"cniVersion\":1}", "'cniVersion' must be a string");
    assert_result_refused("{\"cniVersion\":\"9.9.9\"}", "version '9.9.9'");
    assert_result_refused(V "\"interfaces\":{}}", "'interfaces' must be an array");
    assert_result_refused(V "\"interfaces\":[7]}", "interfaces[0]: must be an object");
    assert_result_refused(V "\"interfaces\":[{}]}", "interfaces[0]: 'name' is missing");
    assert_result_refused(V "\"interfaces\":[{\"name\":\"a/b\"}]}", "not an interface name");
    assert_result_refused(V "\"interfaces\":[{\"name\":\"abcdefghijklmnop\"}]}",
                          "not an interface name");
    assert_result_refused(V "\"interfaces\":[{\"name\":\"e\",\"mac\":\"xx:yy\"}]}",
                          "'xx:yy' is not a MAC address");
    assert_result_refused(V "\"interfaces\":[{\"name\":\"e\",\"sandbox\":\"rel\"}]}",
                          "not an absolute path");
    assert_result_refused(V "\"interfaces\":[{\"name\":\"e\",\"sandbox\":5}]}",
                          "'sandbox' must be a string");
    assert_result_refused(V "\"ips\":[{}]}", "ips[0]: 'address' is missing");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1\"}]}",
                          "not an address with a prefix length");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1/33\"}]}", "'10.0.0.1/33'");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1/024\"}]}", "'10.0.0.1/024'");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1/+4\"}]}", "'10.0.0.1/+4'");
    assert_result_refused(V "\"ips\":[{\"address\":\"fd00::1/129\"}]}", "'fd00::1/129'");
    assert_result_refused(V "\"ips\":[{\"address\":\"fe80::1%eth0/64\"}]}", "fe80::1%eth0/64");
    assert_result_refused(V "\"ips\":[{\"address\":\"010.0.0.1/8\"}]}", "010.0.0.1/8");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1/8\",\"gateway\":\"fd00::1\"}]}",
                          "gateway 'fd00::1' is not an IPv4 address");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1/8\",\"version\":\"6\"}]}",
                          "version '6' does not match");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1/8\",\"interface\":0}]}",
                          "interface 0 is not an index in interfaces (0 entries)");
    assert_result_refused(V "\"interfaces\":[{\"name\":\"e\"}],\"ips\":[{\"address\":\"10.0.0.1/"
                            "8\",\"interface\":-1}]}",
                          "interface -1 is not an index");
    assert_result_refused(V "\"ips\":[{\"address\":\"10.0.0.1/8\",\"interface\":1.0}]}",
                          "'interface' must be an integer");
    assert_result_refused(V "\"routes\":[{\"gw\":\"10.0.0.1\"}]}", "routes[0]: 'dst' is missing");
    assert_result_refused(V "\"routes\":[{\"dst\":\"default\"}]}", "dst 'default'");
    assert_result_refused(V "\"routes\":[{\"dst\":\"::/0\",\"gw\":\"10.0.0.1\"}]}",
                          "gw '10.0.0.1' is not an IPv6 address");
    assert_result_refused(V "\"dns\":[]}", "dns: must be an object");
    assert_result_refused(V "\"dns\":{\"nameservers\":[\"dns.example\"]}}",
                          "'dns.example' is not an IP address");
    assert_result_refused(V "\"dns\":{\"nameservers\":[1]}}", "entry 0 must be a string");
    assert_result_refused(V "\"dns\":{\"search\":[\"a\\nnameserver 6.6.6.6\"]}}",
                          "control character");
    assert_result_refused(V "\"dns\":{\"domain\":[]}}", "'domain' must be a string");
#undef V
    for (guint i = 0; i < 257; i++)
        g_string_append_printf(many, "%s{\"address\":\"10.0.%u.%u/8\"}", i > 0 ? "," : "", i / 200,
                               i % 200);
    g_string_append(many, "]}");
    assert_result_refused(many->str, "'ips' has more than 256 entries");
}

/* ---- [network] in podvmd.conf ---------------------------------------------------- */

static void
test_config(void)
{
    g_autoptr(PodvmConfig) config = podvm_config_new_defaults();
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *conf = g_build_filename(dir, "podvmd.conf", NULL);
    PodvmCniSettings settings = { 0 };
    g_autoptr(GError) error = NULL;
    const char *bad[][2] = {
        { "[network]\ncni_timeout_ms=abc\n", "[network] cni_timeout_ms" },
        { "[network]\ncni_timeout_ms=10\n", "cni_timeout_ms: from 100" },
        { "[network]\ncni_config_dir=relative/cni\n", "must be absolute paths" },
        { "[network]\ncni_ipam_dir=relative\n", "must be absolute paths" },
        { "[network]\ncni_plugin_dirs=/usr/lib/cni;bin\n", "'bin' is not an absolute path" },
        { "[network]\ncni_plugin_dirs=/a:b\n", "holds a ':'" },
    };

    /* The defaults. */
    g_free(config->state_dir);
    config->state_dir = g_strdup("/srv/state");
    podvm_config_cni_settings(config, &settings);
    g_assert_true(g_str_has_suffix(settings.config_dir, "/podvm/cni"));
    g_assert_cmpuint(g_strv_length(settings.plugin_dirs), ==, 2);
    g_assert_cmpstr(settings.plugin_dirs[0], ==, "/usr/lib/cni");
    g_assert_cmpstr(settings.plugin_dirs[1], ==, "/opt/cni/bin");
    g_assert_cmpstr(settings.ipam_dir, ==, "/srv/state/cni/networks");
    g_assert_cmpuint(settings.timeout_ms, ==, 30000);
    podvm_cni_settings_clear(&settings);
    g_assert_null(settings.config_dir);

    write_file(dir, "podvmd.conf",
               "[network]\ncni_config_dir=/etc/cni/net.d/\ncni_plugin_dirs=/opt/a; /opt/b\n"
               "cni_ipam_dir=/var/lib/cni/networks\ncni_timeout_ms=5000\n");
    g_assert_true(podvm_config_load_file(config, conf, TRUE, &error));
    g_assert_no_error(error);
    podvm_config_cni_settings(config, &settings);
    g_assert_cmpstr(settings.config_dir, ==, "/etc/cni/net.d");
    g_assert_cmpstr(settings.plugin_dirs[0], ==, "/opt/a");
    g_assert_cmpstr(settings.plugin_dirs[1], ==, "/opt/b");
    g_assert_null(settings.plugin_dirs[2]);
    g_assert_cmpstr(settings.ipam_dir, ==, "/var/lib/cni/networks");
    g_assert_cmpuint(settings.timeout_ms, ==, 5000);
    podvm_cni_settings_clear(&settings);

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(PodvmConfig) fresh = podvm_config_new_defaults();

        write_file(dir, "podvmd.conf", bad[i][0]);
        g_assert_false(podvm_config_load_file(fresh, conf, TRUE, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        if (strstr(error->message, bad[i][1]) == NULL)
            g_error("expected '%s' in: %s", bad[i][1], error->message);
        g_assert_nonnull(strstr(error->message, conf));
        g_clear_error(&error);
    }
    podvm_test_rmrf(dir);
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

static void
test_add_del_check(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(PodvmCniResult) result = NULL;
    g_autoptr(GPtrArray) addresses = NULL;
    PodvmCniAttachment attachment = { "4f1c2a9e-0b7d-4c55-9a51-0d3c2b1e7f60", f->netns, "eth0" };
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
    /* The bridge and the veth are in the test's (the host's) namespace; a lease of each family. */
    g_assert_true(link_exists("podvm0"));
    g_assert_true(link_exists(veth));
    g_assert_cmpuint(count_leases(f, "podvm"), ==, 2);

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
    /* A plugin that is not installed: the same. */
    {
        g_autoptr(PodvmCniNetwork) network = bridge_then(f, "{\"type\": \"no-such-plugin\"}");
        g_autoptr(PodvmCniResult) result = cni_add(f, network, &attachment, &error);

        g_assert_null(result);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(error->message, "CNI plugin 'no-such-plugin' is not in"));
        g_assert_nonnull(strstr(error->message, DEBIAN_PLUGINS));
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
    g_test_add_func("/podvm/net/cni/conflist/parse", test_conflist_parse);
    g_test_add_func("/podvm/net/cni/conflist/default", test_default_conflist);
    g_test_add_func("/podvm/net/cni/conflist/installed", test_installed_conflist);
    g_test_add_func("/podvm/net/cni/conflist/find", test_network_find);
    g_test_add_func("/podvm/net/cni/result/parse", test_result_parse);
    g_test_add_func("/podvm/net/cni/result/refused", test_result_refused);
    g_test_add_func("/podvm/net/cni/config", test_config);
#define ADD_PLUGIN_TEST(path, func) \
    g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown)
    ADD_PLUGIN_TEST("/podvm/net/cni/run/add-del-check", test_add_del_check);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/portmap", test_portmap);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/add-fails-undone", test_add_fails_undone);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/timeout", test_timeout);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/bad-calls", test_bad_calls);
    ADD_PLUGIN_TEST("/podvm/net/cni/run/plugin-input", test_plugin_input);
#undef ADD_PLUGIN_TEST
    return g_test_run();
}
