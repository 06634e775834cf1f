/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * The REST server's connections, watched for a client that closes a
 * kept-alive connection between two requests.
 *
 * libsoup 3.2 (fixed in 3.3.0, "Don't leak idle connections closed by the
 * client") never lets such a connection go: after a keep-alive answer it
 * waits for the next request with a message that has no completion
 * callback yet (that is set when the first byte of the request arrives).
 * When the client closes instead, that message ends, and nothing tells
 * the connection: it stays in the server's list of clients for good, with
 * its socket (one fd) and its objects (about 2 KB). At the fd limit the
 * daemon can no longer accept, open or spawn.
 *
 * The workaround: every SoupServerConnection is known from its
 * "request-started" signal (an emission hook; the type is libsoup's own).
 * Between two requests its socket is polled at G_PRIORITY_LOW; when it
 * reads end of file (or an error), the connection is released the way
 * libsoup releases one: its "disconnected" signal, on which the server
 * drops its reference; the connection then finalizes and closes its
 * socket. The low priority orders this after libsoup's own reader, which
 * polls the same socket at the default priority and must have ended its
 * waiting message first (the main loop dispatches the lower priority only
 * when no source of a higher one is ready, and end of file stays ready).
 *
 * And libsoup 3.2's listener never drops the reference to each socket it
 * accepts: every connection (closed or not by the client) left its
 * GSocket object behind, with podvmd's request deadline on it. The first
 * request of a connection drops that reference.
 *
 * Active on libsoup < 3.3 only (what was read and tested is 3.2.3).
 */
typedef struct _PodvmRestConns PodvmRestConns;

PodvmRestConns *podvm_rest_conns_new(SoupServer *server);
/* Stops watching; the connections stay with the server. */
void podvm_rest_conns_free(PodvmRestConns *conns);
/* Connections watched now (open, from the first request on); 0 when inactive. */
guint podvm_rest_conns_get_n(PodvmRestConns *conns);
/* Kept-alive connections released after their client left (since the start). */
guint64 podvm_rest_conns_get_n_released(PodvmRestConns *conns);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRestConns, podvm_rest_conns_free)

G_END_DECLS
