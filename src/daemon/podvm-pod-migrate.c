/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source side (README "Live migration"): an operation
 * of the pod's queue that moves the running or paused pod to another
 * podvmd.
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "migration/podvm-peer.h"
#include "podvm-pod-private.h"

/* The migrate operation (the task data). */
typedef struct {
    PodOp parent;
    PodvmPeer *peer;
    PodvmMigrateOptions options;
} MigrateOp;

static void
migrate_op_free(PodOp *op)
{
    MigrateOp *data = (MigrateOp *)op;

    /* The peer client is not built yet: no peer is ever given (podvm-manager-migrate.c). */
    g_assert(data->peer == NULL);
    g_free(data);
}

static void
migrate_run(PodvmPod *self, GTask *task)
{
    if (self->phase != PODVM_PHASE_RUNNING && self->phase != PODVM_PHASE_PAUSED) {
        pod_wrong_phase(self, task, _("only a running or paused pod can be migrated"));
        return;
    }
    if (self->migration_source != NULL || self->incoming != NULL ||
        self->migration_record != NULL) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_BUSY, _("pod '%s' is already migrating"),
                                  self->spec->name));
        return;
    }
    pod_op_return(self, task,
                  g_error_new(PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                              _("live migration is not available yet")));
}

static const PodOpClass migrate_class = { "migrate", migrate_run, migrate_op_free };

void
podvm_pod_migrate_async(PodvmPod *self, struct _PodvmPeer *peer, const PodvmMigrateOptions *options,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    MigrateOp *op = g_new0(MigrateOp, 1);
    GTask *task;

    op->peer = peer;
    if (options != NULL)
        op->options = *options;
    task = pod_op_task_new(self, &migrate_class, &op->parent, cancellable, callback, user_data);
    if (podvm_pod_is_migrating(self)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_BUSY,
                                _("pod '%s' is already migrating"), self->spec->name);
        g_object_unref(task);
        return;
    }
    pod_op_enqueue(self, task);
}

JsonNode *
podvm_pod_migrate_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
podvm_pod_cancel_migration(PodvmPod *self, GError **error)
{
    if (self->migration_source == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("pod '%s' has no outgoing migration"), self->spec->name);
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_pod_is_migrating(PodvmPod *self)
{
    return self->migration_source != NULL || self->incoming != NULL ||
           self->migration_record != NULL;
}
