/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-phase.h"

#include <sys/stat.h>

static const char *const phase_names[] = {
    [PODVM_PHASE_PENDING] = "Pending",     [PODVM_PHASE_STARTING] = "Starting",
    [PODVM_PHASE_RUNNING] = "Running",     [PODVM_PHASE_PAUSED] = "Paused",
    [PODVM_PHASE_STOPPING] = "Stopping",   [PODVM_PHASE_STOPPED] = "Stopped",
    [PODVM_PHASE_SUCCEEDED] = "Succeeded", [PODVM_PHASE_FAILED] = "Failed",
    [PODVM_PHASE_MIGRATING] = "Migrating", [PODVM_PHASE_INCOMING] = "Incoming",
};

G_STATIC_ASSERT(G_N_ELEMENTS(phase_names) == PODVM_N_PHASES);

const char *
podvm_phase_to_string(PodvmPhase phase)
{
    g_return_val_if_fail((guint)phase < G_N_ELEMENTS(phase_names), "Unknown");
    return phase_names[phase];
}

gboolean
podvm_phase_from_string(const char *text, PodvmPhase *out_phase)
{
    for (guint i = 0; i < G_N_ELEMENTS(phase_names); i++) {
        if (g_strcmp0(text, phase_names[i]) == 0) {
            *out_phase = i;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean
podvm_phase_has_qemu(PodvmPhase phase)
{
    switch (phase) {
    case PODVM_PHASE_STARTING:
    case PODVM_PHASE_RUNNING:
    case PODVM_PHASE_PAUSED:
    case PODVM_PHASE_STOPPING:
    case PODVM_PHASE_MIGRATING:
    case PODVM_PHASE_INCOMING:
        return TRUE;
    case PODVM_PHASE_PENDING:
    case PODVM_PHASE_STOPPED:
    case PODVM_PHASE_SUCCEEDED:
    case PODVM_PHASE_FAILED:
        break;
    }
    return FALSE;
}

gboolean
podvm_phase_name_has_qemu(const char *name)
{
    PodvmPhase phase;

    return podvm_phase_from_string(name, &phase) && podvm_phase_has_qemu(phase);
}

gboolean
podvm_log_follow_ends(PodvmLogFollow *follow, PodvmPhase phase, gboolean found_new)
{
    if (found_new) {
        follow->quiet_looks = 0;
        return FALSE;
    }
    if (podvm_phase_has_qemu(phase))
        return FALSE;
    return ++follow->quiet_looks > 1;
}

gboolean
podvm_log_follow_restarts(int fd, gint64 offset)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (gint64)st.st_size < offset;
}
