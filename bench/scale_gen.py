#!/usr/bin/env python3
"""Generates wg(8) configurations with many peers, for bench/scale.sh and
tests/netns/scale.sh (Python 3 standard library only).

    scale_gen.py -n 100000 [--seed 1] [--private-key KEY] [--listen-port P]
                 [--storm M --storm-keys FILE] [--no-allowed-ips] [-o CONF]
    scale_gen.py --normalize conf|dump FILE

Peer i (0-based) of a configuration gets
  AllowedIPs = 10.x.y.z/32 (10.1.0.0 + i) and fd01::<i+1>/128, so
    10.0.0.0/16 and fd00::/16 stay free for the real tunnel addresses;
  Endpoint   = for every even i: 198.18.x.y:<port> (i % 4 == 0) or
               [2001:db8:ff::<i>]:<port> (i % 4 == 2); odd i have none.
    198.18.0.0/15 and 2001:db8:ff::/48 are never routed by the scripts, so
    idle peers with an endpoint send nothing anywhere.
Public keys are random 32-byte strings (any 32 bytes is a valid X25519
public key), from random.Random(seed): the same seed gives the same file.

--no-allowed-ips leaves them out (bench/scale.sh estimates their share of
the memory per peer with it).

--storm M makes the first M peers real key pairs: their clamped private
keys (also from the seed) go to --storm-keys, one base64 key per line, the
format tests/tools/wgstorm reads; their public keys are X25519(priv, 9),
computed with libsodium through ctypes when it loads (about 30 us a key)
and in pure Python otherwise (about 1.5 ms a key). Both are checked against
RFC 7748's test vector before use.

--normalize prints one line per peer, "PUBKEY ENDPOINT ALLOWEDIPS" with the
allowed IPs sorted and comma-joined and "(none)" for none, the lines sorted:
from a wg(8) configuration (conf) or from `wg show IFACE dump` output
(dump), so a dump can be compared with the configuration it came from.
Addresses are compared as text: the generator writes them in the canonical
form `wg` prints (inet_ntop, RFC 5952), so a configuration written by
another tool may need the same form.
"""
import argparse
import base64
import ctypes
import ctypes.util
import ipaddress
import random
import sys

P = 2**255 - 19
A24 = 121665


def x25519_py(k: bytes, u: int = 9) -> bytes:
    """RFC 7748 X25519 (Montgomery ladder), pure Python."""
    n = int.from_bytes(k, "little")
    n &= ~7
    n &= ~(128 << 8 * 31)
    n |= 64 << 8 * 31
    x1, x2, z2, x3, z3, swap = u, 1, 0, u, 1, 0
    for t in range(254, -1, -1):
        kt = (n >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a = x2 + z2
        aa = a * a % P
        b = x2 - z2
        bb = b * b % P
        e = aa - bb
        c = x3 + z3
        d = x3 - z3
        da = d * a % P
        cb = c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + A24 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def sodium_base():
    """crypto_scalarmult_base from libsodium, or None."""
    name = ctypes.util.find_library("sodium") or "libsodium.so.23"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    if lib.sodium_init() < 0:
        return None
    fn = lib.crypto_scalarmult_curve25519_base
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    out = ctypes.create_string_buffer(32)

    def base(k: bytes) -> bytes:
        if fn(out, k) != 0:
            raise ValueError("crypto_scalarmult_curve25519_base failed")
        return out.raw

    return base


# RFC 7748 section 6.1: Alice's private key and public key.
RFC_PRIV = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC_PUB = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def pubkey_fn():
    if x25519_py(RFC_PRIV) != RFC_PUB:
        sys.exit("scale_gen: pure-Python X25519 fails RFC 7748's vector")
    fn = sodium_base()
    if fn is not None and fn(RFC_PRIV) == RFC_PUB:
        return fn, "libsodium"
    return x25519_py, "pure Python"


def clamp(k: bytearray) -> bytes:
    k[0] &= 248
    k[31] = (k[31] & 127) | 64
    return bytes(k)


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


V4_BASE = int(ipaddress.IPv4Address("10.1.0.0"))
V4_END = int(ipaddress.IPv4Address("11.0.0.0"))
EP4_BASE = int(ipaddress.IPv4Address("198.18.0.0"))


def v4(n: int) -> str:
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def v6(prefix: str, n: int) -> str:
    """prefix::n for 0 < n < 2**32 in inet_ntop's form (ipaddress is slow)."""
    if n >> 16:
        return "%s::%x:%x" % (prefix, n >> 16, n & 0xFFFF)
    return "%s::%x" % (prefix, n)


def peer_lines(i: int, pub: str, aips: bool) -> str:
    s = "[Peer]\nPublicKey = %s\n" % pub
    if aips:
        s += "AllowedIPs = %s/32, %s/128\n" % (v4(V4_BASE + i), v6("fd01", i + 1))
    if i % 4 == 0:
        s += "Endpoint = %s:%d\n" % (v4(EP4_BASE + (i >> 2) % 131072), 1024 + i % 60000)
    elif i % 4 == 2:
        s += "Endpoint = [%s]:%d\n" % (v6("2001:db8:ff", i), 1024 + i % 60000)
    return s + "\n"


def generate(a) -> None:
    rng = random.Random(a.seed)
    storm_rng = random.Random("storm-%s" % a.seed)
    keys = []
    how = None
    if a.storm:
        if not a.storm_keys:
            sys.exit("scale_gen: --storm needs --storm-keys FILE")
        if a.storm > a.n:
            sys.exit("scale_gen: --storm is larger than -n")
        pub, how = pubkey_fn()
    out = open(a.output, "w") if a.output else sys.stdout
    buf = ["[Interface]\n"]
    if a.private_key:
        buf.append("PrivateKey = %s\n" % a.private_key)
    if a.listen_port is not None:
        buf.append("ListenPort = %d\n" % a.listen_port)
    buf.append("\n")
    for i in range(a.n):
        if i < a.storm:
            priv = clamp(bytearray(storm_rng.randbytes(32)))
            keys.append(b64(priv))
            pk = b64(pub(priv))
        else:
            pk = b64(rng.randbytes(32))
        buf.append(peer_lines(i, pk, not a.no_allowed_ips))
        if len(buf) >= 4096:
            out.write("".join(buf))
            buf = []
    out.write("".join(buf))
    if out is not sys.stdout:
        out.close()
    if a.storm:
        with open(a.storm_keys, "w") as f:
            f.write("\n".join(keys) + "\n")
        print("scale_gen: %d storm key pairs (X25519 by %s)" % (a.storm, how), file=sys.stderr)


def norm_line(pub: str, ep: str, aips) -> str:
    aips = sorted(x.strip() for x in aips if x.strip())
    return "%s %s %s" % (pub, ep.strip() or "(none)", ",".join(aips) if aips else "(none)")


def normalize(kind: str, path: str) -> None:
    lines = []
    with open(path) as f:
        if kind == "dump":
            for n, row in enumerate(f):
                col = row.rstrip("\n").split("\t")
                if n == 0 and len(col) == 4:
                    continue  # the interface line
                if len(col) < 8:
                    sys.exit("scale_gen: bad dump line %d: %r" % (n + 1, row))
                aips = [] if col[3] == "(none)" else col[3].split(",")
                lines.append(norm_line(col[0], col[2], aips))
        else:
            pub = None
            ep, aips = "", []
            for row in f:
                row = row.split("#", 1)[0].strip()
                if not row:
                    continue
                if row.startswith("["):
                    if pub is not None:
                        lines.append(norm_line(pub, ep, aips))
                    pub, ep, aips = (None, "", [])
                    if row.lower() == "[peer]":
                        pub = ""
                    continue
                if pub is None or "=" not in row:
                    continue
                k, v = (x.strip() for x in row.split("=", 1))
                k = k.lower()
                if k == "publickey":
                    pub = v
                elif k == "endpoint":
                    ep = v
                elif k == "allowedips":
                    aips += v.split(",")
            if pub is not None:
                lines.append(norm_line(pub, ep, aips))
    lines.sort()
    sys.stdout.write("".join(x + "\n" for x in lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100000, help="peers (default 100000)")
    ap.add_argument("--seed", default="1", help="seed of the keys (default 1)")
    ap.add_argument("--private-key", help="PrivateKey of [Interface]")
    ap.add_argument("--listen-port", type=int, help="ListenPort of [Interface]")
    ap.add_argument("--storm", type=int, default=0, help="the first M peers get real key pairs")
    ap.add_argument("--storm-keys", help="file for the private keys of the storm peers")
    ap.add_argument("--no-allowed-ips", action="store_true", help="peers without AllowedIPs (memory baseline)")
    ap.add_argument("-o", "--output", help="configuration file (default stdout)")
    ap.add_argument("--normalize", nargs=2, metavar=("conf|dump", "FILE"))
    a = ap.parse_args()
    if a.normalize:
        if a.normalize[0] not in ("conf", "dump"):
            sys.exit("scale_gen: --normalize conf|dump FILE")
        normalize(*a.normalize)
        return
    if a.n < 0 or a.storm < 0:
        sys.exit("scale_gen: negative count")
    if V4_BASE + a.n > V4_END:
        sys.exit("scale_gen: at most %d peers (10.1.0.0 - 10.255.255.255)" % (V4_END - V4_BASE))
    generate(a)


if __name__ == "__main__":
    main()
