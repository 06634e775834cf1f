/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "podvm-cni.h"

G_BEGIN_DECLS

/* What the CNI files share (podvm-cni.c, podvm-cni-result.c, podvm-cni-exec.c). */

/* A conflist file, or the conflist stored with a pod, is at most this long. */
#define PODVM_CNI_MAX_CONFLIST (256 * 1024)
/* A plugin's stdout (its result) is read up to this many bytes; more is an error. */
#define PODVM_CNI_MAX_RESULT (1024 * 1024)
#define PODVM_CNI_MAX_DEPTH 32
#define PODVM_CNI_MAX_PLUGINS 16

/* The plugin type "podvm-sriov": podvm assigns a VF itself, nothing is executed. */
#define PODVM_CNI_SRIOV_TYPE "podvm-sriov"

/* A network name as libcni accepts it: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 253 bytes. */
gboolean podvm_cni_name_is_valid(const char *name);
/* A plugin type: a plain file name (no '/', not "." or "..", printable ASCII, <= 255 bytes). */
gboolean podvm_cni_type_is_valid(const char *type);
/* The conflist versions podvm runs: "0.4.0" and "1.0.0". */
gboolean podvm_cni_version_is_supported(const char *version);

G_END_DECLS
