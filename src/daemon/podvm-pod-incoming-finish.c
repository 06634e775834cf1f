/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target of a migration (podvm-pod-incoming.c): the finish (the
 * exports removed, the links up, `cont`, announce-self, Running, the record
 * cleared) and what a restart does with a migration it finds recorded.
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-pod-incoming-private.h"

/* ---- finish: the pod runs here ----------------------------------------------------------- */

/* Activation, for the finish operation and for a restart that finds "activating". */
typedef void (*ActivateDone)(PodvmPod *self, GError *error, gpointer data);

typedef struct {
    GPtrArray *disks; /* of char*: the exports to remove */
    ActivateDone done;
    gpointer data;
} Activation;

static void
activation_free(Activation *a)
{
    g_ptr_array_unref(a->disks);
    g_free(a);
}

static void
activated(PodvmPod *self, GError *error, gpointer data)
{
    Activation *a = data;
    ActivateDone done = a->done;
    gpointer done_data = a->data;
    g_autofree char *id = NULL;
    gboolean paused = FALSE;

    activation_free(a);
    if (error != NULL) {
        done(self, error, done_data);
        return;
    }
    if (self->migration_record != NULL) {
        id = g_strdup(
            json_object_get_string_member_with_default(self->migration_record, "id", NULL));
        paused =
            json_object_get_boolean_member_with_default(self->migration_record, "paused", FALSE);
    }
    if (id == NULL && self->incoming != NULL)
        id = g_strdup(self->incoming->id);
    g_clear_pointer(&self->started_at, g_date_time_unref);
    self->started_at = g_date_time_new_now_utc();
    if (!paused)
        self->running_since_us = g_get_monotonic_time();
    if (self->incoming != NULL) {
        pod_incoming_set_state(self, PODVM_INCOMING_RUNNING, NULL);
        pod_incoming_quiesce(self->incoming);
    }
    /* After the state (which sets status.migrationState): the pod is done migrating. */
    g_clear_pointer(&self->migration_record, json_object_unref);
    g_clear_pointer(&self->migration_state, json_object_unref);
    /* Durable (Incoming -> Running): the record is gone with the same write. */
    pod_set_phase(self, paused ? PODVM_PHASE_PAUSED : PODVM_PHASE_RUNNING, paused ? "Paused" : NULL,
                  NULL);
    pod_incoming_emit_migration_event(self, "MigrationActivated", NULL);
    g_clear_pointer(&self->incoming, pod_incoming_free);
    g_object_set_data_full(G_OBJECT(self), FINISHED_ID_KEY, g_steal_pointer(&id), g_free);
    done(self, NULL, done_data);
}

static void
cont_script(PodvmPod *self, Activation *a)
{
    Script *script = pod_incoming_script_new(self);
    JsonObject *announce = json_object_new();

    podvm_fault_crash_point("incoming:before-cont");
    if (self->migration_record != NULL &&
        json_object_get_boolean_member_with_default(self->migration_record, "paused", FALSE)) {
        /* Paused at the source: it stays paused here until a resume. */
        json_object_unref(announce);
        pod_incoming_script_run(script, activated, a);
        return;
    }
    pod_incoming_script_add(script, "cont", NULL, FALSE);
    /* QEMU's own defaults: 5 rounds, 50 ms then 100 ms more each time, at most 550 ms. */
    json_object_set_int_member(announce, "initial", 50);
    json_object_set_int_member(announce, "max", 550);
    json_object_set_int_member(announce, "rounds", 5);
    json_object_set_int_member(announce, "step", 100);
    pod_incoming_script_add(script, "announce-self", announce, TRUE);
    pod_incoming_script_run(script, activated, a);
}

static void
links_up_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Activation *a = user_data;
    PodvmPod *self = PODVM_POD(source);
    g_autoptr(GError) error = NULL;

    /* The guest runs anyway: a link that did not come up is said, not fatal. */
    if (!pod_incoming_set_links_finish(self, result, &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': cannot bring its links up: %s",
                self->spec->name, error->message);
    cont_script(self, a);
}

static void
exports_removed(PodvmPod *self, GError *error, gpointer data)
{
    Activation *a = data;

    if (error != NULL) {
        activated(self, error, a);
        return;
    }
    pod_incoming_set_links_async(self, TRUE, links_up_cb, a);
}

/* Exports closed, links up, cont, announce-self, Running, the record cleared. */
static void
activate(PodvmPod *self, GPtrArray *disks, ActivateDone done, gpointer data)
{
    Activation *a = g_new0(Activation, 1);
    Script *script = pod_incoming_script_new(self);

    a->disks = g_ptr_array_ref(disks);
    a->done = done;
    a->data = data;
    for (guint i = 0; i < disks->len; i++) {
        JsonObject *arguments = json_object_new();
        g_autofree char *id = pod_incoming_export_id_of(g_ptr_array_index(disks, i));

        json_object_set_string_member(arguments, "id", id);
        json_object_set_string_member(arguments, "mode", "hard");
        pod_incoming_script_add(script, "block-export-del", arguments, TRUE);
    }
    if (disks->len > 0)
        pod_incoming_script_add(script, "nbd-server-stop", NULL, TRUE);
    pod_incoming_script_run(script, exports_removed, a);
}

static void
finish_done(PodvmPod *self, GError *error, gpointer data)
{
    GTask *task = data;

    pod_op_return(self, task, error);
}

static void
finish_run(PodvmPod *self, GTask *task)
{
    PodIncoming *in = self->incoming;

    if (in != NULL &&
        (in->state == PODVM_INCOMING_WAITING || in->state == PODVM_INCOMING_RECEIVING)) {
        /*
         * The source saw its QEMU complete; the last bytes may still be on
         * their way here: wait for this QEMU's "completed" (or its failure,
         * or the no-progress timeout, which tear the pod down).
         */
        pod_step(self, "migration %s: the source completed; waiting for QEMU here", in->id);
        in->finish_waiting = task;
        return;
    }
    pod_incoming_finish_now(self, task);
}

void
pod_incoming_finish_now(PodvmPod *self, GTask *task)
{
    PodIncoming *in = self->incoming;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);

    if (in == NULL || in->state != PODVM_INCOMING_COMPLETED) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                  _("migration of pod '%s' is %s; it can finish once QEMU "
                                    "received everything (completed)"),
                                  self->spec->name,
                                  podvm_incoming_state_to_string(
                                      in != NULL ? in->state : PODVM_INCOMING_RUNNING)));
        return;
    }
    pod_incoming_record_set_phase(self, "activating");
    if (!pod_save_required(self, "incoming:activating", &error)) {
        pod_incoming_record_set_phase(self, "completed");
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    pod_step(self, "migration %s: activating the pod here", in->id);
    g_clear_handle_id(&in->progress_timer, g_source_remove);
    for (guint i = 0; i < in->disks->len; i++) {
        const PodvmMigrationDisk *disk = g_ptr_array_index(in->disks, i);
        g_ptr_array_add(disks, g_strdup(disk->name));
    }
    activate(self, disks, finish_done, task);
}

static void
finish_free(PodOp *op)
{
    g_free(op);
}

static const PodOpClass finish_class = { "incoming-finish", finish_run, finish_free };

void
podvm_pod_incoming_finish_async(PodvmPod *self, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
    PodOp *op = g_new0(PodOp, 1);

    pod_op_enqueue(self,
                   pod_op_task_new(self, &finish_class, op, cancellable, callback, user_data));
}

gboolean
podvm_pod_incoming_finish_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    return podvm_pod_run_finish(self, result, error);
}

/* ---- after a restart --------------------------------------------------------------------- */

typedef struct {
    GTask *task;
    void (*done)(PodvmPod *, GTask *);
} Recovery;

static void
recovered(PodvmPod *self, GError *error, gpointer data)
{
    Recovery *r = data;

    if (error != NULL) {
        pod_log(self, G_LOG_LEVEL_WARNING,
                "pod '%s': the finish of its incoming migration, interrupted by a restart, "
                "failed: %s",
                self->spec->name, error->message);
        g_error_free(error);
    }
    r->done(self, r->task);
    g_free(r);
}

void
pod_incoming_recover(PodvmPod *self, GTask *task, void (*done)(PodvmPod *, GTask *))
{
    JsonObject *record = self->migration_record;
    const char *phase = json_object_get_string_member_with_default(record, "phase", "");
    const char *id = json_object_get_string_member_with_default(record, "id", "");
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    JsonArray *names = json_object_has_member(record, "disks") &&
                               JSON_NODE_HOLDS_ARRAY(json_object_get_member(record, "disks"))
                           ? json_object_get_array_member(record, "disks")
                           : NULL;

    for (guint i = 0; names != NULL && i < json_array_get_length(names); i++) {
        const char *name = json_array_get_string_element(names, i);
        if (name != NULL)
            g_ptr_array_add(disks, g_strdup(name));
    }
    if (g_str_equal(phase, "activating") && self->qmp != NULL &&
        podvm_qmp_client_is_connected(self->qmp)) {
        Recovery *r = g_new0(Recovery, 1);

        pod_log(self, G_LOG_LEVEL_MESSAGE,
                "pod '%s': finishing incoming migration %s, which a restart interrupted",
                self->spec->name, id);
        r->task = task;
        r->done = done;
        activate(self, disks, recovered, r);
        return;
    }
    /* Anything else never ran here: it goes (the source resumes its copy). */
    if (self->incoming == NULL) {
        self->incoming = pod_incoming_new(self, id, "");
        self->incoming->state = PODVM_INCOMING_WAITING;
    }
    pod_incoming_teardown(self, _("podvmd restarted during the migration"));
    done(self, task);
}
