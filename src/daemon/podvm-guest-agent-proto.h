/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The qemu-guest-agent protocol as podvmd reads it: pure functions over
 * what the guest sends (untrusted: the guest owns the agent), fuzzed by
 * tests/fuzz/fuzz-guest-agent.c. The agent answers each command with one
 * line of JSON, {"return": ...} or {"error": {"class", "desc"}}, in the
 * order the commands came, without ids; guest-sync-delimited puts a 0xFF
 * byte before its answer, and a 0xFF byte from podvmd makes the agent drop
 * whatever partial command it holds.
 */
#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The longest line podvmd reads from an agent; a longer one is dropped whole. */
#define PODVM_QGA_MAX_LINE (1024 * 1024)
/* The most interfaces, and addresses per interface, podvmd keeps of an answer. */
#define PODVM_QGA_MAX_INTERFACES 64
#define PODVM_QGA_MAX_ADDRESSES 64
/* The longest string of an answer podvmd keeps (longer ones are cut). */
#define PODVM_QGA_MAX_STRING 256

/*
 * A bounded line reader: bytes in, whole lines out. A 0xFF byte drops the
 * partial line before it (the guest-sync-delimited sentinel); a line longer
 * than PODVM_QGA_MAX_LINE is dropped whole, and @func gets NULL for it (so
 * the caller knows an answer was lost). Lines are given without their "\n".
 */
typedef void (*PodvmQgaLineFunc)(const char *line, gsize length, gpointer user_data);

typedef struct {
    GByteArray *line;
    gboolean overflow; /* dropping bytes until the next newline */
} PodvmQgaLineBuffer;

void podvm_qga_line_buffer_init(PodvmQgaLineBuffer *buffer);
void podvm_qga_line_buffer_clear(PodvmQgaLineBuffer *buffer);
/* Drops the partial line (after a resync, a reconnect). */
void podvm_qga_line_buffer_reset(PodvmQgaLineBuffer *buffer);
void podvm_qga_line_buffer_feed(PodvmQgaLineBuffer *buffer, const guint8 *data, gsize length,
                                PodvmQgaLineFunc func, gpointer user_data);

/* One answer: "return" (any JSON value), or an error's class and description. */
typedef struct {
    JsonNode *ret;     /* NULL for an error */
    char *error_class; /* NULL for a return */
    char *error_desc;
} PodvmQgaReply;

void podvm_qga_reply_free(PodvmQgaReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmQgaReply, podvm_qga_reply_free)

/*
 * Parses one line: strict JSON of at most PODVM_QGA_MAX_LINE bytes, at most
 * 16 deep, an object with "return" or "error" ({"class", "desc"} strings).
 * Anything else is a PODVM_ERROR_FAILED error (an event-like line, which
 * the agent never sends, is one too).
 */
PodvmQgaReply *podvm_qga_reply_parse(const char *line, gsize length, GError **error);

/* Whether @ret (a guest-sync answer's "return") is @id. */
gboolean podvm_qga_sync_matches(JsonNode *ret, gint64 id);

/*
 * guest-get-osinfo's answer as KubeVirt's status.guestOSInfo: name,
 * kernelRelease, version, prettyName, versionId, kernelVersion, machine,
 * id (the members the agent gave, as strings cut to PODVM_QGA_MAX_STRING
 * bytes of valid UTF-8 without control characters). PODVM_ERROR_FAILED when @ret is
 * not an object.
 */
JsonObject *podvm_qga_os_info_parse(JsonNode *ret, GError **error);

/* guest-info's "version", or PODVM_ERROR_FAILED. */
char *podvm_qga_version_parse(JsonNode *ret, GError **error);

/* guest-fsfreeze-status's answer: "thawed" or "frozen", or PODVM_ERROR_FAILED. */
const char *podvm_qga_freeze_status_parse(JsonNode *ret, GError **error);

/* guest-fsfreeze-freeze/-thaw's answer: the number of filesystems, or -1 and PODVM_ERROR_FAILED. */
gint64 podvm_qga_count_parse(JsonNode *ret, GError **error);

/* One guest interface of guest-network-get-interfaces. */
typedef struct {
    char *name;      /* as the guest names it ("eth0") */
    char *mac;       /* lowercase "aa:bb:cc:dd:ee:ff", or NULL (lo has 00:00:...) */
    GStrv addresses; /* IPv4 first, then IPv6, each valid; never NULL */
} PodvmQgaInterface;

void podvm_qga_interface_free(PodvmQgaInterface *iface);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmQgaInterface, podvm_qga_interface_free)

/*
 * guest-network-get-interfaces's answer (an array of {"name",
 * "hardware-address", "ip-addresses": [{"ip-address-type", "ip-address",
 * "prefix"}]}): at most PODVM_QGA_MAX_INTERFACES of them, at most
 * PODVM_QGA_MAX_ADDRESSES addresses each; entries or addresses that are not
 * well formed are skipped. PODVM_ERROR_FAILED when @ret is not an array.
 */
GPtrArray *podvm_qga_interfaces_parse(JsonNode *ret, GError **error);

G_END_DECLS
