/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the documents two podvmds exchange to migrate a pod
 * (migration/podvm-migration-doc.c): the offer the target reads from the
 * source and the answer the source reads from the target, on the same
 * input. Both come from another machine.
 *
 * A refusal is PODVM_ERROR_INVALID_ARGUMENT with a UTF-8 message that never
 * quotes the secret. What is accepted came from strict JSON; its names are
 * DNS-1123 labels, its sizes within (0, 16 TiB], its MACs unicast
 * xx:xx:xx:xx:xx:xx, its id and secret of their grammar, at most
 * PODVM_MIGRATION_MAX_DISKS disks, none twice; written again it parses to
 * the same document and the same text.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-json.h"
#include "podvm-migration-doc.h"
#include "podvm-spec.h"

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
check_disks(GPtrArray *disks, gboolean answer)
{
    PODVM_FUZZ_CHECK(disks != NULL);
    PODVM_FUZZ_CHECK(disks->len <= PODVM_MIGRATION_MAX_DISKS);
    for (guint i = 0; i < disks->len; i++) {
        const PodvmMigrationDisk *disk = disks->pdata[i];

        PODVM_FUZZ_CHECK(podvm_name_is_valid(disk->name, NULL));
        for (guint j = 0; j < i; j++)
            PODVM_FUZZ_CHECK(strcmp(((PodvmMigrationDisk *)disks->pdata[j])->name, disk->name) !=
                             0);
        if (answer) {
            PODVM_FUZZ_CHECK(disk->export_name != NULL && *disk->export_name != '\0');
            for (const char *c = disk->export_name; *c != '\0'; c++)
                PODVM_FUZZ_CHECK(g_ascii_isalnum(*c) || strchr("-_.:", *c) != NULL);
        } else {
            PODVM_FUZZ_CHECK(disk->export_name == NULL);
            PODVM_FUZZ_CHECK(disk->size > 0 && disk->size <= (G_GUINT64_CONSTANT(16) << 40));
        }
    }
}

static void
check_offer(const PodvmMigrationOffer *offer)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmMigrationOffer) again = NULL;
    g_autoptr(JsonNode) node = podvm_migration_offer_to_json(offer);
    g_autoptr(JsonNode) node_again = NULL;
    g_autofree char *text = podvm_json_to_string(node, FALSE);
    g_autofree char *text_again = NULL;
    GHashTableIter iter;
    gpointer key, value;

    PODVM_FUZZ_CHECK(offer->pod != NULL && JSON_NODE_HOLDS_OBJECT(offer->pod));
    check_disks(offer->disks, FALSE);
    g_hash_table_iter_init(&iter, offer->macs);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        const char *mac = value;

        PODVM_FUZZ_CHECK(podvm_name_is_valid(key, NULL));
        PODVM_FUZZ_CHECK(strlen(mac) == 17);
        PODVM_FUZZ_CHECK((g_ascii_xdigit_value(mac[1]) & 1) == 0);
    }
    again = podvm_migration_offer_parse(text, -1, &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("the written offer is refused: %s\n%s", error->message, text);
    node_again = podvm_migration_offer_to_json(again);
    text_again = podvm_json_to_string(node_again, FALSE);
    PODVM_FUZZ_CHECK(strcmp(text, text_again) == 0);
}

static void
check_answer(const PodvmMigrationAnswer *answer)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmMigrationAnswer) again = NULL;
    g_autoptr(JsonNode) node = podvm_migration_answer_to_json(answer);
    g_autoptr(JsonNode) node_again = NULL;
    g_autofree char *text = podvm_json_to_string(node, FALSE);
    g_autofree char *text_again = NULL;
    gsize secret_length = strlen(answer->secret);

    PODVM_FUZZ_CHECK(*answer->id != '\0' && strlen(answer->id) <= 64);
    for (const char *c = answer->id; *c != '\0'; c++)
        PODVM_FUZZ_CHECK(g_ascii_islower(*c) || g_ascii_isdigit(*c) || *c == '-');
    PODVM_FUZZ_CHECK(secret_length >= 32 && secret_length <= 128);
    for (const char *c = answer->secret; *c != '\0'; c++)
        PODVM_FUZZ_CHECK(g_ascii_isalnum(*c) || *c == '-' || *c == '_');
    PODVM_FUZZ_CHECK(podvm_migration_secret_equal(answer->secret, answer->secret));
    check_disks(answer->disks, TRUE);
    again = podvm_migration_answer_parse(text, -1, &error);
    if (again == NULL)
        PODVM_FUZZ_FAIL("the written answer is refused: %s\n%s", error->message, text);
    node_again = podvm_migration_answer_to_json(again);
    text_again = podvm_json_to_string(node_again, FALSE);
    PODVM_FUZZ_CHECK(strcmp(text, text_again) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmMigrationOffer) offer = NULL;
    g_autoptr(PodvmMigrationAnswer) answer = NULL;

    offer = podvm_migration_offer_parse((const char *)data, (gssize)size, &error);
    if (offer == NULL) {
        check_error(error);
    } else {
        PODVM_FUZZ_CHECK(error == NULL);
        if (!podvm_fuzz_json_is_strict((const char *)data, size, PODVM_JSON_MAX_DEPTH))
            PODVM_FUZZ_FAIL("an offer that is not strict JSON was accepted");
        check_offer(offer);
    }
    g_clear_error(&error);

    answer = podvm_migration_answer_parse((const char *)data, (gssize)size, &error);
    if (answer == NULL) {
        check_error(error);
    } else {
        PODVM_FUZZ_CHECK(error == NULL);
        check_answer(answer);
    }
    return 0;
}
