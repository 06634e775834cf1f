/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-sriov-tree.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VF_DRIVER PODVM_TEST_SRIOV_VF_DRIVER
/* How long the kernel thread waits for the probe that follows an unbind. */
#define PROBE_WAIT_MS 10000

void
podvm_test_sriov_mkdirs(const char *root, const char *rel)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);

    g_assert_cmpint(g_mkdir_with_parents(path, 0755), ==, 0);
}

void
podvm_test_sriov_touch(const char *root, const char *rel)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, "", 0, &error);
    g_assert_no_error(error);
}

void
podvm_test_sriov_symlink(const char *root, const char *rel, const char *target)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    g_autofree char *dir = g_path_get_dirname(path);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    g_assert_cmpint(symlink(target, path), ==, 0);
}

char *
podvm_test_sriov_read(const char *root, const char *rel)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    return text;
}

char *
podvm_test_sriov_driver_of(const char *root, const char *addr)
{
    g_autofree char *path = g_build_filename(root, "bus/pci/devices", addr, "driver", NULL);
    g_autofree char *target = g_file_read_link(path, NULL);

    return target != NULL ? g_path_get_basename(target) : NULL;
}

void
podvm_test_sriov_set_driver(const char *root, const char *addr, const char *driver)
{
    g_autofree char *rel = g_strdup_printf("devices/pci0000:00/%s/driver", addr);
    g_autofree char *path = g_build_filename(root, rel, NULL);

    (void)unlink(path);
    if (driver != NULL) {
        g_autofree char *target = g_strdup_printf("../../../bus/pci/drivers/%s", driver);

        podvm_test_sriov_symlink(root, rel, target);
    }
}

void
podvm_test_sriov_add_device(const char *root, const char *addr, const char *driver, guint group)
{
    g_autofree char *dev = g_strdup_printf("devices/pci0000:00/%s", addr);
    g_autofree char *bus = g_strdup_printf("bus/pci/devices/%s", addr);
    g_autofree char *bus_target = g_strdup_printf("../../../devices/pci0000:00/%s", addr);
    g_autofree char *override = g_strdup_printf("%s/driver_override", dev);
    g_autofree char *group_rel = g_strdup_printf("%s/iommu_group", dev);
    g_autofree char *group_target = g_strdup_printf("../../../kernel/iommu_groups/%u", group);
    g_autofree char *members = g_strdup_printf("kernel/iommu_groups/%u/devices", group);
    g_autofree char *member = g_strdup_printf("%s/%s", members, addr);
    g_autofree char *member_target = g_strdup_printf("../../../../devices/pci0000:00/%s", addr);

    podvm_test_sriov_mkdirs(root, dev);
    podvm_test_sriov_touch(root, override);
    podvm_test_sriov_symlink(root, bus, bus_target);
    podvm_test_sriov_mkdirs(root, members);
    podvm_test_sriov_symlink(root, group_rel, group_target);
    podvm_test_sriov_symlink(root, member, member_target);
    podvm_test_sriov_set_driver(root, addr, driver);
}

void
podvm_test_sriov_tree_base(const char *root)
{
    podvm_test_sriov_mkdirs(root, "bus/pci/drivers/" VF_DRIVER);
    podvm_test_sriov_mkdirs(root, "bus/pci/drivers/vfio-pci");
    podvm_test_sriov_mkdirs(root, "bus/pci/drivers/ixgbe");
    podvm_test_sriov_touch(root, "bus/pci/drivers/" VF_DRIVER "/unbind");
    podvm_test_sriov_touch(root, "bus/pci/drivers/vfio-pci/unbind");
    podvm_test_sriov_touch(root, "bus/pci/drivers/ixgbe/unbind");
    podvm_test_sriov_touch(root, "bus/pci/drivers_probe");
    podvm_test_sriov_mkdirs(root, "class/net");
}

void
podvm_test_sriov_add_pf(const char *root, const char *ifname, const char *pf_addr,
                        const char *vf_prefix, guint group)
{
    g_autofree char *net_dir = g_strdup_printf("devices/pci0000:00/%s/net/%s", pf_addr, ifname);
    g_autofree char *device = g_strdup_printf("%s/device", net_dir);
    g_autofree char *class = g_strdup_printf("class/net/%s", ifname);
    g_autofree char *class_target =
        g_strdup_printf("../../devices/pci0000:00/%s/net/%s", pf_addr, ifname);
    g_autofree char *device_target = g_strdup_printf("../../../%s", pf_addr);

    podvm_test_sriov_add_device(root, pf_addr, "ixgbe", group);
    podvm_test_sriov_mkdirs(root, net_dir);
    podvm_test_sriov_symlink(root, device, device_target);
    podvm_test_sriov_symlink(root, class, class_target);
    for (guint i = 0; i < 4; i++) {
        g_autofree char *vf_addr = g_strdup_printf("%s.%u", vf_prefix, i);
        g_autofree char *virtfn = g_strdup_printf("devices/pci0000:00/%s/virtfn%u", pf_addr, i);
        g_autofree char *virtfn_target = g_strdup_printf("../%s", vf_addr);
        g_autofree char *physfn = g_strdup_printf("devices/pci0000:00/%s/physfn", vf_addr);
        g_autofree char *physfn_target = g_strdup_printf("../%s", pf_addr);

        podvm_test_sriov_add_device(root, vf_addr, VF_DRIVER, group + 1 + i);
        podvm_test_sriov_symlink(root, virtfn, virtfn_target);
        podvm_test_sriov_symlink(root, physfn, physfn_target);
    }
}

/* A device's driver_override, stripped ("" when empty or unreadable). */
static char *
override_of(const char *root, const char *addr)
{
    g_autofree char *rel = g_strdup_printf("bus/pci/devices/%s/driver_override", addr);
    char *text = podvm_test_sriov_read(root, rel);

    return text != NULL ? g_strstrip(text) : g_strdup("");
}

void
podvm_test_sriov_tree_wrote(const char *root, const char *rel, const char *value,
                            gboolean vfio_loaded)
{
    if (g_str_has_prefix(rel, "bus/pci/drivers/") && g_str_has_suffix(rel, "/unbind")) {
        g_autofree char *dir = g_path_get_dirname(rel);
        g_autofree char *driver = g_path_get_basename(dir);
        g_autofree char *now = podvm_test_sriov_driver_of(root, value);

        /* The kernel refuses an unbind from a driver the device is not on. */
        g_assert_cmpstr(now, ==, driver);
        podvm_test_sriov_set_driver(root, value, NULL);
    } else if (strcmp(rel, "bus/pci/drivers_probe") == 0) {
        g_autofree char *override = override_of(root, value);
        g_autofree char *now = podvm_test_sriov_driver_of(root, value);

        if (now != NULL)
            return; /* already bound: a probe does nothing */
        if (*override == '\0')
            podvm_test_sriov_set_driver(root, value, VF_DRIVER);
        else if (strcmp(override, "vfio-pci") == 0 && vfio_loaded)
            podvm_test_sriov_set_driver(root, value, "vfio-pci");
    }
}

/* ---- the kernel for another process ------------------------------------------------------- */

static const char *const UNBINDS[] = { "bus/pci/drivers/" VF_DRIVER "/unbind",
                                       "bus/pci/drivers/vfio-pci/unbind" };
#define PROBE_REL "bus/pci/drivers_probe"

struct _PodvmTestSriovKernel {
    char *root;
    GThread *thread;
    int stop[2];
    GMutex lock;
    GPtrArray *writes;
    char *claim_dir;
};

static void
make_fifo(const char *root, const char *rel)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);

    (void)unlink(path);
    g_assert_cmpint(mkfifo(path, 0600), ==, 0);
}

static int
open_fifo(const char *root, const char *rel)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* What a writer wrote into @fd (one write: they are short), or NULL. */
static char *
read_value(int fd)
{
    char buf[128];
    ssize_t n;

    do {
        n = read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return g_strdup(buf);
}

static void
record(PodvmTestSriovKernel *k, const char *rel, const char *value)
{
    g_autofree char *shown = g_strescape(value, NULL);

    g_mutex_lock(&k->lock);
    g_ptr_array_add(k->writes, g_strdup_printf("%s=%s", rel, shown));
    g_mutex_unlock(&k->lock);
}

/* The probe after an unbind: the writer waits in open() until this opens the FIFO. */
static gboolean
serve_probe(PodvmTestSriovKernel *k)
{
    int fd = open_fifo(k->root, PROBE_REL);
    struct pollfd fds[2] = { { .fd = fd, .events = POLLIN },
                             { .fd = k->stop[0], .events = POLLIN } };
    gboolean go_on = TRUE;

    if (poll(fds, 2, PROBE_WAIT_MS) > 0 && (fds[0].revents & POLLIN) != 0) {
        g_autofree char *value = read_value(fd);

        if (value != NULL) {
            record(k, PROBE_REL, value);
            podvm_test_sriov_tree_wrote(k->root, PROBE_REL, value, TRUE);
        }
    }
    if ((fds[1].revents & POLLIN) != 0)
        go_on = FALSE;
    close(fd);
    return go_on;
}

static gpointer
kernel_thread(gpointer data)
{
    PodvmTestSriovKernel *k = data;
    int fds[G_N_ELEMENTS(UNBINDS)];

    for (guint i = 0; i < G_N_ELEMENTS(UNBINDS); i++)
        fds[i] = open_fifo(k->root, UNBINDS[i]);
    for (;;) {
        struct pollfd p[G_N_ELEMENTS(UNBINDS) + 1];
        gboolean go_on = TRUE;

        for (guint i = 0; i < G_N_ELEMENTS(UNBINDS); i++)
            p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
        p[G_N_ELEMENTS(UNBINDS)] = (struct pollfd){ .fd = k->stop[0], .events = POLLIN };
        if (poll(p, G_N_ELEMENTS(p), -1) < 0) {
            g_assert_cmpint(errno, ==, EINTR);
            continue;
        }
        if (p[G_N_ELEMENTS(UNBINDS)].revents != 0)
            break;
        for (guint i = 0; i < G_N_ELEMENTS(UNBINDS) && go_on; i++) {
            g_autofree char *value = NULL;
            g_autofree char *dir = NULL, *driver = NULL, *now = NULL, *override = NULL;
            g_autofree char *claim = NULL;

            if (p[i].revents == 0)
                continue;
            value = read_value(fds[i]);
            /* Reopened: a FIFO whose writer left keeps reporting POLLHUP. */
            close(fds[i]);
            fds[i] = open_fifo(k->root, UNBINDS[i]);
            if (value == NULL)
                continue;
            record(k, UNBINDS[i], value);
            /* The writer waits for the probe: whether it holds a claim now is settled. */
            g_mutex_lock(&k->lock);
            claim = k->claim_dir != NULL ? g_build_filename(k->claim_dir, value, NULL) : NULL;
            g_mutex_unlock(&k->lock);
            if (claim != NULL && g_file_test(claim, G_FILE_TEST_EXISTS))
                record(k, "claimed", value);
            dir = g_path_get_dirname(UNBINDS[i]);
            driver = g_path_get_basename(dir);
            now = podvm_test_sriov_driver_of(k->root, value);
            if (g_strcmp0(now, driver) == 0)
                podvm_test_sriov_set_driver(k->root, value, NULL);
            /* Off its own driver towards vfio-pci: bound before its probe is let in. */
            override = override_of(k->root, value);
            if (strcmp(driver, "vfio-pci") != 0 && strcmp(override, "vfio-pci") == 0)
                podvm_test_sriov_set_driver(k->root, value, "vfio-pci");
            go_on = serve_probe(k);
        }
        if (!go_on)
            break;
    }
    for (guint i = 0; i < G_N_ELEMENTS(UNBINDS); i++)
        close(fds[i]);
    return NULL;
}

PodvmTestSriovKernel *
podvm_test_sriov_kernel_start(const char *root)
{
    PodvmTestSriovKernel *k = g_new0(PodvmTestSriovKernel, 1);

    k->root = g_strdup(root);
    g_mutex_init(&k->lock);
    k->writes = g_ptr_array_new_with_free_func(g_free);
    g_assert_cmpint(pipe2(k->stop, O_CLOEXEC), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(UNBINDS); i++)
        make_fifo(root, UNBINDS[i]);
    make_fifo(root, PROBE_REL);
    k->thread = g_thread_new("sriov-kernel", kernel_thread, k);
    return k;
}

GStrv
podvm_test_sriov_kernel_writes(PodvmTestSriovKernel *k)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    g_mutex_lock(&k->lock);
    for (guint i = 0; i < k->writes->len; i++)
        g_strv_builder_add(b, g_ptr_array_index(k->writes, i));
    g_mutex_unlock(&k->lock);
    return g_strv_builder_end(b);
}

void
podvm_test_sriov_kernel_watch_claims(PodvmTestSriovKernel *k, const char *claim_dir)
{
    g_mutex_lock(&k->lock);
    g_free(k->claim_dir);
    k->claim_dir = g_strdup(claim_dir);
    g_mutex_unlock(&k->lock);
}

void
podvm_test_sriov_kernel_stop(PodvmTestSriovKernel *k)
{
    if (k == NULL)
        return;
    g_assert_cmpint(write(k->stop[1], "x", 1), ==, 1);
    g_thread_join(k->thread);
    close(k->stop[0]);
    close(k->stop[1]);
    g_ptr_array_unref(k->writes);
    g_mutex_clear(&k->lock);
    g_free(k->claim_dir);
    g_free(k->root);
    g_free(k);
}
