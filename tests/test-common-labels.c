/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-error.h"
#include "podvm-labels.h"

static GHashTable *
labels_of(const char *first_key, ...)
{
    GHashTable *labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    va_list args;

    va_start(args, first_key);
    for (const char *key = first_key; key != NULL; key = va_arg(args, const char *))
        g_hash_table_insert(labels, g_strdup(key), g_strdup(va_arg(args, const char *)));
    va_end(args);
    return labels;
}

static void
test_parse_and_match(void)
{
    g_autoptr(GHashTable) labels = labels_of("app", "web", "tier", "front", NULL);
    g_autoptr(JsonNode) json = json_from_string("{\"app\": \"web\", \"tier\": \"front\"}", NULL);
    static const struct {
        const char *selector;
        gboolean matches;
    } cases[] = {
        { "app=web", TRUE },       { "app=web,tier", TRUE }, { " app=web , tier=front ", TRUE },
        { "app=db", FALSE },       { "tier", TRUE },         { "zone", FALSE },
        { "app=web,zone", FALSE }, { "app=", FALSE },        { "", TRUE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) selector = podvm_label_selector_parse(cases[i].selector, &error);

        g_assert_no_error(error);
        g_assert_cmpint(podvm_label_selector_matches(selector, labels), ==, cases[i].matches);
        g_assert_cmpint(podvm_label_selector_matches_json(selector, json_node_get_object(json)), ==,
                        cases[i].matches);
    }
    g_assert_true(podvm_label_selector_matches(NULL, labels));
    g_assert_true(podvm_label_selector_matches_json(NULL, NULL));
    {
        g_autoptr(GHashTable) selector = podvm_label_selector_parse("app", NULL);
        g_assert_false(podvm_label_selector_matches_json(selector, NULL));
    }
}

static void
test_bad(void)
{
    const char *bad[] = { "=x", "app=web,", ",app", "app=web, ,tier" };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) selector = podvm_label_selector_parse(bad[i], &error);

        g_assert_null(selector);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/labels/parse-and-match", test_parse_and_match);
    g_test_add_func("/podvm/common/labels/bad", test_bad);
    return g_test_run();
}
