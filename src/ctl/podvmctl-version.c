/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl version [--client] [-o json|yaml]: podvmctl's version and the
 * version of the podvmd it talks to (the manager's Version property), as
 * kubectl version prints them.
 */
#include "podvm-build-config.h"

#include <stdio.h>

#include <glib/gi18n.h>

#include "podvmctl-util.h"

/* {"clientVersion": {"version": V}, "serverVersion": {"version": V}} (server: when not NULL). */
static JsonNode *
versions_document(const char *server)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "clientVersion");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, PODVM_VERSION);
    json_builder_end_object(b);
    if (server != NULL) {
        json_builder_set_member_name(b, "serverVersion");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "version");
        json_builder_add_string_value(b, server);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

int
podvmctl_cmd_version(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_output = NULL;
    g_autoptr(JsonNode) document = NULL;
    gboolean opt_client = FALSE;
    const char *server = NULL;
    PodvmDBusManager *manager;
    PodvmCtlOutput output;
    int status;
    const GOptionEntry entries[] = {
        { "client", 0, 0, G_OPTION_ARG_NONE, &opt_client,
          N_("Only podvmctl's version: podvmd is not asked"), NULL },
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: text (default), json or yaml"), N_("FORMAT") },
        { NULL },
    };

    if (!podvmctl_parse_options("version", "",
                                _("Print podvmctl's version and the version of podvmd."), entries,
                                0, 0, &argc, &argv, &status))
        return status;
    if (!podvmctl_parse_output("version", opt_output, "text",
                               PODVMCTL_OUTPUT_JSON | PODVMCTL_OUTPUT_YAML, &output, &status))
        return status;

    if (!opt_client) {
        manager = podvmctl_get_manager(ctl, &error);
        if (manager == NULL)
            return podvmctl_fail(ctl, error);
        server = podvm_dbus_manager_get_version(manager);
        if (server == NULL || *server == '\0')
            return podvmctl_fail_message(_("podvmd did not tell its version"));
    }

    if (output != PODVMCTL_OUTPUT_DEFAULT) {
        document = versions_document(server);
        podvmctl_print_document(document, output);
        return PODVMCTL_EXIT_OK;
    }
    printf(_("Client Version: %s\n"), PODVM_VERSION);
    if (server != NULL)
        printf(_("Server Version: %s\n"), server);
    fflush(stdout);
    return PODVMCTL_EXIT_OK;
}
