/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Network tests run in a network and mount namespace of their own, made
 * here, so nothing they do touches the machine's links, routes or firewall
 * and no traffic leaves it. Call first thing in main(), before any thread
 * exists (unshare() of the mount namespace refuses a threaded process).
 * Returns FALSE with @why set when that is not possible here (not root,
 * no user namespaces); the test then skips with that reason.
 */
gboolean podvm_test_netns_enter(char **why);

/*
 * Whether a test can go on: this program is in a namespace of its own
 * (podvm_test_netns_enter() worked) and each program named (a
 * NULL-terminated list, maybe empty) is on PATH. Otherwise the test is
 * skipped with the reason and FALSE is returned.
 */
gboolean podvm_test_netns_require(const char *program, ...);

/*
 * Runs the command @first ... (NULL-terminated, found on PATH, no shell)
 * and waits for it; its output is dropped. FALSE with its stderr in @error
 * (which may be NULL) when it cannot run or fails.
 */
gboolean podvm_test_netns_run(GError **error, const char *first, ...) G_GNUC_NULL_TERMINATED;
/* The same, asserting it ran; its standard output. */
char *podvm_test_netns_run_output(const char *first, ...) G_GNUC_NULL_TERMINATED;

G_END_DECLS
