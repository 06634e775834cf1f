/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-fuzz-util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean verbose;

void
podvm_fuzz_fail(const char *file, int line, const char *format, ...)
{
    va_list args;

    fprintf(stderr, "%s:%d: ", file, line);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    abort();
}

static GLogWriterOutput
log_writer_cb(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
        g_log_writer_standard_streams(level, fields, n_fields, user_data);
        fprintf(stderr, "a warning or critical was logged: treated as a crash\n");
        abort();
    }
    if (verbose)
        return g_log_writer_standard_streams(level, fields, n_fields, user_data);
    return G_LOG_WRITER_HANDLED;
}

void
podvm_fuzz_init(gboolean debug)
{
    verbose = g_strcmp0(g_getenv("PODVM_FUZZ_VERBOSE"), "1") == 0;
    if (debug)
        g_setenv("G_MESSAGES_DEBUG", "all", TRUE);
    g_log_set_writer_func(log_writer_cb, NULL, NULL);
}

char *
podvm_fuzz_strndup(const uint8_t *data, size_t size)
{
    if (data == NULL)
        return g_strdup("");
    return g_strndup((const char *)data, size);
}

guint32
podvm_fuzz_hash(const uint8_t *data, size_t size)
{
    guint32 hash = 2166136261u;

    for (size_t i = 0; i < size; i++) {
        hash ^= data[i];
        hash *= 16777619u;
    }
    return hash;
}

guint32
podvm_fuzz_next(guint32 *state)
{
    guint32 x = *state != 0 ? *state : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* ------------------------------------------------------------------------ */
/* A strict JSON checker (RFC 8259), recursive descent over a bounded depth. */

typedef struct {
    const char *data;
    gsize length;
    gsize pos;
    guint max_depth;
} Json;

static gboolean json_value(Json *j, guint depth);

static void
json_space(Json *j)
{
    while (j->pos < j->length && (j->data[j->pos] == ' ' || j->data[j->pos] == '\t' ||
                                  j->data[j->pos] == '\n' || j->data[j->pos] == '\r'))
        j->pos++;
}

static gboolean
json_eat(Json *j, char c)
{
    json_space(j);
    if (j->pos < j->length && j->data[j->pos] == c) {
        j->pos++;
        return TRUE;
    }
    return FALSE;
}

static gboolean
json_string(Json *j)
{
    if (j->pos >= j->length || j->data[j->pos] != '"')
        return FALSE;
    j->pos++;
    while (j->pos < j->length) {
        guchar c = (guchar)j->data[j->pos++];

        if (c == '"')
            return TRUE;
        if (c < 0x20)
            return FALSE;
        if (c != '\\')
            continue;
        if (j->pos >= j->length)
            return FALSE;
        c = (guchar)j->data[j->pos++];
        if (c == 'u') {
            for (int i = 0; i < 4; i++) {
                if (j->pos >= j->length || !g_ascii_isxdigit(j->data[j->pos]))
                    return FALSE;
                j->pos++;
            }
        } else if (c == '\0' || strchr("\"\\/bfnrt", c) == NULL) {
            return FALSE;
        }
    }
    return FALSE;
}

static gboolean
json_digits(Json *j)
{
    gsize start = j->pos;

    while (j->pos < j->length && g_ascii_isdigit(j->data[j->pos]))
        j->pos++;
    return j->pos > start;
}

static gboolean
json_number(Json *j)
{
    if (j->pos < j->length && j->data[j->pos] == '-')
        j->pos++;
    if (j->pos < j->length && j->data[j->pos] == '0')
        j->pos++;
    else if (!json_digits(j))
        return FALSE;
    if (j->pos < j->length && j->data[j->pos] == '.') {
        j->pos++;
        if (!json_digits(j))
            return FALSE;
    }
    if (j->pos < j->length && (j->data[j->pos] == 'e' || j->data[j->pos] == 'E')) {
        j->pos++;
        if (j->pos < j->length && (j->data[j->pos] == '+' || j->data[j->pos] == '-'))
            j->pos++;
        if (!json_digits(j))
            return FALSE;
    }
    return TRUE;
}

static gboolean
json_literal(Json *j, const char *literal)
{
    gsize len = strlen(literal);

    if (j->length - j->pos < len || memcmp(j->data + j->pos, literal, len) != 0)
        return FALSE;
    j->pos += len;
    return TRUE;
}

static gboolean
json_value(Json *j, guint depth)
{
    json_space(j);
    if (j->pos >= j->length)
        return FALSE;
    switch (j->data[j->pos]) {
    case '{':
        if (depth >= j->max_depth)
            return FALSE;
        j->pos++;
        if (json_eat(j, '}'))
            return TRUE;
        do {
            json_space(j);
            if (!json_string(j) || !json_eat(j, ':') || !json_value(j, depth + 1))
                return FALSE;
        } while (json_eat(j, ','));
        return json_eat(j, '}');
    case '[':
        if (depth >= j->max_depth)
            return FALSE;
        j->pos++;
        if (json_eat(j, ']'))
            return TRUE;
        do {
            if (!json_value(j, depth + 1))
                return FALSE;
        } while (json_eat(j, ','));
        return json_eat(j, ']');
    case '"':
        return json_string(j);
    case 't':
        return json_literal(j, "true");
    case 'f':
        return json_literal(j, "false");
    case 'n':
        return json_literal(j, "null");
    default:
        return json_number(j);
    }
}

gboolean
podvm_fuzz_json_is_strict(const char *data, gsize length, guint max_depth)
{
    Json j = { data, length, 0, max_depth };

    if (!json_value(&j, 0))
        return FALSE;
    json_space(&j);
    return j.pos == j.length;
}
