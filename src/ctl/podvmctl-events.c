/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl events [POD] [-o json|yaml]: prints Manager.Event signals as they
 * arrive, one line each, until interrupted:
 *   TIME POD TYPE PHASE REASON MESSAGE
 * ("-" for what an event does not carry); -o json prints the details JSON
 * (one line each), -o yaml a YAML document each, after a "---" line.
 */
#include "podvm-build-config.h"

#include <signal.h>
#include <stdio.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "podvmctl-util.h"

typedef struct {
    GMainLoop *loop;
    const char *pod; /* only this pod's events; NULL: all */
    PodvmCtlOutput output;
    gboolean away;   /* podvmd left the bus */
    gboolean closed; /* the bus connection was lost */
} EventPrinter;

static const char *
or_dash(const char *text)
{
    return text != NULL && *text != '\0' ? text : "-";
}

static void
event_cb(PodvmDBusManager *manager, const char *pod, const char *type, const char *details,
         gpointer user_data)
{
    EventPrinter *printer = user_data;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *message = NULL;
    JsonObject *object = NULL;

    if (printer->pod != NULL && g_strcmp0(printer->pod, pod) != 0)
        return;

    root = podvmctl_parse_json(details, -1, "details", NULL);
    if (root != NULL && JSON_NODE_HOLDS_OBJECT(root))
        object = json_node_get_object(root);

    if (printer->output != PODVMCTL_OUTPUT_DEFAULT) {
        if (object == NULL) {
            /* Not an object: still a document, built from the signal. */
            g_autoptr(JsonBuilder) builder = json_builder_new();

            json_builder_begin_object(builder);
            json_builder_set_member_name(builder, "pod");
            json_builder_add_string_value(builder, pod);
            json_builder_set_member_name(builder, "type");
            json_builder_add_string_value(builder, type);
            json_builder_end_object(builder);
            g_clear_pointer(&root, json_node_unref);
            root = json_builder_get_root(builder);
        }
        if (printer->output == PODVMCTL_OUTPUT_YAML) {
            fputs("---\n", stdout);
            podvmctl_print_document(root, printer->output);
        } else {
            podvmctl_print_json(root, FALSE);
        }
        return;
    }

    /* One event, one line. Disk and volume events say what they are about. */
    if (podvmctl_json_string(object, "message") != NULL)
        message = g_strdup(podvmctl_json_string(object, "message"));
    else if (podvmctl_json_string(object, "disk") != NULL)
        message = g_strdup_printf(_("disk %s"), podvmctl_json_string(object, "disk"));
    else if (podvmctl_json_string(object, "volume") != NULL &&
             json_object_has_member(object, "done"))
        message =
            g_strdup_printf(_("volume %s: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " bytes"),
                            podvmctl_json_string(object, "volume"),
                            json_object_get_int_member_with_default(object, "done", 0),
                            json_object_get_int_member_with_default(object, "total", 0));
    else if (podvmctl_json_string(object, "volume") != NULL)
        message = g_strdup_printf(_("volume %s"), podvmctl_json_string(object, "volume"));
    else
        message = g_strdup("-");
    g_strdelimit(message, "\r\n", ' ');
    printf("%s %s %s %s %s %s\n", or_dash(podvmctl_json_string(object, "time")), or_dash(pod),
           or_dash(type), or_dash(podvmctl_json_string(object, "phase")),
           or_dash(podvmctl_json_string(object, "reason")), message);
    fflush(stdout);
}

static void
name_owner_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
    EventPrinter *printer = user_data;
    g_autofree char *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(object));

    if (owner == NULL && !printer->away) {
        printer->away = TRUE;
        g_printerr(_("podvmctl: podvmd left the bus; waiting for it to come back\n"));
    } else if (owner != NULL && printer->away) {
        printer->away = FALSE;
        g_printerr(_("podvmctl: podvmd is back\n"));
    }
}

static void
closed_cb(GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
          gpointer user_data)
{
    EventPrinter *printer = user_data;

    printer->closed = TRUE;
    g_main_loop_quit(printer->loop);
}

static gboolean
signal_cb(gpointer user_data)
{
    EventPrinter *printer = user_data;

    g_main_loop_quit(printer->loop);
    return G_SOURCE_CONTINUE;
}

int
podvmctl_cmd_events(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autofree char *opt_output = NULL;
    EventPrinter printer = { .loop = loop };
    PodvmDBusManager *manager;
    gulong event_handler;
    gulong owner_handler;
    gulong closed_handler;
    guint sigint_id;
    guint sigterm_id;
    int status;
    const GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: text (default), json (the details, one object per line) or yaml "
             "(a document each)"),
          N_("FORMAT") },
        { NULL },
    };

    if (!podvmctl_parse_options("events", "[POD]",
                                _("Print podvmd's events as they happen, until interrupted.\n"
                                  "Each line: TIME POD TYPE PHASE REASON MESSAGE."),
                                entries, 0, 1, &argc, &argv, &status))
        return status;
    if (!podvmctl_parse_output("events", opt_output, "text",
                               PODVMCTL_OUTPUT_JSON | PODVMCTL_OUTPUT_YAML, &printer.output,
                               &status))
        return status;
    if (argc > 1) {
        if (!podvmctl_check_name("events", argv[1], &status))
            return status;
        printer.pod = argv[1];
    }

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);

    event_handler = g_signal_connect(manager, "event", G_CALLBACK(event_cb), &printer);
    owner_handler =
        g_signal_connect(manager, "notify::g-name-owner", G_CALLBACK(name_owner_cb), &printer);
    closed_handler = g_signal_connect(ctl->connection, "closed", G_CALLBACK(closed_cb), &printer);
    sigint_id = g_unix_signal_add(SIGINT, signal_cb, &printer);
    sigterm_id = g_unix_signal_add(SIGTERM, signal_cb, &printer);

    g_main_loop_run(loop);

    g_source_remove(sigint_id);
    g_source_remove(sigterm_id);
    g_signal_handler_disconnect(manager, owner_handler);
    g_signal_handler_disconnect(manager, event_handler);
    g_signal_handler_disconnect(ctl->connection, closed_handler);
    if (printer.closed) {
        g_printerr(_("podvmctl: lost the connection to the %s\n"),
                   ctl->bus_type == G_BUS_TYPE_SESSION ? _("session bus") : _("system bus"));
        return PODVMCTL_EXIT_UNREACHABLE;
    }
    return PODVMCTL_EXIT_OK;
}
