/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The host's end of the app guest's channel (virtio-serial port
 * "io.podvm.app.0"; protocol: the line protocol of guest/podvm-channel-codec.h).
 * On the guest's hello it sends the configuration it was given; then it
 * reports the apps' lives and runs exec sessions.
 *
 * Signals:
 *   "app-started" (const char *app, gint pid)
 *   "app-exited"  (const char *app, gint exit_code, gint signal)  signal 0: exited;
 *                 killed by a signal: exit_code is 128 + signal
 *   (the protocol and the init: docs/app-guest.md)
 *   "app-failed"  (const char *app, const char *message)  could not start
 *   "halted" ()    every app ended; the guest powers off next
 *   "closed" (const GError *error or NULL)
 *   "log" (const char *message)  the init's own problems (a bad app line, a
 *                                 NIC it could not set up): for podvmd's log
 *
 * The channel says hello first (an empty line, then `hello version=1`);
 * the guest answers with its own hello, also when it has been running for
 * a while (podvmd restarted and connected again): then its apps' states
 * follow ("app-started", "app-exited", "app-failed", "halted" again: the
 * handlers must take a repeated state). The configuration is sent once,
 * on the guest's first hello; a guest whose apps already run ignores it.
 * Lines before the guest's hello (what an earlier connection left in the
 * guest's queue) are ignored, malformed ones included.
 */
#define PODVM_TYPE_APP_CHANNEL (podvm_app_channel_get_type())
G_DECLARE_FINAL_TYPE(PodvmAppChannel, podvm_app_channel, PODVM, APP_CHANNEL, GObject)

typedef struct {
    char *name;
    char *disk_serial; /* the virtio-blk serial of its rootfs: "app0" */
    GStrv argv;        /* resolved: spec command/args over the image's Entrypoint/Cmd */
    GStrv env;         /* "K=V": the image's, then the spec's */
    char *working_dir; /* NULL: "/" */
    char *user;        /* NULL: root; "uid[:gid]" or names from the app's /etc/passwd */
} PodvmAppGuestApp;

typedef struct {
    char *ifname; /* "eth0" */
    char *mac;
    char *address; /* "10.0.2.2/24" */
    char *gateway; /* NULL: none */
    GStrv dns;
    GStrv search;
} PodvmAppGuestNic;

typedef struct {
    char *hostname;
    gboolean debug;
    GPtrArray *apps; /* PodvmAppGuestApp * */
    GPtrArray *nics; /* PodvmAppGuestNic * */
} PodvmAppGuestConfig;

PodvmAppGuestConfig *podvm_app_guest_config_new(void);
void podvm_app_guest_config_free(PodvmAppGuestConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmAppGuestConfig, podvm_app_guest_config_free)
void podvm_app_guest_app_free(PodvmAppGuestApp *app);
void podvm_app_guest_nic_free(PodvmAppGuestNic *nic);

/* Takes a reference on @stream and starts reading at once. @config is copied. */
PodvmAppChannel *podvm_app_channel_new(GIOStream *stream, const PodvmAppGuestConfig *config);
/* Asks the guest to stop its apps (SIGTERM, SIGKILL after @grace_seconds) and power off. */
void podvm_app_channel_shutdown(PodvmAppChannel *self, guint grace_seconds);
void podvm_app_channel_close(PodvmAppChannel *self);

/*
 * Runs @argv in @app's root (NULL: the first app). @stdin_stream may be
 * NULL (the command sees end-of-file); @stdout_stream/@stderr_stream may
 * be NULL (output dropped). Finishes with the command's exit code, or
 * 128 + signal when a signal ended it. Cancelling kills the command.
 */
void podvm_app_channel_exec_async(PodvmAppChannel *self, const char *app, const char *const *argv,
                                  GInputStream *stdin_stream, GOutputStream *stdout_stream,
                                  GOutputStream *stderr_stream, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_app_channel_exec_finish(PodvmAppChannel *self, GAsyncResult *result, int *exit_code,
                                       GError **error);

/*
 * Sends `ping` and finishes on the guest's `pong` (TRUE), or with an error
 * when the channel closes first. No timeout of its own: use @cancellable.
 */
void podvm_app_channel_ping_async(PodvmAppChannel *self, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_app_channel_ping_finish(PodvmAppChannel *self, GAsyncResult *result, GError **error);

/* Whether the guest said hello (and was sent the configuration). */
gboolean podvm_app_channel_get_connected(PodvmAppChannel *self);
/* Whether the channel is closed (by either side, or by an error). */
gboolean podvm_app_channel_get_closed(PodvmAppChannel *self);

G_END_DECLS
