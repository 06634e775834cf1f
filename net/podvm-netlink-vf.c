/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-netlink-vf.c: podvm_nl_vf_set() of podvm-netlink.h, and the
 * production set_vf of podvm-sriov.h. A VF's MAC and VLAN are set on its PF
 * (RTM_NEWLINK, then RTM_SETLINK, with IFLA_VFINFO_LIST: IFLA_VF_MAC and
 * IFLA_VF_VLAN), as "ip link set PF vf N mac M vlan V" does.
 */
#include "podvm-build-config.h"

#include "podvm-netlink.h"

#include <glib/gi18n-lib.h>
#include <linux/if_ether.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link/sriov.h>

#include "podvm-error.h"
#include "podvm-libnl.h"
#include "podvm-net-private.h"
#include "podvm-sriov.h"

typedef struct rtnl_link_vf PodvmRtnlLinkVf;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmRtnlLinkVf, rtnl_link_vf_put)

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

gboolean
podvm_nl_vf_set(PodvmNl *nl, const char *pf_ifname, guint vf_index, const guint8 mac[6], guint vlan,
                GError **error)
{
    g_autoptr(PodvmRtnlLink) pf = NULL;
    g_autoptr(PodvmRtnlLink) change = NULL;
    g_autoptr(PodvmRtnlLinkVf) vf = NULL;
    g_autoptr(PodvmNlAddr) addr = NULL;
    nl_vf_vlans_t *vlans = NULL;
    int err;

    g_return_val_if_fail(nl != NULL && mac != NULL, FALSE);
    if (!podvm_net_check_ifname(pf_ifname, error))
        return FALSE;
    if (vlan > 4095 || vf_index >= G_MAXINT32) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("VF %u of '%s': VLAN %u is out of range (0: none, up to 4095)"), vf_index,
                    pf_ifname, vlan);
        return FALSE;
    }
    err = rtnl_link_get_kernel(nl->sock, 0, pf_ifname, &pf);
    if (err < 0) {
        g_set_error(error, PODVM_ERROR, vf_error_code(err),
                    _("cannot find physical function '%s': %s"), pf_ifname, nl_geterror(err));
        return FALSE;
    }

    vf = rtnl_link_vf_alloc();
    addr = nl_addr_build(AF_LLC, mac, 6);
    change = rtnl_link_alloc();
    if (vf == NULL || addr == NULL || change == NULL || rtnl_link_vf_vlan_alloc(&vlans, 1) < 0) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("out of memory"));
        return FALSE;
    }
    rtnl_link_vf_set_index(vf, vf_index);
    rtnl_link_vf_set_addr(vf, addr); /* takes its own reference */
    /* One 802.1Q VLAN (0: none) goes as IFLA_VF_VLAN, which every SR-IOV driver takes. */
    vlans->vlans[0].vf_vlan = vlan;
    vlans->vlans[0].vf_vlan_qos = 0;
    vlans->vlans[0].vf_vlan_proto = ETH_P_8021Q;
    rtnl_link_vf_set_vlans(vf, vlans); /* takes its own reference */
    rtnl_link_vf_vlan_put(vlans);
    err = rtnl_link_vf_add(change, vf); /* takes its own reference */
    if (err >= 0)
        err = rtnl_link_change(nl->sock, pf, change, 0);
    if (err < 0) {
        g_autofree char *mac_text = podvm_mac_to_string(mac);

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
    g_autoptr(PodvmNl) nl = podvm_nl_open(error);

    (void)user_data;
    return nl != NULL && podvm_nl_vf_set(nl, pf_ifname, vf_index, mac, vlan, error);
}
