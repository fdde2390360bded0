#!/usr/bin/env python3
"""Summarises bench/run.sh raw data (rep, impl, metric, value per line):
median and min..max per implementation and metric, then the ratios of
wgd's medians to each peer's."""
import statistics
import sys
from collections import defaultdict

METRICS = [
    ("tcp1_gbps", "TCP 1 flow, Gbit/s", True),
    ("tcp1_cpu_s", "  daemon CPU-s (both daemons)", False),
    ("tcp1_gbit_per_cpu_s", "  Gbit per daemon CPU-s", True),
    ("tcp1_retrans", "  TcpRetransSegs", False),
    ("tcp1_ping_ms", "  ping during it, median ms", False),
    ("tcp1_ping_p90_ms", "  ping during it, p90 ms", False),
    ("tcp1_ping_max_ms", "  ping during it, max ms", False),
    ("tcp1_ping_lost", "  pings lost during it", False),
    ("tcp4_gbps", "TCP 4 flows, Gbit/s", True),
    ("tcp4_gbit_per_cpu_s", "  Gbit per daemon CPU-s", True),
    ("tcp4_retrans", "  TcpRetransSegs", False),
    ("udp_gbps", "UDP 1392 B goodput, Gbit/s", True),
    ("udp_sent_gbps", "  offered (sent), Gbit/s", True),
    ("udp_loss_pct", "  loss %", False),
    ("udp_gbit_per_cpu_s", "  Gbit per daemon CPU-s", True),
    ("udp_drop_tun_a", "  drops: sender TUN queue", False),
    ("udp_drop_wg_sock_b", "  drops: receiver UDP socket", False),
    ("udp_drop_iperf_sock_b", "  drops: iperf3 server socket", False),
    ("udp_drop_backlog", "  drops: CPU input backlog", False),
    ("ping_ms", "ping RTT, ms", False),
    ("idle_rss_kb", "idle RSS 1 peer, KiB", False),
    ("peak_rss_kb", "peak RSS after runs, KiB", False),
]
CRYPTO = [
    ("seal_gbps", "seal 1420 B, Gbit/s per core"),
    ("open_gbps", "open 1420 B, Gbit/s per core"),
    ("bound_gbit_per_cpu_s", "bound: Gbit per CPU-s (seal+open)"),
    ("wgd_seal_gbps", "wgd AEAD (libgcrypt): seal, Gbit/s"),
    ("wgd_open_gbps", "wgd AEAD: open, Gbit/s"),
    ("wgd_bound_gbit_per_cpu_s", "wgd AEAD bound: Gbit per CPU-s"),
]
ORDER = ["wgd", "wgd-portable", "wgd-1thread", "wgd-base", "wggo", "wggo-latest", "boringtun", "veth"]


def fmt(v):
    if v >= 1000:
        return "%.0f" % v
    if v >= 100:
        return "%.1f" % v
    return "%.3g" % v if v < 10 else "%.2f" % v


def cell(vals):
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med)
    return "%s [%s..%s]" % (fmt(med), fmt(min(vals)), fmt(max(vals)))


def main(path):
    data = defaultdict(lambda: defaultdict(list))
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4 or parts[3] == "":
            continue
        try:
            data[parts[1]][parts[2]].append(float(parts[3]))
        except ValueError:
            pass
    impls = [i for i in ORDER if i in data] + sorted(i for i in data if i not in ORDER and i != "crypto")
    width = 30
    cols = [max([len(i), 24] + [len(cell(data[i].get(k, []))) for k, _, _ in METRICS]) for i in impls]
    print("median [min..max] over repetitions")
    print("%-*s" % (width, "") + "".join("%-*s" % (c + 2, i) for i, c in zip(impls, cols)))
    for key, label, _ in METRICS:
        if not any(key in data[i] for i in impls):
            continue
        print("%-*s" % (width, label) + "".join("%-*s" % (c + 2, cell(data[i].get(key, []))) for i, c in zip(impls, cols)))
    if "crypto" in data:
        print()
        for key, label in CRYPTO:
            if key in data["crypto"]:
                name = label if label.startswith("wgd") else "libsodium " + label
                print("%-*s %s" % (width + 14, name, cell(data["crypto"][key])))
    base = "wgd" if "wgd" in data else None
    if not base:
        return
    peers = [i for i in impls if i != base and i != "veth"]
    if not peers:
        return
    print()
    print("ratios of medians, wgd / peer")
    print("%-*s" % (width, "") + "".join("%-14s" % p for p in peers))
    for key, label, _ in METRICS:
        row = []
        for p in peers:
            a, b = data[base].get(key), data[p].get(key)
            if a and b and statistics.median(b) != 0:
                row.append("%.2f" % (statistics.median(a) / statistics.median(b)))
            else:
                row.append("-")
        if any(r != "-" for r in row):
            print("%-*s" % (width, label) + "".join("%-14s" % r for r in row))
    if "crypto" in data and data[base].get("tcp1_gbit_per_cpu_s"):
        bound = statistics.median(data["crypto"]["bound_gbit_per_cpu_s"])
        eff = statistics.median(data[base]["tcp1_gbit_per_cpu_s"])
        print()
        print("wgd TCP 1 flow Gbit per daemon CPU-s / crypto bound: %.0f%%" % (100 * eff / bound))


if __name__ == "__main__":
    main(sys.argv[1])
