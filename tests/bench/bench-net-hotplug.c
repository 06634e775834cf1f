/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-net's NIC rounds (see bench-net.c): AttachInterface/DetachInterface
 * of a bridge-binding NIC on the multus network "extra" to the masquerade
 * pod, against the same QMP steps, with the JSON podvmd sends
 * (podvm_qemu_nic_netdev/_device), on the bare QEMU: getfd (a tap opened
 * beforehand, untimed), netdev_add, device_add on the first spare root
 * port; device_del, DEVICE_DELETED, netdev_del. Then the "extra"
 * conflist's CNI ADD and DEL alone, run with podvm-cni.h on a scratch
 * namespace: the part of podvmd's attach and detach the raw side has not.
 */
#include <gio/gunixfdlist.h>
#include <unistd.h>

#include "bench-net.h"
#include "podvm-cni.h"
#include "podvm-netns.h"
#include "podvm-qemu-devices.h"
#include "podvm-qemu-nics.h"
#include "podvm-test-util.h"

#define NIC_NAME "extra"
#define HOT_MAC "02:00:00:be:0c:02"
#define DETACH_TIMEOUT_MS (30 * 1000)
/* After each step both guests get this long to finish their side (the link, udhcpc). */
#define SETTLE_MS 1500

static const char ATTACHMENT[] =
    "{\"interface\": {\"name\": \"" NIC_NAME "\", \"bridge\": {}}, \"network\": {\"name\": "
    "\"" NIC_NAME "\", \"multus\": {\"networkName\": \"extra\"}}}";

/* ---- podvmd ------------------------------------------------------------------ */

static gboolean
pod_nic_call(Bench *b, gboolean attach, double *out_ms, double *phases, gboolean *out_phases,
             GError **error)
{
    gint64 start_real, start, end_real;
    gint64 begun, cni, done;

    g_ptr_array_set_size(b->events, 0);
    start_real = g_get_real_time();
    start = g_get_monotonic_time();
    if (!pod_call(b, SIDE_MASQUERADE, attach ? "AttachInterface" : "DetachInterface",
                  g_variant_new("(s)", attach ? ATTACHMENT : NIC_NAME), error))
        return FALSE;
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    end_real = g_get_real_time();
    /* Lets the pod's events arrive, and the guest see its new link. */
    run_main_loop_for(SETTLE_MS);
    if (attach) {
        begun = event_time(b, "Step", "attaching interface '" NIC_NAME "'");
        cni = event_time(b, "Step", "network '" NIC_NAME "': adding");
        done = event_time(b, "Step", "interface '" NIC_NAME "' attached");
        *out_phases = begun != 0 && cni != 0 && done != 0;
        if (*out_phases) {
            phases[ATTACH_IN] = bench_us_to_ms(begun - start_real);
            phases[ATTACH_PREP] = bench_us_to_ms(cni - begun);
            phases[ATTACH_NET_QMP] = bench_us_to_ms(done - cni);
            phases[ATTACH_OUT] = bench_us_to_ms(end_real - done);
        }
    } else {
        begun = event_time(b, "Step", "detaching interface '" NIC_NAME "'");
        done = event_time(b, "Step", "interface '" NIC_NAME "' detached");
        *out_phases = begun != 0 && done != 0;
        if (*out_phases) {
            phases[DETACH_IN] = bench_us_to_ms(begun - start_real);
            phases[DETACH_WORK] = bench_us_to_ms(done - begun);
            phases[DETACH_OUT] = bench_us_to_ms(end_real - done);
        }
    }
    return TRUE;
}

/* ---- raw QMP --------------------------------------------------------------------- */

typedef struct {
    JsonNode *netdev;
    JsonNode *device;
    JsonNode *device_del;
    JsonNode *netdev_del;
    char *device_id;
    char *fdname;
} RawNic;

static void
raw_nic_init(RawNic *raw)
{
    g_autoptr(PodvmQemuNic) nic = podvm_qemu_nic_new(NIC_NAME);
    g_autofree char *bus = podvm_qemu_spare_root_port_id(0);
    g_autofree char *netdev_id = podvm_qemu_nic_netdev_id(NIC_NAME);
    JsonObject *object;

    /* As podvmd names a hotplugged tap fd (podvm-pod-nics.c). */
    raw->fdname = g_strdup("podvm-tap-" NIC_NAME "-0");
    nic->binding = PODVM_BINDING_BRIDGE;
    nic->model = PODVM_NIC_MODEL_VIRTIO;
    podvm_mac_parse(HOT_MAC, nic->mac);
    nic->fds = g_strsplit(raw->fdname, ",", -1);
    raw->netdev = podvm_qemu_nic_netdev(nic);
    raw->device = podvm_qemu_nic_device(nic, bus);
    raw->device_id = podvm_qemu_nic_device_id(NIC_NAME);
    object = json_object_new();
    json_object_set_string_member(object, "id", raw->device_id);
    raw->device_del = json_node_init_object(json_node_alloc(), object);
    json_object_unref(object);
    object = json_object_new();
    json_object_set_string_member(object, "id", netdev_id);
    raw->netdev_del = json_node_init_object(json_node_alloc(), object);
    json_object_unref(object);
}

static void
raw_nic_clear(RawNic *raw)
{
    g_clear_pointer(&raw->netdev, json_node_unref);
    g_clear_pointer(&raw->device, json_node_unref);
    g_clear_pointer(&raw->device_del, json_node_unref);
    g_clear_pointer(&raw->netdev_del, json_node_unref);
    g_clear_pointer(&raw->device_id, g_free);
    g_clear_pointer(&raw->fdname, g_free);
}

static gboolean
raw_attach(Bench *b, RawNic *raw, double *out_ms, double *out_getfd_ms, GError **error)
{
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    g_autoptr(JsonNode) getfd = json_node_init_object(json_node_alloc(), json_object_new());
    gint64 start, after_getfd;

    json_object_set_string_member(json_node_get_object(getfd), "fdname", raw->fdname);
    start = g_get_monotonic_time();
    if (g_unix_fd_list_append(fds, b->hot_tap_fd, error) < 0 ||
        !bare_qmp(b->bare, "getfd", getfd, fds, error))
        return FALSE;
    after_getfd = g_get_monotonic_time();
    if (!bare_qmp(b->bare, "netdev_add", raw->netdev, NULL, error) ||
        !bare_qmp(b->bare, "device_add", raw->device, NULL, error))
        return FALSE;
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    *out_getfd_ms = bench_us_to_ms(after_getfd - start);
    run_main_loop_for(SETTLE_MS);
    return TRUE;
}

static gboolean
device_deleted(gpointer user_data)
{
    BareVm *vm = user_data;

    return bench_interrupted() || vm->deleted_at != 0;
}

static gboolean
raw_detach(Bench *b, RawNic *raw, double *out_ms, double *out_release_ms, GError **error)
{
    BareVm *vm = b->bare;
    gint64 start;

    vm->awaited_device = raw->device_id;
    vm->deleted_at = 0;
    start = g_get_monotonic_time();
    if (!bare_qmp(vm, "device_del", raw->device_del, NULL, error))
        return FALSE;
    if (!podvm_test_wait_until(device_deleted, vm, DETACH_TIMEOUT_MS)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "bare QEMU: no DEVICE_DELETED for '%s' within %u s", raw->device_id,
                    DETACH_TIMEOUT_MS / 1000);
        return FALSE;
    }
    vm->awaited_device = NULL;
    if (!bench_check_interrupted(error) ||
        !bare_qmp(vm, "netdev_del", raw->netdev_del, NULL, error))
        return FALSE;
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    *out_release_ms = bench_us_to_ms(vm->deleted_at - start);
    run_main_loop_for(SETTLE_MS);
    return TRUE;
}

/* ---- the rounds ------------------------------------------------------------------ */

static gboolean
hotplug_round(Bench *b, RawNic *raw, guint index, gboolean record, GError **error)
{
    double pod_attach = 0, pod_detach = 0, raw_att = 0, raw_det = 0, getfd = 0, release = 0;
    double attach_phases[N_ATTACH_PHASES] = { 0 }, detach_phases[N_DETACH_PHASES] = { 0 };
    gboolean have_attach = FALSE, have_detach = FALSE;
    /* Alternate who goes first. */
    gboolean podvmd_first = index % 2 == 1;

    for (guint turn = 0; turn < 2; turn++) {
        if ((turn == 0) == podvmd_first) {
            if (!pod_nic_call(b, TRUE, &pod_attach, attach_phases, &have_attach, error) ||
                !pod_nic_call(b, FALSE, &pod_detach, detach_phases, &have_detach, error))
                return FALSE;
        } else if (!raw_attach(b, raw, &raw_att, &getfd, error) ||
                   !raw_detach(b, raw, &raw_det, &release, error)) {
            return FALSE;
        }
        if (!bench_check_interrupted(error))
            return FALSE;
    }
    g_printerr("  %-7s attach: podvmd %7.2f ms, raw %6.2f ms; detach: podvmd %7.2f ms, raw %7.2f "
               "ms\n",
               record ? "" : "warm-up", pod_attach, raw_att, pod_detach, raw_det);
    if (b->verbose && have_attach && have_detach)
        g_printerr("          podvmd attach: in %.2f, prep %.2f, CNI+binding+QMP %.2f, out %.2f; "
                   "detach: in %.2f, work %.2f, out %.2f ms\n",
                   attach_phases[0], attach_phases[1], attach_phases[2], attach_phases[3],
                   detach_phases[0], detach_phases[1], detach_phases[2]);
    if (!record)
        return TRUE;
    bench_record(b->figures.attach[0], pod_attach);
    bench_record(b->figures.attach[1], raw_att);
    bench_record(b->figures.detach[0], pod_detach);
    bench_record(b->figures.detach[1], raw_det);
    bench_record(b->figures.raw_getfd, getfd);
    bench_record(b->figures.raw_release, release);
    for (guint p = 0; have_attach && p < N_ATTACH_PHASES; p++)
        bench_record(b->figures.attach_phases[p], attach_phases[p]);
    for (guint p = 0; have_detach && p < N_DETACH_PHASES; p++)
        bench_record(b->figures.detach_phases[p], detach_phases[p]);
    return TRUE;
}

/* Opening a tap, as podvmd does for a NIC (not in the raw figure): timed apart. */
static gboolean
open_hot_tap(Bench *b, GError **error)
{
    for (guint i = 0; i < 5; i++) {
        gint64 start = g_get_monotonic_time();
        int fd;

        if (!podvm_tap_open("benchtap1", 1, &fd, error))
            return FALSE;
        bench_record(b->figures.raw_tap_open, bench_us_to_ms(g_get_monotonic_time() - start));
        if (i < 4)
            close(fd);
        else
            b->hot_tap_fd = fd;
    }
    return podvm_nl_link_set_up(b->nl, "benchtap1", TRUE, error);
}

gboolean
run_hotplug(Bench *b, GError **error)
{
    RawNic raw = { 0 };
    gboolean ok;

    raw_nic_init(&raw);
    ok = open_hot_tap(b, error);
    if (ok)
        g_printerr("NIC attach and detach: 1 warm-up round, then %u rounds\n", b->hotplug_runs);
    for (guint i = 0; ok && i <= b->hotplug_runs; i++)
        ok = hotplug_round(b, &raw, i, i > 0, error);
    raw_nic_clear(&raw);
    return ok;
}

/* ---- CNI alone ------------------------------------------------------------------- */

typedef struct {
    gboolean done;
    PodvmCniResult *result;
    gboolean deleted;
    GError *error;
} CniCall;

static void
cni_add_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CniCall *call = user_data;

    call->result = podvm_cni_add_finish(result, &call->error);
    call->done = TRUE;
}

static void
cni_del_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CniCall *call = user_data;

    call->deleted = podvm_cni_del_finish(result, &call->error);
    call->done = TRUE;
}

/* The "extra" conflist's ADD and DEL, as podvmd runs them, on a namespace of the bench's own. */
gboolean
run_cni_alone(Bench *b, GError **error)
{
    PodvmCniSettings settings = { 0 };
    g_autoptr(PodvmCniNetwork) network = NULL;
    g_autofree char *netns = g_build_filename(b->work_dir, "cni-netns", NULL);
    PodvmCniAttachment attachment = { 0 };
    gboolean ok = TRUE;

    settings.config_dir = g_strdup(b->cni_dir);
    settings.plugin_dirs = g_strsplit("/usr/lib/cni:/opt/cni/bin", ":", -1);
    settings.ipam_dir = g_build_filename(b->work_dir, "ipam", NULL);
    settings.timeout_ms = 30000;
    network = podvm_cni_network_find(&settings, "extra", error);
    if (network == NULL || !podvm_netns_create(netns, error)) {
        podvm_cni_settings_clear(&settings);
        return FALSE;
    }
    attachment.container_id = "bench-net-cni";
    attachment.netns_path = netns;
    attachment.ifname = "net1";
    for (guint i = 0; ok && i <= b->hotplug_runs; i++) {
        CniCall add = { 0 }, del = { 0 };
        gint64 start = g_get_monotonic_time();
        double add_ms, del_ms;

        podvm_cni_add_async(&settings, network, &attachment, NULL, cni_add_cb, &add);
        while (!add.done)
            g_main_context_iteration(NULL, TRUE);
        if (add.result == NULL) {
            g_propagate_prefixed_error(error, add.error, "CNI ADD: ");
            ok = FALSE;
            break;
        }
        add_ms = bench_us_to_ms(g_get_monotonic_time() - start);
        start = g_get_monotonic_time();
        podvm_cni_del_async(&settings, network, &attachment, add.result->json, NULL, cni_del_cb,
                            &del);
        while (!del.done)
            g_main_context_iteration(NULL, TRUE);
        podvm_cni_result_free(add.result);
        if (!del.deleted) {
            g_propagate_prefixed_error(error, del.error, "CNI DEL: ");
            ok = FALSE;
            break;
        }
        del_ms = bench_us_to_ms(g_get_monotonic_time() - start);
        if (i > 0) {
            bench_record(b->figures.cni_add, add_ms);
            bench_record(b->figures.cni_del, del_ms);
        }
    }
    g_printerr("CNI ADD and DEL of \"extra\" alone: %u rounds after a warm-up\n", b->hotplug_runs);
    podvm_netns_remove(netns, NULL);
    podvm_cni_settings_clear(&settings);
    return ok;
}
