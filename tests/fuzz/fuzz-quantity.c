/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the quantity parsers and formatters.
 *
 * The input, cut at its first NUL byte, is parsed as bytes and as millicpus.
 * What parses must format and parse back to the same value. Two relations
 * tie the parsers together: for plain decimals ("1.25"), TEXT "m" as
 * millicpus and TEXT as bytes are the same exact number, so both fail or
 * both give the same value; and a byte suffix scales a plain decimal
 * exactly. The first 8 bytes, read as a number, must also format and parse
 * back.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-quantity.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *suffix;
    guint64 factor;
} byte_suffixes[] = {
    { "Ki", G_GUINT64_CONSTANT(1) << 10 },
    { "Mi", G_GUINT64_CONSTANT(1) << 20 },
    { "Gi", G_GUINT64_CONSTANT(1) << 30 },
    { "Ti", G_GUINT64_CONSTANT(1) << 40 },
    { "Pi", G_GUINT64_CONSTANT(1) << 50 },
    { "Ei", G_GUINT64_CONSTANT(1) << 60 },
    { "k", G_GUINT64_CONSTANT(1000) },
    { "M", G_GUINT64_CONSTANT(1000000) },
    { "G", G_GUINT64_CONSTANT(1000000000) },
    { "T", G_GUINT64_CONSTANT(1000000000000) },
    { "P", G_GUINT64_CONSTANT(1000000000000000) },
    { "E", G_GUINT64_CONSTANT(1000000000000000000) },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

static void
check_error(const GError *error)
{
    PODVM_FUZZ_CHECK(error != NULL);
    PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
    PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
}

static void
check_bytes_round_trip(guint64 bytes)
{
    g_autofree char *text = podvm_quantity_format_bytes(bytes);
    g_autoptr(GError) error = NULL;
    guint64 again = 0;

    if (!podvm_quantity_parse_bytes(text, &again, &error))
        PODVM_FUZZ_FAIL("%" G_GUINT64_FORMAT " formats as '%s', which does not parse: %s", bytes,
                        text, error->message);
    if (again != bytes)
        PODVM_FUZZ_FAIL("%" G_GUINT64_FORMAT " formats as '%s', which parses as %" G_GUINT64_FORMAT,
                        bytes, text, again);
}

static void
check_millicpus_round_trip(guint64 millicpus)
{
    g_autofree char *text = podvm_quantity_format_millicpus(millicpus);
    g_autoptr(GError) error = NULL;
    guint64 again = 0;

    if (!podvm_quantity_parse_millicpus(text, &again, &error))
        PODVM_FUZZ_FAIL("%" G_GUINT64_FORMAT "m formats as '%s', which does not parse: %s",
                        millicpus, text, error->message);
    if (again != millicpus)
        PODVM_FUZZ_FAIL("%" G_GUINT64_FORMAT
                        "m formats as '%s', which parses as %" G_GUINT64_FORMAT,
                        millicpus, text, again);
}

/* Digits with at most one '.', nothing else. */
static gboolean
is_plain_decimal(const char *text)
{
    gboolean dot = FALSE;

    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '.' && !dot)
            dot = TRUE;
        else if (!g_ascii_isdigit(*p))
            return FALSE;
    }
    return TRUE;
}

static void
check_relations(const char *text, gboolean bytes_ok, guint64 bytes)
{
    g_autofree char *with_m = g_strconcat(text, "m", NULL);
    g_autoptr(GError) error = NULL;
    guint64 millicpus = 0;
    gboolean millicpus_ok = podvm_quantity_parse_millicpus(with_m, &millicpus, &error);

    if (millicpus_ok != bytes_ok || (bytes_ok && millicpus != bytes))
        PODVM_FUZZ_FAIL("'%s' as bytes (%s %" G_GUINT64_FORMAT
                        ") and '%s' as millicpus (%s %" G_GUINT64_FORMAT ") disagree",
                        text, bytes_ok ? "ok" : "error", bytes, with_m,
                        millicpus_ok ? "ok" : "error", millicpus);
    if (!bytes_ok)
        return;
    for (gsize i = 0; i < G_N_ELEMENTS(byte_suffixes); i++) {
        g_autofree char *scaled_text = g_strconcat(text, byte_suffixes[i].suffix, NULL);
        g_autoptr(GError) scaled_error = NULL;
        guint64 scaled = 0;

        if (bytes > G_MAXUINT64 / byte_suffixes[i].factor)
            continue;
        if (!podvm_quantity_parse_bytes(scaled_text, &scaled, &scaled_error))
            PODVM_FUZZ_FAIL("'%s' is %" G_GUINT64_FORMAT " bytes but '%s' does not parse: %s", text,
                            bytes, scaled_text, scaled_error->message);
        if (scaled != bytes * byte_suffixes[i].factor)
            PODVM_FUZZ_FAIL("'%s' is %" G_GUINT64_FORMAT " bytes but '%s' is %" G_GUINT64_FORMAT,
                            text, bytes, scaled_text, scaled);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = podvm_fuzz_strndup(data, size);
    g_autoptr(GError) bytes_error = NULL;
    g_autoptr(GError) millicpus_error = NULL;
    guint64 bytes = G_MAXUINT64, millicpus = G_MAXUINT64;
    gboolean bytes_ok, millicpus_ok;
    guint64 raw = 0;

    bytes_ok = podvm_quantity_parse_bytes(text, &bytes, &bytes_error);
    if (bytes_ok) {
        PODVM_FUZZ_CHECK(bytes_error == NULL);
        check_bytes_round_trip(bytes);
    } else {
        check_error(bytes_error);
        /* Out-parameters are left untouched on failure. */
        PODVM_FUZZ_CHECK(bytes == G_MAXUINT64);
    }

    millicpus_ok = podvm_quantity_parse_millicpus(text, &millicpus, &millicpus_error);
    if (millicpus_ok) {
        PODVM_FUZZ_CHECK(millicpus_error == NULL);
        check_millicpus_round_trip(millicpus);
    } else {
        check_error(millicpus_error);
        PODVM_FUZZ_CHECK(millicpus == G_MAXUINT64);
    }

    if (is_plain_decimal(text))
        check_relations(text, bytes_ok, bytes_ok ? bytes : 0);

    memcpy(&raw, data, MIN(size, sizeof(raw)));
    check_bytes_round_trip(raw);
    check_millicpus_round_trip(raw);
    return 0;
}
