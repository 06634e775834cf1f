/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A migration's source played by the test (podvm-test-target.h). */
#include "podvm-test-target.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "podvm-test-clients.h"
#include "podvm-test-util.h"

void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->daemon = podvm_test_daemon_new_with_config(data != NULL ? data : "[migration]\n");
    if (f->daemon == NULL)
        return;
    f->socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
}

void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_free(f->socket_path);
    podvm_test_daemon_free(f->daemon);
}

/* ---- raw HTTP on the unix socket ---------------------------------------------------- */

void
answer_free(Answer *a)
{
    g_free(a->head);
    g_free(a->body);
    g_free(a);
}

/* Reads one answer's head (to the blank line) from @fd: its bytes, without the blank line. */
char *
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

guint
head_status(const char *head)
{
    return head != NULL && strlen(head) > 12 ? (guint)atoi(head + 9) : 0;
}

/* One request on a fresh connection ("Connection: close"); the whole answer. */
Answer *
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

Answer *
http(Fixture *f, const char *method, const char *path, const char *extra_headers, const char *body)
{
    return http_at(f->socket_path, method, path, extra_headers, body);
}

/* The error reason of an error document, or "". */
char *
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
int
events_open(Fixture *f, const char *pod)
{
    int fd = podvm_test_connect_unix(f->socket_path);
    g_autofree char *request =
        g_strdup_printf("GET /v1/events?pod=%s HTTP/1.1\r\nHost: podvm\r\n\r\n", pod);

    g_autofree char *head = NULL;

    g_assert_true(podvm_test_send_all(fd, request, strlen(request)));
    /* The answer's head comes once the stream is subscribed. */
    head = read_head(fd);
    g_assert_cmpuint(head_status(head), ==, 200);
    return fd;
}

/* Reads @fd into @seen until it holds @needle or @timeout_ms passed. */
gboolean
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

/* An offer of the test guest named @name with @uid (NULL: a new one). */
char *
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
char *
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

/* A connected unix socket without timeouts (it becomes QEMU's migration channel). */
int
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
char *
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
JsonNode *
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

int
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
char *
migrate_status(int qmp_fd)
{
    g_autoptr(JsonNode) reply = qmp(qmp_fd, "{\"execute\": \"query-migrate\"}\n", -1);

    return g_strdup(
        json_object_get_string_member_with_default(json_node_get_object(reply), "status", ""));
}

/* The largest n of "PODVM-HEARTBEAT n" in @path, 0 when none. */
guint
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

void
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

char *
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

Source *
source_new_with(const char *name, const char *spec, const char *write_word)
{
    return source_new_full(name, spec, write_word, NULL);
}

Source *
source_new(const char *name, const char *extra_args)
{
    g_autofree char *spec = podvm_test_guest_spec(name, extra_args, NULL, 2);

    return source_new_with(name, spec, NULL);
}

/*
 * The same from @spec; when @write_word is given, the guest writes it at
 * the start of its disk of DISK_SIZE bytes first.
 */
Source *
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
char *
source_offer(Source *src, const char *disks)
{
    return g_strdup_printf("{\"version\": 1, \"pod\": %s, \"disks\": %s, \"macs\": {}, "
                           "\"postcopy\": false}",
                           src->pod_json, disks);
}

/* The answer's id and secret. */
void
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
int
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

char *
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
gboolean
target_has_no_trace(Fixture *f, const char *name)
{
    g_autofree char *state = g_build_filename(f->daemon->state_dir, "pods", name, NULL);
    g_autofree char *run = g_build_filename(f->daemon->run_dir, "pods", name, NULL);
    g_autofree char *phase = phase_of(f->socket_path, name);

    return !g_file_test(state, G_FILE_TEST_EXISTS) && !g_file_test(run, G_FILE_TEST_EXISTS) &&
           g_str_equal(phase, "");
}

gboolean
no_trace_cb(gpointer user_data)
{
    Fixture *f = user_data;

    return target_has_no_trace(f, "mig");
}

/* Waits until the block job @job is ready (@job NULL: until no job is left). */
void
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

void
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

/* Whether @pid runs (a zombie no longer does: its parent may be gone). */
gboolean
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

gint64
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
void
offer_source(Fixture *f, Source *src, char **out_id, char **out_secret)
{
    g_autofree char *offer = source_offer(src, "[]");
    g_autoptr(Answer) a = http(f, "POST", "/v1/migrations", NULL, offer);

    if (a->status != 201)
        g_error("offer: %u %s", a->status, a->body);
    answer_id_secret(a, out_id, out_secret);
}
