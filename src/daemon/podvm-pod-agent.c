/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest agent of a VM pod (podvm_spec_has_guest_agent()): the
 * qemu-guest-agent channel's socket, bound by podvmd before the spawn
 * (QEMU gets the fd, as for the monitor), and what the agent tells.
 */
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "podvm-pod-private.h"

struct _PodAgent {
    char *socket_path; /* RUN_DIR/pods/NAME/qga.sock */
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

void
pod_agent_free(PodvmPod *self)
{
    PodAgent *agent = self->agent;

    if (agent == NULL)
        return;
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

void
pod_agent_release(PodvmPod *self)
{
    if (self->agent == NULL)
        return;
    (void)g_unlink(self->agent->socket_path);
}
