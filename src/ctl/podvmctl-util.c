/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-build-config.h"

#include "podvmctl-util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>

#include "podvm-json.h"
#include "podvm-spec.h"
#include "podvm-yaml.h"

#define PODVMCTL_ERROR_PREFIX "io.podvm.PodVM1.Error."

int
podvmctl_fail_message(const char *format, ...)
{
    va_list args;
    g_autofree char *message = NULL;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_printerr("podvmctl: %s\n", message);
    return PODVMCTL_EXIT_FAILURE;
}

int
podvmctl_usage_error(const char *command, const char *format, ...)
{
    va_list args;
    g_autofree char *message = NULL;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_printerr("podvmctl: %s\n", message);
    if (command != NULL)
        g_printerr(_("Try 'podvmctl %s --help' for more information.\n"), command);
    else
        g_printerr(_("Try 'podvmctl --help' for more information.\n"));
    return PODVMCTL_EXIT_USAGE;
}

static const char *
bus_name_for_humans(GBusType bus_type)
{
    return bus_type == G_BUS_TYPE_SESSION ? _("session bus") : _("system bus");
}

static gboolean
error_means_unreachable(const GError *error)
{
    if (error->domain == G_DBUS_ERROR) {
        switch (error->code) {
        case G_DBUS_ERROR_SERVICE_UNKNOWN:
        case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
        case G_DBUS_ERROR_NO_SERVER:
        case G_DBUS_ERROR_DISCONNECTED:
        case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
        case G_DBUS_ERROR_SPAWN_FORK_FAILED:
        case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
        case G_DBUS_ERROR_SPAWN_CHILD_SIGNALED:
        case G_DBUS_ERROR_SPAWN_FAILED:
        case G_DBUS_ERROR_SPAWN_SERVICE_INVALID:
        case G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND:
        case G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID:
        case G_DBUS_ERROR_SPAWN_FILE_INVALID:
        case G_DBUS_ERROR_SPAWN_NO_MEMORY:
            return TRUE;
        default:
            return FALSE;
        }
    }
    return g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

int
podvmctl_fail(PodvmCtl *ctl, const GError *error)
{
    return podvmctl_fail_about(ctl, NULL, error);
}

int
podvmctl_fail_about(PodvmCtl *ctl, const char *what, const GError *error)
{
    g_autoptr(GError) stripped = g_error_copy(error);

    g_dbus_error_strip_remote_error(stripped);
    if (what != NULL) {
        g_autofree char *message = g_strdup_printf("%s: %s", what, stripped->message);

        g_free(stripped->message);
        stripped->message = g_steal_pointer(&message);
    }

    if (ctl->unreachable || error_means_unreachable(error)) {
        if (ctl->bus_type == G_BUS_TYPE_SESSION)
            g_printerr(_("podvmctl: cannot reach podvmd on the %s: %s (is podvmd running?)\n"),
                       bus_name_for_humans(ctl->bus_type), stripped->message);
        else
            g_printerr(_("podvmctl: cannot reach podvmd on the %s: %s (is podvmd running? "
                         "use --session for a session daemon)\n"),
                       bus_name_for_humans(ctl->bus_type), stripped->message);
        return PODVMCTL_EXIT_UNREACHABLE;
    }

    if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED)) {
        g_printerr(_("podvmctl: this needs the admin role, and the bus policy gives you the "
                     "reader role: run as root or as a member of the group 'podvm'\n"));
        return PODVMCTL_EXIT_FAILURE;
    }
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
        g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
        g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT)) {
        g_printerr(_("podvmctl: podvmd did not answer in time\n"));
        return PODVMCTL_EXIT_FAILURE;
    }
    if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY)) {
        g_printerr(_("podvmctl: podvmd did not answer: %s\n"), stripped->message);
        return PODVMCTL_EXIT_FAILURE;
    }

    g_printerr("podvmctl: %s\n", stripped->message);
    return PODVMCTL_EXIT_FAILURE;
}

gboolean
podvmctl_parse_options(const char *command, const char *parameter_string, const char *summary,
                       const GOptionEntry *entries, int min_args, int max_args, int *argc,
                       char ***argv, int *out_status)
{
    g_autoptr(GOptionContext) context = g_option_context_new(parameter_string);
    g_autoptr(GError) error = NULL;
    int positional;

    g_option_context_set_translation_domain(context, GETTEXT_PACKAGE);
    g_option_context_set_summary(context, summary);
    if (entries != NULL)
        g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);

    if (!g_option_context_parse(context, argc, argv, &error)) {
        *out_status = podvmctl_usage_error(command, "%s", error->message);
        return FALSE;
    }

    positional = *argc - 1;
    if (positional < min_args) {
        *out_status =
            podvmctl_usage_error(command, _("missing argument; expected %s"), parameter_string);
        return FALSE;
    }
    if (max_args >= 0 && positional > max_args) {
        *out_status =
            podvmctl_usage_error(command, _("unexpected argument '%s'"), (*argv)[max_args + 1]);
        return FALSE;
    }
    return TRUE;
}

gboolean
podvmctl_check_name_option(const char *command, const char *option, const char *name,
                           int *out_status)
{
    g_autoptr(GError) error = NULL;

    /* The spec's own check: it quotes what it cannot print, invalid UTF-8 included. */
    if (!podvm_name_is_valid(name, &error)) {
        *out_status = podvmctl_usage_error(command, "%s%s%s", option != NULL ? option : "",
                                           option != NULL ? ": " : "", error->message);
        return FALSE;
    }
    return TRUE;
}

gboolean
podvmctl_check_name(const char *command, const char *name, int *out_status)
{
    return podvmctl_check_name_option(command, NULL, name, out_status);
}

PodvmDBusManager *
podvmctl_get_manager(PodvmCtl *ctl, GError **error)
{
    g_autoptr(PodvmDBusManager) manager = NULL;
    g_autofree char *owner = NULL;

    if (ctl->manager != NULL)
        return ctl->manager;

    if (ctl->connection == NULL) {
        ctl->connection = g_bus_get_sync(ctl->bus_type, NULL, error);
        if (ctl->connection == NULL) {
            ctl->unreachable = TRUE;
            return NULL;
        }
        /* A lost bus is reported like any failure, not by SIGTERM. */
        g_dbus_connection_set_exit_on_close(ctl->connection, FALSE);
    }

    /* Without DO_NOT_AUTO_START the proxy asks the bus to activate podvmd. */
    manager =
        podvm_dbus_manager_proxy_new_sync(ctl->connection, G_DBUS_PROXY_FLAGS_NONE,
                                          PODVMCTL_BUS_NAME, PODVMCTL_MANAGER_PATH, NULL, error);
    if (manager == NULL) {
        ctl->unreachable = TRUE;
        return NULL;
    }

    owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(manager));
    if (owner == NULL) {
        ctl->unreachable = TRUE;
        g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
                    _("no process owns the name %s"), PODVMCTL_BUS_NAME);
        return NULL;
    }

    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(manager), PODVMCTL_TIMEOUT_DEFAULT);
    ctl->manager = g_steal_pointer(&manager);
    return ctl->manager;
}

PodvmDBusPod *
podvmctl_get_pod_at(PodvmCtl *ctl, const char *object_path, GError **error)
{
    PodvmDBusPod *pod;

    if (podvmctl_get_manager(ctl, error) == NULL)
        return NULL;

    pod = podvm_dbus_pod_proxy_new_sync(ctl->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                        PODVMCTL_BUS_NAME, object_path, NULL, error);
    if (pod != NULL)
        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_DEFAULT);
    return pod;
}

PodvmDBusPod *
podvmctl_get_pod(PodvmCtl *ctl, const char *name, GError **error)
{
    PodvmDBusManager *manager = podvmctl_get_manager(ctl, error);
    g_autofree char *path = NULL;

    if (manager == NULL)
        return NULL;
    if (!podvm_dbus_manager_call_get_pod_sync(manager, name, &path, NULL, error))
        return NULL;
    return podvmctl_get_pod_at(ctl, path, error);
}

int
podvmctl_pod_command(PodvmCtl *ctl, const char *command, const char *summary,
                     const GOptionEntry *entries, int argc, char **argv, int timeout_ms,
                     PodvmCtlPodCall call, gpointer user_data)
{
    int status = PODVMCTL_EXIT_OK;
    gboolean several;

    if (!podvmctl_parse_options(command, _("NAME…"), summary, entries, 1, -1, &argc, &argv,
                                &status))
        return status;
    /* Every name is checked before anything is done. */
    for (int i = 1; i < argc; i++) {
        if (!podvmctl_check_name(command, argv[i], &status))
            return status;
    }
    several = argc > 2;

    /* One pod after the other; a failure is named and the others still go. */
    for (int i = 1; i < argc; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmDBusPod) pod = podvmctl_get_pod(ctl, argv[i], &error);

        if (pod != NULL) {
            g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), timeout_ms);
            if (call(pod, user_data, &error))
                continue;
        }
        status = podvmctl_fail_about(ctl, several ? argv[i] : NULL, error);
        if (status == PODVMCTL_EXIT_UNREACHABLE)
            return status;
    }
    return status;
}

gboolean
podvmctl_error_is(const GError *error, const char *reason)
{
    g_autofree char *remote = NULL;

    if (error == NULL)
        return FALSE;
    remote = g_dbus_error_get_remote_error(error);
    return remote != NULL && g_str_has_prefix(remote, PODVMCTL_ERROR_PREFIX) &&
           g_str_equal(remote + strlen(PODVMCTL_ERROR_PREFIX), reason);
}

int
podvmctl_steal_fd(GVariant *handle, GUnixFDList *fds, const char *method, GError **error)
{
    gint32 index;

    if (handle == NULL || !g_variant_is_of_type(handle, G_VARIANT_TYPE_HANDLE) || fds == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("podvmd answered %s without a file descriptor"), method);
        return -1;
    }
    index = g_variant_get_handle(handle);
    if (index < 0 || index >= g_unix_fd_list_get_length(fds)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("podvmd answered %s with a file descriptor it did not send"), method);
        return -1;
    }
    return g_unix_fd_list_get(fds, index, error);
}

JsonNode *
podvmctl_parse_json(const char *text, gssize length, const char *what, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    JsonNode *root;

    if (length < 0)
        length = strlen(text);
    /* Files are bounded when read and answers by D-Bus: only the depth is limited here. */
    root = podvm_json_parse_limited(text, length, G_MAXSIZE, PODVM_JSON_MAX_DEPTH, &local_error);
    if (root == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s is not valid JSON: %s"), what,
                    local_error->message);
        return NULL;
    }
    return root;
}

void
podvmctl_print_json(JsonNode *node, gboolean pretty)
{
    g_autofree char *text = podvm_json_to_string(node, pretty);

    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static const struct {
    PodvmCtlOutput output;
    const char *name;
} output_names[] = {
    { PODVMCTL_OUTPUT_WIDE, "wide" },
    { PODVMCTL_OUTPUT_JSON, "json" },
    { PODVMCTL_OUTPUT_YAML, "yaml" },
    { PODVMCTL_OUTPUT_NAME, "name" },
};

gboolean
podvmctl_parse_output(const char *command, const char *value, const char *default_name,
                      guint accepted, PodvmCtlOutput *out_output, int *out_status)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    g_autofree char *expected = NULL;

    *out_output = PODVMCTL_OUTPUT_DEFAULT;
    if (value == NULL || g_str_equal(value, default_name))
        return TRUE;
    g_ptr_array_add(names, (gpointer)default_name);
    for (gsize i = 0; i < G_N_ELEMENTS(output_names); i++) {
        if ((accepted & output_names[i].output) == 0)
            continue;
        if (g_str_equal(value, output_names[i].name)) {
            *out_output = output_names[i].output;
            return TRUE;
        }
        g_ptr_array_add(names, (gpointer)output_names[i].name);
    }
    g_ptr_array_add(names, NULL);
    expected = g_strjoinv(", ", (char **)names->pdata);
    *out_status = podvmctl_usage_error(command, _("unknown output format '%s'; expected one of %s"),
                                       value, expected);
    return FALSE;
}

void
podvmctl_print_document(JsonNode *node, PodvmCtlOutput output)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    if (output != PODVMCTL_OUTPUT_YAML) {
        podvmctl_print_json(node, TRUE);
        return;
    }
    text = podvm_json_to_yaml(node, &error);
    if (text == NULL) {
        /* Only invalid UTF-8 in podvmd's answer gets here; say so, show the JSON. */
        g_printerr("podvmctl: %s\n", error->message);
        podvmctl_print_json(node, TRUE);
        return;
    }
    fputs(text, stdout);
    fflush(stdout);
}

JsonObject *
podvmctl_json_object(JsonObject *object, const char *member)
{
    JsonNode *node;

    if (object == NULL)
        return NULL;
    node = json_object_get_member(object, member);
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    return json_node_get_object(node);
}

char *
podvmctl_json_names_text(JsonObject *object, const char *member)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, member) : NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    JsonArray *array;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return g_strdup("-");
    array = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);

        if (JSON_NODE_HOLDS_VALUE(element) && json_node_get_value_type(element) == G_TYPE_STRING)
            g_ptr_array_add(names, (gpointer)json_node_get_string(element));
    }
    if (names->len == 0)
        return g_strdup("-");
    g_ptr_array_add(names, NULL);
    return g_strjoinv(",", (char **)names->pdata);
}

const char *
podvmctl_json_string(JsonObject *object, const char *member)
{
    JsonNode *node;

    if (object == NULL)
        return NULL;
    node = json_object_get_member(object, member);
    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

gint64
podvmctl_json_int(JsonObject *object, const char *member, gint64 fallback)
{
    JsonNode *node;

    if (object == NULL)
        return fallback;
    node = json_object_get_member(object, member);
    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
        return fallback;
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        return json_node_get_int(node);
    case G_TYPE_DOUBLE:
        return (gint64)json_node_get_double(node);
    default:
        return fallback;
    }
}

gboolean
podvmctl_write_all(int fd, const void *data, gsize length, GError **error)
{
    const char *p = data;

    while (length > 0) {
        ssize_t n = write(fd, p, length);

        if (n < 0) {
            int saved_errno = errno;

            if (saved_errno == EINTR)
                continue;
            if (saved_errno == EAGAIN) {
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
                    saved_errno = errno;
                } else {
                    continue;
                }
            }
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno), "%s",
                        g_strerror(saved_errno));
            return FALSE;
        }
        p += n;
        length -= n;
    }
    return TRUE;
}

char *
podvmctl_format_duration(GTimeSpan span)
{
    gint64 seconds = span / G_TIME_SPAN_SECOND;

    if (seconds < 0)
        seconds = 0;
    if (seconds < 60)
        return g_strdup_printf("%" G_GINT64_FORMAT "s", seconds);
    if (seconds < 3600)
        return g_strdup_printf("%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s", seconds / 60,
                               seconds % 60);
    if (seconds < 86400)
        return g_strdup_printf("%" G_GINT64_FORMAT "h%" G_GINT64_FORMAT "m", seconds / 3600,
                               (seconds % 3600) / 60);
    return g_strdup_printf("%" G_GINT64_FORMAT "d%" G_GINT64_FORMAT "h", seconds / 86400,
                           (seconds % 86400) / 3600);
}

void
podvmctl_print_table(const char *const *titles, gsize n_columns, GPtrArray *rows)
{
    g_autofree gsize *widths = g_new0(gsize, n_columns);

    for (gsize c = 0; c < n_columns; c++)
        widths[c] = (gsize)g_utf8_strlen(titles[c], -1);
    for (guint i = 0; i < rows->len; i++) {
        char **row = g_ptr_array_index(rows, i);
        for (gsize c = 0; c < n_columns; c++)
            widths[c] = MAX(widths[c], (gsize)g_utf8_strlen(row[c], -1));
    }
    for (guint i = 0; i <= rows->len; i++) {
        const char *const *cells =
            i == 0 ? titles : (const char *const *)g_ptr_array_index(rows, i - 1);

        for (gsize c = 0; c < n_columns; c++) {
            if (c + 1 < n_columns)
                printf("%-*s  ", (int)widths[c], cells[c]);
            else
                printf("%s\n", cells[c]);
        }
    }
    fflush(stdout);
}
