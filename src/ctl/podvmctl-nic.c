/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl attach-nic POD -f FILE
 * podvmctl attach-nic POD --name NAME --binding masquerade|bridge|slirp|sriov|passt
 *                         [--network pod|CONFLIST | --multus CONFLIST] [--mac MAC]
 *                         [--model virtio|e1000|rtl8139] [--port [HOSTPORT:]PORT[/tcp|udp]]...
 *                         [--dry-run]
 * podvmctl detach-nic POD NAME
 *
 * FILE (JSON or YAML) is what Pod.AttachInterface takes: {"interface": <a
 * devices.interfaces[] entry>, "network": <a networks[] entry>}. The flags
 * build the same document; the network entry is named like the interface,
 * as the spec requires. --dry-run prints the document instead of sending it.
 */
#include "podvm-build-config.h"
#include "podvm-json.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "podvm-spec.h"
#include "podvmctl-util.h"

/* The --network value that means the pod network, and the default. */
#define POD_NETWORK "pod"

typedef struct {
    char *file;
    char *name;
    char *network;
    char *multus;
    char *binding;
    char *mac;
    char *model;
    GStrv ports;
    gboolean dry_run;
} AttachOptions;

static void
attach_options_clear(AttachOptions *options)
{
    g_clear_pointer(&options->file, g_free);
    g_clear_pointer(&options->name, g_free);
    g_clear_pointer(&options->network, g_free);
    g_clear_pointer(&options->multus, g_free);
    g_clear_pointer(&options->binding, g_free);
    g_clear_pointer(&options->mac, g_free);
    g_clear_pointer(&options->model, g_free);
    g_clear_pointer(&options->ports, g_strfreev);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AttachOptions, attach_options_clear)

static gboolean
binding_from_string(const char *text, PodvmBinding *out_binding)
{
    for (PodvmBinding binding = PODVM_BINDING_MASQUERADE; binding <= PODVM_BINDING_PASST;
         binding++) {
        if (g_str_equal(text, podvm_binding_to_string(binding))) {
            *out_binding = binding;
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean
model_from_string(const char *text, PodvmNicModel *out_model)
{
    for (PodvmNicModel model = PODVM_NIC_MODEL_VIRTIO; model <= PODVM_NIC_MODEL_RTL8139; model++) {
        if (g_str_equal(text, podvm_nic_model_to_string(model))) {
            *out_model = model;
            return TRUE;
        }
    }
    return FALSE;
}

/* A port number 1..65535 written in decimal, nothing else. */
static gboolean
port_number(const char *text, guint *out)
{
    guint64 value = 0;

    if (text == NULL || !g_ascii_isdigit(*text) ||
        !g_ascii_string_to_unsigned(text, 10, 1, 65535, &value, NULL))
        return FALSE;
    *out = (guint)value;
    return TRUE;
}

/* "[HOSTPORT:]PORT[/tcp|/udp]" (the protocol in any case) into a port of the spec. */
static PodvmSpecPort *
parse_port_option(const char *text)
{
    g_autofree char *copy = g_strdup(text);
    g_autofree PodvmSpecPort *port = g_new0(PodvmSpecPort, 1);
    char *slash = strchr(copy, '/');
    char *colon = strchr(copy, ':');
    const char *number = copy;

    port->protocol = (char *)"TCP";
    if (slash != NULL) {
        *slash = '\0';
        if (g_ascii_strcasecmp(slash + 1, "udp") == 0)
            port->protocol = (char *)"UDP";
        else if (g_ascii_strcasecmp(slash + 1, "tcp") != 0)
            return NULL;
    }
    if (colon != NULL) {
        *colon = '\0';
        number = colon + 1;
        if (!port_number(copy, &port->host_port))
            return NULL;
    }
    if (!port_number(number, &port->port))
        return NULL;
    return g_steal_pointer(&port);
}

/*
 * The attachment document from the flags. Checks what the client can check
 * alone (a known binding and model, port syntax, names); the daemon
 * validates the rest (MAC, which binding fits which network), as for -f.
 */
static char *
build_attachment(const AttachOptions *options, int *out_status)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GPtrArray) ports = g_ptr_array_new_with_free_func(g_free);
    PodvmSpecInterface iface = { 0 };
    PodvmSpecNetwork network = { 0 };
    const char *network_name = NULL;

    if (options->name == NULL) {
        *out_status = podvmctl_usage_error("attach-nic", _("missing -f FILE or --name NAME"));
        return NULL;
    }
    if (!podvmctl_check_name_option("attach-nic", "--name", options->name, out_status))
        return NULL;
    if (options->binding == NULL) {
        *out_status = podvmctl_usage_error(
            "attach-nic", _("missing --binding masquerade, bridge, slirp, sriov or passt"));
        return NULL;
    }
    if (!binding_from_string(options->binding, &iface.binding)) {
        *out_status = podvmctl_usage_error(
            "attach-nic",
            _("unknown binding '%s'; expected masquerade, bridge, slirp, sriov or passt"),
            options->binding);
        return NULL;
    }
    if (options->model != NULL && !model_from_string(options->model, &iface.model)) {
        *out_status = podvmctl_usage_error(
            "attach-nic", _("unknown model '%s'; expected virtio, e1000 or rtl8139"),
            options->model);
        return NULL;
    }
    if (options->network != NULL && options->multus != NULL) {
        *out_status =
            podvmctl_usage_error("attach-nic", _("--network and --multus exclude each other"));
        return NULL;
    }
    if (options->multus != NULL)
        network_name = options->multus;
    else if (options->network != NULL && !g_str_equal(options->network, POD_NETWORK))
        network_name = options->network;
    if (network_name != NULL && *network_name == '\0') {
        *out_status = podvmctl_usage_error("attach-nic", _("the network's name is empty"));
        return NULL;
    }
    for (gsize i = 0; options->ports != NULL && options->ports[i] != NULL; i++) {
        PodvmSpecPort *port = parse_port_option(options->ports[i]);

        if (port == NULL) {
            *out_status = podvmctl_usage_error(
                "attach-nic",
                _("--port '%s': write [HOSTPORT:]PORT[/tcp|/udp] with ports from 1 to 65535"),
                options->ports[i]);
            return NULL;
        }
        g_ptr_array_add(ports, port);
    }

    /* The document is written by the spec's own writers. */
    iface.name = options->name;
    iface.mac_address = options->mac;
    iface.ports = ports;
    network.name = options->name;
    network.source = network_name != NULL ? PODVM_NETWORK_MULTUS : PODVM_NETWORK_POD;
    network.network_name = (char *)network_name;

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "interface");
    json_builder_add_value(builder, podvm_spec_interface_to_json(&iface));
    json_builder_set_member_name(builder, "network");
    json_builder_add_value(builder, podvm_spec_network_to_json(&network));
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    return podvm_json_to_string(root, FALSE);
}

int
podvmctl_cmd_attach_nic(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_auto(AttachOptions) options = { 0 };
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *attachment = NULL;
    const char *pod_name;
    const char *nic_name = NULL;
    int status;
    const GOptionEntry entries[] = {
        { "filename", 'f', 0, G_OPTION_ARG_FILENAME, &options.file,
          N_("The attachment {\"interface\": …, \"network\": …} (JSON or YAML; '-' reads stdin)"),
          N_("FILE") },
        { "name", 0, 0, G_OPTION_ARG_STRING, &options.name,
          N_("The interface's name (also its network's)"), N_("NAME") },
        { "binding", 0, 0, G_OPTION_ARG_STRING, &options.binding,
          N_("masquerade, bridge, slirp, sriov or passt"), N_("BINDING") },
        { "network", 0, 0, G_OPTION_ARG_STRING, &options.network,
          N_("'pod' for the pod network (the default), else the name of a CNI network "
             "(multus)"),
          N_("NETWORK") },
        { "multus", 0, 0, G_OPTION_ARG_STRING, &options.multus,
          N_("Join this CNI network (multus networkName)"), N_("NETWORK") },
        { "mac", 0, 0, G_OPTION_ARG_STRING, &options.mac,
          N_("The MAC address (default: one derived from the pod and the name)"), N_("MAC") },
        { "model", 0, 0, G_OPTION_ARG_STRING, &options.model,
          N_("virtio (default), e1000 or rtl8139"), N_("MODEL") },
        { "port", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options.ports,
          N_("Forward this port (masquerade, slirp, passt; repeatable), e.g. 80, 53/udp, "
             "8080:80/tcp"),
          N_("[HOSTPORT:]PORT[/PROTO]") },
        { "dry-run", 0, 0, G_OPTION_ARG_NONE, &options.dry_run,
          N_("Print the attachment document and send nothing"), NULL },
        { NULL },
    };

    if (!podvmctl_parse_options(
            "attach-nic", "POD",
            _("Hotplug a network interface into a pod; returns once the guest has it. The "
              "pod's spec keeps the interface across restarts.\n"
              "Give the attachment as a file, {\"interface\": <a devices.interfaces[] entry>, "
              "\"network\": <a networks[] entry>}, or build it with --name and --binding."),
            entries, 1, 1, &argc, &argv, &status))
        return status;
    pod_name = argv[1];
    if (!podvmctl_check_name("attach-nic", pod_name, &status))
        return status;

    if (options.file != NULL) {
        if (options.name != NULL || options.binding != NULL || options.network != NULL ||
            options.multus != NULL || options.mac != NULL || options.model != NULL ||
            options.ports != NULL)
            return podvmctl_usage_error("attach-nic",
                                        _("-f FILE excludes --name, --binding, --network, "
                                          "--multus, --mac, --model and --port"));
        root = podvmctl_read_document(options.file, &attachment, &error);
        if (root == NULL)
            return podvmctl_fail_message("%s", error->message);
        nic_name = podvmctl_json_string(
            podvmctl_json_object(json_node_get_object(root), "interface"), "name");
    } else {
        attachment = build_attachment(&options, &status);
        if (attachment == NULL)
            return status;
        nic_name = options.name;
    }

    if (options.dry_run) {
        printf("%s\n", attachment);
        fflush(stdout);
        return PODVMCTL_EXIT_OK;
    }

    pod = podvmctl_get_pod(ctl, pod_name, &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    /* Hotplug waits for the guest and may run CNI plugins first. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
    if (!podvm_dbus_pod_call_attach_interface_sync(pod, attachment, NULL, &error))
        return podvmctl_fail(ctl, error);

    g_print(_("interface %s attached to %s\n"), nic_name != NULL ? nic_name : "?", pod_name);
    return PODVMCTL_EXIT_OK;
}

int
podvmctl_cmd_detach_nic(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    const char *pod_name;
    const char *nic_name;
    int status;

    if (!podvmctl_parse_options("detach-nic", "POD NAME",
                                _("Unplug a network interface from a pod and remove it (and its "
                                  "network) from the pod's spec.\n"
                                  "On a running pod this waits until the guest lets the "
                                  "interface go."),
                                NULL, 2, 2, &argc, &argv, &status))
        return status;
    pod_name = argv[1];
    nic_name = argv[2];
    if (!podvmctl_check_name("detach-nic", pod_name, &status))
        return status;
    if (!podvmctl_check_name_option("detach-nic", NULL, nic_name, &status))
        return status;

    pod = podvmctl_get_pod(ctl, pod_name, &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    /* The daemon waits for the guest (DEVICE_DELETED) with its own timeout. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
    if (!podvm_dbus_pod_call_detach_interface_sync(pod, nic_name, NULL, &error))
        return podvmctl_fail(ctl, error);

    g_print(_("interface %s detached from %s\n"), nic_name, pod_name);
    return PODVMCTL_EXIT_OK;
}
