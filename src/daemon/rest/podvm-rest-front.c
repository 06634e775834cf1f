/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The REST server: the object, its listeners (unix sockets for admins and
 * readers, TCP with bearer tokens and TLS), the route table with each
 * route's role and its dispatch, the request deadline
 * and bodies over the limit (413). The routes live in podvm-rest-pods.c,
 * -volumes.c, -streams.c, -console.c, -metrics.c, -migrations.c, -images.c
 * and -exec.c; the web console's files in -web.c.
 */
#include "podvm-rest-private.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-build-config.h"
#include "podvm-host.h"
#include "podvm-json.h"

/* After a refused body: how long we read (and drop) what the client still sends. */
#define DRAIN_TIMEOUT_S 5
/* Connections the kernel queues before podvmd accepts them (SOMAXCONN is the cap). */
#define LISTEN_BACKLOG 1024

G_DEFINE_FINAL_TYPE(PodvmRestFront, podvm_rest_front, G_TYPE_OBJECT)

/* ---- simple routes ---------------------------------------------------------- */

static void
handle_healthz(Request *req)
{
    podvm_rest_respond_text(req, SOUP_STATUS_OK, "text/plain", g_strdup("ok\n"));
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
    podvm_rest_respond_json(req, SOUP_STATUS_OK, root);
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
void
podvm_rest_deadline_disarm(SoupServerMessage *msg)
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
    podvm_rest_deadline_disarm(msg);
}

static void
request_finished_cb(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
    podvm_rest_count_status(user_data, soup_server_message_get_status(msg));
    arm_idle_deadline(user_data, msg);
}

/* ---- the route table ------------------------------------------------------------- */

#define ADMIN PODVM_REST_ROLE_ADMIN
#define READER PODVM_REST_ROLE_READER
#define ANYONE PODVM_REST_ROLE_ANYONE

/* Each route with the least trusted role that may call it (README "Access"). */
static const PodvmRestRoute routes[] = {
    { "GET", "/healthz", handle_healthz, ANYONE, NULL },
    { "GET", "/metrics", podvm_rest_handle_metrics, READER, NULL },
    { "GET", "/v1/version", handle_version, READER, NULL },
    { "GET", "/v1/events", podvm_rest_handle_events, READER, "pod" },
    { "GET", "/v1/pods", podvm_rest_handle_list_pods, READER, "labelSelector" },
    { "POST", "/v1/pods", podvm_rest_handle_create_pod, ADMIN, NULL },
    /* ?secrets=true is for admins: the handler says so (podvm_rest_require_admin). */
    { "GET", "/v1/pods/{name}", podvm_rest_handle_get_pod, READER, "secrets" },
    { "PUT", "/v1/pods/{name}", podvm_rest_handle_replace_pod, ADMIN, NULL },
    { "DELETE", "/v1/pods/{name}", podvm_rest_handle_delete, ADMIN, "wait,force" },
    { "POST", "/v1/pods/{name}/start", podvm_rest_handle_start, ADMIN, "wait" },
    { "POST", "/v1/pods/{name}/stop", podvm_rest_handle_stop, ADMIN, "wait" },
    { "POST", "/v1/pods/{name}/kill", podvm_rest_handle_kill, ADMIN, "wait" },
    { "POST", "/v1/pods/{name}/pause", podvm_rest_handle_pause, ADMIN, "wait" },
    { "POST", "/v1/pods/{name}/resume", podvm_rest_handle_resume, ADMIN, "wait" },
    { "POST", "/v1/pods/{name}/restart", podvm_rest_handle_restart, ADMIN, "wait" },
    { "GET", "/v1/pods/{name}/log", podvm_rest_handle_log, READER, "follow" },
    /* Also with ?ticket= instead of credentials (podvm-rest-tickets.c). */
    { "GET", "/v1/pods/{name}/console", podvm_rest_handle_console, ADMIN, "replay,ticket" },
    { "POST", "/v1/pods/{name}/console/ticket", podvm_rest_handle_console_ticket, ADMIN, NULL },
    { "POST", "/v1/pods/{name}/qmp", podvm_rest_handle_qmp, ADMIN, NULL },
    { "POST", "/v1/pods/{name}/disks", podvm_rest_handle_attach_disk, ADMIN, NULL },
    { "DELETE", "/v1/pods/{name}/disks/{disk}", podvm_rest_handle_detach_disk, ADMIN, NULL },
    { "POST", "/v1/pods/{name}/interfaces", podvm_rest_handle_attach_interface, ADMIN, NULL },
    { "DELETE", "/v1/pods/{name}/interfaces/{iface}", podvm_rest_handle_detach_interface, ADMIN,
      NULL },
    { "POST", "/v1/pods/{name}/migrate", podvm_rest_handle_migrate, ADMIN, "wait" },
    { "DELETE", "/v1/pods/{name}/migrate", podvm_rest_handle_cancel_migration, ADMIN, NULL },
    { "POST", "/v1/pods/{name}/exec", podvm_rest_handle_exec, ADMIN, NULL },
    { "GET", "/v1/pods/{name}/guestosinfo", podvm_rest_handle_guest_os_info, READER, NULL },
    { "POST", "/v1/pods/{name}/freeze", podvm_rest_handle_freeze, ADMIN, NULL },
    { "POST", "/v1/pods/{name}/unfreeze", podvm_rest_handle_unfreeze, ADMIN, NULL },
    { "GET", "/v1/volumes", podvm_rest_handle_list_volumes, READER, NULL },
    { "POST", "/v1/volumes", podvm_rest_handle_create_volume, ADMIN, NULL },
    { "GET", "/v1/volumes/{name}", podvm_rest_handle_get_volume, READER, NULL },
    { "DELETE", "/v1/volumes/{name}", podvm_rest_handle_delete_volume, ADMIN, NULL },
    { "GET", "/v1/images", podvm_rest_handle_list_images, READER, NULL },
    { "POST", "/v1/images", podvm_rest_handle_pull_image, ADMIN, "wait" },
    { "POST", "/v1/images/prune", podvm_rest_handle_prune_images, ADMIN, NULL },
    { "DELETE", "/v1/images/{image}", podvm_rest_handle_remove_image, ADMIN, "force" },
    /* The peer API of live migration: a peer podvmd holds the admin token. */
    { "POST", "/v1/migrations", podvm_rest_handle_create_migration, ADMIN, NULL },
    { "GET", "/v1/migrations/{name}", podvm_rest_handle_get_migration, READER, NULL },
    { "DELETE", "/v1/migrations/{name}", podvm_rest_handle_delete_migration, ADMIN, NULL },
    { "POST", "/v1/migrations/{name}/finish", podvm_rest_handle_finish_migration, ADMIN, NULL },
    { "GET", "/v1/migrations/{name}/stream", podvm_rest_handle_migration_stream, ADMIN, "channel" },
};

#undef ADMIN
#undef READER
#undef ANYONE

const char *
podvm_rest_role_to_string(PodvmRestRole role)
{
    switch (role) {
    case PODVM_REST_ROLE_ADMIN:
        return "admin";
    case PODVM_REST_ROLE_READER:
        return "reader";
    case PODVM_REST_ROLE_ANYONE:
        return "anyone";
    }
    return "?";
}

const PodvmRestRoute *
podvm_rest_front_get_routes(gsize *out_n_routes)
{
    *out_n_routes = G_N_ELEMENTS(routes);
    return routes;
}

gboolean
podvm_rest_route_knows_query(const PodvmRestRoute *route, const char *key)
{
    gsize length = strlen(key);

    for (const char *p = route->query; p != NULL && *p != '\0';) {
        const char *end = strchrnul(p, ',');

        if ((gsize)(end - p) == length && memcmp(p, key, length) == 0)
            return TRUE;
        p = *end == ',' ? end + 1 : end;
    }
    return FALSE;
}

/*
 * The query parameters of @req that its route does not declare: 400 naming
 * the first (in name order, so the answer does not depend on hashing) and
 * FALSE.
 */
static gboolean
check_query(Request *req)
{
    g_autofree const char **keys = NULL;
    g_autoptr(GString) known = NULL;
    guint n_keys = 0;

    if (req->query == NULL || g_hash_table_size(req->query) == 0)
        return TRUE;
    keys = (const char **)g_hash_table_get_keys_as_array(req->query, &n_keys);
    qsort(keys, n_keys, sizeof *keys, (GCompareFunc)g_strcmp0);
    for (guint i = 0; i < n_keys; i++) {
        g_autofree char *quoted = NULL;

        if (podvm_rest_route_knows_query(req->route, keys[i]))
            continue;
        quoted = podvm_quote_for_message(keys[i]);
        if (req->route->query == NULL) {
            podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                         _("unknown query parameter %s: %s %s takes none"), quoted,
                                         req->route->method, req->route->pattern);
        } else {
            known = g_string_new(req->route->query);
            g_string_replace(known, ",", ", ", 0);
            podvm_rest_respond_new_error(req, PODVM_ERROR_INVALID_ARGUMENT,
                                         _("unknown query parameter %s: %s %s takes %s"), quoted,
                                         req->route->method, req->route->pattern, known->str);
        }
        return FALSE;
    }
    return TRUE;
}

/*
 * Every body the API reads is JSON: a body that says it is something else
 * (curl -d sends application/x-www-form-urlencoded) is answered 415 rather
 * than read as JSON. A body without a Content-Type is taken as JSON; an
 * empty body says nothing and is not checked.
 */
static gboolean
check_content_type(Request *req)
{
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(req->msg);
    SoupMessageBody *body = soup_server_message_get_request_body(req->msg);
    const char *type = soup_message_headers_get_content_type(headers, NULL);
    g_autofree char *message = NULL;
    g_autofree char *quoted = NULL;

    if (body == NULL || body->length == 0 || type == NULL ||
        g_ascii_strcasecmp(type, "application/json") == 0)
        return TRUE;
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg), "Accept-Post",
                                 "application/json");
    quoted = podvm_quote_for_message(type);
    message = g_strdup_printf(_("the body's Content-Type is %s; send application/json"), quoted);
    podvm_rest_respond_http_error(req, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType",
                                  message);
    return FALSE;
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
 * Whether @path fits @pattern; the {name} segment goes to @out_name, any
 * other placeholder's to @out_item ({image}, last: the rest of the path).
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

        if (length == strlen("{image}") && memcmp(pattern, "{image}", length) == 0 &&
            *pattern_end == '\0') {
            /*
             * An image reference, the rest of the path: libsoup hands the
             * path decoded, so docker.io%2Flibrary%2Fredis%3A7 arrives
             * with its slashes.
             */
            if (*path == '\0')
                return FALSE;
            item = path;
            item_length = strlen(path);
            break;
        }
        if (length == strlen("{name}") && memcmp(pattern, "{name}", length) == 0) {
            if (path_end == path)
                return FALSE;
            name = path;
            name_length = (gsize)(path_end - path);
        } else if (length > 2 && pattern[0] == '{' && pattern[length - 1] == '}') {
            /* The item placeholder: {disk}, {iface}, ... */
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

/* Whether two SHA-256 digests are equal, in constant time. */
static gboolean
digest_equal(GBytes *given, GBytes *expected)
{
    gsize length = 0;
    const guint8 *a = g_bytes_get_data(given, &length);
    const guint8 *b = g_bytes_get_data(expected, NULL);
    guint8 diff = 0;

    for (gsize i = 0; i < length; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

/*
 * The caller's role (README "Access"): the unix sockets by their path
 * (each guarded by its mode), TCP by the bearer token. The digests of
 * the given token and of both tokens are compared in constant time:
 * neither a token's length nor its content leaks through timing.
 */
static PodvmRestRole
caller_role(PodvmRestFront *self, SoupServerMessage *msg)
{
    GSocketAddress *local = soup_server_message_get_local_address(msg);
    const char *header;
    g_autoptr(GBytes) given = NULL;
    gboolean admin, reader;

    if (local != NULL && G_IS_UNIX_SOCKET_ADDRESS(local)) {
        /* An accepted unix socket's own address is its listener's path. */
        const char *path = g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(local));

        if (self->socket_path != NULL && g_strcmp0(path, self->socket_path) == 0)
            return PODVM_REST_ROLE_ADMIN;
        if (self->ro_socket_path != NULL && g_strcmp0(path, self->ro_socket_path) == 0)
            return PODVM_REST_ROLE_READER;
        return PODVM_REST_ROLE_ANYONE; /* not a listener of ours: nothing but /healthz */
    }
    if (local == NULL || !G_IS_INET_SOCKET_ADDRESS(local))
        return PODVM_REST_ROLE_ANYONE;
    header =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    if (header == NULL || g_ascii_strncasecmp(header, "Bearer ", 7) != 0)
        return PODVM_REST_ROLE_ANYONE;
    header += 7;
    while (*header == ' ')
        header++;
    given = token_digest(header, strlen(header));
    /* Both compared, always: which one matched does not show in the time taken. */
    admin = self->token_digest != NULL && digest_equal(given, self->token_digest);
    reader = self->reader_token_digest != NULL && digest_equal(given, self->reader_token_digest);
    if (admin)
        return PODVM_REST_ROLE_ADMIN;
    return reader ? PODVM_REST_ROLE_READER : PODVM_REST_ROLE_ANYONE;
}

static char *
peer_text(SoupServerMessage *msg)
{
    GSocketAddress *peer = soup_server_message_get_remote_address(msg);

    return peer != NULL ? g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(peer))
                        : g_strdup("?");
}

static void
refuse_unauthorized(Request *req, const char *method, const char *path, const char *why,
                    const char *message)
{
    g_autofree char *who = peer_text(req->msg);

    /* Never the token or ticket itself in the log. */
    g_message("REST: %s %s from %s refused: %s", method, path, who, why);
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                 "WWW-Authenticate", "Bearer realm=\"podvm\"");
    podvm_rest_respond_http_error(req, SOUP_STATUS_UNAUTHORIZED, "Unauthorized", message);
}

static void
server_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
    PodvmRestFront *self = user_data;
    const char *method = soup_server_message_get_method(msg);
    g_autoptr(GString) allow = g_string_new(NULL);
    g_autoptr(PodvmRestRequest) req = podvm_rest_request_new(self, msg, query);
    const PodvmRestRoute *route = NULL;
    const char *ticket;

    /* The web console's static files: no token (they hold no secrets). */
    if (podvm_rest_web_handle(req, path))
        return;
    req->role = caller_role(self, msg);
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

    /* A browser cannot set a header on a WebSocket: the console takes a ticket instead. */
    ticket = podvm_rest_query_get(req, "ticket");
    if (route != NULL && route->handler == podvm_rest_handle_console && ticket != NULL) {
        if (!podvm_rest_tickets_redeem(self, ticket, req->name)) {
            refuse_unauthorized(req, method, path, "wrong, expired or used console ticket",
                                _("the console ticket is wrong, expired or already used; ask "
                                  "for a new one with POST /v1/pods/NAME/console/ticket"));
            return;
        }
        req->role = PODVM_REST_ROLE_ADMIN;
    }
    /* Without credentials only the open routes answer; anything else, even a 404, is 401. */
    if (req->role == PODVM_REST_ROLE_ANYONE &&
        (route == NULL || route->role != PODVM_REST_ROLE_ANYONE)) {
        refuse_unauthorized(req, method, path, "missing or wrong bearer token",
                            _("a valid bearer token is required"));
        return;
    }
    if (route != NULL && req->role > route->role) {
        g_autofree char *what = g_strdup_printf("%s %s", method, path);

        podvm_rest_require_admin(req, what);
        return;
    }
    if (route != NULL) {
        req->route = route;
        if (check_query(req) && check_content_type(req))
            route->handler(req);
    } else if (allow->len > 0) {
        g_autofree char *message =
            g_strdup_printf(_("%s is not allowed on %s; allowed: %s"), method, path, allow->str);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                     allow->str);
        podvm_rest_respond_http_error(req, SOUP_STATUS_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                                      message);
    } else {
        podvm_rest_respond_new_error(req, PODVM_ERROR_NOT_FOUND, _("no such resource: %s"), path);
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
        doc = podvm_rest_error_document(status, "InvalidArgument", message, NULL);
    } else {
        message =
            g_strdup_printf(_("the request body is larger than %u bytes"), PODVM_REST_MAX_BODY);
        doc = podvm_rest_error_document(status, "PayloadTooLarge", message, NULL);
    }
    json = podvm_json_to_string(doc, FALSE);
    g_object_set_data(G_OBJECT(msg), "podvm-rest-stolen", GINT_TO_POINTER(1));
    podvm_rest_deadline_disarm(msg);
    stream = soup_server_message_steal_connection(msg);
    if (stream == NULL)
        return G_SOURCE_REMOVE;
    if (self != NULL)
        podvm_rest_count_status(self, status);
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
        podvm_rest_console_end(g_ptr_array_index(self->consoles, 0), "podvmd stops");
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
    if (self->ro_socket_path != NULL)
        g_unlink(self->ro_socket_path);
    g_clear_pointer(&self->ro_socket_path, g_free);
    /* Scrapes still waiting answer with what they have. */
    podvm_rest_scrapes_abandon(self);
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
    g_clear_pointer(&self->reader_token_digest, g_bytes_unref);
    g_clear_pointer(&self->tickets, podvm_rest_tickets_free);
    g_clear_object(&self->tcp_socket);
    g_clear_pointer(&self->tcp_address, g_free);
    g_clear_object(&self->tcp_certificate);
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
    self->streams = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_rest_stream_free);
    self->consoles = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_rest_console_release);
    self->scrapes = g_ptr_array_new();
}

PodvmRestFront *
podvm_rest_front_new(PodvmManager *manager)
{
    PodvmRestFront *self = g_object_new(PODVM_TYPE_REST_FRONT, NULL);

    self->manager = g_object_ref(manager);
    self->request_timeout_ms = podvm_manager_get_config(manager)->rest_request_timeout_ms;
    self->max_client_queue = podvm_manager_get_config(manager)->rest_max_client_queue;
    self->tickets =
        podvm_rest_tickets_new(podvm_manager_get_config(manager)->rest_console_ticket_s);
    self->server = soup_server_new("server-header", "podvmd/" PODVM_VERSION " ", NULL);
    self->conns = podvm_rest_conns_new(self->server);
    soup_server_add_early_handler(self->server, NULL, early_cb, self, NULL);
    soup_server_add_handler(self->server, NULL, server_cb, self, NULL);
    g_signal_connect(self->server, "request-finished", G_CALLBACK(request_finished_cb), self);
    g_signal_connect(self->server, "request-started", G_CALLBACK(request_started_cb), self);
    g_signal_connect(self->server, "request-read", G_CALLBACK(request_read_cb), self);
    g_signal_connect(manager, "event", G_CALLBACK(podvm_rest_manager_event_cb), self);
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

/*
 * Listens on a unix socket at @path, born with @mode (no moment when others
 * may connect), given to group podvm where that exists when @group.
 */
static gboolean
listen_unix(PodvmRestFront *self, const char *path, mode_t mode, gboolean group, GError **error)
{
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    struct group *podvm_group;
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
    old_umask = umask(~mode & 0777);
    bound = g_socket_bind(socket, address, FALSE, error);
    umask(old_umask);
    if (!bound) {
        g_prefix_error(error, _("cannot listen on '%s': "), path);
        return FALSE;
    }
    podvm_group = group ? getgrnam("podvm") : NULL;
    if (podvm_group != NULL && chown(path, (uid_t)-1, podvm_group->gr_gid) != 0)
        g_message("cannot give '%s' to group podvm: %s", path, g_strerror(errno));
    if (g_chmod(path, (int)mode) != 0)
        g_message("cannot set the mode of '%s': %s", path, g_strerror(errno));
    /* Many clients connecting at once must not find the queue full (EAGAIN). */
    g_socket_set_listen_backlog(socket, LISTEN_BACKLOG);
    if (!g_socket_listen(socket, error) ||
        !soup_server_listen_socket(self->server, socket, 0, error)) {
        g_prefix_error(error, _("cannot listen on '%s': "), path);
        g_unlink(path);
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_rest_front_listen_unix(PodvmRestFront *self, const char *path, GError **error)
{
    if (!listen_unix(self, path, 0660, TRUE, error))
        return FALSE;
    g_free(self->socket_path);
    self->socket_path = g_strdup(path);
    g_message("REST API on unix socket %s", path);
    return TRUE;
}

gboolean
podvm_rest_front_listen_unix_read_only(PodvmRestFront *self, const char *path, GError **error)
{
    if (!listen_unix(self, path, 0666, FALSE, error))
        return FALSE;
    g_free(self->ro_socket_path);
    self->ro_socket_path = g_strdup(path);
    g_message("REST API for readers on unix socket %s", path);
    return TRUE;
}

void
podvm_rest_front_set_reader_token(PodvmRestFront *self, const char *token)
{
    g_clear_pointer(&self->reader_token_digest, g_bytes_unref);
    if (token != NULL && token[0] != '\0')
        self->reader_token_digest = token_digest(token, strlen(token));
}

/*
 * bind() with SO_REUSEADDR and SO_REUSEPORT: g_socket_bind() turns
 * SO_REUSEPORT off on stream sockets.
 */
static gboolean
bind_reusing_port(GSocket *socket, GSocketAddress *address, GError **error)
{
    struct sockaddr_storage native;
    int fd = g_socket_get_fd(socket);
    int one = 1;

    if (!g_socket_address_to_native(address, &native, sizeof native, error))
        return FALSE;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&native,
             (socklen_t)g_socket_address_get_native_size(address)) != 0) {
        int saved = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "%s", g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}

/*
 * A new TCP listener at @address ("ADDR:PORT"), HTTPS with @certificate.
 * SO_REUSEPORT: a reload that changes the certificate binds the same
 * address while the old listener still runs, and closes that one after.
 */
static GSocket *
listen_tcp(PodvmRestFront *self, const char *address, GTlsCertificate *certificate, GError **error)
{
    g_autoptr(GInetAddress) inet = NULL;
    g_autoptr(GSocketAddress) socket_address = NULL;
    g_autoptr(GSocket) socket = NULL;
    g_autofree char *host = NULL;
    const char *colon = strrchr(address, ':');
    SoupServerListenOptions options = 0;
    char *end = NULL;
    guint64 port;

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
        return NULL;
    }
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
        return NULL;
    }
    if (g_socket_address_get_family(socket_address) == G_SOCKET_FAMILY_IPV6) {
        g_autoptr(GError) option_error = NULL;

        if (!g_socket_set_option(socket, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, &option_error))
            g_message("REST: cannot make %s IPv6 only: %s", address, option_error->message);
    }
    if (!bind_reusing_port(socket, socket_address, error)) {
        g_prefix_error(error, _("cannot listen on %s: "), address);
        return NULL;
    }
    if (certificate != NULL) {
        /* The server's certificate goes to the listeners made after: this one. */
        soup_server_set_tls_certificate(self->server, certificate);
        options |= SOUP_SERVER_LISTEN_HTTPS;
    }
    g_socket_set_listen_backlog(socket, LISTEN_BACKLOG);
    if (!g_socket_listen(socket, error) ||
        !soup_server_listen_socket(self->server, socket, options, error)) {
        g_prefix_error(error, _("cannot listen on %s: "), address);
        return NULL;
    }
    g_message("REST API on %s://%s (bearer token required)",
              (options & SOUP_SERVER_LISTEN_HTTPS) ? "https" : "http", address);
    return g_steal_pointer(&socket);
}

/* The TCP listener stops taking connections; those it took carry on. */
static void
close_tcp(PodvmRestFront *self)
{
    if (self->tcp_socket == NULL)
        return;
    /* libsoup's watch on it finds it closed and ends (soup_listener's accept fails). */
    g_socket_close(self->tcp_socket, NULL);
    g_message("REST: no longer listening on %s", self->tcp_address);
    g_clear_object(&self->tcp_socket);
    g_clear_pointer(&self->tcp_address, g_free);
    g_clear_object(&self->tcp_certificate);
}

gboolean
podvm_rest_front_apply_config(PodvmRestFront *self, const PodvmConfig *config, GError **error)
{
    g_autofree char *token = NULL;
    g_autofree char *reader_token = NULL;
    g_autoptr(GTlsCertificate) certificate = NULL;
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GError) local = NULL;
    gboolean replace = FALSE;

    /* TCP only with a token: without one, refuse. */
    if (config->rest_listen != NULL &&
        (token = podvm_config_read_rest_token(config, error)) == NULL)
        return FALSE;
    /* A readers' token that is set must be readable, listener or not. */
    reader_token = podvm_config_read_rest_reader_token(config, token, &local);
    if (local != NULL) {
        g_propagate_error(error, g_steal_pointer(&local));
        goto fail;
    }
    if (config->rest_listen != NULL) {
        if (config->rest_tls_cert != NULL && config->rest_tls_key != NULL) {
            certificate = g_tls_certificate_new_from_files(config->rest_tls_cert,
                                                           config->rest_tls_key, error);
            if (certificate == NULL) {
                g_prefix_error(error, _("[rest] tls_cert/tls_key: "));
                goto fail;
            }
        }
        replace =
            self->tcp_socket == NULL || g_strcmp0(self->tcp_address, config->rest_listen) != 0 ||
            (certificate == NULL) != (self->tcp_certificate == NULL) ||
            (certificate != NULL && !g_tls_certificate_is_same(certificate, self->tcp_certificate));
    }
    if (replace && (socket = listen_tcp(self, config->rest_listen, certificate, error)) == NULL)
        goto fail;
    /* Nothing can fail from here: the new settings take over at once. */
    if (replace || config->rest_listen == NULL)
        close_tcp(self);
    if (replace) {
        self->tcp_socket = g_steal_pointer(&socket);
        self->tcp_address = g_strdup(config->rest_listen);
        self->tcp_certificate = g_steal_pointer(&certificate);
    }
    g_clear_pointer(&self->token_digest, g_bytes_unref);
    if (token != NULL) {
        self->token_digest = token_digest(token, strlen(token));
        explicit_bzero(token, strlen(token));
    }
    podvm_rest_front_set_reader_token(self, reader_token);
    if (reader_token != NULL)
        explicit_bzero(reader_token, strlen(reader_token));
    self->request_timeout_ms = config->rest_request_timeout_ms;
    self->max_client_queue = config->rest_max_client_queue;
    return TRUE;

fail:
    if (token != NULL)
        explicit_bzero(token, strlen(token));
    if (reader_token != NULL)
        explicit_bzero(reader_token, strlen(reader_token));
    return FALSE;
}
