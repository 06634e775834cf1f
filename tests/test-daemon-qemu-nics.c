/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM's NICs in QEMU's argv: the -netdev and -device objects of every
 * binding (tap fds, multi-queue, slirp host forwards, an SR-IOV VF passed
 * through with vfio-pci, passt's stream socket), against a golden file
 * (tests/golden/argv/nics.argv; PODVM_TEST_REGENERATE=1 rewrites it), and a real QEMU accepting the
 * same objects with real taps, opened in the test's own network namespace.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "podvm-netlink.h"
#include "podvm-qemu-argv.h"
#include "podvm-spec.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define TEST_UID "0b4f2b7e-9a57-4d3f-8f0e-6a1d2c3b4a59"

static char *netns_skip_reason;

static PodvmQemuNic *
nic_new(const char *name, PodvmBinding binding, PodvmNicModel model, guint8 last)
{
    PodvmQemuNic *nic = podvm_qemu_nic_new(name);
    const guint8 mac[6] = { 0x02, 0x50, 0x4f, 0x44, 0x00, last };

    nic->binding = binding;
    nic->model = model;
    memcpy(nic->mac, mac, 6);
    return nic;
}

/* Every kind of NIC once: tap (two queues), tap e1000 with a boot order, slirp, a VF. */
static GPtrArray *
every_nic(const char *const *tap_fds_a, const char *const *tap_fds_b, gboolean with_vf)
{
    GPtrArray *nics = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_qemu_nic_free);
    PodvmQemuNic *nic;

    nic = nic_new("default", PODVM_BINDING_MASQUERADE, PODVM_NIC_MODEL_VIRTIO, 1);
    nic->fds = g_strdupv((char **)tap_fds_a);
    g_ptr_array_add(nics, nic);
    nic = nic_new("legacy", PODVM_BINDING_BRIDGE, PODVM_NIC_MODEL_E1000, 2);
    nic->fds = g_strdupv((char **)tap_fds_b);
    nic->boot_order = 3;
    g_ptr_array_add(nics, nic);
    nic = nic_new("user", PODVM_BINDING_SLIRP, PODVM_NIC_MODEL_RTL8139, 3);
    nic->hostfwd = g_strsplit("tcp::80-:80,udp::5353-:5353", ",", -1);
    g_ptr_array_add(nics, nic);
    if (with_vf) {
        /* passt: the stream socket's fd (the real-QEMU test below has no passt to serve it). */
        nic = nic_new("pst", PODVM_BINDING_PASST, PODVM_NIC_MODEL_VIRTIO, 5);
        nic->fds = g_strsplit("23", ",", -1);
        g_ptr_array_add(nics, nic);
        nic = nic_new("fast", PODVM_BINDING_SRIOV, PODVM_NIC_MODEL_VIRTIO, 4);
        nic->vfio_host = g_strdup("0000:3b:02.1");
        g_ptr_array_add(nics, nic);
    }
    return nics;
}

static PodvmSpec *
minimal_spec(void)
{
    g_autofree char *path =
        g_test_build_filename(G_TEST_DIST, "golden", "argv", "minimal.json", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    PodvmSpec *spec;

    g_file_get_contents(path, &text, NULL, &error);
    g_assert_no_error(error);
    spec = podvm_spec_parse_data(text, -1, NULL, &error);
    g_assert_no_error(error);
    g_free(spec->uid);
    spec->uid = g_strdup(TEST_UID);
    return spec;
}

static void
context_init(PodvmQemuArgvContext *ctx, const GPtrArray *nics)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->qemu_binary = "qemu-system-x86_64";
    ctx->accel = PODVM_ACCEL_TCG;
    ctx->uid = TEST_UID;
    ctx->qmp_socket = "/run/podvm/pods/minimal/qmp.sock";
    ctx->console_socket = "/run/podvm/pods/minimal/console.sock";
    ctx->console_log = "/run/podvm/pods/minimal/console.log";
    ctx->guest_agent_socket = "/run/podvm/pods/minimal/qga.sock";
    ctx->host_cpus = 4;
    ctx->nics = nics;
}

static void
test_golden(void)
{
    const char *const fds_a[] = { "20", "21", NULL };
    const char *const fds_b[] = { "22", NULL };
    g_autoptr(GPtrArray) nics = every_nic(fds_a, fds_b, TRUE);
    g_autoptr(PodvmSpec) spec = minimal_spec();
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "golden", "argv", "nics.argv", NULL);
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *text = NULL, *expected = NULL, *joined = NULL;
    PodvmQemuArgvContext ctx;

    context_init(&ctx, nics);
    argv = podvm_qemu_argv_build(spec, &ctx, &error);
    g_assert_no_error(error);
    joined = g_strjoinv("\n", argv);
    text = g_strconcat(joined, "\n", NULL);
    if (g_strcmp0(g_getenv("PODVM_TEST_REGENERATE"), "1") == 0) {
        g_file_set_contents(path, text, -1, &error);
        g_assert_no_error(error);
    }
    g_file_get_contents(path, &expected, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(text, ==, expected);
}

static void
test_objects(void)
{
    g_autoptr(PodvmQemuNic) nic =
        nic_new("eth-a", PODVM_BINDING_MASQUERADE, PODVM_NIC_MODEL_VIRTIO, 9);
    g_autoptr(JsonNode) netdev = NULL, device = NULL;
    g_autofree char *netdev_text = NULL, *device_text = NULL;
    g_autofree char *name = NULL;

    /* Hotplug names the fds it sent with getfd. */
    nic->fds = g_strsplit("podvm-tap-eth-a-0", ",", -1);
    netdev = podvm_qemu_nic_netdev(nic);
    device = podvm_qemu_nic_device(nic, "podvm-rp2");
    netdev_text = json_to_string(netdev, FALSE);
    device_text = json_to_string(device, FALSE);
    g_assert_cmpstr(netdev_text, ==,
                    "{\"id\":\"netdev-eth-a\",\"type\":\"tap\",\"fd\":\"podvm-tap-eth-a-0\","
                    "\"vhost\":false}");
    g_assert_cmpstr(device_text, ==,
                    "{\"driver\":\"virtio-net-pci\",\"netdev\":\"netdev-eth-a\",\"mac\":"
                    "\"02:50:4f:44:00:09\",\"id\":\"net-eth-a\",\"bus\":\"podvm-rp2\","
                    "\"romfile\":\"\"}");
    name = podvm_qemu_nic_name_from_device_id("net-eth-a");
    g_assert_cmpstr(name, ==, "eth-a");
    g_assert_null(podvm_qemu_nic_name_from_device_id("disk-eth-a"));
    g_assert_null(podvm_qemu_nic_name_from_device_id("net-"));
    /* A VF has no netdev. */
    nic->binding = PODVM_BINDING_SRIOV;
    g_assert_null(podvm_qemu_nic_netdev(nic));
}

/* A real QEMU takes the NICs (with real taps), and the guest's PCI bus shows them. */
static void
test_qemu_accepts(void)
{
    g_autoptr(GPtrArray) nics = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) qemu = NULL;
    g_autofree char *out = NULL;
    const char *const fds_a[] = { "20", "21", NULL };
    const char *const fds_b[] = { "22", NULL };
    int tap_a[2], tap_b[1];
    PodvmQemuArgvContext ctx;
    g_autoptr(GPtrArray) args = g_ptr_array_new();

    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return;
    }
    if (!podvm_test_require_qemu())
        return;
    if (!podvm_tap_open("pvtap0", 2, tap_a, &error) ||
        !podvm_tap_open("pvtap1", 1, tap_b, &error)) {
        g_test_skip_printf("cannot open a tap here: %s", error->message);
        return;
    }
    nics = every_nic(fds_a, fds_b, FALSE);
    spec = minimal_spec();
    context_init(&ctx, nics);
    ctx.qemu_binary = podvm_test_qemu_binary();
    argv = podvm_qemu_argv_build(spec, &ctx, &error);
    g_assert_no_error(error);
    /* The argv up to -qmp: no sockets, no kernel; QMP on stdio instead. */
    for (guint i = 0; argv[i] != NULL; i++) {
        if (g_str_equal(argv[i], "-netdev") || g_str_equal(argv[i], "-device")) {
            if (strstr(argv[i + 1], "\"netdev") != NULL ||
                strstr(argv[i + 1], "\"type\"") != NULL) {
                g_ptr_array_add(args, argv[i]);
                g_ptr_array_add(args, argv[i + 1]);
            }
            i++;
        }
    }
    {
        const char *head[] = {
            podvm_test_qemu_binary(), "-S",   "-nodefaults", "-display", "none", "-machine",
            "q35,accel=tcg",          "-qmp", "stdio"
        };
        g_autoptr(GPtrArray) full = g_ptr_array_new();

        for (guint i = 0; i < G_N_ELEMENTS(head); i++)
            g_ptr_array_add(full, (gpointer)head[i]);
        for (guint i = 0; i < args->len; i++)
            g_ptr_array_add(full, g_ptr_array_index(args, i));
        g_ptr_array_add(full, NULL);
        launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                             G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                             G_SUBPROCESS_FLAGS_STDERR_MERGE);
        g_subprocess_launcher_take_fd(launcher, tap_a[0], 20);
        g_subprocess_launcher_take_fd(launcher, tap_a[1], 21);
        g_subprocess_launcher_take_fd(launcher, tap_b[0], 22);
        qemu = g_subprocess_launcher_spawnv(launcher, (const char *const *)full->pdata, &error);
        g_assert_no_error(error);
    }
    g_subprocess_communicate_utf8(qemu,
                                  "{\"execute\":\"qmp_capabilities\"}\n"
                                  "{\"execute\":\"query-pci\"}\n{\"execute\":\"quit\"}\n",
                                  NULL, &out, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(out, "\"qdev_id\": \"net-default\""));
    g_assert_nonnull(strstr(out, "\"qdev_id\": \"net-legacy\""));
    g_assert_nonnull(strstr(out, "\"qdev_id\": \"net-user\""));
}

int
main(int argc, char **argv)
{
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/qemu-nics/golden", test_golden);
    g_test_add_func("/podvm/daemon/qemu-nics/objects", test_objects);
    g_test_add_func("/podvm/daemon/qemu-nics/qemu-accepts", test_qemu_accepts);
    return g_test_run();
}
