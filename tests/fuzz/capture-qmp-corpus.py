#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Captures the seed corpus of fuzz-qmp-client from a real QEMU.

Each scenario runs qemu-system-x86_64 with -qmp stdio, sends the commands
listed (with the ids PodvmQmpClient would use: podvm-1 is qmp_capabilities,
then podvm-2 query-status, podvm-3 query-version, podvm-4 device_del and
podvm-5 cont, as fuzz-qmp-client.c sends them) and stores everything QEMU
wrote, byte for byte, in corpus/fuzz-qmp-client/NAME.

    tests/fuzz/capture-qmp-corpus.py [QEMU]

Timestamps and the package string change from run to run and machine to
machine; nothing else should.
"""
import os
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz-qmp-client")
QEMU = sys.argv[1] if len(sys.argv) > 1 else "qemu-system-x86_64"

NONE = ["-machine", "none"]
# A machine that can unplug a device at once: USB needs no guest help.
PC = ["-machine", "pc,accel=tcg", "-S", "-device", "qemu-xhci,id=xhci",
      "-device", "usb-tablet,id=tab"]

CAPS = '{"execute": "qmp_capabilities", "id": "podvm-1"}'
STATUS = '{"execute": "query-status", "id": "podvm-2"}'
VERSION = '{"execute": "query-version", "id": "podvm-3"}'
DEVICE_DEL = '{"execute": "device_del", "arguments": {"id": "tab"}, "id": "podvm-4"}'
CONT = '{"execute": "cont", "id": "podvm-5"}'

SCENARIOS = [
    ("greeting", NONE, []),
    ("handshake", NONE, [CAPS]),
    ("no-capabilities", NONE, [STATUS.replace("podvm-2", "podvm-1")]),
    ("session", NONE, [CAPS, STATUS, VERSION, DEVICE_DEL, CONT]),
    ("session-hotplug", PC, [CAPS, STATUS, VERSION, DEVICE_DEL, CONT]),
    ("stop-resume", NONE, [CAPS, '{"execute": "stop", "id": "other-1"}', STATUS, VERSION,
                           DEVICE_DEL, CONT]),
    ("parse-error", NONE, [CAPS, '{"execute": }', VERSION, DEVICE_DEL]),
    ("unknown-command", NONE, [CAPS, STATUS.replace("query-status", "query-statu"), VERSION]),
    ("reset-powerdown", PC, [CAPS, STATUS, '{"execute": "system_reset", "id": "podvm-3"}',
                             '{"execute": "system_powerdown", "id": "podvm-4"}']),
    ("quit", NONE, [CAPS, STATUS, '{"execute": "quit", "id": "podvm-3"}']),
    # QEMU escapes what is not ASCII, characters past U+FFFF as surrogate pairs.
    ("non-ascii", NONE, [CAPS, STATUS, VERSION,
                         DEVICE_DEL.replace('"tab"', '"t\\u00e9\\ud83d\\ude00"')]),
]


def capture(args, commands):
    qemu = subprocess.Popen([QEMU, "-nodefaults", "-display", "none", "-qmp", "stdio"] + args,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    out = b""

    def read_for(seconds):
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([qemu.stdout], [], [], 0.05)
            if ready:
                data = os.read(qemu.stdout.fileno(), 65536)
                if not data:
                    return
                out += data

    read_for(1.0)
    for command in commands:
        qemu.stdin.write(command.encode() + b"\n")
        qemu.stdin.flush()
        read_for(0.5)
    qemu.kill()
    qemu.wait()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, args, commands in SCENARIOS:
        data = capture(args, commands)
        if not data.startswith(b'{"QMP"'):
            sys.exit(f"{name}: no QMP greeting from {QEMU}")
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
