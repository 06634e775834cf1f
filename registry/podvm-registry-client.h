/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-image-ref.h"
#include "podvm-image-store.h"

G_BEGIN_DECLS

/*
 * The OCI distribution API client (libsoup 3), one per image store: GET of
 * manifests (Accept: OCI manifest and index, Docker schema 2 manifest and
 * list) and blobs, streamed and hashed. Anonymous first; a 401's
 * WWW-Authenticate challenge is answered (Bearer: a token from the realm,
 * with the auth file's credentials when it has them, cached per registry
 * and scope; Basic: the credentials). HTTPS with the system's CAs; plain
 * HTTP only for the registries in insecure_registries. Redirects are
 * followed by hand (credentials go only to the registry's own host).
 * Connection errors and 5xx are tried 3 times with backoff; a blob whose
 * transfer broke resumes with a Range request when the server allows it.
 * A request idle for the timeout fails with TIMEOUT naming the registry.
 * Everything runs on the thread-default main context of the caller.
 */
#define PODVM_TYPE_REGISTRY_CLIENT (podvm_registry_client_get_type())
G_DECLARE_FINAL_TYPE(PodvmRegistryClient, podvm_registry_client, PODVM, REGISTRY_CLIENT, GObject)

PodvmRegistryClient *podvm_registry_client_new(const PodvmImageStoreOptions *options);

/* @reference: a tag or "sha256:..." (verified against the body when a digest). */
void podvm_registry_client_get_manifest_async(PodvmRegistryClient *self, const PodvmImageRef *ref,
                                              const char *reference, guint64 max_size,
                                              GCancellable *cancellable,
                                              GAsyncReadyCallback callback, gpointer user_data);
/* The body; *@out_content_type the response's Content-Type (or NULL), *@out_digest its sha256. */
GBytes *podvm_registry_client_get_manifest_finish(PodvmRegistryClient *self, GAsyncResult *result,
                                                  char **out_content_type, char **out_digest,
                                                  GError **error);

typedef void (*PodvmRegistryBytesFunc)(guint64 bytes, gpointer user_data);

/*
 * Downloads blob @digest of @ref into @dest (a file path; its directory
 * exists), through a temporary file in @tmp_dir that is hashed while it
 * streams, fsync'd and renamed to @dest only when the digest and @size
 * match. @max_size: refused when the descriptor or the stream is larger.
 * @progress gets each chunk's length (and a negative-free restart: bytes
 * already counted are not counted again).
 */
void podvm_registry_client_fetch_blob_async(PodvmRegistryClient *self, const PodvmImageRef *ref,
                                            const char *digest, guint64 size, guint64 max_size,
                                            const char *dest, const char *tmp_dir,
                                            PodvmRegistryBytesFunc progress, gpointer progress_data,
                                            GCancellable *cancellable, GAsyncReadyCallback callback,
                                            gpointer user_data);
gboolean podvm_registry_client_fetch_blob_finish(PodvmRegistryClient *self, GAsyncResult *result,
                                                 GError **error);

/* Whether @registry ("HOST[:PORT]") is reached over plain HTTP. */
gboolean podvm_registry_client_is_insecure(PodvmRegistryClient *self, const char *registry);

G_END_DECLS
