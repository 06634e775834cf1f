/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-spec.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-quantity.h"

#define MAX_DOCUMENT_SIZE (1024 * 1024)
#define MAX_DEPTH 32
#define MAX_NAME_LENGTH 63
#define MAX_MAP_KEY_LENGTH 253
#define MAX_TOPOLOGY 255
#define MAX_GRACE_SECONDS 86400
/* Bounds what one pod asks of QEMU, and the size of its stored spec. */
#define MAX_DISKS 256
#define MAX_BOOT_ORDER 65535
/* virtio-blk passes at most 20 bytes of serial to the guest. */
#define MAX_DISK_SERIAL 20
/* Per cloud-init text (user, meta and network data): keeps the seed ISO and the stored spec small.
 */
#define MAX_CLOUD_INIT_TEXT (256 * 1024)
/* Beyond this many problems only a count is reported, so answers stay small. */
#define MAX_PROBLEMS 100

#define API_PODVM_V1 "podvm.io/v1"
#define API_KUBEVIRT_V1 "kubevirt.io/v1"
#define API_KUBEVIRT_V1ALPHA3 "kubevirt.io/v1alpha3"
#define KIND_POD "Pod"
#define KIND_VMI "VirtualMachineInstance"
#define KIND_VM "VirtualMachine"

/* ------------------------------------------------------------------------ */
/* Problems */

typedef struct {
    GPtrArray *problems; /* PodvmSpecProblem*, owned */
    GHashTable *refused; /* paths the scanner already refused: no more problems there */
    guint n_dropped;     /* problems past MAX_PROBLEMS */
    gboolean restart_policy_given;
} Parser;

void
podvm_spec_problem_free(PodvmSpecProblem *problem)
{
    if (problem == NULL)
        return;
    g_free(problem->path);
    g_free(problem->message);
    g_free(problem);
}

static void
add_problem_literal(Parser *p, const char *path, const char *message)
{
    PodvmSpecProblem *problem;

    if (p->refused != NULL && g_hash_table_contains(p->refused, path))
        return;
    if (p->problems->len >= MAX_PROBLEMS) {
        p->n_dropped++;
        return;
    }
    problem = g_new0(PodvmSpecProblem, 1);
    problem->path = g_strdup(path);
    problem->message = g_strdup(message);
    g_ptr_array_add(p->problems, problem);
}

static void add_problem(Parser *p, const char *path, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void
add_problem(Parser *p, const char *path, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    add_problem_literal(p, path, message);
}

static char *
problems_to_string(GPtrArray *problems)
{
    g_autoptr(GString) out = g_string_new(NULL);
    guint i;

    for (i = 0; i < problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);

        if (i > 0)
            g_string_append_c(out, '\n');
        if (problem->path != NULL && *problem->path != '\0')
            g_string_append_printf(out, "%s: ", problem->path);
        g_string_append(out, problem->message);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static char *
path_member(const char *parent, const char *key)
{
    if (parent == NULL || *parent == '\0')
        return g_strdup(key);
    return g_strdup_printf("%s.%s", parent, key);
}

static char *
path_index(const char *parent, guint index)
{
    return g_strdup_printf("%s[%u]", parent, index);
}

/* ------------------------------------------------------------------------ */
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
    add_problem_literal(s->parser, path, message);
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

static gboolean
scan(Parser *p, const char *data, gsize length, GError **error)
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
static gboolean
node_depth_ok(JsonNode *node, guint depth)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter iter;
        JsonNode *child;

        if (depth >= MAX_DEPTH)
            return FALSE;
        json_object_iter_init(&iter, json_node_get_object(node));
        while (json_object_iter_next(&iter, NULL, &child)) {
            if (!node_depth_ok(child, depth + 1))
                return FALSE;
        }
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);
        guint i;

        if (depth >= MAX_DEPTH)
            return FALSE;
        for (i = 0; i < json_array_get_length(array); i++) {
            if (!node_depth_ok(json_array_get_element(array, i), depth + 1))
                return FALSE;
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Fields and typed readers */

typedef enum {
    FIELD_KNOWN,              /* read by the caller */
    FIELD_IGNORED,            /* accepted and dropped */
    FIELD_NOT_YET,            /* "not supported yet" */
    FIELD_NOT_YET_UNLESS_OFF, /* same, but false, [] and {} are fine */
    FIELD_NOT_PODVM,          /* "not supported by podvm" */
    FIELD_NOT_PODVM_UNLESS_OFF,
} FieldKind;

typedef struct {
    const char *name;
    FieldKind kind;
    const char *hint; /* appended to the message, or NULL */
} Field;

static gboolean
node_is_off(JsonNode *node)
{
    if (JSON_NODE_HOLDS_ARRAY(node))
        return json_array_get_length(json_node_get_array(node)) == 0;
    if (JSON_NODE_HOLDS_OBJECT(node))
        return json_object_get_size(json_node_get_object(node)) == 0;
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_BOOLEAN)
        return !json_node_get_boolean(node);
    return FALSE;
}

/*
 * Reports, in document order, every member of @object that is not FIELD_KNOWN or
 * FIELD_IGNORED.
 * A null value is as good as an absent member, except for unknown fields.
 */
static void
check_members(Parser *p, const char *path, JsonObject *object, const Field *fields, gsize n_fields)
{
    JsonObjectIter iter;
    const char *name;
    JsonNode *node;

    json_object_iter_init_ordered(&iter, object);
    while (json_object_iter_next_ordered(&iter, &name, &node)) {
        g_autofree char *member_path = path_member(path, name);
        const Field *field = NULL;
        const char *message = NULL;
        gsize i;

        for (i = 0; i < n_fields; i++) {
            if (strcmp(fields[i].name, name) == 0) {
                field = &fields[i];
                break;
            }
        }
        if (field == NULL) {
            add_problem_literal(p, member_path, _("unknown field"));
            continue;
        }
        if (JSON_NODE_HOLDS_NULL(node))
            continue;
        switch (field->kind) {
        case FIELD_KNOWN:
        case FIELD_IGNORED:
            break;
        case FIELD_NOT_YET_UNLESS_OFF:
            if (node_is_off(node))
                break;
            G_GNUC_FALLTHROUGH;
        case FIELD_NOT_YET:
            message = _("not supported yet");
            break;
        case FIELD_NOT_PODVM_UNLESS_OFF:
            if (node_is_off(node))
                break;
            G_GNUC_FALLTHROUGH;
        case FIELD_NOT_PODVM:
            message = _("not supported by podvm");
            break;
        }
        if (message == NULL)
            continue;
        if (field->hint != NULL)
            add_problem(p, member_path, "%s; %s", message, _(field->hint));
        else
            add_problem_literal(p, member_path, message);
    }
}

#define CHECK_MEMBERS(p, path, object, fields) \
    check_members((p), (path), (object), (fields), G_N_ELEMENTS(fields))

/* The member @name of @object; NULL when absent or null. */
static JsonNode *
member(JsonObject *object, const char *name)
{
    JsonNode *node;

    if (object == NULL)
        return NULL;
    node = json_object_get_member(object, name);
    if (node != NULL && JSON_NODE_HOLDS_NULL(node))
        return NULL;
    return node;
}

static const char *
type_name(JsonNode *node)
{
    GType type;

    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT:
        return _("an object");
    case JSON_NODE_ARRAY:
        return _("an array");
    case JSON_NODE_NULL:
        return _("null");
    case JSON_NODE_VALUE:
    default:
        type = json_node_get_value_type(node);
        if (type == G_TYPE_STRING)
            return _("a string");
        if (type == G_TYPE_BOOLEAN)
            return _("a boolean");
        return _("a number");
    }
}

static void
type_problem(Parser *p, const char *path, const char *expected, JsonNode *node)
{
    add_problem(p, path, _("expected %s, got %s"), expected, type_name(node));
}

static gboolean
node_is_string(JsonNode *node)
{
    return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING;
}

static gboolean
node_is_number(JsonNode *node)
{
    GType type;

    if (!JSON_NODE_HOLDS_VALUE(node))
        return FALSE;
    type = json_node_get_value_type(node);
    return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

static JsonObject *
read_object(Parser *p, const char *path, JsonNode *node)
{
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        type_problem(p, path, _("an object"), node);
        return NULL;
    }
    return json_node_get_object(node);
}

static JsonArray *
read_array(Parser *p, const char *path, JsonNode *node)
{
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        type_problem(p, path, _("an array"), node);
        return NULL;
    }
    return json_node_get_array(node);
}

static const char *
read_string(Parser *p, const char *path, JsonNode *node)
{
    if (!node_is_string(node)) {
        type_problem(p, path, _("a string"), node);
        return NULL;
    }
    return json_node_get_string(node);
}

static gboolean
read_bool(Parser *p, const char *path, JsonNode *node, gboolean *out)
{
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        type_problem(p, path, _("a boolean"), node);
        return FALSE;
    }
    *out = json_node_get_boolean(node);
    return TRUE;
}

/* A whole number in [min, max]; 3.0 and 1e2 count as whole numbers. */
static gboolean
read_integer(Parser *p, const char *path, JsonNode *node, gint64 min, gint64 max,
             const char *range_message, gint64 *out)
{
    gint64 value;

    if (!node_is_number(node)) {
        type_problem(p, path, _("a number"), node);
        return FALSE;
    }
    if (json_node_get_value_type(node) == G_TYPE_INT64) {
        value = json_node_get_int(node);
    } else {
        gdouble d = json_node_get_double(node);

        if (!(d >= (gdouble)min && d <= (gdouble)max) || (gdouble)(gint64)d != d) {
            add_problem_literal(p, path, range_message);
            return FALSE;
        }
        value = (gint64)d;
    }
    if (value < min || value > max) {
        add_problem_literal(p, path, range_message);
        return FALSE;
    }
    *out = value;
    return TRUE;
}

/* A quantity may be a string ("512Mi") or a plain number (536870912). */
static char *
quantity_text(Parser *p, const char *path, JsonNode *node)
{
    if (node_is_string(node))
        return g_strdup(json_node_get_string(node));
    if (node_is_number(node)) {
        char buffer[G_ASCII_DTOSTR_BUF_SIZE];

        if (json_node_get_value_type(node) == G_TYPE_INT64)
            return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(node));
        return g_strdup(g_ascii_dtostr(buffer, sizeof(buffer), json_node_get_double(node)));
    }
    type_problem(p, path, _("a quantity string"), node);
    return NULL;
}

typedef gboolean (*QuantityParser)(const char *text, guint64 *out, GError **error);

/* A quantity that must be more than 0, parsed by @parse. */
static gboolean
read_positive_quantity(Parser *p, const char *path, JsonNode *node, QuantityParser parse,
                       guint64 *out)
{
    g_autofree char *text = quantity_text(p, path, node);
    g_autoptr(GError) error = NULL;
    guint64 value = 0;

    if (text == NULL)
        return FALSE;
    if (!parse(text, &value, &error)) {
        add_problem_literal(p, path, error->message);
        return FALSE;
    }
    if (value == 0) {
        add_problem_literal(p, path, _("must be more than 0"));
        return FALSE;
    }
    *out = value;
    return TRUE;
}

static gboolean
read_bytes(Parser *p, const char *path, JsonNode *node, guint64 *out)
{
    return read_positive_quantity(p, path, node, podvm_quantity_parse_bytes, out);
}

static gboolean
read_millicpus(Parser *p, const char *path, JsonNode *node, guint64 *out)
{
    return read_positive_quantity(p, path, node, podvm_quantity_parse_millicpus, out);
}

static GStrv
read_string_array(Parser *p, const char *path, JsonNode *node)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    JsonArray *array = read_array(p, path, node);
    gboolean ok = TRUE;
    guint i;

    if (array == NULL)
        return NULL;
    for (i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *item_path = path_index(path, i);
        const char *value = read_string(p, item_path, json_array_get_element(array, i));

        if (value == NULL)
            ok = FALSE;
        else
            g_strv_builder_add(builder, value);
    }
    if (!ok)
        return NULL;
    return g_strv_builder_end(builder);
}

/* labels and annotations: string to string; keys 1..253 characters. */
static void
read_string_map(Parser *p, const char *path, JsonNode *node, GHashTable *into, gboolean overwrite)
{
    JsonObject *object = read_object(p, path, node);
    JsonObjectIter iter;
    const char *key;
    JsonNode *value;

    if (object == NULL)
        return;
    json_object_iter_init_ordered(&iter, object);
    while (json_object_iter_next_ordered(&iter, &key, &value)) {
        g_autofree char *value_path = path_member(path, key);
        const char *text;

        if (*key == '\0') {
            add_problem_literal(p, path, _("a key is empty: keys have 1 to 253 characters"));
            continue;
        }
        if (strlen(key) > MAX_MAP_KEY_LENGTH) {
            g_autofree char *quoted = podvm_quote_for_message(key);
            add_problem(p, path, _("the key %s is longer than %d characters"), quoted,
                        MAX_MAP_KEY_LENGTH);
            continue;
        }
        text = read_string(p, value_path, value);
        if (text == NULL)
            continue;
        if (overwrite || !g_hash_table_contains(into, key))
            g_hash_table_replace(into, g_strdup(key), g_strdup(text));
    }
}

static gboolean
matches_charset(const char *text, const char *extra, gboolean upper)
{
    const char *c;

    if (*text == '\0')
        return FALSE;
    for (c = text; *c != '\0'; c++) {
        if (g_ascii_islower(*c) || g_ascii_isdigit(*c) || (upper && g_ascii_isupper(*c)))
            continue;
        if (strchr(extra, *c) == NULL)
            return FALSE;
    }
    return TRUE;
}

static gboolean
has_control_character(const char *text, gboolean allow_tab)
{
    const guchar *c;

    for (c = (const guchar *)text; *c != '\0'; c++) {
        if ((*c < 0x20 && !(allow_tab && *c == '\t')) || *c == 0x7f)
            return TRUE;
    }
    return FALSE;
}

/* ------------------------------------------------------------------------ */
/* Names */

gboolean
podvm_name_is_valid(const char *name, GError **error)
{
    static const char *const rule = N_("use lowercase letters, digits and '-', starting and "
                                       "ending with a letter or digit, at most 63 characters");
    g_autofree char *quoted = NULL;
    gsize length;
    const guchar *c;

    if (name == NULL || *name == '\0') {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("the name is empty: %s"),
                    _(rule));
        return FALSE;
    }
    quoted = podvm_quote_for_message(name);
    for (c = (const guchar *)name; *c != '\0'; c++) {
        if (*c >= 0x80) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s contains a character that is not ASCII: %s"), quoted, _(rule));
            return FALSE;
        }
        if (*c < 0x20 || *c == 0x7f) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s contains a control character: %s"), quoted, _(rule));
            return FALSE;
        }
    }
    length = strlen(name);
    if (length > MAX_NAME_LENGTH) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s is %" G_GSIZE_FORMAT " characters long: a name has at most %d "
                      "characters"),
                    quoted, length, MAX_NAME_LENGTH);
        return FALSE;
    }
    if (name[0] == '-' || name[length - 1] == '-') {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    name[0] == '-' ? _("%s starts with '-': %s") : _("%s ends with '-': %s"),
                    quoted, _(rule));
        return FALSE;
    }
    if (!matches_charset(name, "-", FALSE)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s is not a valid name: %s"), quoted, _(rule));
        return FALSE;
    }
    return TRUE;
}

static char *
read_name(Parser *p, const char *path, JsonNode *node)
{
    g_autoptr(GError) error = NULL;
    const char *name = read_string(p, path, node);

    if (name == NULL)
        return NULL;
    if (!podvm_name_is_valid(name, &error)) {
        add_problem_literal(p, path, error->message);
        return NULL;
    }
    return g_strdup(name);
}

/* ------------------------------------------------------------------------ */
/* The model */

static void
env_var_free(PodvmSpecEnvVar *var)
{
    if (var == NULL)
        return;
    g_free(var->name);
    g_free(var->value);
    g_free(var);
}

static PodvmSpecApp *
app_new(void)
{
    PodvmSpecApp *app = g_new0(PodvmSpecApp, 1);

    app->env = g_ptr_array_new_with_free_func((GDestroyNotify)env_var_free);
    return app;
}

void
podvm_spec_app_free(PodvmSpecApp *app)
{
    if (app == NULL)
        return;
    g_free(app->name);
    g_free(app->image);
    g_strfreev(app->command);
    g_strfreev(app->args);
    g_clear_pointer(&app->env, g_ptr_array_unref);
    g_free(app->working_dir);
    g_free(app);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecApp, podvm_spec_app_free)

void
podvm_spec_disk_free(PodvmSpecDisk *disk)
{
    if (disk == NULL)
        return;
    g_free(disk->name);
    g_free(disk->serial);
    g_free(disk);
}

PodvmSpecDisk *
podvm_spec_disk_copy(const PodvmSpecDisk *disk)
{
    PodvmSpecDisk *copy;

    g_return_val_if_fail(disk != NULL, NULL);

    copy = g_memdup2(disk, sizeof(*disk));
    copy->name = g_strdup(disk->name);
    copy->serial = g_strdup(disk->serial);
    return copy;
}

void
podvm_spec_volume_free(PodvmSpecVolume *volume)
{
    if (volume == NULL)
        return;
    g_free(volume->name);
    g_free(volume->path);
    g_free(volume->claim_name);
    g_free(volume->image);
    g_free(volume->image_path);
    g_free(volume->user_data);
    g_free(volume->meta_data);
    g_free(volume->network_data);
    g_free(volume);
}

PodvmSpecVolume *
podvm_spec_volume_copy(const PodvmSpecVolume *volume)
{
    PodvmSpecVolume *copy;

    g_return_val_if_fail(volume != NULL, NULL);

    copy = g_memdup2(volume, sizeof(*volume));
    copy->name = g_strdup(volume->name);
    copy->path = g_strdup(volume->path);
    copy->claim_name = g_strdup(volume->claim_name);
    copy->image = g_strdup(volume->image);
    copy->image_path = g_strdup(volume->image_path);
    copy->user_data = g_strdup(volume->user_data);
    copy->meta_data = g_strdup(volume->meta_data);
    copy->network_data = g_strdup(volume->network_data);
    return copy;
}

const PodvmSpecVolume *
podvm_spec_find_volume(const PodvmSpec *spec, const char *name)
{
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    for (i = 0; name != NULL && spec->volumes != NULL && i < spec->volumes->len; i++) {
        const PodvmSpecVolume *volume = g_ptr_array_index(spec->volumes, i);

        if (g_strcmp0(volume->name, name) == 0)
            return volume;
    }
    return NULL;
}

const PodvmSpecDisk *
podvm_spec_find_disk(const PodvmSpec *spec, const char *name)
{
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    for (i = 0; name != NULL && spec->disks != NULL && i < spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);

        if (g_strcmp0(disk->name, name) == 0)
            return disk;
    }
    return NULL;
}

/* Indexed by PodvmDiskBus, PodvmDiskKind and PodvmVolumeSource. */
static const char *const disk_bus_names[] = { "virtio", "scsi", "sata" };
static const char *const disk_kind_names[] = { "disk", "cdrom", "lun" };
static const char *const volume_source_names[] = {
    "hostDisk",
    "emptyDisk",
    "ephemeral",
    "containerDisk",
    "cloudInitNoCloud",
    "cloudInitConfigDrive",
    "persistentVolumeClaim",
    "dataVolume",
};

const char *
podvm_disk_bus_to_string(PodvmDiskBus bus)
{
    g_return_val_if_fail((guint)bus < G_N_ELEMENTS(disk_bus_names), "virtio");
    return disk_bus_names[bus];
}

const char *
podvm_disk_kind_to_string(PodvmDiskKind kind)
{
    g_return_val_if_fail((guint)kind < G_N_ELEMENTS(disk_kind_names), "disk");
    return disk_kind_names[kind];
}

const char *
podvm_volume_source_to_string(PodvmVolumeSource source)
{
    g_return_val_if_fail((guint)source < G_N_ELEMENTS(volume_source_names), "hostDisk");
    return volume_source_names[source];
}

static PodvmSpec *
spec_new(void)
{
    PodvmSpec *spec = g_new0(PodvmSpec, 1);

    spec->labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    spec->annotations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    spec->apps = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_app_free);
    spec->disks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_disk_free);
    spec->volumes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_volume_free);
    spec->source_kind = g_strdup(KIND_POD);
    spec->autoattach_serial_console = TRUE;
    spec->termination_grace_period_seconds = PODVM_SPEC_DEFAULT_GRACE_SECONDS;
    spec->restart_policy = PODVM_RESTART_NEVER;
    return spec;
}

void
podvm_spec_free(PodvmSpec *spec)
{
    if (spec == NULL)
        return;
    g_free(spec->name);
    g_free(spec->uid);
    g_clear_pointer(&spec->labels, g_hash_table_unref);
    g_clear_pointer(&spec->annotations, g_hash_table_unref);
    g_free(spec->source_kind);
    g_free(spec->cpu_model);
    g_free(spec->machine_type);
    g_free(spec->kernel_path);
    g_free(spec->initrd_path);
    g_free(spec->kernel_args);
    g_free(spec->firmware_uuid);
    g_free(spec->firmware_serial);
    g_clear_pointer(&spec->disks, g_ptr_array_unref);
    g_clear_pointer(&spec->volumes, g_ptr_array_unref);
    g_clear_pointer(&spec->apps, g_ptr_array_unref);
    g_free(spec->hostname);
    g_free(spec);
}

static void
copy_map(GHashTable *from, GHashTable *to)
{
    GHashTableIter iter;
    gpointer key, value;

    if (from == NULL)
        return;
    g_hash_table_iter_init(&iter, from);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_hash_table_replace(to, g_strdup(key), g_strdup(value));
}

static PodvmSpecApp *
app_copy(const PodvmSpecApp *app)
{
    PodvmSpecApp *copy = app_new();
    guint i;

    copy->name = g_strdup(app->name);
    copy->image = g_strdup(app->image);
    copy->command = g_strdupv(app->command);
    copy->args = g_strdupv(app->args);
    for (i = 0; app->env != NULL && i < app->env->len; i++) {
        const PodvmSpecEnvVar *var = g_ptr_array_index(app->env, i);
        PodvmSpecEnvVar *var_copy = g_new0(PodvmSpecEnvVar, 1);

        var_copy->name = g_strdup(var->name);
        var_copy->value = g_strdup(var->value);
        g_ptr_array_add(copy->env, var_copy);
    }
    copy->working_dir = g_strdup(app->working_dir);
    copy->memory = app->memory;
    copy->millicpus = app->millicpus;
    return copy;
}

PodvmSpec *
podvm_spec_copy(const PodvmSpec *spec)
{
    PodvmSpec *copy;
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    copy = spec_new();
    copy->name = g_strdup(spec->name);
    copy->uid = g_strdup(spec->uid);
    copy_map(spec->labels, copy->labels);
    copy_map(spec->annotations, copy->annotations);
    g_free(copy->source_kind);
    copy->source_kind = g_strdup(spec->source_kind);
    copy->start_on_create = spec->start_on_create;
    copy->memory = spec->memory;
    copy->cpu_cores = spec->cpu_cores;
    copy->cpu_sockets = spec->cpu_sockets;
    copy->cpu_threads = spec->cpu_threads;
    copy->cpu_model = g_strdup(spec->cpu_model);
    copy->machine_type = g_strdup(spec->machine_type);
    copy->kernel_path = g_strdup(spec->kernel_path);
    copy->initrd_path = g_strdup(spec->initrd_path);
    copy->kernel_args = g_strdup(spec->kernel_args);
    copy->firmware_uuid = g_strdup(spec->firmware_uuid);
    copy->firmware_serial = g_strdup(spec->firmware_serial);
    copy->autoattach_serial_console = spec->autoattach_serial_console;
    copy->rng = spec->rng;
    for (i = 0; spec->disks != NULL && i < spec->disks->len; i++)
        g_ptr_array_add(copy->disks, podvm_spec_disk_copy(g_ptr_array_index(spec->disks, i)));
    for (i = 0; spec->volumes != NULL && i < spec->volumes->len; i++)
        g_ptr_array_add(copy->volumes, podvm_spec_volume_copy(g_ptr_array_index(spec->volumes, i)));
    for (i = 0; spec->apps != NULL && i < spec->apps->len; i++)
        g_ptr_array_add(copy->apps, app_copy(g_ptr_array_index(spec->apps, i)));
    copy->termination_grace_period_seconds = spec->termination_grace_period_seconds;
    copy->restart_policy = spec->restart_policy;
    copy->hostname = g_strdup(spec->hostname);
    return copy;
}

const char *
podvm_restart_policy_to_string(PodvmRestartPolicy policy)
{
    switch (policy) {
    case PODVM_RESTART_ALWAYS:
        return "Always";
    case PODVM_RESTART_ON_FAILURE:
        return "OnFailure";
    case PODVM_RESTART_NEVER:
    default:
        return "Never";
    }
}

gboolean
podvm_restart_policy_from_string(const char *text, PodvmRestartPolicy *out_policy)
{
    PodvmRestartPolicy policy;

    if (g_strcmp0(text, "Always") == 0)
        policy = PODVM_RESTART_ALWAYS;
    else if (g_strcmp0(text, "OnFailure") == 0)
        policy = PODVM_RESTART_ON_FAILURE;
    else if (g_strcmp0(text, "Never") == 0)
        policy = PODVM_RESTART_NEVER;
    else
        return FALSE;
    *out_policy = policy;
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* metadata */

static const Field k8s_managed_metadata[] = {
    { "generateName", FIELD_NOT_PODVM, NULL },
    { "creationTimestamp", FIELD_NOT_PODVM, NULL },
    { "resourceVersion", FIELD_NOT_PODVM, NULL },
    { "generation", FIELD_NOT_PODVM, NULL },
    { "selfLink", FIELD_NOT_PODVM, NULL },
    { "deletionTimestamp", FIELD_NOT_PODVM, NULL },
    { "deletionGracePeriodSeconds", FIELD_NOT_PODVM, NULL },
    { "ownerReferences", FIELD_NOT_PODVM, NULL },
    { "finalizers", FIELD_NOT_PODVM, NULL },
    { "managedFields", FIELD_NOT_PODVM, NULL },
    { "clusterName", FIELD_NOT_PODVM, NULL },
};

static void
check_metadata_members(Parser *p, const char *path, JsonObject *object, const Field *own,
                       gsize n_own)
{
    g_autofree Field *fields = g_new(Field, n_own + G_N_ELEMENTS(k8s_managed_metadata));

    memcpy(fields, own, n_own * sizeof(Field));
    memcpy(fields + n_own, k8s_managed_metadata, sizeof(k8s_managed_metadata));
    check_members(p, path, object, fields, n_own + G_N_ELEMENTS(k8s_managed_metadata));
}

static void
parse_metadata(Parser *p, JsonObject *metadata, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },        { "uid", FIELD_KNOWN, NULL },
        { "labels", FIELD_KNOWN, NULL },      { "annotations", FIELD_KNOWN, NULL },
        { "namespace", FIELD_IGNORED, NULL },
    };
    JsonNode *node;

    check_metadata_members(p, "metadata", metadata, fields, G_N_ELEMENTS(fields));

    node = member(metadata, "name");
    if (node == NULL)
        add_problem_literal(p, "metadata.name", _("required"));
    else
        spec->name = read_name(p, "metadata.name", node);

    node = member(metadata, "uid");
    if (node != NULL) {
        const char *uid = read_string(p, "metadata.uid", node);

        if (uid != NULL && !g_uuid_string_is_valid(uid)) {
            g_autofree char *quoted = podvm_quote_for_message(uid);
            add_problem(p, "metadata.uid", _("%s is not a UUID"), quoted);
        } else if (uid != NULL) {
            spec->uid = g_ascii_strdown(uid, -1);
        }
    }

    /* KubeVirt manifests carry a namespace; podvm has none and keeps nothing. */
    node = member(metadata, "namespace");
    if (node != NULL)
        read_string(p, "metadata.namespace", node);

    node = member(metadata, "labels");
    if (node != NULL)
        read_string_map(p, "metadata.labels", node, spec->labels, TRUE);
    node = member(metadata, "annotations");
    if (node != NULL)
        read_string_map(p, "metadata.annotations", node, spec->annotations, TRUE);
}

/* spec.template.metadata of a VirtualMachine: labels and annotations merge in. */
static void
parse_template_metadata(Parser *p, const char *path, JsonObject *metadata, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "labels", FIELD_KNOWN, NULL },
        { "annotations", FIELD_KNOWN, NULL },
        { "name", FIELD_NOT_PODVM, N_("the pod takes its name from metadata.name") },
        { "namespace", FIELD_IGNORED, NULL },
        { "uid", FIELD_NOT_PODVM, NULL },
    };
    g_autofree char *labels_path = path_member(path, "labels");
    g_autofree char *annotations_path = path_member(path, "annotations");
    JsonNode *node;

    check_metadata_members(p, path, metadata, fields, G_N_ELEMENTS(fields));

    node = member(metadata, "namespace");
    if (node != NULL) {
        g_autofree char *namespace_path = path_member(path, "namespace");
        read_string(p, namespace_path, node);
    }
    node = member(metadata, "labels");
    if (node != NULL)
        read_string_map(p, labels_path, node, spec->labels, FALSE);
    node = member(metadata, "annotations");
    if (node != NULL)
        read_string_map(p, annotations_path, node, spec->annotations, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Disks and volumes */

/* Where the disks or volumes of a pod came from, for the checks made once both are read. */
typedef struct {
    GArray *indices;     /* guint: the array index of each entry added to the spec */
    gboolean given;      /* present and not an empty array */
    gboolean unreadable; /* present but not readable as an array: no cross-checks */
} EntryList;

static void
entry_list_clear(EntryList *list)
{
    g_clear_pointer(&list->indices, g_array_unref);
}

static void
entry_list_add(EntryList *list, guint index)
{
    if (list->indices == NULL)
        list->indices = g_array_new(FALSE, FALSE, sizeof(guint));
    g_array_append_val(list->indices, index);
}

static guint
entry_list_index(const EntryList *list, guint position)
{
    return g_array_index(list->indices, guint, position);
}

static gboolean
parse_enum(const char *text, const char *const *names, gsize n_names, guint *out)
{
    gsize i;

    for (i = 0; i < n_names; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (guint)i;
            return TRUE;
        }
    }
    return FALSE;
}

/* An absolute host (or image) path without ".." components or control characters. */
static char *
read_absolute_path(Parser *p, const char *path, JsonNode *node)
{
    const char *text = read_string(p, path, node);
    g_auto(GStrv) components = NULL;
    guint i;

    if (text == NULL)
        return NULL;
    if (has_control_character(text, FALSE)) {
        add_problem_literal(p, path, _("must not contain control characters"));
        return NULL;
    }
    if (!g_path_is_absolute(text)) {
        g_autofree char *quoted = podvm_quote_for_message(text);
        add_problem(p, path, _("%s is not an absolute path: write it from \"/\""), quoted);
        return NULL;
    }
    components = g_strsplit(text, "/", -1);
    for (i = 0; components[i] != NULL; i++) {
        if (strcmp(components[i], "..") == 0) {
            g_autofree char *quoted = podvm_quote_for_message(text);
            add_problem(p, path, _("%s has a \"..\" component: write the path without it"), quoted);
            return NULL;
        }
    }
    return g_strdup(text);
}

static gboolean
disk_serial_is_valid(const char *serial)
{
    const char *c;

    if (*serial == '\0' || strlen(serial) > MAX_DISK_SERIAL)
        return FALSE;
    for (c = serial; *c != '\0'; c++) {
        if (!g_ascii_isalnum(*c) && strchr("_.+-", *c) == NULL)
            return FALSE;
    }
    return TRUE;
}

/* The disk: {...}, cdrom: {...} or lun: {...} member of a disk. */
static void
parse_disk_target(Parser *p, const char *path, JsonNode *node, PodvmSpecDisk *disk)
{
    static const Field disk_fields[] = {
        { "bus", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "pciAddress", FIELD_NOT_YET, NULL },
    };
    static const Field cdrom_fields[] = {
        { "bus", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "tray", FIELD_NOT_YET, NULL },
    };
    static const Field lun_fields[] = {
        { "bus", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "reservation", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    g_autofree char *bus_path = path_member(path, "bus");
    g_autofree char *readonly_path = path_member(path, "readonly");
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    switch (disk->kind) {
    case PODVM_DISK_KIND_CDROM:
        CHECK_MEMBERS(p, path, object, cdrom_fields);
        break;
    case PODVM_DISK_KIND_LUN:
        CHECK_MEMBERS(p, path, object, lun_fields);
        break;
    case PODVM_DISK_KIND_DISK:
    default:
        CHECK_MEMBERS(p, path, object, disk_fields);
        break;
    }

    if ((child = member(object, "bus")) != NULL) {
        const char *text = read_string(p, bus_path, child);
        guint bus = 0;

        if (text != NULL && !parse_enum(text, disk_bus_names, G_N_ELEMENTS(disk_bus_names), &bus)) {
            g_autofree char *quoted = podvm_quote_for_message(text);
            add_problem(p, bus_path, _("unknown bus %s; expected virtio, scsi or sata"), quoted);
        } else if (text != NULL) {
            disk->bus = (PodvmDiskBus)bus;
            if (disk->kind == PODVM_DISK_KIND_CDROM && disk->bus == PODVM_DISK_BUS_VIRTIO)
                add_problem_literal(p, bus_path,
                                    _("a cdrom cannot be on the virtio bus; use sata or scsi"));
            else if (disk->kind == PODVM_DISK_KIND_LUN && disk->bus != PODVM_DISK_BUS_SCSI)
                add_problem(p, bus_path,
                            _("a lun is a SCSI device: it cannot be on the %s bus; "
                              "use scsi"),
                            text);
        }
    }

    if ((child = member(object, "readonly")) != NULL) {
        gboolean readonly = FALSE;

        if (read_bool(p, readonly_path, child, &readonly)) {
            if (disk->kind == PODVM_DISK_KIND_CDROM && !readonly)
                add_problem_literal(p, readonly_path, _("a cdrom is always read-only"));
            else
                disk->readonly = readonly;
        }
    }
}

static PodvmSpecDisk *
parse_disk(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "disk", FIELD_KNOWN, NULL },
        { "cdrom", FIELD_KNOWN, NULL },
        { "lun", FIELD_KNOWN, NULL },
        { "bootOrder", FIELD_KNOWN, NULL },
        { "serial", FIELD_KNOWN, NULL },
        { "cache", FIELD_KNOWN, NULL },
        { "readonly", FIELD_KNOWN, NULL },
        { "dedicatedIOThread", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "io", FIELD_NOT_YET, NULL },
        { "blockSize", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "shareable", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "tag", FIELD_NOT_YET, NULL },
        { "errorPolicy", FIELD_NOT_YET, NULL },
    };
    /* Indexed by PodvmDiskKind; the bus each kind gets when none is given (as KubeVirt). */
    static const PodvmDiskBus default_bus[] = {
        PODVM_DISK_BUS_VIRTIO,
        PODVM_DISK_BUS_SATA,
        PODVM_DISK_BUS_SCSI,
    };
    g_autoptr(PodvmSpecDisk) disk = g_new0(PodvmSpecDisk, 1);
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;
    guint n_kinds = 0;
    gsize i;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    {
        g_autofree char *child_path = path_member(path, "name");

        child = member(object, "name");
        if (child == NULL)
            add_problem_literal(p, child_path, _("required: the name of the volume it shows"));
        else
            disk->name = read_name(p, child_path, child);
    }

    /* None of disk, cdrom and lun: a disk with the defaults, as in KubeVirt. */
    disk->kind = PODVM_DISK_KIND_DISK;
    for (i = 0; i < G_N_ELEMENTS(disk_kind_names); i++) {
        if (member(object, disk_kind_names[i]) == NULL)
            continue;
        if (n_kinds++ == 0)
            disk->kind = (PodvmDiskKind)i;
    }
    if (n_kinds > 1)
        add_problem_literal(p, path, _("give only one of disk, cdrom and lun"));
    disk->bus = default_bus[disk->kind];
    disk->readonly = disk->kind == PODVM_DISK_KIND_CDROM;
    child = member(object, disk_kind_names[disk->kind]);
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, disk_kind_names[disk->kind]);
        parse_disk_target(p, child_path, child, disk);
    }

    if ((child = member(object, "readonly")) != NULL) {
        g_autofree char *child_path = path_member(path, "readonly");
        add_problem(p, child_path, _("unknown field: write %s.readonly, as KubeVirt does"),
                    disk_kind_names[disk->kind]);
    }

    if ((child = member(object, "bootOrder")) != NULL) {
        g_autofree char *child_path = path_member(path, "bootOrder");
        gint64 value = 0;

        if (read_integer(p, child_path, child, 1, MAX_BOOT_ORDER,
                         _("must be a whole number from 1 to 65535"), &value))
            disk->boot_order = (guint)value;
    }

    if ((child = member(object, "serial")) != NULL) {
        g_autofree char *child_path = path_member(path, "serial");
        const char *serial = read_string(p, child_path, child);

        if (serial != NULL && !disk_serial_is_valid(serial)) {
            g_autofree char *quoted = podvm_quote_for_message(serial);
            add_problem(p, child_path,
                        _("%s is not a valid disk serial: use 1 to 20 letters, digits, '_', "
                          "'.', '+' or '-' (virtio-blk's limit)"),
                        quoted);
        } else if (serial != NULL) {
            disk->serial = g_strdup(serial);
        }
    }

    if ((child = member(object, "cache")) != NULL) {
        /* Indexed by PodvmDiskCache, after PODVM_DISK_CACHE_DEFAULT. */
        static const char *const caches[] = { "none", "writethrough", "writeback" };
        g_autofree char *child_path = path_member(path, "cache");
        const char *cache = read_string(p, child_path, child);
        guint value = 0;

        if (cache != NULL && !parse_enum(cache, caches, G_N_ELEMENTS(caches), &value)) {
            g_autofree char *quoted = podvm_quote_for_message(cache);
            add_problem(p, child_path, _("unknown value %s: use none, writethrough or writeback"),
                        quoted);
        } else if (cache != NULL) {
            disk->cache = (PodvmDiskCache)(value + 1);
        }
    }
    return g_steal_pointer(&disk);
}

/*
 * The array of disks or volumes at @path, noted in @list (given, or given
 * but unreadable so the cross-checks stay quiet), and held to MAX_DISKS
 * entries; NULL when it is not an array.
 */
static JsonArray *
read_entry_list(Parser *p, const char *path, JsonNode *node, EntryList *list, gboolean disks)
{
    JsonArray *array = read_array(p, path, node);
    guint length;

    if (array == NULL) {
        list->given = TRUE;
        list->unreadable = TRUE;
        return NULL;
    }
    length = json_array_get_length(array);
    list->given = length > 0;
    if (length > MAX_DISKS && disks)
        add_problem(p, path, _("has %u disks: a pod has at most %d"), length, MAX_DISKS);
    else if (length > MAX_DISKS)
        add_problem(p, path, _("has %u volumes: a pod has at most %d"), length, MAX_DISKS);
    return array;
}

static void
parse_disks(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, EntryList *list)
{
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) boot_orders = g_hash_table_new(g_direct_hash, g_direct_equal);
    JsonArray *array = read_entry_list(p, path, node, list, TRUE);
    guint length = array != NULL ? json_array_get_length(array) : 0;
    guint i;

    if (array == NULL)
        return;

    for (i = 0; i < length; i++) {
        g_autofree char *item_path = path_index(path, i);
        PodvmSpecDisk *disk = parse_disk(p, item_path, json_array_get_element(array, i));

        if (disk == NULL)
            continue;
        g_ptr_array_add(spec->disks, disk);
        entry_list_add(list, i);

        /* A disk shows the volume of its own name, so a second disk of the same name would
         * use that volume twice. */
        if (disk->name != NULL && g_hash_table_contains(names, disk->name)) {
            g_autofree char *name_path = path_member(item_path, "name");
            g_autofree char *quoted = podvm_quote_for_message(disk->name);
            add_problem(p, name_path,
                        _("%s is the name of another disk: disk names are unique, and a volume "
                          "is used by one disk only"),
                        quoted);
        } else if (disk->name != NULL) {
            g_hash_table_add(names, disk->name);
        }

        if (disk->boot_order != 0 &&
            g_hash_table_contains(boot_orders, GUINT_TO_POINTER(disk->boot_order))) {
            g_autofree char *order_path = path_member(item_path, "bootOrder");
            add_problem(p, order_path, _("another disk has boot order %u: boot orders are unique"),
                        disk->boot_order);
        } else if (disk->boot_order != 0) {
            g_hash_table_add(boot_orders, GUINT_TO_POINTER(disk->boot_order));
        }
    }
}

/* Go's base64.StdEncoding, as KubeVirt reads it: padded, line breaks ignored. */
static gboolean
base64_is_valid(const char *text)
{
    gsize n = 0;
    gsize padding = 0;
    const char *c;

    for (c = text; *c != '\0'; c++) {
        if (*c == '\r' || *c == '\n')
            continue;
        n++;
        if (*c == '=') {
            padding++;
            continue;
        }
        if (padding > 0 || !(g_ascii_isalnum(*c) || *c == '+' || *c == '/'))
            return FALSE;
    }
    return n % 4 == 0 && padding <= 2;
}

/* Cloud-init text (given as is, or in base64): UTF-8, at most 256 KiB. */
static char *
read_cloud_init_text(Parser *p, const char *path, JsonNode *node, gboolean base64)
{
    const char *text = read_string(p, path, node);
    g_autofree guchar *decoded = NULL;
    gsize length;

    if (text == NULL)
        return NULL;
    if (base64) {
        if (!base64_is_valid(text)) {
            add_problem_literal(p, path,
                                _("is not valid base64: use the letters A-Z, a-z, digits, '+' "
                                  "and '/', padded with '=' to a multiple of 4 characters"));
            return NULL;
        }
        decoded = g_base64_decode(text, &length);
        text = (const char *)decoded;
    } else {
        length = strlen(text);
    }
    if (length > MAX_CLOUD_INIT_TEXT) {
        add_problem(p, path,
                    base64 ? _("decodes to %" G_GSIZE_FORMAT " bytes: cloud-init data has at "
                               "most 256 KiB")
                           : _("is %" G_GSIZE_FORMAT " bytes long: cloud-init data has at most "
                               "256 KiB"),
                    length);
        return NULL;
    }
    if (!g_utf8_validate_len(text, length, NULL)) {
        add_problem_literal(p, path,
                            base64 ? _("does not decode to UTF-8 text (or contains a NUL byte)")
                                   : _("is not UTF-8 text"));
        return NULL;
    }
    return g_strndup(text, length);
}

static void
parse_host_disk(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "path", FIELD_KNOWN, NULL },
        { "type", FIELD_KNOWN, NULL },
        { "capacity", FIELD_KNOWN, NULL },
        { "shared", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    g_autofree char *path_path = path_member(path, "path");
    g_autofree char *type_path = path_member(path, "type");
    g_autofree char *capacity_path = path_member(path, "capacity");
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);

    child = member(object, "path");
    if (child == NULL)
        add_problem_literal(p, path_path,
                            _("required: the absolute path of the image on the host"));
    else
        volume->path = read_absolute_path(p, path_path, child);

    child = member(object, "type");
    if (child == NULL) {
        add_problem_literal(p, type_path,
                            _("required: \"Disk\" (an existing image) or \"DiskOrCreate\" "
                              "(created when missing)"));
    } else {
        const char *type = read_string(p, type_path, child);

        if (g_strcmp0(type, "DiskOrCreate") == 0) {
            volume->create = TRUE;
        } else if (type != NULL && strcmp(type, "Disk") != 0) {
            g_autofree char *quoted = podvm_quote_for_message(type);
            add_problem(p, type_path, _("unknown value %s: use Disk or DiskOrCreate"), quoted);
        }
    }

    child = member(object, "capacity");
    if (child != NULL)
        read_bytes(p, capacity_path, child, &volume->capacity);
    else if (volume->create)
        add_problem_literal(p, capacity_path,
                            _("required with type DiskOrCreate: the size of the image to create, "
                              "like \"10Gi\""));
}

static void
parse_empty_disk(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "capacity", FIELD_KNOWN, NULL },
    };
    g_autofree char *capacity_path = path_member(path, "capacity");
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);
    child = member(object, "capacity");
    if (child == NULL)
        add_problem_literal(p, capacity_path, _("required: the size of the disk, like \"10Gi\""));
    else
        read_bytes(p, capacity_path, child, &volume->capacity);
}

/* {claimName, readOnly}: a volume of podvm's storage pool. */
static void
parse_claim(Parser *p, const char *path, JsonObject *object, gboolean hotpluggable,
            PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "claimName", FIELD_KNOWN, NULL },
        { "readOnly", FIELD_KNOWN, NULL },
        { "hotpluggable", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    g_autofree char *name_path = path_member(path, "claimName");
    JsonNode *child;

    /* Only the top-level persistentVolumeClaim has hotpluggable. */
    check_members(p, path, object, fields, G_N_ELEMENTS(fields) - (hotpluggable ? 0 : 1));

    child = member(object, "claimName");
    if (child == NULL)
        add_problem_literal(p, name_path,
                            _("required: the name of a volume of podvm's storage pool"));
    else
        volume->claim_name = read_name(p, name_path, child);

    child = member(object, "readOnly");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "readOnly");
        read_bool(p, child_path, child, &volume->readonly);
    }
}

static void
parse_persistent_volume_claim(Parser *p, const char *path, JsonObject *object,
                              PodvmSpecVolume *volume)
{
    parse_claim(p, path, object, TRUE, volume);
}

static void
parse_ephemeral(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "persistentVolumeClaim", FIELD_KNOWN, NULL },
        { "image", FIELD_KNOWN, NULL },
    };
    JsonNode *claim = member(object, "persistentVolumeClaim");
    JsonNode *image = member(object, "image");

    CHECK_MEMBERS(p, path, object, fields);

    if (claim == NULL && image == NULL) {
        add_problem_literal(p, path,
                            _("give the base: persistentVolumeClaim: {claimName} or image: "
                              "an absolute path on the host"));
    } else if (claim != NULL && image != NULL) {
        add_problem_literal(p, path, _("give either persistentVolumeClaim or image, not both"));
    } else if (claim != NULL) {
        g_autofree char *claim_path = path_member(path, "persistentVolumeClaim");
        JsonObject *claim_object = read_object(p, claim_path, claim);

        if (claim_object != NULL)
            parse_claim(p, claim_path, claim_object, FALSE, volume);
    } else {
        g_autofree char *image_path = path_member(path, "image");
        volume->path = read_absolute_path(p, image_path, image);
    }
}

/* "oci:DIR[:TAG]" with DIR absolute, or "docker://REF". */
static gboolean
container_disk_image_is_valid(const char *image)
{
    const char *rest;
    const char *colon;
    const char *slash;

    if (has_control_character(image, FALSE) || strchr(image, ' ') != NULL)
        return FALSE;
    if (g_str_has_prefix(image, "docker://"))
        return image[strlen("docker://")] != '\0';
    if (!g_str_has_prefix(image, "oci:"))
        return FALSE;
    rest = image + strlen("oci:");
    if (rest[0] != '/')
        return FALSE;
    /* A colon after the last slash starts the tag, which must not be empty. */
    colon = strrchr(rest, ':');
    slash = strrchr(rest, '/');
    if (colon != NULL && colon > slash && colon[1] == '\0')
        return FALSE;
    return TRUE;
}

static void
parse_container_disk(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "image", FIELD_KNOWN, NULL },
        { "path", FIELD_KNOWN, NULL },
        { "imagePullPolicy", FIELD_KNOWN, NULL },
        { "imagePullSecret", FIELD_NOT_YET, NULL },
    };
    static const char *const pull_policies[] = { "IfNotPresent", "Always", "Never" };
    g_autofree char *image_path = path_member(path, "image");
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);

    child = member(object, "image");
    if (child == NULL) {
        add_problem_literal(p, image_path, _("required: \"oci:DIR:TAG\" or \"docker://REPO:TAG\""));
    } else {
        const char *image = read_string(p, image_path, child);

        if (image != NULL && !container_disk_image_is_valid(image)) {
            g_autofree char *quoted = podvm_quote_for_message(image);
            add_problem(p, image_path,
                        _("%s is not an image reference podvm can use: write \"oci:DIR:TAG\" "
                          "with DIR the absolute path of a local OCI layout, or "
                          "\"docker://REPO:TAG\" for a registry"),
                        quoted);
        } else if (image != NULL) {
            volume->image = g_strdup(image);
        }
    }

    child = member(object, "path");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "path");
        volume->image_path = read_absolute_path(p, child_path, child);
    }

    /* A valid policy would be silently without effect: podvm does not pull images yet. */
    child = member(object, "imagePullPolicy");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "imagePullPolicy");
        const char *policy = read_string(p, child_path, child);
        guint value;

        if (policy != NULL &&
            !parse_enum(policy, pull_policies, G_N_ELEMENTS(pull_policies), &value)) {
            g_autofree char *quoted = podvm_quote_for_message(policy);
            add_problem(p, child_path, _("unknown value %s: use IfNotPresent, Always or Never"),
                        quoted);
        } else if (policy != NULL) {
            add_problem_literal(p, child_path,
                                _("not supported yet; leave it out: podvm uses the image it "
                                  "finds"));
        }
    }
}

/* The placeholder an answer shows instead of cloud-init data must not be stored as the data. */
static void
refuse_hidden_placeholder(Parser *p, const char *path, const char *text)
{
    if (text != NULL && g_str_has_prefix(text, PODVM_SPEC_HIDDEN_PREFIX))
        add_problem_literal(p, path,
                            _("is the placeholder an answer shows instead of the data; send the "
                              "data itself (GET /v1/pods/NAME?secrets=true shows it)"));
}

static void
parse_cloud_init(Parser *p, const char *path, JsonObject *object, gboolean nocloud,
                 PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "userData", FIELD_KNOWN, NULL },
        { "userDataBase64", FIELD_KNOWN, NULL },
        { "networkData", FIELD_KNOWN, NULL },
        { "networkDataBase64", FIELD_KNOWN, NULL },
        { "secretRef", FIELD_NOT_PODVM,
          N_("podvm has no Kubernetes secrets: give the data inline") },
        { "networkDataSecretRef", FIELD_NOT_PODVM,
          N_("podvm has no Kubernetes secrets: give the data inline") },
        { "metaData", FIELD_KNOWN, NULL }, /* NoCloud only: last */
    };
    static const struct {
        const char *plain;
        const char *base64;
    } texts[] = {
        { "userData", "userDataBase64" },
        { "networkData", "networkDataBase64" },
    };
    char **outs[] = { &volume->user_data, &volume->network_data };
    gboolean any = FALSE;
    JsonNode *child;
    gsize i;

    check_members(p, path, object, fields, G_N_ELEMENTS(fields) - (nocloud ? 0 : 1));

    for (i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autofree char *plain_path = path_member(path, texts[i].plain);
        g_autofree char *base64_path = path_member(path, texts[i].base64);
        JsonNode *plain = member(object, texts[i].plain);
        JsonNode *base64 = member(object, texts[i].base64);

        if (plain != NULL || base64 != NULL)
            any = TRUE;
        if (plain != NULL && base64 != NULL) {
            add_problem(p, base64_path, _("give either %s or %s, not both"), texts[i].plain,
                        texts[i].base64);
            continue;
        }
        if (plain != NULL) {
            *outs[i] = read_cloud_init_text(p, plain_path, plain, FALSE);
            refuse_hidden_placeholder(p, plain_path, *outs[i]);
        } else if (base64 != NULL) {
            *outs[i] = read_cloud_init_text(p, base64_path, base64, TRUE);
            if (i == 0)
                volume->user_data_was_base64 = TRUE;
        }
    }
    if (!any && member(object, "secretRef") == NULL &&
        member(object, "networkDataSecretRef") == NULL)
        add_problem_literal(p, path,
                            _("required: userData or userDataBase64, networkData or "
                              "networkDataBase64, or both"));

    if (nocloud && (child = member(object, "metaData")) != NULL) {
        g_autofree char *child_path = path_member(path, "metaData");
        volume->meta_data = read_cloud_init_text(p, child_path, child, FALSE);
        refuse_hidden_placeholder(p, child_path, volume->meta_data);
    }
}

static void
parse_cloud_init_nocloud(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    parse_cloud_init(p, path, object, TRUE, volume);
}

static void
parse_cloud_init_config_drive(Parser *p, const char *path, JsonObject *object,
                              PodvmSpecVolume *volume)
{
    parse_cloud_init(p, path, object, FALSE, volume);
}

static void
parse_data_volume(Parser *p, const char *path, JsonObject *object, PodvmSpecVolume *volume)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "hotpluggable", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    g_autofree char *name_path = path_member(path, "name");
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);
    child = member(object, "name");
    if (child == NULL)
        add_problem_literal(p, name_path,
                            _("required: the name of a volume of podvm's storage pool"));
    else
        volume->claim_name = read_name(p, name_path, child);
}

typedef void (*VolumeSourceParser)(Parser *p, const char *path, JsonObject *object,
                                   PodvmSpecVolume *volume);

/* Indexed by PodvmVolumeSource, like volume_source_names. */
static const VolumeSourceParser volume_source_parsers[] = {
    parse_host_disk,
    parse_empty_disk,
    parse_ephemeral,
    parse_container_disk,
    parse_cloud_init_nocloud,
    parse_cloud_init_config_drive,
    parse_persistent_volume_claim,
    parse_data_volume,
};

/* Not translated: field names. */
#define VOLUME_SOURCES_TEXT                                                                   \
    "hostDisk, emptyDisk, ephemeral, containerDisk, cloudInitNoCloud, cloudInitConfigDrive, " \
    "persistentVolumeClaim, dataVolume"

static PodvmSpecVolume *
parse_volume(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "hostDisk", FIELD_KNOWN, NULL },
        { "emptyDisk", FIELD_KNOWN, NULL },
        { "ephemeral", FIELD_KNOWN, NULL },
        { "containerDisk", FIELD_KNOWN, NULL },
        { "cloudInitNoCloud", FIELD_KNOWN, NULL },
        { "cloudInitConfigDrive", FIELD_KNOWN, NULL },
        { "persistentVolumeClaim", FIELD_KNOWN, NULL },
        { "dataVolume", FIELD_KNOWN, NULL },
        /* KubeVirt's other sources. */
        { "configMap", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "secret", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "serviceAccount", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "downwardAPI", FIELD_NOT_PODVM,
          N_("podvm runs no Kubernetes API; give files to the guest with cloudInitNoCloud") },
        { "downwardMetrics", FIELD_NOT_PODVM, NULL },
        { "sysprep", FIELD_NOT_PODVM, NULL },
        { "memoryDump", FIELD_NOT_PODVM, NULL },
    };
    g_autoptr(PodvmSpecVolume) volume = g_new0(PodvmSpecVolume, 1);
    g_autoptr(GString) given = g_string_new(NULL);
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;
    guint n_sources = 0;
    gboolean have_source = FALSE;
    gsize i;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    {
        g_autofree char *child_path = path_member(path, "name");

        child = member(object, "name");
        if (child == NULL)
            add_problem_literal(p, child_path, _("required: the name its disk gives"));
        else
            volume->name = read_name(p, child_path, child);
    }

    /* Every field after "name" is a source. Sources podvm refuses count too, so that they are
     * not also reported missing. */
    for (i = 1; i < G_N_ELEMENTS(fields); i++) {
        if (member(object, fields[i].name) == NULL)
            continue;
        if (n_sources++ > 0)
            g_string_append(given, ", ");
        g_string_append(given, fields[i].name);
    }
    if (n_sources == 0)
        add_problem(p, path, _("required: a source, one of %s"), VOLUME_SOURCES_TEXT);
    else if (n_sources > 1)
        add_problem(p, path, _("has %u sources (%s): give only one of %s"), n_sources, given->str,
                    VOLUME_SOURCES_TEXT);

    /* Each source given is checked; the first one is the volume's. */
    for (i = 0; i < G_N_ELEMENTS(volume_source_parsers); i++) {
        g_autofree char *source_path = NULL;
        JsonObject *source;

        child = member(object, volume_source_names[i]);
        if (child == NULL)
            continue;
        source_path = path_member(path, volume_source_names[i]);
        source = read_object(p, source_path, child);
        if (source == NULL)
            continue;
        if (!have_source) {
            volume->source = (PodvmVolumeSource)i;
            volume_source_parsers[i](p, source_path, source, volume);
            have_source = TRUE;
        } else {
            g_autoptr(PodvmSpecVolume) other = g_new0(PodvmSpecVolume, 1);
            volume_source_parsers[i](p, source_path, source, other);
        }
    }
    return g_steal_pointer(&volume);
}

static void
parse_volumes(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, EntryList *list)
{
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *array = read_entry_list(p, path, node, list, FALSE);
    guint length = array != NULL ? json_array_get_length(array) : 0;
    guint i;

    if (array == NULL)
        return;

    for (i = 0; i < length; i++) {
        g_autofree char *item_path = path_index(path, i);
        PodvmSpecVolume *volume = parse_volume(p, item_path, json_array_get_element(array, i));

        if (volume == NULL)
            continue;
        g_ptr_array_add(spec->volumes, volume);
        entry_list_add(list, i);
        if (volume->name != NULL && g_hash_table_contains(names, volume->name)) {
            g_autofree char *name_path = path_member(item_path, "name");
            g_autofree char *quoted = podvm_quote_for_message(volume->name);
            add_problem(p, name_path,
                        _("%s is the name of another volume: volume names are unique"), quoted);
        } else if (volume->name != NULL) {
            g_hash_table_add(names, volume->name);
        }
    }
}

/* Every disk shows a volume of its name, and every volume is shown by a disk. */
static void
check_disks_use_volumes(Parser *p, const char *disks_path, const EntryList *disks,
                        const char *volumes_path, const EntryList *volumes, PodvmSpec *spec)
{
    g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
    guint i;

    if (disks->unreadable || volumes->unreadable)
        return;

    for (i = 0; i < spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);

        /* A second disk of the same name was reported already. */
        if (disk->name == NULL || g_hash_table_contains(used, disk->name))
            continue;
        if (podvm_spec_find_volume(spec, disk->name) == NULL) {
            g_autofree char *item_path = path_index(disks_path, entry_list_index(disks, i));
            g_autofree char *name_path = path_member(item_path, "name");
            g_autofree char *quoted = podvm_quote_for_message(disk->name);

            add_problem(p, name_path, _("no volume named %s in %s"), quoted, volumes_path);
        }
        g_hash_table_add(used, disk->name);
    }

    for (i = 0; i < spec->volumes->len; i++) {
        const PodvmSpecVolume *volume = g_ptr_array_index(spec->volumes, i);

        if (volume->name != NULL && !g_hash_table_contains(used, volume->name)) {
            g_autofree char *item_path = path_index(volumes_path, entry_list_index(volumes, i));
            g_autofree char *name_path = path_member(item_path, "name");
            g_autofree char *quoted = podvm_quote_for_message(volume->name);

            add_problem(p, name_path, _("no disk uses this volume: add a disk named %s to %s"),
                        quoted, disks_path);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* spec.domain */

typedef struct {
    guint64 requests_memory;
    guint64 limits_memory;
    guint64 guest_memory;
    gboolean kernel_boot_given; /* present, whether valid or not */
    EntryList disks;
} DomainState;

static void
parse_resource_list(Parser *p, const char *path, JsonNode *node, guint64 *out_memory)
{
    static const Field fields[] = {
        { "memory", FIELD_KNOWN, NULL },
        { "cpu", FIELD_NOT_YET, N_("give spec.domain.cpu.cores instead") },
    };
    JsonObject *object = read_object(p, path, node);
    JsonNode *memory;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    memory = member(object, "memory");
    if (memory != NULL) {
        g_autofree char *memory_path = path_member(path, "memory");
        read_bytes(p, memory_path, memory, out_memory);
    }
}

static void
parse_resources(Parser *p, const char *path, JsonNode *node, DomainState *state)
{
    static const Field fields[] = {
        { "requests", FIELD_KNOWN, NULL },
        { "limits", FIELD_KNOWN, NULL },
        { "overcommitGuestOverhead", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
    };
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    child = member(object, "requests");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "requests");
        parse_resource_list(p, child_path, child, &state->requests_memory);
    }
    child = member(object, "limits");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "limits");
        parse_resource_list(p, child_path, child, &state->limits_memory);
    }
}

static void
parse_memory(Parser *p, const char *path, JsonNode *node, DomainState *state)
{
    static const Field fields[] = {
        { "guest", FIELD_KNOWN, NULL },
        { "hugepages", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "maxGuest", FIELD_NOT_YET, NULL },
    };
    JsonObject *object = read_object(p, path, node);
    JsonNode *guest;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    guest = member(object, "guest");
    if (guest != NULL) {
        g_autofree char *guest_path = path_member(path, "guest");
        read_bytes(p, guest_path, guest, &state->guest_memory);
    }
}

static void
parse_cpu(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "cores", FIELD_KNOWN, NULL },
        { "sockets", FIELD_KNOWN, NULL },
        { "threads", FIELD_KNOWN, NULL },
        { "model", FIELD_KNOWN, NULL },
        { "dedicatedCpuPlacement", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "isolateEmulatorThread", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "features", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "numa", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "realtime", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "maxSockets", FIELD_NOT_YET, NULL },
    };
    static const char *const topology[] = { "cores", "sockets", "threads" };
    guint *values[] = { &spec->cpu_cores, &spec->cpu_sockets, &spec->cpu_threads };
    JsonObject *object = read_object(p, path, node);
    gboolean topology_ok = TRUE;
    guint64 product = 1;
    JsonNode *child;
    gsize i;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);

    for (i = 0; i < G_N_ELEMENTS(topology); i++) {
        g_autofree char *child_path = path_member(path, topology[i]);
        gint64 value = 0;

        child = member(object, topology[i]);
        if (child == NULL)
            continue;
        if (read_integer(p, child_path, child, 1, MAX_TOPOLOGY,
                         _("must be a whole number from 1 to 255"), &value)) {
            *values[i] = (guint)value;
            product *= (guint64)value;
        } else {
            topology_ok = FALSE;
        }
    }
    if (topology_ok && product > MAX_TOPOLOGY) {
        add_problem(
            p, path,
            _("cores x sockets x threads is %" G_GUINT64_FORMAT ": a pod has at most %d vCPUs"),
            product, MAX_TOPOLOGY);
    }

    child = member(object, "model");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "model");
        const char *model = read_string(p, child_path, child);

        if (model != NULL && !matches_charset(model, "._-", TRUE)) {
            g_autofree char *quoted = podvm_quote_for_message(model);
            add_problem(p, child_path,
                        _("%s is not a valid CPU model: use letters, digits, '.', '_' and '-', "
                          "for example \"host-model\" or \"Skylake-Server\""),
                        quoted);
        } else if (model != NULL) {
            spec->cpu_model = g_strdup(model);
        }
    }
}

static void
parse_machine(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "type", FIELD_KNOWN, NULL },
    };
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    child = member(object, "type");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "type");
        const char *type = read_string(p, child_path, child);

        if (type != NULL && !matches_charset(type, "._-", FALSE)) {
            g_autofree char *quoted = podvm_quote_for_message(type);
            add_problem(p, child_path,
                        _("%s is not a valid machine type: use lowercase letters, digits, '.', "
                          "'_' and '-', for example \"q35\" or \"pc-q35-7.2\""),
                        quoted);
        } else if (type != NULL) {
            spec->machine_type = g_strdup(type);
        }
    }
}

static void
parse_bootloader(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "bios", FIELD_KNOWN, NULL },
        { "efi", FIELD_NOT_YET, NULL },
    };
    static const Field bios_fields[] = {
        { "useSerial", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = read_object(p, path, node);
    JsonNode *bios;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    bios = member(object, "bios");
    if (bios != NULL) {
        g_autofree char *bios_path = path_member(path, "bios");
        JsonObject *bios_object = read_object(p, bios_path, bios);

        if (bios_object != NULL)
            CHECK_MEMBERS(p, bios_path, bios_object, bios_fields);
    }
}

static char *
read_host_path(Parser *p, const char *path, JsonNode *node)
{
    const char *text = read_string(p, path, node);

    if (text == NULL)
        return NULL;
    if (*text == '\0') {
        add_problem_literal(p, path, _("must not be empty"));
        return NULL;
    }
    if (has_control_character(text, FALSE)) {
        add_problem_literal(p, path, _("must not contain control characters"));
        return NULL;
    }
    return g_strdup(text);
}

static void
parse_kernel_boot(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "kernelPath", FIELD_KNOWN, NULL },
        { "initrdPath", FIELD_KNOWN, NULL },
        { "kernelArgs", FIELD_KNOWN, NULL },
        { "container", FIELD_NOT_YET, N_("give host paths in kernelPath and initrdPath instead") },
    };
    JsonObject *object = read_object(p, path, node);
    g_autofree char *kernel_path = path_member(path, "kernelPath");
    g_autofree char *initrd_path = path_member(path, "initrdPath");
    g_autofree char *args_path = path_member(path, "kernelArgs");
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);

    child = member(object, "kernelPath");
    if (child != NULL)
        spec->kernel_path = read_host_path(p, kernel_path, child);
    else if (member(object, "container") == NULL)
        add_problem_literal(p, kernel_path, _("required: the host path of the kernel to boot"));

    child = member(object, "initrdPath");
    if (child != NULL)
        spec->initrd_path = read_host_path(p, initrd_path, child);

    child = member(object, "kernelArgs");
    if (child != NULL) {
        const char *args = read_string(p, args_path, child);

        if (args != NULL && (strchr(args, '\n') != NULL || strchr(args, '\r') != NULL))
            add_problem_literal(p, args_path, _("must be one line: no newline characters"));
        else if (args != NULL && has_control_character(args, TRUE))
            add_problem_literal(p, args_path, _("must not contain control characters"));
        else if (args != NULL)
            spec->kernel_args = g_strdup(args);
    }
}

static void
parse_firmware(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, DomainState *state)
{
    static const Field fields[] = {
        { "bootloader", FIELD_KNOWN, NULL },
        { "kernelBoot", FIELD_KNOWN, NULL },
        { "uuid", FIELD_KNOWN, NULL },
        { "serial", FIELD_KNOWN, NULL },
        { "acpi", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);

    child = member(object, "bootloader");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "bootloader");
        parse_bootloader(p, child_path, child);
    }

    child = member(object, "kernelBoot");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "kernelBoot");

        state->kernel_boot_given = TRUE;
        parse_kernel_boot(p, child_path, child, spec);
    }

    child = member(object, "uuid");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "uuid");
        const char *uuid = read_string(p, child_path, child);

        if (uuid != NULL && !g_uuid_string_is_valid(uuid)) {
            g_autofree char *quoted = podvm_quote_for_message(uuid);
            add_problem(p, child_path,
                        _("%s is not a UUID: write it like "
                          "\"5f2e9a2c-6a5b-4b1e-9f0e-3c2d1b0a9f8e\""),
                        quoted);
        } else if (uuid != NULL) {
            spec->firmware_uuid = g_ascii_strdown(uuid, -1);
        }
    }

    child = member(object, "serial");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "serial");
        const char *serial = read_string(p, child_path, child);
        const guchar *c;

        for (c = (const guchar *)serial; serial != NULL && *c != '\0'; c++) {
            if (*c < 0x20 || *c >= 0x7f)
                break;
        }
        if (serial != NULL && *c != '\0')
            add_problem_literal(p, child_path,
                                _("must be printable ASCII: letters, digits, punctuation and "
                                  "spaces"));
        else if (serial != NULL)
            spec->firmware_serial = g_strdup(serial);
    }
}

static void
parse_devices(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, DomainState *state)
{
    static const Field fields[] = {
        { "autoattachSerialConsole", FIELD_KNOWN, NULL },
        { "rng", FIELD_KNOWN, NULL },
        { "disks", FIELD_KNOWN, NULL },
        { "interfaces", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "autoattachGraphicsDevice", FIELD_NOT_PODVM_UNLESS_OFF,
          N_("podvm pods have a serial console and no display") },
        { "autoattachInputDevice", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "autoattachPodInterface", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "autoattachMemBalloon", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "autoattachVSOCK", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "blockMultiQueue", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "networkInterfaceMultiqueue", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "useVirtioTransitional", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "disableHotplug", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "watchdog", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "inputs", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "gpus", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "hostDevices", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "filesystems", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "tpm", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "sound", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "clientPassthrough", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;

    if (object == NULL) {
        state->disks.unreadable = TRUE;
        return;
    }
    CHECK_MEMBERS(p, path, object, fields);

    child = member(object, "disks");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "disks");
        parse_disks(p, child_path, child, spec, &state->disks);
    }

    child = member(object, "autoattachSerialConsole");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "autoattachSerialConsole");
        read_bool(p, child_path, child, &spec->autoattach_serial_console);
    }

    child = member(object, "rng");
    if (child != NULL) {
        g_autofree char *child_path = path_member(path, "rng");
        JsonObject *rng = read_object(p, child_path, child);

        if (rng != NULL) {
            check_members(p, child_path, rng, NULL, 0); /* every member is unknown */
            spec->rng = TRUE;
        }
    }
}

static void
parse_domain(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, DomainState *state)
{
    static const Field fields[] = {
        { "resources", FIELD_KNOWN, NULL },
        { "memory", FIELD_KNOWN, NULL },
        { "cpu", FIELD_KNOWN, NULL },
        { "machine", FIELD_KNOWN, NULL },
        { "firmware", FIELD_KNOWN, NULL },
        { "devices", FIELD_KNOWN, NULL },
        { "features", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "clock", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "ioThreadsPolicy", FIELD_NOT_YET, NULL },
        { "chassis", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "launchSecurity", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = read_object(p, path, node);
    g_autofree char *resources_path = path_member(path, "resources");
    g_autofree char *memory_path = path_member(path, "memory");
    g_autofree char *cpu_path = path_member(path, "cpu");
    g_autofree char *machine_path = path_member(path, "machine");
    g_autofree char *firmware_path = path_member(path, "firmware");
    g_autofree char *devices_path = path_member(path, "devices");
    JsonNode *child;

    if (object == NULL) {
        state->disks.unreadable = TRUE;
        return;
    }
    CHECK_MEMBERS(p, path, object, fields);

    if ((child = member(object, "resources")) != NULL)
        parse_resources(p, resources_path, child, state);
    if ((child = member(object, "memory")) != NULL)
        parse_memory(p, memory_path, child, state);
    if ((child = member(object, "cpu")) != NULL)
        parse_cpu(p, cpu_path, child, spec);
    if ((child = member(object, "machine")) != NULL)
        parse_machine(p, machine_path, child, spec);
    if ((child = member(object, "firmware")) != NULL)
        parse_firmware(p, firmware_path, child, spec, state);
    if ((child = member(object, "devices")) != NULL)
        parse_devices(p, devices_path, child, spec, state);

    /* requests win over limits; memory.guest must agree with whichever is given. */
    {
        guint64 resources =
            state->requests_memory != 0 ? state->requests_memory : state->limits_memory;
        const char *resources_name =
            state->requests_memory != 0 ? "resources.requests.memory" : "resources.limits.memory";

        if (state->guest_memory != 0 && resources != 0 && state->guest_memory != resources) {
            g_autofree char *guest_path = path_member(memory_path, "guest");
            g_autofree char *other_path = path_member(path, resources_name);
            g_autofree char *guest_text = podvm_quantity_format_bytes(state->guest_memory);
            g_autofree char *other_text = podvm_quantity_format_bytes(resources);

            add_problem(p, guest_path,
                        _("is %s but %s is %s: give only one of them, or the same value"),
                        guest_text, other_path, other_text);
        }
        spec->memory = state->guest_memory != 0 ? state->guest_memory : resources;
    }
}

/* ------------------------------------------------------------------------ */
/* spec.apps */

static void
parse_env(Parser *p, const char *path, JsonNode *node, PodvmSpecApp *app)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "value", FIELD_KNOWN, NULL },
        { "valueFrom", FIELD_NOT_PODVM, NULL },
    };
    JsonArray *array = read_array(p, path, node);
    guint i;

    if (array == NULL)
        return;
    for (i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *item_path = path_index(path, i);
        g_autofree char *name_path = path_member(item_path, "name");
        g_autofree char *value_path = path_member(item_path, "value");
        JsonObject *object = read_object(p, item_path, json_array_get_element(array, i));
        const char *name = NULL;
        const char *value = "";
        JsonNode *child;

        if (object == NULL)
            continue;
        CHECK_MEMBERS(p, item_path, object, fields);
        child = member(object, "name");
        if (child == NULL) {
            add_problem_literal(p, name_path, _("required"));
        } else if ((name = read_string(p, name_path, child)) != NULL &&
                   (*name == '\0' || strchr(name, '=') != NULL)) {
            add_problem_literal(p, name_path, _("must be a non-empty name without '='"));
            name = NULL;
        }
        child = member(object, "value");
        if (child != NULL)
            value = read_string(p, value_path, child);
        if (name != NULL && value != NULL) {
            PodvmSpecEnvVar *var = g_new0(PodvmSpecEnvVar, 1);

            var->name = g_strdup(name);
            var->value = g_strdup(value);
            g_ptr_array_add(app->env, var);
        }
    }
}

static gboolean
image_is_valid(const char *image)
{
    if (has_control_character(image, FALSE) || strchr(image, ' ') != NULL)
        return FALSE;
    if (g_str_has_prefix(image, "docker://"))
        return image[strlen("docker://")] != '\0';
    if (g_str_has_prefix(image, "oci:"))
        return image[strlen("oci:")] != '\0';
    return FALSE;
}

static PodvmSpecApp *
parse_app(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },    { "image", FIELD_KNOWN, NULL },
        { "command", FIELD_KNOWN, NULL }, { "args", FIELD_KNOWN, NULL },
        { "env", FIELD_KNOWN, NULL },     { "workingDir", FIELD_KNOWN, NULL },
        { "memory", FIELD_KNOWN, NULL },  { "cpus", FIELD_KNOWN, NULL },
    };
    g_autoptr(PodvmSpecApp) app = app_new();
    JsonObject *object = read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    {
        g_autofree char *child_path = path_member(path, "name");

        child = member(object, "name");
        if (child == NULL)
            add_problem_literal(p, child_path, _("required"));
        else
            app->name = read_name(p, child_path, child);
    }
    {
        g_autofree char *child_path = path_member(path, "image");
        const char *image;

        child = member(object, "image");
        if (child == NULL) {
            add_problem_literal(p, child_path,
                                _("required: \"docker://REPO:TAG\" or \"oci:DIR:TAG\""));
        } else if ((image = read_string(p, child_path, child)) != NULL) {
            if (image_is_valid(image)) {
                app->image = g_strdup(image);
            } else {
                g_autofree char *quoted = podvm_quote_for_message(image);
                add_problem(p, child_path,
                            _("%s is not an image reference podvm can use: write "
                              "\"docker://REPO:TAG\" for a registry or \"oci:DIR:TAG\" for a "
                              "local OCI layout"),
                            quoted);
            }
        }
    }
    if ((child = member(object, "command")) != NULL) {
        g_autofree char *child_path = path_member(path, "command");
        app->command = read_string_array(p, child_path, child);
    }
    if ((child = member(object, "args")) != NULL) {
        g_autofree char *child_path = path_member(path, "args");
        app->args = read_string_array(p, child_path, child);
    }
    if ((child = member(object, "env")) != NULL) {
        g_autofree char *child_path = path_member(path, "env");
        parse_env(p, child_path, child, app);
    }
    if ((child = member(object, "workingDir")) != NULL) {
        g_autofree char *child_path = path_member(path, "workingDir");
        const char *dir = read_string(p, child_path, child);

        if (dir != NULL && (!g_path_is_absolute(dir) || has_control_character(dir, FALSE)))
            add_problem_literal(p, child_path, _("must be an absolute path, like \"/app\""));
        else if (dir != NULL)
            app->working_dir = g_strdup(dir);
    }
    if ((child = member(object, "memory")) != NULL) {
        g_autofree char *child_path = path_member(path, "memory");
        read_bytes(p, child_path, child, &app->memory);
    }
    if ((child = member(object, "cpus")) != NULL) {
        g_autofree char *child_path = path_member(path, "cpus");
        read_millicpus(p, child_path, child, &app->millicpus);
    }
    return g_steal_pointer(&app);
}

static void
parse_apps(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *array = read_array(p, path, node);
    guint i;

    if (array == NULL)
        return;
    for (i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *item_path = path_index(path, i);
        PodvmSpecApp *app = parse_app(p, item_path, json_array_get_element(array, i));

        if (app == NULL)
            continue;
        g_ptr_array_add(spec->apps, app);
        if (app->name == NULL)
            continue;
        if (g_hash_table_contains(names, app->name)) {
            g_autofree char *name_path = path_member(item_path, "name");
            g_autofree char *quoted = podvm_quote_for_message(app->name);
            add_problem(p, name_path, _("%s is the name of another app: app names are unique"),
                        quoted);
        } else {
            g_hash_table_add(names, app->name);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* spec */

static void
parse_pod_spec(Parser *p, const char *path, JsonObject *object, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "domain", FIELD_KNOWN, NULL },
        { "apps", FIELD_KNOWN, NULL },
        { "terminationGracePeriodSeconds", FIELD_KNOWN, NULL },
        { "restartPolicy", FIELD_KNOWN, NULL },
        { "hostname", FIELD_KNOWN, NULL },
        { "volumes", FIELD_KNOWN, NULL },
        { "networks", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "livenessProbe", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "readinessProbe", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "startupProbe", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "evictionStrategy", FIELD_NOT_YET, NULL },
        { "accessCredentials", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "subdomain", FIELD_NOT_YET, NULL },
        { "nodeSelector", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "affinity", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "tolerations", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "topologySpreadConstraints", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "schedulerName", FIELD_NOT_PODVM, NULL },
        { "priorityClassName", FIELD_NOT_PODVM, NULL },
        { "dnsPolicy", FIELD_NOT_PODVM, NULL },
        { "dnsConfig", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
    };
    g_autofree char *domain_path = path_member(path, "domain");
    g_autofree char *kernel_boot_path = g_strdup_printf("%s.firmware.kernelBoot", domain_path);
    g_autofree char *disks_path = g_strdup_printf("%s.devices.disks", domain_path);
    g_autofree char *volumes_path = path_member(path, "volumes");
    DomainState state = { 0 };
    EntryList volumes = { 0 };
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);

    if ((child = member(object, "domain")) != NULL)
        parse_domain(p, domain_path, child, spec, &state);
    if ((child = member(object, "apps")) != NULL) {
        g_autofree char *child_path = path_member(path, "apps");
        parse_apps(p, child_path, child, spec);
    }
    if ((child = member(object, "terminationGracePeriodSeconds")) != NULL) {
        g_autofree char *child_path = path_member(path, "terminationGracePeriodSeconds");
        gint64 seconds = 0;

        if (read_integer(p, child_path, child, 0, MAX_GRACE_SECONDS,
                         _("must be a whole number of seconds from 0 to 86400"), &seconds))
            spec->termination_grace_period_seconds = seconds;
    }
    if ((child = member(object, "restartPolicy")) != NULL) {
        g_autofree char *child_path = path_member(path, "restartPolicy");
        const char *policy = read_string(p, child_path, child);

        p->restart_policy_given = TRUE;
        if (policy != NULL && !podvm_restart_policy_from_string(policy, &spec->restart_policy)) {
            g_autofree char *quoted = podvm_quote_for_message(policy);
            add_problem(p, child_path, _("unknown value %s: use Always, OnFailure or Never"),
                        quoted);
        }
    }
    if ((child = member(object, "hostname")) != NULL) {
        g_autofree char *child_path = path_member(path, "hostname");
        spec->hostname = read_name(p, child_path, child);
    }

    if ((child = member(object, "volumes")) != NULL) {
        g_autofree char *child_path = path_member(path, "volumes");
        parse_volumes(p, child_path, child, spec, &volumes);
    }
    check_disks_use_volumes(p, disks_path, &state.disks, volumes_path, &volumes, spec);

    /* Something to boot: a kernel, or a disk (the firmware boots from it). */
    if (!state.kernel_boot_given && !state.disks.given) {
        if (spec->apps->len > 0)
            add_problem_literal(p, kernel_boot_path,
                                _("required: app pods need podvm's app guest, which is not "
                                  "supported yet; give a kernel (firmware.kernelBoot) or a disk "
                                  "(devices.disks) to boot"));
        else
            add_problem_literal(p, kernel_boot_path,
                                _("required: give a kernel to boot (firmware.kernelBoot) or a "
                                  "disk to boot from (devices.disks)"));
    }
    entry_list_clear(&state.disks);
    entry_list_clear(&volumes);
}

typedef struct {
    const char *name;
    PodvmRestartPolicy policy;
    gboolean start;
} RunStrategy;

static const RunStrategy run_strategies[] = {
    { "Always", PODVM_RESTART_ALWAYS, TRUE }, { "RerunOnFailure", PODVM_RESTART_ON_FAILURE, TRUE },
    { "Once", PODVM_RESTART_NEVER, TRUE },    { "Manual", PODVM_RESTART_NEVER, FALSE },
    { "Halted", PODVM_RESTART_NEVER, FALSE },
};

static void
parse_vm_spec(Parser *p, JsonObject *object, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "running", FIELD_KNOWN, NULL },
        { "runStrategy", FIELD_KNOWN, NULL },
        { "template", FIELD_KNOWN, NULL },
        { "dataVolumeTemplates", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "instancetype", FIELD_NOT_PODVM, NULL },
        { "preference", FIELD_NOT_PODVM, NULL },
        { "updateVolumesStrategy", FIELD_NOT_YET, NULL },
    };
    static const Field template_fields[] = {
        { "metadata", FIELD_KNOWN, NULL },
        { "spec", FIELD_KNOWN, NULL },
    };
    const RunStrategy *strategy = NULL;
    JsonNode *running = member(object, "running");
    JsonNode *run_strategy = member(object, "runStrategy");
    JsonNode *child;
    JsonObject *template_object;

    CHECK_MEMBERS(p, "spec", object, fields);

    if (running != NULL && run_strategy != NULL) {
        add_problem_literal(p, "spec.running",
                            _("give either spec.running or spec.runStrategy, not both"));
    } else if (running != NULL) {
        gboolean value = FALSE;

        if (read_bool(p, "spec.running", running, &value))
            strategy = &run_strategies[value ? 0 : 4];
    } else if (run_strategy != NULL) {
        const char *name = read_string(p, "spec.runStrategy", run_strategy);
        gsize i;

        for (i = 0; name != NULL && i < G_N_ELEMENTS(run_strategies); i++) {
            if (strcmp(run_strategies[i].name, name) == 0)
                strategy = &run_strategies[i];
        }
        if (name != NULL && strategy == NULL) {
            g_autofree char *quoted = podvm_quote_for_message(name);
            add_problem(p, "spec.runStrategy",
                        _("unknown value %s: use Always, RerunOnFailure, Once, Manual or "
                          "Halted"),
                        quoted);
        }
    }

    child = member(object, "template");
    if (child == NULL) {
        add_problem_literal(p, "spec.template", _("required: the VirtualMachine's pod"));
        return;
    }
    template_object = read_object(p, "spec.template", child);
    if (template_object == NULL)
        return;
    CHECK_MEMBERS(p, "spec.template", template_object, template_fields);

    child = member(template_object, "metadata");
    if (child != NULL) {
        JsonObject *metadata = read_object(p, "spec.template.metadata", child);

        if (metadata != NULL)
            parse_template_metadata(p, "spec.template.metadata", metadata, spec);
    }

    child = member(template_object, "spec");
    if (child == NULL) {
        add_problem_literal(p, "spec.template.spec", _("required"));
    } else {
        JsonObject *pod_spec = read_object(p, "spec.template.spec", child);

        if (pod_spec != NULL)
            parse_pod_spec(p, "spec.template.spec", pod_spec, spec);
    }

    if (strategy != NULL) {
        if (p->restart_policy_given && spec->restart_policy != strategy->policy) {
            add_problem(p, "spec.template.spec.restartPolicy",
                        _("is %s but the VirtualMachine's run strategy means %s: leave it out"),
                        podvm_restart_policy_to_string(spec->restart_policy),
                        podvm_restart_policy_to_string(strategy->policy));
        }
        spec->restart_policy = strategy->policy;
        spec->start_on_create = strategy->start;
    }
}

/* apiVersion and kind; returns the kind to read the rest as. */
static const char *
parse_type(Parser *p, JsonObject *root)
{
    static const char *const hint = N_("use apiVersion \"podvm.io/v1\" with kind \"Pod\", or "
                                       "\"kubevirt.io/v1\" with kind \"VirtualMachineInstance\" "
                                       "or \"VirtualMachine\"");
    JsonNode *api_node = member(root, "apiVersion");
    JsonNode *kind_node = member(root, "kind");
    const char *api = NULL;
    const char *kind = NULL;

    if (api_node == NULL)
        add_problem(p, "apiVersion", _("required: %s"), _(hint));
    else
        api = read_string(p, "apiVersion", api_node);
    if (kind_node == NULL)
        add_problem(p, "kind", _("required: %s"), _(hint));
    else
        kind = read_string(p, "kind", kind_node);

    if (api != NULL) {
        gboolean podvm = strcmp(api, API_PODVM_V1) == 0;
        gboolean kubevirt =
            strcmp(api, API_KUBEVIRT_V1) == 0 || strcmp(api, API_KUBEVIRT_V1ALPHA3) == 0;

        if (!podvm && !kubevirt) {
            g_autofree char *quoted = podvm_quote_for_message(api);
            add_problem(p, "apiVersion", _("unknown value %s: %s"), quoted, _(hint));
        } else if (kind != NULL && podvm && strcmp(kind, KIND_POD) != 0) {
            g_autofree char *quoted = podvm_quote_for_message(kind);
            add_problem(p, "kind", _("%s is not a kind of %s: use \"Pod\""), quoted, api);
        } else if (kind != NULL && kubevirt && strcmp(kind, KIND_VMI) != 0 &&
                   strcmp(kind, KIND_VM) != 0) {
            g_autofree char *quoted = podvm_quote_for_message(kind);
            add_problem(p, "kind",
                        _("%s is not a kind of %s podvm reads: use \"VirtualMachineInstance\" "
                          "or \"VirtualMachine\""),
                        quoted, api);
        }
    }

    if (g_strcmp0(kind, KIND_VM) == 0)
        return KIND_VM;
    if (g_strcmp0(kind, KIND_VMI) == 0)
        return KIND_VMI;
    return KIND_POD;
}

static PodvmSpec *
parse_document(Parser *p, JsonNode *root)
{
    static const Field fields[] = {
        { "apiVersion", FIELD_KNOWN, NULL },
        { "kind", FIELD_KNOWN, NULL },
        { "metadata", FIELD_KNOWN, NULL },
        { "spec", FIELD_KNOWN, NULL },
        /* Read-only: accepted and dropped, so "show -o json" output can be fed back. */
        { "status", FIELD_IGNORED, NULL },
    };
    g_autoptr(PodvmSpec) spec = spec_new();
    JsonObject *object;
    JsonNode *child;
    const char *kind;

    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        add_problem(p, "", _("the document must be a JSON object, got %s"), type_name(root));
        return NULL;
    }
    object = json_node_get_object(root);
    CHECK_MEMBERS(p, "", object, fields);

    kind = parse_type(p, object);
    g_free(spec->source_kind);
    spec->source_kind = g_strdup(kind);

    child = member(object, "metadata");
    if (child == NULL) {
        add_problem_literal(p, "metadata", _("required: at least a name"));
    } else {
        JsonObject *metadata = read_object(p, "metadata", child);

        if (metadata != NULL)
            parse_metadata(p, metadata, spec);
    }

    child = member(object, "spec");
    if (child == NULL) {
        add_problem_literal(p, "spec", _("required"));
    } else {
        JsonObject *spec_object = read_object(p, "spec", child);

        if (spec_object != NULL && strcmp(kind, KIND_VM) == 0)
            parse_vm_spec(p, spec_object, spec);
        else if (spec_object != NULL)
            parse_pod_spec(p, "spec", spec_object, spec);
    }

    if (spec->machine_type == NULL)
        spec->machine_type = g_strdup("q35");
    return g_steal_pointer(&spec);
}

/* ------------------------------------------------------------------------ */
/* Entry points */

static void
parser_clear(Parser *p)
{
    g_clear_pointer(&p->problems, g_ptr_array_unref);
    g_clear_pointer(&p->refused, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Parser, parser_clear)

static void
parser_init(Parser *p)
{
    p->problems = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_problem_free);
    p->refused = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    p->n_dropped = 0;
    p->restart_policy_given = FALSE;
}

/* Fails with one problem at the document level (syntax, size, depth). */
static void
fail_document(const GError *cause, GPtrArray **out_problems, GError **error)
{
    /* json-glib's messages quote the input and may cut it inside a character. */
    g_autofree char *message = g_utf8_make_valid(cause->message, -1);

    if (out_problems != NULL) {
        PodvmSpecProblem *problem = g_new0(PodvmSpecProblem, 1);

        problem->path = g_strdup("");
        problem->message = g_strdup(message);
        *out_problems = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_problem_free);
        g_ptr_array_add(*out_problems, problem);
    }
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, message);
}

/* Sets @error and @out_problems and returns TRUE when @p found problems. */
static gboolean
report_problems(Parser *p, GPtrArray **out_problems, GError **error)
{
    g_autofree char *message = NULL;

    if (p->n_dropped > 0) {
        PodvmSpecProblem *more = g_new0(PodvmSpecProblem, 1);

        more->path = g_strdup("");
        more->message = g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "and %u more problem",
                                                    "and %u more problems", p->n_dropped),
                                        p->n_dropped);
        g_ptr_array_add(p->problems, more);
    }
    if (p->problems->len == 0)
        return FALSE;
    message = problems_to_string(p->problems);
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, message);
    if (out_problems != NULL)
        *out_problems = g_steal_pointer(&p->problems);
    return TRUE;
}

static PodvmSpec *
parse_root(Parser *p, JsonNode *root, GPtrArray **out_problems, GError **error)
{
    g_autoptr(PodvmSpec) spec = NULL;

    if (!node_depth_ok(root, 0)) {
        g_autoptr(GError) cause =
            g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("the document is nested deeper than %d levels"), MAX_DEPTH);
        fail_document(cause, out_problems, error);
        return NULL;
    }

    spec = parse_document(p, root);
    if (report_problems(p, out_problems, error))
        return NULL;
    return g_steal_pointer(&spec);
}

PodvmSpec *
podvm_spec_parse_node(JsonNode *root, GPtrArray **out_problems, GError **error)
{
    g_auto(Parser) p = { 0 };

    g_return_val_if_fail(root != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    parser_init(&p);
    return parse_root(&p, root, out_problems, error);
}

/*
 * The checks made on the text before and by json-glib (size, UTF-8, the scanner, syntax).
 * Returns the root, owned by *@out_json, or NULL after fail_document().
 */
static JsonNode *
load_document(Parser *p, const char *data, gssize length, JsonParser **out_json,
              GPtrArray **out_problems, GError **error)
{
    g_autoptr(JsonParser) json = NULL;
    g_autoptr(GError) local_error = NULL;
    const char *invalid = NULL;
    gsize size;
    JsonNode *root;

    size = length < 0 ? strlen(data) : (gsize)length;
    if (size > MAX_DOCUMENT_SIZE) {
        local_error = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                  _("the document is %" G_GSIZE_FORMAT " bytes long: a pod spec "
                                    "has at most 1 MiB"),
                                  size);
        fail_document(local_error, out_problems, error);
        return NULL;
    }
    if (!g_utf8_validate_len(data, size, &invalid)) {
        local_error =
            g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        *invalid == '\0' ? _("the document contains a NUL byte (at byte %ld)")
                                         : _("the document is not UTF-8 text (at byte %ld)"),
                        (long)(invalid - data));
        fail_document(local_error, out_problems, error);
        return NULL;
    }

    if (!scan(p, data, size, &local_error)) {
        fail_document(local_error, out_problems, error);
        return NULL;
    }

    json = json_parser_new();
    if (!json_parser_load_from_data(json, data, (gssize)size, &local_error)) {
        fail_document(local_error, out_problems, error);
        return NULL;
    }
    root = json_parser_get_root(json);
    if (root == NULL) {
        local_error =
            g_error_new_literal(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, _("the document is empty"));
        fail_document(local_error, out_problems, error);
        return NULL;
    }
    *out_json = g_steal_pointer(&json);
    return root;
}

PodvmSpec *
podvm_spec_parse_data(const char *data, gssize length, GPtrArray **out_problems, GError **error)
{
    g_auto(Parser) p = { 0 };
    g_autoptr(JsonParser) json = NULL;
    JsonNode *root;

    g_return_val_if_fail(data != NULL || length == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    parser_init(&p);
    root = load_document(&p, data, length, &json, out_problems, error);
    if (root == NULL)
        return NULL;
    return parse_root(&p, root, out_problems, error);
}

gboolean
podvm_spec_parse_disk_attachment(const char *data, gssize length, PodvmSpecDisk **out_disk,
                                 PodvmSpecVolume **out_volume, GPtrArray **out_problems,
                                 GError **error)
{
    static const Field fields[] = {
        { "disk", FIELD_KNOWN, NULL },
        { "volume", FIELD_KNOWN, NULL },
    };
    g_auto(Parser) p = { 0 };
    g_autoptr(JsonParser) json = NULL;
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;
    JsonObject *object;
    JsonNode *root;
    JsonNode *child;

    g_return_val_if_fail(data != NULL || length == 0, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    parser_init(&p);
    root = load_document(&p, data, length, &json, out_problems, error);
    if (root == NULL)
        return FALSE;

    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        add_problem(&p, "", _("the document must be a JSON object, got %s"), type_name(root));
    } else {
        object = json_node_get_object(root);
        CHECK_MEMBERS(&p, "", object, fields);

        child = member(object, "disk");
        if (child == NULL)
            add_problem_literal(&p, "disk",
                                _("required: the disk, as an entry of spec.domain.devices.disks"));
        else
            disk = parse_disk(&p, "disk", child);

        child = member(object, "volume");
        if (child == NULL)
            add_problem_literal(&p, "volume",
                                _("required: the volume, as an entry of spec.volumes"));
        else
            volume = parse_volume(&p, "volume", child);

        if (disk != NULL && volume != NULL && disk->name != NULL && volume->name != NULL &&
            strcmp(disk->name, volume->name) != 0) {
            g_autofree char *disk_name = podvm_quote_for_message(disk->name);
            g_autofree char *volume_name = podvm_quote_for_message(volume->name);

            add_problem(&p, "disk.name",
                        _("is %s but the volume is named %s: a disk shows the volume of its "
                          "name"),
                        disk_name, volume_name);
        }
    }

    if (report_problems(&p, out_problems, error))
        return FALSE;
    if (out_disk != NULL)
        *out_disk = g_steal_pointer(&disk);
    if (out_volume != NULL)
        *out_volume = g_steal_pointer(&volume);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Writing */

static void
add_string_member(JsonBuilder *builder, const char *name, const char *value)
{
    json_builder_set_member_name(builder, name);
    json_builder_add_string_value(builder, value);
}

static int
compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys sorted, so the same spec always gives the same text. */
static void
add_map_member(JsonBuilder *builder, const char *name, GHashTable *map)
{
    g_autofree gpointer *keys = NULL;
    guint n_keys = 0;
    guint i;

    if (map == NULL || g_hash_table_size(map) == 0)
        return;
    keys = g_hash_table_get_keys_as_array(map, &n_keys);
    qsort(keys, n_keys, sizeof(gpointer), compare_keys);
    json_builder_set_member_name(builder, name);
    json_builder_begin_object(builder);
    for (i = 0; i < n_keys; i++)
        add_string_member(builder, keys[i], g_hash_table_lookup(map, keys[i]));
    json_builder_end_object(builder);
}

static void
add_strv_member(JsonBuilder *builder, const char *name, GStrv strv)
{
    guint i;

    if (strv == NULL)
        return;
    json_builder_set_member_name(builder, name);
    json_builder_begin_array(builder);
    for (i = 0; strv[i] != NULL; i++)
        json_builder_add_string_value(builder, strv[i]);
    json_builder_end_array(builder);
}

static void
write_disk(JsonBuilder *b, const PodvmSpecDisk *disk)
{
    /* Indexed by PodvmDiskCache. */
    static const char *const caches[] = { NULL, "none", "writethrough", "writeback" };

    json_builder_begin_object(b);
    if (disk->name != NULL)
        add_string_member(b, "name", disk->name);
    json_builder_set_member_name(b, podvm_disk_kind_to_string(disk->kind));
    json_builder_begin_object(b);
    add_string_member(b, "bus", podvm_disk_bus_to_string(disk->bus));
    if (disk->readonly) {
        json_builder_set_member_name(b, "readonly");
        json_builder_add_boolean_value(b, TRUE);
    }
    json_builder_end_object(b);
    if (disk->boot_order != 0) {
        json_builder_set_member_name(b, "bootOrder");
        json_builder_add_int_value(b, disk->boot_order);
    }
    if (disk->serial != NULL)
        add_string_member(b, "serial", disk->serial);
    if ((guint)disk->cache < G_N_ELEMENTS(caches) && caches[disk->cache] != NULL)
        add_string_member(b, "cache", caches[disk->cache]);
    json_builder_end_object(b);
}

static void
add_capacity_member(JsonBuilder *b, guint64 capacity)
{
    g_autofree char *text = NULL;

    if (capacity == 0)
        return;
    text = podvm_quantity_format_bytes(capacity);
    add_string_member(b, "capacity", text);
}

static void
add_claim_members(JsonBuilder *b, const PodvmSpecVolume *volume)
{
    if (volume->claim_name != NULL)
        add_string_member(b, "claimName", volume->claim_name);
    if (volume->readonly) {
        json_builder_set_member_name(b, "readOnly");
        json_builder_add_boolean_value(b, TRUE);
    }
}

static void
write_volume(JsonBuilder *b, const PodvmSpecVolume *volume)
{
    json_builder_begin_object(b);
    if (volume->name != NULL)
        add_string_member(b, "name", volume->name);
    json_builder_set_member_name(b, podvm_volume_source_to_string(volume->source));
    json_builder_begin_object(b);
    switch (volume->source) {
    case PODVM_VOLUME_HOST_DISK:
        if (volume->path != NULL)
            add_string_member(b, "path", volume->path);
        add_string_member(b, "type", volume->create ? "DiskOrCreate" : "Disk");
        add_capacity_member(b, volume->capacity);
        break;
    case PODVM_VOLUME_EMPTY_DISK:
        add_capacity_member(b, volume->capacity);
        break;
    case PODVM_VOLUME_EPHEMERAL:
        if (volume->claim_name != NULL) {
            json_builder_set_member_name(b, "persistentVolumeClaim");
            json_builder_begin_object(b);
            add_claim_members(b, volume);
            json_builder_end_object(b);
        } else if (volume->path != NULL) {
            add_string_member(b, "image", volume->path);
        }
        break;
    case PODVM_VOLUME_CONTAINER_DISK:
        if (volume->image != NULL)
            add_string_member(b, "image", volume->image);
        if (volume->image_path != NULL)
            add_string_member(b, "path", volume->image_path);
        break;
    case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
    case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
        if (volume->user_data != NULL && volume->user_data_was_base64) {
            g_autofree char *encoded =
                g_base64_encode((const guchar *)volume->user_data, strlen(volume->user_data));
            add_string_member(b, "userDataBase64", encoded);
        } else if (volume->user_data != NULL) {
            add_string_member(b, "userData", volume->user_data);
        }
        if (volume->meta_data != NULL && volume->source == PODVM_VOLUME_CLOUD_INIT_NOCLOUD)
            add_string_member(b, "metaData", volume->meta_data);
        if (volume->network_data != NULL)
            add_string_member(b, "networkData", volume->network_data);
        break;
    case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
        add_claim_members(b, volume);
        break;
    case PODVM_VOLUME_DATA_VOLUME:
        if (volume->claim_name != NULL)
            add_string_member(b, "name", volume->claim_name);
        break;
    default:
        break;
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
}

JsonNode *
podvm_spec_disk_to_json(const PodvmSpecDisk *disk)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(disk != NULL, NULL);

    write_disk(b, disk);
    return json_builder_get_root(b);
}

JsonNode *
podvm_spec_volume_to_json(const PodvmSpecVolume *volume)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(volume != NULL, NULL);

    write_volume(b, volume);
    return json_builder_get_root(b);
}

static void
write_domain(JsonBuilder *b, const PodvmSpec *spec)
{
    json_builder_set_member_name(b, "domain");
    json_builder_begin_object(b);

    if (spec->memory != 0) {
        g_autofree char *memory = podvm_quantity_format_bytes(spec->memory);

        json_builder_set_member_name(b, "resources");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "requests");
        json_builder_begin_object(b);
        add_string_member(b, "memory", memory);
        json_builder_end_object(b);
        json_builder_end_object(b);
    }

    if (spec->cpu_cores != 0 || spec->cpu_sockets != 0 || spec->cpu_threads != 0 ||
        spec->cpu_model != NULL) {
        json_builder_set_member_name(b, "cpu");
        json_builder_begin_object(b);
        if (spec->cpu_cores != 0) {
            json_builder_set_member_name(b, "cores");
            json_builder_add_int_value(b, spec->cpu_cores);
        }
        if (spec->cpu_sockets != 0) {
            json_builder_set_member_name(b, "sockets");
            json_builder_add_int_value(b, spec->cpu_sockets);
        }
        if (spec->cpu_threads != 0) {
            json_builder_set_member_name(b, "threads");
            json_builder_add_int_value(b, spec->cpu_threads);
        }
        if (spec->cpu_model != NULL)
            add_string_member(b, "model", spec->cpu_model);
        json_builder_end_object(b);
    }

    if (spec->machine_type != NULL) {
        json_builder_set_member_name(b, "machine");
        json_builder_begin_object(b);
        add_string_member(b, "type", spec->machine_type);
        json_builder_end_object(b);
    }

    if (spec->kernel_path != NULL || spec->firmware_uuid != NULL || spec->firmware_serial != NULL) {
        json_builder_set_member_name(b, "firmware");
        json_builder_begin_object(b);
        if (spec->kernel_path != NULL) {
            json_builder_set_member_name(b, "kernelBoot");
            json_builder_begin_object(b);
            add_string_member(b, "kernelPath", spec->kernel_path);
            if (spec->initrd_path != NULL)
                add_string_member(b, "initrdPath", spec->initrd_path);
            if (spec->kernel_args != NULL)
                add_string_member(b, "kernelArgs", spec->kernel_args);
            json_builder_end_object(b);
        }
        if (spec->firmware_uuid != NULL)
            add_string_member(b, "uuid", spec->firmware_uuid);
        if (spec->firmware_serial != NULL)
            add_string_member(b, "serial", spec->firmware_serial);
        json_builder_end_object(b);
    }

    json_builder_set_member_name(b, "devices");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "autoattachSerialConsole");
    json_builder_add_boolean_value(b, spec->autoattach_serial_console);
    if (spec->disks != NULL && spec->disks->len > 0) {
        guint i;

        json_builder_set_member_name(b, "disks");
        json_builder_begin_array(b);
        for (i = 0; i < spec->disks->len; i++)
            write_disk(b, g_ptr_array_index(spec->disks, i));
        json_builder_end_array(b);
    }
    if (spec->rng) {
        json_builder_set_member_name(b, "rng");
        json_builder_begin_object(b);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);

    json_builder_end_object(b);
}

static void
write_app(JsonBuilder *b, const PodvmSpecApp *app)
{
    guint i;

    json_builder_begin_object(b);
    if (app->name != NULL)
        add_string_member(b, "name", app->name);
    if (app->image != NULL)
        add_string_member(b, "image", app->image);
    add_strv_member(b, "command", app->command);
    add_strv_member(b, "args", app->args);
    if (app->env != NULL && app->env->len > 0) {
        json_builder_set_member_name(b, "env");
        json_builder_begin_array(b);
        for (i = 0; i < app->env->len; i++) {
            const PodvmSpecEnvVar *var = g_ptr_array_index(app->env, i);

            json_builder_begin_object(b);
            add_string_member(b, "name", var->name);
            add_string_member(b, "value", var->value != NULL ? var->value : "");
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    if (app->working_dir != NULL)
        add_string_member(b, "workingDir", app->working_dir);
    if (app->memory != 0) {
        g_autofree char *memory = podvm_quantity_format_bytes(app->memory);
        add_string_member(b, "memory", memory);
    }
    if (app->millicpus != 0) {
        g_autofree char *cpus = podvm_quantity_format_millicpus(app->millicpus);
        add_string_member(b, "cpus", cpus);
    }
    json_builder_end_object(b);
}

JsonNode *
podvm_spec_to_json(const PodvmSpec *spec)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    json_builder_begin_object(b);
    add_string_member(b, "apiVersion", API_PODVM_V1);
    add_string_member(b, "kind", KIND_POD);

    json_builder_set_member_name(b, "metadata");
    json_builder_begin_object(b);
    if (spec->name != NULL)
        add_string_member(b, "name", spec->name);
    if (spec->uid != NULL)
        add_string_member(b, "uid", spec->uid);
    add_map_member(b, "labels", spec->labels);
    add_map_member(b, "annotations", spec->annotations);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "spec");
    json_builder_begin_object(b);
    write_domain(b, spec);
    if (spec->apps != NULL && spec->apps->len > 0) {
        json_builder_set_member_name(b, "apps");
        json_builder_begin_array(b);
        for (i = 0; i < spec->apps->len; i++)
            write_app(b, g_ptr_array_index(spec->apps, i));
        json_builder_end_array(b);
    }
    if (spec->volumes != NULL && spec->volumes->len > 0) {
        json_builder_set_member_name(b, "volumes");
        json_builder_begin_array(b);
        for (i = 0; i < spec->volumes->len; i++)
            write_volume(b, g_ptr_array_index(spec->volumes, i));
        json_builder_end_array(b);
    }
    json_builder_set_member_name(b, "terminationGracePeriodSeconds");
    json_builder_add_int_value(b, spec->termination_grace_period_seconds);
    add_string_member(b, "restartPolicy", podvm_restart_policy_to_string(spec->restart_policy));
    if (spec->hostname != NULL)
        add_string_member(b, "hostname", spec->hostname);
    json_builder_end_object(b);

    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* ------------------------------------------------------------------------ */
/* The apps rule */

static guint64
add_saturated(guint64 a, guint64 b)
{
    return a > G_MAXUINT64 - b ? G_MAXUINT64 : a + b;
}

guint64
podvm_spec_resolve_memory(const PodvmSpec *spec)
{
    guint64 total = PODVM_SPEC_SYSTEM_MEMORY;
    guint i;

    g_return_val_if_fail(spec != NULL, PODVM_SPEC_SYSTEM_MEMORY);

    if (spec->memory != 0)
        return spec->memory;
    for (i = 0; spec->apps != NULL && i < spec->apps->len; i++) {
        const PodvmSpecApp *app = g_ptr_array_index(spec->apps, i);

        total =
            add_saturated(total, app->memory != 0 ? app->memory : PODVM_SPEC_DEFAULT_APP_MEMORY);
    }
    return total;
}

guint
podvm_spec_resolve_vcpus(const PodvmSpec *spec, guint host_cpus)
{
    guint64 millicpus = 0;
    guint64 cpus;
    guint i;

    g_return_val_if_fail(spec != NULL, MAX(host_cpus, 1));

    if (spec->cpu_cores != 0 || spec->cpu_sockets != 0 || spec->cpu_threads != 0) {
        guint64 product = (guint64)MAX(spec->cpu_cores, 1) * MAX(spec->cpu_sockets, 1) *
                          MAX(spec->cpu_threads, 1);

        return (guint)MIN(product, G_MAXUINT);
    }
    if (spec->apps == NULL || spec->apps->len == 0)
        return MAX(host_cpus, 1);
    for (i = 0; i < spec->apps->len; i++) {
        const PodvmSpecApp *app = g_ptr_array_index(spec->apps, i);

        if (app->millicpus == 0)
            return MAX(host_cpus, 1);
        millicpus = add_saturated(millicpus, app->millicpus);
    }
    cpus = millicpus / 1000 + (millicpus % 1000 != 0 ? 1 : 0);
    return (guint)CLAMP(cpus, 1, G_MAXUINT);
}

static char *
hidden_placeholder(const char *text)
{
    return g_strdup_printf(PODVM_SPEC_HIDDEN_PREFIX "%zu bytes; GET /v1/pods/NAME?secrets=true "
                                                    "shows them)",
                           strlen(text));
}

JsonNode *
podvm_spec_to_json_redacted(const PodvmSpec *spec)
{
    g_autoptr(PodvmSpec) copy = podvm_spec_copy(spec);

    for (guint i = 0; i < copy->volumes->len; i++) {
        PodvmSpecVolume *volume = g_ptr_array_index(copy->volumes, i);
        char **texts[] = { &volume->user_data, &volume->network_data, &volume->meta_data };

        if (volume->source != PODVM_VOLUME_CLOUD_INIT_NOCLOUD &&
            volume->source != PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE)
            continue;
        for (gsize j = 0; j < G_N_ELEMENTS(texts); j++) {
            if (*texts[j] != NULL) {
                char *hidden = hidden_placeholder(*texts[j]);
                g_free(*texts[j]);
                *texts[j] = hidden;
            }
        }
        volume->user_data_was_base64 = FALSE;
    }
    return podvm_spec_to_json(copy);
}
