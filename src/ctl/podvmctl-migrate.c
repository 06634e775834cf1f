/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl migrate POD --to NAME|URL [--token-file F] [--cacert F] [--plaintext] [--postcopy]
 *                      [--bandwidth QUANTITY] [--max-downtime MS] [--no-progress-timeout MS]
 * podvmctl migrate --cancel POD
 * (--dry-run prints the request instead of sending it)
 *
 * The options become the request of Pod.Migrate (README "Live migration").
 * While the call runs, the manager's Event signals of the pod show the
 * progress: on a terminal one line redrawn in place, otherwise one line per
 * MigrationProgress and MigrationStep event. Ctrl-C cancels the migration
 * (a second Ctrl-C stops waiting). `podvmctl drain` (podvmctl-drain.c)
 * uses the same request options and the same follower.
 */
#include "podvm-build-config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "podvm-json.h"
#include "podvm-quantity.h"
#include "podvmctl-util.h"

void
podvmctl_migrate_request_clear(PodvmCtlMigrateRequest *request)
{
    g_clear_pointer(&request->to, g_free);
    g_clear_pointer(&request->token_file, g_free);
    g_clear_pointer(&request->cacert, g_free);
    g_clear_pointer(&request->bandwidth, g_free);
    g_clear_pointer(&request->max_downtime, g_free);
    g_clear_pointer(&request->no_progress_timeout, g_free);
}

GOptionEntry *
podvmctl_migrate_option_entries(PodvmCtlMigrateRequest *request, const GOptionEntry *extra)
{
    const GOptionEntry own[] = {
        { "to", 0, 0, G_OPTION_ARG_STRING, &request->to,
          N_("The podvmd to move to: a [peer NAME] of podvmd.conf or https://HOST:PORT"),
          N_("NAME|URL") },
        { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &request->token_file,
          N_("The file holding the target's bearer token (podvmd reads it; default: the "
             "peer's token_file)"),
          N_("FILE") },
        { "cacert", 0, 0, G_OPTION_ARG_FILENAME, &request->cacert,
          N_("The CA certificate to check the target's TLS certificate with"), N_("FILE") },
        { "plaintext", 0, 0, G_OPTION_ARG_NONE, &request->plaintext,
          N_("Allow an http:// target: memory and disks cross the network unencrypted"), NULL },
        { "postcopy", 0, 0, G_OPTION_ARG_NONE, &request->postcopy,
          N_("Let the controller switch to post-copy when the copy does not converge"), NULL },
        { "bandwidth", 0, 0, G_OPTION_ARG_STRING, &request->bandwidth,
          N_("At most this many bytes a second, e.g. 100Mi (default: [migration] "
             "max_bandwidth)"),
          N_("QUANTITY") },
        { "max-downtime", 0, 0, G_OPTION_ARG_STRING, &request->max_downtime,
          N_("The longest pause of the guest at the switchover the controller may allow"),
          N_("MS") },
        { "no-progress-timeout", 0, 0, G_OPTION_ARG_STRING, &request->no_progress_timeout,
          N_("Cancel when nothing moved for this long"), N_("MS") },
    };
    gsize n_extra = 0;
    GOptionEntry *entries;

    while (extra != NULL && extra[n_extra].long_name != NULL)
        n_extra++;
    entries = g_new0(GOptionEntry, G_N_ELEMENTS(own) + n_extra + 1);
    memcpy(entries, own, sizeof(own));
    if (n_extra > 0)
        memcpy(entries + G_N_ELEMENTS(own), extra, n_extra * sizeof(GOptionEntry));
    return entries;
}

/* A whole number of milliseconds more than 0, written in decimal. */
static gboolean
parse_ms(const char *command, const char *option, const char *text, gint64 *out_ms, int *out_status)
{
    guint64 value = 0;

    if (!g_ascii_isdigit(*text) ||
        !g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT32, &value, NULL)) {
        *out_status = podvmctl_usage_error(
            command, _("%s '%s': expected a whole number of milliseconds, more than 0"), option,
            text);
        return FALSE;
    }
    *out_ms = (gint64)value;
    return TRUE;
}

char *
podvmctl_migrate_request_build(const char *command, const PodvmCtlMigrateRequest *request,
                               int *out_status)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    gint64 max_downtime = 0;
    gint64 no_progress_timeout = 0;
    guint64 bandwidth = 0;

    if (request->to == NULL || *request->to == '\0') {
        *out_status = podvmctl_usage_error(
            command, _("missing --to NAME|URL: the peer of podvmd.conf or the target's URL"));
        return NULL;
    }
    if (request->bandwidth != NULL) {
        g_autoptr(GError) error = NULL;

        if (!podvm_quantity_parse_bytes(request->bandwidth, &bandwidth, &error)) {
            *out_status = podvmctl_usage_error(command, "--bandwidth: %s", error->message);
            return NULL;
        }
    }
    if (request->max_downtime != NULL &&
        !parse_ms(command, "--max-downtime", request->max_downtime, &max_downtime, out_status))
        return NULL;
    if (request->no_progress_timeout != NULL &&
        !parse_ms(command, "--no-progress-timeout", request->no_progress_timeout,
                  &no_progress_timeout, out_status))
        return NULL;

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "target");
    json_builder_add_string_value(builder, request->to);
    /* podvmd reads the files: it needs them absolute, not relative to our directory. */
    if (request->token_file != NULL) {
        g_autofree char *path = g_canonicalize_filename(request->token_file, NULL);

        json_builder_set_member_name(builder, "tokenFile");
        json_builder_add_string_value(builder, path);
    }
    if (request->cacert != NULL) {
        g_autofree char *path = g_canonicalize_filename(request->cacert, NULL);

        json_builder_set_member_name(builder, "cacert");
        json_builder_add_string_value(builder, path);
    }
    if (request->plaintext) {
        json_builder_set_member_name(builder, "plaintext");
        json_builder_add_boolean_value(builder, TRUE);
    }
    if (request->postcopy) {
        json_builder_set_member_name(builder, "postcopy");
        json_builder_add_boolean_value(builder, TRUE);
    }
    if (request->bandwidth != NULL) {
        json_builder_set_member_name(builder, "maxBandwidth");
        json_builder_add_int_value(builder, (gint64)MIN(bandwidth, (guint64)G_MAXINT64));
    }
    if (max_downtime > 0) {
        json_builder_set_member_name(builder, "maxDowntimeMs");
        json_builder_add_int_value(builder, max_downtime);
    }
    if (no_progress_timeout > 0) {
        json_builder_set_member_name(builder, "noProgressTimeoutMs");
        json_builder_add_int_value(builder, no_progress_timeout);
    }
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    return podvm_json_to_string(root, FALSE);
}

/* ---- following one migration --------------------------------------------------------------- */

#define BAR_WIDTH 20

typedef struct {
    GMainLoop *loop;
    PodvmCtl *ctl;
    PodvmDBusPod *pod;
    const char *name;
    gboolean tty;
    char *line;          /* the progress line on the screen (tty), to redraw after a step */
    char *result;        /* Migrate's answer */
    GError *error;       /* Migrate's failure, or why we stopped waiting */
    gboolean done;       /* Migrate answered */
    gboolean *interrupt; /* the caller's flag: Ctrl-C was pressed */
    guint interrupts;
} Follow;

static guint
terminal_columns(void)
{
    struct winsize size = { 0 };

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20)
        return size.ws_col;
    return 80;
}

char *
podvmctl_format_bytes(gint64 bytes)
{
    return podvm_quantity_format_bytes_human(bytes > 0 ? (guint64)bytes : 0);
}

static void
append_piece(GString *text, const char *separator, char *piece)
{
    if (text->len > 0)
        g_string_append(text, separator);
    g_string_append(text, piece);
    g_free(piece);
}

/*
 * The progress as words, what matters most first (a terminal's line may be
 * cut): "412.0 MiB / 1.0 GiB  remaining 300.0 MiB  pass 3  dirty 12.0 MiB/s"
 * (memory), "mirroring 2 disks: 1.2 GiB sent" (before).
 */
static char *
progress_text(JsonObject *details, const char *separator, gboolean of)
{
    GString *text = g_string_new(NULL);
    const char *phase = podvmctl_json_string(details, "phase");
    gint64 transferred = podvmctl_json_int(details, "transferredBytes", -1);
    gint64 total = podvmctl_json_int(details, "totalBytes", -1);
    gint64 remaining = podvmctl_json_int(details, "remainingBytes", -1);
    gint64 passes = podvmctl_json_int(details, "passes", -1);
    gint64 dirty = podvmctl_json_int(details, "dirtyRate", -1);
    gint64 disks = podvmctl_json_int(details, "disks", 0);
    gint64 disk_bytes = podvmctl_json_int(details, "diskTransferredBytes", -1);

    if (g_strcmp0(phase, "mirroring") == 0) {
        g_autofree char *done = podvmctl_format_bytes(MAX(disk_bytes, 0));

        append_piece(text, separator,
                     g_strdup_printf(g_dngettext(GETTEXT_PACKAGE,
                                                 "mirroring %" G_GINT64_FORMAT " disk: %s sent",
                                                 "mirroring %" G_GINT64_FORMAT " disks: %s sent",
                                                 (gulong)disks),
                                     disks, done));
        return g_string_free(text, FALSE);
    }
    if (transferred >= 0) {
        g_autofree char *done = podvmctl_format_bytes(transferred);
        g_autofree char *all = total > 0 ? podvmctl_format_bytes(total) : NULL;

        if (all != NULL)
            append_piece(text, separator,
                         of ? g_strdup_printf(_("%s of %s"), done, all)
                            : g_strdup_printf("%s / %s", done, all));
        else
            append_piece(text, separator, g_strdup_printf(_("%s sent"), done));
    }
    if (remaining >= 0) {
        g_autofree char *left = podvmctl_format_bytes(remaining);

        append_piece(text, separator, g_strdup_printf(_("remaining %s"), left));
    }
    if (passes >= 0)
        append_piece(text, separator, g_strdup_printf(_("pass %" G_GINT64_FORMAT), passes));
    if (dirty >= 0) {
        g_autofree char *rate = podvmctl_format_bytes(dirty);

        append_piece(text, separator, g_strdup_printf(_("dirty %s/s"), rate));
    }
    if (disks > 0 && disk_bytes >= 0) {
        g_autofree char *done = podvmctl_format_bytes(disk_bytes);

        append_piece(text, separator, g_strdup_printf(_("disks %s"), done));
    }
    return g_string_free(text, FALSE);
}

static void
clear_line(Follow *follow)
{
    if (follow->tty && follow->line != NULL) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
}

static void
draw_line(Follow *follow)
{
    g_autofree char *shown = NULL;
    guint columns = terminal_columns();

    if (follow->line == NULL)
        return;
    /* One line, never wrapped: a wrapped line cannot be redrawn in place. */
    if (g_utf8_strlen(follow->line, -1) >= columns)
        shown = g_utf8_substring(follow->line, 0, columns - 1);
    printf("\r\033[K%s", shown != NULL ? shown : follow->line);
    fflush(stdout);
}

static void
show_progress(Follow *follow, JsonObject *details)
{
    g_autofree char *words = NULL;

    if (!follow->tty) {
        words = progress_text(details, ", ", TRUE);
        printf(_("%s: progress: %s\n"), follow->name, words);
        fflush(stdout);
        return;
    }
    words = progress_text(details, "  ", FALSE);
    {
        gint64 total = podvmctl_json_int(details, "totalBytes", -1);
        gint64 remaining = podvmctl_json_int(details, "remainingBytes", -1);
        char bar[BAR_WIDTH + 1];
        guint filled = 0;

        /* What of the RAM is over there now (re-sent pages do not count twice). */
        if (total > 0 && remaining >= 0 && remaining <= total)
            filled = (guint)((total - remaining) * BAR_WIDTH / total);
        for (guint i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
        g_free(follow->line);
        follow->line = g_strdup_printf("%s [%s] %s", follow->name, bar, words);
    }
    draw_line(follow);
}

static void
show_step(Follow *follow, JsonObject *details)
{
    const char *step = podvmctl_json_string(details, "step");
    const char *reason = podvmctl_json_string(details, "reason");
    g_autofree char *text = NULL;

    if (reason != NULL && *reason != '\0')
        text =
            g_strdup_printf(_("%s: step: %s: %s"), follow->name, step != NULL ? step : "?", reason);
    else
        text = g_strdup_printf(_("%s: step: %s"), follow->name, step != NULL ? step : "?");
    g_strdelimit(text, "\r\n", ' ');
    clear_line(follow);
    printf("%s\n", text);
    fflush(stdout);
    if (follow->tty)
        draw_line(follow);
}

static void
event_cb(PodvmDBusManager *manager, const char *pod, const char *type, const char *details,
         gpointer user_data)
{
    Follow *follow = user_data;
    g_autoptr(JsonNode) root = NULL;

    if (follow->done || g_strcmp0(pod, follow->name) != 0)
        return;
    if (g_strcmp0(type, "MigrationProgress") != 0 && g_strcmp0(type, "MigrationStep") != 0)
        return;
    root = podvmctl_parse_json(details, -1, "details", NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return;
    if (g_str_equal(type, "MigrationProgress"))
        show_progress(follow, json_node_get_object(root));
    else
        show_step(follow, json_node_get_object(root));
}

static void
follow_clear(Follow *follow)
{
    g_clear_pointer(&follow->loop, g_main_loop_unref);
    g_clear_object(&follow->pod);
    g_free(follow->line);
    g_free(follow->result);
    g_clear_error(&follow->error);
}

static void
migrate_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Follow *follow = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *answer = NULL;

    if (!podvm_dbus_pod_call_migrate_finish(PODVM_DBUS_POD(source), &answer, result, &error)) {
        if (follow->error == NULL)
            follow->error = g_steal_pointer(&error);
    } else {
        follow->result = g_steal_pointer(&answer);
    }
    follow->done = TRUE;
    g_main_loop_quit(follow->loop);
    g_rc_box_release_full(follow, (GDestroyNotify)follow_clear);
}

static void
cancel_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;

    /* NotFound: it ended meanwhile; Migrate's answer says how. */
    if (!podvm_dbus_pod_call_cancel_migration_finish(PODVM_DBUS_POD(source), result, &error) &&
        !podvmctl_error_is(error, "NotFound")) {
        g_dbus_error_strip_remote_error(error);
        g_printerr(_("podvmctl: could not cancel the migration: %s\n"), error->message);
    }
}

static gboolean
interrupt_cb(gpointer user_data)
{
    Follow *follow = user_data;

    *follow->interrupt = TRUE;
    clear_line(follow);
    if (follow->interrupts++ == 0) {
        g_printerr(_("podvmctl: cancelling the migration of '%s' (Ctrl-C again to stop "
                     "waiting)\n"),
                   follow->name);
        podvm_dbus_pod_call_cancel_migration(follow->pod, NULL, cancel_cb, NULL);
        if (follow->tty)
            draw_line(follow);
        return G_SOURCE_CONTINUE;
    }
    g_set_error(&follow->error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                _("stopped waiting for the migration of '%s'; 'podvmctl show %s' tells how it "
                  "ends"),
                follow->name, follow->name);
    g_main_loop_quit(follow->loop);
    return G_SOURCE_CONTINUE;
}

static void
closed_cb(GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
          gpointer user_data)
{
    Follow *follow = user_data;

    if (follow->error == NULL)
        g_set_error(&follow->error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED,
                    _("lost the connection to the bus during the migration of '%s'"), follow->name);
    g_main_loop_quit(follow->loop);
}

gboolean
podvmctl_migrate_follow(PodvmCtl *ctl, const char *name, const char *request, gboolean *interrupted,
                        JsonNode **out_result, GError **error)
{
    Follow *follow;
    PodvmDBusManager *manager;
    g_autoptr(PodvmDBusPod) pod = NULL;
    JsonNode *result = NULL;
    gulong event_handler;
    gulong closed_handler;
    guint sigint_id;
    guint sigterm_id;
    gboolean ok;

    manager = podvmctl_get_manager(ctl, error);
    if (manager == NULL)
        return FALSE;
    pod = podvmctl_get_pod(ctl, name, error);
    if (pod == NULL)
        return FALSE;
    /* The migration lasts as long as it needs; Ctrl-C is the way out. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);

    follow = g_rc_box_new0(Follow);
    follow->loop = g_main_loop_new(NULL, FALSE);
    follow->ctl = ctl;
    follow->pod = g_object_ref(pod);
    follow->name = name;
    follow->tty = isatty(STDOUT_FILENO);
    follow->interrupt = interrupted;

    /* Listen before asking, so that no event is missed. */
    event_handler = g_signal_connect(manager, "event", G_CALLBACK(event_cb), follow);
    closed_handler = g_signal_connect(ctl->connection, "closed", G_CALLBACK(closed_cb), follow);
    sigint_id = g_unix_signal_add(SIGINT, interrupt_cb, follow);
    sigterm_id = g_unix_signal_add(SIGTERM, interrupt_cb, follow);

    podvm_dbus_pod_call_migrate(pod, request, NULL, migrate_cb, g_rc_box_acquire(follow));
    g_main_loop_run(follow->loop);

    g_source_remove(sigint_id);
    g_source_remove(sigterm_id);
    g_signal_handler_disconnect(ctl->connection, closed_handler);
    g_signal_handler_disconnect(manager, event_handler);
    clear_line(follow);

    ok = follow->done && follow->error == NULL;
    if (!ok) {
        if (follow->error == NULL)
            g_set_error(&follow->error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        _("the migration of '%s' did not answer"), name);
        g_propagate_error(error, g_steal_pointer(&follow->error));
    } else {
        result = podvmctl_parse_json(follow->result, -1, _("the migration's result"), NULL);
        if (out_result != NULL)
            *out_result = result != NULL ? result : json_node_new(JSON_NODE_NULL);
        else if (result != NULL)
            json_node_unref(result);
    }
    /* A call still running keeps its own reference (migrate_cb releases it). */
    follow->done = TRUE;
    g_rc_box_release_full(follow, (GDestroyNotify)follow_clear);
    return ok;
}

void
podvmctl_migrate_print_done(const char *name, const char *target, JsonNode *result)
{
    JsonObject *object =
        result != NULL && JSON_NODE_HOLDS_OBJECT(result) ? json_node_get_object(result) : NULL;
    gint64 total = podvmctl_json_int(object, "totalMs", -1);
    gint64 downtime = podvmctl_json_int(object, "downtimeMs", -1);
    g_autofree char *total_text =
        total >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, total) : g_strdup("?");
    g_autofree char *downtime_text =
        downtime >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, downtime) : g_strdup("?");

    printf(_("migrated %s to %s in %s ms (downtime %s ms)\n"), name, target, total_text,
           downtime_text);
    fflush(stdout);
}

/* ---- the command ------------------------------------------------------------------------------
 */

static int
cancel(PodvmCtl *ctl, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = podvmctl_get_pod(ctl, name, &error);

    if (pod == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_pod_call_cancel_migration_sync(pod, NULL, &error))
        return podvmctl_fail(ctl, error);
    g_print(_("cancelling the migration of %s; it keeps running here\n"), name);
    return PODVMCTL_EXIT_OK;
}

int
podvmctl_cmd_migrate(PodvmCtl *ctl, int argc, char **argv)
{
    g_auto(PodvmCtlMigrateRequest) request = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) result = NULL;
    g_autofree GOptionEntry *entries = NULL;
    g_autofree char *text = NULL;
    gboolean opt_cancel = FALSE;
    gboolean opt_dry_run = FALSE;
    gboolean interrupted = FALSE;
    const char *name;
    int status;
    const GOptionEntry extra[] = {
        { "cancel", 0, 0, G_OPTION_ARG_NONE, &opt_cancel,
          N_("Cancel the pod's running migration; it keeps running here"), NULL },
        { "dry-run", 0, 0, G_OPTION_ARG_NONE, &opt_dry_run,
          N_("Print the request (Pod.Migrate's options) and send nothing"), NULL },
        { NULL },
    };

    entries = podvmctl_migrate_option_entries(&request, extra);
    if (!podvmctl_parse_options(
            "migrate", "POD",
            _("Move a running (or paused) pod to another podvmd, disks and network identity "
              "included; the guest runs on throughout but for the switchover. Returns once "
              "the pod runs there; a failure or a cancel (Ctrl-C) leaves it running here.\n"
              "On a terminal a progress line shows what was sent, the passes over the memory, "
              "how fast the guest dirties it and what remains; otherwise one line per "
              "progress report and per step of the convergence controller."),
            entries, 1, 1, &argc, &argv, &status))
        return status;
    name = argv[1];
    if (!podvmctl_check_name("migrate", name, &status))
        return status;

    if (opt_cancel) {
        if (request.to != NULL || request.token_file != NULL || request.cacert != NULL ||
            request.plaintext || request.postcopy || request.bandwidth != NULL ||
            request.max_downtime != NULL || request.no_progress_timeout != NULL || opt_dry_run)
            return podvmctl_usage_error("migrate", _("--cancel takes the pod's name alone"));
        return cancel(ctl, name);
    }

    text = podvmctl_migrate_request_build("migrate", &request, &status);
    if (text == NULL)
        return status;
    if (opt_dry_run) {
        printf("%s\n", text);
        fflush(stdout);
        return PODVMCTL_EXIT_OK;
    }
    if (!podvmctl_migrate_follow(ctl, name, text, &interrupted, &result, &error))
        return podvmctl_fail(ctl, error);
    podvmctl_migrate_print_done(name, request.to, result);
    return PODVMCTL_EXIT_OK;
}
