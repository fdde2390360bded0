#!/usr/bin/env python3
"""A sequence-numbered UDP stream, to prove a path loses, duplicates or
reorders nothing (or to count what it did).

  seqstream.py send ADDR PORT --count N --rate PPS [--size BYTES]
  seqstream.py recv ADDR PORT --count N [--idle SECONDS]

The sender paces N datagrams (sequence number 0..N-1 in the first 8 bytes)
at PPS on an absolute schedule and prints what it sent. The receiver binds
ADDR:PORT, prints "listening", and stops when all N arrived or nothing came
for --idle seconds after the first datagram (or --wait seconds before it),
then prints one line:

  seqstream: received=.. unique=.. duplicates=.. reordered=.. missing=..
             first_missing=.. longest_gap_ms=..

reordered counts datagrams that arrived after a higher sequence number;
longest_gap_ms is the longest silence between two arrivals.
"""
import argparse
import socket
import struct
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def send(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.connect((a.addr, a.port))
    pad = b"\0" * max(0, a.size - 8)
    start = time.monotonic()
    errors = 0
    for i in range(a.count):
        due = start + i / a.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            s.send(struct.pack("!Q", i) + pad)
        except OSError:
            errors += 1  # e.g. no route while an underlay is down: counted
    print("seqstream: sent=%d send_errors=%d secs=%.1f" % (a.count, errors, time.monotonic() - start), flush=True)
    return 0


def recv(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.addr, a.port))
    print("listening", flush=True)
    seen = bytearray(a.count)
    received = dup = reordered = unique = 0
    highest = -1
    last = None
    gap = 0.0
    s.settimeout(a.wait)
    while unique < a.count:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        now = time.monotonic()
        if last is not None:
            gap = max(gap, now - last)
        last = now
        s.settimeout(a.idle)
        if len(data) < 8:
            continue
        n = struct.unpack("!Q", data[:8])[0]
        if n >= a.count:
            continue
        received += 1
        if seen[n]:
            dup += 1
            continue
        seen[n] = 1
        unique += 1
        if n < highest:
            reordered += 1
        highest = max(highest, n)
    missing = a.count - unique
    first = seen.find(0) if missing else -1
    print(
        "seqstream: received=%d unique=%d duplicates=%d reordered=%d missing=%d first_missing=%d longest_gap_ms=%.0f"
        % (received, unique, dup, reordered, missing, first, gap * 1000),
        flush=True,
    )
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["send", "recv"])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--idle", type=float, default=3)
    p.add_argument("--wait", type=float, default=30)
    a = p.parse_args()
    return send(a) if a.mode == "send" else recv(a)


if __name__ == "__main__":
    sys.exit(main())
