/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The serial console of one pod. QEMU's console socket takes one client:
 * the daemon holds it, keeps the recent output in a ring buffer, and fans
 * it out to any number of console clients, each a socketpair end handed
 * out as an fd. Input from clients goes to the guest. QEMU's own chardev
 * logfile is the durable log; the ring only serves replays.
 */
#define PODVM_CONSOLE_RING_SIZE (64 * 1024)
/* A client that falls this far behind is disconnected, not buffered for. */
#define PODVM_CONSOLE_CLIENT_BACKLOG (1024 * 1024)

#define PODVM_TYPE_CONSOLE (podvm_console_get_type())
G_DECLARE_FINAL_TYPE(PodvmConsole, podvm_console, PODVM, CONSOLE, GObject)

PodvmConsole *podvm_console_new(const char *pod_name);

/* Connects to QEMU's console socket. Completes once connected. */
void podvm_console_connect_async(PodvmConsole *self, const char *socket_path,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean podvm_console_connect_finish(PodvmConsole *self, GAsyncResult *result, GError **error);

/* Drops the QEMU connection and every client (they see end of file). */
void podvm_console_disconnect(PodvmConsole *self);

/*
 * A new client: returns the fd of its end (the caller owns it), after
 * queueing the ring's content when @replay.
 */
int podvm_console_open_client(PodvmConsole *self, gboolean replay, GError **error);

guint podvm_console_get_n_clients(PodvmConsole *self);

G_END_DECLS
