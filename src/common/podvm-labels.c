/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Label selectors (podvm-labels.h): a small lexer in Kubernetes' manner
 * (identifiers are runs of anything but spaces and the symbols ! = ( ) , < >),
 * a parser of requirements, and the matcher. "in" and "notin" are operators
 * only where an operator is expected: "tier=in" is the value "in".
 */
#include "podvm-labels.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

#define NAME_MAX_LENGTH 63
#define PREFIX_MAX_LENGTH 253

typedef enum {
    OP_EXISTS,
    OP_NOT_EXISTS,
    OP_EQUALS,
    OP_NOT_EQUALS,
    OP_IN,
    OP_NOT_IN,
} Op;

typedef struct {
    Op op;
    char *key;
    GPtrArray *values; /* char*: one for = and !=, one or more for in and notin; else NULL */
} Requirement;

struct _PodvmLabelSelector {
    GPtrArray *requirements; /* Requirement* */
};

static void
requirement_free(Requirement *requirement)
{
    g_free(requirement->key);
    if (requirement->values != NULL)
        g_ptr_array_unref(requirement->values);
    g_free(requirement);
}

PodvmLabelSelector *
podvm_label_selector_new(void)
{
    PodvmLabelSelector *selector = g_new0(PodvmLabelSelector, 1);

    selector->requirements = g_ptr_array_new_with_free_func((GDestroyNotify)requirement_free);
    return selector;
}

void
podvm_label_selector_free(PodvmLabelSelector *selector)
{
    if (selector == NULL)
        return;
    g_ptr_array_unref(selector->requirements);
    g_free(selector);
}

/* ---- the lexer ---------------------------------------------------------------- */

typedef enum {
    TOKEN_END,
    TOKEN_IDENTIFIER,
    TOKEN_COMMA,
    TOKEN_EQUALS,        /* = */
    TOKEN_DOUBLE_EQUALS, /* == */
    TOKEN_NOT_EQUALS,    /* != */
    TOKEN_BANG,          /* ! */
    TOKEN_OPEN,          /* ( */
    TOKEN_CLOSE,         /* ) */
    TOKEN_COMPARISON,    /* < or >: Kubernetes' Gt and Lt, which podvm does not take */
} TokenKind;

typedef struct {
    const char *text; /* the whole selector, for messages */
    const char *p;    /* the next character */
    TokenKind kind;
    const char *start; /* of the current token */
    gsize length;
} Lexer;

static gboolean
is_symbol(char c)
{
    return c == ',' || c == '=' || c == '!' || c == '(' || c == ')' || c == '<' || c == '>';
}

static gboolean
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Reads the next token into lexer->kind/start/length. */
static void
lex_next(Lexer *lexer)
{
    const char *p = lexer->p;

    while (is_space(*p))
        p++;
    lexer->start = p;
    if (*p == '\0') {
        lexer->kind = TOKEN_END;
        lexer->length = 0;
        lexer->p = p;
        return;
    }
    if (is_symbol(*p)) {
        lexer->length = 1;
        switch (*p) {
        case ',':
            lexer->kind = TOKEN_COMMA;
            break;
        case '(':
            lexer->kind = TOKEN_OPEN;
            break;
        case ')':
            lexer->kind = TOKEN_CLOSE;
            break;
        case '<':
        case '>':
            lexer->kind = TOKEN_COMPARISON;
            break;
        case '=':
            lexer->kind = p[1] == '=' ? TOKEN_DOUBLE_EQUALS : TOKEN_EQUALS;
            lexer->length = p[1] == '=' ? 2 : 1;
            break;
        default: /* '!' */
            lexer->kind = p[1] == '=' ? TOKEN_NOT_EQUALS : TOKEN_BANG;
            lexer->length = p[1] == '=' ? 2 : 1;
            break;
        }
        lexer->p = p + lexer->length;
        return;
    }
    while (*p != '\0' && !is_space(*p) && !is_symbol(*p))
        p++;
    lexer->kind = TOKEN_IDENTIFIER;
    lexer->length = (gsize)(p - lexer->start);
    lexer->p = p;
}

static gboolean
token_is_word(const Lexer *lexer, const char *word)
{
    return lexer->kind == TOKEN_IDENTIFIER && lexer->length == strlen(word) &&
           memcmp(lexer->start, word, lexer->length) == 0;
}

/* The current token for a message: quoted, or "the end". */
static char *
token_for_message(const Lexer *lexer)
{
    g_autofree char *token = NULL;

    if (lexer->kind == TOKEN_END)
        return g_strdup(_("the end"));
    token = g_strndup(lexer->start, lexer->length);
    return podvm_quote_for_message(token);
}

static gboolean
fail(const Lexer *lexer, GError **error, const char *expected)
{
    g_autofree char *quoted = podvm_quote_for_message(lexer->text);
    g_autofree char *found = token_for_message(lexer);

    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("bad label selector %s: expected %s at character %u, found %s; a selector is "
                  "KEY=VALUE, KEY!=VALUE, KEY in (V1,V2), KEY notin (V1,V2), KEY or !KEY, "
                  "separated by commas"),
                quoted, expected, (guint)(lexer->start - lexer->text) + 1, found);
    return FALSE;
}

/* ---- keys and values ----------------------------------------------------------- */

static gboolean
is_alnum(char c)
{
    return g_ascii_isalnum(c);
}

/* A label name or a non-empty value: 63 at most, [A-Za-z0-9] at both ends, -_. inside. */
static gboolean
name_is_valid(const char *text, gsize length)
{
    if (length == 0 || length > NAME_MAX_LENGTH || !is_alnum(text[0]) ||
        !is_alnum(text[length - 1]))
        return FALSE;
    for (gsize i = 0; i < length; i++) {
        if (!is_alnum(text[i]) && text[i] != '-' && text[i] != '_' && text[i] != '.')
            return FALSE;
    }
    return TRUE;
}

/* A key's prefix: a DNS subdomain (lowercase labels of [a-z0-9-] separated by dots). */
static gboolean
prefix_is_valid(const char *text, gsize length)
{
    gsize label_start = 0;

    if (length == 0 || length > PREFIX_MAX_LENGTH)
        return FALSE;
    for (gsize i = 0; i <= length; i++) {
        if (i == length || text[i] == '.') {
            if (i == label_start || text[label_start] == '-' || text[i - 1] == '-')
                return FALSE;
            label_start = i + 1;
        } else if (!g_ascii_islower(text[i]) && !g_ascii_isdigit(text[i]) && text[i] != '-') {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
key_is_valid(const char *text, gsize length)
{
    const char *slash = memchr(text, '/', length);

    if (slash == NULL)
        return name_is_valid(text, length);
    return prefix_is_valid(text, (gsize)(slash - text)) &&
           name_is_valid(slash + 1, length - (gsize)(slash - text) - 1);
}

/* The current token as a key; FALSE with @error when it is none. */
static gboolean
take_key(Lexer *lexer, char **out_key, GError **error)
{
    if (lexer->kind != TOKEN_IDENTIFIER || !key_is_valid(lexer->start, lexer->length))
        return fail(lexer, error,
                    _("a label key ([PREFIX/]NAME, NAME of letters, digits, '-', '_' and '.')"));
    *out_key = g_strndup(lexer->start, lexer->length);
    lex_next(lexer);
    return TRUE;
}

static gboolean
take_value(Lexer *lexer, GPtrArray *values, GError **error)
{
    if (lexer->kind != TOKEN_IDENTIFIER || !name_is_valid(lexer->start, lexer->length))
        return fail(lexer, error, _("a label value (letters, digits, '-', '_' and '.')"));
    g_ptr_array_add(values, g_strndup(lexer->start, lexer->length));
    lex_next(lexer);
    return TRUE;
}

/* ---- the parser ------------------------------------------------------------------- */

/* After = == !=: a value, or none (KEY= is the empty value) before a comma or the end. */
static gboolean
parse_exact_value(Lexer *lexer, Requirement *requirement, GError **error)
{
    requirement->values = g_ptr_array_new_with_free_func(g_free);
    if (lexer->kind == TOKEN_COMMA || lexer->kind == TOKEN_END) {
        g_ptr_array_add(requirement->values, g_strdup(""));
        return TRUE;
    }
    return take_value(lexer, requirement->values, error);
}

/* After in / notin: "(" VALUE ("," VALUE)* ")". */
static gboolean
parse_set(Lexer *lexer, Requirement *requirement, GError **error)
{
    requirement->values = g_ptr_array_new_with_free_func(g_free);
    if (lexer->kind != TOKEN_OPEN)
        return fail(lexer, error, _("'(' and a list of values"));
    lex_next(lexer);
    for (;;) {
        if (!take_value(lexer, requirement->values, error))
            return FALSE;
        if (lexer->kind == TOKEN_CLOSE)
            break;
        if (lexer->kind != TOKEN_COMMA)
            return fail(lexer, error, _("',' or ')'"));
        lex_next(lexer);
    }
    lex_next(lexer);
    return TRUE;
}

static Requirement *
parse_requirement(Lexer *lexer, GError **error)
{
    g_autoptr(GPtrArray) owner = g_ptr_array_new_with_free_func((GDestroyNotify)requirement_free);
    Requirement *requirement = g_new0(Requirement, 1);

    g_ptr_array_add(owner, requirement);
    if (lexer->kind == TOKEN_BANG) {
        lex_next(lexer);
        requirement->op = OP_NOT_EXISTS;
        if (!take_key(lexer, &requirement->key, error))
            return NULL;
        return g_ptr_array_steal_index(owner, 0);
    }
    if (!take_key(lexer, &requirement->key, error))
        return NULL;
    switch (lexer->kind) {
    case TOKEN_END:
    case TOKEN_COMMA:
        requirement->op = OP_EXISTS;
        break;
    case TOKEN_EQUALS:
    case TOKEN_DOUBLE_EQUALS:
    case TOKEN_NOT_EQUALS:
        requirement->op = lexer->kind == TOKEN_NOT_EQUALS ? OP_NOT_EQUALS : OP_EQUALS;
        lex_next(lexer);
        if (!parse_exact_value(lexer, requirement, error))
            return NULL;
        break;
    case TOKEN_COMPARISON:
        fail(lexer, error, _("=, ==, !=, in or notin (podvm does not compare with < or >)"));
        return NULL;
    default:
        if (token_is_word(lexer, "in") || token_is_word(lexer, "notin")) {
            requirement->op = token_is_word(lexer, "in") ? OP_IN : OP_NOT_IN;
            lex_next(lexer);
            if (!parse_set(lexer, requirement, error))
                return NULL;
            break;
        }
        fail(lexer, error, _("=, ==, !=, in, notin, ',' or the end"));
        return NULL;
    }
    return g_ptr_array_steal_index(owner, 0);
}

gboolean
podvm_label_selector_add(PodvmLabelSelector *selector, const char *text, GError **error)
{
    g_autoptr(GPtrArray) parsed = g_ptr_array_new_with_free_func((GDestroyNotify)requirement_free);
    Lexer lexer = { .text = text, .p = text };

    g_return_val_if_fail(selector != NULL && text != NULL, FALSE);
    lex_next(&lexer);
    if (lexer.kind == TOKEN_END)
        return TRUE; /* "": everything */
    for (;;) {
        Requirement *requirement = parse_requirement(&lexer, error);

        if (requirement == NULL)
            return FALSE;
        g_ptr_array_add(parsed, requirement);
        if (lexer.kind == TOKEN_END)
            break;
        if (lexer.kind != TOKEN_COMMA)
            return fail(&lexer, error, _("',' or the end"));
        lex_next(&lexer);
    }
    while (parsed->len > 0)
        g_ptr_array_add(selector->requirements, g_ptr_array_steal_index(parsed, 0));
    return TRUE;
}

PodvmLabelSelector *
podvm_label_selector_parse(const char *text, GError **error)
{
    g_autoptr(PodvmLabelSelector) selector = podvm_label_selector_new();

    if (!podvm_label_selector_add(selector, text, error))
        return NULL;
    return g_steal_pointer(&selector);
}

char *
podvm_label_selector_to_string(const PodvmLabelSelector *selector)
{
    GString *text = g_string_new(NULL);

    for (guint i = 0; selector != NULL && i < selector->requirements->len; i++) {
        const Requirement *requirement = g_ptr_array_index(selector->requirements, i);

        if (i > 0)
            g_string_append_c(text, ',');
        switch (requirement->op) {
        case OP_EXISTS:
            g_string_append(text, requirement->key);
            break;
        case OP_NOT_EXISTS:
            g_string_append_printf(text, "!%s", requirement->key);
            break;
        case OP_EQUALS:
        case OP_NOT_EQUALS:
            g_string_append_printf(text, "%s%s%s", requirement->key,
                                   requirement->op == OP_EQUALS ? "=" : "!=",
                                   (const char *)g_ptr_array_index(requirement->values, 0));
            break;
        case OP_IN:
        case OP_NOT_IN:
            g_string_append_printf(text, "%s %s (", requirement->key,
                                   requirement->op == OP_IN ? "in" : "notin");
            for (guint j = 0; j < requirement->values->len; j++)
                g_string_append_printf(text, "%s%s", j > 0 ? "," : "",
                                       (const char *)g_ptr_array_index(requirement->values, j));
            g_string_append_c(text, ')');
            break;
        }
    }
    return g_string_free(text, FALSE);
}

/* ---- the matcher ------------------------------------------------------------------ */

/* Looks up @key in the labels: FALSE when it is not there; *out_value NULL for a non-string. */
typedef gboolean (*LabelLookup)(gconstpointer labels, const char *key, const char **out_value);

static gboolean
value_listed(const Requirement *requirement, const char *value)
{
    for (guint i = 0; value != NULL && i < requirement->values->len; i++) {
        if (g_str_equal(g_ptr_array_index(requirement->values, i), value))
            return TRUE;
    }
    return FALSE;
}

static gboolean
matches(const PodvmLabelSelector *selector, LabelLookup lookup, gconstpointer labels)
{
    for (guint i = 0; selector != NULL && i < selector->requirements->len; i++) {
        const Requirement *requirement = g_ptr_array_index(selector->requirements, i);
        const char *value = NULL;
        gboolean has = lookup(labels, requirement->key, &value);
        gboolean ok;

        switch (requirement->op) {
        case OP_EXISTS:
            ok = has;
            break;
        case OP_NOT_EXISTS:
            ok = !has;
            break;
        case OP_EQUALS:
        case OP_IN:
            ok = has && value_listed(requirement, value);
            break;
        default: /* OP_NOT_EQUALS, OP_NOT_IN */
            ok = !has || !value_listed(requirement, value);
            break;
        }
        if (!ok)
            return FALSE;
    }
    return TRUE;
}

static gboolean
lookup_table(gconstpointer labels, const char *key, const char **out_value)
{
    return labels != NULL &&
           g_hash_table_lookup_extended((GHashTable *)labels, key, NULL, (gpointer *)out_value);
}

static gboolean
lookup_json(gconstpointer labels, const char *key, const char **out_value)
{
    JsonNode *node = labels != NULL ? json_object_get_member((JsonObject *)labels, key) : NULL;

    if (node == NULL)
        return FALSE;
    *out_value = JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
                     ? json_node_get_string(node)
                     : NULL;
    return TRUE;
}

gboolean
podvm_label_selector_matches(const PodvmLabelSelector *selector, GHashTable *labels)
{
    return matches(selector, lookup_table, labels);
}

gboolean
podvm_label_selector_matches_json(const PodvmLabelSelector *selector, JsonObject *labels)
{
    return matches(selector, lookup_json, labels);
}
