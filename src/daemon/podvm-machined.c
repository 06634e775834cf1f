/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-machined.h"

#include <string.h>
#include <unistd.h>

#include "podvm-cgroup.h"

#define MACHINED_NAME "org.freedesktop.machine1"
#define MACHINED_PATH "/org/freedesktop/machine1"
#define MACHINED_MANAGER "org.freedesktop.machine1.Manager"
/* How long QEMU may take to reach its scope (StartTransientUnit answers before it moved). */
#define SCOPE_WAIT_MS 5000
#define SCOPE_POLL_MS 50

typedef struct {
    GDBusConnection *bus; /* NULL until known */
    char *name;
    char *uid;
    int leader;
    char *own_cgroup; /* podvmd's: the leader must have left it */
    gint64 deadline;
    guint poll_id;
} Registration;

static void
registration_free(Registration *r)
{
    g_clear_object(&r->bus);
    g_free(r->name);
    g_free(r->uid);
    g_free(r->own_cgroup);
    g_clear_handle_id(&r->poll_id, g_source_remove);
    g_free(r);
}

char *
podvm_machined_machine_name(const char *pod_name)
{
    return g_strdup_printf("podvm-%s", pod_name);
}

/* The pod's uid as machined's 16 bytes (all zeros: machined makes one up). */
static GVariant *
uid_bytes(const char *uid)
{
    guint8 bytes[16] = { 0 };
    guint n = 0;

    for (const char *c = uid; c != NULL && *c != '\0' && n < 32; c++) {
        if (*c == '-')
            continue;
        if (!g_ascii_isxdigit(*c)) {
            memset(bytes, 0, sizeof bytes);
            break;
        }
        bytes[n / 2] |= (guint8)(g_ascii_xdigit_value(*c) << (n % 2 == 0 ? 4 : 0));
        n++;
    }
    if (n != 32)
        memset(bytes, 0, sizeof bytes);
    return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, bytes, sizeof bytes, 1);
}

static void
registered_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply =
        g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);

    if (reply == NULL)
        g_task_return_error(task, g_steal_pointer(&error));
    else
        g_task_return_boolean(task, TRUE);
}

static void
call_register(GTask *task)
{
    Registration *r = g_task_get_task_data(task);

    g_dbus_connection_call(r->bus, MACHINED_NAME, MACHINED_PATH, MACHINED_MANAGER,
                           "RegisterMachine",
                           g_variant_new("(s@ayssus)", r->name, uid_bytes(r->uid),
                                         PODVM_MACHINED_SERVICE, "vm", (guint32)r->leader, ""),
                           G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000,
                           g_task_get_cancellable(task), registered_cb, g_object_ref(task));
}

/* Registers once the leader left podvmd's cgroup for its scope; gives up after a while. */
static gboolean
scope_poll_cb(gpointer user_data)
{
    GTask *task = user_data;
    Registration *r = g_task_get_task_data(task);
    g_autofree char *cgroup = podvm_cgroup_of_pid(r->leader);

    if (cgroup == NULL) {
        r->poll_id = 0;
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "process %d is gone",
                                r->leader);
        g_object_unref(task);
        return G_SOURCE_REMOVE;
    }
    if (g_strcmp0(cgroup, r->own_cgroup) == 0) {
        if (g_get_monotonic_time() < r->deadline)
            return G_SOURCE_CONTINUE;
        /* machined would take podvmd's unit for the machine's: terminating it would end podvmd. */
        r->poll_id = 0;
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED,
                                "QEMU (pid %d) did not get a scope of its own", r->leader);
        g_object_unref(task);
        return G_SOURCE_REMOVE;
    }
    r->poll_id = 0;
    call_register(task);
    g_object_unref(task);
    return G_SOURCE_REMOVE;
}

static void
with_bus(GTask *task)
{
    Registration *r = g_task_get_task_data(task);

    if (r->own_cgroup == NULL) {
        call_register(task);
        g_object_unref(task);
        return;
    }
    r->deadline = g_get_monotonic_time() + SCOPE_WAIT_MS * 1000;
    if (scope_poll_cb(task) == G_SOURCE_CONTINUE)
        r->poll_id = g_timeout_add(SCOPE_POLL_MS, scope_poll_cb, task);
}

static void
system_bus_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    Registration *r = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;

    r->bus = g_bus_get_finish(result, &error);
    if (r->bus == NULL) {
        /* No system bus (a container, a test): no machined either, which is not a failure. */
        g_task_return_new_error(task, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
                                "no system bus: %s", error->message);
        g_object_unref(task);
        return;
    }
    with_bus(task);
}

void
podvm_machined_register_async(GDBusConnection *bus, const char *pod_name, const char *uid,
                              int leader, gboolean wait_scope, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    Registration *r = g_new0(Registration, 1);
    g_autofree char *own = podvm_cgroup_of_pid(getpid());

    g_task_set_source_tag(task, podvm_machined_register_async);
    r->name = podvm_machined_machine_name(pod_name);
    r->uid = g_strdup(uid);
    r->leader = leader;
    /* Only a leader that started in podvmd's own cgroup has to leave it first. */
    {
        g_autofree char *leader_cgroup = podvm_cgroup_of_pid(leader);

        if (wait_scope && own != NULL && g_strcmp0(own, leader_cgroup) == 0)
            r->own_cgroup = g_steal_pointer(&own);
    }
    g_task_set_task_data(task, r, (GDestroyNotify)registration_free);
    if (bus != NULL) {
        r->bus = g_object_ref(bus);
        with_bus(task);
        return;
    }
    g_bus_get(G_BUS_TYPE_SYSTEM, cancellable, system_bus_cb, task);
}

gboolean
podvm_machined_register_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

static void
logged_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *pod_name = user_data;
    g_autoptr(GError) error = NULL;
    static gboolean said_absent;

    if (podvm_machined_register_finish(result, &error)) {
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_INFO, "POD_NAME", pod_name, "MESSAGE",
                         "pod '%s': registered with systemd-machined as podvm-%s", pod_name,
                         pod_name);
        return;
    }
    if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
        g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)) {
        /* One line, not one per start: machined is optional (systemd-container). */
        if (!said_absent)
            g_message("systemd-machined is not running: pods are not registered as machines "
                      "(machinectl list)");
        said_absent = TRUE;
        return;
    }
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "POD_NAME", pod_name, "MESSAGE",
                     "pod '%s': cannot register with systemd-machined: %s", pod_name,
                     error->message);
}

void
podvm_machined_register_pod(const char *pod_name, const char *uid, int leader)
{
    podvm_machined_register_async(NULL, pod_name, uid, leader, TRUE, NULL, logged_cb,
                                  g_strdup(pod_name));
}
