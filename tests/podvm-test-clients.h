/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "podvm-test-daemon.h"

G_BEGIN_DECLS

/*
 * What a process holds (from /proc), and plain HTTP/1.1 clients on raw
 * sockets: for tests that open thousands of connections, or open them and
 * never read.
 */

/* podvmd's pid. */
GPid podvm_test_daemon_pid(PodvmTestDaemon *daemon);
/* Open fds, resident set (KiB), CPU time used (user + system, in clock ticks). */
guint podvm_test_proc_fds(GPid pid);
guint64 podvm_test_proc_rss_kib(GPid pid);
guint64 podvm_test_proc_cpu_ticks(GPid pid);
/*
 * Waits (up to @timeout_ms) until @pid holds at most @max fds; returns the
 * last count.
 */
guint podvm_test_wait_fds_at_most(GPid pid, guint max, guint timeout_ms);

/* A TCP port free right now on 127.0.0.1. */
guint16 podvm_test_free_tcp_port(void);
/* A connected blocking socket (reads time out after 10 s); asserts. */
int podvm_test_connect_unix(const char *path);
int podvm_test_connect_tcp(guint16 port);
/* Makes the socket's receive buffer as small as the kernel allows (a client that reads little). */
void podvm_test_shrink_receive_buffer(int fd);
/* Sends all of @text; FALSE when the peer is gone. */
gboolean podvm_test_send_all(int fd, const char *text, gsize length);
/*
 * Sends @request and reads one answer with a Content-Length; returns its
 * status, 0 when the connection ended first.
 */
guint podvm_test_http_roundtrip(int fd, const char *request);
/*
 * @n connections, each for @per requests (asserting 200), each closed by the
 * client; every other one on TCP @port with @tcp_request, the others on
 * @socket_path with @unix_request.
 */
void podvm_test_http_connections(const char *socket_path, guint16 port, guint n, guint per,
                                 const char *unix_request, const char *tcp_request);
/* Reads until end of file or error (or @timeout_ms); returns whether the peer closed. */
gboolean podvm_test_read_until_closed(int fd, guint timeout_ms);

G_END_DECLS
