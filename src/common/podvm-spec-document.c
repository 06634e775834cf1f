/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The document around the pod: apiVersion and kind, metadata, a
 * VirtualMachine's run strategy and template, and spec (which reads its
 * sections and makes the checks across them).
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

/* ------------------------------------------------------------------------ */
/* metadata */

static const Field k8s_managed_metadata[] = {
    { "generateName", FIELD_NOT_PODVM, NULL },
    { "creationTimestamp", FIELD_NOT_PODVM, NULL },
    { "resourceVersion", FIELD_NOT_PODVM, NULL },
    { "generation", FIELD_NOT_PODVM, NULL },
    { "selfLink", FIELD_NOT_PODVM, NULL },
    { "deletionTimestamp", FIELD_NOT_PODVM, NULL },
    { "deletionGracePeriodSeconds", FIELD_NOT_PODVM, NULL },
    { "ownerReferences", FIELD_NOT_PODVM, NULL },
    { "finalizers", FIELD_NOT_PODVM, NULL },
    { "managedFields", FIELD_NOT_PODVM, NULL },
    { "clusterName", FIELD_NOT_PODVM, NULL },
};

static void
check_metadata_members(Parser *p, const char *path, JsonObject *object, const Field *own,
                       gsize n_own)
{
    g_autofree Field *fields = g_new(Field, n_own + G_N_ELEMENTS(k8s_managed_metadata));

    memcpy(fields, own, n_own * sizeof(Field));
    memcpy(fields + n_own, k8s_managed_metadata, sizeof(k8s_managed_metadata));
    spec_check_members(p, path, object, fields, n_own + G_N_ELEMENTS(k8s_managed_metadata));
}

static void
parse_metadata(Parser *p, JsonObject *metadata, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },        { "uid", FIELD_KNOWN, NULL },
        { "labels", FIELD_KNOWN, NULL },      { "annotations", FIELD_KNOWN, NULL },
        { "namespace", FIELD_IGNORED, NULL },
    };
    JsonNode *node;

    check_metadata_members(p, "metadata", metadata, fields, G_N_ELEMENTS(fields));

    node = spec_member(metadata, "name");
    if (node == NULL)
        spec_add_problem_literal(p, "metadata.name", _("required"));
    else
        spec->name = spec_read_name(p, "metadata.name", node);

    node = spec_member(metadata, "uid");
    if (node != NULL) {
        const char *uid = spec_read_string(p, "metadata.uid", node);

        if (uid != NULL && !g_uuid_string_is_valid(uid)) {
            g_autofree char *quoted = podvm_quote_for_message(uid);
            spec_add_problem(p, "metadata.uid", _("%s is not a UUID"), quoted);
        } else if (uid != NULL) {
            spec->uid = g_ascii_strdown(uid, -1);
        }
    }

    /* KubeVirt manifests carry a namespace; podvm has none and keeps nothing. */
    node = spec_member(metadata, "namespace");
    if (node != NULL)
        spec_read_string(p, "metadata.namespace", node);

    node = spec_member(metadata, "labels");
    if (node != NULL)
        spec_read_string_map(p, "metadata.labels", node, spec->labels, TRUE);
    node = spec_member(metadata, "annotations");
    if (node != NULL)
        spec_read_string_map(p, "metadata.annotations", node, spec->annotations, TRUE);
}

/* spec.template.metadata of a VirtualMachine: labels and annotations merge in. */
static void
parse_template_metadata(Parser *p, const char *path, JsonObject *metadata, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "labels", FIELD_KNOWN, NULL },
        { "annotations", FIELD_KNOWN, NULL },
        { "name", FIELD_NOT_PODVM, N_("the pod takes its name from metadata.name") },
        { "namespace", FIELD_IGNORED, NULL },
        { "uid", FIELD_NOT_PODVM, NULL },
    };
    g_autofree char *labels_path = spec_path_member(path, "labels");
    g_autofree char *annotations_path = spec_path_member(path, "annotations");
    JsonNode *node;

    check_metadata_members(p, path, metadata, fields, G_N_ELEMENTS(fields));

    node = spec_member(metadata, "namespace");
    if (node != NULL) {
        g_autofree char *namespace_path = spec_path_member(path, "namespace");
        spec_read_string(p, namespace_path, node);
    }
    node = spec_member(metadata, "labels");
    if (node != NULL)
        spec_read_string_map(p, labels_path, node, spec->labels, FALSE);
    node = spec_member(metadata, "annotations");
    if (node != NULL)
        spec_read_string_map(p, annotations_path, node, spec->annotations, FALSE);
}

/* ------------------------------------------------------------------------ */
/* spec */

static void
parse_pod_spec(Parser *p, const char *path, JsonObject *object, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "domain", FIELD_KNOWN, NULL },
        { "apps", FIELD_KNOWN, NULL },
        { "terminationGracePeriodSeconds", FIELD_KNOWN, NULL },
        { "restartPolicy", FIELD_KNOWN, NULL },
        { "hostname", FIELD_KNOWN, NULL },
        { "volumes", FIELD_KNOWN, NULL },
        { "networks", FIELD_KNOWN, NULL },
        { "livenessProbe", FIELD_KNOWN, NULL },
        { "readinessProbe", FIELD_KNOWN, NULL },
        { "startupProbe", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "evictionStrategy", FIELD_KNOWN, NULL },
        { "accessCredentials", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "subdomain", FIELD_NOT_YET, NULL },
        { "nodeSelector", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "affinity", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "tolerations", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "topologySpreadConstraints", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
        { "schedulerName", FIELD_NOT_PODVM, NULL },
        { "priorityClassName", FIELD_NOT_PODVM, NULL },
        { "dnsPolicy", FIELD_NOT_PODVM, NULL },
        { "dnsConfig", FIELD_NOT_PODVM_UNLESS_OFF, NULL },
    };
    g_autofree char *domain_path = spec_path_member(path, "domain");
    g_autofree char *kernel_boot_path = g_strdup_printf("%s.firmware.kernelBoot", domain_path);
    g_autofree char *disks_path = g_strdup_printf("%s.devices.disks", domain_path);
    g_autofree char *volumes_path = spec_path_member(path, "volumes");
    g_autofree char *interfaces_path = g_strdup_printf("%s.devices.interfaces", domain_path);
    g_autofree char *networks_path = spec_path_member(path, "networks");
    DomainState state = { 0 };
    SpecNamedList volumes = { 0 };
    SpecNamedList networks = { 0 };
    JsonNode *child;

    CHECK_MEMBERS(p, path, object, fields);

    if ((child = spec_member(object, "domain")) != NULL)
        spec_parse_domain(p, domain_path, child, spec, &state);
    if ((child = spec_member(object, "apps")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "apps");
        spec_parse_apps(p, child_path, child, spec);
    }
    if ((child = spec_member(object, "terminationGracePeriodSeconds")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "terminationGracePeriodSeconds");
        gint64 seconds = 0;

        if (spec_read_integer(p, child_path, child, 0, MAX_GRACE_SECONDS,
                              _("must be a whole number of seconds from 0 to 86400"), &seconds))
            spec->termination_grace_period_seconds = seconds;
    }
    if ((child = spec_member(object, "restartPolicy")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "restartPolicy");
        const char *policy = spec_read_string(p, child_path, child);

        p->restart_policy_given = TRUE;
        if (policy != NULL && !podvm_restart_policy_from_string(policy, &spec->restart_policy)) {
            g_autofree char *quoted = podvm_quote_for_message(policy);
            spec_add_problem(p, child_path, _("unknown value %s: use Always, OnFailure or Never"),
                             quoted);
        }
    }
    if ((child = spec_member(object, "hostname")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "hostname");
        spec->hostname = spec_read_name(p, child_path, child);
    }
    if ((child = spec_member(object, "evictionStrategy")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "evictionStrategy");
        const char *strategy = spec_read_string(p, child_path, child);

        if (strategy != NULL &&
            !podvm_eviction_strategy_from_string(strategy, &spec->eviction_strategy)) {
            g_autofree char *quoted = podvm_quote_for_message(strategy);
            spec_add_problem(p, child_path,
                             _("unknown value %s: use LiveMigrate, LiveMigrateIfPossible or None"),
                             quoted);
        }
    }

    if ((child = spec_member(object, "volumes")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "volumes");
        spec_parse_volumes(p, child_path, child, spec, &volumes);
    }
    spec_check_disks_use_volumes(p, disks_path, &state.disks, volumes_path, &volumes);

    if ((child = spec_member(object, "networks")) != NULL)
        spec_parse_networks(p, networks_path, child, spec, &networks);
    spec_check_interfaces_join_networks(p, interfaces_path, &state.interfaces, networks_path,
                                        &networks, spec);

    if ((child = spec_member(object, "livenessProbe")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "livenessProbe");

        spec->liveness_probe = spec_parse_probe(p, child_path, child, TRUE);
        spec_check_probe(p, child_path, spec->liveness_probe, spec,
                         spec->apps->len > 0 && !state.kernel_boot_given && !state.disks.given);
    }
    if ((child = spec_member(object, "readinessProbe")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "readinessProbe");

        spec->readiness_probe = spec_parse_probe(p, child_path, child, FALSE);
        spec_check_probe(p, child_path, spec->readiness_probe, spec,
                         spec->apps->len > 0 && !state.kernel_boot_given && !state.disks.given);
    }

    /* podvm's app guest has a channel of its own, and no guest agent. */
    if (state.guest_agent_on && spec->apps->len > 0 && !state.kernel_boot_given &&
        !state.disks.given) {
        g_autofree char *devices_path = spec_path_member(domain_path, "devices");
        g_autofree char *agent_path = spec_path_member(devices_path, "autoattachGuestAgent");

        spec_add_problem_literal(p, agent_path,
                                 _("podvm's app guest (an app pod without a kernel or disks) has "
                                   "no guest agent; leave it out"));
    }

    /*
     * Something to boot: a kernel, or a disk (the firmware boots from it);
     * a pod with apps and neither boots podvm's app guest.
     */
    if (!state.kernel_boot_given && !state.disks.given && spec->apps->len == 0)
        spec_add_problem_literal(p, kernel_boot_path,
                                 _("required: give a kernel to boot (firmware.kernelBoot) or a "
                                   "disk to boot from (devices.disks)"));
    spec_named_list_clear(&state.disks);
    spec_named_list_clear(&state.interfaces);
    spec_named_list_clear(&volumes);
    spec_named_list_clear(&networks);
}

typedef struct {
    const char *name;
    PodvmRestartPolicy policy;
    gboolean start;
} RunStrategy;

static const RunStrategy run_strategies[] = {
    { "Always", PODVM_RESTART_ALWAYS, TRUE }, { "RerunOnFailure", PODVM_RESTART_ON_FAILURE, TRUE },
    { "Once", PODVM_RESTART_NEVER, TRUE },    { "Manual", PODVM_RESTART_NEVER, FALSE },
    { "Halted", PODVM_RESTART_NEVER, FALSE },
};

static void
parse_vm_spec(Parser *p, JsonObject *object, PodvmSpec *spec)
{
    static const Field fields[] = {
        { "running", FIELD_KNOWN, NULL },
        { "runStrategy", FIELD_KNOWN, NULL },
        { "template", FIELD_KNOWN, NULL },
        { "dataVolumeTemplates", FIELD_NOT_YET_UNLESS_OFF, NULL },
        { "instancetype", FIELD_NOT_PODVM, NULL },
        { "preference", FIELD_NOT_PODVM, NULL },
        { "updateVolumesStrategy", FIELD_NOT_YET, NULL },
    };
    static const Field template_fields[] = {
        { "metadata", FIELD_KNOWN, NULL },
        { "spec", FIELD_KNOWN, NULL },
    };
    const RunStrategy *strategy = NULL;
    JsonNode *running = spec_member(object, "running");
    JsonNode *run_strategy = spec_member(object, "runStrategy");
    JsonNode *child;
    JsonObject *template_object;

    CHECK_MEMBERS(p, "spec", object, fields);

    if (running != NULL && run_strategy != NULL) {
        spec_add_problem_literal(p, "spec.running",
                                 _("give either spec.running or spec.runStrategy, not both"));
    } else if (running != NULL) {
        gboolean value = FALSE;

        if (spec_read_bool(p, "spec.running", running, &value))
            strategy = &run_strategies[value ? 0 : 4];
    } else if (run_strategy != NULL) {
        const char *name = spec_read_string(p, "spec.runStrategy", run_strategy);
        gsize i;

        for (i = 0; name != NULL && i < G_N_ELEMENTS(run_strategies); i++) {
            if (strcmp(run_strategies[i].name, name) == 0)
                strategy = &run_strategies[i];
        }
        if (name != NULL && strategy == NULL) {
            g_autofree char *quoted = podvm_quote_for_message(name);
            spec_add_problem(p, "spec.runStrategy",
                             _("unknown value %s: use Always, RerunOnFailure, Once, Manual or "
                               "Halted"),
                             quoted);
        }
    }

    child = spec_member(object, "template");
    if (child == NULL) {
        spec_add_problem_literal(p, "spec.template", _("required: the VirtualMachine's pod"));
        return;
    }
    template_object = spec_read_object(p, "spec.template", child);
    if (template_object == NULL)
        return;
    CHECK_MEMBERS(p, "spec.template", template_object, template_fields);

    child = spec_member(template_object, "metadata");
    if (child != NULL) {
        JsonObject *metadata = spec_read_object(p, "spec.template.metadata", child);

        if (metadata != NULL)
            parse_template_metadata(p, "spec.template.metadata", metadata, spec);
    }

    child = spec_member(template_object, "spec");
    if (child == NULL) {
        spec_add_problem_literal(p, "spec.template.spec", _("required"));
    } else {
        JsonObject *pod_spec = spec_read_object(p, "spec.template.spec", child);

        if (pod_spec != NULL)
            parse_pod_spec(p, "spec.template.spec", pod_spec, spec);
    }

    if (strategy != NULL) {
        if (p->restart_policy_given && spec->restart_policy != strategy->policy) {
            spec_add_problem(
                p, "spec.template.spec.restartPolicy",
                _("is %s but the VirtualMachine's run strategy means %s: leave it out"),
                podvm_restart_policy_to_string(spec->restart_policy),
                podvm_restart_policy_to_string(strategy->policy));
        }
        spec->restart_policy = strategy->policy;
        spec->start_on_create = strategy->start;
    }
}

/* apiVersion and kind; returns the kind to read the rest as. */
static const char *
parse_type(Parser *p, JsonObject *root)
{
    static const char *const hint = N_("use apiVersion \"podvm.io/v1\" with kind \"Pod\", or "
                                       "\"kubevirt.io/v1\" with kind \"VirtualMachineInstance\" "
                                       "or \"VirtualMachine\"");
    JsonNode *api_node = spec_member(root, "apiVersion");
    JsonNode *kind_node = spec_member(root, "kind");
    const char *api = NULL;
    const char *kind = NULL;

    if (api_node == NULL)
        spec_add_problem(p, "apiVersion", _("required: %s"), _(hint));
    else
        api = spec_read_string(p, "apiVersion", api_node);
    if (kind_node == NULL)
        spec_add_problem(p, "kind", _("required: %s"), _(hint));
    else
        kind = spec_read_string(p, "kind", kind_node);

    if (api != NULL) {
        gboolean podvm = strcmp(api, API_PODVM_V1) == 0;
        gboolean kubevirt =
            strcmp(api, API_KUBEVIRT_V1) == 0 || strcmp(api, API_KUBEVIRT_V1ALPHA3) == 0;

        if (!podvm && !kubevirt) {
            g_autofree char *quoted = podvm_quote_for_message(api);
            spec_add_problem(p, "apiVersion", _("unknown value %s: %s"), quoted, _(hint));
        } else if (kind != NULL && podvm && strcmp(kind, KIND_POD) != 0) {
            g_autofree char *quoted = podvm_quote_for_message(kind);
            spec_add_problem(p, "kind", _("%s is not a kind of %s: use \"Pod\""), quoted, api);
        } else if (kind != NULL && kubevirt && strcmp(kind, KIND_VMI) != 0 &&
                   strcmp(kind, KIND_VM) != 0) {
            g_autofree char *quoted = podvm_quote_for_message(kind);
            spec_add_problem(p, "kind",
                             _("%s is not a kind of %s podvm reads: use \"VirtualMachineInstance\" "
                               "or \"VirtualMachine\""),
                             quoted, api);
        }
    }

    if (g_strcmp0(kind, KIND_VM) == 0)
        return KIND_VM;
    if (g_strcmp0(kind, KIND_VMI) == 0)
        return KIND_VMI;
    return KIND_POD;
}

PodvmSpec *
spec_parse_document(Parser *p, JsonNode *root)
{
    static const Field fields[] = {
        { "apiVersion", FIELD_KNOWN, NULL },
        { "kind", FIELD_KNOWN, NULL },
        { "metadata", FIELD_KNOWN, NULL },
        { "spec", FIELD_KNOWN, NULL },
        /* Read-only: accepted and dropped, so "show -o json" output can be fed back. */
        { "status", FIELD_IGNORED, NULL },
    };
    g_autoptr(PodvmSpec) spec = spec_new();
    JsonObject *object;
    JsonNode *child;
    const char *kind;

    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        spec_add_problem(p, "", _("the document must be a JSON object, got %s"),
                         spec_type_name(root));
        return NULL;
    }
    object = json_node_get_object(root);
    CHECK_MEMBERS(p, "", object, fields);

    kind = parse_type(p, object);
    g_free(spec->source_kind);
    spec->source_kind = g_strdup(kind);

    child = spec_member(object, "metadata");
    if (child == NULL) {
        spec_add_problem_literal(p, "metadata", _("required: at least a name"));
    } else {
        JsonObject *metadata = spec_read_object(p, "metadata", child);

        if (metadata != NULL)
            parse_metadata(p, metadata, spec);
    }

    child = spec_member(object, "spec");
    if (child == NULL) {
        spec_add_problem_literal(p, "spec", _("required"));
    } else {
        JsonObject *spec_object = spec_read_object(p, "spec", child);

        if (spec_object != NULL && strcmp(kind, KIND_VM) == 0)
            parse_vm_spec(p, spec_object, spec);
        else if (spec_object != NULL)
            parse_pod_spec(p, "spec", spec_object, spec);
    }

    if (spec->machine_type == NULL)
        spec->machine_type = g_strdup("q35");
    return g_steal_pointer(&spec);
}
