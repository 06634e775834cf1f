/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * An "outside host" for network tests: a network namespace of its own on a
 * veth pair with the test's namespace (which the test program entered with
 * podvm_test_netns_enter()), in documentation ranges:
 *
 *   test side    PODVM_TEST_OUTSIDE_LINK  192.0.2.2/24  2001:db8::2/64
 *   outside side eth0                     192.0.2.1/24  2001:db8::1/64
 *
 * The outside host's default routes go through the test side (192.0.2.2,
 * 2001:db8::2), so it answers any address the test's namespace routes or
 * NATs. It runs an HTTP server on 192.0.2.1:8080 and [2001:db8::1]:8080,
 * on the thread-default main context of the creating thread, that answers
 * every request with the body "PODVM-OUTSIDE <peer address>\n" and
 * records each peer: a test sees where a connection came from (egress NAT).
 */

#define PODVM_TEST_OUTSIDE_LINK "outside0"
#define PODVM_TEST_OUTSIDE_ADDRESS "192.0.2.1"
#define PODVM_TEST_OUTSIDE_ADDRESS6 "2001:db8::1"
#define PODVM_TEST_OUTSIDE_GATEWAY "192.0.2.2"
#define PODVM_TEST_OUTSIDE_GATEWAY6 "2001:db8::2"
#define PODVM_TEST_OUTSIDE_PORT 8080
#define PODVM_TEST_OUTSIDE_URL "http://192.0.2.1:8080/"
#define PODVM_TEST_OUTSIDE_URL6 "http://[2001:db8::1]:8080/"

typedef struct _PodvmTestOutside PodvmTestOutside;

/* The namespace is bind-mounted at @tmpdir/outside (which must not exist). */
PodvmTestOutside *podvm_test_outside_new(const char *tmpdir, GError **error);
/* Stops the server, removes the namespace (and so the veth pair). */
void podvm_test_outside_free(PodvmTestOutside *outside);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmTestOutside, podvm_test_outside_free)

/* The namespace's path (for nsenter --net=) and an fd of it (owned by @outside). */
const char *podvm_test_outside_netns_path(PodvmTestOutside *outside);
int podvm_test_outside_netns_fd(PodvmTestOutside *outside);

/* The peer addresses the server answered, oldest first ("192.0.2.2", "2001:db8::2"). */
GPtrArray *podvm_test_outside_peers(PodvmTestOutside *outside);
/* Runs the main loop until the server answered @address, or @timeout_ms passed. */
gboolean podvm_test_outside_wait_peer(PodvmTestOutside *outside, const char *address,
                                      guint timeout_ms);

/*
 * GET http://@address:@port@path from inside the outside namespace (a
 * socket made there, connected in a worker thread while the main loop
 * runs). Returns the body of a 200 answer; an error for anything else
 * (refused, timed out, another status).
 */
char *podvm_test_outside_get(PodvmTestOutside *outside, const char *address, guint16 port,
                             const char *path, guint timeout_ms, GError **error);

/*
 * The same GET from the namespace @netns_fd, or from the calling thread's
 * own namespace when @netns_fd is -1. @address is an IPv4 or IPv6 literal.
 */
char *podvm_test_http_get(int netns_fd, const char *address, guint16 port, const char *path,
                          guint timeout_ms, GError **error);

/* { "nsenter", "--net=@netns_path", "--", @argv... }: a command run in a namespace. */
char **podvm_test_netns_argv(const char *netns_path, const char *const *argv);
/*
 * Runs @argv inside the outside namespace (nsenter) while the main loop
 * runs; TRUE when it exits 0. Its stdout goes to @out_stdout when not
 * NULL; its stderr is in the error message when it fails.
 */
gboolean podvm_test_outside_run(PodvmTestOutside *outside, const char *const *argv,
                                char **out_stdout, GError **error);

G_END_DECLS
