/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spec.apps, and the apps rule: the memory and vCPUs of a pod that gives
 * none, from its apps.
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-image-ref.h"

static void
parse_env(Parser *p, const char *path, JsonNode *node, PodvmSpecApp *app)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "value", FIELD_KNOWN, NULL },
        { "valueFrom", FIELD_NOT_PODVM, NULL },
    };
    JsonArray *array = spec_read_array(p, path, node);
    guint i;

    if (array == NULL)
        return;
    for (i = 0; i < json_array_get_length(array); i++) {
        g_autofree char *item_path = spec_path_index(path, i);
        g_autofree char *name_path = spec_path_member(item_path, "name");
        g_autofree char *value_path = spec_path_member(item_path, "value");
        JsonObject *object = spec_read_object(p, item_path, json_array_get_element(array, i));
        const char *name = NULL;
        const char *value = "";
        JsonNode *child;

        if (object == NULL)
            continue;
        CHECK_MEMBERS(p, item_path, object, fields);
        child = spec_member(object, "name");
        if (child == NULL) {
            spec_add_problem_literal(p, name_path, _("required"));
        } else if ((name = spec_read_string(p, name_path, child)) != NULL &&
                   (*name == '\0' || strchr(name, '=') != NULL)) {
            spec_add_problem_literal(p, name_path, _("must be a non-empty name without '='"));
            name = NULL;
        }
        child = spec_member(object, "value");
        if (child != NULL)
            value = spec_read_string(p, value_path, child);
        if (spec_refuse_hidden(p, value_path, value))
            value = NULL;
        if (name != NULL && value != NULL) {
            PodvmSpecEnvVar *var = g_new0(PodvmSpecEnvVar, 1);

            var->name = g_strdup(name);
            var->value = g_strdup(value);
            g_ptr_array_add(app->env, var);
        }
    }
}

/*
 * A registry reference ("docker://REPO:TAG" or the same without
 * "docker://", as KubeVirt writes them; podvm-image-ref.h) or a local OCI
 * layout ("oci:DIR:TAG"). NULL when valid, else why not.
 */
static char *
image_problem(const char *image)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmImageRef) ref = NULL;

    if (spec_has_control_character(image, FALSE) || strchr(image, ' ') != NULL ||
        (!g_str_has_prefix(image, "oci:") && !podvm_image_ref_is_registry(image)) ||
        g_str_equal(image, "oci:") || g_str_equal(image, PODVM_IMAGE_REF_DOCKER_PREFIX)) {
        g_autofree char *quoted = podvm_quote_for_message(image);

        return g_strdup_printf(_("%s is not an image reference podvm can use: write "
                                 "\"docker://[REGISTRY/]REPO:TAG\" (or the same without "
                                 "\"docker://\") for a registry or \"oci:DIR:TAG\" for a local "
                                 "OCI layout"),
                               quoted);
    }
    if (g_str_has_prefix(image, "oci:"))
        return NULL;
    ref = podvm_image_ref_parse(image, &error);
    return ref == NULL ? g_strdup(error->message) : NULL;
}

static PodvmSpecApp *
parse_app(Parser *p, const char *path, JsonNode *node)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },    { "image", FIELD_KNOWN, NULL },
        { "command", FIELD_KNOWN, NULL }, { "args", FIELD_KNOWN, NULL },
        { "env", FIELD_KNOWN, NULL },     { "workingDir", FIELD_KNOWN, NULL },
        { "memory", FIELD_KNOWN, NULL },  { "cpus", FIELD_KNOWN, NULL },
    };
    g_autoptr(PodvmSpecApp) app = spec_app_new();
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    app->name = spec_read_required_name(p, path, object, _("required"));
    {
        g_autofree char *child_path = spec_path_member(path, "image");
        const char *image;

        child = spec_member(object, "image");
        if (child == NULL) {
            spec_add_problem_literal(
                p, child_path, _("required: \"docker://[REGISTRY/]REPO:TAG\" or \"oci:DIR:TAG\""));
        } else if ((image = spec_read_string(p, child_path, child)) != NULL) {
            g_autofree char *problem = image_problem(image);

            if (problem == NULL)
                app->image = g_strdup(image);
            else
                spec_add_problem_literal(p, child_path, problem);
        }
    }
    if ((child = spec_member(object, "command")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "command");
        app->command = spec_read_string_array(p, child_path, child);
    }
    if ((child = spec_member(object, "args")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "args");
        app->args = spec_read_string_array(p, child_path, child);
    }
    if ((child = spec_member(object, "env")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "env");
        parse_env(p, child_path, child, app);
    }
    if ((child = spec_member(object, "workingDir")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "workingDir");
        const char *dir = spec_read_string(p, child_path, child);

        if (dir != NULL && (!g_path_is_absolute(dir) || spec_has_control_character(dir, FALSE)))
            spec_add_problem_literal(p, child_path, _("must be an absolute path, like \"/app\""));
        else if (dir != NULL)
            app->working_dir = g_strdup(dir);
    }
    if ((child = spec_member(object, "memory")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "memory");
        spec_read_bytes(p, child_path, child, &app->memory);
    }
    if ((child = spec_member(object, "cpus")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "cpus");
        spec_read_millicpus(p, child_path, child, &app->millicpus);
    }
    return g_steal_pointer(&app);
}

static gpointer
read_app(Parser *p, const char *path, JsonNode *node)
{
    return parse_app(p, path, node);
}

static const char *
app_name(gconstpointer item)
{
    return ((const PodvmSpecApp *)item)->name;
}

static void
take_app(Parser *p, const char *item_path, gpointer item, gpointer user_data)
{
    PodvmSpec *spec = user_data;

    g_ptr_array_add(spec->apps, item);
}

static void
duplicate_app(Parser *p, const char *name_path, const char *quoted, const char *other_path)
{
    spec_add_problem(p, name_path, _("%s is the name of another app: app names are unique"),
                     quoted);
}

void
spec_parse_apps(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec)
{
    static const SpecNamedListKind kind = {
        .read = read_app,
        .name = app_name,
        .take = take_app,
        .duplicate = duplicate_app,
    };
    SpecNamedList list = { 0 };

    spec_read_named_list(p, path, node, &kind, spec, &list);
    spec_named_list_clear(&list);
}

gboolean
podvm_spec_uses_app_guest(const PodvmSpec *spec)
{
    g_return_val_if_fail(spec != NULL, FALSE);

    return spec->apps != NULL && spec->apps->len > 0 && spec->kernel_path == NULL &&
           (spec->disks == NULL || spec->disks->len == 0);
}

gboolean
podvm_spec_has_guest_agent(const PodvmSpec *spec)
{
    g_return_val_if_fail(spec != NULL, FALSE);

    return spec->autoattach_guest_agent && !podvm_spec_uses_app_guest(spec);
}

const PodvmSpecApp *
podvm_spec_find_app(const PodvmSpec *spec, const char *name)
{
    for (guint i = 0; spec->apps != NULL && i < spec->apps->len; i++) {
        const PodvmSpecApp *app = g_ptr_array_index(spec->apps, i);

        if (g_strcmp0(app->name, name) == 0)
            return app;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The apps rule */

static guint64
add_saturated(guint64 a, guint64 b)
{
    return a > G_MAXUINT64 - b ? G_MAXUINT64 : a + b;
}

guint64
podvm_spec_resolve_memory(const PodvmSpec *spec)
{
    guint64 total = PODVM_SPEC_SYSTEM_MEMORY;
    guint i;

    g_return_val_if_fail(spec != NULL, PODVM_SPEC_SYSTEM_MEMORY);

    if (spec->memory != 0)
        return spec->memory;
    for (i = 0; spec->apps != NULL && i < spec->apps->len; i++) {
        const PodvmSpecApp *app = g_ptr_array_index(spec->apps, i);

        total =
            add_saturated(total, app->memory != 0 ? app->memory : PODVM_SPEC_DEFAULT_APP_MEMORY);
    }
    return total;
}

guint
podvm_spec_resolve_vcpus(const PodvmSpec *spec, guint host_cpus)
{
    guint64 millicpus = 0;
    guint64 cpus;
    guint i;

    g_return_val_if_fail(spec != NULL, MAX(host_cpus, 1));

    if (spec->cpu_cores != 0 || spec->cpu_sockets != 0 || spec->cpu_threads != 0) {
        guint64 product = (guint64)MAX(spec->cpu_cores, 1) * MAX(spec->cpu_sockets, 1) *
                          MAX(spec->cpu_threads, 1);

        return (guint)MIN(product, G_MAXUINT);
    }
    if (spec->apps == NULL || spec->apps->len == 0)
        return MAX(host_cpus, 1);
    for (i = 0; i < spec->apps->len; i++) {
        const PodvmSpecApp *app = g_ptr_array_index(spec->apps, i);

        if (app->millicpus == 0)
            return MAX(host_cpus, 1);
        millicpus = add_saturated(millicpus, app->millicpus);
    }
    cpus = millicpus / 1000 + (millicpus % 1000 != 0 ? 1 : 0);
    return (guint)CLAMP(cpus, 1, G_MAXUINT);
}
