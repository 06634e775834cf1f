/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one JSON reader and writer (src/common/podvm-json.c): limits, strict
 * grammar, and output that strict parsers take.
 */
#include <glib/gstdio.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-store.h"

static void
assert_refused(const char *text, gssize length, gint code, const char *message_part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = podvm_json_parse(text, length, &error);

    g_assert_null(node);
    g_assert_error(error, PODVM_JSON_ERROR, code);
    g_assert_true(g_utf8_validate(error->message, -1, NULL));
    if (message_part != NULL && strstr(error->message, message_part) == NULL)
        g_error("'%s' does not say '%s'", error->message, message_part);
}

static void
test_deep_nesting(void)
{
    gsize n = 100000;
    g_autofree char *deep = g_malloc(n + 1);
    g_autoptr(GString) ok = g_string_new(NULL);
    g_autoptr(GString) objects = g_string_new(NULL);
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GError) error = NULL;

    /* json-glib alone overflows the stack on this. */
    memset(deep, '[', n);
    deep[n] = '\0';
    assert_refused(deep, -1, PODVM_JSON_ERROR_TOO_DEEP, "deeper than 64");
    memset(deep, '{', n);
    assert_refused(deep, -1, PODVM_JSON_ERROR_INVALID, NULL);

    /* Exactly the limit is fine; one more is not. */
    for (guint i = 0; i < PODVM_JSON_MAX_DEPTH; i++)
        g_string_append_c(ok, '[');
    for (guint i = 0; i < PODVM_JSON_MAX_DEPTH; i++)
        g_string_append_c(ok, ']');
    node = podvm_json_parse(ok->str, -1, &error);
    g_assert_no_error(error);
    g_assert_nonnull(node);
    g_string_prepend_c(ok, '[');
    g_string_append_c(ok, ']');
    assert_refused(ok->str, -1, PODVM_JSON_ERROR_TOO_DEEP, NULL);

    for (guint i = 0; i < PODVM_JSON_MAX_DEPTH + 1; i++)
        g_string_append(objects, "{\"a\":");
    g_string_append(objects, "1");
    for (guint i = 0; i < PODVM_JSON_MAX_DEPTH + 1; i++)
        g_string_append_c(objects, '}');
    assert_refused(objects->str, -1, PODVM_JSON_ERROR_TOO_DEEP, NULL);
}

static void
test_size(void)
{
    g_autofree char *big = g_malloc(PODVM_JSON_MAX_SIZE + 3);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;

    memset(big, ' ', PODVM_JSON_MAX_SIZE + 2);
    big[0] = '"';
    big[PODVM_JSON_MAX_SIZE + 1] = '"';
    big[PODVM_JSON_MAX_SIZE + 2] = '\0';
    assert_refused(big, -1, PODVM_JSON_ERROR_TOO_LARGE, "at most 1048576");
    big[PODVM_JSON_MAX_SIZE - 1] = '"';
    node = podvm_json_parse(big, PODVM_JSON_MAX_SIZE, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(strlen(json_node_get_string(node)), ==, PODVM_JSON_MAX_SIZE - 2);
}

static void
test_strict(void)
{
    static const char *const refused[] = {
        "",
        "  \n ",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a: 1}",
        "{'a': 1}",
        "[1] [2]",
        "1 2",
        "// c\n1",
        "/* c */ 1",
        "[010]",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[+1]",
        "[-]",
        "[tru]",
        "[nul]",
        "[True]",
        "[NaN]",
        "[Infinity]",
        "[\"\\x41\"]",
        "[\"\\u12\"]",
        "[\"\\u0000\"]",
        "[\"\\ud800\"]",
        "[\"\\udc00\\ud800\"]",
        "[\"\\ud800\\u0041\"]",
        "[\"a\tb\"]",
        "[\"a\x1f\"]",
        "\"unterminated",
        "[9223372036854775808]",
        "[-9223372036854775809]",
        "[1e999]",
        "]",
        "[}",
        "{]",
        "[1:2]",
        "{\"a\":1 \"b\":2}",
        "\xef\xbb\xbf{}",
        "[\"\xff\"]",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autofree char *printable = g_strescape(refused[i], NULL);

        g_test_message("refused: %s", printable);
        assert_refused(refused[i], -1, PODVM_JSON_ERROR_INVALID, NULL);
    }
    assert_refused("[1,\n  2,\n  x]", -1, PODVM_JSON_ERROR_INVALID, "line 3, column 3");
    assert_refused("{\"a\": 1}\0{}", 11, PODVM_JSON_ERROR_INVALID, "NUL byte");
}

static void
test_accepted(void)
{
    static const char *const accepted[] = {
        "{}",
        "[]",
        " {\"a\" : [1, -0, 0.5, -1.25e+10, 2E-3, true, false, null, \"x\"]}\r\n",
        "\"just a string\"",
        "0",
        "-9223372036854775808",
        "9223372036854775807",
        "[\"\\ud83d\\ude00 \\u00e9 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"]",
        "{\"execute\": \"query-status\", \"arguments\": {\"a\": [[[{}]]]}}",
        "[\"é ü \xe2\x80\xa8\"]",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(accepted); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = podvm_json_parse(accepted[i], -1, &error);
        g_autofree char *printable = g_strescape(accepted[i], NULL);

        g_test_message("accepted: %s", printable);
        g_assert_no_error(error);
        g_assert_nonnull(node);
    }
}

/* What a strict parser wants: no byte < 0x20 or 0x7f inside a string, and UTF-8. */
static void
assert_strict_output(const char *text)
{
    gboolean in_string = FALSE;
    g_autoptr(GError) error = NULL;

    g_assert_true(g_utf8_validate(text, -1, NULL));
    for (const char *p = text; *p != '\0'; p++) {
        if (in_string && *p == '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            in_string = !in_string;
        else if (in_string)
            g_assert_cmpint((guchar)*p, >=, 0x20);
        g_assert_cmpint((guchar)*p, !=, 0x7f);
    }
    g_assert_null(strstr(text, "\xe2\x80\xa8"));
    g_assert_null(strstr(text, "\xe2\x80\xa9"));
    podvm_json_check(text, -1, G_MAXSIZE, 64, &error);
    g_assert_no_error(error);
}

static void
test_writer_escapes(void)
{
    g_autoptr(GString) all = g_string_new(NULL);
    g_autoptr(JsonObject) object = json_object_new();
    g_autoptr(JsonNode) node = NULL;

    for (guint c = 1; c < 0x20; c++)
        g_string_append_c(all, (char)c);
    g_string_append(all, "\x7f \xe2\x80\xa8 \xe2\x80\xa9 é");
    json_object_set_string_member(object, all->str, all->str);
    json_object_set_string_member(object, "annotation",
                                  "a\x1f"
                                  "b\x01");
    node = json_node_init_object(json_node_alloc(), object);

    for (int pretty = 0; pretty < 2; pretty++) {
        g_autofree char *text = podvm_json_to_string(node, pretty);
        g_autoptr(JsonNode) again = NULL;
        g_autoptr(GError) error = NULL;
        JsonObject *back;

        assert_strict_output(text);
        g_assert_nonnull(strstr(text, "\\u001f"));
        g_assert_nonnull(strstr(text, "\\u2028"));
        /* The same strings come back. */
        again = podvm_json_parse(text, -1, &error);
        g_assert_no_error(error);
        back = json_node_get_object(again);
        g_assert_cmpstr(json_object_get_string_member(back, all->str), ==, all->str);
        g_assert_cmpstr(json_object_get_string_member(back, "annotation"), ==,
                        "a\x1f"
                        "b\x01");
    }
}

static void
test_writer_doubles(void)
{
    static const char *const numbers[] = { "1e94", "1e-08", "-2.5E+300", "0.5", "1.0", "3" };

    for (gsize i = 0; i < G_N_ELEMENTS(numbers); i++) {
        g_autofree char *document = g_strdup_printf("[%s, {\"x\": %s}]", numbers[i], numbers[i]);
        g_autoptr(JsonNode) node = podvm_json_parse(document, -1, NULL);
        g_autofree char *text = NULL;
        g_autofree char *again_text = NULL;
        g_autoptr(JsonNode) again = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_nonnull(node);
        text = podvm_json_to_string(node, FALSE);
        /* json-glib 1.6 alone writes 1e94 as 1e+94.0. */
        again = podvm_json_parse(text, -1, &error);
        g_assert_no_error(error);
        again_text = podvm_json_to_string(again, FALSE);
        g_assert_cmpstr(text, ==, again_text);
        g_assert_true(json_node_equal(node, again));
    }
}

static void
test_writer_invalid_utf8(void)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_VALUE);
    g_autofree char *text = NULL;

    /* What a URL's %ff or a broken name may hold. */
    json_node_set_string(node, "pod '\xff' and \xe2\x80 and \xc3");
    text = podvm_json_to_string(node, FALSE);
    assert_strict_output(text);
    g_assert_cmpstr(text, ==, "\"pod '\\ufffd' and \\ufffd\\ufffd and \\ufffd\"");
}

static void
test_state_file_with_raw_control(void)
{
    g_autofree char *dir = g_dir_make_tmp("podvm-json-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "pod.json", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    /* As json-glib 1.6 wrote it: U+001F raw. */
    const char *old = "{\n  \"annotations\" : {\n    \"k\" : \"a\x1f"
                      "b\"\n  }\n}";

    g_assert_true(g_file_set_contents(path, old, -1, NULL));
    node = podvm_store_read_json(path, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(
        json_object_get_string_member(
            json_object_get_object_member(json_node_get_object(node), "annotations"), "k"),
        ==,
        "a\x1f"
        "b");

    /* What the store writes now is strict. */
    g_assert_true(podvm_store_write_json(path, node, PODVM_STORE_DURABLE, &error));
    g_assert_no_error(error);
    {
        g_autofree char *contents = NULL;

        g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
        assert_strict_output(contents);
    }
    g_unlink(path);
    g_rmdir(dir);
}

static void
test_error_conversion(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) converted = NULL;
    g_autoptr(JsonNode) node = podvm_json_parse("[", -1, &error);

    g_assert_null(node);
    converted = podvm_error_from_component(error);
    g_assert_error(converted, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr(converted->message, ==, error->message);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/json/deep-nesting", test_deep_nesting);
    g_test_add_func("/podvm/common/json/size", test_size);
    g_test_add_func("/podvm/common/json/strict", test_strict);
    g_test_add_func("/podvm/common/json/accepted", test_accepted);
    g_test_add_func("/podvm/common/json/writer-escapes", test_writer_escapes);
    g_test_add_func("/podvm/common/json/writer-invalid-utf8", test_writer_invalid_utf8);
    g_test_add_func("/podvm/common/json/writer-doubles", test_writer_doubles);
    g_test_add_func("/podvm/common/json/state-file-raw-control", test_state_file_with_raw_control);
    g_test_add_func("/podvm/common/json/error-conversion", test_error_conversion);
    return g_test_run();
}
