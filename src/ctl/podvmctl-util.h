/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>

#include "podvmctl.h"

G_BEGIN_DECLS

/* Prints "podvmctl: MESSAGE" on stderr and returns PODVMCTL_EXIT_FAILURE. */
int podvmctl_fail_message(const char *format, ...) G_GNUC_PRINTF(1, 2);

/*
 * Prints @error as one line on stderr (the daemon's message without the
 * D-Bus error name) and returns the exit status it calls for:
 * PODVMCTL_EXIT_UNREACHABLE when the bus or podvmd cannot be reached,
 * PODVMCTL_EXIT_FAILURE otherwise.
 */
int podvmctl_fail(PodvmCtl *ctl, const GError *error);
/* The same, the message after "@what: " when @what is not NULL (a pod's name). */
int podvmctl_fail_about(PodvmCtl *ctl, const char *what, const GError *error);

/*
 * Prints "podvmctl: MESSAGE" and a hint to `podvmctl COMMAND --help` on
 * stderr; returns PODVMCTL_EXIT_USAGE. @command may be NULL.
 */
int podvmctl_usage_error(const char *command, const char *format, ...) G_GNUC_PRINTF(2, 3);

/*
 * Parses a subcommand's options with GOptionContext (--help prints the
 * help and exits). On success returns TRUE and leaves the positional
 * arguments in *@argc / *@argv (argv[0] is the command). Otherwise prints
 * the problem and returns FALSE with *@out_status = PODVMCTL_EXIT_USAGE.
 * Then checks that there are between @min_args and @max_args positional
 * arguments (@max_args -1: no limit).
 */
gboolean podvmctl_parse_options(const char *command, const char *parameter_string,
                                const char *summary, const GOptionEntry *entries, int min_args,
                                int max_args, int *argc, char ***argv, int *out_status);

/*
 * Checks a pod, disk or volume name given on the command line as the spec
 * does (podvm_name_is_valid); a usage error otherwise.
 */
gboolean podvmctl_check_name(const char *command, const char *name, int *out_status);
/* The same for a name given with @option ("--name"), which then prefixes the message. */
gboolean podvmctl_check_name_option(const char *command, const char *option, const char *name,
                                    int *out_status);

/* The manager proxy; connects on first use and checks podvmd is on the bus. */
PodvmDBusManager *podvmctl_get_manager(PodvmCtl *ctl, GError **error);

/* A proxy for the pod called @name (Manager.GetPod), properties loaded. */
PodvmDBusPod *podvmctl_get_pod(PodvmCtl *ctl, const char *name, GError **error);
/* A proxy for the pod at @object_path, properties loaded. */
PodvmDBusPod *podvmctl_get_pod_at(PodvmCtl *ctl, const char *object_path, GError **error);

/* Calls one lifecycle method on @pod; returns FALSE with @error set on failure. */
typedef gboolean (*PodvmCtlPodCall)(PodvmDBusPod *pod, gpointer user_data, GError **error);

/*
 * The shape of every `podvmctl VERB NAME… [OPTIONS]` command: parses the
 * options, checks every name, then for each pod in turn looks it up, sets
 * the D-Bus timeout (ms), makes the call and turns a failure into its
 * message (after "NAME: " when several names were given) and goes on with
 * the next. Returns PODVMCTL_EXIT_FAILURE if any failed (at once
 * PODVMCTL_EXIT_UNREACHABLE when podvmd cannot be reached). Prints nothing
 * on success.
 */
int podvmctl_pod_command(PodvmCtl *ctl, const char *command, const char *summary,
                         const GOptionEntry *entries, int argc, char **argv, int timeout_ms,
                         PodvmCtlPodCall call, gpointer user_data);

/* Whether @error is the daemon's io.podvm.PodVM1.Error.@reason. */
gboolean podvmctl_error_is(const GError *error, const char *reason);

/*
 * The fd that the "h" @handle of a @method reply refers to in @fds (a new
 * fd the caller owns), or -1 with @error set.
 */
int podvmctl_steal_fd(GVariant *handle, GUnixFDList *fds, const char *method, GError **error);

/* Parses JSON text; @what names it in the error ("the spec", "the reply"). */
JsonNode *podvmctl_parse_json(const char *text, gssize length, const char *what, GError **error);

/* Writes @node to stdout followed by a newline (pretty: indented). */
void podvmctl_print_json(JsonNode *node, gboolean pretty);

/* What -o FORMAT asks for; a command accepts a set of them (flags). */
typedef enum {
    PODVMCTL_OUTPUT_DEFAULT = 1 << 0, /* the table (or the text) people read */
    PODVMCTL_OUTPUT_WIDE = 1 << 1,    /* the table with more columns */
    PODVMCTL_OUTPUT_JSON = 1 << 2,
    PODVMCTL_OUTPUT_YAML = 1 << 3,
    PODVMCTL_OUTPUT_NAME = 1 << 4, /* one name a line */
} PodvmCtlOutput;

/*
 * Parses the -o value @value (NULL: PODVMCTL_OUTPUT_DEFAULT) of @command
 * among the @accepted formats; @default_name names the default format
 * ("table", "text"), which is accepted too. A usage error listing the
 * accepted formats otherwise.
 */
gboolean podvmctl_parse_output(const char *command, const char *value, const char *default_name,
                               guint accepted, PodvmCtlOutput *out_output, int *out_status);
/* Writes @node to stdout as indented JSON or (PODVMCTL_OUTPUT_YAML) as YAML. */
void podvmctl_print_document(JsonNode *node, PodvmCtlOutput output);

/* Member lookups that tolerate missing members and wrong types. */
JsonObject *podvmctl_json_object(JsonObject *object, const char *member);
const char *podvmctl_json_string(JsonObject *object, const char *member);
/* The strings of the array @member of @object joined with ',' ("pod-a,pod-b"), or "-". */
char *podvmctl_json_names_text(JsonObject *object, const char *member);
gint64 podvmctl_json_int(JsonObject *object, const char *member, gint64 fallback);

/* Writes all of @data to @fd (retrying on EINTR, waiting on EAGAIN). */
gboolean podvmctl_write_all(int fd, const void *data, gsize length, GError **error);

/* Short durations for humans: "45s", "12m3s", "5h2m", "3d4h". */
char *podvmctl_format_duration(GTimeSpan span);
/*
 * Prints @titles and @rows (each a char** of @n_columns strings) as a
 * table: columns padded to their widest cell, two spaces apart.
 */
void podvmctl_print_table(const char *const *titles, gsize n_columns, GPtrArray *rows);

G_END_DECLS
