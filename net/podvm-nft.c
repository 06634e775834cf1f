/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvm-nft.c: see podvm-nft.h. */
#include "podvm-build-config.h"

#include "podvm-nft.h"

#include <arpa/inet.h>
#include <glib/gi18n-lib.h>
#include <nftables/libnftables.h>
#include <string.h>
#include <sys/socket.h>

#include "podvm-net-private.h"
#include "podvm-netlink.h"

/*
 * Every value that goes into the rule text is checked and written back from
 * its parsed form (addresses from their bytes, names against the kernel's
 * grammar, ports as numbers), so no caller's text reaches nft as syntax.
 */

typedef struct nft_ctx PodvmNftCtx;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PodvmNftCtx, nft_ctx_free)

#define TABLE "inet podvm"

static gboolean
bad_value(GError **error, const char *what, const char *value)
{
    g_autofree char *quoted = podvm_quote_for_message(value != NULL ? value : "(none)");

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("bad %s for the NAT: %s"), what,
                quoted);
    return FALSE;
}

/* An address without prefix, of @family (AF_UNSPEC: either), in canonical text. */
static char *
canonical_ip(const char *text, int family, int *out_family)
{
    g_autoptr(GInetAddress) addr = NULL;
    int got;

    if (text == NULL || strchr(text, '/') != NULL || strchr(text, '%') != NULL)
        return NULL;
    addr = g_inet_address_new_from_string(text);
    if (addr == NULL)
        return NULL;
    got = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV4 ? AF_INET : AF_INET6;
    if (family != AF_UNSPEC && got != family)
        return NULL;
    if (out_family != NULL)
        *out_family = got;
    return g_inet_address_to_string(addr);
}

/* A network "A/P" of @family with its host bits cleared, in canonical text. */
static char *
canonical_cidr(const char *text, int family)
{
    char out[INET6_ADDRSTRLEN];
    guint8 bytes[16];
    guint prefix;
    int got;

    if (!podvm_net_parse_cidr(text, &got, bytes, &prefix, NULL) || got != family)
        return NULL;
    for (guint bit = prefix; bit < (family == AF_INET ? 32u : 128u); bit++)
        bytes[bit / 8] &= (guint8) ~(0x80u >> (bit % 8));
    if (inet_ntop(family, bytes, out, sizeof out) == NULL)
        return NULL;
    return g_strdup_printf("%s/%u", out, prefix);
}

/* The checked, canonical values of a PodvmNftMasquerade. */
typedef struct {
    char *guest4, *cidr4, *guest6, *cidr6;
    GPtrArray *pod4, *pod6; /* canonical addresses */
    GString *tcp, *udp;     /* "80, 443" */
} Checked;

static void
checked_clear(Checked *c)
{
    g_free(c->guest4);
    g_free(c->cidr4);
    g_free(c->guest6);
    g_free(c->cidr6);
    g_clear_pointer(&c->pod4, g_ptr_array_unref);
    g_clear_pointer(&c->pod6, g_ptr_array_unref);
    if (c->tcp != NULL)
        g_string_free(c->tcp, TRUE);
    if (c->udp != NULL)
        g_string_free(c->udp, TRUE);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Checked, checked_clear)

static gboolean
check_rules(const PodvmNftMasquerade *rules, Checked *c, GError **error)
{
    g_autoptr(GHashTable) seen = NULL;

    if (!podvm_net_ifname_valid(rules->pod_ifname))
        return bad_value(error, _("pod interface"), rules->pod_ifname);
    if (!podvm_net_ifname_valid(rules->bridge_ifname))
        return bad_value(error, _("bridge"), rules->bridge_ifname);
    c->guest4 = canonical_ip(rules->guest_ipv4, AF_INET, NULL);
    if (c->guest4 == NULL)
        return bad_value(error, _("guest IPv4 address"), rules->guest_ipv4);
    c->cidr4 = canonical_cidr(rules->vm_cidr4, AF_INET);
    if (c->cidr4 == NULL)
        return bad_value(error, _("VM IPv4 network"), rules->vm_cidr4);
    if (rules->guest_ipv6 != NULL) {
        c->guest6 = canonical_ip(rules->guest_ipv6, AF_INET6, NULL);
        if (c->guest6 == NULL)
            return bad_value(error, _("guest IPv6 address"), rules->guest_ipv6);
        c->cidr6 = canonical_cidr(rules->vm_cidr6, AF_INET6);
        if (c->cidr6 == NULL)
            return bad_value(error, _("VM IPv6 network"), rules->vm_cidr6);
    }
    c->pod4 = g_ptr_array_new_with_free_func(g_free);
    c->pod6 = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; rules->pod_addresses != NULL && rules->pod_addresses[i] != NULL; i++) {
        int family;
        char *addr = canonical_ip(rules->pod_addresses[i], AF_UNSPEC, &family);

        if (addr == NULL)
            return bad_value(error, _("pod address"), rules->pod_addresses[i]);
        g_ptr_array_add(family == AF_INET ? c->pod4 : c->pod6, addr);
    }
    c->tcp = g_string_new(NULL);
    c->udp = g_string_new(NULL);
    seen = g_hash_table_new(NULL, NULL);
    for (guint i = 0; !rules->all_ports && i < rules->n_ports; i++) {
        const PodvmNftPort *port = &rules->ports[i];
        GString *list;

        if (g_strcmp0(port->protocol, "tcp") == 0)
            list = c->tcp;
        else if (g_strcmp0(port->protocol, "udp") == 0)
            list = c->udp;
        else
            return bad_value(error, _("port protocol"), port->protocol);
        if (port->port < 1 || port->port > 65535) {
            g_autofree char *text = g_strdup_printf("%u", port->port);

            return bad_value(error, _("port"), text);
        }
        /* A port given twice is one element (nft refuses duplicates in a set). */
        if (g_hash_table_add(seen, GUINT_TO_POINTER(port->port | (list == c->udp ? 1u << 16 : 0))))
            g_string_append_printf(list, "%s%u", list->len > 0 ? ", " : "", port->port);
    }
    return TRUE;
}

static void
append_addr_set(GString *out, GPtrArray *addrs)
{
    g_string_append(out, "{ ");
    for (guint i = 0; i < addrs->len; i++)
        g_string_append_printf(out, "%s%s", i > 0 ? ", " : "", (char *)addrs->pdata[i]);
    g_string_append(out, " }");
}

/* The DNAT rules of one family, each after @match (the chain's own condition, or ""). */
static void
append_dnat(GString *out, const Checked *c, const char *match, const char *family, GPtrArray *pod,
            const char *guest, gboolean all_ports)
{
    const char *daddr = g_str_equal(family, "ip") ? "ip daddr " : "ip6 daddr ";

    if (pod->len == 0 || guest == NULL)
        return;
    if (all_ports) {
        g_string_append_printf(out, "\t\t%s%s", match, daddr);
        append_addr_set(out, pod);
        g_string_append_printf(out, " dnat %s to %s\n", family, guest);
        return;
    }
    for (guint i = 0; i < 2; i++) {
        const GString *ports = i == 0 ? c->tcp : c->udp;

        if (ports->len == 0)
            continue;
        g_string_append_printf(out, "\t\t%s%s", match, daddr);
        append_addr_set(out, pod);
        g_string_append_printf(out, " %s dport { %s } dnat %s to %s\n", i == 0 ? "tcp" : "udp",
                               ports->str, family, guest);
    }
}

static char *
build_ruleset(const PodvmNftMasquerade *rules, GError **error)
{
    g_auto(Checked) c = { 0 };
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *from_pod = NULL;

    if (!check_rules(rules, &c, error))
        return NULL;
    from_pod = g_strdup_printf("iifname \"%s\" ", rules->pod_ifname);

    g_string_append(out, "table " TABLE " {\n");
    /* Connections to the pod's addresses from outside go to the guest. */
    g_string_append(out, "\tchain prerouting {\n"
                         "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
    append_dnat(out, &c, from_pod, "ip", c.pod4, c.guest4, rules->all_ports);
    append_dnat(out, &c, from_pod, "ip6", c.pod6, c.guest6, rules->all_ports);
    g_string_append(out, "\t}\n");
    /* And so do those made inside the pod's namespace itself. */
    g_string_append(out, "\tchain output {\n"
                         "\t\ttype nat hook output priority -100; policy accept;\n");
    append_dnat(out, &c, "", "ip", c.pod4, c.guest4, rules->all_ports);
    append_dnat(out, &c, "", "ip6", c.pod6, c.guest6, rules->all_ports);
    g_string_append(out, "\t}\n");
    /* The guest's own connections leave with the pod's address. */
    g_string_append(out, "\tchain postrouting {\n"
                         "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
    g_string_append_printf(out, "\t\tiifname \"%s\" oifname \"%s\" ip saddr %s masquerade\n",
                           rules->bridge_ifname, rules->pod_ifname, c.cidr4);
    if (c.cidr6 != NULL)
        g_string_append_printf(out, "\t\tiifname \"%s\" oifname \"%s\" ip6 saddr %s masquerade\n",
                               rules->bridge_ifname, rules->pod_ifname, c.cidr6);
    g_string_append(out, "\t}\n}\n");
    return g_string_free(g_steal_pointer(&out), FALSE);
}

char *
podvm_nft_masquerade_ruleset(const PodvmNftMasquerade *rules)
{
    g_autoptr(GError) error = NULL;
    char *text = build_ruleset(rules, &error);

    if (text == NULL)
        g_debug("no masquerade ruleset: %s", error->message);
    return text;
}

/* Runs @commands in one transaction in the calling thread's namespace; the output in @out. */
static gboolean
nft_run(const char *commands, char **out, GError **error)
{
    g_autoptr(PodvmNftCtx) ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    int rc;

    if (ctx == NULL) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("cannot make an nftables context"));
        return FALSE;
    }
    /* Nothing goes to our stdout/stderr: output and errors are captured. */
    if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("cannot capture the output of nftables"));
        return FALSE;
    }
    rc = nft_run_cmd_from_buffer(ctx, commands);
    if (rc != 0) {
        g_autofree char *message = g_strdup(nft_ctx_get_error_buffer(ctx));

        g_set_error(error, PODVM_ERROR, PODVM_ERROR_FAILED, _("nftables refused the rules: %s"),
                    message != NULL && message[0] != '\0' ? g_strstrip(message) : "?");
        return FALSE;
    }
    if (out != NULL)
        *out = g_strdup(nft_ctx_get_output_buffer(ctx));
    return TRUE;
}

gboolean
podvm_nft_apply_masquerade(const PodvmNftMasquerade *rules, GError **error)
{
    g_autofree char *ruleset = build_ruleset(rules, error);
    g_autofree char *commands = NULL;

    if (ruleset == NULL)
        return FALSE;
    /* One transaction: the table made if missing, deleted, and made anew with its rules. */
    commands = g_strconcat("add table " TABLE "\ndelete table " TABLE "\n", ruleset, NULL);
    if (!nft_run(commands, NULL, error)) {
        g_prefix_error(error, _("cannot apply the masquerade NAT: "));
        return FALSE;
    }
    return TRUE;
}

gboolean
podvm_nft_delete_table(GError **error)
{
    if (!nft_run("add table " TABLE "\ndelete table " TABLE "\n", NULL, error)) {
        g_prefix_error(error, _("cannot delete the table %s: "), TABLE);
        return FALSE;
    }
    return TRUE;
}

char *
podvm_nft_list_table(GError **error)
{
    g_autofree char *tables = NULL;
    g_auto(GStrv) lines = NULL;
    gboolean found = FALSE;
    char *text = NULL;

    if (!nft_run("list tables inet", &tables, error))
        return NULL;
    lines = g_strsplit(tables, "\n", -1);
    for (guint i = 0; lines[i] != NULL && !found; i++)
        found = g_str_equal(g_strstrip(lines[i]), "table " TABLE);
    if (!found)
        return NULL;
    if (!nft_run("list table " TABLE, &text, error))
        return NULL;
    return text;
}
