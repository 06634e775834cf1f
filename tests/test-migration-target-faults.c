/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the target alone (see test-migration-target.c): what
 * goes wrong there (its QEMU dies, nothing comes, podvmd is killed in the
 * copy or in the finish) and the network (links down until the finish,
 * the same MAC), in the test's own network namespace.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-target.h"
#include "podvm-test-util.h"

/* The target's QEMU dies while it waits: the Incoming pod is torn down, nothing stays. */
static void
test_qemu_killed(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *status_path = NULL;
    gint64 pid;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    offer_source(f, src, &id, &secret);
    pid = qemu_pid_of(f, "mig");
    g_assert_cmpint(pid, >, 0);
    g_assert_cmpint(kill((pid_t)pid, SIGKILL), ==, 0);
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    g_assert_cmpint(process_alive(pid), ==, FALSE);
    /* The source's QEMU (same uid, another podvmd's) is not the target's to end. */
    g_assert_cmpint(process_alive(src->qemu_pid), ==, TRUE);
    status_path = g_strconcat("/v1/migrations/", id, NULL);
    {
        g_autoptr(Answer) a = http(f, "GET", status_path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    /* The name is free again: a new offer is taken. */
    {
        g_autofree char *again_id = NULL;
        g_autofree char *again_secret = NULL;

        offer_source(f, src, &again_id, &again_secret);
        g_assert_cmpstr(again_id, !=, id);
    }
}

/* No stream ever comes: after [migration] no_progress_timeout_ms the pod is torn down. */
static void
test_no_progress(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    gint64 pid;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    offer_source(f, src, &id, &secret);
    pid = qemu_pid_of(f, "mig");
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    g_assert_cmpint(process_alive(pid), ==, FALSE);
    g_assert_cmpint(process_alive(src->qemu_pid), ==, TRUE);
}

/* podvmd killed while the pod waits for the source: its restart tears the pod down. */
static void
test_restart_waiting(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    gint64 pid;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    offer_source(f, src, &id, &secret);
    pid = qemu_pid_of(f, "mig");
    podvm_test_daemon_kill9(f->daemon);
    g_assert_cmpint(process_alive(pid), ==, TRUE);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    g_assert_cmpint(process_alive(pid), ==, FALSE);
    g_assert_cmpint(process_alive(src->qemu_pid), ==, TRUE);
}

/*
 * podvmd killed in the finish, after the record said "activating" and
 * before `cont` (incoming:before-cont): the restart completes the finish;
 * the pod runs here and the guest goes on.
 */
static void
test_restart_activating(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *finish = NULL;
    g_autofree char *target_log = NULL;
    guint status = 0;
    int stream;
    gint64 deadline;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", "incoming:before-cont");
    podvm_test_daemon_stop(f->daemon);
    podvm_test_daemon_start(f->daemon);
    offer_source(f, src, &id, &secret);
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    json_node_unref(qmp(
        src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n", stream));
    close(stream);
    json_node_unref(
        qmp(src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1));
    wait_migrate_status(src->qmp_fd, "completed");
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *state = migration_state(f, id);

        if (g_str_equal(state, "completed"))
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    {
        /* podvmd dies in it: no answer. */
        int fd = podvm_test_connect_unix(f->socket_path);
        g_autofree char *request =
            g_strdup_printf("POST %s HTTP/1.1\r\nHost: podvm\r\nContent-Length: 0\r\n\r\n", finish);

        g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
        g_assert_true(podvm_test_read_until_closed(fd, 30000));
        close(fd);
    }
    g_assert_true(podvm_test_daemon_wait_killed(f->daemon, 30000));
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", NULL);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "mig", "Running", 30000));
    target_log = podvm_test_daemon_console_log(f->daemon, "mig");
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (last_heartbeat(target_log) <= src->heartbeat && g_get_monotonic_time() < deadline)
        g_usleep(100 * 1000);
    g_assert_cmpuint(last_heartbeat(target_log), >, src->heartbeat);
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/pods/mig", NULL, NULL);
        g_assert_null(strstr(a->body, "\"migration\""));
    }
}

/* ---- the network: the same MACs, links down until the switchover ----------------------- */

/* The flags of @ifname in @netns ("BROADCAST,MULTICAST,UP,..."), or "" when there is none. */
static char *
link_flags(const char *netns, const char *ifname)
{
    g_autofree char *arg = g_strdup_printf("--net=%s", netns);
    const char *argv[] = { "nsenter", arg, "--", "ip", "-o", "link", "show", ifname, NULL };
    g_autofree char *out = podvm_test_net_run(argv);
    const char *open = out != NULL ? strchr(out, '<') : NULL;
    const char *end = open != NULL ? strchr(open, '>') : NULL;

    if (end == NULL)
        return g_strdup("");
    return g_strndup(open + 1, (gsize)(end - open - 1));
}

static gboolean
flags_up(const char *flags)
{
    g_auto(GStrv) parts = g_strsplit(flags, ",", -1);

    return g_strv_contains((const char *const *)parts, "UP");
}

/*
 * A masquerade pod: on the target its tap stays down while the copy runs
 * and comes up at the finish; the MAC is the source's, and the guest's
 * page (port 80) is served at the target pod's address afterwards.
 */
static void
test_receive_network(PodvmTestNet *net, gconstpointer data)
{
    Fixture target = { 0 };
    Fixture *f = &target;
    g_autoptr(Source) src = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *netns = NULL;
    g_autofree char *finish = NULL;
    g_autofree char *source_mac = NULL;
    g_autofree char *target_mac = NULL;
    g_autofree char *pod_ip = NULL;
    g_autofree char *url = NULL;
    g_autofree char *body = NULL;
    g_autofree char *socket_path = NULL;
    g_autofree char *source_dir = NULL;
    g_autofree char *source_cni = NULL;
    guint status = 0;
    int stream;

    if (net->daemon == NULL)
        return;
    socket_path = g_build_filename(net->daemon->run_dir, "api.sock", NULL);
    target.daemon = net->daemon;
    target.socket_path = socket_path;
    /*
     * The source's network of the same name on a bridge and IPAM of its own:
     * both ends have the pod's uid, which host-local (and the bridge
     * plugin's NAT chain) take as the container's id; hosts of their own
     * would not share them.
     */
    source_dir = podvm_test_mkdtemp();
    source_cni = g_build_filename(source_dir, "cni", NULL);
    g_assert_cmpint(g_mkdir_with_parents(source_cni, 0700), ==, 0);
    podvm_test_net_write_conflist(source_cni, "10-pods.conflist", "pods", "podvm5", "10.55.0.0/16",
                                  FALSE);
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n", source_cni);
    spec = podvm_test_net_spec("mig", NULL, PODVM_TEST_NET_MASQUERADE_IFACES,
                               PODVM_TEST_NET_POD_NETWORK);
    src = source_new_full("mig", spec, NULL, conf);
    if (src == NULL)
        return;
    {
        g_autoptr(JsonNode) root = json_from_string(src->pod_json, NULL);
        JsonObject *status_object =
            json_object_get_object_member(json_node_get_object(root), "status");
        JsonArray *interfaces = json_object_get_array_member(status_object, "interfaces");

        source_mac = g_strdup(
            json_object_get_string_member(json_array_get_object_element(interfaces, 0), "mac"));
    }
    offer_source(f, src, &id, &secret);
    if (net->pods == NULL)
        net->pods = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(net->pods, g_strdup("mig")); /* the fixture deletes it (CNI DEL) */
    netns = podvm_test_net_pod_netns(net, "mig");
    {
        g_autofree char *flags = link_flags(netns, "pvtap0");

        g_assert_cmpstr(flags, !=, "");
        g_assert_false(flags_up(flags));
    }
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    json_node_unref(qmp(
        src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n", stream));
    close(stream);
    json_node_unref(
        qmp(src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1));
    wait_migrate_status(src->qmp_fd, "completed");
    {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        for (;;) {
            g_autofree char *state = migration_state(f, id);

            if (g_str_equal(state, "completed"))
                break;
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(100 * 1000);
        }
    }
    {
        g_autofree char *flags = link_flags(netns, "pvtap0");
        g_assert_false(flags_up(flags));
    }
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    {
        g_autoptr(Answer) a = http(f, "POST", finish, NULL, NULL);

        if (a->status != 200)
            g_error("finish: %u %s", a->status, a->body);
    }
    {
        g_autofree char *flags = link_flags(netns, "pvtap0");
        g_assert_true(flags_up(flags));
    }
    target_mac = podvm_test_net_interface_string(net, "mig", 0, "mac");
    g_assert_cmpstr(target_mac, ==, source_mac);
    pod_ip = podvm_test_net_status_string(net, "mig", "podIP");
    g_assert_nonnull(pod_ip);
    url = g_strdup_printf("http://%s:80/", pod_ip);
    body = podvm_test_net_http_get_retry(url, 60000);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    g_clear_pointer(&src, source_free);
    podvm_test_rmrf(source_dir);
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program (the network test's). */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add("/migration-target-faults/qemu-killed", Fixture, NULL, fixture_setup,
               test_qemu_killed, fixture_teardown);
    g_test_add("/migration-target-faults/no-progress", Fixture,
               "[migration]\nno_progress_timeout_ms=3000\n", fixture_setup, test_no_progress,
               fixture_teardown);
    g_test_add("/migration-target-faults/restart-waiting", Fixture, NULL, fixture_setup,
               test_restart_waiting, fixture_teardown);
    g_test_add("/migration-target-faults/restart-activating", Fixture, NULL, fixture_setup,
               test_restart_activating, fixture_teardown);
    g_test_add("/migration-target-faults/receive-network", PodvmTestNet, NULL, podvm_test_net_setup,
               test_receive_network, podvm_test_net_teardown);
    return g_test_run();
}
