/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/*
 * A server-side WebSocket's stream with two bounds libsoup 3.2 lacks:
 *
 * - a message the client sends in fragments may not pass @max_message
 *   bytes of payload before its last fragment (libsoup bounds each frame,
 *   not the message it assembles): the connection is closed with 1009
 *   "message too big";
 * - while the client does not read what is sent to it, what it sends is
 *   not read either (so pings cannot queue pongs without bound).
 *
 * The client's frame headers are read as they pass; the stream returned
 * is given to soup_websocket_connection_new(), then
 * podvm_ws_bound_set_connection() names that connection.
 */
#define PODVM_TYPE_WS_BOUND (podvm_ws_bound_get_type())
G_DECLARE_FINAL_TYPE(PodvmWsBound, podvm_ws_bound, PODVM, WS_BOUND, GIOStream)

/* @base's streams must be pollable; else @base itself comes back (a new reference). */
GIOStream *podvm_ws_bound_new(GIOStream *base, guint64 max_message);
void podvm_ws_bound_set_connection(GIOStream *stream, SoupWebsocketConnection *ws);

G_END_DECLS
