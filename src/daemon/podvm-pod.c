/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-pod.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "podvm-cgroup.h"
#include "podvm-console.h"
#include "podvm-error.h"
#include "podvm-event.h"
#include "podvm-host.h"
#include "podvm-json.h"
#include "podvm-labels.h"
#include "podvm-fault.h"
#include "podvm-qemu-argv.h"
#include "podvm-pod-private.h"
#include "podvm-qmp-client.h"
#include "podvm-qmp-policy.h"
#include "podvm-store.h"

/* Fixed fd numbers inside QEMU: the listening sockets, the kernel files, then the disks. */
#define QMP_CHILD_FD 3
#define CONSOLE_CHILD_FD 4
#define KERNEL_CHILD_FD 5
#define INITRD_CHILD_FD 6
#define FIRST_DISK_CHILD_FD 7

/* What QEMU itself may use above the guest's memory (its cgroup's MemoryMax). */
#define QEMU_MEMORY_OVERHEAD ((guint64)256 * 1024 * 1024)

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

/* The operations podvm_pod_run_async() queues: the pod's own lifecycle. */
typedef struct {
    PodOp parent;
    PodvmPodOp kind;
    PodvmPodOpOptions options;
} LifecycleOp;

static void run_next(PodvmPod *self);
static void start_op(PodvmPod *self, GTask *task);
static void kill_qemu(PodvmPod *self);
static void qemu_exited(PodvmPod *self, const char *how);
static void qmp_passthrough_cb(GObject *source, GAsyncResult *result, gpointer user_data);

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
    json_builder_set_member_name(b, "conditions");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "Ready");
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, self->phase == PODVM_PHASE_RUNNING ? "True" : "False");
    json_builder_end_object(b);
    json_builder_end_array(b);
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
podvm_pod_matches_labels(PodvmPod *self, GHashTable *selector)
{
    return podvm_label_selector_matches(selector, self->spec->labels);
}

static gboolean
save_to(PodvmPod *self, const char *path, PodvmStoreMode mode, GError **error)
{
    g_autoptr(JsonObject) root = json_object_new();
    g_autoptr(JsonObject) runtime = json_object_new();
    JsonObject *placements;
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_member(root, "pod", podvm_spec_to_json(self->spec));
    json_object_set_member(root, "status", podvm_pod_get_status_json(self));
    json_object_set_int_member(runtime, "qemuPid", self->qemu_pid);
    json_object_set_int_member(runtime, "qemuStartTicks", (gint64)self->qemu_start_ticks);
    json_object_set_int_member(runtime, "backoffMs", self->backoff_ms);
    placements = podvm_hotplug_to_json(self->hotplug);
    if (placements != NULL)
        json_object_set_object_member(runtime, "placements", placements);
    if (self->launch_pending)
        json_object_set_boolean_member(runtime, "qemuLaunchPending", TRUE);
    if (self->deleting)
        json_object_set_boolean_member(runtime, "deleting", TRUE);
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
static gboolean
save_required(PodvmPod *self, const char *point, GError **error)
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

    g_signal_emit(self, signals[SIGNAL_EVENT], 0, type, details);
}

/* Logs one step of an operation and publishes it on the event stream. */

void
pod_step(PodvmPod *self, const char *format, ...)
{
    g_autoptr(JsonObject) details = json_object_new();
    g_autofree char *text = NULL;
    va_list args;

    va_start(args, format);
    text = g_strdup_vprintf(format, args);
    va_end(args);
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': %s", self->spec->name, text);
    json_object_set_string_member(details, "message", text);
    pod_emit_event(self, "Step", details);
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

    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': %s -> %s%s%s%s%s", self->spec->name,
            podvm_phase_to_string(old), podvm_phase_to_string(phase), reason ? " (" : "",
            reason ? reason : "", message ? ": " : "", message ? message : "");
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
    g_clear_pointer(&self->hotplug, podvm_hotplug_free);
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
        if (json_object_has_member(runtime, "placements") &&
            JSON_NODE_HOLDS_OBJECT(json_object_get_member(runtime, "placements")))
            podvm_hotplug_load_json(self->hotplug,
                                    json_object_get_object_member(runtime, "placements"));
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
static void
drop_connections(PodvmPod *self)
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
}

/* QEMU is gone: drop our ends and the sockets it served. */
static void
release_runtime(PodvmPod *self)
{
    drop_connections(self);
    (void)g_unlink(self->qmp_path);
    (void)g_unlink(self->console_path);
}

static void adoption_done(PodvmPod *self);

void
podvm_pod_detach(PodvmPod *self)
{
    /* The daemon is going away: leave QEMU running, drop our ends only. */
    self->detached = TRUE;
    g_clear_handle_id(&self->backoff_timer, g_source_remove);
    drop_connections(self);
    adoption_done(self);
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
    if (!wanted || self->deleted)
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
    } else if (self->phase == PODVM_PHASE_STARTING) {
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

/* ---- the operation queue ----------------------------------------------- */

void
pod_op_return(PodvmPod *self, GTask *task, GError *error)
{
    g_assert(task == self->current);
    self->current = NULL;
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    run_next(self);
}

gboolean
pod_wrong_phase(PodvmPod *self, GTask *task, const char *what_to_do)
{
    pod_op_return(self, task,
                  g_error_new(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE, _("pod '%s' is %s; %s"),
                              self->spec->name, podvm_phase_to_string(self->phase), what_to_do));
    return FALSE;
}

/* -- QMP command latency, over every pod (for /metrics) -- */

static const double qmp_latency_bounds[PODVM_QMP_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
static guint64 qmp_latency_counts[PODVM_QMP_LATENCY_BUCKETS];
static guint64 qmp_latency_count;
static double qmp_latency_sum;

void
podvm_pod_get_qmp_latency(PodvmQmpLatency *out)
{
    out->bounds = qmp_latency_bounds;
    for (guint i = 0; i < PODVM_QMP_LATENCY_BUCKETS; i++)
        out->cumulative[i] = qmp_latency_counts[i];
    out->count = qmp_latency_count;
    out->sum_seconds = qmp_latency_sum;
}

typedef struct {
    GAsyncReadyCallback callback;
    gpointer user_data;
    gint64 start_us;
} QmpTiming;

static void
qmp_timed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    QmpTiming *timing = user_data;
    double seconds = (double)(g_get_monotonic_time() - timing->start_us) / G_USEC_PER_SEC;

    /* Buckets are cumulative, as Prometheus has them. */
    for (guint i = 0; i < PODVM_QMP_LATENCY_BUCKETS; i++)
        if (seconds <= qmp_latency_bounds[i])
            qmp_latency_counts[i]++;
    qmp_latency_count++;
    qmp_latency_sum += seconds;
    if (timing->callback != NULL)
        timing->callback(source, result, timing->user_data);
    g_free(timing);
}

/* podvm_qmp_client_execute_async(), timed. */
void
pod_qmp_execute(PodvmQmpClient *qmp, const char *command, JsonObject *arguments, guint timeout_ms,
                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    QmpTiming *timing = g_new0(QmpTiming, 1);

    timing->callback = callback;
    timing->user_data = user_data;
    timing->start_us = g_get_monotonic_time();
    podvm_qmp_client_execute_async(qmp, command, arguments, NULL, timeout_ms, cancellable,
                                   qmp_timed_cb, timing);
}

/* A QMP command on behalf of the current operation. */
static void
qmp_for_task(PodvmPod *self, GTask *task, const char *command, guint timeout_ms,
             GAsyncReadyCallback callback)
{
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                                  _("pod '%s': QEMU's monitor is not connected"),
                                  self->spec->name));
        return;
    }
    pod_qmp_execute(self->qmp, command, NULL, timeout_ms, g_task_get_cancellable(task), callback,
                    g_object_ref(task));
}

/* -- start -- */

static int
listen_unix(const char *path, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof addr.sun_path) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("socket path '%s' is too long; use a shorter run directory"), path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    (void)unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot listen on '%s': %s"), path,
                    g_strerror(saved));
        return -1;
    }
    return fd;
}

static void
start_failed_after_exit(PodvmPod *self, GTask *task)
{
    GError *error;

    if (self->phase == PODVM_PHASE_STOPPED) {
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                            _("pod '%s' was killed while it started"), self->spec->name);
    } else {
        /* A cause found before QEMU ran (a volume in use, say) keeps its own code. */
        error =
            g_error_new(PODVM_ERROR,
                        self->start_error != NULL && self->start_error->code != PODVM_ERROR_FAILED
                            ? self->start_error->code
                            : PODVM_ERROR_QEMU,
                        _("pod '%s' failed to start: %s"), self->spec->name,
                        self->message ? self->message : "");
    }
    g_clear_error(&self->start_error);
    self->start_error_wins = FALSE;
    pod_op_return(self, task, error);
    if (self->phase != PODVM_PHASE_STOPPED)
        maybe_schedule_restart(self);
}

/* Whether @task is still the start in progress (QEMU may have died meanwhile). */
static gboolean
start_in_progress(PodvmPod *self, GTask *task)
{
    return self->current == task && self->phase == PODVM_PHASE_STARTING;
}

/* Something went wrong after the spawn: kill QEMU, report once it is gone. */
static void
start_fail(PodvmPod *self, GTask *task, GError *error)
{
    if (self->start_error == NULL)
        self->start_error = podvm_error_from_component(error);
    g_error_free(error);
    self->exit_task = task;
    self->exit_continuation = start_failed_after_exit;
    if (self->subprocess != NULL || self->pidfd >= 0)
        kill_qemu(self); /* qemu_exited() continues */
    else
        qemu_exited(self, self->start_error->message);
}

static void
start_cont_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (!start_in_progress(self, task))
        return; /* QEMU died meanwhile; qemu_exited() reported through exit_task */
    if (reply == NULL) {
        start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    self->exit_task = NULL;
    self->exit_continuation = NULL;
    g_clear_pointer(&self->started_at, g_date_time_unref);
    self->started_at = g_date_time_new_now_utc();
    set_phase(self, PODVM_PHASE_RUNNING, NULL, NULL);
    pod_op_return(self, task, NULL);
}

static void
start_console_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;

    if (!podvm_console_connect_finish(PODVM_CONSOLE(source), result, &error)) {
        if (start_in_progress(self, task))
            start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    if (!start_in_progress(self, task))
        return;
    pod_step(self, "QEMU ready; resuming the guest");
    qmp_for_task(self, task, "cont", PODVM_QMP_TIMEOUT_HOTPLUG, start_cont_cb);
}

static void
start_qmp_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;

    if (!podvm_qmp_client_connect_finish(PODVM_QMP_CLIENT(source), result, &error)) {
        if (start_in_progress(self, task))
            start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    if (!start_in_progress(self, task))
        return;
    if (self->spec->autoattach_serial_console) {
        self->console =
            podvm_console_new_for_pod(self->spec->name, self->console_log, self->config);
        podvm_console_connect_async(self->console, self->console_path, NULL, start_console_cb,
                                    g_object_ref(task));
        return;
    }
    pod_step(self, "QEMU ready; resuming the guest");
    qmp_for_task(self, task, "cont", PODVM_QMP_TIMEOUT_HOTPLUG, start_cont_cb);
}

/* Who QEMU runs as; read in the child between fork and exec. */
typedef struct {
    gboolean drop;
    uid_t uid;
    gid_t gid;
} ChildCredentials;

static void
child_fail(const char *what)
{
    /* Async-signal-safe: the message goes to QEMU's log (stderr), where a failed start looks. */
    static const char prefix[] = "podvmd: cannot drop privileges before QEMU: ";
    int saved = errno;

    if (write(STDERR_FILENO, prefix, sizeof prefix - 1) < 0 ||
        write(STDERR_FILENO, what, strlen(what)) < 0 || write(STDERR_FILENO, "\n", 1) < 0)
        (void)saved;
    _exit(126);
}

static void
child_setup(gpointer user_data)
{
    const ChildCredentials *credentials = user_data;

    /* Its own session: QEMU outlives podvmd and its signals. */
    setsid();
    if (credentials == NULL || !credentials->drop)
        return;
    /*
     * QEMU never runs as root: no supplementary groups, then the group,
     * then the user (all of real, effective and saved), so every capability
     * is gone before exec. QEMU's -sandbox (elevateprivileges=deny) keeps
     * it from getting any back.
     */
    if (setgroups(0, NULL) != 0)
        child_fail("setgroups");
    if (setresgid(credentials->gid, credentials->gid, credentials->gid) != 0)
        child_fail("setresgid");
    if (setresuid(credentials->uid, credentials->uid, credentials->uid) != 0)
        child_fail("setresuid");
    if (setuid(0) == 0)
        child_fail("uid 0 could be regained");
}

static void
connect_qmp(PodvmPod *self, GAsyncReadyCallback callback, gpointer user_data)
{
    self->qmp = podvm_qmp_client_new();
    podvm_qmp_client_set_log_field(self->qmp, "PODVM_POD", self->spec->name);
    g_signal_connect(self->qmp, "event", G_CALLBACK(qmp_event_cb), self);
    podvm_qmp_client_connect_async(self->qmp, self->qmp_path, self->config->qmp_connect_timeout_ms,
                                   NULL, callback, user_data);
}

static void start_spawn(PodvmPod *self, GTask *task);
static void start_prepare_next(PodvmPod *self, GTask *task);

static void
start_prepare_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    PodvmPreparedVolume *prepared = podvm_storage_prepare_finish(result, &error);

    if (prepared == NULL) {
        const PodvmSpecDisk *disk = g_ptr_array_index(self->spec->disks, self->prepared->len);

        g_clear_object(&self->preparing);
        release_volumes(self);
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_clear_error(&error);
            error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                _("killed while preparing its volumes"));
        } else if (strstr(error->message, disk->name) == NULL) {
            /* Say which volume, unless the backend already did. */
            g_autoptr(GError) converted = podvm_error_from_component(error);
            g_clear_error(&error);
            error = g_error_new(converted->domain, converted->code, _("volume '%s': %s"),
                                disk->name, converted->message);
        }
        start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    g_ptr_array_add(self->prepared, prepared);
    start_prepare_next(self, task);
}

/* Prepares the volume of each disk in turn, then spawns QEMU. */
static void
start_prepare_next(PodvmPod *self, GTask *task)
{
    PodvmStorageContext ctx;
    const PodvmSpecDisk *disk;
    const PodvmSpecVolume *volume;

    if (g_cancellable_is_cancelled(self->preparing)) {
        g_clear_object(&self->preparing);
        release_volumes(self);
        start_fail(self, task,
                   g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                               _("killed while preparing its volumes")));
        return;
    }
    if (self->prepared->len == self->spec->disks->len) {
        g_clear_object(&self->preparing);
        start_spawn(self, task);
        return;
    }
    disk = g_ptr_array_index(self->spec->disks, self->prepared->len);
    volume = podvm_spec_find_volume(self->spec, disk->name);
    if (volume == NULL) {
        /* The parser makes every disk name a volume; a hand-edited state file may not. */
        g_clear_object(&self->preparing);
        release_volumes(self);
        start_fail(self, task,
                   g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                               _("disk '%s' names no volume"), disk->name));
        return;
    }
    if (self->prepared->len == 0)
        pod_step(self, "preparing %u volume(s)", self->spec->disks->len);
    pod_storage_context(self, &ctx);
    podvm_storage_prepare_async(&ctx, volume, disk->readonly || disk->kind == PODVM_DISK_KIND_CDROM,
                                self->preparing, start_prepare_cb, g_object_ref(task));
}

static void
start_op(PodvmPod *self, GTask *task)
{
    if (self->phase != PODVM_PHASE_PENDING && self->phase != PODVM_PHASE_STOPPED &&
        self->phase != PODVM_PHASE_SUCCEEDED && self->phase != PODVM_PHASE_FAILED) {
        pod_wrong_phase(self, task, _("it is already running"));
        return;
    }
    g_clear_handle_id(&self->backoff_timer, g_source_remove);
    g_clear_error(&self->start_error);
    self->start_error_wins = FALSE;
    self->guest_shutdown = FALSE;
    g_clear_pointer(&self->shutdown_reason, g_free);
    set_phase(self, PODVM_PHASE_STARTING, NULL, NULL);

    if (g_mkdir_with_parents(self->run_dir, 0700) != 0) {
        int saved = errno;
        start_fail(self, task,
                   g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"),
                               self->run_dir, g_strerror(saved)));
        return;
    }
    g_clear_pointer(&self->prepared, g_ptr_array_unref);
    self->prepared = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_prepared_volume_free);
    podvm_hotplug_clear(self->hotplug);
    if (self->spec->disks->len == 0) {
        start_spawn(self, task);
        return;
    }
    g_clear_object(&self->preparing);
    self->preparing = g_cancellable_new();
    start_prepare_next(self, task);
}

/* Stores "QEMU is being launched" durably; else the start fails and nothing runs. */
static gboolean
start_record_intent(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;

    self->launch_pending = TRUE;
    if (!save_required(self, "start:before-spawn", &error)) {
        self->launch_pending = FALSE;
        self->start_error_wins = TRUE;
        start_fail(self, task, g_steal_pointer(&error));
        return FALSE;
    }
    podvm_fault_crash_point("start:before-spawn");
    return TRUE;
}

/*
 * Stores the pid of the QEMU just spawned. A QEMU podvmd could not record
 * would be unknown to the next podvmd: it is ended and the start fails
 * (RELIABILITY 20 keeps a pod running on a failed write only once its
 * QEMU is on record).
 */
static gboolean
start_record_pid(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;

    self->launch_pending = FALSE;
    if (!save_required(self, "start:after-spawn", &error)) {
        g_prefix_error(&error, _("QEMU (pid %d) was ended because it could not be recorded: "),
                       self->qemu_pid);
        self->start_error_wins = TRUE;
        start_fail(self, task, g_steal_pointer(&error));
        return FALSE;
    }
    podvm_fault_crash_point("start:after-record");
    return TRUE;
}

/*
 * The kernel and initrd, opened beneath [qemu] kernel_dirs or [storage]
 * allowed_host_paths (checked at create, and here again: the file may have
 * changed since). QEMU reads what podvmd opened.
 */
static gboolean
open_kernel_files(PodvmPod *self, int *out_kernel_fd, int *out_initrd_fd, GError **error)
{
    g_auto(GStrv) roots = podvm_config_kernel_roots(self->config);
    const char *paths[] = { self->spec->kernel_path, self->spec->initrd_path };
    const char *fields[] = { "spec.domain.firmware.kernelBoot.kernelPath",
                             "spec.domain.firmware.kernelBoot.initrdPath" };
    int fds[] = { -1, -1 };

    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        struct stat st;

        if (paths[i] == NULL)
            continue;
        fds[i] = podvm_storage_open_host_path(paths[i], (const char *const *)roots,
                                              O_RDONLY | O_NOCTTY, 0, NULL, error);
        if (fds[i] >= 0 && (fstat(fds[i], &st) != 0 || !S_ISREG(st.st_mode))) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("'%s' is not a regular file"), paths[i]);
            close(fds[i]);
            fds[i] = -1;
        }
        if (fds[i] < 0) {
            g_prefix_error(error, "%s: ", fields[i]);
            if (i == 1 && fds[0] >= 0)
                close(fds[0]);
            return FALSE;
        }
    }
    *out_kernel_fd = fds[0];
    *out_initrd_fd = fds[1];
    return TRUE;
}

static void
start_spawn(PodvmPod *self, GTask *task)
{
    LifecycleOp *op = pod_op_of(task);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *banner = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *now_text = g_date_time_format_iso8601(now);
    PodvmQemuArgvContext ctx = { 0 };
    const char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C", NULL };
    int qmp_fd = -1, console_fd = -1, log_fd;
    int kernel_fd = -1, initrd_fd = -1, console_log_fd = -1;
    int next_fd = FIRST_DISK_CHILD_FD;
    guint next_fdset = 1;
    ChildCredentials *credentials;

    if (!open_kernel_files(self, &kernel_fd, &initrd_fd, &error)) {
        g_clear_pointer(&self->prepared, g_ptr_array_unref);
        start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    qmp_fd = listen_unix(self->qmp_path, &error);
    if (qmp_fd >= 0 && self->spec->autoattach_serial_console)
        console_fd = listen_unix(self->console_path, &error);
    if (error != NULL) {
        if (qmp_fd >= 0)
            close(qmp_fd);
        if (kernel_fd >= 0)
            close(kernel_fd);
        if (initrd_fd >= 0)
            close(initrd_fd);
        if (console_log_fd >= 0)
            close(console_log_fd);
        g_clear_pointer(&self->prepared, g_ptr_array_unref);
        start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    /* Disks podvmd opened go to QEMU in fd sets 1, 2, ... (spec order). */
    for (guint i = 0; self->prepared != NULL && i < self->prepared->len; i++) {
        PodvmPreparedVolume *prepared = g_ptr_array_index(self->prepared, i);

        if (prepared->fd < 0)
            continue;
        prepared->qemu_fd = next_fd++;
        prepared->fdset = next_fdset++;
        prepared->in_fdset = TRUE;
        if (prepared->backing_fd >= 0) {
            prepared->backing_qemu_fd = next_fd++;
            prepared->backing_fdset = next_fdset++;
            prepared->backing_in_fdset = TRUE;
        }
    }
    /* The console log: QEMU appends to what podvmd opened. */
    if (self->spec->autoattach_serial_console) {
        console_log_fd =
            open(self->console_log,
                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (console_log_fd < 0)
            pod_log(self, G_LOG_LEVEL_MESSAGE, "cannot open the console log '%s': %s",
                    self->console_log, g_strerror(errno));
    }

    ctx.qemu_binary = self->config->qemu_binary;
    ctx.accel = self->config->accel;
    ctx.uid = self->spec->uid;
    ctx.qmp_socket = self->qmp_path;
    ctx.console_socket = self->console_path;
    ctx.console_log = self->console_log;
    ctx.qmp_listen_fd = QMP_CHILD_FD;
    ctx.console_listen_fd = console_fd >= 0 ? CONSOLE_CHILD_FD : -1;
    ctx.host_cpus = self->config->host_cpus;
    ctx.debug = op->options.debug;
    ctx.prepared_volumes = self->prepared;
    ctx.spare_root_ports = self->config->spare_root_ports;
    ctx.kernel_fd = kernel_fd >= 0 ? KERNEL_CHILD_FD : 0;
    ctx.initrd_fd = initrd_fd >= 0 ? INITRD_CHILD_FD : 0;
    ctx.console_log_fd = console_log_fd >= 0 ? next_fd : 0;
    argv = podvm_qemu_argv_build(self->spec, &ctx, &error);
    if (argv == NULL) {
        close(qmp_fd);
        if (console_fd >= 0)
            close(console_fd);
        if (kernel_fd >= 0)
            close(kernel_fd);
        if (initrd_fd >= 0)
            close(initrd_fd);
        if (console_log_fd >= 0)
            close(console_log_fd);
        g_clear_pointer(&self->prepared, g_ptr_array_unref);
        start_fail(self, task, g_steal_pointer(&error));
        return;
    }

    /* QEMU's stdout and stderr, appended, with a banner per start. */
    log_fd = open(self->qemu_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (log_fd >= 0) {
        banner = g_strdup_printf("=== podvmd: starting QEMU at %s ===\n", now_text);
        if (write(log_fd, banner, strlen(banner)) < 0)
            pod_log(self, G_LOG_LEVEL_DEBUG, "cannot write the QEMU log banner");
    }

    credentials = g_new0(ChildCredentials, 1);
    credentials->drop = self->config->qemu_drop_privileges;
    credentials->uid = (uid_t)self->config->qemu_uid;
    credentials->gid = (gid_t)self->config->qemu_gid;
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_set_environ(launcher, (char **)env);
    g_subprocess_launcher_set_child_setup(launcher, child_setup, credentials, g_free);
    if (log_fd >= 0) {
        g_subprocess_launcher_take_stdout_fd(launcher, dup(log_fd));
        g_subprocess_launcher_take_stderr_fd(launcher, log_fd);
    }
    g_subprocess_launcher_take_fd(launcher, qmp_fd, QMP_CHILD_FD);
    if (console_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, console_fd, CONSOLE_CHILD_FD);
    if (kernel_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, kernel_fd, KERNEL_CHILD_FD);
    if (initrd_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, initrd_fd, INITRD_CHILD_FD);
    for (guint i = 0; self->prepared != NULL && i < self->prepared->len; i++) {
        PodvmPreparedVolume *prepared = g_ptr_array_index(self->prepared, i);

        if (prepared->in_fdset) {
            g_subprocess_launcher_take_fd(launcher, prepared->fd, prepared->qemu_fd);
            prepared->fd = -1;
        }
        if (prepared->backing_in_fdset) {
            g_subprocess_launcher_take_fd(launcher, prepared->backing_fd,
                                          prepared->backing_qemu_fd);
            prepared->backing_fd = -1;
        }
    }
    if (console_log_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, console_log_fd, ctx.console_log_fd);
    /* The argv holds what they were prepared into; release() needs only the spec. */
    g_clear_pointer(&self->prepared, g_ptr_array_unref);

    /* The intent first: a restart that finds it looks for a QEMU with the pod's uid. */
    if (!start_record_intent(self, task))
        return;
    self->subprocess = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, &error);
    if (self->subprocess == NULL) {
        g_prefix_error(&error, _("cannot run QEMU '%s': "), self->config->qemu_binary);
        start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    self->qemu_pid = atoi(g_subprocess_get_identifier(self->subprocess));
    podvm_hotplug_place_boot_devices(self->hotplug, self->spec);
    self->qemu_start_ticks = podvm_host_process_start_ticks(self->qemu_pid);
    /* Its own cgroup: the guest's memory and 256 MiB for QEMU; its vCPUs and one more. */
    podvm_cgroup_place(
        self->spec->name, self->qemu_pid,
        podvm_spec_resolve_memory(self->spec) + QEMU_MEMORY_OVERHEAD,
        ((guint64)podvm_spec_resolve_vcpus(self->spec, self->config->host_cpus) + 1) * 1000);
    g_subprocess_wait_async(self->subprocess, NULL, subprocess_wait_cb, g_object_ref(self));
    /* If QEMU dies before it is running, qemu_exited() reports to this task. */
    self->exit_task = task;
    self->exit_continuation = start_failed_after_exit;
    podvm_fault_crash_point("start:after-spawn");
    if (!start_record_pid(self, task))
        return;
    pod_step(self, "QEMU started (pid %d, accelerator %s)", self->qemu_pid,
             podvm_accel_to_string(self->config->accel));
    connect_qmp(self, start_qmp_cb, g_object_ref(task));
}

/* -- stop, kill, restart, delete -- */

static gboolean
quit_timeout_cb(gpointer user_data)
{
    PodvmPod *self = user_data;

    self->quit_timer = 0;
    pod_step(self, "QEMU did not quit within %u ms; sending SIGKILL",
             self->config->stop_quit_timeout_ms);
    kill_qemu(self);
    return G_SOURCE_REMOVE;
}

static void
quit_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    /* A closed socket is the expected answer to quit; the exit is what counts. */
    if (reply == NULL && !g_error_matches(error, PODVM_QMP_ERROR, PODVM_QMP_ERROR_CLOSED))
        g_debug("quit: %s", error->message);
}

static void
send_quit(PodvmPod *self)
{
    pod_step(self, "asking QEMU to quit");
    if (self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp))
        pod_qmp_execute(self->qmp, "quit", NULL, PODVM_QMP_TIMEOUT_DEFAULT, NULL, quit_cb, NULL);
    g_clear_handle_id(&self->quit_timer, g_source_remove);
    self->quit_timer = g_timeout_add(self->config->stop_quit_timeout_ms, quit_timeout_cb, self);
}

static gboolean
grace_timeout_cb(gpointer user_data)
{
    PodvmPod *self = user_data;

    self->grace_timer = 0;
    pod_step(self, "the guest did not power off within the grace period");
    send_quit(self);
    return G_SOURCE_REMOVE;
}

static void
powerdown_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(GError) error = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (reply == NULL)
        g_debug("system_powerdown: %s", error->message);
}

/* Stops QEMU the graceful way and calls @continuation once it has exited. */
static void
begin_stop(PodvmPod *self, GTask *task, gint64 grace_seconds, ExitContinuation continuation)
{
    PodvmPhase was = self->phase;

    if (grace_seconds == PODVM_POD_GRACE_FROM_SPEC)
        grace_seconds = self->spec->termination_grace_period_seconds;
    self->exit_intent = "Stopped";
    self->exit_task = task;
    self->exit_continuation = continuation;
    set_phase(self, PODVM_PHASE_STOPPING, NULL, NULL);

    if (was == PODVM_PHASE_PAUSED) {
        /* A paused guest cannot handle ACPI: there is nothing to wait for. */
        pod_step(self, "the guest is paused; skipping ACPI power-down");
        send_quit(self);
    } else if (grace_seconds == 0) {
        send_quit(self);
    } else {
        pod_step(self, "sent ACPI power-down; waiting up to %" G_GINT64_FORMAT " s for the guest",
                 grace_seconds);
        if (self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp))
            pod_qmp_execute(self->qmp, "system_powerdown", NULL, PODVM_QMP_TIMEOUT_DEFAULT, NULL,
                            powerdown_cb, NULL);
        /* Not g_timeout_add_seconds(): it rounds, and may end the grace period early. */
        self->grace_timer = g_timeout_add((guint)grace_seconds * 1000, grace_timeout_cb, self);
    }
}

static void
stop_done(PodvmPod *self, GTask *task)
{
    pod_op_return(self, task, NULL);
}

static void
restart_stopped(PodvmPod *self, GTask *task)
{
    start_op(self, task);
}

/*
 * The last steps of a delete, once no QEMU runs: give back the volumes,
 * then take the state directory out of the pod namespace in one rename
 * and remove it. The pod was marked deleting before: a crash on the way
 * makes the next podvmd finish the job.
 */
static gboolean
delete_now(PodvmPod *self, GError **error)
{
    g_autofree char *pods_dir = g_path_get_dirname(self->state_dir);
    g_autofree char *trash = NULL;
    PodvmStorageContext ctx;

    g_clear_handle_id(&self->backoff_timer, g_source_remove);
    pod_storage_context(self, &ctx);
    for (guint i = 0; i < self->spec->volumes->len; i++)
        podvm_storage_delete(&ctx, g_ptr_array_index(self->spec->volumes, i));
    podvm_fault_crash_point("delete:after-release");
    trash = g_strdup_printf("%s/" PODVM_POD_DELETED_DIR_PREFIX "%s-%s", pods_dir, self->spec->name,
                            self->spec->uid);
    if (g_rename(self->state_dir, trash) != 0 && errno != ENOENT) {
        int saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot remove '%s': %s"),
                    self->state_dir, g_strerror(saved));
        return FALSE;
    }
    /* Left-overs of either are removed at the next start-up. */
    if (!podvm_store_remove_tree(self->run_dir, error) || !podvm_store_remove_tree(trash, error))
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': %s", self->spec->name, (*error)->message);
    g_clear_error(error);
    self->deleted = TRUE;
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': deleted", self->spec->name);
    return TRUE;
}

static void
delete_files(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;

    if (!delete_now(self, &error)) {
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    pod_op_return(self, task, NULL);
    g_signal_emit(self, signals[SIGNAL_DELETED], 0);
}

/* -- the lifecycle operations (podvm_pod_run_async) -- */

static void
lifecycle_op_free(PodOp *op)
{
    g_free(op);
}

static void
delete_strays_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    g_autofree char *ended = pod_end_qemus_finish(self, result);

    delete_files(self, task);
}

/* Delete, once marked: QEMU goes first (ours, or any other with the pod's uid). */
static void
delete_op(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GHashTable) qemus = NULL;

    self->deleting = TRUE;
    if (!save_required(self, "delete:mark", &error)) {
        self->deleting = FALSE;
        g_prefix_error(&error, _("cannot mark it for deletion: "));
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    podvm_fault_crash_point("delete:after-mark");
    if (podvm_phase_has_qemu(self->phase) && (self->subprocess != NULL || self->pidfd >= 0)) {
        self->exit_intent = "Killed";
        self->exit_task = task;
        self->exit_continuation = delete_files;
        pod_step(self, "deleting with force: killing QEMU");
        kill_qemu(self);
        return;
    }
    /* No QEMU of ours; one podvmd lost track of must not outlive the pod. */
    drop_connections(self);
    qemus = podvm_pod_scan_qemus();
    pod_end_qemus_async(self, g_hash_table_lookup(qemus, self->spec->uid), -1, delete_strays_cb,
                        g_object_ref(task));
}

static void
pause_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    LifecycleOp *op = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (self->current != task)
        return;
    if (reply == NULL) {
        pod_op_return(self, task, podvm_error_from_component(error));
        return;
    }
    /* The STOP/RESUME event usually came first; this is for when it did not. */
    if (op->kind == PODVM_POD_OP_PAUSE && self->phase == PODVM_PHASE_RUNNING)
        set_phase(self, PODVM_PHASE_PAUSED, "Paused", NULL);
    else if (op->kind == PODVM_POD_OP_RESUME && self->phase == PODVM_PHASE_PAUSED)
        set_phase(self, PODVM_PHASE_RUNNING, NULL, NULL);
    pod_op_return(self, task, NULL);
}

static void
stop_op(PodvmPod *self, GTask *task)
{
    LifecycleOp *op = pod_op_of(task);

    if (!podvm_phase_has_qemu(self->phase)) {
        if (self->backoff_timer != 0) {
            /* Stopping a pod that waits to restart: it stays down. */
            g_clear_handle_id(&self->backoff_timer, g_source_remove);
            set_phase(self, PODVM_PHASE_STOPPED, "Stopped", NULL);
            pod_op_return(self, task, NULL);
            return;
        }
        pod_wrong_phase(self, task, _("there is nothing to stop"));
        return;
    }
    begin_stop(self, task, op->options.grace_seconds, stop_done);
}

static void
restart_op(PodvmPod *self, GTask *task)
{
    LifecycleOp *op = pod_op_of(task);

    if (!podvm_phase_has_qemu(self->phase)) {
        start_op(self, task);
        return;
    }
    begin_stop(self, task, op->options.grace_seconds, restart_stopped);
}

static void
pause_op(PodvmPod *self, GTask *task)
{
    if (self->phase == PODVM_PHASE_PAUSED) {
        pod_op_return(self, task, NULL);
        return;
    }
    if (self->phase != PODVM_PHASE_RUNNING) {
        pod_wrong_phase(self, task, _("only a running pod can be paused"));
        return;
    }
    qmp_for_task(self, task, "stop", PODVM_QMP_TIMEOUT_DEFAULT, pause_cb);
}

static void
resume_op(PodvmPod *self, GTask *task)
{
    if (self->phase == PODVM_PHASE_RUNNING) {
        pod_op_return(self, task, NULL);
        return;
    }
    if (self->phase != PODVM_PHASE_PAUSED) {
        pod_wrong_phase(self, task, _("only a paused pod can be resumed"));
        return;
    }
    qmp_for_task(self, task, "cont", PODVM_QMP_TIMEOUT_HOTPLUG, pause_cb);
}

static void
delete_run(PodvmPod *self, GTask *task)
{
    LifecycleOp *op = pod_op_of(task);

    if (podvm_phase_has_qemu(self->phase) && !op->options.force) {
        pod_wrong_phase(self, task, _("stop it first, or delete it with force"));
        return;
    }
    delete_op(self, task);
}

/* Kill has none: it does not wait in line. */
static const PodOpClass lifecycle_classes[] = {
    [PODVM_POD_OP_START] = { "start", start_op, lifecycle_op_free },
    [PODVM_POD_OP_STOP] = { "stop", stop_op, lifecycle_op_free },
    [PODVM_POD_OP_PAUSE] = { "pause", pause_op, lifecycle_op_free },
    [PODVM_POD_OP_RESUME] = { "resume", resume_op, lifecycle_op_free },
    [PODVM_POD_OP_RESTART] = { "restart", restart_op, lifecycle_op_free },
    [PODVM_POD_OP_DELETE] = { "delete", delete_run, lifecycle_op_free },
};

/* -- the queue -- */

static void
run_op(PodvmPod *self, GTask *task)
{
    PodOp *op = pod_op_of(task);

    if (g_task_return_error_if_cancelled(task)) {
        self->current = NULL;
        g_object_unref(task);
        run_next(self);
        return;
    }
    pod_log(self, G_LOG_LEVEL_DEBUG, "pod '%s': operation %s", self->spec->name, op->klass->name);
    op->klass->run(self, task);
}

static gboolean
run_next_idle_cb(gpointer user_data)
{
    g_autoptr(PodvmPod) self = user_data;

    if (self->current == NULL && !g_queue_is_empty(&self->queue)) {
        self->current = g_queue_pop_head(&self->queue);
        run_op(self, self->current);
    }
    return G_SOURCE_REMOVE;
}

static void
run_next(PodvmPod *self)
{
    /* From an idle: never re-enter an operation from another's completion. */
    if (self->current == NULL && !g_queue_is_empty(&self->queue))
        g_idle_add(run_next_idle_cb, g_object_ref(self));
}

GTask *
pod_op_task_new(PodvmPod *self, const PodOpClass *klass, PodOp *op, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);

    g_task_set_source_tag(task, podvm_pod_run_async);
    op->klass = klass;
    g_task_set_task_data(task, op, (GDestroyNotify)klass->free);
    return task;
}

void
pod_op_enqueue(PodvmPod *self, GTask *task)
{
    if (self->deleted) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("pod '%s' was deleted"),
                                self->spec->name);
        g_object_unref(task);
        return;
    }
    if (self->current == NULL && g_queue_is_empty(&self->queue)) {
        /* Nothing ahead of it, and never called from an operation's completion: run it now. */
        self->current = task;
        run_op(self, task);
        return;
    }
    g_queue_push_tail(&self->queue, task);
    run_next(self);
}

gboolean
podvm_pod_op_options_check(const PodvmPodOpOptions *options, GError **error)
{
    gint64 grace = options->grace_seconds;

    if (grace != PODVM_POD_GRACE_FROM_SPEC && (grace < 0 || grace > PODVM_SPEC_MAX_GRACE_SECONDS)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the grace period must be a whole number of seconds from 0 to %d, not "
                      "%" G_GINT64_FORMAT),
                    PODVM_SPEC_MAX_GRACE_SECONDS, grace);
        return FALSE;
    }
    return TRUE;
}

void
podvm_pod_run_async(PodvmPod *self, PodvmPodOp op, const PodvmPodOpOptions *options,
                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;
    g_autoptr(GError) error = NULL;
    LifecycleOp *lifecycle;
    PodvmPodOpOptions defaults = PODVM_POD_OP_OPTIONS_INIT;

    g_return_if_fail(op < G_N_ELEMENTS(op_names));
    if (op == PODVM_POD_OP_KILL) {
        task = g_task_new(self, cancellable, callback, user_data);
        g_task_set_source_tag(task, podvm_pod_run_async);
    } else {
        lifecycle = g_new0(LifecycleOp, 1);
        lifecycle->kind = op;
        lifecycle->options = options != NULL ? *options : defaults;
        task = pod_op_task_new(self, &lifecycle_classes[op], &lifecycle->parent, cancellable,
                               callback, user_data);
    }
    if (options != NULL && !podvm_pod_op_options_check(options, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }

    if (self->deleted) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("pod '%s' was deleted"),
                                self->spec->name);
        return;
    }
    if (op == PODVM_POD_OP_KILL) {
        /* Kill does not wait in line: it is what ends a stuck operation. */
        if (self->preparing != NULL) {
            /* No QEMU yet: stop preparing its volumes instead. */
            self->exit_intent = "Killed";
            pod_step(self, "killing the pod while it prepares its volumes");
            g_ptr_array_add(self->kill_waiters, g_steal_pointer(&task));
            g_cancellable_cancel(self->preparing);
            return;
        }
        if (self->subprocess == NULL && self->pidfd < 0) {
            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                    _("pod '%s' is %s; there is nothing to kill"), self->spec->name,
                                    podvm_phase_to_string(self->phase));
            return;
        }
        if (self->exit_intent == NULL || self->phase == PODVM_PHASE_STARTING)
            self->exit_intent = "Killed";
        pod_step(self, "killing QEMU (SIGKILL)");
        g_ptr_array_add(self->kill_waiters, g_steal_pointer(&task));
        kill_qemu(self);
        return;
    }
    g_queue_push_tail(&self->queue, g_steal_pointer(&task));
    run_next(self);
}

gboolean
podvm_pod_run_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- passthrough, console, log ---------------------------------------- */

static void
qmp_passthrough_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;
    JsonNode *reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (reply == NULL)
        g_task_return_error(task, podvm_error_from_component(error));
    else
        g_task_return_pointer(task, reply, (GDestroyNotify)json_node_unref);
}

/* A passthrough call that came while the pod was being adopted after a restart. */
typedef struct {
    PodvmPod *self; /* unowned: the pod flushes its waiters before it goes */
    GTask *task;    /* owned; task data: the command */
    guint timeout_id;
} QmpWaiter;

static void
qmp_waiter_run(QmpWaiter *waiter)
{
    PodvmPod *self = waiter->self;
    GTask *task = waiter->task;
    JsonObject *obj = json_node_get_object(g_task_get_task_data(task));

    g_clear_handle_id(&waiter->timeout_id, g_source_remove);
    g_queue_remove(&self->qmp_waiting, waiter);
    g_free(waiter);
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; QEMU's monitor is not connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        g_object_unref(task);
        return;
    }
    pod_qmp_execute(
        self->qmp, json_object_get_string_member(obj, "execute"),
        json_object_has_member(obj, "arguments") ? json_object_get_object_member(obj, "arguments")
                                                 : NULL,
        PODVM_QMP_TIMEOUT_HOTPLUG, g_task_get_cancellable(task), qmp_passthrough_cb, task);
}

static gboolean
qmp_waiter_timeout_cb(gpointer user_data)
{
    QmpWaiter *waiter = user_data;

    waiter->timeout_id = 0;
    qmp_waiter_run(waiter);
    return G_SOURCE_REMOVE;
}

/* Holds @task until the adoption is over (or a timeout), then runs it. */
static void
qmp_wait_for_adoption(PodvmPod *self, GTask *task, JsonNode *command)
{
    QmpWaiter *waiter = g_new0(QmpWaiter, 1);

    waiter->self = self;
    waiter->task = task;
    g_task_set_task_data(task, json_node_copy(command), (GDestroyNotify)json_node_unref);
    waiter->timeout_id =
        g_timeout_add(self->config->qmp_connect_timeout_ms + PODVM_QMP_TIMEOUT_QUERY,
                      qmp_waiter_timeout_cb, waiter);
    g_queue_push_tail(&self->qmp_waiting, waiter);
}

/* The adoption is over: the waiting passthrough calls go on, in order. */
static void
adoption_done(PodvmPod *self)
{
    self->adopting = FALSE;
    while (!g_queue_is_empty(&self->qmp_waiting))
        qmp_waiter_run(g_queue_peek_head(&self->qmp_waiting));
}

void
podvm_pod_qmp_async(PodvmPod *self, JsonNode *command, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    JsonObject *obj = JSON_NODE_HOLDS_OBJECT(command) ? json_node_get_object(command) : NULL;
    JsonNode *execute_node = obj != NULL ? json_object_get_member(obj, "execute") : NULL;
    JsonNode *arguments_node = obj != NULL ? json_object_get_member(obj, "arguments") : NULL;
    const char *execute = NULL;
    JsonObject *arguments = NULL;
    GError *error = NULL;

    g_task_set_source_tag(task, podvm_pod_qmp_async);
    if (execute_node != NULL && JSON_NODE_HOLDS_VALUE(execute_node) &&
        json_node_get_value_type(execute_node) == G_TYPE_STRING)
        execute = json_node_get_string(execute_node);
    if (arguments_node != NULL && JSON_NODE_HOLDS_OBJECT(arguments_node))
        arguments = json_node_get_object(arguments_node);
    if (execute == NULL || (arguments_node != NULL && arguments == NULL)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                                _("a QMP command is an object with \"execute\" and optionally "
                                  "\"arguments\""));
        return;
    }
    /* What may reach QEMU (running as root): one policy, for every front. */
    if (!podvm_qmp_policy_check(self->config->qmp_passthrough, execute, arguments, &error)) {
        g_task_return_error(task, error);
        return;
    }
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        if (self->adopting) {
            /* Just after a daemon restart: wait for the monitor rather than fail. */
            qmp_wait_for_adoption(self, g_steal_pointer(&task), command);
            return;
        }
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; QEMU's monitor is not connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        return;
    }
    pod_qmp_execute(self->qmp, execute, arguments, PODVM_QMP_TIMEOUT_HOTPLUG, cancellable,
                    qmp_passthrough_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_pod_qmp_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
podvm_pod_query_async(PodvmPod *self, const char *command, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = NULL;

    g_return_if_fail(g_str_has_prefix(command, "query-"));
    task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, podvm_pod_query_async);
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; QEMU's monitor is not connected"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        return;
    }
    /* The same answer as the passthrough's: QEMU's "return", errors converted. */
    pod_qmp_execute(self->qmp, command, NULL, PODVM_QMP_TIMEOUT_QUERY, cancellable,
                    qmp_passthrough_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_pod_query_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

JsonNode *
podvm_qmp_command_parse(const char *text, gssize length, GError **error)
{
    g_autoptr(GError) local = NULL;
    JsonNode *root = podvm_json_parse(text, length, &local);

    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the QMP command is not valid JSON: %s"), local->message);
        return NULL;
    }
    return root;
}

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

/* ---- for podvm-pod-recover.c (adoption after a daemon restart) -------- */

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
pod_send_quit(PodvmPod *self)
{
    send_quit(self);
}

void
pod_release_volumes(PodvmPod *self)
{
    release_volumes(self);
}

void
pod_connect_qmp(PodvmPod *self, GAsyncReadyCallback callback, gpointer user_data)
{
    connect_qmp(self, callback, user_data);
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

gboolean
pod_delete_now(PodvmPod *self, GError **error)
{
    return delete_now(self, error);
}

void
pod_emit_deleted(PodvmPod *self)
{
    g_signal_emit(self, signals[SIGNAL_DELETED], 0);
}

void
pod_adoption_done(PodvmPod *self)
{
    adoption_done(self);
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
