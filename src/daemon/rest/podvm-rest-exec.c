/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /v1/pods/NAME/exec {"app"?, "command": [...], "stdin"?: base64}:
 * runs a command in an app of a running app pod (podvm_manager_exec_async)
 * and answers {"exitCode", "stdout": base64, "stderr": base64,
 * "truncated"?: true} once it ended. Each output is kept up to 1 MiB; the
 * rest is read and dropped ("truncated"), so a talkative command still
 * runs to its end.
 */
#include "podvm-rest-private.h"

#include <string.h>

#define EXEC_OUTPUT_MAX (1024 * 1024)

/*
 * An output stream that keeps the first EXEC_OUTPUT_MAX bytes written to
 * it and drops the rest. Pollable and always writable, so the core writes
 * to it from the main loop (no thread).
 */
#define PODVM_TYPE_REST_CAPTURE (podvm_rest_capture_get_type())
G_DECLARE_FINAL_TYPE(PodvmRestCapture, podvm_rest_capture, PODVM, REST_CAPTURE, GOutputStream)

struct _PodvmRestCapture {
    GOutputStream parent_instance;
    GByteArray *data;
    gboolean truncated;
};

static void capture_pollable_init(GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(PodvmRestCapture, podvm_rest_capture, G_TYPE_OUTPUT_STREAM,
                              G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                    capture_pollable_init))

static gssize
capture_write(GOutputStream *stream, const void *buffer, gsize count, GCancellable *cancellable,
              GError **error)
{
    PodvmRestCapture *self = PODVM_REST_CAPTURE(stream);
    gsize room = EXEC_OUTPUT_MAX - MIN(self->data->len, EXEC_OUTPUT_MAX);
    gsize kept = MIN(count, room);

    g_byte_array_append(self->data, buffer, (guint)kept);
    if (kept < count)
        self->truncated = TRUE;
    return (gssize)count;
}

static gboolean
capture_is_writable(GPollableOutputStream *stream)
{
    return TRUE;
}

static gssize
capture_write_nonblocking(GPollableOutputStream *stream, const void *buffer, gsize count,
                          GError **error)
{
    return capture_write(G_OUTPUT_STREAM(stream), buffer, count, NULL, error);
}

static GSource *
capture_create_source(GPollableOutputStream *stream, GCancellable *cancellable)
{
    g_autoptr(GSource) base = g_timeout_source_new(0);

    return g_pollable_source_new_full(stream, base, cancellable);
}

static void
capture_pollable_init(GPollableOutputStreamInterface *iface)
{
    iface->is_writable = capture_is_writable;
    iface->create_source = capture_create_source;
    iface->write_nonblocking = capture_write_nonblocking;
}

static void
podvm_rest_capture_finalize(GObject *object)
{
    PodvmRestCapture *self = PODVM_REST_CAPTURE(object);

    g_byte_array_unref(self->data);
    G_OBJECT_CLASS(podvm_rest_capture_parent_class)->finalize(object);
}

static void
podvm_rest_capture_class_init(PodvmRestCaptureClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = podvm_rest_capture_finalize;
    G_OUTPUT_STREAM_CLASS(klass)->write_fn = capture_write;
}

static void
podvm_rest_capture_init(PodvmRestCapture *self)
{
    self->data = g_byte_array_new();
}

/* ---- the request ---------------------------------------------------------------------------- */

typedef struct {
    Request *req;
    PodvmRestCapture *out;
    PodvmRestCapture *err;
} Exec;

static void
exec_free(Exec *exec)
{
    podvm_rest_request_unref(exec->req);
    g_object_unref(exec->out);
    g_object_unref(exec->err);
    g_free(exec);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Exec, exec_free)

static void
set_base64_member(JsonObject *object, const char *member, GByteArray *data)
{
    g_autofree char *text = g_base64_encode(data->data, data->len);

    json_object_set_string_member(object, member, text);
}

static void
exec_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(Exec) exec = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) answer = NULL;
    g_autoptr(JsonNode) node = NULL;
    int exit_code = -1;

    if (!podvm_manager_exec_finish(PODVM_MANAGER(source), result, &exit_code, &error)) {
        podvm_rest_respond_error(exec->req, error);
        podvm_rest_resume(exec->req);
        return;
    }
    answer = json_object_new();
    json_object_set_int_member(answer, "exitCode", exit_code);
    set_base64_member(answer, "stdout", exec->out->data);
    set_base64_member(answer, "stderr", exec->err->data);
    if (exec->out->truncated || exec->err->truncated)
        json_object_set_boolean_member(answer, "truncated", TRUE);
    node = json_node_init_object(json_node_alloc(), answer);
    podvm_rest_respond_json(exec->req, SOUP_STATUS_OK, node);
    podvm_rest_resume(exec->req);
}

static gboolean
is_base64(const char *text)
{
    gsize length = strlen(text);
    gsize body = strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    gsize padding = strspn(text + body, "=");

    return length % 4 == 0 && body + padding == length && padding <= 2;
}

/* The body's members as the core takes them; FALSE after answering 400. */
static gboolean
decode_body(Request *req, JsonObject *body, const char **out_app, GPtrArray *argv,
            GBytes **out_stdin)
{
    JsonObjectIter iter;
    const char *member;
    JsonNode *value;
    gboolean have_command = FALSE;

    json_object_iter_init(&iter, body);
    while (json_object_iter_next(&iter, &member, &value)) {
        gboolean is_string =
            JSON_NODE_HOLDS_VALUE(value) && json_node_get_value_type(value) == G_TYPE_STRING;

        if (g_str_equal(member, "app")) {
            if (!is_string)
                goto not_string;
            *out_app = json_node_get_string(value);
        } else if (g_str_equal(member, "stdin")) {
            gsize length = 0;
            guchar *data;

            if (!is_string)
                goto not_string;
            if (!is_base64(json_node_get_string(value))) {
                podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                             _("stdin: not base64"));
                return FALSE;
            }
            data = g_base64_decode(json_node_get_string(value), &length);
            *out_stdin = g_bytes_new_take(data, length);
        } else if (g_str_equal(member, "command")) {
            JsonArray *array = JSON_NODE_HOLDS_ARRAY(value) ? json_node_get_array(value) : NULL;

            for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
                JsonNode *element = json_array_get_element(array, i);

                if (!JSON_NODE_HOLDS_VALUE(element) ||
                    json_node_get_value_type(element) != G_TYPE_STRING) {
                    array = NULL;
                    break;
                }
                g_ptr_array_add(argv, (gpointer)json_node_get_string(element));
            }
            if (array == NULL) {
                podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                             _("command: must be an array of strings"));
                return FALSE;
            }
            have_command = TRUE;
        } else {
            podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                         _("%s: unknown member; the body is {\"app\", "
                                           "\"command\", \"stdin\"}"),
                                         member);
            return FALSE;
        }
    }
    if (!have_command) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("command: required (the command and its arguments)"));
        return FALSE;
    }
    g_ptr_array_add(argv, NULL);
    return TRUE;

not_string:
    podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT, _("%s: must be a string"),
                                 member);
    return FALSE;
}

void
podvm_rest_handle_exec(Request *req)
{
    g_autoptr(JsonObject) body = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GBytes) input = NULL;
    g_autoptr(GInputStream) stdin_stream = NULL;
    const char *app = NULL;
    Exec *exec;
    gboolean ok;

    body = podvm_rest_optional_object_body(req, &ok);
    if (!ok)
        return;
    if (body == NULL) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                     _("the body is required: {\"command\": [...]}"));
        return;
    }
    if (!decode_body(req, body, &app, argv, &input))
        return;
    if (input != NULL)
        stdin_stream = g_memory_input_stream_new_from_bytes(input);

    exec = g_new0(Exec, 1);
    exec->req = podvm_rest_request_ref(req);
    exec->out = g_object_new(PODVM_TYPE_REST_CAPTURE, NULL);
    exec->err = g_object_new(PODVM_TYPE_REST_CAPTURE, NULL);
    soup_server_message_pause(req->msg);
    /* argv points into the body: the core copies what it keeps. */
    podvm_manager_exec_async(req->front->manager, req->name, app, (const char *const *)argv->pdata,
                             stdin_stream, G_OUTPUT_STREAM(exec->out), G_OUTPUT_STREAM(exec->err),
                             NULL, exec_done_cb, exec);
}
