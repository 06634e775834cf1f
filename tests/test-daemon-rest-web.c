/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The web console's files ([web] enabled=true): served under /ui/ on the
 * TCP listener without a token, with their Content-Type, Cache-Control and
 * a strict Content-Security-Policy; nothing outside [web] dir (nor hidden
 * or unknown files in it) is served, whatever the path; the API still
 * needs the token; off by default. Requests are written by hand so that
 * no client normalizes the paths first.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define TEST_TOKEN "web-test-token"
#define SECRET "THE-SECRET-OUTSIDE"

typedef struct {
    guint status;
    char *head; /* status line and headers, lower-cased names kept as sent */
    char *body;
} Answer;

static void
answer_free(Answer *answer)
{
    g_free(answer->head);
    g_free(answer->body);
    g_free(answer);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Answer, answer_free)

/* The value of header @name in @answer, or NULL. */
static char *
answer_header(Answer *answer, const char *name)
{
    g_auto(GStrv) lines = g_strsplit(answer->head, "\r\n", -1);

    for (guint i = 1; lines[i] != NULL; i++) {
        const char *colon = strchr(lines[i], ':');

        if (colon != NULL && (gsize)(colon - lines[i]) == strlen(name) &&
            g_ascii_strncasecmp(lines[i], name, strlen(name)) == 0)
            return g_strstrip(g_strdup(colon + 1));
    }
    return NULL;
}

/* Sends "@method @target" (exactly these bytes) with @extra headers; reads the answer whole. */
static Answer *
raw_request(int fd, const char *method, const char *target, const char *extra)
{
    g_autofree char *request = g_strdup_printf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               "Connection: close\r\n%s\r\n",
                                               method, target, extra != NULL ? extra : "");
    g_autoptr(GString) in = g_string_new(NULL);
    Answer *answer = g_new0(Answer, 1);
    const char *end;

    g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
    for (;;) {
        char buffer[16384];
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);

        if (n <= 0)
            break;
        g_string_append_len(in, buffer, n);
    }
    close(fd);
    end = strstr(in->str, "\r\n\r\n");
    g_assert_nonnull(end);
    answer->head = g_strndup(in->str, (gsize)(end - in->str));
    answer->body = g_strdup(end + 4);
    g_assert_true(g_str_has_prefix(answer->head, "HTTP/1.1 "));
    answer->status = (guint)g_ascii_strtoull(answer->head + strlen("HTTP/1.1 "), NULL, 10);
    return answer;
}

static Answer *
tcp_request(guint16 port, const char *method, const char *target, const char *extra)
{
    return raw_request(podvm_test_connect_tcp(port), method, target, extra);
}

typedef struct {
    char *dir;     /* holds token, secret.js and web/ */
    char *web_dir; /* a copy of BUILD/web with a hidden file */
    char *config;
    guint16 port;
} WebSetup;

static void
copy_file(const char *from, const char *to)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *content = NULL;
    gsize length = 0;

    g_file_get_contents(from, &content, &length, &error);
    g_assert_no_error(error);
    g_file_set_contents(to, content, (gssize)length, &error);
    g_assert_no_error(error);
}

/* FALSE after g_test_skip() when the build tree has no page. */
static gboolean
web_setup_init(WebSetup *t, gboolean enabled)
{
    const char *build_web = g_getenv("PODVM_WEB_DIR");
    g_autoptr(GError) error = NULL;
    g_autofree char *token_path = NULL;
    g_autofree char *secret_path = NULL;
    g_autofree char *hidden_path = NULL;
    g_autofree char *vendor_dir = NULL;
    const char *files[] = { "index.html", "app.js", "app.css" };

    if (build_web == NULL) {
        g_test_skip("PODVM_WEB_DIR is not set: run the tests with `meson test`");
        return FALSE;
    }
    t->dir = podvm_test_mkdtemp();
    t->web_dir = g_build_filename(t->dir, "web", NULL);
    vendor_dir = g_build_filename(t->web_dir, "vendor", NULL);
    g_assert_cmpint(g_mkdir_with_parents(vendor_dir, 0755), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *from = g_build_filename(build_web, files[i], NULL);
        g_autofree char *to = g_build_filename(t->web_dir, files[i], NULL);

        copy_file(from, to);
    }
    {
        /* A vendored file of its own: the test does not depend on npm. */
        g_autofree char *path = g_build_filename(vendor_dir, "lib.js", NULL);

        g_file_set_contents(path, "export const x = 1;\n", -1, &error);
        g_assert_no_error(error);
    }
    token_path = g_build_filename(t->dir, "token", NULL);
    g_file_set_contents(token_path, TEST_TOKEN "\n", -1, &error);
    g_assert_no_error(error);
    /* Beside the page's directory: what a traversal would reach. */
    secret_path = g_build_filename(t->dir, "secret.js", NULL);
    g_file_set_contents(secret_path, SECRET "\n", -1, &error);
    g_assert_no_error(error);
    hidden_path = g_build_filename(t->web_dir, ".hidden.js", NULL);
    g_file_set_contents(hidden_path, SECRET "\n", -1, &error);
    g_assert_no_error(error);
    t->port = podvm_test_free_tcp_port();
    t->config = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n"
                                "[web]\n%sdir=%s\n",
                                t->port, token_path, enabled ? "enabled=true\n" : "", t->web_dir);
    return TRUE;
}

static void
web_setup_clear(WebSetup *t)
{
    if (t->dir != NULL)
        podvm_test_rmrf(t->dir);
    g_free(t->dir);
    g_free(t->web_dir);
    g_free(t->config);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(WebSetup, web_setup_clear)

/* A file of the page: 200 with @content_type and the headers every file has. */
static void
assert_served(guint16 port, const char *target, const char *content_type, const char *needle)
{
    g_autoptr(Answer) answer = tcp_request(port, "GET", target, NULL);
    g_autofree char *type = NULL;
    g_autofree char *csp = NULL;
    g_autofree char *cache = NULL;
    g_autofree char *nosniff = NULL;

    if (answer->status != 200)
        g_error("GET %s: %s\n%s", target, answer->head, answer->body);
    type = answer_header(answer, "Content-Type");
    g_assert_cmpstr(type, ==, content_type);
    csp = answer_header(answer, "Content-Security-Policy");
    g_assert_nonnull(csp);
    g_assert_nonnull(strstr(csp, "default-src 'none'"));
    g_assert_nonnull(strstr(csp, "script-src 'self';"));
    /* Inline style only with the nonce of the page's own answer. */
    g_assert_nonnull(strstr(csp, g_str_has_prefix(content_type, "text/html")
                                     ? "style-src 'self' 'nonce-"
                                     : "style-src 'self';"));
    g_assert_nonnull(strstr(csp, "connect-src 'self';"));
    g_assert_nonnull(strstr(csp, "frame-ancestors 'none'"));
    g_assert_null(strstr(csp, "unsafe"));
    cache = answer_header(answer, "Cache-Control");
    g_assert_cmpstr(cache, ==, "no-cache");
    nosniff = answer_header(answer, "X-Content-Type-Options");
    g_assert_cmpstr(nosniff, ==, "nosniff");
    g_assert_nonnull(strstr(answer->body, needle));
}

/* The nonce of the page's answer: in its CSP and its <meta>, new with every answer. */
static char *
page_nonce(guint16 port)
{
    g_autoptr(Answer) answer = tcp_request(port, "GET", "/ui/", NULL);
    g_autofree char *csp = answer_header(answer, "Content-Security-Policy");
    g_autofree char *meta = NULL;
    const char *start = strstr(csp, "'nonce-");
    const char *end;
    char *nonce;

    g_assert_nonnull(start);
    start += strlen("'nonce-");
    end = strchr(start, '\'');
    g_assert_nonnull(end);
    nonce = g_strndup(start, (gsize)(end - start));
    g_assert_cmpuint(strlen(nonce), >=, 22); /* 128 bits in base64 */
    meta = g_strdup_printf("<meta name=\"podvm-style-nonce\" content=\"%s\">", nonce);
    g_assert_nonnull(strstr(answer->body, meta));
    g_assert_null(strstr(answer->body, "PODVM-STYLE-NONCE"));
    return nonce;
}

static void
test_web_files(void)
{
    g_auto(WebSetup) t = { 0 };
    PodvmTestDaemon *daemon;

    if (!web_setup_init(&t, TRUE))
        return;
    daemon = podvm_test_daemon_new_with_config(t.config);
    if (daemon == NULL)
        return;

    /* No token: the page's files are public. */
    assert_served(t.port, "/ui/", "text/html; charset=utf-8", "<script type=\"module\"");
    assert_served(t.port, "/ui/index.html", "text/html; charset=utf-8", "app.js");
    assert_served(t.port, "/ui/app.js", "text/javascript; charset=utf-8", "sessionStorage");
    assert_served(t.port, "/ui/app.css", "text/css; charset=utf-8", "#terminal");
    assert_served(t.port, "/ui/vendor/lib.js", "text/javascript; charset=utf-8", "export");
    assert_served(t.port, "/ui/?x=1", "text/html; charset=utf-8", "app.js");
    {
        g_autofree char *first = page_nonce(t.port);
        g_autofree char *second = page_nonce(t.port);

        g_assert_cmpstr(first, !=, second);
    }
    {
        g_autoptr(Answer) answer = tcp_request(t.port, "GET", "/ui", NULL);
        g_autofree char *location = answer_header(answer, "Location");

        g_assert_cmpuint(answer->status, ==, 301);
        g_assert_cmpstr(location, ==, "/ui/");
    }
    {
        g_autoptr(Answer) answer = tcp_request(t.port, "HEAD", "/ui/app.js", NULL);
        g_autofree char *type = answer_header(answer, "Content-Type");

        g_assert_cmpuint(answer->status, ==, 200);
        g_assert_cmpstr(type, ==, "text/javascript; charset=utf-8");
        g_assert_cmpstr(answer->body, ==, "");
    }
    {
        g_autoptr(Answer) answer = tcp_request(t.port, "POST", "/ui/", "Content-Length: 0\r\n");
        g_autofree char *allow = answer_header(answer, "Allow");

        g_assert_cmpuint(answer->status, ==, 405);
        g_assert_cmpstr(allow, ==, "GET, HEAD");
    }
    /* The API itself still needs the token. */
    {
        g_autoptr(Answer) answer = tcp_request(t.port, "GET", "/v1/pods", NULL);
        g_assert_cmpuint(answer->status, ==, 401);
    }
    {
        g_autoptr(Answer) answer =
            tcp_request(t.port, "GET", "/v1/pods", "Authorization: Bearer " TEST_TOKEN "\r\n");
        g_assert_cmpuint(answer->status, ==, 200);
    }
    /* The unix socket serves the page too. */
    {
        g_autofree char *socket_path = g_build_filename(daemon->run_dir, "api.sock", NULL);
        g_autoptr(Answer) answer =
            raw_request(podvm_test_connect_unix(socket_path), "GET", "/ui/app.css", NULL);

        g_assert_cmpuint(answer->status, ==, 200);
    }
    podvm_test_daemon_free(daemon);
}

/* Nothing outside [web] dir, nothing hidden or of an unknown type, whatever the spelling. */
static void
test_web_traversal(void)
{
    g_auto(WebSetup) t = { 0 };
    PodvmTestDaemon *daemon;
    const char *targets[] = {
        "/ui/../secret.js",
        "/ui/%2e%2e/secret.js",
        "/ui/%2E%2E%2Fsecret.js",
        "/ui/..%2fsecret.js",
        "/ui/..%5csecret.js",
        "/ui/vendor/../../secret.js",
        "/ui/vendor/%2e%2e/%2e%2e/secret.js",
        "/ui/./../secret.js",
        "/ui//secret.js",
        "/ui/%2fetc%2fpasswd",
        "/ui/.hidden.js",
        "/ui/%2ehidden.js",
        "/ui/vendor/",
        "/ui/vendor",
        "/ui/index.html/",
        "/ui/app.js%00.html",
        "/ui/missing.js",
        "/ui/podvmd.conf",
        "/ui/app.js?/../../secret.js",
        "/ui/..",
        "/ui/...",
        "/ui/\\..\\secret.js",
        "/ui/%c0%ae%c0%ae/secret.js",
    };

    if (!web_setup_init(&t, TRUE))
        return;
    daemon = podvm_test_daemon_new_with_config(t.config);
    if (daemon == NULL)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(targets); i++) {
        g_autoptr(Answer) answer = tcp_request(t.port, "GET", targets[i], NULL);

        g_test_message("GET %s: %u", targets[i], answer->status);
        if (g_str_equal(targets[i], "/ui/app.js?/../../secret.js")) {
            /* The query is no part of the path: this is app.js. */
            g_assert_cmpuint(answer->status, ==, 200);
            g_assert_nonnull(strstr(answer->body, "sessionStorage"));
        } else {
            g_assert_cmpuint(answer->status, !=, 200);
            g_assert_cmpuint(answer->status, >=, 400);
        }
        g_assert_null(strstr(answer->body, SECRET));
    }
    /* With the token, a path libsoup resolves out of /ui/ is an API path: not found. */
    {
        g_autoptr(Answer) answer = tcp_request(t.port, "GET", "/ui/../secret.js",
                                               "Authorization: Bearer " TEST_TOKEN "\r\n");
        g_assert_cmpuint(answer->status, ==, 404);
        g_assert_null(strstr(answer->body, SECRET));
    }
    podvm_test_daemon_free(daemon);
}

/* Opt-in: without [web] enabled=true there is no page, and /ui is an API path like any other. */
static void
test_web_disabled(void)
{
    g_auto(WebSetup) t = { 0 };
    PodvmTestDaemon *daemon;

    if (!web_setup_init(&t, FALSE))
        return;
    daemon = podvm_test_daemon_new_with_config(t.config);
    if (daemon == NULL)
        return;
    {
        g_autoptr(Answer) answer = tcp_request(t.port, "GET", "/ui/", NULL);
        g_assert_cmpuint(answer->status, ==, 401);
    }
    {
        g_autoptr(Answer) answer =
            tcp_request(t.port, "GET", "/ui/", "Authorization: Bearer " TEST_TOKEN "\r\n");
        g_assert_cmpuint(answer->status, ==, 404);
        g_assert_null(strstr(answer->body, "<html"));
    }
    podvm_test_daemon_free(daemon);
}

/* A bad [web] section stops podvmd with a message naming it. */
static void
test_web_config(void)
{
    const char *bad[] = { "[web]\nenabled=maybe\n", "[web]\nenabled=true\ndir=relative/web\n" };

    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *dir = podvm_test_mkdtemp();
        g_autofree char *conf = g_build_filename(dir, "podvmd.conf", NULL);
        g_autofree char *state = g_build_filename(dir, "state", NULL);
        g_autofree char *run = g_build_filename(dir, "run", NULL);
        g_autofree char *err = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSubprocess) process = NULL;

        g_file_set_contents(conf, bad[i], -1, &error);
        g_assert_no_error(error);
        process =
            g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             &error, g_getenv("PODVMD"), "--session", "--config", conf,
                             "--state-dir", state, "--run-dir", run, NULL);
        g_assert_no_error(error);
        g_subprocess_communicate_utf8(process, NULL, NULL, NULL, &err, &error);
        g_assert_no_error(error);
        g_assert_false(g_subprocess_get_successful(process));
        g_assert_nonnull(strstr(err, "[web]"));
        podvm_test_rmrf(dir);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rest/web/files", test_web_files);
    g_test_add_func("/rest/web/traversal", test_web_traversal);
    g_test_add_func("/rest/web/disabled", test_web_disabled);
    g_test_add_func("/rest/web/config", test_web_config);
    return g_test_run();
}
