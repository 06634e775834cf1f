/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

#include "podvm-registry-client.h"

G_BEGIN_DECLS

/* Tries of a request that failed to connect or got a 5xx. */
#define PODVM_REGISTRY_TRIES 3
/* A registry's error body is read up to this much, for the message. */
#define PODVM_REGISTRY_ERROR_BODY_MAX 16384

/*
 * One request of the distribution API on @ref's registry: credentials,
 * challenges, redirects and retries handled. Succeeds with a 2xx response
 * only (the stream is its body); any other ending is an error naming
 * @what and the registry (404: NOT_FOUND; 401/403: PERMISSION_DENIED).
 * @range_start > 0 asks for the rest of a blob (the answer may be 200).
 */
void podvm_registry_client_request_async(PodvmRegistryClient *self, const PodvmImageRef *ref,
                                         const char *what, const char *path, const char *accept,
                                         goffset range_start, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
GInputStream *podvm_registry_client_request_finish(PodvmRegistryClient *self, GAsyncResult *result,
                                                   SoupMessage **out_message, GError **error);

/* Reads @stream to its end, at most @max bytes (more: FAILED, "larger than"). */
void podvm_registry_read_body_async(GInputStream *stream, gsize max, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
GBytes *podvm_registry_read_body_finish(GAsyncResult *result, GError **error);

/* A transport error (connecting, TLS, timeout, reading) as PODVM_ERROR naming @registry. */
GError *podvm_registry_client_transport_error(PodvmRegistryClient *self, const char *registry,
                                              const GError *error);
/* Whether a failed transfer is worth another try (not cancelled, not a timeout, not TLS). */
gboolean podvm_registry_error_is_transient(const GError *error);

G_END_DECLS
