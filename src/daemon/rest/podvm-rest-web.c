/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET /ui/...: the web console page ([web] enabled=true), static files from
 * [web] dir. They hold no secrets, so they are served without a token on
 * every listener; the page asks for the admin token and sends it with its
 * own API calls. Only plain names of known types are served: a path with
 * "..", a hidden name or any other character is not found, whatever the
 * file system holds.
 */
#include "podvm-rest-private.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define WEB_PREFIX "/ui"

/*
 * The page loads its scripts, styles and the console's WebSocket from its
 * own origin only: no inline script, no frames, no other host. Inline
 * style only with the nonce of the page's own answer: xterm.js makes
 * <style> elements for the terminal's colours and cell sizes, and the page
 * gives them the nonce it finds in its <meta name="podvm-style-nonce">.
 */
#define WEB_CSP_BEFORE_STYLE "default-src 'none'; script-src 'self'; style-src 'self'"
#define WEB_CSP_AFTER_STYLE                                                    \
    "; img-src 'self'; font-src 'self'; connect-src 'self'; base-uri 'none'; " \
    "form-action 'none'; frame-ancestors 'none'"
#define WEB_CSP WEB_CSP_BEFORE_STYLE WEB_CSP_AFTER_STYLE
/* In index.html: replaced by each answer's nonce. */
#define WEB_NONCE_PLACEHOLDER "PODVM-STYLE-NONCE"

static const struct {
    const char *suffix;
    const char *content_type;
} web_types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".map", "application/json" },
    { ".json", "application/json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".woff2", "font/woff2" },
};

/* The Content-Type of @name, or NULL: a type the page does not use is not served. */
static const char *
web_content_type(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(web_types); i++)
        if (g_str_has_suffix(name, web_types[i].suffix))
            return web_types[i].content_type;
    return NULL;
}

/*
 * Whether @relative ("index.html", "vendor/xterm.js") names a file the page
 * may have: segments of letters, digits, '-', '_' and '.', none empty or
 * starting with '.' (no "..", no hidden files).
 */
static gboolean
web_path_is_plain(const char *relative)
{
    gboolean segment_start = TRUE;

    if (*relative == '\0')
        return FALSE;
    for (const char *p = relative; *p != '\0'; p++) {
        if (*p == '/') {
            if (segment_start)
                return FALSE;
            segment_start = TRUE;
            continue;
        }
        if (segment_start && *p == '.')
            return FALSE;
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return FALSE;
        segment_start = FALSE;
    }
    return !segment_start;
}

static void
web_not_found(Request *req)
{
    podvm_rest_respond_http_error(req, SOUP_STATUS_NOT_FOUND, "NotFound",
                                  _("no such file of the web console"));
}

/* 128 random bits, base64 (a CSP nonce); NULL when the kernel gives none. */
static char *
web_new_nonce(void)
{
    guint8 bytes[16];
    gsize got = 0;

    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        got += (gsize)n;
    }
    return g_base64_encode(bytes, sizeof bytes);
}

/*
 * The page with a fresh style nonce in its text and its Content-Security-Policy;
 * NULL (after answering) when there is no randomness.
 */
static GBytes *
web_page_with_nonce(Request *req, GBytes *bytes)
{
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(req->msg);
    g_autofree char *nonce = web_new_nonce();
    g_autofree char *csp = NULL;
    GString *text;
    gsize size = 0;
    const char *data = g_bytes_get_data(bytes, &size);

    if (nonce == NULL) {
        podvm_rest_respond_new_error(req, PODVM_ERROR_IO,
                                     _("cannot make a nonce for the web console: %s"),
                                     g_strerror(errno));
        return NULL;
    }
    text = g_string_new_len(data, (gssize)size);
    g_string_replace(text, WEB_NONCE_PLACEHOLDER, nonce, 0);
    csp = g_strdup_printf(WEB_CSP_BEFORE_STYLE " 'nonce-%s'" WEB_CSP_AFTER_STYLE, nonce);
    soup_message_headers_replace(headers, "Content-Security-Policy", csp);
    return g_string_free_to_bytes(text);
}

static void
web_loaded_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmRestRequest) req = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = g_file_load_bytes_finish(G_FILE(source), result, NULL, &error);
    const char *content_type = g_object_get_data(source, "podvm-web-type");

    if (req->finished)
        return;
    if (bytes == NULL) {
        /* Missing, a directory, unreadable: all the same to the browser. */
        g_debug("REST: web console file: %s", error->message);
        web_not_found(req);
    } else {
        SoupMessageHeaders *headers = soup_server_message_get_response_headers(req->msg);

        if (g_str_has_prefix(content_type, "text/html")) {
            GBytes *page = web_page_with_nonce(req, bytes);

            g_bytes_unref(g_steal_pointer(&bytes));
            bytes = page;
        }
        if (bytes != NULL) {
            /* Revalidated on every load: the page changes when podvm is upgraded. */
            soup_message_headers_replace(headers, "Cache-Control", "no-cache");
            podvm_rest_respond_bytes(req, SOUP_STATUS_OK, content_type, bytes);
        }
    }
    podvm_rest_resume(req);
}

gboolean
podvm_rest_web_handle(Request *req, const char *path)
{
    const PodvmConfig *config = podvm_manager_get_config(req->front->manager);
    const char *method = soup_server_message_get_method(req->msg);
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(req->msg);
    const char *relative;
    const char *content_type;
    g_autofree char *file_path = NULL;
    g_autoptr(GFile) file = NULL;

    if (!config->web_enabled || !g_str_has_prefix(path, WEB_PREFIX) ||
        (path[strlen(WEB_PREFIX)] != '\0' && path[strlen(WEB_PREFIX)] != '/'))
        return FALSE;
    /* On every answer under /ui, errors too. */
    soup_message_headers_replace(headers, "Content-Security-Policy", WEB_CSP);
    soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
    soup_message_headers_replace(headers, "X-Frame-Options", "DENY");
    soup_message_headers_replace(headers, "Referrer-Policy", "no-referrer");
    if (!g_str_equal(method, "GET") && !g_str_equal(method, "HEAD")) {
        g_autofree char *message =
            g_strdup_printf(_("method %s is not allowed on %s"), method, path);

        soup_message_headers_replace(headers, "Allow", "GET, HEAD");
        podvm_rest_respond_http_error(req, SOUP_STATUS_METHOD_NOT_ALLOWED, "MethodNotAllowed",
                                      message);
        return TRUE;
    }
    if (path[strlen(WEB_PREFIX)] == '\0') {
        /* Relative: the browser keeps its scheme, host and port (behind a proxy too). */
        soup_message_headers_replace(headers, "Location", WEB_PREFIX "/");
        podvm_rest_respond_text(req, SOUP_STATUS_MOVED_PERMANENTLY, "text/plain",
                                g_strdup(WEB_PREFIX "/\n"));
        return TRUE;
    }
    relative = path + strlen(WEB_PREFIX "/");
    if (*relative == '\0')
        relative = "index.html";
    content_type = web_content_type(relative);
    if (!web_path_is_plain(relative) || content_type == NULL) {
        web_not_found(req);
        return TRUE;
    }
    file_path = g_build_filename(config->web_dir, relative, NULL);
    file = g_file_new_for_path(file_path);
    g_object_set_data(G_OBJECT(file), "podvm-web-type", (gpointer)content_type);
    soup_server_message_pause(req->msg);
    g_file_load_bytes_async(file, NULL, web_loaded_cb, podvm_rest_request_ref(req));
    return TRUE;
}
