/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fronts of app pods and images, against a real podvmd: D-Bus
 * Pod.Exec and POST /v1/pods/NAME/exec answer alike because the core
 * answers for both (a pod that is not running, a pod without the app
 * guest, an unknown pod); what only one front decodes is refused with a
 * message naming the member (REST's body, D-Bus's fds). With podvm's app
 * guest built: a command runs in a running app pod over REST (stdin and
 * output in base64, its exit code), D-Bus (socket pairs) and podvmctl exec.
 */
#include <gio/gunixfdlist.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "podvm-test-daemon.h"
#include "podvm-test-image.h"
#include "podvm-test-util.h"

typedef struct {
    PodvmTestDaemon *daemon;
    SoupSession *session;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autofree char *socket_path = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    f->daemon = podvm_test_daemon_new();
    if (f->daemon == NULL)
        return;
    socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
    address = g_unix_socket_address_new(socket_path);
    f->session = soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_object(&f->session);
    podvm_test_daemon_free(f->daemon);
}

/* The body of an HTTP request; asserts @expected_status. */
static char *
http(Fixture *f, const char *method, const char *path, const char *body, guint expected_status)
{
    g_autofree char *uri = g_strconcat("http://localhost", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) bytes = NULL;
    char *text;

    g_assert_nonnull(msg);
    if (body != NULL) {
        g_autoptr(GBytes) request = g_bytes_new(body, strlen(body));
        soup_message_set_request_body_from_bytes(msg, "application/json", request);
    }
    bytes = soup_session_send_and_read(f->session, msg, NULL, &error);
    g_assert_no_error(error);
    text = g_strndup(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    if (soup_message_get_status(msg) != expected_status)
        g_test_message("%s %s: %u %s", method, path, soup_message_get_status(msg), text);
    g_assert_cmpuint(soup_message_get_status(msg), ==, expected_status);
    return text;
}

static JsonNode *
parse(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    json_parser_load_from_data(parser, text, -1, &error);
    g_assert_no_error(error);
    return json_node_ref(json_parser_get_root(parser));
}

/* The error document's {reason, message} of a REST answer. */
static void
rest_error(const char *text, char **out_reason, char **out_message)
{
    g_autoptr(JsonNode) doc = parse(text);
    JsonObject *error = json_object_get_object_member(json_node_get_object(doc), "error");

    *out_reason = g_strdup(json_object_get_string_member(error, "reason"));
    *out_message = g_strdup(json_object_get_string_member(error, "message"));
}

/* Asserts that a D-Bus @error is io.podvm.PodVM1.Error.@reason with @message. */
static void
assert_dbus_error(GError *error, const char *reason, const char *message)
{
    g_autofree char *remote = NULL;
    g_autofree char *expected = g_strconcat("io.podvm.PodVM1.Error.", reason, NULL);

    g_assert_nonnull(error);
    remote = g_dbus_error_get_remote_error(error);
    g_assert_cmpstr(remote, ==, expected);
    g_dbus_error_strip_remote_error(error);
    g_assert_cmpstr(error->message, ==, message);
}

/* Pod.Exec with three ends of socket pairs; the error, or NULL and *@out_code. */
static GError *
dbus_exec(PodvmDBusPod *pod, const char *app, const char *const *argv, int *out_code)
{
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    GError *error = NULL;
    int ours[3];

    for (guint i = 0; i < 3; i++) {
        int pair[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
        g_unix_fd_list_append(fds, pair[1], &error);
        g_assert_no_error(error);
        close(pair[1]);
        ours[i] = pair[0];
    }
    podvm_dbus_pod_call_exec_sync(pod, app, argv, g_variant_new_handle(0), g_variant_new_handle(1),
                                  g_variant_new_handle(2), fds, out_code, NULL, NULL, &error);
    for (guint i = 0; i < 3; i++)
        close(ours[i]);
    return error;
}

/*
 * A pod that does not run: both fronts give the core's one error; an
 * unknown pod: NotFound over REST as any pod route.
 */
static void
test_exec_errors_alike(Fixture *f, gconstpointer data)
{
    const char *const argv[] = { "true", NULL };
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    int code = -1;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_guest_spec("plain", NULL, NULL, 1);
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_test_daemon_pod(f->daemon, "plain");

    {
        g_autofree char *text = NULL;
        g_autofree char *reason = NULL;
        g_autofree char *message = NULL;
        guint status;

        error = dbus_exec(pod, "", argv, &code);
        g_assert_nonnull(error);
        {
            g_autofree char *remote = g_dbus_error_get_remote_error(error);

            g_assert_true(g_str_has_prefix(remote, "io.podvm.PodVM1.Error."));
            /* The same refusal over REST, with the status of the same error. */
            status = g_str_equal(remote, "io.podvm.PodVM1.Error.NotSupported") ? 400 : 409;
            text = http(f, "POST", "/v1/pods/plain/exec", "{\"command\": [\"true\"]}", status);
            rest_error(text, &reason, &message);
            g_assert_cmpstr(remote + strlen("io.podvm.PodVM1.Error."), ==, reason);
        }
        g_dbus_error_strip_remote_error(error);
        g_assert_cmpstr(error->message, ==, message);
        g_clear_error(&error);
    }
    {
        g_autofree char *text =
            http(f, "POST", "/v1/pods/nosuch/exec", "{\"command\": [\"true\"]}", 404);
        g_autofree char *reason = NULL;
        g_autofree char *message = NULL;

        rest_error(text, &reason, &message);
        g_assert_cmpstr(reason, ==, "NotFound");
        g_assert_nonnull(strstr(message, "nosuch"));
    }
}

/* What each front decodes: REST's body, D-Bus's fds. */
static void
test_exec_decoding(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *body;
        const char *message;
    } cases[] = {
        { NULL, "the body is required: {\"command\": [...]}" },
        { "{}", "command: required (the command and its arguments)" },
        { "{\"command\": \"ls\"}", "command: must be an array of strings" },
        { "{\"command\": [\"ls\", 1]}", "command: must be an array of strings" },
        { "{\"command\": [\"ls\"], \"stdin\": \"not base64!\"}", "stdin: not base64" },
        { "{\"command\": [\"ls\"], \"app\": 7}", "app: must be a string" },
        { "{\"command\": [\"ls\"], \"tty\": true}",
          "tty: unknown member; the body is {\"app\", \"command\", \"stdin\"}" },
        { "[1]", "the body must be a JSON object" },
    };
    const char *const argv[] = { "true", NULL };
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
    int code = -1;

    if (f->daemon == NULL)
        return;
    spec = podvm_test_guest_spec("plain", NULL, NULL, 1);
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = http(f, "POST", "/v1/pods/plain/exec", cases[i].body, 400);
        g_autofree char *reason = NULL;
        g_autofree char *message = NULL;

        rest_error(text, &reason, &message);
        g_assert_cmpstr(reason, ==, "InvalidArgument");
        g_assert_cmpstr(message, ==, cases[i].message);
    }

    /* Handles that name no fd of the message. */
    pod = podvm_test_daemon_pod(f->daemon, "plain");
    podvm_dbus_pod_call_exec_sync(pod, "", argv, g_variant_new_handle(0), g_variant_new_handle(1),
                                  g_variant_new_handle(2), fds, &code, NULL, NULL, &error);
    assert_dbus_error(error, "InvalidArgument",
                      "Exec needs three file descriptors (stdin, stdout, stderr) with the call; "
                      "handle 0 names none");
}

/* The app guest, its rootfs helper and mkfs.erofs, or a skip with the reason. */
static char *
app_pod_config(void)
{
    const char *guest_dir = g_getenv("PODVM_APP_GUEST_DIR");
    const char *helper = g_getenv("PODVM_APP_ROOTFS_HELPER");
    g_autofree char *erofs = g_find_program_in_path("mkfs.erofs");
    g_autofree char *kernel =
        guest_dir != NULL ? g_build_filename(guest_dir, "vmlinuz", NULL) : NULL;

    if (kernel == NULL || !g_file_test(kernel, G_FILE_TEST_IS_REGULAR)) {
        g_test_skip("podvm's app guest is not built (BUILD/guest/app; its build.log says why)");
        return NULL;
    }
    if (helper == NULL || !g_file_test(helper, G_FILE_TEST_IS_EXECUTABLE) || erofs == NULL) {
        g_test_skip("podvm-unpack-app-rootfs or mkfs.erofs (erofs-utils) is missing");
        return NULL;
    }
    return g_strdup_printf("[apps]\nguest_dir=%s\nrootfs_helper=%s\n", guest_dir, helper);
}

/* Reads @fd to its end. */
static char *
read_all(int fd)
{
    g_autoptr(GString) text = g_string_new(NULL);
    char buffer[4096];
    ssize_t n;

    while ((n = read(fd, buffer, sizeof buffer)) > 0)
        g_string_append_len(text, buffer, n);
    g_assert_cmpint(n, ==, 0);
    return g_string_free(g_steal_pointer(&text), FALSE);
}

static void
test_exec_real(Fixture *f, gconstpointer data)
{
    static const char *const cmd[] = { "/bin/sh", "-c", "echo ready; exec sleep 600", NULL };
    g_autoptr(PodvmTestImage) image = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmDBusPod) pod = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *layout = NULL;
    g_autofree char *digest = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *path = NULL;
    g_autofree char *log = NULL;

    if (!podvm_test_require_qemu() || (conf = app_pod_config()) == NULL)
        return;
    image = podvm_test_image_new_busybox(cmd);
    if (image == NULL)
        return;
    /* This test's own podvmd, with the app guest. */
    g_clear_object(&f->session);
    g_clear_pointer(&f->daemon, podvm_test_daemon_free);
    f->daemon = podvm_test_daemon_new_with_config(conf);
    if (f->daemon == NULL)
        return;
    {
        g_autofree char *socket_path = g_build_filename(f->daemon->run_dir, "api.sock", NULL);
        g_autoptr(GSocketAddress) address = g_unix_socket_address_new(socket_path);

        f->session =
            soup_session_new_with_options("remote-connectable", address, "timeout", 120, NULL);
    }
    tmp = podvm_test_mkdtemp();
    layout = g_build_filename(tmp, "busybox", NULL);
    digest = podvm_test_image_write_layout(image, layout, "v1", NULL);
    spec = g_strdup_printf("{\"apiVersion\": \"podvm.io/v1\", \"kind\": \"Pod\", \"metadata\": "
                           "{\"name\": \"box\"}, \"spec\": {\"terminationGracePeriodSeconds\": "
                           "5, \"apps\": [{\"name\": \"shell\", \"image\": \"oci:%s:v1\"}]}}",
                           layout);
    podvm_dbus_manager_call_create_pod_sync(f->daemon->manager, spec, &path, NULL, &error);
    g_assert_no_error(error);
    pod = podvm_test_daemon_pod(f->daemon, "box");
    g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(pod), 300000);
    podvm_dbus_pod_call_start_sync(pod, g_variant_new("a{sv}", NULL), NULL, &error);
    if (error != NULL && g_dbus_error_is_remote_error(error)) {
        g_autofree char *remote = g_dbus_error_get_remote_error(error);

        g_dbus_error_strip_remote_error(error);
        /* Only the product's own "not yet": any other failure is one. */
        if (g_strcmp0(remote, "io.podvm.PodVM1.Error.NotSupported") == 0 ||
            strstr(error->message, "nothing to boot") != NULL) {
            g_autofree char *reason =
                g_strdup_printf("podvmd cannot run app pods yet: %s", error->message);

            g_test_skip(reason);
            podvm_test_rmrf(tmp);
            return;
        }
    }
    g_assert_no_error(error);
    log = podvm_test_daemon_console_log(f->daemon, "box");
    g_assert_true(podvm_test_wait_for_file_content(log, "shell: ready", 240000));

    /* REST: stdin in, both outputs and the exit code out. */
    {
        g_autofree char *text =
            http(f, "POST", "/v1/pods/box/exec",
                 "{\"command\": [\"/bin/sh\", \"-c\", \"cat; echo err >&2; exit 7\"], "
                 "\"stdin\": \"aGVsbG8K\"}",
                 200);
        g_autoptr(JsonNode) answer = parse(text);
        JsonObject *object = json_node_get_object(answer);

        g_assert_cmpint(json_object_get_int_member(object, "exitCode"), ==, 7);
        g_assert_cmpstr(json_object_get_string_member(object, "stdout"), ==, "aGVsbG8K");
        g_assert_cmpstr(json_object_get_string_member(object, "stderr"), ==, "ZXJyCg==");
        g_assert_false(json_object_has_member(object, "truncated"));
    }
    /* D-Bus: socket pairs; the output is there and ended when the call answers. */
    {
        const char *const argv[] = { "/bin/sh", "-c", "tr a-z A-Z; echo done >&2", NULL };
        g_autoptr(GUnixFDList) fds = g_unix_fd_list_new();
        int ours[3];
        int code = -1;
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        for (guint i = 0; i < 3; i++) {
            int pair[2];

            g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
            g_unix_fd_list_append(fds, pair[1], &error);
            g_assert_no_error(error);
            close(pair[1]);
            ours[i] = pair[0];
        }
        g_assert_cmpint(write(ours[0], "abc\n", 4), ==, 4);
        close(ours[0]);
        podvm_dbus_pod_call_exec_sync(pod, "shell", argv, g_variant_new_handle(0),
                                      g_variant_new_handle(1), g_variant_new_handle(2), fds, &code,
                                      NULL, NULL, &error);
        g_assert_no_error(error);
        g_clear_object(&fds);
        g_assert_cmpint(code, ==, 0);
        out = read_all(ours[1]);
        err = read_all(ours[2]);
        close(ours[1]);
        close(ours[2]);
        g_assert_cmpstr(out, ==, "ABC\n");
        g_assert_cmpstr(err, ==, "done\n");
    }
    /* podvmctl exec: the command's exit code is podvmctl's; an unknown app is refused. */
    {
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "exec", "box", "--", "/bin/sh", "-c",
                                       "echo via-ctl; exit 3", NULL),
                        ==, 3);
        g_assert_cmpstr(out, ==, "via-ctl\n");
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(podvm_test_ctl(f->daemon, &out, &err, "exec", "box", "--app", "nosuch",
                                       "--", "true", NULL),
                        ==, 1);
        g_assert_nonnull(strstr(err, "nosuch"));
    }
    g_assert_cmpint(podvm_test_ctl(f->daemon, NULL, NULL, "kill", "box", NULL), ==, 0);
    podvm_test_rmrf(tmp);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/podvm/fronts/apps/exec-errors-alike", Fixture, NULL, fixture_setup,
               test_exec_errors_alike, fixture_teardown);
    g_test_add("/podvm/fronts/apps/exec-decoding", Fixture, NULL, fixture_setup, test_exec_decoding,
               fixture_teardown);
    g_test_add("/podvm/fronts/apps/exec-real", Fixture, NULL, fixture_setup, test_exec_real,
               fixture_teardown);
    return g_test_run();
}
