/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
/* systemd's CPUQuotaPerSecUSec: CPU time per second of wall time. */
#define USEC_PER_CPU_SECOND 1000000

typedef struct {
    char *unit;
    char *pod_name;
    int pid;
    guint64 memory_max;
    guint64 cpu_millis;
} ScopeRequest;

static void
scope_request_free(ScopeRequest *request)
{
    g_free(request->unit);
    g_free(request->pod_name);
    g_free(request);
}

char *
podvm_cgroup_of_pid(int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        if (g_str_has_prefix(lines[i], "0::"))
            return g_strdup(lines[i] + 3);
    }
    return NULL;
}

static gboolean
systemd_is_init(void)
{
    /* sd_booted(): systemd creates this directory at boot. */
    return g_file_test("/run/systemd/system", G_FILE_TEST_IS_DIR);
}

static gboolean
cgroup2_mounted(void)
{
    struct statfs fs;

    return statfs(CGROUP_ROOT, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static char *
scope_name(const char *pod_name)
{
    return g_strdup_printf("podvm-%s.scope", pod_name);
}

static void
scope_started_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ScopeRequest *request = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply =
        g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);

    if (reply == NULL)
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "POD_NAME", request->pod_name,
                         "MESSAGE", "pod '%s': no cgroup of its own: systemd refused %s: %s",
                         request->pod_name, request->unit, error->message);
    else
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_INFO, "POD_NAME", request->pod_name, "MESSAGE",
                         "pod '%s': QEMU in machine.slice/%s", request->pod_name, request->unit);
    scope_request_free(request);
}

static void
system_bus_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ScopeRequest *request = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) bus = g_bus_get_finish(result, &error);
    GVariantBuilder properties;
    g_autofree char *description = NULL;

    if (bus == NULL) {
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "POD_NAME", request->pod_name,
                         "MESSAGE", "pod '%s': no cgroup of its own: no system bus: %s",
                         request->pod_name, error->message);
        scope_request_free(request);
        return;
    }
    description = g_strdup_printf("podvm pod %s", request->pod_name);
    g_variant_builder_init(&properties, G_VARIANT_TYPE("a(sv)"));
    g_variant_builder_add(&properties, "(sv)", "Description", g_variant_new_string(description));
    g_variant_builder_add(&properties, "(sv)", "Slice", g_variant_new_string("machine.slice"));
    g_variant_builder_add(&properties, "(sv)", "PIDs",
                          g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32,
                                                    &(guint32){ request->pid }, 1,
                                                    sizeof(guint32)));
    /* QEMU outlives podvmd: the scope must not be stopped with podvmd's unit. */
    g_variant_builder_add(&properties, "(sv)", "CollectMode",
                          g_variant_new_string("inactive-or-failed"));
    if (request->memory_max > 0)
        g_variant_builder_add(&properties, "(sv)", "MemoryMax",
                              g_variant_new_uint64(request->memory_max));
    if (request->cpu_millis > 0)
        g_variant_builder_add(
            &properties, "(sv)", "CPUQuotaPerSecUSec",
            g_variant_new_uint64(request->cpu_millis * USEC_PER_CPU_SECOND / 1000));
    g_dbus_connection_call(
        bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager", "StartTransientUnit",
        g_variant_new("(ssa(sv)a(sa(sv)))", request->unit, "fail", &properties, NULL),
        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, 10000, NULL, scope_started_cb, request);
}

static gboolean
write_file(const char *dir, const char *name, const char *value)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    gboolean ok;

    if (fd < 0)
        return FALSE;
    ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    close(fd);
    return ok;
}

/* podvmd's own cgroup v2 directory's parent side: CGROUP_ROOT + the path of podvmd's cgroup. */
static char *
pod_cgroup_dir(const char *pod_name)
{
    g_autofree char *own = podvm_cgroup_of_pid(getpid());
    g_autofree char *leaf = g_strdup_printf("podvm-%s", pod_name);

    if (own == NULL)
        return NULL;
    return g_build_filename(CGROUP_ROOT, own, leaf, NULL);
}

static void
place_in_cgroup2(const char *pod_name, int pid, guint64 memory_max, guint64 cpu_millis)
{
    g_autofree char *dir = pod_cgroup_dir(pod_name);
    g_autofree char *pid_text = g_strdup_printf("%d", pid);
    g_autoptr(GString) limits = g_string_new(NULL);

    if (dir == NULL || (g_mkdir(dir, 0755) != 0 && errno != EEXIST)) {
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "POD_NAME", pod_name, "MESSAGE",
                         "pod '%s': no cgroup of its own: cannot create '%s': %s", pod_name,
                         dir != NULL ? dir : "(podvmd's cgroup unknown)", g_strerror(errno));
        return;
    }
    if (memory_max > 0) {
        g_autofree char *value = g_strdup_printf("%" G_GUINT64_FORMAT, memory_max);
        g_string_append_printf(limits, " memory.max=%s%s", value,
                               write_file(dir, "memory.max", value) ? ""
                                                                    : " (no memory controller)");
    }
    if (cpu_millis > 0) {
        g_autofree char *value = g_strdup_printf("%" G_GUINT64_FORMAT " 100000", cpu_millis * 100);
        g_string_append_printf(limits, " cpu.max=%s%s", value,
                               write_file(dir, "cpu.max", value) ? "" : " (no cpu controller)");
    }
    if (!write_file(dir, "cgroup.procs", pid_text)) {
        int saved = errno;
        (void)g_rmdir(dir);
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "POD_NAME", pod_name, "MESSAGE",
                         "pod '%s': no cgroup of its own: cannot move QEMU into '%s': %s", pod_name,
                         dir, g_strerror(saved));
        return;
    }
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_INFO, "POD_NAME", pod_name, "MESSAGE",
                     "pod '%s': QEMU in cgroup %s%s", pod_name, dir, limits->str);
}

void
podvm_cgroup_place(const char *pod_name, int pid, guint64 memory_max, guint64 cpu_millis)
{
    g_return_if_fail(pod_name != NULL && pid > 0);

    if (systemd_is_init()) {
        ScopeRequest *request = g_new0(ScopeRequest, 1);

        request->unit = scope_name(pod_name);
        request->pod_name = g_strdup(pod_name);
        request->pid = pid;
        request->memory_max = memory_max;
        request->cpu_millis = cpu_millis;
        g_bus_get(G_BUS_TYPE_SYSTEM, NULL, system_bus_cb, request);
        return;
    }
    if (cgroup2_mounted()) {
        place_in_cgroup2(pod_name, pid, memory_max, cpu_millis);
        return;
    }
    {
        static gboolean said;

        /* One line, not one per start. */
        if (!said)
            g_message("QEMU processes get no cgroup of their own: systemd is not PID 1 and %s is "
                      "no cgroup v2 hierarchy",
                      CGROUP_ROOT);
        said = TRUE;
    }
}

void
podvm_cgroup_remove(const char *pod_name)
{
    g_autofree char *dir = NULL;

    if (systemd_is_init() || !cgroup2_mounted())
        return;
    dir = pod_cgroup_dir(pod_name);
    if (dir != NULL && g_rmdir(dir) != 0 && errno != ENOENT)
        g_debug("cannot remove cgroup '%s': %s", dir, g_strerror(errno));
}
