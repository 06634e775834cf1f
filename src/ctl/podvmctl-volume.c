/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl volume create NAME [--size SIZE] [--from FILE|URL] [--sha256 HEX]
 * podvmctl volume list [-o table|wide|json|yaml|name]
 * podvmctl volume show NAME [-o text|json|yaml]
 * podvmctl volume delete NAME
 *
 * Volumes of podvmd's storage pool, which pods use through
 * persistentVolumeClaim and dataVolume. An import (--from) reports its
 * progress as manager Event "VolumeProgress"; on a terminal it is shown as
 * one line on stderr that updates in place.
 */
#include "podvm-build-config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "podvm-quantity.h"
#include "podvm-spec.h"
#include "podvmctl-util.h"

typedef struct {
    const char *name;
    PodvmCtlCommandFunc func;
    const char *parameters;
    const char *summary;
} VolumeCommand;

/* ------------------------------------------------------------------------ */
/* Helpers */

/* A size member (bytes as a number, or a quantity string) for humans; "-" when absent. */
static char *
size_text(JsonObject *object, const char *member)
{
    const char *text = podvmctl_json_string(object, member);
    gint64 bytes;

    if (text != NULL)
        return g_strdup(text);
    bytes = podvmctl_json_int(object, member, -1);
    if (bytes >= 0)
        return podvm_quantity_format_bytes_human((guint64)bytes);
    return g_strdup("-");
}

static const char *
or_dash(const char *text)
{
    return text != NULL && *text != '\0' ? text : "-";
}

/* Parses podvmd's JSON answer, which must be an object (or an array: @array). */
static JsonNode *
parse_reply(const char *reply, gboolean array, GError **error)
{
    g_autoptr(JsonNode) root = podvmctl_parse_json(reply, -1, _("podvmd's answer"), error);

    if (root == NULL)
        return NULL;
    if (array ? !JSON_NODE_HOLDS_ARRAY(root) : !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    array ? _("podvmd's answer is not a JSON array")
                          : _("podvmd's answer is not a JSON object"));
        return NULL;
    }
    return g_steal_pointer(&root);
}

/* ------------------------------------------------------------------------ */
/* create */

typedef struct {
    GMainLoop *loop;
    const char *name;
    gboolean show_progress; /* stderr is a terminal */
    gboolean line_shown;    /* a progress line waits to be cleared */
    char *reply;            /* owned; the volume JSON */
    GError *error;          /* owned */
} CreateState;

static void
progress_event_cb(PodvmDBusManager *manager, const char *pod, const char *type, const char *details,
                  gpointer user_data)
{
    CreateState *state = user_data;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *done_text = NULL;
    JsonObject *object;
    gint64 done;
    gint64 total;

    if (!state->show_progress || g_strcmp0(type, "VolumeProgress") != 0)
        return;
    root = podvmctl_parse_json(details, -1, "details", NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return;
    object = json_node_get_object(root);
    if (g_strcmp0(podvmctl_json_string(object, "volume"), state->name) != 0)
        return;
    done = podvmctl_json_int(object, "done", -1);
    total = podvmctl_json_int(object, "total", -1);
    if (done < 0)
        return;

    done_text = podvm_quantity_format_bytes_human((guint64)done);
    /* \r and "erase to the end of the line": one line that updates in place. */
    if (total > 0) {
        g_autofree char *total_text = podvm_quantity_format_bytes_human((guint64)total);

        g_printerr(_("\r\033[Kimporting %s: %3d%% (%s of %s)"), state->name,
                   (int)(MIN(done, total) * 100 / total), done_text, total_text);
    } else {
        g_printerr(_("\r\033[Kimporting %s: %s"), state->name, done_text);
    }
    state->line_shown = TRUE;
}

static void
create_volume_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CreateState *state = user_data;

    podvm_dbus_manager_call_create_volume_finish(PODVM_DBUS_MANAGER(source), &state->reply, result,
                                                 &state->error);
    g_main_loop_quit(state->loop);
}

static gboolean
parse_size(const char *command, const char *text, guint64 *out_bytes, int *out_status)
{
    g_autoptr(GError) error = NULL;

    if (!podvm_quantity_parse_bytes(text, out_bytes, &error)) {
        *out_status = podvmctl_usage_error(command, "--size: %s", error->message);
        return FALSE;
    }
    if (*out_bytes == 0) {
        *out_status = podvmctl_usage_error(command, _("--size: a volume cannot be empty"));
        return FALSE;
    }
    return TRUE;
}

static gboolean
is_sha256_hex(const char *text)
{
    return strlen(text) == 64 && strspn(text, "0123456789abcdefABCDEF") == 64;
}

/* A URL as it is; a file name made absolute, since podvmd's directory is not ours. */
static char *
source_for_daemon(const char *from)
{
    if (strstr(from, "://") != NULL)
        return g_strdup(from);
    return g_canonicalize_filename(from, NULL);
}

static int
volume_create(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autofree char *opt_size = NULL;
    g_autofree char *opt_from = NULL;
    g_autofree char *opt_sha256 = NULL;
    g_autofree char *from = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *size = NULL;
    g_auto(GVariantDict) options = G_VARIANT_DICT_INIT(NULL);
    CreateState state = { .loop = loop };
    PodvmDBusManager *manager;
    const char *name;
    guint64 bytes = 0;
    gulong handler = 0;
    int status;
    const GOptionEntry entries[] = {
        { "size", 's', 0, G_OPTION_ARG_STRING, &opt_size,
          N_("The volume's size, a quantity such as 10Gi (required without --from)"), N_("SIZE") },
        { "from", 0, 0, G_OPTION_ARG_FILENAME, &opt_from,
          N_("Import this disk image: a file on the host or an http(s):// URL"), N_("FILE|URL") },
        { "sha256", 0, 0, G_OPTION_ARG_STRING, &opt_sha256,
          N_("The expected SHA-256 digest of --from (64 hex digits)"), N_("HEX") },
        { NULL },
    };

    if (!podvmctl_parse_options("volume create", "NAME",
                                _("Create a volume in podvmd's storage pool: blank (--size) or "
                                  "imported (--from).\nReturns once the volume is Ready."),
                                entries, 1, 1, &argc, &argv, &status))
        return status;
    name = argv[1];
    if (!podvmctl_check_name("volume create", name, &status))
        return status;
    if (opt_size == NULL && opt_from == NULL)
        return podvmctl_usage_error("volume create", _("missing --size SIZE or --from FILE|URL"));
    if (opt_size != NULL && !parse_size("volume create", opt_size, &bytes, &status))
        return status;
    if (opt_sha256 != NULL && opt_from == NULL)
        return podvmctl_usage_error("volume create", _("--sha256 checks --from; give both"));
    if (opt_sha256 != NULL && !is_sha256_hex(opt_sha256))
        return podvmctl_usage_error("volume create",
                                    _("--sha256: '%s' is not a SHA-256 digest (64 hex digits)"),
                                    opt_sha256);
    if (opt_from != NULL && *opt_from == '\0')
        return podvmctl_usage_error("volume create", _("--from is empty"));

    g_variant_dict_insert(&options, "name", "s", name);
    if (opt_size != NULL)
        g_variant_dict_insert(&options, "size", "t", bytes);
    if (opt_from != NULL) {
        from = source_for_daemon(opt_from);
        g_variant_dict_insert(&options, "from", "s", from);
    }
    if (opt_sha256 != NULL) {
        g_autofree char *lower = g_ascii_strdown(opt_sha256, -1);

        g_variant_dict_insert(&options, "sha256", "s", lower);
    }

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);

    state.name = name;
    state.show_progress = opt_from != NULL && isatty(STDERR_FILENO);
    /* Subscribed before the call, so the first progress event is not missed. */
    handler = g_signal_connect(manager, "event", G_CALLBACK(progress_event_cb), &state);
    /* An import can take long; podvmd answers when the volume is Ready. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(manager), PODVMCTL_TIMEOUT_LONG);
    podvm_dbus_manager_call_create_volume(manager, g_variant_dict_end(&options), NULL,
                                          create_volume_cb, &state);
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(manager), PODVMCTL_TIMEOUT_DEFAULT);
    g_main_loop_run(loop);
    g_signal_handler_disconnect(manager, handler);
    if (state.line_shown)
        g_printerr("\r\033[K");

    if (state.error != NULL) {
        status = podvmctl_fail(ctl, state.error);
        g_clear_error(&state.error);
        return status;
    }

    root = parse_reply(state.reply, FALSE, &error);
    g_clear_pointer(&state.reply, g_free);
    if (root != NULL)
        size = size_text(json_node_get_object(root), "size");
    if (size != NULL && !g_str_equal(size, "-"))
        g_print(_("volume %s created (%s)\n"), name, size);
    else
        g_print(_("volume %s created\n"), name);
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* list */

enum {
    COL_NAME,
    COL_SIZE,
    COL_PHASE,
    COL_USED_BY,
    N_COLUMNS,
    /* -o wide adds: */
    COL_FORMAT = N_COLUMNS,
    COL_AGE,
    COL_SOURCE,
    N_WIDE_COLUMNS
};

static const char *const column_titles[N_WIDE_COLUMNS] = { "NAME",   "SIZE", "PHASE", "USED-BY",
                                                           "FORMAT", "AGE",  "SOURCE" };

/* How long ago createdAt was ("3h2m"), or "-". */
static char *
age_text(JsonObject *volume, GDateTime *now)
{
    const char *created_at = podvmctl_json_string(volume, "createdAt");
    g_autoptr(GDateTime) created = NULL;

    if (created_at != NULL)
        created = g_date_time_new_from_iso8601(created_at, NULL);
    if (created == NULL)
        return g_strdup("-");
    return podvmctl_format_duration(g_date_time_difference(now, created));
}

static void
print_table(JsonArray *volumes, gboolean wide)
{
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    for (guint i = 0; i < json_array_get_length(volumes); i++) {
        JsonNode *element = json_array_get_element(volumes, i);
        JsonObject *volume;
        char **row;

        if (!JSON_NODE_HOLDS_OBJECT(element))
            continue;
        volume = json_node_get_object(element);
        row = g_new0(char *, N_WIDE_COLUMNS + 1);
        row[COL_NAME] = g_strdup(or_dash(podvmctl_json_string(volume, "name")));
        row[COL_SIZE] = size_text(volume, "size");
        row[COL_PHASE] = g_strdup(or_dash(podvmctl_json_string(volume, "phase")));
        row[COL_USED_BY] = podvmctl_json_names_text(volume, "usedBy");
        row[COL_FORMAT] = g_strdup(or_dash(podvmctl_json_string(volume, "format")));
        row[COL_AGE] = age_text(volume, now);
        row[COL_SOURCE] = g_strdup(or_dash(podvmctl_json_string(volume, "source")));
        g_ptr_array_add(rows, row);
    }
    podvmctl_print_table(column_titles, wide ? N_WIDE_COLUMNS : N_COLUMNS, rows);
}

static int
volume_list(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_output = NULL;
    PodvmCtlOutput output;
    g_autofree char *reply = NULL;
    g_autoptr(JsonNode) root = NULL;
    PodvmDBusManager *manager;
    JsonArray *volumes;
    int status;
    const GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: table (default), wide, json, yaml or name"), N_("FORMAT") },
        { NULL },
    };

    if (!podvmctl_parse_options("volume list", "", _("List the volumes of podvmd's storage pool."),
                                entries, 0, 0, &argc, &argv, &status))
        return status;
    if (!podvmctl_parse_output("volume list", opt_output, "table",
                               PODVMCTL_OUTPUT_WIDE | PODVMCTL_OUTPUT_JSON | PODVMCTL_OUTPUT_YAML |
                                   PODVMCTL_OUTPUT_NAME,
                               &output, &status))
        return status;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_manager_call_list_volumes_sync(manager, &reply, NULL, &error))
        return podvmctl_fail(ctl, error);
    root = parse_reply(reply, TRUE, &error);
    if (root == NULL)
        return podvmctl_fail_message("%s", error->message);
    volumes = json_node_get_array(root);

    if (output == PODVMCTL_OUTPUT_JSON || output == PODVMCTL_OUTPUT_YAML) {
        podvmctl_print_document(root, output);
    } else if (output == PODVMCTL_OUTPUT_NAME) {
        for (guint i = 0; i < json_array_get_length(volumes); i++) {
            JsonNode *element = json_array_get_element(volumes, i);
            const char *name = JSON_NODE_HOLDS_OBJECT(element)
                                   ? podvmctl_json_string(json_node_get_object(element), "name")
                                   : NULL;

            if (name != NULL)
                printf("%s\n", name);
        }
        fflush(stdout);
    } else {
        print_table(volumes, output == PODVMCTL_OUTPUT_WIDE);
    }
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* show */

static void
print_field(const char *title, const char *value)
{
    printf("%-10s %s\n", title, or_dash(value));
}

static int
volume_show(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_output = NULL;
    PodvmCtlOutput output;
    g_autofree char *reply = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *size = NULL;
    g_autofree char *used_by = NULL;
    PodvmDBusManager *manager;
    JsonObject *volume;
    const char *name;
    int status;
    const GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: text (default), json or yaml"), N_("FORMAT") },
        { NULL },
    };

    if (!podvmctl_parse_options("volume show", "NAME", _("Show a volume of the storage pool."),
                                entries, 1, 1, &argc, &argv, &status))
        return status;
    if (!podvmctl_parse_output("volume show", opt_output, "text",
                               PODVMCTL_OUTPUT_JSON | PODVMCTL_OUTPUT_YAML, &output, &status))
        return status;
    name = argv[1];
    if (!podvmctl_check_name("volume show", name, &status))
        return status;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_manager_call_get_volume_sync(manager, name, &reply, NULL, &error))
        return podvmctl_fail(ctl, error);
    root = parse_reply(reply, FALSE, &error);
    if (root == NULL)
        return podvmctl_fail_message("%s", error->message);

    if (output != PODVMCTL_OUTPUT_DEFAULT) {
        podvmctl_print_document(root, output);
        return PODVMCTL_EXIT_OK;
    }

    volume = json_node_get_object(root);
    size = size_text(volume, "size");
    used_by = podvmctl_json_names_text(volume, "usedBy");
    /* The titles are the JSON member names, so a script author finds them in -o json. */
    print_field("name:", podvmctl_json_string(volume, "name"));
    print_field("size:", size);
    print_field("format:", podvmctl_json_string(volume, "format"));
    print_field("phase:", podvmctl_json_string(volume, "phase"));
    print_field("usedBy:", used_by);
    print_field("source:", podvmctl_json_string(volume, "source"));
    print_field("createdAt:", podvmctl_json_string(volume, "createdAt"));
    if (podvmctl_json_string(volume, "message") != NULL)
        print_field("message:", podvmctl_json_string(volume, "message"));
    fflush(stdout);
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* delete */

static int
volume_delete(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    PodvmDBusManager *manager;
    const char *name;
    int status;

    if (!podvmctl_parse_options("volume delete", "NAME",
                                _("Delete a volume of the storage pool and its data.\n"
                                  "Refused while a pod uses it."),
                                NULL, 1, 1, &argc, &argv, &status))
        return status;
    name = argv[1];
    if (!podvmctl_check_name("volume delete", name, &status))
        return status;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_manager_call_delete_volume_sync(manager, name, NULL, &error))
        return podvmctl_fail(ctl, error);
    g_print(_("volume %s deleted\n"), name);
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* podvmctl volume SUBCOMMAND */

static const VolumeCommand volume_commands[] = {
    { "create", volume_create, "NAME --size SIZE | --from FILE|URL",
      N_("Create a blank volume or import a disk image") },
    { "list", volume_list, "", N_("List volumes") },
    { "show", volume_show, "NAME", N_("Show a volume") },
    { "delete", volume_delete, "NAME", N_("Delete a volume") },
};

static void
print_volume_help(FILE *stream)
{
    fprintf(stream, "%s\n  podvmctl volume %s\n\n%s\n\n%s\n", _("Usage:"),
            _("SUBCOMMAND [OPTION…] [ARGUMENT…]"),
            _("Manage the volumes of podvmd's storage pool (persistentVolumeClaim and "
              "dataVolume sources)."),
            _("Subcommands:"));
    for (gsize i = 0; i < G_N_ELEMENTS(volume_commands); i++)
        fprintf(stream, "  %-8s %-36s %s\n", volume_commands[i].name, volume_commands[i].parameters,
                _(volume_commands[i].summary));
    fprintf(stream, "\n%s\n",
            _("Run 'podvmctl volume SUBCOMMAND --help' for the options of a subcommand."));
}

int
podvmctl_cmd_volume(PodvmCtl *ctl, int argc, char **argv)
{
    g_autofree char *prgname = NULL;
    const char *subcommand;

    if (argc < 2)
        return podvmctl_usage_error("volume",
                                    _("missing subcommand: create, list, show or delete"));
    subcommand = argv[1];
    if (g_str_equal(subcommand, "--help") || g_str_equal(subcommand, "-h") ||
        g_str_equal(subcommand, "-?") || g_str_equal(subcommand, "help")) {
        print_volume_help(stdout);
        return PODVMCTL_EXIT_OK;
    }

    for (gsize i = 0; i < G_N_ELEMENTS(volume_commands); i++) {
        if (g_str_equal(volume_commands[i].name, subcommand)) {
            /* GOptionContext's "Usage:" line shows the program name. */
            prgname = g_strdup_printf("podvmctl volume %s", subcommand);
            g_set_prgname(prgname);
            return volume_commands[i].func(ctl, argc - 1, argv + 1);
        }
    }
    if (subcommand[0] == '-')
        return podvmctl_usage_error("volume", _("unknown option '%s'; give a subcommand first"),
                                    subcommand);
    return podvmctl_usage_error("volume",
                                _("unknown subcommand '%s'; expected create, list, show or "
                                  "delete"),
                                subcommand);
}
