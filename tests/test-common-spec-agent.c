/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spec.domain.devices.autoattachGuestAgent (docs/pod-format.md): every VM
 * pod gets the qemu-guest-agent channel, as KubeVirt always attaches it;
 * false turns it off; an app pod (podvm's app guest) never has one, and
 * true there is refused. Written back only when off.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-spec.h"

static PodvmSpec *
parse(const char *json, GPtrArray **out_problems)
{
    g_autoptr(GError) error = NULL;
    PodvmSpec *spec = podvm_spec_parse_data(json, -1, out_problems, &error);

    if (spec == NULL)
        g_test_message("%s", error->message);
    return spec;
}

/* The devices.autoattachGuestAgent member written back: -1 when absent. */
static int
written_agent(const PodvmSpec *spec)
{
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);
    JsonObject *inner = json_object_get_object_member(json_node_get_object(node), "spec");
    JsonObject *domain = json_object_get_object_member(inner, "domain");
    JsonObject *devices = json_object_get_object_member(domain, "devices");

    if (!json_object_has_member(devices, "autoattachGuestAgent"))
        return -1;
    return json_object_get_boolean_member(devices, "autoattachGuestAgent");
}

static void
test_values(void)
{
    static const struct {
        const char *kind;
        const char *devices; /* members of spec.domain.devices */
        const char *rest;    /* more members of spec */
        gboolean has_agent;
        int written;
    } cases[] = {
        /* A plain VM pod, a VirtualMachineInstance: on by default. */
        { "Pod", "", "", TRUE, -1 },
        { "VirtualMachineInstance", "", "", TRUE, -1 },
        { "Pod", "\"autoattachGuestAgent\": true", "", TRUE, -1 },
        { "Pod", "\"autoattachGuestAgent\": null", "", TRUE, -1 },
        { "VirtualMachineInstance", "\"autoattachGuestAgent\": false", "", FALSE, 0 },
        /* A pod with apps and a kernel boots that kernel: a VM pod. */
        { "Pod", "", ", \"apps\": [{\"name\": \"a\", \"image\": \"oci:/x\"}]", TRUE, -1 },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = g_strdup_printf(
            "{\"apiVersion\": \"%s\", \"kind\": \"%s\", \"metadata\": {\"name\": \"p\"}, "
            "\"spec\": {\"domain\": {\"devices\": {%s}, \"firmware\": {\"kernelBoot\": "
            "{\"kernelPath\": \"/k\"}}}%s}}",
            strcmp(cases[i].kind, "Pod") == 0 ? "podvm.io/v1" : "kubevirt.io/v1", cases[i].kind,
            cases[i].devices, cases[i].rest);
        g_autoptr(PodvmSpec) spec = parse(json, NULL);
        g_autoptr(PodvmSpec) again = NULL;
        g_autoptr(PodvmSpec) copy = NULL;
        g_autoptr(JsonNode) written = NULL;
        g_autofree char *text = NULL;

        g_test_message("case %" G_GSIZE_FORMAT, i);
        g_assert_nonnull(spec);
        g_assert_cmpint(podvm_spec_has_guest_agent(spec), ==, cases[i].has_agent);
        g_assert_cmpint(written_agent(spec), ==, cases[i].written);
        written = podvm_spec_to_json(spec);
        text = json_to_string(written, FALSE);
        again = parse(text, NULL);
        g_assert_nonnull(again);
        g_assert_cmpint(podvm_spec_has_guest_agent(again), ==, cases[i].has_agent);
        copy = podvm_spec_copy(spec);
        g_assert_cmpint(podvm_spec_has_guest_agent(copy), ==, cases[i].has_agent);
    }
}

static void
test_app_pod(void)
{
    const char *json = "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": "
                       "{\"name\": \"p\"}, \"spec\": {\"apps\": [{\"name\": \"a\", \"image\": "
                       "\"oci:/x\"}]}}";
    g_autoptr(PodvmSpec) spec = parse(json, NULL);

    /* The app guest has its own channel: no guest agent, and nothing written back. */
    g_assert_nonnull(spec);
    g_assert_false(podvm_spec_has_guest_agent(spec));
    g_assert_cmpint(written_agent(spec), ==, -1);
}

static void
test_refused(void)
{
    static const char *const cases[][3] = {
        /* An app pod cannot have one. */
        { "\"autoattachGuestAgent\": true",
          ", \"apps\": [{\"name\": \"a\", \"image\": \"oci:/x\"}]",
          "no guest agent; leave it out" },
        { "\"autoattachGuestAgent\": \"yes\"",
          ", \"domain\": {\"firmware\": {\"kernelBoot\": "
          "{\"kernelPath\": \"/k\"}}}",
          "expected a boolean" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        /* The devices go into a domain of their own when the case gives none. */
        g_autofree char *json = NULL;
        g_autoptr(GPtrArray) problems = NULL;
        g_autoptr(PodvmSpec) spec = NULL;
        const PodvmSpecProblem *problem;

        if (strstr(cases[i][1], "\"domain\"") != NULL)
            json = g_strdup_printf("{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", "
                                   "\"metadata\": {\"name\": \"p\"}, \"spec\": {\"domain\": "
                                   "{\"devices\": {%s}, \"firmware\": {\"kernelBoot\": "
                                   "{\"kernelPath\": \"/k\"}}}}}",
                                   cases[i][0]);
        else
            json = g_strdup_printf("{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", "
                                   "\"metadata\": {\"name\": \"p\"}, \"spec\": {\"domain\": "
                                   "{\"devices\": {%s}}%s}}",
                                   cases[i][0], cases[i][1]);
        spec = parse(json, &problems);
        g_assert_null(spec);
        g_assert_nonnull(problems);
        g_assert_cmpuint(problems->len, ==, 1);
        problem = g_ptr_array_index(problems, 0);
        g_assert_cmpstr(problem->path, ==, "spec.domain.devices.autoattachGuestAgent");
        g_assert_nonnull(strstr(problem->message, cases[i][2]));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/spec/guest-agent/values", test_values);
    g_test_add_func("/podvm/common/spec/guest-agent/app-pod", test_app_pod);
    g_test_add_func("/podvm/common/spec/guest-agent/refused", test_refused);
    return g_test_run();
}
