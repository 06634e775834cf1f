/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest's networking (tests/guest/init, dhcp4-script), booted in
 * QEMU directly (no podvmd) with user networking, whose built-in DHCP
 * server gives 10.0.2.15 (router 10.0.2.2, DNS 10.0.2.3) and whose 10.0.2.2
 * leads to this namespace's loopback:
 * - a virtio NIC gets its lease and the guest says so (PODVM-NET,
 *   PODVM-NET-CONF) and takes the RA's prefix (PODVM-ADDR6); its page is
 *   served on ports 80 and 8081 (host forwards); podvm.fetch fetches a page
 *   from this test, podvm.ping pings;
 * - on Debian's generic kernel, e1000 and rtl8139 NICs get leases too;
 * - a NIC plugged in later (QMP device_add) is set up; unplugged, it is
 *   reported gone.
 * Other tests rely on these markers when they check podvmd's bindings.
 */
#include <locale.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-netlink.h"
#include "podvm-qmp-client.h"
#include "podvm-test-netns.h"
#include "podvm-test-outside.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS (180 * 1000)

static char *netns_skip_reason;

typedef struct {
    char *dir;
    char *console;
    char *qmp;
    GSubprocess *qemu;
} Vm;

static void
die_with_parent(gpointer user_data)
{
    (void)user_data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* QEMU with @kernel/@initrd, the kernel command line @append, a PCIe root port (rp1) free for
 * a hotplugged NIC, and the NICs in @extra (argv pieces). */
static void
vm_start(Vm *vm, const char *kernel, const char *initrd, const char *append,
         const char *const *extra)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GError) error = NULL;

    vm->dir = podvm_test_mkdtemp();
    vm->console = g_build_filename(vm->dir, "console.log", NULL);
    vm->qmp = g_build_filename(vm->dir, "qmp.sock", NULL);
    g_ptr_array_add(argv, g_strdup(podvm_test_qemu_binary()));
    for (const char *const *a =
             (const char *const[]){ "-nodefaults", "-machine", "q35,accel=tcg", "-cpu", "max", "-m",
                                    "256", "-display", "none", NULL };
         *a != NULL; a++)
        g_ptr_array_add(argv, g_strdup(*a));
    g_ptr_array_add(argv, g_strdup("-serial"));
    g_ptr_array_add(argv, g_strdup_printf("file:%s", vm->console));
    g_ptr_array_add(argv, g_strdup("-qmp"));
    g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off", vm->qmp));
    g_ptr_array_add(argv, g_strdup("-device"));
    g_ptr_array_add(argv, g_strdup("pcie-root-port,id=rp1,chassis=1"));
    g_ptr_array_add(argv, g_strdup("-kernel"));
    g_ptr_array_add(argv, g_strdup(kernel));
    g_ptr_array_add(argv, g_strdup("-initrd"));
    g_ptr_array_add(argv, g_strdup(initrd));
    g_ptr_array_add(argv, g_strdup("-append"));
    g_ptr_array_add(argv, g_strdup(append));
    for (; extra != NULL && *extra != NULL; extra++)
        g_ptr_array_add(argv, g_strdup(*extra));
    g_ptr_array_add(argv, NULL);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    /* QEMU goes with this test, even when it fails (abort). */
    g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
    vm->qemu = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
    g_assert_no_error(error);
}

static void
vm_stop(Vm *vm)
{
    if (vm->qemu != NULL) {
        g_subprocess_force_exit(vm->qemu);
        g_subprocess_wait(vm->qemu, NULL, NULL);
        g_clear_object(&vm->qemu);
    }
    podvm_test_rmrf(vm->dir);
    g_free(vm->dir);
    g_free(vm->console);
    g_free(vm->qmp);
}

/* Waits for @needle on the console; fails the test with the console's content otherwise. */
static void
vm_expect(Vm *vm, const char *needle, guint timeout_ms)
{
    g_autofree char *contents = NULL;

    if (podvm_test_wait_for_file_content(vm->console, needle, timeout_ms))
        return;
    g_file_get_contents(vm->console, &contents, NULL, NULL);
    g_test_message("console:\n%s", contents != NULL ? contents : "(none)");
    g_error("'%s' did not appear on the guest's console within %u ms", needle, timeout_ms);
}

static gboolean
require(void)
{
    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return FALSE;
    }
    return podvm_test_require_guest();
}

/* lo up: QEMU's host forwards listen on 127.0.0.1 and user networking's 10.0.2.2 leads there. */
static void
loopback_up(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmNl) nl = podvm_nl_open(&error);

    g_assert_no_error(error);
    g_assert_true(podvm_nl_link_set_up(nl, "lo", TRUE, &error));
    g_assert_no_error(error);
}

/* A free TCP port on 127.0.0.1 (closed again: QEMU binds it). */
static guint16
free_port(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    guint16 port = g_socket_listener_add_any_inet_port(listener, NULL, &error);

    g_assert_no_error(error);
    g_socket_listener_close(listener);
    return port;
}

/* The page podvm.fetch gets: two lines, the guest reports the first. */
static gboolean
page_incoming_cb(GSocketService *service, GSocketConnection *connection, GObject *source_object,
                 gpointer user_data)
{
    static const char answer[] = "HTTP/1.0 200 OK\r\nContent-Length: 24\r\n\r\n"
                                 "PODVM-HOST-PAGE one\ntwo\n";
    GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(connection));
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(connection));
    g_autoptr(GString) request = g_string_new(NULL);
    char buffer[512];
    gssize n;

    (void)service;
    (void)source_object;
    (void)user_data;
    while (strstr(request->str, "\r\n\r\n") == NULL &&
           (n = g_input_stream_read(in, buffer, sizeof buffer, NULL, NULL)) > 0)
        g_string_append_len(request, buffer, n);
    g_output_stream_write_all(out, answer, strlen(answer), NULL, NULL, NULL);
    g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
    return TRUE;
}

static void
test_virtio(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketService) page = NULL;
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *initrd = podvm_test_guest_initrd();
    g_autofree char *append = NULL;
    g_autofree char *netdev = NULL;
    g_autofree char *body = NULL;
    guint16 page_port, port80, port8081;
    Vm vm = { 0 };

    if (!require())
        return;
    loopback_up();
    page = g_socket_service_new();
    g_signal_connect(page, "incoming", G_CALLBACK(page_incoming_cb), NULL);
    page_port = g_socket_listener_add_any_inet_port(G_SOCKET_LISTENER(page), NULL, &error);
    g_assert_no_error(error);
    port80 = free_port();
    port8081 = free_port();

    append = g_strdup_printf("console=ttyS0 quiet podvm.hostname=netguest podvm.heartbeat=0 "
                             "podvm.fetch=http://10.0.2.2:%u/ podvm.ping=10.0.2.2",
                             page_port);
    netdev = g_strdup_printf("user,id=n0,ipv6-prefix=fd00:1::,ipv6-prefixlen=64,"
                             "hostfwd=tcp:127.0.0.1:%u-:80,"
                             "hostfwd=tcp:127.0.0.1:%u-:8081",
                             port80, port8081);
    {
        const char *const nics[] = { "-netdev", netdev, "-device",
                                     "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01", NULL };

        vm_start(&vm, kernel, initrd, append, nics);
    }
    vm_expect(&vm,
              "PODVM-NET-CONF eth0 mtu 1500 dns 10.0.2.3 routes 0.0.0.0/0@10.0.2.2,10.0.2.0/24",
              BOOT_TIMEOUT_MS);
    vm_expect(&vm, "PODVM-NET eth0 up 10.0.2.15/24 gw 10.0.2.2 mac 52:54:00:00:00:01", 10000);
    vm_expect(&vm, "PODVM-PING OK 10.0.2.2", 60000);
    /* User networking's router advertisement: a SLAAC address in its prefix. */
    vm_expect(&vm, "PODVM-ADDR6 eth0 fd00:1::5054:ff:fe00:1/64", 60000);
    vm_expect(&vm, "PODVM-FETCH OK PODVM-HOST-PAGE one", 60000);
    /* The first line only. */
    g_assert_cmpuint(podvm_test_count_in_file(vm.console, "two"), ==, 0);

    /* The guest's page on both ports, with its hostname. */
    body = podvm_test_http_get(-1, "127.0.0.1", port80, "/", 10000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(body, ==, "PODVM-PAGE netguest\n");
    g_clear_pointer(&body, g_free);
    body = podvm_test_http_get(-1, "127.0.0.1", port8081, "/", 10000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(body, ==, "PODVM-PAGE netguest\n");

    g_socket_service_stop(page);
    vm_stop(&vm);
}

/* e1000 and rtl8139 (generic kernel only) next to virtio: each gets a lease, each route a
 * metric of its own so that each keeps its gateway. */
static void
test_models(void)
{
    g_autofree char *kernel = podvm_test_guest_generic_kernel();
    g_autofree char *initrd = podvm_test_guest_generic_initrd();
    const char *const nics[] = {
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01",
        "-netdev", "user,id=n1", "-device", "e1000,netdev=n1,mac=52:54:00:00:00:02",
        "-netdev", "user,id=n2", "-device", "rtl8139,netdev=n2,mac=52:54:00:00:00:03",
        NULL,
    };
    Vm vm = { 0 };

    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return;
    }
    if (!podvm_test_require_guest_generic())
        return;
    vm_start(&vm, kernel, initrd, "console=ttyS0 quiet podvm.heartbeat=0", nics);
    for (guint i = 1; i <= 3; i++) {
        g_autofree char *needle =
            g_strdup_printf("up 10.0.2.15/24 gw 10.0.2.2 mac 52:54:00:00:00:0%u", i);

        vm_expect(&vm, needle, BOOT_TIMEOUT_MS);
    }
    vm_stop(&vm);
}

static void
async_result_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GAsyncResult **out = user_data;

    (void)source;
    *out = g_object_ref(result);
}

static void
qmp(PodvmQmpClient *client, const char *command, const char *arguments_json)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(JsonNode) arguments = json_from_string(arguments_json, &error);
    g_autoptr(JsonNode) reply = NULL;

    g_assert_no_error(error);
    podvm_qmp_client_execute_async(client, command, json_node_get_object(arguments), NULL, 10000,
                                   NULL, async_result_cb, &result);
    while (result == NULL)
        g_main_context_iteration(NULL, TRUE);
    reply = podvm_qmp_client_execute_finish(client, result, &error);
    g_assert_no_error(error);
}

/* A NIC plugged in while the guest runs is set up; unplugged, it is reported gone. */
static void
test_hotplug(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmQmpClient) client = NULL;
    g_autoptr(GAsyncResult) result = NULL;
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *initrd = podvm_test_guest_initrd();
    Vm vm = { 0 };

    if (!require())
        return;
    vm_start(&vm, kernel, initrd, "console=ttyS0 quiet podvm.heartbeat=0", NULL);
    vm_expect(&vm, "PODVM-GUEST-READY", BOOT_TIMEOUT_MS);

    client = podvm_qmp_client_new();
    podvm_qmp_client_connect_async(client, vm.qmp, 10000, NULL, async_result_cb, &result);
    while (result == NULL)
        g_main_context_iteration(NULL, TRUE);
    g_assert_true(podvm_qmp_client_connect_finish(client, result, &error));
    g_assert_no_error(error);
    qmp(client, "netdev_add", "{\"type\": \"user\", \"id\": \"n9\"}");
    qmp(client, "device_add",
        "{\"driver\": \"virtio-net-pci\", \"id\": \"nic9\", \"netdev\": \"n9\", "
        "\"bus\": \"rp1\", \"mac\": \"52:54:00:00:00:09\"}");
    vm_expect(&vm, "PODVM-NET eth0 up 10.0.2.15/24 gw 10.0.2.2 mac 52:54:00:00:00:09",
              BOOT_TIMEOUT_MS);
    qmp(client, "device_del", "{\"id\": \"nic9\"}");
    vm_expect(&vm, "PODVM-NET eth0 gone", 60000);
    podvm_qmp_client_close(client);
    vm_stop(&vm);
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    /* Before g_test_init() and anything else that could start a thread. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/net/guest/virtio", test_virtio);
    g_test_add_func("/podvm/net/guest/models", test_models);
    g_test_add_func("/podvm/net/guest/hotplug", test_hotplug);
    return g_test_run();
}
