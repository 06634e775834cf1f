/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl attach-nic and detach-nic against a real podvmd on a private
 * bus, on a pod without QEMU (where both only edit the stored spec): the
 * interface and its network appear in `podvmctl show` and go again; a
 * refused attachment names its path and changes nothing; detaching an
 * unknown NIC fails. Pod.AttachInterface/DetachInterface are the daemon's;
 * while a podvmd does not implement them these tests skip, saying so.
 */
#include <gio/gio.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new();
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
}

/* Creates the stopped pod "web" (the test guest, no interfaces). */
static void
create_pod(Fixture *f)
{
    g_autofree char *spec = podvm_test_guest_spec("web", NULL, NULL, 5);
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
}

/* TRUE after g_test_skip() when podvmd has no handler for the method. */
static gboolean
not_implemented(int status, const char *err)
{
    if (status == 1 && err != NULL && strstr(err, "not implemented") != NULL) {
        g_test_skip("this podvmd does not implement Pod.AttachInterface/DetachInterface yet");
        return TRUE;
    }
    return FALSE;
}

/* The pod's spec as `podvmctl show` prints it. */
static JsonObject *
shown_spec(Fixture *f)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "show", "web", NULL), ==, 0);
    json_parser_load_from_data(parser, out, -1, &error);
    g_assert_no_error(error);
    return json_object_ref(
        json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "spec"));
}

static JsonArray *
member_array(JsonObject *object, const char *member)
{
    return object != NULL && json_object_has_member(object, member)
               ? json_object_get_array_member(object, member)
               : NULL;
}

static JsonArray *
shown_interfaces(JsonObject *spec)
{
    JsonObject *domain = json_object_get_object_member(spec, "domain");
    JsonObject *devices = json_object_get_object_member(domain, "devices");

    return member_array(devices, "interfaces");
}

static void
test_attach_detach(Fixture *f, gconstpointer data)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(JsonObject) spec = NULL;
    g_autoptr(JsonObject) after = NULL;
    JsonArray *interfaces;
    JsonArray *networks;
    JsonObject *iface;
    int status;

    if (f->daemon == NULL)
        return;
    create_pod(f);

    status = podvm_test_ctl(f->daemon, &out, &err, "attach-nic", "web", "--name", "default",
                            "--binding", "masquerade", "--port", "80", "--port", "8053:53/udp",
                            "--mac", "02:00:00:00:00:07", NULL);
    if (not_implemented(status, err))
        return;
    g_assert_cmpint(status, ==, 0);
    g_assert_nonnull(strstr(out, "interface default attached to web"));

    spec = shown_spec(f);
    interfaces = shown_interfaces(spec);
    networks = member_array(spec, "networks");
    g_assert_nonnull(interfaces);
    g_assert_nonnull(networks);
    g_assert_cmpuint(json_array_get_length(interfaces), ==, 1);
    g_assert_cmpuint(json_array_get_length(networks), ==, 1);
    iface = json_array_get_object_element(interfaces, 0);
    g_assert_cmpstr(json_object_get_string_member(iface, "name"), ==, "default");
    g_assert_true(json_object_has_member(iface, "masquerade"));
    g_assert_cmpstr(json_object_get_string_member(iface, "macAddress"), ==, "02:00:00:00:00:07");
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(iface, "ports")), ==, 2);
    g_assert_true(json_object_has_member(json_array_get_object_element(networks, 0), "pod"));

    g_clear_pointer(&out, g_free);
    g_assert_cmpint(podvm_test_ctl(f->daemon, &out, NULL, "detach-nic", "web", "default", NULL), ==,
                    0);
    g_assert_nonnull(strstr(out, "interface default detached from web"));
    after = shown_spec(f);
    g_assert_null(shown_interfaces(after));
    g_assert_null(member_array(after, "networks"));
}

static void
test_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *err = NULL;
    g_autofree char *err_detach = NULL;
    g_autoptr(JsonObject) spec = NULL;
    int status;

    if (f->daemon == NULL)
        return;
    create_pod(f);

    /* A multicast MAC: the daemon's parser refuses it with its path; the spec is unchanged. */
    status = podvm_test_ctl(f->daemon, NULL, &err, "attach-nic", "web", "--name", "default",
                            "--binding", "masquerade", "--mac", "01:00:5e:00:00:01", NULL);
    if (not_implemented(status, err))
        return;
    g_assert_cmpint(status, ==, 1);
    g_assert_nonnull(strstr(err, "interface.macAddress"));
    g_assert_nonnull(strstr(err, "multicast"));
    spec = shown_spec(f);
    g_assert_null(shown_interfaces(spec));

    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, &err_detach, "detach-nic", "web", "nope", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err_detach, "nope"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add("/podvm/daemon/ctl/nic/attach-detach", Fixture, NULL, fixture_setup,
               test_attach_detach, fixture_teardown);
    g_test_add("/podvm/daemon/ctl/nic/refused", Fixture, NULL, fixture_setup, test_refused,
               fixture_teardown);
    return g_test_run();
}
