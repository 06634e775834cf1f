/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The API's edges, through both fronts of a real podvmd (a private
 * dbus-daemon, libsoup's HTTP client on the REST socket, podvmctl):
 * what REST refuses before a handler runs (a body that is not JSON: 415;
 * a query parameter the route does not know: 400 naming it), label
 * selectors in Kubernetes' syntax (REST ?labelSelector=, D-Bus
 * ListPodsFiltered and podvmctl list -l pick the same pods, and refuse the
 * same selectors with one message), ?wait=false refusing at once what the
 * waiting call refuses, the OperationFailed event of a refusal that comes
 * later, events with an id and a time, SSE resuming from Last-Event-ID,
 * and a volume import that failed giving its name back to a retry.
 */
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>

#include "podvm-test-daemon.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
    SoupSession *session;
} Fixture;

typedef struct {
    guint status;
    char *body;
    SoupMessageHeaders *headers;
} Response;

static void
response_free(Response *r)
{
    g_free(r->body);
    g_clear_pointer(&r->headers, soup_message_headers_unref);
    g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Response, response_free)

static void
fixture_start(Fixture *f, const char *conf)
{
    g_autofree char *socket_path = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    f->daemon = conf != NULL ? podvm_test_daemon_new_with_config(conf) : podvm_test_daemon_new();
    if (f->daemon == NULL)
        return;
    socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    address = g_unix_socket_address_new(socket_path);
    f->session = soup_session_new_with_options("remote-connectable", address, "timeout", 120,
                                               "max-conns-per-host", 16, NULL);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    fixture_start(f, data);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->session);
    podvm_test_daemon_free(f->daemon);
}

/* One request; @content_type NULL sends the body without one. */
static Response *
request(Fixture *f, const char *method, const char *path, const char *content_type,
        const char *body)
{
    g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;
    Response *r = g_new0(Response, 1);

    g_assert_nonnull(msg);
    if (body != NULL) {
        g_autoptr(GBytes) data = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, content_type, data);
        if (content_type == NULL)
            soup_message_headers_remove(soup_message_get_request_headers(msg), "Content-Type");
    }
    bytes = soup_session_send_and_read(f->session, msg, NULL, &error);
    g_assert_no_error(error);
    r->status = soup_message_get_status(msg);
    r->body = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    r->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
    return r;
}

/* A JSON request; asserts @expected_status and returns the body. */
static char *
http(Fixture *f, const char *method, const char *path, const char *body, guint expected_status)
{
    g_autoptr(Response) r = request(f, method, path, "application/json", body);

    if (r->status != expected_status)
        g_test_message("%s %s: %u %s", method, path, r->status, r->body);
    g_assert_cmpuint(r->status, ==, expected_status);
    return g_steal_pointer(&r->body);
}

static JsonObject *
parse_object(const char *text)
{
    g_autoptr(JsonNode) node = json_from_string(text, NULL);

    g_assert_nonnull(node);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
    return json_object_ref(json_node_get_object(node));
}

/* {"error": {code, reason, message}}: asserts @reason, returns the message. */
static char *
error_message(const char *body, const char *reason)
{
    g_autoptr(JsonObject) doc = parse_object(body);
    JsonObject *error = json_object_get_object_member(doc, "error");

    g_assert_nonnull(error);
    g_assert_cmpstr(json_object_get_string_member(error, "reason"), ==, reason);
    return g_strdup(json_object_get_string_member(error, "message"));
}

/* The remote error's message without the D-Bus name; asserts the name ends in @reason. */
static char *
dbus_error_message(GError *error, const char *reason)
{
    g_autofree char *name = g_dbus_error_get_remote_error(error);
    g_autofree char *suffix = g_strconcat(".", reason, NULL);

    g_assert_nonnull(name);
    if (!g_str_has_suffix(name, suffix))
        g_test_message("D-Bus error %s: %s", name, error->message);
    g_assert_true(g_str_has_suffix(name, suffix));
    g_dbus_error_strip_remote_error(error);
    return g_strdup(error->message);
}

/* The test guest's spec for @name with metadata.labels from "k=v" pairs (NULL-terminated). */
static char *
spec_with_labels(const char *name, const char *first_label, ...)
{
    g_autofree char *text = podvm_test_guest_spec(name, NULL, NULL, 0);
    g_autoptr(JsonNode) node = json_from_string(text, NULL);
    JsonObject *metadata = json_object_get_object_member(json_node_get_object(node), "metadata");
    g_autoptr(JsonObject) labels = json_object_new();
    va_list args;

    va_start(args, first_label);
    for (const char *label = first_label; label != NULL; label = va_arg(args, const char *)) {
        g_auto(GStrv) kv = g_strsplit(label, "=", 2);
        json_object_set_string_member(labels, kv[0], kv[1]);
    }
    va_end(args);
    json_object_set_object_member(metadata, "labels", g_steal_pointer(&labels));
    return json_to_string(node, FALSE);
}

static void
create_pod(Fixture *f, const char *spec)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
}

/* "a b c": the names of a JSON array of pods, in order. */
static char *
names_of(const char *list)
{
    g_autoptr(JsonNode) node = json_from_string(list, NULL);
    g_autoptr(GString) names = g_string_new(NULL);
    JsonArray *array;

    g_assert_nonnull(node);
    array = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonObject *pod = json_array_get_object_element(array, i);
        JsonObject *metadata = json_object_get_object_member(pod, "metadata");

        g_string_append_printf(names, "%s%s", i > 0 ? " " : "",
                               json_object_get_string_member(metadata, "name"));
    }
    return g_string_free(g_steal_pointer(&names), FALSE);
}

/* ---- REST: what is refused before a handler runs --------------------------------- */

static void
test_content_type(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_guest_spec("typed", NULL, NULL, 0);
    {
        /* What curl -d sends: refused, and nothing is created. */
        g_autoptr(Response) r =
            request(f, "POST", "/v1/pods", "application/x-www-form-urlencoded", spec);
        g_autofree char *message = NULL;

        g_assert_cmpuint(r->status, ==, 415);
        message = error_message(r->body, "UnsupportedMediaType");
        g_assert_nonnull(strstr(message, "application/x-www-form-urlencoded"));
        g_assert_nonnull(strstr(message, "application/json"));
        g_assert_cmpstr(soup_message_headers_get_one(r->headers, "Accept-Post"), ==,
                        "application/json");
    }
    {
        g_autoptr(Response) r = request(f, "GET", "/v1/pods/typed", NULL, NULL);
        g_assert_cmpuint(r->status, ==, 404);
    }
    {
        g_autoptr(Response) r = request(f, "POST", "/v1/pods", "application/yaml", spec);
        g_assert_cmpuint(r->status, ==, 415);
    }
    {
        /* An operation's body too. */
        g_autoptr(Response) r =
            request(f, "POST", "/v1/volumes", "text/plain", "{\"name\": \"v\", \"size\": 1}");
        g_assert_cmpuint(r->status, ==, 415);
    }
    {
        /* JSON with parameters, in any case, is JSON. */
        g_autoptr(Response) r =
            request(f, "POST", "/v1/pods", "Application/JSON; charset=utf-8", spec);
        g_assert_cmpuint(r->status, ==, 201);
    }
    {
        /* A body that says nothing of its type is read as JSON. */
        g_autofree char *other = podvm_test_guest_spec("untyped", NULL, NULL, 0);
        g_autoptr(Response) r = request(f, "POST", "/v1/pods", NULL, other);
        g_assert_cmpuint(r->status, ==, 201);
    }
    {
        /* An empty body is not checked: there is nothing to misread. */
        g_autoptr(Response) r =
            request(f, "POST", "/v1/pods/typed/pause", "application/x-www-form-urlencoded", "");
        g_assert_cmpuint(r->status, ==, 409);
    }
}

static void
test_unknown_query(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *method;
        const char *path;
        const char *parameter;
        const char *known; /* what the message lists, or NULL: none */
    } cases[] = {
        { "GET", "/v1/pods?labelselector=app", "labelselector", "labelSelector" },
        { "POST", "/v1/pods/q/start?wiat=false", "wiat", "wait" },
        { "DELETE", "/v1/pods/q?force=true&Wait=false", "Wait", "wait, force" },
        { "GET", "/healthz?verbose=1", "verbose", NULL },
        { "GET", "/v1/events?pod=q&since=1", "since", "pod" },
        { "GET", "/v1/volumes?wait=false", "wait", NULL },
    };
    g_autofree char *spec = NULL;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_guest_spec("q", NULL, NULL, 0);
    create_pod(f, spec);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(Response) r = request(f, cases[i].method, cases[i].path, NULL, NULL);
        g_autofree char *message = NULL;
        g_autofree char *quoted = g_strdup_printf("\"%s\"", cases[i].parameter);

        g_test_message("%s %s: %u %s", cases[i].method, cases[i].path, r->status, r->body);
        g_assert_cmpuint(r->status, ==, 400);
        message = error_message(r->body, "InvalidArgument");
        g_assert_nonnull(strstr(message, quoted));
        g_assert_nonnull(strstr(message, cases[i].known != NULL ? cases[i].known : "takes none"));
    }
    /* Nothing happened: the pod is still there, not started. */
    {
        g_autofree char *body = http(f, "GET", "/v1/pods/q", NULL, 200);
        g_assert_nonnull(strstr(body, "\"Pending\""));
    }
    /* Declared ones still work. */
    g_free(http(f, "GET", "/v1/pods/q?secrets=true", NULL, 200));
    g_free(http(f, "DELETE", "/v1/pods/q?force=true&wait=true", NULL, 200));
}

/* ---- label selectors: one parser and matcher for both fronts and podvmctl ------------- */

static char *
dbus_list_filtered(Fixture *f, const char *selector, GError **error)
{
    g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
    g_autofree char *list = NULL;

    g_variant_builder_add(&options, "{sv}", "labelSelector", g_variant_new_string(selector));
    if (!podvm_dbus_manager_call_list_pods_filtered_sync(
            f->daemon->manager, g_variant_builder_end(&options), &list, NULL, error))
        return NULL;
    return names_of(list);
}

/* The names podvmctl list -l @selector -o name prints, on one line. */
static char *
ctl_list(Fixture *f, const char *selector, int *out_status, char **out_stderr)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;

    *out_status =
        podvm_test_ctl(f->daemon, &out, out_stderr, "list", "-o", "name", "-l", selector, NULL);
    g_strstrip(out);
    lines = g_strsplit(out, "\n", -1);
    return g_strjoinv(" ", lines);
}

static void
test_selectors(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *selector;
        const char *names;
    } cases[] = {
        { "app=web", "web-1 web-2" },
        { "app==web,tier=front", "web-1" },
        { "app!=web", "db-1 plain" },
        { "app in (web, db)", "db-1 web-1 web-2" },
        { "app notin (web)", "db-1 plain" },
        { "tier", "db-1 web-1" },
        { "!tier", "plain web-2" },
        { "app=web,!tier", "web-2" },
        { "tier in (front,back),app!=db", "web-1" },
        { "example.com/owner=ops", "db-1" },
        { "", "db-1 plain web-1 web-2" },
        { "app=cache", "" },
    };
    static const char *const bad[] = { "app=web,", "app>1", "app in ()", "app web", "=web" };

    if (f->daemon == NULL)
        return;
    {
        g_autofree char *web1 = spec_with_labels("web-1", "app=web", "tier=front", NULL);
        g_autofree char *web2 = spec_with_labels("web-2", "app=web", NULL);
        g_autofree char *db1 =
            spec_with_labels("db-1", "app=db", "tier=back", "example.com/owner=ops", NULL);
        g_autofree char *plain = podvm_test_guest_spec("plain", NULL, NULL, 0);

        create_pod(f, web1);
        create_pod(f, web2);
        create_pod(f, db1);
        create_pod(f, plain);
    }
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *escaped = g_uri_escape_string(cases[i].selector, NULL, FALSE);
        g_autofree char *path = g_strconcat("/v1/pods?labelSelector=", escaped, NULL);
        g_autofree char *rest = http(f, "GET", path, NULL, 200);
        g_autofree char *rest_names = names_of(rest);
        g_autoptr(GError) error = NULL;
        g_autofree char *dbus_names = dbus_list_filtered(f, cases[i].selector, &error);
        g_autofree char *ctl_err = NULL;
        g_autofree char *ctl_names = NULL;
        int status = -1;

        g_test_message("selector '%s'", cases[i].selector);
        g_assert_no_error(error);
        g_assert_cmpstr(rest_names, ==, cases[i].names);
        g_assert_cmpstr(dbus_names, ==, cases[i].names);
        ctl_names = ctl_list(f, cases[i].selector, &status, &ctl_err);
        if (status != 0)
            g_test_message("podvmctl: %s", ctl_err);
        g_assert_cmpint(status, ==, 0);
        g_assert_cmpstr(ctl_names, ==, cases[i].names);
    }
    /* Two -l options: both must hold. */
    {
        g_autofree char *out = NULL;
        int status = podvm_test_ctl(f->daemon, &out, NULL, "list", "-o", "name", "-l",
                                    "app in (web,db)", "-l", "tier notin (back)", NULL);

        g_assert_cmpint(status, ==, 0);
        /* notin also picks a pod without the label (web-2), as in Kubernetes. */
        g_assert_cmpstr(g_strstrip(out), ==, "web-1\nweb-2");
    }
    /* What is not a selector is refused alike, never read as something else. */
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *escaped = g_uri_escape_string(bad[i], NULL, FALSE);
        g_autofree char *path = g_strconcat("/v1/pods?labelSelector=", escaped, NULL);
        g_autofree char *body = http(f, "GET", path, NULL, 400);
        g_autofree char *rest_message = error_message(body, "InvalidArgument");
        g_autoptr(GError) error = NULL;
        g_autofree char *names = dbus_list_filtered(f, bad[i], &error);
        g_autofree char *dbus_message = NULL;
        g_autofree char *ctl_err = NULL;
        g_autofree char *ctl_names = NULL;
        int status = 0;

        g_test_message("bad selector '%s': %s", bad[i], rest_message);
        g_assert_null(names);
        dbus_message = dbus_error_message(error, "InvalidArgument");
        g_assert_cmpstr(dbus_message, ==, rest_message);
        g_assert_nonnull(strstr(rest_message, "bad label selector"));
        ctl_names = ctl_list(f, bad[i], &status, &ctl_err);
        g_assert_cmpint(status, !=, 0);
        g_assert_cmpstr(ctl_names, ==, "");
        g_assert_nonnull(strstr(ctl_err, rest_message));
    }
    /* ListPodsFiltered knows one option. */
    {
        g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
        g_autoptr(GError) error = NULL;
        g_autofree char *list = NULL;
        g_autofree char *message = NULL;

        g_variant_builder_add(&options, "{sv}", "labelselector", g_variant_new_string("app"));
        g_assert_false(podvm_dbus_manager_call_list_pods_filtered_sync(
            f->daemon->manager, g_variant_builder_end(&options), &list, NULL, &error));
        message = dbus_error_message(error, "InvalidArgument");
        g_assert_nonnull(strstr(message, "labelselector"));
    }
}

/* ---- events: a Server-Sent Events reader and the D-Bus Event signal ------------------ */

typedef struct {
    SoupMessage *msg;
    GInputStream *input;
    GDataInputStream *lines;
} Sse;

typedef struct {
    char *id; /* the frame's id: line, or NULL */
    char *type;
    JsonObject *details;
} Frame;

static void
frame_free(Frame *frame)
{
    g_free(frame->id);
    g_free(frame->type);
    g_clear_pointer(&frame->details, json_object_unref);
    g_free(frame);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Frame, frame_free)

static void
sse_free(Sse *sse)
{
    g_clear_object(&sse->lines);
    if (sse->input != NULL)
        g_input_stream_close(sse->input, NULL, NULL);
    g_clear_object(&sse->input);
    g_clear_object(&sse->msg);
    g_free(sse);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Sse, sse_free)

/* GET @path as an event stream, with Last-Event-ID @last_id (or none). */
static Sse *
sse_open(Fixture *f, const char *path, const char *last_id)
{
    g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
    g_autoptr(GError) error = NULL;
    Sse *sse = g_new0(Sse, 1);

    sse->msg = soup_message_new("GET", uri);
    if (last_id != NULL)
        soup_message_headers_replace(soup_message_get_request_headers(sse->msg), "Last-Event-ID",
                                     last_id);
    sse->input = soup_session_send(f->session, sse->msg, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(soup_message_get_status(sse->msg), ==, 200);
    sse->lines = g_data_input_stream_new(sse->input);
    return sse;
}

/* The next frame (comments skipped); blocks. */
static Frame *
sse_next(Sse *sse)
{
    g_autoptr(Frame) frame = g_new0(Frame, 1);

    for (;;) {
        g_autoptr(GError) error = NULL;
        g_autofree char *line = g_data_input_stream_read_line_utf8(sse->lines, NULL, NULL, &error);

        g_assert_no_error(error);
        g_assert_nonnull(line);
        if (line[0] == '\0') {
            if (frame->type != NULL)
                return g_steal_pointer(&frame);
            continue;
        }
        if (line[0] == ':')
            continue;
        if (g_str_has_prefix(line, "id: "))
            frame->id = g_strdup(line + 4);
        else if (g_str_has_prefix(line, "event: "))
            frame->type = g_strdup(line + 7);
        else if (g_str_has_prefix(line, "data: "))
            frame->details = parse_object(line + 6);
        else
            g_assert_not_reached();
    }
}

/* The next frame of @type for @pod, skipping others. */
static Frame *
sse_next_of(Sse *sse, const char *type, const char *pod)
{
    for (;;) {
        g_autoptr(Frame) frame = sse_next(sse);

        if (g_str_equal(frame->type, type) &&
            g_strcmp0(json_object_get_string_member(frame->details, "pod"), pod) == 0)
            return g_steal_pointer(&frame);
    }
}

/* Asserts the envelope every event has; returns its SEQ. */
static guint64
assert_envelope(Frame *frame, const char *type)
{
    const char *id = json_object_get_string_member_with_default(frame->details, "id", NULL);
    const char *time = json_object_get_string_member_with_default(frame->details, "time", NULL);
    g_autoptr(GRegex) id_regex = g_regex_new("^[0-9a-f]{16}-([0-9]+)$", 0, 0, NULL);
    g_autoptr(GRegex) time_regex = g_regex_new(
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$", 0, 0, NULL);
    g_autoptr(GMatchInfo) match = NULL;
    g_autofree char *seq = NULL;

    g_assert_cmpstr(frame->type, ==, type);
    g_assert_cmpstr(json_object_get_string_member(frame->details, "type"), ==, type);
    g_assert_nonnull(id);
    g_assert_cmpstr(frame->id, ==, id);
    g_assert_true(g_regex_match(id_regex, id, 0, &match));
    seq = g_match_info_fetch(match, 1);
    g_assert_nonnull(time);
    g_assert_true(g_regex_match(time_regex, time, 0, NULL));
    return g_ascii_strtoull(seq, NULL, 10);
}

/* The manager's Event signals, as (type, details) pairs. */
typedef struct {
    GPtrArray *events; /* Frame* (id NULL) */
    guint subscription;
    GDBusConnection *connection;
} Signals;

static void
manager_event_cb(GDBusConnection *connection, const char *sender, const char *path,
                 const char *interface, const char *member, GVariant *parameters,
                 gpointer user_data)
{
    Signals *signals = user_data;
    Frame *frame = g_new0(Frame, 1);
    const char *pod, *type, *details;

    g_variant_get(parameters, "(&s&s&s)", &pod, &type, &details);
    frame->type = g_strdup(type);
    frame->details = parse_object(details);
    g_ptr_array_add(signals->events, frame);
}

static void
signals_watch(Fixture *f, Signals *signals)
{
    signals->events = g_ptr_array_new_with_free_func((GDestroyNotify)frame_free);
    signals->connection = f->daemon->connection;
    signals->subscription = g_dbus_connection_signal_subscribe(
        f->daemon->connection, NULL, "io.podvm.PodVM1.Manager", "Event", "/io/podvm/PodVM1", NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, manager_event_cb, signals, NULL);
}

static void
signals_unwatch(Signals *signals)
{
    g_dbus_connection_signal_unsubscribe(signals->connection, signals->subscription);
    g_ptr_array_unref(signals->events);
}

typedef struct {
    Signals *signals;
    const char *id;
    Frame *found;
} SignalWait;

static gboolean
signal_with_id(gpointer user_data)
{
    SignalWait *wait = user_data;

    for (guint i = 0; i < wait->signals->events->len; i++) {
        Frame *frame = g_ptr_array_index(wait->signals->events, i);

        if (g_strcmp0(json_object_get_string_member_with_default(frame->details, "id", NULL),
                      wait->id) == 0) {
            wait->found = frame;
            return TRUE;
        }
    }
    return FALSE;
}

/* The D-Bus Event with @id (which the REST stream showed): its details, the same. */
static void
assert_signal_same(Signals *signals, Frame *frame)
{
    SignalWait wait = { signals, json_object_get_string_member(frame->details, "id"), NULL };
    g_autoptr(JsonNode) a = NULL;
    g_autoptr(JsonNode) b = NULL;

    g_assert_true(podvm_test_wait_until(signal_with_id, &wait, 30000));
    g_assert_cmpstr(wait.found->type, ==, frame->type);
    a = json_node_init_object(json_node_alloc(), frame->details);
    b = json_node_init_object(json_node_alloc(), wait.found->details);
    g_assert_true(json_node_equal(a, b));
}

static guint
count_signals(Signals *signals, const char *type)
{
    guint n = 0;

    for (guint i = 0; i < signals->events->len; i++)
        n += g_str_equal(((Frame *)g_ptr_array_index(signals->events, i))->type, type);
    return n;
}

/* ---- ?wait=false: refused at once what can be refused at once --------------------------- */

/*
 * @op on pod @name, not waiting over REST, then waiting over D-Bus: both
 * refused with one message (409 Conflict), which is returned.
 */
static char *
assert_refused_alike(Fixture *f, const char *name, const char *op)
{
    g_autofree char *path = NULL;
    g_autofree char *body = NULL;
    g_autofree char *rest_message = NULL;
    g_autofree char *dbus_message = NULL;
    g_autoptr(PodvmDBusPod) pod = podvm_test_daemon_pod(f->daemon, name);
    g_autoptr(GError) error = NULL;

    if (g_str_equal(op, "delete"))
        path = g_strdup_printf("/v1/pods/%s?wait=false", name);
    else
        path = g_strdup_printf("/v1/pods/%s/%s?wait=false", name, op);
    body = http(f, g_str_equal(op, "delete") ? "DELETE" : "POST", path, NULL, 409);
    rest_message = error_message(body, "Conflict");
    if (g_str_equal(op, "start"))
        podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    else if (g_str_equal(op, "stop"))
        podvm_dbus_pod_call_stop_sync(pod, -1, NULL, &error);
    else if (g_str_equal(op, "pause"))
        podvm_dbus_pod_call_pause_sync(pod, NULL, &error);
    else if (g_str_equal(op, "resume"))
        podvm_dbus_pod_call_resume_sync(pod, NULL, &error);
    else if (g_str_equal(op, "kill"))
        podvm_dbus_pod_call_kill_sync(pod, NULL, &error);
    else if (g_str_equal(op, "delete"))
        podvm_dbus_pod_call_delete_sync(pod, FALSE, NULL, &error);
    else
        g_assert_not_reached();
    g_assert_nonnull(error);
    dbus_message = dbus_error_message(error, "Conflict");
    g_test_message("%s: %s", op, rest_message);
    g_assert_cmpstr(rest_message, ==, dbus_message);
    return g_steal_pointer(&rest_message);
}

static void
test_nowait_refusals(Fixture *f, gconstpointer data)
{
    g_autofree char *spec = NULL;
    g_autoptr(Sse) sse = NULL;
    Signals signals = { 0 };

    if (f->daemon == NULL)
        return;
    signals_watch(f, &signals);
    sse = sse_open(f, "/v1/events?pod=w", NULL);
    spec = podvm_test_guest_spec("w", NULL, NULL, 0);
    create_pod(f, spec);

    /* A pod that never ran: nothing to pause, resume, stop or kill. */
    g_free(assert_refused_alike(f, "w", "pause"));
    g_free(assert_refused_alike(f, "w", "resume"));
    g_free(assert_refused_alike(f, "w", "stop"));
    g_free(assert_refused_alike(f, "w", "kill"));

    /*
     * A start ahead in the queue decides the phase the delete finds: the
     * delete is accepted (202), refused when it runs, and that is an event.
     */
    g_free(http(f, "POST", "/v1/pods/w/start?wait=false", NULL, 202));
    g_free(http(f, "DELETE", "/v1/pods/w?wait=false", NULL, 202));
    {
        g_autoptr(Frame) failed = sse_next_of(sse, "OperationFailed", "w");

        assert_envelope(failed, "OperationFailed");
        g_assert_cmpstr(json_object_get_string_member(failed->details, "operation"), ==, "delete");
        g_assert_cmpstr(json_object_get_string_member(failed->details, "reason"), ==, "Conflict");
        g_assert_cmpstr(json_object_get_string_member(failed->details, "message"), ==,
                        "pod 'w' is Running; stop it first, or delete it with force");
        assert_signal_same(&signals, failed);
    }
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "w", "Running", 60000));

    /* Running: a start and a delete without force are refused at once, as waiting. */
    {
        g_autofree char *start = assert_refused_alike(f, "w", "start");
        g_autofree char *delete = assert_refused_alike(f, "w", "delete");

        g_assert_cmpstr(start, ==, "pod 'w' is Running; it is already running");
        g_assert_cmpstr(delete, ==, "pod 'w' is Running; stop it first, or delete it with force");
    }
    /* What was refused at once was answered, not published: one OperationFailed in all. */
    g_free(http(f, "DELETE", "/v1/pods/w?force=true", NULL, 200));
    {
        g_autoptr(Frame) deleted = sse_next_of(sse, "Deleted", "w");

        assert_envelope(deleted, "Deleted");
        assert_signal_same(&signals, deleted);
    }
    g_assert_cmpuint(count_signals(&signals, "OperationFailed"), ==, 1);
    signals_unwatch(&signals);
}

/* ---- events: ids, times, resuming from Last-Event-ID ---------------------------------- */

static void
test_events_resume(Fixture *f, gconstpointer data)
{
    g_autoptr(Sse) live = NULL;
    g_autoptr(Frame) created = NULL;
    g_autoptr(Frame) deleted = NULL;
    g_autofree char *last_id = NULL;
    guint64 created_seq, deleted_seq, last_seq = 0;
    Signals signals = { 0 };

    if (f->daemon == NULL)
        return;
    signals_watch(f, &signals);
    live = sse_open(f, "/v1/events", NULL);
    {
        g_autofree char *spec = podvm_test_guest_spec("e1", NULL, NULL, 0);
        g_free(http(f, "POST", "/v1/pods", spec, 201));
    }
    created = sse_next_of(live, "Created", "e1");
    created_seq = assert_envelope(created, "Created");
    assert_signal_same(&signals, created);
    g_free(http(f, "DELETE", "/v1/pods/e1", NULL, 200));
    deleted = sse_next_of(live, "Deleted", "e1");
    deleted_seq = assert_envelope(deleted, "Deleted");
    g_assert_cmpuint(deleted_seq, >, created_seq);
    assert_signal_same(&signals, deleted);
    g_assert_cmpstr(json_object_get_string_member(deleted->details, "phase"), ==, "Pending");

    /* Resuming after Created: what came after it, from the ring, in order, nothing lost. */
    {
        g_autoptr(Sse) resumed = sse_open(f, "/v1/events", created->id);
        guint64 previous = created_seq;

        for (;;) {
            g_autoptr(Frame) frame = sse_next(resumed);
            guint64 seq = assert_envelope(frame, frame->type);

            g_assert_cmpstr(frame->type, !=, "EventsLost");
            g_assert_cmpuint(seq, >, previous);
            previous = seq;
            if (seq == deleted_seq) {
                g_assert_cmpstr(frame->type, ==, "Deleted");
                break;
            }
        }
    }

    /* More events than the ring holds ([daemon] event_history=8). */
    for (guint i = 0; i < 6; i++) {
        g_autofree char *name = g_strdup_printf("more-%u", i);
        g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 0);
        g_autofree char *path = g_strconcat("/v1/pods/", name, NULL);
        g_autoptr(Frame) gone = NULL;

        g_free(http(f, "POST", "/v1/pods", spec, 201));
        g_free(http(f, "DELETE", path, NULL, 200));
        gone = sse_next_of(live, "Deleted", name);
        g_free(last_id);
        last_id = g_strdup(gone->id);
        last_seq = assert_envelope(gone, "Deleted");
    }
    {
        static const struct {
            const char *last_id;
            const char *reason;
        } lost[] = {
            { NULL, "TooOld" },
            { "0123456789abcdef-3", "Restarted" },
            { "not-an-id", "Unknown" },
        };

        for (guint i = 0; i < G_N_ELEMENTS(lost); i++) {
            const char *given = lost[i].last_id != NULL ? lost[i].last_id : created->id;
            g_autoptr(Sse) resumed = sse_open(f, "/v1/events", given);
            g_autoptr(Frame) notice = sse_next(resumed);
            guint replayed = 0;

            g_test_message("Last-Event-ID %s: %s", given,
                           json_object_get_string_member(notice->details, "message"));
            g_assert_cmpstr(notice->type, ==, "EventsLost");
            g_assert_null(notice->id);
            g_assert_cmpstr(json_object_get_string_member(notice->details, "reason"), ==,
                            lost[i].reason);
            g_assert_cmpstr(json_object_get_string_member(notice->details, "lastEventId"), ==,
                            given);
            /* Then every event held: the ring's 8, the newest last. */
            for (;;) {
                g_autoptr(Frame) frame = sse_next(resumed);
                guint64 seq = assert_envelope(frame, frame->type);

                replayed++;
                if (seq == last_seq)
                    break;
            }
            g_assert_cmpuint(replayed, ==, 8);
        }
    }
    /* The newest id: nothing to replay; the next live event comes next. */
    {
        g_autoptr(Sse) resumed = sse_open(f, "/v1/events", last_id);
        g_autofree char *spec = podvm_test_guest_spec("e2", NULL, NULL, 0);
        g_autoptr(Frame) next = NULL;

        g_free(http(f, "POST", "/v1/pods", spec, 201));
        next = sse_next(resumed);
        g_assert_cmpstr(next->type, ==, "Created");
        g_assert_cmpuint(assert_envelope(next, "Created"), >, last_seq);
    }
    signals_unwatch(&signals);
}

/* ---- a failed volume import gives its name back ------------------------------------------ */

typedef struct {
    Fixture base;
    char *images;
} StorageFixture;

static void
storage_setup(StorageFixture *sf, gconstpointer data)
{
    g_autofree char *socket_path = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    sf->base.daemon = podvm_test_daemon_new_for_storage(&sf->images);
    if (sf->base.daemon == NULL)
        return;
    socket_path = g_build_filename(sf->base.daemon->run_dir, "api.sock", NULL);
    address = g_unix_socket_address_new(socket_path);
    sf->base.session = soup_session_new_with_options("remote-connectable", address, "timeout", 120,
                                                     "max-conns-per-host", 16, NULL);
}

static void
storage_teardown(StorageFixture *sf, gconstpointer data)
{
    fixture_teardown(&sf->base, data);
    if (sf->images != NULL)
        podvm_test_rmrf(sf->images);
    g_free(sf->images);
}

static char *
volume_phase(Fixture *f, const char *name)
{
    g_autofree char *path = g_strconcat("/v1/volumes/", name, NULL);
    g_autofree char *body = http(f, "GET", path, NULL, 200);
    g_autoptr(JsonObject) volume = parse_object(body);

    return g_strdup(json_object_get_string_member(volume, "phase"));
}

static void
test_volume_retry(StorageFixture *sf, gconstpointer data)
{
    Fixture *f = &sf->base;
    g_autofree char *source = NULL;
    g_autofree char *contents = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *good = NULL;
    g_autofree char *bad = NULL;
    gsize length = 0;
    const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";

    if (f->daemon == NULL)
        return;
    source = podvm_test_make_raw_image(sf->images, "source.img", 1024 * 1024, "PODVM-VOLUME");
    g_assert_true(g_file_get_contents(source, &contents, &length, NULL));
    digest = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)contents, length);
    bad = g_strdup_printf("{\"name\": \"data\", \"from\": \"%s\", \"sha256\": \"%s\"}", source,
                          zeros);
    good = g_strdup_printf("{\"name\": \"data\", \"from\": \"%s\", \"sha256\": \"%s\"}", source,
                           digest);

    /* REST: a bad source fails, and the volume says so... */
    {
        g_autoptr(Response) r = request(f, "POST", "/v1/volumes", "application/json", bad);
        g_autofree char *message = NULL;
        g_autofree char *phase = NULL;

        g_assert_cmpuint(r->status, >=, 400);
        message = error_message(r->body, "Failed");
        g_assert_nonnull(strstr(message, "checksum mismatch"));
        phase = volume_phase(f, "data");
        g_assert_cmpstr(phase, ==, "Failed");
    }
    /* ...but does not keep the name: the retry with the right digest makes it. */
    {
        g_autofree char *body = http(f, "POST", "/v1/volumes", good, 201);
        g_autoptr(JsonObject) volume = parse_object(body);

        g_assert_cmpstr(json_object_get_string_member(volume, "phase"), ==, "Ready");
        g_assert_null(json_object_get_string_member_with_default(volume, "message", NULL));
    }
    /* A Ready volume still holds its name. */
    {
        g_autoptr(Response) r = request(f, "POST", "/v1/volumes", "application/json", good);
        g_autofree char *message = NULL;

        g_assert_cmpuint(r->status, ==, 409);
        message = error_message(r->body, "AlreadyExists");
    }

    /* D-Bus: the same. */
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *volume = NULL;
        g_autofree char *message = NULL;
        g_autofree char *phase = NULL;
        GVariant *options = g_variant_new_parsed(
            "{'name': <'data2'>, 'from': <%s>, 'sha256': <%s>}", source, zeros);

        g_assert_false(podvm_dbus_manager_call_create_volume_sync(f->daemon->manager, options,
                                                                  &volume, NULL, &error));
        message = dbus_error_message(error, "Failed");
        g_assert_nonnull(strstr(message, "checksum mismatch"));
        phase = volume_phase(f, "data2");
        g_assert_cmpstr(phase, ==, "Failed");
        g_clear_error(&error);
        options = g_variant_new_parsed("{'name': <'data2'>, 'from': <%s>, 'sha256': <%s>}", source,
                                       digest);
        g_assert_true(podvm_dbus_manager_call_create_volume_sync(f->daemon->manager, options,
                                                                 &volume, NULL, &error));
        g_assert_no_error(error);
        g_assert_nonnull(strstr(volume, "\"Ready\""));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/podvm/api/rest/content-type", test_content_type);
    ADD("/podvm/api/rest/unknown-query", test_unknown_query);
    ADD("/podvm/api/selectors", test_selectors);
    ADD("/podvm/api/nowait-refusals", test_nowait_refusals);
    g_test_add("/podvm/api/events-resume", Fixture, "[daemon]\nevent_history=8\n", fixture_setup,
               test_events_resume, fixture_teardown);
    g_test_add("/podvm/api/volume-retry", StorageFixture, NULL, storage_setup, test_volume_retry,
               storage_teardown);
#undef ADD
    return g_test_run();
}
