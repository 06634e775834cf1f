/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gio/gio.h>
#include <locale.h>

#include "podvm-error.h"

static void
test_table(void)
{
    static const struct {
        PodvmErrorCode code;
        const char *reason;
        guint http_status;
    } cases[] = {
        { PODVM_ERROR_FAILED, "Failed", 500 },
        { PODVM_ERROR_INVALID_ARGUMENT, "InvalidArgument", 400 },
        { PODVM_ERROR_INVALID_SPEC, "InvalidSpec", 400 },
        { PODVM_ERROR_NOT_SUPPORTED, "NotSupported", 400 },
        { PODVM_ERROR_NOT_FOUND, "NotFound", 404 },
        { PODVM_ERROR_EXISTS, "AlreadyExists", 409 },
        { PODVM_ERROR_WRONG_PHASE, "Conflict", 409 },
        { PODVM_ERROR_BUSY, "Busy", 409 },
        { PODVM_ERROR_PERMISSION_DENIED, "PermissionDenied", 403 },
        { PODVM_ERROR_TIMEOUT, "Timeout", 504 },
        { PODVM_ERROR_QEMU, "QemuError", 502 },
        { PODVM_ERROR_IO, "IOError", 500 },
        { PODVM_ERROR_CANCELLED, "Cancelled", 409 },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *dbus_name = g_strconcat("io.podvm.PodVM1.Error.", cases[i].reason, NULL);

        g_assert_cmpstr(podvm_error_reason(cases[i].code), ==, cases[i].reason);
        g_assert_cmpstr(podvm_error_dbus_name(cases[i].code), ==, dbus_name);
        g_assert_cmpuint(podvm_error_http_status(cases[i].code), ==, cases[i].http_status);
    }
    /* Out of range falls back to Failed. */
    g_assert_cmpstr(podvm_error_reason((PodvmErrorCode)999), ==, "Failed");
    g_assert_cmpuint(podvm_error_http_status((PodvmErrorCode)999), ==, 500);
}

static void
test_dbus_mapping(void)
{
    g_autoptr(GError) error = g_error_new_literal(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                                  "pod 'web' is Paused; resume it first");
    g_autoptr(GError) back = NULL;
    g_autoptr(GError) converted = NULL;
    g_autofree char *name = NULL;

    g_assert_cmpstr(g_quark_to_string(PODVM_ERROR), ==, "podvm-error-quark");

    name = g_dbus_error_encode_gerror(error);
    g_assert_cmpstr(name, ==, "io.podvm.PodVM1.Error.Conflict");

    back = g_dbus_error_new_for_dbus_error("io.podvm.PodVM1.Error.NotFound", "no pod 'x'");
    g_assert_error(back, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    /* A client converting it at its edge gets the text without the remote prefix. */
    converted = podvm_error_from_component(back);
    g_assert_error(converted, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_cmpstr(converted->message, ==, "no pod 'x'");
}

static void
test_from_component(void)
{
    static const struct {
        const char *domain; /* NULL: G_IO_ERROR */
        gint code;
        PodvmErrorCode expected;
    } cases[] = {
        { NULL, G_IO_ERROR_NOT_FOUND, PODVM_ERROR_NOT_FOUND },
        { NULL, G_IO_ERROR_TIMED_OUT, PODVM_ERROR_TIMEOUT },
        { NULL, G_IO_ERROR_CANCELLED, PODVM_ERROR_CANCELLED },
        { NULL, G_IO_ERROR_PERMISSION_DENIED, PODVM_ERROR_PERMISSION_DENIED },
        { NULL, G_IO_ERROR_EXISTS, PODVM_ERROR_EXISTS },
        { NULL, G_IO_ERROR_BROKEN_PIPE, PODVM_ERROR_IO },
        { NULL, G_IO_ERROR_FAILED, PODVM_ERROR_IO },
        { "podvm-qmp-error-quark", 0, PODVM_ERROR_QEMU },    /* GenericError */
        { "podvm-qmp-error-quark", 3, PODVM_ERROR_QEMU },    /* DeviceNotFound */
        { "podvm-qmp-error-quark", 5, PODVM_ERROR_TIMEOUT }, /* TIMEOUT */
        { "podvm-qmp-error-quark", 6, PODVM_ERROR_QEMU },    /* CLOSED */
        { "some-other-quark", 1, PODVM_ERROR_FAILED },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        GQuark domain = cases[i].domain != NULL ? g_quark_from_string(cases[i].domain) : G_IO_ERROR;
        g_autoptr(GError) in = g_error_new(domain, cases[i].code, "message %" G_GSIZE_FORMAT, i);
        g_autoptr(GError) out = podvm_error_from_component(in);
        g_autofree char *expected = g_strdup_printf("message %" G_GSIZE_FORMAT, i);

        g_assert_error(out, PODVM_ERROR, (gint)cases[i].expected);
        g_assert_cmpstr(out->message, ==, expected);
    }
}

static void
test_from_component_other(void)
{
    g_autoptr(GError) podvm = g_error_new_literal(PODVM_ERROR, PODVM_ERROR_BUSY, "busy");
    g_autoptr(GError) podvm_out = podvm_error_from_component(podvm);
    g_autoptr(GError) dbus = g_error_new_literal(G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY, "no reply");
    g_autoptr(GError) dbus_out = podvm_error_from_component(dbus);
    g_autoptr(GError) remote = g_dbus_error_new_for_dbus_error("org.example.Odd", "odd thing");
    g_autoptr(GError) remote_out = podvm_error_from_component(remote);
    g_autoptr(GError) file = g_error_new_literal(G_FILE_ERROR, G_FILE_ERROR_NOENT, "no file");
    g_autoptr(GError) file_out = podvm_error_from_component(file);

    g_assert_error(podvm_out, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_assert_cmpstr(podvm_out->message, ==, "busy");
    g_assert_error(dbus_out, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_cmpstr(dbus_out->message, ==, "no reply");
    g_assert_error(remote_out, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_cmpstr(remote_out->message, ==, "odd thing");
    g_assert_error(file_out, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/common/error/table", test_table);
    g_test_add_func("/podvm/common/error/dbus", test_dbus_mapping);
    g_test_add_func("/podvm/common/error/from-component", test_from_component);
    g_test_add_func("/podvm/common/error/from-component/other", test_from_component_other);

    return g_test_run();
}
