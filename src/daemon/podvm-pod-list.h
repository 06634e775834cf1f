/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "podvm-pod.h"

G_BEGIN_DECLS

/*
 * The answer to "list the pods" as JSON text, cached per pod generation
 * (podvm_pod_get_generation): each pod's element is printed again only
 * when its generation moved, and the whole unfiltered answer is kept until
 * a pod changes, comes or goes. The manager owns one; both fronts answer
 * from it.
 */
typedef enum {
    PODVM_LIST_PRETTY,  /* "[\n  {...},\n  {...}\n]\n", as REST answers */
    PODVM_LIST_COMPACT, /* "[{...},{...}]", as D-Bus answers */
    PODVM_LIST_N_STYLES,
} PodvmListStyle;

typedef struct _PodvmPodList PodvmPodList;

PodvmPodList *podvm_pod_list_new(void);
void podvm_pod_list_free(PodvmPodList *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmPodList, podvm_pod_list_free)

/* A pod came (NULL) or went (@pod): the answers are stale, @pod's element forgotten. */
void podvm_pod_list_membership_changed(PodvmPodList *self, PodvmPod *pod);

/*
 * The JSON array of the pods of @pods (sorted as they should be listed)
 * that match @selector (NULL: all) in @style. The bytes are NUL-terminated
 * (the NUL is not counted in their size).
 */
GBytes *podvm_pod_list_text(PodvmPodList *self, GPtrArray *pods, const PodvmLabelSelector *selector,
                            PodvmListStyle style);

G_END_DECLS
