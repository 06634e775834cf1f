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

G_END_DECLS
