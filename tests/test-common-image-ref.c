/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "podvm-error.h"
#include "podvm-image-ref.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_normalize(void)
{
    static const struct {
        const char *text;
        const char *canonical;
        const char *registry;
        const char *repository;
        const char *tag;
        const char *digest;
        const char *api_host;
    } cases[] = {
        { "redis", "docker.io/library/redis:latest", "docker.io", "library/redis", "latest", NULL,
          "registry-1.docker.io" },
        { "docker://redis", "docker.io/library/redis:latest", "docker.io", "library/redis",
          "latest", NULL, "registry-1.docker.io" },
        { "redis:7.2-alpine", "docker.io/library/redis:7.2-alpine", "docker.io", "library/redis",
          "7.2-alpine", NULL, "registry-1.docker.io" },
        { "kubevirt/fedora-cloud-container-disk-demo:latest",
          "docker.io/kubevirt/fedora-cloud-container-disk-demo:latest", "docker.io",
          "kubevirt/fedora-cloud-container-disk-demo", "latest", NULL, "registry-1.docker.io" },
        { "docker.io/redis", "docker.io/library/redis:latest", "docker.io", "library/redis",
          "latest", NULL, "registry-1.docker.io" },
        { "index.docker.io/library/redis", "docker.io/library/redis:latest", "docker.io",
          "library/redis", "latest", NULL, "registry-1.docker.io" },
        { "docker://127.0.0.1:5000/apps/busybox@sha256:" HEX64,
          "127.0.0.1:5000/apps/busybox@sha256:" HEX64, "127.0.0.1:5000", "apps/busybox", NULL,
          "sha256:" HEX64, "127.0.0.1:5000" },
        { "quay.io/a/b/c:v1@sha256:" HEX64, "quay.io/a/b/c:v1@sha256:" HEX64, "quay.io", "a/b/c",
          "v1", "sha256:" HEX64, "quay.io" },
        { "localhost/app", "localhost/app:latest", "localhost", "app", "latest", NULL,
          "localhost" },
        { "localhost:5000/app:_x", "localhost:5000/app:_x", "localhost:5000", "app", "_x", NULL,
          "localhost:5000" },
        { "Quay.IO/x", "quay.io/x:latest", "quay.io", "x", "latest", NULL, "quay.io" },
        { "[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest", NULL, "[::1]:5000" },
        { "a/b__c.d--e_f", "docker.io/a/b__c.d--e_f:latest", "docker.io", "a/b__c.d--e_f", "latest",
          NULL, "registry-1.docker.io" },
        /* A first component without '.' or ':' is part of the repository, not a registry. */
        { "myhost/x", "docker.io/myhost/x:latest", "docker.io", "myhost/x", "latest", NULL,
          "registry-1.docker.io" },
        { "localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost",
          "5000", NULL, "registry-1.docker.io" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmImageRef) ref = podvm_image_ref_parse(cases[i].text, &error);
        g_autofree char *canonical = NULL;
        g_autofree char *again = NULL;

        g_test_message("%s", cases[i].text);
        g_assert_no_error(error);
        g_assert_true(podvm_image_ref_is_registry(cases[i].text));
        canonical = podvm_image_ref_to_string(ref);
        g_assert_cmpstr(canonical, ==, cases[i].canonical);
        g_assert_cmpstr(ref->registry, ==, cases[i].registry);
        g_assert_cmpstr(ref->repository, ==, cases[i].repository);
        g_assert_cmpstr(ref->tag, ==, cases[i].tag);
        g_assert_cmpstr(ref->digest, ==, cases[i].digest);
        g_assert_cmpstr(podvm_image_ref_get_api_host(ref), ==, cases[i].api_host);
        g_assert_cmpstr(podvm_image_ref_get_manifest_reference(ref), ==,
                        cases[i].digest != NULL ? cases[i].digest : cases[i].tag);
        /* The canonical form is a fixed point. */
        again = podvm_image_ref_normalize(canonical, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(again, ==, canonical);
    }
}

static void
test_bad(void)
{
    static const struct {
        const char *text;
        const char *problem;
    } cases[] = {
        { "", "empty" },
        { "docker://", "empty" },
        { "Redis", "lowercase" },
        { "docker.io/Library/redis", "lowercase" },
        { "redis@sha512:" HEX64 HEX64, "only sha256" },
        { "redis@sha256:abc", "64 lowercase" },
        { "redis@sha256:"
          "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
          "64 lowercase" },
        { "redis:", "a tag is" },
        { "redis:-x", "a tag is" },
        { "redis:.x", "a tag is" },
        { "redis:a/b", "host name" },
        { "a//b", "empty path component" },
        { "a/-b", "start and end" },
        { "a/b-", "start and end" },
        { "a/b___c", "start and end" },
        { "a/b..c", "start and end" },
        { "a/b c", "only a-z" },
        { "quay.io/", "missing" },
        { "quay..io/x", "host name" },
        { "quay.io:0/x", "host name" },
        { "quay.io:99999/x", "host name" },
        { "-quay.io/x", "host name" },
        { "[zz]:5000/x", "host name" },
        { "oci:/var/lib/x:tag", "local OCI layout" },
        { "https://quay.io/x", "only docker://" },
        { "docker://https://quay.io/x", "only docker://" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmImageRef) ref = podvm_image_ref_parse(cases[i].text, &error);

        g_test_message("%s", cases[i].text);
        g_assert_null(ref);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "image reference"));
        if (strstr(error->message, cases[i].problem) == NULL)
            g_error("'%s': '%s' does not say '%s'", cases[i].text, error->message,
                    cases[i].problem);
    }
    {
        g_autofree char *tag = g_strnfill(129, 'a');
        g_autofree char *text = g_strconcat("redis:", tag, NULL);
        g_autofree char *repo = g_strnfill(300, 'a');
        g_autofree char *huge = g_strnfill(5000, 'a');
        g_autoptr(GError) error = NULL;

        g_assert_null(podvm_image_ref_parse(text, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(podvm_image_ref_parse(repo, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "255"));
        g_clear_error(&error);
        g_assert_null(podvm_image_ref_parse(huge, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
        g_assert_null(podvm_image_ref_parse("a\xff", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_is_registry(void)
{
    g_assert_true(podvm_image_ref_is_registry("docker://x"));
    g_assert_true(podvm_image_ref_is_registry("kubevirt/cirros-container-disk-demo"));
    g_assert_false(podvm_image_ref_is_registry("oci:/srv/images/x:latest"));
    g_assert_false(podvm_image_ref_is_registry("/srv/disk.img"));
    g_assert_false(podvm_image_ref_is_registry("./disk.img"));
    g_assert_false(podvm_image_ref_is_registry("../disk.img"));
    g_assert_false(podvm_image_ref_is_registry(""));
    g_assert_false(podvm_image_ref_is_registry(NULL));
}

static void
test_digest_and_registry(void)
{
    g_assert_true(podvm_image_ref_digest_valid("sha256:" HEX64));
    g_assert_false(podvm_image_ref_digest_valid("sha256:" HEX64 "0"));
    g_assert_false(podvm_image_ref_digest_valid("sha256:"));
    g_assert_false(podvm_image_ref_digest_valid(NULL));
    g_assert_true(podvm_image_ref_registry_valid("registry-1.docker.io"));
    g_assert_true(podvm_image_ref_registry_valid("127.0.0.1:5000"));
    g_assert_true(podvm_image_ref_registry_valid("[fe80::1]"));
    g_assert_false(podvm_image_ref_registry_valid("a:b"));
    g_assert_false(podvm_image_ref_registry_valid("[]:5000"));
    g_assert_false(podvm_image_ref_registry_valid("[::1]5000"));
    g_assert_false(podvm_image_ref_registry_valid(""));
}

static void
test_copy(void)
{
    g_autoptr(PodvmImageRef) ref = podvm_image_ref_parse("quay.io/a:b@sha256:" HEX64, NULL);
    g_autoptr(PodvmImageRef) copy = podvm_image_ref_copy(ref);
    g_autofree char *a = podvm_image_ref_to_string(ref);
    g_autofree char *b = podvm_image_ref_to_string(copy);
    g_autofree char *name = podvm_image_ref_get_name(copy);

    g_assert_cmpstr(a, ==, b);
    g_assert_cmpstr(name, ==, "quay.io/a");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/image-ref/normalize", test_normalize);
    g_test_add_func("/podvm/common/image-ref/bad", test_bad);
    g_test_add_func("/podvm/common/image-ref/is-registry", test_is_registry);
    g_test_add_func("/podvm/common/image-ref/digest-and-registry", test_digest_and_registry);
    g_test_add_func("/podvm/common/image-ref/copy", test_copy);
    return g_test_run();
}
