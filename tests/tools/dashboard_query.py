#!/usr/bin/env python3
"""Evaluates what the usual Grafana panels for mdlayher's wireguard_exporter
ask of a scrape, and compares the answers with `wg show IF dump`.

usage: dashboard_query.py EXPOSITION DUMP --device IF [--time UNIX_S]

The panels' instant queries (no rate(): one scrape), for device IF:
  wireguard_peer_receive_bytes_total{device="IF"}
  wireguard_peer_transmit_bytes_total{device="IF"}
  time() - wireguard_peer_last_handshake_seconds{device="IF"}
each joined on public_key with wireguard_peer_info{device="IF"} (group_left
endpoint), as the tables of such dashboards do. EXPOSITION is parsed by the
official Python client's parser; DUMP is `wg show IF dump` (first line the
interface, then one line per peer). --time is the evaluation time (default
now); a handshake age of "never" is compared as such (0 in both).

Prints one line per peer (key, rx, tx, handshake age, endpoint) and exits 1
on any difference, a peer missing on either side, or a parse error.
"""
import argparse
import sys
import time

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:
    sys.exit(f"dashboard_query: FAIL: the Prometheus Python client is missing ({e}); "
             "install python3-prometheus-client (scripts/setup.sh)")


def instant_vector(text, name, device):
    """{public_key: (value, labels)} of the samples NAME{device=DEVICE}."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and s.labels.get("device") == device:
                key = s.labels.get("public_key")
                if key in out:
                    raise ValueError(f"{name}: two samples for {key}")
                out[key] = (s.value, s.labels)
    return out


def join_info(vec, info):
    """vec * on(public_key) group_left(endpoint) wireguard_peer_info."""
    return {k: (v, info[k][1].get("endpoint", "")) for k, (v, _) in vec.items() if k in info}


def dashboard(text, device, now):
    """{public_key: {rx, tx, age, endpoint}} as the panels show them."""
    info = instant_vector(text, "wireguard_peer_info", device)
    rx = join_info(instant_vector(text, "wireguard_peer_receive_bytes_total", device), info)
    tx = join_info(instant_vector(text, "wireguard_peer_transmit_bytes_total", device), info)
    hs = join_info(instant_vector(text, "wireguard_peer_last_handshake_seconds", device), info)
    peers = {}
    for k in info:
        if k not in rx or k not in tx or k not in hs:
            raise ValueError(f"peer {k}: a panel has no value for it")
        last = hs[k][0]
        peers[k] = {"rx": int(rx[k][0]), "tx": int(tx[k][0]),
                    "age": None if last == 0 else now - last, "endpoint": rx[k][1]}
    return peers


def wg_dump(path, now):
    """The same view from `wg show IF dump`."""
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    peers = {}
    for c in lines[1:]:
        last = int(c[4])
        peers[c[0]] = {"rx": int(c[5]), "tx": int(c[6]),
                       "age": None if last == 0 else now - last,
                       "endpoint": "" if c[2] == "(none)" else c[2]}
    return peers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exposition")
    ap.add_argument("dump")
    ap.add_argument("--device", required=True)
    ap.add_argument("--time", type=float, default=None)
    args = ap.parse_args()
    now = time.time() if args.time is None else args.time
    with open(args.exposition, encoding="utf-8") as f:
        text = f.read()
    try:
        dash = dashboard(text, args.device, now)
    except Exception as e:
        sys.exit(f"dashboard_query: FAIL: {args.exposition}: {type(e).__name__}: {e}")
    wg = wg_dump(args.dump, now)
    bad = []
    if not wg:
        bad.append("wg show dump lists no peer")
    for k in sorted(set(dash) | set(wg)):
        d, w = dash.get(k), wg.get(k)
        if d is None or w is None:
            bad.append(f"{k}: only in {'wg show' if d is None else 'the scrape'}")
            continue
        age = "never" if d["age"] is None else f"{d['age']:.0f} s"
        print(f"{k} rx={d['rx']} tx={d['tx']} handshake_age={age} endpoint={d['endpoint']}")
        for f in ("rx", "tx", "age", "endpoint"):
            if d[f] != w[f]:
                bad.append(f"{k}: {f}: dashboard {d[f]!r}, wg show {w[f]!r}")
    for b in bad:
        print(f"dashboard_query: FAIL: {b}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
