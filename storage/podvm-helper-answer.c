/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-helper-answer.h"

#include <glib/gi18n-lib.h>

#include "podvm-error.h"
#include "podvm-json.h"

JsonNode *
podvm_helper_error_answer(const GError *error)
{
    g_autoptr(GError) ours = podvm_error_from_component(error);
    g_autoptr(JsonBuilder) builder = json_builder_new();

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "error");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "code");
    json_builder_add_int_value(builder, ours->code);
    json_builder_set_member_name(builder, "message");
    json_builder_add_string_value(builder, ours->message);
    json_builder_end_object(builder);
    json_builder_end_object(builder);
    return json_builder_get_root(builder);
}

/* The last non-empty line of @text, trimmed (the helper's own message when it died). */
static char *
last_line(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text != NULL ? text : "", "\n", -1);

    for (guint i = g_strv_length(lines); i > 0; i--) {
        char *line = g_strstrip(lines[i - 1]);
        if (*line != '\0')
            return g_strdup(line);
    }
    return NULL;
}

JsonObject *
podvm_helper_read_answer(GSubprocess *process, const char *out, const char *err, const char *who,
                         const char *fallback_message, GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *object;
    JsonNode *problem_node;

    if (out != NULL && *out != '\0')
        root = podvm_json_parse_limited(out, -1, PODVM_JSON_MAX_SIZE, PODVM_JSON_MAX_DEPTH, NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_autofree char *why = last_line(err);

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("%s failed (%s)%s%s"), who,
                    g_subprocess_get_if_signaled(process)
                        ? g_strsignal(g_subprocess_get_term_sig(process))
                        : _("no answer"),
                    why != NULL ? ": " : "", why != NULL ? why : "");
        return NULL;
    }
    object = json_node_get_object(root);
    problem_node = json_object_get_member(object, "error");
    if (problem_node != NULL && JSON_NODE_HOLDS_OBJECT(problem_node)) {
        JsonObject *problem = json_node_get_object(problem_node);
        JsonNode *code_node = json_object_get_member(problem, "code");
        JsonNode *message_node = json_object_get_member(problem, "message");
        gint64 code = code_node != NULL && json_node_get_value_type(code_node) == G_TYPE_INT64
                          ? json_node_get_int(code_node)
                          : PODVM_ERROR_FAILED;
        const char *message =
            message_node != NULL && json_node_get_value_type(message_node) == G_TYPE_STRING
                ? json_node_get_string(message_node)
                : NULL;

        if (code < 0 || code > PODVM_ERROR_CANCELLED)
            code = PODVM_ERROR_FAILED;
        g_set_error_literal(error, PODVM_ERROR, (int)code,
                            message != NULL ? message : fallback_message);
        return NULL;
    }
    return json_object_ref(object);
}
