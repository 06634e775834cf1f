/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * containerDisk unpacking in a separate process (podvm-unpack-container-disk):
 * podvmd spawns it with an argv, reads one JSON answer from its stdout and
 * never links libarchive itself. See podvm-container-disk.h.
 */
#include "podvm-container-disk.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "podvm-error.h"
#include "podvm-helper-answer.h"
#include "podvm-json.h"
#include "podvm-store.h"

void
podvm_container_disk_free(PodvmContainerDisk *disk)
{
    if (disk == NULL)
        return;
    g_free(disk->path);
    g_free(disk->format);
    g_free(disk->digest);
    g_free(disk);
}

JsonNode *
podvm_container_disk_to_json(const PodvmContainerDisk *disk)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "path");
    json_builder_add_string_value(builder, disk->path);
    json_builder_set_member_name(builder, "format");
    json_builder_add_string_value(builder, disk->format);
    json_builder_set_member_name(builder, "virtualSize");
    json_builder_add_int_value(builder, (gint64)disk->virtual_size);
    json_builder_set_member_name(builder, "digest");
    json_builder_add_string_value(builder, disk->digest);
    json_builder_end_object(builder);
    return json_builder_get_root(builder);
}

static const char *
member_string(JsonObject *object, const char *member)
{
    JsonNode *node = json_object_get_member(object, member);

    return node != NULL && json_node_get_value_type(node) == G_TYPE_STRING
               ? json_node_get_string(node)
               : NULL;
}

/* The helper's answer as a disk, or NULL with its error. */
static PodvmContainerDisk *
parse_answer(const char *helper, GSubprocess *process, const char *out, const char *err,
             GError **error)
{
    g_autofree char *who = g_strdup_printf(_("the containerDisk helper '%s'"), helper);
    g_autoptr(JsonObject) object =
        podvm_helper_read_answer(process, out, err, who, _("containerDisk unpack failed"), error);

    if (object == NULL)
        return NULL;
    if (member_string(object, "path") == NULL || member_string(object, "format") == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("the containerDisk helper '%s' gave an answer without a path or format"),
                    helper);
        return NULL;
    }
    {
        PodvmContainerDisk *disk = g_new0(PodvmContainerDisk, 1);

        disk->path = g_strdup(member_string(object, "path"));
        disk->format = g_strdup(member_string(object, "format"));
        disk->digest = g_strdup(member_string(object, "digest"));
        disk->virtual_size =
            (guint64)MAX(0, json_object_get_int_member_with_default(object, "virtualSize", 0));
        return disk;
    }
}

static void
communicated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GSubprocess *process = G_SUBPROCESS(source);
    g_autofree char *out = NULL, *err = NULL;
    GError *error = NULL;
    PodvmContainerDisk *disk;

    if (!g_subprocess_communicate_utf8_finish(process, result, &out, &err, &error)) {
        /* Cancelled (the pod was killed while it started): the helper goes too. */
        g_subprocess_force_exit(process);
        g_task_return_error(task, error);
        return;
    }
    disk = parse_answer(g_task_get_task_data(task), process, out, err, &error);
    if (disk == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, disk, (GDestroyNotify)podvm_container_disk_free);
}

void
podvm_container_disk_unpack_in_helper_async(const char *helper, const char *image,
                                            const char *path_in_image, const char *cache_dir,
                                            const char *qemu_img, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GSubprocess) process = NULL;
    GError *error = NULL;
    const char *argv[] = { helper,
                           image,
                           path_in_image != NULL ? path_in_image : "",
                           cache_dir,
                           qemu_img != NULL ? qemu_img : "qemu-img",
                           NULL };

    g_task_set_source_tag(task, podvm_container_disk_unpack_in_helper_async);
    g_task_set_task_data(task, g_strdup(helper != NULL ? helper : ""), g_free);
    if (helper == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("containerDisk volumes need the podvm-unpack-container-disk "
                                  "helper; set [storage] container_disk_helper in podvmd.conf"));
        return;
    }
    process = g_subprocess_newv(
        argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
    if (process == NULL) {
        g_prefix_error(&error, _("cannot run the containerDisk helper '%s': "), helper);
        g_task_return_error(task, podvm_error_from_component(error));
        g_error_free(error);
        return;
    }
    g_subprocess_communicate_utf8_async(process, NULL, cancellable, communicated_cb,
                                        g_steal_pointer(&task));
}

PodvmContainerDisk *
podvm_container_disk_unpack_in_helper_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- the cache's upkeep --------------------------------------------------- */

typedef struct {
    char *cache_dir;
    GStrv keep;
    GStrv only; /* or NULL */
} CachePrune;

static void
cache_prune_free(CachePrune *prune)
{
    g_free(prune->cache_dir);
    g_strfreev(prune->keep);
    g_strfreev(prune->only);
    g_free(prune);
}

/* The bytes an entry's files take on disk (an entry holds files only). */
static guint64
entry_bytes(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    guint64 bytes = 0;
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *child = g_build_filename(path, name, NULL);
        GStatBuf st;

        if (g_lstat(child, &st) == 0 && S_ISREG(st.st_mode))
            bytes += (guint64)st.st_blocks * 512;
    }
    return bytes;
}

static void
cache_prune_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    CachePrune *prune = task_data;
    g_autoptr(GDir) dir = g_dir_open(prune->cache_dir, 0, NULL);
    g_autoptr(JsonObject) answer = json_object_new();
    guint64 freed = 0;
    gint64 removed = 0;
    const char *name;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *digest = NULL;
        g_autofree char *path = NULL;
        g_autoptr(GError) error = NULL;
        guint64 bytes;

        /* Entries only (a temporary of an unpack lives inside its entry). */
        if (!g_str_has_prefix(name, "sha256-") || strlen(name) != strlen("sha256-") + 64)
            continue;
        digest = g_strdup_printf("sha256:%s", name + strlen("sha256-"));
        if (g_strv_contains((const char *const *)prune->keep, digest) ||
            (prune->only != NULL && !g_strv_contains((const char *const *)prune->only, digest)))
            continue;
        path = g_build_filename(prune->cache_dir, name, NULL);
        bytes = entry_bytes(path);
        if (!podvm_store_remove_tree(path, &error)) {
            g_warning("containerDisk cache: %s", error->message);
            continue;
        }
        g_debug("containerDisk cache: removed '%s' (%" G_GUINT64_FORMAT " bytes)", path, bytes);
        freed += bytes;
        removed++;
    }
    json_object_set_int_member(answer, "removedCacheEntries", removed);
    json_object_set_int_member(answer, "cacheFreedBytes", (gint64)freed);
    g_task_return_pointer(task, json_node_init_object(json_node_alloc(), answer),
                          (GDestroyNotify)json_node_unref);
}

void
podvm_container_disk_cache_prune_async(const char *cache_dir, const char *const *keep_digests,
                                       const char *const *only_digests, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    CachePrune *prune = g_new0(CachePrune, 1);
    const char *const none[] = { NULL };

    g_return_if_fail(cache_dir != NULL);
    g_task_set_source_tag(task, podvm_container_disk_cache_prune_async);
    prune->cache_dir = g_strdup(cache_dir);
    prune->keep = g_strdupv((GStrv)(keep_digests != NULL ? keep_digests : none));
    prune->only = only_digests != NULL ? g_strdupv((GStrv)only_digests) : NULL;
    g_task_set_task_data(task, prune, (GDestroyNotify)cache_prune_free);
    g_task_run_in_thread(task, cache_prune_thread);
}

JsonNode *
podvm_container_disk_cache_prune_finish(GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
