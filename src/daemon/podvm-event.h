/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "podvm-phase.h"

G_BEGIN_DECLS

/*
 * The one builder of event details, as both fronts publish them (the REST
 * event stream's data, the D-Bus Event signal's JSON): the members of
 * @extra (may be NULL; it is copied, not changed) and the envelope
 * {id, pod, type, time, phase}. @pod_name is "" for an event of no pod
 * (the volume pool's); @phase is NULL for such an event, which then has
 * no phase. A "phase" member already in @extra is kept.
 *
 * "id" is "BOOT-SEQ": BOOT is 16 hexadecimal digits drawn at random once
 * per podvmd run, SEQ a decimal number that grows with every event of the
 * run (the ids of one run sort by SEQ; a client that sees another BOOT
 * knows podvmd restarted and its events since are gone). "time" is RFC
 * 3339 in UTC with milliseconds.
 */
JsonObject *podvm_event_new(const char *pod_name, const char *type, const char *phase,
                            JsonObject *extra);

/* This run's BOOT, as in every id. */
const char *podvm_event_boot_id(void);

/*
 * The recent events (the manager's), kept so that a client that lost its
 * stream can resume: at most @capacity, the oldest dropped first.
 */
typedef struct _PodvmEventRing PodvmEventRing;

typedef struct {
    char *pod;
    char *type;
    JsonObject *details;
    guint64 seq;
} PodvmEventRecord;

typedef enum {
    PODVM_EVENT_GAP_NONE,      /* every event after the id is held */
    PODVM_EVENT_GAP_TOO_OLD,   /* some events after the id were dropped */
    PODVM_EVENT_GAP_RESTARTED, /* the id is of another podvmd run */
    PODVM_EVENT_GAP_UNKNOWN,   /* the id is not one podvmd gives */
} PodvmEventGap;

PodvmEventRing *podvm_event_ring_new(guint capacity);
void podvm_event_ring_free(PodvmEventRing *ring);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmEventRing, podvm_event_ring_free)
/* Keeps @details (made by podvm_event_new(); referenced, not copied). */
void podvm_event_ring_push(PodvmEventRing *ring, const char *pod, const char *type,
                           JsonObject *details);
/*
 * The held events after @last_id, oldest first (PodvmEventRecord*, owned
 * by the array). When events after it are no longer held, or @last_id is
 * not an id of this run, *out_gap says why and every held event is given.
 */
GPtrArray *podvm_event_ring_since(PodvmEventRing *ring, const char *last_id,
                                  PodvmEventGap *out_gap);
/*
 * What a resuming client is told when events are missing (@gap is not
 * NONE): {type: "EventsLost", pod: "", time, lastEventId, reason
 * ("TooOld", "Restarted" or "Unknown"), bootId, message}. It has no id:
 * it is not an event of the stream.
 */
JsonObject *podvm_event_lost_new(const char *last_id, PodvmEventGap gap);

G_END_DECLS
