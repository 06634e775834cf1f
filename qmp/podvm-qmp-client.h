/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * libpodvm-qmp: an async QMP client. Knows the protocol, nothing of pods.
 *
 * Transport: reads the greeting, sends qmp_capabilities (out-of-band
 * execution is not enabled), then commands with ids ("podvm-N"), matching
 * replies by id.
 * Events are delivered through the "event" signal as they arrive, also
 * between a command and its reply and during negotiation. QMP output is
 * untrusted: a line longer than PODVM_QMP_MAX_LINE closes the connection
 * with a protocol error; a reply with an unknown id is dropped and logged;
 * an error reply without an id fails the oldest pending command.
 * When the socket closes, every pending command fails with
 * PODVM_QMP_ERROR_CLOSED and "closed" is emitted once.
 */

#define PODVM_QMP_MAX_LINE (10 * 1024 * 1024)

/* Timeouts by kind of command (milliseconds). */
#define PODVM_QMP_TIMEOUT_QUERY 2000
#define PODVM_QMP_TIMEOUT_DEFAULT 10000
#define PODVM_QMP_TIMEOUT_HOTPLUG 30000
#define PODVM_QMP_TIMEOUT_BLOCKJOB 300000

#define PODVM_QMP_ERROR (podvm_qmp_error_quark())
GQuark podvm_qmp_error_quark(void);

typedef enum {
    /* QEMU's ErrorClass values, for error replies. The GError message is
     * QEMU's "desc", as it is. A class not listed here is GENERIC_ERROR. */
    PODVM_QMP_ERROR_GENERIC_ERROR,
    PODVM_QMP_ERROR_COMMAND_NOT_FOUND,
    PODVM_QMP_ERROR_DEVICE_NOT_ACTIVE,
    PODVM_QMP_ERROR_DEVICE_NOT_FOUND,
    PODVM_QMP_ERROR_KVM_MISSING_CAP,
    /* Transport errors. */
    PODVM_QMP_ERROR_TIMEOUT,  /* no reply within the command's timeout */
    PODVM_QMP_ERROR_CLOSED,   /* the connection closed (or was never open) */
    PODVM_QMP_ERROR_PROTOCOL, /* garbage, missing greeting, oversized line */
} PodvmQmpErrorCode;

/*
 * "GenericError" etc. for an error in PODVM_QMP_ERROR that came from QEMU's
 * error reply; NULL otherwise (also for the transport codes).
 */
const char *podvm_qmp_error_class_name(const GError *error);

#define PODVM_TYPE_QMP_CLIENT (podvm_qmp_client_get_type())
G_DECLARE_FINAL_TYPE(PodvmQmpClient, podvm_qmp_client, PODVM, QMP_CLIENT, GObject)

/*
 * Signals:
 *   "event" (const char *name, JsonObject *data (nullable), gint64 timestamp_us)
 *      timestamp_us is QEMU's timestamp (seconds*1e6 + microseconds), 0 when
 *      QEMU sent none. The signal is detailed by the event's name: connect to
 *      "event::SHUTDOWN" to get only that one. @data is valid during the
 *      emission; take a reference to keep it.
 *   "closed" (GError *reason)   emitted once when the connection ends
 *      (also when connecting or negotiating fails), never from dispose.
 *
 * Everything runs in the thread-default main context of the thread that
 * created the client. A client connects once; after "closed", make a new one.
 * The client may be unreffed from any callback or signal handler; pending
 * commands keep it alive until they complete.
 */

PodvmQmpClient *podvm_qmp_client_new(void);

/*
 * Connects to a unix socket, waits for the greeting and negotiates
 * capabilities, all within @timeout_ms (0 means PODVM_QMP_TIMEOUT_DEFAULT).
 * Completes with an error (PODVM_QMP_ERROR_PROTOCOL or _TIMEOUT or
 * G_IO_ERROR_*) otherwise. While the socket does not exist yet or refuses
 * connections (QEMU still starting), connecting is retried until the
 * timeout; then the last G_IO_ERROR_NOT_FOUND or _CONNECTION_REFUSED is
 * returned.
 */
void podvm_qmp_client_connect_async(PodvmQmpClient *self, const char *socket_path, guint timeout_ms,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean podvm_qmp_client_connect_finish(PodvmQmpClient *self, GAsyncResult *result,
                                         GError **error);

/*
 * The same over an already connected socket (a socketpair in tests). The
 * client takes a reference on @connection and closes it when it closes.
 */
void podvm_qmp_client_handshake_async(PodvmQmpClient *self, GSocketConnection *connection,
                                      guint timeout_ms, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_qmp_client_handshake_finish(PodvmQmpClient *self, GAsyncResult *result,
                                           GError **error);

/*
 * Sends a command. @arguments may be NULL; it is not consumed. @fds, when
 * not NULL, are sent with the command line as SCM_RIGHTS (for getfd/add-fd).
 * @timeout_ms 0 means PODVM_QMP_TIMEOUT_DEFAULT. Cancelling fails the call
 * at once (a late reply is dropped).
 */
void podvm_qmp_client_execute_async(PodvmQmpClient *self, const char *command,
                                    JsonObject *arguments, GUnixFDList *fds, guint timeout_ms,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
/* Returns QEMU's "return" value (a new reference; an empty object for {}). */
JsonNode *podvm_qmp_client_execute_finish(PodvmQmpClient *self, GAsyncResult *result,
                                          GError **error);

/* Closes the connection; pending commands fail with PODVM_QMP_ERROR_CLOSED. */
void podvm_qmp_client_close(PodvmQmpClient *self);

gboolean podvm_qmp_client_is_connected(PodvmQmpClient *self);

/* From the greeting, once connected: "7.2.22" style and the package string. */
const char *podvm_qmp_client_get_qemu_version(PodvmQmpClient *self);
/* QEMU's package string from the greeting ("Debian 1:7.2+dfsg-7"), "" if none. */
const char *podvm_qmp_client_get_qemu_package(PodvmQmpClient *self);

/*
 * Adds a structured field (for example "POD_NAME" = "web") to every message
 * this client logs; the value also prefixes the message text. NULL @value
 * removes it.
 */
void podvm_qmp_client_set_log_field(PodvmQmpClient *self, const char *field, const char *value);

G_END_DECLS
