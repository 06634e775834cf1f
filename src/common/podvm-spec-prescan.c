/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

/* The scanner: a strict JSON tokenizer run before json-glib sees the text. It
 * bounds nesting (json-glib recurses without a limit), and finds what json-glib
 * would lose silently: "\u0000" (it truncates the string there), integers out of
 * range, and keys given twice (it keeps one). It does not check the grammar;
 * json-glib does. */

typedef struct {
    gboolean is_object;
    gboolean expect_key;
    char *key;        /* object: the current member, as written */
    guint index;      /* array: the current element */
    GHashTable *keys; /* object: the keys seen so far */
} ScanFrame;

typedef struct {
    Parser *parser;
    const char *data;
    gsize length;
    gsize pos;
    ScanFrame frames[MAX_DEPTH];
    guint depth;
    GError *error;
} Scanner;

static void
scanner_pop(Scanner *s)
{
    ScanFrame *frame = &s->frames[--s->depth];

    g_clear_pointer(&frame->key, g_free);
    g_clear_pointer(&frame->keys, g_hash_table_unref);
}

static void scanner_fail(Scanner *s, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
scanner_fail(Scanner *s, const char *format, ...)
{
    g_autofree char *message = NULL;
    guint line = 1;
    const char *line_start = s->data;
    gsize i;
    va_list args;

    for (i = 0; i < s->pos && i < s->length; i++) {
        if (s->data[i] == '\n') {
            line++;
            line_start = s->data + i + 1;
        }
    }
    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(&s->error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, _("line %u, column %ld: %s"),
                line, (long)g_utf8_strlen(line_start, s->data + s->pos - line_start) + 1, message);
}

/* The path of the value being scanned: "spec.apps[1].name". */
static char *
scanner_path(Scanner *s)
{
    g_autoptr(GString) path = g_string_new(NULL);
    guint i;

    for (i = 0; i < s->depth; i++) {
        const ScanFrame *frame = &s->frames[i];

        if (frame->is_object) {
            if (path->len > 0)
                g_string_append_c(path, '.');
            g_string_append(path, frame->key != NULL ? frame->key : "");
        } else {
            g_string_append_printf(path, "[%u]", frame->index);
        }
    }
    return g_string_free(g_steal_pointer(&path), FALSE);
}

static void
scanner_refuse(Scanner *s, const char *path, const char *message)
{
    spec_add_problem_literal(s->parser, path, message);
    g_hash_table_add(s->parser->refused, g_strdup(path));
}

static gint
hex4(Scanner *s, gsize at)
{
    gint value = 0;

    if (at + 4 > s->length)
        return -1;
    for (gsize i = at; i < at + 4; i++) {
        if (!g_ascii_isxdigit(s->data[i]))
            return -1;
        value = value * 16 + g_ascii_xdigit_value(s->data[i]);
    }
    return value;
}

/*
 * At a checked \\uXXXX escape: moves past it, and past the \\uXXXX that must follow a high
 * surrogate. json-glib turns unpaired surrogates into bytes that are not UTF-8 (and leaks
 * memory on some), so they are refused here.
 */
static gboolean
scan_unicode_escape(Scanner *s)
{
    gint unit = hex4(s, s->pos + 2);

    if (unit >= 0xd800 && unit <= 0xdbff && s->pos + 7 < s->length && s->data[s->pos + 6] == '\\' &&
        s->data[s->pos + 7] == 'u' && hex4(s, s->pos + 8) >= 0xdc00 &&
        hex4(s, s->pos + 8) <= 0xdfff) {
        s->pos += 12;
        return TRUE;
    }
    if (unit >= 0xd800 && unit <= 0xdfff) {
        scanner_fail(s, _("\\u%04x is half of a UTF-16 surrogate pair without the other half"),
                     (guint)unit);
        return FALSE;
    }
    s->pos += 6;
    return TRUE;
}

static gboolean
scan_string(Scanner *s)
{
    gsize start = ++s->pos;
    gboolean has_nul = FALSE;
    ScanFrame *frame = s->depth > 0 ? &s->frames[s->depth - 1] : NULL;

    for (;;) {
        guchar c;

        if (s->pos >= s->length) {
            s->pos = start - 1;
            scanner_fail(s, _("the string is not terminated"));
            return FALSE;
        }
        c = (guchar)s->data[s->pos];
        if (c == '"')
            break;
        if (c < 0x20) {
            scanner_fail(s, _("a control character in a string must be escaped"));
            return FALSE;
        }
        if (c != '\\') {
            s->pos++;
            continue;
        }
        if (s->pos + 1 >= s->length) {
            s->pos++;
            continue;
        }
        c = (guchar)s->data[s->pos + 1];
        if (c == 'u') {
            guint i;

            for (i = 0; i < 4; i++) {
                if (s->pos + 2 + i >= s->length || !g_ascii_isxdigit(s->data[s->pos + 2 + i])) {
                    scanner_fail(s, _("\\u must be followed by four hexadecimal digits"));
                    return FALSE;
                }
            }
            if (strncmp(s->data + s->pos + 2, "0000", 4) == 0)
                has_nul = TRUE;
            if (!scan_unicode_escape(s))
                return FALSE;
        } else if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
            s->pos += 2;
        } else {
            scanner_fail(s, _("unknown escape sequence in a string"));
            return FALSE;
        }
    }

    if (frame != NULL && frame->is_object && frame->expect_key) {
        g_autofree char *key = g_strndup(s->data + start, s->pos - start);

        g_free(frame->key);
        frame->key = g_steal_pointer(&key);
        if (has_nul) {
            g_autofree char *path = scanner_path(s);
            scanner_refuse(s, path, _("the key contains a NUL character (\\u0000)"));
        } else if (!g_hash_table_add(frame->keys, g_strdup(frame->key))) {
            g_autofree char *path = scanner_path(s);
            scanner_refuse(s, path, _("given more than once"));
        }
    } else if (has_nul) {
        g_autofree char *path = scanner_path(s);
        scanner_refuse(s, path, _("contains a NUL character (\\u0000), which is not allowed"));
    }
    s->pos++;
    return TRUE;
}

static gboolean
scan_number(Scanner *s)
{
    gsize start = s->pos;
    gboolean integer = TRUE;
    const char *d = s->data;

    if (d[s->pos] == '-')
        s->pos++;
    if (s->pos < s->length && d[s->pos] == '0') {
        s->pos++;
        /* JSON has no leading zeros; json-glib reads "010" as octal 8. */
        if (s->pos < s->length && g_ascii_isdigit(d[s->pos])) {
            scanner_fail(s, _("a number cannot start with 0"));
            return FALSE;
        }
    } else if (s->pos < s->length && g_ascii_isdigit(d[s->pos])) {
        while (s->pos < s->length && g_ascii_isdigit(d[s->pos]))
            s->pos++;
    } else {
        scanner_fail(s, _("a number was expected"));
        return FALSE;
    }
    if (s->pos < s->length && d[s->pos] == '.') {
        integer = FALSE;
        s->pos++;
        if (s->pos >= s->length || !g_ascii_isdigit(d[s->pos])) {
            scanner_fail(s, _("a digit must follow the decimal point"));
            return FALSE;
        }
        while (s->pos < s->length && g_ascii_isdigit(d[s->pos]))
            s->pos++;
    }
    if (s->pos < s->length && (d[s->pos] == 'e' || d[s->pos] == 'E')) {
        integer = FALSE;
        s->pos++;
        if (s->pos < s->length && (d[s->pos] == '+' || d[s->pos] == '-'))
            s->pos++;
        if (s->pos >= s->length || !g_ascii_isdigit(d[s->pos])) {
            scanner_fail(s, _("a digit must follow the exponent"));
            return FALSE;
        }
        while (s->pos < s->length && g_ascii_isdigit(d[s->pos]))
            s->pos++;
    }
    if (integer) {
        g_autofree char *text = g_strndup(d + start, s->pos - start);

        if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, NULL, NULL)) {
            g_autofree char *path = scanner_path(s);
            g_autofree char *quoted = podvm_quote_for_message(text);
            g_autofree char *message = g_strdup_printf(_("the number %s is out of range"), quoted);
            scanner_refuse(s, path, message);
        }
    }
    return TRUE;
}

static gboolean
scan_literal(Scanner *s)
{
    static const char *const literals[] = { "true", "false", "null" };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(literals); i++) {
        gsize len = strlen(literals[i]);

        if (s->length - s->pos >= len && memcmp(s->data + s->pos, literals[i], len) == 0) {
            s->pos += len;
            return TRUE;
        }
    }
    scanner_fail(s, _("unexpected character '%c'"), s->data[s->pos]);
    return FALSE;
}

static gboolean
scan_document(Scanner *s)
{
    gboolean ended = FALSE;

    while (s->pos < s->length) {
        char c = s->data[s->pos];
        ScanFrame *top = s->depth > 0 ? &s->frames[s->depth - 1] : NULL;

        /* json-glib takes "{...} {...}" (and leaks the second): one value only. */
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            if (ended) {
                scanner_fail(s, _("the document goes on after its first value"));
                return FALSE;
            }
            /* A scalar at the top ends the document; a container ends at its bracket. */
            if (s->depth == 0 && c != '{' && c != '[')
                ended = TRUE;
        }

        switch (c) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            s->pos++;
            break;
        case '{':
        case '[':
            if (s->depth == MAX_DEPTH) {
                scanner_fail(s, _("the document is nested deeper than %d levels"), MAX_DEPTH);
                return FALSE;
            }
            top = &s->frames[s->depth++];
            memset(top, 0, sizeof(*top));
            top->is_object = c == '{';
            top->expect_key = top->is_object;
            if (top->is_object)
                top->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
            s->pos++;
            break;
        case '}':
        case ']':
            if (s->depth > 0)
                scanner_pop(s);
            if (s->depth == 0)
                ended = TRUE;
            s->pos++;
            break;
        case ':':
            if (top != NULL && top->is_object)
                top->expect_key = FALSE;
            s->pos++;
            break;
        case ',':
            if (top != NULL && top->is_object)
                top->expect_key = TRUE;
            else if (top != NULL)
                top->index++;
            s->pos++;
            break;
        case '"':
            if (!scan_string(s))
                return FALSE;
            break;
        case '-':
        case '0' ... '9':
            if (!scan_number(s))
                return FALSE;
            break;
        case 't':
        case 'f':
        case 'n':
            if (!scan_literal(s))
                return FALSE;
            break;
        default:
            if ((guchar)c >= 0x20 && (guchar)c < 0x7f)
                scanner_fail(s, _("unexpected character '%c'"), c);
            else
                scanner_fail(s, _("unexpected character (byte 0x%02x)"), (guint)(guchar)c);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
spec_prescan(Parser *p, const char *data, gsize length, GError **error)
{
    Scanner s = { .parser = p, .data = data, .length = length };
    gboolean ok = scan_document(&s);

    while (s.depth > 0)
        scanner_pop(&s);
    if (!ok) {
        g_propagate_error(error, s.error);
        return FALSE;
    }
    return TRUE;
}

/* For documents handed over as a tree. */
gboolean
spec_node_depth_ok(JsonNode *node, guint depth)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter iter;
        JsonNode *child;

        if (depth >= MAX_DEPTH)
            return FALSE;
        json_object_iter_init(&iter, json_node_get_object(node));
        while (json_object_iter_next(&iter, NULL, &child)) {
            if (!spec_node_depth_ok(child, depth + 1))
                return FALSE;
        }
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);
        guint i;

        if (depth >= MAX_DEPTH)
            return FALSE;
        for (i = 0; i < json_array_get_length(array); i++) {
            if (!spec_node_depth_ok(json_array_get_element(array, i), depth + 1))
                return FALSE;
        }
    }
    return TRUE;
}
