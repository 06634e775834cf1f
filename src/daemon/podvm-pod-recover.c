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
 * never by a bare pid), and the pod's status says so.
 */
#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-pod-private.h"

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

GHashTable *
podvm_pod_scan_qemus(void)
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
        if (uuid == NULL)
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
open_qemu_of(int pid, const char *uid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    g_autofree char *uuid = NULL;

    if (fd < 0)
        return -1;
    uuid = cmdline_uuid(pid);
    if (g_strcmp0(uuid, uid) != 0) {
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

        if (pid == keep_pid || (fd = open_qemu_of(pid, self->spec->uid)) < 0)
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
