/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl qmp NAME JSON: expert passthrough to the pod's QEMU monitor.
 * JSON is {"execute": ..., "arguments": ...}; a bare command name
 * ("query-status") is taken as {"execute": NAME}. Prints QEMU's "return".
 */
#include "podvm-build-config.h"
#include "podvm-json.h"

#include <stdio.h>

#include <glib/gi18n.h>

#include "podvmctl-util.h"

/* The command as podvmd takes it, or NULL with a message for the user. */
static char *
qmp_command(const char *text, GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *object;

    if (!g_utf8_validate(text, -1, NULL)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    _("the QMP command is not valid UTF-8"));
        return NULL;
    }
    while (g_ascii_isspace(*text))
        text++;
    if (*text != '{') {
        g_autoptr(JsonBuilder) builder = NULL;
        g_autoptr(JsonNode) node = NULL;

        for (const char *p = text; *p != '\0'; p++) {
            if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_') {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("'%s' is neither a QMP command name nor a JSON object"), text);
                return NULL;
            }
        }
        if (*text == '\0') {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        _("the QMP command is empty"));
            return NULL;
        }
        builder = json_builder_new();
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "execute");
        json_builder_add_string_value(builder, text);
        json_builder_end_object(builder);
        node = json_builder_get_root(builder);
        return podvm_json_to_string(node, FALSE);
    }

    root = podvmctl_parse_json(text, -1, _("the QMP command"), error);
    if (root == NULL)
        return NULL;
    object = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    if (podvmctl_json_string(object, "execute") == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    _("the QMP command must be an object with \"execute\", e.g. "
                      "'{\"execute\": \"query-status\"}'"));
        return NULL;
    }
    return podvm_json_to_string(root, FALSE);
}

int
podvmctl_cmd_qmp(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonNode) result = NULL;
    g_autofree char *command = NULL;
    g_autofree char *reply = NULL;
    int status;

    if (!podvmctl_parse_options("qmp", "NAME JSON",
                                _("Send one QMP command to a pod's QEMU and print what it "
                                  "returns.\n"
                                  "JSON is '{\"execute\": CMD, \"arguments\": {...}}' or just "
                                  "CMD. Expert use: podvmd does not track changes made this "
                                  "way. podvmd lets only query commands through unless "
                                  "podvmd.conf sets [qmp] passthrough=expert, and never "
                                  "commands that reach host files or processes."),
                                NULL, 2, 2, &argc, &argv, &status))
        return status;
    if (!podvmctl_check_name("qmp", argv[1], &status))
        return status;
    command = qmp_command(argv[2], &error);
    if (command == NULL)
        return podvmctl_usage_error("qmp", "%s", error->message);

    pod = podvmctl_get_pod(ctl, argv[1], &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_pod_call_qmp_sync(pod, command, &reply, NULL, &error))
        return podvmctl_fail(ctl, error);

    result = podvmctl_parse_json(reply, -1, _("QEMU's answer"), &error);
    if (result == NULL) {
        /* Still show what came back. */
        fputs(reply, stdout);
        fputc('\n', stdout);
        return PODVMCTL_EXIT_OK;
    }
    podvmctl_print_json(result, TRUE);
    return PODVMCTL_EXIT_OK;
}
