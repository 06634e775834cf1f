/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <locale.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-quantity.h"

typedef struct {
    const char *text;
    guint64 value;
} GoodCase;

typedef struct {
    const char *text;
    const char *needle; /* a piece the message must contain */
} BadCase;

static void
test_bytes_valid(void)
{
    static const GoodCase cases[] = {
        { "128Mi", G_GUINT64_CONSTANT(134217728) },
        { "1Gi", G_GUINT64_CONSTANT(1073741824) },
        { "1G", G_GUINT64_CONSTANT(1000000000) },
        { "1.5Gi", G_GUINT64_CONSTANT(1610612736) },
        { "1073741824", G_GUINT64_CONSTANT(1073741824) },
        { "0", 0 },
        { "500k", G_GUINT64_CONSTANT(500000) },
        { "1e3", G_GUINT64_CONSTANT(1000) },
        { "1E3", G_GUINT64_CONSTANT(1000) },
        { "1Ki", G_GUINT64_CONSTANT(1024) },
        { "2E", G_GUINT64_CONSTANT(2000000000000000000) },
        { "15Ei", G_GUINT64_CONSTANT(17293822569102704640) },
        { "0.5Ki", G_GUINT64_CONSTANT(512) },
        { ".5Mi", G_GUINT64_CONSTANT(524288) },
        { "1.50000000000000000000000000Gi", G_GUINT64_CONSTANT(1610612736) },
        { "0000128Mi", G_GUINT64_CONSTANT(134217728) },
        { "18446744073709551615", G_MAXUINT64 },
        { "1.25e2", G_GUINT64_CONSTANT(125) },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        guint64 value = 12345;

        g_test_message("%s", cases[i].text);
        g_assert_true(podvm_quantity_parse_bytes(cases[i].text, &value, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(value, ==, cases[i].value);
    }
}

static void
test_bytes_invalid(void)
{
    static const BadCase cases[] = {
        { "", "is empty" },
        { " 1Gi", "spaces" },
        { "1Gi ", "spaces" },
        { "-1Gi", "is negative" },
        { "1.5", "not a whole number of bytes" },
        { "12e-1", "not a whole number of bytes" },
        { "1Zi", "unknown suffix \"Zi\"" },
        { "18446744073709551616", "too large" },
        { "99999999Ei", "too large" },
        { "16Ei", "too large" },
        { "1e30", "too large" },
        { "1GiB", "unknown suffix \"GiB\"" },
        { "0x10", "unknown suffix \"x10\"" },
        { "1m", "unknown suffix \"m\"" },
        { "Gi", "not a valid quantity" },
        { ".", "not a valid quantity" },
        { "1.", "not a valid quantity" },
        { "+1Gi", "not a valid quantity" },
        { "1 Gi", "unknown suffix" },
        { "1e", "unknown suffix" },
        { "1e3Mi", "not a valid quantity" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        guint64 value = 12345;

        g_test_message("%s", cases[i].text);
        g_assert_false(podvm_quantity_parse_bytes(cases[i].text, &value, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, cases[i].needle));
        /* The message quotes the input and says what a valid quantity looks like. */
        g_assert_nonnull(strstr(error->message, "\"512Mi\""));
        g_assert_cmpuint(value, ==, 12345);
    }
}

static void
test_bytes_quoting(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *long_input = g_strnfill(500, '9');
    guint64 value = 0;

    /* Control characters are escaped, long input is cut. */
    g_assert_false(podvm_quantity_parse_bytes("1\x1b[31mGi", &value, &error));
    g_assert_nonnull(strstr(error->message, "\\x1b"));
    g_assert_null(strchr(error->message, '\x1b'));
    g_clear_error(&error);

    g_assert_false(podvm_quantity_parse_bytes(long_input, &value, &error));
    g_assert_nonnull(strstr(error->message, "too large"));
    g_assert_cmpuint(strlen(error->message), <, 300);
}

static void
test_millicpus(void)
{
    static const GoodCase good[] = {
        { "2", 2000 }, { "500m", 500 },  { "1.5", 1500 }, { "0.001", 1 },
        { "0", 0 },    { "1e1", 10000 }, { "250m", 250 }, { "0.5", 500 },
    };
    static const BadCase bad[] = {
        { "0.1m", "not a whole number of millicpus" },
        { "0.0001", "not a whole number of millicpus" },
        { "", "is empty" },
        { "-1", "is negative" },
        { "2k", "unknown suffix" },
        { "1Gi", "unknown suffix" },
        { "99999999999999999999", "too large" },
        { " 2", "spaces" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;
        guint64 value = 12345;

        g_test_message("%s", good[i].text);
        g_assert_true(podvm_quantity_parse_millicpus(good[i].text, &value, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(value, ==, good[i].value);
    }
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        guint64 value = 12345;

        g_test_message("%s", bad[i].text);
        g_assert_false(podvm_quantity_parse_millicpus(bad[i].text, &value, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, bad[i].needle));
        g_assert_nonnull(strstr(error->message, "\"500m\""));
        g_assert_cmpuint(value, ==, 12345);
    }
}

/* For people: exact when short, else one decimal in the largest binary unit. */
static void
test_format_bytes_human(void)
{
    static const struct {
        guint64 bytes;
        const char *text;
    } cases[] = {
        { G_GUINT64_CONSTANT(536870912), "512Mi" },
        { G_GUINT64_CONSTANT(1610612736), "1536Mi" },
        { 1000, "1000" },
        { 0, "0" },
        { G_GUINT64_CONSTANT(1073741824), "1Gi" },
        { G_GUINT64_CONSTANT(1024000000), "976Mi" }, /* 1000000Ki */
        { G_GUINT64_CONSTANT(1000000000), "953Mi" },
        { G_GUINT64_CONSTANT(1503238554), "1.4Gi" },
        { G_GUINT64_CONSTANT(1073741825), "1.0Gi" },
        { G_GUINT64_CONSTANT(4200000), "4.0Mi" },
        { G_GUINT64_CONSTANT(10485759), "9.9Mi" },
        { 12345, "12Ki" },
        { 99999, "97Ki" },
        { G_GUINT64_CONSTANT(1048575), "1023Ki" },
        { G_GUINT64_CONSTANT(1) << 60, "1Ei" },
        { G_MAXUINT64, "15Ei" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = podvm_quantity_format_bytes_human(cases[i].bytes);
        g_assert_cmpstr(text, ==, cases[i].text);
    }
}

static void
test_format_bytes(void)
{
    static const struct {
        guint64 bytes;
        const char *text;
    } cases[] = {
        { G_GUINT64_CONSTANT(134217728), "128Mi" },
        { 1000, "1000" },
        { 1536, "1536" },
        { G_GUINT64_CONSTANT(2147483648), "2Gi" },
        { 0, "0" },
        { 1, "1" },
        { 1024, "1Ki" },
        { 3072, "3Ki" },
        { G_GUINT64_CONSTANT(1610612736), "1536Mi" },
        { G_GUINT64_CONSTANT(1) << 60, "1Ei" },
        { G_MAXUINT64, "18446744073709551615" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = podvm_quantity_format_bytes(cases[i].bytes);
        g_autoptr(GError) error = NULL;
        guint64 back = 0;

        g_assert_cmpstr(text, ==, cases[i].text);
        /* What is written reads back as the same number. */
        g_assert_true(podvm_quantity_parse_bytes(text, &back, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(back, ==, cases[i].bytes);
    }
}

static void
test_format_millicpus(void)
{
    static const struct {
        guint64 millicpus;
        const char *text;
    } cases[] = {
        { 2000, "2" }, { 500, "500m" }, { 1500, "1500m" }, { 1, "1m" }, { 0, "0" },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = podvm_quantity_format_millicpus(cases[i].millicpus);
        guint64 back = 0;

        g_assert_cmpstr(text, ==, cases[i].text);
        g_assert_true(podvm_quantity_parse_millicpus(text, &back, NULL));
        g_assert_cmpuint(back, ==, cases[i].millicpus);
    }
}

static void
test_size_bound(void)
{
    static const char *const too_large[] = { "8Ei", "1Pi", "64Ti1", "70368744177665", "65Ti" };
    guint64 bytes = 0;

    g_assert_true(podvm_quantity_parse_size("64Ti", &bytes, NULL));
    g_assert_cmpuint(bytes, ==, PODVM_QUANTITY_MAX_SIZE);
    g_assert_true(podvm_quantity_parse_size("10Gi", &bytes, NULL));
    g_assert_cmpuint(bytes, ==, G_GUINT64_CONSTANT(10) << 30);
    for (gsize i = 0; i < G_N_ELEMENTS(too_large); i++) {
        g_autoptr(GError) error = NULL;

        bytes = 7;
        g_assert_false(podvm_quantity_parse_size(too_large[i], &bytes, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_cmpuint(bytes, ==, 7);
        g_assert_nonnull(strstr(error->message, "64Ti"));
    }
    {
        g_autoptr(GError) error = NULL;

        /* Bad syntax is still reported as such. */
        g_assert_false(podvm_quantity_parse_size("8Eb", &bytes, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_null(strstr(error->message, "largest"));
    }
    g_assert_true(podvm_quantity_check_size(PODVM_QUANTITY_MAX_SIZE, NULL));
    {
        g_autoptr(GError) error = NULL;

        g_assert_false(podvm_quantity_check_size(G_MAXUINT64, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    }
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/podvm/common/quantity/bytes/valid", test_bytes_valid);
    g_test_add_func("/podvm/common/quantity/bytes/invalid", test_bytes_invalid);
    g_test_add_func("/podvm/common/quantity/bytes/quoting", test_bytes_quoting);
    g_test_add_func("/podvm/common/quantity/bytes/size-bound", test_size_bound);
    g_test_add_func("/podvm/common/quantity/millicpus", test_millicpus);
    g_test_add_func("/podvm/common/quantity/format/bytes", test_format_bytes);
    g_test_add_func("/podvm/common/quantity/format/bytes-human", test_format_bytes_human);
    g_test_add_func("/podvm/common/quantity/format/millicpus", test_format_millicpus);

    return g_test_run();
}
