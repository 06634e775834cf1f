/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One probe's runner (timers, thresholds) and the network checks
 * (tcpSocket, httpGet) from a pod's namespace to its guest.
 */
#include "podvm-probe.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-netns.h"

/* What an httpGet reads of the answer at most: the status line must be in it. */
#define HTTP_ANSWER_MAX 4096

struct _PodvmProbe {
    PodvmSpecProbe *spec;
    char *name;
    PodvmProbeCheckFunc check;
    PodvmProbeResultFunc result;
    gpointer user_data;

    guint timer;         /* the initial delay, then the period */
    guint timeout_timer; /* the check under way's timeoutSeconds */
    GCancellable *stop;  /* cancelled when the probe is freed */
    GCancellable *check_cancellable;
    gboolean timed_out;
    gint64 check_started_us;
    guint successes; /* in a row */
    guint failures;  /* in a row */
    int state;       /* -1: not known yet; 0: failing; 1: succeeding */
    char *failed;    /* the message of the last failure reported */
    guint64 checks;
};

/* A check under way: the probe may be freed meanwhile (@stop is then cancelled). */
typedef struct {
    PodvmProbe *probe;
    GCancellable *stop;
} CheckCall;

static void schedule_next(PodvmProbe *probe, guint delay_ms);

PodvmProbe *
podvm_probe_new(const PodvmSpecProbe *spec, const char *name, PodvmProbeCheckFunc check,
                PodvmProbeResultFunc result, gpointer user_data)
{
    PodvmProbe *probe = g_new0(PodvmProbe, 1);

    probe->spec = podvm_spec_probe_copy(spec);
    probe->name = g_strdup(name);
    probe->check = check;
    probe->result = result;
    probe->user_data = user_data;
    probe->stop = g_cancellable_new();
    probe->state = -1;
    return probe;
}

void
podvm_probe_free(PodvmProbe *probe)
{
    if (probe == NULL)
        return;
    g_cancellable_cancel(probe->stop);
    if (probe->check_cancellable != NULL)
        g_cancellable_cancel(probe->check_cancellable);
    g_clear_handle_id(&probe->timer, g_source_remove);
    g_clear_handle_id(&probe->timeout_timer, g_source_remove);
    g_clear_object(&probe->check_cancellable);
    g_clear_object(&probe->stop);
    podvm_spec_probe_free(probe->spec);
    g_free(probe->name);
    g_free(probe->failed);
    g_free(probe);
}

const PodvmSpecProbe *
podvm_probe_get_spec(PodvmProbe *probe)
{
    return probe->spec;
}

const char *
podvm_probe_get_name(PodvmProbe *probe)
{
    return probe->name;
}

gpointer
podvm_probe_get_user_data(PodvmProbe *probe)
{
    return probe->user_data;
}

guint64
podvm_probe_get_checks(PodvmProbe *probe)
{
    return probe->checks;
}

static void
report(PodvmProbe *probe, gboolean success, const char *message)
{
    if (success) {
        probe->failures = 0;
        probe->successes = MIN(probe->successes + 1, G_MAXUINT - 1);
        if (probe->state != 1 && probe->successes >= probe->spec->success_threshold) {
            probe->state = 1;
            g_clear_pointer(&probe->failed, g_free);
            probe->result(probe, TRUE, NULL, probe->user_data);
        }
    } else {
        probe->successes = 0;
        probe->failures = MIN(probe->failures + 1, G_MAXUINT - 1);
        /* A failing probe that fails otherwise now says so too (the guest came up, ...). */
        if ((probe->state != 0 && probe->failures >= probe->spec->failure_threshold) ||
            (probe->state == 0 && g_strcmp0(probe->failed, message) != 0)) {
            probe->state = 0;
            g_free(probe->failed);
            probe->failed = g_strdup(message);
            probe->result(probe, FALSE, message, probe->user_data);
        }
    }
}

static void
check_done_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CheckCall *call = user_data;
    PodvmProbe *probe = call->probe;
    g_autoptr(GError) error = NULL;
    g_autofree char *message = NULL;
    gboolean success;
    gint64 elapsed_ms;

    success = g_task_propagate_boolean(G_TASK(result), &error);
    if (g_cancellable_is_cancelled(call->stop)) {
        /* The probe is gone: @probe is too. */
        g_object_unref(call->stop);
        g_free(call);
        return;
    }
    g_object_unref(call->stop);
    g_free(call);

    g_clear_handle_id(&probe->timeout_timer, g_source_remove);
    g_clear_object(&probe->check_cancellable);
    if (!success) {
        /* A check that knows what it waited for says so ("10.0.2.2:80 did not answer"). */
        if (probe->timed_out && error != NULL &&
            !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            message =
                g_strdup_printf(_("%s within %u s"), error->message, probe->spec->timeout_seconds);
        else if (probe->timed_out)
            message = g_strdup_printf(_("no answer within %u s"), probe->spec->timeout_seconds);
        else
            message = g_strdup(error != NULL ? error->message : _("the check failed"));
        g_debug("%s probe: check failed: %s", probe->name, message);
    }
    elapsed_ms = (g_get_monotonic_time() - probe->check_started_us) / 1000;
    /* The next check one period after this one started (at once when it took longer). */
    schedule_next(probe, elapsed_ms >= (gint64)probe->spec->period_seconds * 1000
                             ? 0
                             : (guint)(probe->spec->period_seconds * 1000 - elapsed_ms));
    report(probe, success, message);
}

static gboolean
timeout_cb(gpointer user_data)
{
    PodvmProbe *probe = user_data;

    probe->timeout_timer = 0;
    probe->timed_out = TRUE;
    if (probe->check_cancellable != NULL)
        g_cancellable_cancel(probe->check_cancellable);
    return G_SOURCE_REMOVE;
}

static gboolean
run_check_cb(gpointer user_data)
{
    PodvmProbe *probe = user_data;
    CheckCall *call = g_new0(CheckCall, 1);

    probe->timer = 0;
    probe->checks++;
    probe->timed_out = FALSE;
    probe->check_started_us = g_get_monotonic_time();
    probe->check_cancellable = g_cancellable_new();
    probe->timeout_timer = g_timeout_add(
        (guint)MIN((guint64)probe->spec->timeout_seconds * 1000, G_MAXUINT), timeout_cb, probe);
    call->probe = probe;
    call->stop = g_object_ref(probe->stop);
    probe->check(probe, probe->check_cancellable, check_done_cb, call);
    return G_SOURCE_REMOVE;
}

static void
schedule_next(PodvmProbe *probe, guint delay_ms)
{
    g_clear_handle_id(&probe->timer, g_source_remove);
    probe->timer = g_timeout_add(delay_ms, run_check_cb, probe);
}

void
podvm_probe_start(PodvmProbe *probe)
{
    g_return_if_fail(probe->timer == 0 && probe->check_cancellable == NULL);
    schedule_next(probe, (guint)MIN((guint64)probe->spec->initial_delay_seconds * 1000, G_MAXUINT));
}

/* ------------------------------------------------------------------------ */
/* tcpSocket and httpGet */

typedef struct {
    PodvmSpecProbe *spec;
    int netns_fd;
    GInetSocketAddress *address;
    char *target; /* "10.0.2.2:80", "[fd10::2]:80" */
    int fd;       /* made in the namespace, until a GSocket takes it */
    GSocketConnection *connection;
    char *request;
    char answer[HTTP_ANSWER_MAX + 1];
    gsize answer_length;
} NetCheck;

static void
net_check_free(NetCheck *check)
{
    podvm_spec_probe_free(check->spec);
    if (check->netns_fd >= 0)
        close(check->netns_fd);
    if (check->fd >= 0)
        close(check->fd);
    g_clear_object(&check->address);
    g_clear_object(&check->connection);
    g_free(check->target);
    g_free(check->request);
    g_free(check);
}

static void
socket_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
    NetCheck *check = task_data;
    GError *error = NULL;
    GSocketFamily family =
        g_inet_address_get_family(g_inet_socket_address_get_address(check->address));

    check->fd =
        podvm_netns_socket(check->netns_fd, family == G_SOCKET_FAMILY_IPV6 ? AF_INET6 : AF_INET,
                           SOCK_STREAM, 0, &error);
    if (check->fd < 0) {
        g_task_return_error(task, error);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

/* @error (taken) as the check's answer: a cancelled step is "TARGET did not answer". */
static void return_error(GTask *task, GError *error, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void
return_error(GTask *task, GError *error, const char *format, ...)
{
    NetCheck *check = g_task_get_task_data(task);
    va_list args;
    g_autofree char *prefix = NULL;

    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_error_free(error);
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_TIMEOUT, _("%s did not answer"),
                                check->target);
        return;
    }
    va_start(args, format);
    prefix = g_strdup_vprintf(format, args);
    va_end(args);
    g_prefix_error(&error, "%s", prefix);
    g_task_return_error(task, error);
}

static void
answer_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GCancellable *cancellable = g_task_get_cancellable(task);
    NetCheck *check = g_task_get_task_data(task);
    GError *error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
    const char *eol;
    guint status = 0;

    if (n < 0) {
        return_error(task, error, _("reading the answer of %s: "), check->target);
        return;
    }
    check->answer_length += (gsize)n;
    check->answer[check->answer_length] = '\0';
    eol = strstr(check->answer, "\r\n");
    if (eol == NULL && n > 0 && check->answer_length < HTTP_ANSWER_MAX) {
        g_input_stream_read_async(G_INPUT_STREAM(source), check->answer + check->answer_length,
                                  HTTP_ANSWER_MAX - check->answer_length, G_PRIORITY_DEFAULT,
                                  cancellable, answer_read_cb, g_steal_pointer(&task));
        return;
    }
    /* "HTTP/1.x NNN ..." */
    if (eol == NULL || !g_str_has_prefix(check->answer, "HTTP/1.") || check->answer_length < 12 ||
        !g_ascii_isdigit(check->answer[7]) || check->answer[8] != ' ' ||
        !g_ascii_isdigit(check->answer[9]) || !g_ascii_isdigit(check->answer[10]) ||
        !g_ascii_isdigit(check->answer[11])) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("%s did not answer with an HTTP/1 status line"), check->target);
        return;
    }
    status = (guint)(check->answer[9] - '0') * 100 + (guint)(check->answer[10] - '0') * 10 +
             (guint)(check->answer[11] - '0');
    if (status < 200 || status >= 400) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_FAILED,
                                _("HTTP GET %s from %s: status %u"), check->spec->path,
                                check->target, status);
        return;
    }
    g_task_return_boolean(task, TRUE);
}

static void
request_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GCancellable *cancellable = g_task_get_cancellable(task);
    NetCheck *check = g_task_get_task_data(task);
    GError *error = NULL;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        return_error(task, error, _("sending the request to %s: "), check->target);
        return;
    }
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(check->connection)),
                              check->answer, HTTP_ANSWER_MAX, G_PRIORITY_DEFAULT, cancellable,
                              answer_read_cb, g_steal_pointer(&task));
}

static char *
http_request(const PodvmSpecProbe *spec, const char *target)
{
    g_autoptr(GString) request = g_string_new(NULL);
    gboolean host_given = FALSE;

    for (guint i = 0; i < spec->http_headers->len; i++) {
        const PodvmSpecHttpHeader *header = g_ptr_array_index(spec->http_headers, i);

        host_given = host_given || g_ascii_strcasecmp(header->name, "Host") == 0;
    }
    g_string_append_printf(request, "GET %s HTTP/1.1\r\n", spec->path != NULL ? spec->path : "/");
    if (!host_given)
        g_string_append_printf(request, "Host: %s\r\n", target);
    g_string_append(request, "User-Agent: podvm-probe/1\r\nAccept: */*\r\nConnection: close\r\n");
    for (guint i = 0; i < spec->http_headers->len; i++) {
        const PodvmSpecHttpHeader *header = g_ptr_array_index(spec->http_headers, i);

        g_string_append_printf(request, "%s: %s\r\n", header->name, header->value);
    }
    g_string_append(request, "\r\n");
    return g_string_free(g_steal_pointer(&request), FALSE);
}

static void
connected_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GCancellable *cancellable = g_task_get_cancellable(task);
    NetCheck *check = g_task_get_task_data(task);
    GError *error = NULL;

    if (!g_socket_connection_connect_finish(G_SOCKET_CONNECTION(source), result, &error)) {
        return_error(task, error, _("cannot connect to %s: "), check->target);
        return;
    }
    if (check->spec->handler == PODVM_PROBE_TCP_SOCKET) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    check->request = http_request(check->spec, check->target);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(check->connection)),
                                    check->request, strlen(check->request), G_PRIORITY_DEFAULT,
                                    cancellable, request_written_cb, g_steal_pointer(&task));
}

static void
socket_made_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GCancellable *cancellable = g_task_get_cancellable(task);
    NetCheck *check = g_task_get_task_data(task);
    GError *error = NULL;
    g_autoptr(GSocket) socket = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &error)) {
        g_prefix_error(&error, _("cannot make a socket in the pod's network namespace: "));
        g_task_return_error(task, error);
        return;
    }
    if (g_task_return_error_if_cancelled(task))
        return;
    socket = g_socket_new_from_fd(check->fd, &error);
    if (socket == NULL) {
        g_task_return_error(task, error);
        return;
    }
    check->fd = -1; /* the socket's now */
    check->connection = g_socket_connection_factory_create_connection(socket);
    g_socket_connection_connect_async(check->connection, G_SOCKET_ADDRESS(check->address),
                                      cancellable, connected_cb, g_steal_pointer(&task));
}

void
podvm_probe_check_network_async(const PodvmSpecProbe *spec, int netns_fd, GInetAddress *address,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GTask) socket_task = NULL;
    g_autofree char *address_text = g_inet_address_to_string(address);
    NetCheck *check = g_new0(NetCheck, 1);

    g_task_set_source_tag(task, podvm_probe_check_network_async);
    /* A step cut short by @cancellable says what it waited for (return_error()). */
    g_task_set_check_cancellable(task, FALSE);
    check->spec = podvm_spec_probe_copy(spec);
    check->fd = -1;
    check->netns_fd = fcntl(netns_fd, F_DUPFD_CLOEXEC, 3);
    check->address = G_INET_SOCKET_ADDRESS(g_inet_socket_address_new(address, (guint16)spec->port));
    check->target = g_inet_address_get_family(address) == G_SOCKET_FAMILY_IPV6
                        ? g_strdup_printf("[%s]:%u", address_text, spec->port)
                        : g_strdup_printf("%s:%u", address_text, spec->port);
    g_task_set_task_data(task, check, (GDestroyNotify)net_check_free);
    if (check->netns_fd < 0) {
        int saved = errno;
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_IO,
                                _("cannot use the pod's network namespace: %s"), g_strerror(saved));
        return;
    }
    /* setns() only in a thread of its own: the socket is made there, used here. */
    socket_task = g_task_new(NULL, cancellable, socket_made_cb, g_object_ref(task));
    g_task_set_task_data(socket_task, check, NULL);
    g_task_run_in_thread(socket_task, socket_thread);
}

gboolean
podvm_probe_check_network_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
