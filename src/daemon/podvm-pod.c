/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-pod.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "podvm-cgroup.h"
#include "podvm-console.h"
#include "podvm-error.h"
#include "podvm-event.h"
#include "podvm-host.h"
#include "podvm-labels.h"
#include "podvm-fault.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"

#include "podvm-log.h"
#include "podvm-qmp-client.h"
#include "podvm-store.h"

/* A pod that ran this long is no longer crash looping: back-off resets. */
#define BACKOFF_RESET_US (60 * G_USEC_PER_SEC)
/* From this many restarts on, waiting to restart is called CrashLoopBackOff. */
#define CRASH_LOOP_RESTARTS 3

G_DEFINE_FINAL_TYPE(PodvmPod, podvm_pod, G_TYPE_OBJECT)

enum {
    SIGNAL_CHANGED,
    SIGNAL_EVENT,
    SIGNAL_DELETED,
    SIGNAL_QMP_EVENT,
    N_SIGNALS
};
static guint signals[N_SIGNALS];

static void kill_qemu(PodvmPod *self);
static void qemu_exited(PodvmPod *self, const char *how);

static const char *const op_names[] = {
    [PODVM_POD_OP_START] = "start",     [PODVM_POD_OP_STOP] = "stop",
    [PODVM_POD_OP_PAUSE] = "pause",     [PODVM_POD_OP_RESUME] = "resume",
    [PODVM_POD_OP_RESTART] = "restart", [PODVM_POD_OP_DELETE] = "delete",
    [PODVM_POD_OP_KILL] = "kill",
};

const char *
podvm_pod_op_to_string(PodvmPodOp op)
{
    g_return_val_if_fail(op < G_N_ELEMENTS(op_names), "unknown");
    return op_names[op];
}

/* ---- status and persistence ------------------------------------------ */

static char *
format_time(GDateTime *time)
{
    return time != NULL ? g_date_time_format_iso8601(time) : NULL;
}

JsonNode *
podvm_pod_get_status_json(PodvmPod *self)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *started = format_time(self->started_at);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "phase");
    json_builder_add_string_value(b, podvm_phase_to_string(self->phase));
    if (self->reason != NULL) {
        json_builder_set_member_name(b, "reason");
        json_builder_add_string_value(b, self->reason);
    }
    if (self->message != NULL) {
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, self->message);
    }
    if (self->qemu_pid > 0) {
        json_builder_set_member_name(b, "qemuPid");
        json_builder_add_int_value(b, self->qemu_pid);
    }
    if (started != NULL) {
        json_builder_set_member_name(b, "startedAt");
        json_builder_add_string_value(b, started);
    }
    json_builder_set_member_name(b, "restartCount");
    json_builder_add_int_value(b, self->restart_count);
    json_builder_set_member_name(b, "accelerator");
    json_builder_add_string_value(b, podvm_accel_to_string(self->config->accel));
    /* What the VM gets, by the apps rule when the domain does not say. */
    json_builder_set_member_name(b, "vcpus");
    json_builder_add_int_value(b, podvm_spec_resolve_vcpus(self->spec, self->config->host_cpus));
    json_builder_set_member_name(b, "memory");
    json_builder_add_int_value(b, (gint64)MIN(podvm_spec_resolve_memory(self->spec), G_MAXINT64));
    pod_net_add_status(self, b);
    pod_disks_add_volume_status(self, b);
    pod_apps_add_status(self, b);
    pod_agent_add_status(self, b);
    if (self->migration_state != NULL) {
        json_builder_set_member_name(b, "migrationState");
        json_builder_add_value(b, json_node_init_object(json_node_alloc(), self->migration_state));
    }
    pod_probes_add_conditions(self, b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
podvm_pod_to_json(PodvmPod *self)
{
    g_autoptr(JsonNode) doc = podvm_spec_to_json_redacted(self->spec);
    JsonObject *obj = json_node_get_object(doc);

    json_object_set_member(obj, "status", podvm_pod_get_status_json(self));
    return g_steal_pointer(&doc);
}

JsonNode *
podvm_pod_to_json_with_secrets(PodvmPod *self)
{
    g_autoptr(JsonNode) doc = podvm_spec_to_json(self->spec);
    JsonObject *obj = json_node_get_object(doc);

    json_object_set_member(obj, "status", podvm_pod_get_status_json(self));
    return g_steal_pointer(&doc);
}

gboolean
podvm_pod_matches_labels(PodvmPod *self, const PodvmLabelSelector *selector)
{
    return podvm_label_selector_matches(selector, self->spec->labels);
}

static gboolean
save_to(PodvmPod *self, const char *path, PodvmStoreMode mode, GError **error)
{
    g_autoptr(JsonObject) root = json_object_new();
    g_autoptr(JsonObject) runtime = json_object_new();
    JsonObject *placements;
    JsonObject *network;
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_member(root, "pod", podvm_spec_to_json(self->spec));
    json_object_set_member(root, "status", podvm_pod_get_status_json(self));
    json_object_set_int_member(runtime, "qemuPid", self->qemu_pid);
    json_object_set_int_member(runtime, "qemuStartTicks", (gint64)self->qemu_start_ticks);
    json_object_set_int_member(runtime, "backoffMs", self->backoff_ms);
    placements = podvm_hotplug_to_json(self->hotplug);
    if (placements != NULL)
        json_object_set_object_member(runtime, "placements", placements);
    network = pod_net_to_json(self->net);
    if (network != NULL)
        json_object_set_object_member(runtime, "network", network);
    if (self->launch_pending)
        json_object_set_boolean_member(runtime, "qemuLaunchPending", TRUE);
    if (self->deleting)
        json_object_set_boolean_member(runtime, "deleting", TRUE);
    if (self->migration_record != NULL)
        json_object_set_object_member(runtime, "migration",
                                      json_object_ref(self->migration_record));
    json_object_set_object_member(root, "runtime", g_steal_pointer(&runtime));
    json_node_set_object(node, root);
    return podvm_store_write_json(path, node, mode, error);
}

static gboolean
save(PodvmPod *self, PodvmStoreMode mode, GError **error)
{
    return save_to(self, self->state_file, mode, error);
}

/*
 * A record the next step depends on (the intent to launch QEMU, its pid, a
 * delete): durable, or the step does not happen. @point names it for
 * PODVM_TEST_FAIL_AT.
 */
gboolean
pod_save_required(PodvmPod *self, const char *point, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (podvm_fault_fail_point(point, &local) || !save(self, PODVM_STORE_DURABLE, &local)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("pod '%s': cannot store its state: %s"),
                    self->spec->name, local->message);
        return FALSE;
    }
    return TRUE;
}

/*
 * Stores the state; a failure is reported but never stops a running guest
 * (RELIABILITY: a state file that cannot be written kills nothing).
 */
void
pod_save_or_log(PodvmPod *self, PodvmStoreMode mode)
{
    g_autoptr(GError) error = NULL;

    if (!save(self, mode, &error))
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': cannot store its state: %s", self->spec->name,
                error->message);
}

void
pod_emit_changed(PodvmPod *self)
{
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

void
pod_emit_event(PodvmPod *self, const char *type, JsonObject *extra)
{
    g_autoptr(JsonObject) details =
        podvm_event_new(self->spec->name, type, podvm_phase_to_string(self->phase), extra);

    pod_log_event(self, type, details);
    g_signal_emit(self, signals[SIGNAL_EVENT], 0, type, details);
}

static void
set_phase(PodvmPod *self, PodvmPhase phase, const char *reason, const char *message)
{
    g_autoptr(JsonObject) details = json_object_new();
    PodvmPhase old = self->phase;

    /* Callers may pass the current reason or message back in: copy first. */
    char *new_reason = g_strdup(reason);
    char *new_message = g_strdup(message);

    self->phase = phase;
    g_free(self->reason);
    self->reason = new_reason;
    g_free(self->message);
    self->message = new_message;
    reason = self->reason;
    message = self->message;
    if (phase == PODVM_PHASE_RUNNING && self->running_since_us == 0)
        self->running_since_us = g_get_monotonic_time();
    pod_probes_phase_changed(self);
    pod_agent_phase_changed(self);
    /*
     * Running and Paused are QEMU's to know: after a daemon restart the pod
     * asks QEMU (query-status) and never trusts the file for them. So a
     * switch between the two is written atomically but not synced; every
     * other change is durable before it is announced.
     */
    pod_save_or_log(self, (old == PODVM_PHASE_RUNNING && phase == PODVM_PHASE_PAUSED) ||
                                  (old == PODVM_PHASE_PAUSED && phase == PODVM_PHASE_RUNNING)
                              ? PODVM_STORE_ATOMIC
                              : PODVM_STORE_DURABLE);

    {
        const char *message_id = pod_phase_message_id(old, phase);
        g_autofree char *line = g_strdup_printf(
            "pod '%s': %s -> %s%s%s%s%s%s", self->spec->name, podvm_phase_to_string(old),
            podvm_phase_to_string(phase), reason ? " (" : "", reason ? reason : "",
            message ? ": " : "", message ? message : "", reason ? ")" : "");

        if (message_id != NULL)
            pod_log_id(self, G_LOG_LEVEL_INFO, message_id, "%s", line);
        else
            pod_log(self, G_LOG_LEVEL_INFO, "%s", line);
    }
    if (reason != NULL)
        json_object_set_string_member(details, "reason", reason);
    if (message != NULL)
        json_object_set_string_member(details, "message", message);
    json_object_set_string_member(details, "previousPhase", podvm_phase_to_string(old));
    pod_emit_event(self, "PhaseChanged", details);
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

static char *
tail_of_file(const char *path, gsize max)
{
    g_autofree char *contents = NULL;
    gsize length = 0;
    const char *start;
    const char *marker;

    if (!g_file_get_contents(path, &contents, &length, NULL) || length == 0)
        return NULL;
    start = length > max ? contents + length - max : contents;
    /* Only what this start of QEMU wrote. */
    marker = g_strrstr(start, "=== podvmd:");
    if (marker != NULL) {
        const char *eol = strchr(marker, '\n');
        start = eol != NULL ? eol + 1 : marker + strlen(marker);
    }
    return g_strstrip(g_strdup(start));
}

/* ---- lifecycle of the object ------------------------------------------ */

static void
podvm_pod_dispose(GObject *object)
{
    PodvmPod *self = PODVM_POD(object);

    podvm_pod_detach(self);
    G_OBJECT_CLASS(podvm_pod_parent_class)->dispose(object);
}

static void
podvm_pod_finalize(GObject *object)
{
    PodvmPod *self = PODVM_POD(object);

    g_clear_pointer(&self->spec, podvm_spec_free);
    g_free(self->state_dir);
    g_free(self->state_file);
    g_free(self->run_dir);
    g_free(self->qmp_path);
    g_free(self->console_path);
    g_free(self->console_log);
    g_free(self->qemu_log);
    g_free(self->reason);
    g_free(self->message);
    g_free(self->shutdown_reason);
    g_clear_pointer(&self->started_at, g_date_time_unref);
    g_clear_error(&self->start_error);
    g_ptr_array_unref(self->kill_waiters);
    g_clear_pointer(&self->prepared, g_ptr_array_unref);
    g_clear_object(&self->preparing);
    g_clear_object(&self->pool);
    g_clear_object(&self->image_store);
    g_clear_pointer(&self->volume_status, json_array_unref);
    g_clear_pointer(&self->hotplug, podvm_hotplug_free);
    g_clear_pointer(&self->start_nics, g_ptr_array_unref);
    g_clear_pointer(&self->net, pod_net_free);
    g_clear_pointer(&self->probes, pod_probes_free);
    g_clear_pointer(&self->migration_record, json_object_unref);
    g_clear_pointer(&self->migration_state, json_object_unref);
    g_clear_pointer(&self->incoming, pod_incoming_free);
    pod_apps_free(self);
    pod_agent_free(self);
    G_OBJECT_CLASS(podvm_pod_parent_class)->finalize(object);
}

/* The class handlers of "changed" and "event". */
static void
changed_next_generation(PodvmPod *self)
{
    self->generation++;
}

static void
event_next_generation(PodvmPod *self, const char *type, JsonObject *details)
{
    self->generation++;
}

static void
podvm_pod_class_init(PodvmPodClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = podvm_pod_dispose;
    object_class->finalize = podvm_pod_finalize;

    /* Every change and every event makes a new generation, before anyone hears of it. */
    signals[SIGNAL_CHANGED] = g_signal_new_class_handler(
        "changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_FIRST,
        G_CALLBACK(changed_next_generation), NULL, NULL, NULL, G_TYPE_NONE, 0);
    signals[SIGNAL_EVENT] = g_signal_new_class_handler(
        "event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_FIRST, G_CALLBACK(event_next_generation),
        NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
    signals[SIGNAL_DELETED] = g_signal_new("deleted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);
    /*
     * An event from QEMU's monitor, detailed by its name
     * ("qmp-event::DEVICE_DELETED"): how the operation files hear of the
     * events they need. (name, data: the event's "data" or NULL)
     */
    signals[SIGNAL_QMP_EVENT] = g_signal_new(
        "qmp-event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL,
        NULL, G_TYPE_NONE, 2, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
        JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
podvm_pod_init(PodvmPod *self)
{
    self->pidfd = -1;
    self->phase = PODVM_PHASE_PENDING;
    self->kill_waiters = g_ptr_array_new();
    g_queue_init(&self->queue);
    g_queue_init(&self->qmp_waiting);
}

void
podvm_pod_set_volume_pool(PodvmPod *self, PodvmVolumePool *pool)
{
    g_set_object(&self->pool, pool);
}

void
podvm_pod_set_image_store(PodvmPod *self, PodvmImageStore *store)
{
    g_set_object(&self->image_store, store);
}

/* An image's pull (a containerDisk's, an app's): "image-pull" events of this pod, at most about
 * 4 a second. */
void
pod_pull_progress_cb(const PodvmPullProgress *progress, gpointer user_data)
{
    PodvmPod *self = user_data;
    gint64 now = g_get_monotonic_time();
    g_autoptr(JsonObject) details = NULL;

    if (g_strcmp0(progress->phase, "downloading") == 0 &&
        now - self->pull_event_us < G_USEC_PER_SEC / 4)
        return;
    self->pull_event_us = now;
    details = json_object_new();
    if (progress->reference != NULL)
        json_object_set_string_member(details, "reference", progress->reference);
    json_object_set_string_member(details, "phase", progress->phase);
    json_object_set_int_member(details, "doneBytes", (gint64)progress->done_bytes);
    json_object_set_int_member(details, "totalBytes", (gint64)progress->total_bytes);
    json_object_set_int_member(details, "layersDone", progress->layers_done);
    json_object_set_int_member(details, "layersTotal", progress->layers_total);
    pod_emit_event(self, "image-pull", details);
}

void
pod_storage_context(PodvmPod *self, PodvmStorageContext *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->pod_name = self->spec->name;
    ctx->pod_uid = self->spec->uid;
    ctx->hostname = self->spec->hostname != NULL ? self->spec->hostname : self->spec->name;
    ctx->pod_state_dir = self->state_dir;
    ctx->pod_run_dir = self->run_dir;
    ctx->cache_dir = self->config->cache_dir;
    ctx->allowed_host_paths = (const char *const *)self->config->allowed_host_paths;
    ctx->qemu_img = self->config->qemu_img;
    ctx->container_disk_helper = self->config->container_disk_helper;
    ctx->pool = self->pool;
    ctx->image_store = self->image_store;
    ctx->pull_progress = pod_pull_progress_cb;
    ctx->pull_progress_owner = G_OBJECT(self);
}

/* Gives back every volume of the spec (idempotent: paths come from names). */
static void
release_volumes(PodvmPod *self)
{
    PodvmStorageContext ctx;

    pod_storage_context(self, &ctx);
    for (guint i = 0; i < self->spec->volumes->len; i++)
        podvm_storage_release(&ctx, g_ptr_array_index(self->spec->volumes, i));
    g_clear_pointer(&self->prepared, g_ptr_array_unref);
    podvm_hotplug_clear(self->hotplug);
    g_clear_pointer(&self->start_nics, g_ptr_array_unref);
    /* And the network: DHCP servers at once, CNI DEL and the namespace in the background. */
    pod_net_release_async(self, NULL, NULL);
}

static PodvmPod *
pod_new(const PodvmConfig *config, PodvmSpec *spec)
{
    PodvmPod *self = g_object_new(PODVM_TYPE_POD, NULL);

    self->config = config;
    self->spec = spec;
    self->hotplug = podvm_hotplug_new(config->spare_root_ports);
    self->state_dir = g_build_filename(config->state_dir, "pods", spec->name, NULL);
    self->state_file = g_build_filename(self->state_dir, "pod.json", NULL);
    self->console_log = g_build_filename(self->state_dir, "console.log", NULL);
    self->qemu_log = g_build_filename(self->state_dir, "qemu.log", NULL);
    self->run_dir = g_build_filename(config->run_dir, "pods", spec->name, NULL);
    self->net = pod_net_new(self->run_dir);
    self->qmp_path = g_build_filename(self->run_dir, "qmp.sock", NULL);
    self->console_path = g_build_filename(self->run_dir, "console.sock", NULL);
    return self;
}

PodvmPod *
podvm_pod_create(const PodvmConfig *config, const PodvmSpec *spec, GError **error)
{
    g_autoptr(PodvmPod) self = NULL;

    g_autofree char *pods_dir = NULL;
    g_autofree char *tmp_dir = NULL;
    g_autofree char *tmp_file = NULL;
    int saved;

    g_return_val_if_fail(spec->uid != NULL, NULL);
    self = pod_new(config, podvm_spec_copy(spec));
    /*
     * Built under a temporary name and renamed into place: a crash leaves
     * either no pod or a whole one, never a name without a pod.json.
     */
    pods_dir = g_path_get_dirname(self->state_dir);
    tmp_dir = g_strdup_printf("%s/" PODVM_POD_NEW_DIR_PREFIX "%s-XXXXXX", pods_dir, spec->name);
    if (g_mkdtemp_full(tmp_dir, 0700) == NULL) {
        saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot create the state directory of pod '%s': %s"), spec->name,
                    g_strerror(saved));
        return NULL;
    }
    podvm_fault_crash_point("create:after-mkdir");
    tmp_file = g_build_filename(tmp_dir, "pod.json", NULL);
    if (!save_to(self, tmp_file, PODVM_STORE_DURABLE, error)) {
        podvm_store_remove_tree(tmp_dir, NULL);
        return NULL;
    }
    podvm_fault_crash_point("create:after-write");
    if (syscall(SYS_renameat2, AT_FDCWD, tmp_dir, AT_FDCWD, self->state_dir, 1 /* NOREPLACE */) !=
        0) {
        saved = errno;
        podvm_store_remove_tree(tmp_dir, NULL);
        g_set_error(error, PODVM_ERROR,
                    saved == EEXIST || saved == ENOTEMPTY ? PODVM_ERROR_EXISTS : PODVM_ERROR_IO,
                    _("cannot create the state directory of pod '%s': %s"), spec->name,
                    g_strerror(saved));
        return NULL;
    }
    if (!podvm_store_sync_dir(pods_dir, error)) {
        podvm_store_remove_tree(self->state_dir, NULL);
        return NULL;
    }
    return g_steal_pointer(&self);
}

PodvmPod *
podvm_pod_load(const PodvmConfig *config, const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(config->state_dir, "pods", name, "pod.json", NULL);
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    JsonObject *obj, *status, *runtime;
    PodvmPod *self;
    const char *started;

    root = podvm_store_read_json(path, error);
    if (root == NULL)
        return NULL;
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("state file '%s' is not an object"),
                    path);
        return NULL;
    }
    obj = json_node_get_object(root);
    if (!json_object_has_member(obj, "pod")) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("state file '%s' has no pod"), path);
        return NULL;
    }
    spec = podvm_spec_parse_node(json_object_get_member(obj, "pod"), NULL, error);
    if (spec == NULL) {
        g_prefix_error(error, _("state file '%s': "), path);
        return NULL;
    }
    if (g_strcmp0(spec->name, name) != 0 || spec->uid == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("state file '%s' names another pod or has no uid"), path);
        return NULL;
    }
    self = pod_new(config, g_steal_pointer(&spec));

    status =
        json_object_has_member(obj, "status") ? json_object_get_object_member(obj, "status") : NULL;
    if (status != NULL) {
        podvm_phase_from_string(json_object_get_string_member_with_default(status, "phase", ""),
                                &self->phase);
        self->reason = g_strdup(json_object_get_string_member_with_default(status, "reason", NULL));
        self->message =
            g_strdup(json_object_get_string_member_with_default(status, "message", NULL));
        self->restart_count =
            (guint)json_object_get_int_member_with_default(status, "restartCount", 0);
        started = json_object_get_string_member_with_default(status, "startedAt", NULL);
        if (started != NULL)
            self->started_at = g_date_time_new_from_iso8601(started, NULL);
        if (json_object_has_member(status, "volumeStatus") &&
            JSON_NODE_HOLDS_ARRAY(json_object_get_member(status, "volumeStatus")))
            self->volume_status =
                json_array_ref(json_object_get_array_member(status, "volumeStatus"));
        pod_probes_load_status(self, status);
        pod_apps_load_status(self, status);
    }
    runtime = json_object_has_member(obj, "runtime") ? json_object_get_object_member(obj, "runtime")
                                                     : NULL;
    if (runtime != NULL) {
        self->qemu_pid = (int)json_object_get_int_member_with_default(runtime, "qemuPid", 0);
        self->qemu_start_ticks =
            (guint64)json_object_get_int_member_with_default(runtime, "qemuStartTicks", 0);
        self->backoff_ms = (guint)json_object_get_int_member_with_default(runtime, "backoffMs", 0);
        self->launch_pending =
            json_object_get_boolean_member_with_default(runtime, "qemuLaunchPending", FALSE);
        self->deleting = json_object_get_boolean_member_with_default(runtime, "deleting", FALSE);
        if (json_object_has_member(runtime, "migration") &&
            JSON_NODE_HOLDS_OBJECT(json_object_get_member(runtime, "migration")))
            self->migration_record =
                json_object_ref(json_object_get_object_member(runtime, "migration"));
        if (json_object_has_member(runtime, "placements") &&
            JSON_NODE_HOLDS_OBJECT(json_object_get_member(runtime, "placements")))
            podvm_hotplug_load_json(self->hotplug,
                                    json_object_get_object_member(runtime, "placements"));
        if (json_object_has_member(runtime, "network") &&
            JSON_NODE_HOLDS_OBJECT(json_object_get_member(runtime, "network")))
            pod_net_load_json(self->net, json_object_get_object_member(runtime, "network"));
    }
    return self;
}

const char *
podvm_pod_get_name(PodvmPod *self)
{
    return self->spec->name;
}

const char *
podvm_pod_get_uid(PodvmPod *self)
{
    return self->spec->uid;
}

PodvmPhase
podvm_pod_get_phase(PodvmPod *self)
{
    return self->phase;
}

void
podvm_pod_config_changed(PodvmPod *self)
{
    if (self->console != NULL)
        podvm_console_set_limits(self->console, self->config);
}

const PodvmSpec *
podvm_pod_get_spec(PodvmPod *self)
{
    return self->spec;
}

gboolean
podvm_pod_replace_spec(PodvmPod *self, const PodvmSpec *spec, GError **error)
{
    g_autoptr(GError) local = NULL;
    PodvmSpec *old = self->spec;
    PodvmSpec *copy;

    if (g_strcmp0(spec->name, self->spec->name) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the spec names pod '%s', not '%s'; a pod cannot be renamed"), spec->name,
                    self->spec->name);
        return FALSE;
    }
    if (self->deleted || podvm_phase_has_qemu(self->phase)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("pod '%s' is %s; its spec can be replaced only while it is stopped"),
                    self->spec->name, podvm_phase_to_string(self->phase));
        return FALSE;
    }
    if (self->current != NULL || !g_queue_is_empty(&self->queue)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("pod '%s' has an operation under way; its spec cannot be replaced now"),
                    self->spec->name);
        return FALSE;
    }
    copy = podvm_spec_copy(spec);
    /* The pod keeps its identity. */
    g_free(copy->uid);
    copy->uid = g_strdup(old->uid);
    self->spec = copy;
    if (!save(self, PODVM_STORE_DURABLE, &local)) {
        self->spec = old;
        podvm_spec_free(copy);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("pod '%s': cannot store the new spec: %s"), old->name, local->message);
        return FALSE;
    }
    podvm_spec_free(old);
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': spec replaced", self->spec->name);
    pod_emit_event(self, "SpecReplaced", NULL);
    g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
    return TRUE;
}

int
podvm_pod_get_qemu_pid(PodvmPod *self)
{
    return self->qemu_pid;
}

gboolean
podvm_pod_log_follow_ends(PodvmPod *self, PodvmLogFollow *follow, gboolean found_new)
{
    return podvm_log_follow_ends(follow, self->phase, found_new);
}

const char *
podvm_pod_get_console_log_path(PodvmPod *self)
{
    return self->console_log;
}

/* ---- the QEMU process -------------------------------------------------- */

/* Whether @pid is still the QEMU of this pod (and not a reused pid). */
static gboolean
process_is_our_qemu(PodvmPod *self, int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
    g_autofree char *cmdline = NULL;
    gsize length = 0;

    if (pid <= 0 || self->qemu_start_ticks == 0 ||
        podvm_host_process_start_ticks(pid) != self->qemu_start_ticks)
        return FALSE;
    if (!g_file_get_contents(path, &cmdline, &length, NULL))
        return FALSE;
    /* The uid is QEMU's -uuid: an argument of its own. */
    for (gsize i = 0; i < length; i += strlen(cmdline + i) + 1) {
        if (g_strcmp0(cmdline + i, self->spec->uid) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
clear_timers(PodvmPod *self)
{
    g_clear_handle_id(&self->grace_timer, g_source_remove);
    g_clear_handle_id(&self->quit_timer, g_source_remove);
    g_clear_handle_id(&self->exit_report_timer, g_source_remove);
}

/* Drops podvmd's ends of a QEMU (monitor, console, exit watch), never QEMU itself. */
void
pod_drop_connections(PodvmPod *self)
{
    clear_timers(self);
    if (self->qmp != NULL) {
        g_signal_handlers_disconnect_by_data(self->qmp, self);
        podvm_qmp_client_close(self->qmp);
        g_clear_object(&self->qmp);
    }
    if (self->console != NULL) {
        podvm_console_disconnect(self->console);
        g_clear_object(&self->console);
    }
    g_clear_handle_id(&self->pidfd_watch, g_source_remove);
    if (self->pidfd >= 0) {
        close(self->pidfd);
        self->pidfd = -1;
    }
    g_clear_object(&self->subprocess);
    pod_apps_drop_channel(self);
    pod_agent_drop(self);
}

/* QEMU is gone: drop our ends and the sockets it served. */
static void
release_runtime(PodvmPod *self)
{
    pod_drop_connections(self);
    pod_apps_release(self);
    pod_agent_release(self);
    (void)g_unlink(self->qmp_path);
    (void)g_unlink(self->console_path);
}

void
podvm_pod_detach(PodvmPod *self)
{
    /* The daemon is going away: leave QEMU running, drop our ends only. */
    self->detached = TRUE;
    g_clear_handle_id(&self->backoff_timer, g_source_remove);
    pod_probes_stop(self);
    pod_drop_connections(self);
    pod_adoption_done(self);
}

static void
kill_qemu(PodvmPod *self)
{
    if (self->subprocess != NULL) {
        g_subprocess_force_exit(self->subprocess);
    } else if (self->pidfd >= 0) {
        /* pidfd: never signal a bare pid that may have been reused. */
        if (syscall(SYS_pidfd_send_signal, self->pidfd, SIGKILL, NULL, 0) != 0 && errno != ESRCH)
            pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': cannot kill QEMU: %s", self->spec->name,
                    g_strerror(errno));
    }
}

static void
schedule_restart_cb_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmPod *self = PODVM_POD(source);
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_run_finish(self, result, &error))
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': restart failed: %s", self->spec->name,
                error->message);
}

static gboolean
backoff_cb(gpointer user_data)
{
    PodvmPod *self = user_data;
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;

    self->backoff_timer = 0;
    self->restart_count++;
    pod_step(self, "restarting (restart %u, restartPolicy %s)", self->restart_count,
             podvm_restart_policy_to_string(self->spec->restart_policy));
    podvm_pod_run_async(self, PODVM_POD_OP_START, &options, NULL, schedule_restart_cb_done, NULL);
    return G_SOURCE_REMOVE;
}

static void
maybe_schedule_restart(PodvmPod *self)
{
    gboolean wanted;
    guint delay;
    g_autofree char *message = NULL;

    switch (self->spec->restart_policy) {
    case PODVM_RESTART_ALWAYS:
        wanted = self->phase == PODVM_PHASE_FAILED || self->phase == PODVM_PHASE_SUCCEEDED;
        break;
    case PODVM_RESTART_ON_FAILURE:
        wanted = self->phase == PODVM_PHASE_FAILED;
        break;
    case PODVM_RESTART_NEVER:
    default:
        wanted = FALSE;
        break;
    }
    if (!wanted || self->deleted || pod_incoming_blocks_restart(self))
        return;

    if (self->running_since_us != 0 &&
        g_get_monotonic_time() - self->running_since_us > BACKOFF_RESET_US)
        self->backoff_ms = 0;
    delay = self->backoff_ms != 0 ? self->backoff_ms : self->config->restart_backoff_initial_ms;
    self->backoff_ms = MIN((guint64)delay * 2, self->config->restart_backoff_max_ms);
    message = g_strdup_printf(_("%s; restarting in %.1f s"),
                              self->message != NULL ? self->message : self->reason, delay / 1000.0);
    set_phase(self, self->phase,
              self->restart_count >= CRASH_LOOP_RESTARTS ? "CrashLoopBackOff" : self->reason,
              message);
    self->backoff_timer = g_timeout_add(delay, backoff_cb, self);
}

/* QEMU is gone: decide the pod's phase, release what it held, go on. */
static void
qemu_exited(PodvmPod *self, const char *how)
{
    g_autoptr(PodvmPod) keep = g_object_ref(self);
    g_autoptr(GPtrArray) kill_waiters = NULL;
    const char *intent = self->exit_intent;
    g_autofree char *tail = tail_of_file(self->qemu_log, 2048);
    g_autofree char *message = NULL;
    ExitContinuation continuation = self->exit_continuation;
    GTask *exit_task = self->exit_task;
    PodvmPhase apps_phase = PODVM_PHASE_FAILED;
    const char *apps_reason = NULL;

    podvm_cgroup_remove(self->spec->name);

    /* QEMU's log only says something about this start when it ran. */
    if (self->subprocess == NULL && self->pidfd < 0)
        g_clear_pointer(&tail, g_free);
    release_runtime(self);
    release_volumes(self);
    self->qemu_pid = 0;
    self->qemu_start_ticks = 0;
    self->launch_pending = FALSE;
    self->exit_intent = NULL;
    self->exit_task = NULL;
    self->exit_continuation = NULL;
    g_clear_pointer(&self->shutdown_reason, g_free);

    if (intent != NULL) {
        set_phase(self, PODVM_PHASE_STOPPED, intent, how);
    } else if (self->phase == PODVM_PHASE_STARTING || self->phase == PODVM_PHASE_INCOMING) {
        /* What QEMU said on stderr beats how we noticed (often a closed socket). */
        if (self->start_error_wins && self->start_error != NULL)
            message = g_strdup(self->start_error->message);
        else if (tail != NULL && *tail != '\0')
            message = g_strdup_printf("%s: %s", how, tail);
        else if (self->start_error != NULL)
            message = g_strdup(self->start_error->message);
        else
            message = g_strdup(how);
        set_phase(self, PODVM_PHASE_FAILED, "StartFailed", message);
    } else if (pod_apps_exit_phase(self, &apps_phase, &apps_reason, &message)) {
        /* An app guest powers off once every app has ended: their result is the pod's. */
        set_phase(self, apps_phase, apps_reason, message);
    } else if (self->guest_shutdown) {
        set_phase(self, PODVM_PHASE_SUCCEEDED, "GuestShutdown", _("the guest powered off"));
    } else {
        message = g_strdup_printf("%s%s%s", how, tail != NULL && *tail ? ": " : "",
                                  tail != NULL ? tail : "");
        set_phase(self, PODVM_PHASE_FAILED, "QemuExited", message);
    }
    self->running_since_us = 0;

    kill_waiters = g_steal_pointer(&self->kill_waiters);
    self->kill_waiters = g_ptr_array_new();
    for (guint i = 0; i < kill_waiters->len; i++) {
        GTask *task = g_ptr_array_index(kill_waiters, i);
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
    }
    if (continuation != NULL)
        continuation(self, exit_task);
    else if (intent == NULL && !self->deleted)
        maybe_schedule_restart(self);
    if (self->incoming != NULL)
        pod_incoming_qemu_gone(self);
}

static void
subprocess_wait_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmPod) self = user_data;
    GSubprocess *subprocess = G_SUBPROCESS(source);
    g_autofree char *how = NULL;

    g_subprocess_wait_finish(subprocess, result, NULL);
    if (subprocess != self->subprocess)
        return; /* detached meanwhile */
    if (g_subprocess_get_if_signaled(subprocess)) {
        int sig = g_subprocess_get_term_sig(subprocess);
        how = g_strdup_printf(_("QEMU was killed by signal %d (%s)"), sig, g_strsignal(sig));
    } else {
        how = g_strdup_printf(_("QEMU exited with status %d"),
                              g_subprocess_get_exit_status(subprocess));
    }
    qemu_exited(self, how);
}

void
pod_watch_subprocess(PodvmPod *self)
{
    g_subprocess_wait_async(self->subprocess, NULL, subprocess_wait_cb, g_object_ref(self));
}

static void
qmp_event_cb(PodvmQmpClient *qmp, const char *name, JsonObject *data, gint64 timestamp_us,
             gpointer user_data)
{
    PodvmPod *self = user_data;
    g_autoptr(JsonObject) details = json_object_new();

    if (g_strcmp0(name, "SHUTDOWN") == 0 && data != NULL) {
        self->guest_shutdown = json_object_get_boolean_member_with_default(data, "guest", FALSE);
        g_free(self->shutdown_reason);
        self->shutdown_reason =
            g_strdup(json_object_get_string_member_with_default(data, "reason", NULL));
    } else if (g_strcmp0(name, "STOP") == 0 && self->phase == PODVM_PHASE_RUNNING)
        set_phase(self, PODVM_PHASE_PAUSED, "Paused", NULL);
    else if (g_strcmp0(name, "RESUME") == 0 && self->phase == PODVM_PHASE_PAUSED)
        set_phase(self, PODVM_PHASE_RUNNING, NULL, NULL);
    /* Those who wait for an event hear of it before the fronts do. */
    g_signal_emit(self, signals[SIGNAL_QMP_EVENT], g_quark_try_string(name), name, data);

    json_object_set_string_member(details, "event", name);
    if (data != NULL)
        json_object_set_object_member(details, "data", json_object_ref(data));
    json_object_set_int_member(details, "qemuTimestampUs", timestamp_us);
    pod_emit_event(self, "QemuEvent", details);
}

/* The monitor of the pod's QEMU, its events going to qmp_event_cb(). */
void
pod_connect_qmp(PodvmPod *self, GAsyncReadyCallback callback, gpointer user_data)
{
    self->qmp = podvm_qmp_client_new();
    podvm_qmp_client_set_log_field(self->qmp, "POD_NAME", self->spec->name);
    g_signal_connect(self->qmp, "event", G_CALLBACK(qmp_event_cb), self);
    podvm_qmp_client_connect_async(self->qmp, self->qmp_path, self->config->qmp_connect_timeout_ms,
                                   NULL, callback, user_data);
}

/* ---- the operation queue (see PodOpClass) ------------------------------ */

int
podvm_pod_open_console(PodvmPod *self, gboolean replay, GError **error)
{
    if (self->console == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("pod '%s' is %s; its console is available while it runs"), self->spec->name,
                    podvm_phase_to_string(self->phase));
        return -1;
    }
    return podvm_console_open_client(self->console, replay, error);
}

int
podvm_pod_open_log(PodvmPod *self, GError **error)
{
    int fd = open(self->console_log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

    if (fd < 0) {
        int saved = errno;
        if (saved == ENOENT) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                        _("pod '%s' has no console log yet: it has not run"), self->spec->name);
        } else {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                        _("cannot open the log of pod '%s': %s"), self->spec->name,
                        g_strerror(saved));
        }
    }
    return fd;
}

/* ---- for the other pod files ------------------------------------------ */

void
pod_set_phase(PodvmPod *self, PodvmPhase phase, const char *reason, const char *message)
{
    set_phase(self, phase, reason, message);
}

void
pod_maybe_schedule_restart(PodvmPod *self)
{
    maybe_schedule_restart(self);
}

void
pod_kill_qemu(PodvmPod *self)
{
    kill_qemu(self);
}

void
pod_release_volumes(PodvmPod *self)
{
    release_volumes(self);
}

gboolean
pod_process_is_our_qemu(PodvmPod *self, int pid)
{
    return process_is_our_qemu(self, pid);
}

char *
pod_tail_of_file(const char *path, gsize max)
{
    return tail_of_file(path, max);
}

void
pod_qemu_exited(PodvmPod *self, const char *how)
{
    qemu_exited(self, how);
}

void
pod_emit_deleted(PodvmPod *self)
{
    pod_log_id(self, G_LOG_LEVEL_MESSAGE, PODVM_MESSAGE_POD_DELETED, "pod '%s' deleted",
               self->spec->name);
    g_signal_emit(self, signals[SIGNAL_DELETED], 0);
}

guint64
podvm_pod_get_generation(PodvmPod *self)
{
    return self->generation;
}

guint
podvm_pod_get_restart_count(PodvmPod *self)
{
    return self->restart_count;
}

double
podvm_pod_get_running_seconds(PodvmPod *self)
{
    if (self->phase != PODVM_PHASE_RUNNING || self->running_since_us == 0)
        return 0;
    return (double)(g_get_monotonic_time() - self->running_since_us) / G_USEC_PER_SEC;
}
