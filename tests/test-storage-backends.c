/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-storage.h"
#include "podvm-test-util.h"
#include "podvm-volume-pool.h"

#define MiB (G_GUINT64_CONSTANT(1024) * 1024)
#define GiB (MiB * 1024)

typedef struct {
    char *tmp;
    char *allowed;  /* the one allowed host directory */
    char *outside;  /* a directory next to it, not allowed */
    char *state;    /* the pod's state dir */
    char *run;      /* the pod's run dir */
    char *pool_dir; /* the volume pool */
    const char *allowed_list[2];
    PodvmVolumePool *pool;
    PodvmStorageContext ctx;
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
make_dir(const char *path)
{
    g_assert_cmpint(g_mkdir_with_parents(path, 0700), ==, 0);
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->tmp = podvm_test_mkdtemp();
    f->allowed = g_build_filename(f->tmp, "allowed", NULL);
    f->outside = g_build_filename(f->tmp, "outside", NULL);
    f->state = g_build_filename(f->tmp, "state", "pods", "p", NULL);
    f->run = g_build_filename(f->tmp, "run", "pods", "p", NULL);
    f->pool_dir = g_build_filename(f->tmp, "pool", NULL);
    make_dir(f->allowed);
    make_dir(f->outside);
    make_dir(f->state);
    make_dir(f->run);
    f->pool = podvm_volume_pool_new(f->pool_dir, "qemu-img", &error);
    g_assert_no_error(error);

    f->allowed_list[0] = f->allowed;
    f->allowed_list[1] = NULL;
    f->ctx = (PodvmStorageContext){
        .pod_name = "p",
        .pod_uid = "0b9e5b1c-8d8c-4a53-9d0e-2f4c1d1f7a10",
        .hostname = "p",
        .pod_state_dir = f->state,
        .pod_run_dir = f->run,
        .cache_dir = f->tmp,
        .allowed_host_paths = f->allowed_list,
        .qemu_img = "qemu-img",
        .container_disk_helper = g_getenv("PODVM_CONTAINER_DISK_HELPER"),
        .pool = f->pool,
    };
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->pool);
    podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
    g_free(f->allowed);
    g_free(f->outside);
    g_free(f->state);
    g_free(f->run);
    g_free(f->pool_dir);
}

/* ------------------------------------------------------------------------ */
/* Helpers */

static PodvmSpecVolume *
volume_new(const char *name, PodvmVolumeSource source)
{
    PodvmSpecVolume *volume = g_new0(PodvmSpecVolume, 1);

    volume->name = g_strdup(name);
    volume->source = source;
    return volume;
}

static void
store_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **out = user_data;
    *out = g_object_ref(result);
}

static PodvmPreparedVolume *
prepare(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume, gboolean read_only,
        GError **error)
{
    GAsyncResult *result = NULL;
    PodvmPreparedVolume *prepared;

    podvm_storage_prepare_async(ctx, volume, read_only, NULL, store_result_cb, &result);
    while (result == NULL)
        g_main_context_iteration(NULL, TRUE);
    prepared = podvm_storage_prepare_finish(result, error);
    g_object_unref(result);
    return prepared;
}

static PodvmPreparedVolume *
prepare_ok(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume, gboolean read_only)
{
    g_autoptr(GError) error = NULL;
    PodvmPreparedVolume *prepared = prepare(ctx, volume, read_only, &error);

    g_assert_no_error(error);
    g_assert_nonnull(prepared);
    g_assert_cmpstr(prepared->volume_name, ==, volume->name);
    return prepared;
}

static int
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every path under @dir (relative, sorted, space-separated): what a failure left is visible. */
static void
list_into(const char *root, const char *relative, GPtrArray *names)
{
    g_autofree char *path = g_build_filename(root, relative, NULL);
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *child =
            *relative != '\0' ? g_build_filename(relative, name, NULL) : g_strdup(name);
        g_autofree char *child_path = g_build_filename(root, child, NULL);

        if (g_file_test(child_path, G_FILE_TEST_IS_DIR) &&
            !g_file_test(child_path, G_FILE_TEST_IS_SYMLINK)) {
            g_ptr_array_add(names, g_strconcat(child, "/", NULL));
            list_into(root, child, names);
        } else {
            g_ptr_array_add(names, g_steal_pointer(&child));
        }
    }
}

static char *
list_tree(const char *root)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

    list_into(root, "", names);
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

static char *
write_file(const char *dir, const char *file, gsize length, guint8 fill)
{
    g_autofree guint8 *data = g_malloc(length);
    g_autoptr(GError) error = NULL;
    char *path = g_build_filename(dir, file, NULL);

    memset(data, fill, length);
    g_file_set_contents(path, (const char *)data, (gssize)length, &error);
    g_assert_no_error(error);
    return path;
}

static char *
sha256_of_file(const char *path)
{
    g_autofree char *contents = NULL;
    gsize length = 0;
    g_autoptr(GError) error = NULL;

    g_file_get_contents(path, &contents, &length, &error);
    g_assert_no_error(error);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)contents, length);
}

static char *
run_ok(const char *const *argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *err = NULL;
    char *out = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                 &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("%s %s failed: %s", argv[0], argv[1], err);
    return out;
}

/* qemu-img info of @path read as @format (never probed). */
static JsonObject *
image_info(const char *path, const char *format)
{
    g_autofree char *out = run_ok(
        (const char *const[]){ "qemu-img", "info", "--output=json", "-f", format, path, NULL });
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_data(parser, out, -1, &error);
    g_assert_no_error(error);
    return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

/* The first byte the guest would read from @path (@format), through any backing file. */
static guint8
first_guest_byte(Fixture *f, const char *path, const char *format)
{
    g_autofree char *flat = g_build_filename(f->tmp, "flat.raw", NULL);
    g_autofree char *out = NULL;
    g_autofree char *contents = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    out = run_ok((const char *const[]){ "qemu-img", "convert", "-f", format, "-O", "raw", path,
                                        flat, NULL });
    g_file_get_contents(flat, &contents, &length, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(length, >, 0);
    g_unlink(flat);
    return (guint8)contents[0];
}

static gboolean
exists(const char *path)
{
    GStatBuf st;
    return g_lstat(path, &st) == 0;
}

/* ------------------------------------------------------------------------ */
/* hostDisk */

static void
test_host_disk(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) volume = volume_new("disk", PODVM_VOLUME_HOST_DISK);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autofree char *inside = write_file(f->allowed, "disk.img", MiB, 0x11);
    g_autofree char *out = write_file(f->outside, "disk.img", MiB, 0x22);
    g_autofree char *dotdot = g_build_filename(f->allowed, "..", "outside", "disk.img", NULL);
    g_autoptr(GError) error = NULL;

    /* Inside: the file itself, raw, its size. */
    volume->path = g_strdup(inside);
    prepared = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpstr(prepared->filename, ==, inside);
    g_assert_cmpstr(prepared->format, ==, "raw");
    g_assert_false(prepared->block_device);
    g_assert_false(prepared->read_only);
    g_assert_cmpuint(prepared->virtual_size, ==, MiB);
    /* Release and delete never touch the user's file. */
    podvm_storage_release(&f->ctx, volume);
    podvm_storage_delete(&f->ctx, volume);
    g_assert_true(g_file_test(inside, G_FILE_TEST_IS_REGULAR));

    /* Outside: refused, naming the path and the allowed directory. */
    g_free(volume->path);
    volume->path = g_strdup(out);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_assert_nonnull(strstr(error->message, out));
    g_assert_nonnull(strstr(error->message, f->allowed));
    g_clear_error(&error);

    /* ".." out of the allowed directory. */
    g_free(volume->path);
    volume->path = g_strdup(dotdot);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_assert_nonnull(strstr(error->message, ".."));
    g_clear_error(&error);

    /* Missing Disk: NOT_FOUND, and nothing is created. */
    g_free(volume->path);
    volume->path = g_build_filename(f->allowed, "missing.img", NULL);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "DiskOrCreate"));
    g_clear_error(&error);
    g_assert_false(exists(volume->path));

    /* A directory is not a disk. */
    g_free(volume->path);
    volume->path = g_strdup(f->allowed);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_clear_error(&error);

    /* No allowed directory at all: the message says what to configure. */
    {
        PodvmStorageContext closed = f->ctx;
        const char *none[] = { NULL };

        closed.allowed_host_paths = none;
        g_free(volume->path);
        volume->path = g_strdup(inside);
        g_assert_null(prepare(&closed, volume, FALSE, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_assert_nonnull(strstr(error->message, "allowed_host_paths"));
        g_assert_nonnull(strstr(error->message, "podvmd.conf"));
        g_clear_error(&error);
    }
}

static void
test_host_disk_symlinks(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) volume = volume_new("disk", PODVM_VOLUME_HOST_DISK);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autofree char *target = write_file(f->outside, "secret.img", 4096, 0x33);
    g_autofree char *link = g_build_filename(f->allowed, "link.img", NULL);
    g_autofree char *dir_link = g_build_filename(f->allowed, "dirlink", NULL);
    g_autofree char *dangling = g_build_filename(f->allowed, "dangling.img", NULL);
    g_autofree char *dangling_target = g_build_filename(f->outside, "new.img", NULL);
    g_autofree char *real_inside = write_file(f->allowed, "real.img", 4096, 0x44);
    g_autofree char *inner_link = g_build_filename(f->allowed, "inner.img", NULL);
    g_autofree char *allowed_link = g_build_filename(f->tmp, "allowed-link", NULL);
    g_autofree char *listing = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(symlink(target, link), ==, 0);
    g_assert_cmpint(symlink(f->outside, dir_link), ==, 0);
    g_assert_cmpint(symlink(dangling_target, dangling), ==, 0);
    g_assert_cmpint(symlink(real_inside, inner_link), ==, 0);
    g_assert_cmpint(symlink(f->allowed, allowed_link), ==, 0);

    /* A symlink to a file outside: refused, naming where it leads. */
    volume->path = g_strdup(link);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_assert_nonnull(strstr(error->message, link));
    g_assert_nonnull(strstr(error->message, target));
    g_assert_nonnull(strstr(error->message, f->allowed));
    g_clear_error(&error);

    /* A symlinked directory leading out, even for a file that DiskOrCreate would make. */
    g_free(volume->path);
    volume->path = g_build_filename(dir_link, "new.img", NULL);
    volume->create = TRUE;
    volume->capacity = MiB;
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_clear_error(&error);
    /* A dangling symlink would create its target wherever it points. */
    g_free(volume->path);
    volume->path = g_strdup(dangling);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_clear_error(&error);
    listing = list_tree(f->outside);
    g_assert_cmpstr(listing, ==, "secret.img");

    /* Symlinks that stay inside are fine; QEMU gets the resolved path. */
    volume->create = FALSE;
    g_free(volume->path);
    volume->path = g_strdup(inner_link);
    prepared = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpstr(prepared->filename, ==, real_inside);
    g_clear_pointer(&prepared, podvm_prepared_volume_free);

    /* An allowed directory given through a symlink is resolved too. */
    {
        const char *through_link[] = { allowed_link, NULL };

        g_assert_true(podvm_storage_check_host_path(real_inside, through_link, &error));
        g_assert_no_error(error);
        g_assert_false(podvm_storage_check_host_path(target, through_link, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_clear_error(&error);
    }
    /* The allowed directory's name as a prefix of another name is not inside it. */
    {
        g_autofree char *sibling = g_strconcat(f->allowed, "2", NULL);
        g_autofree char *sibling_file = g_build_filename(sibling, "x.img", NULL);

        g_assert_false(podvm_storage_check_host_path(sibling_file, f->allowed_list, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_clear_error(&error);
    }
}

static void
test_host_disk_create(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) volume = volume_new("disk", PODVM_VOLUME_HOST_DISK);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autoptr(PodvmPreparedVolume) again = NULL;
    g_autoptr(GError) error = NULL;
    GStatBuf st;

    /* DiskOrCreate without a capacity: refused, nothing made. */
    volume->path = g_build_filename(f->allowed, "new.img", NULL);
    volume->create = TRUE;
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_nonnull(strstr(error->message, "capacity"));
    g_clear_error(&error);
    g_assert_false(exists(volume->path));

    /* Made sparse: 10 GiB seen, nothing allocated, only the owner can read it. */
    volume->capacity = 10 * GiB;
    prepared = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpstr(prepared->filename, ==, volume->path);
    g_assert_cmpstr(prepared->format, ==, "raw");
    g_assert_cmpuint(prepared->virtual_size, ==, 10 * GiB);
    g_assert_cmpint(g_stat(volume->path, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    g_assert_cmpint(st.st_size, ==, 10 * GiB);
    g_assert_cmpint(st.st_blocks, ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);

    /* The next start uses the same file, untouched. */
    g_assert_true(g_file_set_contents(volume->path, "data", 4, NULL) == TRUE);
    g_assert_cmpint(truncate(volume->path, (off_t)(10 * GiB)), ==, 0);
    again = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpuint(again->virtual_size, ==, 10 * GiB);
    {
        g_autoptr(GFile) file = g_file_new_for_path(volume->path);
        g_autoptr(GFileInputStream) in = g_file_read(file, NULL, &error);
        char buffer[4];

        g_assert_no_error(error);
        g_assert_cmpint(g_input_stream_read(G_INPUT_STREAM(in), buffer, 4, NULL, &error), ==, 4);
        g_assert_true(memcmp(buffer, "data", 4) == 0);
    }
}

/* ------------------------------------------------------------------------ */
/* emptyDisk */

static void
test_empty_disk(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) volume = volume_new("scratch", PODVM_VOLUME_EMPTY_DISK);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autoptr(PodvmPreparedVolume) again = NULL;
    g_autoptr(JsonObject) info = NULL;
    g_autofree char *image = g_build_filename(f->state, "volumes", "scratch.qcow2", NULL);
    g_autofree char *volumes_dir = g_build_filename(f->state, "volumes", NULL);
    g_autofree char *listing = NULL;
    GStatBuf st, st_again;

    if (!require_qemu_img())
        return;
    volume->capacity = 256 * MiB;
    prepared = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpstr(prepared->filename, ==, image);
    g_assert_cmpstr(prepared->format, ==, "qcow2");
    g_assert_cmpuint(prepared->virtual_size, ==, 256 * MiB);
    info = image_info(image, "qcow2");
    g_assert_cmpint(json_object_get_int_member(info, "virtual-size"), ==, 256 * MiB);
    g_assert_false(json_object_has_member(info, "backing-filename"));
    g_assert_cmpint(g_stat(volumes_dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);
    /* Only the image: no temporary file left. */
    listing = list_tree(f->state);
    g_assert_cmpstr(listing, ==, "volumes/ volumes/scratch.qcow2");

    /* It survives a stop and is not made again at the next start. */
    g_assert_cmpint(g_stat(image, &st), ==, 0);
    podvm_storage_release(&f->ctx, volume);
    g_assert_true(exists(image));
    again = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpstr(again->filename, ==, image);
    g_assert_cmpint(g_stat(image, &st_again), ==, 0);
    g_assert_cmpuint(st.st_ino, ==, st_again.st_ino);
    g_assert_cmpint(st.st_mtime, ==, st_again.st_mtime);

    /* Deleting the pod deletes it; twice is fine. */
    podvm_storage_delete(&f->ctx, volume);
    g_assert_false(exists(image));
    podvm_storage_delete(&f->ctx, volume);
}

/* ------------------------------------------------------------------------ */
/* ephemeral */

static void
test_ephemeral_raw_base(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) volume = volume_new("root", PODVM_VOLUME_EPHEMERAL);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autoptr(PodvmPreparedVolume) again = NULL;
    g_autoptr(JsonObject) info = NULL;
    g_autofree char *base = write_file(f->allowed, "base.raw", 2 * MiB, 0x5a);
    g_autofree char *base_sum = sha256_of_file(base);
    g_autofree char *after_sum = NULL;
    g_autofree char *qemu_io = g_find_program_in_path("qemu-io");
    g_autofree char *overlay = g_build_filename(f->run, "volumes", "root.qcow2", NULL);
    g_autofree char *out = NULL;

    if (!require_qemu_img())
        return;
    if (qemu_io == NULL) {
        g_test_skip("qemu-io is not installed (Debian: apt install qemu-utils)");
        return;
    }
    volume->path = g_strdup(base);
    prepared = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpstr(prepared->filename, ==, overlay);
    g_assert_cmpstr(prepared->format, ==, "qcow2");
    g_assert_cmpuint(prepared->virtual_size, ==, 2 * MiB);

    /* A qcow2 over the base, whose format is written in the overlay (never probed). */
    info = image_info(overlay, "qcow2");
    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename"), ==, base);
    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename-format"), ==, "raw");
    g_assert_cmpint(json_object_get_int_member(info, "virtual-size"), ==, 2 * MiB);

    /* The guest's writes land in the overlay; the base is untouched. */
    out = run_ok((const char *const[]){ "qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 64k",
                                        overlay, NULL });
    g_assert_cmpuint(first_guest_byte(f, overlay, "qcow2"), ==, 0xab);
    after_sum = sha256_of_file(base);
    g_assert_cmpstr(after_sum, ==, base_sum);

    /* The next start begins fresh from the base. */
    again = prepare_ok(&f->ctx, volume, FALSE);
    g_assert_cmpuint(first_guest_byte(f, overlay, "qcow2"), ==, 0x5a);

    /* Release removes the overlay, twice is fine; the base stays as it was. */
    podvm_storage_release(&f->ctx, volume);
    g_assert_false(exists(overlay));
    podvm_storage_release(&f->ctx, volume);
    g_free(after_sum);
    after_sum = sha256_of_file(base);
    g_assert_cmpstr(after_sum, ==, base_sum);
}

static void
test_ephemeral_qcow2_base(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) volume = volume_new("root", PODVM_VOLUME_EPHEMERAL);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autoptr(JsonObject) info = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *raw = write_file(f->outside, "base.raw", MiB, 0x77);
    g_autofree char *base = g_build_filename(f->allowed, "base.qcow2", NULL);
    g_autofree char *chained = g_build_filename(f->allowed, "chained.qcow2", NULL);
    g_autofree char *overlay = g_build_filename(f->run, "volumes", "root.qcow2", NULL);
    g_autofree char *out = NULL;
    g_autofree char *listing = NULL;

    if (!require_qemu_img())
        return;
    g_free(run_ok((const char *const[]){ "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw,
                                         base, NULL }));
    /* A qcow2 in the allowed directory whose backing file lies outside it. */
    g_free(run_ok((const char *const[]){ "qemu-img", "create", "-f", "qcow2", "-b", raw, "-F",
                                         "raw", chained, NULL }));

    /* A self-contained qcow2 base: read as qcow2. */
    volume->path = g_strdup(base);
    prepared = prepare_ok(&f->ctx, volume, FALSE);
    info = image_info(overlay, "qcow2");
    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename"), ==, base);
    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename-format"), ==, "qcow2");
    g_assert_cmpuint(prepared->virtual_size, ==, MiB);
    g_assert_cmpuint(first_guest_byte(f, overlay, "qcow2"), ==, 0x77);
    podvm_storage_release(&f->ctx, volume);

    /* A base with a backing file: refused before anything is made. */
    g_free(volume->path);
    volume->path = g_strdup(chained);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_nonnull(strstr(error->message, "backing"));
    g_assert_nonnull(strstr(error->message, "'root'"));
    g_clear_error(&error);
    g_assert_false(exists(overlay));

    /* A base outside the allowed directories, and a missing one. */
    g_free(volume->path);
    volume->path = g_strdup(raw);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_clear_error(&error);
    g_free(volume->path);
    volume->path = g_build_filename(f->allowed, "missing.qcow2", NULL);
    g_assert_null(prepare(&f->ctx, volume, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);

    listing = list_tree(f->run);
    g_assert_cmpstr(listing, ==, "volumes/");
}

/* ------------------------------------------------------------------------ */
/* Claims */

static void
create_claim(Fixture *f, const char *name)
{
    PodvmVolumeCreateOptions options = { .name = name, .size = 4 * MiB };
    GAsyncResult *result = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = NULL;

    podvm_volume_pool_create_async(f->pool, &options, NULL, store_result_cb, &result);
    while (result == NULL)
        g_main_context_iteration(NULL, TRUE);
    node = podvm_volume_pool_create_finish(f->pool, result, &error);
    g_object_unref(result);
    g_assert_no_error(error);
}

static void
test_claims(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) claim = volume_new("data", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM);
    g_autoptr(PodvmSpecVolume) claim_ro = volume_new("data", PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM);
    g_autoptr(PodvmSpecVolume) over_claim = volume_new("root", PODVM_VOLUME_EPHEMERAL);
    g_autoptr(PodvmSpecVolume) missing = volume_new("data", PODVM_VOLUME_DATA_VOLUME);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autoptr(PodvmPreparedVolume) shared_a = NULL;
    g_autoptr(PodvmPreparedVolume) shared_b = NULL;
    g_autoptr(PodvmPreparedVolume) overlay = NULL;
    g_autoptr(JsonObject) info = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *image = NULL;
    PodvmStorageContext q = f->ctx, r = f->ctx, s = f->ctx;
    g_autofree char *s_run = g_build_filename(f->tmp, "run", "pods", "s", NULL);

    if (!require_qemu_img())
        return;
    create_claim(f, "shared");
    image = podvm_volume_pool_image_path(f->pool, "shared");
    claim->claim_name = g_strdup("shared");
    claim_ro->claim_name = g_strdup("shared");
    claim_ro->readonly = TRUE;
    over_claim->claim_name = g_strdup("shared");
    missing->claim_name = g_strdup("nothing");
    q.pod_name = "q";
    r.pod_name = "r";
    s.pod_name = "s";
    s.pod_run_dir = s_run;

    /* Pod p writes to it. */
    prepared = prepare_ok(&f->ctx, claim, FALSE);
    g_assert_cmpstr(prepared->filename, ==, image);
    g_assert_cmpstr(prepared->format, ==, "raw");
    g_assert_false(prepared->read_only);
    g_assert_cmpuint(prepared->virtual_size, ==, 4 * MiB);

    /* Nobody else may use it meanwhile, read-write or read-only. */
    g_assert_null(prepare(&q, claim, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "'p'"));
    g_clear_error(&error);
    g_assert_null(prepare(&q, claim_ro, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_clear_error(&error);
    g_assert_null(prepare(&s, over_claim, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_clear_error(&error);

    /* Released (twice is fine): then readers share it. */
    podvm_storage_release(&f->ctx, claim);
    podvm_storage_release(&f->ctx, claim);
    shared_a = prepare_ok(&q, claim_ro, FALSE);
    g_assert_true(shared_a->read_only);
    shared_b = prepare_ok(&r, claim, TRUE);
    g_assert_true(shared_b->read_only);
    /* An ephemeral overlay over the claim only reads it. */
    overlay = prepare_ok(&s, over_claim, FALSE);
    g_assert_cmpstr(overlay->format, ==, "qcow2");
    info = image_info(overlay->filename, "qcow2");
    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename"), ==, image);
    g_assert_cmpstr(json_object_get_string_member(info, "backing-filename-format"), ==, "raw");
    /* ... so a writer is refused while they read. */
    g_assert_null(prepare(&f->ctx, claim, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_clear_error(&error);

    podvm_storage_release(&q, claim_ro);
    podvm_storage_release(&r, claim);
    podvm_storage_release(&s, over_claim);
    g_assert_false(exists(overlay->filename));
    g_clear_pointer(&prepared, podvm_prepared_volume_free);
    prepared = prepare_ok(&f->ctx, claim, FALSE);
    podvm_storage_release(&f->ctx, claim);

    /* Everyone is gone: the volume can be deleted. */
    g_assert_true(podvm_volume_pool_delete(f->pool, "shared", &error));
    g_assert_no_error(error);

    /* A claim that does not exist, and no pool at all. */
    g_assert_null(prepare(&f->ctx, missing, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "nothing"));
    g_clear_error(&error);
    {
        PodvmStorageContext no_pool = f->ctx;

        no_pool.pool = NULL;
        g_assert_null(prepare(&no_pool, claim, FALSE, &error));
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "pool"));
        g_clear_error(&error);
        podvm_storage_release(&no_pool, claim);
    }
}

/* ------------------------------------------------------------------------ */
/* Failures leave nothing behind */

static void
test_failed_prepare_leaves_nothing(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) empty = volume_new("scratch", PODVM_VOLUME_EMPTY_DISK);
    g_autoptr(PodvmSpecVolume) ephemeral = volume_new("root", PODVM_VOLUME_EPHEMERAL);
    g_autoptr(PodvmSpecVolume) container = volume_new("cd", PODVM_VOLUME_CONTAINER_DISK);
    g_autofree char *base = write_file(f->allowed, "base.raw", MiB, 0x01);
    g_autofree char *state_listing = NULL;
    g_autofree char *run_listing = NULL;
    g_autoptr(GError) error = NULL;
    PodvmStorageContext broken = f->ctx;

    if (!require_qemu_img())
        return;

    /* qemu-img refuses the size: its own message, and no image or directory left. */
    empty->capacity = G_MAXUINT64 / 2;
    g_assert_null(prepare(&f->ctx, empty, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "qemu-img create failed: "));
    g_assert_nonnull(strstr(error->message, "'scratch'"));
    g_test_message("qemu-img's refusal: %s", error->message);
    g_clear_error(&error);

    /* qemu-img cannot be run at all. */
    broken.qemu_img = "/nonexistent/qemu-img";
    empty->capacity = MiB;
    g_assert_null(prepare(&broken, empty, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "/nonexistent/qemu-img"));
    g_clear_error(&error);
    ephemeral->path = g_strdup(base);
    g_assert_null(prepare(&broken, ephemeral, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_clear_error(&error);

    /* containerDisk from a registry without an image store: said so, nothing made. */
    container->image = g_strdup("docker://example.org/disk:latest");
    g_assert_null(prepare(&f->ctx, container, FALSE, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "no image store"));
    g_test_message("containerDisk from a registry: %s", error->message);
    g_clear_error(&error);

    state_listing = list_tree(f->state);
    g_assert_cmpstr(state_listing, ==, "");
    run_listing = list_tree(f->run);
    g_assert_cmpstr(run_listing, ==, "");

    /* Releasing what was never prepared is fine. */
    podvm_storage_release(&f->ctx, empty);
    podvm_storage_release(&f->ctx, ephemeral);
    podvm_storage_release(&f->ctx, container);
    podvm_storage_delete(&f->ctx, empty);
}

/* ------------------------------------------------------------------------ */
/* cloud-init media (the ISO writer itself is tested in test-storage-media) */

static void
test_cloud_init(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmSpecVolume) nocloud = volume_new("ci", PODVM_VOLUME_CLOUD_INIT_NOCLOUD);
    g_autoptr(PodvmSpecVolume) drive = volume_new("cd2", PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE);
    g_autoptr(PodvmPreparedVolume) prepared = NULL;
    g_autoptr(PodvmPreparedVolume) prepared_drive = NULL;
    g_autofree char *iso = g_build_filename(f->run, "volumes", "ci.iso", NULL);
    g_autofree char *contents = NULL;
    gsize length = 0;

    nocloud->user_data = g_strdup("#cloud-config\n");
    prepared = prepare_ok(&f->ctx, nocloud, FALSE);
    g_assert_cmpstr(prepared->filename, ==, iso);
    g_assert_cmpstr(prepared->format, ==, "raw");
    g_assert_true(prepared->read_only);
    /* ISO 9660: "CD001" in the primary volume descriptor at 32 KiB + 1. */
    g_assert_true(g_file_get_contents(iso, &contents, &length, NULL));
    g_assert_cmpuint(length, >, 0x8006);
    g_assert_true(memcmp(contents + 0x8001, "CD001", 5) == 0);
    g_assert_cmpuint(prepared->virtual_size, ==, length);

    prepared_drive = prepare_ok(&f->ctx, drive, FALSE);
    g_assert_true(g_str_has_suffix(prepared_drive->filename, "/volumes/cd2.iso"));

    podvm_storage_release(&f->ctx, nocloud);
    podvm_storage_release(&f->ctx, drive);
    g_assert_false(exists(iso));
    g_assert_false(exists(prepared_drive->filename));
    podvm_storage_release(&f->ctx, nocloud);
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

#define ADD(path, func)                                                              \
    g_test_add("/podvm/storage/backends/" path, Fixture, NULL, fixture_set_up, func, \
               fixture_tear_down)
    ADD("host-disk", test_host_disk);
    ADD("host-disk-symlinks", test_host_disk_symlinks);
    ADD("host-disk-create", test_host_disk_create);
    ADD("empty-disk", test_empty_disk);
    ADD("ephemeral-raw-base", test_ephemeral_raw_base);
    ADD("ephemeral-qcow2-base", test_ephemeral_qcow2_base);
    ADD("claims", test_claims);
    ADD("failed-prepare-leaves-nothing", test_failed_prepare_leaves_nothing);
    ADD("cloud-init", test_cloud_init);
#undef ADD
    return g_test_run();
}
