/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A client of qemu-guest-agent on its channel's socket (QEMU's chardev):
 * async on the main loop, one command at a time (the agent's answers carry
 * no ids). Every command is preceded by guest-sync-delimited with a fresh
 * random id after a 0xFF byte, and every line before that id's answer is
 * dropped: a late answer to an earlier command, an agent that restarted
 * halfway through a line, garbage. Lines are read with a bound
 * (PODVM_QGA_MAX_LINE). Each command has a timeout; a timed-out or failed
 * command leaves the client usable (the next one syncs again), so a guest
 * agent that restarts is simply talked to again.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* How long guest-sync may take; queries; freeze and thaw (they flush every filesystem). */
#define PODVM_QGA_TIMEOUT_SYNC_MS 5000
#define PODVM_QGA_TIMEOUT_QUERY_MS 10000
#define PODVM_QGA_TIMEOUT_FREEZE_MS 60000
/* guest-shutdown answers only when it fails: no answer by then is taken as accepted. */
#define PODVM_QGA_TIMEOUT_SHUTDOWN_MS 3000

#define PODVM_TYPE_GUEST_AGENT (podvm_guest_agent_get_type())
G_DECLARE_FINAL_TYPE(PodvmGuestAgent, podvm_guest_agent, PODVM, GUEST_AGENT, GObject)

/* @pod names the pod in the log (PODVM_POD). Signal "closed": the channel closed. */
PodvmGuestAgent *podvm_guest_agent_new(const char *pod);
/* Connects to the socket at @path (QEMU listens: it does not block). */
gboolean podvm_guest_agent_connect(PodvmGuestAgent *self, const char *path, GError **error);
/* The same on a stream already connected (tests). */
void podvm_guest_agent_open_stream(PodvmGuestAgent *self, GIOStream *stream);
/* Closes the channel: pending commands fail, "closed" is emitted. */
void podvm_guest_agent_close(PodvmGuestAgent *self);
gboolean podvm_guest_agent_is_open(PodvmGuestAgent *self);

/*
 * Runs @command (with @arguments, may be NULL) after a guest-sync. finish()
 * gives its "return" (owned); an error answer is PODVM_ERROR_FAILED with
 * the agent's class and description, no answer within @timeout_ms
 * PODVM_ERROR_TIMEOUT, a closed channel PODVM_ERROR_IO. With @no_reply
 * (guest-shutdown), no answer within @timeout_ms, or the channel closing
 * after the command went out, is success (a JSON null).
 */
void podvm_guest_agent_execute_async(PodvmGuestAgent *self, const char *command,
                                     JsonObject *arguments, guint timeout_ms, gboolean no_reply,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
JsonNode *podvm_guest_agent_execute_finish(PodvmGuestAgent *self, GAsyncResult *result,
                                           GError **error);

G_END_DECLS
