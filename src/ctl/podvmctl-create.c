/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmctl create -f FILE; FILE is JSON or YAML (also `run -f FILE`, podvmctl-run.c) */
#include "podvm-build-config.h"
#include "podvm-json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "podvm-yaml.h"
#include "podvmctl-util.h"

/* Documents are small; this only stops a wrong file from being read whole. */
#define DOCUMENT_MAX_SIZE (16 * 1024 * 1024)

static char *
read_stdin(gsize *out_length, GError **error)
{
    g_autoptr(GByteArray) data = g_byte_array_new();
    guint8 buffer[65536];

    for (;;) {
        ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));

        if (n < 0) {
            int saved_errno = errno;

            if (saved_errno == EINTR)
                continue;
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
                        _("cannot read stdin: %s"), g_strerror(saved_errno));
            return NULL;
        }
        if (n == 0)
            break;
        if (data->len + (gsize)n > DOCUMENT_MAX_SIZE) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        _("stdin has more than %u MiB; is it the right document?"),
                        DOCUMENT_MAX_SIZE / (1024 * 1024));
            return NULL;
        }
        g_byte_array_append(data, buffer, n);
    }
    *out_length = data->len;
    g_byte_array_append(data, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(g_steal_pointer(&data), FALSE);
}

/* .inf and .nan are YAML floats that JSON cannot write (json-glib would print "inf"). */
static gboolean
node_is_finite(JsonNode *node)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter iter;
        JsonNode *child;

        json_object_iter_init(&iter, json_node_get_object(node));
        while (json_object_iter_next(&iter, NULL, &child)) {
            if (!node_is_finite(child))
                return FALSE;
        }
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(array); i++) {
            if (!node_is_finite(json_array_get_element(array, i)))
                return FALSE;
        }
    } else if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_DOUBLE) {
        return isfinite(json_node_get_double(node));
    }
    return TRUE;
}

JsonNode *
podvmctl_read_document(const char *path, char **out_json, GError **error)
{
    g_autofree char *contents = NULL;
    g_autofree char *what = NULL;
    g_autoptr(JsonNode) root = NULL;
    gsize length = 0;

    if (g_str_equal(path, "-")) {
        contents = read_stdin(&length, error);
        if (contents == NULL)
            return NULL;
        what = g_strdup(_("stdin"));
    } else {
        if (!g_file_get_contents(path, &contents, &length, error))
            return NULL;
        what = g_strdup_printf("'%s'", path);
        if (length > DOCUMENT_MAX_SIZE) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                        _("%s has more than %u MiB; is it the right document?"), what,
                        DOCUMENT_MAX_SIZE / (1024 * 1024));
            return NULL;
        }
    }

    if (memchr(contents, '\0', length) != NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s is not a text file"), what);
        return NULL;
    }

    /* Decided by the content, not the file name: stdin has none. */
    if (podvm_document_is_yaml(contents, length)) {
        g_autoptr(GError) local_error = NULL;

        root = podvm_yaml_to_json(contents, length, &local_error);
        if (root == NULL) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s is not valid YAML: %s"),
                        what, local_error->message);
            return NULL;
        }
        if (!node_is_finite(root)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        _("%s has .inf or .nan, which JSON cannot carry"), what);
            return NULL;
        }
        if (out_json != NULL)
            *out_json = podvm_json_to_string(root, FALSE);
    } else {
        root = podvmctl_parse_json(contents, length, what, error);
        if (root == NULL)
            return NULL;
        /* The daemon's strict parser sees the text as written (duplicate keys and all). */
        if (out_json != NULL)
            *out_json = g_steal_pointer(&contents);
    }

    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("%s is not an object (a mapping of keys to values)"), what);
        if (out_json != NULL)
            g_clear_pointer(out_json, g_free);
        return NULL;
    }
    return g_steal_pointer(&root);
}

/* Reads the spec as JSON text; the daemon does the real validation. */
static char *
read_spec(const char *path, char **out_name, GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *json = NULL;
    const char *name;

    root = podvmctl_read_document(path, &json, error);
    if (root == NULL)
        return NULL;

    name =
        podvmctl_json_string(podvmctl_json_object(json_node_get_object(root), "metadata"), "name");
    *out_name = g_strdup(name);
    return g_steal_pointer(&json);
}

int
podvmctl_create_pod(PodvmCtl *ctl, const char *spec, const char *fallback_name,
                    PodvmDBusPod **out_pod, char **out_name)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *object_path = NULL;
    PodvmDBusManager *manager;
    const char *pod_name;

    manager = podvmctl_get_manager(ctl, &error);
    if (manager == NULL)
        return podvmctl_fail(ctl, error);
    if (!podvm_dbus_manager_call_create_pod_sync(manager, spec, &object_path, NULL, &error))
        return podvmctl_fail(ctl, error);

    pod = podvmctl_get_pod_at(ctl, object_path, &error);
    if (pod == NULL)
        return podvmctl_fail(ctl, error);

    pod_name = podvm_dbus_pod_get_name(pod);
    if (pod_name != NULL && *pod_name != '\0')
        *out_name = g_strdup(pod_name);
    else
        *out_name = g_strdup(fallback_name);
    *out_pod = g_steal_pointer(&pod);
    return PODVMCTL_EXIT_OK;
}

int
podvmctl_create_pod_from_file(PodvmCtl *ctl, const char *path, PodvmDBusPod **out_pod,
                              char **out_name)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *name = NULL;

    spec = read_spec(path, &name, &error);
    if (spec == NULL)
        return podvmctl_fail_message("%s", error->message);
    return podvmctl_create_pod(ctl, spec, name, out_pod, out_name);
}

int
podvmctl_cmd_create(PodvmCtl *ctl, int argc, char **argv)
{
    g_autofree char *opt_file = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *name = NULL;
    int status;
    const GOptionEntry entries[] = {
        { "filename", 'f', 0, G_OPTION_ARG_FILENAME, &opt_file,
          N_("The pod spec (JSON or YAML; '-' reads stdin)"), N_("FILE") },
        { NULL },
    };

    if (!podvmctl_parse_options("create", "", _("Create a pod from a spec (JSON or YAML)."),
                                entries, 0, 0, &argc, &argv, &status))
        return status;
    if (opt_file == NULL)
        return podvmctl_usage_error("create", _("missing -f FILE"));

    status = podvmctl_create_pod_from_file(ctl, opt_file, &pod, &name);
    if (status != PODVMCTL_EXIT_OK)
        return status;
    g_print("%s\n", name);
    return PODVMCTL_EXIT_OK;
}
