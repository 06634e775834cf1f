/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * A real registry for image tests: Debian's docker-registry (distribution
 * v2) on 127.0.0.1 with a free port, a temporary config and storage dir.
 * Images are pushed into it with skopeo (podvm_test_registry_push()), from
 * OCI layouts the test builds (podvm-test-image.h).
 *
 * With PODVM_TEST_REGISTRY_TOKEN_AUTH the registry is configured with
 * `auth: token` and a token server runs in the test process (its own thread
 * and main context, so a test blocked on a child still gets tokens): it
 * checks a username and password by Basic auth and issues RS256 JWTs signed
 * with a key and self-signed certificate made with the openssl CLI. An
 * auth.json in podman's format is written for podvmd ([images] auth_file).
 *
 * Everything the registry logs (JSON lines) goes to a file in its temp dir;
 * podvm_test_registry_count_requests() counts the requests it answered.
 */

typedef enum {
    PODVM_TEST_REGISTRY_NONE = 0,
    /* Bearer token auth, credentials required for pull and push. */
    PODVM_TEST_REGISTRY_TOKEN_AUTH = 1 << 0,
    /* With TOKEN_AUTH: the token server also gives pull tokens to anonymous
     * clients (as Docker Hub does); push still needs the credentials. */
    PODVM_TEST_REGISTRY_ANONYMOUS_PULL = 1 << 1,
} PodvmTestRegistryFlags;

typedef struct _PodvmTestRegistry PodvmTestRegistry;

/*
 * Starts the registry and waits until GET /v2/ answers. NULL after
 * g_test_skip() (with the reason) when docker-registry, skopeo or (for
 * TOKEN_AUTH) openssl is not installed; asserts on other failures.
 */
PodvmTestRegistry *podvm_test_registry_start(PodvmTestRegistryFlags flags);
/* Ends the registry (by its pid) and the token server; removes the temp dir. */
void podvm_test_registry_stop(PodvmTestRegistry *reg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmTestRegistry, podvm_test_registry_stop)

/* "127.0.0.1:PORT": the registry part of image references. */
const char *podvm_test_registry_host(PodvmTestRegistry *reg);
/* "http://127.0.0.1:PORT" */
const char *podvm_test_registry_url(PodvmTestRegistry *reg);
/* The registry's temp dir (config, storage/, log, auth.json, token key). */
const char *podvm_test_registry_dir(PodvmTestRegistry *reg);
/* The registry's log (JSON lines of docker-registry's stdout and stderr). */
const char *podvm_test_registry_log_path(PodvmTestRegistry *reg);

/* With TOKEN_AUTH: the credentials, and the path of an auth.json holding them
 * ({"auths": {"HOST:PORT": {"auth": base64(user:pass)}}}). NULL otherwise. */
const char *podvm_test_registry_username(PodvmTestRegistry *reg);
const char *podvm_test_registry_password(PodvmTestRegistry *reg);
const char *podvm_test_registry_auth_file(PodvmTestRegistry *reg);
/* With TOKEN_AUTH: the token server's realm URL and how many tokens it issued
 * and refused so far. */
const char *podvm_test_registry_token_realm(PodvmTestRegistry *reg);
guint podvm_test_registry_tokens_issued(PodvmTestRegistry *reg);
guint podvm_test_registry_tokens_refused(PodvmTestRegistry *reg);

/*
 * skopeo copy --all --dest-tls-verify=false [--dest-creds U:P]
 *   oci:@oci_dir:@tag docker://HOST/@repo_tag
 * (@repo_tag "apps/busybox:v1"). argv only, no shell.
 */
gboolean podvm_test_registry_push(PodvmTestRegistry *reg, const char *oci_dir, const char *tag,
                                  const char *repo_tag, GError **error);
/*
 * The same, with @format "oci" (NULL: the source's) or "v2s2" (Docker schema 2:
 * skopeo converts the manifest and config); @out_digest (may be NULL) gets
 * the digest of the pushed manifest (or index) as skopeo reports it.
 */
gboolean podvm_test_registry_push_full(PodvmTestRegistry *reg, const char *oci_dir, const char *tag,
                                       const char *repo_tag, const char *format, char **out_digest,
                                       GError **error);

/*
 * GET @path ("/v2/apps/busybox/tags/list") on the registry from the test;
 * with TOKEN_AUTH and @authenticate, the whole token flow (401 challenge,
 * token from the realm with the credentials, retry with the bearer token).
 * Returns the HTTP status; @out_body (may be NULL) gets the body.
 */
guint podvm_test_registry_get(PodvmTestRegistry *reg, const char *path, gboolean authenticate,
                              char **out_body);

/*
 * Requests the registry answered so far whose method is @method (NULL:
 * any) and whose URI starts with @uri_prefix (NULL: any), e.g. ("GET",
 * "/v2/apps/redis/blobs/") for layer and config downloads. Read from its log.
 */
guint podvm_test_registry_count_requests(PodvmTestRegistry *reg, const char *method,
                                         const char *uri_prefix);

/*
 * Changes one byte in the middle of the stored blob @digest ("sha256:HEX"):
 * the registry serves it with its size unchanged, and its digest no longer
 * matches. Asserts the blob is stored.
 */
void podvm_test_registry_corrupt_blob(PodvmTestRegistry *reg, const char *digest);

/*
 * A loopback TCP listener that accepts connections and never answers, nor
 * closes them until freed: a registry that hangs. Runs in a thread of its
 * own.
 */
typedef struct _PodvmTestHangingServer PodvmTestHangingServer;
PodvmTestHangingServer *podvm_test_hanging_server_new(void);
void podvm_test_hanging_server_free(PodvmTestHangingServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmTestHangingServer, podvm_test_hanging_server_free)
/* "127.0.0.1:PORT" */
const char *podvm_test_hanging_server_host(PodvmTestHangingServer *server);
/* Connections accepted so far. */
guint podvm_test_hanging_server_accepted(PodvmTestHangingServer *server);

G_END_DECLS
