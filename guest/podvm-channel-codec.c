/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-channel-codec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hex_digits[] = "0123456789ABCDEF";

static int
name_char(char c, int first)
{
    if (c >= 'a' && c <= 'z')
        return 1;
    if (first)
        return 0;
    return (c >= '0' && c <= '9') || c == '-';
}

/* Whether @name[0..@len) is [a-z][a-z0-9-]*. */
static int
name_valid_len(const char *name, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!name_char(name[i], i == 0))
            return 0;
    }
    return 1;
}

int
podvm_channel_name_valid(const char *name)
{
    return name != NULL && name_valid_len(name, strlen(name));
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int
byte_plain(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '%' && c != '=' && c != ' ';
}

void
podvm_channel_message_clear(PodvmChannelMessage *msg)
{
    if (msg == NULL)
        return;
    for (size_t i = 0; i < msg->n_fields; i++) {
        free(msg->fields[i].key);
        free(msg->fields[i].value);
    }
    free(msg->fields);
    free(msg->verb);
    memset(msg, 0, sizeof(*msg));
}

static char *
copy_bytes(const char *s, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* Decodes @len bytes of percent-encoded @s into a new buffer. */
static int
decode_value(const char *s, size_t len, char **out_value, size_t *out_len)
{
    char *value = malloc(len + 1);
    size_t n = 0;

    if (value == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            int hi, lo;

            if (len - i < 3 || (hi = hex_value(s[i + 1])) < 0 || (lo = hex_value(s[i + 2])) < 0) {
                free(value);
                return -EINVAL;
            }
            value[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (byte_plain(c)) {
            value[n++] = (char)c;
        } else {
            free(value);
            return -EINVAL;
        }
    }
    value[n] = '\0';
    *out_value = value;
    *out_len = n;
    return 0;
}

int
podvm_channel_decode(const char *line, size_t len, PodvmChannelMessage *out)
{
    PodvmChannelMessage msg = { 0 };
    size_t n_spaces = 0, pos, end;
    int r;

    memset(out, 0, sizeof(*out));
    if (len > PODVM_CHANNEL_MAX_LINE)
        return -EMSGSIZE;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    else if (len == PODVM_CHANNEL_MAX_LINE)
        return -EMSGSIZE; /* no room left for its newline */
    if (len == 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == ' ')
            n_spaces++;
        else if (line[i] == '\n' || line[i] == '\0')
            return -EINVAL;
    }
    end = 0;
    while (end < len && line[end] != ' ')
        end++;
    if (!name_valid_len(line, end))
        return -EINVAL;
    msg.verb = copy_bytes(line, end);
    if (msg.verb == NULL)
        return -ENOMEM;
    if (n_spaces > 0) {
        msg.fields = calloc(n_spaces, sizeof(*msg.fields));
        if (msg.fields == NULL) {
            podvm_channel_message_clear(&msg);
            return -ENOMEM;
        }
    }
    pos = end;
    while (pos < len) {
        PodvmChannelField *field;
        size_t start = pos + 1, eq;

        /* line[pos] is a space: one field follows, up to the next space. */
        end = start;
        while (end < len && line[end] != ' ')
            end++;
        eq = start;
        while (eq < end && line[eq] != '=')
            eq++;
        if (eq == end || !name_valid_len(line + start, eq - start)) {
            podvm_channel_message_clear(&msg);
            return -EINVAL;
        }
        field = &msg.fields[msg.n_fields];
        field->key = copy_bytes(line + start, eq - start);
        if (field->key == NULL) {
            podvm_channel_message_clear(&msg);
            return -ENOMEM;
        }
        msg.n_fields++;
        r = decode_value(line + eq + 1, end - eq - 1, &field->value, &field->value_len);
        if (r < 0) {
            podvm_channel_message_clear(&msg);
            return r;
        }
        pos = end;
    }
    *out = msg;
    return 0;
}

const char *
podvm_channel_message_get_data(const PodvmChannelMessage *msg, const char *key, size_t *out_len)
{
    for (size_t i = 0; i < msg->n_fields; i++) {
        if (strcmp(msg->fields[i].key, key) == 0) {
            if (out_len != NULL)
                *out_len = msg->fields[i].value_len;
            return msg->fields[i].value;
        }
    }
    return NULL;
}

const char *
podvm_channel_message_get(const PodvmChannelMessage *msg, const char *key)
{
    return podvm_channel_message_get_data(msg, key, NULL);
}

size_t
podvm_channel_message_count(const PodvmChannelMessage *msg, const char *key)
{
    size_t n = 0;

    for (size_t i = 0; i < msg->n_fields; i++) {
        if (strcmp(msg->fields[i].key, key) == 0)
            n++;
    }
    return n;
}

int
podvm_channel_message_get_int(const PodvmChannelMessage *msg, const char *key, long long min,
                              long long max, long long *out_value)
{
    size_t len;
    const char *value = podvm_channel_message_get_data(msg, key, &len);
    long long v = 0;
    size_t i = 0;
    int negative = 0;

    if (value == NULL)
        return -ENOENT;
    if (len > 0 && value[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i == len || len > 20)
        return -EINVAL;
    for (; i < len; i++) {
        int d;

        if (value[i] < '0' || value[i] > '9')
            return -EINVAL;
        d = value[i] - '0';
        if (v > (LLONG_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (negative)
        v = -v;
    if (v < min || v > max)
        return -EINVAL;
    *out_value = v;
    return 0;
}

static void
line_fail(PodvmChannelLine *line, int error)
{
    if (line->error == 0)
        line->error = error;
}

/* Room for @extra more bytes and a NUL; the limit counts the final newline. */
static int
line_reserve(PodvmChannelLine *line, size_t extra)
{
    size_t need;

    if (line->error != 0)
        return 0;
    if (extra > PODVM_CHANNEL_MAX_LINE || line->len + extra + 1 > PODVM_CHANNEL_MAX_LINE) {
        line_fail(line, -EMSGSIZE);
        return 0;
    }
    need = line->len + extra + 2;
    if (need > line->allocated) {
        size_t size = line->allocated > 0 ? line->allocated : 128;
        char *data;

        while (size < need)
            size *= 2;
        data = realloc(line->data, size);
        if (data == NULL) {
            line_fail(line, -ENOMEM);
            return 0;
        }
        line->data = data;
        line->allocated = size;
    }
    return 1;
}

static void
line_append(PodvmChannelLine *line, const char *s, size_t len)
{
    if (!line_reserve(line, len))
        return;
    memcpy(line->data + line->len, s, len);
    line->len += len;
    line->data[line->len] = '\0';
}

void
podvm_channel_line_init(PodvmChannelLine *line, const char *verb)
{
    memset(line, 0, sizeof(*line));
    if (!podvm_channel_name_valid(verb)) {
        line_fail(line, -EINVAL);
        return;
    }
    line_append(line, verb, strlen(verb));
}

size_t
podvm_channel_encoded_size(const void *value, size_t value_len)
{
    const unsigned char *p = value;
    size_t n = 0;

    for (size_t i = 0; i < value_len; i++)
        n += byte_plain(p[i]) ? 1 : 3;
    return n;
}

void
podvm_channel_line_add_data(PodvmChannelLine *line, const char *key, const void *value,
                            size_t value_len)
{
    const unsigned char *p = value;
    size_t key_len, encoded;
    char *out;

    if (line->error != 0)
        return;
    if (!podvm_channel_name_valid(key)) {
        line_fail(line, -EINVAL);
        return;
    }
    if (value_len > PODVM_CHANNEL_MAX_LINE) {
        line_fail(line, -EMSGSIZE);
        return;
    }
    key_len = strlen(key);
    encoded = podvm_channel_encoded_size(value, value_len);
    if (!line_reserve(line, 1 + key_len + 1 + encoded))
        return;
    out = line->data + line->len;
    *out++ = ' ';
    memcpy(out, key, key_len);
    out += key_len;
    *out++ = '=';
    for (size_t i = 0; i < value_len; i++) {
        if (byte_plain(p[i])) {
            *out++ = (char)p[i];
        } else {
            *out++ = '%';
            *out++ = hex_digits[p[i] >> 4];
            *out++ = hex_digits[p[i] & 0xf];
        }
    }
    line->len = (size_t)(out - line->data);
    line->data[line->len] = '\0';
}

void
podvm_channel_line_add(PodvmChannelLine *line, const char *key, const char *value)
{
    if (value == NULL) {
        line_fail(line, -EINVAL);
        return;
    }
    podvm_channel_line_add_data(line, key, value, strlen(value));
}

void
podvm_channel_line_add_int(PodvmChannelLine *line, const char *key, long long value)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%lld", value);
    podvm_channel_line_add(line, key, buf);
}

int
podvm_channel_line_finish(PodvmChannelLine *line)
{
    if (line->error == 0) {
        /* line_reserve() always keeps a byte for the newline. */
        line->data[line->len++] = '\n';
        line->data[line->len] = '\0';
    }
    return line->error;
}

void
podvm_channel_line_clear(PodvmChannelLine *line)
{
    free(line->data);
    memset(line, 0, sizeof(*line));
}
