/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the WWW-Authenticate parser (podvm-registry-auth.c):
 * the input, cut at its first NUL, is a registry's challenge header. What
 * parses has at least one challenge, each with a lowercase scheme of
 * token characters and lowercase parameter names; the pick is Bearer, else
 * Basic, else none; errors are FAILED.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-registry-auth.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

static gboolean
lowercase(const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (g_ascii_isupper(*p))
            return FALSE;
    }
    return *text != '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *header = podvm_fuzz_strndup(data, size);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) challenges = podvm_registry_challenges_parse(header, &error);
    const PodvmRegistryChallenge *pick;
    gboolean bearer = FALSE, basic = FALSE;

    if (challenges == NULL) {
        PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_FAILED));
        return 0;
    }
    PODVM_FUZZ_CHECK(error == NULL);
    PODVM_FUZZ_CHECK(challenges->len > 0);
    for (guint i = 0; i < challenges->len; i++) {
        const PodvmRegistryChallenge *c = g_ptr_array_index(challenges, i);
        GHashTableIter iter;
        gpointer key, value;

        PODVM_FUZZ_CHECK(lowercase(c->scheme));
        bearer |= g_str_equal(c->scheme, "bearer");
        basic |= g_str_equal(c->scheme, "basic");
        g_hash_table_iter_init(&iter, c->params);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
            PODVM_FUZZ_CHECK(lowercase(key));
            PODVM_FUZZ_CHECK(value != NULL && g_utf8_validate(value, -1, NULL));
        }
    }
    pick = podvm_registry_challenges_pick(challenges);
    if (bearer)
        PODVM_FUZZ_CHECK(pick != NULL && g_str_equal(pick->scheme, "bearer"));
    else if (basic)
        PODVM_FUZZ_CHECK(pick != NULL && g_str_equal(pick->scheme, "basic"));
    else
        PODVM_FUZZ_CHECK(pick == NULL);
    return 0;
}
