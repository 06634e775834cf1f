/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-volume-pool-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-store.h"
#include "podvm-spec.h"

G_DEFINE_TYPE(PodvmVolumePool, podvm_volume_pool, G_TYPE_OBJECT)

guint volume_pool_signals[N_SIGNALS];

void
pool_volume_free(PoolVolume *volume)
{
    g_free(volume->name);
    g_free(volume->format);
    g_free(volume->phase);
    g_free(volume->source);
    g_free(volume->sha256);
    g_free(volume->created_at);
    g_free(volume->message);
    g_hash_table_unref(volume->users);
    g_free(volume);
}

PoolVolume *
pool_volume_new(const char *name)
{
    PoolVolume *volume = g_new0(PoolVolume, 1);

    volume->name = g_strdup(name);
    volume->format = g_strdup("raw");
    volume->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return volume;
}

void
volume_pool_set_phase(PoolVolume *volume, const char *phase, const char *message)
{
    g_free(volume->phase);
    volume->phase = g_strdup(phase);
    g_free(volume->message);
    volume->message = g_strdup(message);
}

/* ------------------------------------------------------------------------ */
/* Paths */

char *
volume_pool_record_path(PodvmVolumePool *self, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".json", NULL);
    return g_build_filename(self->dir, file, NULL);
}

char *
podvm_volume_pool_image_path(PodvmVolumePool *self, const char *name)
{
    g_autofree char *file = NULL;

    g_return_val_if_fail(PODVM_IS_VOLUME_POOL(self), NULL);
    g_return_val_if_fail(name != NULL, NULL);
    file = g_strconcat(name, ".img", NULL);
    return g_build_filename(self->dir, file, NULL);
}

/* Work files start with a dot: never taken for a record or an image. */
char *
volume_pool_part_path(PodvmVolumePool *self, const char *name)
{
    g_autofree char *file = g_strconcat(".", name, ".part", NULL);
    return g_build_filename(self->dir, file, NULL);
}

char *
volume_pool_image_tmp_path(PodvmVolumePool *self, const char *name)
{
    g_autofree char *file = g_strconcat(".", name, ".img.tmp", NULL);
    return g_build_filename(self->dir, file, NULL);
}

void
volume_pool_unlink_quietly(const char *path)
{
    if (g_unlink(path) != 0 && errno != ENOENT)
        g_message("cannot remove '%s': %s", path, g_strerror(errno));
}

/* Removes what an import may have left: the download, the half image, the image. */
void
volume_pool_remove_volume_data(PodvmVolumePool *self, const char *name)
{
    g_autofree char *image = podvm_volume_pool_image_path(self, name);
    g_autofree char *tmp = volume_pool_image_tmp_path(self, name);
    g_autofree char *part = volume_pool_part_path(self, name);

    volume_pool_unlink_quietly(tmp);
    volume_pool_unlink_quietly(part);
    volume_pool_unlink_quietly(image);
}

/* ------------------------------------------------------------------------ */
static gboolean
set_io_error(GError **error, int saved_errno, const char *what, const char *path)
{
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, "%s '%s': %s", what, path,
                g_strerror(saved_errno));
    return FALSE;
}

static void
add_nullable_string(JsonBuilder *builder, const char *member, const char *value)
{
    json_builder_set_member_name(builder, member);
    if (value != NULL)
        json_builder_add_string_value(builder, value);
    else
        json_builder_add_null_value(builder);
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of @table (borrowed), sorted, so lists and messages are stable. */
static GPtrArray *
sorted_keys(GHashTable *table)
{
    GPtrArray *keys = g_ptr_array_sized_new(g_hash_table_size(table) + 1);
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, table);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(keys, key);
    g_ptr_array_sort(keys, compare_strings);
    return keys;
}

/* The record; with @with_users also "usedBy" (memory only, so not in the file). */
JsonNode *
volume_pool_volume_to_json(PoolVolume *volume, gboolean with_users)
{
    g_autoptr(JsonBuilder) builder = json_builder_new_immutable();

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, volume->name);
    json_builder_set_member_name(builder, "size");
    json_builder_add_int_value(builder, (gint64)volume->size);
    json_builder_set_member_name(builder, "format");
    json_builder_add_string_value(builder, volume->format);
    json_builder_set_member_name(builder, "phase");
    json_builder_add_string_value(builder, volume->phase);
    add_nullable_string(builder, "source", volume->source);
    add_nullable_string(builder, "sha256", volume->sha256);
    add_nullable_string(builder, "createdAt", volume->created_at);
    add_nullable_string(builder, "message", volume->message);
    if (with_users) {
        g_autoptr(GPtrArray) pods = sorted_keys(volume->users);

        json_builder_set_member_name(builder, "usedBy");
        json_builder_begin_array(builder);
        for (guint i = 0; i < pods->len; i++)
            json_builder_add_string_value(builder, g_ptr_array_index(pods, i));
        json_builder_end_array(builder);
    }
    json_builder_end_object(builder);
    return json_builder_get_root(builder);
}

gboolean
volume_pool_write_record(PodvmVolumePool *self, PoolVolume *volume, GError **error)
{
    g_autoptr(JsonNode) node = volume_pool_volume_to_json(volume, FALSE);
    g_autofree char *path = volume_pool_record_path(self, volume->name);
    gsize length = 0;
    g_autofree char *text = podvm_json_to_data(node, TRUE, &length);

    return podvm_store_write_durable(path, text, length, error);
}

static const char *
member_string(JsonObject *object, const char *member)
{
    JsonNode *node = json_object_get_member(object, member);

    if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

static PoolVolume *
read_record(const char *path, const char *name, GError **error)
{
    g_autoptr(PoolVolume) volume = NULL;
    g_autofree char *contents = NULL;
    gsize length = 0;
    JsonObject *object;
    g_autoptr(JsonNode) root = NULL;
    JsonNode *size;
    const char *phase;
    GStatBuf st;

    /* A record that is a symlink or not a file is not ours. */
    if (g_lstat(path, &st) != 0) {
        set_io_error(error, errno, _("cannot read"), path);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("'%s' is not a regular file"), path);
        return NULL;
    }
    if (!g_file_get_contents(path, &contents, &length, error))
        return NULL;
    root = podvm_json_parse(contents, (gssize)length, error);
    if (root == NULL) {
        g_prefix_error(error, _("'%s': "), path);
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("'%s' is not a JSON object"), path);
        return NULL;
    }
    object = json_node_get_object(root);
    phase = member_string(object, "phase");
    size = json_object_get_member(object, "size");
    if (g_strcmp0(member_string(object, "name"), name) != 0 || phase == NULL ||
        (strcmp(phase, PHASE_IMPORTING) != 0 && strcmp(phase, PHASE_READY) != 0 &&
         strcmp(phase, PHASE_FAILED) != 0) ||
        g_strcmp0(member_string(object, "format"), "raw") != 0 || size == NULL ||
        json_node_get_value_type(size) != G_TYPE_INT64 || json_node_get_int(size) < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("'%s' is not a volume record (name, phase, format or size is wrong)"), path);
        return NULL;
    }
    volume = pool_volume_new(name);
    volume->size = (guint64)json_node_get_int(size);
    volume->phase = g_strdup(phase);
    volume->source = g_strdup(member_string(object, "source"));
    volume->sha256 = g_strdup(member_string(object, "sha256"));
    volume->created_at = g_strdup(member_string(object, "createdAt"));
    volume->message = g_strdup(member_string(object, "message"));
    return g_steal_pointer(&volume);
}

static gboolean
is_work_file(const char *file)
{
    /* Ours (.NAME.img.tmp, .NAME.part) and the store's (NAME.json.tmp). */
    return (file[0] == '.' &&
            (g_str_has_suffix(file, ".tmp") || g_str_has_suffix(file, ".part"))) ||
           g_str_has_suffix(file, ".json.tmp");
}

static gboolean
load_records(PodvmVolumePool *self, GError **error)
{
    g_autoptr(GDir) dir = g_dir_open(self->dir, 0, error);
    const char *file;

    if (dir == NULL)
        return FALSE;
    while ((file = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = g_build_filename(self->dir, file, NULL);
        g_autofree char *name = NULL;
        g_autoptr(GError) local_error = NULL;
        PoolVolume *volume;

        /* No import runs yet: work files are what a killed daemon left. */
        if (is_work_file(file)) {
            volume_pool_unlink_quietly(path);
            continue;
        }
        if (file[0] == '.' || !g_str_has_suffix(file, ".json"))
            continue;
        name = g_strndup(file, strlen(file) - strlen(".json"));
        if (!podvm_name_is_valid(name, NULL)) {
            g_message("volume pool: ignoring '%s': not a volume name", path);
            continue;
        }
        volume = read_record(path, name, &local_error);
        if (volume == NULL) {
            g_message("volume pool: ignoring '%s': %s", path, local_error->message);
            continue;
        }
        g_hash_table_replace(self->volumes, volume->name, volume);
        if (strcmp(volume->phase, PHASE_IMPORTING) == 0) {
            volume_pool_set_phase(volume, PHASE_FAILED, _("interrupted by a daemon restart"));
            volume_pool_remove_volume_data(self, volume->name);
            if (!volume_pool_write_record(self, volume, &local_error))
                g_message("volume pool: cannot mark '%s' failed: %s", volume->name,
                          local_error->message);
        }
    }
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The object */

static void
podvm_volume_pool_finalize(GObject *object)
{
    PodvmVolumePool *self = PODVM_VOLUME_POOL(object);

    g_clear_object(&self->session);
    g_clear_pointer(&self->volumes, g_hash_table_unref);
    g_free(self->dir);
    g_free(self->qemu_img);
    G_OBJECT_CLASS(podvm_volume_pool_parent_class)->finalize(object);
}

static void
podvm_volume_pool_class_init(PodvmVolumePoolClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->finalize = podvm_volume_pool_finalize;

    volume_pool_signals[SIGNAL_CHANGED] =
        g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, G_TYPE_STRING);
    volume_pool_signals[SIGNAL_PROGRESS] =
        g_signal_new("progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_UINT64, G_TYPE_UINT64);
}

static void
podvm_volume_pool_init(PodvmVolumePool *self)
{
    self->volumes =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)pool_volume_free);
}

PodvmVolumePool *
podvm_volume_pool_new(const char *dir, const char *qemu_img, GError **error)
{
    g_autoptr(PodvmVolumePool) self = NULL;

    g_return_val_if_fail(dir != NULL, NULL);

    if (g_mkdir_with_parents(dir, 0700) != 0) {
        set_io_error(error, errno, _("cannot create the volume pool directory"), dir);
        return NULL;
    }
    self = g_object_new(PODVM_TYPE_VOLUME_POOL, NULL);
    self->dir = g_strdup(dir);
    self->qemu_img = g_strdup(qemu_img != NULL ? qemu_img : "qemu-img");
    if (!load_records(self, error))
        return NULL;
    return g_steal_pointer(&self);
}

const char *
podvm_volume_pool_get_dir(PodvmVolumePool *self)
{
    g_return_val_if_fail(PODVM_IS_VOLUME_POOL(self), NULL);
    return self->dir;
}

static PoolVolume *
lookup(PodvmVolumePool *self, const char *name, GError **error)
{
    PoolVolume *volume = g_hash_table_lookup(self->volumes, name);

    if (volume == NULL) {
        g_autofree char *quoted = podvm_quote_for_message(name);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("volume %s not found; create it with 'podvmctl volume create'"), quoted);
    }
    return volume;
}

JsonNode *
podvm_volume_pool_get_json(PodvmVolumePool *self, const char *name, GError **error)
{
    PoolVolume *volume;

    g_return_val_if_fail(PODVM_IS_VOLUME_POOL(self), NULL);
    g_return_val_if_fail(name != NULL, NULL);

    volume = lookup(self, name, error);
    return volume != NULL ? volume_pool_volume_to_json(volume, TRUE) : NULL;
}

JsonNode *
podvm_volume_pool_list_json(PodvmVolumePool *self)
{
    g_autoptr(GPtrArray) names = NULL;
    JsonArray *array = json_array_new();
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    g_return_val_if_fail(PODVM_IS_VOLUME_POOL(self), NULL);

    names = sorted_keys(self->volumes);
    for (guint i = 0; i < names->len; i++)
        json_array_add_element(
            array,
            volume_pool_volume_to_json(g_hash_table_lookup(self->volumes, names->pdata[i]), TRUE));
    json_node_take_array(node, array);
    return node;
}

gboolean
podvm_volume_pool_delete(PodvmVolumePool *self, const char *name, GError **error)
{
    g_autofree char *record = NULL;
    g_autofree char *quoted = NULL;
    g_autofree char *key = NULL;
    PoolVolume *volume;

    g_return_val_if_fail(PODVM_IS_VOLUME_POOL(self), FALSE);
    g_return_val_if_fail(name != NULL, FALSE);

    volume = lookup(self, name, error);
    if (volume == NULL)
        return FALSE;
    quoted = podvm_quote_for_message(name);
    if (strcmp(volume->phase, PHASE_IMPORTING) == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("volume %s is importing; wait until it is Ready or Failed"), quoted);
        return FALSE;
    }
    if (g_hash_table_size(volume->users) > 0) {
        g_autoptr(GPtrArray) pods = sorted_keys(volume->users);
        g_autofree char *list = NULL;

        g_ptr_array_add(pods, NULL);
        list = g_strjoinv(", ", (char **)pods->pdata);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("volume %s is used by pod %s; stop the pod or detach the disk first"), quoted,
                    list);
        return FALSE;
    }
    /* The image goes first: a record without an image is visible and deletable again. */
    volume_pool_remove_volume_data(self, name);
    record = volume_pool_record_path(self, name);
    if (g_unlink(record) != 0 && errno != ENOENT)
        return set_io_error(error, errno, _("cannot remove"), record);
    key = g_strdup(name);
    g_hash_table_remove(self->volumes, name);
    g_signal_emit(self, volume_pool_signals[SIGNAL_CHANGED], 0, key);
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Use by pods */

gboolean
podvm_volume_pool_acquire(PodvmVolumePool *self, const char *name, const char *pod,
                          gboolean read_only, char **out_path, guint64 *out_size, GError **error)
{
    g_autofree char *quoted = NULL;
    g_autofree char *image = NULL;
    GHashTableIter iter;
    gpointer key, value;
    VolumeUse use = read_only ? USE_READ_ONLY : USE_READ_WRITE;
    VolumeUse held;
    PoolVolume *volume;
    GStatBuf st;

    g_return_val_if_fail(PODVM_IS_VOLUME_POOL(self), FALSE);
    g_return_val_if_fail(name != NULL && pod != NULL, FALSE);

    volume = lookup(self, name, error);
    if (volume == NULL)
        return FALSE;
    quoted = podvm_quote_for_message(name);
    if (strcmp(volume->phase, PHASE_IMPORTING) == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("volume %s is still importing; wait until it is Ready"), quoted);
        return FALSE;
    }
    if (strcmp(volume->phase, PHASE_READY) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("volume %s failed to import (%s); delete it and create it again"), quoted,
                    volume->message != NULL ? volume->message : _("no reason recorded"));
        return FALSE;
    }
    g_hash_table_iter_init(&iter, volume->users);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (strcmp(key, pod) == 0)
            continue;
        if (use == USE_READ_WRITE) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                        _("volume %s is used by pod '%s'; a pod that writes to it must be its "
                          "only user"),
                        quoted, (const char *)key);
            return FALSE;
        }
        if (GPOINTER_TO_INT(value) == USE_READ_WRITE) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                        _("volume %s is used read-write by pod '%s'"), quoted, (const char *)key);
            return FALSE;
        }
    }
    image = podvm_volume_pool_image_path(self, name);
    if (g_stat(image, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("the image of volume %s is missing ('%s'); delete the volume and create "
                      "it again"),
                    quoted, image);
        return FALSE;
    }

    /* A pod that already writes keeps writing: its QEMU has the image open read-write. */
    held = GPOINTER_TO_INT(g_hash_table_lookup(volume->users, pod));
    if (held != use && held != USE_READ_WRITE) {
        g_hash_table_replace(volume->users, g_strdup(pod), GINT_TO_POINTER(use));
        g_signal_emit(self, volume_pool_signals[SIGNAL_CHANGED], 0, volume->name);
    }
    if (out_path != NULL)
        *out_path = g_steal_pointer(&image);
    if (out_size != NULL)
        *out_size = (guint64)st.st_size;
    return TRUE;
}

void
podvm_volume_pool_release(PodvmVolumePool *self, const char *name, const char *pod)
{
    PoolVolume *volume;

    g_return_if_fail(PODVM_IS_VOLUME_POOL(self));
    g_return_if_fail(name != NULL && pod != NULL);

    volume = g_hash_table_lookup(self->volumes, name);
    if (volume != NULL && g_hash_table_remove(volume->users, pod))
        g_signal_emit(self, volume_pool_signals[SIGNAL_CHANGED], 0, volume->name);
}
