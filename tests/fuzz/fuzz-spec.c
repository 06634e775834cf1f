/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the pod spec parser.
 *
 * The input is a document for podvm_spec_parse_data(). A refusal must come
 * with PODVM_ERROR_INVALID_SPEC and a non-empty list of problems. An
 * accepted spec must survive the round trip promised in podvm-spec.h:
 * to_json() parses again, to the same to_json() text; a copy writes the
 * same text; resolving memory and vCPUs gives sane, equal answers for both.
 * What is accepted must also be strict JSON by a checker of our own.
 *
 * The same input is also read as a NIC attachment document
 * ({"interface": ..., "network": ...}): refused like a spec, or accepted
 * when strict JSON, with entries that write back to a document the parser
 * accepts again, to the same text.
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-spec.h"

/* The parser's own cap, plus the "and N more problems" line. */
#define MAX_PROBLEMS 101

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

static char *
spec_to_text(const PodvmSpec *spec)
{
    g_autoptr(JsonNode) node = podvm_spec_to_json(spec);

    PODVM_FUZZ_CHECK(node != NULL);
    PODVM_FUZZ_CHECK(JSON_NODE_HOLDS_OBJECT(node));
    return json_to_string(node, FALSE);
}

static void
check_refusal(GPtrArray *problems, const GError *error)
{
    PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC));
    PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
    PODVM_FUZZ_CHECK(problems != NULL);
    PODVM_FUZZ_CHECK(problems->len > 0 && problems->len <= MAX_PROBLEMS);
    for (guint i = 0; i < problems->len; i++) {
        const PodvmSpecProblem *problem = g_ptr_array_index(problems, i);

        PODVM_FUZZ_CHECK(problem->path != NULL && problem->message != NULL);
        PODVM_FUZZ_CHECK(g_utf8_validate(problem->path, -1, NULL));
        PODVM_FUZZ_CHECK(g_utf8_validate(problem->message, -1, NULL));
        PODVM_FUZZ_CHECK(*problem->message != '\0');
    }
}

static void
check_resolve(const PodvmSpec *spec, const PodvmSpec *again)
{
    static const guint host_cpus[] = { 0, 1, 3, 256, G_MAXUINT };
    guint64 memory = podvm_spec_resolve_memory(spec);

    PODVM_FUZZ_CHECK(memory == podvm_spec_resolve_memory(again));
    if (spec->memory != 0)
        PODVM_FUZZ_CHECK(memory == spec->memory);
    else
        PODVM_FUZZ_CHECK(memory >= PODVM_SPEC_SYSTEM_MEMORY);
    for (gsize i = 0; i < G_N_ELEMENTS(host_cpus); i++) {
        guint vcpus = podvm_spec_resolve_vcpus(spec, host_cpus[i]);

        PODVM_FUZZ_CHECK(vcpus >= 1);
        PODVM_FUZZ_CHECK(vcpus == podvm_spec_resolve_vcpus(again, host_cpus[i]));
    }
}

/* What the parser promises about interfaces and networks, whatever it accepted. */
static void
check_networks(const PodvmSpec *spec)
{
    guint n_pod = 0;

    PODVM_FUZZ_CHECK(spec->interfaces != NULL && spec->networks != NULL);
    PODVM_FUZZ_CHECK(spec->interfaces->len == spec->networks->len);
    for (guint i = 0; i < spec->interfaces->len; i++) {
        const PodvmSpecInterface *iface = g_ptr_array_index(spec->interfaces, i);
        const PodvmSpecNetwork *network = podvm_spec_find_network(spec, iface->name);
        guint8 mac[6];

        PODVM_FUZZ_CHECK(network != NULL);
        PODVM_FUZZ_CHECK(podvm_spec_find_interface(spec, iface->name) == iface);
        PODVM_FUZZ_CHECK(iface->ports != NULL);
        if (iface->binding == PODVM_BINDING_SRIOV)
            PODVM_FUZZ_CHECK(network->source == PODVM_NETWORK_MULTUS);
        else if (iface->binding != PODVM_BINDING_BRIDGE)
            PODVM_FUZZ_CHECK(network->source == PODVM_NETWORK_POD);
        podvm_spec_interface_mac(iface, spec->uid, mac);
        PODVM_FUZZ_CHECK((mac[0] & 0x01) == 0);
        for (guint j = 0; j < iface->ports->len; j++) {
            const PodvmSpecPort *port = g_ptr_array_index(iface->ports, j);

            PODVM_FUZZ_CHECK(port->port >= 1 && port->port <= 65535 && port->host_port <= 65535);
            PODVM_FUZZ_CHECK(g_strcmp0(port->protocol, "TCP") == 0 ||
                             g_strcmp0(port->protocol, "UDP") == 0);
        }
    }
    for (guint i = 0; i < spec->networks->len; i++) {
        const PodvmSpecNetwork *network = g_ptr_array_index(spec->networks, i);

        n_pod += network->source == PODVM_NETWORK_POD;
        PODVM_FUZZ_CHECK((network->source == PODVM_NETWORK_MULTUS) ==
                         (network->network_name != NULL));
    }
    PODVM_FUZZ_CHECK(n_pod <= 1);
}

static char *
attachment_to_text(const PodvmSpecInterface *iface, const PodvmSpecNetwork *network)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "interface");
    json_builder_add_value(b, podvm_spec_interface_to_json(iface));
    json_builder_set_member_name(b, "network");
    json_builder_add_value(b, podvm_spec_network_to_json(network));
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

static void
check_interface_attachment(const uint8_t *data, size_t size)
{
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpecInterface) iface = NULL;
    g_autoptr(PodvmSpecNetwork) network = NULL;
    g_autoptr(PodvmSpecInterface) iface_again = NULL;
    g_autoptr(PodvmSpecNetwork) network_again = NULL;
    g_autoptr(PodvmSpecInterface) iface_copy = NULL;
    g_autoptr(PodvmSpecNetwork) network_copy = NULL;
    g_autofree char *text = NULL;
    g_autofree char *text_again = NULL;
    g_autofree char *text_copy = NULL;

    if (!podvm_spec_parse_interface_attachment((const char *)data, (gssize)size, &iface, &network,
                                               &problems, &error)) {
        PODVM_FUZZ_CHECK(iface == NULL && network == NULL);
        check_refusal(problems, error);
        return;
    }
    if (!podvm_fuzz_json_is_strict((const char *)data, size, 64))
        PODVM_FUZZ_FAIL("an attachment that is not strict JSON was accepted");
    PODVM_FUZZ_CHECK(iface != NULL && network != NULL && iface->ports != NULL);
    PODVM_FUZZ_CHECK(g_strcmp0(iface->name, network->name) == 0);

    text = attachment_to_text(iface, network);
    if (!podvm_spec_parse_interface_attachment(text, -1, &iface_again, &network_again, NULL,
                                               &error))
        PODVM_FUZZ_FAIL("the attachment's own JSON does not parse again:\n%s\n--- because:\n%s",
                        text, error->message);
    text_again = attachment_to_text(iface_again, network_again);
    if (strcmp(text, text_again) != 0)
        PODVM_FUZZ_FAIL("the round trip changed the attachment:\n%s\n--- became:\n%s", text,
                        text_again);
    iface_copy = podvm_spec_interface_copy(iface);
    network_copy = podvm_spec_network_copy(network);
    text_copy = attachment_to_text(iface_copy, network_copy);
    if (strcmp(text, text_copy) != 0)
        PODVM_FUZZ_FAIL("the copy differs:\n%s\n--- copy:\n%s", text, text_copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GPtrArray) problems = NULL;
    g_autoptr(GPtrArray) problems_again = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpec) spec = NULL;
    g_autoptr(PodvmSpec) again = NULL;
    g_autoptr(PodvmSpec) copy = NULL;
    g_autofree char *text = NULL;
    g_autofree char *text_again = NULL;
    g_autofree char *text_copy = NULL;

    check_interface_attachment(data, size);

    /* libFuzzer may pass NULL for an empty input; the API takes NULL only with length 0. */
    spec = podvm_spec_parse_data((const char *)data, (gssize)size, &problems, &error);
    if (spec == NULL) {
        check_refusal(problems, error);
        return 0;
    }
    PODVM_FUZZ_CHECK(error == NULL);
    /* "not strict JSON" is refused: json-glib alone takes more. */
    if (!podvm_fuzz_json_is_strict((const char *)data, size, 64))
        PODVM_FUZZ_FAIL("a document that is not strict JSON was accepted");
    PODVM_FUZZ_CHECK(spec->name != NULL && podvm_name_is_valid(spec->name, NULL));
    PODVM_FUZZ_CHECK(spec->machine_type != NULL);
    PODVM_FUZZ_CHECK(spec->apps != NULL && spec->labels != NULL && spec->annotations != NULL);

    text = spec_to_text(spec);
    PODVM_FUZZ_CHECK(podvm_fuzz_json_is_strict(text, strlen(text), 64));
    again = podvm_spec_parse_data(text, -1, &problems_again, &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("the spec's own JSON does not parse again:\n%s\n--- because:\n%s", text,
                        error->message);
    text_again = spec_to_text(again);
    if (strcmp(text, text_again) != 0)
        PODVM_FUZZ_FAIL("the round trip changed the spec:\n%s\n--- became:\n%s", text, text_again);

    copy = podvm_spec_copy(spec);
    text_copy = spec_to_text(copy);
    if (strcmp(text, text_copy) != 0)
        PODVM_FUZZ_FAIL("the copy differs:\n%s\n--- copy:\n%s", text, text_copy);

    check_resolve(spec, again);
    check_resolve(copy, again);
    check_networks(spec);
    check_networks(again);
    return 0;
}
