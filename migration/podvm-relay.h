/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Copies bytes both ways between two streams until either side closes or
 * fails, then closes both: how QEMU's migration and NBD channels reach the
 * peer (QEMU's end is a unix socket, the peer's an upgraded HTTP(S)
 * connection). Counts the bytes and remembers when the last ones moved,
 * for the no-progress timeout. Runs on the caller's main context.
 */
typedef struct _PodvmRelay PodvmRelay;

/* @done (may be NULL) runs once when the relay ends, with why (NULL: a clean close). */
typedef void (*PodvmRelayDone)(PodvmRelay *relay, const GError *why, gpointer user_data);

PodvmRelay *podvm_relay_new(GIOStream *a, GIOStream *b, PodvmRelayDone done, gpointer user_data);
/* Ends it now (both streams closed); @done runs with CANCELLED unless it ran. */
void podvm_relay_close(PodvmRelay *relay);
void podvm_relay_free(PodvmRelay *relay); /* closes it first */
guint64 podvm_relay_bytes_a_to_b(PodvmRelay *relay);
guint64 podvm_relay_bytes_b_to_a(PodvmRelay *relay);
/* g_get_monotonic_time() when bytes last moved (either way), or when it was made. */
gint64 podvm_relay_last_progress_us(PodvmRelay *relay);
gboolean podvm_relay_is_open(PodvmRelay *relay);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRelay, podvm_relay_free)

/* A connected socketpair as two GIOStreams: one end for QEMU (getfd), one for a relay. */
gboolean podvm_relay_socketpair(GSocket **out_qemu_end, GIOStream **out_our_end, GError **error);

G_END_DECLS
