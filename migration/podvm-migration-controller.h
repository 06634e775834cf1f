/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The convergence controller of a migration: pure logic, no QMP. The
 * source feeds it every query-migrate answer (and MIGRATION_PASS events)
 * with the time; it answers with the next step to take. When the RAM
 * still to send stops shrinking it steps. What a pass has to send is the
 * highest "remaining" seen in it ("remaining" only shrinks within a pass and
 * jumps at each dirty sync); a completed pass whose peak is not below the
 * lowest so far by at least 1/32 is no progress; after @stall_passes such
 * passes (counted again from each step taken) it steps, once each and in
 * this order, skipping a step the policy rules out:
 *   1. AUTO_CONVERGE: QEMU's vCPU throttle at full strength
 *      (migrate-set-parameters cpu-throttle-initial/-increment; the source
 *      turns the auto-converge capability on at start with the gentlest
 *      throttle, as capabilities cannot change during a migration);
 *   2. RAISE_DOWNTIME: downtime-limit to policy.max_downtime_ms (only when
 *      above initial_downtime_ms);
 *   3. POSTCOPY: migrate-start-postcopy (only when policy.postcopy_allowed);
 *   4. CANCEL with a reason.
 * Only the status "active" steps (not setup, pre-switchover or post-copy).
 * Independently, "transferred" not growing for policy.no_progress_timeout_ms
 * (0: never) -> CANCEL ("no progress for N s"), in any status but the ends
 * (completed, failed, cancelling, cancelled). Each step is recorded
 * (podvm_migration_controller_to_json) so status.migrationState shows it.
 */
typedef enum {
    PODVM_MIGRATION_STEP_NONE,
    PODVM_MIGRATION_STEP_AUTO_CONVERGE,
    PODVM_MIGRATION_STEP_RAISE_DOWNTIME,
    PODVM_MIGRATION_STEP_POSTCOPY,
    PODVM_MIGRATION_STEP_CANCEL,
} PodvmMigrationStep;

/* "auto-converge", "raise-downtime", "postcopy", "cancel"; "none". */
const char *podvm_migration_step_to_string(PodvmMigrationStep step);

typedef struct {
    guint64 max_bandwidth;        /* bytes/s; 0: QEMU's default */
    guint initial_downtime_ms;    /* downtime-limit at start (300) */
    guint max_downtime_ms;        /* raised to at RAISE_DOWNTIME (2000) */
    guint stall_passes;           /* passes without a new minimum before a step (3) */
    guint no_progress_timeout_ms; /* nothing transferred for this long: cancel (30000) */
    gboolean auto_converge;       /* step 1 allowed (TRUE) */
    gboolean postcopy_allowed;    /* step 3 allowed (FALSE unless spec or request) */
} PodvmMigrationPolicy;

/* One reading of query-migrate's "ram" and status. */
typedef struct {
    gint64 now_us;               /* g_get_monotonic_time() */
    guint64 transferred;         /* ram.transferred (+ disk bytes, the source adds them) */
    guint64 remaining;           /* ram.remaining */
    guint64 total;               /* ram.total */
    guint64 dirty_sync_count;    /* ram.dirty-sync-count: the pass */
    guint64 dirty_pages_rate;    /* ram.dirty-pages-rate (pages/s) */
    guint64 page_size;           /* ram.page-size */
    guint64 mbps_x1000;          /* ram.mbps * 1000 */
    gint64 downtime_ms;          /* "downtime" once completed, else -1 */
    gint64 expected_downtime_ms; /* "expected-downtime", or -1 */
    const char *status;          /* "active", "pre-switchover", "completed", ... */
} PodvmMigrationSample;

typedef struct _PodvmMigrationController PodvmMigrationController;

PodvmMigrationController *podvm_migration_controller_new(const PodvmMigrationPolicy *policy);
void podvm_migration_controller_free(PodvmMigrationController *ctl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmMigrationController, podvm_migration_controller_free)
/*
 * Feeds one sample; returns the step to take now (each step at most once,
 * CANCEL sets *out_reason to a translated sentence, owned by the
 * controller; other steps leave it untouched). The caller takes it and
 * tells the controller with podvm_migration_controller_step_taken() (or
 * _step_failed()); until then feed returns NONE (but CANCEL on no progress).
 * A CANCEL is recorded (with its reason) when returned: telling that it was
 * taken is not needed (and records nothing more); nothing follows it.
 */
PodvmMigrationStep podvm_migration_controller_feed(PodvmMigrationController *ctl,
                                                   const PodvmMigrationSample *sample,
                                                   const char **out_reason);
void podvm_migration_controller_step_taken(PodvmMigrationController *ctl, PodvmMigrationStep step,
                                           gint64 now_us);
/*
 * @step could not be taken (e.g. QEMU refused migrate-start-postcopy): it is
 * recorded with "error": @message and the next feed offers the next step.
 */
void podvm_migration_controller_step_failed(PodvmMigrationController *ctl, PodvmMigrationStep step,
                                            gint64 now_us, const char *message);
/*
 * {"status", "passes", "transferredBytes", "remainingBytes", "totalBytes",
 *  "dirtyRate" (bytes/s), "mbps", "expectedDowntimeMs", "downtimeMs",
 *  "steps": [{"step", "at" (ms since start), "pass", "reason" (cancel),
 *             "error" (a failed step)}], "downtimeLimitMs", "elapsedMs"}
 * "expectedDowntimeMs" and "downtimeMs" only when QEMU gave them. Before
 * any sample: status "setup" and zeros.
 */
JsonObject *podvm_migration_controller_to_json(PodvmMigrationController *ctl);
/* The migrate-set-parameters arguments for @step (NULL for CANCEL/POSTCOPY/NONE). */
JsonObject *podvm_migration_controller_parameters(PodvmMigrationController *ctl,
                                                  PodvmMigrationStep step);
/* The parameters to set before "migrate": bandwidth, downtime, gentlest throttle. */
JsonObject *podvm_migration_controller_initial_parameters(PodvmMigrationController *ctl);

G_END_DECLS
