/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-sriov-sysfs.c: the sysfs side of SR-IOV (see podvm-sriov.h and podvm-sriov-private.h). */
#include "podvm-build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-net-private.h"
#include "podvm-netlink.h"
#include "podvm-sriov-private.h"

/*
 * Every path here is the sysfs root, fixed components and names that passed
 * a check: a PCI address (podvm_pci_address_is_valid), a PF's interface name
 * (checked when the pool was made), an IOMMU group number, a driver name.
 * Names come from the kernel's own links (basename of readlink) and are
 * checked like user input before they go into a path.
 */

#define VFIO_PCI "vfio-pci"

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
gboolean
podvm_sriov_driver_name_is_valid(const char *name)
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

gboolean
podvm_sriov_check_pci_address(const char *text, GError **error)
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
    if (!podvm_sriov_driver_name_is_valid(name)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                    _("device %s: its driver link '%s' does not name a driver"), address, path);
        return FALSE;
    }
    *out = g_steal_pointer(&name);
    return TRUE;
}

/* The PCI address of the PF @ifname: the device link of its net class entry. */
char *
podvm_sriov_pf_address(const PodvmSriovHost *host, const char *ifname, GError **error)
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

void
podvm_sriov_vf_entry_clear(PodvmSriovVfEntry *entry)
{
    g_free(entry->address);
}

static gint
vf_entry_compare(gconstpointer a, gconstpointer b)
{
    const PodvmSriovVfEntry *x = a, *y = b;

    return x->index < y->index ? -1 : x->index > y->index;
}

/* The PF's VFs (virtfnN links of its PCI device), by index. */
GArray *
podvm_sriov_pf_vfs(const PodvmSriovHost *host, const char *pf_ifname, const char *pf_addr,
                   GError **error)
{
    g_autofree char *dir_path = sysfs_path(host, "bus", "pci", "devices", pf_addr, NULL);
    g_autoptr(GArray) vfs = g_array_new(FALSE, TRUE, sizeof(PodvmSriovVfEntry));
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GError) local = NULL;
    const char *entry;

    g_array_set_clear_func(vfs, (GDestroyNotify)podvm_sriov_vf_entry_clear);
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
        PodvmSriovVfEntry vf;

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
gboolean
podvm_sriov_check_is_vf(const PodvmSriovHost *host, const char *address, char **out_pf_addr,
                        GError **error)
{
    g_autofree char *dev = sysfs_path(host, "bus", "pci", "devices", address, NULL);
    g_autofree char *physfn_path = g_build_filename(dev, "physfn", NULL);
    g_autofree char *physfn = NULL;
    g_autoptr(GError) local = NULL;

    if (!podvm_sriov_check_pci_address(address, error))
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
gboolean
podvm_sriov_check_vf_usable(const PodvmSriovHost *host, const char *address, char **out_group,
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
gboolean
podvm_sriov_bind_vfio(const PodvmSriovHost *host, const PodvmSriovVf *vf, GError **error)
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
 * Undoes podvm_sriov_bind_vfio() and the MAC/VLAN, as far as it got: off vfio-pci (unless
 * vfio-pci is where the VF was), driver_override cleared, MAC and VLAN
 * cleared, the original driver probed again. Goes on past a failed step and
 * reports the first one.
 */
gboolean
podvm_sriov_restore(const PodvmSriovHost *host, const char *address, const char *pf_ifname,
                    gint64 vf_index, const char *original_driver, GError **error)
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

/* ---- the vfio group device ------------------------------------------------------------------ */

char *
podvm_sriov_iommu_group(const PodvmSriovHost *host, const char *pci_address, GError **error)
{
    g_autofree char *path = NULL;
    g_autofree char *group = NULL;
    g_autoptr(GError) local = NULL;

    if (!podvm_sriov_check_pci_address(pci_address, error))
        return NULL;
    path = sysfs_path(host, "bus", "pci", "devices", pci_address, "iommu_group", NULL);
    group = link_name(path, &local);
    if (group == NULL || !group_number_is_valid(group)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND,
                    _("device %s has no IOMMU group: %s"), pci_address,
                    local != NULL ? local->message : _("its iommu_group link names none"));
        return NULL;
    }
    return g_steal_pointer(&group);
}

static gboolean
vfio_chown(const PodvmSriovHost *host, const char *group, guint uid, guint gid, GError **error)
{
    g_autofree char *path = NULL;
    char fd_path[64];
    struct stat st;
    int fd;

    if (!group_number_is_valid(group)) {
        g_autofree char *quoted = podvm_quote_for_message(group != NULL ? group : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s is not an IOMMU group number"), quoted);
        return FALSE;
    }
    path = g_build_filename(host->dev_root != NULL ? host->dev_root : "/dev", "vfio", group, NULL);
    fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(saved),
                    _("cannot open '%s' (is vfio-pci bound to the VF?): %s"), path,
                    g_strerror(saved));
        return FALSE;
    }
    if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) {
        close(fd);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED,
                    _("'%s' is not the character device of a vfio group"), path);
        return FALSE;
    }
    /* On the inode checked above, never the name again: an O_PATH fd (opening the group
     * device itself would open the vfio group). chmod goes through its /proc link. */
    g_snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
    if (fchownat(fd, "", (uid_t)uid, (gid_t)gid, AT_EMPTY_PATH) != 0 || chmod(fd_path, 0600) != 0) {
        int saved = errno;

        close(fd);
        g_set_error(error, PODVM_ERROR, podvm_net_errno_code(saved),
                    _("cannot give '%s' to %u:%u: %s"), path, uid, gid, g_strerror(saved));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

gboolean
podvm_sriov_vfio_grant(const PodvmSriovHost *host, const char *iommu_group, guint uid, guint gid,
                       GError **error)
{
    return vfio_chown(host, iommu_group, uid, gid, error);
}

gboolean
podvm_sriov_vfio_revoke(const PodvmSriovHost *host, const char *iommu_group, GError **error)
{
    return vfio_chown(host, iommu_group, 0, 0, error);
}
