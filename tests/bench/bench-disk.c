/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-disk: disk attach and detach through podvmd's D-Bus API against
 * the same steps sent as raw QMP to a bare QEMU, in the same run. Both
 * QEMUs run the test guest from the same argv (podvm_qemu_argv_build() on
 * the same spec, with podvmd's default spare root ports; the bare QEMU
 * binds its own sockets by path), and the raw steps use the very JSON
 * podvmd sends (podvm_qemu_disk_protocol_blockdev / _format_blockdev /
 * _device on the same attachment document):
 *   attach  blockdev-add (file node), blockdev-add (raw node), device_add
 *   detach  device_del, wait for DEVICE_DELETED, blockdev-del x2
 * for a virtio disk on the first spare root port, then for a scsi disk on
 * a virtio-scsi controller (podvmd plugs one in on its first scsi attach;
 * the bare QEMU gets the same one before anything is timed). The first
 * round of each bus is a warm-up, printed but not counted. Rounds
 * alternate which side goes first. Prints medians and minimums, where
 * podvmd's time goes (from the "time" of the pod's own events: before the
 * operation begins, its QMP work, the durable spec write, the reply), then
 * each target (attach within raw + 1 ms, detach within raw + 2 ms) with
 * PASS or MISS. A miss does not fail the program; something broken does
 * (exit 1). Exit 77 (skip) when QEMU or the test guest is missing.
 *
 * Environment:
 *   PODVMD, PODVM_GUEST_DIR, PODVM_QEMU   as for the tests (tests/meson.build)
 *   PODVM_BENCH_RUNS=N          timed attach+detach rounds per bus and side (default 10; 3 quick)
 *   PODVM_BENCH_QUICK=1         fewer rounds
 *   PODVM_BENCH_DISK_JSON=PATH  the JSON results (default bench-disk.json in the cwd)
 *   PODVM_BENCH_VERBOSE=1       library messages, the argv differences, each round's
 *                               phases, and podvmd's log kept as bench-disk-podvmd.log in
 *                               the cwd
 *
 * Every QEMU started here ends with the benchmark, also on failure: the
 * bare QEMU is tracked by pid, killed on every way out (and gets
 * PR_SET_PDEATHSIG); podvmd's is killed through D-Bus, and otherwise by
 * podvm_test_daemon_free() or the abort handler of podvm-test-daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"
#include "podvm-qemu-argv.h"
#include "podvm-qmp-client.h"
#include "podvm-spec.h"
#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BUS_NAME "io.podvm.PodVM1"
#define MANAGER_PATH "/io/podvm/PodVM1"
#define MANAGER_IFACE "io.podvm.PodVM1.Manager"
#define POD_IFACE "io.podvm.PodVM1.Pod"

#define MARKER "PODVM-GUEST-READY"
#define POD_NAME "bench-disk"
#define DISK_NAME "b"
#define IMAGE_SIZE (16 * 1024 * 1024)
#define GRACE_SECONDS 5
#define BOOT_TIMEOUT_MS (180 * 1000)
#define CALL_TIMEOUT_MS (120 * 1000)
#define DETACH_TIMEOUT_MS (30 * 1000)
#define POLL_MS 5
/*
 * After each attach and detach both guests get this long to finish their
 * side (probing the new disk, settling after the eject), so no step is
 * timed while the guest still works on the one before.
 */
#define SETTLE_MS 300

/* ---- figures and targets ------------------------------------------------ */

typedef enum {
    BUS_VIRTIO,
    BUS_SCSI,
    N_BUSES,
} Bus;

static const char *const bus_names[N_BUSES] = { "virtio", "scsi" };

typedef enum {
    SIDE_PODVMD,
    SIDE_BARE,
    N_SIDES,
} Side;

typedef enum {
    OP_ATTACH,
    OP_DETACH,
    N_OPS,
} Op;

/*
 * Where podvmd's time goes, from the "time" of the pod's events (podvmd's
 * clock, microseconds) against the call's start and end here:
 *   in     call -> Step "attaching/detaching disk" (D-Bus, dispatch, checks, queue)
 *   work   -> Step "disk attached/detached" (prepare, QMP, the guest)
 *   store  -> event DiskAttached/DiskDetached (the durable spec write, signals)
 *   out    -> the reply here (D-Bus)
 */
typedef enum {
    PHASE_IN,
    PHASE_WORK,
    PHASE_STORE,
    PHASE_OUT,
    N_PHASES,
} Phase;

static const char *const phase_names[N_PHASES] = { "in", "work", "store", "out" };

typedef struct {
    GArray *samples[N_BUSES][N_SIDES][N_OPS];
    GArray *phases[N_BUSES][N_OPS][N_PHASES]; /* podvmd only */
    GArray *guest_release[N_BUSES];           /* bare: device_del -> DEVICE_DELETED */
    GArray *dbus_round_trip;                  /* GetPod: the bus alone */
} Figures;

/* podvmd - bare <= limit, in ms, on the medians. */
static const double op_limit_ms[N_OPS] = { 1.0, 2.0 };
static const char *const op_names[N_OPS] = { "attach", "detach" };

/* ---- small helpers ------------------------------------------------------ */

static gboolean
wake_cb(gpointer user_data)
{
    gboolean *fired = user_data;

    *fired = TRUE;
    return G_SOURCE_REMOVE;
}

/* Runs the main loop for @ms, so QMP events and D-Bus signals are dispatched meanwhile. */
static void
run_main_loop_for(guint ms)
{
    gboolean fired = FALSE;

    g_timeout_add(ms, wake_cb, &fired);
    while (!fired)
        g_main_context_iteration(NULL, TRUE);
}

static gboolean
file_has_marker(gpointer user_data)
{
    g_autofree char *contents = NULL;

    if (bench_interrupted())
        return TRUE;
    return g_file_get_contents(user_data, &contents, NULL, NULL) &&
           strstr(contents, MARKER) != NULL;
}

/* ---- bare QEMU ---------------------------------------------------------- */

typedef struct {
    BenchQemu qemu;
    PodvmQmpClient *qmp;
    char *qemu_version;
    const char *awaited_device; /* the id a DEVICE_DELETED is awaited for, or NULL */
    gint64 deleted_at;          /* monotonic time of that event; 0 until seen */
} BareVm;

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

/* One QMP command, waited for (the client's own timeout ends the wait). */
static gboolean
bare_qmp(BareVm *vm, const char *command, JsonNode *arguments, GError **error)
{
    return bench_qmp_run(vm->qmp, command, arguments, PODVM_QMP_TIMEOUT_HOTPLUG, error);
}

typedef struct {
    gboolean done;
    GError *error;
} ConnectCall;

static void
bare_connect_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ConnectCall *call = user_data;

    podvm_qmp_client_connect_finish(PODVM_QMP_CLIENT(source), result, &call->error);
    call->done = TRUE;
}

static void
bare_event_cb(PodvmQmpClient *qmp, const char *name, JsonObject *data, gint64 timestamp_us,
              gpointer user_data)
{
    BareVm *vm = user_data;
    const char *device;

    /* The virtio backend's own DEVICE_DELETED has a path only: the device's has its id. */
    if (data == NULL || vm->awaited_device == NULL)
        return;
    device = json_object_get_string_member_with_default(data, "device", NULL);
    if (g_strcmp0(device, vm->awaited_device) == 0 && vm->deleted_at == 0)
        vm->deleted_at = g_get_monotonic_time();
}

/* Spawns the bare QEMU, negotiates QMP and lets the guest run (cont). */
static BareVm *
bare_vm_start(const char *parent_dir, GError **error)
{
    g_autoptr(BareVm) vm = g_new0(BareVm, 1);
    g_autofree char *dir = g_build_filename(parent_dir, "bare", NULL);
    g_autofree char *spec = podvm_test_guest_spec(POD_NAME, NULL, NULL, GRACE_SECONDS);
    ConnectCall call = { 0 };

    /* The argv podvmd builds for this spec (with its default spare root ports). */
    if (!bench_qemu_spawn(&vm->qemu, dir, spec, PODVM_QEMU_SPARE_ROOT_PORTS, NULL, error))
        return NULL;

    vm->qmp = podvm_qmp_client_new();
    g_signal_connect(vm->qmp, "event::DEVICE_DELETED", G_CALLBACK(bare_event_cb), vm);
    podvm_qmp_client_connect_async(vm->qmp, vm->qemu.qmp_path, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                                   bare_connect_cb, &call);
    while (!call.done)
        g_main_context_iteration(NULL, TRUE);
    if (call.error != NULL) {
        g_autofree char *tail = bench_file_tail(vm->qemu.qemu_log, 1024);

        g_propagate_prefixed_error(error, call.error, "bare QEMU: QMP (QEMU said: %s): ", tail);
        return NULL;
    }
    vm->qemu_version = g_strdup(podvm_qmp_client_get_qemu_version(vm->qmp));
    if (!bare_qmp(vm, "cont", NULL, error))
        return NULL;
    return g_steal_pointer(&vm);
}

static gboolean
device_deleted(gpointer user_data)
{
    BareVm *vm = user_data;

    return bench_interrupted() || vm->deleted_at != 0;
}

/* ---- the disks ------------------------------------------------------------ */

/* {"disk": {"name": "b", "disk": {"bus": BUS}}, "volume": {"name": "b", "hostDisk": ...}} */
static char *
attachment_json(Bus bus, const char *image)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "disk");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, DISK_NAME);
    json_builder_set_member_name(builder, "disk");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "bus");
    json_builder_add_string_value(builder, bus_names[bus]);
    json_builder_end_object(builder);
    json_builder_end_object(builder);
    json_builder_set_member_name(builder, "volume");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "name");
    json_builder_add_string_value(builder, DISK_NAME);
    json_builder_set_member_name(builder, "hostDisk");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "path");
    json_builder_add_string_value(builder, image);
    json_builder_set_member_name(builder, "type");
    json_builder_add_string_value(builder, "Disk");
    json_builder_end_object(builder);
    json_builder_end_object(builder);
    json_builder_end_object(builder);
    root = json_builder_get_root(builder);
    return json_to_string(root, FALSE);
}

/* A sparse raw file of IMAGE_SIZE bytes; returns its canonical path. */
static char *
make_image(const char *dir, const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    char resolved[PATH_MAX];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || ftruncate(fd, IMAGE_SIZE) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot create '%s': %s", path,
                    g_strerror(saved));
        return NULL;
    }
    close(fd);
    /* What podvmd's hostDisk prepare resolves it to: QEMU is given the same filename. */
    if (realpath(path, resolved) == NULL) {
        int saved = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "cannot resolve '%s': %s",
                    path, g_strerror(saved));
        return NULL;
    }
    return g_strdup(resolved);
}

/* What the bare QEMU is sent for one bus: the JSON podvmd would send. */
typedef struct {
    JsonNode *protocol_node;
    JsonNode *format_node;
    JsonNode *device;
    JsonNode *protocol_del; /* {"node-name": ...} */
    JsonNode *format_del;
    JsonNode *device_del; /* {"id": ...} */
    char *device_id;
} RawDisk;

static void
raw_disk_clear(RawDisk *raw)
{
    g_clear_pointer(&raw->protocol_node, json_node_unref);
    g_clear_pointer(&raw->format_node, json_node_unref);
    g_clear_pointer(&raw->device, json_node_unref);
    g_clear_pointer(&raw->protocol_del, json_node_unref);
    g_clear_pointer(&raw->format_del, json_node_unref);
    g_clear_pointer(&raw->device_del, json_node_unref);
    g_clear_pointer(&raw->device_id, g_free);
}

static JsonNode *
object_with_string(const char *member, const char *value)
{
    g_autoptr(JsonObject) object = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(object, member, value);
    json_node_set_object(node, object);
    return node;
}

static gboolean
raw_disk_init(RawDisk *raw, Bus bus, const char *image, GError **error)
{
    g_autofree char *document = attachment_json(bus, image);
    g_autoptr(PodvmSpecDisk) disk = NULL;
    g_autoptr(PodvmSpecVolume) volume = NULL;
    g_autofree char *pci_bus = NULL;
    g_autofree char *protocol_name = NULL, *format_name = NULL;
    /* What podvmd's hostDisk prepare makes of a regular file. */
    PodvmPreparedVolume prepared = {
        .volume_name = (char *)DISK_NAME,
        .filename = (char *)image,
        .format = (char *)"raw",
        .read_only = FALSE,
        .block_device = FALSE,
        .virtual_size = IMAGE_SIZE,
    };

    if (!podvm_spec_parse_disk_attachment(document, -1, &disk, &volume, NULL, error))
        return FALSE;
    /* podvmd's choice on a q35 pod with nothing plugged: the first spare root port, LUN 0. */
    if (bus == BUS_VIRTIO)
        pci_bus = podvm_qemu_spare_root_port_id(0);
    raw->device = podvm_qemu_disk_device(disk, &prepared, pci_bus, 0, error);
    if (raw->device == NULL)
        return FALSE;
    raw->protocol_node = podvm_qemu_disk_protocol_blockdev(disk, &prepared);
    raw->format_node = podvm_qemu_disk_format_blockdev(disk, &prepared);
    protocol_name = podvm_qemu_disk_node_name(DISK_NAME, FALSE);
    format_name = podvm_qemu_disk_node_name(DISK_NAME, TRUE);
    raw->protocol_del = object_with_string("node-name", protocol_name);
    raw->format_del = object_with_string("node-name", format_name);
    raw->device_id = podvm_qemu_disk_device_id(DISK_NAME);
    raw->device_del = object_with_string("id", raw->device_id);
    return TRUE;
}

/* ---- the benchmark ---------------------------------------------------------- */

/* One of the pod's events, as the Event signal carried it. */
typedef struct {
    char *type;
    char *message;  /* a Step's message, or NULL */
    gint64 time_us; /* podvmd's wall clock */
} PodEvent;

static void
pod_event_free(PodEvent *event)
{
    g_free(event->type);
    g_free(event->message);
    g_free(event);
}

typedef struct {
    PodvmTestDaemon *daemon;
    char *work_dir; /* images and the bare QEMU's sockets and logs */
    char *pod_image;
    char *bare_image;
    PodvmDBusPod *pod;
    char *pod_console_log;
    BareVm *bare;
    GPtrArray *events; /* PodEvent, since the last podvmd call began */
    guint runs;
    gboolean verbose;
    Figures figures;
} Bench;

/* The start and the end of a call, on the wall clock (podvmd's events use it). */
typedef struct {
    gint64 start_us;
    gint64 end_us;
} CallSpan;

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

/* The time of the first event of @type (with @message, unless NULL), or 0. */
static gint64
event_time(Bench *b, const char *type, const char *message)
{
    for (guint i = 0; i < b->events->len; i++) {
        PodEvent *event = g_ptr_array_index(b->events, i);

        if (g_str_equal(event->type, type) &&
            (message == NULL || g_strcmp0(event->message, message) == 0))
            return event->time_us;
    }
    return 0;
}

/* Splits a podvmd call into phases; FALSE when an event is missing. */
static gboolean
pod_phases(Bench *b, Op op, const CallSpan *span, double out_ms[N_PHASES])
{
    g_autofree char *begun =
        g_strdup_printf(op == OP_ATTACH ? "attaching disk '%s'" : "detaching disk '%s'", DISK_NAME);
    g_autofree char *done =
        g_strdup_printf(op == OP_ATTACH ? "disk '%s' attached" : "disk '%s' detached", DISK_NAME);
    gint64 begun_at = event_time(b, "Step", begun);
    gint64 done_at = event_time(b, "Step", done);
    gint64 event_at = event_time(b, op == OP_ATTACH ? "DiskAttached" : "DiskDetached", NULL);

    if (begun_at == 0 || done_at == 0 || event_at == 0)
        return FALSE;
    out_ms[PHASE_IN] = bench_us_to_ms(begun_at - span->start_us);
    out_ms[PHASE_WORK] = bench_us_to_ms(done_at - begun_at);
    out_ms[PHASE_STORE] = bench_us_to_ms(event_at - done_at);
    out_ms[PHASE_OUT] = bench_us_to_ms(span->end_us - event_at);
    return TRUE;
}

static gboolean
pod_attach(Bench *b, Bus bus, double *out_ms, CallSpan *span, GError **error)
{
    g_autofree char *document = attachment_json(bus, b->pod_image);
    gint64 start;

    g_ptr_array_set_size(b->events, 0);
    span->start_us = g_get_real_time();
    start = g_get_monotonic_time();
    if (!podvm_dbus_pod_call_attach_disk_sync(b->pod, document, NULL, error)) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: AttachDisk (%s): ", bus_names[bus]);
        return FALSE;
    }
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    span->end_us = g_get_real_time();
    return TRUE;
}

static gboolean
pod_detach(Bench *b, Bus bus, double *out_ms, CallSpan *span, GError **error)
{
    gint64 start;

    g_ptr_array_set_size(b->events, 0);
    span->start_us = g_get_real_time();
    start = g_get_monotonic_time();
    if (!podvm_dbus_pod_call_detach_disk_sync(b->pod, DISK_NAME, NULL, error)) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: DetachDisk (%s): ", bus_names[bus]);
        return FALSE;
    }
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    span->end_us = g_get_real_time();
    return TRUE;
}

static gboolean
bare_attach(Bench *b, RawDisk *raw, double *out_ms, GError **error)
{
    gint64 start = g_get_monotonic_time();

    if (!bare_qmp(b->bare, "blockdev-add", raw->protocol_node, error) ||
        !bare_qmp(b->bare, "blockdev-add", raw->format_node, error) ||
        !bare_qmp(b->bare, "device_add", raw->device, error))
        return FALSE;
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    return TRUE;
}

/* As podvmd does: device_del and DEVICE_DELETED (in either order), then both nodes. */
static gboolean
bare_detach(Bench *b, RawDisk *raw, double *out_ms, double *out_guest_ms, GError **error)
{
    BareVm *vm = b->bare;
    gint64 start;

    vm->awaited_device = raw->device_id;
    vm->deleted_at = 0;
    start = g_get_monotonic_time();
    if (!bare_qmp(vm, "device_del", raw->device_del, error))
        return FALSE;
    if (!podvm_test_wait_until(device_deleted, vm, DETACH_TIMEOUT_MS)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "bare QEMU: no DEVICE_DELETED for '%s' within %u s", raw->device_id,
                    DETACH_TIMEOUT_MS / 1000);
        return FALSE;
    }
    vm->awaited_device = NULL;
    if (!bench_check_interrupted(error))
        return FALSE;
    *out_guest_ms = bench_us_to_ms(vm->deleted_at - start);
    if (!bare_qmp(vm, "blockdev-del", raw->format_del, error) ||
        !bare_qmp(vm, "blockdev-del", raw->protocol_del, error))
        return FALSE;
    *out_ms = bench_us_to_ms(g_get_monotonic_time() - start);
    return TRUE;
}

/* One attach + detach on each side; recorded unless @warm_up. */
static gboolean
run_round(Bench *b, Bus bus, RawDisk *raw, guint index, gboolean warm_up, GError **error)
{
    double ms[N_SIDES][N_OPS] = { { 0 } }, guest_ms = 0;
    double phases[N_OPS][N_PHASES] = { { 0 } };
    gboolean have_phases[N_OPS] = { FALSE, FALSE };
    /* Alternate who goes first: caches and other load favour neither. */
    gboolean podvmd_first = index % 2 == 1;

    for (guint turn = 0; turn < N_SIDES; turn++) {
        Side side = (turn == 0) == podvmd_first ? SIDE_PODVMD : SIDE_BARE;
        CallSpan span = { 0 };

        if (side == SIDE_PODVMD ? !pod_attach(b, bus, &ms[side][OP_ATTACH], &span, error)
                                : !bare_attach(b, raw, &ms[side][OP_ATTACH], error))
            return FALSE;
        /* Also lets the pod's events arrive. */
        run_main_loop_for(SETTLE_MS);
        if (side == SIDE_PODVMD)
            have_phases[OP_ATTACH] = pod_phases(b, OP_ATTACH, &span, phases[OP_ATTACH]);
        if (side == SIDE_PODVMD ? !pod_detach(b, bus, &ms[side][OP_DETACH], &span, error)
                                : !bare_detach(b, raw, &ms[side][OP_DETACH], &guest_ms, error))
            return FALSE;
        run_main_loop_for(SETTLE_MS);
        if (side == SIDE_PODVMD)
            have_phases[OP_DETACH] = pod_phases(b, OP_DETACH, &span, phases[OP_DETACH]);
        if (!bench_check_interrupted(error))
            return FALSE;
    }
    g_printerr("  %-7s %-6s attach: podvmd %6.2f ms, bare %6.2f ms; detach: podvmd %7.2f ms, "
               "bare %7.2f ms (guest released after %.2f ms)\n",
               warm_up ? "warm-up" : "", bus_names[bus], ms[SIDE_PODVMD][OP_ATTACH],
               ms[SIDE_BARE][OP_ATTACH], ms[SIDE_PODVMD][OP_DETACH], ms[SIDE_BARE][OP_DETACH],
               guest_ms);
    for (guint op = 0; b->verbose && op < N_OPS; op++) {
        if (have_phases[op])
            g_printerr("          podvmd %s: in %.2f, work %.2f, store %.2f, out %.2f ms\n",
                       op_names[op], phases[op][PHASE_IN], phases[op][PHASE_WORK],
                       phases[op][PHASE_STORE], phases[op][PHASE_OUT]);
    }
    if (warm_up)
        return TRUE;
    for (guint side = 0; side < N_SIDES; side++)
        for (guint op = 0; op < N_OPS; op++)
            bench_record(b->figures.samples[bus][side][op], ms[side][op]);
    for (guint op = 0; op < N_OPS; op++) {
        for (guint phase = 0; have_phases[op] && phase < N_PHASES; phase++)
            bench_record(b->figures.phases[bus][op][phase], phases[op][phase]);
    }
    bench_record(b->figures.guest_release[bus], guest_ms);
    return TRUE;
}

static gboolean
run_bus(Bench *b, Bus bus, GError **error)
{
    RawDisk raw = { 0 };
    gboolean ok = raw_disk_init(&raw, bus, b->bare_image, error);

    if (ok && bus == BUS_SCSI) {
        /*
         * podvmd plugs its controller into the first free spare root port on
         * the first scsi attach (the warm-up round); the bare QEMU gets the
         * same one now, untimed.
         */
        g_autofree char *port = podvm_qemu_spare_root_port_id(0);
        g_autoptr(JsonNode) controller = podvm_qemu_scsi_controller(port);

        ok = bare_qmp(b->bare, "device_add", controller, error);
        if (ok)
            run_main_loop_for(SETTLE_MS);
    }
    if (ok)
        g_printerr("%s disk: 1 warm-up round, then %u rounds\n", bus_names[bus], b->runs);
    for (guint i = 0; ok && i <= b->runs; i++)
        ok = run_round(b, bus, &raw, i, i == 0, error);
    raw_disk_clear(&raw);
    return ok;
}

static gboolean
measure_dbus_round_trip(Bench *b, GError **error)
{
    for (guint i = 0; i < 20; i++) {
        g_autofree char *path = NULL;
        gint64 start = g_get_monotonic_time();

        if (!podvm_dbus_manager_call_get_pod_sync(b->daemon->manager, POD_NAME, &path, NULL,
                                                  error)) {
            g_dbus_error_strip_remote_error(*error);
            g_prefix_error(error, "podvmd: GetPod: ");
            return FALSE;
        }
        bench_record(b->figures.dbus_round_trip, bench_us_to_ms(g_get_monotonic_time() - start));
    }
    return TRUE;
}

/*
 * podvmd's QEMU and the bare QEMU (same pod name) should differ only in
 * -uuid and the two socket chardevs (fd= against path=, log paths).
 */
static void
compare_argv(Bench *b)
{
    bench_compare_argv(b->daemon, POD_NAME, b->bare->qemu.argv, b->verbose,
                       "3: -uuid and the two socket chardevs");
}

static gboolean
pod_call(Bench *b, const char *method, GVariant *parameters, GError **error)
{
    g_autoptr(GVariant) reply =
        g_dbus_proxy_call_sync(G_DBUS_PROXY(b->pod), method, parameters, G_DBUS_CALL_FLAGS_NONE,
                               CALL_TIMEOUT_MS, NULL, error);

    if (reply == NULL) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: %s: ", method);
    }
    return reply != NULL;
}

/* Creates and starts the pod, starts the bare QEMU, and waits for both guests. */
static gboolean
start_guests(Bench *b, GError **error)
{
    g_autofree char *spec = podvm_test_guest_spec(POD_NAME, NULL, NULL, GRACE_SECONDS);
    g_autofree char *path = NULL;

    if (!podvm_dbus_manager_call_create_pod_sync(b->daemon->manager, spec, &path, NULL, error)) {
        g_dbus_error_strip_remote_error(*error);
        g_prefix_error(error, "podvmd: CreatePod: ");
        return FALSE;
    }
    b->pod = podvm_test_daemon_pod(b->daemon, POD_NAME);
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(b->pod), CALL_TIMEOUT_MS);
    g_signal_connect(b->pod, "event", G_CALLBACK(pod_event_cb), b);
    b->pod_console_log = podvm_test_daemon_console_log(b->daemon, POD_NAME);
    if (!pod_call(b, "Start", g_variant_new("(@a{sv})", g_variant_new("a{sv}", NULL)), error))
        return FALSE;
    b->bare = bare_vm_start(b->work_dir, error);
    if (b->bare == NULL)
        return FALSE;
    if (!bench_wait_until(file_has_marker, b->pod_console_log, POLL_MS, BOOT_TIMEOUT_MS) ||
        !bench_check_interrupted(error)) {
        if (error != NULL && *error == NULL)
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "podvmd: pod '%s': no %s within %u s (see '%s')", POD_NAME, MARKER,
                        BOOT_TIMEOUT_MS / 1000, b->pod_console_log);
        return FALSE;
    }
    if (!bench_wait_until(file_has_marker, b->bare->qemu.console_log, POLL_MS, BOOT_TIMEOUT_MS) ||
        !bench_check_interrupted(error)) {
        if (error != NULL && *error == NULL)
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "bare QEMU: no %s within %u s (see '%s' and '%s')", MARKER,
                        BOOT_TIMEOUT_MS / 1000, b->bare->qemu.console_log, b->bare->qemu.qemu_log);
        return FALSE;
    }
    compare_argv(b);
    return TRUE;
}

static gboolean
bench_run(Bench *b, GError **error)
{
    b->pod_image = make_image(b->work_dir, "podvmd-b.img", error);
    if (b->pod_image == NULL)
        return FALSE;
    b->bare_image = make_image(b->work_dir, "bare-b.img", error);
    if (b->bare_image == NULL)
        return FALSE;
    if (!start_guests(b, error))
        return FALSE;
    /* Both guests are idle now; a moment more lets their boot-time work finish. */
    run_main_loop_for(1000);
    if (!measure_dbus_round_trip(b, error))
        return FALSE;
    for (guint bus = 0; bus < N_BUSES; bus++) {
        if (b->runs > 0 && !run_bus(b, bus, error))
            return FALSE;
    }
    return pod_call(b, "Kill", NULL, error) &&
           pod_call(b, "Delete", g_variant_new("(b)", FALSE), error);
}

/* ---- output --------------------------------------------------------------- */

/* Fills the medians and the difference; returns whether the target holds. */
static gboolean
target_eval(Bench *b, Bus bus, Op op, double *out_podvmd, double *out_bare, double *out_diff,
            gboolean *out_measured)
{
    double pod = 0, bare = 0, lo, hi;

    *out_measured = bench_samples_stats(b->figures.samples[bus][SIDE_PODVMD][op], &pod, &lo, &hi) &&
                    bench_samples_stats(b->figures.samples[bus][SIDE_BARE][op], &bare, &lo, &hi);
    *out_podvmd = pod;
    *out_bare = bare;
    *out_diff = pod - bare;
    return *out_measured && *out_diff <= op_limit_ms[op];
}

static void
print_row(const char *label, GArray *samples)
{
    double median, lo, hi;

    if (!bench_samples_stats(samples, &median, &lo, &hi)) {
        g_print("%-44s %10s\n", label, "-");
        return;
    }
    g_print("%-44s %7.2f ms %7.2f ms %7.2f ms %4u\n", label, median, lo, hi, samples->len);
}

static void
print_results(Bench *b)
{
    bench_print_header("podvm disk hotplug benchmark",
                       b->bare != NULL ? b->bare->qemu_version : NULL);
    g_print("raw %u MiB hostDisk, %u rounds per bus after a warm-up; podvmd through D-Bus, bare "
            "through raw QMP\n\n",
            IMAGE_SIZE / (1024 * 1024), b->runs);

    g_print("%-44s %10s %10s %10s %4s\n", "figure", "median", "min", "max", "n");
    for (guint bus = 0; bus < N_BUSES; bus++) {
        for (guint op = 0; op < N_OPS; op++) {
            for (guint side = 0; side < N_SIDES; side++) {
                g_autofree char *label = g_strdup_printf(
                    "%s: %s %s", side == SIDE_PODVMD ? "podvmd" : "bare", bus_names[bus],
                    side == SIDE_PODVMD ? (op == OP_ATTACH ? "AttachDisk" : "DetachDisk")
                    : op == OP_ATTACH   ? "blockdev-add x2 + device_add"
                                        : "device_del .. blockdev-del x2");
                print_row(label, b->figures.samples[bus][side][op]);
            }
        }
        {
            g_autofree char *label =
                g_strdup_printf("bare: %s device_del -> DEVICE_DELETED", bus_names[bus]);
            print_row(label, b->figures.guest_release[bus]);
        }
    }
    print_row("podvmd: GetPod round trip (D-Bus only)", b->figures.dbus_round_trip);

    g_print("\nwhere podvmd's time goes (medians, ms; from the pod's events):\n"
            "%-24s %8s %8s %8s %8s   %s\n",
            "", "in", "work", "store", "out", "bare total");
    for (guint bus = 0; bus < N_BUSES; bus++) {
        for (guint op = 0; op < N_OPS; op++) {
            g_autofree char *label = g_strdup_printf("%s %s", bus_names[bus], op_names[op]);
            double values[N_PHASES], bare = 0, lo, hi;
            gboolean measured = TRUE;

            for (guint phase = 0; phase < N_PHASES; phase++)
                measured = measured && bench_samples_stats(b->figures.phases[bus][op][phase],
                                                           &values[phase], &lo, &hi);
            if (!measured) {
                g_print("%-24s %8s\n", label, "-");
                continue;
            }
            bench_samples_stats(b->figures.samples[bus][SIDE_BARE][op], &bare, &lo, &hi);
            g_print("%-24s %8.2f %8.2f %8.2f %8.2f   %.2f\n", label, values[PHASE_IN],
                    values[PHASE_WORK], values[PHASE_STORE], values[PHASE_OUT], bare);
        }
    }
    g_print("in: D-Bus and checks until the operation begins; work: prepare and QMP (and the "
            "guest's release); store: the durable spec write and signals; out: the reply\n");

    g_print("\n%-24s %11s %11s %11s %12s  %s\n", "target (medians)", "podvmd", "bare", "diff",
            "limit", "result");
    for (guint bus = 0; bus < N_BUSES; bus++) {
        for (guint op = 0; op < N_OPS; op++) {
            g_autofree char *label = g_strdup_printf("%s %s", bus_names[bus], op_names[op]);
            g_autofree char *limit = g_strdup_printf("<= %+.2f ms", op_limit_ms[op]);
            double pod, bare, diff;
            gboolean measured;
            gboolean pass = target_eval(b, bus, op, &pod, &bare, &diff, &measured);

            if (!measured) {
                g_print("%-24s %11s %11s %11s %12s  %s\n", label, "-", "-", "-", limit,
                        "not measured");
                continue;
            }
            g_print("%-24s %8.2f ms %8.2f ms %+8.2f ms %12s  %s\n", label, pod, bare, diff, limit,
                    bench_verdict(pass));
        }
    }
    g_print("\nfor reference (figures from the issue, not measured here): raw attach 4.6 ms, "
            "libvirt 16.5 ms; raw detach 55 ms\n");
}

static void
write_json(Bench *b, const char *path)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    bench_json_begin(builder, b->bare != NULL ? b->bare->qemu_version : NULL);
    json_builder_set_member_name(builder, "figures");
    json_builder_begin_object(builder);
    for (guint bus = 0; bus < N_BUSES; bus++) {
        for (guint side = 0; side < N_SIDES; side++) {
            for (guint op = 0; op < N_OPS; op++) {
                g_autofree char *key =
                    g_strdup_printf("%s_%s_%s", side == SIDE_PODVMD ? "podvmd" : "bare",
                                    bus_names[bus], op_names[op]);
                bench_json_add_samples(builder, key, "ms", b->figures.samples[bus][side][op], TRUE);
            }
        }
        for (guint op = 0; op < N_OPS; op++) {
            for (guint phase = 0; phase < N_PHASES; phase++) {
                g_autofree char *key = g_strdup_printf("podvmd_%s_%s_phase_%s", bus_names[bus],
                                                       op_names[op], phase_names[phase]);
                bench_json_add_samples(builder, key, "ms", b->figures.phases[bus][op][phase], TRUE);
            }
        }
        {
            g_autofree char *key = g_strdup_printf("bare_%s_guest_release", bus_names[bus]);
            bench_json_add_samples(builder, key, "ms", b->figures.guest_release[bus], TRUE);
        }
    }
    bench_json_add_samples(builder, "podvmd_dbus_round_trip", "ms", b->figures.dbus_round_trip,
                           TRUE);
    json_builder_end_object(builder);
    json_builder_set_member_name(builder, "targets");
    json_builder_begin_array(builder);
    for (guint bus = 0; bus < N_BUSES; bus++) {
        for (guint op = 0; op < N_OPS; op++) {
            g_autofree char *label = g_strdup_printf("%s %s", bus_names[bus], op_names[op]);
            double pod, bare, diff;
            gboolean measured;
            gboolean pass = target_eval(b, bus, op, &pod, &bare, &diff, &measured);

            json_builder_begin_object(builder);
            json_builder_set_member_name(builder, "target");
            json_builder_add_string_value(builder, label);
            json_builder_set_member_name(builder, "kind");
            json_builder_add_string_value(builder, "plus_ms");
            json_builder_set_member_name(builder, "limit");
            json_builder_add_double_value(builder, op_limit_ms[op]);
            if (measured) {
                json_builder_set_member_name(builder, "value");
                json_builder_add_double_value(builder, diff);
            }
            json_builder_set_member_name(builder, "result");
            json_builder_add_string_value(builder, measured ? bench_verdict(pass) : "not measured");
            json_builder_end_object(builder);
        }
    }
    json_builder_end_array(builder);
    bench_json_write(builder, path);
}

/* ---- main ----------------------------------------------------------------- */

/* With PODVM_BENCH_VERBOSE=1: podvmd's log outlives its temporary directory. */
static void
keep_podvmd_log(Bench *b, const char *cwd)
{
    g_autofree char *kept = g_build_filename(cwd, "bench-disk-podvmd.log", NULL);
    g_autofree char *contents = NULL;
    gsize length = 0;
    g_autoptr(GError) error = NULL;

    if (!g_file_get_contents(b->daemon->log_path, &contents, &length, &error) ||
        !g_file_set_contents(kept, contents, (gssize)length, &error)) {
        g_printerr("bench-disk: cannot keep podvmd's log: %s\n", error->message);
        return;
    }
    g_printerr("podvmd's log: %s\n", kept);
}

int
main(int argc, char **argv)
{
    Bench bench = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *json_path = NULL;
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *conf = NULL;
    gboolean quick = bench_quick();
    int status = 0;

    if (!bench_init("bench-disk"))
        return 77;
    bench.verbose = bench_verbose();
    bench.runs = bench_env_uint("PODVM_BENCH_RUNS", quick ? 3 : 10);
    for (guint bus = 0; bus < N_BUSES; bus++) {
        for (guint side = 0; side < N_SIDES; side++)
            for (guint op = 0; op < N_OPS; op++)
                bench.figures.samples[bus][side][op] = g_array_new(FALSE, FALSE, sizeof(double));
        for (guint op = 0; op < N_OPS; op++)
            for (guint phase = 0; phase < N_PHASES; phase++)
                bench.figures.phases[bus][op][phase] = g_array_new(FALSE, FALSE, sizeof(double));
        bench.figures.guest_release[bus] = g_array_new(FALSE, FALSE, sizeof(double));
    }
    bench.events = g_ptr_array_new_with_free_func((GDestroyNotify)pod_event_free);
    bench.figures.dbus_round_trip = g_array_new(FALSE, FALSE, sizeof(double));
    if (g_getenv("PODVM_BENCH_DISK_JSON") != NULL)
        json_path = g_strdup(g_getenv("PODVM_BENCH_DISK_JSON"));
    else
        json_path = g_build_filename(cwd, "bench-disk.json", NULL);

    bench_catch_interrupts();

    bench.work_dir = podvm_test_mkdtemp();
    conf = g_strdup_printf("[storage]\nallowed_host_paths=%s\n", bench.work_dir);
    bench.daemon = podvm_test_daemon_new_with_config(conf);
    if (bench.daemon == NULL) {
        g_print("SKIP: podvmd cannot run here\n");
        podvm_test_rmrf(bench.work_dir);
        return 77;
    }
    bench_set_daemon_pid(atoi(g_subprocess_get_identifier(bench.daemon->process)));
    /* After podvm_test_daemon_new(): ours runs first, then its handler. */
    bench_install_crash_handlers();

    if (!bench_run(&bench, &error)) {
        bench_print_failure(bench.daemon, error);
        status = 1;
    }
    if (bench.verbose)
        keep_podvmd_log(&bench, cwd);
    /* Said above when it mattered; podvm_test_daemon_free() would print it all. */
    (void)g_unlink(bench.daemon->log_path);
    print_results(&bench);
    if (status == 0)
        write_json(&bench, json_path);

    g_clear_pointer(&bench.bare, bare_vm_free);
    if (bench.pod != NULL)
        g_signal_handlers_disconnect_by_data(bench.pod, &bench);
    g_clear_object(&bench.pod);
    podvm_test_rmrf(bench.work_dir);
    /* Stops podvmd and kills the QEMU its pod left, if any. */
    bench_set_daemon_pid(0);
    podvm_test_daemon_free(bench.daemon);
    for (guint bus = 0; bus < N_BUSES; bus++) {
        for (guint side = 0; side < N_SIDES; side++)
            for (guint op = 0; op < N_OPS; op++)
                g_array_unref(bench.figures.samples[bus][side][op]);
        for (guint op = 0; op < N_OPS; op++)
            for (guint phase = 0; phase < N_PHASES; phase++)
                g_array_unref(bench.figures.phases[bus][op][phase]);
        g_array_unref(bench.figures.guest_release[bus]);
    }
    g_array_unref(bench.figures.dbus_round_trip);
    g_ptr_array_unref(bench.events);
    g_free(bench.work_dir);
    g_free(bench.pod_image);
    g_free(bench.bare_image);
    g_free(bench.pod_console_log);
    return status;
}
