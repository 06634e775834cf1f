/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Live migration, the target alone: a real podvmd receives a pod over its
 * peer API (REST on its unix socket), from a "source" that is this test:
 * offers, stream upgrades on raw sockets, and a bare QEMU driven by raw
 * QMP whose `migrate` goes to a unix socket the test relays to the stream.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-daemon.h"
#include "podvm-test-net.h"
#include "podvm-test-netns.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
    char *socket_path;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new_with_config(data != NULL ? data : "[migration]\n");
    if (f->daemon == NULL)
        return;
    f->socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_free(f->socket_path);
    podvm_test_daemon_free(f->daemon);
}

/* ---- raw HTTP on the unix socket ---------------------------------------------------- */

typedef struct {
    guint status;
    char *head; /* the status line and headers */
    char *body;
} Answer;

static void
answer_free(Answer *a)
{
    g_free(a->head);
    g_free(a->body);
    g_free(a);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Answer, answer_free)

/* Reads one answer's head (to the blank line) from @fd: its bytes, without the blank line. */
static char *
read_head(int fd)
{
    g_autoptr(GString) head = g_string_new(NULL);
    char c;

    while (!g_str_has_suffix(head->str, "\r\n\r\n")) {
        ssize_t n = read(fd, &c, 1);

        if (n <= 0)
            return NULL;
        g_string_append_c(head, c);
    }
    g_string_truncate(head, head->len - 4);
    return g_string_free(g_steal_pointer(&head), FALSE);
}

static guint
head_status(const char *head)
{
    return head != NULL && strlen(head) > 12 ? (guint)atoi(head + 9) : 0;
}

/* One request on a fresh connection ("Connection: close"); the whole answer. */
static Answer *
http_at(const char *socket_path, const char *method, const char *path, const char *extra_headers,
        const char *body)
{
    int fd = podvm_test_connect_unix(socket_path);
    g_autofree char *length =
        g_strdup_printf("Content-Type: application/json\r\nContent-Length: %zu\r\n",
                        body != NULL ? strlen(body) : 0);
    g_autofree char *request =
        g_strdup_printf("%s %s HTTP/1.1\r\nHost: podvm\r\nConnection: close\r\n%s%s\r\n%s", method,
                        path, extra_headers != NULL ? extra_headers : "",
                        body != NULL ? length : "", body != NULL ? body : "");
    g_autoptr(GString) rest = g_string_new(NULL);
    Answer *a = g_new0(Answer, 1);
    char buffer[4096];
    ssize_t n;

    g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
    a->head = read_head(fd);
    g_assert_nonnull(a->head);
    a->status = head_status(a->head);
    while ((n = read(fd, buffer, sizeof buffer)) > 0)
        g_string_append_len(rest, buffer, n);
    close(fd);
    a->body = g_string_free(g_steal_pointer(&rest), FALSE);
    return a;
}

static Answer *
http(Fixture *f, const char *method, const char *path, const char *extra_headers, const char *body)
{
    return http_at(f->socket_path, method, path, extra_headers, body);
}

/* The error reason of an error document, or "". */
static char *
answer_reason(Answer *a)
{
    g_autoptr(JsonNode) root = json_from_string(a->body, NULL);
    JsonObject *error;

    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root) ||
        !json_object_has_member(json_node_get_object(root), "error"))
        return g_strdup("");
    error = json_object_get_object_member(json_node_get_object(root), "error");
    return g_strdup(json_object_get_string_member_with_default(error, "reason", ""));
}

/* ---- the event stream ---------------------------------------------------------------- */

/* GET /v1/events?pod=@pod, kept open: its socket. */
static int
events_open(Fixture *f, const char *pod)
{
    int fd = podvm_test_connect_unix(f->socket_path);
    g_autofree char *request =
        g_strdup_printf("GET /v1/events?pod=%s HTTP/1.1\r\nHost: podvm\r\n\r\n", pod);

    g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
    return fd;
}

/* Reads @fd into @seen until it holds @needle or @timeout_ms passed. */
static gboolean
events_wait_for(int fd, GString *seen, const char *needle, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (strstr(seen->str, needle) == NULL) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buffer[4096];
        ssize_t n;

        if (g_get_monotonic_time() >= deadline)
            return FALSE;
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(fd, buffer, sizeof buffer);
        if (n <= 0)
            return strstr(seen->str, needle) != NULL;
        g_string_append_len(seen, buffer, n);
    }
    return TRUE;
}

/* ---- offers -------------------------------------------------------------------------- */

/* An offer of the test guest named @name with @uid (NULL: a new one). */
static char *
make_offer(const char *name, const char *uid, const char *extra_args)
{
    g_autofree char *spec = podvm_test_guest_spec(name, extra_args, NULL, 2);
    g_autoptr(JsonNode) pod = json_from_string(spec, NULL);
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *fresh = g_uuid_string_random();
    JsonObject *offer = json_object_new();

    json_object_set_string_member(
        json_object_get_object_member(json_node_get_object(pod), "metadata"), "uid",
        uid != NULL ? uid : fresh);
    json_object_set_int_member(offer, "version", 1);
    json_object_set_member(offer, "pod", json_node_ref(pod));
    json_object_set_array_member(offer, "disks", json_array_new());
    json_object_set_object_member(offer, "macs", json_object_new());
    json_object_set_boolean_member(offer, "postcopy", FALSE);
    json_node_take_object(root, offer);
    return json_to_string(root, FALSE);
}

/* A pod named @name, created over REST; its uid. */
static char *
create_pod(Fixture *f, const char *name)
{
    g_autofree char *spec = podvm_test_guest_spec(name, NULL, NULL, 2);
    g_autoptr(Answer) a = http(f, "POST", "/v1/pods", NULL, spec);
    g_autoptr(JsonNode) root = NULL;

    g_assert_cmpuint(a->status, ==, 201);
    root = json_from_string(a->body, NULL);
    g_assert_nonnull(root);
    return g_strdup(json_object_get_string_member(
        json_object_get_object_member(json_node_get_object(root), "metadata"), "uid"));
}

/* An offer of a name or uid this host has is refused (409), and nothing changes here. */
static void
test_offer_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *uid = NULL;
    g_autofree char *same_name = NULL;
    g_autofree char *same_uid = NULL;

    if (f->daemon == NULL)
        return;
    uid = create_pod(f, "taken");
    same_name = make_offer("taken", NULL, NULL);
    same_uid = make_offer("other", uid, NULL);
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, same_name);
        g_autofree char *reason = answer_reason(a);

        g_assert_cmpuint(a->status, ==, 409);
        g_assert_cmpstr(reason, ==, "AlreadyExists");
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, same_uid);
        g_autofree char *reason = answer_reason(a);

        g_assert_cmpuint(a->status, ==, 409);
        g_assert_cmpstr(reason, ==, "AlreadyExists");
        g_assert_nonnull(strstr(a->body, uid));
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, "{\"version\": 1");

        g_assert_cmpuint(a->status, ==, 400);
    }
    {
        g_autoptr(Answer) a =
            http(f, "POST", "/v1/migrations", NULL, "{\"version\": 99, \"pod\": {}}");

        g_assert_cmpuint(a->status, ==, 400);
    }
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/pods", NULL, NULL);
        g_autoptr(JsonNode) root = json_from_string(a->body, NULL);

        g_assert_cmpuint(a->status, ==, 200);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(root)), ==, 1);
    }
}

/*
 * [migration] max_parallel=1: a second offer while one Incoming pod waits
 * is refused (409 Busy); once the first is given up, it is taken.
 */
static void
test_busy(Fixture *f, gconstpointer data)
{
    g_autofree char *first = make_offer("first", NULL, NULL);
    g_autofree char *second = make_offer("second", NULL, NULL);
    g_autofree char *path = NULL;
    g_autoptr(JsonNode) root = NULL;

    if (f->daemon == NULL)
        return;
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, first);

        g_assert_cmpuint(a->status, ==, 201);
        root = json_from_string(a->body, NULL);
        path = g_strconcat("/v1/migrations/",
                           json_object_get_string_member(json_node_get_object(root), "id"), NULL);
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, second);
        g_autofree char *reason = answer_reason(a);

        g_assert_cmpuint(a->status, ==, 409);
        g_assert_cmpstr(reason, ==, "Busy");
    }
    {
        g_autoptr(Answer) a = http(f, "DELETE", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 204);
    }
    {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        for (;;) {
            g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, second);

            if (a->status == 201)
                break;
            g_assert_cmpuint(a->status, ==, 409);
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(200 * 1000);
        }
    }
}

/* Unknown migrations: 404 for each route; a stream request that is no upgrade: 400. */
static void
test_unknown_migration(Fixture *f, gconstpointer data)
{
    const char *upgrade = "Connection: Upgrade\r\nUpgrade: podvm-migration/1\r\n"
                          "X-Podvm-Migration-Secret: nothing\r\n";

    if (f->daemon == NULL)
        return;
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/migrations/nope", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations/nope/finish", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a = http(f, "DELETE", "/v1/migrations/nope", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a =
            http(f, "GET", "/v1/migrations/nope/stream?channel=migration", upgrade, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    {
        g_autoptr(Answer) a =
            http(f, "GET", "/v1/migrations/nope/stream?channel=migration", NULL, NULL);
        g_assert_cmpuint(a->status, ==, 400);
    }
}

/* ---- a source: a second podvmd's pod, its QEMU driven by raw QMP once that podvmd stops ---- */

#define BOOT_TIMEOUT_MS 120000
/* The copied emptyDisk of the disk test. */
#define DISK_SIZE (64 * 1024 * 1024)

/* A connected unix socket without timeouts (it becomes QEMU's migration channel). */
static int
connect_plain(const char *path)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof address.sun_path);
    strcpy(address.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&address, sizeof address), ==, 0);
    return fd;
}

/* One line from @fd (without the newline), or NULL at the end. */
static char *
read_line(int fd)
{
    g_autoptr(GString) line = g_string_new(NULL);
    char c;

    for (;;) {
        ssize_t n = read(fd, &c, 1);

        if (n <= 0)
            return NULL;
        if (c == '\n')
            break;
        g_string_append_c(line, c);
    }
    return g_string_free(g_steal_pointer(&line), FALSE);
}

/* Sends @command (JSON text), with @pass_fd as SCM_RIGHTS when >= 0; its "return" (asserted). */
static JsonNode *
qmp(int fd, const char *command, int pass_fd)
{
    struct iovec iov = { .iov_base = (void *)command, .iov_len = strlen(command) };
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (pass_fd >= 0) {
        struct cmsghdr *cmsg;

        memset(&control, 0, sizeof control);
        msg.msg_control = control.buffer;
        msg.msg_controllen = sizeof control.buffer;
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
    }
    g_assert_cmpint(sendmsg(fd, &msg, MSG_NOSIGNAL), ==, (ssize_t)strlen(command));
    for (;;) {
        g_autofree char *line = read_line(fd);
        g_autoptr(JsonNode) root = NULL;
        JsonObject *object;

        g_assert_nonnull(line);
        root = json_from_string(line, NULL);
        g_assert_nonnull(root);
        object = json_node_get_object(root);
        if (json_object_has_member(object, "error"))
            g_error("QMP %s: %s", command, line);
        if (json_object_has_member(object, "return"))
            return json_node_copy(json_object_get_member(object, "return"));
    }
}

static int
qmp_open(const char *path)
{
    int fd = podvm_test_connect_unix(path);
    g_autofree char *greeting = read_line(fd);
    g_autoptr(JsonNode) reply = NULL;

    g_assert_nonnull(greeting);
    reply = qmp(fd, "{\"execute\": \"qmp_capabilities\"}\n", -1);
    return fd;
}

/* The "status" of query-migrate. */
static char *
migrate_status(int qmp_fd)
{
    g_autoptr(JsonNode) reply = qmp(qmp_fd, "{\"execute\": \"query-migrate\"}\n", -1);

    return g_strdup(
        json_object_get_string_member_with_default(json_node_get_object(reply), "status", ""));
}

/* The largest n of "PODVM-HEARTBEAT n" in @path, 0 when none. */
static guint
last_heartbeat(const char *path)
{
    g_autofree char *text = NULL;
    const char *p;
    guint last = 0;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    for (p = strstr(text, "PODVM-HEARTBEAT "); p != NULL; p = strstr(p + 1, "PODVM-HEARTBEAT "))
        last = MAX(last, (guint)atoi(p + strlen("PODVM-HEARTBEAT ")));
    return last;
}

typedef struct {
    PodvmTestDaemon *daemon; /* the source's podvmd, stopped once the pod runs */
    char *pod_json;          /* the pod as the source's GET gave it (with secrets) */
    char *uid;
    int qmp_fd;      /* the source QEMU's monitor */
    guint heartbeat; /* the last heartbeat the source showed */
    char *dev;       /* the guest's name of the disk written to, or NULL */
    gint64 qemu_pid; /* the source QEMU */
} Source;

static void
source_free(Source *src)
{
    if (src->qmp_fd >= 0)
        close(src->qmp_fd);
    podvm_test_daemon_free(src->daemon);
    g_free(src->pod_json);
    g_free(src->uid);
    g_free(src->dev);
    g_free(src);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Source, source_free)

static char *
phase_of(const char *socket_path, const char *name)
{
    g_autofree char *path = g_strconcat("/v1/pods/", name, NULL);
    g_autoptr(Answer) a = http_at(socket_path, "GET", path, NULL, NULL);
    g_autoptr(JsonNode) root = json_from_string(a->body, NULL);

    if (a->status != 200 || root == NULL)
        return g_strdup("");
    return g_strdup(json_object_get_string_member(
        json_object_get_object_member(json_node_get_object(root), "status"), "phase"));
}

/* A pod @name of the test guest running on a podvmd of its own, then left to raw QMP. */
static Source *source_new_full(const char *name, const char *spec, const char *write_word,
                               const char *conf);

static Source *
source_new_with(const char *name, const char *spec, const char *write_word)
{
    return source_new_full(name, spec, write_word, NULL);
}

static Source *
source_new(const char *name, const char *extra_args)
{
    g_autofree char *spec = podvm_test_guest_spec(name, extra_args, NULL, 2);

    return source_new_with(name, spec, NULL);
}

/*
 * The same from @spec; when @write_word is given, the guest writes it at
 * the start of its disk of DISK_SIZE bytes first.
 */
static Source *
source_new_full(const char *name, const char *spec, const char *write_word, const char *conf)
{
    g_autoptr(Source) src = g_new0(Source, 1);
    g_autofree char *socket_path = NULL;
    g_autofree char *qmp_path = NULL;
    g_autofree char *log = NULL;
    g_autofree char *get = g_strconcat("/v1/pods/", name, "?secrets=true", NULL);
    g_autofree char *start = g_strconcat("/v1/pods/", name, "/start", NULL);
    gint64 deadline;

    src->qmp_fd = -1;
    src->daemon = conf != NULL ? podvm_test_daemon_new_with_config(conf) : podvm_test_daemon_new();
    if (src->daemon == NULL)
        return NULL;
    socket_path = g_build_filename(src->daemon->run_dir, "api.sock", NULL);
    {
        g_autoptr(Answer) a = http_at(socket_path, "POST", "/v1/pods", NULL, spec);
        g_assert_cmpuint(a->status, ==, 201);
    }
    {
        g_autoptr(Answer) a = http_at(socket_path, "POST", start, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 200);
    }
    log = podvm_test_daemon_console_log(src->daemon, name);
    deadline = g_get_monotonic_time() + BOOT_TIMEOUT_MS * 1000;
    while (last_heartbeat(log) < 2 && g_get_monotonic_time() < deadline)
        g_usleep(100 * 1000);
    g_assert_cmpuint(last_heartbeat(log), >=, 2);
    if (conf != NULL)
        g_assert_true(podvm_test_wait_for_file_content(log, "PODVM-NET eth0 up 10.0.2.2/24",
                                                       BOOT_TIMEOUT_MS));
    if (write_word != NULL) {
        g_autofree char *dev = podvm_test_guest_disk_of_size(src->daemon, name, DISK_SIZE, NULL);
        g_autofree char *command = NULL;
        g_autofree char *wrote = NULL;

        g_assert_nonnull(dev);
        command = g_strdup_printf("podvm-write %s %s", dev, write_word);
        wrote = g_strdup_printf("PODVM-WROTE %s %s", dev, write_word);
        podvm_test_console_type(src->daemon, name, command);
        g_assert_true(podvm_test_wait_for_file_content(log, wrote, 30000));
        src->dev = g_strdup(dev);
    }
    {
        g_autoptr(Answer) a = http_at(socket_path, "GET", get, NULL, NULL);
        g_autoptr(JsonNode) root = json_from_string(a->body, NULL);

        g_assert_cmpuint(a->status, ==, 200);
        src->pod_json = g_strdup(a->body);
        src->qemu_pid = json_object_get_int_member(
            json_object_get_object_member(json_node_get_object(root), "status"), "qemuPid");
        src->uid = g_strdup(json_object_get_string_member(
            json_object_get_object_member(json_node_get_object(root), "metadata"), "uid"));
    }
    /* podvmd goes, QEMU stays: the test is the source's podvmd from here on. */
    podvm_test_daemon_stop(src->daemon);
    qmp_path = g_build_filename(src->daemon->run_dir, "pods", name, "qmp.sock", NULL);
    src->qmp_fd = qmp_open(qmp_path);
    src->heartbeat = last_heartbeat(log);
    return g_steal_pointer(&src);
}

/* An offer of the source's pod, copying @disks (a JSON array text). */
static char *
source_offer(Source *src, const char *disks)
{
    return g_strdup_printf("{\"version\": 1, \"pod\": %s, \"disks\": %s, \"macs\": {}, "
                           "\"postcopy\": false}",
                           src->pod_json, disks);
}

/* The answer's id and secret. */
static void
answer_id_secret(Answer *a, char **out_id, char **out_secret)
{
    g_autoptr(JsonNode) root = json_from_string(a->body, NULL);
    JsonObject *object;

    g_assert_nonnull(root);
    object = json_node_get_object(root);
    *out_id = g_strdup(json_object_get_string_member(object, "id"));
    *out_secret = g_strdup(json_object_get_string_member(object, "secret"));
}

/* The upgraded stream of @channel, or -1 with the answer's status in @out_status. */
static int
open_stream(Fixture *f, const char *id, const char *secret, const char *channel, guint *out_status)
{
    int fd = connect_plain(f->socket_path);
    g_autofree char *request =
        g_strdup_printf("GET /v1/migrations/%s/stream?channel=%s HTTP/1.1\r\nHost: podvm\r\n"
                        "Connection: Upgrade\r\nUpgrade: podvm-migration/1\r\n"
                        "X-Podvm-Migration-Secret: %s\r\n\r\n",
                        id, channel, secret);
    g_autofree char *head = NULL;

    g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
    head = read_head(fd);
    *out_status = head_status(head);
    if (*out_status != 101) {
        close(fd);
        return -1;
    }
    g_assert_nonnull(strstr(head, "podvm-migration/1"));
    return fd;
}

static char *
migration_state(Fixture *f, const char *id)
{
    g_autofree char *path = g_strconcat("/v1/migrations/", id, NULL);
    g_autoptr(Answer) a = http(f, "GET", path, NULL, NULL);
    g_autoptr(JsonNode) root = json_from_string(a->body, NULL);

    if (a->status != 200 || root == NULL)
        return g_strdup_printf("HTTP %u", a->status);
    return g_strdup(json_object_get_string_member(json_node_get_object(root), "state"));
}

/* Whether the pod's directories are gone from the target. */
static gboolean
target_has_no_trace(Fixture *f, const char *name)
{
    g_autofree char *state = g_build_filename(f->daemon->state_dir, "pods", name, NULL);
    g_autofree char *run = g_build_filename(f->daemon->run_dir, "pods", name, NULL);
    g_autofree char *phase = phase_of(f->socket_path, name);

    return !g_file_test(state, G_FILE_TEST_EXISTS) && !g_file_test(run, G_FILE_TEST_EXISTS) &&
           g_str_equal(phase, "");
}

static gboolean
no_trace_cb(gpointer user_data)
{
    Fixture *f = user_data;

    return target_has_no_trace(f, "mig");
}

/*
 * The whole receive: offer, the migration stream (the source QEMU's
 * `migrate` to the upgraded connection, passed by getfd), completed,
 * finish: the pod runs here, the guest's heartbeat goes on from where it
 * was (no reboot), and the source QEMU is left paused (postmigrate).
 */
static void
test_receive(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autoptr(GString) seen = g_string_new(NULL);
    int events;
    g_autofree char *offer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *target_log = NULL;
    g_autofree char *finish = NULL;
    int stream;
    guint status = 0;
    gint64 deadline;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    events = events_open(f, "mig");
    offer = source_offer(src, "[]");
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);

        if (a->status != 201)
            g_error("offer: %u %s", a->status, a->body);
        answer_id_secret(a, &id, &secret);
    }
    g_assert_true(events_wait_for(events, seen, "event: MigrationIncoming", 10000));
    {
        g_autofree char *phase = phase_of(f->socket_path, "mig");
        g_autofree char *state = migration_state(f, id);

        g_assert_cmpstr(phase, ==, "Incoming");
        g_assert_cmpstr(state, ==, "waiting");
    }
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    {
        g_autoptr(JsonNode) r1 =
            qmp(src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n",
                stream);
        g_autoptr(JsonNode) r2 = qmp(
            src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1);
    }
    close(stream);
    deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *s = migrate_status(src->qmp_fd);

        if (g_str_equal(s, "completed"))
            break;
        g_assert_cmpstr(s, !=, "failed");
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *state = migration_state(f, id);

        if (g_str_equal(state, "completed"))
            break;
        g_assert_cmpstr(state, !=, "failed");
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    {
        g_autoptr(Answer) a = http(f, "POST", finish, NULL, NULL);

        if (a->status != 200)
            g_error("finish: %u %s", a->status, a->body);
        g_assert_nonnull(strstr(a->body, "\"running\""));
    }
    {
        g_autofree char *phase = phase_of(f->socket_path, "mig");
        g_autofree char *state = migration_state(f, id);

        g_assert_cmpstr(phase, ==, "Running");
        g_assert_cmpstr(state, ==, "running");
    }
    g_assert_true(events_wait_for(events, seen, "event: MigrationActivated", 10000));
    close(events);
    /* A second finish (the source lost the answer) gets the same answer. */
    {
        g_autoptr(Answer) a = http(f, "POST", finish, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 200);
    }
    /* Running here now: DELETE of the migration is refused. */
    {
        g_autofree char *path = g_strconcat("/v1/migrations/", id, NULL);
        g_autoptr(Answer) a = http(f, "DELETE", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 409);
    }
    /* The guest goes on where it was: heartbeats past the source's last one, no new boot. */
    target_log = podvm_test_daemon_console_log(f->daemon, "mig");
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (last_heartbeat(target_log) <= src->heartbeat && g_get_monotonic_time() < deadline)
        g_usleep(100 * 1000);
    g_assert_cmpuint(last_heartbeat(target_log), >, src->heartbeat);
    g_assert_cmpuint(podvm_test_count_in_file(target_log, "PODVM-HEARTBEAT 1\n"), ==, 0);
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/pods/mig", NULL, NULL);

        g_assert_nonnull(strstr(a->body, src->uid));
        g_assert_null(strstr(a->body, "\"migration\""));
    }
}

/* Waits until @condition ("ready": the job of @job is ready; NULL: no job at all) holds. */
static void
wait_block_job(int qmp_fd, const char *job)
{
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) jobs = qmp(qmp_fd, "{\"execute\": \"query-block-jobs\"}\n", -1);
        JsonArray *array = json_node_get_array(jobs);
        gboolean done = job == NULL && json_array_get_length(array) == 0;

        for (guint i = 0; job != NULL && i < json_array_get_length(array); i++) {
            JsonObject *j = json_array_get_object_element(array, i);

            if (g_strcmp0(json_object_get_string_member(j, "device"), job) == 0 &&
                json_object_get_boolean_member_with_default(j, "ready", FALSE))
                done = TRUE;
        }
        if (done)
            return;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
}

static void
wait_migrate_status(int qmp_fd, const char *wanted)
{
    gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *status = migrate_status(qmp_fd);

        if (g_str_equal(status, wanted))
            return;
        g_assert_cmpstr(status, !=, "failed");
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
}

/*
 * A pod with a local emptyDisk: the source mirrors it into the target's
 * NBD export (the nbd:data stream), pauses before the switchover, completes
 * the mirror, then the migration completes; after finish the guest on the
 * target reads what it wrote on the source.
 */
static void
test_receive_disk(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *spec = podvm_test_guest_spec_with(
        "mig", NULL, "disks", "[{\"name\": \"data\", \"disk\": {\"bus\": \"virtio\"}}]", "volumes",
        "[{\"name\": \"data\", \"emptyDisk\": {\"capacity\": \"64Mi\"}}]");
    g_autofree char *offer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *export = NULL;
    g_autofree char *command = NULL;
    g_autofree char *finish = NULL;
    g_autofree char *word = NULL;
    guint status = 0;
    int nbd, stream;

    if (f->daemon == NULL)
        return;
    src = source_new_with("mig", spec, "MIGRATEDWORD");
    if (src == NULL)
        return;
    offer = source_offer(src, "[{\"name\": \"data\", \"size\": 67108864}]");
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);
        g_autoptr(JsonNode) root = NULL;
        JsonArray *disks;

        if (a->status != 201)
            g_error("offer: %u %s", a->status, a->body);
        answer_id_secret(a, &id, &secret);
        root = json_from_string(a->body, NULL);
        disks = json_object_get_array_member(json_node_get_object(root), "disks");
        g_assert_cmpuint(json_array_get_length(disks), ==, 1);
        export = g_strdup(
            json_object_get_string_member(json_array_get_object_element(disks, 0), "export"));
    }
    /* The disk: an NBD client on the upgraded stream, mirrored into it. */
    nbd = open_stream(f, id, secret, "nbd:data", &status);
    g_assert_cmpuint(status, ==, 101);
    g_clear_pointer(&command, g_free);
    {
        g_autoptr(JsonNode) r = qmp(
            src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"nbd\"}}\n", nbd);
    }
    close(nbd);
    command = g_strdup_printf(
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": \"nbd\", \"node-name\": "
        "\"tgt-data\", \"server\": {\"type\": \"fd\", \"str\": \"nbd\"}, \"export\": \"%s\"}}\n",
        export);
    json_node_unref(qmp(src->qmp_fd, command, -1));
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"blockdev-mirror\", \"arguments\": {\"job-id\": "
                        "\"m-data\", \"device\": \"d-data\", \"target\": \"tgt-data\", \"sync\": "
                        "\"full\", \"copy-mode\": \"write-blocking\"}}\n",
                        -1));
    wait_block_job(src->qmp_fd, "m-data");
    /* The memory, paused before the switchover to complete the mirror there. */
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
                        "{\"capabilities\": [{\"capability\": \"pause-before-switchover\", "
                        "\"state\": true}, {\"capability\": \"events\", \"state\": true}]}}\n",
                        -1));
    json_node_unref(qmp(
        src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n", stream));
    close(stream);
    json_node_unref(
        qmp(src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1));
    wait_migrate_status(src->qmp_fd, "pre-switchover");
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"block-job-cancel\", \"arguments\": {\"device\": "
                        "\"m-data\"}}\n",
                        -1));
    wait_block_job(src->qmp_fd, NULL);
    json_node_unref(qmp(src->qmp_fd,
                        "{\"execute\": \"migrate-continue\", \"arguments\": {\"state\": "
                        "\"pre-switchover\"}}\n",
                        -1));
    wait_migrate_status(src->qmp_fd, "completed");
    {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        for (;;) {
            g_autofree char *state = migration_state(f, id);

            if (g_str_equal(state, "completed"))
                break;
            g_assert_cmpstr(state, !=, "failed");
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(100 * 1000);
        }
    }
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    {
        g_autoptr(Answer) a = http(f, "POST", finish, NULL, NULL);

        if (a->status != 200)
            g_error("finish: %u %s", a->status, a->body);
    }
    /* The guest, on the target, reads what it wrote on the source. */
    word = podvm_test_guest_read(f->daemon, "mig", src->dev);
    g_assert_cmpstr(word, ==, "MIGRATEDWORD");
}

/*
 * Refusals of the streams: a wrong or missing secret is 403 and no 101,
 * an unknown channel 400; then DELETE tears the Incoming pod down and
 * nothing of it stays (no QEMU, no directories, no pod).
 */
static void
test_abort(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autoptr(GString) seen = g_string_new(NULL);
    int events;
    g_autofree char *offer = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *path = NULL;
    guint status = 0;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", "podvm.heartbeat=1");
    if (src == NULL)
        return;
    events = events_open(f, "mig");
    offer = source_offer(src, "[]");
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);

        if (a->status != 201)
            g_error("offer: %u %s", a->status, a->body);
        answer_id_secret(a, &id, &secret);
    }
    g_assert_cmpint(open_stream(f, id, "wrong-secret", "migration", &status), ==, -1);
    g_assert_cmpuint(status, ==, 403);
    {
        g_autofree char *request_path =
            g_strconcat("/v1/migrations/", id, "/stream?channel=migration", NULL);
        g_autoptr(Answer) a = http(f, "GET", request_path,
                                   "Connection: Upgrade\r\nUpgrade: podvm-migration/1\r\n", NULL);
        g_assert_cmpuint(a->status, ==, 403);
    }
    g_assert_cmpint(open_stream(f, id, secret, "nbd:nothing", &status), ==, -1);
    g_assert_cmpuint(status, ==, 400);
    /* A second offer of the same pod: the name is taken by the Incoming pod. */
    {
        g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);
        g_assert_cmpuint(a->status, ==, 409);
    }
    path = g_strconcat("/v1/migrations/", id, NULL);
    {
        g_autoptr(Answer) a = http(f, "DELETE", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 204);
    }
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    {
        g_autoptr(Answer) a = http(f, "GET", path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    g_assert_true(events_wait_for(events, seen, "event: Deleted", 10000));
    g_assert_nonnull(strstr(seen->str, "event: MigrationIncoming"));
    g_assert_nonnull(strstr(seen->str, "event: MigrationFailed"));
    g_assert_nonnull(strstr(seen->str, "the source gave the migration up"));
    close(events);
}

/* ---- failures and restarts ---------------------------------------------------------------- */

/* Whether @pid runs (a zombie no longer does: its parent may be gone). */
static gboolean
process_alive(gint64 pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/stat", pid);
    g_autofree char *stat = NULL;
    const char *end;

    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return FALSE;
    end = strrchr(stat, ')');
    return end != NULL && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

static gint64
qemu_pid_of(Fixture *f, const char *name)
{
    g_autofree char *path = g_strconcat("/v1/pods/", name, NULL);
    g_autoptr(Answer) a = http(f, "GET", path, NULL, NULL);
    g_autoptr(JsonNode) root = json_from_string(a->body, NULL);

    g_assert_cmpuint(a->status, ==, 200);
    return json_object_get_int_member_with_default(
        json_object_get_object_member(json_node_get_object(root), "status"), "qemuPid", 0);
}

/* Offers the source's pod (no disks); its id and secret. */
static void
offer_source(Fixture *f, Source *src, char **out_id, char **out_secret)
{
    g_autofree char *offer = source_offer(src, "[]");
    g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);

    if (a->status != 201)
        g_error("offer: %u %s", a->status, a->body);
    answer_id_secret(a, out_id, out_secret);
}

/* The target's QEMU dies while it waits: the Incoming pod is torn down, nothing stays. */
static void
test_qemu_killed(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *status_path = NULL;
    gint64 pid;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    offer_source(f, src, &id, &secret);
    pid = qemu_pid_of(f, "mig");
    g_assert_cmpint(pid, >, 0);
    g_assert_cmpint(kill((pid_t)pid, SIGKILL), ==, 0);
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    g_assert_cmpint(process_alive(pid), ==, FALSE);
    /* The source's QEMU (same uid, another podvmd's) is not the target's to end. */
    g_assert_cmpint(process_alive(src->qemu_pid), ==, TRUE);
    status_path = g_strconcat("/v1/migrations/", id, NULL);
    {
        g_autoptr(Answer) a = http(f, "GET", status_path, NULL, NULL);
        g_assert_cmpuint(a->status, ==, 404);
    }
    /* The name is free again: a new offer is taken. */
    {
        g_autofree char *again_id = NULL;
        g_autofree char *again_secret = NULL;

        offer_source(f, src, &again_id, &again_secret);
        g_assert_cmpstr(again_id, !=, id);
    }
}

/* No stream ever comes: after [migration] no_progress_timeout_ms the pod is torn down. */
static void
test_no_progress(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    gint64 pid;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    offer_source(f, src, &id, &secret);
    pid = qemu_pid_of(f, "mig");
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    g_assert_cmpint(process_alive(pid), ==, FALSE);
    g_assert_cmpint(process_alive(src->qemu_pid), ==, TRUE);
}

/* podvmd killed while the pod waits for the source: its restart tears the pod down. */
static void
test_restart_waiting(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    gint64 pid;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    offer_source(f, src, &id, &secret);
    pid = qemu_pid_of(f, "mig");
    podvm_test_daemon_kill9(f->daemon);
    g_assert_cmpint(process_alive(pid), ==, TRUE);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_wait_until(no_trace_cb, f, 30000));
    g_assert_cmpint(process_alive(pid), ==, FALSE);
    g_assert_cmpint(process_alive(src->qemu_pid), ==, TRUE);
}

/*
 * podvmd killed in the finish, after the record said "activating" and
 * before `cont` (incoming:before-cont): the restart completes the finish;
 * the pod runs here and the guest goes on.
 */
static void
test_restart_activating(Fixture *f, gconstpointer data)
{
    g_autoptr(Source) src = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *finish = NULL;
    g_autofree char *target_log = NULL;
    guint status = 0;
    int stream;
    gint64 deadline;

    if (f->daemon == NULL)
        return;
    src = source_new("mig", NULL);
    if (src == NULL)
        return;
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", "incoming:before-cont");
    podvm_test_daemon_stop(f->daemon);
    podvm_test_daemon_start(f->daemon);
    offer_source(f, src, &id, &secret);
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    json_node_unref(qmp(
        src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n", stream));
    close(stream);
    json_node_unref(
        qmp(src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1));
    wait_migrate_status(src->qmp_fd, "completed");
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *state = migration_state(f, id);

        if (g_str_equal(state, "completed"))
            break;
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    {
        /* podvmd dies in it: no answer. */
        int fd = podvm_test_connect_unix(f->socket_path);
        g_autofree char *request =
            g_strdup_printf("POST %s HTTP/1.1\r\nHost: podvm\r\nContent-Length: 0\r\n\r\n", finish);

        g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
        g_assert_true(podvm_test_read_until_closed(fd, 30000));
        close(fd);
    }
    g_assert_true(podvm_test_daemon_wait_killed(f->daemon, 30000));
    podvm_test_daemon_setenv(f->daemon, "PODVM_TEST_CRASH_AT", NULL);
    podvm_test_daemon_start(f->daemon);
    g_assert_true(podvm_test_daemon_wait_phase(f->daemon, "mig", "Running", 30000));
    target_log = podvm_test_daemon_console_log(f->daemon, "mig");
    deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (last_heartbeat(target_log) <= src->heartbeat && g_get_monotonic_time() < deadline)
        g_usleep(100 * 1000);
    g_assert_cmpuint(last_heartbeat(target_log), >, src->heartbeat);
    {
        g_autoptr(Answer) a = http(f, "GET", "/v1/pods/mig", NULL, NULL);
        g_assert_null(strstr(a->body, "\"migration\""));
    }
}

/* ---- the network: the same MACs, links down until the switchover ----------------------- */

/* The flags of @ifname in @netns ("BROADCAST,MULTICAST,UP,..."), or "" when there is none. */
static char *
link_flags(const char *netns, const char *ifname)
{
    g_autofree char *arg = g_strdup_printf("--net=%s", netns);
    const char *argv[] = { "nsenter", arg, "--", "ip", "-o", "link", "show", ifname, NULL };
    g_autofree char *out = podvm_test_net_run(argv);
    const char *open = out != NULL ? strchr(out, '<') : NULL;
    const char *end = open != NULL ? strchr(open, '>') : NULL;

    if (end == NULL)
        return g_strdup("");
    return g_strndup(open + 1, (gsize)(end - open - 1));
}

static gboolean
flags_up(const char *flags)
{
    g_auto(GStrv) parts = g_strsplit(flags, ",", -1);

    return g_strv_contains((const char *const *)parts, "UP");
}

/*
 * A masquerade pod: on the target its tap stays down while the copy runs
 * and comes up at the finish; the MAC is the source's, and the guest's
 * page (port 80) is served at the target pod's address afterwards.
 */
static void
test_receive_network(PodvmTestNet *net, gconstpointer data)
{
    Fixture target = { 0 };
    Fixture *f = &target;
    g_autoptr(Source) src = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *id = NULL;
    g_autofree char *secret = NULL;
    g_autofree char *netns = NULL;
    g_autofree char *finish = NULL;
    g_autofree char *source_mac = NULL;
    g_autofree char *target_mac = NULL;
    g_autofree char *pod_ip = NULL;
    g_autofree char *url = NULL;
    g_autofree char *body = NULL;
    g_autofree char *socket_path = NULL;
    g_autofree char *source_dir = NULL;
    g_autofree char *source_cni = NULL;
    guint status = 0;
    int stream;

    if (net->daemon == NULL)
        return;
    socket_path = g_build_filename(net->daemon->run_dir, "api.sock", NULL);
    target.daemon = net->daemon;
    target.socket_path = socket_path;
    /*
     * The source's network of the same name on a bridge and IPAM of its own:
     * both ends have the pod's uid, which host-local (and the bridge
     * plugin's NAT chain) take as the container's id; hosts of their own
     * would not share them.
     */
    source_dir = podvm_test_mkdtemp();
    source_cni = g_build_filename(source_dir, "cni", NULL);
    g_assert_cmpint(g_mkdir_with_parents(source_cni, 0700), ==, 0);
    podvm_test_net_write_conflist(source_cni, "10-pods.conflist", "pods", "podvm5", "10.55.0.0/16",
                                  FALSE);
    conf = g_strdup_printf("[network]\ncni_config_dir=%s\n", source_cni);
    spec = podvm_test_net_spec("mig", NULL, PODVM_TEST_NET_MASQUERADE_IFACES,
                               PODVM_TEST_NET_POD_NETWORK);
    src = source_new_full("mig", spec, NULL, conf);
    if (src == NULL)
        return;
    {
        g_autoptr(JsonNode) root = json_from_string(src->pod_json, NULL);
        JsonObject *status_object =
            json_object_get_object_member(json_node_get_object(root), "status");
        JsonArray *interfaces = json_object_get_array_member(status_object, "interfaces");

        source_mac = g_strdup(
            json_object_get_string_member(json_array_get_object_element(interfaces, 0), "mac"));
    }
    offer_source(f, src, &id, &secret);
    if (net->pods == NULL)
        net->pods = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(net->pods, g_strdup("mig")); /* the fixture deletes it (CNI DEL) */
    netns = podvm_test_net_pod_netns(net, "mig");
    {
        g_autofree char *flags = link_flags(netns, "pvtap0");

        g_assert_cmpstr(flags, !=, "");
        g_assert_false(flags_up(flags));
    }
    stream = open_stream(f, id, secret, "migration", &status);
    g_assert_cmpuint(status, ==, 101);
    json_node_unref(qmp(
        src->qmp_fd, "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"mig\"}}\n", stream));
    close(stream);
    json_node_unref(
        qmp(src->qmp_fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"fd:mig\"}}\n", -1));
    wait_migrate_status(src->qmp_fd, "completed");
    {
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        for (;;) {
            g_autofree char *state = migration_state(f, id);

            if (g_str_equal(state, "completed"))
                break;
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(100 * 1000);
        }
    }
    {
        g_autofree char *flags = link_flags(netns, "pvtap0");
        g_assert_false(flags_up(flags));
    }
    finish = g_strconcat("/v1/migrations/", id, "/finish", NULL);
    {
        g_autoptr(Answer) a = http(f, "POST", finish, NULL, NULL);

        if (a->status != 200)
            g_error("finish: %u %s", a->status, a->body);
    }
    {
        g_autofree char *flags = link_flags(netns, "pvtap0");
        g_assert_true(flags_up(flags));
    }
    target_mac = podvm_test_net_interface_string(net, "mig", 0, "mac");
    g_assert_cmpstr(target_mac, ==, source_mac);
    pod_ip = podvm_test_net_status_string(net, "mig", "podIP");
    g_assert_nonnull(pod_ip);
    url = g_strdup_printf("http://%s:80/", pod_ip);
    body = podvm_test_net_http_get_retry(url, 60000);
    g_assert_nonnull(body);
    g_assert_nonnull(strstr(body, "PODVM-PAGE"));
    g_clear_pointer(&src, source_free);
    podvm_test_rmrf(source_dir);
}

int
main(int argc, char **argv)
{
    /* Before any thread exists: the namespaces of the whole program (the network test's). */
    if (!podvm_test_netns_enter(&podvm_test_net_skip_reason))
        g_assert_nonnull(podvm_test_net_skip_reason);
    g_test_init(&argc, &argv, NULL);
    g_test_add("/migration-target/offer-refused", Fixture, NULL, fixture_setup, test_offer_refused,
               fixture_teardown);
    g_test_add("/migration-target/busy", Fixture, "[migration]\nmax_parallel=1\n", fixture_setup,
               test_busy, fixture_teardown);
    g_test_add("/migration-target/unknown-migration", Fixture, NULL, fixture_setup,
               test_unknown_migration, fixture_teardown);
    g_test_add("/migration-target/receive", Fixture, NULL, fixture_setup, test_receive,
               fixture_teardown);
    g_test_add("/migration-target/receive-disk", Fixture, NULL, fixture_setup, test_receive_disk,
               fixture_teardown);
    g_test_add("/migration-target/abort", Fixture, NULL, fixture_setup, test_abort,
               fixture_teardown);
    g_test_add("/migration-target/qemu-killed", Fixture, NULL, fixture_setup, test_qemu_killed,
               fixture_teardown);
    g_test_add("/migration-target/no-progress", Fixture,
               "[migration]\nno_progress_timeout_ms=3000\n", fixture_setup, test_no_progress,
               fixture_teardown);
    g_test_add("/migration-target/restart-waiting", Fixture, NULL, fixture_setup,
               test_restart_waiting, fixture_teardown);
    g_test_add("/migration-target/restart-activating", Fixture, NULL, fixture_setup,
               test_restart_activating, fixture_teardown);
    g_test_add("/migration-target/receive-network", PodvmTestNet, NULL, podvm_test_net_setup,
               test_receive_network, podvm_test_net_teardown);
    return g_test_run();
}
