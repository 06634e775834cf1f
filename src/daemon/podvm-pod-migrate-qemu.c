/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source's QEMU part: which disks are copied, the NBD
 * mirrors into the target's exports over relayed socketpairs, the
 * capabilities and parameters, `migrate` over another relayed socketpair
 * and the switchover (the mirrors completed while QEMU waits in
 * pre-switchover). The poll and the undoing are in podvm-pod-migrate-poll.c.
 *
 * QEMU never opens a socket of its own: it gets one end of a socketpair by
 * getfd (SCM_RIGHTS), and podvmd relays the other end to a stream upgraded
 * on its REST connection to the target (TLS when the peer is https).
 */
#include <gio/gunixfdlist.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-pod-migrate.h"
#include "podvm-qemu-devices.h"

void
mig_disk_free(MigDisk *disk)
{
    g_free(disk->name);
    g_free(disk->node);
    g_free(disk->nbd_node);
    g_free(disk->job_id);
    g_free(disk->fd_name);
    g_free(disk->export_name);
    g_clear_pointer(&disk->relay, podvm_relay_free);
    g_free(disk);
}

/* ---- QMP for the job ----------------------------------------------------- */

typedef struct {
    GTask *task;
    MigReply next;
    GError *error; /* for a call that could not be sent */
} MigCall;

static void
mig_call_free(MigCall *call)
{
    g_object_unref(call->task);
    g_clear_error(&call->error);
    g_free(call);
}

static void
mig_qmp_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    MigCall *call = user_data;
    MigJob *job = pod_op_of(call->task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (job->stage != MIG_STAGE_DONE)
        call->next(job, reply, error);
    mig_call_free(call);
}

static gboolean
mig_qmp_unsent_cb(gpointer user_data)
{
    MigCall *call = user_data;
    MigJob *job = pod_op_of(call->task);

    if (job->stage != MIG_STAGE_DONE)
        call->next(job, NULL, call->error);
    mig_call_free(call);
    return G_SOURCE_REMOVE;
}

void
mig_qmp(MigJob *job, const char *command, JsonObject *arguments, GUnixFDList *fds, guint timeout_ms,
        MigReply next)
{
    PodvmPod *self = job->pod;
    MigCall *call = g_new0(MigCall, 1);

    call->task = g_object_ref(job->task);
    call->next = next;
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        call->error = g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                                  _("pod '%s': QEMU's monitor is not connected"), self->spec->name);
        g_idle_add(mig_qmp_unsent_cb, call);
        return;
    }
    podvm_qmp_client_execute_async(self->qmp, command, arguments, fds, timeout_ms, NULL, mig_qmp_cb,
                                   call);
}

/* A QMP error of a step, as the job's failure: "WHAT: QEMU's words". */
GError *
mig_step_error(const GError *error, const char *what)
{
    GError *converted = podvm_error_from_component(error);

    g_prefix_error(&converted, "%s: ", what);
    return converted;
}

void
mig_ignore_reply(MigJob *job, JsonNode *reply, GError *error)
{
    if (error != NULL)
        pod_log(job->pod, G_LOG_LEVEL_DEBUG, "pod '%s': migration: %s", job->pod->spec->name,
                error->message);
}

/* ---- the disks to copy --------------------------------------------------- */

/* Whether @path lies in one of [storage] shared_paths. */
static gboolean
path_is_shared(const PodvmConfig *config, const char *path)
{
    g_autofree char *canonical = g_canonicalize_filename(path, NULL);

    for (guint i = 0; config->shared_pool_paths != NULL && config->shared_pool_paths[i]; i++) {
        const char *dir = config->shared_pool_paths[i];
        gsize length = strlen(dir);

        if (strncmp(canonical, dir, length) == 0 &&
            (canonical[length] == '/' || canonical[length] == '\0' ||
             (length > 0 && dir[length - 1] == '/')))
            return TRUE;
    }
    return FALSE;
}

/* Whether @disk is copied (FALSE for media the target makes again, shared claims), or an error. */
static gboolean
disk_is_copied(PodvmPod *self, const PodvmSpecDisk *disk, const PodvmSpecVolume *volume,
               gboolean *out_top, GError **error)
{
    *out_top = FALSE;
    if (volume == NULL || disk->kind == PODVM_DISK_KIND_CDROM)
        return FALSE;
    if (disk->kind == PODVM_DISK_KIND_LUN) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("disk '%s' is a lun (a host device): a pod with one cannot migrate"),
                    disk->name);
        return FALSE;
    }
    switch (volume->source) {
    case PODVM_VOLUME_CLOUD_INIT_NOCLOUD:
    case PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE:
        return FALSE; /* generated again by the target */
    case PODVM_VOLUME_CONTAINER_DISK:
    case PODVM_VOLUME_EPHEMERAL:
        /* The target rebuilds the base; only the overlay's writes are copied. */
        *out_top = TRUE;
        return TRUE;
    case PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM:
    case PODVM_VOLUME_DATA_VOLUME:
        if (self->pool != NULL && volume->claim_name != NULL) {
            g_autofree char *path = podvm_volume_pool_image_path(self->pool, volume->claim_name);

            if (path != NULL && path_is_shared(self->config, path))
                return FALSE;
        }
        return TRUE;
    case PODVM_VOLUME_HOST_DISK:
    case PODVM_VOLUME_EMPTY_DISK:
        return TRUE;
    }
    return TRUE;
}

typedef struct {
    GTask *task;
    void (*next)(MigJob *job);
} FindDisks;

static JsonObject *
find_node(JsonArray *nodes, const char *name)
{
    for (guint i = 0; nodes != NULL && i < json_array_get_length(nodes); i++) {
        JsonObject *node = json_array_get_object_element(nodes, i);

        if (node != NULL &&
            g_strcmp0(json_object_get_string_member_with_default(node, "node-name", NULL), name) ==
                0)
            return node;
    }
    return NULL;
}

static void
nodes_cb(MigJob *job, JsonNode *reply, GError *error)
{
    PodvmPod *self = job->pod;
    JsonArray *nodes =
        reply != NULL && JSON_NODE_HOLDS_ARRAY(reply) ? json_node_get_array(reply) : NULL;

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "query-named-block-nodes"));
        return;
    }
    for (guint i = 0; i < self->spec->disks->len; i++) {
        const PodvmSpecDisk *spec_disk = g_ptr_array_index(self->spec->disks, i);
        const PodvmSpecVolume *volume = podvm_spec_find_volume(self->spec, spec_disk->name);
        g_autoptr(GError) refused = NULL;
        g_autofree char *node_name = NULL;
        JsonObject *node;
        JsonObject *image;
        MigDisk *disk;
        gboolean top;

        if (!disk_is_copied(self, spec_disk, volume, &top, &refused)) {
            if (refused != NULL) {
                mig_fail(job, g_steal_pointer(&refused));
                return;
            }
            continue;
        }
        node_name = podvm_qemu_disk_node_name(spec_disk->name, TRUE);
        node = find_node(nodes, node_name);
        image = node != NULL && json_object_has_member(node, "image") &&
                        JSON_NODE_HOLDS_OBJECT(json_object_get_member(node, "image"))
                    ? json_object_get_object_member(node, "image")
                    : NULL;
        if (image == NULL) {
            mig_fail(job, g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                                      _("disk '%s' has no block node '%s' in QEMU"),
                                      spec_disk->name, node_name));
            return;
        }
        disk = g_new0(MigDisk, 1);
        disk->name = g_strdup(spec_disk->name);
        disk->node = g_strdup(node_name);
        /* Same length as the disk's own node name, so within QEMU's limit. */
        disk->nbd_node = g_strdup_printf("n%s", node_name + 1);
        disk->job_id = g_strdup_printf("mig-%s", spec_disk->name);
        disk->fd_name = g_strdup_printf("podvm-nbd-%s", spec_disk->name);
        disk->size = (guint64)json_object_get_int_member_with_default(image, "virtual-size", 0);
        disk->top = top;
        g_ptr_array_add(job->disks, disk);
    }
    job->after_disks(job);
}

void
mig_find_disks(MigJob *job, void (*next)(MigJob *job))
{
    g_autoptr(JsonObject) arguments = json_object_new();

    job->after_disks = next;
    json_object_set_boolean_member(arguments, "flat", TRUE);
    mig_qmp(job, "query-named-block-nodes", arguments, NULL, PODVM_QMP_TIMEOUT_QUERY, nodes_cb);
}

/* ---- relayed channels ---------------------------------------------------- */

static void
relay_done_cb(PodvmRelay *relay, const GError *why, gpointer user_data)
{
    MigJob *job = user_data;
    const char *channel = relay == job->relay ? "migration" : "nbd";

    if (relay == job->relay && job->stage == MIG_STAGE_COMPLETED) {
        mig_migration_channel_ended(job);
        return;
    }
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (relay == job->relay) {
        /* QEMU closes its end once it is done: what it says decides. */
        pod_log(job->pod, G_LOG_LEVEL_INFO, "pod '%s': the migration channel closed (%s)",
                job->pod->spec->name, why != NULL ? why->message : "cleanly");
        mig_poll_start(job);
        return;
    }
    mig_fail(job, g_error_new(PODVM_ERROR, PODVM_ERROR_IO,
                              _("the %s connection to the target broke: %s"), channel,
                              why != NULL ? why->message : _("closed")));
}

typedef void (*StreamReady)(MigJob *job, GIOStream *stream);

typedef struct {
    GTask *task;
    StreamReady next;
} StreamOpen;

static void
stream_opened_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    StreamOpen *open = user_data;
    g_autoptr(GTask) task = open->task;
    StreamReady next = open->next;
    MigJob *job = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GIOStream) stream = NULL;

    g_free(open);
    stream = podvm_peer_open_stream_finish(job->peer, result, &error);
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (stream == NULL) {
        g_prefix_error(&error, _("cannot open a stream to the target: "));
        mig_fail(job, g_steal_pointer(&error));
        return;
    }
    next(job, stream);
}

static void
open_stream(MigJob *job, const char *channel, StreamReady next)
{
    StreamOpen *open = g_new0(StreamOpen, 1);

    open->task = g_object_ref(job->task);
    open->next = next;
    podvm_peer_open_stream_async(job->peer, job->id, job->secret, channel, job->cancellable,
                                 stream_opened_cb, open);
}

/*
 * A socketpair: QEMU's end goes by getfd as @fd_name (the call's answer to
 * @next), ours is relayed to @stream; the relay, or NULL (the job failed).
 */
static PodvmRelay *
give_qemu_socket(MigJob *job, const char *fd_name, GIOStream *stream, MigReply next)
{
    g_autoptr(GSocket) qemu_end = NULL;
    g_autoptr(GIOStream) our_end = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(GError) error = NULL;
    PodvmRelay *relay;

    if (!podvm_relay_socketpair(&qemu_end, &our_end, &error) ||
        g_unix_fd_list_append(fds, g_socket_get_fd(qemu_end), &error) < 0) {
        mig_fail(job, g_steal_pointer(&error));
        return NULL;
    }
    relay = podvm_relay_new(our_end, stream, relay_done_cb, job);
    json_object_set_string_member(arguments, "fdname", fd_name);
    mig_qmp(job, "getfd", arguments, fds, PODVM_QMP_TIMEOUT_DEFAULT, next);
    return relay;
}

/* ---- the mirrors --------------------------------------------------------- */

static void mirror_next(MigJob *job);

static MigDisk *
current_disk(MigJob *job)
{
    return g_ptr_array_index(job->disks, job->next_disk);
}

gboolean
mig_all_mirrors_ready(MigJob *job)
{
    for (guint i = 0; i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);

        if (!disk->mirror_started || !disk->ready)
            return FALSE;
    }
    return TRUE;
}

static void
maybe_all_ready(MigJob *job)
{
    if (job->stage != MIG_STAGE_MIRRORING || job->next_disk < job->disks->len ||
        !mig_all_mirrors_ready(job))
        return;
    pod_step(job->pod, "every disk is mirrored to the target (%u)", job->disks->len);
    podvm_fault_crash_point("migrate:after-mirror-ready");
    mig_start_migrate(job);
}

static void
mirror_cb(MigJob *job, JsonNode *reply, GError *error)
{
    MigDisk *disk = current_disk(job);

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        disk->mirror_started = FALSE;
        mig_fail(job, mig_step_error(error, "blockdev-mirror"));
        return;
    }
    pod_step(job->pod, "mirroring disk '%s' (%" G_GUINT64_FORMAT " bytes, sync %s)", disk->name,
             disk->size, disk->top ? "top" : "full");
    job->next_disk++;
    mirror_next(job);
}

static void
nbd_added_cb(MigJob *job, JsonNode *reply, GError *error)
{
    MigDisk *disk = current_disk(job);
    g_autoptr(JsonObject) arguments = json_object_new();

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "blockdev-add nbd"));
        return;
    }
    disk->nbd_added = TRUE;
    json_object_set_string_member(arguments, "job-id", disk->job_id);
    json_object_set_string_member(arguments, "device", disk->node);
    json_object_set_string_member(arguments, "target", disk->nbd_node);
    json_object_set_string_member(arguments, "sync", disk->top ? "top" : "full");
    json_object_set_string_member(arguments, "copy-mode", "write-blocking");
    /* Set before the answer: the undoing cancels it even when the answer is still out. */
    disk->mirror_started = TRUE;
    mig_qmp(job, "blockdev-mirror", arguments, NULL, PODVM_QMP_TIMEOUT_HOTPLUG, mirror_cb);
}

static void
nbd_fd_given_cb(MigJob *job, JsonNode *reply, GError *error)
{
    MigDisk *disk = current_disk(job);
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(JsonObject) server = json_object_new();

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "getfd"));
        return;
    }
    json_object_set_string_member(server, "type", "fd");
    json_object_set_string_member(server, "str", disk->fd_name);
    json_object_set_string_member(arguments, "driver", "nbd");
    json_object_set_string_member(arguments, "node-name", disk->nbd_node);
    json_object_set_object_member(arguments, "server", g_steal_pointer(&server));
    json_object_set_string_member(arguments, "export", disk->export_name);
    mig_qmp(job, "blockdev-add", arguments, NULL, PODVM_QMP_TIMEOUT_HOTPLUG, nbd_added_cb);
}

static void
nbd_stream_cb(MigJob *job, GIOStream *stream)
{
    MigDisk *disk = current_disk(job);

    disk->relay = give_qemu_socket(job, disk->fd_name, stream, nbd_fd_given_cb);
}

static void
mirror_next(MigJob *job)
{
    g_autofree char *channel = NULL;

    if (job->next_disk >= job->disks->len) {
        maybe_all_ready(job);
        return;
    }
    channel = g_strdup_printf("nbd:%s", current_disk(job)->name);
    open_stream(job, channel, nbd_stream_cb);
}

/* Per disk: the stream to the target first, then the socketpair relayed to it, getfd,
 * the NBD client node, the mirror. */
void
mig_start_mirrors(MigJob *job)
{
    job->next_disk = 0;
    mig_poll_start(job);
    mirror_next(job);
}

/* ---- migrate --------------------------------------------------------------- */

static void
migrate_cb(MigJob *job, JsonNode *reply, GError *error)
{
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        job->migrate_started = FALSE;
        mig_fail(job, mig_step_error(error, "migrate"));
        return;
    }
    pod_step(job->pod, "QEMU migrates to %s", podvm_peer_get_url(job->peer));
    mig_record_phase(job, MIG_PHASE_MIGRATING, FALSE);
    mig_poll_start(job);
}

static void
migration_fd_given_cb(MigJob *job, JsonNode *reply, GError *error)
{
    g_autoptr(JsonObject) arguments = json_object_new();

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "getfd"));
        return;
    }
    json_object_set_string_member(arguments, "uri", "fd:podvm-migrate");
    job->migrate_started = TRUE;
    mig_qmp(job, "migrate", arguments, NULL, PODVM_QMP_TIMEOUT_DEFAULT, migrate_cb);
}

static void
migration_stream_cb(MigJob *job, GIOStream *stream)
{
    job->relay = give_qemu_socket(job, "podvm-migrate", stream, migration_fd_given_cb);
}

static void
parameters_cb(MigJob *job, JsonNode *reply, GError *error)
{
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "migrate-set-parameters"));
        return;
    }
    open_stream(job, "migration", migration_stream_cb);
}

static void
capabilities_cb(MigJob *job, JsonNode *reply, GError *error)
{
    g_autoptr(JsonObject) parameters = NULL;

    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "migrate-set-capabilities"));
        return;
    }
    parameters = podvm_migration_controller_initial_parameters(job->controller);
    mig_qmp(job, "migrate-set-parameters", parameters, NULL, PODVM_QMP_TIMEOUT_DEFAULT,
            parameters_cb);
}

static void
add_capability(JsonArray *list, const char *name, gboolean state)
{
    JsonObject *capability = json_object_new();

    json_object_set_string_member(capability, "capability", name);
    json_object_set_boolean_member(capability, "state", state);
    json_array_add_object_element(list, capability);
}

void
mig_start_migrate(MigJob *job)
{
    g_autoptr(JsonObject) arguments = json_object_new();
    JsonArray *list = json_array_new();

    job->stage = MIG_STAGE_MIGRATING;
    mig_update_state(job, TRUE);
    add_capability(list, "events", TRUE);
    add_capability(list, "pause-before-switchover", TRUE);
    add_capability(list, "auto-converge", job->pod->config->migration_auto_converge);
    add_capability(list, "postcopy-ram", job->postcopy_allowed);
    json_object_set_array_member(arguments, "capabilities", list);
    mig_qmp(job, "migrate-set-capabilities", arguments, NULL, PODVM_QMP_TIMEOUT_DEFAULT,
            capabilities_cb);
}

/* ---- the switchover ------------------------------------------------------ */

gboolean
mig_all_mirrors_ended(MigJob *job)
{
    for (guint i = 0; i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);

        if (disk->mirror_started && !disk->ended)
            return FALSE;
    }
    return TRUE;
}

static void
continue_cb(MigJob *job, JsonNode *reply, GError *error)
{
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL) {
        mig_fail(job, mig_step_error(error, "migrate-continue"));
        return;
    }
    mig_poll_start(job);
}

static void
maybe_continue(MigJob *job)
{
    g_autoptr(JsonObject) arguments = NULL;

    if (job->stage != MIG_STAGE_SWITCHOVER || job->continue_sent || !mig_all_mirrors_ended(job))
        return;
    job->continue_sent = TRUE;
    pod_step(job->pod, "the disks are in sync at the target; switching over");
    arguments = json_object_new();
    json_object_set_string_member(arguments, "state", "pre-switchover");
    mig_qmp(job, "migrate-continue", arguments, NULL, PODVM_QMP_TIMEOUT_DEFAULT, continue_cb);
}

static void
mirror_complete_cb(MigJob *job, JsonNode *reply, GError *error)
{
    if (!mig_live(job) || job->stage == MIG_STAGE_FAILING)
        return;
    if (error != NULL)
        mig_fail(job, mig_step_error(error, "block-job-cancel"));
}

/* QEMU waits before its last pass: the mirrors complete (point in time), then it goes on. */
void
mig_switchover(MigJob *job)
{
    if (job->stage != MIG_STAGE_MIGRATING)
        return;
    job->stage = MIG_STAGE_SWITCHOVER;
    job->switchover_us = g_get_monotonic_time();
    mig_record_phase(job, MIG_PHASE_SWITCHOVER, FALSE);
    mig_update_state(job, TRUE);
    for (guint i = 0; i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);
        g_autoptr(JsonObject) arguments = json_object_new();

        if (!disk->mirror_started || disk->ended)
            continue;
        /* A ready mirror cancelled without force completes: the target has every write. */
        json_object_set_string_member(arguments, "device", disk->job_id);
        mig_qmp(job, "block-job-cancel", arguments, NULL, PODVM_QMP_TIMEOUT_BLOCKJOB,
                mirror_complete_cb);
    }
    maybe_continue(job);
}

/* ---- events ---------------------------------------------------------------- */

static MigDisk *
disk_of_job(MigJob *job, JsonObject *data)
{
    const char *id =
        data != NULL ? json_object_get_string_member_with_default(data, "device", NULL) : NULL;

    for (guint i = 0; id != NULL && job->disks != NULL && i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);

        if (g_str_equal(disk->job_id, id))
            return disk;
    }
    return NULL;
}

void
mig_handle_event(MigJob *job, const char *name, JsonObject *data)
{
    MigDisk *disk;

    if (g_str_equal(name, "MIGRATION") || g_str_equal(name, "MIGRATION_PASS")) {
        if (job->migrate_started)
            mig_poll_start(job);
        return;
    }
    if (!g_str_has_prefix(name, "BLOCK_JOB_") || (disk = disk_of_job(job, data)) == NULL)
        return;
    if (g_str_equal(name, "BLOCK_JOB_READY")) {
        disk->ready = TRUE;
        maybe_all_ready(job);
    } else if (g_str_equal(name, "BLOCK_JOB_COMPLETED") ||
               g_str_equal(name, "BLOCK_JOB_CANCELLED")) {
        const char *error = json_object_get_string_member_with_default(data, "error", NULL);

        disk->ended = TRUE;
        if (job->stage == MIG_STAGE_SWITCHOVER && error == NULL &&
            g_str_equal(name, "BLOCK_JOB_COMPLETED")) {
            maybe_continue(job);
        } else if (mig_live(job) && job->stage != MIG_STAGE_FAILING) {
            mig_fail(job, g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                                      _("the mirror of disk '%s' ended: %s"), disk->name,
                                      error != NULL ? error : name));
        }
    }
}

void
mig_release_nbd(MigJob *job)
{
    for (guint i = 0; job->disks != NULL && i < job->disks->len; i++) {
        MigDisk *disk = g_ptr_array_index(job->disks, i);
        g_autoptr(JsonObject) arguments = json_object_new();

        if (disk->nbd_added) {
            json_object_set_string_member(arguments, "node-name", disk->nbd_node);
            mig_qmp(job, "blockdev-del", arguments, NULL, PODVM_QMP_TIMEOUT_HOTPLUG,
                    mig_ignore_reply);
            disk->nbd_added = FALSE;
        }
        if (disk->relay != NULL)
            podvm_relay_close(disk->relay);
    }
}
