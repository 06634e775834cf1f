/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvmctl attach-nic's flags, without a daemon: --dry-run prints the
 * attachment document the flags build, which must be what the spec's own
 * parser accepts (podvm_spec_parse_interface_attachment), and wrong flags
 * are usage errors (exit 2) that name the flag. detach-nic's arguments too.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <string.h>
#include <sys/wait.h>

#include "podvm-spec.h"

/* Runs podvmctl with @args (NULL-terminated); returns its exit status. */
static int
run_ctl(char **out, char **err, const char *first, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    const char *ctl = g_getenv("PODVMCTL");
    int wait_status = 0;
    va_list args;

    if (ctl == NULL)
        ctl = "podvmctl";
    g_ptr_array_add(argv, (gpointer)ctl);
    /* No bus is needed; --session keeps it from trying the system bus if it ever were. */
    g_ptr_array_add(argv, (gpointer) "--session");
    va_start(args, first);
    for (const char *arg = first; arg != NULL; arg = va_arg(args, const char *))
        g_ptr_array_add(argv, (gpointer)arg);
    va_end(args);
    g_ptr_array_add(argv, NULL);

    g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err,
                 &wait_status, &error);
    g_assert_no_error(error);
    g_test_message("podvmctl %s: %s%s", first, out != NULL ? *out : "", err != NULL ? *err : "");
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}

/* The document --dry-run printed, parsed as the daemon parses it. */
static void
parse_printed(const char *out, PodvmSpecInterface **out_iface, PodvmSpecNetwork **out_network)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(
        podvm_spec_parse_interface_attachment(out, -1, out_iface, out_network, NULL, &error));
    g_assert_no_error(error);
}

static void
test_flags_pod_network(void)
{
    g_autofree char *out = NULL;
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;
    const PodvmSpecPort *port;

    g_assert_cmpint(run_ctl(&out, NULL, "attach-nic", "web", "--dry-run", "--name", "front",
                            "--binding", "masquerade", "--port", "80", "--port", "8053:53/udp",
                            "--port", "443/TCP", "--mac", "02:00:00:00:00:05", "--model", "e1000",
                            NULL),
                    ==, 0);
    parse_printed(out, &iface, &network);
    g_assert_cmpstr(iface->name, ==, "front");
    g_assert_cmpint(iface->binding, ==, PODVM_BINDING_MASQUERADE);
    g_assert_cmpint(iface->model, ==, PODVM_NIC_MODEL_E1000);
    g_assert_cmpstr(iface->mac_address, ==, "02:00:00:00:00:05");
    g_assert_cmpuint(iface->ports->len, ==, 3);
    port = g_ptr_array_index(iface->ports, 0);
    g_assert_cmpstr(port->protocol, ==, "TCP");
    g_assert_cmpuint(port->port, ==, 80);
    g_assert_cmpuint(port->host_port, ==, 0);
    port = g_ptr_array_index(iface->ports, 1);
    g_assert_cmpstr(port->protocol, ==, "UDP");
    g_assert_cmpuint(port->port, ==, 53);
    g_assert_cmpuint(port->host_port, ==, 8053);
    port = g_ptr_array_index(iface->ports, 2);
    g_assert_cmpstr(port->protocol, ==, "TCP");
    g_assert_cmpuint(port->port, ==, 443);
    /* No --network: the pod network, named like the interface. */
    g_assert_cmpstr(network->name, ==, "front");
    g_assert_cmpint(network->source, ==, PODVM_NETWORK_POD);
}

static void
test_flags_multus(void)
{
    static const char *const forms[][2] = {
        { "--multus", "lan-bridge" },
        { "--network", "lan-bridge" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(forms); i++) {
        g_autofree char *out = NULL;
        g_autoptr(PodvmSpecInterface) iface = NULL;
        g_autoptr(PodvmSpecNetwork) network = NULL;

        g_assert_cmpint(run_ctl(&out, NULL, "attach-nic", "web", "--dry-run", "--name", "lan",
                                "--binding", "bridge", forms[i][0], forms[i][1], NULL),
                        ==, 0);
        parse_printed(out, &iface, &network);
        g_assert_cmpint(iface->binding, ==, PODVM_BINDING_BRIDGE);
        g_assert_cmpstr(network->name, ==, "lan");
        g_assert_cmpint(network->source, ==, PODVM_NETWORK_MULTUS);
        g_assert_cmpstr(network->network_name, ==, "lan-bridge");
    }
}

static void
test_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("podvm-ctl-nic-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "nic.yaml", NULL);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;

    g_assert_true(g_file_set_contents(path,
                                      "interface:\n  name: fast\n  sriov: {}\n"
                                      "network:\n  name: fast\n  multus: {networkName: vfs}\n",
                                      -1, NULL));
    g_assert_cmpint(run_ctl(&out, NULL, "attach-nic", "web", "--dry-run", "-f", path, NULL), ==, 0);
    parse_printed(out, &iface, &network);
    g_assert_cmpint(iface->binding, ==, PODVM_BINDING_SRIOV);
    g_assert_cmpstr(network->network_name, ==, "vfs");

    /* -f and the flags exclude each other. */
    g_assert_cmpint(
        run_ctl(NULL, &err, "attach-nic", "web", "-f", path, "--name", "x", "--dry-run", NULL), ==,
        2);
    g_assert_nonnull(strstr(err, "-f FILE excludes"));
    g_unlink(path);
    g_rmdir(dir);
}

static void
test_usage_errors(void)
{
    static const struct {
        const char *args[10];
        const char *needle;
    } cases[] = {
        { { "attach-nic", "web", "--dry-run", NULL }, "missing -f FILE or --name" },
        { { "attach-nic", "web", "--name", "n", "--dry-run", NULL }, "missing --binding" },
        { { "attach-nic", "web", "--name", "n", "--binding", "macvtap", NULL },
          "unknown binding 'macvtap'" },
        { { "attach-nic", "web", "--name", "N_1", "--binding", "bridge", NULL }, "--name" },
        { { "attach-nic", "web", "--name", "n", "--binding", "bridge", "--model", "e1000e", NULL },
          "unknown model 'e1000e'" },
        { { "attach-nic", "web", "--name", "n", "--binding", "masquerade", "--port", "0", NULL },
          "--port '0'" },
        { { "attach-nic", "web", "--name", "n", "--binding", "masquerade", "--port", "80/sctp",
            NULL },
          "--port '80/sctp'" },
        { { "attach-nic", "web", "--name", "n", "--binding", "masquerade", "--port", "x:80", NULL },
          "--port 'x:80'" },
        { { "attach-nic", "web", "--name", "n", "--binding", "masquerade", "--port", "65536",
            NULL },
          "--port '65536'" },
        { { "attach-nic", "web", "--name", "n", "--binding", "bridge", "--network", "a", "--multus",
            "b" },
          "exclude each other" },
        { { "attach-nic", NULL }, "" },
        { { "detach-nic", "web", NULL }, "" },
        { { "detach-nic", "web", "Bad_Name", NULL }, "Bad_Name" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *err = NULL;
        const char *const *a = cases[i].args;

        g_assert_cmpint(
            run_ctl(NULL, &err, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], NULL),
            ==, 2);
        g_assert_nonnull(strstr(err, cases[i].needle));
    }
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/ctl/nic/flags-pod-network", test_flags_pod_network);
    g_test_add_func("/podvm/ctl/nic/flags-multus", test_flags_multus);
    g_test_add_func("/podvm/ctl/nic/file", test_file);
    g_test_add_func("/podvm/ctl/nic/usage-errors", test_usage_errors);
    return g_test_run();
}
