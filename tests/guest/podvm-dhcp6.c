/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm-dhcp6 IFNAME: the test guest's stateful DHCPv6 client (Debian's
 * busybox has no udhcpc6). One exchange on IFNAME, RFC 8415: SOLICIT
 * (with rapid commit), ADVERTISE, REQUEST, REPLY, or SOLICIT and a
 * rapid-commit REPLY. On success it prints
 *     address ADDR
 *     dns ADDR          (one line per server, if any)
 * and exits 0; it does not configure anything (init does) and does not
 * renew (the tests' leases outlive them). Exits 1 after about 8 s without
 * an address, 2 on bad usage.
 *
 * Built statically by build-guest.sh (plain libc, no GLib: it runs in the
 * guest's initramfs).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum {
    MSG_SOLICIT = 1,
    MSG_ADVERTISE = 2,
    MSG_REQUEST = 3,
    MSG_REPLY = 7,
    OPT_CLIENTID = 1,
    OPT_SERVERID = 2,
    OPT_IA_NA = 3,
    OPT_IAADDR = 5,
    OPT_ORO = 6,
    OPT_ELAPSED_TIME = 8,
    OPT_STATUS_CODE = 13,
    OPT_RAPID_COMMIT = 14,
    OPT_DNS_SERVERS = 23,
};

#define IAID 1
#define TOTAL_MS 8000
#define RETRANSMIT_MS 1000
#define MAX_DNS 4

typedef struct {
    uint8_t data[1500];
    size_t len;
} Buffer;

typedef struct {
    int type;
    uint8_t server_id[130];
    size_t server_id_len;
    int rapid_commit;
    int have_address;
    struct in6_addr address;
    struct in6_addr dns[MAX_DNS];
    int n_dns;
} Answer;

static uint8_t client_id[10];

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
put_option(Buffer *b, unsigned code, const void *data, size_t len)
{
    if (b->len + 4 + len > sizeof b->data)
        return;
    b->data[b->len++] = code >> 8;
    b->data[b->len++] = code & 0xff;
    b->data[b->len++] = len >> 8;
    b->data[b->len++] = len & 0xff;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
}

/* A SOLICIT, or a REQUEST for @answer's address from @answer's server. */
static void
build(Buffer *b, int type, const uint8_t xid[3], const Answer *answer, long long started)
{
    uint8_t ia[12 + 4 + 24] = { 0, 0, 0, IAID };
    size_t ia_len = 12;
    uint8_t oro[2] = { 0, OPT_DNS_SERVERS };
    long long elapsed_cs = (now_ms() - started) / 10;
    uint8_t elapsed[2];

    if (elapsed_cs > 0xffff)
        elapsed_cs = 0xffff;
    elapsed[0] = elapsed_cs >> 8;
    elapsed[1] = elapsed_cs & 0xff;
    b->len = 0;
    b->data[b->len++] = type;
    memcpy(b->data + b->len, xid, 3);
    b->len += 3;
    put_option(b, OPT_CLIENTID, client_id, sizeof client_id);
    if (type == MSG_REQUEST)
        put_option(b, OPT_SERVERID, answer->server_id, answer->server_id_len);
    if (type == MSG_REQUEST && answer->have_address) {
        /* IAADDR: the address offered, lifetimes left to the server. */
        ia[12] = 0;
        ia[13] = OPT_IAADDR;
        ia[14] = 0;
        ia[15] = 24;
        memcpy(ia + 16, &answer->address, 16);
        ia_len = sizeof ia;
    }
    put_option(b, OPT_IA_NA, ia, ia_len);
    put_option(b, OPT_ELAPSED_TIME, elapsed, sizeof elapsed);
    put_option(b, OPT_ORO, oro, sizeof oro);
    if (type == MSG_SOLICIT)
        put_option(b, OPT_RAPID_COMMIT, NULL, 0);
}

/* The options of an IA_NA: its address, unless a status says there is none. */
static void
parse_ia_na(const uint8_t *p, size_t len, Answer *answer)
{
    size_t off = 12;

    if (len < 12 || p[0] != 0 || p[1] != 0 || p[2] != 0 || p[3] != IAID)
        return;
    while (off + 4 <= len) {
        unsigned code = p[off] << 8 | p[off + 1];
        size_t olen = (size_t)(p[off + 2] << 8 | p[off + 3]);

        off += 4;
        if (olen > len - off)
            return;
        if (code == OPT_IAADDR && olen >= 24) {
            memcpy(&answer->address, p + off, 16);
            answer->have_address = 1;
        } else if (code == OPT_STATUS_CODE && olen >= 2 && (p[off] != 0 || p[off + 1] != 0)) {
            answer->have_address = 0;
            return;
        }
        off += olen;
    }
}

/* 0 and @answer filled for an ADVERTISE or REPLY of our transaction to us; -1 otherwise. */
static int
parse(const uint8_t *p, size_t len, const uint8_t xid[3], Answer *answer)
{
    size_t off = 4;
    int ours = 0;

    memset(answer, 0, sizeof *answer);
    if (len < 4 || memcmp(p + 1, xid, 3) != 0)
        return -1;
    answer->type = p[0];
    if (answer->type != MSG_ADVERTISE && answer->type != MSG_REPLY)
        return -1;
    while (off + 4 <= len) {
        unsigned code = p[off] << 8 | p[off + 1];
        size_t olen = (size_t)(p[off + 2] << 8 | p[off + 3]);

        off += 4;
        if (olen > len - off)
            return -1;
        switch (code) {
        case OPT_CLIENTID:
            ours = olen == sizeof client_id && memcmp(p + off, client_id, olen) == 0;
            break;
        case OPT_SERVERID:
            if (olen > sizeof answer->server_id)
                return -1;
            memcpy(answer->server_id, p + off, olen);
            answer->server_id_len = olen;
            break;
        case OPT_IA_NA:
            parse_ia_na(p + off, olen, answer);
            break;
        case OPT_RAPID_COMMIT:
            answer->rapid_commit = 1;
            break;
        case OPT_DNS_SERVERS:
            for (size_t i = 0; i + 16 <= olen && answer->n_dns < MAX_DNS; i += 16)
                memcpy(&answer->dns[answer->n_dns++], p + off + i, 16);
            break;
        default:
            break;
        }
        off += olen;
    }
    return ours && answer->server_id_len > 0 ? 0 : -1;
}

/* The link's MAC, asked of the kernel (sysfs may show another namespace). */
static int
read_mac(int fd, const char *ifname, uint8_t mac[6])
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0)
        return -1;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in6 local = { .sin6_family = AF_INET6, .sin6_port = htons(546) };
    struct sockaddr_in6 servers = { .sin6_family = AF_INET6, .sin6_port = htons(547) };
    uint8_t mac[6], xid[3];
    long long started, deadline, next_send = 0;
    int fd, one = 1, type = MSG_SOLICIT;
    unsigned ifindex;
    Answer offer = { 0 }, answer;
    Buffer out;
    char text[INET6_ADDRSTRLEN];

    if (argc != 2 || strlen(argv[1]) >= IF_NAMESIZE) {
        fprintf(stderr, "usage: %s IFNAME\n", argv[0]);
        return 2;
    }
    fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifindex = if_nametoindex(argv[1]);
    if (fd < 0 || ifindex == 0 || read_mac(fd, argv[1], mac) != 0) {
        fprintf(stderr, "podvm-dhcp6: no link %s\n", argv[1]);
        return 1;
    }
    /* DUID-LL: type 3, hardware type 1 (ethernet), the MAC. */
    client_id[1] = 3;
    client_id[3] = 1;
    memcpy(client_id + 4, mac, 6);
    srandom((unsigned)now_ms() ^ (unsigned)getpid() ^ mac[5]);
    for (int i = 0; i < 3; i++)
        xid[i] = random() & 0xff;

    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, argv[1], strlen(argv[1])) != 0 ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) != 0 ||
        bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
        fprintf(stderr, "podvm-dhcp6: socket on %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    inet_pton(AF_INET6, "ff02::1:2", &servers.sin6_addr);
    servers.sin6_scope_id = ifindex;

    started = now_ms();
    deadline = started + TOTAL_MS;
    while (now_ms() < deadline) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        uint8_t in[1500];
        ssize_t n;
        long long wait;

        if (now_ms() >= next_send) {
            build(&out, type, xid, &offer, started);
            /* Fails until the link-local address is there: tried again. */
            sendto(fd, out.data, out.len, 0, (struct sockaddr *)&servers, sizeof servers);
            next_send = now_ms() + RETRANSMIT_MS;
        }
        wait = next_send - now_ms();
        if (wait < 0)
            wait = 0;
        if (poll(&pfd, 1, (int)wait) <= 0)
            continue;
        n = recv(fd, in, sizeof in, 0);
        if (n <= 0 || parse(in, (size_t)n, xid, &answer) != 0)
            continue;
        if (type == MSG_SOLICIT && answer.type == MSG_ADVERTISE && answer.have_address) {
            offer = answer;
            type = MSG_REQUEST;
            /* A new transaction. */
            for (int i = 0; i < 3; i++)
                xid[i] = random() & 0xff;
            next_send = 0;
            continue;
        }
        if (answer.type == MSG_REPLY && answer.have_address &&
            (type == MSG_REQUEST || answer.rapid_commit)) {
            printf("address %s\n", inet_ntop(AF_INET6, &answer.address, text, sizeof text));
            for (int i = 0; i < answer.n_dns; i++)
                printf("dns %s\n", inet_ntop(AF_INET6, &answer.dns[i], text, sizeof text));
            return 0;
        }
    }
    fprintf(stderr, "podvm-dhcp6: no address on %s\n", argv[1]);
    return 1;
}
