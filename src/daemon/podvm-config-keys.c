/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every group and key of podvmd.conf, in one table: what podvmd knows (a
 * key that is not here is reported by name, a warning at start and an
 * error with --check-config) and what a reload (SIGHUP, systemctl reload)
 * applies while podvmd runs. A reader of a new key adds it here.
 */
#include "podvm-config-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

typedef struct {
    const char *group; /* "peer " and "sriov-pool ": a prefix, the rest is a name */
    const char *key;
    gboolean live; /* applied by a reload; otherwise it takes a restart */
} KnownKey;

static const KnownKey known_keys[] = {
    { "daemon", "state_dir", FALSE },
    { "daemon", "run_dir", FALSE },
    { "daemon", "restart_backoff_initial_ms", TRUE },
    { "daemon", "restart_backoff_max_ms", TRUE },
    { "daemon", "event_history", FALSE },
    { "qemu", "qemu", FALSE },
    { "qemu", "accel", FALSE },
    { "qemu", "kernel_dirs", FALSE },
    { "qemu", "qemu_user", FALSE },
    { "qemu", "qmp_connect_timeout_ms", TRUE },
    { "qemu", "stop_quit_timeout_ms", TRUE },
    { "qemu", "detach_timeout_ms", TRUE },
    { "qemu", "spare_root_ports", FALSE },
    { "rest", "listen", TRUE },
    { "rest", "token_file", TRUE },
    { "rest", "read_only_token_file", TRUE },
    { "rest", "console_ticket_seconds", FALSE },
    { "rest", "tls_cert", TRUE },
    { "rest", "tls_key", TRUE },
    { "rest", "request_timeout_ms", TRUE },
    { "rest", "max_client_queue", TRUE },
    { "qmp", "passthrough", TRUE },
    { "console", "log_max_bytes", TRUE },
    { "console", "log_keep", TRUE },
    { "console", "max_rate", TRUE },
    { "storage", "qemu_img", FALSE },
    { "storage", "container_disk_helper", FALSE },
    { "storage", "pool_dir", FALSE },
    { "storage", "cache_dir", FALSE },
    { "storage", "allowed_host_paths", FALSE },
    { "storage", "shared_paths", FALSE },
    { "network", "cni_config_dir", FALSE },
    { "network", "cni_plugin_dirs", FALSE },
    { "network", "cni_ipam_dir", FALSE },
    { "network", "cni_timeout_ms", FALSE },
    { "sriov", "sysfs_root", FALSE },
    { "sriov", "dev_root", FALSE },
    { "sriov-pool ", "physical_functions", FALSE },
    { "migration", "max_bandwidth", TRUE },
    { "migration", "initial_downtime_ms", TRUE },
    { "migration", "max_downtime_ms", TRUE },
    { "migration", "no_progress_timeout_ms", TRUE },
    { "migration", "stall_passes", TRUE },
    { "migration", "max_parallel", TRUE },
    { "migration", "allow_postcopy", TRUE },
    { "migration", "auto_converge", TRUE },
    { "peer ", "url", FALSE },
    { "peer ", "token_file", FALSE },
    { "peer ", "cacert", FALSE },
    { "peer ", "plaintext", FALSE },
    { "apps", "guest_dir", FALSE },
    { "apps", "rootfs_helper", FALSE },
    { "images", "dir", FALSE },
    { "images", "auth_file", FALSE },
    { "images", "insecure_registries", FALSE },
    { "images", "allowed_registries", FALSE },
    { "images", "require_digest", FALSE },
    { "images", "max_layer_size", FALSE },
    { "images", "max_manifest_size", FALSE },
    { "images", "timeout", FALSE },
    { "web", "enabled", FALSE },
    { "web", "dir", FALSE },
};

static gboolean
group_matches(const char *pattern, const char *group)
{
    gsize length = strlen(pattern);

    if (length > 0 && pattern[length - 1] == ' ')
        return g_str_has_prefix(group, pattern) && group[length] != '\0';
    return strcmp(pattern, group) == 0;
}

static const KnownKey *
find_key(const char *group, const char *key)
{
    for (gsize i = 0; i < G_N_ELEMENTS(known_keys); i++) {
        if (group_matches(known_keys[i].group, group) &&
            (key == NULL || strcmp(known_keys[i].key, key) == 0))
            return &known_keys[i];
    }
    return NULL;
}

GPtrArray *
podvm_config_unknown_keys(GKeyFile *kf, const char *path)
{
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

    for (guint i = 0; groups[i] != NULL; i++) {
        g_auto(GStrv) keys = NULL;

        if (find_key(groups[i], NULL) == NULL) {
            g_ptr_array_add(problems,
                            g_strdup_printf(_("%s: unknown group [%s]"), path, groups[i]));
            continue;
        }
        keys = g_key_file_get_keys(kf, groups[i], NULL, NULL);
        for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
            if (find_key(groups[i], keys[j]) == NULL)
                g_ptr_array_add(problems, g_strdup_printf(_("%s: [%s] %s: unknown key"), path,
                                                          groups[i], keys[j]));
        }
    }
    return g_steal_pointer(&problems);
}

gboolean
podvm_config_key_is_live(const char *group, const char *key)
{
    const KnownKey *known = find_key(group, key);

    return known != NULL && known->live;
}

/* Every "group\nkey" of @kf into @set. */
static void
add_keys(GHashTable *set, GKeyFile *kf)
{
    g_auto(GStrv) groups = kf != NULL ? g_key_file_get_groups(kf, NULL) : NULL;

    for (guint i = 0; groups != NULL && groups[i] != NULL; i++) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[i], NULL, NULL);

        for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
            g_hash_table_add(set, g_strdup_printf("%s\n%s", groups[i], keys[j]));
    }
}

static char *
raw_value(GKeyFile *kf, const char *group, const char *key)
{
    char *value = kf != NULL ? g_key_file_get_value(kf, group, key, NULL) : NULL;

    return value != NULL ? g_strstrip(value) : NULL;
}

static int
compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
podvm_config_restart_changes(const PodvmConfig *old, const PodvmConfig *fresh)
{
    g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) changes = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer entry;

    add_keys(set, old->key_file);
    add_keys(set, fresh->key_file);
    g_hash_table_iter_init(&iter, set);
    while (g_hash_table_iter_next(&iter, &entry, NULL)) {
        g_auto(GStrv) parts = g_strsplit(entry, "\n", 2);
        g_autofree char *before = raw_value(old->key_file, parts[0], parts[1]);
        g_autofree char *after = raw_value(fresh->key_file, parts[0], parts[1]);

        if (g_strcmp0(before, after) == 0 || podvm_config_key_is_live(parts[0], parts[1]) ||
            find_key(parts[0], parts[1]) == NULL)
            continue;
        g_ptr_array_add(changes, g_strdup_printf("[%s] %s", parts[0], parts[1]));
    }
    g_ptr_array_sort(changes, compare_strings);
    return g_steal_pointer(&changes);
}

#define SWAP(a, b)                   \
    do {                             \
        __typeof__(a) swap_tmp_ = a; \
        a = b;                       \
        b = swap_tmp_;               \
    } while (0)

void
podvm_config_apply_live(PodvmConfig *live, PodvmConfig *fresh)
{
    /* [daemon], [qemu]: read where they are used, by the pods */
    SWAP(live->restart_backoff_initial_ms, fresh->restart_backoff_initial_ms);
    SWAP(live->restart_backoff_max_ms, fresh->restart_backoff_max_ms);
    SWAP(live->qmp_connect_timeout_ms, fresh->qmp_connect_timeout_ms);
    SWAP(live->stop_quit_timeout_ms, fresh->stop_quit_timeout_ms);
    SWAP(live->detach_timeout_ms, fresh->detach_timeout_ms);
    /* [rest]: the REST front applies them (podvm_rest_front_apply_config) */
    SWAP(live->rest_listen, fresh->rest_listen);
    SWAP(live->rest_token_file, fresh->rest_token_file);
    SWAP(live->rest_read_only_token_file, fresh->rest_read_only_token_file);
    SWAP(live->rest_tls_cert, fresh->rest_tls_cert);
    SWAP(live->rest_tls_key, fresh->rest_tls_key);
    SWAP(live->rest_request_timeout_ms, fresh->rest_request_timeout_ms);
    SWAP(live->rest_max_client_queue, fresh->rest_max_client_queue);
    /* [qmp]: checked at every passthrough call */
    SWAP(live->qmp_passthrough, fresh->qmp_passthrough);
    /* [console]: the manager hands them to the running consoles */
    SWAP(live->console_log_max_bytes, fresh->console_log_max_bytes);
    SWAP(live->console_log_keep, fresh->console_log_keep);
    SWAP(live->console_max_rate, fresh->console_max_rate);
    /* [migration]: read when a migration starts */
    SWAP(live->migration_max_bandwidth, fresh->migration_max_bandwidth);
    SWAP(live->migration_initial_downtime_ms, fresh->migration_initial_downtime_ms);
    SWAP(live->migration_max_downtime_ms, fresh->migration_max_downtime_ms);
    SWAP(live->migration_no_progress_timeout_ms, fresh->migration_no_progress_timeout_ms);
    SWAP(live->migration_stall_passes, fresh->migration_stall_passes);
    SWAP(live->migration_max_parallel, fresh->migration_max_parallel);
    SWAP(live->migration_allow_postcopy, fresh->migration_allow_postcopy);
    SWAP(live->migration_auto_converge, fresh->migration_auto_converge);
    /* What the next reload compares with. */
    SWAP(live->key_file, fresh->key_file);
    SWAP(live->unknown_keys, fresh->unknown_keys);
}
