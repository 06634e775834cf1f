/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * data/openapi.yaml describes exactly the routes the REST front registers:
 * every (method, path) of the route table is in the document and every one
 * in the document is in the table. The YAML is read simply: under "paths:",
 * "  /path:" lines and "    method:" lines below them.
 */
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
    return g_test_run();
}
