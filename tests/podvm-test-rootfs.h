/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "podvm-test-image.h"

/*
 * App root filesystems built from images written by podvm-test-image, in a
 * temporary directory: the layout the image goes to, the store's rootfs
 * directory, and where fsck.erofs extracts a built image.
 */
typedef struct {
    char *tmp;
    char *layout;
    char *rootfs_dir;
    char *extracted;
} PodvmTestRootfsFixture;

void podvm_test_rootfs_set_up(PodvmTestRootfsFixture *f, gconstpointer data);
void podvm_test_rootfs_tear_down(PodvmTestRootfsFixture *f, gconstpointer data);
/* FALSE, the test skipped with the reason, without erofs-utils. */
gboolean podvm_test_rootfs_require_erofs(void);
/* Writes @image into f->layout as tag v1: its reference ("oci:DIR:v1"), and its manifest digest. */
char *podvm_test_rootfs_write_image(PodvmTestRootfsFixture *f, PodvmTestImage *image,
                                    char **out_digest);
