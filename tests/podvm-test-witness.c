/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live-migration tests' witness (podvm-test-hosts.h): the test guest
 * with podvm.counter on its emptyDisk, and the checks of a pod that moved
 * between the two hosts.
 */
#include "podvm-test-hosts.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "podvm-netns.h"
#include "podvm-test-net.h"
#include "podvm-test-util.h"

#define BUS_NAME "io.podvm.PodVM1"
#define POD_INTERFACE "io.podvm.PodVM1.Pod"

/* ---- the live-migration witness------------------------------------------------------------- */

gboolean
podvm_test_hosts_require_counter(void)
{
    g_autofree char *init = g_test_build_filename(G_TEST_DIST, "guest", "init", NULL);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(init, &text, NULL, NULL) || strstr(text, "podvm.counter=") == NULL) {
        g_test_skip("the test guest (tests/guest/init) has no podvm.counter witness");
        return FALSE;
    }
    return TRUE;
}

char *
podvm_test_host_start_witness(PodvmTestHost *host, const char *name, const char *disk_capacity,
                              const char *extra_args)
{
    g_autofree char *args = g_strdup_printf("%s %s", PODVM_TEST_HOSTS_COUNTER_ARGS,
                                            extra_args != NULL ? extra_args : "");
    g_autofree char *spec = podvm_test_hosts_spec(name, g_strstrip(args), disk_capacity);
    char *boot_id = NULL;

    podvm_test_host_create_pod(host, spec);
    podvm_test_host_start_pod(host, name);
    podvm_test_host_wait_phase(host, name, "Running", 60000);
    podvm_test_host_wait_console(host, name, "PODVM-NET eth0 up 10.0.2.2/24",
                                 PODVM_TEST_HOSTS_BOOT_TIMEOUT_MS);
    podvm_test_host_wait_console(host, name, "PODVM-COUNTER-FROM ",
                                 PODVM_TEST_HOSTS_BOOT_TIMEOUT_MS);
    podvm_test_host_wait_heartbeat(host, name, 2, &boot_id, 30000);
    return boot_id;
}

char *
podvm_test_host_pod_uid(PodvmTestHost *host, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(host->daemon, name);
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) value = NULL;
    g_autoptr(GError) error = NULL;

    reply = g_dbus_connection_call_sync(
        host->daemon->connection, BUS_NAME, g_dbus_proxy_get_object_path(G_DBUS_PROXY(pod)),
        "org.freedesktop.DBus.Properties", "Get", g_variant_new("(ss)", POD_INTERFACE, "Uid"),
        G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error(error);
    g_variant_get(reply, "(v)", &value);
    return g_variant_dup_string(value, NULL);
}

guint64
podvm_test_host_counter(PodvmTestHost *host, const char *name)
{
    g_autofree char *log = podvm_test_daemon_console_log(host->daemon, name);
    guint before = podvm_test_count_in_file(log, "PODVM-COUNTER ");
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    g_autofree char *text = NULL;
    const char *answer;

    podvm_test_console_type(host->daemon, name, "podvm-counter");
    for (;;) {
        g_free(text);
        text = podvm_test_host_console(host, name);
        answer = g_strrstr(text, "PODVM-COUNTER ");
        /* A complete line, and a new one. */
        if (answer != NULL && strpbrk(answer, "\r\n") != NULL &&
            podvm_test_count_in_file(log, "PODVM-COUNTER ") > before)
            break;
        if (g_get_monotonic_time() > deadline)
            podvm_test_hosts_fail("%s: pod '%s' did not answer podvm-counter; console:\n%s",
                                  host->name, name, text);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(100000);
    }
    return g_ascii_strtoull(answer + strlen("PODVM-COUNTER "), NULL, 10);
}

int
podvm_test_host_console_open(PodvmTestHost *host, const char *name)
{
    g_autofree char *log = podvm_test_daemon_console_log(host->daemon, name);
    int fd = open(log, O_RDONLY | O_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    return fd;
}

char *
podvm_test_fd_read_all(int fd)
{
    GString *text = g_string_new(NULL);
    char buffer[65536];
    ssize_t n;

    g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
    while ((n = read(fd, buffer, sizeof buffer)) > 0)
        g_string_append_len(text, buffer, n);
    return g_string_free(text, FALSE);
}

/* Files under @dir (recursively) whose name ends with @suffix. */
static guint
count_files_with_suffix(const char *dir, const char *suffix)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *entry;
    guint count = 0;

    while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
        g_autofree char *path = g_build_filename(dir, entry, NULL);

        if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK))
            count += count_files_with_suffix(path, suffix);
        else if (g_str_has_suffix(entry, suffix))
            count++;
    }
    return count;
}

void
podvm_test_host_assert_pod_gone(PodvmTestHost *host, const char *name, const char *uid,
                                guint timeout_ms)
{
    g_autofree char *run_dir = g_build_filename(host->daemon->run_dir, "pods", name, NULL);
    g_autofree char *state_dir = g_build_filename(host->daemon->state_dir, "pods", name, NULL);
    g_autofree char *netns = g_build_filename(run_dir, "netns", NULL);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    if (!podvm_test_host_wait_no_pod(host, name, timeout_ms))
        podvm_test_hosts_fail("%s: pod '%s' is still there after %u ms", host->name, name,
                              timeout_ms);
    /* Its QEMU may take a moment to end after the pod is gone. */
    for (;;) {
        g_autoptr(GArray) pids = podvm_test_qemu_pids_with_uuid(uid);
        guint mine = 0;

        for (guint i = 0; i < pids->len; i++)
            mine += podvm_test_host_owns_pid(host, g_array_index(pids, int, i)) ? 1 : 0;
        if (mine == 0)
            break;
        if (g_get_monotonic_time() > deadline)
            podvm_test_hosts_fail("%s: pod '%s' is gone, its QEMU runs on", host->name, name);
        g_usleep(50000);
    }
    /* Its network may still be released when the pod is gone (CNI DEL runs on): soon, then. */
    for (;;) {
        const char *left = podvm_netns_exists(netns)                    ? "its namespace"
                           : g_file_test(run_dir, G_FILE_TEST_EXISTS)   ? "its run directory"
                           : g_file_test(state_dir, G_FILE_TEST_EXISTS) ? "its state directory"
                           : count_files_with_suffix(host->daemon->state_dir, ".qcow2") > 0
                               ? "a disk image"
                               : NULL;

        if (left == NULL)
            break;
        if (g_get_monotonic_time() > deadline)
            podvm_test_hosts_fail("%s: pod '%s' is gone, %s is left", host->name, name, left);
        g_usleep(50000);
    }
}

int
podvm_test_hosts_assert_one_qemu(PodvmTestHosts *hosts, PodvmTestHost *host, const char *uid)
{
    g_autoptr(GArray) pids = podvm_test_qemu_pids_with_uuid(uid);
    int pid;

    (void)hosts;
    if (pids->len != 1)
        podvm_test_hosts_fail("%u QEMUs run pod %s, not one", pids->len, uid);
    pid = g_array_index(pids, int, 0);
    if (!podvm_test_host_owns_pid(host, pid))
        podvm_test_hosts_fail("the QEMU of pod %s (pid %d) is not %s's", uid, pid, host->name);
    return pid;
}

gboolean
podvm_test_migrate_unavailable(const GError *error)
{
    if (error == NULL)
        return FALSE;
    if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
        strstr(error->message, "No such method") != NULL ||
        strstr(error->message, "not available yet") != NULL ||
        strstr(error->message, "not yet supported") != NULL) {
        g_autofree char *why =
            g_strdup_printf("live migration is not available in this podvmd: %s", error->message);

        g_test_skip(why);
        return TRUE;
    }
    return FALSE;
}

/* ---- checks of a migration ------------------------------------------------------------- */

/* A guest's page at its pod's address, fetched from inside @host (curl), retried. */
char *
podvm_test_host_http_get(PodvmTestHost *host, const char *address, guint timeout_ms)
{
    g_autofree char *url = g_strdup_printf("http://%s:80/", address);
    const char *argv[] = { "curl", "-sS", "--fail", "--max-time", "3", url, NULL };
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        char *out = NULL;

        if (podvm_test_host_run(host, argv, &out, NULL))
            return out;
        if (g_get_monotonic_time() > deadline)
            return NULL;
        g_usleep(500000);
    }
}

char *
podvm_test_host_pod_ip(PodvmTestHost *host, const char *name)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(host->daemon, name);

    return g_strdup(json_object_get_string_member_with_default(status, "podIP", NULL));
}

void
podvm_test_witness_clear(PodvmTestWitness *w)
{
    g_free(w->uid);
    g_free(w->mac);
    g_free(w->guest_ip);
    g_free(w->boot_id);
}

static char *
interface_string(PodvmTestHost *host, const char *name, const char *member)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(host->daemon, name);
    JsonArray *interfaces = json_object_has_member(status, "interfaces")
                                ? json_object_get_array_member(status, "interfaces")
                                : NULL;

    if (interfaces == NULL || json_array_get_length(interfaces) == 0)
        return NULL;
    return g_strdup(json_object_get_string_member_with_default(
        json_array_get_object_element(interfaces, 0), member, NULL));
}

void
podvm_test_witness_read(PodvmTestHost *host, const char *name, PodvmTestWitness *w)
{
    g_autofree char *text = podvm_test_host_console(host, name);

    w->uid = podvm_test_host_pod_uid(host, name);
    w->mac = interface_string(host, name, "mac");
    w->guest_ip = interface_string(host, name, "ipAddress");
    g_assert_nonnull(w->mac);
    g_assert_cmpstr(w->guest_ip, ==, "10.0.2.2");
    g_assert_true(podvm_test_heartbeat_last(text, &w->boot_id, NULL));
}

/*
 * The pod @name moved from @from to @to, where it is @phase: one QEMU
 * (@to's), nothing left on @from, the same guest (boot id, MAC, address),
 * the counter on disk continuous across the hosts; a running guest beats
 * on and its page is served at @to's pod address. @from_console is an fd
 * on @from's console log opened before the migration.
 */
void
podvm_test_hosts_check_moved(PodvmTestHosts *hosts, PodvmTestHost *from, PodvmTestHost *to,
                             const char *name, const PodvmTestWitness *before, int from_console,
                             const char *phase)
{
    g_autofree char *from_text = podvm_test_fd_read_all(from_console);
    g_autofree char *to_text = NULL, *last_boot = NULL, *mac = NULL, *guest_ip = NULL;
    g_autofree char *ip = NULL, *body = NULL;
    guint64 last_n = 0;

    podvm_test_host_wait_phase(to, name, phase, 30000);
    podvm_test_host_assert_pod_gone(from, name, before->uid, 30000);
    podvm_test_hosts_assert_one_qemu(hosts, to, before->uid);

    /* What the guest wrote last on the source. */
    g_assert_true(podvm_test_heartbeat_last(from_text, &last_boot, &last_n));
    g_assert_cmpstr(last_boot, ==, before->boot_id);

    mac = interface_string(to, name, "mac");
    guest_ip = interface_string(to, name, "ipAddress");
    g_assert_cmpstr(mac, ==, before->mac);
    g_assert_cmpstr(guest_ip, ==, before->guest_ip);

    if (g_str_equal(phase, "Running")) {
        g_autofree char *boot_id = NULL, *first_boot = NULL;
        guint64 first_n = 0, counter;

        /* It beats on, with the same boot id: no reboot. */
        podvm_test_host_wait_heartbeat(to, name, last_n, &boot_id, 30000);
        g_assert_cmpstr(boot_id, ==, before->boot_id);
        to_text = podvm_test_host_console(to, name);
        g_assert_true(podvm_test_heartbeat_first(to_text, &first_boot, &first_n));
        g_assert_cmpstr(first_boot, ==, before->boot_id);
        /* Continuous: on from the source's last value, no restart from the disk. */
        g_assert_cmpuint(first_n, >=, last_n);
        g_assert_cmpuint(first_n - last_n, <, 300);
        g_assert_null(strstr(to_text, "PODVM-COUNTER-FROM"));
        g_assert_null(strstr(to_text, "PODVM-GUEST-READY"));
        /* The disk came along: the counter there is past what the source wrote. */
        counter = podvm_test_host_counter(to, name);
        g_assert_cmpuint(counter, >=, last_n);
        g_test_message("%s -> %s: last heartbeat %" G_GUINT64_FORMAT
                       " on the source, first %" G_GUINT64_FORMAT
                       " on the target, counter %" G_GUINT64_FORMAT,
                       from->name, to->name, last_n, first_n, counter);
        /* The port forward serves on the target's pod address. */
        ip = podvm_test_host_pod_ip(to, name);
        g_assert_nonnull(ip);
        body = podvm_test_host_http_get(to, ip, PODVM_TEST_NET_TIMEOUT_MS);
        g_assert_nonnull(body);
        g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    }
}

/* The result of a migration: the pod, its target, the times. */
void
podvm_test_check_migrate_result(const char *result_json, const char *name)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = json_from_string(result_json, &error);
    JsonObject *result;

    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    result = json_node_get_object(root);
    g_assert_cmpstr(json_object_get_string_member_with_default(result, "pod", NULL), ==, name);
    g_assert_true(json_object_has_member(result, "target"));
    g_assert_true(json_object_has_member(result, "totalMs"));
    g_test_message("migrated %s: totalMs %" G_GINT64_FORMAT ", downtimeMs %" G_GINT64_FORMAT, name,
                   json_object_get_int_member_with_default(result, "totalMs", -1),
                   json_object_get_int_member_with_default(result, "downtimeMs", -1));
}
