/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pod's guest agent, as KubeVirt's subresources: GET
 * /v1/pods/NAME/guestosinfo, POST /v1/pods/NAME/freeze and /unfreeze.
 */
#include "podvm-rest-private.h"

static void
guest_os_info_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) info = podvm_pod_guest_os_info_finish(PODVM_POD(source), result, &error);

    if (info == NULL)
        podvm_rest_respond_error(req, error);
    else
        podvm_rest_respond_json(req, SOUP_STATUS_OK, info);
    podvm_rest_resume(req);
}

void
podvm_rest_handle_guest_os_info(Request *req)
{
    if (!podvm_rest_lookup_pod(req))
        return;
    soup_server_message_pause(req->msg);
    podvm_pod_guest_os_info_async(req->pod, NULL, guest_os_info_cb, podvm_rest_request_ref(req));
}

static void
freeze_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autofree char *status = podvm_pod_freeze_finish(PODVM_POD(source), result, &error);
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(JsonObject) object = NULL;

    if (status == NULL) {
        podvm_rest_respond_error(req, error);
    } else {
        object = json_object_new();
        json_object_set_string_member(object, "fsFreezeStatus", status);
        answer = json_node_init_object(json_node_alloc(), object);
        podvm_rest_respond_json(req, SOUP_STATUS_OK, answer);
    }
    podvm_rest_resume(req);
}

static void
freeze(Request *req, gboolean frozen)
{
    if (!podvm_rest_lookup_pod(req))
        return;
    soup_server_message_pause(req->msg);
    podvm_pod_freeze_async(req->pod, frozen, NULL, freeze_cb, podvm_rest_request_ref(req));
}

void
podvm_rest_handle_freeze(Request *req)
{
    freeze(req, TRUE);
}

void
podvm_rest_handle_unfreeze(Request *req)
{
    freeze(req, FALSE);
}
