/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-net: pod networking through podvmd against a bare QEMU, in one run
 * and inside a network namespace of the benchmark's own
 * (podvm_test_netns_enter(); nothing touches the machine's links):
 *
 *   the benchmark's namespace: bridge podvm0 10.66.0.1/16 (the pods' CNI
 *   network "pods", which CNI's bridge plugin finds there), podvm1 (the
 *   "extra" network, made by CNI), veth outside0 192.0.2.2/24 to an
 *   "outside host" namespace 192.0.2.1 (tests/podvm-test-outside.h), and
 *   the bare QEMU's tap benchtap0 on podvm0, answered by podvm's own DHCP
 *   server (podvm-dhcp.h) with 10.66.255.2/16, gateway 10.66.0.1.
 *
 * Three pods (masquerade, bridge and slirp bindings on the pod network)
 * and the bare QEMU boot the same test guest (same kernel, initrd and
 * argv builder; the bare one gets a plain virtio-net on its tap).
 *
 *   1. Start -> first DHCP lease ("PODVM-NET eth0 up" on the console):
 *      podvmd's Start call against spawning the bare QEMU paused,
 *      negotiating QMP and cont (what podvmd does too), then the same
 *      guest asking the same DHCP server code. One side boots at a time;
 *      the others are paused or not running.
 *   2. TCP throughput guest -> outside host: the guest pushes MIB MiB of
 *      zeros with nc (podvm.push=192.0.2.1:PORT:MIB:COUNT, one port per
 *      side); a receiver in the outside namespace counts the bytes from
 *      the first to the last. Only the measured VM runs (the others are
 *      paused); rounds rotate the order; the first round is a warm-up.
 *   3. NIC attach and detach: AttachInterface/DetachInterface (D-Bus) of a
 *      bridge-binding NIC on the multus network "extra" to the masquerade
 *      pod, against raw QMP on the bare QEMU (getfd + netdev_add +
 *      device_add; device_del, DEVICE_DELETED, netdev_del) with the same
 *      JSON podvmd sends; and the "extra" conflist's CNI ADD and DEL run
 *      directly (podvm-cni.h) on a scratch namespace: where podvmd's time
 *      goes (bench-net-hotplug.c).
 *
 * Prints medians with their baselines and the targets (masquerade and
 * bridge >= 0.9x the bare tap; attach and detach <= raw + 1 ms) with PASS
 * or MISS; a miss does not fail the program, something broken does
 * (exit 1). Exit 77 (skip) without QEMU, the test guest, namespaces or
 * Debian's containernetworking-plugins.
 *
 * Environment:
 *   PODVMD, PODVM_GUEST_DIR, PODVM_QEMU  as for the tests (tests/meson.build)
 *   PODVM_BENCH_RUNS=N         throughput rounds per side (default 5; 2 quick)
 *   PODVM_BENCH_LEASE_RUNS=N   start -> lease rounds per side (default: PODVM_BENCH_RUNS)
 *   PODVM_BENCH_HOTPLUG_RUNS=N attach+detach rounds per side (default 10; 3 quick)
 *   PODVM_BENCH_NET_MIB=N      MiB per push (default 32; 8 quick)
 *   PODVM_BENCH_QUICK=1        fewer rounds
 *   PODVM_BENCH_NET_JSON=PATH  the JSON results (default bench-net.json in the cwd)
 *   PODVM_BENCH_VERBOSE=1      library messages, each round's phases, podvmd's log
 *                              kept as bench-net-podvmd.log in the cwd
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-net.h"
#include "podvm-netns.h"
#include "podvm-qemu-argv.h"
#include "podvm-qemu-nics.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define GRACE_SECONDS 2
#define BOOT_TIMEOUT_MS (240 * 1000)
#define CALL_TIMEOUT_MS (120 * 1000)
#define PUSH_TIMEOUT_MS (120 * 1000)
#define POLL_MS 5
#define PUSH_PORT_BASE 5201
#define BARE_MAC "02:00:00:be:0c:01"
#define BARE_ADDRESS "10.66.255.2"
#define LEASE_MARKER "PODVM-NET eth0 up"
#define PUSH_MARKER "PODVM-PUSH DONE"
#define TAP_FD_IN_QEMU 10

static const char *const side_names[N_SIDES] = { "masquerade", "bridge", "slirp", "bare tap" };
static const char *const pod_names[N_PODS] = { "bn-masq", "bn-bridge", "bn-slirp" };
static const char *const pod_interfaces[N_PODS] = {
    "[{\"name\": \"default\", \"masquerade\": {}}]",
    "[{\"name\": \"default\", \"bridge\": {}}]",
    "[{\"name\": \"default\", \"slirp\": {}}]",
};
static const char *const start_phase_names[N_START_PHASES] = { "in", "net", "qemu" };

/* throughput / bare >= this, on the medians (masquerade and bridge) */
#define THROUGHPUT_TARGET 0.9

/* ---- small helpers ------------------------------------------------------ */

static gboolean
wake_cb(gpointer user_data)
{
    gboolean *fired = user_data;

    *fired = TRUE;
    return G_SOURCE_REMOVE;
}

void
run_main_loop_for(guint ms)
{
    gboolean fired = FALSE;

    g_timeout_add(ms, wake_cb, &fired);
    while (!fired)
        g_main_context_iteration(NULL, TRUE);
}

static goffset
file_size(const char *path)
{
    GStatBuf st;

    return g_stat(path, &st) == 0 ? st.st_size : 0;
}

typedef struct {
    const char *path;
    goffset offset;
    const char *needle;
} MarkerWait;

static gboolean
marker_seen(gpointer user_data)
{
    MarkerWait *w = user_data;
    g_autofree char *contents = NULL;
    gsize length = 0;

    if (bench_interrupted())
        return TRUE;
    if (!g_file_get_contents(w->path, &contents, &length, NULL) || (goffset)length <= w->offset)
        return FALSE;
    return strstr(contents + w->offset, w->needle) != NULL;
}

/* Waits for @needle in @path after byte @offset. */
static gboolean
wait_marker(const char *path, goffset offset, const char *needle, guint timeout_ms, const char *who,
            GError **error)
{
    MarkerWait w = { path, offset, needle };

    if (!bench_wait_until(marker_seen, &w, POLL_MS, timeout_ms)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: no \"%s\" within %u s (see '%s')",
                    who, needle, timeout_ms / 1000, path);
        return FALSE;
    }
    return bench_check_interrupted(error);
}

/* ---- podvmd's pods ------------------------------------------------------ */

static void
pod_event_free(PodEvent *event)
{
    g_free(event->type);
    g_free(event->message);
    g_free(event);
}

static void
pod_event_cb(PodvmDBusPod *pod, const char *type, const char *details, gpointer user_data)
{
    Bench *b = user_data;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GDateTime) time = NULL;
    JsonObject *object;
    PodEvent *event;

    if (!json_parser_load_from_data(parser, details, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        return;
    object = json_node_get_object(json_parser_get_root(parser));
    time = g_date_time_new_from_iso8601(
        json_object_get_string_member_with_default(object, "time", ""), NULL);
    if (time == NULL)
        return;
    event = g_new0(PodEvent, 1);
    event->type = g_strdup(type);
    event->message = g_strdup(json_object_get_string_member_with_default(object, "message", NULL));
    event->time_us = g_date_time_to_unix(time) * G_USEC_PER_SEC + g_date_time_get_microsecond(time);
    g_ptr_array_add(b->events, event);
}

/* The time of the first event of @type whose message starts with @message (unless NULL), or 0. */
gint64
event_time(Bench *b, const char *type, const char *message)
{
    for (guint i = 0; i < b->events->len; i++) {
        PodEvent *event = g_ptr_array_index(b->events, i);

        if (g_str_equal(event->type, type) &&
            (message == NULL ||
             (event->message != NULL && g_str_has_prefix(event->message, message))))
            return event->time_us;
    }
    return 0;
}

gboolean
pod_call(Bench *b, Side side, const char *method, GVariant *parameters, GError **error)
{
    g_autoptr(GVariant) reply =
        g_dbus_proxy_call_sync(G_DBUS_PROXY(b->pods[side]), method, parameters,
                               G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);

    if (reply == NULL) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: %s %s: ", pod_names[side], method);
    }
    return reply != NULL;
}

/* The test guest with one interface on the pod network, pushing to its own port. */
static char *
pod_spec(Bench *b, Side side)
{
    g_autofree char *args =
        g_strdup_printf("podvm.heartbeat=0 podvm.push=%s:%u:%u:%u", PODVM_TEST_OUTSIDE_ADDRESS,
                        PUSH_PORT_BASE + side, b->push_mib, b->push_runs + 1);
    g_autofree char *base = podvm_test_guest_spec(pod_names[side], args, NULL, GRACE_SECONDS);
    g_autoptr(JsonNode) root = json_from_string(base, NULL);
    JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
    JsonObject *domain = json_object_get_object_member(spec, "domain");

    if (!json_object_has_member(domain, "devices"))
        json_object_set_object_member(domain, "devices", json_object_new());
    json_object_set_member(json_object_get_object_member(domain, "devices"), "interfaces",
                           json_from_string(pod_interfaces[side], NULL));
    json_object_set_member(spec, "networks",
                           json_from_string("[{\"name\": \"default\", \"pod\": {}}]", NULL));
    return json_to_string(root, FALSE);
}

static gboolean
create_pods(Bench *b, GError **error)
{
    for (guint side = 0; side < N_PODS; side++) {
        g_autofree char *spec = pod_spec(b, side);
        g_autofree char *path = NULL;

        if (!podvm_dbus_manager_call_create_pod_sync(b->daemon->manager, spec, &path, NULL,
                                                     error)) {
            g_dbus_error_strip_remote_error(*error);
            g_prefix_error(error, "podvmd: CreatePod %s: ", pod_names[side]);
            return FALSE;
        }
        b->pods[side] = podvm_test_daemon_pod(b->daemon, pod_names[side]);
        g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(b->pods[side]), CALL_TIMEOUT_MS);
        g_signal_connect(b->pods[side], "event", G_CALLBACK(pod_event_cb), b);
        b->console_logs[side] = podvm_test_daemon_console_log(b->daemon, pod_names[side]);
    }
    return TRUE;
}

/* ---- the bare QEMU -------------------------------------------------------- */

static void
bare_vm_free(BareVm *vm)
{
    if (vm == NULL)
        return;
    if (vm->qmp != NULL) {
        g_signal_handlers_disconnect_by_data(vm->qmp, vm);
        podvm_qmp_client_close(vm->qmp);
        g_clear_object(&vm->qmp);
    }
    bench_qemu_clear(&vm->qemu);
    g_free(vm->qemu_version);
    g_free(vm);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BareVm, bare_vm_free)

typedef struct {
    gboolean done;
    JsonNode *reply;
    GError *error;
} Call;

static void
qmp_call_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *call = user_data;

    call->reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &call->error);
    call->done = TRUE;
}

gboolean
bare_qmp(BareVm *vm, const char *command, JsonNode *arguments, GUnixFDList *fds, GError **error)
{
    Call call = { 0 };

    podvm_qmp_client_execute_async(vm->qmp, command,
                                   arguments != NULL ? json_node_get_object(arguments) : NULL, fds,
                                   PODVM_QMP_TIMEOUT_HOTPLUG, NULL, qmp_call_cb, &call);
    while (!call.done)
        g_main_context_iteration(NULL, TRUE);
    if (call.reply == NULL) {
        g_propagate_prefixed_error(error, call.error, "bare QEMU: %s: ", command);
        return FALSE;
    }
    json_node_unref(call.reply);
    return TRUE;
}

static void
connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *call = user_data;

    podvm_qmp_client_connect_finish(PODVM_QMP_CLIENT(source), result, &call->error);
    call->done = TRUE;
}

static void
bare_event_cb(PodvmQmpClient *qmp, const char *name, JsonObject *data, gint64 timestamp_us,
              gpointer user_data)
{
    BareVm *vm = user_data;

    if (data != NULL && vm->awaited_device != NULL && vm->deleted_at == 0 &&
        g_strcmp0(json_object_get_string_member_with_default(data, "device", NULL),
                  vm->awaited_device) == 0)
        vm->deleted_at = g_get_monotonic_time();
}

/*
 * Spawns the bare QEMU paused with its NIC on the kept tap, negotiates QMP
 * and lets the guest run: what podvmd's Start does, less the network.
 */
static BareVm *
bare_vm_start(Bench *b, gint64 *out_spawned_at, GError **error)
{
    g_autoptr(BareVm) vm = g_new0(BareVm, 1);
    g_autofree char *dir = g_strdup_printf("%s/bare-%u", b->work_dir, b->bare_starts++);
    g_autofree char *spec = podvm_test_guest_spec("bn-bare", b->bare_args, NULL, GRACE_SECONDS);
    g_autoptr(PodvmQemuNic) nic = podvm_qemu_nic_new("default");
    g_autoptr(GPtrArray) nics = g_ptr_array_new();
    int target = TAP_FD_IN_QEMU;
    Call call = { 0 };

    nic->binding = PODVM_BINDING_BRIDGE;
    nic->model = PODVM_NIC_MODEL_VIRTIO;
    podvm_mac_parse(BARE_MAC, nic->mac);
    nic->fds = g_strsplit(G_STRINGIFY(TAP_FD_IN_QEMU), ",", -1);
    g_ptr_array_add(nics, nic);
    if (!bench_qemu_spawn_with_nics(&vm->qemu, dir, spec, PODVM_QEMU_SPARE_ROOT_PORTS, nics,
                                    &b->tap_fd, &target, 1, out_spawned_at, error))
        return NULL;
    vm->qmp = podvm_qmp_client_new();
    g_signal_connect(vm->qmp, "event::DEVICE_DELETED", G_CALLBACK(bare_event_cb), vm);
    podvm_qmp_client_connect_async(vm->qmp, vm->qemu.qmp_path, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                                   connect_cb, &call);
    while (!call.done)
        g_main_context_iteration(NULL, TRUE);
    if (call.error != NULL) {
        g_autofree char *tail = bench_file_tail(vm->qemu.qemu_log, 1024);

        g_propagate_prefixed_error(error, call.error, "bare QEMU: QMP (QEMU said: %s): ", tail);
        return NULL;
    }
    vm->qemu_version = g_strdup(podvm_qmp_client_get_qemu_version(vm->qmp));
    if (!bare_qmp(vm, "cont", NULL, NULL, error))
        return NULL;
    return g_steal_pointer(&vm);
}

/* ---- the benchmark's network ---------------------------------------------- */

/* A conflist: a bridge, host-local IPAM in @subnet (as tests/test-net-pods.c). */
static gboolean
write_conflist(Bench *b, const char *file, const char *name, const char *bridge, const char *subnet,
               GError **error)
{
    g_autofree char *path = g_build_filename(b->cni_dir, file, NULL);
    g_autofree char *ipam_dir = g_build_filename(b->work_dir, "ipam", NULL);
    g_autofree char *text = g_strdup_printf(
        "{\"cniVersion\": \"1.0.0\", \"name\": \"%s\", \"plugins\": ["
        "{\"type\": \"bridge\", \"bridge\": \"%s\", \"isGateway\": true, \"ipMasq\": true,"
        " \"hairpinMode\": true, \"ipam\": {\"type\": \"host-local\", \"ranges\": [[{\"subnet\": "
        "\"%s\", \"rangeStart\": \"%s\"}]], \"routes\": [{\"dst\": \"0.0.0.0/0\"}], "
        "\"dataDir\": \"%s\"}},"
        "{\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}]}",
        name, bridge, subnet,
        /* The bare guest's 10.66.255.2 stays out of the pods' range. */
        g_str_has_prefix(subnet, "10.66.") ? "10.66.0.10" : "10.77.0.10", ipam_dir);

    return g_file_set_contents(path, text, -1, error);
}

/*
 * podvm0 with the pod network's gateway address (CNI's bridge plugin takes
 * an existing bridge), forwarding on, the bare QEMU's tap on it and the
 * DHCP server for the bare guest; the tap for the raw hotplug.
 */
static gboolean
setup_network(Bench *b, GError **error)
{
    g_autoptr(PodvmDhcpLease) lease = g_new0(PodvmDhcpLease, 1);
    int fd;

    b->nl = podvm_nl_open(error);
    if (b->nl == NULL || !podvm_nl_link_set_up(b->nl, "lo", TRUE, error) ||
        !podvm_nl_bridge_add(b->nl, "podvm0", 1500, error) ||
        !podvm_nl_addr_add(b->nl, "podvm0", "10.66.0.1/16", error) ||
        !podvm_nl_link_set_up(b->nl, "podvm0", TRUE, error) ||
        !podvm_sysctl_set("net/ipv4/ip_forward", "1", error))
        return FALSE;
    if (!podvm_tap_open("benchtap0", 1, &b->tap_fd, error) ||
        !podvm_nl_link_set_master(b->nl, "benchtap0", "podvm0", error) ||
        !podvm_nl_link_set_up(b->nl, "benchtap0", TRUE, error))
        return FALSE;
    fd = podvm_dhcp_open_socket("podvm0", error);
    if (fd < 0)
        return FALSE;
    b->dhcp = podvm_dhcp_server_new(fd, "10.66.0.1", error);
    if (b->dhcp == NULL)
        return FALSE;
    podvm_mac_parse(BARE_MAC, lease->mac);
    lease->address = g_strdup(BARE_ADDRESS);
    lease->prefix = 16;
    lease->router = g_strdup("10.66.0.1");
    lease->mtu = 1500;
    podvm_dhcp_server_set_lease(b->dhcp, lease);
    b->bare_args =
        g_strdup_printf("podvm.heartbeat=0 podvm.push=%s:%u:%u:%u", PODVM_TEST_OUTSIDE_ADDRESS,
                        PUSH_PORT_BASE + SIDE_BARE, b->push_mib, b->push_runs + 1);
    return TRUE;
}

/* ---- 1. start -> first lease ---------------------------------------------- */

static gboolean
side_pause(Bench *b, Side side, gboolean pause, GError **error)
{
    if (side == SIDE_BARE)
        return bare_qmp(b->bare, pause ? "stop" : "cont", NULL, NULL, error);
    return pod_call(b, side, pause ? "Pause" : "Resume", NULL, error);
}

/* Starts @side, waits for its lease; kills it afterwards unless @keep (then pauses it). */
static gboolean
lease_round(Bench *b, Side side, gboolean keep, gboolean record, GError **error)
{
    double running_ms, lease_ms, phases[N_START_PHASES] = { 0 };
    gboolean have_phases = FALSE;
    gint64 start;

    if (side == SIDE_BARE) {
        b->bare = bare_vm_start(b, &start, error);
        if (b->bare == NULL)
            return FALSE;
        running_ms = bench_us_to_ms(g_get_monotonic_time() - start);
        if (!wait_marker(b->bare->qemu.console_log, 0, LEASE_MARKER, BOOT_TIMEOUT_MS, "bare QEMU",
                         error))
            return FALSE;
    } else {
        goffset offset = file_size(b->console_logs[side]);
        gint64 start_real;
        gint64 prepare_at, started_at, ready_at;

        g_ptr_array_set_size(b->events, 0);
        start_real = g_get_real_time();
        start = g_get_monotonic_time();
        if (!pod_call(b, side, "Start", g_variant_new("(@a{sv})", g_variant_new("a{sv}", NULL)),
                      error))
            return FALSE;
        running_ms = bench_us_to_ms(g_get_monotonic_time() - start);
        if (!wait_marker(b->console_logs[side], offset, LEASE_MARKER, BOOT_TIMEOUT_MS,
                         pod_names[side], error))
            return FALSE;
        prepare_at = event_time(b, "Step", "preparing ");
        started_at = event_time(b, "Step", "QEMU started");
        ready_at = event_time(b, "Step", "QEMU ready");
        have_phases = prepare_at != 0 && started_at != 0 && ready_at != 0;
        if (have_phases) {
            phases[START_IN] = bench_us_to_ms(prepare_at - start_real);
            phases[START_NET] = bench_us_to_ms(started_at - prepare_at);
            phases[START_QEMU] = bench_us_to_ms(ready_at - started_at);
        }
    }
    lease_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    g_printerr("  %-7s %-10s running after %7.1f ms, lease after %8.1f ms", record ? "" : "warm-up",
               side_names[side], running_ms, lease_ms);
    if (have_phases)
        g_printerr(" (podvmd: in %.1f, network+spawn %.1f, QMP %.1f ms)", phases[START_IN],
                   phases[START_NET], phases[START_QEMU]);
    g_printerr("\n");
    if (record) {
        bench_record(b->figures.running[side], running_ms);
        bench_record(b->figures.lease[side], lease_ms);
        for (guint p = 0; have_phases && p < N_START_PHASES; p++)
            bench_record(b->figures.start_phases[side][p], phases[p]);
    }
    if (keep)
        return side_pause(b, side, TRUE, error);
    if (side == SIDE_BARE) {
        g_clear_pointer(&b->bare, bare_vm_free);
        return TRUE;
    }
    return pod_call(b, side, "Kill", NULL, error);
}

/* lease_runs rounds, one VM at a time; the last round leaves every VM paused. */
static gboolean
run_leases(Bench *b, GError **error)
{
    g_printerr("start -> first lease: %u rounds after a warm-up, the order rotating\n",
               b->lease_runs);
    for (guint round = 0; round <= b->lease_runs; round++) {
        for (guint k = 0; k < N_SIDES; k++) {
            Side side = (k + round) % N_SIDES;

            if (!lease_round(b, side, round == b->lease_runs, round > 0, error))
                return FALSE;
        }
    }
    return TRUE;
}

/* ---- 2. throughput -------------------------------------------------------- */

typedef struct {
    int listen_fd;
    guint64 expected;
    guint64 bytes;
    gint64 first_at, last_at;
    gboolean done;
    char *error;
} Receive;

static gpointer
receive_thread(gpointer user_data)
{
    Receive *r = user_data;
    struct pollfd pfd = { r->listen_fd, POLLIN, 0 };
    g_autofree char *buffer = g_malloc(256 * 1024);
    int conn;
    int ready;

    do
        ready = poll(&pfd, 1, PUSH_TIMEOUT_MS);
    while (ready < 0 && errno == EINTR);
    if (ready <= 0) {
        r->error = g_strdup_printf("no connection within %u s", PUSH_TIMEOUT_MS / 1000);
        goto out;
    }
    conn = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
        r->error = g_strdup_printf("accept: %s", g_strerror(errno));
        goto out;
    }
    while (r->bytes < r->expected) {
        struct pollfd cfd = { conn, POLLIN, 0 };
        ssize_t n;

        if (poll(&cfd, 1, PUSH_TIMEOUT_MS) == 0) {
            r->error = g_strdup_printf("stalled after %" G_GUINT64_FORMAT " bytes", r->bytes);
            break;
        }
        n = read(conn, buffer, 256 * 1024);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                r->error = g_strdup_printf("read: %s", g_strerror(errno));
            break;
        }
        if (r->bytes == 0)
            r->first_at = g_get_monotonic_time();
        r->bytes += (guint64)n;
        r->last_at = g_get_monotonic_time();
    }
    close(conn);
    if (r->error == NULL && r->bytes < r->expected)
        r->error = g_strdup_printf("only %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
                                   r->bytes, r->expected);
out:
    g_atomic_int_set(&r->done, TRUE);
    g_main_context_wakeup(NULL);
    return NULL;
}

static gboolean
receive_done(gpointer user_data)
{
    Receive *r = user_data;

    return g_atomic_int_get(&r->done);
}

/* A socket listening on the outside host's 192.0.2.1:@port. */
static int
outside_listen(Bench *b, guint16 port, GError **error)
{
    int fd =
        podvm_netns_socket(podvm_test_outside_netns_fd(b->outside), AF_INET, SOCK_STREAM, 0, error);
    struct sockaddr_in address = { 0 };
    int one = 1;

    if (fd < 0)
        return -1;
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    inet_pton(AF_INET, PODVM_TEST_OUTSIDE_ADDRESS, &address.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 1) != 0) {
        int saved = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "outside host: port %u: %s",
                    port, g_strerror(saved));
        close(fd);
        return -1;
    }
    return fd;
}

/* The console without heartbeats, and the network's state: why a push did not come. */
static void
print_push_diagnostics(Bench *b, Side side)
{
    const char *log = side == SIDE_BARE ? b->bare->qemu.console_log : b->console_logs[side];
    g_autofree char *contents = NULL;
    const char *const commands[][9] = {
        { "ip", "-4", "addr", NULL },
        { "ip", "neigh", NULL },
        { "ip", "route", NULL },
        { "iptables-save", "-t", "nat", NULL },
        { "timeout", "4", "tcpdump", "-eni", "podvm0", "-c", "12", NULL },
        { "timeout", "4", "tcpdump", "-eni", "outside0", "-c", "12", NULL },
    };

    if (side != SIDE_BARE)
        podvm_test_console_type(b->daemon, pod_names[side], "podvm-ip");
    run_main_loop_for(3000);
    if (g_file_get_contents(log, &contents, NULL, NULL)) {
        g_auto(GStrv) lines = g_strsplit(contents, "\n", -1);

        g_printerr("---- %s: console (PODVM lines) ----\n", side_names[side]);
        for (guint i = 0; lines[i] != NULL; i++) {
            if (strstr(lines[i], "PODVM-") != NULL && strstr(lines[i], "HEARTBEAT") == NULL)
                g_printerr("%s\n", lines[i]);
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *out = NULL;

        g_spawn_sync(NULL, (char **)commands[i], NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, NULL,
                     NULL);
        g_printerr("---- benchmark's namespace: %s %s ----\n%s", commands[i][0], commands[i][1],
                   out != NULL ? out : "");
    }
    if (side != SIDE_BARE) {
        g_autofree char *netns =
            g_build_filename(b->daemon->run_dir, "pods", pod_names[side], "netns", NULL);
        g_autofree char *arg = g_strdup_printf("--net=%s", netns);
        const char *argv[] = { "nsenter", arg, "--", "ip", "-d", "addr", NULL };
        const char *argv2[] = { "nsenter", arg, "--", "ip", "neigh", NULL };
        g_autofree char *out = NULL, *out2 = NULL;

        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, NULL, NULL);
        g_spawn_sync(NULL, (char **)argv2, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out2, NULL, NULL, NULL);
        g_printerr("---- the pod's namespace ----\n%s%s", out != NULL ? out : "",
                   out2 != NULL ? out2 : "");
    }
}

/* Resumes @side, receives one push, waits for the guest's word, pauses it again. */
static gboolean
push_round(Bench *b, Side side, gboolean record, double *out_mbit, GError **error)
{
    const char *log = side == SIDE_BARE ? b->bare->qemu.console_log : b->console_logs[side];
    goffset offset = file_size(log);
    Receive r = { 0 };
    GThread *thread;
    double seconds;

    r.listen_fd = outside_listen(b, PUSH_PORT_BASE + side, error);
    if (r.listen_fd < 0)
        return FALSE;
    r.expected = (guint64)b->push_mib * 1024 * 1024;
    if (!side_pause(b, side, FALSE, error)) {
        close(r.listen_fd);
        return FALSE;
    }
    thread = g_thread_new("receive", receive_thread, &r);
    bench_wait_until(receive_done, &r, 50, G_MAXUINT);
    g_thread_join(thread);
    /* Closed: the guest's next push is refused until its next round. */
    close(r.listen_fd);
    if (r.error != NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s push: %s", side_names[side], r.error);
        g_free(r.error);
        if (b->verbose)
            print_push_diagnostics(b, side);
        return FALSE;
    }
    if (!wait_marker(log, offset, PUSH_MARKER, 60000, side_names[side], error) ||
        !side_pause(b, side, TRUE, error))
        return FALSE;
    seconds = (double)(r.last_at - r.first_at) / G_USEC_PER_SEC;
    *out_mbit = seconds > 0 ? (double)r.bytes * 8 / 1e6 / seconds : 0;
    if (record)
        bench_record(b->figures.throughput[side], *out_mbit);
    return TRUE;
}

static gboolean
run_throughput(Bench *b, GError **error)
{
    g_printerr("throughput guest -> outside host: %u MiB per push, %u rounds after a warm-up\n",
               b->push_mib, b->push_runs);
    for (guint round = 0; round <= b->push_runs; round++) {
        double mbit[N_SIDES] = { 0 };

        for (guint k = 0; k < N_SIDES; k++) {
            Side side = (k + round) % N_SIDES;
            g_autoptr(GError) local = NULL;

            if (b->push_failed[side] != NULL)
                continue;
            if (push_round(b, side, round > 0, &mbit[side], &local))
                continue;
            /* A side whose push does not come is reported, and the others measured. */
            if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                g_propagate_error(error, g_steal_pointer(&local));
                return FALSE;
            }
            g_printerr("bench-net: %s; not measured further\n", local->message);
            b->push_failed[side] = g_strdup(local->message);
            if (!side_pause(b, side, TRUE, error))
                return FALSE;
        }
        g_printerr("  %-7s masquerade %6.1f, bridge %6.1f, slirp %6.1f, bare tap %6.1f Mbit/s\n",
                   round == 0 ? "warm-up" : "", mbit[SIDE_MASQUERADE], mbit[SIDE_BRIDGE],
                   mbit[SIDE_SLIRP], mbit[SIDE_BARE]);
    }
    return TRUE;
}

/* ---- the run -------------------------------------------------------------- */

static gboolean
bench_run(Bench *b, GError **error)
{
    if (!setup_network(b, error) || !create_pods(b, error) || !run_leases(b, error))
        return FALSE;
    if (b->push_runs > 0 && !run_throughput(b, error))
        return FALSE;
    /* The NIC rounds: the masquerade pod and the bare QEMU running. */
    if (b->hotplug_runs > 0 &&
        (!side_pause(b, SIDE_MASQUERADE, FALSE, error) || !side_pause(b, SIDE_BARE, FALSE, error) ||
         !run_hotplug(b, error) || !run_cni_alone(b, error)))
        return FALSE;
    for (guint side = 0; side < N_PODS; side++) {
        if (!pod_call(b, side, "Kill", NULL, error) ||
            !pod_call(b, side, "Delete", g_variant_new("(b)", FALSE), error))
            return FALSE;
    }
    return TRUE;
}

/* ---- output --------------------------------------------------------------- */

static void
print_row(const char *label, GArray *samples, const char *unit)
{
    double median, lo, hi;

    if (!bench_samples_stats(samples, &median, &lo, &hi)) {
        g_print("%-46s %12s\n", label, "-");
        return;
    }
    g_print("%-46s %8.1f %-6s %8.1f %8.1f %4u\n", label, median, unit, lo, hi, samples->len);
}

static gboolean
median_of(GArray *samples, double *out)
{
    double lo, hi;

    return bench_samples_stats(samples, out, &lo, &hi);
}

typedef struct {
    const char *name;
    const char *kind; /* "ratio_min" or "plus_ms" */
    double limit;
    gboolean measured;
    double value; /* the ratio, or podvmd - raw in ms */
    double podvmd, baseline;
} Target;

static guint
targets(Bench *b, Target out[6])
{
    Figures *f = &b->figures;
    guint n = 0;
    const Side ratio_sides[] = { SIDE_MASQUERADE, SIDE_BRIDGE, SIDE_SLIRP };

    for (guint i = 0; i < G_N_ELEMENTS(ratio_sides); i++) {
        Target *t = &out[n++];

        t->name = ratio_sides[i] == SIDE_MASQUERADE ? "throughput masquerade / bare tap"
                  : ratio_sides[i] == SIDE_BRIDGE   ? "throughput bridge / bare tap"
                                                    : "throughput slirp / bare tap";
        t->kind = "ratio_min";
        /* slirp has no target: reported for reference. */
        t->limit = ratio_sides[i] == SIDE_SLIRP ? 0 : THROUGHPUT_TARGET;
        t->measured = median_of(f->throughput[ratio_sides[i]], &t->podvmd) &&
                      median_of(f->throughput[SIDE_BARE], &t->baseline) && t->baseline > 0;
        t->value = t->measured ? t->podvmd / t->baseline : 0;
    }
    for (guint op = 0; op < 2; op++) {
        Target *t = &out[n++];
        GArray **samples = op == 0 ? f->attach : f->detach;

        t->name = op == 0 ? "NIC attach - raw QMP" : "NIC detach - raw QMP";
        t->kind = "plus_ms";
        t->limit = 1.0;
        t->measured = median_of(samples[0], &t->podvmd) && median_of(samples[1], &t->baseline);
        t->value = t->podvmd - t->baseline;
    }
    return n;
}

static gboolean
target_pass(const Target *t)
{
    return g_str_equal(t->kind, "ratio_min") ? t->value >= t->limit : t->value <= t->limit;
}

static void
print_results(Bench *b)
{
    Figures *f = &b->figures;
    Target t[6];
    guint n;

    bench_print_header("podvm network benchmark", b->bare != NULL ? b->bare->qemu_version : NULL);
    g_print(
        "pods through podvmd (CNI bridge network podvm0) against a bare QEMU on a plain tap on "
        "podvm0\n(podvm's DHCP server for its lease); medians of the rounds after a warm-up\n\n");
    g_print("%-46s %15s %8s %8s %4s\n", "figure", "median", "min", "max", "n");
    for (guint side = 0; side < N_SIDES; side++) {
        g_autofree char *l1 = g_strdup_printf("start -> Running: %s", side_names[side]);
        g_autofree char *l2 = g_strdup_printf("start -> first lease: %s", side_names[side]);

        print_row(l1, f->running[side], "ms");
        print_row(l2, f->lease[side], "ms");
    }
    for (guint side = 0; side < N_PODS; side++) {
        for (guint p = 0; p < N_START_PHASES; p++) {
            g_autofree char *label =
                g_strdup_printf("  podvmd start %s: %s", side_names[side], start_phase_names[p]);
            print_row(label, f->start_phases[side][p], "ms");
        }
    }
    for (guint side = 0; side < N_SIDES; side++) {
        g_autofree char *label = g_strdup_printf("TCP guest -> outside: %s", side_names[side]);

        print_row(label, f->throughput[side], "Mbit/s");
    }
    print_row("podvmd: AttachInterface (bridge, multus)", f->attach[0], "ms");
    print_row("  in: call -> \"attaching\"", f->attach_phases[ATTACH_IN], "ms");
    print_row("  prep: -> CNI ADD begins", f->attach_phases[ATTACH_PREP], "ms");
    print_row("  CNI ADD+binding+tap+QMP: -> \"attached\"", f->attach_phases[ATTACH_NET_QMP], "ms");
    print_row("  out: spec write, reply", f->attach_phases[ATTACH_OUT], "ms");
    print_row("raw QMP: getfd + netdev_add + device_add", f->attach[1], "ms");
    print_row("  of which getfd", f->raw_getfd, "ms");
    print_row("  (untimed: opening a tap)", f->raw_tap_open, "ms");
    print_row("podvmd: DetachInterface", f->detach[0], "ms");
    print_row("  in: call -> \"detaching\"", f->detach_phases[DETACH_IN], "ms");
    print_row("  guest+QMP+CNI DEL: -> \"detached\"", f->detach_phases[DETACH_WORK], "ms");
    print_row("  out: spec write, reply", f->detach_phases[DETACH_OUT], "ms");
    print_row("raw QMP: device_del .. DEVICE_DELETED .. netdev_del", f->detach[1], "ms");
    print_row("  of which device_del -> DEVICE_DELETED", f->raw_release, "ms");
    print_row("CNI ADD alone (bridge, host-local, portmap)", f->cni_add, "ms");
    print_row("CNI DEL alone", f->cni_del, "ms");

    n = targets(b, t);
    g_print("\n%-36s %12s %12s %12s %10s  %s\n", "target (medians)", "podvmd", "baseline", "value",
            "limit", "result");
    for (guint i = 0; i < n; i++) {
        gboolean ratio = g_str_equal(t[i].kind, "ratio_min");
        g_autofree char *limit =
            ratio ? (t[i].limit > 0 ? g_strdup_printf(">= %.2fx", t[i].limit) : g_strdup("(none)"))
                  : g_strdup_printf("<= +%.1f ms", t[i].limit);

        if (!t[i].measured) {
            g_print("%-36s %12s %12s %12s %10s  not measured\n", t[i].name, "-", "-", "-", limit);
            continue;
        }
        if (ratio)
            g_print("%-36s %7.1f Mb/s %7.1f Mb/s %11.2fx %10s  %s\n", t[i].name, t[i].podvmd,
                    t[i].baseline, t[i].value, limit,
                    t[i].limit > 0 ? bench_verdict(target_pass(&t[i])) : "-");
        else
            g_print("%-36s %9.1f ms %9.1f ms %+9.1f ms %10s  %s\n", t[i].name, t[i].podvmd,
                    t[i].baseline, t[i].value, limit, bench_verdict(target_pass(&t[i])));
    }
    for (guint side = 0; side < N_SIDES; side++) {
        if (b->push_failed[side] != NULL)
            g_print("not measured: %s\n", b->push_failed[side]);
    }
    g_print("\npodvmd's attach runs the network's CNI plugins (ADD) and sets up the binding "
            "before its QMP steps,\nand its detach runs CNI DEL after them: compare the CNI "
            "rows; the raw side has neither.\n");
}

static void
write_json(Bench *b, const char *path)
{
    Figures *f = &b->figures;
    g_autoptr(JsonBuilder) builder = json_builder_new();
    Target t[6];
    guint n = targets(b, t);

    bench_json_begin(builder, b->bare != NULL ? b->bare->qemu_version : NULL);
    json_builder_set_member_name(builder, "figures");
    json_builder_begin_object(builder);
    for (guint side = 0; side < N_SIDES; side++) {
        const char *key = side == SIDE_BARE ? "bare" : side_names[side];
        g_autofree char *k1 = g_strdup_printf("%s_start_running", key);
        g_autofree char *k2 = g_strdup_printf("%s_start_lease", key);
        g_autofree char *k3 = g_strdup_printf("%s_throughput", key);

        bench_json_add_samples(builder, k1, "ms", f->running[side], TRUE);
        bench_json_add_samples(builder, k2, "ms", f->lease[side], TRUE);
        bench_json_add_samples(builder, k3, "Mbit/s", f->throughput[side], TRUE);
        for (guint p = 0; side < N_PODS && p < N_START_PHASES; p++) {
            g_autofree char *k = g_strdup_printf("%s_start_phase_%s", key, start_phase_names[p]);

            bench_json_add_samples(builder, k, "ms", f->start_phases[side][p], TRUE);
        }
    }
    bench_json_add_samples(builder, "podvmd_attach", "ms", f->attach[0], TRUE);
    bench_json_add_samples(builder, "raw_attach", "ms", f->attach[1], TRUE);
    bench_json_add_samples(builder, "podvmd_detach", "ms", f->detach[0], TRUE);
    bench_json_add_samples(builder, "raw_detach", "ms", f->detach[1], TRUE);
    bench_json_add_samples(builder, "podvmd_attach_phase_in", "ms", f->attach_phases[ATTACH_IN],
                           TRUE);
    bench_json_add_samples(builder, "podvmd_attach_phase_prep", "ms", f->attach_phases[ATTACH_PREP],
                           TRUE);
    bench_json_add_samples(builder, "podvmd_attach_phase_net_qmp", "ms",
                           f->attach_phases[ATTACH_NET_QMP], TRUE);
    bench_json_add_samples(builder, "podvmd_attach_phase_out", "ms", f->attach_phases[ATTACH_OUT],
                           TRUE);
    bench_json_add_samples(builder, "podvmd_detach_phase_in", "ms", f->detach_phases[DETACH_IN],
                           TRUE);
    bench_json_add_samples(builder, "podvmd_detach_phase_work", "ms", f->detach_phases[DETACH_WORK],
                           TRUE);
    bench_json_add_samples(builder, "podvmd_detach_phase_out", "ms", f->detach_phases[DETACH_OUT],
                           TRUE);
    bench_json_add_samples(builder, "raw_getfd", "ms", f->raw_getfd, TRUE);
    bench_json_add_samples(builder, "raw_guest_release", "ms", f->raw_release, TRUE);
    bench_json_add_samples(builder, "raw_tap_open", "ms", f->raw_tap_open, TRUE);
    bench_json_add_samples(builder, "cni_add", "ms", f->cni_add, TRUE);
    bench_json_add_samples(builder, "cni_del", "ms", f->cni_del, TRUE);
    json_builder_end_object(builder);
    json_builder_set_member_name(builder, "targets");
    json_builder_begin_array(builder);
    for (guint i = 0; i < n; i++) {
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "target");
        json_builder_add_string_value(builder, t[i].name);
        json_builder_set_member_name(builder, "kind");
        json_builder_add_string_value(builder, t[i].kind);
        json_builder_set_member_name(builder, "limit");
        json_builder_add_double_value(builder, t[i].limit);
        if (t[i].measured) {
            json_builder_set_member_name(builder, "value");
            json_builder_add_double_value(builder, t[i].value);
        }
        json_builder_set_member_name(builder, "result");
        json_builder_add_string_value(builder, !t[i].measured ? "not measured"
                                               : t[i].limit == 0
                                                   ? "reference"
                                                   : bench_verdict(target_pass(&t[i])));
        json_builder_end_object(builder);
    }
    json_builder_end_array(builder);
    bench_json_write(builder, path);
}

/* ---- main ----------------------------------------------------------------- */

static GArray *
samples_new(void)
{
    return g_array_new(FALSE, FALSE, sizeof(double));
}

static void
figures_init(Figures *f)
{
    GArray **all = (GArray **)f;

    for (gsize i = 0; i < sizeof *f / sizeof(GArray *); i++)
        all[i] = samples_new();
}

static void
figures_clear(Figures *f)
{
    GArray **all = (GArray **)f;

    for (gsize i = 0; i < sizeof *f / sizeof(GArray *); i++)
        g_clear_pointer(&all[i], g_array_unref);
}

static void
keep_podvmd_log(Bench *b, const char *cwd)
{
    g_autofree char *kept = g_build_filename(cwd, "bench-net-podvmd.log", NULL);
    g_autofree char *contents = NULL;
    gsize length = 0;
    g_autoptr(GError) error = NULL;

    if (!g_file_get_contents(b->daemon->log_path, &contents, &length, &error) ||
        !g_file_set_contents(kept, contents, (gssize)length, &error)) {
        g_printerr("bench-net: cannot keep podvmd's log: %s\n", error->message);
        return;
    }
    g_printerr("podvmd's log: %s\n", kept);
}

int
main(int argc, char **argv)
{
    Bench bench = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *netns_skip = NULL;
    g_autofree char *json_path = NULL;
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *conf = NULL;
    g_autofree char *outside_dir = NULL;
    gboolean quick = bench_quick();
    int status = 0;

    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&netns_skip)) {
        g_print("SKIP: %s\n", netns_skip);
        return 77;
    }
    if (!bench_init("bench-net"))
        return 77;
    if (!g_file_test("/usr/lib/cni/bridge", G_FILE_TEST_IS_EXECUTABLE)) {
        g_print("SKIP: Debian's containernetworking-plugins are not installed (/usr/lib/cni)\n");
        return 77;
    }
    bench.verbose = bench_verbose();
    bench.push_runs = bench_env_uint("PODVM_BENCH_RUNS", quick ? 2 : 5);
    bench.lease_runs = bench_env_uint("PODVM_BENCH_LEASE_RUNS", bench.push_runs);
    bench.hotplug_runs = bench_env_uint("PODVM_BENCH_HOTPLUG_RUNS", quick ? 3 : 10);
    bench.push_mib = MAX(1u, bench_env_uint("PODVM_BENCH_NET_MIB", quick ? 8 : 32));
    bench.tap_fd = -1;
    bench.hot_tap_fd = -1;
    figures_init(&bench.figures);
    bench.events = g_ptr_array_new_with_free_func((GDestroyNotify)pod_event_free);
    json_path = g_strdup(g_getenv("PODVM_BENCH_NET_JSON"));
    if (json_path == NULL)
        json_path = g_build_filename(cwd, "bench-net.json", NULL);

    bench_catch_interrupts();

    bench.work_dir = podvm_test_mkdtemp();
    bench.cni_dir = g_build_filename(bench.work_dir, "cni", NULL);
    outside_dir = g_build_filename(bench.work_dir, "o", NULL);
    if (g_mkdir_with_parents(bench.cni_dir, 0700) != 0 || g_mkdir(outside_dir, 0700) != 0 ||
        !write_conflist(&bench, "10-pods.conflist", "pods", "podvm0", "10.66.0.0/16", &error) ||
        !write_conflist(&bench, "20-extra.conflist", "extra", "podvm1", "10.77.0.0/24", &error)) {
        g_printerr("bench-net: %s\n", error != NULL ? error->message : "cannot make directories");
        podvm_test_rmrf(bench.work_dir);
        return 1;
    }
    bench.outside = podvm_test_outside_new(outside_dir, &error);
    if (bench.outside == NULL) {
        g_print("SKIP: no outside host here: %s\n", error->message);
        podvm_test_rmrf(bench.work_dir);
        return 77;
    }
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n", bench.cni_dir);
    bench.daemon = podvm_test_daemon_new_with_config(conf);
    if (bench.daemon == NULL) {
        g_print("SKIP: podvmd cannot run here\n");
        podvm_test_outside_free(bench.outside);
        podvm_test_rmrf(bench.work_dir);
        return 77;
    }
    bench_set_daemon_pid(atoi(g_subprocess_get_identifier(bench.daemon->process)));
    bench_install_crash_handlers();

    if (!bench_run(&bench, &error)) {
        bench_print_failure(bench.daemon, error);
        status = 1;
    }
    if (bench.verbose)
        keep_podvmd_log(&bench, cwd);
    (void)g_unlink(bench.daemon->log_path);
    print_results(&bench);
    if (status == 0)
        write_json(&bench, json_path);

    g_clear_pointer(&bench.bare, bare_vm_free);
    for (guint side = 0; side < N_PODS; side++) {
        if (bench.pods[side] != NULL)
            g_signal_handlers_disconnect_by_data(bench.pods[side], &bench);
        g_clear_object(&bench.pods[side]);
        g_free(bench.console_logs[side]);
    }
    g_clear_pointer(&bench.dhcp, podvm_dhcp_server_free);
    if (bench.tap_fd >= 0)
        close(bench.tap_fd);
    if (bench.hot_tap_fd >= 0)
        close(bench.hot_tap_fd);
    /* Stops podvmd and kills the QEMUs its pods left, if any. */
    bench_set_daemon_pid(0);
    podvm_test_daemon_free(bench.daemon);
    g_clear_pointer(&bench.nl, podvm_nl_close);
    podvm_test_outside_free(bench.outside);
    podvm_test_rmrf(bench.work_dir);
    figures_clear(&bench.figures);
    g_ptr_array_unref(bench.events);
    g_free(bench.work_dir);
    g_free(bench.cni_dir);
    g_free(bench.bare_args);
    for (guint side = 0; side < N_SIDES; side++)
        g_free(bench.push_failed[side]);
    return status;
}
