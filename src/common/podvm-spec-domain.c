/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spec.domain: resources and memory, cpu, machine, firmware (bootloader,
 * kernel boot, uuid, serial) and devices (the disks are read by
 * podvm-spec-storage.c).
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-quantity.h"

static void
parse_resource_list(Parser *p, const char *path, JsonNode *node, guint64 *out_memory)
{
    static const Field fields[] = {
        { "memory", FIELD_KNOWN, NULL },
        { "cpu", FIELD_NOT_YET, N_("give spec.domain.cpu.cores instead") },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *memory;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    memory = spec_member(object, "memory");
    if (memory != NULL) {
        g_autofree char *memory_path = spec_path_member(path, "memory");
        spec_read_bytes(p, memory_path, memory, out_memory);
    }
}

static void
parse_resources(Parser *p, const char *path, JsonNode *node, DomainState *state)
{
    static const Field fields[] = {
        { "requests", FIELD_KNOWN, NULL },
        { "limits", FIELD_KNOWN, NULL },
        { "overcommitGuestOverhead", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    child = spec_member(object, "requests");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "requests");
        parse_resource_list(p, child_path, child, &state->requests_memory);
    }
    child = spec_member(object, "limits");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "limits");
        parse_resource_list(p, child_path, child, &state->limits_memory);
    }
}

static void
parse_memory(Parser *p, const char *path, JsonNode *node, DomainState *state)
{
    static const Field fields[] = {
        { "guest", FIELD_KNOWN, NULL },
        { "hugepages", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "maxGuest", FIELD_NOT_YET, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *guest;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    guest = spec_member(object, "guest");
    if (guest != NULL) {
        g_autofree char *guest_path = spec_path_member(path, "guest");
        spec_read_bytes(p, guest_path, guest, &state->guest_memory);
    }
}

static void
parse_cpu(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "cores", FIELD_KNOWN, NULL },
        { "sockets", FIELD_KNOWN, NULL },
        { "threads", FIELD_KNOWN, NULL },
        { "model", FIELD_KNOWN, NULL },
        { "dedicatedCpuPlacement", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "isolateEmulatorThread", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "features", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "numa", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "realtime", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "maxSockets", FIELD_NOT_YET, NULL },
    };
    static const char *const topology[] = { "cores", "sockets", "threads" };
    guint *values[] = { &spec->cpu_cores, &spec->cpu_sockets, &spec->cpu_threads };
    JsonObject *object = spec_read_object(p, path, node);
    gboolean topology_ok = TRUE;
    guint64 product = 1;
    JsonNode *child;
    gsize i;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);

    for (i = 0; i < G_N_ELEMENTS(topology); i++) {
        g_autofree char *child_path = spec_path_member(path, topology[i]);
        gint64 value = 0;

        child = spec_member(object, topology[i]);
        if (child == NULL)
            continue;
        if (spec_read_integer(p, child_path, child, 1, MAX_TOPOLOGY,
                              _("must be a whole number from 1 to 255"), &value)) {
            *values[i] = (guint)value;
            product *= (guint64)value;
        } else {
            topology_ok = FALSE;
        }
    }
    if (topology_ok && product > MAX_TOPOLOGY) {
        spec_add_problem(
            p, path,
            _("cores x sockets x threads is %" G_GUINT64_FORMAT ": a pod has at most %d vCPUs"),
            product, MAX_TOPOLOGY);
    }

    child = spec_member(object, "model");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "model");
        const char *model = spec_read_string(p, child_path, child);

        if (model != NULL && !spec_matches_charset(model, "._-", TRUE)) {
            g_autofree char *quoted = podvm_quote_for_message(model);
            spec_add_problem(
                p, child_path,
                _("%s is not a valid CPU model: use letters, digits, '.', '_' and '-', "
                  "for example \"host-model\" or \"Skylake-Server\""),
                quoted);
        } else if (model != NULL) {
            spec->cpu_model = g_strdup(model);
        }
    }
}

static void
parse_machine(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "type", FIELD_KNOWN, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    child = spec_member(object, "type");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "type");
        const char *type = spec_read_string(p, child_path, child);

        if (type != NULL && !spec_matches_charset(type, "._-", FALSE)) {
            g_autofree char *quoted = podvm_quote_for_message(type);
            spec_add_problem(
                p, child_path,
                _("%s is not a valid machine type: use lowercase letters, digits, '.', "
                  "'_' and '-', for example \"q35\" or \"pc-q35-7.2\""),
                quoted);
        } else if (type != NULL) {
            spec->machine_type = g_strdup(type);
        }
    }
}

static void
parse_bootloader(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "bios", FIELD_KNOWN, NULL },
        { "efi", FIELD_NOT_YET, NULL },
    };
    static const Field bios_fields[] = {
        { "useSerial", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *bios;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    bios = spec_member(object, "bios");
    if (bios != NULL) {
        g_autofree char *bios_path = spec_path_member(path, "bios");
        JsonObject *bios_object = spec_read_object(p, bios_path, bios);

        if (bios_object != NULL)
            CHECK_MEMBERS(p, bios_path, bios_object, bios_fields);
    }
}

static char *
read_host_path(Parser *p, const char *path, JsonNode *node)
{
    const char *text = spec_read_string(p, path, node);

    if (text == NULL)
        return NULL;
    if (*text == '\0') {
        spec_add_problem_literal(p, path, _("must not be empty"));
        return NULL;
    }
    if (spec_has_control_character(text, FALSE)) {
        spec_add_problem_literal(p, path, _("must not contain control characters"));
        return NULL;
    }
    return g_strdup(text);
}

static void
parse_kernel_boot(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "kernelPath", FIELD_KNOWN, NULL },
        { "initrdPath", FIELD_KNOWN, NULL },
        { "kernelArgs", FIELD_KNOWN, NULL },
        { "container", FIELD_NOT_YET, N_("give host paths in kernelPath and initrdPath instead") },
    };
    JsonObject *object = spec_read_object(p, path, node);
    g_autofree char *kernel_path = spec_path_member(path, "kernelPath");
    g_autofree char *initrd_path = spec_path_member(path, "initrdPath");
    g_autofree char *args_path = spec_path_member(path, "kernelArgs");
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);

    child = spec_member(object, "kernelPath");
    if (child != NULL)
        spec->kernel_path = read_host_path(p, kernel_path, child);
    else if (spec_member(object, "container") == NULL)
        spec_add_problem_literal(p, kernel_path,
                                 _("required: the host path of the kernel to boot"));

    child = spec_member(object, "initrdPath");
    if (child != NULL)
        spec->initrd_path = read_host_path(p, initrd_path, child);

    child = spec_member(object, "kernelArgs");
    if (child != NULL) {
        const char *args = spec_read_string(p, args_path, child);

        if (args != NULL && (strchr(args, '\n') != NULL || strchr(args, '\r') != NULL))
            spec_add_problem_literal(p, args_path, _("must be one line: no newline characters"));
        else if (args != NULL && spec_has_control_character(args, TRUE))
            spec_add_problem_literal(p, args_path, _("must not contain control characters"));
        else if (args != NULL && !spec_refuse_hidden(p, args_path, args))
            spec->kernel_args = g_strdup(args);
    }
}

static void
parse_firmware(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, DomainState *state)
{
    static const Field fields[] = {
        { "bootloader", FIELD_KNOWN, NULL },
        { "kernelBoot", FIELD_KNOWN, NULL },
        { "uuid", FIELD_KNOWN, NULL },
        { "serial", FIELD_KNOWN, NULL },
        { "acpi", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);

    child = spec_member(object, "bootloader");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "bootloader");
        parse_bootloader(p, child_path, child);
    }

    child = spec_member(object, "kernelBoot");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "kernelBoot");

        state->kernel_boot_given = TRUE;
        parse_kernel_boot(p, child_path, child, spec);
    }

    child = spec_member(object, "uuid");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "uuid");
        const char *uuid = spec_read_string(p, child_path, child);

        if (uuid != NULL && !g_uuid_string_is_valid(uuid)) {
            g_autofree char *quoted = podvm_quote_for_message(uuid);
            spec_add_problem(p, child_path,
                             _("%s is not a UUID: write it like "
                               "\"5f2e9a2c-6a5b-4b1e-9f0e-3c2d1b0a9f8e\""),
                             quoted);
        } else if (uuid != NULL) {
            spec->firmware_uuid = g_ascii_strdown(uuid, -1);
        }
    }

    child = spec_member(object, "serial");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "serial");
        const char *serial = spec_read_string(p, child_path, child);
        const guchar *c;

        for (c = (const guchar *)serial; serial != NULL && *c != '\0'; c++) {
            if (*c < 0x20 || *c >= 0x7f)
                break;
        }
        if (serial != NULL && *c != '\0')
            spec_add_problem_literal(p, child_path,
                                     _("must be printable ASCII: letters, digits, punctuation and "
                                       "spaces"));
        else if (serial != NULL)
            spec->firmware_serial = g_strdup(serial);
    }
}

static void
parse_devices(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, DomainState *state)
{
    static const Field fields[] = {
        { "autoattachSerialConsole", FIELD_KNOWN, NULL },
        { "rng", FIELD_KNOWN, NULL },
        { "autoattachGuestAgent", FIELD_KNOWN, NULL },
        { "autoattachMemBalloon", FIELD_KNOWN, NULL },
        { "disks", FIELD_KNOWN, NULL },
        { "interfaces", FIELD_KNOWN, NULL },
        { "autoattachGraphicsDevice", FIELD_NOT_PODVM_UNLESS_OFF,
          N_("podvm pods have a serial console and no display") },
        { "autoattachInputDevice", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "autoattachPodInterface", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "autoattachVSOCK", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "blockMultiQueue", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "networkInterfaceMultiqueue", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "useVirtioTransitional", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "disableHotplug", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "watchdog", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "inputs", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "gpus", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "hostDevices", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "filesystems", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "tpm", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "sound", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "clientPassthrough", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL) {
        state->disks.unreadable = TRUE;
        state->interfaces.unreadable = TRUE;
        return;
    }
    CHECK_MEMBERS(p, path, object, fields);

    child = spec_member(object, "disks");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "disks");
        spec_parse_disks(p, child_path, child, spec, &state->disks);
    }

    child = spec_member(object, "interfaces");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "interfaces");
        spec_parse_interfaces(p, child_path, child, spec, &state->interfaces);
    }

    child = spec_member(object, "autoattachSerialConsole");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "autoattachSerialConsole");
        spec_read_bool(p, child_path, child, &spec->autoattach_serial_console);
    }

    child = spec_member(object, "autoattachGuestAgent");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "autoattachGuestAgent");

        if (spec_read_bool(p, child_path, child, &spec->autoattach_guest_agent))
            state->guest_agent_on = spec->autoattach_guest_agent;
    }

    child = spec_member(object, "autoattachMemBalloon");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "autoattachMemBalloon");
        spec_read_bool(p, child_path, child, &spec->autoattach_mem_balloon);
    }

    child = spec_member(object, "rng");
    if (child != NULL) {
        g_autofree char *child_path = spec_path_member(path, "rng");
        JsonObject *rng = spec_read_object(p, child_path, child);

        if (rng != NULL) {
            spec_check_members(p, child_path, rng, NULL, 0); /* every member is unknown */
            spec->rng = TRUE;
        }
    }
}

void
spec_parse_domain(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec, DomainState *state)
{
    static const Field fields[] = {
        { "resources", FIELD_KNOWN, NULL },
        { "memory", FIELD_KNOWN, NULL },
        { "cpu", FIELD_KNOWN, NULL },
        { "machine", FIELD_KNOWN, NULL },
        { "firmware", FIELD_KNOWN, NULL },
        { "devices", FIELD_KNOWN, NULL },
        { "features", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "clock", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "ioThreadsPolicy", FIELD_NOT_YET, NULL },
        { "chassis", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "launchSecurity", FIELD_NOT_YET_UNLESS_OFF, NULL },
    };
    JsonObject *object = spec_read_object(p, path, node);
    g_autofree char *resources_path = spec_path_member(path, "resources");
    g_autofree char *memory_path = spec_path_member(path, "memory");
    g_autofree char *cpu_path = spec_path_member(path, "cpu");
    g_autofree char *machine_path = spec_path_member(path, "machine");
    g_autofree char *firmware_path = spec_path_member(path, "firmware");
    g_autofree char *devices_path = spec_path_member(path, "devices");
    JsonNode *child;

    if (object == NULL) {
        state->disks.unreadable = TRUE;
        state->interfaces.unreadable = TRUE;
        return;
    }
    CHECK_MEMBERS(p, path, object, fields);

    if ((child = spec_member(object, "resources")) != NULL)
        parse_resources(p, resources_path, child, state);
    if ((child = spec_member(object, "memory")) != NULL)
        parse_memory(p, memory_path, child, state);
    if ((child = spec_member(object, "cpu")) != NULL)
        parse_cpu(p, cpu_path, child, spec);
    if ((child = spec_member(object, "machine")) != NULL)
        parse_machine(p, machine_path, child, spec);
    if ((child = spec_member(object, "firmware")) != NULL)
        parse_firmware(p, firmware_path, child, spec, state);
    if ((child = spec_member(object, "devices")) != NULL)
        parse_devices(p, devices_path, child, spec, state);

    /* requests win over limits; memory.guest must agree with whichever is given. */
    {
        guint64 resources =
            state->requests_memory != 0 ? state->requests_memory : state->limits_memory;
        const char *resources_name =
            state->requests_memory != 0 ? "resources.requests.memory" : "resources.limits.memory";

        if (state->guest_memory != 0 && resources != 0 && state->guest_memory != resources) {
            g_autofree char *guest_path = spec_path_member(memory_path, "guest");
            g_autofree char *other_path = spec_path_member(path, resources_name);
            g_autofree char *guest_text = podvm_quantity_format_bytes(state->guest_memory);
            g_autofree char *other_text = podvm_quantity_format_bytes(resources);

            spec_add_problem(p, guest_path,
                             _("is %s but %s is %s: give only one of them, or the same value"),
                             guest_text, other_path, other_text);
        }
        spec->memory = state->guest_memory != 0 ? state->guest_memory : resources;
    }
}
