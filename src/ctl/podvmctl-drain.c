/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl drain --to NAME|URL [-l KEY[=VALUE]]... [the request options of migrate]
 *
 * Empties this host (README "Live migration"): of the running and paused
 * pods (those the selector picks), each one whose spec.evictionStrategy is
 * LiveMigrate or LiveMigrateIfPossible is migrated to the target, one after
 * another; the others are stopped gracefully (their
 * terminationGracePeriodSeconds), all at once; a LiveMigrateIfPossible pod
 * whose migration failed is stopped too. A summary ends it; the exit
 * status is 1 when anything failed.
 */
#include "podvm-build-config.h"

#include <signal.h>
#include <stdio.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "podvm-labels.h"
#include "podvm-spec.h"
#include "podvmctl-util.h"

typedef struct {
    char *name;
    PodvmEvictionStrategy strategy;
} DrainPod;

static void
drain_pod_free(DrainPod *pod)
{
    g_free(pod->name);
    g_free(pod);
}

typedef struct {
    GMainLoop *loop;
    guint pending; /* Stop calls not answered yet */
    guint stopped;
    GPtrArray *failures; /* char*: "POD: what went wrong" */
    gboolean interrupted;
} Stops;

typedef struct {
    Stops *stops;
    char *name;
} StopCall;

/* The message of a D-Bus error without its remote error name. */
static char *
error_text(const GError *error)
{
    g_autoptr(GError) copy = g_error_copy(error);

    g_dbus_error_strip_remote_error(copy);
    return g_strdup(copy->message);
}

/*
 * The running and paused pods the selector picks, in the order of the list
 * (by name), into @migrate (LiveMigrate*) and @stop (the others).
 */
static gboolean
select_pods(PodvmCtl *ctl, const PodvmLabelSelector *selector, GPtrArray *migrate, GPtrArray *stop,
            GError **error)
{
    PodvmDBusManager *manager = podvmctl_get_manager(ctl, error);
    g_autofree char *reply = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonArray *array;

    if (manager == NULL || !podvm_dbus_manager_call_list_pods_sync(manager, &reply, NULL, error))
        return FALSE;
    root = podvmctl_parse_json(reply, -1, _("podvmd's pod list"), error);
    if (root == NULL)
        return FALSE;
    if (!JSON_NODE_HOLDS_ARRAY(root)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("podvmd's pod list is not a JSON array"));
        return FALSE;
    }
    array = json_node_get_array(root);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);
        JsonObject *object;
        const char *name;
        const char *phase;
        DrainPod *pod;

        if (!JSON_NODE_HOLDS_OBJECT(element))
            continue;
        object = json_node_get_object(element);
        name = podvmctl_json_string(podvmctl_json_object(object, "metadata"), "name");
        phase = podvmctl_json_string(podvmctl_json_object(object, "status"), "phase");
        if (name == NULL ||
            !podvm_label_selector_matches_json(
                selector, podvmctl_json_object(podvmctl_json_object(object, "metadata"), "labels")))
            continue;
        if (g_strcmp0(phase, "Running") != 0 && g_strcmp0(phase, "Paused") != 0)
            continue;
        pod = g_new0(DrainPod, 1);
        pod->name = g_strdup(name);
        /* Unknown or absent: the default, None. */
        podvm_eviction_strategy_from_string(
            podvmctl_json_string(podvmctl_json_object(object, "spec"), "evictionStrategy"),
            &pod->strategy);
        g_ptr_array_add(pod->strategy == PODVM_EVICTION_NONE ? stop : migrate, pod);
    }
    return TRUE;
}

static void
stop_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    StopCall *call = user_data;
    Stops *stops = call->stops;
    g_autoptr(GError) error = NULL;

    if (podvm_dbus_pod_call_stop_finish(PODVM_DBUS_POD(source), result, &error)) {
        stops->stopped++;
        g_print(_("stopped %s\n"), call->name);
    } else {
        g_autofree char *text = error_text(error);

        g_printerr(_("podvmctl: could not stop %s: %s\n"), call->name, text);
        g_ptr_array_add(stops->failures, g_strdup_printf(_("%s: stop: %s"), call->name, text));
    }
    if (--stops->pending == 0)
        g_main_loop_quit(stops->loop);
    g_free(call->name);
    g_free(call);
    g_object_unref(source);
}

static gboolean
stops_interrupt_cb(gpointer user_data)
{
    Stops *stops = user_data;

    stops->interrupted = TRUE;
    g_main_loop_quit(stops->loop);
    return G_SOURCE_CONTINUE;
}

/* Stops every pod of @names at once and waits for all. */
static void
stop_all(PodvmCtl *ctl, GPtrArray *names, Stops *stops)
{
    guint sigint_id;

    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autoptr(GError) error = NULL;
        PodvmDBusPod *pod = podvmctl_get_pod(ctl, name, &error);
        StopCall *call;

        if (pod == NULL) {
            g_autofree char *text = error_text(error);

            g_printerr(_("podvmctl: could not stop %s: %s\n"), name, text);
            g_ptr_array_add(stops->failures, g_strdup_printf(_("%s: stop: %s"), name, text));
            continue;
        }
        /* A stop waits the pod's whole grace period. */
        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), PODVMCTL_TIMEOUT_LONG);
        call = g_new0(StopCall, 1);
        call->stops = stops;
        call->name = g_strdup(name);
        stops->pending++;
        podvm_dbus_pod_call_stop(pod, -1, NULL, stop_cb, call);
    }
    if (stops->pending == 0)
        return;
    sigint_id = g_unix_signal_add(SIGINT, stops_interrupt_cb, stops);
    g_main_loop_run(stops->loop);
    g_source_remove(sigint_id);
}

int
podvmctl_cmd_drain(PodvmCtl *ctl, int argc, char **argv)
{
    g_auto(PodvmCtlMigrateRequest) request = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree GOptionEntry *entries = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) opt_labels = NULL;
    g_autoptr(PodvmLabelSelector) selector = NULL;
    g_autoptr(GPtrArray) migrate = g_ptr_array_new_with_free_func((GDestroyNotify)drain_pod_free);
    g_autoptr(GPtrArray) stop = g_ptr_array_new_with_free_func((GDestroyNotify)drain_pod_free);
    g_autoptr(GPtrArray) stop_names = g_ptr_array_new();
    g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    Stops stops = { .loop = loop, .failures = failures };
    guint migrated = 0;
    guint left = 0;
    gboolean interrupted = FALSE;
    int status;
    const GOptionEntry extra[] = {
        { "selector", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &opt_labels,
          N_("Only pods whose labels match SELECTOR, in Kubernetes' syntax: KEY=VALUE, "
             "KEY!=VALUE, 'KEY in (A,B)', 'KEY notin (A,B)', KEY, !KEY; separated by commas, "
             "and repeatable: all must hold"),
          N_("SELECTOR") },
        { NULL },
    };

    entries = podvmctl_migrate_option_entries(&request, extra);
    if (!podvmctl_parse_options(
            "drain", "",
            _("Empty this host: every running or paused pod whose spec.evictionStrategy is "
              "LiveMigrate (or LiveMigrateIfPossible) is migrated to the target, one after "
              "another; the other pods are stopped gracefully, as is a LiveMigrateIfPossible "
              "pod whose migration failed. Ends with a summary; the exit status is 1 when "
              "anything failed."),
            entries, 0, 0, &argc, &argv, &status))
        return status;
    for (gsize i = 0; opt_labels != NULL && opt_labels[i] != NULL; i++) {
        if (selector == NULL)
            selector = podvm_label_selector_new();
        if (!podvm_label_selector_add(selector, opt_labels[i], &error))
            return podvmctl_usage_error("drain", "%s", error->message);
    }
    text = podvmctl_migrate_request_build("drain", &request, &status);
    if (text == NULL)
        return status;

    if (!select_pods(ctl, selector, migrate, stop, &error))
        return podvmctl_fail(ctl, error);
    for (guint i = 0; i < stop->len; i++)
        g_ptr_array_add(stop_names, ((DrainPod *)g_ptr_array_index(stop, i))->name);

    for (guint i = 0; i < migrate->len; i++) {
        DrainPod *pod = g_ptr_array_index(migrate, i);
        g_autoptr(JsonNode) result = NULL;
        g_autoptr(GError) local = NULL;
        g_autofree char *reason = NULL;

        if (interrupted) {
            left++;
            continue;
        }
        if (podvmctl_migrate_follow(ctl, pod->name, text, &interrupted, &result, &local)) {
            podvmctl_migrate_print_done(pod->name, request.to, result);
            migrated++;
            continue;
        }
        reason = error_text(local);
        g_printerr(_("podvmctl: could not migrate %s: %s\n"), pod->name, reason);
        if (pod->strategy == PODVM_EVICTION_LIVE_MIGRATE_IF_POSSIBLE && !interrupted)
            g_ptr_array_add(stop_names, pod->name);
        else
            g_ptr_array_add(failures, g_strdup_printf(_("%s: migrate: %s"), pod->name, reason));
    }

    if (!interrupted)
        stop_all(ctl, stop_names, &stops);
    else
        left += stop_names->len;
    if (stops.interrupted)
        left += stops.pending;

    g_print(_("drain: %u migrated to %s, %u stopped, %u failed"), migrated, request.to,
            stops.stopped, failures->len);
    if (left > 0)
        g_print(_(", %u left alone (interrupted)"), left);
    g_print("\n");
    for (guint i = 0; i < failures->len; i++)
        g_print("  %s\n", (const char *)g_ptr_array_index(failures, i));
    /* Stop calls still out (after an interrupt) answer nobody: podvmd finishes them. */
    return failures->len > 0 || left > 0 ? PODVMCTL_EXIT_FAILURE : PODVMCTL_EXIT_OK;
}
