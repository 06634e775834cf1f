/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Manifests and indexes of the OCI distribution API: OCI image manifest and
 * index, Docker schema 2 manifest and manifest list. Parsed from what a
 * registry sent (untrusted): every digest is sha256, every size a whole
 * number, a manifest has a config and layers, an index has manifests.
 */
#define PODVM_MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define PODVM_MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define PODVM_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define PODVM_MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
/* The Accept header of a manifest request. */
#define PODVM_MEDIA_MANIFEST_ACCEPT                                                      \
    PODVM_MEDIA_OCI_MANIFEST ", " PODVM_MEDIA_OCI_INDEX ", " PODVM_MEDIA_DOCKER_MANIFEST \
                             ", " PODVM_MEDIA_DOCKER_LIST

/* A manifest or index larger than this is refused (also the default for configs). */
#define PODVM_REGISTRY_MANIFEST_MAX_SIZE (4 * 1024 * 1024)
/* More layers or manifests than this are refused. */
#define PODVM_REGISTRY_MAX_ENTRIES 1024

typedef struct {
    char *media_type;
    char *digest; /* "sha256:HEX" */
    guint64 size;
    char *os;           /* index entries: platform, or NULL */
    char *architecture; /* index entries */
    char *variant;      /* index entries, or NULL */
} PodvmRegistryDescriptor;

typedef struct {
    char *media_type;                /* one of the four above */
    gboolean is_index;               /* an OCI index or a Docker manifest list */
    PodvmRegistryDescriptor *config; /* manifests */
    GPtrArray *layers;               /* manifests: PodvmRegistryDescriptor * */
    GPtrArray *manifests;            /* indexes: PodvmRegistryDescriptor * */
} PodvmRegistryManifest;

void podvm_registry_descriptor_free(PodvmRegistryDescriptor *descriptor);
void podvm_registry_manifest_free(PodvmRegistryManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRegistryManifest, podvm_registry_manifest_free)

/*
 * Parses @data. @content_type (the response's Content-Type, parameters
 * allowed; NULL when unknown) gives the media type when the document has
 * no "mediaType"; both present must agree. Docker schema 1 and other media
 * types are refused. Errors: PODVM_ERROR_FAILED, the message saying what
 * is wrong (without naming the image: the caller prefixes that).
 */
PodvmRegistryManifest *podvm_registry_manifest_parse(const char *data, gsize length,
                                                     const char *content_type, GError **error);

/*
 * The entry of index @manifest for @os/@architecture (@variant: NULL takes
 * any; arm without a variant prefers the host's). NOT_FOUND naming the
 * platforms the index has.
 */
const PodvmRegistryDescriptor *
podvm_registry_manifest_pick_platform(const PodvmRegistryManifest *manifest, const char *os,
                                      const char *architecture, const char *variant,
                                      GError **error);

/* This host's architecture in OCI's names ("amd64", "arm64", ...), and variant (or NULL). */
const char *podvm_registry_host_architecture(void);
const char *podvm_registry_host_variant(void);

/* "sha256:HEX" of @data. */
char *podvm_registry_digest_of(const void *data, gsize length);

G_END_DECLS
