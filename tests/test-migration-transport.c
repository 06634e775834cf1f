/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration transport (migration/): the peer documents and their
 * refusals, the peer client against a real SoupServer on 127.0.0.1 (TLS
 * with a certificate made here, and plain HTTP) that answers like a target
 * podvmd and upgrades streams, and the relay (64 MiB each way, half-close,
 * errors, progress).
 */
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-error.h"
#include "podvm-json.h"
#include "podvm-migration-doc.h"
#include "podvm-peer.h"
#include "podvm-relay.h"
#include "podvm-test-util.h"

#define TOKEN "the-right-token"
#define UID "0b6f1f4e-3c55-4a8e-9a52-2f1d6d3c1a77"
#define MIB (1024 * 1024)

/* --- documents --------------------------------------------------------------- */

static PodvmMigrationOffer *
sample_offer(void)
{
    PodvmMigrationOffer *offer = g_new0(PodvmMigrationOffer, 1);
    PodvmMigrationDisk *disk;

    offer->pod = podvm_json_parse("{\"metadata\": {\"name\": \"web\", \"uid\": \"" UID
                                  "\"}, \"spec\": {\"memory\": "
                                  "\"128Mi\"}}",
                                  -1, NULL);
    g_assert_nonnull(offer->pod);
    offer->disks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_migration_disk_free);
    disk = g_new0(PodvmMigrationDisk, 1);
    disk->name = g_strdup("data");
    disk->size = 256 * MIB;
    g_ptr_array_add(offer->disks, disk);
    disk = g_new0(PodvmMigrationDisk, 1);
    disk->name = g_strdup("scratch");
    disk->size = G_GUINT64_CONSTANT(16) << 40;
    g_ptr_array_add(offer->disks, disk);
    offer->macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_hash_table_insert(offer->macs, g_strdup("default"), g_strdup("02:00:00:aa:bb:cc"));
    g_hash_table_insert(offer->macs, g_strdup("lan"), g_strdup("52:54:00:12:34:56"));
    offer->postcopy = TRUE;
    return offer;
}

static char *
to_text(JsonNode *node)
{
    char *text = podvm_json_to_string(node, FALSE);
    json_node_unref(node);
    return text;
}

static void
test_offer_round_trip(void)
{
    g_autoptr(PodvmMigrationOffer) offer = sample_offer();
    g_autofree char *text = to_text(podvm_migration_offer_to_json(offer));
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmMigrationOffer) parsed = podvm_migration_offer_parse(text, -1, &error);
    g_autofree char *again = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(parsed);
    g_assert_true(json_node_equal(parsed->pod, offer->pod));
    g_assert_cmpuint(parsed->disks->len, ==, 2);
    g_assert_cmpstr(((PodvmMigrationDisk *)parsed->disks->pdata[0])->name, ==, "data");
    g_assert_cmpuint(((PodvmMigrationDisk *)parsed->disks->pdata[0])->size, ==, 256 * MIB);
    g_assert_cmpuint(((PodvmMigrationDisk *)parsed->disks->pdata[1])->size, ==,
                     G_GUINT64_CONSTANT(16) << 40);
    g_assert_null(((PodvmMigrationDisk *)parsed->disks->pdata[0])->export_name);
    g_assert_cmpuint(g_hash_table_size(parsed->macs), ==, 2);
    g_assert_cmpstr(g_hash_table_lookup(parsed->macs, "lan"), ==, "52:54:00:12:34:56");
    g_assert_true(parsed->postcopy);
    /* The same offer is the same text. */
    again = to_text(podvm_migration_offer_to_json(parsed));
    g_assert_cmpstr(again, ==, text);

    /* disks, macs and postcopy may be left out. */
    {
        g_autoptr(PodvmMigrationOffer) small = podvm_migration_offer_parse(
            "{\"version\":1,\"pod\":{\"metadata\":{\"name\":\"a\",\"uid\":\"" UID "\"}}}", -1,
            &error);
        g_assert_no_error(error);
        g_assert_cmpuint(small->disks->len, ==, 0);
        g_assert_cmpuint(g_hash_table_size(small->macs), ==, 0);
        g_assert_false(small->postcopy);
    }
    /* At most PODVM_MIGRATION_MAX_DISKS disks, and that many are fine. */
    {
        g_autoptr(GString) doc =
            g_string_new("{\"version\":1,\"pod\":{\"metadata\":{\"name\":\"a\",\"uid\":\"" UID
                         "\"}},\"disks\":[");
        g_autoptr(PodvmMigrationOffer) many = NULL;

        for (int i = 0; i < PODVM_MIGRATION_MAX_DISKS; i++)
            g_string_append_printf(doc, "%s{\"name\":\"d%d\",\"size\":1}", i > 0 ? "," : "", i);
        g_string_append(doc, "]}");
        many = podvm_migration_offer_parse(doc->str, (gssize)doc->len, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(many->disks->len, ==, PODVM_MIGRATION_MAX_DISKS);
    }
}

static void
test_answer_round_trip(void)
{
    g_autoptr(PodvmMigrationAnswer) answer = g_new0(PodvmMigrationAnswer, 1);
    g_autoptr(PodvmMigrationAnswer) parsed = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *again = NULL;
    PodvmMigrationDisk *disk = g_new0(PodvmMigrationDisk, 1);

    answer->id = podvm_migration_new_id();
    answer->secret = podvm_migration_new_secret();
    answer->disks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_migration_disk_free);
    disk->name = g_strdup("data");
    disk->export_name = g_strdup("mig-data");
    g_ptr_array_add(answer->disks, disk);
    text = to_text(podvm_migration_answer_to_json(answer));
    parsed = podvm_migration_answer_parse(text, -1, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(parsed->id, ==, answer->id);
    g_assert_cmpstr(parsed->secret, ==, answer->secret);
    g_assert_cmpuint(parsed->disks->len, ==, 1);
    g_assert_cmpstr(((PodvmMigrationDisk *)parsed->disks->pdata[0])->name, ==, "data");
    g_assert_cmpstr(((PodvmMigrationDisk *)parsed->disks->pdata[0])->export_name, ==, "mig-data");
    again = to_text(podvm_migration_answer_to_json(parsed));
    g_assert_cmpstr(again, ==, text);
}

typedef struct {
    const char *doc;
    const char *member; /* the message names it */
} Refusal;

#define POD "\"pod\":{\"metadata\":{\"name\":\"web\",\"uid\":\"" UID "\"}}"
#define V1 "\"version\":1,"

static void
check_refusals(const Refusal *refusals, gsize n, gboolean offer)
{
    for (gsize i = 0; i < n; i++) {
        g_autoptr(GError) error = NULL;
        gpointer parsed;

        if (offer)
            parsed = podvm_migration_offer_parse(refusals[i].doc, -1, &error);
        else
            parsed = podvm_migration_answer_parse(refusals[i].doc, -1, &error);
        g_test_message("%s -> %s", refusals[i].doc, error != NULL ? error->message : "(accepted)");
        g_assert_null(parsed);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, refusals[i].member));
    }
}

static void
test_offer_refusals(void)
{
    static const Refusal refusals[] = {
        { "", "offer" },
        { "{", "offer" },
        { "[]", "not a JSON object" },
        { "{" POD "}", "version" },
        { "{\"version\":2," POD "}", "version" },
        { "{\"version\":\"1\"," POD "}", "version" },
        { "{\"version\":1.0," POD "}", "version" },
        { "{" V1 POD ",\"extra\":1}", "\"extra\"" },
        { "{" V1 "\"disks\":[]}", "pod: required" },
        { "{" V1 "\"pod\":[]}", "pod: not an object" },
        { "{" V1 "\"pod\":{}}", "pod.metadata: required" },
        { "{" V1 "\"pod\":{\"metadata\":3}}", "pod.metadata: not an object" },
        { "{" V1 "\"pod\":{\"metadata\":{\"uid\":\"" UID "\"}}}", "pod.metadata.name: required" },
        { "{" V1 "\"pod\":{\"metadata\":{\"name\":\"Web_1\",\"uid\":\"" UID "\"}}}",
          "pod.metadata.name" },
        { "{" V1 "\"pod\":{\"metadata\":{\"name\":\"web\"}}}", "pod.metadata.uid: required" },
        { "{" V1 "\"pod\":{\"metadata\":{\"name\":\"web\",\"uid\":\"nope\"}}}",
          "pod.metadata.uid" },
        { "{" V1 "\"pod\":{\"metadata\":{\"name\":\"web\",\"uid\":7}}}", "pod.metadata.uid" },
        { "{" V1 POD ",\"disks\":{}}", "disks: not an array" },
        { "{" V1 POD ",\"disks\":[3]}", "disks[0]: not an object" },
        { "{" V1 POD ",\"disks\":[{\"size\":1}]}", "disks[0].name: required" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"-x\",\"size\":1}]}", "disks[0].name" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\",\"size\":1},{\"name\":\"a\",\"size\":1}]}",
          "disks[1].name" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\"}]}", "disks[0].size: required" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\",\"size\":0}]}", "disks[0].size" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\",\"size\":-5}]}", "disks[0].size" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\",\"size\":17592186044417}]}", "disks[0].size" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\",\"size\":1.5}]}", "disks[0].size" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\",\"size\":\"1Gi\"}]}", "disks[0].size" },
        { "{" V1 POD ",\"disks\":[{\"name\":\"a\",\"size\":1,\"export\":\"x\"}]}",
          "disks[0].\"export\"" },
        { "{" V1 POD ",\"macs\":[]}", "macs: not an object" },
        { "{" V1 POD ",\"macs\":{\"eth0\":\"02:00:00:00:00\"}}", "macs.\"eth0\"" },
        { "{" V1 POD ",\"macs\":{\"eth0\":\"02-00-00-00-00-01\"}}", "macs.\"eth0\"" },
        { "{" V1 POD ",\"macs\":{\"eth0\":\"02:00:00:00:00:0g\"}}", "macs.\"eth0\"" },
        { "{" V1 POD ",\"macs\":{\"eth0\":\"03:00:00:00:00:01\"}}", "not a unicast" },
        { "{" V1 POD ",\"macs\":{\"eth0\":\"00:00:00:00:00:00\"}}", "not a unicast" },
        { "{" V1 POD ",\"macs\":{\"eth0\":5}}", "macs.\"eth0\": not a string" },
        { "{" V1 POD ",\"macs\":{\"Eth_0\":\"02:00:00:00:00:01\"}}", "macs.\"Eth_0\"" },
        { "{" V1 POD ",\"postcopy\":\"yes\"}", "postcopy: not a boolean" },
    };
    g_autoptr(GString) many = g_string_new("{" V1 POD ",\"disks\":[");
    g_autoptr(GString) big = g_string_new("{" V1 POD ",\"x\":\"");
    g_autoptr(GError) error = NULL;

    check_refusals(refusals, G_N_ELEMENTS(refusals), TRUE);

    for (int i = 0; i <= PODVM_MIGRATION_MAX_DISKS; i++)
        g_string_append_printf(many, "%s{\"name\":\"d%d\",\"size\":1}", i > 0 ? "," : "", i);
    g_string_append(many, "]}");
    g_assert_null(podvm_migration_offer_parse(many->str, (gssize)many->len, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "disks"));
    g_clear_error(&error);

    while (big->len <= PODVM_MIGRATION_MAX_DOC)
        g_string_append(big, "0123456789abcdef");
    g_string_append(big, "\"}");
    g_assert_null(podvm_migration_offer_parse(big->str, (gssize)big->len, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "at most"));
    g_clear_error(&error);

    /* Bytes after the length given are not read. */
    g_assert_null(podvm_migration_offer_parse("{" V1 POD "}", 3, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
}

#define SECRET "abcdefghijklmnopqrstuvwxyz0123456789-_AB"

static void
test_answer_refusals(void)
{
    static const Refusal refusals[] = {
        { "null", "not a JSON object" },
        { "{\"secret\":\"" SECRET "\"}", "id: required" },
        { "{\"id\":\"\",\"secret\":\"" SECRET "\"}", "id" },
        { "{\"id\":\"ABC\",\"secret\":\"" SECRET "\"}", "id" },
        { "{\"id\":\"a/b\",\"secret\":\"" SECRET "\"}", "id" },
        { "{\"id\":\"01234567890123456789012345678901234567890123456789012345678901234\","
          "\"secret\":\"" SECRET "\"}",
          "id" },
        { "{\"id\":3,\"secret\":\"" SECRET "\"}", "id: not a string" },
        { "{\"id\":\"m1\"}", "secret: required" },
        { "{\"id\":\"m1\",\"secret\":\"short\"}", "secret" },
        { "{\"id\":\"m1\",\"secret\":\"" SECRET "!\"}", "secret" },
        { "{\"id\":\"m1\",\"secret\":\"" SECRET "\",\"disks\":[{\"name\":\"a\"}]}",
          "disks[0].export: required" },
        { "{\"id\":\"m1\",\"secret\":\"" SECRET "\",\"disks\":[{\"name\":\"a\",\"export\":\"\"}]}",
          "disks[0].export" },
        { "{\"id\":\"m1\",\"secret\":\"" SECRET
          "\",\"disks\":[{\"name\":\"a\",\"export\":\"a b\"}]}",
          "disks[0].export" },
        { "{\"id\":\"m1\",\"secret\":\"" SECRET
          "\",\"disks\":[{\"name\":\"a\",\"export\":\"x\",\"size\":1}]}",
          "disks[0].\"size\"" },
        { "{\"id\":\"m1\",\"secret\":\"" SECRET "\",\"disks\":[{\"name\":\"a\",\"export\":\"x\"},"
          "{\"name\":\"a\",\"export\":\"y\"}]}",
          "disks[1].name" },
        { "{\"id\":\"m1\",\"secret\":\"" SECRET "\",\"version\":1}", "\"version\"" },
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmMigrationAnswer) ok = NULL;

    check_refusals(refusals, G_N_ELEMENTS(refusals), FALSE);
    /* The secret is never quoted back. */
    g_assert_null(
        podvm_migration_answer_parse("{\"id\":\"m1\",\"secret\":\"" SECRET "!\"}", -1, &error));
    g_assert_null(strstr(error->message, SECRET));
    g_clear_error(&error);
    ok = podvm_migration_answer_parse("{\"id\":\"m-1\",\"secret\":\"" SECRET "\"}", -1, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(ok->disks->len, ==, 0);
}

static void
test_ids_and_secrets(void)
{
    g_autofree char *id1 = podvm_migration_new_id();
    g_autofree char *id2 = podvm_migration_new_id();
    g_autofree char *secret1 = podvm_migration_new_secret();
    g_autofree char *secret2 = podvm_migration_new_secret();
    g_autofree char *copy = g_strdup(secret1);

    g_assert_cmpstr(id1, !=, id2);
    g_assert_cmpstr(secret1, !=, secret2);
    g_assert_cmpuint(strlen(id1), >=, 16);
    g_assert_cmpuint(strlen(id1), <=, 64);
    g_assert_cmpuint(strlen(secret1), >=, 32);
    g_assert_cmpuint(strlen(secret1), <=, 128);
    /* What they make, the parser takes. */
    {
        g_autofree char *doc =
            g_strdup_printf("{\"id\":\"%s\",\"secret\":\"%s\",\"disks\":[]}", id1, secret1);
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmMigrationAnswer) answer = podvm_migration_answer_parse(doc, -1, &error);
        g_assert_no_error(error);
    }
    g_assert_true(podvm_migration_secret_equal(secret1, copy));
    g_assert_false(podvm_migration_secret_equal(secret1, secret2));
    copy[strlen(copy) - 1] ^= 1;
    g_assert_false(podvm_migration_secret_equal(secret1, copy));
    copy[strlen(copy) - 1] = '\0';
    g_assert_false(podvm_migration_secret_equal(secret1, copy));
    g_assert_false(podvm_migration_secret_equal(secret1, ""));
    g_assert_false(podvm_migration_secret_equal(secret1, NULL));
    g_assert_false(podvm_migration_secret_equal(NULL, secret1));
    g_assert_false(podvm_migration_secret_equal("", ""));
    {
        g_autofree char *longer = g_strconcat(secret1, "x", NULL);
        g_assert_false(podvm_migration_secret_equal(secret1, longer));
    }
}

/* --- a target podvmd, as far as the transport sees it --------------------------- */

typedef struct {
    char *dir;
    char *cert_path;
    GTlsCertificate *certificate;
    SoupServer *tls_server;
    SoupServer *plain_server;
    GSocketService *tls_service;
    GSocketService *plain_service;
    char *tls_url;
    char *plain_url;
    GPtrArray *echoes; /* Echo* */
    guint streams_upgraded;
    char *last_channel;
    /* Like podvmd: the stolen stream relayed to a socket pair whose other end is qemu_fd. */
    gboolean relay_mode;
    PodvmRelay *relay;
    int qemu_fd;
} Target;

/* A stolen connection that says HELLO and then echoes everything until its end. */
typedef struct {
    GIOStream *stream;
    guint8 buffer[65536];
    gboolean done;
} Echo;

static void echo_read(Echo *echo);

static void
echo_closed_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Echo *echo = user_data;

    g_output_stream_close_finish(G_OUTPUT_STREAM(source), result, NULL);
    echo->done = TRUE;
}

static void
echo_written_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Echo *echo = user_data;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL)) {
        echo->done = TRUE;
        return;
    }
    echo_read(echo);
}

static void
echo_read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Echo *echo = user_data;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

    if (n <= 0) {
        /* The client's end: ours too (its reading side still wants to hear it). */
        if (G_IS_SOCKET_CONNECTION(echo->stream)) {
            g_socket_shutdown(g_socket_connection_get_socket(G_SOCKET_CONNECTION(echo->stream)),
                              FALSE, TRUE, NULL);
            echo->done = TRUE;
        } else {
            g_output_stream_close_async(g_io_stream_get_output_stream(echo->stream),
                                        G_PRIORITY_DEFAULT, NULL, echo_closed_cb, echo);
        }
        return;
    }
    g_output_stream_write_all_async(g_io_stream_get_output_stream(echo->stream), echo->buffer,
                                    (gsize)n, G_PRIORITY_DEFAULT, NULL, echo_written_cb, echo);
}

static void
echo_read(Echo *echo)
{
    g_input_stream_read_async(g_io_stream_get_input_stream(echo->stream), echo->buffer,
                              sizeof(echo->buffer), G_PRIORITY_DEFAULT, NULL, echo_read_cb, echo);
}

static void
echo_free(Echo *echo)
{
    g_io_stream_close(echo->stream, NULL, NULL);
    g_object_unref(echo->stream);
    g_free(echo);
}

static void
upgraded_cb(SoupServerMessage *msg, gpointer user_data)
{
    Target *target = user_data;
    Echo *echo;

    if (target->relay_mode) {
        g_autoptr(GIOStream) stolen = soup_server_message_steal_connection(msg);
        g_autoptr(GSocket) qemu_end = NULL;
        g_autoptr(GIOStream) ours = NULL;

        g_assert_true(podvm_relay_socketpair(&qemu_end, &ours, NULL));
        target->qemu_fd = dup(g_socket_get_fd(qemu_end));
        target->relay = podvm_relay_new(ours, stolen, NULL, NULL);
        target->streams_upgraded++;
        return;
    }
    echo = g_new0(Echo, 1);
    echo->stream = soup_server_message_steal_connection(msg);
    g_assert_nonnull(echo->stream);
    g_ptr_array_add(target->echoes, echo);
    target->streams_upgraded++;
    /* The first bytes of the channel follow the head at once. */
    memcpy(echo->buffer, "HELLO", 5);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(echo->stream), echo->buffer, 5,
                                    G_PRIORITY_DEFAULT, NULL, echo_written_cb, echo);
}

static void
respond_error(SoupServerMessage *msg, guint status, const char *reason, const char *message)
{
    g_autofree char *body = g_strdup_printf(
        "{\"error\":{\"code\":%u,\"reason\":\"%s\",\"message\":\"%s\"}}", status, reason, message);

    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body, strlen(body));
}

static void
respond_json(SoupServerMessage *msg, guint status, JsonNode *node)
{
    gsize length = 0;
    char *text = podvm_json_to_data(node, FALSE, &length);

    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, text, length);
}

static void
handle_stream(Target *target, SoupServerMessage *msg, const char *path, GHashTable *query)
{
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    const char *channel = query != NULL ? g_hash_table_lookup(query, "channel") : NULL;
    SoupMessageHeaders *response = soup_server_message_get_response_headers(msg);

    if (!podvm_migration_secret_equal(
            SECRET, soup_message_headers_get_one(headers, PODVM_MIGRATION_SECRET_HEADER))) {
        respond_error(msg, 403, "PermissionDenied", "wrong secret for this migration");
        return;
    }
    if (strcmp(path, "/v1/migrations/m1/stream") != 0) {
        respond_error(msg, 404, "NotFound", "no migration m9");
        return;
    }
    if (g_strcmp0(soup_message_headers_get_one(headers, "Upgrade"), PODVM_MIGRATION_UPGRADE) != 0 ||
        !soup_message_headers_header_contains(headers, "Connection", "Upgrade")) {
        respond_error(msg, 400, "InvalidArgument", "not an upgrade");
        return;
    }
    if (channel == NULL ||
        (strcmp(channel, "migration") != 0 && strcmp(channel, "nbd:data") != 0)) {
        respond_error(msg, 404, "NotFound", "no such channel");
        return;
    }
    g_free(target->last_channel);
    target->last_channel = g_strdup(channel);
    soup_server_message_set_status(msg, SOUP_STATUS_SWITCHING_PROTOCOLS, NULL);
    soup_message_headers_replace(response, "Connection", "Upgrade");
    soup_message_headers_replace(response, "Upgrade", PODVM_MIGRATION_UPGRADE);
    g_signal_connect(msg, "wrote-informational", G_CALLBACK(upgraded_cb), target);
}

static void
handle_cb(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer user_data)
{
    Target *target = user_data;
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    const char *method = soup_server_message_get_method(msg);

    if (g_strcmp0(soup_message_headers_get_one(headers, "Authorization"), "Bearer " TOKEN) != 0) {
        respond_error(msg, 401, "PermissionDenied", "a bearer token is needed");
        return;
    }
    if (g_str_has_suffix(path, "/stream") && strcmp(method, "GET") == 0) {
        handle_stream(target, msg, path, query);
        return;
    }
    if (strcmp(path, "/v1/migrations") == 0 && strcmp(method, "POST") == 0) {
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
        g_autoptr(GError) error = NULL;
        g_autoptr(PodvmMigrationOffer) offer = podvm_migration_offer_parse(
            g_bytes_get_data(bytes, NULL), (gssize)g_bytes_get_size(bytes), &error);
        g_autoptr(PodvmMigrationAnswer) answer = NULL;
        g_autoptr(JsonNode) node = NULL;
        JsonObject *metadata;

        if (offer == NULL) {
            respond_error(msg, 400, "InvalidArgument", "bad offer");
            return;
        }
        metadata = json_object_get_object_member(json_node_get_object(offer->pod), "metadata");
        if (strcmp(json_object_get_string_member(metadata, "name"), "taken") == 0) {
            respond_error(msg, 409, "AlreadyExists", "a pod named \\\"taken\\\" exists here");
            return;
        }
        answer = g_new0(PodvmMigrationAnswer, 1);
        answer->id = g_strdup("m1");
        answer->secret = g_strdup(SECRET);
        answer->disks = g_ptr_array_new_with_free_func((GDestroyNotify)podvm_migration_disk_free);
        for (guint i = 0; i < offer->disks->len; i++) {
            PodvmMigrationDisk *offered = offer->disks->pdata[i];
            PodvmMigrationDisk *disk = g_new0(PodvmMigrationDisk, 1);
            disk->name = g_strdup(offered->name);
            disk->export_name = g_strconcat("mig-", offered->name, NULL);
            g_ptr_array_add(answer->disks, disk);
        }
        node = podvm_migration_answer_to_json(answer);
        respond_json(msg, 201, node);
        return;
    }
    if (strcmp(path, "/v1/migrations/m1") == 0 && strcmp(method, "DELETE") == 0) {
        soup_server_message_set_status(msg, 204, NULL);
        return;
    }
    if (strcmp(path, "/v1/migrations/m1/finish") == 0) {
        respond_error(msg, 409, "Conflict", "the migration is not completed");
        return;
    }
    if (strcmp(path, "/v1/not-json") == 0) {
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_STATIC, "hello", 5);
        return;
    }
    if (strcmp(path, "/v1/plain-error") == 0) {
        soup_server_message_set_status(msg, 503, NULL);
        soup_server_message_set_response(msg, "text/plain", SOUP_MEMORY_STATIC, "busy", 4);
        return;
    }
    if (strcmp(path, "/v1/never") == 0) {
        /* Never answered (until the server goes). */
        soup_server_message_pause(msg);
        return;
    }
    respond_error(msg, 404, "NotFound", "no such thing");
}

/*
 * The servers take connections from a GSocketService of ours
 * (soup_server_accept_iostream(), TLS by a GTlsServerConnection of ours)
 * rather than from soup_server_listen_local(): libsoup 3.2's listener keeps
 * a reference to every socket it accepts and to the address it bound, which
 * LeakSanitizer reports (podvmd works around the same in
 * src/daemon/rest/podvm-rest-conn.c).
 */
static gboolean
incoming_cb(GSocketService *service, GSocketConnection *connection, GObject *source,
            gpointer user_data)
{
    Target *target = user_data;
    gboolean tls = service == target->tls_service;
    g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(connection, NULL);
    g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(connection, NULL);
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GError) error = NULL;

    if (tls) {
        stream = g_tls_server_connection_new(G_IO_STREAM(connection), target->certificate, &error);
        g_assert_no_error(error);
    } else {
        stream = g_object_ref(G_IO_STREAM(connection));
    }
    soup_server_accept_iostream(tls ? target->tls_server : target->plain_server, stream, local,
                                remote, &error);
    g_assert_no_error(error);
    return TRUE;
}

static char *
service_start(Target *target, GSocketService **out, const char *scheme)
{
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) effective = NULL;
    g_autoptr(GError) error = NULL;

    *out = g_socket_service_new();
    g_assert_true(g_socket_listener_add_address(G_SOCKET_LISTENER(*out), address,
                                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                                &effective, &error));
    g_assert_no_error(error);
    g_signal_connect(*out, "incoming", G_CALLBACK(incoming_cb), target);
    g_socket_service_start(*out);
    return g_strdup_printf("%s://127.0.0.1:%u", scheme,
                           g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective)));
}

static gboolean
target_start(Target *target)
{
    static const char *const names[] = { "127.0.0.1", "localhost", NULL };
    g_autoptr(GError) error = NULL;
    g_autofree char *key = NULL;

    target->dir = podvm_test_mkdtemp();
    target->echoes = g_ptr_array_new_with_free_func((GDestroyNotify)echo_free);
    if (!podvm_test_make_certificate(target->dir, names, &target->cert_path, &key))
        return FALSE;
    target->certificate = g_tls_certificate_new_from_files(target->cert_path, key, &error);
    g_assert_no_error(error);
    target->tls_server = soup_server_new(NULL, NULL);
    soup_server_add_handler(target->tls_server, NULL, handle_cb, target, NULL);
    target->plain_server = soup_server_new(NULL, NULL);
    soup_server_add_handler(target->plain_server, NULL, handle_cb, target, NULL);
    target->tls_url = service_start(target, &target->tls_service, "https");
    target->plain_url = service_start(target, &target->plain_service, "http");
    return TRUE;
}

static gboolean
echoes_done(gpointer user_data)
{
    Target *target = user_data;

    for (guint i = 0; target->echoes != NULL && i < target->echoes->len; i++) {
        if (!((Echo *)target->echoes->pdata[i])->done)
            return FALSE;
    }
    return TRUE;
}

static void
target_stop(Target *target)
{
    GSocketService *services[] = { target->tls_service, target->plain_service };

    for (guint i = 0; i < G_N_ELEMENTS(services); i++) {
        if (services[i] != NULL) {
            g_socket_service_stop(services[i]);
            g_socket_listener_close(G_SOCKET_LISTENER(services[i]));
            g_object_unref(services[i]);
        }
    }
    if (target->tls_server != NULL) {
        soup_server_disconnect(target->tls_server);
        g_object_unref(target->tls_server);
    }
    if (target->plain_server != NULL) {
        soup_server_disconnect(target->plain_server);
        g_object_unref(target->plain_server);
    }
    /* The clients are gone: the echoes see their end and finish what they do. */
    podvm_test_wait_until(echoes_done, target, 10000);
    g_clear_pointer(&target->echoes, g_ptr_array_unref);
    g_clear_pointer(&target->relay, podvm_relay_free);
    if (target->qemu_fd > 0)
        close(target->qemu_fd);
    g_clear_object(&target->certificate);
    if (target->dir != NULL)
        podvm_test_rmrf(target->dir);
    g_free(target->dir);
    g_free(target->cert_path);
    g_free(target->tls_url);
    g_free(target->plain_url);
    g_free(target->last_channel);
    /* Let the servers' closed connections go. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static PodvmPeer *
peer_for(Target *target, const char *url, const char *token, gboolean with_cacert,
         gboolean plaintext_ok, guint timeout_ms)
{
    PodvmPeerSettings settings = {
        .url = (char *)url,
        .token = (char *)token,
        .cacert = with_cacert ? target->cert_path : NULL,
        .plaintext_ok = plaintext_ok,
        .timeout_ms = timeout_ms,
    };
    g_autoptr(GError) error = NULL;
    PodvmPeer *peer = podvm_peer_new(&settings, &error);

    g_assert_no_error(error);
    g_assert_nonnull(peer);
    return peer;
}

/* --- waiting for async results ------------------------------------------------ */

typedef struct {
    GAsyncResult *result;
} Waiter;

static void
waiter_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Waiter *waiter = user_data;
    waiter->result = g_object_ref(result);
}

static gboolean
waiter_has_result(gpointer user_data)
{
    return ((Waiter *)user_data)->result != NULL;
}

static JsonNode *
call(PodvmPeer *peer, const char *method, const char *path, JsonNode *body, GError **error)
{
    Waiter waiter = { 0 };
    JsonNode *answer;

    podvm_peer_call_async(peer, method, path, body, NULL, waiter_cb, &waiter);
    g_assert_true(podvm_test_wait_until(waiter_has_result, &waiter, 30000));
    answer = podvm_peer_call_finish(peer, waiter.result, error);
    g_object_unref(waiter.result);
    return answer;
}

static GIOStream *
open_stream(PodvmPeer *peer, const char *id, const char *secret, const char *channel,
            GError **error)
{
    Waiter waiter = { 0 };
    GIOStream *stream;

    podvm_peer_open_stream_async(peer, id, secret, channel, NULL, waiter_cb, &waiter);
    g_assert_true(podvm_test_wait_until(waiter_has_result, &waiter, 30000));
    stream = podvm_peer_open_stream_finish(peer, waiter.result, error);
    g_object_unref(waiter.result);
    return stream;
}

/* --- the peer's JSON calls ------------------------------------------------------- */

static void
test_peer_settings(void)
{
    static const struct {
        const char *url;
        gboolean plaintext_ok;
    } bad[] = {
        { "", TRUE },
        { "ftp://host:21", TRUE },
        { "https://", TRUE },
        { "https://host:8443/v1", TRUE },
        { "https://host:8443?x=1", TRUE },
        { "https://user@host:8443", TRUE },
        { "host:8443", TRUE },
        { "http://host:8080", FALSE },
    };
    g_autoptr(GError) error = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        PodvmPeerSettings settings = { .url = (char *)bad[i].url,
                                       .token = (char *)TOKEN,
                                       .plaintext_ok = bad[i].plaintext_ok };
        g_autoptr(PodvmPeer) peer = podvm_peer_new(&settings, &error);

        g_test_message("%s -> %s", bad[i].url, error != NULL ? error->message : "(accepted)");
        g_assert_null(peer);
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    {
        /* http:// is refused without plaintext_ok, and the message says why. */
        PodvmPeerSettings settings = { .url = (char *)"http://127.0.0.1:8080" };
        g_assert_null(podvm_peer_new(&settings, &error));
        g_assert_nonnull(strstr(error->message, "unencrypted"));
        g_clear_error(&error);
    }
    {
        PodvmPeerSettings settings = { .url = (char *)"https://127.0.0.1:8443",
                                       .cacert = (char *)"/nonexistent/ca.pem" };
        g_assert_null(podvm_peer_new(&settings, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    {
        PodvmPeerSettings settings = { .url = (char *)"https://127.0.0.1:8443",
                                       .token = (char *)"a\r\nX-Evil: 1" };
        g_assert_null(podvm_peer_new(&settings, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    {
        PodvmPeerSettings settings = { .url = (char *)"https://peer.example:8443/" };
        g_autoptr(PodvmPeer) peer = podvm_peer_new(&settings, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(podvm_peer_get_url(peer), ==, "https://peer.example:8443");
    }
}

static void
test_peer_calls(void)
{
    Target target = { 0 };
    g_autoptr(PodvmPeer) peer = NULL;
    g_autoptr(PodvmPeer) plain = NULL;
    g_autoptr(PodvmMigrationOffer) offer = sample_offer();
    g_autoptr(GError) error = NULL;

    if (!target_start(&target)) {
        target_stop(&target);
        return;
    }
    peer = peer_for(&target, target.tls_url, TOKEN, TRUE, FALSE, 0);
    {
        g_autoptr(JsonNode) body = podvm_migration_offer_to_json(offer);
        g_autoptr(JsonNode) answer_node = call(peer, "POST", "/v1/migrations", body, &error);
        g_autofree char *text = NULL;
        g_autoptr(PodvmMigrationAnswer) answer = NULL;

        g_assert_no_error(error);
        g_assert_nonnull(answer_node);
        text = podvm_json_to_string(answer_node, FALSE);
        answer = podvm_migration_answer_parse(text, -1, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(answer->id, ==, "m1");
        g_assert_cmpuint(answer->disks->len, ==, 2);
        g_assert_cmpstr(((PodvmMigrationDisk *)answer->disks->pdata[1])->export_name, ==,
                        "mig-scratch");
    }
    /* 204: no JSON, no error. */
    g_assert_null(call(peer, "DELETE", "/v1/migrations/m1", NULL, &error));
    g_assert_no_error(error);
    /* The peer's error document: its reason and its message. */
    {
        JsonObject *metadata =
            json_object_get_object_member(json_node_get_object(offer->pod), "metadata");
        g_autoptr(JsonNode) body = NULL;

        json_object_set_string_member(metadata, "name", "taken");
        body = podvm_migration_offer_to_json(offer);
        g_assert_null(call(peer, "POST", "/v1/migrations", body, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_EXISTS);
        g_assert_nonnull(strstr(error->message, "a pod named \"taken\" exists here"));
        g_clear_error(&error);
    }
    g_assert_null(call(peer, "POST", "/v1/migrations/m1/finish", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_WRONG_PHASE);
    g_assert_nonnull(strstr(error->message, "not completed"));
    g_clear_error(&error);
    g_assert_null(call(peer, "GET", "/v1/migrations/m9", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
    g_clear_error(&error);
    /* No error document: the status, named. */
    g_assert_null(call(peer, "GET", "/v1/plain-error", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "503"));
    g_clear_error(&error);
    /* A 200 that is not JSON. */
    g_assert_null(call(peer, "GET", "/v1/not-json", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
    g_clear_error(&error);
    /* A path that is not one. */
    g_assert_null(call(peer, "GET", "v1/x", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);

    /* 401: the token. */
    {
        g_autoptr(PodvmPeer) wrong = peer_for(&target, target.tls_url, "wrong", TRUE, FALSE, 0);
        g_assert_null(call(wrong, "DELETE", "/v1/migrations/m1", NULL, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_assert_nonnull(strstr(error->message, "refused the token"));
        g_clear_error(&error);
    }
    /* The system's CAs do not know the test's certificate: not reached, the URL named. */
    {
        g_autoptr(PodvmPeer) untrusting = peer_for(&target, target.tls_url, TOKEN, FALSE, FALSE, 0);
        g_assert_null(call(untrusting, "DELETE", "/v1/migrations/m1", NULL, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
        g_assert_nonnull(strstr(error->message, target.tls_url));
        g_clear_error(&error);
    }
    /* Plain HTTP when allowed. */
    plain = peer_for(&target, target.plain_url, TOKEN, FALSE, TRUE, 0);
    g_assert_null(call(plain, "DELETE", "/v1/migrations/m1", NULL, &error));
    g_assert_no_error(error);
    /* A peer that does not answer in time. */
    {
        g_autoptr(PodvmPeer) slow = peer_for(&target, target.plain_url, TOKEN, FALSE, TRUE, 300);
        gint64 start = g_get_monotonic_time();

        g_assert_null(call(slow, "GET", "/v1/never", NULL, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_TIMEOUT);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
        g_clear_error(&error);
    }
    /* A caller's cancellation. */
    {
        g_autoptr(GCancellable) cancellable = g_cancellable_new();
        Waiter waiter = { 0 };

        podvm_peer_call_async(plain, "GET", "/v1/never", NULL, cancellable, waiter_cb, &waiter);
        g_cancellable_cancel(cancellable);
        g_assert_true(podvm_test_wait_until(waiter_has_result, &waiter, 10000));
        g_assert_null(podvm_peer_call_finish(plain, waiter.result, &error));
        g_assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
                      g_error_matches(error, PODVM_ERROR, PODVM_ERROR_CANCELLED));
        g_clear_error(&error);
        g_object_unref(waiter.result);
    }
    target_stop(&target);
}

/* A port nothing listens on: bound, then closed. */
static guint16
unused_port(void)
{
    g_autoptr(GSocket) socket =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_true(g_socket_bind(socket, address, TRUE, NULL));
    bound = g_socket_get_local_address(socket, NULL);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void
test_peer_unreachable(void)
{
    g_autofree char *url = g_strdup_printf("https://127.0.0.1:%u", unused_port());
    PodvmPeerSettings settings = { .url = url, .token = (char *)TOKEN };
    g_autoptr(PodvmPeer) peer = podvm_peer_new(&settings, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GIOStream) stream = NULL;

    g_assert_null(call(peer, "GET", "/v1/migrations/m1", NULL, &error));
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
    g_assert_nonnull(strstr(error->message, url));
    g_clear_error(&error);
    stream = open_stream(peer, "m1", SECRET, "migration", &error);
    g_assert_null(stream);
    g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
    g_assert_nonnull(strstr(error->message, url));
}

/* --- streams -------------------------------------------------------------------- */

/* Reads exactly @length bytes from @stream, running the main loop (blocking reads would stall the
 * server). */
typedef struct {
    GByteArray *data;
    gsize want;
    gboolean eof;
    gboolean failed;
    guint8 buffer[65536];
    GInputStream *in;
} Reader;

static void reader_next(Reader *reader);

static void
reader_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Reader *reader = user_data;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, NULL);

    if (n < 0) {
        reader->failed = TRUE;
        return;
    }
    if (n == 0) {
        reader->eof = TRUE;
        return;
    }
    g_byte_array_append(reader->data, reader->buffer, (guint)n);
    reader_next(reader);
}

static void
reader_next(Reader *reader)
{
    if (reader->data->len >= reader->want)
        return;
    g_input_stream_read_async(reader->in, reader->buffer,
                              MIN(sizeof(reader->buffer), reader->want - reader->data->len),
                              G_PRIORITY_DEFAULT, NULL, reader_cb, reader);
}

static gboolean
reader_done(gpointer user_data)
{
    Reader *reader = user_data;
    return reader->eof || reader->failed || reader->data->len >= reader->want;
}

static GByteArray *
read_exactly(GIOStream *stream, gsize length)
{
    Reader reader = { .data = g_byte_array_new(),
                      .want = length,
                      .in = g_io_stream_get_input_stream(stream) };

    reader_next(&reader);
    g_assert_true(podvm_test_wait_until(reader_done, &reader, 30000));
    return reader.data;
}

static void
write_all(GIOStream *stream, const char *text)
{
    Waiter waiter = { 0 };

    g_output_stream_write_all_async(g_io_stream_get_output_stream(stream), text, strlen(text),
                                    G_PRIORITY_DEFAULT, NULL, waiter_cb, &waiter);
    g_assert_true(podvm_test_wait_until(waiter_has_result, &waiter, 30000));
    g_assert_true(g_output_stream_write_all_finish(g_io_stream_get_output_stream(stream),
                                                   waiter.result, NULL, NULL));
    g_object_unref(waiter.result);
}

/* HELLO right after the 101 head, then an echo of what we send. */
static void
check_hello_and_echo(GIOStream *stream)
{
    g_autoptr(GByteArray) hello = read_exactly(stream, 5);
    g_autoptr(GByteArray) echo = NULL;

    g_assert_cmpuint(hello->len, ==, 5);
    g_assert_cmpmem(hello->data, 5, "HELLO", 5);
    write_all(stream, "ping\n");
    echo = read_exactly(stream, 5);
    g_assert_cmpmem(echo->data, echo->len, "ping\n", 5);
}

static void
test_stream_upgrade(void)
{
    Target target = { 0 };
    g_autoptr(GError) error = NULL;

    if (!target_start(&target)) {
        target_stop(&target);
        return;
    }
    /* https, verified against the certificate's own CA file. */
    {
        g_autoptr(PodvmPeer) peer = peer_for(&target, target.tls_url, TOKEN, TRUE, FALSE, 0);
        g_autoptr(GIOStream) stream = open_stream(peer, "m1", SECRET, "migration", &error);

        g_assert_no_error(error);
        g_assert_true(G_IS_TCP_WRAPPER_CONNECTION(stream));
        g_assert_true(G_IS_TLS_CONNECTION(
            g_tcp_wrapper_connection_get_base_io_stream(G_TCP_WRAPPER_CONNECTION(stream))));
        check_hello_and_echo(stream);
        g_assert_cmpstr(target.last_channel, ==, "migration");
        /* The channel is URL-encoded and decoded by the server. */
        {
            g_autoptr(GIOStream) nbd = open_stream(peer, "m1", SECRET, "nbd:data", &error);
            g_assert_no_error(error);
            check_hello_and_echo(nbd);
            g_assert_cmpstr(target.last_channel, ==, "nbd:data");
        }
    }
    /* Plain http, allowed. */
    {
        g_autoptr(PodvmPeer) peer = peer_for(&target, target.plain_url, TOKEN, FALSE, TRUE, 0);
        g_autoptr(GIOStream) stream = open_stream(peer, "m1", SECRET, "migration", &error);

        g_assert_no_error(error);
        g_assert_true(G_IS_SOCKET_CONNECTION(stream));
        g_assert_false(G_IS_TCP_WRAPPER_CONNECTION(stream));
        check_hello_and_echo(stream);
    }
    g_assert_cmpuint(target.streams_upgraded, ==, 3);
    /* Refusals: the answer's error document, mapped like a JSON call's. */
    {
        g_autoptr(PodvmPeer) peer = peer_for(&target, target.tls_url, TOKEN, TRUE, FALSE, 0);
        g_autoptr(PodvmPeer) wrong = peer_for(&target, target.tls_url, "nope", TRUE, FALSE, 0);
        g_autoptr(PodvmPeer) untrusting = peer_for(&target, target.tls_url, TOKEN, FALSE, FALSE, 0);

        g_assert_null(
            open_stream(peer, "m1", "wrong-secret-wrong-secret-wrong-secret", "migration", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_assert_nonnull(strstr(error->message, "wrong secret"));
        g_clear_error(&error);
        g_assert_null(open_stream(peer, "m9", SECRET, "migration", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        g_clear_error(&error);
        g_assert_null(open_stream(peer, "m1", SECRET, "nbd:other", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(error->message, "no such channel"));
        g_clear_error(&error);
        g_assert_null(open_stream(wrong, "m1", SECRET, "migration", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_PERMISSION_DENIED);
        g_assert_nonnull(strstr(error->message, "refused the token"));
        g_clear_error(&error);
        g_assert_null(open_stream(untrusting, "m1", SECRET, "migration", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_IO);
        g_assert_nonnull(strstr(error->message, target.tls_url));
        g_clear_error(&error);
        g_assert_null(open_stream(peer, "m1", "a\r\nb", "migration", &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT);
        g_clear_error(&error);
    }
    g_assert_cmpuint(target.streams_upgraded, ==, 3);
    target_stop(&target);
}

/* A server that answers 101 and its first bytes in one write: none may be lost. */
static void
raw_server_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GSocketConnection **out = user_data;
    *out = g_socket_listener_accept_finish(G_SOCKET_LISTENER(source), result, NULL, NULL);
}

static gboolean
connection_accepted(gpointer user_data)
{
    return *(GSocketConnection **)user_data != NULL;
}

static void
test_stream_first_bytes(void)
{
    static const char answer[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Upgrade: " PODVM_MIGRATION_UPGRADE "\r\n"
                                 "\r\n"
                                 "HELLO, the first bytes of the channel";
    g_autoptr(GSocketListener) listener = g_socket_listener_new();
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GSocketAddress) effective = NULL;
    g_autoptr(GSocketConnection) server = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) request = g_byte_array_new();
    g_autofree char *url = NULL;
    PodvmPeerSettings settings = { .token = (char *)TOKEN, .plaintext_ok = TRUE };
    g_autoptr(PodvmPeer) peer = NULL;
    g_autoptr(GByteArray) first = NULL;
    Waiter waiter = { 0 };
    g_autoptr(GIOStream) stream = NULL;

    g_assert_true(g_socket_listener_add_address(listener, address, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error));
    g_assert_no_error(error);
    url = g_strdup_printf("http://127.0.0.1:%u",
                          g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective)));
    settings.url = url;
    peer = podvm_peer_new(&settings, &error);
    g_assert_no_error(error);
    g_socket_listener_accept_async(listener, NULL, raw_server_cb, &server);
    podvm_peer_open_stream_async(peer, "m1", SECRET, "nbd:disk-1", NULL, waiter_cb, &waiter);
    g_assert_true(podvm_test_wait_until(connection_accepted, &server, 10000));
    /* The whole request head, then the answer and the first bytes in one write. */
    while (request->len < 4 || memcmp(request->data + request->len - 4, "\r\n\r\n", 4) != 0) {
        guint8 byte;
        g_assert_cmpint(g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(server)),
                                            &byte, 1, NULL, &error),
                        ==, 1);
        g_byte_array_append(request, &byte, 1);
    }
    g_byte_array_append(request, (const guint8 *)"", 1);
    g_test_message("%s", (const char *)request->data);
    g_assert_true(
        g_str_has_prefix((const char *)request->data,
                         "GET /v1/migrations/m1/stream?channel=nbd%3Adisk-1 HTTP/1.1\r\n"));
    g_assert_nonnull(
        strstr((const char *)request->data, "\r\nAuthorization: Bearer " TOKEN "\r\n"));
    g_assert_nonnull(strstr((const char *)request->data,
                            "\r\n" PODVM_MIGRATION_SECRET_HEADER ": " SECRET "\r\n"));
    g_assert_nonnull(strstr((const char *)request->data, "\r\nConnection: Upgrade\r\n"));
    g_assert_nonnull(
        strstr((const char *)request->data, "\r\nUpgrade: " PODVM_MIGRATION_UPGRADE "\r\n"));
    g_assert_nonnull(strstr((const char *)request->data, "\r\nHost: 127.0.0.1:"));
    g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(server)),
                                            answer, strlen(answer), NULL, NULL, &error));
    g_assert_true(podvm_test_wait_until(waiter_has_result, &waiter, 10000));
    stream = podvm_peer_open_stream_finish(peer, waiter.result, &error);
    g_object_unref(waiter.result);
    g_assert_no_error(error);
    first = read_exactly(stream, strlen("HELLO, the first bytes of the channel"));
    g_assert_cmpmem(first->data, first->len, "HELLO, the first bytes of the channel",
                    strlen("HELLO, the first bytes of the channel"));

    /* An answer that is not 101 and not HTTP. */
    {
        g_autoptr(GSocketConnection) second = NULL;
        Waiter refused = { 0 };

        g_socket_listener_accept_async(listener, NULL, raw_server_cb, &second);
        podvm_peer_open_stream_async(peer, "m1", SECRET, "migration", NULL, waiter_cb, &refused);
        g_assert_true(podvm_test_wait_until(connection_accepted, &second, 10000));
        g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(second)),
                                                "SSH-2.0-x\r\n\r\n", 13, NULL, NULL, &error));
        g_assert_true(podvm_test_wait_until(waiter_has_result, &refused, 10000));
        g_assert_null(podvm_peer_open_stream_finish(peer, refused.result, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_clear_error(&error);
        g_object_unref(refused.result);
    }
    /* A head that never ends is cut at 16 KiB. */
    {
        g_autoptr(GSocketConnection) third = NULL;
        g_autofree char *junk = g_malloc(20000);
        Waiter refused = { 0 };

        memset(junk, 'a', 20000);
        memcpy(junk, "HTTP/1.1 101 OK\r\nX: ", 20);
        g_socket_listener_accept_async(listener, NULL, raw_server_cb, &third);
        podvm_peer_open_stream_async(peer, "m1", SECRET, "migration", NULL, waiter_cb, &refused);
        g_assert_true(podvm_test_wait_until(connection_accepted, &third, 10000));
        g_output_stream_write_all_async(g_io_stream_get_output_stream(G_IO_STREAM(third)), junk,
                                        20000, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        g_assert_true(podvm_test_wait_until(waiter_has_result, &refused, 10000));
        g_assert_null(podvm_peer_open_stream_finish(peer, refused.result, &error));
        g_assert_error(error, PODVM_ERROR, PODVM_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "16384"));
        g_clear_error(&error);
        g_object_unref(refused.result);
        g_io_stream_close(G_IO_STREAM(third), NULL, NULL);
    }
    g_socket_listener_close(listener);
}

/* --- the relay ------------------------------------------------------------------ */

typedef struct {
    gboolean done;
    GError *why;
    guint calls;
} RelayEnd;

static void
relay_done_cb(PodvmRelay *relay, const GError *why, gpointer user_data)
{
    RelayEnd *end = user_data;

    end->done = TRUE;
    end->calls++;
    g_clear_error(&end->why);
    if (why != NULL)
        end->why = g_error_copy(why);
}

static gboolean
relay_ended(gpointer user_data)
{
    return ((RelayEnd *)user_data)->done;
}

/* The test's ends of the socket pairs, driven by threads with blocking I/O. */
typedef struct {
    int fd;
    guint64 length;
    guint32 seed;
    guint64 done;
    gboolean ok;
    gboolean hello; /* reading: "HELLO" comes first */
} Pump;

static guint8
pattern(guint32 seed, guint64 offset)
{
    return (guint8)((offset * 2654435761u) >> 13) ^ (guint8)seed;
}

static gpointer
pump_write(gpointer user_data)
{
    Pump *pump = user_data;
    g_autofree guint8 *buffer = g_malloc(100000);

    while (pump->done < pump->length) {
        gsize chunk = MIN(100000, pump->length - pump->done);
        ssize_t n;

        for (gsize i = 0; i < chunk; i++)
            buffer[i] = pattern(pump->seed, pump->done + i);
        n = send(pump->fd, buffer, chunk, MSG_NOSIGNAL);
        if (n <= 0)
            return NULL;
        pump->done += (guint64)n;
        /* A short write resends the rest, pattern by offset. */
    }
    shutdown(pump->fd, SHUT_WR);
    pump->ok = TRUE;
    return NULL;
}

static gpointer
pump_read(gpointer user_data)
{
    Pump *pump = user_data;
    g_autofree guint8 *buffer = g_malloc(77777);

    pump->ok = TRUE;
    if (pump->hello) {
        char hello[5];
        if (recv(pump->fd, hello, 5, MSG_WAITALL) != 5 || memcmp(hello, "HELLO", 5) != 0) {
            pump->ok = FALSE;
            return NULL;
        }
    }
    for (;;) {
        ssize_t n = recv(pump->fd, buffer, 77777, 0);

        if (n < 0) {
            pump->ok = FALSE;
            return NULL;
        }
        if (n == 0)
            return NULL;
        for (ssize_t i = 0; i < n; i++) {
            if (buffer[i] != pattern(pump->seed, pump->done + (guint64)i))
                pump->ok = FALSE;
        }
        pump->done += (guint64)n;
    }
}

static void
socket_pair(int *test_end, GIOStream **relay_end)
{
    g_autoptr(GSocket) qemu_end = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(podvm_relay_socketpair(&qemu_end, relay_end, &error));
    g_assert_no_error(error);
    g_assert_true(G_IS_SOCKET_CONNECTION(*relay_end));
    /* The test's end blocks; the relay's stays non-blocking. */
    *test_end = dup(g_socket_get_fd(qemu_end));
    g_assert_cmpint(*test_end, >=, 0);
    g_assert_true(g_unix_set_fd_nonblocking(*test_end, FALSE, NULL));
}

static void
test_relay_64mib(void)
{
    guint64 length = 64 * MIB;
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    g_autoptr(PodvmRelay) relay = NULL;
    RelayEnd end = { 0 };
    int x, y;
    Pump x_out, y_in, y_out, x_in;
    GThread *threads[4];
    gint64 created;

    socket_pair(&x, &a);
    socket_pair(&y, &b);
    x_out = (Pump){ .fd = x, .length = length, .seed = 1 };
    y_in = (Pump){ .fd = y, .seed = 1 };
    y_out = (Pump){ .fd = y, .length = length, .seed = 2 };
    x_in = (Pump){ .fd = x, .seed = 2 };
    relay = podvm_relay_new(a, b, relay_done_cb, &end);
    created = podvm_relay_last_progress_us(relay);
    g_assert_true(podvm_relay_is_open(relay));
    g_assert_cmpuint(podvm_relay_bytes_a_to_b(relay), ==, 0);
    threads[0] = g_thread_new("x-out", pump_write, &x_out);
    threads[1] = g_thread_new("y-in", pump_read, &y_in);
    threads[2] = g_thread_new("y-out", pump_write, &y_out);
    threads[3] = g_thread_new("x-in", pump_read, &x_in);
    g_assert_true(podvm_test_wait_until(relay_ended, &end, 120000));
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
        g_thread_join(threads[i]);
    g_assert_no_error(end.why);
    g_assert_cmpuint(end.calls, ==, 1);
    g_assert_true(x_out.ok && y_out.ok);
    g_assert_true(y_in.ok);
    g_assert_true(x_in.ok);
    g_assert_cmpuint(y_in.done, ==, length);
    g_assert_cmpuint(x_in.done, ==, length);
    g_assert_cmpuint(podvm_relay_bytes_a_to_b(relay), ==, length);
    g_assert_cmpuint(podvm_relay_bytes_b_to_a(relay), ==, length);
    g_assert_cmpint(podvm_relay_last_progress_us(relay), >, created);
    g_assert_false(podvm_relay_is_open(relay));
    close(x);
    close(y);
}

static void
send_text(int fd, const char *text)
{
    g_assert_cmpint(send(fd, text, strlen(text), MSG_NOSIGNAL), ==, (gssize)strlen(text));
}

static gboolean
fd_readable_eof(int fd, char *buffer, gsize size, gssize *out)
{
    *out = recv(fd, buffer, size, MSG_DONTWAIT);
    return *out >= 0 || errno != EAGAIN;
}

typedef struct {
    int fd;
    char buffer[256];
    gssize n;
    gboolean got; /* latched: podvm_test_wait_until() asks once more at the end */
} FdWait;

static gboolean
fd_has_something(gpointer user_data)
{
    FdWait *wait = user_data;

    if (!wait->got)
        wait->got = fd_readable_eof(wait->fd, wait->buffer, sizeof(wait->buffer), &wait->n);
    return wait->got;
}

/* Waits for the next bytes, end or error on @fd. */
static gboolean
fd_wait(FdWait *wait, int fd)
{
    wait->fd = fd;
    wait->got = FALSE;
    return podvm_test_wait_until(fd_has_something, wait, 10000);
}

static gboolean
relay_wrote_4(gpointer user_data)
{
    return podvm_relay_bytes_a_to_b(user_data) == 4;
}

static void
test_relay_half_close(void)
{
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    g_autoptr(PodvmRelay) relay = NULL;
    RelayEnd end = { 0 };
    FdWait wait = { 0 };
    gint64 before;
    int x, y;

    socket_pair(&x, &a);
    socket_pair(&y, &b);
    g_unix_set_fd_nonblocking(x, TRUE, NULL);
    g_unix_set_fd_nonblocking(y, TRUE, NULL);
    relay = podvm_relay_new(a, b, relay_done_cb, &end);

    /* Bytes move, and the time of the last progress with them. */
    before = podvm_relay_last_progress_us(relay);
    g_usleep(2000);
    send_text(x, "to y");
    g_assert_true(fd_wait(&wait, y));
    g_assert_cmpmem(wait.buffer, wait.n, "to y", 4);
    g_assert_cmpint(podvm_relay_last_progress_us(relay), >, before);
    /* The write's completion comes after the reader had the bytes. */
    g_assert_true(podvm_test_wait_until(relay_wrote_4, relay, 10000));
    before = podvm_relay_last_progress_us(relay);
    /* Nothing moves: it stays. */
    podvm_test_wait_until(relay_ended, &end, 100);
    g_assert_cmpint(podvm_relay_last_progress_us(relay), ==, before);

    /* x says it is done: y hears the end, the other way still works. */
    shutdown(x, SHUT_WR);
    g_assert_true(fd_wait(&wait, wait.fd));
    g_assert_cmpint(wait.n, ==, 0);
    g_assert_false(end.done);
    g_assert_true(podvm_relay_is_open(relay));
    send_text(y, "to x, after");
    g_assert_true(fd_wait(&wait, x));
    g_assert_cmpmem(wait.buffer, wait.n, "to x, after", 11);
    g_assert_cmpint(podvm_relay_last_progress_us(relay), >, before);
    /* y is done too: the relay ends, cleanly, and closes both. */
    shutdown(y, SHUT_WR);
    g_assert_true(podvm_test_wait_until(relay_ended, &end, 10000));
    g_assert_no_error(end.why);
    g_assert_true(fd_wait(&wait, wait.fd));
    g_assert_cmpint(wait.n, ==, 0);
    g_assert_cmpuint(podvm_relay_bytes_a_to_b(relay), ==, 4);
    g_assert_cmpuint(podvm_relay_bytes_b_to_a(relay), ==, 11);
    g_assert_false(podvm_relay_is_open(relay));
    /* Closing an ended relay does not report again. */
    podvm_relay_close(relay);
    g_assert_cmpuint(end.calls, ==, 1);
    close(x);
    close(y);
}

static void
test_relay_error_ends_both(void)
{
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    g_autoptr(PodvmRelay) relay = NULL;
    RelayEnd end = { 0 };
    FdWait wait = { 0 };
    int x, y;

    socket_pair(&x, &a);
    socket_pair(&y, &b);
    g_unix_set_fd_nonblocking(y, TRUE, NULL);
    relay = podvm_relay_new(a, b, relay_done_cb, &end);
    /* x goes away entirely; what y sends then cannot be delivered: both end. */
    close(x);
    g_assert_true(fd_wait(&wait, y));
    g_assert_cmpint(wait.n, ==, 0);
    send_text(y, "nobody hears this");
    g_assert_true(podvm_test_wait_until(relay_ended, &end, 10000));
    g_assert_error(end.why, PODVM_ERROR, PODVM_ERROR_IO);
    g_assert_false(podvm_relay_is_open(relay));
    /* The relay closed its end of y's pair: y reads the end. */
    g_assert_true(fd_wait(&wait, wait.fd));
    g_assert_cmpint(wait.n, <=, 0);
    g_clear_error(&end.why);
    close(y);
}

static void
test_relay_close(void)
{
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    RelayEnd end = { 0 };
    FdWait wait = { 0 };
    PodvmRelay *relay;
    int x, y;

    socket_pair(&x, &a);
    socket_pair(&y, &b);
    g_unix_set_fd_nonblocking(x, TRUE, NULL);
    relay = podvm_relay_new(a, b, relay_done_cb, &end);
    /* Closed by its owner: done says CANCELLED, once; the streams close. */
    podvm_relay_close(relay);
    g_assert_true(end.done);
    g_assert_error(end.why, PODVM_ERROR, PODVM_ERROR_CANCELLED);
    g_assert_false(podvm_relay_is_open(relay));
    podvm_relay_free(relay);
    g_assert_cmpuint(end.calls, ==, 1);
    g_assert_true(fd_wait(&wait, x));
    g_assert_cmpint(wait.n, ==, 0);
    g_clear_error(&end.why);
    close(x);
    close(y);

    /* Freed without a close: done runs with CANCELLED. */
    {
        g_autoptr(GIOStream) c = NULL;
        g_autoptr(GIOStream) d = NULL;
        RelayEnd second = { 0 };

        socket_pair(&x, &c);
        socket_pair(&y, &d);
        relay = podvm_relay_new(c, d, relay_done_cb, &second);
        podvm_relay_free(relay);
        g_assert_cmpuint(second.calls, ==, 1);
        g_assert_error(second.why, PODVM_ERROR, PODVM_ERROR_CANCELLED);
        g_clear_error(&second.why);
        /* The cancelled reads come back to a relay that is gone. */
        podvm_test_wait_until(relay_ended, &(RelayEnd){ 0 }, 200);
        close(x);
        close(y);
    }
}

/* Freed from its own done callback. */
static void
free_in_done_cb(PodvmRelay *relay, const GError *why, gpointer user_data)
{
    gboolean *freed = user_data;

    podvm_relay_free(relay);
    *freed = TRUE;
}

static gboolean
flag_set(gpointer user_data)
{
    return *(gboolean *)user_data;
}

static void
test_relay_free_in_done(void)
{
    g_autoptr(GIOStream) a = NULL;
    g_autoptr(GIOStream) b = NULL;
    gboolean freed = FALSE;
    int x, y;

    socket_pair(&x, &a);
    socket_pair(&y, &b);
    podvm_relay_new(a, b, free_in_done_cb, &freed);
    shutdown(x, SHUT_WR);
    shutdown(y, SHUT_WR);
    g_assert_true(podvm_test_wait_until(flag_set, &freed, 10000));
    podvm_test_wait_until(flag_set, &(gboolean){ FALSE }, 100);
    close(x);
    close(y);
}

/* The whole path of a channel: QEMU's socketpair end <-> relay <-> TLS stream <-> the target. */
static void
test_relay_over_tls_stream(void)
{
    guint64 length = 64 * MIB;
    Target target = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmPeer) peer = NULL;
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GIOStream) ours = NULL;
    g_autoptr(PodvmRelay) relay = NULL;
    RelayEnd end = { 0 };
    Pump out, in;
    GThread *writer, *reader;
    int x;

    if (!target_start(&target)) {
        target_stop(&target);
        return;
    }
    peer = peer_for(&target, target.tls_url, TOKEN, TRUE, FALSE, 0);
    stream = open_stream(peer, "m1", SECRET, "migration", &error);
    g_assert_no_error(error);
    socket_pair(&x, &ours);
    relay = podvm_relay_new(ours, stream, relay_done_cb, &end);
    /* QEMU's end hears the target's first bytes, then its own echoed. */
    out = (Pump){ .fd = x, .length = length, .seed = 7 };
    in = (Pump){ .fd = x, .seed = 7, .hello = TRUE };
    writer = g_thread_new("out", pump_write, &out);
    reader = g_thread_new("in", pump_read, &in);
    g_assert_true(podvm_test_wait_until(relay_ended, &end, 120000));
    g_thread_join(writer);
    g_thread_join(reader);
    g_assert_no_error(end.why);
    g_assert_true(out.ok);
    g_assert_true(in.ok);
    g_assert_cmpuint(in.done, ==, length);
    g_assert_cmpuint(podvm_relay_bytes_a_to_b(relay), ==, length);
    g_assert_cmpuint(podvm_relay_bytes_b_to_a(relay), ==, length + 5);
    close(x);
    g_clear_pointer(&relay, podvm_relay_free);
    target_stop(&target);
}

static gboolean
relay_not_open(gpointer user_data)
{
    return !podvm_relay_is_open(user_data);
}

static gboolean
upgraded(gpointer user_data)
{
    return ((Target *)user_data)->relay != NULL;
}

/*
 * What a target podvmd does with a stolen stream (a SoupIOStream over TCP
 * or TLS): a relay to its QEMU's socket. Each side's end reaches the other
 * through it, in both directions, and then the relay ends.
 */
static void
test_relay_on_stolen_stream(gconstpointer data)
{
    gboolean tls = GPOINTER_TO_INT(data);
    Target target = { .relay_mode = TRUE };
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmPeer) peer = NULL;
    g_autoptr(GIOStream) stream = NULL;
    g_autoptr(GByteArray) got = NULL;
    FdWait wait = { 0 };

    if (!target_start(&target)) {
        target_stop(&target);
        return;
    }
    peer = tls ? peer_for(&target, target.tls_url, TOKEN, TRUE, FALSE, 0)
               : peer_for(&target, target.plain_url, TOKEN, FALSE, TRUE, 0);
    stream = open_stream(peer, "m1", SECRET, "migration", &error);
    g_assert_no_error(error);
    g_assert_true(podvm_test_wait_until(upgraded, &target, 10000));
    g_unix_set_fd_nonblocking(target.qemu_fd, TRUE, NULL);
    /* source -> target QEMU */
    write_all(stream, "to qemu");
    g_assert_true(fd_wait(&wait, target.qemu_fd));
    g_assert_cmpmem(wait.buffer, wait.n, "to qemu", 7);
    /* target QEMU -> source, then its end: the source reads it, then the end. */
    send_text(target.qemu_fd, "from qemu");
    shutdown(target.qemu_fd, SHUT_WR);
    got = read_exactly(stream, 100);
    g_assert_cmpmem(got->data, got->len, "from qemu", 9);
    /* The source still writes; then it ends too, and so does the relay. */
    write_all(stream, "late");
    g_assert_true(fd_wait(&wait, target.qemu_fd));
    g_assert_cmpmem(wait.buffer, wait.n, "late", 4);
    if (G_IS_SOCKET_CONNECTION(stream) && !G_IS_TCP_WRAPPER_CONNECTION(stream))
        g_socket_shutdown(g_socket_connection_get_socket(G_SOCKET_CONNECTION(stream)), FALSE, TRUE,
                          NULL);
    else
        g_output_stream_close(g_io_stream_get_output_stream(stream), NULL, NULL);
    g_assert_true(fd_wait(&wait, target.qemu_fd));
    g_assert_cmpint(wait.n, ==, 0);
    g_assert_true(podvm_test_wait_until(relay_not_open, target.relay, 10000));
    g_assert_cmpuint(podvm_relay_bytes_a_to_b(target.relay), ==, 9);
    g_assert_cmpuint(podvm_relay_bytes_b_to_a(target.relay), ==, 11);
    target_stop(&target);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /*
     * GLib's pool threads (TLS handshakes, name lookups) end when their
     * work does, rather than wait for more: at exit, LeakSanitizer's
     * tracer (GCC 12) crashed now and then on the dynamic TLS of such a
     * thread that had run GnuTLS ("Tracer caught signal 11" after "DTLS").
     */
    g_thread_pool_set_max_unused_threads(0);
    g_test_add_func("/migration/doc/offer-round-trip", test_offer_round_trip);
    g_test_add_func("/migration/doc/answer-round-trip", test_answer_round_trip);
    g_test_add_func("/migration/doc/offer-refusals", test_offer_refusals);
    g_test_add_func("/migration/doc/answer-refusals", test_answer_refusals);
    g_test_add_func("/migration/doc/ids-and-secrets", test_ids_and_secrets);
    g_test_add_func("/migration/peer/settings", test_peer_settings);
    g_test_add_func("/migration/peer/calls", test_peer_calls);
    g_test_add_func("/migration/peer/unreachable", test_peer_unreachable);
    g_test_add_func("/migration/peer/stream-upgrade", test_stream_upgrade);
    g_test_add_func("/migration/peer/stream-first-bytes", test_stream_first_bytes);
    g_test_add_func("/migration/relay/64mib-both-ways", test_relay_64mib);
    g_test_add_func("/migration/relay/half-close", test_relay_half_close);
    g_test_add_func("/migration/relay/error-ends-both", test_relay_error_ends_both);
    g_test_add_func("/migration/relay/close", test_relay_close);
    g_test_add_func("/migration/relay/free-in-done", test_relay_free_in_done);
    g_test_add_func("/migration/relay/over-tls-stream", test_relay_over_tls_stream);
    g_test_add_data_func("/migration/relay/on-stolen-stream-http", GINT_TO_POINTER(FALSE),
                         test_relay_on_stolen_stream);
    g_test_add_data_func("/migration/relay/on-stolen-stream-https", GINT_TO_POINTER(TRUE),
                         test_relay_on_stolen_stream);
    return g_test_run();
}
