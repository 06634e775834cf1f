/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for label selectors (podvm-labels.c).
 *
 * The input, cut at its first NUL byte, is parsed. What does not parse
 * gives INVALID_ARGUMENT with a message that is valid UTF-8. What parses
 * has a canonical form that parses back to itself, and the selector and
 * its canonical form pick the same of a few label sets, whether the labels
 * come as a table or as JSON.
 */
#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-labels.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* KEY, VALUE pairs; NULL ends a set. */
static const char *const label_sets[][9] = {
    { NULL },
    { "app", "web", NULL },
    { "app", "db", "tier", "front", NULL },
    { "app", "", "example.com/owner", "ops", "in", "notin", NULL },
    { "a", "b", "tier", "back", "zone", "a", "app", "web" },
};

static GHashTable *labels_table[G_N_ELEMENTS(label_sets)];
static JsonObject *labels_json[G_N_ELEMENTS(label_sets)];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    for (gsize i = 0; i < G_N_ELEMENTS(label_sets); i++) {
        labels_table[i] = g_hash_table_new(g_str_hash, g_str_equal);
        labels_json[i] = json_object_new();
        for (gsize j = 0; j + 1 < G_N_ELEMENTS(label_sets[i]) && label_sets[i][j] != NULL; j += 2) {
            g_hash_table_insert(labels_table[i], (gpointer)label_sets[i][j],
                                (gpointer)label_sets[i][j + 1]);
            json_object_set_string_member(labels_json[i], label_sets[i][j], label_sets[i][j + 1]);
        }
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = podvm_fuzz_strndup(data, size);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmLabelSelector) selector = podvm_label_selector_parse(text, &error);
    g_autoptr(PodvmLabelSelector) again = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *canonical_again = NULL;

    if (selector == NULL) {
        PODVM_FUZZ_CHECK(error != NULL);
        PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
        PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        return 0;
    }
    PODVM_FUZZ_CHECK(error == NULL);
    canonical = podvm_label_selector_to_string(selector);
    PODVM_FUZZ_CHECK(g_utf8_validate(canonical, -1, NULL));
    again = podvm_label_selector_parse(canonical, &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("'%s' parses, its canonical form '%s' does not: %s", text, canonical,
                        error->message);
    canonical_again = podvm_label_selector_to_string(again);
    if (!g_str_equal(canonical, canonical_again))
        PODVM_FUZZ_FAIL("'%s' -> '%s' -> '%s'", text, canonical, canonical_again);
    for (gsize i = 0; i < G_N_ELEMENTS(label_sets); i++) {
        gboolean matches = podvm_label_selector_matches(selector, labels_table[i]);

        PODVM_FUZZ_CHECK(podvm_label_selector_matches(again, labels_table[i]) == matches);
        PODVM_FUZZ_CHECK(podvm_label_selector_matches_json(selector, labels_json[i]) == matches);
    }
    return 0;
}
