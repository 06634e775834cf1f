/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* podvmd: options, configuration, the bus name, signals. Everything else is in the core. */
#include "podvm-build-config.h"
#include "podvm-config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <locale.h>
#include <signal.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "podvm-config-defaults.h"
#include "podvm-dbus-front.h"
#include "podvm-error.h"
#include "podvm-log.h"
#include "podvm-manager.h"
#include "podvm-rest-front.h"

/* STATUS= (the pod counts systemctl status shows) at most this often. */
#define STATUS_INTERVAL_MS 1000

typedef struct {
    GMainLoop *loop;
    PodvmManager *manager;
    PodvmDBusFront *front;
    PodvmRestFront *rest;
    PodvmConfig *config;     /* shared with the manager and the pods */
    const char *config_path; /* what a reload reads */
    gboolean config_must_exist;
    gboolean ready;      /* READY=1 was sent */
    char *status;        /* the last STATUS= sent */
    gint64 status_sent;  /* monotonic time it was sent */
    guint status_source; /* a STATUS= waits for its turn */
    int exit_code;
} Daemon;

static gboolean verbose;
/* Whether stderr is the journal: asked once (it costs a getpeername per call). */
static gboolean log_to_journal;

/*
 * sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET (bolt does
 * the same). Nothing happens outside systemd.
 */
static void
notify_systemd(const char *state)
{
    const char *socket_path = g_getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    socklen_t length;
    size_t path_length;
    int fd;

    if (socket_path == NULL || (socket_path[0] != '/' && socket_path[0] != '@'))
        return;
    path_length = strlen(socket_path);
    if (path_length >= sizeof addr.sun_path)
        return;
    memcpy(addr.sun_path, socket_path, path_length);
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0'; /* abstract namespace */
    length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, length) < 0)
        g_debug("sd_notify: %s", g_strerror(errno));
    close(fd);
}

/*
 * The systemd watchdog (WatchdogSec= in the unit): systemd passes the
 * interval in $WATCHDOG_USEC (and the pid meant in $WATCHDOG_PID); we send
 * WATCHDOG=1 from the main loop at half of it, so a main loop that stalls
 * stops the pings and systemd restarts podvmd (the pods' QEMUs live on).
 * Returns the ping interval in microseconds, 0 when not asked for. The
 * variables are unset so that children never take them for theirs.
 */
static guint64
watchdog_interval_usec(void)
{
    const char *usec_text = g_getenv("WATCHDOG_USEC");
    const char *pid_text = g_getenv("WATCHDOG_PID");
    guint64 usec = 0;
    guint64 pid = 0;
    gboolean ours;

    if (usec_text == NULL)
        return 0;
    ours = pid_text == NULL || (g_ascii_string_to_unsigned(pid_text, 10, 1, G_MAXINT, &pid, NULL) &&
                                pid == (guint64)getpid());
    if (!g_ascii_string_to_unsigned(usec_text, 10, 1, G_MAXUINT64, &usec, NULL)) {
        g_warning("ignoring WATCHDOG_USEC=%s: not a number of microseconds", usec_text);
        usec = 0;
    }
    g_unsetenv("WATCHDOG_USEC");
    g_unsetenv("WATCHDOG_PID");
    return ours ? usec / 2 : 0;
}

static gboolean
watchdog_cb(gpointer user_data)
{
    notify_systemd("WATCHDOG=1");
    return G_SOURCE_CONTINUE;
}

/*
 * For tests only: a datagram socket that gets every log message in
 * journald's native protocol as well (the test binds it and reads the
 * fields; journald's own socket is not ours to redirect).
 */
static const char *test_journal_socket;

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
    if ((level & G_LOG_LEVEL_DEBUG) && !verbose)
        return G_LOG_WRITER_HANDLED;
    if (test_journal_socket != NULL)
        podvm_log_journal_send(test_journal_socket, level, fields, n_fields);
    if (log_to_journal &&
        g_log_writer_journald(level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
        return G_LOG_WRITER_HANDLED;
    /* Everything to stderr: stdout is not a log. */
    {
        g_autofree char *line = g_log_writer_format_fields(level, fields, n_fields, FALSE);
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
    }
    return G_LOG_WRITER_HANDLED;
}

/* STATUS= with the pod counts, when they changed. */
static void
send_status(Daemon *daemon)
{
    g_autofree char *status = podvm_manager_status_text(daemon->manager);
    g_autofree char *message = NULL;

    if (g_strcmp0(status, daemon->status) == 0)
        return;
    message = g_strdup_printf("STATUS=%s", status);
    notify_systemd(message);
    g_free(daemon->status);
    daemon->status = g_steal_pointer(&status);
    daemon->status_sent = g_get_monotonic_time();
}

static gboolean
status_due_cb(gpointer user_data)
{
    Daemon *daemon = user_data;

    daemon->status_source = 0;
    send_status(daemon);
    return G_SOURCE_REMOVE;
}

/* A pod appeared, went or changed phase: STATUS= now, or once the last one is a second old. */
static void
manager_event_cb(PodvmManager *manager, const char *pod_name, const char *type, JsonObject *details,
                 gpointer user_data)
{
    Daemon *daemon = user_data;
    gint64 since_ms = (g_get_monotonic_time() - daemon->status_sent) / 1000;

    if (!daemon->ready || daemon->status_source != 0 ||
        (g_strcmp0(type, "PhaseChanged") != 0 && g_strcmp0(type, "Created") != 0 &&
         g_strcmp0(type, "Deleted") != 0))
        return;
    if (since_ms >= STATUS_INTERVAL_MS)
        send_status(daemon);
    else
        daemon->status_source =
            g_timeout_add((guint)(STATUS_INTERVAL_MS - since_ms), status_due_cb, daemon);
}

static void
log_unknown_keys(const PodvmConfig *config)
{
    for (guint i = 0; config->unknown_keys != NULL && i < config->unknown_keys->len; i++)
        g_warning("%s (ignored)", (const char *)g_ptr_array_index(config->unknown_keys, i));
}

/*
 * SIGHUP (systemctl reload): podvmd.conf is read again and what can change
 * while podvmd runs is applied (podvm-config-keys.c says which keys); a
 * file with an error changes nothing. systemd hears RELOADING=1 with the
 * time, then READY=1.
 */
static gboolean
reload_cb(gpointer user_data)
{
    Daemon *daemon = user_data;
    g_autoptr(PodvmConfig) fresh = podvm_config_new_defaults();
    g_autoptr(GPtrArray) restart = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *reloading =
        g_strdup_printf("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT, g_get_monotonic_time());

    notify_systemd(reloading);
    g_message("reloading %s", daemon->config_path);
    if (!podvm_config_load_file(fresh, daemon->config_path, daemon->config_must_exist, &error) ||
        !podvm_rest_front_apply_config(daemon->rest, fresh, &error)) {
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "MESSAGE_ID",
                         PODVM_MESSAGE_DAEMON_RELOAD_FAILED, "MESSAGE",
                         "reload: %s; the configuration in use is kept", error->message);
        notify_systemd("READY=1");
        return G_SOURCE_CONTINUE;
    }
    log_unknown_keys(fresh);
    restart = podvm_config_restart_changes(daemon->config, fresh);
    for (guint i = 0; i < restart->len; i++)
        g_message("reload: %s changed: it takes effect when podvmd restarts",
                  (const char *)g_ptr_array_index(restart, i));
    podvm_config_apply_live(daemon->config, fresh);
    podvm_manager_config_changed(daemon->manager);
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "MESSAGE_ID", PODVM_MESSAGE_DAEMON_RELOADED,
                     "MESSAGE", "reloaded %s", daemon->config_path);
    notify_systemd("READY=1");
    return G_SOURCE_CONTINUE;
}

/*
 * --check-config: podvmd.conf is read as podvmd would read it; every
 * problem (unknown groups and keys too) on stderr. 0 when there is none.
 */
static int
check_config(const char *path, gboolean must_exist)
{
    g_autoptr(PodvmConfig) config = podvm_config_new_defaults();
    g_autoptr(GError) error = NULL;
    guint problems = 0;

    /* Unknown keys first: a file that fails to load has them too. */
    if (!podvm_config_load_file(config, path, must_exist, &error))
        problems++;
    for (guint i = 0; config->unknown_keys != NULL && i < config->unknown_keys->len;
         i++, problems++)
        g_printerr("podvmd: %s\n", (const char *)g_ptr_array_index(config->unknown_keys, i));
    if (error != NULL) {
        g_printerr("podvmd: %s\n", error->message);
        return 1;
    }
    if (config->config_file == NULL) {
        g_print(_("%s: no such file: podvmd uses its defaults\n"), path);
        return 0;
    }
    {
        /* The token files as podvmd reads them (never printed). */
        g_autofree char *token =
            config->rest_listen != NULL ? podvm_config_read_rest_token(config, &error) : NULL;
        g_autofree char *reader_token = NULL;

        if (error != NULL) {
            g_printerr("podvmd: %s: %s\n", path, error->message);
            g_clear_error(&error);
            problems++;
        }
        reader_token = podvm_config_read_rest_reader_token(config, token, &error);
        if (error != NULL) {
            g_printerr("podvmd: %s: %s\n", path, error->message);
            g_clear_error(&error);
            problems++;
        }
        if (token != NULL)
            explicit_bzero(token, strlen(token));
        if (reader_token != NULL)
            explicit_bzero(reader_token, strlen(reader_token));
    }
    if (config->rest_listen != NULL && config->rest_tls_cert != NULL) {
        g_autoptr(GTlsCertificate) certificate =
            g_tls_certificate_new_from_files(config->rest_tls_cert, config->rest_tls_key, &error);

        if (certificate == NULL) {
            g_printerr("podvmd: %s: [rest] tls_cert/tls_key: %s\n", path, error->message);
            g_clear_error(&error);
            problems++;
        }
    }
    if (problems > 0)
        return 1;
    g_print(_("%s: ok\n"), path);
    return 0;
}

static gboolean
quit_cb(gpointer user_data)
{
    Daemon *daemon = user_data;

    g_message("stopping podvmd; pods keep running");
    notify_systemd("STOPPING=1");
    g_main_loop_quit(daemon->loop);
    return G_SOURCE_CONTINUE;
}

static void
bus_acquired_cb(GDBusConnection *connection, const char *name, gpointer user_data)
{
    Daemon *daemon = user_data;
    g_autoptr(GError) error = NULL;

    if (!podvm_dbus_front_export(daemon->front, connection, &error)) {
        g_critical("cannot export the D-Bus objects: %s", error->message);
        daemon->exit_code = 1;
        g_main_loop_quit(daemon->loop);
    }
}

static void
name_acquired_cb(GDBusConnection *connection, const char *name, gpointer user_data)
{
    Daemon *daemon = user_data;

    g_message("podvmd %s ready on the bus as %s", PODVM_VERSION, name);
    notify_systemd("READY=1");
    daemon->ready = TRUE;
    send_status(daemon);
}

static void
name_lost_cb(GDBusConnection *connection, const char *name, gpointer user_data)
{
    Daemon *daemon = user_data;

    g_printerr(_("podvmd: cannot own the bus name %s (is another podvmd running, or is the "
                 "bus policy missing?)\n"),
               name);
    daemon->exit_code = 1;
    g_main_loop_quit(daemon->loop);
}

/* A start that cannot go on: says why, lets the pods run on without podvmd; the exit code. */
static int
give_up(Daemon *daemon, const GError *error)
{
    g_printerr("podvmd: %s\n", error->message);
    podvm_manager_detach_all(daemon->manager);
    g_clear_object(&daemon->rest);
    g_clear_object(&daemon->front);
    g_clear_object(&daemon->manager);
    g_main_loop_unref(daemon->loop);
    return 1;
}

int
main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PodvmConfig) config = NULL;
    g_autofree char *config_file = NULL;
    g_autofree char *state_dir = NULL;
    g_autofree char *run_dir = NULL;
    g_autofree char *accel = NULL;
    g_autofree char *qemu = NULL;
    gboolean session = FALSE;
    gboolean version = FALSE;
    gboolean check = FALSE;
    Daemon daemon = { 0 };
    guint owner_id;
    guint watchdog_id = 0;
    guint reload_id = 0;
    guint64 watchdog_usec;
    GOptionEntry entries[] = {
        { "session", 0, 0, G_OPTION_ARG_NONE, &session, N_("Use the session bus (for tests)"),
          NULL },
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file, N_("Configuration file"), "FILE" },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, N_("Durable state directory"),
          "DIR" },
        { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &run_dir, N_("Runtime directory (sockets)"),
          "DIR" },
        { "accel", 0, 0, G_OPTION_ARG_STRING, &accel, N_("Accelerator: auto, kvm or tcg"),
          "ACCEL" },
        { "qemu", 0, 0, G_OPTION_ARG_FILENAME, &qemu, N_("QEMU binary"), "PATH" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Log debug messages"), NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
        { "check-config", 0, 0, G_OPTION_ARG_NONE, &check,
          N_("Check the configuration file (unknown keys are errors) and exit"), NULL },
        { NULL }
    };

    /*
     * A large message is read whole before it can be refused (dbus-daemon passes 20 MiB
     * strings). glibc raises its mmap threshold to the size of the first large block freed
     * and then keeps up to twice that on the heap for good: a fixed threshold hands every
     * large block back to the system when it is freed.
     */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    /*
     * A child that exits before reading what podvmd writes to its pipe (a
     * helper, a CNI plugin) must cost an EPIPE, not the daemon. The children
     * podvmd starts get the default back (QEMU and passt in their child setup).
     */
    signal(SIGPIPE, SIG_IGN);

    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, PODVM_LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
    textdomain(GETTEXT_PACKAGE);

    context = g_option_context_new(NULL);
    g_option_context_set_summary(context, _("Runs pods as QEMU virtual machines."));
    g_option_context_add_main_entries(context, entries, GETTEXT_PACKAGE);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("podvmd: %s\n", error->message);
        return 2;
    }
    if (version) {
        g_print("podvmd %s\n", PODVM_VERSION);
        return 0;
    }
    daemon.config_path = config_file != NULL ? config_file : PODVM_DEFAULT_CONFIG_FILE;
    daemon.config_must_exist = config_file != NULL;
    if (check)
        return check_config(daemon.config_path, daemon.config_must_exist);
    test_journal_socket = g_getenv("PODVM_TEST_JOURNAL_SOCKET");
    log_to_journal = g_log_writer_is_journald(fileno(stderr));
    g_log_set_writer_func(log_writer, NULL, NULL);
    watchdog_usec = watchdog_interval_usec();

    config = podvm_config_new_defaults();
    if (!podvm_config_load_file(config, daemon.config_path, daemon.config_must_exist, &error)) {
        g_printerr("podvmd: %s\n", error->message);
        return 1;
    }
    log_unknown_keys(config);
    if (state_dir != NULL) {
        g_free(config->state_dir);
        config->state_dir = g_steal_pointer(&state_dir);
    }
    if (run_dir != NULL) {
        g_free(config->run_dir);
        config->run_dir = g_steal_pointer(&run_dir);
    }
    if (qemu != NULL) {
        g_free(config->qemu_binary);
        config->qemu_binary = g_steal_pointer(&qemu);
    }
    if (accel != NULL && !podvm_accel_from_string(accel, &config->accel_requested, &error)) {
        g_printerr("podvmd: --accel: %s\n", error->message);
        return 2;
    }
    config->session_bus = session;
    if (!podvm_config_finish(config, &error)) {
        g_printerr("podvmd: %s\n", error->message);
        return 1;
    }
    g_message("%s", config->accel_why);
    g_message("state in %s, sockets in %s", config->state_dir, config->run_dir);

    daemon.loop = g_main_loop_new(NULL, FALSE);
    daemon.manager = podvm_manager_new(config);
    podvm_manager_load(daemon.manager);
    daemon.front = podvm_dbus_front_new(daemon.manager);
    daemon.rest = podvm_rest_front_new(daemon.manager);
    {
        /* Listening before the bus name is owned: READY=1 means both fronts answer. */
        g_autofree char *api_socket = g_build_filename(config->run_dir, "api.sock", NULL);
        g_autofree char *ro_socket = g_build_filename(config->run_dir, "api-ro.sock", NULL);

        if (!podvm_rest_front_listen_unix(daemon.rest, api_socket, &error) ||
            !podvm_rest_front_listen_unix_read_only(daemon.rest, ro_socket, &error))
            return give_up(&daemon, error);
    }
    /* [rest]: the limits and the TCP listener (again at every reload). */
    if (!podvm_rest_front_apply_config(daemon.rest, config, &error))
        return give_up(&daemon, error);
    daemon.config = config;
    g_signal_connect(daemon.manager, "event", G_CALLBACK(manager_event_cb), &daemon);

    if (watchdog_usec > 0) {
        guint interval_ms = (guint)MAX(MIN(watchdog_usec / 1000, G_MAXUINT), 1);

        g_message("sending WATCHDOG=1 every %u ms", interval_ms);
        watchdog_id = g_timeout_add(interval_ms, watchdog_cb, NULL);
        notify_systemd("WATCHDOG=1");
    }
    g_unix_signal_add(SIGTERM, quit_cb, &daemon);
    g_unix_signal_add(SIGINT, quit_cb, &daemon);
    reload_id = g_unix_signal_add(SIGHUP, reload_cb, &daemon);
    owner_id = g_bus_own_name(session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, PODVM_DBUS_NAME,
                              G_BUS_NAME_OWNER_FLAGS_NONE, bus_acquired_cb, name_acquired_cb,
                              name_lost_cb, &daemon, NULL);

    g_main_loop_run(daemon.loop);

    g_clear_handle_id(&watchdog_id, g_source_remove);
    g_clear_handle_id(&daemon.status_source, g_source_remove);
    g_clear_handle_id(&reload_id, g_source_remove);
    g_signal_handlers_disconnect_by_data(daemon.manager, &daemon);
    g_clear_pointer(&daemon.status, g_free);
    g_bus_unown_name(owner_id);
    podvm_manager_detach_all(daemon.manager);
    g_clear_object(&daemon.rest);
    g_clear_object(&daemon.front);
    g_clear_object(&daemon.manager);
    /* Let cancelled I/O (connections the fronts ended) finish and free itself. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_main_loop_unref(daemon.loop);
    return daemon.exit_code;
}
