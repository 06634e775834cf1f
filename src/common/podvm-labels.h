/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * Label selectors in Kubernetes' syntax, one parser and one matcher for
 * REST's ?labelSelector=, D-Bus ListPodsFiltered, podvmctl list -l and
 * drain -l. A selector is requirements separated by commas, all of which
 * must hold:
 *
 *   KEY=VALUE, KEY==VALUE   the label is there with that value
 *   KEY!=VALUE              the label is not there, or has another value
 *   KEY in (V1,V2,...)      the label is there with one of the values
 *   KEY notin (V1,V2,...)   the label is not there, or has none of them
 *   KEY                     the label is there (any value)
 *   !KEY                    the label is not there
 *
 * Spaces between the parts do not count. KEY is a label key ([PREFIX/]NAME:
 * NAME up to 63 letters, digits, '-', '_' or '.', starting and ending with
 * a letter or digit; PREFIX a DNS subdomain); VALUE is empty or like NAME.
 * "" selects everything. Anything else (Kubernetes' "<" and ">" included)
 * is refused with INVALID_ARGUMENT saying where and what was expected:
 * never read as something it does not say.
 */
typedef struct _PodvmLabelSelector PodvmLabelSelector;

/* An empty selector (it matches everything). */
PodvmLabelSelector *podvm_label_selector_new(void);
void podvm_label_selector_free(PodvmLabelSelector *selector);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmLabelSelector, podvm_label_selector_free)

/*
 * Adds the requirements of @text (all must hold, with those already
 * there: several -l options); INVALID_ARGUMENT, @selector unchanged, when
 * @text is not a selector.
 */
gboolean podvm_label_selector_add(PodvmLabelSelector *selector, const char *text, GError **error);
/* A new selector from @text, or NULL with @error set. */
PodvmLabelSelector *podvm_label_selector_parse(const char *text, GError **error);
/* The selector written back in its canonical form ("app=web,tier notin (a,b)"). */
char *podvm_label_selector_to_string(const PodvmLabelSelector *selector);

/* Whether @labels (char* -> char*, may be NULL: none) satisfy @selector; NULL matches all. */
gboolean podvm_label_selector_matches(const PodvmLabelSelector *selector, GHashTable *labels);
/* The same for labels as a JSON object (metadata.labels; NULL: none). */
gboolean podvm_label_selector_matches_json(const PodvmLabelSelector *selector, JsonObject *labels);

G_END_DECLS
