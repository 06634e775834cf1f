/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmctl show NAME [-o json] */
#include "podvm-build-config.h"

#include <glib/gi18n.h>

#include "podvmctl-util.h"

/* Copies @member of @from into @to, or null when @from lacks it. */
static void
copy_member(JsonObject *to, JsonObject *from, const char *member)
{
    JsonNode *node = from != NULL ? json_object_get_member(from, member) : NULL;

    if (node != NULL)
        json_object_set_member(to, member, json_node_copy(node));
    else
        json_object_set_null_member(to, member);
}

int
podvmctl_cmd_show(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_output = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonNode) spec = NULL;
    g_autoptr(JsonNode) status_node = NULL;
    g_autoptr(JsonObject) result = json_object_new();
    g_autoptr(JsonNode) result_node = NULL;
    const char *spec_text;
    const char *status_text;
    const char *name;
    int status;
    const GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: json (the default)"), N_("FORMAT") },
        { NULL },
    };

    if (!podvmctl_parse_options("show", "NAME",
                                _("Show a pod's metadata, spec and status as JSON."), entries, 1, 1,
                                &argc, &argv, &status))
        return status;
    if (opt_output != NULL && g_str_equal(opt_output, "yaml"))
        return podvmctl_usage_error("show", _("YAML output is not supported yet; use -o json"));
    if (opt_output != NULL && !g_str_equal(opt_output, "json"))
        return podvmctl_usage_error("show", _("unknown output format '%s'; expected json"),
                                    opt_output);
    name = argv[1];
    if (!podvmctl_check_name("show", name, &status))
        return status;

    pod = podvmctl_get_pod(ctl, name, &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);

    spec_text = podvm_dbus_pod_get_spec(pod);
    status_text = podvm_dbus_pod_get_status(pod);
    if (spec_text == NULL || status_text == NULL)
        return podvmctl_fail_message(_("podvmd did not give the spec and status of pod '%s'"),
                                     name);

    spec = podvmctl_parse_json(spec_text, -1, _("the pod's spec"), &error);
    if (spec == NULL)
        return podvmctl_fail_message("%s", error->message);
    if (!JSON_NODE_HOLDS_OBJECT(spec))
        return podvmctl_fail_message(_("the spec of pod '%s' is not a JSON object"), name);
    status_node = podvmctl_parse_json(status_text, -1, _("the pod's status"), &error);
    if (status_node == NULL)
        return podvmctl_fail_message("%s", error->message);

    copy_member(result, json_node_get_object(spec), "metadata");
    copy_member(result, json_node_get_object(spec), "spec");
    json_object_set_member(result, "status", json_node_copy(status_node));

    result_node = json_node_init_object(json_node_alloc(), result);
    podvmctl_print_json(result_node, TRUE);
    return PODVMCTL_EXIT_OK;
}
