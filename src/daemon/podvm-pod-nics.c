/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NIC hotplug: attach = the interface's network (CNI ADD, binding, tap:
 * podvm-pod-net.c) + getfd for each tap fd + netdev_add + device_add on a
 * spare root port + announce-self; detach = device_del, wait for
 * DEVICE_DELETED, netdev_del, then the network released (CNI DEL). Both
 * run as operations of the pod's queue; the stored spec changes only once
 * the operation worked, and a failed attach undoes what it did.
 */
#include "podvm-build-config.h"

#include <gio/gunixfdlist.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-hotplug.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"
#include "podvm-qemu-devices.h"
#include "podvm-qemu-nics.h"

typedef struct {
    PodOp parent;
    /* attach */
    PodvmSpecInterface *iface;
    PodvmSpecNetwork *network;
    PodNetNic *nic;
    guint next_fd;
    gboolean netdev_added;
    gboolean net_attached;
    int port;
    /* detach */
    char *iface_name;
} NicOp;

static void
nic_op_free(PodOp *op)
{
    NicOp *data = (NicOp *)op;

    g_clear_pointer(&data->iface, podvm_spec_interface_free);
    g_clear_pointer(&data->network, podvm_spec_network_free);
    g_clear_pointer(&data->nic, pod_net_nic_free);
    g_free(data->iface_name);
    g_free(data);
}

/* The hotplug placement key of a NIC: apart from disks' (names may be equal). */
static char *
placement_key(const char *iface)
{
    return g_strconcat("nic/", iface, NULL);
}

/* ---- the spec ------------------------------------------------------------------------------ */

static void
spec_remove_interface(PodvmPod *self, const char *name)
{
    for (guint i = 0; i < self->spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(self->spec->interfaces, i);

        if (g_str_equal(iface->name, name)) {
            g_ptr_array_remove_index(self->spec->interfaces, i);
            break;
        }
    }
    for (guint i = 0; i < self->spec->networks->len; i++) {
        const PodvmSpecNetwork *network = g_ptr_array_index(self->spec->networks, i);

        if (g_str_equal(network->name, name)) {
            g_ptr_array_remove_index(self->spec->networks, i);
            break;
        }
    }
}

static void
spec_changed(PodvmPod *self, const char *event, const char *iface, GTask *task)
{
    g_autoptr(JsonObject) details = json_object_new();

    pod_step(self, "interface '%s' %s", iface,
             g_str_equal(event, "InterfaceAttached") ? "attached" : "detached");
    pod_save_or_log(self, PODVM_STORE_DURABLE);
    if (task != NULL)
        pod_op_return(self, task, NULL);
    json_object_set_string_member(details, "interface", iface);
    pod_emit_event(self, event, details);
    pod_emit_changed(self);
}

static gboolean
check_new_interface(PodvmPod *self, const PodvmSpecInterface *iface,
                    const PodvmSpecNetwork *network, GError **error)
{
    if (g_strcmp0(iface->name, network->name) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                    _("interface '%s' must name its network ('%s')"), iface->name, network->name);
        return FALSE;
    }
    if (podvm_spec_find_interface(self->spec, iface->name) != NULL ||
        podvm_spec_find_network(self->spec, network->name) != NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS,
                    _("pod '%s' already has an interface or network named '%s'"), self->spec->name,
                    iface->name);
        return FALSE;
    }
    for (guint i = 0; network->source == PODVM_NETWORK_POD && i < self->spec->networks->len; i++) {
        const PodvmSpecNetwork *other = g_ptr_array_index(self->spec->networks, i);

        if (other->source == PODVM_NETWORK_POD) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("network '%s': the pod already has the pod network ('%s'); a second "
                          "interface joins a multus network"),
                        network->name, other->name);
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- attach ------------------------------------------------------------------------------- */

static gboolean
attach_still_current(PodvmPod *self, GTask *task)
{
    return self->current == task &&
           (self->phase == PODVM_PHASE_RUNNING || self->phase == PODVM_PHASE_PAUSED);
}

static void
attach_fail(PodvmPod *self, GTask *task, GError *error)
{
    NicOp *data = pod_op_of(task);
    g_autoptr(GError) converted = podvm_error_from_component(error);

    g_error_free(error);
    if (data->netdev_added && self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp)) {
        g_autoptr(JsonObject) arguments = json_object_new();
        g_autofree char *id = podvm_qemu_nic_netdev_id(data->iface->name);

        json_object_set_string_member(arguments, "id", id);
        pod_qmp_execute(self->qmp, "netdev_del", arguments, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                        pod_qmp_ignore_reply_cb, g_strdup("netdev_del"));
    }
    g_clear_pointer(&data->nic, pod_net_nic_free);
    if (data->net_attached)
        pod_net_detach_async(self, data->iface->name, NULL, NULL);
    pod_step(self, "attaching interface '%s' failed; undone: %s", data->iface->name,
             converted->message);
    pod_op_return(self, task,
                  g_error_new(PODVM_ERROR, converted->code, _("cannot attach interface '%s': %s"),
                              data->iface->name, converted->message));
}

static gboolean
attach_step_done(PodvmPod *self, GTask *task, GObject *source, GAsyncResult *result)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

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
    NicOp *data = pod_op_of(task);
    g_autoptr(JsonObject) announce = json_object_new();
    g_autofree char *key = placement_key(data->iface->name);

    if (!attach_step_done(self, task, source, result))
        return;
    podvm_hotplug_place(self->hotplug, key, data->port, -1);
    g_ptr_array_add(self->spec->interfaces, podvm_spec_interface_copy(data->iface));
    g_ptr_array_add(self->spec->networks, podvm_spec_network_copy(data->network));
    /* Switches learn the new MAC at once (QEMU's gratuitous RARPs). */
    json_object_set_int_member(announce, "initial", 50);
    json_object_set_int_member(announce, "max", 550);
    json_object_set_int_member(announce, "rounds", 3);
    json_object_set_int_member(announce, "step", 100);
    pod_qmp_execute(self->qmp, "announce-self", announce, PODVM_QMP_TIMEOUT_QUERY, NULL,
                    pod_qmp_ignore_reply_cb, g_strdup("announce-self"));
    spec_changed(self, "InterfaceAttached", data->iface->name, task);
}

static void
attach_add_device(PodvmPod *self, GTask *task)
{
    NicOp *data = pod_op_of(task);
    g_autofree char *bus =
        data->port >= 0 ? podvm_qemu_spare_root_port_id((guint)data->port) : NULL;
    g_autoptr(JsonNode) device = podvm_qemu_nic_device(data->nic->nic, bus);

    pod_qmp_execute(self->qmp, "device_add", json_node_get_object(device),
                    PODVM_QMP_TIMEOUT_HOTPLUG, NULL, attach_device_cb, g_object_ref(task));
}

static void
attach_netdev_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    NicOp *data = pod_op_of(task);

    if (!attach_step_done(self, task, source, result))
        return;
    data->netdev_added = TRUE;
    podvm_fault_crash_point("attach-nic:after-netdev-add");
    attach_add_device(self, task);
}

static void
attach_add_netdev(PodvmPod *self, GTask *task)
{
    NicOp *data = pod_op_of(task);
    g_autoptr(JsonNode) netdev = podvm_qemu_nic_netdev(data->nic->nic);

    if (netdev == NULL) {
        attach_add_device(self, task); /* SR-IOV: the device is all */
        return;
    }
    pod_qmp_execute(self->qmp, "netdev_add", json_node_get_object(netdev),
                    PODVM_QMP_TIMEOUT_HOTPLUG, NULL, attach_netdev_cb, g_object_ref(task));
}

static void attach_send_fd(PodvmPod *self, GTask *task);

static void
attach_getfd_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    NicOp *data = pod_op_of(task);

    if (!attach_step_done(self, task, source, result))
        return;
    data->next_fd++;
    attach_send_fd(self, task);
}

/* Each tap fd goes to QEMU by getfd (SCM_RIGHTS) under a name netdev_add then uses. */
static void
attach_send_fd(PodvmPod *self, GTask *task)
{
    NicOp *data = pod_op_of(task);
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autoptr(GError) error = NULL;

    if (data->next_fd >= data->nic->fds->len) {
        attach_add_netdev(self, task);
        return;
    }
    if (g_unix_fd_list_append(fds, g_array_index(data->nic->fds, int, data->next_fd), &error) < 0) {
        attach_fail(self, task, g_steal_pointer(&error));
        return;
    }
    json_object_set_string_member(arguments, "fdname", data->nic->nic->fds[data->next_fd]);
    podvm_qmp_client_execute_async(self->qmp, "getfd", arguments, fds, PODVM_QMP_TIMEOUT_QUERY,
                                   NULL, attach_getfd_cb, g_object_ref(task));
}

static void
attach_net_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    NicOp *data = pod_op_of(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(GStrvBuilder) names = g_strv_builder_new();

    data->nic = pod_net_attach_finish(self, result, &error);
    if (data->nic == NULL) {
        attach_fail(self, task, g_steal_pointer(&error));
        return;
    }
    data->net_attached = TRUE;
    if (!attach_still_current(self, task)) {
        attach_fail(
            self, task,
            g_error_new(PODVM_ERROR, PODVM_ERROR_WRONG_PHASE, _("the pod stopped meanwhile")));
        return;
    }
    /* vfio pins the guest's memory when the VF is plugged in. */
    if (data->iface->binding == PODVM_BINDING_SRIOV)
        pod_raise_qemu_memlock(self);
    for (guint q = 0; q < data->nic->fds->len; q++) {
        g_autofree char *name = g_strdup_printf("podvm-tap-%s-%u", data->iface->name, q);

        g_strv_builder_add(names, name);
    }
    g_strfreev(data->nic->nic->fds);
    data->nic->nic->fds = data->nic->fds->len > 0 ? g_strv_builder_end(names) : NULL;
    attach_send_fd(self, task);
}

static void
attach_nic_op(PodvmPod *self, GTask *task)
{
    NicOp *data = pod_op_of(task);
    g_autoptr(GError) error = NULL;

    if (!check_new_interface(self, data->iface, data->network, &error)) {
        pod_op_return(self, task, g_steal_pointer(&error));
        return;
    }
    if (!podvm_phase_has_qemu(self->phase)) {
        /* No QEMU: the interface joins the spec and gets its network at the next start. */
        g_ptr_array_add(self->spec->interfaces, podvm_spec_interface_copy(data->iface));
        g_ptr_array_add(self->spec->networks, podvm_spec_network_copy(data->network));
        spec_changed(self, "InterfaceAttached", data->iface->name, task);
        return;
    }
    if (!pod_hotplug_possible(self, task))
        return;
    if (podvm_qemu_machine_is_q35(self->spec->machine_type)) {
        data->port = podvm_hotplug_free_root_port(self->hotplug);
        if (data->port < 0) {
            pod_op_return(self, task,
                          g_error_new(PODVM_ERROR, PODVM_ERROR_BUSY,
                                      _("pod '%s' has no free PCIe root port for another NIC (it "
                                        "has %u; see [qemu] spare_root_ports); detach a device "
                                        "or restart the pod"),
                                      self->spec->name, self->config->spare_root_ports));
            return;
        }
    }
    pod_step(self, "attaching interface '%s' (%s)", data->iface->name,
             podvm_binding_to_string(data->iface->binding));
    pod_net_attach_async(self, data->iface, data->network, NULL, attach_net_cb, g_object_ref(task));
}

/* ---- detach ------------------------------------------------------------------------------- */

typedef struct {
    PodvmPod *self; /* a reference */
    GTask *task;    /* the detach operation, or NULL when a late DEVICE_DELETED finishes it */
    char *iface;
} DetachFinish;

static void
detach_finish_free(DetachFinish *finish)
{
    g_object_unref(finish->self);
    g_clear_object(&finish->task);
    g_free(finish->iface);
    g_free(finish);
}

static void
detach_net_released_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    DetachFinish *finish = user_data;
    PodvmPod *self = finish->self;
    g_autoptr(GError) error = NULL;
    g_autofree char *key = placement_key(finish->iface);
    g_autofree char *id = podvm_qemu_nic_device_id(finish->iface);

    if (!pod_net_detach_finish(self, result, &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': releasing interface '%s': %s",
                self->spec->name, finish->iface, error->message);
    podvm_hotplug_forget(self->hotplug, key, id);
    spec_remove_interface(self, finish->iface);
    spec_changed(self, "InterfaceDetached", finish->iface,
                 finish->task != NULL && self->current == finish->task ? finish->task : NULL);
    detach_finish_free(finish);
}

static void
detach_netdev_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    DetachFinish *finish = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply =
        podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);

    /* A netdev already gone (SR-IOV has none) is fine. */
    if (reply == NULL)
        g_debug("netdev_del of interface '%s': %s", finish->iface, error->message);
    pod_net_detach_async(finish->self, finish->iface, detach_net_released_cb, finish);
}

/* The guest let go of the NIC: remove its netdev, release its network, drop it from the spec. */
static void
detach_after_device(PodvmPod *self, GTask *task, const char *iface)
{
    DetachFinish *finish = g_new0(DetachFinish, 1);
    g_autoptr(JsonObject) arguments = json_object_new();
    g_autofree char *id = podvm_qemu_nic_netdev_id(iface);

    finish->self = g_object_ref(self);
    finish->task = task != NULL ? g_object_ref(task) : NULL;
    finish->iface = g_strdup(iface);
    if (self->qmp == NULL || !podvm_qmp_client_is_connected(self->qmp)) {
        pod_net_detach_async(self, iface, detach_net_released_cb, finish);
        return;
    }
    json_object_set_string_member(arguments, "id", id);
    pod_qmp_execute(self->qmp, "netdev_del", arguments, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                    detach_netdev_cb, finish);
}

static void
detach_released_late(PodvmPod *self, const char *device_id)
{
    g_autofree char *name = podvm_qemu_nic_name_from_device_id(device_id);

    if (name != NULL)
        detach_after_device(self, NULL, name);
}

static void
detach_removed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    NicOp *data = pod_op_of(task);

    if (!pod_hotplug_removal_answered(self, task, result, "interface", data->iface_name))
        return;
    detach_after_device(self, task, data->iface_name);
}

static void
detach_nic_op(PodvmPod *self, GTask *task)
{
    NicOp *data = pod_op_of(task);
    g_autofree char *id = NULL;

    if (podvm_spec_find_interface(self->spec, data->iface_name) == NULL) {
        pod_op_return(self, task,
                      g_error_new(PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                                  _("pod '%s' has no interface named '%s'"), self->spec->name,
                                  data->iface_name));
        return;
    }
    if (!podvm_phase_has_qemu(self->phase)) {
        spec_remove_interface(self, data->iface_name);
        spec_changed(self, "InterfaceDetached", data->iface_name, task);
        return;
    }
    if (!pod_hotplug_possible(self, task))
        return;
    pod_step(self, "detaching interface '%s'", data->iface_name);
    id = podvm_qemu_nic_device_id(data->iface_name);
    podvm_hotplug_remove_async(self, id, self->config->detach_timeout_ms, detach_released_late,
                               detach_removed_cb, g_object_ref(task));
}

/* ---- the entry points --------------------------------------------------------------------- */

static const PodOpClass attach_nic_class = { "attach-interface", attach_nic_op, nic_op_free };
static const PodOpClass detach_nic_class = { "detach-interface", detach_nic_op, nic_op_free };

void
podvm_pod_attach_interface_async(PodvmPod *self, const PodvmSpecInterface *iface,
                                 const PodvmSpecNetwork *network, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    NicOp *data = g_new0(NicOp, 1);

    data->port = -1;
    data->iface = podvm_spec_interface_copy(iface);
    data->network = podvm_spec_network_copy(network);
    pod_op_enqueue(self, pod_op_task_new(self, &attach_nic_class, &data->parent, cancellable,
                                         callback, user_data));
}

void
podvm_pod_detach_interface_async(PodvmPod *self, const char *iface, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    NicOp *data = g_new0(NicOp, 1);

    data->port = -1;
    data->iface_name = g_strdup(iface);
    pod_op_enqueue(self, pod_op_task_new(self, &detach_nic_class, &data->parent, cancellable,
                                         callback, user_data));
}
