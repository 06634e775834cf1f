/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for image references (podvm-image-ref.c).
 *
 * The input, cut at its first NUL byte, is parsed. What parses has a valid
 * registry, a sha256 digest or none, a tag or a digest, and a canonical
 * form that parses back to itself; what does not gives INVALID_ARGUMENT
 * with a message that is valid UTF-8.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-image-ref.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = podvm_fuzz_strndup(data, size);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmImageRef) ref = podvm_image_ref_parse(text, &error);
    g_autoptr(PodvmImageRef) again = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *canonical_again = NULL;

    if (ref == NULL) {
        PODVM_FUZZ_CHECK(error != NULL);
        PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
        PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        return 0;
    }
    PODVM_FUZZ_CHECK(error == NULL);
    PODVM_FUZZ_CHECK(podvm_image_ref_is_registry(text));
    PODVM_FUZZ_CHECK(podvm_image_ref_registry_valid(ref->registry));
    PODVM_FUZZ_CHECK(ref->tag != NULL || ref->digest != NULL);
    PODVM_FUZZ_CHECK(ref->digest == NULL || podvm_image_ref_digest_valid(ref->digest));
    PODVM_FUZZ_CHECK(ref->repository[0] != '\0' && strchr(ref->repository, ':') == NULL);
    canonical = podvm_image_ref_to_string(ref);
    again = podvm_image_ref_parse(canonical, &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("'%s' parses, its canonical form '%s' does not: %s", text, canonical,
                        error->message);
    canonical_again = podvm_image_ref_to_string(again);
    if (!g_str_equal(canonical, canonical_again))
        PODVM_FUZZ_FAIL("'%s' -> '%s' -> '%s'", text, canonical, canonical_again);
    return 0;
}
