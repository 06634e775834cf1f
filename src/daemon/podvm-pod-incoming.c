/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the target side (README "Live migration"): an Incoming
 * pod. Its start is the normal start (podvm-pod-start.c) in phase
 * Incoming: volumes prepared as for any start (an emptyDisk is new, so
 * empty; a containerDisk's overlay is new over the local cache; cloud-init
 * is made again), the network with the source's MACs, QEMU spawned with
 * -incoming defer. Then, instead of `cont`: the links go down (the guest
 * must not be seen twice), migrate-set-capabilities, an NBD server with a
 * writable export per copied disk, migrate-incoming, and the answer.
 *
 * QEMU runs unprivileged and cannot reach the pod's run directory, so
 * podvmd makes its sockets: the NBD server listens on RUN/pods/NAME/nbd.sock,
 * bound by podvmd and given to QEMU by getfd (nbd-server-start on an fd),
 * and each NBD stream the source opens over the peer API is a connection
 * to it; the migration stream, when it comes, gets one end of a socket pair
 * (getfd, migrate-incoming fd:). podvmd relays the bytes (podvm-relay.h).
 *
 * MIGRATION "completed" is recorded durably; finish then removes the
 * exports, brings the links up, `cont`s, announces the guest and clears
 * the record. Anything that goes wrong before the pod runs here (abort,
 * QEMU's exit, a relay that failed before completion, no bytes for
 * [migration] no_progress_timeout_ms) tears the pod down completely: QEMU
 * killed, network released, storage and files removed, the pod gone
 * ("deleted"), as if it never existed here. A restart (pod_incoming_recover)
 * completes a finish whose record says "activating" and tears down
 * anything else.
 */
#include "podvm-pod-incoming-private.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-event.h"
#include "podvm-fault.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"
#include "podvm-qemu-devices.h"
#include "migration/podvm-relay.h"

/* How often the relays' byte counts are looked at. */
#define PROGRESS_INTERVAL_MS 500

static const char *const state_names[] = {
    [PODVM_INCOMING_PREPARING] = "preparing", [PODVM_INCOMING_WAITING] = "waiting",
    [PODVM_INCOMING_RECEIVING] = "receiving", [PODVM_INCOMING_COMPLETED] = "completed",
    [PODVM_INCOMING_RUNNING] = "running",     [PODVM_INCOMING_FAILED] = "failed",
};

const char *
podvm_incoming_state_to_string(PodvmIncomingState state)
{
    g_return_val_if_fail(state < G_N_ELEMENTS(state_names), "failed");
    return state_names[state];
}

static void
incoming_relay_free(IncomingRelay *ir)
{
    ir->incoming = NULL;
    g_clear_pointer(&ir->relay, podvm_relay_free);
    g_free(ir->channel);
    g_free(ir);
}

/* Ends every relay; their done callbacks see no job any more. */
static void
close_relays(PodIncoming *in)
{
    for (guint i = 0; i < in->relays->len; i++) {
        IncomingRelay *ir = g_ptr_array_index(in->relays, i);
        ir->incoming = NULL;
    }
    g_ptr_array_set_size(in->relays, 0);
}

/* Stops watching: timers, events, relays. */
void
pod_incoming_quiesce(PodIncoming *in)
{
    g_clear_handle_id(&in->progress_timer, g_source_remove);
    if (in->event_handler != 0 && in->pod != NULL)
        g_signal_handler_disconnect(in->pod, in->event_handler);
    in->event_handler = 0;
    close_relays(in);
}

void
pod_incoming_free(PodIncoming *in)
{
    if (in == NULL)
        return;
    pod_incoming_quiesce(in);
    g_ptr_array_unref(in->relays);
    g_clear_pointer(&in->disks, g_ptr_array_unref);
    g_free(in->id);
    g_free(in->secret);
    g_free(in->message);
    g_free(in->nbd_socket);
    g_free(in);
}

static PodvmMigrationDisk *
disk_copy(const PodvmMigrationDisk *disk)
{
    PodvmMigrationDisk *copy = g_new0(PodvmMigrationDisk, 1);

    copy->name = g_strdup(disk->name);
    copy->size = disk->size;
    copy->export_name = g_strdup(disk->export_name);
    return copy;
}

PodIncoming *
pod_incoming_new(PodvmPod *self, const char *id, const char *secret)
{
    PodIncoming *in = g_new0(PodIncoming, 1);

    in->pod = self;
    in->id = g_strdup(id);
    in->secret = g_strdup(secret);
    in->disks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_migration_disk_free);
    in->relays = g_ptr_array_new_with_free_func((GDestroyNotify)incoming_relay_free);
    in->nbd_socket = g_build_filename(self->run_dir, "nbd.sock", NULL);
    return in;
}

/* The export's name and the block export's id of a copied disk. */
static char *
export_name_of(const char *disk)
{
    return g_strconcat("podvm-", disk, NULL);
}

char *
pod_incoming_export_id_of(const char *disk)
{
    return g_strconcat("mig-", disk, NULL);
}

/* ---- the record -------------------------------------------------------------------------- */

void
pod_incoming_record_set_phase(PodvmPod *self, const char *phase)
{
    if (self->migration_record != NULL)
        json_object_set_string_member(self->migration_record, "phase", phase);
}

static JsonObject *
record_new(PodIncoming *in)
{
    JsonObject *record = json_object_new();
    JsonArray *disks = json_array_new();

    json_object_set_string_member(record, "role", "target");
    json_object_set_string_member(record, "id", in->id);
    json_object_set_string_member(record, "secret", in->secret);
    json_object_set_null_member(record, "peer");
    json_object_set_string_member(record, "phase", "preparing");
    for (guint i = 0; i < in->disks->len; i++) {
        const PodvmMigrationDisk *disk = g_ptr_array_index(in->disks, i);
        json_array_add_string_element(disks, disk->name);
    }
    json_object_set_array_member(record, "disks", disks);
    /* Read at finish (also by a restart): a guest paused at the source stays paused here. */
    if (in->paused)
        json_object_set_boolean_member(record, "paused", TRUE);
    return record;
}

void
pod_incoming_set_state(PodvmPod *self, PodvmIncomingState state, const char *message)
{
    PodIncoming *in = self->incoming;

    in->state = state;
    if (message != NULL) {
        char *copy = g_strdup(message); /* @message may be in->message */

        g_free(in->message);
        in->message = copy;
    }
    /* status.migrationState: what podvmctl show and the fronts tell. */
    g_clear_pointer(&self->migration_state, json_object_unref);
    self->migration_state = json_object_new();
    json_object_set_string_member(self->migration_state, "role", "target");
    json_object_set_string_member(self->migration_state, "id", in->id);
    json_object_set_string_member(self->migration_state, "phase",
                                  podvm_incoming_state_to_string(state));
    if (in->message != NULL)
        json_object_set_string_member(self->migration_state, "message", in->message);
    pod_emit_changed(self);
    pod_step(self, "migration %s: %s%s%s", in->id, podvm_incoming_state_to_string(state),
             message != NULL ? ": " : "", message != NULL ? message : "");
}

void
pod_incoming_emit_migration_event(PodvmPod *self, const char *type, const char *message)
{
    g_autoptr(JsonObject) extra = json_object_new();
    const char *id = self->incoming != NULL ? self->incoming->id : NULL;

    if (id == NULL && self->migration_record != NULL)
        id = json_object_get_string_member_with_default(self->migration_record, "id", NULL);
    /* "id" is the event's own (podvm_event_new). */
    json_object_set_string_member(extra, "migrationId", id != NULL ? id : "");
    json_object_set_string_member(extra, "role", "target");
    if (message != NULL)
        json_object_set_string_member(extra, "message", message);
    pod_emit_event(self, type, extra);
}

/* ---- teardown ---------------------------------------------------------------------------- */

static void
teardown_deleted_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmPod *self = PODVM_POD(source);
    g_autoptr(GError) error = NULL;

    if (!podvm_pod_run_finish(self, result, &error))
        pod_log(self, G_LOG_LEVEL_WARNING,
                "pod '%s': the incoming migration's teardown could not delete it: %s",
                self->spec->name, error->message);
}

/*
 * The migration failed before the pod ran here: everything goes (QEMU,
 * network, storage, files, the pod), through a forced delete queued after
 * the operation in progress. Idempotent.
 */
void
pod_incoming_teardown(PodvmPod *self, const char *reason)
{
    /* @reason may be in->message, which the state replaces. */
    g_autofree char *why = g_strdup(reason);
    PodIncoming *in = self->incoming;
    PodvmPodOpOptions options = PODVM_POD_OP_OPTIONS_INIT;

    if (in == NULL || in->state == PODVM_INCOMING_FAILED || in->state == PODVM_INCOMING_RUNNING)
        return;
    pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': incoming migration %s failed: %s",
            self->spec->name, in->id, why);
    pod_incoming_set_state(self, PODVM_INCOMING_FAILED, why);
    pod_incoming_quiesce(in);
    if (in->finish_waiting != NULL) {
        GTask *task = g_steal_pointer(&in->finish_waiting);

        pod_op_return(
            self, task,
            g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED, _("the migration failed here: %s"), why));
    }
    pod_incoming_record_set_phase(self, "failed");
    pod_incoming_emit_migration_event(self, "MigrationFailed", why);
    /* A start still preparing stops; a QEMU goes at once (the delete would kill it too). */
    if (self->preparing != NULL)
        g_cancellable_cancel(self->preparing);
    if (self->subprocess != NULL || self->pidfd >= 0) {
        if (self->exit_intent == NULL)
            self->exit_intent = "Killed";
        pod_kill_qemu(self);
    }
    /* A delete under way (asked for by a client) already takes it all. */
    if (self->deleting || self->deleted)
        return;
    options.force = TRUE;
    podvm_pod_run_async(self, PODVM_POD_OP_DELETE, &options, NULL, teardown_deleted_cb, NULL);
}

void
pod_incoming_qemu_gone(PodvmPod *self)
{
    PodIncoming *in = self->incoming;

    if (in == NULL || in->state == PODVM_INCOMING_FAILED || in->state == PODVM_INCOMING_RUNNING)
        return;
    pod_incoming_teardown(self, _("QEMU exited before the pod ran here"));
}

gboolean
pod_incoming_blocks_restart(PodvmPod *self)
{
    return (self->incoming != NULL && self->incoming->state != PODVM_INCOMING_RUNNING) ||
           (self->migration_record != NULL && g_strcmp0(json_object_get_string_member_with_default(
                                                            self->migration_record, "role", NULL),
                                                        "target") == 0);
}

gboolean
podvm_pod_incoming_abort(PodvmPod *self, const char *why, GError **error)
{
    PodIncoming *in = self->incoming;

    if (in == NULL || in->state == PODVM_INCOMING_RUNNING) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("pod '%s' already runs here; its migration is over"), self->spec->name);
        return FALSE;
    }
    pod_incoming_teardown(self, why);
    return TRUE;
}

/* ---- progress and events ---------------------------------------------------------------- */

static guint64
relayed_bytes(PodIncoming *in)
{
    guint64 total = 0;

    for (guint i = 0; i < in->relays->len; i++) {
        IncomingRelay *ir = g_ptr_array_index(in->relays, i);

        total += podvm_relay_bytes_a_to_b(ir->relay) + podvm_relay_bytes_b_to_a(ir->relay);
    }
    return total;
}

static void record_completed(PodvmPod *self);

static gboolean
progress_cb(gpointer user_data)
{
    PodvmPod *self = user_data;
    PodIncoming *in = self->incoming;
    guint64 bytes = relayed_bytes(in);
    gint64 now = g_get_monotonic_time();
    guint timeout_ms = self->config->migration_no_progress_timeout_ms;

    if (bytes != in->last_bytes) {
        in->last_bytes = bytes;
        in->last_progress_us = now;
        if (in->state == PODVM_INCOMING_WAITING) {
            pod_incoming_set_state(self, PODVM_INCOMING_RECEIVING, NULL);
            pod_incoming_record_set_phase(self, "receiving");
        }
    }
    if ((in->state == PODVM_INCOMING_WAITING || in->state == PODVM_INCOMING_RECEIVING) &&
        timeout_ms > 0 && now - in->last_progress_us > (gint64)timeout_ms * 1000) {
        g_autofree char *why =
            g_strdup_printf(_("no bytes from the source for %.1f s"), (double)timeout_ms / 1000.0);

        in->progress_timer = 0;
        pod_incoming_teardown(self, why);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* QEMU's incoming migration completed: recorded durably before anyone is told. */
static void
record_completed(PodvmPod *self)
{
    PodIncoming *in = self->incoming;
    g_autoptr(GError) error = NULL;

    if (in->state == PODVM_INCOMING_COMPLETED || in->state == PODVM_INCOMING_FAILED ||
        in->state == PODVM_INCOMING_RUNNING)
        return;
    pod_incoming_record_set_phase(self, "completed");
    if (!pod_save_required(self, "incoming:completed", &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': %s", self->spec->name, error->message);
    pod_incoming_set_state(self, PODVM_INCOMING_COMPLETED, NULL);
    podvm_fault_crash_point("incoming:after-completed");
    if (in->finish_waiting != NULL) {
        GTask *task = g_steal_pointer(&in->finish_waiting);

        pod_incoming_finish_now(self, task);
    }
}

static void
migration_event_cb(PodvmPod *self, const char *name, JsonObject *data, gpointer user_data)
{
    const char *status =
        data != NULL ? json_object_get_string_member_with_default(data, "status", NULL) : NULL;

    if (self->incoming == NULL || status == NULL)
        return;
    if (g_str_equal(status, "completed"))
        record_completed(self);
    else if (g_str_equal(status, "failed"))
        pod_incoming_teardown(self, _("QEMU's incoming migration failed"));
}

static void
check_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmPod) self = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    PodIncoming *in = self->incoming;
    const char *status = NULL;

    if (in == NULL)
        return;
    in->checking = FALSE;
    if (reply != NULL && JSON_NODE_HOLDS_OBJECT(reply))
        status =
            json_object_get_string_member_with_default(json_node_get_object(reply), "status", NULL);
    if (g_strcmp0(status, "completed") == 0)
        record_completed(self);
    else if (g_strcmp0(status, "active") != 0 && g_strcmp0(status, "postcopy-active") != 0 &&
             g_strcmp0(status, "setup") != 0)
        pod_incoming_teardown(
            self, in->message != NULL ? in->message
                                      : _("the source's migration stream ended before completion"));
}

static gboolean
relay_check_cb(gpointer user_data)
{
    g_autoptr(PodvmPod) self = user_data;
    PodIncoming *in = self->incoming;

    if (in == NULL || in->state == PODVM_INCOMING_COMPLETED ||
        in->state == PODVM_INCOMING_RUNNING || in->state == PODVM_INCOMING_FAILED)
        return G_SOURCE_REMOVE;
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        in->checking = FALSE;
        pod_incoming_teardown(self,
                              in->message != NULL ? in->message : _("the source's stream ended"));
        return G_SOURCE_REMOVE;
    }
    pod_qmp_execute(self->qmp, "query-migrate", NULL, PODVM_QMP_TIMEOUT_QUERY, NULL, check_cb,
                    g_object_ref(self));
    return G_SOURCE_REMOVE;
}

/*
 * A relay ended. After completion that is how streams end; before it,
 * the migration channel's end means QEMU finished or failed, which it
 * says (query-migrate; its MIGRATION event may come a moment later).
 */
static void
relay_done_cb(PodvmRelay *relay, const GError *why, gpointer user_data)
{
    IncomingRelay *ir = user_data;
    PodIncoming *in = ir->incoming;
    PodvmPod *self;

    if (in == NULL || in->state == PODVM_INCOMING_COMPLETED ||
        in->state == PODVM_INCOMING_RUNNING || in->state == PODVM_INCOMING_FAILED)
        return;
    self = in->pod;
    if (why != NULL && !g_error_matches(why, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_free(in->message);
        in->message = g_strdup_printf(_("the %s stream failed: %s"), ir->channel, why->message);
    }
    if (in->checking)
        return;
    /* Not from inside the relay's callback: the check may tear every relay down. */
    in->checking = TRUE;
    g_idle_add(relay_check_cb, g_object_ref(self));
}

/* ---- the start: storage, network, QEMU (podvm-pod-start.c), then the exports ------------- */

typedef struct {
    PodLifecycleOp parent; /* the start reads its options */
} IncomingStartOp;

static void
incoming_start_free(PodOp *op)
{
    g_free(op);
}

static void
incoming_start_run(PodvmPod *self, GTask *task)
{
    if (self->incoming == NULL || self->phase != PODVM_PHASE_PENDING) {
        pod_wrong_phase(self, task, _("only a new pod can receive a migration"));
        return;
    }
    pod_start_begin(self, task, PODVM_PHASE_INCOMING);
}

static const PodOpClass incoming_start_class = { "incoming-start", incoming_start_run,
                                                 incoming_start_free };

static void
exports_done(PodvmPod *self, GError *error, gpointer data)
{
    g_autoptr(GTask) task = data;
    PodIncoming *in = self->incoming;

    if (self->current != task)
        return; /* QEMU died meanwhile: the start already answered */
    if (error != NULL) {
        pod_start_fail(self, task, error);
        return;
    }
    self->exit_task = NULL;
    self->exit_continuation = NULL;
    in->last_progress_us = g_get_monotonic_time();
    in->progress_timer = g_timeout_add(PROGRESS_INTERVAL_MS, progress_cb, self);
    pod_incoming_record_set_phase(self, "waiting");
    pod_save_or_log(self, PODVM_STORE_ATOMIC);
    pod_incoming_set_state(self, PODVM_INCOMING_WAITING, NULL);
    pod_op_return(self, task, NULL);
}

/* A listening unix socket at @path (replacing a stale one), for QEMU to take by getfd. */
static int
listen_unix(const char *path, GError **error)
{
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    GError *local = NULL;

    (void)g_unlink(path);
    socket =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &local);
    if (socket == NULL || !g_socket_bind(socket, address, FALSE, &local) ||
        !g_socket_listen(socket, &local)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot listen on '%s': %s"), path,
                    local->message);
        g_error_free(local);
        return -1;
    }
    return dup(g_socket_get_fd(socket));
}

static void
links_down_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    PodIncoming *in = self->incoming;
    g_autoptr(GError) error = NULL;
    Script *script;
    JsonObject *arguments;
    JsonArray *capabilities;
    JsonObject *capability;

    if (self->current != task)
        return;
    if (!pod_incoming_set_links_finish(self, result, &error)) {
        pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    script = pod_incoming_script_new(self);
    capabilities = json_array_new();
    capability = json_object_new();
    json_object_set_string_member(capability, "capability", "events");
    json_object_set_boolean_member(capability, "state", TRUE);
    json_array_add_object_element(capabilities, capability);
    if (in->postcopy) {
        capability = json_object_new();
        json_object_set_string_member(capability, "capability", "postcopy-ram");
        json_object_set_boolean_member(capability, "state", TRUE);
        json_array_add_object_element(capabilities, capability);
    }
    arguments = json_object_new();
    json_object_set_array_member(arguments, "capabilities", capabilities);
    pod_incoming_script_add(script, "migrate-set-capabilities", arguments, FALSE);
    if (in->disks->len > 0) {
        JsonObject *addr = json_object_new();
        JsonObject *fd_data = json_object_new();
        g_autoptr(GError) local = NULL;
        int listen_fd = listen_unix(in->nbd_socket, &local);

        if (listen_fd < 0) {
            pod_incoming_script_free(script);
            json_object_unref(addr);
            json_object_unref(fd_data);
            pod_start_fail(self, task, g_steal_pointer(&local));
            return;
        }
        pod_incoming_script_add_getfd(script, "podvm-nbd-listen", listen_fd);
        /* nbd-server-start takes the legacy form of a socket address. */
        json_object_set_string_member(fd_data, "str", "podvm-nbd-listen");
        json_object_set_string_member(addr, "type", "fd");
        json_object_set_object_member(addr, "data", fd_data);
        arguments = json_object_new();
        json_object_set_object_member(arguments, "addr", addr);
        pod_incoming_script_add(script, "nbd-server-start", arguments, FALSE);
    }
    for (guint i = 0; i < in->disks->len; i++) {
        const PodvmMigrationDisk *disk = g_ptr_array_index(in->disks, i);
        g_autofree char *node = podvm_qemu_disk_node_name(disk->name, TRUE);
        g_autofree char *id = pod_incoming_export_id_of(disk->name);

        arguments = json_object_new();
        json_object_set_string_member(arguments, "type", "nbd");
        json_object_set_string_member(arguments, "id", id);
        json_object_set_string_member(arguments, "node-name", node);
        json_object_set_string_member(arguments, "name", disk->export_name);
        json_object_set_boolean_member(arguments, "writable", TRUE);
        pod_incoming_script_add(script, "block-export-add", arguments, FALSE);
    }
    in->event_handler =
        g_signal_connect(self, "qmp-event::MIGRATION", G_CALLBACK(migration_event_cb), NULL);
    pod_incoming_script_run(script, exports_done, g_steal_pointer(&task));
}

/*
 * The start has QEMU (paused, -incoming defer, monitor and console
 * connected): the links go down, then QEMU is told what to wait for.
 */
void
pod_incoming_qemu_ready(PodvmPod *self, GTask *task)
{
    PodIncoming *in = self->incoming;

    podvm_fault_crash_point("incoming:after-spawn");
    pod_step(self, "QEMU waits for migration %s", in->id);
    pod_incoming_set_links_async(self, FALSE, links_down_cb, g_object_ref(task));
}

static void
started_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) outer = user_data;
    PodvmPod *self = PODVM_POD(source);
    PodIncoming *in = self->incoming;
    GError *error = NULL;
    g_autoptr(JsonNode) answer = NULL;
    g_autoptr(JsonBuilder) b = NULL;

    if (!podvm_pod_run_finish(self, result, &error)) {
        pod_incoming_teardown(self, error->message);
        g_task_return_error(outer, error);
        return;
    }
    if (in == NULL || in->state != PODVM_INCOMING_WAITING) {
        g_task_return_new_error(outer, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("the incoming migration of pod '%s' failed: %s"),
                                self->spec->name,
                                in != NULL && in->message != NULL ? in->message : "");
        return;
    }
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, in->id);
    json_builder_set_member_name(b, "secret");
    json_builder_add_string_value(b, in->secret);
    json_builder_set_member_name(b, "disks");
    json_builder_begin_array(b);
    for (guint i = 0; i < in->disks->len; i++) {
        const PodvmMigrationDisk *disk = g_ptr_array_index(in->disks, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, disk->name);
        json_builder_set_member_name(b, "export");
        json_builder_add_string_value(b, disk->export_name);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    answer = json_builder_get_root(b);
    g_task_return_pointer(outer, g_steal_pointer(&answer), (GDestroyNotify)json_node_unref);
}

void
podvm_pod_incoming_start_async(PodvmPod *self, const char *id, const char *secret, GPtrArray *disks,
                               gboolean postcopy, gboolean paused, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) outer = g_task_new(self, cancellable, callback, user_data);
    g_autoptr(GError) error = NULL;
    IncomingStartOp *op;
    PodIncoming *in;
    GTask *task;

    g_task_set_source_tag(outer, podvm_pod_incoming_start_async);
    g_return_if_fail(self->incoming == NULL);
    in = pod_incoming_new(self, id, secret);
    in->postcopy = postcopy;
    in->paused = paused;
    for (guint i = 0; disks != NULL && i < disks->len; i++) {
        PodvmMigrationDisk *disk = disk_copy(g_ptr_array_index(disks, i));

        g_free(disk->export_name);
        disk->export_name = export_name_of(disk->name);
        g_ptr_array_add(in->disks, disk);
    }
    self->incoming = in;
    g_clear_pointer(&self->migration_record, json_object_unref);
    self->migration_record = record_new(in);
    /* The record first: a podvmd that dies from here on tears the pod down at its restart. */
    if (!pod_save_required(self, "incoming:record", &error)) {
        pod_incoming_teardown(self, error->message);
        g_task_return_error(outer, g_steal_pointer(&error));
        return;
    }
    pod_incoming_emit_migration_event(self, "MigrationIncoming", NULL);
    op = g_new0(IncomingStartOp, 1);
    op->parent.kind = PODVM_POD_OP_START;
    op->parent.options = (PodvmPodOpOptions)PODVM_POD_OP_OPTIONS_INIT;
    task = pod_op_task_new(self, &incoming_start_class, &op->parent.parent, NULL, started_cb,
                           g_steal_pointer(&outer));
    pod_op_enqueue(self, task);
}

JsonNode *
podvm_pod_incoming_start_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- status and streams ------------------------------------------------------------------ */

const char *
podvm_pod_incoming_get_id(PodvmPod *self)
{
    if (self->incoming != NULL)
        return self->incoming->id;
    return g_object_get_data(G_OBJECT(self), FINISHED_ID_KEY);
}

JsonNode *
podvm_pod_incoming_status(PodvmPod *self)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    PodIncoming *in = self->incoming;
    const char *id = podvm_pod_incoming_get_id(self);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id != NULL ? id : "");
    json_builder_set_member_name(b, "pod");
    json_builder_add_string_value(b, self->spec->name);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(
        b, podvm_incoming_state_to_string(in != NULL ? in->state : PODVM_INCOMING_RUNNING));
    if (in != NULL && in->message != NULL) {
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, in->message);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Constant time: how much of the secret matched does not show. */
static gboolean
secret_equal(const char *expected, const char *given)
{
    gsize length = strlen(expected);
    guint8 diff = 0;

    if (given == NULL || strlen(given) != length)
        return FALSE;
    for (gsize i = 0; i < length; i++)
        diff |= (guint8)(expected[i] ^ given[i]);
    return diff == 0;
}

/* The QEMU socket of @channel ("" for the migration's), or NULL (INVALID_ARGUMENT). */
static const char *
channel_socket(PodIncoming *in, const char *channel, GError **error)
{
    if (g_strcmp0(channel, "migration") == 0)
        return "";
    if (channel != NULL && g_str_has_prefix(channel, "nbd:")) {
        for (guint i = 0; i < in->disks->len; i++) {
            const PodvmMigrationDisk *disk = g_ptr_array_index(in->disks, i);

            if (g_str_equal(disk->name, channel + 4))
                return in->nbd_socket;
        }
    }
    {
        g_autofree char *quoted = podvm_quote_for_message(channel != NULL ? channel : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("unknown channel %s; expected \"migration\" or \"nbd:DISK\" for a copied "
                      "disk"),
                    quoted);
    }
    return NULL;
}

gboolean
podvm_pod_incoming_check_stream(PodvmPod *self, const char *secret, const char *channel,
                                GError **error)
{
    PodIncoming *in = self->incoming;

    if (in == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("the migration of pod '%s' is over"), self->spec->name);
        return FALSE;
    }
    if (!secret_equal(in->secret, secret)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("wrong or missing %s for migration '%s'"), PODVM_MIGRATION_SECRET_HEADER,
                    in->id);
        return FALSE;
    }
    if (channel_socket(in, channel, error) == NULL)
        return FALSE;
    if (in->state != PODVM_INCOMING_WAITING && in->state != PODVM_INCOMING_RECEIVING) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                    _("migration '%s' is %s; it takes no stream"), in->id,
                    podvm_incoming_state_to_string(in->state));
        return FALSE;
    }
    if (g_str_equal(channel, "migration") && in->migration_taken) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("migration '%s' already has its migration stream"), in->id);
        return FALSE;
    }
    return TRUE;
}

typedef struct {
    PodvmPod *self; /* a reference */
    GIOStream *stream;
    char *channel;
} Connecting;

static void
connecting_free(Connecting *c)
{
    g_object_unref(c->self);
    g_object_unref(c->stream);
    g_free(c->channel);
    g_free(c);
}

/* Relays @qemu_side (QEMU's end of the channel) and the peer's @stream. */
static void
start_relay(PodvmPod *self, const char *channel, GIOStream *qemu_side, GIOStream *stream)
{
    PodIncoming *in = self->incoming;
    IncomingRelay *ir = g_new0(IncomingRelay, 1);

    ir->incoming = in;
    ir->channel = g_strdup(channel);
    g_ptr_array_add(in->relays, ir);
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': migration %s: relaying the %s stream",
            self->spec->name, in->id, channel);
    ir->relay = podvm_relay_new(qemu_side, stream, relay_done_cb, ir);
}

typedef struct {
    GIOStream *our_end;
    GIOStream *stream;
} MigrationChannel;

static void
migration_channel_free(MigrationChannel *m)
{
    g_clear_object(&m->our_end);
    g_clear_object(&m->stream);
    g_free(m);
}

static void
migrate_incoming_done(PodvmPod *self, GError *error, gpointer data)
{
    MigrationChannel *m = data;
    PodIncoming *in = self->incoming;

    if (in == NULL || in->state == PODVM_INCOMING_FAILED) {
        g_io_stream_close(m->stream, NULL, NULL);
        g_clear_error(&error);
    } else if (error != NULL) {
        g_io_stream_close(m->stream, NULL, NULL);
        pod_incoming_teardown(self, error->message);
        g_error_free(error);
    } else {
        start_relay(self, "migration", m->our_end, m->stream);
    }
    migration_channel_free(m);
}

/* The migration stream: one end of a socket pair to QEMU (getfd), migrate-incoming on it. */
static void
take_migration_stream(PodvmPod *self, GIOStream *stream)
{
    PodIncoming *in = self->incoming;
    g_autoptr(GSocket) qemu_end = NULL;
    g_autoptr(GError) error = NULL;
    MigrationChannel *m = g_new0(MigrationChannel, 1);
    JsonObject *arguments;
    Script *script;

    in->migration_taken = TRUE;
    m->stream = g_object_ref(stream);
    if (!podvm_relay_socketpair(&qemu_end, &m->our_end, &error)) {
        g_io_stream_close(stream, NULL, NULL);
        migration_channel_free(m);
        pod_incoming_teardown(self, error->message);
        return;
    }
    script = pod_incoming_script_new(self);
    pod_incoming_script_add_getfd(script, "podvm-migrate-in", dup(g_socket_get_fd(qemu_end)));
    arguments = json_object_new();
    json_object_set_string_member(arguments, "uri", "fd:podvm-migrate-in");
    pod_incoming_script_add(script, "migrate-incoming", arguments, FALSE);
    pod_incoming_script_run(script, migrate_incoming_done, m);
}

static void
connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Connecting *c = user_data;
    PodvmPod *self = c->self;
    PodIncoming *in = self->incoming;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) connection =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

    if (in == NULL ||
        (in->state != PODVM_INCOMING_WAITING && in->state != PODVM_INCOMING_RECEIVING)) {
        g_io_stream_close(c->stream, NULL, NULL);
        connecting_free(c);
        return;
    }
    if (connection == NULL) {
        g_autofree char *why =
            g_strdup_printf(_("cannot reach QEMU's %s socket: %s"), c->channel, error->message);

        g_io_stream_close(c->stream, NULL, NULL);
        connecting_free(c);
        pod_incoming_teardown(self, why);
        return;
    }
    start_relay(self, c->channel, G_IO_STREAM(connection), c->stream);
    connecting_free(c);
}

void
podvm_pod_incoming_take_stream(PodvmPod *self, const char *channel, GIOStream *stream)
{
    PodIncoming *in = self->incoming;
    g_autoptr(GSocketClient) client = NULL;
    g_autoptr(GSocketAddress) address = NULL;
    const char *path;
    Connecting *c;

    path = in != NULL ? channel_socket(in, channel, NULL) : NULL;
    if (path == NULL ||
        (in->state != PODVM_INCOMING_WAITING && in->state != PODVM_INCOMING_RECEIVING)) {
        g_io_stream_close(stream, NULL, NULL);
        return;
    }
    if (g_str_equal(channel, "migration")) {
        if (in->migration_taken)
            g_io_stream_close(stream, NULL, NULL);
        else
            take_migration_stream(self, stream);
        return;
    }
    c = g_new0(Connecting, 1);
    c->self = g_object_ref(self);
    c->stream = g_object_ref(stream);
    c->channel = g_strdup(channel);
    client = g_socket_client_new();
    address = g_unix_socket_address_new(path);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(address), NULL, connected_cb, c);
}
