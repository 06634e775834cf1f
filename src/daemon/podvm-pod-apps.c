/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App pods: a pod with spec.apps and neither a kernel nor disks of its own
 * boots podvm's app guest, which runs the apps' images (docs/pod-format.md,
 * "spec.apps[]").
 *
 * Before the spawn, each app's image is pulled into the image store (a
 * registry reference) or read from its local layout (oci:), and its root
 * filesystem found in the cache or built by the helper; the rootfs images
 * are opened here and go to QEMU as fds, one read-only virtio disk each
 * (serial app0, app1, ...). podvmd binds the channel's socket (like the
 * monitor's), connects after the spawn and again after its own restart,
 * and sends the configuration on the guest's hello; the guest reports each
 * app's start and end, which make status.apps and, once QEMU is gone, the
 * pod's phase.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-app-channel.h"
#include "podvm-app-rootfs.h"
#include "podvm-error.h"
#include "podvm-image-ref.h"
#include "podvm-image-store.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"

struct _PodApps {
    JsonArray *status;           /* status.apps: one object per app, spec order */
    PodvmAppChannel *channel;    /* while connected to the guest */
    PodvmAppGuestConfig *config; /* what the guest gets on hello; NULL after a podvmd restart */
    GPtrArray *rootfs;           /* PodvmAppRootfs*, while a start prepares them */
    GArray *disk_fds;            /* int: the rootfs images opened for QEMU, until the spawn */
    char *socket_path;           /* RUN_DIR/pods/NAME/app.sock */
    gboolean halted;             /* the guest said every app ended */
    GCancellable *preparing;     /* while a start pulls and unpacks */
    PodAppsDone done;            /* where the start goes on after the preparation */
};

static PodApps *
apps_of(PodvmPod *self)
{
    if (self->apps == NULL) {
        self->apps = g_new0(PodApps, 1);
        self->apps->socket_path = g_build_filename(self->run_dir, "app.sock", NULL);
    }
    return self->apps;
}

static void
close_disk_fds(PodApps *apps)
{
    for (guint i = 0; apps->disk_fds != NULL && i < apps->disk_fds->len; i++) {
        int fd = g_array_index(apps->disk_fds, int, i);

        if (fd >= 0)
            close(fd);
    }
    g_clear_pointer(&apps->disk_fds, g_array_unref);
}

void
pod_apps_drop_channel(PodvmPod *self)
{
    PodApps *apps = self->apps;

    if (apps == NULL || apps->channel == NULL)
        return;
    g_signal_handlers_disconnect_by_data(apps->channel, self);
    podvm_app_channel_close(apps->channel);
    g_clear_object(&apps->channel);
}

void
pod_apps_free(PodvmPod *self)
{
    PodApps *apps = self->apps;

    if (apps == NULL)
        return;
    pod_apps_drop_channel(self);
    g_clear_pointer(&apps->status, json_array_unref);
    g_clear_pointer(&apps->config, podvm_app_guest_config_free);
    g_clear_pointer(&apps->rootfs, g_ptr_array_unref);
    close_disk_fds(apps);
    if (apps->preparing != NULL)
        g_cancellable_cancel(apps->preparing);
    g_clear_object(&apps->preparing);
    g_free(apps->socket_path);
    g_free(apps);
    self->apps = NULL;
}

/* ---- status.apps ------------------------------------------------------------------------ */

static char *
now_text(void)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    return g_date_time_format_iso8601(now);
}

static JsonObject *
app_status(PodvmPod *self, const char *name)
{
    PodApps *apps = self->apps;

    for (guint i = 0;
         apps != NULL && apps->status != NULL && i < json_array_get_length(apps->status); i++) {
        JsonObject *entry = json_array_get_object_element(apps->status, i);

        if (g_strcmp0(json_object_get_string_member_with_default(entry, "name", NULL), name) == 0)
            return entry;
    }
    return NULL;
}

/* Every app Waiting, with its image as the spec gives it: a start begins. */
static void
status_reset(PodvmPod *self)
{
    PodApps *apps = apps_of(self);

    g_clear_pointer(&apps->status, json_array_unref);
    apps->status = json_array_new();
    apps->halted = FALSE;
    for (guint i = 0; i < self->spec->apps->len; i++) {
        const PodvmSpecApp *app = g_ptr_array_index(self->spec->apps, i);
        JsonObject *entry = json_object_new();

        json_object_set_string_member(entry, "name", app->name);
        json_object_set_string_member(entry, "image", app->image);
        json_object_set_string_member(entry, "state", "Waiting");
        json_array_add_object_element(apps->status, entry);
    }
}

static void
status_changed(PodvmPod *self)
{
    pod_save_or_log(self, PODVM_STORE_DURABLE);
    pod_emit_changed(self);
}

void
pod_apps_add_status(PodvmPod *self, JsonBuilder *builder)
{
    if (self->apps == NULL || self->apps->status == NULL)
        return;
    json_builder_set_member_name(builder, "apps");
    json_builder_add_value(builder, json_node_init_array(json_node_alloc(), self->apps->status));
}

void
pod_apps_load_status(PodvmPod *self, JsonObject *status)
{
    JsonNode *node = status != NULL ? json_object_get_member(status, "apps") : NULL;
    JsonArray *array;
    PodApps *apps;

    if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
        return;
    array = json_node_get_array(node);
    apps = apps_of(self);
    g_clear_pointer(&apps->status, json_array_unref);
    apps->status = json_array_new();
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);

        if (JSON_NODE_HOLDS_OBJECT(element))
            json_array_add_element(apps->status, json_node_copy(element));
    }
}

/* ---- the phase the apps give ------------------------------------------------------------ */

gboolean
pod_apps_exit_phase(PodvmPod *self, PodvmPhase *out_phase, const char **out_reason,
                    char **out_message)
{
    PodApps *apps = self->apps;
    guint n;

    if (apps == NULL || apps->status == NULL || !podvm_spec_uses_app_guest(self->spec))
        return FALSE;
    n = json_array_get_length(apps->status);
    /* Every app ended (the guest says halt once they have): the apps' result is the pod's. */
    for (guint i = 0; i < n; i++) {
        JsonObject *entry = json_array_get_object_element(apps->status, i);

        /* Without an exit code the guest never said how it ended (QEMU died first). */
        if (g_strcmp0(json_object_get_string_member_with_default(entry, "state", ""), "Exited") !=
                0 ||
            !json_object_has_member(entry, "exitCode"))
            return FALSE;
    }
    if (n == 0)
        return FALSE;
    for (guint i = 0; i < n; i++) {
        JsonObject *entry = json_array_get_object_element(apps->status, i);
        const char *name = json_object_get_string_member_with_default(entry, "name", "");
        gint64 code = json_object_get_int_member_with_default(entry, "exitCode", 0);
        gint64 sig = json_object_get_int_member_with_default(entry, "signal", 0);

        if (sig != 0) {
            *out_phase = PODVM_PHASE_FAILED;
            *out_reason = "AppFailed";
            *out_message = g_strdup_printf(_("app %s was killed by signal %d"), name, (int)sig);
            return TRUE;
        }
        if (code != 0) {
            *out_phase = PODVM_PHASE_FAILED;
            *out_reason = "AppFailed";
            *out_message = g_strdup_printf(_("app %s exited with code %d"), name, (int)code);
            return TRUE;
        }
    }
    *out_phase = PODVM_PHASE_SUCCEEDED;
    *out_reason = "AppsCompleted";
    *out_message = g_strdup(_("every app exited with code 0"));
    return TRUE;
}

/* ---- the channel -------------------------------------------------------------------------- */

static void
channel_app_started_cb(PodvmAppChannel *channel, const char *app, gint pid, gpointer user_data)
{
    PodvmPod *self = user_data;
    JsonObject *entry = app_status(self, app);
    g_autofree char *now = now_text();

    if (entry == NULL)
        return;
    /* A guest that reports again after a reconnect: the app runs since it first said so. */
    if (g_strcmp0(json_object_get_string_member_with_default(entry, "state", ""), "Running") == 0 &&
        json_object_get_int_member_with_default(entry, "pid", 0) == pid)
        return;
    json_object_set_string_member(entry, "state", "Running");
    json_object_set_int_member(entry, "pid", pid);
    json_object_set_string_member(entry, "startedAt", now);
    json_object_remove_member(entry, "exitCode");
    json_object_remove_member(entry, "signal");
    json_object_remove_member(entry, "finishedAt");
    json_object_remove_member(entry, "message");
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': app %s started (pid %d in the guest)",
            self->spec->name, app, pid);
    status_changed(self);
}

static void
app_ended(PodvmPod *self, const char *app, int code, int sig, const char *message)
{
    JsonObject *entry = app_status(self, app);
    g_autofree char *now = now_text();

    if (entry == NULL)
        return;
    if (g_strcmp0(json_object_get_string_member_with_default(entry, "state", ""), "Exited") == 0 &&
        json_object_get_int_member_with_default(entry, "exitCode", -1) == code &&
        json_object_get_int_member_with_default(entry, "signal", 0) == sig)
        return; /* reported again after a reconnect */
    json_object_set_string_member(entry, "state", "Exited");
    json_object_remove_member(entry, "pid");
    json_object_remove_member(entry, "signal");
    if (sig != 0) {
        json_object_set_int_member(entry, "signal", sig);
        json_object_set_int_member(entry, "exitCode", 128 + sig);
    } else {
        json_object_set_int_member(entry, "exitCode", code);
    }
    json_object_set_string_member(entry, "finishedAt", now);
    if (message != NULL)
        json_object_set_string_member(entry, "message", message);
    status_changed(self);
}

static void
channel_app_exited_cb(PodvmAppChannel *channel, const char *app, gint code, gint sig,
                      gpointer user_data)
{
    PodvmPod *self = user_data;

    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': app %s %s %d", self->spec->name, app,
            sig != 0 ? "was killed by signal" : "exited with code", sig != 0 ? sig : code);
    app_ended(self, app, code, sig, NULL);
}

static void
channel_app_failed_cb(PodvmAppChannel *channel, const char *app, const char *message,
                      gpointer user_data)
{
    PodvmPod *self = user_data;

    pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': app %s could not start: %s", self->spec->name,
            app, message);
    /* 127: not found (disk, executable); the init says which in the message. */
    app_ended(self, app, 127, 0, message);
}

static void
channel_halted_cb(PodvmAppChannel *channel, gpointer user_data)
{
    PodvmPod *self = user_data;

    if (self->apps != NULL)
        self->apps->halted = TRUE;
    pod_step(self, "every app ended; the app guest powers off");
}

static void
channel_log_cb(PodvmAppChannel *channel, const char *message, gpointer user_data)
{
    PodvmPod *self = user_data;

    pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': app guest: %s", self->spec->name, message);
}

static void
channel_closed_cb(PodvmAppChannel *channel, const GError *error, gpointer user_data)
{
    PodvmPod *self = user_data;

    if (error != NULL)
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': the app guest's channel closed: %s",
                self->spec->name, error->message);
    pod_apps_drop_channel(self);
}

static void add_nics(PodvmPod *self, PodvmAppGuestConfig *config);

/* The configuration of a guest that already runs its apps (a reconnect): it ignores it. */
static PodvmAppGuestConfig *
minimal_config(PodvmPod *self)
{
    PodvmAppGuestConfig *config = podvm_app_guest_config_new();

    config->hostname =
        g_strdup(self->spec->hostname != NULL ? self->spec->hostname : self->spec->name);
    return config;
}

gboolean
pod_apps_connect(PodvmPod *self, GError **error)
{
    PodApps *apps;
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GSocketAddress) address = NULL;
    g_autoptr(GSocketConnection) connection = NULL;
    g_autoptr(PodvmAppGuestConfig) fallback = NULL;

    if (!podvm_spec_uses_app_guest(self->spec))
        return TRUE;
    apps = apps_of(self);
    pod_apps_drop_channel(self);
    socket =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
    if (socket == NULL)
        return FALSE;
    /* QEMU listens (podvmd bound the socket before the spawn): the connect does not wait. */
    g_socket_set_blocking(socket, FALSE);
    address = g_unix_socket_address_new(apps->socket_path);
    if (!g_socket_connect(socket, address, NULL, error)) {
        g_prefix_error(error, _("cannot connect to the app guest's channel '%s': "),
                       apps->socket_path);
        return FALSE;
    }
    connection = g_socket_connection_factory_create_connection(socket);
    /* The network is set up by now: the guest's addresses are known. */
    if (apps->config != NULL && apps->config->nics->len == 0)
        add_nics(self, apps->config);
    if (apps->config == NULL)
        fallback = minimal_config(self);
    apps->channel = podvm_app_channel_new(G_IO_STREAM(connection),
                                          apps->config != NULL ? apps->config : fallback);
    g_signal_connect(apps->channel, "app-started", G_CALLBACK(channel_app_started_cb), self);
    g_signal_connect(apps->channel, "app-exited", G_CALLBACK(channel_app_exited_cb), self);
    g_signal_connect(apps->channel, "app-failed", G_CALLBACK(channel_app_failed_cb), self);
    g_signal_connect(apps->channel, "halted", G_CALLBACK(channel_halted_cb), self);
    g_signal_connect(apps->channel, "log", G_CALLBACK(channel_log_cb), self);
    g_signal_connect(apps->channel, "closed", G_CALLBACK(channel_closed_cb), self);
    return TRUE;
}

void
pod_apps_release(PodvmPod *self)
{
    if (self->apps == NULL)
        return;
    pod_apps_drop_channel(self);
    close_disk_fds(self->apps);
    g_clear_pointer(&self->apps->rootfs, g_ptr_array_unref);
    (void)g_unlink(self->apps->socket_path);
    /* An app the guest never reported ended (QEMU died, killed): it is not running any more. */
    for (guint i = 0; self->apps->status != NULL && i < json_array_get_length(self->apps->status);
         i++) {
        JsonObject *entry = json_array_get_object_element(self->apps->status, i);

        if (g_strcmp0(json_object_get_string_member_with_default(entry, "state", ""), "Running") ==
            0) {
            g_autofree char *now = now_text();

            json_object_set_string_member(entry, "state", "Exited");
            json_object_remove_member(entry, "pid");
            json_object_set_string_member(entry, "finishedAt", now);
            json_object_set_string_member(entry, "message", _("the app guest ended"));
        }
    }
}

/* ---- what each app runs ------------------------------------------------------------------- */

static void
env_set(GPtrArray *env, const char *name, const char *value)
{
    gsize len = strlen(name);

    for (guint i = 0; i < env->len; i++) {
        const char *item = g_ptr_array_index(env, i);

        if (strncmp(item, name, len) == 0 && item[len] == '=') {
            g_ptr_array_remove_index(env, i);
            break;
        }
    }
    g_ptr_array_add(env, g_strconcat(name, "=", value, NULL));
}

static GStrv
strv_of(GPtrArray *array)
{
    g_ptr_array_add(array, NULL);
    return (GStrv)g_ptr_array_free(array, FALSE);
}

/*
 * Kubernetes' rules: command replaces the image's Entrypoint (and its Cmd
 * is then not used), args replace its Cmd; env is the image's, then the
 * spec's (a name given again wins); workingDir: the spec's, the image's, /.
 */
PodvmAppGuestApp *
pod_apps_resolve(const PodvmSpecApp *app, const PodvmAppRootfs *rootfs, const char *disk_serial,
                 GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    const char *const *first = app->command != NULL ? (const char *const *)app->command
                                                    : (const char *const *)rootfs->entrypoint;
    const char *const *rest = app->args != NULL      ? (const char *const *)app->args
                              : app->command != NULL ? NULL
                                                     : (const char *const *)rootfs->cmd;
    PodvmAppGuestApp *resolved;

    for (guint i = 0; first != NULL && first[i] != NULL; i++)
        g_ptr_array_add(argv, g_strdup(first[i]));
    for (guint i = 0; rest != NULL && rest[i] != NULL; i++)
        g_ptr_array_add(argv, g_strdup(rest[i]));
    if (argv->len == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("app %s: image %s gives no command (no Entrypoint or Cmd) and the spec gives "
                      "none (command, args)"),
                    app->name, app->image);
        return NULL;
    }
    for (guint i = 0; rootfs->env != NULL && rootfs->env[i] != NULL; i++) {
        const char *eq = strchr(rootfs->env[i], '=');
        g_autofree char *name = eq != NULL ? g_strndup(rootfs->env[i], eq - rootfs->env[i]) : NULL;

        if (name != NULL && *name != '\0')
            env_set(env, name, eq + 1);
    }
    for (guint i = 0; i < app->env->len; i++) {
        const PodvmSpecEnvVar *var = g_ptr_array_index(app->env, i);

        env_set(env, var->name, var->value);
    }
    resolved = g_new0(PodvmAppGuestApp, 1);
    resolved->name = g_strdup(app->name);
    resolved->disk_serial = g_strdup(disk_serial);
    resolved->argv = strv_of(g_steal_pointer(&argv));
    resolved->env = strv_of(g_steal_pointer(&env));
    resolved->working_dir =
        g_strdup(app->working_dir != NULL                              ? app->working_dir
                 : rootfs->working_dir != NULL && *rootfs->working_dir ? rootfs->working_dir
                                                                       : "/");
    resolved->user = rootfs->user != NULL && *rootfs->user != '\0' ? g_strdup(rootfs->user) : NULL;
    return resolved;
}

/* `net` lines: the addresses podvmd's DHCP server would give (the app guest has no client). */
static void
add_nics(PodvmPod *self, PodvmAppGuestConfig *config)
{
    for (guint i = 0; i < self->spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(self->spec->interfaces, i);
        g_autoptr(PodvmDhcpLease) lease = pod_net_guest_lease(self, iface->name);
        PodvmAppGuestNic *nic;

        if (lease == NULL)
            continue;
        nic = g_new0(PodvmAppGuestNic, 1);
        nic->ifname = g_strdup_printf("eth%u", i);
        nic->mac = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", lease->mac[0], lease->mac[1],
                                   lease->mac[2], lease->mac[3], lease->mac[4], lease->mac[5]);
        nic->address = g_strdup_printf("%s/%u", lease->address, lease->prefix);
        nic->gateway = g_strdup(lease->router);
        nic->dns = lease->dns != NULL ? g_strdupv(lease->dns) : g_new0(char *, 1);
        nic->search = lease->search != NULL ? g_strdupv(lease->search) : g_new0(char *, 1);
        g_ptr_array_add(config->nics, nic);
    }
}

/* ---- the start: images, root filesystems, the guest's files ------------------------------ */

static void prepare_next(PodvmPod *self, GTask *task);

static char *
rootfs_dir(PodvmPod *self)
{
    if (self->image_store != NULL)
        return g_build_filename(podvm_image_store_get_dir(self->image_store), "rootfs", NULL);
    return g_build_filename(self->config->state_dir, "images", "rootfs", NULL);
}

static const PodvmSpecApp *
current_app(PodvmPod *self)
{
    return g_ptr_array_index(self->spec->apps, self->apps->rootfs->len);
}

static void
prepare_fail(PodvmPod *self, GTask *task, GError *error)
{
    PodApps *apps = self->apps;

    g_clear_object(&apps->preparing);
    g_clear_object(&self->preparing);
    g_clear_pointer(&apps->rootfs, g_ptr_array_unref);
    close_disk_fds(apps);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_clear_error(&error);
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                            _("killed while preparing its apps' images"));
    }
    self->start_error_wins = TRUE;
    pod_start_fail(self, task, error);
}

/* The app @app's failure, with the app, the image and, for a registry, the registry named. */
static GError *
app_error(const PodvmSpecApp *app, GError *error)
{
    g_autoptr(GError) converted = podvm_error_from_component(error);
    g_autoptr(PodvmImageRef) ref = NULL;
    GError *out;

    g_error_free(error);
    if (podvm_image_ref_is_registry(app->image))
        ref = podvm_image_ref_parse(app->image, NULL);
    if (ref != NULL && strstr(converted->message, ref->registry) == NULL)
        out =
            g_error_new(converted->domain, converted->code, _("app %s: image %s (registry %s): %s"),
                        app->name, app->image, ref->registry, converted->message);
    else
        out = g_error_new(converted->domain, converted->code, _("app %s: image %s: %s"), app->name,
                          app->image, converted->message);
    return out;
}

static void
rootfs_built_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    PodvmAppRootfs *rootfs = podvm_app_rootfs_build_in_helper_finish(result, &error);
    const PodvmSpecApp *app;
    JsonObject *entry;

    if (self->apps == NULL || self->apps->rootfs == NULL) {
        podvm_app_rootfs_free(rootfs);
        return;
    }
    app = current_app(self);
    if (rootfs == NULL) {
        prepare_fail(self, task, app_error(app, g_steal_pointer(&error)));
        return;
    }
    pod_step(self, "app %s: root filesystem %s%s", app->name, rootfs->path,
             rootfs->cached ? " (cached)" : "");
    entry = app_status(self, app->name);
    if (entry != NULL && rootfs->digest != NULL)
        json_object_set_string_member(entry, "imageDigest", rootfs->digest);
    g_ptr_array_add(self->apps->rootfs, rootfs);
    prepare_next(self, task);
}

static void
build_rootfs(PodvmPod *self, GTask *task, const char *layout_ref)
{
    g_autofree char *dir = rootfs_dir(self);

    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int saved = errno;

        prepare_fail(self, task,
                     app_error(current_app(self),
                               g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"),
                                           dir, g_strerror(saved))));
        return;
    }
    podvm_app_rootfs_build_in_helper_async(self->config->app_rootfs_helper, layout_ref, dir,
                                           self->apps->preparing, rootfs_built_cb,
                                           g_object_ref(task));
}

static void
pulled_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmImage) image =
        podvm_image_store_pull_finish(PODVM_IMAGE_STORE(source), result, &error);
    g_autofree char *layout_ref = NULL;

    if (self->apps == NULL || self->apps->rootfs == NULL)
        return;
    if (image == NULL) {
        prepare_fail(self, task, app_error(current_app(self), g_steal_pointer(&error)));
        return;
    }
    pod_step(self, "app %s: image %s is %s", current_app(self)->name, image->reference,
             image->digest);
    layout_ref = podvm_image_store_layout_ref(PODVM_IMAGE_STORE(source), image);
    build_rootfs(self, task, layout_ref);
}

/* Opens each root filesystem for QEMU (read-only; QEMU's user may not read the cache). */
static gboolean
open_disks(PodvmPod *self, GError **error)
{
    PodApps *apps = self->apps;

    close_disk_fds(apps);
    apps->disk_fds = g_array_new(FALSE, FALSE, sizeof(int));
    for (guint i = 0; i < apps->rootfs->len; i++) {
        const PodvmAppRootfs *rootfs = g_ptr_array_index(apps->rootfs, i);
        int fd = open(rootfs->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0) {
            int saved = errno;
            const PodvmSpecApp *app = g_ptr_array_index(self->spec->apps, i);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("app %s: cannot open '%s': %s"),
                        app->name, rootfs->path, g_strerror(saved));
            return FALSE;
        }
        g_array_append_val(apps->disk_fds, fd);
    }
    return TRUE;
}

static gboolean
make_config(PodvmPod *self, gboolean debug, GError **error)
{
    PodApps *apps = self->apps;
    g_autoptr(PodvmAppGuestConfig) config = podvm_app_guest_config_new();

    config->hostname =
        g_strdup(self->spec->hostname != NULL ? self->spec->hostname : self->spec->name);
    config->debug = debug;
    for (guint i = 0; i < self->spec->apps->len; i++) {
        const PodvmSpecApp *app = g_ptr_array_index(self->spec->apps, i);
        const PodvmAppRootfs *rootfs = g_ptr_array_index(apps->rootfs, i);
        g_autofree char *serial = g_strdup_printf("app%u", i);
        PodvmAppGuestApp *resolved = pod_apps_resolve(app, rootfs, serial, error);

        if (resolved == NULL)
            return FALSE;
        g_ptr_array_add(config->apps, resolved);
    }
    g_clear_pointer(&apps->config, podvm_app_guest_config_free);
    apps->config = g_steal_pointer(&config);
    return TRUE;
}

static void
prepare_next(PodvmPod *self, GTask *task)
{
    PodApps *apps = self->apps;
    PodLifecycleOp *op = pod_op_of(task);
    const PodvmSpecApp *app;
    g_autoptr(GError) error = NULL;

    if (g_cancellable_is_cancelled(apps->preparing)) {
        prepare_fail(self, task,
                     g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                 _("killed while preparing its apps' images")));
        return;
    }
    if (apps->rootfs->len == self->spec->apps->len) {
        PodAppsDone done = apps->done;

        if (!make_config(self, op->options.debug, &error) || !open_disks(self, &error)) {
            prepare_fail(self, task, g_steal_pointer(&error));
            return;
        }
        g_clear_object(&apps->preparing);
        status_changed(self); /* the digests */
        done(self, task);
        return;
    }
    app = current_app(self);
    if (g_str_has_prefix(app->image, "oci:")) {
        build_rootfs(self, task, app->image);
        return;
    }
    if (self->image_store == NULL) {
        prepare_fail(self, task,
                     app_error(app, g_error_new_literal(PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                                        _("podvmd has no image store"))));
        return;
    }
    pod_step(self, "app %s: pulling %s", app->name, app->image);
    podvm_image_store_pull_async(self->image_store, app->image, PODVM_PULL_IF_NOT_PRESENT,
                                 pod_pull_progress_cb, self, apps->preparing, pulled_cb,
                                 g_object_ref(task));
}

void
pod_apps_prepare(PodvmPod *self, GTask *task, PodAppsDone done)
{
    PodApps *apps = apps_of(self);
    g_autofree char *kernel = g_build_filename(self->config->app_guest_dir, "vmlinuz", NULL);

    status_reset(self);
    if (!g_file_test(kernel, G_FILE_TEST_IS_REGULAR)) {
        self->start_error_wins = TRUE;
        pod_start_fail(self, task,
                       g_error_new(PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                   _("app pods need podvm's app guest, and '%s' is not there: "
                                     "install it or set [apps] guest_dir in podvmd.conf"),
                                   kernel));
        return;
    }
    apps->done = done;
    g_clear_pointer(&apps->rootfs, g_ptr_array_unref);
    apps->rootfs = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_app_rootfs_free);
    g_clear_object(&apps->preparing);
    /* The start's: a kill cancels it. */
    apps->preparing = self->preparing != NULL ? g_object_ref(self->preparing) : g_cancellable_new();
    pod_step(self, "preparing %u app image(s)", self->spec->apps->len);
    prepare_next(self, task);
}

void
pod_apps_cancel(PodvmPod *self)
{
    if (self->apps != NULL && self->apps->preparing != NULL)
        g_cancellable_cancel(self->apps->preparing);
}

/* ---- the spawn ---------------------------------------------------------------------------- */

static int
open_guest_file(PodvmPod *self, const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(self->config->app_guest_dir, name, NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;

    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    if (fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("the app guest's '%s' cannot be opened: %s ([apps] guest_dir)"), path,
                    g_strerror(saved));
    }
    return fd;
}

gboolean
pod_apps_open_guest(PodvmPod *self, int *out_kernel_fd, int *out_initrd_fd, GError **error)
{
    *out_kernel_fd = open_guest_file(self, "vmlinuz", error);
    if (*out_kernel_fd < 0)
        return FALSE;
    *out_initrd_fd = open_guest_file(self, "initrd.img", error);
    if (*out_initrd_fd < 0) {
        close(*out_kernel_fd);
        *out_kernel_fd = -1;
        return FALSE;
    }
    return TRUE;
}

int
pod_apps_listen(PodvmPod *self, PodvmListenFunc listen_func, GError **error)
{
    return listen_func(apps_of(self)->socket_path, error);
}

static void
close_fd(gpointer data)
{
    int *fd = data;

    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

GArray *
pod_apps_take_disk_fds(PodvmPod *self)
{
    GArray *fds;

    if (self->apps == NULL || self->apps->disk_fds == NULL)
        return NULL;
    fds = g_steal_pointer(&self->apps->disk_fds);
    /* A spawn that is given up closes them with the array. */
    g_array_set_clear_func(fds, close_fd);
    return fds;
}

const char *
pod_apps_socket_path(PodvmPod *self)
{
    return apps_of(self)->socket_path;
}

/* ---- exec --------------------------------------------------------------------------------- */

static void
exec_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    int exit_code = 0;

    if (!podvm_app_channel_exec_finish(PODVM_APP_CHANNEL(source), result, &exit_code, &error))
        g_task_return_error(task, error);
    else
        g_task_return_int(task, exit_code);
}

void
podvm_pod_exec_async(PodvmPod *self, const char *app, const char *const *argv,
                     GInputStream *stdin_stream, GOutputStream *stdout_stream,
                     GOutputStream *stderr_stream, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_source_tag(task, podvm_pod_exec_async);
    if (argv == NULL || argv[0] == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("exec needs a command"));
        return;
    }
    if (!podvm_spec_uses_app_guest(self->spec)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                _("pod '%s' does not run podvm's app guest: exec needs an app pod "
                                  "(spec.apps without a kernel or disks)"),
                                self->spec->name);
        return;
    }
    if (app != NULL && podvm_spec_find_app(self->spec, app) == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                                _("pod '%s' has no app '%s'"), self->spec->name, app);
        return;
    }
    if (self->phase != PODVM_PHASE_RUNNING || self->apps == NULL || self->apps->channel == NULL ||
        !podvm_app_channel_get_connected(self->apps->channel)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("cannot exec in pod '%s': it is %s, not Running with its app "
                                  "guest connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        return;
    }
    podvm_app_channel_exec_async(
        self->apps->channel,
        app != NULL ? app : ((const PodvmSpecApp *)g_ptr_array_index(self->spec->apps, 0))->name,
        argv, stdin_stream, stdout_stream, stderr_stream, cancellable, exec_cb,
        g_steal_pointer(&task));
}

gboolean
podvm_pod_exec_finish(PodvmPod *self, GAsyncResult *result, int *exit_code, GError **error)
{
    gssize code;

    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    code = g_task_propagate_int(G_TASK(result), error);
    if (code < 0)
        return FALSE;
    if (exit_code != NULL)
        *exit_code = (int)code;
    return TRUE;
}
