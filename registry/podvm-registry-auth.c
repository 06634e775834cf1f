/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-registry-auth.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-image-ref.h"
#include "podvm-json.h"

#define MAX_HEADER 16384
#define MAX_CHALLENGES 16
#define MAX_PARAMS 32
#define MAX_TOKEN 65536
#define MAX_AUTH_FILE (1024 * 1024)

void
podvm_registry_challenge_free(PodvmRegistryChallenge *challenge)
{
    if (challenge == NULL)
        return;
    g_free(challenge->scheme);
    g_clear_pointer(&challenge->params, g_hash_table_unref);
    g_free(challenge);
}

const char *
podvm_registry_challenge_get(const PodvmRegistryChallenge *challenge, const char *name)
{
    return g_hash_table_lookup(challenge->params, name);
}

/* RFC 7230's tchar. */
static gboolean
is_tchar(char c)
{
    return g_ascii_isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static gboolean
is_token68_char(char c)
{
    return g_ascii_isalnum(c) || (c != '\0' && strchr("-._~+/", c) != NULL);
}

static void
skip_ows(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

static char *
read_token(const char **p)
{
    const char *start = *p;

    while (is_tchar(**p))
        (*p)++;
    return *p > start ? g_strndup(start, *p - start) : NULL;
}

/* A quoted-string at *@p (which is '"'); NULL when it does not end. */
static char *
read_quoted(const char **p)
{
    g_autoptr(GString) value = g_string_new(NULL);
    const char *q = *p + 1;

    for (; *q != '\0' && *q != '"'; q++) {
        if (*q == '\\') {
            q++;
            if (*q == '\0')
                return NULL;
        }
        if ((guchar)*q < 0x20 && *q != '\t')
            return NULL;
        g_string_append_c(value, *q);
    }
    if (*q != '"')
        return NULL;
    *p = q + 1;
    return g_string_free(g_steal_pointer(&value), FALSE);
}

/* Whether a token68 (then only OWS before ',' or the end) starts at @p; moves past it. */
static gboolean
skip_token68(const char **p)
{
    const char *q = *p;

    while (is_token68_char(*q))
        q++;
    if (q == *p)
        return FALSE;
    while (*q == '=')
        q++;
    skip_ows(&q);
    if (*q != '\0' && *q != ',')
        return FALSE;
    *p = q;
    return TRUE;
}

static PodvmRegistryChallenge *
challenge_new(char *scheme)
{
    PodvmRegistryChallenge *challenge = g_new0(PodvmRegistryChallenge, 1);

    challenge->scheme = g_ascii_strdown(scheme, -1);
    challenge->params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return challenge;
}

GPtrArray *
podvm_registry_challenges_parse(const char *header, GError **error)
{
    g_autoptr(GPtrArray) challenges =
        g_ptr_array_new_with_free_func((GDestroyNotify)podvm_registry_challenge_free);
    PodvmRegistryChallenge *current = NULL;
    const char *p = header;

    if (header == NULL || strlen(header) > MAX_HEADER || !g_utf8_validate(header, -1, NULL)) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                            _("the WWW-Authenticate header is missing, too long or not UTF-8"));
        return NULL;
    }
    for (;;) {
        g_autofree char *token = NULL;
        g_autofree char *value = NULL;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        token = read_token(&p);
        if (token == NULL)
            goto malformed;
        skip_ows(&p);
        if (*p == '=' && current != NULL) {
            /* auth-param = token BWS "=" BWS ( token / quoted-string ) */
            p++;
            skip_ows(&p);
            value = *p == '"' ? read_quoted(&p) : read_token(&p);
            if (value == NULL)
                goto malformed;
            if (g_hash_table_size(current->params) >= MAX_PARAMS)
                goto malformed;
            {
                char *name = g_ascii_strdown(token, -1);

                if (g_hash_table_contains(current->params, name))
                    g_free(name);
                else
                    g_hash_table_insert(current->params, name, g_steal_pointer(&value));
            }
            skip_ows(&p);
            if (*p != '\0' && *p != ',')
                goto malformed;
            continue;
        }
        /* A new challenge: auth-scheme [ 1*SP ( token68 / #auth-param ) ] */
        if (challenges->len >= MAX_CHALLENGES)
            goto malformed;
        current = challenge_new(token);
        g_ptr_array_add(challenges, current);
        skip_token68(&p);
    }
    if (challenges->len == 0)
        goto malformed;
    return g_steal_pointer(&challenges);

malformed:
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("the registry's WWW-Authenticate header is malformed"));
    return NULL;
}

const PodvmRegistryChallenge *
podvm_registry_challenges_pick(GPtrArray *challenges)
{
    const PodvmRegistryChallenge *basic = NULL;

    for (guint i = 0; challenges != NULL && i < challenges->len; i++) {
        const PodvmRegistryChallenge *c = g_ptr_array_index(challenges, i);

        if (g_str_equal(c->scheme, "bearer"))
            return c;
        if (g_str_equal(c->scheme, "basic") && basic == NULL)
            basic = c;
    }
    return basic;
}

static gboolean
token_valid(const char *token)
{
    gsize len = strlen(token);

    if (len == 0 || len > MAX_TOKEN)
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (token[i] < 0x21 || token[i] > 0x7e)
            return FALSE;
    }
    return TRUE;
}

char *
podvm_registry_token_parse(const char *data, gsize length, guint *out_expires_in, GError **error)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *object;
    const char *token = NULL;
    gint64 expires_in = 60;

    root = podvm_json_parse_limited(data, (gssize)length, MAX(length, 1), 8, NULL);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
        goto bad;
    object = json_node_get_object(root);
    for (guint i = 0; i < 2 && token == NULL; i++) {
        JsonNode *node = json_object_get_member(object, i == 0 ? "token" : "access_token");

        if (node != NULL && JSON_NODE_HOLDS_VALUE(node) &&
            json_node_get_value_type(node) == G_TYPE_STRING)
            token = json_node_get_string(node);
    }
    if (token == NULL || !token_valid(token))
        goto bad;
    if (json_object_has_member(object, "expires_in")) {
        JsonNode *node = json_object_get_member(object, "expires_in");

        if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_INT64)
            expires_in = CLAMP(json_node_get_int(node), 0, 86400);
    }
    if (out_expires_in != NULL)
        *out_expires_in = (guint)expires_in;
    return g_strdup(token);

bad:
    g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_FAILED,
                        _("the token server's answer has no token"));
    return NULL;
}

/* auth.json's key as "host[:port][/path]", docker.io's aliases folded. */
static char *
normalize_key(const char *key)
{
    g_autofree char *k = NULL;
    char *slash;

    if (g_str_has_prefix(key, "https://"))
        key += strlen("https://");
    else if (g_str_has_prefix(key, "http://"))
        key += strlen("http://");
    k = g_strdup(key);
    while (*k != '\0' && k[strlen(k) - 1] == '/')
        k[strlen(k) - 1] = '\0';
    slash = strchr(k, '/');
    {
        g_autofree char *host =
            slash != NULL ? g_ascii_strdown(k, slash - k) : g_ascii_strdown(k, -1);
        const char *path = slash != NULL ? slash : "";

        if (g_str_equal(host, "index.docker.io") || g_str_equal(host, "registry-1.docker.io")) {
            g_free(host);
            host = g_strdup(PODVM_IMAGE_REF_DOCKER_HUB);
            if (g_str_equal(path, "/v1") || g_str_equal(path, "/v2"))
                path = "";
        }
        return g_strconcat(host, path, NULL);
    }
}

/* How many bytes of "registry/repository" @key matches (whole components), or -1. */
static gssize
key_match(const char *key, const char *registry, const char *repository)
{
    g_autofree char *name =
        repository != NULL ? g_strconcat(registry, "/", repository, NULL) : g_strdup(registry);
    gsize len = strlen(key);

    if (g_str_equal(key, registry))
        return (gssize)len;
    if (strchr(key, '/') != NULL && g_str_has_prefix(name, key) &&
        (name[len] == '\0' || name[len] == '/'))
        return (gssize)len;
    return -1;
}

gboolean
podvm_registry_auth_lookup_data(const char *data, gsize length, const char *registry,
                                const char *repository, char **out_user, char **out_password,
                                GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GList) members = NULL;
    JsonObject *auths = NULL;
    const char *best = NULL;
    gssize best_len = -1;
    g_autofree guchar *decoded = NULL;
    gsize decoded_len = 0;
    g_autofree char *text = NULL;
    char *colon;

    root = podvm_json_parse_limited(data, (gssize)length, MAX(length, 1), 16, &local);
    if (root == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("not JSON: %s"),
                    local->message);
        return FALSE;
    }
    if (JSON_NODE_HOLDS_OBJECT(root)) {
        JsonNode *node = json_object_get_member(json_node_get_object(root), "auths");

        if (node != NULL && JSON_NODE_HOLDS_OBJECT(node))
            auths = json_node_get_object(node);
    }
    if (auths == NULL) {
        g_set_error_literal(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                            _("expected an object {\"auths\": {\"HOST\": {\"auth\": ...}}}"));
        return FALSE;
    }
    members = json_object_get_members(auths);
    for (GList *l = members; l != NULL; l = l->next) {
        g_autofree char *key = normalize_key(l->data);
        gssize len = key_match(key, registry, repository);
        JsonNode *entry = json_object_get_member(auths, l->data);

        if (len > best_len && JSON_NODE_HOLDS_OBJECT(entry) &&
            json_object_has_member(json_node_get_object(entry), "auth")) {
            best = l->data;
            best_len = len;
        }
    }
    *out_user = NULL;
    *out_password = NULL;
    if (best == NULL)
        return TRUE;
    {
        JsonObject *entry = json_node_get_object(json_object_get_member(auths, best));
        JsonNode *auth = json_object_get_member(entry, "auth");

        if (!JSON_NODE_HOLDS_VALUE(auth) || json_node_get_value_type(auth) != G_TYPE_STRING)
            goto bad_entry;
        decoded = g_base64_decode(json_node_get_string(auth), &decoded_len);
    }
    if (decoded == NULL || decoded_len == 0 || memchr(decoded, '\0', decoded_len) != NULL)
        goto bad_entry;
    text = g_strndup((const char *)decoded, decoded_len);
    colon = strchr(text, ':');
    if (colon == NULL || colon == text)
        goto bad_entry;
    *colon = '\0';
    *out_user = g_strdup(text);
    *out_password = g_strdup(colon + 1);
    return TRUE;

bad_entry : {
    g_autofree char *quoted = podvm_quote_for_message(best);

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("the entry for %s: \"auth\" is not base64 of USER:PASSWORD"), quoted);
    return FALSE;
}
}

gboolean
podvm_registry_auth_file_lookup(const char *path, const char *registry, const char *repository,
                                char **out_user, char **out_password, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *data = NULL;
    gsize length = 0;

    *out_user = NULL;
    *out_password = NULL;
    if (path == NULL)
        return TRUE;
    if (!g_file_get_contents(path, &data, &length, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_IO, _("auth file %s: %s"), path,
                    local->message);
        return FALSE;
    }
    if (length > MAX_AUTH_FILE) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("auth file %s is larger than 1 MiB"), path);
        return FALSE;
    }
    if (!podvm_registry_auth_lookup_data(data, length, registry, repository, out_user, out_password,
                                         &local)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("auth file %s: %s"), path,
                    local->message);
        return FALSE;
    }
    return TRUE;
}
