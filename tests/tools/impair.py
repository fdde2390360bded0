#!/usr/bin/env python3
"""An impaired Ethernet wire between two namespaces, in user space.

The kernels these tests run on may lack sch_netem, so this stands in for
`tc qdisc ... netem`: it creates two TAP devices (TAP_A, TAP_B) in its own
network namespace, prints "ready" once they exist (the caller then moves
them into the end namespaces), and copies every frame from one to the
other. UDP frames (IPv4 or IPv6: the WireGuard underlay) are impaired, each
direction independently, like netem would:

  --loss P      drop P% of them
  --dup P       send P% of them twice
  --reorder P   hold P% of them back by --delay ms, so later ones overtake

Everything else (ARP, neighbour discovery, ICMP) passes untouched. TAP
frames carry no offloads: the kernel segments and checksums before handing
them over, so each frame is one packet. SIGUSR1 changes nothing but prints
the counters; SIGTERM prints them and exits. Counters per direction
(a2b: frames TAP_A's side sent towards TAP_B's side):
  wire: a2b frames=.. udp=.. dropped=.. duplicated=.. delayed=.. b2a ...
"""
import argparse
import fcntl
import heapq
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def is_udp(frame):
    """IPv4 or IPv6 UDP (no extension headers), after an untagged Ethernet header."""
    if len(frame) < 34:
        return False
    etype = frame[12] << 8 | frame[13]
    if etype == 0x0800:
        return frame[23] == 17
    if etype == 0x86DD:
        return len(frame) >= 54 and frame[20] == 17
    return False


class Direction:
    def __init__(self, name):
        self.name = name
        self.c = dict(frames=0, udp=0, dropped=0, duplicated=0, delayed=0, write_errors=0)

    def line(self):
        return self.name + " " + " ".join("%s=%d" % kv for kv in self.c.items())


class Wire:
    def __init__(self, args):
        self.a = open_tap(args.tap_a)
        self.b = open_tap(args.tap_b)
        self.loss = args.loss / 100.0
        self.dup = args.dup / 100.0
        self.reorder = args.reorder / 100.0
        self.delay = args.delay / 1000.0
        self.rng = random.Random(args.seed)
        self.dirs = {self.a: Direction("a2b"), self.b: Direction("b2a")}
        self.held = []  # heap of (due, seq, out_fd, direction, frame)
        self.seq = 0
        self.stop = False

    def write(self, fd, d, frame):
        try:
            os.write(fd, frame)
        except OSError:
            d.c["write_errors"] += 1

    def impair(self, out, d, frame):
        d.c["udp"] += 1
        if self.rng.random() < self.loss:
            d.c["dropped"] += 1
            return
        copies = 2 if self.rng.random() < self.dup else 1
        if copies == 2:
            d.c["duplicated"] += 1
        if self.rng.random() < self.reorder:
            d.c["delayed"] += 1
            self.seq += 1
            heapq.heappush(self.held, (time.monotonic() + self.delay, self.seq, out, d, frame))
            copies -= 1
        for _ in range(copies):
            self.write(out, d, frame)

    def forward(self, fd):
        out = self.b if fd == self.a else self.a
        d = self.dirs[fd]
        for _ in range(64):
            try:
                frame = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                # The device left with its namespace: the test is over.
                self.stop = True
                return
            d.c["frames"] += 1
            if is_udp(frame):
                self.impair(out, d, frame)
            else:
                self.write(out, d, frame)

    def release(self):
        now = time.monotonic()
        while self.held and self.held[0][0] <= now:
            _, _, out, d, frame = heapq.heappop(self.held)
            self.write(out, d, frame)

    def report(self):
        print("wire: " + " ".join(d.line() for d in self.dirs.values()), flush=True)

    def run(self):
        print("ready", flush=True)
        while not self.stop:
            timeout = max(0.0, self.held[0][0] - time.monotonic()) if self.held else 0.5
            try:
                ready, _, _ = select.select([self.a, self.b], [], [], timeout)
            except InterruptedError:
                continue
            for fd in ready:
                self.forward(fd)
            self.release()
        self.report()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tap_a")
    p.add_argument("tap_b")
    p.add_argument("--loss", type=float, default=0)
    p.add_argument("--dup", type=float, default=0)
    p.add_argument("--reorder", type=float, default=0)
    p.add_argument("--delay", type=float, default=10, help="ms (reordered packets)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    wire = Wire(args)

    def on_term(sig, frame):
        wire.stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, lambda s, f: wire.report())
    wire.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
