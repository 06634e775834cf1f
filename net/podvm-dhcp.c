/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-dhcp.c: the DHCPv4 server of a binding (see podvm-dhcp.h): leases,
 * the socket and the server on the main loop; the packets are in
 * podvm-dhcp-packet.c.
 *
 * Static leases only, one per guest MAC, on the one interface a binding
 * answers on. Written here rather than running dnsmasq per pod: a lease is
 * fixed by the binding, so the server keeps no state, writes no lease file
 * and needs no child process to supervise and restart; its parser is a few
 * hundred lines that a fuzzer covers whole.
 */
#include "podvm-build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-dhcp.h"
#include "podvm-dhcp-private.h"
#include "podvm-error.h"

/* ---- leases ---------------------------------------------------------------- */

void
podvm_dhcp_lease_free(PodvmDhcpLease *lease)
{
    if (lease == NULL)
        return;
    g_free(lease->address);
    g_free(lease->router);
    g_strfreev(lease->dns);
    g_strfreev(lease->search);
    g_free(lease->hostname);
    g_clear_pointer(&lease->routes, g_ptr_array_unref);
    g_free(lease);
}

PodvmDhcpLease *
podvm_dhcp_lease_copy(const PodvmDhcpLease *lease)
{
    PodvmDhcpLease *copy = g_new0(PodvmDhcpLease, 1);

    memcpy(copy->mac, lease->mac, sizeof(copy->mac));
    copy->address = g_strdup(lease->address);
    copy->prefix = lease->prefix;
    copy->router = g_strdup(lease->router);
    copy->dns = g_strdupv(lease->dns);
    copy->search = g_strdupv(lease->search);
    copy->hostname = g_strdup(lease->hostname);
    copy->mtu = lease->mtu;
    copy->lease_seconds = lease->lease_seconds;
    if (lease->routes != NULL) {
        copy->routes = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_route_free);
        for (guint i = 0; i < lease->routes->len; i++) {
            const PodvmRoute *route = g_ptr_array_index(lease->routes, i);
            PodvmRoute *route_copy = g_new0(PodvmRoute, 1);

            route_copy->dst = g_strdup(route->dst);
            route_copy->gateway = g_strdup(route->gateway);
            g_ptr_array_add(copy->routes, route_copy);
        }
    }
    return copy;
}

/* ---- the host's resolver configuration -------------------------------------------- */

#define RESOLV_CONF_MAX (64 * 1024)
#define RESOLV_MAX_NAMESERVERS 3 /* MAXNS of the resolver */

static gboolean
is_loopback(const char *address)
{
    struct in_addr v4;
    struct in6_addr v6;

    if (inet_pton(AF_INET, address, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, address, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void
podvm_dhcp_parse_resolv_conf(const char *text, GStrv *out_dns, GStrv *out_search)
{
    g_autoptr(GStrvBuilder) dns = g_strv_builder_new();
    g_auto(GStrv) lines = g_strsplit(text != NULL ? text : "", "\n", -1);
    g_auto(GStrv) search = NULL;
    guint n_dns = 0;

    for (gsize i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) words = g_strsplit_set(lines[i], " \t\r", -1);
        g_autoptr(GStrvBuilder) fields = g_strv_builder_new();
        g_auto(GStrv) f = NULL;

        for (gsize w = 0; words[w] != NULL; w++)
            if (words[w][0] != '\0')
                g_strv_builder_add(fields, words[w]);
        f = g_strv_builder_end(fields);
        if (f[0] == NULL || f[0][0] == '#' || f[0][0] == ';')
            continue;
        if (g_str_equal(f[0], "nameserver") && f[1] != NULL) {
            struct in_addr v4;
            struct in6_addr v6;

            if (n_dns >= RESOLV_MAX_NAMESERVERS || is_loopback(f[1]))
                continue;
            if (inet_pton(AF_INET, f[1], &v4) != 1 && inet_pton(AF_INET6, f[1], &v6) != 1)
                continue; /* "fe80::1%eth0" and the like: not for a guest */
            g_strv_builder_add(dns, f[1]);
            n_dns++;
        } else if ((g_str_equal(f[0], "search") || g_str_equal(f[0], "domain")) && f[1] != NULL) {
            g_strfreev(search);
            search = g_strdupv(f + 1);
        }
    }
    *out_dns = n_dns > 0 ? g_strv_builder_end(dns) : NULL;
    *out_search = g_steal_pointer(&search);
}

static gboolean
read_resolv_conf(const char *path, GStrv *out_dns, GStrv *out_search, GError **error)
{
    g_autofree char *text = NULL;
    gsize length = 0;
    g_autoptr(GError) local = NULL;

    *out_dns = NULL;
    *out_search = NULL;
    if (!g_file_get_contents(path, &text, &length, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot read '%s': %s"), path,
                    local->message);
        return FALSE;
    }
    if (length > RESOLV_CONF_MAX) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("'%s' is larger than %d bytes; not a resolver configuration"), path,
                    RESOLV_CONF_MAX);
        return FALSE;
    }
    podvm_dhcp_parse_resolv_conf(text, out_dns, out_search);
    return TRUE;
}

gboolean
podvm_dhcp_read_resolv_conf(const char *path, GStrv *out_dns, GStrv *out_search, GError **error)
{
    g_auto(GStrv) dns = NULL;
    g_auto(GStrv) search = NULL;

    if (!read_resolv_conf(path != NULL ? path : "/etc/resolv.conf", &dns, &search, error))
        return FALSE;
    if (dns == NULL && path == NULL) {
        g_auto(GStrv) upstream_search = NULL;

        /* systemd-resolved's stub (127.0.0.53): its upstream servers instead. */
        g_clear_pointer(&dns, g_strfreev);
        if (!read_resolv_conf("/run/systemd/resolve/resolv.conf", &dns, &upstream_search, error))
            return FALSE;
        if (search == NULL)
            search = g_steal_pointer(&upstream_search);
    }
    *out_dns = g_steal_pointer(&dns);
    *out_search = g_steal_pointer(&search);
    return TRUE;
}

/* ---- the server ------------------------------------------------------------ */

int
podvm_dhcp_open_socket(const char *ifname, GError **error)
{
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(67) };
    int one = 1;
    int fd;

    if (ifname == NULL || ifname[0] == '\0' || strlen(ifname) >= IFNAMSIZ) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("'%s' is not an interface name"), ifname != NULL ? ifname : "");
        return -1;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_UDP);
    if (fd < 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("cannot open the DHCP socket: %s"),
                    g_strerror(saved));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int saved = errno;

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO,
                    _("cannot set up the DHCP socket on '%s': %s"), ifname, g_strerror(saved));
        close(fd);
        return -1;
    }
    return fd;
}

struct _PodvmDhcpServer {
    int fd;
    char *server_address;
    GPtrArray *leases; /* PodvmDhcpLease*, owned */
    GSource *source;
    PodvmDhcpAckFunc ack_func;
    gpointer ack_data;
};

static gboolean
send_to(PodvmDhcpServer *server, const guint8 *data, gsize len, guint32 address_be)
{
    struct sockaddr_in to = {
        .sin_family = AF_INET,
        .sin_port = htons(68),
        .sin_addr.s_addr = address_be,
    };

    return sendto(server->fd, data, len, 0, (struct sockaddr *)&to, sizeof(to)) >= 0;
}

static void
send_reply(PodvmDhcpServer *server, GBytes *reply, guint8 type, const PodvmDhcpLease *lease)
{
    gsize len;
    const guint8 *data = g_bytes_get_data(reply, &len);
    guint8 lease_ip[4];
    guint32 lease_be;
    gboolean sent;

    /* RFC 2131 4.1: a client renewing from its address (ciaddr) gets the answer there,
     * whatever its broadcast flag; a NAK, and anything for a client without an address, is
     * broadcast (a unicast to yiaddr would need an ARP entry made by hand; a broadcast
     * reaches a client with the flag and without). */
    if (type != PODVM_DHCP_NAK && podvm_dhcp_parse_ipv4(lease->address, lease_ip) &&
        memcmp(data + 12, lease_ip, 4) == 0) {
        memcpy(&lease_be, lease_ip, 4);
        sent = send_to(server, data, len, lease_be);
        if (!sent) {
            /* No route to the guest's address in this namespace (the bridge binding moves
             * the pod's address to the guest): broadcast instead. */
            g_debug("DHCP: cannot unicast to %s (%s); broadcasting", lease->address,
                    g_strerror(errno));
            sent = send_to(server, data, len, htonl(INADDR_BROADCAST));
        }
    } else {
        sent = send_to(server, data, len, htonl(INADDR_BROADCAST));
    }
    if (!sent) {
        int saved = errno;

        g_warning("DHCP: cannot send a reply to %s: %s", lease->address, g_strerror(saved));
        return;
    }
    if (type == PODVM_DHCP_ACK && data[16] != 0) {
        g_info("DHCP: %02x:%02x:%02x:%02x:%02x:%02x has %s", lease->mac[0], lease->mac[1],
               lease->mac[2], lease->mac[3], lease->mac[4], lease->mac[5], lease->address);
        if (server->ack_func != NULL)
            server->ack_func(lease->mac, lease->address, server->ack_data);
    }
}

static gboolean
readable_cb(int fd, GIOCondition condition, gpointer user_data)
{
    PodvmDhcpServer *server = user_data;

    /* A few packets per wakeup, so one busy client cannot starve the loop. */
    for (guint n = 0; n < 16; n++) {
        guint8 buffer[2048];
        ssize_t got = recv(fd, buffer, sizeof(buffer), MSG_TRUNC);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) reply = NULL;
        const PodvmDhcpLease *lease = NULL;
        guint8 type = 0;

        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                g_warning("DHCP: cannot read a request: %s", g_strerror(errno));
            break;
        }
        if ((gsize)got > sizeof(buffer)) {
            g_debug("DHCP: request of %zd bytes ignored", got);
            continue;
        }
        reply = podvm_dhcp_answer_full(
            buffer, (gsize)got, (const PodvmDhcpLease *const *)server->leases->pdata,
            server->leases->len, server->server_address, &type, &lease, &error);
        if (error != NULL)
            g_debug("DHCP: request refused: %s", error->message);
        if (reply != NULL)
            send_reply(server, reply, type, lease);
    }
    return G_SOURCE_CONTINUE;
}

PodvmDhcpServer *
podvm_dhcp_server_new(int fd, const char *server_address, GError **error)
{
    PodvmDhcpServer *server;
    guint8 ip[4];
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default();

    if (!podvm_dhcp_parse_ipv4(server_address, ip)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("DHCP server address '%s' is not an IPv4 address"),
                    server_address != NULL ? server_address : "");
        close(fd);
        return NULL;
    }
    server = g_new0(PodvmDhcpServer, 1);
    server->fd = fd;
    server->server_address = g_strdup(server_address);
    server->leases = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_dhcp_lease_free);
    server->source = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(server->source, G_SOURCE_FUNC(readable_cb), server, NULL);
    g_source_set_static_name(server->source, "podvm-dhcp");
    g_source_attach(server->source, context);
    return server;
}

void
podvm_dhcp_server_set_lease(PodvmDhcpServer *server, const PodvmDhcpLease *lease)
{
    podvm_dhcp_server_remove_lease(server, lease->mac);
    g_ptr_array_add(server->leases, podvm_dhcp_lease_copy(lease));
}

void
podvm_dhcp_server_remove_lease(PodvmDhcpServer *server, const guint8 mac[6])
{
    for (guint i = 0; i < server->leases->len; i++) {
        const PodvmDhcpLease *lease = g_ptr_array_index(server->leases, i);

        if (memcmp(lease->mac, mac, 6) == 0) {
            g_ptr_array_remove_index(server->leases, i);
            return;
        }
    }
}

void
podvm_dhcp_server_set_ack_func(PodvmDhcpServer *server, PodvmDhcpAckFunc func, gpointer user_data)
{
    server->ack_func = func;
    server->ack_data = user_data;
}

void
podvm_dhcp_server_free(PodvmDhcpServer *server)
{
    if (server == NULL)
        return;
    if (server->source != NULL) {
        g_source_destroy(server->source);
        g_source_unref(server->source);
    }
    if (server->fd >= 0)
        close(server->fd);
    g_ptr_array_unref(server->leases);
    g_free(server->server_address);
    g_free(server);
}
