/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmctl list [-o table|wide|json|yaml|name] [-l KEY[=VALUE]]... */
#include "podvm-build-config.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "podvm-labels.h"
#include "podvm-phase.h"
#include "podvm-quantity.h"
#include "podvmctl-util.h"

enum {
    COL_NAME,
    COL_PHASE,
    COL_UPTIME,
    COL_PID,
    COL_MEMORY,
    COL_CPUS,
    COL_IP,
    N_COLUMNS,
    /* -o wide adds: */
    COL_READY = N_COLUMNS,
    COL_RESTARTS,
    COL_ACCEL,
    COL_NODE,
    COL_LABELS,
    N_WIDE_COLUMNS
};

static const char *const column_titles[N_WIDE_COLUMNS] = {
    "NAME", "PHASE", "UPTIME",   "PID",   "MEMORY", "CPUS",
    "IP",   "READY", "RESTARTS", "ACCEL", "NODE",   "LABELS",
};

/* The VM's memory and vCPUs as the daemon resolved them (the apps rule included). */
static char *
memory_text(JsonObject *status)
{
    gint64 bytes = podvmctl_json_int(status, "memory", -1);

    return bytes > 0 ? podvm_quantity_format_bytes_human((guint64)bytes) : g_strdup("-");
}

static char *
cpus_text(JsonObject *status)
{
    gint64 vcpus = podvmctl_json_int(status, "vcpus", -1);

    return vcpus > 0 ? g_strdup_printf("%" G_GINT64_FORMAT, vcpus) : g_strdup("-");
}

/* The first string of @array's elements, or NULL. */
static const char *
first_string(JsonArray *array)
{
    JsonNode *node;

    if (array == NULL || json_array_get_length(array) == 0)
        return NULL;
    node = json_array_get_element(array, 0);
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

/* The pod's address: status.podIPs[0], else its first interface's ipAddress. */
static char *
ip_text(JsonObject *status)
{
    JsonNode *node = status != NULL ? json_object_get_member(status, "podIPs") : NULL;
    const char *ip = NULL;

    if (node != NULL && JSON_NODE_HOLDS_ARRAY(node))
        ip = first_string(json_node_get_array(node));
    node = status != NULL ? json_object_get_member(status, "interfaces") : NULL;
    if (ip == NULL && node != NULL && JSON_NODE_HOLDS_ARRAY(node) &&
        json_array_get_length(json_node_get_array(node)) > 0) {
        JsonNode *first = json_array_get_element(json_node_get_array(node), 0);

        if (JSON_NODE_HOLDS_OBJECT(first))
            ip = podvmctl_json_string(json_node_get_object(first), "ipAddress");
    }
    return g_strdup(ip != NULL && *ip != '\0' ? ip : "-");
}

static char *
uptime_text(JsonObject *status, const char *phase, GDateTime *now)
{
    const char *started_at = podvmctl_json_string(status, "startedAt");
    g_autoptr(GDateTime) started = NULL;

    if (!podvm_phase_name_has_qemu(phase) || started_at == NULL)
        return g_strdup("-");
    started = g_date_time_new_from_iso8601(started_at, NULL);
    if (started == NULL)
        return g_strdup("-");
    return podvmctl_format_duration(g_date_time_difference(now, started));
}

/* The Ready condition's status ("True", "False"), or "-". */
static char *
ready_text(JsonObject *status)
{
    JsonNode *node = status != NULL ? json_object_get_member(status, "conditions") : NULL;
    JsonArray *conditions;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return g_strdup("-");
    conditions = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(conditions); i++) {
        JsonNode *element = json_array_get_element(conditions, i);
        JsonObject *condition =
            JSON_NODE_HOLDS_OBJECT(element) ? json_node_get_object(element) : NULL;
        const char *value = podvmctl_json_string(condition, "status");

        if (g_strcmp0(podvmctl_json_string(condition, "type"), "Ready") == 0 && value != NULL)
            return g_strdup(value);
    }
    return g_strdup("-");
}

/* "app=web,tier=front" in the labels' order, or "-". */
static char *
labels_text(JsonObject *metadata)
{
    JsonObject *labels = podvmctl_json_object(metadata, "labels");
    g_autoptr(GString) text = g_string_new(NULL);
    JsonObjectIter iter;
    const char *key;
    JsonNode *value;

    if (labels == NULL || json_object_get_size(labels) == 0)
        return g_strdup("-");
    json_object_iter_init_ordered(&iter, labels);
    while (json_object_iter_next_ordered(&iter, &key, &value)) {
        if (text->len > 0)
            g_string_append_c(text, ',');
        g_string_append_printf(text, "%s=%s", key,
                               JSON_NODE_HOLDS_VALUE(value) &&
                                       json_node_get_value_type(value) == G_TYPE_STRING
                                   ? json_node_get_string(value)
                                   : "");
    }
    return g_string_free(g_steal_pointer(&text), FALSE);
}

static void
pod_row(JsonObject *pod, GDateTime *now, char **row)
{
    JsonObject *metadata = podvmctl_json_object(pod, "metadata");
    JsonObject *status = podvmctl_json_object(pod, "status");
    const char *name = podvmctl_json_string(metadata, "name");
    const char *phase = podvmctl_json_string(status, "phase");
    gint64 pid = podvmctl_json_int(status, "qemuPid", 0);

    row[COL_NAME] = g_strdup(name != NULL ? name : "-");
    row[COL_PHASE] = g_strdup(phase != NULL ? phase : "-");
    row[COL_UPTIME] = uptime_text(status, phase, now);
    row[COL_PID] = pid > 0 && podvm_phase_name_has_qemu(phase)
                       ? g_strdup_printf("%" G_GINT64_FORMAT, pid)
                       : g_strdup("-");
    row[COL_MEMORY] = memory_text(status);
    row[COL_CPUS] = cpus_text(status);
    row[COL_IP] = ip_text(status);
    row[COL_READY] = ready_text(status);
    row[COL_RESTARTS] =
        g_strdup_printf("%" G_GINT64_FORMAT, podvmctl_json_int(status, "restartCount", 0));
    row[COL_ACCEL] = g_strdup(podvmctl_json_string(status, "accelerator") != NULL
                                  ? podvmctl_json_string(status, "accelerator")
                                  : "-");
    /* podvmctl reaches podvmd over the local bus: the node is this host, unless the status says. */
    row[COL_NODE] = g_strdup(podvmctl_json_string(status, "nodeName") != NULL
                                 ? podvmctl_json_string(status, "nodeName")
                                 : g_get_host_name());
    row[COL_LABELS] = labels_text(metadata);
}

static void
print_table(GPtrArray *pods, gboolean wide)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

    for (guint i = 0; i < pods->len; i++) {
        char **row = g_new0(char *, N_WIDE_COLUMNS + 1);

        pod_row(g_ptr_array_index(pods, i), now, row);
        g_ptr_array_add(rows, row);
    }
    podvmctl_print_table(column_titles, wide ? N_WIDE_COLUMNS : N_COLUMNS, rows);
}

int
podvmctl_cmd_list(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_output = NULL;
    g_auto(GStrv) opt_labels = NULL;
    g_autoptr(PodvmLabelSelector) selector = NULL;
    g_autofree char *reply = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(JsonArray) selected = NULL;
    g_autoptr(GPtrArray) pods = g_ptr_array_new();
    PodvmDBusManager *manager;
    PodvmCtlOutput output;
    JsonArray *array;
    int status;
    const GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: table (default), wide, json, yaml or name"), N_("FORMAT") },
        { "selector", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &opt_labels,
          N_("Only pods whose labels match SELECTOR, in Kubernetes' syntax: KEY=VALUE, "
             "KEY!=VALUE, 'KEY in (A,B)', 'KEY notin (A,B)', KEY, !KEY; separated by commas, "
             "and repeatable: all must hold"),
          N_("SELECTOR") },
        { NULL },
    };

    if (!podvmctl_parse_options("list", "", _("List pods."), entries, 0, 0, &argc, &argv, &status))
        return status;
    if (!podvmctl_parse_output("list", opt_output, "table",
                               PODVMCTL_OUTPUT_WIDE | PODVMCTL_OUTPUT_JSON | PODVMCTL_OUTPUT_YAML |
                                   PODVMCTL_OUTPUT_NAME,
                               &output, &status))
        return status;
    for (gsize i = 0; opt_labels != NULL && opt_labels[i] != NULL; i++) {
        if (selector == NULL)
            selector = podvm_label_selector_new();
        if (!podvm_label_selector_add(selector, opt_labels[i], &error))
            return podvmctl_usage_error("list", "%s", error->message);
    }

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    if (selector != NULL) {
        /* podvmd picks the pods, as for REST's ?labelSelector= (the same parser and matcher). */
        g_autofree char *text = podvm_label_selector_to_string(selector);
        g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);

        g_variant_builder_add(&options, "{sv}", "labelSelector", g_variant_new_string(text));
        if (!podvm_dbus_manager_call_list_pods_filtered_sync(
                manager, g_variant_builder_end(&options), &reply, NULL, &error))
            return podvmctl_fail(ctl, error);
    } else if (!podvm_dbus_manager_call_list_pods_sync(manager, &reply, NULL, &error)) {
        return podvmctl_fail(ctl, error);
    }

    root = podvmctl_parse_json(reply, -1, _("podvmd's pod list"), &error);
    if (root == NULL)
        return podvmctl_fail_message("%s", error->message);
    if (!JSON_NODE_HOLDS_ARRAY(root))
        return podvmctl_fail_message(_("podvmd's pod list is not a JSON array"));

    array = json_node_get_array(root);
    selected = json_array_new();
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);

        if (!JSON_NODE_HOLDS_OBJECT(element))
            continue;
        json_array_add_element(selected, json_node_copy(element));
        g_ptr_array_add(pods, json_node_get_object(element));
    }

    if (output == PODVMCTL_OUTPUT_JSON || output == PODVMCTL_OUTPUT_YAML) {
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);

        json_node_set_array(node, selected);
        podvmctl_print_document(node, output);
    } else if (output == PODVMCTL_OUTPUT_NAME) {
        for (guint i = 0; i < pods->len; i++) {
            const char *name = podvmctl_json_string(
                podvmctl_json_object(g_ptr_array_index(pods, i), "metadata"), "name");

            if (name != NULL)
                printf("%s\n", name);
        }
        fflush(stdout);
    } else {
        print_table(pods, output == PODVMCTL_OUTPUT_WIDE);
    }
    return PODVMCTL_EXIT_OK;
}
