/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for what CNI plugins write (net/podvm-cni-result.c):
 * a plugin's result, which podvmd stores with the pod and hands back as
 * prevResult, and, on the same input, the conflist checks
 * (podvm_cni_network_parse()), which read administrators' files and the
 * conflists stored with pods.
 *
 * A refusal is PODVM_ERROR_INVALID_ARGUMENT with a UTF-8 message. What is
 * accepted is strict JSON (by a checker of our own); every interface name
 * is a kernel interface name, every MAC, address, gateway and route has
 * the grammar the parser promises, every ips[].interface indexes
 * interfaces; the stored JSON parses again to the same result and the
 * same text. An accepted conflist has a valid name, a plugin type that is
 * a plain file name, and its stored text is accepted again.
 */
#include <string.h>

#include "podvm-cni.h"
#include "podvm-error.h"
#include "podvm-fuzz-util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

static void
check_error(const GError *error)
{
    PODVM_FUZZ_CHECK(error != NULL);
    PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
    PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
    PODVM_FUZZ_CHECK(*error->message != '\0');
}

static void
check_cidr(const char *text)
{
    int family;
    guint8 bytes[16];
    guint prefix;

    PODVM_FUZZ_CHECK(text != NULL);
    if (!podvm_net_parse_cidr(text, &family, bytes, &prefix, NULL))
        PODVM_FUZZ_FAIL("accepted '%s' as ADDRESS/PREFIX", text);
}

static void
check_address(const char *text)
{
    g_autoptr(GInetAddress) address = g_inet_address_new_from_string(text);

    if (address == NULL)
        PODVM_FUZZ_FAIL("accepted '%s' as an address", text);
}

static void
check_same(const PodvmCniResult *a, const PodvmCniResult *b)
{
    PODVM_FUZZ_CHECK(strcmp(a->json, b->json) == 0);
    PODVM_FUZZ_CHECK(a->interfaces->len == b->interfaces->len);
    PODVM_FUZZ_CHECK(a->ips->len == b->ips->len);
    PODVM_FUZZ_CHECK(a->routes->len == b->routes->len);
    PODVM_FUZZ_CHECK(g_strv_equal((const char *const *)a->dns_nameservers,
                                  (const char *const *)b->dns_nameservers));
    PODVM_FUZZ_CHECK(
        g_strv_equal((const char *const *)a->dns_search, (const char *const *)b->dns_search));
    for (guint i = 0; i < a->ips->len; i++) {
        const PodvmCniIp *x = a->ips->pdata[i], *y = b->ips->pdata[i];

        PODVM_FUZZ_CHECK(strcmp(x->address, y->address) == 0);
        PODVM_FUZZ_CHECK(g_strcmp0(x->gateway, y->gateway) == 0);
        PODVM_FUZZ_CHECK(x->interface == y->interface);
    }
}

static void
check_result(const PodvmCniResult *result)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniResult) again = NULL;

    PODVM_FUZZ_CHECK(result->json != NULL && g_utf8_validate(result->json, -1, NULL));
    PODVM_FUZZ_CHECK(podvm_fuzz_json_is_strict(result->json, strlen(result->json), 64));
    PODVM_FUZZ_CHECK(result->dns_nameservers != NULL && result->dns_search != NULL);
    for (guint i = 0; i < result->interfaces->len; i++) {
        const PodvmCniInterface *iface = result->interfaces->pdata[i];

        PODVM_FUZZ_CHECK(podvm_net_ifname_valid(iface->name));
        PODVM_FUZZ_CHECK(iface->mac == NULL || strlen(iface->mac) >= 17);
        PODVM_FUZZ_CHECK(iface->sandbox == NULL || iface->sandbox[0] == '/');
    }
    for (guint i = 0; i < result->ips->len; i++) {
        const PodvmCniIp *ip = result->ips->pdata[i];

        check_cidr(ip->address);
        if (ip->gateway != NULL)
            check_address(ip->gateway);
        PODVM_FUZZ_CHECK(ip->interface >= -1 && ip->interface < (int)result->interfaces->len);
    }
    for (guint i = 0; i < result->routes->len; i++) {
        const PodvmRoute *route = result->routes->pdata[i];

        check_cidr(route->dst);
        if (route->gateway != NULL)
            check_address(route->gateway);
    }
    for (guint i = 0; result->dns_nameservers[i] != NULL; i++)
        check_address(result->dns_nameservers[i]);
    for (guint i = 0; result->dns_search[i] != NULL; i++) {
        for (const char *p = result->dns_search[i]; *p != '\0'; p++)
            PODVM_FUZZ_CHECK((guchar)*p > ' ' && *p != 0x7f);
    }

    again = podvm_cni_result_parse(result->json, -1, &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("the stored result is refused: %s\n%s", error->message, result->json);
    check_same(result, again);
}

static void
check_network(const PodvmCniNetwork *network)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniNetwork) again = NULL;

    PODVM_FUZZ_CHECK(network->name != NULL && network->name[0] != '\0');
    PODVM_FUZZ_CHECK(strchr(network->name, '/') == NULL);
    PODVM_FUZZ_CHECK(network->first_type != NULL && strchr(network->first_type, '/') == NULL);
    PODVM_FUZZ_CHECK(strcmp(network->first_type, "..") != 0);
    PODVM_FUZZ_CHECK((network->sriov_pool != NULL) ==
                     (strcmp(network->first_type, "podvm-sriov") == 0));
    again = podvm_cni_network_parse(network->conflist, -1, "again", &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("the stored conflist is refused: %s", error->message);
    PODVM_FUZZ_CHECK(strcmp(again->name, network->name) == 0);
    PODVM_FUZZ_CHECK(strcmp(again->first_type, network->first_type) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmCniResult) result = NULL;
    g_autoptr(PodvmCniNetwork) network = NULL;

    result = podvm_cni_result_parse((const char *)data, (gssize)size, &error);
    if (result == NULL) {
        check_error(error);
    } else {
        PODVM_FUZZ_CHECK(error == NULL);
        if (!podvm_fuzz_json_is_strict((const char *)data, size, 64))
            PODVM_FUZZ_FAIL("a result that is not strict JSON was accepted");
        check_result(result);
    }
    g_clear_error(&error);

    network = podvm_cni_network_parse((const char *)data, (gssize)size, "fuzz", &error);
    if (network == NULL) {
        check_error(error);
    } else {
        PODVM_FUZZ_CHECK(error == NULL);
        check_network(network);
    }
    return 0;
}
