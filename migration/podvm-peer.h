/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-migration-doc.h"

G_BEGIN_DECLS

/*
 * Another podvmd, seen from the source of a migration: its REST API over
 * TCP, with its bearer token, over TLS (https://, verified against @cacert
 * or the system's CAs) or, only when the caller allows it, plain http://.
 * JSON calls go through libsoup; a stream (the migration or one disk's NBD
 * connection) is an HTTP/1.1 upgrade ("Upgrade: podvm-migration/1", answer
 * 101) after which the connection is a raw byte stream, relayed by
 * podvm-relay.h. Errors are PODVM_ERROR: the peer's own error document
 * ({"error": {"reason", "message"}}) becomes the code of that reason and
 * its message; UNAUTHORIZED (401) -> PERMISSION_DENIED "the peer refused
 * the token"; unreachable -> IO naming the URL.
 */
typedef struct {
    char *url;             /* "https://HOST:PORT" (no path) */
    char *token;           /* the peer's bearer token */
    char *cacert;          /* PEM file to verify the peer with, or NULL for the system's */
    gboolean plaintext_ok; /* http:// allowed */
    guint timeout_ms;      /* per JSON call (0: 30 s) */
} PodvmPeerSettings;

typedef struct _PodvmPeer PodvmPeer;

/* INVALID_ARGUMENT for a URL that is not http(s)://HOST:PORT, or http:// without plaintext_ok. */
PodvmPeer *podvm_peer_new(const PodvmPeerSettings *settings, GError **error);
void podvm_peer_free(PodvmPeer *peer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmPeer, podvm_peer_free)
const char *podvm_peer_get_url(PodvmPeer *peer);

/*
 * One JSON call: @method @path (e.g. "POST", "/v1/migrations") with @body
 * (may be NULL); completes with the answer's JSON (NULL for 204).
 */
void podvm_peer_call_async(PodvmPeer *peer, const char *method, const char *path, JsonNode *body,
                           GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
JsonNode *podvm_peer_call_finish(PodvmPeer *peer, GAsyncResult *result, GError **error);

/*
 * Opens a stream: GET /v1/migrations/ID/stream?channel=CHANNEL (CHANNEL
 * "migration" or "nbd:DISK") with the secret header and the upgrade; the
 * raw connection (TLS when https) once the peer answered 101.
 */
void podvm_peer_open_stream_async(PodvmPeer *peer, const char *id, const char *secret,
                                  const char *channel, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
GIOStream *podvm_peer_open_stream_finish(PodvmPeer *peer, GAsyncResult *result, GError **error);

G_END_DECLS
