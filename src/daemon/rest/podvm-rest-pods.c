/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /v1/pods: list, create, get, replace; operations (start, stop, ..., delete,
 * ?wait=false); disks; the QMP passthrough.
 */
#include "podvm-rest-private.h"

#include "podvm-labels.h"

/* A label selector (podvm-labels.h); NULL after answering 400. */
static PodvmLabelSelector *
parse_label_selector(Request *req, const char *text)
{
    g_autoptr(GError) error = NULL;
    PodvmLabelSelector *selector = podvm_label_selector_parse(text, &error);

    if (selector == NULL)
        podvm_rest_respond_error(req, error);
    return selector;
}

/* ---- pods ------------------------------------------------------------------------ */

/* GET /v1/pods[?labelSelector=...]: the core's cached answer, sent without a copy. */
void
podvm_rest_handle_list_pods(Request *req)
{
    const char *text = podvm_rest_query_get(req, "labelSelector");
    g_autoptr(PodvmLabelSelector) selector = NULL;
    g_autoptr(GBytes) answer = NULL;

    if (text != NULL) {
        selector = parse_label_selector(req, text);
        if (selector == NULL)
            return;
    }
    answer = podvm_manager_list_text(req->front->manager, selector, PODVM_LIST_PRETTY);
    podvm_rest_respond_bytes(req, SOUP_STATUS_OK, "application/json", answer);
}

void
podvm_rest_handle_create_pod(Request *req)
{
    g_autoptr(GBytes) body = podvm_rest_request_body(req);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) doc = NULL;
    g_autofree char *location = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);
    PodvmPod *pod;

    pod = podvm_manager_create_pod(req->front->manager, size > 0 ? data : "", (gssize)size,
                                   &problems, &error);
    if (pod == NULL) {
        podvm_rest_respond_error_with_problems(req, error, problems);
        return;
    }
    location = g_strconcat("/v1/pods/", podvm_pod_get_name(pod), NULL);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Location",
                                 location);
    doc = podvm_pod_to_json(pod);
    podvm_rest_respond_json(req, SOUP_STATUS_CREATED, doc);
}

void
podvm_rest_handle_get_pod(Request *req)
{
    g_autoptr(JsonNode) doc = NULL;
    gboolean secrets;

    /* Secrets are hidden unless an admin asks for them (?secrets=true). */
    if (!podvm_rest_query_boolean(req, "secrets", FALSE, &secrets) ||
        (secrets && !podvm_rest_require_admin(req, "GET /v1/pods/NAME?secrets=true")) ||
        !podvm_rest_lookup_pod(req))
        return;
    doc = secrets ? podvm_pod_to_json_with_secrets(req->pod) : podvm_pod_to_json(req->pod);
    podvm_rest_respond_json(req, SOUP_STATUS_OK, doc);
}

/* ---- disks -------------------------------------------------------------------------------- */

static void op_done_cb(GObject *source, GAsyncResult *result, gpointer user_data);

/* POST /v1/pods/NAME/disks {"disk": ..., "volume": ...}: 200 with the pod once attached. */
void
podvm_rest_handle_attach_disk(Request *req)
{
    g_autoptr(GBytes) body = podvm_rest_request_body(req);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);

    if (!podvm_rest_lookup_pod(req))
        return;
    if (!podvm_manager_parse_attachment(req->front->manager, size > 0 ? data : "", (gssize)size,
                                        &disk, &volume, &problems, &error)) {
        podvm_rest_respond_error_with_problems(req, error, problems);
        return;
    }
    soup_server_message_pause(req->msg);
    podvm_pod_attach_disk_async(req->pod, disk, volume, NULL, op_done_cb,
                                podvm_rest_request_ref(req));
}

/* DELETE /v1/pods/NAME/disks/DISK: 200 with the pod once the guest let go. */
void
podvm_rest_handle_detach_disk(Request *req)
{
    if (!podvm_rest_lookup_pod(req))
        return;
    soup_server_message_pause(req->msg);
    podvm_pod_detach_disk_async(req->pod, req->item, NULL, op_done_cb, podvm_rest_request_ref(req));
}

/* ---- interfaces ---------------------------------------------------------------------------- */

/* POST /v1/pods/NAME/interfaces {"interface": ..., "network": ...}: 200 with the pod once attached.
 */
void
podvm_rest_handle_attach_interface(Request *req)
{
    g_autoptr(GBytes) body = podvm_rest_request_body(req);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);

    if (!podvm_rest_lookup_pod(req))
        return;
    if (!podvm_manager_parse_interface_attachment(req->front->manager, size > 0 ? data : "",
                                                  (gssize)size, &iface, &network, &problems,
                                                  &error)) {
        podvm_rest_respond_error_with_problems(req, error, problems);
        return;
    }
    soup_server_message_pause(req->msg);
    podvm_pod_attach_interface_async(req->pod, iface, network, NULL, op_done_cb,
                                     podvm_rest_request_ref(req));
}

/* DELETE /v1/pods/NAME/interfaces/IFACE: 200 with the pod once the guest let go. */
void
podvm_rest_handle_detach_interface(Request *req)
{
    if (!podvm_rest_lookup_pod(req))
        return;
    soup_server_message_pause(req->msg);
    podvm_pod_detach_interface_async(req->pod, req->item, NULL, op_done_cb,
                                     podvm_rest_request_ref(req));
}

/* ---- operations --------------------------------------------------------------- */

static void
op_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_run_finish(PODVM_POD(source), result, &error)) {
        podvm_rest_respond_error(req, error);
    } else {
        g_autoptr(JsonNode) doc = podvm_pod_to_json(req->pod);
        podvm_rest_respond_json(req, SOUP_STATUS_OK, doc);
    }
    podvm_rest_resume(req);
}

static void
op_nowait_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;

    /* Nobody waits for the answer: the event stream has told the story. */
    if (!podvm_pod_run_finish(PODVM_POD(source), result, &error))
        g_debug("pod '%s': operation requested over REST failed: %s",
                podvm_pod_get_name(PODVM_POD(source)), error->message);
}

/*
 * Runs @op on the request's pod: answers 200 with the pod once it reached
 * the operation's phase, or 202 at once with ?wait=false, after the
 * checks the core can make at once; a failure after that is the pod's
 * OperationFailed event.
 */
static void
run_pod_op(Request *req, PodvmPodOp op, const PodvmPodOpOptions *options)
{
    gboolean wait;

    if (!podvm_rest_query_boolean(req, "wait", TRUE, &wait) || !podvm_rest_lookup_pod(req))
        return;
    if (!wait) {
        g_autoptr(JsonNode) doc = NULL;
        g_autoptr(GError) error = NULL;

        /* What the waiting call would be refused now, this one is too (409, not 202). */
        if (!podvm_pod_op_check(req->pod, op, options, &error)) {
            podvm_rest_respond_error(req, error);
            return;
        }
        podvm_pod_run_async(req->pod, op, options, NULL, op_nowait_done_cb, NULL);
        doc = podvm_pod_to_json(req->pod);
        podvm_rest_respond_json(req, SOUP_STATUS_ACCEPTED, doc);
        return;
    }
    soup_server_message_pause(req->msg);
    podvm_pod_run_async(req->pod, op, options, NULL, op_done_cb, podvm_rest_request_ref(req));
}

void
podvm_rest_handle_start(Request *req)
{
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;
    g_autoptr(JsonObject) body = NULL;
    gboolean ok;

    body = podvm_rest_optional_object_body(req, &ok);
    if (!ok)
        return;
    if (body != NULL && json_object_has_member(body, "debug")) {
        JsonNode *debug = json_object_get_member(body, "debug");
        if (json_node_get_value_type(debug) != G_TYPE_BOOLEAN) {
            podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                         _("\"debug\" must be true or false"));
            return;
        }
        options.debug = json_node_get_boolean(debug);
    }
    run_pod_op(req, PODVM_POD_OP_START, &options);
}

void
podvm_rest_handle_stop(Request *req)
{
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;
    g_autoptr(JsonObject) body = NULL;
    gboolean ok;

    body = podvm_rest_optional_object_body(req, &ok);
    if (!ok)
        return;
    if (body != NULL && json_object_has_member(body, "gracePeriodSeconds")) {
        JsonNode *grace = json_object_get_member(body, "gracePeriodSeconds");
        if (json_node_get_value_type(grace) != G_TYPE_INT64) {
            podvm_rest_respond_new_error(
                req, PODVM_ERROR_INVALID_ARGUMENT,
                _("\"gracePeriodSeconds\" must be a whole number of seconds"));
            return;
        }
        options.grace_seconds = json_node_get_int(grace);
    }
    run_pod_op(req, PODVM_POD_OP_STOP, &options);
}

void
podvm_rest_handle_kill(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_KILL, NULL);
}

void
podvm_rest_handle_pause(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_PAUSE, NULL);
}

void
podvm_rest_handle_resume(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_RESUME, NULL);
}

void
podvm_rest_handle_restart(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_RESTART, NULL);
}

void
podvm_rest_handle_delete(Request *req)
{
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;

    if (!podvm_rest_query_boolean(req, "force", FALSE, &options.force))
        return;
    run_pod_op(req, PODVM_POD_OP_DELETE, &options);
}

static void
qmp_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = podvm_pod_qmp_finish(PODVM_POD(source), result, &error);

    if (reply == NULL)
        podvm_rest_respond_error(req, error);
    else
        podvm_rest_respond_json(req, SOUP_STATUS_OK, reply);
    podvm_rest_resume(req);
}

void
podvm_rest_handle_qmp(Request *req)
{
    g_autoptr(GBytes) body = podvm_rest_request_body(req);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) command = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);

    if (!podvm_rest_lookup_pod(req))
        return;
    command = podvm_qmp_command_parse(size > 0 ? data : "", (gssize)size, &error);
    if (command == NULL) {
        podvm_rest_respond_error(req, error);
        return;
    }
    soup_server_message_pause(req->msg);
    podvm_pod_qmp_async(req->pod, command, NULL, qmp_done_cb, podvm_rest_request_ref(req));
}

void
podvm_rest_handle_replace_pod(Request *req)
{
    g_autoptr(GBytes) body = podvm_rest_request_body(req);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) doc = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);
    PodvmPod *pod;

    pod = podvm_manager_replace_pod(req->front->manager, req->name, size > 0 ? data : "",
                                    (gssize)size, &problems, &error);
    if (pod == NULL) {
        podvm_rest_respond_error_with_problems(req, error, problems);
        return;
    }
    doc = podvm_pod_to_json(pod);
    podvm_rest_respond_json(req, SOUP_STATUS_OK, doc);
}
