/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-dbus-generated.h"

G_BEGIN_DECLS

#define PODVMCTL_BUS_NAME "io.podvm.PodVM1"
#define PODVMCTL_MANAGER_PATH "/io/podvm/PodVM1"

/* Exit statuses of podvmctl. */
enum {
    PODVMCTL_EXIT_OK = 0,
    PODVMCTL_EXIT_FAILURE = 1,     /* the operation failed */
    PODVMCTL_EXIT_USAGE = 2,       /* unknown command or option, missing argument */
    PODVMCTL_EXIT_UNREACHABLE = 3, /* no bus, or podvmd is not on it */
};

/* D-Bus timeouts (ms) for ordinary calls and for ones that may wait a grace period. */
#define PODVMCTL_TIMEOUT_DEFAULT (60 * 1000)
#define PODVMCTL_TIMEOUT_LONG G_MAXINT

/* State shared by every subcommand; the connection is made on first use. */
typedef struct {
    GBusType bus_type;           /* G_BUS_TYPE_SYSTEM or G_BUS_TYPE_SESSION */
    GDBusConnection *connection; /* owned; NULL until podvmctl_get_manager() */
    PodvmDBusManager *manager;   /* owned; NULL until podvmctl_get_manager() */
    gboolean unreachable;        /* the last failure was about reaching podvmd */
} PodvmCtl;

/* A subcommand: argv[0] is the command name; returns the exit status. */
typedef int (*PodvmCtlCommandFunc)(PodvmCtl *ctl, int argc, char **argv);

int podvmctl_cmd_create(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_run(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_list(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_show(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_start(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_stop(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_kill(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_pause(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_resume(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_restart(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_delete(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_console(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_logs(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_events(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_qmp(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_guestosinfo(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_freeze(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_unfreeze(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_attach_disk(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_detach_disk(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_attach_nic(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_detach_nic(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_volume(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_migrate(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_drain(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_image(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_exec(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_status(PodvmCtl *ctl, int argc, char **argv);
int podvmctl_cmd_version(PodvmCtl *ctl, int argc, char **argv);

/*
 * Creates a pod from the JSON text @spec (CreatePod); *@out_name is the
 * created pod's name (@fallback_name when podvmd does not say). Returns the
 * exit status (errors printed).
 */
int podvmctl_create_pod(PodvmCtl *ctl, const char *spec, const char *fallback_name,
                        PodvmDBusPod **out_pod, char **out_name);
/* Creates the pod described in the file @path (JSON or YAML), as podvmctl_create_pod(). */
int podvmctl_create_pod_from_file(PodvmCtl *ctl, const char *path, PodvmDBusPod **out_pod,
                                  char **out_name);

/*
 * Image pull progress from the manager's "image-pull" events (the
 * manager's own, and those of pod @pod when not NULL), shown on stderr: a
 * bar redrawn in place on a terminal, else a line per phase. With
 * @only_tty and stderr not a terminal: nothing (NULL). Free it before
 * printing anything else.
 */
typedef struct _PodvmCtlPullProgress PodvmCtlPullProgress;
PodvmCtlPullProgress *podvmctl_pull_progress_new(PodvmDBusManager *manager, const char *pod,
                                                 gboolean only_tty);
void podvmctl_pull_progress_free(PodvmCtlPullProgress *progress);

/* An app's exit in status.apps[] for people: "0", "signal 9", "-". */
char *podvmctl_app_exit_text(JsonObject *app);
/* The lines of `podvmctl status` for @status (may be NULL). */
void podvmctl_print_status(const char *name, JsonObject *status);

/*
 * Reads the document in @path ('-': stdin), JSON or YAML as its content
 * says (podvm_document_is_yaml()), which must be an object. Returns the
 * tree and, when @out_json is not NULL, the JSON text to send to podvmd:
 * the file as written when it is JSON (so the daemon's strict parser sees
 * duplicate keys), the converted tree when it is YAML. Errors name the
 * file ("'pod.yaml' is not valid YAML: line 3, column 7: ...").
 */
JsonNode *podvmctl_read_document(const char *path, char **out_json, GError **error);

/*
 * Attaches the terminal to the pod's serial console until the user leaves
 * (Ctrl-a x, Ctrl-]), stdin ends or the console closes; @replay first
 * prints the console's recent output. Used by `console` and `run`.
 * Returns the exit status.
 */
int podvmctl_console_attach(PodvmCtl *ctl, PodvmDBusPod *pod, const char *name, gboolean replay);
/*
 * The same; when @out_closed is not NULL, the end of stdin does not end
 * the console (only leaving, a signal or the console closing do), and
 * when the console closed (the pod's QEMU ended) *@out_closed is set to
 * TRUE instead of printing the pod's phase.
 */
int podvmctl_console_attach_full(PodvmCtl *ctl, PodvmDBusPod *pod, const char *name,
                                 gboolean replay, gboolean *out_closed);

/*
 * The request options of `migrate` and `drain` (podvmctl-migrate.c), as
 * given on the command line.
 */
typedef struct {
    char *to;
    char *token_file;
    char *cacert;
    gboolean plaintext;
    gboolean postcopy;
    char *bandwidth;
    char *max_downtime;
    char *no_progress_timeout;
} PodvmCtlMigrateRequest;

void podvmctl_migrate_request_clear(PodvmCtlMigrateRequest *request);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PodvmCtlMigrateRequest, podvmctl_migrate_request_clear)

/* The request's options followed by @extra (may be NULL), for podvmctl_parse_options(). */
GOptionEntry *podvmctl_migrate_option_entries(PodvmCtlMigrateRequest *request,
                                              const GOptionEntry *extra);
/*
 * The request JSON of Pod.Migrate; checks what the client can (--to given,
 * the quantity and the milliseconds) as usage errors of @command; the
 * files become absolute paths, as podvmd reads them.
 */
char *podvmctl_migrate_request_build(const char *command, const PodvmCtlMigrateRequest *request,
                                     int *out_status);
/*
 * Calls Pod.Migrate on @name with @request and shows the progress until it
 * answers (a line redrawn on a terminal, else one line per event). Ctrl-C
 * cancels the migration and sets *@interrupted; a second one stops waiting
 * (an error). *@out_result is Migrate's answer.
 */
gboolean podvmctl_migrate_follow(PodvmCtl *ctl, const char *name, const char *request,
                                 gboolean *interrupted, JsonNode **out_result, GError **error);
/* "migrated POD to TARGET in T ms (downtime D ms)" from Migrate's answer. */
/* Bytes for people ("976Mi", "1.5Gi"): podvm_quantity_format_bytes_human(); negative is 0. */
char *podvmctl_format_bytes(gint64 bytes);
void podvmctl_migrate_print_done(const char *name, const char *target, JsonNode *result);

G_END_DECLS
