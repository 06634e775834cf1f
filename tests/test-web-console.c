/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The web console page in a real browser: podvmd with a TCP listener, a
 * token and [web] enabled, a booted test-guest pod, and tests/web/console-test.mjs
 * (Node + playwright-core driving Debian's Chromium headless): the list
 * shows the pod Running, its console shows the guest's marker, typed input
 * reaches the guest, the stop button stops it. Afterwards podvmd's own
 * view confirms the last two (the guest's answer in the console log, the
 * phase). Skips when Chromium, Node, playwright-core (tools/npm) or the
 * vendored xterm.js is missing.
 */
#include <string.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define TEST_TOKEN "web-console-test-token"
#define POD "webpod"
#define INPUT "podvm-web-typed-7341"

/* What the browser test needs; NULL and g_test_skip() when something is missing. */
typedef struct {
    char *node;
    char *chromium;
    char *npm_dir;
    char *web_dir;
} Tools;

static void
tools_clear(Tools *tools)
{
    g_free(tools->node);
    g_free(tools->chromium);
    g_free(tools->npm_dir);
    g_free(tools->web_dir);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Tools, tools_clear)

static gboolean
find_tools(Tools *tools)
{
    const char *chromium = g_getenv("PODVM_CHROMIUM");
    const char *npm_dir = g_getenv("PODVM_NPM_DIR");
    const char *web_dir = g_getenv("PODVM_WEB_DIR");
    g_autofree char *playwright = NULL;
    g_autofree char *xterm = NULL;

    if (npm_dir == NULL || web_dir == NULL) {
        g_test_skip("PODVM_NPM_DIR or PODVM_WEB_DIR is not set: run the tests with `meson test`");
        return FALSE;
    }
    tools->chromium = g_strdup(chromium != NULL ? chromium : "/usr/bin/chromium");
    if (!g_file_test(tools->chromium, G_FILE_TEST_IS_EXECUTABLE)) {
        g_autofree char *why = g_strdup_printf(
            "no Chromium at %s (apt-get install chromium, or tools/setup.sh)", tools->chromium);
        g_test_skip(why);
        return FALSE;
    }
    tools->node = g_find_program_in_path("node");
    if (tools->node == NULL) {
        g_test_skip("node is not installed (apt-get install nodejs, or tools/setup.sh)");
        return FALSE;
    }
    playwright = g_build_filename(npm_dir, "node_modules", "playwright-core", "package.json", NULL);
    if (!g_file_test(playwright, G_FILE_TEST_EXISTS)) {
        g_autofree char *why = g_strdup_printf(
            "no playwright-core in %s/node_modules (npm ci there, or tools/setup.sh)", npm_dir);
        g_test_skip(why);
        return FALSE;
    }
    xterm = g_build_filename(web_dir, "vendor", "xterm.js", NULL);
    if (!g_file_test(xterm, G_FILE_TEST_EXISTS)) {
        g_autofree char *why = g_strdup_printf(
            "the build has no %s (npm ci in web/, then reconfigure: tools/setup.sh)", xterm);
        g_test_skip(why);
        return FALSE;
    }
    tools->npm_dir = g_strdup(npm_dir);
    tools->web_dir = g_strdup(web_dir);
    return TRUE;
}

static void
test_web_console_browser(void)
{
    g_auto(Tools) tools = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) node = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *token_path = NULL;
    g_autofree char *config = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *spec_path = NULL;
    g_autofree char *log = NULL;
    g_autofree char *url = NULL;
    g_autofree char *script = NULL;
    g_autofree char *output = NULL;
    g_autofree char *phase = NULL;
    g_autofree char *answer = NULL;
    PodvmTestDaemon *daemon;
    guint16 port;

    if (!find_tools(&tools) || !podvm_test_require_qemu() || !podvm_test_require_guest())
        return;
    dir = podvm_test_mkdtemp();
    token_path = g_build_filename(dir, "token", NULL);
    g_file_set_contents(token_path, TEST_TOKEN "\n", -1, &error);
    g_assert_no_error(error);
    port = podvm_test_free_tcp_port();
    config = g_strdup_printf("[rest]\nlisten=127.0.0.1:%u\ntoken_file=%s\n"
                             "[web]\nenabled=true\ndir=%s\n",
                             port, token_path, tools.web_dir);
    daemon = podvm_test_daemon_new_with_config(config);
    if (daemon == NULL) {
        podvm_test_rmrf(dir);
        return;
    }

    /* No heartbeat: the guest's marker stays on the terminal's screen. */
    spec = podvm_test_guest_spec(POD, "podvm.heartbeat=0", NULL, 5);
    spec_path = g_build_filename(dir, POD ".json", NULL);
    g_assert_true(g_file_set_contents(spec_path, spec, -1, NULL));
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "create", "-f", spec_path, NULL), ==, 0);
    g_assert_cmpint(podvm_test_ctl(daemon, NULL, NULL, "start", POD, NULL), ==, 0);
    log = podvm_test_daemon_console_log(daemon, POD);
    g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-GUEST-READY", 120000));

    url = g_strdup_printf("http://127.0.0.1:%u", port);
    script = g_test_build_filename(G_TEST_DIST, "web", "console-test.mjs", NULL);
    launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_subprocess_launcher_setenv(launcher, "PODVM_WEB_URL", url, TRUE);
    g_subprocess_launcher_setenv(launcher, "PODVM_WEB_TOKEN", TEST_TOKEN, TRUE);
    g_subprocess_launcher_setenv(launcher, "PODVM_WEB_POD", POD, TRUE);
    g_subprocess_launcher_setenv(launcher, "PODVM_WEB_INPUT", INPUT, TRUE);
    g_subprocess_launcher_setenv(launcher, "PODVM_WEB_OUT", dir, TRUE);
    g_subprocess_launcher_setenv(launcher, "PODVM_NPM_DIR", tools.npm_dir, TRUE);
    g_subprocess_launcher_setenv(launcher, "PODVM_CHROMIUM", tools.chromium, TRUE);
    node = g_subprocess_launcher_spawn(launcher, &error, tools.node, script, NULL);
    g_assert_no_error(error);
    g_subprocess_communicate_utf8(node, NULL, NULL, &output, NULL, &error);
    g_assert_no_error(error);
    /* The browser's steps, as TAP comments. */
    {
        g_auto(GStrv) lines = g_strsplit(output, "\n", -1);

        for (guint i = 0; lines[i] != NULL; i++)
            if (lines[i][0] != '\0')
                g_test_message("%s", lines[i]);
    }
    if (!g_subprocess_get_if_exited(node) || g_subprocess_get_exit_status(node) != 0) {
        g_autofree char *daemon_log = NULL;

        g_file_get_contents(daemon->log_path, &daemon_log, NULL, NULL);
        g_printerr("---- podvmd log ----\n%s\n", daemon_log != NULL ? daemon_log : "");
        g_error("the browser test failed (screenshots in %s):\n%s", dir, output);
    }

    /* podvmd's own view: the typed line reached the guest, and the pod stopped. */
    answer = g_strdup("PODVM-ECHO " INPUT);
    g_assert_true(podvm_test_wait_for_file_content(log, answer, 10000));
    phase = podvm_test_daemon_phase(daemon, POD);
    g_assert_cmpstr(phase, ==, "Stopped");

    podvm_test_daemon_free(daemon);
    podvm_test_rmrf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/web/console/browser", test_web_console_browser);
    return g_test_run();
}
