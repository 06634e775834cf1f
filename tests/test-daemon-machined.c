/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pods as machines of systemd-machined (podvm-machined.c): the
 * RegisterMachine call podvmd makes, against a stand-in for machined on a
 * private bus; what happens when machined is absent, and when QEMU never
 * left podvmd's cgroup; and, where the real machined runs, a machine it
 * lists.
 */
#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "podvm-machined.h"
#include "podvm-test-util.h"

#define UID "8694f1ea-a33f-441d-aaa1-0ee6ab6d88b7"

static const char machined_xml[] =
    "<node><interface name='org.freedesktop.machine1.Manager'>"
    "<method name='RegisterMachine'>"
    "<arg name='name' type='s' direction='in'/><arg name='id' type='ay' direction='in'/>"
    "<arg name='service' type='s' direction='in'/><arg name='class' type='s' direction='in'/>"
    "<arg name='leader' type='u' direction='in'/><arg name='root' type='s' direction='in'/>"
    "<arg name='path' type='o' direction='out'/>"
    "</method></interface></node>";

typedef struct {
    GVariant *call; /* the parameters of the last RegisterMachine */
} FakeMachined;

static void
method_cb(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
          const char *method, GVariant *parameters, GDBusMethodInvocation *invocation,
          gpointer user_data)
{
    FakeMachined *fake = user_data;

    g_clear_pointer(&fake->call, g_variant_unref);
    fake->call = g_variant_ref(parameters);
    g_dbus_method_invocation_return_value(
        invocation, g_variant_new("(o)", "/org/freedesktop/machine1/machine/podvm_2dsvc"));
}

static const GDBusInterfaceVTable vtable = { method_cb, NULL, NULL, { 0 } };

typedef struct {
    gboolean done;
    gboolean ok;
    GError *error;
} Outcome;

static void
registered_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Outcome *outcome = user_data;

    outcome->ok = podvm_machined_register_finish(result, &outcome->error);
    outcome->done = TRUE;
}

static gboolean
outcome_done(gpointer user_data)
{
    return ((Outcome *)user_data)->done;
}

static GDBusConnection *
connect_bus(GTestDBus *bus)
{
    g_autoptr(GError) error = NULL;
    GDBusConnection *connection =
        g_dbus_connection_new_for_address_sync(g_test_dbus_get_bus_address(bus),
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);

    g_assert_no_error(error);
    return connection;
}

/* The call: name podvm-NAME, the uid's 16 bytes, service podvm, class vm, the leader. */
static void
test_register_call(void)
{
    g_autoptr(GTestDBus) bus = g_test_dbus_new(G_TEST_DBUS_NONE);
    g_autoptr(GDBusConnection) service = NULL;
    g_autoptr(GDBusConnection) client = NULL;
    g_autoptr(GDBusNodeInfo) info = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) id = NULL;
    FakeMachined fake = { 0 };
    Outcome outcome = { 0 };
    const char *name, *service_name, *class_name, *root;
    const guint8 *bytes;
    gsize n_bytes = 0;
    guint32 leader;
    guint object_id;

    g_test_dbus_up(bus);
    service = connect_bus(bus);
    client = connect_bus(bus);
    info = g_dbus_node_info_new_for_xml(machined_xml, &error);
    g_assert_no_error(error);
    object_id = g_dbus_connection_register_object(
        service, "/org/freedesktop/machine1", info->interfaces[0], &vtable, &fake, NULL, &error);
    g_assert_no_error(error);
    {
        g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
            service, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "RequestName", g_variant_new("(su)", "org.freedesktop.machine1", 0),
            G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        g_assert_no_error(error);
    }

    podvm_machined_register_async(client, "svc", UID, 4242, FALSE, NULL, registered_cb, &outcome);
    g_assert_true(podvm_test_wait_until(outcome_done, &outcome, 10000));
    g_assert_no_error(outcome.error);
    g_assert_true(outcome.ok);
    g_assert_nonnull(fake.call);
    g_variant_get(fake.call, "(&s@ay&s&su&s)", &name, &id, &service_name, &class_name, &leader,
                  &root);
    g_assert_cmpstr(name, ==, "podvm-svc");
    g_assert_cmpstr(service_name, ==, "podvm");
    g_assert_cmpstr(class_name, ==, "vm");
    g_assert_cmpuint(leader, ==, 4242);
    g_assert_cmpstr(root, ==, "");
    bytes = g_variant_get_fixed_array(id, &n_bytes, 1);
    g_assert_cmpuint(n_bytes, ==, 16);
    g_assert_cmpuint(bytes[0], ==, 0x86);
    g_assert_cmpuint(bytes[1], ==, 0x94);
    g_assert_cmpuint(bytes[15], ==, 0xb7);

    g_dbus_connection_unregister_object(service, object_id);
    g_clear_pointer(&fake.call, g_variant_unref);
    g_clear_object(&service);
    g_clear_object(&client);
    g_test_dbus_down(bus);
}

/* No machined on the bus: an error that says so (podvmd logs one line and carries on). */
static void
test_no_machined(void)
{
    g_autoptr(GTestDBus) bus = g_test_dbus_new(G_TEST_DBUS_NONE);
    g_autoptr(GDBusConnection) client = NULL;
    Outcome outcome = { 0 };

    g_test_dbus_up(bus);
    client = connect_bus(bus);
    podvm_machined_register_async(client, "svc", UID, 4242, FALSE, NULL, registered_cb, &outcome);
    g_assert_true(podvm_test_wait_until(outcome_done, &outcome, 10000));
    g_assert_false(outcome.ok);
    g_assert_true(g_error_matches(outcome.error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
                  g_error_matches(outcome.error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER));
    g_clear_error(&outcome.error);
    g_clear_object(&client);
    g_test_dbus_down(bus);
}

/*
 * A leader still in podvmd's own cgroup (no scope of its own) is never
 * registered: machined would take podvmd's unit for the machine's.
 */
static void
test_leader_without_scope(void)
{
    g_autoptr(GTestDBus) bus = g_test_dbus_new(G_TEST_DBUS_NONE);
    g_autoptr(GDBusConnection) client = NULL;
    Outcome outcome = { 0 };

    g_test_dbus_up(bus);
    client = connect_bus(bus);
    /* This process is in its own cgroup, as a QEMU that did not move would be in podvmd's. */
    podvm_machined_register_async(client, "svc", UID, getpid(), TRUE, NULL, registered_cb,
                                  &outcome);
    g_assert_true(podvm_test_wait_until(outcome_done, &outcome, 20000));
    g_assert_false(outcome.ok);
    g_assert_nonnull(strstr(outcome.error->message, "did not get a scope of its own"));
    g_clear_error(&outcome.error);
    g_clear_object(&client);
    g_test_dbus_down(bus);
}

/* The real machined, where it runs: a process in a scope of its own becomes a listed machine. */
static void
test_real_machined(void)
{
    g_autoptr(GDBusConnection) system = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, NULL);
    g_autoptr(GVariant) owner = NULL;
    g_autoptr(GSubprocess) scope = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *unit = NULL;
    g_autofree char *name = NULL;
    g_autofree char *machine = NULL;
    Outcome outcome = { 0 };
    int pid;

    if (system != NULL)
        owner = g_dbus_connection_call_sync(
            system, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetNameOwner", g_variant_new("(s)", "org.freedesktop.machine1"), G_VARIANT_TYPE("(s)"),
            G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
    if (owner == NULL) {
        g_test_skip("systemd-machined is not running on the system bus here (no systemd as PID "
                    "1, or no systemd-container): the RegisterMachine call is checked against a "
                    "stand-in instead");
        return;
    }
    if (geteuid() != 0 || g_find_program_in_path("systemd-run") == NULL) {
        g_test_skip("registering a machine needs root and systemd-run");
        return;
    }
    /* A process in a scope of its own, as podvm-cgroup.c gives QEMU. */
    name = g_strdup_printf("podvmtest%d", (int)getpid());
    unit = g_strdup_printf("podvm-%s.scope", name);
    scope = g_subprocess_new(G_SUBPROCESS_FLAGS_NONE, &error, "systemd-run", "--scope", "--quiet",
                             "--collect", "--unit", unit, "sleep", "60", NULL);
    g_assert_no_error(error);
    g_usleep(G_USEC_PER_SEC);
    pid = atoi(g_subprocess_get_identifier(scope));
    podvm_machined_register_async(system, name, UID, pid, TRUE, NULL, registered_cb, &outcome);
    g_assert_true(podvm_test_wait_until(outcome_done, &outcome, 20000));
    g_assert_no_error(outcome.error);
    machine = podvm_machined_machine_name(name);
    {
        g_autoptr(GVariant) path = g_dbus_connection_call_sync(
            system, "org.freedesktop.machine1", "/org/freedesktop/machine1",
            "org.freedesktop.machine1.Manager", "GetMachine", g_variant_new("(s)", machine),
            G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        g_assert_no_error(error);
    }
    /* When the leader ends, the machine goes. */
    g_subprocess_send_signal(scope, SIGKILL);
    g_subprocess_wait(scope, NULL, NULL);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/machined/register-call", test_register_call);
    g_test_add_func("/podvm/daemon/machined/no-machined", test_no_machined);
    g_test_add_func("/podvm/daemon/machined/leader-without-scope", test_leader_without_scope);
    g_test_add_func("/podvm/daemon/machined/real", test_real_machined);
    return g_test_run();
}
