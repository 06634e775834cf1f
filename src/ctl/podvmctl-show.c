/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmctl show NAME [-o json|yaml] */
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

static char *
bytes_text(JsonObject *object, const char *member)
{
    gint64 bytes = podvmctl_json_int(object, member, -1);

    return bytes >= 0 ? podvmctl_format_bytes(bytes) : NULL;
}

/*
 * status.migrationState for people, after the JSON and on stderr, so that
 * what stdout carries stays one JSON document:
 *   migration to b (phase migrating): 412.0 MiB of 1.0 GiB sent, 300.0 MiB
 *   remaining, pass 3, dirty 12.0 MiB/s, 95.2 Mbps; steps: auto-converge (pass 4)
 */
static void
print_migration_state(const char *name, JsonObject *state)
{
    g_autoptr(GString) text = g_string_new(NULL);
    g_autofree char *sent = bytes_text(state, "transferredBytes");
    g_autofree char *total = bytes_text(state, "totalBytes");
    g_autofree char *remaining = bytes_text(state, "remainingBytes");
    g_autofree char *dirty = bytes_text(state, "dirtyRate");
    g_autofree char *disks = bytes_text(state, "diskTransferredBytes");
    const char *message = podvmctl_json_string(state, "message");
    const char *target = podvmctl_json_string(state, "target");
    const char *phase = podvmctl_json_string(state, "phase");
    gint64 passes = podvmctl_json_int(state, "passes", -1);
    gint64 downtime = podvmctl_json_int(state, "downtimeMs", -1);
    gint64 expected = podvmctl_json_int(state, "expectedDowntimeMs", -1);
    JsonNode *steps = json_object_get_member(state, "steps");
    JsonNode *mbps = json_object_get_member(state, "mbps");

    g_string_append_printf(text, _("%s: migration to %s"), name, target != NULL ? target : "?");
    if (phase != NULL)
        g_string_append_printf(text, _(" (phase %s)"), phase);
    g_string_append_c(text, ':');
    if (sent != NULL && total != NULL)
        g_string_append_printf(text, _(" %s of %s sent,"), sent, total);
    else if (sent != NULL)
        g_string_append_printf(text, _(" %s sent,"), sent);
    if (remaining != NULL)
        g_string_append_printf(text, _(" %s remaining,"), remaining);
    if (passes >= 0)
        g_string_append_printf(text, _(" pass %" G_GINT64_FORMAT ","), passes);
    if (dirty != NULL)
        g_string_append_printf(text, _(" dirty %s/s,"), dirty);
    if (mbps != NULL && JSON_NODE_HOLDS_VALUE(mbps) &&
        (json_node_get_value_type(mbps) == G_TYPE_DOUBLE ||
         json_node_get_value_type(mbps) == G_TYPE_INT64))
        g_string_append_printf(text, _(" %.1f Mbps,"), json_node_get_double(mbps));
    if (disks != NULL && podvmctl_json_int(state, "disks", 0) > 0)
        g_string_append_printf(text, _(" disks %s sent,"), disks);
    if (downtime >= 0)
        g_string_append_printf(text, _(" downtime %" G_GINT64_FORMAT " ms,"), downtime);
    else if (expected >= 0)
        g_string_append_printf(text, _(" expected downtime %" G_GINT64_FORMAT " ms,"), expected);
    if (text->str[text->len - 1] == ',' || text->str[text->len - 1] == ':')
        g_string_truncate(text, text->len - 1);
    if (steps != NULL && JSON_NODE_HOLDS_ARRAY(steps) &&
        json_array_get_length(json_node_get_array(steps)) > 0) {
        JsonArray *array = json_node_get_array(steps);

        g_string_append(text, _("; steps:"));
        for (guint i = 0; i < json_array_get_length(array); i++) {
            JsonNode *element = json_array_get_element(array, i);
            JsonObject *step =
                JSON_NODE_HOLDS_OBJECT(element) ? json_node_get_object(element) : NULL;
            const char *what = podvmctl_json_string(step, "step");
            gint64 pass = podvmctl_json_int(step, "pass", -1);

            g_string_append_printf(text, "%s %s", i > 0 ? "," : "", what != NULL ? what : "?");
            if (pass >= 0)
                g_string_append_printf(text, _(" (pass %" G_GINT64_FORMAT ")"), pass);
        }
    }
    if (message != NULL)
        g_string_append_printf(text, "; %s", message);
    g_printerr("%s\n", text->str);
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
    g_autofree char *full_spec = NULL;
    const char *spec_text;
    const char *status_text;
    const char *name;
    PodvmCtlOutput output;
    int status;
    const GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: json (the default) or yaml"), N_("FORMAT") },
        { NULL },
    };

    if (!podvmctl_parse_options("show", "NAME",
                                _("Show a pod's apiVersion, kind, metadata, spec and status as "
                                  "JSON or YAML.\n"
                                  "Secrets in the spec are shown to admins (root and group "
                                  "podvm), hidden for others.\n"
                                  "While the pod migrates, a line on stderr tells the "
                                  "migration's progress and steps (status.migrationState)."),
                                entries, 1, 1, &argc, &argv, &status))
        return status;
    if (!podvmctl_parse_output("show", opt_output, "json", PODVMCTL_OUTPUT_YAML, &output, &status))
        return status;
    name = argv[1];
    if (!podvmctl_check_name("show", name, &status))
        return status;

    pod = podvmctl_get_pod(ctl, name, &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);

    /*
     * The spec with its secrets when the bus policy lets us (admins), else the
     * reader view; also from a podvmd older than GetSpec.
     */
    if (!podvm_dbus_pod_call_get_spec_sync(pod, &full_spec, NULL, &error)) {
        if (!g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED) &&
            !g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
            return podvmctl_fail(ctl, error);
        g_clear_error(&error);
    }
    spec_text = full_spec != NULL ? full_spec : podvm_dbus_pod_get_spec(pod);
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

    /* As kubectl get -o yaml: what the document is, then what it says. */
    copy_member(result, json_node_get_object(spec), "apiVersion");
    copy_member(result, json_node_get_object(spec), "kind");
    copy_member(result, json_node_get_object(spec), "metadata");
    copy_member(result, json_node_get_object(spec), "spec");
    json_object_set_member(result, "status", json_node_copy(status_node));

    result_node = json_node_init_object(json_node_alloc(), result);
    podvmctl_print_document(result_node, output);
    if (JSON_NODE_HOLDS_OBJECT(status_node)) {
        JsonObject *state =
            podvmctl_json_object(json_node_get_object(status_node), "migrationState");

        if (state != NULL)
            print_migration_state(name, state);
    }
    return PODVMCTL_EXIT_OK;
}
