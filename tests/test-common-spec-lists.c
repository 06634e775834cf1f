/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spec reader's named lists and joins (podvm-spec-private.h), on their
 * own: disks and volumes, interfaces and networks use them.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <string.h>

#include "podvm-spec-private.h"

typedef struct {
    char *name;
} Item;

static void
item_free(Item *item)
{
    g_free(item->name);
    g_free(item);
}

/* {"name": ...}; anything but an object is not an item. */
static gpointer
read_item(Parser *p, const char *path, JsonNode *node)
{
    JsonObject *object = spec_read_object(p, path, node);
    Item *item;
    JsonNode *name;

    if (object == NULL)
        return NULL;
    item = g_new0(Item, 1);
    name = spec_member(object, "name");
    if (name != NULL) {
        g_autofree char *name_path = spec_path_member(path, "name");
        item->name = spec_read_name(p, name_path, name);
    }
    return item;
}

static const char *
item_name(gconstpointer item)
{
    return ((const Item *)item)->name;
}

static void
take_item(Parser *p, const char *item_path, gpointer item, gpointer user_data)
{
    g_ptr_array_add(user_data, item);
}

static void
too_many(Parser *p, const char *path, guint length, guint max_items)
{
    spec_add_problem(p, path, "%u items, at most %u", length, max_items);
}

static void
duplicate(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    g_assert_null(other_path);
    spec_add_problem(p, name_path, "%s again", quoted);
}

static void
missing(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    spec_add_problem(p, name_path, "%s is not in %s", quoted, other_path);
}

static void
unused(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    spec_add_problem(p, name_path, "%s is not used by %s", quoted, other_path);
}

static const SpecNamedListKind kind = {
    .read = read_item,
    .name = item_name,
    .take = take_item,
    .max_items = 4,
    .too_many = too_many,
    .duplicate = duplicate,
};

typedef struct {
    Parser p;
    GPtrArray *items; /* Item*, as taken */
    char *problems;   /* after read(): "path: message" lines */
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    f->p.problems = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_problem_free);
    f->items = g_ptr_array_new_with_free_func((GDestroyNotify)item_free);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_ptr_array_unref(f->p.problems);
    g_ptr_array_unref(f->items);
    g_free(f->problems);
}

/* Reads @json (single quotes for double) as the list at @path. */
static gboolean
read_list(Fixture *f, const char *path, const char *json, SpecNamedList *list)
{
    g_autofree char *text = g_strdup(json);
    g_autoptr(JsonNode) node = NULL;
    gboolean ok;

    g_strdelimit(text, "'", '"');
    node = json_from_string(text, NULL);
    g_assert_nonnull(node);
    ok = spec_read_named_list(&f->p, path, node, &kind, f->items, list);
    g_free(f->problems);
    f->problems = spec_problems_to_string(f->p.problems);
    return ok;
}

static void
clear_problems(Fixture *f)
{
    g_ptr_array_set_size(f->p.problems, 0);
}

static void
test_read(Fixture *f, gconstpointer data)
{
    SpecNamedList list = { 0 };
    const SpecNamedEntry *entry;

    g_assert_true(read_list(f, "spec.things",
                            "[{'name': 'a'}, 3, {'name': 'b'}, {}, {'name': 'a'}, {'name': 'B'}]",
                            &list));
    g_assert_cmpstr(f->problems, ==,
                    "spec.things: 6 items, at most 4\n"
                    "spec.things[1]: expected an object, got a number\n"
                    "spec.things[4].name: \"a\" again\n"
                    "spec.things[5].name: \"B\" is not a valid name: use lowercase letters, "
                    "digits and '-', starting and ending with a letter or digit, at most 63 "
                    "characters");
    g_assert_true(list.given);
    g_assert_false(list.unreadable);
    /* Every item read is taken, duplicates and unnamed ones too; the number is not. */
    g_assert_cmpuint(f->items->len, ==, 5);
    g_assert_cmpuint(list.entries->len, ==, 5);
    entry = &g_array_index(list.entries, SpecNamedEntry, 2);
    g_assert_null(entry->name);
    g_assert_cmpuint(entry->index, ==, 3);

    /* The first of a name is the one found. */
    entry = spec_named_list_lookup(&list, "a");
    g_assert_nonnull(entry);
    g_assert_cmpuint(entry->index, ==, 0);
    g_assert_true(entry->item == g_ptr_array_index(f->items, 0));
    entry = spec_named_list_lookup(&list, "b");
    g_assert_nonnull(entry);
    g_assert_cmpuint(entry->index, ==, 2);
    g_assert_null(spec_named_list_lookup(&list, "c"));
    g_assert_null(spec_named_list_lookup(&list, NULL));
    spec_named_list_clear(&list);
    g_assert_null(list.entries);
}

static void
test_read_not_a_list(Fixture *f, gconstpointer data)
{
    SpecNamedList empty = { 0 };
    SpecNamedList object = { 0 };

    g_assert_true(read_list(f, "l", "[]", &empty));
    g_assert_cmpstr(f->problems, ==, "");
    g_assert_false(empty.given);
    g_assert_false(empty.unreadable);

    g_assert_false(read_list(f, "l", "{'name': 'a'}", &object));
    g_assert_cmpstr(f->problems, ==, "l: expected an array, got an object");
    g_assert_true(object.given);
    g_assert_true(object.unreadable);
    g_assert_null(spec_named_list_lookup(&object, "a"));
    spec_named_list_clear(&empty);
    spec_named_list_clear(&object);
}

static void
test_join(Fixture *f, gconstpointer data)
{
    SpecNamedList from = { 0 };
    SpecNamedList to = { 0 };

    read_list(f, "a", "[{'name': 'x'}, {'name': 'y'}, {'name': 'y'}, {}, {'name': 'z'}]", &from);
    read_list(f, "b", "[{'name': 'w'}, {'name': 'x'}, {'name': 'v'}]", &to);
    clear_problems(f);

    /* y is reported once, at its first item; the unnamed item is skipped. */
    spec_join_named_lists(&f->p, "a", &from, "b", &to, missing, unused);
    g_free(f->problems);
    f->problems = spec_problems_to_string(f->p.problems);
    g_assert_cmpstr(f->problems, ==,
                    "a[1].name: \"y\" is not in b\n"
                    "a[4].name: \"z\" is not in b\n"
                    "b[0].name: \"w\" is not used by a\n"
                    "b[2].name: \"v\" is not used by a");

    /* Without @unused, the items of @to may go unused. */
    clear_problems(f);
    spec_join_named_lists(&f->p, "a", &from, "b", &to, missing, NULL);
    g_assert_cmpuint(f->p.problems->len, ==, 2);

    spec_named_list_clear(&from);
    spec_named_list_clear(&to);
}

static void
test_join_quiet(Fixture *f, gconstpointer data)
{
    SpecNamedList from = { 0 };
    SpecNamedList to = { 0 };
    SpecNamedList absent = { 0 };

    read_list(f, "a", "[{'name': 'x'}]", &from);
    read_list(f, "b", "'not a list'", &to);
    clear_problems(f);

    /* An unreadable list was reported already: the join says nothing more. */
    spec_join_named_lists(&f->p, "a", &from, "b", &to, missing, unused);
    spec_join_named_lists(&f->p, "b", &to, "a", &from, missing, unused);
    g_assert_cmpuint(f->p.problems->len, ==, 0);

    /* A list never read is empty: everything of the other is reported. */
    spec_join_named_lists(&f->p, "a", &from, "c", &absent, missing, unused);
    spec_join_named_lists(&f->p, "c", &absent, "a", &from, missing, unused);
    g_free(f->problems);
    f->problems = spec_problems_to_string(f->p.problems);
    g_assert_cmpstr(f->problems, ==,
                    "a[0].name: \"x\" is not in c\n"
                    "a[0].name: \"x\" is not used by c");

    spec_named_list_clear(&from);
    spec_named_list_clear(&to);
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
    ADD("/podvm/common/spec-lists/read", test_read);
    ADD("/podvm/common/spec-lists/read-not-a-list", test_read_not_a_list);
    ADD("/podvm/common/spec-lists/join", test_join);
    ADD("/podvm/common/spec-lists/join-quiet", test_join_quiet);
#undef ADD
    return g_test_run();
}
