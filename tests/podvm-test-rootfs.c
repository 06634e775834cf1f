/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fixture test-app-rootfs and test-app-rootfs-helper share. */
#include "podvm-test-rootfs.h"

#include "podvm-test-util.h"

static gboolean
have_erofs_utils(void)
{
    g_autofree char *mkfs = g_find_program_in_path("mkfs.erofs");
    g_autofree char *fsck = g_find_program_in_path("fsck.erofs");
    g_autofree char *dump = g_find_program_in_path("dump.erofs");

    if (mkfs == NULL)
        mkfs = g_file_test("/usr/sbin/mkfs.erofs", G_FILE_TEST_IS_EXECUTABLE)
                   ? g_strdup("/usr/sbin/mkfs.erofs")
                   : NULL;
    return mkfs != NULL && fsck != NULL && dump != NULL;
}

void
podvm_test_rootfs_set_up(PodvmTestRootfsFixture *f, gconstpointer data)
{
    (void)data;
    f->tmp = podvm_test_mkdtemp();
    f->layout = g_build_filename(f->tmp, "layout", NULL);
    f->rootfs_dir = g_build_filename(f->tmp, "store", "rootfs", NULL);
    f->extracted = g_build_filename(f->tmp, "extracted", NULL);
    g_assert_cmpint(g_mkdir_with_parents(f->rootfs_dir, 0755), ==, 0);
}

void
podvm_test_rootfs_tear_down(PodvmTestRootfsFixture *f, gconstpointer data)
{
    (void)data;
    podvm_test_rmrf(f->tmp);
    g_free(f->tmp);
    g_free(f->layout);
    g_free(f->rootfs_dir);
    g_free(f->extracted);
}

gboolean
podvm_test_rootfs_require_erofs(void)
{
    if (!have_erofs_utils()) {
        g_test_skip("erofs-utils (mkfs.erofs, fsck.erofs, dump.erofs) is not installed");
        return FALSE;
    }
    return TRUE;
}

char *
podvm_test_rootfs_write_image(PodvmTestRootfsFixture *f, PodvmTestImage *image, char **out_digest)
{
    g_autofree char *digest = podvm_test_image_write_layout(image, f->layout, "v1", NULL);

    if (out_digest != NULL)
        *out_digest = g_strdup(digest);
    return g_strdup_printf("oci:%s:v1", f->layout);
}
