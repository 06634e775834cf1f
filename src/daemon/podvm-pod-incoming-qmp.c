/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target of a migration (podvm-pod-incoming.c): QMP scripts (commands
 * one after the other, fds passed with getfd) and the pod's links, down
 * while the copy runs and up at the switchover.
 */
#include <errno.h>
#include <gio/gunixfdlist.h>
#include <glib/gi18n-lib.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-pod-incoming-private.h"
#include "podvm-pod-net.h"

/* ---- the links: down while the copy runs, up at the switchover ---------------------------- */

typedef struct {
    int netns_fd;
    GPtrArray *taps; /* of char* */
    gboolean up;
} LinksWork;

static void
links_work_free(LinksWork *work)
{
    if (work->netns_fd >= 0)
        close(work->netns_fd);
    g_ptr_array_unref(work->taps);
    g_free(work);
}

static gboolean
links_in_namespace(gpointer user_data, GError **error)
{
    LinksWork *work = user_data;
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    if (nl == NULL)
        return FALSE;
    for (guint i = 0; i < work->taps->len; i++) {
        if (!podvm_nl_link_set_up(nl, g_ptr_array_index(work->taps, i), work->up, error))
            return FALSE;
    }
    return TRUE;
}

static void
links_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    LinksWork *work = task_data;
    GError *error = NULL;

    if (!podvm_netns_run(work->netns_fd, links_in_namespace, work, &error))
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
}

/*
 * Sets the pod's taps (the masquerade and bridge bindings' pvtapN, inside
 * its namespace) up or down: while the copy runs the guest is not to be
 * seen from here; finish brings them up.
 */
void
pod_incoming_set_links_async(PodvmPod *self, gboolean up, GAsyncReadyCallback callback,
                             gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, NULL, callback, user_data);
    LinksWork *work = g_new0(LinksWork, 1);

    work->netns_fd = -1;
    work->up = up;
    work->taps = g_ptr_array_new_with_free_func(g_free);
    g_task_set_task_data(task, work, (GDestroyNotify)links_work_free);
    for (guint i = 0; i < self->net->attachments->len; i++) {
        const PodNetAttachment *a = g_ptr_array_index(self->net->attachments, i);
        const PodvmSpecInterface *iface = NULL;
        char bridge[16], tap[16];

        for (guint j = 0; j < self->spec->interfaces->len; j++) {
            const PodvmSpecInterface *candidate = g_ptr_array_index(self->spec->interfaces, j);
            if (g_strcmp0(candidate->name, a->iface) == 0)
                iface = candidate;
        }
        if (iface == NULL ||
            (iface->binding != PODVM_BINDING_MASQUERADE && iface->binding != PODVM_BINDING_BRIDGE))
            continue;
        podvm_binding_names(a->slot, bridge, tap);
        g_ptr_array_add(work->taps, g_strdup(tap));
    }
    if (work->taps->len == 0 || self->net->netns_path == NULL) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    work->netns_fd = podvm_netns_open(self->net->netns_path, NULL);
    if (work->netns_fd < 0) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    g_task_run_in_thread(task, links_thread);
}

gboolean
pod_incoming_set_links_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

typedef struct {
    char *command;
    JsonObject *arguments; /* may be NULL */
    gboolean may_fail;     /* a failure is logged, the script goes on */
    int fd;                /* sent with it (getfd), owned; -1: none */
} ScriptStep;

struct _Script {
    PodvmPod *self; /* a reference */
    GPtrArray *steps;
    guint next;
    ScriptDone done;
    gpointer data;
};

/* ---- a QMP script: commands one after the other --------------------------------------- */

static void
script_step_free(ScriptStep *step)
{
    g_free(step->command);
    g_clear_pointer(&step->arguments, json_object_unref);
    if (step->fd >= 0)
        close(step->fd);
    g_free(step);
}

Script *
pod_incoming_script_new(PodvmPod *self)
{
    Script *script = g_new0(Script, 1);

    script->self = g_object_ref(self);
    script->steps = g_ptr_array_new_with_free_func((GDestroyNotify)script_step_free);
    return script;
}

/* Adds @command; @arguments is taken. */
void
pod_incoming_script_add(Script *script, const char *command, JsonObject *arguments,
                        gboolean may_fail)
{
    ScriptStep *step = g_new0(ScriptStep, 1);

    step->command = g_strdup(command);
    step->arguments = arguments;
    step->may_fail = may_fail;
    step->fd = -1;
    g_ptr_array_add(script->steps, step);
}

/* Adds getfd @name with @fd (taken). */
void
pod_incoming_script_add_getfd(Script *script, const char *name, int fd)
{
    JsonObject *arguments = json_object_new();
    ScriptStep *step;

    json_object_set_string_member(arguments, "fdname", name);
    pod_incoming_script_add(script, "getfd", arguments, FALSE);
    step = g_ptr_array_index(script->steps, script->steps->len - 1);
    step->fd = fd;
}

static void
script_end(Script *script, GError *error)
{
    ScriptDone done = script->done;
    PodvmPod *self = script->self;
    gpointer data = script->data;

    g_ptr_array_unref(script->steps);
    g_free(script);
    done(self, error, data);
    g_object_unref(self);
}

static void script_next(Script *script);

static void
script_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Script *script = user_data;
    ScriptStep *step = g_ptr_array_index(script->steps, script->next - 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (reply == NULL && !step->may_fail) {
        g_autoptr(GError) ours = podvm_error_from_component(error);

        script_end(script,
                   g_error_new(PODVM_ERROR, ours->code, "%s: %s", step->command, ours->message));
        return;
    }
    if (reply == NULL)
        pod_log(script->self, G_LOG_LEVEL_MESSAGE, "pod '%s': %s: %s", script->self->spec->name,
                step->command, error->message);
    script_next(script);
}

static void
script_next(Script *script)
{
    PodvmPod *self = script->self;
    ScriptStep *step;

    if (script->next == script->steps->len) {
        script_end(script, NULL);
        return;
    }
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        script_end(script,
                   g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                               _("pod '%s': QEMU's monitor is not connected"), self->spec->name));
        return;
    }
    step = g_ptr_array_index(script->steps, script->next++);
    if (step->fd >= 0) {
        g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();

        if (g_unix_fd_list_append(fds, step->fd, NULL) < 0) {
            script_end(script,
                       g_error_new(PODVM_ERROR, PODVM_ERROR_IO,
                                   _("cannot pass a socket to QEMU: %s"), g_strerror(errno)));
            return;
        }
        podvm_qmp_client_execute_async(self->qmp, step->command, step->arguments, fds,
                                       PODVM_QMP_TIMEOUT_HOTPLUG, NULL, script_cb, script);
        return;
    }
    pod_qmp_execute(self->qmp, step->command, step->arguments, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                    script_cb, script);
}

void
pod_incoming_script_run(Script *script, ScriptDone done, gpointer data)
{
    script->done = done;
    script->data = data;
    script_next(script);
}

void
pod_incoming_script_free(Script *script)
{
    g_ptr_array_unref(script->steps);
    g_object_unref(script->self);
    g_free(script);
}
