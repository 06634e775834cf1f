/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the two files of the D-Bus front share. Every method decodes its
 * arguments, makes one manager or pod call and encodes the answer
 * (README, "What a front may do").
 */
#include <glib/gi18n-lib.h>

#include "podvm-dbus-front.h"
#include "podvm-dbus-generated.h"
#include "podvm-error.h"

G_BEGIN_DECLS

/* The D-Bus side of one pod. */
typedef struct {
    PodvmDBusFront *front; /* unowned */
    PodvmPod *pod;
    PodvmDBusObjectSkeleton *object;
    PodvmDBusPod *iface;
} PodEntry;

struct _PodvmDBusFront {
    GObject parent_instance;

    PodvmManager *manager;
    GDBusObjectManagerServer *object_manager;
    PodvmDBusManager *manager_iface;
    GHashTable *entries; /* name -> PodEntry* */
};

/* ---- podvm-dbus-front.c ---- */
/* @error (any domain) as a D-Bus error of io.podvm.PodVM1.Error. */
void podvm_dbus_return_error(GDBusMethodInvocation *invocation, const GError *error);
/* Compact JSON text, as the D-Bus API carries documents. */
char *podvm_dbus_json_to_text(JsonNode *node);
/*
 * Whether a string argument carrying a document is larger than a REST body
 * may be; TRUE after returning INVALID_ARGUMENT.
 */
gboolean podvm_dbus_document_too_large(GDBusMethodInvocation *invocation, const char *text);

/* ---- podvm-dbus-pod.c ---- */
/* Makes the pod's object, exported at once when the front is on the bus. */
void podvm_dbus_front_add_pod(PodvmDBusFront *self, PodvmPod *pod);
/* Unexports the pod's object (self->entries' free function). */
void podvm_dbus_pod_entry_free(PodEntry *entry);

G_END_DECLS
