/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting a pod: prepare its volumes, open the files QEMU gets as fds,
 * record the intent to launch, spawn QEMU (paused, -S, unprivileged, in a
 * cgroup of its own) on sockets podvmd listens on, connect the monitor
 * and the console, record the pid, then let the guest run ("cont"). A
 * QEMU that dies on the way reports to the start through the pod's exit
 * continuation.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "podvm-cgroup.h"
#include "podvm-machined.h"
#include "podvm-error.h"
#include "podvm-fault.h"
#include "podvm-host.h"
#include "podvm-pod-net.h"
#include "podvm-pod-private.h"
#include "podvm-qemu-argv.h"

/* Fixed fd numbers inside QEMU: the listening sockets, the kernel files, then the disks. */
#define QMP_CHILD_FD 3
#define CONSOLE_CHILD_FD 4
#define KERNEL_CHILD_FD 5
#define INITRD_CHILD_FD 6
#define FIRST_DISK_CHILD_FD 7
/* Above every disk's and tap's: the child joins it, then closes it before exec. */
#define NETNS_CHILD_FD 255

/* What QEMU itself may use above the guest's memory (its cgroup's MemoryMax). */
#define QEMU_MEMORY_OVERHEAD ((guint64)256 * 1024 * 1024)
/* What QEMU may lock above the guest's memory when vfio pins it (KubeVirt's 1 GiB). */
#define QEMU_MEMLOCK_OVERHEAD ((guint64)1024 * 1024 * 1024)

/* -- start -- */

static int
listen_unix(const char *path, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof addr.sun_path) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("socket path '%s' is too long; use a shorter run directory"), path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    (void)unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot listen on '%s': %s"), path,
                    g_strerror(saved));
        return -1;
    }
    return fd;
}

static void
start_failed_after_exit(PodvmPod *self, GTask *task)
{
    GError *error;

    if (self->phase == PODVM_PHASE_STOPPED) {
        error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                            _("pod '%s' was killed while it started"), self->spec->name);
    } else {
        /*
         * A cause found before QEMU ran (a volume in use, a registry that
         * cannot be reached) keeps its own code; a plain failure once QEMU
         * ran is QEMU's.
         */
        int code = self->start_error != NULL && (self->start_error->code != PODVM_ERROR_FAILED ||
                                                 self->start_error_before_qemu)
                       ? self->start_error->code
                       : PODVM_ERROR_QEMU;

        /* What was not found (an image, a claim) is named in the message; the pod exists. */
        if (code == PODVM_ERROR_NOT_FOUND)
            code = PODVM_ERROR_FAILED;
        error = g_error_new(PODVM_ERROR, code, _("pod '%s' failed to start: %s"), self->spec->name,
                            self->message ? self->message : "");
    }
    g_clear_error(&self->start_error);
    self->start_error_wins = FALSE;
    self->start_error_before_qemu = FALSE;
    pod_op_return(self, task, error);
    if (self->phase != PODVM_PHASE_STOPPED)
        pod_maybe_schedule_restart(self);
}

/*
 * Whether @task is still the start in progress (QEMU may have died
 * meanwhile). The start of an Incoming pod (the target of a migration)
 * runs in phase Incoming.
 */
static gboolean
start_in_progress(PodvmPod *self, GTask *task)
{
    return self->current == task &&
           (self->phase == PODVM_PHASE_STARTING ||
            (self->incoming != NULL && self->phase == PODVM_PHASE_INCOMING));
}

/* Something went wrong after the spawn: kill QEMU, report once it is gone. */
void
pod_start_fail(PodvmPod *self, GTask *task, GError *error)
{
    if (self->start_error == NULL) {
        self->start_error = podvm_error_from_component(error);
        self->start_error_before_qemu = self->subprocess == NULL && self->pidfd < 0;
    }
    g_error_free(error);
    self->exit_task = task;
    self->exit_continuation = start_failed_after_exit;
    if (self->subprocess != NULL || self->pidfd >= 0)
        pod_kill_qemu(self); /* pod_qemu_exited() continues */
    else
        pod_qemu_exited(self, self->start_error->message);
}

static void
start_cont_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = NULL;

    reply = podvm_qmp_client_execute_finish(PODVM_QMP_CLIENT(source), result, &error);
    if (!start_in_progress(self, task))
        return; /* QEMU died meanwhile; pod_qemu_exited() reported through exit_task */
    if (reply == NULL) {
        pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    self->exit_task = NULL;
    self->exit_continuation = NULL;
    g_clear_pointer(&self->started_at, g_date_time_unref);
    self->started_at = g_date_time_new_now_utc();
    pod_set_phase(self, PODVM_PHASE_RUNNING, NULL, NULL);
    pod_op_return(self, task, NULL);
}

/*
 * QEMU runs (paused) with its monitor and console connected: the guest
 * goes on, or, for the target of a migration, QEMU is told to wait for
 * the source (podvm-pod-incoming.c), which ends the operation.
 */
static void
start_guest(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;

    if (self->incoming != NULL) {
        pod_incoming_qemu_ready(self, task);
        return;
    }
    if (!pod_apps_connect(self, &error)) {
        pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    pod_agent_connect(self);
    pod_step(self, "QEMU ready; resuming the guest");
    pod_qmp_for_task(self, task, "cont", PODVM_QMP_TIMEOUT_HOTPLUG, start_cont_cb);
}

static void
start_console_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;

    if (!podvm_console_connect_finish(PODVM_CONSOLE(source), result, &error)) {
        if (start_in_progress(self, task))
            pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    if (!start_in_progress(self, task))
        return;
    start_guest(self, task);
}

static void
start_qmp_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;

    if (!podvm_qmp_client_connect_finish(PODVM_QMP_CLIENT(source), result, &error)) {
        if (start_in_progress(self, task))
            pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    if (!start_in_progress(self, task))
        return;
    if (self->spec->autoattach_serial_console) {
        self->console =
            podvm_console_new_for_pod(self->spec->name, self->console_log, self->config);
        podvm_console_connect_async(self->console, self->console_path, NULL, start_console_cb,
                                    g_object_ref(task));
        return;
    }
    start_guest(self, task);
}

/* Who QEMU runs as; read in the child between fork and exec. */
typedef struct {
    gboolean drop;
    uid_t uid;
    gid_t gid;
    int netns_fd;    /* the pod's network namespace, joined before exec; -1: none */
    guint64 memlock; /* RLIMIT_MEMLOCK (soft and hard) before the drop; 0: left alone */
} ChildCredentials;

static void
child_fail(const char *what)
{
    /* Async-signal-safe: the message goes to QEMU's log (stderr), where a failed start looks. */
    static const char prefix[] = "podvmd: cannot drop privileges before QEMU: ";
    int saved = errno;

    if (write(STDERR_FILENO, prefix, sizeof prefix - 1) < 0 ||
        write(STDERR_FILENO, what, strlen(what)) < 0 || write(STDERR_FILENO, "\n", 1) < 0)
        (void)saved;
    _exit(126);
}

static void
child_setup(gpointer user_data)
{
    const ChildCredentials *credentials = user_data;

    /* Its own session: QEMU outlives podvmd and its signals; podvmd's ignored SIGPIPE is not its.
     */
    setsid();
    signal(SIGPIPE, SIG_DFL);
    /* Into the pod's network namespace, while still privileged enough to. */
    if (credentials != NULL && credentials->netns_fd >= 0 &&
        setns(credentials->netns_fd, CLONE_NEWNET) != 0)
        child_fail("setns into the pod's network namespace");
    if (credentials != NULL && credentials->netns_fd >= 0)
        close(credentials->netns_fd);
    /* vfio pins the guest's memory: raised while still privileged (CAP_SYS_RESOURCE). */
    if (credentials != NULL && credentials->memlock > 0) {
        struct rlimit limit = { .rlim_cur = credentials->memlock,
                                .rlim_max = credentials->memlock };

        if (setrlimit(RLIMIT_MEMLOCK, &limit) != 0)
            child_fail("setrlimit RLIMIT_MEMLOCK (vfio pins the guest's memory)");
    }
    if (credentials == NULL || !credentials->drop)
        return;
    /*
     * QEMU never runs as root: no supplementary groups, then the group,
     * then the user (all of real, effective and saved), so every capability
     * is gone before exec. QEMU's -sandbox (elevateprivileges=deny) keeps
     * it from getting any back.
     */
    if (setgroups(0, NULL) != 0)
        child_fail("setgroups");
    if (setresgid(credentials->gid, credentials->gid, credentials->gid) != 0)
        child_fail("setresgid");
    if (setresuid(credentials->uid, credentials->uid, credentials->uid) != 0)
        child_fail("setresuid");
    if (setuid(0) == 0)
        child_fail("uid 0 could be regained");
}

/*
 * QEMU's RLIMIT_MEMLOCK: for a pod with a VF, its memory and 1 GiB (vfio
 * pins the guest's memory); 0 (left as it is) otherwise. Above podvmd's
 * own hard limit only with CAP_SYS_RESOURCE, which podvmd checks by
 * raising its own hard limit (harmless: podvmd locks nothing); without it,
 * QEMU gets the hard limit there is, and the log says vfio may fail.
 */
static guint64
qemu_memlock(PodvmPod *self, gboolean vf)
{
    guint64 wanted = 0;
    struct rlimit now;

    for (guint i = 0; i < self->spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(self->spec->interfaces, i);

        vf |= iface->binding == PODVM_BINDING_SRIOV;
    }
    if (vf)
        wanted = podvm_spec_resolve_memory(self->spec) + QEMU_MEMLOCK_OVERHEAD;
    if (wanted == 0 || getrlimit(RLIMIT_MEMLOCK, &now) != 0 || now.rlim_max == RLIM_INFINITY ||
        (guint64)now.rlim_max >= wanted)
        return wanted;
    {
        struct rlimit raised = { .rlim_cur = now.rlim_cur, .rlim_max = wanted };

        if (setrlimit(RLIMIT_MEMLOCK, &raised) == 0)
            return wanted;
    }
    pod_log(self, G_LOG_LEVEL_WARNING,
            "pod '%s': QEMU's RLIMIT_MEMLOCK cannot be raised to %" G_GUINT64_FORMAT
            " bytes (the guest's memory and 1 GiB, which vfio pins) without CAP_SYS_RESOURCE; "
            "it stays at %" G_GUINT64_FORMAT " and vfio may fail to map the guest's memory",
            self->spec->name, wanted, (guint64)now.rlim_max);
    return (guint64)now.rlim_max;
}

void
pod_raise_qemu_memlock(PodvmPod *self)
{
    guint64 wanted = qemu_memlock(self, TRUE);
    struct rlimit old, limit = { .rlim_cur = wanted, .rlim_max = wanted };

    if (self->qemu_pid <= 0 || prlimit(self->qemu_pid, RLIMIT_MEMLOCK, NULL, &old) != 0 ||
        (old.rlim_cur != RLIM_INFINITY && (guint64)old.rlim_cur >= wanted))
        return;
    /* On another user's process: CAP_SYS_RESOURCE again. */
    if (prlimit(self->qemu_pid, RLIMIT_MEMLOCK, &limit, NULL) != 0)
        pod_log(self, G_LOG_LEVEL_WARNING,
                "pod '%s': cannot raise QEMU's RLIMIT_MEMLOCK (pid %d) to %" G_GUINT64_FORMAT
                " bytes for its virtual function: %s; vfio may fail to map the guest's memory",
                self->spec->name, self->qemu_pid, wanted, g_strerror(errno));
}

static void start_spawn(PodvmPod *self, GTask *task);
static void start_prepare_next(PodvmPod *self, GTask *task);

static void
start_network_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    GPtrArray *nics = pod_net_prepare_finish(self, result, &error);

    g_clear_object(&self->preparing);
    if (nics == NULL) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_clear_error(&error);
            error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                _("killed while preparing its network"));
        }
        pod_release_volumes(self);
        pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    g_clear_pointer(&self->start_nics, g_ptr_array_unref);
    self->start_nics = nics;
    start_spawn(self, task);
}

/* The pod's network namespace, CNI and bindings (podvm-pod-net.c), then the spawn. */
static void
start_network(PodvmPod *self, GTask *task)
{
    if (self->spec->interfaces->len == 0) {
        g_clear_object(&self->preparing);
        start_spawn(self, task);
        return;
    }
    pod_step(self, "preparing %u network interface(s)", self->spec->interfaces->len);
    pod_net_prepare_async(self, self->preparing, start_network_cb, g_object_ref(task));
}

/*
 * status.volumeStatus gets what a containerDisk was made from: KubeVirt shows a
 * volume's status per name; podvm adds the image and the digest it resolved
 * to (what the manager's image list counts as in use).
 */
static void
pod_record_volume_status(PodvmPod *self, const PodvmPreparedVolume *prepared)
{
    JsonObject *entry;
    JsonObject *disk;

    if (prepared->image_digest == NULL)
        return;
    if (self->volume_status == NULL)
        self->volume_status = json_array_new();
    entry = json_object_new();
    disk = json_object_new();
    json_object_set_string_member(entry, "name", prepared->volume_name);
    if (prepared->image_reference != NULL)
        json_object_set_string_member(disk, "image", prepared->image_reference);
    json_object_set_string_member(disk, "imageDigest", prepared->image_digest);
    json_object_set_object_member(entry, "containerDiskVolume", disk);
    json_array_add_object_element(self->volume_status, entry);
}

static void
start_prepare_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    PodvmPreparedVolume *prepared = podvm_storage_prepare_finish(result, &error);

    if (prepared == NULL) {
        const PodvmSpecDisk *disk = g_ptr_array_index(self->spec->disks, self->prepared->len);

        g_clear_object(&self->preparing);
        pod_release_volumes(self);
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_clear_error(&error);
            error = g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                _("killed while preparing its volumes"));
        } else if (strstr(error->message, disk->name) == NULL) {
            /* Say which volume, unless the backend already did. */
            g_autoptr(GError) converted = podvm_error_from_component(error);
            g_clear_error(&error);
            error = g_error_new(converted->domain, converted->code, _("volume '%s': %s"),
                                disk->name, converted->message);
        }
        pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    pod_record_volume_status(self, prepared);
    g_ptr_array_add(self->prepared, prepared);
    start_prepare_next(self, task);
}

/* Prepares the volume of each disk in turn, then spawns QEMU. */
static void
start_prepare_next(PodvmPod *self, GTask *task)
{
    PodvmStorageContext ctx;
    const PodvmSpecDisk *disk;
    const PodvmSpecVolume *volume;

    if (g_cancellable_is_cancelled(self->preparing)) {
        g_clear_object(&self->preparing);
        pod_release_volumes(self);
        pod_start_fail(self, task,
                       g_error_new(PODVM_ERROR, PODVM_ERROR_CANCELLED,
                                   _("killed while preparing its volumes")));
        return;
    }
    if (self->prepared->len == self->spec->disks->len) {
        start_network(self, task);
        return;
    }
    disk = g_ptr_array_index(self->spec->disks, self->prepared->len);
    volume = podvm_spec_find_volume(self->spec, disk->name);
    if (volume == NULL) {
        /* The parser makes every disk name a volume; a hand-edited state file may not. */
        g_clear_object(&self->preparing);
        pod_release_volumes(self);
        pod_start_fail(self, task,
                       g_error_new(PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                                   _("disk '%s' names no volume"), disk->name));
        return;
    }
    if (self->prepared->len == 0) {
        pod_step(self, "preparing %u volume(s)", self->spec->disks->len);
        /* What this start prepares replaces what the last one recorded. */
        g_clear_pointer(&self->volume_status, json_array_unref);
    }
    pod_storage_context(self, &ctx);
    podvm_storage_prepare_async(&ctx, volume, disk->readonly || disk->kind == PODVM_DISK_KIND_CDROM,
                                self->preparing, start_prepare_cb, g_object_ref(task));
}

void
pod_start_op(PodvmPod *self, GTask *task)
{
    GError *refusal = pod_op_refusal(self, PODVM_POD_OP_START, NULL);

    if (refusal != NULL) {
        pod_op_return(self, task, refusal);
        return;
    }
    pod_start_begin(self, task, PODVM_PHASE_STARTING);
}

void
pod_start_begin(PodvmPod *self, GTask *task, PodvmPhase phase)
{
    g_clear_handle_id(&self->backoff_timer, g_source_remove);
    g_clear_error(&self->start_error);
    self->start_error_wins = FALSE;
    self->start_error_before_qemu = FALSE;
    self->guest_shutdown = FALSE;
    g_clear_pointer(&self->shutdown_reason, g_free);
    pod_set_phase(self, phase, NULL, NULL);

    if (g_mkdir_with_parents(self->run_dir, 0700) != 0) {
        int saved = errno;
        pod_start_fail(self, task,
                       g_error_new(PODVM_ERROR, PODVM_ERROR_IO, _("cannot create '%s': %s"),
                                   self->run_dir, g_strerror(saved)));
        return;
    }
    g_clear_pointer(&self->prepared, g_ptr_array_unref);
    self->prepared = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_prepared_volume_free);
    podvm_hotplug_clear(self->hotplug);
    g_clear_object(&self->preparing);
    self->preparing = g_cancellable_new();
    if (podvm_spec_uses_app_guest(self->spec)) {
        /* Images pulled, root filesystems built, then the network and the spawn. */
        pod_apps_prepare(self, task, start_network);
        return;
    }
    if (self->spec->disks->len == 0) {
        start_network(self, task);
        return;
    }
    start_prepare_next(self, task);
}

/* Stores "QEMU is being launched" durably; else the start fails and nothing runs. */
static gboolean
start_record_intent(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;

    self->launch_pending = TRUE;
    if (!pod_save_required(self, "start:before-spawn", &error)) {
        self->launch_pending = FALSE;
        self->start_error_wins = TRUE;
        pod_start_fail(self, task, g_steal_pointer(&error));
        return FALSE;
    }
    podvm_fault_crash_point("start:before-spawn");
    return TRUE;
}

/*
 * Stores the pid of the QEMU just spawned. A QEMU podvmd could not record
 * would be unknown to the next podvmd: it is ended and the start fails
 * (RELIABILITY 20 keeps a pod running on a failed write only once its
 * QEMU is on record).
 */
static gboolean
start_record_pid(PodvmPod *self, GTask *task)
{
    g_autoptr(GError) error = NULL;

    self->launch_pending = FALSE;
    if (!pod_save_required(self, "start:after-spawn", &error)) {
        g_prefix_error(&error, _("QEMU (pid %d) was ended because it could not be recorded: "),
                       self->qemu_pid);
        self->start_error_wins = TRUE;
        pod_start_fail(self, task, g_steal_pointer(&error));
        return FALSE;
    }
    podvm_fault_crash_point("start:after-record");
    return TRUE;
}

/*
 * The kernel and initrd, opened beneath [qemu] kernel_dirs or [storage]
 * allowed_host_paths (checked at create, and here again: the file may have
 * changed since). QEMU reads what podvmd opened.
 */
static gboolean
open_kernel_files(PodvmPod *self, int *out_kernel_fd, int *out_initrd_fd, GError **error)
{
    g_auto(GStrv) roots = podvm_config_kernel_roots(self->config);
    const char *paths[] = { self->spec->kernel_path, self->spec->initrd_path };
    const char *fields[] = { "spec.domain.firmware.kernelBoot.kernelPath",
                             "spec.domain.firmware.kernelBoot.initrdPath" };
    int fds[] = { -1, -1 };

    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        struct stat st;

        if (paths[i] == NULL)
            continue;
        fds[i] = podvm_storage_open_host_path(paths[i], (const char *const *)roots,
                                              O_RDONLY | O_NOCTTY, 0, NULL, error);
        if (fds[i] >= 0 && (fstat(fds[i], &st) != 0 || !S_ISREG(st.st_mode))) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC,
                        _("'%s' is not a regular file"), paths[i]);
            close(fds[i]);
            fds[i] = -1;
        }
        if (fds[i] < 0) {
            g_prefix_error(error, "%s: ", fields[i]);
            if (i == 1 && fds[0] >= 0)
                close(fds[0]);
            return FALSE;
        }
    }
    *out_kernel_fd = fds[0];
    *out_initrd_fd = fds[1];
    return TRUE;
}

/* Gives up a spawn before QEMU runs: closes what was opened for it (-1: not opened), then fails. */
static void
spawn_abandon(PodvmPod *self, GTask *task, GError *error, const int *fds, guint n_fds)
{
    for (guint i = 0; i < n_fds; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    g_clear_pointer(&self->prepared, g_ptr_array_unref);
    pod_start_fail(self, task, error);
}

static void
start_spawn(PodvmPod *self, GTask *task)
{
    PodLifecycleOp *op = pod_op_of(task);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *banner = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *now_text = g_date_time_format_iso8601(now);
    PodvmQemuArgvContext ctx = { 0 };
    /* PODVM_RUN_DIR: which podvmd started it (podvm_pod_scan_qemus()). */
    g_autofree char *run_dir_env = g_strconcat("PODVM_RUN_DIR=", self->config->run_dir, NULL);
    const char *env[] = { "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C",
                          run_dir_env, NULL };
    int qmp_fd = -1, console_fd = -1, log_fd;
    int kernel_fd = -1, initrd_fd = -1, console_log_fd = -1;
    int next_fd = FIRST_DISK_CHILD_FD;
    guint next_fdset = 1;
    ChildCredentials *credentials;
    g_autoptr(GPtrArray) nics = g_ptr_array_new(); /* PodvmQemuNic*, owned by start_nics */
    int netns_fd = -1;
    gboolean app_guest = podvm_spec_uses_app_guest(self->spec);
    int app_listen_fd = -1;
    gboolean guest_agent = podvm_spec_has_guest_agent(self->spec);
    int agent_listen_fd = -1;
    g_autoptr(GArray) app_disk_fds = app_guest ? pod_apps_take_disk_fds(self) : NULL;
    g_autofree int *app_disk_child_fds = NULL;
    PodvmQemuAppGuest app_ctx = { 0 };

    if (app_guest ? !pod_apps_open_guest(self, &kernel_fd, &initrd_fd, &error)
                  : !open_kernel_files(self, &kernel_fd, &initrd_fd, &error)) {
        g_clear_pointer(&self->prepared, g_ptr_array_unref);
        pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    netns_fd = pod_net_open_netns(self, &error);
    if (error != NULL) {
        spawn_abandon(self, task, g_steal_pointer(&error), (int[]){ kernel_fd, initrd_fd }, 2);
        return;
    }
    qmp_fd = listen_unix(self->qmp_path, &error);
    if (qmp_fd >= 0 && self->spec->autoattach_serial_console)
        console_fd = listen_unix(self->console_path, &error);
    if (error == NULL && app_guest)
        app_listen_fd = pod_apps_listen(self, listen_unix, &error);
    if (error == NULL && guest_agent)
        agent_listen_fd = pod_agent_listen(self, listen_unix, &error);
    if (error != NULL) {
        spawn_abandon(self, task, g_steal_pointer(&error),
                      (int[]){ netns_fd, qmp_fd, console_fd, kernel_fd, initrd_fd, console_log_fd,
                               app_listen_fd },
                      7);
        return;
    }
    /* Disks podvmd opened go to QEMU in fd sets 1, 2, ... (spec order). */
    for (guint i = 0; self->prepared != NULL && i < self->prepared->len; i++) {
        PodvmPreparedVolume *prepared = g_ptr_array_index(self->prepared, i);

        if (prepared->fd < 0)
            continue;
        prepared->qemu_fd = next_fd++;
        prepared->fdset = next_fdset++;
        prepared->in_fdset = TRUE;
        if (prepared->backing_fd >= 0) {
            prepared->backing_qemu_fd = next_fd++;
            prepared->backing_fdset = next_fdset++;
            prepared->backing_in_fdset = TRUE;
        }
    }
    /* Each tap's fds, numbered after the disks' (the argv names them). */
    for (guint i = 0; self->start_nics != NULL && i < self->start_nics->len; i++) {
        PodNetNic *nic = g_ptr_array_index(self->start_nics, i);
        g_autoptr(GStrvBuilder) names = g_strv_builder_new();

        for (guint q = 0; q < nic->fds->len; q++) {
            g_autofree char *name = g_strdup_printf("%d", next_fd++);

            g_strv_builder_add(names, name);
        }
        g_strfreev(nic->nic->fds);
        nic->nic->fds = nic->fds->len > 0 ? g_strv_builder_end(names) : NULL;
        g_ptr_array_add(nics, nic->nic);
    }
    /* The app guest: its channel's socket, then each app's root filesystem. */
    if (app_guest) {
        app_ctx.channel_socket = pod_apps_socket_path(self);
        app_ctx.channel_listen_fd = next_fd++;
        app_ctx.n_disks = app_disk_fds != NULL ? app_disk_fds->len : 0;
        app_disk_child_fds = g_new0(int, app_ctx.n_disks + 1);
        for (guint i = 0; i < app_ctx.n_disks; i++)
            app_disk_child_fds[i] = next_fd++;
        app_ctx.disk_fds = app_disk_child_fds;
        ctx.app_guest = &app_ctx;
    }
    /* The guest agent's channel. */
    if (guest_agent) {
        ctx.guest_agent_socket = pod_agent_socket_path(self);
        ctx.guest_agent_listen_fd = next_fd++;
    }
    /* The console log: QEMU appends to what podvmd opened. */
    if (self->spec->autoattach_serial_console) {
        console_log_fd =
            open(self->console_log,
                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (console_log_fd < 0)
            pod_log(self, G_LOG_LEVEL_MESSAGE, "cannot open the console log '%s': %s",
                    self->console_log, g_strerror(errno));
    }

    ctx.qemu_binary = self->config->qemu_binary;
    ctx.accel = self->config->accel;
    ctx.uid = self->spec->uid;
    ctx.qmp_socket = self->qmp_path;
    ctx.console_socket = self->console_path;
    ctx.console_log = self->console_log;
    ctx.qmp_listen_fd = QMP_CHILD_FD;
    ctx.console_listen_fd = console_fd >= 0 ? CONSOLE_CHILD_FD : -1;
    ctx.host_cpus = self->config->host_cpus;
    ctx.debug = op->options.debug;
    ctx.prepared_volumes = self->prepared;
    ctx.spare_root_ports = self->config->spare_root_ports;
    ctx.kernel_fd = kernel_fd >= 0 ? KERNEL_CHILD_FD : 0;
    ctx.initrd_fd = initrd_fd >= 0 ? INITRD_CHILD_FD : 0;
    ctx.console_log_fd = console_log_fd >= 0 ? next_fd : 0;
    ctx.nics = nics;
    ctx.incoming_defer = self->incoming != NULL;
    argv = podvm_qemu_argv_build(self->spec, &ctx, &error);
    if (argv == NULL) {
        spawn_abandon(self, task, g_steal_pointer(&error),
                      (int[]){ netns_fd, qmp_fd, console_fd, kernel_fd, initrd_fd, console_log_fd,
                               app_listen_fd, agent_listen_fd },
                      8);
        return;
    }

    /* QEMU's stdout and stderr, appended, with a banner per start. */
    log_fd = open(self->qemu_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (log_fd >= 0) {
        banner = g_strdup_printf("=== podvmd: starting QEMU at %s ===\n", now_text);
        if (write(log_fd, banner, strlen(banner)) < 0)
            pod_log(self, G_LOG_LEVEL_DEBUG, "cannot write the QEMU log banner");
    }

    credentials = g_new0(ChildCredentials, 1);
    credentials->drop = self->config->qemu_drop_privileges;
    credentials->uid = (uid_t)self->config->qemu_uid;
    credentials->gid = (gid_t)self->config->qemu_gid;
    credentials->netns_fd = netns_fd;
    credentials->memlock = qemu_memlock(self, FALSE);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
    g_subprocess_launcher_set_environ(launcher, (char **)env);
    g_subprocess_launcher_set_child_setup(launcher, child_setup, credentials, g_free);
    if (log_fd >= 0) {
        g_subprocess_launcher_take_stdout_fd(launcher, dup(log_fd));
        g_subprocess_launcher_take_stderr_fd(launcher, log_fd);
    }
    g_subprocess_launcher_take_fd(launcher, qmp_fd, QMP_CHILD_FD);
    if (console_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, console_fd, CONSOLE_CHILD_FD);
    if (kernel_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, kernel_fd, KERNEL_CHILD_FD);
    if (initrd_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, initrd_fd, INITRD_CHILD_FD);
    for (guint i = 0; self->prepared != NULL && i < self->prepared->len; i++) {
        PodvmPreparedVolume *prepared = g_ptr_array_index(self->prepared, i);

        if (prepared->in_fdset) {
            g_subprocess_launcher_take_fd(launcher, prepared->fd, prepared->qemu_fd);
            prepared->fd = -1;
        }
        if (prepared->backing_in_fdset) {
            g_subprocess_launcher_take_fd(launcher, prepared->backing_fd,
                                          prepared->backing_qemu_fd);
            prepared->backing_fd = -1;
        }
    }
    if (console_log_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, console_log_fd, ctx.console_log_fd);
    if (app_listen_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, app_listen_fd, app_ctx.channel_listen_fd);
    if (agent_listen_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, agent_listen_fd, ctx.guest_agent_listen_fd);
    for (guint i = 0; app_disk_fds != NULL && i < app_disk_fds->len; i++) {
        g_subprocess_launcher_take_fd(launcher, g_array_index(app_disk_fds, int, i),
                                      app_disk_child_fds[i]);
        g_array_index(app_disk_fds, int, i) = -1;
    }
    for (guint i = 0; self->start_nics != NULL && i < self->start_nics->len; i++) {
        PodNetNic *nic = g_ptr_array_index(self->start_nics, i);

        for (guint q = 0; q < nic->fds->len; q++) {
            int fd = g_array_index(nic->fds, int, q);

            g_subprocess_launcher_take_fd(launcher, fd, atoi(nic->nic->fds[q]));
            g_array_index(nic->fds, int, q) = -1;
        }
    }
    /* The child joins the namespace through its inherited copy (closed on exec). */
    if (netns_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, netns_fd, NETNS_CHILD_FD);
    credentials->netns_fd = netns_fd >= 0 ? NETNS_CHILD_FD : -1;
    /* The argv holds what they were prepared into; release() needs only the spec. */
    g_clear_pointer(&self->prepared, g_ptr_array_unref);
    g_ptr_array_set_size(nics, 0);
    g_clear_pointer(&self->start_nics, g_ptr_array_unref);

    /* The intent first: a restart that finds it looks for a QEMU with the pod's uid. */
    if (!start_record_intent(self, task))
        return;
    self->subprocess = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, &error);
    if (self->subprocess == NULL) {
        g_prefix_error(&error, _("cannot run QEMU '%s': "), self->config->qemu_binary);
        pod_start_fail(self, task, g_steal_pointer(&error));
        return;
    }
    self->qemu_pid = atoi(g_subprocess_get_identifier(self->subprocess));
    podvm_hotplug_place_boot_devices(self->hotplug, self->spec);
    self->qemu_start_ticks = podvm_host_process_start_ticks(self->qemu_pid);
    /* Its own cgroup: the guest's memory and 256 MiB for QEMU; its vCPUs and one more. */
    podvm_cgroup_place(
        self->spec->name, self->qemu_pid,
        podvm_spec_resolve_memory(self->spec) + QEMU_MEMORY_OVERHEAD,
        ((guint64)podvm_spec_resolve_vcpus(self->spec, self->config->host_cpus) + 1) * 1000);
    /* A machine of systemd-machined (machinectl list), on the system bus. */
    if (!self->config->session_bus)
        podvm_machined_register_pod(self->spec->name, self->spec->uid, self->qemu_pid);
    pod_watch_subprocess(self);
    /* If QEMU dies before it is running, pod_qemu_exited() reports to this task. */
    self->exit_task = task;
    self->exit_continuation = start_failed_after_exit;
    podvm_fault_crash_point("start:after-spawn");
    if (!start_record_pid(self, task))
        return;
    pod_step(self, "QEMU started (pid %d, accelerator %s)", self->qemu_pid,
             podvm_accel_to_string(self->config->accel));
    pod_connect_qmp(self, start_qmp_cb, g_object_ref(task));
}
