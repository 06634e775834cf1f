/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-rest-front.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-build-config.h"
#include "podvm-error.h"
#include "podvm-host.h"
#include "podvm-json.h"
#include "podvm-labels.h"
#include "podvm-metrics.h"
#include "podvm-rest-conn.h"

/* How often a log follower looks for growth, and an event stream says it is alive. */
#define LOG_POLL_MS 250
#define SSE_KEEPALIVE_S 15
#define LOG_CHUNK (64 * 1024)
/* After a refused body: how long we read (and drop) what the client still sends. */
#define DRAIN_TIMEOUT_S 5
/* Connections the kernel queues before podvmd accepts them (SOMAXCONN is the cap). */
#define LISTEN_BACKLOG 1024

struct _PodvmRestFront {
    GObject parent_instance;

    PodvmManager *manager;
    SoupServer *server;
    char *socket_path;         /* to unlink at the end */
    GHashTable *status_counts; /* GUINT_TO_POINTER(status) -> GUINT_TO_POINTER(count) */
    GPtrArray *streams;        /* Stream*: open log and event streams */
    GBytes *token_digest;      /* SHA-256 of the TCP listener's bearer token, or NULL */
    GPtrArray *consoles;       /* Console*: open console WebSockets */
    GPtrArray *refusals;       /* Refusal*: 413 answers still draining (unowned) */
    guint request_timeout_ms;  /* 0: none */
    gsize max_client_queue;    /* bytes queued for one streaming client, at most */
    GPtrArray *scrapes;        /* Scrape*: /metrics answers waiting for the core (unowned) */
    PodvmRestConns *conns;     /* releases kept-alive connections their client closed */
};

G_DEFINE_FINAL_TYPE(PodvmRestFront, podvm_rest_front, G_TYPE_OBJECT)

/* One request, shared with the asynchronous work that answers it. */
struct _PodvmRestRequest {
    gatomicrefcount ref_count;
    PodvmRestFront *front;  /* unowned: the front ends every request it holds */
    SoupServerMessage *msg; /* owned */
    GHashTable *query;      /* owned; may be NULL */
    char *name;             /* the {name} of the route, or NULL */
    char *item;             /* the {disk} of the route, or NULL */
    PodvmPod *pod;          /* owned; set by lookup_pod() */
    gulong finished_id;
    gboolean finished; /* libsoup is done with the message */
};

typedef PodvmRestRequest Request;

static Request *
request_ref(Request *req)
{
    g_atomic_ref_count_inc(&req->ref_count);
    return req;
}

static void
request_unref(Request *req)
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

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRestRequest, request_unref)

static void
message_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
    Request *req = user_data;

    req->finished = TRUE;
}

/* ---- answers -------------------------------------------------------------- */

static void
respond_text(Request *req, guint status, const char *content_type, char *text)
{
    soup_server_message_set_status(req->msg, status, NULL);
    soup_server_message_set_response(req->msg, content_type, SOUP_MEMORY_TAKE, text, strlen(text));
}

/* An answer shared with a cache: libsoup sends it without a copy. */
static void
respond_bytes(Request *req, guint status, const char *content_type, GBytes *bytes)
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

static void
respond_json(Request *req, guint status, JsonNode *node)
{
    GString *text = pretty_json(node);
    gsize length = text->len;

    soup_server_message_set_status(req->msg, status, NULL);
    soup_server_message_set_response(req->msg, "application/json", SOUP_MEMORY_TAKE,
                                     g_string_free(text, FALSE), length);
}

static JsonNode *
error_document(guint status, const char *reason, const char *message, GPtrArray *problems)
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
static void
respond_http_error(Request *req, guint status, const char *reason, const char *message)
{
    g_autoptr(JsonNode) doc = error_document(status, reason, message, NULL);

    respond_json(req, status, doc);
}

static void
respond_error_with_problems(Request *req, const GError *error, GPtrArray *problems)
{
    g_autoptr(GError) ours = podvm_error_from_component(error);
    guint status = podvm_error_http_status(ours->code);
    g_autoptr(JsonNode) doc =
        error_document(status, podvm_error_reason(ours->code), ours->message, problems);

    respond_json(req, status, doc);
}

static void
respond_error(Request *req, const GError *error)
{
    respond_error_with_problems(req, error, NULL);
}

static void respond_new_error(Request *req, PodvmErrorCode code, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static void
respond_new_error(Request *req, PodvmErrorCode code, const char *format, ...)
{
    g_autoptr(GError) error = NULL;
    va_list args;

    va_start(args, format);
    error = g_error_new_valist(PODVM_ERROR, code, format, args);
    va_end(args);
    respond_error(req, error);
}

/* The answer of a paused request is ready: let libsoup send it. */
static void
resume(Request *req)
{
    if (!req->finished)
        soup_server_message_unpause(req->msg);
}

/* ---- request helpers ------------------------------------------------------ */

static const char *
query_get(Request *req, const char *key)
{
    return req->query != NULL ? g_hash_table_lookup(req->query, key) : NULL;
}

/* A boolean query parameter; FALSE after answering 400. */
static gboolean
query_boolean(Request *req, const char *key, gboolean fallback, gboolean *out_value)
{
    const char *text = query_get(req, key);

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
    respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                      _("query parameter '%s' must be true or false, not '%s'"), key, text);
    return FALSE;
}

static gboolean
lookup_pod(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmPod *pod = podvm_manager_lookup(req->front->manager, req->name, &error);

    if (pod == NULL) {
        respond_error(req, error);
        return FALSE;
    }
    g_set_object(&req->pod, pod);
    return TRUE;
}

/* The request body as bytes (libsoup gathered it, within PODVM_REST_MAX_BODY). */
static GBytes *
request_body(Request *req)
{
    SoupMessageBody *body = soup_server_message_get_request_body(req->msg);

    return soup_message_body_flatten(body);
}

/*
 * An optional JSON object body: NULL with *out_ok TRUE when there is none;
 * NULL with *out_ok FALSE after answering 400.
 */
static JsonObject *
optional_object_body(Request *req, gboolean *out_ok)
{
    g_autoptr(GBytes) body = request_body(req);
    g_autoptr(GError) error = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);
    g_autoptr(JsonNode) root = NULL;

    *out_ok = TRUE;
    if (size == 0)
        return NULL;
    root = podvm_json_parse(data, (gssize)size, &error);
    if (root == NULL) {
        respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT, _("the body is not valid JSON: %s"),
                          error->message);
        *out_ok = FALSE;
        return NULL;
    }
    if (JSON_NODE_HOLDS_NULL(root))
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT, _("the body must be a JSON object"));
        *out_ok = FALSE;
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

/* ---- simple routes ---------------------------------------------------------- */

static void
handle_healthz(Request *req)
{
    respond_text(req, SOUP_STATUS_OK, "text/plain", g_strdup("ok\n"));
}

static void
handle_version(Request *req)
{
    const PodvmConfig *config = podvm_manager_get_config(req->front->manager);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_string_value(b, PODVM_VERSION);
    json_builder_set_member_name(b, "qemuBinary");
    json_builder_add_string_value(b, config->qemu_binary);
    json_builder_set_member_name(b, "accelerator");
    json_builder_add_string_value(b, podvm_accel_to_string(config->accel));
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    respond_json(req, SOUP_STATUS_OK, root);
}

/* "app=web,tier" -> {app: web, tier: NULL}; NULL after answering 400. */
static GHashTable *
parse_label_selector(Request *req, const char *text)
{
    g_autoptr(GError) error = NULL;
    GHashTable *selector = podvm_label_selector_parse(text, &error);

    if (selector == NULL)
        respond_error(req, error);
    return selector;
}

/* ---- pods ------------------------------------------------------------------------ */

/* GET /v1/pods[?labelSelector=...]: the core's cached answer, sent without a copy. */
static void
handle_list_pods(Request *req)
{
    const char *text = query_get(req, "labelSelector");
    g_autoptr(GHashTable) selector = NULL;
    g_autoptr(GBytes) answer = NULL;

    if (text != NULL) {
        selector = parse_label_selector(req, text);
        if (selector == NULL)
            return;
    }
    answer = podvm_manager_list_text(req->front->manager, selector, PODVM_LIST_PRETTY);
    respond_bytes(req, SOUP_STATUS_OK, "application/json", answer);
}

static void
handle_create_pod(Request *req)
{
    g_autoptr(GBytes) body = request_body(req);
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
        respond_error_with_problems(req, error, problems);
        return;
    }
    location = g_strconcat("/v1/pods/", podvm_pod_get_name(pod), NULL);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Location",
                                 location);
    doc = podvm_pod_to_json(pod);
    respond_json(req, SOUP_STATUS_CREATED, doc);
}

static void
handle_get_pod(Request *req)
{
    g_autoptr(JsonNode) doc = NULL;
    gboolean secrets;

    /* Cloud-init data is hidden unless asked for (?secrets=true). */
    if (!query_boolean(req, "secrets", FALSE, &secrets) || !lookup_pod(req))
        return;
    doc = secrets ? podvm_pod_to_json_with_secrets(req->pod) : podvm_pod_to_json(req->pod);
    respond_json(req, SOUP_STATUS_OK, doc);
}

/* ---- disks and volumes -------------------------------------------------------- */

static void op_done_cb(GObject *source, GAsyncResult *result, gpointer user_data);

/* POST /v1/pods/NAME/disks {"disk": ..., "volume": ...}: 200 with the pod once attached. */
static void
handle_attach_disk(Request *req)
{
    g_autoptr(GBytes) body = request_body(req);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);

    if (!lookup_pod(req))
        return;
    if (!podvm_manager_parse_attachment(req->front->manager, size > 0 ? data : "", (gssize)size,
                                        &disk, &volume, &problems, &error)) {
        respond_error_with_problems(req, error, problems);
        return;
    }
    soup_server_message_pause(req->msg);
    podvm_pod_attach_disk_async(req->pod, disk, volume, NULL, op_done_cb, request_ref(req));
}

/* DELETE /v1/pods/NAME/disks/DISK: 200 with the pod once the guest let go. */
static void
handle_detach_disk(Request *req)
{
    if (!lookup_pod(req))
        return;
    soup_server_message_pause(req->msg);
    podvm_pod_detach_disk_async(req->pod, req->item, NULL, op_done_cb, request_ref(req));
}

static void
handle_list_volumes(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(req->front->manager, &error);
    g_autoptr(JsonNode) list = NULL;

    if (pool == NULL) {
        respond_error(req, error);
        return;
    }
    list = podvm_volume_pool_list_json(pool);
    respond_json(req, SOUP_STATUS_OK, list);
}

static void
handle_get_volume(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(req->front->manager, &error);
    g_autoptr(JsonNode) volume = NULL;

    if (pool != NULL)
        volume = podvm_volume_pool_get_json(pool, req->name, &error);
    if (volume == NULL) {
        respond_error(req, error);
        return;
    }
    respond_json(req, SOUP_STATUS_OK, volume);
}

static void
handle_delete_volume(Request *req)
{
    g_autoptr(GError) error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(req->front->manager, &error);
    g_autoptr(JsonNode) done = NULL;

    if (pool == NULL || !podvm_volume_pool_delete(pool, req->name, &error)) {
        respond_error(req, error);
        return;
    }
    done = json_from_string("{}", NULL);
    respond_json(req, SOUP_STATUS_OK, done);
}

static void
volume_created_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) volume = NULL;

    volume = podvm_manager_create_volume_finish(PODVM_MANAGER(source), result, &error);
    if (volume == NULL) {
        respond_error(req, error);
    } else {
        JsonObject *object = json_node_get_object(volume);
        g_autofree char *location =
            g_strconcat("/v1/volumes", "/",
                        json_object_get_string_member_with_default(object, "name", ""), NULL);
        soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Location",
                                     location);
        respond_json(req, SOUP_STATUS_CREATED, volume);
    }
    resume(req);
}

/*
 * POST /v1/volumes {"name", "size" (a quantity: "10Gi" or bytes), "from"
 * (host file or http(s) URL), "sha256"}: 201 with the volume once Ready.
 */
static void
handle_create_volume(Request *req)
{
    g_autoptr(JsonObject) body = NULL;
    gboolean ok;

    body = optional_object_body(req, &ok);
    if (!ok)
        return;
    soup_server_message_pause(req->msg);
    podvm_manager_create_volume_from_json_async(req->front->manager, body, NULL, volume_created_cb,
                                                request_ref(req));
}

/* ---- operations --------------------------------------------------------------- */

static void
op_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_run_finish(PODVM_POD(source), result, &error)) {
        respond_error(req, error);
    } else {
        g_autoptr(JsonNode) doc = podvm_pod_to_json(req->pod);
        respond_json(req, SOUP_STATUS_OK, doc);
    }
    resume(req);
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
 * the operation's phase, or 202 at once with ?wait=false.
 */
static void
run_pod_op(Request *req, PodvmPodOp op, const PodvmPodOpOptions *options)
{
    gboolean wait;

    if (!query_boolean(req, "wait", TRUE, &wait) || !lookup_pod(req))
        return;
    if (!wait) {
        g_autoptr(JsonNode) doc = NULL;
        g_autoptr(GError) error = NULL;

        if (options != NULL && !podvm_pod_op_options_check(options, &error)) {
            respond_error(req, error);
            return;
        }
        podvm_pod_run_async(req->pod, op, options, NULL, op_nowait_done_cb, NULL);
        doc = podvm_pod_to_json(req->pod);
        respond_json(req, SOUP_STATUS_ACCEPTED, doc);
        return;
    }
    soup_server_message_pause(req->msg);
    podvm_pod_run_async(req->pod, op, options, NULL, op_done_cb, request_ref(req));
}

static void
handle_start(Request *req)
{
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;
    g_autoptr(JsonObject) body = NULL;
    gboolean ok;

    body = optional_object_body(req, &ok);
    if (!ok)
        return;
    if (body != NULL && json_object_has_member(body, "debug")) {
        JsonNode *debug = json_object_get_member(body, "debug");
        if (json_node_get_value_type(debug) != G_TYPE_BOOLEAN) {
            respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                              _("\"debug\" must be true or false"));
            return;
        }
        options.debug = json_node_get_boolean(debug);
    }
    run_pod_op(req, PODVM_POD_OP_START, &options);
}

static void
handle_stop(Request *req)
{
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;
    g_autoptr(JsonObject) body = NULL;
    gboolean ok;

    body = optional_object_body(req, &ok);
    if (!ok)
        return;
    if (body != NULL && json_object_has_member(body, "gracePeriodSeconds")) {
        JsonNode *grace = json_object_get_member(body, "gracePeriodSeconds");
        if (json_node_get_value_type(grace) != G_TYPE_INT64) {
            respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                              _("\"gracePeriodSeconds\" must be a whole number of seconds"));
            return;
        }
        options.grace_seconds = json_node_get_int(grace);
    }
    run_pod_op(req, PODVM_POD_OP_STOP, &options);
}

static void
handle_kill(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_KILL, NULL);
}

static void
handle_pause(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_PAUSE, NULL);
}

static void
handle_resume(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_RESUME, NULL);
}

static void
handle_restart(Request *req)
{
    run_pod_op(req, PODVM_POD_OP_RESTART, NULL);
}

static void
handle_delete(Request *req)
{
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;

    if (!query_boolean(req, "force", FALSE, &options.force))
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
        respond_error(req, error);
    else
        respond_json(req, SOUP_STATUS_OK, reply);
    resume(req);
}

static void
handle_qmp(Request *req)
{
    g_autoptr(GBytes) body = request_body(req);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) command = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);

    if (!lookup_pod(req))
        return;
    command = podvm_qmp_command_parse(size > 0 ? data : "", (gssize)size, &error);
    if (command == NULL) {
        respond_error(req, error);
        return;
    }
    soup_server_message_pause(req->msg);
    podvm_pod_qmp_async(req->pod, command, NULL, qmp_done_cb, request_ref(req));
}

static void
handle_replace_pod(Request *req)
{
    g_autoptr(GBytes) body = request_body(req);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) doc = NULL;
    gsize size = 0;
    const char *data = g_bytes_get_data(body, &size);
    PodvmPod *pod;

    pod = podvm_manager_replace_pod(req->front->manager, req->name, size > 0 ? data : "",
                                    (gssize)size, &problems, &error);
    if (pod == NULL) {
        respond_error_with_problems(req, error, problems);
        return;
    }
    doc = podvm_pod_to_json(pod);
    respond_json(req, SOUP_STATUS_OK, doc);
}

/* ---- the console WebSocket ---------------------------------------------------------- */

/* Input from the client waiting to reach the console, at most. */
#define CONSOLE_MAX_PENDING (1024 * 1024)

/*
 * One console WebSocket: bytes from the pod's serial console go out as
 * binary messages; messages (text or binary) from the client go to the
 * console. Each pending read or write holds a reference.
 */
typedef struct {
    PodvmRestFront *front; /* unowned */
    char *pod_name;
    SoupWebsocketConnection *ws;
    GIOStream *console;
    GCancellable *cancellable;
    GQueue pending; /* GBytes* for the console */
    gsize pending_size;
    gboolean writing;
    gboolean closed;
    gulong message_id;
    gulong closed_id;
    GSocket *socket;   /* the client's, to see whether it reads */
    GSource *writable; /* waits for the client to read before reading more */
    guint stall_timer; /* looks whether the client's socket takes data */
    gint64 stalled_since;
    char buffer[16 * 1024];
} Console;

/* A console client whose socket takes nothing for this long is closed. */
#define CONSOLE_STALL_S 10

static void
console_clear(Console *console)
{
    g_queue_clear_full(&console->pending, (GDestroyNotify)g_bytes_unref);
    if (console->writable != NULL)
        g_source_destroy(console->writable);
    g_clear_pointer(&console->writable, g_source_unref);
    g_clear_handle_id(&console->stall_timer, g_source_remove);
    g_clear_object(&console->socket);
    g_clear_object(&console->cancellable);
    g_clear_object(&console->console);
    g_clear_object(&console->ws);
    g_free(console->pod_name);
}

static void
console_release(Console *console)
{
    g_rc_box_release_full(console, (GDestroyNotify)console_clear);
}

/* Ends both sides once; the front drops its reference. */
static void
console_end(Console *console, const char *why)
{
    if (console->closed)
        return;
    console->closed = TRUE;
    g_debug("REST: console of pod '%s' closed: %s", console->pod_name, why);
    g_cancellable_cancel(console->cancellable);
    if (console->writable != NULL) {
        g_source_destroy(console->writable);
        g_clear_pointer(&console->writable, g_source_unref);
    }
    g_clear_handle_id(&console->stall_timer, g_source_remove);
    g_clear_signal_handler(&console->message_id, console->ws);
    g_clear_signal_handler(&console->closed_id, console->ws);
    if (soup_websocket_connection_get_state(console->ws) == SOUP_WEBSOCKET_STATE_OPEN) {
        /* Alive until the closing handshake is over (libsoup bounds it in time). */
        g_signal_connect(g_object_ref(console->ws), "closed", G_CALLBACK(g_object_unref), NULL);
        soup_websocket_connection_close(console->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, why);
    }
    g_io_stream_close(console->console, NULL, NULL);
    /* Frees through console_release (the array's reference). */
    g_ptr_array_remove_fast(console->front->consoles, console);
}

static void console_read(Console *console);

/* The client took some of what waits for it: read on. */
static gboolean
console_writable_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    Console *console = user_data;

    g_clear_pointer(&console->writable, g_source_unref);
    if (!console->closed)
        console_read(console);
    return G_SOURCE_REMOVE;
}

/*
 * Every CONSOLE_STALL_S / 2: a client whose socket took nothing for
 * CONSOLE_STALL_S is closed, whatever waits for it (the guest's output, or
 * libsoup's answers to its pings).
 */
static gboolean
console_stall_check_cb(gpointer user_data)
{
    Console *console = user_data;
    gint64 now = g_get_monotonic_time();

    if ((g_socket_condition_check(console->socket, G_IO_OUT) & G_IO_OUT) != 0) {
        console->stalled_since = 0;
        return G_SOURCE_CONTINUE;
    }
    if (console->stalled_since == 0) {
        console->stalled_since = now;
        return G_SOURCE_CONTINUE;
    }
    if (now - console->stalled_since < CONSOLE_STALL_S * G_USEC_PER_SEC)
        return G_SOURCE_CONTINUE;
    console->stall_timer = 0;
    g_message("REST: closing the console of pod '%s': its client does not read", console->pod_name);
    console_end(console, "the client does not read");
    return G_SOURCE_REMOVE;
}

/*
 * The guest's output goes on only while the client's socket takes it:
 * else libsoup would queue it without bound. Meanwhile the console's
 * socket fills, and the console drops this client once it is far enough
 * behind, or console_stall_check_cb() closes it.
 */
static void
console_read_when_writable(Console *console)
{
    if (console->socket == NULL ||
        (g_socket_condition_check(console->socket, G_IO_OUT) & G_IO_OUT) != 0) {
        console_read(console);
        return;
    }
    console->writable = g_socket_create_source(console->socket, G_IO_OUT, NULL);
    g_source_set_callback(console->writable, G_SOURCE_FUNC(console_writable_cb), console, NULL);
    g_source_attach(console->writable, NULL);
}

static void
console_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Console *console = user_data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (!console->closed) {
        if (n > 0) {
            /* While the client closes, its output is dropped (the close ends us soon). */
            if (soup_websocket_connection_get_state(console->ws) == SOUP_WEBSOCKET_STATE_OPEN)
                soup_websocket_connection_send_binary(console->ws, console->buffer, (gsize)n);
            console_read_when_writable(console);
        } else {
            console_end(console, n == 0 ? "the console ended" : error->message);
        }
    }
    console_release(console);
}

static void
console_read(Console *console)
{
    g_input_stream_read_async(g_io_stream_get_input_stream(console->console), console->buffer,
                              sizeof console->buffer, G_PRIORITY_DEFAULT, console->cancellable,
                              console_read_cb, g_rc_box_acquire(console));
}

static void console_write_next(Console *console);

static void
console_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Console *console = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) done = NULL;

    console->writing = FALSE;
    if (!console->closed) {
        if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
            console_end(console, error->message);
        } else {
            done = g_queue_pop_head(&console->pending);
            console->pending_size -= g_bytes_get_size(done);
            console_write_next(console);
        }
    }
    console_release(console);
}

static void
console_write_next(Console *console)
{
    GBytes *next = g_queue_peek_head(&console->pending);
    gsize size = 0;
    const void *data;

    if (console->writing || next == NULL)
        return;
    data = g_bytes_get_data(next, &size);
    console->writing = TRUE;
    g_output_stream_write_all_async(g_io_stream_get_output_stream(console->console), data, size,
                                    G_PRIORITY_DEFAULT, console->cancellable, console_written_cb,
                                    g_rc_box_acquire(console));
}

static void
console_message_cb(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
    Console *console = user_data;
    gsize size = g_bytes_get_size(message);

    if (size == 0)
        return;
    if (console->pending_size + size > CONSOLE_MAX_PENDING) {
        /* The guest does not read its console: refuse to buffer without bound. */
        console_end(console, "the client sends faster than the console takes");
        return;
    }
    g_queue_push_tail(&console->pending, g_bytes_ref(message));
    console->pending_size += size;
    console_write_next(console);
}

static void
console_closed_cb(SoupWebsocketConnection *ws, gpointer user_data)
{
    console_end(user_data, "the client closed the WebSocket");
}

static void console_upgraded_cb(SoupServerMessage *msg, gpointer user_data);
static void deadline_disarm(SoupServerMessage *msg);

/* The client went away before the upgrade: the console is not needed. */
static void
console_unused_cb(SoupServerMessage *msg, gpointer user_data)
{
    Console *console = user_data;

    g_signal_handlers_disconnect_by_func(msg, console_upgraded_cb, console);
    g_signal_handlers_disconnect_by_func(msg, console_unused_cb, console);
    g_io_stream_close(console->console, NULL, NULL);
    console_release(console);
}

/* The 101 answer is out: the connection is ours now. */
static void
console_upgraded_cb(SoupServerMessage *msg, gpointer user_data)
{
    Console *console = user_data;
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    g_autoptr(GIOStream) stream = NULL;

    /* Ours from now on: no idle deadline of the HTTP connection applies. */
    g_object_set_data(G_OBJECT(msg), "podvm-rest-stolen", GINT_TO_POINTER(1));
    deadline_disarm(msg);
    g_signal_handlers_disconnect_by_func(msg, console_upgraded_cb, console);
    g_signal_handlers_disconnect_by_func(msg, console_unused_cb, console);
    if (soup_server_message_get_socket(msg) != NULL)
        console->socket = g_object_ref(soup_server_message_get_socket(msg));
    stream = soup_server_message_steal_connection(msg);
    if (stream == NULL) {
        g_io_stream_close(console->console, NULL, NULL);
        console_release(console);
        return;
    }
    console->ws = soup_websocket_connection_new(
        stream, soup_server_message_get_uri(msg), SOUP_WEBSOCKET_CONNECTION_SERVER,
        soup_message_headers_get_one(headers, "Origin"), NULL, NULL);
    console->cancellable = g_cancellable_new();
    console->message_id =
        g_signal_connect(console->ws, "message", G_CALLBACK(console_message_cb), console);
    console->closed_id =
        g_signal_connect(console->ws, "closed", G_CALLBACK(console_closed_cb), console);
    /* The reference of the handshake goes to the front's list. */
    g_ptr_array_add(console->front->consoles, console);
    if (console->socket != NULL)
        console->stall_timer =
            g_timeout_add_seconds(CONSOLE_STALL_S / 2, console_stall_check_cb, console);
    console_read(console);
}

static void
handle_console(Request *req)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket = NULL;
    gboolean replay;
    Console *console;
    int fd;

    if (!query_boolean(req, "replay", TRUE, &replay) || !lookup_pod(req))
        return;
    if (!soup_websocket_server_check_handshake(req->msg, NULL, NULL, NULL, &error)) {
        respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                          _("the console is a WebSocket; this request is no WebSocket "
                            "handshake: %s"),
                          error->message);
        return;
    }
    fd = podvm_pod_open_console(req->pod, replay, &error);
    if (fd < 0) {
        respond_error(req, error);
        return;
    }
    socket = g_socket_new_from_fd(fd, &error);
    if (socket == NULL) {
        close(fd);
        respond_error(req, error);
        return;
    }
    if (!soup_websocket_server_process_handshake(req->msg, NULL, NULL, NULL, NULL))
        return; /* the answer (400) is set */
    console = g_rc_box_new0(Console);
    console->front = req->front;
    console->pod_name = g_strdup(req->name);
    console->console = G_IO_STREAM(g_socket_connection_factory_create_connection(socket));
    g_signal_connect(req->msg, "wrote-informational", G_CALLBACK(console_upgraded_cb), console);
    g_signal_connect(req->msg, "finished", G_CALLBACK(console_unused_cb), console);
}

/* ---- streams: the log and the event stream --------------------------------------- */

typedef enum {
    STREAM_LOG,
    STREAM_EVENTS
} StreamKind;

typedef struct {
    StreamKind kind;
    Request *req; /* owned */
    gulong finished_id;
    gulong write_signal_id; /* log: wrote-chunk; events: wrote-body-data */
    guint timer;
    gboolean ended; /* the last chunk is queued */
    /* log */
    GInputStream *input;
    GCancellable *cancellable;
    gboolean follow;
    gboolean reading;
    gboolean writing; /* a chunk waits to be written */
    PodvmLogFollow follow_state;
    goffset offset; /* read so far */
    /* events */
    char *pod_filter;
    gsize backlog;
} Stream;

static void
stream_free(Stream *stream)
{
    g_clear_handle_id(&stream->timer, g_source_remove);
    if (stream->cancellable != NULL)
        g_cancellable_cancel(stream->cancellable);
    g_clear_object(&stream->cancellable);
    g_clear_object(&stream->input);
    g_clear_signal_handler(&stream->finished_id, stream->req->msg);
    g_clear_signal_handler(&stream->write_signal_id, stream->req->msg);
    g_clear_pointer(&stream->req, request_unref);
    g_free(stream->pod_filter);
    g_free(stream);
}

static void
stream_finished_cb(SoupServerMessage *msg, gpointer user_data)
{
    Stream *stream = user_data;

    /* Frees the stream. */
    g_ptr_array_remove_fast(stream->req->front->streams, stream);
}

static Stream *
stream_begin(Request *req, StreamKind kind, const char *content_type)
{
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(req->msg);
    Stream *stream = g_new0(Stream, 1);

    stream->kind = kind;
    stream->req = request_ref(req);
    soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
    soup_message_headers_set_content_type(headers, content_type, NULL);
    soup_message_headers_replace(headers, "Cache-Control", "no-cache");
    soup_message_body_set_accumulate(soup_server_message_get_response_body(req->msg), FALSE);
    soup_server_message_set_status(req->msg, SOUP_STATUS_OK, NULL);
    stream->finished_id =
        g_signal_connect(req->msg, "finished", G_CALLBACK(stream_finished_cb), stream);
    g_ptr_array_add(req->front->streams, stream);
    return stream;
}

static void
stream_write(Stream *stream, const void *data, gsize length)
{
    if (stream->ended || stream->req->finished)
        return;
    soup_message_body_append(soup_server_message_get_response_body(stream->req->msg),
                             SOUP_MEMORY_COPY, data, length);
    resume(stream->req);
}

static void
stream_end(Stream *stream)
{
    if (stream->ended)
        return;
    stream->ended = TRUE;
    g_clear_handle_id(&stream->timer, g_source_remove);
    if (stream->req->finished)
        return;
    soup_message_body_complete(soup_server_message_get_response_body(stream->req->msg));
    resume(stream->req);
}

/*
 * A client that does not read: the stream ends, and so does the
 * connection, at once. Only then does libsoup let go of what it queued
 * for the client (its write fails), instead of keeping it until the
 * client reads.
 */
static void
stream_drop_client(Stream *stream)
{
    GSocket *socket = NULL;

    if (!stream->req->finished)
        socket = soup_server_message_get_socket(stream->req->msg);
    stream_end(stream);
    if (socket != NULL && !g_socket_is_closed(socket))
        g_socket_shutdown(socket, TRUE, TRUE, NULL);
}

/*
 * Whether the client closed its end. libsoup looks at the socket only while
 * it writes, so a quiet stream asks the socket itself.
 */
static gboolean
stream_client_gone(Stream *stream)
{
    GSocket *socket;
    GIOCondition condition;
    char c;

    if (stream->req->finished)
        return TRUE;
    socket = soup_server_message_get_socket(stream->req->msg);
    if (socket == NULL)
        return TRUE;
    condition = g_socket_condition_check(socket, G_IO_IN | G_IO_HUP | G_IO_ERR);
    if (condition & (G_IO_HUP | G_IO_ERR))
        return TRUE;
    if (condition & G_IO_IN)
        return recv(g_socket_get_fd(socket), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    return FALSE;
}

/* -- the console log -- */

static void log_read_next(Stream *stream);

static gboolean
log_poll_cb(gpointer user_data)
{
    Stream *stream = user_data;

    stream->timer = 0;
    if (stream_client_gone(stream)) {
        stream_end(stream);
        return G_SOURCE_REMOVE;
    }
    log_read_next(stream);
    return G_SOURCE_REMOVE;
}

/* The log is shorter than what was read: it was rotated; read it from the start. */
static gboolean
log_was_rotated(Stream *stream)
{
    int fd = g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(stream->input));
    struct stat st;

    if (fstat(fd, &st) != 0 || st.st_size >= stream->offset)
        return FALSE;
    if (lseek(fd, 0, SEEK_SET) != 0)
        return FALSE;
    stream->offset = 0;
    return TRUE;
}

static void
log_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes =
        g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
    Stream *stream = user_data;

    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return; /* the stream is gone */
    stream->reading = FALSE;
    if (bytes == NULL) {
        g_message("cannot read the console log of pod '%s': %s", stream->req->name, error->message);
        stream_end(stream);
        return;
    }
    if (g_bytes_get_size(bytes) > 0) {
        podvm_pod_log_follow_ends(stream->req->pod, &stream->follow_state, TRUE);
        stream->offset += (goffset)g_bytes_get_size(bytes);
        stream->writing = TRUE;
        stream_write(stream, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
        return; /* wrote-chunk asks for more */
    }
    /* End of the file for now. */
    if (!stream->follow) {
        stream_end(stream);
        return;
    }
    if (log_was_rotated(stream)) {
        /* Rotated in place: the log starts again (its older part is in console.log.1). */
        log_read_next(stream);
        return;
    }
    if (podvm_pod_log_follow_ends(stream->req->pod, &stream->follow_state, FALSE)) {
        stream_end(stream);
        return;
    }
    stream->timer = g_timeout_add(LOG_POLL_MS, log_poll_cb, stream);
}

static void
log_read_next(Stream *stream)
{
    if (stream->reading || stream->writing || stream->ended)
        return;
    stream->reading = TRUE;
    g_input_stream_read_bytes_async(stream->input, LOG_CHUNK, G_PRIORITY_DEFAULT,
                                    stream->cancellable, log_read_cb, stream);
}

static void
log_wrote_chunk_cb(SoupServerMessage *msg, gpointer user_data)
{
    Stream *stream = user_data;

    stream->writing = FALSE;
    log_read_next(stream);
}

static void
handle_log(Request *req)
{
    g_autoptr(GError) error = NULL;
    gboolean follow;
    Stream *stream;
    int fd;

    if (!query_boolean(req, "follow", FALSE, &follow) || !lookup_pod(req))
        return;
    fd = podvm_pod_open_log(req->pod, &error);
    if (fd < 0) {
        respond_error(req, error);
        return;
    }
    stream = stream_begin(req, STREAM_LOG, "text/plain");
    stream->input = g_unix_input_stream_new(fd, TRUE);
    stream->cancellable = g_cancellable_new();
    stream->follow = follow;
    stream->write_signal_id =
        g_signal_connect(req->msg, "wrote-chunk", G_CALLBACK(log_wrote_chunk_cb), stream);
    log_read_next(stream);
}

/* -- events -- */

static void
events_wrote_data_cb(SoupServerMessage *msg, guint size, gpointer user_data)
{
    Stream *stream = user_data;

    stream->backlog = size < stream->backlog ? stream->backlog - size : 0;
}

static void
events_write(Stream *stream, const char *text)
{
    gsize length = strlen(text);

    if (stream->ended)
        return;
    if (stream->backlog + length > stream->req->front->max_client_queue) {
        g_message("REST: closing an event stream: its client does not read (%" G_GSIZE_FORMAT
                  " bytes queued)",
                  stream->backlog);
        stream_drop_client(stream);
        return;
    }
    stream->backlog += length;
    stream_write(stream, text, length);
}

static gboolean
events_keepalive_cb(gpointer user_data)
{
    Stream *stream = user_data;

    if (stream_client_gone(stream)) {
        stream->timer = 0;
        stream_end(stream);
        return G_SOURCE_REMOVE;
    }
    events_write(stream, ": keepalive\n\n");
    return G_SOURCE_CONTINUE;
}

static void
manager_event_cb(PodvmManager *manager, const char *pod, const char *type, JsonObject *details,
                 gpointer user_data)
{
    PodvmRestFront *self = user_data;
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *json = NULL;
    g_autofree char *text = NULL;

    for (guint i = 0; i < self->streams->len; i++) {
        Stream *stream = g_ptr_array_index(self->streams, i);

        if (stream->kind != STREAM_EVENTS || stream->ended)
            continue;
        if (stream->pod_filter != NULL && g_strcmp0(stream->pod_filter, pod) != 0)
            continue;
        if (text == NULL) {
            /* JSON text is one line: it fits one "data:" field. */
            node = json_node_init_object(json_node_alloc(), details);
            json = podvm_json_to_string(node, FALSE);
            text = g_strdup_printf("event: %s\ndata: %s\n\n", type, json);
        }
        events_write(stream, text);
    }
}

static void
handle_events(Request *req)
{
    const char *pod = query_get(req, "pod");
    Stream *stream;

    if (pod != NULL && !podvm_name_is_valid(pod, NULL)) {
        respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT, _("'%s' is not a pod name"), pod);
        return;
    }
    stream = stream_begin(req, STREAM_EVENTS, "text/event-stream");
    stream->pod_filter = g_strdup(pod);
    stream->write_signal_id =
        g_signal_connect(req->msg, "wrote-body-data", G_CALLBACK(events_wrote_data_cb), stream);
    stream->timer = g_timeout_add_seconds(SSE_KEEPALIVE_S, events_keepalive_cb, stream);
    /* Headers and a first comment now: the client knows it is subscribed. */
    events_write(stream, ": podvm events\n\n");
}

/* ---- metrics: the core's snapshot as Prometheus text ------------------------------ */

static int
compare_uint(gconstpointer a, gconstpointer b)
{
    guint x = GPOINTER_TO_UINT(*(gconstpointer *)a), y = GPOINTER_TO_UINT(*(gconstpointer *)b);

    return x < y ? -1 : x > y;
}

/* A Prometheus label value: backslash, double quote and line feed escaped. */
static char *
label_value(const char *text)
{
    GString *out = g_string_new(NULL);

    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"')
            g_string_append_c(out, '\\');
        if (*p == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *p);
    }
    return g_string_free(out, FALSE);
}

static void
append_qmp_latency(GString *out, const PodvmQmpLatency *latency)
{
    char number[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append(out, "# HELP podvm_qmp_command_duration_seconds Time from sending a QMP "
                         "command to its reply, over every pod.\n"
                         "# TYPE podvm_qmp_command_duration_seconds histogram\n");
    for (guint i = 0; i < PODVM_QMP_LATENCY_BUCKETS; i++)
        g_string_append_printf(
            out, "podvm_qmp_command_duration_seconds_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n",
            g_ascii_formatd(number, sizeof number, "%g", latency->bounds[i]),
            latency->cumulative[i]);
    g_string_append_printf(
        out, "podvm_qmp_command_duration_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
        latency->count);
    g_string_append_printf(out, "podvm_qmp_command_duration_seconds_sum %s\n",
                           g_ascii_formatd(number, sizeof number, "%.6f", latency->sum_seconds));
    g_string_append_printf(out, "podvm_qmp_command_duration_seconds_count %" G_GUINT64_FORMAT "\n",
                           latency->count);
}

/* Per pod, from what podvmd knows already. */
static void
append_pod_gauges(GString *out, GPtrArray *pods)
{
    static const char *const headers[] = {
        "# HELP podvm_pod_vcpus vCPUs of the pod's VM (from the spec).\n"
        "# TYPE podvm_pod_vcpus gauge\n",
        "# HELP podvm_pod_memory_bytes Memory of the pod's VM (from the spec).\n"
        "# TYPE podvm_pod_memory_bytes gauge\n",
        "# HELP podvm_pod_restarts_total Restarts by the pod's restart policy.\n"
        "# TYPE podvm_pod_restarts_total counter\n",
        "# HELP podvm_pod_running_seconds Seconds since the pod became Running (0 when not).\n"
        "# TYPE podvm_pod_running_seconds gauge\n",
    };
    char number[G_ASCII_DTOSTR_BUF_SIZE];

    for (guint metric = 0; metric < G_N_ELEMENTS(headers); metric++) {
        g_string_append(out, headers[metric]);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *name = label_value(pm->name);

            switch (metric) {
            case 0:
                g_string_append_printf(out, "podvm_pod_vcpus{pod=\"%s\"} %u\n", name, pm->vcpus);
                break;
            case 1:
                g_string_append_printf(out,
                                       "podvm_pod_memory_bytes{pod=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                       name, pm->memory_bytes);
                break;
            case 2:
                g_string_append_printf(out, "podvm_pod_restarts_total{pod=\"%s\"} %u\n", name,
                                       pm->restarts);
                break;
            default:
                g_string_append_printf(
                    out, "podvm_pod_running_seconds{pod=\"%s\"} %s\n", name,
                    g_ascii_formatd(number, sizeof number, "%.3f", pm->running_seconds));
                break;
            }
        }
    }
}

static void
append_vcpu_seconds(GString *out, GPtrArray *pods)
{
    char number[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append(out, "# HELP podvm_pod_vcpu_seconds_total CPU time (user + system) of each "
                         "vCPU thread of the pod's QEMU.\n"
                         "# TYPE podvm_pod_vcpu_seconds_total counter\n");
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *name = label_value(pm->name);

        for (guint j = 0; j < pm->vcpu_times->len; j++) {
            PodvmVcpuTime *time = &g_array_index(pm->vcpu_times, PodvmVcpuTime, j);

            g_string_append_printf(
                out, "podvm_pod_vcpu_seconds_total{pod=\"%s\",vcpu=\"%" G_GINT64_FORMAT "\"} %s\n",
                name, time->index, g_ascii_formatd(number, sizeof number, "%.2f", time->seconds));
        }
    }
}

static void
append_block_counters(GString *out, GPtrArray *pods)
{
    static const struct {
        const char *metric;
        const char *help;
    } counters[PODVM_BLOCK_N_COUNTERS] = {
        [PODVM_BLOCK_READ_BYTES] = { "podvm_pod_block_read_bytes_total",
                                     "Bytes read by the guest" },
        [PODVM_BLOCK_WRITE_BYTES] = { "podvm_pod_block_write_bytes_total",
                                      "Bytes written by the guest" },
        [PODVM_BLOCK_READ_OPERATIONS] = { "podvm_pod_block_read_operations_total",
                                          "Read requests" },
        [PODVM_BLOCK_WRITE_OPERATIONS] = { "podvm_pod_block_write_operations_total",
                                           "Write requests" },
        [PODVM_BLOCK_FLUSH_OPERATIONS] = { "podvm_pod_block_flush_operations_total",
                                           "Flush requests" },
    };

    for (guint c = 0; c < PODVM_BLOCK_N_COUNTERS; c++) {
        g_string_append_printf(out,
                               "# HELP %s %s, per block device (QMP query-blockstats).\n"
                               "# TYPE %s counter\n",
                               counters[c].metric, counters[c].help, counters[c].metric);
        for (guint i = 0; i < pods->len; i++) {
            PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
            g_autofree char *name = label_value(pm->name);

            for (guint j = 0; j < pm->blocks->len; j++) {
                PodvmBlockStats *block = g_ptr_array_index(pm->blocks, j);
                g_autofree char *label = NULL;

                if (block->counters[c] < 0)
                    continue;
                label = label_value(block->drive);
                g_string_append_printf(out, "%s{pod=\"%s\",drive=\"%s\"} %" G_GINT64_FORMAT "\n",
                                       counters[c].metric, name, label, block->counters[c]);
            }
        }
    }
}

static void
append_scrape_errors(GString *out, GPtrArray *pods)
{
    g_string_append_printf(out,
                           "# HELP podvm_pod_scrape_error 1 when the pod's QEMU failed or did not "
                           "answer within %u ms: its vCPU and block lines are missing.\n"
                           "# TYPE podvm_pod_scrape_error gauge\n",
                           PODVM_METRICS_QMP_TIMEOUT_MS);
    for (guint i = 0; i < pods->len; i++) {
        PodvmPodMetrics *pm = g_ptr_array_index(pods, i);
        g_autofree char *name = NULL;

        if (!pm->asked)
            continue;
        name = label_value(pm->name);
        g_string_append_printf(out, "podvm_pod_scrape_error{pod=\"%s\"} %d\n", name,
                               pm->scrape_error ? 1 : 0);
    }
    /*
     * A comment, not a metric: Prometheus text allows it, and a reader of
     * the scrape learns why there are no network counters.
     */
    g_string_append(out, "# podvm_pod_network_*: QEMU 7.2's QMP has no per-NIC byte counters; "
                         "they come with the network backends, read from each tap's "
                         "/sys/class/net/TAP/statistics.\n");
}

/* The front's own counters: REST requests answered, by status. */
static char *
rest_requests_text(PodvmRestFront *self)
{
    g_autoptr(GPtrArray) codes = g_ptr_array_new();
    GString *out = g_string_new(NULL);
    GHashTableIter iter;
    gpointer key;

    g_string_append(out, "# HELP podvm_rest_requests_total REST requests answered, by status.\n"
                         "# TYPE podvm_rest_requests_total counter\n");
    g_hash_table_iter_init(&iter, self->status_counts);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(codes, key);
    g_ptr_array_sort(codes, compare_uint);
    for (guint i = 0; i < codes->len; i++) {
        gpointer count = g_hash_table_lookup(self->status_counts, codes->pdata[i]);
        g_string_append_printf(out, "podvm_rest_requests_total{code=\"%u\"} %u\n",
                               GPOINTER_TO_UINT(codes->pdata[i]), GPOINTER_TO_UINT(count));
    }
    return g_string_free(out, FALSE);
}

static char *
metrics_text(const PodvmMetrics *metrics, const char *rest_requests)
{
    GString *out = g_string_new(NULL);

    g_string_append(out, "# HELP podvm_build_info The running podvmd.\n"
                         "# TYPE podvm_build_info gauge\n");
    g_string_append_printf(out, "podvm_build_info{version=\"%s\"} 1\n", PODVM_VERSION);
    g_string_append(out, "# HELP podvm_pods Pods by phase.\n# TYPE podvm_pods gauge\n");
    for (int phase = PODVM_PHASE_PENDING; phase < PODVM_N_PHASES; phase++)
        g_string_append_printf(out, "podvm_pods{phase=\"%s\"} %u\n", podvm_phase_to_string(phase),
                               metrics->pods_by_phase[phase]);
    g_string_append(out, rest_requests);
    append_qmp_latency(out, &metrics->qmp_latency);
    append_pod_gauges(out, metrics->pods);
    append_vcpu_seconds(out, metrics->pods);
    append_block_counters(out, metrics->pods);
    append_scrape_errors(out, metrics->pods);
    return g_string_free(out, FALSE);
}

/* One GET /metrics waiting for the core's snapshot. */
typedef struct {
    PodvmRestFront *front; /* unowned; NULL once the front is gone */
    Request *req;          /* owned */
    char *rest_requests;   /* the front's counters as they were when asked */
    GCancellable *cancellable;
} Scrape;

static void
scrape_free(Scrape *scrape)
{
    request_unref(scrape->req);
    g_free(scrape->rest_requests);
    g_object_unref(scrape->cancellable);
    g_free(scrape);
}

static void
metrics_collected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Scrape *scrape = user_data;
    g_autoptr(PodvmMetrics) metrics = podvm_metrics_collect_finish(result, NULL);

    if (scrape->front != NULL)
        g_ptr_array_remove_fast(scrape->front->scrapes, scrape);
    respond_text(scrape->req, SOUP_STATUS_OK, "text/plain; version=0.0.4",
                 metrics_text(metrics, scrape->rest_requests));
    resume(scrape->req);
    scrape_free(scrape);
}

static void
handle_metrics(Request *req)
{
    Scrape *scrape = g_new0(Scrape, 1);

    scrape->front = req->front;
    scrape->req = request_ref(req);
    scrape->rest_requests = rest_requests_text(req->front);
    scrape->cancellable = g_cancellable_new();
    g_ptr_array_add(req->front->scrapes, scrape);
    soup_server_message_pause(req->msg);
    podvm_metrics_collect_async(req->front->manager, scrape->cancellable, metrics_collected_cb,
                                scrape);
}

static void
count_status(PodvmRestFront *self, guint status)
{
    gpointer count = g_hash_table_lookup(self->status_counts, GUINT_TO_POINTER(status));

    g_hash_table_insert(self->status_counts, GUINT_TO_POINTER(status),
                        GUINT_TO_POINTER(GPOINTER_TO_UINT(count) + 1));
}

/*
 * Idle and slow clients: from the moment the server waits for a request
 * (a new connection, or the next request on a kept-alive one) the request
 * must be read whole, headers and body, within request_timeout_ms, or the
 * connection is shut down. Answers that stream (log, events, console)
 * start after the request is read and are not limited.
 */
typedef struct {
    GSource source;
    GSocket *socket;    /* unowned: the socket holds the deadline and destroys it */
    gint64 deadline_us; /* monotonic time; 0: none */
    guint timeout_ms;
} Deadline;

static GQuark
deadline_quark(void)
{
    static GQuark quark;

    if (quark == 0)
        quark = g_quark_from_static_string("podvm-rest-deadline");
    return quark;
}

/*
 * Arming and disarming happen on every request, so they only write
 * deadline_us: no syscall, no new source. The source wakes at the time it
 * was last given (never later than the deadline: each new deadline is
 * later than the one before) and then looks again.
 */
static gboolean
deadline_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    Deadline *deadline = (Deadline *)source;

    if (deadline->deadline_us != 0 && g_source_get_time(source) < deadline->deadline_us) {
        g_source_set_ready_time(source, deadline->deadline_us);
        return G_SOURCE_CONTINUE;
    }
    g_source_set_ready_time(source, -1);
    if (deadline->deadline_us == 0)
        return G_SOURCE_CONTINUE;
    deadline->deadline_us = 0;
    g_debug("REST: no complete request within %u ms; closing the connection", deadline->timeout_ms);
    g_socket_shutdown(deadline->socket, TRUE, TRUE, NULL);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs deadline_funcs = {
    .dispatch = deadline_dispatch,
};

static void
deadline_destroy(gpointer data)
{
    g_source_destroy(data);
    g_source_unref(data);
}

/* The connection's deadline, made with its first request. */
static Deadline *
socket_deadline(PodvmRestFront *self, GSocket *socket)
{
    Deadline *deadline = g_object_get_qdata(G_OBJECT(socket), deadline_quark());

    if (deadline == NULL) {
        GSource *source = g_source_new(&deadline_funcs, sizeof(Deadline));

        deadline = (Deadline *)source;
        deadline->socket = socket;
        deadline->timeout_ms = self->request_timeout_ms;
        g_source_set_static_name(source, "podvm-rest-deadline");
        g_source_set_ready_time(source, -1);
        g_source_attach(source, NULL);
        g_object_set_qdata_full(G_OBJECT(socket), deadline_quark(), deadline, deadline_destroy);
    }
    return deadline;
}

static void
deadline_arm(Deadline *deadline)
{
    deadline->deadline_us = g_get_monotonic_time() + (gint64)deadline->timeout_ms * 1000;
    if (g_source_get_ready_time(&deadline->source) == -1)
        g_source_set_ready_time(&deadline->source, deadline->deadline_us);
}

/* The request is read (or the connection is ours now): no deadline. */
static void
deadline_disarm(SoupServerMessage *msg)
{
    GSocket *socket = soup_server_message_get_socket(msg);
    Deadline *deadline =
        socket != NULL ? g_object_get_qdata(G_OBJECT(socket), deadline_quark()) : NULL;

    if (deadline != NULL)
        deadline->deadline_us = 0;
}

/* A new connection, or the next request on a kept-alive one: the clock runs. */
static void
request_started_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    PodvmRestFront *self = user_data;
    GSocket *socket = soup_server_message_get_socket(msg);

    if (self->request_timeout_ms == 0 || socket == NULL)
        return;
    deadline_arm(socket_deadline(self, socket));
}

/* A kept-alive connection waits for its next request: the clock runs. */
static void
arm_idle_deadline(PodvmRestFront *self, SoupServerMessage *msg)
{
    GSocket *socket;

    if (self->request_timeout_ms == 0 ||
        g_object_get_data(G_OBJECT(msg), "podvm-rest-stolen") != NULL)
        return;
    socket = soup_server_message_get_socket(msg);
    if (socket == NULL || g_socket_is_closed(socket))
        return;
    deadline_arm(socket_deadline(self, socket));
}

static void
request_read_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    deadline_disarm(msg);
}

static void
request_finished_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    count_status(user_data, soup_server_message_get_status(msg));
    arm_idle_deadline(user_data, msg);
}

/* ---- the route table ------------------------------------------------------------- */

static const PodvmRestRoute routes[] = {
    { "GET", "/healthz", handle_healthz },
    { "GET", "/metrics", handle_metrics },
    { "GET", "/v1/version", handle_version },
    { "GET", "/v1/events", handle_events },
    { "GET", "/v1/pods", handle_list_pods },
    { "POST", "/v1/pods", handle_create_pod },
    { "GET", "/v1/pods/{name}", handle_get_pod },
    { "PUT", "/v1/pods/{name}", handle_replace_pod },
    { "DELETE", "/v1/pods/{name}", handle_delete },
    { "POST", "/v1/pods/{name}/start", handle_start },
    { "POST", "/v1/pods/{name}/stop", handle_stop },
    { "POST", "/v1/pods/{name}/kill", handle_kill },
    { "POST", "/v1/pods/{name}/pause", handle_pause },
    { "POST", "/v1/pods/{name}/resume", handle_resume },
    { "POST", "/v1/pods/{name}/restart", handle_restart },
    { "GET", "/v1/pods/{name}/log", handle_log },
    { "GET", "/v1/pods/{name}/console", handle_console },
    { "POST", "/v1/pods/{name}/qmp", handle_qmp },
    { "POST", "/v1/pods/{name}/disks", handle_attach_disk },
    { "DELETE", "/v1/pods/{name}/disks/{disk}", handle_detach_disk },
    { "GET", "/v1/volumes", handle_list_volumes },
    { "POST", "/v1/volumes", handle_create_volume },
    { "GET", "/v1/volumes/{name}", handle_get_volume },
    { "DELETE", "/v1/volumes/{name}", handle_delete_volume },
};

const PodvmRestRoute *
podvm_rest_front_get_routes(gsize *out_n_routes)
{
    *out_n_routes = G_N_ELEMENTS(routes);
    return routes;
}

/* The end of the path segment that starts at @p: the next '/' or the end. */
static const char *
segment_end(const char *p)
{
    while (*p != '\0' && *p != '/')
        p++;
    return p;
}

/*
 * Whether @path fits @pattern; the {name} segment goes to @out_name.
 * Segments compare exactly: "/v1/pods/" (empty name) fits nothing.
 * Runs for every route on every request: it allocates only on a match.
 */
static gboolean
route_matches(const char *pattern, const char *path, char **out_name, char **out_item)
{
    const char *name = NULL, *item = NULL;
    gsize name_length = 0, item_length = 0;

    for (;;) {
        const char *pattern_end = segment_end(pattern);
        const char *path_end = segment_end(path);
        gsize length = (gsize)(pattern_end - pattern);

        if (length == strlen("{name}") && memcmp(pattern, "{name}", length) == 0) {
            if (path_end == path)
                return FALSE;
            name = path;
            name_length = (gsize)(path_end - path);
        } else if (length == strlen("{disk}") && memcmp(pattern, "{disk}", length) == 0) {
            if (path_end == path)
                return FALSE;
            item = path;
            item_length = (gsize)(path_end - path);
        } else if ((gsize)(path_end - path) != length || memcmp(pattern, path, length) != 0) {
            return FALSE;
        }
        if (*pattern_end == '\0' || *path_end == '\0') {
            if (*pattern_end != *path_end)
                return FALSE; /* not as many segments */
            break;
        }
        pattern = pattern_end + 1;
        path = path_end + 1;
    }
    if (out_name != NULL)
        *out_name = name != NULL ? g_strndup(name, name_length) : NULL;
    if (out_item != NULL)
        *out_item = item != NULL ? g_strndup(item, item_length) : NULL;
    return TRUE;
}

static GBytes *
token_digest(const char *token, gsize length)
{
    g_autoptr(GChecksum) checksum = g_checksum_new(G_CHECKSUM_SHA256);
    guint8 digest[32];
    gsize digest_length = sizeof digest;

    g_checksum_update(checksum, (const guchar *)token, (gssize)length);
    g_checksum_get_digest(checksum, digest, &digest_length);
    return g_bytes_new(digest, digest_length);
}

/*
 * Requests over TCP carry the bearer token; the unix socket is guarded by
 * its mode. The digests of both are compared in constant time: neither
 * the token's length nor its content leaks through timing.
 */
static gboolean
authorized(PodvmRestFront *self, SoupServerMessage *msg)
{
    GSocketAddress *local = soup_server_message_get_local_address(msg);
    const char *header;
    g_autoptr(GBytes) given = NULL;
    const guint8 *a, *b;
    gsize length = 0;
    guint8 diff = 0;

    if (local == NULL || !G_IS_INET_SOCKET_ADDRESS(local))
        return TRUE;
    if (self->token_digest == NULL)
        return FALSE;
    header =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    if (header == NULL || g_ascii_strncasecmp(header, "Bearer ", 7) != 0)
        return FALSE;
    header += 7;
    while (*header == ' ')
        header++;
    given = token_digest(header, strlen(header));
    a = g_bytes_get_data(given, &length);
    b = g_bytes_get_data(self->token_digest, NULL);
    for (gsize i = 0; i < length; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

static void
server_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
    PodvmRestFront *self = user_data;
    const char *method = soup_server_message_get_method(msg);
    g_autoptr(GString) allow = g_string_new(NULL);
    g_autoptr(PodvmRestRequest) req = g_new0(PodvmRestRequest, 1);
    const PodvmRestRoute *route = NULL;

    g_atomic_ref_count_init(&req->ref_count);
    req->front = self;
    req->msg = g_object_ref(msg);
    req->query = query != NULL ? g_hash_table_ref(query) : NULL;
    req->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(message_finished_cb), req);

    if (!authorized(self, msg)) {
        GSocketAddress *peer = soup_server_message_get_remote_address(msg);
        g_autofree char *who = peer != NULL
                                   ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(peer))
                                   : g_strdup("?");

        /* Never the token itself in the log. */
        g_message("REST: %s %s from %s refused: missing or wrong bearer token", method, path, who);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                     "WWW-Authenticate", "Bearer realm=\"podvm\"");
        respond_http_error(req, SOUP_STATUS_UNAUTHORIZED, "Unauthorized",
                           _("a valid bearer token is required"));
        return;
    }

    for (gsize i = 0; i < G_N_ELEMENTS(routes); i++) {
        g_autofree char *name = NULL;
        g_autofree char *item = NULL;

        if (!route_matches(routes[i].pattern, path, &name, &item))
            continue;
        if (g_str_equal(routes[i].method, method)) {
            route = &routes[i];
            req->name = g_steal_pointer(&name);
            req->item = g_steal_pointer(&item);
            break;
        }
        g_string_append_printf(allow, "%s%s", allow->len > 0 ? ", " : "", routes[i].method);
    }
    if (route != NULL) {
        route->handler(req);
    } else if (allow->len > 0) {
        g_autofree char *message =
            g_strdup_printf(_("%s is not allowed on %s; allowed: %s"), method, path, allow->str);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                     allow->str);
        respond_http_error(req, SOUP_STATUS_METHOD_NOT_ALLOWED, "MethodNotAllowed", message);
    } else {
        respond_new_error(req, PODVM_ERROR_NOT_FOUND, _("no such resource: %s"), path);
    }
}

/* ---- bodies over the limit ---------------------------------------------------------- */

typedef struct {
    PodvmRestFront *front; /* unowned; NULL once the front is gone */
    GIOStream *stream;
    GCancellable *cancellable;
    guint timeout;
    char *response;
    char buffer[16 * 1024];
} Refusal;

static void
refusal_free(Refusal *refusal)
{
    if (refusal->front != NULL)
        g_ptr_array_remove(refusal->front->refusals, refusal);
    g_clear_handle_id(&refusal->timeout, g_source_remove);
    g_io_stream_close(refusal->stream, NULL, NULL);
    g_object_unref(refusal->stream);
    g_object_unref(refusal->cancellable);
    g_free(refusal->response);
    g_free(refusal);
}

static gboolean
refusal_timeout_cb(gpointer user_data)
{
    Refusal *refusal = user_data;

    refusal->timeout = 0;
    g_cancellable_cancel(refusal->cancellable);
    return G_SOURCE_REMOVE;
}

static void
refusal_drain_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Refusal *refusal = user_data;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

    if (n <= 0) {
        refusal_free(refusal);
        return;
    }
    g_input_stream_read_async(G_INPUT_STREAM(source), refusal->buffer, sizeof refusal->buffer,
                              G_PRIORITY_LOW, refusal->cancellable, refusal_drain_cb, refusal);
}

static void
refusal_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Refusal *refusal = user_data;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL)) {
        refusal_free(refusal);
        return;
    }
    /*
     * Closing now would lose the answer for a client still sending (TCP
     * resets): half-close, then read and drop what comes, for a while.
     */
    if (G_IS_SOCKET_CONNECTION(refusal->stream))
        g_socket_shutdown(g_socket_connection_get_socket(G_SOCKET_CONNECTION(refusal->stream)),
                          FALSE, TRUE, NULL);
    refusal->timeout = g_timeout_add_seconds(DRAIN_TIMEOUT_S, refusal_timeout_cb, refusal);
    g_input_stream_read_async(g_io_stream_get_input_stream(refusal->stream), refusal->buffer,
                              sizeof refusal->buffer, G_PRIORITY_LOW, refusal->cancellable,
                              refusal_drain_cb, refusal);
}

/* From an idle: the connection is taken from libsoup outside its I/O. */
static gboolean
refuse_body_cb(gpointer user_data)
{
    g_autoptr(SoupServerMessage) msg = user_data;
    PodvmRestFront *self = g_object_get_data(G_OBJECT(msg), "podvm-rest-front");
    guint status = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(msg), "podvm-rest-refused"));
    g_autoptr(JsonNode) doc = NULL;
    g_autofree char *message = NULL;
    g_autofree char *json = NULL;
    Refusal *refusal;
    GIOStream *stream;

    if (status == SOUP_STATUS_BAD_REQUEST) {
        message = g_strdup(_("the Content-Length header must be given once, as a number of bytes"));
        doc = error_document(status, "InvalidArgument", message, NULL);
    } else {
        message =
            g_strdup_printf(_("the request body is larger than %u bytes"), PODVM_REST_MAX_BODY);
        doc = error_document(status, "PayloadTooLarge", message, NULL);
    }
    json = podvm_json_to_string(doc, FALSE);
    g_object_set_data(G_OBJECT(msg), "podvm-rest-stolen", GINT_TO_POINTER(1));
    deadline_disarm(msg);
    stream = soup_server_message_steal_connection(msg);
    if (stream == NULL)
        return G_SOURCE_REMOVE;
    if (self != NULL)
        count_status(self, status);
    refusal = g_new0(Refusal, 1);
    refusal->front = self;
    if (self != NULL)
        g_ptr_array_add(self->refusals, refusal);
    refusal->stream = stream;
    refusal->cancellable = g_cancellable_new();
    refusal->response =
        g_strdup_printf("HTTP/1.1 %u %s\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: %zu\r\n"
                        "Connection: close\r\n\r\n%s\n",
                        status, soup_status_get_phrase(status), strlen(json) + 1, json);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(stream), refusal->response,
                                    strlen(refusal->response), G_PRIORITY_DEFAULT,
                                    refusal->cancellable, refusal_written_cb, refusal);
    return G_SOURCE_REMOVE;
}

/* Answers @status (413, or 400 for a bad Content-Length) without reading the body. */
static void
refuse_body(PodvmRestFront *self, SoupServerMessage *msg, guint status)
{
    if (g_object_get_data(G_OBJECT(msg), "podvm-rest-refused") != NULL)
        return;
    g_object_set_data(G_OBJECT(msg), "podvm-rest-refused", GUINT_TO_POINTER(status));
    g_object_set_data_full(G_OBJECT(msg), "podvm-rest-front", g_object_ref(self), g_object_unref);
    soup_server_message_pause(msg);
    g_idle_add(refuse_body_cb, g_object_ref(msg));
}

static void
got_chunk_cb(SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
    PodvmRestFront *self = user_data;
    SoupMessageBody *body = soup_server_message_get_request_body(msg);

    /* The chunk is already in the body: it holds at most one read block too many. */
    if (body->length > PODVM_REST_MAX_BODY)
        refuse_body(self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
}

/* After the headers, before the body: refuse what is too large to read. */
static void
early_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
    PodvmRestFront *self = user_data;
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);

    SoupEncoding encoding = soup_message_headers_get_encoding(headers);
    const char *content_length = soup_message_headers_get_list(headers, "Content-Length");

    /*
     * libsoup reads "-1" and "18446744073709551616" as a length it waits for, and takes one
     * of two lengths: refused at once (RFC 9112 6.3: a bad or repeated length is an error).
     */
    if (content_length != NULL && (*content_length == '\0' ||
                                   strspn(content_length, "0123456789") != strlen(content_length) ||
                                   strlen(content_length) > 18)) {
        refuse_body(self, msg, SOUP_STATUS_BAD_REQUEST);
        return;
    }
    if (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(headers) > PODVM_REST_MAX_BODY) {
        refuse_body(self, msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
        return;
    }
    /*
     * libsoup reads no more than a Content-Length: only a body of unknown
     * length is watched as it comes (a closure per request costs, on the
     * hot GET path).
     */
    if (encoding != SOUP_ENCODING_CONTENT_LENGTH && encoding != SOUP_ENCODING_NONE)
        g_signal_connect_object(msg, "got-chunk", G_CALLBACK(got_chunk_cb), self, 0);
}

/* ---- the object ------------------------------------------------------------------ */

static void
podvm_rest_front_dispose(GObject *object)
{
    PodvmRestFront *self = PODVM_REST_FRONT(object);

    if (self->manager != NULL)
        g_signal_handlers_disconnect_by_data(self->manager, self);
    if (self->server != NULL) {
        g_signal_handlers_disconnect_by_data(self->server, self);
        g_clear_pointer(&self->conns, podvm_rest_conns_free);
        soup_server_disconnect(self->server);
    }
    if (self->streams != NULL)
        g_ptr_array_set_size(self->streams, 0);
    while (self->consoles != NULL && self->consoles->len > 0)
        console_end(g_ptr_array_index(self->consoles, 0), "podvmd stops");
    /* Draining 413 connections end now; their callbacks free them (podvmd.c runs them). */
    while (self->refusals != NULL && self->refusals->len > 0) {
        Refusal *refusal = g_ptr_array_steal_index(self->refusals, 0);
        refusal->front = NULL;
        g_clear_handle_id(&refusal->timeout, g_source_remove);
        g_cancellable_cancel(refusal->cancellable);
    }
    if (self->socket_path != NULL)
        g_unlink(self->socket_path);
    g_clear_pointer(&self->socket_path, g_free);
    /* Scrapes still waiting answer with what they have. */
    while (self->scrapes != NULL && self->scrapes->len > 0) {
        Scrape *scrape = g_ptr_array_steal_index_fast(self->scrapes, 0);
        scrape->front = NULL;
        g_cancellable_cancel(scrape->cancellable);
    }
    g_clear_object(&self->server);
    g_clear_object(&self->manager);
    G_OBJECT_CLASS(podvm_rest_front_parent_class)->dispose(object);
}

static void
podvm_rest_front_finalize(GObject *object)
{
    PodvmRestFront *self = PODVM_REST_FRONT(object);

    g_ptr_array_unref(self->streams);
    g_ptr_array_unref(self->consoles);
    g_ptr_array_unref(self->refusals);
    g_hash_table_unref(self->status_counts);
    g_ptr_array_unref(self->scrapes);
    g_clear_pointer(&self->token_digest, g_bytes_unref);
    G_OBJECT_CLASS(podvm_rest_front_parent_class)->finalize(object);
}

static void
podvm_rest_front_class_init(PodvmRestFrontClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = podvm_rest_front_dispose;
    G_OBJECT_CLASS(klass)->finalize = podvm_rest_front_finalize;
}

static void
podvm_rest_front_init(PodvmRestFront *self)
{
    self->status_counts = g_hash_table_new(g_direct_hash, g_direct_equal);
    self->refusals = g_ptr_array_new();
    self->streams = g_ptr_array_new_with_free_func((GDestroyNotify)stream_free);
    self->consoles = g_ptr_array_new_with_free_func((GDestroyNotify)console_release);
    self->scrapes = g_ptr_array_new();
}

PodvmRestFront *
podvm_rest_front_new(PodvmManager *manager)
{
    PodvmRestFront *self = g_object_new(PODVM_TYPE_REST_FRONT, NULL);

    self->manager = g_object_ref(manager);
    self->request_timeout_ms = podvm_manager_get_config(manager)->rest_request_timeout_ms;
    self->max_client_queue = podvm_manager_get_config(manager)->rest_max_client_queue;
    self->server = soup_server_new("server-header", "podvmd/" PODVM_VERSION " ", NULL);
    self->conns = podvm_rest_conns_new(self->server);
    soup_server_add_early_handler(self->server, NULL, early_cb, self, NULL);
    soup_server_add_handler(self->server, NULL, server_cb, self, NULL);
    g_signal_connect(self->server, "request-finished", G_CALLBACK(request_finished_cb), self);
    g_signal_connect(self->server, "request-started", G_CALLBACK(request_started_cb), self);
    g_signal_connect(self->server, "request-read", G_CALLBACK(request_read_cb), self);
    g_signal_connect(manager, "event", G_CALLBACK(manager_event_cb), self);
    return self;
}

/* Whether a daemon answers on the socket at @path. */
static gboolean
socket_is_live(const char *path)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    g_autoptr(GSocketConnection) connection = NULL;

    connection = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(address), NULL, NULL);
    return connection != NULL;
}

gboolean
podvm_rest_front_listen_unix(PodvmRestFront *self, const char *path, GError **error)
{
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    struct group *group;
    mode_t old_umask;
    gboolean bound;
    struct stat st;

    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                        _("'%s' exists and is not a socket; remove it"), path);
            return FALSE;
        }
        if (socket_is_live(path)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS, _("another podvmd answers on '%s'"),
                        path);
            return FALSE;
        }
        g_unlink(path);
    }
    socket =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
    if (socket == NULL)
        return FALSE;
    /* Born 0660: there is no moment when others may connect. */
    old_umask = umask(0117);
    bound = g_socket_bind(socket, address, FALSE, error);
    umask(old_umask);
    if (!bound) {
        g_prefix_error(error, _("cannot listen on '%s': "), path);
        return FALSE;
    }
    group = getgrnam("podvm");
    if (group != NULL && chown(path, (uid_t)-1, group->gr_gid) != 0)
        g_message("cannot give '%s' to group podvm: %s", path, g_strerror(errno));
    if (g_chmod(path, 0660) != 0)
        g_message("cannot set the mode of '%s': %s", path, g_strerror(errno));
    /* Many clients connecting at once must not find the queue full (EAGAIN). */
    g_socket_set_listen_backlog(socket, LISTEN_BACKLOG);
    if (!g_socket_listen(socket, error) ||
        !soup_server_listen_socket(self->server, socket, 0, error)) {
        g_prefix_error(error, _("cannot listen on '%s': "), path);
        g_unlink(path);
        return FALSE;
    }
    g_free(self->socket_path);
    self->socket_path = g_strdup(path);
    g_message("REST API on unix socket %s", path);
    return TRUE;
}

gboolean
podvm_rest_front_listen_tcp(PodvmRestFront *self, const char *address, const char *token,
                            const char *tls_cert, const char *tls_key, GError **error)
{
    g_autoptr(GInetAddress) inet = NULL;
    g_autoptr(GSocketAddress) socket_address = NULL;
    g_autoptr(GSocket) socket = NULL;
    g_autofree char *host = NULL;
    const char *colon = strrchr(address, ':');
    SoupServerListenOptions options = 0;
    char *end = NULL;
    guint64 port;

    g_return_val_if_fail(token != NULL && token[0] != '\0', FALSE);
    if (colon != NULL) {
        host = g_strndup(address, (gsize)(colon - address));
        if (host[0] == '[' && g_str_has_suffix(host, "]")) {
            char *inner = g_strndup(host + 1, strlen(host) - 2);
            g_free(host);
            host = inner;
        }
        inet = g_inet_address_new_from_string(host);
        port = g_ascii_strtoull(colon + 1, &end, 10);
    }
    if (inet == NULL || end == NULL || end == colon + 1 || *end != '\0' || port > 65535) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("[rest] listen: '%s' is not ADDR:PORT with ADDR an IP address"), address);
        return FALSE;
    }
    if (tls_cert != NULL && tls_key != NULL) {
        g_autoptr(GTlsCertificate) certificate =
            g_tls_certificate_new_from_files(tls_cert, tls_key, error);

        if (certificate == NULL) {
            g_prefix_error(error, _("[rest] tls_cert/tls_key: "));
            return FALSE;
        }
        soup_server_set_tls_certificate(self->server, certificate);
        options |= SOUP_SERVER_LISTEN_HTTPS;
    }
    g_clear_pointer(&self->token_digest, g_bytes_unref);
    self->token_digest = token_digest(token, strlen(token));
    socket_address = g_inet_socket_address_new(inet, (guint16)port);
    /*
     * Our own socket rather than soup_server_listen(): its queue of 10
     * pending connections overflows when many clients connect at once,
     * and the kernel then drops their first request, resent 200 ms later.
     * Otherwise as libsoup does it: address reuse, IPv6 only on IPv6.
     */
    socket = g_socket_new(g_socket_address_get_family(socket_address), G_SOCKET_TYPE_STREAM,
                          G_SOCKET_PROTOCOL_DEFAULT, error);
    if (socket == NULL) {
        g_prefix_error(error, _("cannot listen on %s: "), address);
        return FALSE;
    }
    if (g_socket_address_get_family(socket_address) == G_SOCKET_FAMILY_IPV6) {
        g_autoptr(GError) option_error = NULL;

        if (!g_socket_set_option(socket, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, &option_error))
            g_message("REST: cannot make %s IPv6 only: %s", address, option_error->message);
    }
    g_socket_set_listen_backlog(socket, LISTEN_BACKLOG);
    if (!g_socket_bind(socket, socket_address, TRUE, error) || !g_socket_listen(socket, error) ||
        !soup_server_listen_socket(self->server, socket, options, error)) {
        g_prefix_error(error, _("cannot listen on %s: "), address);
        return FALSE;
    }
    g_message("REST API on %s://%s (bearer token required)",
              (options & SOUP_SERVER_LISTEN_HTTPS) ? "https" : "http", address);
    return TRUE;
}
