/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The distribution API's requests: credentials, challenges, redirects,
 * retries; manifests. Blobs are in podvm-registry-blob.c.
 */
#include "podvm-registry-client-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-build-config.h"
#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-registry-auth.h"
#include "podvm-registry-manifest.h"

#define MAX_REDIRECTS 5
#define TOKEN_BODY_MAX (256 * 1024)
#define DEFAULT_TIMEOUT 30
#define BACKOFF_MS 500

typedef struct {
    char *value;
    gint64 expires; /* monotonic, us */
} Token;

struct _PodvmRegistryClient {
    GObject parent_instance;

    SoupSession *session;
    GStrv insecure;     /* lowercase "HOST[:PORT]" */
    char *auth_file;    /* owned, or NULL */
    guint timeout;      /* seconds */
    GHashTable *tokens; /* "REGISTRY\nSCOPE" -> Token */
    GHashTable *basic;  /* registries that asked for Basic: set of names */
};

G_DEFINE_FINAL_TYPE(PodvmRegistryClient, podvm_registry_client, G_TYPE_OBJECT)

static void
token_free(Token *token)
{
    g_free(token->value);
    g_free(token);
}

static void
podvm_registry_client_finalize(GObject *object)
{
    PodvmRegistryClient *self = PODVM_REGISTRY_CLIENT(object);

    g_clear_object(&self->session);
    g_strfreev(self->insecure);
    g_free(self->auth_file);
    g_hash_table_unref(self->tokens);
    g_hash_table_unref(self->basic);
    G_OBJECT_CLASS(podvm_registry_client_parent_class)->finalize(object);
}

static void
podvm_registry_client_class_init(PodvmRegistryClientClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = podvm_registry_client_finalize;
}

static void
podvm_registry_client_init(PodvmRegistryClient *self)
{
    self->tokens =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)token_free);
    self->basic = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/*
 * The environment's https_proxy/http_proxy/no_proxy, or none: not the
 * desktop's proxy settings (GLib's default resolver loads libproxy and
 * dconf into podvmd).
 */
static GProxyResolver *
proxy_from_environment(void)
{
    const char *https = g_getenv("https_proxy") ? g_getenv("https_proxy") : g_getenv("HTTPS_PROXY");
    const char *http = g_getenv("http_proxy") ? g_getenv("http_proxy") : g_getenv("HTTP_PROXY");
    const char *no = g_getenv("no_proxy") ? g_getenv("no_proxy") : g_getenv("NO_PROXY");
    g_auto(GStrv) ignore = NULL;
    GProxyResolver *resolver;

    if ((https == NULL || *https == '\0') && (http == NULL || *http == '\0'))
        return NULL;
    ignore = g_strsplit(no != NULL ? no : "", ",", -1);
    resolver = g_simple_proxy_resolver_new(NULL, ignore);
    if (https != NULL && *https != '\0')
        g_simple_proxy_resolver_set_uri_proxy(G_SIMPLE_PROXY_RESOLVER(resolver), "https", https);
    if (http != NULL && *http != '\0')
        g_simple_proxy_resolver_set_uri_proxy(G_SIMPLE_PROXY_RESOLVER(resolver), "http", http);
    return resolver;
}

PodvmRegistryClient *
podvm_registry_client_new(const PodvmImageStoreOptions *options)
{
    PodvmRegistryClient *self = g_object_new(PODVM_TYPE_REGISTRY_CLIENT, NULL);
    g_autoptr(GProxyResolver) proxy = proxy_from_environment();
    guint n =
        options->insecure_registries != NULL ? g_strv_length(options->insecure_registries) : 0;

    self->timeout = options->timeout_seconds != 0 ? options->timeout_seconds : DEFAULT_TIMEOUT;
    self->auth_file = g_strdup(options->auth_file);
    self->insecure = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++)
        self->insecure[i] = g_strstrip(g_ascii_strdown(options->insecure_registries[i], -1));
    self->session = soup_session_new_with_options(
        "timeout", self->timeout, "idle-timeout", 60, "max-conns-per-host", 6, "user-agent",
        "podvm/" PODVM_VERSION, "proxy-resolver", proxy, NULL);
    /* Challenges are answered here (Bearer is not libsoup's); blobs are hashed as sent. */
    soup_session_remove_feature_by_type(self->session, SOUP_TYPE_AUTH_MANAGER);
    soup_session_remove_feature_by_type(self->session, SOUP_TYPE_CONTENT_DECODER);
    return self;
}

gboolean
podvm_registry_client_is_insecure(PodvmRegistryClient *self, const char *registry)
{
    g_autofree char *lower = g_ascii_strdown(registry, -1);

    return g_strv_contains((const char *const *)self->insecure, lower);
}

/* "HOST[:PORT]" of @uri as a registry is written ("[::1]:5000"). */
static char *
uri_authority(GUri *uri)
{
    const char *host = g_uri_get_host(uri);
    gboolean v6 = host != NULL && strchr(host, ':') != NULL;
    g_autofree char *h = g_strdup_printf(v6 ? "[%s]" : "%s", host != NULL ? host : "");

    if (g_uri_get_port(uri) > 0)
        return g_strdup_printf("%s:%d", h, g_uri_get_port(uri));
    return g_steal_pointer(&h);
}

gboolean
podvm_registry_error_is_transient(const GError *error)
{
    if (error->domain == G_TLS_ERROR)
        return FALSE;
    if (error->domain == PODVM_ERROR)
        return FALSE;
    if (error->domain == G_IO_ERROR)
        return !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
               !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) &&
               !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
    return error->domain == G_RESOLVER_ERROR || error->domain == SOUP_SESSION_ERROR;
}

GError *
podvm_registry_client_transport_error(PodvmRegistryClient *self, const char *registry,
                                      const GError *error)
{
    g_autofree char *quoted = podvm_quote_for_message(registry);

    if (error->domain == PODVM_ERROR)
        return g_error_copy(error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("pull from registry %s cancelled"),
                           quoted);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        return g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                           _("registry %s did not answer within %u s"), quoted, self->timeout);
    /* A TLS failure with a registry that speaks plain HTTP looks like this. */
    if (!podvm_registry_client_is_insecure(self, registry) &&
        (error->domain == G_TLS_ERROR ||
         g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED)))
        return g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                           _("registry %s: secure connection failed: %s (a registry that speaks "
                             "plain HTTP must be listed in podvmd.conf [images] "
                             "insecure_registries)"),
                           quoted, error->message);
    return g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("registry %s is unreachable: %s"), quoted,
                       error->message);
}

/* --- reading a body with a limit --------------------------------------- */

typedef struct {
    GInputStream *stream;
    GByteArray *data;
    gsize max;
} ReadBody;

static void
read_body_free(ReadBody *read)
{
    g_object_unref(read->stream);
    g_byte_array_unref(read->data);
    g_free(read);
}

static void read_body_next(GTask *task);

static void
read_body_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    ReadBody *read = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(read->stream, result, &error);

    if (chunk == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (g_bytes_get_size(chunk) == 0) {
        g_input_stream_close_async(read->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        g_task_return_pointer(task, g_byte_array_free_to_bytes(g_byte_array_ref(read->data)),
                              (GDestroyNotify)g_bytes_unref);
        return;
    }
    if (read->data->len + g_bytes_get_size(chunk) > read->max) {
        g_input_stream_close_async(read->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("larger than the limit of %" G_GSIZE_FORMAT " bytes"), read->max);
        return;
    }
    g_byte_array_append(read->data, g_bytes_get_data(chunk, NULL), g_bytes_get_size(chunk));
    read_body_next(g_steal_pointer(&task));
}

static void
read_body_next(GTask *task)
{
    ReadBody *read = g_task_get_task_data(task);

    g_input_stream_read_bytes_async(read->stream, 65536, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable(task), read_body_cb, task);
}

void
podvm_registry_read_body_async(GInputStream *stream, gsize max, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    ReadBody *read = g_new0(ReadBody, 1);

    g_task_set_source_tag(task, podvm_registry_read_body_async);
    read->stream = g_object_ref(stream);
    read->data = g_byte_array_new();
    read->max = max;
    g_task_set_task_data(task, read, (GDestroyNotify)read_body_free);
    read_body_next(task);
}

GBytes *
podvm_registry_read_body_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* --- one request: credentials, challenges, redirects, retries ------------ */

typedef struct {
    PodvmImageRef *ref;
    char *what;
    char *accept;
    char *scope;
    goffset range_start;
    GUri *uri;
    gboolean on_registry; /* the URI is the registry's own: credentials may go */
    guint attempt;
    guint redirects;
    gboolean answered; /* a challenge was answered: another 401 is a refusal */
    SoupMessage *message;
    PodvmRegistryChallenge *challenge;
    char *user;
    char *password;
    guint retry_id;
} Request;

static void
request_free(Request *request)
{
    podvm_image_ref_free(request->ref);
    g_free(request->what);
    g_free(request->accept);
    g_free(request->scope);
    g_clear_pointer(&request->uri, g_uri_unref);
    g_clear_object(&request->message);
    podvm_registry_challenge_free(request->challenge);
    g_free(request->user);
    if (request->password != NULL)
        explicit_bzero(request->password, strlen(request->password));
    g_free(request->password);
    g_clear_handle_id(&request->retry_id, g_source_remove);
    g_free(request);
}

static char *
token_key(const char *registry, const char *scope)
{
    return g_strconcat(registry, "\n", scope, NULL);
}

static char *
basic_header(const char *user, const char *password)
{
    g_autofree char *pair = g_strconcat(user, ":", password, NULL);
    g_autofree char *encoded = g_base64_encode((const guchar *)pair, strlen(pair));

    explicit_bzero(pair, strlen(pair));
    return g_strconcat("Basic ", encoded, NULL);
}

static void request_send(GTask *task);

static void
request_fail(GTask *task, GError *error)
{
    PodvmRegistryClient *self = g_task_get_source_object(task);
    Request *request = g_task_get_task_data(task);
    g_autoptr(GError) owned = error;

    g_task_return_error(task,
                        podvm_registry_client_transport_error(self, request->ref->registry, owned));
}

static gboolean
retry_cb(gpointer user_data)
{
    GTask *task = user_data;
    Request *request = g_task_get_task_data(task);

    request->retry_id = 0;
    request_send(task);
    return G_SOURCE_REMOVE;
}

/* Another try after a backoff, when tries remain; FALSE otherwise. */
static gboolean
request_retry(GTask *task)
{
    Request *request = g_task_get_task_data(task);

    if (request->attempt + 1 >= PODVM_REGISTRY_TRIES)
        return FALSE;
    g_debug("registry %s: %s: try %u of %u", request->ref->registry, request->what,
            request->attempt + 2, PODVM_REGISTRY_TRIES);
    request->attempt++;
    /* The task holds the reference the pending send held. */
    request->retry_id = g_timeout_add(BACKOFF_MS << (request->attempt - 1), retry_cb, task);
    return TRUE;
}

/* "CODE: message" from the registry's {"errors": [...]} body, or NULL. */
static char *
registry_error_text(GBytes *body)
{
    g_autoptr(JsonNode) root = NULL;
    gsize length = 0;
    const char *data = body != NULL ? g_bytes_get_data(body, &length) : NULL;
    JsonNode *errors;
    JsonObject *first;
    const char *code = NULL, *message = NULL;

    if (data == NULL || length == 0)
        return NULL;
    root = podvm_json_parse_limited(data, (gssize)length, length, 8, NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        return NULL;
    errors = json_object_get_member(json_node_get_object(root), "errors");
    if (errors == NULL || !JSON_NODE_HOLDS_ARRAY(errors) ||
        json_array_get_length(json_node_get_array(errors)) == 0 ||
        !JSON_NODE_HOLDS_OBJECT(json_array_get_element(json_node_get_array(errors), 0)))
        return NULL;
    first = json_array_get_object_element(json_node_get_array(errors), 0);
    if (json_object_has_member(first, "code") &&
        JSON_NODE_HOLDS_VALUE(json_object_get_member(first, "code")))
        code = json_object_get_string_member(first, "code");
    if (json_object_has_member(first, "message") &&
        JSON_NODE_HOLDS_VALUE(json_object_get_member(first, "message")))
        message = json_object_get_string_member(first, "message");
    if (code == NULL && message == NULL)
        return NULL;
    {
        g_autofree char *text =
            g_strdup_printf("%s%s%s", code != NULL ? code : "", code && message ? ": " : "",
                            message != NULL ? message : "");
        char *quoted = podvm_quote_for_message(text);

        return quoted;
    }
}

static void
status_error_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Request *request = g_task_get_task_data(task);
    g_autoptr(GBytes) body = podvm_registry_read_body_finish(result, NULL);
    g_autofree char *text = registry_error_text(body);
    g_autofree char *registry = podvm_quote_for_message(request->ref->registry);
    guint status = soup_message_get_status(request->message);
    int code = PODVM_ERROR_FAILED;

    if (status == SOUP_STATUS_NOT_FOUND)
        code = PODVM_ERROR_NOT_FOUND;
    else if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN)
        code = PODVM_ERROR_PERMISSION_DENIED;
    if (code == PODVM_ERROR_NOT_FOUND)
        g_task_return_new_error(task, PODVM_ERROR, code, _("registry %s does not have %s%s%s"),
                                registry, request->what, text != NULL ? ": " : "",
                                text != NULL ? text : "");
    else if (code == PODVM_ERROR_PERMISSION_DENIED)
        g_task_return_new_error(
            task, PODVM_ERROR, code, _("registry %s refused access to %s (HTTP %u)%s%s%s"),
            registry, request->what, status, text != NULL ? ": " : "", text != NULL ? text : "",
            request->user == NULL ? _("; give credentials in [images] auth_file") : "");
    else
        g_task_return_new_error(task, PODVM_ERROR, code,
                                _("registry %s answered HTTP %u %s for %s%s%s"), registry, status,
                                soup_message_get_reason_phrase(request->message)
                                    ? soup_message_get_reason_phrase(request->message)
                                    : "",
                                request->what, text != NULL ? ": " : "", text != NULL ? text : "");
}

static void
fail_with_status(GTask *task, GInputStream *stream)
{
    podvm_registry_read_body_async(stream, PODVM_REGISTRY_ERROR_BODY_MAX,
                                   g_task_get_cancellable(task), status_error_cb, task);
}

/* --- answering a challenge ---------------------------------------------- */

static void
token_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmRegistryClient *self = g_task_get_source_object(task);
    Request *request = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body = podvm_registry_read_body_finish(result, &error);
    g_autofree char *registry = podvm_quote_for_message(request->ref->registry);
    g_autofree char *value = NULL;
    guint expires_in = 60;
    Token *token;

    if (body == NULL) {
        if (error->domain == PODVM_ERROR && error->code == PODVM_ERROR_FAILED)
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                    _("registry %s: the token server's answer is %s"), registry,
                                    error->message);
        else
            request_fail(task, g_steal_pointer(&error));
        return;
    }
    value = podvm_registry_token_parse(g_bytes_get_data(body, NULL), g_bytes_get_size(body),
                                       &expires_in, &error);
    if (value == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED, _("registry %s: %s"),
                                registry, error->message);
        return;
    }
    token = g_new0(Token, 1);
    token->value = g_steal_pointer(&value);
    token->expires =
        g_get_monotonic_time() + (gint64)MAX(expires_in, 30) * G_USEC_PER_SEC - 10 * G_USEC_PER_SEC;
    g_hash_table_replace(self->tokens, token_key(request->ref->registry, request->scope), token);
    request->answered = TRUE;
    request_send(g_steal_pointer(&task));
}

static void
token_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Request *request = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GInputStream) stream = soup_session_send_finish(SOUP_SESSION(source), result, &error);
    g_autofree char *registry = podvm_quote_for_message(request->ref->registry);
    guint status;

    if (stream == NULL) {
        request_fail(task, g_steal_pointer(&error));
        return;
    }
    status = soup_message_get_status(request->message);
    if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
        g_input_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        if (request->user != NULL)
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                                    _("registry %s refused the credentials of user %s (HTTP %u "
                                      "from its token server)"),
                                    registry, request->user, status);
        else
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                                    _("registry %s needs credentials (HTTP %u from its token "
                                      "server): give them in [images] auth_file"),
                                    registry, status);
        return;
    }
    if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
        g_input_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s: its token server answered HTTP %u"), registry,
                                status);
        return;
    }
    podvm_registry_read_body_async(stream, TOKEN_BODY_MAX, g_task_get_cancellable(task),
                                   token_read_cb, task);
    g_steal_pointer(&task);
}

static void
fetch_token(GTask *owned)
{
    g_autoptr(GTask) task = owned;
    PodvmRegistryClient *self = g_task_get_source_object(task);
    Request *request = g_task_get_task_data(task);
    const char *realm = podvm_registry_challenge_get(request->challenge, "realm");
    const char *service = podvm_registry_challenge_get(request->challenge, "service");
    g_autofree char *registry = podvm_quote_for_message(request->ref->registry);
    g_autoptr(GUri) realm_uri = NULL;
    g_autoptr(GUri) uri = NULL;
    g_autoptr(GString) query = g_string_new(NULL);
    g_autofree char *authority = NULL;
    const char *scheme;

    realm_uri = realm != NULL ? g_uri_parse(realm, G_URI_FLAGS_ENCODED, NULL) : NULL;
    scheme = realm_uri != NULL ? g_uri_get_scheme(realm_uri) : NULL;
    if (scheme == NULL || g_uri_get_host(realm_uri) == NULL ||
        (!g_str_equal(scheme, "https") && !g_str_equal(scheme, "http"))) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s asks for a token without a usable realm URL"),
                                registry);
        return;
    }
    authority = uri_authority(realm_uri);
    if (g_str_equal(scheme, "http") &&
        !podvm_registry_client_is_insecure(self, request->ref->registry) &&
        !podvm_registry_client_is_insecure(self, authority)) {
        g_autofree char *quoted = podvm_quote_for_message(realm);

        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s sends to token server %s over plain HTTP; list "
                                  "it in [images] insecure_registries to allow that"),
                                registry, quoted);
        return;
    }
    if (g_uri_get_query(realm_uri) != NULL)
        g_string_append(query, g_uri_get_query(realm_uri));
    if (service != NULL) {
        g_autofree char *escaped = g_uri_escape_string(service, NULL, FALSE);

        g_string_append_printf(query, "%sservice=%s", query->len > 0 ? "&" : "", escaped);
    }
    {
        g_autofree char *escaped = g_uri_escape_string(request->scope, NULL, FALSE);

        g_string_append_printf(query, "%sscope=%s", query->len > 0 ? "&" : "", escaped);
    }
    uri = g_uri_build(G_URI_FLAGS_ENCODED, scheme, NULL, g_uri_get_host(realm_uri),
                      g_uri_get_port(realm_uri), g_uri_get_path(realm_uri), query->str, NULL);
    g_clear_object(&request->message);
    request->message = soup_message_new_from_uri("GET", uri);
    soup_message_add_flags(request->message, SOUP_MESSAGE_NO_REDIRECT);
    if (request->user != NULL) {
        g_autofree char *header = basic_header(request->user, request->password);

        soup_message_headers_replace(soup_message_get_request_headers(request->message),
                                     "Authorization", header);
    }
    soup_session_send_async(self->session, request->message, G_PRIORITY_DEFAULT,
                            g_task_get_cancellable(task), token_sent_cb, task);
    g_steal_pointer(&task);
}

static void
answer_challenge(GTask *owned)
{
    g_autoptr(GTask) task = owned;
    PodvmRegistryClient *self = g_task_get_source_object(task);
    Request *request = g_task_get_task_data(task);
    g_autofree char *registry = podvm_quote_for_message(request->ref->registry);

    if (g_str_equal(request->challenge->scheme, "bearer")) {
        const char *scope = podvm_registry_challenge_get(request->challenge, "scope");

        /* The registry's scope when it names one, else pulling this repository. */
        if (scope != NULL && *scope != '\0') {
            g_free(request->scope);
            request->scope = g_strdup(scope);
        }
        fetch_token(g_steal_pointer(&task));
        return;
    }
    /* Basic: the credentials go with every request to this registry from now on. */
    if (request->user == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                                _("registry %s needs credentials: give them in [images] "
                                  "auth_file"),
                                registry);
        return;
    }
    g_hash_table_add(self->basic, g_strdup(request->ref->registry));
    request->answered = TRUE;
    request_send(g_steal_pointer(&task));
}

static void
credentials_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmRegistryClient *self = g_task_get_source_object(task);
    Request *request = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autofree char *data = NULL;
    gsize length = 0;

    if (!g_file_load_contents_finish(G_FILE(source), result, &data, &length, NULL, &error)) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO, _("auth file %s: %s"),
                                    self->auth_file, error->message);
            return;
        }
    } else if (!podvm_registry_auth_lookup_data(data, length, request->ref->registry,
                                                request->ref->repository, &request->user,
                                                &request->password, &error)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("auth file %s: %s"), self->auth_file, error->message);
        return;
    }
    if (data != NULL)
        explicit_bzero(data, length);
    answer_challenge(g_steal_pointer(&task));
}

/* A 401 with its challenge: load the credentials (once), then answer it. */
static void
challenged(GTask *owned, const char *header)
{
    g_autoptr(GTask) task = owned;
    PodvmRegistryClient *self = g_task_get_source_object(task);
    Request *request = g_task_get_task_data(task);
    g_autoptr(GPtrArray) challenges = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *registry = podvm_quote_for_message(request->ref->registry);
    const PodvmRegistryChallenge *pick;

    challenges = podvm_registry_challenges_parse(header, &error);
    if (challenges == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED, _("registry %s: %s"),
                                registry, error->message);
        return;
    }
    pick = podvm_registry_challenges_pick(challenges);
    if (pick == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s asks for an authentication scheme podvm does not "
                                  "speak (only Bearer and Basic)"),
                                registry);
        return;
    }
    podvm_registry_challenge_free(request->challenge);
    request->challenge = g_new0(PodvmRegistryChallenge, 1);
    request->challenge->scheme = g_strdup(pick->scheme);
    request->challenge->params = g_hash_table_ref(pick->params);
    if (self->auth_file != NULL && request->user == NULL) {
        g_autoptr(GFile) file = g_file_new_for_path(self->auth_file);

        g_file_load_contents_async(file, g_task_get_cancellable(task), credentials_cb, task);
        g_steal_pointer(&task);
        return;
    }
    answer_challenge(g_steal_pointer(&task));
}

static void
request_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Request *request = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GInputStream) stream = soup_session_send_finish(SOUP_SESSION(source), result, &error);
    SoupMessageHeaders *headers;
    guint status;

    if (stream == NULL) {
        if (podvm_registry_error_is_transient(error) && request_retry(task)) {
            g_steal_pointer(&task);
            return;
        }
        request_fail(task, g_steal_pointer(&error));
        return;
    }
    status = soup_message_get_status(request->message);
    headers = soup_message_get_response_headers(request->message);
    if (SOUP_STATUS_IS_SUCCESSFUL(status)) {
        g_task_return_pointer(task, g_steal_pointer(&stream), g_object_unref);
        return;
    }
    if (SOUP_STATUS_IS_REDIRECTION(status) &&
        soup_message_headers_get_one(headers, "Location") != NULL) {
        PodvmRegistryClient *self = g_task_get_source_object(task);
        const char *location = soup_message_headers_get_one(headers, "Location");
        g_autoptr(GUri) next =
            g_uri_parse_relative(request->uri, location, G_URI_FLAGS_ENCODED, NULL);
        g_autofree char *authority = next != NULL ? uri_authority(next) : NULL;
        g_autofree char *registry = podvm_quote_for_message(request->ref->registry);

        g_input_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        if (next == NULL || request->redirects >= MAX_REDIRECTS ||
            (g_strcmp0(g_uri_get_scheme(next), "https") != 0 &&
             !(g_strcmp0(g_uri_get_scheme(next), "http") == 0 &&
               podvm_registry_client_is_insecure(self, authority)))) {
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                    _("registry %s redirected %s to a place podvm does not "
                                      "follow (too many redirects, or plain HTTP to a host not "
                                      "in insecure_registries)"),
                                    registry, request->what);
            return;
        }
        request->redirects++;
        {
            g_autofree char *current = uri_authority(request->uri);

            /* Credentials go to the registry only, not to the storage it redirects to. */
            if (g_strcmp0(authority, current) != 0)
                request->on_registry = FALSE;
        }
        g_uri_unref(request->uri);
        request->uri = g_steal_pointer(&next);
        request_send(g_steal_pointer(&task));
        return;
    }
    if (status == SOUP_STATUS_UNAUTHORIZED && request->on_registry && !request->answered &&
        soup_message_headers_get_one(headers, "WWW-Authenticate") != NULL) {
        g_autofree char *header =
            g_strdup(soup_message_headers_get_one(headers, "WWW-Authenticate"));

        g_input_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        challenged(g_steal_pointer(&task), header);
        return;
    }
    if ((status >= 500 || status == 429) && request_retry(task)) {
        g_input_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        g_steal_pointer(&task);
        return;
    }
    fail_with_status(g_steal_pointer(&task), stream);
}

static void
request_send(GTask *task)
{
    PodvmRegistryClient *self = g_task_get_source_object(task);
    Request *request = g_task_get_task_data(task);
    SoupMessageHeaders *headers;

    if (g_task_return_error_if_cancelled(task)) {
        g_object_unref(task);
        return;
    }
    g_clear_object(&request->message);
    request->message = soup_message_new_from_uri("GET", request->uri);
    soup_message_add_flags(request->message, SOUP_MESSAGE_NO_REDIRECT);
    headers = soup_message_get_request_headers(request->message);
    if (request->accept != NULL)
        soup_message_headers_replace(headers, "Accept", request->accept);
    if (request->range_start > 0)
        soup_message_headers_set_range(headers, request->range_start, -1);
    if (request->on_registry) {
        g_autofree char *key = token_key(request->ref->registry, request->scope);
        Token *token = g_hash_table_lookup(self->tokens, key);

        if (token != NULL && token->expires > g_get_monotonic_time()) {
            g_autofree char *value = g_strconcat("Bearer ", token->value, NULL);

            soup_message_headers_replace(headers, "Authorization", value);
        } else if (g_hash_table_contains(self->basic, request->ref->registry) &&
                   request->user != NULL) {
            g_autofree char *value = basic_header(request->user, request->password);

            soup_message_headers_replace(headers, "Authorization", value);
        }
    }
    soup_session_send_async(self->session, request->message, G_PRIORITY_DEFAULT,
                            g_task_get_cancellable(task), request_sent_cb, task);
}

void
podvm_registry_client_request_async(PodvmRegistryClient *self, const PodvmImageRef *ref,
                                    const char *what, const char *path, const char *accept,
                                    goffset range_start, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    Request *request = g_new0(Request, 1);
    const char *host = podvm_image_ref_get_api_host(ref);
    g_autofree char *url = NULL;
    gboolean insecure = podvm_registry_client_is_insecure(self, ref->registry) ||
                        podvm_registry_client_is_insecure(self, host);

    g_task_set_source_tag(task, podvm_registry_client_request_async);
    request->ref = podvm_image_ref_copy(ref);
    request->what = g_strdup(what);
    request->accept = g_strdup(accept);
    request->range_start = range_start;
    request->scope = g_strdup_printf("repository:%s:pull", ref->repository);
    request->on_registry = TRUE;
    g_task_set_task_data(task, request, (GDestroyNotify)request_free);
    url = g_strdup_printf("%s://%s%s", insecure ? "http" : "https", host, path);
    request->uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
    if (request->uri == NULL) {
        g_autofree char *quoted = podvm_quote_for_message(url);

        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("cannot make a URL of %s"), quoted);
        g_object_unref(task);
        return;
    }
    request_send(task);
}

GInputStream *
podvm_registry_client_request_finish(PodvmRegistryClient *self, GAsyncResult *result,
                                     SoupMessage **out_message, GError **error)
{
    Request *request = g_task_get_task_data(G_TASK(result));
    GInputStream *stream = g_task_propagate_pointer(G_TASK(result), error);

    if (stream != NULL && out_message != NULL)
        *out_message = g_object_ref(request->message);
    return stream;
}

/* --- manifests ---------------------------------------------------------- */

typedef struct {
    PodvmImageRef *ref;
    char *reference;
    char *what;
    guint64 max_size;
    SoupMessage *message;
    char *content_type;
    char *digest;
} GetManifest;

static void
get_manifest_free(GetManifest *get)
{
    podvm_image_ref_free(get->ref);
    g_free(get->reference);
    g_free(get->what);
    g_clear_object(&get->message);
    g_free(get->content_type);
    g_free(get->digest);
    g_free(get);
}

static void
manifest_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GetManifest *get = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body = podvm_registry_read_body_finish(result, &error);
    g_autofree char *registry = podvm_quote_for_message(get->ref->registry);

    if (body == NULL) {
        PodvmRegistryClient *self = g_task_get_source_object(task);

        if (g_error_matches(error, PODVM_ERROR, PODVM_ERROR_FAILED))
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                    _("registry %s: %s is %s"), registry, get->what,
                                    error->message);
        else
            g_task_return_error(
                task, podvm_registry_client_transport_error(self, get->ref->registry, error));
        return;
    }
    get->digest = podvm_registry_digest_of(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
    if (g_str_has_prefix(get->reference, "sha256:") && !g_str_equal(get->digest, get->reference)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s sent %s with digest %s: digest mismatch"), registry,
                                get->what, get->digest);
        return;
    }
    g_task_return_pointer(task, g_steal_pointer(&body), (GDestroyNotify)g_bytes_unref);
}

static void
manifest_sent_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GetManifest *get = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GInputStream) stream = podvm_registry_client_request_finish(
        PODVM_REGISTRY_CLIENT(source), result, &get->message, &error);
    SoupMessageHeaders *headers;
    goffset length;

    if (stream == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    headers = soup_message_get_response_headers(get->message);
    get->content_type = g_strdup(soup_message_headers_get_one(headers, "Content-Type"));
    length = soup_message_headers_get_content_length(headers);
    if (length > 0 && (guint64)length > get->max_size) {
        g_autofree char *registry = podvm_quote_for_message(get->ref->registry);

        g_input_stream_close_async(stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("registry %s: %s is %" G_GINT64_FORMAT
                                  " bytes, larger than the limit of %" G_GUINT64_FORMAT),
                                registry, get->what, (gint64)length, get->max_size);
        return;
    }
    podvm_registry_read_body_async(stream, get->max_size, g_task_get_cancellable(task),
                                   manifest_read_cb, task);
    g_steal_pointer(&task);
}

void
podvm_registry_client_get_manifest_async(PodvmRegistryClient *self, const PodvmImageRef *ref,
                                         const char *reference, guint64 max_size,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    GetManifest *get = g_new0(GetManifest, 1);
    g_autofree char *path = g_strdup_printf("/v2/%s/manifests/%s", ref->repository, reference);
    g_autofree char *name = podvm_image_ref_get_name(ref);

    g_task_set_source_tag(task, podvm_registry_client_get_manifest_async);
    get->ref = podvm_image_ref_copy(ref);
    get->reference = g_strdup(reference);
    get->max_size = max_size != 0 ? max_size : PODVM_REGISTRY_MANIFEST_MAX_SIZE;
    get->what = g_strdup_printf(_("the manifest %s%s%s"), name,
                                g_str_has_prefix(reference, "sha256:") ? "@" : ":", reference);
    g_task_set_task_data(task, get, (GDestroyNotify)get_manifest_free);
    podvm_registry_client_request_async(self, ref, get->what, path, PODVM_MEDIA_MANIFEST_ACCEPT, 0,
                                        cancellable, manifest_sent_cb, task);
}

GBytes *
podvm_registry_client_get_manifest_finish(PodvmRegistryClient *self, GAsyncResult *result,
                                          char **out_content_type, char **out_digest,
                                          GError **error)
{
    GetManifest *get = g_task_get_task_data(G_TASK(result));
    GBytes *body = g_task_propagate_pointer(G_TASK(result), error);

    if (body != NULL) {
        if (out_content_type != NULL)
            *out_content_type = g_strdup(get->content_type);
        if (out_digest != NULL)
            *out_digest = g_strdup(get->digest);
    }
    return body;
}
