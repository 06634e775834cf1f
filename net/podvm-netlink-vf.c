/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-netlink-vf.c: podvm_nl_vf_set() of podvm-netlink.h, and the
 * production set_vf of podvm-sriov.h. A VF's MAC and VLAN are set on its PF
 * (RTM_SETLINK with IFLA_VFINFO_LIST: IFLA_VF_MAC, IFLA_VF_VLAN), as
 * "ip link set PF vf N mac M vlan V" does.
 */
#include "podvm-build-config.h"

#include "podvm-netlink.h"

#include <glib/gi18n-lib.h>
#include <linux/if_ether.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/sriov.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-sriov.h"

typedef struct nl_sock PodvmNlSock;
typedef struct rtnl_link PodvmVfLink;
typedef struct rtnl_link_vf PodvmVfInfo;
typedef struct nl_addr PodvmVfAddr;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmNlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmVfLink, rtnl_link_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmVfInfo, rtnl_link_vf_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmVfAddr, nl_addr_put)

static PodvmErrorCode
vf_error_code(int err)
{
    switch (err < 0 ? -err : err) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
        return PODVM_ERROR_NOT_FOUND;
    case NLE_OPNOTSUPP:
        return PODVM_ERROR_NOT_SUPPORTED;
    case NLE_PERM:
        return PODVM_ERROR_PERMISSION_DENIED;
    case NLE_INVAL:
    case NLE_RANGE:
        return PODVM_ERROR_INVALID_ARGUMENT;
    default:
        return PODVM_ERROR_FAILED;
    }
}

static gboolean
pf_name_is_valid(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;

    if (len == 0 || len > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return FALSE;
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '/' || *p == ':' || g_ascii_isspace(*p) || g_ascii_iscntrl(*p) ||
            (guchar)*p >= 0x80)
            return FALSE;
    }
    return TRUE;
}

/*
 * @nl names the namespace: the calling thread's, where @nl was opened. The
 * request goes on a route socket of its own (setting a VF is rare: once per
 * claim and release), so this file needs nothing of PodvmNl's insides.
 */
gboolean
podvm_nl_vf_set(PodvmNl *nl, const char *pf_ifname, guint vf_index, const guint8 mac[6], guint vlan,
                GError **error)
{
    g_autoptr(PodvmNlSock) sock = NULL;
    g_autoptr(PodvmVfLink) pf = NULL;
    g_autoptr(PodvmVfLink) change = NULL;
    g_autoptr(PodvmVfInfo) vf = NULL;
    g_autoptr(PodvmVfAddr) addr = NULL;
    nl_vf_vlans_t *vlans = NULL;
    int err;

    (void)nl;
    if (!pf_name_is_valid(pf_ifname)) {
        g_autofree char *quoted = podvm_quote_for_message(pf_ifname != NULL ? pf_ifname : "");

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("bad interface name %s: 1 to 15 bytes, no '/', ':' or spaces"), quoted);
        return FALSE;
    }
    if (vlan > 4095 || vf_index > G_MAXINT32) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("VF %u of '%s': VLAN %u is out of range (0: none, up to 4095)"), vf_index,
                    pf_ifname, vlan);
        return FALSE;
    }
    sock = nl_socket_alloc();
    if (sock == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("cannot allocate a netlink socket"));
        return FALSE;
    }
    err = nl_connect(sock, NETLINK_ROUTE);
    if (err < 0) {
        g_set_error(error, PODVM_ERROR, vf_error_code(err), _("cannot open a netlink socket: %s"),
                    nl_geterror(err));
        return FALSE;
    }
    err = rtnl_link_get_kernel(sock, 0, pf_ifname, &pf);
    if (err < 0) {
        g_set_error(error, PODVM_ERROR, vf_error_code(err),
                    _("cannot find physical function '%s': %s"), pf_ifname, nl_geterror(err));
        return FALSE;
    }

    vf = rtnl_link_vf_alloc();
    addr = nl_addr_build(AF_LLC, mac, 6);
    if (vf == NULL || addr == NULL || rtnl_link_vf_vlan_alloc(&vlans, 1) < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("out of memory"));
        return FALSE;
    }
    rtnl_link_vf_set_index(vf, vf_index);
    rtnl_link_vf_set_addr(vf, addr);
    vlans->vlans[0].vf_vlan = vlan;
    vlans->vlans[0].vf_vlan_qos = 0;
    vlans->vlans[0].vf_vlan_proto = ETH_P_8021Q; /* one 802.1Q VLAN: IFLA_VF_VLAN */
    rtnl_link_vf_set_vlans(vf, vlans);
    rtnl_link_vf_vlan_put(vlans);

    change = rtnl_link_alloc();
    if (change == NULL || rtnl_link_vf_add(change, vf) < 0) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("out of memory"));
        return FALSE;
    }
    err = rtnl_link_change(sock, pf, change, 0);
    if (err < 0) {
        g_autofree char *mac_text = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
                                                    mac[2], mac[3], mac[4], mac[5]);

        g_set_error(error, PODVM_ERROR, vf_error_code(err),
                    _("cannot set MAC %s and VLAN %u on VF %u of '%s': %s"), mac_text, vlan,
                    vf_index, pf_ifname, nl_geterror(err));
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_sriov_set_vf_netlink(const char *pf_ifname, guint vf_index, const guint8 mac[6], guint vlan,
                           gpointer user_data, GError **error)
{
    (void)user_data;
    return podvm_nl_vf_set(NULL, pf_ifname, vf_index, mac, vlan, error);
}
