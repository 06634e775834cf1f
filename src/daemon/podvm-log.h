/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The journal's MESSAGE_ID of each lifecycle message podvmd logs: fixed
 * 128-bit ids, explained by systemd/podvm.catalog (installed into
 * lib/systemd/catalog: `journalctl -x` shows the text, `journalctl
 * MESSAGE_ID=...` finds every pod that, say, failed). Never change one.
 */
#define PODVM_MESSAGE_POD_CREATED "64a122614bef4024878175ad3fdd2630"
#define PODVM_MESSAGE_POD_STARTED "5072dd5274ce417d959c71dfeee06cc9"
#define PODVM_MESSAGE_POD_PAUSED "6f6fb38c89154824acd7b04e32e34b0b"
#define PODVM_MESSAGE_POD_RESUMED "e11b13a117ec45a9bf59860246f03df1"
#define PODVM_MESSAGE_POD_STOPPED "5a5cc142529847299998f042454b21b7"
#define PODVM_MESSAGE_POD_FAILED "fbf1b27fa2eb45239c707db039fe2901"
#define PODVM_MESSAGE_POD_DELETED "06304b08fbe44735a57b595e3aa36692"
#define PODVM_MESSAGE_POD_MIGRATED "d28f6e6ba93c47568268d886f2f34c33"
#define PODVM_MESSAGE_POD_MIGRATION_FAILED "5741638b4e404a9faeb0c75cb3496bcc"
#define PODVM_MESSAGE_POD_ARRIVED "97a2f79e3b93441c8a3d5396cdbf28ee"
#define PODVM_MESSAGE_DAEMON_RELOADED "2a6b40f43f894b2db5a289baca267216"
#define PODVM_MESSAGE_DAEMON_RELOAD_FAILED "8a8fecd9ef734a5c896489a45bf23692"

/*
 * A log message in journald's native protocol (one datagram for
 * /run/systemd/journal/socket): PRIORITY from @level, then every field,
 * KEY=VALUE lines, or KEY, a little-endian 64-bit length and the bytes for
 * a value with a newline or of binary @fields (length >= 0). Fields whose
 * name journald would refuse (not [A-Z0-9_], or starting with '_') are left
 * out.
 */
GBytes *podvm_log_journal_datagram(GLogLevelFlags level, const GLogField *fields, gsize n_fields);

/*
 * Sends it to the datagram socket at @socket_path without waiting; FALSE
 * when it could not (a reader that falls behind loses messages).
 */
gboolean podvm_log_journal_send(const char *socket_path, GLogLevelFlags level,
                                const GLogField *fields, gsize n_fields);

G_END_DECLS
