/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl status NAME: the pod's phase, reason and message, and for an
 * app pod each app's state, exit code and image digest, for people
 * (`show` gives the whole JSON):
 *
 *   pod:     web
 *   phase:   Failed
 *   reason:  AppFailed
 *   message: app redis exited with code 1
 *   APP    STATE   EXIT CODE  IMAGE DIGEST
 *   redis  Exited  1          sha256:0123456789ab
 */
#include "podvm-build-config.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "podvmctl-util.h"

enum {
    COL_APP,
    COL_STATE,
    COL_EXIT,
    COL_DIGEST,
    N_COLUMNS
};

char *
podvmctl_app_exit_text(JsonObject *app)
{
    gint64 code = podvmctl_json_int(app, "exitCode", -1);
    gint64 signal_number = podvmctl_json_int(app, "signal", -1);

    if (code >= 0 && signal_number > 0)
        return g_strdup_printf(_("%" G_GINT64_FORMAT " (signal %" G_GINT64_FORMAT ")"), code,
                               signal_number);
    if (code >= 0)
        return g_strdup_printf("%" G_GINT64_FORMAT, code);
    if (signal_number > 0)
        return g_strdup_printf(_("signal %" G_GINT64_FORMAT), signal_number);
    return g_strdup("-");
}

static char *
digest_text(const char *digest)
{
    const char *hex;

    if (digest == NULL || *digest == '\0')
        return g_strdup("-");
    /* The algorithm and 12 hex digits, as docker shows image ids. */
    hex = strchr(digest, ':');
    if (hex == NULL || strlen(hex + 1) <= 12)
        return g_strdup(digest);
    return g_strndup(digest, hex + 1 - digest + 12);
}

void
podvmctl_print_status(const char *name, JsonObject *status)
{
    const char *phase = podvmctl_json_string(status, "phase");
    const char *reason = podvmctl_json_string(status, "reason");
    const char *message = podvmctl_json_string(status, "message");
    JsonNode *apps = status != NULL ? json_object_get_member(status, "apps") : NULL;
    static const char *const titles[N_COLUMNS] = { "APP", "STATE", "EXIT CODE", "IMAGE DIGEST" };
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

    printf(_("pod:     %s\n"), name);
    printf(_("phase:   %s\n"), phase != NULL ? phase : "-");
    if (reason != NULL && *reason != '\0')
        printf(_("reason:  %s\n"), reason);
    if (message != NULL && *message != '\0')
        printf(_("message: %s\n"), message);
    if (apps == NULL || !JSON_NODE_HOLDS_ARRAY(apps) ||
        json_array_get_length(json_node_get_array(apps)) == 0) {
        fflush(stdout);
        return;
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(apps)); i++) {
        JsonNode *element = json_array_get_element(json_node_get_array(apps), i);
        JsonObject *app = JSON_NODE_HOLDS_OBJECT(element) ? json_node_get_object(element) : NULL;
        const char *app_name = podvmctl_json_string(app, "name");
        const char *state = podvmctl_json_string(app, "state");
        char **row = g_new0(char *, N_COLUMNS + 1);

        row[COL_APP] = g_strdup(app_name != NULL ? app_name : "-");
        row[COL_STATE] = g_strdup(state != NULL ? state : "-");
        row[COL_EXIT] = podvmctl_app_exit_text(app);
        row[COL_DIGEST] = digest_text(podvmctl_json_string(app, "imageDigest"));
        g_ptr_array_add(rows, row);
    }
    podvmctl_print_table(titles, N_COLUMNS, rows);
    /* An app's own message (could not start) after the table, one line each. */
    for (guint i = 0; i < json_array_get_length(json_node_get_array(apps)); i++) {
        JsonNode *element = json_array_get_element(json_node_get_array(apps), i);
        JsonObject *app = JSON_NODE_HOLDS_OBJECT(element) ? json_node_get_object(element) : NULL;
        const char *app_message = podvmctl_json_string(app, "message");
        const char *app_name = podvmctl_json_string(app, "name");

        if (app_message != NULL && *app_message != '\0')
            printf("%s: %s\n", app_name != NULL ? app_name : "-", app_message);
    }
    fflush(stdout);
}

int
podvmctl_cmd_status(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(JsonNode) status_node = NULL;
    const char *status_text;
    int status;

    if (!podvmctl_parse_options("status", "NAME",
                                _("Show a pod's phase and, for an app pod, each app's state, exit "
                                  "code and image digest ('show' prints the whole JSON)."),
                                NULL, 1, 1, &argc, &argv, &status))
        return status;
    if (!podvmctl_check_name("status", argv[1], &status))
        return status;
    pod = podvmctl_get_pod(ctl, argv[1], &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    status_text = podvm_dbus_pod_get_status(pod);
    if (status_text == NULL)
        return podvmctl_fail_message(_("podvmd did not give the status of pod '%s'"), argv[1]);
    status_node = podvmctl_parse_json(status_text, -1, _("the pod's status"), &error);
    if (status_node == NULL)
        return podvmctl_fail_message("%s", error->message);
    podvmctl_print_status(
        argv[1], JSON_NODE_HOLDS_OBJECT(status_node) ? json_node_get_object(status_node) : NULL);
    return PODVMCTL_EXIT_OK;
}
