/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The one JSON reader and writer for everything podvm reads from outside
 * and everything it writes.
 *
 * Reading: json-glib's parser is recursive (100,000 nested '[' overflow the
 * stack) and lenient (comments, single quotes, "010" as octal, more than one
 * value, unpaired surrogates turned into bytes that are not UTF-8). The text
 * is first checked without recursion against RFC 8259 and the limits below;
 * only then does json-glib build the tree.
 *
 * Writing: json-glib 1.6 writes U+001F unescaped, and any invalid UTF-8 it
 * was handed as it is. What podvm writes has every control character
 * (U+0000..U+001F, U+007F), U+2028 and U+2029 escaped and is valid UTF-8
 * (bytes that are not become U+FFFD), so strict parsers take it.
 *
 * This library depends on GLib and json-glib only, so the QMP library links
 * it too. Its errors are in PODVM_JSON_ERROR, which podvm_error_from_component()
 * turns into PODVM_ERROR_INVALID_ARGUMENT.
 */

/* Limits of podvm_json_parse(): a spec has at most 1 MiB; QMP nests a few levels. */
#define PODVM_JSON_MAX_SIZE (1024 * 1024)
#define PODVM_JSON_MAX_DEPTH 64

#define PODVM_JSON_ERROR (podvm_json_error_quark())
GQuark podvm_json_error_quark(void);

typedef enum {
    PODVM_JSON_ERROR_INVALID,   /* not one strict JSON value in UTF-8 */
    PODVM_JSON_ERROR_TOO_DEEP,  /* nested deeper than the limit */
    PODVM_JSON_ERROR_TOO_LARGE, /* longer than the limit */
} PodvmJsonError;

/*
 * Checks that @data (@length bytes, or up to its NUL when -1) is one JSON
 * value as RFC 8259 defines it, in UTF-8, at most @max_size bytes long and
 * nested at most @max_depth deep; also refuses what json-glib would not keep
 * as written: "\u0000", unpaired surrogates, integers outside int64 and
 * numbers that overflow a double. The message says where (line and column).
 */
gboolean podvm_json_check(const char *data, gssize length, gsize max_size, guint max_depth,
                          GError **error);

/* podvm_json_check() with the limits above, then json-glib. Returns the root (owned). */
JsonNode *podvm_json_parse(const char *data, gssize length, GError **error);

JsonNode *podvm_json_parse_limited(const char *data, gssize length, gsize max_size, guint max_depth,
                                   GError **error);

/*
 * Escapes, in JSON text that json-glib wrote, what the writer below escapes: for
 * reading state files that an earlier podvmd wrote with json-glib's raw U+001F.
 * Changes nothing outside strings.
 */
void podvm_json_escape_strings(GString *text);

/* Appends the JSON text of @node to @out (json-glib's layout, escaped as above). */
void podvm_json_append(GString *out, JsonNode *node, gboolean pretty);

/* The JSON text of @node; *@out_length (may be NULL) is its length. */
char *podvm_json_to_data(JsonNode *node, gboolean pretty, gsize *out_length);

/* Same, for json_to_string(). */
char *podvm_json_to_string(JsonNode *node, gboolean pretty);

G_END_DECLS
