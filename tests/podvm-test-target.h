/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A migration's source played by the test, for the target's tests
 * (test-migration-target*.c): a pod running on a podvmd of its own, which
 * then stops so that the test drives its QEMU by raw QMP; raw HTTP on the
 * target's unix socket (offers, stream upgrades, the event stream).
 */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "podvm-test-daemon.h"

G_BEGIN_DECLS

#define BOOT_TIMEOUT_MS 120000
/* The copied emptyDisk of the disk test. */
#define DISK_SIZE (64 * 1024 * 1024)

typedef struct {
    PodvmTestDaemon *daemon;
    char *socket_path;
} Fixture;

typedef struct {
    guint status;
    char *head; /* the status line and headers */
    char *body;
} Answer;
void answer_free(Answer *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Answer, answer_free)

typedef struct {
    PodvmTestDaemon *daemon; /* the source's podvmd, stopped once the pod runs */
    char *pod_json;          /* the pod as the source's GET gave it (with secrets) */
    char *uid;
    int qmp_fd;      /* the source QEMU's monitor */
    guint heartbeat; /* the last heartbeat the source showed */
    char *dev;       /* the guest's name of the disk written to, or NULL */
    gint64 qemu_pid; /* the source QEMU */
} Source;
void source_free(Source *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Source, source_free)

void fixture_setup(Fixture *f, gconstpointer data);
void fixture_teardown(Fixture *f, gconstpointer data);
/* Reads one answer's head (to the blank line) from @fd: its bytes, without the blank line. */
char *read_head(int fd);
guint head_status(const char *head);
/* One request on a fresh connection ("Connection: close"); the whole answer. */
Answer *http_at(const char *socket_path, const char *method, const char *path,
                const char *extra_headers, const char *body);
Answer *http(Fixture *f, const char *method, const char *path, const char *extra_headers,
             const char *body);
/* The error reason of an error document, or "". */
char *answer_reason(Answer *a);
/* GET /v1/events?pod=@pod, kept open once subscribed (its head read): its socket. */
int events_open(Fixture *f, const char *pod);
/* Reads @fd into @seen until it holds @needle or @timeout_ms passed. */
gboolean events_wait_for(int fd, GString *seen, const char *needle, guint timeout_ms);
/* An offer of the test guest named @name with @uid (NULL: a new one). */
char *make_offer(const char *name, const char *uid, const char *extra_args);
/* A pod named @name, created over REST; its uid. */
char *create_pod(Fixture *f, const char *name);
/* A connected unix socket without timeouts (it becomes QEMU's migration channel). */
int connect_plain(const char *path);
/* One line from @fd (without the newline), or NULL at the end. */
char *read_line(int fd);
/* Sends @command (JSON text), with @pass_fd as SCM_RIGHTS when >= 0; its "return" (asserted). */
JsonNode *qmp(int fd, const char *command, int pass_fd);
int qmp_open(const char *path);
/* The "status" of query-migrate. */
char *migrate_status(int qmp_fd);
/* The largest n of "PODVM-HEARTBEAT n" in @path, 0 when none. */
guint last_heartbeat(const char *path);
char *phase_of(const char *socket_path, const char *name);
/*
 * A pod @name of the test guest running on a podvmd of its own, then left
 * to raw QMP: the test guest's spec with @extra_args (source_new), or
 * @spec; when @write_word is given, the guest writes it at the start of
 * its disk of DISK_SIZE bytes first; @conf: that podvmd's podvmd.conf
 * (with it, the guest's network is up first).
 */
Source *source_new(const char *name, const char *extra_args);
Source *source_new_with(const char *name, const char *spec, const char *write_word);
Source *source_new_full(const char *name, const char *spec, const char *write_word,
                        const char *conf);
/* An offer of the source's pod, copying @disks (a JSON array text). */
char *source_offer(Source *src, const char *disks);
void answer_id_secret(Answer *a, char **out_id, char **out_secret);
/* The upgraded stream of @channel, or -1 with the answer's status in @out_status. */
int open_stream(Fixture *f, const char *id, const char *secret, const char *channel,
                guint *out_status);
/* GET /v1/migrations/ID's state, or "HTTP STATUS". */
char *migration_state(Fixture *f, const char *id);
/* Whether the pod's directories and the pod are gone from the target ("mig" for no_trace_cb). */
gboolean target_has_no_trace(Fixture *f, const char *name);
gboolean no_trace_cb(gpointer user_data);
/* Waits until the block job @job is ready (@job NULL: until no job is left). */
void wait_block_job(int qmp_fd, const char *job);
void wait_migrate_status(int qmp_fd, const char *wanted);
/* Whether @pid runs (a zombie no longer does: its parent may be gone). */
gboolean process_alive(gint64 pid);
/* The pod's status.qemuPid on the target. */
gint64 qemu_pid_of(Fixture *f, const char *name);
/* Offers the source's pod (no disks); its id and secret. */
void offer_source(Fixture *f, Source *src, char **out_id, char **out_secret);

G_END_DECLS
