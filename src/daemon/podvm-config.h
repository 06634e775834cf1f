/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include "podvm-cni.h"
#include "podvm-host.h"
#include "podvm-qmp-policy.h"
#include "podvm-sriov.h"

G_BEGIN_DECLS

/* The user QEMU runs as when podvmd.conf names none (systemd/podvm.sysusers makes it). */
#define PODVM_DEFAULT_QEMU_USER "podvm-qemu"

/*
 * podvmd's configuration: /etc/podvm/podvmd.conf (GKeyFile) with
 * command-line overrides. Plain data, shared read-only by the manager and
 * every pod once loaded.
 */
typedef struct {
    char *config_file;       /* what was loaded, or NULL */
    GKeyFile *key_file;      /* its text as loaded, or NULL: what a reload compares with */
    GPtrArray *unknown_keys; /* of char*: "FILE: [group] key: unknown key" (podvm-config-keys.c) */
    char *state_dir;         /* durable: pods/NAME/pod.json */
    char *run_dir;           /* volatile: pods/NAME/{qmp,console}.sock, logs */
    char *qemu_binary;
    PodvmAccel accel_requested;
    PodvmAccel accel; /* resolved: KVM or TCG */
    char *accel_why;  /* one sentence for the log */
    gboolean session_bus;
    guint host_cpus;
    guint qmp_connect_timeout_ms;
    guint stop_quit_timeout_ms; /* after 'quit', before SIGKILL */
    guint restart_backoff_initial_ms;
    guint restart_backoff_max_ms;
    guint event_history; /* [daemon] recent events kept for a client that resumes its stream */
    /* [rest]: the optional TCP listener */
    char *rest_listen;               /* ADDR:PORT, or NULL for the unix socket only */
    char *rest_token_file;           /* holds the bearer token TCP clients must send */
    char *rest_read_only_token_file; /* holds the readers' token, or NULL (README "Access") */
    guint rest_console_ticket_s;     /* a console ticket lives this long */
    char *rest_tls_cert;             /* PEM; TLS on the TCP listener when set with rest_tls_key */
    char *rest_tls_key;
    guint rest_request_timeout_ms; /* a request must be read whole within this; 0: no limit */
    guint rest_max_client_queue;   /* bytes queued for a client that does not read, at most */
    /* [console] */
    guint64 console_log_max_bytes; /* console.log is rotated past this */
    guint console_log_keep;        /* rotated files kept: console.log.1 .. .N */
    guint console_max_rate;        /* bytes a second read from a guest's console, at most */
    /* [qemu] hotplug */
    guint spare_root_ports;  /* q35 pcie-root-ports kept free for hotplug */
    guint detach_timeout_ms; /* device_del: how long the guest may take to let go */
    /* [storage] */
    char *qemu_img;              /* qemu-img binary */
    char *container_disk_helper; /* podvm-unpack-container-disk: next to podvmd, else LIBEXECDIR */
    char *pool_dir;  /* persistentVolumeClaim/dataVolume images; default STATE_DIR/volumes */
    char *cache_dir; /* containerDisk cache; default STATE_DIR/cache */
    GStrv allowed_host_paths; /* hostDisk paths must lie under one of these; empty: none */
    /* [qmp] */
    PodvmQmpPassthrough qmp_passthrough; /* what the QMP passthrough lets through */
    /* [qemu] kernel_dirs: kernelPath/initrdPath lie here or in allowed_host_paths;
     * NULL until podvm_config_finish() (then STATE_DIR/kernels when not set) */
    GStrv kernel_dirs;
    /* [qemu] qemu_user: the user QEMU runs as; NULL: the default (PODVM_DEFAULT_QEMU_USER);
     * "root": no change */
    char *qemu_user;
    /* [network]: CNI */
    char *cni_config_dir;  /* the conflists; default SYSCONFDIR/podvm/cni */
    GStrv cni_plugin_dirs; /* CNI_PATH; default /usr/lib/cni;/opt/cni/bin */
    char *cni_ipam_dir;    /* host-local's dataDir; NULL until podvm_config_finish():
                              then STATE_DIR/cni/networks when not set */
    guint cni_timeout_ms;  /* per plugin call */
    /* Resolved by podvm_config_finish(): whether QEMU drops to qemu_uid/qemu_gid. */
    gboolean qemu_drop_privileges;
    guint qemu_uid;
    guint qemu_gid;
    /* [sriov] and [sriov-pool NAME]: SR-IOV pools of physical functions */
    char *sriov_sysfs_root; /* where sysfs is; default "/sys" */
    char *sriov_dev_root;   /* where vfio/GROUP is; default "/dev" */
    GPtrArray *sriov_pools; /* of PodvmSriovPool*, in the file's order */
    /* Claims of VFs, one file each: RUN_DIR/sriov (set by podvm_config_finish()). Volatile
     * like the bindings they record: a reboot ends both. */
    char *sriov_claim_dir;
    /* [migration] (README "Live migration") */
    guint64 migration_max_bandwidth;        /* bytes/s; 0: QEMU's default */
    guint migration_max_downtime_ms;        /* downtime-limit the controller raises to (2000) */
    guint migration_initial_downtime_ms;    /* downtime-limit at start (300) */
    guint migration_no_progress_timeout_ms; /* nothing moved this long: cancelled (30000) */
    guint migration_stall_passes;           /* passes without progress before a step (3) */
    guint migration_max_parallel;           /* migrations in or out at once, per host (2) */
    gboolean migration_allow_postcopy;      /* the controller may switch to post-copy (false) */
    gboolean migration_auto_converge;       /* the controller may throttle the vCPUs (true) */
    GPtrArray *peers;                       /* of PodvmConfigPeer*: [peer NAME] groups */
    /* Shared storage: pool paths both hosts see (a claim there is not copied). */
    GStrv shared_pool_paths; /* [storage] shared_paths */
    /* [apps] (podvm-config-apps.c): app pods boot podvm's app guest */
    char *app_guest_dir;     /* vmlinuz and initrd.img; default DATADIR/podvm/app-guest */
    char *app_rootfs_helper; /* podvm-unpack-app-rootfs: next to podvmd, else LIBEXECDIR */
    /* [images] (podvm-config-images.c): the image store of registry pulls */
    char *images_dir;                 /* NULL until podvm_config_finish(): STATE_DIR/images */
    GStrv images_insecure_registries; /* "HOST:PORT" reached over plain HTTP; NULL: none */
    char *images_auth_file;           /* podman's auth.json; NULL: anonymous only */
    GStrv images_allowed_registries;  /* NULL: any */
    gboolean images_require_digest;   /* references must name a digest */
    guint64 images_max_layer_size;    /* bytes (8 GiB) */
    guint64 images_max_manifest_size; /* bytes (4 MiB) */
    guint images_timeout_seconds;     /* a registry silent this long fails the pull (30) */
    /* [web] (podvm-config-web.c): the web console page under /ui/ */
    gboolean web_enabled; /* opt-in (false) */
    char *web_dir;        /* its files; default DATADIR/podvm/web */
} PodvmConfig;

/* A [peer NAME] group: another podvmd this one may migrate pods to. */
typedef struct {
    char *name;
    char *url;          /* https://HOST:PORT */
    char *token_file;   /* the peer's bearer token */
    char *cacert;       /* PEM to verify it with; NULL: the system's CAs */
    gboolean plaintext; /* http:// allowed (tests, trusted links) */
} PodvmConfigPeer;

/* Whether @url is "https://HOST:PORT" or "http://HOST:PORT" with nothing after the port. */
gboolean podvm_config_peer_url_valid(const char *url);
/* The [peer NAME] @name, or NULL. */
const PodvmConfigPeer *podvm_config_find_peer(const PodvmConfig *config, const char *name);
/*
 * The bearer token in the file @path (a regular file of at most 4 KiB, one
 * line of visible ASCII). Errors (INVALID_ARGUMENT) name @member and the
 * file, never what it holds: podvmd reads it as root.
 */
char *podvm_config_read_peer_token(const char *path, const char *member, GError **error);

/* registry/podvm-image-store.h */
typedef struct _PodvmImageStore PodvmImageStore;
/* A new image store with [images]'s directory and options (podvm-config-images.c). */
PodvmImageStore *podvm_config_new_image_store(const PodvmConfig *config, GError **error);

PodvmConfig *podvm_config_new_defaults(void);
/* Loads @path (missing file is fine when @must_exist is FALSE). */
gboolean podvm_config_load_file(PodvmConfig *config, const char *path, gboolean must_exist,
                                GError **error);
/*
 * The groups and keys of @kf that podvmd does not know, one message each
 * naming @path, the group and the key (podvm-config-keys.c).
 */
GPtrArray *podvm_config_unknown_keys(GKeyFile *kf, const char *path);
/* Whether a reload applies [@group] @key while podvmd runs (else it takes a restart). */
gboolean podvm_config_key_is_live(const char *group, const char *key);
/*
 * A reload: the keys whose value differs between @old and @fresh (both
 * loaded from a file) and that only a restart applies, as "[group] key".
 */
GPtrArray *podvm_config_restart_changes(const PodvmConfig *old, const PodvmConfig *fresh);
/*
 * A reload: the values of every live key (podvm_config_key_is_live) move
 * from @fresh to @live, which the manager and the pods share; @fresh keeps
 * the old ones.
 */
void podvm_config_apply_live(PodvmConfig *live, PodvmConfig *fresh);
/* Resolves accel=auto (logs why) and makes the directories (0700). */
gboolean podvm_config_finish(PodvmConfig *config, GError **error);
/*
 * The bearer token of the TCP listener: the token file's content without
 * surrounding whitespace. An error when the file cannot be read or is empty.
 */
char *podvm_config_read_rest_token(const PodvmConfig *config, GError **error);
/*
 * The readers' token of the TCP listener ([rest] read_only_token_file),
 * read as podvm_config_read_rest_token() reads its own: NULL without an
 * error when the key is not set; an error when the file cannot be read,
 * is empty, or holds the admin token (@admin_token, may be NULL).
 */
char *podvm_config_read_rest_reader_token(const PodvmConfig *config, const char *admin_token,
                                          GError **error);
/* Where kernelPath and initrdPath may lie: kernel_dirs, then allowed_host_paths. */
GStrv podvm_config_kernel_roots(const PodvmConfig *config);
/* The SR-IOV pool @name, or NULL. */
const PodvmSriovPool *podvm_config_find_sriov_pool(const PodvmConfig *config, const char *name);
/* The CNI settings of [network] (copies; clear with podvm_cni_settings_clear()). */
void podvm_config_cni_settings(const PodvmConfig *config, PodvmCniSettings *out);
void podvm_config_free(PodvmConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmConfig, podvm_config_free)

G_END_DECLS
