/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "podvm-manager.h"

G_BEGIN_DECLS

#define PODVM_DBUS_NAME "io.podvm.PodVM1"
#define PODVM_DBUS_PATH "/io/podvm/PodVM1"
#define PODVM_DBUS_POD_PATH_PREFIX "/io/podvm/PodVM1/pod/"

/*
 * The D-Bus front: io.podvm.PodVM1.Manager and one io.podvm.PodVM1.Pod
 * object per pod, under an ObjectManager. A thin layer: every method calls
 * the manager/pod API and turns its GError into a D-Bus error
 * (io.podvm.PodVM1.Error.*). Who may call is decided by the bus policy
 * (data/io.podvm.PodVM1.conf: root and group podvm).
 */
#define PODVM_TYPE_DBUS_FRONT (podvm_dbus_front_get_type())
G_DECLARE_FINAL_TYPE(PodvmDBusFront, podvm_dbus_front, PODVM, DBUS_FRONT, GObject)

PodvmDBusFront *podvm_dbus_front_new(PodvmManager *manager);
gboolean podvm_dbus_front_export(PodvmDBusFront *self, GDBusConnection *connection, GError **error);

/* "/io/podvm/PodVM1/pod/web_2d1" for "web-1". */
char *podvm_dbus_pod_path(const char *name);

G_END_DECLS
