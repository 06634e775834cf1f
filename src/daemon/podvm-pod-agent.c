/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest agent of a VM pod (podvm_spec_has_guest_agent(); README "The
 * guest agent"). podvmd binds the channel's socket before the spawn (QEMU
 * gets the fd, as for the monitor) and connects to it while QEMU runs.
 * While the pod is Running the agent is polled, every
 * POLL_SECONDS and as soon as QEMU says the guest opened its port
 * (VSERPORT_CHANGE): guest-info (it answers: AgentConnected), then
 * guest-get-osinfo (status.guestOSInfo), guest-network-get-interfaces
 * (merged into status.interfaces[]) and guest-fsfreeze-status
 * (status.fsFreezeStatus). The guestosinfo, freeze and unfreeze calls of
 * the fronts, and the stop's guest-shutdown, go through the same client.
 */
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-guest-agent-proto.h"
#include "podvm-guest-agent.h"
#include "podvm-pod-private.h"
#include "podvm-qemu-devices.h"

#define POLL_SECONDS 10

struct _PodAgent {
    char *socket_path;       /* RUN_DIR/pods/NAME/qga.sock */
    PodvmGuestAgent *client; /* while QEMU runs */
    gboolean connected;      /* the last guest-info was answered */
    GDateTime *connected_since;
    char *version;         /* the agent's */
    JsonObject *os_info;   /* status.guestOSInfo, KubeVirt's names */
    GPtrArray *interfaces; /* PodvmQgaInterface*, from the last poll */
    char *freeze_status;   /* "frozen" or "thawed", when known */
    guint poll_timer;
    gboolean polling;    /* a poll under way */
    gboolean poll_again; /* asked for while one was under way */
    gulong vserport_handler;
    PodAgentPowerdown powerdown; /* a stop's ACPI power-down, while guest-shutdown is tried */
    guint shutdown_timer;
};

static PodAgent *
agent_of(PodvmPod *self)
{
    if (self->agent == NULL) {
        self->agent = g_new0(PodAgent, 1);
        self->agent->socket_path = g_build_filename(self->run_dir, "qga.sock", NULL);
    }
    return self->agent;
}

static void
forget(PodAgent *agent)
{
    agent->connected = FALSE;
    g_clear_pointer(&agent->connected_since, g_date_time_unref);
    g_clear_pointer(&agent->version, g_free);
    g_clear_pointer(&agent->os_info, json_object_unref);
    g_clear_pointer(&agent->interfaces, g_ptr_array_unref);
    g_clear_pointer(&agent->freeze_status, g_free);
}

void
pod_agent_drop(PodvmPod *self)
{
    PodAgent *agent = self->agent;

    if (agent == NULL)
        return;
    g_clear_handle_id(&agent->poll_timer, g_source_remove);
    g_clear_handle_id(&agent->shutdown_timer, g_source_remove);
    agent->powerdown = NULL;
    if (agent->client != NULL) {
        g_signal_handlers_disconnect_by_data(agent->client, self);
        podvm_guest_agent_close(agent->client);
        g_clear_object(&agent->client);
    }
    agent->polling = FALSE;
}

void
pod_agent_free(PodvmPod *self)
{
    PodAgent *agent = self->agent;

    if (agent == NULL)
        return;
    pod_agent_drop(self);
    forget(agent);
    g_free(agent->socket_path);
    g_free(agent);
    self->agent = NULL;
}

int
pod_agent_listen(PodvmPod *self, PodvmListenFunc listen_func, GError **error)
{
    return listen_func(agent_of(self)->socket_path, error);
}

const char *
pod_agent_socket_path(PodvmPod *self)
{
    return agent_of(self)->socket_path;
}

/* ---- connected or not --------------------------------------------------------------------- */

static void announce(PodvmPod *self, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
announce(PodvmPod *self, const char *format, ...)
{
    g_autoptr(JsonObject) details = json_object_new();
    g_autofree char *text = NULL;
    va_list args;

    va_start(args, format);
    text = g_strdup_vprintf(format, args);
    va_end(args);
    pod_log(self, G_LOG_LEVEL_INFO, "pod '%s': %s", self->spec->name, text);
    json_object_set_string_member(details, "condition", "AgentConnected");
    json_object_set_string_member(details, "status", self->agent->connected ? "True" : "False");
    json_object_set_string_member(details, "message", text);
    pod_emit_event(self, "ConditionChanged", details);
    pod_emit_changed(self);
}

static void
set_disconnected(PodvmPod *self, const char *why)
{
    PodAgent *agent = self->agent;

    if (agent == NULL || !agent->connected)
        return;
    forget(agent);
    announce(self, "the guest agent is not connected: %s", why);
}

/* ---- the poll ------------------------------------------------------------------------------ */

typedef enum {
    POLL_INFO,
    POLL_OS,
    POLL_INTERFACES,
    POLL_FREEZE,
    POLL_DONE,
} PollStep;

typedef struct {
    PodvmPod *pod; /* a reference */
    PollStep step;
    gboolean changed;
} Poll;

static void poll_step(Poll *poll);

static const char *const poll_commands[] = {
    [POLL_INFO] = "guest-info",
    [POLL_OS] = "guest-get-osinfo",
    [POLL_INTERFACES] = "guest-network-get-interfaces",
    [POLL_FREEZE] = "guest-fsfreeze-status",
};

static gboolean
interfaces_equal(GPtrArray *a, GPtrArray *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->len != b->len)
        return FALSE;
    for (guint i = 0; i < a->len; i++) {
        PodvmQgaInterface *x = g_ptr_array_index(a, i);
        PodvmQgaInterface *y = g_ptr_array_index(b, i);

        if (g_strcmp0(x->name, y->name) != 0 || g_strcmp0(x->mac, y->mac) != 0 ||
            !g_strv_equal((const char *const *)x->addresses, (const char *const *)y->addresses))
            return FALSE;
    }
    return TRUE;
}

static void
poll_end(Poll *poll)
{
    PodvmPod *self = poll->pod;

    if (self->agent != NULL) {
        self->agent->polling = FALSE;
        if (poll->changed) {
            pod_save_or_log(self, PODVM_STORE_ATOMIC);
            pod_emit_changed(self);
        }
        if (self->agent->poll_again) {
            self->agent->poll_again = FALSE;
            pod_agent_poll(self);
        }
    }
    g_object_unref(poll->pod);
    g_free(poll);
}

static void
poll_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Poll *poll = user_data;
    PodvmPod *self = poll->pod;
    PodAgent *agent = self->agent;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret =
        podvm_guest_agent_execute_finish(PODVM_GUEST_AGENT(source), result, &error);

    if (agent == NULL || agent->client != PODVM_GUEST_AGENT(source)) {
        poll_end(poll);
        return;
    }
    if (ret == NULL) {
        pod_log(self, G_LOG_LEVEL_DEBUG, "pod '%s': guest agent: %s: %s", self->spec->name,
                poll_commands[poll->step], error->message);
        if (poll->step == POLL_INFO) {
            set_disconnected(self, error->message);
            poll_end(poll);
            return;
        }
        /* A frozen guest's agent answers little but the freeze status: keep what it said. */
        poll->step++;
        poll_step(poll);
        return;
    }
    switch (poll->step) {
    case POLL_INFO: {
        g_autofree char *version = podvm_qga_version_parse(ret, &error);

        if (version == NULL) {
            set_disconnected(self, error->message);
            poll_end(poll);
            return;
        }
        if (!agent->connected) {
            agent->connected = TRUE;
            agent->connected_since = g_date_time_new_now_utc();
            g_free(agent->version);
            agent->version = g_steal_pointer(&version);
            announce(self, "the guest agent is connected (version %s)", agent->version);
        }
        break;
    }
    case POLL_OS: {
        JsonObject *info = podvm_qga_os_info_parse(ret, &error);

        if (info != NULL) {
            g_autoptr(JsonNode) a = json_node_init_object(json_node_alloc(), info);
            g_autoptr(JsonNode) b = agent->os_info != NULL
                                        ? json_node_init_object(json_node_alloc(), agent->os_info)
                                        : NULL;

            if (b == NULL || !json_node_equal(a, b)) {
                g_clear_pointer(&agent->os_info, json_object_unref);
                agent->os_info = json_object_ref(info);
                poll->changed = TRUE;
            }
            json_object_unref(info);
        }
        break;
    }
    case POLL_INTERFACES: {
        g_autoptr(GPtrArray) interfaces = podvm_qga_interfaces_parse(ret, &error);

        if (interfaces != NULL && !interfaces_equal(interfaces, agent->interfaces)) {
            g_clear_pointer(&agent->interfaces, g_ptr_array_unref);
            agent->interfaces = g_steal_pointer(&interfaces);
            poll->changed = TRUE;
        }
        break;
    }
    case POLL_FREEZE: {
        const char *status = podvm_qga_freeze_status_parse(ret, &error);

        if (status != NULL && g_strcmp0(status, agent->freeze_status) != 0) {
            g_free(agent->freeze_status);
            agent->freeze_status = g_strdup(status);
            poll->changed = TRUE;
        }
        break;
    }
    case POLL_DONE:
        break;
    }
    if (error != NULL)
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': guest agent: %s", self->spec->name,
                error->message);
    poll->step++;
    poll_step(poll);
}

static void
poll_step(Poll *poll)
{
    PodAgent *agent = poll->pod->agent;

    if (poll->step == POLL_DONE || agent == NULL || agent->client == NULL) {
        poll_end(poll);
        return;
    }
    podvm_guest_agent_execute_async(agent->client, poll_commands[poll->step], NULL,
                                    PODVM_QGA_TIMEOUT_QUERY_MS, FALSE, NULL, poll_cb, poll);
}

void
pod_agent_poll(PodvmPod *self)
{
    PodAgent *agent = self->agent;
    Poll *poll;

    if (agent == NULL || agent->client == NULL || self->phase != PODVM_PHASE_RUNNING)
        return;
    /* A channel that closed (or never opened) is opened again first. */
    if (!podvm_guest_agent_is_open(agent->client)) {
        g_autoptr(GError) error = NULL;

        if (!podvm_guest_agent_connect(agent->client, agent->socket_path, &error)) {
            pod_log(self, G_LOG_LEVEL_DEBUG, "pod '%s': %s", self->spec->name, error->message);
            return;
        }
    }
    if (agent->polling) {
        agent->poll_again = TRUE;
        return;
    }
    agent->polling = TRUE;
    poll = g_new0(Poll, 1);
    poll->pod = g_object_ref(self);
    poll_step(poll);
}

static gboolean
poll_timer_cb(gpointer user_data)
{
    pod_agent_poll(user_data);
    return G_SOURCE_CONTINUE;
}

/* ---- the channel ---------------------------------------------------------------------------- */

static void
client_closed_cb(PodvmGuestAgent *client, gpointer user_data)
{
    PodvmPod *self = user_data;

    set_disconnected(self, _("its channel closed"));
}

/* QEMU says the guest opened or closed the agent's port: an agent (re)started or went away. */
static void
vserport_cb(PodvmPod *self, const char *name, JsonObject *data, gpointer user_data)
{
    if (data == NULL || g_strcmp0(json_object_get_string_member_with_default(data, "id", NULL),
                                  PODVM_QEMU_GUEST_AGENT_CHARDEV) != 0)
        return;
    if (json_object_get_boolean_member_with_default(data, "open", FALSE))
        pod_agent_poll(self);
    else
        set_disconnected(self, _("the guest closed its port"));
}

void
pod_agent_connect(PodvmPod *self)
{
    PodAgent *agent;
    g_autoptr(GError) error = NULL;

    if (!podvm_spec_has_guest_agent(self->spec) || self->detached)
        return;
    agent = agent_of(self);
    if (agent->vserport_handler == 0)
        agent->vserport_handler =
            g_signal_connect(self, "qmp-event::VSERPORT_CHANGE", G_CALLBACK(vserport_cb), NULL);
    if (agent->client == NULL) {
        agent->client = podvm_guest_agent_new(self->spec->name);
        g_signal_connect(agent->client, "closed", G_CALLBACK(client_closed_cb), self);
    }
    if (!podvm_guest_agent_is_open(agent->client) &&
        !podvm_guest_agent_connect(agent->client, agent->socket_path, &error)) {
        pod_log(self, G_LOG_LEVEL_MESSAGE, "pod '%s': %s", self->spec->name, error->message);
        return;
    }
    pod_agent_phase_changed(self);
}

void
pod_agent_phase_changed(PodvmPod *self)
{
    PodAgent *agent = self->agent;

    /* Running without a channel yet: the target of a migration, now the pod's only copy. */
    if (self->phase == PODVM_PHASE_RUNNING && !self->detached && self->qmp != NULL &&
        podvm_spec_has_guest_agent(self->spec) && (agent == NULL || agent->client == NULL)) {
        pod_agent_connect(self);
        return;
    }
    if (agent == NULL || agent->client == NULL)
        return;
    if (self->phase == PODVM_PHASE_RUNNING && !self->detached) {
        if (agent->poll_timer == 0) {
            agent->poll_timer = g_timeout_add_seconds(POLL_SECONDS, poll_timer_cb, self);
            pod_agent_poll(self);
        }
    } else {
        g_clear_handle_id(&agent->poll_timer, g_source_remove);
    }
}

void
pod_agent_release(PodvmPod *self)
{
    if (self->agent == NULL)
        return;
    pod_agent_drop(self);
    forget(self->agent);
    (void)g_unlink(self->agent->socket_path);
}

/* ---- status --------------------------------------------------------------------------------- */

void
pod_agent_add_status(PodvmPod *self, JsonBuilder *b)
{
    PodAgent *agent = self->agent;

    if (agent == NULL || !agent->connected)
        return;
    if (agent->os_info != NULL) {
        json_builder_set_member_name(b, "guestOSInfo");
        json_builder_add_value(b, json_node_init_object(json_node_alloc(), agent->os_info));
    }
    if (agent->freeze_status != NULL) {
        json_builder_set_member_name(b, "fsFreezeStatus");
        json_builder_add_string_value(b, agent->freeze_status);
    }
}

void
pod_agent_add_condition(PodvmPod *self, JsonBuilder *b)
{
    PodAgent *agent = self->agent;
    g_autofree char *since = NULL;

    /* As KubeVirt: the condition is there while the agent is connected. */
    if (agent == NULL || !agent->connected)
        return;
    since = g_date_time_format_iso8601(agent->connected_since);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "AgentConnected");
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, "True");
    json_builder_set_member_name(b, "lastTransitionTime");
    json_builder_add_string_value(b, since);
    json_builder_end_object(b);
}

const GPtrArray *
pod_agent_interfaces(PodvmPod *self)
{
    PodAgent *agent = self->agent;

    if (agent == NULL || !agent->connected)
        return NULL;
    return agent->interfaces;
}

/* ---- what the fronts ask -------------------------------------------------------------------- */

/* The client of a running pod whose agent is connected, or NULL and @task answered. */
static PodvmGuestAgent *
client_for(PodvmPod *self, GTask *task, gboolean need_connected)
{
    PodAgent *agent = self->agent;

    if (!podvm_spec_has_guest_agent(self->spec)) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                                _("pod '%s' has no guest agent channel "
                                  "(spec.domain.devices.autoattachGuestAgent, or an app pod)"),
                                self->spec->name);
        return NULL;
    }
    if (self->phase != PODVM_PHASE_RUNNING || agent == NULL || agent->client == NULL) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' is %s; its guest agent answers while it is Running"),
                                self->spec->name, podvm_phase_to_string(self->phase));
        return NULL;
    }
    if (need_connected && !agent->connected) {
        g_task_return_new_error(task, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE,
                                _("pod '%s' has no guest agent connected: is qemu-guest-agent "
                                  "running in the guest?"),
                                self->spec->name);
        return NULL;
    }
    return agent->client;
}

static void
os_info_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret =
        podvm_guest_agent_execute_finish(PODVM_GUEST_AGENT(source), result, &error);
    g_autoptr(JsonObject) answer = NULL;
    JsonObject *info;

    if (ret == NULL || (info = podvm_qga_os_info_parse(ret, &error)) == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    /* KubeVirt's guestosinfo subresource: the OS, the agent's version, the host name. */
    answer = json_object_new();
    if (self->agent != NULL && self->agent->version != NULL)
        json_object_set_string_member(answer, "guestAgentVersion", self->agent->version);
    json_object_set_object_member(answer, "os", info);
    if (self->agent != NULL && self->agent->freeze_status != NULL)
        json_object_set_string_member(answer, "fsFreezeStatus", self->agent->freeze_status);
    g_task_return_pointer(task, json_node_init_object(json_node_alloc(), answer),
                          (GDestroyNotify)json_node_unref);
}

void
podvm_pod_guest_os_info_async(PodvmPod *self, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    PodvmGuestAgent *client;

    g_task_set_source_tag(task, podvm_pod_guest_os_info_async);
    client = client_for(self, task, TRUE);
    if (client == NULL)
        return;
    podvm_guest_agent_execute_async(client, "guest-get-osinfo", NULL, PODVM_QGA_TIMEOUT_QUERY_MS,
                                    FALSE, cancellable, os_info_cb, g_steal_pointer(&task));
}

JsonNode *
podvm_pod_guest_os_info_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void
freeze_status_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret =
        podvm_guest_agent_execute_finish(PODVM_GUEST_AGENT(source), result, &error);
    const char *status = ret != NULL ? podvm_qga_freeze_status_parse(ret, &error) : NULL;

    if (status == NULL) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    if (self->agent != NULL && g_strcmp0(self->agent->freeze_status, status) != 0) {
        g_free(self->agent->freeze_status);
        self->agent->freeze_status = g_strdup(status);
        pod_save_or_log(self, PODVM_STORE_ATOMIC);
        pod_emit_changed(self);
    }
    g_task_return_pointer(task, g_strdup(status), g_free);
}

static void
freeze_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    PodvmPod *self = g_task_get_source_object(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret =
        podvm_guest_agent_execute_finish(PODVM_GUEST_AGENT(source), result, &error);
    gint64 count = ret != NULL ? podvm_qga_count_parse(ret, &error) : -1;
    gboolean freeze = GPOINTER_TO_INT(g_task_get_task_data(task));
    GCancellable *cancellable;

    if (count < 0) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    pod_step(self, "the guest agent %s %" G_GINT64_FORMAT " filesystem(s)",
             freeze ? "froze" : "thawed", count);
    /* What the agent says now is the answer (and the status). */
    cancellable = g_task_get_cancellable(task);
    podvm_guest_agent_execute_async(PODVM_GUEST_AGENT(source), "guest-fsfreeze-status", NULL,
                                    PODVM_QGA_TIMEOUT_QUERY_MS, FALSE, cancellable,
                                    freeze_status_cb, g_steal_pointer(&task));
}

void
podvm_pod_freeze_async(PodvmPod *self, gboolean freeze, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    PodvmGuestAgent *client;

    g_task_set_source_tag(task, podvm_pod_freeze_async);
    g_task_set_task_data(task, GINT_TO_POINTER(freeze), NULL);
    client = client_for(self, task, TRUE);
    if (client == NULL)
        return;
    pod_step(self, "asking the guest agent to %s the guest's filesystems",
             freeze ? "freeze" : "thaw");
    podvm_guest_agent_execute_async(
        client, freeze ? "guest-fsfreeze-freeze" : "guest-fsfreeze-thaw", NULL,
        PODVM_QGA_TIMEOUT_FREEZE_MS, FALSE, cancellable, freeze_cb, g_steal_pointer(&task));
}

char *
podvm_pod_freeze_finish(PodvmPod *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

/* ---- the stop ------------------------------------------------------------------------------- */

/*
 * How long a guest the agent took guest-shutdown from has to begin powering off (QEMU's
 * SHUTDOWN event) before the ACPI power-down is sent as well.
 */
#define SHUTDOWN_FALLBACK_MS 10000

static gboolean
shutdown_fallback_cb(gpointer user_data)
{
    PodvmPod *self = user_data;
    PodAgent *agent = self->agent;
    PodAgentPowerdown powerdown = agent->powerdown;

    agent->shutdown_timer = 0;
    agent->powerdown = NULL;
    if (self->phase == PODVM_PHASE_STOPPING && self->shutdown_reason == NULL && powerdown != NULL) {
        pod_step(self,
                 "the guest did not begin to power off within %d s of guest-shutdown; "
                 "sending ACPI power-down",
                 SHUTDOWN_FALLBACK_MS / 1000);
        powerdown(self);
    }
    return G_SOURCE_REMOVE;
}

static void
shutdown_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(PodvmPod) self = user_data;
    PodAgent *agent = self->agent;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret =
        podvm_guest_agent_execute_finish(PODVM_GUEST_AGENT(source), result, &error);
    PodAgentPowerdown powerdown;

    if (agent == NULL || agent->powerdown == NULL || self->phase != PODVM_PHASE_STOPPING)
        return;
    if (ret != NULL) {
        agent->shutdown_timer = g_timeout_add(SHUTDOWN_FALLBACK_MS, shutdown_fallback_cb, self);
        return;
    }
    powerdown = agent->powerdown;
    agent->powerdown = NULL;
    pod_step(self, "the guest agent did not shut the guest down (%s); sending ACPI power-down",
             error->message);
    powerdown(self);
}

gboolean
pod_agent_stop_guest(PodvmPod *self, PodAgentPowerdown powerdown)
{
    PodAgent *agent = self->agent;
    g_autoptr(JsonObject) arguments = NULL;

    if (agent == NULL || agent->client == NULL || !agent->connected)
        return FALSE;
    arguments = json_object_new();
    json_object_set_string_member(arguments, "mode", "powerdown");
    agent->powerdown = powerdown;
    g_clear_handle_id(&agent->shutdown_timer, g_source_remove);
    podvm_guest_agent_execute_async(agent->client, "guest-shutdown", arguments,
                                    PODVM_QGA_TIMEOUT_SHUTDOWN_MS, TRUE, NULL, shutdown_cb,
                                    g_object_ref(self));
    return TRUE;
}
