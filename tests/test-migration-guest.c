/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live-migration witnesses of the test guest (tests/guest/init), on one
 * podvmd with real QEMU (TCG): podvm.counter=DEV writes a growing counter
 * to a disk every 100 ms and prints "PODVM-HEARTBEAT BOOTID N" every
 * second; podvm.dirty=MIB keeps rewriting memory. The migration tests rely
 * on both: a migrated guest keeps its boot id and its counter runs on, a
 * rebooted one (here: stop and start) gets a new boot id and goes on from
 * the value on its disk.
 */
#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS 90000
#define GUEST_TIMEOUT_MS 30000
#define MIB (1024 * 1024)

typedef struct {
    PodvmTestDaemon *daemon;
    char *images;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new_for_storage(&f->images);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    if (f->images != NULL)
        podvm_test_rmrf(f->images);
    g_free(f->images);
}

/* One "PODVM-HEARTBEAT BOOTID N" or "PODVM-COUNTER-FROM BOOTID N" line. */
typedef struct {
    char *boot_id;
    guint64 n;
} Beat;

static void
beat_clear(gpointer data)
{
    g_free(((Beat *)data)->boot_id);
}

/* Every @prefix BOOTID N line of the console log, in order. */
static GArray *
read_beats(Fixture *f, const char *pod, const char *prefix)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, pod);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GArray *beats = g_array_new(FALSE, TRUE, sizeof(Beat));
    gsize prefix_len = strlen(prefix);

    g_array_set_clear_func(beats, beat_clear);
    if (!g_file_get_contents(log, &text, NULL, NULL))
        return beats;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) words = NULL;
        char *end = NULL;
        Beat beat;

        /* The last line may be incomplete. */
        if (lines[i + 1] == NULL || !g_str_has_prefix(lines[i], prefix))
            continue;
        words = g_strsplit(g_strstrip(lines[i] + prefix_len), " ", -1);
        if (g_strv_length(words) != 2 || strlen(words[0]) != 36)
            continue;
        beat.n = g_ascii_strtoull(words[1], &end, 10);
        if (end == words[1] || *end != '\0')
            continue;
        beat.boot_id = g_strdup(words[0]);
        g_array_append_val(beats, beat);
    }
    return beats;
}

/* Heartbeats of boot @boot_id. */
static guint
count_beats_of(GArray *beats, const char *boot_id)
{
    guint count = 0;

    for (guint i = 0; i < beats->len; i++)
        count += g_strcmp0(g_array_index(beats, Beat, i).boot_id, boot_id) == 0;
    return count;
}

/* Waits for the @nth (1, 2, ...) "PODVM-COUNTER-FROM" line and returns it. */
static Beat
wait_counter_from(Fixture *f, const char *pod, guint nth)
{
    gint64 deadline = g_get_monotonic_time() + BOOT_TIMEOUT_MS * 1000LL;

    for (;;) {
        g_autoptr(GArray) from = read_beats(f, pod, "PODVM-COUNTER-FROM ");

        if (from->len >= nth) {
            Beat beat = g_array_index(from, Beat, nth - 1);

            beat.boot_id = g_strdup(beat.boot_id);
            return beat;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100000);
    }
}

/*
 * Waits until boot @boot_id printed @count heartbeats; asserts their values
 * grow by at least one each and are all above @above. Returns the last.
 */
static guint64
wait_heartbeats(Fixture *f, const char *pod, const char *boot_id, guint count, guint64 above)
{
    gint64 deadline = g_get_monotonic_time() + GUEST_TIMEOUT_MS * 1000LL;
    g_autoptr(GArray) beats = NULL;
    guint64 last = above;

    for (;;) {
        g_clear_pointer(&beats, g_array_unref);
        beats = read_beats(f, pod, "PODVM-HEARTBEAT ");
        if (count_beats_of(beats, boot_id) >= count)
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(200000);
    }
    for (guint i = 0; i < beats->len; i++) {
        const Beat *beat = &g_array_index(beats, Beat, i);

        if (g_strcmp0(beat->boot_id, boot_id) != 0)
            continue;
        g_assert_cmpuint(beat->n, >, last);
        last = beat->n;
    }
    return last;
}

/* "podvm-counter" typed on the console: the value on the disk now. */
static guint64
guest_counter(Fixture *f, const char *pod)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, pod);
    guint before = podvm_test_count_in_file(log, "PODVM-COUNTER ");
    gint64 deadline = g_get_monotonic_time() + GUEST_TIMEOUT_MS * 1000LL;
    g_autofree char *text = NULL;
    const char *answer;

    podvm_test_console_type(f->daemon, pod, "podvm-counter");
    while (podvm_test_count_in_file(log, "PODVM-COUNTER ") <= before) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50000);
    }
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    answer = g_strrstr(text, "PODVM-COUNTER ") + strlen("PODVM-COUNTER ");
    return g_ascii_strtoull(answer, NULL, 10);
}

/* Waits for @needle in the console log; on a timeout prints the log's end first. */
static void
assert_in_log(Fixture *f, const char *pod, const char *needle)
{
    g_autofree char *log = podvm_test_daemon_console_log(f->daemon, pod);
    g_autofree char *text = NULL;

    if (podvm_test_wait_for_file_content(log, needle, GUEST_TIMEOUT_MS))
        return;
    if (g_file_get_contents(log, &text, NULL, NULL))
        g_test_message("console log (end):\n%s", text + MAX(strlen(text), 4000) - 4000);
    g_error("'%s' not on the console of pod '%s'", needle, pod);
}

static void
boot_pod(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
}

static void
stop_pod(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_stop_sync(pod, 0, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, name, "Stopped", GUEST_TIMEOUT_MS));
}

/*
 * podvm.counter=/dev/vdb on an emptyDisk (the second disk): heartbeats with
 * the boot id and growing values; the value on the disk is at least the
 * last heartbeat's; after a stop and a start the boot id is new and the
 * counter goes on from what the disk held. podvm.dirty=8 runs meanwhile
 * (PODVM-DIRTY 8) and does not starve the counter.
 */
static void
test_counter(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *log = NULL, *dev = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    Beat first, second;
    guint64 last, on_disk, last_before_stop;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_guest_spec_with(
        "counter", "podvm.net=0 podvm.counter=/dev/vdb podvm.dirty=8", "disks",
        "[{\"name\": \"other\"}, {\"name\": \"data\"}]", "volumes",
        "[{\"name\": \"other\", \"emptyDisk\": {\"capacity\": \"2Mi\"}},"
        " {\"name\": \"data\", \"emptyDisk\": {\"capacity\": \"8Mi\"}}]");
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    log = podvm_test_daemon_console_log(f->daemon, "counter");

    boot_pod(f, "counter");
    first = wait_counter_from(f, "counter", 1);
    /* A fresh disk: the counter starts at 1. */
    g_assert_cmpuint(first.n, ==, 0);
    dev = podvm_test_guest_disk_of_size(f->daemon, "counter", 8 * MIB, NULL);
    g_assert_cmpstr(dev, ==, "vdb");
    assert_in_log(f, "counter", "PODVM-DIRTY 8");
    last = wait_heartbeats(f, "counter", first.boot_id, 4, 0);
    /* About ten writes a second: four heartbeats are more than four writes. */
    g_assert_cmpuint(last, >, 4);
    on_disk = guest_counter(f, "counter");
    g_assert_cmpuint(on_disk, >=, last);

    stop_pod(f, "counter");
    {
        g_autoptr(GArray) beats = read_beats(f, "counter", "PODVM-HEARTBEAT ");
        last_before_stop = g_array_index(beats, Beat, beats->len - 1).n;
    }

    boot_pod(f, "counter");
    second = wait_counter_from(f, "counter", 2);
    g_assert_cmpstr(second.boot_id, !=, first.boot_id);
    /* What the disk held: at least what the first boot last reported and read. */
    g_assert_cmpuint(second.n, >=, last_before_stop);
    g_assert_cmpuint(second.n, >=, on_disk);
    g_test_message("first boot ended at %" G_GUINT64_FORMAT
                   " or later (the disk: %" G_GUINT64_FORMAT
                   "); the second goes on from %" G_GUINT64_FORMAT,
                   last_before_stop, on_disk, second.n);
    last = wait_heartbeats(f, "counter", second.boot_id, 3, second.n);
    g_assert_cmpuint(guest_counter(f, "counter"), >=, last);
    /* Two boots, one start of the counter each. */
    g_assert_cmpuint(podvm_test_count_in_file(log, "PODVM-COUNTER-FROM "), ==, 2);

    stop_pod(f, "counter");
    g_free(first.boot_id);
    g_free(second.boot_id);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/migration/guest/counter", Fixture, NULL, fixture_setup, test_counter,
               fixture_teardown);
    return g_test_run();
}
