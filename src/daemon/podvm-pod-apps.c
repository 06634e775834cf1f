/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App pods: a pod with spec.apps and neither a kernel nor disks of its own
 * boots podvm's app guest, which runs the apps' images.
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-pod-private.h"

void
podvm_pod_exec_async(PodvmPod *self, const char *app, const char *const *argv,
                     GInputStream *stdin_stream, GOutputStream *stdout_stream,
                     GOutputStream *stderr_stream, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_source_tag(task, podvm_pod_exec_async);
    if (argv == NULL || argv[0] == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("exec needs a command"));
        return;
    }
    if (!podvm_spec_uses_app_guest(self->spec)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                _("pod '%s' does not run podvm's app guest: exec needs an app pod "
                                  "(spec.apps without a kernel or disks)"),
                                self->spec->name);
        return;
    }
    g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                            _("exec into app pods is not supported yet"));
}

gboolean
podvm_pod_exec_finish(PodvmPod *self, GAsyncResult *result, int *exit_code, GError **error)
{
    GTask *task = G_TASK(result);
    gssize code;

    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    code = g_task_propagate_int(task, error);
    if (code < 0)
        return FALSE;
    if (exit_code != NULL)
        *exit_code = (int)code;
    return TRUE;
}
