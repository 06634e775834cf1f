/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry client against a registry the test plays itself (a libsoup
 * server on loopback), for what a real registry does not do on demand: a
 * 503, a transfer cut in the middle (resumed with a Range request), a
 * redirect of a blob to another host (no credentials go there), Basic
 * authentication.
 */
#include <libsoup/soup.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-image-store.h"
#include "podvm-registry-manifest.h"
#include "podvm-test-util.h"

#define LAYER_SIZE (300 * 1024)

typedef struct {
    /* The server runs in a thread of its own (fake_thread_main), as the
     * token server of tests/podvm-test-registry.c does: libsoup 3.2's
     * listener leaks what tests/lsan.supp lists for that function. */
    GThread *thread;
    GMainContext *context;
    GMainLoop *loop;
    GMutex lock;
    GCond cond;
    guint port;
    char *host;  /* "127.0.0.1:PORT" */
    char *other; /* "localhost:PORT": the blob storage a redirect points to */
    GBytes *manifest;
    char *manifest_digest;
    GBytes *config;
    char *config_digest;
    GBytes *layer;
    char *layer_digest;
    /* What the test asks for */
    guint fail_first_layer_gets; /* answer 503 this many times */
    gboolean cut_once;           /* cut the layer's transfer once, half-way */
    gboolean redirect_config;    /* the config is at the other host */
    gboolean basic_auth;         /* /v2/ needs Basic user:pass */
    /* What happened */
    guint layer_gets;
    goffset last_range_start;
    guint storage_gets;
    gboolean storage_saw_authorization;
    guint unauthorized;
} Fake;

static char *
digest_of(GBytes *bytes)
{
    return podvm_registry_digest_of(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

static void
send_bytes(SoupServerMessage *msg, GBytes *bytes, const char *content_type)
{
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
    SoupRange *ranges = NULL;
    int n = 0;

    soup_message_headers_replace(headers, "Accept-Ranges", "bytes");
    if (soup_message_headers_get_ranges(soup_server_message_get_request_headers(msg),
                                        (goffset)g_bytes_get_size(bytes), &ranges, &n) &&
        n == 1) {
        g_autoptr(GBytes) part = g_bytes_new_from_bytes(
            bytes, (gsize)ranges[0].start, (gsize)(ranges[0].end - ranges[0].start + 1));

        soup_message_headers_set_content_range(headers, ranges[0].start, ranges[0].end,
                                               (goffset)g_bytes_get_size(bytes));
        soup_server_message_set_status(msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
        soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY,
                                         g_bytes_get_data(part, NULL), g_bytes_get_size(part));
        soup_message_headers_free_ranges(soup_server_message_get_request_headers(msg), ranges);
        return;
    }
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY,
                                     g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
}

/* Answers with the headers of the whole layer and half its bytes, then closes. */
static void
cut_transfer(SoupServerMessage *msg, Fake *fake)
{
    g_autoptr(GIOStream) stream = soup_server_message_steal_connection(msg);
    GOutputStream *out = g_io_stream_get_output_stream(stream);
    g_autofree char *head = g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Length: %u\r\n"
                                            "Accept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                                            LAYER_SIZE);

    g_assert_true(g_output_stream_write_all(out, head, strlen(head), NULL, NULL, NULL));
    g_assert_true(g_output_stream_write_all(out, g_bytes_get_data(fake->layer, NULL),
                                            LAYER_SIZE / 2, NULL, NULL, NULL));
    g_io_stream_close(stream, NULL, NULL);
}

static void
handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
        gpointer user_data)
{
    Fake *fake = user_data;
    SoupMessageHeaders *request = soup_server_message_get_request_headers(msg);
    const char *authorization = soup_message_headers_get_one(request, "Authorization");
    g_autofree char *manifest_path = g_strdup("/v2/apps/fake/manifests/v1");
    g_autofree char *config_path = g_strconcat("/v2/apps/fake/blobs/", fake->config_digest, NULL);
    g_autofree char *layer_path = g_strconcat("/v2/apps/fake/blobs/", fake->layer_digest, NULL);

    if (g_str_has_prefix(path, "/storage/")) {
        fake->storage_gets++;
        fake->storage_saw_authorization |= authorization != NULL;
        send_bytes(msg, fake->config, "application/octet-stream");
        return;
    }
    if (fake->basic_auth && g_strcmp0(authorization, "Basic dXNlcjpwYXNz") != 0) {
        fake->unauthorized++;
        soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                     "WWW-Authenticate", "Basic realm=\"fake registry\"");
        soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, NULL);
        return;
    }
    if (g_str_equal(path, manifest_path) || g_str_has_prefix(path, "/v2/apps/fake/manifests/")) {
        /* Any reference gets this manifest: one asked for by another digest is a lie. */
        send_bytes(msg, fake->manifest, PODVM_MEDIA_OCI_MANIFEST);
    } else if (g_str_equal(path, config_path)) {
        if (fake->redirect_config) {
            g_autofree char *location =
                g_strdup_printf("http://%s/storage/%s", fake->other, fake->config_digest);

            soup_server_message_set_redirect(msg, SOUP_STATUS_TEMPORARY_REDIRECT, location);
            return;
        }
        send_bytes(msg, fake->config, "application/octet-stream");
    } else if (g_str_equal(path, layer_path)) {
        goffset start = 0;
        SoupRange *ranges = NULL;
        int n = 0;

        fake->layer_gets++;
        if (soup_message_headers_get_ranges(request, LAYER_SIZE, &ranges, &n)) {
            start = ranges[0].start;
            soup_message_headers_free_ranges(request, ranges);
        }
        fake->last_range_start = start;
        if (fake->fail_first_layer_gets > 0) {
            fake->fail_first_layer_gets--;
            soup_server_message_set_status(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
            return;
        }
        if (fake->cut_once) {
            fake->cut_once = FALSE;
            cut_transfer(msg, fake);
            return;
        }
        send_bytes(msg, fake->layer, "application/octet-stream");
    } else {
        soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
    }
}

static gpointer
fake_thread_main(gpointer data)
{
    Fake *fake = data;
    g_autoptr(SoupServer) server = NULL;
    g_autoptr(GError) error = NULL;
    GSList *uris;
    guint port = 0;

    g_main_context_push_thread_default(fake->context);
    server = soup_server_new(NULL, NULL);
    soup_server_add_handler(server, NULL, handler, fake, NULL);
    if (soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error)) {
        uris = soup_server_get_uris(server);
        port = (guint)g_uri_get_port(uris->data);
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    } else {
        g_printerr("test-images-client: the fake registry cannot listen: %s\n", error->message);
    }
    g_mutex_lock(&fake->lock);
    fake->port = port != 0 ? port : G_MAXUINT;
    g_cond_signal(&fake->cond);
    g_mutex_unlock(&fake->lock);
    if (port != 0)
        g_main_loop_run(fake->loop);
    soup_server_disconnect(server);
    g_clear_object(&server);
    /* Let the connections' sources go before the context does: they end in idles. */
    {
        gint64 until = g_get_monotonic_time() + 200 * 1000;

        while (g_get_monotonic_time() < until) {
            if (!g_main_context_iteration(fake->context, FALSE))
                g_usleep(10 * 1000);
        }
    }
    g_main_context_pop_thread_default(fake->context);
    return NULL;
}

static Fake *
fake_new(void)
{
    Fake *fake = g_new0(Fake, 1);
    g_autoptr(GString) manifest = g_string_new(NULL);
    g_autofree guint8 *layer = g_malloc(LAYER_SIZE);

    for (guint i = 0; i < LAYER_SIZE; i++)
        layer[i] = (guint8)g_random_int();
    fake->layer = g_bytes_new(layer, LAYER_SIZE);
    fake->layer_digest = digest_of(fake->layer);
    fake->config = g_bytes_new_static("{\"architecture\": \"amd64\", \"os\": \"linux\"}", 41);
    fake->config_digest = digest_of(fake->config);
    g_string_append_printf(manifest,
                           "{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"config\": "
                           "{\"mediaType\": \"application/vnd.oci.image.config.v1+json\", "
                           "\"digest\": \"%s\", \"size\": 41}, \"layers\": [{\"mediaType\": "
                           "\"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"%s\", "
                           "\"size\": %u}]}",
                           PODVM_MEDIA_OCI_MANIFEST, fake->config_digest, fake->layer_digest,
                           LAYER_SIZE);
    fake->manifest = g_string_free_to_bytes(g_steal_pointer(&manifest));
    fake->manifest_digest = digest_of(fake->manifest);
    fake->context = g_main_context_new();
    fake->loop = g_main_loop_new(fake->context, FALSE);
    g_mutex_init(&fake->lock);
    g_cond_init(&fake->cond);
    fake->thread = g_thread_new("fake-registry", fake_thread_main, fake);
    g_mutex_lock(&fake->lock);
    while (fake->port == 0)
        g_cond_wait(&fake->cond, &fake->lock);
    g_mutex_unlock(&fake->lock);
    g_assert_cmpuint(fake->port, !=, G_MAXUINT);
    fake->host = g_strdup_printf("127.0.0.1:%u", fake->port);
    fake->other = g_strdup_printf("localhost:%u", fake->port);
    return fake;
}

static void
fake_free(Fake *fake)
{
    g_main_loop_quit(fake->loop);
    g_thread_join(fake->thread);
    g_main_loop_unref(fake->loop);
    g_main_context_unref(fake->context);
    g_mutex_clear(&fake->lock);
    g_cond_clear(&fake->cond);
    g_bytes_unref(fake->manifest);
    g_bytes_unref(fake->config);
    g_bytes_unref(fake->layer);
    g_free(fake->manifest_digest);
    g_free(fake->config_digest);
    g_free(fake->layer_digest);
    g_free(fake->host);
    g_free(fake->other);
    g_free(fake);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fake, fake_free)

typedef struct {
    PodvmImage *image;
    GError *error;
    gboolean done;
} Result;

static void
pulled_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
    Result *result = user_data;

    result->image = podvm_image_store_pull_finish(PODVM_IMAGE_STORE(source), res, &result->error);
    result->done = TRUE;
}

static gboolean
is_done(gpointer user_data)
{
    return ((Result *)user_data)->done;
}

/* Pulls apps/fake@@reference into a new store in @dir. */
static void
pull_reference(Fake *fake, const char *dir, const char *auth_file, const char *reference,
               Result *result)
{
    const char *insecure[] = { fake->host, fake->other, NULL };
    PodvmImageStoreOptions options = { 0 };
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *ref = g_strdup_printf("%s/apps/fake%s", fake->host, reference);

    options.insecure_registries = (GStrv)insecure;
    options.auth_file = (char *)auth_file;
    options.architecture = "amd64";
    options.timeout_seconds = 10;
    store = podvm_image_store_new(dir, &options, &error);
    g_assert_no_error(error);
    memset(result, 0, sizeof(*result));
    podvm_image_store_pull_async(store, ref, PODVM_PULL_ALWAYS, NULL, NULL, NULL, pulled_cb,
                                 result);
    g_assert_true(podvm_test_wait_until(is_done, result, 60000));
}

/* Pulls apps/fake:v1 into a new store in @dir. */
static void
pull(Fake *fake, const char *dir, const char *auth_file, Result *result)
{
    pull_reference(fake, dir, auth_file, ":v1", result);
}

static void
result_clear(Result *result)
{
    podvm_image_free(result->image);
    g_clear_error(&result->error);
}

static void
assert_layer_stored(Fake *fake, const char *dir)
{
    g_autofree char *path =
        g_build_filename(dir, "blobs", "sha256", fake->layer_digest + strlen("sha256:"), NULL);
    g_autofree char *tmp = g_build_filename(dir, "tmp", NULL);
    g_autoptr(GDir) d = g_dir_open(tmp, 0, NULL);
    g_autofree char *data = NULL;
    gsize length = 0;

    g_assert_true(g_file_get_contents(path, &data, &length, NULL));
    g_assert_cmpuint(length, ==, LAYER_SIZE);
    g_assert_true(memcmp(data, g_bytes_get_data(fake->layer, NULL), LAYER_SIZE) == 0);
    g_assert_null(g_dir_read_name(d));
}

static void
test_retry_and_resume(void)
{
    g_autoptr(Fake) fake = fake_new();
    g_autofree char *dir = podvm_test_mkdtemp();
    Result result;

    fake->fail_first_layer_gets = 1;
    fake->cut_once = TRUE;
    pull(fake, dir, NULL, &result);
    g_assert_no_error(result.error);
    g_assert_cmpstr(result.image->digest, ==, fake->manifest_digest);
    /* 503, then the cut transfer, then the rest from where it broke. */
    g_assert_cmpuint(fake->layer_gets, ==, 3);
    g_assert_cmpint(fake->last_range_start, ==, LAYER_SIZE / 2);
    assert_layer_stored(fake, dir);
    result_clear(&result);
    podvm_test_rmrf(dir);
}

static void
test_server_errors(void)
{
    g_autoptr(Fake) fake = fake_new();
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *tmp = g_build_filename(dir, "tmp", NULL);
    Result result;

    fake->fail_first_layer_gets = 10;
    pull(fake, dir, NULL, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, "HTTP 503"));
    g_assert_nonnull(strstr(result.error->message, fake->host));
    g_assert_cmpuint(fake->layer_gets, ==, 3);
    result_clear(&result);
    {
        g_autoptr(GDir) d = g_dir_open(tmp, 0, NULL);

        g_assert_null(g_dir_read_name(d));
    }
    podvm_test_rmrf(dir);
}

static void
test_redirect_and_basic_auth(void)
{
    g_autoptr(Fake) fake = fake_new();
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *auth = g_build_filename(dir, "auth.json", NULL);
    g_autofree char *text = NULL;
    Result result;

    fake->basic_auth = TRUE;
    fake->redirect_config = TRUE;

    /* No credentials: PERMISSION_DENIED, saying where they go. */
    pull(fake, dir, NULL, &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, "auth_file"));
    result_clear(&result);

    /* user:pass */
    text = g_strdup_printf("{\"auths\": {\"%s\": {\"auth\": \"dXNlcjpwYXNz\"}}}", fake->host);
    g_assert_true(g_file_set_contents(auth, text, -1, NULL));
    pull(fake, dir, auth, &result);
    g_assert_no_error(result.error);
    g_assert_cmpstr(result.image->config_digest, ==, fake->config_digest);
    g_assert_cmpuint(fake->storage_gets, ==, 1);
    g_assert_false(fake->storage_saw_authorization);
    assert_layer_stored(fake, dir);
    result_clear(&result);
    podvm_test_rmrf(dir);
}

static void
test_manifest_digest_mismatch(void)
{
    g_autoptr(Fake) fake = fake_new();
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *blobs = g_build_filename(dir, "blobs", "sha256", NULL);
    g_autoptr(GDir) d = NULL;
    Result result;

    /* Asked for by a digest it does not have: refused before any blob. */
    pull_reference(fake, dir, NULL,
                   "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                   &result);
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, "digest mismatch"));
    g_assert_nonnull(strstr(result.error->message, fake->host));
    g_assert_cmpuint(fake->layer_gets, ==, 0);
    result_clear(&result);
    d = g_dir_open(blobs, 0, NULL);
    g_assert_null(g_dir_read_name(d));

    /* By its own digest: fine. */
    {
        g_autofree char *by_digest = g_strconcat("@", fake->manifest_digest, NULL);

        pull_reference(fake, dir, NULL, by_digest, &result);
        g_assert_no_error(result.error);
        g_assert_cmpstr(result.image->digest, ==, fake->manifest_digest);
        result_clear(&result);
    }
    podvm_test_rmrf(dir);
}

static void
test_unreachable(void)
{
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(PodvmImageStore) store = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *host = NULL;
    g_autofree char *ref = NULL;
    const char *insecure[2] = { NULL, NULL };
    PodvmImageStoreOptions options = { 0 };
    Result result = { 0 };

    /* A port that was free a moment ago: bound, not listening, so refused. */
    g_assert_true(g_socket_bind(socket, any, FALSE, &error));
    bound = g_socket_get_local_address(socket, &error);
    g_assert_no_error(error);
    host = g_strdup_printf("127.0.0.1:%u",
                           g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
    insecure[0] = host;
    options.insecure_registries = (GStrv)insecure;
    store = podvm_image_store_new(dir, &options, &error);
    g_assert_no_error(error);
    ref = g_strdup_printf("docker://%s/apps/gone:v1", host);
    podvm_image_store_pull_async(store, ref, PODVM_PULL_IF_NOT_PRESENT, NULL, NULL, NULL, pulled_cb,
                                 &result);
    g_assert_true(podvm_test_wait_until(is_done, &result, 60000));
    g_assert_error(result.error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_test_message("%s", result.error->message);
    g_assert_nonnull(strstr(result.error->message, host));
    g_assert_nonnull(strstr(result.error->message, "apps/gone:v1"));
    g_assert_nonnull(strstr(result.error->message, "unreachable"));
    result_clear(&result);
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/images/client/retry-and-resume", test_retry_and_resume);
    g_test_add_func("/podvm/images/client/server-errors", test_server_errors);
    g_test_add_func("/podvm/images/client/redirect-and-basic-auth", test_redirect_and_basic_auth);
    g_test_add_func("/podvm/images/client/unreachable", test_unreachable);
    g_test_add_func("/podvm/images/client/manifest-digest-mismatch", test_manifest_digest_mismatch);
    return g_test_run();
}
