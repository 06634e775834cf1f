/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * Label selectors, one parser and one matcher for REST's ?labelSelector=,
 * podvmctl list -l and the pod: comma-separated terms, each "KEY=VALUE"
 * (the label has that value) or "KEY" (the label is there, any value);
 * spaces around a term do not count. A selector is a GHashTable of
 * char* key -> char* value, or NULL for "any value".
 */
GHashTable *podvm_label_selector_new(void);
/* Adds the terms of @text; INVALID_ARGUMENT for an empty term or one without a key. */
gboolean podvm_label_selector_add(GHashTable *selector, const char *text, GError **error);
/* A new selector from @text, or NULL with @error set. */
GHashTable *podvm_label_selector_parse(const char *text, GError **error);

/* Whether @labels (char* -> char*) has every label @selector asks for; a NULL selector matches. */
gboolean podvm_label_selector_matches(GHashTable *selector, GHashTable *labels);
/* The same for labels as a JSON object (metadata.labels; NULL: none). */
gboolean podvm_label_selector_matches_json(GHashTable *selector, JsonObject *labels);

G_END_DECLS
