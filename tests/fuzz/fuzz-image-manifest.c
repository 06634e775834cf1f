/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for what a registry sends as a manifest or index
 * (podvm-registry-manifest.c), and for auth.json and token answers
 * (podvm-registry-auth.c), all untrusted.
 *
 * The first byte picks the Content-Type given with the body. What parses
 * has the invariants the store relies on: sha256 digests, a config and a
 * layer list for manifests, a manifest list for indexes, at most
 * PODVM_REGISTRY_MAX_ENTRIES entries; an index's platform pick returns one
 * of its entries or NOT_FOUND. Errors are FAILED with a UTF-8 message.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-image-ref.h"
#include "podvm-registry-auth.h"
#include "podvm-registry-manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
    NULL,
    PODVM_MEDIA_OCI_MANIFEST,
    PODVM_MEDIA_OCI_INDEX,
    PODVM_MEDIA_DOCKER_MANIFEST,
    PODVM_MEDIA_DOCKER_LIST "; charset=utf-8",
    "application/json",
    "",
    "text/html",
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

static void
check_descriptor(const PodvmRegistryDescriptor *d)
{
    PODVM_FUZZ_CHECK(d != NULL);
    PODVM_FUZZ_CHECK(podvm_image_ref_digest_valid(d->digest));
}

static void
check_manifest(const PodvmRegistryManifest *m)
{
    PODVM_FUZZ_CHECK(m->media_type != NULL);
    if (m->is_index) {
        const char *archs[] = { "amd64", "arm64", "arm" };

        PODVM_FUZZ_CHECK(m->manifests != NULL && m->layers == NULL && m->config == NULL);
        PODVM_FUZZ_CHECK(m->manifests->len <= PODVM_REGISTRY_MAX_ENTRIES);
        for (guint i = 0; i < m->manifests->len; i++)
            check_descriptor(g_ptr_array_index(m->manifests, i));
        for (guint i = 0; i < G_N_ELEMENTS(archs); i++) {
            g_autoptr(GError) error = NULL;
            const PodvmRegistryDescriptor *pick =
                podvm_registry_manifest_pick_platform(m, "linux", archs[i], "v7", &error);
            gboolean found = FALSE;

            if (pick == NULL) {
                PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND));
                PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
                continue;
            }
            for (guint j = 0; j < m->manifests->len; j++)
                found |= g_ptr_array_index(m->manifests, j) == pick;
            PODVM_FUZZ_CHECK(found);
            PODVM_FUZZ_CHECK(g_strcmp0(pick->os, "linux") == 0);
            PODVM_FUZZ_CHECK(g_strcmp0(pick->architecture, archs[i]) == 0);
        }
    } else {
        PODVM_FUZZ_CHECK(m->manifests == NULL && m->layers != NULL);
        check_descriptor(m->config);
        PODVM_FUZZ_CHECK(m->layers->len <= PODVM_REGISTRY_MAX_ENTRIES);
        for (guint i = 0; i < m->layers->len; i++)
            check_descriptor(g_ptr_array_index(m->layers, i));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *content_type;
    const char *body;
    gsize length;

    if (size == 0)
        return 0;
    content_type = content_types[data[0] % G_N_ELEMENTS(content_types)];
    body = (const char *)data + 1;
    length = size - 1;
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmRegistryManifest) m =
            podvm_registry_manifest_parse(body, length, content_type, &error);

        if (m == NULL) {
            PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_FAILED));
            PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        } else {
            PODVM_FUZZ_CHECK(error == NULL);
            check_manifest(m);
        }
    }
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *token = podvm_registry_token_parse(body, length, NULL, &error);

        PODVM_FUZZ_CHECK((token == NULL) == (error != NULL));
        for (const char *p = token; p != NULL && *p != '\0'; p++)
            PODVM_FUZZ_CHECK(*p > 0x20 && *p < 0x7f);
    }
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *user = NULL;
        g_autofree char *password = NULL;
        gboolean ok = podvm_registry_auth_lookup_data(body, length, "docker.io", "library/redis",
                                                      &user, &password, &error);

        PODVM_FUZZ_CHECK(ok == (error == NULL));
        PODVM_FUZZ_CHECK((user == NULL) == (password == NULL));
        if (!ok)
            PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
    }
    return 0;
}
