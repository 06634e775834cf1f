/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Network namespaces, as files. A pod's namespace is a bind mount of an
 * nsfs file (like `ip netns add`, but at a path of our choosing under the
 * pod's run directory), so it outlives the thread that made it and a
 * restarted podvmd finds it again.
 *
 * podvmd is multi-threaded: setns() and unshare() change only the calling
 * thread. Everything that must happen inside a namespace runs in a fresh
 * thread that joins it, does its work and ends (podvm_netns_run()); no
 * thread of a pool is ever moved into another namespace.
 */

/* A new namespace bind-mounted at @path (created; must not exist), with lo up. */
gboolean podvm_netns_create(const char *path, GError **error);
/* The namespace at @path: an O_RDONLY|O_CLOEXEC fd, or -1 with @error. */
int podvm_netns_open(const char *path, GError **error);
/* Whether @path is a namespace mount (FALSE for a missing or plain file). */
gboolean podvm_netns_exists(const char *path);
/* Unmounts and unlinks @path; a missing @path is fine. */
gboolean podvm_netns_remove(const char *path, GError **error);

typedef gboolean (*PodvmNetnsFunc)(gpointer user_data, GError **error);
/*
 * Runs @func in a new thread that joined @netns_fd (CLONE_NEWNET only),
 * and waits for it. Blocks the caller: call it from a GTask worker thread
 * (g_task_run_in_thread), never from the main loop for long work.
 */
gboolean podvm_netns_run(int netns_fd, PodvmNetnsFunc func, gpointer user_data, GError **error);
/* A socket created inside @netns_fd (it stays bound to that namespace), CLOEXEC. */
int podvm_netns_socket(int netns_fd, int domain, int type, int protocol, GError **error);

G_END_DECLS
