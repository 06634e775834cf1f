/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "podvm-phase.h"

G_BEGIN_DECLS

/*
 * The one builder of event details, as both fronts publish them (the REST
 * event stream's data, the D-Bus Event signal's JSON): the members of
 * @extra (may be NULL; it is copied, not changed) and the envelope
 * {pod, type, time, phase}. @pod_name is "" for an event of no pod (the
 * volume pool's); @phase is NULL for such an event, which then has no
 * phase. A "phase" member already in @extra is kept.
 */
JsonObject *podvm_event_new(const char *pod_name, const char *type, const char *phase,
                            JsonObject *extra);

G_END_DECLS
