/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * What storage's helper processes (podvm-unpack-container-disk,
 * podvm-unpack-app-rootfs) print on stdout, and how podvmd reads it: the
 * result's JSON object, or {"error": {"code": PODVM_ERROR code, "message"}}.
 */

/* The error answer for @error (a component's error becomes a PODVM_ERROR first). */
JsonNode *podvm_helper_error_answer(const GError *error);

/*
 * The result object of a helper's answer (a new reference), or NULL with
 * the helper's own error (its code kept; @fallback_message when it gave
 * none), or FAILED "@who failed (SIGNAL|no answer): LAST LINE OF STDERR"
 * when it printed no JSON object. @who names the helper for the user
 * ("the containerDisk helper 'PATH'").
 */
JsonObject *podvm_helper_read_answer(GSubprocess *process, const char *out, const char *err,
                                     const char *who, const char *fallback_message, GError **error);

G_END_DECLS
