/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Console tickets (README "Access"): a browser cannot set an Authorization
 * header on a WebSocket, so an admin asks for a ticket with
 * POST /v1/pods/NAME/console/ticket and passes it in the console's URL
 * (?ticket=), as Incus and Proxmox do. A ticket is 256 random bits, good
 * for one console of that pod, once, within [rest] console_ticket_seconds
 * (30). It is auth state of this front, not a domain object: it lives
 * here, in memory, and dies with podvmd.
 */
#include "podvm-rest-private.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* Tickets alive at once, at most: the oldest go first. */
#define MAX_TICKETS 256
#define TICKET_BYTES 32

typedef struct {
    char *digest; /* hex SHA-256 of the ticket: the ticket itself is never kept */
    char *pod;
    gint64 expires_us; /* monotonic */
} Ticket;

struct _PodvmRestTickets {
    GHashTable *by_digest; /* digest -> Ticket* (owned by the queue) */
    GQueue order;          /* Ticket*, oldest first: all live as long, so also by expiry */
    guint lifetime_s;
};

static void
ticket_free(Ticket *ticket)
{
    g_free(ticket->digest);
    g_free(ticket->pod);
    g_free(ticket);
}

PodvmRestTickets *
podvm_rest_tickets_new(guint lifetime_s)
{
    PodvmRestTickets *tickets = g_new0(PodvmRestTickets, 1);

    tickets->by_digest = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&tickets->order);
    tickets->lifetime_s = lifetime_s;
    return tickets;
}

void
podvm_rest_tickets_free(PodvmRestTickets *tickets)
{
    g_hash_table_unref(tickets->by_digest);
    g_queue_clear_full(&tickets->order, (GDestroyNotify)ticket_free);
    g_free(tickets);
}

static void
drop(PodvmRestTickets *tickets, Ticket *ticket)
{
    g_hash_table_remove(tickets->by_digest, ticket->digest);
    g_queue_remove(&tickets->order, ticket);
    ticket_free(ticket);
}

/* Forgets the expired tickets (the oldest are first). */
static void
expire(PodvmRestTickets *tickets, gint64 now)
{
    Ticket *oldest;

    while ((oldest = g_queue_peek_head(&tickets->order)) != NULL && oldest->expires_us <= now)
        drop(tickets, oldest);
}

static char *
ticket_digest(const char *ticket)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, ticket, -1);
}

/* A new ticket's text (hex), or NULL when the kernel gave no random bytes. */
static char *
new_ticket(GError **error)
{
    guint8 bytes[TICKET_BYTES];
    gsize got = 0;
    GString *text;

    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("no random bytes for a ticket: %s"),
                        g_strerror(saved));
            return NULL;
        }
        got += (gsize)n;
    }
    text = g_string_sized_new(2 * sizeof bytes + 1);
    for (gsize i = 0; i < sizeof bytes; i++)
        g_string_append_printf(text, "%02x", bytes[i]);
    explicit_bzero(bytes, sizeof bytes);
    return g_string_free(text, FALSE);
}

gboolean
podvm_rest_tickets_redeem(PodvmRestFront *self, const char *ticket, const char *pod)
{
    PodvmRestTickets *tickets = self->tickets;
    g_autofree char *digest = ticket_digest(ticket);
    gint64 now = g_get_monotonic_time();
    Ticket *found;
    gboolean valid;

    expire(tickets, now);
    found = g_hash_table_lookup(tickets->by_digest, digest);
    if (found == NULL)
        return FALSE;
    /* Used up, whatever it is used for. */
    valid = found->expires_us > now && g_strcmp0(found->pod, pod) == 0;
    drop(tickets, found);
    return valid;
}

/* POST /v1/pods/NAME/console/ticket: {"ticket", "expiresAt", "path"} (201). */
void
podvm_rest_handle_console_ticket(Request *req)
{
    PodvmRestTickets *tickets = req->front->tickets;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *expires_text = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autoptr(GDateTime) expires_at = g_date_time_add_seconds(now, tickets->lifetime_s);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    gint64 monotonic = g_get_monotonic_time();
    Ticket *ticket;

    if (!podvm_rest_lookup_pod(req))
        return;
    text = new_ticket(&error);
    if (text == NULL) {
        podvm_rest_respond_error(req, error);
        return;
    }
    expire(tickets, monotonic);
    while (g_queue_get_length(&tickets->order) >= MAX_TICKETS)
        drop(tickets, g_queue_peek_head(&tickets->order));
    ticket = g_new0(Ticket, 1);
    ticket->digest = ticket_digest(text);
    ticket->pod = g_strdup(req->name);
    ticket->expires_us = monotonic + (gint64)tickets->lifetime_s * G_USEC_PER_SEC;
    g_queue_push_tail(&tickets->order, ticket);
    g_hash_table_insert(tickets->by_digest, ticket->digest, ticket);

    /* RFC 3339, UTC, milliseconds. */
    expires_text = g_date_time_format(expires_at, "%Y-%m-%dT%H:%M:%S");
    {
        g_autofree char *full = g_strdup_printf("%s.%03dZ", expires_text,
                                                g_date_time_get_microsecond(expires_at) / 1000);
        g_free(expires_text);
        expires_text = g_steal_pointer(&full);
    }
    path = g_strdup_printf("/v1/pods/%s/console?ticket=%s", req->name, text);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ticket");
    json_builder_add_string_value(b, text);
    json_builder_set_member_name(b, "expiresAt");
    json_builder_add_string_value(b, expires_text);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    podvm_rest_respond_json(req, SOUP_STATUS_CREATED, root);
}
