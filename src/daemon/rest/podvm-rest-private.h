/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the files of the REST front share: the front's fields, one
 * request, the answers and request helpers (podvm-rest-request.c), and
 * each route file's handlers for the route table (podvm-rest-front.c).
 * Every handler decodes the request, makes one manager or pod call and
 * encodes its answer (README, "What a front may do").
 */
#include <glib/gi18n-lib.h>
#include <libsoup/soup.h>

#include "podvm-error.h"
#include "podvm-rest-conn.h"
#include "podvm-rest-front.h"

G_BEGIN_DECLS

typedef struct _PodvmRestTickets PodvmRestTickets;

struct _PodvmRestFront {
    GObject parent_instance;

    PodvmManager *manager;
    SoupServer *server;
    char *socket_path;                /* to unlink at the end */
    GHashTable *status_counts;        /* GUINT_TO_POINTER(status) -> GUINT_TO_POINTER(count) */
    GPtrArray *streams;               /* PodvmRestStream*: open log and event streams */
    GBytes *token_digest;             /* SHA-256 of the TCP listener's bearer token, or NULL */
    GBytes *reader_token_digest;      /* SHA-256 of its read-only token, or NULL */
    GSocket *tcp_socket;              /* the TCP listener ([rest] listen), or NULL */
    char *tcp_address;                /* its ADDR:PORT */
    GTlsCertificate *tcp_certificate; /* its certificate, or NULL: plain HTTP */
    char *ro_socket_path;             /* the readers' unix socket (api-ro.sock), or NULL */
    PodvmRestTickets *tickets;        /* console tickets (podvm-rest-tickets.c) */
    GPtrArray *consoles;              /* PodvmRestConsole*: open console WebSockets */
    GPtrArray *refusals;              /* Refusal*: 413 answers still draining (unowned) */
    guint request_timeout_ms;         /* 0: none */
    gsize max_client_queue;           /* bytes queued for one streaming client, at most */
    GPtrArray *scrapes;               /* Scrape*: /metrics answers waiting for the core (unowned) */
    PodvmRestConns *conns;            /* releases kept-alive connections their client closed */
};

/* One request, shared with the asynchronous work that answers it. */
struct _PodvmRestRequest {
    gatomicrefcount ref_count;
    PodvmRestFront *front;       /* unowned: the front ends every request it holds */
    SoupServerMessage *msg;      /* owned */
    GHashTable *query;           /* owned; may be NULL */
    const PodvmRestRoute *route; /* the route that answers it, or NULL */
    char *name;                  /* the {name} of the route, or NULL */
    char *item;                  /* the {disk} of the route, or NULL */
    PodvmRestRole role;          /* the caller's (README "Access") */
    PodvmPod *pod;               /* owned; set by podvm_rest_lookup_pod() */
    gulong finished_id;
    gboolean finished; /* libsoup is done with the message */
};

typedef PodvmRestRequest Request;
typedef struct _PodvmRestStream PodvmRestStream;
typedef struct _PodvmRestConsole PodvmRestConsole;

/* ---- podvm-rest-request.c ---- */
Request *podvm_rest_request_new(PodvmRestFront *front, SoupServerMessage *msg, GHashTable *query);
Request *podvm_rest_request_ref(Request *req);
void podvm_rest_request_unref(Request *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRestRequest, podvm_rest_request_unref)

void podvm_rest_respond_text(Request *req, guint status, const char *content_type, char *text);
/* An answer shared with a cache: libsoup sends it without a copy. */
void podvm_rest_respond_bytes(Request *req, guint status, const char *content_type, GBytes *bytes);
void podvm_rest_respond_json(Request *req, guint status, JsonNode *node);
/* {"error": {"code", "reason", "message", "details"}} */
JsonNode *podvm_rest_error_document(guint status, const char *reason, const char *message,
                                    GPtrArray *problems);
/* An HTTP-level error that is not an API error code (405, 413, ...). */
void podvm_rest_respond_http_error(Request *req, guint status, const char *reason,
                                   const char *message);
/* @error (any domain) with the status of the one error table, and the spec's problems. */
void podvm_rest_respond_error_with_problems(Request *req, const GError *error, GPtrArray *problems);
void podvm_rest_respond_error(Request *req, const GError *error);
void podvm_rest_respond_new_error(Request *req, PodvmErrorCode code, const char *format, ...)
    G_GNUC_PRINTF(3, 4);
/* The answer of a paused request is ready: let libsoup send it. */
void podvm_rest_resume(Request *req);

const char *podvm_rest_query_get(Request *req, const char *key);
/* A boolean query parameter; FALSE after answering 400. */
gboolean podvm_rest_query_boolean(Request *req, const char *key, gboolean fallback,
                                  gboolean *out_value);
/*
 * TRUE for an admin; otherwise answers 403 Forbidden ("@what needs the
 * admin role") and FALSE. For what a reader's route does only for admins.
 */
gboolean podvm_rest_require_admin(Request *req, const char *what);
/* The pod of the route's {name} into req->pod; FALSE after answering 404. */
gboolean podvm_rest_lookup_pod(Request *req);
/* The request body as bytes (libsoup gathered it, within PODVM_REST_MAX_BODY). */
GBytes *podvm_rest_request_body(Request *req);
/*
 * An optional JSON object body: NULL with *out_ok TRUE when there is none;
 * NULL with *out_ok FALSE after answering 400.
 */
JsonObject *podvm_rest_optional_object_body(Request *req, gboolean *out_ok);

/* ---- podvm-rest-front.c ---- */
/* The request is read (or the connection is ours now): no deadline. */
void podvm_rest_deadline_disarm(SoupServerMessage *msg);

/* ---- podvm-rest-web.c ---- */
/*
 * GET /ui and /ui/...: the web console page's files when [web] enabled, on
 * every listener without a token. FALSE when @path is not the page's (or
 * the page is off): the request goes on to the API's routes.
 */
gboolean podvm_rest_web_handle(Request *req, const char *path);

/* ---- the routes ---- */
/* podvm-rest-pods.c */
void podvm_rest_handle_list_pods(Request *req);
void podvm_rest_handle_create_pod(Request *req);
void podvm_rest_handle_get_pod(Request *req);
void podvm_rest_handle_replace_pod(Request *req);
void podvm_rest_handle_delete(Request *req);
void podvm_rest_handle_start(Request *req);
void podvm_rest_handle_stop(Request *req);
void podvm_rest_handle_kill(Request *req);
void podvm_rest_handle_pause(Request *req);
void podvm_rest_handle_resume(Request *req);
void podvm_rest_handle_restart(Request *req);
void podvm_rest_handle_qmp(Request *req);
void podvm_rest_handle_attach_disk(Request *req);
void podvm_rest_handle_detach_disk(Request *req);
void podvm_rest_handle_attach_interface(Request *req);
void podvm_rest_handle_detach_interface(Request *req);

/* podvm-rest-agent.c: a pod's guest agent */
void podvm_rest_handle_guest_os_info(Request *req);
void podvm_rest_handle_freeze(Request *req);
void podvm_rest_handle_unfreeze(Request *req);

/* podvm-rest-migrate.c: a pod's outgoing migration */
void podvm_rest_handle_migrate(Request *req);
void podvm_rest_handle_cancel_migration(Request *req);

/* podvm-rest-volumes.c */
void podvm_rest_handle_list_volumes(Request *req);
void podvm_rest_handle_create_volume(Request *req);
void podvm_rest_handle_get_volume(Request *req);
void podvm_rest_handle_delete_volume(Request *req);

/* podvm-rest-images.c */
void podvm_rest_handle_list_images(Request *req);
void podvm_rest_handle_pull_image(Request *req);
void podvm_rest_handle_remove_image(Request *req);
void podvm_rest_handle_prune_images(Request *req);

/* podvm-rest-exec.c: a command in an app of an app pod */
void podvm_rest_handle_exec(Request *req);

/* podvm-rest-migrations.c: the peer API of live migration (the target's side). */
void podvm_rest_handle_create_migration(Request *req);
void podvm_rest_handle_get_migration(Request *req);
void podvm_rest_handle_delete_migration(Request *req);
void podvm_rest_handle_finish_migration(Request *req);
void podvm_rest_handle_migration_stream(Request *req);

/* podvm-rest-streams.c: the log and the event stream (self->streams). */
void podvm_rest_handle_log(Request *req);
void podvm_rest_handle_events(Request *req);
void podvm_rest_stream_free(PodvmRestStream *stream);
/* The manager's "event" signal: out to every event stream that wants it. */
void podvm_rest_manager_event_cb(PodvmManager *manager, const char *pod, const char *type,
                                 JsonObject *details, gpointer user_data);

/* podvm-rest-console.c: console WebSockets (self->consoles). */
void podvm_rest_handle_console(Request *req);
/* Ends both sides once; the front drops its reference. */
void podvm_rest_console_end(PodvmRestConsole *console, const char *why);
void podvm_rest_console_release(PodvmRestConsole *console);

/* podvm-rest-tickets.c: console tickets (README "Access"). */
void podvm_rest_handle_console_ticket(Request *req);
PodvmRestTickets *podvm_rest_tickets_new(guint lifetime_s);
void podvm_rest_tickets_free(PodvmRestTickets *tickets);
/* Whether @ticket is a live ticket for pod @pod; it is used up either way. */
gboolean podvm_rest_tickets_redeem(PodvmRestFront *self, const char *ticket, const char *pod);

/* podvm-rest-metrics.c */
void podvm_rest_handle_metrics(Request *req);
/* The front's own counter of answers by status. */
void podvm_rest_count_status(PodvmRestFront *self, guint status);
/* The front goes: scrapes still waiting answer with what they have. */
void podvm_rest_scrapes_abandon(PodvmRestFront *self);

G_END_DECLS
