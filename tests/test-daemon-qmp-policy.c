/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP passthrough policy: what each mode lets through to QEMU. */
#include <string.h>

#include "podvm-error.h"
#include "podvm-qmp-policy.h"

#define RO PODVM_QMP_PASSTHROUGH_READ_ONLY
#define EXPERT PODVM_QMP_PASSTHROUGH_EXPERT

static JsonObject *
object_from(const char *json)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    if (json == NULL)
        return NULL;
    json_parser_load_from_data(parser, json, -1, &error);
    g_assert_no_error(error);
    return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void
assert_allowed(PodvmQmpPassthrough mode, const char *execute, const char *arguments)
{
    g_autoptr(JsonObject) args = object_from(arguments);
    g_autoptr(GError) error = NULL;

    if (!podvm_qmp_policy_check(mode, execute, args, &error))
        g_test_message("%s %s: %s", execute, arguments ? arguments : "", error->message);
    g_assert_no_error(error);
}

/* Refused with PermissionDenied; the message names the command and contains @needle. */
static void
assert_refused(PodvmQmpPassthrough mode, const char *execute, const char *arguments,
               const char *needle)
{
    g_autoptr(JsonObject) args = object_from(arguments);
    g_autoptr(GError) error = NULL;
    g_autofree char *quoted = g_strdup_printf("\"%s\"", execute);

    g_assert_false(podvm_qmp_policy_check(mode, execute, args, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_assert_nonnull(strstr(error->message, quoted));
    if (strstr(error->message, needle) == NULL)
        g_test_message("message: %s", error->message);
    g_assert_nonnull(strstr(error->message, needle));
    g_assert_cmpuint(podvm_error_http_status(error->code), ==, 403);
}

static void
test_modes(void)
{
    PodvmQmpPassthrough mode = EXPERT;
    g_autoptr(GError) error = NULL;

    g_assert_true(podvm_qmp_passthrough_from_string("read-only", &mode, &error));
    g_assert_cmpint(mode, ==, RO);
    g_assert_true(podvm_qmp_passthrough_from_string("expert", &mode, &error));
    g_assert_cmpint(mode, ==, EXPERT);
    g_assert_no_error(error);
    g_assert_false(podvm_qmp_passthrough_from_string("yes", &mode, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "\"yes\""));
    g_assert_cmpint(mode, ==, EXPERT); /* untouched on failure */
    g_assert_cmpstr(podvm_qmp_passthrough_to_string(RO), ==, "read-only");
    g_assert_cmpstr(podvm_qmp_passthrough_to_string(EXPERT), ==, "expert");
}

/* Read-only: the listed queries, nothing else; the refusal says how to get more. */
static void
test_read_only(void)
{
    const char *const *queries = podvm_qmp_policy_read_only_commands();

    g_assert_cmpuint(g_strv_length((GStrv)queries), >=, 10);
    for (guint i = 0; queries[i] != NULL; i++) {
        g_assert_true(g_str_has_prefix(queries[i], "query-"));
        assert_allowed(RO, queries[i], NULL);
        assert_allowed(EXPERT, queries[i], NULL);
    }
    assert_allowed(RO, "query-status", NULL);
    assert_allowed(RO, "query-cpus-fast", NULL);  /* the metrics scrape */
    assert_allowed(RO, "query-blockstats", NULL); /* the metrics scrape */
    assert_allowed(RO, "query-rx-filter", "{\"name\": \"net0\"}");
    for (guint i = 0; i < 6; i++) {
        const char *harmless[] = { "stop",     "cont",       "system_reset",
                                   "qom-list", "device_del", "query-qmp-schema" };

        assert_refused(RO, harmless[i], NULL, "set passthrough=expert in the [qmp] section");
    }
}

/* Never, in either mode: what names host paths or spawns things; the message says why. */
static void
test_never(void)
{
    const char *never[] = {
        "human-monitor-command",
        "pmemsave",
        "memsave",
        "dump-guest-memory",
        "screendump",
        "dumpdtb",
        "migrate",
        "migrate-incoming",
        "migrate-recover",
        "add-fd",
        "getfd",
        "closefd",
        "remove-fd",
        "add_client",
        "object-add",
        "chardev-add",
        "chardev-change",
        "netdev_add",
        "qom-set",
        "blockdev-create",
        "blockdev-reopen",
        "blockdev-snapshot-sync",
        "blockdev-change-medium",
        "drive-mirror",
        "drive-backup",
        "block-commit",
        "block-stream",
        "change-backing-file",
        "transaction",
        "block-export-add",
        "nbd-server-start",
        "display-update",
        "x-blockdev-amend",
        "x-exit-preconfig",
        "x-query-roms",
        "xen-save-devices-state",
        /* other spellings of the same names */
        "netdev-add",
        "NETDEV_ADD",
        "Human_Monitor_Command",
        "add_fd",
        "X-debug-query-block-graph",
    };

    for (guint i = 0; i < G_N_ELEMENTS(never); i++) {
        assert_refused(RO, never[i], NULL, "never allowed");
        assert_refused(EXPERT, never[i], NULL, "never allowed");
    }
    {
        /* The message does not send the reader to a mode that would not help. */
        g_autoptr(GError) error = NULL;

        g_assert_false(podvm_qmp_policy_check(RO, "pmemsave", NULL, &error));
        g_assert_null(strstr(error->message, "expert"));
    }
}

/* Expert: anything else, including commands that change the guest. */
static void
test_expert(void)
{
    const char *allowed[] = { "stop",
                              "cont",
                              "system_reset",
                              "system_powerdown",
                              "qom-list",
                              "qom-get",
                              "device_del",
                              "blockdev-del",
                              "block_resize",
                              "block_set_io_throttle",
                              "query-qmp-schema",
                              "send-key",
                              "quit" };

    for (guint i = 0; i < G_N_ELEMENTS(allowed); i++)
        assert_allowed(EXPERT, allowed[i], NULL);
}

static void
test_blockdev_add(void)
{
    /* Nodes that open nothing on the host, over existing nodes. */
    assert_allowed(EXPERT, "blockdev-add",
                   "{\"driver\": \"null-co\", \"node-name\": \"n\", \"size\": 1048576}");
    assert_allowed(EXPERT, "blockdev-add",
                   "{\"driver\": \"raw\", \"node-name\": \"r\", \"file\": \"n\", \"offset\": 512}");
    assert_refused(RO, "blockdev-add", "{\"driver\": \"null-co\", \"node-name\": \"n\"}",
                   "passthrough=expert");

    /* Host files, in every spelling and depth: never. */
    assert_refused(EXPERT, "blockdev-add",
                   "{\"driver\": \"file\", \"node-name\": \"f\", \"filename\": \"/etc/shadow\"}",
                   "host path (\"/etc/shadow\")");
    assert_refused(RO, "blockdev-add",
                   "{\"driver\": \"file\", \"node-name\": \"f\", \"filename\": \"/etc/shadow\"}",
                   "host path");
    assert_refused(EXPERT, "blockdev-add",
                   "{\"driver\": \"raw\", \"node-name\": \"r\", \"file\": {\"driver\": "
                   "\"host_device\", \"filename\": \"/dev/sda\"}}",
                   "host path (\"/dev/sda\")");
    assert_refused(EXPERT, "blockdev-add",
                   "{\"driver\": \"raw\", \"node-name\": \"r\", \"file\": {\"driver\": \"nbd\", "
                   "\"server\": {\"type\": \"unix\", \"path\": \"/run/x.sock\"}, \"export\": "
                   "\"e\"}}",
                   "host path (\"/run/x.sock\")");
    assert_refused(
        EXPERT, "blockdev-add",
        "{\"driver\": \"raw\", \"node-name\": \"r\", \"file\": {\"driver\": \"nbd\", "
        "\"server\": {\"type\": \"inet\", \"host\": \"10.0.0.1\", \"port\": \"10809\"}}}",
        "driver \"nbd\"");
    /* A guest-written raw disk read as qcow2 could name any host file as its backing file. */
    assert_refused(EXPERT, "blockdev-add",
                   "{\"driver\": \"qcow2\", \"node-name\": \"q\", \"file\": \"pod-disk\"}",
                   "driver \"qcow2\"");
    assert_refused(EXPERT, "blockdev-add", "{\"driver\": \"vvfat\", \"dir\": \"etc\"}",
                   "driver \"vvfat\"");
    assert_refused(EXPERT, "blockdev-add",
                   "{\"driver\": \"raw\", \"node-name\": \"r\", \"file\": \"/etc/passwd\"}",
                   "host path");
    assert_refused(EXPERT, "blockdev-add", "{\"driver\": \"quorum\", \"children\": [\"a\"]}",
                   "driver \"quorum\"");
}

static void
test_device_add(void)
{
    assert_allowed(EXPERT, "device_add",
                   "{\"driver\": \"virtio-blk-pci\", \"id\": \"d\", \"drive\": \"n\", "
                   "\"bus\": \"podvm-rp0\"}");
    assert_allowed(EXPERT, "device_add", "{\"driver\": \"virtio-rng-pci\", \"id\": \"rng1\"}");
    assert_refused(RO, "device_add", "{\"driver\": \"virtio-rng-pci\"}", "passthrough=expert");
    assert_refused(EXPERT, "device_add",
                   "{\"driver\": \"vfio-pci\", \"host\": \"0000:00:1f.2\", \"id\": \"v\"}",
                   "driver \"vfio-pci\"");
    assert_refused(EXPERT, "device_add", "{\"driver\": \"usb-host\", \"hostbus\": 1}",
                   "driver \"usb-host\"");
    assert_refused(EXPERT, "device_add", "{\"driver\": \"vhost-vsock-pci\", \"guest-cid\": 3}",
                   "driver \"vhost-vsock-pci\"");
    assert_refused(EXPERT, "device_add", "{\"driver\": \"loader\", \"file\": \"/etc/shadow\"}",
                   "driver \"loader\"");
    assert_refused(EXPERT, "device_add",
                   "{\"driver\": \"virtio-serial-pci\", \"sysfsdev\": \"/sys/bus/pci/x\"}",
                   "property \"sysfsdev\"");
    assert_refused(EXPERT, "device_add",
                   "{\"driver\": \"virtio-serial-pci\", \"bus\": \"/machine/q35\"}", "host path");
    /* A relative file name is tried from QEMU's working directory: refused as well. */
    assert_refused(EXPERT, "device_add",
                   "{\"driver\": \"e1000\", \"id\": \"n\", \"romfile\": \"etc/shadow\"}",
                   "property \"romfile\"");
    assert_refused(EXPERT, "device_add",
                   "{\"driver\": \"virtio-net-pci\", \"romfile\": \"../../etc/shadow\"}",
                   "property \"romfile\"");
    assert_refused(EXPERT, "device_add", "{\"driver\": \"x-pci-proxy-dev\", \"fd\": \"3\"}",
                   "driver \"x-pci-proxy-dev\"");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/daemon/qmp-policy/modes", test_modes);
    g_test_add_func("/podvm/daemon/qmp-policy/read-only", test_read_only);
    g_test_add_func("/podvm/daemon/qmp-policy/never", test_never);
    g_test_add_func("/podvm/daemon/qmp-policy/expert", test_expert);
    g_test_add_func("/podvm/daemon/qmp-policy/blockdev-add", test_blockdev_add);
    g_test_add_func("/podvm/daemon/qmp-policy/device-add", test_device_add);
    return g_test_run();
}
