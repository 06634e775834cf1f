/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SR-IOV through podvmd against a fake sysfs tree (podvm-test-sriov-tree.c:
 * PFs pf0 and pf1 with four VFs each; a thread of this test plays the
 * kernel's side of unbind and drivers_probe), in a network namespace of the
 * test's own. podvmd.conf has "[sriov] sysfs_root" and "dev_root" pointing
 * at the fake trees and "[sriov-pool fast] physical_functions=pf0"; the
 * conflist "fast" is {"type": "podvm-sriov", "pool": "fast"}.
 *
 * What cannot run here: no host has real VFs or an IOMMU, so QEMU's
 * vfio-pci device finds no such device in the real /sys and QEMU exits;
 * the VF's MAC and VLAN are not set on its PF (PODVM_TEST_FAKE=sriov:set-vf:
 * the fake PF exists in the fake tree only); the vfio group devices are
 * character devices made here (mknod), not vfio's. Everything podvmd does
 * up to QEMU's exec and after its exit runs for real: the claim, the
 * vfio-pci binding through sysfs, the group device given to QEMU's user,
 * QEMU's RLIMIT_MEMLOCK, and the VF given back.
 *
 * QEMU is started through a wrapper (PODVM_QEMU) that records, as QEMU's
 * user, what QEMU would find: its uid, `ulimit -l`, the owner of each fake
 * vfio group device and each VF's driver and driver_override.
 */
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "podvm-sriov.h"
#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-sriov-tree.h"
#include "podvm-test-util.h"

#define VF_DRIVER PODVM_TEST_SRIOV_VF_DRIVER

/* Made once by main(): the wrapper, its output, the fake sysfs and /dev (world-readable). */
static char *shared_dir;
static char *wrapper_out;

typedef struct {
    PodvmTestNet net;
    char *sys;
    char *dev;
    char *claim_dir;
    PodvmTestSriovKernel *kernel;
} Fixture;

static const char SRIOV_IFACES[] = "[{\"name\": \"fast\", \"sriov\": {}}]";
static const char SRIOV_NETWORK[] = "[{\"name\": \"fast\", \"multus\": {\"networkName\": "
                                    "\"fast\"}}]";

static const guint8 MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

/* The fake vfio group devices of every VF (groups 11-14, 21-24): character devices. */
static gboolean
make_group_devices(const char *dev, char **reason)
{
    g_autofree char *vfio = g_build_filename(dev, "vfio", NULL);

    g_assert_cmpint(g_mkdir_with_parents(vfio, 0755), ==, 0);
    for (guint pf = 1; pf <= 2; pf++) {
        for (guint i = 1; i <= 4; i++) {
            g_autofree char *name = g_strdup_printf("%u", pf * 10 + i);
            g_autofree char *path = g_build_filename(vfio, name, NULL);

            if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) != 0) {
                *reason = g_strdup_printf("cannot make a character device here (mknod %s: %s)",
                                          path, g_strerror(errno));
                return FALSE;
            }
        }
    }
    return TRUE;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree char *tmp = NULL, *conf = NULL, *fast = NULL, *reason = NULL;
    g_autoptr(GError) error = NULL;

    if (podvm_test_net_skip_reason != NULL) {
        g_test_skip(podvm_test_net_skip_reason);
        return;
    }
    f->sys = g_build_filename(shared_dir, "sys", NULL);
    f->dev = g_build_filename(shared_dir, "dev", NULL);
    podvm_test_rmrf(f->sys);
    podvm_test_rmrf(f->dev);
    (void)g_unlink(wrapper_out);
    if (!make_group_devices(f->dev, &reason)) {
        g_test_skip(reason);
        return;
    }
    podvm_test_sriov_tree_base(f->sys);
    podvm_test_sriov_add_pf(f->sys, "pf0", "0000:3b:00.0", "0000:3b:02", 10);
    podvm_test_sriov_add_pf(f->sys, "pf1", "0000:5e:00.0", "0000:5e:02", 20);

    tmp = podvm_test_mkdtemp();
    f->net.cni_dir = g_build_filename(tmp, "cni", NULL);
    g_mkdir_with_parents(f->net.cni_dir, 0700);
    podvm_test_net_write_conflist(f->net.cni_dir, "10-pods.conflist", "pods", "podvm0",
                                  "10.66.0.0/16", TRUE);
    fast = g_build_filename(f->net.cni_dir, "20-fast.conflist", NULL);
    g_file_set_contents(fast,
                        "{\"cniVersion\": \"1.0.0\", \"name\": \"fast\", \"plugins\": "
                        "[{\"type\": \"podvm-sriov\", \"pool\": \"fast\"}]}",
                        -1, &error);
    g_assert_no_error(error);
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n[sriov]\nsysfs_root=%s\ndev_root=%s\n"
                           "[sriov-pool fast]\nphysical_functions=pf0\n",
                           f->net.cni_dir, f->sys, f->dev);
    f->net.daemon = podvm_test_daemon_new_with_config(conf);
    if (f->net.daemon == NULL)
        return;
    /*
     * The fake kernel's thread starts after the first GTestDBus: that forks
     * GLib's watcher child, which lives until this program ends and then runs
     * LeakSanitizer on its copy of our memory, where a thread that existed at
     * the fork holds memory no thread of its own refers to (a false leak
     * report from a process whose exit nobody checks). podvmd writes nothing
     * to sysfs before a pod starts.
     */
    f->kernel = podvm_test_sriov_kernel_start(f->sys);
    /* The fake PFs exist in the fake tree only: their VFs' MACs are logged, not set. */
    podvm_test_daemon_stop(f->net.daemon);
    podvm_test_daemon_setenv(f->net.daemon, "PODVM_TEST_FAKE", "sriov:set-vf");
    podvm_test_daemon_start(f->net.daemon);
    f->claim_dir = g_build_filename(f->net.daemon->run_dir, "sriov", NULL);
    podvm_test_sriov_kernel_watch_claims(f->kernel, f->claim_dir);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    podvm_test_net_teardown(&f->net, data);
    podvm_test_sriov_kernel_stop(f->kernel);
    if (f->sys != NULL)
        podvm_test_rmrf(f->sys);
    if (f->dev != NULL)
        podvm_test_rmrf(f->dev);
    g_free(f->sys);
    g_free(f->dev);
    g_free(f->claim_dir);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static guint
claim_count(Fixture *f)
{
    g_autoptr(GDir) dir = g_dir_open(f->claim_dir, 0, NULL);
    const char *name;
    guint n = 0;

    while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
        if (name[0] != '.')
            n++;
    }
    return n;
}

static guint
vfio_owner(Fixture *f, const char *group)
{
    g_autofree char *path = g_build_filename(f->dev, "vfio", group, NULL);
    struct stat st;

    g_assert_cmpint(lstat(path, &st), ==, 0);
    return st.st_uid;
}

/* Every VF of both PFs on its own driver with an empty driver_override: nothing is held. */
static void
assert_all_given_back(Fixture *f)
{
    const char *prefixes[] = { "0000:3b:02", "0000:5e:02" };

    for (guint p = 0; p < G_N_ELEMENTS(prefixes); p++) {
        for (guint i = 0; i < 4; i++) {
            g_autofree char *addr = g_strdup_printf("%s.%u", prefixes[p], i);
            g_autofree char *driver = podvm_test_sriov_driver_of(f->sys, addr);
            g_autofree char *rel = g_strdup_printf("bus/pci/devices/%s/driver_override", addr);
            g_autofree char *override = podvm_test_sriov_read(f->sys, rel);
            g_autofree char *group = g_strdup_printf("%u", (p + 1) * 10 + i + 1);

            g_assert_cmpstr(driver, ==, VF_DRIVER);
            g_assert_cmpstr(g_strstrip(override), ==, "");
            g_assert_cmpuint(vfio_owner(f, group), ==, 0);
        }
    }
    g_assert_cmpuint(claim_count(f), ==, 0);
}

/* Waits until the VFs are all given back (the release runs after QEMU's exit), or fails. */
static void
wait_given_back(Fixture *f)
{
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autofree char *driver = podvm_test_sriov_driver_of(f->sys, "0000:3b:02.0");
        g_autofree char *driver2 = podvm_test_sriov_driver_of(f->sys, "0000:3b:02.2");

        if (claim_count(f) == 0 && g_strcmp0(driver, VF_DRIVER) == 0 &&
            g_strcmp0(driver2, VF_DRIVER) == 0)
            break;
        g_usleep(50 * 1000);
    }
    assert_all_given_back(f);
}

/* Starts @name, which must fail; the error's message. */
static char *
start_fails(Fixture *f, const char *name)
{
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->net.daemon, name);
    g_autoptr(GError) error = NULL;

    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    g_assert_nonnull(error);
    g_test_message("start of '%s': %s", name, error->message);
    return g_strdup(error->message);
}

static void
assert_contains(const char *text, const char *needle)
{
    if (text == NULL || strstr(text, needle) == NULL)
        g_error("\"%s\" is not in: %s", needle, text != NULL ? text : "(null)");
}

/* The writes the test's kernel saw, one a line. */
static char *
kernel_writes(Fixture *f)
{
    g_auto(GStrv) writes = podvm_test_sriov_kernel_writes(f->kernel);

    return g_strjoinv("\n", writes);
}

/* The spec of pod @name with an sriov interface (@host_address: hostPciAddress, or NULL). */
static char *
sriov_spec(const char *name, const char *host_address)
{
    g_autofree char *ifaces =
        host_address != NULL
            ? g_strdup_printf("[{\"name\": \"fast\", \"sriov\": {\"hostPciAddress\": \"%s\"}}]",
                              host_address)
            : g_strdup(SRIOV_IFACES);

    return podvm_test_net_spec(name, NULL, ifaces, SRIOV_NETWORK);
}

/* The uid podvmd gave pod @name (its stored metadata.uid). */
static const char *
pod_uid(Fixture *f, const char *name)
{
    static char uid[64];
    g_autofree char *path =
        g_build_filename(f->net.daemon->state_dir, "pods", name, "pod.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    JsonObject *pod;

    json_parser_load_from_file(parser, path, &error);
    g_assert_no_error(error);
    pod = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)), "pod");
    g_strlcpy(uid,
              json_object_get_string_member(json_object_get_object_member(pod, "metadata"), "uid"),
              sizeof uid);
    return uid;
}

/* The fake PF exists in the fake tree only. */
static gboolean
set_vf_nothing(const char *pf_ifname, guint vf_index, const guint8 mac[6], guint vlan,
               gpointer user_data, GError **error)
{
    return TRUE;
}

/* QEMU's RLIMIT_MEMLOCK for the test guest: its 128 MiB and 1 GiB. */
#define MEMLOCK_WANTED ((guint64)(128 + 1024) * 1024 * 1024)

/* Whether this process (as privileged as podvmd) may have a hard RLIMIT_MEMLOCK of @bytes. */
static gboolean
hard_limit_can_reach(guint64 bytes)
{
    struct rlimit now, raised;

    g_assert_cmpint(getrlimit(RLIMIT_MEMLOCK, &now), ==, 0);
    if (now.rlim_max == RLIM_INFINITY || now.rlim_max >= bytes)
        return TRUE;
    raised.rlim_cur = now.rlim_cur;
    raised.rlim_max = bytes;
    return setrlimit(RLIMIT_MEMLOCK, &raised) == 0;
}

/* ---- tests ------------------------------------------------------------------------------ */

/*
 * Create works; start claims the first VF of pf0 and binds it to vfio-pci,
 * gives its group device to QEMU's user and raises QEMU's RLIMIT_MEMLOCK;
 * QEMU then fails (no real vfio device): the pod is Failed with a message
 * naming the device, and the VF is given back.
 */
static void
test_start_claims_and_gives_back(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *message = NULL, *seen = NULL, *writes = NULL;
    g_autofree char *status_message = NULL;
    g_autoptr(GError) error = NULL;
    /* Claimed before it is bound, given back after it is unbound and reprobed. */
    const char *expected_writes = "bus/pci/drivers/" VF_DRIVER "/unbind=0000:3b:02.0\n"
                                  "claimed=0000:3b:02.0\n"
                                  "bus/pci/drivers_probe=0000:3b:02.0\n"
                                  "bus/pci/drivers/vfio-pci/unbind=0000:3b:02.0\n"
                                  "claimed=0000:3b:02.0\n"
                                  "bus/pci/drivers_probe=0000:3b:02.0";
    guint64 memlock_kib = 0;
    g_auto(GStrv) lines = NULL;
    gboolean memlock_seen = FALSE, group_seen = FALSE, vf_seen = FALSE, others_qemus = FALSE;
    gint qemu_uid = -1;

    if (f->net.daemon == NULL)
        return;
    spec = sriov_spec("vf", NULL);
    podvm_test_net_create_pod(&f->net, spec);
    g_assert_cmpuint(claim_count(f), ==, 0);

    message = start_fails(f, "vf");
    assert_contains(message, "0000:3b:02.0");
    g_assert_true(podvm_test_daemon_wait_phase(f->net.daemon, "vf", "Failed", 30000));
    status_message = podvm_test_net_status_string(&f->net, "vf", "message");
    assert_contains(status_message, "0000:3b:02.0");
    wait_given_back(f);
    writes = kernel_writes(f);
    g_assert_cmpstr(writes, ==, expected_writes);

    /* What QEMU found, as its user, while the pod held the VF. */
    g_file_get_contents(wrapper_out, &seen, NULL, &error);
    g_assert_no_error(error);
    g_test_message("QEMU's wrapper saw:\n%s", seen);
    lines = g_strsplit(seen, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) w = g_strsplit(lines[i], " ", -1);

        if (g_strv_length(w) < 2)
            continue;
        if (strcmp(w[0], "uid") == 0) {
            qemu_uid = w[1][0] != '\0' ? (gint)g_ascii_strtoull(w[1], NULL, 10) : -1;
        } else if (strcmp(w[0], "memlock") == 0) {
            memlock_kib = g_ascii_strtoull(w[1], NULL, 10);
            memlock_seen = TRUE;
        } else if (strcmp(w[0], "group") == 0 && g_strv_length(w) == 3) {
            /* Group 11 (of 0000:3b:02.0) is QEMU's user's; no other group is. */
            if (g_str_has_suffix(w[1], "/vfio/11"))
                group_seen = strcmp(w[2], "self") == 0;
            else
                others_qemus |= strcmp(w[2], "self") == 0;
        } else if (strcmp(w[0], "vf") == 0 && strcmp(w[1], "0000:3b:02.0") == 0) {
            g_assert_cmpuint(g_strv_length(w), ==, 4);
            g_assert_cmpstr(w[2], ==, "driver=vfio-pci");
            g_assert_cmpstr(w[3], ==, "override=vfio-pci");
            vf_seen = TRUE;
        }
    }
    g_assert_cmpint(qemu_uid, >=, 0);
    g_assert_true(memlock_seen);
    g_assert_true(vf_seen);
    if (qemu_uid != 0) {
        g_assert_true(group_seen);
        g_assert_false(others_qemus);
    } else {
        g_test_message("QEMU runs as root here (no podvm-qemu user): no group device to give");
    }
    /* The guest's 128 MiB and the 1 GiB vfio may pin beyond it, if podvmd may raise it. */
    if (hard_limit_can_reach(MEMLOCK_WANTED)) {
        g_assert_cmpuint(memlock_kib * 1024, ==, MEMLOCK_WANTED);
    } else {
        g_autofree char *log = NULL;
        struct rlimit now;

        g_assert_cmpint(getrlimit(RLIMIT_MEMLOCK, &now), ==, 0);
        g_test_message("RLIMIT_MEMLOCK cannot be raised here (no CAP_SYS_RESOURCE): QEMU keeps "
                       "the hard limit, %" G_GUINT64_FORMAT " bytes, and podvmd says so",
                       (guint64)now.rlim_max);
        g_assert_cmpuint(memlock_kib * 1024, ==, (guint64)now.rlim_max);
        g_file_get_contents(f->net.daemon->log_path, &log, NULL, NULL);
        assert_contains(log, "QEMU's RLIMIT_MEMLOCK cannot be raised to 1207959552 bytes");
    }
}

/*
 * A start tried again takes the VF the interface already holds (a podvmd
 * that died after the claim left it): no second VF is claimed. With @data,
 * the spec's hostPciAddress names another VF: the one held is given back.
 */
static void
test_retry_reuses_claim(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *message = NULL, *writes = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovPool) pool = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    const char *pfs[] = { "pf0", NULL };
    PodvmSriovHost host = { 0 };
    g_autofree char *owner = NULL;
    const char *wanted = data; /* the spec's hostPciAddress, or NULL */
    const char *bind_and_release_02_2 = "bus/pci/drivers/" VF_DRIVER "/unbind=0000:3b:02.2\n"
                                        "claimed=0000:3b:02.2\n"
                                        "bus/pci/drivers_probe=0000:3b:02.2\n"
                                        "bus/pci/drivers/vfio-pci/unbind=0000:3b:02.2\n"
                                        "claimed=0000:3b:02.2\n"
                                        "bus/pci/drivers_probe=0000:3b:02.2";

    if (f->net.daemon == NULL)
        return;
    spec = sriov_spec("again", wanted);
    podvm_test_net_create_pod(&f->net, spec);
    owner = g_strdup_printf("%s/fast", pod_uid(f, "again"));
    /* The claim an earlier podvmd made for this interface, of the third VF. */
    pool = podvm_sriov_pool_new("fast", pfs, &error);
    g_assert_no_error(error);
    host.sysfs_root = f->sys;
    host.claim_dir = f->claim_dir;
    host.set_vf = set_vf_nothing;
    vf = podvm_sriov_claim_address(&host, pool, "0000:3b:02.2", owner, MAC, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(claim_count(f), ==, 1);

    message = start_fails(f, "again");
    wait_given_back(f);
    writes = kernel_writes(f);
    if (wanted == NULL) {
        /* Bound once (by the earlier claim), given back once; 0000:3b:02.0 never touched. */
        assert_contains(message, "0000:3b:02.2");
        g_assert_cmpstr(writes, ==, bind_and_release_02_2);
    } else {
        /* The spec names another VF now: the one held is given back, that one claimed. */
        g_autofree char *expected =
            g_strconcat(bind_and_release_02_2, "\nbus/pci/drivers/" VF_DRIVER "/unbind=", wanted,
                        "\nclaimed=", wanted, "\nbus/pci/drivers_probe=", wanted,
                        "\nbus/pci/drivers/vfio-pci/unbind=", wanted, "\nclaimed=", wanted,
                        "\nbus/pci/drivers_probe=", wanted, NULL);

        assert_contains(message, wanted);
        g_assert_cmpstr(writes, ==, expected);
    }
}

/*
 * A VF plugged into a running pod (podvmctl attach-nic): claimed, bound,
 * its group given to QEMU's user and QEMU's RLIMIT_MEMLOCK raised (prlimit);
 * QEMU's device_add then fails (no real device), the attach fails naming
 * it, the VF is given back and the pod runs on.
 */
static void
test_hotplug(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *path = NULL, *out = NULL, *err = NULL, *log = NULL;
    g_autofree char *phase = NULL, *writes = NULL;
    g_autoptr(GError) error = NULL;
    int rc;

    if (f->net.daemon == NULL)
        return;
    spec = podvm_test_net_spec("hot", NULL, "[{\"name\": \"default\", \"masquerade\": {}}]",
                               "[{\"name\": \"default\", \"pod\": {}}]");
    podvm_test_net_create_pod(&f->net, spec);
    podvm_test_net_start_pod(&f->net, "hot");
    podvm_test_net_wait_console(&f->net, "hot", "PODVM-NET eth0 up 10.0.2.2/24",
                                PODVM_TEST_NET_BOOT_TIMEOUT_MS);

    path = g_build_filename(f->net.daemon->tmpdir, "vf.json", NULL);
    g_file_set_contents(path,
                        "{\"interface\": {\"name\": \"fast\", \"sriov\": {}}, \"network\": "
                        "{\"name\": \"fast\", \"multus\": {\"networkName\": \"fast\"}}}",
                        -1, &error);
    g_assert_no_error(error);
    rc = podvm_test_ctl(f->net.daemon, &out, &err, "attach-nic", "hot", "-f", path, NULL);
    g_test_message("attach-nic: %d: %s", rc, err);
    g_assert_cmpint(rc, !=, 0);
    assert_contains(err, "0000:3b:02.0");
    wait_given_back(f);
    writes = kernel_writes(f);
    g_assert_cmpstr(writes, ==,
                    "bus/pci/drivers/" VF_DRIVER "/unbind=0000:3b:02.0\n"
                    "claimed=0000:3b:02.0\n"
                    "bus/pci/drivers_probe=0000:3b:02.0\n"
                    "bus/pci/drivers/vfio-pci/unbind=0000:3b:02.0\n"
                    "claimed=0000:3b:02.0\n"
                    "bus/pci/drivers_probe=0000:3b:02.0");
    phase = podvm_test_daemon_phase(f->net.daemon, "hot");
    g_assert_cmpstr(phase, ==, "Running");
    g_file_get_contents(f->net.daemon->log_path, &log, NULL, NULL);
    /* Raised by prlimit, or (no CAP_SYS_RESOURCE here) podvmd says it cannot be. */
    if (hard_limit_can_reach(MEMLOCK_WANTED)) {
        g_assert_null(strstr(log, "cannot raise QEMU's RLIMIT_MEMLOCK"));
        g_assert_null(strstr(log, "RLIMIT_MEMLOCK cannot be raised"));
    } else {
        assert_contains(log, "pod 'hot': QEMU's RLIMIT_MEMLOCK cannot be raised to 1207959552");
    }
}

/* A claim made here, as a podvmd that died before storing it made it. */
static void
claim_here(Fixture *f, const char *address, const char *owner)
{
    const char *pfs[] = { "pf0", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovPool) pool = podvm_sriov_pool_new("fast", pfs, &error);
    g_autoptr(PodvmSriovVf) vf = NULL;
    PodvmSriovHost host = { 0 };

    g_assert_no_error(error);
    host.sysfs_root = f->sys;
    host.claim_dir = f->claim_dir;
    host.set_vf = set_vf_nothing;
    vf = podvm_sriov_claim_address(&host, pool, address, owner, MAC, 0, &error);
    g_assert_no_error(error);
}

static gboolean
claimed(Fixture *f, const char *address)
{
    g_autofree char *path = g_build_filename(f->claim_dir, address, NULL);

    return g_file_test(path, G_FILE_TEST_EXISTS);
}

/*
 * A restarted podvmd gives back the VFs claimed for pods it does not have
 * (one deleted after a podvmd died between the claim and storing it), and
 * leaves a pod's own, which its next start takes.
 */
static void
test_orphan_claims(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *owner = NULL, *message = NULL, *driver = NULL;
    gint64 deadline;

    if (f->net.daemon == NULL)
        return;
    spec = sriov_spec("kept", NULL);
    podvm_test_net_create_pod(&f->net, spec);
    owner = g_strdup_printf("%s/fast", pod_uid(f, "kept"));
    claim_here(f, "0000:3b:02.1", owner);
    claim_here(f, "0000:3b:02.3", "00000000-0000-4000-8000-000000000000/fast");
    g_assert_cmpuint(claim_count(f), ==, 2);

    podvm_test_daemon_stop(f->net.daemon);
    podvm_test_daemon_start(f->net.daemon);
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (claimed(f, "0000:3b:02.3") && g_get_monotonic_time() < deadline)
        g_usleep(50 * 1000);
    g_assert_false(claimed(f, "0000:3b:02.3"));
    driver = podvm_test_sriov_driver_of(f->sys, "0000:3b:02.3");
    g_assert_cmpstr(driver, ==, VF_DRIVER);
    g_assert_true(claimed(f, "0000:3b:02.1"));

    message = start_fails(f, "kept");
    assert_contains(message, "0000:3b:02.1");
    wait_given_back(f);
}

static void
expect_create_refused(Fixture *f, const char *name, const char *interfaces, const char *path)
{
    g_autofree char *spec = podvm_test_net_spec(name, NULL, interfaces, SRIOV_NETWORK);
    g_autofree char *object_path = NULL;
    g_autoptr(GError) error = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->net.daemon->manager, spec, &object_path, NULL,
                                            &error);
    g_assert_nonnull(error);
    assert_contains(error->message, path);
}

/* Created, but its start refused before anything is written: the message has @needles. */
static void
expect_start_refused(Fixture *f, const char *name, const char *address, const char *needle)
{
    g_autofree char *spec = sriov_spec(name, address);
    g_autofree char *message = NULL;

    podvm_test_net_create_pod(&f->net, spec);
    message = start_fails(f, name);
    assert_contains(message, "spec.domain.devices.interfaces[0].sriov.hostPciAddress");
    assert_contains(message, address);
    assert_contains(message, needle);
    g_assert_true(podvm_test_daemon_wait_phase(f->net.daemon, name, "Failed", 30000));
}

/* Bad input is refused with its path, and nothing is claimed or written. */
static void
test_bad_input(Fixture *f, gconstpointer data)
{
    g_autofree char *writes = NULL;

    if (f->net.daemon == NULL)
        return;
    expect_create_refused(f, "dots",
                          "[{\"name\": \"fast\", \"sriov\": {\"hostPciAddress\": "
                          "\"0000:../../x\"}}]",
                          "spec.domain.devices.interfaces[0].sriov.hostPciAddress");
    expect_create_refused(f, "masq", "[{\"name\": \"fast\", \"masquerade\": {}}]",
                          "spec.domain.devices.interfaces[0]");
    /* A PF is no VF; a VF of pf1 is outside the pool. */
    expect_start_refused(f, "pf", "0000:3b:00.0", "physfn");
    expect_start_refused(f, "outside", "0000:5e:02.0", "not in SR-IOV pool 'fast'");
    assert_all_given_back(f);
    writes = kernel_writes(f);
    g_assert_cmpstr(writes, ==, "");
}

/* The wrapper QEMU is started through: what QEMU's user finds, then QEMU itself. */
static void
write_wrapper(const char *qemu)
{
    g_autofree char *path = g_build_filename(shared_dir, "qemu", NULL);
    g_autofree char *text = g_strdup_printf(
        "#!/bin/sh\n"
        "case \"$*\" in\n"
        "*vfio-pci*)\n"
        "    {\n"
        "        echo \"uid $(id -u)\"\n"
        "        echo \"memlock $(ulimit -l)\"\n"
        "        for g in %s/dev/vfio/*; do\n"
        "            if [ \"$(stat -c %%u \"$g\")\" = \"$(id -u)\" ]; then echo \"group $g "
        "self\";\n"
        "            else echo \"group $g other\"; fi\n"
        "        done\n"
        "        for d in %s/sys/bus/pci/devices/*; do\n"
        "            [ -e \"$d/physfn\" ] || continue\n"
        "            echo \"vf ${d##*/} driver=$(basename \"$(readlink \"$d/driver\")\")"
        " override=$(cat \"$d/driver_override\")\"\n"
        "        done\n"
        "    } >>%s 2>&1 ;;\n"
        "esac\n"
        "exec %s \"$@\"\n",
        shared_dir, shared_dir, wrapper_out, qemu);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
    g_assert_cmpint(chmod(path, 0755), ==, 0);
    g_setenv("PODVM_QEMU", path, TRUE);
}

int
main(int argc, char **argv)
{
    g_autofree char *qemu = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *out_dir = NULL;
    int status;

    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    /* QEMU's user reads the fake trees and writes what it saw: a world-readable directory. */
    shared_dir = g_dir_make_tmp("podvm-sriov-XXXXXX", &error);
    g_assert_no_error(error);
    g_assert_cmpint(chmod(shared_dir, 0755), ==, 0);
    out_dir = g_build_filename(shared_dir, "out", NULL);
    g_assert_cmpint(g_mkdir(out_dir, 0777), ==, 0);
    g_assert_cmpint(chmod(out_dir, 0777), ==, 0);
    wrapper_out = g_build_filename(out_dir, "qemu-saw", NULL);
    qemu = g_find_program_in_path(podvm_test_qemu_binary());
    if (qemu != NULL)
        write_wrapper(qemu);

    g_test_add("/net/sriov-pods/start-claims-and-gives-back", Fixture, NULL, fixture_setup,
               test_start_claims_and_gives_back, fixture_teardown);
    g_test_add("/net/sriov-pods/retry-reuses-claim", Fixture, NULL, fixture_setup,
               test_retry_reuses_claim, fixture_teardown);
    g_test_add("/net/sriov-pods/retry-other-address", Fixture, "0000:3b:02.1", fixture_setup,
               test_retry_reuses_claim, fixture_teardown);
    g_test_add("/net/sriov-pods/orphan-claims", Fixture, NULL, fixture_setup, test_orphan_claims,
               fixture_teardown);
    g_test_add("/net/sriov-pods/hotplug", Fixture, NULL, fixture_setup, test_hotplug,
               fixture_teardown);
    g_test_add("/net/sriov-pods/bad-input", Fixture, NULL, fixture_setup, test_bad_input,
               fixture_teardown);
    status = g_test_run();
    podvm_test_rmrf(shared_dir);
    g_free(shared_dir);
    g_free(wrapper_out);
    return status;
}
