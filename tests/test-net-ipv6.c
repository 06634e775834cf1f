/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IPv6 end to end through masquerade, in a network and mount namespace of
 * the test's own: the pods' network is dual stack (host-local IPAM with an
 * IPv4 and an IPv6 range, routes for 0.0.0.0/0 and ::/0), the test guest
 * takes fd10:0:2::2 by DHCPv6 (podvm-dhcp6; its route from podvmd's RA) and
 * prints "PODVM-NET6 eth0 fd10:0:2::2", and a page is served at the pod's
 * own IPv6 address on the declared port.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

#define BOOT_TIMEOUT_MS PODVM_TEST_NET_BOOT_TIMEOUT_MS
#define NET_TIMEOUT_MS PODVM_TEST_NET_TIMEOUT_MS

#define MASQUERADE_IFACES PODVM_TEST_NET_MASQUERADE_IFACES
#define POD_NETWORK PODVM_TEST_NET_POD_NETWORK

/* @object's member @member, an array of strings, as a NULL-terminated list (empty when absent). */
static GStrv
string_array(JsonObject *object, const char *member)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    JsonArray *array = json_object_has_member(object, member)
                           ? json_object_get_array_member(object, member)
                           : NULL;

    for (guint i = 0; array != NULL && i < json_array_get_length(array); i++)
        g_strv_builder_add(b, json_array_get_string_element(array, i));
    return g_strv_builder_end(b);
}

/*
 * The guest takes fd10:0:2::2 by DHCPv6; status.interfaces[0].ipAddresses
 * has it beside 10.0.2.2, status.podIPs has the pod's IPv6 address; the
 * declared port 80 is served at [that address]:80, the undeclared 8081 is not.
 */
static void
test_masquerade_ipv6(PodvmTestNet *f, gconstpointer data)
{
    g_autofree char *spec = NULL, *url = NULL, *body = NULL, *url_8081 = NULL;
    g_autofree char *undeclared = NULL, *pod_ip6 = NULL, *pod_ips_text = NULL;
    g_autoptr(JsonObject) status = NULL;
    g_auto(GStrv) pod_ips = NULL;
    g_auto(GStrv) guest_ips = NULL;
    JsonArray *interfaces;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_net_spec("web6", NULL, MASQUERADE_IFACES, POD_NETWORK);
    podvm_test_net_create_pod(f, spec);
    podvm_test_net_start_pod(f, "web6");
    podvm_test_net_wait_console(f, "web6", "PODVM-NET eth0 up 10.0.2.2/24 gw 10.0.2.1",
                                BOOT_TIMEOUT_MS);
    podvm_test_net_wait_console(f, "web6", "PODVM-NET6 eth0 fd10:0:2::2", NET_TIMEOUT_MS);

    status = podvm_test_daemon_status(f->daemon, "web6");
    interfaces = json_object_get_array_member(status, "interfaces");
    g_assert_cmpuint(json_array_get_length(interfaces), ==, 1);
    guest_ips = string_array(json_array_get_object_element(interfaces, 0), "ipAddresses");
    g_assert_true(g_strv_contains((const char *const *)guest_ips, "10.0.2.2"));
    g_assert_true(g_strv_contains((const char *const *)guest_ips, "fd10:0:2::2"));
    pod_ips = string_array(status, "podIPs");
    pod_ips_text = g_strjoinv(",", pod_ips);
    /* IPv4 first, though the CNI result lists the IPv6 range first (README, Networking). */
    g_assert_true(g_str_has_prefix(pod_ips[0], "10.66."));
    g_assert_cmpstr(json_object_get_string_member(status, "podIP"), ==, pod_ips[0]);
    for (guint i = 0; pod_ips[i] != NULL && pod_ip6 == NULL; i++) {
        if (g_str_has_prefix(pod_ips[i], "fd66:706f:6476:"))
            pod_ip6 = g_strdup(pod_ips[i]);
    }
    if (pod_ip6 == NULL)
        g_error("status.podIPs has no address in %s: %s", PODVM_TEST_NET_POD_SUBNET6, pod_ips_text);

    url = g_strdup_printf("http://[%s]:80/", pod_ip6);
    body = podvm_test_net_http_get_retry(url, NET_TIMEOUT_MS);
    if (body == NULL) {
        g_autofree char *rules = podvm_test_net_pod_nft_table(f, "web6");

        g_error("%s cannot be fetched; the pod's NAT table:\n%s", url, rules);
    }
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    g_test_message("%s served %s", url, g_strchomp(body));
    /* Not declared: not forwarded, over IPv6 either. */
    url_8081 = g_strdup_printf("http://[%s]:8081/", pod_ip6);
    undeclared = podvm_test_net_http_get(url_8081, 3);
    g_assert_null(undeclared);
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program. */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);

    g_test_add("/net/ipv6/masquerade", PodvmTestNet, PODVM_TEST_NET_DUAL_STACK,
               podvm_test_net_setup, test_masquerade_ipv6, podvm_test_net_teardown);
    return g_test_run();
}
