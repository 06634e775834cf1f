/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-store.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"

static gboolean
set_errno_error(GError **error, int saved_errno, const char *what, const char *path)
{
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, "%s '%s': %s", what, path,
                g_strerror(saved_errno));
    return FALSE;
}

gboolean
podvm_store_sync_dir(const char *dir, GError **error)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    gboolean ok;

    if (fd < 0)
        return set_errno_error(error, errno, _("cannot open directory"), dir);
    ok = fsync(fd) == 0;
    if (!ok)
        set_errno_error(error, errno, _("cannot sync directory"), dir);
    close(fd);
    return ok;
}

static gboolean
write_replace(const char *path, const char *contents, gsize length, PodvmStoreMode mode,
              GError **error)
{
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    gsize written = 0;
    int fd;

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* A stale temporary file is from a write that died halfway. */
        (void)unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    if (fd < 0)
        return set_errno_error(error, errno, _("cannot create"), tmp);
    while (written < length) {
        ssize_t n = write(fd, contents + written, length - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : ENOSPC;
            close(fd);
            (void)unlink(tmp);
            return set_errno_error(error, saved, _("cannot write"), tmp);
        }
        written += (gsize)n;
    }
    if (mode == PODVM_STORE_DURABLE && fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        (void)unlink(tmp);
        return set_errno_error(error, saved, _("cannot sync"), tmp);
    }
    if (close(fd) != 0) {
        int saved = errno;
        (void)unlink(tmp);
        return set_errno_error(error, saved, _("cannot write"), tmp);
    }
    if (rename(tmp, path) != 0) {
        int saved = errno;
        (void)unlink(tmp);
        return set_errno_error(error, saved, _("cannot replace"), path);
    }
    if (mode == PODVM_STORE_DURABLE) {
        g_autofree char *dir = g_path_get_dirname(path);
        return podvm_store_sync_dir(dir, error);
    }
    return TRUE;
}

gboolean
podvm_store_write_durable(const char *path, const char *contents, gsize length, GError **error)
{
    return write_replace(path, contents, length, PODVM_STORE_DURABLE, error);
}

gboolean
podvm_store_write_json(const char *path, JsonNode *node, PodvmStoreMode mode, GError **error)
{
    gsize length = 0;
    g_autofree char *text = podvm_json_to_data(node, TRUE, &length);

    return write_replace(path, text, length, mode, error);
}

JsonNode *
podvm_store_read_json(const char *path, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GString) text = NULL;
    g_autofree char *data = NULL;
    JsonNode *root;
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, saved == ENOENT ? PODVM_ERROR_NOT_FOUND : PODVM_ERROR_IO,
                    _("cannot open state file '%s': %s"), path, g_strerror(saved));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        st.st_size > PODVM_STORE_MAX_FILE) {
        close(fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("refusing state file '%s': not a regular file of ours under %d bytes"), path,
                    PODVM_STORE_MAX_FILE);
        return NULL;
    }
    data = g_malloc(st.st_size + 1);
    n = read(fd, data, st.st_size);
    close(fd);
    if (n != st.st_size) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot read state file '%s'"), path);
        return NULL;
    }
    data[n] = '\0';
    /* Files of earlier versions may hold json-glib's raw U+001F: escaped before the check. */
    text = g_string_new_len(data, n);
    podvm_json_escape_strings(text);
    /* The file's size is bounded above; escapes may only lengthen it. */
    root = podvm_json_parse_limited(text->str, (gssize)text->len, text->len, PODVM_JSON_MAX_DEPTH,
                                    &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("state file '%s' is not valid JSON: %s"),
                    path, local->message);
        return NULL;
    }
    return root;
}

gboolean
podvm_store_remove_tree(const char *path, GError **error)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;
    GStatBuf st;

    if (g_lstat(path, &st) != 0)
        return errno == ENOENT ? TRUE : set_errno_error(error, errno, _("cannot remove"), path);
    if (!S_ISDIR(st.st_mode)) {
        if (g_unlink(path) != 0)
            return set_errno_error(error, errno, _("cannot remove"), path);
        return TRUE;
    }
    dir = g_dir_open(path, 0, error);
    if (dir == NULL)
        return FALSE;
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *child = g_build_filename(path, name, NULL);
        if (!podvm_store_remove_tree(child, error))
            return FALSE;
    }
    if (g_rmdir(path) != 0)
        return set_errno_error(error, errno, _("cannot remove"), path);
    return TRUE;
}

static void
sync_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    const char *path = task_data;
    g_autofree char *dir = g_path_get_dirname(path);
    const char *targets[] = { path, dir };

    for (guint i = 0; i < G_N_ELEMENTS(targets); i++) {
        int fd = open(targets[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0 || fsync(fd) != 0)
            g_message("cannot sync '%s': %s", targets[i], g_strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    g_task_return_boolean(task, TRUE);
}

void
podvm_store_sync_in_background(const char *path)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, NULL, NULL);

    g_task_set_task_data(task, g_strdup(path), g_free);
    g_task_run_in_thread(task, sync_thread);
}
