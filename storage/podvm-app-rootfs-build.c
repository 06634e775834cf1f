/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Builds an app's root filesystem from an OCI image: layers applied in
 * order into a temporary directory, then mkfs.erofs. Runs in the helper
 * process podvm-unpack-app-rootfs; see podvm-app-rootfs-build.h for the
 * rules. Every file operation goes through a directory fd that was
 * resolved inside the root (openat2 RESOLVE_IN_ROOT), and the last
 * component of a name is never followed.
 */
#include "podvm-app-rootfs-build.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-oci-layout.h"

#define STALE_TEMPORARY_SECONDS 3600
#define WRITE_CHUNK (1024 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_MARKER ".wh..wh..opq"
/* Names have at most this many components: deeper is an attack, and
 * removing a tree holds one fd per level. */
#define MAX_DEPTH 512

typedef struct archive Archive;
static void
archive_free_read(Archive *a)
{
    archive_read_free(a);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Archive, archive_free_read)

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}
#define autofd __attribute__((cleanup(close_fd)))

typedef struct {
    mode_t mode;
    gint64 uid;
    gint64 gid;
} DirMeta;

typedef struct {
    PodvmOciLayout *layout;
    GCancellable *cancellable;
    guint64 max_bytes;
    guint64 max_entries;
    gboolean as_root;
    int root_fd;    /* the temporary root directory */
    char *root_dir; /* its path */
    guint64 bytes;
    guint64 entries;
    /* Normalised paths written by the current layer: its whiteouts leave them. */
    GHashTable *layer_paths;
    /* Directory path -> DirMeta, applied once every layer is in. */
    GHashTable *dir_meta;
    /* The current layer, for messages. */
    const char *layer_digest;
    guint layer_index;
} Build;

static long
sys_openat2(int dirfd, const char *path, int flags, guint64 resolve)
{
    struct open_how how = { .flags = (guint64)flags, .mode = 0, .resolve = resolve };

    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* @path (relative, normalised) resolved inside the root; symbolic links on
 * the way are followed as if the root were "/", ".." stops at the root. */
static int
open_in_root(Build *build, const char *path, int flags)
{
    long fd;
    guint tries = 0;

    if (path[0] == '\0')
        path = ".";
    /* EAGAIN: a rename raced with the lookup; nobody else renames in our root. */
    do {
        fd = sys_openat2(build->root_fd, path, flags | O_CLOEXEC,
                         RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    } while (fd < 0 && errno == EAGAIN && ++tries < 16);
    return (int)fd;
}

static char *
quote(const char *text)
{
    return podvm_quote_for_message(text);
}

static gboolean
entry_error(Build *build, GError **error, int code, const char *path, const char *why)
{
    g_autofree char *quoted = quote(path);

    g_set_error(error, PODVM_ERROR, code, _("image '%s': layer %s: entry %s: %s"),
                build->layout->image, build->layer_digest, quoted, why);
    return FALSE;
}

static gboolean
entry_errno(Build *build, GError **error, const char *path, const char *what, int saved)
{
    g_autofree char *why = g_strdup_printf("%s: %s", what, g_strerror(saved));

    return entry_error(build, error,
                       saved == ENOSPC || saved == EDQUOT || saved == EIO ? PODVM_ERROR_IO
                                                                          : PODVM_ERROR_FAILED,
                       path, why);
}

/*
 * "./usr//bin/" -> "usr/bin". NULL (with the reason) for a '..' component
 * or an absolute name: nothing in a layer may name a place outside it.
 */
static char *
normalize_name(const char *name, const char **out_why)
{
    g_auto(GStrv) parts = NULL;
    g_autoptr(GPtrArray) kept = g_ptr_array_new();

    if (name[0] == '/') {
        *out_why = _("absolute names are refused");
        return NULL;
    }
    parts = g_strsplit(name, "/", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        if (parts[i][0] == '\0' || strcmp(parts[i], ".") == 0)
            continue;
        if (strcmp(parts[i], "..") == 0) {
            *out_why = _("a '..' component leaves the root; refused");
            return NULL;
        }
        g_ptr_array_add(kept, parts[i]);
    }
    if (kept->len > MAX_DEPTH) {
        *out_why = _("too deeply nested");
        return NULL;
    }
    g_ptr_array_add(kept, NULL);
    return g_strjoinv("/", (char **)kept->pdata);
}

/* ------------------------------------------------------------------------ */
/* Removing trees without following links */

/*
 * Removes everything in the directory @dir_fd (not the directory itself),
 * except the paths in @keep (names under @prefix): a kept directory is
 * itself emptied of what is not kept.
 */
static gboolean
empty_dir_fd(int dir_fd, gboolean as_root, GHashTable *keep, const char *prefix, int *out_errno)
{
    autofd int fd = dup(dir_fd);
    DIR *dir;
    struct dirent *ent;
    gboolean ok = TRUE;

    if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
        *out_errno = errno;
        return FALSE;
    }
    fd = -1; /* the DIR owns it */
    while ((ent = readdir(dir)) != NULL) {
        g_autofree char *path = NULL;
        gboolean kept;
        struct stat st;

        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (keep != NULL)
            path = prefix[0] != '\0' ? g_strdup_printf("%s/%s", prefix, ent->d_name)
                                     : g_strdup(ent->d_name);
        kept = path != NULL && g_hash_table_contains(keep, path);
        if (fstatat(dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            *out_errno = errno;
            ok = FALSE;
            break;
        }
        if (kept && !S_ISDIR(st.st_mode))
            continue;
        if (S_ISDIR(st.st_mode)) {
            autofd int child = -1;

            if (!as_root)
                fchmodat(dirfd(dir), ent->d_name, 0700, 0);
            child =
                openat(dirfd(dir), ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0 ||
                !empty_dir_fd(child, as_root, kept ? keep : NULL, kept ? path : "", out_errno)) {
                if (child < 0)
                    *out_errno = errno;
                ok = FALSE;
                break;
            }
            if (!kept && unlinkat(dirfd(dir), ent->d_name, AT_REMOVEDIR) != 0) {
                *out_errno = errno;
                ok = FALSE;
                break;
            }
        } else if (unlinkat(dirfd(dir), ent->d_name, 0) != 0) {
            *out_errno = errno;
            ok = FALSE;
            break;
        }
    }
    closedir(dir);
    return ok;
}

/* Removes @name in @parent_fd, a whole tree when it is a directory. */
static gboolean
remove_at(int parent_fd, const char *name, gboolean as_root, int *out_errno)
{
    struct stat st;
    autofd int child = -1;

    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return TRUE;
        *out_errno = errno;
        return FALSE;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent_fd, name, 0) != 0) {
            *out_errno = errno;
            return FALSE;
        }
        return TRUE;
    }
    if (!as_root)
        fchmodat(parent_fd, name, 0700, 0);
    child = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
        *out_errno = errno;
        return FALSE;
    }
    if (!empty_dir_fd(child, as_root, NULL, "", out_errno))
        return FALSE;
    if (unlinkat(parent_fd, name, AT_REMOVEDIR) != 0) {
        *out_errno = errno;
        return FALSE;
    }
    return TRUE;
}

static void
remove_path(const char *path, gboolean as_root)
{
    g_autofree char *parent = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    autofd int parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int saved = 0;

    if (parent_fd < 0 || !remove_at(parent_fd, base, as_root, &saved))
        g_warning("cannot remove '%s': %s", path, g_strerror(saved != 0 ? saved : errno));
}

/* ------------------------------------------------------------------------ */
/* Parents */

/*
 * The directory that holds @path's last component, resolved inside the
 * root; missing directories on the way are created (@create) or make it
 * return -1 with ENOENT. Errors name the entry @path.
 */
static int
open_parent(Build *build, const char *path, gboolean create, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    guint n = g_strv_length(parts);
    autofd int current = -1;
    g_autoptr(GString) prefix = g_string_new(NULL);

    current = open_in_root(build, "", O_PATH | O_DIRECTORY);
    if (current < 0) {
        entry_errno(build, error, path, _("cannot open the root"), errno);
        return -1;
    }
    for (guint i = 0; i + 1 < n; i++) {
        int next;

        if (prefix->len > 0)
            g_string_append_c(prefix, '/');
        g_string_append(prefix, parts[i]);
        next = open_in_root(build, prefix->str, O_PATH | O_DIRECTORY);
        if (next < 0 && errno == ENOENT && create) {
            struct stat st;

            /* Missing here, or a link to something missing? */
            if (fstatat(current, parts[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
                g_autofree char *why = g_strdup_printf(
                    _("its parent '%s' is a symbolic link to a missing directory; refused"),
                    prefix->str);

                entry_error(build, error, PODVM_ERROR_INVALID_ARGUMENT, path, why);
                return -1;
            }
            if (mkdirat(current, parts[i], 0755) != 0 && errno != EEXIST) {
                entry_errno(build, error, path, _("cannot create its parent directory"), errno);
                return -1;
            }
            next = openat(current, parts[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            int saved = errno;

            if (saved == ENOENT && !create) {
                errno = ENOENT;
                return -1;
            }
            if (saved == ENOTDIR) {
                g_autofree char *why =
                    g_strdup_printf(_("its parent '%s' is not a directory"), prefix->str);

                entry_error(build, error, PODVM_ERROR_INVALID_ARGUMENT, path, why);
            } else if (saved == EXDEV) {
                g_autofree char *why =
                    g_strdup_printf(_("its parent '%s' leads outside the root"), prefix->str);

                entry_error(build, error, PODVM_ERROR_INVALID_ARGUMENT, path, why);
            } else {
                entry_errno(build, error, path, _("cannot open its parent directory"), saved);
            }
            return -1;
        }
        close(current);
        current = next;
    }
    {
        int result = current;

        current = -1;
        return result;
    }
}

/* The last component of @path. */
static const char *
base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

/* ------------------------------------------------------------------------ */
/* Entries */

static mode_t
safe_mode(Build *build, mode_t mode, gboolean is_dir)
{
    mode &= 07777 & ~(mode_t)(S_ISUID | S_ISGID);
    /* Without root, we must still read what we wrote (mkfs.erofs does). */
    if (!build->as_root)
        mode |= is_dir ? S_IRWXU : S_IRUSR;
    return mode;
}

static void
set_owner(Build *build, int fd, const char *name, struct archive_entry *entry, int flags)
{
    if (!build->as_root)
        return;
    if (fchownat(fd, name, (uid_t)archive_entry_uid(entry), (gid_t)archive_entry_gid(entry),
                 flags) != 0)
        g_debug("cannot set the owner of '%s': %s", name, g_strerror(errno));
}

/* Makes room for a new non-directory @name: removes what is there. */
static gboolean
clear_name(Build *build, int parent_fd, const char *path, GError **error)
{
    int saved = 0;

    if (!remove_at(parent_fd, base_name(path), build->as_root, &saved))
        return entry_errno(build, error, path, _("cannot replace what lower layers put there"),
                           saved);
    return TRUE;
}

static gboolean
write_all(int fd, const void *data, gsize length)
{
    const guchar *p = data;

    while (length > 0) {
        ssize_t n = write(fd, p, length);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return FALSE;
        p += n;
        length -= (gsize)n;
    }
    return TRUE;
}

static gboolean
check_bytes(Build *build, guint64 more, const char *path, GError **error)
{
    if (more > build->max_bytes - MIN(build->bytes, build->max_bytes)) {
        g_autofree char *why = g_strdup_printf(
            _("the image unpacks to more than %" G_GUINT64_FORMAT " bytes; refused"),
            build->max_bytes);

        return entry_error(build, error, PODVM_ERROR_FAILED, path, why);
    }
    build->bytes += more;
    return TRUE;
}

static gboolean
write_file(Build *build, Archive *a, struct archive_entry *entry, int parent_fd, const char *path,
           GError **error)
{
    const char *name = base_name(path);
    autofd int fd = -1;
    const void *block;
    size_t size;
    la_int64_t offset;
    gint64 end = 0;
    int ret;

    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0 &&
        !check_bytes(build, (guint64)archive_entry_size(entry), path, error))
        return FALSE;
    if (!clear_name(build, parent_fd, path, error))
        return FALSE;
    fd = openat(parent_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_errno(build, error, path, _("cannot create it"), errno);
    while ((ret = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
        gint64 counted = MAX(end, archive_entry_size(entry));

        /* Data past the declared size (sparse or unsized entries) counts too. */
        if (offset + (gint64)size > counted &&
            !check_bytes(build, (guint64)(offset + (gint64)size - counted), path, error))
            return FALSE;
        if (lseek(fd, (off_t)offset, SEEK_SET) < 0 || !write_all(fd, block, size))
            return entry_errno(build, error, path, _("cannot write it"), errno);
        end = MAX(end, offset + (gint64)size);
    }
    if (ret != ARCHIVE_EOF) {
        g_autofree char *why = g_strdup_printf(_("cannot read it: %s"), archive_error_string(a));

        return entry_error(build, error, PODVM_ERROR_FAILED, path, why);
    }
    /* Holes at the end (sparse entries) count in the size. */
    if (archive_entry_size_is_set(entry))
        end = MAX(end, archive_entry_size(entry));
    if (ftruncate(fd, (off_t)end) != 0)
        return entry_errno(build, error, path, _("cannot write it"), errno);
    if (build->as_root &&
        fchown(fd, (uid_t)archive_entry_uid(entry), (gid_t)archive_entry_gid(entry)) != 0)
        g_debug("cannot set the owner of '%s': %s", path, g_strerror(errno));
    /* After chown, which clears setuid anyway; we clear it ourselves. */
    if (fchmod(fd, safe_mode(build, archive_entry_perm(entry), FALSE)) != 0)
        return entry_errno(build, error, path, _("cannot set its mode"), errno);
    return TRUE;
}

static gboolean
make_dir(Build *build, struct archive_entry *entry, int parent_fd, const char *path, GError **error)
{
    const char *name = base_name(path);
    struct stat st;
    DirMeta *meta;

    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
        !clear_name(build, parent_fd, path, error))
        return FALSE;
    if (mkdirat(parent_fd, name, 0700) != 0 && errno != EEXIST)
        return entry_errno(build, error, path, _("cannot create it"), errno);
    /* Its mode and owner come at the end: a read-only directory must still
     * take the entries after it. */
    meta = g_new0(DirMeta, 1);
    meta->mode = safe_mode(build, archive_entry_perm(entry), TRUE);
    meta->uid = archive_entry_uid(entry);
    meta->gid = archive_entry_gid(entry);
    g_hash_table_replace(build->dir_meta, g_strdup(path), meta);
    return TRUE;
}

static gboolean
make_symlink(Build *build, struct archive_entry *entry, int parent_fd, const char *path,
             GError **error)
{
    const char *target = archive_entry_symlink(entry);

    /* The target is only text here: it is resolved inside the root (by us
     * and by the guest), never on the host. */
    if (target == NULL || target[0] == '\0')
        return entry_error(build, error, PODVM_ERROR_FAILED, path,
                           _("a symbolic link without a target"));
    if (!clear_name(build, parent_fd, path, error))
        return FALSE;
    if (symlinkat(target, parent_fd, base_name(path)) != 0)
        return entry_errno(build, error, path, _("cannot create it"), errno);
    set_owner(build, parent_fd, base_name(path), entry, AT_SYMLINK_NOFOLLOW);
    return TRUE;
}

static gboolean
make_hardlink(Build *build, const char *target_name, int parent_fd, const char *path,
              GError **error)
{
    const char *why = NULL;
    g_autofree char *target = normalize_name(target_name, &why);
    g_autofree char *proc = NULL;
    autofd int target_parent = -1;
    autofd int target_fd = -1;
    struct stat st;

    if (target == NULL || target[0] == '\0') {
        g_autofree char *quoted = quote(target_name);
        g_autofree char *text = g_strdup_printf(_("a hard link to %s: %s"), quoted,
                                                why != NULL ? why : _("not a file"));

        return entry_error(build, error, PODVM_ERROR_INVALID_ARGUMENT, path, text);
    }
    /* The target's parents resolve inside the root; its own name is not followed. */
    target_parent = open_parent(build, target, FALSE, NULL);
    if (target_parent >= 0)
        target_fd = openat(target_parent, base_name(target), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (target_fd < 0 || fstat(target_fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        g_autofree char *quoted = quote(target_name);
        g_autofree char *text = g_strdup_printf(
            _("a hard link to %s, which is not an earlier file of the image"), quoted);

        return entry_error(build, error, PODVM_ERROR_INVALID_ARGUMENT, path, text);
    }
    if (!clear_name(build, parent_fd, path, error))
        return FALSE;
    /* Through /proc: linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH. */
    proc = g_strdup_printf("/proc/self/fd/%d", target_fd);
    if (linkat(AT_FDCWD, proc, parent_fd, base_name(path), AT_SYMLINK_FOLLOW) != 0)
        return entry_errno(build, error, path, _("cannot create the hard link"), errno);
    return TRUE;
}

/* ".wh.NAME" and ".wh..wh..opq": lower layers' entries go, this layer's stay. */
static gboolean
apply_whiteout(Build *build, const char *path, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    const char *base = base_name(path);
    autofd int dir_fd = -1;
    int saved = 0;

    if (strcmp(dir, ".") == 0) {
        g_free(dir);
        dir = g_strdup("");
    }
    dir_fd = open_in_root(build, dir, O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0) {
        /* Nothing below to hide. */
        if (errno == ENOENT || errno == ENOTDIR)
            return TRUE;
        return entry_errno(build, error, path, _("cannot open its directory"), errno);
    }
    if (strcmp(base, OPAQUE_MARKER) == 0) {
        if (!empty_dir_fd(dir_fd, build->as_root, build->layer_paths, dir, &saved))
            return entry_errno(build, error, path, _("cannot empty the directory"), saved);
        return TRUE;
    }
    {
        const char *hidden = base + strlen(WHITEOUT_PREFIX);
        g_autofree char *hidden_path =
            dir[0] != '\0' ? g_strdup_printf("%s/%s", dir, hidden) : g_strdup(hidden);

        if (hidden[0] == '\0' || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0)
            return entry_error(build, error, PODVM_ERROR_INVALID_ARGUMENT, path,
                               _("a whiteout without a name"));
        if (g_hash_table_contains(build->layer_paths, hidden_path))
            return TRUE;
        if (!remove_at(dir_fd, hidden, build->as_root, &saved))
            return entry_errno(build, error, path, _("cannot remove what it hides"), saved);
    }
    return TRUE;
}

static gboolean
apply_entry(Build *build, Archive *a, struct archive_entry *entry, GError **error)
{
    const char *name = archive_entry_pathname(entry);
    const char *why = NULL;
    g_autofree char *path = NULL;
    autofd int parent_fd = -1;
    mode_t type = archive_entry_filetype(entry);
    const char *hardlink = archive_entry_hardlink(entry);

    if (++build->entries > build->max_entries) {
        g_autofree char *text =
            g_strdup_printf(_("the image has more than %" G_GUINT64_FORMAT " entries; refused"),
                            build->max_entries);

        return entry_error(build, error, PODVM_ERROR_FAILED, name != NULL ? name : "", text);
    }
    if (name == NULL)
        return entry_error(build, error, PODVM_ERROR_FAILED, "", _("an entry without a name"));
    path = normalize_name(name, &why);
    if (path == NULL)
        return entry_error(build, error, PODVM_ERROR_INVALID_ARGUMENT, name, why);
    if (path[0] == '\0')
        return TRUE; /* "./": the root itself */

    if (g_str_has_prefix(base_name(path), WHITEOUT_PREFIX))
        return apply_whiteout(build, path, error);

    if (hardlink == NULL && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
        g_autofree char *quoted = quote(path);

        g_message("image '%s': layer %s: skipping %s: %s", build->layout->image,
                  build->layer_digest, quoted,
                  type == AE_IFCHR || type == AE_IFBLK ? "device node"
                  : type == AE_IFIFO                   ? "FIFO"
                  : type == AE_IFSOCK                  ? "socket"
                                                       : "unknown file type");
        return TRUE;
    }

    parent_fd = open_parent(build, path, TRUE, error);
    if (parent_fd < 0)
        return FALSE;
    g_hash_table_add(build->layer_paths, g_strdup(path));
    if (hardlink != NULL)
        return make_hardlink(build, hardlink, parent_fd, path, error);
    switch (type) {
    case AE_IFDIR:
        return make_dir(build, entry, parent_fd, path, error);
    case AE_IFLNK:
        return make_symlink(build, entry, parent_fd, path, error);
    default:
        return write_file(build, a, entry, parent_fd, path, error);
    }
}

/* ------------------------------------------------------------------------ */
/* Layers */

static la_ssize_t
layer_read_cb(struct archive *a, void *client_data, const void **buffer)
{
    PodvmOciBlobReader *reader = client_data;
    gssize n = podvm_oci_blob_reader_read(reader, buffer, NULL);

    if (n < 0) {
        archive_set_error(a, podvm_oci_blob_reader_was_cancelled(reader) ? ECANCELED : EIO, "%s",
                          podvm_oci_blob_reader_get_error_message(reader));
        return -1;
    }
    return n;
}

static gboolean
apply_layer(Build *build, const PodvmOciLayer *layer, GError **error)
{
    g_autoptr(PodvmOciBlobReader) reader = NULL;
    g_autoptr(Archive) a = archive_read_new();
    g_autoptr(GError) apply_error = NULL;
    g_autoptr(GError) verify_error = NULL;
    struct archive_entry *entry;
    gboolean applied = TRUE;
    int ret;

    reader = podvm_oci_layout_open_blob(build->layout, &layer->desc, build->cancellable, error);
    if (reader == NULL)
        return FALSE;
    build->layer_digest = layer->desc.digest;
    g_hash_table_remove_all(build->layer_paths);

    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_filter_none(a);
    /* ARCHIVE_WARN would mean an external program: we want none. */
    if (layer->compression == PODVM_OCI_COMPRESSION_GZIP &&
        archive_read_support_filter_gzip(a) != ARCHIVE_OK) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("this libarchive cannot read gzip layers by itself"));
        return FALSE;
    }
    if (layer->compression == PODVM_OCI_COMPRESSION_ZSTD &&
        archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("this libarchive cannot read zstd layers by itself"));
        return FALSE;
    }
    /* No skip callback: every byte goes through the reader and its hash. */
    if (archive_read_open(a, reader, NULL, layer_read_cb, NULL) != ARCHIVE_OK) {
        g_set_error(&apply_error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("image '%s': cannot read layer %s: %s"), build->layout->image,
                    layer->desc.digest, archive_error_string(a));
        applied = FALSE;
    }
    while (applied) {
        ret = archive_read_next_header(a, &entry);
        if (ret == ARCHIVE_EOF)
            break;
        if (ret != ARCHIVE_OK && ret != ARCHIVE_WARN) {
            g_set_error(&apply_error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("image '%s': cannot read layer %s: %s"), build->layout->image,
                        layer->desc.digest, archive_error_string(a));
            applied = FALSE;
            break;
        }
        if (g_cancellable_set_error_if_cancelled(build->cancellable, &apply_error)) {
            applied = FALSE;
            break;
        }
        applied = apply_entry(build, a, entry, &apply_error);
    }

    if (podvm_oci_blob_reader_was_cancelled(reader))
        return podvm_oci_blob_reader_verify(reader, error);
    if (g_error_matches(apply_error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
        g_error_matches(apply_error, PODVM_ERROR, PODVM_ERROR_IO)) {
        g_propagate_error(error, g_steal_pointer(&apply_error));
        return FALSE;
    }
    /* A corrupt layer usually also breaks the tar or gzip stream; the
     * digest is the clearer report, so it comes first. */
    if (!podvm_oci_blob_reader_verify(reader, &verify_error)) {
        g_propagate_error(error, g_steal_pointer(&verify_error));
        return FALSE;
    }
    if (!applied) {
        g_propagate_error(error, g_steal_pointer(&apply_error));
        return FALSE;
    }
    return TRUE;
}

static int
compare_depth_desc(gconstpointer a, gconstpointer b)
{
    const char *pa = *(const char *const *)a, *pb = *(const char *const *)b;
    int depth_a = 0, depth_b = 0;

    for (const char *p = pa; *p != '\0'; p++)
        depth_a += *p == '/';
    for (const char *p = pb; *p != '\0'; p++)
        depth_b += *p == '/';
    return depth_b - depth_a;
}

/* Modes and owners of directories, deepest first. */
static gboolean
apply_dir_meta(Build *build, GError **error)
{
    g_autofree const char **paths =
        (const char **)g_hash_table_get_keys_as_array(build->dir_meta, NULL);
    guint n = g_hash_table_size(build->dir_meta);

    qsort(paths, n, sizeof *paths, compare_depth_desc);
    for (guint i = 0; i < n; i++) {
        DirMeta *meta = g_hash_table_lookup(build->dir_meta, paths[i]);
        autofd int fd = open_in_root(build, paths[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

        if (fd < 0)
            continue; /* removed or replaced by a later layer */
        if (build->as_root && fchown(fd, (uid_t)meta->uid, (gid_t)meta->gid) != 0)
            g_debug("cannot set the owner of '%s': %s", paths[i], g_strerror(errno));
        if (fchmod(fd, meta->mode) != 0) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot set the mode of '%s': %s"),
                        paths[i], g_strerror(errno));
            return FALSE;
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The config summary */

static GStrv
strv_member(JsonObject *object, const char *name, gboolean keep_null)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return keep_null ? NULL : g_strv_builder_end(builder);
    for (guint i = 0; i < json_array_get_length(json_node_get_array(node)); i++) {
        JsonNode *element = json_array_get_element(json_node_get_array(node), i);

        if (json_node_get_value_type(element) == G_TYPE_STRING)
            g_strv_builder_add(builder, json_node_get_string(element));
    }
    return g_strv_builder_end(builder);
}

static char *
string_member(JsonObject *object, const char *name)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

    if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING ||
        json_node_get_string(node)[0] == '\0')
        return NULL;
    return g_strdup(json_node_get_string(node));
}

static void
fill_from_config(PodvmAppRootfs *rootfs, JsonNode *config)
{
    JsonNode *member = json_object_get_member(json_node_get_object(config), "config");
    JsonObject *object =
        member != NULL && JSON_NODE_HOLDS_OBJECT(member) ? json_node_get_object(member) : NULL;
    JsonNode *ports = object != NULL ? json_object_get_member(object, "ExposedPorts") : NULL;
    g_autoptr(GStrvBuilder) port_list = g_strv_builder_new();

    rootfs->entrypoint = strv_member(object, "Entrypoint", TRUE);
    rootfs->cmd = strv_member(object, "Cmd", TRUE);
    rootfs->env = strv_member(object, "Env", FALSE);
    rootfs->working_dir = string_member(object, "WorkingDir");
    rootfs->user = string_member(object, "User");
    if (ports != NULL && JSON_NODE_HOLDS_OBJECT(ports)) {
        g_autoptr(GList) names = json_object_get_members(json_node_get_object(ports));

        names = g_list_sort(names, (GCompareFunc)strcmp);
        for (GList *l = names; l != NULL; l = l->next)
            g_strv_builder_add(port_list, l->data);
    }
    rootfs->exposed_ports = g_strv_builder_end(port_list);
}

/* ------------------------------------------------------------------------ */
/* The cache */

static gboolean
sync_path(const char *path, int flags, GError **error)
{
    autofd int fd = open(path, flags | O_RDONLY | O_CLOEXEC);

    if (fd >= 0 && fsync(fd) == 0)
        return TRUE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot sync '%s': %s"), path,
                g_strerror(errno));
    return FALSE;
}

static PodvmAppRootfs *
lookup_cache(const char *image_path, const char *json_path, const char *digest)
{
    g_autofree char *text = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) local = NULL;
    PodvmAppRootfs *rootfs;
    gsize length = 0;
    GStatBuf st;

    if (g_lstat(image_path, &st) != 0 || !S_ISREG(st.st_mode) || g_lstat(json_path, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size > PODVM_JSON_MAX_SIZE)
        return NULL;
    if (!g_file_get_contents(json_path, &text, &length, &local) ||
        (root = podvm_json_parse(text, (gssize)length, &local)) == NULL) {
        g_message("ignoring the unreadable cached summary '%s': %s", json_path,
                  local != NULL ? local->message : "");
        return NULL;
    }
    rootfs = podvm_app_rootfs_from_json(root, &local);
    if (rootfs == NULL) {
        g_message("ignoring the cached summary '%s': %s", json_path, local->message);
        return NULL;
    }
    g_free(rootfs->path);
    rootfs->path = g_strdup(image_path);
    g_free(rootfs->digest);
    rootfs->digest = g_strdup(digest);
    rootfs->cached = TRUE;
    return rootfs;
}

/* Temporaries of builds that crashed or were killed. A live build keeps
 * writing; an hour-old temporary belongs to nobody. */
static void
remove_stale_temporaries(const char *rootfs_dir, gboolean as_root)
{
    g_autoptr(GDir) dir = g_dir_open(rootfs_dir, 0, NULL);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = NULL;
        GStatBuf st;

        if (!g_str_has_prefix(name, "sha256-") || strstr(name, ".tmp-") == NULL)
            continue;
        path = g_build_filename(rootfs_dir, name, NULL);
        if (g_lstat(path, &st) == 0 && st.st_mtime < now - STALE_TEMPORARY_SECONDS) {
            g_debug("removing stale temporary '%s'", path);
            remove_path(path, as_root);
        }
    }
}

static char *
find_mkfs_erofs(const char *name)
{
    static const char *const dirs[] = { "/usr/sbin", "/sbin" };
    char *found;

    if (name != NULL && strchr(name, '/') != NULL)
        return g_strdup(name);
    found = g_find_program_in_path(name != NULL ? name : "mkfs.erofs");
    for (guint i = 0; found == NULL && i < G_N_ELEMENTS(dirs); i++) {
        g_autofree char *candidate =
            g_build_filename(dirs[i], name != NULL ? name : "mkfs.erofs", NULL);

        if (g_file_test(candidate, G_FILE_TEST_IS_EXECUTABLE))
            found = g_steal_pointer(&candidate);
    }
    return found;
}

static gboolean
run_mkfs(Build *build, const char *mkfs, const char *image_tmp, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocess) process = NULL;
    g_autoptr(GBytes) err = NULL;
    g_autoptr(GError) local = NULL;

    g_ptr_array_add(argv, (char *)mkfs);
    g_ptr_array_add(argv, "-T0");
    g_ptr_array_add(argv, "--quiet");
    if (!build->as_root)
        g_ptr_array_add(argv, "--all-root");
    g_ptr_array_add(argv, (char *)image_tmp);
    g_ptr_array_add(argv, build->root_dir);
    g_ptr_array_add(argv, NULL);
    process = g_subprocess_newv((const char *const *)argv->pdata,
                                G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                &local);
    if (process == NULL ||
        !g_subprocess_communicate(process, NULL, build->cancellable, NULL, &err, &local)) {
        if (process != NULL)
            g_subprocess_force_exit(process);
        if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("image '%s': cannot run '%s': %s"),
                    build->layout->image, mkfs, local->message);
        return FALSE;
    }
    if (!g_subprocess_get_successful(process)) {
        g_autofree char *text = g_strndup(g_bytes_get_data(err, NULL), g_bytes_get_size(err));

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("image '%s': mkfs.erofs failed: %s"),
                    build->layout->image, g_strstrip(text));
        return FALSE;
    }
    return TRUE;
}

static gboolean
write_summary(const PodvmAppRootfs *rootfs, const char *json_path, GError **error)
{
    g_autoptr(JsonNode) node = podvm_app_rootfs_to_json(rootfs);
    JsonObject *object = json_node_get_object(node);
    g_autofree char *text = NULL;
    g_autofree char *tmp = g_strdup_printf("%s.tmp-XXXXXX", json_path);
    autofd int fd = -1;

    /* The cache file does not say where it is, nor that it was cached. */
    json_object_remove_member(object, "path");
    json_object_remove_member(object, "cached");
    text = podvm_json_to_string(node, TRUE);
    /* podvmd reads it back (and its answer) with the usual JSON limit; an
     * app's command and environment must fit the guest channel's 64 KiB
     * lines anyway. */
    if (strlen(text) > PODVM_JSON_MAX_SIZE / 2) {
        g_set_error(
            error, PODVM_ERROR, PODVM_ERROR_FAILED,
            _("the image's config (Entrypoint, Cmd, Env, ...) is too large: %" G_GSIZE_FORMAT
              " bytes"),
            strlen(text));
        return FALSE;
    }
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || !write_all(fd, text, strlen(text)) || fsync(fd) != 0 ||
        rename(tmp, json_path) != 0) {
        int saved = errno;

        if (fd >= 0)
            g_unlink(tmp);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"), json_path,
                    g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}

static void
build_clear(Build *build)
{
    close_fd(&build->root_fd);
    if (build->root_dir != NULL)
        remove_path(build->root_dir, build->as_root);
    g_clear_pointer(&build->root_dir, g_free);
    g_clear_pointer(&build->layer_paths, g_hash_table_unref);
    g_clear_pointer(&build->dir_meta, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Build, build_clear)

PodvmAppRootfs *
podvm_app_rootfs_build(const char *image, const char *rootfs_dir,
                       const PodvmAppRootfsOptions *options, GCancellable *cancellable,
                       GError **error)
{
    g_autoptr(PodvmOciLayout) layout = NULL;
    g_autoptr(GPtrArray) layers = NULL;
    g_autoptr(JsonNode) config = NULL;
    g_autoptr(PodvmAppRootfs) rootfs = NULL;
    g_auto(Build) build = { .root_fd = -1 };
    g_autofree char *stem = NULL;
    g_autofree char *image_path = NULL;
    g_autofree char *json_path = NULL;
    g_autofree char *image_tmp = NULL;
    g_autofree char *mkfs = NULL;
    autofd int image_fd = -1;

    g_return_val_if_fail(image != NULL, NULL);
    g_return_val_if_fail(rootfs_dir != NULL, NULL);

    layout = podvm_oci_layout_open(image, cancellable, error);
    if (layout == NULL)
        return NULL;
    stem = g_strdup_printf("sha256-%s", layout->manifest_desc.hex);
    image_path = g_strdup_printf("%s/%s.erofs", rootfs_dir, stem);
    json_path = g_strdup_printf("%s/%s.json", rootfs_dir, stem);

    rootfs = lookup_cache(image_path, json_path, layout->manifest_desc.digest);
    if (rootfs != NULL) {
        g_debug("image '%s': cached root filesystem '%s'", layout->image, image_path);
        return g_steal_pointer(&rootfs);
    }

    config = podvm_oci_layout_read_config(layout, cancellable, error);
    if (config == NULL)
        return NULL;
    layers = podvm_oci_layout_get_layers(layout, error);
    if (layers == NULL)
        return NULL;
    mkfs = find_mkfs_erofs(options != NULL ? options->mkfs_erofs : NULL);
    if (mkfs == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("image '%s': mkfs.erofs is not installed (Debian's erofs-utils)"),
                    layout->image);
        return NULL;
    }
    if (g_mkdir_with_parents(rootfs_dir, 0755) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"), rootfs_dir,
                    g_strerror(saved));
        return NULL;
    }

    build.layout = layout;
    build.cancellable = cancellable;
    build.as_root = geteuid() == 0;
    build.max_bytes = options != NULL && options->max_bytes > 0
                          ? options->max_bytes
                          : PODVM_APP_ROOTFS_DEFAULT_MAX_BYTES;
    build.max_entries = options != NULL && options->max_entries > 0
                            ? options->max_entries
                            : PODVM_APP_ROOTFS_DEFAULT_MAX_ENTRIES;
    build.layer_paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    build.dir_meta = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    remove_stale_temporaries(rootfs_dir, build.as_root);

    build.root_dir = g_strdup_printf("%s/%s.rootfs.tmp-XXXXXX", rootfs_dir, stem);
    if (g_mkdtemp_full(build.root_dir, 0755) == NULL) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create a directory in '%s': %s"),
                    rootfs_dir, g_strerror(saved));
        g_clear_pointer(&build.root_dir, g_free);
        return NULL;
    }
    build.root_fd = open(build.root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (build.root_fd < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot open '%s': %s"), build.root_dir,
                    g_strerror(errno));
        return NULL;
    }
    {
        autofd int probe = open_in_root(&build, "", O_PATH | O_DIRECTORY);

        if (probe < 0 && errno == ENOSYS) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                        _("image '%s': unpacking app images safely needs openat2() (Linux 5.6 "
                          "or later)"),
                        layout->image);
            return NULL;
        }
    }

    for (guint i = 0; i < layers->len; i++) {
        build.layer_index = i;
        if (!apply_layer(&build, g_ptr_array_index(layers, i), error))
            return NULL;
    }
    if (!apply_dir_meta(&build, error))
        return NULL;

    image_tmp = g_strdup_printf("%s/%s.erofs.tmp-XXXXXX", rootfs_dir, stem);
    image_fd = g_mkstemp_full(image_tmp, O_RDWR | O_CLOEXEC, 0644);
    if (image_fd < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create a file in '%s': %s"),
                    rootfs_dir, g_strerror(errno));
        return NULL;
    }
    if (!run_mkfs(&build, mkfs, image_tmp, error) || !sync_path(image_tmp, 0, error) ||
        g_chmod(image_tmp, 0444) != 0 || g_rename(image_tmp, image_path) != 0) {
        if (error != NULL && *error == NULL)
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"), image_path,
                        g_strerror(errno));
        g_unlink(image_tmp);
        return NULL;
    }

    rootfs = g_new0(PodvmAppRootfs, 1);
    rootfs->path = g_strdup(image_path);
    rootfs->fs_type = g_strdup("erofs");
    rootfs->digest = g_strdup(layout->manifest_desc.digest);
    fill_from_config(rootfs, config);
    if (!write_summary(rootfs, json_path, error)) {
        g_prefix_error(error, _("image '%s': "), layout->image);
        g_unlink(image_path);
        return NULL;
    }
    if (!sync_path(rootfs_dir, O_DIRECTORY, error)) {
        g_unlink(image_path);
        return NULL;
    }
    return g_steal_pointer(&rootfs);
}
