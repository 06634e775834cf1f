/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * qemu-img, run asynchronously with an argv (never a shell), formats always
 * explicit. A failure is PODVM_ERROR_FAILED with qemu-img's stderr (last
 * line, trimmed) in the message.
 */

/* qemu-img create -f FORMAT [-b BACKING -F BACKING_FORMAT] PATH [SIZE]; SIZE 0 = the backing's. */
void podvm_qemu_img_create_async(const char *qemu_img, const char *format, const char *path,
                                 guint64 size, const char *backing, const char *backing_format,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean podvm_qemu_img_create_finish(GAsyncResult *result, GError **error);

/*
 * qemu-img info --output=json [-f FORMAT] PATH: the parsed object
 * ("format", "virtual-size", "backing-filename", ...). @format NULL lets
 * qemu-img probe: only for images podvm is about to vet (containerDisk,
 * imports), never for what QEMU then opens without an explicit format.
 */
void podvm_qemu_img_info_async(const char *qemu_img, const char *path, const char *format,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data);
JsonObject *podvm_qemu_img_info_finish(GAsyncResult *result, GError **error);

/* qemu-img convert -f IN_FORMAT -O OUT_FORMAT IN OUT */
void podvm_qemu_img_convert_async(const char *qemu_img, const char *in, const char *in_format,
                                  const char *out, const char *out_format,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean podvm_qemu_img_convert_finish(GAsyncResult *result, GError **error);

/* qemu-img resize -f FORMAT PATH SIZE (grow only) */
void podvm_qemu_img_resize_async(const char *qemu_img, const char *path, const char *format,
                                 guint64 size, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean podvm_qemu_img_resize_finish(GAsyncResult *result, GError **error);

G_END_DECLS
