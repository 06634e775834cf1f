/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the QMP client's files share: its instance struct, the queued
 * commands and lines, and the functions that cross between the protocol
 * (podvm-qmp-client.c) and the byte I/O (podvm-qmp-client-io.c). Not for
 * users of the library.
 */
#include "podvm-qmp-client.h"

#define READ_CHUNK (64 * 1024)
/* A command without its own timer (qmp_capabilities, under the handshake's). */
#define NO_TIMEOUT G_MAXUINT
/* At most this many fds in one SCM_RIGHTS message (the kernel's SCM_MAX_FD). */
#define MAX_FDS 253
#define CONNECT_RETRY_FIRST_MS 10
#define CONNECT_RETRY_MAX_MS 200
/* Longest excerpt of an untrusted string (ids, parser errors) put in a log. */
#define LOG_EXCERPT 200

typedef enum {
    STATE_IDLE,
    STATE_CONNECTING,
    STATE_GREETING,
    STATE_NEGOTIATING,
    STATE_READY,
    STATE_CLOSED,
} State;

typedef struct _Command Command;

/* One line waiting in the write queue. */
typedef struct {
    char *data; /* owned: the JSON text and '\n' */
    gsize len;
    GUnixFDList *fds; /* owned, nullable */
    Command *cmd;     /* unowned: the command whose line this is */
} OutMsg;

struct _Command {
    PodvmQmpClient *client; /* unowned */
    GList order_link;       /* in client->pending_order; data = this */
    char *id;               /* owned; key in client->pending */
    char *name;             /* owned */
    guint timeout_ms;
    gint64 queued_us;
    GTask *task;             /* owned */
    GSource *timeout_source; /* owned, nullable */
    GSource *cancel_source;  /* owned, nullable */
    OutMsg *out;             /* unowned: set while the line waits in the queue */
    gboolean sent;           /* its line left the queue */
};

/* The read in flight; owns the buffer it reads into. */
typedef struct {
    GWeakRef client;
    guint8 *buffer;
} ReadOp;

/* The write in flight; owns the line. */
typedef struct {
    GWeakRef client;
    OutMsg *msg;
    gsize offset;
} WriteOp;

struct _PodvmQmpClient {
    GObject parent_instance;

    GMainContext *context; /* owned */
    State state;
    GCancellable *io_cancellable; /* owned; cancelled on close */

    /* Connecting to a path. */
    GSocketClient *socket_client; /* owned, nullable */
    char *socket_path;            /* owned, nullable */
    GError *connect_error;        /* owned, nullable: the last failed attempt */
    guint connect_delay_ms;
    GSource *retry_source; /* owned, nullable */

    GSocketConnection *connection; /* owned, nullable */
    GSocket *socket;               /* unowned, from connection */
    GInputStream *input;           /* unowned, from connection */
    GOutputStream *output;         /* unowned, from connection */

    GByteArray *inbuf; /* owned: bytes read and not yet handled */
    gsize scan_pos;    /* inbuf holds no '\n' before this */

    GQueue out_queue; /* OutMsg, owned, not yet written */
    gboolean writing; /* a WriteOp is in flight */

    GHashTable *pending;  /* id -> Command, owned through pending_order */
    GQueue pending_order; /* Command.order_link, oldest first */
    guint64 next_serial;

    GTask *handshake_task; /* owned, nullable */
    guint handshake_timeout_ms;
    GSource *handshake_timeout_source; /* owned, nullable */
    GSource *handshake_cancel_source;  /* owned, nullable */

    char *qemu_version; /* owned, nullable */
    char *qemu_package; /* owned, nullable */

    char *log_field; /* owned, nullable */
    char *log_value; /* owned, nullable */
};

/* Logging, with the pod's field; the excerpt of an untrusted string (freed by the caller). */
void qmp_client_log(PodvmQmpClient *self, GLogLevelFlags level, const char *format, ...)
    G_GNUC_PRINTF(3, 4);
char *qmp_client_excerpt(const char *text);

/* Ending the connection: a protocol violation, QEMU's close, a failed read or write. */
void qmp_client_protocol_error(PodvmQmpClient *self, const char *format, ...) G_GNUC_PRINTF(2, 3);
void qmp_client_peer_closed(PodvmQmpClient *self);
void qmp_client_io_failed(PodvmQmpClient *self, const char *what, const GError *error);

/* One parsed message from QEMU: a greeting, reply, error or event. */
void qmp_client_dispatch(PodvmQmpClient *self, JsonObject *message);
void qmp_client_out_msg_free(OutMsg *msg);

/* podvm-qmp-client-io.c: starts reading @connection; writes queued lines in order. */
void qmp_client_start_session(PodvmQmpClient *self, GSocketConnection *connection);
void qmp_client_write_next(PodvmQmpClient *self);

/*
 * podvm-qmp-json-check.c: TRUE when a line is one plain JSON object (double-quoted strings,
 * no comments, no unpaired surrogates) nested at most 1024 deep; else *out_reason says why.
 */
gboolean podvm_qmp_check_plain_json(const char *data, gsize len, const char **out_reason);
