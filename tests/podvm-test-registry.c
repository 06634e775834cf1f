/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-registry.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "podvm-test-util.h"

#define SERVICE "podvm-test-registry"
#define ISSUER "podvm-test-token-issuer"
#define START_TIMEOUT_MS 30000
#define TOKEN_LIFETIME_S 3600
#define MANIFEST_ACCEPT                                                                     \
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " \
    "application/vnd.docker.distribution.manifest.v2+json, "                                \
    "application/vnd.docker.distribution.manifest.list.v2+json"

struct _PodvmTestRegistry {
    PodvmTestRegistryFlags flags;
    char *dir;
    char *log_path;
    char *host;
    char *url;
    GSubprocess *process;
    SoupSession *session;
    /* TOKEN_AUTH */
    char *username;
    char *password;
    char *auth_file;
    char *realm;
    char *cert_path;
    char *key_path;
    char *cert_der_base64;
    GThread *token_thread;
    GMainContext *token_context;
    GMainLoop *token_loop;
    GMutex token_lock;
    GCond token_cond;
    guint token_port; /* set by the token thread once it listens */
    gint tokens_issued;
    gint tokens_refused;
};

/* ---- the token server (its own thread and main context) ---- */

static char *
base64url(const void *data, gsize length)
{
    char *text = g_base64_encode(data, length);
    char *end = text + strlen(text);

    while (end > text && end[-1] == '=')
        *--end = '\0';
    g_strdelimit(text, "+", '-');
    g_strdelimit(text, "/", '_');
    return text;
}

/* RS256: `openssl dgst -sha256 -sign KEY` over @input (stdin), raw signature on stdout. */
static GBytes *
rs256_sign(PodvmTestRegistry *reg, const char *input)
{
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GBytes) in = g_bytes_new(input, strlen(input));
    g_autoptr(GBytes) out = NULL;
    g_autoptr(GError) error = NULL;

    proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                            "openssl", "dgst", "-sha256", "-sign", reg->key_path, NULL);
    if (proc == NULL || !g_subprocess_communicate(proc, in, NULL, &out, NULL, &error) ||
        !g_subprocess_get_successful(proc)) {
        g_printerr("podvm-test-registry: openssl could not sign a token: %s\n",
                   error != NULL ? error->message : "it failed");
        return NULL;
    }
    return g_steal_pointer(&out);
}

/* The scopes of the request: "repository:apps/redis:pull,push" (one per scope=). */
static GPtrArray *
request_scopes(SoupServerMessage *msg)
{
    GUri *uri = soup_server_message_get_uri(msg);
    const char *query = g_uri_get_query(uri);
    GPtrArray *scopes = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) params = NULL;

    if (query == NULL)
        return scopes;
    params = g_strsplit(query, "&", -1);
    for (guint i = 0; params[i] != NULL; i++) {
        g_autofree char *plus = NULL;
        char *value;

        if (!g_str_has_prefix(params[i], "scope="))
            continue;
        plus = g_strdup(params[i] + 6);
        g_strdelimit(plus, "+", ' ');
        value = g_uri_unescape_string(plus, NULL);
        if (value != NULL) {
            /* Some clients send several scopes in one parameter, space separated. */
            g_auto(GStrv) parts = g_strsplit(value, " ", -1);

            for (guint j = 0; parts[j] != NULL; j++) {
                if (parts[j][0] != '\0')
                    g_ptr_array_add(scopes, g_strdup(parts[j]));
            }
            g_free(value);
        }
    }
    return scopes;
}

/* The "access" claim: each scope with the actions granted (pull only for anonymous). */
static void
add_access(JsonBuilder *b, GPtrArray *scopes, gboolean anonymous)
{
    json_builder_set_member_name(b, "access");
    json_builder_begin_array(b);
    for (guint i = 0; i < scopes->len; i++) {
        const char *scope = scopes->pdata[i];
        const char *first = strchr(scope, ':');
        const char *last = strrchr(scope, ':');
        g_autofree char *type = NULL;
        g_autofree char *name = NULL;
        g_auto(GStrv) actions = NULL;

        if (first == NULL || last == first)
            continue;
        type = g_strndup(scope, (gsize)(first - scope));
        name = g_strndup(first + 1, (gsize)(last - first - 1));
        actions = g_strsplit(last + 1, ",", -1);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, type);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, name);
        json_builder_set_member_name(b, "actions");
        json_builder_begin_array(b);
        for (guint j = 0; actions[j] != NULL; j++) {
            if (!anonymous || strcmp(actions[j], "pull") == 0)
                json_builder_add_string_value(b, actions[j]);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static char *
builder_text(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    return json_to_string(root, FALSE);
}

static char *
make_jwt(PodvmTestRegistry *reg, const char *subject, GPtrArray *scopes, gboolean anonymous)
{
    g_autoptr(JsonBuilder) header = json_builder_new();
    g_autoptr(JsonBuilder) claims = json_builder_new();
    g_autofree char *header_text = NULL;
    g_autofree char *claims_text = NULL;
    g_autofree char *header_b64 = NULL;
    g_autofree char *claims_b64 = NULL;
    g_autofree char *signing_input = NULL;
    g_autofree char *signature_b64 = NULL;
    g_autofree char *jti = g_uuid_string_random();
    g_autoptr(GBytes) signature = NULL;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;

    json_builder_begin_object(header);
    json_builder_set_member_name(header, "typ");
    json_builder_add_string_value(header, "JWT");
    json_builder_set_member_name(header, "alg");
    json_builder_add_string_value(header, "RS256");
    json_builder_set_member_name(header, "x5c");
    json_builder_begin_array(header);
    json_builder_add_string_value(header, reg->cert_der_base64);
    json_builder_end_array(header);
    json_builder_end_object(header);

    json_builder_begin_object(claims);
    json_builder_set_member_name(claims, "iss");
    json_builder_add_string_value(claims, ISSUER);
    json_builder_set_member_name(claims, "sub");
    json_builder_add_string_value(claims, subject);
    json_builder_set_member_name(claims, "aud");
    json_builder_add_string_value(claims, SERVICE);
    json_builder_set_member_name(claims, "exp");
    json_builder_add_int_value(claims, now + TOKEN_LIFETIME_S);
    json_builder_set_member_name(claims, "nbf");
    json_builder_add_int_value(claims, now - 60);
    json_builder_set_member_name(claims, "iat");
    json_builder_add_int_value(claims, now);
    json_builder_set_member_name(claims, "jti");
    json_builder_add_string_value(claims, jti);
    add_access(claims, scopes, anonymous);
    json_builder_end_object(claims);

    header_text = builder_text(header);
    claims_text = builder_text(claims);
    header_b64 = base64url(header_text, strlen(header_text));
    claims_b64 = base64url(claims_text, strlen(claims_text));
    signing_input = g_strconcat(header_b64, ".", claims_b64, NULL);
    signature = rs256_sign(reg, signing_input);
    if (signature == NULL)
        return NULL;
    signature_b64 = base64url(g_bytes_get_data(signature, NULL), g_bytes_get_size(signature));
    return g_strconcat(signing_input, ".", signature_b64, NULL);
}

/* TRUE when @msg carries the registry's credentials; @out_present: any Basic credentials. */
static gboolean
check_basic(PodvmTestRegistry *reg, SoupServerMessage *msg, gboolean *out_present)
{
    const char *auth =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    g_autofree char *expected_plain = g_strdup_printf("%s:%s", reg->username, reg->password);
    g_autofree guchar *decoded = NULL;
    gsize length = 0;

    *out_present = FALSE;
    if (auth == NULL || g_ascii_strncasecmp(auth, "Basic ", 6) != 0)
        return FALSE;
    *out_present = TRUE;
    decoded = g_base64_decode(auth + 6, &length);
    return length == strlen(expected_plain) && memcmp(decoded, expected_plain, length) == 0;
}

static void
token_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
    PodvmTestRegistry *reg = user_data;
    g_autoptr(GPtrArray) scopes = NULL;
    g_autoptr(JsonBuilder) b = NULL;
    g_autofree char *token = NULL;
    g_autofree char *body = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *issued_at = g_date_time_format_iso8601(now);
    gboolean present = FALSE;
    gboolean valid;

    (void)server;
    (void)path;
    (void)query;
    /* One request per connection: none is left open when the server goes. */
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                 "close");
    if (strcmp(soup_server_message_get_method(msg), "GET") != 0) {
        soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
        return;
    }
    valid = check_basic(reg, msg, &present);
    if (!valid && (present || (reg->flags & PODVM_TEST_REGISTRY_ANONYMOUS_PULL) == 0)) {
        g_atomic_int_inc(&reg->tokens_refused);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                     "WWW-Authenticate", "Basic realm=\"podvm-test-registry\"");
        soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
                                         "{\"details\": \"incorrect username or password\"}", 44);
        return;
    }
    scopes = request_scopes(msg);
    token = make_jwt(reg, valid ? reg->username : "", scopes, !valid);
    if (token == NULL) {
        soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "token");
    json_builder_add_string_value(b, token);
    json_builder_set_member_name(b, "access_token");
    json_builder_add_string_value(b, token);
    json_builder_set_member_name(b, "expires_in");
    json_builder_add_int_value(b, TOKEN_LIFETIME_S);
    json_builder_set_member_name(b, "issued_at");
    json_builder_add_string_value(b, issued_at);
    json_builder_end_object(b);
    body = builder_text(b);
    g_atomic_int_inc(&reg->tokens_issued);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body, strlen(body));
}

static gpointer
token_thread_main(gpointer data)
{
    PodvmTestRegistry *reg = data;
    g_autoptr(SoupServer) server = NULL;
    g_autoptr(GError) error = NULL;
    GSList *uris;
    guint port = 0;

    g_main_context_push_thread_default(reg->token_context);
    server = soup_server_new("server-header", "podvm-test-token-server", NULL);
    soup_server_add_handler(server, "/token", token_cb, reg, NULL);
    if (soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error)) {
        uris = soup_server_get_uris(server);
        port = (guint)g_uri_get_port(uris->data);
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    } else {
        g_printerr("podvm-test-registry: the token server cannot listen: %s\n", error->message);
    }
    g_mutex_lock(&reg->token_lock);
    reg->token_port = port != 0 ? port : G_MAXUINT;
    g_cond_signal(&reg->token_cond);
    g_mutex_unlock(&reg->token_lock);
    if (port != 0)
        g_main_loop_run(reg->token_loop);
    soup_server_disconnect(server);
    g_clear_object(&server);
    /* Let the connections' sources go before the context does: they end in idles. */
    {
        gint64 until = g_get_monotonic_time() + 200 * 1000;

        while (g_get_monotonic_time() < until) {
            if (!g_main_context_iteration(reg->token_context, FALSE))
                g_usleep(10 * 1000);
        }
    }
    g_main_context_pop_thread_default(reg->token_context);
    return NULL;
}

/* The DER of the PEM certificate @path, base64 (x5c): the PEM's body joined. */
static char *
pem_body(const char *path)
{
    g_autofree char *pem = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) body = g_string_new(NULL);
    gboolean inside = FALSE;

    g_assert_true(g_file_get_contents(path, &pem, NULL, NULL));
    lines = g_strsplit(pem, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = g_strstrip(lines[i]);

        if (g_str_has_prefix(line, "-----BEGIN CERTIFICATE"))
            inside = TRUE;
        else if (g_str_has_prefix(line, "-----END"))
            break;
        else if (inside)
            g_string_append(body, line);
    }
    g_assert_cmpuint(body->len, >, 0);
    return g_string_free(g_steal_pointer(&body), FALSE);
}

static gboolean
start_token_server(PodvmTestRegistry *reg)
{
    const char *names[] = { ISSUER, NULL };

    if (!podvm_test_make_certificate(reg->dir, names, &reg->cert_path, &reg->key_path))
        return FALSE;
    reg->cert_der_base64 = pem_body(reg->cert_path);
    reg->username = g_strdup("podvm-tester");
    reg->password = g_strdup_printf("pw-%08x%08x", g_random_int(), g_random_int());

    reg->token_context = g_main_context_new();
    reg->token_loop = g_main_loop_new(reg->token_context, FALSE);
    g_mutex_init(&reg->token_lock);
    g_cond_init(&reg->token_cond);
    reg->token_thread = g_thread_new("token-server", token_thread_main, reg);
    g_mutex_lock(&reg->token_lock);
    while (reg->token_port == 0)
        g_cond_wait(&reg->token_cond, &reg->token_lock);
    g_mutex_unlock(&reg->token_lock);
    g_assert_cmpuint(reg->token_port, !=, G_MAXUINT);
    reg->realm = g_strdup_printf("http://127.0.0.1:%u/token", reg->token_port);
    return TRUE;
}

static void
write_auth_file(PodvmTestRegistry *reg)
{
    g_autofree char *plain = g_strdup_printf("%s:%s", reg->username, reg->password);
    g_autofree char *auth = g_base64_encode((const guchar *)plain, strlen(plain));
    g_autofree char *json =
        g_strdup_printf("{\"auths\": {\"%s\": {\"auth\": \"%s\"}}}\n", reg->host, auth);
    g_autoptr(GError) error = NULL;

    reg->auth_file = g_build_filename(reg->dir, "auth.json", NULL);
    g_file_set_contents(reg->auth_file, json, -1, &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_chmod(reg->auth_file, 0600), ==, 0);
}

/* ---- the registry process ---- */

static guint
free_port(void)
{
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(socket);
    g_socket_bind(socket, any, FALSE, &error);
    g_assert_no_error(error);
    bound = g_socket_get_local_address(socket, &error);
    g_assert_no_error(error);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void
write_config(PodvmTestRegistry *reg, const char *config_path, guint port)
{
    g_autofree char *storage = g_build_filename(reg->dir, "storage", NULL);
    g_autoptr(GString) yaml = g_string_new(NULL);
    g_autoptr(GError) error = NULL;

    g_string_append_printf(yaml,
                           "version: 0.1\n"
                           "log:\n"
                           "  level: info\n"
                           "  formatter: json\n"
                           "  accesslog:\n"
                           "    disabled: true\n"
                           "storage:\n"
                           "  filesystem:\n"
                           "    rootdirectory: \"%s\"\n"
                           "  delete:\n"
                           "    enabled: true\n"
                           "  maintenance:\n"
                           "    uploadpurging:\n"
                           "      enabled: false\n"
                           "http:\n"
                           "  addr: \"127.0.0.1:%u\"\n"
                           "  secret: \"podvm-test-%08x\"\n",
                           storage, port, g_random_int());
    if (reg->flags & PODVM_TEST_REGISTRY_TOKEN_AUTH)
        g_string_append_printf(yaml,
                               "auth:\n"
                               "  token:\n"
                               "    realm: \"%s\"\n"
                               "    service: \"" SERVICE "\"\n"
                               "    issuer: \"" ISSUER "\"\n"
                               "    rootcertbundle: \"%s\"\n",
                               reg->realm, reg->cert_path);
    g_file_set_contents(config_path, yaml->str, (gssize)yaml->len, &error);
    g_assert_no_error(error);
}

static void
child_setup(gpointer data)
{
    (void)data;
    /* The registry goes with the test program, however it ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static SoupMessage *
new_get(PodvmTestRegistry *reg, const char *path_or_url)
{
    g_autofree char *url = g_str_has_prefix(path_or_url, "http")
                               ? g_strdup(path_or_url)
                               : g_strconcat(reg->url, path_or_url, NULL);

    return soup_message_new("GET", url);
}

/* The status of GET @path (0 when no connection). */
static guint
plain_get(PodvmTestRegistry *reg, const char *path, const char *authorization, char **out_body,
          char **out_challenge)
{
    g_autoptr(SoupMessage) msg = new_get(reg, path);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) error = NULL;

    if (authorization != NULL)
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                     authorization);
    /* Without them, docker-registry answers 404 for an OCI manifest. */
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept", MANIFEST_ACCEPT);
    body = soup_session_send_and_read(reg->session, msg, NULL, &error);
    if (body == NULL)
        return 0;
    if (out_body != NULL)
        *out_body = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
    if (out_challenge != NULL)
        *out_challenge = g_strdup(soup_message_headers_get_one(
            soup_message_get_response_headers(msg), "WWW-Authenticate"));
    return soup_message_get_status(msg);
}

static gboolean
start_process(PodvmTestRegistry *reg, const char *binary, GError **error)
{
    g_autofree char *config_path = g_build_filename(reg->dir, "config.yml", NULL);
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
    guint port = free_port();
    gint64 deadline;
    int fd;

    g_free(reg->host);
    g_free(reg->url);
    reg->host = g_strdup_printf("127.0.0.1:%u", port);
    reg->url = g_strdup_printf("http://%s", reg->host);
    write_config(reg, config_path, port);
    fd = open(reg->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    g_assert_cmpint(fd, >=, 0);
    g_subprocess_launcher_take_stdout_fd(launcher, dup(fd));
    g_subprocess_launcher_take_stderr_fd(launcher, fd);
    g_subprocess_launcher_unsetenv(launcher, "REGISTRY_HTTP_ADDR");
    g_subprocess_launcher_set_child_setup(launcher, child_setup, NULL, NULL);
    reg->process = g_subprocess_launcher_spawn(launcher, error, binary, "serve", config_path, NULL);
    if (reg->process == NULL)
        return FALSE;
    deadline = g_get_monotonic_time() + START_TIMEOUT_MS * 1000;
    while (g_get_monotonic_time() < deadline) {
        guint status = plain_get(reg, "/v2/", NULL, NULL, NULL);

        if (status == SOUP_STATUS_OK || status == SOUP_STATUS_UNAUTHORIZED)
            return TRUE;
        /* Exited: its port was taken in between, or the config was refused. */
        if (g_subprocess_get_identifier(reg->process) == NULL)
            break;
        g_usleep(50 * 1000);
    }
    g_subprocess_force_exit(reg->process);
    g_subprocess_wait(reg->process, NULL, NULL);
    g_clear_object(&reg->process);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                "docker-registry did not answer on %s (its log: %s)", reg->host, reg->log_path);
    return FALSE;
}

PodvmTestRegistry *
podvm_test_registry_start(PodvmTestRegistryFlags flags)
{
    g_autofree char *binary = g_find_program_in_path("docker-registry");
    g_autofree char *skopeo = g_find_program_in_path("skopeo");
    PodvmTestRegistry *reg;
    g_autoptr(GError) error = NULL;

    if (binary == NULL) {
        g_test_skip("docker-registry is not installed (apt-get install docker-registry): no "
                    "registry to test against");
        return NULL;
    }
    if (skopeo == NULL) {
        g_test_skip("skopeo is not installed (apt-get install skopeo): no way to push test "
                    "images");
        return NULL;
    }
    reg = g_new0(PodvmTestRegistry, 1);
    reg->flags = flags;
    reg->dir = podvm_test_mkdtemp();
    reg->log_path = g_build_filename(reg->dir, "registry.log", NULL);
    reg->session = soup_session_new_with_options("timeout", 10, NULL);
    soup_session_set_proxy_resolver(reg->session, NULL);
    if ((flags & PODVM_TEST_REGISTRY_TOKEN_AUTH) && !start_token_server(reg)) {
        podvm_test_registry_stop(reg);
        return NULL;
    }
    /* A port taken between free_port() and the registry's bind: try another. */
    for (guint attempt = 0; attempt < 3; attempt++) {
        g_clear_error(&error);
        if (start_process(reg, binary, &error))
            break;
    }
    if (error != NULL) {
        g_autofree char *log = NULL;

        g_file_get_contents(reg->log_path, &log, NULL, NULL);
        g_test_message("docker-registry's log:\n%s", log != NULL ? log : "");
    }
    g_assert_no_error(error);
    if (flags & PODVM_TEST_REGISTRY_TOKEN_AUTH)
        write_auth_file(reg);
    return reg;
}

void
podvm_test_registry_stop(PodvmTestRegistry *reg)
{
    if (reg == NULL)
        return;
    if (reg->process != NULL) {
        g_subprocess_send_signal(reg->process, SIGTERM);
        /* GLib's worker thread reaps it: the identifier goes then. */
        for (guint i = 0; i < 100 && g_subprocess_get_identifier(reg->process) != NULL; i++)
            g_usleep(50 * 1000);
        g_subprocess_force_exit(reg->process);
        g_subprocess_wait(reg->process, NULL, NULL);
        g_clear_object(&reg->process);
    }
    g_clear_object(&reg->session);
    if (reg->token_thread != NULL) {
        g_main_loop_quit(reg->token_loop);
        g_thread_join(reg->token_thread);
        g_main_loop_unref(reg->token_loop);
        g_main_context_unref(reg->token_context);
        g_mutex_clear(&reg->token_lock);
        g_cond_clear(&reg->token_cond);
    }
    if (reg->dir != NULL)
        podvm_test_rmrf(reg->dir);
    g_free(reg->dir);
    g_free(reg->log_path);
    g_free(reg->host);
    g_free(reg->url);
    g_free(reg->username);
    g_free(reg->password);
    g_free(reg->auth_file);
    g_free(reg->realm);
    g_free(reg->cert_path);
    g_free(reg->key_path);
    g_free(reg->cert_der_base64);
    g_free(reg);
}

const char *
podvm_test_registry_host(PodvmTestRegistry *reg)
{
    return reg->host;
}

const char *
podvm_test_registry_url(PodvmTestRegistry *reg)
{
    return reg->url;
}

const char *
podvm_test_registry_dir(PodvmTestRegistry *reg)
{
    return reg->dir;
}

const char *
podvm_test_registry_log_path(PodvmTestRegistry *reg)
{
    return reg->log_path;
}

const char *
podvm_test_registry_username(PodvmTestRegistry *reg)
{
    return reg->username;
}

const char *
podvm_test_registry_password(PodvmTestRegistry *reg)
{
    return reg->password;
}

const char *
podvm_test_registry_auth_file(PodvmTestRegistry *reg)
{
    return reg->auth_file;
}

const char *
podvm_test_registry_token_realm(PodvmTestRegistry *reg)
{
    return reg->realm;
}

guint
podvm_test_registry_tokens_issued(PodvmTestRegistry *reg)
{
    return (guint)g_atomic_int_get(&reg->tokens_issued);
}

guint
podvm_test_registry_tokens_refused(PodvmTestRegistry *reg)
{
    return (guint)g_atomic_int_get(&reg->tokens_refused);
}

/* ---- push ---- */

gboolean
podvm_test_registry_push_full(PodvmTestRegistry *reg, const char *oci_dir, const char *tag,
                              const char *repo_tag, const char *format, char **out_digest,
                              GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *digest_file = g_build_filename(reg->dir, "push-digest", NULL);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *digest = NULL;

    g_ptr_array_add(argv, g_strdup("skopeo"));
    /* The host's /etc/containers/policy.json is not the test's business. */
    g_ptr_array_add(argv, g_strdup("--insecure-policy"));
    g_ptr_array_add(argv, g_strdup("copy"));
    g_ptr_array_add(argv, g_strdup("--quiet"));
    g_ptr_array_add(argv, g_strdup("--all"));
    g_ptr_array_add(argv, g_strdup("--dest-tls-verify=false"));
    if (reg->username != NULL)
        g_ptr_array_add(argv, g_strdup_printf("--dest-creds=%s:%s", reg->username, reg->password));
    if (format != NULL)
        g_ptr_array_add(argv, g_strdup_printf("--format=%s", format));
    g_ptr_array_add(argv, g_strdup_printf("--digestfile=%s", digest_file));
    g_ptr_array_add(argv, g_strdup_printf("oci:%s:%s", oci_dir, tag));
    g_ptr_array_add(argv, g_strdup_printf("docker://%s/%s", reg->host, repo_tag));
    g_ptr_array_add(argv, NULL);

    /* No auth file of the user's nor ours: only the credentials given. */
    {
        g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);

        g_autofree char *empty_auth = g_build_filename(reg->dir, "skopeo-auth.json", NULL);

        if (!g_file_set_contents(empty_auth, "{\"auths\": {}}\n", -1, error))
            return FALSE;
        g_subprocess_launcher_setenv(launcher, "REGISTRY_AUTH_FILE", empty_auth, TRUE);
        g_subprocess_launcher_setenv(launcher, "XDG_RUNTIME_DIR", reg->dir, TRUE);
        proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, error);
    }
    if (proc == NULL)
        return FALSE;
    if (!g_subprocess_communicate_utf8(proc, NULL, NULL, &out, &err, error))
        return FALSE;
    if (!g_subprocess_get_successful(proc)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "skopeo copy to %s/%s failed: %s",
                    reg->host, repo_tag, g_strstrip(err));
        return FALSE;
    }
    if (out_digest != NULL) {
        if (!g_file_get_contents(digest_file, &digest, NULL, error))
            return FALSE;
        *out_digest = g_strdup(g_strstrip(digest));
    }
    return TRUE;
}

gboolean
podvm_test_registry_push(PodvmTestRegistry *reg, const char *oci_dir, const char *tag,
                         const char *repo_tag, GError **error)
{
    return podvm_test_registry_push_full(reg, oci_dir, tag, repo_tag, NULL, NULL, error);
}

/* ---- requests from the test ---- */

/* The value of @key in a Bearer challenge's parameters, or NULL. */
static char *
challenge_param(const char *challenge, const char *key)
{
    g_autofree char *needle = g_strdup_printf("%s=\"", key);
    const char *start = strstr(challenge, needle);
    const char *end;

    if (start == NULL)
        return NULL;
    start += strlen(needle);
    end = strchr(start, '"');
    return end != NULL ? g_strndup(start, (gsize)(end - start)) : NULL;
}

guint
podvm_test_registry_get(PodvmTestRegistry *reg, const char *path, gboolean authenticate,
                        char **out_body)
{
    g_autofree char *challenge = NULL;
    g_autofree char *realm = NULL;
    g_autofree char *service = NULL;
    g_autofree char *scope = NULL;
    g_autofree char *token_url = NULL;
    g_autofree char *token_body = NULL;
    g_autofree char *basic = NULL;
    g_autofree char *bearer = NULL;
    g_autofree char *plain = NULL;
    g_autofree char *encoded = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    guint status = plain_get(reg, path, NULL, out_body, &challenge);

    if (status != SOUP_STATUS_UNAUTHORIZED || !authenticate || reg->username == NULL ||
        challenge == NULL || g_ascii_strncasecmp(challenge, "Bearer ", 7) != 0)
        return status;
    if (out_body != NULL)
        g_clear_pointer(out_body, g_free);
    realm = challenge_param(challenge, "realm");
    service = challenge_param(challenge, "service");
    scope = challenge_param(challenge, "scope");
    g_assert_nonnull(realm);
    {
        g_autofree char *service_q = g_uri_escape_string(service ?: "", NULL, FALSE);
        g_autofree char *scope_q = g_uri_escape_string(scope ?: "", NULL, FALSE);

        token_url = scope != NULL
                        ? g_strdup_printf("%s?service=%s&scope=%s", realm, service_q, scope_q)
                        : g_strdup_printf("%s?service=%s", realm, service_q);
    }
    plain = g_strdup_printf("%s:%s", reg->username, reg->password);
    encoded = g_base64_encode((const guchar *)plain, strlen(plain));
    basic = g_strconcat("Basic ", encoded, NULL);
    status = plain_get(reg, token_url, basic, &token_body, NULL);
    if (status != SOUP_STATUS_OK)
        return status;
    g_assert_true(json_parser_load_from_data(parser, token_body, -1, NULL));
    bearer = g_strconcat(
        "Bearer ",
        json_object_get_string_member(json_node_get_object(json_parser_get_root(parser)), "token"),
        NULL);
    return plain_get(reg, path, bearer, out_body, NULL);
}

guint
podvm_test_registry_count_requests(PodvmTestRegistry *reg, const char *method,
                                   const char *uri_prefix)
{
    g_autofree char *log = NULL;
    g_auto(GStrv) lines = NULL;
    guint count = 0;

    if (!g_file_get_contents(reg->log_path, &log, NULL, NULL))
        return 0;
    lines = g_strsplit(log, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *o;
        const char *msg, *m, *uri;

        if (lines[i][0] != '{' || strstr(lines[i], "response completed") == NULL)
            continue;
        parser = json_parser_new();
        if (!json_parser_load_from_data(parser, lines[i], -1, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
            continue;
        o = json_node_get_object(json_parser_get_root(parser));
        msg = json_object_get_string_member_with_default(o, "msg", "");
        m = json_object_get_string_member_with_default(o, "http.request.method", "");
        uri = json_object_get_string_member_with_default(o, "http.request.uri", "");
        if (strcmp(msg, "response completed") != 0)
            continue;
        if (method != NULL && strcmp(method, m) != 0)
            continue;
        if (uri_prefix != NULL && !g_str_has_prefix(uri, uri_prefix))
            continue;
        count++;
    }
    return count;
}

void
podvm_test_registry_corrupt_blob(PodvmTestRegistry *reg, const char *digest)
{
    const char *hex;
    g_autofree char *two = NULL;
    g_autofree char *path = NULL;
    g_autofree char *data = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    g_assert_true(g_str_has_prefix(digest, "sha256:"));
    hex = digest + 7;
    two = g_strndup(hex, 2);
    path = g_build_filename(reg->dir, "storage", "docker", "registry", "v2", "blobs", "sha256", two,
                            hex, "data", NULL);
    g_file_get_contents(path, &data, &length, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(length, >, 0);
    data[length / 2] ^= 0x5a;
    g_file_set_contents(path, data, (gssize)length, &error);
    g_assert_no_error(error);
}

/* ---- a registry that hangs ---- */

struct _PodvmTestHangingServer {
    GSocket *listener;
    GCancellable *cancellable;
    GThread *thread;
    GPtrArray *accepted; /* GSocket, held open; only the thread touches it until joined */
    char *host;
    gint n_accepted;
};

static gpointer
hanging_thread_main(gpointer data)
{
    PodvmTestHangingServer *server = data;

    for (;;) {
        GSocket *socket = g_socket_accept(server->listener, server->cancellable, NULL);

        if (socket == NULL)
            break;
        g_ptr_array_add(server->accepted, socket);
        g_atomic_int_inc(&server->n_accepted);
    }
    return NULL;
}

PodvmTestHangingServer *
podvm_test_hanging_server_new(void)
{
    PodvmTestHangingServer *server = g_new0(PodvmTestHangingServer, 1);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GError) error = NULL;

    server->listener =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
    g_assert_no_error(error);
    g_socket_bind(server->listener, any, TRUE, &error);
    g_assert_no_error(error);
    g_socket_listen(server->listener, &error);
    g_assert_no_error(error);
    bound = g_socket_get_local_address(server->listener, &error);
    g_assert_no_error(error);
    server->host = g_strdup_printf("127.0.0.1:%u",
                                   g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
    server->cancellable = g_cancellable_new();
    server->accepted = g_ptr_array_new_with_free_func(g_object_unref);
    server->thread = g_thread_new("hanging-server", hanging_thread_main, server);
    return server;
}

void
podvm_test_hanging_server_free(PodvmTestHangingServer *server)
{
    if (server == NULL)
        return;
    g_cancellable_cancel(server->cancellable);
    g_thread_join(server->thread);
    g_ptr_array_unref(server->accepted);
    g_socket_close(server->listener, NULL);
    g_object_unref(server->listener);
    g_object_unref(server->cancellable);
    g_free(server->host);
    g_free(server);
}

const char *
podvm_test_hanging_server_host(PodvmTestHangingServer *server)
{
    return server->host;
}

guint
podvm_test_hanging_server_accepted(PodvmTestHangingServer *server)
{
    return (guint)g_atomic_int_get(&server->n_accepted);
}
