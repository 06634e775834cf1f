/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-spec.h"

G_BEGIN_DECLS

/*
 * One probe's runner (KubeVirt's livenessProbe/readinessProbe): on the
 * main loop, it waits initialDelaySeconds, then runs one check every
 * periodSeconds (never two at once), each cancelled after timeoutSeconds,
 * counts consecutive successes and failures, and reports when the
 * probe's state changes: successThreshold successes in a row make it
 * succeed, failureThreshold failures in a row make it fail. The first
 * report comes at the first threshold crossed. What a check does is the
 * caller's (@check); the checks of the network kinds are below.
 */
typedef struct _PodvmProbe PodvmProbe;

/*
 * One check: completes @callback with a GTask whose boolean is the result
 * (an error says why it failed). @cancellable is cancelled at the timeout
 * or when the probe stops.
 */
typedef void (*PodvmProbeCheckFunc)(PodvmProbe *probe, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer callback_data);
/*
 * The probe's state changed: @success, or not with @message (why the last
 * check failed); a failing probe is reported again when a failure's
 * message differs from the one reported.
 */
typedef void (*PodvmProbeResultFunc)(PodvmProbe *probe, gboolean success, const char *message,
                                     gpointer user_data);

/* @spec is copied; @name ("liveness", "readiness") is for messages. */
PodvmProbe *podvm_probe_new(const PodvmSpecProbe *spec, const char *name, PodvmProbeCheckFunc check,
                            PodvmProbeResultFunc result, gpointer user_data);
/* Stops it (a check under way is cancelled, its result dropped) and frees it. */
void podvm_probe_free(PodvmProbe *probe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmProbe, podvm_probe_free)

/* Starts the timers: the first check after initialDelaySeconds. */
void podvm_probe_start(PodvmProbe *probe);
const PodvmSpecProbe *podvm_probe_get_spec(PodvmProbe *probe);
const char *podvm_probe_get_name(PodvmProbe *probe);
gpointer podvm_probe_get_user_data(PodvmProbe *probe);
/* Checks run so far (for tests and logs). */
guint64 podvm_probe_get_checks(PodvmProbe *probe);

/*
 * The network checks, from the namespace @netns_fd (dup'ed; the socket is
 * made in it by a short-lived thread, then everything else runs on the
 * main loop) to @address:port. tcpSocket: the connection is accepted.
 * httpGet: an HTTP/1.1 GET of the probe's path with a Host header (the
 * probe's own Host header wins) and its headers; a status from 200 to 399
 * is success. At most 4 KiB of the answer is read: the status line must
 * be in it.
 */
void podvm_probe_check_network_async(const PodvmSpecProbe *spec, int netns_fd,
                                     GInetAddress *address, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_probe_check_network_finish(GAsyncResult *result, GError **error);

G_END_DECLS
