/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * podvm's app guest init: PID 1 of the app guest (see APPS in the README's
 * design and guest/podvm-channel-codec.h for the channel's lines).
 *
 * It mounts the basics, loads the modules of /lib/modules/order, opens the
 * virtio-serial port io.podvm.app.0 and says hello whenever the host
 * (podvmd) connects; the host's config, app and net lines describe the pod,
 * "start" runs it. Each app's stdout and stderr go to the console as
 * "NAME: line". When every app has ended it sends "halt", syncs and powers
 * off. The ACPI power button or the host's "shutdown" stops the apps
 * (SIGTERM, SIGKILL after the grace period) first.
 *
 * A host that connects again (podvmd restarted) gets hello again; the config
 * it sends then is ignored and the init reports every app's state again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "podvm-app-init.h"

#define OUT_MAX (8 * 1024 * 1024) /* lines to the host beyond this are dropped */
#define EARLY_LOG_MAX 65536
#define DEFAULT_GRACE_S 10

InitState init_state;

static int chan_fd = -1;
static int chan_connected;
static char *out_buf; /* encoded lines not yet written to the channel */
static size_t out_len, out_alloc;
static char early_log[EARLY_LOG_MAX]; /* log lines from before the host's first connection */
static size_t early_log_len;
static int ever_connected;
static char in_buf[PODVM_CHANNEL_MAX_LINE + 1];
static size_t in_len;
static int in_discarding; /* a line over the limit: dropped up to its newline */
static int signal_fd = -1;

long long
init_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
console_write(const char *text, size_t len)
{
    while (len > 0 && init_state.console_fd >= 0) {
        ssize_t n = write(init_state.console_fd, text, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

static void
console_vprintf(const char *format, va_list ap)
{
    char buf[1024];
    int n = vsnprintf(buf, sizeof(buf) - 1, format, ap);

    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    console_write("podvm-init: ", 12);
    console_write(buf, (size_t)n);
}

static void
out_append(const char *data, size_t len)
{
    if (out_len + len > OUT_MAX)
        return;
    if (out_len + len > out_alloc) {
        size_t size = out_alloc > 0 ? out_alloc : 65536;
        char *p;

        while (size < out_len + len)
            size *= 2;
        p = realloc(out_buf, size);
        if (p == NULL)
            return;
        out_buf = p;
        out_alloc = size;
    }
    memcpy(out_buf + out_len, data, len);
    out_len += len;
}

/* Sends @line (and clears it); dropped while the host is not connected: state is sent again. */
void
init_send(PodvmChannelLine *line)
{
    if (podvm_channel_line_finish(line) != 0) {
        podvm_channel_line_clear(line);
        return;
    }
    if (chan_connected) {
        out_append(line->data, line->len);
    } else if (!ever_connected && strncmp(line->data, "log ", 4) == 0 &&
               early_log_len + line->len <= sizeof(early_log)) {
        memcpy(early_log + early_log_len, line->data, line->len);
        early_log_len += line->len;
    }
    podvm_channel_line_clear(line);
}

/* The init's own problems: on the console, and to the host as "log". */
void
init_log(const char *format, ...)
{
    char buf[1024];
    va_list ap;
    PodvmChannelLine line;

    va_start(ap, format);
    console_vprintf(format, ap);
    va_end(ap);
    va_start(ap, format);
    vsnprintf(buf, sizeof(buf), format, ap);
    va_end(ap);
    podvm_channel_line_init(&line, "log");
    podvm_channel_line_add(&line, "message", buf);
    init_send(&line);
}

/* On the console with debug=1 only. */
void
init_debug(const char *format, ...)
{
    va_list ap;

    if (!init_state.debug)
        return;
    va_start(ap, format);
    console_vprintf(format, ap);
    va_end(ap);
}

static void
flush_channel(void)
{
    while (chan_connected && out_len > 0) {
        ssize_t n = write(chan_fd, out_buf, out_len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        memmove(out_buf, out_buf + n, out_len - (size_t)n);
        out_len -= (size_t)n;
    }
}

/* "hello", the early log lines, the apps' states. */
static void
say_hello(void)
{
    PodvmChannelLine line;

    podvm_channel_line_init(&line, "hello");
    podvm_channel_line_add_int(&line, "version", PODVM_CHANNEL_VERSION);
    init_send(&line);
    if (!ever_connected) {
        ever_connected = 1;
        out_append(early_log, early_log_len);
        early_log_len = 0;
    }
    if (init_state.configured)
        apps_report_state();
    if (init_state.halted) {
        podvm_channel_line_init(&line, "halt");
        init_send(&line);
    }
}

static void
on_connected(void)
{
    chan_connected = 1;
    out_len = 0; /* a partial line of an earlier connection must not reach this one */
    in_len = 0;
    in_discarding = 0;
    say_hello();
    init_debug("the host connected to the channel");
}

static void
on_disconnected(void)
{
    if (!chan_connected)
        return;
    chan_connected = 0;
    out_len = 0;
    /* The host's exec sessions ended with the connection. */
    apps_end_execs();
    init_debug("the host left the channel");
}

/* Whether the host is connected: the port shows POLLHUP while it is not. */
static void
check_connection(void)
{
    struct pollfd pfd = { .fd = chan_fd, .events = POLLIN };

    if (poll(&pfd, 1, 0) < 0)
        return;
    if (pfd.revents & POLLHUP)
        on_disconnected();
    else if (!chan_connected)
        on_connected();
}

/* --- the host's lines ---------------------------------------------- */

/* Every value of @key, in order, NULL-terminated. */
char **
init_collect(const PodvmChannelMessage *msg, const char *key, size_t *out_n)
{
    size_t n = podvm_channel_message_count(msg, key), i = 0;
    char **values = calloc(n + 1, sizeof(char *));

    for (size_t f = 0; values != NULL && f < msg->n_fields; f++) {
        if (strcmp(msg->fields[f].key, key) == 0)
            values[i++] = strdup(msg->fields[f].value);
    }
    *out_n = n;
    return values;
}

static char *
dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void
handle_app(const PodvmChannelMessage *msg)
{
    const char *name = podvm_channel_message_get(msg, "name");
    InitApp *app;

    if (name == NULL || *name == '\0' || strchr(name, '/') != NULL || name[0] == '.' ||
        strlen(name) > 128) {
        init_log("an app line without a valid name= was ignored");
        return;
    }
    if (init_state.n_apps == INIT_MAX_APPS) {
        init_log("app %s ignored: more than %d apps", name, INIT_MAX_APPS);
        return;
    }
    app = &init_state.apps[init_state.n_apps++];
    memset(app, 0, sizeof(*app));
    app->name = strdup(name);
    app->disk = dup_or_null(podvm_channel_message_get(msg, "disk"));
    app->user = dup_or_null(podvm_channel_message_get(msg, "user"));
    app->cwd = dup_or_null(podvm_channel_message_get(msg, "cwd"));
    app->argv = init_collect(msg, "arg", &app->argc);
    app->env = init_collect(msg, "env", &app->envc);
    app->out_fd[0] = app->out_fd[1] = -1;
}

static void
resolv_append(const char *text)
{
    size_t old = init_state.resolv_conf != NULL ? strlen(init_state.resolv_conf) : 0;
    char *p = realloc(init_state.resolv_conf, old + strlen(text) + 1);

    if (p == NULL)
        return;
    memcpy(p + old, text, strlen(text) + 1);
    init_state.resolv_conf = p;
}

static void
handle_net(const PodvmChannelMessage *msg)
{
    InitNic *nic;

    if (init_state.n_nics == INIT_MAX_NICS)
        return;
    nic = &init_state.nics[init_state.n_nics++];
    nic->ifname = dup_or_null(podvm_channel_message_get(msg, "ifname"));
    nic->mac = dup_or_null(podvm_channel_message_get(msg, "mac"));
    nic->address = dup_or_null(podvm_channel_message_get(msg, "address"));
    nic->gateway = dup_or_null(podvm_channel_message_get(msg, "gateway"));
    for (size_t i = 0; i < msg->n_fields; i++) {
        const PodvmChannelField *f = &msg->fields[i];
        char buf[512];

        if (strcmp(f->key, "dns") == 0 && strchr(f->value, '\n') == NULL) {
            snprintf(buf, sizeof(buf), "nameserver %s\n", f->value);
            resolv_append(buf);
        } else if (strcmp(f->key, "search") == 0 && strchr(f->value, '\n') == NULL) {
            snprintf(buf, sizeof(buf), "search %s\n", f->value);
            resolv_append(buf);
        }
    }
}

static void do_halt(void);

static void
handle_start(void)
{
    init_state.configured = 1;
    if (init_state.hostname != NULL && *init_state.hostname != '\0' &&
        sethostname(init_state.hostname, strlen(init_state.hostname)) < 0)
        init_log("cannot set the hostname %s: %s", init_state.hostname, strerror(errno));
    for (size_t i = 0; i < init_state.n_nics; i++)
        setup_nic(&init_state.nics[i]);
    if (init_state.n_apps == 0)
        init_log("the configuration has no apps");
    for (size_t i = 0; i < init_state.n_apps; i++)
        apps_start(&init_state.apps[i]);
}

static void
begin_shutdown(int grace_s)
{
    if (!init_state.configured) {
        init_state.configured = 1; /* nothing runs: halt at once */
        return;
    }
    if (init_state.stopping)
        return;
    init_state.stopping = 1;
    init_state.kill_deadline_ms = init_now_ms() + (long long)grace_s * 1000;
    init_debug("stopping the apps (grace %d s)", grace_s);
    apps_signal_all(SIGTERM);
}

static void
handle_message(const PodvmChannelMessage *msg)
{
    const char *verb = msg->verb;
    long long value;

    if (strcmp(verb, "hello") == 0) {
        /*
         * The host's hello: a host that reconnected at once may not have
         * shown as gone (no POLLHUP in between), so it asks for ours.
         */
        say_hello();
    } else if (strcmp(verb, "ping") == 0) {
        PodvmChannelLine line;
        const char *id = podvm_channel_message_get(msg, "id");

        podvm_channel_line_init(&line, "pong");
        podvm_channel_line_add(&line, "id", id != NULL ? id : "0");
        init_send(&line);
    } else if (strcmp(verb, "shutdown") == 0) {
        if (podvm_channel_message_get_int(msg, "grace", 0, 3600, &value) < 0)
            value = DEFAULT_GRACE_S;
        begin_shutdown((int)value);
    } else if (strcmp(verb, "exec") == 0) {
        apps_exec(msg);
    } else if (strcmp(verb, "input") == 0) {
        apps_exec_input(msg, 0);
    } else if (strcmp(verb, "input-eof") == 0) {
        apps_exec_input(msg, 1);
    } else if (strcmp(verb, "kill") == 0) {
        apps_exec_kill(msg);
    } else if (strcmp(verb, "error") == 0) {
        const char *message = podvm_channel_message_get(msg, "message");

        init_log("the host refused the channel: %s", message != NULL ? message : "no reason");
    } else if (init_state.configured) {
        /* config, app, net, start again after a reconnection: already running. */
        return;
    } else if (strcmp(verb, "config") == 0) {
        if (podvm_channel_message_get_int(msg, "version", 1, 1000000, &value) < 0 ||
            value != PODVM_CHANNEL_VERSION) {
            init_log("the host's configuration has version %s; this init reads version %d",
                     podvm_channel_message_get(msg, "version") ?: "(none)", PODVM_CHANNEL_VERSION);
            init_state.configured = 1; /* no apps: the guest halts */
            return;
        }
        /* A configuration begins: one an earlier connection began is dropped. */
        init_state.n_apps = 0;
        init_state.n_nics = 0;
        free(init_state.resolv_conf);
        init_state.resolv_conf = NULL;
        free(init_state.hostname);
        init_state.hostname = dup_or_null(podvm_channel_message_get(msg, "hostname"));
        if (podvm_channel_message_get_int(msg, "debug", 0, 1, &value) == 0)
            init_state.debug = (int)value;
    } else if (strcmp(verb, "app") == 0) {
        handle_app(msg);
    } else if (strcmp(verb, "net") == 0) {
        handle_net(msg);
    } else if (strcmp(verb, "start") == 0) {
        handle_start();
    }
}

static void
process_input(void)
{
    size_t start = 0;

    for (;;) {
        char *nl = memchr(in_buf + start, '\n', in_len - start);
        size_t len;
        PodvmChannelMessage msg;
        int r;

        if (nl == NULL)
            break;
        len = (size_t)(nl - (in_buf + start)) + 1;
        if (in_discarding) {
            in_discarding = 0;
        } else if (len == 1) {
            /* An empty line: the host ends a partial line of an earlier connection. */
        } else if ((r = podvm_channel_decode(in_buf + start, len, &msg)) == 0) {
            handle_message(&msg);
            podvm_channel_message_clear(&msg);
        } else {
            init_log("a malformed line from the host was dropped (%s)", strerror(-r));
        }
        start += len;
    }
    memmove(in_buf, in_buf + start, in_len - start);
    in_len -= start;
    if (in_len >= PODVM_CHANNEL_MAX_LINE) {
        if (!in_discarding)
            init_log("a line over %d bytes from the host was dropped", PODVM_CHANNEL_MAX_LINE);
        in_discarding = 1;
        in_len = 0;
    }
}

static void
read_channel(void)
{
    for (;;) {
        ssize_t n = read(chan_fd, in_buf + in_len, PODVM_CHANNEL_MAX_LINE - in_len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        if (n == 0) {
            on_disconnected();
            return;
        }
        in_len += (size_t)n;
        process_input();
    }
}

/* --- the end ---------------------------------------------------------- */

static void
do_halt(void)
{
    PodvmChannelLine line;
    long long deadline;

    init_state.halted = 1;
    apps_end_execs();
    podvm_channel_line_init(&line, "halt");
    init_send(&line);
    /* Up to 3 s for the host to take the last lines. */
    deadline = init_now_ms() + 3000;
    while (chan_connected && out_len > 0 && init_now_ms() < deadline) {
        struct pollfd pfd = { .fd = chan_fd, .events = POLLOUT };

        if (poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLHUP))
            break;
        flush_channel();
    }
    init_debug("all apps ended: powering off");
    kill(-1, SIGKILL);
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static void
handle_signals(void)
{
    struct signalfd_siginfo si;

    while (read(signal_fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGPWR)
            begin_shutdown(DEFAULT_GRACE_S);
    }
    apps_reap();
}

static void
add_pollfd(struct pollfd *pfds, size_t *n, size_t max, int fd, short events)
{
    if (fd < 0 || *n == max)
        return;
    pfds[*n].fd = fd;
    pfds[*n].events = events;
    pfds[*n].revents = 0;
    (*n)++;
}

static void
main_loop(void)
{
    enum {
        MAX_FDS = 16 + INIT_MAX_APPS * 2 + INIT_MAX_EXECS * 3
    };
    static struct pollfd pfds[MAX_FDS];

    for (;;) {
        size_t n = 0;
        int timeout = -1;

        check_connection();
        flush_channel();
        if (init_state.stopping && init_now_ms() >= init_state.kill_deadline_ms) {
            apps_signal_all(SIGKILL);
            init_state.kill_deadline_ms = init_now_ms() + 1000;
        }
        apps_reap();
        if (init_state.configured && apps_all_ended())
            do_halt();

        add_pollfd(pfds, &n, MAX_FDS, signal_fd, POLLIN);
        if (chan_connected)
            add_pollfd(pfds, &n, MAX_FDS, chan_fd, out_len > 0 ? POLLIN | POLLOUT : POLLIN);
        for (size_t i = 0; i < init_state.n_power_fds; i++)
            add_pollfd(pfds, &n, MAX_FDS, init_state.power_fds[i], POLLIN);
        for (size_t i = 0; i < init_state.n_apps; i++) {
            InitApp *app = &init_state.apps[i];

            add_pollfd(pfds, &n, MAX_FDS, app->out_fd[0], POLLIN);
            add_pollfd(pfds, &n, MAX_FDS, app->out_fd[1], POLLIN);
        }
        /* Exec output waits while the host is slow to take it. */
        for (size_t i = 0; i < INIT_MAX_EXECS; i++) {
            InitExec *exec = &init_state.execs[i];

            if (exec->id == 0)
                continue;
            if (out_len < 1024 * 1024) {
                add_pollfd(pfds, &n, MAX_FDS, exec->out_fd[0], POLLIN);
                add_pollfd(pfds, &n, MAX_FDS, exec->out_fd[1], POLLIN);
            }
            if (exec->in_len > 0)
                add_pollfd(pfds, &n, MAX_FDS, exec->in_fd, POLLOUT);
        }
        if (!chan_connected || init_state.stopping)
            timeout = 200;
        else if (init_state.n_power_fds == 0)
            timeout = 1000;

        if (poll(pfds, n, timeout) < 0 && errno != EINTR) {
            init_log("poll failed: %s", strerror(errno));
            sleep(1);
            continue;
        }
        if (init_state.n_power_fds == 0)
            setup_power_button();
        for (size_t i = 0; i < n; i++) {
            short re = pfds[i].revents;
            int fd = pfds[i].fd;

            if (re == 0)
                continue;
            if (fd == signal_fd) {
                handle_signals();
            } else if (fd == chan_fd) {
                if (re & POLLIN)
                    read_channel();
                if (re & POLLHUP)
                    on_disconnected();
            } else if (re & POLLOUT) {
                apps_write_input(fd);
            } else {
                int power = 0;

                for (size_t p = 0; p < init_state.n_power_fds; p++)
                    power |= init_state.power_fds[p] == fd;
                if (power) {
                    if (setup_power_pressed(fd))
                        begin_shutdown(DEFAULT_GRACE_S);
                } else {
                    apps_read_output(fd);
                }
            }
        }
    }
}

int
main(int argc, char **argv)
{
    char port[64];
    sigset_t mask;

    (void)argc;
    (void)argv;
    init_state.console_fd = -1;
    setup_mounts();
    init_state.console_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPWR);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    setup_modules();
    setup_loopback();
    setup_power_button();
    if (setup_find_port(port, sizeof(port), 60000) < 0 ||
        (chan_fd = open(port, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
        init_log("no channel to the host (virtio-serial port %s): powering off",
                 PODVM_CHANNEL_PORT_NAME);
        sync();
        reboot(RB_POWER_OFF);
        return 1;
    }
    main_loop();
    return 0;
}
