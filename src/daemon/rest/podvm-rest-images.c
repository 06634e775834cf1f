/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /v1/images: the image store app pods and containerDisks share.
 * GET lists, POST {"reference"} pulls (?wait=false: 202 at once, the
 * "image-pull" events tell the rest), DELETE /v1/images/REF removes (REF
 * URL-escaped, docker.io%2Flibrary%2Fredis%3Alatest, or as it is, or a
 * digest; ?force=true while pods use it), POST /v1/images/prune prunes.
 */
#include "podvm-rest-private.h"

#include "podvm-json.h"

void
podvm_rest_handle_list_images(Request *req)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) list = podvm_manager_list_images(req->front->manager, &error);

    if (list == NULL) {
        podvm_rest_respond_error(req, error);
        return;
    }
    podvm_rest_respond_json(req, SOUP_STATUS_OK, list);
}

static void
image_pulled_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) image = NULL;

    image = podvm_manager_pull_image_finish(PODVM_MANAGER(source), result, &error);
    if (image == NULL)
        podvm_rest_respond_error(req, error);
    else
        podvm_rest_respond_json(req, SOUP_STATUS_OK, image);
    podvm_rest_resume(req);
}

static void
image_pulled_nowait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *reference = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) image = NULL;

    /* Nobody waits for the answer: the event stream has told the story. */
    image = podvm_manager_pull_image_finish(PODVM_MANAGER(source), result, &error);
    if (image == NULL)
        g_debug("pull of '%s' requested over REST failed: %s", reference, error->message);
}

/*
 * POST /v1/images {"reference": "docker://..." or a bare reference}: 200
 * with the image once it is stored; ?wait=false: 202 {"reference"} at once.
 */
void
podvm_rest_handle_pull_image(Request *req)
{
    g_autoptr(JsonObject) body = NULL;
    JsonObjectIter iter;
    const char *member;
    JsonNode *value;
    const char *reference = NULL;
    gboolean wait;
    gboolean ok;

    if (!podvm_rest_query_boolean(req, "wait", TRUE, &wait))
        return;
    body = podvm_rest_optional_object_body(req, &ok);
    if (!ok)
        return;
    if (body != NULL) {
        json_object_iter_init(&iter, body);
        while (json_object_iter_next(&iter, &member, &value)) {
            if (!g_str_equal(member, "reference")) {
                podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                             _("%s: unknown member; the body is {\"reference\"}"),
                                             member);
                return;
            }
            if (!JSON_NODE_HOLDS_VALUE(value) || json_node_get_value_type(value) != G_TYPE_STRING) {
                podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                             _("reference: must be a string"));
                return;
            }
            reference = json_node_get_string(value);
        }
    }
    if (reference == NULL) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("reference: required (docker://REPO:TAG or REPO:TAG)"));
        return;
    }
    if (wait) {
        soup_server_message_pause(req->msg);
        podvm_manager_pull_image_async(req->front->manager, reference, NULL, image_pulled_cb,
                                       podvm_rest_request_ref(req));
        return;
    }
    podvm_manager_pull_image_async(req->front->manager, reference, NULL, image_pulled_nowait_cb,
                                   g_strdup(reference));
    {
        g_autoptr(JsonObject) answer = json_object_new();
        g_autoptr(JsonNode) node = NULL;

        json_object_set_string_member(answer, "reference", reference);
        node = json_node_init_object(json_node_alloc(), answer);
        podvm_rest_respond_json(req, SOUP_STATUS_ACCEPTED, node);
    }
}

/*
 * DELETE /v1/images/{reference or digest, URL-escaped or not}[?force=true]:
 * 200 {}.
 */
void
podvm_rest_handle_remove_image(Request *req)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) done = NULL;
    gboolean force;

    if (!podvm_rest_query_boolean(req, "force", FALSE, &force))
        return;
    /* The route's {image}: the rest of the path, decoded by libsoup. */
    if (!podvm_manager_remove_image(req->front->manager, req->item, force, &error)) {
        podvm_rest_respond_error(req, error);
        return;
    }
    done = json_from_string("{}", NULL);
    podvm_rest_respond_json(req, SOUP_STATUS_OK, done);
}

static void
images_pruned_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) answer = NULL;

    answer = podvm_manager_prune_images_finish(PODVM_MANAGER(source), result, &error);
    if (answer == NULL)
        podvm_rest_respond_error(req, error);
    else
        podvm_rest_respond_json(req, SOUP_STATUS_OK, answer);
    podvm_rest_resume(req);
}

/* POST /v1/images/prune: 200 {"removed", "freedBytes", ...}. */
void
podvm_rest_handle_prune_images(Request *req)
{
    soup_server_message_pause(req->msg);
    podvm_manager_prune_images_async(req->front->manager, NULL, images_pruned_cb,
                                     podvm_rest_request_ref(req));
}
