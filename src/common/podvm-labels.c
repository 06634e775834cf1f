/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-labels.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

GHashTable *
podvm_label_selector_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

gboolean
podvm_label_selector_add(GHashTable *selector, const char *text, GError **error)
{
    g_auto(GStrv) terms = g_strsplit(text, ",", -1);

    for (guint i = 0; terms[i] != NULL; i++) {
        char *term = g_strstrip(terms[i]);
        char *equals = strchr(term, '=');

        if (term[0] == '\0' || term[0] == '=') {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("bad label selector '%s'; expected KEY=VALUE or KEY, separated by "
                          "commas"),
                        text);
            return FALSE;
        }
        if (equals != NULL)
            *equals = '\0';
        g_hash_table_insert(selector, g_strdup(term), equals != NULL ? g_strdup(equals + 1) : NULL);
    }
    return TRUE;
}

GHashTable *
podvm_label_selector_parse(const char *text, GError **error)
{
    g_autoptr(GHashTable) selector = podvm_label_selector_new();

    if (!podvm_label_selector_add(selector, text, error))
        return NULL;
    return g_steal_pointer(&selector);
}

typedef gboolean (*LabelLookup)(gconstpointer labels, const char *key, const char **out_value);

static gboolean
matches(GHashTable *selector, LabelLookup lookup, gconstpointer labels)
{
    GHashTableIter iter;
    gpointer key, value;

    if (selector == NULL)
        return TRUE;
    g_hash_table_iter_init(&iter, selector);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        const char *have = NULL;

        if (!lookup(labels, key, &have))
            return FALSE;
        if (value != NULL && g_strcmp0(have, value) != 0)
            return FALSE;
    }
    return TRUE;
}

static gboolean
lookup_table(gconstpointer labels, const char *key, const char **out_value)
{
    return labels != NULL &&
           g_hash_table_lookup_extended((GHashTable *)labels, key, NULL, (gpointer *)out_value);
}

static gboolean
lookup_json(gconstpointer labels, const char *key, const char **out_value)
{
    JsonNode *node = labels != NULL ? json_object_get_member((JsonObject *)labels, key) : NULL;

    if (node == NULL)
        return FALSE;
    *out_value = JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
                     ? json_node_get_string(node)
                     : NULL;
    return TRUE;
}

gboolean
podvm_label_selector_matches(GHashTable *selector, GHashTable *labels)
{
    return matches(selector, lookup_table, labels);
}

gboolean
podvm_label_selector_matches_json(GHashTable *selector, JsonObject *labels)
{
    return matches(selector, lookup_json, labels);
}
