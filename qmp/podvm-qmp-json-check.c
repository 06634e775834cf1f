/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The check of a QMP line before json-glib parses it: json-glib's parser is
 * recursive and also takes single-quoted strings and comments, so a line
 * must be one plain JSON object no deeper than QEMU's own parser allows.
 */
#include "podvm-qmp-client-private.h"

/* QEMU's own JSON parser refuses input nested deeper than this. */
#define MAX_DEPTH 1024

/* The value of four hex digits at @at, or -1. */
static gint
hex4(const char *data, gsize len, gsize at)
{
    gint value = 0;

    if (at + 4 > len)
        return -1;
    for (gsize k = at; k < at + 4; k++) {
        if (!g_ascii_isxdigit(data[k]))
            return -1;
        value = value * 16 + g_ascii_xdigit_value(data[k]);
    }
    return value;
}

/* At the backslash of a \\uXXXX escape: checks it (a surrogate comes in a pair) and moves *i
 * to its last character. */
static gboolean
check_unicode_escape(const char *data, gsize len, gsize *i)
{
    gint unit = hex4(data, len, *i + 2);
    gint low;

    if (unit < 0 || (unit >= 0xdc00 && unit <= 0xdfff))
        return FALSE;
    if (unit < 0xd800 || unit > 0xdbff) {
        *i += 5;
        return TRUE;
    }
    if (*i + 7 >= len || data[*i + 6] != '\\' || data[*i + 7] != 'u')
        return FALSE;
    low = hex4(data, len, *i + 8);
    if (low < 0xdc00 || low > 0xdfff)
        return FALSE;
    *i += 11;
    return TRUE;
}

/*
 * Checks that a line is plain JSON text (double-quoted strings, no comments, nothing but
 * numbers and literals between the punctuation), one value, nested at most MAX_DEPTH deep.
 * That keeps json-glib's recursive parser safe and its extensions out.
 */
gboolean
podvm_qmp_check_plain_json(const char *data, gsize len, const char **out_reason)
{
    guint depth = 0;
    gboolean in_string = FALSE, escaped = FALSE, ended = FALSE;

    for (gsize i = 0; i < len; i++) {
        char c = data[i];

        if (in_string) {
            if (escaped) {
                escaped = FALSE;
            } else if (c == '\\' && i + 1 < len && data[i + 1] == 'u') {
                /* json-glib turns unpaired surrogates into bytes that are not UTF-8. */
                if (!check_unicode_escape(data, len, &i)) {
                    *out_reason = "an unpaired UTF-16 surrogate or a bad \\u escape";
                    return FALSE;
                }
            } else if (c == '\\') {
                escaped = TRUE;
            } else if (c == '"') {
                in_string = FALSE;
            }
            continue;
        }
        if (ended && !g_ascii_isspace(c)) {
            *out_reason = "more than one JSON value on a line";
            return FALSE;
        }
        /* json-glib takes a value before an object ("1 {...}") and leaks the object. */
        if (depth == 0 && !ended && c != '{' && !g_ascii_isspace(c)) {
            *out_reason = "a line that is not a JSON object";
            return FALSE;
        }
        switch (c) {
        case '"':
            in_string = TRUE;
            break;
        case '{':
        case '[':
            if (++depth > MAX_DEPTH) {
                *out_reason = "JSON nested too deep";
                return FALSE;
            }
            break;
        case '}':
        case ']':
            if (depth == 0) {
                *out_reason = "unbalanced brackets";
                return FALSE;
            }
            if (--depth == 0)
                ended = TRUE;
            break;
        case ',':
        case ':':
        case '-':
        case '+':
        case '.':
            break;
        default:
            if (!g_ascii_isalnum(c) && !g_ascii_isspace(c)) {
                *out_reason = "a character that is not JSON outside strings";
                return FALSE;
            }
        }
    }
    return TRUE;
}
