/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hostile input over D-Bus, end to end against a real podvmd on a private
 * bus: deeply nested JSON in the strings that carry JSON (Pod.Qmp,
 * Pod.AttachDisk, Manager.CreatePod), and strings far larger than any
 * spec, which are refused without podvmd keeping the memory. No QEMU is
 * started.
 */
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define DEEP 100000
#define HUGE_STRING (20 * 1024 * 1024)
#define ROUNDS 4

/* podvmd is built like this test: under AddressSanitizer, so is it. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_IS_MEANINGFUL FALSE
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_IS_MEANINGFUL FALSE
#endif
#endif
#ifndef RSS_IS_MEANINGFUL
#define RSS_IS_MEANINGFUL TRUE
#endif

static void
assert_remote_error(const GError *error, const char *name)
{
    g_autofree char *remote = NULL;

    g_assert_nonnull(error);
    g_assert_true(g_dbus_error_is_remote_error(error));
    remote = g_dbus_error_get_remote_error(error);
    if (g_strcmp0(remote, name) != 0)
        g_test_message("unexpected error: %s", error->message);
    g_assert_cmpstr(remote, ==, name);
    g_assert_true(g_utf8_validate(error->message, -1, NULL));
}

static void
assert_alive(PodvmTestDaemon *daemon)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *list = NULL;

    podvm_dbus_manager_call_list_pods_sync(daemon->manager, &list, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(g_str_has_prefix(list, "["));
}

static PodvmDBusPod *
create_pod(PodvmTestDaemon *daemon, const char *name)
{
    g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 1);
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;

    podvm_dbus_manager_call_create_pod_sync(daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    return podvm_test_daemon_pod(daemon, name);
}

static char *
nested(char open, char close)
{
    char *text = g_malloc(2 * DEEP + 1);

    memset(text, open, DEEP);
    memset(text + DEEP, close, DEEP);
    text[2 * DEEP] = '\0';
    return text;
}

static void
test_deep_json(void)
{
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *brackets = nested('[', ']');

    if (daemon == NULL)
        return;
    pod = create_pod(daemon, "deep");
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *reply = NULL;

        podvm_dbus_pod_call_qmp_sync(pod, brackets, &reply, NULL, &error);
        assert_remote_error(error, "io.podvm.PodVM1.Error.InvalidArgument");
        g_assert_nonnull(strstr(error->message, "nested deeper than 64 levels"));
    }
    assert_alive(daemon);
    {
        g_autoptr(GError) error = NULL;

        podvm_dbus_pod_call_attach_disk_sync(pod, brackets, NULL, &error);
        assert_remote_error(error, "io.podvm.PodVM1.Error.InvalidSpec");
    }
    assert_alive(daemon);
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *path = NULL;

        podvm_dbus_manager_call_create_pod_sync(daemon->manager, brackets, &path, NULL, &error);
        assert_remote_error(error, "io.podvm.PodVM1.Error.InvalidSpec");
    }
    assert_alive(daemon);
    {
        /* A command that is not deep gets as far as the pod: it does not run. */
        g_autoptr(GError) error = NULL;
        g_autofree char *reply = NULL;

        podvm_dbus_pod_call_qmp_sync(pod, "{\"execute\": \"query-status\"}", &reply, NULL, &error);
        assert_remote_error(error, "io.podvm.PodVM1.Error.Conflict");
    }
    /* podvmctl qmp refuses it before sending. */
    {
        g_autofree char *err = NULL;
        /* One argument of a command line holds at most 128 KiB. */
        g_autoptr(GString) argument = g_string_new(NULL);

        for (guint i = 0; i < 20000; i++)
            g_string_append(argument, "{\"a\":");

        g_assert_cmpint(podvm_test_ctl(daemon, NULL, &err, "qmp", "deep", argument->str, NULL), !=,
                        0);
        g_assert_nonnull(strstr(err, "nested deeper"));
    }
    assert_alive(daemon);
    podvm_test_daemon_free(daemon);
}

/* podvmd's resident set in KiB. */
static guint64
rss_kib(PodvmTestDaemon *daemon)
{
    g_autofree char *path =
        g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(daemon->process));
    g_autofree char *status = NULL;
    const char *line;

    g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
    line = strstr(status, "VmRSS:");
    g_assert_nonnull(line);
    return g_ascii_strtoull(line + strlen("VmRSS:"), NULL, 10);
}

static void
test_huge_strings(void)
{
    PodvmTestDaemon *daemon = podvm_test_daemon_new();
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *huge = NULL;
    guint64 before, rss[ROUNDS];

    if (daemon == NULL)
        return;
    pod = create_pod(daemon, "huge");
    /* A valid JSON string, so only its size is wrong. */
    huge = g_malloc(HUGE_STRING + 1);
    memset(huge, 'x', HUGE_STRING);
    huge[0] = '"';
    huge[HUGE_STRING - 1] = '"';
    huge[HUGE_STRING] = '\0';

    assert_alive(daemon);
    before = rss_kib(daemon);
    for (guint round = 0; round < ROUNDS; round++) {
        {
            g_autoptr(GError) error = NULL;
            g_autofree char *reply = NULL;

            podvm_dbus_pod_call_qmp_sync(pod, huge, &reply, NULL, &error);
            assert_remote_error(error, "io.podvm.PodVM1.Error.InvalidArgument");
            g_assert_nonnull(strstr(error->message, "1048576"));
        }
        {
            g_autoptr(GError) error = NULL;
            g_autofree char *path = NULL;

            podvm_dbus_manager_call_create_pod_sync(daemon->manager, huge, &path, NULL, &error);
            assert_remote_error(error, "io.podvm.PodVM1.Error.InvalidArgument");
        }
        {
            g_autoptr(GError) error = NULL;

            podvm_dbus_pod_call_attach_disk_sync(pod, huge, NULL, &error);
            assert_remote_error(error, "io.podvm.PodVM1.Error.InvalidArgument");
        }
        assert_alive(daemon);
        rss[round] = rss_kib(daemon);
        g_test_message("podvmd RSS: %" G_GUINT64_FORMAT " KiB before, %" G_GUINT64_FORMAT
                       " KiB after %u strings of 20 MiB",
                       before, rss[round], 3 * (round + 1));
    }
    if (RSS_IS_MEANINGFUL) {
        /*
         * GDBus reads a message whole into a buffer that keeps the size of the largest one:
         * one such buffer stays, and nothing more, however many come.
         */
        g_assert_cmpuint(rss[0], <, before + HUGE_STRING / 1024 + 4 * 1024);
        g_assert_cmpuint(rss[ROUNDS - 1], <, rss[0] + 2 * 1024);
    }
    assert_alive(daemon);
    podvm_test_daemon_free(daemon);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/dbus/input/deep-json", test_deep_json);
    g_test_add_func("/podvm/dbus/input/huge-strings", test_huge_strings);
    return g_test_run();
}
