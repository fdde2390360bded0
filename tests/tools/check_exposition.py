#!/usr/bin/env python3
"""Validates a Prometheus text exposition (wgd's metrics) with the official
Python client's parser (prometheus_client.parser), as CI does.

usage: check_exposition.py [FILE|-] [--require NAME ...]

Reads FILE (or stdin), parses every family and sample, and exits 1 with
the parser's error on anything it rejects, on an empty exposition, on a
family named by --require that is absent, or when the client library is
missing (Debian: python3-prometheus-client; scripts/setup.sh installs it).
"""
import argparse
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:
    sys.exit(f"check_exposition: FAIL: the Prometheus Python client is missing ({e}); "
             "install python3-prometheus-client (scripts/setup.sh)")


def parse(text):
    """The families as the client sees them; raises on any parse error."""
    families = []
    for fam in text_string_to_metric_families(text):
        families.append(fam)
    return families


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default="-")
    ap.add_argument("--require", action="append", default=[],
                    help="a family that must be present (its TYPE name)")
    args = ap.parse_args()
    with (sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")) as f:
        text = f.read()
    try:
        families = parse(text)
    except Exception as e:  # the parser raises ValueError and others
        sys.exit(f"check_exposition: FAIL: {args.file}: {type(e).__name__}: {e}")
    samples = sum(len(f.samples) for f in families)
    if not families or not samples:
        sys.exit(f"check_exposition: FAIL: {args.file}: no families or no samples")
    # The client strips _total/_info from counter and info names.
    names = {f.name for f in families}
    names |= {s.name for f in families for s in f.samples}
    missing = [n for n in args.require if n not in names]
    if missing:
        sys.exit(f"check_exposition: FAIL: {args.file}: missing {', '.join(missing)}")
    print(f"check_exposition: ok: {len(families)} families, {samples} samples")


if __name__ == "__main__":
    main()
