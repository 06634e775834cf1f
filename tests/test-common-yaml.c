/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * YAML documents as JSON trees (src/common/podvm-yaml.c): what a user
 * writes in a YAML manifest must reach the spec parser as the JSON they
 * meant, and anything JSON cannot say (aliases, odd tags, several
 * documents) must be refused with the line and column to fix.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <math.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-yaml.h"

/* ------------------------------------------------------------------------ */
/* Helpers */

/* Compares two trees strictly (an int is not a double) and names the first difference. */
static gboolean
nodes_equal(JsonNode *a, JsonNode *b, const char *path, GString *why)
{
    if (JSON_NODE_TYPE(a) != JSON_NODE_TYPE(b)) {
        g_string_printf(why, "%s: node types differ (%s, %s)", path, json_node_type_name(a),
                        json_node_type_name(b));
        return FALSE;
    }
    switch (JSON_NODE_TYPE(a)) {
    case JSON_NODE_NULL:
        return TRUE;
    case JSON_NODE_VALUE:
        if (json_node_get_value_type(a) != json_node_get_value_type(b)) {
            g_string_printf(why, "%s: value types differ (%s, %s)", path,
                            g_type_name(json_node_get_value_type(a)),
                            g_type_name(json_node_get_value_type(b)));
            return FALSE;
        }
        if (!json_node_equal(a, b)) {
            g_autofree char *text_a = json_to_string(a, FALSE);
            g_autofree char *text_b = json_to_string(b, FALSE);

            g_string_printf(why, "%s: %s != %s", path, text_a, text_b);
            return FALSE;
        }
        return TRUE;
    case JSON_NODE_ARRAY: {
        JsonArray *array_a = json_node_get_array(a);
        JsonArray *array_b = json_node_get_array(b);

        if (json_array_get_length(array_a) != json_array_get_length(array_b)) {
            g_string_printf(why, "%s: lengths differ (%u, %u)", path,
                            json_array_get_length(array_a), json_array_get_length(array_b));
            return FALSE;
        }
        for (guint i = 0; i < json_array_get_length(array_a); i++) {
            g_autofree char *child = g_strdup_printf("%s[%u]", path, i);

            if (!nodes_equal(json_array_get_element(array_a, i), json_array_get_element(array_b, i),
                             child, why))
                return FALSE;
        }
        return TRUE;
    }
    case JSON_NODE_OBJECT: {
        JsonObject *object_a = json_node_get_object(a);
        JsonObject *object_b = json_node_get_object(b);
        JsonObjectIter iter;
        const char *member;
        JsonNode *child_a;

        if (json_object_get_size(object_a) != json_object_get_size(object_b)) {
            g_string_printf(why, "%s: member counts differ (%u, %u)", path,
                            json_object_get_size(object_a), json_object_get_size(object_b));
            return FALSE;
        }
        json_object_iter_init(&iter, object_a);
        while (json_object_iter_next(&iter, &member, &child_a)) {
            g_autofree char *child = g_strdup_printf("%s.%s", path, member);
            JsonNode *child_b = json_object_get_member(object_b, member);

            if (child_b == NULL) {
                g_string_printf(why, "%s: missing", child);
                return FALSE;
            }
            if (!nodes_equal(child_a, child_b, child, why))
                return FALSE;
        }
        return TRUE;
    }
    default:
        g_string_printf(why, "%s: unexpected node type", path);
        return FALSE;
    }
}

static JsonNode *
json_ok(const char *json)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_data(parser, json, -1, &error);
    g_assert_no_error(error);
    return json_parser_steal_root(parser);
}

static JsonNode *
yaml_ok(const char *yaml)
{
    g_autoptr(GError) error = NULL;
    JsonNode *node = podvm_yaml_to_json(yaml, -1, &error);

    if (error != NULL)
        g_test_message("unexpected error for:\n%s", yaml);
    g_assert_no_error(error);
    g_assert_nonnull(node);
    return node;
}

static void
assert_yaml_is_json(const char *yaml, const char *json)
{
    g_autoptr(JsonNode) got = yaml_ok(yaml);
    g_autoptr(JsonNode) expected = json_ok(json);
    g_autoptr(GString) why = g_string_new(NULL);

    if (!nodes_equal(got, expected, "$", why)) {
        g_autofree char *text = json_to_string(got, TRUE);

        g_test_message("YAML:\n%s\ngave:\n%s", yaml, text);
        g_error("%s", why->str);
    }
}

/* @yaml must fail; the message must start with @prefix and contain @needle. */
static void
assert_yaml_fails(const char *yaml, gssize length, const char *prefix, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = podvm_yaml_to_json(yaml, length, &error);

    g_assert_null(node);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_test_message("%s", error->message);
    if (prefix != NULL && !g_str_has_prefix(error->message, prefix))
        g_error("'%s' does not start with '%s'", error->message, prefix);
    if (needle != NULL && strstr(error->message, needle) == NULL)
        g_error("'%s' does not say '%s'", error->message, needle);
}

/* ------------------------------------------------------------------------ */
/* A KubeVirt manifest */

static const char vmi_yaml[] = "# A VirtualMachineInstance as kubectl users write it.\n"
                               "apiVersion: kubevirt.io/v1\n"
                               "kind: VirtualMachineInstance\n"
                               "metadata:\n"
                               "  name: testvmi-disks\n"
                               "  creationTimestamp: null\n"
                               "  labels:\n"
                               "    special: vmi-disks\n"
                               "    tier: \"1\"\n"
                               "  annotations:\n"
                               "    description: >-\n"
                               "      a VMI with a host disk,\n"
                               "      a cdrom and cloud-init\n"
                               "spec:\n"
                               "  terminationGracePeriodSeconds: 0\n"
                               "  domain:\n"
                               "    cpu:\n"
                               "      cores: 2\n"
                               "    resources:\n"
                               "      requests:\n"
                               "        memory: 128Mi\n"
                               "    firmware:\n"
                               "      kernelBoot:\n"
                               "        kernelPath: /var/lib/podvm/guest/vmlinuz\n"
                               "        kernelArgs: 'console=ttyS0 quiet'\n"
                               "    devices:\n"
                               "      autoattachSerialConsole: true\n"
                               "      rng: {}\n"
                               "      disks:\n"
                               "        - name: rootdisk\n"
                               "          bootOrder: 1\n"
                               "          disk:\n"
                               "            bus: virtio\n"
                               "        - name: cdrom\n"
                               "          cdrom:\n"
                               "            bus: sata\n"
                               "            readonly: true\n"
                               "        - name: cloudinit\n"
                               "          disk: {bus: virtio}\n"
                               "  volumes:\n"
                               "  - name: rootdisk\n"
                               "    hostDisk:\n"
                               "      path: /var/lib/podvm/disks/root.img\n"
                               "      type: DiskOrCreate\n"
                               "      capacity: 1Gi\n"
                               "  - name: cdrom\n"
                               "    persistentVolumeClaim:\n"
                               "      claimName: iso\n"
                               "  - name: cloudinit\n"
                               "    cloudInitNoCloud:\n"
                               "      userData: |\n"
                               "        #cloud-config\n"
                               "        password: \"s3cret\"\n"
                               "        chpasswd: { expire: False }\n"
                               "\n"
                               "        runcmd:\n"
                               "          - echo hello: world\n"
                               "  networks: []\n";

static const char vmi_json[] =
    "{\"apiVersion\": \"kubevirt.io/v1\", \"kind\": \"VirtualMachineInstance\","
    " \"metadata\": {\"name\": \"testvmi-disks\", \"creationTimestamp\": null,"
    "  \"labels\": {\"special\": \"vmi-disks\", \"tier\": \"1\"},"
    "  \"annotations\": {\"description\": \"a VMI with a host disk, a cdrom and cloud-init\"}},"
    " \"spec\": {\"terminationGracePeriodSeconds\": 0,"
    "  \"domain\": {\"cpu\": {\"cores\": 2},"
    "   \"resources\": {\"requests\": {\"memory\": \"128Mi\"}},"
    "   \"firmware\": {\"kernelBoot\": {\"kernelPath\": \"/var/lib/podvm/guest/vmlinuz\","
    "    \"kernelArgs\": \"console=ttyS0 quiet\"}},"
    "   \"devices\": {\"autoattachSerialConsole\": true, \"rng\": {},"
    "    \"disks\": ["
    "     {\"name\": \"rootdisk\", \"bootOrder\": 1, \"disk\": {\"bus\": \"virtio\"}},"
    "     {\"name\": \"cdrom\", \"cdrom\": {\"bus\": \"sata\", \"readonly\": true}},"
    "     {\"name\": \"cloudinit\", \"disk\": {\"bus\": \"virtio\"}}]}},"
    "  \"volumes\": ["
    "   {\"name\": \"rootdisk\", \"hostDisk\": {\"path\": \"/var/lib/podvm/disks/root.img\","
    "    \"type\": \"DiskOrCreate\", \"capacity\": \"1Gi\"}},"
    "   {\"name\": \"cdrom\", \"persistentVolumeClaim\": {\"claimName\": \"iso\"}},"
    "   {\"name\": \"cloudinit\", \"cloudInitNoCloud\": {\"userData\":"
    "    \"#cloud-config\\npassword: \\\"s3cret\\\"\\nchpasswd: { expire: False }\\n\\n"
    "runcmd:\\n  - echo hello: world\\n\"}}],"
    "  \"networks\": []}}";

static void
test_kubevirt_vmi(void)
{
    assert_yaml_is_json(vmi_yaml, vmi_json);
}

/* The same document in JSON is valid YAML 1.2 too, and means the same. */
static void
test_json_is_yaml(void)
{
    assert_yaml_is_json(vmi_json, vmi_json);
}

/* Document markers and comments change nothing. */
static void
test_markers(void)
{
    assert_yaml_is_json("%YAML 1.2\n---\n# comment\na: 1 # trailing\n...\n", "{\"a\": 1}");
    assert_yaml_is_json("--- [1, 2]\n", "[1, 2]");
    assert_yaml_is_json("\xef\xbb\xbf"
                        "a: b\n",
                        "{\"a\": \"b\"}");
    /* A bare scalar document is what it says; the spec parser wants an object. */
    assert_yaml_is_json("hello\n", "\"hello\"");
}

/* ------------------------------------------------------------------------ */
/* Scalars: the YAML 1.2 core schema */

typedef struct {
    const char *yaml; /* the value of "v" */
    const char *json; /* what it must become */
} ScalarCase;

static void
test_scalars(void)
{
    static const ScalarCase cases[] = {
        /* null */
        { "null", "null" },
        { "Null", "null" },
        { "NULL", "null" },
        { "~", "null" },
        { "", "null" },
        { "nULL", "\"nULL\"" },
        /* booleans: only the six core spellings; YAML 1.1's yes/no/on/off are strings */
        { "true", "true" },
        { "True", "true" },
        { "TRUE", "true" },
        { "false", "false" },
        { "False", "false" },
        { "FALSE", "false" },
        { "tRUE", "\"tRUE\"" },
        { "yes", "\"yes\"" },
        { "no", "\"no\"" },
        { "on", "\"on\"" },
        { "off", "\"off\"" },
        { "y", "\"y\"" },
        /* integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
        { "0", "0" },
        { "42", "42" },
        { "-17", "-17" },
        { "+12", "12" },
        /* 1.2's decimal regex matches a leading zero: 08 and 0755 are decimal, not octal */
        { "08", "8" },
        { "0755", "755" },
        { "0o17", "15" },
        { "0x1F", "31" },
        { "0xff", "255" },
        { "9223372036854775807", "9223372036854775807" },
        { "-9223372036854775808", "-9223372036854775808" },
        { "0x7fffffffffffffff", "9223372036854775807" },
        /* not core integers: strings */
        { "0o8", "\"0o8\"" },
        { "0O17", "\"0O17\"" },
        { "0x", "\"0x\"" },
        { "0xg", "\"0xg\"" },
        { "-0x1", "\"-0x1\"" },
        { "+0o7", "\"+0o7\"" },
        { "0b101", "\"0b101\"" },
        { "1_000", "\"1_000\"" },
        { "12:30", "\"12:30\"" },
        /* floats */
        { "1.5", "1.5" },
        { "-0.25", "-0.25" },
        { "+2.0", "2.0" },
        { ".5", "0.5" },
        { "1.", "1.0" },
        { "1e3", "1000.0" },
        { "1E-2", "0.01" },
        { "-.5e+1", "-5.0" },
        { "1e", "\"1e\"" },
        { ".", "\".\"" },
        { "1.2.3", "\"1.2.3\"" },
        { ".e1", "\".e1\"" },
        { "inf", "\"inf\"" },
        { ".Nan", "\".Nan\"" },
        /* everything else is a string */
        { "2024-01-01", "\"2024-01-01\"" },
        { "128Mi", "\"128Mi\"" },
        { "hello world", "\"hello world\"" },
        /* quoted scalars are always strings */
        { "\"true\"", "\"true\"" },
        { "'true'", "\"true\"" },
        { "\"123\"", "\"123\"" },
        { "'null'", "\"null\"" },
        { "''", "\"\"" },
        { "\"a\\tb\\u00e9\"", "\"a\\tb\\u00e9\"" },
        { "'it''s'", "\"it's\"" },
        /* block scalars are strings */
        { "|\n  true\n", "\"true\\n\"" },
        { "|-\n  42\n", "\"42\"" },
        { ">\n  a\n  b\n\n  c\n", "\"a b\\nc\\n\"" },
        /* core tags override what the text looks like */
        { "!!str 123", "\"123\"" },
        { "!!str true", "\"true\"" },
        { "!!str", "\"\"" },
        { "!!int \"42\"", "42" },
        { "!!int 0x10", "16" },
        { "!!float 1", "1.0" },
        { "!!float '2.5'", "2.5" },
        { "!!bool 'false'", "false" },
        { "!!null ''", "null" },
        { "!!map {a: 1}", "{\"a\": 1}" },
        { "!!seq [a]", "[\"a\"]" },
        { "!<tag:yaml.org,2002:str> 7", "\"7\"" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *yaml = g_strdup_printf("v: %s", cases[i].yaml);
        g_autofree char *json = g_strdup_printf("{\"v\": %s}", cases[i].json);

        g_test_message("v: %s", cases[i].yaml);
        assert_yaml_is_json(yaml, json);
    }
}

static void
test_scalars_special_floats(void)
{
    g_autoptr(JsonNode) root = yaml_ok("[.inf, -.Inf, +.INF, .nan, .NaN, .NAN]");
    JsonArray *array = json_node_get_array(root);

    g_assert_cmpuint(json_array_get_length(array), ==, 6);
    for (guint i = 0; i < 6; i++)
        g_assert_cmpint(json_node_get_value_type(json_array_get_element(array, i)), ==,
                        G_TYPE_DOUBLE);
    g_assert_true(isinf(json_array_get_double_element(array, 0)));
    g_assert_cmpfloat(json_array_get_double_element(array, 0), >, 0);
    g_assert_cmpfloat(json_array_get_double_element(array, 1), <, 0);
    g_assert_cmpfloat(json_array_get_double_element(array, 2), >, 0);
    g_assert_true(isinf(json_array_get_double_element(array, 2)));
    for (guint i = 3; i < 6; i++)
        g_assert_true(isnan(json_array_get_double_element(array, i)));
}

/* Keys are the text as written: JSON object keys are strings. */
static void
test_keys(void)
{
    assert_yaml_is_json("1: a\ntrue: b\nnull: c\n\"q\": d\n'': e\n",
                        "{\"1\": \"a\", \"true\": \"b\", \"null\": \"c\", \"q\": \"d\", \"\": "
                        "\"e\"}");
}

/* ------------------------------------------------------------------------ */
/* Refused */

static void
test_scalar_errors(void)
{
    assert_yaml_fails("a: 1\nb: 9223372036854775808\n", -1,
                      "line 2, column 4: ", "out of the 64-bit range");
    assert_yaml_fails("b: -9223372036854775809\n", -1,
                      "line 1, column 4: ", "out of the 64-bit range");
    assert_yaml_fails("b: 0x10000000000000000\n", -1,
                      "line 1, column 4: ", "out of the 64-bit range");
    assert_yaml_fails("b: 0x8000000000000000\n", -1,
                      "line 1, column 4: ", "out of the 64-bit range");
    /* Quoted, the same digits are a fine string. */
    assert_yaml_is_json("b: '9223372036854775808'", "{\"b\": \"9223372036854775808\"}");

    assert_yaml_fails("v: !!int abc\n", -1, "line 1, column 4: ", "\"abc\" is not a valid !!int");
    assert_yaml_fails("v: !!bool yes\n", -1, "line 1, column 4: ", "not a valid !!bool");
    assert_yaml_fails("v: !!null 0\n", -1, "line 1, column 4: ", "not a valid !!null");
    assert_yaml_fails("v: !!float x\n", -1, "line 1, column 4: ", "not a valid !!float");
    assert_yaml_fails("v: !!map x\n", -1, "line 1, column 4: ", "a scalar cannot have the tag");
    assert_yaml_fails("v: !!seq {a: 1}\n", -1,
                      "line 1, column 4: ", "a mapping cannot have the tag !!seq");
    assert_yaml_fails("v: !!str [1]\n", -1,
                      "line 1, column 4: ", "a sequence cannot have the tag !!str");
    assert_yaml_fails("v: \"a\\0b\"\n", -1, "line 1, column 4: ", "NUL");
}

static void
test_unknown_tags(void)
{
    assert_yaml_fails("a: 1\nv: !!binary aGVsbG8=\n", -1,
                      "line 2, column 4: ", "the tag 'tag:yaml.org,2002:binary' is not supported");
    assert_yaml_fails("v: !custom x\n", -1, "line 1, column 4: ", "'!custom' is not supported");
    assert_yaml_fails("v: !!timestamp 2024-01-01\n", -1, "line 1, column 4: ", "not supported");
    assert_yaml_fails("!!set {a}\n", -1, "line 1, column 1: ", "not supported");
    assert_yaml_fails("v: ! x\n", -1, "line 1, column 4: ", "not supported");
}

static void
test_duplicate_keys(void)
{
    assert_yaml_fails("metadata:\n  name: a\nspec:\n  domain: {}\n  volumes: []\n  domain: {}\n",
                      -1, "line 6, column 3: ", "the key \"domain\" is given twice");
    assert_yaml_fails("{a: 1, a: 2}", -1, "line 1, column 8: ", "given twice");
    /* The same key in two different mappings is fine. */
    assert_yaml_is_json("a: {x: 1}\nb: {x: 2}\n", "{\"a\": {\"x\": 1}, \"b\": {\"x\": 2}}");
}

static void
test_aliases(void)
{
    /* The billion laughs: nine lines that would expand to 10^9 strings. */
    static const char laughs[] = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                                 "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                                 "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                                 "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n";

    assert_yaml_fails(laughs, -1,
                      "line 1, column 4: ", "anchor &a: anchors and aliases are not supported");
    assert_yaml_fails("a: 1\nb: *x\n", -1,
                      "line 2, column 4: ", "alias *x: aliases are not supported");
    assert_yaml_fails("base: &base {a: 1}\nother:\n  <<: *base\n", -1,
                      "line 1, column 7: ", "not supported");
    assert_yaml_fails("? *k\n: 1\n", -1, "line 1, column 3: ", "aliases are not supported");
    assert_yaml_fails("&k a: 1\n", -1, "line 1, column 1: ", "anchors and aliases");
}

static void
test_documents(void)
{
    assert_yaml_fails("a: 1\n---\nb: 2\n", -1, "line 2, column 1: ", "a second document");
    assert_yaml_fails("---\na: 1\n...\n---\nb: 2\n", -1, "line 4, column 1: ", "a second document");
    assert_yaml_fails("", -1, "line 1, column 1: ", "the document is empty");
    assert_yaml_fails("# only a comment\n\n", -1, NULL, "the document is empty");
}

static void
test_complex_keys(void)
{
    assert_yaml_fails("? [a, b]\n: 1\n", -1,
                      "line 1, column 3: ", "a mapping key must be a scalar");
    assert_yaml_fails("{a: 1}: 2\n", -1, "line 1, column 1: ", "a mapping key must be a scalar");
}

static char *
nested_mappings(guint levels)
{
    GString *text = g_string_new(NULL);

    for (guint i = 0; i < levels; i++) {
        for (guint j = 0; j < i; j++)
            g_string_append_c(text, ' ');
        g_string_append(text, i + 1 < levels ? "a:\n" : "a: 1\n");
    }
    return g_string_free(text, FALSE);
}

static void
test_depth(void)
{
    /* 32 nested containers, like the JSON path, and not one more. */
    g_autofree char *ok = nested_mappings(32);
    g_autofree char *deep = nested_mappings(33);
    g_autofree char *flow = NULL;
    g_autoptr(JsonNode) root = yaml_ok(ok);
    GString *text = g_string_new("v: ");

    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    assert_yaml_fails(deep, -1, "line 33, column 33: ", "nested deeper than 32 levels");

    /* 100000 brackets: refused at the limit, not by running out of stack. */
    for (guint i = 0; i < 100000; i++)
        g_string_append_c(text, '[');
    flow = g_string_free(text, FALSE);
    assert_yaml_fails(flow, -1, "line 1, column 35: ", "nested deeper than 32 levels");
}

static void
test_size_limit(void)
{
    gsize size = 1024 * 1024 + 1;
    g_autofree char *big = g_malloc(size + 1);

    memset(big, 'a', size);
    big[0] = 'v';
    big[1] = ':';
    big[2] = ' ';
    big[size] = '\0';
    assert_yaml_fails(big, -1, NULL, "at most 1 MiB");
    /* Exactly 1 MiB is fine. */
    big[size - 1] = '\0';
    {
        g_autoptr(JsonNode) root = yaml_ok(big);

        g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    }
}

static void
test_syntax_errors(void)
{
    assert_yaml_fails("a: b: c\n", -1, "line 1, column 5: ", "mapping values are not allowed");
    assert_yaml_fails("a: 1\nb: [1, 2\nc: 3\n", -1,
                      "line 3, column 2: ", "flow sequence at line 2, column 4");
    assert_yaml_fails("a:\n  - 1\n - 2\n", -1, "line 3, column 2: ", NULL);
    assert_yaml_fails("a: \"unterminated\n", -1, "line 2, column 1: ", "quoted scalar");
    assert_yaml_fails("a:\n\tb: 1\n", -1, "line 2, column 1: ", "tab");
    /* Not UTF-8, NUL bytes and control characters name the place too. */
    assert_yaml_fails("a: 1\nb: \xff\n", -1, "line 2, column 4: ", "not UTF-8");
    assert_yaml_fails("a: 1\nb: x\0y\n", 11, "line 2, column 5: ", "NUL byte");
    assert_yaml_fails("a: 1\nbé: x\x01y\n", -1, "line 2, column 6: ", "control characters");
}

static void
test_is_yaml(void)
{
    g_assert_false(podvm_document_is_yaml("{\"a\": 1}", -1));
    g_assert_false(podvm_document_is_yaml("  \n\t [1]", -1));
    g_assert_false(podvm_document_is_yaml("\r\n{", -1));
    g_assert_true(podvm_document_is_yaml("a: 1\n", -1));
    g_assert_true(podvm_document_is_yaml("---\n{a: 1}\n", -1));
    g_assert_true(podvm_document_is_yaml("# {\n{a: 1}\n", -1));
    g_assert_true(podvm_document_is_yaml("  apiVersion: v1", -1));
    g_assert_true(podvm_document_is_yaml("", -1));
    /* Only @length bytes count. */
    g_assert_true(podvm_document_is_yaml("  {", 2));
    g_assert_false(podvm_document_is_yaml("  {", 3));
}

/* ------------------------------------------------------------------------ */
/* Writing (podvmctl -o yaml) */

/* @json written as YAML reads back as the same tree; returns the YAML. */
static char *
assert_round_trip(const char *json)
{
    g_autoptr(JsonNode) tree = json_ok(json);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) back = NULL;
    g_autoptr(GString) why = g_string_new(NULL);
    char *yaml = podvm_json_to_yaml(tree, &error);

    g_assert_no_error(error);
    g_assert_nonnull(yaml);
    g_assert_true(g_str_has_suffix(yaml, "\n"));
    back = yaml_ok(yaml);
    if (!nodes_equal(back, tree, "$", why))
        g_error("%s\nYAML:\n%s", why->str, yaml);
    return yaml;
}

static void
test_write(void)
{
    g_autofree char *pod = assert_round_trip(
        "{\"apiVersion\": \"kubevirt.io/v1\", \"kind\": \"VirtualMachineInstance\", "
        "\"metadata\": {\"name\": \"web\", \"labels\": {\"app\": \"web\", \"on\": \"yes\"}}, "
        "\"spec\": {\"domain\": {\"cpu\": {\"cores\": 2}, \"devices\": {\"disks\": []}, "
        "\"resources\": {\"requests\": {\"memory\": \"1Gi\"}}}, \"volumes\": [{\"name\": "
        "\"root\"}, {\"name\": \"data\", \"emptyDisk\": {\"capacity\": \"2Gi\"}}]}, "
        "\"status\": {\"phase\": \"Running\", \"podIP\": null, \"ready\": true, \"mbps\": 12.5, "
        "\"ratio\": 2.0, \"conditions\": {}}}");
    g_autofree char *scalars = assert_round_trip(
        "[\"true\", \"false\", \"null\", \"~\", \"\", \"1\", \"-2\", \"0x1f\", \"0o7\", \"1.5\", "
        "\".5\", \"1e3\", \".inf\", \".nan\", \"yes\", \"No\", \"on\", \"OFF\", \"y\", \"0755\", "
        "\"1_000\", \"1:20\", \"- a\", \"a: b\", \"# c\", \"key: value # x\", \"line\\nbreak\", "
        "\"tab\\there\", \"é ü 漢\", \"'single'\", \"\\\"double\\\"\", \"@at\", \"`tick\", "
        "\"[x]\", \"{y}\", \"*alias\", \"&anchor\", \"!tag\", \"%pct\", \"|\", \">\", "
        "\"trailing \", \" leading\", \"\\u0001ctl\", 0, -7, 9223372036854775807, 0.1, -1.25e-7, "
        "1e300, true, false, null, [], {}, [[1, [2]], {\"a\": {\"b\": [null]}}]]");

    /* Block style as kubectl writes it: no markers, two-space indent, flow only when empty. */
    g_assert_true(g_str_has_prefix(pod, "apiVersion: kubevirt.io/v1\n"
                                        "kind: VirtualMachineInstance\n"
                                        "metadata:\n"
                                        "  name: web\n"
                                        "  labels:\n"
                                        "    app: web\n"
                                        "    \"on\": \"yes\"\n"));
    g_assert_nonnull(strstr(pod, "\n      disks: []\n"));
    g_assert_nonnull(strstr(pod, "\n  volumes:\n  - name: root\n  - name: data\n"));
    g_assert_nonnull(strstr(pod, "\n  podIP: null\n"));
    g_assert_nonnull(strstr(pod, "\n  ratio: 2.0\n"));
    g_assert_nonnull(strstr(pod, "\n  conditions: {}\n"));
    g_assert_null(strstr(pod, "---"));
    g_assert_nonnull(strstr(scalars, "- \"true\"\n"));
    g_assert_nonnull(strstr(scalars, "- \"0755\"\n"));
    g_assert_nonnull(strstr(scalars, "- true\n"));
    g_assert_nonnull(strstr(scalars, "- 9223372036854775807\n"));
}

static void
test_write_scalar_documents(void)
{
    g_autofree char *text = assert_round_trip("\"plain\"");
    g_autofree char *number = assert_round_trip("42");
    g_autofree char *empty_list = assert_round_trip("[]");

    g_assert_cmpstr(text, ==, "plain\n");
    g_assert_cmpstr(number, ==, "42\n");
    g_assert_cmpstr(empty_list, ==, "[]\n");
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/common/yaml/kubevirt-vmi", test_kubevirt_vmi);
    g_test_add_func("/podvm/common/yaml/json-is-yaml", test_json_is_yaml);
    g_test_add_func("/podvm/common/yaml/markers", test_markers);
    g_test_add_func("/podvm/common/yaml/scalars", test_scalars);
    g_test_add_func("/podvm/common/yaml/scalars/special-floats", test_scalars_special_floats);
    g_test_add_func("/podvm/common/yaml/keys", test_keys);
    g_test_add_func("/podvm/common/yaml/refused/scalars", test_scalar_errors);
    g_test_add_func("/podvm/common/yaml/refused/tags", test_unknown_tags);
    g_test_add_func("/podvm/common/yaml/refused/duplicate-keys", test_duplicate_keys);
    g_test_add_func("/podvm/common/yaml/refused/aliases", test_aliases);
    g_test_add_func("/podvm/common/yaml/refused/documents", test_documents);
    g_test_add_func("/podvm/common/yaml/refused/complex-keys", test_complex_keys);
    g_test_add_func("/podvm/common/yaml/refused/depth", test_depth);
    g_test_add_func("/podvm/common/yaml/refused/size", test_size_limit);
    g_test_add_func("/podvm/common/yaml/refused/syntax", test_syntax_errors);
    g_test_add_func("/podvm/common/yaml/is-yaml", test_is_yaml);
    g_test_add_func("/podvm/common/yaml/write/pod", test_write);
    g_test_add_func("/podvm/common/yaml/write/scalar-documents", test_write_scalar_documents);

    return g_test_run();
}
