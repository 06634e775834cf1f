/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The app guest init's setup: the basic mounts, modules, the channel's
 * port, network interfaces, each app's root filesystem (erofs + tmpfs
 * overlay) and the ACPI power button.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "podvm-app-init.h"

static void
sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

static int
mount_one(const char *source, const char *target, const char *type, unsigned long flags,
          const char *data)
{
    mkdir(target, 0755);
    if (mount(source, target, type, flags, data) < 0 && errno != EBUSY) {
        init_log("cannot mount %s on %s: %s", type != NULL ? type : source, target,
                 strerror(errno));
        return -1;
    }
    return 0;
}

void
setup_mounts(void)
{
    mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
    mount_one("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_one("tmpfs", "/apps", "tmpfs", 0, "mode=0755");
}

static int
read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

static int
write_file(const char *path, const char *content)
{
    int fd;
    size_t len = strlen(content);
    ssize_t n;

    unlink(path); /* not through a symlink the image holds */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    n = write(fd, content, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* Loads /lib/modules/NAME.ko for each NAME of /lib/modules/order (dependencies come first). */
void
setup_modules(void)
{
    FILE *order = fopen("/lib/modules/order", "re");
    char name[128];

    if (order == NULL)
        return;
    while (fgets(name, sizeof(name), order) != NULL) {
        char path[256];
        int fd;

        name[strcspn(name, "\n")] = '\0';
        if (name[0] == '\0')
            continue;
        snprintf(path, sizeof(path), "/lib/modules/%s.ko", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            init_log("module %s: %s", name, strerror(errno));
            continue;
        }
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
            init_log("module %s: cannot load it: %s", name, strerror(errno));
        else
            init_debug("module %s loaded", name);
        close(fd);
    }
    fclose(order);
}

/* /dev/vportNpM of the virtio-serial port named @PODVM_CHANNEL_PORT_NAME. */
int
setup_find_port(char *out, size_t size, int timeout_ms)
{
    long long deadline = init_now_ms() + timeout_ms;

    for (;;) {
        DIR *dir = opendir("/sys/class/virtio-ports");
        struct dirent *e;
        int found = 0;

        while (dir != NULL && (e = readdir(dir)) != NULL) {
            char path[512], name[128];

            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
            if (read_file(path, name, sizeof(name)) == 0 &&
                strcmp(name, PODVM_CHANNEL_PORT_NAME) == 0) {
                snprintf(out, size, "/dev/%s", e->d_name);
                found = access(out, F_OK) == 0;
                break;
            }
        }
        if (dir != NULL)
            closedir(dir);
        if (found)
            return 0;
        if (init_now_ms() >= deadline)
            return -1;
        sleep_ms(50);
    }
}

/* --- network ------------------------------------------------------------ */

static int
set_flags_up(int sock, const char *ifname)
{
    struct ifreq ifr = { 0 };

    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

static int
set_addr(int sock, const char *ifname, unsigned long request, struct in_addr addr)
{
    struct ifreq ifr = { 0 };
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    sin->sin_family = AF_INET;
    sin->sin_addr = addr;
    return ioctl(sock, request, &ifr);
}

void
setup_loopback(void)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct in_addr lo = { .s_addr = htonl(INADDR_LOOPBACK) };
    struct in_addr mask = { .s_addr = htonl(0xff000000) };

    if (sock < 0)
        return;
    set_addr(sock, "lo", SIOCSIFADDR, lo);
    set_addr(sock, "lo", SIOCSIFNETMASK, mask);
    if (set_flags_up(sock, "lo") < 0)
        init_log("cannot bring lo up: %s", strerror(errno));
    close(sock);
}

/* The interface whose MAC is @mac (case-insensitive), else @fallback if it exists. */
static int
find_interface(const char *mac, const char *fallback, char *out, size_t size)
{
    DIR *dir = opendir("/sys/class/net");
    struct dirent *e;
    int found = 0;

    while (mac != NULL && dir != NULL && (e = readdir(dir)) != NULL) {
        char path[512], addr[64];

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/sys/class/net/%s/address", e->d_name);
        if (read_file(path, addr, sizeof(addr)) == 0 && strcasecmp(addr, mac) == 0) {
            snprintf(out, size, "%s", e->d_name);
            found = 1;
            break;
        }
    }
    if (dir != NULL)
        closedir(dir);
    if (!found && fallback != NULL && if_nametoindex(fallback) != 0) {
        snprintf(out, size, "%s", fallback);
        found = 1;
    }
    return found ? 0 : -1;
}

void
setup_nic(const InitNic *nic)
{
    char ifname[IFNAMSIZ + 1], addr[64], *slash;
    struct in_addr ip, mask, gw;
    long prefix = 32;
    int sock = -1;
    long long deadline = init_now_ms() + 10000;

    /* The NIC may still be probing: up to 10 s. */
    while (find_interface(nic->mac, nic->ifname, ifname, sizeof(ifname)) < 0) {
        if (init_now_ms() >= deadline) {
            init_log("no network interface with MAC %s (%s)", nic->mac ?: "-", nic->ifname ?: "-");
            return;
        }
        sleep_ms(50);
    }
    if (nic->address == NULL) {
        init_log("interface %s: no address= given", ifname);
        return;
    }
    snprintf(addr, sizeof(addr), "%s", nic->address);
    slash = strchr(addr, '/');
    if (slash != NULL) {
        char *end;

        *slash = '\0';
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || prefix < 0 || prefix > 32)
            prefix = -1;
    }
    if (prefix < 0 || inet_pton(AF_INET, addr, &ip) != 1) {
        init_log("interface %s: bad address %s", ifname, nic->address);
        return;
    }
    mask.s_addr = prefix == 0 ? 0 : htonl(0xffffffffu << (32 - prefix));
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return;
    if (set_addr(sock, ifname, SIOCSIFADDR, ip) < 0 ||
        set_addr(sock, ifname, SIOCSIFNETMASK, mask) < 0 || set_flags_up(sock, ifname) < 0) {
        init_log("interface %s: cannot set %s up: %s", ifname, nic->address, strerror(errno));
        close(sock);
        return;
    }
    if (nic->gateway != NULL && *nic->gateway != '\0') {
        struct rtentry rt = { 0 };
        struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst;
        struct sockaddr_in *gwa = (struct sockaddr_in *)&rt.rt_gateway;
        struct sockaddr_in *msk = (struct sockaddr_in *)&rt.rt_genmask;

        if (inet_pton(AF_INET, nic->gateway, &gw) != 1) {
            init_log("interface %s: bad gateway %s", ifname, nic->gateway);
        } else {
            dst->sin_family = AF_INET;
            msk->sin_family = AF_INET;
            gwa->sin_family = AF_INET;
            gwa->sin_addr = gw;
            rt.rt_flags = RTF_UP | RTF_GATEWAY;
            rt.rt_dev = ifname;
            if (ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST)
                init_log("interface %s: cannot add the default route via %s: %s", ifname,
                         nic->gateway, strerror(errno));
        }
    }
    init_debug("interface %s: %s up", ifname, nic->address);
    close(sock);
}

/* --- the apps' roots ----------------------------------------------------- */

/* /dev/vdX whose serial is @serial (virtio-blk's /sys/block/vdX/serial), waiting up to 10 s. */
static int
find_disk(const char *serial, char *out, size_t size)
{
    long long deadline = init_now_ms() + 10000;

    for (;;) {
        DIR *dir = opendir("/sys/block");
        struct dirent *e;
        int found = 0;

        while (dir != NULL && (e = readdir(dir)) != NULL) {
            char path[512], value[128];

            if (strncmp(e->d_name, "vd", 2) != 0)
                continue;
            snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
            if (read_file(path, value, sizeof(value)) == 0 && strcmp(value, serial) == 0) {
                snprintf(out, size, "/dev/%s", e->d_name);
                found = access(out, F_OK) == 0;
                break;
            }
        }
        if (dir != NULL)
            closedir(dir);
        if (found)
            return 0;
        if (init_now_ms() >= deadline)
            return -1;
        sleep_ms(50);
    }
}

static int
mkdir_in(const char *root, const char *name, mode_t mode)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", root, name);
    /* A symlink there would lead the mount out of the root: replace it. */
    if (unlink(path) < 0 && errno != ENOENT && errno != EISDIR && errno != EPERM)
        return -1;
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/*
 * Mounts @app's image: erofs read-only at /apps/NAME/lower, a tmpfs at
 * /apps/NAME/rw for the overlay's upper and work dirs, the overlay at
 * /apps/NAME/root with proc, sys, dev and tmp inside and /etc's hostname,
 * hosts and resolv.conf written. -1 and @message when it cannot.
 */
int
setup_app_root(InitApp *app, char *message, size_t message_size)
{
    char base[256], lower[320], rw[320], root[320], path[512], dev[64], opts[1200];
    const char *host = init_state.hostname != NULL && *init_state.hostname != '\0'
                           ? init_state.hostname
                           : "localhost";

    if (app->disk == NULL || find_disk(app->disk, dev, sizeof(dev)) < 0) {
        snprintf(message, message_size, "no disk with serial %s for its root filesystem",
                 app->disk != NULL ? app->disk : "(none given)");
        return -1;
    }
    snprintf(base, sizeof(base), "/apps/%s", app->name);
    snprintf(lower, sizeof(lower), "%s/lower", base);
    snprintf(rw, sizeof(rw), "%s/rw", base);
    snprintf(root, sizeof(root), "%s/root", base);
    mkdir(base, 0755);
    mkdir(lower, 0755);
    mkdir(rw, 0755);
    mkdir(root, 0755);
    if (mount(dev, lower, "erofs", MS_RDONLY | MS_NODEV, NULL) < 0) {
        snprintf(message, message_size, "cannot mount %s (erofs): %s", dev, strerror(errno));
        return -1;
    }
    if (mount("tmpfs", rw, "tmpfs", MS_NODEV, "mode=0755") < 0) {
        snprintf(message, message_size, "cannot mount its writable layer: %s", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/upper", rw);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/work", rw);
    mkdir(path, 0755);
    snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, rw, rw);
    if (mount("overlay", root, "overlay", 0, opts) < 0) {
        snprintf(message, message_size, "cannot mount its overlay: %s", strerror(errno));
        return -1;
    }
    if (mkdir_in(root, "proc", 0555) < 0 || mkdir_in(root, "sys", 0555) < 0 ||
        mkdir_in(root, "dev", 0755) < 0 || mkdir_in(root, "tmp", 01777) < 0 ||
        mkdir_in(root, "etc", 0755) < 0) {
        snprintf(message, message_size, "cannot create its /proc, /sys, /dev, /tmp or /etc: %s",
                 strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/proc", root);
    if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        goto mount_failed;
    snprintf(path, sizeof(path), "%s/sys", root);
    if (mount("sysfs", path, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
        goto mount_failed;
    snprintf(path, sizeof(path), "%s/dev", root);
    if (mount("/dev", path, NULL, MS_BIND | MS_REC, NULL) < 0)
        goto mount_failed;
    snprintf(path, sizeof(path), "%s/tmp", root);
    if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
        goto mount_failed;

    snprintf(path, sizeof(path), "%s/etc/hostname", root);
    snprintf(opts, sizeof(opts), "%s\n", host);
    write_file(path, opts);
    snprintf(path, sizeof(path), "%s/etc/hosts", root);
    snprintf(opts, sizeof(opts),
             "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n",
             host);
    write_file(path, opts);
    snprintf(path, sizeof(path), "%s/etc/resolv.conf", root);
    write_file(path, init_state.resolv_conf != NULL ? init_state.resolv_conf : "");
    snprintf(app->root, sizeof(app->root), "%s", root);
    return 0;

mount_failed:
    snprintf(message, message_size, "cannot mount %s: %s", path, strerror(errno));
    return -1;
}

/* --- the power button ---------------------------------------------------- */

/* Opens every /dev/input/event* that has KEY_POWER (the ACPI power button). */
void
setup_power_button(void)
{
    DIR *dir = opendir("/dev/input");
    struct dirent *e;

    while (dir != NULL && (e = readdir(dir)) != NULL &&
           init_state.n_power_fds < sizeof(init_state.power_fds) / sizeof(int)) {
        unsigned char keys[KEY_MAX / 8 + 1] = { 0 };
        char path[300];
        int fd;

        if (strncmp(e->d_name, "event", 5) != 0)
            continue;
        snprintf(path, sizeof(path), "/dev/input/%s", e->d_name);
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) < 0 ||
            !(keys[KEY_POWER / 8] & (1 << (KEY_POWER % 8)))) {
            close(fd);
            continue;
        }
        init_state.power_fds[init_state.n_power_fds++] = fd;
        init_debug("power button: %s", path);
    }
    if (dir != NULL)
        closedir(dir);
}

/* Reads @fd's events: whether KEY_POWER was pressed. */
int
setup_power_pressed(int fd)
{
    struct input_event ev[16];
    ssize_t n;
    int pressed = 0;

    while ((n = read(fd, ev, sizeof(ev))) > 0) {
        for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++) {
            if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1)
                pressed = 1;
        }
    }
    return pressed;
}
