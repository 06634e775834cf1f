/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * Reading an OCI image layout (oci-layout, index.json, blobs/sha256/HEX),
 * shared by containerDisk and app root filesystems. References:
 *
 *   oci:DIR[:TAG]        DIR absolute; the last ':' splits off TAG only when
 *                        no '/' follows it (so "oci:/srv/a:b/img" is a
 *                        directory); TAG defaults to "latest". The manifest
 *                        is the index's entry whose
 *                        "org.opencontainers.image.ref.name" is TAG; an
 *                        index with exactly one entry and no names at all
 *                        yields that entry whatever TAG says.
 *   oci:DIR@sha256:HEX   the manifest (or index) blob HEX, which must be in
 *                        DIR/blobs; index.json is not read. The image store
 *                        of pulled images is such a layout.
 *
 * An index (in index.json's entry or as the blob named by digest) is
 * resolved to this host's platform: os "linux" and the architecture in OCI
 * names (amd64, arm64, ...; "arm" also matches the variant when the entry
 * gives one). Every blob read is checked against its digest and its
 * declared size; manifests, indexes and configs are limited to 4 MiB.
 * Errors are PODVM_ERROR and name the image as given and the blob.
 *
 * Everything here blocks (file reads): call it from a worker thread or a
 * helper process.
 */

#define PODVM_OCI_JSON_BLOB_MAX_SIZE (4 * 1024 * 1024)

typedef struct {
    char *media_type;
    char *digest;    /* "sha256:<hex>" */
    const char *hex; /* into digest */
    guint64 size;
} PodvmOciDescriptor;

void podvm_oci_descriptor_clear(PodvmOciDescriptor *desc);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PodvmOciDescriptor, podvm_oci_descriptor_clear)

typedef enum {
    PODVM_OCI_COMPRESSION_NONE,
    PODVM_OCI_COMPRESSION_GZIP,
    PODVM_OCI_COMPRESSION_ZSTD,
} PodvmOciCompression;

typedef struct {
    PodvmOciDescriptor desc;
    PodvmOciCompression compression;
} PodvmOciLayer;

typedef struct {
    char *image;  /* the reference as given, control characters escaped: for messages */
    char *dir;    /* the layout directory */
    char *tag;    /* NULL when opened by digest */
    char *digest; /* the digest asked for, NULL when opened by tag */
    PodvmOciDescriptor manifest_desc; /* the platform's image manifest */
    JsonNode *manifest;               /* verified, a JSON object */
} PodvmOciLayout;

void podvm_oci_layout_free(PodvmOciLayout *layout);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmOciLayout, podvm_oci_layout_free)

/*
 * Splits "oci:DIR[:TAG]" or "oci:DIR@sha256:HEX" without touching the
 * disk. Exactly one of @out_tag and @out_digest is set (either may be
 * NULL when the caller does not want it). INVALID_ARGUMENT for anything
 * else (NOT_SUPPORTED for another digest algorithm).
 */
gboolean podvm_oci_reference_parse(const char *image, char **out_dir, char **out_tag,
                                   char **out_digest, GError **error);

/* The reference for messages: control characters, quotes and invalid UTF-8 escaped. */
char *podvm_oci_escape_for_message(const char *image);

/* This host's architecture in OCI names ("amd64", "arm64", "arm", "386",
 * "ppc64le", "s390x", "riscv64", ...); @out_variant: "v7" etc. or NULL. */
const char *podvm_oci_host_architecture(const char **out_variant);

/* Opens the layout and reads the platform manifest (verified). */
PodvmOciLayout *podvm_oci_layout_open(const char *image, GCancellable *cancellable, GError **error);

/* The manifest's config blob, read and verified (a JSON object). */
JsonNode *podvm_oci_layout_read_config(PodvmOciLayout *layout, GCancellable *cancellable,
                                       GError **error);

/* The manifest's layers in order (PodvmOciLayer, freed with the array);
 * FAILED without layers, NOT_SUPPORTED for a media type other than tar,
 * tar+gzip, tar+zstd (OCI and Docker names). */
GPtrArray *podvm_oci_layout_get_layers(PodvmOciLayout *layout, GError **error);

/* The path of a blob in the layout. */
char *podvm_oci_layout_blob_path(PodvmOciLayout *layout, const PodvmOciDescriptor *desc);

/*
 * A blob read as a stream with its digest checked: read() hashes what it
 * hands out and stops one byte past the declared size; verify() reads what
 * is left and checks size and digest ("blob sha256:... of image '...' is
 * corrupt (digest mismatch)" / "(size mismatch: ...)").
 */
typedef struct _PodvmOciBlobReader PodvmOciBlobReader;

PodvmOciBlobReader *podvm_oci_layout_open_blob(PodvmOciLayout *layout,
                                               const PodvmOciDescriptor *desc,
                                               GCancellable *cancellable, GError **error);
/* The next chunk (valid until the next call): its length, 0 at the end, -1 on an error
 * (the same error again from podvm_oci_blob_reader_verify()). */
gssize podvm_oci_blob_reader_read(PodvmOciBlobReader *reader, const void **out_data,
                                  GError **error);
gboolean podvm_oci_blob_reader_verify(PodvmOciBlobReader *reader, GError **error);
/* TRUE when a read stopped because the cancellable was cancelled. */
gboolean podvm_oci_blob_reader_was_cancelled(PodvmOciBlobReader *reader);
/* The error of the last failed read, as text (for libarchive's error), or NULL. */
const char *podvm_oci_blob_reader_get_error_message(PodvmOciBlobReader *reader);
void podvm_oci_blob_reader_free(PodvmOciBlobReader *reader);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmOciBlobReader, podvm_oci_blob_reader_free)

G_END_DECLS
