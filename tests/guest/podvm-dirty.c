/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest's memory dirtier (podvm.dirty=MIB on the kernel command
 * line): "podvm-dirty MIB" fills MIB MiB of anonymous memory with a non-zero
 * pattern (QEMU sends zero pages as a flag, these whole), prints
 * "PODVM-DIRTY MIB" and then rewrites one word of every page, round after
 * round, as fast as it can: every page is dirty again within a moment, so a
 * migration has all of them to send each pass. At the lowest priority, so
 * the guest's other loops (the counter, the console) still run. Static: it
 * runs in the busybox initramfs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    unsigned long mib;
    char *end = NULL;
    size_t len, page;
    unsigned char *mem;

    if (argc != 2 || (mib = strtoul(argv[1], &end, 10)) == 0 || *end != '\0' || mib > 65536) {
        fprintf(stderr, "usage: podvm-dirty MIB (1 to 65536)\n");
        return 2;
    }
    setpriority(PRIO_PROCESS, 0, 19);
    len = (size_t)mib << 20;
    page = (size_t)sysconf(_SC_PAGESIZE);
    mem =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        perror("podvm-dirty: mmap");
        return 1;
    }
    memset(mem, 0xa5, len);
    printf("PODVM-DIRTY %lu\n", mib);
    fflush(stdout);
    for (unsigned long round = 1;; round++) {
        for (size_t off = 0; off < len; off += page)
            *(volatile unsigned long *)(void *)(mem + off) = round;
    }
    return 0;
}
