/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A pod's phase (DESIGN.md "Lifecycle"): Pending -> Starting -> Running <->
 * Paused -> Stopping -> Stopped | Succeeded | Failed, plus Migrating (the
 * source of a live migration) and Incoming (its target). The daemon keeps
 * it; podvmctl reads its name back from the pod's status.
 */
typedef enum {
    PODVM_PHASE_PENDING,
    PODVM_PHASE_STARTING,
    PODVM_PHASE_RUNNING,
    PODVM_PHASE_PAUSED,
    PODVM_PHASE_STOPPING,
    PODVM_PHASE_STOPPED,
    PODVM_PHASE_SUCCEEDED,
    PODVM_PHASE_FAILED,
    PODVM_PHASE_MIGRATING,
    PODVM_PHASE_INCOMING,
} PodvmPhase;

#define PODVM_N_PHASES (PODVM_PHASE_INCOMING + 1)

/* "Pending", "Running", ...; "Unknown" for a value out of range. */
const char *podvm_phase_to_string(PodvmPhase phase);
/* The phase named @text (exact case); FALSE for anything else. */
gboolean podvm_phase_from_string(const char *text, PodvmPhase *out_phase);
/* Whether a QEMU process belongs to the phase (Starting..Stopping, Migrating, Incoming). */
gboolean podvm_phase_has_qemu(PodvmPhase phase);
/* The same for a phase's name, as podvmctl reads it; FALSE for an unknown or NULL name. */
gboolean podvm_phase_name_has_qemu(const char *name);

/*
 * When a followed log ends, the one rule for REST's log?follow=true and
 * podvmctl logs -f: once the pod has no QEMU nothing more is written to
 * its console log, so the second look in a row that finds nothing new
 * while the pod is down ends it (the first may have raced QEMU's last
 * write). Call after each look at the log, with whether it found
 * anything and the pod's phase then; TRUE: stop following.
 */
typedef struct {
    guint quiet_looks; /* looks in a row that found nothing while the pod was down */
} PodvmLogFollow;

#define PODVM_LOG_FOLLOW_INIT \
    {                         \
        0                     \
    }

gboolean podvm_log_follow_ends(PodvmLogFollow *follow, PodvmPhase phase, gboolean found_new);

/*
 * Whether a followed log starts again, the one rule for both followers:
 * the file behind @fd is now shorter than @offset, what was read of it,
 * so podvmd rotated it (or it was truncated) in place; read it again from
 * its start. FALSE for anything but a regular file. @fd's offset is left
 * alone (podvmctl's may be shared with podvmd).
 */
gboolean podvm_log_follow_restarts(int fd, gint64 offset);

G_END_DECLS
