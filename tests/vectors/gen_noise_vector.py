#!/usr/bin/env python3
"""Independent model of the WireGuard handshake (whitepaper section 5.4),
written on CPython's hashlib/hmac and pyca/cryptography, that prints the
fixed-key vector checked by test_noise (test_fixed_key_vector). Inputs: the
RFC 7748 6.1 Alice/Bob private keys as statics (Alice initiates), ephemeral
private keys 01..20 and 21..40 (the first and second 32 bytes the
deterministic RNG hands out), PSK 0x42 * 32, sender indices, and the Unix
time 1700000000.123456789 whitened to a multiple of 2^24 ns as wgd does.
Mac fields are zero (the cookie module fills them)."""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                              X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def HASH(b):
    return hashlib.blake2s(b).digest()


def HMAC(k, b):
    return hmac.new(k, b, hashlib.blake2s).digest()


def KDF(n, key, inp):
    t0 = HMAC(key, inp)
    out, t = [], b""
    for i in range(1, n + 1):
        t = HMAC(t0, t + bytes([i]))
        out.append(t)
    return out


def pub(sk):
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def DH(sk, pk):
    return X25519PrivateKey.from_private_bytes(sk).exchange(
        X25519PublicKey.from_public_bytes(pk))


def AEAD(key, counter, plain, ad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", counter), plain, ad)


def tai64n(unix_ns):
    s, ns = divmod(unix_ns, 10**9)
    ns &= ~((1 << 24) - 1)
    return struct.pack(">QI", 0x400000000000000A + s, ns)


S_i = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
S_r = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
E_i = bytes(range(1, 33))
E_r = bytes(range(33, 65))
Q = b"\x42" * 32
I_i, I_r = 0x11223344, 0x55667788
T = tai64n(1700000000 * 10**9 + 123456789)

C = HASH(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
H = HASH(C + b"WireGuard v1 zx2c4 Jason@zx2c4.com")
H = HASH(H + pub(S_r))
e_i = pub(E_i)
C = KDF(1, C, e_i)[0]
H = HASH(H + e_i)
C, k = KDF(2, C, DH(E_i, pub(S_r)))
static = AEAD(k, 0, pub(S_i), H)
H = HASH(H + static)
C, k = KDF(2, C, DH(S_i, pub(S_r)))
ts = AEAD(k, 0, T, H)
H = HASH(H + ts)
init = struct.pack("<II", 1, I_i) + e_i + static + ts + b"\0" * 32

e_r = pub(E_r)
C = KDF(1, C, e_r)[0]
H = HASH(H + e_r)
C = KDF(1, C, DH(E_r, e_i))[0]
C = KDF(1, C, DH(E_r, pub(S_i)))[0]
C, tau, k = KDF(3, C, Q)
H = HASH(H + tau)
empty = AEAD(k, 0, b"", H)
resp = struct.pack("<III", 2, I_r, I_i) + e_r + empty + b"\0" * 32

T_send_i, T_recv_i = KDF(2, C, b"")
data = struct.pack("<IIQ", 4, I_r, 0) + AEAD(T_send_i, 0, b"\0" * 16, b"")

print("initiation", init.hex())
print("response", resp.hex())
print("initiator_send", T_send_i.hex())
print("initiator_recv", T_recv_i.hex())
print("data_zero16_counter0", data.hex())
