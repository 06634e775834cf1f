/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * data/openapi.yaml describes exactly the routes the REST front registers:
 * every (method, path) of the route table is in the document and every one
 * in the document is in the table. The YAML is read simply: under "paths:",
 * "  /path:" lines and "    method:" lines below them.
 */
#include <stdlib.h>
#include <string.h>

#include "podvm-rest-front.h"

static const char *const http_methods[] = { "get",   "put",  "post",   "delete",
                                            "patch", "head", "options" };

/* "GET /v1/pods" for every operation in the document's paths. */
static GPtrArray *
document_operations(const char *text)
{
    g_autoptr(GPtrArray) operations = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *path = NULL;
    gboolean in_paths = FALSE;

    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];
        gsize length = strlen(line);

        if (g_str_equal(line, "paths:")) {
            in_paths = TRUE;
            continue;
        }
        if (!in_paths || length == 0 || line[0] == '#')
            continue;
        if (line[0] != ' ')
            break; /* the next top-level key */
        if (g_str_has_prefix(line, "  /") && line[length - 1] == ':') {
            g_free(path);
            path = g_strndup(line + 2, length - 3);
            continue;
        }
        if (path == NULL || !g_str_has_prefix(line, "    ") || line[4] == ' ')
            continue;
        for (gsize m = 0; m < G_N_ELEMENTS(http_methods); m++) {
            g_autofree char *key = g_strconcat("    ", http_methods[m], ":", NULL);
            if (g_str_equal(line, key)) {
                g_autofree char *upper = g_ascii_strup(http_methods[m], -1);
                g_ptr_array_add(operations, g_strdup_printf("%s %s", upper, path));
            }
        }
    }
    return g_steal_pointer(&operations);
}

/* strcmp for qsort and g_ptr_array_sort over char* elements. */
static int
strcmp_indirect(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static gboolean
contains(GPtrArray *array, const char *text)
{
    return g_ptr_array_find_with_equal_func(array, text, g_str_equal, NULL);
}

static void
test_routes_match_document(void)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "data", "openapi.yaml", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) documented = NULL;
    g_autoptr(GPtrArray) registered = g_ptr_array_new_with_free_func(g_free);
    const PodvmRestRoute *routes;
    gsize n_routes = 0;

    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    documented = document_operations(text);
    g_assert_cmpuint(documented->len, >, 0);

    routes = podvm_rest_front_get_routes(&n_routes);
    g_assert_cmpuint(n_routes, >, 0);
    for (gsize i = 0; i < n_routes; i++) {
        g_assert_nonnull(routes[i].handler);
        g_ptr_array_add(registered, g_strdup_printf("%s %s", routes[i].method, routes[i].pattern));
    }

    for (guint i = 0; i < registered->len; i++) {
        const char *operation = g_ptr_array_index(registered, i);
        if (!contains(documented, operation))
            g_test_message("registered but not in openapi.yaml: %s", operation);
        g_assert_true(contains(documented, operation));
    }
    for (guint i = 0; i < documented->len; i++) {
        const char *operation = g_ptr_array_index(documented, i);
        if (!contains(registered, operation))
            g_test_message("in openapi.yaml but not registered: %s", operation);
        g_assert_true(contains(registered, operation));
    }
    g_assert_cmpuint(documented->len, ==, registered->len);
}

/*
 * "GET /v1/pods" -> "labelSelector" (the query parameters of each operation,
 * sorted, comma-separated): "- name: X" with "in: query" under the
 * operation, or "- $ref: '#/components/parameters/P'" whose component is a
 * query parameter.
 */
static GHashTable *
document_query_parameters(const char *text)
{
    g_autoptr(GHashTable) components =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GHashTable) lists =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    g_autoptr(GHashTable) path_lists =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    GHashTable *answer = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *path = NULL;
    g_autofree char *operation = NULL;
    g_autofree char *component = NULL;
    g_autofree char *pending = NULL; /* a "- name:" waiting for its "in:" */
    gboolean in_paths = FALSE, in_component_parameters = FALSE;
    GHashTableIter iter;
    gpointer key, value;

    /* components.parameters first: NAME -> its query parameter's name. */
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];

        if (g_str_equal(line, "  parameters:")) {
            in_component_parameters = TRUE;
            continue;
        }
        if (in_component_parameters && g_str_has_prefix(line, "  ") && line[2] != ' ')
            in_component_parameters = FALSE;
        if (!in_component_parameters)
            continue;
        if (g_str_has_prefix(line, "    ") && line[4] != ' ' && g_str_has_suffix(line, ":")) {
            g_free(component);
            component = g_strndup(line + 4, strlen(line) - 5);
        } else if (component != NULL && g_str_has_prefix(line, "      name: ")) {
            g_free(pending);
            pending = g_strdup(line + strlen("      name: "));
        } else if (component != NULL && pending != NULL && g_str_equal(line, "      in: query")) {
            g_hash_table_insert(components, g_strdup(component), g_steal_pointer(&pending));
        }
    }
    g_clear_pointer(&pending, g_free);
    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];
        gsize length = strlen(line);

        if (g_str_equal(line, "paths:")) {
            in_paths = TRUE;
            continue;
        }
        if (!in_paths || length == 0 || line[0] == '#')
            continue;
        if (line[0] != ' ')
            break;
        if (g_str_has_prefix(line, "  /") && line[length - 1] == ':') {
            g_free(path);
            path = g_strndup(line + 2, length - 3);
            g_clear_pointer(&operation, g_free);
            continue;
        }
        if (path != NULL && g_str_has_prefix(line, "    ") && line[4] != ' ' &&
            line[length - 1] == ':' && !g_str_equal(line, "    parameters:")) {
            g_autofree char *method = g_ascii_strup(line + 4, (gssize)length - 5);

            g_free(operation);
            operation = g_strdup_printf("%s %s", method, path);
            g_hash_table_insert(lists, g_strdup(operation), g_ptr_array_new_with_free_func(g_free));
            continue;
        }
        if (path != NULL && operation == NULL) {
            /* The path's own parameters, for each of its operations. */
            GPtrArray *shared = g_hash_table_lookup(path_lists, path);

            if (shared == NULL) {
                shared = g_ptr_array_new_with_free_func(g_free);
                g_hash_table_insert(path_lists, g_strdup(path), shared);
            }
            if (g_str_has_prefix(line, "      - name: ")) {
                g_free(pending);
                pending = g_strdup(line + strlen("      - name: "));
            } else if (pending != NULL && g_str_equal(line, "        in: query")) {
                g_ptr_array_add(shared, g_steal_pointer(&pending));
            } else if (g_str_has_prefix(line, "      - $ref: \"#/components/parameters/")) {
                g_autofree char *name =
                    g_strndup(line + strlen("      - $ref: \"#/components/parameters/"),
                              length - strlen("      - $ref: \"#/components/parameters/") - 1);
                const char *query = g_hash_table_lookup(components, name);

                if (query != NULL)
                    g_ptr_array_add(shared, g_strdup(query));
            }
            continue;
        }
        if (operation == NULL)
            continue;
        if (g_str_has_prefix(line, "        - name: ")) {
            g_free(pending);
            pending = g_strdup(line + strlen("        - name: "));
        } else if (pending != NULL && g_str_equal(line, "          in: query")) {
            g_ptr_array_add(g_hash_table_lookup(lists, operation), g_steal_pointer(&pending));
        } else if (g_str_has_prefix(line, "        - $ref: \"#/components/parameters/")) {
            g_autofree char *name =
                g_strndup(line + strlen("        - $ref: \"#/components/parameters/"),
                          length - strlen("        - $ref: \"#/components/parameters/") - 1);
            const char *query = g_hash_table_lookup(components, name);

            if (query != NULL)
                g_ptr_array_add(g_hash_table_lookup(lists, operation), g_strdup(query));
        }
    }
    g_hash_table_iter_init(&iter, lists);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        GPtrArray *names = value;
        GPtrArray *shared = g_hash_table_lookup(path_lists, strchr(key, ' ') + 1);

        for (guint i = 0; shared != NULL && i < shared->len; i++)
            g_ptr_array_add(names, g_strdup(g_ptr_array_index(shared, i)));

        g_ptr_array_sort(names, (GCompareFunc)strcmp_indirect);
        g_ptr_array_add(names, NULL);
        g_hash_table_insert(answer, g_strdup(key), g_strjoinv(",", (char **)names->pdata));
    }
    return answer;
}

/* Every route declares exactly the query parameters openapi.yaml documents for it. */
static void
test_query_parameters_match_document(void)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "data", "openapi.yaml", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) documented = NULL;
    const PodvmRestRoute *routes;
    gsize n_routes = 0;

    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    documented = document_query_parameters(text);
    routes = podvm_rest_front_get_routes(&n_routes);
    for (gsize i = 0; i < n_routes; i++) {
        g_autofree char *operation = g_strdup_printf("%s %s", routes[i].method, routes[i].pattern);
        g_auto(GStrv) declared =
            g_strsplit(routes[i].query != NULL ? routes[i].query : "", ",", -1);
        g_autofree char *sorted = NULL;
        const char *in_document = g_hash_table_lookup(documented, operation);

        qsort(declared, g_strv_length(declared), sizeof *declared,
              (int (*)(const void *, const void *))strcmp_indirect);
        sorted = g_strjoinv(",", declared);
        g_test_message("%s: route %s, openapi.yaml %s", operation, sorted, in_document);
        g_assert_nonnull(in_document);
        g_assert_cmpstr(sorted, ==, in_document);
    }
}

/* The reader itself: a path line, methods under it, nested keys ignored. */
static void
test_reader(void)
{
    g_autoptr(GPtrArray) operations = document_operations("openapi: 3.0.3\n"
                                                          "paths:\n"
                                                          "  /a/{name}:\n"
                                                          "    parameters:\n"
                                                          "      - name: x\n"
                                                          "    get:\n"
                                                          "      responses:\n"
                                                          "        get:\n"
                                                          "    delete:\n"
                                                          "  /b:\n"
                                                          "    post:\n"
                                                          "components:\n"
                                                          "  /c:\n"
                                                          "    get:\n");

    g_assert_cmpuint(operations->len, ==, 3);
    g_assert_cmpstr(g_ptr_array_index(operations, 0), ==, "GET /a/{name}");
    g_assert_cmpstr(g_ptr_array_index(operations, 1), ==, "DELETE /a/{name}");
    g_assert_cmpstr(g_ptr_array_index(operations, 2), ==, "POST /b");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/rest/openapi/reader", test_reader);
    g_test_add_func("/podvm/rest/openapi/routes", test_routes_match_document);
    g_test_add_func("/podvm/rest/openapi/query-parameters", test_query_parameters_match_document);
    return g_test_run();
}
