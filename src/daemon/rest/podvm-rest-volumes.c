/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /v1/volumes: list, create, get, delete.
 */
#include "podvm-rest-private.h"

void
podvm_rest_handle_list_volumes(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(req->front->manager, &error);
    g_autoptr(JsonNode) list = NULL;

    if (pool == NULL) {
        podvm_rest_respond_error(req, error);
        return;
    }
    list = podvm_volume_pool_list_json(pool);
    podvm_rest_respond_json(req, SOUP_STATUS_OK, list);
}

void
podvm_rest_handle_get_volume(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(req->front->manager, &error);
    g_autoptr(JsonNode) volume = NULL;

    if (pool != NULL)
        volume = podvm_volume_pool_get_json(pool, req->name, &error);
    if (volume == NULL) {
        podvm_rest_respond_error(req, error);
        return;
    }
    podvm_rest_respond_json(req, SOUP_STATUS_OK, volume);
}

void
podvm_rest_handle_delete_volume(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(req->front->manager, &error);
    g_autoptr(JsonNode) done = NULL;

    if (pool == NULL || !podvm_volume_pool_delete(pool, req->name, &error)) {
        podvm_rest_respond_error(req, error);
        return;
    }
    done = json_from_string("{}", NULL);
    podvm_rest_respond_json(req, SOUP_STATUS_OK, done);
}

static void
volume_created_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) volume = NULL;

    volume = podvm_manager_create_volume_finish(PODVM_MANAGER(source), result, &error);
    if (volume == NULL) {
        podvm_rest_respond_error(req, error);
    } else {
        JsonObject *object = json_node_get_object(volume);
        g_autofree char *location =
            g_strconcat("/v1/volumes", "/",
                        json_object_get_string_member_with_default(object, "name", ""), NULL);
        soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Location",
                                     location);
        podvm_rest_respond_json(req, SOUP_STATUS_CREATED, volume);
    }
    podvm_rest_resume(req);
}

/*
 * POST /v1/volumes {"name", "size" (a quantity: "10Gi" or bytes), "from"
 * (host file or http(s) URL), "sha256"}: 201 with the volume once Ready.
 */
void
podvm_rest_handle_create_volume(Request *req)
{
    g_autoptr(JsonObject) body = NULL;
    gboolean ok;

    body = podvm_rest_optional_object_body(req, &ok);
    if (!ok)
        return;
    soup_server_message_pause(req->msg);
    podvm_manager_create_volume_from_json_async(req->front->manager, body, NULL, volume_created_cb,
                                                podvm_rest_request_ref(req));
}
