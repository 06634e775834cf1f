/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finding a pod's QEMUs by what podvmd put on their command line, and
 * ending the ones no pod may keep.
 *
 * The state file names the QEMU a pod runs (pid + start time). A podvmd
 * killed between spawning QEMU and writing that record leaves a QEMU the
 * file does not know. Every QEMU podvmd starts carries the pod's uid as
 * `-uuid UID` (podvm-qemu-argv.c), so at start-up one pass over /proc finds
 * them all: the one recorded is adopted, any other is ended (by pidfd,
 * never by a bare pid), and the pod's status says so. The adoption
 * itself (QMP, query-status) and the report of an adopted QEMU's end live
 * here too.
 */
#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"
#include "podvm-qemu-nics.h"

/* How long ending a stray QEMU may take before the pod goes on without waiting. */
#define END_TIMEOUT_MS 5000

/* The argument after "-uuid" in @pid's command line, or NULL. */
static char *
cmdline_uuid(int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
    g_autofree char *cmdline = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &cmdline, &length, NULL) || length == 0)
        return NULL;
    for (gsize i = 0; i < length;) {
        gsize next = i + strlen(cmdline + i) + 1;

        if (strcmp(cmdline + i, "-uuid") == 0 && next < length)
            return g_strdup(cmdline + next);
        i = next;
    }
    return NULL;
}

/*
 * Whether @pid was started by the podvmd of @run_dir: its environment's
 * PODVM_RUN_DIR is @run_dir, or it has none (older podvmds did not set it).
 */
static gboolean
started_by(int pid, const char *run_dir)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/environ", pid);
    g_autofree char *environ_text = NULL;
    gsize length = 0;

    if (run_dir == NULL || !g_file_get_contents(path, &environ_text, &length, NULL))
        return TRUE;
    for (gsize i = 0; i < length; i += strlen(environ_text + i) + 1) {
        if (g_str_has_prefix(environ_text + i, "PODVM_RUN_DIR="))
            return g_str_equal(environ_text + i + strlen("PODVM_RUN_DIR="), run_dir);
    }
    return TRUE;
}

GHashTable *
podvm_pod_scan_qemus(const char *run_dir)
{
    GHashTable *found =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_array_unref);
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *name;
    int self_pid = getpid();

    if (dir == NULL)
        return found;
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *uuid = NULL;
        guint64 pid = 0;
        GArray *pids;

        if (!g_ascii_string_to_unsigned(name, 10, 1, G_MAXINT, &pid, NULL) || (int)pid == self_pid)
            continue;
        uuid = cmdline_uuid((int)pid);
        if (uuid == NULL || !started_by((int)pid, run_dir))
            continue;
        pids = g_hash_table_lookup(found, uuid);
        if (pids == NULL) {
            pids = g_array_new(FALSE, FALSE, sizeof(int));
            g_hash_table_insert(found, g_strdup(uuid), pids);
        }
        g_array_append_val(pids, (int){ (int)pid });
    }
    return found;
}

/* A pidfd for @pid if it still runs with "-uuid @uid" (checked after opening: no reuse race). */
static int
open_qemu_of(int pid, const char *uid, const char *run_dir)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    g_autofree char *uuid = NULL;

    if (fd < 0)
        return -1;
    uuid = cmdline_uuid(pid);
    if (g_strcmp0(uuid, uid) != 0 || !started_by(pid, run_dir)) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct {
    GArray *watches; /* of guint: one source per QEMU still waited for, 0 once it exited */
    GArray *fds;     /* of int: the pidfds, closed with the job */
    guint timeout_id;
    GString *ended; /* "123, 456" */
} EndJob;

static void
end_job_free(EndJob *job)
{
    for (guint i = 0; i < job->watches->len; i++) {
        guint id = g_array_index(job->watches, guint, i);
        if (id != 0)
            g_source_remove(id);
    }
    for (guint i = 0; i < job->fds->len; i++)
        close(g_array_index(job->fds, int, i));
    g_array_unref(job->watches);
    g_array_unref(job->fds);
    g_clear_handle_id(&job->timeout_id, g_source_remove);
    g_string_free(job->ended, TRUE);
    g_free(job);
}

/* Returns the task once no QEMU is waited for (the last reference goes with it). */
static void
end_job_maybe_done(GTask *task)
{
    EndJob *job = g_task_get_task_data(task);

    for (guint i = 0; i < job->watches->len; i++) {
        if (g_array_index(job->watches, guint, i) != 0)
            return;
    }
    g_clear_handle_id(&job->timeout_id, g_source_remove);
    g_task_return_pointer(task, job->ended->len > 0 ? g_strdup(job->ended->str) : NULL, g_free);
    g_object_unref(task);
}

typedef struct {
    GTask *task; /* unowned: the job removes this source before it goes */
    guint index;
} EndWatch;

static gboolean
end_watch_cb(int fd, GIOCondition condition, gpointer user_data)
{
    EndWatch *watch = user_data;
    GTask *task = watch->task;
    EndJob *job = g_task_get_task_data(task);

    g_array_index(job->watches, guint, watch->index) = 0;
    end_job_maybe_done(task);
    return G_SOURCE_REMOVE;
}

static gboolean
end_timeout_cb(gpointer user_data)
{
    GTask *task = user_data;
    EndJob *job = g_task_get_task_data(task);
    PodvmPod *self = g_task_get_source_object(task);

    job->timeout_id = 0;
    pod_log(self, G_LOG_LEVEL_MESSAGE,
            "pod '%s': a QEMU it did not record is still there %u ms after SIGKILL; going on",
            self->spec->name, END_TIMEOUT_MS);
    for (guint i = 0; i < job->watches->len; i++)
        g_clear_handle_id(&g_array_index(job->watches, guint, i), g_source_remove);
    end_job_maybe_done(task);
    return G_SOURCE_REMOVE;
}

void
pod_end_qemus_async(PodvmPod *self, GArray *pids, int keep_pid, GAsyncReadyCallback callback,
                    gpointer user_data)
{
    GTask *task = g_task_new(self, NULL, callback, user_data);
    EndJob *job = g_new0(EndJob, 1);

    job->watches = g_array_new(FALSE, TRUE, sizeof(guint));
    job->fds = g_array_new(FALSE, TRUE, sizeof(int));
    job->ended = g_string_new(NULL);
    g_task_set_task_data(task, job, (GDestroyNotify)end_job_free);
    for (guint i = 0; pids != NULL && i < pids->len; i++) {
        int pid = g_array_index(pids, int, i);
        EndWatch *watch;
        guint id;
        int fd;

        if (pid == keep_pid || (fd = open_qemu_of(pid, self->spec->uid, self->config->run_dir)) < 0)
            continue;
        g_array_append_val(job->fds, fd);
        if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) != 0 && errno != ESRCH) {
            pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': cannot end QEMU pid %d: %s",
                    self->spec->name, pid, g_strerror(errno));
            continue;
        }
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': ended QEMU pid %d, which no record named",
                self->spec->name, pid);
        g_string_append_printf(job->ended, "%s%d", job->ended->len > 0 ? ", " : "", pid);
        watch = g_new0(EndWatch, 1);
        watch->task = task;
        watch->index = job->watches->len;
        id = g_unix_fd_add_full(G_PRIORITY_DEFAULT, fd, G_IO_IN, end_watch_cb, watch, g_free);
        g_array_append_val(job->watches, id);
    }
    if (job->watches->len > 0)
        job->timeout_id = g_timeout_add(END_TIMEOUT_MS, end_timeout_cb, task);
    end_job_maybe_done(task);
}

char *
pod_end_qemus_finish(PodvmPod *self, GAsyncResult *result)
{
    return g_task_propagate_pointer(G_TASK(result), NULL);
}

/* ---- an adopted QEMU's end ---------------------------------------------- */

static gboolean console_log_shows_poweroff(PodvmPod *self);
static void adopted_qmp_closed_cb(PodvmQmpClient *qmp, GError *error, gpointer user_data);

/*
 * An adopted QEMU (not our child) is gone: its exit status went to whoever
 * reaped it. Say what QEMU itself told us last (its SHUTDOWN event, its
 * stderr, the guest's console), and that the rest is unknown.
 */
static void
adopted_qemu_exited(PodvmPod *self)
{
    g_autofree char *how = NULL;

    g_clear_handle_id(&self->exit_report_timer, g_source_remove);
    if (self->qmp != NULL)
        g_signal_handlers_disconnect_by_func(self->qmp, adopted_qmp_closed_cb, self);
    if (!self->guest_shutdown && self->shutdown_reason == NULL && console_log_shows_poweroff(self))
        self->guest_shutdown = TRUE;
    if (self->guest_shutdown)
        how = g_strdup(_("QEMU exited after the guest powered off"));
    else if (self->shutdown_reason != NULL)
        how = g_strdup_printf(_("QEMU shut down (reason %s); exit status unknown: QEMU was not "
                                "started by this podvmd"),
                              self->shutdown_reason);
    else
        how = g_strdup(_("QEMU exited without a shutdown event (killed?); exit status unknown: "
                         "QEMU was not started by this podvmd"));
    pod_qemu_exited(self, how);
}

static void
adopted_qmp_closed_cb(PodvmQmpClient *qmp, GError *error, gpointer user_data)
{
    adopted_qemu_exited(user_data);
}

static gboolean
adopted_exit_timeout_cb(gpointer user_data)
{
    PodvmPod *self = user_data;

    self->exit_report_timer = 0;
    adopted_qemu_exited(self);
    return G_SOURCE_REMOVE;
}

static gboolean
pidfd_cb(int fd, GIOCondition condition, gpointer user_data)
{
    PodvmPod *self = user_data;

    self->pidfd_watch = 0;
    if (self->qmp != NULL && podvm_qmp_client_is_connected(self->qmp)) {
        /* Its last events may still wait in the monitor socket: read them first. */
        g_signal_connect(self->qmp, "closed", G_CALLBACK(adopted_qmp_closed_cb), self);
        self->exit_report_timer = g_timeout_add(500, adopted_exit_timeout_cb, self);
        return G_SOURCE_REMOVE;
    }
    adopted_qemu_exited(self);
    return G_SOURCE_REMOVE;
}

/* ---- reconnecting after a daemon restart ------------------------------- */

static void
reconcile_stop_done(PodvmPod *self, GTask *task)
{
    /* No operation owns this exit: it ends a stop that was under way. */
}

static void
reconcile_kill_done(PodvmPod *self, GTask *task)
{
    g_clear_error(&self->start_error);
    self->start_error_wins = FALSE;
    pod_set_phase(self, self->phase, "StartInterrupted", self->message);
    pod_maybe_schedule_restart(self);
}

/* The adoption is over, one way or another: waiting QMP callers go on. */
static void
reconcile_return(PodvmPod *self, GTask *task, GError *error)
{
    if (error != NULL)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
    pod_adoption_done(self);
}

/*
 * An attach a restart cut short may have left its netdev in QEMU (its tap
 * is gone with the release): removed, before any caller's command, so the
 * interface can be attached again under its name.
 */
static void
drop_orphan_netdevs(PodvmPod *self)
{
    g_autoptr(GPtrArray) names = pod_net_take_orphan_netdevs(self);

    for (guint i = 0; i < names->len; i++) {
        g_autoptr(JsonObject) arguments = json_object_new();
        g_autofree char *id = podvm_qemu_nic_netdev_id(g_ptr_array_index(names, i));

        json_object_set_string_member(arguments, "id", id);
        pod_qmp_execute(self->qmp, "netdev_del", arguments, PODVM_QMP_TIMEOUT_HOTPLUG, NULL,
                        pod_qmp_ignore_reply_cb, g_strdup("netdev_del"));
    }
}

/* Whether the pod's migration record says it is the target of a migration. */
static gboolean
is_migration_target(PodvmPod *self)
{
    return self->migration_record != NULL && g_strcmp0(json_object_get_string_member_with_default(
                                                           self->migration_record, "role", NULL),
                                                       "target") == 0;
}

/*
 * The migration's recovery decided (podvm-pod-incoming.c,
 * podvm-pod-migrate-recover.c): the adoption ends.
 */
static void
reconcile_migration_done(PodvmPod *self, GTask *task)
{
    if (self->qmp != NULL && self->console == NULL && podvm_phase_has_qemu(self->phase) &&
        self->phase != PODVM_PHASE_INCOMING && self->spec->autoattach_serial_console) {
        self->console =
            podvm_console_new_for_pod(self->spec->name, self->console_log, self->config);
        podvm_console_connect_async(self->console, self->console_path, NULL, NULL, NULL);
    }
    reconcile_return(self, task, NULL);
    g_object_unref(task);
}

/*
 * A pod with a migration record: the migration's own recovery decides
 * (podvm-pod-migrate-recover.c for the source), then the adoption ends.
 * FALSE when there is none (the caller returns as usual).
 */
static gboolean
reconcile_migration(PodvmPod *self, GTask *task)
{
    const char *role;

    if (self->migration_record == NULL)
        return FALSE;
    role = json_object_get_string_member_with_default(self->migration_record, "role", NULL);
    if (g_strcmp0(role, "source") == 0) {
        pod_migration_source_recover(self, g_object_ref(task), reconcile_migration_done);
        return TRUE;
    }
    return FALSE;
}

static void
reconcile_status_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = NULL;
    const char *status = NULL;

    if (self->detached) {
        /* podvmd is going away and closed the monitor: nothing to adopt, nothing to say. */
        reconcile_return(self, task,
                         g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("podvmd is stopping")));
        return;
    }

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (reply == NULL) {
        pod_set_phase(self, self->phase, "QmpUnreachable", error->message);
        reconcile_return(self, task, podvm_error_from_component(error));
        return;
    }
    if (JSON_NODE_HOLDS_OBJECT(reply))
        status =
            json_object_get_string_member_with_default(json_node_get_object(reply), "status", NULL);
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': reconnected to QEMU pid %d (status %s)",
            self->spec->name, self->qemu_pid, status ? status : "unknown");
    if (is_migration_target(self)) {
        pod_incoming_recover(self, g_steal_pointer(&task), reconcile_migration_done);
        return;
    }

    if (self->phase == PODVM_PHASE_STARTING && g_strcmp0(status, "running") == 0) {
        /* Past its `cont`: only the record of it was missing. */
        pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': its start had finished; adopting QEMU",
                self->spec->name);
        g_clear_pointer(&self->started_at, g_date_time_unref);
        self->started_at = g_date_time_new_now_utc();
        pod_set_phase(self, PODVM_PHASE_RUNNING, NULL, NULL);
        self->running_since_us = g_get_monotonic_time();
    } else if (self->phase == PODVM_PHASE_STARTING || g_strcmp0(status, "prelaunch") == 0) {
        /* Killed halfway through its start: tear it down and say so. */
        g_clear_error(&self->start_error);
        self->start_error =
            g_error_new(PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("the start was interrupted by a podvmd restart; QEMU (pid %d) was "
                          "ended"),
                        self->qemu_pid);
        self->start_error_wins = TRUE;
        self->phase = PODVM_PHASE_STARTING;
        self->exit_continuation = reconcile_kill_done;
        pod_kill_qemu(self);
    } else if (self->phase == PODVM_PHASE_STOPPING) {
        self->exit_intent = "Stopped";
        self->exit_continuation = reconcile_stop_done;
        pod_send_quit(self);
    } else if (g_strcmp0(status, "running") == 0) {
        if (self->phase != PODVM_PHASE_RUNNING)
            pod_set_phase(self, PODVM_PHASE_RUNNING, NULL, NULL);
        self->running_since_us = g_get_monotonic_time();
    } else if (g_strcmp0(status, "paused") == 0) {
        if (self->phase != PODVM_PHASE_PAUSED)
            pod_set_phase(self, PODVM_PHASE_PAUSED, "Paused", NULL);
    } else if (g_strcmp0(status, "shutdown") == 0) {
        self->guest_shutdown = TRUE;
        pod_send_quit(self);
    }
    if (podvm_phase_has_qemu(self->phase) && self->phase != PODVM_PHASE_STARTING)
        drop_orphan_netdevs(self);
    if (self->spec->autoattach_serial_console && self->phase != PODVM_PHASE_STARTING) {
        self->console =
            podvm_console_new_for_pod(self->spec->name, self->console_log, self->config);
        podvm_console_connect_async(self->console, self->console_path, NULL, NULL, NULL);
    }
    /* An app guest's channel: the guest reports its apps again. */
    if (podvm_phase_has_qemu(self->phase) && self->phase != PODVM_PHASE_STARTING) {
        g_autoptr(GError) channel_error = NULL;

        if (!pod_apps_connect(self, &channel_error))
            pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': %s", self->spec->name,
                    channel_error->message);
        /* The guest agent: asked again what it knows. */
        pod_agent_connect(self);
    }
    if (reconcile_migration(self, task))
        return;
    reconcile_return(self, task, NULL);
}

static void
reconcile_qmp_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;

    if (self->detached) {
        /* podvmd is going away and closed the monitor: nothing to adopt, nothing to say. */
        reconcile_return(self, task,
                         g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED, _("podvmd is stopping")));
        return;
    }

    if (!podvm_qmp_client_connect_finish(PODVM_QMP_CLIENT(source), result, &error)) {
        /* Never kill a guest we merely cannot talk to; say so and keep watching. */
        pod_set_phase(self, self->phase, "QmpUnreachable", error->message);
        reconcile_return(self, task, podvm_error_from_component(error));
        return;
    }
    pod_qmp_execute(self->qmp, "query-status", NULL, PODVM_QMP_TIMEOUT_QUERY, NULL,
                    reconcile_status_cb, g_steal_pointer(&task));
}

static gboolean
console_log_shows_poweroff(PodvmPod *self)
{
    g_autofree char *tail = pod_tail_of_file(self->console_log, 4096);

    return tail != NULL && strstr(tail, "reboot: Power down") != NULL;
}

/* Pool use lives in memory: a QEMU that ran on across a daemon restart takes its claims again. */
static void
reacquire_claims(PodvmPod *self)
{
    for (guint i = 0; i < self->spec->disks->len; i++) {
        const PodvmSpecDisk *disk = g_ptr_array_index(self->spec->disks, i);
        const PodvmSpecVolume *volume = podvm_spec_find_volume(self->spec, disk->name);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = NULL;
        gboolean read_only;

        if (volume == NULL || volume->claim_name == NULL || self->pool == NULL)
            continue;
        /* An ephemeral overlay only reads its claim. */
        read_only = disk->readonly || disk->kind == PODVM_DISK_KIND_CDROM || volume->readonly ||
                    volume->source == PODVM_VOLUME_EPHEMERAL;
        if (!podvm_volume_pool_acquire(self->pool, volume->claim_name, self->spec->name, read_only,
                                       &path, NULL, &error))
            pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': volume '%s': %s", self->spec->name,
                    volume->claim_name, error->message);
    }
}

/* After the QEMUs no record names are gone: adopt the recorded one, or say what became of it. */
static gboolean
reconcile_connect_later_cb(gpointer user_data)
{
    GTask *task = user_data;

    pod_connect_qmp(g_task_get_source_object(task), reconcile_qmp_cb, task);
    return G_SOURCE_REMOVE;
}

static void
reconcile_recorded(PodvmPod *self, GTask *task, const char *ended)
{
    g_autofree char *why = NULL;
    guint delay;

    if (!podvm_phase_has_qemu(self->phase) && is_migration_target(self)) {
        /* Killed between the record and the start of an incoming migration. */
        pod_incoming_recover(self, g_object_ref(task), reconcile_migration_done);
        return;
    }
    if (!podvm_phase_has_qemu(self->phase)) {
        /* A network a crash left set up (QEMU had exited, CNI DEL had not run) goes now. */
        pod_net_release_async(self, NULL, NULL);
        /* A pod that waited to restart when the daemon stopped waits again. */
        pod_maybe_schedule_restart(self);
        if (reconcile_migration(self, task))
            return;
        reconcile_return(self, task, NULL);
        return;
    }
    if (!pod_process_is_our_qemu(self, self->qemu_pid)) {
        self->qemu_pid = 0;
        self->qemu_start_ticks = 0;
        pod_release_volumes(self);
        if (is_migration_target(self)) {
            pod_incoming_recover(self, g_object_ref(task), reconcile_migration_done);
            return;
        }
        if (self->phase == PODVM_PHASE_STARTING) {
            if (ended != NULL)
                why = g_strdup_printf(_("the start was interrupted by a podvmd restart; QEMU "
                                        "(pid %s), which was never recorded, was ended"),
                                      ended);
            else if (self->launch_pending)
                why = g_strdup(_("the start was interrupted by a podvmd restart while it "
                                 "launched QEMU; no QEMU of it runs"));
            else
                why = g_strdup(_("the start was interrupted by a podvmd restart"));
            self->launch_pending = FALSE;
            pod_set_phase(self, PODVM_PHASE_FAILED, "StartInterrupted", why);
            pod_maybe_schedule_restart(self);
        } else if (self->phase == PODVM_PHASE_STOPPING) {
            pod_set_phase(self, PODVM_PHASE_STOPPED, "Stopped",
                          _("QEMU exited while podvmd was down"));
        } else if (console_log_shows_poweroff(self)) {
            pod_set_phase(self, PODVM_PHASE_SUCCEEDED, "GuestShutdown",
                          _("the guest powered off while podvmd was down"));
            pod_maybe_schedule_restart(self);
        } else {
            pod_set_phase(self, PODVM_PHASE_FAILED, "QemuExited",
                          _("exited while podvmd was down"));
            pod_maybe_schedule_restart(self);
        }
        if (reconcile_migration(self, task))
            return;
        reconcile_return(self, task, NULL);
        return;
    }
    self->pidfd = (int)syscall(SYS_pidfd_open, self->qemu_pid, 0);
    if (self->pidfd < 0) {
        int saved = errno;
        reconcile_return(self, task,
                         g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot watch QEMU pid %d: %s"),
                                     self->qemu_pid, g_strerror(saved)));
        return;
    }
    self->pidfd_watch = g_unix_fd_add(self->pidfd, G_IO_IN, pidfd_cb, self);
    reacquire_claims(self);
    /* Its guests' DHCP and RA answered again, and CNI CHECK of each attachment. */
    pod_net_adopt(self);
    delay = podvm_fault_delay_ms("reconcile:before-connect");
    if (delay > 0) {
        g_timeout_add(delay, reconcile_connect_later_cb, g_object_ref(task));
        return;
    }
    pod_connect_qmp(self, reconcile_qmp_cb, g_object_ref(task));
}

static void
reconcile_delete_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    g_autoptr(GError) error = NULL;

    if (!pod_net_release_finish(self, result, &error)) {
        pod_log(self, G_LOG_LEVEL_WARNING, "pod '%s': %s", self->spec->name, error->message);
        g_clear_error(&error);
    }
    if (!pod_delete_now(self, &error)) {
        reconcile_return(self, task, g_steal_pointer(&error));
        return;
    }
    reconcile_return(self, task, NULL);
    pod_emit_deleted(self);
}

static void
reconcile_strays_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = PODVM_POD(source);
    g_autofree char *ended = pod_end_qemus_finish(self, result);
    g_autoptr(GError) error = NULL;

    if (self->deleting) {
        /* Its delete was under way: finish it (every QEMU of the pod is gone now). */
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': finishing the delete a restart interrupted",
                self->spec->name);
        self->qemu_pid = 0;
        self->qemu_start_ticks = 0;
        pod_release_volumes(self);
        /* The network's release (CNI DEL, the namespace) ends before the files go. */
        pod_net_release_async(self, reconcile_delete_cb, g_steal_pointer(&task));
        return;
    }
    reconcile_recorded(self, task, ended);
}

void
podvm_pod_reconcile_async(PodvmPod *self, GHashTable *qemus, GAsyncReadyCallback callback,
                          gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, NULL, callback, user_data);
    g_autoptr(GHashTable) scanned =
        qemus == NULL ? podvm_pod_scan_qemus(self->config->run_dir) : NULL;
    GArray *pids = g_hash_table_lookup(qemus != NULL ? qemus : scanned, self->spec->uid);
    int keep = -1;

    g_task_set_source_tag(task, podvm_pod_reconcile_async);
    self->adopting = TRUE;
    /* The recorded QEMU is adopted, unless the pod is being deleted; any other is ended. */
    if (!self->deleting && podvm_phase_has_qemu(self->phase) &&
        pod_process_is_our_qemu(self, self->qemu_pid))
        keep = self->qemu_pid;
    pod_end_qemus_async(self, pids, keep, reconcile_strays_cb, g_steal_pointer(&task));
}

gboolean
podvm_pod_reconcile_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}
