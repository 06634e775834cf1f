/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmd as a systemd service: podvmd.conf checked (--check-config, unknown
 * keys named), reloaded on SIGHUP (sd_notify RELOADING=1 and READY=1, the
 * REST listener's token, address and TLS applied, a bad file changes
 * nothing), STATUS= with the pod counts, and the journal fields of the
 * pod's lifecycle (POD_NAME, POD_UID, POD_PHASE, MESSAGE_ID). The test plays
 * systemd's and journald's parts: it binds $NOTIFY_SOCKET and the socket
 * podvmd sends its journal messages to (PODVM_TEST_JOURNAL_SOCKET, for
 * tests only: journald's own is not ours).
 */
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "podvm-test-daemon.h"
#include "podvm-test-clients.h"
#include "podvm-test-util.h"

#define TOKEN_A "token-before-the-reload"
#define TOKEN_B "token-after-the-reload"

/* The ids of src/daemon/podvm-log.h (the catalog check keeps them in step). */
#define ID_CREATED "64a122614bef4024878175ad3fdd2630"
#define ID_STARTED "5072dd5274ce417d959c71dfeee06cc9"
#define ID_FAILED "fbf1b27fa2eb45239c707db039fe2901"
#define ID_STOPPED "5a5cc142529847299998f042454b21b7"
#define ID_DELETED "06304b08fbe44735a57b595e3aa36692"
#define ID_RELOADED "2a6b40f43f894b2db5a289baca267216"

/* ---- helpers ---------------------------------------------------------------------------- */

static int
run_check_config(const char *conf_path, char **out_stdout, char **out_stderr)
{
    g_autoptr(GError) error = NULL;
    const char *argv[] = { g_getenv("PODVMD"), "--check-config", "--config", conf_path, NULL };
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out_stdout, out_stderr,
                 &status, &error);
    g_assert_no_error(error);
    return g_spawn_check_wait_status(status, NULL) ? 0 : WEXITSTATUS(status);
}

/* GET @uri with "Authorization: Bearer @token"; the status, or 0 when nothing answered. */
static guint
get_status(const char *uri, const char *token, GTlsCertificate *accept)
{
    g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 20, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
    g_autofree char *authorization = g_strdup_printf("Bearer %s", token);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) error = NULL;

    soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                 authorization);
    if (accept != NULL)
        g_signal_connect_swapped(msg, "accept-certificate", G_CALLBACK(g_tls_certificate_is_same),
                                 accept);
    body = soup_session_send_and_read(session, msg, NULL, &error);
    if (body == NULL) {
        g_test_message("GET %s: %s", uri, error->message);
        return 0;
    }
    return soup_message_get_status(msg);
}

static gboolean
wait_notify(PodvmTestDgram *notify, const char *prefix, char **out_message)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autofree char *message = podvm_test_dgram_next_text(notify, 1000);

        if (message != NULL && g_str_has_prefix(message, prefix)) {
            if (out_message != NULL)
                *out_message = g_steal_pointer(&message);
            return TRUE;
        }
    }
    return FALSE;
}

/* Rewrites the daemon's podvmd.conf: its first @keep bytes (kernel_dirs) and @text. */
static void
rewrite_config(PodvmTestDaemon *daemon, gsize keep, const char *text)
{
    g_autofree char *old = NULL;
    g_autofree char *new_text = NULL;
    g_autoptr(GError) error = NULL;

    g_file_get_contents(daemon->config_path, &old, NULL, &error);
    g_assert_no_error(error);
    new_text = g_strdup_printf("%.*s%s", (int)keep, old, text);
    g_file_set_contents(daemon->config_path, new_text, -1, &error);
    g_assert_no_error(error);
}

/* SIGHUP; then RELOADING=1 with a MONOTONIC_USEC of now, and READY=1. */
static void
reload(PodvmTestDaemon *daemon, PodvmTestDgram *notify)
{
    g_autofree char *reloading = NULL;
    const char *usec_text;
    struct timespec now;
    guint64 usec = 0, now_usec;

    g_assert_cmpint(kill(podvm_test_daemon_pid(daemon), SIGHUP), ==, 0);
    g_assert_true(wait_notify(notify, "RELOADING=1", &reloading));
    usec_text = strstr(reloading, "\nMONOTONIC_USEC=");
    g_assert_nonnull(usec_text);
    g_assert_true(g_ascii_string_to_unsigned(usec_text + strlen("\nMONOTONIC_USEC="), 10, 1,
                                             G_MAXUINT64, &usec, NULL));
    clock_gettime(CLOCK_MONOTONIC, &now);
    now_usec = (guint64)now.tv_sec * G_USEC_PER_SEC + (guint64)now.tv_nsec / 1000;
    g_assert_cmpuint(usec, <=, now_usec);
    g_assert_cmpuint(usec, >, now_usec - 30 * G_USEC_PER_SEC);
    g_assert_true(wait_notify(notify, "READY=1", NULL));
}

/* Waits (up to 10 s) until @needle is in @path @count times. */
static gboolean
wait_count(const char *path, const char *needle, guint count)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (podvm_test_count_in_file(path, needle) < count) {
        if (g_get_monotonic_time() > deadline)
            return FALSE;
        g_usleep(20000);
    }
    return TRUE;
}

static char *
write_token(const char *dir, const char *name, const char *token)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, token, -1, &error);
    g_assert_no_error(error);
    return path;
}

/* ---- --check-config and unknown keys -------------------------------------------------- */

static void
test_check_config(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *good = g_build_filename(dir, "good.conf", NULL);
    g_autofree char *unknown = g_build_filename(dir, "unknown.conf", NULL);
    g_autofree char *bad = g_build_filename(dir, "bad.conf", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);

    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    g_assert_true(g_file_set_contents(
        good,
        "[rest]\nrequest_timeout_ms=1000\n[peer b]\nurl=https://192.0.2.1:8443\n"
        "token_file=/etc/podvm/b.token\n",
        -1, NULL));
    g_assert_true(g_file_set_contents(unknown,
                                      "[rest]\ntokn_file=/etc/podvm/token\n[bogus]\na=1\n"
                                      "[peer b]\nurl=https://192.0.2.1:8443\ncolour=red\n",
                                      -1, NULL));
    g_assert_true(g_file_set_contents(bad, "[console]\nmax_rate=fast\n", -1, NULL));
    {
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        g_assert_cmpint(run_check_config(good, &out, &err), ==, 0);
        g_assert_nonnull(strstr(out, "ok"));
        g_assert_cmpstr(err, ==, "");
    }
    {
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;
        g_autofree char *key = g_strdup_printf("%s: [rest] tokn_file: unknown key", unknown);
        g_autofree char *group = g_strdup_printf("%s: unknown group [bogus]", unknown);
        g_autofree char *peer = g_strdup_printf("%s: [peer b] colour: unknown key", unknown);

        g_assert_cmpint(run_check_config(unknown, &out, &err), ==, 1);
        g_test_message("%s", err);
        g_assert_nonnull(strstr(err, key));
        g_assert_nonnull(strstr(err, group));
        g_assert_nonnull(strstr(err, peer));
        /* A known key of a group with a name is no problem. */
        g_assert_null(strstr(err, "url"));
    }
    {
        g_autofree char *err = NULL;

        g_assert_cmpint(run_check_config(bad, NULL, &err), ==, 1);
        g_assert_nonnull(strstr(err, "[console] max_rate"));
    }
    {
        g_autofree char *err = NULL;

        /* --config names a file that must exist. */
        g_assert_cmpint(run_check_config(missing, NULL, &err), ==, 1);
        g_assert_nonnull(strstr(err, missing));
    }
    podvm_test_rmrf(dir);
}

/*
 * Every key data/podvmd.conf shows (commented out, its groups too) is one
 * podvmd knows: the table of podvm-config-keys.c and the shipped file agree.
 */
static void
test_shipped_config_known(void)
{
    g_autofree char *shipped =
        g_test_build_filename(G_TEST_DIST, "..", "data", "podvmd.conf", NULL);
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *all = g_build_filename(dir, "all.conf", NULL);
    g_autofree char *text = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GRegex) commented = g_regex_new("^#([a-z_]+=|\\[)", G_REGEX_MULTILINE, 0, NULL);
    g_autofree char *uncommented = NULL;

    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return;
    }
    g_assert_true(g_file_get_contents(shipped, &text, NULL, NULL));
    uncommented = g_regex_replace(commented, text, -1, 0, "\\1", 0, NULL);
    g_assert_true(g_file_set_contents(all, uncommented, -1, NULL));
    run_check_config(all, NULL, &err);
    g_test_message("%s", err);
    g_assert_null(strstr(err, "unknown"));
    podvm_test_rmrf(dir);
}

/* At start, an unknown key is a warning that names the file, group and key; podvmd runs. */
static void
test_unknown_keys_warned(void)
{
    PodvmTestDaemon *daemon;
    g_autofree char *out = NULL;
    g_autofree char *expected = NULL;

    /* A warning is fatal under G_DEBUG=fatal-warnings: not for this podvmd. */
    g_setenv("G_DEBUG", "", TRUE);
    daemon = podvm_test_daemon_new_with_config("[console]\nmax_rat=4096\n[consol]\nx=1\n");
    g_setenv("G_DEBUG", "fatal-warnings", TRUE);
    if (daemon == NULL)
        return;
    g_assert_cmpint(podvm_test_ctl(daemon, &out, NULL, "list", NULL), ==, 0);
    expected = g_strdup_printf("%s: [console] max_rat: unknown key", daemon->config_path);
    g_assert_true(podvm_test_wait_for_file_content(daemon->log_path, expected, 5000));
    g_assert_cmpuint(podvm_test_count_in_file(daemon->log_path, "unknown group [consol]"), ==, 1);
    podvm_test_daemon_free(daemon);
}

/* ---- reload ------------------------------------------------------------------------------ */

static void
test_reload(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *token_a = write_token(dir, "token-a", TOKEN_A "\n");
    g_autofree char *token_b = write_token(dir, "token-b", TOKEN_B "\n");
    guint16 port1 = podvm_test_free_tcp_port();
    guint16 port2 = podvm_test_free_tcp_port();
    g_autofree char *conf =
        g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n", port1, token_a);
    g_autofree char *uri1 = g_strdup_printf("http://127.0.0.1:%u/v1/pods", port1);
    g_autofree char *uri2 = g_strdup_printf("http://127.0.0.1:%u/v1/pods", port2);
    PodvmTestDgram notify = { 0 };
    PodvmTestDaemon *daemon;
    gsize keep;

    podvm_test_dgram_open(&notify, "notify");
    g_setenv("NOTIFY_SOCKET", notify.path, TRUE);
    /* A reload that fails logs a warning: not fatal for this podvmd. */
    g_setenv("G_DEBUG", "", TRUE);
    daemon = podvm_test_daemon_new_with_config(conf);
    g_setenv("G_DEBUG", "fatal-warnings", TRUE);
    g_unsetenv("NOTIFY_SOCKET");
    if (daemon == NULL) {
        podvm_test_dgram_close(&notify);
        podvm_test_rmrf(dir);
        return;
    }
    {
        g_autofree char *text = NULL;

        g_assert_true(g_file_get_contents(daemon->config_path, &text, &keep, NULL));
        keep -= strlen(conf);
    }
    g_assert_true(wait_notify(&notify, "READY=1", NULL));
    g_assert_cmpuint(get_status(uri1, TOKEN_A, NULL), ==, 200);
    g_assert_cmpuint(get_status(uri1, TOKEN_B, NULL), ==, 401);

    /* A new token (and a key only a restart applies): the new one works, the old fails. */
    {
        g_autofree char *text = g_strdup_printf(
            "[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n[storage]\nqemu_img=/usr/bin/qemu-img\n",
            port1, token_b);

        rewrite_config(daemon, keep, text);
    }
    reload(daemon, &notify);
    g_assert_cmpuint(get_status(uri1, TOKEN_B, NULL), ==, 200);
    g_assert_cmpuint(get_status(uri1, TOKEN_A, NULL), ==, 401);
    g_assert_true(podvm_test_wait_for_file_content(
        daemon->log_path, "[storage] qemu_img changed: it takes effect when podvmd restarts",
        5000));
    g_assert_cmpuint(podvm_test_count_in_file(daemon->log_path, "reloaded "), ==, 1);

    /* Another address: the listener moves. */
    {
        g_autofree char *text =
            g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n", port2, token_b);

        rewrite_config(daemon, keep, text);
    }
    reload(daemon, &notify);
    g_assert_cmpuint(get_status(uri2, TOKEN_B, NULL), ==, 200);
    g_assert_cmpuint(get_status(uri1, TOKEN_B, NULL), ==, 0);

    /* A file with an error changes nothing, and says why. */
    {
        g_autofree char *text =
            g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\nrequest_timeout_ms=soon\n",
                            port1, token_a);

        rewrite_config(daemon, keep, text);
    }
    reload(daemon, &notify);
    g_assert_true(podvm_test_wait_for_file_content(
        daemon->log_path, "request_timeout_ms: expected a whole number of milliseconds", 5000));
    g_assert_cmpuint(podvm_test_count_in_file(daemon->log_path, "the configuration in use is kept"),
                     ==, 1);
    g_assert_cmpuint(get_status(uri2, TOKEN_B, NULL), ==, 200);
    g_assert_cmpuint(get_status(uri1, TOKEN_A, NULL), ==, 0);

    /* A token file that cannot be read: the same. */
    {
        g_autofree char *text =
            g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s/none\n", port2, dir);

        rewrite_config(daemon, keep, text);
    }
    reload(daemon, &notify);
    g_assert_true(wait_count(daemon->log_path, "the configuration in use is kept", 2));
    g_assert_cmpuint(get_status(uri2, TOKEN_B, NULL), ==, 200);

    /* No listen= any more: the TCP listener closes; the unix socket stays. */
    rewrite_config(daemon, keep, "");
    reload(daemon, &notify);
    g_assert_cmpuint(get_status(uri2, TOKEN_B, NULL), ==, 0);
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "list", NULL), ==, 0);

    podvm_test_daemon_free(daemon);
    podvm_test_dgram_close(&notify);
    podvm_test_rmrf(dir);
}

/* The same address from plain HTTP to HTTPS: a new listener on it, the old one closed. */
static void
test_reload_tls(void)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *token = write_token(dir, "token", TOKEN_A "\n");
    const char *names[] = { "127.0.0.1", NULL };
    g_autofree char *cert = NULL;
    g_autofree char *key = NULL;
    guint16 port = podvm_test_free_tcp_port();
    g_autofree char *conf =
        g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n", port, token);
    g_autofree char *http = g_strdup_printf("http://127.0.0.1:%u/v1/pods", port);
    g_autofree char *https = g_strdup_printf("https://127.0.0.1:%u/v1/pods", port);
    g_autoptr(GTlsCertificate) certificate = NULL;
    g_autoptr(GError) error = NULL;
    PodvmTestDgram notify = { 0 };
    PodvmTestDaemon *daemon;
    gsize keep;

    if (!podvm_test_make_certificate(dir, names, &cert, &key)) {
        podvm_test_rmrf(dir);
        return;
    }
    certificate = g_tls_certificate_new_from_file(cert, &error);
    g_assert_no_error(error);
    podvm_test_dgram_open(&notify, "notify");
    g_setenv("NOTIFY_SOCKET", notify.path, TRUE);
    daemon = podvm_test_daemon_new_with_config(conf);
    g_unsetenv("NOTIFY_SOCKET");
    if (daemon == NULL) {
        podvm_test_dgram_close(&notify);
        podvm_test_rmrf(dir);
        return;
    }
    {
        g_autofree char *text = NULL;

        g_assert_true(g_file_get_contents(daemon->config_path, &text, &keep, NULL));
        keep -= strlen(conf);
    }
    g_assert_true(wait_notify(&notify, "READY=1", NULL));
    g_assert_cmpuint(get_status(http, TOKEN_A, NULL), ==, 200);
    {
        g_autofree char *text =
            g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\ntls_cert=%s\ntls_key=%s\n",
                            port, token, cert, key);

        rewrite_config(daemon, keep, text);
    }
    reload(daemon, &notify);
    g_assert_cmpuint(get_status(https, TOKEN_A, certificate), ==, 200);
    g_assert_cmpuint(get_status(http, TOKEN_A, NULL), !=, 200);
    podvm_test_daemon_free(daemon);
    podvm_test_dgram_close(&notify);
    podvm_test_rmrf(dir);
}

/* ---- STATUS= and the journal ------------------------------------------------------------ */

/* One journal message: its fields (the native protocol: KEY=VALUE, or KEY\n LEN VALUE). */
static GHashTable *
parse_journal(GBytes *datagram)
{
    GHashTable *fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    gsize length = 0;
    const char *p = g_bytes_get_data(datagram, &length);
    const char *end = p + length;

    while (p < end) {
        const char *eol = memchr(p, '\n', (gsize)(end - p));
        const char *eq;

        g_assert_nonnull(eol);
        eq = memchr(p, '=', (gsize)(eol - p));
        if (eq != NULL) {
            g_hash_table_replace(fields, g_strndup(p, (gsize)(eq - p)),
                                 g_strndup(eq + 1, (gsize)(eol - eq - 1)));
            p = eol + 1;
        } else {
            guint64 size;

            g_assert_cmpint(end - (eol + 1), >=, 8);
            memcpy(&size, eol + 1, 8);
            size = GUINT64_FROM_LE(size);
            g_assert_cmpuint(size, <=, (guint64)(end - (eol + 9)));
            g_hash_table_replace(fields, g_strndup(p, (gsize)(eol - p)),
                                 g_strndup(eol + 9, (gsize)size));
            p = eol + 9 + size;
            g_assert_true(p < end && *p == '\n');
            p++;
        }
    }
    return fields;
}

/*
 * The journal's socket, read by a thread of its own all along: podvmd logs
 * at debug level, and never waits for a reader (what does not fit is lost).
 */
typedef struct {
    PodvmTestDgram socket;
    GThread *thread;
    GAsyncQueue *queue; /* of GBytes* */
    gint stop;
} Journal;

static gpointer
journal_thread(gpointer user_data)
{
    Journal *journal = user_data;

    while (!g_atomic_int_get(&journal->stop)) {
        GBytes *datagram = podvm_test_dgram_next(&journal->socket, 100);

        if (datagram != NULL)
            g_async_queue_push(journal->queue, datagram);
    }
    return NULL;
}

static void
journal_open(Journal *journal)
{
    podvm_test_dgram_open(&journal->socket, "journal");
    journal->queue = g_async_queue_new_full((GDestroyNotify)g_bytes_unref);
    journal->thread = g_thread_new("journal", journal_thread, journal);
}

static void
journal_close(Journal *journal)
{
    g_atomic_int_set(&journal->stop, 1);
    g_thread_join(journal->thread);
    g_async_queue_unref(journal->queue);
    podvm_test_dgram_close(&journal->socket);
}

/* The next journal message with a MESSAGE_ID of @ids (others are read and dropped). */
static GHashTable *
wait_journal(Journal *journal, const char *const *ids)
{
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autoptr(GBytes) datagram = g_async_queue_timeout_pop(journal->queue, G_USEC_PER_SEC);
        GHashTable *fields;

        if (datagram == NULL)
            continue;
        fields = parse_journal(datagram);
        if (g_hash_table_lookup(fields, "MESSAGE_ID") != NULL &&
            g_strv_contains(ids, g_hash_table_lookup(fields, "MESSAGE_ID")))
            return fields;
        g_hash_table_unref(fields);
    }
    return NULL;
}

static void
assert_pod_fields(GHashTable *fields, const char *name, const char *uid, const char *phase)
{
    g_assert_nonnull(fields);
    g_test_message("%s", (const char *)g_hash_table_lookup(fields, "MESSAGE"));
    g_assert_cmpstr(g_hash_table_lookup(fields, "POD_NAME"), ==, name);
    g_assert_cmpstr(g_hash_table_lookup(fields, "POD_UID"), ==, uid);
    g_assert_cmpstr(g_hash_table_lookup(fields, "POD_PHASE"), ==, phase);
    g_assert_nonnull(g_hash_table_lookup(fields, "PRIORITY"));
}

/* STATUS= messages until one equals @want; asserts they came at least ~1 s apart. */
static void
wait_status(PodvmTestDgram *notify, const char *want, gint64 *last_us)
{
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autofree char *message = podvm_test_dgram_next_text(notify, 1000);

        if (message == NULL || !g_str_has_prefix(message, "STATUS="))
            continue;
        g_test_message("%s", message);
        /* Rate-limited by podvmd to one a second (a little less here: delivery jitters). */
        if (*last_us != 0)
            g_assert_cmpint(g_get_monotonic_time() - *last_us, >=, 800 * 1000);
        *last_us = g_get_monotonic_time();
        if (strcmp(message + strlen("STATUS="), want) == 0)
            return;
    }
    g_assert_not_reached();
}

static void
test_status_and_journal(void)
{
    PodvmTestDgram notify = { 0 };
    Journal journal = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *uid = NULL;
    PodvmTestDaemon *daemon;
    GHashTable *fields;
    gint64 last_status = 0;

    podvm_test_dgram_open(&notify, "notify");
    journal_open(&journal);
    g_setenv("NOTIFY_SOCKET", notify.path, TRUE);
    g_setenv("PODVM_TEST_JOURNAL_SOCKET", journal.socket.path, TRUE);
    daemon = podvm_test_daemon_new();
    g_unsetenv("NOTIFY_SOCKET");
    g_unsetenv("PODVM_TEST_JOURNAL_SOCKET");
    if (daemon == NULL) {
        podvm_test_dgram_close(&notify);
        journal_close(&journal);
        return;
    }
    g_assert_true(wait_notify(&notify, "READY=1", NULL));
    wait_status(&notify, "0 pods", &last_status);

    spec = podvm_test_guest_spec("svc", NULL, NULL, 1);
    podvm_dbus_manager_call_create_pod_sync(daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_dbus_pod_proxy_new_sync(daemon->connection, G_DBUS_PROXY_FLAGS_NONE,
                                        "io.podvm.PodVM1", path, NULL, &error);
    g_assert_no_error(error);
    fields = wait_journal(&journal, (const char *[]){ ID_CREATED, NULL });
    g_assert_nonnull(fields);
    uid = g_strdup(g_hash_table_lookup(fields, "POD_UID"));
    g_assert_cmpuint(strlen(uid), ==, 36);
    assert_pod_fields(fields, "svc", uid, "Pending");
    g_hash_table_unref(fields);
    wait_status(&notify, "1 pod: 1 pending", &last_status);

    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
    fields = wait_journal(&journal, (const char *[]){ ID_STARTED, NULL });
    assert_pod_fields(fields, "svc", uid, "Running");
    g_assert_cmpstr(g_hash_table_lookup(fields, "MESSAGE"), ==, "pod 'svc': Starting -> Running");
    g_hash_table_unref(fields);
    wait_status(&notify, "1 pod: 1 running", &last_status);

    /* A kill ends it (Failed or Stopped) with a reason, in parentheses closed. */
    podvm_dbus_pod_call_kill_sync(pod, NULL, &error);
    g_assert_no_error(error);
    {
        const char *ended[] = { ID_FAILED, ID_STOPPED, NULL };
        const char *message;
        g_autofree char *phase = NULL;

        fields = wait_journal(&journal, ended);
        g_assert_nonnull(fields);
        message = g_hash_table_lookup(fields, "MESSAGE");
        g_test_message("%s", message);
        g_assert_true(g_str_has_prefix(message, "pod 'svc': Running -> "));
        g_assert_nonnull(strstr(message, " ("));
        g_assert_true(g_str_has_suffix(message, ")"));
        phase = g_strndup(message + strlen("pod 'svc': Running -> "),
                          strcspn(message + strlen("pod 'svc': Running -> "), " "));
        assert_pod_fields(fields, "svc", uid, phase);
    }
    g_hash_table_unref(fields);

    podvm_dbus_pod_call_delete_sync(pod, FALSE, NULL, &error);
    g_assert_no_error(error);
    fields = wait_journal(&journal, (const char *[]){ ID_DELETED, NULL });
    g_assert_nonnull(fields);
    g_assert_cmpstr(g_hash_table_lookup(fields, "POD_NAME"), ==, "svc");
    g_assert_cmpstr(g_hash_table_lookup(fields, "POD_UID"), ==, uid);
    g_hash_table_unref(fields);
    wait_status(&notify, "0 pods", &last_status);

    /* The daemon's own lifecycle: a reload. */
    g_assert_cmpint(kill(podvm_test_daemon_pid(daemon), SIGHUP), ==, 0);
    fields = wait_journal(&journal, (const char *[]){ ID_RELOADED, NULL });
    g_assert_nonnull(fields);
    g_assert_cmpstr(g_hash_table_lookup(fields, "PRIORITY"), ==, "5");
    g_hash_table_unref(fields);

    podvm_test_daemon_free(daemon);
    podvm_test_dgram_close(&notify);
    journal_close(&journal);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/service/check-config", test_check_config);
    g_test_add_func("/podvm/daemon/service/shipped-config-known", test_shipped_config_known);
    g_test_add_func("/podvm/daemon/service/unknown-keys-warned", test_unknown_keys_warned);
    g_test_add_func("/podvm/daemon/service/reload", test_reload);
    g_test_add_func("/podvm/daemon/service/reload-tls", test_reload_tls);
    g_test_add_func("/podvm/daemon/service/status-and-journal", test_status_and_journal);
    return g_test_run();
}
