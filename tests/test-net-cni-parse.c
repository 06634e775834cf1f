/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CNI without running a plugin (net/podvm-cni.c, podvm-cni-result.c):
 * conflists refused or taken, the built-in default and the installed
 * data/podvm.conflist, finding networks in a directory, results refused or
 * taken, and the [network] settings of podvmd.conf. test-net-cni runs the
 * plugins.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-cni.h"
#include "podvm-config.h"
#include "podvm-error.h"
#include "podvm-test-util.h"

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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/net/cni/conflist/parse", test_conflist_parse);
    g_test_add_func("/podvm/net/cni/conflist/default", test_default_conflist);
    g_test_add_func("/podvm/net/cni/conflist/installed", test_installed_conflist);
    g_test_add_func("/podvm/net/cni/conflist/find", test_network_find);
    g_test_add_func("/podvm/net/cni/result/parse", test_result_parse);
    g_test_add_func("/podvm/net/cni/result/refused", test_result_refused);
    g_test_add_func("/podvm/net/cni/config", test_config);
    return g_test_run();
}
