/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-sriov.c: see podvm-sriov.h. */
#include "podvm-build-config.h"

#include "podvm-sriov-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-net-private.h"
#include "podvm-netlink.h"
#include "podvm-spec.h"
#include "podvm-store.h"

/* Pools, claims, claim and release; the sysfs side is podvm-sriov-sysfs.c. */

#define CLAIM_GROUP "claim"
#define OWNER_MAX 512

void
podvm_sriov_pool_free(PodvmSriovPool *pool)
{
    if (pool == NULL)
        return;
    g_free(pool->name);
    g_strfreev(pool->physical_functions);
    g_free(pool);
}

void
podvm_sriov_vf_free(PodvmSriovVf *vf)
{
    if (vf == NULL)
        return;
    g_free(vf->pci_address);
    g_free(vf->pf_ifname);
    g_free(vf->iommu_group);
    g_free(vf->original_driver);
    g_free(vf);
}

/* ---- pools ----------------------------------------------------------------------------- */

static gboolean
owner_is_valid(const char *owner)
{
    size_t len = owner != NULL ? strlen(owner) : 0;

    if (len == 0 || len > OWNER_MAX || !g_utf8_validate(owner, -1, NULL))
        return FALSE;
    for (const char *p = owner; *p != '\0'; p++) {
        if (g_ascii_iscntrl(*p))
            return FALSE;
    }
    return TRUE;
}

PodvmSriovPool *
podvm_sriov_pool_new(const char *name, const char *const *physical_functions, GError **error)
{
    g_autoptr(PodvmSriovPool) pool = g_new0(PodvmSriovPool, 1);
    g_autoptr(GStrvBuilder) pfs = g_strv_builder_new();
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GError) local = NULL;

    if (!podvm_name_is_valid(name, &local)) {
        g_autofree char *quoted = podvm_quote_for_message(name != NULL ? name : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("SR-IOV pool %s: the name must be a DNS-1123 label: %s"), quoted,
                    local->message);
        return NULL;
    }
    for (guint i = 0; physical_functions != NULL && physical_functions[i] != NULL; i++) {
        const char *pf = physical_functions[i];

        if (!podvm_net_ifname_valid(pf)) {
            g_autofree char *quoted = podvm_quote_for_message(pf);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("SR-IOV pool '%s': %s is not an interface name (1 to 15 bytes, no "
                          "'/', ':' or spaces)"),
                        name, quoted);
            return NULL;
        }
        if (!g_hash_table_add(seen, (gpointer)pf)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("SR-IOV pool '%s': physical function '%s' is listed twice"), name, pf);
            return NULL;
        }
        g_strv_builder_add(pfs, pf);
    }
    if (g_hash_table_size(seen) == 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("SR-IOV pool '%s' has no physical_functions"), name);
        return NULL;
    }
    pool->name = g_strdup(name);
    pool->physical_functions = g_strv_builder_end(pfs);
    return g_steal_pointer(&pool);
}

/* ---- claims ------------------------------------------------------------------------------ */

static char *
claim_path(const PodvmSriovHost *host, const char *address)
{
    return g_build_filename(host->claim_dir, address, NULL);
}

/*
 * Takes the claim of @vf for @owner: the file claim_dir/ADDRESS, written
 * whole under a temporary name, then link()ed into place. link() fails with
 * EEXIST when the name is taken, atomically, as O_CREAT|O_EXCL would; and the
 * claim never exists without its content. BUSY when someone holds it.
 */
static gboolean
claim_take(const PodvmSriovHost *host, const PodvmSriovVf *vf, const char *owner, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *path = claim_path(host, vf->pci_address);
    gsize length = 0;
    int fd;
    int saved = 0;
    gboolean written;

    if (g_mkdir_with_parents(host->claim_dir, 0700) != 0) {
        saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create directory '%s': %s"),
                    host->claim_dir, g_strerror(saved));
        return FALSE;
    }
    g_key_file_set_string(kf, CLAIM_GROUP, "owner", owner);
    g_key_file_set_string(kf, CLAIM_GROUP, "physical_function", vf->pf_ifname);
    g_key_file_set_uint64(kf, CLAIM_GROUP, "vf_index", vf->vf_index);
    g_key_file_set_string(kf, CLAIM_GROUP, "iommu_group", vf->iommu_group);
    if (vf->original_driver != NULL)
        g_key_file_set_string(kf, CLAIM_GROUP, "original_driver", vf->original_driver);
    data = g_key_file_to_data(kf, &length, NULL);

    tmp = g_build_filename(host->claim_dir, ".claim-XXXXXX", NULL);
    fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        saved = errno;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot create a claim in '%s': %s"),
                    host->claim_dir, g_strerror(saved));
        return FALSE;
    }
    written = (gsize)write(fd, data, length) == length && fsync(fd) == 0;
    if (!written)
        saved = errno != 0 ? errno : EIO;
    if (close(fd) != 0 && written) {
        written = FALSE;
        saved = errno;
    }
    if (written && link(tmp, path) != 0) {
        written = FALSE;
        saved = errno;
    }
    (void)g_unlink(tmp);
    if (!written) {
        if (saved == EEXIST)
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                        _("virtual function %s is already claimed"), vf->pci_address);
        else
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot write claim '%s': %s"), path,
                        g_strerror(saved));
        return FALSE;
    }
    if (!podvm_store_sync_dir(host->claim_dir, error)) {
        (void)g_unlink(path);
        return FALSE;
    }
    return TRUE;
}

/* The claim file of @address, parsed; NULL with NOT_FOUND when there is none. */
static GKeyFile *
claim_read(const PodvmSriovHost *host, const char *address, GError **error)
{
    g_autofree char *path = claim_path(host, address);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    char data[8192];
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(saved),
                    _("cannot read claim '%s': %s"), path, g_strerror(saved));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size >= (off_t)sizeof data) {
        close(fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("claim '%s' is not a claim podvmd wrote"),
                    path);
        return NULL;
    }
    do {
        n = read(fd, data, sizeof data - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0 || !g_key_file_load_from_data(kf, data, (gsize)n, G_KEY_FILE_NONE, &local) ||
        !g_key_file_has_key(kf, CLAIM_GROUP, "owner", NULL)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("claim '%s' cannot be read: %s"), path,
                    local != NULL ? local->message : _("no owner"));
        return NULL;
    }
    return g_steal_pointer(&kf);
}

static gboolean
claim_drop(const PodvmSriovHost *host, const char *address, GError **error)
{
    g_autofree char *path = claim_path(host, address);

    if (g_unlink(path) != 0 && errno != ENOENT) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot remove claim '%s': %s"), path,
                    g_strerror(saved));
        return FALSE;
    }
    return podvm_store_sync_dir(host->claim_dir, error);
}

/* ---- claim and release ------------------------------------------------------------------- */

static gboolean
check_request(const PodvmSriovHost *host, const char *owner, const guint8 mac[6], guint vlan,
              GError **error)
{
    g_return_val_if_fail(host != NULL && host->claim_dir != NULL, FALSE);
    if (!owner_is_valid(owner)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("an SR-IOV claim needs an owner (1 to %u bytes of text)"), OWNER_MAX);
        return FALSE;
    }
    if (mac == NULL || (mac[0] & 1) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("a virtual function needs a unicast MAC address"));
        return FALSE;
    }
    if (vlan > 4095) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("VLAN %u is out of range (0: none, up to 4095)"), vlan);
        return FALSE;
    }
    if (host->set_vf == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("SR-IOV: no way to set a virtual function's MAC is configured"));
        return FALSE;
    }
    return TRUE;
}

/* Claims, sets MAC/VLAN and binds the checked @vf; on failure nothing is left. */
static gboolean
take(const PodvmSriovHost *host, const PodvmSriovVf *vf, const char *owner, const guint8 mac[6],
     guint vlan, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GError) undo = NULL;
    gboolean undone;

    if (!claim_take(host, vf, owner, error))
        return FALSE;
    if (!host->set_vf(vf->pf_ifname, vf->vf_index, mac, vlan, host->set_vf_data, &local)) {
        /* Nothing was written to sysfs: the claim goes, that is all. */
        undone = claim_drop(host, vf->pci_address, &undo);
    } else if (podvm_sriov_bind_vfio(host, vf, &local)) {
        g_message("SR-IOV: virtual function %s (%s VF %u, IOMMU group %s) claimed by %s",
                  vf->pci_address, vf->pf_ifname, vf->vf_index, vf->iommu_group, owner);
        return TRUE;
    } else {
        undone = podvm_sriov_restore(host, vf->pci_address, vf->pf_ifname, vf->vf_index,
                                     vf->original_driver, &undo) &&
                 claim_drop(host, vf->pci_address, &undo);
    }
    if (!undone)
        g_warning("SR-IOV: undoing the claim of %s: %s", vf->pci_address, undo->message);
    g_prefix_error(&local, _("virtual function %s: "), vf->pci_address);
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
}

static PodvmSriovVf *
vf_new(const char *address, const char *pf_ifname, guint index, char *group, char *driver)
{
    PodvmSriovVf *vf = g_new0(PodvmSriovVf, 1);

    vf->pci_address = g_strdup(address);
    vf->pf_ifname = g_strdup(pf_ifname);
    vf->vf_index = index;
    vf->iommu_group = group;
    vf->original_driver = driver;
    return vf;
}

static gboolean
claim_exists(const PodvmSriovHost *host, const char *address)
{
    g_autofree char *path = claim_path(host, address);
    struct stat st;

    return lstat(path, &st) == 0;
}

PodvmSriovVf *
podvm_sriov_claim(const PodvmSriovHost *host, const PodvmSriovPool *pool, const char *owner,
                  const guint8 mac[6], guint vlan, GError **error)
{
    g_autoptr(GError) last = NULL;
    guint seen = 0;

    if (!check_request(host, owner, mac, vlan, error))
        return NULL;
    for (guint p = 0; pool->physical_functions[p] != NULL; p++) {
        const char *pf = pool->physical_functions[p];
        g_autofree char *pf_addr = NULL;
        g_autoptr(GArray) vfs = NULL;
        g_autoptr(GError) local = NULL;

        pf_addr = podvm_sriov_pf_address(host, pf, &local);
        if (pf_addr != NULL)
            vfs = podvm_sriov_pf_vfs(host, pf, pf_addr, &local);
        if (vfs == NULL) {
            g_warning("SR-IOV pool '%s': %s", pool->name, local->message);
            continue;
        }
        for (guint i = 0; i < vfs->len; i++) {
            const PodvmSriovVfEntry *entry = &g_array_index(vfs, PodvmSriovVfEntry, i);
            g_autoptr(PodvmSriovVf) vf = NULL;
            char *group = NULL;
            char *driver = NULL;

            g_autofree char *physfn = NULL;

            seen++;
            if (claim_exists(host, entry->address))
                continue;
            if (podvm_sriov_check_is_vf(host, entry->address, &physfn, &local) &&
                strcmp(physfn, pf_addr) != 0)
                g_set_error(&local, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("virtual function %s: its physfn is %s, not %s"), entry->address,
                            physfn, pf_addr);
            if (local != NULL ||
                !podvm_sriov_check_vf_usable(host, entry->address, &group, &driver, &local)) {
                g_debug("SR-IOV pool '%s': %s passed over: %s", pool->name, entry->address,
                        local->message);
                g_clear_error(&last);
                last = g_steal_pointer(&local);
                continue;
            }
            vf = vf_new(entry->address, pf, entry->index, group, driver);
            if (take(host, vf, owner, mac, vlan, &local))
                return g_steal_pointer(&vf);
            if (!g_error_matches(local, PODVM_ERROR, PODVM_ERROR_BUSY)) {
                /* A VF that cannot be set up says so: trying the next would hide why. */
                g_propagate_error(error, g_steal_pointer(&local));
                return NULL;
            }
            g_clear_error(&local); /* taken meanwhile: the next one */
        }
    }
    if (last != NULL)
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("SR-IOV pool '%s' has no free virtual function (of %u; the last one "
                      "passed over: %s)"),
                    pool->name, seen, last->message);
    else
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("SR-IOV pool '%s' has no free virtual function (of %u)"), pool->name, seen);
    return NULL;
}

PodvmSriovVf *
podvm_sriov_claim_address(const PodvmSriovHost *host, const PodvmSriovPool *pool,
                          const char *pci_address, const char *owner, const guint8 mac[6],
                          guint vlan, GError **error)
{
    g_autofree char *pf_addr = NULL;
    g_autoptr(PodvmSriovVf) vf = NULL;
    char *group = NULL;
    char *driver = NULL;
    const char *pf_ifname = NULL;
    gint64 vf_index = -1;

    if (!podvm_sriov_check_pci_address(pci_address, error) ||
        !check_request(host, owner, mac, vlan, error) ||
        !podvm_sriov_check_is_vf(host, pci_address, &pf_addr, error))
        return NULL;
    /* Which PF of the pool is its physfn, and which of that PF's virtfnN it is. */
    for (guint p = 0; pool->physical_functions[p] != NULL && pf_ifname == NULL; p++) {
        const char *pf = pool->physical_functions[p];
        g_autofree char *addr = podvm_sriov_pf_address(host, pf, NULL);
        g_autoptr(GArray) vfs = NULL;

        if (g_strcmp0(addr, pf_addr) != 0)
            continue;
        pf_ifname = pf;
        vfs = podvm_sriov_pf_vfs(host, pf, addr, NULL);
        for (guint i = 0; vfs != NULL && i < vfs->len; i++) {
            if (strcmp(g_array_index(vfs, PodvmSriovVfEntry, i).address, pci_address) == 0)
                vf_index = g_array_index(vfs, PodvmSriovVfEntry, i).index;
        }
    }
    if (pf_ifname == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("virtual function %s (of %s) is not in SR-IOV pool '%s'"), pci_address,
                    pf_addr, pool->name);
        return NULL;
    }
    if (vf_index < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("virtual function %s is not among the virtfn links of '%s'"), pci_address,
                    pf_ifname);
        return NULL;
    }
    if (claim_exists(host, pci_address)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("virtual function %s is already claimed"), pci_address);
        return NULL;
    }
    if (!podvm_sriov_check_vf_usable(host, pci_address, &group, &driver, error))
        return NULL;
    vf = vf_new(pci_address, pf_ifname, (guint)vf_index, group, driver);
    if (!take(host, vf, owner, mac, vlan, error))
        return NULL;
    return g_steal_pointer(&vf);
}

gboolean
podvm_sriov_release(const PodvmSriovHost *host, const char *pci_address, GError **error)
{
    g_autoptr(GKeyFile) kf = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *pf_ifname = NULL;
    g_autofree char *driver = NULL;
    gint64 vf_index = -1;

    if (!podvm_sriov_check_pci_address(pci_address, error))
        return FALSE;
    kf = claim_read(host, pci_address, &local);
    if (kf == NULL) {
        if (g_error_matches(local, PODVM_ERROR, PODVM_ERROR_NOT_FOUND))
            return TRUE;
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    pf_ifname = g_key_file_get_string(kf, CLAIM_GROUP, "physical_function", NULL);
    if (!podvm_net_ifname_valid(pf_ifname))
        g_clear_pointer(&pf_ifname, g_free);
    else
        vf_index = g_key_file_get_int64(kf, CLAIM_GROUP, "vf_index", NULL);
    driver = g_key_file_get_string(kf, CLAIM_GROUP, "original_driver", NULL);
    if (driver != NULL && !podvm_sriov_driver_name_is_valid(driver)) {
        g_warning("SR-IOV: claim of %s names no valid original driver; it is left unbound",
                  pci_address);
        g_clear_pointer(&driver, g_free);
    }
    if (!podvm_sriov_restore(host, pci_address, pf_ifname, vf_index, driver, error)) {
        g_prefix_error(error, _("cannot give back virtual function %s: "), pci_address);
        return FALSE;
    }
    if (!claim_drop(host, pci_address, error))
        return FALSE;
    g_message("SR-IOV: virtual function %s given back (driver %s)", pci_address,
              driver != NULL ? driver : "none");
    return TRUE;
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

GHashTable *
podvm_sriov_claims(const PodvmSriovHost *host)
{
    g_autoptr(GHashTable) claims = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GDir) dir = g_dir_open(host->claim_dir, 0, NULL);
    const char *entry;

    while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
        g_autoptr(GKeyFile) kf = NULL;
        g_autoptr(GError) local = NULL;

        if (!podvm_pci_address_is_valid(entry))
            continue; /* a temporary file of a claim being taken */
        kf = claim_read(host, entry, &local);
        if (kf == NULL) {
            g_warning("SR-IOV: %s", local->message);
            continue;
        }
        g_hash_table_insert(claims, g_strdup(entry),
                            g_key_file_get_string(kf, CLAIM_GROUP, "owner", NULL));
    }
    return g_steal_pointer(&claims);
}

GStrv
podvm_sriov_claims_of(const PodvmSriovHost *host, const char *owner)
{
    g_autoptr(GHashTable) claims = podvm_sriov_claims(host);
    g_autoptr(GStrvBuilder) found = g_strv_builder_new();
    g_auto(GStrv) result = NULL;
    GHashTableIter iter;
    gpointer address, holder;

    g_hash_table_iter_init(&iter, claims);
    while (g_hash_table_iter_next(&iter, &address, &holder)) {
        if (g_strcmp0(holder, owner) == 0)
            g_strv_builder_add(found, address);
    }
    result = g_strv_builder_end(found);
    qsort(result, g_strv_length(result), sizeof(char *), compare_strings);
    return g_steal_pointer(&result);
}
