/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One request: answers (JSON, errors as {"error": {...}} with the status of
 * the one error table), query parameters, the body, the pod of the route.
 */
#include "podvm-rest-private.h"

#include <string.h>

#include "podvm-json.h"

Request *
podvm_rest_request_ref(Request *req)
{
    g_atomic_ref_count_inc(&req->ref_count);
    return req;
}

void
podvm_rest_request_unref(Request *req)
{
    if (!g_atomic_ref_count_dec(&req->ref_count))
        return;
    g_signal_handler_disconnect(req->msg, req->finished_id);
    g_clear_object(&req->pod);
    g_clear_pointer(&req->query, g_hash_table_unref);
    g_free(req->name);
    g_free(req->item);
    g_object_unref(req->msg);
    g_free(req);
}

static void
message_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
    Request *req = user_data;

    req->finished = TRUE;
}

/* A request of @front for @msg, with its reference. */
Request *
podvm_rest_request_new(PodvmRestFront *front, SoupServerMessage *msg, GHashTable *query)
{
    Request *req = g_new0(Request, 1);

    g_atomic_ref_count_init(&req->ref_count);
    req->front = front;
    req->msg = g_object_ref(msg);
    req->query = query != NULL ? g_hash_table_ref(query) : NULL;
    req->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(message_finished_cb), req);
    return req;
}

/* ---- answers -------------------------------------------------------------- */

void
podvm_rest_respond_text(Request *req, guint status, const char *content_type, char *text)
{
    soup_server_message_set_status(req->msg, status, NULL);
    soup_server_message_set_response(req->msg, content_type, SOUP_MEMORY_TAKE, text, strlen(text));
}

/* An answer shared with a cache: libsoup sends it without a copy. */
void
podvm_rest_respond_bytes(Request *req, guint status, const char *content_type, GBytes *bytes)
{
    soup_server_message_set_status(req->msg, status, NULL);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Content-Type",
                                 content_type);
    soup_message_body_append_bytes(soup_server_message_get_response_body(req->msg), bytes);
}

/* The pretty JSON text of @node and one line feed (curl output ends on its own line). */
static GString *
pretty_json(JsonNode *node)
{
    GString *text = g_string_new(NULL);

    podvm_json_append(text, node, TRUE);
    g_string_append_c(text, '\n');
    return text;
}

void
podvm_rest_respond_json(Request *req, guint status, JsonNode *node)
{
    GString *text = pretty_json(node);
    gsize length = text->len;

    soup_server_message_set_status(req->msg, status, NULL);
    soup_server_message_set_response(req->msg, "application/json", SOUP_MEMORY_TAKE,
                                     g_string_free(text, FALSE), length);
}

JsonNode *
podvm_rest_error_document(guint status, const char *reason, const char *message,
                          GPtrArray *problems)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "code");
    json_builder_add_int_value(b, status);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, reason);
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    if (problems != NULL && problems->len > 0) {
        json_builder_set_member_name(b, "details");
        json_builder_begin_array(b);
        for (guint i = 0; i < problems->len; i++) {
            PodvmSpecProblem *problem = g_ptr_array_index(problems, i);
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "path");
            json_builder_add_string_value(b, problem->path);
            json_builder_set_member_name(b, "message");
            json_builder_add_string_value(b, problem->message);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* An HTTP-level error that is not an API error code (405, 413, ...). */
void
podvm_rest_respond_http_error(Request *req, guint status, const char *reason, const char *message)
{
    g_autoptr(JsonNode) doc = podvm_rest_error_document(status, reason, message, NULL);

    podvm_rest_respond_json(req, status, doc);
}

gboolean
podvm_rest_require_admin(Request *req, const char *what)
{
    g_autofree char *message = NULL;

    if (req->role == PODVM_REST_ROLE_ADMIN)
        return TRUE;
    message = g_strdup_printf(_("%s needs the admin role, and this connection has the %s role "
                                "(RUN_DIR/api-ro.sock and [rest] read_only_token_file only "
                                "read): use RUN_DIR/api.sock or the admin token"),
                              what, podvm_rest_role_to_string(req->role));
    podvm_rest_respond_http_error(req, SOUP_STATUS_FORBIDDEN, "Forbidden", message);
    return FALSE;
}

void
podvm_rest_respond_error_with_problems(Request *req, const GError *error, GPtrArray *problems)
{
    g_autoptr(GError) ours = podvm_error_from_component(error);
    guint status = podvm_error_http_status(ours->code);
    g_autoptr(JsonNode) doc =
        podvm_rest_error_document(status, podvm_error_reason(ours->code), ours->message, problems);

    podvm_rest_respond_json(req, status, doc);
}

void
podvm_rest_respond_error(Request *req, const GError *error)
{
    podvm_rest_respond_error_with_problems(req, error, NULL);
}

void
podvm_rest_respond_new_error(Request *req, PodvmErrorCode code, const char *format, ...)
{
    g_autoptr(GError) error = NULL;
    va_list args;

    va_start(args, format);
    error = g_error_new_valist(PODVM_ERROR, code, format, args);
    va_end(args);
    podvm_rest_respond_error(req, error);
}

/* The answer of a paused request is ready: let libsoup send it. */
void
podvm_rest_resume(Request *req)
{
    if (!req->finished)
        soup_server_message_unpause(req->msg);
}

/* ---- request helpers ------------------------------------------------------ */

const char *
podvm_rest_query_get(Request *req, const char *key)
{
    /* A parameter a handler reads is one its route declares: the table is the whole truth. */
    if (req->route != NULL && !podvm_rest_route_knows_query(req->route, key))
        g_critical("REST: %s %s reads query parameter '%s' that its route table entry does not "
                   "declare",
                   req->route->method, req->route->pattern, key);
    return req->query != NULL ? g_hash_table_lookup(req->query, key) : NULL;
}

/* A boolean query parameter; FALSE after answering 400. */
gboolean
podvm_rest_query_boolean(Request *req, const char *key, gboolean fallback, gboolean *out_value)
{
    const char *text = podvm_rest_query_get(req, key);

    if (text == NULL) {
        *out_value = fallback;
        return TRUE;
    }
    if (g_str_equal(text, "true") || g_str_equal(text, "1") || text[0] == '\0') {
        *out_value = TRUE;
        return TRUE;
    }
    if (g_str_equal(text, "false") || g_str_equal(text, "0")) {
        *out_value = FALSE;
        return TRUE;
    }
    podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                 _("query parameter '%s' must be true or false, not '%s'"), key,
                                 text);
    return FALSE;
}

gboolean
podvm_rest_lookup_pod(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmPod *pod = podvm_manager_lookup(req->front->manager, req->name, &error);

    if (pod == NULL) {
        podvm_rest_respond_error(req, error);
        return FALSE;
    }
    g_set_object(&req->pod, pod);
    return TRUE;
}

/* The request body as bytes (libsoup gathered it, within PODVM_REST_MAX_BODY). */
GBytes *
podvm_rest_request_body(Request *req)
{
    SoupMessageBody *body = soup_server_message_get_request_body(req->msg);

    return soup_message_body_flatten(body);
}

/*
 * An optional JSON object body: NULL with *out_ok TRUE when there is none;
 * NULL with *out_ok FALSE after answering 400.
 */
JsonObject *
podvm_rest_optional_object_body(Request *req, gboolean *out_ok)
{
    g_autoptr(GBytes) body = podvm_rest_request_body(req);
    g_autoptr(GError) error = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);
    g_autoptr(JsonNode) root = NULL;

    *out_ok = TRUE;
    if (size == 0)
        return NULL;
    root = podvm_json_parse(data, (gssize)size, &error);
    if (root == NULL) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("the body is not valid JSON: %s"), error->message);
        *out_ok = FALSE;
        return NULL;
    }
    if (JSON_NODE_HOLDS_NULL(root))
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("the body must be a JSON object"));
        *out_ok = FALSE;
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}
