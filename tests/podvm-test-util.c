/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "podvm-test-util.h"

#include <glib/gstdio.h>
#include <gio/gio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const char *
podvm_test_qemu_binary(void)
{
    const char *qemu = g_getenv("PODVM_QEMU");
    return qemu != NULL && *qemu != '\0' ? qemu : "qemu-system-x86_64";
}

gboolean
podvm_test_require_qemu(void)
{
    g_autofree char *path = g_find_program_in_path(podvm_test_qemu_binary());

    if (path == NULL) {
        g_test_skip_printf("QEMU (%s) is not installed: apt-get install qemu-system-x86",
                           podvm_test_qemu_binary());
        return FALSE;
    }
    return TRUE;
}

static char *
guest_file_in(const char *env, const char *fallback, const char *name)
{
    const char *dir = g_getenv(env);

    if (dir == NULL)
        dir = fallback;
    return g_build_filename(dir, name, NULL);
}

static char *
guest_file(const char *name)
{
    return guest_file_in("PODVM_GUEST_DIR", "tests/guest", name);
}

static char *
guest_generic_file(const char *name)
{
    return guest_file_in("PODVM_GUEST_GENERIC_DIR", "tests/guest/generic", name);
}

char *
podvm_test_guest_kernel(void)
{
    return guest_file("vmlinuz");
}

char *
podvm_test_guest_initrd(void)
{
    return guest_file("initrd.img");
}

char *
podvm_test_guest_generic_kernel(void)
{
    return guest_generic_file("vmlinuz");
}

char *
podvm_test_guest_generic_initrd(void)
{
    return guest_generic_file("initrd.img");
}

/* Skips with build.log's reason when @kernel or @initrd is missing or empty. */
static gboolean
require_guest_files(const char *what, const char *kernel, const char *initrd, const char *log)
{
    g_autofree char *contents = NULL;
    GStatBuf kst, ist;

    if (!podvm_test_require_qemu())
        return FALSE;
    if (g_stat(kernel, &kst) == 0 && kst.st_size > 0 && g_stat(initrd, &ist) == 0 &&
        ist.st_size > 0)
        return TRUE;
    g_file_get_contents(log, &contents, NULL, NULL);
    g_test_skip_printf("%s was not built (%s): %s", what, kernel,
                       contents != NULL ? g_strstrip(contents) : "no build log");
    return FALSE;
}

gboolean
podvm_test_require_guest(void)
{
    g_autofree char *kernel = podvm_test_guest_kernel();
    g_autofree char *initrd = podvm_test_guest_initrd();
    g_autofree char *log = guest_file("build.log");

    return require_guest_files("the test guest", kernel, initrd, log);
}

gboolean
podvm_test_require_guest_generic(void)
{
    g_autofree char *kernel = podvm_test_guest_generic_kernel();
    g_autofree char *initrd = podvm_test_guest_generic_initrd();
    g_autofree char *log = guest_generic_file("build.log");

    return require_guest_files("the test guest on the generic kernel", kernel, initrd, log);
}

char *
podvm_test_mkdtemp(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("podvm-test-XXXXXX", &error);

    g_assert_no_error(error);
    return dir;
}

void
podvm_test_rmrf(const char *path)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;
    GStatBuf st;

    if (path == NULL || g_lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        dir = g_dir_open(path, 0, NULL);
        while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            podvm_test_rmrf(child);
        }
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

static gboolean
timeout_cb(gpointer user_data)
{
    gboolean *timed_out = user_data;

    *timed_out = TRUE;
    return G_SOURCE_REMOVE;
}

static gboolean
tick_cb(gpointer user_data)
{
    return G_SOURCE_CONTINUE;
}

gboolean
podvm_test_wait_until(gboolean (*condition)(gpointer user_data), gpointer user_data,
                      guint timeout_ms)
{
    gboolean timed_out = FALSE;
    guint id = g_timeout_add(timeout_ms, timeout_cb, &timed_out);
    /* Conditions may poll files or processes: wake up to look again. */
    guint tick = g_timeout_add(20, tick_cb, NULL);

    while (!condition(user_data) && !timed_out)
        g_main_context_iteration(NULL, TRUE);
    if (!timed_out)
        g_source_remove(id);
    g_source_remove(tick);
    return condition(user_data);
}

typedef struct {
    const char *path;
    const char *needle;
} FileNeedle;

static gboolean
file_has_needle(gpointer user_data)
{
    FileNeedle *fn = user_data;
    g_autofree char *contents = NULL;

    if (!g_file_get_contents(fn->path, &contents, NULL, NULL))
        return FALSE;
    return strstr(contents, fn->needle) != NULL;
}

gboolean
podvm_test_wait_for_file_content(const char *path, const char *needle, guint timeout_ms)
{
    FileNeedle fn = { path, needle };

    return podvm_test_wait_until(file_has_needle, &fn, timeout_ms);
}

guint
podvm_test_count_in_file(const char *path, const char *needle)
{
    g_autofree char *contents = NULL;
    const char *p;
    guint count = 0;
    gsize len = strlen(needle);

    if (!g_file_get_contents(path, &contents, NULL, NULL))
        return 0;
    for (p = strstr(contents, needle); p != NULL; p = strstr(p + len, needle))
        count++;
    return count;
}

gboolean
podvm_test_make_certificate(const char *dir, const char *const *names, char **out_cert,
                            char **out_key)
{
    g_autofree char *openssl = g_find_program_in_path("openssl");
    g_autofree char *cert = g_build_filename(dir, "cert.pem", NULL);
    g_autofree char *key = g_build_filename(dir, "key.pem", NULL);
    g_autofree char *err = NULL;
    g_autofree char *subject = NULL;
    g_autoptr(GString) alt_names = g_string_new("subjectAltName=");
    g_autoptr(GError) error = NULL;
    int status = 0;

    if (openssl == NULL) {
        g_test_skip("openssl is not installed: no certificate to test TLS with");
        return FALSE;
    }
    g_assert_true(names != NULL && names[0] != NULL);
    for (guint i = 0; names[i] != NULL; i++) {
        if (i > 0)
            g_string_append_c(alt_names, ',');
        g_string_append_printf(alt_names, "%s:%s",
                               g_hostname_is_ip_address(names[i]) ? "IP" : "DNS", names[i]);
    }
    subject = g_strdup_printf("/CN=%s", names[0]);
    {
        const char *argv[] = { openssl,   "req",   "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-subj",   subject, "-days", "1",       "-addext",  alt_names->str,
                               "-keyout", key,     "-out",  cert,      NULL };
        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err, &status,
                     &error);
        g_assert_no_error(error);
        if (!g_spawn_check_wait_status(status, NULL)) {
            g_test_skip("openssl could not make a certificate");
            g_test_message("openssl: %s", err);
            return FALSE;
        }
    }
    *out_cert = g_steal_pointer(&cert);
    *out_key = g_steal_pointer(&key);
    return TRUE;
}

void
podvm_test_dgram_open(PodvmTestDgram *d, const char *name)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    d->dir = podvm_test_mkdtemp();
    d->path = g_build_filename(d->dir, name, NULL);
    g_assert_cmpuint(strlen(d->path), <, sizeof addr.sun_path);
    strcpy(addr.sun_path, d->path);
    d->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(d->fd, >=, 0);
    g_assert_cmpint(bind(d->fd, (struct sockaddr *)&addr, sizeof addr), ==, 0);
    {
        /* A podvmd logging at debug level sends a lot: room for it while the test looks away. */
        int size = 4 * 1024 * 1024;
        setsockopt(d->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
}

void
podvm_test_dgram_close(PodvmTestDgram *d)
{
    close(d->fd);
    podvm_test_rmrf(d->dir);
    g_clear_pointer(&d->dir, g_free);
    g_clear_pointer(&d->path, g_free);
}

GBytes *
podvm_test_dgram_next(PodvmTestDgram *d, int timeout_ms)
{
    struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
    g_autofree char *buffer = g_malloc(256 * 1024);
    ssize_t length;

    if (poll(&pfd, 1, timeout_ms) <= 0)
        return NULL;
    length = recv(d->fd, buffer, 256 * 1024, 0);
    g_assert_cmpint(length, >=, 0);
    return g_bytes_new(buffer, (gsize)length);
}

char *
podvm_test_dgram_next_text(PodvmTestDgram *d, int timeout_ms)
{
    g_autoptr(GBytes) bytes = podvm_test_dgram_next(d, timeout_ms);
    gsize length = 0;
    const char *data = bytes != NULL ? g_bytes_get_data(bytes, &length) : NULL;

    return data != NULL ? g_strndup(data, length) : NULL;
}
