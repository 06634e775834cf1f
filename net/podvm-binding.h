/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The four bindings (and passt) inside a pod's namespace: filled in by the pod network core. */

G_END_DECLS
