/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-migration-controller.h"

#define MIB (G_GUINT64_CONSTANT(1024) * 1024)
#define SAMPLES_PER_PASS 4
#define SAMPLE_US (250 * G_TIME_SPAN_MILLISECOND)

/*
 * A synthetic migration: each pass starts with what it has to send (its
 * peak) and the samples of the pass see "remaining" shrink from there, as
 * query-migrate does. Steps the controller returns are taken at once
 * (unless the test says otherwise) and collected.
 */
typedef struct {
    PodvmMigrationController *ctl;
    gint64 now_us;
    guint64 transferred;
    guint64 pass;
    const char *status;
    gboolean take_steps;
    GArray *steps;       /* PodvmMigrationStep returned */
    GArray *step_passes; /* the pass of each */
    char *reason;        /* the last CANCEL reason */
} Sim;

static void
sim_init(Sim *sim, const PodvmMigrationPolicy *policy)
{
    *sim = (Sim){ 0 };
    sim->ctl = podvm_migration_controller_new(policy);
    sim->now_us = 1000 * G_TIME_SPAN_SECOND;
    sim->status = "active";
    sim->take_steps = TRUE;
    sim->steps = g_array_new(FALSE, FALSE, sizeof(PodvmMigrationStep));
    sim->step_passes = g_array_new(FALSE, FALSE, sizeof(guint64));
}

static void
sim_clear(Sim *sim)
{
    podvm_migration_controller_free(sim->ctl);
    g_array_unref(sim->steps);
    g_array_unref(sim->step_passes);
    g_free(sim->reason);
}

static PodvmMigrationStep
sim_feed(Sim *sim, guint64 remaining, guint64 sent)
{
    PodvmMigrationSample sample = {
        .now_us = sim->now_us,
        .transferred = sim->transferred += sent,
        .remaining = remaining,
        .total = 512 * MIB,
        .dirty_sync_count = sim->pass,
        .dirty_pages_rate = 2560, /* 10 MiB/s of 4 KiB pages */
        .page_size = 4096,
        .mbps_x1000 = 33554, /* 4 MiB/s */
        .downtime_ms = -1,
        .expected_downtime_ms = 1500,
        .status = sim->status,
    };
    const char *reason = NULL;
    PodvmMigrationStep step = podvm_migration_controller_feed(sim->ctl, &sample, &reason);

    if (step != PODVM_MIGRATION_STEP_NONE) {
        g_array_append_val(sim->steps, step);
        g_array_append_val(sim->step_passes, sim->pass);
        if (step == PODVM_MIGRATION_STEP_CANCEL) {
            g_assert_nonnull(reason);
            g_free(sim->reason);
            sim->reason = g_strdup(reason);
        } else {
            g_assert_null(reason);
        }
        if (sim->take_steps) {
            podvm_migration_controller_step_taken(sim->ctl, step, sim->now_us);
            if (step == PODVM_MIGRATION_STEP_POSTCOPY)
                sim->status = "postcopy-active";
        }
    }
    sim->now_us += SAMPLE_US;
    return step;
}

/* One pass that starts with @peak to send. */
static void
sim_pass(Sim *sim, guint64 peak)
{
    sim->pass++;
    for (guint i = 0; i < SAMPLES_PER_PASS; i++)
        sim_feed(sim, peak - peak * i / SAMPLES_PER_PASS, MIB);
}

static PodvmMigrationPolicy
default_policy(void)
{
    return (PodvmMigrationPolicy){
        .max_bandwidth = 4 * MIB,
        .initial_downtime_ms = 300,
        .max_downtime_ms = 2000,
        .stall_passes = 3,
        .no_progress_timeout_ms = 30000,
        .auto_converge = TRUE,
        .postcopy_allowed = FALSE,
    };
}

static PodvmMigrationStep
step_at(Sim *sim, guint i)
{
    return g_array_index(sim->steps, PodvmMigrationStep, i);
}

static guint64
pass_at(Sim *sim, guint i)
{
    return g_array_index(sim->step_passes, guint64, i);
}

static JsonObject *
sim_json(Sim *sim)
{
    return podvm_migration_controller_to_json(sim->ctl);
}

static void
test_names(void)
{
    g_assert_cmpstr(podvm_migration_step_to_string(PODVM_MIGRATION_STEP_NONE), ==, "none");
    g_assert_cmpstr(podvm_migration_step_to_string(PODVM_MIGRATION_STEP_AUTO_CONVERGE), ==,
                    "auto-converge");
    g_assert_cmpstr(podvm_migration_step_to_string(PODVM_MIGRATION_STEP_RAISE_DOWNTIME), ==,
                    "raise-downtime");
    g_assert_cmpstr(podvm_migration_step_to_string(PODVM_MIGRATION_STEP_POSTCOPY), ==, "postcopy");
    g_assert_cmpstr(podvm_migration_step_to_string(PODVM_MIGRATION_STEP_CANCEL), ==, "cancel");
    g_assert_cmpstr(podvm_migration_step_to_string(42), ==, "none");
}

/* What a pass has to send halves each time: no step, ever. */
static void
test_converging(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;
    g_autoptr(JsonObject) json = NULL;

    policy.stall_passes = 1;
    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    for (guint64 peak = 64 * MIB; peak > MIB / 8; peak /= 2)
        sim_pass(&sim, peak);
    sim.status = "completed";
    sim_feed(&sim, 0, MIB);
    g_assert_cmpuint(sim.steps->len, ==, 0);
    json = sim_json(&sim);
    g_assert_cmpstr(json_object_get_string_member(json, "status"), ==, "completed");
    g_assert_cmpint(json_array_get_length(json_object_get_array_member(json, "steps")), ==, 0);
    g_assert_cmpint(json_object_get_int_member(json, "passes"), ==, 10);
    g_assert_cmpint(json_object_get_int_member(json, "downtimeLimitMs"), ==, 300);
    sim_clear(&sim);
}

/* A noisy but shrinking migration (one pass up, two down) is not a stall with stall_passes 2. */
static void
test_noisy_converging(void)
{
    PodvmMigrationPolicy policy = default_policy();
    const guint64 peaks[] = { 100, 80, 90, 60, 70, 45, 50, 30, 35, 20, 22, 10 };
    Sim sim;

    policy.stall_passes = 2;
    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    for (guint i = 0; i < G_N_ELEMENTS(peaks); i++)
        sim_pass(&sim, peaks[i] * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 0);
    sim_clear(&sim);
}

/*
 * The guest dirties as much as a pass sends: auto-converge, then the raised
 * downtime, then (postcopy not allowed) cancel, each after stall_passes
 * completed passes without a new minimum, each once.
 */
static void
test_stalled_to_cancel(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;
    g_autoptr(JsonObject) json = NULL;
    JsonArray *steps;

    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB); /* pass 1: everything */
    for (guint i = 0; i < 30; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 3);
    g_assert_cmpint(step_at(&sim, 0), ==, PODVM_MIGRATION_STEP_AUTO_CONVERGE);
    g_assert_cmpint(step_at(&sim, 1), ==, PODVM_MIGRATION_STEP_RAISE_DOWNTIME);
    g_assert_cmpint(step_at(&sim, 2), ==, PODVM_MIGRATION_STEP_CANCEL);
    /* Minimum at pass 2, passes 3-5 without: the step comes with pass 6; then 4 passes each. */
    g_assert_cmpuint(pass_at(&sim, 0), ==, 6);
    g_assert_cmpuint(pass_at(&sim, 1), ==, 10);
    g_assert_cmpuint(pass_at(&sim, 2), ==, 14);
    g_assert_nonnull(strstr(sim.reason, "does not converge"));
    g_assert_nonnull(strstr(sim.reason, "14 passes"));

    json = sim_json(&sim);
    g_assert_cmpint(json_object_get_int_member(json, "downtimeLimitMs"), ==, 2000);
    steps = json_object_get_array_member(json, "steps");
    g_assert_cmpint(json_array_get_length(steps), ==, 3);
    {
        JsonObject *first = json_array_get_object_element(steps, 0);
        JsonObject *last = json_array_get_object_element(steps, 2);

        g_assert_cmpstr(json_object_get_string_member(first, "step"), ==, "auto-converge");
        g_assert_cmpint(json_object_get_int_member(first, "pass"), ==, 6);
        /* 5 passes of 4 samples 250 ms apart before it. */
        g_assert_cmpint(json_object_get_int_member(first, "at"), ==, 5 * 4 * 250);
        g_assert_false(json_object_has_member(first, "reason"));
        g_assert_cmpstr(
            json_object_get_string_member(json_array_get_object_element(steps, 1), "step"), ==,
            "raise-downtime");
        g_assert_cmpstr(json_object_get_string_member(last, "step"), ==, "cancel");
        g_assert_cmpint(json_object_get_int_member(last, "pass"), ==, 14);
        g_assert_cmpstr(json_object_get_string_member(last, "reason"), ==, sim.reason);
    }
    sim_clear(&sim);
}

/* With postcopy allowed the third step is post-copy, and nothing follows it. */
static void
test_stalled_to_postcopy(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;
    g_autoptr(JsonObject) json = NULL;

    policy.postcopy_allowed = TRUE;
    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    for (guint i = 0; i < 40; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 3);
    g_assert_cmpint(step_at(&sim, 0), ==, PODVM_MIGRATION_STEP_AUTO_CONVERGE);
    g_assert_cmpint(step_at(&sim, 1), ==, PODVM_MIGRATION_STEP_RAISE_DOWNTIME);
    g_assert_cmpint(step_at(&sim, 2), ==, PODVM_MIGRATION_STEP_POSTCOPY);
    g_assert_cmpuint(pass_at(&sim, 2), ==, 14);
    g_assert_null(sim.reason);
    json = sim_json(&sim);
    g_assert_cmpstr(json_object_get_string_member(json, "status"), ==, "postcopy-active");
    sim_clear(&sim);
}

/* Steps the policy rules out are skipped: no auto-converge, a max downtime not above the start. */
static void
test_policy_skips(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;

    policy.auto_converge = FALSE;
    policy.max_downtime_ms = 300;
    policy.stall_passes = 2;
    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    for (guint i = 0; i < 20; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 1);
    g_assert_cmpint(step_at(&sim, 0), ==, PODVM_MIGRATION_STEP_CANCEL);
    /* Minimum at pass 2, passes 3 and 4 without. */
    g_assert_cmpuint(pass_at(&sim, 0), ==, 5);
    sim_clear(&sim);
}

/* A step that works (what a pass sends shrinks again) is the last one. */
static void
test_step_helps(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;

    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    while (sim.steps->len == 0)
        sim_pass(&sim, 50 * MIB);
    for (guint64 peak = 40 * MIB; peak > MIB; peak = peak * 3 / 4)
        sim_pass(&sim, peak);
    sim.status = "completed";
    sim_feed(&sim, 0, MIB);
    g_assert_cmpuint(sim.steps->len, ==, 1);
    g_assert_cmpint(step_at(&sim, 0), ==, PODVM_MIGRATION_STEP_AUTO_CONVERGE);
    sim_clear(&sim);
}

/* Until a step is taken or failed nothing else comes; a failed step lets the next one come. */
static void
test_pending_and_failed(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;
    g_autoptr(JsonObject) json = NULL;
    JsonObject *failed;

    policy.postcopy_allowed = TRUE;
    sim_init(&sim, &policy);
    sim.take_steps = FALSE;
    sim_pass(&sim, 512 * MIB);
    for (guint i = 0; i < 20; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 1);
    g_assert_cmpint(step_at(&sim, 0), ==, PODVM_MIGRATION_STEP_AUTO_CONVERGE);

    /* QEMU refused it: the stall still holds, the next sample offers the next step. */
    podvm_migration_controller_step_failed(sim.ctl, PODVM_MIGRATION_STEP_AUTO_CONVERGE, sim.now_us,
                                           "refused");
    g_assert_cmpint(sim_feed(&sim, 10 * MIB, MIB), ==, PODVM_MIGRATION_STEP_RAISE_DOWNTIME);
    podvm_migration_controller_step_taken(sim.ctl, PODVM_MIGRATION_STEP_RAISE_DOWNTIME, sim.now_us);
    sim.take_steps = TRUE;
    for (guint i = 0; i < 10; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 3);
    g_assert_cmpint(step_at(&sim, 2), ==, PODVM_MIGRATION_STEP_POSTCOPY);

    json = sim_json(&sim);
    failed = json_array_get_object_element(json_object_get_array_member(json, "steps"), 0);
    g_assert_cmpstr(json_object_get_string_member(failed, "step"), ==, "auto-converge");
    g_assert_cmpstr(json_object_get_string_member(failed, "error"), ==, "refused");
    g_assert_cmpint(json_array_get_length(json_object_get_array_member(json, "steps")), ==, 3);
    sim_clear(&sim);
}

/* Only "active" steps: a stall seen in setup or pre-switchover waits. */
static void
test_only_active_steps(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;

    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    sim.status = "pre-switchover";
    for (guint i = 0; i < 10; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 0);
    sim.status = "active";
    sim_feed(&sim, 40 * MIB, MIB);
    g_assert_cmpuint(sim.steps->len, ==, 1);
    sim_clear(&sim);
}

/* Nothing transferred for the timeout: cancel, once, with the reason; not before. */
static void
test_no_progress(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;
    g_autoptr(JsonObject) json = NULL;
    JsonObject *last;
    guint samples = 0;

    policy.no_progress_timeout_ms = 10000;
    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    sim.pass++;
    /* 39 samples 250 ms apart: 9.75 s without a byte. */
    sim_feed(&sim, 100 * MIB, MIB);
    for (; samples < 39; samples++)
        g_assert_cmpint(sim_feed(&sim, 100 * MIB, 0), ==, PODVM_MIGRATION_STEP_NONE);
    g_assert_cmpint(sim_feed(&sim, 100 * MIB, 0), ==, PODVM_MIGRATION_STEP_CANCEL);
    g_assert_cmpstr(sim.reason, ==, "no progress for 10 s: nothing was transferred to the target");
    for (guint i = 0; i < 20; i++)
        g_assert_cmpint(sim_feed(&sim, 100 * MIB, 0), ==, PODVM_MIGRATION_STEP_NONE);
    for (guint i = 0; i < 20; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 1);

    json = sim_json(&sim);
    /* Taken (step_taken) and recorded once. */
    g_assert_cmpint(json_array_get_length(json_object_get_array_member(json, "steps")), ==, 1);
    last = json_array_get_object_element(json_object_get_array_member(json, "steps"), 0);
    g_assert_cmpstr(json_object_get_string_member(last, "step"), ==, "cancel");
    g_assert_cmpstr(json_object_get_string_member(last, "reason"), ==, sim.reason);
    sim_clear(&sim);
}

/* A CANCEL is recorded with its reason when returned, whether or not it is reported taken. */
static void
test_cancel_recorded(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;
    g_autoptr(JsonObject) json = NULL;
    JsonArray *steps;
    JsonObject *cancel;

    policy.auto_converge = FALSE;
    policy.max_downtime_ms = 0;
    policy.stall_passes = 1;
    sim_init(&sim, &policy);
    sim.take_steps = FALSE;
    sim_pass(&sim, 512 * MIB);
    for (guint i = 0; i < 10; i++)
        sim_pass(&sim, 50 * MIB);
    g_assert_cmpuint(sim.steps->len, ==, 1);
    g_assert_cmpint(step_at(&sim, 0), ==, PODVM_MIGRATION_STEP_CANCEL);
    json = sim_json(&sim);
    steps = json_object_get_array_member(json, "steps");
    g_assert_cmpint(json_array_get_length(steps), ==, 1);
    cancel = json_array_get_object_element(steps, 0);
    g_assert_cmpstr(json_object_get_string_member(cancel, "step"), ==, "cancel");
    g_assert_cmpint(json_object_get_int_member(cancel, "pass"), ==, 4);
    g_assert_cmpstr(json_object_get_string_member(cancel, "reason"), ==, sim.reason);
    g_clear_pointer(&json, json_object_unref);

    /* A cancel that could not be done says so on the same entry. */
    podvm_migration_controller_step_failed(sim.ctl, PODVM_MIGRATION_STEP_CANCEL, sim.now_us,
                                           "monitor gone");
    podvm_migration_controller_step_taken(sim.ctl, PODVM_MIGRATION_STEP_CANCEL, sim.now_us);
    json = sim_json(&sim);
    steps = json_object_get_array_member(json, "steps");
    g_assert_cmpint(json_array_get_length(steps), ==, 1);
    g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(steps, 0), "error"),
                    ==, "monitor gone");
    sim_clear(&sim);
}

/* A timeout of 0 never cancels; a progressing migration is never cancelled for it. */
static void
test_no_progress_off(void)
{
    PodvmMigrationPolicy policy = default_policy();
    Sim sim;

    policy.no_progress_timeout_ms = 0;
    sim_init(&sim, &policy);
    sim_pass(&sim, 512 * MIB);
    for (guint i = 0; i < 1000; i++)
        sim_feed(&sim, 10 * MIB, 0);
    g_assert_cmpuint(sim.steps->len, ==, 0);
    sim_clear(&sim);

    policy.no_progress_timeout_ms = 1000;
    sim_init(&sim, &policy);
    for (guint i = 0; i < 1000; i++)
        sim_feed(&sim, 10 * MIB, 1);
    g_assert_cmpuint(sim.steps->len, ==, 0);
    sim_clear(&sim);
}

/* Ended migrations never step. */
static void
test_terminal(void)
{
    const char *ends[] = { "completed", "failed", "cancelled", "cancelling" };

    for (guint i = 0; i < G_N_ELEMENTS(ends); i++) {
        PodvmMigrationPolicy policy = default_policy();
        Sim sim;

        policy.no_progress_timeout_ms = 1000;
        sim_init(&sim, &policy);
        sim_pass(&sim, 512 * MIB);
        sim.status = ends[i];
        for (guint j = 0; j < 40; j++)
            sim_pass(&sim, 50 * MIB);
        for (guint j = 0; j < 40; j++)
            sim_feed(&sim, 0, 0);
        g_assert_cmpuint(sim.steps->len, ==, 0);
        sim_clear(&sim);
    }
}

/* The JSON of status.migrationState: passes, bytes, dirty rate in bytes/s, downtimes. */
static void
test_json(void)
{
    PodvmMigrationPolicy policy = default_policy();
    g_autoptr(PodvmMigrationController) ctl = podvm_migration_controller_new(&policy);
    g_autoptr(JsonObject) before = podvm_migration_controller_to_json(ctl);
    g_autoptr(JsonObject) active = NULL;
    g_autoptr(JsonObject) done = NULL;
    PodvmMigrationSample sample = {
        .now_us = 5 * G_TIME_SPAN_SECOND,
        .transferred = 3 * MIB,
        .remaining = 100 * MIB,
        .total = 512 * MIB,
        .dirty_sync_count = 2,
        .dirty_pages_rate = 1000,
        .page_size = 4096,
        .mbps_x1000 = 25500,
        .downtime_ms = -1,
        .expected_downtime_ms = -1,
        .status = "active",
    };

    g_assert_cmpstr(json_object_get_string_member(before, "status"), ==, "setup");
    g_assert_cmpint(json_object_get_int_member(before, "passes"), ==, 0);
    g_assert_cmpint(json_array_get_length(json_object_get_array_member(before, "steps")), ==, 0);

    g_assert_cmpint(podvm_migration_controller_feed(ctl, &sample, NULL), ==,
                    PODVM_MIGRATION_STEP_NONE);
    sample.now_us += 1500 * G_TIME_SPAN_MILLISECOND;
    sample.transferred = 9 * MIB;
    sample.expected_downtime_ms = 420;
    sample.page_size = 0; /* unknown: 4 KiB */
    podvm_migration_controller_feed(ctl, &sample, NULL);
    active = podvm_migration_controller_to_json(ctl);
    g_assert_cmpstr(json_object_get_string_member(active, "status"), ==, "active");
    g_assert_cmpint(json_object_get_int_member(active, "passes"), ==, 2);
    g_assert_cmpint(json_object_get_int_member(active, "transferredBytes"), ==, 9 * MIB);
    g_assert_cmpint(json_object_get_int_member(active, "remainingBytes"), ==, 100 * MIB);
    g_assert_cmpint(json_object_get_int_member(active, "totalBytes"), ==, 512 * MIB);
    g_assert_cmpint(json_object_get_int_member(active, "dirtyRate"), ==, 1000 * 4096);
    g_assert_cmpfloat_with_epsilon(json_object_get_double_member(active, "mbps"), 25.5, 1e-9);
    g_assert_cmpint(json_object_get_int_member(active, "expectedDowntimeMs"), ==, 420);
    g_assert_false(json_object_has_member(active, "downtimeMs"));
    g_assert_cmpint(json_object_get_int_member(active, "downtimeLimitMs"), ==, 300);
    g_assert_cmpint(json_object_get_int_member(active, "elapsedMs"), ==, 1500);

    sample.now_us += G_TIME_SPAN_SECOND;
    sample.status = "completed";
    sample.remaining = 0;
    sample.downtime_ms = 143;
    podvm_migration_controller_feed(ctl, &sample, NULL);
    done = podvm_migration_controller_to_json(ctl);
    g_assert_cmpstr(json_object_get_string_member(done, "status"), ==, "completed");
    g_assert_cmpint(json_object_get_int_member(done, "downtimeMs"), ==, 143);
    g_assert_cmpint(json_object_get_int_member(done, "elapsedMs"), ==, 2500);
}

/* The migrate-set-parameters arguments: at start and for each step. */
static void
test_parameters(void)
{
    PodvmMigrationPolicy policy = default_policy();
    g_autoptr(PodvmMigrationController) ctl = podvm_migration_controller_new(&policy);
    g_autoptr(JsonObject) initial = podvm_migration_controller_initial_parameters(ctl);
    g_autoptr(JsonObject) converge =
        podvm_migration_controller_parameters(ctl, PODVM_MIGRATION_STEP_AUTO_CONVERGE);
    g_autoptr(JsonObject) downtime =
        podvm_migration_controller_parameters(ctl, PODVM_MIGRATION_STEP_RAISE_DOWNTIME);
    g_autoptr(PodvmMigrationController) plain = NULL;
    g_autoptr(JsonObject) plain_initial = NULL;

    g_assert_cmpint(json_object_get_int_member(initial, "max-bandwidth"), ==, 4 * MIB);
    g_assert_cmpint(json_object_get_int_member(initial, "downtime-limit"), ==, 300);
    g_assert_cmpint(json_object_get_int_member(initial, "cpu-throttle-initial"), ==, 1);
    g_assert_cmpint(json_object_get_int_member(initial, "cpu-throttle-increment"), ==, 1);

    g_assert_cmpint(json_object_get_int_member(converge, "cpu-throttle-initial"), >=, 50);
    g_assert_cmpint(json_object_get_int_member(converge, "cpu-throttle-increment"), >=, 10);
    g_assert_cmpint(json_object_get_int_member(converge, "max-cpu-throttle"), ==, 99);
    g_assert_cmpint(json_object_get_size(downtime), ==, 1);
    g_assert_cmpint(json_object_get_int_member(downtime, "downtime-limit"), ==, 2000);
    g_assert_null(podvm_migration_controller_parameters(ctl, PODVM_MIGRATION_STEP_POSTCOPY));
    g_assert_null(podvm_migration_controller_parameters(ctl, PODVM_MIGRATION_STEP_CANCEL));
    g_assert_null(podvm_migration_controller_parameters(ctl, PODVM_MIGRATION_STEP_NONE));

    /* No bandwidth limit, no auto-converge: only the downtime. */
    policy.max_bandwidth = 0;
    policy.auto_converge = FALSE;
    plain = podvm_migration_controller_new(&policy);
    plain_initial = podvm_migration_controller_initial_parameters(plain);
    g_assert_cmpint(json_object_get_size(plain_initial), ==, 1);
    g_assert_cmpint(json_object_get_int_member(plain_initial, "downtime-limit"), ==, 300);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/migration/controller/names", test_names);
    g_test_add_func("/podvm/migration/controller/converging", test_converging);
    g_test_add_func("/podvm/migration/controller/noisy-converging", test_noisy_converging);
    g_test_add_func("/podvm/migration/controller/stalled-to-cancel", test_stalled_to_cancel);
    g_test_add_func("/podvm/migration/controller/stalled-to-postcopy", test_stalled_to_postcopy);
    g_test_add_func("/podvm/migration/controller/policy-skips", test_policy_skips);
    g_test_add_func("/podvm/migration/controller/step-helps", test_step_helps);
    g_test_add_func("/podvm/migration/controller/pending-and-failed", test_pending_and_failed);
    g_test_add_func("/podvm/migration/controller/only-active-steps", test_only_active_steps);
    g_test_add_func("/podvm/migration/controller/no-progress", test_no_progress);
    g_test_add_func("/podvm/migration/controller/no-progress-off", test_no_progress_off);
    g_test_add_func("/podvm/migration/controller/cancel-recorded", test_cancel_recorded);
    g_test_add_func("/podvm/migration/controller/terminal", test_terminal);
    g_test_add_func("/podvm/migration/controller/json", test_json);
    g_test_add_func("/podvm/migration/controller/parameters", test_parameters);
    return g_test_run();
}
