#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from
tests/vectors/vectors.json, plus a few hand-built CTAP2 requests.

Run from anywhere:  /usr/bin/python3 tests/fuzz/make_corpus.py
The output is committed; re-running it is idempotent (files are rewritten, never appended).
Seeds are small (< 4 KiB) valid or nearly valid messages so that the fuzzers start deep.
"""
import base64
import hashlib
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors", "vectors.json")
OUT = os.path.join(HERE, "corpus")

TARGETS = ["qr_url", "digits", "cbor", "qr_payload_cbor", "eid", "relay_path", "noise", "crypter",
           "post_handshake", "ctap", "sk_answers", "pam_core", "native_messaging",
           "ctaphid", "store", "ceremony"]


# ------------------------------------------------------------------ a tiny canonical CBOR writer
def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | ai]) + n.to_bytes(width, "big")
    raise ValueError(n)


def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if v is None:
        return b"\xf6"
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, (bytes, bytearray)):
        return _head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, list):
        return _head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        items = sorted(((cbor(k), cbor(x)) for k, x in v.items()), key=lambda kv: (kv[0][0] >> 5, len(kv[0]), kv[0]))
        return _head(5, len(items)) + b"".join(k + x for k, x in items)
    raise TypeError(type(v))


# ------------------------------------------------------------------ digits (docs/protocol.md §2.2)
def digits_encode(b):
    widths = {1: 3, 2: 5, 3: 8, 4: 10, 5: 13, 6: 15}
    out = []
    i = 0
    while i + 7 <= len(b):
        out.append("%017d" % int.from_bytes(b[i:i + 7], "little"))
        i += 7
    if i < len(b):
        rest = b[i:]
        out.append("%0*d" % (widths[len(rest)], int.from_bytes(rest, "little")))
    return "".join(out)


def main():
    with open(VECTORS) as f:
        vectors = json.load(f)
    by_kind = {}
    for v in vectors:
        by_kind.setdefault(v["kind"], []).append(v)

    def one(kind):
        return by_kind[kind][0]

    seeds = {t: {} for t in TARGETS}

    def add(target, name, data):
        if isinstance(data, str):
            data = data.encode()
        assert len(data) <= 4096, (target, name, len(data))
        seeds[target][name] = bytes(data)

    h = bytes.fromhex

    # ---- QR codes
    for i, v in enumerate(by_kind["qr_parse"]):
        case = v["input"]["case"].replace(" ", "_")
        add("qr_url", "parse_%d_%s" % (i, case), v["input"]["qr_url"])
        add("qr_payload_cbor", "parse_%d_%s" % (i, case), h(v["input"]["cbor_hex"]))
        add("digits", "parse_%d_%s" % (i, case), v["input"]["qr_url"][len("FIDO:/"):])
    qe = one("qr_encode")["expected"]
    add("qr_url", "encode_full", qe["qr_url"])
    add("qr_url", "encode_full_lowercase_prefix", "fido:/" + qe["qr_url"][6:])
    add("qr_payload_cbor", "encode_full", h(qe["cbor_hex"]))
    add("digits", "encode_full", qe["qr_url"][6:])
    for i, url in enumerate(one("qr_url_reject")["input"]["cases"]):
        add("qr_url", "reject_%d" % i, url)

    # ---- digits
    for v in by_kind["digits_encode"]:
        add("digits", "encode_%s" % v["input"]["bytes_hex"], v["expected"]["digits"])
    for n in (3, 17, 20):
        add("digits", "zeros_%d" % n, "0" * n)
    add("digits", "max_chunk", "72057594037927935")  # 2^56 - 1, the largest 7-byte chunk

    # ---- generic CBOR: every CBOR value of the vectors
    ph = one("post_handshake_and_messages")["expected"]
    ctap_frame = h(ph["ctap_request_frame_hex"])
    ctap_resp = h(ph["ctap_response_frame_hex"])
    add("cbor", "qr_payload", h(qe["cbor_hex"]))
    add("cbor", "get_info", h(ph["getinfo_cbor_hex"]))
    add("cbor", "post_handshake", h(ph["post_handshake_plaintext_hex"]))
    add("cbor", "linking_map", h(ph["linking_map_hex"]))
    add("cbor", "update", h(ph["update_frame_hex(type 0x02 + CBOR)"])[1:])
    add("cbor", "ctap_make_credential", ctap_frame[2:])
    add("cbor", "ctap_response", ctap_resp[2:])
    add("cbor", "client_payload", h(one("client_payload")["expected"]["cbor_hex"]))
    for hx in one("advert_suffix")["input"]["cases"]:
        if hx != "<empty>":
            add("cbor", "suffix_" + hx, h(hx))
    add("cbor", "non_minimal_uint", h("1805"))
    add("cbor", "unsorted_map", h("a2020101"))
    add("cbor", "nested", cbor([1, -7, b"\x00", "x", [], {}, True, False, None, {"a": [{"b": 2**64 - 1}]}, -2**64]))

    # ---- EID adverts (the fuzz target knows these vectors' keys)
    add("eid", "advert_urls_vector", h(one("derive_tunnel_id_and_urls")["expected"]["advert_hex"]))
    ad = one("advert_decrypt")["input"]["advert_hex"]
    add("eid", "advert_zero_eid", h(ad))
    add("eid", "advert_with_suffix", h(ad + "a101191234"))
    add("eid", "advert_first_19", h(ad)[:19])
    add("eid", "advert_qr_flow", h(one("noise_knpsk0_qr")["expected"]["advert_hex"]))
    add("eid", "advert_linked_flow", h(one("noise_nkpsk0_linked")["expected"]["advert_hex"]))

    # ---- relay paths
    tp = one("tunnel_path_parse")["input"]
    tid = "68656C6C6F2C20776562617574686E21"
    for i, p in enumerate(list(tp["valid"]) + tp["invalid"]):
        if not p.startswith("/") and not p.startswith("cable") and not p.startswith(".."):
            continue  # descriptive entries such as "lowercase hex"
        add("relay_path", "case_%02d" % i, p.replace("<32hex>", tid))
    add("relay_path", "new_lowercase", "/cable/new/" + tid.lower())
    dt = one("derive_tunnel_id_and_urls")["expected"]
    add("relay_path", "connect_vector", dt["connect_url"].split(".net", 1)[1])
    add("relay_path", "contact", "/cable/contact/" + "ZXhhbXBsZS1mY20tdG9rZW4")
    add("relay_path", "contact_padded", "/cable/contact/" + "ZXhhbXBsZS1mY20tdG9rZW4=")

    # ---- Noise: message 1 and 2 of both patterns (the target uses these vectors' keys)
    for kind, tag in (("noise_knpsk0_qr", "kn"), ("noise_nkpsk0_linked", "nk")):
        e = one(kind)["expected"]
        add("noise", tag + "_msg1", h(e["msg1_hex"]))
        add("noise", tag + "_msg2", h(e["msg2_hex"]))
    add("noise", "roundtrip_scalars", h(one("noise_knpsk0_qr")["input"]["initiator_ephemeral_priv_hex"] +
                                        one("noise_knpsk0_qr")["input"]["responder_ephemeral_priv_hex"]))

    # ---- Crypter: ciphertexts of the session vector (phone ctr 0..2, desktop ctr 0..1) and frames
    for k in ph:
        if "ciphertext_hex" in k:
            name = k.replace("_ciphertext_hex", "").replace("(", "_").replace(")", "").replace(",", "_")
            add("crypter", name, h(ph[k]))
    add("crypter", "frame_ctap", ctap_frame)
    add("crypter", "frame_shutdown", h("00"))
    add("crypter", "strip_padding", h(one("strip_padding")["input"]["frame_hex"]))

    # ---- post-handshake and friends
    add("post_handshake", "post_handshake_rev1", h(ph["post_handshake_plaintext_hex"]))
    getinfo = h(ph["getinfo_cbor_hex"])
    rev0 = cbor({1: getinfo})
    pad = (len(rev0) + 2 + 511) // 512 * 512 - len(rev0) - 2
    add("post_handshake", "post_handshake_rev0", rev0 + bytes(pad) + pad.to_bytes(2, "little"))
    pad_old = (len(rev0) + 1 + 255) // 256 * 256 - len(rev0) - 1
    add("post_handshake", "post_handshake_rev0_old", rev0 + bytes(pad_old) + bytes([pad_old]))
    linking = h(ph["linking_map_hex"])
    # Revision 0 style: linking info in key 2 of the post-handshake map (spliced: it is already CBOR).
    add("post_handshake", "post_handshake_linking", b"\xa3\x01" + cbor(getinfo) + b"\x02" + linking + b"\x03" + cbor(["ctap"]))
    add("post_handshake", "post_handshake_truncated", cbor({1: getinfo, 3: ["ctap"]})[:-1])
    add("post_handshake", "linking_map", linking)
    add("post_handshake", "update_payload", h(ph["update_frame_hex(type 0x02 + CBOR)"])[1:])
    add("post_handshake", "update_payload_no_linking", h("a1004100"))
    cp = one("client_payload")["expected"]
    add("post_handshake", "client_payload", h(cp["cbor_hex"]))
    add("post_handshake", "client_payload_header", cp["X-caBLE-Client-Payload"])
    add("post_handshake", "padded_empty_map", h("a0") + bytes(509) + (509).to_bytes(2, "little"))

    # ---- CTAP: request frames (cmd || CBOR) and response frames (status || CBOR)
    add("ctap", "make_credential_vector", ctap_frame[1:])
    add("ctap", "response_make_credential", ctap_resp[1:])
    add("ctap", "get_info_request", h("04"))
    add("ctap", "selection_request", h("0b"))
    add("ctap", "unknown_command", h("ff"))
    add("ctap", "get_info_response", b"\x00" + getinfo)
    cdh = hashlib.sha256(b"fuzz").digest()
    mc = {1: cdh, 2: {"id": "example.com", "name": "Example"},
          3: {"id": b"\x01\x02\x03\x04", "name": "alice", "displayName": "Alice"},
          4: [{"alg": -7, "type": "public-key"}, {"alg": -257, "type": "public-key"}],
          5: [{"id": bytes(16), "type": "public-key"}], 7: {"rk": True, "uv": True}}
    add("ctap", "make_credential_rk", b"\x01" + cbor(mc))
    ga = {1: "example.com", 2: cdh, 3: [{"id": bytes(range(16)), "type": "public-key", "transports": ["hybrid"]}],
          5: {"up": True, "uv": True}}
    add("ctap", "get_assertion_allow_list", b"\x02" + cbor(ga))
    add("ctap", "get_assertion_discoverable", b"\x02" + cbor({1: "example.com", 2: cdh}))
    # A getAssertion response: authData (37 bytes) + signature + user.
    auth_data = hashlib.sha256(b"example.com").digest() + b"\x05" + (7).to_bytes(4, "big")
    add("ctap", "response_get_assertion", b"\x00" + cbor({1: {"id": bytes(range(16)), "type": "public-key"}, 2: auth_data,
                                                         3: b"\x30\x06\x02\x01\x01\x02\x01\x01",
                                                         4: {"id": b"\x01\x02\x03\x04", "name": "alice"}, 5: 1}))
    add("ctap", "response_error", h("27"))

    # ---- the OpenSSH provider's readers: selector byte || answer (fuzz_sk_answers.cpp)
    ssh_hash = hashlib.sha256(b"ssh:").digest()
    gx = h("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")  # the P-256 base point
    gy = h("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
    cred = bytes(range(16))
    def attested(cose):
        return ssh_hash + b"\x45" + (0).to_bytes(4, "big") + bytes(16) + len(cred).to_bytes(2, "big") + cred + cbor(cose)
    es256 = {1: 2, 3: -7, -1: 1, -2: gx, -3: gy}
    ed = {1: 1, 3: -8, -1: 6, -2: bytes(range(32))}
    add("sk_answers", "enrol_ecdsa", b"\x00\x00" + cbor({1: "none", 2: attested(es256), 3: {}}))
    add("sk_answers", "enrol_ecdsa_packed", b"\x00\x00" + cbor({1: "packed", 2: attested(es256),
                                                                3: {"alg": -7, "sig": b"\x30\x06\x02\x01\x01\x02\x01\x01",
                                                                    "x5c": [b"\x30\x00"]}}))
    add("sk_answers", "enrol_ed25519", b"\x01\x00" + cbor({1: "none", 2: attested(ed), 3: {}}))
    ssh_ad = ssh_hash + b"\x05" + (9).to_bytes(4, "big")
    der = b"\x30\x44\x02\x20" + gx + b"\x02\x20" + gy
    add("sk_answers", "assertion_expected", b"\x02\x00" + cbor({1: {"id": bytes([0xAB]) * 16, "type": "public-key"},
                                                                 2: ssh_ad, 3: der}))
    add("sk_answers", "assertion_resident", b"\x03\x00" + cbor({1: {"id": cred, "type": "public-key"}, 2: ssh_ad,
                                                                 3: der, 4: {"id": b"alice" + bytes(27)}, 5: 2}))
    add("sk_answers", "get_info_eddsa", b"\x04" + cbor({1: ["FIDO_2_0"], 3: bytes(16),
                                                        10: [{"alg": -7, "type": "public-key"},
                                                             {"alg": -8, "type": "public-key"}]}))
    add("sk_answers", "signature_der", b"\x05" + der)
    add("sk_answers", "signature_ed25519", b"\x05" + bytes(64))

    # ---- the PAM module's authfile and answer checks: selector byte || input (fuzz_pam_core.cpp)
    pam_hash = hashlib.sha256(b"pam:hybridgate").digest()
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    cose_line = b64u(cbor(es256))
    add("pam_core", "authfile", b"\x00" + ("# hybridgate pam_keys\nalice:%s,%s,7,up\n\nbob:%s,%s,0\n"
                                          % (b64u(cred), cose_line, b64u(b"\x01" * 32), cose_line)).encode())
    add("pam_core", "authfile_bad_counter", b"\x00" + ("alice:%s,%s,-1,up+uv\n" % (b64u(cred), cose_line)).encode())
    add("pam_core", "enrolment", b"\x01\x00" + cbor({1: "none", 2: pam_hash + b"\x45" + (0).to_bytes(4, "big") + bytes(16)
                                                      + len(cred).to_bytes(2, "big") + cred + cbor(es256), 3: {}}))
    pam_ad = pam_hash + b"\x05" + (9).to_bytes(4, "big")
    add("pam_core", "assertion", b"\x02\x00" + cbor({1: {"id": bytes([0xAB]) * 16, "type": "public-key"}, 2: pam_ad,
                                                      3: der}))
    add("pam_core", "assertion_uv", b"\x03\x00" + cbor({1: {"id": bytes([0xAB]) * 16, "type": "public-key"}, 2: pam_ad,
                                                         3: der}))
    add("pam_core", "assertion_denied", b"\x02\x27")

    # ---- the browser host's native messaging input: 32-bit native-order length || JSON
    def nm(obj):
        text = json.dumps(obj).encode()
        return len(text).to_bytes(4, sys.byteorder) + text
    add("native_messaging", "hello", nm({"kind": "hello"}))
    add("native_messaging", "create_then_cancel", nm({"rid": "r1", "kind": "create", "origin": "https://example.com",
                                                      "options": {"challenge": "AAAA", "rp": {"id": "example.com"}}})
        + nm({"rid": "r1", "kind": "cancel"}))
    add("native_messaging", "truncated", nm({"kind": "get"})[:-3])
    add("native_messaging", "not_an_object", nm([1, 2, 3]))

    # ---- the security key's CTAPHID machine: a script of operations (fuzz_ctaphid.cpp's header)
    def hid_init(nonce=b"\x11" * 8):
        return b"\x00" + nonce
    def hid_pkt(k, command, length, payload):  # an initialization packet on handed-out channel #k
        return bytes([1, k, command, length >> 8, length & 0xff, len(payload)]) + payload
    def hid_cont(k, seq, payload):
        return bytes([2, k, seq, len(payload)]) + payload
    ping = bytes(range(200))
    add("ctaphid", "init", hid_init())
    add("ctaphid", "ping_short", hid_init() + hid_pkt(0, 0x01, 5, b"hello"))
    add("ctaphid", "ping_four_packets", hid_init() + hid_pkt(0, 0x01, 200, ping[:57]) + hid_cont(0, 0, ping[57:116])
        + hid_cont(0, 1, ping[116:175]) + hid_cont(0, 2, ping[175:]))
    add("ctaphid", "get_info_keepalive_answer", hid_init() + hid_pkt(0, 0x10, 1, b"\x04") + b"\x03\x0c\x05\x01\x03\x0c"
        + b"\x04\x00\x10")
    add("ctaphid", "wrong_seq", hid_init() + hid_pkt(0, 0x01, 100, ping[:57]) + hid_cont(0, 5, ping[57:100]))
    add("ctaphid", "msg_timeout", hid_init() + hid_pkt(0, 0x10, 100, ping[:57]) + b"\x03\xff\x03\xff")
    add("ctaphid", "channel_busy", hid_init() + hid_init(b"\x22" * 8) + hid_pkt(0, 0x10, 1, b"\x01")
        + hid_pkt(1, 0x01, 1, b"\xaa"))
    add("ctaphid", "cancel", hid_init() + hid_pkt(0, 0x10, 1, b"\x01") + hid_pkt(0, 0x11, 0, b"") + b"\x04\x00\x01")
    add("ctaphid", "lock", hid_init() + hid_pkt(0, 0x04, 1, b"\x05") + hid_init(b"\x22" * 8) + hid_pkt(1, 0x01, 1, b"\xaa"))
    add("ctaphid", "init_flood", b"".join(hid_init(bytes([i]) * 8) for i in range(12)))
    add("ctaphid", "host_gone", hid_init() + hid_pkt(0, 0x10, 1, b"\x01") + b"\x06" + b"\x04\x00\x01")
    add("ctaphid", "broadcast_cbor", hid_pkt(0xff, 0x10, 1, b"\x04"))
    add("ctaphid", "resync_busy", hid_init() + hid_pkt(0, 0x10, 1, b"\x02") + hid_pkt(0, 0x06, 8, b"\x33" * 8)
        + b"\x04\x00\x01")
    add("ctaphid", "raw_report", b"\x07" + b"\xff" * 4 + b"\x86\x00\x08" + b"\x44" * 8 + b"\x00" * 49)

    # ---- the credential store file (store/credential_store.hpp): plaintext and sealed with the
    # fuzz target's fixed keys (scrypt("fuzz", 16 x 0x11, 2^4, 8, 1), and a fixed TPM-sealed key;
    # AES-256-GCM from python3-cryptography).
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    cred = {"id": b64u(b"\x01" * 16), "rp_id": "example.com", "rp_name": "Example", "user_id": b64u(b"u1"),
            "user_name": "alice", "display_name": "Alice", "private_key": b64u(b"\x07" * 32), "sign_count": 3,
            "created": 1700000000, "discoverable": True}
    ed = dict(cred, id=b64u(b"\x02" * 16), alg=-8, discoverable=False)
    pin = {"salt": b64u(b"\x05" * 16), "verifier": b64u(b"\x06" * 32), "scrypt_log2_n": 4, "scrypt_r": 8,
           "scrypt_p": 1, "retries": 5, "length": 4}
    salt = b"\x11" * 16
    key = hashlib.scrypt(b"fuzz", salt=salt, n=2 ** 4, r=8, p=1, dklen=32)
    seal = {"kdf": "scrypt", "salt": b64u(salt), "log2_n": 4, "r": 8, "p": 1}
    ad = ("hybridgate credential store v2 scrypt %s 4 8 1" % b64u(salt)).encode()

    def sealed(creds, nonce=b"\x09" * 12, with_pin=False, tamper=False):
        ct = AESGCM(key).encrypt(nonce, json.dumps({"credentials": creds}).encode(), ad)
        if tamper:
            ct = bytes([ct[0] ^ 1]) + ct[1:]
        doc = {"version": 2, "seal": seal, "nonce": b64u(nonce), "sealed": b64u(ct)}
        if with_pin:
            doc["pin"] = pin
        return json.dumps(doc)

    add("store", "plain_empty", json.dumps({"version": 1, "credentials": []}))
    add("store", "plain_two_and_pin", json.dumps({"version": 1, "credentials": [cred, ed], "pin": pin}))
    add("store", "sealed_empty", sealed([]))
    add("store", "sealed_two_and_pin", sealed([cred, ed], with_pin=True))
    add("store", "sealed_tampered", sealed([cred], tamper=True))
    add("store", "sealed_other_kdf", sealed([cred]).replace('"scrypt"', '"argon2"'))
    add("store", "unknown_version", json.dumps({"version": 3, "credentials": []}))
    # A TPM-sealed store (kdf tpm2) under the target's fixed TPM key: 32 x 0x22, with stand-in blobs
    # for the TPM2B_PUBLIC / TPM2B_PRIVATE (the reader checks their size; only a TPM reads them).
    tpm_key, tpm_pub, tpm_priv = b"\x22" * 32, b"\x00\x04\x01\x02\x03\x04", b"\x00\x04\x05\x06\x07\x08"
    tpm_ad = ("hybridgate credential store v2 tpm2 %s %s" % (b64u(tpm_pub), b64u(tpm_priv))).encode()

    def tpm_sealed(creds, nonce=b"\x0a" * 12):
        ct = AESGCM(tpm_key).encrypt(nonce, json.dumps({"credentials": creds}).encode(), tpm_ad)
        return json.dumps({"version": 2, "seal": {"kdf": "tpm2", "public": b64u(tpm_pub), "private": b64u(tpm_priv)},
                           "nonce": b64u(nonce), "sealed": b64u(ct), "pin": pin})

    add("store", "tpm_sealed_two_and_pin", tpm_sealed([cred, ed]))
    add("store", "tpm_sealed_other_blob", tpm_sealed([cred]).replace(b64u(tpm_priv), b64u(b"\x00\x04\x05\x06\x07\x09")))

    # ---- ceremony (fuzz_ceremony.cpp reads its choices with FuzzedDataProvider, integers from the
    # end): an empty input is an honest QR ceremony with the desktop under test; a last byte with
    # bit 0 set puts the phone under test; the rest of an all-zero input is honest too.
    add("ceremony", "honest_desktop_under_test", b"")
    add("ceremony", "honest_phone_under_test", b"\x01")
    # Last byte 0 (desktop under test), 24 fault choices of 0 (none), then 1: the linked flow.
    add("ceremony", "honest_linked_desktop_under_test", b"\x01" + b"\x00" * 25)

    # ---- write
    for t in TARGETS:
        d = os.path.join(OUT, t)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        for name, data in sorted(seeds[t].items()):
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
            with open(os.path.join(d, safe), "wb") as f:
                f.write(data)
        print("%-16s %3d seeds" % (t, len(seeds[t])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
