/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest agent end to end: a real podvmd, the test guest running
 * Debian's qemu-guest-agent (tests/guest/build-guest.sh) behind a
 * masquerade interface, in a network and mount namespace of the test's own.
 * One boot: the AgentConnected condition, status.guestOSInfo with the
 * guest's kernel release, podvmctl guestosinfo and REST's guestosinfo,
 * status.interfaces[] with what the agent reports (the guest's name for
 * the NIC, its link-local address), freeze and unfreeze, then a stop with
 * the agent hung (SIGSTOP in the guest): guest-shutdown gets no answer and
 * the stop falls back to ACPI. A second boot: a stop that goes through
 * guest-shutdown (the guest's /sbin/shutdown says so on the console).
 * The protocol's edge cases are in test-daemon-guest-agent.c.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS PODVM_TEST_NET_BOOT_TIMEOUT_MS
#define AGENT_TIMEOUT_MS 60000

/* The guest build's word on qemu-guest-agent: NULL when the guest has it, else why not. */
static char *
agent_missing(void)
{
    g_autofree char *dir = g_strdup(g_getenv("PODVM_GUEST_DIR"));
    g_autofree char *path =
        g_build_filename(dir != NULL ? dir : "tests/guest", "guest-agent", NULL);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup_printf("the test guest says nothing of a guest agent (%s)", path);
    g_strstrip(text);
    if (g_str_has_prefix(text, "qemu-ga "))
        return NULL;
    return g_strdup_printf("the test guest has no qemu-guest-agent: %s", text);
}

static char *
guest_kernel_release(void)
{
    g_autofree char *dir = g_strdup(g_getenv("PODVM_GUEST_DIR"));
    g_autofree char *path =
        g_build_filename(dir != NULL ? dir : "tests/guest", "kernel-version", NULL);
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return g_strstrip(text);
}

/* The condition @type of the pod's status (a new reference), or NULL. */
static JsonObject *
condition(PodvmTestNet *f, const char *name, const char *type)
{
    g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);
    JsonArray *conditions;

    if (!json_object_has_member(status, "conditions"))
        return NULL;
    conditions = json_object_get_array_member(status, "conditions");
    for (guint i = 0; i < json_array_get_length(conditions); i++) {
        JsonObject *c = json_array_get_object_element(conditions, i);

        if (g_strcmp0(json_object_get_string_member_with_default(c, "type", NULL), type) == 0)
            return json_object_ref(c);
    }
    return NULL;
}

static void
wait_agent_connected(PodvmTestNet *f, const char *name)
{
    gint64 deadline = g_get_monotonic_time() + AGENT_TIMEOUT_MS * 1000LL;

    for (;;) {
        g_autoptr(JsonObject) c = condition(f, name, "AgentConnected");

        if (c != NULL) {
            g_assert_cmpstr(json_object_get_string_member(c, "status"), ==, "True");
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            g_autofree char *console = podvm_test_daemon_console_log(f->daemon, name);

            g_error("pod '%s': the guest agent never connected; console:\n%s", name, console);
        }
        g_usleep(200 * 1000);
    }
}

/* Waits until status.@member (a string) is @value. */
static void
wait_status_string(PodvmTestNet *f, const char *name, const char *member, const char *value)
{
    gint64 deadline = g_get_monotonic_time() + AGENT_TIMEOUT_MS * 1000LL;
    g_autofree char *now = NULL;

    do {
        g_free(now);
        now = podvm_test_net_status_string(f, name, member);
        if (g_strcmp0(now, value) == 0)
            return;
        g_usleep(200 * 1000);
    } while (g_get_monotonic_time() < deadline);
    g_error("status.%s never became %s (last: %s)", member, value, now != NULL ? now : "none");
}

/* status.interfaces[0] once it has an address of the agent's (IPv6 link-local). */
static JsonObject *
wait_agent_interface(PodvmTestNet *f, const char *name)
{
    gint64 deadline = g_get_monotonic_time() + AGENT_TIMEOUT_MS * 1000LL;
    g_autofree char *last = NULL;

    do {
        g_autoptr(JsonObject) status = podvm_test_daemon_status(f->daemon, name);
        JsonArray *interfaces = json_object_has_member(status, "interfaces")
                                    ? json_object_get_array_member(status, "interfaces")
                                    : NULL;
        JsonObject *iface = interfaces != NULL && json_array_get_length(interfaces) > 0
                                ? json_array_get_object_element(interfaces, 0)
                                : NULL;
        JsonArray *addresses = iface != NULL && json_object_has_member(iface, "ipAddresses")
                                   ? json_object_get_array_member(iface, "ipAddresses")
                                   : NULL;

        for (guint i = 0; addresses != NULL && i < json_array_get_length(addresses); i++) {
            if (g_str_has_prefix(json_array_get_string_element(addresses, i), "fe80:"))
                return json_object_ref(iface);
        }
        if (iface != NULL) {
            g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), iface);

            g_free(last);
            last = json_to_string(node, FALSE);
        }
        g_usleep(500 * 1000);
    } while (g_get_monotonic_time() < deadline);
    g_error("status.interfaces[0] never had the agent's link-local address (last: %s)",
            last != NULL ? last : "none");
    return NULL;
}

/*
 * The test guest behind a masquerade interface, with an emptyDisk the guest
 * makes an ext2 filesystem on and mounts (what fsfreeze freezes: qemu-ga
 * reports no freeze when no filesystem on a block device is mounted).
 */
static char *
agent_spec(void)
{
    g_autofree char *base = podvm_test_net_spec("agent", "podvm.mkfs=vda",
                                                "[{\"name\": \"default\", \"masquerade\": {}}]",
                                                PODVM_TEST_NET_POD_NETWORK);
    g_autoptr(JsonNode) root = json_from_string(base, NULL);
    JsonObject *spec = json_object_get_object_member(json_node_get_object(root), "spec");
    JsonObject *devices =
        json_object_get_object_member(json_object_get_object_member(spec, "domain"), "devices");
    g_autoptr(JsonNode) disks =
        json_from_string("[{\"name\": \"data\", \"disk\": {\"bus\": \"virtio\"}}]", NULL);
    g_autoptr(JsonNode) volumes =
        json_from_string("[{\"name\": \"data\", \"emptyDisk\": {\"capacity\": \"16Mi\"}}]", NULL);

    json_object_set_member(devices, "disks", g_steal_pointer(&disks));
    json_object_set_member(spec, "volumes", g_steal_pointer(&volumes));
    return json_to_string(root, FALSE);
}

static void
stop_pod(PodvmTestNet *f, const char *name, gint64 *out_ms)
{
    gint64 started = g_get_monotonic_time();
    g_autofree char *err = NULL;

    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err, "stop", "--grace", "60", name, NULL), ==,
                    0);
    *out_ms = (g_get_monotonic_time() - started) / 1000;
}

static void
test_agent(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *missing = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *release = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *socket = NULL;
    g_autofree char *rest = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_autoptr(JsonObject) iface = NULL;
    g_autoptr(JsonNode) info = NULL;
    JsonObject *os;
    gint64 stop_ms;
    guint acpi, agent_shutdowns;

    if (f->daemon == NULL)
        return;
    missing = agent_missing();
    if (missing != NULL) {
        g_test_skip(missing);
        return;
    }
    release = guest_kernel_release();
    spec = agent_spec();
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "agent");
    podvm_test_net_wait_console(f, "agent", "PODVM-GUEST-READY", BOOT_TIMEOUT_MS);
    podvm_test_net_wait_console(f, "agent", "PODVM-MOUNTED vda", AGENT_TIMEOUT_MS);
    podvm_test_net_wait_console(f, "agent", "PODVM-AGENT-STARTED", AGENT_TIMEOUT_MS);
    wait_agent_connected(f, "agent");

    /* status.guestOSInfo: the guest's kernel and its os-release, with KubeVirt's names. */
    wait_status_string(f, "agent", "fsFreezeStatus", "thawed");
    status = podvm_test_daemon_status(f->daemon, "agent");
    g_assert_true(json_object_has_member(status, "guestOSInfo"));
    os = json_object_get_object_member(status, "guestOSInfo");
    g_assert_cmpstr(json_object_get_string_member(os, "kernelRelease"), ==, release);
    g_assert_cmpstr(json_object_get_string_member(os, "prettyName"), ==, "podvm test guest");
    g_assert_cmpstr(json_object_get_string_member(os, "id"), ==, "podvm-test-guest");
    g_assert_cmpstr(json_object_get_string_member(os, "machine"), ==, "x86_64");

    /* podvmctl guestosinfo, as virtctl: asked of the agent now. */
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "guestosinfo", "agent", NULL), ==, 0);
    info = json_from_string(out, NULL);
    g_assert_nonnull(info);
    os = json_object_get_object_member(json_node_get_object(info), "os");
    g_assert_cmpstr(json_object_get_string_member(os, "kernelRelease"), ==, release);
    g_assert_true(g_str_has_prefix(
        json_object_get_string_member(json_node_get_object(info), "guestAgentVersion"), "7."));

    /* REST's subresource, the same core call. */
    socket = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    {
        const char *argv[] = {
            "curl", "-s", "--unix-socket", socket, "http://localhost/v1/pods/agent/guestosinfo",
            NULL
        };

        rest = podvm_test_net_run(argv);
        g_assert_nonnull(strstr(rest, release));
    }

    /* The NIC as the agent sees it, merged with what podvm knows. */
    iface = wait_agent_interface(f, "agent");
    g_assert_cmpstr(json_object_get_string_member(iface, "interfaceName"), ==, "eth0");
    g_assert_cmpstr(json_object_get_string_member(iface, "infoSource"), ==, "domain, guest-agent");
    g_assert_cmpstr(json_object_get_string_member(iface, "ipAddress"), ==, "10.0.2.2");

    /* Freeze and thaw: the answers and the status say so. */
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "freeze", "agent", NULL), ==, 0);
    g_assert_cmpstr(g_strstrip(out), ==, "frozen");
    /* The note for a guest with nothing to freeze is not for this one. */
    g_assert_null(strstr(err, "no filesystem"));
    wait_status_string(f, "agent", "fsFreezeStatus", "frozen");
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "unfreeze", "agent", NULL), ==, 0);
    g_assert_cmpstr(g_strstrip(out), ==, "thawed");
    wait_status_string(f, "agent", "fsFreezeStatus", "thawed");

    /*
     * A hung agent: guest-shutdown gets no answer (not even to its sync),
     * and the stop goes on with ACPI: the guest's power button handler
     * powers it off, /sbin/shutdown never runs.
     */
    podvm_test_console_type(f->daemon, "agent", "podvm-agent stop");
    podvm_test_net_wait_console(f, "agent", "PODVM-AGENT stopped", AGENT_TIMEOUT_MS);
    stop_pod(f, "agent", &stop_ms);
    g_test_message("stop with a hung agent: %" G_GINT64_FORMAT " ms", stop_ms);
    g_assert_cmpuint(podvm_test_net_console_count(f, "agent", "PODVM-GUEST-POWEROFF"), ==, 1);
    g_assert_cmpuint(podvm_test_net_console_count(f, "agent", "PODVM-AGENT-SHUTDOWN"), ==, 0);
    /* Not before the agent's sync timed out (5 s), well before the grace period. */
    g_assert_cmpint(stop_ms, >=, 4500);
    g_assert_cmpint(stop_ms, <, 45000);
    g_assert_null(condition(f, "agent", "AgentConnected"));

    /* Again, with the agent well: the stop goes through guest-shutdown. */
    acpi = podvm_test_net_console_count(f, "agent", "PODVM-GUEST-POWEROFF");
    agent_shutdowns = podvm_test_net_console_count(f, "agent", "PODVM-AGENT-SHUTDOWN");
    podvm_test_net_start_pod(f, "agent");
    podvm_test_net_wait_console_again(f, "agent", "PODVM-GUEST-READY", 1, BOOT_TIMEOUT_MS);
    wait_agent_connected(f, "agent");
    stop_pod(f, "agent", &stop_ms);
    g_test_message("stop through guest-shutdown: %" G_GINT64_FORMAT " ms", stop_ms);
    g_assert_cmpuint(podvm_test_net_console_count(f, "agent", "PODVM-AGENT-SHUTDOWN"), ==,
                     agent_shutdowns + 1);
    g_assert_cmpuint(podvm_test_net_console_count(f, "agent", "PODVM-GUEST-POWEROFF"), ==, acpi);
    g_assert_cmpint(stop_ms, <, 45000);
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/net/agent/end-to-end", PodvmTestNet, NULL, podvm_test_net_setup, test_agent,
               podvm_test_net_teardown);
    return g_test_run();
}
