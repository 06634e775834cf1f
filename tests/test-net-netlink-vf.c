/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm_nl_vf_set() against the kernel, in the test's own network
 * namespace. No link here has VFs (no SR-IOV hardware, no netdevsim), so
 * the kernel answers EOPNOTSUPP; the request itself is checked as it
 * leaves the socket (libnl's NL_CB_MSG_OUT): IFLA_VFINFO_LIST with one
 * IFLA_VF_INFO holding IFLA_VF_MAC and IFLA_VF_VLAN for the right VF.
 */
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-net-private.h"
#include "podvm-netlink.h"
#include "podvm-sriov.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

static char *netns_skip_reason;

static const guint8 MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

typedef struct {
    guint messages;
    int last_type;
    int last_ifindex;
    guint vf_infos;
    guint mac_vf;
    guint8 mac[6];
    guint vlan_vf;
    guint vlan;
    guint qos;
} Sent;

static int
msg_out_cb(struct nl_msg *msg, void *arg)
{
    Sent *sent = arg;
    struct nlmsghdr *hdr = nlmsg_hdr(msg);
    struct nlattr *tb[IFLA_MAX + 1];
    struct nlattr *info;
    int rem;

    sent->messages++;
    sent->last_type = hdr->nlmsg_type;
    if (hdr->nlmsg_type != RTM_NEWLINK && hdr->nlmsg_type != RTM_SETLINK)
        return NL_OK;
    sent->last_ifindex = ((struct ifinfomsg *)nlmsg_data(hdr))->ifi_index;
    g_assert_cmpint(nlmsg_parse(hdr, sizeof(struct ifinfomsg), tb, IFLA_MAX, NULL), ==, 0);
    g_assert_nonnull(tb[IFLA_VFINFO_LIST]);
    sent->vf_infos = 0;
    nla_for_each_nested(info, tb[IFLA_VFINFO_LIST], rem)
    {
        struct nlattr *vf[IFLA_VF_MAX + 1];

        g_assert_cmpint(nla_type(info), ==, IFLA_VF_INFO);
        g_assert_cmpint(nla_parse_nested(vf, IFLA_VF_MAX, info, NULL), ==, 0);
        sent->vf_infos++;
        g_assert_nonnull(vf[IFLA_VF_MAC]);
        g_assert_nonnull(vf[IFLA_VF_VLAN]);
        g_assert_null(vf[IFLA_VF_VLAN_LIST]);
        {
            const struct ifla_vf_mac *mac = nla_data(vf[IFLA_VF_MAC]);
            const struct ifla_vf_vlan *vlan = nla_data(vf[IFLA_VF_VLAN]);

            sent->mac_vf = mac->vf;
            memcpy(sent->mac, mac->mac, 6);
            sent->vlan_vf = vlan->vf;
            sent->vlan = vlan->vlan;
            sent->qos = vlan->qos;
        }
    }
    return NL_OK;
}

static void
test_vf_set_request(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmNl) nl = NULL;
    Sent sent = { 0 };

    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return;
    }
    nl = podvm_nl_open(&error);
    g_assert_no_error(error);
    nl_socket_modify_cb(nl->sock, NL_CB_MSG_OUT, NL_CB_CUSTOM, msg_out_cb, &sent);

    g_assert_false(podvm_nl_vf_set(nl, "lo", 3, MAC, 100, &error));
    g_test_message("lo: %s", error->message);
    /* "lo" has no VFs: the kernel refuses what it cannot do, and says so. */
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "52:54:00:12:34:56"));
    g_assert_nonnull(strstr(error->message, "VF 3 of 'lo'"));
    /* What went out: a link request for lo with one VF's MAC and VLAN. */
    g_assert_cmpint(sent.last_ifindex, ==, (int)if_nametoindex("lo"));
    g_assert_true(sent.last_type == RTM_SETLINK || sent.last_type == RTM_NEWLINK);
    g_assert_cmpuint(sent.vf_infos, ==, 1);
    g_assert_cmpuint(sent.mac_vf, ==, 3);
    g_assert_cmpmem(sent.mac, 6, MAC, 6);
    g_assert_cmpuint(sent.vlan_vf, ==, 3);
    g_assert_cmpuint(sent.vlan, ==, 100);
    g_assert_cmpuint(sent.qos, ==, 0);
    g_clear_error(&error);

    /* VLAN 0: no VLAN, still sent (it clears one). */
    g_assert_false(podvm_nl_vf_set(nl, "lo", 0, MAC, 0, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
    g_assert_cmpuint(sent.vlan_vf, ==, 0);
    g_assert_cmpuint(sent.vlan, ==, 0);
}

static void
test_vf_set_refused(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmNl) nl = NULL;
    Sent sent = { 0 };

    if (netns_skip_reason != NULL) {
        g_test_skip(netns_skip_reason);
        return;
    }
    nl = podvm_nl_open(&error);
    g_assert_no_error(error);
    nl_socket_modify_cb(nl->sock, NL_CB_MSG_OUT, NL_CB_CUSTOM, msg_out_cb, &sent);

    /* Checked before any request. */
    g_assert_false(podvm_nl_vf_set(nl, "../eth0", 0, MAC, 0, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(podvm_nl_vf_set(nl, "lo", 0, MAC, 4096, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_cmpuint(sent.messages, ==, 0);

    g_assert_false(podvm_nl_vf_set(nl, "nosuch0", 0, MAC, 0, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "'nosuch0'"));
    g_clear_error(&error);

    /* The production set_vf of the SR-IOV host opens its own socket. */
    g_assert_false(podvm_sriov_set_vf_netlink("lo", 1, MAC, 7, NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_SUPPORTED);
}

int
main(int argc, char **argv)
{
    /* Before g_test_init() and anything else that could start a thread. */
    if (!podvm_test_netns_enter(&netns_skip_reason))
        g_assert_nonnull(netns_skip_reason);

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/net/netlink/vf-set-request", test_vf_set_request);
    g_test_add_func("/podvm/net/netlink/vf-set-refused", test_vf_set_refused);
    return g_test_run();
}
