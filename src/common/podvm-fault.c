/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-fault.h"

#include <errno.h>
#include <signal.h>

#include "podvm-error.h"

static const char *
env_once(const char *name, const char **cache, gsize *once)
{
    if (g_once_init_enter(once)) {
        *cache = g_getenv(name);
        g_once_init_leave(once, 1);
    }
    return *cache;
}

void
podvm_fault_crash_point(const char *point)
{
    static gsize once;
    static const char *wanted;

    if (g_strcmp0(env_once("PODVM_TEST_CRASH_AT", &wanted, &once), point) != 0)
        return;
    g_printerr("podvmd: PODVM_TEST_CRASH_AT=%s: killing myself\n", point);
    raise(SIGKILL);
}

gboolean
podvm_fault_fail_point(const char *point, GError **error)
{
    static gsize once;
    static const char *wanted;

    if (g_strcmp0(env_once("PODVM_TEST_FAIL_AT", &wanted, &once), point) != 0)
        return FALSE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, "%s (PODVM_TEST_FAIL_AT=%s)",
                g_strerror(ENOSPC), point);
    return TRUE;
}

gboolean
podvm_fault_fake_point(const char *point)
{
    static gsize once;
    static const char *wanted;

    return g_strcmp0(env_once("PODVM_TEST_FAKE", &wanted, &once), point) == 0;
}

guint
podvm_fault_delay_ms(const char *point)
{
    static gsize once;
    static const char *wanted;

    return g_strcmp0(env_once("PODVM_TEST_DELAY_AT", &wanted, &once), point) == 0 ? 1000 : 0;
}
