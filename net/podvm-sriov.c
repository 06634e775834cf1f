/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-sriov.c: see podvm-sriov.h. */
#include "podvm-build-config.h"

#include "podvm-sriov.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-net-private.h"
#include "podvm-netlink.h"
#include "podvm-spec.h"
#include "podvm-store.h"

/*
 * Every path here is the sysfs root, fixed components and names that passed
 * a check: a PCI address (podvm_pci_address_is_valid), a PF's interface name
 * (checked when the pool was made), an IOMMU group number, a driver name.
 * Names come from the kernel's own links (basename of readlink) and are
 * checked like user input before they go into a path.
 */

#define VFIO_PCI "vfio-pci"
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

/* ---- names ------------------------------------------------------------------------------- */

static gboolean
is_lower_hex(const char *p, guint n)
{
    for (guint i = 0; i < n; i++) {
        if (!g_ascii_isxdigit(p[i]) || g_ascii_isupper(p[i]))
            return FALSE;
    }
    return TRUE;
}

gboolean
podvm_pci_address_is_valid(const char *text)
{
    /* DDDD:BB:SS.F: 12 bytes; slot 00-1f, function 0-7. */
    if (text == NULL || strlen(text) != 12)
        return FALSE;
    if (!is_lower_hex(text, 4) || text[4] != ':' || !is_lower_hex(text + 5, 2) || text[7] != ':' ||
        !is_lower_hex(text + 8, 2) || text[10] != '.' || text[11] < '0' || text[11] > '7')
        return FALSE;
    return g_ascii_xdigit_value(text[8]) <= 1;
}

/* A driver's name as sysfs shows it ("ixgbevf", "vfio-pci", "mlx5_core"). */
static gboolean
driver_name_is_valid(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;

    if (len == 0 || len > 64 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return FALSE;
    for (const char *p = name; *p != '\0'; p++) {
        if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
            return FALSE;
    }
    return TRUE;
}

static gboolean
group_number_is_valid(const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;

    if (len == 0 || len > 10)
        return FALSE;
    for (const char *p = text; *p != '\0'; p++) {
        if (!g_ascii_isdigit(*p))
            return FALSE;
    }
    return TRUE;
}

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

static gboolean
check_pci_address(const char *text, GError **error)
{
    g_autofree char *quoted = NULL;

    if (podvm_pci_address_is_valid(text))
        return TRUE;
    quoted = podvm_quote_for_message(text != NULL ? text : "");
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("bad PCI address %s: expected DDDD:BB:SS.F in lowercase hex, like "
                  "\"0000:3b:02.1\""),
                quoted);
    return FALSE;
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

/* ---- sysfs ------------------------------------------------------------------------------- */

static char *sysfs_path(const PodvmSriovHost *host, const char *first, ...) G_GNUC_NULL_TERMINATED;

static char *
sysfs_path(const PodvmSriovHost *host, const char *first, ...)
{
    g_autoptr(GPtrArray) parts = g_ptr_array_new();
    va_list ap;
    const char *part;

    g_ptr_array_add(parts, (gpointer)(host->sysfs_root != NULL ? host->sysfs_root : "/sys"));
    va_start(ap, first);
    for (part = first; part != NULL; part = va_arg(ap, const char *))
        g_ptr_array_add(parts, (gpointer)part);
    va_end(ap);
    g_ptr_array_add(parts, NULL);
    return g_build_filenamev((char **)parts->pdata);
}

/*
 * The last component of the target of the symlink @path (a sysfs link such
 * as physfn, driver, iommu_group). NULL with NOT_FOUND when there is no such
 * link, with IO for any other failure. Not checked: the caller checks it.
 */
static char *
link_name(const char *path, GError **error)
{
    char target[4096];
    ssize_t n = readlink(path, target, sizeof target - 1);

    if (n < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR,
                    saved == ENOENT ? PODVM_ERROR_NOT_FOUND : podvm_net_errno_code(saved),
                    _("cannot read link '%s': %s"), path, g_strerror(saved));
        return NULL;
    }
    target[n] = '\0';
    while (n > 1 && target[n - 1] == '/')
        target[--n] = '\0';
    return g_path_get_basename(target);
}

/* Writes @value to the existing sysfs attribute @path (never creating it) and tells host->wrote. */
static gboolean
sysfs_write(const PodvmSriovHost *host, const char *path, const char *value, GError **error)
{
    size_t len = strlen(value);
    ssize_t n;
    int fd;

    fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(saved),
                    _("cannot open '%s' for writing: %s"), path, g_strerror(saved));
        return FALSE;
    }
    do {
        n = write(fd, value, len);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len) {
        int saved = n < 0 ? errno : EIO;
        g_autofree char *shown = g_strchomp(g_strdup(value));

        close(fd);
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(saved),
                    _("cannot write \"%s\" to '%s': %s"), shown, path, g_strerror(saved));
        return FALSE;
    }
    if (close(fd) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(saved), _("cannot write '%s': %s"),
                    path, g_strerror(saved));
        return FALSE;
    }
    g_debug("sysfs: wrote \"%s\" to %s", value, path);
    if (host->wrote != NULL)
        host->wrote(path, value, host->wrote_data);
    return TRUE;
}

/* The driver a device is bound to (*out NULL: none), its name checked. */
static gboolean
device_driver(const PodvmSriovHost *host, const char *address, char **out, GError **error)
{
    g_autofree char *path = sysfs_path(host, "bus", "pci", "devices", address, "driver", NULL);
    g_autoptr(GError) local = NULL;
    g_autofree char *name = link_name(path, &local);

    if (name == NULL) {
        if (g_error_matches(local, PODVM_ERROR, PODVM_ERROR_NOT_FOUND)) {
            *out = NULL;
            return TRUE;
        }
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (!driver_name_is_valid(name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("device %s: its driver link '%s' does not name a driver"), address, path);
        return FALSE;
    }
    *out = g_steal_pointer(&name);
    return TRUE;
}

/* The PCI address of the PF @ifname: the device link of its net class entry. */
static char *
pf_address(const PodvmSriovHost *host, const char *ifname, GError **error)
{
    g_autofree char *path = NULL;
    g_autofree char *name = NULL;
    g_autoptr(GError) local = NULL;

    if (!podvm_net_ifname_valid(ifname)) {
        g_autofree char *quoted = podvm_quote_for_message(ifname != NULL ? ifname : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s is not an interface name"), quoted);
        return NULL;
    }
    path = sysfs_path(host, "class", "net", ifname, "device", NULL);
    name = link_name(path, &local);
    if (name == NULL) {
        g_set_error(error, PODVM_ERROR, local->code,
                    _("physical function '%s' has no PCI device: %s"), ifname, local->message);
        return NULL;
    }
    if (!podvm_pci_address_is_valid(name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("physical function '%s': '%s' does not lead to a PCI address"), ifname, path);
        return NULL;
    }
    return g_steal_pointer(&name);
}

typedef struct {
    guint index;
    char *address;
} VfEntry;

static void
vf_entry_clear(VfEntry *entry)
{
    g_free(entry->address);
}

static gint
vf_entry_compare(gconstpointer a, gconstpointer b)
{
    const VfEntry *x = a, *y = b;

    return x->index < y->index ? -1 : x->index > y->index;
}

/* The PF's VFs (virtfnN links of its PCI device), by index. */
static GArray *
pf_vfs(const PodvmSriovHost *host, const char *pf_ifname, const char *pf_addr, GError **error)
{
    g_autofree char *dir_path = sysfs_path(host, "bus", "pci", "devices", pf_addr, NULL);
    g_autoptr(GArray) vfs = g_array_new(FALSE, TRUE, sizeof(VfEntry));
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GError) local = NULL;
    const char *entry;

    g_array_set_clear_func(vfs, (GDestroyNotify)vf_entry_clear);
    dir = g_dir_open(dir_path, 0, &local);
    if (dir == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("physical function '%s' (%s): %s"),
                    pf_ifname, pf_addr, local->message);
        return NULL;
    }
    while ((entry = g_dir_read_name(dir)) != NULL) {
        guint64 index;
        g_autofree char *link = NULL;
        g_autofree char *vf_addr = NULL;
        VfEntry vf;

        if (!g_str_has_prefix(entry, "virtfn") ||
            !g_ascii_string_to_unsigned(entry + 6, 10, 0, G_MAXUINT16, &index, NULL) ||
            (entry[6] == '0' && entry[7] != '\0'))
            continue;
        link = g_build_filename(dir_path, entry, NULL);
        vf_addr = link_name(link, NULL);
        if (!podvm_pci_address_is_valid(vf_addr)) {
            g_debug("%s: %s does not lead to a PCI address; passed over", pf_ifname, link);
            continue;
        }
        vf.index = (guint)index;
        vf.address = g_steal_pointer(&vf_addr);
        g_array_append_val(vfs, vf);
    }
    g_array_sort(vfs, vf_entry_compare);
    return g_steal_pointer(&vfs);
}

/*
 * That @address is a VF: the device exists and has a physfn link; *@out_pf_addr
 * is the PCI address of its PF. Reads only.
 */
static gboolean
check_is_vf(const PodvmSriovHost *host, const char *address, char **out_pf_addr, GError **error)
{
    g_autofree char *dev = sysfs_path(host, "bus", "pci", "devices", address, NULL);
    g_autofree char *physfn_path = g_build_filename(dev, "physfn", NULL);
    g_autofree char *physfn = NULL;
    g_autoptr(GError) local = NULL;

    if (!check_pci_address(address, error))
        return FALSE;
    if (!g_file_test(dev, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND, _("there is no PCI device %s"),
                    address);
        return FALSE;
    }
    physfn = link_name(physfn_path, &local);
    if (physfn == NULL) {
        if (g_error_matches(local, PODVM_ERROR, PODVM_ERROR_NOT_FOUND))
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("PCI device %s is not an SR-IOV virtual function (it has no physfn; "
                          "a physical function cannot be given to a pod)"),
                        address);
        else
            g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (!podvm_pci_address_is_valid(physfn)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("PCI device %s: its physfn link does not lead to a PCI address"), address);
        return FALSE;
    }
    *out_pf_addr = g_steal_pointer(&physfn);
    return TRUE;
}

/*
 * That the VF @address can go to vfio: it has an IOMMU group, alone in it
 * (vfio hands out whole groups); *@out_group is the group, *@out_driver its
 * driver now (NULL: none). Reads only.
 */
static gboolean
check_vf_usable(const PodvmSriovHost *host, const char *address, char **out_group,
                char **out_driver, GError **error)
{
    g_autofree char *group_path =
        sysfs_path(host, "bus", "pci", "devices", address, "iommu_group", NULL);
    g_autofree char *group = NULL;
    g_autofree char *group_dir = NULL;
    g_autofree char *driver = NULL;
    g_autoptr(GDir) members = NULL;
    g_autoptr(GError) local = NULL;
    const char *member;

    group = link_name(group_path, &local);
    if (group == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                    _("virtual function %s has no IOMMU group: vfio needs the IOMMU on "
                      "(intel_iommu=on or amd_iommu=on on the kernel's command line)"),
                    address);
        return FALSE;
    }
    if (!group_number_is_valid(group)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("virtual function %s: its iommu_group link does not name a group"), address);
        return FALSE;
    }
    group_dir = sysfs_path(host, "kernel", "iommu_groups", group, "devices", NULL);
    members = g_dir_open(group_dir, 0, &local);
    if (members == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("virtual function %s: cannot list IOMMU group %s: %s"), address, group,
                    local->message);
        return FALSE;
    }
    while ((member = g_dir_read_name(members)) != NULL) {
        if (strcmp(member, address) != 0) {
            g_autofree char *quoted = podvm_quote_for_message(member);

            g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED,
                        _("virtual function %s shares IOMMU group %s with %s; vfio can only "
                          "hand out a whole group"),
                        address, group, quoted);
            return FALSE;
        }
    }
    if (!device_driver(host, address, &driver, error))
        return FALSE;
    *out_group = g_steal_pointer(&group);
    *out_driver = g_steal_pointer(&driver);
    return TRUE;
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

/* ---- binding ----------------------------------------------------------------------------- */

static gboolean
write_driver_file(const PodvmSriovHost *host, const char *driver, const char *file,
                  const char *value, GError **error)
{
    g_autofree char *path = sysfs_path(host, "bus", "pci", "drivers", driver, file, NULL);

    return sysfs_write(host, path, value, error);
}

static gboolean
write_device_file(const PodvmSriovHost *host, const char *address, const char *file,
                  const char *value, GError **error)
{
    g_autofree char *path = sysfs_path(host, "bus", "pci", "devices", address, file, NULL);

    return sysfs_write(host, path, value, error);
}

static gboolean
probe(const PodvmSriovHost *host, const char *address, GError **error)
{
    g_autofree char *path = sysfs_path(host, "bus", "pci", "drivers_probe", NULL);

    return sysfs_write(host, path, address, error);
}

/*
 * Binds @vf to vfio-pci: driver_override, unbind from its driver, probe; then
 * checks that vfio-pci took it. A VF already on vfio-pci is left as it is.
 */
static gboolean
bind_vfio(const PodvmSriovHost *host, const PodvmSriovVf *vf, GError **error)
{
    g_autofree char *now = NULL;

    if (g_strcmp0(vf->original_driver, VFIO_PCI) == 0)
        return TRUE;
    if (!write_device_file(host, vf->pci_address, "driver_override", VFIO_PCI, error))
        return FALSE;
    if (vf->original_driver != NULL &&
        !write_driver_file(host, vf->original_driver, "unbind", vf->pci_address, error))
        return FALSE;
    if (!probe(host, vf->pci_address, error))
        return FALSE;
    if (!device_driver(host, vf->pci_address, &now, error))
        return FALSE;
    if (g_strcmp0(now, VFIO_PCI) != 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("virtual function %s did not bind to vfio-pci (its driver is %s): is the "
                      "vfio-pci module loaded?"),
                    vf->pci_address, now != NULL ? now : _("none"));
        return FALSE;
    }
    return TRUE;
}

/*
 * Undoes bind_vfio() and the MAC/VLAN, as far as it got: off vfio-pci (unless
 * vfio-pci is where the VF was), driver_override cleared, MAC and VLAN
 * cleared, the original driver probed again. Goes on past a failed step and
 * reports the first one.
 */
static gboolean
restore(const PodvmSriovHost *host, const char *address, const char *pf_ifname, gint64 vf_index,
        const char *original_driver, GError **error)
{
    g_autoptr(GError) first = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *now = NULL;

    if (g_strcmp0(original_driver, VFIO_PCI) != 0) {
        if (!device_driver(host, address, &now, &local))
            g_propagate_error(&first, g_steal_pointer(&local));
        if (g_strcmp0(now, VFIO_PCI) == 0 &&
            !write_driver_file(host, VFIO_PCI, "unbind", address, &local) && first == NULL)
            g_propagate_error(&first, g_steal_pointer(&local));
        g_clear_error(&local);
        if (!write_device_file(host, address, "driver_override", "\n", &local) && first == NULL)
            g_propagate_error(&first, g_steal_pointer(&local));
        g_clear_error(&local);
    }
    if (pf_ifname != NULL && vf_index >= 0 && host->set_vf != NULL) {
        static const guint8 zero[6] = { 0 };

        /* Not every driver takes a zero MAC back: a warning, not a failure. */
        if (!host->set_vf(pf_ifname, (guint)vf_index, zero, 0, host->set_vf_data, &local))
            g_warning("virtual function %s: cannot clear its MAC and VLAN on %s: %s", address,
                      pf_ifname, local->message);
        g_clear_error(&local);
    }
    if (original_driver != NULL && g_strcmp0(original_driver, VFIO_PCI) != 0 &&
        !probe(host, address, &local) && first == NULL)
        g_propagate_error(&first, g_steal_pointer(&local));
    if (first != NULL) {
        g_propagate_error(error, g_steal_pointer(&first));
        return FALSE;
    }
    return TRUE;
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
    } else if (bind_vfio(host, vf, &local)) {
        g_message("SR-IOV: virtual function %s (%s VF %u, IOMMU group %s) claimed by %s",
                  vf->pci_address, vf->pf_ifname, vf->vf_index, vf->iommu_group, owner);
        return TRUE;
    } else {
        undone = restore(host, vf->pci_address, vf->pf_ifname, vf->vf_index, vf->original_driver,
                         &undo) &&
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

        pf_addr = pf_address(host, pf, &local);
        if (pf_addr != NULL)
            vfs = pf_vfs(host, pf, pf_addr, &local);
        if (vfs == NULL) {
            g_warning("SR-IOV pool '%s': %s", pool->name, local->message);
            continue;
        }
        for (guint i = 0; i < vfs->len; i++) {
            const VfEntry *entry = &g_array_index(vfs, VfEntry, i);
            g_autoptr(PodvmSriovVf) vf = NULL;
            char *group = NULL;
            char *driver = NULL;

            g_autofree char *physfn = NULL;

            seen++;
            if (claim_exists(host, entry->address))
                continue;
            if (check_is_vf(host, entry->address, &physfn, &local) && strcmp(physfn, pf_addr) != 0)
                g_set_error(&local, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("virtual function %s: its physfn is %s, not %s"), entry->address,
                            physfn, pf_addr);
            if (local != NULL || !check_vf_usable(host, entry->address, &group, &driver, &local)) {
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

    if (!check_pci_address(pci_address, error) || !check_request(host, owner, mac, vlan, error) ||
        !check_is_vf(host, pci_address, &pf_addr, error))
        return NULL;
    /* Which PF of the pool is its physfn, and which of that PF's virtfnN it is. */
    for (guint p = 0; pool->physical_functions[p] != NULL && pf_ifname == NULL; p++) {
        const char *pf = pool->physical_functions[p];
        g_autofree char *addr = pf_address(host, pf, NULL);
        g_autoptr(GArray) vfs = NULL;

        if (g_strcmp0(addr, pf_addr) != 0)
            continue;
        pf_ifname = pf;
        vfs = pf_vfs(host, pf, addr, NULL);
        for (guint i = 0; vfs != NULL && i < vfs->len; i++) {
            if (strcmp(g_array_index(vfs, VfEntry, i).address, pci_address) == 0)
                vf_index = g_array_index(vfs, VfEntry, i).index;
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
    if (!check_vf_usable(host, pci_address, &group, &driver, error))
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

    if (!check_pci_address(pci_address, error))
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
    if (driver != NULL && !driver_name_is_valid(driver)) {
        g_warning("SR-IOV: claim of %s names no valid original driver; it is left unbound",
                  pci_address);
        g_clear_pointer(&driver, g_free);
    }
    if (!restore(host, pci_address, pf_ifname, vf_index, driver, error)) {
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

GStrv
podvm_sriov_claims_of(const PodvmSriovHost *host, const char *owner)
{
    g_autoptr(GStrvBuilder) found = g_strv_builder_new();
    g_autoptr(GDir) dir = g_dir_open(host->claim_dir, 0, NULL);
    g_auto(GStrv) result = NULL;
    const char *entry;

    while (dir != NULL && (entry = g_dir_read_name(dir)) != NULL) {
        g_autoptr(GKeyFile) kf = NULL;
        g_autoptr(GError) local = NULL;
        g_autofree char *holder = NULL;

        if (!podvm_pci_address_is_valid(entry))
            continue;
        kf = claim_read(host, entry, &local);
        if (kf == NULL) {
            g_warning("SR-IOV: %s", local->message);
            continue;
        }
        holder = g_key_file_get_string(kf, CLAIM_GROUP, "owner", NULL);
        if (g_strcmp0(holder, owner) == 0)
            g_strv_builder_add(found, entry);
    }
    result = g_strv_builder_end(found);
    qsort(result, g_strv_length(result), sizeof(char *), compare_strings);
    return g_steal_pointer(&result);
}

/* ---- QEMU -------------------------------------------------------------------------------- */

char *
podvm_sriov_qemu_device_json(const char *pci_address, const char *device_id, const char *bootindex)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    guint64 index = 0;

    g_return_val_if_fail(podvm_pci_address_is_valid(pci_address), NULL);
    g_return_val_if_fail(device_id != NULL && *device_id != '\0', NULL);
    g_return_val_if_fail(bootindex == NULL ||
                             g_ascii_string_to_unsigned(bootindex, 10, 0, G_MAXINT32, &index, NULL),
                         NULL);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "driver");
    json_builder_add_string_value(b, VFIO_PCI);
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, pci_address);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, device_id);
    if (bootindex != NULL) {
        json_builder_set_member_name(b, "bootindex");
        json_builder_add_int_value(b, (gint64)index);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return podvm_json_to_string(root, FALSE);
}
