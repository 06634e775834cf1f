/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * References to images in registries (owner: the image store's engineer):
 *
 *   docker://[REGISTRY/]REPO[:TAG][@DIGEST]   and the same without "docker://"
 *
 * as KubeVirt's containerDisk.image writes them. Docker's rules: the first
 * component of the name is a registry when it contains '.' or ':' or is
 * "localhost"; otherwise the registry is docker.io, where a one-component
 * repository gets "library/". "index.docker.io" is docker.io. Without a tag
 * and a digest the tag is "latest". Repository components are lowercase
 * [a-z0-9]+ joined by '.', '_', "__" or dashes; a tag is
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest is "sha256:" and 64 lowercase
 * hex digits (other algorithms are refused). "oci:DIR..." (a local layout)
 * is not a registry reference.
 */
typedef struct {
    char *registry;   /* "docker.io", "127.0.0.1:5000", "quay.io" */
    char *repository; /* "library/redis", "apps/busybox" */
    char *tag;        /* "latest"; NULL when only a digest was given */
    char *digest;     /* "sha256:HEX" or NULL */
} PodvmImageRef;

#define PODVM_IMAGE_REF_DOCKER_PREFIX "docker://"
#define PODVM_IMAGE_REF_DOCKER_HUB "docker.io"
#define PODVM_IMAGE_REF_DOCKER_HUB_API "registry-1.docker.io"
#define PODVM_IMAGE_REF_MAX_LENGTH 4096

/*
 * Parses @text. INVALID_ARGUMENT with a message that quotes @text and says
 * what is wrong ("repository names must be lowercase", ...).
 */
PodvmImageRef *podvm_image_ref_parse(const char *text, GError **error);
void podvm_image_ref_free(PodvmImageRef *ref);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmImageRef, podvm_image_ref_free)
PodvmImageRef *podvm_image_ref_copy(const PodvmImageRef *ref);

/*
 * Whether @text is meant as a registry reference rather than a local
 * layout or path: it starts with "docker://", or it is neither "oci:..."
 * nor a path ("/...", "./...", "../..."). It may still fail to parse.
 */
gboolean podvm_image_ref_is_registry(const char *text);

/* The canonical form: "docker.io/library/redis:latest", "HOST:PORT/r@sha256:...", both kept. */
char *podvm_image_ref_to_string(const PodvmImageRef *ref);
/* "docker.io/library/redis": registry and repository. */
char *podvm_image_ref_get_name(const PodvmImageRef *ref);
/* What names the manifest in /v2/REPO/manifests/...: the digest when given, else the tag. */
const char *podvm_image_ref_get_manifest_reference(const PodvmImageRef *ref);
/* The host (and port) the distribution API is reached at: registry-1.docker.io for docker.io. */
const char *podvm_image_ref_get_api_host(const PodvmImageRef *ref);
/* The canonical form of @text, or NULL with @error set. */
char *podvm_image_ref_normalize(const char *text, GError **error);

/* Whether @digest is "sha256:" and 64 lowercase hex digits. */
gboolean podvm_image_ref_digest_valid(const char *digest);
/* Whether @registry is a valid registry host: a DNS name or IP (IPv6 in []), optional :PORT. */
gboolean podvm_image_ref_registry_valid(const char *registry);

G_END_DECLS
