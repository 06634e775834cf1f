/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
    PODVM_CLOUD_INIT_NOCLOUD,      /* label "cidata": /user-data, /meta-data, /network-config */
    PODVM_CLOUD_INIT_CONFIG_DRIVE, /* label "config-2": /openstack/latest/{user_data,
                                      meta_data.json,network_data.json} */
} PodvmCloudInitFlavor;

typedef struct {
    PodvmCloudInitFlavor flavor;
    const char *instance_id; /* the pod's uid */
    const char *hostname;
    const char *user_data;    /* NULL: none (NoCloud still gets an empty user-data) */
    const char *meta_data;    /* NoCloud: NULL = "instance-id: UID\nlocal-hostname: HOST\n" */
    const char *network_data; /* NULL: none */
} PodvmCloudInitMedia;

/*
 * Writes an ISO 9660 image (Joliet and Rock Ridge, as cloud-init reads
 * them) with libisofs, in a worker thread, to @path (atomically: a
 * temporary file renamed into place, mode 0600). Data is copied: the
 * caller may free @media at once.
 */
void podvm_cloud_init_write_iso_async(const PodvmCloudInitMedia *media, const char *path,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean podvm_cloud_init_write_iso_finish(GAsyncResult *result, GError **error);

G_END_DECLS
