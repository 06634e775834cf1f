/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the files of the spec parser share (podvm-spec*.c): the parser's
 * state, the reader kit (typed readers that record problems with their JSON
 * paths), named lists and the joins between them, and each section's entry.
 * Nothing outside src/common/podvm-spec*.c and the tests includes this; it is
 * not installed.
 *
 *   podvm-spec.c           the model (free, copy, lookups) and the entry points
 *   podvm-spec-reader.c    problems, paths, fields, typed readers, names, named lists
 *   podvm-spec-prescan.c   the strict JSON pre-scanner run before json-glib
 *   podvm-spec-document.c  apiVersion and kind, metadata, spec, VirtualMachine
 *   podvm-spec-domain.c    spec.domain: resources, memory, cpu, machine, firmware, devices
 *   podvm-spec-storage.c   disks and volumes, their enums' names, and the join between them
 *   podvm-spec-network-model.c  interfaces and networks: free, copy, lookups, MAC, JSON
 *   podvm-spec-network.c   interfaces and networks: the parser, its rules, the NIC attachment
 *   podvm-spec-apps.c      spec.apps and the apps rule (memory and vCPUs)
 *   podvm-spec-probes.c    livenessProbe and readinessProbe
 *   podvm-spec-writer.c    the spec as JSON, and its redacted form
 */
#include <glib.h>
#include <json-glib/json-glib.h>

#include "podvm-spec.h"

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecApp, podvm_spec_app_free)

#define MAX_DOCUMENT_SIZE (1024 * 1024)
#define MAX_DEPTH 32
#define MAX_NAME_LENGTH 63
#define MAX_MAP_KEY_LENGTH 253
#define MAX_TOPOLOGY 255
#define MAX_GRACE_SECONDS PODVM_SPEC_MAX_GRACE_SECONDS
/* Bounds what one pod asks of QEMU, and the size of its stored spec. */
#define MAX_DISKS 256
#define MAX_BOOT_ORDER 65535
/* NICs (and their networks) per pod, and forwarded ports per NIC. */
#define MAX_INTERFACES 32
#define MAX_PORTS 256
/* virtio-blk passes at most 20 bytes of serial to the guest. */
#define MAX_DISK_SERIAL 20
/* Per cloud-init text (user, meta and network data): keeps the seed ISO and the stored spec small.
 */
#define MAX_CLOUD_INIT_TEXT (256 * 1024)
/* Beyond this many problems only a count is reported, so answers stay small. */
#define MAX_PROBLEMS 100

#define API_PODVM_V1 "podvm.io/v1"
#define API_KUBEVIRT_V1 "kubevirt.io/v1"
#define API_KUBEVIRT_V1ALPHA3 "kubevirt.io/v1alpha3"
#define KIND_POD "Pod"
#define KIND_VMI "VirtualMachineInstance"
#define KIND_VM "VirtualMachine"

/* ------------------------------------------------------------------------ */
/* Problems and paths (podvm-spec-reader.c) */

typedef struct {
    GPtrArray *problems; /* PodvmSpecProblem*, owned */
    GHashTable *refused; /* paths the scanner already refused: no more problems there */
    guint n_dropped;     /* problems past MAX_PROBLEMS */
    gboolean restart_policy_given;
} Parser;

void spec_add_problem_literal(Parser *p, const char *path, const char *message);
void spec_add_problem(Parser *p, const char *path, const char *format, ...) G_GNUC_PRINTF(3, 4);
char *spec_problems_to_string(GPtrArray *problems);

/* "parent.key", or "key" at the top. */
char *spec_path_member(const char *parent, const char *key);
/* "parent[index]". */
char *spec_path_index(const char *parent, guint index);

/* ------------------------------------------------------------------------ */
/* Fields and typed readers (podvm-spec-reader.c) */

typedef enum {
    FIELD_KNOWN,              /* read by the caller */
    FIELD_IGNORED,            /* accepted and dropped */
    FIELD_NOT_YET,            /* "not supported yet" */
    FIELD_NOT_YET_UNLESS_OFF, /* same, but false, [] and {} are fine */
    FIELD_NOT_PODVM,          /* "not supported by podvm" */
    FIELD_NOT_PODVM_UNLESS_OFF,
} FieldKind;

typedef struct {
    const char *name;
    FieldKind kind;
    const char *hint; /* appended to the message, or NULL */
} Field;

void spec_check_members(Parser *p, const char *path, JsonObject *object, const Field *fields,
                        gsize n_fields);

#define CHECK_MEMBERS(p, path, object, fields) \
    spec_check_members((p), (path), (object), (fields), G_N_ELEMENTS(fields))

JsonNode *spec_member(JsonObject *object, const char *name);
const char *spec_type_name(JsonNode *node);

/* Each reader reports a problem at @path and returns NULL or FALSE when @node does not fit. */
JsonObject *spec_read_object(Parser *p, const char *path, JsonNode *node);
JsonArray *spec_read_array(Parser *p, const char *path, JsonNode *node);
const char *spec_read_string(Parser *p, const char *path, JsonNode *node);
gboolean spec_read_bool(Parser *p, const char *path, JsonNode *node, gboolean *out);
gboolean spec_read_integer(Parser *p, const char *path, JsonNode *node, gint64 min, gint64 max,
                           const char *range_message, gint64 *out);
gboolean spec_read_bytes(Parser *p, const char *path, JsonNode *node, guint64 *out);
gboolean spec_read_millicpus(Parser *p, const char *path, JsonNode *node, guint64 *out);
GStrv spec_read_string_array(Parser *p, const char *path, JsonNode *node);
void spec_read_string_map(Parser *p, const char *path, JsonNode *node, GHashTable *into,
                          gboolean overwrite);
char *spec_read_name(Parser *p, const char *path, JsonNode *node);
/*
 * The "name" member of OBJECT (at PATH) read as a name; when it is missing,
 * a problem at PATH.name saying MISSING. NULL on any problem.
 */
char *spec_read_required_name(Parser *p, const char *path, JsonObject *object, const char *missing);

gboolean spec_matches_charset(const char *text, const char *extra, gboolean upper);
gboolean spec_has_control_character(const char *text, gboolean allow_tab);
/*
 * Whether @text is the placeholder an answer shows instead of a secret
 * (PODVM_SPEC_HIDDEN_PREFIX): then a problem at @path says to send the
 * value itself. A GET-edit-PUT round trip cannot store the placeholder.
 */
gboolean spec_refuse_hidden(Parser *p, const char *path, const char *text);
gboolean spec_parse_enum(const char *text, const char *const *names, gsize n_names, guint *out);

/* ------------------------------------------------------------------------ */
/* Named lists and the joins between them (podvm-spec-reader.c) */

/* One item read from a named list, in the order of the array. */
typedef struct {
    gpointer item;    /* as read; owned by whoever took it */
    const char *name; /* the item's name, borrowed from it; NULL when it had none (reported) */
    guint index;      /* its index in the JSON array */
} SpecNamedEntry;

/* A JSON array of objects, each with a unique DNS-1123 "name". */
typedef struct {
    GArray *entries;     /* SpecNamedEntry: each item read */
    GHashTable *names;   /* name (borrowed) -> first SpecNamedEntry position + 1 */
    gboolean given;      /* present and not an empty array */
    gboolean unreadable; /* present but not readable as an array: no joins */
} SpecNamedList;

/* Reports a problem about the item named @quoted at @name_path; @other_path is the other list's
 * path in a join, NULL for duplicates. */
typedef void (*SpecNamedProblem)(Parser *p, const char *name_path, const char *quoted,
                                 const char *other_path);

typedef struct {
    /* Reads one item at @path, reporting its problems; NULL when it is not one. */
    gpointer (*read)(Parser *p, const char *path, JsonNode *node);
    /* The item's name, or NULL. */
    const char *(*name)(gconstpointer item);
    /* Takes the item (after its name was checked), with any check of its own. */
    void (*take)(Parser *p, const char *item_path, gpointer item, gpointer user_data);
    guint max_items; /* 0: no bound */
    /* Reports an array of more than max_items. */
    void (*too_many)(Parser *p, const char *path, guint length, guint max_items);
    /* Reports a second item of the same name. */
    SpecNamedProblem duplicate;
} SpecNamedListKind;

/*
 * Reads the array at @path into @list: each item by @kind->read, its name
 * checked against the items before it, then handed to @kind->take. Returns
 * FALSE when @node is not an array (the list is then unreadable).
 */
gboolean spec_read_named_list(Parser *p, const char *path, JsonNode *node,
                              const SpecNamedListKind *kind, gpointer user_data,
                              SpecNamedList *list);
void spec_named_list_clear(SpecNamedList *list);
const SpecNamedEntry *spec_named_list_lookup(const SpecNamedList *list, const char *name);

/*
 * Checks that each item of @from names an item of @to (reported by
 * @missing), and with @unused, that each item of @to is named by one of
 * @from. Items of @from with a name given before are skipped (reported as
 * duplicates already). Quiet when either list is unreadable.
 */
void spec_join_named_lists(Parser *p, const char *from_path, const SpecNamedList *from,
                           const char *to_path, const SpecNamedList *to, SpecNamedProblem missing,
                           SpecNamedProblem unused);

/* ------------------------------------------------------------------------ */
/* The pre-scanner (podvm-spec-prescan.c) */

/*
 * Scans @data before json-glib reads it: fails on what it cannot read (and
 * on nesting deeper than MAX_DEPTH), and records in @p, refusing the path,
 * what json-glib would lose silently (NUL characters, integers out of range,
 * keys given twice).
 */
gboolean spec_prescan(Parser *p, const char *data, gsize length, GError **error);
/* For documents handed over as a tree: whether @node nests at most MAX_DEPTH - @depth deep. */
gboolean spec_node_depth_ok(JsonNode *node, guint depth);

/* ------------------------------------------------------------------------ */
/* The sections */

typedef struct {
    guint64 requests_memory;
    guint64 limits_memory;
    guint64 guest_memory;
    gboolean kernel_boot_given; /* present, whether valid or not */
    gboolean guest_agent_on;    /* devices.autoattachGuestAgent: true given */
    SpecNamedList disks;
    SpecNamedList interfaces;
} DomainState;

/* podvm-spec.c */
PodvmSpec *spec_new(void);
PodvmSpecApp *spec_app_new(void);

/* podvm-spec-document.c */
PodvmSpec *spec_parse_document(Parser *p, JsonNode *root);

/* podvm-spec-domain.c */
void spec_parse_domain(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                       DomainState *state);

/* podvm-spec-storage.c */
PodvmSpecDisk *spec_parse_disk(Parser *p, const char *path, JsonNode *node);
PodvmSpecVolume *spec_parse_volume(Parser *p, const char *path, JsonNode *node);
void spec_parse_disks(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                      SpecNamedList *list);
void spec_parse_volumes(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                        SpecNamedList *list);
void spec_check_disks_use_volumes(Parser *p, const char *disks_path, const SpecNamedList *disks,
                                  const char *volumes_path, const SpecNamedList *volumes);

/* podvm-spec-network-model.c */
#define SPEC_N_BINDINGS 5
#define SPEC_N_NIC_MODELS 3
/* Indexed by PodvmBinding, PodvmNicModel and PodvmNetworkSource: the spec's names. */
extern const char *const spec_binding_names[SPEC_N_BINDINGS];
extern const char *const spec_nic_model_names[SPEC_N_NIC_MODELS];
extern const char *const spec_network_source_names[2];
PodvmSpecInterface *spec_interface_new(void);
void spec_port_free(PodvmSpecPort *port);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecPort, spec_port_free)
/* "02:00:5e:10:00:01" or "02-00-5E-10-00-01" (one separator throughout) into six bytes. */
gboolean spec_mac_parse(const char *text, guint8 out[6]);
void spec_write_interface(JsonBuilder *b, const PodvmSpecInterface *iface);
void spec_write_network(JsonBuilder *b, const PodvmSpecNetwork *network);

/* podvm-spec-network.c */
PodvmSpecInterface *spec_parse_interface(Parser *p, const char *path, JsonNode *node);
PodvmSpecNetwork *spec_parse_network(Parser *p, const char *path, JsonNode *node);
void spec_parse_interfaces(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                           SpecNamedList *list);
void spec_parse_networks(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec,
                         SpecNamedList *list);
/*
 * Every interface joins the network of its name with a binding that fits it,
 * every network is joined by one interface; boot orders unique among disks
 * (read already into @spec) and interfaces; host ports unique in the pod.
 */
void spec_check_interfaces_join_networks(Parser *p, const char *ifaces_path,
                                         const SpecNamedList *ifaces, const char *networks_path,
                                         const SpecNamedList *networks, const PodvmSpec *spec);
/* The {"interface", "network"} document at @root; the outs are set to what was read. */
void spec_parse_interface_attachment(Parser *p, JsonNode *root, PodvmSpecInterface **out_interface,
                                     PodvmSpecNetwork **out_network);

/* podvm-spec-apps.c */
void spec_parse_apps(Parser *p, const char *path, JsonNode *node, PodvmSpec *spec);

/* podvm-spec-probes.c */
PodvmSpecProbe *spec_parse_probe(Parser *p, const char *path, JsonNode *node, gboolean liveness);
/*
 * The probe's checks across the pod: exec needs the app guest (@app_guest:
 * apps, and no kernel or disks of the pod's own); tcpSocket and httpGet
 * need an interface to reach the guest through.
 */
void spec_check_probe(Parser *p, const char *path, const PodvmSpecProbe *probe,
                      const PodvmSpec *spec, gboolean app_guest);
/* "@name": {...} in the object being built; nothing when @probe is NULL. */
void spec_write_probe(JsonBuilder *b, const char *name, const PodvmSpecProbe *probe);

G_END_DECLS
