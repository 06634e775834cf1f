/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-event.h"

JsonObject *
podvm_event_new(const char *pod_name, const char *type, const char *phase, JsonObject *extra)
{
    JsonObject *details = json_object_new();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *time = g_date_time_format_iso8601(now);

    g_return_val_if_fail(pod_name != NULL && type != NULL, details);

    json_object_set_string_member(details, "pod", pod_name);
    json_object_set_string_member(details, "type", type);
    json_object_set_string_member(details, "time", time);
    if (phase != NULL)
        json_object_set_string_member(details, "phase", phase);
    if (extra != NULL) {
        JsonObjectIter iter;
        const char *member;
        JsonNode *value;

        json_object_iter_init(&iter, extra);
        while (json_object_iter_next(&iter, &member, &value)) {
            if (g_strcmp0(member, "pod") != 0 && g_strcmp0(member, "type") != 0 &&
                g_strcmp0(member, "time") != 0)
                json_object_set_member(details, member, json_node_copy(value));
        }
    }
    return details;
}
