/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod spec: its model (free, copy, lookups, restart policy names) and
 * the entry points that parse a document. The parser's parts are in
 * podvm-spec-*.c; podvm-spec-private.h lists them.
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

const char *
podvm_eviction_strategy_to_string(PodvmEvictionStrategy strategy)
{
    switch (strategy) {
    case PODVM_EVICTION_LIVE_MIGRATE:
        return "LiveMigrate";
    case PODVM_EVICTION_LIVE_MIGRATE_IF_POSSIBLE:
        return "LiveMigrateIfPossible";
    case PODVM_EVICTION_NONE:
    default:
        return "None";
    }
}

gboolean
podvm_eviction_strategy_from_string(const char *text, PodvmEvictionStrategy *out_strategy)
{
    PodvmEvictionStrategy strategy;

    if (g_strcmp0(text, "LiveMigrate") == 0)
        strategy = PODVM_EVICTION_LIVE_MIGRATE;
    else if (g_strcmp0(text, "LiveMigrateIfPossible") == 0)
        strategy = PODVM_EVICTION_LIVE_MIGRATE_IF_POSSIBLE;
    else if (g_strcmp0(text, "None") == 0)
        strategy = PODVM_EVICTION_NONE;
    else
        return FALSE;
    *out_strategy = strategy;
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The model */

static void
env_var_free(PodvmSpecEnvVar *var)
{
    if (var == NULL)
        return;
    g_free(var->name);
    g_free(var->value);
    g_free(var);
}

PodvmSpecApp *
spec_app_new(void)
{
    PodvmSpecApp *app = g_new0(PodvmSpecApp, 1);

    app->env = g_ptr_array_new_with_free_func((GDestroyNotify)env_var_free);
    return app;
}

void
podvm_spec_app_free(PodvmSpecApp *app)
{
    if (app == NULL)
        return;
    g_free(app->name);
    g_free(app->image);
    g_strfreev(app->command);
    g_strfreev(app->args);
    g_clear_pointer(&app->env, g_ptr_array_unref);
    g_free(app->working_dir);
    g_free(app);
}

void
podvm_spec_disk_free(PodvmSpecDisk *disk)
{
    if (disk == NULL)
        return;
    g_free(disk->name);
    g_free(disk->serial);
    g_free(disk);
}

PodvmSpecDisk *
podvm_spec_disk_copy(const PodvmSpecDisk *disk)
{
    PodvmSpecDisk *copy;

    g_return_val_if_fail(disk != NULL, NULL);

    copy = g_memdup2(disk, sizeof(*disk));
    copy->name = g_strdup(disk->name);
    copy->serial = g_strdup(disk->serial);
    return copy;
}

void
podvm_spec_volume_free(PodvmSpecVolume *volume)
{
    if (volume == NULL)
        return;
    g_free(volume->name);
    g_free(volume->path);
    g_free(volume->claim_name);
    g_free(volume->image);
    g_free(volume->image_path);
    g_free(volume->image_pull_policy);
    g_free(volume->user_data);
    g_free(volume->meta_data);
    g_free(volume->network_data);
    g_free(volume);
}

PodvmSpecVolume *
podvm_spec_volume_copy(const PodvmSpecVolume *volume)
{
    PodvmSpecVolume *copy;

    g_return_val_if_fail(volume != NULL, NULL);

    copy = g_memdup2(volume, sizeof(*volume));
    copy->name = g_strdup(volume->name);
    copy->path = g_strdup(volume->path);
    copy->claim_name = g_strdup(volume->claim_name);
    copy->image = g_strdup(volume->image);
    copy->image_path = g_strdup(volume->image_path);
    copy->image_pull_policy = g_strdup(volume->image_pull_policy);
    copy->user_data = g_strdup(volume->user_data);
    copy->meta_data = g_strdup(volume->meta_data);
    copy->network_data = g_strdup(volume->network_data);
    return copy;
}

const PodvmSpecVolume *
podvm_spec_find_volume(const PodvmSpec *spec, const char *name)
{
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    for (i = 0; name != NULL && spec->volumes != NULL && i < spec->volumes->len; i++) {
        const PodvmSpecVolume *volume = g_ptr_array_index(spec->volumes, i);

        if (g_strcmp0(volume->name, name) == 0)
            return volume;
    }
    return NULL;
}

const PodvmSpecDisk *
podvm_spec_find_disk(const PodvmSpec *spec, const char *name)
{
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    for (i = 0; name != NULL && spec->disks != NULL && i < spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(spec->disks, i);

        if (g_strcmp0(disk->name, name) == 0)
            return disk;
    }
    return NULL;
}

PodvmSpec *
spec_new(void)
{
    PodvmSpec *spec = g_new0(PodvmSpec, 1);

    spec->labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    spec->annotations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    spec->apps = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_app_free);
    spec->disks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_disk_free);
    spec->volumes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_volume_free);
    spec->interfaces = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_interface_free);
    spec->networks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_network_free);
    spec->source_kind = g_strdup(KIND_POD);
    spec->autoattach_serial_console = TRUE;
    spec->autoattach_guest_agent = TRUE;
    spec->autoattach_mem_balloon = TRUE;
    spec->termination_grace_period_seconds = PODVM_SPEC_DEFAULT_GRACE_SECONDS;
    spec->restart_policy = PODVM_RESTART_NEVER;
    return spec;
}

void
podvm_spec_free(PodvmSpec *spec)
{
    if (spec == NULL)
        return;
    g_free(spec->name);
    g_free(spec->uid);
    g_clear_pointer(&spec->labels, g_hash_table_unref);
    g_clear_pointer(&spec->annotations, g_hash_table_unref);
    g_free(spec->source_kind);
    g_free(spec->cpu_model);
    g_free(spec->machine_type);
    g_free(spec->kernel_path);
    g_free(spec->initrd_path);
    g_free(spec->kernel_args);
    g_free(spec->firmware_uuid);
    g_free(spec->firmware_serial);
    g_clear_pointer(&spec->disks, g_ptr_array_unref);
    g_clear_pointer(&spec->volumes, g_ptr_array_unref);
    g_clear_pointer(&spec->interfaces, g_ptr_array_unref);
    g_clear_pointer(&spec->networks, g_ptr_array_unref);
    g_clear_pointer(&spec->apps, g_ptr_array_unref);
    g_free(spec->hostname);
    podvm_spec_probe_free(spec->liveness_probe);
    podvm_spec_probe_free(spec->readiness_probe);
    g_free(spec);
}

static void
copy_map(GHashTable *from, GHashTable *to)
{
    GHashTableIter iter;
    gpointer key, value;

    if (from == NULL)
        return;
    g_hash_table_iter_init(&iter, from);
    while (g_hash_table_iter_next(&iter, &key, &value))
        g_hash_table_replace(to, g_strdup(key), g_strdup(value));
}

static PodvmSpecApp *
app_copy(const PodvmSpecApp *app)
{
    PodvmSpecApp *copy = spec_app_new();
    guint i;

    copy->name = g_strdup(app->name);
    copy->image = g_strdup(app->image);
    copy->command = g_strdupv(app->command);
    copy->args = g_strdupv(app->args);
    for (i = 0; app->env != NULL && i < app->env->len; i++) {
        const PodvmSpecEnvVar *var = g_ptr_array_index(app->env, i);
        PodvmSpecEnvVar *var_copy = g_new0(PodvmSpecEnvVar, 1);

        var_copy->name = g_strdup(var->name);
        var_copy->value = g_strdup(var->value);
        g_ptr_array_add(copy->env, var_copy);
    }
    copy->working_dir = g_strdup(app->working_dir);
    copy->memory = app->memory;
    copy->millicpus = app->millicpus;
    return copy;
}

PodvmSpec *
podvm_spec_copy(const PodvmSpec *spec)
{
    PodvmSpec *copy;
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    copy = spec_new();
    copy->name = g_strdup(spec->name);
    copy->uid = g_strdup(spec->uid);
    copy_map(spec->labels, copy->labels);
    copy_map(spec->annotations, copy->annotations);
    g_free(copy->source_kind);
    copy->source_kind = g_strdup(spec->source_kind);
    copy->start_on_create = spec->start_on_create;
    copy->memory = spec->memory;
    copy->cpu_cores = spec->cpu_cores;
    copy->cpu_sockets = spec->cpu_sockets;
    copy->cpu_threads = spec->cpu_threads;
    copy->cpu_model = g_strdup(spec->cpu_model);
    copy->machine_type = g_strdup(spec->machine_type);
    copy->kernel_path = g_strdup(spec->kernel_path);
    copy->initrd_path = g_strdup(spec->initrd_path);
    copy->kernel_args = g_strdup(spec->kernel_args);
    copy->firmware_uuid = g_strdup(spec->firmware_uuid);
    copy->firmware_serial = g_strdup(spec->firmware_serial);
    copy->autoattach_serial_console = spec->autoattach_serial_console;
    copy->autoattach_mem_balloon = spec->autoattach_mem_balloon;
    copy->rng = spec->rng;
    copy->autoattach_guest_agent = spec->autoattach_guest_agent;
    for (i = 0; spec->disks != NULL && i < spec->disks->len; i++)
        g_ptr_array_add(copy->disks, podvm_spec_disk_copy(g_ptr_array_index(spec->disks, i)));
    for (i = 0; spec->volumes != NULL && i < spec->volumes->len; i++)
        g_ptr_array_add(copy->volumes, podvm_spec_volume_copy(g_ptr_array_index(spec->volumes, i)));
    for (i = 0; spec->interfaces != NULL && i < spec->interfaces->len; i++)
        g_ptr_array_add(copy->interfaces,
                        podvm_spec_interface_copy(g_ptr_array_index(spec->interfaces, i)));
    for (i = 0; spec->networks != NULL && i < spec->networks->len; i++)
        g_ptr_array_add(copy->networks,
                        podvm_spec_network_copy(g_ptr_array_index(spec->networks, i)));
    for (i = 0; spec->apps != NULL && i < spec->apps->len; i++)
        g_ptr_array_add(copy->apps, app_copy(g_ptr_array_index(spec->apps, i)));
    copy->termination_grace_period_seconds = spec->termination_grace_period_seconds;
    copy->restart_policy = spec->restart_policy;
    copy->hostname = g_strdup(spec->hostname);
    copy->eviction_strategy = spec->eviction_strategy;
    copy->liveness_probe = podvm_spec_probe_copy(spec->liveness_probe);
    copy->readiness_probe = podvm_spec_probe_copy(spec->readiness_probe);
    return copy;
}

const char *
podvm_restart_policy_to_string(PodvmRestartPolicy policy)
{
    switch (policy) {
    case PODVM_RESTART_ALWAYS:
        return "Always";
    case PODVM_RESTART_ON_FAILURE:
        return "OnFailure";
    case PODVM_RESTART_NEVER:
    default:
        return "Never";
    }
}

gboolean
podvm_restart_policy_from_string(const char *text, PodvmRestartPolicy *out_policy)
{
    PodvmRestartPolicy policy;

    if (g_strcmp0(text, "Always") == 0)
        policy = PODVM_RESTART_ALWAYS;
    else if (g_strcmp0(text, "OnFailure") == 0)
        policy = PODVM_RESTART_ON_FAILURE;
    else if (g_strcmp0(text, "Never") == 0)
        policy = PODVM_RESTART_NEVER;
    else
        return FALSE;
    *out_policy = policy;
    return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Entry points */

static void
parser_clear(Parser *p)
{
    g_clear_pointer(&p->problems, g_ptr_array_unref);
    g_clear_pointer(&p->refused, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Parser, parser_clear)

static void
parser_init(Parser *p)
{
    p->problems = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_problem_free);
    p->refused = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    p->n_dropped = 0;
    p->restart_policy_given = FALSE;
}

/* Fails with one problem at the document level (syntax, size, depth). */
static void
fail_document(const GError *cause, GPtrArray **out_problems, GError **error)
{
    /* json-glib's messages quote the input and may cut it inside a character. */
    g_autofree char *message = g_utf8_make_valid(cause->message, -1);

    if (out_problems != NULL) {
        PodvmSpecProblem *problem = g_new0(PodvmSpecProblem, 1);

        problem->path = g_strdup("");
        problem->message = g_strdup(message);
        *out_problems = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_problem_free);
        g_ptr_array_add(*out_problems, problem);
    }
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, message);
}

/* Sets @error and @out_problems and returns TRUE when @p found problems. */
static gboolean
report_problems(Parser *p, GPtrArray **out_problems, GError **error)
{
    g_autofree char *message = NULL;

    if (p->n_dropped > 0) {
        PodvmSpecProblem *more = g_new0(PodvmSpecProblem, 1);

        more->path = g_strdup("");
        more->message = g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "and %u more problem",
                                                    "and %u more problems", p->n_dropped),
                                        p->n_dropped);
        g_ptr_array_add(p->problems, more);
    }
    if (p->problems->len == 0)
        return FALSE;
    message = spec_problems_to_string(p->problems);
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, message);
    if (out_problems != NULL)
        *out_problems = g_steal_pointer(&p->problems);
    return TRUE;
}

static PodvmSpec *
parse_root(Parser *p, JsonNode *root, GPtrArray **out_problems, GError **error)
{
    g_autoptr(PodvmSpec) spec = NULL;

    if (!spec_node_depth_ok(root, 0)) {
        g_autoptr(GError) cause =
            g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("the document is nested deeper than %d levels"), MAX_DEPTH);
        fail_document(cause, out_problems, error);
        return NULL;
    }

    spec = spec_parse_document(p, root);
    if (report_problems(p, out_problems, error))
        return NULL;
    return g_steal_pointer(&spec);
}

PodvmSpec *
podvm_spec_parse_node(JsonNode *root, GPtrArray **out_problems, GError **error)
{
    g_auto(Parser) p = { 0 };

    g_return_val_if_fail(root != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    parser_init(&p);
    return parse_root(&p, root, out_problems, error);
}

/*
 * The checks made on the text before and by json-glib (size, UTF-8, the scanner, syntax).
 * Returns the root, owned by *@out_json, or NULL after fail_document().
 */
static JsonNode *
load_document(Parser *p, const char *data, gssize length, JsonParser **out_json,
              GPtrArray **out_problems, GError **error)
{
    g_autoptr(JsonParser) json = NULL;
    g_autoptr(GError) local_error = NULL;
    const char *invalid = NULL;
    gsize size;
    JsonNode *root;

    size = length < 0 ? strlen(data) : (gsize)length;
    if (size > MAX_DOCUMENT_SIZE) {
        local_error = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                  _("the document is %" G_GSIZE_FORMAT " bytes long: a pod spec "
                                    "has at most 1 MiB"),
                                  size);
        fail_document(local_error, out_problems, error);
        return NULL;
    }
    if (!g_utf8_validate_len(data, size, &invalid)) {
        local_error =
            g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        *invalid == '\0' ? _("the document contains a NUL byte (at byte %ld)")
                                         : _("the document is not UTF-8 text (at byte %ld)"),
                        (long)(invalid - data));
        fail_document(local_error, out_problems, error);
        return NULL;
    }

    if (!spec_prescan(p, data, size, &local_error)) {
        fail_document(local_error, out_problems, error);
        return NULL;
    }

    json = json_parser_new();
    if (!json_parser_load_from_data(json, data, (gssize)size, &local_error)) {
        fail_document(local_error, out_problems, error);
        return NULL;
    }
    root = json_parser_get_root(json);
    if (root == NULL) {
        local_error =
            g_error_new_literal(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC, _("the document is empty"));
        fail_document(local_error, out_problems, error);
        return NULL;
    }
    *out_json = g_steal_pointer(&json);
    return root;
}

PodvmSpec *
podvm_spec_parse_data(const char *data, gssize length, GPtrArray **out_problems, GError **error)
{
    g_auto(Parser) p = { 0 };
    g_autoptr(JsonParser) json = NULL;
    JsonNode *root;

    g_return_val_if_fail(data != NULL || length == 0, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    parser_init(&p);
    root = load_document(&p, data, length, &json, out_problems, error);
    if (root == NULL)
        return NULL;
    return parse_root(&p, root, out_problems, error);
}

gboolean
podvm_spec_parse_disk_attachment(const char *data, gssize length, PodvmSpecDisk **out_disk,
                                 PodvmSpecVolume **out_volume, GPtrArray **out_problems,
                                 GError **error)
{
    static const Field fields[] = {
        { "disk", FIELD_KNOWN, NULL },
        { "volume", FIELD_KNOWN, NULL },
    };
    g_auto(Parser) p = { 0 };
    g_autoptr(JsonParser) json = NULL;
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;
    JsonObject *object;
    JsonNode *root;
    JsonNode *child;

    g_return_val_if_fail(data != NULL || length == 0, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    parser_init(&p);
    root = load_document(&p, data, length, &json, out_problems, error);
    if (root == NULL)
        return FALSE;

    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        spec_add_problem(&p, "", _("the document must be a JSON object, got %s"),
                         spec_type_name(root));
    } else {
        object = json_node_get_object(root);
        CHECK_MEMBERS(&p, "", object, fields);

        child = spec_member(object, "disk");
        if (child == NULL)
            spec_add_problem_literal(
                &p, "disk", _("required: the disk, as an entry of spec.domain.devices.disks"));
        else
            disk = spec_parse_disk(&p, "disk", child);

        child = spec_member(object, "volume");
        if (child == NULL)
            spec_add_problem_literal(&p, "volume",
                                     _("required: the volume, as an entry of spec.volumes"));
        else
            volume = spec_parse_volume(&p, "volume", child);

        if (disk != NULL && volume != NULL && disk->name != NULL && volume->name != NULL &&
            strcmp(disk->name, volume->name) != 0) {
            g_autofree char *disk_name = podvm_quote_for_message(disk->name);
            g_autofree char *volume_name = podvm_quote_for_message(volume->name);

            spec_add_problem(&p, "disk.name",
                             _("is %s but the volume is named %s: a disk shows the volume of its "
                               "name"),
                             disk_name, volume_name);
        }
    }

    if (report_problems(&p, out_problems, error))
        return FALSE;
    if (out_disk != NULL)
        *out_disk = g_steal_pointer(&disk);
    if (out_volume != NULL)
        *out_volume = g_steal_pointer(&volume);
    return TRUE;
}

gboolean
podvm_spec_parse_interface_attachment(const char *data, gssize length,
                                      PodvmSpecInterface **out_interface,
                                      PodvmSpecNetwork **out_network, GPtrArray **out_problems,
                                      GError **error)
{
    g_auto(Parser) p = { 0 };
    g_autoptr(JsonParser) json = NULL;
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;
    JsonNode *root;

    g_return_val_if_fail(data != NULL || length == 0, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    parser_init(&p);
    root = load_document(&p, data, length, &json, out_problems, error);
    if (root == NULL)
        return FALSE;
    spec_parse_interface_attachment(&p, root, &iface, &network);
    if (report_problems(&p, out_problems, error))
        return FALSE;
    if (out_interface != NULL)
        *out_interface = g_steal_pointer(&iface);
    if (out_network != NULL)
        *out_network = g_steal_pointer(&network);
    return TRUE;
}
