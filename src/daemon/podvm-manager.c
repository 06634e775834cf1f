/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-manager.h"
#include "podvm-manager-private.h"

#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-cni.h"
#include "podvm-event.h"
#include "podvm-image-store.h"
#include "podvm-pod-list.h"
#include "podvm-quantity.h"
#include "podvm-storage.h"
#include "podvm-store.h"

struct _PodvmManager {
    GObject parent_instance;

    const PodvmConfig *config;
    GHashTable *pods; /* name -> PodvmPod* (owned) */
    PodvmVolumePool *pool;
    GError *pool_error;           /* why there is no pool */
    PodvmPodList *list;           /* the list answers, cached per pod generation */
    PodvmImageStore *image_store; /* [images]: made at its first use */
    PodvmEventRing *events;       /* the recent events, for a client that resumes */
};

G_DEFINE_FINAL_TYPE(PodvmManager, podvm_manager, G_TYPE_OBJECT)

enum {
    SIGNAL_POD_ADDED,
    SIGNAL_POD_REMOVED,
    SIGNAL_EVENT,
    N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
podvm_manager_finalize(GObject *object)
{
    PodvmManager *self = PODVM_MANAGER(object);
    GHashTableIter iter;
    gpointer pod;

    /* A pod may outlive the manager for a moment (an operation holds it): it must not call back. */
    g_hash_table_iter_init(&iter, self->pods);
    while (g_hash_table_iter_next(&iter, NULL, &pod))
        g_signal_handlers_disconnect_by_data(pod, self);
    g_hash_table_unref(self->pods);
    podvm_pod_list_free(self->list);
    if (self->pool != NULL)
        g_signal_handlers_disconnect_by_data(self->pool, self);
    g_clear_object(&self->pool);
    g_clear_error(&self->pool_error);
    g_clear_object(&self->image_store);
    podvm_event_ring_free(self->events);
    G_OBJECT_CLASS(podvm_manager_parent_class)->finalize(object);
}

static void
podvm_manager_class_init(PodvmManagerClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = podvm_manager_finalize;

    signals[SIGNAL_POD_ADDED] =
        g_signal_new("pod-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 1, PODVM_TYPE_POD);
    signals[SIGNAL_POD_REMOVED] =
        g_signal_new("pod-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                     NULL, G_TYPE_NONE, 1, PODVM_TYPE_POD);
    signals[SIGNAL_EVENT] =
        g_signal_new("event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                     G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, JSON_TYPE_OBJECT);
}

static void
podvm_manager_init(PodvmManager *self)
{
    self->pods = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
    self->list = podvm_pod_list_new();
}

static void
pool_changed_cb(PodvmVolumePool *pool, const char *name, gpointer user_data)
{
    PodvmManager *self = user_data;
    g_autoptr(JsonObject) details = podvm_event_new("", "VolumeChanged", NULL, NULL);

    json_object_set_string_member(details, "volume", name);
    manager_emit_event(self, "", "VolumeChanged", details);
}

static void
pool_progress_cb(PodvmVolumePool *pool, const char *name, guint64 done, guint64 total,
                 gpointer user_data)
{
    PodvmManager *self = user_data;
    g_autoptr(JsonObject) details = podvm_event_new("", "VolumeProgress", NULL, NULL);

    json_object_set_string_member(details, "volume", name);
    json_object_set_int_member(details, "done", (gint64)done);
    json_object_set_int_member(details, "total", (gint64)total);
    manager_emit_event(self, "", "VolumeProgress", details);
}

PodvmManager *
podvm_manager_new(const PodvmConfig *config)
{
    PodvmManager *self = g_object_new(PODVM_TYPE_MANAGER, NULL);

    self->config = config;
    self->events = podvm_event_ring_new(config->event_history);
    self->pool = podvm_volume_pool_new(config->pool_dir, config->qemu_img, &self->pool_error);
    if (self->pool == NULL) {
        g_message("the volume pool is unavailable: %s", self->pool_error->message);
    } else {
        g_signal_connect(self->pool, "changed", G_CALLBACK(pool_changed_cb), self);
        g_signal_connect(self->pool, "progress", G_CALLBACK(pool_progress_cb), self);
    }
    return self;
}

PodvmVolumePool *
podvm_manager_get_volume_pool(PodvmManager *self, GError **error)
{
    if (self->pool == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("the volume pool is unavailable: %s"),
                    self->pool_error->message);
        return NULL;
    }
    return self->pool;
}

static void
volume_created_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    JsonNode *volume = podvm_volume_pool_create_finish(PODVM_VOLUME_POOL(source), result, &error);

    if (volume == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, volume, (GDestroyNotify)json_node_unref);
}

void
podvm_manager_create_volume_async(PodvmManager *self, const PodvmVolumeCreateOptions *options,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    GError *error = NULL;
    PodvmVolumePool *pool = podvm_manager_get_volume_pool(self, &error);

    if (pool == NULL) {
        g_task_return_error(task, error);
        return;
    }
    if (options->from != NULL && !g_str_has_prefix(options->from, "http://") &&
        !g_str_has_prefix(options->from, "https://") &&
        (!g_path_is_absolute(options->from) ||
         !podvm_storage_check_host_path(
             options->from, (const char *const *)self->config->allowed_host_paths, &error))) {
        if (error == NULL)
            error = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("import source '%s' is neither an absolute path nor an "
                                  "http(s):// URL"),
                                options->from);
        g_task_return_error(task, error);
        return;
    }
    podvm_volume_pool_create_async(pool, options, cancellable, volume_created_cb,
                                   g_steal_pointer(&task));
}

/* The options of a new volume from their JSON description; the strings point into it. */
static gboolean
volume_options_from_json(JsonObject *description, PodvmVolumeCreateOptions *out_options,
                         GError **error)
{
    static const char *const known[] = { "name", "size", "from", "sha256", NULL };
    PodvmVolumeCreateOptions options = { 0 };
    JsonObjectIter iter;
    const char *member;
    JsonNode *value;

    if (description == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the body must be a JSON object with at least \"name\""));
        return FALSE;
    }
    json_object_iter_init(&iter, description);
    while (json_object_iter_next(&iter, &member, &value)) {
        if (!g_strv_contains(known, member)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("unknown member \"%s\"; expected name, size, from, sha256"), member);
            return FALSE;
        }
        if (g_str_equal(member, "size") && json_node_get_value_type(value) == G_TYPE_INT64) {
            if (json_node_get_int(value) <= 0) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("\"size\" must be more than 0 bytes"));
                return FALSE;
            }
            options.size = (guint64)json_node_get_int(value);
            continue;
        }
        if (json_node_get_value_type(value) != G_TYPE_STRING) {
            if (g_str_equal(member, "size"))
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("\"size\" must be a quantity such as \"10Gi\" or a number of "
                              "bytes"));
            else
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("\"%s\" must be a string"), member);
            return FALSE;
        }
        if (g_str_equal(member, "name")) {
            options.name = json_node_get_string(value);
        } else if (g_str_equal(member, "from")) {
            options.from = json_node_get_string(value);
        } else if (g_str_equal(member, "sha256")) {
            options.sha256 = json_node_get_string(value);
        } else {
            g_autoptr(GError) local = NULL;
            if (!podvm_quantity_parse_size(json_node_get_string(value), &options.size, &local)) {
                g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("\"size\": %s"),
                            local->message);
                return FALSE;
            }
        }
    }
    if (options.name == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("\"name\" is required"));
        return FALSE;
    }
    *out_options = options;
    return TRUE;
}

void
podvm_manager_create_volume_from_json_async(PodvmManager *self, JsonObject *description,
                                            GCancellable *cancellable, GAsyncReadyCallback callback,
                                            gpointer user_data)
{
    PodvmVolumeCreateOptions options;
    GError *error = NULL;

    if (!volume_options_from_json(description, &options, &error)) {
        g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

        g_task_return_error(task, error);
        return;
    }
    podvm_manager_create_volume_async(self, &options, cancellable, callback, user_data);
}

JsonNode *
podvm_manager_create_volume_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
add_path_problem(GPtrArray *problems, GString *message, int *code, char *path, const GError *local)
{
    PodvmSpecProblem *problem = g_new0(PodvmSpecProblem, 1);

    problem->path = path;
    problem->message = g_strdup(local->message);
    /* Outside the allowed roots is 403 (RELIABILITY), a malformed path 400. */
    if (problems->len == 0)
        *code = local->code;
    g_string_append_printf(message, "%s%s: %s", message->len > 0 ? "\n" : "", problem->path,
                           problem->message);
    g_ptr_array_add(problems, problem);
}

/*
 * A multus network must be one the administrator defined (a conflist in
 * [network] cni_config_dir, which may name an SR-IOV pool of podvmd.conf),
 * and an sriov interface must be on an SR-IOV pool and nothing else.
 * @prefix: "network" for a hotplug document, NULL for a pod's spec.
 */
static void
check_networks(PodvmManager *self, GPtrArray *interfaces, GPtrArray *networks, const char *prefix,
               GPtrArray *problems, GString *message, int *code)
{
    PodvmCniSettings settings = { 0 };

    podvm_config_cni_settings(self->config, &settings);
    for (guint i = 0; networks != NULL && i < networks->len; i++) {
        const PodvmSpecNetwork *network = g_ptr_array_index(networks, i);
        const PodvmSpecInterface *iface = NULL;
        g_autoptr(PodvmCniNetwork) cni = NULL;
        g_autoptr(GError) local = NULL;
        g_autofree char *path = NULL;

        for (guint j = 0; interfaces != NULL && j < interfaces->len && iface == NULL; j++) {
            const PodvmSpecInterface *candidate = g_ptr_array_index(interfaces, j);

            if (g_str_equal(candidate->name, network->name))
                iface = candidate;
        }
        path = prefix != NULL ? g_strdup_printf("%s.multus.networkName", prefix)
                              : g_strdup_printf("spec.networks[%u].multus.networkName", i);
        if (network->source != PODVM_NETWORK_MULTUS) {
            if (iface != NULL && iface->binding == PODVM_BINDING_SRIOV) {
                local = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                    _("the sriov binding needs a multus network naming an "
                                      "SR-IOV pool"));
                add_path_problem(problems, message, code, g_steal_pointer(&path), local);
            }
            continue;
        }
        cni = podvm_cni_network_find(&settings, network->network_name, &local);
        if (cni == NULL) {
            g_clear_error(&local);
            local = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                _("no network '%s' is defined on this host (a conflist of that "
                                  "name in %s)"),
                                network->network_name, settings.config_dir);
        } else if (cni->sriov_pool != NULL &&
                   (iface == NULL || iface->binding != PODVM_BINDING_SRIOV)) {
            local = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                _("network '%s' is an SR-IOV pool: only an sriov interface can "
                                  "join it"),
                                network->network_name);
        } else if (cni->sriov_pool == NULL && iface != NULL &&
                   iface->binding == PODVM_BINDING_SRIOV) {
            local = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                _("network '%s' is not an SR-IOV pool: the sriov binding needs "
                                  "one"),
                                network->network_name);
        } else if (cni->sriov_pool != NULL &&
                   podvm_config_find_sriov_pool(self->config, cni->sriov_pool) == NULL) {
            local = g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                _("network '%s' names SR-IOV pool '%s', which podvmd.conf does "
                                  "not define"),
                                network->network_name, cni->sriov_pool);
        }
        if (local != NULL)
            add_path_problem(problems, message, code, g_steal_pointer(&path), local);
    }
    podvm_cni_settings_clear(&settings);
}

/*
 * hostDisk paths must lie in [storage] allowed_host_paths, a kernel and an
 * initrd in [qemu] kernel_dirs or there: a problem per path that does not.
 * Networks must be defined here (check_networks()).
 * @spec: NULL when only @volumes are checked (a hotplug).
 */
static gboolean
check_against_host(PodvmManager *self, GPtrArray *volumes, GPtrArray *interfaces,
                   GPtrArray *networks, const PodvmSpec *spec, const char *prefix,
                   GPtrArray **out_problems, GError **error)
{
    g_autoptr(GPtrArray) problems =
        g_ptr_array_new_with_free_func((GDestroyNotify)podvm_spec_problem_free);
    g_autoptr(GString) message = g_string_new(NULL);
    int code = PODVM_ERROR_INVALID_SPEC;

    for (guint i = 0; volumes != NULL && i < volumes->len; i++) {
        const PodvmSpecVolume *volume = g_ptr_array_index(volumes, i);
        g_autoptr(GError) local = NULL;

        if (volume->source != PODVM_VOLUME_HOST_DISK ||
            podvm_storage_check_host_path(
                volume->path, (const char *const *)self->config->allowed_host_paths, &local))
            continue;
        add_path_problem(problems, message, &code,
                         prefix != NULL ? g_strdup_printf("%s.hostDisk.path", prefix)
                                        : g_strdup_printf("spec.volumes[%u].hostDisk.path", i),
                         local);
    }
    if (spec != NULL) {
        g_auto(GStrv) roots = podvm_config_kernel_roots(self->config);
        const char *paths[] = { spec->kernel_path, spec->initrd_path };
        const char *fields[] = { "spec.domain.firmware.kernelBoot.kernelPath",
                                 "spec.domain.firmware.kernelBoot.initrdPath" };

        for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
            g_autoptr(GError) local = NULL;

            if (paths[i] == NULL ||
                podvm_storage_check_host_path(paths[i], (const char *const *)roots, &local))
                continue;
            if (local->code == PODVM_ERROR_PERMISSION_DENIED)
                g_prefix_error(&local, _("not under [qemu] kernel_dirs or [storage] "
                                         "allowed_host_paths: "));
            add_path_problem(problems, message, &code, g_strdup(fields[i]), local);
        }
    }
    check_networks(self, interfaces, networks, prefix != NULL ? "network" : NULL, problems, message,
                   &code);
    if (problems->len == 0)
        return TRUE;
    g_set_error_literal(error, PODVM_ERROR, code, message->str);
    if (out_problems != NULL)
        *out_problems = g_steal_pointer(&problems);
    return FALSE;
}

gboolean
podvm_manager_parse_attachment(PodvmManager *self, const char *data, gssize length,
                               PodvmSpecDisk **out_disk, PodvmSpecVolume **out_volume,
                               GPtrArray **out_problems, GError **error)
{
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;
    g_autoptr(GPtrArray) volumes = g_ptr_array_new();

    if (!podvm_spec_parse_disk_attachment(data, length, &disk, &volume, out_problems, error))
        return FALSE;
    g_ptr_array_add(volumes, volume);
    if (!check_against_host(self, volumes, NULL, NULL, NULL, "volume", out_problems, error))
        return FALSE;
    /* A containerDisk from a registry, hotplugged into a pod that had no image to pull. */
    manager_images_attach_for_volume(self, volume);
    *out_disk = g_steal_pointer(&disk);
    *out_volume = g_steal_pointer(&volume);
    return TRUE;
}

gboolean
podvm_manager_parse_interface_attachment(PodvmManager *self, const char *data, gssize length,
                                         PodvmSpecInterface **out_interface,
                                         PodvmSpecNetwork **out_network, GPtrArray **out_problems,
                                         GError **error)
{
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;
    g_autoptr(GPtrArray) interfaces = g_ptr_array_new();
    g_autoptr(GPtrArray) networks = g_ptr_array_new();

    if (!podvm_spec_parse_interface_attachment(data, length, &iface, &network, out_problems, error))
        return FALSE;
    g_ptr_array_add(interfaces, iface);
    g_ptr_array_add(networks, network);
    if (!check_against_host(self, NULL, interfaces, networks, NULL, "network", out_problems, error))
        return FALSE;
    *out_interface = g_steal_pointer(&iface);
    *out_network = g_steal_pointer(&network);
    return TRUE;
}

const PodvmConfig *
podvm_manager_get_config(PodvmManager *self)
{
    return self->config;
}

void
podvm_manager_config_changed(PodvmManager *self)
{
    GHashTableIter iter;
    gpointer pod;

    g_hash_table_iter_init(&iter, self->pods);
    while (g_hash_table_iter_next(&iter, NULL, &pod))
        podvm_pod_config_changed(pod);
}

char *
podvm_manager_status_text(PodvmManager *self)
{
    guint counts[PODVM_N_PHASES] = { 0 };
    GString *text = g_string_new(NULL);
    GHashTableIter iter;
    gpointer pod;
    guint total = g_hash_table_size(self->pods);
    gboolean first = TRUE;

    g_hash_table_iter_init(&iter, self->pods);
    while (g_hash_table_iter_next(&iter, NULL, &pod))
        counts[podvm_pod_get_phase(pod)]++;
    g_string_append_printf(text, total == 1 ? "%u pod" : "%u pods", total);
    for (guint phase = 0; phase < PODVM_N_PHASES; phase++) {
        g_autofree char *name = NULL;

        if (counts[phase] == 0)
            continue;
        name = g_ascii_strdown(podvm_phase_to_string(phase), -1);
        g_string_append_printf(text, "%s%u %s", first ? ": " : ", ", counts[phase], name);
        first = FALSE;
    }
    return g_string_free(text, FALSE);
}

PodvmImageStore *
podvm_manager_get_image_store(PodvmManager *self, GError **error)
{
    g_return_val_if_fail(PODVM_IS_MANAGER(self), NULL);
    /* Made at the first use: a podvmd without app pods or registry images never creates DIR. */
    if (self->image_store == NULL)
        self->image_store = podvm_config_new_image_store(self->config, error);
    return self->image_store;
}

static void
pod_event_cb(PodvmPod *pod, const char *type, JsonObject *details, gpointer user_data)
{
    PodvmManager *self = user_data;

    manager_emit_event(self, podvm_pod_get_name(pod), type, details);
}

static void
pod_deleted_cb(PodvmPod *pod, gpointer user_data)
{
    PodvmManager *self = user_data;
    g_autoptr(PodvmPod) keep = g_object_ref(pod);
    g_autoptr(JsonObject) details = podvm_event_new(
        podvm_pod_get_name(pod), "Deleted", podvm_phase_to_string(podvm_pod_get_phase(pod)), NULL);

    g_signal_handlers_disconnect_by_data(pod, self);
    g_hash_table_remove(self->pods, podvm_pod_get_name(pod));
    podvm_pod_list_membership_changed(self->list, pod);
    manager_images_pod_deleted(self, pod);
    manager_emit_event(self, podvm_pod_get_name(pod), "Deleted", details);
    g_signal_emit(self, signals[SIGNAL_POD_REMOVED], 0, pod);
}

void
manager_add_pod(PodvmManager *self, PodvmPod *pod)
{
    g_hash_table_insert(self->pods, g_strdup(podvm_pod_get_name(pod)), g_object_ref(pod));
    podvm_pod_list_membership_changed(self->list, NULL);
    podvm_pod_set_volume_pool(pod, self->pool);
    manager_images_attach(self, pod);
    g_signal_connect(pod, "event", G_CALLBACK(pod_event_cb), self);
    g_signal_connect(pod, "deleted", G_CALLBACK(pod_deleted_cb), self);
    g_signal_emit(self, signals[SIGNAL_POD_ADDED], 0, pod);
}

gboolean
manager_check_spec(PodvmManager *self, const PodvmSpec *spec, GPtrArray **out_problems,
                   GError **error)
{
    return check_against_host(self, spec->volumes, spec->interfaces, spec->networks, spec, NULL,
                              out_problems, error);
}

gboolean
manager_has_pod(PodvmManager *self, const char *name)
{
    return g_hash_table_contains(self->pods, name);
}

/*
 * Every event of the manager's "event" signal goes out here, kept first in
 * the ring: the ring holds them in the order of their ids, as the streams
 * send them.
 */
void
manager_emit_event(PodvmManager *self, const char *pod_name, const char *type, JsonObject *details)
{
    podvm_event_ring_push(self->events, pod_name, type, details);
    g_signal_emit(self, signals[SIGNAL_EVENT], 0, pod_name, type, details);
}

GPtrArray *
podvm_manager_events_since(PodvmManager *self, const char *last_event_id, PodvmEventGap *out_gap)
{
    return podvm_event_ring_since(self->events, last_event_id, out_gap);
}

static void
reconcile_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmPod *pod = PODVM_POD(source);
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_reconcile_finish(pod, result, &error))
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "POD_NAME", podvm_pod_get_name(pod),
                         "MESSAGE", "pod '%s': cannot reconnect: %s", podvm_pod_get_name(pod),
                         error->message);
}

/*
 * What a crash can leave in state_dir/pods besides whole pods: a create's
 * temporary directory, a delete's renamed one, and (from older versions) a
 * pod directory without its pod.json. None of them is a pod: removed.
 */
static gboolean
remove_leftover(const char *dir_path, const char *name)
{
    g_autofree char *path = g_build_filename(dir_path, name, NULL);
    g_autofree char *state_file = g_build_filename(path, "pod.json", NULL);
    g_autoptr(GError) error = NULL;

    if (g_str_has_prefix(name, PODVM_POD_NEW_DIR_PREFIX) ||
        g_str_has_prefix(name, PODVM_POD_DELETED_DIR_PREFIX)) {
        g_message("removing '%s', left by an interrupted create or delete", path);
    } else if (podvm_name_is_valid(name, NULL) && g_file_test(path, G_FILE_TEST_IS_DIR) &&
               !g_file_test(path, G_FILE_TEST_IS_SYMLINK) &&
               !g_file_test(state_file, G_FILE_TEST_EXISTS)) {
        g_message("removing '%s': a pod directory without pod.json (an interrupted create)", path);
    } else {
        return FALSE;
    }
    if (!podvm_store_remove_tree(path, &error))
        g_message("%s", error->message);
    return TRUE;
}

void
podvm_manager_load(PodvmManager *self)
{
    g_autofree char *dir_path = g_build_filename(self->config->state_dir, "pods", NULL);
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) loaded = g_ptr_array_new_with_free_func(g_object_unref);
    g_autoptr(GHashTable) qemus = NULL;
    const char *name;

    dir = g_dir_open(dir_path, 0, &error);
    if (dir == NULL) {
        g_message("cannot read stored pods: %s", error->message);
        return;
    }
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autoptr(GError) local = NULL;
        PodvmPod *pod;

        if (remove_leftover(dir_path, name) || !podvm_name_is_valid(name, NULL))
            continue;
        pod = podvm_manager_lookup(self, name, NULL);
        if (pod != NULL)
            continue;
        pod = podvm_pod_load(self->config, name, &local);
        if (pod == NULL) {
            g_message("skipping stored pod '%s': %s", name, local->message);
            continue;
        }
        manager_add_pod(self, pod);
        g_ptr_array_add(loaded, pod);
    }
    /* One pass over /proc finds every pod's QEMUs, recorded or not. */
    qemus = podvm_pod_scan_qemus(self->config->run_dir);
    /* Each pod reconnects on its own, with its own timeout. */
    for (guint i = 0; i < loaded->len; i++)
        podvm_pod_reconcile_async(g_ptr_array_index(loaded, i), qemus, reconcile_cb, NULL);
    {
        g_autoptr(GStrvBuilder) uids = g_strv_builder_new();
        g_auto(GStrv) list = NULL;
        GHashTableIter iter;
        gpointer pod;

        g_hash_table_iter_init(&iter, self->pods);
        while (g_hash_table_iter_next(&iter, NULL, &pod))
            g_strv_builder_add(uids, podvm_pod_get_uid(PODVM_POD(pod)));
        list = g_strv_builder_end(uids);
        podvm_pods_release_orphan_vfs(self->config, (const char *const *)list);
    }
    g_message("loaded %u pod(s) from %s", loaded->len, dir_path);
}

static void
start_on_create_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_run_finish(PODVM_POD(source), result, &error))
        g_message("pod '%s': start on create failed: %s", podvm_pod_get_name(PODVM_POD(source)),
                  error->message);
}

PodvmPod *
podvm_manager_create_pod(PodvmManager *self, const char *spec_json, gssize length,
                         GPtrArray **out_problems, GError **error)
{
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(JsonObject) details = NULL;
    PodvmPod *pod;

    spec = podvm_spec_parse_data(spec_json, length, out_problems, error);
    if (spec == NULL || !check_against_host(self, spec->volumes, spec->interfaces, spec->networks,
                                            spec, NULL, out_problems, error))
        return NULL;
    if (g_hash_table_contains(self->pods, spec->name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS, _("pod '%s' already exists"),
                    spec->name);
        return NULL;
    }
    /* The uid is the daemon's to give, as in Kubernetes: a copied one is replaced. */
    g_free(spec->uid);
    spec->uid = g_uuid_string_random();

    pod = podvm_pod_create(self->config, spec, error);
    if (pod == NULL)
        return NULL;
    manager_add_pod(self, pod);
    g_object_unref(pod); /* the table holds it */
    podvm_pod_log_created(pod);

    details =
        podvm_event_new(spec->name, "Created", podvm_phase_to_string(PODVM_PHASE_PENDING), NULL);
    manager_emit_event(self, spec->name, "Created", details);

    if (spec->start_on_create) {
        PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;
        podvm_pod_run_async(pod, PODVM_POD_OP_START, &options, NULL, start_on_create_cb, NULL);
    }
    return pod;
}

PodvmPod *
podvm_manager_replace_pod(PodvmManager *self, const char *name, const char *spec_json,
                          gssize length, GPtrArray **out_problems, GError **error)
{
    g_autoptr(PodvmSpec) spec = NULL;
    PodvmPod *pod = podvm_manager_lookup(self, name, error);

    if (pod == NULL)
        return NULL;
    spec = podvm_spec_parse_data(spec_json, length, out_problems, error);
    if (spec == NULL || !check_against_host(self, spec->volumes, spec->interfaces, spec->networks,
                                            spec, NULL, out_problems, error))
        return NULL;
    if (!podvm_pod_replace_spec(pod, spec, error))
        return NULL;
    manager_images_attach(self, pod);
    return pod;
}

PodvmPod *
podvm_manager_lookup(PodvmManager *self, const char *name, GError **error)
{
    PodvmPod *pod = name != NULL ? g_hash_table_lookup(self->pods, name) : NULL;

    if (pod == NULL)
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("pod '%s' not found"),
                    name != NULL ? name : "");
    return pod;
}

static int
compare_pods(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(podvm_pod_get_name(*(PodvmPod **)a), podvm_pod_get_name(*(PodvmPod **)b));
}

GPtrArray *
podvm_manager_list(PodvmManager *self)
{
    GPtrArray *pods = g_ptr_array_new();
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, self->pods);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_ptr_array_add(pods, value);

    g_ptr_array_sort(pods, compare_pods);
    return pods;
}

JsonNode *
podvm_manager_list_json(PodvmManager *self)
{
    return podvm_manager_list_json_selected(self, NULL);
}

JsonNode *
podvm_manager_list_json_selected(PodvmManager *self, const PodvmLabelSelector *selector)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);
    g_autoptr(JsonArray) array = json_array_sized_new(pods->len);
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    for (guint i = 0; i < pods->len; i++) {
        PodvmPod *pod = g_ptr_array_index(pods, i);
        if (podvm_pod_matches_labels(pod, selector))
            json_array_add_element(array, podvm_pod_to_json(pod));
    }
    json_node_set_array(node, array);
    return node;
}

GBytes *
podvm_manager_list_text(PodvmManager *self, const PodvmLabelSelector *selector,
                        PodvmListStyle style)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);

    return podvm_pod_list_text(self->list, pods, selector, style);
}

void
podvm_manager_detach_all(PodvmManager *self)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, self->pods);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        podvm_pod_detach(value);
}

static void
manager_exec_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    int exit_code = 0;

    if (!podvm_pod_exec_finish(PODVM_POD(source), result, &exit_code, &error))
        g_task_return_error(task, error);
    else
        g_task_return_int(task, exit_code);
}

void
podvm_manager_exec_async(PodvmManager *self, const char *name, const char *app,
                         const char *const *argv, GInputStream *stdin_stream,
                         GOutputStream *stdout_stream, GOutputStream *stderr_stream,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    GError *error = NULL;
    PodvmPod *pod;

    g_task_set_source_tag(task, podvm_manager_exec_async);
    pod = podvm_manager_lookup(self, name, &error);
    if (pod == NULL) {
        g_task_return_error(task, error);
        return;
    }
    podvm_pod_exec_async(pod, app, argv, stdin_stream, stdout_stream, stderr_stream, cancellable,
                         manager_exec_cb, g_steal_pointer(&task));
}

gboolean
podvm_manager_exec_finish(PodvmManager *self, GAsyncResult *result, int *exit_code, GError **error)
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
