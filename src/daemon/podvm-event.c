/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Events: the details every event carries (id, time, pod, type, phase) and
 * the ring of recent ones that a client resumes from (REST's
 * Last-Event-ID).
 */
#include "podvm-event.h"

#include <glib/gi18n-lib.h>
#include <stdlib.h>
#include <string.h>

/* The last SEQ given; the first event of a run is 1. */
static guint64 last_seq;

const char *
podvm_event_boot_id(void)
{
    static char boot_id[17];

    if (boot_id[0] == '\0')
        g_snprintf(boot_id, sizeof boot_id, "%08x%08x", g_random_int(), g_random_int());
    return boot_id;
}

/* RFC 3339 in UTC with milliseconds: 2026-12-05T08:52:34.123Z */
static char *
now_rfc3339(void)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *seconds = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");

    return g_strdup_printf("%s.%03dZ", seconds, g_date_time_get_microsecond(now) / 1000);
}

JsonObject *
podvm_event_new(const char *pod_name, const char *type, const char *phase, JsonObject *extra)
{
    JsonObject *details = json_object_new();
    g_autofree char *time = now_rfc3339();
    g_autofree char *id = NULL;

    g_return_val_if_fail(pod_name != NULL && type != NULL, details);

    id = g_strdup_printf("%s-%" G_GUINT64_FORMAT, podvm_event_boot_id(), ++last_seq);
    json_object_set_string_member(details, "id", id);
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
                g_strcmp0(member, "time") != 0 && g_strcmp0(member, "id") != 0)
                json_object_set_member(details, member, json_node_copy(value));
        }
    }
    return details;
}

/* ---- the ring ------------------------------------------------------------------- */

struct _PodvmEventRing {
    GQueue records;      /* PodvmEventRecord*, oldest first */
    guint capacity;      /* at most this many */
    guint64 dropped_seq; /* the SEQ of the newest event dropped, or 0 */
};

static void
record_free(PodvmEventRecord *record)
{
    g_free(record->pod);
    g_free(record->type);
    json_object_unref(record->details);
    g_free(record);
}

static PodvmEventRecord *
record_copy(const PodvmEventRecord *record)
{
    PodvmEventRecord *copy = g_new0(PodvmEventRecord, 1);

    copy->pod = g_strdup(record->pod);
    copy->type = g_strdup(record->type);
    copy->details = json_object_ref(record->details);
    copy->seq = record->seq;
    return copy;
}

/* The SEQ of @id if it is one of this run's ids ("BOOT-SEQ"); else *out_gap says why not. */
static gboolean
parse_id(const char *id, guint64 *out_seq, PodvmEventGap *out_gap)
{
    const char *boot = podvm_event_boot_id();
    const char *dash = strchr(id, '-');
    guint64 seq;

    if (dash == NULL || dash - id != 16 ||
        !g_ascii_string_to_unsigned(dash + 1, 10, 1, G_MAXUINT64, &seq, NULL)) {
        *out_gap = PODVM_EVENT_GAP_UNKNOWN;
        return FALSE;
    }
    for (const char *p = id; p < dash; p++) {
        if (!g_ascii_isxdigit(*p)) {
            *out_gap = PODVM_EVENT_GAP_UNKNOWN;
            return FALSE;
        }
    }
    if (g_ascii_strncasecmp(id, boot, 16) != 0) {
        *out_gap = PODVM_EVENT_GAP_RESTARTED;
        return FALSE;
    }
    if (seq > last_seq) {
        /* Never given in this run. */
        *out_gap = PODVM_EVENT_GAP_UNKNOWN;
        return FALSE;
    }
    *out_seq = seq;
    return TRUE;
}

PodvmEventRing *
podvm_event_ring_new(guint capacity)
{
    PodvmEventRing *ring = g_new0(PodvmEventRing, 1);

    g_queue_init(&ring->records);
    ring->capacity = capacity;
    return ring;
}

void
podvm_event_ring_free(PodvmEventRing *ring)
{
    if (ring == NULL)
        return;
    g_queue_clear_full(&ring->records, (GDestroyNotify)record_free);
    g_free(ring);
}

void
podvm_event_ring_push(PodvmEventRing *ring, const char *pod, const char *type, JsonObject *details)
{
    PodvmEventRecord *record;
    const char *id = json_object_get_string_member_with_default(details, "id", NULL);
    PodvmEventGap gap;
    guint64 seq = 0;

    if (id == NULL || !parse_id(id, &seq, &gap)) {
        g_warn_if_reached(); /* details not made by podvm_event_new() */
        return;
    }
    if (ring->capacity == 0) {
        ring->dropped_seq = seq;
        return;
    }
    while (g_queue_get_length(&ring->records) >= ring->capacity) {
        PodvmEventRecord *oldest = g_queue_pop_head(&ring->records);

        ring->dropped_seq = MAX(ring->dropped_seq, oldest->seq);
        record_free(oldest);
    }
    record = g_new0(PodvmEventRecord, 1);
    record->pod = g_strdup(pod);
    record->type = g_strdup(type);
    record->details = json_object_ref(details);
    record->seq = seq;
    g_queue_push_tail(&ring->records, record);
}

GPtrArray *
podvm_event_ring_since(PodvmEventRing *ring, const char *last_id, PodvmEventGap *out_gap)
{
    GPtrArray *since = g_ptr_array_new_with_free_func((GDestroyNotify)record_free);
    PodvmEventGap gap = PODVM_EVENT_GAP_NONE;
    guint64 seq = 0;

    if (!parse_id(last_id, &seq, &gap))
        seq = 0;
    else if (seq < ring->dropped_seq)
        gap = PODVM_EVENT_GAP_TOO_OLD;
    if (gap != PODVM_EVENT_GAP_NONE)
        seq = 0;
    for (GList *l = ring->records.head; l != NULL; l = l->next) {
        PodvmEventRecord *record = l->data;

        if (record->seq > seq)
            g_ptr_array_add(since, record_copy(record));
    }
    *out_gap = gap;
    return since;
}

JsonObject *
podvm_event_lost_new(const char *last_id, PodvmEventGap gap)
{
    JsonObject *details = json_object_new();
    g_autofree char *time = now_rfc3339();
    const char *reason;
    const char *message;

    switch (gap) {
    case PODVM_EVENT_GAP_TOO_OLD:
        reason = "TooOld";
        message = _("events after the given id are no longer held; every event still held "
                    "follows");
        break;
    case PODVM_EVENT_GAP_RESTARTED:
        reason = "Restarted";
        message = _("podvmd restarted since the given id: the events in between are gone; every "
                    "event held since the restart follows");
        break;
    default:
        reason = "Unknown";
        message = _("the given id is not one of this podvmd's event ids; every event still held "
                    "follows");
        break;
    }
    json_object_set_string_member(details, "pod", "");
    json_object_set_string_member(details, "type", "EventsLost");
    json_object_set_string_member(details, "time", time);
    json_object_set_string_member(details, "lastEventId", last_id);
    json_object_set_string_member(details, "reason", reason);
    json_object_set_string_member(details, "bootId", podvm_event_boot_id());
    json_object_set_string_member(details, "message", message);
    return details;
}
