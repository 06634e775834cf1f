/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

/*
 * Shared by the libFuzzer targets. A broken invariant aborts with a message,
 * so libFuzzer records the input as a crash; unlike g_assert() this does not
 * depend on G_DISABLE_ASSERT.
 */
#define PODVM_FUZZ_CHECK(expr)                          \
    do {                                                \
        if (G_UNLIKELY(!(expr)))                        \
            PODVM_FUZZ_FAIL("check failed: %s", #expr); \
    } while (0)

#define PODVM_FUZZ_FAIL(...) podvm_fuzz_fail(__FILE__, __LINE__, __VA_ARGS__)

G_GNUC_NORETURN void podvm_fuzz_fail(const char *file, int line, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

/*
 * Call from LLVMFuzzerInitialize(). Installs a log writer that drops
 * messages (after they have been formatted, so the formatting is
 * exercised) and aborts on warnings and criticals: a g_return_if_fail()
 * or g_warn_if_fail() reached from input is a bug. With @debug, debug
 * messages are formatted too (G_MESSAGES_DEBUG=all), as with --verbose.
 * PODVM_FUZZ_VERBOSE=1 in the environment prints every message.
 */
void podvm_fuzz_init(gboolean debug);

/* The input as a NUL-terminated string (cut at its first NUL byte). */
char *podvm_fuzz_strndup(const uint8_t *data, size_t size);

/* FNV-1a over the input: a seed that is a pure function of the input. */
guint32 podvm_fuzz_hash(const uint8_t *data, size_t size);

/* xorshift32 on *state (never 0). */
guint32 podvm_fuzz_next(guint32 *state);

/*
 * Whether @data is exactly one JSON value as RFC 8259 defines it (with
 * optional white space around it), nested at most @max_depth deep: an
 * oracle independent of json-glib, which also takes comments,
 * single-quoted strings and more than one value.
 */
gboolean podvm_fuzz_json_is_strict(const char *data, gsize length, guint max_depth);

G_END_DECLS
