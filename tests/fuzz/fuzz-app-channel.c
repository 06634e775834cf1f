/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the app guest's channel on the host: the line codec
 * (guest/podvm-channel-codec.c) on each line of the input, and
 * PodvmAppChannel reading the whole input as what a guest sent.
 *
 * Checks: a line that decodes encodes back to a line that decodes to the
 * same message (and within the limit); the channel always ends with
 * "closed" (the input's end or a protocol error), never crashes, and every
 * exec session and ping it had pending is finished by then.
 */
#include <string.h>

#include "podvm-app-channel.h"
#include "podvm-channel-codec.h"
#include "podvm-fuzz-util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    podvm_fuzz_init(TRUE);
    return 0;
}

static void
check_roundtrip(const char *line, size_t len)
{
    PodvmChannelMessage msg, again;
    PodvmChannelLine out;

    if (podvm_channel_decode(line, len, &msg) != 0)
        return;
    PODVM_FUZZ_CHECK(podvm_channel_name_valid(msg.verb));
    podvm_channel_line_init(&out, msg.verb);
    for (size_t i = 0; i < msg.n_fields; i++)
        podvm_channel_line_add_data(&out, msg.fields[i].key, msg.fields[i].value,
                                    msg.fields[i].value_len);
    /* Re-encoding never grows a line (lowercase %xx becomes uppercase, nothing more). */
    PODVM_FUZZ_CHECK(podvm_channel_line_finish(&out) == 0);
    PODVM_FUZZ_CHECK(out.len <= PODVM_CHANNEL_MAX_LINE);
    PODVM_FUZZ_CHECK(podvm_channel_decode(out.data, out.len, &again) == 0);
    PODVM_FUZZ_CHECK(strcmp(again.verb, msg.verb) == 0);
    PODVM_FUZZ_CHECK(again.n_fields == msg.n_fields);
    for (size_t i = 0; i < msg.n_fields; i++) {
        PODVM_FUZZ_CHECK(strcmp(again.fields[i].key, msg.fields[i].key) == 0);
        PODVM_FUZZ_CHECK(again.fields[i].value_len == msg.fields[i].value_len);
        PODVM_FUZZ_CHECK(
            memcmp(again.fields[i].value, msg.fields[i].value, msg.fields[i].value_len) == 0);
    }
    podvm_channel_message_clear(&again);
    podvm_channel_line_clear(&out);
    podvm_channel_message_clear(&msg);
}

typedef struct {
    gboolean closed;
    guint pending;
} State;

static void
closed_cb(PodvmAppChannel *channel, const GError *error, State *state)
{
    PODVM_FUZZ_CHECK(!state->closed);
    PODVM_FUZZ_CHECK(error == NULL || g_utf8_validate(error->message, -1, NULL));
    state->closed = TRUE;
}

static void
exec_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    State *state = user_data;
    g_autoptr(GError) error = NULL;
    int code = -1;

    if (podvm_app_channel_exec_finish(PODVM_APP_CHANNEL(source), result, &code, &error))
        PODVM_FUZZ_CHECK(code >= 0 && code <= 255 + 128);
    else
        PODVM_FUZZ_CHECK(error != NULL);
    state->pending--;
}

static void
ping_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    State *state = user_data;
    g_autoptr(GError) error = NULL;

    podvm_app_channel_ping_finish(PODVM_APP_CHANNEL(source), result, &error);
    state->pending--;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GOutputStream) out = NULL;
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(PodvmAppGuestConfig) config = podvm_app_guest_config_new();
    g_autoptr(PodvmAppChannel) channel = NULL;
    g_autoptr(GOutputStream) exec_out = g_memory_output_stream_new_resizable();
    const char *const argv[] = { "true", NULL };
    PodvmAppGuestApp *app = g_new0(PodvmAppGuestApp, 1);
    State state = { 0 };
    size_t start = 0;

    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            check_roundtrip((const char *)data + start, i + 1 - start);
            start = i + 1;
        }
    }
    check_roundtrip((const char *)data + start, size - start);

    app->name = g_strdup("web");
    app->disk_serial = g_strdup("app0");
    g_ptr_array_add(config->apps, app);
    in = g_memory_input_stream_new_from_data(g_memdup2(data, size), size, g_free);
    out = g_memory_output_stream_new_resizable();
    stream = g_simple_io_stream_new(in, out);
    channel = podvm_app_channel_new(stream, config);
    g_signal_connect(channel, "closed", G_CALLBACK(closed_cb), &state);
    /* Sessions 1 and 2 and ping 3, so the input's ids can reach them. */
    state.pending = 3;
    podvm_app_channel_exec_async(channel, NULL, argv, NULL, exec_out, exec_out, NULL, exec_cb,
                                 &state);
    podvm_app_channel_exec_async(channel, "web", argv, NULL, NULL, NULL, NULL, exec_cb, &state);
    podvm_app_channel_ping_async(channel, NULL, ping_cb, &state);
    for (guint spins = 0; !state.closed || state.pending > 0; spins++) {
        PODVM_FUZZ_CHECK(spins < 100000);
        g_main_context_iteration(NULL, TRUE);
    }
    podvm_app_channel_close(channel);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    return 0;
}
