/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the source's entry points of the manager: the request
 * both fronts carry ({"target", "tokenFile", "cacert", "plaintext",
 * "postcopy", "maxBandwidth", "maxDowntimeMs", "noProgressTimeoutMs"}) is
 * checked here, completely, before anything moves: the peer is a [peer
 * NAME] of podvmd.conf or a URL with its token file. The token is read
 * here and never logged. The migration itself is the pod's
 * (podvm-pod-migrate.c).
 */
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "podvm-error.h"
#include "podvm-manager.h"
#include "migration/podvm-peer.h"
#include "podvm-quantity.h"
#include "podvm-storage.h"

typedef struct {
    char *url;
    char *token_file;
    char *cacert;
    gboolean plaintext;
    gboolean plaintext_given;
    PodvmMigrateOptions options;
} MigrateRequest;

static void
migrate_request_clear(MigrateRequest *request)
{
    g_free(request->url);
    g_free(request->token_file);
    g_free(request->cacert);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MigrateRequest, migrate_request_clear)

static gboolean
member_error(GError **error, const char *member, const char *what)
{
    g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT, "\"%s\": %s", member, what);
    return FALSE;
}

static gboolean
get_string(JsonNode *value, const char *member, const char **out, GError **error)
{
    if (json_node_get_value_type(value) != G_TYPE_STRING || *json_node_get_string(value) == '\0')
        return member_error(error, member, _("must be a non-empty string"));
    *out = json_node_get_string(value);
    return TRUE;
}

static gboolean
get_bool(JsonNode *value, const char *member, gboolean *out, GError **error)
{
    if (json_node_get_value_type(value) != G_TYPE_BOOLEAN)
        return member_error(error, member, _("must be true or false"));
    *out = json_node_get_boolean(value);
    return TRUE;
}

static gboolean
get_ms(JsonNode *value, const char *member, guint min, guint max, guint *out, GError **error)
{
    g_autofree char *what = NULL;

    if (json_node_get_value_type(value) != G_TYPE_INT64 || json_node_get_int(value) < min ||
        json_node_get_int(value) > max) {
        what = g_strdup_printf(_("must be a whole number of milliseconds from %u to %u"), min, max);
        return member_error(error, member, what);
    }
    *out = (guint)json_node_get_int(value);
    return TRUE;
}

static gboolean
get_bandwidth(JsonNode *value, guint64 *out, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (json_node_get_value_type(value) == G_TYPE_INT64) {
        if (json_node_get_int(value) < 0)
            return member_error(error, "maxBandwidth",
                                _("must be a number of bytes a second (0: no limit)"));
        *out = (guint64)json_node_get_int(value);
        return TRUE;
    }
    if (json_node_get_value_type(value) != G_TYPE_STRING)
        return member_error(error, "maxBandwidth",
                            _("must be a quantity such as \"100Mi\" or a number of bytes a "
                              "second"));
    if (!podvm_quantity_parse_bytes(json_node_get_string(value), out, &local))
        return member_error(error, "maxBandwidth", local->message);
    return TRUE;
}

static const PodvmConfigPeer *
find_peer_by_url(const PodvmConfig *config, const char *url)
{
    for (guint i = 0; config->peers != NULL && i < config->peers->len; i++) {
        const PodvmConfigPeer *peer = g_ptr_array_index(config->peers, i);

        if (g_str_equal(peer->url, url))
            return peer;
    }
    return NULL;
}

/* Parses and checks @json into @request (no file is read yet). */
static gboolean
request_parse(const PodvmConfig *config, JsonObject *json, MigrateRequest *request, GError **error)
{
    static const char *const known[] = {
        "target",        "tokenFile",           "cacert", "plaintext", "postcopy", "maxBandwidth",
        "maxDowntimeMs", "noProgressTimeoutMs", NULL
    };
    const char *target = NULL;
    const char *token_file = NULL;
    const char *cacert = NULL;
    const PodvmConfigPeer *peer;
    JsonObjectIter iter;
    const char *member;
    JsonNode *value;

    if (json == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("the request must be a JSON object with at least \"target\""));
        return FALSE;
    }
    json_object_iter_init(&iter, json);
    while (json_object_iter_next(&iter, &member, &value)) {
        gboolean ok;

        if (!g_strv_contains(known, member)) {
            g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                        _("unknown member \"%s\"; expected target, tokenFile, cacert, plaintext, "
                          "postcopy, maxBandwidth, maxDowntimeMs, noProgressTimeoutMs"),
                        member);
            return FALSE;
        }
        if (g_str_equal(member, "target"))
            ok = get_string(value, member, &target, error);
        else if (g_str_equal(member, "tokenFile"))
            ok = get_string(value, member, &token_file, error);
        else if (g_str_equal(member, "cacert"))
            ok = get_string(value, member, &cacert, error);
        else if (g_str_equal(member, "plaintext")) {
            ok = get_bool(value, member, &request->plaintext, error);
            request->plaintext_given = TRUE;
        } else if (g_str_equal(member, "postcopy"))
            ok = get_bool(value, member, &request->options.postcopy, error);
        else if (g_str_equal(member, "maxBandwidth"))
            ok = get_bandwidth(value, &request->options.max_bandwidth, error);
        else if (g_str_equal(member, "maxDowntimeMs"))
            ok = get_ms(value, member, 1, 600000, &request->options.max_downtime_ms, error);
        else
            ok = get_ms(value, member, 100, 3600000, &request->options.no_progress_timeout_ms,
                        error);
        if (!ok)
            return FALSE;
    }
    if (target == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"target\" is required: the name of a [peer] of podvmd.conf or "
                      "https://HOST:PORT"));
        return FALSE;
    }
    peer = podvm_config_find_peer(config, target);
    if (peer == NULL && strstr(target, "://") != NULL) {
        if (!podvm_config_peer_url_valid(target))
            return member_error(error, "target", _("expected https://HOST:PORT"));
        peer = find_peer_by_url(config, target);
        request->url = g_strdup(target);
    } else if (peer == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"target\": no peer '%s' in podvmd.conf (a [peer %s] group), and not "
                      "a URL"),
                    target, target);
        return FALSE;
    } else {
        request->url = g_strdup(peer->url);
    }
    /* What the request says beats the [peer] group; a URL alone needs a token. */
    request->token_file = g_strdup(token_file != NULL ? token_file
                                   : peer != NULL     ? peer->token_file
                                                      : NULL);
    request->cacert = g_strdup(cacert != NULL ? cacert : peer != NULL ? peer->cacert : NULL);
    if (!request->plaintext_given && peer != NULL)
        request->plaintext = peer->plaintext;
    if (request->token_file == NULL) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"tokenFile\" is required with a URL: the file holding the target's "
                      "bearer token (or name a [peer] of podvmd.conf)"));
        return FALSE;
    }
    if (!g_path_is_absolute(request->token_file))
        return member_error(error, "tokenFile", _("must be an absolute path"));
    /*
     * podvmd reads it as root: a client's file must lie where a client may
     * name host files ([storage] allowed_host_paths, as for imports and
     * hostDisks), or any file's first line could be sent to a URL of the
     * client's choosing. A [peer]'s token_file is the administrator's.
     */
    if (token_file != NULL) {
        g_autoptr(GError) local = NULL;

        if (!podvm_storage_check_host_path(token_file,
                                           (const char *const *)config->allowed_host_paths, &local))
            return member_error(error, "tokenFile", local->message);
    }
    if (request->cacert != NULL && !g_path_is_absolute(request->cacert))
        return member_error(error, "cacert", _("must be an absolute path"));
    if (request->cacert != NULL && !g_file_test(request->cacert, G_FILE_TEST_IS_REGULAR))
        return member_error(error, "cacert", _("no such file"));
    if (g_str_has_prefix(request->url, "http://") && !request->plaintext) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_INVALID_ARGUMENT,
                    _("\"plaintext\": %s is http://, which sends the guest's memory and disks "
                      "in the clear; use https:// or set \"plaintext\": true"),
                    request->url);
        return FALSE;
    }
    return TRUE;
}

/* A token's bytes do not stay behind in freed memory. */
static void
token_clear(char **token)
{
    if (*token != NULL)
        explicit_bzero(*token, strlen(*token));
    g_clear_pointer(token, g_free);
}

static guint
count_migrating(PodvmManager *self)
{
    g_autoptr(GPtrArray) pods = podvm_manager_list(self);
    guint n = 0;

    for (guint i = 0; i < pods->len; i++)
        n += podvm_pod_is_migrating(g_ptr_array_index(pods, i)) ? 1 : 0;
    return n;
}

static void
pod_migrated_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GTask) task = user_data;
    GError *error = NULL;
    JsonNode *answer = podvm_pod_migrate_finish(PODVM_POD(source), result, &error);

    if (answer == NULL)
        g_task_return_error(task, error);
    else
        g_task_return_pointer(task, answer, (GDestroyNotify)json_node_unref);
}

/*
 * What refuses a migration before anything moves: the pod, the request,
 * the token file, another migration of the pod, max_parallel. The token
 * read goes to *@out_token.
 */
static PodvmPod *
migrate_check(PodvmManager *self, const char *name, JsonObject *request, MigrateRequest *parsed,
              char **out_token, GError **error)
{
    const PodvmConfig *config = podvm_manager_get_config(self);
    PodvmPod *pod;

    pod = podvm_manager_lookup(self, name, error);
    if (pod == NULL || !request_parse(config, request, parsed, error) ||
        (*out_token = podvm_config_read_peer_token(parsed->token_file, "tokenFile", error)) == NULL)
        return NULL;
    if (podvm_pod_is_migrating(pod)) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY, _("pod '%s' is already migrating"), name);
        return NULL;
    }
    if (count_migrating(self) >= config->migration_max_parallel) {
        g_set_error(error, PODVM_ERROR, PODVM_ERROR_BUSY,
                    _("%u migrations already run on this host ([migration] "
                      "max_parallel); try again when one ended"),
                    config->migration_max_parallel);
        return NULL;
    }
    return pod;
}

gboolean
podvm_manager_migrate_check(PodvmManager *self, const char *name, JsonObject *request,
                            GError **error)
{
    g_auto(MigrateRequest) parsed = { 0 };
    __attribute__((cleanup(token_clear))) char *token = NULL;

    return migrate_check(self, name, request, &parsed, &token, error) != NULL;
}

void
podvm_manager_migrate_async(PodvmManager *self, const char *name, JsonObject *request,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_auto(MigrateRequest) parsed = { 0 };
    PodvmPeerSettings settings = { 0 };
    __attribute__((cleanup(token_clear))) char *token = NULL;
    PodvmPeer *peer = NULL;
    GError *error = NULL;
    PodvmPod *pod;

    g_task_set_source_tag(task, podvm_manager_migrate_async);
    /* A migration that completed did so, whatever the caller's cancellable says. */
    g_task_set_check_cancellable(task, FALSE);
    pod = migrate_check(self, name, request, &parsed, &token, &error);
    if (pod == NULL) {
        g_task_return_error(task, error);
        return;
    }
    settings.url = parsed.url;
    settings.token = token;
    settings.cacert = parsed.cacert;
    settings.plaintext_ok = parsed.plaintext;
    parsed.options.token_file = parsed.token_file;
    parsed.options.cacert = parsed.cacert;
    parsed.options.plaintext = parsed.plaintext;
    peer = podvm_peer_new(&settings, &error);
    if (peer == NULL) {
        g_task_return_error(task, error);
        return;
    }
    podvm_pod_migrate_async(pod, peer, &parsed.options, cancellable, pod_migrated_cb,
                            g_steal_pointer(&task));
}

JsonNode *
podvm_manager_migrate_finish(PodvmManager *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

gboolean
podvm_manager_cancel_migration(PodvmManager *self, const char *name, GError **error)
{
    PodvmPod *pod = podvm_manager_lookup(self, name, error);

    return pod != NULL && podvm_pod_cancel_migration(pod, error);
}
