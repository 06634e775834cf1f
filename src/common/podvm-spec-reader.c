/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The reader kit of the spec parser: problems recorded with their JSON
 * paths, the check of an object's members against its known fields, typed
 * readers, names, and named lists with the joins between them.
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-quantity.h"

/* ------------------------------------------------------------------------ */
/* Problems */

void
podvm_spec_problem_free(PodvmSpecProblem *problem)
{
    if (problem == NULL)
        return;
    g_free(problem->path);
    g_free(problem->message);
    g_free(problem);
}

void
spec_add_problem_literal(Parser *p, const char *path, const char *message)
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

void
spec_add_problem(Parser *p, const char *path, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    spec_add_problem_literal(p, path, message);
}

char *
spec_problems_to_string(GPtrArray *problems)
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

char *
spec_path_member(const char *parent, const char *key)
{
    if (parent == NULL || *parent == '\0')
        return g_strdup(key);
    return g_strdup_printf("%s.%s", parent, key);
}

char *
spec_path_index(const char *parent, guint index)
{
    return g_strdup_printf("%s[%u]", parent, index);
}

/* ------------------------------------------------------------------------ */
/* Fields and typed readers */

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
void
spec_check_members(Parser *p, const char *path, JsonObject *object, const Field *fields,
                   gsize n_fields)
{
    JsonObjectIter iter;
    const char *name;
    JsonNode *node;

    json_object_iter_init_ordered(&iter, object);
    while (json_object_iter_next_ordered(&iter, &name, &node)) {
        g_autofree char *member_path = spec_path_member(path, name);
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
            spec_add_problem_literal(p, member_path, _("unknown field"));
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
            spec_add_problem(p, member_path, "%s; %s", message, _(field->hint));
        else
            spec_add_problem_literal(p, member_path, message);
    }
}

/* The member @name of @object; NULL when absent or null. */
JsonNode *
spec_member(JsonObject *object, const char *name)
{
    JsonNode *node;

    if (object == NULL)
        return NULL;
    node = json_object_get_member(object, name);
    if (node != NULL && JSON_NODE_HOLDS_NULL(node))
        return NULL;
    return node;
}

const char *
spec_type_name(JsonNode *node)
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
    spec_add_problem(p, path, _("expected %s, got %s"), expected, spec_type_name(node));
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

JsonObject *
spec_read_object(Parser *p, const char *path, JsonNode *node)
{
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        type_problem(p, path, _("an object"), node);
        return NULL;
    }
    return json_node_get_object(node);
}

JsonArray *
spec_read_array(Parser *p, const char *path, JsonNode *node)
{
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        type_problem(p, path, _("an array"), node);
        return NULL;
    }
    return json_node_get_array(node);
}

const char *
spec_read_string(Parser *p, const char *path, JsonNode *node)
{
    if (!node_is_string(node)) {
        type_problem(p, path, _("a string"), node);
        return NULL;
    }
    return json_node_get_string(node);
}

gboolean
spec_read_bool(Parser *p, const char *path, JsonNode *node, gboolean *out)
{
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        type_problem(p, path, _("a boolean"), node);
        return FALSE;
    }
    *out = json_node_get_boolean(node);
    return TRUE;
}

/* A whole number in [min, max]; 3.0 and 1e2 count as whole numbers. */
gboolean
spec_read_integer(Parser *p, const char *path, JsonNode *node, gint64 min, gint64 max,
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
            spec_add_problem_literal(p, path, range_message);
            return FALSE;
        }
        value = (gint64)d;
    }
    if (value < min || value > max) {
        spec_add_problem_literal(p, path, range_message);
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
        spec_add_problem_literal(p, path, error->message);
        return FALSE;
    }
    if (value == 0) {
        spec_add_problem_literal(p, path, _("must be more than 0"));
        return FALSE;
    }
    *out = value;
    return TRUE;
}

gboolean
spec_read_bytes(Parser *p, const char *path, JsonNode *node, guint64 *out)
{
    return read_positive_quantity(p, path, node, podvm_quantity_parse_size, out);
}

gboolean
spec_read_millicpus(Parser *p, const char *path, JsonNode *node, guint64 *out)
{
    return read_positive_quantity(p, path, node, podvm_quantity_parse_millicpus, out);
}

GStrv
spec_read_string_array(Parser *p, const char *path, JsonNode *node)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    JsonArray *array = spec_read_array(p, path, node);
    gboolean ok = TRUE;
    guint i;

    if (array == NULL)
        return NULL;
    for (i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *item_path = spec_path_index(path, i);
        const char *value = spec_read_string(p, item_path, json_array_get_element(array, i));

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
void
spec_read_string_map(Parser *p, const char *path, JsonNode *node, GHashTable *into,
                     gboolean overwrite)
{
    JsonObject *object = spec_read_object(p, path, node);
    JsonObjectIter iter;
    const char *key;
    JsonNode *value;

    if (object == NULL)
        return;
    json_object_iter_init_ordered(&iter, object);
    while (json_object_iter_next_ordered(&iter, &key, &value)) {
        g_autofree char *value_path = spec_path_member(path, key);
        const char *text;

        if (*key == '\0') {
            spec_add_problem_literal(p, path, _("a key is empty: keys have 1 to 253 characters"));
            continue;
        }
        if (strlen(key) > MAX_MAP_KEY_LENGTH) {
            g_autofree char *quoted = podvm_quote_for_message(key);
            spec_add_problem(p, path, _("the key %s is longer than %d characters"), quoted,
                             MAX_MAP_KEY_LENGTH);
            continue;
        }
        text = spec_read_string(p, value_path, value);
        if (text == NULL)
            continue;
        if (overwrite || !g_hash_table_contains(into, key))
            g_hash_table_replace(into, g_strdup(key), g_strdup(text));
    }
}

gboolean
spec_matches_charset(const char *text, const char *extra, gboolean upper)
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

gboolean
spec_has_control_character(const char *text, gboolean allow_tab)
{
    const guchar *c;

    for (c = (const guchar *)text; *c != '\0'; c++) {
        if ((*c < 0x20 && !(allow_tab && *c == '\t')) || *c == 0x7f)
            return TRUE;
    }
    return FALSE;
}

gboolean
spec_refuse_hidden(Parser *p, const char *path, const char *text)
{
    if (text == NULL || !g_str_has_prefix(text, PODVM_SPEC_HIDDEN_PREFIX))
        return FALSE;
    spec_add_problem_literal(p, path,
                             _("is the placeholder an answer shows instead of the value; send the "
                               "value itself (GET /v1/pods/NAME?secrets=true shows it to admins)"));
    return TRUE;
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
    if (!spec_matches_charset(name, "-", FALSE)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s is not a valid name: %s"), quoted, _(rule));
        return FALSE;
    }
    return TRUE;
}

char *
spec_read_name(Parser *p, const char *path, JsonNode *node)
{
    g_autoptr(GError) error = NULL;
    const char *name = spec_read_string(p, path, node);

    if (name == NULL)
        return NULL;
    if (!podvm_name_is_valid(name, &error)) {
        spec_add_problem_literal(p, path, error->message);
        return NULL;
    }
    return g_strdup(name);
}

char *
spec_read_required_name(Parser *p, const char *path, JsonObject *object, const char *missing)
{
    g_autofree char *name_path = spec_path_member(path, "name");
    JsonNode *child = spec_member(object, "name");

    if (child == NULL) {
        spec_add_problem_literal(p, name_path, missing);
        return NULL;
    }
    return spec_read_name(p, name_path, child);
}

gboolean
spec_parse_enum(const char *text, const char *const *names, gsize n_names, guint *out)
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

/* ------------------------------------------------------------------------ */
/* Named lists and the joins between them */

gboolean
spec_read_named_list(Parser *p, const char *path, JsonNode *node, const SpecNamedListKind *kind,
                     gpointer user_data, SpecNamedList *list)
{
    JsonArray *array = spec_read_array(p, path, node);
    guint length;
    guint i;

    if (list->entries == NULL) {
        list->entries = g_array_new(FALSE, FALSE, sizeof(SpecNamedEntry));
        list->names = g_hash_table_new(g_str_hash, g_str_equal);
    }
    if (array == NULL) {
        list->given = TRUE;
        list->unreadable = TRUE;
        return FALSE;
    }
    length = json_array_get_length(array);
    list->given = length > 0;
    if (kind->max_items != 0 && length > kind->max_items)
        kind->too_many(p, path, length, kind->max_items);

    for (i = 0; i < length; i++) {
        g_autofree char *item_path = spec_path_index(path, i);
        SpecNamedEntry entry = { NULL, NULL, i };

        entry.item = kind->read(p, item_path, json_array_get_element(array, i));
        if (entry.item == NULL)
            continue;
        entry.name = kind->name(entry.item);
        g_array_append_val(list->entries, entry);

        if (entry.name != NULL && g_hash_table_contains(list->names, entry.name)) {
            g_autofree char *name_path = spec_path_member(item_path, "name");
            g_autofree char *quoted = podvm_quote_for_message(entry.name);

            kind->duplicate(p, name_path, quoted, NULL);
        } else if (entry.name != NULL) {
            g_hash_table_insert(list->names, (gpointer)entry.name,
                                GUINT_TO_POINTER(list->entries->len));
        }
        kind->take(p, item_path, entry.item, user_data);
    }
    return TRUE;
}

void
spec_named_list_clear(SpecNamedList *list)
{
    g_clear_pointer(&list->entries, g_array_unref);
    g_clear_pointer(&list->names, g_hash_table_unref);
}

const SpecNamedEntry *
spec_named_list_lookup(const SpecNamedList *list, const char *name)
{
    guint position;

    if (list->names == NULL || name == NULL)
        return NULL;
    position = GPOINTER_TO_UINT(g_hash_table_lookup(list->names, name));
    if (position == 0)
        return NULL;
    return &g_array_index(list->entries, SpecNamedEntry, position - 1);
}

static void
report_at_name(Parser *p, const char *list_path, const SpecNamedEntry *entry,
               SpecNamedProblem report, const char *other_path)
{
    g_autofree char *item_path = spec_path_index(list_path, entry->index);
    g_autofree char *name_path = spec_path_member(item_path, "name");
    g_autofree char *quoted = podvm_quote_for_message(entry->name);

    report(p, name_path, quoted, other_path);
}

void
spec_join_named_lists(Parser *p, const char *from_path, const SpecNamedList *from,
                      const char *to_path, const SpecNamedList *to, SpecNamedProblem missing,
                      SpecNamedProblem unused)
{
    g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
    guint i;

    if (from->unreadable || to->unreadable)
        return;

    for (i = 0; from->entries != NULL && i < from->entries->len; i++) {
        const SpecNamedEntry *entry = &g_array_index(from->entries, SpecNamedEntry, i);

        /* A second item of the same name was reported already. */
        if (entry->name == NULL || g_hash_table_contains(used, entry->name))
            continue;
        if (spec_named_list_lookup(to, entry->name) == NULL)
            report_at_name(p, from_path, entry, missing, to_path);
        g_hash_table_add(used, (gpointer)entry->name);
    }

    for (i = 0; unused != NULL && to->entries != NULL && i < to->entries->len; i++) {
        const SpecNamedEntry *entry = &g_array_index(to->entries, SpecNamedEntry, i);

        if (entry->name != NULL && !g_hash_table_contains(used, entry->name))
            report_at_name(p, to_path, entry, unused, from_path);
    }
}
