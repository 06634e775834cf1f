/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Inputs the spec fuzzer found (tests/fuzz/regressions/fuzz-spec),
 * replayed in the ordinary suite: each is refused with a message that is
 * valid UTF-8, and the cases behind them are named here.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-spec.h"

static void
assert_refused(const char *document, const char *message_part)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmSpec) spec = podvm_spec_parse_data(document, -1, NULL, &error);

    g_assert_null(spec);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_SPEC);
    g_assert_true(g_utf8_validate(error->message, -1, NULL));
    if (message_part != NULL)
        g_assert_nonnull(strstr(error->message, message_part));
}

#define POD_HEAD \
    "{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"}, "

static void
test_leading_zero(void)
{
    /* json-glib would read 010 as octal 8. */
    assert_refused(POD_HEAD "\"spec\": {\"domain\": {\"cpu\": {\"cores\": 010}}}}", "0");
}

static void
test_second_document(void)
{
    /* json-glib would take the first and drop (and leak) the second. */
    assert_refused(POD_HEAD "\"spec\": {}} {\"x\": 1}", NULL);
    assert_refused("\"x\" {\"apiVersion\": \"podvm.io/v1\"}", NULL);
}

static void
test_unpaired_surrogate(void)
{
    /* Would be stored as bytes that are not UTF-8. */
    assert_refused(POD_HEAD "\"spec\": {}, \"x\\udc00y\": 1}", "surrogate");
    assert_refused(POD_HEAD "\"spec\": {\"hostname\": \"\\ud800\\ud800\"}}", "surrogate");
}

static void
test_files(gconstpointer data)
{
    const char *target = data;
    g_autofree char *dir_path =
        g_test_build_filename(G_TEST_DIST, "fuzz", "regressions", target, NULL);
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
    const char *name;
    guint count = 0;

    if (dir == NULL) {
        g_test_skip_printf("no reproducers in %s", dir_path);
        return;
    }
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = g_build_filename(dir_path, name, NULL);
        g_autofree char *data_in = NULL;
        g_autoptr(GError) error = NULL;
        gsize length = 0;

        g_assert_true(g_file_get_contents(path, &data_in, &length, NULL));
        {
            g_autoptr(PodvmSpec) spec =
                podvm_spec_parse_data(data_in, (gssize)length, NULL, &error);
            if (spec == NULL)
                g_assert_true(g_utf8_validate(error->message, -1, NULL));
        }
        count++;
    }
    g_test_message("%u reproducers of %s", count, target);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/podvm/common/fuzz-regressions/leading-zero", test_leading_zero);
    g_test_add_func("/podvm/common/fuzz-regressions/second-document", test_second_document);
    g_test_add_func("/podvm/common/fuzz-regressions/unpaired-surrogate", test_unpaired_surrogate);
    g_test_add_data_func("/podvm/common/fuzz-regressions/files/spec", "fuzz-spec", test_files);
    return g_test_run();
}
