/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Registry authentication: the WWW-Authenticate challenge of a 401 (RFC
 * 7235: challenges with auth-params, quoted strings), the answer of a
 * token server, and credentials from podman's auth.json:
 *
 *   {"auths": {"HOST[:PORT][/PATH]": {"auth": "base64(user:password)"}}}
 *
 * (docker.io also matches "https://index.docker.io/v1/"; a key with a path
 * matches the repositories under it, the longest first).
 */
typedef struct {
    char *scheme;       /* lowercase: "bearer", "basic", ... */
    GHashTable *params; /* lowercase name -> value */
} PodvmRegistryChallenge;

void podvm_registry_challenge_free(PodvmRegistryChallenge *challenge);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRegistryChallenge, podvm_registry_challenge_free)

/* Every challenge of @header (PodvmRegistryChallenge *), or NULL with @error (FAILED) set. */
GPtrArray *podvm_registry_challenges_parse(const char *header, GError **error);
/* The first Bearer challenge of @challenges, else the first Basic, else NULL. */
const PodvmRegistryChallenge *podvm_registry_challenges_pick(GPtrArray *challenges);
const char *podvm_registry_challenge_get(const PodvmRegistryChallenge *challenge, const char *name);

/* The token of a token server's JSON answer ("token" or "access_token"); *@out_expires_in: s. */
char *podvm_registry_token_parse(const char *data, gsize length, guint *out_expires_in,
                                 GError **error);

/*
 * Looks @registry (and @repository, may be NULL) up in the auth.json at
 * @path. TRUE with *@out_user and *@out_password set when found; TRUE
 * with both NULL when the file or the entry is missing; FALSE when the
 * file is unreadable or malformed.
 */
gboolean podvm_registry_auth_file_lookup(const char *path, const char *registry,
                                         const char *repository, char **out_user,
                                         char **out_password, GError **error);
/* The same on the file's contents. */
gboolean podvm_registry_auth_lookup_data(const char *data, gsize length, const char *registry,
                                         const char *repository, char **out_user,
                                         char **out_password, GError **error);

G_END_DECLS
