/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Interfaces (spec.domain.devices.interfaces) and networks (spec.networks):
 * each interface joins the network of its name with a binding (masquerade,
 * bridge, slirp, sriov, passt). The parser with its rules, and the NIC
 * attachment document read by podvm_spec_parse_interface_attachment().
 * Their model and JSON are in podvm-spec-network-model.c.
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

/* ------------------------------------------------------------------------ */
/* Parsing an interface */

/* While parsing only: an interface given no binding (reported; such a spec is never returned). */
#define BINDING_NONE ((PodvmBinding)SPEC_N_BINDINGS)

/* Not translated: field names. */
#define BINDINGS_TEXT "masquerade, bridge, slirp, sriov or passt"

/*
 * A PCI address written in full, "DDDD:BB:SS.F" (hex domain, bus and slot
 * up to 1f, function 0 to 7): nothing shorter, longer or otherwise spelled.
 */
static gboolean
pci_address_is_valid(const char *text)
{
    static const char shape[] = "xxxx:xx:xx.x";
    gsize i;

    if (strlen(text) != sizeof(shape) - 1)
        return FALSE;
    for (i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'x' ? !g_ascii_isxdigit(text[i]) : text[i] != shape[i])
            return FALSE;
    }
    return g_ascii_xdigit_value(text[8]) <= 1 && text[11] >= '0' && text[11] <= '7';
}

static char *
read_pci_address(Parser *p, const char *path, JsonNode *node)
{
    const char *text = spec_read_string(p, path, node);

    if (text == NULL)
        return NULL;
    if (!pci_address_is_valid(text)) {
        g_autofree char *quoted = podvm_quote_for_message(text);
        spec_add_problem(p, path,
                         _("%s is not a PCI address: write DOMAIN:BUS:SLOT.FUNCTION in hex, like "
                           "\"0000:81:00.1\" (slot at most 1f, function 0 to 7)"),
                         quoted);
        return NULL;
    }
    return g_ascii_strdown(text, -1);
}

static char *
read_mac_address(Parser *p, const char *path, JsonNode *node)
{
    const char *text = spec_read_string(p, path, node);
    g_autofree char *quoted = NULL;
    guint8 mac[6];

    if (text == NULL)
        return NULL;
    quoted = podvm_quote_for_message(text);
    if (!spec_mac_parse(text, mac)) {
        spec_add_problem(p, path,
                         _("%s is not a MAC address: write six hex pairs separated by ':' or '-', "
                           "like \"02:00:00:00:00:01\""),
                         quoted);
        return NULL;
    }
    if (mac[0] & 0x01) {
        spec_add_problem(p, path,
                         _("%s is a multicast address: a NIC needs a unicast one (an even first "
                           "byte, like \"02:...\")"),
                         quoted);
        return NULL;
    }
    if ((mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0) {
        spec_add_problem(p, path, _("%s is all zeros: give a real address or none"), quoted);
        return NULL;
    }
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                           mac[5]);
}

/* Kubernetes' IANA_SVC_NAME: 1 to 15 of [a-z0-9-], a letter among them, no "--", no '-' at
 * either end. */
static gboolean
port_name_is_valid(const char *name)
{
    gsize length = strlen(name);
    gboolean letter = FALSE;
    const char *c;

    if (length == 0 || length > 15 || name[0] == '-' || name[length - 1] == '-' ||
        strstr(name, "--") != NULL || !spec_matches_charset(name, "-", FALSE))
        return FALSE;
    for (c = name; *c != '\0'; c++)
        letter = letter || g_ascii_islower(*c);
    return letter;
}

static PodvmSpecPort *
parse_port(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "protocol", FIELD_KNOWN, NULL },
        { "port", FIELD_KNOWN, NULL },
        { "hostPort", FIELD_KNOWN, NULL },
    };
    g_autoptr(PodvmSpecPort) port = g_new0(PodvmSpecPort, 1);
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;
    gboolean ok = TRUE;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    if ((child = spec_member(object, "name")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "name");
        const char *name = spec_read_string(p, child_path, child);

        if (name != NULL && !port_name_is_valid(name)) {
            g_autofree char *quoted = podvm_quote_for_message(name);
            spec_add_problem(p, child_path,
                             _("%s is not a valid port name: use 1 to 15 lowercase letters, "
                               "digits and '-' with at least one letter, no \"--\", and no '-' at "
                               "either end"),
                             quoted);
        } else if (name != NULL) {
            port->name = g_strdup(name);
        }
    }

    port->protocol = g_strdup("TCP");
    if ((child = spec_member(object, "protocol")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "protocol");
        const char *protocol = spec_read_string(p, child_path, child);

        if (protocol != NULL && strcmp(protocol, "TCP") != 0 && strcmp(protocol, "UDP") != 0) {
            g_autofree char *quoted = podvm_quote_for_message(protocol);
            spec_add_problem(p, child_path, _("unknown protocol %s: use TCP or UDP (in capitals)"),
                             quoted);
        } else if (protocol != NULL) {
            g_free(port->protocol);
            port->protocol = g_strdup(protocol);
        }
    }

    child = spec_member(object, "port");
    if (child == NULL) {
        g_autofree char *child_path = spec_path_member(path, "port");
        spec_add_problem_literal(p, child_path, _("required: the guest's port, from 1 to 65535"));
        ok = FALSE;
    } else {
        g_autofree char *child_path = spec_path_member(path, "port");
        gint64 value = 0;

        ok = spec_read_integer(p, child_path, child, 1, 65535,
                               _("must be a port number from 1 to 65535"), &value);
        port->port = (guint)value;
    }

    if ((child = spec_member(object, "hostPort")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "hostPort");
        gint64 value = 0;

        if (spec_read_integer(p, child_path, child, 1, 65535,
                              _("must be a port number from 1 to 65535"), &value))
            port->host_port = (guint)value;
    }
    if (!ok)
        return NULL;
    return g_steal_pointer(&port);
}

static void
parse_ports(Parser *p, const char *path, JsonNode *node, PodvmSpecInterface *iface)
{
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) numbers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    JsonArray *array = spec_read_array(p, path, node);
    guint length;
    guint i;

    if (array == NULL)
        return;
    length = json_array_get_length(array);
    if (length > MAX_PORTS) {
        spec_add_problem(p, path, _("has %u ports: an interface has at most %d"), length,
                         (int)MAX_PORTS);
        return;
    }
    for (i = 0; i < length; i++) {
        g_autofree char *item_path = spec_path_index(path, i);
        PodvmSpecPort *port = parse_port(p, item_path, json_array_get_element(array, i));
        g_autofree char *key = NULL;

        if (port == NULL)
            continue;
        g_ptr_array_add(iface->ports, port);
        if (port->name != NULL && !g_hash_table_add(names, port->name)) {
            g_autofree char *name_path = spec_path_member(item_path, "name");
            g_autofree char *quoted = podvm_quote_for_message(port->name);
            spec_add_problem(p, name_path,
                             _("%s is the name of another port: port names are unique"), quoted);
        }
        key = g_strdup_printf("%s/%u", port->protocol, port->port);
        if (!g_hash_table_add(numbers, g_steal_pointer(&key))) {
            g_autofree char *port_path = spec_path_member(item_path, "port");
            spec_add_problem(p, port_path, _("%s port %u is given twice"), port->protocol,
                             port->port);
        }
    }
}

static void
parse_binding(Parser *p, const char *path, JsonNode *node, PodvmSpecInterface *iface)
{
    static const Field sriov_fields[] = {
        { "hostPciAddress", FIELD_KNOWN, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    if (iface->binding != PODVM_BINDING_SRIOV) {
        spec_check_members(p, path, object, NULL, 0); /* every member is unknown */
        return;
    }
    CHECK_MEMBERS(p, path, object, sriov_fields);
    if ((child = spec_member(object, "hostPciAddress")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "hostPciAddress");
        iface->sriov_host_address = read_pci_address(p, child_path, child);
    }
}

PodvmSpecInterface *
spec_parse_interface(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "masquerade", FIELD_KNOWN, NULL },
        { "bridge", FIELD_KNOWN, NULL },
        { "slirp", FIELD_KNOWN, NULL },
        { "sriov", FIELD_KNOWN, NULL },
        { "passt", FIELD_KNOWN, NULL },
        { "model", FIELD_KNOWN, NULL },
        { "macAddress", FIELD_KNOWN, NULL },
        { "ports", FIELD_KNOWN, NULL },
        { "bootOrder", FIELD_KNOWN, NULL },
        { "pciAddress", FIELD_KNOWN, NULL },
        { "macvtap", FIELD_NOT_PODVM, N_("use bridge on a multus network") },
        { "binding", FIELD_NOT_YET, N_("podvm has no binding plugins; use passt: {}") },
        { "dhcpOptions", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "tag", FIELD_NOT_YET, NULL },
        { "acpiIndex", FIELD_NOT_YET, NULL },
        { "state", FIELD_NOT_YET, NULL },
    };
    g_autoptr(PodvmSpecInterface) iface = spec_interface_new();
    g_autoptr(GString) given = g_string_new(NULL);
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;
    guint n_bindings = 0;
    gsize i;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    iface->name =
        spec_read_required_name(p, path, object, _("required: the name of the network it joins"));

    for (i = 0; i < SPEC_N_BINDINGS; i++) {
        if (spec_member(object, spec_binding_names[i]) == NULL)
            continue;
        if (n_bindings++ == 0)
            iface->binding = (PodvmBinding)i;
        else
            g_string_append(given, ", ");
        g_string_append(given, spec_binding_names[i]);
    }
    if (n_bindings == 0) {
        iface->binding = BINDING_NONE;
        spec_add_problem(p, path, _("required: a binding, one of %s"), BINDINGS_TEXT);
    } else if (n_bindings > 1)
        spec_add_problem(p, path, _("has %u bindings (%s): give only one of %s"), n_bindings,
                         given->str, BINDINGS_TEXT);
    if (n_bindings > 0) {
        g_autofree char *child_path = spec_path_member(path, spec_binding_names[iface->binding]);
        parse_binding(p, child_path, spec_member(object, spec_binding_names[iface->binding]),
                      iface);
    }

    if ((child = spec_member(object, "model")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "model");
        const char *model = spec_read_string(p, child_path, child);
        guint value = 0;

        if (model != NULL &&
            !spec_parse_enum(model, spec_nic_model_names, SPEC_N_NIC_MODELS, &value)) {
            g_autofree char *quoted = podvm_quote_for_message(model);
            spec_add_problem(p, child_path, _("unknown model %s: use virtio, e1000 or rtl8139"),
                             quoted);
        } else if (model != NULL) {
            iface->model = (PodvmNicModel)value;
        }
    }

    if ((child = spec_member(object, "macAddress")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "macAddress");
        iface->mac_address = read_mac_address(p, child_path, child);
    }

    if ((child = spec_member(object, "ports")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "ports");

        parse_ports(p, child_path, child, iface);
        if (iface->ports->len > 0 && n_bindings > 0 &&
            (iface->binding == PODVM_BINDING_BRIDGE || iface->binding == PODVM_BINDING_SRIOV))
            spec_add_problem(p, child_path,
                             _("a %s interface gets every port of its address: ports are for the "
                               "masquerade, slirp and passt bindings"),
                             spec_binding_names[iface->binding]);
    }

    if ((child = spec_member(object, "bootOrder")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "bootOrder");
        gint64 value = 0;

        if (spec_read_integer(p, child_path, child, 1, MAX_BOOT_ORDER,
                              _("must be a whole number from 1 to 65535"), &value))
            iface->boot_order = (guint)value;
    }

    if ((child = spec_member(object, "pciAddress")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "pciAddress");
        iface->pci_address = read_pci_address(p, child_path, child);
    }
    return g_steal_pointer(&iface);
}

static gpointer
read_interface(Parser *p, const char *path, JsonNode *node)
{
    return spec_parse_interface(p, path, node);
}

static const char *
interface_name(gconstpointer item)
{
    return ((const PodvmSpecInterface *)item)->name;
}

typedef struct {
    PodvmSpec *spec;
    GHashTable *macs; /* lowercase MAC -> TRUE */
} InterfacesState;

static void
take_interface(Parser *p, const char *item_path, gpointer item, gpointer user_data)
{
    InterfacesState *state = user_data;
    PodvmSpecInterface *iface = item;

    g_ptr_array_add(state->spec->interfaces, iface);
    if (iface->mac_address != NULL && !g_hash_table_add(state->macs, iface->mac_address)) {
        g_autofree char *mac_path = spec_path_member(item_path, "macAddress");
        g_autofree char *quoted = podvm_quote_for_message(iface->mac_address);
        spec_add_problem(p, mac_path, _("%s is the MAC address of another interface"), quoted);
    }
}

static void
too_many_interfaces(Parser *p, const char *path, guint length, guint max_items)
{
    spec_add_problem(p, path, _("has %u interfaces: a pod has at most %d"), length, (int)max_items);
}

static void
duplicate_interface(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    spec_add_problem(p, name_path,
                     _("%s is the name of another interface: interface names are unique, and a "
                       "network is joined by one interface only"),
                     quoted);
}

void
spec_parse_interfaces(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                      SpecNamedList *list)
{
    static const SpecNamedListKind kind = {
        .read = read_interface,
        .name = interface_name,
        .take = take_interface,
        .max_items = MAX_INTERFACES,
        .too_many = too_many_interfaces,
        .duplicate = duplicate_interface,
    };
    g_autoptr(GHashTable) macs = g_hash_table_new(g_str_hash, g_str_equal);
    InterfacesState state = { spec, macs };

    spec_read_named_list(p, path, node, &kind, &state, list);
}

/* ------------------------------------------------------------------------ */
/* Parsing a network */

/*
 * "ADDRESS/LENGTH" of @family with no bit set past LENGTH and LENGTH at most
 * @max_length; written back canonical ("fd10:0:2::/120").
 */
static char *
read_cidr(Parser *p, const char *path, JsonNode *node, GSocketFamily family, guint max_length,
          const char *example)
{
    const char *text = spec_read_string(p, path, node);
    g_autofree char *quoted = NULL;
    g_autofree char *address_text = NULL;
    g_autoptr(GInetAddress) address = NULL;
    g_autofree char *canonical = NULL;
    const char *slash;
    const guint8 *bytes;
    guint length = 0;
    guint n_bits = 0;
    guint bit;
    gboolean ok;

    if (text == NULL)
        return NULL;
    quoted = podvm_quote_for_message(text);
    slash = strchr(text, '/');
    /* The length in decimal without leading zeros; no zone ("%eth0") on the address. */
    ok = slash != NULL && strlen(slash + 1) >= 1 && strlen(slash + 1) <= 3 &&
         !(slash[1] == '0' && slash[2] != '\0') && strchr(text, '%') == NULL;
    for (const char *c = ok ? slash + 1 : ""; *c != '\0'; c++) {
        ok = ok && g_ascii_isdigit(*c);
        length = length * 10 + (guint)(*c - '0');
    }
    if (ok) {
        address_text = g_strndup(text, slash - text);
        address = g_inet_address_new_from_string(address_text);
        ok = address != NULL && g_inet_address_get_family(address) == family;
    }
    if (ok) {
        n_bits = (guint)g_inet_address_get_native_size(address) * 8;
        ok = length <= n_bits;
    }
    if (!ok) {
        spec_add_problem(p, path,
                         family == G_SOCKET_FAMILY_IPV4
                             ? _("%s is not an IPv4 network: write ADDRESS/LENGTH, like %s")
                             : _("%s is not an IPv6 network: write ADDRESS/LENGTH, like %s"),
                         quoted, example);
        return NULL;
    }
    if (length > max_length) {
        spec_add_problem(
            p, path,
            _("%s is too small: the prefix is at most /%u, to hold the gateway and the "
              "guest"),
            quoted, max_length);
        return NULL;
    }
    bytes = g_inet_address_to_bytes(address);
    for (bit = length; bit < n_bits; bit++) {
        if (bytes[bit / 8] & (0x80 >> (bit % 8))) {
            spec_add_problem(p, path,
                             _("%s has bits set past its prefix: write the network's first "
                               "address, like %s"),
                             quoted, example);
            return NULL;
        }
    }
    canonical = g_inet_address_to_string(address);
    return g_strdup_printf("%s/%u", canonical, length);
}

static void
parse_pod_network(Parser *p, const char *path, JsonObject *object, PodvmSpecNetwork *network)
{
    static const Field fields[] = {
        { "vmNetworkCIDR", FIELD_KNOWN, NULL },
        { "vmIPv6NetworkCIDR", FIELD_KNOWN, NULL },
    };
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);
    if ((child = spec_member(object, "vmNetworkCIDR")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "vmNetworkCIDR");
        network->vm_cidr = read_cidr(p, child_path, child, G_SOCKET_FAMILY_IPV4, 30,
                                     "\"" PODVM_SPEC_DEFAULT_VM_CIDR "\"");
    }
    if ((child = spec_member(object, "vmIPv6NetworkCIDR")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "vmIPv6NetworkCIDR");
        network->vm_ipv6_cidr = read_cidr(p, child_path, child, G_SOCKET_FAMILY_IPV6, 126,
                                          "\"" PODVM_SPEC_DEFAULT_VM_IPV6_CIDR "\"");
    }
}

/* A CNI network's name as podvm looks it up: 1 to 253 of [A-Za-z0-9._-], not starting with '.'. */
static gboolean
network_name_is_valid(const char *name)
{
    return strlen(name) <= MAX_MAP_KEY_LENGTH && name[0] != '.' &&
           spec_matches_charset(name, "._-", TRUE);
}

static void
parse_multus_network(Parser *p, const char *path, JsonObject *object, PodvmSpecNetwork *network)
{
    static const Field fields[] = {
        { "networkName", FIELD_KNOWN, NULL },
        { "default", FIELD_NOT_YET_UNLESS_OFF, N_("the pod network is spec.networks[].pod") },
    };
    g_autofree char *child_path = spec_path_member(path, "networkName");
    JsonNode *child;
    const char *name;

    CHECK_MEMBERS(p, path, object, fields);
    child = spec_member(object, "networkName");
    if (child == NULL) {
        spec_add_problem_literal(p, child_path,
                                 _("required: the name of a CNI network configuration of podvmd"));
        return;
    }
    name = spec_read_string(p, child_path, child);
    if (name == NULL)
        return;
    if (strchr(name, '/') != NULL) {
        g_autofree char *quoted = podvm_quote_for_message(name);
        spec_add_problem(p, child_path,
                         _("%s names a namespace: podvm has no namespaces; give the network's "
                           "name alone"),
                         quoted);
    } else if (!network_name_is_valid(name)) {
        g_autofree char *quoted = podvm_quote_for_message(name);
        spec_add_problem(p, child_path,
                         _("%s is not a valid network name: use 1 to 253 letters, digits, '.', "
                           "'_' and '-', not starting with '.'"),
                         quoted);
    } else {
        network->network_name = g_strdup(name);
    }
}

PodvmSpecNetwork *
spec_parse_network(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "pod", FIELD_KNOWN, NULL },
        { "multus", FIELD_KNOWN, NULL },
    };
    g_autoptr(PodvmSpecNetwork) network = g_new0(PodvmSpecNetwork, 1);
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *pod;
    JsonNode *multus;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    network->name = spec_read_required_name(p, path, object,
                                            _("required: the name of the interface joining it"));
    pod = spec_member(object, "pod");
    multus = spec_member(object, "multus");
    if (pod == NULL && multus == NULL) {
        spec_add_problem_literal(p, path,
                                 _("required: a source, pod: {} (the pod network) or multus: "
                                   "{networkName}"));
    } else if (pod != NULL && multus != NULL) {
        spec_add_problem_literal(p, path, _("give either pod or multus, not both"));
    } else {
        g_autofree char *source_path = spec_path_member(path, pod != NULL ? "pod" : "multus");
        JsonObject *source = spec_read_object(p, source_path, pod != NULL ? pod : multus);

        network->source = pod != NULL ? PODVM_NETWORK_POD : PODVM_NETWORK_MULTUS;
        if (source != NULL && pod != NULL)
            parse_pod_network(p, source_path, source, network);
        else if (source != NULL)
            parse_multus_network(p, source_path, source, network);
    }
    return g_steal_pointer(&network);
}

static gpointer
read_network(Parser *p, const char *path, JsonNode *node)
{
    return spec_parse_network(p, path, node);
}

static const char *
network_name(gconstpointer item)
{
    return ((const PodvmSpecNetwork *)item)->name;
}

typedef struct {
    PodvmSpec *spec;
    char *pod_path; /* the first pod network's path, or NULL */
} NetworksState;

static void
take_network(Parser *p, const char *item_path, gpointer item, gpointer user_data)
{
    NetworksState *state = user_data;
    PodvmSpecNetwork *network = item;

    g_ptr_array_add(state->spec->networks, network);
    if (network->source != PODVM_NETWORK_POD)
        return;
    if (state->pod_path != NULL) {
        g_autofree char *pod_path = spec_path_member(item_path, "pod");
        spec_add_problem(p, pod_path,
                         _("%s is the pod network already: a pod has one pod network; use multus "
                           "for more"),
                         state->pod_path);
    } else {
        state->pod_path = g_strdup(item_path);
    }
}

static void
too_many_networks(Parser *p, const char *path, guint length, guint max_items)
{
    spec_add_problem(p, path, _("has %u networks: a pod has at most %d"), length, (int)max_items);
}

static void
duplicate_network(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    spec_add_problem(p, name_path, _("%s is the name of another network: network names are unique"),
                     quoted);
}

void
spec_parse_networks(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                    SpecNamedList *list)
{
    static const SpecNamedListKind kind = {
        .read = read_network,
        .name = network_name,
        .take = take_network,
        .max_items = MAX_INTERFACES,
        .too_many = too_many_networks,
        .duplicate = duplicate_network,
    };
    NetworksState state = { spec, NULL };

    spec_read_named_list(p, path, node, &kind, &state, list);
    g_free(state.pod_path);
}

/* ------------------------------------------------------------------------ */
/* The joins */

/* masquerade, slirp and passt need the pod network, sriov a multus one; bridge takes either. */
static void
check_binding_fits(Parser *p, const char *iface_path, const PodvmSpecInterface *iface,
                   const PodvmSpecNetwork *network)
{
    g_autofree char *binding_path = NULL;
    g_autofree char *quoted = NULL;

    if (iface->binding == BINDING_NONE || network->name == NULL)
        return;
    binding_path = spec_path_member(iface_path, spec_binding_names[iface->binding]);
    quoted = podvm_quote_for_message(network->name);
    switch (iface->binding) {
    case PODVM_BINDING_MASQUERADE:
    case PODVM_BINDING_SLIRP:
    case PODVM_BINDING_PASST:
        if (network->source != PODVM_NETWORK_POD)
            spec_add_problem(p, binding_path,
                             _("the %s binding is for the pod network, but network %s is a "
                               "multus network; use bridge or sriov"),
                             spec_binding_names[iface->binding], quoted);
        break;
    case PODVM_BINDING_SRIOV:
        if (network->source != PODVM_NETWORK_MULTUS)
            spec_add_problem(p, binding_path,
                             _("the sriov binding is for a multus network naming an SR-IOV pool, "
                               "but network %s is the pod network"),
                             quoted);
        break;
    case PODVM_BINDING_BRIDGE:
    default:
        break;
    }
}

static void
no_such_network(Parser *p, const char *name_path, const char *quoted, const char *networks_path)
{
    spec_add_problem(p, name_path, _("no network named %s in %s"), quoted, networks_path);
}

static void
network_not_used(Parser *p, const char *name_path, const char *quoted, const char *ifaces_path)
{
    spec_add_problem(p, name_path,
                     _("no interface joins this network: add an interface named %s to %s"), quoted,
                     ifaces_path);
}

void
spec_check_interfaces_join_networks(Parser *p, const char *ifaces_path, const SpecNamedList *ifaces,
                                    const char *networks_path, const SpecNamedList *networks,
                                    const PodvmSpec *spec)
{
    g_autoptr(GHashTable) boot_orders = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_autoptr(GHashTable) host_ports = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint i;
    guint j;

    spec_join_named_lists(p, ifaces_path, ifaces, networks_path, networks, no_such_network,
                          network_not_used);

    /* Boot orders are unique among disks and interfaces alike (QEMU's bootindex). */
    for (i = 0; i < spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);

        if (disk->boot_order != 0)
            g_hash_table_add(boot_orders, GUINT_TO_POINTER(disk->boot_order));
    }

    for (i = 0; ifaces->entries != NULL && i < ifaces->entries->len; i++) {
        const SpecNamedEntry *entry = &g_array_index(ifaces->entries, SpecNamedEntry, i);
        const PodvmSpecInterface *iface = entry->item;
        const SpecNamedEntry *network_entry = spec_named_list_lookup(networks, entry->name);
        g_autofree char *item_path = spec_path_index(ifaces_path, entry->index);

        if (network_entry != NULL && spec_named_list_lookup(ifaces, entry->name) == entry)
            check_binding_fits(p, item_path, iface, network_entry->item);

        if (iface->boot_order != 0 &&
            !g_hash_table_add(boot_orders, GUINT_TO_POINTER(iface->boot_order))) {
            g_autofree char *order_path = spec_path_member(item_path, "bootOrder");
            spec_add_problem(p, order_path,
                             _("another disk or interface has boot order %u: boot orders are "
                               "unique"),
                             iface->boot_order);
        }

        for (j = 0; j < iface->ports->len; j++) {
            const PodvmSpecPort *port = g_ptr_array_index(iface->ports, j);
            g_autofree char *key = NULL;

            if (port->host_port == 0)
                continue;
            key = g_strdup_printf("%s/%u", port->protocol, port->host_port);
            if (!g_hash_table_add(host_ports, g_steal_pointer(&key))) {
                g_autofree char *ports_path = spec_path_member(item_path, "ports");
                g_autofree char *port_path = spec_path_index(ports_path, j);
                g_autofree char *host_path = spec_path_member(port_path, "hostPort");
                spec_add_problem(p, host_path,
                                 _("%s host port %u is given to another port already"),
                                 port->protocol, port->host_port);
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The NIC attachment document */

void
spec_parse_interface_attachment(Parser *p, JsonNode *root, PodvmSpecInterface **out_interface,
                                PodvmSpecNetwork **out_network)
{
    static const Field fields[] = {
        { "interface", FIELD_KNOWN, NULL },
        { "network", FIELD_KNOWN, NULL },
    };
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;
    JsonObject *object;
    JsonNode *child;

    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        spec_add_problem(p, "", _("the document must be a JSON object, got %s"),
                         spec_type_name(root));
        return;
    }
    object = json_node_get_object(root);
    CHECK_MEMBERS(p, "", object, fields);

    child = spec_member(object, "interface");
    if (child == NULL)
        spec_add_problem_literal(
            p, "interface",
            _("required: the interface, as an entry of spec.domain.devices.interfaces"));
    else
        iface = spec_parse_interface(p, "interface", child);

    child = spec_member(object, "network");
    if (child == NULL)
        spec_add_problem_literal(p, "network",
                                 _("required: the network, as an entry of spec.networks"));
    else
        network = spec_parse_network(p, "network", child);

    if (iface != NULL && network != NULL && iface->name != NULL && network->name != NULL) {
        if (strcmp(iface->name, network->name) != 0) {
            g_autofree char *iface_name = podvm_quote_for_message(iface->name);
            g_autofree char *network_name = podvm_quote_for_message(network->name);

            spec_add_problem(p, "interface.name",
                             _("is %s but the network is named %s: an interface joins the network "
                               "of its name"),
                             iface_name, network_name);
        } else {
            check_binding_fits(p, "interface", iface, network);
        }
    }
    *out_interface = g_steal_pointer(&iface);
    *out_network = g_steal_pointer(&network);
}
