/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's ids and node names and their inverses (podvm-qemu-devices.c).
 * The objects themselves are golden-tested through the argv
 * (test-daemon-qemu-argv.c).
 */
#include "podvm-qemu-devices.h"
#include "podvm-test-util.h"

#define NAME_63 "a-disk-name-that-is-exactly-sixty-three-characters-long-abcdefg"

/* Every disk name comes back from its device id; nothing else is taken for a disk's. */
static void
test_disk_device_id_inverse(void)
{
    const char *names[] = { "root", "a", "data-2", "disk-in-disk", NAME_63 };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *id = podvm_qemu_disk_device_id(names[i]);
        g_autofree char *back = podvm_qemu_disk_name_from_device_id(id);

        g_assert_cmpstr(back, ==, names[i]);
    }
    g_assert_null(podvm_qemu_disk_name_from_device_id(NULL));
    g_assert_null(podvm_qemu_disk_name_from_device_id(""));
    g_assert_null(podvm_qemu_disk_name_from_device_id("disk-"));
    g_assert_null(podvm_qemu_disk_name_from_device_id("disk"));
    g_assert_null(podvm_qemu_disk_name_from_device_id("podvm-rp0"));
    g_assert_null(podvm_qemu_disk_name_from_device_id(PODVM_QEMU_SCSI_CONTROLLER_ID));
    g_assert_null(podvm_qemu_disk_name_from_device_id("Disk-root"));
}

/* What query-fdsets shows of a disk's fd sets, and the argv's -add-fd gives (golden files). */
static void
test_disk_fdset_opaque(void)
{
    g_autofree char *opaque = podvm_qemu_disk_fdset_opaque("root");

    g_assert_cmpstr(opaque, ==, "podvm:root");
}

static char *
node_text(JsonNode *node)
{
    char *text = json_to_string(node, FALSE);

    json_node_unref(node);
    return text;
}

/* Eight ports a slot, multifunction on function 0, from PODVM_QEMU_ROOT_PORT_SLOT on. */
static void
test_spare_root_port(void)
{
    g_autofree char *first = node_text(podvm_qemu_spare_root_port(0));
    g_autofree char *second = node_text(podvm_qemu_spare_root_port(1));
    g_autofree char *ninth = node_text(podvm_qemu_spare_root_port(8));
    g_autofree char *id = podvm_qemu_spare_root_port_id(31);

    g_assert_cmpstr(first, ==,
                    "{\"driver\":\"pcie-root-port\",\"id\":\"podvm-rp0\",\"bus\":\"pcie.0\","
                    "\"chassis\":1,\"port\":16,\"addr\":\"0x10.0\",\"multifunction\":true}");
    g_assert_cmpstr(second, ==,
                    "{\"driver\":\"pcie-root-port\",\"id\":\"podvm-rp1\",\"bus\":\"pcie.0\","
                    "\"chassis\":2,\"port\":17,\"addr\":\"0x10.1\"}");
    g_assert_cmpstr(ninth, ==,
                    "{\"driver\":\"pcie-root-port\",\"id\":\"podvm-rp8\",\"bus\":\"pcie.0\","
                    "\"chassis\":9,\"port\":24,\"addr\":\"0x11.0\",\"multifunction\":true}");
    g_assert_cmpstr(id, ==, "podvm-rp31");
}

static void
test_machine_is_q35(void)
{
    g_assert_true(podvm_qemu_machine_is_q35("q35"));
    g_assert_true(podvm_qemu_machine_is_q35("pc-q35-7.2"));
    g_assert_false(podvm_qemu_machine_is_q35("pc"));
    g_assert_false(podvm_qemu_machine_is_q35("pc-i440fx-7.2"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/qemu-devices/disk-device-id-inverse",
                    test_disk_device_id_inverse);
    g_test_add_func("/podvm/daemon/qemu-devices/disk-fdset-opaque", test_disk_fdset_opaque);
    g_test_add_func("/podvm/daemon/qemu-devices/spare-root-port", test_spare_root_port);
    g_test_add_func("/podvm/daemon/qemu-devices/machine-is-q35", test_machine_is_q35);
    return g_test_run();
}
