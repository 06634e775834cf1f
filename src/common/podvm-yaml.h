/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * A YAML document (one; libyaml) as the JSON tree the spec parser reads.
 * Plain scalars follow YAML 1.2's core schema (null, true/false, integers,
 * floats; everything else a string); quoted scalars are always strings.
 * Anchors, aliases, tags other than the core ones and more than one
 * document are refused, so what is read is what JSON could say.
 * Errors are PODVM_ERROR_INVALID_SPEC with "line L, column C: ...".
 */
JsonNode *podvm_yaml_to_json(const char *data, gssize length, GError **error);

/* Whether @data should be read as YAML: it does not start (after blanks) with '{' or '['. */
gboolean podvm_document_is_yaml(const char *data, gssize length);

/*
 * @node as a YAML document (block style, two-space indent, members in
 * their order; no "---" or "..." markers), ending with a newline. Strings
 * that a YAML 1.2 or 1.1 reader would take for something else ("true",
 * "1.0", "yes", "0755", "") are double-quoted, so podvm_yaml_to_json()
 * gives @node back. NULL with PODVM_ERROR_FAILED when libyaml refuses
 * (invalid UTF-8).
 */
char *podvm_json_to_yaml(JsonNode *node, GError **error);

G_END_DECLS
