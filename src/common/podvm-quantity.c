/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-quantity.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "podvm-error.h"

/* Longest input quoted back in a message; the rest becomes "…". */

/* 5^27 is the largest power of five that fits in a guint64. */
#define MAX_POW5 27

typedef enum {
    UNIT_BYTES,
    UNIT_MILLICPUS,
} Unit;

typedef struct {
    const char *suffix;
    gint pow10; /* decimal exponent of the suffix */
    guint pow2; /* binary exponent of the suffix */
} Suffix;

static const Suffix byte_suffixes[] = {
    { "", 0, 0 },    { "Ki", 0, 10 }, { "Mi", 0, 20 }, { "Gi", 0, 30 }, { "Ti", 0, 40 },
    { "Pi", 0, 50 }, { "Ei", 0, 60 }, { "k", 3, 0 },   { "M", 6, 0 },   { "G", 9, 0 },
    { "T", 12, 0 },  { "P", 15, 0 },  { "E", 18, 0 },
};

static const Suffix cpu_suffixes[] = {
    { "", 0, 0 },
    { "m", -3, 0 },
};

static void
set_error(Unit unit, const char *text, GError **error, const char *problem)
{
    g_autofree char *quoted = podvm_quote_for_message(text);
    const char *hint;

    if (unit == UNIT_BYTES)
        hint = _("use a whole number of bytes or a number with a suffix "
                 "(Ki, Mi, Gi, Ti, Pi, Ei or k, M, G, T, P, E), for example \"512Mi\" or \"1G\"");
    else
        hint = _("use a number of CPUs (\"2\", \"1.5\") or of millicpus (\"500m\")");

    /* TRANSLATORS: "\"1GiB\" has an unknown suffix: use a whole number of bytes..." */
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, _("%s %s: %s"), quoted, problem,
                hint);
}

static gboolean
mul_u64(guint64 a, guint64 b, guint64 *out)
{
    if (a != 0 && b > G_MAXUINT64 / a)
        return FALSE;
    *out = a * b;
    return TRUE;
}

static guint64
pow5(guint n)
{
    guint64 r = 1;

    while (n-- > 0)
        r *= 5;
    return r;
}

typedef enum {
    SCALE_OK,
    SCALE_OVERFLOW,
    SCALE_FRACTION,
} ScaleResult;

/*
 * value = mantissa * 10^pow10 * 2^pow2, exactly, as 5^pow10 * 2^(pow10 + pow2):
 * only whole results that fit in a guint64 succeed.
 */
static ScaleResult
scale_exact(guint64 mantissa, gint pow10, gint pow2, guint64 *out)
{
    guint64 value = mantissa;
    gint shift = pow10 + pow2;

    if (value == 0) {
        *out = 0;
        return SCALE_OK;
    }

    if (pow10 > MAX_POW5)
        return SCALE_OVERFLOW;
    if (pow10 < -MAX_POW5)
        return SCALE_FRACTION;
    if (pow10 >= 0) {
        if (!mul_u64(value, pow5((guint)pow10), &value))
            return SCALE_OVERFLOW;
    } else {
        guint64 divisor = pow5((guint)-pow10);

        if (value % divisor != 0)
            return SCALE_FRACTION;
        value /= divisor;
    }

    if (shift >= 0) {
        if (shift >= 64 || value > (G_MAXUINT64 >> shift))
            return SCALE_OVERFLOW;
        value <<= shift;
    } else {
        if (-shift >= 64 || (value & ((G_GUINT64_CONSTANT(1) << -shift) - 1)) != 0)
            return SCALE_FRACTION;
        value >>= -shift;
    }
    *out = value;
    return SCALE_OK;
}

static gboolean
parse_quantity(const char *text, Unit unit, guint64 *out_value, GError **error)
{
    const Suffix *suffixes = unit == UNIT_BYTES ? byte_suffixes : cpu_suffixes;
    gsize n_suffixes =
        unit == UNIT_BYTES ? G_N_ELEMENTS(byte_suffixes) : G_N_ELEMENTS(cpu_suffixes);
    g_autoptr(GString) digits = g_string_new(NULL);
    const Suffix *suffix = NULL;
    const char *p = text;
    gboolean any_digit = FALSE;
    gint pow10 = 0;
    guint64 mantissa = 0;
    guint64 value = 0;
    ScaleResult result;
    gsize i;

    g_return_val_if_fail(text != NULL, FALSE);

    if (*text == '\0') {
        set_error(unit, text, error, _("is empty"));
        return FALSE;
    }
    if (*text == '-') {
        set_error(unit, text, error, _("is negative"));
        return FALSE;
    }
    if (g_ascii_isspace(*text) || g_ascii_isspace(text[strlen(text) - 1])) {
        set_error(unit, text, error, _("has spaces around it"));
        return FALSE;
    }

    /* Mantissa: digits, optionally a '.' and more digits. */
    for (; g_ascii_isdigit(*p); p++) {
        g_string_append_c(digits, *p);
        any_digit = TRUE;
    }
    if (*p == '.') {
        p++;
        if (!g_ascii_isdigit(*p)) {
            set_error(unit, text, error, _("is not a valid quantity"));
            return FALSE;
        }
        for (; g_ascii_isdigit(*p); p++) {
            g_string_append_c(digits, *p);
            pow10--;
            any_digit = TRUE;
        }
    }
    if (!any_digit) {
        set_error(unit, text, error, _("is not a valid quantity"));
        return FALSE;
    }

    /* Exponent form ("1e3"), told apart from the "E" (exa) suffix by its digits. */
    if ((*p == 'e' || *p == 'E') &&
        (g_ascii_isdigit(p[1]) || ((p[1] == '+' || p[1] == '-') && g_ascii_isdigit(p[2])))) {
        gboolean negative = FALSE;
        gint exponent = 0;

        p++;
        if (*p == '+' || *p == '-')
            negative = *p++ == '-';
        for (; g_ascii_isdigit(*p); p++) {
            /* Anything past this bound overflows or is fractional anyway. */
            if (exponent < 1000)
                exponent = exponent * 10 + (*p - '0');
        }
        if (*p != '\0') {
            set_error(unit, text, error, _("is not a valid quantity"));
            return FALSE;
        }
        pow10 += negative ? -exponent : exponent;
        suffix = &suffixes[0];
    } else {
        for (i = 0; i < n_suffixes; i++) {
            if (strcmp(p, suffixes[i].suffix) == 0) {
                suffix = &suffixes[i];
                break;
            }
        }
        if (suffix == NULL) {
            g_autofree char *quoted = podvm_quote_for_message(p);
            g_autofree char *problem = g_strdup_printf(_("has an unknown suffix %s"), quoted);

            set_error(unit, text, error, problem);
            return FALSE;
        }
    }

    /* Trailing zeros move into the exponent, leading zeros go: "1.50000" is 15e-1. */
    while (digits->len > 1 && digits->str[digits->len - 1] == '0') {
        g_string_truncate(digits, digits->len - 1);
        pow10++;
    }
    while (digits->len > 1 && digits->str[0] == '0')
        g_string_erase(digits, 0, 1);
    if (strcmp(digits->str, "0") == 0) {
        *out_value = 0;
        return TRUE;
    }
    if (!g_ascii_string_to_unsigned(digits->str, 10, 0, G_MAXUINT64, &mantissa, NULL)) {
        set_error(unit, text, error, _("is too large"));
        return FALSE;
    }

    pow10 += suffix->pow10 + (unit == UNIT_MILLICPUS ? 3 : 0);
    result = scale_exact(mantissa, pow10, (gint)suffix->pow2, &value);
    if (result == SCALE_OVERFLOW) {
        set_error(unit, text, error, _("is too large"));
        return FALSE;
    }
    if (result == SCALE_FRACTION) {
        set_error(unit, text, error,
                  unit == UNIT_BYTES ? _("is not a whole number of bytes")
                                     : _("is not a whole number of millicpus"));
        return FALSE;
    }
    *out_value = value;
    return TRUE;
}

gboolean
podvm_quantity_parse_bytes(const char *text, guint64 *out_bytes, GError **error)
{
    guint64 value = 0;

    g_return_val_if_fail(text != NULL, FALSE);
    g_return_val_if_fail(out_bytes != NULL, FALSE);

    if (!parse_quantity(text, UNIT_BYTES, &value, error))
        return FALSE;
    *out_bytes = value;
    return TRUE;
}

gboolean
podvm_quantity_check_size(guint64 bytes, GError **error)
{
    g_autofree char *text = NULL;
    g_autofree char *limit = NULL;

    if (bytes <= PODVM_QUANTITY_MAX_SIZE)
        return TRUE;
    text = podvm_quantity_format_bytes(bytes);
    limit = podvm_quantity_format_bytes(PODVM_QUANTITY_MAX_SIZE);
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                _("%s bytes is more than %s, the largest size podvm accepts"), text, limit);
    return FALSE;
}

gboolean
podvm_quantity_parse_size(const char *text, guint64 *out_bytes, GError **error)
{
    g_autofree char *quoted = NULL;
    g_autofree char *limit = NULL;
    guint64 value = 0;

    g_return_val_if_fail(text != NULL, FALSE);
    g_return_val_if_fail(out_bytes != NULL, FALSE);

    if (!parse_quantity(text, UNIT_BYTES, &value, error))
        return FALSE;
    if (value > PODVM_QUANTITY_MAX_SIZE) {
        quoted = podvm_quote_for_message(text);
        limit = podvm_quantity_format_bytes(PODVM_QUANTITY_MAX_SIZE);
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("%s is more than %s, the largest size podvm accepts"), quoted, limit);
        return FALSE;
    }
    *out_bytes = value;
    return TRUE;
}

gboolean
podvm_quantity_parse_millicpus(const char *text, guint64 *out_millicpus, GError **error)
{
    guint64 value = 0;

    g_return_val_if_fail(text != NULL, FALSE);
    g_return_val_if_fail(out_millicpus != NULL, FALSE);

    if (!parse_quantity(text, UNIT_MILLICPUS, &value, error))
        return FALSE;
    *out_millicpus = value;
    return TRUE;
}

char *
podvm_quantity_format_bytes(guint64 bytes)
{
    static const char *const units[] = { "Ei", "Pi", "Ti", "Gi", "Mi", "Ki" };
    gsize i;

    if (bytes == 0)
        return g_strdup("0");
    for (i = 0; i < G_N_ELEMENTS(units); i++) {
        guint shift = 60 - 10 * (guint)i;
        guint64 unit = G_GUINT64_CONSTANT(1) << shift;

        if (bytes % unit == 0)
            return g_strdup_printf("%" G_GUINT64_FORMAT "%s", bytes >> shift, units[i]);
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT, bytes);
}

char *
podvm_quantity_format_bytes_human(guint64 bytes)
{
    static const char *const units[] = { "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    g_autofree char *exact = podvm_quantity_format_bytes(bytes);
    guint shift = 10;
    guint64 whole;
    guint64 tenths;

    /* "1536Mi" reads well; "1000000Ki" or "12345678" does not. */
    if (strspn(exact, "0123456789") <= 4)
        return g_steal_pointer(&exact);
    /* The largest unit with a whole part of at least 1; rounded down, never more than there is. */
    while (shift < 60 && (bytes >> (shift + 10)) != 0)
        shift += 10;
    whole = bytes >> shift;
    if (whole >= 10)
        return g_strdup_printf("%" G_GUINT64_FORMAT "%s", whole, units[shift / 10 - 1]);
    tenths = ((bytes & ((G_GUINT64_CONSTANT(1) << shift) - 1)) * 10) >> shift;
    return g_strdup_printf("%" G_GUINT64_FORMAT ".%" G_GUINT64_FORMAT "%s", whole, tenths,
                           units[shift / 10 - 1]);
}

char *
podvm_quantity_format_millicpus(guint64 millicpus)
{
    if (millicpus % 1000 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT, millicpus / 1000);
    return g_strdup_printf("%" G_GUINT64_FORMAT "m", millicpus);
}
