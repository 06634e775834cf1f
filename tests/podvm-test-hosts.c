/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-hosts.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "podvm-netlink.h"
#include "podvm-netns.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define BUS_NAME "io.podvm.PodVM1"
#define POD_INTERFACE "io.podvm.PodVM1.Pod"

/* The hosts of the running test: their podvmds' logs go with a failure. */
static PodvmTestHosts *current_hosts;

static void
print_log(PodvmTestHost *host)
{
    g_autofree char *log = NULL;

    if (host == NULL || host->daemon == NULL ||
        !g_file_get_contents(host->daemon->log_path, &log, NULL, NULL))
        return;
    g_printerr("---- podvmd log of %s ----\n%s\n", host->name, log);
}

void
podvm_test_hosts_fail(const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    if (current_hosts != NULL) {
        print_log(current_hosts->a);
        print_log(current_hosts->b);
    }
    g_error("%s", message);
}

/* ---- certificates and tokens ----------------------------------------------------------- */

static gboolean
run_quiet(const char *const *argv, GError **error)
{
    g_autofree char *err = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, NULL, &err, &status, error))
        return FALSE;
    if (!g_spawn_check_wait_status(status, error)) {
        g_prefix_error(error, "%s: %s: ", argv[0], err != NULL ? g_strstrip(err) : "");
        return FALSE;
    }
    return TRUE;
}

/* A CA of the host's own (DIR/ca.pem) and its server certificate for its address. */
static gboolean
make_certificates(PodvmTestHost *host, char **out_cert, char **out_key, GError **error)
{
    g_autofree char *ca_key = g_build_filename(host->dir, "ca.key", NULL);
    g_autofree char *cert = g_build_filename(host->dir, "cert.pem", NULL);
    g_autofree char *key = g_build_filename(host->dir, "key.pem", NULL);
    g_autofree char *ca_subject = g_strdup_printf("/CN=podvm test CA of %s", host->name);
    g_autofree char *subject = g_strdup_printf("/CN=%s", host->address);
    g_autofree char *san = g_strdup_printf("subjectAltName=IP:%s", host->address);
    const char *ca_argv[] = { "openssl",
                              "req",
                              "-x509",
                              "-newkey",
                              "ec",
                              "-pkeyopt",
                              "ec_paramgen_curve:prime256v1",
                              "-nodes",
                              "-subj",
                              ca_subject,
                              "-days",
                              "2",
                              "-keyout",
                              ca_key,
                              "-out",
                              host->cacert_path,
                              NULL };
    const char *cert_argv[] = { "openssl",
                                "req",
                                "-x509",
                                "-CA",
                                host->cacert_path,
                                "-CAkey",
                                ca_key,
                                "-newkey",
                                "ec",
                                "-pkeyopt",
                                "ec_paramgen_curve:prime256v1",
                                "-nodes",
                                "-subj",
                                subject,
                                "-days",
                                "2",
                                "-addext",
                                san,
                                "-addext",
                                "basicConstraints=critical,CA:FALSE",
                                "-keyout",
                                key,
                                "-out",
                                cert,
                                NULL };

    if (!run_quiet(ca_argv, error) || !run_quiet(cert_argv, error))
        return FALSE;
    *out_cert = g_steal_pointer(&cert);
    *out_key = g_steal_pointer(&key);
    return TRUE;
}

/* ---- the namespaces and the link -------------------------------------------------------- */

typedef struct {
    const char *address;
    int peer_fd; /* -1: the link exists already */
    gboolean up;
} LinkSetup;

static gboolean
link_setup_cb(gpointer user_data, GError **error)
{
    const LinkSetup *setup = user_data;
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);
    g_autofree char *cidr =
        setup->address != NULL ? g_strdup_printf("%s/24", setup->address) : NULL;

    if (nl == NULL)
        return FALSE;
    if (setup->peer_fd >= 0 &&
        !podvm_nl_veth_add(nl, PODVM_TEST_HOSTS_LINK, PODVM_TEST_HOSTS_LINK, setup->peer_fd, error))
        return FALSE;
    if (cidr != NULL && !podvm_nl_addr_add(nl, PODVM_TEST_HOSTS_LINK, cidr, error))
        return FALSE;
    return podvm_nl_link_set_up(nl, PODVM_TEST_HOSTS_LINK, setup->up, error);
}

static void
host_free(PodvmTestHost *host)
{
    if (host == NULL)
        return;
    if (host->daemon != NULL) {
        /* Through podvmd: CNI DEL, the pods' namespaces unmounted. Migrated here too. */
        g_autofree char *list = NULL;

        if (host->daemon->manager != NULL &&
            podvm_dbus_manager_call_list_pods_sync(host->daemon->manager, &list, NULL, NULL)) {
            g_autoptr(JsonNode) root = json_from_string(list, NULL);
            JsonArray *pods =
                root != NULL && JSON_NODE_HOLDS_ARRAY(root) ? json_node_get_array(root) : NULL;

            for (guint i = 0; pods != NULL && i < json_array_get_length(pods); i++) {
                JsonObject *metadata = json_object_get_object_member(
                    json_array_get_object_element(pods, i), "metadata");
                const char *name = json_object_get_string_member(metadata, "name");

                podvm_test_ctl(host->daemon, NULL, NULL, "delete", "--force", name, NULL);
            }
        }
        /* What a failed test left: the namespaces of pods podvmd did not delete. */
        {
            g_autofree char *pods = g_build_filename(host->daemon->run_dir, "pods", NULL);
            g_autoptr(GDir) dir = g_dir_open(pods, 0, NULL);
            const char *name;

            while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
                g_autofree char *netns = g_build_filename(pods, name, "netns", NULL);

                if (podvm_netns_exists(netns))
                    podvm_netns_remove(netns, NULL);
            }
        }
        g_clear_pointer(&host->daemon, podvm_test_daemon_free);
    }
    if (host->netns_fd >= 0)
        close(host->netns_fd);
    if (host->netns_path != NULL)
        podvm_netns_remove(host->netns_path, NULL);
    if (host->dir != NULL)
        podvm_test_rmrf(host->dir);
    g_free(host->name);
    g_free(host->peer_name);
    g_free(host->address);
    g_free(host->url);
    g_free(host->dir);
    g_free(host->netns_path);
    g_free(host->token);
    g_free(host->token_path);
    g_free(host->cacert_path);
    g_free(host->cni_dir);
    g_free(host->conf);
    g_free(host);
}

static PodvmTestHost *
host_new(const char *top, const char *letter, const char *other_letter, const char *address)
{
    PodvmTestHost *host = g_new0(PodvmTestHost, 1);
    g_autoptr(GError) error = NULL;

    host->netns_fd = -1;
    host->name = g_strdup_printf("host-%s", letter);
    host->peer_name = g_strdup_printf("host-%s", other_letter);
    host->address = g_strdup(address);
    host->url = g_strdup_printf("https://%s:%u", address, PODVM_TEST_HOSTS_PORT);
    host->dir = g_build_filename(top, letter, NULL);
    g_assert_cmpint(g_mkdir_with_parents(host->dir, 0700), ==, 0);
    host->netns_path = g_build_filename(host->dir, "netns", NULL);
    host->token = g_strdup_printf("token-of-%s-%08x", host->name, g_random_int());
    host->token_path = g_build_filename(host->dir, "token", NULL);
    g_file_set_contents(host->token_path, host->token, -1, &error);
    g_assert_no_error(error);
    host->cacert_path = g_build_filename(host->dir, "ca.pem", NULL);
    host->cni_dir = g_build_filename(host->dir, "cni", NULL);
    g_assert_cmpint(g_mkdir_with_parents(host->cni_dir, 0700), ==, 0);
    /* The networks of podvm-test-net.h: each host has its own bridges in its namespace. */
    podvm_test_net_write_conflist(host->cni_dir, "10-pods.conflist", "pods", "podvm0",
                                  "10.66.0.0/16", TRUE);
    podvm_test_net_write_conflist(host->cni_dir, "20-extra.conflist", "extra", "podvm1",
                                  "10.77.0.0/24", TRUE);
    podvm_netns_create(host->netns_path, &error);
    g_assert_no_error(error);
    host->netns_fd = podvm_netns_open(host->netns_path, &error);
    g_assert_no_error(error);
    return host;
}

/* podvmd.conf of @host, which names @peer. */
static void
host_write_conf(PodvmTestHost *host, PodvmTestHost *peer, const char *extra_conf)
{
    g_autofree char *cert = NULL, *key = NULL;
    g_autoptr(GError) error = NULL;

    make_certificates(host, &cert, &key, &error);
    g_assert_no_error(error);
    host->conf =
        g_strdup_printf("[network]\ncni_config_dir=%s\n"
                        /* A request's tokenFile must lie here (the wrong-token test's file). */
                        "[storage]\nallowed_host_paths=%s\n"
                        "[rest]\nlisten=%s:%u\ntoken_file=%s\ntls_cert=%s\ntls_key=%s\n"
                        "[peer %s]\nurl=%s\ntoken_file=%s\ncacert=%s\n"
                        "%s",
                        host->cni_dir, host->dir, host->address, PODVM_TEST_HOSTS_PORT,
                        host->token_path, cert, key, peer->name, peer->url, peer->token_path,
                        peer->cacert_path, extra_conf != NULL ? extra_conf : "");
}

static gboolean
require(void)
{
    if (!podvm_test_netns_require("curl", "openssl", NULL))
        return FALSE;
    if (!g_file_test("/usr/lib/cni/bridge", G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("Debian's containernetworking-plugins are not installed (/usr/lib/cni)");
        return FALSE;
    }
    if (g_getenv("PODVMD") == NULL) {
        g_test_skip("PODVMD is not set: run the tests with `meson test`");
        return FALSE;
    }
    return podvm_test_require_guest();
}

PodvmTestHosts *
podvm_test_hosts_new(const char *extra_conf)
{
    g_autoptr(PodvmTestHosts) hosts = NULL;
    g_autoptr(GError) error = NULL;

    if (!require())
        return NULL;
    hosts = g_new0(PodvmTestHosts, 1);
    current_hosts = hosts;
    hosts->dir = podvm_test_mkdtemp();
    hosts->a = host_new(hosts->dir, "a", "b", PODVM_TEST_HOST_A_ADDRESS);
    hosts->b = host_new(hosts->dir, "b", "a", PODVM_TEST_HOST_B_ADDRESS);
    {
        LinkSetup a = { PODVM_TEST_HOST_A_ADDRESS, hosts->b->netns_fd, TRUE };
        LinkSetup b = { PODVM_TEST_HOST_B_ADDRESS, -1, TRUE };

        podvm_netns_run(hosts->a->netns_fd, link_setup_cb, &a, &error);
        g_assert_no_error(error);
        podvm_netns_run(hosts->b->netns_fd, link_setup_cb, &b, &error);
        g_assert_no_error(error);
    }
    host_write_conf(hosts->a, hosts->b, extra_conf);
    host_write_conf(hosts->b, hosts->a, extra_conf);
    hosts->a->daemon = podvm_test_daemon_new_in_netns(hosts->a->conf, hosts->a->netns_path);
    if (hosts->a->daemon == NULL)
        return NULL;
    hosts->b->daemon = podvm_test_daemon_new_in_netns(hosts->b->conf, hosts->b->netns_path);
    if (hosts->b->daemon == NULL)
        return NULL;
    podvm_test_host_wait_listening(hosts->a);
    podvm_test_host_wait_listening(hosts->b);
    return g_steal_pointer(&hosts);
}

void
podvm_test_hosts_free(PodvmTestHosts *hosts)
{
    if (hosts == NULL)
        return;
    if (current_hosts == hosts)
        current_hosts = NULL;
    if (g_test_failed()) {
        print_log(hosts->a);
        print_log(hosts->b);
    }
    g_clear_pointer(&hosts->a, host_free);
    g_clear_pointer(&hosts->b, host_free);
    if (hosts->dir != NULL)
        podvm_test_rmrf(hosts->dir);
    g_free(hosts->dir);
    g_free(hosts);
}

void
podvm_test_hosts_set_link(PodvmTestHosts *hosts, gboolean up)
{
    LinkSetup setup = { NULL, -1, up };
    g_autoptr(GError) error = NULL;

    podvm_netns_run(hosts->a->netns_fd, link_setup_cb, &setup, &error);
    g_assert_no_error(error);
    podvm_netns_run(hosts->b->netns_fd, link_setup_cb, &setup, &error);
    g_assert_no_error(error);
}

/* ---- commands in a host ----------------------------------------------------------------- */

typedef struct {
    GAsyncResult *result;
} Waiter;

static void
waiter_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Waiter *waiter = user_data;

    (void)source;
    waiter->result = g_object_ref(result);
}

gboolean
podvm_test_host_run(PodvmTestHost *host, const char *const *argv, char **out_stdout, GError **error)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_autofree char *net = g_strdup_printf("--net=%s", host->netns_path);
    g_auto(GStrv) full = NULL;
    g_autoptr(GSubprocess) process = NULL;
    g_autofree char *out = NULL, *err = NULL;
    Waiter waiter = { NULL };
    gboolean ok;

    g_strv_builder_add_many(builder, "nsenter", net, "--", NULL);
    g_strv_builder_addv(builder, (const char **)argv);
    full = g_strv_builder_end(builder);
    process =
        g_subprocess_newv((const char *const *)full,
                          G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
    if (process == NULL)
        return FALSE;
    /* The main loop runs meanwhile: D-Bus calls of the test may be in flight. */
    g_subprocess_communicate_utf8_async(process, NULL, NULL, waiter_cb, &waiter);
    while (waiter.result == NULL)
        g_main_context_iteration(NULL, TRUE);
    ok = g_subprocess_communicate_utf8_finish(process, waiter.result, &out, &err, error);
    g_object_unref(waiter.result);
    if (!ok)
        return FALSE;
    if (!g_subprocess_get_if_exited(process) || g_subprocess_get_exit_status(process) != 0) {
        g_autofree char *command = g_strjoinv(" ", (char **)argv);

        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "'%s' in %s failed: %s", command,
                    host->name, err != NULL ? g_strstrip(err) : "");
        return FALSE;
    }
    if (out_stdout != NULL)
        *out_stdout = g_steal_pointer(&out);
    return TRUE;
}

guint
podvm_test_host_rest(PodvmTestHost *from, PodvmTestHost *target, const char *method,
                     const char *path, const char *token, const char *body, char **out_body)
{
    g_autofree char *url = g_strconcat(target->url, path, NULL);
    g_autofree char *auth = token != NULL ? g_strdup_printf("Authorization: Bearer %s", token)
                                          : g_strdup("X-No-Token: 1");
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;
    const char *argv[] = { "curl",       "-sS",
                           "--max-time", "120",
                           "--cacert",   target->cacert_path,
                           "-X",         method,
                           "-H",         auth,
                           "-H",         "Content-Type: application/json",
                           "-w",         "\n%{http_code}",
                           url,          body != NULL ? "--data-binary" : NULL,
                           body,         NULL };
    char *last;
    guint status;

    if (!podvm_test_host_run(from, argv, &out, &error)) {
        g_test_message("%s %s from %s: %s", method, url, from->name, error->message);
        if (out_body != NULL)
            *out_body = g_strdup("");
        return 0;
    }
    last = strrchr(out, '\n');
    g_assert_nonnull(last);
    status = (guint)g_ascii_strtoull(last + 1, NULL, 10);
    *last = '\0';
    if (out_body != NULL)
        *out_body = g_steal_pointer(&out);
    return status;
}

/* ---- podvmd of a host ------------------------------------------------------------------- */

void
podvm_test_host_kill9(PodvmTestHost *host)
{
    g_autoptr(GDBusConnection) bus = NULL;
    g_autoptr(GError) error = NULL;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    podvm_test_daemon_kill9(host->daemon);
    /*
     * The bus lets the name go when it sees the connection closed, a moment
     * later: a podvmd started before that could not own it.
     */
    bus = g_dbus_connection_new_for_address_sync(g_test_dbus_get_bus_address(host->daemon->bus),
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, &error);
    g_assert_no_error(error);
    for (;;) {
        g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
            bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "NameHasOwner", g_variant_new("(s)", BUS_NAME), G_VARIANT_TYPE("(b)"),
            G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        gboolean has_owner = TRUE;

        g_assert_no_error(error);
        g_variant_get(reply, "(b)", &has_owner);
        if (!has_owner)
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20000);
    }
    g_dbus_connection_close_sync(bus, NULL, NULL);
}

void
podvm_test_host_wait_listening(PodvmTestHost *host)
{
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

    while (podvm_test_host_rest(host, host, "GET", "/healthz", host->token, NULL, NULL) != 200) {
        if (g_get_monotonic_time() > deadline) {
            g_autofree char *log = NULL;

            g_file_get_contents(host->daemon->log_path, &log, NULL, NULL);
            g_error("%s: podvmd does not answer on %s within 20 s; its log:\n%s", host->name,
                    host->url, log != NULL ? log : "(none)");
        }
        g_usleep(100000);
    }
}

void
podvm_test_host_restart(PodvmTestHost *host)
{
    podvm_test_daemon_start(host->daemon);
    podvm_test_host_wait_listening(host);
}

char *
podvm_test_hosts_spec(const char *name, const char *kernel_args, const char *disk_capacity)
{
    g_autofree char *base = podvm_test_guest_spec_with(name, kernel_args, "interfaces",
                                                       PODVM_TEST_NET_MASQUERADE_IFACES, "networks",
                                                       PODVM_TEST_NET_POD_NETWORK);
    g_autoptr(JsonNode) root = NULL;
    JsonObject *spec, *devices;

    if (disk_capacity == NULL)
        return g_steal_pointer(&base);
    root = json_from_string(base, NULL);
    spec = json_object_get_object_member(json_node_get_object(root), "spec");
    devices =
        json_object_get_object_member(json_object_get_object_member(spec, "domain"), "devices");
    {
        JsonArray *disks = json_array_new();
        JsonObject *disk = json_object_new();
        JsonObject *bus = json_object_new();

        json_object_set_string_member(bus, "bus", "virtio");
        json_object_set_string_member(disk, "name", "data");
        json_object_set_object_member(disk, "disk", bus);
        json_array_add_object_element(disks, disk);
        json_object_set_array_member(devices, "disks", disks);
    }
    {
        JsonArray *volumes = json_array_new();
        JsonObject *volume = json_object_new();
        JsonObject *empty = json_object_new();

        json_object_set_string_member(empty, "capacity", disk_capacity);
        json_object_set_string_member(volume, "name", "data");
        json_object_set_object_member(volume, "emptyDisk", empty);
        json_array_add_object_element(volumes, volume);
        json_object_set_array_member(spec, "volumes", volumes);
    }
    return json_to_string(root, FALSE);
}

void
podvm_test_host_create_pod(PodvmTestHost *host, const char *spec)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    podvm_dbus_manager_call_create_pod_sync(host->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
}

void
podvm_test_host_start_pod(PodvmTestHost *host, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(host->daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_no_error(error);
}

gboolean
podvm_test_host_has_pod(PodvmTestHost *host, const char *name)
{
    g_autofree char *path = NULL;

    if (host->daemon == NULL || host->daemon->manager == NULL)
        return FALSE;
    return podvm_dbus_manager_call_get_pod_sync(host->daemon->manager, name, &path, NULL, NULL);
}

void
podvm_test_host_wait_phase(PodvmTestHost *host, const char *name, const char *phase,
                           guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autofree char *now = NULL;

    for (;;) {
        g_free(now);
        now = podvm_test_daemon_phase(host->daemon, name);
        if (g_strcmp0(now, phase) == 0)
            return;
        if (g_get_monotonic_time() > deadline)
            break;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(50000);
    }
    podvm_test_hosts_fail("%s: pod '%s' is %s, not %s, after %u ms", host->name, name,
                          now != NULL ? now : "(gone)", phase, timeout_ms);
}

gboolean
podvm_test_host_wait_no_pod(PodvmTestHost *host, const char *name, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (podvm_test_host_has_pod(host, name)) {
        if (g_get_monotonic_time() > deadline)
            return FALSE;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(50000);
    }
    return TRUE;
}

/* ---- console ---------------------------------------------------------------------------- */

char *
podvm_test_host_console(PodvmTestHost *host, const char *name)
{
    g_autofree char *log = podvm_test_daemon_console_log(host->daemon, name);
    char *text = NULL;

    if (!g_file_get_contents(log, &text, NULL, NULL))
        return g_strdup("");
    return text;
}

void
podvm_test_host_wait_console(PodvmTestHost *host, const char *name, const char *needle,
                             guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        g_autofree char *text = podvm_test_host_console(host, name);

        if (strstr(text, needle) != NULL)
            return;
        if (g_get_monotonic_time() > deadline)
            podvm_test_hosts_fail(
                "%s: pod '%s': no \"%s\" on the console within %u ms; console:\n%s", host->name,
                name, needle, timeout_ms, text);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(100000);
    }
}

#define HEARTBEAT "PODVM-HEARTBEAT "

/* Parses the heartbeat line at @line; FALSE unless it is complete. */
static gboolean
heartbeat_parse(const char *line, char **out_boot_id, guint64 *out_n)
{
    const char *end = strpbrk(line, "\r\n");
    g_autofree char *text = NULL;
    g_auto(GStrv) words = NULL;
    char *number_end = NULL;
    guint64 n;

    if (end == NULL)
        return FALSE;
    text = g_strndup(line + strlen(HEARTBEAT), (gsize)(end - line) - strlen(HEARTBEAT));
    words = g_strsplit(g_strstrip(text), " ", -1);
    if (g_strv_length(words) < 2)
        return FALSE;
    n = g_ascii_strtoull(words[1], &number_end, 10);
    if (number_end == words[1] || *number_end != '\0')
        return FALSE;
    if (out_boot_id != NULL)
        *out_boot_id = g_strdup(words[0]);
    if (out_n != NULL)
        *out_n = n;
    return TRUE;
}

gboolean
podvm_test_heartbeat_last(const char *text, char **out_boot_id, guint64 *out_n)
{
    for (const char *p = g_strrstr(text, HEARTBEAT); p != NULL;
         p = g_strrstr_len(text, p - text, HEARTBEAT)) {
        if (heartbeat_parse(p, out_boot_id, out_n))
            return TRUE;
        if (p == text)
            break;
    }
    return FALSE;
}

gboolean
podvm_test_heartbeat_first(const char *text, char **out_boot_id, guint64 *out_n)
{
    for (const char *p = strstr(text, HEARTBEAT); p != NULL; p = strstr(p + 1, HEARTBEAT)) {
        if (heartbeat_parse(p, out_boot_id, out_n))
            return TRUE;
    }
    return FALSE;
}

guint64
podvm_test_host_wait_heartbeat(PodvmTestHost *host, const char *name, guint64 after,
                               char **out_boot_id, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        g_autofree char *text = podvm_test_host_console(host, name);
        g_autofree char *boot_id = NULL;
        guint64 n = 0;

        if (podvm_test_heartbeat_last(text, &boot_id, &n) && n > after) {
            if (out_boot_id != NULL)
                *out_boot_id = g_steal_pointer(&boot_id);
            return n;
        }
        if (g_get_monotonic_time() > deadline)
            podvm_test_hosts_fail("%s: pod '%s': no heartbeat past %" G_GUINT64_FORMAT
                                  " within %u ms; console:\n%s",
                                  host->name, name, after, timeout_ms, text);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(100000);
    }
}

/* ---- processes -------------------------------------------------------------------------- */

GArray *
podvm_test_qemu_pids_with_uuid(const char *uid)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *entry;

    g_assert_nonnull(proc);
    while ((entry = g_dir_read_name(proc)) != NULL) {
        g_autofree char *path = NULL, *cmdline = NULL;
        gsize length = 0;
        int pid;

        if (entry[strspn(entry, "0123456789")] != '\0')
            continue;
        pid = atoi(entry);
        path = g_strdup_printf("/proc/%s/cmdline", entry);
        if (!g_file_get_contents(path, &cmdline, &length, NULL) || length == 0)
            continue;
        if (memmem(cmdline, length, "qemu-system", 11) == NULL)
            continue;
        /* NUL-separated arguments: "-uuid" then the uid. */
        for (gsize off = 0; off < length;) {
            const char *arg = cmdline + off;

            off += strlen(arg) + 1;
            if (g_str_equal(arg, "-uuid") && off < length && g_str_equal(cmdline + off, uid)) {
                g_array_append_val(pids, pid);
                break;
            }
        }
    }
    return pids;
}

gboolean
podvm_test_host_owns_pid(PodvmTestHost *host, int pid)
{
    g_autofree char *fd_dir = g_strdup_printf("/proc/%d/fd", pid);
    g_autoptr(GDir) dir = g_dir_open(fd_dir, 0, NULL);
    g_autofree char *prefix = g_strconcat(host->daemon->tmpdir, "/", NULL);
    const char *entry;

    while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
        g_autofree char *link = g_build_filename(fd_dir, entry, NULL);
        g_autofree char *target = g_file_read_link(link, NULL);

        if (target != NULL && g_str_has_prefix(target, prefix))
            return TRUE;
    }
    return FALSE;
}

/* ---- migration through D-Bus ------------------------------------------------------------ */

struct _PodvmTestMigrateCall {
    GAsyncResult *result;
    GDBusConnection *connection;
};

static void
migrate_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    PodvmTestMigrateCall *call = user_data;

    (void)source;
    call->result = g_object_ref(result);
}

PodvmTestMigrateCall *
podvm_test_host_migrate_begin(PodvmTestHost *host, const char *name, const char *options_json,
                              guint timeout_ms)
{
    PodvmTestMigrateCall *call = g_new0(PodvmTestMigrateCall, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    podvm_dbus_manager_call_get_pod_sync(host->daemon->manager, name, &path, NULL, &error);
    g_assert_no_error(error);
    call->connection = g_object_ref(host->daemon->connection);
    g_dbus_connection_call(call->connection, BUS_NAME, path, POD_INTERFACE, "Migrate",
                           g_variant_new("(s)", options_json), G_VARIANT_TYPE("(s)"),
                           G_DBUS_CALL_FLAGS_NONE, (int)timeout_ms, NULL, migrate_done_cb, call);
    return call;
}

gboolean
podvm_test_migrate_call_done(PodvmTestMigrateCall *call)
{
    g_main_context_iteration(NULL, FALSE);
    return call->result != NULL;
}

char *
podvm_test_host_migrate_end(PodvmTestMigrateCall *call, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    char *result = NULL;

    while (call->result == NULL)
        g_main_context_iteration(NULL, TRUE);
    reply = g_dbus_connection_call_finish(call->connection, call->result, error);
    if (reply != NULL)
        g_variant_get(reply, "(s)", &result);
    else if (error != NULL && *error != NULL)
        g_dbus_error_strip_remote_error(*error);
    g_object_unref(call->result);
    g_object_unref(call->connection);
    g_free(call);
    return result;
}

char *
podvm_test_host_migrate(PodvmTestHost *host, const char *name, const char *options_json,
                        guint timeout_ms, GError **error)
{
    return podvm_test_host_migrate_end(
        podvm_test_host_migrate_begin(host, name, options_json, timeout_ms), error);
}

JsonObject *
podvm_test_host_migration_state(PodvmTestHost *host, const char *name)
{
    g_autoptr(JsonObject) status = NULL;

    if (!podvm_test_host_has_pod(host, name))
        return NULL;
    status = podvm_test_daemon_status(host->daemon, name);
    if (!json_object_has_member(status, "migrationState") ||
        !JSON_NODE_HOLDS_OBJECT(json_object_get_member(status, "migrationState")))
        return NULL;
    return json_object_ref(json_object_get_object_member(status, "migrationState"));
}
