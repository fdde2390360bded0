#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/.

The message targets read operations (session.h): an opcode byte indexes the
target's op table, then the operation reads its arguments. The tables below
mirror the ops[] arrays of the fuzz_*.c files; keep them in step. Seeds
only need to reach interesting states: the harness does the cryptography
(genuine handshakes and data), so seeds stay valid when keys change.

Usage: python3 tests/fuzz/make_seeds.py   (rewrites the corpus directories)
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

(TIME, FLUSH, TUN, INIT, RESP, COOKIE, DATA, RAW, MACFIX, REPLAY, FLOOD,
 ESTABLISH, BATCH, GSO, TRAIN, FAULT, SUPER) = range(17)
# run modes of rxbatch/tunsuper (their first input byte)
VNET, VNET12, THREADS = 1, 2, 4

TABLES = {
    "initiation": [INIT, INIT, INIT, MACFIX, MACFIX, RAW, REPLAY, FLOOD, TIME,
                   TIME, FLUSH, ESTABLISH, TUN, COOKIE, DATA, BATCH],
    "response": [RESP, RESP, RESP, MACFIX, MACFIX, RAW, REPLAY, TUN, TUN, TIME,
                 TIME, FLUSH, INIT, ESTABLISH, COOKIE, DATA],
    "cookie_reply": [COOKIE, COOKIE, COOKIE, COOKIE, RAW, REPLAY, TUN, TIME,
                     TIME, FLOOD, INIT, FLUSH, ESTABLISH, RESP, DATA, MACFIX],
    "data": [DATA, DATA, DATA, DATA, BATCH, RAW, RAW, REPLAY, ESTABLISH,
             ESTABLISH, TUN, TIME, TIME, INIT, RESP, FLUSH],
    "tun": [TUN, TUN, TUN, TUN, GSO, ESTABLISH, ESTABLISH, DATA, TIME, TIME,
            RESP, INIT, FLUSH, COOKIE, RAW, GSO],
    "rxbatch": [BATCH, TRAIN, TRAIN, DATA, DATA, DATA, DATA, RAW, ESTABLISH,
                ESTABLISH, TIME, REPLAY, FAULT, INIT, RESP, FLUSH],
    "tunsuper": [SUPER, SUPER, SUPER, SUPER, SUPER, ESTABLISH, ESTABLISH,
                 ESTABLISH, TIME, TIME, DATA, FAULT, INIT, RESP, FLUSH, TUN],
}

A, B, U = 0, 1, 2
# time steps (index into the table of op_time)
AGE_REKEY, AGE_REJECT = 0xf0, 0xf1
T0, T1MS, T50MS, T500MS, T1S, T2S, T5S, T5_4S, T10S, T15S, T25S, T60S, \
    T120S, T125S, T165S, T180S, T540S, T600S = range(18)


class Seq:
    def __init__(self, target, mode=None):
        self.table = TABLES[target]
        self.b = bytearray() if mode is None else bytearray([mode])

    def op(self, code, *args):
        self.b.append(self.table.index(code))
        for a in args:
            self.b += a if isinstance(a, (bytes, bytearray)) else bytes([a])
        return self

    # arguments, in the order the operations read them
    def time(self, step):
        return self.op(TIME, step)

    def flush(self):
        return self.op(FLUSH)

    def init(self, actor, flags=0, frm=0, tsel=0, extra=b""):
        return self.op(INIT, actor, flags, frm, tsel, extra)

    def resp(self, actor, flags=0, frm=0, extra=b""):
        return self.op(RESP, actor, flags, frm, extra)

    def cookie(self, actor, mode=0, flags=0, frm=0, extra=b""):
        return self.op(COOKIE, actor, flags | mode << 4, frm, extra)

    def data(self, actor, plain, flags=0, frm=0, extra=b""):
        return self.op(DATA, actor, flags, frm, plain, extra)

    def raw(self, body, flags=0, actor=0, frm=0, extra=b""):
        n = len(body)
        lens = [0, 1, 3, 4, 5, 31, 32, 33, 47, 48, 63, 64, 65, 91, 92, 93,
                147, 148, 149, 1452]
        if n in lens:
            lsel = bytes([lens.index(n)])
        else:
            lsel = bytes([0xff]) + struct.pack("<H", n)
        return self.op(RAW, flags, lsel, actor, frm, body, extra)

    def macfix(self, sel, body, flags=0, actor=0, frm=0, extra=b""):
        return self.op(MACFIX, sel, flags, actor, frm, body, extra)

    def replay(self, kind, actor=0, frm=0):
        return self.op(REPLAY, kind, actor, frm)

    def flood(self, actor, count, flags=0, tsel=0):
        return self.op(FLOOD, actor, count, flags, tsel)

    def establish(self, actor, dir_):
        return self.op(ESTABLISH, actor, dir_)

    def tun(self, mode, args):
        return self.op(TUN, mode, args)

    def batch(self, n):
        return self.op(BATCH, n)

    def train(self, sel, count):
        """sel bit 0: a chosen segment size (sel >> 1 indexes op_train's
        table), else the datagrams' own; count: datagrams in trains"""
        return self.op(TRAIN, sel, count)

    def fault(self, sel):
        """sel % 6: EIO ENOBUFS EAGAIN EINVAL EADDRNOTAVAIL EPERM;
        (sel >> 4) % 4 + 1 sends"""
        return self.op(FAULT, sel)

    def super_(self, pkts):
        """pkts: super_pkt() byte strings, 1-4 read in one operation"""
        return self.op(SUPER, len(pkts) - 1, *pkts)

    def gso(self, kind, dst, payload, size, flags=0, fill=b"", extra=b""):
        """kind: 0 TCP4, 1 TCP6, 2 UDP4, 3 UDP6; fill: first payload bytes;
        extra (flags 1): type, needs_csum, csum_start, csum_offset, hdr_len"""
        return self.op(GSO, kind, dst, flags, struct.pack("<H", payload),
                       fill.ljust(min(payload, 64), b"\0"), struct.pack("<H", size), extra)


def super_pkt(kind, dst, hmode, gso_size, payload, fill=b"\xab" * 32, tcp_flags=0x10,
              hdr=b"", vnet12=False):
    """op_super's packet: kind bit 0 IPv6, bit 1 UDP, bit 2 large; dst
    index (v4: A, B, C, nobody; v6: A, B, nobody); hmode bits 0-1: 0/1
    consistent header, 2 checksum only, 3 raw (hdr: flags, gso_type,
    hdr_len, csum_start, csum_offset); bit 2 chosen hdr_len (hdr), bit 3
    ECN, bit 4 no NEEDS_CSUM (bit 5: DATA_VALID)."""
    out = bytes([kind, dst, hmode]) + struct.pack("<H", gso_size)
    out += struct.pack("<H", payload) + fill[:min(payload, 32)].ljust(min(payload, 32), b"\0")
    if not kind & 1:
        out += bytes([0, 0, 0x40, 0])  # id 0, DF
    if kind & 2:
        out += struct.pack(">HH", 1000, 2000)
    else:
        out += struct.pack(">HHI", 1000, 2000, 1) + bytes([tcp_flags])
    out += hdr
    if vnet12:
        out += bytes([1, 0])
    return out


def v4(flags=0, proto=0, src=0, dst=0, payload=b"\x11" * 12, extra=b""):
    """build_v4 arguments: src index 0..4 in its table, dst index in the
    caller's table; proto 0 UDP, 1 TCP, 2 ICMP."""
    out = bytes([flags, proto, src, dst])
    out += struct.pack("<H", len(payload)) if flags & 1 else bytes([len(payload)])
    return out + payload + extra


def v6(flags=0, proto=0, src=0, dst=0, payload=b"\x22" * 12, extra=b""):
    out = bytes([flags, proto, src, dst])
    out += struct.pack("<H", len(payload)) if flags & 1 else bytes([len(payload)])
    return out + payload + extra


def plain_v4(src_sel=0, **kw):
    return bytes([1, src_sel]) + v4_data(**kw)


def v4_data(flags=0, proto=0, dst=0, payload=b"\x33" * 20, extra=b""):
    # with a fixed source (src_sel 0..2), build_v4 reads no source byte
    out = bytes([flags, proto, dst])
    out += struct.pack("<H", len(payload)) if flags & 1 else bytes([len(payload)])
    return out + payload + extra


def plain_v6(src_sel=0, flags=0, proto=0, dst=0, payload=b"\x44" * 20):
    out = bytes([2, src_sel, flags, proto, dst])
    out += struct.pack("<H", len(payload)) if flags & 1 else bytes([len(payload)])
    return out + payload


KEEPALIVE = bytes([0, 0])
DEFER, MUTATE, REMAC, NOMAC2, OWNIDX = 1, 0x40, 0x80, 0x20, 0x10
LAST_INIT, LAST_RESP, LAST_COOKIE, LAST_DATA = range(4)


def seeds():
    s = {}
    i = "initiation"
    s[i] = {
        "genuine_a": Seq(i).init(A),
        "genuine_b_psk_replay": Seq(i).init(B).replay(LAST_INIT),
        "unknown_peer": Seq(i).init(U),
        "same_timestamp": Seq(i).init(A).time(T1MS).init(A),
        "old_timestamp": Seq(i).init(A, tsel=2).time(T1S).init(A, tsel=3),
        "flood_then_cookie": Seq(i).flood(A, 0xff, flags=1).init(A).init(A, tsel=4),
        "load_cookie_mac2": Seq(i).flood(B, 3, flags=4).init(B).init(B, tsel=4),
        "load_spoofed": Seq(i).flood(U, 0xff),
        "macfix_ephemeral": Seq(i).macfix(1, bytes(range(116)), flags=4),
        "mutated_remac": Seq(i).init(A, flags=MUTATE | REMAC, extra=bytes([0, 40, 0, 1])),
        "raw_type1": Seq(i).raw(bytes([1, 0, 0, 0]) + bytes(144)),
        "rekey": Seq(i).establish(A, 0).time(T120S).init(A, tsel=4).time(T1S).flush(),
        "sticky_src_v6": Seq(i).init(A, frm=5).init(B, frm=3, tsel=4),
    }
    r = "response"
    s[r] = {
        "d_initiates_a": Seq(r).tun(0, v4(dst=0)).resp(A),
        "d_initiates_b": Seq(r).tun(1, v6(dst=1)).resp(B),
        "stale_after_retry": Seq(r).tun(0, v4(dst=0)).time(T5_4S).resp(A),
        "mutated": Seq(r).tun(0, v4(dst=0)).resp(A, flags=MUTATE | REMAC,
                                                   extra=bytes([0, 20, 0, 1])),
        "replayed": Seq(r).tun(0, v4(dst=0)).resp(A).replay(LAST_RESP),
        "macfix_index": Seq(r).tun(0, v4(dst=0)).macfix(0, bytes(60), flags=2,
                                                         extra=bytes([0])),
        "raw_type2": Seq(r).raw(bytes([2, 0, 0, 0]) + bytes(88), flags=8,
                                extra=bytes([0])),
        "gives_up": Seq(r).tun(0, v4(dst=0)).time(T60S).time(T60S).time(T60S),
    }
    c = "cookie_reply"
    s[c] = {
        "genuine_then_retry": Seq(c).tun(0, v4(dst=0)).cookie(A).time(T5_4S),
        "raw_live_index": Seq(c).tun(0, v4(dst=0)).cookie(A, mode=2, extra=bytes(64) + bytes([0])),
        "wrong_binding": Seq(c).tun(0, v4(dst=0)).cookie(A, mode=3).time(T5_4S),
        "replayed": Seq(c).tun(0, v4(dst=0)).cookie(A).replay(LAST_COOKIE),
        "mutated": Seq(c).tun(0, v4(dst=0)).cookie(A, mode=1, extra=bytes([0, 40, 0, 1])),
        "expired_cookie": Seq(c).tun(0, v4(dst=0)).cookie(A).time(T125S).time(T5_4S),
        "under_load": Seq(c).flood(A, 2, flags=4).init(A).cookie(A),
    }
    d = "data"
    s[d] = {
        "v4_v6_replay": Seq(d).establish(A, 0).data(A, plain_v4()).data(A, plain_v6())
        .replay(LAST_DATA),
        "mutated": Seq(d).establish(A, 0).data(A, plain_v4(), flags=0x20,
                                               extra=bytes([0, 20, 0, 1])),
        "reordered": Seq(d).establish(B, 1).data(B, plain_v4(), flags=8, extra=bytes([5]))
        .data(B, plain_v4()).data(B, plain_v4(), flags=10, extra=bytes([3])),
        "counter_edges": Seq(d).establish(A, 0).data(A, plain_v4(), flags=14, extra=bytes([0]))
        .data(A, plain_v4(), flags=14, extra=bytes([1])),
        "expired": Seq(d).establish(A, 0).time(T180S).data(A, plain_v4()),
        "src_mismatch": Seq(d).establish(A, 0).data(A, plain_v4(src_sel=1))
        .data(A, plain_v4(src_sel=2)),
        "rekey_previous": Seq(d).establish(A, 0).time(T125S).establish(A, 0)
        .data(A, plain_v4(), flags=1),
        "responder_confirm": Seq(d).establish(B, 0).data(B, plain_v6()),
        "big": Seq(d).establish(A, 0).data(A, bytes([4, 0]) + struct.pack("<H", 3000)),
        "raw_index": Seq(d).establish(A, 0).raw(bytes([4, 0, 0, 0]) + bytes(44), flags=8,
                                                extra=bytes([1])),
        "counter_limits": Seq(d).establish(A, 1).time(AGE_REKEY).time(T5_4S).tun(0, v4(dst=0))
        .time(AGE_REJECT).tun(0, v4(dst=0)).tun(0, v4(dst=0)).resp(A),
        "batch_gro_tcp": Seq(d).establish(A, 0).batch(3)
        .data(A, plain_v4(proto=1, payload=tcp(1000, bytes(100))))
        .data(A, plain_v4(proto=1, payload=tcp(1100, bytes(100))))
        .data(A, plain_v4(proto=1, payload=tcp(1200, bytes(60), 0x18))),
        "batch_gro_udp6": Seq(d).establish(A, 0).batch(3)
        .data(A, plain_v6(payload=udp(bytes(100))))
        .data(A, plain_v6(payload=udp(bytes(100))))
        .data(A, plain_v6(payload=udp(bytes(40)))),
        "batch_mixed": Seq(d).establish(B, 0).batch(5).data(B, plain_v6()).init(A)
        .raw(bytes([4, 0, 0, 0]) + bytes(44)).data(B, plain_v6()).data(B, KEEPALIVE),
        "keepalive_timers": Seq(d).establish(A, 0).data(A, plain_v4()).time(T10S)
        .time(T15S).time(T120S),
    }
    t = "tun"
    s[t] = {
        "icmp4": Seq(t).tun(0, v4(dst=5)),
        "icmp6": Seq(t).tun(1, v6(dst=2)),
        "no_icmp_multicast": Seq(t).tun(0, v4(dst=6)).tun(1, v6(dst=3)),
        "icmp_of_icmp": Seq(t).tun(0, v4(proto=2, dst=5, payload=bytes([3]) + bytes(11),
                                          extra=bytes([3]))),
        "staged_then_session": Seq(t).tun(0, v4(dst=0)).tun(0, v4(dst=1)).resp(A),
        "session_big": Seq(t).establish(A, 0).tun(3, struct.pack("<H", 2000) + bytes([0])),
        "no_endpoint_c": Seq(t).tun(0, v4(dst=3)),
        "gso_tcp4_session": Seq(t).establish(A, 0).gso(0, 0, 5000, 1300),
        "gso_udp6_staged": Seq(t).gso(3, 1, 3000, 1200).resp(B),
        "gso_no_peer": Seq(t).gso(0, 3, 2000, 500),
        "gso_counter_expires": Seq(t).establish(A, 0).time(AGE_REJECT).gso(0, 0, 3000, 500),
        "gso_bad_desc": Seq(t).establish(A, 0).gso(1, 0, 4000, 1000, flags=1,
                                                   extra=bytes([1, 1, 10, 0, 16, 0, 60, 0])),
        "low_order_z": Seq(t).tun(0, v4(dst=4)),
        "garbage": Seq(t).tun(2, struct.pack("<H", 7) + b"\x45garbag"),
        "bad_lengths": Seq(t).tun(0, v4(flags=8, dst=0, extra=b"\xff\xff"))
        .tun(0, v4(flags=4, dst=0, extra=b"\x0f")),
        "icmp_ratelimit": Seq(t).tun(0, v4(dst=5)).tun(0, v4(dst=5)).tun(0, v4(dst=5))
        .tun(0, v4(dst=5)).tun(0, v4(dst=5)).tun(0, v4(dst=5)).tun(0, v4(dst=5))
        .tun(0, v4(dst=5)).tun(0, v4(dst=5)).tun(0, v4(dst=5)).tun(0, v4(dst=5)),
    }
    return s


def text_seeds():
    k1 = "11" * 32
    k2 = "22" * 32
    k4 = "44" * 32
    priv = "08" + "77" * 30 + "48"
    alice_priv = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
    bob_priv = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
    bob_pub = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    uapi = {
        "get": "get=1\n\n",
        "set_full": f"set=1\nprivate_key={priv}\nlisten_port=51820\nfwmark=0\n"
        f"replace_peers=true\npublic_key={k4}\npreshared_key={k2}\n"
        "endpoint=[fe80::1%1]:51820\npersistent_keepalive_interval=25\n"
        "replace_allowed_ips=true\nallowed_ip=10.0.0.0/8\nallowed_ip=-fd00::/64\n"
        "protocol_version=1\n\n",
        "two_requests": f"get=1\n\nset=1\npublic_key={k1}\nremove=true\n\n",
        "update_only": f"set=1\npublic_key={k1}\nupdate_only=true\nendpoint=1.2.3.4:5\n\n",
        "bad_first_line": "hello=1\nx=y\n\n",
        "bad_value": "set=1\nlisten_port=65536\n\n",
        "metrics": "wgd_metrics=1\n\n",
        "wgd_source": f"set=1\nwgd_bind=127.0.0.1,::1\npublic_key={k1}\n"
        "wgd_source=127.0.0.1\nwgd_egress=lo\npublic_key={k2}\nwgd_source=none\n"
        "wgd_egress=none\n\n",
    }
    config = {
        "identity_and_peer": f"private_key={priv}\npublic_key={k4}\nallowed_ip=10.4.0.0/16\n"
        f"endpoint=127.0.0.1:51820\npersistent_keepalive_interval=1\n",
        "update_remove": f"public_key={k1}\nupdate_only=true\nallowed_ip=10.9.0.0/16\n"
        f"public_key={k2}\nremove=true\n",
        "replace_aips": f"public_key={k2}\nreplace_allowed_ips=true\nallowed_ip=::/0\n"
        "allowed_ip=-10.2.0.0/16\n",
        "own_key_peer": f"private_key={priv}\n\npublic_key={k1}\nendpoint=[::1]:7\n"
        "\nlisten_port=0\nfwmark=0\n",
        "replace_peers": f"replace_peers=true\npublic_key={k4}\nallowed_ip=0.0.0.0/0\n",
        "fail_atomic": f"public_key={k4}\nallowed_ip=10.0.0.0/8\nfwmark=4294967295\n",
        "psk_remove": f"public_key={k2}\npreshared_key={'00' * 32}\n",
        # one new key twice in a set: the second entry finds the planned peer
        "new_key_twice": f"public_key={k4}\nallowed_ip=10.4.0.0/16\npublic_key={k4}\n"
        f"endpoint=127.0.0.1:1\npublic_key={k4}\nremove=true\npublic_key={k4}\n",
        # RFC 7748 6.1: a peer with Bob's public key, then Bob's private key
        "own_key_later": f"public_key={bob_pub}\nallowed_ip=10.5.0.0/16\n\n"
        f"private_key={bob_priv}\n\nprivate_key={alice_priv}\npublic_key={bob_pub}\n",
        "fails_late": f"listen_port=1\npublic_key={k4}\nallowed_ip=10.6.0.0/16\n"
        f"public_key={k1}\nremove=true\n",
        "fails_late_replace": f"replace_peers=true\nlisten_port=3\npublic_key={k4}\n",
        # wgd's source keys: a source of a bound family must be the bind address
        "wgd_source": f"wgd_bind=127.0.0.1\npublic_key={k4}\nwgd_source=127.0.0.2\n"
        f"public_key={k1}\nwgd_source=127.0.0.1,::1\nwgd_egress=lo\nwgd_bind=none\n",
        "wgd_egress_absent": f"public_key={k4}\nendpoint=127.0.0.1:9\nwgd_egress=nosuch9\n",
    }
    return uapi, config


def batch_seeds():
    r, t = "rxbatch", "tunsuper"
    p20 = plain_v4(payload=b"\x33" * 20)
    return {r: {
        "natural_train": Seq(r, 0).establish(A, 0).train(0, 3).data(A, p20).data(A, p20)
        .data(A, p20),
        "threads_vnet": Seq(r, VNET | THREADS).establish(A, 0).establish(B, 0).train(0, 8)
        .data(A, p20).data(A, p20).data(A, p20).data(A, p20).data(B, plain_v6()),
        "odd_segments": Seq(r, VNET).establish(A, 0).train(1 | 2 << 1, 3).data(A, p20)
        .data(A, p20).data(A, p20),
        "seg_1452": Seq(r, 0).establish(B, 0).train(1 | 8 << 1, 4).data(B, plain_v6())
        .data(B, plain_v6()),
        "batch_mixed": Seq(r, THREADS).establish(A, 0).batch(5).data(A, p20)
        .init(B).data(A, plain_v6()).raw(bytes([4, 0, 0, 0]) + bytes(44), flags=8),
        "big_inline": Seq(r, VNET12).establish(A, 0).train(0, 4)
        .data(A, bytes([4, 0]) + struct.pack("<H", 1300)).data(A, bytes([4, 0]) + struct.pack("<H", 1300)),
    }, t: {
        "tso4_a": Seq(t, 0).establish(A, 0).super_([super_pkt(4, 0, 0, 1000, 20000)]),
        "uso6_b_threads": Seq(t, THREADS).establish(B, 0)
        .super_([super_pkt(7, 1, 0, 1200, 30000)]),
        "staged_no_session": Seq(t, 0).super_([super_pkt(4, 0, 0, 1400, 9000)]),
        "raw_header": Seq(t, 0).establish(A, 0).super_([super_pkt(
            0, 0, 3, 100, 1000, hdr=bytes([1, 1]) + struct.pack("<HHH", 40, 20, 16))]),
        "hdr_len_ecn": Seq(t, 0).establish(A, 0).super_([super_pkt(
            4, 0, 4 | 8, 500, 4000, hdr=struct.pack("<H", 1200))]),
        "csum_only_multi": Seq(t, VNET12).establish(A, 0).establish(B, 0).super_([
            super_pkt(2, 0, 2, 0, 300, vnet12=True), super_pkt(0, 1, 0, 0, 800, vnet12=True),
            super_pkt(1, 2, 0, 700, 3000, vnet12=True)]),
        "fault_eio": Seq(t, 0).establish(A, 0).fault(0).super_([super_pkt(4, 0, 0, 1200, 30000)]),
        "tiny_segments": Seq(t, THREADS).establish(A, 0).super_([super_pkt(6, 0, 0, 1, 300)]),
    }}


def ipv4(proto, l4, tot=None):
    n = 20 + len(l4)
    h = bytearray(20)
    h[0] = 0x45
    h[2:4] = struct.pack(">H", tot if tot is not None else n)
    h[8] = 64
    h[9] = proto
    h[12:16] = bytes([10, 0, 0, 1])
    h[16:20] = bytes([10, 0, 0, 2])
    return bytes(h) + l4


def ipv6(proto, l4):
    h = bytearray(40)
    h[0] = 0x60
    h[4:6] = struct.pack(">H", len(l4))
    h[6] = proto
    h[7] = 64
    h[8:24] = bytes([0xfd] + [0] * 14 + [1])
    h[24:40] = bytes([0xfd] + [0] * 14 + [2])
    return bytes(h) + l4


def tcp(seq, payload, flags=0x10):
    return struct.pack(">HHIIBBHHH", 1000, 2000, seq, 7, 5 << 4, flags, 65535, 0, 0) + payload


def udp(payload):
    return struct.pack(">HHHH", 1000, 2000, 8 + len(payload), 0) + payload


def gso_desc(gtype, csum, size, start, off, hdr):
    return bytes([gtype, csum]) + struct.pack("<HHHH", size, start, off, hdr)


def offload_seeds():
    pay = bytes(range(256)) * 2
    gro_tcp = b"".join(struct.pack("<H", len(p)) + p for p in [
        ipv4(6, tcp(1000, pay[:100])), ipv4(6, tcp(1100, pay[100:200])),
        ipv4(6, tcp(1200, pay[200:250], 0x18)), ipv4(6, tcp(5000, pay[:100]))])
    gro_udp = b"".join(struct.pack("<H", len(p)) + p for p in [
        ipv6(17, udp(pay[:120])), ipv6(17, udp(pay[120:240])), ipv6(17, udp(pay[:50])),
        ipv4(17, udp(pay[:80]))])
    return {
        "split_tcp4": b"\x00" + gso_desc(1, 1, 100, 20, 16, 40) + ipv4(6, tcp(1, pay[:350])),
        "split_tcp6": b"\x00" + gso_desc(2, 1, 300, 40, 16, 60) + ipv6(6, tcp(9, pay)),
        "split_udp6": b"\x00" + gso_desc(3, 1, 200, 40, 6, 48) + ipv6(17, udp(pay[:500])),
        "split_udp4": b"\x00" + gso_desc(3, 0, 64, 0, 0, 28) + ipv4(17, udp(pay[:130])),
        "plain_csum": b"\x00" + gso_desc(0, 1, 0, 20, 6, 0) + ipv4(17, udp(pay[:30])),
        "gro_tcp": b"\x01\x03" + gro_tcp,
        "gro_udp": b"\x01\x03" + gro_udp,
        "gro_off": b"\x01\x00" + gro_tcp,
    }


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for target, group in seeds().items():
        for name, seq in group.items():
            write(target, name, bytes(seq.b))
    for target, group in batch_seeds().items():
        for name, seq in group.items():
            write(target, name, bytes(seq.b))
    for name, data in offload_seeds().items():
        write("offload", name, data)
    uapi, config = text_seeds()
    for name, text in uapi.items():
        write("uapi", name, b"\x02" + text.encode())
    # fed 8 times: one 8000-byte line, over WG_UAPI_MAX_LINE
    write("uapi", "long_line", b"\xf2" + b"set=1\nlisten_port=" + b"1" * 981)
    for name, text in config.items():
        write("config", name, text.encode())


if __name__ == "__main__":
    main()
