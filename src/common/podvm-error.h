/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The one public error domain. Every code maps to a D-Bus error name
 * (io.podvm.PodVM1.Error.<Name>) and an HTTP status, in one table
 * (podvm-error.c), so both fronts report the same thing the same way.
 * Component domains (PODVM_QMP_ERROR, ...) are converted at the API edge
 * with podvm_error_from_component().
 */
#define PODVM_ERROR (podvm_error_quark())
GQuark podvm_error_quark(void);

typedef enum {
    PODVM_ERROR_FAILED,           /* Failed: 500 */
    PODVM_ERROR_INVALID_ARGUMENT, /* InvalidArgument: 400 (bad name, bad option) */
    PODVM_ERROR_INVALID_SPEC,  /* InvalidSpec: 400 (spec validation; message lists every problem) */
    PODVM_ERROR_NOT_SUPPORTED, /* NotSupported: 400 (field podvm does not support / not yet) */
    PODVM_ERROR_NOT_FOUND,     /* NotFound: 404 */
    PODVM_ERROR_EXISTS,        /* AlreadyExists: 409 */
    PODVM_ERROR_WRONG_PHASE,   /* Conflict: 409 (operation does not fit the pod's phase) */
    PODVM_ERROR_BUSY,          /* Busy: 409 (another operation on the pod conflicts) */
    PODVM_ERROR_PERMISSION_DENIED, /* PermissionDenied: 403 */
    PODVM_ERROR_TIMEOUT,           /* Timeout: 504 (QEMU did not answer in time) */
    PODVM_ERROR_QEMU,      /* QemuError: 502 (QEMU refused or failed; message carries its text) */
    PODVM_ERROR_IO,        /* IOError: 500 (state files, sockets) */
    PODVM_ERROR_CANCELLED, /* Cancelled: 499-ish; reported as 409 */
} PodvmErrorCode;

/* "io.podvm.PodVM1.Error.NotFound" for PODVM_ERROR_NOT_FOUND, etc. */
const char *podvm_error_dbus_name(PodvmErrorCode code);
/* Short CamelCase reason, used in REST bodies: "NotFound". */
const char *podvm_error_reason(PodvmErrorCode code);
/* HTTP status for the code. */
guint podvm_error_http_status(PodvmErrorCode code);

/*
 * Converts any GError to one in PODVM_ERROR, keeping the message:
 * PODVM_JSON_ERROR -> INVALID_ARGUMENT, G_IO_ERROR_NOT_FOUND -> NOT_FOUND,
 * G_IO_ERROR_TIMED_OUT and PODVM_QMP_ERROR_TIMEOUT -> TIMEOUT, PODVM_QMP_ERROR_* -> QEMU, other
 * G_IO_ERROR
 * -> IO, G_IO_ERROR_CANCELLED -> CANCELLED. Errors already in PODVM_ERROR are copied
 * (without the "GDBus.Error:NAME: " prefix of an error received over D-Bus).
 * Also G_IO_ERROR_PERMISSION_DENIED -> PERMISSION_DENIED, G_IO_ERROR_EXISTS -> EXISTS;
 * G_FILE_ERROR: NOENT -> NOT_FOUND, ACCES/PERM -> PERMISSION_DENIED, EXIST -> EXISTS,
 * others -> IO; G_DBUS_ERROR, G_IO_ERROR_DBUS_ERROR and anything else -> FAILED.
 * The QMP domain is recognised by its quark name, so common does not link qmp.
 */
GError *podvm_error_from_component(const GError *error);

/*
 * User input rendered for an error message: in double quotes, at most
 * PODVM_QUOTE_MAX characters (then "…"), with quotes, backslashes, control
 * characters and invalid UTF-8 escaped, so a message stays one printable line.
 */
#define PODVM_QUOTE_MAX 40
char *podvm_quote_for_message(const char *text);

G_END_DECLS
