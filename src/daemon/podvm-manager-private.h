/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What podvm-manager.c shares with the manager's other files
 * (podvm-manager-incoming.c): adding a pod, checking a spec against this
 * host, and the event stream. Only the manager's files include this.
 */
#include "podvm-manager.h"

G_BEGIN_DECLS

/* Puts @pod (a new reference is taken) in the manager's table and tells the fronts. */
void manager_add_pod(PodvmManager *self, PodvmPod *pod);
/* Whether a pod named @name is here. */
gboolean manager_has_pod(PodvmManager *self, const char *name);
/* What only the daemon knows of a spec: hostDisk paths, kernel files, networks defined here. */
gboolean manager_check_spec(PodvmManager *self, const PodvmSpec *spec, GPtrArray **out_problems,
                            GError **error);
/* One event on the manager's stream ("event" signal). */
void manager_emit_event(PodvmManager *self, const char *pod_name, const char *type,
                        JsonObject *details);

/*
 * Gives @pod the image store when its spec pulls images (a containerDisk
 * from a registry, apps): podvm-manager-images.c.
 */
void manager_images_attach(PodvmManager *self, PodvmPod *pod);
/*
 * @pod was deleted (no longer among the manager's pods): the containerDisk
 * cache entries of the digests it recorded go when no other pod uses them.
 */
void manager_images_pod_deleted(PodvmManager *self, PodvmPod *pod);
/* The same for a hotplugged @volume: when it pulls, every pod gets the store. */
void manager_images_attach_for_volume(PodvmManager *self, const PodvmSpecVolume *volume);

G_END_DECLS
