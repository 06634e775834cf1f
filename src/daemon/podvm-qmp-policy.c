/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-qmp-policy.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

/*
 * The tables name QEMU 7.2's commands (its QAPI schema, as query-commands
 * lists them). Names are compared after folding case and '_' to '-', so
 * "netdev_add", "netdev-add" and "NETDEV_ADD" are one name: a spelling
 * QEMU would reject anyway never slips past a list.
 */

/* Read-only mode: queries that change nothing and open nothing. */
static const char *const read_only_commands[] = {
    "query-acpi-ospm-status",
    "query-balloon",
    "query-block",
    "query-block-jobs",
    "query-blockstats",
    "query-chardev",
    "query-commands",
    "query-cpus-fast",
    "query-current-machine",
    "query-dump",
    "query-hotpluggable-cpus",
    "query-iothreads",
    "query-jobs",
    "query-kvm",
    "query-machines",
    "query-memdev",
    "query-memory-devices",
    "query-memory-size-summary",
    "query-mice",
    "query-migrate",
    "query-migrate-capabilities",
    "query-migrate-parameters",
    "query-name",
    "query-named-block-nodes",
    "query-pci",
    "query-rx-filter",
    "query-status",
    "query-target",
    "query-tpm",
    "query-uuid",
    "query-version",
    "query-vm-generation-id",
    NULL,
};

/*
 * Never, in any mode: each names a host path or socket, opens or writes a
 * host file, receives or closes file descriptors, spawns a process, or (HMP)
 * can do all of that.
 */
static const char *const never_commands[] = {
    "add-client",             /* a connection from an fd received with getfd */
    "add-fd",                 /* fd sets */
    "block-commit",           /* base/top may be file names */
    "block-export-add",       /* FUSE mounts on a host path, vhost-user sockets */
    "block-stream",           /* base may be a file name */
    "blockdev-change-medium", /* opens a host file */
    "blockdev-create",        /* creates images, on host files too */
    "blockdev-reopen",        /* reopens nodes with new (file) options */
    "blockdev-snapshot-sync", /* creates snapshot-file on the host */
    "change",                 /* older QEMU: opens a host file */
    "change-backing-file",    /* writes a host path into an image header */
    "chardev-add",            /* files, sockets, ptys, host serial ports */
    "chardev-change",
    "closefd",
    "display-update", /* VNC listening on host sockets */
    "drive-backup",   /* target is a host file */
    "drive-mirror",   /* target is a host file */
    "dump-guest-memory",
    "dumpdtb",
    "getfd",
    "human-monitor-command", /* HMP: everything, qemu-io included */
    "memsave",
    "migrate",          /* exec:, file:, unix: */
    "migrate-incoming", /* the same */
    "migrate-recover",
    "nbd-server-add",
    "nbd-server-start", /* listens on host sockets */
    "netdev-add",       /* tap scripts and helpers, smb, tftp, host sockets */
    "object-add",       /* file-backed memory, secrets from files, TLS creds */
    "pmemsave",
    "qom-set",
    "remove-fd",
    "screendump",
    "transaction", /* carries blockdev-snapshot-sync, drive-backup */
    NULL,
};

/* Never either: experimental and Xen commands, as whole families. */
static const char *const never_prefixes[] = { "x-", "xen-", NULL };

/* blockdev-add in expert mode: drivers that open nothing on the host and read no image header. */
static const char *const blockdev_drivers[] = { "null-co", "null-aio", "raw", "copy-on-read",
                                                NULL };

/*
 * device_add in expert mode: properties that name host files or fds. A
 * relative name counts too: QEMU tries it from its working directory
 * ("romfile": "etc/shadow" would become the guest's option ROM).
 */
static const char *const device_file_properties[] = {
    "config-file", "dir",     "fd",       "fds",     "file",     "filename", "hostdevice",
    "path",        "romfile", "sysfsdev", "vhostfd", "vhostfds", NULL,
};

/* device_add in expert mode: drivers that reach host devices, files or fds, by prefix. */
static const char *const device_driver_prefixes[] = {
    "ccid-card-passthru",
    "guest-loader",
    "ivshmem",
    "kvm-pci-assign",
    "loader",
    "pci-assign",
    "u2f-passthru",
    "usb-host",
    "usb-redir",
    "vfio",
    "vhost",
    "x-",
    "xen",
    NULL,
};

const char *
podvm_qmp_passthrough_to_string(PodvmQmpPassthrough mode)
{
    return mode == PODVM_QMP_PASSTHROUGH_EXPERT ? "expert" : "read-only";
}

gboolean
podvm_qmp_passthrough_from_string(const char *text, PodvmQmpPassthrough *out_mode, GError **error)
{
    g_autofree char *quoted = NULL;

    if (g_strcmp0(text, "read-only") == 0) {
        *out_mode = PODVM_QMP_PASSTHROUGH_READ_ONLY;
        return TRUE;
    }
    if (g_strcmp0(text, "expert") == 0) {
        *out_mode = PODVM_QMP_PASSTHROUGH_EXPERT;
        return TRUE;
    }
    quoted = podvm_quote_for_message(text != NULL ? text : "");
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("unknown QMP passthrough mode %s; expected read-only or expert"), quoted);
    return FALSE;
}

const char *const *
podvm_qmp_policy_read_only_commands(void)
{
    return read_only_commands;
}

/* "NetDev_Add" -> "netdev-add" */
static char *
fold_name(const char *name)
{
    char *folded = g_ascii_strdown(name, -1);

    g_strdelimit(folded, "_", '-');
    return folded;
}

static gboolean
in_list(const char *const *list, const char *folded)
{
    return g_strv_contains(list, folded);
}

static gboolean
has_prefix_in(const char *const *prefixes, const char *folded)
{
    for (guint i = 0; prefixes[i] != NULL; i++) {
        if (g_str_has_prefix(folded, prefixes[i]))
            return TRUE;
    }
    return FALSE;
}

static gboolean
refuse(GError **error, const char *execute, const char *why)
{
    g_autofree char *quoted = podvm_quote_for_message(execute);

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                _("QMP command %s is never allowed through the passthrough: %s"), quoted, why);
    return FALSE;
}

static gboolean
refuse_path(GError **error, const char *execute, const char *path)
{
    g_autofree char *quoted = podvm_quote_for_message(execute);
    g_autofree char *quoted_path = podvm_quote_for_message(path);

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                _("QMP command %s is never allowed with a host path (%s) in its arguments"), quoted,
                quoted_path);
    return FALSE;
}

static gboolean
refuse_driver(GError **error, const char *execute, const char *driver, const char *why)
{
    g_autofree char *quoted = podvm_quote_for_message(execute);
    g_autofree char *quoted_driver = podvm_quote_for_message(driver);

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                _("QMP command %s with driver %s is never allowed through the passthrough: %s"),
                quoted, quoted_driver, why);
    return FALSE;
}

/* @node's text when it is a string, else NULL. */
static const char *
string_of(JsonNode *node)
{
    if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_STRING)
        return json_node_get_string(node);
    return NULL;
}

/* The first host path in @node: a "filename" member or a string starting with '/'. */
static const char *
find_path(JsonNode *node)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        g_autoptr(GList) members = json_object_get_members(json_node_get_object(node));

        for (GList *l = members; l != NULL; l = l->next) {
            JsonNode *value = json_object_get_member(json_node_get_object(node), l->data);
            const char *found;

            if (g_ascii_strcasecmp(l->data, "filename") == 0)
                return string_of(value) != NULL ? string_of(value) : "filename";
            if ((found = find_path(value)) != NULL)
                return found;
        }
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(array); i++) {
            const char *found = find_path(json_array_get_element(array, i));
            if (found != NULL)
                return found;
        }
    } else {
        const char *text = string_of(node);

        if (text != NULL && text[0] == '/')
            return text;
    }
    return NULL;
}

/* The first "driver" in @node that is not in blockdev_drivers. */
static const char *
find_unsafe_blockdev_driver(JsonNode *node)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObject *object = json_node_get_object(node);
        g_autoptr(GList) members = json_object_get_members(object);

        for (GList *l = members; l != NULL; l = l->next) {
            JsonNode *value = json_object_get_member(object, l->data);
            const char *found;

            if (strcmp(l->data, "driver") == 0) {
                const char *driver = string_of(value) != NULL ? string_of(value) : "";
                g_autofree char *folded = fold_name(driver);

                if (!in_list(blockdev_drivers, folded))
                    return driver;
            } else if ((found = find_unsafe_blockdev_driver(value)) != NULL) {
                return found;
            }
        }
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(array); i++) {
            const char *found = find_unsafe_blockdev_driver(json_array_get_element(array, i));
            if (found != NULL)
                return found;
        }
    }
    return NULL;
}

/*
 * blockdev-add, at every depth: no host path, and every "driver" one of
 * blockdev_drivers. Other strings name existing nodes (BlockdevRef), which
 * are the pod's own.
 */
static gboolean
check_blockdev(const char *execute, JsonObject *arguments, GError **error)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), arguments);
    const char *found;

    if ((found = find_path(node)) != NULL)
        return refuse_path(error, execute, found);
    if ((found = find_unsafe_blockdev_driver(node)) != NULL)
        return refuse_driver(error, execute, found,
                             _("only null-co, null-aio, raw and copy-on-read over existing nodes "
                               "are (they open nothing on the host)"));
    return TRUE;
}

/* device_add: a driver that stays inside QEMU, and no argument that is a path. */
static gboolean
check_device(const char *execute, JsonObject *arguments, GError **error)
{
    g_autoptr(JsonNode) node = NULL;
    const char *found;
    const char *driver;

    if (arguments == NULL)
        return TRUE; /* QEMU says what is missing */
    node = json_node_init_object(json_node_alloc(), arguments);
    driver = string_of(json_object_get_member(arguments, "driver"));
    if (driver != NULL) {
        g_autofree char *folded = fold_name(driver);

        if (has_prefix_in(device_driver_prefixes, folded))
            return refuse_driver(error, execute, driver,
                                 _("the device reaches host devices, files or file descriptors"));
    }
    for (guint i = 0; device_file_properties[i] != NULL; i++) {
        JsonNode *value = json_object_get_member(arguments, device_file_properties[i]);

        if (value != NULL) {
            g_autofree char *quoted = podvm_quote_for_message(execute);
            g_autofree char *property = podvm_quote_for_message(device_file_properties[i]);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                        _("QMP command %s is never allowed with property %s: it names a host "
                          "file or file descriptor"),
                        quoted, property);
            return FALSE;
        }
    }
    if ((found = find_path(node)) != NULL)
        return refuse_path(error, execute, found);
    return TRUE;
}

gboolean
podvm_qmp_policy_check(PodvmQmpPassthrough mode, const char *execute, JsonObject *arguments,
                       GError **error)
{
    g_autofree char *folded = NULL;

    g_return_val_if_fail(execute != NULL, FALSE);

    folded = fold_name(execute);
    if (in_list(never_commands, folded) || has_prefix_in(never_prefixes, folded))
        return refuse(error, execute,
                      _("it can reach host files, sockets, file descriptors or processes"));
    if (strcmp(folded, "blockdev-add") == 0 && arguments != NULL &&
        !check_blockdev(execute, arguments, error))
        return FALSE;
    if (strcmp(folded, "device-add") == 0 && !check_device(execute, arguments, error))
        return FALSE;
    if (mode == PODVM_QMP_PASSTHROUGH_EXPERT || in_list(read_only_commands, folded))
        return TRUE;
    {
        g_autofree char *quoted = podvm_quote_for_message(execute);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("QMP command %s is not allowed: the passthrough is read-only (query "
                      "commands only); set passthrough=expert in the [qmp] section of podvmd.conf "
                      "to allow it"),
                    quoted);
        return FALSE;
    }
}
