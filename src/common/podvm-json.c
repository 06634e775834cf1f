/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-json.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

GQuark
podvm_json_error_quark(void)
{
    return g_quark_from_static_string("podvm-json-error-quark");
}

/* ---- reading --------------------------------------------------------------- */

typedef enum {
    EXPECT_VALUE,
    EXPECT_VALUE_OR_CLOSE, /* after '[' */
    EXPECT_KEY,            /* after ',' in an object */
    EXPECT_KEY_OR_CLOSE,   /* after '{' */
    EXPECT_COLON,
    EXPECT_COMMA_OR_CLOSE,
    EXPECT_END,
} State;

typedef struct {
    const char *data;
    gsize length;
    gsize pos;
    GError *error;
} Checker;

static void checker_fail(Checker *c, PodvmJsonError code, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static void
checker_fail(Checker *c, PodvmJsonError code, const char *format, ...)
{
    g_autofree char *message = NULL;
    guint line = 1;
    gsize line_start = 0;
    va_list args;

    for (gsize i = 0; i < c->pos && i < c->length; i++) {
        if (c->data[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    /* The text was checked to be UTF-8 before anything can fail after its start. */
    g_set_error(&c->error, PODVM_JSON_ERROR, code, _("line %u, column %ld: %s"), line,
                (long)g_utf8_strlen(c->data + line_start, (gssize)(c->pos - line_start)) + 1,
                message);
}

static gint
hex4(const Checker *c, gsize at)
{
    gint value = 0;

    if (at + 4 > c->length)
        return -1;
    for (gsize i = at; i < at + 4; i++) {
        if (!g_ascii_isxdigit(c->data[i]))
            return -1;
        value = value * 16 + g_ascii_xdigit_value(c->data[i]);
    }
    return value;
}

/* At the opening quote; moves past the closing one. */
static gboolean
check_string(Checker *c)
{
    gsize start = c->pos++;

    for (;;) {
        guchar ch;

        if (c->pos >= c->length) {
            c->pos = start;
            checker_fail(c, PODVM_JSON_ERROR_INVALID, _("the string is not terminated"));
            return FALSE;
        }
        ch = (guchar)c->data[c->pos];
        if (ch == '"') {
            c->pos++;
            return TRUE;
        }
        if (ch < 0x20) {
            checker_fail(c, PODVM_JSON_ERROR_INVALID,
                         _("a control character in a string must be escaped"));
            return FALSE;
        }
        if (ch != '\\') {
            c->pos++;
            continue;
        }
        ch = c->pos + 1 < c->length ? (guchar)c->data[c->pos + 1] : '\0';
        if (ch == 'u') {
            gint unit = hex4(c, c->pos + 2);

            if (unit < 0) {
                checker_fail(c, PODVM_JSON_ERROR_INVALID,
                             _("\\u must be followed by four hexadecimal digits"));
                return FALSE;
            }
            if (unit == 0) {
                /* json-glib would cut the string there. */
                checker_fail(c, PODVM_JSON_ERROR_INVALID,
                             _("a NUL character (\\u0000) is not allowed in a string"));
                return FALSE;
            }
            if (unit >= 0xd800 && unit <= 0xdbff && c->pos + 7 < c->length &&
                c->data[c->pos + 6] == '\\' && c->data[c->pos + 7] == 'u') {
                gint low = hex4(c, c->pos + 8);

                if (low >= 0xdc00 && low <= 0xdfff) {
                    c->pos += 12;
                    continue;
                }
            }
            if (unit >= 0xd800 && unit <= 0xdfff) {
                checker_fail(c, PODVM_JSON_ERROR_INVALID,
                             _("\\u%04x is half of a UTF-16 surrogate pair without the other half"),
                             (guint)unit);
                return FALSE;
            }
            c->pos += 6;
        } else if (ch != '\0' && strchr("\"\\/bfnrt", ch) != NULL) {
            c->pos += 2;
        } else {
            checker_fail(c, PODVM_JSON_ERROR_INVALID, _("unknown escape sequence in a string"));
            return FALSE;
        }
    }
}

static gsize
skip_digits(const Checker *c, gsize pos)
{
    while (pos < c->length && g_ascii_isdigit(c->data[pos]))
        pos++;
    return pos;
}

static gboolean
check_number(Checker *c)
{
    gsize start = c->pos;
    gsize pos = c->pos;
    gboolean integer = TRUE;
    g_autofree char *text = NULL;

    if (c->data[pos] == '-')
        pos++;
    if (pos < c->length && c->data[pos] == '0') {
        pos++;
        /* json-glib reads "010" as octal 8. */
        if (pos < c->length && g_ascii_isdigit(c->data[pos])) {
            checker_fail(c, PODVM_JSON_ERROR_INVALID, _("a number cannot start with 0"));
            return FALSE;
        }
    } else if (pos < c->length && g_ascii_isdigit(c->data[pos])) {
        pos = skip_digits(c, pos);
    } else {
        checker_fail(c, PODVM_JSON_ERROR_INVALID, _("a number was expected"));
        return FALSE;
    }
    if (pos < c->length && c->data[pos] == '.') {
        integer = FALSE;
        if (pos + 1 >= c->length || !g_ascii_isdigit(c->data[pos + 1])) {
            c->pos = pos;
            checker_fail(c, PODVM_JSON_ERROR_INVALID, _("a digit must follow the decimal point"));
            return FALSE;
        }
        pos = skip_digits(c, pos + 1);
    }
    if (pos < c->length && (c->data[pos] == 'e' || c->data[pos] == 'E')) {
        integer = FALSE;
        pos++;
        if (pos < c->length && (c->data[pos] == '+' || c->data[pos] == '-'))
            pos++;
        if (pos >= c->length || !g_ascii_isdigit(c->data[pos])) {
            c->pos = pos;
            checker_fail(c, PODVM_JSON_ERROR_INVALID, _("a digit must follow the exponent"));
            return FALSE;
        }
        pos = skip_digits(c, pos);
    }

    text = g_strndup(c->data + start, pos - start);
    if (integer ? !g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, NULL, NULL)
                : !isfinite(g_ascii_strtod(text, NULL))) {
        /* Never quote more than a line's worth of digits. */
        checker_fail(c, PODVM_JSON_ERROR_INVALID, _("the number %.40s%s is out of range"), text,
                     strlen(text) > 40 ? "…" : "");
        return FALSE;
    }
    c->pos = pos;
    return TRUE;
}

static gboolean
check_literal(Checker *c)
{
    static const char *const literals[] = { "true", "false", "null" };

    for (gsize i = 0; i < G_N_ELEMENTS(literals); i++) {
        gsize len = strlen(literals[i]);

        if (c->length - c->pos >= len && memcmp(c->data + c->pos, literals[i], len) == 0) {
            c->pos += len;
            return TRUE;
        }
    }
    return FALSE;
}

static void
fail_unexpected(Checker *c, const char *expected)
{
    guchar ch = (guchar)c->data[c->pos];

    if (ch >= 0x20 && ch < 0x7f)
        checker_fail(c, PODVM_JSON_ERROR_INVALID, _("unexpected character '%c': %s"), ch, expected);
    else
        checker_fail(c, PODVM_JSON_ERROR_INVALID, _("unexpected character (byte 0x%02x): %s"),
                     (guint)ch, expected);
}

static gboolean
check_text(Checker *c, guint max_depth)
{
    /* The open containers, '{' or '[', innermost last: bounded by max_depth. */
    g_autofree char *stack = g_malloc(max_depth + 1);
    guint depth = 0;
    State state = EXPECT_VALUE;

    while (TRUE) {
        char ch;

        while (c->pos < c->length && (c->data[c->pos] == ' ' || c->data[c->pos] == '\t' ||
                                      c->data[c->pos] == '\n' || c->data[c->pos] == '\r'))
            c->pos++;
        if (c->pos >= c->length)
            break;
        ch = c->data[c->pos];

        switch (state) {
        case EXPECT_END:
            checker_fail(c, PODVM_JSON_ERROR_INVALID, _("the text goes on after its first value"));
            return FALSE;
        case EXPECT_COLON:
            if (ch != ':') {
                fail_unexpected(c, _("':' was expected after the member name"));
                return FALSE;
            }
            c->pos++;
            state = EXPECT_VALUE;
            continue;
        case EXPECT_COMMA_OR_CLOSE:
            if (ch == ',') {
                c->pos++;
                state = stack[depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
                continue;
            }
            if ((ch == '}' && stack[depth - 1] == '{') || (ch == ']' && stack[depth - 1] == '[')) {
                c->pos++;
                depth--;
                state = depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
                continue;
            }
            fail_unexpected(c, stack[depth - 1] == '{' ? _("',' or '}' was expected")
                                                       : _("',' or ']' was expected"));
            return FALSE;
        case EXPECT_KEY:
        case EXPECT_KEY_OR_CLOSE:
            if (ch == '}' && state == EXPECT_KEY_OR_CLOSE) {
                c->pos++;
                depth--;
                state = depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
                continue;
            }
            if (ch != '"') {
                fail_unexpected(c, _("a member name in double quotes was expected"));
                return FALSE;
            }
            if (!check_string(c))
                return FALSE;
            state = EXPECT_COLON;
            continue;
        case EXPECT_VALUE:
        case EXPECT_VALUE_OR_CLOSE:
            break;
        }

        /* A value, or the end of an empty array. */
        if (ch == ']' && state == EXPECT_VALUE_OR_CLOSE) {
            c->pos++;
            depth--;
        } else if (ch == '{' || ch == '[') {
            if (depth >= max_depth) {
                checker_fail(c, PODVM_JSON_ERROR_TOO_DEEP,
                             _("the text is nested deeper than %u levels"), max_depth);
                return FALSE;
            }
            stack[depth++] = ch;
            c->pos++;
            state = ch == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
            continue;
        } else if (ch == '"') {
            if (!check_string(c))
                return FALSE;
        } else if (ch == '-' || g_ascii_isdigit(ch)) {
            if (!check_number(c))
                return FALSE;
        } else if (!check_literal(c)) {
            fail_unexpected(c, _("a value was expected"));
            return FALSE;
        }
        state = depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
    }

    if (state == EXPECT_END)
        return TRUE;
    if (state == EXPECT_VALUE && depth == 0)
        checker_fail(c, PODVM_JSON_ERROR_INVALID, _("the text is empty"));
    else
        checker_fail(c, PODVM_JSON_ERROR_INVALID, _("the text ends before its value does"));
    return FALSE;
}

gboolean
podvm_json_check(const char *data, gssize length, gsize max_size, guint max_depth, GError **error)
{
    Checker c = { .data = data };
    const char *invalid = NULL;

    g_return_val_if_fail(data != NULL || length == 0, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    c.length = length < 0 ? strlen(data) : (gsize)length;
    if (c.length > max_size) {
        g_set_error(error, PODVM_JSON_ERROR, PODVM_JSON_ERROR_TOO_LARGE,
                    _("the text is %" G_GSIZE_FORMAT " bytes long; at most %" G_GSIZE_FORMAT
                      " are accepted"),
                    c.length, max_size);
        return FALSE;
    }
    if (c.length > 0 && !g_utf8_validate_len(data, c.length, &invalid)) {
        g_set_error(error, PODVM_JSON_ERROR, PODVM_JSON_ERROR_INVALID,
                    *invalid == '\0' ? _("the text contains a NUL byte (at byte %ld)")
                                     : _("the text is not UTF-8 (at byte %ld)"),
                    (long)(invalid - data));
        return FALSE;
    }
    if (!check_text(&c, max_depth)) {
        g_propagate_error(error, c.error);
        return FALSE;
    }
    return TRUE;
}

JsonNode *
podvm_json_parse_limited(const char *data, gssize length, gsize max_size, guint max_depth,
                         GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    gsize size;

    if (!podvm_json_check(data, length, max_size, max_depth, error))
        return NULL;
    size = length < 0 ? strlen(data) : (gsize)length;
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, data, (gssize)size, error))
        return NULL;
    if (json_parser_get_root(parser) == NULL) {
        g_set_error_literal(error, PODVM_JSON_ERROR, PODVM_JSON_ERROR_INVALID,
                            _("the text is empty"));
        return NULL;
    }
    return json_parser_steal_root(parser);
}

JsonNode *
podvm_json_parse(const char *data, gssize length, GError **error)
{
    return podvm_json_parse_limited(data, length, PODVM_JSON_MAX_SIZE, PODVM_JSON_MAX_DEPTH, error);
}

/* ---- writing --------------------------------------------------------------- */

/*
 * Makes json-glib's text strict, in place: numbers with an exponent lose the ".0" json-glib
 * adds after it; inside strings (json-glib escapes '"' and '\\',
 * so they are found reliably) control characters, U+007F, U+2028 and U+2029 become \\u
 * escapes and bytes that are not UTF-8 become U+FFFD. Outside strings json-glib writes only
 * JSON punctuation, literals, numbers and white space.
 */
static void
make_strict(GString *text, gsize from)
{
    g_autoptr(GString) out = NULL;
    gboolean in_string = FALSE;
    gsize i = from;
    gsize copied = from; /* text[from, copied) is already in out */

    while (i < text->len) {
        guchar ch = (guchar)text->str[i];
        const char *replacement = NULL;
        char escape[8];
        gsize skip = 1;

        if (!in_string && (ch == '-' || g_ascii_isdigit(ch))) {
            /* json-glib writes 1e94 as "1e+94.0": the ".0" after an exponent goes. */
            gsize end = i, exponent = 0, dot = 0;

            while (end < text->len && strchr("+-.0123456789eE", text->str[end]) != NULL) {
                if (text->str[end] == 'e' || text->str[end] == 'E')
                    exponent = end;
                else if (text->str[end] == '.' && exponent != 0)
                    dot = end;
                end++;
            }
            if (dot != 0) {
                if (out == NULL)
                    out = g_string_sized_new(text->len + 16);
                g_string_append_len(out, text->str + copied, (gssize)(dot - copied));
                copied = end;
            }
            i = end;
            continue;
        }
        if (!in_string) {
            in_string = ch == '"';
            i++;
            continue;
        }
        if (ch == '\\') {
            i += 2;
            continue;
        }
        if (ch == '"') {
            in_string = FALSE;
            i++;
            continue;
        }
        if (ch < 0x20 || ch == 0x7f) {
            g_snprintf(escape, sizeof(escape), "\\u%04x", (guint)ch);
            replacement = escape;
        } else if (ch >= 0x80) {
            gunichar u = g_utf8_get_char_validated(text->str + i, (gssize)(text->len - i));

            if (u == (gunichar)-1 || u == (gunichar)-2) {
                replacement = "\\ufffd";
            } else {
                skip = (gsize)(g_utf8_next_char(text->str + i) - (text->str + i));
                if (u == 0x2028 || u == 0x2029) {
                    g_snprintf(escape, sizeof(escape), "\\u%04x", (guint)u);
                    replacement = escape;
                }
            }
        }
        if (replacement != NULL) {
            if (out == NULL)
                out = g_string_sized_new(text->len + 16);
            g_string_append_len(out, text->str + copied, (gssize)(i - copied));
            g_string_append(out, replacement);
            copied = i + skip;
        }
        i += skip;
    }
    if (out == NULL)
        return;
    g_string_append_len(out, text->str + copied, (gssize)(text->len - copied));
    g_string_truncate(text, from);
    g_string_append_len(text, out->str, (gssize)out->len);
}

void
podvm_json_escape_strings(GString *text)
{
    make_strict(text, 0);
}

void
podvm_json_append(GString *out, JsonNode *node, gboolean pretty)
{
    g_autoptr(JsonGenerator) generator = json_generator_new();
    gsize from = out->len;

    g_return_if_fail(node != NULL);

    json_generator_set_root(generator, node);
    json_generator_set_pretty(generator, pretty);
    json_generator_to_gstring(generator, out);
    make_strict(out, from);
}

char *
podvm_json_to_data(JsonNode *node, gboolean pretty, gsize *out_length)
{
    GString *text = g_string_new(NULL);

    podvm_json_append(text, node, pretty);
    if (out_length != NULL)
        *out_length = text->len;
    return g_string_free(text, FALSE);
}

char *
podvm_json_to_string(JsonNode *node, gboolean pretty)
{
    return podvm_json_to_data(node, pretty, NULL);
}
