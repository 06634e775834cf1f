/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl run IMAGE [--name N] [--port [HOSTPORT:]PORT[/tcp|udp]]... [--memory Q]
 *              [--cpus N] [--debug] [--detach] [-- ARGS...]
 * podvmctl run -f FILE [--debug]
 *
 * IMAGE is docker://[REGISTRY/]REPO[:TAG][@DIGEST], the same without
 * docker://, or oci:DIR[:TAG]. As rkt run does: builds an app pod (kind
 * Pod, one app named after the repository's last component, the default
 * pod network with a masquerade interface and the ports), creates it,
 * starts it (on a terminal the image pull's progress shows on stderr),
 * attaches the console, and when the pod ends prints a last line naming
 * its phase and exits with the app's exit code. Leaving the console
 * (Ctrl-a x) leaves the pod running; --detach (as docker run -d) returns
 * once the pod runs, without the console. With -f the pod is the file's.
 */
#include "podvm-build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n.h>

#include "podvm-image-ref.h"
#include "podvm-json.h"
#include "podvm-quantity.h"
#include "podvm-spec.h"
#include "podvmctl-util.h"

#define NAME_MAX_LENGTH 63
/* How long a pod may take from its console closing to its final phase. */
#define END_WAIT_SECONDS 120

/* ------------------------------------------------------------------------ */
/* The pod's spec */

/* The repository part of an image reference: no scheme, digest, tag or registry. */
static char *
image_repository_name(const char *image)
{
    g_autoptr(PodvmImageRef) ref = NULL;
    const char *slash;
    char *at;

    if (g_str_has_prefix(image, "oci:")) {
        /* oci:DIR[:TAG] or oci:DIR@sha256:HEX: the directory's name. */
        g_autofree char *dir = g_strdup(image + strlen("oci:"));
        char *tag;

        at = strchr(dir, '@');
        if (at != NULL)
            *at = '\0';
        slash = strrchr(dir, '/');
        tag = strchr(slash != NULL ? slash : dir, ':');
        if (tag != NULL)
            *tag = '\0';
        while (g_str_has_suffix(dir, "/") && strlen(dir) > 1)
            dir[strlen(dir) - 1] = '\0';
        return g_path_get_basename(dir);
    }
    /* A registry reference: the last component of its repository ("library/redis": redis). */
    ref = podvm_image_ref_parse(image, NULL);
    if (ref == NULL)
        return g_strdup(""); /* the spec's check says what is wrong with it */
    slash = strrchr(ref->repository, '/');
    return g_strdup(slash != NULL ? slash + 1 : ref->repository);
}

/*
 * A valid name (a DNS-1123 label) from a repository's name: lowercase,
 * every other character '-', no '-' at the ends, at most 63 characters;
 * "app" when nothing is left.
 */
static char *
podvmctl_run_app_name(const char *image)
{
    g_autofree char *repository = image_repository_name(image);
    GString *name = g_string_new(NULL);

    for (const char *c = repository; *c != '\0' && name->len < NAME_MAX_LENGTH; c++) {
        char lower = g_ascii_tolower(*c);

        if (g_ascii_isalnum(lower))
            g_string_append_c(name, lower);
        else if (name->len > 0 && name->str[name->len - 1] != '-')
            g_string_append_c(name, '-');
    }
    while (name->len > 0 && name->str[name->len - 1] == '-')
        g_string_truncate(name, name->len - 1);
    if (name->len == 0)
        g_string_append(name, "app");
    return g_string_free(name, FALSE);
}

/* The image as podvmd reads it: an oci: directory made absolute (podvmd's directory is not ours).
 */
static char *
image_for_daemon(const char *image)
{
    const char *dir = image + strlen("oci:");
    gsize dir_length;

    if (!g_str_has_prefix(image, "oci:") || g_path_is_absolute(dir))
        return g_strdup(image);
    /* The directory ends at the tag or digest, which follow the last '/'. */
    dir_length = strcspn(dir, "@");
    {
        const char *slash = g_strrstr_len(dir, dir_length, "/");
        const char *colon = strchr(slash != NULL ? slash : dir, ':');

        if (colon != NULL && (gsize)(colon - dir) < dir_length)
            dir_length = colon - dir;
    }
    {
        g_autofree char *relative = g_strndup(dir, dir_length);
        g_autofree char *absolute = g_canonicalize_filename(relative, NULL);

        return g_strconcat("oci:", absolute, dir + dir_length, NULL);
    }
}

static gboolean
parse_port_number(const char *text, gint64 *out_port)
{
    guint64 value;

    if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &value, NULL))
        return FALSE;
    *out_port = (gint64)value;
    return TRUE;
}

/* [HOSTPORT:]PORT[/tcp|udp] as a ports[] entry. */
static gboolean
add_port(JsonBuilder *builder, const char *text, int *out_status)
{
    g_auto(GStrv) protocol_split = g_strsplit(text, "/", 2);
    g_auto(GStrv) ports = NULL;
    const char *protocol = "TCP";
    gint64 port = 0;
    gint64 host_port = 0;

    if (protocol_split[1] != NULL) {
        if (g_ascii_strcasecmp(protocol_split[1], "tcp") == 0)
            protocol = "TCP";
        else if (g_ascii_strcasecmp(protocol_split[1], "udp") == 0)
            protocol = "UDP";
        else
            goto bad;
    }
    ports = g_strsplit(protocol_split[0], ":", 3);
    if (ports[1] == NULL) {
        if (!parse_port_number(ports[0], &port))
            goto bad;
    } else if (ports[2] == NULL) {
        if (!parse_port_number(ports[0], &host_port) || !parse_port_number(ports[1], &port))
            goto bad;
    } else {
        goto bad;
    }
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "protocol");
    json_builder_add_string_value(builder, protocol);
    json_builder_set_member_name(builder, "port");
    json_builder_add_int_value(builder, port);
    if (host_port > 0) {
        json_builder_set_member_name(builder, "hostPort");
        json_builder_add_int_value(builder, host_port);
    }
    json_builder_end_object(builder);
    return TRUE;

bad:
    *out_status = podvmctl_usage_error(
        "run", _("--port '%s': expected [HOSTPORT:]PORT[/tcp|udp], ports 1 to 65535"), text);
    return FALSE;
}

typedef struct {
    const char *image;
    const char *name;
    const char *app;
    char **ports;
    const char *memory;
    const char *cpus;
    char **args;
} RunSpec;

/* The pod's JSON for podvmd, or NULL after a usage error. */
static char *
podvmctl_run_build_spec(const RunSpec *run, int *out_status)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *image = image_for_daemon(run->image);

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "apiVersion");
    json_builder_add_string_value(builder, "podvm.io/v1");
    json_builder_set_member_name(builder, "kind");
    json_builder_add_string_value(builder, "Pod");
    json_builder_set_member_name(builder, "metadata");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, run->name);
    json_builder_end_object(builder);

    json_builder_set_member_name(builder, "spec");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "domain");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "devices");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "interfaces");
    json_builder_begin_array(builder);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, "default");
    json_builder_set_member_name(builder, "masquerade");
    json_builder_begin_object(builder);
    json_builder_end_object(builder);
    if (run->ports != NULL && run->ports[0] != NULL) {
        json_builder_set_member_name(builder, "ports");
        json_builder_begin_array(builder);
        for (guint i = 0; run->ports[i] != NULL; i++) {
            if (!add_port(builder, run->ports[i], out_status))
                return NULL;
        }
        json_builder_end_array(builder);
    }
    json_builder_end_object(builder);
    json_builder_end_array(builder);
    json_builder_end_object(builder); /* devices */
    json_builder_end_object(builder); /* domain */

    json_builder_set_member_name(builder, "networks");
    json_builder_begin_array(builder);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, "default");
    json_builder_set_member_name(builder, "pod");
    json_builder_begin_object(builder);
    json_builder_end_object(builder);
    json_builder_end_object(builder);
    json_builder_end_array(builder);

    json_builder_set_member_name(builder, "apps");
    json_builder_begin_array(builder);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, run->app);
    json_builder_set_member_name(builder, "image");
    json_builder_add_string_value(builder, image);
    if (run->args != NULL && run->args[0] != NULL) {
        json_builder_set_member_name(builder, "args");
        json_builder_begin_array(builder);
        for (guint i = 0; run->args[i] != NULL; i++)
            json_builder_add_string_value(builder, run->args[i]);
        json_builder_end_array(builder);
    }
    /* The app's figures: the apps rule sizes the VM from them. */
    if (run->memory != NULL) {
        json_builder_set_member_name(builder, "memory");
        json_builder_add_string_value(builder, run->memory);
    }
    if (run->cpus != NULL) {
        json_builder_set_member_name(builder, "cpus");
        json_builder_add_string_value(builder, run->cpus);
    }
    json_builder_end_object(builder);
    json_builder_end_array(builder);
    json_builder_end_object(builder); /* spec */
    json_builder_end_object(builder);

    root = json_builder_get_root(builder);
    return podvm_json_to_string(root, FALSE);
}

/* APP-xxxxx, a new name for every run (as rkt gives each run a new pod). */
static char *
generated_name(const char *app)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    g_autofree char *prefix = g_strndup(app, NAME_MAX_LENGTH - 6);
    char suffix[6];

    for (guint i = 0; i < 5; i++)
        suffix[i] = alphabet[g_random_int_range(0, (gint32)strlen(alphabet))];
    suffix[5] = '\0';
    return g_strdup_printf("%s-%s", prefix, suffix);
}

/* ------------------------------------------------------------------------ */
/* Start, with the pull's progress */

typedef struct {
    GMainLoop *loop;
    GError *error;
} StartState;

static void
started_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    StartState *state = user_data;

    podvm_dbus_pod_call_start_finish(PODVM_DBUS_POD(source), result, &state->error);
    g_main_loop_quit(state->loop);
}

static gboolean
start_pod(PodvmCtl *ctl, PodvmDBusPod *pod, const char *name, gboolean debug, GError **error)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_auto(GVariantDict) options = G_VARIANT_DICT_INIT(NULL);
    StartState state = { .loop = loop };
    PodvmCtlPullProgress *progress;

    g_variant_dict_insert(&options, "debug", "b", debug);
    /* Start returns once the guest runs, which may take a pull and a boot. */
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
    progress = podvmctl_pull_progress_new(ctl->manager, name, TRUE);
    podvm_dbus_pod_call_start(pod, g_variant_dict_end(&options), NULL, started_cb, &state);
    g_main_loop_run(loop);
    podvmctl_pull_progress_free(progress);
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_DEFAULT);
    if (state.error != NULL) {
        g_propagate_error(error, state.error);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The end */

static gboolean
phase_is_final(const char *phase)
{
    return g_strcmp0(phase, "Succeeded") == 0 || g_strcmp0(phase, "Failed") == 0 ||
           g_strcmp0(phase, "Stopped") == 0;
}

/* The pod's status as podvmd has it now (not the proxy's cache), or NULL. */
static JsonNode *
current_status(PodvmDBusPod *pod)
{
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) value = NULL;

    reply = g_dbus_connection_call_sync(
        g_dbus_proxy_get_connection(G_DBUS_PROXY(pod)), g_dbus_proxy_get_name(G_DBUS_PROXY(pod)),
        g_dbus_proxy_get_object_path(G_DBUS_PROXY(pod)), "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", "io.podvm.PodVM1.Pod", "Status"), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, NULL);
    if (reply == NULL)
        return NULL;
    g_variant_get(reply, "(v)", &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
        return NULL;
    return podvmctl_parse_json(g_variant_get_string(value, NULL), -1, "status", NULL);
}

/* Waits (polling) until the pod's phase is final; the last status read, or NULL. */
static JsonNode *
wait_for_end(PodvmDBusPod *pod)
{
    gint64 deadline = g_get_monotonic_time() + END_WAIT_SECONDS * G_TIME_SPAN_SECOND;
    JsonNode *status = NULL;

    for (;;) {
        g_clear_pointer(&status, json_node_unref);
        status = current_status(pod);
        if (status == NULL)
            return NULL;
        if (JSON_NODE_HOLDS_OBJECT(status) &&
            phase_is_final(podvmctl_json_string(json_node_get_object(status), "phase")))
            return status;
        if (g_get_monotonic_time() >= deadline)
            return status;
        g_usleep(200 * 1000);
    }
}

/*
 * The last line and the exit status: the first app that did not exit 0
 * gives its code (128 + N for signal N), else the first app's; a pod that
 * failed without an app's code gives 1.
 */
static int
report_end(const char *name, JsonNode *status_node)
{
    JsonObject *status = status_node != NULL && JSON_NODE_HOLDS_OBJECT(status_node)
                             ? json_node_get_object(status_node)
                             : NULL;
    const char *phase = podvmctl_json_string(status, "phase");
    const char *message = podvmctl_json_string(status, "message");
    JsonNode *apps = status != NULL ? json_object_get_member(status, "apps") : NULL;
    JsonObject *chosen = NULL;
    int code = -1;

    if (status == NULL) {
        g_printerr(_("pod %s: podvmd went away before it ended\n"), name);
        return PODVMCTL_EXIT_UNREACHABLE;
    }
    for (guint i = 0; apps != NULL && JSON_NODE_HOLDS_ARRAY(apps) &&
                      i < json_array_get_length(json_node_get_array(apps));
         i++) {
        JsonNode *element = json_array_get_element(json_node_get_array(apps), i);
        JsonObject *app = JSON_NODE_HOLDS_OBJECT(element) ? json_node_get_object(element) : NULL;
        gint64 exit_code = podvmctl_json_int(app, "exitCode", -1);
        gint64 signal_number = podvmctl_json_int(app, "signal", -1);
        int app_code = exit_code >= 0      ? (int)MIN(exit_code, 255)
                       : signal_number > 0 ? (int)MIN(128 + signal_number, 255)
                                           : -1;

        if (app_code < 0)
            continue;
        if (chosen == NULL || (code == 0 && app_code != 0)) {
            chosen = app;
            code = app_code;
        }
    }
    if (chosen != NULL) {
        const char *app_name = podvmctl_json_string(chosen, "name");
        gint64 signal_number = podvmctl_json_int(chosen, "signal", -1);

        if (signal_number <= 0)
            g_printerr(_("pod %s %s: app %s exited with code %d\n"), name, phase ? phase : "?",
                       app_name ? app_name : "?", code);
        else
            g_printerr(
                _("pod %s %s: app %s was killed by signal %" G_GINT64_FORMAT " (exit code %d)\n"),
                name, phase ? phase : "?", app_name ? app_name : "?", signal_number, code);
        return code;
    }
    if (message != NULL && *message != '\0')
        g_printerr(_("pod %s %s: %s\n"), name, phase ? phase : "?", message);
    else
        g_printerr(_("pod %s %s\n"), name, phase ? phase : "?");
    if (g_strcmp0(phase, "Succeeded") == 0 || g_strcmp0(phase, "Stopped") == 0)
        return PODVMCTL_EXIT_OK;
    return PODVMCTL_EXIT_FAILURE;
}

/* A pod that ended before its console could be opened: its log instead. */
static void
print_log(PodvmDBusPod *pod)
{
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    g_autoptr(GInputStream) input = NULL;
    g_autoptr(GOutputStream) output = NULL;
    int fd;

    if (!podvm_dbus_pod_call_open_log_sync(pod, NULL, &handle, &fds, NULL, NULL))
        return;
    fd = podvmctl_steal_fd(handle, fds, "OpenLog", NULL);
    if (fd < 0)
        return;
    input = g_unix_input_stream_new(fd, TRUE);
    output = g_unix_output_stream_new(STDOUT_FILENO, FALSE);
    g_output_stream_splice(output, input, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE, NULL, NULL);
}

static int
attach_and_wait(PodvmCtl *ctl, PodvmDBusPod *pod, const char *name)
{
    g_autoptr(JsonNode) status = NULL;
    gboolean closed = FALSE;
    int result;

    status = current_status(pod);
    if (status != NULL && JSON_NODE_HOLDS_OBJECT(status) &&
        phase_is_final(podvmctl_json_string(json_node_get_object(status), "phase"))) {
        /* It ran already: what it printed is in its log. */
        print_log(pod);
        return report_end(name, status);
    }
    g_clear_pointer(&status, json_node_unref);
    result = podvmctl_console_attach_full(ctl, pod, name, TRUE, &closed);
    if (!closed) {
        status = current_status(pod);
        if (result == PODVMCTL_EXIT_OK || status == NULL || !JSON_NODE_HOLDS_OBJECT(status) ||
            !phase_is_final(podvmctl_json_string(json_node_get_object(status), "phase")))
            return result;
        /* The console could not be opened because the pod ended meanwhile. */
        print_log(pod);
        return report_end(name, status);
    }
    status = wait_for_end(pod);
    return report_end(name, status);
}

/* ------------------------------------------------------------------------ */
/* The command */

static int
run_file(PodvmCtl *ctl, const char *path, gboolean debug, gboolean detach)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *name = NULL;
    int status;

    if (g_str_equal(path, "-") && !detach)
        return podvmctl_usage_error("run", _("run reads the console's input from stdin; give "
                                             "the spec as a file"));
    /* An existing pod of that name is an error (AlreadyExists), never reused. */
    status = podvmctl_create_pod_from_file(ctl, path, &pod, &name);
    if (status != PODVMCTL_EXIT_OK)
        return status;
    if (!start_pod(ctl, pod, name, debug, &error))
        return podvmctl_fail(ctl, error);
    if (detach) {
        g_print("%s\n", name);
        return PODVMCTL_EXIT_OK;
    }
    return podvmctl_console_attach(ctl, pod, name, TRUE);
}

int
podvmctl_cmd_run(PodvmCtl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *opt_file = NULL;
    g_autofree char *opt_name = NULL;
    g_autofree char *opt_memory = NULL;
    g_autofree char *opt_cpus = NULL;
    g_auto(GStrv) opt_ports = NULL;
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *app = NULL;
    g_autofree char *name = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *created = NULL;
    gboolean opt_debug = FALSE;
    gboolean opt_dry_run = FALSE;
    gboolean opt_detach = FALSE;
    RunSpec run = { NULL };
    int option_argc = argc;
    int status;
    const GOptionEntry entries[] = {
        { "filename", 'f', 0, G_OPTION_ARG_FILENAME, &opt_file,
          N_("Run the pod of this spec (JSON or YAML) instead of an image"), N_("FILE") },
        { "name", 0, 0, G_OPTION_ARG_STRING, &opt_name,
          N_("The pod's name (default: the app's name and a random suffix)"), N_("NAME") },
        { "port", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &opt_ports,
          N_("Forward this port of the app (again for more)"), N_("[HOSTPORT:]PORT[/tcp|udp]") },
        { "memory", 0, 0, G_OPTION_ARG_STRING, &opt_memory,
          N_("The app's memory (the VM gets it and 128Mi more)"), N_("QUANTITY") },
        { "cpus", 0, 0, G_OPTION_ARG_STRING, &opt_cpus,
          N_("The app's CPUs (default: all of the host's)"), N_("N") },
        { "debug", 0, 0, G_OPTION_ARG_NONE, &opt_debug,
          N_("Show the guest kernel's boot messages on the console"), NULL },
        { "detach", 'd', 0, G_OPTION_ARG_NONE, &opt_detach,
          N_("Return once the pod runs, without attaching its console"), NULL },
        { "dry-run", 0, 0, G_OPTION_ARG_NONE, &opt_dry_run,
          N_("Print the pod's spec (JSON) instead of running it"), NULL },
        { NULL },
    };

    /* What follows "--" is the app's arguments, options and all. */
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "--")) {
            option_argc = i;
            for (int j = i + 1; j < argc; j++)
                g_ptr_array_add(args, argv[j]);
            break;
        }
    }
    argc = option_argc;
    if (!podvmctl_parse_options(
            "run", "IMAGE [-- ARGUMENT…] | -f FILE",
            _("Run an app pod from an image and attach its console, as rkt run does.\n"
              "IMAGE is docker://[REGISTRY/]REPO[:TAG][@DIGEST], the same without docker://, or "
              "oci:DIR[:TAG]. The pod gets the default pod network (masquerade) with the ports "
              "given. When the pod ends, podvmctl exits with the app's exit code. Leave the "
              "console with Ctrl-a x or Ctrl-]; the pod keeps running.\n"
              "With -f FILE, the pod is the file's (created, started, console attached)."),
            entries, 0, 1, &argc, &argv, &status))
        return status;

    if (opt_file != NULL) {
        if (argc > 1 || args->len > 0 || opt_name != NULL || opt_ports != NULL ||
            opt_memory != NULL || opt_cpus != NULL || opt_dry_run)
            return podvmctl_usage_error("run", _("-f FILE runs the file's pod; give no image, "
                                                 "--name, --port, --memory, --cpus, --dry-run or "
                                                 "arguments"));
        return run_file(ctl, opt_file, opt_debug, opt_detach);
    }
    if (argc < 2)
        return podvmctl_usage_error("run", _("missing the image (or -f FILE)"));

    if (opt_name != NULL && !podvmctl_check_name_option("run", "--name", opt_name, &status))
        return status;
    if (opt_memory != NULL) {
        guint64 bytes;

        if (!podvm_quantity_parse_bytes(opt_memory, &bytes, &error))
            return podvmctl_usage_error("run", "--memory: %s", error->message);
    }
    if (opt_cpus != NULL) {
        guint64 millicpus;

        if (!podvm_quantity_parse_millicpus(opt_cpus, &millicpus, &error))
            return podvmctl_usage_error("run", "--cpus: %s", error->message);
    }

    app = podvmctl_run_app_name(argv[1]);
    name = opt_name != NULL ? g_strdup(opt_name) : generated_name(app);
    g_ptr_array_add(args, NULL);
    run.image = argv[1];
    run.name = name;
    run.app = app;
    run.ports = opt_ports;
    run.memory = opt_memory;
    run.cpus = opt_cpus;
    run.args = (char **)args->pdata;
    spec = podvmctl_run_build_spec(&run, &status);
    if (spec == NULL)
        return status;
    if (opt_dry_run) {
        g_print("%s\n", spec);
        return PODVMCTL_EXIT_OK;
    }

    status = podvmctl_create_pod(ctl, spec, name, &pod, &created);
    if (status != PODVMCTL_EXIT_OK)
        return status;
    if (opt_name == NULL)
        g_printerr(_("pod %s\n"), created);
    if (!start_pod(ctl, pod, created, opt_debug, &error)) {
        g_autoptr(JsonNode) end = current_status(pod);

        status = podvmctl_fail(ctl, error);
        /* The pod stays, Failed with the reason, for `status` and `logs`. */
        if (end != NULL && JSON_NODE_HOLDS_OBJECT(end) &&
            phase_is_final(podvmctl_json_string(json_node_get_object(end), "phase")))
            g_printerr(_("pod %s %s\n"), created,
                       podvmctl_json_string(json_node_get_object(end), "phase"));
        return status;
    }
    if (opt_detach) {
        g_print("%s\n", created);
        return PODVMCTL_EXIT_OK;
    }
    return attach_and_wait(ctl, pod, created);
}
