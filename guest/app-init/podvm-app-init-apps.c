/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The app guest init's processes: the apps (each in its root, as its user,
 * output to the console prefixed by its name) and the host's exec
 * sessions (output to the host), reaped by PID 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "podvm-app-init.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_GROUPS 64

typedef struct {
    uid_t uid;
    gid_t gid;
    gid_t groups[MAX_GROUPS];
    size_t n_groups;
    char home[256];
    char name[64];
} UserInfo;

extern char **environ;

static int
parse_id(const char *s, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > 0x7fffffff)
        return -1;
    *out = v;
    return 0;
}

/* Splits a passwd/group line on ':' into at most @max fields. */
static size_t
split_colon(char *line, char **fields, size_t max)
{
    size_t n = 0;

    line[strcspn(line, "\n")] = '\0';
    while (n < max) {
        fields[n++] = line;
        line = strchr(line, ':');
        if (line == NULL)
            break;
        *line++ = '\0';
    }
    return n;
}

/* Looks @name (or the numeric uid) up in ROOT/etc/passwd. */
static int
lookup_passwd(const char *root, const char *name, UserInfo *user)
{
    char path[512], line[1024];
    FILE *f;
    int found = -1;
    unsigned long id = 0;
    int numeric = parse_id(name, &id) == 0;

    snprintf(path, sizeof(path), "%s/etc/passwd", root);
    f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *fields[7];
        unsigned long uid, gid;

        if (split_colon(line, fields, 7) < 7 || parse_id(fields[2], &uid) < 0 ||
            parse_id(fields[3], &gid) < 0)
            continue;
        if (numeric ? uid != id : strcmp(fields[0], name) != 0)
            continue;
        user->uid = (uid_t)uid;
        user->gid = (gid_t)gid;
        snprintf(user->home, sizeof(user->home), "%s", fields[5]);
        snprintf(user->name, sizeof(user->name), "%s", fields[0]);
        found = 0;
        break;
    }
    if (f != NULL)
        fclose(f);
    return found;
}

/* A group's gid by name (or number) in ROOT/etc/group; with @member, the groups it is in. */
static int
lookup_groups(const char *root, const char *group, UserInfo *user, gid_t *out_gid)
{
    char path[512], line[4096];
    FILE *f;
    int found = -1;
    unsigned long id = 0;
    int numeric = group != NULL && parse_id(group, &id) == 0;

    if (numeric) {
        *out_gid = (gid_t)id;
        found = 0;
    }
    snprintf(path, sizeof(path), "%s/etc/group", root);
    f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *fields[4], *member, *save = NULL;
        unsigned long gid;

        if (split_colon(line, fields, 4) < 4 || parse_id(fields[2], &gid) < 0)
            continue;
        if (group != NULL && !numeric && strcmp(fields[0], group) == 0) {
            *out_gid = (gid_t)gid;
            found = 0;
        }
        if (user->name[0] == '\0')
            continue;
        for (member = strtok_r(fields[3], ",", &save); member != NULL;
             member = strtok_r(NULL, ",", &save)) {
            if (strcmp(member, user->name) == 0 && user->n_groups < MAX_GROUPS)
                user->groups[user->n_groups++] = (gid_t)gid;
        }
    }
    if (f != NULL)
        fclose(f);
    return found;
}

/*
 * @spec is "user[:group]", each a name (looked up in the app's /etc/passwd and
 * /etc/group) or a number; NULL is root. -1 and @message when unknown.
 */
static int
resolve_user(const char *root, const char *spec, UserInfo *user, char *message, size_t size)
{
    char copy[256], *group;
    unsigned long id;
    gid_t gid;

    memset(user, 0, sizeof(*user));
    snprintf(user->home, sizeof(user->home), "/");
    if (spec == NULL || *spec == '\0') {
        snprintf(user->name, sizeof(user->name), "root");
        snprintf(user->home, sizeof(user->home), "/root");
        lookup_groups(root, NULL, user, &gid);
        return 0;
    }
    snprintf(copy, sizeof(copy), "%s", spec);
    group = strchr(copy, ':');
    if (group != NULL)
        *group++ = '\0';
    if (lookup_passwd(root, copy, user) < 0) {
        if (parse_id(copy, &id) < 0) {
            snprintf(message, size, "user %s is not in the image's /etc/passwd", copy);
            return -1;
        }
        user->uid = (uid_t)id;
        user->gid = (gid_t)id;
    }
    if (lookup_groups(root, group, user, &gid) == 0)
        user->gid = gid;
    else if (group != NULL) {
        snprintf(message, size, "group %s is not in the image's /etc/group", group);
        return -1;
    }
    return 0;
}

static int
env_has(char **env, size_t n, const char *key)
{
    size_t len = strlen(key);

    for (size_t i = 0; i < n; i++) {
        if (env[i] != NULL && strncmp(env[i], key, len) == 0 && env[i][len] == '=')
            return 1;
    }
    return 0;
}

/* The app's env, then @extra, then PATH, HOME and HOSTNAME when they are missing. */
static char **
build_env(const InitApp *app, char **extra, size_t n_extra, const UserInfo *user)
{
    size_t n = app->envc + n_extra, i = 0;
    char **env = calloc(n + 4, sizeof(char *));
    char buf[512];

    if (env == NULL)
        return NULL;
    for (size_t k = 0; k < app->envc; k++)
        env[i++] = app->env[k];
    for (size_t k = 0; k < n_extra; k++)
        env[i++] = extra[k];
    if (!env_has(env, i, "PATH"))
        env[i++] = strdup("PATH=" DEFAULT_PATH);
    if (!env_has(env, i, "HOME")) {
        snprintf(buf, sizeof(buf), "HOME=%s", user->home);
        env[i++] = strdup(buf);
    }
    if (!env_has(env, i, "HOSTNAME") && init_state.hostname != NULL) {
        snprintf(buf, sizeof(buf), "HOSTNAME=%s", init_state.hostname);
        env[i++] = strdup(buf);
    }
    return env;
}

/* In the child: reports @stage's failure on @status_fd and exits with @code. */
static void __attribute__((noreturn)) child_fail(int status_fd, int code, const char *what, int err)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%d %s: %s", code, what, strerror(err));

    if (status_fd >= 0) {
        if (write(status_fd, buf, (size_t)n) < 0) {
            /* nothing more to do */
        }
    } else {
        buf[n++] = '\n';
        if (write(STDERR_FILENO, buf + 4, (size_t)n - 4) < 0) {
            /* nothing more to do */
        }
    }
    _exit(code);
}

/*
 * Forks a process in @app's root: stdin from @in_fd (or /dev/null), stdout
 * and stderr to @out_fds, as the app's user, in @cwd, with @env. A failure
 * before exec goes to @status_fd as "CODE MESSAGE" (then the parent reports
 * it), or when @status_fd is -1 to the process's stderr.
 */
static pid_t
spawn_in_root(const InitApp *app, char **argv, char **env, const char *cwd, const UserInfo *user,
              int in_fd, const int out_fds[2], int status_fd)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;

    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    if (in_fd < 0)
        in_fd = open("/dev/null", O_RDONLY);
    if (dup2(in_fd, 0) < 0 || dup2(out_fds[0], 1) < 0 || dup2(out_fds[1], 2) < 0)
        child_fail(status_fd, 126, "cannot set up its stdio", errno);
    if (chroot(app->root) < 0 || chdir("/") < 0)
        child_fail(status_fd, 126, "cannot enter its root", errno);
    if (cwd != NULL && *cwd != '\0' && chdir(cwd) < 0)
        child_fail(status_fd, 126, cwd, errno);
    if (setgroups(user->n_groups, user->groups) < 0 || setgid(user->gid) < 0 ||
        setuid(user->uid) < 0)
        child_fail(status_fd, 126, "cannot take its user", errno);
    environ = env;
    execvp(argv[0], argv);
    child_fail(status_fd, errno == ENOENT || errno == ENOTDIR ? 127 : 126, argv[0], errno);
}

static int
make_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void
send_failed(InitApp *app, int code, const char *message)
{
    PodvmChannelLine line;

    app->state = APP_ENDED;
    app->failed = 1;
    app->code = code;
    free(app->failed_message);
    app->failed_message = strdup(message);
    init_log("app %s could not start: %s", app->name, message);
    podvm_channel_line_init(&line, "failed");
    podvm_channel_line_add(&line, "app", app->name);
    podvm_channel_line_add(&line, "message", message);
    podvm_channel_line_add_int(&line, "code", code);
    init_send(&line);
}

static void
send_started(const InitApp *app)
{
    PodvmChannelLine line;

    podvm_channel_line_init(&line, "started");
    podvm_channel_line_add(&line, "app", app->name);
    podvm_channel_line_add_int(&line, "pid", app->pid);
    init_send(&line);
}

static void
send_exited(const InitApp *app)
{
    PodvmChannelLine line;

    podvm_channel_line_init(&line, "exited");
    podvm_channel_line_add(&line, "app", app->name);
    if (app->signal > 0)
        podvm_channel_line_add_int(&line, "signal", app->signal);
    else
        podvm_channel_line_add_int(&line, "code", app->code);
    init_send(&line);
}

void
apps_start(InitApp *app)
{
    char message[512];
    UserInfo user;
    int out[2][2] = { { -1, -1 }, { -1, -1 } }, status[2] = { -1, -1 }, fds[2];
    char **env;
    char buf[600];
    ssize_t n;
    int code;

    if (app->argc == 0) {
        send_failed(app, 126, "no command to run");
        return;
    }
    if (setup_app_root(app, message, sizeof(message)) < 0) {
        send_failed(app, app->root[0] == '\0' && strncmp(message, "no disk", 7) == 0 ? 127 : 126,
                    message);
        return;
    }
    if (resolve_user(app->root, app->user, &user, message, sizeof(message)) < 0) {
        send_failed(app, 126, message);
        return;
    }
    env = build_env(app, NULL, 0, &user);
    if (env == NULL || make_pipe(out[0]) < 0 || make_pipe(out[1]) < 0 || make_pipe(status) < 0) {
        send_failed(app, 126, "out of resources");
        return;
    }
    fds[0] = out[0][1];
    fds[1] = out[1][1];
    app->pid = spawn_in_root(app, app->argv, env, app->cwd, &user, -1, fds, status[1]);
    code = errno;
    free(env); /* the strings it added are lost: once per app */
    close(out[0][1]);
    close(out[1][1]);
    close(status[1]);
    if (app->pid < 0) {
        close(out[0][0]);
        close(out[1][0]);
        close(status[0]);
        snprintf(message, sizeof(message), "cannot fork: %s", strerror(code));
        send_failed(app, 126, message);
        return;
    }
    /* The status pipe closes on exec, or carries why it failed. */
    do {
        n = read(status[0], buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    close(status[0]);
    if (n > 0) {
        char *space;

        buf[n] = '\0';
        code = atoi(buf);
        space = strchr(buf, ' ');
        waitpid(app->pid, NULL, 0);
        app->pid = 0;
        close(out[0][0]);
        close(out[1][0]);
        send_failed(app, code == 127 ? 127 : 126, space != NULL ? space + 1 : buf);
        return;
    }
    app->out_fd[0] = out[0][0];
    app->out_fd[1] = out[1][0];
    fcntl(app->out_fd[0], F_SETFL, O_NONBLOCK);
    fcntl(app->out_fd[1], F_SETFL, O_NONBLOCK);
    app->state = APP_RUNNING;
    init_debug("app %s started (pid %d)", app->name, (int)app->pid);
    send_started(app);
}

void
apps_report_state(void)
{
    for (size_t i = 0; i < init_state.n_apps; i++) {
        InitApp *app = &init_state.apps[i];

        if (app->failed) {
            PodvmChannelLine line;

            podvm_channel_line_init(&line, "failed");
            podvm_channel_line_add(&line, "app", app->name);
            podvm_channel_line_add(&line, "message", app->failed_message ?: "");
            podvm_channel_line_add_int(&line, "code", app->code);
            init_send(&line);
        } else if (app->state == APP_RUNNING) {
            send_started(app);
        } else if (app->state == APP_ENDED) {
            send_started(app);
            send_exited(app);
        }
    }
}

/* --- output ----------------------------------------------------------- */

static void
console_line(const InitApp *app, const char *data, size_t len)
{
    char prefix[160];
    int n = snprintf(prefix, sizeof(prefix), "%s: ", app->name);
    const char *parts[3] = { prefix, data, "\n" };
    size_t lens[3] = { (size_t)n, len, 1 };

    if (init_state.console_fd < 0)
        return;
    for (int p = 0; p < 3; p++) {
        const char *s = parts[p];
        size_t left = lens[p];

        while (left > 0) {
            ssize_t w = write(init_state.console_fd, s, left);

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return;
            s += w;
            left -= (size_t)w;
        }
    }
}

/* Reads what @app's stream @which has; at its end the fd is closed and a partial line written. */
static void
app_read(InitApp *app, int which)
{
    char buf[4096];

    for (;;) {
        ssize_t n = read(app->out_fd[which], buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN */
        if (n == 0) {
            if (app->out_len[which] > 0)
                console_line(app, app->out_buf[which], app->out_len[which]);
            app->out_len[which] = 0;
            close_fd(&app->out_fd[which]);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];

            if (c == '\n') {
                console_line(app, app->out_buf[which], app->out_len[which]);
                app->out_len[which] = 0;
                continue;
            }
            app->out_buf[which][app->out_len[which]++] = c;
            if (app->out_len[which] == INIT_LINE_FLUSH) {
                console_line(app, app->out_buf[which], app->out_len[which]);
                app->out_len[which] = 0;
            }
        }
    }
}

static void
exec_send_output(InitExec *exec, int which)
{
    char buf[PODVM_CHANNEL_MAX_CHUNK];

    for (int rounds = 0; rounds < 8; rounds++) {
        ssize_t n = read(exec->out_fd[which], buf, sizeof(buf));
        PodvmChannelLine line;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        if (n == 0) {
            close_fd(&exec->out_fd[which]);
            return;
        }
        podvm_channel_line_init(&line, "output");
        podvm_channel_line_add_int(&line, "id", exec->id);
        podvm_channel_line_add_int(&line, "fd", which + 1);
        podvm_channel_line_add_data(&line, "data", buf, (size_t)n);
        init_send(&line);
    }
}

void
apps_read_output(int fd)
{
    for (size_t i = 0; i < init_state.n_apps; i++) {
        InitApp *app = &init_state.apps[i];

        for (int w = 0; w < 2; w++) {
            if (app->out_fd[w] == fd) {
                app_read(app, w);
                return;
            }
        }
    }
    for (size_t i = 0; i < INIT_MAX_EXECS; i++) {
        InitExec *exec = &init_state.execs[i];

        for (int w = 0; exec->id != 0 && w < 2; w++) {
            if (exec->out_fd[w] == fd) {
                exec_send_output(exec, w);
                return;
            }
        }
    }
}

/* --- exec sessions ---------------------------------------------------- */

static InitExec *
find_exec(const PodvmChannelMessage *msg)
{
    long long id;

    if (podvm_channel_message_get_int(msg, "id", 1, 0xffffffffLL, &id) < 0)
        return NULL;
    for (size_t i = 0; i < INIT_MAX_EXECS; i++) {
        if (init_state.execs[i].id == (unsigned)id)
            return &init_state.execs[i];
    }
    return NULL;
}

static void
exec_failed(const char *id, const char *message)
{
    PodvmChannelLine line;

    podvm_channel_line_init(&line, "exec-failed");
    podvm_channel_line_add(&line, "id", id);
    podvm_channel_line_add(&line, "message", message);
    init_send(&line);
}

static void
free_strv(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

void
apps_exec(const PodvmChannelMessage *msg)
{
    const char *id = podvm_channel_message_get(msg, "id");
    const char *name = podvm_channel_message_get(msg, "app");
    const char *cwd = podvm_channel_message_get(msg, "cwd");
    long long id_value, with_stdin = 0;
    InitApp *app = NULL;
    InitExec *exec = NULL;
    UserInfo user;
    char message[512];
    char **argv, **extra, **env;
    size_t argc, n_extra;
    int in[2] = { -1, -1 }, out[2][2] = { { -1, -1 }, { -1, -1 } }, fds[2];

    if (id == NULL || podvm_channel_message_get_int(msg, "id", 1, 0xffffffffLL, &id_value) < 0)
        return;
    podvm_channel_message_get_int(msg, "stdin", 0, 1, &with_stdin);
    for (size_t i = 0; name != NULL && i < init_state.n_apps; i++) {
        if (strcmp(init_state.apps[i].name, name) == 0)
            app = &init_state.apps[i];
    }
    if (app == NULL || app->root[0] == '\0') {
        snprintf(message, sizeof(message), app == NULL ? "no app %s" : "app %s is not running",
                 name != NULL ? name : "(none)");
        exec_failed(id, message);
        return;
    }
    if (find_exec(msg) != NULL) {
        exec_failed(id, "an exec session with this id is running");
        return;
    }
    for (size_t i = 0; exec == NULL && i < INIT_MAX_EXECS; i++) {
        if (init_state.execs[i].id == 0)
            exec = &init_state.execs[i];
    }
    if (exec == NULL) {
        exec_failed(id, "too many exec sessions");
        return;
    }
    if (resolve_user(app->root, app->user, &user, message, sizeof(message)) < 0) {
        exec_failed(id, message);
        return;
    }
    argv = init_collect(msg, "arg", &argc);
    extra = init_collect(msg, "env", &n_extra);
    if (argc == 0) {
        free_strv(argv);
        free_strv(extra);
        exec_failed(id, "no command given");
        return;
    }
    env = build_env(app, extra, n_extra, &user);
    if (env == NULL || (with_stdin && make_pipe(in) < 0) || make_pipe(out[0]) < 0 ||
        make_pipe(out[1]) < 0) {
        exec_failed(id, "out of resources");
    } else {
        memset(exec, 0, sizeof(*exec));
        fds[0] = out[0][1];
        fds[1] = out[1][1];
        exec->pid =
            spawn_in_root(app, argv, env, cwd != NULL ? cwd : app->cwd, &user, in[0], fds, -1);
        if (exec->pid < 0) {
            snprintf(message, sizeof(message), "cannot fork: %s", strerror(errno));
            exec_failed(id, message);
            close_fd(&in[1]);
            close_fd(&out[0][0]);
            close_fd(&out[1][0]);
        } else {
            PodvmChannelLine line;

            exec->id = (unsigned)id_value;
            exec->app = app;
            exec->in_fd = in[1];
            exec->out_fd[0] = out[0][0];
            exec->out_fd[1] = out[1][0];
            if (exec->in_fd >= 0)
                fcntl(exec->in_fd, F_SETFL, O_NONBLOCK);
            fcntl(exec->out_fd[0], F_SETFL, O_NONBLOCK);
            fcntl(exec->out_fd[1], F_SETFL, O_NONBLOCK);
            podvm_channel_line_init(&line, "exec-started");
            podvm_channel_line_add(&line, "id", id);
            podvm_channel_line_add_int(&line, "pid", exec->pid);
            init_send(&line);
        }
    }
    close_fd(&in[0]);
    close_fd(&out[0][1]);
    close_fd(&out[1][1]);
    free(env);
    free_strv(argv);
    free_strv(extra);
}

void
apps_exec_input(const PodvmChannelMessage *msg, int eof)
{
    InitExec *exec = find_exec(msg);
    size_t len;
    const char *data;
    char *p;

    if (exec == NULL || exec->in_fd < 0)
        return;
    if (eof) {
        exec->in_eof = 1;
        if (exec->in_len == 0)
            close_fd(&exec->in_fd);
        return;
    }
    data = podvm_channel_message_get_data(msg, "data", &len);
    if (data == NULL || len == 0 || exec->in_len + len > 16 * 1024 * 1024)
        return;
    p = realloc(exec->in_buf, exec->in_len + len);
    if (p == NULL)
        return;
    memcpy(p + exec->in_len, data, len);
    exec->in_buf = p;
    exec->in_len += len;
    apps_write_input(exec->in_fd);
}

void
apps_write_input(int fd)
{
    for (size_t i = 0; i < INIT_MAX_EXECS; i++) {
        InitExec *exec = &init_state.execs[i];
        ssize_t n;

        if (exec->id == 0 || exec->in_fd != fd || fd < 0)
            continue;
        while (exec->in_len > 0) {
            n = write(fd, exec->in_buf, exec->in_len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return;
            if (n <= 0) {
                exec->in_len = 0; /* the command closed its stdin */
                break;
            }
            memmove(exec->in_buf, exec->in_buf + n, exec->in_len - (size_t)n);
            exec->in_len -= (size_t)n;
        }
        if (exec->in_eof || exec->in_len == 0) {
            if (exec->in_eof)
                close_fd(&exec->in_fd);
        }
        return;
    }
}

void
apps_exec_kill(const PodvmChannelMessage *msg)
{
    InitExec *exec = find_exec(msg);
    long long sig = SIGKILL;

    if (exec == NULL || exec->pid <= 0)
        return;
    podvm_channel_message_get_int(msg, "signal", 1, 64, &sig);
    kill(-exec->pid, (int)sig);
}

static void
exec_free(InitExec *exec)
{
    close_fd(&exec->in_fd);
    close_fd(&exec->out_fd[0]);
    close_fd(&exec->out_fd[1]);
    free(exec->in_buf);
    memset(exec, 0, sizeof(*exec));
    exec->in_fd = exec->out_fd[0] = exec->out_fd[1] = -1;
}

/* The host went away or the guest halts: every session's processes are killed, unreported. */
void
apps_end_execs(void)
{
    for (size_t i = 0; i < INIT_MAX_EXECS; i++) {
        InitExec *exec = &init_state.execs[i];

        if (exec->id == 0)
            continue;
        if (exec->pid > 0)
            kill(-exec->pid, SIGKILL);
        exec_free(exec);
    }
}

/* --- reaping ---------------------------------------------------------- */

static void
exec_exited(InitExec *exec, int status)
{
    PodvmChannelLine line;

    /* What it wrote before it ended is in the pipes: sent first. */
    for (int w = 0; w < 2; w++) {
        if (exec->out_fd[w] >= 0)
            exec_send_output(exec, w);
    }
    podvm_channel_line_init(&line, "exec-exited");
    podvm_channel_line_add_int(&line, "id", exec->id);
    if (WIFSIGNALED(status))
        podvm_channel_line_add_int(&line, "signal", WTERMSIG(status));
    else
        podvm_channel_line_add_int(&line, "code", WEXITSTATUS(status));
    init_send(&line);
    exec_free(exec);
}

static void
app_exited(InitApp *app, int status)
{
    for (int w = 0; w < 2; w++) {
        if (app->out_fd[w] >= 0)
            app_read(app, w);
    }
    app->pid = 0;
    app->state = APP_ENDED;
    if (WIFSIGNALED(status)) {
        app->signal = WTERMSIG(status);
        app->code = 128 + app->signal;
        init_debug("app %s was killed by signal %d", app->name, app->signal);
    } else {
        app->code = WEXITSTATUS(status);
        init_debug("app %s exited with code %d", app->name, app->code);
    }
    send_exited(app);
}

void
apps_reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid <= 0)
            return;
        for (size_t i = 0; i < init_state.n_apps; i++) {
            if (init_state.apps[i].pid == pid)
                app_exited(&init_state.apps[i], status);
        }
        for (size_t i = 0; i < INIT_MAX_EXECS; i++) {
            if (init_state.execs[i].id != 0 && init_state.execs[i].pid == pid)
                exec_exited(&init_state.execs[i], status);
        }
    }
}

/*
 * Whether every app has ended (or never started) and its output has been
 * written: a process the app left behind that holds its stdout open is not
 * waited for.
 */
int
apps_all_ended(void)
{
    for (size_t i = 0; i < init_state.n_apps; i++) {
        if (init_state.apps[i].state == APP_RUNNING)
            return 0;
    }
    return 1;
}

/* @sig to every running app's and exec session's process group. */
void
apps_signal_all(int sig)
{
    for (size_t i = 0; i < init_state.n_apps; i++) {
        if (init_state.apps[i].pid > 0)
            kill(-init_state.apps[i].pid, sig);
    }
    for (size_t i = 0; i < INIT_MAX_EXECS; i++) {
        if (init_state.execs[i].id != 0 && init_state.execs[i].pid > 0)
            kill(-init_state.execs[i].pid, sig);
    }
}
