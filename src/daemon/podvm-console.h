/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-config.h"

G_BEGIN_DECLS

/*
 * The serial console of one pod. QEMU's console socket takes one client:
 * the daemon holds it, keeps the recent output in a ring buffer, and fans
 * it out to any number of console clients, each a socketpair end handed
 * out as an fd. Input from clients goes to the guest. QEMU's own chardev
 * logfile is the durable log; the ring only serves replays.
 *
 * A guest that prints without end costs bounded CPU and disk: QEMU's
 * socket is read in large chunks, at most every PODVM_CONSOLE_READ_INTERVAL_MS
 * and at most [console] max_rate bytes a second (above that podvmd stops
 * reading for the rest of the second, and QEMU's chardev holds the guest
 * back); and the log is rotated as it passes [console] log_max_bytes, in
 * place (copy to console.log.1, then truncate: QEMU appends), keeping
 * log_keep old files.
 */
#define PODVM_CONSOLE_RING_SIZE (64 * 1024)
/* A client that falls this far behind is disconnected, not buffered for. */
#define PODVM_CONSOLE_CLIENT_BACKLOG (1024 * 1024)
/* What one read of QEMU's socket takes, at most, and how often it may read. */
#define PODVM_CONSOLE_READ_CHUNK (64 * 1024)
#define PODVM_CONSOLE_READ_INTERVAL_MS 10
/* What is read of QEMU's socket at most when the console ends (drain_qemu). */
#define PODVM_CONSOLE_DRAIN_MAX (1024 * 1024)
/* How long a client may take to read its last output after the console ended. */
#define PODVM_CONSOLE_LINGER_MS 5000

#define PODVM_TYPE_CONSOLE (podvm_console_get_type())
G_DECLARE_FINAL_TYPE(PodvmConsole, podvm_console, PODVM, CONSOLE, GObject)

PodvmConsole *podvm_console_new(const char *pod_name);
/* The console of a pod whose log QEMU appends to @log_path, bounded as @config says. */
PodvmConsole *podvm_console_new_for_pod(const char *pod_name, const char *log_path,
                                        const PodvmConfig *config);
/* [console] log_max_bytes, log_keep and max_rate of @config from now on (a reload). */
void podvm_console_set_limits(PodvmConsole *self, const PodvmConfig *config);

/* Connects to QEMU's console socket. Completes once connected. */
void podvm_console_connect_async(PodvmConsole *self, const char *socket_path,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean podvm_console_connect_finish(PodvmConsole *self, GAsyncResult *result, GError **error);

/*
 * Drops the QEMU connection and every client: they get what QEMU wrote until
 * then (read now if podvmd had not yet), then end of file.
 */
void podvm_console_disconnect(PodvmConsole *self);

/*
 * A new client: returns the fd of its end (the caller owns it), after
 * queueing the ring's content when @replay.
 */
int podvm_console_open_client(PodvmConsole *self, gboolean replay, GError **error);

guint podvm_console_get_n_clients(PodvmConsole *self);

/*
 * Rotates @log_path if it is longer than @max_bytes: its last @max_bytes
 * go to LOG.1 (older ones move up to LOG.@keep), then it is truncated.
 * TRUE when it rotated.
 */
gboolean podvm_console_rotate_log(const char *log_path, guint64 max_bytes, guint keep,
                                  GError **error);

G_END_DECLS
