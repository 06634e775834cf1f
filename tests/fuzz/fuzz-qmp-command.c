/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the QMP passthrough's command parser,
 * podvm_qmp_command_parse(), which reads what POST /v1/pods/NAME/qmp and
 * D-Bus Pod.Qmp are given. A refusal is PODVM_ERROR_INVALID_ARGUMENT with a
 * UTF-8 message; what is accepted is strict JSON, and the command QEMU
 * would be sent is strict JSON with no raw control character.
 */
#include <string.h>

#include "podvm-error.h"
#include "podvm-fuzz-util.h"
#include "podvm-json.h"
#include "podvm-pod.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(FALSE);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) command = NULL;
    g_autofree char *text = NULL;

    command = podvm_qmp_command_parse(size > 0 ? (const char *)data : "", (gssize)size, &error);
    if (command == NULL) {
        PODVM_FUZZ_CHECK(g_error_matches(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT));
        PODVM_FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        return 0;
    }
    PODVM_FUZZ_CHECK(error == NULL);
    if (!podvm_fuzz_json_is_strict((const char *)data, size, PODVM_JSON_MAX_DEPTH))
        PODVM_FUZZ_FAIL("a command that is not strict JSON was accepted");
    text = podvm_json_to_string(command, FALSE);
    PODVM_FUZZ_CHECK(g_utf8_validate(text, -1, NULL));
    if (!podvm_fuzz_json_is_strict(text, strlen(text), PODVM_JSON_MAX_DEPTH))
        PODVM_FUZZ_FAIL("the command's text is not strict JSON:\n%s", text);
    for (const char *p = text; *p != '\0'; p++)
        PODVM_FUZZ_CHECK((guchar)*p >= 0x20 && (guchar)*p != 0x7f);
    return 0;
}
