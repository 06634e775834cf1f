/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Kubernetes quantities for byte sizes: a plain integer of bytes
 * ("1073741824"), a binary suffix (Ki Mi Gi Ti Pi Ei) or a decimal one
 * (k M G T P E), optionally with a decimal fraction ("1.5Gi") as long as
 * the result is a whole number of bytes. Exponent form ("1e9") is accepted.
 * Negative values, overflow past G_MAXUINT64, unknown suffixes, spaces and
 * empty strings are errors (PODVM_ERROR_INVALID_ARGUMENT) whose message
 * quotes the input and says what a valid quantity looks like.
 */
gboolean podvm_quantity_parse_bytes(const char *text, guint64 *out_bytes, GError **error);

/*
 * The largest size podvm allocates (a disk, a volume, a pod's memory): more
 * than a host has, and far below where qemu-img gives up ("8Ei") or sums of
 * sizes overflow.
 */
#define PODVM_QUANTITY_MAX_SIZE (G_GUINT64_CONSTANT(64) << 40)

/*
 * podvm_quantity_parse_bytes() for a size podvm allocates: more than
 * PODVM_QUANTITY_MAX_SIZE is an error (PODVM_ERROR_INVALID_ARGUMENT) that
 * quotes the input and says the limit.
 */
gboolean podvm_quantity_parse_size(const char *text, guint64 *out_bytes, GError **error);

/* The same bound on a size given as a number of bytes (D-Bus CreateVolume). */
gboolean podvm_quantity_check_size(guint64 bytes, GError **error);

/*
 * CPU quantities: "2", "500m" (millicores), "1.5", "1e1". Result in millicores; a
 * value that is not a whole number of millicores ("0.1m") is an error
 * (PODVM_ERROR_INVALID_ARGUMENT), as are other suffixes, signs and spaces.
 */
gboolean podvm_quantity_parse_millicpus(const char *text, guint64 *out_millicpus, GError **error);

/* Formats bytes the shortest exact way: 134217728 -> "128Mi", 1000 -> "1000". */
char *podvm_quantity_format_bytes(guint64 bytes);
/*
 * Bytes as people read them, in binary units: the exact form when it is
 * short ("10Gi", "1536Mi", "1000"), else the largest binary unit, rounded
 * down: a whole number from 10 on ("976Mi" for 1000000Ki, "953Mi" for 1G),
 * one decimal below ("1.4Gi"). What podvmctl shows wherever it prints a
 * size for people. Not a quantity to parse back.
 */
char *podvm_quantity_format_bytes_human(guint64 bytes);

/* Formats millicpus as Kubernetes does: 2000 -> "2", 500 -> "500m", 1500 -> "1500m". */
char *podvm_quantity_format_millicpus(guint64 millicpus);

G_END_DECLS
