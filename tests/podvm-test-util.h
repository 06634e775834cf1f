/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Shared helpers for the test programs. The "require" helpers return FALSE
 * after g_test_skip() with a reason a person can act on, so a test that
 * lacks a capability skips instead of passing silently:
 *
 *     if (!podvm_test_require_qemu())
 *         return;
 */

/* qemu-system-x86_64 on PATH (or $PODVM_QEMU). */
gboolean podvm_test_require_qemu(void);
/* The test guest built by tests/guest (vmlinuz + initrd.img non-empty). */
gboolean podvm_test_require_guest(void);

/*
 * The test guest on Debian's generic kernel (tests/guest/generic,
 * $PODVM_GUEST_GENERIC_DIR): the same init, plus the e1000 and 8139 NIC
 * drivers the default (cloud) kernel lacks.
 */
gboolean podvm_test_require_guest_generic(void);
char *podvm_test_guest_generic_kernel(void);
char *podvm_test_guest_generic_initrd(void);

/* "qemu-system-x86_64" or $PODVM_QEMU. */
const char *podvm_test_qemu_binary(void);
/* Paths of the guest kernel and initramfs (may not exist). */
char *podvm_test_guest_kernel(void);
char *podvm_test_guest_initrd(void);

/* A fresh temporary directory, removed (recursively) by podvm_test_rmrf(). */
char *podvm_test_mkdtemp(void);
void podvm_test_rmrf(const char *path);

/*
 * Runs the main loop until @condition(user_data) is TRUE or @timeout_ms
 * passes; returns whether the condition became TRUE.
 */
gboolean podvm_test_wait_until(gboolean (*condition)(gpointer user_data), gpointer user_data,
                               guint timeout_ms);

/* Waits until @path's content contains @needle (polling every 20 ms). */
gboolean podvm_test_wait_for_file_content(const char *path, const char *needle, guint timeout_ms);

/* Number of non-overlapping occurrences of @needle in @path's content. */
guint podvm_test_count_in_file(const char *path, const char *needle);

/*
 * A self-signed certificate (openssl req) for @names (the first is the
 * subject; each is a subjectAltName, IP or DNS): DIR/cert.pem and
 * DIR/key.pem. FALSE after g_test_skip() when openssl is missing or fails.
 */
gboolean podvm_test_make_certificate(const char *dir, const char *const *names, char **out_cert,
                                     char **out_key);

/*
 * A unix datagram socket the test binds, playing systemd's part for a
 * podvmd it starts: $NOTIFY_SOCKET (sd_notify) or the journal's socket.
 */
typedef struct {
    char *dir;
    char *path; /* DIR/NAME */
    int fd;
} PodvmTestDgram;

void podvm_test_dgram_open(PodvmTestDgram *d, const char *name);
void podvm_test_dgram_close(PodvmTestDgram *d);
/* The next datagram within @timeout_ms, or NULL. */
GBytes *podvm_test_dgram_next(PodvmTestDgram *d, int timeout_ms);
/* The same as a string (a datagram of text: sd_notify's). */
char *podvm_test_dgram_next_text(PodvmTestDgram *d, int timeout_ms);

G_END_DECLS
