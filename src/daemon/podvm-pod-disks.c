/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disk hotplug: attach = prepare + blockdev-add (protocol, then format
 * node) + device_add; detach = device_del, wait for DEVICE_DELETED,
 * blockdev-del (format, then protocol), release. Both run as operations of
 * the pod's queue. The stored spec changes only once the operation worked,
 * and a failed attach undoes every step it made, in reverse.
 *
 * Node names and device ids come from the disk name alone
 * (podvm_qemu_disk_*), so a detach after a daemon restart needs nothing
 * but the spec and the recorded placement (root port, LUN).
 */
#include <gio/gunixfdlist.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-hotplug.h"
#include "podvm-pod-private.h"
#include "podvm-qemu-devices.h"

/* An attach-disk or detach-disk operation (the task data). */
typedef struct {
    PodOp parent;
    /* attach-disk */
    PodvmSpecDisk *disk;
    PodvmSpecVolume *volume;
    /* detach-disk */
    char *disk_name;
    /* attach: what is done so far, undone in reverse on failure */
    PodvmPreparedVolume *prepared;
    gboolean protocol_node_added;
    gboolean format_node_added;
    int port; /* root port taken for the device, or -1 */
    int lun;  /* SCSI LUN taken, or -1 */
} DiskOp;

static void
disk_op_free(PodOp *op)
{
    DiskOp *data = (DiskOp *)op;

    g_clear_pointer(&data->disk, podvm_spec_disk_free);
    g_clear_pointer(&data->volume, podvm_spec_volume_free);
    g_clear_pointer(&data->prepared, podvm_prepared_volume_free);
    g_free(data->disk_name);
    g_free(data);
}

/* ---- the spec ------------------------------------------------------------ */

static void
spec_add_disk(PodvmPod *self, const PodvmSpecDisk *disk, const PodvmSpecVolume *volume)
{
    g_ptr_array_add(self->spec->disks, podvm_spec_disk_copy(disk));
    g_ptr_array_add(self->spec->volumes, podvm_spec_volume_copy(volume));
}

static void
spec_remove_disk(PodvmPod *self, const char *name)
{
    for (guint i = 0; i < self->spec->disks->len; i++) {
        PodvmSpecDisk *disk = g_ptr_array_index(self->spec->disks, i);
        if (g_str_equal(disk->name, name)) {
            g_ptr_array_remove_index(self->spec->disks, i);
            break;
        }
    }
    for (guint i = 0; i < self->spec->volumes->len; i++) {
        PodvmSpecVolume *volume = g_ptr_array_index(self->spec->volumes, i);
        if (g_str_equal(volume->name, name)) {
            g_ptr_array_remove_index(self->spec->volumes, i);
            break;
        }
    }
}

/*
 * The spec changed: store it, answer @task (the current operation, or
 * NULL; pod_op_return() drops the queue's reference), then tell everyone.
 * The file is replaced atomically at once and made durable in a worker
 * thread, so the answer does not wait for the disk's fsync (2-5 ms here):
 * only a host crash within those milliseconds could lose the change, and
 * it would take the QEMU that had the device with it.
 */
static void
spec_changed(PodvmPod *self, const char *event, const char *disk_name, GTask *task)
{
    g_autoptr(JsonObject) details = json_object_new();

    pod_step(self, "disk '%s' %s", disk_name,
             g_str_equal(event, "DiskAttached") ? "attached" : "detached");
    pod_save_or_log(self, PODVM_STORE_ATOMIC);
    podvm_store_sync_in_background(self->state_file);
    if (task != NULL)
        pod_op_return(self, task, NULL);
    json_object_set_string_member(details, "disk", disk_name);
    pod_emit_event(self, event, details);
    pod_emit_changed(self);
}

static gboolean
check_new_disk(PodvmPod *self, const PodvmSpecDisk *disk, const PodvmSpecVolume *volume,
               GError **error)
{
    if (g_strcmp0(disk->name, volume->name) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("disk '%s' must name its volume ('%s')"), disk->name, volume->name);
        return FALSE;
    }
    if (podvm_spec_find_disk(self->spec, disk->name) != NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                    _("pod '%s' already has a disk named '%s'"), self->spec->name, disk->name);
        return FALSE;
    }
    if (podvm_spec_find_volume(self->spec, volume->name) != NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                    _("pod '%s' already has a volume named '%s'"), self->spec->name, volume->name);
        return FALSE;
    }
    for (guint i = 0; disk->boot_order != 0 && i < self->spec->disks->len; i++) {
        const PodvmSpecDisk *other = g_ptr_array_index(self->spec->disks, i);
        if (other->boot_order == disk->boot_order) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("bootOrder %u is already taken by disk '%s'"), disk->boot_order,
                        other->name);
            return FALSE;
        }
    }
    if (volume->source == PODVM_VOLUME_HOST_DISK &&
        !podvm_storage_check_host_path(
            volume->path, (const char *const *)self->config->allowed_host_paths, error))
        return FALSE;
    return TRUE;
}

/*
 * Hotplug needs a QEMU that runs (or is paused) and its monitor; otherwise
 * answers the operation (Starting and Stopping are wrong phases) and FALSE.
 */
gboolean
pod_hotplug_possible(PodvmPod *self, GTask *task)
{
    if (self->phase != PODVM_PHASE_RUNNING && self->phase != PODVM_PHASE_PAUSED)
        return pod_wrong_phase(self, task, _("wait until it is running or stopped"));
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU,
                                  _("pod '%s': QEMU's monitor is not connected"),
                                  self->spec->name));
        return FALSE;
    }
    return TRUE;
}

/* ---- attach ------------------------------------------------------------- */

static gboolean
attach_still_current(PodvmPod *self, GTask *task)
{
    return self->current == task &&
           (self->phase == PODVM_PHASE_RUNNING || self->phase == PODVM_PHASE_PAUSED);
}

gboolean
pod_hotplug_removal_answered(PodvmPod *self, GTask *task, GAsyncResult *result, const char *kind,
                             const char *name)
{
    g_autoptr(GError) error = NULL;

    if (podvm_hotplug_remove_finish(self, result, &error))
        return TRUE;
    if (self->current != task)
        return FALSE;
    if (!g_error_matches(error, PODVM_ERROR, PODVM_ERROR_TIMEOUT)) {
        pod_op_return(self, task, g_steal_pointer(&error));
        return FALSE;
    }
    /* Not an error of ours: the guest may still let go; then podvmd finishes the detach. */
    pod_step(self, "the guest has not released %s '%s' yet; removal pending", kind, name);
    pod_op_return(self, task,
                  g_error_new(PODVM_ERROR, PODVM_ERROR_TIMEOUT,
                              /* TRANSLATORS: the first %s is "disk" or "interface" */
                              _("the guest did not release %s '%s' within %.1f s; the removal "
                                "stays pending and finishes if the guest lets go (check that it "
                                "handles PCIe/ACPI hotplug and is not paused)"),
                              kind, name, self->config->detach_timeout_ms / 1000.0));
    return FALSE;
}

void
pod_qmp_ignore_reply_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *what = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (reply == NULL)
        g_debug("%s: %s", what, error->message);
}

static void
blockdev_del(PodvmPod *self, const char *node_name, GAsyncReadyCallback callback,
             gpointer user_data)
{
    g_autoptr(JsonObject) arguments = json_object_new();

    json_object_set_string_member(arguments, "node-name", node_name);
    if (callback == NULL) {
        callback = pod_qmp_ignore_reply_cb;
        user_data = g_strdup_printf("blockdev-del %s", node_name);
    }
    pod_qmp_execute(self->qmp, "blockdev-del", arguments, PODVM_QMP_TIMEOUT_HOTPLUG, NULL, callback,
                    user_data);
}

/* Undoes a failed attach, in reverse, and reports @error. */
static void
attach_fail(PodvmPod *self, GTask *task, GError *error)
{
    DiskOp *data = pod_op_of(task);
    PodvmStorageContext ctx;
    g_autoptr(GError) converted = podvm_error_from_component(error);

    g_error_free(error);
    if (self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp)) {
        if (data->format_node_added) {
            g_autofree char *node = podvm_qemu_disk_node_name(data->disk->name, TRUE);
            blockdev_del(self, node, NULL, NULL);
        }
        if (data->protocol_node_added) {
            g_autofree char *node = podvm_qemu_disk_node_name(data->disk->name, FALSE);
            blockdev_del(self, node, NULL, NULL);
        }
    }
    if (data->prepared != NULL && self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp)) {
        gboolean in_fdset[] = { data->prepared->in_fdset, data->prepared->backing_in_fdset };
        guint fdsets[] = { data->prepared->fdset, data->prepared->backing_fdset };

        for (guint i = 0; i < G_N_ELEMENTS(fdsets); i++) {
            g_autoptr(JsonObject) arguments = json_object_new();

            if (!in_fdset[i])
                continue;
            json_object_set_int_member(arguments, "fdset-id", fdsets[i]);
            pod_qmp_execute(self->qmp, "remove-fd", arguments, PODVM_QMP_TIMEOUT_QUERY, NULL,
                            pod_qmp_ignore_reply_cb, g_strdup("remove-fd"));
        }
    }
    if (data->prepared != NULL) {
        /* The volume never joined the pod: nothing of it is kept (an emptyDisk image neither). */
        pod_storage_context(self, &ctx);
        podvm_storage_delete(&ctx, data->volume);
    }
    pod_step(self, "attaching disk '%s' failed; undone: %s", data->disk->name, converted->message);
    pod_op_return(self, task,
                  g_error_new(PODVM_ERROR, converted->code, _("cannot attach disk '%s': %s"),
                              data->disk->name, converted->message));
}

/*
 * The QMP answer to one attach step: TRUE to go on. Otherwise the attach
 * was undone and reported (or is no longer the current operation).
 * @out_added: set when QEMU did the step, so attach_fail() undoes it.
 */
static gboolean
attach_step_done(PodvmPod *self, GTask *task, GObject *source, GAsyncResult *result,
                 gboolean *out_added)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    if (reply != NULL && out_added != NULL)
        *out_added = TRUE;
    if (reply != NULL && attach_still_current(self, task))
        return TRUE;
    if (self->current == task)
        attach_fail(self, task,
                    error != NULL ? g_steal_pointer(&error)
                                  : g_error_new(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                                _("the pod stopped meanwhile")));
    return FALSE;
}

static void
attach_device_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    DiskOp *data = pod_op_of(task);

    if (!attach_step_done(self, task, source, result, NULL))
        return;
    podvm_hotplug_place(self->hotplug, data->disk->name, data->port, data->lun);
    spec_add_disk(self, data->disk, data->volume);
    spec_changed(self, "DiskAttached", data->disk->name, task);
}

static void
attach_add_device(PodvmPod *self, GTask *task)
{
    DiskOp *data = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) device = NULL;
    g_autofree char *bus = NULL;

    if (data->port >= 0)
        bus = podvm_qemu_spare_root_port_id((guint)data->port);
    /* For scsi the unit is the LUN. */
    device = podvm_qemu_disk_device(data->disk, data->prepared, bus,
                                    data->lun >= 0 ? (guint)data->lun : 0, &error);
    if (device == NULL) {
        attach_fail(self, task, g_steal_pointer(&error));
        return;
    }
    pod_qmp_execute(self->qmp, "device_add", json_node_get_object(device),
                    PODVM_QMP_TIMEOUT_HOTPLUG, NULL, attach_device_cb, g_object_ref(task));
}

static void
attach_controller_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    DiskOp *data = pod_op_of(task);

    if (!attach_step_done(self, task, source, result, NULL))
        return;
    /* The controller stays for later SCSI disks, whatever happens to this one. */
    podvm_hotplug_place(self->hotplug, PODVM_HOTPLUG_SCSI_CONTROLLER_KEY, data->port, -1);
    pod_save_or_log(self, PODVM_STORE_DURABLE);
    data->port = -1;
    attach_add_device(self, task);
}

static void
attach_format_node_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    DiskOp *data = pod_op_of(task);

    if (!attach_step_done(self, task, source, result, &data->format_node_added))
        return;
    podvm_fault_crash_point("attach:after-blockdev-add");
    if (data->disk->bus == PODVM_DISK_BUS_SCSI &&
        !podvm_hotplug_is_placed(self->hotplug, PODVM_HOTPLUG_SCSI_CONTROLLER_KEY)) {
        /* No SCSI disk at boot, so no controller: plug one into a spare root port first. */
        g_autoptr(JsonNode) controller = NULL;
        g_autofree char *bus = NULL;
        int port = podvm_qemu_machine_is_q35(self->spec->machine_type)
                       ? podvm_hotplug_free_root_port(self->hotplug)
                       : -1;

        if (podvm_qemu_machine_is_q35(self->spec->machine_type) && port < 0) {
            attach_fail(self, task,
                        g_error_new(PODVM_ERROR, PODVM_ERROR_BUSY,
                                    _("no free PCIe root port for the SCSI controller (the pod "
                                      "has %u; see [qemu] spare_root_ports)"),
                                    self->config->spare_root_ports));
            return;
        }
        if (port >= 0)
            bus = podvm_qemu_spare_root_port_id((guint)port);
        data->port = port;
        controller = podvm_qemu_scsi_controller(bus);
        pod_step(self, "adding a SCSI controller for disk '%s'", data->disk->name);
        pod_qmp_execute(self->qmp, "device_add", json_node_get_object(controller),
                        PODVM_QMP_TIMEOUT_HOTPLUG, NULL, attach_controller_cb, g_object_ref(task));
        return;
    }
    attach_add_device(self, task);
}

static void
attach_protocol_node_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    DiskOp *data = pod_op_of(task);
    g_autoptr(JsonNode) node = NULL;

    if (!attach_step_done(self, task, source, result, &data->protocol_node_added))
        return;
    node = podvm_qemu_disk_format_blockdev(data->disk, data->prepared);
    pod_qmp_execute(self->qmp, "blockdev-add", json_node_get_object(node),
                    PODVM_QMP_TIMEOUT_HOTPLUG, NULL, attach_format_node_cb, g_object_ref(task));
}

static void
attach_add_protocol_node(PodvmPod *self, GTask *task)
{
    DiskOp *data = pod_op_of(task);
    g_autoptr(JsonNode) node = podvm_qemu_disk_protocol_blockdev(data->disk, data->prepared);

    pod_qmp_execute(self->qmp, "blockdev-add", json_node_get_object(node),
                    PODVM_QMP_TIMEOUT_HOTPLUG, NULL, attach_protocol_node_cb, g_object_ref(task));
}

static void attach_add_fd(PodvmPod *self, GTask *task, int fd);

static void
attach_add_fd_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    DiskOp *data = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    JsonObject *object =
        reply != NULL && JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    gint64 fdset =
        object != NULL ? json_object_get_int_member_with_default(object, "fdset-id", -1) : -1;

    if (reply != NULL && fdset >= 0 && fdset <= G_MAXINT) {
        if (!data->prepared->in_fdset) {
            data->prepared->fdset = (guint)fdset;
            data->prepared->in_fdset = TRUE;
        } else {
            data->prepared->backing_fdset = (guint)fdset;
            data->prepared->backing_in_fdset = TRUE;
        }
    }
    if (reply != NULL && fdset < 0 && error == NULL)
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_QEMU, _("add-fd answered no fd set"));
    if (reply == NULL || error != NULL || !attach_still_current(self, task)) {
        if (self->current == task)
            attach_fail(self, task,
                        error != NULL ? g_steal_pointer(&error)
                                      : g_error_new(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                                    _("the pod stopped meanwhile")));
        return;
    }
    if (data->prepared->backing_fd >= 0 && !data->prepared->backing_in_fdset) {
        attach_add_fd(self, task, data->prepared->backing_fd);
        return;
    }
    attach_add_protocol_node(self, task);
}

/* The file podvmd opened goes to QEMU with the command (SCM_RIGHTS), into a new fd set. */
static void
attach_add_fd(PodvmPod *self, GTask *task, int fd)
{
    DiskOp *data = pod_op_of(task);
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autofree char *opaque = podvm_qemu_disk_fdset_opaque(data->disk->name);
    g_autoptr(GError) error = NULL;

    if (g_unix_fd_list_append(fds, fd, &error) < 0) {
        attach_fail(self, task, g_steal_pointer(&error));
        return;
    }
    json_object_set_string_member(arguments, "opaque", opaque);
    podvm_qmp_client_execute_async(self->qmp, "add-fd", arguments, fds, PODVM_QMP_TIMEOUT_QUERY,
                                   NULL, attach_add_fd_cb, g_object_ref(task));
}

static void
attach_prepared_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    DiskOp *data = pod_op_of(task);
    g_autoptr(GError) error = NULL;

    data->prepared = podvm_storage_prepare_finish(result, &error);
    if (data->prepared == NULL) {
        /* prepare() leaves nothing behind when it fails. */
        attach_fail(self, task, g_steal_pointer(&error));
        return;
    }
    if (!attach_still_current(self, task)) {
        attach_fail(
            self, task,
            g_error_new(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE, _("the pod stopped meanwhile")));
        return;
    }
    if (data->prepared->fd >= 0) {
        attach_add_fd(self, task, data->prepared->fd);
        return;
    }
    attach_add_protocol_node(self, task);
}

static void
attach_disk_op(PodvmPod *self, GTask *task)
{
    DiskOp *data = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    PodvmStorageContext ctx;
    gboolean read_only;

    if (!check_new_disk(self, data->disk, data->volume, &error)) {
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    if (!podvm_phase_has_qemu(self->phase)) {
        /* No QEMU: the disk joins the spec and is prepared at the next start. */
        spec_add_disk(self, data->disk, data->volume);
        spec_changed(self, "DiskAttached", data->disk->name, task);
        return;
    }
    if (!pod_hotplug_possible(self, task))
        return;
    switch (data->disk->bus) {
    case PODVM_DISK_BUS_SATA:
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                  _("a SATA disk cannot be added to a running pod (QEMU's AHCI "
                                    "has no hotplug); use the virtio or scsi bus, or stop the "
                                    "pod first")));
        return;
    case PODVM_DISK_BUS_VIRTIO:
        if (podvm_qemu_machine_is_q35(self->spec->machine_type)) {
            data->port = podvm_hotplug_free_root_port(self->hotplug);
            if (data->port < 0) {
                pod_op_return(self, task,
                              g_error_new(PODVM_ERROR, PODVM_ERROR_BUSY,
                                          _("pod '%s' has no free PCIe root port for another "
                                            "virtio disk (it has %u; see [qemu] "
                                            "spare_root_ports); use the scsi bus, detach a "
                                            "disk, or restart the pod"),
                                          self->spec->name, self->config->spare_root_ports));
                return;
            }
        }
        break;
    case PODVM_DISK_BUS_SCSI:
        data->lun = podvm_hotplug_free_scsi_lun(self->hotplug);
        break;
    }
    pod_step(self, "attaching disk '%s'", data->disk->name);
    read_only = data->disk->readonly || data->disk->kind == PODVM_DISK_KIND_CDROM;
    pod_storage_context(self, &ctx);
    podvm_storage_prepare_async(&ctx, data->volume, read_only, NULL, attach_prepared_cb,
                                g_object_ref(task));
}

/* ---- detach ------------------------------------------------------------- */

typedef struct {
    PodvmPod *self; /* a reference */
    GTask *task;    /* the detach operation, or NULL when a late DEVICE_DELETED finishes it */
    char *disk_name;
} DetachFinish;

static void
detach_finish_free(DetachFinish *finish)
{
    g_object_unref(finish->self);
    g_clear_object(&finish->task);
    g_free(finish->disk_name);
    g_free(finish);
}

static void
remove_fdsets_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *opaque = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    JsonArray *sets;

    if (reply == NULL || !JSON_NODE_HOLDS_ARRAY(reply)) {
        g_debug("query-fdsets: %s", error != NULL ? error->message : "not an array");
        return;
    }
    sets = json_node_get_array(reply);
    for (guint i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = set != NULL && json_object_has_member(set, "fds")
                             ? json_object_get_array_member(set, "fds")
                             : NULL;

        for (guint j = 0; fds != NULL && j < json_array_get_length(fds); j++) {
            JsonObject *fd = json_array_get_object_element(fds, j);

            if (fd != NULL &&
                g_strcmp0(json_object_get_string_member_with_default(fd, "opaque", NULL), opaque) ==
                    0) {
                g_autoptr(JsonObject) arguments = json_object_new();

                json_object_set_int_member(arguments, "fdset-id",
                                           json_object_get_int_member(set, "fdset-id"));
                podvm_qmp_client_execute_async(PODVM_QMP_CLIENT(source), "remove-fd", arguments,
                                               NULL, PODVM_QMP_TIMEOUT_QUERY, NULL,
                                               pod_qmp_ignore_reply_cb, g_strdup("remove-fd"));
                break;
            }
        }
    }
}

/*
 * The fd sets QEMU holds for a disk (podvm_qemu_disk_fdset_opaque(), at boot or
 * hotplug) are removed once its nodes are gone; found by their opaque text,
 * so this works after a daemon restart too.
 */
static void
remove_fdsets(PodvmPod *self, const char *disk_name)
{
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp))
        return;
    podvm_qmp_client_execute_async(self->qmp, "query-fdsets", NULL, NULL, PODVM_QMP_TIMEOUT_QUERY,
                                   NULL, remove_fdsets_cb, podvm_qemu_disk_fdset_opaque(disk_name));
}

/* The device and its nodes are gone from QEMU: release the volume, drop it from the spec. */
static void
detach_done(DetachFinish *finish)
{
    PodvmPod *self = finish->self;

    remove_fdsets(self, finish->disk_name);
    const PodvmSpecVolume *volume = podvm_spec_find_volume(self->spec, finish->disk_name);
    PodvmStorageContext ctx;

    pod_storage_context(self, &ctx);
    if (volume != NULL) {
        /* A detached disk leaves the pod: an emptyDisk's image goes with it. */
        podvm_storage_release(&ctx, volume);
        podvm_storage_delete(&ctx, volume);
    }
    {
        g_autofree char *id = podvm_qemu_disk_device_id(finish->disk_name);

        podvm_hotplug_forget(self->hotplug, finish->disk_name, id);
    }
    spec_remove_disk(self, finish->disk_name);
    /* The operation's own reference stays with @finish (freed below). */
    spec_changed(self, "DiskDetached", finish->disk_name,
                 finish->task != NULL && self->current == finish->task ? finish->task : NULL);
    detach_finish_free(finish);
}

static void
detach_protocol_node_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    DetachFinish *finish = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    /* A node that is already gone (QEMU restarted by hand, a second try) is fine. */
    if (reply == NULL)
        g_debug("blockdev-del of disk '%s': %s", finish->disk_name, error->message);
    detach_done(finish);
}

static void
detach_format_node_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    DetachFinish *finish = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    g_autofree char *node = podvm_qemu_disk_node_name(finish->disk_name, FALSE);

    if (reply == NULL)
        g_debug("blockdev-del of disk '%s': %s", finish->disk_name, error->message);
    if (finish->self->qmp == NULL || !podvm_qmp_client_is_connected(finish->self->qmp)) {
        detach_done(finish);
        return;
    }
    blockdev_del(finish->self, node, detach_protocol_node_cb, finish);
}

/* The guest let go of the device: delete its block nodes, then finish. */
static void
detach_remove_nodes(PodvmPod *self, GTask *task, const char *disk_name)
{
    DetachFinish *finish = g_new0(DetachFinish, 1);
    g_autofree char *node = podvm_qemu_disk_node_name(disk_name, TRUE);

    finish->self = g_object_ref(self);
    finish->task = task != NULL ? g_object_ref(task) : NULL;
    finish->disk_name = g_strdup(disk_name);
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        detach_done(finish);
        return;
    }
    blockdev_del(self, node, detach_format_node_cb, finish);
}

/* The guest let go of a disk after its detach timed out: finish the detach. */
static void
detach_released_late(PodvmPod *self, const char *device_id)
{
    g_autofree char *name = podvm_qemu_disk_name_from_device_id(device_id);

    if (name != NULL)
        detach_remove_nodes(self, NULL, name);
}

static void
detach_removed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    DiskOp *data = pod_op_of(task);

    if (!pod_hotplug_removal_answered(self, task, result, "disk", data->disk_name))
        return;
    detach_remove_nodes(self, task, data->disk_name);
}

static void
detach_disk_op(PodvmPod *self, GTask *task)
{
    DiskOp *data = pod_op_of(task);
    g_autofree char *id = NULL;

    if (podvm_spec_find_disk(self->spec, data->disk_name) == NULL) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                                  _("pod '%s' has no disk named '%s'"), self->spec->name,
                                  data->disk_name));
        return;
    }
    if (!podvm_phase_has_qemu(self->phase)) {
        DetachFinish *finish = g_new0(DetachFinish, 1);

        finish->self = g_object_ref(self);
        finish->task = g_object_ref(task);
        finish->disk_name = g_strdup(data->disk_name);
        detach_done(finish);
        return;
    }
    if (!pod_hotplug_possible(self, task))
        return;
    pod_step(self, "detaching disk '%s'", data->disk_name);
    id = podvm_qemu_disk_device_id(data->disk_name);
    podvm_hotplug_remove_async(self, id, self->config->detach_timeout_ms, detach_released_late,
                               detach_removed_cb, g_object_ref(task));
}

/* ---- the entry points --------------------------------------------------- */

static const PodOpClass attach_disk_class = { "attach-disk", attach_disk_op, disk_op_free };
static const PodOpClass detach_disk_class = { "detach-disk", detach_disk_op, disk_op_free };

static DiskOp *
disk_op_new(void)
{
    DiskOp *data = g_new0(DiskOp, 1);

    data->port = -1;
    data->lun = -1;
    return data;
}

void
podvm_pod_attach_disk_async(PodvmPod *self, const PodvmSpecDisk *disk,
                            const PodvmSpecVolume *volume, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    DiskOp *data = disk_op_new();

    data->disk = podvm_spec_disk_copy(disk);
    data->volume = podvm_spec_volume_copy(volume);
    pod_op_enqueue(self, pod_op_task_new(self, &attach_disk_class, &data->parent, cancellable,
                                         callback, user_data));
}

void
podvm_pod_detach_disk_async(PodvmPod *self, const char *disk_name, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
    DiskOp *data = disk_op_new();

    data->disk_name = g_strdup(disk_name);
    pod_op_enqueue(self, pod_op_task_new(self, &detach_disk_class, &data->parent, cancellable,
                                         callback, user_data));
}

/* ---- status ------------------------------------------------------------- */

static gboolean
disk_removal_pending(PodvmPod *self, const char *disk_name)
{
    g_autofree char *id = podvm_qemu_disk_device_id(disk_name);

    return podvm_hotplug_removal_pending(self->hotplug, id, NULL);
}

void
pod_disks_add_volume_status(PodvmPod *self, JsonBuilder *b)
{
    guint recorded = self->volume_status != NULL ? json_array_get_length(self->volume_status) : 0;
    g_autoptr(GHashTable) shown = g_hash_table_new(g_str_hash, g_str_equal);
    gboolean any_pending = FALSE;

    for (guint i = 0; self->spec->disks != NULL && i < self->spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(self->spec->disks, i);

        any_pending = any_pending || disk_removal_pending(self, disk->name);
    }
    if (recorded == 0 && !any_pending)
        return;
    json_builder_set_member_name(b, "volumeStatus");
    json_builder_begin_array(b);
    /* The entries the last start recorded (containerDisks), a pending removal's added in. */
    for (guint i = 0; i < recorded; i++) {
        JsonObject *entry = json_array_get_object_element(self->volume_status, i);
        const char *name = json_object_get_string_member_with_default(entry, "name", NULL);
        g_autofree char *id = NULL;
        GList *members;

        json_builder_begin_object(b);
        members = json_object_get_members(entry);
        for (GList *l = members; l != NULL; l = l->next) {
            const char *member = l->data;

            /* These are the pending removal's own (below). */
            if (g_str_equal(member, "phase") || g_str_equal(member, "reason") ||
                g_str_equal(member, "message"))
                continue;
            json_builder_set_member_name(b, member);
            json_builder_add_value(b, json_node_copy(json_object_get_member(entry, member)));
        }
        g_list_free(members);
        if (name != NULL) {
            id = podvm_qemu_disk_device_id(name);
            pod_hotplug_add_pending_status(self, b, "disk", name, id);
            g_hash_table_add(shown, (gpointer)name);
        }
        json_builder_end_object(b);
    }
    /* A hotplugged disk has no entry of its own: one while its removal is pending. */
    for (guint i = 0; self->spec->disks != NULL && i < self->spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(self->spec->disks, i);
        g_autofree char *id = NULL;

        if (g_hash_table_contains(shown, disk->name) || !disk_removal_pending(self, disk->name))
            continue;
        id = podvm_qemu_disk_device_id(disk->name);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, disk->name);
        pod_hotplug_add_pending_status(self, b, "disk", disk->name, id);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

gboolean
podvm_pod_is_preparing_volumes(PodvmPod *self)
{
    g_return_val_if_fail(PODVM_IS_POD(self), FALSE);
    if (self->phase == PODVM_PHASE_STARTING || self->phase == PODVM_PHASE_INCOMING)
        return TRUE;
    return self->current != NULL &&
           ((PodOp *)pod_op_of(self->current))->klass == &attach_disk_class;
}
