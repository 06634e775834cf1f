/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What pod networking tests share (test-net-*.c): a podvmd whose CNI
 * directory holds two test networks ("pods": bridge podvm0, 10.66.0.0/16,
 * the default; "extra": bridge podvm1, 10.77.0.0/24), the test guest with
 * interfaces and networks, console markers, HTTP through curl, and what is
 * left in the test's namespace (leases, bridge ports, nft rules). The test
 * program enters its own namespace first (podvm_test_netns_enter()) and
 * stores the reason it could not in podvm_test_net_skip_reason.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-test-daemon.h"

G_BEGIN_DECLS

#define PODVM_TEST_NET_BOOT_TIMEOUT_MS 90000
#define PODVM_TEST_NET_TIMEOUT_MS 60000

/* A masquerade interface "default" declaring port 80, and the pod network it is on. */
#define PODVM_TEST_NET_MASQUERADE_IFACES                                                       \
    "[{\"name\": \"default\", \"masquerade\": {}, \"ports\": [{\"name\": \"http\", \"port\": " \
    "80}]}]"
#define PODVM_TEST_NET_POD_NETWORK "[{\"name\": \"default\", \"pod\": {}}]"

extern char *podvm_test_net_skip_reason;

typedef struct {
    PodvmTestDaemon *daemon;
    char *cni_dir;
    GPtrArray *pods; /* names created: deleted at teardown, so CNI DEL runs for each */
} PodvmTestNet;

/* Test data for the fixture: pods' network without ipMasq (egress keeps the pod's address). */
#define PODVM_TEST_NET_NO_HOST_MASQUERADE GINT_TO_POINTER(1)
/* Test data for the fixture: the pods' network is dual stack (IPv6 in ..._POD_SUBNET6 too). */
#define PODVM_TEST_NET_DUAL_STACK GINT_TO_POINTER(2)
#define PODVM_TEST_NET_POD_SUBNET6 "fd66:706f:6476::/64"

void podvm_test_net_write_conflist(const char *dir, const char *file, const char *name,
                                   const char *bridge, const char *subnet, gboolean masquerade);
/* The same with an IPv6 range @subnet6 (and a default route ::/0) too, unless NULL. */
void podvm_test_net_write_conflist_dual(const char *dir, const char *file, const char *name,
                                        const char *bridge, const char *subnet, const char *subnet6,
                                        gboolean masquerade);
void podvm_test_net_setup(PodvmTestNet *f, gconstpointer data);
/* Deletes every pod the test created (CNI DEL runs), then ends podvmd. */
void podvm_test_net_teardown(PodvmTestNet *f, gconstpointer data);
/* The test guest with @interfaces and @networks (JSON arrays as text). */
char *podvm_test_net_spec(const char *name, const char *kernel_args, const char *interfaces,
                          const char *networks);
void podvm_test_net_create_pod(PodvmTestNet *f, const char *spec);
void podvm_test_net_start_pod(PodvmTestNet *f, const char *name);
/* Deletes the pod (forced); asserts it worked. */
void podvm_test_net_delete_pod(PodvmTestNet *f, const char *name);
/* Waits for @needle on the pod's console; fails the test with the console otherwise. */
void podvm_test_net_wait_console(PodvmTestNet *f, const char *name, const char *needle,
                                 guint timeout_ms);
/* The same, for the (@seen + 1)th time (a guest started again says it again). */
void podvm_test_net_wait_console_again(PodvmTestNet *f, const char *name, const char *needle,
                                       guint seen, guint timeout_ms);
/* How often @needle is on the pod's console so far. */
guint podvm_test_net_console_count(PodvmTestNet *f, const char *name, const char *needle);
char *podvm_test_net_status_string(PodvmTestNet *f, const char *name, const char *member);
char *podvm_test_net_interface_string(PodvmTestNet *f, const char *name, guint index,
                                      const char *member);
/* GET @url with curl in the test's namespace: the body, or NULL. */
char *podvm_test_net_http_get(const char *url, guint seconds);
char *podvm_test_net_http_get_retry(const char *url, guint timeout_ms);
char *podvm_test_net_run(const char *const *argv);
char *podvm_test_net_pod_netns(PodvmTestNet *f, const char *name);
/* `nft list table inet podvm` in the pod's namespace (without counters). */
char *podvm_test_net_pod_nft_table(PodvmTestNet *f, const char *name);
/* `nft list ruleset` in the test's namespace, iptables-nft's rules too (without counters). */
char *podvm_test_net_host_ruleset(void);
/* Host-local leases of @network in the tests' IPAM directory. */
guint podvm_test_net_ipam_leases(PodvmTestNet *f, const char *network);
/* Links enslaved to @bridge in the test's namespace (a veth per attached pod). */
guint podvm_test_net_bridge_ports(const char *bridge);

G_END_DECLS
