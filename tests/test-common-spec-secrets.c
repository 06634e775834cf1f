/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What answers show of a spec to readers (podvm_spec_to_json_redacted:
 * every GET and list, the D-Bus Spec property and signals): cloud-init
 * data, app environment values, httpGet header values and kernelArgs
 * hidden, everything else as stored; and a hidden placeholder sent back
 * is refused rather than stored.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-spec.h"

#define POD                                                                                    \
    "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"s\"},"    \
    " \"spec\": {\"domain\": {\"firmware\": {\"kernelBoot\": {\"kernelPath\": \"/k\","         \
    " \"kernelArgs\": \"console=ttyS0 rd.luks.key=kernel-secret\"}}, \"devices\":"             \
    " {\"disks\": [{\"name\": \"ci\","                                                         \
    " \"cdrom\": {}}], \"interfaces\": [{\"name\": \"default\", \"masquerade\": {}}]}},"       \
    " \"networks\": [{\"name\": \"default\", \"pod\": {}}], \"volumes\": [{\"name\": \"ci\", " \
    "\"cloudInitNoCloud\": {\"userData\":"                                                     \
    " \"#cloud-config\\npassword: user-data-secret\\n\"}}], \"apps\": [{\"name\": \"db\","     \
    " \"image\": \"oci:/srv/db:1\", \"env\": [{\"name\": \"DB_PASSWORD\", \"value\":"          \
    " \"env-secret\"}, {\"name\": \"EMPTY\"}]}], \"readinessProbe\": {\"httpGet\": {\"port\":" \
    " 80, \"httpHeaders\": [{\"name\": \"Authorization\", \"value\": \"Bearer "                \
    "header-secret\"}]}}}}"

static PodvmSpec *
parse(const char *json, GPtrArray **out_problems)
{
    g_autoptr(GError) error = NULL;
    PodvmSpec *spec = podvm_spec_parse_data(json, -1, out_problems, &error);

    if (spec == NULL)
        g_test_message("%s", error->message);
    return spec;
}

static char *
text_of(JsonNode *node)
{
    return json_to_string(node, FALSE);
}

static void
test_hidden(void)
{
    g_autoptr(PodvmSpec) spec = parse(POD, NULL);
    g_autoptr(JsonNode) shown = NULL;
    g_autoptr(JsonNode) full = NULL;
    g_autofree char *shown_text = NULL;
    g_autofree char *full_text = NULL;

    g_assert_nonnull(spec);
    shown = podvm_spec_to_json_redacted(spec);
    shown_text = text_of(shown);
    g_assert_null(strstr(shown_text, "user-data-secret"));
    g_assert_null(strstr(shown_text, "env-secret"));
    /* Names and sizes stay, so the reader knows what is there. */
    g_assert_nonnull(strstr(shown_text, "\"DB_PASSWORD\""));
    g_assert_nonnull(strstr(shown_text, "\"(hidden: 10 bytes"));
    g_assert_nonnull(strstr(shown_text, "\"EMPTY\""));
    g_assert_null(strstr(shown_text, "kernel-secret"));
    g_assert_null(strstr(shown_text, "console=ttyS0"));
    g_assert_null(strstr(shown_text, "header-secret"));
    g_assert_nonnull(strstr(shown_text, "\"Authorization\""));
    /* The stored spec is untouched. */
    full = podvm_spec_to_json(spec);
    full_text = text_of(full);
    g_assert_nonnull(strstr(full_text, "user-data-secret"));
    g_assert_nonnull(strstr(full_text, "env-secret"));
    g_assert_nonnull(strstr(full_text, "rd.luks.key=kernel-secret"));
    g_assert_nonnull(strstr(full_text, "Bearer header-secret"));
}

/* GET, edit, PUT without restoring the values: refused, naming each placeholder. */
static void
test_placeholder_refused(void)
{
    g_autoptr(PodvmSpec) spec = parse(POD, NULL);
    g_autoptr(JsonNode) shown = podvm_spec_to_json_redacted(spec);
    g_autofree char *shown_text = text_of(shown);
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(PodvmSpec) again = parse(shown_text, &problems);
    gboolean env_refused = FALSE;
    gboolean user_data_refused = FALSE;
    gboolean kernel_args_refused = FALSE;
    gboolean header_refused = FALSE;

    g_assert_null(again);
    g_assert_nonnull(problems);
    for (guint i = 0; i < problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);

        g_test_message("%s: %s", problem->path, problem->message);
        if (g_str_has_prefix(problem->message, "is the placeholder")) {
            env_refused |= strcmp(problem->path, "spec.apps[0].env[0].value") == 0;
            user_data_refused |=
                strcmp(problem->path, "spec.volumes[0].cloudInitNoCloud.userData") == 0;
            kernel_args_refused |=
                strcmp(problem->path, "spec.domain.firmware.kernelBoot.kernelArgs") == 0;
            header_refused |=
                strcmp(problem->path, "spec.readinessProbe.httpGet.httpHeaders[0].value") == 0;
        }
    }
    g_assert_true(env_refused);
    g_assert_true(user_data_refused);
    g_assert_true(kernel_args_refused);
    g_assert_true(header_refused);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/spec/secrets/hidden", test_hidden);
    g_test_add_func("/podvm/common/spec/secrets/placeholder-refused", test_placeholder_refused);
    return g_test_run();
}
