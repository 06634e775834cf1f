/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>

#include "podvm-error.h"
#include "podvm-test-util.h"
#include "podvm-volume-pool.h"

#define MiB (G_GUINT64_CONSTANT(1024) * 1024)

typedef struct {
    char *tmp;
    char *pool_dir;
    PodvmVolumePool *pool;
} Fixture;

static gboolean
require_qemu_img(void)
{
    g_autofree char *path = g_find_program_in_path("qemu-img");

    if (path == NULL) {
        g_test_skip("qemu-img is not installed (Debian: apt install qemu-utils)");
        return FALSE;
    }
    return TRUE;
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->tmp = podvm_test_mkdtemp();
    f->pool_dir = g_build_filename(f->tmp, "pool", NULL);
    f->pool = podvm_volume_pool_new(f->pool_dir, "qemu-img", &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->pool);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->pool);
    podvm_test_rmrf(f->tmp);
    g_free(f->pool_dir);
    g_free(f->tmp);
}

/* ------------------------------------------------------------------------ */
/* Helpers */

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **out = user_data;
    *out = g_object_ref(result);
}

static JsonNode *
create_volume(PodvmVolumePool *pool, const char *name, guint64 size, const char *from,
              const char *sha256, GError **error)
{
    PodvmVolumeCreateOptions options = {
        .name = name,
        .size = size,
        .from = from,
        .sha256 = sha256,
    };
    GAsyncResult *result = NULL;
    JsonNode *node;

    podvm_volume_pool_create_async(pool, &options, NULL, store_result_cb, &result);
    while (result == NULL)
        g_main_context_iteration(NULL, TRUE);
    node = podvm_volume_pool_create_finish(pool, result, error);
    g_object_unref(result);
    return node;
}

static JsonObject *
get_volume(PodvmVolumePool *pool, const char *name, JsonNode **out_node)
{
    g_autoptr(GError) error = NULL;
    JsonNode *node = podvm_volume_pool_get_json(pool, name, &error);

    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
    *out_node = node;
    return json_node_get_object(node);
}

static const char *
phase_of(PodvmVolumePool *pool, const char *name)
{
    /* Interned so the caller need not keep the node alive. */
    g_autoptr(JsonNode) node = NULL;
    JsonObject *object = get_volume(pool, name, &node);
    return g_intern_string(json_object_get_string_member(object, "phase"));
}

static gboolean
exists(const char *dir, const char *file)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    return g_file_test(path, G_FILE_TEST_EXISTS);
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names in @dir, sorted and joined with spaces: what a failure left behind is visible at once. */
static char *
list_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL)
        g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

/* Deterministic, non-zero data, so a conversion that loses or moves bytes shows. */
static GBytes *
pattern(gsize length)
{
    guint8 *data = g_malloc(length);
    guint32 x = 2463534242u;

    for (gsize i = 0; i < length; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (guint8)x;
    }
    return g_bytes_new_take(data, length);
}

static char *
write_pattern(const char *dir, const char *file, gsize length)
{
    g_autoptr(GBytes) bytes = pattern(length);
    g_autoptr(GError) error = NULL;
    char *path = g_build_filename(dir, file, NULL);

    g_file_set_contents(path, g_bytes_get_data(bytes, NULL), (gssize)length, &error);
    g_assert_no_error(error);
    return path;
}

static void
run_ok(const char *const *argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *err = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                 NULL, NULL, &err, &status, &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("%s failed: %s", argv[0], err);
}

/* The image holds @expected first, then zeros up to @size. */
static void
assert_image_content(const char *image, GBytes *expected, guint64 size)
{
    g_autofree char *contents = NULL;
    gsize length = 0;
    gsize n = g_bytes_get_size(expected);
    g_autoptr(GError) error = NULL;

    g_file_get_contents(image, &contents, &length, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(length, ==, size);
    g_assert_true(memcmp(contents, g_bytes_get_data(expected, NULL), n) == 0);
    for (gsize i = n; i < length; i++)
        g_assert_cmpint(contents[i], ==, 0);
}

static char *
sha256_of(GBytes *bytes)
{
    return g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bytes);
}

/* ------------------------------------------------------------------------ */
/* Blank volumes, names, delete */

static void
test_blank(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonNode) list = NULL;
    g_autoptr(JsonNode) got = NULL;
    g_autofree char *image = NULL;
    JsonObject *object;
    JsonArray *array;
    GStatBuf st;

    if (!require_qemu_img())
        return;

    node = create_volume(f->pool, "data", 64 * MiB, NULL, NULL, &error);
    g_assert_no_error(error);
    object = json_node_get_object(node);
    g_assert_cmpstr(json_object_get_string_member(object, "name"), ==, "data");
    g_assert_cmpint(json_object_get_int_member(object, "size"), ==, 64 * MiB);
    g_assert_cmpstr(json_object_get_string_member(object, "format"), ==, "raw");
    g_assert_cmpstr(json_object_get_string_member(object, "phase"), ==, "Ready");
    g_assert_true(json_object_get_null_member(object, "source"));
    g_assert_true(json_object_get_null_member(object, "sha256"));
    g_assert_true(json_object_get_null_member(object, "message"));
    g_assert_true(g_str_has_suffix(json_object_get_string_member(object, "createdAt"), "Z"));
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(object, "usedBy")), ==, 0);

    /* The image is raw and sparse: 64 MiB seen, (almost) nothing allocated. */
    image = podvm_volume_pool_image_path(f->pool, "data");
    g_assert_cmpint(g_stat(image, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 64 * MiB);
    g_assert_cmpint(st.st_blocks * 512, <, 1 * MiB);

    list = podvm_volume_pool_list_json(f->pool);
    array = json_node_get_array(list);
    g_assert_cmpuint(json_array_get_length(array), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(array, 0), "name"),
                    ==, "data");
    object = get_volume(f->pool, "data", &got);
    g_assert_cmpstr(json_object_get_string_member(object, "phase"), ==, "Ready");

    /* The name is taken: EXISTS, and the volume is untouched. */
    g_assert_null(create_volume(f->pool, "data", MiB, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS);
    g_clear_error(&error);
    g_assert_cmpint(g_stat(image, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 64 * MiB);
}

static void
test_bad_input(Fixture *f, gconstpointer data)
{
    static const char *const bad_names[] = { "Data", "../etc", "a/b", "", "-a", "a_b", NULL };
    g_autoptr(GError) error = NULL;
    g_autofree char *listing = NULL;
    g_autoptr(JsonNode) list = NULL;

    for (guint i = 0; bad_names[i] != NULL; i++) {
        g_assert_null(create_volume(f->pool, bad_names[i], MiB, NULL, NULL, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "volume name"));
        g_clear_error(&error);
    }
    /* Blank without a size, blank with a digest, a digest that is not one. */
    g_assert_null(create_volume(f->pool, "a", 0, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "size"));
    g_clear_error(&error);
    g_assert_null(create_volume(f->pool, "a", MiB, NULL,
                                "0000000000000000000000000000000000000000000000000000000000000000",
                                &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "sha256"));
    g_clear_error(&error);
    g_assert_null(create_volume(f->pool, "a", 0, "/nonexistent/x.img", "abc", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    /* Sources: a missing file, a relative path, a directory, an unknown scheme. */
    g_assert_null(create_volume(f->pool, "a", 0, "/nonexistent/x.img", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "/nonexistent/x.img"));
    g_clear_error(&error);
    g_assert_null(create_volume(f->pool, "a", 0, "x.img", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_null(create_volume(f->pool, "a", 0, f->tmp, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "regular file"));
    g_clear_error(&error);
    g_assert_null(create_volume(f->pool, "a", 0, "ftp://example.org/x.img", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    /* Nothing was created: no record, no file. */
    list = podvm_volume_pool_list_json(f->pool);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(list)), ==, 0);
    listing = list_dir(f->pool_dir);
    g_assert_cmpstr(listing, ==, "");

    /* Unknown names. */
    g_assert_null(podvm_volume_pool_get_json(f->pool, "nope", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_false(podvm_volume_pool_delete(f->pool, "nope", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_false(podvm_volume_pool_acquire(f->pool, "nope", "pod", FALSE, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "podvmctl volume create"));
}

static void
test_delete_and_use(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonNode) got = NULL;
    g_autofree char *path = NULL;
    g_autofree char *listing = NULL;
    g_autofree char *expected_path = NULL;
    guint64 size = 0;
    JsonArray *used_by;

    if (!require_qemu_img())
        return;
    node = create_volume(f->pool, "shared", 8 * MiB, NULL, NULL, &error);
    g_assert_no_error(error);

    /* One writer. */
    g_assert_true(podvm_volume_pool_acquire(f->pool, "shared", "web", FALSE, &path, &size, &error));
    g_assert_no_error(error);
    expected_path = podvm_volume_pool_image_path(f->pool, "shared");
    g_assert_cmpstr(path, ==, expected_path);
    g_assert_cmpuint(size, ==, 8 * MiB);
    /* The same pod again is fine; others are refused, reading or writing. */
    g_assert_true(podvm_volume_pool_acquire(f->pool, "shared", "web", FALSE, NULL, NULL, &error));
    g_assert_false(podvm_volume_pool_acquire(f->pool, "shared", "db", TRUE, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "web"));
    g_clear_error(&error);
    g_assert_false(podvm_volume_pool_acquire(f->pool, "shared", "db", FALSE, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_clear_error(&error);

    used_by = json_object_get_array_member(get_volume(f->pool, "shared", &got), "usedBy");
    g_assert_cmpuint(json_array_get_length(used_by), ==, 1);
    g_assert_cmpstr(json_array_get_string_element(used_by, 0), ==, "web");

    /* Delete while used: BUSY, and the image is still there. */
    g_assert_false(podvm_volume_pool_delete(f->pool, "shared", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "web"));
    g_clear_error(&error);
    g_assert_true(g_file_test(expected_path, G_FILE_TEST_IS_REGULAR));

    /* Released: readers may share; a writer then waits for all of them. */
    podvm_volume_pool_release(f->pool, "shared", "web");
    podvm_volume_pool_release(f->pool, "shared", "web");
    podvm_volume_pool_release(f->pool, "unknown", "web");
    g_assert_true(podvm_volume_pool_acquire(f->pool, "shared", "a", TRUE, NULL, NULL, &error));
    g_assert_true(podvm_volume_pool_acquire(f->pool, "shared", "b", TRUE, NULL, NULL, &error));
    g_assert_no_error(error);
    g_assert_false(podvm_volume_pool_acquire(f->pool, "shared", "c", FALSE, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_clear_error(&error);
    podvm_volume_pool_release(f->pool, "shared", "a");
    podvm_volume_pool_release(f->pool, "shared", "b");

    g_assert_true(podvm_volume_pool_delete(f->pool, "shared", &error));
    g_assert_no_error(error);
    listing = list_dir(f->pool_dir);
    g_assert_cmpstr(listing, ==, "");
    g_assert_null(podvm_volume_pool_get_json(f->pool, "shared", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
}

/* ------------------------------------------------------------------------ */
/* From files */

static void
test_from_raw_file(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonNode) grown = NULL;
    g_autoptr(GBytes) expected = pattern(MiB + 4096);
    g_autofree char *source = write_pattern(f->tmp, "source.raw", MiB + 4096);
    g_autofree char *digest = sha256_of(expected);
    g_autofree char *image = NULL;
    JsonObject *object;

    if (!require_qemu_img())
        return;

    node = create_volume(f->pool, "copy", 0, source, digest, &error);
    g_assert_no_error(error);
    object = json_node_get_object(node);
    g_assert_cmpstr(json_object_get_string_member(object, "phase"), ==, "Ready");
    g_assert_cmpstr(json_object_get_string_member(object, "source"), ==, source);
    g_assert_cmpstr(json_object_get_string_member(object, "sha256"), ==, digest);
    g_assert_cmpint(json_object_get_int_member(object, "size"), ==, MiB + 4096);
    image = podvm_volume_pool_image_path(f->pool, "copy");
    assert_image_content(image, expected, MiB + 4096);

    /* Grown to the size asked for, the data first. */
    grown = create_volume(f->pool, "grown", 4 * MiB, source, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(grown), "size"), ==, 4 * MiB);
    g_free(image);
    image = podvm_volume_pool_image_path(f->pool, "grown");
    assert_image_content(image, expected, 4 * MiB);
}

static void
test_from_qcow2_file(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonNode) got = NULL;
    g_autoptr(GBytes) expected = pattern(2 * MiB);
    g_autofree char *raw = write_pattern(f->tmp, "source.raw", 2 * MiB);
    g_autofree char *qcow2 = g_build_filename(f->tmp, "source.qcow2", NULL);
    g_autofree char *overlay = g_build_filename(f->tmp, "overlay.qcow2", NULL);
    g_autofree char *image = NULL;
    JsonObject *object;

    if (!require_qemu_img())
        return;
    run_ok((const char *const[]){ "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2,
                                  NULL });
    run_ok((const char *const[]){ "qemu-img", "create", "-f", "qcow2", "-b", qcow2, "-F", "qcow2",
                                  overlay, NULL });

    /* Converted to raw: the same bytes, grown to the size asked for. */
    node = create_volume(f->pool, "fromq", 3 * MiB, qcow2, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(node), "size"), ==, 3 * MiB);
    image = podvm_volume_pool_image_path(f->pool, "fromq");
    assert_image_content(image, expected, 3 * MiB);

    /* Smaller than the source: refused, nothing kept but the record saying why. */
    g_assert_null(create_volume(f->pool, "small", MiB, qcow2, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "smaller"));
    g_clear_error(&error);
    g_assert_false(exists(f->pool_dir, "small.img"));
    g_assert_false(exists(f->pool_dir, ".small.img.tmp"));

    /* A qcow2 with a backing file would read another host file: refused. */
    g_assert_null(create_volume(f->pool, "chained", 0, overlay, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "backing"));
    g_clear_error(&error);
    g_assert_false(exists(f->pool_dir, "chained.img"));
    object = get_volume(f->pool, "chained", &got);
    g_assert_cmpstr(json_object_get_string_member(object, "phase"), ==, "Failed");
    g_assert_nonnull(strstr(json_object_get_string_member(object, "message"), "backing"));

    /* A failed volume cannot be used; delete removes the record. */
    g_assert_false(podvm_volume_pool_acquire(f->pool, "chained", "p", TRUE, NULL, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE);
    g_clear_error(&error);
    g_assert_true(podvm_volume_pool_delete(f->pool, "chained", &error));
    g_assert_false(exists(f->pool_dir, "chained.json"));
}

static void
test_file_checksum_mismatch(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *source = write_pattern(f->tmp, "source.raw", 64 * 1024);
    const char *wrong = "1111111111111111111111111111111111111111111111111111111111111111";

    if (!require_qemu_img())
        return;
    g_assert_null(create_volume(f->pool, "sum", 0, source, wrong, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "checksum mismatch: expected 1111"));
    g_assert_cmpstr(phase_of(f->pool, "sum"), ==, "Failed");
    g_assert_false(exists(f->pool_dir, "sum.img"));
}

/* ------------------------------------------------------------------------ */
/* Over HTTP */

typedef struct {
    GBytes *body;
    guint requests;
} Server;

static void
server_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
    Server *s = user_data;

    s->requests++;
    if (strcmp(path, "/disk.raw") != 0) {
        soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
        return;
    }
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                     g_bytes_get_data(s->body, NULL), g_bytes_get_size(s->body));
}

typedef struct {
    PodvmVolumePool *pool;
    guint signals;
    guint64 last_done;
    guint64 last_total;
    gboolean importing_seen;
} Progress;

static void
progress_cb(PodvmVolumePool *pool, const char *name, guint64 done, guint64 total,
            gpointer user_data)
{
    Progress *p = user_data;

    p->signals++;
    g_assert_cmpuint(done, >=, p->last_done);
    p->last_done = done;
    p->last_total = total;
    /* While it downloads, list and get already show it, as Importing. */
    if (g_strcmp0(phase_of(pool, name), "Importing") == 0)
        p->importing_seen = TRUE;
}

static void
test_http_import(Fixture *f, gconstpointer data)
{
    Server s = { .body = pattern(3 * MiB + 17) };
    g_autoptr(SoupServer) server = soup_server_new(NULL, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *digest = sha256_of(s.body);
    g_autofree char *url = NULL;
    g_autofree char *missing = NULL;
    g_autofree char *image = NULL;
    g_autofree char *listing = NULL;
    GSList *uris;
    Progress progress = { .pool = f->pool };
    gulong handler;
    const char *message;
    const char *wrong = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    if (!require_qemu_img()) {
        g_bytes_unref(s.body);
        return;
    }
    soup_server_add_handler(server, NULL, server_cb, &s, NULL);
    soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
    g_assert_no_error(error);
    uris = soup_server_get_uris(server);
    g_assert_nonnull(uris);
    url = g_strdup_printf("http://127.0.0.1:%d/disk.raw", g_uri_get_port(uris->data));
    missing = g_strdup_printf("http://127.0.0.1:%d/missing.raw", g_uri_get_port(uris->data));
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);

    handler = g_signal_connect(f->pool, "progress", G_CALLBACK(progress_cb), &progress);

    /* The right digest: Ready, the same bytes, progress up to the whole body. */
    node = create_volume(f->pool, "web", 0, url, digest, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(node), "phase"), ==,
                    "Ready");
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(node), "source"), ==, url);
    g_assert_cmpuint(progress.signals, >=, 3);
    g_assert_true(progress.importing_seen);
    g_assert_cmpuint(progress.last_done, ==, g_bytes_get_size(s.body));
    g_assert_cmpuint(progress.last_total, ==, g_bytes_get_size(s.body));
    /* Raw images are whole 512-byte sectors: the odd tail is padded, and the size says so. */
    image = podvm_volume_pool_image_path(f->pool, "web");
    assert_image_content(image, s.body, 3 * MiB + 512);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(node), "size"), ==,
                    3 * MiB + 512);
    g_assert_false(exists(f->pool_dir, ".web.part"));
    progress.last_done = 0;

    /* A wrong digest: Failed with the reason, no image and no download left. */
    g_assert_null(create_volume(f->pool, "bad-sum", 0, url, wrong, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_clear_error(&error);
    {
        g_autoptr(JsonNode) got = NULL;
        JsonObject *object = get_volume(f->pool, "bad-sum", &got);
        g_assert_cmpstr(json_object_get_string_member(object, "phase"), ==, "Failed");
        message = json_object_get_string_member(object, "message");
        g_assert_nonnull(strstr(message, "checksum mismatch: expected 0123"));
        g_assert_nonnull(strstr(message, digest));
    }
    g_assert_false(exists(f->pool_dir, "bad-sum.img"));
    g_assert_false(exists(f->pool_dir, ".bad-sum.part"));

    /* 404: Failed, naming the status and the URL. */
    g_assert_null(create_volume(f->pool, "gone", 0, missing, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "404"));
    g_assert_nonnull(strstr(error->message, missing));
    g_clear_error(&error);
    g_assert_cmpstr(phase_of(f->pool, "gone"), ==, "Failed");

    listing = list_dir(f->pool_dir);
    g_assert_cmpstr(listing, ==, "bad-sum.json gone.json web.img web.json");

    g_signal_handler_disconnect(f->pool, handler);
    soup_server_disconnect(server);
    g_bytes_unref(s.body);
}

/* ------------------------------------------------------------------------ */
/* Restarts */

static void
test_reload(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonNode) before = NULL;
    g_autoptr(JsonNode) after = NULL;
    g_autoptr(JsonNode) cut = NULL;
    g_autoptr(PodvmVolumePool) again = NULL;
    g_autofree char *importing = NULL;
    g_autofree char *part = NULL;
    g_autofree char *stray = NULL;
    g_autofree char *text_before = NULL;
    g_autofree char *text_after = NULL;
    JsonObject *object;

    if (!require_qemu_img())
        return;
    node = create_volume(f->pool, "kept", 2 * MiB, NULL, NULL, &error);
    g_assert_no_error(error);
    before = podvm_volume_pool_get_json(f->pool, "kept", &error);
    g_assert_no_error(error);

    /* What a daemon killed mid-import leaves: a record in Importing and a partial download. */
    importing = g_build_filename(f->pool_dir, "cut.json", NULL);
    g_file_set_contents(importing,
                        "{\"name\": \"cut\", \"size\": 0, \"format\": \"raw\", \"phase\": "
                        "\"Importing\", \"source\": \"http://example.org/x.img\", \"sha256\": "
                        "null, \"createdAt\": \"2024-01-01T00:00:00Z\", \"message\": null}",
                        -1, &error);
    g_assert_no_error(error);
    part = g_build_filename(f->pool_dir, ".cut.part", NULL);
    g_file_set_contents(part, "partial", -1, &error);
    g_assert_no_error(error);
    /* Not a record: ignored, not fatal. */
    stray = g_build_filename(f->pool_dir, "junk.json", NULL);
    g_file_set_contents(stray, "not json", -1, &error);
    g_assert_no_error(error);

    again = podvm_volume_pool_new(f->pool_dir, "qemu-img", &error);
    g_assert_no_error(error);

    after = podvm_volume_pool_get_json(again, "kept", &error);
    g_assert_no_error(error);
    text_before = json_to_string(before, FALSE);
    text_after = json_to_string(after, FALSE);
    g_assert_cmpstr(text_after, ==, text_before);

    cut = podvm_volume_pool_get_json(again, "cut", &error);
    g_assert_no_error(error);
    object = json_node_get_object(cut);
    g_assert_cmpstr(json_object_get_string_member(object, "phase"), ==, "Failed");
    g_assert_cmpstr(json_object_get_string_member(object, "message"), ==,
                    "interrupted by a daemon restart");
    g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
    g_assert_null(podvm_volume_pool_get_json(again, "junk", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);

    /* The mark is durable too. */
    g_clear_object(&again);
    again = podvm_volume_pool_new(f->pool_dir, "qemu-img", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(phase_of(again, "cut"), ==, "Failed");
    g_assert_cmpstr(phase_of(again, "kept"), ==, "Ready");
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

#define ADD(path, func) \
    g_test_add("/podvm/storage/pool/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
    ADD("blank", test_blank);
    ADD("bad-input", test_bad_input);
    ADD("delete-and-use", test_delete_and_use);
    ADD("from-raw-file", test_from_raw_file);
    ADD("from-qcow2-file", test_from_qcow2_file);
    ADD("file-checksum-mismatch", test_file_checksum_mismatch);
    ADD("http-import", test_http_import);
    ADD("reload", test_reload);
#undef ADD
    return g_test_run();
}
