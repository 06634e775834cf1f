/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "podvm-config.h"
#include "podvm-event.h"
#include "podvm-image-store.h"
#include "podvm-pod-list.h"
#include "podvm-pod.h"

G_BEGIN_DECLS

/*
 * The one API both fronts (D-Bus, REST) call: the set of pods, their
 * creation and deletion, and one event stream for all of them.
 *
 * Signals:
 *   "pod-added" (PodvmPod *pod)
 *   "pod-removed" (PodvmPod *pod)
 *   "event" (const char *pod_name, const char *type, JsonObject *details)
 *       every event of every pod and of the manager, details made by
 *       podvm_event_new() (with its id and time), in the order of their ids
 */
#define PODVM_TYPE_MANAGER (podvm_manager_get_type())
G_DECLARE_FINAL_TYPE(PodvmManager, podvm_manager, PODVM, MANAGER, GObject)

/*
 * The events of the "event" signal after @last_event_id that the manager
 * still holds ([daemon] event_history of them), oldest first, as
 * PodvmEventRecord* (podvm-event.h); *out_gap says when some after it are
 * gone (or the id is not one of this run's), and then every held event is
 * given: what a client resuming its stream is sent.
 */
GPtrArray *podvm_manager_events_since(PodvmManager *self, const char *last_event_id,
                                      PodvmEventGap *out_gap);

/* @config must outlive the manager. */
PodvmManager *podvm_manager_new(const PodvmConfig *config);

/*
 * Loads every stored pod and reconnects each one on its own (a wedged
 * QEMU cannot hold up the others). Pods whose state cannot be read are
 * logged and skipped.
 */
void podvm_manager_load(PodvmManager *self);

/*
 * Validates and stores a new pod. @spec_json is a document of docs/pod-format.md.
 * On a validation error, @out_problems (if not NULL) gets the list of
 * PodvmSpecProblem*. A VirtualMachine that asks to run is also started.
 */
PodvmPod *podvm_manager_create_pod(PodvmManager *self, const char *spec_json, gssize length,
                                   GPtrArray **out_problems, GError **error);

/*
 * Replaces the spec of the stopped pod @name with @spec_json (validated as
 * in podvm_manager_create_pod; see podvm_pod_replace_spec). Returns the pod.
 */
PodvmPod *podvm_manager_replace_pod(PodvmManager *self, const char *name, const char *spec_json,
                                    gssize length, GPtrArray **out_problems, GError **error);

/* NULL with PODVM_ERROR_NOT_FOUND (message names the pod) when absent. */
PodvmPod *podvm_manager_lookup(PodvmManager *self, const char *name, GError **error);

/* Sorted by name; the pods are owned by the manager. */
GPtrArray *podvm_manager_list(PodvmManager *self);

/* [{metadata, spec, status}, ...] */
JsonNode *podvm_manager_list_json(PodvmManager *self);
/* The same, only pods whose labels match @selector (see podvm_pod_matches_labels). */
JsonNode *podvm_manager_list_json_selected(PodvmManager *self, const PodvmLabelSelector *selector);
/*
 * The same as JSON text in @style, from a cache kept per pod generation
 * (see PodvmPodList): what both fronts answer. NUL-terminated bytes.
 */
GBytes *podvm_manager_list_text(PodvmManager *self, const PodvmLabelSelector *selector,
                                PodvmListStyle style);

const PodvmConfig *podvm_manager_get_config(PodvmManager *self);
/*
 * The live keys of the configuration changed (a reload): what the pods
 * copied from it (their consoles' limits) follows.
 */
void podvm_manager_config_changed(PodvmManager *self);
/* "3 pods: 2 running, 1 stopped": systemd's STATUS= (podvmd.c). */
char *podvm_manager_status_text(PodvmManager *self);

/*
 * Storage. The pool of named volumes (NULL when its directory could not be
 * used: then volume calls fail with the reason, logged at start).
 * Volume events reach the "event" signal with pod "" and types
 * "VolumeChanged" {volume} and "VolumeProgress" {volume, done, total}.
 */
PodvmVolumePool *podvm_manager_get_volume_pool(PodvmManager *self, GError **error);
/*
 * Creates a pool volume (podvm_volume_pool_create_async) after checking
 * what the pool cannot: a host file to import from must lie in [storage]
 * allowed_host_paths (podvmd runs as root; a client must not read any
 * file through it). Finish with podvm_manager_create_volume_finish().
 */
void podvm_manager_create_volume_async(PodvmManager *self, const PodvmVolumeCreateOptions *options,
                                       GCancellable *cancellable, GAsyncReadyCallback callback,
                                       gpointer user_data);
JsonNode *podvm_manager_create_volume_finish(PodvmManager *self, GAsyncResult *result,
                                             GError **error);
/*
 * The same from the volume's description as JSON, as a REST body or D-Bus
 * options carry it: {"name" (required), "size" (a quantity such as "10Gi"
 * or a number of bytes, more than 0), "from", "sha256"}. Checked here, so
 * every front gives the same errors (INVALID_ARGUMENT naming the member;
 * @description NULL is one too). Finish with podvm_manager_create_volume_finish().
 */
void podvm_manager_create_volume_from_json_async(PodvmManager *self, JsonObject *description,
                                                 GCancellable *cancellable,
                                                 GAsyncReadyCallback callback, gpointer user_data);
/*
 * Parses a hotplug document (podvm_spec_parse_disk_attachment) and checks
 * what only the daemon knows (hostDisk paths against [storage]
 * allowed_host_paths), every problem with its path.
 */
gboolean podvm_manager_parse_attachment(PodvmManager *self, const char *data, gssize length,
                                        PodvmSpecDisk **out_disk, PodvmSpecVolume **out_volume,
                                        GPtrArray **out_problems, GError **error);
/*
 * A NIC hotplug document ({"interface", "network"}), parsed, and its network
 * checked against this host (a multus network must be defined here).
 */
gboolean podvm_manager_parse_interface_attachment(PodvmManager *self, const char *data,
                                                  gssize length, PodvmSpecInterface **out_interface,
                                                  PodvmSpecNetwork **out_network,
                                                  GPtrArray **out_problems, GError **error);

/*
 * podvm_pod_exec_async() on the pod @name (NOT_FOUND when there is none).
 * Finish with podvm_manager_exec_finish().
 */
void podvm_manager_exec_async(PodvmManager *self, const char *name, const char *app,
                              const char *const *argv, GInputStream *stdin_stream,
                              GOutputStream *stdout_stream, GOutputStream *stderr_stream,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
gboolean podvm_manager_exec_finish(PodvmManager *self, GAsyncResult *result, int *exit_code,
                                   GError **error);

/*
 * Live migration (README "Live migration"), the source's entry points.
 * @request: {"target": PEER-NAME or URL (required), "tokenFile", "cacert",
 * "plaintext" (allow http://), "postcopy", "maxBandwidth" (bytes/s or a
 * quantity), "maxDowntimeMs", "noProgressTimeoutMs"}, as both fronts carry
 * it, checked here (INVALID_ARGUMENT naming the member). A URL needs a
 * token file unless a [peer] of that URL is configured. The pod
 * disappears from this manager when the migration completed. Finish with
 * podvm_pod_migrate_finish() semantics.
 */
void podvm_manager_migrate_async(PodvmManager *self, const char *name, JsonObject *request,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
JsonNode *podvm_manager_migrate_finish(PodvmManager *self, GAsyncResult *result, GError **error);
/*
 * What podvm_manager_migrate_async() refuses before anything moves (the
 * pod, the request, the token file, BUSY), checked without starting, with
 * the same errors: REST's ?wait=false answers 202 only after it.
 */
gboolean podvm_manager_migrate_check(PodvmManager *self, const char *name, JsonObject *request,
                                     GError **error);
gboolean podvm_manager_cancel_migration(PodvmManager *self, const char *name, GError **error);

/*
 * Live migration, the target's entry points (the peer API, REST only,
 * podvm-manager-incoming.c). Create: parses the offer
 * (podvm_migration_offer_parse), refuses a name or uid already here
 * (EXISTS) and more than [migration] max_parallel, makes the Incoming pod
 * (storage empty, network prepared with links down, QEMU with -incoming
 * defer -S, NBD exports) and answers with the PodvmMigrationAnswer JSON.
 */
void podvm_manager_incoming_create_async(PodvmManager *self, const char *offer, gssize length,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
JsonNode *podvm_manager_incoming_create_finish(PodvmManager *self, GAsyncResult *result,
                                               GError **error);
/* {"id", "pod", "state", "message"}; NOT_FOUND for an unknown id. */
JsonNode *podvm_manager_incoming_status(PodvmManager *self, const char *id, GError **error);
/*
 * The source saw "completed": stop the NBD server, bring the links up,
 * cont, announce-self; the pod is Running here. WRONG_PHASE unless this
 * QEMU's incoming migration completed. Answers the status.
 */
void podvm_manager_incoming_finish_async(PodvmManager *self, const char *id,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
JsonNode *podvm_manager_incoming_finish_finish(PodvmManager *self, GAsyncResult *result,
                                               GError **error);
/* Tears the Incoming pod down (QEMU, storage, network, record); WRONG_PHASE once it runs. */
gboolean podvm_manager_incoming_abort(PodvmManager *self, const char *id, GError **error);
/*
 * Whether a stream for @channel ("migration" or "nbd:DISK") of migration
 * @id may be opened with @secret: PERMISSION_DENIED for a wrong secret,
 * NOT_FOUND, INVALID_ARGUMENT for an unknown channel. The REST front
 * checks before it answers 101, then hands the connection over with
 * podvm_manager_incoming_take_stream() (which relays it to QEMU).
 */
gboolean podvm_manager_incoming_check_stream(PodvmManager *self, const char *id, const char *secret,
                                             const char *channel, GError **error);
void podvm_manager_incoming_take_stream(PodvmManager *self, const char *id, const char *channel,
                                        GIOStream *stream);

/*
 * Images pulled from registries (podvm-manager-images.c), kept in the image
 * store of [images] dir (registry/podvm-image-store.h). The store, shared
 * by every pod (containerDisks and apps pull through it); NULL with the
 * reason (IO) when its directory cannot be used.
 */
PodvmImageStore *podvm_manager_get_image_store(PodvmManager *self, GError **error);
/*
 * Pulls @reference ("docker://..." or a bare registry reference) with
 * policy Always (a tag is resolved again; only missing blobs are fetched).
 * Progress reaches the "event" signal with pod "" and type "image-pull"
 * {reference, phase, doneBytes, totalBytes, layersDone, layersTotal}, at
 * most about 4 a second, and always the last ("done"). Errors as
 * podvm_image_store_pull_async(): they name the image and the registry.
 * Finish: the image JSON, as podvm_manager_list_images() gives each.
 */
void podvm_manager_pull_image_async(PodvmManager *self, const char *reference,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
JsonNode *podvm_manager_pull_image_finish(PodvmManager *self, GAsyncResult *result, GError **error);
/*
 * The stored images, sorted by reference: [{"reference", "digest",
 * "indexDigest"?, "configDigest", "mediaType", "size", "pulledAt",
 * "inUseBy": [pod names whose status records the digest]}].
 */
JsonNode *podvm_manager_list_images(PodvmManager *self, GError **error);
/*
 * Removes the record(s) of @reference_or_digest (a reference, canonical or
 * as written, or "sha256:..."); blobs go at the next prune. NOT_FOUND when
 * not stored; BUSY naming the pods while a pod's status records its
 * digest, unless @force.
 */
gboolean podvm_manager_remove_image(PodvmManager *self, const char *reference_or_digest,
                                    gboolean force, GError **error);
/*
 * Removes every image no pod uses (digests in the pods' status, and what
 * the references in their specs resolve to in the store), then the blobs
 * and app root filesystems nothing reaches and stale downloads. Finish:
 * {"removed": N images, "removedBlobs": N, "freedBytes": N}.
 */
void podvm_manager_prune_images_async(PodvmManager *self, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
JsonNode *podvm_manager_prune_images_finish(PodvmManager *self, GAsyncResult *result,
                                            GError **error);
/*
 * The image digests ("sha256:...") a pod's status records: its
 * containerDisks' (status.volumeStatus[].containerDiskVolume.imageDigest)
 * and its apps' (status.apps[].imageDigest). Sorted, no duplicates.
 */
GStrv podvm_manager_pod_image_digests(PodvmPod *pod);

/* Drops every connection to QEMU without stopping any pod. */
void podvm_manager_detach_all(PodvmManager *self);

G_END_DECLS
