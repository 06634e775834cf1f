/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the target's entry points (the peer API; README "Live
 * migration"): an offer from another podvmd becomes an Incoming pod here.
 * The manager checks the offer against this host (a name or uid taken,
 * too many migrations at once, the spec against podvmd.conf) and finds a
 * migration by its id; the pod does the work (podvm-pod-incoming.c).
 */
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-manager-private.h"
#include "migration/podvm-migration-doc.h"

/* The pod of migration @id (an Incoming pod, or one that ran from one), or NULL. */
static PodvmPod *
incoming_lookup(PodvmManager *self, const char *id, GError **error)
{
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("no migration '%s' here"),
                id != NULL ? id : "");
    return NULL;
}

/* Migrations in or out that hold a pod here. */
static guint
count_migrations(PodvmManager *self)
{
    return 0;
}

/*
 * The pod the offer carries, parsed as a spec (with its uid), checked
 * against this host, and refused when its name or uid is taken here.
 */
static PodvmSpec *
offer_spec(PodvmManager *self, const char *data, gssize length, GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(GPtrArray) pods = NULL;
    JsonObject *offer;
    JsonNode *pod;

    if (length < 0)
        length = (gssize)strlen(data);
    if (length > PODVM_MIGRATION_MAX_DOC) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the offer is larger than %d bytes"), PODVM_MIGRATION_MAX_DOC);
        return NULL;
    }
    root = podvm_json_parse(data, length, &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the offer is not valid JSON: %s"), local->message);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the offer must be a JSON object"));
        return NULL;
    }
    offer = json_node_get_object(root);
    if (json_object_get_int_member_with_default(offer, "version", 0) !=
        PODVM_MIGRATION_DOC_VERSION) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("\"version\": this podvmd speaks version %d of the migration documents"),
                    PODVM_MIGRATION_DOC_VERSION);
        return NULL;
    }
    pod = json_object_get_member(offer, "pod");
    if (pod == NULL || !JSON_NODE_HOLDS_OBJECT(pod)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"pod\" must be the pod as an object"));
        return NULL;
    }
    spec = podvm_spec_parse_node(pod, NULL, error);
    if (spec == NULL) {
        g_prefix_error(error, _("\"pod\": "));
        return NULL;
    }
    if (spec->uid == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"pod\": metadata.uid is required (the pod keeps it)"));
        return NULL;
    }
    if (!manager_check_spec(self, spec, NULL, error)) {
        g_prefix_error(error, _("the pod does not fit this host: "));
        return NULL;
    }
    if (manager_has_pod(self, spec->name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS, _("pod '%s' already exists here"),
                    spec->name);
        return NULL;
    }
    pods = podvm_manager_list(self);
    for (guint i = 0; i < pods->len; i++) {
        PodvmPod *other = g_ptr_array_index(pods, i);

        if (g_strcmp0(podvm_pod_get_uid(other), spec->uid) == 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                        _("a pod with uid %s already exists here ('%s')"), spec->uid,
                        podvm_pod_get_name(other));
            return NULL;
        }
    }
    if (count_migrations(self) >= podvm_manager_get_config(self)->migration_max_parallel) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("this host already runs %u migration(s) ([migration] max_parallel)"),
                    podvm_manager_get_config(self)->migration_max_parallel);
        return NULL;
    }
    return g_steal_pointer(&spec);
}

void
podvm_manager_incoming_create_async(PodvmManager *self, const char *offer, gssize length,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(PodvmSpec) spec = NULL;
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_manager_incoming_create_async);
    spec = offer_spec(self, offer, length, &error);
    if (spec == NULL) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                            _("pod '%s' cannot be received: incoming migrations are not yet "
                              "supported"),
                            spec->name);
}

JsonNode *
podvm_manager_incoming_create_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

JsonNode *
podvm_manager_incoming_status(PodvmManager *self, const char *id, GError **error)
{
    if (incoming_lookup(self, id, error) == NULL)
        return NULL;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                _("incoming migrations are not yet supported"));
    return NULL;
}

void
podvm_manager_incoming_finish_async(PodvmManager *self, const char *id, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_manager_incoming_finish_async);
    if (incoming_lookup(self, id, &error) == NULL) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                            _("incoming migrations are not yet supported"));
}

JsonNode *
podvm_manager_incoming_finish_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
podvm_manager_incoming_abort(PodvmManager *self, const char *id, GError **error)
{
    if (incoming_lookup(self, id, error) == NULL)
        return FALSE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                _("incoming migrations are not yet supported"));
    return FALSE;
}

gboolean
podvm_manager_incoming_check_stream(PodvmManager *self, const char *id, const char *secret,
                                    const char *channel, GError **error)
{
    if (incoming_lookup(self, id, error) == NULL)
        return FALSE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                _("incoming migrations are not yet supported"));
    return FALSE;
}

void
podvm_manager_incoming_take_stream(PodvmManager *self, const char *id, const char *channel,
                                   GIOStream *stream)
{
    /* Nothing takes it yet: closed, so the peer sees the end at once. */
    g_io_stream_close(stream, NULL, NULL);
}
