/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Crash consistency of a pod's network, in a network and mount namespace of
 * the test's own (podvm_test_netns_enter): podvmd is killed at a named step
 * of a start or a release (PODVM_TEST_CRASH_AT, src/common/podvm-fault.h),
 * or with SIGKILL again and again under a running pod, and the test checks
 * what a restarted podvmd makes of it: the phase is honest, the pod starts
 * again and its guest gets its address, a running pod keeps its namespace,
 * address and rules, and once the pod is gone nothing of its network is
 * left (namespace, host-local lease, veth, NAT rules). A start that fails
 * after CNI ADD leaves nothing either.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS PODVM_TEST_NET_BOOT_TIMEOUT_MS
#define NET_TIMEOUT_MS PODVM_TEST_NET_TIMEOUT_MS
#define PHASE_TIMEOUT_MS 30000
#define KILLED_TIMEOUT_MS 30000
#define RELEASE_TIMEOUT_MS 15000
#define GUEST_UP "PODVM-NET eth0 up 10.0.2.2/24"

typedef PodvmTestNet Fixture;

/* ---- helpers ------------------------------------------------------------------------------ */

/* Creates the masquerade pod of these tests. */
static void
create_masquerade_pod(Fixture *f, const char *name)
{
    g_autofree char *spec = podvm_test_net_spec(name, NULL, PODVM_TEST_NET_MASQUERADE_IFACES,
                                                PODVM_TEST_NET_POD_NETWORK);

    podvm_test_net_create_pod(f, spec);
}

static gboolean
pod_exists(Fixture *f, const char *name)
{
    g_autofree char *path = NULL;

    return podvm_dbus_manager_call_get_pod_sync(f->daemon->manager, name, &path, NULL, NULL);
}

/* podvmd again (SIGTERM: the pods run on), with PODVM_TEST_CRASH_AT=@point. */
static void
restart_crashing_at(Fixture *f, const char *point)
{
    podvm_test_daemon_stop(f->daemon);
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", point);
    podvm_test_daemon_start(f->daemon);
}

/* podvmd killed itself at the crash point: start it again without the hook. */
static void
restart_after_crash(Fixture *f)
{
    g_assert_true(podvm_test_daemon_wait_killed(f->daemon, KILLED_TIMEOUT_MS));
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", NULL);
    podvm_test_daemon_start(f->daemon);
}

/* Lines of /proc/self/mountinfo naming @path (a pod's namespace is a bind mount there). */
static guint
mounts_of(const char *path)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    guint count = 0;

    g_assert_true(g_file_get_contents("/proc/self/mountinfo", &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) fields = g_strsplit(lines[i], " ", 6);

        if (g_strv_length(fields) >= 5 && g_str_equal(fields[4], path))
            count++;
    }
    return count;
}

/*
 * Per-pod NAT rules in the test namespace's ruleset (the bridge plugin's
 * ipMasq: "ip saddr POD-IP jump CNI-<hash>"; portmap's "CNI-DN-<hash>"):
 * the first such line, or NULL. The tests run one pod at a time.
 */
static char *
pod_rule_in(const char *rules)
{
    g_auto(GStrv) lines = g_strsplit(rules, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];
        const char *cni = strstr(line, "CNI-");

        if (strstr(line, "saddr 10.66.") != NULL || strstr(line, "saddr 10.77.") != NULL ||
            strstr(line, "CNI-DN-") != NULL ||
            (cni != NULL && strspn(cni + 4, "0123456789abcdef") >= 16))
            return g_strdup(g_strstrip(lines[i]));
    }
    return NULL;
}

/*
 * What of the pod's network is still there, as a sentence, or NULL when
 * nothing is: its namespace (file or mount), a host-local lease, a veth on
 * podvm0, a pod's NAT rule in the test namespace, its address anywhere in
 * the ruleset.
 */
static char *
network_leftovers(Fixture *f, const char *name, const char *pod_ip)
{
    g_autofree char *netns = podvm_test_net_pod_netns(f, name);
    g_autofree char *rules = podvm_test_net_host_ruleset();
    g_autofree char *rule = pod_rule_in(rules);
    g_autoptr(GString) left = g_string_new(NULL);
    guint leases = podvm_test_net_ipam_leases(f, "pods");
    guint ports = podvm_test_net_bridge_ports("podvm0");

    if (g_file_test(netns, G_FILE_TEST_EXISTS))
        g_string_append_printf(left, "the namespace file %s; ", netns);
    if (mounts_of(netns) > 0)
        g_string_append_printf(left, "%u mount(s) of %s; ", mounts_of(netns), netns);
    if (leases > 0)
        g_string_append_printf(left, "%u lease(s); ", leases);
    if (ports > 0)
        g_string_append_printf(left, "%u veth(s) on podvm0; ", ports);
    if (rule != NULL)
        g_string_append_printf(left, "the rule \"%s\"; ", rule);
    if (pod_ip != NULL) {
        g_autofree char *ip_word = g_strdup_printf("%s ", pod_ip);

        if (strstr(rules, ip_word) != NULL)
            g_string_append_printf(left, "rules naming %s; ", pod_ip);
    }
    if (left->len == 0)
        return NULL;
    return g_string_free(g_steal_pointer(&left), FALSE);
}

/* Waits (the release runs in the background) until nothing of the pod's network is left. */
static void
assert_network_gone(Fixture *f, const char *name, const char *pod_ip)
{
    gint64 deadline = g_get_monotonic_time() + RELEASE_TIMEOUT_MS * 1000LL;
    g_autofree char *left = NULL;

    while ((left = network_leftovers(f, name, pod_ip)) != NULL) {
        if (g_get_monotonic_time() > deadline) {
            g_autofree char *rules = podvm_test_net_host_ruleset();

            g_error("pod '%s': left after %u ms: %s\nruleset:\n%s", name, RELEASE_TIMEOUT_MS, left,
                    rules);
        }
        g_clear_pointer(&left, g_free);
        g_usleep(100 * 1000);
    }
}

/* The pod runs with its network: one lease, one veth, its namespace, status.podIP. */
static char *
assert_network_up(Fixture *f, const char *name)
{
    g_autofree char *netns = podvm_test_net_pod_netns(f, name);
    g_autofree char *pod_ip = podvm_test_net_status_string(f, name, "podIP");

    g_assert_nonnull(pod_ip);
    g_assert_true(g_str_has_prefix(pod_ip, "10.66."));
    g_assert_cmpuint(mounts_of(netns), ==, 1);
    g_assert_cmpuint(podvm_test_net_ipam_leases(f, "pods"), ==, 1);
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm0"), ==, 1);
    return g_steal_pointer(&pod_ip);
}

/* Starts the pod, waits for its guest's address (the @seen + 1st time), checks its network. */
static char *
start_and_wait_address(Fixture *f, const char *name)
{
    guint seen = podvm_test_net_console_count(f, name, GUEST_UP);

    podvm_test_net_start_pod(f, name);
    podvm_test_net_wait_console_again(f, name, GUEST_UP, seen, BOOT_TIMEOUT_MS);
    return assert_network_up(f, name);
}

/* Deletes the pod: it is gone, and so is everything of its network. */
static void
delete_and_assert_nothing_left(Fixture *f, const char *name, const char *pod_ip)
{
    podvm_test_net_delete_pod(f, name);
    g_assert_false(pod_exists(f, name));
    assert_network_gone(f, name, pod_ip);
}

static void
assert_phase_reason(Fixture *f, const char *name, const char *phase, const char *reason)
{
    g_autofree char *got = NULL;

    if (!podvm_test_daemon_wait_phase(f->daemon, name, phase, PHASE_TIMEOUT_MS)) {
        g_autofree char *now = podvm_test_daemon_phase(f->daemon, name);
        g_autofree char *message = podvm_test_net_status_string(f, name, "message");

        g_error("pod '%s': phase %s, not %s (%s)", name, now, phase, message);
    }
    if (reason == NULL)
        return;
    got = podvm_test_net_status_string(f, name, "reason");
    g_assert_cmpstr(got, ==, reason);
}

/* ---- podvmd killed during a start ------------------------------------------------------------
 */

/*
 * podvmd dies at @point of a start (before CNI ADD ran, after it, before
 * QEMU is spawned, after): the restarted podvmd says the start was
 * interrupted, and has released whatever of the network the start had set
 * up; the pod starts again and its guest gets its address; a delete leaves
 * nothing.
 */
static void
test_start_crash(Fixture *f, gconstpointer data)
{
    const char *point = data;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *message = NULL, *pod_ip = NULL;

    if (f->daemon == NULL)
        return;
    create_masquerade_pod(f, "crash");
    restart_crashing_at(f, point);
    pod = podvm_test_daemon_pod(f->daemon, "crash");
    g_assert_false(podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error));
    g_assert_nonnull(error);
    restart_after_crash(f);

    /* No QEMU was running yet (or only paused, before "cont"): not adopted. */
    assert_phase_reason(f, "crash", "Failed", "StartInterrupted");
    message = podvm_test_net_status_string(f, "crash", "message");
    g_test_message("%s: status: %s", point, message);
    g_assert_nonnull(strstr(message, "interrupted by a podvmd restart"));
    assert_network_gone(f, "crash", NULL);

    pod_ip = start_and_wait_address(f, "crash");
    delete_and_assert_nothing_left(f, "crash", pod_ip);
}

/*
 * The same with the bridge binding, killed once the binding took the pod
 * interface's addresses (start:before-spawn): the restart's release gives
 * them back before CNI DEL, so the bridge plugin removes its NAT rules too;
 * the guest then gets the pod's address.
 */
static void
test_start_crash_bridge(Fixture *f, gconstpointer data)
{
    const char *point = data;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = NULL, *pod_ip = NULL, *marker = NULL;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_net_spec("brcrash", NULL, "[{\"name\": \"default\", \"bridge\": {}}]",
                               PODVM_TEST_NET_POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    restart_crashing_at(f, point);
    pod = podvm_test_daemon_pod(f->daemon, "brcrash");
    g_assert_false(podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error));
    g_assert_nonnull(error);
    restart_after_crash(f);
    assert_phase_reason(f, "brcrash", "Failed", "StartInterrupted");
    assert_network_gone(f, "brcrash", NULL);

    podvm_test_net_start_pod(f, "brcrash");
    pod_ip = assert_network_up(f, "brcrash");
    {
        /* The bridge plugin's NAT rules of the pod: what assert_network_gone() looks for. */
        g_autofree char *rules = podvm_test_net_host_ruleset();

        g_autofree char *rule = pod_rule_in(rules);

        g_assert_nonnull(rule);
    }
    marker = g_strdup_printf("PODVM-NET eth0 up %s/16 gw 10.66.0.1", pod_ip);
    podvm_test_net_wait_console(f, "brcrash", marker, BOOT_TIMEOUT_MS);
    delete_and_assert_nothing_left(f, "brcrash", pod_ip);
}

/* ---- podvmd killed during a release ----------------------------------------------------------
 */

/*
 * podvmd dies after a release did CNI DEL and removed the namespace, but
 * before the attachments left the record: once for a stop, once for a
 * delete. A restart finishes the job (DEL again is no error), the stopped
 * pod starts again with its address, the deleted one is gone with nothing
 * left.
 */
static void
test_release_crash(Fixture *f, gconstpointer data)
{
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *pod_ip = NULL, *again = NULL;

    if (f->daemon == NULL)
        return;
    create_masquerade_pod(f, "rel");
    pod_ip = start_and_wait_address(f, "rel");

    /* A stop: QEMU ends, the network is released, podvmd dies before it forgets it. */
    restart_crashing_at(f, "net:after-release");
    assert_phase_reason(f, "rel", "Running", NULL);
    pod = podvm_test_daemon_pod(f->daemon, "rel");
    /* The stop may be answered before the release ends; either way podvmd dies. */
    if (!podvm_dbus_pod_call_stop_sync(pod, -1, NULL, &error))
        g_test_message("stop: %s", error->message);
    g_clear_error(&error);
    g_clear_object(&pod);
    restart_after_crash(f);
    assert_phase_reason(f, "rel", "Stopped", NULL);
    assert_network_gone(f, "rel", pod_ip);
    again = start_and_wait_address(f, "rel");

    /* A delete: the restart finishes it. */
    restart_crashing_at(f, "net:after-release");
    assert_phase_reason(f, "rel", "Running", NULL);
    pod = podvm_test_daemon_pod(f->daemon, "rel");
    g_assert_false(podvm_dbus_pod_call_delete_sync(pod, TRUE, NULL, &error));
    g_assert_nonnull(error);
    restart_after_crash(f);
    {
        gint64 deadline = g_get_monotonic_time() + PHASE_TIMEOUT_MS * 1000LL;

        while (pod_exists(f, "rel")) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(100 * 1000);
        }
    }
    assert_network_gone(f, "rel", again);
}

/* Waits until the pod is gone (a restarted podvmd finishing its delete). */
static void
wait_pod_gone(Fixture *f, const char *name)
{
    gint64 deadline = g_get_monotonic_time() + PHASE_TIMEOUT_MS * 1000LL;

    while (pod_exists(f, name)) {
        if (g_get_monotonic_time() > deadline)
            g_error("pod '%s' is still there %u ms after the restart", name, PHASE_TIMEOUT_MS);
        g_usleep(100 * 1000);
    }
}

/*
 * podvmd dies at @point of a forced delete of a running pod (once the
 * delete is on record; once the network and volumes went, before the
 * files): the restarted podvmd finishes the delete and nothing is left.
 */
static void
test_delete_crash(Fixture *f, gconstpointer data)
{
    const char *point = data;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *pod_ip = NULL;

    if (f->daemon == NULL)
        return;
    create_masquerade_pod(f, "doomed");
    podvm_test_net_start_pod(f, "doomed");
    pod_ip = assert_network_up(f, "doomed");
    restart_crashing_at(f, point);
    assert_phase_reason(f, "doomed", "Running", NULL);
    pod = podvm_test_daemon_pod(f->daemon, "doomed");
    g_assert_false(podvm_dbus_pod_call_delete_sync(pod, TRUE, NULL, &error));
    g_assert_nonnull(error);
    restart_after_crash(f);
    wait_pod_gone(f, "doomed");
    assert_network_gone(f, "doomed", pod_ip);
    g_test_message("%s: pod 'doomed' (%s) deleted by the restarted podvmd", point, pod_ip);
}

/*
 * A pod started and stopped again and again (before its guest is even up,
 * and after) leaves nothing each time, and podvmd's open files do not grow.
 */
static guint
podvmd_fds(Fixture *f, GString *targets)
{
    g_autofree char *dir =
        g_strdup_printf("/proc/%s/fd", g_subprocess_get_identifier(f->daemon->process));
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    guint count = 0;

    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d)) != NULL) {
        if (targets != NULL) {
            g_autofree char *path = g_build_filename(dir, name, NULL);
            g_autofree char *target = g_file_read_link(path, NULL);

            g_string_append_printf(targets, "  %s -> %s\n", name, target ? target : "?");
        }
        count++;
    }
    return count;
}

/*
 * Waits until podvmd has no more than @limit files open. The count was once
 * seen 3 above the baseline right after a stop on a loaded CI machine (never
 * reproduced here, idle or under CPU load): a close that lands a moment after
 * the phase and the network are seen gone. A leak never comes back down; the
 * files still open after 10 s are listed.
 */
static void
assert_fds_at_most(Fixture *f, guint limit)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autoptr(GString) targets = g_string_new(NULL);

    while (podvmd_fds(f, NULL) > limit) {
        if (g_get_monotonic_time() > deadline) {
            guint now = podvmd_fds(f, targets);

            g_error("podvmd has %u files open after the cycles, %u after the first:\n%s", now,
                    limit, targets->str);
        }
        g_usleep(100 * 1000);
    }
}

static void
test_start_stop_cycles(Fixture *f, gconstpointer data)
{
    guint fds_after_first = 0;

    if (f->daemon == NULL)
        return;
    create_masquerade_pod(f, "cycle");
    for (guint i = 0; i < 5; i++) {
        g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, "cycle");
        g_autoptr(GError) error = NULL;
        g_autofree char *pod_ip = NULL;

        if (i % 2 == 1) {
            g_autofree char *ip = start_and_wait_address(f, "cycle");
        } else {
            podvm_test_net_start_pod(f, "cycle");
        }
        pod_ip = assert_network_up(f, "cycle");
        podvm_dbus_pod_call_stop_sync(pod, 0, NULL, &error);
        g_assert_no_error(error);
        assert_phase_reason(f, "cycle", "Stopped", NULL);
        assert_network_gone(f, "cycle", pod_ip);
        if (i == 0) {
            /* Settled first, so the baseline is not itself a moment's peak. */
            g_usleep(500 * 1000);
            fds_after_first = podvmd_fds(f, NULL);
        }
    }
    assert_fds_at_most(f, fds_after_first);
}

/* ---- a start that fails after CNI ADD ------------------------------------------------------- */

/* A spec whose kernel is @kernel (a file in the daemon's directory, one of its kernel_dirs). */
static char *
spec_with_kernel(const char *name, const char *kernel)
{
    g_autofree char *base = podvm_test_net_spec(name, NULL, PODVM_TEST_NET_MASQUERADE_IFACES,
                                                PODVM_TEST_NET_POD_NETWORK);
    g_autoptr(JsonNode) root = json_from_string(base, NULL);
    JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
    JsonObject *domain = json_object_get_object_member(spec, "domain");
    JsonObject *firmware = json_object_get_object_member(domain, "firmware");
    JsonObject *boot = json_object_get_object_member(firmware, "kernelBoot");

    json_object_set_string_member(boot, "kernelPath", kernel);
    return json_to_string(root, FALSE);
}

/* The start fails (after CNI ADD and the bindings); nothing of the network is left. */
static void
start_fails_cleanly(Fixture *f, const char *name, const char *expected)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;
    g_autofree char *phase = NULL;

    g_assert_false(podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error));
    g_assert_nonnull(error);
    g_test_message("start of '%s': %s", name, error->message);
    if (strstr(error->message, expected) == NULL)
        g_error("start of '%s' failed, but not for \"%s\": %s", name, expected, error->message);
    phase = podvm_test_daemon_phase(f->daemon, name);
    g_assert_cmpstr(phase, ==, "Failed");
    assert_network_gone(f, name, NULL);
}

/*
 * Starts that fail once the network is set up: the kernel is gone when
 * podvmd opens it (before QEMU runs), and a kernel QEMU cannot load (QEMU
 * exits at start). Each time the lease, veth and namespace go too.
 */
static void
test_start_fails_after_add(Fixture *f, gconstpointer data)
{
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *vanishing =
        g_build_filename(f->daemon != NULL ? f->daemon->tmpdir : "/", "vanishing-vmlinuz", NULL);
    g_autofree char *garbage =
        g_build_filename(f->daemon != NULL ? f->daemon->tmpdir : "/", "garbage-vmlinuz", NULL);
    g_autofree char *spec = NULL, *contents = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    if (f->daemon == NULL)
        return;
    g_assert_true(g_file_get_contents(kernel, &contents, &length, &error));
    g_assert_no_error(error);

    /* The kernel was there at create, and is gone at start. */
    g_assert_true(g_file_set_contents(vanishing, contents, (gssize)length, &error));
    spec = spec_with_kernel("vanish", vanishing);
    podvm_test_net_create_pod(f, spec);
    g_assert_cmpint(g_unlink(vanishing), ==, 0);
    start_fails_cleanly(f, "vanish", "kernelPath");
    podvm_test_net_delete_pod(f, "vanish");
    assert_network_gone(f, "vanish", NULL);

    /* A kernel QEMU refuses: it exits at start. */
    g_clear_pointer(&spec, g_free);
    g_assert_true(g_file_set_contents(garbage, "not a kernel\n", -1, &error));
    spec = spec_with_kernel("garbage", garbage);
    podvm_test_net_create_pod(f, spec);
    start_fails_cleanly(f, "garbage", "failed to start");
    /* Again: a second failed start leaves no more than the first. */
    start_fails_cleanly(f, "garbage", "failed to start");
    podvm_test_net_delete_pod(f, "garbage");
    assert_network_gone(f, "garbage", NULL);
}

/* ---- kill -9 and restart, again and again ----------------------------------------------------
 */

/* Fails when a rule appears twice in one chain of an `nft list` output. */
static void
assert_no_duplicate_rules(const char *listing)
{
    g_auto(GStrv) lines = g_strsplit(listing, "\n", -1);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    const char *chain = "";

    for (guint i = 0; lines[i] != NULL; i++) {
        const char *line = g_strstrip(lines[i]);
        g_autofree char *key = NULL;

        if (g_str_has_prefix(line, "table ") || g_str_has_prefix(line, "chain ")) {
            chain = line;
            continue;
        }
        if (*line == '\0' || g_str_equal(line, "}") || g_str_has_prefix(line, "type "))
            continue;
        key = g_strdup_printf("%s / %s", chain, line);
        if (g_hash_table_contains(seen, key))
            g_error("a duplicate rule: %s\n%s", key, listing);
        g_hash_table_add(seen, g_steal_pointer(&key));
    }
}

/* The inode of the namespace bound at @path: the same namespace, not just the same file name. */
static guint64
netns_inode(const char *path)
{
    struct stat st;

    g_assert_cmpint(g_stat(path, &st), ==, 0);
    return (guint64)st.st_ino;
}

/*
 * podvmd killed with SIGKILL and restarted 20 times under a running
 * masquerade pod: the pod keeps its namespace, address and NAT rules
 * (identical, none duplicated, in the pod's namespace and the host's), its
 * page is served at its address, no lease leaks, and the last podvmd
 * answers the guest's DHCP; a delete then leaves nothing.
 */
static void
test_restarts_and_delete(Fixture *f, gconstpointer data)
{
    g_autofree char *pod_ip = NULL, *netns = NULL, *url = NULL;
    g_autofree char *rules = NULL, *host_rules = NULL;
    guint64 inode;
    gint64 adopt_us = 0;

    if (f->daemon == NULL)
        return;
    create_masquerade_pod(f, "keep");
    pod_ip = start_and_wait_address(f, "keep");
    netns = podvm_test_net_pod_netns(f, "keep");
    inode = netns_inode(netns);
    rules = podvm_test_net_pod_nft_table(f, "keep");
    g_assert_nonnull(strstr(rules, "masquerade"));
    assert_no_duplicate_rules(rules);
    url = g_strdup_printf("http://%s:80/", pod_ip);
    {
        g_autofree char *body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);

        g_assert_nonnull(body);
        g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    }
    host_rules = podvm_test_net_host_ruleset();
    assert_no_duplicate_rules(host_rules);

    for (guint i = 0; i < 20; i++) {
        g_autofree char *again = NULL, *host_again = NULL, *ip_again = NULL, *body = NULL;

        gint64 t0 = g_get_monotonic_time();

        podvm_test_daemon_kill9(f->daemon);
        podvm_test_daemon_start(f->daemon);
        assert_phase_reason(f, "keep", "Running", NULL);
        adopt_us += g_get_monotonic_time() - t0;
        again = podvm_test_net_pod_nft_table(f, "keep");
        g_assert_cmpstr(again, ==, rules);
        host_again = podvm_test_net_host_ruleset();
        g_assert_cmpstr(host_again, ==, host_rules);
        ip_again = assert_network_up(f, "keep");
        g_assert_cmpstr(ip_again, ==, pod_ip);
        g_assert_cmpuint(netns_inode(netns), ==, inode);
        body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);
        g_assert_nonnull(body);
        g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    }
    g_test_message("kill -9 and restart to the pod adopted as Running: %.0f ms on average",
                   adopt_us / 20 / 1000.0);
    /* The last podvmd's DHCP server answers: the guest gives its lease back and gets it again. */
    {
        guint seen = podvm_test_net_console_count(f, "keep", GUEST_UP);

        podvm_test_console_type(f->daemon, "keep", "podvm-dhcp eth0");
        podvm_test_net_wait_console_again(f, "keep", GUEST_UP, seen, NET_TIMEOUT_MS);
    }
    delete_and_assert_nothing_left(f, "keep", pod_ip);
}

/* ---- NIC hotplug: detach, and podvmd killed during an attach --------------------------------
 */

static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* The links in the pod's namespace, sorted and joined with ",". */
static char *
pod_links(Fixture *f, const char *name)
{
    g_autofree char *netns = podvm_test_net_pod_netns(f, name);
    g_autofree char *arg = g_strdup_printf("--net=%s", netns);
    const char *argv[] = { "nsenter", arg, "--", "ip", "-o", "link", "show", NULL };
    g_autofree char *out = podvm_test_net_run(argv);
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

    /* "2: eth0@if5: <...": the name, without the peer. */
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) fields = g_strsplit(lines[i], ": ", 3);

        if (g_strv_length(fields) < 2)
            continue;
        g_ptr_array_add(names, g_strndup(fields[1], strcspn(fields[1], "@")));
    }
    g_ptr_array_sort(names, compare_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(",", (char **)names->pdata);
}

/* Attaches the bridge-bound interface "extra" on the multus network "extra" (podvmctl). */
static gboolean
attach_extra(Fixture *f, const char *name, char **out_err)
{
    g_autofree char *out = NULL;

    return podvm_test_ctl(f->daemon, &out, out_err, "attach-nic", name, "--name", "extra",
                          "--binding", "bridge", "--multus", "extra", NULL) == 0;
}

/* Attaches "extra" and waits until the guest has it (its second NIC, eth1) up. */
static void
attach_extra_and_wait(Fixture *f, const char *name)
{
    guint seen = podvm_test_net_console_count(f, name, "PODVM-NET eth1 up 10.77.0.");
    g_autofree char *err = NULL;

    if (!attach_extra(f, name, &err))
        g_error("attach-nic %s: %s", name, err);
    podvm_test_net_wait_console_again(f, name, "PODVM-NET eth1 up 10.77.0.", seen, NET_TIMEOUT_MS);
    g_assert_cmpuint(podvm_test_net_ipam_leases(f, "extra"), ==, 1);
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm1"), ==, 1);
}

/* Waits until nothing of "extra" is left: no lease, no veth, only slot 0's links in the pod. */
static void
assert_extra_gone(Fixture *f, const char *name, const char *links)
{
    gint64 deadline = g_get_monotonic_time() + RELEASE_TIMEOUT_MS * 1000LL;

    for (;;) {
        g_autofree char *now = pod_links(f, name);
        guint leases = podvm_test_net_ipam_leases(f, "extra");
        guint ports = podvm_test_net_bridge_ports("podvm1");

        if (g_str_equal(now, links) && leases == 0 && ports == 0)
            return;
        if (g_get_monotonic_time() > deadline)
            g_error("interface 'extra' of '%s': left: links %s (before: %s), %u lease(s), %u "
                    "veth(s) on podvm1",
                    name, now, links, leases, ports);
        g_usleep(100 * 1000);
    }
}

/*
 * A NIC attached and detached leaves nothing (its lease, its veth, the
 * binding's bridge and tap in the pod's namespace), so it attaches again;
 * podvmd killed in an attach after CNI ADD: the restarted podvmd gives back
 * what the attach had (the interface never joined the spec), and the NIC
 * attaches again. A delete then leaves nothing.
 */
/* Detaches "extra" (podvmctl), waits until the guest lost it and nothing of it is left. */
static void
detach_extra_and_wait(Fixture *f, const char *name, const char *links)
{
    guint gone = podvm_test_net_console_count(f, name, "PODVM-NET eth1 gone");
    g_autofree char *out = NULL, *err = NULL;

    if (podvm_test_ctl(f->daemon, &out, &err, "detach-nic", name, "extra", NULL) != 0)
        g_error("detach-nic %s: %s", name, err);
    podvm_test_net_wait_console_again(f, name, "PODVM-NET eth1 gone", gone, NET_TIMEOUT_MS);
    assert_extra_gone(f, name, links);
}

static void
test_nic_detach_and_crash(Fixture *f, gconstpointer data)
{
    static const char *const points[] = { "net:after-add", "attach-nic:after-netdev-add" };
    g_autofree char *pod_ip = NULL, *links = NULL;

    if (f->daemon == NULL)
        return;
    create_masquerade_pod(f, "hot");
    pod_ip = start_and_wait_address(f, "hot");
    links = pod_links(f, "hot");

    attach_extra_and_wait(f, "hot");
    detach_extra_and_wait(f, "hot", links);
    attach_extra_and_wait(f, "hot");
    detach_extra_and_wait(f, "hot", links);

    /*
     * Killed after CNI ADD of an attach, and after QEMU took the netdev:
     * the pod runs on, what the attach had goes, the NIC attaches again.
     */
    for (guint i = 0; i < G_N_ELEMENTS(points); i++) {
        g_autofree char *err = NULL;

        g_test_message("podvmd killed at %s of an attach", points[i]);
        restart_crashing_at(f, points[i]);
        assert_phase_reason(f, "hot", "Running", NULL);
        g_assert_false(attach_extra(f, "hot", &err));
        restart_after_crash(f);
        assert_phase_reason(f, "hot", "Running", NULL);
        assert_extra_gone(f, "hot", links);
        attach_extra_and_wait(f, "hot");
        detach_extra_and_wait(f, "hot", links);
    }

    /* A delete with the NIC attached leaves nothing of either network. */
    attach_extra_and_wait(f, "hot");
    delete_and_assert_nothing_left(f, "hot", pod_ip);
    g_assert_cmpuint(podvm_test_net_ipam_leases(f, "extra"), ==, 0);
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm1"), ==, 0);
}

/* SIGKILL to the pod's QEMU (the test's own: its podvmd started it). */
static void
kill_qemu(Fixture *f, const char *name)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);
    gint64 pid = json_object_get_int_member_with_default(status, "qemuPid", 0);

    g_assert_cmpint(pid, >, 1);
    g_assert_cmpint(kill((pid_t)pid, SIGKILL), ==, 0);
}

/*
 * QEMU dies while podvmd releases one interface (the attach a restart cut
 * short, each CNI DEL a second late): the whole network is released after
 * that one, not forgotten because a release was under way.
 */
static void
test_exit_during_interface_release(Fixture *f, gconstpointer data)
{
    g_autofree char *pod_ip = NULL, *log = NULL, *err = NULL;

    if (f->daemon == NULL)
        return;
    create_masquerade_pod(f, "overlap");
    pod_ip = start_and_wait_address(f, "overlap");
    restart_crashing_at(f, "net:after-add");
    assert_phase_reason(f, "overlap", "Running", NULL);
    g_assert_false(attach_extra(f, "overlap", &err));
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_DELAY_AT", "net:before-del");
    restart_after_crash(f);
    assert_phase_reason(f, "overlap", "Running", NULL);
    kill_qemu(f, "overlap");

    assert_phase_reason(f, "overlap", "Failed", NULL);
    assert_network_gone(f, "overlap", pod_ip);
    g_assert_cmpuint(podvm_test_net_ipam_leases(f, "extra"), ==, 0);
    g_assert_cmpuint(podvm_test_net_bridge_ports("podvm1"), ==, 0);
    /* The two releases did overlap (else this test proved nothing). */
    g_assert_true(g_file_get_contents(f->daemon->log_path, &log, NULL, NULL));
    g_assert_nonnull(strstr(log, "its network is released once the release under way ends"));
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_DELAY_AT", NULL);
}

int
main(int argc, char **argv)
{
    static const char *const start_points[] = { "net:before-add", "net:after-add",
                                                "start:before-spawn", "start:after-spawn" };
    static const char *const delete_points[] = { "delete:after-mark", "delete:after-release" };

    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    for (guint i = 0; i < G_N_ELEMENTS(start_points); i++) {
        g_autofree char *path = g_strdup_printf("/net/faults/start-crash/%s", start_points[i]);

        g_test_add(path, Fixture, start_points[i], podvm_test_net_setup, test_start_crash,
                   podvm_test_net_teardown);
    }
    g_test_add("/net/faults/start-crash-bridge/start:before-spawn", Fixture, "start:before-spawn",
               podvm_test_net_setup, test_start_crash_bridge, podvm_test_net_teardown);
    for (guint i = 0; i < G_N_ELEMENTS(delete_points); i++) {
        g_autofree char *path = g_strdup_printf("/net/faults/delete-crash/%s", delete_points[i]);

        g_test_add(path, Fixture, delete_points[i], podvm_test_net_setup, test_delete_crash,
                   podvm_test_net_teardown);
    }
    g_test_add("/net/faults/start-stop-cycles", Fixture, NULL, podvm_test_net_setup,
               test_start_stop_cycles, podvm_test_net_teardown);
    g_test_add("/net/faults/release-crash", Fixture, NULL, podvm_test_net_setup, test_release_crash,
               podvm_test_net_teardown);
    g_test_add("/net/faults/start-fails-after-add", Fixture, NULL, podvm_test_net_setup,
               test_start_fails_after_add, podvm_test_net_teardown);
    g_test_add("/net/faults/nic-detach-and-crash", Fixture, NULL, podvm_test_net_setup,
               test_nic_detach_and_crash, podvm_test_net_teardown);
    g_test_add("/net/faults/exit-during-interface-release", Fixture, NULL, podvm_test_net_setup,
               test_exit_during_interface_release, podvm_test_net_teardown);
    g_test_add("/net/faults/restarts-and-delete", Fixture, NULL, podvm_test_net_setup,
               test_restarts_and_delete, podvm_test_net_teardown);
    return g_test_run();
}
