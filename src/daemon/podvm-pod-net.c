/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod's network, the KubeVirt way: a network namespace of the pod's own
 * (a bind mount at RUN_DIR/pods/NAME/netns), CNI plugins run for each
 * interface's network exactly as a container runtime runs them, and inside
 * the namespace each VM interface bound to its pod interface
 * (net/podvm-binding.c). QEMU itself runs in the namespace (see
 * podvm-pod-start.c), so slirp's and passt's traffic leaves from the pod's
 * address and a later migration stream goes through unix sockets.
 *
 * What CNI gave is stored with the pod before anything depends on it: an
 * attachment is recorded as "added" before ADD runs, so a podvmd killed in
 * the middle runs DEL for it on restart (DEL of something absent is no
 * error in CNI), and the result is stored once ADD answered, so the leases
 * a restarted podvmd serves are the same ones.
 */
#include "podvm-build-config.h"
#include "podvm-pod-net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-binding.h"
#include "podvm-cni.h"
#include "podvm-dhcp.h"
#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-json.h"
#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-sriov.h"

PodNet *
pod_net_new(const char *run_dir)
{
    PodNet *net = g_new0(PodNet, 1);

    net->netns_path = g_build_filename(run_dir, "netns", NULL);
    net->attachments = g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_attachment_free);
    net->servers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)pod_net_net_servers_free);
    net->after_release = g_ptr_array_new();
    net->release_waiters = g_ptr_array_new();
    net->orphan_netdevs = g_ptr_array_new_with_free_func(g_free);
    return net;
}

void
pod_net_free(PodNet *net)
{
    if (net == NULL)
        return;
    g_free(net->netns_path);
    g_ptr_array_unref(net->attachments);
    g_hash_table_unref(net->servers);
    g_ptr_array_unref(net->after_release);
    g_ptr_array_unref(net->release_waiters);
    g_ptr_array_unref(net->orphan_netdevs);
    g_free(net);
}

void
pod_net_nic_free(PodNetNic *nic)
{
    if (nic == NULL)
        return;
    for (guint i = 0; nic->fds != NULL && i < nic->fds->len; i++) {
        int fd = g_array_index(nic->fds, int, i);

        if (fd >= 0)
            close(fd);
    }
    g_clear_pointer(&nic->fds, g_array_unref);
    podvm_qemu_nic_free(nic->nic);
    g_free(nic);
}

gboolean
pod_net_is_set_up(PodNet *net)
{
    return net->attachments->len > 0 || podvm_netns_exists(net->netns_path);
}

PodNetAttachment *
pod_net_find_attachment(PodNet *net, const char *iface)
{
    for (guint i = 0; i < net->attachments->len; i++) {
        PodNetAttachment *a = g_ptr_array_index(net->attachments, i);

        if (g_str_equal(a->iface, iface))
            return a;
    }
    return NULL;
}

/* ---- bindings, in a thread that joins the namespace -------------------------------------- */

void
pod_net_bind_job_free(BindJob *job)
{
    podvm_binding_setup_clear(&job->setup);
    g_free(job->iface_name);
    g_strfreev(job->pod_addresses);
    g_free(job->ports);
    g_free(job->pool);
    g_free(job->vf);
    g_free(job);
}

void
pod_net_bind_work_free(BindWork *work)
{
    if (work->netns_fd >= 0)
        close(work->netns_fd);
    g_ptr_array_unref(work->jobs);
    podvm_spec_free(work->spec);
    g_free(work);
}

/* Only logs (PODVM_TEST_FAKE=sriov:set-vf): tests against a fake sysfs tree have no real PF. */
static gboolean
set_vf_logged(const char *pf_ifname, guint vf_index, const guint8 mac[6], guint vlan,
              gpointer user_data, GError **error)
{
    g_autofree char *text = podvm_mac_to_string(mac);

    g_message("PODVM_TEST_FAKE=sriov:set-vf: VF %u of %s would get MAC %s, VLAN %u", vf_index,
              pf_ifname, text, vlan);
    return TRUE;
}

static gboolean
bind_in_namespace(gpointer user_data, GError **error)
{
    BindWork *work = user_data;

    for (guint i = 0; i < work->jobs->len; i++) {
        BindJob *job = g_ptr_array_index(work->jobs, i);
        gboolean ok = job->sockets_only ? podvm_binding_open_sockets(&job->setup, error)
                                        : podvm_binding_setup(&job->setup, error);

        if (!ok) {
            g_prefix_error(error, _("interface '%s': "), job->iface_name);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * The VF of @job's interface: the one it already holds (a start tried again
 * after one that failed or a podvmd that died after the claim), else a
 * claim from the pool; then its vfio group device goes to QEMU's user.
 * job->vf is set as soon as a VF is held, so the undo gives it back.
 */
static gboolean
claim_vf(BindWork *work, BindJob *job, GError **error)
{
    const PodvmSriovPool *pool = podvm_config_find_sriov_pool(work->config, job->pool);
    const char *wanted = job->iface->sriov_host_address;
    g_autofree char *owner = g_strdup_printf("%s/%s", work->spec->uid, job->iface_name);
    g_auto(GStrv) held = NULL;
    g_autofree char *group = NULL;

    if (pool == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("no SR-IOV pool '%s' in podvmd.conf"), job->pool);
        return FALSE;
    }
    held = podvm_sriov_claims_of(&work->sriov_host, owner);
    for (guint i = 0; held != NULL && held[i] != NULL; i++) {
        g_autoptr(GError) local = NULL;

        if (job->vf == NULL && (wanted == NULL || strcmp(wanted, held[i]) == 0)) {
            g_message("interface '%s': taking again virtual function %s, which it holds",
                      job->iface_name, held[i]);
            job->vf = g_strdup(held[i]);
        } else {
            /* Not the one the spec names (any more): given back, its group device first. */
            g_autofree char *old_group = podvm_sriov_iommu_group(&work->sriov_host, held[i], NULL);

            if (old_group != NULL && work->config->qemu_drop_privileges)
                (void)podvm_sriov_vfio_revoke(&work->sriov_host, old_group, NULL);
            if (!podvm_sriov_release(&work->sriov_host, held[i], &local))
                g_warning("interface '%s': giving back virtual function %s: %s", job->iface_name,
                          held[i], local->message);
        }
    }
    if (job->vf == NULL) {
        g_autoptr(PodvmSriovVf) vf = NULL;

        if (wanted != NULL)
            vf = podvm_sriov_claim_address(&work->sriov_host, pool, wanted, owner, job->mac, 0,
                                           error);
        else
            vf = podvm_sriov_claim(&work->sriov_host, pool, owner, job->mac, 0, error);
        if (vf == NULL)
            return FALSE;
        job->vf = g_strdup(vf->pci_address);
        group = g_strdup(vf->iommu_group);
    } else {
        group = podvm_sriov_iommu_group(&work->sriov_host, job->vf, error);
        if (group == NULL)
            return FALSE;
    }
    /* QEMU, unprivileged, opens DEV/vfio/GROUP itself (QEMU 7.2 takes no fd for it). */
    if (work->config->qemu_drop_privileges &&
        !podvm_sriov_vfio_grant(&work->sriov_host, group, work->config->qemu_uid,
                                work->config->qemu_gid, error)) {
        g_prefix_error(error, _("virtual function %s: "), job->vf);
        return FALSE;
    }
    return TRUE;
}

static void
bind_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    BindWork *work = task_data;
    GError *error = NULL;

    /* VFs first, on the host: the PFs are in podvmd's namespace. */
    for (guint i = 0; i < work->jobs->len; i++) {
        BindJob *job = g_ptr_array_index(work->jobs, i);

        if (job->pool == NULL || job->sockets_only)
            continue;
        if (!claim_vf(work, job, &error)) {
            guint index = 0;

            /* The VF the spec names is refused (malformed, not a VF, outside the pool): where. */
            if (job->iface->sriov_host_address != NULL && job->vf == NULL &&
                g_ptr_array_find(work->spec->interfaces, job->iface, &index) &&
                (g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT) ||
                 g_error_matches(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND) ||
                 g_error_matches(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED)))
                g_prefix_error(&error,
                               "spec.domain.devices.interfaces[%u].sriov.hostPciAddress: ", index);
            g_prefix_error(&error, _("interface '%s': "), job->iface_name);
            g_task_return_error(task, error);
            return;
        }
    }
    if (work->netns_fd >= 0 && !podvm_netns_run(work->netns_fd, bind_in_namespace, work, &error)) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

PodvmSriovSetVfFunc
pod_net_set_vf_func(void)
{
    return podvm_fault_fake_point("sriov:set-vf") ? set_vf_logged : podvm_sriov_set_vf_netlink;
}

void
pod_net_sriov_host_of(PodvmPod *self, BindWork *work)
{
    /* The config is read-only once loaded and outlives every pod: the thread may read it. */
    work->config = self->config;
    work->sriov_host.sysfs_root =
        self->config->sriov_sysfs_root != NULL ? self->config->sriov_sysfs_root : "/sys";
    work->sriov_host.claim_dir = self->config->sriov_claim_dir;
    work->sriov_host.dev_root = self->config->sriov_dev_root;
    work->sriov_host.set_vf = pod_net_set_vf_func();
}

/* A job for attachment @a of @iface: what its binding needs. */
static BindJob *
bind_job_new(PodvmPod *self, const PodvmSpec *spec, const PodvmSpecInterface *iface,
             const PodNetAttachment *a, gboolean sockets_only)
{
    BindJob *job = g_new0(BindJob, 1);
    g_autoptr(PodvmCniResult) result = pod_net_parse_result(a);
    const PodvmSpecNetwork *network = pod_net_network_of(spec, iface->name);

    podvm_binding_setup_init(&job->setup);
    job->iface = iface;
    job->iface_name = g_strdup(iface->name);
    job->sockets_only = sockets_only;
    podvm_spec_interface_mac(iface, spec->uid, job->mac);
    job->pod_addresses = pod_net_result_addresses(result);
    job->ports = g_new0(PodvmNftPort, MAX(iface->ports->len, 1));
    for (guint i = 0; i < iface->ports->len; i++) {
        const PodvmSpecPort *port = g_ptr_array_index(iface->ports, i);

        job->ports[i].protocol = g_ascii_strcasecmp(port->protocol, "UDP") == 0 ? "udp" : "tcp";
        job->ports[i].port = port->port;
    }
    job->setup.slot = a->slot;
    job->setup.binding = iface->binding;
    job->setup.pod_ifname = a->pod_ifname;
    job->setup.queues =
        MIN(podvm_spec_resolve_vcpus(spec, self->config->host_cpus), PODVM_BINDING_MAX_QUEUES);
    if (iface->model != PODVM_NIC_MODEL_VIRTIO)
        job->setup.queues = 1;
    job->setup.vm_cidr4 = pod_net_vm_cidr4(network);
    job->setup.vm_cidr6 = pod_net_vm_cidr6(network);
    job->setup.pod_addresses = job->pod_addresses;
    job->setup.ports = job->ports;
    job->setup.n_ports = iface->ports->len;
    job->setup.all_ports = iface->ports->len == 0;
    if (iface->binding == PODVM_BINDING_SRIOV) {
        job->pool = g_strdup(a->network);
        job->vf = g_strdup(a->vf);
    }
    return job;
}

/* ---- QEMU's view ---------------------------------------------------------------------------- */

static PodNetNic *
nic_for(PodvmPod *self, const PodvmSpecInterface *iface, BindJob *job)
{
    PodNetNic *nic = g_new0(PodNetNic, 1);

    nic->nic = podvm_qemu_nic_new(iface->name);
    nic->nic->binding = iface->binding;
    nic->nic->model = iface->model;
    nic->nic->boot_order = iface->boot_order;
    memcpy(nic->nic->mac, job->mac, 6);
    nic->fds = g_array_new(FALSE, FALSE, sizeof(int));
    for (guint i = 0; i < job->setup.n_tap_fds; i++) {
        g_array_append_val(nic->fds, job->setup.tap_fds[i]);
        job->setup.tap_fds[i] = -1;
    }
    if (iface->binding == PODVM_BINDING_SLIRP) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        for (guint i = 0; i < iface->ports->len; i++) {
            const PodvmSpecPort *port = g_ptr_array_index(iface->ports, i);
            g_autofree char *rule = g_strdup_printf(
                "%s::%u-:%u", g_ascii_strcasecmp(port->protocol, "UDP") == 0 ? "udp" : "tcp",
                port->port, port->port);

            g_strv_builder_add(b, rule);
        }
        nic->nic->hostfwd = g_strv_builder_end(b);
    }
    if (iface->binding == PODVM_BINDING_SRIOV)
        nic->nic->vfio_host = g_strdup(job->vf);
    return nic;
}

/* ---- prepare -------------------------------------------------------------------------------- */

typedef struct {
    guint next; /* the interface to attach next */
    PodvmCniSettings settings;
    GError *error; /* the failure being undone */
    /* a hotplug: only this interface */
    PodvmSpecInterface *only;
    PodvmSpecNetwork *only_network;
} PrepareData;

static void
prepare_data_free(PrepareData *data)
{
    podvm_cni_settings_clear(&data->settings);
    g_clear_error(&data->error);
    g_clear_pointer(&data->only, podvm_spec_interface_free);
    g_clear_pointer(&data->only_network, podvm_spec_network_free);
    g_free(data);
}

/* The interfaces a prepare attaches: the spec's, or the one being hotplugged. */
static guint
prepare_count(PodvmPod *self, PrepareData *data)
{
    return data->only != NULL ? 1 : self->spec->interfaces->len;
}

static const PodvmSpecInterface *
prepare_iface(PodvmPod *self, PrepareData *data, guint i)
{
    return data->only != NULL ? data->only : g_ptr_array_index(self->spec->interfaces, i);
}

static const PodvmSpecNetwork *
prepare_network(PodvmPod *self, PrepareData *data, const PodvmSpecInterface *iface)
{
    return data->only != NULL ? data->only_network : pod_net_network_of(self->spec, iface->name);
}

static void
prepare_failed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PrepareData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    PodvmPod *self = g_task_get_source_object(task);

    if (!g_task_propagate_boolean(G_TASK(result), &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': undoing its network: %s", self->spec->name,
                error->message);
    g_task_return_error(task, g_steal_pointer(&data->error));
}

/* Undoes what this prepare did (its attachments; the namespace too unless a hotplug), then fails.
 */
static void
prepare_fail(GTask *task, GError *error)
{
    PodvmPod *self = g_task_get_source_object(task);
    PrepareData *data = g_task_get_task_data(task);
    GTask *undo;
    GPtrArray *attachments =
        g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_attachment_free);

    data->error = error;
    if (data->only != NULL) {
        PodNetAttachment *a = pod_net_find_attachment(self->net, data->only->name);

        if (a != NULL)
            g_ptr_array_add(attachments, pod_net_attachment_copy(a));
    } else {
        for (guint i = self->net->attachments->len; i > 0; i--)
            g_ptr_array_add(attachments, pod_net_attachment_copy(
                                             g_ptr_array_index(self->net->attachments, i - 1)));
    }
    undo = g_task_new(self, NULL, prepare_failed_cb, g_object_ref(task));
    pod_net_release_begin(self, undo, attachments, data->only == NULL);
    g_object_unref(task);
}

static guint
free_slot(PodNet *net)
{
    for (guint slot = 0;; slot++) {
        gboolean used = FALSE;

        for (guint i = 0; i < net->attachments->len && !used; i++)
            used = ((PodNetAttachment *)g_ptr_array_index(net->attachments, i))->slot == slot;
        if (!used)
            return slot;
    }
}

static void prepare_next(GTask *task);

/* The passt child's own setup: its session, then the pod's namespace (fd PASST_NETNS_FD). */
#define PASST_SOCKET_FD 3
#define PASST_NETNS_FD 4

static void
passt_child_setup(gpointer user_data)
{
    static const char message[] = "podvmd: passt cannot join the pod's network namespace\n";

    setsid();
    signal(SIGPIPE, SIG_DFL);
    if (setns(PASST_NETNS_FD, CLONE_NEWNET) != 0) {
        if (write(STDERR_FILENO, message, sizeof message - 1) < 0)
            _exit(126);
        _exit(126);
    }
    close(PASST_NETNS_FD);
}

/* passt's -t/-u list: the declared ports of @protocol, "all" when none are declared at all. */
static char *
passt_ports(const PodvmSpecInterface *iface, const char *protocol)
{
    g_autoptr(GString) list = g_string_new(NULL);

    if (iface->ports->len == 0)
        return g_strdup("all");
    for (guint i = 0; i < iface->ports->len; i++) {
        const PodvmSpecPort *port = g_ptr_array_index(iface->ports, i);

        if (g_ascii_strcasecmp(port->protocol, protocol) == 0)
            g_string_append_printf(list, "%s%u", list->len > 0 ? "," : "", port->port);
    }
    return list->len > 0 ? g_string_free(g_steal_pointer(&list), FALSE) : g_strdup("none");
}

/*
 * passt for @iface, inside the pod's namespace on its interface, serving one
 * end of a socket pair; the other end (stored in @out_qemu_fd) is QEMU's
 * stream netdev. No socket file, so no path QEMU's user must reach. passt
 * drops to nobody itself and ends when QEMU closes its end (--one-off).
 */
static gboolean
start_passt(PodvmPod *self, const PodvmSpecInterface *iface, const PodNetAttachment *a,
            int *out_qemu_fd, GError **error)
{
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_autoptr(GSubprocess) passt = NULL;
    g_autofree char *tcp = passt_ports(iface, "TCP");
    g_autofree char *udp = passt_ports(iface, "UDP");
    g_autofree char *log_path = g_strdup_printf("%s/passt-%s.log", self->run_dir, iface->name);
    g_autofree char *fd_text = g_strdup_printf("%d", PASST_SOCKET_FD);
    const char *argv[] = { "passt", "--foreground", "--one-off",   "--fd",
                           fd_text, "--interface",  a->pod_ifname, "--tcp-ports",
                           tcp,     "--udp-ports",  udp,           NULL };
    int pair[2];
    int netns_fd, log_fd;

    netns_fd = podvm_netns_open(self->net->netns_path, error);
    if (netns_fd < 0)
        return FALSE;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        int saved = errno;

        close(netns_fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot make passt's socket: %s"),
                    g_strerror(saved));
        return FALSE;
    }
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (log_fd >= 0)
        g_subprocess_launcher_take_stderr_fd(launcher, log_fd);
    g_subprocess_launcher_take_fd(launcher, pair[0], PASST_SOCKET_FD);
    g_subprocess_launcher_take_fd(launcher, netns_fd, PASST_NETNS_FD);
    g_subprocess_launcher_set_child_setup(launcher, passt_child_setup, NULL, NULL);
    passt = g_subprocess_launcher_spawnv(launcher, argv, error);
    if (passt == NULL) {
        close(pair[1]);
        g_prefix_error(error, _("interface '%s': cannot run passt: "), iface->name);
        return FALSE;
    }
    pod_step(self, "passt (pid %s) serves interface '%s'", g_subprocess_get_identifier(passt),
             iface->name);
    /* passt reaps itself with GLib's child watch; it ends with QEMU's end of the socket. */
    g_subprocess_wait_async(passt, NULL, NULL, NULL);
    *out_qemu_fd = pair[1];
    return TRUE;
}

static void
prepare_bound_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    PrepareData *data = g_task_get_task_data(task);
    BindWork *work = g_task_get_task_data(G_TASK(result));
    g_autoptr(GPtrArray) nics = g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_nic_free);
    GError *error = NULL;

    /* Claimed VFs are on record even when a later step failed, so the undo gives them back. */
    for (guint i = 0; i < work->jobs->len; i++) {
        BindJob *job = g_ptr_array_index(work->jobs, i);
        PodNetAttachment *a = pod_net_find_attachment(self->net, job->iface_name);

        if (a != NULL && job->vf != NULL && a->vf == NULL)
            a->vf = g_strdup(job->vf);
    }
    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        pod_save_or_log(self, PODVM_STORE_DURABLE);
        prepare_fail(g_steal_pointer(&task), error);
        return;
    }
    pod_save_or_log(self, PODVM_STORE_DURABLE);
    for (guint i = 0; i < work->jobs->len; i++) {
        BindJob *job = g_ptr_array_index(work->jobs, i);
        const PodvmSpecInterface *iface = prepare_iface(self, data, i);
        PodNetAttachment *a = pod_net_find_attachment(self->net, job->iface_name);

        if (!pod_net_start_servers(self, iface, a, &job->setup, &error)) {
            prepare_fail(g_steal_pointer(&task), error);
            return;
        }
        if (iface->binding == PODVM_BINDING_PASST &&
            !start_passt(self, iface, a, &job->setup.tap_fds[0], &error)) {
            prepare_fail(g_steal_pointer(&task), error);
            return;
        }
        if (iface->binding == PODVM_BINDING_PASST)
            job->setup.n_tap_fds = 1;
        g_ptr_array_add(nics, nic_for(self, iface, job));
    }
    g_task_return_pointer(task, g_steal_pointer(&nics), (GDestroyNotify)g_ptr_array_unref);
}

static void
prepare_bind(GTask *task)
{
    PodvmPod *self = g_task_get_source_object(task);
    PrepareData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    BindWork *work = g_new0(BindWork, 1);
    GTask *bind;

    work->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_bind_job_free);
    work->spec = podvm_spec_copy(self->spec);
    if (data->only != NULL) {
        g_ptr_array_add(work->spec->interfaces, podvm_spec_interface_copy(data->only));
        g_ptr_array_add(work->spec->networks, podvm_spec_network_copy(data->only_network));
    }
    pod_net_sriov_host_of(self, work);
    for (guint i = 0; i < prepare_count(self, data); i++) {
        const PodvmSpecInterface *iface = prepare_iface(self, data, i);
        const PodvmSpecInterface *own = podvm_spec_find_interface(work->spec, iface->name);

        g_ptr_array_add(work->jobs,
                        bind_job_new(self, work->spec, own,
                                     pod_net_find_attachment(self->net, iface->name), FALSE));
    }
    work->netns_fd = podvm_netns_open(self->net->netns_path, &error);
    if (work->netns_fd < 0) {
        pod_net_bind_work_free(work);
        prepare_fail(task, g_steal_pointer(&error));
        return;
    }
    bind = g_task_new(self, NULL, prepare_bound_cb, task);
    g_task_set_task_data(bind, work, (GDestroyNotify)pod_net_bind_work_free);
    g_task_run_in_thread(bind, bind_thread);
    g_object_unref(bind);
}

static void
prepare_added_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    PrepareData *data = g_task_get_task_data(task);
    const PodvmSpecInterface *iface = prepare_iface(self, data, data->next);
    g_autoptr(PodvmCniResult) cni = NULL;
    g_autoptr(GError) error = NULL;
    PodNetAttachment *a = pod_net_find_attachment(self->net, iface->name);

    cni = podvm_cni_add_finish(result, &error);
    if (cni == NULL) {
        /* ADD undid itself: nothing is owed for this one. */
        if (a != NULL)
            a->added = FALSE;
        g_prefix_error(&error, _("interface '%s': network '%s': "), iface->name,
                       a != NULL ? a->network : "?");
        prepare_fail(g_steal_pointer(&task), g_steal_pointer(&error));
        return;
    }
    a->result = g_strdup(cni->json);
    if (!pod_save_required(self, "net:after-add", &error)) {
        prepare_fail(g_steal_pointer(&task), g_steal_pointer(&error));
        return;
    }
    podvm_fault_crash_point("net:after-add");
    data->next++;
    prepare_next(g_steal_pointer(&task));
}

static void
prepare_next(GTask *task)
{
    PodvmPod *self = g_task_get_source_object(task);
    PrepareData *data = g_task_get_task_data(task);
    const PodvmSpecInterface *iface;
    const PodvmSpecNetwork *network;
    g_autoptr(PodvmCniNetwork) cni_network = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) mappings = NULL;
    PodNetAttachment *a;
    PodvmCniAttachment attachment = { 0 };

    if (g_task_return_error_if_cancelled(task)) {
        g_object_unref(task);
        return;
    }
    if (data->next >= prepare_count(self, data)) {
        prepare_bind(task);
        return;
    }
    iface = prepare_iface(self, data, data->next);
    network = prepare_network(self, data, iface);
    if (network == NULL) {
        prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                       _("interface '%s' names no network"), iface->name));
        return;
    }
    cni_network = podvm_cni_network_find(
        &data->settings, network->source == PODVM_NETWORK_POD ? NULL : network->network_name,
        &error);
    if (cni_network == NULL) {
        g_prefix_error(&error, _("interface '%s': "), iface->name);
        prepare_fail(task, g_steal_pointer(&error));
        return;
    }
    /*
     * One attachment per CNI network: the plugins name their state (IPAM
     * reservations aside, the bridge plugin's NAT chain) by network and
     * container, so a second one would share it and its DEL undo the first.
     */
    for (guint i = 0; cni_network->sriov_pool == NULL && i < self->net->attachments->len; i++) {
        const PodNetAttachment *other = g_ptr_array_index(self->net->attachments, i);

        if (g_strcmp0(other->network, cni_network->name) == 0) {
            prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_EXISTS,
                                           _("interface '%s': the pod is already on network '%s' "
                                             "(interface '%s'); an interface per network"),
                                           iface->name, cni_network->name, other->iface));
            return;
        }
    }
    a = g_new0(PodNetAttachment, 1);
    a->iface = g_strdup(iface->name);
    a->slot = free_slot(self->net);
    a->pod_ifname = a->slot == 0 ? g_strdup("eth0") : g_strdup_printf("net%u", a->slot);
    g_ptr_array_add(self->net->attachments, a);
    if (cni_network->sriov_pool != NULL) {
        if (iface->binding != PODVM_BINDING_SRIOV) {
            prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                           _("interface '%s': network '%s' is an SR-IOV pool: "
                                             "only the sriov binding can use it"),
                                           iface->name, cni_network->name));
            return;
        }
        a->network = g_strdup(cni_network->sriov_pool);
        data->next++;
        prepare_next(task);
        return;
    }
    if (iface->binding == PODVM_BINDING_SRIOV) {
        prepare_fail(task, g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                       _("interface '%s': network '%s' is not an SR-IOV pool"),
                                       iface->name, cni_network->name));
        return;
    }
    a->network = g_strdup(cni_network->name);
    a->conflist = g_strdup(cni_network->conflist);
    a->added = TRUE;
    /* Owed before it runs: a podvmd killed during ADD runs DEL on restart. */
    if (!pod_save_required(self, "net:before-add", &error)) {
        a->added = FALSE;
        prepare_fail(task, g_steal_pointer(&error));
        return;
    }
    podvm_fault_crash_point("net:before-add");
    mappings = g_array_new(FALSE, TRUE, sizeof(PodvmCniPortMapping));
    for (guint i = 0; i < iface->ports->len; i++) {
        const PodvmSpecPort *port = g_ptr_array_index(iface->ports, i);
        PodvmCniPortMapping mapping = { 0 };

        if (port->host_port == 0)
            continue;
        mapping.protocol = g_ascii_strcasecmp(port->protocol, "UDP") == 0 ? "udp" : "tcp";
        mapping.host_port = port->host_port;
        mapping.container_port = port->port;
        g_array_append_val(mappings, mapping);
    }
    attachment.container_id = self->spec->uid;
    attachment.netns_path = self->net->netns_path;
    attachment.ifname = a->pod_ifname;
    attachment.port_mappings = (const PodvmCniPortMapping *)(gpointer)mappings->data;
    attachment.n_port_mappings = mappings->len;
    pod_step(self, "network '%s': adding %s for interface '%s'", a->network, a->pod_ifname,
             iface->name);
    podvm_cni_add_async(&data->settings, cni_network, &attachment, g_task_get_cancellable(task),
                        prepare_added_cb, task);
}

void
pod_net_prepare_begin(GTask *task)
{
    PodvmPod *self = g_task_get_source_object(task);
    PrepareData *data = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    if (data->only == NULL) {
        if (g_mkdir_with_parents(self->run_dir, 0700) != 0) {
            int saved = errno;

            g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"),
                                    self->run_dir, g_strerror(saved));
            g_object_unref(task);
            return;
        }
        /* A namespace left by a podvmd that died before releasing it is made anew. */
        if (!podvm_netns_remove(self->net->netns_path, &error) ||
            !podvm_netns_create(self->net->netns_path, &error)) {
            g_task_return_error(task, g_steal_pointer(&error));
            g_object_unref(task);
            return;
        }
        pod_step(self, "network namespace %s", self->net->netns_path);
    }
    prepare_next(task);
}

void
pod_net_prepare_async(PodvmPod *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    PrepareData *data = g_new0(PrepareData, 1);

    g_task_set_source_tag(task, pod_net_prepare_async);
    podvm_config_cni_settings(self->config, &data->settings);
    g_task_set_task_data(task, data, (GDestroyNotify)prepare_data_free);
    if (self->spec->interfaces->len == 0) {
        g_task_return_pointer(task,
                              g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_nic_free),
                              (GDestroyNotify)g_ptr_array_unref);
        g_object_unref(task);
        return;
    }
    if (self->net->releasing) {
        g_ptr_array_add(self->net->after_release, task);
        return;
    }
    if (self->net->attachments->len > 0) {
        /* Left from a start that never released (a crash): release, then prepare. */
        g_ptr_array_add(self->net->after_release, task);
        pod_net_release_async(self, NULL, NULL);
        return;
    }
    pod_net_prepare_begin(task);
}

GPtrArray *
pod_net_prepare_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

int
pod_net_open_netns(PodvmPod *self, GError **error)
{
    if (self->spec->interfaces->len == 0)
        return -1;
    return podvm_netns_open(self->net->netns_path, error);
}

/* ---- hotplug -------------------------------------------------------------------------------- */

static void
attach_prepared_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    g_autoptr(GPtrArray) nics = g_task_propagate_pointer(G_TASK(result), &error);

    if (nics == NULL) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_pointer(task, g_ptr_array_steal_index(nics, 0), (GDestroyNotify)pod_net_nic_free);
}

void
pod_net_attach_async(PodvmPod *self, const PodvmSpecInterface *iface,
                     const PodvmSpecNetwork *network, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *outer = g_task_new(self, cancellable, callback, user_data);
    GTask *task = g_task_new(self, cancellable, attach_prepared_cb, outer);
    PrepareData *data = g_new0(PrepareData, 1);

    podvm_config_cni_settings(self->config, &data->settings);
    data->only = podvm_spec_interface_copy(iface);
    data->only_network = podvm_spec_network_copy(network);
    g_task_set_task_data(task, data, (GDestroyNotify)prepare_data_free);
    if (!podvm_netns_exists(self->net->netns_path)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' has no network namespace: it was started without "
                                  "interfaces; stop it, add the interface, start it"),
                                self->spec->name);
        g_object_unref(task);
        return;
    }
    if (self->net->releasing) {
        /* An interface's release under way (one a restart found half attached, say) ends first. */
        g_ptr_array_add(self->net->after_release, task);
        return;
    }
    pod_net_prepare_begin(task);
}

PodNetNic *
pod_net_attach_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- adoption after a restart ------------------------------------------------------------- */

static void
adopt_check_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmPod) self = user_data;
    g_autoptr(GError) error = NULL;

    if (!podvm_cni_check_finish(result, &error))
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': CNI CHECK: %s", self->spec->name,
                error->message);
}

static void
adopt_bound_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmPod *self = PODVM_POD(source);
    BindWork *work = g_task_get_task_data(G_TASK(result));
    g_autoptr(GError) error = NULL;
    PodvmCniSettings settings = { 0 };

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': its guests' DHCP cannot be served: %s",
                self->spec->name, error->message);
        return;
    }
    podvm_config_cni_settings(self->config, &settings);
    for (guint i = 0; i < work->jobs->len; i++) {
        BindJob *job = g_ptr_array_index(work->jobs, i);
        PodNetAttachment *a = pod_net_find_attachment(self->net, job->iface_name);
        const PodvmSpecInterface *iface = podvm_spec_find_interface(self->spec, job->iface_name);
        g_autoptr(PodvmCniNetwork) network = NULL;
        PodvmCniAttachment attachment = { 0 };

        if (a == NULL || iface == NULL)
            continue;
        if (!pod_net_start_servers(self, iface, a, &job->setup, &error)) {
            pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': %s", self->spec->name, error->message);
            g_clear_error(&error);
        }
        if (a->conflist == NULL || a->result == NULL)
            continue;
        network = podvm_cni_network_parse(a->conflist, -1, "stored", NULL);
        if (network == NULL)
            continue;
        attachment.container_id = self->spec->uid;
        attachment.netns_path = self->net->netns_path;
        attachment.ifname = a->pod_ifname;
        podvm_cni_check_async(&settings, network, &attachment, a->result, NULL, adopt_check_cb,
                              g_object_ref(self));
    }
    podvm_cni_settings_clear(&settings);
}

void
pod_net_adopt(PodvmPod *self)
{
    g_autoptr(GError) error = NULL;
    BindWork *work;
    GTask *task;

    if (self->net->attachments->len == 0)
        return;
    pod_net_release_orphans(self);
    work = g_new0(BindWork, 1);
    work->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)pod_net_bind_job_free);
    work->spec = podvm_spec_copy(self->spec);
    work->netns_fd = podvm_netns_open(self->net->netns_path, &error);
    if (work->netns_fd < 0) {
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': its network namespace is gone: %s",
                self->spec->name, error->message);
        pod_net_bind_work_free(work);
        return;
    }
    for (guint i = 0; i < self->net->attachments->len; i++) {
        const PodNetAttachment *a = g_ptr_array_index(self->net->attachments, i);
        const PodvmSpecInterface *iface = podvm_spec_find_interface(work->spec, a->iface);

        if (iface != NULL)
            g_ptr_array_add(work->jobs, bind_job_new(self, work->spec, iface, a, TRUE));
    }
    task = g_task_new(self, NULL, adopt_bound_cb, NULL);
    g_task_set_task_data(task, work, (GDestroyNotify)pod_net_bind_work_free);
    g_task_run_in_thread(task, bind_thread);
    g_object_unref(task);
}
