/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spec as JSON in the native form (apiVersion podvm.io/v1, kind Pod),
 * which parses back to an equal spec, and its redacted form for answers.
 */
#include "podvm-spec-private.h"

#include <string.h>

#include "podvm-quantity.h"

static void
add_string_member(JsonBuilder *builder, const char *name, const char *value)
{
    json_builder_set_member_name(builder, name);
    json_builder_add_string_value(builder, value);
}

static int
compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys sorted, so the same spec always gives the same text. */
static void
add_map_member(JsonBuilder *builder, const char *name, GHashTable *map)
{
    g_autofree gpointer *keys = NULL;
    guint n_keys = 0;
    guint i;

    if (map == NULL || g_hash_table_size(map) == 0)
        return;
    keys = g_hash_table_get_keys_as_array(map, &n_keys);
    qsort(keys, n_keys, sizeof(gpointer), compare_keys);
    json_builder_set_member_name(builder, name);
    json_builder_begin_object(builder);
    for (i = 0; i < n_keys; i++)
        add_string_member(builder, keys[i], g_hash_table_lookup(map, keys[i]));
    json_builder_end_object(builder);
}

static void
add_strv_member(JsonBuilder *builder, const char *name, GStrv strv)
{
    guint i;

    if (strv == NULL)
        return;
    json_builder_set_member_name(builder, name);
    json_builder_begin_array(builder);
    for (i = 0; strv[i] != NULL; i++)
        json_builder_add_string_value(builder, strv[i]);
    json_builder_end_array(builder);
}

static void
write_disk(JsonBuilder *b, const PodvmSpecDisk *disk)
{
    /* Indexed by PodvmDiskCache. */
    static const char *const caches[] = { NULL, "none", "writethrough", "writeback" };

    json_builder_begin_object(b);
    if (disk->name != NULL)
        add_string_member(b, "name", disk->name);
    json_builder_set_member_name(b, podvm_disk_kind_to_string(disk->kind));
    json_builder_begin_object(b);
    add_string_member(b, "bus", podvm_disk_bus_to_string(disk->bus));
    if (disk->readonly) {
        json_builder_set_member_name(b, "readonly");
        json_builder_add_boolean_value(b, TRUE);
    }
    json_builder_end_object(b);
    if (disk->boot_order != 0) {
        json_builder_set_member_name(b, "bootOrder");
        json_builder_add_int_value(b, disk->boot_order);
    }
    if (disk->serial != NULL)
        add_string_member(b, "serial", disk->serial);
    if ((guint)disk->cache < G_N_ELEMENTS(caches) && caches[disk->cache] != NULL)
        add_string_member(b, "cache", caches[disk->cache]);
    json_builder_end_object(b);
}

static void
add_capacity_member(JsonBuilder *b, guint64 capacity)
{
    g_autofree char *text = NULL;

    if (capacity == 0)
        return;
    text = podvm_quantity_format_bytes(capacity);
    add_string_member(b, "capacity", text);
}

static void
add_claim_members(JsonBuilder *b, const PodvmSpecVolume *volume)
{
    if (volume->claim_name != NULL)
        add_string_member(b, "claimName", volume->claim_name);
    if (volume->readonly) {
        json_builder_set_member_name(b, "readOnly");
        json_builder_add_boolean_value(b, TRUE);
    }
}

static void
write_volume(JsonBuilder *b, const PodvmSpecVolume *volume)
{
    json_builder_begin_object(b);
    if (volume->name != NULL)
        add_string_member(b, "name", volume->name);
    json_builder_set_member_name(b, podvm_volume_source_to_string(volume->source));
    json_builder_begin_object(b);
    switch (volume->source) {
    case PODVM_VOLUME_HOST_DISK:
        if (volume->path != NULL)
            add_string_member(b, "path", volume->path);
        add_string_member(b, "type", volume->create ? "DiskOrCreate" : "Disk");
        add_capacity_member(b, volume->capacity);
        break;
    case PODVM_VOLUME_EMPTY_DISK:
        add_capacity_member(b, volume->capacity);
        break;
    case PODVM_VOLUME_EPHEMERAL:
        if (volume->claim_name != NULL) {
            json_builder_set_member_name(b, "persistentVolumeClaim");
            json_builder_begin_object(b);
            add_claim_members(b, volume);
            json_builder_end_object(b);
        } else if (volume->path != NULL) {
            add_string_member(b, "image", volume->path);
        }
        break;
    case PODVM_VOLUME_CONTAINER_DISK:
        if (volume->image != NULL)
            add_string_member(b, "image", volume->image);
        if (volume->image_path != NULL)
            add_string_member(b, "path", volume->image_path);
        if (volume->image_pull_policy != NULL)
            add_string_member(b, "imagePullPolicy", volume->image_pull_policy);
        break;
    case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
    case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
        if (volume->user_data != NULL && volume->user_data_was_base64) {
            g_autofree char *encoded =
                g_base64_encode((const guchar *)volume->user_data, strlen(volume->user_data));
            add_string_member(b, "userDataBase64", encoded);
        } else if (volume->user_data != NULL) {
            add_string_member(b, "userData", volume->user_data);
        }
        if (volume->meta_data != NULL && volume->source == PODVM_VOLUME_CLOUD_INIT_NOCLOUD)
            add_string_member(b, "metaData", volume->meta_data);
        if (volume->network_data != NULL)
            add_string_member(b, "networkData", volume->network_data);
        break;
    case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
        add_claim_members(b, volume);
        break;
    case PODVM_VOLUME_DATA_VOLUME:
        if (volume->claim_name != NULL)
            add_string_member(b, "name", volume->claim_name);
        break;
    default:
        break;
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
}

JsonNode *
podvm_spec_disk_to_json(const PodvmSpecDisk *disk)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(disk != NULL, NULL);

    write_disk(b, disk);
    return json_builder_get_root(b);
}

JsonNode *
podvm_spec_volume_to_json(const PodvmSpecVolume *volume)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    g_return_val_if_fail(volume != NULL, NULL);

    write_volume(b, volume);
    return json_builder_get_root(b);
}

static void
write_domain(JsonBuilder *b, const PodvmSpec *spec)
{
    json_builder_set_member_name(b, "domain");
    json_builder_begin_object(b);

    if (spec->memory != 0) {
        g_autofree char *memory = podvm_quantity_format_bytes(spec->memory);

        json_builder_set_member_name(b, "resources");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "requests");
        json_builder_begin_object(b);
        add_string_member(b, "memory", memory);
        json_builder_end_object(b);
        json_builder_end_object(b);
    }

    if (spec->cpu_cores != 0 || spec->cpu_sockets != 0 || spec->cpu_threads != 0 ||
        spec->cpu_model != NULL) {
        json_builder_set_member_name(b, "cpu");
        json_builder_begin_object(b);
        if (spec->cpu_cores != 0) {
            json_builder_set_member_name(b, "cores");
            json_builder_add_int_value(b, spec->cpu_cores);
        }
        if (spec->cpu_sockets != 0) {
            json_builder_set_member_name(b, "sockets");
            json_builder_add_int_value(b, spec->cpu_sockets);
        }
        if (spec->cpu_threads != 0) {
            json_builder_set_member_name(b, "threads");
            json_builder_add_int_value(b, spec->cpu_threads);
        }
        if (spec->cpu_model != NULL)
            add_string_member(b, "model", spec->cpu_model);
        json_builder_end_object(b);
    }

    if (spec->machine_type != NULL) {
        json_builder_set_member_name(b, "machine");
        json_builder_begin_object(b);
        add_string_member(b, "type", spec->machine_type);
        json_builder_end_object(b);
    }

    if (spec->kernel_path != NULL || spec->firmware_uuid != NULL || spec->firmware_serial != NULL) {
        json_builder_set_member_name(b, "firmware");
        json_builder_begin_object(b);
        if (spec->kernel_path != NULL) {
            json_builder_set_member_name(b, "kernelBoot");
            json_builder_begin_object(b);
            add_string_member(b, "kernelPath", spec->kernel_path);
            if (spec->initrd_path != NULL)
                add_string_member(b, "initrdPath", spec->initrd_path);
            if (spec->kernel_args != NULL)
                add_string_member(b, "kernelArgs", spec->kernel_args);
            json_builder_end_object(b);
        }
        if (spec->firmware_uuid != NULL)
            add_string_member(b, "uuid", spec->firmware_uuid);
        if (spec->firmware_serial != NULL)
            add_string_member(b, "serial", spec->firmware_serial);
        json_builder_end_object(b);
    }

    json_builder_set_member_name(b, "devices");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "autoattachSerialConsole");
    json_builder_add_boolean_value(b, spec->autoattach_serial_console);
    /* Written only when off: the default depends on the kind of pod. */
    if (!spec->autoattach_guest_agent) {
        json_builder_set_member_name(b, "autoattachGuestAgent");
        json_builder_add_boolean_value(b, FALSE);
    }
    if (!spec->autoattach_mem_balloon) {
        /* Written only when off: documents of older podvmds stay the same. */
        json_builder_set_member_name(b, "autoattachMemBalloon");
        json_builder_add_boolean_value(b, FALSE);
    }
    if (spec->disks != NULL && spec->disks->len > 0) {
        guint i;

        json_builder_set_member_name(b, "disks");
        json_builder_begin_array(b);
        for (i = 0; i < spec->disks->len; i++)
            write_disk(b, g_ptr_array_index(spec->disks, i));
        json_builder_end_array(b);
    }
    if (spec->interfaces != NULL && spec->interfaces->len > 0) {
        guint i;

        json_builder_set_member_name(b, "interfaces");
        json_builder_begin_array(b);
        for (i = 0; i < spec->interfaces->len; i++)
            spec_write_interface(b, g_ptr_array_index(spec->interfaces, i));
        json_builder_end_array(b);
    }
    if (spec->rng) {
        json_builder_set_member_name(b, "rng");
        json_builder_begin_object(b);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);

    json_builder_end_object(b);
}

static void
write_app(JsonBuilder *b, const PodvmSpecApp *app)
{
    guint i;

    json_builder_begin_object(b);
    if (app->name != NULL)
        add_string_member(b, "name", app->name);
    if (app->image != NULL)
        add_string_member(b, "image", app->image);
    add_strv_member(b, "command", app->command);
    add_strv_member(b, "args", app->args);
    if (app->env != NULL && app->env->len > 0) {
        json_builder_set_member_name(b, "env");
        json_builder_begin_array(b);
        for (i = 0; i < app->env->len; i++) {
            const PodvmSpecEnvVar *var = g_ptr_array_index(app->env, i);

            json_builder_begin_object(b);
            add_string_member(b, "name", var->name);
            add_string_member(b, "value", var->value != NULL ? var->value : "");
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
    }
    if (app->working_dir != NULL)
        add_string_member(b, "workingDir", app->working_dir);
    if (app->memory != 0) {
        g_autofree char *memory = podvm_quantity_format_bytes(app->memory);
        add_string_member(b, "memory", memory);
    }
    if (app->millicpus != 0) {
        g_autofree char *cpus = podvm_quantity_format_millicpus(app->millicpus);
        add_string_member(b, "cpus", cpus);
    }
    json_builder_end_object(b);
}

JsonNode *
podvm_spec_to_json(const PodvmSpec *spec)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint i;

    g_return_val_if_fail(spec != NULL, NULL);

    json_builder_begin_object(b);
    add_string_member(b, "apiVersion", API_PODVM_V1);
    add_string_member(b, "kind", KIND_POD);

    json_builder_set_member_name(b, "metadata");
    json_builder_begin_object(b);
    if (spec->name != NULL)
        add_string_member(b, "name", spec->name);
    if (spec->uid != NULL)
        add_string_member(b, "uid", spec->uid);
    add_map_member(b, "labels", spec->labels);
    add_map_member(b, "annotations", spec->annotations);
    json_builder_end_object(b);

    json_builder_set_member_name(b, "spec");
    json_builder_begin_object(b);
    write_domain(b, spec);
    if (spec->apps != NULL && spec->apps->len > 0) {
        json_builder_set_member_name(b, "apps");
        json_builder_begin_array(b);
        for (i = 0; i < spec->apps->len; i++)
            write_app(b, g_ptr_array_index(spec->apps, i));
        json_builder_end_array(b);
    }
    if (spec->volumes != NULL && spec->volumes->len > 0) {
        json_builder_set_member_name(b, "volumes");
        json_builder_begin_array(b);
        for (i = 0; i < spec->volumes->len; i++)
            write_volume(b, g_ptr_array_index(spec->volumes, i));
        json_builder_end_array(b);
    }
    if (spec->networks != NULL && spec->networks->len > 0) {
        json_builder_set_member_name(b, "networks");
        json_builder_begin_array(b);
        for (i = 0; i < spec->networks->len; i++)
            spec_write_network(b, g_ptr_array_index(spec->networks, i));
        json_builder_end_array(b);
    }
    json_builder_set_member_name(b, "terminationGracePeriodSeconds");
    json_builder_add_int_value(b, spec->termination_grace_period_seconds);
    add_string_member(b, "restartPolicy", podvm_restart_policy_to_string(spec->restart_policy));
    if (spec->hostname != NULL)
        add_string_member(b, "hostname", spec->hostname);
    if (spec->eviction_strategy != PODVM_EVICTION_NONE)
        add_string_member(b, "evictionStrategy",
                          podvm_eviction_strategy_to_string(spec->eviction_strategy));
    spec_write_probe(b, "livenessProbe", spec->liveness_probe);
    spec_write_probe(b, "readinessProbe", spec->readiness_probe);
    json_builder_end_object(b);

    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static char *
hidden_placeholder(const char *text)
{
    return g_strdup_printf(PODVM_SPEC_HIDDEN_PREFIX "%zu bytes; GET /v1/pods/NAME?secrets=true "
                                                    "shows them)",
                           strlen(text));
}

/* *@text, a secret, becomes its placeholder (an empty or absent one stays). */
static void
hide(char **text)
{
    char *hidden;

    if (*text == NULL || **text == '\0')
        return;
    hidden = hidden_placeholder(*text);
    g_free(*text);
    *text = hidden;
}

static void
hide_probe_headers(PodvmSpecProbe *probe)
{
    for (guint i = 0; probe != NULL && i < probe->http_headers->len; i++) {
        PodvmSpecHttpHeader *header = g_ptr_array_index(probe->http_headers, i);

        hide(&header->value);
    }
}

JsonNode *
podvm_spec_to_json_redacted(const PodvmSpec *spec)
{
    g_autoptr(PodvmSpec) copy = podvm_spec_copy(spec);

    for (guint i = 0; i < copy->volumes->len; i++) {
        PodvmSpecVolume *volume = g_ptr_array_index(copy->volumes, i);
        char **texts[] = { &volume->user_data, &volume->network_data, &volume->meta_data };

        if (volume->source != PODVM_VOLUME_CLOUD_INIT_NOCLOUD &&
            volume->source != PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE)
            continue;
        for (gsize j = 0; j < G_N_ELEMENTS(texts); j++) {
            if (*texts[j] != NULL) {
                char *hidden = hidden_placeholder(*texts[j]);
                g_free(*texts[j]);
                *texts[j] = hidden;
            }
        }
        volume->user_data_was_base64 = FALSE;
    }
    /* A kernel command line carries passwords and keys often enough (rd.luks.key=, ...). */
    hide(&copy->kernel_args);
    /* Probe headers carry credentials (Authorization: Bearer ...): names shown, values hidden. */
    hide_probe_headers(copy->liveness_probe);
    hide_probe_headers(copy->readiness_probe);
    /* App environments carry passwords and tokens as often as not: values hidden, names shown. */
    for (guint i = 0; copy->apps != NULL && i < copy->apps->len; i++) {
        PodvmSpecApp *app = g_ptr_array_index(copy->apps, i);

        for (guint j = 0; app->env != NULL && j < app->env->len; j++) {
            PodvmSpecEnvVar *var = g_ptr_array_index(app->env, j);

            hide(&var->value);
        }
    }
    return podvm_spec_to_json(copy);
}
