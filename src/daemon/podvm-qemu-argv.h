/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "podvm-host.h"
#include "podvm-qemu-devices.h"
#include "podvm-qemu-nics.h"
#include "podvm-spec.h"
#include "podvm-storage.h"

G_BEGIN_DECLS

/* The fd set of the console log (disks take 1, 2, ... in spec order). */
#define PODVM_QEMU_CONSOLE_LOG_FDSET 1000

/* The fd sets of the app guest's disks: PODVM_QEMU_APP_DISK_FDSET + index. */
#define PODVM_QEMU_APP_DISK_FDSET 2000

/*
 * App pods (podvm_spec_uses_app_guest()): podvm's app guest boots from the
 * context's kernel_fd/initrd_fd (both required) with "console=ttyS0
 * podvm.app=1" (and "loglevel=0" unless debug); each app's root
 * filesystem is a read-only virtio disk with serial "appN", from the fd
 * podvmd opened (fd set PODVM_QEMU_APP_DISK_FDSET + N); the channel is the
 * virtio-serial port "io.podvm.app.0" on a socket podvmd bound.
 */
typedef struct {
    const char *channel_socket; /* run_dir/pods/NAME/app.sock */
    int channel_listen_fd;      /* > 2: its listening fd in QEMU; else QEMU binds the path */
    const int *disk_fds;        /* fd numbers in QEMU, one per app, spec order */
    guint n_disks;
} PodvmQemuAppGuest;

/* Everything the argv depends on besides the spec: paths and host facts. */
typedef struct {
    const char *qemu_binary;    /* "qemu-system-x86_64" or a path */
    PodvmAccel accel;           /* KVM or TCG, never AUTO here */
    const char *uid;            /* the pod's uid: -uuid (query-uuid answers it) */
    const char *qmp_socket;     /* run_dir/pods/NAME/qmp.sock */
    const char *console_socket; /* run_dir/pods/NAME/console.sock */
    const char *console_log;    /* run_dir/pods/NAME/console.log (QEMU's chardev logfile) */
    const char *pidfile;        /* run_dir/pods/NAME/qemu.pid, or NULL */
    /*
     * When > 0: the fd number (in QEMU) of a listening unix socket that
     * podvmd bound to qmp_socket / console_socket before the spawn; the
     * chardev then uses fd=N instead of path= (libvirt does the same: the
     * daemon can connect at once, without polling for the socket to appear).
     * 0 or -1: QEMU binds the path itself. The path fields are still required (the
     * console logfile, and for the record).
     */
    int qmp_listen_fd;
    int console_listen_fd;
    /*
     * When > 2: the fd number (in QEMU) of the kernel / initrd podvmd
     * opened; QEMU gets "/proc/self/fd/N" (its -kernel and -initrd use a
     * plain open(), so /dev/fdset does not work there). 0: the spec's path.
     * Disks passed as fds say so in their PodvmPreparedVolume (fdset,
     * qemu_fd): each gets "-add-fd fd=N,set=S,opaque=podvm:DISK" and the
     * blockdev filename "/dev/fdset/S".
     */
    int kernel_fd;
    int initrd_fd;
    /*
     * When > 2: the fd number (in QEMU) of console_log, opened by podvmd
     * O_WRONLY|O_APPEND; it goes into fd set PODVM_QEMU_CONSOLE_LOG_FDSET
     * and the chardev's logfile is /dev/fdset/N. 0: QEMU opens console_log.
     */
    int console_log_fd;
    guint host_cpus; /* for the apps rule */
    /*
     * What each of spec->volumes was prepared into (PodvmPreparedVolume*,
     * matched by volume_name); every volume a disk names must be there.
     * NULL when the spec has no disks.
     */
    const GPtrArray *prepared_volumes;
    /* Spare pcie-root-ports for hotplug on q35 (podvm-rp0..N-1); see below. 0 = none. */
    guint spare_root_ports;
    gboolean debug; /* FALSE adds "quiet" to the kernel command line */
    /* The NICs (PodvmQemuNic*) the pod's network prepared, in spec order; NULL: none. */
    const GPtrArray *nics;
    /* The target of a live migration: "-incoming defer" (migrate-incoming says where). */
    gboolean incoming_defer;
    /*
     * The guest agent's socket (run_dir/pods/NAME/qga.sock), required when
     * podvm_spec_has_guest_agent(); > 0: the fd number (in QEMU) of the
     * listening socket podvmd bound there, else QEMU binds the path.
     */
    const char *guest_agent_socket;
    int guest_agent_listen_fd;
    /* App pods: podvm's app guest (above); NULL for every other pod. */
    const PodvmQemuAppGuest *app_guest;
} PodvmQemuArgvContext;

/*
 * A pure function: the same spec and context give the same argv, byte for
 * byte (golden-file tested). QEMU starts paused (-S), with -nodefaults,
 * -no-user-config, -nographic-free display (-display none), QMP on a
 * unix socket server, the serial console on a unix socket server with a
 * logfile, -sandbox on with everything denied, and values from the spec
 * going through QEMU's JSON syntax (-object/-device/-blockdev) or escaped
 * (commas doubled) where only key=value is accepted, so a path or name can
 * never add an option.
 * Disks come in spec order (see below). Without kernelBoot the firmware
 * boots the disks by bootindex (bootOrder; when no disk gives one, the
 * first disk gets bootindex 1).
 * Returns a NULL-terminated array, or NULL with PODVM_ERROR_INVALID_SPEC
 * when the spec cannot be turned into a VM (for instance no kernelBoot and
 * no disk to boot from, more sata disks than the machine has ports), or
 * PODVM_ERROR_INVALID_ARGUMENT when the context is wrong (a disk's volume
 * not in prepared_volumes, more than PODVM_QEMU_MAX_SPARE_ROOT_PORTS).
 */
GStrv podvm_qemu_argv_build(const PodvmSpec *spec, const PodvmQemuArgvContext *ctx, GError **error);

/* Appends ",," escaping of every comma in @value to @out. */
void podvm_qemu_escape_value(GString *out, const char *value);

G_END_DECLS
