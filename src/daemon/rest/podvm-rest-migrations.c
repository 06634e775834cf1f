/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /v1/migrations: the peer API of live migration, the target's side
 * (README "Live migration"). Another podvmd offers a pod (POST), asks how
 * it goes (GET), makes it run here (finish) or gives up (DELETE), and
 * carries QEMU's migration and NBD channels over upgraded connections
 * (GET .../stream?channel=..., answered 101, then raw bytes the core
 * relays to QEMU's unix sockets).
 */
#include "podvm-rest-private.h"

#include <string.h>

#include "migration/podvm-migration-doc.h"

static void
create_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer =
        podvm_manager_incoming_create_finish(PODVM_MANAGER(source), result, &error);

    if (answer == NULL) {
        podvm_rest_respond_error(req, error);
    } else {
        JsonObject *object = JSON_NODE_HOLDS_OBJECT(answer) ? json_node_get_object(answer) : NULL;
        const char *id =
            object != NULL ? json_object_get_string_member_with_default(object, "id", NULL) : NULL;

        if (id != NULL) {
            g_autofree char *location = g_strconcat("/v1/migrations/", id, NULL);
            soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                         "Location", location);
        }
        podvm_rest_respond_json(req, SOUP_STATUS_CREATED, answer);
    }
    podvm_rest_resume(req);
}

/* POST /v1/migrations (an offer): 201 with the answer once QEMU listens. */
void
podvm_rest_handle_create_migration(Request *req)
{
    g_autoptr(GBytes) body = podvm_rest_request_body(req);
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);

    soup_server_message_pause(req->msg);
    podvm_manager_incoming_create_async(req->front->manager, size > 0 ? data : "", (gssize)size,
                                        NULL, create_done_cb, podvm_rest_request_ref(req));
}

/* GET /v1/migrations/ID: its status. */
void
podvm_rest_handle_get_migration(Request *req)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) status =
        podvm_manager_incoming_status(req->front->manager, req->name, &error);

    if (status == NULL)
        podvm_rest_respond_error(req, error);
    else
        podvm_rest_respond_json(req, SOUP_STATUS_OK, status);
}

static void
finish_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) status =
        podvm_manager_incoming_finish_finish(PODVM_MANAGER(source), result, &error);

    if (status == NULL)
        podvm_rest_respond_error(req, error);
    else
        podvm_rest_respond_json(req, SOUP_STATUS_OK, status);
    podvm_rest_resume(req);
}

/* POST /v1/migrations/ID/finish: 200 with the status once the pod runs here. */
void
podvm_rest_handle_finish_migration(Request *req)
{
    soup_server_message_pause(req->msg);
    podvm_manager_incoming_finish_async(req->front->manager, req->name, NULL, finish_done_cb,
                                        podvm_rest_request_ref(req));
}

/* DELETE /v1/migrations/ID: 204 once torn down. */
void
podvm_rest_handle_delete_migration(Request *req)
{
    g_autoptr(GError) error = NULL;

    if (!podvm_manager_incoming_abort(req->front->manager, req->name, &error)) {
        podvm_rest_respond_error(req, error);
        return;
    }
    soup_server_message_set_status(req->msg, SOUP_STATUS_NO_CONTENT, NULL);
}

/* ---- the stream upgrade ----------------------------------------------------------------- */

typedef struct {
    PodvmManager *manager; /* owned */
    char *id;
    char *channel;
} StreamHandover;

static void
handover_free(StreamHandover *handover)
{
    g_object_unref(handover->manager);
    g_free(handover->id);
    g_free(handover->channel);
    g_free(handover);
}

static void stream_upgraded_cb(SoupServerMessage *msg, gpointer user_data);

/* The client went away before the upgrade: nothing to hand over. */
static void
stream_unused_cb(SoupServerMessage *msg, gpointer user_data)
{
    StreamHandover *handover = user_data;

    g_signal_handlers_disconnect_by_func(msg, stream_upgraded_cb, handover);
    g_signal_handlers_disconnect_by_func(msg, stream_unused_cb, handover);
    handover_free(handover);
}

/* The 101 answer is out: the connection goes to the core, which relays it to QEMU. */
static void
stream_upgraded_cb(SoupServerMessage *msg, gpointer user_data)
{
    StreamHandover *handover = user_data;
    g_autoptr(GIOStream) stream = NULL;

    /* Ours from now on: no idle deadline of the HTTP connection applies. */
    g_object_set_data(G_OBJECT(msg), "podvm-rest-stolen", GINT_TO_POINTER(1));
    podvm_rest_deadline_disarm(msg);
    g_signal_handlers_disconnect_by_func(msg, stream_upgraded_cb, handover);
    g_signal_handlers_disconnect_by_func(msg, stream_unused_cb, handover);
    stream = soup_server_message_steal_connection(msg);
    if (stream != NULL)
        podvm_manager_incoming_take_stream(handover->manager, handover->id, handover->channel,
                                           stream);
    handover_free(handover);
}

/* Whether the comma-separated header @value holds @token (case-insensitive). */
static gboolean
header_has_token(const char *value, const char *token)
{
    g_auto(GStrv) parts = NULL;

    if (value == NULL)
        return FALSE;
    parts = g_strsplit(value, ",", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        if (g_ascii_strcasecmp(g_strstrip(parts[i]), token) == 0)
            return TRUE;
    }
    return FALSE;
}

/*
 * GET /v1/migrations/ID/stream?channel=CHANNEL: an HTTP/1.1 upgrade to
 * "podvm-migration/1" carrying the migration's secret; 101, then the
 * connection is QEMU's channel.
 */
void
podvm_rest_handle_migration_stream(Request *req)
{
    SoupMessageHeaders *request_headers = soup_server_message_get_request_headers(req->msg);
    SoupMessageHeaders *response_headers = soup_server_message_get_response_headers(req->msg);
    const char *channel = podvm_rest_query_get(req, "channel");
    const char *secret =
        soup_message_headers_get_one(request_headers, PODVM_MIGRATION_SECRET_HEADER);
    g_autoptr(GError) error = NULL;
    StreamHandover *handover;

    if (!header_has_token(soup_message_headers_get_list(request_headers, "Connection"),
                          "Upgrade") ||
        !header_has_token(soup_message_headers_get_list(request_headers, "Upgrade"),
                          PODVM_MIGRATION_UPGRADE)) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("a migration stream is an upgrade to %s (headers "
                                       "\"Connection: Upgrade\" and \"Upgrade: %s\")"),
                                     PODVM_MIGRATION_UPGRADE, PODVM_MIGRATION_UPGRADE);
        return;
    }
    if (channel == NULL) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("query parameter 'channel' is required"));
        return;
    }
    if (!podvm_manager_incoming_check_stream(req->front->manager, req->name, secret, channel,
                                             &error)) {
        podvm_rest_respond_error(req, error);
        return;
    }
    soup_server_message_set_status(req->msg, SOUP_STATUS_SWITCHING_PROTOCOLS, NULL);
    soup_message_headers_replace(response_headers, "Upgrade", PODVM_MIGRATION_UPGRADE);
    soup_message_headers_replace(response_headers, "Connection", "Upgrade");
    handover = g_new0(StreamHandover, 1);
    handover->manager = g_object_ref(req->front->manager);
    handover->id = g_strdup(req->name);
    handover->channel = g_strdup(channel);
    g_signal_connect(req->msg, "wrote-informational", G_CALLBACK(stream_upgraded_cb), handover);
    g_signal_connect(req->msg, "finished", G_CALLBACK(stream_unused_cb), handover);
}
