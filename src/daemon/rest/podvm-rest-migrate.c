/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pod's live migration, the source's side (README "Live migration"):
 * POST /v1/pods/NAME/migrate (the request as body; ?wait=false) and
 * DELETE /v1/pods/NAME/migrate (cancel). The peer API that the target
 * answers (/v1/migrations...) is another file's.
 */
#include "podvm-rest-private.h"

static void
migrate_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer =
        podvm_manager_migrate_finish(PODVM_MANAGER(source), result, &error);

    if (answer == NULL)
        podvm_rest_respond_error(req, error);
    else
        podvm_rest_respond_json(req, SOUP_STATUS_OK, answer);
    podvm_rest_resume(req);
}

static void
migrate_nowait_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *name = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer =
        podvm_manager_migrate_finish(PODVM_MANAGER(source), result, &error);

    /* Nobody waits for the answer: the event stream has told the story. */
    if (answer == NULL)
        g_debug("pod '%s': migration requested over REST failed: %s", name, error->message);
}

/*
 * POST /v1/pods/NAME/migrate {"target", ...}: 200 with the result once the
 * pod runs on the target; with ?wait=false 202 and the pod at once, after
 * the request was checked (the same errors as when waiting).
 */
void
podvm_rest_handle_migrate(Request *req)
{
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) doc = NULL;
    gboolean wait;
    gboolean ok;

    if (!podvm_rest_query_boolean(req, "wait", TRUE, &wait))
        return;
    body = podvm_rest_optional_object_body(req, &ok);
    if (!ok)
        return;
    if (wait) {
        soup_server_message_pause(req->msg);
        podvm_manager_migrate_async(req->front->manager, req->name, body, NULL, migrate_done_cb,
                                    podvm_rest_request_ref(req));
        return;
    }
    if (!podvm_manager_migrate_check(req->front->manager, req->name, body, &error) ||
        !podvm_rest_lookup_pod(req)) {
        if (error != NULL)
            podvm_rest_respond_error(req, error);
        return;
    }
    /* The pod's document now, before the migration can take it away. */
    doc = podvm_pod_to_json(req->pod);
    podvm_manager_migrate_async(req->front->manager, req->name, body, NULL, migrate_nowait_done_cb,
                                g_strdup(req->name));
    podvm_rest_respond_json(req, SOUP_STATUS_ACCEPTED, doc);
}

/*
 * DELETE /v1/pods/NAME/migrate: 202 with the pod; the migration winds down
 * and its POST (if one waits) answers with the reason. 404 when none runs.
 */
void
podvm_rest_handle_cancel_migration(Request *req)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) doc = NULL;

    if (!podvm_rest_lookup_pod(req))
        return;
    if (!podvm_manager_cancel_migration(req->front->manager, req->name, &error)) {
        podvm_rest_respond_error(req, error);
        return;
    }
    doc = podvm_pod_to_json(req->pod);
    podvm_rest_respond_json(req, SOUP_STATUS_ACCEPTED, doc);
}
