/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the registry client parses from registries and files: manifests and
 * indexes, the platform pick, WWW-Authenticate challenges, token answers,
 * auth.json.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-registry-auth.h"
#include "podvm-registry-manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static PodvmRegistryManifest *
parse(const char *text, const char *content_type, GError **error)
{
    return podvm_registry_manifest_parse(text, strlen(text), content_type, error);
}

static void
test_manifest(void)
{
    static const char oci[] =
        "{\"schemaVersion\": 2, \"mediaType\": \"" PODVM_MEDIA_OCI_MANIFEST "\","
        " \"config\": {\"mediaType\": \"application/vnd.oci.image.config.v1+json\", \"digest\": "
        "\"" D1 "\", \"size\": 12},"
        " \"layers\": [{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", "
        "\"digest\": \"" D2 "\", \"size\": 34}, {\"mediaType\": "
        "\"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"" D3 "\", \"size\": 0}]}";
    static const char docker[] =
        "{\"schemaVersion\": 2, \"config\": {\"digest\": \"" D1 "\", \"size\": 1}, \"layers\": []}";
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmRegistryManifest) m = parse(oci, NULL, &error);
    g_autoptr(PodvmRegistryManifest) d = NULL;
    PodvmRegistryDescriptor *layer;

    g_assert_no_error(error);
    g_assert_false(m->is_index);
    g_assert_cmpstr(m->media_type, ==, PODVM_MEDIA_OCI_MANIFEST);
    g_assert_cmpstr(m->config->digest, ==, D1);
    g_assert_cmpuint(m->config->size, ==, 12);
    g_assert_cmpuint(m->layers->len, ==, 2);
    layer = g_ptr_array_index(m->layers, 0);
    g_assert_cmpstr(layer->digest, ==, D2);
    g_assert_cmpuint(layer->size, ==, 34);
    /* The media type from the header when the body has none. */
    d = parse(docker, PODVM_MEDIA_DOCKER_MANIFEST "; charset=utf-8", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(d->media_type, ==, PODVM_MEDIA_DOCKER_MANIFEST);
    g_assert_cmpuint(d->layers->len, ==, 0);
    g_clear_pointer(&d, podvm_registry_manifest_free);
    /* Neither: an OCI manifest; application/json says nothing. */
    d = parse(docker, "application/json", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(d->media_type, ==, PODVM_MEDIA_OCI_MANIFEST);
}

static void
test_index_and_platform(void)
{
    static const char index[] =
        "{\"schemaVersion\": 2, \"mediaType\": \"" PODVM_MEDIA_DOCKER_LIST "\", \"manifests\": ["
        "{\"digest\": \"" D1 "\", \"size\": 1, \"platform\": {\"os\": \"linux\", "
        "\"architecture\": \"arm\", \"variant\": \"v6\"}},"
        "{\"digest\": \"" D2 "\", \"size\": 2, \"platform\": {\"os\": \"linux\", "
        "\"architecture\": \"arm\", \"variant\": \"v7\"}},"
        "{\"digest\": \"" D3 "\", \"size\": 3, \"platform\": {\"os\": \"linux\", "
        "\"architecture\": \"amd64\"}},"
        "{\"digest\": \"" D3 "\", \"size\": 3, \"platform\": {\"os\": \"unknown\", "
        "\"architecture\": \"unknown\"}}]}";
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmRegistryManifest) m = parse(index, NULL, &error);
    const PodvmRegistryDescriptor *pick;

    g_assert_no_error(error);
    g_assert_true(m->is_index);
    g_assert_cmpuint(m->manifests->len, ==, 4);
    pick = podvm_registry_manifest_pick_platform(m, "linux", "amd64", NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(pick->digest, ==, D3);
    /* amd64 ignores the variant; arm honours it. */
    pick = podvm_registry_manifest_pick_platform(m, "linux", "amd64", "v3", &error);
    g_assert_cmpstr(pick->digest, ==, D3);
    pick = podvm_registry_manifest_pick_platform(m, "linux", "arm", "v7", &error);
    g_assert_cmpstr(pick->digest, ==, D2);
    pick = podvm_registry_manifest_pick_platform(m, "linux", "arm", NULL, &error);
    g_assert_cmpstr(pick->digest, ==, D1);
    pick = podvm_registry_manifest_pick_platform(m, "linux", "s390x", NULL, &error);
    g_assert_null(pick);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "linux/s390x"));
    g_assert_nonnull(strstr(error->message, "linux/arm/v6, linux/arm/v7, linux/amd64"));
    g_assert_null(strstr(error->message, "unknown"));
    g_assert_nonnull(podvm_registry_host_architecture());
}

static void
test_manifest_bad(void)
{
    static const struct {
        const char *text;
        const char *content_type;
        const char *says;
    } cases[] = {
        { "", NULL, "not JSON" },
        { "[]", NULL, "not a JSON object" },
        { "{\"schemaVersion\": 1, \"fsLayers\": []}", NULL, "schema 1" },
        { "{\"schemaVersion\": \"2\"}", NULL, "schema version 2" },
        { "{\"schemaVersion\": 2, \"mediaType\": \"application/x-other\", \"layers\": []}", NULL,
          "not supported" },
        { "{\"schemaVersion\": 2, \"mediaType\": \"" PODVM_MEDIA_OCI_MANIFEST "\"}",
          PODVM_MEDIA_DOCKER_MANIFEST, "sent the manifest as" },
        { "{\"schemaVersion\": 2, \"layers\": []}", NULL, "config" },
        { "{\"schemaVersion\": 2, \"config\": {\"digest\": \"" D1 "\", \"size\": 1}}", NULL,
          "\"layers\"" },
        { "{\"schemaVersion\": 2, \"config\": {\"digest\": \"sha512:00\", \"size\": 1}, "
          "\"layers\": []}",
          NULL, "only sha256" },
        { "{\"schemaVersion\": 2, \"config\": {\"digest\": \"" D1 "\", \"size\": -1}, "
          "\"layers\": []}",
          NULL, "no size" },
        { "{\"schemaVersion\": 2, \"config\": {\"digest\": \"" D1 "\", \"size\": 1.5}, "
          "\"layers\": []}",
          NULL, "no size" },
        { "{\"schemaVersion\": 2, \"config\": {\"size\": 1}, \"layers\": []}", NULL, "no digest" },
        { "{\"schemaVersion\": 2, \"config\": {\"digest\": \"" D1 "\", \"size\": 1}, "
          "\"layers\": [7]}",
          NULL, "layers[0]" },
        { "{\"schemaVersion\": 2, \"manifests\": [{\"digest\": \"" D1 "\", \"size\": 1, "
          "\"platform\": {\"os\": \"linux\", \"architecture\": \"a/b\"}}]}",
          NULL, "malformed platform" },
        { "{\"schemaVersion\": 2, \"mediaType\": 5}", NULL, "not a string" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmRegistryManifest) m = parse(cases[i].text, cases[i].content_type, &error);

        g_test_message("%s", cases[i].text);
        g_assert_null(m);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        if (strstr(error->message, cases[i].says) == NULL)
            g_error("'%s' does not say '%s'", error->message, cases[i].says);
    }
}

static void
test_challenges(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) list = podvm_registry_challenges_parse(
        "Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
        "scope=\"repository:a/b:pull,push\"",
        &error);
    const PodvmRegistryChallenge *c;

    g_assert_no_error(error);
    g_assert_cmpuint(list->len, ==, 1);
    c = podvm_registry_challenges_pick(list);
    g_assert_cmpstr(c->scheme, ==, "bearer");
    g_assert_cmpstr(podvm_registry_challenge_get(c, "realm"), ==, "https://auth.example/token");
    g_assert_cmpstr(podvm_registry_challenge_get(c, "service"), ==, "registry.example");
    g_assert_cmpstr(podvm_registry_challenge_get(c, "scope"), ==, "repository:a/b:pull,push");
    g_clear_pointer(&list, g_ptr_array_unref);

    /* Several challenges, token68, spaces, escapes; Bearer is picked over Basic. */
    list = podvm_registry_challenges_parse(
        "Negotiate abc+/==, Basic realm=\"a \\\"b\\\"\" , charset=UTF-8,"
        " BEARER Realm = \"https://x/t\"",
        &error);
    g_assert_no_error(error);
    g_assert_cmpuint(list->len, ==, 3);
    c = g_ptr_array_index(list, 1);
    g_assert_cmpstr(c->scheme, ==, "basic");
    g_assert_cmpstr(podvm_registry_challenge_get(c, "realm"), ==, "a \"b\"");
    g_assert_cmpstr(podvm_registry_challenge_get(c, "charset"), ==, "UTF-8");
    c = podvm_registry_challenges_pick(list);
    g_assert_cmpstr(c->scheme, ==, "bearer");
    g_assert_cmpstr(podvm_registry_challenge_get(c, "realm"), ==, "https://x/t");
    g_clear_pointer(&list, g_ptr_array_unref);

    list = podvm_registry_challenges_parse("Basic realm=registry", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(((PodvmRegistryChallenge *)podvm_registry_challenges_pick(list))->scheme, ==,
                    "basic");
    g_clear_pointer(&list, g_ptr_array_unref);
    list = podvm_registry_challenges_parse("Digest realm=x", &error);
    g_assert_no_error(error);
    g_assert_null(podvm_registry_challenges_pick(list));
    g_clear_pointer(&list, g_ptr_array_unref);

    {
        const char *bad[] = { "",
                              "   ",
                              "realm=x",
                              "Bearer realm=\"unterminated",
                              "Bearer realm=\"x\" service=y",
                              "Bearer a=b, c=",
                              "Bearer =x",
                              "Bearer realm=\"a\x01\"" };

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
            g_autoptr(GError) local = NULL;
            g_autoptr(GPtrArray) none = podvm_registry_challenges_parse(bad[i], &local);

            g_test_message("%s", bad[i]);
            g_assert_null(none);
            g_assert_error(local, PODVM_ERROR, PODVM_ERROR_FAILED);
        }
    }
}

static void
test_token(void)
{
    g_autoptr(GError) error = NULL;
    guint expires = 0;
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;
    const char *bad[] = {
        "{}",  "{\"token\": \"\"}", "{\"token\": \"a b\"}", "{\"token\": \"a\\nb\"}", "[\"token\"]",
        "nope"
    };

    {
        const char *text = "{\"token\": \"abc.def\", \"expires_in\": 300}";

        a = podvm_registry_token_parse(text, strlen(text), &expires, &error);
    }
    g_assert_no_error(error);
    g_assert_cmpstr(a, ==, "abc.def");
    g_assert_cmpuint(expires, ==, 300);
    b = podvm_registry_token_parse("{\"access_token\": \"xyz\"}", 23, &expires, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(b, ==, "xyz");
    g_assert_cmpuint(expires, ==, 60);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) local = NULL;
        g_autofree char *none = podvm_registry_token_parse(bad[i], strlen(bad[i]), NULL, &local);

        g_assert_null(none);
        g_assert_error(local, PODVM_ERROR, PODVM_ERROR_FAILED);
    }
}

static void
lookup(const char *json, const char *registry, const char *repository, const char *user,
       const char *password)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *u = NULL;
    g_autofree char *p = NULL;

    g_assert_true(
        podvm_registry_auth_lookup_data(json, strlen(json), registry, repository, &u, &p, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(u, ==, user);
    g_assert_cmpstr(p, ==, password);
}

static void
test_auth_file(void)
{
    /* dXNlcjpwYXNz = user:pass, aHViOmh1Yg== = hub:hub, b3JnOnM6ZWNyZXQ= = org:s:ecret */
    static const char json[] = "{\"auths\": {"
                               "\"127.0.0.1:5000\": {\"auth\": \"dXNlcjpwYXNz\"},"
                               "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1Yg==\"},"
                               "\"quay.io/org\": {\"auth\": \"b3JnOnM6ZWNyZXQ=\"},"
                               "\"quay.io\": {\"auth\": \"dXNlcjpwYXNz\"}}}";
    g_autoptr(GError) error = NULL;
    g_autofree char *u = NULL;
    g_autofree char *p = NULL;

    lookup(json, "127.0.0.1:5000", "apps/x", "user", "pass");
    lookup(json, "docker.io", "library/redis", "hub", "hub");
    /* The most specific key wins; the password keeps its colons. */
    lookup(json, "quay.io", "org/app", "org", "s:ecret");
    lookup(json, "quay.io", "orgx/app", "user", "pass");
    lookup(json, "quay.io", "other/app", "user", "pass");
    lookup(json, "127.0.0.1:5001", "apps/x", NULL, NULL);
    lookup("{\"auths\": {}}", "quay.io", NULL, NULL, NULL);

    g_assert_false(podvm_registry_auth_lookup_data(
        "{\"auths\": {\"q\": {\"auth\": \"bm9jb2xvbg==\"}}}", 42, "q", NULL, &u, &p, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(podvm_registry_auth_lookup_data("[]", 2, "q", NULL, &u, &p, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    /* A missing file: no credentials, no error. */
    g_assert_true(
        podvm_registry_auth_file_lookup("/nonexistent/auth.json", "q", NULL, &u, &p, &error));
    g_assert_no_error(error);
    g_assert_null(u);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/registry/parse/manifest", test_manifest);
    g_test_add_func("/podvm/registry/parse/index-and-platform", test_index_and_platform);
    g_test_add_func("/podvm/registry/parse/manifest-bad", test_manifest_bad);
    g_test_add_func("/podvm/registry/parse/challenges", test_challenges);
    g_test_add_func("/podvm/registry/parse/token", test_token);
    g_test_add_func("/podvm/registry/parse/auth-file", test_auth_file);
    return g_test_run();
}
