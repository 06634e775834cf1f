/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-volume-pool.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixoutputstream.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-build-config.h"
#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-quantity.h"
#include "podvm-store.h"
#include "podvm-qemu-img.h"
#include "podvm-spec.h"

#define PHASE_IMPORTING "Importing"
#define PHASE_READY "Ready"
#define PHASE_FAILED "Failed"

/* qcow2's magic: "QFI\xfb". Anything else is taken as raw. */
static const guchar qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };

/* Import progress at most every MiB or every 100 ms, so a fast download does not flood. */
#define PROGRESS_BYTES (1024 * 1024)
#define PROGRESS_USEC (100 * G_TIME_SPAN_MILLISECOND)
#define DOWNLOAD_CHUNK (256 * 1024)

typedef enum {
    USE_READ_ONLY = 1,
    USE_READ_WRITE = 2,
} VolumeUse;

typedef struct {
    char *name;
    guint64 size;
    char *format; /* always "raw" for now */
    char *phase;  /* PHASE_* */
    char *source; /* NULL: blank */
    char *sha256; /* lowercase hex or NULL */
    char *created_at;
    char *message;     /* why it failed, or NULL */
    GHashTable *users; /* pod name -> GINT_TO_POINTER(VolumeUse); memory only */
} PoolVolume;

struct _PodvmVolumePool {
    GObject parent_instance;

    char *dir;            /* owned */
    char *qemu_img;       /* owned */
    GHashTable *volumes;  /* name -> PoolVolume*, owned */
    SoupSession *session; /* owned; made at the first import */
};

G_DEFINE_TYPE(PodvmVolumePool, podvm_volume_pool, G_TYPE_OBJECT)

enum {
    SIGNAL_CHANGED,
    SIGNAL_PROGRESS,
    N_SIGNALS,
};
static guint signals[N_SIGNALS];

static void
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
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PoolVolume, pool_volume_free)

static PoolVolume *
pool_volume_new(const char *name)
{
    PoolVolume *volume = g_new0(PoolVolume, 1);

    volume->name = g_strdup(name);
    volume->format = g_strdup("raw");
    volume->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return volume;
}

static void
set_phase(PoolVolume *volume, const char *phase, const char *message)
{
    g_free(volume->phase);
    volume->phase = g_strdup(phase);
    g_free(volume->message);
    volume->message = g_strdup(message);
}

/* ------------------------------------------------------------------------ */
/* Paths */

static char *
record_path(PodvmVolumePool *self, const char *name)
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
static char *
part_path(PodvmVolumePool *self, const char *name)
{
    g_autofree char *file = g_strconcat(".", name, ".part", NULL);
    return g_build_filename(self->dir, file, NULL);
}

static char *
image_tmp_path(PodvmVolumePool *self, const char *name)
{
    g_autofree char *file = g_strconcat(".", name, ".img.tmp", NULL);
    return g_build_filename(self->dir, file, NULL);
}

static void
unlink_quietly(const char *path)
{
    if (g_unlink(path) != 0 && errno != ENOENT)
        g_message("cannot remove '%s': %s", path, g_strerror(errno));
}

/* Removes what an import may have left: the download, the half image, the image. */
static void
remove_volume_data(PodvmVolumePool *self, const char *name)
{
    g_autofree char *image = podvm_volume_pool_image_path(self, name);
    g_autofree char *tmp = image_tmp_path(self, name);
    g_autofree char *part = part_path(self, name);

    unlink_quietly(tmp);
    unlink_quietly(part);
    unlink_quietly(image);
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
static JsonNode *
volume_to_json(PoolVolume *volume, gboolean with_users)
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

static gboolean
write_record(PodvmVolumePool *self, PoolVolume *volume, GError **error)
{
    g_autoptr(JsonNode) node = volume_to_json(volume, FALSE);
    g_autofree char *path = record_path(self, volume->name);
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
            unlink_quietly(path);
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
            set_phase(volume, PHASE_FAILED, _("interrupted by a daemon restart"));
            remove_volume_data(self, volume->name);
            if (!write_record(self, volume, &local_error))
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

    signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
    signals[SIGNAL_PROGRESS] =
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
    return volume != NULL ? volume_to_json(volume, TRUE) : NULL;
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
            array, volume_to_json(g_hash_table_lookup(self->volumes, names->pdata[i]), TRUE));
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
    remove_volume_data(self, name);
    record = record_path(self, name);
    if (g_unlink(record) != 0 && errno != ENOENT)
        return set_io_error(error, errno, _("cannot remove"), record);
    key = g_strdup(name);
    g_hash_table_remove(self->volumes, name);
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0, key);
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
        g_signal_emit(self, signals[SIGNAL_CHANGED], 0, volume->name);
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
        g_signal_emit(self, signals[SIGNAL_CHANGED], 0, volume->name);
}

/* ------------------------------------------------------------------------ */
/* Create */

typedef struct {
    char *name;
    guint64 size; /* requested; 0 = the source's */
    char *from;
    char *sha256;
    gboolean from_url;

    char *image;  /* POOL_DIR/NAME.img */
    char *tmp;    /* POOL_DIR/.NAME.img.tmp: the image until it is complete */
    char *part;   /* POOL_DIR/.NAME.part: the download */
    char *source; /* the file converted: @from or @part */
    const char *source_format;
    guint64 source_size;
    guint64 final_size;

    /* Download */
    SoupMessage *message;
    GInputStream *input;
    GOutputStream *output;
    GChecksum *checksum;
    GBytes *chunk;
    guint64 done;
    guint64 total;
    guint64 reported;
    gint64 reported_at;
} CreateData;

static void
create_data_free(CreateData *data)
{
    g_free(data->name);
    g_free(data->from);
    g_free(data->sha256);
    g_free(data->image);
    g_free(data->tmp);
    g_free(data->part);
    g_free(data->source);
    g_clear_object(&data->message);
    g_clear_object(&data->input);
    g_clear_object(&data->output);
    g_clear_pointer(&data->checksum, g_checksum_free);
    g_clear_pointer(&data->chunk, g_bytes_unref);
    g_free(data);
}

static gboolean
is_url(const char *from)
{
    return g_str_has_prefix(from, "http://") || g_str_has_prefix(from, "https://");
}

static gboolean
validate_options(PodvmVolumePool *self, const PodvmVolumeCreateOptions *options, GError **error)
{
    g_autoptr(GError) name_error = NULL;

    if (!podvm_name_is_valid(options->name, &name_error)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("volume name: %s"),
                    name_error->message);
        return FALSE;
    }
    if (g_hash_table_contains(self->volumes, options->name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                    _("volume '%s' already exists; delete it first or pick another name"),
                    options->name);
        return FALSE;
    }
    if (!podvm_quantity_check_size(options->size, error))
        return FALSE;
    if (options->from == NULL) {
        if (options->size == 0) {
            g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("a blank volume needs a size greater than 0"));
            return FALSE;
        }
        if (options->sha256 != NULL) {
            g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("a sha256 digest only applies to a volume made from a file or "
                                  "URL"));
            return FALSE;
        }
        return TRUE;
    }
    if (options->sha256 != NULL) {
        gsize length = strlen(options->sha256);
        gboolean hex = length == 64;

        for (gsize i = 0; hex && i < length; i++)
            hex = g_ascii_isxdigit(options->sha256[i]);
        if (!hex) {
            g_autofree char *quoted = podvm_quote_for_message(options->sha256);
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("sha256 %s is not a SHA-256 digest: give 64 hexadecimal digits"), quoted);
            return FALSE;
        }
    }
    if (is_url(options->from)) {
        if (!g_uri_is_valid(options->from, G_URI_FLAGS_ENCODED, NULL)) {
            g_autofree char *quoted = podvm_quote_for_message(options->from);
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s is not a valid URL"), quoted);
            return FALSE;
        }
        return TRUE;
    }
    if (strstr(options->from, "://") != NULL) {
        g_autofree char *quoted = podvm_quote_for_message(options->from);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("cannot import from %s: only http:// and https:// URLs and host files are "
                      "supported"),
                    quoted);
        return FALSE;
    }
    if (!g_path_is_absolute(options->from)) {
        g_autofree char *quoted = podvm_quote_for_message(options->from);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("source file %s is not an absolute path"), quoted);
        return FALSE;
    } else {
        GStatBuf st;
        if (g_stat(options->from, &st) != 0) {
            int saved = errno;
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("cannot use source file '%s': %s"), options->from, g_strerror(saved));
            return FALSE;
        }
        if (!S_ISREG(st.st_mode)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("source '%s' is not a regular file"), options->from);
            return FALSE;
        }
    }
    return TRUE;
}

/* Every failure after the record exists ends here: the record says why, the data goes. */
static void
create_fail(GTask *task, GError *error)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    PoolVolume *volume = g_hash_table_lookup(self->volumes, data->name);
    g_autoptr(GError) owned = error;
    g_autoptr(GError) write_error = NULL;

    if (owned->domain != PODVM_ERROR) {
        g_autoptr(GError) converted = podvm_error_from_component(owned);
        g_clear_error(&owned);
        owned = g_steal_pointer(&converted);
    }
    remove_volume_data(self, data->name);
    if (volume != NULL) {
        set_phase(volume, PHASE_FAILED, owned->message);
        if (!write_record(self, volume, &write_error))
            g_message("volume pool: cannot record the failure of '%s': %s", data->name,
                      write_error->message);
        g_signal_emit(self, signals[SIGNAL_CHANGED], 0, data->name);
    }
    g_task_return_error(task, g_steal_pointer(&owned));
}

static void
create_succeed(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    PoolVolume *volume = g_hash_table_lookup(self->volumes, data->name);
    g_autoptr(GError) error = NULL;
    GStatBuf st;

    /* What the guest will see: qemu-img rounds a raw image up to whole 512-byte sectors. */
    if (g_stat(data->tmp, &st) == 0)
        data->final_size = (guint64)st.st_size;
    if (rename(data->tmp, data->image) != 0) {
        int saved = errno;
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot rename '%s': %s"),
                                      data->tmp, g_strerror(saved)));
        return;
    }
    if (data->part != NULL)
        unlink_quietly(data->part);
    volume->size = data->final_size;
    set_phase(volume, PHASE_READY, NULL);
    if (!write_record(self, volume, &error)) {
        create_fail(task, g_steal_pointer(&error));
        return;
    }
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0, data->name);
    g_task_return_pointer(task, volume_to_json(volume, TRUE), (GDestroyNotify)json_node_unref);
}

static void
resize_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;

    if (!podvm_qemu_img_resize_finish(result, &error))
        create_fail(task, error);
    else
        create_succeed(task);
}

static void
convert_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    GError *error = NULL;

    if (!podvm_qemu_img_convert_finish(result, &error)) {
        create_fail(task, error);
        return;
    }
    if (data->final_size > data->source_size) {
        GCancellable *cancellable = g_task_get_cancellable(task);

        podvm_qemu_img_resize_async(self->qemu_img, data->tmp, "raw", data->final_size, cancellable,
                                    resize_cb, g_steal_pointer(&task));
        return;
    }
    create_succeed(task);
}

/* The source is vetted and its size known: convert it to raw under the temporary name. */
static void
convert_source(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);

    if (data->size > 0 && data->size < data->source_size) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                      _("size %llu is smaller than the source (%llu bytes); "
                                        "give at least that much or no size"),
                                      (unsigned long long)data->size,
                                      (unsigned long long)data->source_size));
        g_object_unref(task);
        return;
    }
    data->final_size = MAX(data->size, data->source_size);
    unlink_quietly(data->tmp);
    podvm_qemu_img_convert_async(self->qemu_img, data->source, data->source_format, data->tmp,
                                 "raw", g_task_get_cancellable(task), convert_cb, task);
}

static void
info_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(JsonObject) info = NULL;
    GError *error = NULL;
    JsonObject *specific;
    JsonObject *specific_data;
    JsonNode *size;

    info = podvm_qemu_img_info_finish(result, &error);
    if (info == NULL) {
        create_fail(task, error);
        g_object_unref(task);
        return;
    }
    /* A backing or data file would let the image read other host files (RELIABILITY.md). */
    specific = json_object_get_member(info, "format-specific") != NULL &&
                       JSON_NODE_HOLDS_OBJECT(json_object_get_member(info, "format-specific"))
                   ? json_object_get_object_member(info, "format-specific")
                   : NULL;
    specific_data = specific != NULL && json_object_get_member(specific, "data") != NULL &&
                            JSON_NODE_HOLDS_OBJECT(json_object_get_member(specific, "data"))
                        ? json_object_get_object_member(specific, "data")
                        : NULL;
    if (json_object_has_member(info, "backing-filename") ||
        (specific_data != NULL && json_object_has_member(specific_data, "data-file"))) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                      _("the qcow2 source '%s' refers to another file (a backing "
                                        "or data file); give a self-contained image"),
                                      data->from));
        g_object_unref(task);
        return;
    }
    size = json_object_get_member(info, "virtual-size");
    if (size == NULL || json_node_get_value_type(size) != G_TYPE_INT64 ||
        json_node_get_int(size) <= 0) {
        create_fail(task,
                    g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("qemu-img info gave no virtual size for '%s'"), data->from));
        g_object_unref(task);
        return;
    }
    data->source_size = (guint64)json_node_get_int(size);
    convert_source(task);
}

/* What the thread learns of the source file. */
typedef struct {
    gboolean qcow2;
    guint64 size;
    char *sha256; /* when asked for */
} SourceFacts;

static void
source_facts_free(SourceFacts *facts)
{
    g_free(facts->sha256);
    g_free(facts);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SourceFacts, source_facts_free)

static void
probe_source_thread(GTask *task, gpointer source_object, gpointer task_data,
                    GCancellable *cancellable)
{
    CreateData *data = task_data;
    g_autoptr(SourceFacts) facts = NULL;
    g_autoptr(GChecksum) checksum = NULL;
    guchar magic[sizeof qcow2_magic];
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(data->source, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot open '%s': %s"),
                                data->source, g_strerror(saved));
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("source '%s' is not a regular file"), data->source);
        return;
    }
    facts = g_new0(SourceFacts, 1);
    facts->size = (guint64)st.st_size;
    n = pread(fd, magic, sizeof magic, 0);
    facts->qcow2 = n == (ssize_t)sizeof magic && memcmp(magic, qcow2_magic, sizeof magic) == 0;

    /* A download was hashed while it streamed; a file is hashed here. */
    if (data->sha256 != NULL && !data->from_url) {
        g_autofree guchar *buffer = g_malloc(DOWNLOAD_CHUNK);

        checksum = g_checksum_new(G_CHECKSUM_SHA256);
        while ((n = read(fd, buffer, DOWNLOAD_CHUNK)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                int saved = errno;
                close(fd);
                g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                        _("cannot read '%s': %s"), data->source, g_strerror(saved));
                return;
            }
            if (g_cancellable_is_cancelled(cancellable)) {
                close(fd);
                g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                        _("the import was cancelled"));
                return;
            }
            g_checksum_update(checksum, buffer, n);
        }
        facts->sha256 = g_strdup(g_checksum_get_string(checksum));
    }
    close(fd);
    g_task_return_pointer(task, g_steal_pointer(&facts), (GDestroyNotify)source_facts_free);
}

static gboolean
check_digest(CreateData *data, const char *actual, GError **error)
{
    if (g_ascii_strcasecmp(data->sha256, actual) == 0)
        return TRUE;
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("checksum mismatch: expected %s, got %s"),
                data->sha256, actual);
    return FALSE;
}

static void
probe_source_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(SourceFacts) facts = NULL;
    GError *error = NULL;

    facts = g_task_propagate_pointer(G_TASK(result), &error);
    if (facts == NULL || (facts->sha256 != NULL && !check_digest(data, facts->sha256, &error))) {
        create_fail(task, error);
        g_object_unref(task);
        return;
    }
    data->source_size = facts->size;
    if (facts->qcow2) {
        data->source_format = "qcow2";
        podvm_qemu_img_info_async(self->qemu_img, data->source, "qcow2",
                                  g_task_get_cancellable(task), info_cb, task);
        return;
    }
    data->source_format = "raw";
    convert_source(task);
}

/* Reads the source's magic (never letting qemu-img guess) and, for a file, its digest. */
static void
probe_source(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    g_autoptr(GTask) probe = g_task_new(self, g_task_get_cancellable(task), probe_source_cb, task);

    g_task_set_task_data(probe, g_task_get_task_data(task), NULL);
    g_task_run_in_thread(probe, probe_source_thread);
}

static void
blank_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;

    if (!podvm_qemu_img_create_finish(result, &error))
        create_fail(task, error);
    else
        create_succeed(task);
}

/* -- Download ------------------------------------------------------------- */

static void read_next_chunk(GTask *task);

static void
report_progress(GTask *task, gboolean last)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);
    gint64 now = g_get_monotonic_time();

    if (!last && data->done - data->reported < PROGRESS_BYTES &&
        now - data->reported_at < PROGRESS_USEC)
        return;
    data->reported = data->done;
    data->reported_at = now;
    g_signal_emit(self, signals[SIGNAL_PROGRESS], 0, data->name, data->done, data->total);
}

static void
download_done(GTask *task)
{
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!g_output_stream_close(data->output, NULL, &error)) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"),
                                      data->part, error->message));
        g_object_unref(task);
        return;
    }
    report_progress(task, TRUE);
    if (data->checksum != NULL &&
        !check_digest(data, g_checksum_get_string(data->checksum), &error)) {
        create_fail(task, g_steal_pointer(&error));
        g_object_unref(task);
        return;
    }
    data->source = g_strdup(data->part);
    probe_source(task);
}

static void
write_chunk_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot write '%s': %s"),
                                      data->part, error->message));
        g_object_unref(task);
        return;
    }
    data->done += g_bytes_get_size(data->chunk);
    g_clear_pointer(&data->chunk, g_bytes_unref);
    report_progress(task, FALSE);
    read_next_chunk(task);
}

static void
read_chunk_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    gconstpointer bytes;
    gsize length = 0;

    data->chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
    if (data->chunk == NULL) {
        create_fail(
            task,
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                ? g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("the import was cancelled"))
                : g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("download of '%s' failed: %s"),
                              data->from, error->message));
        g_object_unref(task);
        return;
    }
    bytes = g_bytes_get_data(data->chunk, &length);
    if (length == 0) {
        g_clear_pointer(&data->chunk, g_bytes_unref);
        download_done(task);
        return;
    }
    if (data->checksum != NULL)
        g_checksum_update(data->checksum, bytes, (gssize)length);
    g_output_stream_write_all_async(data->output, bytes, length, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable(task), write_chunk_cb, task);
}

static void
read_next_chunk(GTask *task)
{
    CreateData *data = g_task_get_task_data(task);

    g_input_stream_read_bytes_async(data->input, DOWNLOAD_CHUNK, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable(task), read_chunk_cb, task);
}

static void
send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    CreateData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    guint status;
    goffset length;
    int fd;

    data->input = soup_session_send_finish(SOUP_SESSION(source), result, &error);
    if (data->input == NULL) {
        create_fail(
            task,
            g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                ? g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("the import was cancelled"))
                : g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot download '%s': %s"),
                              data->from, error->message));
        g_object_unref(task);
        return;
    }
    status = soup_message_get_status(data->message);
    if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
        const char *reason = soup_message_get_reason_phrase(data->message);
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                                      _("download of '%s' failed: HTTP %u %s"), data->from, status,
                                      reason != NULL ? reason : ""));
        g_object_unref(task);
        return;
    }
    length =
        soup_message_headers_get_content_length(soup_message_get_response_headers(data->message));
    data->total = length > 0 ? (guint64)length : 0;

    unlink_quietly(data->part);
    fd = open(data->part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int saved = errno;
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"),
                                      data->part, g_strerror(saved)));
        g_object_unref(task);
        return;
    }
    data->output = g_unix_output_stream_new(fd, TRUE);
    if (data->sha256 != NULL)
        data->checksum = g_checksum_new(G_CHECKSUM_SHA256);
    data->reported_at = g_get_monotonic_time();
    report_progress(task, TRUE);
    read_next_chunk(task);
}

static void
start_download(GTask *task)
{
    PodvmVolumePool *self = g_task_get_source_object(task);
    CreateData *data = g_task_get_task_data(task);

    if (self->session == NULL)
        self->session = soup_session_new_with_options("user-agent", "podvm/" PODVM_VERSION,
                                                      "timeout", 60, NULL);
    data->message = soup_message_new(SOUP_METHOD_GET, data->from);
    if (data->message == NULL) {
        create_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                      _("'%s' is not a URL podvm can download"), data->from));
        g_object_unref(task);
        return;
    }
    data->part = part_path(self, data->name);
    soup_session_send_async(self->session, data->message, G_PRIORITY_DEFAULT,
                            g_task_get_cancellable(task), send_cb, task);
}

void
podvm_volume_pool_create_async(PodvmVolumePool *self, const PodvmVolumeCreateOptions *options,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GDateTime) now = NULL;
    CreateData *data;
    PoolVolume *volume;

    g_return_if_fail(PODVM_IS_VOLUME_POOL(self));
    g_return_if_fail(options != NULL && options->name != NULL);

    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_volume_pool_create_async);
    if (!validate_options(self, options, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }

    data = g_new0(CreateData, 1);
    data->name = g_strdup(options->name);
    data->size = options->size;
    data->from = g_strdup(options->from);
    data->sha256 = options->sha256 != NULL ? g_ascii_strdown(options->sha256, -1) : NULL;
    data->from_url = options->from != NULL && is_url(options->from);
    data->image = podvm_volume_pool_image_path(self, options->name);
    data->tmp = image_tmp_path(self, options->name);
    g_task_set_task_data(task, data, (GDestroyNotify)create_data_free);

    /* The record first, so list shows the import and a restart can mark it failed. */
    now = g_date_time_new_now_utc();
    volume = pool_volume_new(options->name);
    volume->size = options->size;
    volume->source = g_strdup(options->from);
    volume->sha256 = g_strdup(data->sha256);
    volume->created_at = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    set_phase(volume, PHASE_IMPORTING, NULL);
    if (!write_record(self, volume, &error)) {
        g_autofree char *record = record_path(self, volume->name);
        (void)g_unlink(record);
        pool_volume_free(volume);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_hash_table_replace(self->volumes, volume->name, volume);
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0, volume->name);

    if (options->from == NULL) {
        unlink_quietly(data->tmp);
        data->final_size = options->size;
        podvm_qemu_img_create_async(self->qemu_img, "raw", data->tmp, options->size, NULL, NULL,
                                    cancellable, blank_cb, g_steal_pointer(&task));
    } else if (data->from_url) {
        start_download(g_steal_pointer(&task));
    } else {
        data->source = g_strdup(options->from);
        probe_source(g_steal_pointer(&task));
    }
}

JsonNode *
podvm_volume_pool_create_finish(PodvmVolumePool *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == podvm_volume_pool_create_async,
                         NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
