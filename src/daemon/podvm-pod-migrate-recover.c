/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source after a podvmd restart (README "Live
 * migration", crash safety). The relays died with the old podvmd, so an
 * outgoing migration has either completed in QEMU or failed. What QEMU
 * says (query-migrate), or the record's phase "completed", decides:
 * completed -> the target is asked to run the pod (finish), then this
 * QEMU quits and the pod goes; anything else -> whatever QEMU still holds
 * of it is cancelled, the guest resumes (unless it was paused before),
 * the target is told to tear down, and the pod runs here.
 */
#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-pod-migrate.h"
#include "podvm-pod-net.h"
#include "podvm-qemu-devices.h"

typedef struct {
    PodvmPod *pod; /* a reference */
    GTask *task;   /* the reconcile's */
    void (*done)(PodvmPod *self, GTask *task);
    PodvmPeer *peer;
    char *id;
    gboolean was_paused;
    char *message;
} Recovery;

static void
recovery_free(Recovery *r)
{
    g_clear_pointer(&r->peer, podvm_peer_free);
    g_object_unref(r->task);
    g_object_unref(r->pod);
    g_free(r->id);
    g_free(r->message);
    g_free(r);
}

static void
recovery_end(Recovery *r)
{
    r->done(r->pod, r->task);
    recovery_free(r);
}

PodvmPeer *
mig_peer_from_record(PodvmPod *self, GError **error)
{
    JsonObject *record = self->migration_record;
    const char *url = json_object_get_string_member_with_default(record, "peer", NULL);
    const char *token_file = json_object_get_string_member_with_default(record, "tokenFile", NULL);
    PodvmPeerSettings settings = { 0 };
    PodvmPeer *peer;
    char *token;

    if (url == NULL || token_file == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("the migration record names no target to reach"));
        return NULL;
    }
    token = podvm_config_read_peer_token(token_file, "tokenFile", error);
    if (token == NULL)
        return NULL;
    settings.url = (char *)url;
    settings.token = token;
    settings.cacert = (char *)json_object_get_string_member_with_default(record, "cacert", NULL);
    settings.plaintext_ok = json_object_get_boolean_member_with_default(record, "plaintext", FALSE);
    /* A restart's calls wait less than the default: operations on the pod wait for them. */
    settings.timeout_ms = 10000;
    peer = podvm_peer_new(&settings, error);
    explicit_bzero(token, strlen(token));
    g_free(token);
    return peer;
}

/* ---- completed: the pod is the target's ---------------------------------- */

static void
gone_network_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recovery *r = user_data;
    g_autoptr(GError) error = NULL;
    PodvmPod *self = r->pod;

    if (!pod_net_release_finish(self, result, &error)) {
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': %s", self->spec->name, error->message);
        g_clear_error(&error);
    }
    if (!pod_delete_now(self, &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': %s", self->spec->name, error->message);
    recovery_end(r);
    pod_emit_deleted(self);
}

/* QEMU is gone (or never was): release what is left and delete the pod here. */
static void
recovered_qemu_gone(PodvmPod *self, GTask *task)
{
    Recovery *r = g_object_get_data(G_OBJECT(task), "podvm-recovery");

    g_object_set_data(G_OBJECT(task), "podvm-recovery", NULL);
    pod_release_volumes(self);
    if (pod_net_is_set_up(self->net)) {
        pod_net_release_async(self, gone_network_cb, r);
        return;
    }
    gone_network_cb(G_OBJECT(self), NULL, r);
}

static void
migrated_away(Recovery *r)
{
    PodvmPod *self = r->pod;

    pod_log(self, G_LOG_LEVEL_MESSAGE,
            "pod '%s': its migration had completed and the target runs it; ending it here",
            self->spec->name);
    json_object_set_string_member(self->migration_record, "phase", MIG_PHASE_FINISHING);
    pod_save_or_log(self, PODVM_STORE_DURABLE);
    g_object_set_data(G_OBJECT(r->task), "podvm-recovery", r);
    if (self->subprocess == NULL && self->pidfd < 0) {
        recovered_qemu_gone(self, r->task);
        return;
    }
    self->exit_intent = "Migrated";
    self->exit_task = r->task;
    self->exit_continuation = recovered_qemu_gone;
    pod_send_quit(self);
}

static void
not_confirmed(Recovery *r)
{
    /* Unreachable, or not finished: never resumed here; the next restart asks again. */
    pod_set_phase(r->pod, r->pod->phase, "TargetUnreachable",
                  _("the migration completed but the target did not confirm it runs the pod; "
                    "it stays paused here and is never resumed (a podvmd restart asks the "
                    "target again; delete it with force once the target runs it)"));
    recovery_end(r);
}

static void
target_pod_asked(gpointer data, gboolean runs, const GError *error)
{
    Recovery *r = data;
    PodvmPod *self = r->pod;

    if (runs) {
        migrated_away(r);
        return;
    }
    if (error != NULL) {
        not_confirmed(r);
        return;
    }
    /* The target does not run it: it runs here again. */
    g_clear_pointer(&self->migration_record, json_object_unref);
    if (self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp)) {
        if (!r->was_paused)
            pod_qmp_execute(self->qmp, "cont", NULL, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                            pod_qmp_ignore_reply_cb, g_strdup("cont"));
        pod_set_phase(self, r->was_paused ? PODVM_PHASE_PAUSED : PODVM_PHASE_RUNNING,
                      "MigrationFailed", _("the target lost the migrated pod; it runs here again"));
    } else {
        pod_save_or_log(self, PODVM_STORE_DURABLE);
    }
    recovery_end(r);
}

static void
finish_status_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recovery *r = user_data;
    PodvmPod *self = r->pod;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) status = podvm_peer_call_finish(r->peer, result, &error);
    const char *state = NULL;

    if (status != NULL && JSON_NODE_HOLDS_OBJECT(status))
        state =
            json_object_get_string_member_with_default(json_node_get_object(status), "state", NULL);
    if (g_strcmp0(state, "running") == 0) {
        migrated_away(r);
        return;
    }
    if (g_strcmp0(state, "failed") == 0 ||
        g_error_matches(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND)) {
        /* Before resuming here: does a pod of this uid run there (finished, forgotten)? */
        mig_ask_target_pod(self, r->peer, NULL, target_pod_asked, r);
        return;
    }
    not_confirmed(r);
}

static void
finish_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recovery *r = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) status = podvm_peer_call_finish(r->peer, result, &error);
    g_autofree char *path = NULL;

    if (status != NULL) {
        migrated_away(r);
        return;
    }
    path = g_strdup_printf("/v1/migrations/%s", r->id);
    podvm_peer_call_async(r->peer, "GET", path, NULL, NULL, finish_status_cb, r);
}

static void
recover_completed(Recovery *r)
{
    PodvmPod *self = r->pod;
    g_autofree char *path = NULL;

    json_object_set_string_member(self->migration_record, "phase", MIG_PHASE_COMPLETED);
    pod_save_or_log(self, PODVM_STORE_DURABLE);
    if (self->phase != PODVM_PHASE_MIGRATING && podvm_phase_has_qemu(self->phase))
        pod_set_phase(self, PODVM_PHASE_MIGRATING, "Migrating", NULL);
    if (r->peer == NULL || r->id == NULL) {
        pod_set_phase(self, self->phase, "TargetUnreachable",
                      r->message != NULL ? r->message
                                         : _("the migration completed; the target is unknown"));
        recovery_end(r);
        return;
    }
    pod_log(self, G_LOG_LEVEL_MESSAGE,
            "pod '%s': its migration completed before the restart; asking the target to run it",
            self->spec->name);
    path = g_strdup_printf("/v1/migrations/%s/finish", r->id);
    podvm_peer_call_async(r->peer, "POST", path, NULL, NULL, finish_cb, r);
}

/* ---- anything else: undo, the pod runs here ------------------------------ */

static void
abort_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recovery *r = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer = podvm_peer_call_finish(r->peer, result, &error);

    if (error != NULL)
        pod_log(r->pod, G_LOG_LEVEL_MESSAGE,
                "pod '%s': the target could not be told to drop the migration: %s",
                r->pod->spec->name, error->message);
    recovery_end(r);
}

static void
undone(Recovery *r, const char *qemu_status)
{
    PodvmPod *self = r->pod;
    const char *why = _("podvmd restarted during the migration");
    g_autofree char *path = NULL;

    g_clear_pointer(&self->migration_record, json_object_unref);
    if (podvm_phase_has_qemu(self->phase))
        pod_set_phase(
            self, g_strcmp0(qemu_status, "running") == 0 ? PODVM_PHASE_RUNNING : PODVM_PHASE_PAUSED,
            "MigrationFailed", why);
    else
        pod_save_or_log(self, PODVM_STORE_DURABLE);
    if (r->peer == NULL || r->id == NULL) {
        recovery_end(r);
        return;
    }
    path = g_strdup_printf("/v1/migrations/%s", r->id);
    podvm_peer_call_async(r->peer, "DELETE", path, NULL, NULL, abort_cb, r);
}

static void
status_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recovery *r = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    const char *status =
        reply != NULL && JSON_NODE_HOLDS_OBJECT(reply)
            ? json_object_get_string_member_with_default(json_node_get_object(reply), "status", "")
            : "";

    /* Not completed (query-migrate said so): a guest paused for it runs again. */
    if (!g_str_equal(status, "running") && !r->was_paused && reply != NULL &&
        !g_str_equal(status, "shutdown") && !g_str_equal(status, "internal-error") &&
        !g_str_equal(status, "guest-panicked")) {
        pod_log(r->pod, G_LOG_LEVEL_MESSAGE, "pod '%s': resuming the guest (QEMU status %s)",
                r->pod->spec->name, status);
        pod_qmp_execute(r->pod->qmp, "cont", NULL, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                        pod_qmp_ignore_reply_cb, g_strdup("cont"));
        status = "running";
    }
    undone(r, status);
}

/* migrate_cancel, every mirror of ours force-cancelled, their NBD nodes deleted; then status. */
static void
undo_qemu(Recovery *r)
{
    PodvmPod *self = r->pod;

    pod_qmp_execute(self->qmp, "migrate_cancel", NULL, PODVM_QMP_TIMEOUT_DEFAULT, NULL,
                    pod_qmp_ignore_reply_cb, g_strdup("migrate_cancel"));
    for (guint i = 0; i < self->spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(self->spec->disks, i);
        g_autoptr(JsonObject) cancel = json_object_new();
        g_autoptr(JsonObject) del = json_object_new();
        g_autofree char *node = podvm_qemu_disk_node_name(disk->name, TRUE);
        g_autofree char *job_id = g_strdup_printf("mig-%s", disk->name);
        g_autofree char *nbd_node = g_strdup_printf("n%s", node + 1);

        json_object_set_string_member(cancel, "device", job_id);
        json_object_set_boolean_member(cancel, "force", TRUE);
        pod_qmp_execute(self->qmp, "block-job-cancel", cancel, PODVM_QMP_TIMEOUT_DEFAULT, NULL,
                        pod_qmp_ignore_reply_cb, g_strdup("block-job-cancel"));
        json_object_set_string_member(del, "node-name", nbd_node);
        pod_qmp_execute(self->qmp, "blockdev-del", del, PODVM_QMP_TIMEOUT_DEFAULT, NULL,
                        pod_qmp_ignore_reply_cb, g_strdup("blockdev-del"));
    }
    /* QEMU answers in order: the status comes after the undoing. */
    pod_qmp_execute(self->qmp, "query-status", NULL, PODVM_QMP_TIMEOUT_QUERY, NULL, status_cb, r);
}

static void
migrate_status_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Recovery *r = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    const char *status = reply != NULL && JSON_NODE_HOLDS_OBJECT(reply)
                             ? json_object_get_string_member_with_default(
                                   json_node_get_object(reply), "status", "none")
                             : "none";

    pod_log(r->pod, G_LOG_LEVEL_INFO, "pod '%s': after the restart QEMU's migration is %s",
            r->pod->spec->name, status);
    if (g_str_equal(status, "completed")) {
        recover_completed(r);
        return;
    }
    undo_qemu(r);
}

void
pod_migration_source_recover(PodvmPod *self, GTask *task, void (*done)(PodvmPod *, GTask *))
{
    Recovery *r = g_new0(Recovery, 1);
    JsonObject *record = self->migration_record;
    const char *phase = json_object_get_string_member_with_default(record, "phase", "");
    g_autoptr(GError) error = NULL;

    r->pod = g_object_ref(self);
    r->task = g_object_ref(task);
    r->done = done;
    r->id = g_strdup(json_object_get_string_member_with_default(record, "id", NULL));
    r->was_paused = json_object_get_boolean_member_with_default(record, "wasPaused", FALSE);
    r->peer = mig_peer_from_record(self, &error);
    if (r->peer == NULL) {
        r->message = g_strdup(error->message);
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': its migration's target: %s", self->spec->name,
                error->message);
    }
    pod_log(self, G_LOG_LEVEL_MESSAGE,
            "pod '%s': podvmd restarted during its migration (phase %s); deciding from QEMU",
            self->spec->name, phase);
    if (g_str_equal(phase, MIG_PHASE_FINISHING)) {
        /* The target said it runs the pod: only this copy's end was left to do. */
        migrated_away(r);
        return;
    }
    if (g_str_equal(phase, MIG_PHASE_COMPLETED)) {
        recover_completed(r);
        return;
    }
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        /* QEMU went with podvmd (or after): nothing to undo but the target's copy. */
        undone(r, NULL);
        return;
    }
    pod_qmp_execute(self->qmp, "query-migrate", NULL, PODVM_QMP_TIMEOUT_QUERY, NULL,
                    migrate_status_cb, r);
}
