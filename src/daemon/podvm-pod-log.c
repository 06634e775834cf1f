/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pod's lifecycle in the journal: which MESSAGE_ID (podvm-log.h) a
 * phase change or an event carries, and the steps of operations.
 */
#include "podvm-pod-private.h"

#include "podvm-log.h"

const char *
pod_phase_message_id(PodvmPhase old, PodvmPhase phase)
{
    switch (phase) {
    case PODVM_PHASE_RUNNING:
        if (old == PODVM_PHASE_PAUSED)
            return PODVM_MESSAGE_POD_RESUMED;
        if (old == PODVM_PHASE_STARTING)
            return PODVM_MESSAGE_POD_STARTED;
        return NULL;
    case PODVM_PHASE_PAUSED:
        return old == PODVM_PHASE_RUNNING ? PODVM_MESSAGE_POD_PAUSED : NULL;
    case PODVM_PHASE_STOPPED:
    case PODVM_PHASE_SUCCEEDED:
        return old != phase ? PODVM_MESSAGE_POD_STOPPED : NULL;
    case PODVM_PHASE_FAILED:
        return old != phase ? PODVM_MESSAGE_POD_FAILED : NULL;
    default:
        return NULL;
    }
}

static const char *
details_string(JsonObject *details, const char *member)
{
    return details != NULL ? json_object_get_string_member_with_default(details, member, "") : "";
}

void
pod_log_event(PodvmPod *self, const char *type, JsonObject *details)
{
    if (g_strcmp0(type, "MigrationCompleted") == 0)
        pod_log_id(self, G_LOG_LEVEL_MESSAGE, PODVM_MESSAGE_POD_MIGRATED, "pod '%s' migrated to %s",
                   self->spec->name, details_string(details, "target"));
    else if (g_strcmp0(type, "MigrationFailed") == 0)
        pod_log_id(self, G_LOG_LEVEL_MESSAGE, PODVM_MESSAGE_POD_MIGRATION_FAILED,
                   "pod '%s': the migration failed: %s", self->spec->name,
                   details_string(details, "message"));
    else if (g_strcmp0(type, "MigrationActivated") == 0)
        pod_log_id(self, G_LOG_LEVEL_MESSAGE, PODVM_MESSAGE_POD_ARRIVED,
                   "pod '%s' arrived by live migration and runs here", self->spec->name);
}

void
podvm_pod_log_created(PodvmPod *self)
{
    pod_log_id(self, G_LOG_LEVEL_MESSAGE, PODVM_MESSAGE_POD_CREATED, "pod '%s' created (uid %s)",
               self->spec->name, pod_log_uid(self));
}

/* Logs one step of an operation and publishes it on the event stream. */
void
pod_step(PodvmPod *self, const char *format, ...)
{
    g_autoptr(JsonObject) details = json_object_new();
    g_autofree char *text = NULL;
    va_list args;

    va_start(args, format);
    text = g_strdup_vprintf(format, args);
    va_end(args);
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': %s", self->spec->name, text);
    json_object_set_string_member(details, "message", text);
    pod_emit_event(self, "Step", details);
}
