/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Label selectors in Kubernetes' syntax (podvm-labels.h): each operator
 * against labels that have, lack or differ on the key; the canonical form
 * read back; and what is refused, with a message that says where.
 */
#include <string.h>

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
    g_autoptr(GHashTable) labels =
        labels_of("app", "web", "tier", "front", "example.com/owner", "ops", "empty", "", NULL);
    g_autoptr(JsonNode) json =
        json_from_string("{\"app\": \"web\", \"tier\": \"front\", \"example.com/owner\": \"ops\", "
                         "\"empty\": \"\"}",
                         NULL);
    static const struct {
        const char *selector;
        gboolean matches;
    } cases[] = {
        /* = and == */
        { "app=web", TRUE },
        { "app==web", TRUE },
        { "app = web", TRUE },
        { "app=db", FALSE },
        { "zone=a", FALSE },
        { "app=", FALSE },
        { "empty=", TRUE },
        { "empty==", TRUE },
        { "example.com/owner=ops", TRUE },
        /* != matches a missing key too, as in Kubernetes */
        { "app!=db", TRUE },
        { "app!=web", FALSE },
        { "zone!=a", TRUE },
        /* in / notin */
        { "app in (web,db)", TRUE },
        { "app in (db)", FALSE },
        { "app in(db , web)", TRUE },
        { "zone in (a)", FALSE },
        { "app notin (db,cache)", TRUE },
        { "app notin (web)", FALSE },
        { "zone notin (a,b)", TRUE },
        /* exists, does not exist */
        { "tier", TRUE },
        { "zone", FALSE },
        { "!zone", TRUE },
        { "!app", FALSE },
        { " ! zone ", TRUE },
        /* comma = and */
        { "app=web,tier", TRUE },
        { " app=web , tier=front ", TRUE },
        { "app=web,zone", FALSE },
        { "app in (web,db),tier notin (back),!zone,empty", TRUE },
        { "app in (web,db),tier notin (front)", FALSE },
        /* "in" and "notin" are values where a value goes, keys where a key goes */
        { "tier=in", FALSE },
        { "in", FALSE },
        { "!notin", TRUE },
        /* everything */
        { "", TRUE },
        { "   ", TRUE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmLabelSelector) selector =
            podvm_label_selector_parse(cases[i].selector, &error);

        g_test_message("selector '%s'", cases[i].selector);
        g_assert_no_error(error);
        g_assert_cmpint(podvm_label_selector_matches(selector, labels), ==, cases[i].matches);
        g_assert_cmpint(podvm_label_selector_matches_json(selector, json_node_get_object(json)), ==,
                        cases[i].matches);
    }
    g_assert_true(podvm_label_selector_matches(NULL, labels));
    g_assert_true(podvm_label_selector_matches_json(NULL, NULL));
    {
        g_autoptr(PodvmLabelSelector) selector = podvm_label_selector_parse("app", NULL);
        g_autoptr(PodvmLabelSelector) absent = podvm_label_selector_parse("!app,app!=x", NULL);

        g_assert_false(podvm_label_selector_matches_json(selector, NULL));
        g_assert_true(podvm_label_selector_matches_json(absent, NULL));
        g_assert_true(podvm_label_selector_matches(absent, NULL));
    }
}

/* Several -l options: every one must hold. */
static void
test_add(void)
{
    g_autoptr(GHashTable) labels = labels_of("app", "web", "tier", "front", NULL);
    g_autoptr(PodvmLabelSelector) selector = podvm_label_selector_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    g_assert_true(podvm_label_selector_matches(selector, labels));
    g_assert_true(podvm_label_selector_add(selector, "app in (web,db)", &error));
    g_assert_true(podvm_label_selector_add(selector, "tier", &error));
    g_assert_no_error(error);
    g_assert_true(podvm_label_selector_matches(selector, labels));
    /* A bad one leaves the selector as it was. */
    g_assert_false(podvm_label_selector_add(selector, "zone=a,=b", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    text = podvm_label_selector_to_string(selector);
    g_assert_cmpstr(text, ==, "app in (web,db),tier");
    g_assert_true(podvm_label_selector_add(selector, "tier!=front", NULL));
    g_assert_false(podvm_label_selector_matches(selector, labels));
}

static void
test_canonical(void)
{
    static const struct {
        const char *selector;
        const char *canonical;
    } cases[] = {
        { "app==web", "app=web" },
        { " app = web ,tier ", "app=web,tier" },
        { "app!=", "app!=" },
        { "! zone", "!zone" },
        { "a in(x ,y),b notin ( z )", "a in (x,y),b notin (z)" },
        { "", "" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(PodvmLabelSelector) selector =
            podvm_label_selector_parse(cases[i].selector, NULL);
        g_autoptr(PodvmLabelSelector) again = NULL;
        g_autofree char *text = NULL;
        g_autofree char *text_again = NULL;

        g_assert_nonnull(selector);
        text = podvm_label_selector_to_string(selector);
        g_assert_cmpstr(text, ==, cases[i].canonical);
        again = podvm_label_selector_parse(text, NULL);
        g_assert_nonnull(again);
        text_again = podvm_label_selector_to_string(again);
        g_assert_cmpstr(text_again, ==, text);
    }
}

static void
test_bad(void)
{
    static const struct {
        const char *selector;
        const char *says; /* in the message */
    } bad[] = {
        { "=x", "at character 1, found \"=\"" },
        { "app=web,", "found the end" },
        { ",app", "at character 1" },
        { "app=web, ,tier", "at character 10" },
        { "app>5", "does not compare with < or >" },
        { "app<5", "does not compare with < or >" },
        { "app in ()", "found \")\"" },
        { "app in (a,)", "found \")\"" },
        { "app in a", "'(' and a list of values" },
        { "app in (a b)", "',' or ')'" },
        { "app in (a", "found the end" },
        { "app notin", "'(' and a list of values" },
        { "app web", "=, ==, !=, in, notin" },
        { "app=web tier", "',' or the end" },
        { "app=web=x", "',' or the end" },
        { "!", "a label key" },
        { "!app=web", "',' or the end" },
        { "app=(web)", "a label value" },
        { "app===web", "a label value" },
        { "-app", "a label key" },
        { "app-=x", "a label key" },
        { "Example.com/app", "a label key" },
        { "/app", "a label key" },
        { "example.com/", "a label key" },
        { "app=-web", "a label value" },
        { "app=a/b", "a label value" },
        { "app=a\xc3\xa9", "a label value" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a label key" },
        { "app=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a label value" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmLabelSelector) selector =
            podvm_label_selector_parse(bad[i].selector, &error);

        g_test_message("selector '%s'", bad[i].selector);
        g_assert_null(selector);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_test_message("%s", error->message);
        g_assert_nonnull(strstr(error->message, "bad label selector"));
        g_assert_nonnull(strstr(error->message, bad[i].says));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/labels/parse-and-match", test_parse_and_match);
    g_test_add_func("/podvm/common/labels/add", test_add);
    g_test_add_func("/podvm/common/labels/canonical", test_canonical);
    g_test_add_func("/podvm/common/labels/bad", test_bad);
    return g_test_run();
}
