/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-config-private.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "podvm-build-config.h"
#include "podvm-config-defaults.h"
#include "podvm-error.h"
#include "podvm-qemu-argv.h"

#define CONTAINER_DISK_HELPER "podvm-unpack-container-disk"
/* Debian's containernetworking-plugins, then the upstream place. */
#define PODVM_DEFAULT_CNI_PLUGIN_DIRS "/usr/lib/cni;/opt/cni/bin"

/* Next to the running podvmd (a build tree), else where it is installed. */
static char *
default_container_disk_helper(void)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self != NULL ? g_path_get_dirname(self) : NULL;
    g_autofree char *beside =
        dir != NULL ? g_build_filename(dir, CONTAINER_DISK_HELPER, NULL) : NULL;

    if (beside != NULL && g_file_test(beside, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer(&beside);
    return g_build_filename(PODVM_LIBEXECDIR, CONTAINER_DISK_HELPER, NULL);
}

PodvmConfig *
podvm_config_new_defaults(void)
{
    PodvmConfig *config = g_new0(PodvmConfig, 1);

    config->state_dir = g_strdup(PODVM_DEFAULT_STATE_DIR);
    config->run_dir = g_strdup(PODVM_DEFAULT_RUN_DIR);
    config->qemu_binary = g_strdup("qemu-system-x86_64");
    config->accel_requested = PODVM_ACCEL_AUTO;
    config->host_cpus = podvm_host_cpu_count();
    config->qmp_connect_timeout_ms = 10000;
    config->stop_quit_timeout_ms = 5000;
    config->restart_backoff_initial_ms = 1000;
    config->restart_backoff_max_ms = 300000;
    config->rest_request_timeout_ms = 60000;
    config->rest_max_client_queue = 1024 * 1024;
    config->rest_console_ticket_s = 30;
    config->event_history = 1024;
    config->console_log_max_bytes = 2 * 1024 * 1024;
    config->console_log_keep = 1;
    config->console_max_rate = 1024 * 1024;
    config->spare_root_ports = PODVM_QEMU_SPARE_ROOT_PORTS;
    config->detach_timeout_ms = 30000;
    config->qemu_img = g_strdup("qemu-img");
    config->container_disk_helper = default_container_disk_helper();
    config->allowed_host_paths = g_new0(char *, 1);
    config->qmp_passthrough = PODVM_QMP_PASSTHROUGH_READ_ONLY;
    /* [sriov] */
    config->sriov_sysfs_root = g_strdup("/sys");
    config->sriov_dev_root = g_strdup("/dev");
    config->sriov_pools = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_sriov_pool_free);
    /* [network] */
    config->cni_config_dir = g_build_filename(PODVM_SYSCONFDIR, "podvm", "cni", NULL);
    config->cni_plugin_dirs = g_strsplit(PODVM_DEFAULT_CNI_PLUGIN_DIRS, ";", -1);
    config->cni_timeout_ms = 30000;
    podvm_config_migration_defaults(config);
    podvm_config_apps_defaults(config);
    podvm_config_images_defaults(config);
    podvm_config_web_defaults(config);
    return config;
}

void
podvm_config_free(PodvmConfig *config)
{
    if (config == NULL)
        return;
    g_free(config->config_file);
    g_clear_pointer(&config->key_file, g_key_file_unref);
    g_clear_pointer(&config->unknown_keys, g_ptr_array_unref);
    g_free(config->state_dir);
    g_free(config->run_dir);
    g_free(config->qemu_binary);
    g_free(config->accel_why);
    g_free(config->rest_listen);
    g_free(config->rest_token_file);
    g_free(config->rest_read_only_token_file);
    g_free(config->rest_tls_cert);
    g_free(config->rest_tls_key);
    g_free(config->qemu_img);
    g_free(config->container_disk_helper);
    g_free(config->pool_dir);
    g_free(config->cache_dir);
    g_strfreev(config->allowed_host_paths);
    g_strfreev(config->kernel_dirs);
    g_free(config->qemu_user);
    /* [sriov] */
    g_free(config->sriov_sysfs_root);
    g_free(config->sriov_dev_root);
    g_clear_pointer(&config->sriov_pools, g_ptr_array_unref);
    g_free(config->sriov_claim_dir);
    /* [network] */
    g_free(config->cni_config_dir);
    g_strfreev(config->cni_plugin_dirs);
    g_free(config->cni_ipam_dir);
    podvm_config_migration_clear(config);
    podvm_config_apps_clear(config);
    podvm_config_images_clear(config);
    podvm_config_web_clear(config);
    g_free(config);
}

static gboolean
read_uint(GKeyFile *kf, const char *group, const char *key, guint *out, GError **error)
{
    g_autoptr(GError) local = NULL;
    gint64 value;

    if (!g_key_file_has_key(kf, group, key, NULL))
        return TRUE;
    value = g_key_file_get_int64(kf, group, key, &local);
    if (local != NULL || value < 0 || value > G_MAXINT) {
        if (g_str_has_suffix(key, "_ms"))
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("[%s] %s: expected a whole number of milliseconds"), group, key);
        else
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("[%s] %s: expected a whole number"), group, key);
        return FALSE;
    }
    *out = (guint)value;
    return TRUE;
}

static void
read_string(GKeyFile *kf, const char *group, const char *key, char **inout)
{
    g_autofree char *value = g_key_file_get_string(kf, group, key, NULL);

    if (value != NULL && *g_strstrip(value) != '\0') {
        g_free(*inout);
        *inout = g_steal_pointer(&value);
    }
}

/* A ';'-separated list of absolute directories, canonicalized; empty entries dropped. */
static gboolean
read_dirs(GKeyFile *kf, const char *file, const char *group, const char *key, GStrv *inout,
          GError **error)
{
    g_auto(GStrv) paths = NULL;
    g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(g_free);

    if (!g_key_file_has_key(kf, group, key, NULL))
        return TRUE;
    paths = g_key_file_get_string_list(kf, group, key, NULL, NULL);
    for (guint i = 0; paths != NULL && paths[i] != NULL; i++) {
        char *dir = g_strstrip(paths[i]);
        if (*dir == '\0')
            continue;
        if (!g_path_is_absolute(dir)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [%s] %s: '%s' is not an absolute path"), file, group, key, dir);
            return FALSE;
        }
        g_ptr_array_add(kept, g_canonicalize_filename(dir, NULL));
    }
    g_ptr_array_add(kept, NULL);
    g_strfreev(*inout);
    *inout = (GStrv)g_ptr_array_free(g_steal_pointer(&kept), FALSE);
    return TRUE;
}

/* [network]: where CNI configuration, plugins and IPAM state are, and the plugins' timeout. */
static gboolean
read_network(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error)
{
    g_autofree char *config_dir = NULL;
    g_autofree char *ipam_dir = NULL;

    if (!read_dirs(kf, path, "network", "cni_plugin_dirs", &config->cni_plugin_dirs, error))
        return FALSE;
    for (guint i = 0; config->cni_plugin_dirs[i] != NULL; i++) {
        /* CNI_PATH is ':'-separated. */
        if (strchr(config->cni_plugin_dirs[i], ':') != NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [network] cni_plugin_dirs: '%s' holds a ':'"), path,
                        config->cni_plugin_dirs[i]);
            return FALSE;
        }
    }
    read_string(kf, "network", "cni_config_dir", &config_dir);
    read_string(kf, "network", "cni_ipam_dir", &ipam_dir);
    if ((config_dir != NULL && !g_path_is_absolute(config_dir)) ||
        (ipam_dir != NULL && !g_path_is_absolute(ipam_dir))) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [network] cni_config_dir and cni_ipam_dir must be absolute paths"),
                    path);
        return FALSE;
    }
    if (config_dir != NULL) {
        g_free(config->cni_config_dir);
        config->cni_config_dir = g_canonicalize_filename(config_dir, NULL);
    }
    if (ipam_dir != NULL) {
        g_free(config->cni_ipam_dir);
        config->cni_ipam_dir = g_canonicalize_filename(ipam_dir, NULL);
    }
    if (!read_uint(kf, "network", "cni_timeout_ms", &config->cni_timeout_ms, error)) {
        g_prefix_error(error, "%s: ", path);
        return FALSE;
    }
    if (config->cni_timeout_ms < 100 || config->cni_timeout_ms > 3600000) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [network] cni_timeout_ms: from 100 to 3600000"), path);
        return FALSE;
    }
    return TRUE;
}

void
podvm_config_cni_settings(const PodvmConfig *config, PodvmCniSettings *out)
{
    out->config_dir = g_strdup(config->cni_config_dir);
    out->plugin_dirs = g_strdupv(config->cni_plugin_dirs);
    out->ipam_dir = config->cni_ipam_dir != NULL
                        ? g_strdup(config->cni_ipam_dir)
                        : g_build_filename(config->state_dir, "cni", "networks", NULL);
    out->timeout_ms = config->cni_timeout_ms;
}

GStrv
podvm_config_kernel_roots(const PodvmConfig *config)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

    if (config->kernel_dirs != NULL)
        g_strv_builder_addv(builder, (const char **)config->kernel_dirs);
    if (config->allowed_host_paths != NULL)
        g_strv_builder_addv(builder, (const char **)config->allowed_host_paths);
    return g_strv_builder_end(builder);
}

/* ---- [sriov] and [sriov-pool NAME] ---- */

#define SRIOV_POOL_PREFIX "sriov-pool "

const PodvmSriovPool *
podvm_config_find_sriov_pool(const PodvmConfig *config, const char *name)
{
    for (guint i = 0; name != NULL && i < config->sriov_pools->len; i++) {
        const PodvmSriovPool *pool = g_ptr_array_index(config->sriov_pools, i);

        if (strcmp(pool->name, name) == 0)
            return pool;
    }
    return NULL;
}

/*
 * [sriov] sysfs_root= and dev_root= (absolute directories: where sysfs and
 * the vfio group devices are, "/sys" and "/dev"; tests point them at fake trees) and each
 * [sriov-pool NAME] group's physical_functions=PF;PF. A later file's pool of the same name replaces
 * the earlier one; within one file GKeyFile merges the groups.
 */
static gboolean
read_sriov(GKeyFile *kf, const char *path, PodvmConfig *config, GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    g_autofree char *root = g_key_file_get_string(kf, "sriov", "sysfs_root", NULL);
    g_autofree char *dev_root = g_key_file_get_string(kf, "sriov", "dev_root", NULL);

    if (root != NULL && *g_strstrip(root) != '\0') {
        if (!g_path_is_absolute(root)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [sriov] sysfs_root: '%s' is not an absolute path"), path, root);
            return FALSE;
        }
        g_free(config->sriov_sysfs_root);
        config->sriov_sysfs_root = g_canonicalize_filename(root, NULL);
    }
    if (dev_root != NULL && *g_strstrip(dev_root) != '\0') {
        if (!g_path_is_absolute(dev_root)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("%s: [sriov] dev_root: '%s' is not an absolute path"), path, dev_root);
            return FALSE;
        }
        g_free(config->sriov_dev_root);
        config->sriov_dev_root = g_canonicalize_filename(dev_root, NULL);
    }
    for (guint i = 0; groups[i] != NULL; i++) {
        g_auto(GStrv) pfs = NULL;
        g_autoptr(GStrvBuilder) kept = g_strv_builder_new();
        g_auto(GStrv) list = NULL;
        g_autoptr(PodvmSriovPool) pool = NULL;
        const char *name;

        if (!g_str_has_prefix(groups[i], SRIOV_POOL_PREFIX))
            continue;
        name = groups[i] + strlen(SRIOV_POOL_PREFIX);
        pfs = g_key_file_get_string_list(kf, groups[i], "physical_functions", NULL, NULL);
        for (guint j = 0; pfs != NULL && pfs[j] != NULL; j++) {
            if (*g_strstrip(pfs[j]) != '\0')
                g_strv_builder_add(kept, pfs[j]);
        }
        list = g_strv_builder_end(kept);
        pool = podvm_sriov_pool_new(name, (const char *const *)list, error);
        if (pool == NULL) {
            g_prefix_error(error, "%s: [%s]: ", path, groups[i]);
            return FALSE;
        }
        /* A later file's pool of the same name replaces it. */
        g_ptr_array_remove(config->sriov_pools,
                           (gpointer)podvm_config_find_sriov_pool(config, pool->name));
        g_ptr_array_add(config->sriov_pools, g_steal_pointer(&pool));
    }
    return TRUE;
}

gboolean
podvm_config_load_file(PodvmConfig *config, const char *path, gboolean must_exist, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autofree char *accel = NULL;
    g_autofree char *passthrough = NULL;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
        if (!must_exist && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("cannot read configuration '%s': %s"), path, local->message);
        return FALSE;
    }
    g_free(config->config_file);
    config->config_file = g_strdup(path);
    g_clear_pointer(&config->key_file, g_key_file_unref);
    config->key_file = g_key_file_ref(kf);
    g_clear_pointer(&config->unknown_keys, g_ptr_array_unref);
    config->unknown_keys = podvm_config_unknown_keys(kf, path);

    read_string(kf, "daemon", "state_dir", &config->state_dir);
    read_string(kf, "daemon", "run_dir", &config->run_dir);
    read_string(kf, "qemu", "qemu", &config->qemu_binary);
    read_string(kf, "rest", "listen", &config->rest_listen);
    read_string(kf, "rest", "token_file", &config->rest_token_file);
    read_string(kf, "rest", "read_only_token_file", &config->rest_read_only_token_file);
    read_string(kf, "rest", "tls_cert", &config->rest_tls_cert);
    read_string(kf, "rest", "tls_key", &config->rest_tls_key);
    if ((config->rest_tls_cert == NULL) != (config->rest_tls_key == NULL)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [rest] tls_cert and tls_key go together"), path);
        return FALSE;
    }
    read_string(kf, "storage", "qemu_img", &config->qemu_img);
    read_string(kf, "storage", "container_disk_helper", &config->container_disk_helper);
    read_string(kf, "storage", "pool_dir", &config->pool_dir);
    read_string(kf, "storage", "cache_dir", &config->cache_dir);
    if (!read_dirs(kf, path, "storage", "allowed_host_paths", &config->allowed_host_paths, error) ||
        !read_dirs(kf, path, "qemu", "kernel_dirs", &config->kernel_dirs, error))
        return FALSE;
    read_string(kf, "qemu", "qemu_user", &config->qemu_user);
    if (!read_network(kf, path, config, error))
        return FALSE;
    accel = g_key_file_get_string(kf, "qemu", "accel", NULL);
    if (accel != NULL) {
        if (!podvm_accel_from_string(g_strstrip(accel), &config->accel_requested, error)) {
            g_prefix_error(error, "%s: [qemu] accel: ", path);
            return FALSE;
        }
    }
    passthrough = g_key_file_get_string(kf, "qmp", "passthrough", NULL);
    if (passthrough != NULL && !podvm_qmp_passthrough_from_string(
                                   g_strstrip(passthrough), &config->qmp_passthrough, error)) {
        g_prefix_error(error, "%s: [qmp] passthrough: ", path);
        return FALSE;
    }
    if (!read_uint(kf, "qemu", "qmp_connect_timeout_ms", &config->qmp_connect_timeout_ms, error) ||
        !read_uint(kf, "qemu", "stop_quit_timeout_ms", &config->stop_quit_timeout_ms, error) ||
        !read_uint(kf, "daemon", "restart_backoff_initial_ms", &config->restart_backoff_initial_ms,
                   error) ||
        !read_uint(kf, "daemon", "restart_backoff_max_ms", &config->restart_backoff_max_ms,
                   error) ||
        !read_uint(kf, "daemon", "event_history", &config->event_history, error) ||
        !read_uint(kf, "rest", "request_timeout_ms", &config->rest_request_timeout_ms, error) ||
        !read_uint(kf, "rest", "max_client_queue", &config->rest_max_client_queue, error) ||
        !read_uint(kf, "rest", "console_ticket_seconds", &config->rest_console_ticket_s, error) ||
        !read_uint(kf, "qemu", "detach_timeout_ms", &config->detach_timeout_ms, error) ||
        !read_uint(kf, "qemu", "spare_root_ports", &config->spare_root_ports, error)) {
        g_prefix_error(error, "%s: ", path);
        return FALSE;
    }
    {
        guint max_bytes = (guint)MIN(config->console_log_max_bytes, G_MAXUINT);

        if (!read_uint(kf, "console", "log_max_bytes", &max_bytes, error) ||
            !read_uint(kf, "console", "log_keep", &config->console_log_keep, error) ||
            !read_uint(kf, "console", "max_rate", &config->console_max_rate, error)) {
            g_prefix_error(error, "%s: ", path);
            return FALSE;
        }
        config->console_log_max_bytes = max_bytes;
    }
    if (config->console_log_max_bytes < 4096 || config->console_log_keep < 1 ||
        config->console_log_keep > 9 || config->console_max_rate < 1024) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [console] log_max_bytes must be at least 4096, log_keep from 1 to 9, "
                      "max_rate at least 1024"),
                    path);
        return FALSE;
    }
    if (config->rest_console_ticket_s < 1 || config->rest_console_ticket_s > 3600) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [rest] console_ticket_seconds: from 1 to 3600"), path);
        return FALSE;
    }
    if (config->event_history > 100000) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [daemon] event_history: at most %u events"), path, 100000);
        return FALSE;
    }
    if (config->rest_max_client_queue < 4096) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [rest] max_client_queue: at least %u bytes"), path, 4096);
        return FALSE;
    }
    if (config->spare_root_ports > PODVM_QEMU_MAX_SPARE_ROOT_PORTS) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s: [qemu] spare_root_ports: at most %u"), path,
                    PODVM_QEMU_MAX_SPARE_ROOT_PORTS);
        return FALSE;
    }
    /* [sriov] */
    if (!read_sriov(kf, path, config, error))
        return FALSE;
    /* [migration], [peer NAME], [storage] shared_paths */
    if (!podvm_config_read_migration(kf, path, config, error))
        return FALSE;
    /* [apps] */
    if (!podvm_config_read_images(kf, path, config, error))
        return FALSE;
    if (!podvm_config_read_apps(kf, path, config, error))
        return FALSE;
    /* [web] */
    if (!podvm_config_read_web(kf, path, config, error))
        return FALSE;
    return TRUE;
}

/* The token in @file, the value of [rest] @key: its content without surrounding whitespace. */
static char *
read_rest_token_file(const char *key, const char *file, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL;
    gsize length = 0;

    if (!g_file_get_contents(file, &text, &length, &local)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("[rest] %s: cannot read the token: %s"), key, local->message);
        return NULL;
    }
    if (memchr(text, '\0', length) != NULL || *g_strstrip(text) == '\0') {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("[rest] %s '%s' holds no token"), key, file);
        explicit_bzero(text, length);
        return NULL;
    }
    return g_steal_pointer(&text);
}

char *
podvm_config_read_rest_token(const PodvmConfig *config, GError **error)
{
    if (config->rest_token_file == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("[rest] listen is set but token_file is not: the TCP listener needs a "
                      "bearer token"));
        return NULL;
    }
    return read_rest_token_file("token_file", config->rest_token_file, error);
}

char *
podvm_config_read_rest_reader_token(const PodvmConfig *config, const char *admin_token,
                                    GError **error)
{
    g_autofree char *token = NULL;

    if (config->rest_read_only_token_file == NULL)
        return NULL;
    token = read_rest_token_file("read_only_token_file", config->rest_read_only_token_file, error);
    if (token == NULL)
        return NULL;
    if (admin_token != NULL && g_str_equal(token, admin_token)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("[rest] read_only_token_file '%s' holds the token of token_file: a reader "
                      "would be an admin; give readers a token of their own"),
                    config->rest_read_only_token_file);
        explicit_bzero(token, strlen(token));
        return NULL;
    }
    return g_steal_pointer(&token);
}

static gboolean
make_dir(const char *path, int mode, GError **error)
{
    if (g_mkdir_with_parents(path, mode) != 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create directory '%s': %s"), path,
                    g_strerror(saved));
        return FALSE;
    }
    if (g_chmod(path, mode) != 0) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot set the mode of '%s': %s"), path,
                    g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}

/*
 * Who QEMU runs as. podvmd as root: [qemu] qemu_user (root keeps root); a
 * configured user that does not exist stops podvmd, as libvirt does; the
 * default one missing is logged and QEMU keeps podvmd's user. podvmd not
 * root: QEMU runs as podvmd's user, nothing to drop.
 */
static gboolean
resolve_qemu_user(PodvmConfig *config, GError **error)
{
    const char *name = config->qemu_user != NULL ? config->qemu_user : PODVM_DEFAULT_QEMU_USER;
    struct passwd *pw;

    config->qemu_drop_privileges = FALSE;
    if (geteuid() != 0) {
        g_debug("podvmd is not root: QEMU runs as uid %u", (guint)geteuid());
        return TRUE;
    }
    if (g_strcmp0(name, "root") == 0) {
        g_message("QEMU runs as root ([qemu] qemu_user=root)");
        return TRUE;
    }
    errno = 0;
    pw = getpwnam(name);
    if (pw == NULL) {
        if (config->qemu_user != NULL) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("[qemu] qemu_user: there is no user '%s'; create it (tools/setup.sh "
                          "makes %s) or name another"),
                        name, PODVM_DEFAULT_QEMU_USER);
            return FALSE;
        }
        g_message("user %s does not exist, so QEMU runs as root: create it with "
                  "systemd-sysusers (systemd/podvm.sysusers) or tools/setup.sh",
                  PODVM_DEFAULT_QEMU_USER);
        return TRUE;
    }
    if (pw->pw_uid == 0) {
        g_message("[qemu] qemu_user '%s' is uid 0: QEMU runs as root", name);
        return TRUE;
    }
    config->qemu_drop_privileges = TRUE;
    config->qemu_uid = (guint)pw->pw_uid;
    config->qemu_gid = (guint)pw->pw_gid;
    g_message("QEMU runs as %s (uid %u, gid %u), without supplementary groups", name,
              config->qemu_uid, config->qemu_gid);
    return TRUE;
}

gboolean
podvm_config_finish(PodvmConfig *config, GError **error)
{
    g_autofree char *state_pods = NULL;
    g_autofree char *run_pods = NULL;

    if (!g_path_is_absolute(config->state_dir)) {
        g_autofree char *cwd = g_get_current_dir();
        char *abs = g_canonicalize_filename(config->state_dir, cwd);
        g_free(config->state_dir);
        config->state_dir = abs;
    }
    if (!g_path_is_absolute(config->run_dir)) {
        g_autofree char *cwd = g_get_current_dir();
        char *abs = g_canonicalize_filename(config->run_dir, cwd);
        g_free(config->run_dir);
        config->run_dir = abs;
    }

    if (config->pool_dir == NULL)
        config->pool_dir = g_build_filename(config->state_dir, "volumes", NULL);
    if (config->cache_dir == NULL)
        config->cache_dir = g_build_filename(config->state_dir, "cache", NULL);
    if (config->cni_ipam_dir == NULL)
        config->cni_ipam_dir = g_build_filename(config->state_dir, "cni", "networks", NULL);
    podvm_config_images_finish(config);
    if (config->kernel_dirs == NULL) {
        config->kernel_dirs = g_new0(char *, 2);
        config->kernel_dirs[0] = g_build_filename(config->state_dir, "kernels", NULL);
    }
    /* [sriov] */
    g_free(config->sriov_claim_dir);
    config->sriov_claim_dir = g_build_filename(config->run_dir, "sriov", NULL);

    if (!resolve_qemu_user(config, error))
        return FALSE;
    g_clear_pointer(&config->accel_why, g_free);
    if (config->accel_requested == PODVM_ACCEL_AUTO) {
        config->accel = podvm_accel_detect("/dev/kvm", "/proc/cpuinfo", &config->accel_why);
    } else {
        config->accel = config->accel_requested;
        config->accel_why = g_strdup_printf("using %s: set by the configuration",
                                            podvm_accel_to_string(config->accel));
    }

    state_pods = g_build_filename(config->state_dir, "pods", NULL);
    run_pods = g_build_filename(config->run_dir, "pods", NULL);
    /*
     * State and the pods' QMP/console sockets are root's alone (0700). The
     * run directory itself is 0750 with group podvm where it exists, so the
     * group can reach the REST socket (0660) in it, and nothing deeper.
     */
    if (!make_dir(config->state_dir, 0700, error) || !make_dir(state_pods, 0700, error) ||
        !make_dir(config->run_dir, 0750, error) || !make_dir(run_pods, 0700, error) ||
        !make_dir(config->cache_dir, 0700, error))
        return FALSE;
    {
        struct group *podvm_group = getgrnam("podvm");
        if (podvm_group != NULL && chown(config->run_dir, (uid_t)-1, podvm_group->gr_gid) != 0)
            g_message("cannot give %s to group podvm: %s", config->run_dir, g_strerror(errno));
    }
    return TRUE;
}
