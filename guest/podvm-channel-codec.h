/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The app guest's channel protocol, version 1: one message per line.
 *
 *     VERB[ KEY=VALUE]...\n
 *
 * VERB and KEY are [a-z][a-z0-9-]*; a VALUE is percent-encoded: every byte
 * that is not 0x21..0x7e, and '%', '=' and ' ', is written %XX (uppercase
 * hex; lowercase is accepted on decoding). An empty value is "key=". Keys
 * may repeat (argv, env, dns): their order is kept. A line holds at most
 * PODVM_CHANNEL_MAX_LINE bytes, its newline included.
 *
 * Plain C without GLib: compiled into the app guest's static init and into
 * the host's library. Nothing here allocates more than a line's worth.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PODVM_CHANNEL_VERSION 1
#define PODVM_CHANNEL_MAX_LINE 65536
/* The largest chunk of data (exec output, input) one line carries, before encoding. */
#define PODVM_CHANNEL_MAX_CHUNK 16384
#define PODVM_CHANNEL_PORT_NAME "io.podvm.app.0"

typedef struct {
    char *key;
    char *value;      /* decoded; NUL-terminated (a value may hold NUL bytes) */
    size_t value_len; /* without the terminating NUL */
} PodvmChannelField;

typedef struct {
    char *verb;
    PodvmChannelField *fields;
    size_t n_fields;
} PodvmChannelMessage;

/* Results of decoding (negative errno values). */
#define PODVM_CHANNEL_OK 0

/*
 * Decodes one line: @line of @len bytes, with or without its final "\n"
 * (a "\r" is not accepted). Returns 0 and fills @out (release it with
 * podvm_channel_message_clear()), or a negative errno: -EMSGSIZE for a line
 * longer than the limit, -EINVAL for a malformed one (bad verb or key,
 * a field without '=', a bad %XX, an empty line, a newline inside),
 * -ENOMEM. On failure @out is left empty.
 */
int podvm_channel_decode(const char *line, size_t len, PodvmChannelMessage *out);
void podvm_channel_message_clear(PodvmChannelMessage *msg);

/* The first value of @key, or NULL. */
const char *podvm_channel_message_get(const PodvmChannelMessage *msg, const char *key);
/* The first value of @key and its length; NULL when absent. */
const char *podvm_channel_message_get_data(const PodvmChannelMessage *msg, const char *key,
                                           size_t *out_len);
/* How many times @key appears. */
size_t podvm_channel_message_count(const PodvmChannelMessage *msg, const char *key);
/*
 * The first value of @key as a decimal integer in [@min, @max]: 0 and
 * *@out_value, or -ENOENT (absent) or -EINVAL (not such a number).
 */
int podvm_channel_message_get_int(const PodvmChannelMessage *msg, const char *key, long long min,
                                  long long max, long long *out_value);

/* Whether @name is a valid verb or key: [a-z][a-z0-9-]*. */
int podvm_channel_name_valid(const char *name);

/*
 * Building a line:
 *
 *     PodvmChannelLine line;
 *     podvm_channel_line_init(&line, "exited");
 *     podvm_channel_line_add(&line, "app", name);
 *     podvm_channel_line_add_int(&line, "code", 3);
 *     if (podvm_channel_line_finish(&line) == 0)
 *         write(fd, line.data, line.len);
 *     podvm_channel_line_clear(&line);
 *
 * Errors stick (the first one is kept): an invalid verb or key (-EINVAL),
 * a line over the limit (-EMSGSIZE), no memory (-ENOMEM); finish() returns
 * it. data is NUL-terminated after finish().
 */
typedef struct {
    char *data;
    size_t len;
    size_t allocated;
    int error;
} PodvmChannelLine;

void podvm_channel_line_init(PodvmChannelLine *line, const char *verb);
void podvm_channel_line_add(PodvmChannelLine *line, const char *key, const char *value);
void podvm_channel_line_add_data(PodvmChannelLine *line, const char *key, const void *value,
                                 size_t value_len);
void podvm_channel_line_add_int(PodvmChannelLine *line, const char *key, long long value);
/* Appends the newline; 0 or the first error. */
int podvm_channel_line_finish(PodvmChannelLine *line);
void podvm_channel_line_clear(PodvmChannelLine *line);
/* The encoded size of @value_len bytes of @value. */
size_t podvm_channel_encoded_size(const void *value, size_t value_len);

#ifdef __cplusplus
}
#endif
