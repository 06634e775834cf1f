/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl image pull REF
 * podvmctl image list [-o table|wide|json|yaml]
 * podvmctl image rm REF|DIGEST [--force]
 * podvmctl image prune
 *
 * The image store podvmd shares between app pods and containerDisks. A
 * pull reports its progress as the manager's Event "image-pull"
 * {reference, phase, doneBytes, totalBytes}: on a terminal a bar on stderr
 * redrawn in place, otherwise one line on stderr per phase. `run` shows
 * the same bar while a start pulls (podvmctl_pull_progress_*).
 */
#include "podvm-build-config.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "podvmctl-util.h"

typedef struct {
    const char *name;
    PodvmCtlCommandFunc func;
    const char *parameters;
    const char *summary;
} ImageCommand;

/* ------------------------------------------------------------------------ */
/* Pull progress, from the manager's events */

#define BAR_WIDTH 20

struct _PodvmCtlPullProgress {
    PodvmDBusManager *manager; /* owned */
    char *pod;                 /* owned; also shows this pod's events (NULL: only the manager's) */
    gboolean tty;              /* stderr is a terminal: one line redrawn */
    gboolean line_shown;       /* a bar waits to be cleared */
    char *phase;               /* owned; the last phase shown (no terminal) */
    gulong handler;
};

static gboolean
is_pull_event(const char *type)
{
    /* The design's name, and the CamelCase of the other events. */
    return g_strcmp0(type, "image-pull") == 0 || g_strcmp0(type, "ImagePull") == 0;
}

static guint
stderr_columns(void)
{
    struct winsize size = { 0 };

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20)
        return size.ws_col;
    return 80;
}

static void
pull_event_cb(PodvmDBusManager *manager, const char *pod, const char *type, const char *details,
              gpointer user_data)
{
    PodvmCtlPullProgress *progress = user_data;
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *line = NULL;
    JsonObject *object;
    const char *reference;
    const char *phase;
    gint64 done;
    gint64 total;

    if (!is_pull_event(type))
        return;
    if (pod != NULL && *pod != '\0' && g_strcmp0(pod, progress->pod) != 0)
        return;
    root = podvmctl_parse_json(details, -1, "details", NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return;
    object = json_node_get_object(root);
    reference = podvmctl_json_string(object, "reference");
    phase = podvmctl_json_string(object, "phase");
    done = podvmctl_json_int(object, "doneBytes", -1);
    total = podvmctl_json_int(object, "totalBytes", -1);
    if (reference == NULL)
        reference = "?";
    if (phase == NULL)
        phase = "";

    if (!progress->tty) {
        /* Plain lines for logs: one per phase, not per event. */
        if (g_strcmp0(progress->phase, phase) == 0)
            return;
        g_free(progress->phase);
        progress->phase = g_strdup(phase);
        if (total > 0) {
            g_autofree char *total_text = podvmctl_format_bytes(total);

            g_printerr(_("%s: %s (%s)\n"), reference, phase, total_text);
        } else {
            g_printerr("%s: %s\n", reference, phase);
        }
        return;
    }

    if (total > 0 && done >= 0) {
        g_autofree char *done_text = podvmctl_format_bytes(MIN(done, total));
        g_autofree char *total_text = podvmctl_format_bytes(total);
        char bar[BAR_WIDTH + 1];
        guint filled = (guint)(MIN(done, total) * BAR_WIDTH / total);

        for (guint i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
        line = g_strdup_printf("%s [%s] %s / %s", reference, bar, done_text, total_text);
    } else if (done > 0) {
        g_autofree char *done_text = podvmctl_format_bytes(done);

        line = g_strdup_printf("%s %s %s", reference, done_text, phase);
    } else {
        line = g_strdup_printf("%s %s", reference, phase);
    }
    g_strdelimit(line, "\r\n\033", ' ');
    /* One line, never wrapped: a wrapped line cannot be redrawn in place. */
    if ((guint)g_utf8_strlen(line, -1) >= stderr_columns()) {
        char *cut = g_utf8_substring(line, 0, stderr_columns() - 1);

        g_free(line);
        line = cut;
    }
    g_printerr("\r\033[K%s", line);
    progress->line_shown = TRUE;
}

PodvmCtlPullProgress *
podvmctl_pull_progress_new(PodvmDBusManager *manager, const char *pod, gboolean only_tty)
{
    PodvmCtlPullProgress *progress;
    gboolean tty = isatty(STDERR_FILENO);

    if (only_tty && !tty)
        return NULL;
    progress = g_new0(PodvmCtlPullProgress, 1);
    progress->manager = g_object_ref(manager);
    progress->pod = g_strdup(pod);
    progress->tty = tty;
    progress->handler = g_signal_connect(manager, "event", G_CALLBACK(pull_event_cb), progress);
    return progress;
}

void
podvmctl_pull_progress_free(PodvmCtlPullProgress *progress)
{
    if (progress == NULL)
        return;
    g_signal_handler_disconnect(progress->manager, progress->handler);
    if (progress->line_shown)
        g_printerr("\r\033[K");
    g_object_unref(progress->manager);
    g_free(progress->pod);
    g_free(progress->phase);
    g_free(progress);
}

/* ------------------------------------------------------------------------ */
/* Helpers */

/* "sha256:0123456789ab" from a digest; "-" when absent. */
static char *
short_digest(const char *digest)
{
    const char *hex;

    if (digest == NULL || *digest == '\0')
        return g_strdup("-");
    hex = strchr(digest, ':');
    hex = hex != NULL ? hex + 1 : digest;
    return g_strndup(hex, 12);
}

static char *
size_text(JsonObject *image)
{
    gint64 size = podvmctl_json_int(image, "size", -1);

    return size >= 0 ? podvmctl_format_bytes(size) : g_strdup("-");
}

/* "5m3s ago" from pulledAt. */
static char *
pulled_text(JsonObject *image, GDateTime *now)
{
    const char *pulled_at = podvmctl_json_string(image, "pulledAt");
    g_autoptr(GDateTime) pulled = NULL;
    g_autofree char *age = NULL;

    if (pulled_at != NULL)
        pulled = g_date_time_new_from_iso8601(pulled_at, NULL);
    if (pulled == NULL)
        return g_strdup("-");
    age = podvmctl_format_duration(g_date_time_difference(now, pulled));
    return g_strdup_printf(_("%s ago"), age);
}

/* ------------------------------------------------------------------------ */
/* pull */

typedef struct {
    GMainLoop *loop;
    char *reply; /* owned; the image JSON */
    GError *error;
} PullState;

static void
pulled_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PullState *state = user_data;

    podvm_dbus_manager_call_pull_image_finish(PODVM_DBUS_MANAGER(source), &state->reply, result,
                                              &state->error);
    g_main_loop_quit(state->loop);
}

static int
image_pull(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) image = NULL;
    g_autofree char *size = NULL;
    PullState state = { .loop = loop };
    PodvmCtlPullProgress *progress;
    PodvmDBusManager *manager;
    JsonObject *object;
    const char *reference;
    const char *digest;
    int status;

    if (!podvmctl_parse_options("image pull", "REF",
                                _("Pull an image from its registry into podvmd's image store.\n"
                                  "REF is docker://[REGISTRY/]REPO[:TAG][@DIGEST] or the same "
                                  "without docker://. On a terminal a bar on stderr shows the "
                                  "download."),
                                NULL, 1, 1, &argc, &argv, &status))
        return status;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    /* Subscribed before the call, so the first progress event is not missed. */
    progress = podvmctl_pull_progress_new(manager, NULL, FALSE);
    /* A pull takes as long as the download; podvmd answers when it is stored. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(manager), PODVMCTL_TIMEOUT_LONG);
    podvm_dbus_manager_call_pull_image(manager, argv[1], NULL, pulled_cb, &state);
    g_main_loop_run(loop);
    podvmctl_pull_progress_free(progress);
    if (state.error != NULL) {
        status = podvmctl_fail(ctl, state.error);
        g_clear_error(&state.error);
        return status;
    }

    image = podvmctl_parse_json(state.reply, -1, _("the image"), NULL);
    g_free(state.reply);
    object = image != NULL && JSON_NODE_HOLDS_OBJECT(image) ? json_node_get_object(image) : NULL;
    reference = podvmctl_json_string(object, "reference");
    digest = podvmctl_json_string(object, "digest");
    size = size_text(object);
    g_print(_("pulled %s (%s, %s)\n"), reference != NULL ? reference : argv[1],
            digest != NULL ? digest : "?", size);
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* list */

enum {
    COL_REFERENCE,
    COL_DIGEST,
    COL_SIZE,
    COL_PULLED,
    COL_IN_USE,
    N_COLUMNS,
    COL_PULLED_AT = N_COLUMNS, /* -o wide adds it, and shows the whole digest */
    N_WIDE_COLUMNS
};

static int
image_list(PodvmCtl *ctl, int argc, char **argv)
{
    static const char *const titles[N_WIDE_COLUMNS] = { "REFERENCE", "DIGEST", "SIZE",
                                                        "PULLED",    "IN USE", "PULLED AT" };
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_output = NULL;
    PodvmCtlOutput output;
    g_autofree char *text = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    PodvmDBusManager *manager;
    JsonArray *array;
    int status;
    const GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_STRING, &opt_output,
          N_("Output format: table (the default), wide, json or yaml"), N_("FORMAT") },
        { NULL },
    };

    if (!podvmctl_parse_options("image list", "", _("List the images in podvmd's image store."),
                                entries, 0, 0, &argc, &argv, &status))
        return status;
    if (!podvmctl_parse_output("image list", opt_output, "table",
                               PODVMCTL_OUTPUT_WIDE | PODVMCTL_OUTPUT_JSON | PODVMCTL_OUTPUT_YAML,
                               &output, &status))
        return status;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_manager_call_list_images_sync(manager, &text, NULL, &error))
        return podvmctl_fail(ctl, error);
    list = podvmctl_parse_json(text, -1, _("the image list"), &error);
    if (list == NULL)
        return podvmctl_fail_message("%s", error->message);
    if (!JSON_NODE_HOLDS_ARRAY(list))
        return podvmctl_fail_message(_("podvmd's image list is not a JSON array"));
    if (output == PODVMCTL_OUTPUT_JSON || output == PODVMCTL_OUTPUT_YAML) {
        podvmctl_print_document(list, output);
        return PODVMCTL_EXIT_OK;
    }

    array = json_node_get_array(list);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);
        JsonObject *image = JSON_NODE_HOLDS_OBJECT(element) ? json_node_get_object(element) : NULL;
        const char *reference = podvmctl_json_string(image, "reference");
        const char *digest = podvmctl_json_string(image, "digest");
        const char *pulled_at = podvmctl_json_string(image, "pulledAt");
        char **row = g_new0(char *, N_WIDE_COLUMNS + 1);

        row[COL_REFERENCE] = g_strdup(reference != NULL ? reference : "-");
        row[COL_DIGEST] = output == PODVMCTL_OUTPUT_WIDE && digest != NULL ? g_strdup(digest)
                                                                           : short_digest(digest);
        row[COL_SIZE] = size_text(image);
        row[COL_PULLED] = pulled_text(image, now);
        row[COL_IN_USE] = podvmctl_json_names_text(image, "inUseBy");
        row[COL_PULLED_AT] = g_strdup(pulled_at != NULL ? pulled_at : "-");
        g_ptr_array_add(rows, row);
    }
    podvmctl_print_table(titles, output == PODVMCTL_OUTPUT_WIDE ? N_WIDE_COLUMNS : N_COLUMNS, rows);
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* rm */

static int
image_rm(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    gboolean opt_force = FALSE;
    PodvmDBusManager *manager;
    int status;
    const GOptionEntry entries[] = {
        { "force", 0, 0, G_OPTION_ARG_NONE, &opt_force,
          N_("Remove the image even while pods use it"), NULL },
        { NULL },
    };

    if (!podvmctl_parse_options("image rm", "REF|DIGEST",
                                _("Remove an image from podvmd's image store, by reference or "
                                  "digest (sha256:...).\n"
                                  "Refused while a pod uses it, unless --force."),
                                entries, 1, 1, &argc, &argv, &status))
        return status;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_manager_call_remove_image_sync(manager, argv[1], opt_force, NULL, &error))
        return podvmctl_fail(ctl, error);
    g_print(_("removed %s\n"), argv[1]);
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* prune */

static int
image_prune(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *freed = NULL;
    g_autofree char *cache_freed = NULL;
    g_autoptr(JsonNode) result = NULL;
    PodvmDBusManager *manager;
    JsonObject *object;
    gint64 removed, entries;
    int status;

    if (!podvmctl_parse_options("image prune", "",
                                _("Remove the images no pod uses, every blob no image "
                                  "needs, and the containerDisk cache's entries no pod uses."),
                                NULL, 0, 0, &argc, &argv, &status))
        return status;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(manager), PODVMCTL_TIMEOUT_LONG);
    if (!podvm_dbus_manager_call_prune_images_sync(manager, &text, NULL, &error))
        return podvmctl_fail(ctl, error);
    result = podvmctl_parse_json(text, -1, _("the answer"), NULL);
    object = result != NULL && JSON_NODE_HOLDS_OBJECT(result) ? json_node_get_object(result) : NULL;
    removed = podvmctl_json_int(object, "removed", 0);
    freed = podvmctl_format_bytes(podvmctl_json_int(object, "freedBytes", 0));
    g_print(g_dngettext(GETTEXT_PACKAGE, "removed %" G_GINT64_FORMAT " image, freed %s\n",
                        "removed %" G_GINT64_FORMAT " images, freed %s\n", (gulong)removed),
            removed, freed);
    entries = podvmctl_json_int(object, "removedCacheEntries", 0);
    cache_freed = podvmctl_format_bytes(podvmctl_json_int(object, "cacheFreedBytes", 0));
    g_print(g_dngettext(GETTEXT_PACKAGE,
                        "removed %" G_GINT64_FORMAT " containerDisk cache entry, freed %s\n",
                        "removed %" G_GINT64_FORMAT " containerDisk cache entries, freed %s\n",
                        (gulong)entries),
            entries, cache_freed);
    return PODVMCTL_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* podvmctl image SUBCOMMAND */

static const ImageCommand image_commands[] = {
    { "pull", image_pull, "REF", N_("Pull an image from its registry") },
    { "list", image_list, "[-o wide|json|yaml]", N_("List the stored images") },
    { "rm", image_rm, "REF|DIGEST [--force]", N_("Remove an image") },
    { "prune", image_prune, "", N_("Remove the images no pod uses") },
};

static void
print_image_help(FILE *stream)
{
    fprintf(stream, "%s\n  podvmctl image %s\n\n%s\n\n%s\n", _("Usage:"),
            _("SUBCOMMAND [OPTION…] [ARGUMENT…]"),
            _("Manage podvmd's image store (app pods' images and containerDisks)."),
            _("Subcommands:"));
    for (gsize i = 0; i < G_N_ELEMENTS(image_commands); i++)
        fprintf(stream, "  %-8s %-24s %s\n", image_commands[i].name, image_commands[i].parameters,
                _(image_commands[i].summary));
    fprintf(stream, "\n%s\n",
            _("Run 'podvmctl image SUBCOMMAND --help' for the options of a subcommand."));
}

int
podvmctl_cmd_image(PodvmCtl *ctl, int argc, char **argv)
{
    g_autofree char *prgname = NULL;
    const char *subcommand;

    if (argc < 2)
        return podvmctl_usage_error("image", _("missing subcommand: pull, list, rm or prune"));
    subcommand = argv[1];
    if (g_str_equal(subcommand, "--help") || g_str_equal(subcommand, "-h") ||
        g_str_equal(subcommand, "-?") || g_str_equal(subcommand, "help")) {
        print_image_help(stdout);
        return PODVMCTL_EXIT_OK;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(image_commands); i++) {
        if (g_str_equal(image_commands[i].name, subcommand)) {
            prgname = g_strdup_printf("podvmctl image %s", subcommand);
            g_set_prgname(prgname);
            return image_commands[i].func(ctl, argc - 1, argv + 1);
        }
    }
    if (subcommand[0] == '-')
        return podvmctl_usage_error("image", _("unknown option '%s'; give a subcommand first"),
                                    subcommand);
    return podvmctl_usage_error(
        "image", _("unknown subcommand '%s'; expected pull, list, rm or prune"), subcommand);
}
