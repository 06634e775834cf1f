/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spec.evictionStrategy: what `podvmctl drain` does with a pod (README
 * "Live migration"). Read from a Pod and a VirtualMachine's template,
 * written back only when it is not the default, refused when unknown.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-spec.h"

static PodvmSpec *
parse(const char *json, GPtrArray **out_problems)
{
    g_autoptr(GError) error = NULL;
    PodvmSpec *spec = podvm_spec_parse_data(json, -1, out_problems, &error);

    if (spec == NULL)
        g_test_message("%s", error->message);
    return spec;
}

/* The evictionStrategy member of what the spec writes back, or NULL. */
static char *
written_strategy(const PodvmSpec *spec)
{
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    JsonObject *inner = json_object_get_object_member(json_node_get_object(node), "spec");

    if (!json_object_has_member(inner, "evictionStrategy"))
        return NULL;
    return g_strdup(json_object_get_string_member(inner, "evictionStrategy"));
}

static void
test_values(void)
{
    static const struct {
        const char *member;
        PodvmEvictionStrategy strategy;
        const char *written;
    } cases[] = {
        { "", PODVM_EVICTION_NONE, NULL },
        { ", \"evictionStrategy\": null", PODVM_EVICTION_NONE, NULL },
        { ", \"evictionStrategy\": \"None\"", PODVM_EVICTION_NONE, NULL },
        { ", \"evictionStrategy\": \"LiveMigrate\"", PODVM_EVICTION_LIVE_MIGRATE, "LiveMigrate" },
        { ", \"evictionStrategy\": \"LiveMigrateIfPossible\"",
          PODVM_EVICTION_LIVE_MIGRATE_IF_POSSIBLE, "LiveMigrateIfPossible" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = NULL;
        g_autoptr(PodvmSpec) spec = NULL;
        g_autoptr(PodvmSpec) again = NULL;
        g_autoptr(PodvmSpec) copy = NULL;
        g_autoptr(JsonNode) written = NULL;
        g_autofree char *text = NULL;
        g_autofree char *strategy = NULL;

        json = g_strdup_printf(
            "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
            "\"p\"}, \"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": {\"kernelPath\": "
            "\"/k\"}}}%s}}",
            cases[i].member);
        spec = parse(json, NULL);
        g_assert_nonnull(spec);
        g_assert_cmpint(spec->eviction_strategy, ==, cases[i].strategy);

        /* Written back only when not the default; the copy and a round trip keep it. */
        strategy = written_strategy(spec);
        g_assert_cmpstr(strategy, ==, cases[i].written);
        written = podvm_spec_to_json(spec);
        text = json_to_string(written, FALSE);
        again = parse(text, NULL);
        g_assert_nonnull(again);
        g_assert_cmpint(again->eviction_strategy, ==, cases[i].strategy);
        copy = podvm_spec_copy(spec);
        g_assert_cmpint(copy->eviction_strategy, ==, cases[i].strategy);
    }
}

static void
test_virtual_machine(void)
{
    const char *json =
        "{\"apiVersion\": \"kubevirt.io/v1\", \"kind\": \"VirtualMachine\", \"metadata\": "
        "{\"name\": \"vm\"}, \"spec\": {\"running\": false, \"template\": {\"spec\": "
        "{\"evictionStrategy\": \"LiveMigrate\", \"domain\": {\"firmware\": {\"kernelBoot\": "
        "{\"kernelPath\": \"/k\"}}}}}}}";
    g_autoptr(PodvmSpec) spec = parse(json, NULL);

    g_assert_nonnull(spec);
    g_assert_cmpint(spec->eviction_strategy, ==, PODVM_EVICTION_LIVE_MIGRATE);
}

static void
test_refused(void)
{
    static const char *const cases[][2] = {
        { ", \"evictionStrategy\": \"External\"",
          "unknown value \"External\": use LiveMigrate, LiveMigrateIfPossible or None" },
        { ", \"evictionStrategy\": \"livemigrate\"",
          "unknown value \"livemigrate\": use LiveMigrate, LiveMigrateIfPossible or None" },
        { ", \"evictionStrategy\": true", "expected a string" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = g_strdup_printf(
            "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": "
            "\"p\"}, \"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": {\"kernelPath\": "
            "\"/k\"}}}%s}}",
            cases[i][0]);
        g_autoptr(GPtrArray) problems = NULL;
        g_autoptr(PodvmSpec) spec = parse(json, &problems);
        const PodvmSpecProblem *problem;

        g_assert_null(spec);
        g_assert_nonnull(problems);
        g_assert_cmpuint(problems->len, ==, 1);
        problem = g_ptr_array_index(problems, 0);
        g_assert_cmpstr(problem->path, ==, "spec.evictionStrategy");
        g_assert_nonnull(strstr(problem->message, cases[i][1]));
    }
}

static void
test_strings(void)
{
    PodvmEvictionStrategy strategy = PODVM_EVICTION_NONE;

    g_assert_cmpstr(podvm_eviction_strategy_to_string(PODVM_EVICTION_NONE), ==, "None");
    g_assert_cmpstr(podvm_eviction_strategy_to_string(PODVM_EVICTION_LIVE_MIGRATE), ==,
                    "LiveMigrate");
    g_assert_true(podvm_eviction_strategy_from_string("LiveMigrateIfPossible", &strategy));
    g_assert_cmpint(strategy, ==, PODVM_EVICTION_LIVE_MIGRATE_IF_POSSIBLE);
    g_assert_false(podvm_eviction_strategy_from_string("", &strategy));
    g_assert_false(podvm_eviction_strategy_from_string(NULL, &strategy));
    g_assert_cmpint(strategy, ==, PODVM_EVICTION_LIVE_MIGRATE_IF_POSSIBLE);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/spec/eviction/values", test_values);
    g_test_add_func("/podvm/common/spec/eviction/virtual-machine", test_virtual_machine);
    g_test_add_func("/podvm/common/spec/eviction/refused", test_refused);
    g_test_add_func("/podvm/common/spec/eviction/strings", test_strings);
    return g_test_run();
}
