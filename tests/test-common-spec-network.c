/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spec's interfaces (spec.domain.devices.interfaces) and networks
 * (spec.networks): what is accepted and how it reads back, every rule that
 * refuses, the MAC an interface gets, and the NIC attachment document.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-spec.h"
#include "podvm-yaml.h"

/* ------------------------------------------------------------------------ */
/* Helpers */

/* JSON written with single quotes, so the tables below stay readable. */
static char *
q(const char *text)
{
    char *json = g_strdup(text);

    g_strdelimit(json, "'", '"');
    return json;
}

/* A native pod "p" booting a kernel, with these interfaces and networks (JSON arrays, or ""). */
static char *
net_pod(const char *interfaces, const char *networks)
{
    g_autofree char *text = g_strdup_printf(
        "{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': {'name': 'p'}, "
        "'spec': {'domain': {'firmware': {'kernelBoot': {'kernelPath': '/k'}}%s%s%s}%s%s}}",
        *interfaces != '\0' ? ", 'devices': {'interfaces': " : "", interfaces,
        *interfaces != '\0' ? "}" : "", *networks != '\0' ? ", 'networks': " : "", networks);
    return q(text);
}

#define IFACES "spec.domain.devices.interfaces"

static const char *const pod_network = "[{'name': 'default', 'pod': {}}]";

static PodvmSpec *
parse_ok(const char *json)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    PodvmSpec *spec = podvm_spec_parse_data(json, -1, &problems, &error);

    if (error != NULL)
        g_test_message("unexpected problems:\n%s\nin: %s", error->message, json);
    g_assert_no_error(error);
    g_assert_nonnull(spec);
    g_assert_null(problems);
    return spec;
}

static char *
spec_file_contents(const char *name)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "specs", name, NULL);
    g_autoptr(GError) error = NULL;
    char *contents = NULL;

    g_file_get_contents(path, &contents, NULL, &error);
    g_assert_no_error(error);
    return contents;
}

static void
log_problems(GPtrArray *problems)
{
    for (guint i = 0; i < problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);
        g_test_message("have %s: %s", problem->path, problem->message);
    }
}

/* @problems has one at @path containing @needle. */
static void
assert_problem(GPtrArray *problems, const char *path, const char *needle)
{
    for (guint i = 0; i < problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);

        if (g_strcmp0(problem->path, path) == 0 && strstr(problem->message, needle) != NULL)
            return;
    }
    log_problems(problems);
    g_error("no problem at %s saying \"%s\"", path, needle);
}

/* Parsing @json fails with exactly one problem, at @path, containing @needle. */
static void
assert_only_problem(const char *json, const char *path, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(json, -1, &problems, &error);

    if (spec != NULL)
        g_error("accepted, expected %s: %s; in %s", path, needle, json);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    assert_problem(problems, path, needle);
    if (problems->len != 1) {
        log_problems(problems);
        g_error("%u problems for %s, expected only %s", problems->len, json, path);
    }
}

static char *
node_to_string(JsonNode *node)
{
    g_autoptr(JsonGenerator) generator = json_generator_new();

    json_generator_set_root(generator, node);
    return json_generator_to_data(generator, NULL);
}

/* to_json(parse(@json)) parses back to a spec with the same text. */
static PodvmSpec *
round_trip(const char *json)
{
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    g_autofree char *text = node_to_string(node);
    g_autoptr(PodvmSpec) again = parse_ok(text);
    g_autoptr(JsonNode) node_again = podvm_spec_to_json(again);
    g_autofree char *text_again = node_to_string(node_again);
    g_autoptr(PodvmSpec) copy = podvm_spec_copy(again);
    g_autoptr(JsonNode) node_copy = podvm_spec_to_json(copy);
    g_autofree char *text_copy = node_to_string(node_copy);

    g_assert_cmpstr(text, ==, text_again);
    g_assert_cmpstr(text, ==, text_copy);
    return g_steal_pointer(&again);
}

/* ------------------------------------------------------------------------ */
/* Accepted */

static void
test_none(void)
{
    /* KubeVirt's rule podvm keeps: no interfaces and no networks, no network at all. */
    g_autofree char *json = net_pod("", "");
    g_autofree char *off = q("{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', "
                             "'metadata': {'name': 'p'}, 'spec': {'domain': {'firmware': "
                             "{'kernelBoot': {'kernelPath': '/k'}}, 'devices': {'interfaces': [], "
                             "'autoattachPodInterface': false}}, 'networks': []}}");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autoptr(PodvmSpec) spec_off = parse_ok(off);
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    g_autofree char *text = node_to_string(node);

    g_assert_nonnull(spec->interfaces);
    g_assert_nonnull(spec->networks);
    g_assert_cmpuint(spec->interfaces->len, ==, 0);
    g_assert_cmpuint(spec->networks->len, ==, 0);
    g_assert_cmpuint(spec_off->interfaces->len, ==, 0);
    g_assert_cmpuint(spec_off->networks->len, ==, 0);
    g_assert_null(strstr(text, "interfaces"));
    g_assert_null(strstr(text, "networks"));
}

static void
test_masquerade_defaults(void)
{
    g_autofree char *json = net_pod("[{'name': 'default', 'masquerade': {}}]", pod_network);
    g_autoptr(PodvmSpec) spec = round_trip(json);
    const PodvmSpecInterface *iface;
    const PodvmSpecNetwork *network;

    g_assert_cmpuint(spec->interfaces->len, ==, 1);
    g_assert_cmpuint(spec->networks->len, ==, 1);
    iface = podvm_spec_find_interface(spec, "default");
    network = podvm_spec_find_network(spec, "default");
    g_assert_nonnull(iface);
    g_assert_nonnull(network);
    g_assert_null(podvm_spec_find_interface(spec, "other"));
    g_assert_null(podvm_spec_find_network(spec, NULL));
    g_assert_cmpint(iface->binding, ==, PODVM_BINDING_MASQUERADE);
    g_assert_cmpint(iface->model, ==, PODVM_NIC_MODEL_VIRTIO);
    g_assert_null(iface->mac_address);
    g_assert_nonnull(iface->ports);
    g_assert_cmpuint(iface->ports->len, ==, 0);
    g_assert_cmpuint(iface->boot_order, ==, 0);
    g_assert_null(iface->pci_address);
    g_assert_cmpint(network->source, ==, PODVM_NETWORK_POD);
    g_assert_null(network->network_name);
    g_assert_null(network->vm_cidr);
    g_assert_null(network->vm_ipv6_cidr);
}

static void
test_full_round_trip(void)
{
    g_autofree char *json = net_pod(
        "[{'name': 'default', 'masquerade': {}, 'model': 'e1000', 'macAddress': "
        "'02-AB-cd-00-00-01', 'ports': [{'name': 'http', 'port': 80}, {'protocol': 'UDP', "
        "'port': 53, 'hostPort': 5353}, {'port': 443, 'protocol': 'TCP', 'hostPort': 8443}], "
        "'bootOrder': 2, 'pciAddress': '0000:00:1F.7'}, "
        "{'name': 'lan', 'bridge': {}, 'model': 'rtl8139'}, "
        "{'name': 'fast', 'sriov': {'hostPciAddress': '0000:81:10.2'}}]",
        "[{'name': 'lan', 'multus': {'networkName': 'lan-br_1.x'}}, "
        "{'name': 'default', 'pod': {'vmNetworkCIDR': '10.11.0.0/16', 'vmIPv6NetworkCIDR': "
        "'FD00:0:0:0::/64'}}, {'name': 'fast', 'multus': {'networkName': 'sriov-a'}}]");
    g_autoptr(PodvmSpec) spec = round_trip(json);
    const PodvmSpecInterface *iface = podvm_spec_find_interface(spec, "default");
    const PodvmSpecInterface *lan = podvm_spec_find_interface(spec, "lan");
    const PodvmSpecInterface *fast = podvm_spec_find_interface(spec, "fast");
    const PodvmSpecNetwork *network = podvm_spec_find_network(spec, "default");
    const PodvmSpecNetwork *lan_network = podvm_spec_find_network(spec, "lan");
    const PodvmSpecPort *port;

    g_assert_cmpint(iface->model, ==, PODVM_NIC_MODEL_E1000);
    g_assert_cmpstr(iface->mac_address, ==, "02:ab:cd:00:00:01");
    g_assert_cmpuint(iface->ports->len, ==, 3);
    port = g_ptr_array_index(iface->ports, 0);
    g_assert_cmpstr(port->name, ==, "http");
    g_assert_cmpstr(port->protocol, ==, "TCP");
    g_assert_cmpuint(port->port, ==, 80);
    g_assert_cmpuint(port->host_port, ==, 0);
    port = g_ptr_array_index(iface->ports, 1);
    g_assert_null(port->name);
    g_assert_cmpstr(port->protocol, ==, "UDP");
    g_assert_cmpuint(port->port, ==, 53);
    g_assert_cmpuint(port->host_port, ==, 5353);
    g_assert_cmpuint(iface->boot_order, ==, 2);
    g_assert_cmpstr(iface->pci_address, ==, "0000:00:1f.7");
    g_assert_cmpint(lan->binding, ==, PODVM_BINDING_BRIDGE);
    g_assert_cmpint(lan->model, ==, PODVM_NIC_MODEL_RTL8139);
    g_assert_cmpint(fast->binding, ==, PODVM_BINDING_SRIOV);
    g_assert_cmpstr(fast->sriov_host_address, ==, "0000:81:10.2");
    g_assert_cmpstr(network->vm_cidr, ==, "10.11.0.0/16");
    g_assert_cmpstr(network->vm_ipv6_cidr, ==, "fd00::/64");
    g_assert_cmpint(lan_network->source, ==, PODVM_NETWORK_MULTUS);
    g_assert_cmpstr(lan_network->network_name, ==, "lan-br_1.x");
    /* The order of the document. */
    g_assert_cmpstr(((PodvmSpecNetwork *)g_ptr_array_index(spec->networks, 0))->name, ==, "lan");
}

static void
test_bindings(void)
{
    static const struct {
        const char *binding;
        const char *network;
        PodvmBinding expected;
    } cases[] = {
        { "masquerade", "'pod': {}", PODVM_BINDING_MASQUERADE },
        { "bridge", "'pod': {}", PODVM_BINDING_BRIDGE },
        { "bridge", "'multus': {'networkName': 'br'}", PODVM_BINDING_BRIDGE },
        { "slirp", "'pod': {}", PODVM_BINDING_SLIRP },
        { "passt", "'pod': {}", PODVM_BINDING_PASST },
        { "sriov", "'multus': {'networkName': 'vfs'}", PODVM_BINDING_SRIOV },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *ifaces = g_strdup_printf("[{'name': 'n', '%s': {}}]", cases[i].binding);
        g_autofree char *networks = g_strdup_printf("[{'name': 'n', %s}]", cases[i].network);
        g_autofree char *json = net_pod(ifaces, networks);
        g_autoptr(PodvmSpec) spec = round_trip(json);
        const PodvmSpecInterface *iface = g_ptr_array_index(spec->interfaces, 0);

        g_assert_cmpint(iface->binding, ==, cases[i].expected);
        g_assert_cmpstr(podvm_binding_to_string(iface->binding), ==, cases[i].binding);
    }
    g_assert_cmpstr(podvm_nic_model_to_string(PODVM_NIC_MODEL_VIRTIO), ==, "virtio");
    g_assert_cmpstr(podvm_nic_model_to_string(PODVM_NIC_MODEL_E1000), ==, "e1000");
    g_assert_cmpstr(podvm_nic_model_to_string(PODVM_NIC_MODEL_RTL8139), ==, "rtl8139");
}

static void
test_kubevirt_vmi(void)
{
    /* As KubeVirt's documentation writes it. */
    g_autofree char *json =
        q("{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', 'metadata': "
          "{'name': 'vmi-masq'}, 'spec': {'domain': {'resources': {'requests': {'memory': "
          "'128Mi'}}, 'firmware': {'kernelBoot': {'kernelPath': '/k'}}, 'devices': "
          "{'interfaces': [{'name': 'red', 'masquerade': {}, 'ports': [{'name': 'http', "
          "'port': 80, 'protocol': 'TCP'}]}]}}, 'networks': [{'name': 'red', 'pod': "
          "{'vmNetworkCIDR': '10.0.2.0/24'}}]}}");
    g_autoptr(PodvmSpec) spec = round_trip(json);

    g_assert_cmpuint(spec->interfaces->len, ==, 1);
}

static void
test_vm_template(void)
{
    /* A VirtualMachine's template holds them; problems carry the template's paths. */
    static const char *const vm =
        "{'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': 'vm'}, "
        "'spec': {'running': false, 'template': {'spec': {'domain': {'firmware': {'kernelBoot': "
        "{'kernelPath': '/k'}}, 'devices': {'interfaces': [{'name': 'default', %s: {}}]}}, "
        "'networks': [{'name': 'default', 'pod': {}}]}}}}";
    g_autofree char *good_text = g_strdup_printf(vm, "'bridge'");
    g_autofree char *bad_text = g_strdup_printf(vm, "'sriov'");
    g_autofree char *good = q(good_text);
    g_autofree char *bad = q(bad_text);
    g_autoptr(PodvmSpec) spec = round_trip(good);

    g_assert_cmpint(((PodvmSpecInterface *)g_ptr_array_index(spec->interfaces, 0))->binding, ==,
                    PODVM_BINDING_BRIDGE);
    assert_only_problem(bad, "spec.template.spec.domain.devices.interfaces[0].sriov",
                        "the sriov binding is for a multus network");
}

static void
test_mac(void)
{
    g_autofree char *json =
        net_pod("[{'name': 'a', 'masquerade': {}}, {'name': 'b', 'bridge': {}, 'macAddress': "
                "'0A:00:00:00:00:FE'}]",
                "[{'name': 'a', 'pod': {}}, {'name': 'b', 'multus': {'networkName': 'b'}}]");
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    const PodvmSpecInterface *a = podvm_spec_find_interface(spec, "a");
    const PodvmSpecInterface *b = podvm_spec_find_interface(spec, "b");
    g_autoptr(PodvmSpecInterface) a_renamed = podvm_spec_interface_copy(a);
    guint8 mac[6];
    guint8 again[6];
    guint8 other_uid[6];
    guint8 other_name[6];
    const guint8 given[6] = { 0x0a, 0, 0, 0, 0, 0xfe };

    podvm_spec_interface_mac(a, "uid-1", mac);
    podvm_spec_interface_mac(a, "uid-1", again);
    podvm_spec_interface_mac(a, "uid-2", other_uid);
    g_free(a_renamed->name);
    a_renamed->name = g_strdup("c");
    podvm_spec_interface_mac(a_renamed, "uid-1", other_name);

    /* Stable, locally administered, unicast, and different per pod and per name. */
    g_assert_cmpmem(mac, 6, again, 6);
    g_assert_cmphex(mac[0], ==, 0x02);
    g_assert_true(memcmp(mac, other_uid, 6) != 0);
    g_assert_true(memcmp(mac, other_name, 6) != 0);
    g_assert_cmphex(other_uid[0] & 0x03, ==, 0x02);

    /* The SHA-256 of "uid-1/a", first five bytes. */
    {
        g_autofree char *digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "uid-1/a", -1);
        g_autofree char *expected = g_strdup_printf("02%.10s", digest);
        g_autofree char *got = g_strdup_printf("%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2],
                                               mac[3], mac[4], mac[5]);
        g_assert_cmpstr(got, ==, expected);
    }

    /* macAddress wins, whatever the uid. */
    podvm_spec_interface_mac(b, "uid-1", mac);
    g_assert_cmpmem(mac, 6, given, 6);
    podvm_spec_interface_mac(b, NULL, mac);
    g_assert_cmpmem(mac, 6, given, 6);
}

static void
test_entry_json(void)
{
    g_autofree char *json =
        net_pod("[{'name': 'default', 'slirp': {}, 'ports': [{'port': 22}]}]", pod_network);
    g_autoptr(PodvmSpec) spec = parse_ok(json);
    g_autoptr(JsonNode) iface =
        podvm_spec_interface_to_json(g_ptr_array_index(spec->interfaces, 0));
    g_autoptr(JsonNode) network = podvm_spec_network_to_json(g_ptr_array_index(spec->networks, 0));
    g_autofree char *iface_text = node_to_string(iface);
    g_autofree char *network_text = node_to_string(network);
    g_autofree char *expected_iface =
        q("{'name':'default','slirp':{},'model':'virtio','ports':[{'protocol':'TCP','port':22}]}");
    g_autofree char *expected_network = q("{'name':'default','pod':{}}");

    g_assert_cmpstr(iface_text, ==, expected_iface);
    g_assert_cmpstr(network_text, ==, expected_network);
}

static void
test_file_masquerade(void)
{
    g_autofree char *json = spec_file_contents("valid-kubevirt-vmi-masquerade.json");
    g_autofree char *yaml = spec_file_contents("valid-kubevirt-vmi-masquerade.yaml");
    g_autoptr(PodvmSpec) spec = round_trip(json);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) yaml_node = podvm_yaml_to_json(yaml, -1, &error);
    g_autoptr(PodvmSpec) from_yaml = NULL;
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    g_autoptr(JsonNode) node_yaml = NULL;
    g_autofree char *text = node_to_string(node);
    g_autofree char *text_yaml = NULL;
    const PodvmSpecInterface *iface;
    const PodvmSpecPort *port;

    g_assert_no_error(error);
    from_yaml = podvm_spec_parse_node(yaml_node, NULL, &error);
    g_assert_no_error(error);
    node_yaml = podvm_spec_to_json(from_yaml);
    text_yaml = node_to_string(node_yaml);
    g_assert_cmpstr(text, ==, text_yaml);

    g_assert_cmpuint(spec->interfaces->len, ==, 1);
    iface = g_ptr_array_index(spec->interfaces, 0);
    g_assert_cmpstr(iface->name, ==, "default");
    g_assert_cmpint(iface->binding, ==, PODVM_BINDING_MASQUERADE);
    g_assert_cmpuint(iface->ports->len, ==, 1);
    port = g_ptr_array_index(iface->ports, 0);
    g_assert_cmpstr(port->name, ==, "http");
    g_assert_cmpstr(port->protocol, ==, "TCP");
    g_assert_cmpuint(port->port, ==, 80);
    g_assert_cmpint(podvm_spec_find_network(spec, "default")->source, ==, PODVM_NETWORK_POD);
}

static void
test_file_networks(void)
{
    g_autofree char *json = spec_file_contents("valid-kubevirt-vmi-networks.json");
    g_autoptr(PodvmSpec) spec = round_trip(json);
    const PodvmSpecInterface *iface = podvm_spec_find_interface(spec, "default");
    const PodvmSpecInterface *lan = podvm_spec_find_interface(spec, "lan");
    const PodvmSpecInterface *fast = podvm_spec_find_interface(spec, "fast");
    const PodvmSpecNetwork *network = podvm_spec_find_network(spec, "default");

    g_assert_cmpuint(spec->interfaces->len, ==, 3);
    g_assert_cmpuint(spec->networks->len, ==, 3);
    g_assert_cmpstr(iface->mac_address, ==, "02:00:00:0a:00:02");
    g_assert_cmpuint(iface->ports->len, ==, 3);
    g_assert_cmpuint(((PodvmSpecPort *)g_ptr_array_index(iface->ports, 2))->host_port, ==, 2222);
    g_assert_cmpint(lan->model, ==, PODVM_NIC_MODEL_E1000);
    g_assert_cmpuint(lan->boot_order, ==, 1);
    g_assert_cmpint(fast->binding, ==, PODVM_BINDING_SRIOV);
    g_assert_null(fast->sriov_host_address);
    g_assert_cmpstr(fast->pci_address, ==, "0000:00:0a.0");
    g_assert_cmpstr(network->vm_cidr, ==, PODVM_SPEC_DEFAULT_VM_CIDR);
    g_assert_cmpstr(network->vm_ipv6_cidr, ==, PODVM_SPEC_DEFAULT_VM_IPV6_CIDR);
    g_assert_cmpstr(podvm_spec_find_network(spec, "fast")->network_name, ==, "sriov-pool-a");
}

static void
test_file_invalid(void)
{
    /* Every problem of the file, each at its path, in one answer. */
    static const char *const expected[][2] = {
        { IFACES "[0].macAddress", "multicast" },
        { IFACES "[1].name", "the name of another interface" },
        { IFACES "[2].model", "use virtio, e1000 or rtl8139" },
        { IFACES "[3].ports[0].port", "from 1 to 65535" },
        { IFACES "[3].ports[1].protocol", "use TCP or UDP" },
        { IFACES "[4].sriov.hostPciAddress", "not a PCI address" },
        { "spec.networks[0].pod.vmNetworkCIDR", "at most /30" },
        { "spec.networks[2].pod", "a pod has one pod network" },
        { "spec.networks[3].pod", "a pod has one pod network" },
        { IFACES "[5].name", "no network named \"missing\"" },
        { "spec.networks[4].name", "no interface joins this network" },
        { IFACES "[2].masquerade", "the masquerade binding is for the pod network" },
        { IFACES "[4].sriov", "the sriov binding is for a multus network" },
    };
    g_autofree char *json = spec_file_contents("invalid-networks.json");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(json, -1, &problems, &error);

    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    for (gsize i = 0; i < G_N_ELEMENTS(expected); i++)
        assert_problem(problems, expected[i][0], expected[i][1]);
    if (problems->len != G_N_ELEMENTS(expected)) {
        log_problems(problems);
        g_error("%u problems, expected %u", problems->len, (guint)G_N_ELEMENTS(expected));
    }
}

/* ------------------------------------------------------------------------ */
/* Refused */

typedef struct {
    const char *interfaces;
    const char *networks;
    const char *path;
    const char *needle;
} RefusalCase;

static void
run_refusals(const RefusalCase *cases, gsize n_cases)
{
    for (gsize i = 0; i < n_cases; i++) {
        g_autofree char *json = net_pod(cases[i].interfaces, cases[i].networks);

        assert_only_problem(json, cases[i].path, cases[i].needle);
    }
}

static void
test_refused_interfaces(void)
{
    static const RefusalCase cases[] = {
        /* Names. */
        { "[{'masquerade': {}}]", "", IFACES "[0].name", "required" },
        { "[{'name': 'Default', 'masquerade': {}}]", "", IFACES "[0].name", "not a valid name" },
        { "[{'name': 'default', 'masquerade': {}}, {'name': 'default', 'bridge': {}}]", pod_network,
          IFACES "[1].name", "the name of another interface" },
        /* Bindings. */
        { "[{'name': 'default'}]", pod_network, IFACES "[0]", "required: a binding" },
        { "[{'name': 'default', 'masquerade': {}, 'bridge': {}}]", pod_network, IFACES "[0]",
          "give only one of" },
        { "[{'name': 'default', 'masquerade': {'x': 1}}]", pod_network, IFACES "[0].masquerade.x",
          "unknown field" },
        { "[{'name': 'default', 'masquerade': true}]", pod_network, IFACES "[0].masquerade",
          "expected an object" },
        { "[{'name': 'default', 'macvtap': {}, 'masquerade': {}}]", pod_network,
          IFACES "[0].macvtap", "not supported by podvm" },
        { "[{'name': 'default', 'binding': {'name': 'passt'}, 'masquerade': {}}]", pod_network,
          IFACES "[0].binding", "not supported yet" },
        { "[{'name': 'default', 'masquerade': {}, 'foo': 1}]", pod_network, IFACES "[0].foo",
          "unknown field" },
        /* Models. */
        { "[{'name': 'default', 'masquerade': {}, 'model': 'e1000e'}]", pod_network,
          IFACES "[0].model", "use virtio, e1000 or rtl8139" },
        { "[{'name': 'default', 'masquerade': {}, 'model': 'Virtio'}]", pod_network,
          IFACES "[0].model", "unknown model" },
        { "[{'name': 'default', 'masquerade': {}, 'model': 'pcnet'}]", pod_network,
          IFACES "[0].model", "unknown model" },
        /* MACs. */
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': '02:00:00:00:00'}]", pod_network,
          IFACES "[0].macAddress", "not a MAC address" },
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': '02:00:00:00:00:0g'}]", pod_network,
          IFACES "[0].macAddress", "not a MAC address" },
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': '02:00-00:00:00:01'}]", pod_network,
          IFACES "[0].macAddress", "not a MAC address" },
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': '0200.0000.0001'}]", pod_network,
          IFACES "[0].macAddress", "not a MAC address" },
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': '01:00:5e:00:00:01'}]", pod_network,
          IFACES "[0].macAddress", "multicast" },
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': 'ff:ff:ff:ff:ff:ff'}]", pod_network,
          IFACES "[0].macAddress", "multicast" },
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': '00:00:00:00:00:00'}]", pod_network,
          IFACES "[0].macAddress", "all zeros" },
        { "[{'name': 'default', 'masquerade': {}, 'macAddress': '02:00:00:00:00:01'}, "
          "{'name': 'b', 'bridge': {}, 'macAddress': '02-00-00-00-00-01'}]",
          "[{'name': 'default', 'pod': {}}, {'name': 'b', 'multus': {'networkName': 'b'}}]",
          IFACES "[1].macAddress", "MAC address of another interface" },
        /* Ports. */
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 0}]}]", pod_network,
          IFACES "[0].ports[0].port", "from 1 to 65535" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 65536}]}]", pod_network,
          IFACES "[0].ports[0].port", "from 1 to 65535" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': '80'}]}]", pod_network,
          IFACES "[0].ports[0].port", "expected a number" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'name': 'http'}]}]", pod_network,
          IFACES "[0].ports[0].port", "required" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'hostPort': 0}]}]",
          pod_network, IFACES "[0].ports[0].hostPort", "from 1 to 65535" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'hostPort': 70000}]}]",
          pod_network, IFACES "[0].ports[0].hostPort", "from 1 to 65535" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'protocol': 'tcp'}]}]",
          pod_network, IFACES "[0].ports[0].protocol", "use TCP or UDP" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'protocol': 'SCTP'}]}]",
          pod_network, IFACES "[0].ports[0].protocol", "unknown protocol" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'name': 'Http'}]}]",
          pod_network, IFACES "[0].ports[0].name", "not a valid port name" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'name': '80'}]}]",
          pod_network, IFACES "[0].ports[0].name", "not a valid port name" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'name': "
          "'a-very-long-name-x'}]}]",
          pod_network, IFACES "[0].ports[0].name", "not a valid port name" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'name': 'a'}, "
          "{'port': 81, 'name': 'a'}]}]",
          pod_network, IFACES "[0].ports[1].name", "the name of another port" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80}, {'port': 80, "
          "'protocol': 'TCP'}]}]",
          pod_network, IFACES "[0].ports[1].port", "TCP port 80 is given twice" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'hostPort': 8080}, "
          "{'port': 81, 'hostPort': 8080}]}]",
          pod_network, IFACES "[0].ports[1].hostPort", "host port 8080" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': [{'port': 80, 'foo': 1}]}]", pod_network,
          IFACES "[0].ports[0].foo", "unknown field" },
        { "[{'name': 'default', 'masquerade': {}, 'ports': {'port': 80}}]", pod_network,
          IFACES "[0].ports", "expected an array" },
        { "[{'name': 'default', 'bridge': {}, 'ports': [{'port': 80}]}]", pod_network,
          IFACES "[0].ports", "ports are for the masquerade, slirp and passt bindings" },
        { "[{'name': 'n', 'sriov': {}, 'ports': [{'port': 80}]}]",
          "[{'name': 'n', 'multus': {'networkName': 'vfs'}}]", IFACES "[0].ports",
          "ports are for the masquerade, slirp and passt bindings" },
        /* Boot order and PCI addresses. */
        { "[{'name': 'default', 'masquerade': {}, 'bootOrder': 0}]", pod_network,
          IFACES "[0].bootOrder", "from 1 to 65535" },
        { "[{'name': 'default', 'masquerade': {}, 'bootOrder': 1}, {'name': 'b', 'bridge': {}, "
          "'bootOrder': 1}]",
          "[{'name': 'default', 'pod': {}}, {'name': 'b', 'multus': {'networkName': 'b'}}]",
          IFACES "[1].bootOrder", "boot order 1" },
        { "[{'name': 'default', 'masquerade': {}, 'pciAddress': '00:1f.7'}]", pod_network,
          IFACES "[0].pciAddress", "not a PCI address" },
        { "[{'name': 'default', 'masquerade': {}, 'pciAddress': '0000:00:20.0'}]", pod_network,
          IFACES "[0].pciAddress", "not a PCI address" },
        { "[{'name': 'default', 'masquerade': {}, 'pciAddress': '0000:00:01.8'}]", pod_network,
          IFACES "[0].pciAddress", "not a PCI address" },
        { "[{'name': 'default', 'masquerade': {}, 'pciAddress': '0000:00:01.0 '}]", pod_network,
          IFACES "[0].pciAddress", "not a PCI address" },
        { "[{'name': 'n', 'sriov': {'hostPciAddress': '0000:81:00.1/../x'}}]",
          "[{'name': 'n', 'multus': {'networkName': 'vfs'}}]", IFACES "[0].sriov.hostPciAddress",
          "not a PCI address" },
        { "[{'name': 'n', 'sriov': {'hostPciAddress': '../../0000:81:00.1'}}]",
          "[{'name': 'n', 'multus': {'networkName': 'vfs'}}]", IFACES "[0].sriov.hostPciAddress",
          "not a PCI address" },
        { "[{'name': 'n', 'sriov': {'vlan': 5}}]",
          "[{'name': 'n', 'multus': {'networkName': 'vfs'}}]", IFACES "[0].sriov.vlan",
          "unknown field" },
        /* Not a list. */
        { "{'name': 'default'}", pod_network, IFACES, "expected an array" },
    };

    run_refusals(cases, G_N_ELEMENTS(cases));
}

static void
test_refused_networks(void)
{
    static const RefusalCase cases[] = {
        { "", "[{'pod': {}}]", "spec.networks[0].name", "required" },
        { "[{'name': 'default', 'masquerade': {}}]", "[{'name': 'default'}]", "spec.networks[0]",
          "required: a source" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {}, 'multus': {'networkName': 'x'}}]", "spec.networks[0]",
          "give either pod or multus" },
        { "[{'name': 'default', 'masquerade': {}}]", "[{'name': 'default', 'pod': {'x': 1}}]",
          "spec.networks[0].pod.x", "unknown field" },
        { "[{'name': 'default', 'masquerade': {}}]", "[{'name': 'default', 'pod': {}, 'foo': 1}]",
          "spec.networks[0].foo", "unknown field" },
        { "[{'name': 'n', 'bridge': {}}]", "[{'name': 'n', 'multus': {}}]",
          "spec.networks[0].multus.networkName", "required" },
        { "[{'name': 'n', 'bridge': {}}]", "[{'name': 'n', 'multus': {'networkName': 'ns/net'}}]",
          "spec.networks[0].multus.networkName", "podvm has no namespaces" },
        { "[{'name': 'n', 'bridge': {}}]", "[{'name': 'n', 'multus': {'networkName': '../x'}}]",
          "spec.networks[0].multus.networkName", "podvm has no namespaces" },
        { "[{'name': 'n', 'bridge': {}}]", "[{'name': 'n', 'multus': {'networkName': '..'}}]",
          "spec.networks[0].multus.networkName", "not a valid network name" },
        { "[{'name': 'n', 'bridge': {}}]", "[{'name': 'n', 'multus': {'networkName': 'a b'}}]",
          "spec.networks[0].multus.networkName", "not a valid network name" },
        { "[{'name': 'n', 'bridge': {}}]", "[{'name': 'n', 'multus': {'networkName': ''}}]",
          "spec.networks[0].multus.networkName", "not a valid network name" },
        /* CIDRs. */
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': '10.0.2.0'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "not an IPv4 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': '10.0.2.0/33'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "not an IPv4 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': '10.0.2.0/+24'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "not an IPv4 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': '10.0.2.0/024'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "not an IPv4 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmIPv6NetworkCIDR': 'fe80::%eth0/64'}}]",
          "spec.networks[0].pod.vmIPv6NetworkCIDR", "not an IPv6 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmIPv6NetworkCIDR': 'fd10::/ 64'}}]",
          "spec.networks[0].pod.vmIPv6NetworkCIDR", "not an IPv6 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': ' 10.0.2.0/24'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "not an IPv4 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': '10.0.2/24'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "not an IPv4 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': 'fd10::/120'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "not an IPv4 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': '10.0.2.0/31'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "at most /30" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmNetworkCIDR': '10.0.2.1/24'}}]",
          "spec.networks[0].pod.vmNetworkCIDR", "bits set past its prefix" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmIPv6NetworkCIDR': '10.0.2.0/24'}}]",
          "spec.networks[0].pod.vmIPv6NetworkCIDR", "not an IPv6 network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmIPv6NetworkCIDR': 'fd10::/127'}}]",
          "spec.networks[0].pod.vmIPv6NetworkCIDR", "at most /126" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {'vmIPv6NetworkCIDR': 'fd10::1/120'}}]",
          "spec.networks[0].pod.vmIPv6NetworkCIDR", "bits set past its prefix" },
        /* Joins. */
        { "[{'name': 'default', 'masquerade': {}}]", "", IFACES "[0].name",
          "no network named \"default\"" },
        { "", pod_network, "spec.networks[0].name", "no interface joins this network" },
        { "[{'name': 'default', 'masquerade': {}}, {'name': 'b', 'bridge': {}}]",
          "[{'name': 'default', 'pod': {}}, {'name': 'b', 'pod': {}}]", "spec.networks[1].pod",
          "a pod has one pod network" },
        { "[{'name': 'default', 'masquerade': {}}]",
          "[{'name': 'default', 'pod': {}}, {'name': 'default', 'multus': {'networkName': "
          "'x'}}]",
          "spec.networks[1].name", "the name of another network" },
        { "[{'name': 'n', 'masquerade': {}}]", "[{'name': 'n', 'multus': {'networkName': 'x'}}]",
          IFACES "[0].masquerade", "the masquerade binding is for the pod network" },
        { "[{'name': 'n', 'slirp': {}}]", "[{'name': 'n', 'multus': {'networkName': 'x'}}]",
          IFACES "[0].slirp", "the slirp binding is for the pod network" },
        { "[{'name': 'n', 'passt': {}}]", "[{'name': 'n', 'multus': {'networkName': 'x'}}]",
          IFACES "[0].passt", "the passt binding is for the pod network" },
        { "[{'name': 'n', 'sriov': {}}]", "[{'name': 'n', 'pod': {}}]", IFACES "[0].sriov",
          "the sriov binding is for a multus network" },
        { "[{'name': 'default', 'masquerade': {}}]", "{'name': 'default'}", "spec.networks",
          "expected an array" },
    };

    run_refusals(cases, G_N_ELEMENTS(cases));
}

static void
test_refused_with_disks(void)
{
    /* A boot order is unique among disks and interfaces together. */
    g_autofree char *json =
        q("{'apiVersion': 'podvm.io/v1', 'kind': 'Pod', 'metadata': {'name': 'p'}, 'spec': "
          "{'domain': {'devices': {'disks': [{'name': 'd', 'bootOrder': 1}], 'interfaces': "
          "[{'name': 'default', 'masquerade': {}, 'bootOrder': 1}]}}, 'volumes': [{'name': 'd', "
          "'emptyDisk': {'capacity': '1Gi'}}], 'networks': [{'name': 'default', 'pod': {}}]}}");

    assert_only_problem(json, IFACES "[0].bootOrder", "another disk or interface has boot order 1");
}

static void
test_too_many(void)
{
    g_autoptr(GString) ifaces = g_string_new("[");
    g_autoptr(GString) networks = g_string_new("[");
    g_autoptr(GString) ports = g_string_new("[");
    g_autofree char *json = NULL;
    g_autofree char *ports_json = NULL;

    for (guint i = 0; i < 33; i++) {
        g_string_append_printf(ifaces, "%s{'name': 'n%u', 'bridge': {}}", i > 0 ? ", " : "", i);
        g_string_append_printf(networks, "%s{'name': 'n%u', 'multus': {'networkName': 'x'}}",
                               i > 0 ? ", " : "", i);
    }
    g_string_append(ifaces, "]");
    g_string_append(networks, "]");
    json = net_pod(ifaces->str, networks->str);
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) problems = NULL;
        g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(json, -1, &problems, &error);

        g_assert_null(spec);
        assert_problem(problems, IFACES, "a pod has at most 32");
        assert_problem(problems, "spec.networks", "a pod has at most 32");
    }

    for (guint i = 0; i < 257; i++)
        g_string_append_printf(ports, "%s{'port': %u}", i > 0 ? ", " : "", i + 1);
    g_string_append(ports, "]");
    ports_json =
        g_strdup_printf("[{'name': 'default', 'masquerade': {}, 'ports': %s}]", ports->str);
    {
        g_autofree char *pod_json = net_pod(ports_json, pod_network);
        assert_only_problem(pod_json, IFACES "[0].ports", "an interface has at most 256");
    }
}

/* ------------------------------------------------------------------------ */
/* The attachment document */

static gboolean
attach(const char *text, PodvmSpecInterface **out_iface, PodvmSpecNetwork **out_network,
       GPtrArray **out_problems)
{
    g_autofree char *json = q(text);
    g_autoptr(GError) error = NULL;
    gboolean ok = podvm_spec_parse_interface_attachment(json, -1, out_iface, out_network,
                                                        out_problems, &error);

    if (!ok)
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    else
        g_assert_no_error(error);
    return ok;
}

static void
test_attachment(void)
{
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;
    g_autoptr(GPtrArray) problems = NULL;

    g_assert_true(attach("{'interface': {'name': 'extra', 'bridge': {}, 'macAddress': "
                         "'02:00:00:00:00:09'}, 'network': {'name': 'extra', 'multus': "
                         "{'networkName': 'lan'}}}",
                         &iface, &network, &problems));
    g_assert_null(problems);
    g_assert_cmpstr(iface->name, ==, "extra");
    g_assert_cmpint(iface->binding, ==, PODVM_BINDING_BRIDGE);
    g_assert_cmpstr(iface->mac_address, ==, "02:00:00:00:00:09");
    g_assert_cmpstr(network->network_name, ==, "lan");
}

static void
test_attachment_refused(void)
{
    static const struct {
        const char *json;
        const char *path;
        const char *needle;
    } cases[] = {
        { "{'network': {'name': 'n', 'pod': {}}}", "interface", "required" },
        { "{'interface': {'name': 'n', 'masquerade': {}}}", "network", "required" },
        { "{'interface': {'name': 'a', 'masquerade': {}}, 'network': {'name': 'b', 'pod': {}}}",
          "interface.name", "an interface joins the network of its name" },
        { "{'interface': {'name': 'n', 'masquerade': {}}, 'network': {'name': 'n', 'multus': "
          "{'networkName': 'x'}}}",
          "interface.masquerade", "for the pod network" },
        { "{'interface': {'name': 'n', 'bridge': {}, 'macAddress': '03:00:00:00:00:01'}, "
          "'network': {'name': 'n', 'pod': {}}}",
          "interface.macAddress", "multicast" },
        { "{'interface': {'name': 'n', 'masquerade': {}, 'ports': [{'port': 99999}]}, "
          "'network': {'name': 'n', 'pod': {}}}",
          "interface.ports[0].port", "from 1 to 65535" },
        { "{'interface': {'name': 'n', 'masquerade': {}}, 'network': {'name': 'n', 'pod': {}}, "
          "'x': 1}",
          "x", "unknown field" },
        { "[]", "", "must be a JSON object" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(PodvmSpecInterface) iface = NULL;
        g_autoptr(PodvmSpecNetwork) network = NULL;
        g_autoptr(GPtrArray) problems = NULL;

        g_assert_false(attach(cases[i].json, &iface, &network, &problems));
        g_assert_null(iface);
        g_assert_null(network);
        assert_problem(problems, cases[i].path, cases[i].needle);
        g_assert_cmpuint(problems->len, ==, 1);
    }
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/common/spec/network/none", test_none);
    g_test_add_func("/podvm/common/spec/network/masquerade-defaults", test_masquerade_defaults);
    g_test_add_func("/podvm/common/spec/network/full-round-trip", test_full_round_trip);
    g_test_add_func("/podvm/common/spec/network/bindings", test_bindings);
    g_test_add_func("/podvm/common/spec/network/kubevirt-vmi", test_kubevirt_vmi);
    g_test_add_func("/podvm/common/spec/network/vm-template", test_vm_template);
    g_test_add_func("/podvm/common/spec/network/mac", test_mac);
    g_test_add_func("/podvm/common/spec/network/entry-json", test_entry_json);
    g_test_add_func("/podvm/common/spec/network/file-masquerade", test_file_masquerade);
    g_test_add_func("/podvm/common/spec/network/file-networks", test_file_networks);
    g_test_add_func("/podvm/common/spec/network/file-invalid", test_file_invalid);
    g_test_add_func("/podvm/common/spec/network/refused-interfaces", test_refused_interfaces);
    g_test_add_func("/podvm/common/spec/network/refused-networks", test_refused_networks);
    g_test_add_func("/podvm/common/spec/network/refused-with-disks", test_refused_with_disks);
    g_test_add_func("/podvm/common/spec/network/too-many", test_too_many);
    g_test_add_func("/podvm/common/spec/network/attachment", test_attachment);
    g_test_add_func("/podvm/common/spec/network/attachment-refused", test_attachment_refused);
    return g_test_run();
}
