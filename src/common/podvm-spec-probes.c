/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spec.livenessProbe and spec.readinessProbe (KubeVirt's Probe): the model
 * (free, copy), the parser with its checks across the pod, and the writer.
 */
#include "podvm-spec-private.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

/* Bounds that keep a probe's timers sane; Kubernetes has none beyond int32. */
#define MAX_PROBE_SECONDS 86400
#define MAX_PROBE_THRESHOLD 10000
#define MAX_HTTP_HEADERS 32
#define MAX_HTTP_PATH 2048
#define MAX_HTTP_HEADER_VALUE 4096

/* Indexed by PodvmProbeHandler. */
static const char *const handler_names[] = { "tcpSocket", "httpGet", "exec" };

const char *
podvm_probe_handler_to_string(PodvmProbeHandler handler)
{
    g_return_val_if_fail(handler < G_N_ELEMENTS(handler_names), "unknown");
    return handler_names[handler];
}

static void
http_header_free(PodvmSpecHttpHeader *header)
{
    if (header == NULL)
        return;
    g_free(header->name);
    g_free(header->value);
    g_free(header);
}

static PodvmSpecProbe *
probe_new(void)
{
    PodvmSpecProbe *probe = g_new0(PodvmSpecProbe, 1);

    probe->http_headers = g_ptr_array_new_with_free_func((GDestroyNotify)http_header_free);
    probe->period_seconds = PODVM_SPEC_PROBE_DEFAULT_PERIOD;
    probe->timeout_seconds = PODVM_SPEC_PROBE_DEFAULT_TIMEOUT;
    probe->failure_threshold = PODVM_SPEC_PROBE_DEFAULT_FAILURE_THRESHOLD;
    probe->success_threshold = PODVM_SPEC_PROBE_DEFAULT_SUCCESS_THRESHOLD;
    return probe;
}

void
podvm_spec_probe_free(PodvmSpecProbe *probe)
{
    if (probe == NULL)
        return;
    g_free(probe->path);
    g_clear_pointer(&probe->http_headers, g_ptr_array_unref);
    g_strfreev(probe->command);
    g_free(probe);
}

PodvmSpecProbe *
podvm_spec_probe_copy(const PodvmSpecProbe *probe)
{
    PodvmSpecProbe *copy;

    if (probe == NULL)
        return NULL;
    copy = probe_new();
    copy->handler = probe->handler;
    copy->port = probe->port;
    copy->path = g_strdup(probe->path);
    for (guint i = 0; probe->http_headers != NULL && i < probe->http_headers->len; i++) {
        const PodvmSpecHttpHeader *header = g_ptr_array_index(probe->http_headers, i);
        PodvmSpecHttpHeader *header_copy = g_new0(PodvmSpecHttpHeader, 1);

        header_copy->name = g_strdup(header->name);
        header_copy->value = g_strdup(header->value);
        g_ptr_array_add(copy->http_headers, header_copy);
    }
    copy->command = g_strdupv(probe->command);
    copy->initial_delay_seconds = probe->initial_delay_seconds;
    copy->period_seconds = probe->period_seconds;
    copy->timeout_seconds = probe->timeout_seconds;
    copy->failure_threshold = probe->failure_threshold;
    copy->success_threshold = probe->success_threshold;
    return copy;
}

/* ------------------------------------------------------------------------ */
/* The parser */

/* port: a number; a name (IntOrString) is refused, podvm does not look names up. */
static gboolean
read_port(Parser *p, const char *path, JsonObject *object, guint *out)
{
    g_autofree char *port_path = spec_path_member(path, "port");
    JsonNode *node = spec_member(object, "port");
    gint64 port = 0;

    if (node == NULL) {
        spec_add_problem_literal(p, port_path, _("required: the guest's port, 1 to 65535"));
        return FALSE;
    }
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
        g_autofree char *quoted = podvm_quote_for_message(json_node_get_string(node));
        spec_add_problem(p, port_path,
                         _("%s: named ports are not supported yet; give the port's number"),
                         quoted);
        return FALSE;
    }
    if (!spec_read_integer(p, port_path, node, 1, 65535, _("must be a port from 1 to 65535"),
                           &port))
        return FALSE;
    *out = (guint)port;
    return TRUE;
}

/* RFC 9110 token characters: a header's name. */
static gboolean
is_token(const char *text)
{
    if (*text == '\0')
        return FALSE;
    for (const char *c = text; *c != '\0'; c++) {
        if (!g_ascii_isalnum(*c) && strchr("!#$%&'*+-.^_`|~", *c) == NULL)
            return FALSE;
    }
    return TRUE;
}

static void
parse_http_headers(Parser *p, const char *path, JsonNode *node, PodvmSpecProbe *probe)
{
    static const Field fields[] = {
        { "name", FIELD_KNOWN, NULL },
        { "value", FIELD_KNOWN, NULL },
    };
    JsonArray *array = spec_read_array(p, path, node);

    if (array == NULL)
        return;
    if (json_array_get_length(array) > MAX_HTTP_HEADERS) {
        spec_add_problem(p, path, _("at most %d headers"), MAX_HTTP_HEADERS);
        return;
    }
    for (guint i = 0; i < json_array_get_length(array); i++) {
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
        } else if ((name = spec_read_string(p, name_path, child)) != NULL && !is_token(name)) {
            spec_add_problem_literal(p, name_path,
                                     _("must be an HTTP header name: letters, digits and "
                                       "!#$%&'*+-.^_`|~"));
            name = NULL;
        }
        child = spec_member(object, "value");
        if (child != NULL && (value = spec_read_string(p, value_path, child)) != NULL &&
            (spec_has_control_character(value, TRUE) || strlen(value) > MAX_HTTP_HEADER_VALUE)) {
            spec_add_problem(p, value_path,
                             _("must be at most %d characters without control characters"),
                             MAX_HTTP_HEADER_VALUE);
            value = NULL;
        }
        if (spec_refuse_hidden(p, value_path, value))
            value = NULL;
        if (name != NULL && value != NULL) {
            PodvmSpecHttpHeader *header = g_new0(PodvmSpecHttpHeader, 1);

            header->name = g_strdup(name);
            header->value = g_strdup(value);
            g_ptr_array_add(probe->http_headers, header);
        }
    }
}

static void
parse_tcp_socket(Parser *p, const char *path, JsonNode *node, PodvmSpecProbe *probe)
{
    static const Field fields[] = {
        { "port", FIELD_KNOWN, NULL },
        { "host", FIELD_NOT_PODVM, N_("podvm probes the guest's own address") },
    };
    JsonObject *object = spec_read_object(p, path, node);

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    probe->handler = PODVM_PROBE_TCP_SOCKET;
    read_port(p, path, object, &probe->port);
}

static void
parse_http_get(Parser *p, const char *path, JsonNode *node, PodvmSpecProbe *probe)
{
    static const Field fields[] = {
        { "path", FIELD_KNOWN, NULL },
        { "port", FIELD_KNOWN, NULL },
        { "scheme", FIELD_KNOWN, NULL },
        { "httpHeaders", FIELD_KNOWN, NULL },
        { "host", FIELD_NOT_PODVM, N_("podvm probes the guest's own address") },
    };
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    probe->handler = PODVM_PROBE_HTTP_GET;
    read_port(p, path, object, &probe->port);

    if ((child = spec_member(object, "path")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "path");
        const char *text = spec_read_string(p, child_path, child);

        if (text != NULL && (text[0] != '/' || strlen(text) > MAX_HTTP_PATH ||
                             strchr(text, ' ') != NULL || spec_has_control_character(text, FALSE)))
            spec_add_problem(p, child_path,
                             _("must be a path starting with '/', at most %d characters, without "
                               "spaces or control characters"),
                             MAX_HTTP_PATH);
        else if (text != NULL)
            probe->path = g_strdup(text);
    }
    if ((child = spec_member(object, "scheme")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "scheme");
        const char *scheme = spec_read_string(p, child_path, child);

        if (g_strcmp0(scheme, "HTTPS") == 0) {
            spec_add_problem_literal(p, child_path, _("HTTPS is not supported yet: use HTTP"));
        } else if (scheme != NULL && strcmp(scheme, "HTTP") != 0) {
            g_autofree char *quoted = podvm_quote_for_message(scheme);
            spec_add_problem(p, child_path, _("unknown value %s: use HTTP"), quoted);
        }
    }
    if ((child = spec_member(object, "httpHeaders")) != NULL) {
        g_autofree char *child_path = spec_path_member(path, "httpHeaders");
        parse_http_headers(p, child_path, child, probe);
    }
    if (probe->path == NULL)
        probe->path = g_strdup("/");
}

static void
parse_exec(Parser *p, const char *path, JsonNode *node, PodvmSpecProbe *probe)
{
    static const Field fields[] = {
        { "command", FIELD_KNOWN, NULL },
    };
    g_autofree char *command_path = spec_path_member(path, "command");
    JsonObject *object = spec_read_object(p, path, node);
    JsonNode *child;

    if (object == NULL)
        return;
    CHECK_MEMBERS(p, path, object, fields);
    probe->handler = PODVM_PROBE_EXEC;
    child = spec_member(object, "command");
    if (child == NULL) {
        spec_add_problem_literal(p, command_path, _("required: the command and its arguments"));
        return;
    }
    probe->command = spec_read_string_array(p, command_path, child);
    if (probe->command != NULL && (probe->command[0] == NULL || *probe->command[0] == '\0')) {
        spec_add_problem_literal(p, command_path,
                                 _("must name a command: its first item may not be empty"));
        g_clear_pointer(&probe->command, g_strfreev);
    }
}

static void
read_seconds(Parser *p, const char *path, JsonObject *object, const char *name, gint64 min,
             guint *out)
{
    g_autofree char *child_path = spec_path_member(path, name);
    JsonNode *node = spec_member(object, name);
    g_autofree char *range = NULL;
    gint64 value = 0;

    if (node == NULL)
        return;
    range = g_strdup_printf(_("must be a whole number of seconds from %" G_GINT64_FORMAT " to %d"),
                            min, MAX_PROBE_SECONDS);
    if (spec_read_integer(p, child_path, node, min, MAX_PROBE_SECONDS, range, &value))
        *out = (guint)value;
}

static void
read_threshold(Parser *p, const char *path, JsonObject *object, const char *name, guint *out)
{
    g_autofree char *child_path = spec_path_member(path, name);
    JsonNode *node = spec_member(object, name);
    g_autofree char *range = NULL;
    gint64 value = 0;

    if (node == NULL)
        return;
    range = g_strdup_printf(_("must be a whole number from 1 to %d"), MAX_PROBE_THRESHOLD);
    if (spec_read_integer(p, child_path, node, 1, MAX_PROBE_THRESHOLD, range, &value))
        *out = (guint)value;
}

PodvmSpecProbe *
spec_parse_probe(Parser *p, const char *path, JsonNode *node, gboolean liveness)
{
    static const Field fields[] = {
        { "tcpSocket", FIELD_KNOWN, NULL },
        { "httpGet", FIELD_KNOWN, NULL },
        { "exec", FIELD_KNOWN, NULL },
        { "guestAgentPing", FIELD_NOT_YET,
          N_("podvm does not probe through the guest agent yet: use tcpSocket, httpGet or exec") },
        { "initialDelaySeconds", FIELD_KNOWN, NULL },
        { "periodSeconds", FIELD_KNOWN, NULL },
        { "timeoutSeconds", FIELD_KNOWN, NULL },
        { "failureThreshold", FIELD_KNOWN, NULL },
        { "successThreshold", FIELD_KNOWN, NULL },
    };
    static const char *const handlers[] = { "tcpSocket", "httpGet", "exec", "guestAgentPing" };
    g_autoptr(PodvmSpecProbe) probe = probe_new();
    JsonObject *object = spec_read_object(p, path, node);
    const char *given = NULL;
    guint n_handlers = 0;
    JsonNode *child;

    /* {} is as good as no probe (podvm read it so before it had probes). */
    if (object == NULL || json_object_get_size(object) == 0)
        return NULL;
    CHECK_MEMBERS(p, path, object, fields);

    for (gsize i = 0; i < G_N_ELEMENTS(handlers); i++) {
        if (spec_member(object, handlers[i]) != NULL) {
            n_handlers++;
            given = given != NULL ? given : handlers[i];
        }
    }
    if (n_handlers == 0) {
        spec_add_problem_literal(p, path, _("give what to check: tcpSocket, httpGet or exec"));
        return NULL;
    }
    if (n_handlers > 1) {
        spec_add_problem_literal(p, path,
                                 _("give only one of tcpSocket, httpGet, exec and guestAgentPing"));
        return NULL;
    }
    if (strcmp(given, "guestAgentPing") == 0)
        return NULL; /* reported by the member check */

    {
        g_autofree char *child_path = spec_path_member(path, given);

        child = spec_member(object, given);
        if (strcmp(given, "tcpSocket") == 0)
            parse_tcp_socket(p, child_path, child, probe);
        else if (strcmp(given, "httpGet") == 0)
            parse_http_get(p, child_path, child, probe);
        else
            parse_exec(p, child_path, child, probe);
    }

    read_seconds(p, path, object, "initialDelaySeconds", 0, &probe->initial_delay_seconds);
    read_seconds(p, path, object, "periodSeconds", 1, &probe->period_seconds);
    read_seconds(p, path, object, "timeoutSeconds", 1, &probe->timeout_seconds);
    read_threshold(p, path, object, "failureThreshold", &probe->failure_threshold);
    read_threshold(p, path, object, "successThreshold", &probe->success_threshold);
    if (liveness && probe->success_threshold != 1) {
        g_autofree char *child_path = spec_path_member(path, "successThreshold");
        spec_add_problem_literal(p, child_path, _("must be 1 for a liveness probe"));
    }
    return g_steal_pointer(&probe);
}

void
spec_check_probe(Parser *p, const char *path, const PodvmSpecProbe *probe, const PodvmSpec *spec,
                 gboolean app_guest)
{
    if (probe == NULL)
        return;
    if (probe->handler == PODVM_PROBE_EXEC && !app_guest) {
        g_autofree char *exec_path = spec_path_member(path, "exec");
        spec_add_problem_literal(
            p, exec_path,
            _("exec probes need an app pod (spec.apps without a kernel or disks of its own: "
              "podvm's app guest) or the guest agent, which podvm does not run probes through yet; "
              "use "
              "tcpSocket or httpGet"));
    } else if (probe->handler != PODVM_PROBE_EXEC && spec->interfaces->len == 0) {
        g_autofree char *handler_path =
            spec_path_member(path, podvm_probe_handler_to_string(probe->handler));
        spec_add_problem_literal(p, handler_path,
                                 _("the pod has no network interface to reach the guest through: "
                                   "add one (spec.domain.devices.interfaces and spec.networks)"));
    }
}

/* ------------------------------------------------------------------------ */
/* The writer */

static void
add_uint_member(JsonBuilder *b, const char *name, guint value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

void
spec_write_probe(JsonBuilder *b, const char *name, const PodvmSpecProbe *probe)
{
    if (probe == NULL)
        return;
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, podvm_probe_handler_to_string(probe->handler));
    json_builder_begin_object(b);
    switch (probe->handler) {
    case PODVM_PROBE_TCP_SOCKET:
        add_uint_member(b, "port", probe->port);
        break;
    case PODVM_PROBE_HTTP_GET:
        json_builder_set_member_name(b, "path");
        json_builder_add_string_value(b, probe->path != NULL ? probe->path : "/");
        add_uint_member(b, "port", probe->port);
        json_builder_set_member_name(b, "scheme");
        json_builder_add_string_value(b, "HTTP");
        if (probe->http_headers->len > 0) {
            json_builder_set_member_name(b, "httpHeaders");
            json_builder_begin_array(b);
            for (guint i = 0; i < probe->http_headers->len; i++) {
                const PodvmSpecHttpHeader *header = g_ptr_array_index(probe->http_headers, i);

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "name");
                json_builder_add_string_value(b, header->name);
                json_builder_set_member_name(b, "value");
                json_builder_add_string_value(b, header->value);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
        }
        break;
    case PODVM_PROBE_EXEC:
        json_builder_set_member_name(b, "command");
        json_builder_begin_array(b);
        for (guint i = 0; probe->command != NULL && probe->command[i] != NULL; i++)
            json_builder_add_string_value(b, probe->command[i]);
        json_builder_end_array(b);
        break;
    }
    json_builder_end_object(b);
    add_uint_member(b, "initialDelaySeconds", probe->initial_delay_seconds);
    add_uint_member(b, "periodSeconds", probe->period_seconds);
    add_uint_member(b, "timeoutSeconds", probe->timeout_seconds);
    add_uint_member(b, "failureThreshold", probe->failure_threshold);
    add_uint_member(b, "successThreshold", probe->success_threshold);
    json_builder_end_object(b);
}
