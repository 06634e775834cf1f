/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Releasing the pod's network, whole (stop, delete, a failed start) or one
 * interface (hot-unplug): the servers at once, then VFs given back, CNI DEL
 * for each attachment in reverse, the namespace removed; the attachments
 * leave the record once that is done.
 */
#include "podvm-build-config.h"
#include "podvm-pod-net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>

#include "podvm-binding.h"
#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-sriov.h"

/* ---- release ------------------------------------------------------------------------------ */

typedef struct {
    GPtrArray *attachments; /* of PodNetAttachment* (copies), in the order to release */
    guint next;
    PodvmCniSettings settings;
    char *netns_path;
    GError *first_error;
    gboolean whole;       /* the whole network (remove the namespace), else one interface */
    gboolean del_delayed; /* the next DEL waited for PODVM_TEST_DELAY_AT already */
} ReleaseData;

static void
release_data_free(ReleaseData *data)
{
    g_ptr_array_unref(data->attachments);
    podvm_cni_settings_clear(&data->settings);
    g_free(data->netns_path);
    g_clear_error(&data->first_error);
    g_free(data);
}

static void release_next(GTask *task);
static gboolean release_del_later_cb(gpointer user_data);

static void
release_keep_error(ReleaseData *data, GError *error)
{
    if (data->first_error == NULL)
        data->first_error = error;
    else
        g_error_free(error);
}

static void
release_del_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    ReleaseData *data = g_task_get_task_data(task);
    GError *error = NULL;

    if (!podvm_cni_del_finish(result, &error))
        release_keep_error(data, error);
    data->next++;
    release_next(g_steal_pointer(&task));
}

/* One interface's links and rules, inside the namespace (a whole release removes the namespace). */
static gboolean
teardown_in_namespace(gpointer user_data, GError **error)
{
    BindWork *work = user_data;

    for (guint i = 0; i < work->jobs->len; i++) {
        BindJob *job = g_ptr_array_index(work->jobs, i);

        if (!podvm_binding_teardown(&job->setup, error))
            return FALSE;
    }
    return TRUE;
}

static void
release_vfs_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    BindWork *work = task_data;
    GError *error = NULL;
    GError *teardown_error = NULL;

    /* A failure here is reported, but VFs are given back all the same. */
    if (work->netns_fd >= 0)
        podvm_netns_run(work->netns_fd, teardown_in_namespace, work, &teardown_error);
    for (guint i = 0; i < work->jobs->len; i++) {
        BindJob *job = g_ptr_array_index(work->jobs, i);
        g_autofree char *group = NULL;
        g_autoptr(GError) local = NULL;

        if (job->vf == NULL)
            continue;
        /* Its vfio group device back to root first, while vfio-pci still has the VF. */
        group = podvm_sriov_iommu_group(&work->sriov_host, job->vf, &local);
        if (group != NULL && work->config->qemu_drop_privileges &&
            !podvm_sriov_vfio_revoke(&work->sriov_host, group, &local) &&
            !g_error_matches(local, PODVM_ERROR, PODVM_ERROR_NOT_FOUND))
            g_warning("interface '%s': virtual function %s: %s", job->iface_name, job->vf,
                      local->message);
        if (!podvm_sriov_release(&work->sriov_host, job->vf, &error)) {
            g_clear_error(&teardown_error);
            g_task_return_error(task, error);
            return;
        }
    }
    if (teardown_error != NULL)
        g_task_return_error(task, teardown_error);
    else
        g_task_return_boolean(task, TRUE);
}

/* Removes the released attachments from the pod and stores it. */
static void
release_forget(PodvmPod *self, ReleaseData *data)
{
    for (guint i = 0; i < data->attachments->len; i++) {
        const PodNetAttachment *done = g_ptr_array_index(data->attachments, i);
        PodNetAttachment *a = pod_net_find_attachment(self->net, done->iface);

        if (a != NULL)
            g_ptr_array_remove(self->net->attachments, a);
    }
    pod_save_or_log(self, PODVM_STORE_DURABLE);
    /* The status lost its addresses: the fronts' copies (D-Bus properties) too. */
    pod_emit_changed(self);
}

/* PODVM_TEST_DELAY_AT=net:before-del: the DEL, a second later. */
static gboolean
release_del_later_cb(gpointer user_data)
{
    release_next(user_data);
    return G_SOURCE_REMOVE;
}

static void
release_next(GTask *task)
{
    PodvmPod *self = g_task_get_source_object(task);
    ReleaseData *data = g_task_get_task_data(task);
    PodNetAttachment *a;
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autoptr(GError) error = NULL;
    PodvmCniAttachment attachment = { 0 };

    while (data->next < data->attachments->len) {
        a = g_ptr_array_index(data->attachments, data->next);
        if (a->added && a->conflist != NULL)
            break;
        data->next++;
    }
    if (data->next >= data->attachments->len) {
        if (data->whole && !podvm_netns_remove(data->netns_path, &error))
            release_keep_error(data, g_steal_pointer(&error));
        podvm_fault_crash_point("net:after-release");
        release_forget(self, data);
        if (data->first_error != NULL)
            g_task_return_error(task, g_steal_pointer(&data->first_error));
        else
            g_task_return_boolean(task, TRUE);
        g_object_unref(task);
        return;
    }
    if (!data->del_delayed && podvm_fault_delay_ms("net:before-del") > 0) {
        data->del_delayed = TRUE;
        g_timeout_add(podvm_fault_delay_ms("net:before-del"), release_del_later_cb, task);
        return;
    }
    data->del_delayed = FALSE;
    a = g_ptr_array_index(data->attachments, data->next);
    network = podvm_cni_network_parse(a->conflist, -1, "stored", &error);
    if (network == NULL) {
        release_keep_error(data, g_steal_pointer(&error));
        data->next++;
        release_next(task);
        return;
    }
    attachment.container_id = self->spec->uid;
    attachment.netns_path = data->netns_path;
    attachment.ifname = a->pod_ifname;
    podvm_cni_del_async(&data->settings, network, &attachment, a->result, NULL, release_del_cb,
                        task);
}

static void
release_vfs_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    ReleaseData *data = g_task_get_task_data(task);
    GError *error = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error))
        release_keep_error(data, error);
    release_next(g_steal_pointer(&task));
}

/*
 * The binding of an attachment the spec does not name (an attach that
 * failed or that a restart cut short): a VF's is sriov; else its bridge
 * and tap are removed, and the NAT table unless another interface is
 * masquerade (one table per namespace).
 */
static PodvmBinding
unknown_binding(PodvmPod *self, const PodNetAttachment *a)
{
    if (a->vf != NULL)
        return PODVM_BINDING_SRIOV;
    for (guint i = 0; i < self->spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(self->spec->interfaces, i);

        if (iface->binding == PODVM_BINDING_MASQUERADE)
            return PODVM_BINDING_BRIDGE;
    }
    return PODVM_BINDING_MASQUERADE;
}

void
pod_net_release_begin(PodvmPod *self, GTask *task, GPtrArray *attachments, gboolean whole)
{
    ReleaseData *data = g_new0(ReleaseData, 1);
    BindWork *work;
    GTask *vf_task;
    gboolean any_vf = FALSE, any_bridge = FALSE;
    int netns_fd = -1;

    data->attachments = attachments;
    data->whole = whole;
    data->netns_path = g_strdup(self->net->netns_path);
    podvm_config_cni_settings(self->config, &data->settings);
    g_task_set_task_data(task, data, (GDestroyNotify)release_data_free);
    for (guint i = 0; i < attachments->len; i++) {
        const PodNetAttachment *a = g_ptr_array_index(attachments, i);
        const PodvmSpecInterface *iface = podvm_spec_find_interface(self->spec, a->iface);

        g_hash_table_remove(self->net->servers, a->iface);
        any_vf |= a->vf != NULL;
        any_bridge |= iface != NULL && iface->binding == PODVM_BINDING_BRIDGE;
    }
    /*
     * One interface of a running pod: its bridge, tap and rules go before CNI DEL. So do
     * those of the bridge binding in a whole release: its pod interface needs its addresses
     * back for DEL (the whole namespace goes afterwards anyway).
     */
    if ((!whole || any_bridge) && podvm_netns_exists(data->netns_path))
        netns_fd = podvm_netns_open(data->netns_path, NULL);
    if (!any_vf && netns_fd < 0) {
        release_next(task);
        return;
    }
    /* In a thread: the namespace's links, and VFs back to their drivers (sysfs may wait). */
    work = g_new0(BindWork, 1);
    work->netns_fd = netns_fd;
    work->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_bind_job_free);
    work->spec = podvm_spec_copy(self->spec);
    pod_net_sriov_host_of(self, work);
    for (guint i = 0; i < attachments->len; i++) {
        const PodNetAttachment *a = g_ptr_array_index(attachments, i);
        const PodvmSpecInterface *iface = podvm_spec_find_interface(self->spec, a->iface);
        BindJob *job;

        job = g_new0(BindJob, 1);
        podvm_binding_setup_init(&job->setup);
        job->iface_name = g_strdup(a->iface);
        job->vf = g_strdup(a->vf);
        job->setup.slot = a->slot;
        job->setup.binding = iface != NULL ? iface->binding : unknown_binding(self, a);
        /* What the bridge binding gives back to the pod interface (a->... outlive the job). */
        job->setup.pod_ifname = a->pod_ifname;
        if (job->setup.binding == PODVM_BINDING_BRIDGE) {
            g_autoptr(PodvmCniResult) result = pod_net_parse_result(a);

            job->pod_addresses = pod_net_result_addresses(result);
            job->setup.pod_addresses = job->pod_addresses;
        }
        g_ptr_array_add(work->jobs, job);
    }
    vf_task = g_task_new(self, NULL, release_vfs_cb, task);
    g_task_set_task_data(vf_task, work, (GDestroyNotify)pod_net_bind_work_free);
    g_task_run_in_thread(vf_task, release_vfs_thread);
    g_object_unref(vf_task);
}

/* Starts releasing the whole network (every attachment, in reverse, and the namespace). */
static void
release_whole(PodvmPod *self, GTask *outer)
{
    GPtrArray *attachments =
        g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_attachment_free);
    GTask *task;

    self->net->releasing = TRUE;
    for (guint i = self->net->attachments->len; i > 0; i--)
        g_ptr_array_add(attachments,
                        pod_net_attachment_copy(g_ptr_array_index(self->net->attachments, i - 1)));
    task = g_task_new(self, NULL, pod_net_release_done_cb, outer);
    pod_net_release_begin(self, task, attachments, TRUE);
}

void
pod_net_release_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *outer = user_data;
    PodvmPod *self = PODVM_POD(source);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) waiters = NULL;
    g_autoptr(GPtrArray) release_waiters = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': releasing its network: %s", self->spec->name,
                error->message);
    self->net->releasing = FALSE;
    if (outer != NULL) {
        if (error != NULL)
            g_task_return_error(outer, g_steal_pointer(&error));
        else
            g_task_return_boolean(outer, TRUE);
        g_object_unref(outer);
    }
    /*
     * The whole network was asked to go (QEMU exited, a delete) while one
     * interface was being released: it goes now, and whoever waited for
     * it waits on.
     */
    if (self->net->whole_pending) {
        self->net->whole_pending = FALSE;
        if (pod_net_is_set_up(self->net)) {
            release_whole(self, NULL);
            return;
        }
    }
    waiters = g_ptr_array_copy(self->net->after_release, NULL, NULL);
    g_ptr_array_set_size(self->net->after_release, 0);
    release_waiters = g_ptr_array_copy(self->net->release_waiters, NULL, NULL);
    g_ptr_array_set_size(self->net->release_waiters, 0);
    for (guint i = 0; i < release_waiters->len; i++) {
        GTask *waiter = g_ptr_array_index(release_waiters, i);

        g_task_return_boolean(waiter, TRUE);
        g_object_unref(waiter);
    }
    for (guint i = 0; i < waiters->len; i++)
        pod_net_prepare_begin(g_ptr_array_index(waiters, i));
}

void
pod_net_release_async(PodvmPod *self, GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *outer = callback != NULL ? g_task_new(self, NULL, callback, user_data) : NULL;

    if (self->net->releasing) {
        /* One is under way (perhaps of one interface only): this one ends after it. */
        if (outer != NULL)
            g_ptr_array_add(self->net->release_waiters, outer);
        if (!self->net->whole_pending)
            pod_log(self, G_LOG_LEVEL_MESSAGE,
                    "pod '%s': its network is released once the release under way ends",
                    self->spec->name);
        self->net->whole_pending = TRUE;
        return;
    }
    if (!pod_net_is_set_up(self->net)) {
        if (outer != NULL) {
            g_task_return_boolean(outer, TRUE);
            g_object_unref(outer);
        }
        return;
    }
    release_whole(self, outer);
}

gboolean
pod_net_release_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
pod_net_detach_async(PodvmPod *self, const char *iface, GAsyncReadyCallback callback,
                     gpointer user_data)
{
    GTask *outer = callback != NULL ? g_task_new(self, NULL, callback, user_data) : NULL;
    GPtrArray *attachments =
        g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_attachment_free);
    PodNetAttachment *a = pod_net_find_attachment(self->net, iface);
    GTask *task;

    if (a == NULL) {
        g_ptr_array_unref(attachments);
        if (outer != NULL) {
            g_task_return_boolean(outer, TRUE);
            g_object_unref(outer);
        }
        return;
    }
    g_ptr_array_add(attachments, pod_net_attachment_copy(a));
    task = g_task_new(self, NULL, pod_net_release_done_cb, outer);
    /* Not a whole release: leave the releasing flag and the namespace alone. */
    self->net->releasing = TRUE;
    pod_net_release_begin(self, task, attachments, FALSE);
}

void
pod_net_release_orphans(PodvmPod *self)
{
    GPtrArray *orphans = g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_attachment_free);
    GTask *task;

    for (guint i = self->net->attachments->len; i > 0; i--) {
        const PodNetAttachment *a = g_ptr_array_index(self->net->attachments, i - 1);

        if (podvm_spec_find_interface(self->spec, a->iface) == NULL) {
            pod_log(self, G_LOG_LEVEL_MESSAGE,
                    "pod '%s': interface '%s' was being attached when podvmd stopped; releasing "
                    "its network",
                    self->spec->name, a->iface);
            g_ptr_array_add(orphans, pod_net_attachment_copy(a));
            g_ptr_array_add(self->net->orphan_netdevs, g_strdup(a->iface));
        }
    }
    if (orphans->len == 0 || self->net->releasing) {
        g_ptr_array_unref(orphans);
        return;
    }
    task = g_task_new(self, NULL, pod_net_release_done_cb, NULL);
    self->net->releasing = TRUE;
    pod_net_release_begin(self, task, orphans, FALSE);
}

GPtrArray *
pod_net_take_orphan_netdevs(PodvmPod *self)
{
    GPtrArray *names = self->net->orphan_netdevs;

    self->net->orphan_netdevs = g_ptr_array_new_with_free_func(g_free);
    return names;
}

gboolean
pod_net_detach_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- VFs no pod holds ------------------------------------------------------------------------ */

typedef struct {
    PodvmSriovHost host;
    const PodvmConfig *config; /* read-only, outlives podvmd's threads */
    GStrv uids;
} OrphanWork;

static void
orphan_work_free(OrphanWork *work)
{
    g_strfreev(work->uids);
    g_free(work);
}

static void
orphan_vfs_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    OrphanWork *work = task_data;
    g_autoptr(GHashTable) claims = podvm_sriov_claims(&work->host);
    GHashTableIter iter;
    gpointer key, value;

    g_hash_table_iter_init(&iter, claims);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        const char *address = key;
        const char *owner = value;
        const char *slash = strchr(owner, '/');
        g_autofree char *uid =
            g_strndup(owner, slash != NULL ? (gsize)(slash - owner) : strlen(owner));
        g_autofree char *group = NULL;
        g_autoptr(GError) error = NULL;

        if (g_strv_contains((const char *const *)work->uids, uid))
            continue;
        g_message("SR-IOV: giving back virtual function %s, claimed by %s: no pod has uid %s",
                  address, owner, uid);
        group = podvm_sriov_iommu_group(&work->host, address, NULL);
        if (group != NULL && work->config->qemu_drop_privileges)
            (void)podvm_sriov_vfio_revoke(&work->host, group, NULL);
        if (!podvm_sriov_release(&work->host, address, &error))
            g_warning("SR-IOV: giving back virtual function %s: %s", address, error->message);
    }
    g_task_return_boolean(task, TRUE);
}

void
podvm_pods_release_orphan_vfs(const PodvmConfig *config, const char *const *uids)
{
    OrphanWork *work;
    GTask *task;

    if (config->sriov_pools->len == 0 || config->sriov_claim_dir == NULL ||
        !g_file_test(config->sriov_claim_dir, G_FILE_TEST_IS_DIR))
        return;
    work = g_new0(OrphanWork, 1);
    work->config = config;
    work->uids = g_strdupv((char **)uids);
    work->host.sysfs_root = config->sriov_sysfs_root != NULL ? config->sriov_sysfs_root : "/sys";
    work->host.claim_dir = config->sriov_claim_dir;
    work->host.dev_root = config->sriov_dev_root;
    work->host.set_vf = pod_net_set_vf_func();
    task = g_task_new(NULL, NULL, NULL, NULL);
    g_task_set_task_data(task, work, (GDestroyNotify)orphan_work_free);
    g_task_run_in_thread(task, orphan_vfs_thread);
    g_object_unref(task);
}
