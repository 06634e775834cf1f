/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The documents two podvmds exchange to migrate a pod (the peer API,
 * README "Live migration"). The target parses what the source sends and
 * the source parses what the target answers: both are untrusted input,
 * checked here (sizes, names, counts) and fuzzed (fuzz-migration-doc).
 *
 * Offer (source -> target, POST /v1/migrations):
 *   {"version": 1,
 *    "pod": {metadata, spec, ...}       the pod as podvm_pod_to_json_with_secrets() gives it
 *    "disks": [{"name": DISK, "size": BYTES}, ...]   the disks to copy (non-shared, writable)
 *    "macs": {"IFACE": "02:..", ...}    the MAC of each interface (kept on the target)
 *    "postcopy": bool,                  postcopy-ram is on at both ends
 *    "paused": bool}                    the guest was paused at the source: it stays paused
 *                                       at the target after finish (optional, false)
 * Answer (target -> source, 201):
 *   {"id": ID, "secret": SECRET,
 *    "disks": [{"name": DISK, "export": EXPORT}, ...]}   NBD export names, same order
 * Status (GET /v1/migrations/ID, also the answer of finish):
 *   {"id", "pod", "state": PodvmIncomingState as a string, "message"}
 */
#define PODVM_MIGRATION_DOC_VERSION 1
#define PODVM_MIGRATION_MAX_DISKS 64
#define PODVM_MIGRATION_MAX_DOC (1024 * 1024)
/* The header the stream upgrade carries the answer's secret in. */
#define PODVM_MIGRATION_SECRET_HEADER "X-Podvm-Migration-Secret"
/* The protocol the stream upgrade asks for (Upgrade: header). */
#define PODVM_MIGRATION_UPGRADE "podvm-migration/1"

typedef struct {
    char *name;
    guint64 size;
    char *export_name; /* the answer's; NULL in an offer */
} PodvmMigrationDisk;

typedef struct {
    JsonNode *pod;    /* {metadata, spec}: parsed again by the target as a spec */
    GPtrArray *disks; /* of PodvmMigrationDisk* */
    GHashTable *macs; /* interface name -> MAC ("02:00:00:00:00:01") */
    gboolean postcopy;
    gboolean paused; /* the target does not cont it at finish */
} PodvmMigrationOffer;

typedef struct {
    char *id;         /* [a-z0-9-]{1,64} */
    char *secret;     /* 32..128 chars of [A-Za-z0-9_-] */
    GPtrArray *disks; /* of PodvmMigrationDisk*, export_name set */
} PodvmMigrationAnswer;

void podvm_migration_disk_free(PodvmMigrationDisk *disk);
void podvm_migration_offer_free(PodvmMigrationOffer *offer);
void podvm_migration_answer_free(PodvmMigrationAnswer *answer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmMigrationDisk, podvm_migration_disk_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmMigrationOffer, podvm_migration_offer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmMigrationAnswer, podvm_migration_answer_free)

JsonNode *podvm_migration_offer_to_json(const PodvmMigrationOffer *offer);
/* INVALID_ARGUMENT (PODVM_ERROR) naming the member for anything out of shape. */
PodvmMigrationOffer *podvm_migration_offer_parse(const char *data, gssize length, GError **error);
JsonNode *podvm_migration_answer_to_json(const PodvmMigrationAnswer *answer);
PodvmMigrationAnswer *podvm_migration_answer_parse(const char *data, gssize length, GError **error);
/* A fresh random id and secret (GRand is not enough: from getrandom()). */
char *podvm_migration_new_id(void);
char *podvm_migration_new_secret(void);
/* Constant-time comparison of a secret a peer sent with ours. */
gboolean podvm_migration_secret_equal(const char *expected, const char *given);

G_END_DECLS
