/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* journald's native protocol, for podvmd's log writer (podvmd.c). */
#include "podvm-log.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* syslog's priorities, as g_log_writer_journald() maps GLib's levels. */
static int
level_priority(GLogLevelFlags level)
{
    if (level & G_LOG_LEVEL_ERROR)
        return 3;
    if (level & G_LOG_LEVEL_CRITICAL)
        return 4;
    if (level & G_LOG_LEVEL_WARNING)
        return 4;
    if (level & G_LOG_LEVEL_MESSAGE)
        return 5;
    if (level & G_LOG_LEVEL_INFO)
        return 6;
    return 7;
}

static gboolean
field_name_valid(const char *key)
{
    if (key == NULL || key[0] == '\0' || key[0] == '_' || strlen(key) > 64)
        return FALSE;
    for (const char *c = key; *c != '\0'; c++) {
        if (!g_ascii_isupper(*c) && !g_ascii_isdigit(*c) && *c != '_')
            return FALSE;
    }
    return TRUE;
}

GBytes *
podvm_log_journal_datagram(GLogLevelFlags level, const GLogField *fields, gsize n_fields)
{
    GByteArray *out = g_byte_array_new();
    g_autofree char *priority = g_strdup_printf("PRIORITY=%d\n", level_priority(level));

    g_byte_array_append(out, (const guint8 *)priority, (guint)strlen(priority));
    for (gsize i = 0; i < n_fields; i++) {
        const char *value = fields[i].value;
        gsize length = fields[i].length < 0 ? strlen(value) : (gsize)fields[i].length;
        const char *key = fields[i].key;

        /* GLib adds PRIORITY as a field of its own: ours is the one above. */
        if (!field_name_valid(key) || strcmp(key, "PRIORITY") == 0)
            continue;
        g_byte_array_append(out, (const guint8 *)key, (guint)strlen(key));
        if (fields[i].length < 0 && memchr(value, '\n', length) == NULL) {
            g_byte_array_append(out, (const guint8 *)"=", 1);
        } else {
            guint64 le = GUINT64_TO_LE((guint64)length);

            g_byte_array_append(out, (const guint8 *)"\n", 1);
            g_byte_array_append(out, (const guint8 *)&le, sizeof le);
        }
        g_byte_array_append(out, (const guint8 *)value, (guint)length);
        g_byte_array_append(out, (const guint8 *)"\n", 1);
    }
    return g_byte_array_free_to_bytes(out);
}

gboolean
podvm_log_journal_send(const char *socket_path, GLogLevelFlags level, const GLogField *fields,
                       gsize n_fields)
{
    g_autoptr(GBytes) datagram = podvm_log_journal_datagram(level, fields, n_fields);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    gsize size = 0;
    const void *data = g_bytes_get_data(datagram, &size);
    gboolean sent;
    int fd;

    if (strlen(socket_path) >= sizeof addr.sun_path)
        return FALSE;
    strcpy(addr.sun_path, socket_path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return FALSE;
    /* Never blocks the main loop: a reader that falls behind loses messages. */
    sent = sendto(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr,
                  sizeof addr) == (ssize_t)size;
    close(fd);
    return sent;
}
