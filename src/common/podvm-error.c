/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-error.h"

#include <gio/gio.h>

#include "podvm-json.h"

/*
 * The QMP library sits above nothing but GLib and common sits below it, so
 * its domain is recognised by name instead of by linking to it. The codes
 * mirror PodvmQmpErrorCode in qmp/podvm-qmp-client.h.
 */
#define QMP_ERROR_QUARK_NAME "podvm-qmp-error-quark"
#define QMP_ERROR_CODE_TIMEOUT 5

#define DBUS_ERROR_PREFIX "io.podvm.PodVM1.Error."

typedef struct {
    PodvmErrorCode code;
    const char *dbus_name;
    const char *reason;
    guint http_status;
} ErrorInfo;

/* Indexed by PodvmErrorCode. */
static const ErrorInfo error_table[] = {
    { PODVM_ERROR_FAILED, DBUS_ERROR_PREFIX "Failed", "Failed", 500 },
    { PODVM_ERROR_INVALID_ARGUMENT, DBUS_ERROR_PREFIX "InvalidArgument", "InvalidArgument", 400 },
    { PODVM_ERROR_INVALID_SPEC, DBUS_ERROR_PREFIX "InvalidSpec", "InvalidSpec", 400 },
    { PODVM_ERROR_NOT_SUPPORTED, DBUS_ERROR_PREFIX "NotSupported", "NotSupported", 400 },
    { PODVM_ERROR_NOT_FOUND, DBUS_ERROR_PREFIX "NotFound", "NotFound", 404 },
    { PODVM_ERROR_EXISTS, DBUS_ERROR_PREFIX "AlreadyExists", "AlreadyExists", 409 },
    { PODVM_ERROR_WRONG_PHASE, DBUS_ERROR_PREFIX "Conflict", "Conflict", 409 },
    { PODVM_ERROR_BUSY, DBUS_ERROR_PREFIX "Busy", "Busy", 409 },
    { PODVM_ERROR_PERMISSION_DENIED, DBUS_ERROR_PREFIX "PermissionDenied", "PermissionDenied",
      403 },
    { PODVM_ERROR_TIMEOUT, DBUS_ERROR_PREFIX "Timeout", "Timeout", 504 },
    { PODVM_ERROR_QEMU, DBUS_ERROR_PREFIX "QemuError", "QemuError", 502 },
    { PODVM_ERROR_IO, DBUS_ERROR_PREFIX "IOError", "IOError", 500 },
    { PODVM_ERROR_CANCELLED, DBUS_ERROR_PREFIX "Cancelled", "Cancelled", 409 },
};

G_STATIC_ASSERT(G_N_ELEMENTS(error_table) == PODVM_ERROR_CANCELLED + 1);

static const GDBusErrorEntry dbus_error_entries[] = {
    { PODVM_ERROR_FAILED, DBUS_ERROR_PREFIX "Failed" },
    { PODVM_ERROR_INVALID_ARGUMENT, DBUS_ERROR_PREFIX "InvalidArgument" },
    { PODVM_ERROR_INVALID_SPEC, DBUS_ERROR_PREFIX "InvalidSpec" },
    { PODVM_ERROR_NOT_SUPPORTED, DBUS_ERROR_PREFIX "NotSupported" },
    { PODVM_ERROR_NOT_FOUND, DBUS_ERROR_PREFIX "NotFound" },
    { PODVM_ERROR_EXISTS, DBUS_ERROR_PREFIX "AlreadyExists" },
    { PODVM_ERROR_WRONG_PHASE, DBUS_ERROR_PREFIX "Conflict" },
    { PODVM_ERROR_BUSY, DBUS_ERROR_PREFIX "Busy" },
    { PODVM_ERROR_PERMISSION_DENIED, DBUS_ERROR_PREFIX "PermissionDenied" },
    { PODVM_ERROR_TIMEOUT, DBUS_ERROR_PREFIX "Timeout" },
    { PODVM_ERROR_QEMU, DBUS_ERROR_PREFIX "QemuError" },
    { PODVM_ERROR_IO, DBUS_ERROR_PREFIX "IOError" },
    { PODVM_ERROR_CANCELLED, DBUS_ERROR_PREFIX "Cancelled" },
};

G_STATIC_ASSERT(G_N_ELEMENTS(dbus_error_entries) == G_N_ELEMENTS(error_table));

GQuark
podvm_error_quark(void)
{
    static gsize quark = 0;

    g_dbus_error_register_error_domain("podvm-error-quark", &quark, dbus_error_entries,
                                       G_N_ELEMENTS(dbus_error_entries));
    return (GQuark)quark;
}

static const ErrorInfo *
error_info(PodvmErrorCode code)
{
    if ((guint)code >= G_N_ELEMENTS(error_table))
        return &error_table[PODVM_ERROR_FAILED];
    return &error_table[code];
}

const char *
podvm_error_dbus_name(PodvmErrorCode code)
{
    return error_info(code)->dbus_name;
}

const char *
podvm_error_reason(PodvmErrorCode code)
{
    return error_info(code)->reason;
}

guint
podvm_error_http_status(PodvmErrorCode code)
{
    return error_info(code)->http_status;
}

static PodvmErrorCode
code_from_io_error(gint code)
{
    switch (code) {
    case G_IO_ERROR_NOT_FOUND:
        return PODVM_ERROR_NOT_FOUND;
    case G_IO_ERROR_TIMED_OUT:
        return PODVM_ERROR_TIMEOUT;
    case G_IO_ERROR_CANCELLED:
        return PODVM_ERROR_CANCELLED;
    case G_IO_ERROR_PERMISSION_DENIED:
        return PODVM_ERROR_PERMISSION_DENIED;
    case G_IO_ERROR_EXISTS:
        return PODVM_ERROR_EXISTS;
    default:
        return PODVM_ERROR_IO;
    }
}

static PodvmErrorCode
code_from_file_error(gint code)
{
    switch (code) {
    case G_FILE_ERROR_NOENT:
        return PODVM_ERROR_NOT_FOUND;
    case G_FILE_ERROR_ACCES:
    case G_FILE_ERROR_PERM:
        return PODVM_ERROR_PERMISSION_DENIED;
    case G_FILE_ERROR_EXIST:
        return PODVM_ERROR_EXISTS;
    default:
        return PODVM_ERROR_IO;
    }
}

GError *
podvm_error_from_component(const GError *error)
{
    PodvmErrorCode code = PODVM_ERROR_FAILED;
    GError *result;

    g_return_val_if_fail(error != NULL, NULL);

    if (error->domain == PODVM_ERROR)
        code = error->code;
    else if (error->domain == PODVM_JSON_ERROR)
        code = PODVM_ERROR_INVALID_ARGUMENT;
    else if (error->domain == g_quark_from_static_string(QMP_ERROR_QUARK_NAME))
        code = error->code == QMP_ERROR_CODE_TIMEOUT ? PODVM_ERROR_TIMEOUT : PODVM_ERROR_QEMU;
    else if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_DBUS_ERROR)
        code = PODVM_ERROR_FAILED; /* an unregistered D-Bus error from a peer */
    else if (error->domain == G_IO_ERROR)
        code = code_from_io_error(error->code);
    else if (error->domain == G_FILE_ERROR)
        code = code_from_file_error(error->code);

    result = g_error_new_literal(PODVM_ERROR, code, error->message != NULL ? error->message : "");
    /* Received over D-Bus: "GDBus.Error:io.podvm.PodVM1.Error.NotFound: text". */
    g_dbus_error_strip_remote_error(result);
    return result;
}

char *
podvm_quote_for_message(const char *text)
{
    g_autoptr(GString) out = g_string_new("\"");
    const char *p = text;
    guint count = 0;

    while (*p != '\0') {
        gunichar c = g_utf8_get_char_validated(p, -1);

        if (count++ == PODVM_QUOTE_MAX) {
            g_string_append(out, "…");
            break;
        }
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            /* Not UTF-8: show the byte. */
            g_string_append_printf(out, "\\x%02x", (guchar)*p);
            p++;
            continue;
        }
        if (c == '"' || c == '\\')
            g_string_append_printf(out, "\\%c", (char)c);
        else if (c < 0x80 && !g_ascii_isprint((char)c))
            g_string_append_printf(out, "\\x%02x", (guint)c);
        else if (c >= 0x80 && !g_unichar_isprint(c))
            g_string_append_printf(out, "\\u%04x", (guint)c);
        else
            g_string_append_unichar(out, c);
        p = g_utf8_next_char(p);
    }
    g_string_append_c(out, '"');
    return g_string_free(g_steal_pointer(&out), FALSE);
}
