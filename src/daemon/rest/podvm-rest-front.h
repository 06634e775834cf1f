/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-manager.h"

G_BEGIN_DECLS

/* Request bodies above this get 413 before they are read whole. */
#define PODVM_REST_MAX_BODY (1024 * 1024)

/*
 * The REST front: a SoupServer in the daemon's main loop, JSON under /v1,
 * Server-Sent Events, Prometheus metrics. A thin layer like the D-Bus
 * front: every route calls the manager/pod API and turns its GError into
 * {"error": {"code", "reason", "message"}} with the status of the one
 * error table (podvm-error.h). The routes are one table
 * (podvm_rest_front_get_routes), checked against data/openapi.yaml.
 */
#define PODVM_TYPE_REST_FRONT (podvm_rest_front_get_type())
G_DECLARE_FINAL_TYPE(PodvmRestFront, podvm_rest_front, PODVM, REST_FRONT, GObject)

PodvmRestFront *podvm_rest_front_new(PodvmManager *manager);

/*
 * Listens on a unix socket at @path: mode 0660, group "podvm" where that
 * group exists. A stale socket is replaced; one a live daemon answers on is
 * an error.
 */
gboolean podvm_rest_front_listen_unix(PodvmRestFront *self, const char *path, GError **error);

/*
 * Applies [rest] of @config, at start and at every reload: the request
 * timeout and client queue (for new connections), and the TCP listener
 * ([rest] listen, "ADDR:PORT", ADDR an IP address, IPv6 in brackets):
 * opened, kept, replaced (another address or certificate) or closed. Every
 * request on it must carry "Authorization: Bearer TOKEN" with the token of
 * [rest] token_file, or of read_only_token_file for a reader (compared in
 * constant time; 401 otherwise); with
 * tls_cert and tls_key (PEM files) it speaks HTTPS. Connections already
 * open stay, and their next request needs the new token. The unix socket
 * needs no token. On an error nothing changed.
 */
gboolean podvm_rest_front_apply_config(PodvmRestFront *self, const PodvmConfig *config,
                                       GError **error);

/*
 * Listens on a second unix socket at @path for readers (README "Access"):
 * mode 0666, like libvirt's libvirt-sock-ro; its clients may call the
 * routes marked PODVM_REST_ROLE_READER (and ANYONE) only.
 */
gboolean podvm_rest_front_listen_unix_read_only(PodvmRestFront *self, const char *path,
                                                GError **error);

/*
 * The TCP listener's second token: a request bearing it is a reader's.
 * NULL forgets it. podvm_rest_front_apply_config() sets it from [rest]
 * read_only_token_file.
 */
void podvm_rest_front_set_reader_token(PodvmRestFront *self, const char *token);

/*
 * Who may call a route, and who a caller is (README "Access"). A route is
 * marked with the least trusted role that may call it; a caller may call
 * a route whose mark is its own role or a later one in this list. The
 * caller's role comes from how it connected: RUN_DIR/api.sock or the
 * admin token is ADMIN, RUN_DIR/api-ro.sock or the reader token READER, a
 * TCP client without a valid token ANYONE. 0 is ADMIN: a route that does
 * not say is for admins only.
 */
typedef enum {
    PODVM_REST_ROLE_ADMIN = 0, /* everything */
    PODVM_REST_ROLE_READER,    /* reading: lists, a pod, logs, events, metrics, version */
    PODVM_REST_ROLE_ANYONE,    /* no credentials at all (/healthz) */
} PodvmRestRole;

const char *podvm_rest_role_to_string(PodvmRestRole role);

/*
 * One entry of the route table: "/v1/pods/{name}/start" as in openapi.yaml,
 * who may call it, and the query parameters the route knows,
 * comma-separated ("wait,force"), or NULL for none: a request with any
 * other parameter is answered 400 naming it, before the handler runs. A
 * request body, whatever the route, must be JSON (Content-Type
 * application/json, or none given): 415 otherwise.
 */
typedef struct _PodvmRestRequest PodvmRestRequest;
typedef void (*PodvmRestHandler)(PodvmRestRequest *request);

typedef struct {
    const char *method;
    const char *pattern;
    PodvmRestHandler handler;
    PodvmRestRole role; /* who may call it: PODVM_REST_ROLE_ADMIN unless marked */
    const char *query;
} PodvmRestRoute;

/* Whether @route declares the query parameter @key. */
gboolean podvm_rest_route_knows_query(const PodvmRestRoute *route, const char *key);

const PodvmRestRoute *podvm_rest_front_get_routes(gsize *out_n_routes);

G_END_DECLS
