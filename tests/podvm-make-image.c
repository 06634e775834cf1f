/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-make-image: writes one of the tests' ready-made app images into an
 * OCI layout, for the demo and the benchmarks (tests build theirs in
 * process with podvm-test-image.h). Push it with skopeo:
 *
 *   podvm-make-image busybox DIR TAG [CMD...]   busybox-static, Cmd CMD (default /bin/sh)
 *   podvm-make-image redis DIR TAG              Debian's redis-server and its libraries
 *   skopeo copy --dest-tls-verify=false oci:DIR:TAG docker://HOST:PORT/REPO:TAG
 *
 * Prints the manifest's digest. Exit 1 when the host lacks what the image is
 * made from (busybox-static, redis-server), 2 on a usage error.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "podvm-test-image.h"

int
main(int argc, char **argv)
{
    g_autoptr(PodvmTestImage) image = NULL;
    g_autofree char *digest = NULL;
    guint64 size = 0;

    if (argc < 4 || (strcmp(argv[1], "busybox") != 0 && strcmp(argv[1], "redis") != 0) ||
        (strcmp(argv[1], "redis") == 0 && argc != 4)) {
        fprintf(stderr, "usage: %s busybox DIR TAG [CMD...] | redis DIR TAG\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "busybox") == 0) {
        if (!g_file_test("/bin/busybox", G_FILE_TEST_IS_EXECUTABLE)) {
            fprintf(stderr, "%s: /bin/busybox (Debian's busybox-static) is not installed\n",
                    argv[0]);
            return 1;
        }
        image = podvm_test_image_new_busybox(argc > 4 ? (const char *const *)argv + 4 : NULL);
    } else {
        g_autofree char *redis = g_find_program_in_path("redis-server");

        if (redis == NULL && !g_file_test("/usr/bin/redis-server", G_FILE_TEST_IS_EXECUTABLE)) {
            fprintf(stderr, "%s: redis-server (Debian's redis-server) is not installed\n", argv[0]);
            return 1;
        }
        image = podvm_test_image_new_redis();
    }
    if (image == NULL) {
        fprintf(stderr, "%s: cannot build the %s image on this host\n", argv[0], argv[1]);
        return 1;
    }
    digest = podvm_test_image_write_layout(image, argv[2], argv[3], &size);
    printf("%s %" G_GUINT64_FORMAT "\n", digest, size);
    return 0;
}
