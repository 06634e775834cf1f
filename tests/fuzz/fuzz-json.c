/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for podvm's one JSON reader and writer (podvm-json.c),
 * which every REST body, every D-Bus string carrying JSON and every state
 * file goes through.
 *
 * The input is read with small limits (64 levels, 64 KiB). A refusal is in
 * PODVM_JSON_ERROR with a UTF-8 message. What is accepted must be strict
 * JSON by a checker of our own (json-glib alone takes comments, "010",
 * several values). The writer's text, plain and pretty, must be strict
 * JSON with no raw control character, read back to the same text, and be
 * left alone by podvm_json_escape_strings(). The first byte of the input
 * also picks a byte that is written into a string, to reach the escapes.
 */
#include <string.h>

#include "podvm-fuzz-util.h"
#include "podvm-json.h"

#define MAX_SIZE (64 * 1024)
#define MAX_DEPTH 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

static void
check_no_raw_control(const char *text)
{
    gboolean in_string = FALSE;

    PODVM_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
    for (const char *p = text; *p != '\0'; p++) {
        if (in_string && *p == '\\') {
            p++;
            PODVM_FUZZ_CHECK(*p != '\0');
            continue;
        }
        if (*p == '"')
            in_string = !in_string;
        else if (in_string && ((guchar)*p < 0x20 || (guchar)*p == 0x7f))
            PODVM_FUZZ_FAIL("the writer left byte 0x%02x raw in a string:\n%s", (guchar)*p, text);
    }
    PODVM_FUZZ_CHECK(strstr(text, "\xe2\x80\xa8") == NULL && strstr(text, "\xe2\x80\xa9") == NULL);
}

static void
check_written(JsonNode *node, gboolean pretty)
{
    g_autofree char *text = podvm_json_to_string(node, pretty);
    g_autofree char *again_text = NULL;
    g_autoptr(JsonNode) again = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) copy = g_string_new(text);

    check_no_raw_control(text);
    if (!podvm_fuzz_json_is_strict(text, strlen(text), MAX_DEPTH + 1))
        PODVM_FUZZ_FAIL("the writer's text is not strict JSON:\n%s", text);
    again = podvm_json_parse_limited(text, -1, G_MAXSIZE, MAX_DEPTH, &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("the writer's text does not read again:\n%s\n--- because: %s", text,
                        error->message);
    again_text = podvm_json_to_string(again, pretty);
    if (strcmp(text, again_text) != 0)
        PODVM_FUZZ_FAIL("the round trip changed the text:\n%s\n--- became:\n%s", text, again_text);
    podvm_json_escape_strings(copy);
    PODVM_FUZZ_CHECK(strcmp(copy->str, text) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;

    /* libFuzzer may pass NULL for an empty input; the API takes NULL only with length 0. */
    node = podvm_json_parse_limited((const char *)data, (gssize)size, MAX_SIZE, MAX_DEPTH, &error);
    if (node == NULL) {
        PODVM_FUZZ_CHECK(error != NULL && error->domain == PODVM_JSON_ERROR);
        PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        PODVM_FUZZ_CHECK(*error->message != '\0');
    } else {
        PODVM_FUZZ_CHECK(error == NULL);
        if (!podvm_fuzz_json_is_strict((const char *)data, size, MAX_DEPTH))
            PODVM_FUZZ_FAIL("a text that is not strict JSON was accepted");
        check_written(node, FALSE);
        check_written(node, TRUE);
    }

    /* Whatever a string holds (even bytes that are not UTF-8), the writer's text is strict. */
    if (size > 0) {
        g_autofree char *raw = podvm_fuzz_strndup(data, size);
        g_autoptr(JsonNode) string = json_node_new(JSON_NODE_VALUE);
        g_autoptr(JsonObject) object = json_object_new();
        g_autoptr(JsonNode) holder = NULL;
        g_autofree char *text = NULL;

        json_node_set_string(string, raw);
        json_object_set_member(object, raw, g_steal_pointer(&string));
        holder = json_node_init_object(json_node_alloc(), object);
        for (int pretty = 0; pretty < 2; pretty++) {
            g_free(text);
            text = podvm_json_to_string(holder, pretty);
            check_no_raw_control(text);
            PODVM_FUZZ_CHECK(podvm_fuzz_json_is_strict(text, strlen(text), 2));
        }
    }
    return 0;
}
