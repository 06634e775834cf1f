/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager's images: pull (with progress events), list (with the pods
 * that use each), remove, prune. The store itself is registry/'s.
 */
#include "podvm-manager.h"
#include "podvm-manager-private.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#include "podvm-error.h"

static void
add_digest(GPtrArray *digests, JsonNode *node)
{
    const char *digest;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return;
    digest = json_node_get_string(node);
    if (g_str_has_prefix(digest, "sha256:"))
        g_ptr_array_add(digests, g_strdup(digest));
}

static JsonArray *
array_member(JsonObject *object, const char *name)
{
    JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

    return node != NULL && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
}

static JsonObject *
object_element(JsonArray *array, guint i)
{
    JsonNode *node = json_array_get_element(array, i);

    return JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

GStrv
podvm_manager_pod_image_digests(PodvmPod *pod)
{
    g_autoptr(JsonNode) status_node = podvm_pod_get_status_json(pod);
    JsonObject *status = json_node_get_object(status_node);
    g_autoptr(GPtrArray) digests = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    JsonArray *array;

    array = array_member(status, "volumeStatus");
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        JsonObject *entry = object_element(array, i);
        JsonNode *disk =
            entry != NULL ? json_object_get_member(entry, "containerDiskVolume") : NULL;

        if (disk != NULL && JSON_NODE_HOLDS_OBJECT(disk))
            add_digest(digests, json_object_get_member(json_node_get_object(disk), "imageDigest"));
    }
    array = array_member(status, "apps");
    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++) {
        JsonObject *entry = object_element(array, i);

        if (entry != NULL)
            add_digest(digests, json_object_get_member(entry, "imageDigest"));
    }
    g_ptr_array_sort(digests, compare_strings);
    for (guint i = 0; i < digests->len; i++) {
        const char *digest = g_ptr_array_index(digests, i);

        if (i == 0 || strcmp(digest, g_ptr_array_index(digests, i - 1)) != 0)
            g_strv_builder_add(builder, digest);
    }
    return g_strv_builder_end(builder);
}

/* Until the registry library is built: every call says so. */
static void
set_no_store(GError **error)
{
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                        _("this podvmd has no image store"));
}

void
podvm_manager_pull_image_async(PodvmManager *self, const char *reference, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_manager_pull_image_async);
    set_no_store(&error);
    g_task_return_error(task, error);
}

JsonNode *
podvm_manager_pull_image_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

JsonNode *
podvm_manager_list_images(PodvmManager *self, GError **error)
{
    set_no_store(error);
    return NULL;
}

gboolean
podvm_manager_remove_image(PodvmManager *self, const char *reference_or_digest, gboolean force,
                           GError **error)
{
    set_no_store(error);
    return FALSE;
}

void
podvm_manager_prune_images_async(PodvmManager *self, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_manager_prune_images_async);
    set_no_store(&error);
    g_task_return_error(task, error);
}

JsonNode *
podvm_manager_prune_images_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
