/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the spec's JSON pre-scanner (podvm-spec-prescan.c),
 * on its own: it sees every byte of a document before json-glib does.
 *
 * Any input is scanned (memory safety); the rest is checked on UTF-8 input,
 * which is all the parser hands it. A failure is PODVM_ERROR_INVALID_SPEC
 * with a "line L, column C: " message in UTF-8. What it records are
 * problems at paths it refuses, in UTF-8, at most MAX_PROBLEMS of them.
 * Strict JSON (by a checker of our own) nested at most MAX_DEPTH deep is
 * never refused unless it escapes half a surrogate pair. What it lets
 * through and json-glib reads is a tree at most MAX_DEPTH deep.
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-spec-private.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

static gint
hex4(const char *text)
{
    gint value = 0;

    for (int i = 0; i < 4; i++)
        value = value * 16 + g_ascii_xdigit_value(text[i]);
    return value;
}

/* Whether strict JSON @data escapes a surrogate that is not part of a \uD8xx\uDCxx pair. */
static gboolean
has_unpaired_surrogate(const char *data, gsize length)
{
    gboolean in_string = FALSE;
    gsize i;

    for (i = 0; i < length; i++) {
        gint unit;

        if (data[i] == '"') {
            in_string = !in_string;
            continue;
        }
        if (!in_string || data[i] != '\\')
            continue;
        if (data[++i] != 'u')
            continue;
        unit = hex4(data + i + 1);
        i += 4;
        if (unit >= 0xdc00 && unit <= 0xdfff)
            return TRUE;
        if (unit < 0xd800 || unit > 0xdbff)
            continue;
        if (i + 6 >= length || data[i + 1] != '\\' || data[i + 2] != 'u')
            return TRUE;
        unit = hex4(data + i + 3);
        if (unit < 0xdc00 || unit > 0xdfff)
            return TRUE;
        i += 6;
    }
    return FALSE;
}

static void
check_problems(const Parser *p)
{
    PODVM_FUZZ_CHECK(p->problems->len <= MAX_PROBLEMS);
    if (p->n_dropped > 0)
        PODVM_FUZZ_CHECK(p->problems->len == MAX_PROBLEMS);
    for (guint i = 0; i < p->problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(p->problems, i);

        PODVM_FUZZ_CHECK(problem->path != NULL && problem->message != NULL);
        PODVM_FUZZ_CHECK(g_utf8_validate(problem->path, -1, NULL));
        PODVM_FUZZ_CHECK(g_utf8_validate(problem->message, -1, NULL));
        PODVM_FUZZ_CHECK(*problem->message != '\0');
        /* Nothing more is said at a refused path: the scanner refuses what it reports. */
        PODVM_FUZZ_CHECK(g_hash_table_contains(p->refused, problem->path));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* libFuzzer may pass NULL for an empty input. */
    const char *text = size > 0 ? (const char *)data : "";
    Parser p = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonParser) json = NULL;
    gboolean ok;

    p.problems = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_problem_free);
    p.refused = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    ok = spec_prescan(&p, text, size, &error);

    if (!g_utf8_validate_len(text, size, NULL))
        goto out;

    if (!ok) {
        PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC));
        PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        PODVM_FUZZ_CHECK(g_str_has_prefix(error->message, "line "));
        if (podvm_fuzz_json_is_strict(text, size, MAX_DEPTH) && !has_unpaired_surrogate(text, size))
            PODVM_FUZZ_FAIL("strict JSON was refused: %s", error->message);
        goto out;
    }
    PODVM_FUZZ_CHECK(error == NULL);
    check_problems(&p);

    json = json_parser_new();
    if (json_parser_load_from_data(json, text, (gssize)size, NULL) &&
        json_parser_get_root(json) != NULL)
        PODVM_FUZZ_CHECK(spec_node_depth_ok(json_parser_get_root(json), 0));

out:
    g_ptr_array_unref(p.problems);
    g_hash_table_unref(p.refused);
    return 0;
}
