/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-netns.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mount.h>

/* Whether podvm_test_netns_enter() worked, and why not. */
static gboolean entered;
static char *skip_reason;

static gboolean
enter(char **why)
{
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        *why = g_strdup_printf("cannot make a network and mount namespace of its own: %s",
                               g_strerror(errno));
        return FALSE;
    }
    /* Mounts made from now on (pods' namespaces) stay in this namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        *why =
            g_strdup_printf("cannot make / private in its mount namespace: %s", g_strerror(errno));
        return FALSE;
    }
    /* A fresh /run/netns and sysfs of this namespace (for /sys/class/net). */
    if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0) {
        *why = g_strdup_printf("cannot mount sysfs for its namespace: %s", g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_test_netns_enter(char **why)
{
    entered = enter(why);
    if (!entered)
        skip_reason = g_strdup(*why);
    return entered;
}

gboolean
podvm_test_netns_require(const char *program, ...)
{
    va_list ap;

    /* Never run a network test in the machine's own namespace. */
    if (!entered && skip_reason == NULL)
        g_error("podvm_test_netns_require() before podvm_test_netns_enter()");
    if (!entered) {
        g_test_skip(skip_reason);
        return FALSE;
    }
    va_start(ap, program);
    for (const char *name = program; name != NULL; name = va_arg(ap, const char *)) {
        g_autofree char *path = g_find_program_in_path(name);

        if (path == NULL) {
            g_autofree char *why =
                g_strdup_printf("%s is not installed (tools/setup.sh installs it)", name);

            g_test_skip(why);
            va_end(ap);
            return FALSE;
        }
    }
    va_end(ap);
    return TRUE;
}

static GPtrArray *
collect_argv(const char *first, va_list ap)
{
    GPtrArray *argv = g_ptr_array_new();

    for (const char *arg = first; arg != NULL; arg = va_arg(ap, const char *))
        g_ptr_array_add(argv, (gpointer)arg);
    g_ptr_array_add(argv, NULL);
    return argv;
}

gboolean
podvm_test_netns_run(GError **error, const char *first, ...)
{
    g_autoptr(GPtrArray) argv = NULL;
    g_autofree char *err = NULL;
    int status = 0;
    va_list ap;

    va_start(ap, first);
    argv = collect_argv(first, ap);
    va_end(ap);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
                      &status, error))
        return FALSE;
    if (!g_spawn_check_wait_status(status, error)) {
        g_prefix_error(error, "%s: %s", first, err);
        return FALSE;
    }
    return TRUE;
}

char *
podvm_test_netns_run_output(const char *first, ...)
{
    g_autoptr(GPtrArray) argv = NULL;
    char *out = NULL;
    va_list ap;

    va_start(ap, first);
    argv = collect_argv(first, ap);
    va_end(ap);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, NULL, NULL, NULL));
    return out;
}
