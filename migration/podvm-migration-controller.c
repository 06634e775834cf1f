/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-migration-controller.h"

#include <glib/gi18n-lib.h>
#include <string.h>

/*
 * How a stall is seen. Within one dirty-sync pass QEMU's "remaining" only
 * shrinks (pages are sent, newly dirtied ones wait for the next sync); at
 * the sync it jumps up by what the guest dirtied meanwhile. So the highest
 * "remaining" of a pass (its first sample) is what that pass had to send.
 * The controller keeps the lowest of these peaks over completed passes; a
 * pass whose peak is not clearly (1/32) below it is no progress. After
 * @stall_passes completed passes without a new minimum it steps. A step
 * starts the count again (the minimum is forgotten: the step changes what
 * a pass has to send), a failed step does not (the next one follows).
 */

#define NEW_MINIMUM_MARGIN 32 /* a new minimum is below old - old/32 */

typedef struct {
    PodvmMigrationStep step;
    gint64 at_ms;
    guint64 pass;
    char *reason; /* CANCEL: why (owned) */
    char *error;  /* the step failed: why (owned) */
} StepRecord;

struct _PodvmMigrationController {
    PodvmMigrationPolicy policy;

    gboolean started;
    gint64 start_us;
    gint64 last_us;

    /* the last sample */
    char *status; /* owned */
    guint64 transferred;
    guint64 remaining;
    guint64 total;
    guint64 dirty_rate; /* bytes/s */
    guint64 mbps_x1000;
    gint64 downtime_ms;
    gint64 expected_downtime_ms;

    /* progress: the last time "transferred" grew */
    gint64 progress_us;
    guint64 progress_bytes;

    /* passes */
    guint64 pass;       /* dirty-sync-count of the last sample */
    guint64 pass_peak;  /* highest "remaining" seen in @pass */
    gboolean have_min;  /* a completed pass since the last step */
    guint64 min_peak;   /* lowest peak of a completed pass */
    guint64 base_pass;  /* the pass stalls are counted from */
    gboolean have_pass; /* @pass is known */

    guint downtime_limit_ms;
    gboolean issued[PODVM_MIGRATION_STEP_CANCEL + 1]; /* returned by feed once */
    PodvmMigrationStep pending;                       /* returned, not yet taken or failed */
    char *cancel_reason;                              /* owned */
    GArray *steps;                                    /* StepRecord */
};

static const char *const step_names[] = {
    [PODVM_MIGRATION_STEP_NONE] = "none",
    [PODVM_MIGRATION_STEP_AUTO_CONVERGE] = "auto-converge",
    [PODVM_MIGRATION_STEP_RAISE_DOWNTIME] = "raise-downtime",
    [PODVM_MIGRATION_STEP_POSTCOPY] = "postcopy",
    [PODVM_MIGRATION_STEP_CANCEL] = "cancel",
};

G_STATIC_ASSERT(G_N_ELEMENTS(step_names) == PODVM_MIGRATION_STEP_CANCEL + 1);

const char *
podvm_migration_step_to_string(PodvmMigrationStep step)
{
    if ((guint)step >= G_N_ELEMENTS(step_names))
        return "none";
    return step_names[step];
}

static void
step_record_clear(gpointer data)
{
    StepRecord *record = data;

    g_free(record->reason);
    g_free(record->error);
}

PodvmMigrationController *
podvm_migration_controller_new(const PodvmMigrationPolicy *policy)
{
    PodvmMigrationController *ctl = g_new0(PodvmMigrationController, 1);

    g_return_val_if_fail(policy != NULL, NULL);
    ctl->policy = *policy;
    if (ctl->policy.stall_passes == 0)
        ctl->policy.stall_passes = 1;
    ctl->downtime_limit_ms = ctl->policy.initial_downtime_ms;
    ctl->downtime_ms = -1;
    ctl->expected_downtime_ms = -1;
    ctl->pending = PODVM_MIGRATION_STEP_NONE;
    ctl->steps = g_array_new(FALSE, TRUE, sizeof(StepRecord));
    g_array_set_clear_func(ctl->steps, step_record_clear);
    return ctl;
}

void
podvm_migration_controller_free(PodvmMigrationController *ctl)
{
    if (ctl == NULL)
        return;
    g_free(ctl->status);
    g_free(ctl->cancel_reason);
    g_array_unref(ctl->steps);
    g_free(ctl);
}

static gboolean
status_is_terminal(const char *status)
{
    return g_strcmp0(status, "completed") == 0 || g_strcmp0(status, "failed") == 0 ||
           g_strcmp0(status, "cancelled") == 0 || g_strcmp0(status, "cancelling") == 0;
}

static gboolean
status_is_postcopy(const char *status)
{
    return status != NULL && g_str_has_prefix(status, "postcopy");
}

static void
record_sample(PodvmMigrationController *ctl, const PodvmMigrationSample *sample)
{
    guint64 page_size = sample->page_size != 0 ? sample->page_size : 4096;

    if (!ctl->started) {
        ctl->started = TRUE;
        ctl->start_us = sample->now_us;
        ctl->progress_us = sample->now_us;
        ctl->progress_bytes = sample->transferred;
    }
    ctl->last_us = sample->now_us;
    if (sample->status != NULL && g_strcmp0(ctl->status, sample->status) != 0) {
        g_free(ctl->status);
        ctl->status = g_strdup(sample->status);
    }
    ctl->transferred = sample->transferred;
    ctl->remaining = sample->remaining;
    ctl->total = sample->total;
    ctl->dirty_rate = sample->dirty_pages_rate * page_size;
    ctl->mbps_x1000 = sample->mbps_x1000;
    ctl->downtime_ms = sample->downtime_ms;
    ctl->expected_downtime_ms = sample->expected_downtime_ms;
    if (sample->transferred > ctl->progress_bytes) {
        ctl->progress_bytes = sample->transferred;
        ctl->progress_us = sample->now_us;
    }
}

/* A pass completed with @peak to send: a new minimum, or one more pass without. */
static void
pass_completed(PodvmMigrationController *ctl, guint64 completed, guint64 peak)
{
    if (!ctl->have_min || peak < ctl->min_peak - ctl->min_peak / NEW_MINIMUM_MARGIN) {
        ctl->have_min = TRUE;
        ctl->min_peak = peak;
        ctl->base_pass = completed;
    }
}

static void
record_pass(PodvmMigrationController *ctl, const PodvmMigrationSample *sample)
{
    if (sample->dirty_sync_count == 0)
        return;
    if (!ctl->have_pass) {
        ctl->have_pass = TRUE;
        ctl->pass = sample->dirty_sync_count;
        ctl->pass_peak = sample->remaining;
        ctl->base_pass = ctl->pass;
        return;
    }
    if (sample->dirty_sync_count > ctl->pass) {
        /* Passes in between that no sample saw count as without a new minimum. */
        pass_completed(ctl, ctl->pass, ctl->pass_peak);
        ctl->pass = sample->dirty_sync_count;
        ctl->pass_peak = sample->remaining;
    } else if (sample->remaining > ctl->pass_peak) {
        ctl->pass_peak = sample->remaining;
    }
}

static gboolean
stalled(PodvmMigrationController *ctl)
{
    /* Completed passes after the one of the minimum (or of the last step). */
    return ctl->have_pass && ctl->pass > ctl->base_pass &&
           ctl->pass - 1 - ctl->base_pass >= ctl->policy.stall_passes;
}

static gboolean
step_applies(PodvmMigrationController *ctl, PodvmMigrationStep step)
{
    switch (step) {
    case PODVM_MIGRATION_STEP_AUTO_CONVERGE:
        return ctl->policy.auto_converge;
    case PODVM_MIGRATION_STEP_RAISE_DOWNTIME:
        return ctl->policy.max_downtime_ms > ctl->downtime_limit_ms;
    case PODVM_MIGRATION_STEP_POSTCOPY:
        return ctl->policy.postcopy_allowed;
    case PODVM_MIGRATION_STEP_CANCEL:
        return TRUE;
    case PODVM_MIGRATION_STEP_NONE:
    default:
        return FALSE;
    }
}

static StepRecord *record_step(PodvmMigrationController *ctl, PodvmMigrationStep step,
                               gint64 now_us);

/* A CANCEL is recorded at once: nothing follows it, whether or not the caller says it took it. */
static PodvmMigrationStep
issue(PodvmMigrationController *ctl, PodvmMigrationStep step, gint64 now_us)
{
    ctl->issued[step] = TRUE;
    ctl->pending = step;
    if (step == PODVM_MIGRATION_STEP_CANCEL)
        record_step(ctl, step, now_us);
    return step;
}

static char *
stall_reason(PodvmMigrationController *ctl)
{
    g_autofree char *remaining = g_format_size(ctl->remaining);
    g_autofree char *rate = g_format_size(ctl->dirty_rate);
    g_autofree char *sent = g_format_size(ctl->mbps_x1000 * 1000 / 8);

    /* TRANSLATORS: the sizes are formatted by g_format_size(), e.g. "12.3 MB". */
    return g_strdup_printf(_("the migration does not converge: %s of memory still to send "
                             "after %" G_GUINT64_FORMAT " passes; the guest dirties %s/s, "
                             "%s/s are sent"),
                           remaining, ctl->pass, rate, sent);
}

PodvmMigrationStep
podvm_migration_controller_feed(PodvmMigrationController *ctl, const PodvmMigrationSample *sample,
                                const char **out_reason)
{
    g_return_val_if_fail(ctl != NULL && sample != NULL, PODVM_MIGRATION_STEP_NONE);

    record_sample(ctl, sample);
    record_pass(ctl, sample);

    if (status_is_terminal(ctl->status) || ctl->issued[PODVM_MIGRATION_STEP_CANCEL])
        return PODVM_MIGRATION_STEP_NONE;

    if (ctl->policy.no_progress_timeout_ms > 0 &&
        sample->now_us - ctl->progress_us >= (gint64)ctl->policy.no_progress_timeout_ms * 1000) {
        g_free(ctl->cancel_reason);
        ctl->cancel_reason =
            g_strdup_printf(_("no progress for %u s: nothing was transferred to the target"),
                            (ctl->policy.no_progress_timeout_ms + 999) / 1000);
        if (out_reason != NULL)
            *out_reason = ctl->cancel_reason;
        return issue(ctl, PODVM_MIGRATION_STEP_CANCEL, sample->now_us);
    }

    /* One step at a time; post-copy converges by itself; only a running pre-copy steps. */
    if (ctl->pending != PODVM_MIGRATION_STEP_NONE || status_is_postcopy(ctl->status) ||
        g_strcmp0(ctl->status, "active") != 0 || !stalled(ctl))
        return PODVM_MIGRATION_STEP_NONE;

    for (PodvmMigrationStep step = PODVM_MIGRATION_STEP_AUTO_CONVERGE;
         step <= PODVM_MIGRATION_STEP_CANCEL; step++) {
        if (ctl->issued[step] || !step_applies(ctl, step))
            continue;
        if (step == PODVM_MIGRATION_STEP_CANCEL) {
            g_free(ctl->cancel_reason);
            ctl->cancel_reason = stall_reason(ctl);
            if (out_reason != NULL)
                *out_reason = ctl->cancel_reason;
        }
        return issue(ctl, step, sample->now_us);
    }
    return PODVM_MIGRATION_STEP_NONE;
}

/* The CANCEL already recorded, or NULL. */
static StepRecord *
recorded_cancel(PodvmMigrationController *ctl)
{
    for (guint i = 0; i < ctl->steps->len; i++) {
        StepRecord *record = &g_array_index(ctl->steps, StepRecord, i);

        if (record->step == PODVM_MIGRATION_STEP_CANCEL)
            return record;
    }
    return NULL;
}

static StepRecord *
record_step(PodvmMigrationController *ctl, PodvmMigrationStep step, gint64 now_us)
{
    StepRecord record = {
        .step = step,
        .at_ms = ctl->started ? MAX(now_us - ctl->start_us, 0) / 1000 : 0,
        .pass = ctl->pass,
    };

    if (step == PODVM_MIGRATION_STEP_CANCEL)
        record.reason = g_strdup(ctl->cancel_reason);
    g_array_append_val(ctl->steps, record);
    ctl->issued[step] = TRUE;
    if (ctl->pending == step)
        ctl->pending = PODVM_MIGRATION_STEP_NONE;
    return &g_array_index(ctl->steps, StepRecord, ctl->steps->len - 1);
}

void
podvm_migration_controller_step_taken(PodvmMigrationController *ctl, PodvmMigrationStep step,
                                      gint64 now_us)
{
    g_return_if_fail(ctl != NULL);
    g_return_if_fail(step > PODVM_MIGRATION_STEP_NONE && step <= PODVM_MIGRATION_STEP_CANCEL);

    if (step == PODVM_MIGRATION_STEP_CANCEL && recorded_cancel(ctl) != NULL)
        return;
    record_step(ctl, step, now_us);
    if (step == PODVM_MIGRATION_STEP_RAISE_DOWNTIME)
        ctl->downtime_limit_ms = ctl->policy.max_downtime_ms;
    /* The step changes what a pass has to send: count stalls from here again. */
    ctl->have_min = FALSE;
    ctl->base_pass = ctl->pass;
}

void
podvm_migration_controller_step_failed(PodvmMigrationController *ctl, PodvmMigrationStep step,
                                       gint64 now_us, const char *message)
{
    StepRecord *record;

    g_return_if_fail(ctl != NULL);
    g_return_if_fail(step > PODVM_MIGRATION_STEP_NONE && step <= PODVM_MIGRATION_STEP_CANCEL);

    record = step == PODVM_MIGRATION_STEP_CANCEL ? recorded_cancel(ctl) : NULL;
    if (record == NULL)
        record = record_step(ctl, step, now_us);
    g_free(record->error);
    record->error = g_strdup(message != NULL ? message : "");
    /* The stall still holds: the next feed offers the next step. */
}

JsonObject *
podvm_migration_controller_to_json(PodvmMigrationController *ctl)
{
    JsonObject *object = json_object_new();
    JsonArray *steps = json_array_new();

    json_object_set_string_member(object, "status", ctl->status != NULL ? ctl->status : "setup");
    json_object_set_int_member(object, "passes", (gint64)ctl->pass);
    json_object_set_int_member(object, "transferredBytes", (gint64)ctl->transferred);
    json_object_set_int_member(object, "remainingBytes", (gint64)ctl->remaining);
    json_object_set_int_member(object, "totalBytes", (gint64)ctl->total);
    json_object_set_int_member(object, "dirtyRate", (gint64)ctl->dirty_rate);
    json_object_set_double_member(object, "mbps", (double)ctl->mbps_x1000 / 1000.0);
    if (ctl->expected_downtime_ms >= 0)
        json_object_set_int_member(object, "expectedDowntimeMs", ctl->expected_downtime_ms);
    if (ctl->downtime_ms >= 0)
        json_object_set_int_member(object, "downtimeMs", ctl->downtime_ms);
    json_object_set_int_member(object, "downtimeLimitMs", ctl->downtime_limit_ms);
    json_object_set_int_member(object, "elapsedMs",
                               ctl->started ? (ctl->last_us - ctl->start_us) / 1000 : 0);
    for (guint i = 0; i < ctl->steps->len; i++) {
        const StepRecord *record = &g_array_index(ctl->steps, StepRecord, i);
        JsonObject *entry = json_object_new();

        json_object_set_string_member(entry, "step", podvm_migration_step_to_string(record->step));
        json_object_set_int_member(entry, "at", record->at_ms);
        json_object_set_int_member(entry, "pass", (gint64)record->pass);
        if (record->reason != NULL)
            json_object_set_string_member(entry, "reason", record->reason);
        if (record->error != NULL)
            json_object_set_string_member(entry, "error", record->error);
        json_array_add_object_element(steps, entry);
    }
    json_object_set_array_member(object, "steps", steps);
    return object;
}

JsonObject *
podvm_migration_controller_parameters(PodvmMigrationController *ctl, PodvmMigrationStep step)
{
    JsonObject *object;

    switch (step) {
    case PODVM_MIGRATION_STEP_AUTO_CONVERGE:
        /* Throttling starts at 80 % (or, already throttled, climbs 20 a pass) up to 99 %. */
        object = json_object_new();
        json_object_set_int_member(object, "cpu-throttle-initial", 80);
        json_object_set_int_member(object, "cpu-throttle-increment", 20);
        json_object_set_int_member(object, "max-cpu-throttle", 99);
        return object;
    case PODVM_MIGRATION_STEP_RAISE_DOWNTIME:
        object = json_object_new();
        json_object_set_int_member(object, "downtime-limit", ctl->policy.max_downtime_ms);
        return object;
    case PODVM_MIGRATION_STEP_POSTCOPY:
    case PODVM_MIGRATION_STEP_CANCEL:
    case PODVM_MIGRATION_STEP_NONE:
    default:
        return NULL;
    }
}

JsonObject *
podvm_migration_controller_initial_parameters(PodvmMigrationController *ctl)
{
    JsonObject *object = json_object_new();

    if (ctl->policy.max_bandwidth > 0)
        json_object_set_int_member(object, "max-bandwidth", (gint64)ctl->policy.max_bandwidth);
    json_object_set_int_member(object, "downtime-limit", ctl->policy.initial_downtime_ms);
    if (ctl->policy.auto_converge) {
        /* The capability is on from the start (it cannot change later): the gentlest throttle
         * until the controller's AUTO_CONVERGE step. */
        json_object_set_int_member(object, "cpu-throttle-initial", 1);
        json_object_set_int_member(object, "cpu-throttle-increment", 1);
    }
    return object;
}
