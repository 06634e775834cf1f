/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What podvmctl prints for people and scripts, against a real podvmd on a
 * private bus (pods created, not started: no QEMU): list's table, -o wide,
 * -o yaml (read back, the same tree as -o json), show's apiVersion and
 * kind, sizes in binary units, version (client and server), delete of
 * several names, and the shell completions (bash without the
 * bash-completion package, zsh, fish) offering commands and the live
 * daemon's pod names.
 */
#include "podvm-build-config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"
#include "podvm-yaml.h"

typedef struct {
    PodvmTestDaemon *daemon;
} Fixture;

/* podvm_test_ctl() into *@out and *@err, freeing what they held. */
#define ctl(f, out, err, ...)                                   \
    ({                                                          \
        g_clear_pointer((out), g_free);                         \
        g_clear_pointer((err), g_free);                         \
        podvm_test_ctl((f)->daemon, (out), (err), __VA_ARGS__); \
    })

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new();
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
}

/* Creates pod @name with podvmctl create -f; @memory and @labels (JSON object text) may be NULL. */
static void
create_pod(Fixture *f, const char *name, const char *memory, const char *labels)
{
    g_autofree char *text = podvm_test_guest_spec(name, NULL, NULL, 2);
    g_autoptr(JsonNode) root = json_from_string(text, NULL);
    JsonObject *spec = json_node_get_object(root);
    g_autofree char *path = g_strdup_printf("%s/%s.json", f->daemon->tmpdir, name);
    g_autofree char *json = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;

    if (memory != NULL) {
        JsonObject *domain =
            json_object_get_object_member(json_object_get_object_member(spec, "spec"), "domain");

        json_object_set_string_member(
            json_object_get_object_member(json_object_get_object_member(domain, "resources"),
                                          "requests"),
            "memory", memory);
    }
    if (labels != NULL)
        json_object_set_member(json_object_get_object_member(spec, "metadata"), "labels",
                               json_from_string(labels, NULL));
    json = json_to_string(root, FALSE);
    g_file_set_contents(path, json, -1, &error);
    g_assert_no_error(error);
    if (ctl(f, &out, &err, "create", "-f", path, NULL) != 0)
        g_error("podvmctl create %s failed: %s", name, err);
}

/* The lines of @text without the empty one after the last newline. */
static char **
lines_of(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint n = g_strv_length(lines);

    g_assert_cmpuint(n, >, 0);
    g_assert_cmpstr(lines[n - 1], ==, "");
    g_clear_pointer(&lines[n - 1], g_free);
    return g_steal_pointer(&lines);
}

/* The line of @lines that starts with "@name ", or NULL. */
static const char *
row_of(char **lines, const char *name)
{
    g_autofree char *prefix = g_strconcat(name, " ", NULL);

    for (guint i = 0; lines[i] != NULL; i++) {
        if (g_str_has_prefix(lines[i], prefix))
            return lines[i];
    }
    return NULL;
}

/* Asserts that the YAML @yaml reads as the same tree as the JSON @json. */
static void
assert_yaml_equals_json(const char *yaml, const char *json)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) from_yaml = podvm_yaml_to_json(yaml, -1, &error);
    g_autoptr(JsonNode) from_json = NULL;

    g_assert_no_error(error);
    from_json = json_from_string(json, &error);
    g_assert_no_error(error);
    if (!json_node_equal(from_yaml, from_json))
        g_error("-o yaml and -o json differ:\n%s\n%s", yaml, json);
}

/* ---- list, show ---------------------------------------------------------- */

static void
test_list(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL;
    g_autofree char *json = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) lines = NULL;
    const char *row;

    if (f->daemon == NULL)
        return;
    create_pod(f, "alpha", "1000000Ki", "{\"app\": \"web\", \"tier\": \"front\"}");
    create_pod(f, "beta", NULL, NULL);

    /* The table people read: as before, memory in binary units. */
    g_assert_cmpint(ctl(f, &out, &err, "list", NULL), ==, 0);
    lines = lines_of(out);
    g_assert_cmpuint(g_strv_length(lines), ==, 3);
    g_assert_true(
        g_regex_match_simple("^NAME +PHASE +UPTIME +PID +MEMORY +CPUS +IP$", lines[0], 0, 0));
    row = row_of(lines, "alpha");
    g_assert_nonnull(row);
    g_assert_true(g_regex_match_simple("^alpha +Pending +- +- +976Mi +1 +-$", row, 0, 0));
    g_assert_true(
        g_regex_match_simple("^beta +Pending +- +- +128Mi +1 +-$", row_of(lines, "beta"), 0, 0));
    g_clear_pointer(&lines, g_strfreev);
    g_clear_pointer(&out, g_free);

    /* -o wide: the same columns and READY, RESTARTS, ACCEL, NODE, LABELS. */
    g_assert_cmpint(ctl(f, &out, &err, "list", "-o", "wide", NULL), ==, 0);
    lines = lines_of(out);
    g_assert_true(g_regex_match_simple("^NAME +PHASE +UPTIME +PID +MEMORY +CPUS +IP +READY +"
                                       "RESTARTS +ACCEL +NODE +LABELS$",
                                       lines[0], 0, 0));
    row = row_of(lines, "alpha");
    g_assert_nonnull(row);
    g_assert_true(g_regex_match_simple("^alpha +Pending +- +- +976Mi +1 +- +False +0 +\\S+ +\\S+ +"
                                       "app=web,tier=front$",
                                       row, 0, 0));
    g_assert_nonnull(strstr(row, g_get_host_name()));
    g_assert_true(g_str_has_suffix(row_of(lines, "beta"), " -"));
    g_clear_pointer(&lines, g_strfreev);
    g_clear_pointer(&out, g_free);

    /* -o yaml: the same documents as -o json. */
    g_assert_cmpint(ctl(f, &json, &err, "list", "-o", "json", NULL), ==, 0);
    g_assert_cmpint(ctl(f, &out, &err, "list", "-o", "yaml", NULL), ==, 0);
    g_assert_true(g_str_has_prefix(out, "- apiVersion: podvm.io/v1\n  kind: Pod\n"));
    assert_yaml_equals_json(out, json);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* Unknown formats are usage errors that say which ones there are. */
    g_assert_cmpint(ctl(f, &out, &err, "list", "-o", "xml", NULL), ==, 2);
    g_assert_nonnull(strstr(err, "unknown output format 'xml'; expected one of table, wide, "
                                 "json, yaml, name"));
}

static void
test_show(Fixture *f, gconstpointer data)
{
    g_autofree char *yaml = NULL;
    g_autofree char *json = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    JsonObject *doc;

    if (f->daemon == NULL)
        return;
    create_pod(f, "alpha", NULL, "{\"on\": \"yes\"}");

    /* As kubectl get -o yaml: apiVersion and kind first. */
    g_assert_cmpint(ctl(f, &yaml, &err, "show", "alpha", "-o", "yaml", NULL), ==, 0);
    g_assert_true(g_str_has_prefix(yaml, "apiVersion: podvm.io/v1\n"
                                         "kind: Pod\n"
                                         "metadata:\n"
                                         "  name: alpha\n"));
    /* A label value YAML 1.1 would read as a boolean stays a string. */
    g_assert_nonnull(strstr(yaml, "\n    \"on\": \"yes\"\n"));
    g_assert_nonnull(strstr(yaml, "\nstatus:\n  phase: Pending\n"));

    g_assert_cmpint(ctl(f, &json, &err, "show", "alpha", NULL), ==, 0);
    assert_yaml_equals_json(yaml, json);
    root = json_from_string(json, &error);
    g_assert_no_error(error);
    doc = json_node_get_object(root);
    g_assert_cmpstr(json_object_get_string_member(doc, "apiVersion"), ==, "podvm.io/v1");
    g_assert_cmpstr(json_object_get_string_member(doc, "kind"), ==, "Pod");
    g_assert_true(json_object_has_member(doc, "metadata"));
    g_assert_true(json_object_has_member(doc, "spec"));
    g_assert_true(json_object_has_member(doc, "status"));
}

typedef struct {
    GString *seen; /* podvmctl events' output so far */
    gboolean eof;
} EventLines;

/* Collects podvmctl events' lines, reading on until the end. */
static void
event_line_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    EventLines *lines = user_data;
    g_autofree char *line =
        g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), result, NULL, NULL);

    if (line == NULL) {
        lines->eof = TRUE;
        return;
    }
    g_string_append_printf(lines->seen, "%s\n", line);
    g_data_input_stream_read_line_async(G_DATA_INPUT_STREAM(source), G_PRIORITY_DEFAULT, NULL,
                                        event_line_cb, lines);
}

/* -o yaml of events (a document each after "---") and of volume list and show; volume list -o wide.
 */
static void
test_events_volumes(Fixture *f, gconstpointer data)
{
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) events = NULL;
    g_autoptr(GDataInputStream) stream = NULL;
    g_autoptr(GString) seen = g_string_new(NULL);
    EventLines lines = { .seen = seen };
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *json = NULL;
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    g_auto(GStrv) rows = NULL;
    gint64 deadline;

    if (f->daemon == NULL)
        return;

    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_subprocess_launcher_setenv(launcher, "DBUS_SESSION_BUS_ADDRESS",
                                 g_test_dbus_get_bus_address(f->daemon->bus), TRUE);
    events = g_subprocess_launcher_spawn(launcher, &error, g_getenv("PODVMCTL"), "--session",
                                         "events", "-o", "yaml", NULL);
    g_assert_no_error(error);
    stream = g_data_input_stream_new(g_subprocess_get_stdout_pipe(events));
    g_data_input_stream_read_line_async(stream, G_PRIORITY_DEFAULT, NULL, event_line_cb, &lines);
    /* podvmctl subscribes once it reached podvmd: create pods until one is seen. */
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (guint i = 0; strstr(seen->str, "type: Created\n") == NULL; i++) {
        g_autofree char *name = g_strdup_printf("ev%u", i);
        gint64 next = g_get_monotonic_time() + G_USEC_PER_SEC / 2;

        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        create_pod(f, name, NULL, NULL);
        while (g_get_monotonic_time() < next && strstr(seen->str, "type: Created\n") == NULL) {
            if (!g_main_context_iteration(NULL, FALSE))
                g_usleep(10 * 1000);
        }
    }
    g_assert_true(g_str_has_prefix(seen->str, "---\n"));
    g_assert_true(g_regex_match_simple("^pod: ev\\d+$", seen->str, G_REGEX_MULTILINE, 0));
    g_subprocess_send_signal(events, SIGTERM);
    g_subprocess_wait(events, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_subprocess_get_exit_status(events), ==, 0);
    /* The pending read ends with the pipe: no callback after @lines is gone. */
    while (!lines.eof)
        g_main_context_iteration(NULL, TRUE);

    if (qemu_img == NULL) {
        g_test_message("no qemu-img: the volume checks are left out");
        return;
    }
    g_assert_cmpint(ctl(f, &out, &err, "volume", "create", "vol1", "--size", "1000000Ki", NULL), ==,
                    0);
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(ctl(f, &out, &err, "volume", "list", NULL), ==, 0);
    rows = lines_of(out);
    g_assert_true(g_regex_match_simple("^NAME +SIZE +PHASE +USED-BY$", rows[0], 0, 0));
    g_assert_true(g_regex_match_simple("^vol1 +976Mi +\\S+ +-$", rows[1], 0, 0));
    g_clear_pointer(&rows, g_strfreev);
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(ctl(f, &out, &err, "volume", "list", "-o", "wide", NULL), ==, 0);
    rows = lines_of(out);
    g_assert_true(
        g_regex_match_simple("^NAME +SIZE +PHASE +USED-BY +FORMAT +AGE +SOURCE$", rows[0], 0, 0));
    g_assert_true(g_regex_match_simple("^vol1 +976Mi +\\S+ +- +raw +\\d+s +\\S+$", rows[1], 0, 0));
    g_clear_pointer(&out, g_free);

    g_assert_cmpint(ctl(f, &json, &err, "volume", "list", "-o", "json", NULL), ==, 0);
    g_assert_cmpint(ctl(f, &out, &err, "volume", "list", "-o", "yaml", NULL), ==, 0);
    g_assert_true(g_str_has_prefix(out, "- name: vol1\n"));
    assert_yaml_equals_json(out, json);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&json, g_free);
    g_assert_cmpint(ctl(f, &json, &err, "volume", "show", "vol1", "-o", "json", NULL), ==, 0);
    g_assert_cmpint(ctl(f, &out, &err, "volume", "show", "vol1", "-o", "yaml", NULL), ==, 0);
    assert_yaml_equals_json(out, json);
}

/* ---- version --------------------------------------------------------------- */

static void
test_version(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *expected = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    JsonObject *doc;

    if (f->daemon == NULL)
        return;
    g_assert_cmpint(ctl(f, &out, &err, "version", NULL), ==, 0);
    expected =
        g_strdup_printf("Client Version: %s\nServer Version: %s\n", PODVM_VERSION, PODVM_VERSION);
    g_assert_cmpstr(out, ==, expected);
    g_clear_pointer(&out, g_free);

    g_assert_cmpint(ctl(f, &out, &err, "version", "-o", "json", NULL), ==, 0);
    root = json_from_string(out, &error);
    g_assert_no_error(error);
    doc = json_node_get_object(root);
    g_assert_cmpstr(json_object_get_string_member(
                        json_object_get_object_member(doc, "clientVersion"), "version"),
                    ==, PODVM_VERSION);
    g_assert_cmpstr(json_object_get_string_member(
                        json_object_get_object_member(doc, "serverVersion"), "version"),
                    ==, PODVM_VERSION);
    g_clear_pointer(&out, g_free);

    g_assert_cmpint(ctl(f, &out, &err, "version", "-o", "yaml", NULL), ==, 0);
    g_assert_true(g_str_has_prefix(out, "clientVersion:\n  version: "));
    g_assert_nonnull(strstr(out, "\nserverVersion:\n  version: "));
    g_clear_pointer(&out, g_free);

    /* Once podvmd is gone: --client still answers, without it the server is unreachable. */
    podvm_test_daemon_stop(f->daemon);
    g_clear_pointer(&expected, g_free);
    expected = g_strdup_printf("Client Version: %s\n", PODVM_VERSION);
    g_assert_cmpint(ctl(f, &out, &err, "version", "--client", NULL), ==, 0);
    g_assert_cmpstr(out, ==, expected);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(ctl(f, &out, &err, "version", NULL), ==, 3);
    g_assert_nonnull(strstr(err, "cannot reach podvmd"));
}

/* ---- delete A B C ------------------------------------------------------------ */

static void
test_delete_several(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    if (f->daemon == NULL)
        return;
    create_pod(f, "c1", NULL, NULL);
    create_pod(f, "c2", NULL, NULL);
    create_pod(f, "c3", NULL, NULL);

    /* A missing one fails and is named; the others are deleted all the same. */
    g_assert_cmpint(ctl(f, &out, &err, "delete", "c1", "nope", "c3", NULL), ==, 1);
    g_assert_true(g_str_has_prefix(err, "podvmctl: nope: "));
    g_assert_null(strchr(err, '\n') != NULL ? strchr(strchr(err, '\n') + 1, '\n') : NULL);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(ctl(f, &out, &err, "list", "-o", "name", NULL), ==, 0);
    g_assert_cmpstr(out, ==, "c2\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* A bad name is a usage error before anything is done. */
    g_assert_cmpint(ctl(f, &out, &err, "delete", "c2", "Bad_Name", NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(ctl(f, &out, &err, "list", "-o", "name", NULL), ==, 0);
    g_assert_cmpstr(out, ==, "c2\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* One name: the message as before, without the name in front. */
    g_assert_cmpint(ctl(f, &out, &err, "delete", "nope", NULL), ==, 1);
    g_assert_false(g_str_has_prefix(err, "podvmctl: nope: "));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(ctl(f, &out, &err, "delete", "c2", NULL), ==, 0);
    g_assert_cmpstr(out, ==, "");
}

/* ---- shell completion ------------------------------------------------------- */

/* The source tree's data/completions. */
static char *
completions_dir(void)
{
    return g_test_build_filename(G_TEST_DIST, "..", "data", "completions", NULL);
}

/*
 * Runs @argv with podvmctl (the one built) first on PATH and the test's
 * bus as the session bus; returns its stdout (asserts it exits 0).
 */
static char *
run_shell(Fixture *f, const char *const *argv)
{
    g_autofree char *bin = g_build_filename(f->daemon->tmpdir, "bin", NULL);
    g_autofree char *link = g_build_filename(bin, "podvmctl", NULL);
    g_autofree char *path = NULL;
    g_auto(GStrv) envp = g_get_environ();
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    if (!g_file_test(link, G_FILE_TEST_EXISTS)) {
        g_assert_cmpint(g_mkdir_with_parents(bin, 0755), ==, 0);
        g_assert_cmpint(symlink(g_getenv("PODVMCTL"), link), ==, 0);
    }
    path = g_strdup_printf("%s:%s", bin, g_getenv("PATH"));
    envp = g_environ_setenv(envp, "PATH", path, TRUE);
    envp = g_environ_setenv(envp, "DBUS_SESSION_BUS_ADDRESS",
                            g_test_dbus_get_bus_address(f->daemon->bus), TRUE);
    envp = g_environ_unsetenv(envp, "PODVM_BUS");
    g_spawn_sync(f->daemon->tmpdir, (char **)argv, envp, G_SPAWN_SEARCH_PATH_FROM_ENVP, NULL, NULL,
                 &out, &err, &status, &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, &error))
        g_error("%s failed: %s\n%s", argv[0], error->message, err);
    return g_steal_pointer(&out);
}

/* Asserts that @got (one match a line, any order) holds exactly the words of @expected. */
static void
assert_matches(const char *shell, const char *line, const char *got, const char *expected)
{
    g_auto(GStrv) words = g_strsplit(got, "\n", -1);
    g_auto(GStrv) want = g_strsplit(expected, " ", -1);
    g_autoptr(GPtrArray) matches = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; words[i] != NULL; i++) {
        /* fish adds "\tDESCRIPTION". */
        char *tab = strchr(words[i], '\t');

        if (tab != NULL)
            *tab = '\0';
        if (*words[i] != '\0')
            g_ptr_array_add(matches, g_strdup(words[i]));
    }
    for (guint i = 0; want[i] != NULL; i++) {
        if (!g_ptr_array_find_with_equal_func(matches, want[i], g_str_equal, NULL))
            g_error("%s: '%s' does not offer '%s'; it offers:\n%s", shell, line, want[i], got);
    }
    if (matches->len != g_strv_length(want))
        g_error("%s: '%s' offers more than '%s':\n%s", shell, line, expected, got);
}

typedef char *(*CompleteFunc)(Fixture *f, const char *line);

/* The checks every shell passes: commands, formats, and pod names from the live podvmd. */
static void
check_completion(Fixture *f, const char *shell, CompleteFunc complete)
{
    static const struct {
        const char *line;
        const char *expected;
    } cases[] = {
        { "podvmctl st", "start status stop" },
        { "podvmctl ver", "version" },
        { "podvmctl --session show ", "alpha beta" },
        { "podvmctl --session delete ", "alpha beta" },
        { "podvmctl --session delete alpha ", "beta" },
        { "podvmctl --session stop beta ", "alpha" },
        { "podvmctl --session list -o ", "table wide json yaml name" },
        { "podvmctl show alpha -o ", "json yaml" },
        { "podvmctl help vers", "version" },
        { "podvmctl --session logs ", "alpha beta" },
    };

    g_autofree char *listed = NULL;
    g_autofree char *got = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) every = g_string_new("help");
    const char *const list_argv[] = { "podvmctl", "--list-commands", NULL };

    create_pod(f, "alpha", NULL, NULL);
    create_pod(f, "beta", NULL, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *matches = complete(f, cases[i].line);

        assert_matches(shell, cases[i].line, matches, cases[i].expected);
    }

    /* Every command of podvmctl's table, as it lists them: none is forgotten. */
    listed = run_shell(f, list_argv);
    lines = lines_of(listed);
    g_assert_cmpuint(g_strv_length(lines), >, 20);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) fields = g_strsplit(lines[i], "\t", 2);

        g_assert_nonnull(fields[1]);
        g_string_append_printf(every, " %s", fields[0]);
    }
    got = complete(f, "podvmctl ");
    assert_matches(shell, "podvmctl ", got, every->str);
}

/* bash, started without rc files: no bash-completion package, the script's own fallback. */
static char *
bash_complete(Fixture *f, const char *line)
{
    g_autofree char *dir = completions_dir();
    g_autofree char *script = g_build_filename(dir, "podvmctl", NULL);
    const char *const argv[] = {
        "bash",
        "--norc",
        "--noprofile",
        "-c",
        "source \"$1\" || exit 1\n"
        "if declare -F _init_completion >/dev/null; then echo 'bash-completion is loaded' >&2; "
        "exit 1; fi\n"
        "read -r -a COMP_WORDS <<<\"$2\"\n"
        "[[ $2 == *' ' ]] && COMP_WORDS+=('')\n"
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$2 COMP_POINT=${#2}\n"
        "_podvmctl podvmctl \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD - 1]}\"\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"",
        "bash",
        script,
        line,
        NULL,
    };

    return run_shell(f, argv);
}

static void
test_completion_bash(Fixture *f, gconstpointer data)
{
    if (f->daemon == NULL)
        return;
    check_completion(f, "bash", bash_complete);
}

static char *
zsh_complete(Fixture *f, const char *line)
{
    g_autofree char *dir = completions_dir();
    g_autofree char *driver =
        g_test_build_filename(G_TEST_DIST, "completion", "complete.zsh", NULL);
    const char *const argv[] = { "zsh", "-f", driver, dir, line, NULL };

    return run_shell(f, argv);
}

static void
test_completion_zsh(Fixture *f, gconstpointer data)
{
    g_autofree char *zsh = g_find_program_in_path("zsh");

    if (zsh == NULL) {
        g_test_skip("zsh is not installed (apt-get install zsh)");
        return;
    }
    if (f->daemon == NULL)
        return;
    check_completion(f, "zsh", zsh_complete);
}

static char *
fish_complete(Fixture *f, const char *line)
{
    g_autofree char *dir = completions_dir();
    g_autofree char *script = g_build_filename(dir, "podvmctl.fish", NULL);
    g_autofree char *quoted_script = g_shell_quote(script);
    g_autofree char *quoted_line = g_shell_quote(line);
    g_autofree char *fish_command =
        g_strdup_printf("source %s; and complete -C %s", quoted_script, quoted_line);
    const char *const argv[] = { "fish", "--no-config", "-c", fish_command, NULL };

    return run_shell(f, argv);
}

static void
test_completion_fish(Fixture *f, gconstpointer data)
{
    g_autofree char *fish = g_find_program_in_path("fish");

    if (fish == NULL) {
        g_test_skip("fish is not installed (apt-get install fish)");
        return;
    }
    if (f->daemon == NULL)
        return;
    check_completion(f, "fish", fish_complete);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add("/podvm/ctl/output/list", Fixture, NULL, fixture_setup, test_list, fixture_teardown);
    g_test_add("/podvm/ctl/output/show", Fixture, NULL, fixture_setup, test_show, fixture_teardown);
    g_test_add("/podvm/ctl/output/events-volumes", Fixture, NULL, fixture_setup,
               test_events_volumes, fixture_teardown);
    g_test_add("/podvm/ctl/version", Fixture, NULL, fixture_setup, test_version, fixture_teardown);
    g_test_add("/podvm/ctl/delete/several", Fixture, NULL, fixture_setup, test_delete_several,
               fixture_teardown);
    g_test_add("/podvm/ctl/completion/bash", Fixture, NULL, fixture_setup, test_completion_bash,
               fixture_teardown);
    g_test_add("/podvm/ctl/completion/zsh", Fixture, NULL, fixture_setup, test_completion_zsh,
               fixture_teardown);
    g_test_add("/podvm/ctl/completion/fish", Fixture, NULL, fixture_setup, test_completion_fish,
               fixture_teardown);
    return g_test_run();
}
