/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SR-IOV against a fake sysfs tree: two PFs with four VFs each, laid out as
 * the kernel lays them out (devices/, bus/pci/devices/ links, physfn,
 * virtfnN, iommu_group, driver, driver_override, drivers_probe, each
 * driver's unbind). The test plays the kernel through the host's "wrote"
 * hook: an unbind drops the driver link, a probe binds the driver named in
 * driver_override (vfio-pci only while the fake vfio-pci is "loaded"), else
 * the VF's own driver. Every write is recorded, so each case asserts
 * exactly what was written, and the refused ones that nothing was.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "podvm-config.h"
#include "podvm-error.h"
#include "podvm-sriov.h"
#include "podvm-test-sriov-tree.h"
#include "podvm-test-util.h"

#define PF0 "ens1f0"
#define PF1 "ens1f1"
#define PF0_ADDR "0000:3b:00.0"
#define PF1_ADDR "0000:5e:00.0"
#define VF_DRIVER PODVM_TEST_SRIOV_VF_DRIVER

typedef struct {
    char *tmp;
    char *root;      /* the fake sysfs */
    char *claim_dir; /* claims */
    PodvmSriovHost host;
    GPtrArray *writes;    /* "PATH-BELOW-ROOT=VALUE" */
    GPtrArray *set_vfs;   /* "PF/INDEX/MAC/VLAN" */
    gboolean vfio_loaded; /* whether a probe with driver_override=vfio-pci binds */
    gboolean set_vf_fails;
    PodvmSriovPool *both; /* PF0;PF1 */
    PodvmSriovPool *one;  /* PF1 only */
} Fixture;

/* podvm-net's warnings, captured (each test that expects one takes it; teardown checks none
 * is left); its messages shown with --verbose only. */
static GPtrArray *warnings;

static GLogWriterOutput
capture_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    const char *domain = NULL;
    const char *message = NULL;

    for (gsize i = 0; i < n_fields; i++) {
        if (fields[i].length != -1)
            continue;
        if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
        else if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    }
    if (g_strcmp0(domain, "podvm-net") != 0)
        return g_log_writer_default(level, fields, n_fields, user_data);
    if ((level & G_LOG_LEVEL_WARNING) != 0) {
        g_ptr_array_add(warnings, g_strdup(message));
        return G_LOG_WRITER_HANDLED;
    }
    if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0)
        return g_log_writer_default(level, fields, n_fields, user_data);
    if (g_test_verbose())
        g_test_message("%s: %s", domain, message);
    return G_LOG_WRITER_HANDLED;
}

static const guint8 MAC_A[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const guint8 MAC_B[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

/* ---- the fake tree (podvm-test-sriov-tree.c) ---------------------------------------------- */

#define mkdirs podvm_test_sriov_mkdirs
#define touch podvm_test_sriov_touch
#define symlink_at podvm_test_sriov_symlink
#define read_rel podvm_test_sriov_read

static char *
driver_of(Fixture *f, const char *addr)
{
    return podvm_test_sriov_driver_of(f->root, addr);
}

static void
set_driver(Fixture *f, const char *addr, const char *driver)
{
    podvm_test_sriov_set_driver(f->root, addr, driver);
}

/* The kernel's side of each write. */
static void
wrote_cb(const char *path, const char *value, gpointer user_data)
{
    Fixture *f = user_data;
    const char *rel = path + strlen(f->root) + 1;
    g_autofree char *shown = g_strescape(value, NULL);

    g_assert_true(g_str_has_prefix(path, f->root));
    g_ptr_array_add(f->writes, g_strdup_printf("%s=%s", rel, shown));
    podvm_test_sriov_tree_wrote(f->root, rel, value, f->vfio_loaded);
}

static gboolean
set_vf_cb(const char *pf_ifname, guint vf_index, const guint8 mac[6], guint vlan,
          gpointer user_data, GError **error)
{
    Fixture *f = user_data;

    if (f->set_vf_fails) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED, "the fake PF says no");
        return FALSE;
    }
    g_ptr_array_add(f->set_vfs,
                    g_strdup_printf("%s/%u/%02x:%02x:%02x:%02x:%02x:%02x/%u", pf_ifname, vf_index,
                                    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], vlan));
    return TRUE;
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    const char *both[] = { PF0, PF1, NULL };
    const char *one[] = { PF1, NULL };
    g_autoptr(GError) error = NULL;

    f->tmp = podvm_test_mkdtemp();
    f->root = g_build_filename(f->tmp, "sys", NULL);
    f->claim_dir = g_build_filename(f->tmp, "claims", NULL);
    podvm_test_sriov_tree_base(f->root);
    podvm_test_sriov_add_pf(f->root, PF0, PF0_ADDR, "0000:3b:02", 10);
    podvm_test_sriov_add_pf(f->root, PF1, PF1_ADDR, "0000:5e:02", 20);

    f->writes = g_ptr_array_new_with_free_func(g_free);
    f->set_vfs = g_ptr_array_new_with_free_func(g_free);
    f->vfio_loaded = TRUE;
    f->host.sysfs_root = f->root;
    f->host.claim_dir = f->claim_dir;
    f->host.set_vf = set_vf_cb;
    f->host.set_vf_data = f;
    f->host.wrote = wrote_cb;
    f->host.wrote_data = f;
    f->both = podvm_sriov_pool_new("fast", both, &error);
    g_assert_no_error(error);
    f->one = podvm_sriov_pool_new("one", one, &error);
    g_assert_no_error(error);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    for (guint i = 0; i < warnings->len; i++)
        g_test_message("unexpected warning: %s", (const char *)g_ptr_array_index(warnings, i));
    g_assert_cmpuint(warnings->len, ==, 0);
    podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
    g_free(f->root);
    g_free(f->claim_dir);
    g_ptr_array_unref(f->writes);
    g_ptr_array_unref(f->set_vfs);
    podvm_sriov_pool_free(f->both);
    podvm_sriov_pool_free(f->one);
}

static void
assert_writes(Fixture *f, const char *const *expected)
{
    guint n = g_strv_length((char **)expected);

    for (guint i = 0; i < f->writes->len; i++)
        g_test_message("write %u: %s", i, (const char *)g_ptr_array_index(f->writes, i));
    g_assert_cmpuint(f->writes->len, ==, n);
    for (guint i = 0; i < n; i++)
        g_assert_cmpstr(g_ptr_array_index(f->writes, i), ==, expected[i]);
    g_ptr_array_set_size(f->writes, 0);
}

static gboolean
claimed(Fixture *f, const char *addr)
{
    g_autofree char *path = g_build_filename(f->claim_dir, addr, NULL);

    return g_file_test(path, G_FILE_TEST_EXISTS);
}

static guint
claim_count(Fixture *f)
{
    g_autoptr(GDir) dir = g_dir_open(f->claim_dir, 0, NULL);
    guint n = 0;

    while (dir != NULL && g_dir_read_name(dir) != NULL)
        n++;
    return n;
}

/* ---- claim, release, restart ------------------------------------------------------------ */

static void
test_claim_and_release(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autoptr(PodvmSriovVf) vf2 = NULL;
    g_autofree char *driver = NULL;
    g_autofree char *override = NULL;
    const char *claim_writes[] = {
        "bus/pci/devices/0000:3b:02.0/driver_override=vfio-pci",
        "bus/pci/drivers/" VF_DRIVER "/unbind=0000:3b:02.0",
        "bus/pci/drivers_probe=0000:3b:02.0",
        NULL,
    };
    const char *release_writes[] = {
        "bus/pci/drivers/vfio-pci/unbind=0000:3b:02.0",
        "bus/pci/devices/0000:3b:02.0/driver_override=\\n",
        "bus/pci/drivers_probe=0000:3b:02.0",
        NULL,
    };

    vf = podvm_sriov_claim(&f->host, f->both, "uid-1/net1", MAC_A, 100, &error);
    g_assert_no_error(error);
    g_assert_nonnull(vf);
    g_assert_cmpstr(vf->pci_address, ==, "0000:3b:02.0");
    g_assert_cmpstr(vf->pf_ifname, ==, PF0);
    g_assert_cmpuint(vf->vf_index, ==, 0);
    g_assert_cmpstr(vf->iommu_group, ==, "11");
    g_assert_cmpstr(vf->original_driver, ==, VF_DRIVER);
    /* MAC and VLAN first, on the PF, then the writes of a bind, in order. */
    g_assert_cmpuint(f->set_vfs->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(f->set_vfs, 0), ==, PF0 "/0/52:54:00:12:34:56/100");
    assert_writes(f, claim_writes);
    driver = driver_of(f, "0000:3b:02.0");
    g_assert_cmpstr(driver, ==, "vfio-pci");
    g_assert_true(claimed(f, "0000:3b:02.0"));
    /* What the files hold now (the writes were real). */
    override = read_rel(f->root, "bus/pci/devices/0000:3b:02.0/driver_override");
    g_assert_cmpstr(override, ==, "vfio-pci");
    g_clear_pointer(&override, g_free);
    override = read_rel(f->root, "bus/pci/drivers_probe");
    g_assert_cmpstr(override, ==, "0000:3b:02.0");
    g_clear_pointer(&override, g_free);

    /* A second claim gets the next VF. */
    vf2 = podvm_sriov_claim(&f->host, f->both, "uid-2/net1", MAC_B, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vf2->pci_address, ==, "0000:3b:02.1");
    g_assert_cmpuint(vf2->vf_index, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(f->set_vfs, 1), ==, PF0 "/1/52:54:00:ab:cd:ef/0");
    g_ptr_array_set_size(f->writes, 0);

    /* Release: off vfio-pci, override cleared, MAC/VLAN cleared, the old driver back. */
    g_assert_true(podvm_sriov_release(&f->host, "0000:3b:02.0", &error));
    g_assert_no_error(error);
    assert_writes(f, release_writes);
    g_assert_cmpstr(g_ptr_array_index(f->set_vfs, 2), ==, PF0 "/0/00:00:00:00:00:00/0");
    g_clear_pointer(&driver, g_free);
    driver = driver_of(f, "0000:3b:02.0");
    g_assert_cmpstr(driver, ==, VF_DRIVER);
    g_assert_false(claimed(f, "0000:3b:02.0"));
    override = read_rel(f->root, "bus/pci/devices/0000:3b:02.0/driver_override");
    g_assert_cmpstr(override, ==, "\n");

    /* Released twice: nothing to do, nothing written. */
    g_assert_true(podvm_sriov_release(&f->host, "0000:3b:02.0", &error));
    g_assert_no_error(error);
    g_assert_cmpuint(f->writes->len, ==, 0);

    /* The freed VF is the next one handed out. */
    g_clear_pointer(&vf, podvm_sriov_vf_free);
    vf = podvm_sriov_claim(&f->host, f->both, "uid-3/net1", MAC_A, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vf->pci_address, ==, "0000:3b:02.0");
}

static void
test_exhausted(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) none = NULL;

    for (guint i = 0; i < 4; i++) {
        g_autofree char *owner = g_strdup_printf("uid-%u/net1", i);
        g_autofree char *want = g_strdup_printf("0000:5e:02.%u", i);
        g_autoptr(PodvmSriovVf) vf = podvm_sriov_claim(&f->host, f->one, owner, MAC_A, 0, &error);

        g_assert_no_error(error);
        g_assert_cmpstr(vf->pci_address, ==, want);
        g_assert_cmpstr(vf->pf_ifname, ==, PF1);
    }
    g_ptr_array_set_size(f->writes, 0);
    g_ptr_array_set_size(f->set_vfs, 0);
    none = podvm_sriov_claim(&f->host, f->one, "uid-9/net1", MAC_A, 0, &error);
    g_assert_null(none);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "'one' has no free virtual function"));
    g_assert_cmpuint(f->writes->len, ==, 0);
    g_assert_cmpuint(f->set_vfs->len, ==, 0);
    g_assert_cmpuint(claim_count(f), ==, 4);
    g_clear_error(&error);

    /* The bigger pool still has PF0's four. */
    none = podvm_sriov_claim(&f->host, f->both, "uid-9/net1", MAC_A, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(none->pci_address, ==, "0000:3b:02.0");
}

static void
test_claims_survive_restart(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) mine = NULL;
    g_auto(GStrv) theirs = NULL;
    g_auto(GStrv) nobody = NULL;
    g_autoptr(GHashTable) all = NULL;
    PodvmSriovHost again = { 0 };
    const char *want[] = { "0000:3b:02.0", "0000:5e:02.0", NULL };

    for (guint i = 0; i < 3; i++) {
        const char *owner = i == 1 ? "uid-B/net1" : "uid-A/net1";
        g_autoptr(PodvmSriovVf) vf = NULL;

        vf = i == 2 ? podvm_sriov_claim_address(&f->host, f->both, "0000:5e:02.0", owner, MAC_A, 7,
                                                &error)
                    : podvm_sriov_claim(&f->host, f->both, owner, MAC_A, 0, &error);
        g_assert_no_error(error);
    }
    /* A new podvmd: a host of its own, the same directories; a leftover temporary file. */
    touch(f->tmp, "claims/.claim-abcdef");
    again.sysfs_root = f->root;
    again.claim_dir = f->claim_dir;
    mine = podvm_sriov_claims_of(&again, "uid-A/net1");
    g_assert_cmpstrv(mine, want);
    theirs = podvm_sriov_claims_of(&again, "uid-B/net1");
    g_assert_cmpuint(g_strv_length(theirs), ==, 1);
    g_assert_cmpstr(theirs[0], ==, "0000:3b:02.1");
    nobody = podvm_sriov_claims_of(&again, "uid-C/net1");
    g_assert_cmpuint(g_strv_length(nobody), ==, 0);
    all = podvm_sriov_claims(&again);
    g_assert_cmpuint(g_hash_table_size(all), ==, 3);
    g_assert_cmpstr(g_hash_table_lookup(all, "0000:3b:02.0"), ==, "uid-A/net1");
    g_assert_cmpstr(g_hash_table_lookup(all, "0000:3b:02.1"), ==, "uid-B/net1");
    g_assert_cmpstr(g_hash_table_lookup(all, "0000:5e:02.0"), ==, "uid-A/net1");

    /* And it gives them back from the claim alone. */
    g_ptr_array_set_size(f->writes, 0);
    again.wrote = wrote_cb;
    again.wrote_data = f;
    again.set_vf = set_vf_cb;
    again.set_vf_data = f;
    for (guint i = 0; mine[i] != NULL; i++) {
        g_autofree char *driver = NULL;

        g_assert_true(podvm_sriov_release(&again, mine[i], &error));
        g_assert_no_error(error);
        driver = driver_of(f, mine[i]);
        g_assert_cmpstr(driver, ==, VF_DRIVER);
    }
    g_assert_cmpuint(f->writes->len, ==, 6);
    g_strfreev(mine);
    mine = podvm_sriov_claims_of(&again, "uid-A/net1");
    g_assert_cmpuint(g_strv_length(mine), ==, 0);
}

/* ---- the one VF a spec names ------------------------------------------------------------ */

static void
test_claim_address(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autoptr(PodvmSriovVf) next = NULL;
    const char *writes[] = {
        "bus/pci/devices/0000:5e:02.2/driver_override=vfio-pci",
        "bus/pci/drivers/" VF_DRIVER "/unbind=0000:5e:02.2",
        "bus/pci/drivers_probe=0000:5e:02.2",
        NULL,
    };

    vf = podvm_sriov_claim_address(&f->host, f->both, "0000:5e:02.2", "uid-1/net2", MAC_B, 4095,
                                   &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vf->pf_ifname, ==, PF1);
    g_assert_cmpuint(vf->vf_index, ==, 2);
    g_assert_cmpstr(vf->iommu_group, ==, "23");
    g_assert_cmpstr(g_ptr_array_index(f->set_vfs, 0), ==, PF1 "/2/52:54:00:ab:cd:ef/4095");
    assert_writes(f, writes);

    /* An automatic claim passes over it. */
    for (guint i = 0; i < 6; i++) {
        g_clear_pointer(&next, podvm_sriov_vf_free);
        next = podvm_sriov_claim(&f->host, f->both, "uid-2/net1", MAC_A, 0, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(next->pci_address, !=, "0000:5e:02.2");
    }
    g_clear_pointer(&next, podvm_sriov_vf_free);
    next = podvm_sriov_claim(&f->host, f->both, "uid-2/net1", MAC_A, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(next->pci_address, ==, "0000:5e:02.3");
}

/* A VF on no driver: no unbind at the claim, no probe at the release. */
static void
test_unbound_vf(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autofree char *driver = NULL;
    const char *claim_writes[] = {
        "bus/pci/devices/0000:3b:02.3/driver_override=vfio-pci",
        "bus/pci/drivers_probe=0000:3b:02.3",
        NULL,
    };
    const char *release_writes[] = {
        "bus/pci/drivers/vfio-pci/unbind=0000:3b:02.3",
        "bus/pci/devices/0000:3b:02.3/driver_override=\\n",
        NULL,
    };

    set_driver(f, "0000:3b:02.3", NULL);
    vf = podvm_sriov_claim_address(&f->host, f->both, "0000:3b:02.3", "uid-1/net1", MAC_A, 0,
                                   &error);
    g_assert_no_error(error);
    g_assert_null(vf->original_driver);
    assert_writes(f, claim_writes);
    g_assert_true(podvm_sriov_release(&f->host, "0000:3b:02.3", &error));
    g_assert_no_error(error);
    assert_writes(f, release_writes);
    driver = driver_of(f, "0000:3b:02.3");
    g_assert_null(driver);
}

/* A VF an administrator put on vfio-pci beforehand stays there. */
static void
test_prebound_vfio(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autofree char *driver = NULL;

    set_driver(f, "0000:3b:02.0", "vfio-pci");
    vf = podvm_sriov_claim(&f->host, f->both, "uid-1/net1", MAC_A, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vf->original_driver, ==, "vfio-pci");
    g_assert_cmpuint(f->writes->len, ==, 0);
    g_assert_true(podvm_sriov_release(&f->host, "0000:3b:02.0", &error));
    g_assert_no_error(error);
    g_assert_cmpuint(f->writes->len, ==, 0);
    driver = driver_of(f, "0000:3b:02.0");
    g_assert_cmpstr(driver, ==, "vfio-pci");
    g_assert_false(claimed(f, "0000:3b:02.0"));
}

/* ---- failures leave nothing --------------------------------------------------------------- */

static void
test_vfio_not_loaded(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autofree char *driver = NULL;
    g_autofree char *override = NULL;
    const char *writes[] = {
        "bus/pci/devices/0000:3b:02.0/driver_override=vfio-pci",
        "bus/pci/drivers/" VF_DRIVER "/unbind=0000:3b:02.0",
        "bus/pci/drivers_probe=0000:3b:02.0",
        /* undone: */
        "bus/pci/devices/0000:3b:02.0/driver_override=\\n",
        "bus/pci/drivers_probe=0000:3b:02.0",
        NULL,
    };

    f->vfio_loaded = FALSE;
    vf = podvm_sriov_claim(&f->host, f->both, "uid-1/net1", MAC_A, 0, &error);
    g_assert_null(vf);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "did not bind to vfio-pci"));
    g_assert_nonnull(strstr(error->message, "0000:3b:02.0"));
    assert_writes(f, writes);
    driver = driver_of(f, "0000:3b:02.0");
    g_assert_cmpstr(driver, ==, VF_DRIVER);
    override = read_rel(f->root, "bus/pci/devices/0000:3b:02.0/driver_override");
    g_assert_cmpstr(override, ==, "\n");
    g_assert_cmpuint(claim_count(f), ==, 0);
}

static void
test_set_vf_fails(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;

    f->set_vf_fails = TRUE;
    vf = podvm_sriov_claim(&f->host, f->both, "uid-1/net1", MAC_A, 0, &error);
    g_assert_null(vf);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "the fake PF says no"));
    g_assert_cmpuint(f->writes->len, ==, 0);
    g_assert_cmpuint(claim_count(f), ==, 0);
}

/* The files a claim writes, all still empty. */
static void
assert_nothing_written(Fixture *f)
{
    const char *files[] = { "bus/pci/drivers_probe", "bus/pci/drivers/" VF_DRIVER "/unbind",
                            "bus/pci/drivers/vfio-pci/unbind", "bus/pci/drivers/ixgbe/unbind" };

    g_assert_cmpuint(f->writes->len, ==, 0);
    g_assert_cmpuint(f->set_vfs->len, ==, 0);
    g_assert_cmpuint(claim_count(f), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *text = read_rel(f->root, files[i]);

        g_assert_cmpstr(text, ==, "");
    }
    for (guint pf = 0; pf < 2; pf++) {
        for (guint i = 0; i < 4; i++) {
            g_autofree char *rel = g_strdup_printf("bus/pci/devices/0000:%s:02.%u/driver_override",
                                                   pf == 0 ? "3b" : "5e", i);
            g_autofree char *text = read_rel(f->root, rel);
            g_autofree char *addr = g_strdup_printf("0000:%s:02.%u", pf == 0 ? "3b" : "5e", i);
            g_autofree char *driver = driver_of(f, addr);

            g_assert_cmpstr(text, ==, "");
            g_assert_cmpstr(driver, !=, "vfio-pci");
        }
    }
}

static void
assert_refused(Fixture *f, const PodvmSriovPool *pool, const char *address, int code,
               const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf =
        podvm_sriov_claim_address(&f->host, pool, address, "uid-1/net1", MAC_A, 0, &error);

    g_assert_null(vf);
    g_test_message("%s: %s", address, error != NULL ? error->message : "(no error)");
    g_assert_error(error, PODVM_ERROR, code);
    g_assert_nonnull(strstr(error->message, needle));
    assert_nothing_written(f);
}

static void
test_bad_addresses(Fixture *f, gconstpointer data)
{
    const char *bad_grammar[] = {
        "",
        "..",
        "../../../etc",
        "0000:3b:02.0/..",
        "0000:3b:02.0/../../../../../etc/passwd",
        "0000:3b:02.0/driver",
        "0000:3b:02..0",
        "0000:3B:02.0",
        "0000:3b:02.8",
        "0000:3b:20.0",
        "000:3b:02.0",
        "00000:3b:02.0",
        "3b:02.0",
        "0000:3b:02.0 ",
        " 0000:3b:02.0",
        "0000:3b:02.0\n",
        "0000:3b:02",
        "0000-3b-02.0",
        "0000:3b:02.0x",
        "0000:3g:02.0",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad_grammar); i++) {
        g_assert_false(podvm_pci_address_is_valid(bad_grammar[i]));
        assert_refused(f, f->both, bad_grammar[i], PODVM_ERROR_INVALID_ARGUMENT, "bad PCI address");
    }
    g_assert_true(podvm_pci_address_is_valid("0000:3b:02.0"));
    g_assert_true(podvm_pci_address_is_valid("ffff:ff:1f.7"));
    g_assert_false(podvm_pci_address_is_valid(NULL));

    /* A PF, not a VF. */
    assert_refused(f, f->both, PF0_ADDR, PODVM_ERROR_INVALID_ARGUMENT,
                   "not an SR-IOV virtual function");
    /* No such device. */
    assert_refused(f, f->both, "0000:3b:02.7", PODVM_ERROR_NOT_FOUND, "no PCI device 0000:3b:02.7");
    /* A VF of a PF outside the pool. */
    assert_refused(f, f->one, "0000:3b:02.1", PODVM_ERROR_PERMISSION_DENIED,
                   "not in SR-IOV pool 'one'");
}

static void
test_taken(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autoptr(PodvmSriovVf) again = NULL;

    vf = podvm_sriov_claim_address(&f->host, f->both, "0000:3b:02.2", "uid-1/net1", MAC_A, 0,
                                   &error);
    g_assert_no_error(error);
    g_ptr_array_set_size(f->writes, 0);
    g_ptr_array_set_size(f->set_vfs, 0);
    again = podvm_sriov_claim_address(&f->host, f->both, "0000:3b:02.2", "uid-2/net1", MAC_B, 0,
                                      &error);
    g_assert_null(again);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "0000:3b:02.2 is already claimed"));
    g_assert_cmpuint(f->writes->len, ==, 0);
    g_assert_cmpuint(f->set_vfs->len, ==, 0);
    g_assert_cmpuint(claim_count(f), ==, 1);
}

/* A VF without an IOMMU group, or sharing its group, is refused by address and passed over. */
static void
test_iommu_groups(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autofree char *group_link =
        g_build_filename(f->root, "devices/pci0000:00/0000:5e:02.0", "iommu_group", NULL);

    g_assert_cmpint(unlink(group_link), ==, 0);
    symlink_at(f->root, "kernel/iommu_groups/22/devices/0000:5e:00.0",
               "../../../../devices/pci0000:00/0000:5e:00.0");

    assert_refused(f, f->one, "0000:5e:02.0", PODVM_ERROR_NOT_SUPPORTED, "has no IOMMU group");
    assert_refused(f, f->one, "0000:5e:02.1", PODVM_ERROR_NOT_SUPPORTED,
                   "shares IOMMU group 22 with \"0000:5e:00.0\"");
    vf = podvm_sriov_claim(&f->host, f->one, "uid-1/net1", MAC_A, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vf->pci_address, ==, "0000:5e:02.2");
}

/* Links that do not lead where sysfs's do: what they name never goes into a path. */
static void
test_hostile_links(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    g_autofree char *virtfn =
        g_build_filename(f->root, "devices/pci0000:00/" PF1_ADDR "/virtfn0", NULL);
    g_autofree char *driver =
        g_build_filename(f->root, "devices/pci0000:00/0000:5e:02.1/driver", NULL);

    /* virtfn0 leads out of the tree: its VF is not seen. */
    g_assert_cmpint(unlink(virtfn), ==, 0);
    g_assert_cmpint(symlink("../../../../../etc", virtfn), ==, 0);
    /* The driver link of 02.1 names no driver. */
    g_assert_cmpint(unlink(driver), ==, 0);
    g_assert_cmpint(symlink("../../../bus/pci/drivers/..", driver), ==, 0);

    assert_refused(f, f->one, "0000:5e:02.1", PODVM_ERROR_FAILED, "does not name a driver");
    /* 02.0 is a VF of PF1 (its physfn says so) but not among PF1's virtfn links. */
    assert_refused(f, f->one, "0000:5e:02.0", PODVM_ERROR_FAILED, "not among the virtfn links");
    vf = podvm_sriov_claim(&f->host, f->one, "uid-1/net1", MAC_A, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vf->pci_address, ==, "0000:5e:02.2");
    g_assert_cmpuint(vf->vf_index, ==, 2);
}

static void
test_bad_requests(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    const guint8 multicast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };

    vf = podvm_sriov_claim(&f->host, f->both, "uid-1/net1", MAC_A, 4096, &error);
    g_assert_null(vf);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    vf = podvm_sriov_claim(&f->host, f->both, "uid-1/net1", multicast, 0, &error);
    g_assert_null(vf);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    vf = podvm_sriov_claim(&f->host, f->both, "", MAC_A, 0, &error);
    g_assert_null(vf);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    vf = podvm_sriov_claim(&f->host, f->both, "uid\n1", MAC_A, 0, &error);
    g_assert_null(vf);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(podvm_sriov_release(&f->host, "../0000:3b:02.0", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    assert_nothing_written(f);
}

/* A pool whose PF has no device link (say, renamed) is skipped with a warning. */
static void
test_missing_pf(Fixture *f, gconstpointer data)
{
    const char *pfs[] = { "ens9", PF1, NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovPool) pool = podvm_sriov_pool_new("gone", pfs, &error);
    g_autoptr(PodvmSriovVf) vf = NULL;

    g_assert_no_error(error);
    vf = podvm_sriov_claim(&f->host, pool, "uid-1/net1", MAC_A, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0),
                            "SR-IOV pool 'gone': physical function 'ens9' has no PCI device"));
    g_ptr_array_set_size(warnings, 0);
    g_assert_cmpstr(vf->pci_address, ==, "0000:5e:02.0");
}

/* ---- the vfio group device for QEMU ------------------------------------------------------ */

/* A device's IOMMU group as its link names it; a bad address, no device, no link: errors. */
static void
test_iommu_group(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *group = NULL;
    g_autofree char *link =
        g_build_filename(f->root, "devices/pci0000:00/0000:5e:02.3/iommu_group", NULL);

    group = podvm_sriov_iommu_group(&f->host, "0000:3b:02.1", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(group, ==, "12");
    g_clear_pointer(&group, g_free);
    group = podvm_sriov_iommu_group(&f->host, "0000:5e:02.3", &error);
    g_assert_cmpstr(group, ==, "24");
    g_clear_pointer(&group, g_free);
    g_assert_null(podvm_sriov_iommu_group(&f->host, "0000:3b:02.1/../..", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_null(podvm_sriov_iommu_group(&f->host, "0000:99:00.0", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);
    /* A link that names no group number. */
    g_assert_cmpint(unlink(link), ==, 0);
    g_assert_cmpint(symlink("../../../kernel/iommu_groups/x", link), ==, 0);
    g_assert_null(podvm_sriov_iommu_group(&f->host, "0000:5e:02.3", &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    /* Reads only. */
    g_assert_cmpuint(f->writes->len, ==, 0);
}

static void
test_vfio_grant(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dev = g_build_filename(f->tmp, "dev", NULL);
    g_autofree char *vfio = g_build_filename(dev, "vfio", NULL);
    g_autofree char *group = g_build_filename(vfio, "11", NULL);
    g_autofree char *link = g_build_filename(vfio, "12", NULL);
    g_autofree char *plain = g_build_filename(vfio, "13", NULL);
    struct stat st;

    g_assert_cmpint(g_mkdir_with_parents(vfio, 0755), ==, 0);
    if (mknod(group, S_IFCHR | 0600, makedev(1, 3)) != 0) {
        g_autofree char *why =
            g_strdup_printf("cannot make a character device for the fake /dev/vfio/11 "
                            "(needs root with CAP_MKNOD): %s",
                            g_strerror(errno));
        g_test_skip(why);
        return;
    }
    f->host.dev_root = dev;
    g_assert_true(podvm_sriov_vfio_grant(&f->host, "11", 999, 995, &error));
    g_assert_no_error(error);
    g_assert_cmpint(lstat(group, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 999);
    g_assert_cmpuint(st.st_gid, ==, 995);
    g_assert_cmpuint(st.st_mode & 07777, ==, 0600);
    g_assert_true(podvm_sriov_vfio_revoke(&f->host, "11", &error));
    g_assert_no_error(error);
    g_assert_cmpint(lstat(group, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 0);
    g_assert_cmpuint(st.st_gid, ==, 0);

    /* A symlink or a plain file there is not a vfio group; nor is a name that is no number. */
    g_assert_cmpint(symlink("11", link), ==, 0);
    g_assert_false(podvm_sriov_vfio_grant(&f->host, "12", 999, 995, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
    g_assert_cmpint(lstat(group, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 0);
    g_assert_true(g_file_set_contents(plain, "", 0, NULL));
    g_assert_false(podvm_sriov_vfio_grant(&f->host, "13", 999, 995, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
    g_clear_error(&error);
    g_assert_false(podvm_sriov_vfio_grant(&f->host, "../11", 999, 995, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(podvm_sriov_vfio_grant(&f->host, "14", 999, 995, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
}

/* ---- pools and configuration -------------------------------------------------------------- */

static void
test_pool_new(void)
{
    const char *ok[] = { "ens1f0", "ens1f1", NULL };
    const char *dup[] = { "ens1f0", "ens1f0", NULL };
    const char *empty[] = { NULL };
    const char *bad_names[] = {
        "../sys", "a/b", ".", "..", "eth 0", "eth:0", "0123456789abcdef", ""
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSriovPool) pool = podvm_sriov_pool_new("fast-1", ok, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(pool->name, ==, "fast-1");
    g_assert_cmpstrv(pool->physical_functions, ok);
    g_assert_null(podvm_sriov_pool_new("Fast", ok, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "DNS-1123"));
    g_clear_error(&error);
    g_assert_null(podvm_sriov_pool_new("../x", ok, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_null(podvm_sriov_pool_new("fast", dup, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "listed twice"));
    g_clear_error(&error);
    g_assert_null(podvm_sriov_pool_new("fast", empty, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "no physical_functions"));
    g_clear_error(&error);
    for (guint i = 0; i < G_N_ELEMENTS(bad_names); i++) {
        const char *pfs[] = { bad_names[i], NULL };

        g_assert_null(podvm_sriov_pool_new("fast", pfs, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "not an interface name"));
        g_clear_error(&error);
    }
}

static PodvmConfig *
load_conf(const char *text, GError **error)
{
    g_autofree char *dir = podvm_test_mkdtemp();
    g_autofree char *path = g_build_filename(dir, "podvmd.conf", NULL);
    g_autoptr(PodvmConfig) config = podvm_config_new_defaults();
    gboolean ok;

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    ok = podvm_config_load_file(config, path, TRUE, error);
    podvm_test_rmrf(dir);
    return ok ? g_steal_pointer(&config) : NULL;
}

static void
test_config(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmConfig) defaults = load_conf("[daemon]\n", &error);
    g_autoptr(PodvmConfig) config = NULL;
    const PodvmSriovPool *pool;
    const char *fast[] = { "ens1f0", "ens1f1", NULL };
    const char *slow[] = { "ens2f0", NULL };
    const char *bad[] = {
        "[sriov]\nsysfs_root=sys\n",
        "[sriov-pool Fast]\nphysical_functions=ens1f0\n",
        "[sriov-pool fast]\nphysical_functions=../x\n",
        "[sriov-pool fast]\nphysical_functions=\n",
        "[sriov-pool fast]\n",
        "[sriov-pool fast]\nphysical_functions=a;a\n",
    };

    g_assert_no_error(error);
    g_assert_cmpstr(defaults->sriov_sysfs_root, ==, "/sys");
    g_assert_cmpuint(defaults->sriov_pools->len, ==, 0);
    g_assert_null(podvm_config_find_sriov_pool(defaults, "fast"));

    config = load_conf("[sriov]\nsysfs_root=/tmp/fake-sys/\n"
                       "[sriov-pool fast]\nphysical_functions=ens1f0; ens1f1;\n"
                       "[sriov-pool slow]\nphysical_functions=ens2f0\n",
                       &error);
    g_assert_no_error(error);
    g_assert_cmpstr(config->sriov_sysfs_root, ==, "/tmp/fake-sys");
    g_assert_cmpuint(config->sriov_pools->len, ==, 2);
    pool = podvm_config_find_sriov_pool(config, "fast");
    g_assert_nonnull(pool);
    g_assert_cmpstrv(pool->physical_functions, fast);
    pool = podvm_config_find_sriov_pool(config, "slow");
    g_assert_nonnull(pool);
    g_assert_cmpstrv(pool->physical_functions, slow);
    g_assert_null(podvm_config_find_sriov_pool(config, "other"));
    /* A later file's pool of the same name replaces the first (and goes last). */
    {
        g_autofree char *dir = podvm_test_mkdtemp();
        g_autofree char *path = g_build_filename(dir, "more.conf", NULL);
        const char *again[] = { "ens3f0", NULL };

        g_assert_true(
            g_file_set_contents(path, "[sriov-pool fast]\nphysical_functions=ens3f0\n", -1, NULL));
        g_assert_true(podvm_config_load_file(config, path, TRUE, &error));
        g_assert_no_error(error);
        podvm_test_rmrf(dir);
        g_assert_cmpuint(config->sriov_pools->len, ==, 2);
        pool = podvm_config_find_sriov_pool(config, "fast");
        g_assert_cmpstrv(pool->physical_functions, again);
        pool = g_ptr_array_index(config->sriov_pools, 1);
        g_assert_cmpstr(pool->name, ==, "fast");
    }
    /* Claims live in the run directory. */
    {
        g_autofree char *dir = podvm_test_mkdtemp();
        g_autofree char *want = g_build_filename(dir, "run", "sriov", NULL);

        g_free(config->state_dir);
        config->state_dir = g_build_filename(dir, "state", NULL);
        g_free(config->run_dir);
        config->run_dir = g_build_filename(dir, "run", NULL);
        g_assert_true(podvm_config_finish(config, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(config->sriov_claim_dir, ==, want);
        podvm_test_rmrf(dir);
    }

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(PodvmConfig) refused = load_conf(bad[i], &error);

        g_assert_null(refused);
        g_test_message("%s -> %s", bad[i], error->message);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "podvmd.conf"));
        g_clear_error(&error);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    warnings = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(capture_writer, NULL, NULL);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
    ADD("/podvm/net/sriov/claim-and-release", test_claim_and_release);
    ADD("/podvm/net/sriov/exhausted", test_exhausted);
    ADD("/podvm/net/sriov/claims-survive-restart", test_claims_survive_restart);
    ADD("/podvm/net/sriov/claim-address", test_claim_address);
    ADD("/podvm/net/sriov/unbound-vf", test_unbound_vf);
    ADD("/podvm/net/sriov/prebound-vfio", test_prebound_vfio);
    ADD("/podvm/net/sriov/vfio-not-loaded", test_vfio_not_loaded);
    ADD("/podvm/net/sriov/set-vf-fails", test_set_vf_fails);
    ADD("/podvm/net/sriov/bad-addresses", test_bad_addresses);
    ADD("/podvm/net/sriov/taken", test_taken);
    ADD("/podvm/net/sriov/iommu-groups", test_iommu_groups);
    ADD("/podvm/net/sriov/hostile-links", test_hostile_links);
    ADD("/podvm/net/sriov/bad-requests", test_bad_requests);
    ADD("/podvm/net/sriov/missing-pf", test_missing_pf);
    ADD("/podvm/net/sriov/vfio-grant", test_vfio_grant);
    ADD("/podvm/net/sriov/iommu-group", test_iommu_group);
#undef ADD
    g_test_add_func("/podvm/net/sriov/pool-new", test_pool_new);
    g_test_add_func("/podvm/net/sriov/config", test_config);
    return g_test_run();
}
