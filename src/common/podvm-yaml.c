/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * YAML documents as JSON trees. libyaml's event parser does the syntax;
 * this file builds the tree and decides what each scalar means, following
 * YAML 1.2's core schema (not YAML 1.1's, so "yes", "on" and "0755" are
 * not booleans or octal: what Kubernetes users write as strings stays so).
 *
 * Only what JSON can say is accepted: anchors and aliases (the
 * "billion laughs" expansion), unknown tags, non-scalar keys and several
 * documents in one stream are refused with the place they were found.
 */
#include "podvm-yaml.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>
#include <yaml.h>

#include "podvm-error.h"

/* The same limits as the JSON path (podvm-spec-private.h). */
#define MAX_DOCUMENT_SIZE (1024 * 1024)
#define MAX_DEPTH 32

#define TAG_PREFIX "tag:yaml.org,2002:"

typedef enum {
    TAG_NONE,
    TAG_STR,
    TAG_INT,
    TAG_BOOL,
    TAG_NULL,
    TAG_FLOAT,
    TAG_MAP,
    TAG_SEQ,
} Tag;

typedef struct {
    yaml_parser_t parser;
    gboolean parser_ready;
    const char *data;
    gsize size;
} Reader;

static void
reader_clear(Reader *reader)
{
    if (reader->parser_ready)
        yaml_parser_delete(&reader->parser);
    reader->parser_ready = FALSE;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Reader, reader_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_event_t, yaml_event_delete)

/* libyaml's marks count from 0; people count lines and columns from 1. */
static void set_error_at(GError **error, size_t line, size_t column, const char *format, ...)
    G_GNUC_PRINTF(4, 5);

static void
set_error_at(GError **error, size_t line, size_t column, const char *format, ...)
{
    va_list args;
    g_autofree char *problem = NULL;

    va_start(args, format);
    problem = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, _("line %zu, column %zu: %s"),
                line + 1, column + 1, problem);
}

static void
set_error_at_mark(GError **error, const yaml_mark_t *mark, const char *problem)
{
    set_error_at(error, mark->line, mark->column, "%s", problem);
}

/* The 0-based line and column (in characters) of byte @offset. */
static void
offset_to_position(const char *data, gsize size, gsize offset, size_t *out_line, size_t *out_column)
{
    size_t line = 0;
    size_t column = 0;

    for (gsize i = 0; i < offset && i < size; i++) {
        if (data[i] == '\n') {
            line++;
            column = 0;
        } else if (((guchar)data[i] & 0xc0) != 0x80) {
            column++;
        }
    }
    *out_line = line;
    *out_column = column;
}

static void
set_parser_error(Reader *reader, GError **error)
{
    const yaml_parser_t *parser = &reader->parser;
    const char *problem = parser->problem != NULL ? parser->problem : _("invalid YAML");
    const char *hint = "";

    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        size_t line;
        size_t column;

        offset_to_position(reader->data, reader->size, parser->problem_offset, &line, &column);
        set_error_at(error, line, column, "%s", problem);
        return;
    }
    if (parser->error == YAML_MEMORY_ERROR) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                            _("the YAML document is too large to read"));
        return;
    }
    /* libyaml's "cannot start any token" for a tab is a riddle for most people. */
    if (parser->problem_mark.index < reader->size &&
        reader->data[parser->problem_mark.index] == '\t')
        hint = _("; YAML indents with spaces, not tabs");
    if (parser->context != NULL)
        set_error_at(error, parser->problem_mark.line, parser->problem_mark.column,
                     _("%s (%s at line %zu, column %zu)%s"), problem, parser->context,
                     parser->context_mark.line + 1, parser->context_mark.column + 1, hint);
    else
        set_error_at(error, parser->problem_mark.line, parser->problem_mark.column, "%s%s", problem,
                     hint);
}

static gboolean
next_event(Reader *reader, yaml_event_t *event, GError **error)
{
    if (!yaml_parser_parse(&reader->parser, event)) {
        set_parser_error(reader, error);
        return FALSE;
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Tags */

static gboolean
resolve_tag(const yaml_char_t *text, const yaml_mark_t *mark, Tag *out_tag, GError **error)
{
    static const struct {
        const char *name;
        Tag tag;
    } known[] = {
        { "str", TAG_STR },     { "int", TAG_INT }, { "bool", TAG_BOOL }, { "null", TAG_NULL },
        { "float", TAG_FLOAT }, { "map", TAG_MAP }, { "seq", TAG_SEQ },
    };
    const char *tag = (const char *)text;

    if (tag == NULL) {
        *out_tag = TAG_NONE;
        return TRUE;
    }
    if (g_str_has_prefix(tag, TAG_PREFIX)) {
        for (gsize i = 0; i < G_N_ELEMENTS(known); i++) {
            if (g_str_equal(tag + strlen(TAG_PREFIX), known[i].name)) {
                *out_tag = known[i].tag;
                return TRUE;
            }
        }
    }
    set_error_at(error, mark->line, mark->column,
                 _("the tag '%s' is not supported; only !!str, !!int, !!bool, !!null, !!float, "
                   "!!map and !!seq are"),
                 tag);
    return FALSE;
}

static const char *
tag_name(Tag tag)
{
    switch (tag) {
    case TAG_STR:
        return "!!str";
    case TAG_INT:
        return "!!int";
    case TAG_BOOL:
        return "!!bool";
    case TAG_NULL:
        return "!!null";
    case TAG_FLOAT:
        return "!!float";
    case TAG_MAP:
        return "!!map";
    case TAG_SEQ:
        return "!!seq";
    case TAG_NONE:
    default:
        return "";
    }
}

/* ------------------------------------------------------------------------ */
/* Scalars: YAML 1.2 core schema (10.3.2), regular expression by regular expression */

static gboolean
all_chars_in(const char *text, const char *set)
{
    if (*text == '\0')
        return FALSE;
    for (; *text != '\0'; text++) {
        if (strchr(set, *text) == NULL)
            return FALSE;
    }
    return TRUE;
}

/* null | Null | NULL | ~ | (empty) */
static gboolean
is_core_null(const char *text)
{
    return *text == '\0' || g_str_equal(text, "~") || g_str_equal(text, "null") ||
           g_str_equal(text, "Null") || g_str_equal(text, "NULL");
}

/* true | True | TRUE | false | False | FALSE */
static gboolean
is_core_bool(const char *text, gboolean *out_value)
{
    if (g_str_equal(text, "true") || g_str_equal(text, "True") || g_str_equal(text, "TRUE")) {
        *out_value = TRUE;
        return TRUE;
    }
    if (g_str_equal(text, "false") || g_str_equal(text, "False") || g_str_equal(text, "FALSE")) {
        *out_value = FALSE;
        return TRUE;
    }
    return FALSE;
}

typedef enum {
    INT_NO_MATCH,
    INT_OK,
    INT_OUT_OF_RANGE,
} IntMatch;

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static IntMatch
match_core_int(const char *text, gint64 *out_value)
{
    const char *digits = text;
    guint base = 10;
    gboolean negative = FALSE;
    guint64 magnitude;
    char *end = NULL;

    if (g_str_has_prefix(text, "0o") && all_chars_in(text + 2, "01234567")) {
        base = 8;
        digits = text + 2;
    } else if (g_str_has_prefix(text, "0x") && all_chars_in(text + 2, "0123456789abcdefABCDEF")) {
        base = 16;
        digits = text + 2;
    } else {
        if (*digits == '-' || *digits == '+') {
            negative = *digits == '-';
            digits++;
        }
        if (!all_chars_in(digits, "0123456789"))
            return INT_NO_MATCH;
    }

    errno = 0;
    magnitude = g_ascii_strtoull(digits, &end, base);
    if (errno == ERANGE || end == NULL || *end != '\0')
        return INT_OUT_OF_RANGE;
    if (negative) {
        if (magnitude > (guint64)G_MAXINT64 + 1)
            return INT_OUT_OF_RANGE;
        *out_value = magnitude == (guint64)G_MAXINT64 + 1 ? G_MININT64 : -(gint64)magnitude;
    } else {
        if (magnitude > (guint64)G_MAXINT64)
            return INT_OUT_OF_RANGE;
        *out_value = (gint64)magnitude;
    }
    return INT_OK;
}

/*
 * [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
 * | [-+]? ( \.inf | \.Inf | \.INF ) | \.nan | \.NaN | \.NAN
 */
static gboolean
match_core_float(const char *text, double *out_value)
{
    const char *p = text;
    gboolean negative = FALSE;
    gsize int_digits = 0;
    gsize fraction_digits = 0;

    if (g_str_equal(text, ".nan") || g_str_equal(text, ".NaN") || g_str_equal(text, ".NAN")) {
        *out_value = NAN;
        return TRUE;
    }
    if (*p == '-' || *p == '+') {
        negative = *p == '-';
        p++;
    }
    if (g_str_equal(p, ".inf") || g_str_equal(p, ".Inf") || g_str_equal(p, ".INF")) {
        *out_value = negative ? -INFINITY : INFINITY;
        return TRUE;
    }

    for (; g_ascii_isdigit(*p); p++)
        int_digits++;
    if (*p == '.') {
        p++;
        for (; g_ascii_isdigit(*p); p++)
            fraction_digits++;
    }
    if (int_digits == 0 && fraction_digits == 0)
        return FALSE;
    if (*p == 'e' || *p == 'E') {
        gsize exponent_digits = 0;

        p++;
        if (*p == '-' || *p == '+')
            p++;
        for (; g_ascii_isdigit(*p); p++)
            exponent_digits++;
        if (exponent_digits == 0)
            return FALSE;
    }
    if (*p != '\0')
        return FALSE;

    /* The text matched the grammar, which g_ascii_strtod reads whole ("1." included). */
    *out_value = g_ascii_strtod(text, NULL);
    return TRUE;
}

static JsonNode *
int_node(gint64 value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_int(node, value);
    return node;
}

static JsonNode *
double_node(double value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_double(node, value);
    return node;
}

static JsonNode *
bool_node(gboolean value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_boolean(node, value);
    return node;
}

static JsonNode *
string_node(const char *value)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);

    json_node_set_string(node, value);
    return node;
}

static JsonNode *
scalar_to_node(const yaml_event_t *event, GError **error)
{
    const char *text = (const char *)event->data.scalar.value;
    const yaml_mark_t *mark = &event->start_mark;
    g_autofree char *quoted = NULL;
    gboolean plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    gboolean boolean;
    gint64 integer;
    double real;
    Tag tag;

    if (!resolve_tag(event->data.scalar.tag, mark, &tag, error))
        return NULL;
    /* libyaml keeps NULs of "\0" escapes; JSON strings in our trees cannot hold them. */
    if (strlen(text) != event->data.scalar.length) {
        set_error_at_mark(error, mark, _("the scalar contains a NUL character"));
        return NULL;
    }
    quoted = podvm_quote_for_message(text);

    switch (tag) {
    case TAG_NONE:
        if (!plain)
            return string_node(text);
        if (is_core_null(text))
            return json_node_new(JSON_NODE_NULL);
        if (is_core_bool(text, &boolean))
            return bool_node(boolean);
        switch (match_core_int(text, &integer)) {
        case INT_OK:
            return int_node(integer);
        case INT_OUT_OF_RANGE:
            set_error_at(error, mark->line, mark->column,
                         _("the integer %s is out of the 64-bit range; quote it to make it a "
                           "string"),
                         quoted);
            return NULL;
        case INT_NO_MATCH:
            break;
        }
        if (match_core_float(text, &real))
            return double_node(real);
        return string_node(text);
    case TAG_STR:
        return string_node(text);
    case TAG_NULL:
        if (is_core_null(text))
            return json_node_new(JSON_NODE_NULL);
        break;
    case TAG_BOOL:
        if (is_core_bool(text, &boolean))
            return bool_node(boolean);
        break;
    case TAG_INT:
        switch (match_core_int(text, &integer)) {
        case INT_OK:
            return int_node(integer);
        case INT_OUT_OF_RANGE:
            set_error_at(error, mark->line, mark->column,
                         _("the integer %s is out of the 64-bit range"), quoted);
            return NULL;
        case INT_NO_MATCH:
            break;
        }
        break;
    case TAG_FLOAT:
        /* Every core integer is also a float value. */
        if (match_core_float(text, &real))
            return double_node(real);
        if (match_core_int(text, &integer) == INT_OK)
            return double_node((double)integer);
        break;
    case TAG_MAP:
    case TAG_SEQ:
        set_error_at(error, mark->line, mark->column, _("a scalar cannot have the tag %s"),
                     tag_name(tag));
        return NULL;
    }
    set_error_at(error, mark->line, mark->column, _("%s is not a valid %s value"), quoted,
                 tag_name(tag));
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Collections */

static JsonNode *read_node(Reader *reader, yaml_event_t *event, guint depth, GError **error);

static gboolean
check_no_anchor(const yaml_char_t *anchor, const yaml_mark_t *mark, GError **error)
{
    if (anchor == NULL)
        return TRUE;
    set_error_at(error, mark->line, mark->column,
                 _("anchor &%s: anchors and aliases are not supported"), (const char *)anchor);
    return FALSE;
}

static gboolean
check_depth(guint depth, const yaml_mark_t *mark, GError **error)
{
    if (depth < MAX_DEPTH)
        return TRUE;
    set_error_at(error, mark->line, mark->column, _("the document is nested deeper than %d levels"),
                 MAX_DEPTH);
    return FALSE;
}

static JsonNode *
read_sequence(Reader *reader, const yaml_event_t *start, guint depth, GError **error)
{
    g_autoptr(JsonArray) array = json_array_new();
    JsonNode *node;
    Tag tag;

    if (!resolve_tag(start->data.sequence_start.tag, &start->start_mark, &tag, error))
        return NULL;
    if (tag != TAG_NONE && tag != TAG_SEQ) {
        set_error_at(error, start->start_mark.line, start->start_mark.column,
                     _("a sequence cannot have the tag %s"), tag_name(tag));
        return NULL;
    }
    if (!check_no_anchor(start->data.sequence_start.anchor, &start->start_mark, error) ||
        !check_depth(depth, &start->start_mark, error))
        return NULL;

    for (;;) {
        g_auto(yaml_event_t) event = { 0 };
        JsonNode *element;

        if (!next_event(reader, &event, error))
            return NULL;
        if (event.type == YAML_SEQUENCE_END_EVENT)
            break;
        element = read_node(reader, &event, depth + 1, error);
        if (element == NULL)
            return NULL;
        json_array_add_element(array, element);
    }

    node = json_node_new(JSON_NODE_ARRAY);
    json_node_set_array(node, array);
    return node;
}

static JsonNode *
read_mapping(Reader *reader, const yaml_event_t *start, guint depth, GError **error)
{
    g_autoptr(JsonObject) object = json_object_new();
    JsonNode *node;
    Tag tag;

    if (!resolve_tag(start->data.mapping_start.tag, &start->start_mark, &tag, error))
        return NULL;
    if (tag != TAG_NONE && tag != TAG_MAP) {
        set_error_at(error, start->start_mark.line, start->start_mark.column,
                     _("a mapping cannot have the tag %s"), tag_name(tag));
        return NULL;
    }
    if (!check_no_anchor(start->data.mapping_start.anchor, &start->start_mark, error) ||
        !check_depth(depth, &start->start_mark, error))
        return NULL;

    for (;;) {
        g_auto(yaml_event_t) key_event = { 0 };
        g_auto(yaml_event_t) value_event = { 0 };
        const char *key;
        JsonNode *value;
        Tag key_tag;

        if (!next_event(reader, &key_event, error))
            return NULL;
        if (key_event.type == YAML_MAPPING_END_EVENT)
            break;
        if (key_event.type == YAML_ALIAS_EVENT) {
            set_error_at_mark(error, &key_event.start_mark,
                              _("aliases are not supported (anchors and aliases could expand a "
                                "small document into a huge one)"));
            return NULL;
        }
        if (key_event.type != YAML_SCALAR_EVENT) {
            set_error_at_mark(error, &key_event.start_mark,
                              _("a mapping key must be a scalar (JSON object keys are strings)"));
            return NULL;
        }
        if (!resolve_tag(key_event.data.scalar.tag, &key_event.start_mark, &key_tag, error) ||
            !check_no_anchor(key_event.data.scalar.anchor, &key_event.start_mark, error))
            return NULL;
        key = (const char *)key_event.data.scalar.value;
        if (strlen(key) != key_event.data.scalar.length) {
            set_error_at_mark(error, &key_event.start_mark, _("the key contains a NUL character"));
            return NULL;
        }
        /* Keys are JSON strings: the text as written ("1", "true") is the key. */
        if (json_object_has_member(object, key)) {
            g_autofree char *quoted = podvm_quote_for_message(key);

            set_error_at(error, key_event.start_mark.line, key_event.start_mark.column,
                         _("the key %s is given twice"), quoted);
            return NULL;
        }

        if (!next_event(reader, &value_event, error))
            return NULL;
        value = read_node(reader, &value_event, depth + 1, error);
        if (value == NULL)
            return NULL;
        json_object_set_member(object, key, value);
    }

    node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, object);
    return node;
}

/* The node that starts with @event (a scalar, alias, sequence or mapping start). */
static JsonNode *
read_node(Reader *reader, yaml_event_t *event, guint depth, GError **error)
{
    switch (event->type) {
    case YAML_SCALAR_EVENT:
        if (!check_no_anchor(event->data.scalar.anchor, &event->start_mark, error))
            return NULL;
        return scalar_to_node(event, error);
    case YAML_ALIAS_EVENT:
        set_error_at(error, event->start_mark.line, event->start_mark.column,
                     _("alias *%s: aliases are not supported (anchors and aliases could expand "
                       "a small document into a huge one)"),
                     (const char *)event->data.alias.anchor);
        return NULL;
    case YAML_SEQUENCE_START_EVENT:
        return read_sequence(reader, event, depth, error);
    case YAML_MAPPING_START_EVENT:
        return read_mapping(reader, event, depth, error);
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
    default:
        break;
    }
    set_error_at_mark(error, &event->start_mark, _("unexpected YAML event"));
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Documents */

static gboolean
expect_event(Reader *reader, yaml_event_type_t type, yaml_event_t *event, GError **error)
{
    if (!next_event(reader, event, error))
        return FALSE;
    if (event->type != type) {
        set_error_at_mark(error, &event->start_mark, _("unexpected YAML event"));
        return FALSE;
    }
    return TRUE;
}

JsonNode *
podvm_yaml_to_json(const char *data, gssize length, GError **error)
{
    g_auto(Reader) reader = { 0 };
    g_auto(yaml_event_t) stream_start = { 0 };
    g_auto(yaml_event_t) document_start = { 0 };
    g_auto(yaml_event_t) root_event = { 0 };
    g_auto(yaml_event_t) document_end = { 0 };
    g_auto(yaml_event_t) after = { 0 };
    g_autoptr(JsonNode) root = NULL;
    const char *invalid = NULL;
    gsize size;

    g_return_val_if_fail(data != NULL || length == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    size = length < 0 ? strlen(data) : (gsize)length;
    if (size > MAX_DOCUMENT_SIZE) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("the document is %" G_GSIZE_FORMAT " bytes long: a document has at most "
                      "1 MiB"),
                    size);
        return NULL;
    }
    /* UTF-8 only, as for JSON: libyaml would also take UTF-16 with a BOM. */
    if (!g_utf8_validate_len(data, size, &invalid)) {
        size_t line;
        size_t column;

        offset_to_position(data, size, invalid - data, &line, &column);
        set_error_at(error, line, column, "%s",
                     *invalid == '\0' ? _("the document contains a NUL byte")
                                      : _("the document is not UTF-8 text"));
        return NULL;
    }

    reader.data = data;
    reader.size = size;
    if (!yaml_parser_initialize(&reader.parser)) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("cannot initialize the YAML parser"));
        return NULL;
    }
    reader.parser_ready = TRUE;
    yaml_parser_set_input_string(&reader.parser, (const unsigned char *)data, size);
    yaml_parser_set_encoding(&reader.parser, YAML_UTF8_ENCODING);

    if (!expect_event(&reader, YAML_STREAM_START_EVENT, &stream_start, error))
        return NULL;
    if (!next_event(&reader, &document_start, error))
        return NULL;
    if (document_start.type == YAML_STREAM_END_EVENT) {
        set_error_at_mark(error, &document_start.start_mark, _("the document is empty"));
        return NULL;
    }
    if (document_start.type != YAML_DOCUMENT_START_EVENT) {
        set_error_at_mark(error, &document_start.start_mark, _("unexpected YAML event"));
        return NULL;
    }

    if (!next_event(&reader, &root_event, error))
        return NULL;
    root = read_node(&reader, &root_event, 0, error);
    if (root == NULL)
        return NULL;

    if (!expect_event(&reader, YAML_DOCUMENT_END_EVENT, &document_end, error))
        return NULL;
    if (!next_event(&reader, &after, error))
        return NULL;
    if (after.type == YAML_DOCUMENT_START_EVENT) {
        set_error_at_mark(error, &after.start_mark,
                          _("a second document starts here; give one document per file"));
        return NULL;
    }
    if (after.type != YAML_STREAM_END_EVENT) {
        set_error_at_mark(error, &after.start_mark, _("unexpected YAML event"));
        return NULL;
    }
    return g_steal_pointer(&root);
}

gboolean
podvm_document_is_yaml(const char *data, gssize length)
{
    gsize size;
    gsize i;

    g_return_val_if_fail(data != NULL || length == 0, FALSE);

    size = length < 0 ? strlen(data) : (gsize)length;
    for (i = 0; i < size && g_ascii_isspace(data[i]); i++)
        ;
    return i == size || (data[i] != '{' && data[i] != '[');
}

/* ------------------------------------------------------------------------ */
/* Writing: a JSON tree as YAML (podvmctl -o yaml) */

/*
 * Whether the string @text must be quoted so that a YAML reader gives it
 * back as a string: it would read as null, a boolean or a number in the
 * core schema, or, for YAML 1.1 readers (PyYAML, Go's yaml.v2), as one of
 * their booleans or numbers ("yes", "on", "0755", "1_000", "1:20").
 */
static gboolean
scalar_needs_quotes(const char *text)
{
    static const char *const yaml11_bools[] = { "y",  "Y",   "yes", "Yes", "YES", "n",
                                                "N",  "no",  "No",  "NO",  "on",  "On",
                                                "ON", "off", "Off", "OFF", NULL };
    gboolean boolean;
    gint64 integer;
    double number;

    if (is_core_null(text) || is_core_bool(text, &boolean) ||
        match_core_int(text, &integer) != INT_NO_MATCH || match_core_float(text, &number))
        return TRUE;
    if (g_strv_contains(yaml11_bools, text))
        return TRUE;
    /* Anything that starts like a number is quoted: cheaper than YAML 1.1's grammar. */
    return strchr("0123456789+-.", text[0]) != NULL &&
           all_chars_in(text, "0123456789+-._:eExXoObB");
}

typedef struct {
    yaml_emitter_t emitter;
    GString *out;
} Writer;

static int
writer_output(void *data, unsigned char *buffer, size_t size)
{
    GString *out = data;

    g_string_append_len(out, (const char *)buffer, (gssize)size);
    return 1;
}

static gboolean
emit_scalar(Writer *writer, const char *text, const char *tag, yaml_scalar_style_t style)
{
    yaml_event_t event;

    if (!yaml_scalar_event_initialize(&event, NULL, (yaml_char_t *)tag, (yaml_char_t *)text,
                                      (int)strlen(text), 1, 1, style))
        return FALSE;
    return yaml_emitter_emit(&writer->emitter, &event) != 0;
}

static gboolean
emit_string(Writer *writer, const char *text)
{
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

    if (scalar_needs_quotes(text))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    else if (strchr(text, '\n') != NULL)
        style = YAML_LITERAL_SCALAR_STYLE; /* "|" as kubectl writes; libyaml falls back */
    return emit_scalar(writer, text, NULL, style);
}

static gboolean
emit_value(Writer *writer, JsonNode *node)
{
    char buffer[G_ASCII_DTOSTR_BUF_SIZE];
    g_autofree char *text = NULL;

    switch (json_node_get_value_type(node)) {
    case G_TYPE_STRING:
        return emit_string(writer, json_node_get_string(node));
    case G_TYPE_BOOLEAN:
        return emit_scalar(writer, json_node_get_boolean(node) ? "true" : "false", NULL,
                           YAML_PLAIN_SCALAR_STYLE);
    case G_TYPE_INT64:
        text = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
        return emit_scalar(writer, text, NULL, YAML_PLAIN_SCALAR_STYLE);
    case G_TYPE_DOUBLE:
        g_ascii_dtostr(buffer, sizeof buffer, json_node_get_double(node));
        /* "2" would come back as an integer: keep it a float ("2.0"). */
        if (strpbrk(buffer, ".eEn") == NULL)
            text = g_strconcat(buffer, ".0", NULL);
        else
            text = g_strdup(buffer);
        return emit_scalar(writer, text, NULL, YAML_PLAIN_SCALAR_STYLE);
    default:
        return emit_scalar(writer, "null", NULL, YAML_PLAIN_SCALAR_STYLE);
    }
}

static gboolean
emit_node(Writer *writer, JsonNode *node)
{
    yaml_event_t event;

    if (node == NULL || JSON_NODE_HOLDS_NULL(node))
        return emit_scalar(writer, "null", NULL, YAML_PLAIN_SCALAR_STYLE);
    if (JSON_NODE_HOLDS_VALUE(node))
        return emit_value(writer, node);

    if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);
        guint length = json_array_get_length(array);

        /* An empty sequence or mapping can only be written in flow style ("[]", "{}"). */
        if (!yaml_sequence_start_event_initialize(&event, NULL, NULL, 1,
                                                  length == 0 ? YAML_FLOW_SEQUENCE_STYLE
                                                              : YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(&writer->emitter, &event))
            return FALSE;
        for (guint i = 0; i < length; i++) {
            if (!emit_node(writer, json_array_get_element(array, i)))
                return FALSE;
        }
        return yaml_sequence_end_event_initialize(&event) &&
               yaml_emitter_emit(&writer->emitter, &event);
    } else {
        JsonObject *object = json_node_get_object(node);
        JsonObjectIter iter;
        const char *member;
        JsonNode *value;

        if (!yaml_mapping_start_event_initialize(&event, NULL, NULL, 1,
                                                 json_object_get_size(object) == 0
                                                     ? YAML_FLOW_MAPPING_STYLE
                                                     : YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(&writer->emitter, &event))
            return FALSE;
        /* Members in the document's order, as the JSON output has them. */
        json_object_iter_init_ordered(&iter, object);
        while (json_object_iter_next_ordered(&iter, &member, &value)) {
            if (!emit_string(writer, member) || !emit_node(writer, value))
                return FALSE;
        }
        return yaml_mapping_end_event_initialize(&event) &&
               yaml_emitter_emit(&writer->emitter, &event);
    }
}

char *
podvm_json_to_yaml(JsonNode *node, GError **error)
{
    g_autoptr(GString) out = g_string_new(NULL);
    Writer writer = { .out = out };
    yaml_event_t event;
    gboolean ok;

    if (!yaml_emitter_initialize(&writer.emitter)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot write YAML: out of memory"));
        return NULL;
    }
    yaml_emitter_set_output(&writer.emitter, writer_output, out);
    yaml_emitter_set_unicode(&writer.emitter, 1);
    yaml_emitter_set_indent(&writer.emitter, 2);
    yaml_emitter_set_width(&writer.emitter, -1);

    ok = yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING) &&
         yaml_emitter_emit(&writer.emitter, &event) &&
         yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1) &&
         yaml_emitter_emit(&writer.emitter, &event) && emit_node(&writer, node) &&
         yaml_document_end_event_initialize(&event, 1) &&
         yaml_emitter_emit(&writer.emitter, &event) && yaml_stream_end_event_initialize(&event) &&
         yaml_emitter_emit(&writer.emitter, &event) && yaml_emitter_flush(&writer.emitter);
    if (!ok) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot write YAML: %s"),
                    writer.emitter.problem != NULL ? writer.emitter.problem : _("unknown error"));
        yaml_emitter_delete(&writer.emitter);
        return NULL;
    }
    yaml_emitter_delete(&writer.emitter);
    return g_string_free(g_steal_pointer(&out), FALSE);
}
