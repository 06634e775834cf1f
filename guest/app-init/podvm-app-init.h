/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * podvm's app guest init (PID 1, static, no GLib): the parts share this
 * state. podvm-app-init.c: the channel and the main loop;
 * podvm-app-init-setup.c: mounts, modules, the channel's port, NICs, the
 * apps' root filesystems, the power button; podvm-app-init-apps.c: users,
 * starting apps and exec sessions, their output.
 */

#include <stddef.h>
#include <sys/types.h>

#include "podvm-channel-codec.h"

#define INIT_MAX_APPS 64
#define INIT_MAX_EXECS 32
#define INIT_MAX_NICS 16
#define INIT_LINE_FLUSH 4096 /* a partial console line is written at this size */

typedef struct {
    char *name;
    char *disk;
    char *user; /* NULL: root */
    char *cwd;  /* NULL: "/" */
    char **argv;
    size_t argc;
    char **env;
    size_t envc;

    char root[320]; /* /apps/NAME/root once mounted, else "" */
    pid_t pid;      /* > 0 while running */
    int state;      /* APP_WAITING, APP_RUNNING, APP_ENDED */
    int code;       /* exit code (or 126/127 when it failed to start) */
    int signal;     /* > 0: killed by it */
    int failed;     /* could not start: "failed" was sent, not "exited" */
    char *failed_message;
    int out_fd[2]; /* read ends of its stdout/stderr pipes, -1 when closed */
    char out_buf[2][INIT_LINE_FLUSH];
    size_t out_len[2];
} InitApp;

enum {
    APP_WAITING,
    APP_RUNNING,
    APP_ENDED
};

typedef struct {
    unsigned id; /* 0: slot free */
    InitApp *app;
    pid_t pid;
    int in_fd;  /* write end of its stdin pipe, -1 when none or closed */
    int in_eof; /* close in_fd once in_buf is written */
    char *in_buf;
    size_t in_len;
    int out_fd[2]; /* read ends of stdout/stderr */
    int exited;
    int code, signal;
} InitExec;

typedef struct {
    char *ifname;
    char *mac;
    char *address;
    char *gateway;
} InitNic;

typedef struct {
    int console_fd;
    int debug;
    char *hostname;
    InitApp apps[INIT_MAX_APPS];
    size_t n_apps;
    InitNic nics[INIT_MAX_NICS];
    size_t n_nics;
    char *resolv_conf; /* built from the net lines' dns= and search= */
    InitExec execs[INIT_MAX_EXECS];
    int configured; /* "start" was handled */
    int stopping;   /* shutdown asked: SIGTERM sent, SIGKILL at kill_deadline */
    long long kill_deadline_ms;
    int halted;
    int power_fds[8];
    size_t n_power_fds;
} InitState;

extern InitState init_state;

/* podvm-app-init.c */
void init_log(const char *format, ...) __attribute__((format(printf, 1, 2)));
void init_debug(const char *format, ...) __attribute__((format(printf, 1, 2)));
void init_send(PodvmChannelLine *line);
long long init_now_ms(void);
char **init_collect(const PodvmChannelMessage *msg, const char *key, size_t *out_n);

/* podvm-app-init-setup.c */
void setup_mounts(void);
void setup_modules(void);
int setup_find_port(char *out, size_t size, int timeout_ms);
void setup_loopback(void);
void setup_nic(const InitNic *nic);
int setup_app_root(InitApp *app, char *message, size_t message_size);
void setup_power_button(void);
int setup_power_pressed(int fd);

/* podvm-app-init-apps.c */
void apps_start(InitApp *app);
void apps_report_state(void);
void apps_exec(const PodvmChannelMessage *msg);
void apps_exec_input(const PodvmChannelMessage *msg, int eof);
void apps_exec_kill(const PodvmChannelMessage *msg);
void apps_reap(void);
void apps_read_output(int fd);
void apps_write_input(int fd);
void apps_end_execs(void);
int apps_all_ended(void);
void apps_signal_all(int sig);
