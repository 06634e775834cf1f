/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-migration-doc.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <sys/random.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-spec.h"

/* A disk is at most 16 TiB (QEMU's and the pool's limits are far below). */
#define MAX_DISK_SIZE (G_GUINT64_CONSTANT(16) << 40)
#define MAX_ID_LENGTH 64
#define MIN_SECRET_LENGTH 32
#define MAX_SECRET_LENGTH 128
#define MAX_EXPORT_LENGTH 255
#define MAX_UID_LENGTH 64

void
podvm_migration_disk_free(PodvmMigrationDisk *disk)
{
    if (disk == NULL)
        return;
    g_free(disk->name);
    g_free(disk->export_name);
    g_free(disk);
}

void
podvm_migration_offer_free(PodvmMigrationOffer *offer)
{
    if (offer == NULL)
        return;
    if (offer->pod != NULL)
        json_node_unref(offer->pod);
    if (offer->disks != NULL)
        g_ptr_array_unref(offer->disks);
    if (offer->macs != NULL)
        g_hash_table_unref(offer->macs);
    g_free(offer);
}

void
podvm_migration_answer_free(PodvmMigrationAnswer *answer)
{
    if (answer == NULL)
        return;
    g_free(answer->id);
    if (answer->secret != NULL)
        explicit_bzero(answer->secret, strlen(answer->secret));
    g_free(answer->secret);
    if (answer->disks != NULL)
        g_ptr_array_unref(answer->disks);
    g_free(answer);
}

/* --- writing --------------------------------------------------------------- */

static void
add_disks(JsonBuilder *b, GPtrArray *disks, gboolean answer)
{
    json_builder_set_member_name(b, "disks");
    json_builder_begin_array(b);
    for (guint i = 0; disks != NULL && i < disks->len; i++) {
        const PodvmMigrationDisk *disk = g_ptr_array_index(disks, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, disk->name);
        if (answer) {
            json_builder_set_member_name(b, "export");
            json_builder_add_string_value(b, disk->export_name);
        } else {
            json_builder_set_member_name(b, "size");
            json_builder_add_int_value(b, (gint64)disk->size);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

JsonNode *
podvm_migration_offer_to_json(const PodvmMigrationOffer *offer)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, PODVM_MIGRATION_DOC_VERSION);
    json_builder_set_member_name(b, "pod");
    if (offer->pod != NULL)
        json_builder_add_value(b, json_node_copy(offer->pod));
    else
        json_builder_add_null_value(b);
    add_disks(b, offer->disks, FALSE);
    json_builder_set_member_name(b, "macs");
    json_builder_begin_object(b);
    if (offer->macs != NULL) {
        /* Sorted: the same offer is the same text. */
        g_autofree gpointer *keys = g_hash_table_get_keys_as_array(offer->macs, NULL);
        guint n = g_hash_table_size(offer->macs);

        qsort(keys, n, sizeof(gpointer), compare_strings);
        for (guint i = 0; i < n; i++) {
            json_builder_set_member_name(b, keys[i]);
            json_builder_add_string_value(b, g_hash_table_lookup(offer->macs, keys[i]));
        }
    }
    json_builder_end_object(b);
    json_builder_set_member_name(b, "postcopy");
    json_builder_add_boolean_value(b, offer->postcopy);
    if (offer->paused) {
        json_builder_set_member_name(b, "paused");
        json_builder_add_boolean_value(b, TRUE);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
podvm_migration_answer_to_json(const PodvmMigrationAnswer *answer)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, answer->id);
    json_builder_set_member_name(b, "secret");
    json_builder_add_string_value(b, answer->secret);
    add_disks(b, answer->disks, TRUE);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* --- reading --------------------------------------------------------------- */

/*
 * Every refusal is INVALID_ARGUMENT and starts with the document ("offer",
 * "answer") and the member ("disks[2].size").
 */
static gboolean refuse(GError **error, const char *doc, const char *member, const char *format, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean
refuse(GError **error, const char *doc, const char *member, const char *format, ...)
{
    g_autofree char *text = NULL;
    va_list args;

    va_start(args, format);
    text = g_strdup_vprintf(format, args);
    va_end(args);
    /* TRANSLATORS: "offer: disks[0].size: ..." */
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("%s: %s: %s"), doc, member,
                text);
    return FALSE;
}

/* Members not in @known are refused: a newer peer speaks another version. */
static gboolean
check_members(JsonObject *object, const char *const *known, const char *doc, const char *path,
              GError **error)
{
    JsonObjectIter iter;
    const char *name;
    JsonNode *node;

    json_object_iter_init(&iter, object);
    while (json_object_iter_next(&iter, &name, &node)) {
        if (!g_strv_contains(known, name)) {
            g_autofree char *quoted = podvm_quote_for_message(name);
            g_autofree char *member =
                *path != '\0' ? g_strdup_printf("%s.%s", path, quoted) : g_strdup(quoted);

            return refuse(error, doc, member, "%s", _("unknown member"));
        }
    }
    return TRUE;
}

static JsonNode *
require_member(JsonObject *object, const char *name, const char *doc, const char *member,
               GError **error)
{
    JsonNode *node = json_object_get_member(object, name);

    if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
        refuse(error, doc, member, "%s", _("required"));
        return NULL;
    }
    return node;
}

static const char *
read_string(JsonNode *node, const char *doc, const char *member, GError **error)
{
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        refuse(error, doc, member, "%s", _("not a string"));
        return NULL;
    }
    return json_node_get_string(node);
}

static JsonObject *
read_object(JsonNode *node, const char *doc, const char *member, GError **error)
{
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        refuse(error, doc, member, "%s", _("not an object"));
        return NULL;
    }
    return json_node_get_object(node);
}

static gboolean
read_name(JsonNode *node, const char *doc, const char *member, char **out, GError **error)
{
    g_autoptr(GError) local = NULL;
    const char *name = read_string(node, doc, member, error);

    if (name == NULL)
        return FALSE;
    if (!podvm_name_is_valid(name, &local))
        return refuse(error, doc, member, "%s", local->message);
    *out = g_strdup(name);
    return TRUE;
}

static gboolean
charset_only(const char *text, const char *extra)
{
    for (const char *c = text; *c != '\0'; c++) {
        if (!g_ascii_isalnum(*c) && strchr(extra, *c) == NULL)
            return FALSE;
    }
    return TRUE;
}

static gboolean
is_lower_id(const char *text)
{
    for (const char *c = text; *c != '\0'; c++) {
        if (!g_ascii_islower(*c) && !g_ascii_isdigit(*c) && *c != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean
parse_mac(const char *text, guint8 out[6])
{
    if (strlen(text) != 17)
        return FALSE;
    for (guint i = 0; i < 6; i++) {
        int high = g_ascii_xdigit_value(text[i * 3]);
        int low = g_ascii_xdigit_value(text[i * 3 + 1]);

        if (high < 0 || low < 0 || (i < 5 && text[i * 3 + 2] != ':'))
            return FALSE;
        out[i] = (guint8)(high << 4 | low);
    }
    return TRUE;
}

static gboolean
parse_disk_array(JsonObject *root, gboolean answer, const char *doc, GPtrArray **out,
                 GError **error)
{
    static const char *const offer_members[] = { "name", "size", NULL };
    static const char *const answer_members[] = { "name", "export", NULL };
    g_autoptr(GPtrArray) disks =
        g_ptr_array_new_with_free_func((GDestroyNotify)podvm_migration_disk_free);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    JsonNode *node = json_object_get_member(root, "disks");
    JsonArray *array;
    guint n;

    /* No disks to copy: the member may be left out. */
    if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
        *out = g_steal_pointer(&disks);
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_ARRAY(node))
        return refuse(error, doc, "disks", "%s", _("not an array"));
    array = json_node_get_array(node);
    n = json_array_get_length(array);
    if (n > PODVM_MIGRATION_MAX_DISKS)
        return refuse(error, doc, "disks", _("%u disks: at most %d can be migrated"), n,
                      PODVM_MIGRATION_MAX_DISKS);
    for (guint i = 0; i < n; i++) {
        g_autofree char *path = g_strdup_printf("disks[%u]", i);
        g_autofree char *name_path = g_strdup_printf("disks[%u].name", i);
        g_autoptr(PodvmMigrationDisk) disk = g_new0(PodvmMigrationDisk, 1);
        JsonObject *object = read_object(json_array_get_element(array, i), doc, path, error);
        JsonNode *member;

        if (object == NULL ||
            !check_members(object, answer ? answer_members : offer_members, doc, path, error))
            return FALSE;
        member = require_member(object, "name", doc, name_path, error);
        if (member == NULL || !read_name(member, doc, name_path, &disk->name, error))
            return FALSE;
        if (g_hash_table_contains(seen, disk->name)) {
            g_autofree char *quoted = podvm_quote_for_message(disk->name);
            return refuse(error, doc, name_path, _("%s is named twice"), quoted);
        }
        if (answer) {
            g_autofree char *export_path = g_strdup_printf("disks[%u].export", i);
            const char *export_name;

            member = require_member(object, "export", doc, export_path, error);
            if (member == NULL ||
                (export_name = read_string(member, doc, export_path, error)) == NULL)
                return FALSE;
            if (*export_name == '\0' || strlen(export_name) > MAX_EXPORT_LENGTH ||
                !charset_only(export_name, "-_.:")) {
                g_autofree char *quoted = podvm_quote_for_message(export_name);
                return refuse(error, doc, export_path,
                              _("%s is not an export name (1 to %d letters, digits and '-_.:')"),
                              quoted, MAX_EXPORT_LENGTH);
            }
            disk->export_name = g_strdup(export_name);
        } else {
            g_autofree char *size_path = g_strdup_printf("disks[%u].size", i);
            gint64 size;

            member = require_member(object, "size", doc, size_path, error);
            if (member == NULL)
                return FALSE;
            if (!JSON_NODE_HOLDS_VALUE(member) || json_node_get_value_type(member) != G_TYPE_INT64)
                return refuse(error, doc, size_path, "%s", _("not an integer"));
            size = json_node_get_int(member);
            if (size <= 0 || (guint64)size > MAX_DISK_SIZE)
                return refuse(error, doc, size_path,
                              _("%" G_GINT64_FORMAT " bytes: a disk has more than 0 and at most "
                                "16 TiB"),
                              size);
            disk->size = (guint64)size;
        }
        g_hash_table_add(seen, disk->name);
        g_ptr_array_add(disks, g_steal_pointer(&disk));
    }
    *out = g_steal_pointer(&disks);
    return TRUE;
}

static JsonObject *
parse_root(const char *data, gssize length, const char *doc, JsonNode **out_root, GError **error)
{
    g_autoptr(GError) local = NULL;
    gsize size = length < 0 ? (data != NULL ? strlen(data) : 0) : (gsize)length;
    JsonNode *root;

    if (data == NULL)
        size = 0;
    if (size > PODVM_MIGRATION_MAX_DOC) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: %" G_GSIZE_FORMAT " bytes: a document has at most %d"), doc, size,
                    PODVM_MIGRATION_MAX_DOC);
        return NULL;
    }
    root = podvm_json_parse_limited(data != NULL ? data : "", (gssize)size, PODVM_MIGRATION_MAX_DOC,
                                    PODVM_JSON_MAX_DEPTH, &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("%s: %s"), doc,
                    local->message);
        return NULL;
    }
    *out_root = root;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: the document is not a JSON object"), doc);
        return NULL;
    }
    return json_node_get_object(root);
}

static gboolean
parse_pod(JsonObject *root, const char *doc, JsonNode **out, GError **error)
{
    g_autofree char *name = NULL;
    JsonNode *node = require_member(root, "pod", doc, "pod", error);
    JsonObject *pod;
    JsonObject *metadata;
    const char *uid;

    if (node == NULL || (pod = read_object(node, doc, "pod", error)) == NULL)
        return FALSE;
    node = require_member(pod, "metadata", doc, "pod.metadata", error);
    if (node == NULL || (metadata = read_object(node, doc, "pod.metadata", error)) == NULL)
        return FALSE;
    node = require_member(metadata, "name", doc, "pod.metadata.name", error);
    if (node == NULL || !read_name(node, doc, "pod.metadata.name", &name, error))
        return FALSE;
    node = require_member(metadata, "uid", doc, "pod.metadata.uid", error);
    if (node == NULL || (uid = read_string(node, doc, "pod.metadata.uid", error)) == NULL)
        return FALSE;
    if (strlen(uid) > MAX_UID_LENGTH || !g_uuid_string_is_valid(uid)) {
        g_autofree char *quoted = podvm_quote_for_message(uid);
        return refuse(error, doc, "pod.metadata.uid", _("%s is not a UUID"), quoted);
    }
    *out = json_node_copy(json_object_get_member(root, "pod"));
    return TRUE;
}

static gboolean
parse_macs(JsonObject *root, const char *doc, GHashTable **out, GError **error)
{
    g_autoptr(GHashTable) macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    JsonNode *node = json_object_get_member(root, "macs");
    JsonObjectIter iter;
    const char *name;
    JsonNode *value;
    JsonObject *object;

    if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
        *out = g_steal_pointer(&macs);
        return TRUE;
    }
    if ((object = read_object(node, doc, "macs", error)) == NULL)
        return FALSE;
    if (json_object_get_size(object) > PODVM_MIGRATION_MAX_DISKS)
        return refuse(error, doc, "macs", _("%u interfaces: at most %d"),
                      json_object_get_size(object), PODVM_MIGRATION_MAX_DISKS);
    json_object_iter_init(&iter, object);
    while (json_object_iter_next(&iter, &name, &value)) {
        g_autoptr(GError) local = NULL;
        g_autofree char *quoted = podvm_quote_for_message(name);
        g_autofree char *member = g_strdup_printf("macs.%s", quoted);
        const char *mac;
        guint8 bytes[6];

        if (!podvm_name_is_valid(name, &local))
            return refuse(error, doc, member, "%s", local->message);
        if ((mac = read_string(value, doc, member, error)) == NULL)
            return FALSE;
        if (!parse_mac(mac, bytes)) {
            g_autofree char *quoted_mac = podvm_quote_for_message(mac);
            return refuse(error, doc, member,
                          _("%s is not a MAC address (xx:xx:xx:xx:xx:xx in hexadecimal)"),
                          quoted_mac);
        }
        if ((bytes[0] & 1) != 0 || memcmp(bytes, "\0\0\0\0\0\0", 6) == 0) {
            g_autofree char *quoted_mac = podvm_quote_for_message(mac);
            return refuse(error, doc, member, _("%s is not a unicast address"), quoted_mac);
        }
        g_hash_table_insert(macs, g_strdup(name), g_ascii_strdown(mac, -1));
    }
    *out = g_steal_pointer(&macs);
    return TRUE;
}

PodvmMigrationOffer *
podvm_migration_offer_parse(const char *data, gssize length, GError **error)
{
    static const char *const members[] = { "version",  "pod",    "disks", "macs",
                                           "postcopy", "paused", NULL };
    const char *doc = _("offer");
    g_autoptr(JsonNode) root_node = NULL;
    g_autoptr(PodvmMigrationOffer) offer = g_new0(PodvmMigrationOffer, 1);
    JsonObject *root = parse_root(data, length, doc, &root_node, error);
    JsonNode *node;

    if (root == NULL || !check_members(root, members, doc, "", error))
        return NULL;
    node = require_member(root, "version", doc, "version", error);
    if (node == NULL)
        return NULL;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
        json_node_get_int(node) != PODVM_MIGRATION_DOC_VERSION) {
        refuse(error, doc, "version", _("this podvmd speaks version %d of the migration documents"),
               PODVM_MIGRATION_DOC_VERSION);
        return NULL;
    }
    if (!parse_pod(root, doc, &offer->pod, error) ||
        !parse_disk_array(root, FALSE, doc, &offer->disks, error) ||
        !parse_macs(root, doc, &offer->macs, error))
        return NULL;
    node = json_object_get_member(root, "postcopy");
    if (node != NULL && !JSON_NODE_HOLDS_NULL(node)) {
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
            refuse(error, doc, "postcopy", "%s", _("not a boolean"));
            return NULL;
        }
        offer->postcopy = json_node_get_boolean(node);
    }
    node = json_object_get_member(root, "paused");
    if (node != NULL && !JSON_NODE_HOLDS_NULL(node)) {
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
            refuse(error, doc, "paused", "%s", _("not a boolean"));
            return NULL;
        }
        offer->paused = json_node_get_boolean(node);
    }
    return g_steal_pointer(&offer);
}

PodvmMigrationAnswer *
podvm_migration_answer_parse(const char *data, gssize length, GError **error)
{
    static const char *const members[] = { "id", "secret", "disks", NULL };
    const char *doc = _("answer");
    g_autoptr(JsonNode) root_node = NULL;
    g_autoptr(PodvmMigrationAnswer) answer = g_new0(PodvmMigrationAnswer, 1);
    JsonObject *root = parse_root(data, length, doc, &root_node, error);
    JsonNode *node;
    const char *id;
    const char *secret;
    gsize secret_length;

    if (root == NULL || !check_members(root, members, doc, "", error))
        return NULL;
    node = require_member(root, "id", doc, "id", error);
    if (node == NULL || (id = read_string(node, doc, "id", error)) == NULL)
        return NULL;
    if (*id == '\0' || strlen(id) > MAX_ID_LENGTH || !is_lower_id(id)) {
        g_autofree char *quoted = podvm_quote_for_message(id);
        refuse(error, doc, "id",
               _("%s is not a migration id (1 to %d lowercase letters, digits and '-')"), quoted,
               MAX_ID_LENGTH);
        return NULL;
    }
    node = require_member(root, "secret", doc, "secret", error);
    if (node == NULL || (secret = read_string(node, doc, "secret", error)) == NULL)
        return NULL;
    secret_length = strlen(secret);
    /* Never quoted back: it is a secret. */
    if (secret_length < MIN_SECRET_LENGTH || secret_length > MAX_SECRET_LENGTH ||
        !charset_only(secret, "-_")) {
        refuse(error, doc, "secret", _("not %d to %d letters, digits, '-' and '_'"),
               MIN_SECRET_LENGTH, MAX_SECRET_LENGTH);
        return NULL;
    }
    answer->id = g_strdup(id);
    answer->secret = g_strdup(secret);
    if (!parse_disk_array(root, TRUE, doc, &answer->disks, error))
        return NULL;
    return g_steal_pointer(&answer);
}

/* --- ids and secrets ---------------------------------------------------------- */

static void
random_bytes(guint8 *buffer, gsize length)
{
    gsize done = 0;

    while (done < length) {
        ssize_t n = getrandom(buffer + done, length - done, 0);

        if (n < 0) {
            /* Only EINTR; the kernel's pool cannot fail otherwise for small reads. */
            if (errno == EINTR)
                continue;
            g_error("getrandom: %s", g_strerror(errno));
        }
        done += (gsize)n;
    }
}

char *
podvm_migration_new_id(void)
{
    guint8 bytes[16];
    GString *id = g_string_sized_new(sizeof(bytes) * 2);

    random_bytes(bytes, sizeof(bytes));
    for (guint i = 0; i < sizeof(bytes); i++)
        g_string_append_printf(id, "%02x", bytes[i]);
    return g_string_free(id, FALSE);
}

char *
podvm_migration_new_secret(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    guint8 bytes[48];
    char *secret = g_malloc(sizeof(bytes) + 1);

    G_STATIC_ASSERT(sizeof(alphabet) - 1 == 64);
    random_bytes(bytes, sizeof(bytes));
    /* 6 random bits per character: 48 characters, 288 bits. */
    for (guint i = 0; i < sizeof(bytes); i++)
        secret[i] = alphabet[bytes[i] & 63];
    secret[sizeof(bytes)] = '\0';
    explicit_bzero(bytes, sizeof(bytes));
    return secret;
}

gboolean
podvm_migration_secret_equal(const char *expected, const char *given)
{
    gsize expected_length;
    gsize given_length;
    guint diff;

    if (expected == NULL || given == NULL)
        return FALSE;
    expected_length = strlen(expected);
    given_length = strlen(given);
    /* The time depends on the expected secret's length only, never on where they differ. */
    diff = expected_length != given_length;
    for (gsize i = 0; i < expected_length; i++) {
        guchar g = i < given_length ? (guchar)given[i] : 0;
        diff |= (guchar)expected[i] ^ g;
    }
    return diff == 0 && expected_length > 0;
}
