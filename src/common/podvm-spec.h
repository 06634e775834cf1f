/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The pod spec model (docs/pod-format.md): plain structs, parsed and validated
 * whole from a JSON document (kinds Pod, VirtualMachineInstance,
 * VirtualMachine). Everything the parser accepts is in the model, and
 * podvm_spec_to_json() writes it back in the native form
 * (apiVersion podvm.io/v1, kind Pod), so storing to_json() and parsing it
 * again gives an equal spec.
 */

#define PODVM_SPEC_DEFAULT_APP_MEMORY (128 * 1024 * 1024ULL)
#define PODVM_SPEC_SYSTEM_MEMORY (128 * 1024 * 1024ULL)
#define PODVM_SPEC_DEFAULT_GRACE_SECONDS 30
/* The bound of terminationGracePeriodSeconds, and of any grace period given to a stop. */
#define PODVM_SPEC_MAX_GRACE_SECONDS 86400

typedef enum {
    PODVM_RESTART_NEVER,
    PODVM_RESTART_ON_FAILURE,
    PODVM_RESTART_ALWAYS,
} PodvmRestartPolicy;

/* spec.evictionStrategy: what `podvmctl drain` does with the pod. */
typedef enum {
    PODVM_EVICTION_NONE,                    /* stopped gracefully (the default) */
    PODVM_EVICTION_LIVE_MIGRATE,            /* migrated; a failure is the drain's failure */
    PODVM_EVICTION_LIVE_MIGRATE_IF_POSSIBLE /* migrated; stopped when that fails */
} PodvmEvictionStrategy;

typedef struct {
    char *name;
    char *value;
} PodvmSpecEnvVar;

typedef struct {
    char *name;        /* DNS-1123 label, unique in the pod */
    char *image;       /* "docker://REPO:TAG" or "oci:DIR:TAG" */
    GStrv command;     /* NULL when unset */
    GStrv args;        /* NULL when unset */
    GPtrArray *env;    /* of PodvmSpecEnvVar*; never NULL */
    char *working_dir; /* NULL when unset */
    guint64 memory;    /* bytes; 0 = not given */
    guint64 millicpus; /* 0 = not given */
} PodvmSpecApp;

/* spec.domain.devices.disks[]: how a volume appears to the guest. */
typedef enum {
    PODVM_DISK_KIND_DISK,
    PODVM_DISK_KIND_CDROM,
    PODVM_DISK_KIND_LUN,
} PodvmDiskKind;

typedef enum {
    PODVM_DISK_BUS_VIRTIO,
    PODVM_DISK_BUS_SCSI,
    PODVM_DISK_BUS_SATA,
} PodvmDiskBus;

typedef enum {
    PODVM_DISK_CACHE_DEFAULT, /* not given: QEMU's default (writeback) */
    PODVM_DISK_CACHE_NONE,
    PODVM_DISK_CACHE_WRITETHROUGH,
    PODVM_DISK_CACHE_WRITEBACK,
} PodvmDiskCache;

typedef struct {
    char *name; /* DNS-1123 label, unique among disks; names a volume */
    PodvmDiskKind kind;
    PodvmDiskBus bus;  /* default: virtio for disk, sata for cdrom, scsi for lun */
    gboolean readonly; /* disk.readonly / cdrom.readonly (cdrom default TRUE) */
    guint boot_order;  /* 0 = not given */
    char *serial;      /* NULL when unset; [A-Za-z0-9_.+-]{1,20} */
    PodvmDiskCache cache;
} PodvmSpecDisk;

/* spec.volumes[]: where a disk's data comes from. */
typedef enum {
    PODVM_VOLUME_HOST_DISK,
    PODVM_VOLUME_EMPTY_DISK,
    PODVM_VOLUME_EPHEMERAL,
    PODVM_VOLUME_CONTAINER_DISK,
    PODVM_VOLUME_CLOUD_INIT_NOCLOUD,
    PODVM_VOLUME_CLOUD_INIT_CONFIG_DRIVE,
    PODVM_VOLUME_PERSISTENT_VOLUME_CLAIM,
    PODVM_VOLUME_DATA_VOLUME,
} PodvmVolumeSource;

typedef struct {
    char *name; /* DNS-1123 label, unique among volumes */
    PodvmVolumeSource source;
    /* hostDisk: path (absolute), create = type DiskOrCreate, capacity (bytes; 0 = not given) */
    /* ephemeral {image: PATH}: path; emptyDisk: capacity (required) */
    char *path;
    gboolean create;
    guint64 capacity;
    /* persistentVolumeClaim / ephemeral {persistentVolumeClaim} / dataVolume: the pool volume */
    char *claim_name;
    gboolean readonly; /* persistentVolumeClaim.readOnly */
    /* containerDisk: image "oci:DIR:TAG", or a registry reference as written ("docker://REF" or
     * bare "REPO:TAG", see podvm-image-ref.h); path in it or NULL; imagePullPolicy as written
     * ("IfNotPresent", "Always", "Never") or NULL (IfNotPresent) */
    char *image;
    char *image_path;
    char *image_pull_policy;
    /* cloud-init: user data as given (userDataBase64 already decoded), or NULL */
    char *user_data;
    char *meta_data;    /* NoCloud only; NULL = podvm writes instance-id and local-hostname */
    char *network_data; /* NULL when unset */
    gboolean user_data_was_base64; /* written back as userDataBase64 */
} PodvmSpecVolume;

/* spec.domain.devices.interfaces[]: how a VM's NIC joins its network. */
typedef enum {
    PODVM_BINDING_MASQUERADE,
    PODVM_BINDING_BRIDGE,
    PODVM_BINDING_SLIRP,
    PODVM_BINDING_SRIOV,
    PODVM_BINDING_PASST, /* podvm extension */
} PodvmBinding;

typedef enum {
    PODVM_NIC_MODEL_VIRTIO,
    PODVM_NIC_MODEL_E1000,
    PODVM_NIC_MODEL_RTL8139,
} PodvmNicModel;

typedef struct {
    char *name;      /* NULL when unset; else IANA_SVC_NAME-like, unique in the interface */
    char *protocol;  /* "TCP" (default) or "UDP" */
    guint port;      /* 1..65535 */
    guint host_port; /* 0: none; else 1..65535 (podvm extension, through CNI portmap) */
} PodvmSpecPort;

typedef struct {
    char *name; /* DNS-1123 label, unique among interfaces; names a network */
    PodvmBinding binding;
    PodvmNicModel model;
    char *mac_address; /* "02:..:.." lowercase, unicast; NULL: generated from uid + name */
    GPtrArray *ports;  /* of PodvmSpecPort*; never NULL */
    guint boot_order;  /* 0 = not given */
    char *pci_address; /* the guest PCI address; NULL when unset */
    /* sriov: {hostPciAddress} (podvm extension): this VF of the pool; NULL: any free one */
    char *sriov_host_address;
} PodvmSpecInterface;

/* spec.networks[]: where an interface's network comes from. */
typedef enum {
    PODVM_NETWORK_POD,    /* the default CNI network */
    PODVM_NETWORK_MULTUS, /* a named CNI conflist (or SR-IOV pool) */
} PodvmNetworkSource;

typedef struct {
    char *name; /* DNS-1123 label, unique among networks */
    PodvmNetworkSource source;
    char *network_name; /* multus.networkName; NULL for pod */
    char *vm_cidr;      /* pod.vmNetworkCIDR; NULL = default 10.0.2.0/24 */
    char *vm_ipv6_cidr; /* pod.vmIPv6NetworkCIDR; NULL = default fd10:0:2::/120 */
} PodvmSpecNetwork;

#define PODVM_SPEC_DEFAULT_VM_CIDR "10.0.2.0/24"
#define PODVM_SPEC_DEFAULT_VM_IPV6_CIDR "fd10:0:2::/120"

/* livenessProbe / readinessProbe: what is checked (exactly one handler). */
typedef enum {
    PODVM_PROBE_TCP_SOCKET, /* connect to the guest's port */
    PODVM_PROBE_HTTP_GET,   /* HTTP/1.1 GET; 200..399 is success */
    PODVM_PROBE_EXEC,       /* a command in the first app (app pods only); exit 0 is success */
} PodvmProbeHandler;

typedef struct {
    char *name;
    char *value;
} PodvmSpecHttpHeader;

#define PODVM_SPEC_PROBE_DEFAULT_PERIOD 10
#define PODVM_SPEC_PROBE_DEFAULT_TIMEOUT 1
#define PODVM_SPEC_PROBE_DEFAULT_FAILURE_THRESHOLD 3
#define PODVM_SPEC_PROBE_DEFAULT_SUCCESS_THRESHOLD 1

typedef struct {
    PodvmProbeHandler handler;
    guint port;                  /* tcpSocket, httpGet: 1..65535 */
    char *path;                  /* httpGet: absolute path (with query); "/" when not given */
    GPtrArray *http_headers;     /* httpGet: of PodvmSpecHttpHeader*; never NULL */
    GStrv command;               /* exec: argv, at least one item */
    guint initial_delay_seconds; /* after the pod is Running; default 0 */
    guint period_seconds;        /* default 10 */
    guint timeout_seconds;       /* default 1 */
    guint failure_threshold;     /* default 3 */
    guint success_threshold;     /* default 1; always 1 for liveness */
} PodvmSpecProbe;

void podvm_spec_probe_free(PodvmSpecProbe *probe);
PodvmSpecProbe *podvm_spec_probe_copy(const PodvmSpecProbe *probe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecProbe, podvm_spec_probe_free)
/* "tcpSocket", "httpGet", "exec" as in the spec */
const char *podvm_probe_handler_to_string(PodvmProbeHandler handler);

typedef struct {
    /* metadata */
    char *name;              /* required, DNS-1123 label <= 63 */
    char *uid;               /* NULL until the daemon assigns it */
    GHashTable *labels;      /* char* -> char*; never NULL */
    GHashTable *annotations; /* char* -> char*; never NULL */

    /* What the document said, for show/round trips. */
    char *source_kind;        /* "Pod", "VirtualMachineInstance" or "VirtualMachine" */
    gboolean start_on_create; /* VirtualMachine running/runStrategy; FALSE otherwise */

    /* spec.domain */
    guint64 memory;                     /* bytes; 0 = not given (apps rule applies) */
    guint cpu_cores;                    /* 0 = not given; */
    guint cpu_sockets;                  /* 0 = not given */
    guint cpu_threads;                  /* 0 = not given */
    char *cpu_model;                    /* NULL = accelerator default */
    char *machine_type;                 /* never NULL after parse: default "q35" */
    char *kernel_path;                  /* firmware.kernelBoot.kernelPath; host path or NULL */
    char *initrd_path;                  /* NULL when unset */
    char *kernel_args;                  /* NULL when unset */
    char *firmware_uuid;                /* NULL when unset */
    char *firmware_serial;              /* NULL when unset */
    gboolean autoattach_serial_console; /* default TRUE */
    gboolean rng;                       /* devices.rng present */
    /* devices.autoattachGuestAgent (ext): default TRUE; app pods never have one */
    gboolean autoattach_guest_agent;
    gboolean autoattach_mem_balloon; /* default TRUE: a virtio-balloon (VM pods) */
    GPtrArray *disks;                /* of PodvmSpecDisk*; never NULL */
    GPtrArray *volumes;              /* of PodvmSpecVolume*; never NULL */
    GPtrArray *interfaces;           /* of PodvmSpecInterface*; never NULL */
    GPtrArray *networks;             /* of PodvmSpecNetwork*; never NULL */

    GPtrArray *apps; /* of PodvmSpecApp*; never NULL */

    gint64 termination_grace_period_seconds; /* default 30 */
    PodvmRestartPolicy restart_policy;       /* default NEVER */
    char *hostname;                          /* NULL when unset */
    PodvmEvictionStrategy eviction_strategy; /* default NONE */
    PodvmSpecProbe *liveness_probe;          /* NULL when unset */
    PodvmSpecProbe *readiness_probe;         /* NULL when unset */
} PodvmSpec;

/* One validation problem: "spec.domain.cpu.cores" + "must be at least 1". */
typedef struct {
    char *path;
    char *message;
} PodvmSpecProblem;

void podvm_spec_problem_free(PodvmSpecProblem *problem);
void podvm_spec_app_free(PodvmSpecApp *app);
void podvm_spec_disk_free(PodvmSpecDisk *disk);
void podvm_spec_volume_free(PodvmSpecVolume *volume);
PodvmSpecDisk *podvm_spec_disk_copy(const PodvmSpecDisk *disk);
PodvmSpecVolume *podvm_spec_volume_copy(const PodvmSpecVolume *volume);
void podvm_spec_free(PodvmSpec *spec);
PodvmSpec *podvm_spec_copy(const PodvmSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpec, podvm_spec_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecProblem, podvm_spec_problem_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecDisk, podvm_spec_disk_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecVolume, podvm_spec_volume_free)

/*
 * Parses and validates a document. On failure returns NULL, sets @error
 * (PODVM_ERROR_INVALID_SPEC; message = every problem as "PATH: MESSAGE",
 * joined with "\n") and, when @out_problems is not NULL, stores every
 * problem in it (a GPtrArray of PodvmSpecProblem*, owned by the caller).
 * Unknown fields are problems ("spec.foo: unknown field"); fields of
 * KubeVirt that podvm does not handle yet are problems that say
 * "not supported yet"; ones podvm will never handle say "not supported by podvm".
 * A member whose value is null counts as absent (Kubernetes' reading), so
 * "creationTimestamp": null in a generated manifest is fine. "status" is
 * accepted and dropped (read-only), as is metadata.namespace (a string).
 *
 * At most 100 problems are listed, then one at path "" says how many more there were.
 *
 * podvm_spec_parse_data() refuses, with one problem at path "", documents
 * larger than 1 MiB, nested deeper than 32 levels, not UTF-8, or not strict
 * JSON (json-glib's message, with line:column). It also reports, with their
 * paths, what json-glib would lose silently: strings or keys containing
 * "\u0000", integers out of the 64-bit range, and keys given twice.
 * podvm_spec_parse_node() applies the depth limit to the tree it gets.
 */
PodvmSpec *podvm_spec_parse_node(JsonNode *root, GPtrArray **out_problems, GError **error);
PodvmSpec *podvm_spec_parse_data(const char *data, gssize length, GPtrArray **out_problems,
                                 GError **error);

/*
 * The native document (apiVersion podvm.io/v1, kind Pod, metadata, spec).
 * Memory is written as spec.domain.resources.requests.memory, app cpus as
 * millicpu quantities ("500m", "2"); label and annotation keys are sorted so
 * the same spec always gives the same text. source_kind and start_on_create
 * are not written: a spec read back from this form says "Pod" and FALSE.
 */
JsonNode *podvm_spec_to_json(const PodvmSpec *spec);

/*
 * A hotplug document: {"disk": <a devices.disks[] entry>, "volume": <a
 * volumes[] entry>}, validated like the same entries in a pod (paths in
 * problems are "disk.bus", "volume.hostDisk.path", ...); the disk must name
 * the volume. Same size/strictness rules as podvm_spec_parse_data().
 */
gboolean podvm_spec_parse_disk_attachment(const char *data, gssize length, PodvmSpecDisk **out_disk,
                                          PodvmSpecVolume **out_volume, GPtrArray **out_problems,
                                          GError **error);
/* The disk entry and the volume entry, in the native form. */
JsonNode *podvm_spec_disk_to_json(const PodvmSpecDisk *disk);
JsonNode *podvm_spec_volume_to_json(const PodvmSpecVolume *volume);
/*
 * A NIC hotplug document: {"interface": <a devices.interfaces[] entry>,
 * "network": <a networks[] entry>}; the interface must name the network.
 * Validated like the same entries in a pod ("interface.macAddress", ...).
 */
gboolean podvm_spec_parse_interface_attachment(const char *data, gssize length,
                                               PodvmSpecInterface **out_interface,
                                               PodvmSpecNetwork **out_network,
                                               GPtrArray **out_problems, GError **error);
JsonNode *podvm_spec_interface_to_json(const PodvmSpecInterface *iface);
JsonNode *podvm_spec_network_to_json(const PodvmSpecNetwork *network);
void podvm_spec_interface_free(PodvmSpecInterface *iface);
void podvm_spec_network_free(PodvmSpecNetwork *network);
PodvmSpecInterface *podvm_spec_interface_copy(const PodvmSpecInterface *iface);
PodvmSpecNetwork *podvm_spec_network_copy(const PodvmSpecNetwork *network);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecInterface, podvm_spec_interface_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmSpecNetwork, podvm_spec_network_free)
const PodvmSpecNetwork *podvm_spec_find_network(const PodvmSpec *spec, const char *name);
const PodvmSpecInterface *podvm_spec_find_interface(const PodvmSpec *spec, const char *name);
/* "masquerade", "bridge", "slirp", "sriov", "passt"; "virtio", "e1000", "rtl8139" */
const char *podvm_binding_to_string(PodvmBinding binding);
const char *podvm_nic_model_to_string(PodvmNicModel model);
/*
 * The interface's MAC: macAddress when given, else a stable locally
 * administered unicast one derived from @uid and the interface's name.
 */
void podvm_spec_interface_mac(const PodvmSpecInterface *iface, const char *uid, guint8 out[6]);

/* The volume a disk names, or NULL. */
const PodvmSpecVolume *podvm_spec_find_volume(const PodvmSpec *spec, const char *name);
const PodvmSpecDisk *podvm_spec_find_disk(const PodvmSpec *spec, const char *name);

const char *podvm_disk_bus_to_string(PodvmDiskBus bus);
const char *podvm_disk_kind_to_string(PodvmDiskKind kind);
/* "hostDisk", "emptyDisk", ... as in the spec */
const char *podvm_volume_source_to_string(PodvmVolumeSource source);

/*
 * The reader view (README "Access"): the native document with secrets
 * hidden (RELIABILITY: secrets never appear in answers unless asked for):
 * cloud-init userData, networkData and metaData, the values of apps' env,
 * the values of httpGet probes' httpHeaders and firmware.kernelBoot's
 * kernelArgs become PODVM_SPEC_HIDDEN_PREFIX "N bytes; ...)". The one
 * function that decides what a reader sees: every GET and list, the D-Bus
 * Spec property and the D-Bus signals show it; only admins get more
 * (GET ?secrets=true, D-Bus Pod.GetSpec). A document sent back with a
 * placeholder in it is refused by the parser, so a GET-edit-PUT round trip
 * cannot store the placeholder by accident.
 */
#define PODVM_SPEC_HIDDEN_PREFIX "(hidden: "
JsonNode *podvm_spec_to_json_redacted(const PodvmSpec *spec);

/*
 * Whether the pod boots podvm's app guest: it has apps and neither a
 * kernel (firmware.kernelBoot) nor disks of its own. A pod with apps and a
 * kernel or disks boots those; its apps only size the VM.
 */
gboolean podvm_spec_uses_app_guest(const PodvmSpec *spec);
/*
 * Whether the pod gets the qemu-guest-agent channel (virtio-serial port
 * "org.qemu.guest_agent.0"): every VM pod, as KubeVirt always attaches it,
 * unless devices.autoattachGuestAgent is false; never an app pod (podvm's
 * app guest has its own channel).
 */
gboolean podvm_spec_has_guest_agent(const PodvmSpec *spec);
/* The app @name, or NULL. */
const PodvmSpecApp *podvm_spec_find_app(const PodvmSpec *spec, const char *name);

/* DNS-1123 label check used for pod and app names (also by the fronts). */
gboolean podvm_name_is_valid(const char *name, GError **error);

/*
 * The apps rule (rkt's KVM stage1). Memory: spec->memory when given, else
 * the sum of every app's memory (128Mi for an app without one) + 128Mi
 * (so a pod with neither apps nor memory gets 128Mi).
 * vCPUs: cores*sockets*threads when any of them is given (unset ones count 1),
 * else host_cpus if there are no apps or any app gives no cpus, else the
 * apps' millicpus added up and rounded up to whole CPUs (at least 1).
 */
guint64 podvm_spec_resolve_memory(const PodvmSpec *spec);
guint podvm_spec_resolve_vcpus(const PodvmSpec *spec, guint host_cpus);

const char *podvm_restart_policy_to_string(PodvmRestartPolicy policy);
/* "Always", "OnFailure", "Never" (exactly); FALSE and @out_policy untouched otherwise. */
gboolean podvm_restart_policy_from_string(const char *text, PodvmRestartPolicy *out_policy);

const char *podvm_eviction_strategy_to_string(PodvmEvictionStrategy strategy);
/*
 * "None", "LiveMigrate", "LiveMigrateIfPossible" (exactly); FALSE and
 * @out_strategy untouched otherwise.
 */
gboolean podvm_eviction_strategy_from_string(const char *text, PodvmEvictionStrategy *out_strategy);

G_END_DECLS
