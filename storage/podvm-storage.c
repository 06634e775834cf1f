/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-storage.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "podvm-cloud-init.h"
#include "podvm-container-disk.h"
#include "podvm-error.h"
#include "podvm-image-ref.h"
#include "podvm-qemu-img.h"

/* qcow2's magic: "QFI\xfb". Anything else is taken as raw. */
static const guchar qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };

void
podvm_prepared_volume_free(PodvmPreparedVolume *prepared)
{
    if (prepared == NULL)
        return;
    g_free(prepared->volume_name);
    g_free(prepared->filename);
    g_free(prepared->format);
    if (prepared->fd >= 0)
        close(prepared->fd);
    if (prepared->backing_fd >= 0)
        close(prepared->backing_fd);
    g_free(prepared->backing_format);
    g_free(prepared->image_reference);
    g_free(prepared->image_digest);
    g_free(prepared);
}

static PodvmPreparedVolume *
prepared_new(const char *volume_name, const char *filename, const char *format, gboolean read_only,
             guint64 virtual_size)
{
    PodvmPreparedVolume *prepared = g_new0(PodvmPreparedVolume, 1);

    prepared->volume_name = g_strdup(volume_name);
    prepared->filename = g_strdup(filename);
    prepared->format = g_strdup(format);
    prepared->read_only = read_only;
    prepared->virtual_size = virtual_size;
    prepared->fd = -1;
    prepared->backing_fd = -1;
    return prepared;
}

/* ------------------------------------------------------------------------ */
/* Paths: every one derived from the context and the volume's name alone */

static char *
volume_file(const char *pod_dir, const char *volume_name, const char *extension)
{
    g_autofree char *file = g_strconcat(volume_name, ".", extension, NULL);
    return g_build_filename(pod_dir, "volumes", file, NULL);
}

/* emptyDisk's image is made under this name and renamed when complete. */
static char *
volume_tmp_file(const char *pod_dir, const char *volume_name, const char *extension)
{
    g_autofree char *file = g_strconcat(".", volume_name, ".", extension, ".tmp", NULL);
    return g_build_filename(pod_dir, "volumes", file, NULL);
}

static void
unlink_quietly(const char *path)
{
    if (g_unlink(path) == 0)
        return;
    if (errno == ENOENT)
        g_debug("nothing to remove at '%s'", path);
    else
        g_message("cannot remove '%s': %s", path, g_strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* Host paths */

static char *
join_allowed(const char *const *allowed)
{
    g_autoptr(GString) text = g_string_new(NULL);

    for (guint i = 0; allowed[i] != NULL; i++)
        g_string_append_printf(text, "%s'%s'", i > 0 ? ", " : "", allowed[i]);
    return g_string_free(g_steal_pointer(&text), FALSE);
}

/*
 * @path with the symlinks of its longest existing prefix resolved; the part
 * that does not exist yet is appended as it is. A dangling symlink is
 * refused: what it would create lies wherever its target says.
 */
static char *
resolve_existing_prefix(const char *path, GError **error)
{
    g_autofree char *prefix = g_strdup(path);
    g_autofree char *rest = g_strdup("");

    for (;;) {
        g_autofree char *resolved = realpath(prefix, NULL);
        g_autofree char *dir = NULL;
        g_autofree char *base = NULL;
        g_autofree char *longer = NULL;
        GStatBuf st;

        if (resolved != NULL)
            return g_strconcat(strcmp(resolved, "/") == 0 ? "" : resolved, rest, NULL);
        if (errno != ENOENT) {
            int saved = errno;
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("host path '%s' cannot be resolved: %s"), path, g_strerror(saved));
            return NULL;
        }
        if (g_lstat(prefix, &st) == 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("host path '%s' goes through '%s', a symlink to nothing; point it at "
                          "an existing file or remove it"),
                        path, prefix);
            return NULL;
        }
        dir = g_path_get_dirname(prefix);
        base = g_path_get_basename(prefix);
        longer = g_strconcat("/", base, rest, NULL);
        g_free(rest);
        rest = g_steal_pointer(&longer);
        g_free(prefix);
        prefix = g_steal_pointer(&dir);
    }
}

static gboolean
path_is_under(const char *path, const char *dir)
{
    gsize length = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return TRUE;
    return strncmp(path, dir, length) == 0 && (path[length] == '\0' || path[length] == '/');
}

/*
 * The check, giving the resolved path that was checked (what podvm then
 * opens) and, in @out_root, the resolved allowed directory it lies under.
 */
static char *
resolve_host_path(const char *path, const char *const *allowed, char **out_root, GError **error)
{
    g_autofree char *resolved = NULL;
    g_autofree char *allowed_text = NULL;
    g_auto(GStrv) components = NULL;

    if (allowed == NULL || allowed[0] == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("host path '%s' is not allowed: no directory is open to host disks; set "
                      "[storage] allowed_host_paths in podvmd.conf"),
                    path);
        return NULL;
    }
    if (path == NULL || !g_path_is_absolute(path)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("host path '%s' is not an absolute path"), path != NULL ? path : "");
        return NULL;
    }
    /* ".." after a symlink means something else to the kernel than to a string: refuse it. */
    components = g_strsplit(path, "/", -1);
    for (guint i = 0; components[i] != NULL; i++) {
        if (strcmp(components[i], "..") == 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                        _("host path '%s' contains '..'; give the path without it"), path);
            return NULL;
        }
    }
    resolved = resolve_existing_prefix(path, error);
    if (resolved == NULL)
        return NULL;
    for (guint i = 0; allowed[i] != NULL; i++) {
        g_autofree char *dir = realpath(allowed[i], NULL);

        if (dir == NULL) {
            g_debug("allowed host directory '%s' cannot be resolved: %s", allowed[i],
                    g_strerror(errno));
            continue;
        }
        if (path_is_under(resolved, dir)) {
            if (out_root != NULL)
                *out_root = g_steal_pointer(&dir);
            return g_steal_pointer(&resolved);
        }
    }
    allowed_text = join_allowed(allowed);
    if (strcmp(resolved, path) != 0)
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("host path '%s' resolves to '%s' (through a symlink), outside the allowed "
                      "directories %s"),
                    path, resolved, allowed_text);
    else
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("host path '%s' is outside the allowed directories %s; move the file there "
                      "or add its directory to [storage] allowed_host_paths in podvmd.conf"),
                    path, allowed_text);
    return NULL;
}

gboolean
podvm_storage_check_host_path(const char *path, const char *const *allowed, GError **error)
{
    g_autofree char *resolved = resolve_host_path(path, allowed, NULL, error);
    return resolved != NULL;
}

int
podvm_storage_openat_beneath(int dirfd, const char *relative, int flags, mode_t mode,
                             gboolean use_openat2)
{
    g_auto(GStrv) components = NULL;
    int current;
    guint count;

    if (relative == NULL || *relative == '\0' || g_path_is_absolute(relative)) {
        errno = EINVAL;
        return -1;
    }
    if (use_openat2) {
        struct open_how how = {
            .flags = (guint64)(flags | O_CLOEXEC),
            .mode = (flags & O_CREAT) != 0 ? (guint64)mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, dirfd, relative, &how, sizeof how);

        if (fd >= 0 || errno != ENOSYS)
            return (int)fd;
    }
    /* openat2 is Linux 5.6: walk the components, none of them a symlink, none of them "..". */
    components = g_strsplit(relative, "/", -1);
    count = g_strv_length(components);
    current = dup(dirfd);
    if (current < 0)
        return -1;
    for (guint i = 0; i < count; i++) {
        const char *name = components[i];
        gboolean last = i + 1 == count;
        int next;

        if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            close(current);
            errno = EXDEV;
            return -1;
        }
        if (last)
            next = openat(current, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        else
            next = openat(current, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int saved = errno;
            struct stat st;

            /* O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR: say what it is. */
            if (saved == ENOTDIR && !last &&
                fstatat(current, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                saved = ELOOP;
            close(current);
            errno = saved;
            return -1;
        }
        close(current);
        current = next;
    }
    return current;
}

int
podvm_storage_open_host_path(const char *path, const char *const *allowed, int flags, mode_t mode,
                             char **out_resolved, GError **error)
{
    g_autofree char *root = NULL;
    g_autofree char *resolved = resolve_host_path(path, allowed, &root, error);
    const char *relative;
    int dirfd;
    int fd;
    int saved;

    if (resolved == NULL)
        return -1;
    relative = resolved + strlen(root);
    while (*relative == '/')
        relative++;
    if (*relative == '\0') {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("host path '%s' is an allowed directory itself, not a file in it"), path);
        return -1;
    }
    dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot open directory '%s': %s"), root,
                    g_strerror(saved));
        return -1;
    }
    /*
     * The resolved path holds no symlink: opened beneath the directory with
     * no symlink allowed on the way, it reaches the very file that was
     * checked, or fails when a symlink was swapped in since.
     */
    fd = podvm_storage_openat_beneath(dirfd, relative, flags, mode, TRUE);
    saved = errno;
    close(dirfd);
    if (fd >= 0) {
        if (out_resolved != NULL)
            *out_resolved = g_steal_pointer(&resolved);
        return fd;
    }
    if (saved == ELOOP || saved == EXDEV)
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("host path '%s' changed while it was opened (a symlink appeared on the "
                      "way); it is not used"),
                    path);
    else
        g_set_error(error, PODVM_ERROR,
                    saved == ENOENT   ? PODVM_ERROR_NOT_FOUND
                    : saved == EEXIST ? PODVM_ERROR_EXISTS
                                      : PODVM_ERROR_IO,
                    _("cannot open host path '%s': %s"), path, g_strerror(saved));
    errno = saved;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* A prepare in flight: copies of what it was given, and what it made */

typedef struct {
    /* The context, copied */
    char *pod_name;
    char *pod_uid;
    char *hostname;
    char *pod_state_dir;
    char *pod_run_dir;
    char *cache_dir;
    GStrv allowed_host_paths;
    char *qemu_img;
    char *container_disk_helper;
    PodvmVolumePool *pool;
    PodvmImageStore *image_store;
    PodvmPullProgressFunc pull_progress;
    GObject *pull_progress_owner;

    PodvmSpecVolume *volume; /* copied */
    gboolean read_only;

    /* Undone when the prepare fails */
    GPtrArray *made_files; /* of char*: unlinked */
    GPtrArray *made_dirs;  /* of char*: removed when empty */
    char *acquired_claim;  /* given back to the pool */

    /* An overlay's base (ephemeral, containerDisk) */
    char *base;
    const char *base_format;
    guint64 base_size;
    char *target; /* the file QEMU opens */
    char *tmp;    /* @target while it is being made, or NULL */

    /* containerDisk: what the prepared volume records */
    char *image_reference;
    char *image_digest;
} Prepare;

static Prepare *
prepare_new(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume, gboolean read_only)
{
    Prepare *p = g_new0(Prepare, 1);

    p->pod_name = g_strdup(ctx->pod_name);
    p->pod_uid = g_strdup(ctx->pod_uid);
    p->hostname = g_strdup(ctx->hostname != NULL ? ctx->hostname : ctx->pod_name);
    p->pod_state_dir = g_strdup(ctx->pod_state_dir);
    p->pod_run_dir = g_strdup(ctx->pod_run_dir);
    p->cache_dir = g_strdup(ctx->cache_dir);
    p->allowed_host_paths = g_strdupv((char **)ctx->allowed_host_paths);
    p->qemu_img = g_strdup(ctx->qemu_img != NULL ? ctx->qemu_img : "qemu-img");
    p->container_disk_helper = g_strdup(ctx->container_disk_helper);
    p->pool = ctx->pool != NULL ? g_object_ref(ctx->pool) : NULL;
    p->image_store = ctx->image_store != NULL ? g_object_ref(ctx->image_store) : NULL;
    if (ctx->pull_progress != NULL && ctx->pull_progress_owner != NULL) {
        p->pull_progress = ctx->pull_progress;
        p->pull_progress_owner = g_object_ref(ctx->pull_progress_owner);
    }
    p->volume = podvm_spec_volume_copy(volume);
    p->read_only = read_only;
    p->made_files = g_ptr_array_new_with_free_func(g_free);
    p->made_dirs = g_ptr_array_new_with_free_func(g_free);
    return p;
}

static void
prepare_free(Prepare *p)
{
    g_free(p->pod_name);
    g_free(p->pod_uid);
    g_free(p->hostname);
    g_free(p->pod_state_dir);
    g_free(p->pod_run_dir);
    g_free(p->cache_dir);
    g_strfreev(p->allowed_host_paths);
    g_free(p->qemu_img);
    g_free(p->container_disk_helper);
    g_clear_object(&p->pool);
    g_clear_object(&p->image_store);
    g_clear_object(&p->pull_progress_owner);
    podvm_spec_volume_free(p->volume);
    g_ptr_array_unref(p->made_files);
    g_ptr_array_unref(p->made_dirs);
    g_free(p->acquired_claim);
    g_free(p->base);
    g_free(p->target);
    g_free(p->tmp);
    g_free(p->image_reference);
    g_free(p->image_digest);
    g_free(p);
}

/* Makes POD_DIR/volumes (0700) and remembers it when it is new. */
static gboolean
ensure_volumes_dir(Prepare *p, const char *pod_dir, GError **error)
{
    g_autofree char *dir = g_build_filename(pod_dir, "volumes", NULL);

    if (g_file_test(dir, G_FILE_TEST_IS_DIR))
        return TRUE;
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create directory '%s': %s"), dir,
                    g_strerror(saved));
        return FALSE;
    }
    g_ptr_array_add(p->made_dirs, g_steal_pointer(&dir));
    return TRUE;
}

/* A failed prepare leaves nothing behind: files, new directories, the claim. */
static void
prepare_fail(GTask *task, GError *error)
{
    Prepare *p = g_task_get_task_data(task);

    for (guint i = p->made_files->len; i > 0; i--)
        unlink_quietly(g_ptr_array_index(p->made_files, i - 1));
    g_ptr_array_set_size(p->made_files, 0);
    for (guint i = p->made_dirs->len; i > 0; i--)
        (void)g_rmdir(g_ptr_array_index(p->made_dirs, i - 1));
    g_ptr_array_set_size(p->made_dirs, 0);
    if (p->acquired_claim != NULL && p->pool != NULL)
        podvm_volume_pool_release(p->pool, p->acquired_claim, p->pod_name);
    g_clear_pointer(&p->acquired_claim, g_free);

    if (error->domain != PODVM_ERROR) {
        GError *converted = podvm_error_from_component(error);
        g_error_free(error);
        error = converted;
    }
    g_prefix_error(&error, _("volume '%s': "), p->volume->name);
    g_task_return_error(task, error);
}

/*
 * What QEMU opens, podvmd opens first: QEMU gets fds (it may run as a user
 * that cannot reach podvm's directories). Read-only when the disk or the
 * medium is.
 */
static void
prepare_succeed(GTask *task, PodvmPreparedVolume *prepared)
{
    Prepare *p = g_task_get_task_data(task);
    int saved;

    if (prepared->fd < 0) {
        int flags = p->read_only || prepared->read_only ? O_RDONLY : O_RDWR;

        prepared->fd = open(prepared->filename, flags | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (prepared->fd < 0) {
            saved = errno;
            podvm_prepared_volume_free(prepared);
            prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot open '%s': %s"),
                                           p->target != NULL ? p->target : p->volume->name,
                                           g_strerror(saved)));
            return;
        }
    }
    if (p->base != NULL && prepared->backing_fd < 0) {
        /* An overlay's base, given to QEMU as its backing node (never found by its path). */
        if (p->volume->source == PODVM_VOLUME_EPHEMERAL && p->volume->path != NULL) {
            GError *error = NULL;

            prepared->backing_fd = podvm_storage_open_host_path(
                p->volume->path, (const char *const *)p->allowed_host_paths, O_RDONLY | O_NOCTTY, 0,
                NULL, &error);
            if (prepared->backing_fd < 0) {
                podvm_prepared_volume_free(prepared);
                prepare_fail(task, error);
                return;
            }
        } else {
            prepared->backing_fd = open(p->base, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
            if (prepared->backing_fd < 0) {
                saved = errno;
                podvm_prepared_volume_free(prepared);
                prepare_fail(task,
                             g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot open '%s': %s"),
                                         p->base, g_strerror(saved)));
                return;
            }
        }
        prepared->backing_format = g_strdup(p->base_format);
    }
    g_task_return_pointer(task, prepared, (GDestroyNotify)podvm_prepared_volume_free);
}

/* ------------------------------------------------------------------------ */
/* hostDisk: the file itself, always raw (KubeVirt's hostDisk is raw too): never probed */

static guint64
block_device_size(int fd)
{
    guint64 size = 0;

    if (ioctl(fd, BLKGETSIZE64, &size) != 0)
        size = 0;
    return size;
}

static int
create_host_disk(Prepare *p, GError **error)
{
    const PodvmSpecVolume *volume = p->volume;
    g_autofree char *resolved = NULL;
    int fd;

    if (volume->capacity == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("hostDisk '%s' does not exist and has no capacity to create it with"),
                    volume->path);
        return -1;
    }
    /* O_EXCL: a file that appeared since the check is not ours to size. */
    fd = podvm_storage_open_host_path(volume->path, (const char *const *)p->allowed_host_paths,
                                      O_RDWR | O_CREAT | O_EXCL, 0600, &resolved, error);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)volume->capacity) != 0) {
        int saved = errno;
        close(fd);
        unlink_quietly(resolved);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot size hostDisk '%s': %s"),
                    volume->path, g_strerror(saved));
        return -1;
    }
    return fd;
}

/*
 * The file is opened once, beneath its allowed directory, and that fd is
 * what QEMU gets: no path is looked up again between the check and QEMU.
 */
static PodvmPreparedVolume *
prepare_host_disk(Prepare *p, GError **error)
{
    const PodvmSpecVolume *volume = p->volume;
    g_autofree char *path = NULL;
    g_autoptr(GError) local = NULL;
    PodvmPreparedVolume *prepared;
    struct stat st;
    int flags = p->read_only ? O_RDONLY : O_RDWR;
    int fd;

    fd = podvm_storage_open_host_path(volume->path, (const char *const *)p->allowed_host_paths,
                                      flags | O_NOCTTY, 0, &path, &local);
    if (fd < 0 && g_error_matches(local, PODVM_ERROR, PODVM_ERROR_NOT_FOUND) && volume->create) {
        g_clear_error(&local);
        fd = create_host_disk(p, &local);
        if (fd >= 0)
            path = resolve_host_path(volume->path, (const char *const *)p->allowed_host_paths, NULL,
                                     NULL);
    }
    if (fd < 0) {
        if (g_error_matches(local, PODVM_ERROR, PODVM_ERROR_NOT_FOUND))
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                        _("hostDisk '%s' does not exist; create it or use type DiskOrCreate"),
                        volume->path);
        else
            g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        close(fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("hostDisk '%s' is neither a regular file nor a block device"), volume->path);
        return NULL;
    }
    prepared = prepared_new(volume->name, path != NULL ? path : volume->path, "raw", FALSE,
                            S_ISREG(st.st_mode) ? (guint64)st.st_size : block_device_size(fd));
    prepared->block_device = S_ISBLK(st.st_mode);
    prepared->read_only = FALSE;
    prepared->fd = fd;
    return prepared;
}

static void
host_disk_thread(GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
    GError *error = NULL;
    PodvmPreparedVolume *prepared = prepare_host_disk(task_data, &error);

    if (prepared == NULL)
        prepare_fail(task, error);
    else
        prepare_succeed(task, prepared);
}

/* ------------------------------------------------------------------------ */
/* emptyDisk: made once, kept with the pod */

static void
empty_disk_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Prepare *p = g_task_get_task_data(task);
    GError *error = NULL;

    if (!podvm_qemu_img_create_finish(result, &error)) {
        prepare_fail(task, error);
        return;
    }
    if (rename(p->tmp, p->target) != 0) {
        int saved = errno;
        prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot rename '%s': %s"),
                                       p->tmp, g_strerror(saved)));
        return;
    }
    prepare_succeed(task,
                    prepared_new(p->volume->name, p->target, "qcow2", FALSE, p->volume->capacity));
}

static void
prepare_empty_disk(GTask *task)
{
    Prepare *p = g_task_get_task_data(task);
    GError *error = NULL;
    GStatBuf st;

    if (p->volume->capacity == 0) {
        prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                       _("emptyDisk needs a capacity")));
        return;
    }
    p->target = volume_file(p->pod_state_dir, p->volume->name, "qcow2");
    if (g_lstat(p->target, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO,
                                           _("'%s' is not a regular file"), p->target));
            return;
        }
        prepare_succeed(
            task, prepared_new(p->volume->name, p->target, "qcow2", FALSE, p->volume->capacity));
        return;
    }
    if (!ensure_volumes_dir(p, p->pod_state_dir, &error)) {
        prepare_fail(task, error);
        return;
    }
    /* Made under a temporary name: a crash never leaves half an image under the real one. */
    p->tmp = volume_tmp_file(p->pod_state_dir, p->volume->name, "qcow2");
    (void)g_unlink(p->tmp);
    g_ptr_array_add(p->made_files, g_strdup(p->tmp));
    podvm_qemu_img_create_async(p->qemu_img, "qcow2", p->tmp, p->volume->capacity, NULL, NULL,
                                g_task_get_cancellable(task), empty_disk_cb, g_object_ref(task));
}

/* ------------------------------------------------------------------------ */
/* Overlays (ephemeral, containerDisk): made fresh at every prepare */

static void
overlay_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Prepare *p = g_task_get_task_data(task);
    PodvmPreparedVolume *prepared;
    GError *error = NULL;

    if (!podvm_qemu_img_create_finish(result, &error)) {
        prepare_fail(task, error);
        return;
    }
    prepared = prepared_new(p->volume->name, p->target, "qcow2", FALSE, p->base_size);
    prepared->image_reference = g_strdup(p->image_reference);
    prepared->image_digest = g_strdup(p->image_digest);
    prepare_succeed(task, prepared);
}

/* Consumes @task. p->base, base_format and base_size are set. */
static void
make_overlay(GTask *task)
{
    Prepare *p = g_task_get_task_data(task);
    GError *error = NULL;

    if (!ensure_volumes_dir(p, p->pod_run_dir, &error)) {
        prepare_fail(task, error);
        g_object_unref(task);
        return;
    }
    p->target = volume_file(p->pod_run_dir, p->volume->name, "qcow2");
    /* Whatever the last run wrote is discarded: ephemeral means fresh at every start. */
    (void)g_unlink(p->target);
    g_ptr_array_add(p->made_files, g_strdup(p->target));
    podvm_qemu_img_create_async(p->qemu_img, "qcow2", p->target, 0, p->base, p->base_format,
                                g_task_get_cancellable(task), overlay_cb, task);
}

/* A qcow2 that names a backing or data file would let a pod read another host file. */
static gboolean
qcow2_refers_to_other_files(JsonObject *info)
{
    JsonNode *specific = json_object_get_member(info, "format-specific");
    JsonNode *data;

    if (json_object_has_member(info, "backing-filename") ||
        json_object_has_member(info, "full-backing-filename"))
        return TRUE;
    if (specific == NULL || !JSON_NODE_HOLDS_OBJECT(specific))
        return FALSE;
    data = json_object_get_member(json_node_get_object(specific), "data");
    return data != NULL && JSON_NODE_HOLDS_OBJECT(data) &&
           json_object_has_member(json_node_get_object(data), "data-file");
}

static void
base_info_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    Prepare *p = g_task_get_task_data(task);
    g_autoptr(JsonObject) info = NULL;
    GError *error = NULL;
    JsonNode *size;

    info = podvm_qemu_img_info_finish(result, &error);
    if (info == NULL) {
        prepare_fail(task, error);
        g_object_unref(task);
        return;
    }
    if (qcow2_refers_to_other_files(info)) {
        prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                       _("image '%s' refers to another file (a backing or data "
                                         "file); give a self-contained image"),
                                       p->volume->path));
        g_object_unref(task);
        return;
    }
    size = json_object_get_member(info, "virtual-size");
    if (size != NULL && json_node_get_value_type(size) == G_TYPE_INT64 &&
        json_node_get_int(size) > 0)
        p->base_size = (guint64)json_node_get_int(size);
    make_overlay(task);
}

typedef struct {
    char *path; /* resolved */
    gboolean qcow2;
    guint64 size;
} BaseFacts;

static void
base_facts_free(BaseFacts *facts)
{
    g_free(facts->path);
    g_free(facts);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BaseFacts, base_facts_free)

/* The image path is a host path like hostDisk's: same allowed directories. */
static void
probe_base_thread(GTask *task, gpointer source_object, gpointer task_data,
                  GCancellable *cancellable)
{
    Prepare *p = task_data;
    g_autoptr(BaseFacts) facts = g_new0(BaseFacts, 1);
    g_autoptr(GError) error = NULL;
    guchar magic[sizeof qcow2_magic];
    struct stat st;
    ssize_t n;
    int fd;

    facts->path = resolve_host_path(p->volume->path, (const char *const *)p->allowed_host_paths,
                                    NULL, &error);
    if (facts->path == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    fd = open(facts->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        g_task_return_new_error(
            task, PODVM_ERROR, saved == ENOENT ? PODVM_ERROR_NOT_FOUND : PODVM_ERROR_IO,
            _("cannot open image '%s': %s"), p->volume->path, g_strerror(saved));
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                _("image '%s' is not a regular file"), p->volume->path);
        return;
    }
    n = pread(fd, magic, sizeof magic, 0);
    close(fd);
    facts->qcow2 = n == (ssize_t)sizeof magic && memcmp(magic, qcow2_magic, sizeof magic) == 0;
    facts->size = (guint64)st.st_size;
    g_task_return_pointer(task, g_steal_pointer(&facts), (GDestroyNotify)base_facts_free);
}

static void
probe_base_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    Prepare *p = g_task_get_task_data(task);
    g_autoptr(BaseFacts) facts = NULL;
    GError *error = NULL;

    facts = g_task_propagate_pointer(G_TASK(result), &error);
    if (facts == NULL) {
        prepare_fail(task, error);
        g_object_unref(task);
        return;
    }
    p->base = g_steal_pointer(&facts->path);
    p->base_size = facts->size;
    if (!facts->qcow2) {
        p->base_format = "raw";
        make_overlay(task);
        return;
    }
    p->base_format = "qcow2";
    podvm_qemu_img_info_async(p->qemu_img, p->base, "qcow2", g_task_get_cancellable(task),
                              base_info_cb, task);
}

static gboolean
acquire_claim(Prepare *p, gboolean read_only, char **out_path, guint64 *out_size, GError **error)
{
    if (p->volume->claim_name == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, _("no claim name given"));
        return FALSE;
    }
    if (p->pool == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("no volume pool is configured for claim '%s'; set [storage] pool_dir in "
                      "podvmd.conf"),
                    p->volume->claim_name);
        return FALSE;
    }
    if (!podvm_volume_pool_acquire(p->pool, p->volume->claim_name, p->pod_name, read_only, out_path,
                                   out_size, error))
        return FALSE;
    p->acquired_claim = g_strdup(p->volume->claim_name);
    return TRUE;
}

/* Consumes @task. */
static void
prepare_ephemeral(GTask *task)
{
    Prepare *p = g_task_get_task_data(task);
    GError *error = NULL;

    if (p->volume->path != NULL) {
        g_autoptr(GTask) probe =
            g_task_new(NULL, g_task_get_cancellable(task), probe_base_cb, task);
        g_task_set_task_data(probe, p, NULL);
        g_task_run_in_thread(probe, probe_base_thread);
        return;
    }
    /* The claim is only ever read through the overlay, so other pods may share it. */
    if (!acquire_claim(p, TRUE, &p->base, &p->base_size, &error)) {
        prepare_fail(task, error);
        g_object_unref(task);
        return;
    }
    p->base_format = "raw";
    make_overlay(task);
}

/* ------------------------------------------------------------------------ */
/* containerDisk */

static void
container_disk_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    Prepare *p = g_task_get_task_data(task);
    g_autoptr(PodvmContainerDisk) disk = NULL;
    GError *error = NULL;

    disk = podvm_container_disk_unpack_in_helper_finish(result, &error);
    if (disk == NULL) {
        prepare_fail(task, error);
        g_object_unref(task);
        return;
    }
    p->base = g_strdup(disk->path);
    p->base_format = g_strcmp0(disk->format, "qcow2") == 0 ? "qcow2" : "raw";
    p->base_size = disk->virtual_size;
    if (p->image_reference == NULL)
        p->image_reference = g_strdup(p->volume->image);
    if (p->image_digest == NULL)
        p->image_digest = g_strdup(disk->digest);
    make_overlay(task);
}

/* Consumes @task. Unpacks the disk of @image ("oci:..."). */
static void
container_disk_unpack(GTask *task, const char *image)
{
    Prepare *p = g_task_get_task_data(task);

    podvm_container_disk_unpack_in_helper_async(
        p->container_disk_helper, image, p->volume->image_path, p->cache_dir, p->qemu_img,
        g_task_get_cancellable(task), container_disk_cb, task);
}

static void
container_disk_pulled_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    Prepare *p = g_task_get_task_data(task);
    g_autoptr(PodvmImage) image = NULL;
    g_autofree char *layout = NULL;
    GError *error = NULL;

    image = podvm_image_store_pull_finish(PODVM_IMAGE_STORE(source), result, &error);
    if (image == NULL) {
        prepare_fail(task, error);
        g_object_unref(task);
        return;
    }
    p->image_reference = g_strdup(image->reference);
    p->image_digest = g_strdup(image->digest);
    layout = podvm_image_store_layout_ref(p->image_store, image);
    container_disk_unpack(task, layout);
}

static PodvmPullPolicy
pull_policy(const char *name)
{
    if (g_strcmp0(name, "Always") == 0)
        return PODVM_PULL_ALWAYS;
    if (g_strcmp0(name, "Never") == 0)
        return PODVM_PULL_NEVER;
    return PODVM_PULL_IF_NOT_PRESENT;
}

/* Consumes @task. A registry image is pulled into the store first, then read from there. */
static void
prepare_container_disk(GTask *task)
{
    Prepare *p = g_task_get_task_data(task);

    if (p->volume->image == NULL || !podvm_image_ref_is_registry(p->volume->image)) {
        container_disk_unpack(task, p->volume->image != NULL ? p->volume->image : "");
        return;
    }
    if (p->image_store == NULL) {
        g_autofree char *quoted = podvm_quote_for_message(p->volume->image);

        prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                       _("image %s is in a registry, and this podvmd has no "
                                         "image store"),
                                       quoted));
        g_object_unref(task);
        return;
    }
    podvm_image_store_pull_async(p->image_store, p->volume->image,
                                 pull_policy(p->volume->image_pull_policy), p->pull_progress,
                                 p->pull_progress_owner, g_task_get_cancellable(task),
                                 container_disk_pulled_cb, task);
}

/* ------------------------------------------------------------------------ */
/* cloud-init media */

static void
cloud_init_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    Prepare *p = g_task_get_task_data(task);
    GError *error = NULL;
    GStatBuf st;

    if (!podvm_cloud_init_write_iso_finish(result, &error)) {
        prepare_fail(task, error);
        return;
    }
    prepare_succeed(task, prepared_new(p->volume->name, p->target, "raw", TRUE,
                                       g_stat(p->target, &st) == 0 ? (guint64)st.st_size : 0));
}

static void
prepare_cloud_init(GTask *task)
{
    Prepare *p = g_task_get_task_data(task);
    gboolean config_drive = p->volume->source == PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE;
    PodvmCloudInitMedia media = {
        .flavor = config_drive ? PODVM_CLOUD_INIT_CONFIG_DRIVE : PODVM_CLOUD_INIT_NOCLOUD,
        .instance_id = p->pod_uid,
        .hostname = p->hostname,
        .user_data = p->volume->user_data,
        .meta_data = config_drive ? NULL : p->volume->meta_data,
        .network_data = p->volume->network_data,
    };
    GError *error = NULL;

    if (!ensure_volumes_dir(p, p->pod_run_dir, &error)) {
        prepare_fail(task, error);
        return;
    }
    p->target = volume_file(p->pod_run_dir, p->volume->name, "iso");
    g_ptr_array_add(p->made_files, g_strdup(p->target));
    podvm_cloud_init_write_iso_async(&media, p->target, g_task_get_cancellable(task), cloud_init_cb,
                                     g_object_ref(task));
}

/* ------------------------------------------------------------------------ */

void
podvm_storage_prepare_async(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume,
                            gboolean read_only, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    GError *error = NULL;
    Prepare *p;

    g_return_if_fail(ctx != NULL && volume != NULL && volume->name != NULL);
    g_return_if_fail(ctx->pod_name != NULL && ctx->pod_state_dir != NULL &&
                     ctx->pod_run_dir != NULL);

    task = g_task_new(NULL, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_storage_prepare_async);
    p = prepare_new(ctx, volume, read_only);
    g_task_set_task_data(task, p, (GDestroyNotify)prepare_free);

    switch (volume->source) {
    case PODVM_VOLUME_HOST_DISK:
        g_task_run_in_thread(task, host_disk_thread);
        return;
    case PODVM_VOLUME_EMPTY_DISK:
        prepare_empty_disk(task);
        return;
    case PODVM_VOLUME_EPHEMERAL:
        prepare_ephemeral(g_steal_pointer(&task));
        return;
    case PODVM_VOLUME_CONTAINER_DISK:
        prepare_container_disk(g_steal_pointer(&task));
        return;
    case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
    case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
        prepare_cloud_init(task);
        return;
    case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
    case PODVM_VOLUME_DATA_VOLUME: {
        gboolean claim_read_only = read_only || volume->readonly;
        g_autofree char *path = NULL;
        guint64 size = 0;

        if (!acquire_claim(p, claim_read_only, &path, &size, &error)) {
            prepare_fail(task, error);
            return;
        }
        prepare_succeed(task, prepared_new(volume->name, path, "raw", claim_read_only, size));
        return;
    }
    }
    prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                   _("unknown volume source %d"), (int)volume->source));
}

PodvmPreparedVolume *
podvm_storage_prepare_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_storage_prepare_async,
                         NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
podvm_storage_release(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume)
{
    g_autofree char *path = NULL;

    g_return_if_fail(ctx != NULL && volume != NULL && volume->name != NULL);

    switch (volume->source) {
    case PODVM_VOLUME_HOST_DISK:
    case PODVM_VOLUME_EMPTY_DISK:
        /* The user's file, and emptyDisk's image, outlive a stop. */
        return;
    case PODVM_VOLUME_EPHEMERAL:
    case PODVM_VOLUME_CONTAINER_DISK:
        path = volume_file(ctx->pod_run_dir, volume->name, "qcow2");
        unlink_quietly(path);
        if (volume->source == PODVM_VOLUME_EPHEMERAL && volume->path == NULL &&
            volume->claim_name != NULL && ctx->pool != NULL)
            podvm_volume_pool_release(ctx->pool, volume->claim_name, ctx->pod_name);
        return;
    case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
    case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
        path = volume_file(ctx->pod_run_dir, volume->name, "iso");
        unlink_quietly(path);
        return;
    case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
    case PODVM_VOLUME_DATA_VOLUME:
        if (volume->claim_name != NULL && ctx->pool != NULL)
            podvm_volume_pool_release(ctx->pool, volume->claim_name, ctx->pod_name);
        return;
    }
}

void
podvm_storage_delete(const PodvmStorageContext *ctx, const PodvmSpecVolume *volume)
{
    g_return_if_fail(ctx != NULL && volume != NULL && volume->name != NULL);

    podvm_storage_release(ctx, volume);
    if (volume->source == PODVM_VOLUME_EMPTY_DISK) {
        g_autofree char *image = volume_file(ctx->pod_state_dir, volume->name, "qcow2");
        g_autofree char *tmp = volume_tmp_file(ctx->pod_state_dir, volume->name, "qcow2");

        unlink_quietly(image);
        unlink_quietly(tmp);
    }
}
