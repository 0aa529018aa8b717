#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hybridgate-native-host on its own, spoken to as a browser speaks to it (native messaging
framing): the checks made before any UI, a registration and a sign-in answered by
`hybridgate phone` (loopback radio, our relay) and verified by python3-fido2 (tests/tools/
webauthn_verify.py), the QR code sent as an SVG (never the URL), cancellation by message and by
the browser closing the port (the phone sees the desktop go away), and framing errors.

usage: test_native_host.py BIN_DIR [TEST_NAME]"""

import base64
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from hgtest import Relay, Workdir, check, phone, run_tests, verify, wait_for  # noqa: E402
from hostclient import HostClient  # noqa: E402

BIN = sys.argv[1]
HOST = os.path.join(BIN, "hybridgate-native-host")
ORIGIN = "https://localhost:8123"  # python3-fido2 0.9 accepts https origins only
RP = "localhost"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def host(wd, relay, **extra_env):
    env = dict(wd.env)
    env.update({"HYBRIDGATE_TUNNEL_URL": relay.url, "HYBRIDGATE_RADIO": "loopback",
                "HYBRIDGATE_QR_URL_FILE": wd.file("qr.txt"), "HYBRIDGATE_NATIVE_HOST_LOG": wd.file("host.log"),
                "XDG_DATA_HOME": wd.file("data"), "XDG_CONFIG_HOME": wd.file("config")})
    for k in ("HYBRIDGATE_PHONE", "HYBRIDGATE_CA_FILE", "HYBRIDGATE_CONFIG"):
        env.pop(k, None)
    env.update(extra_env)
    return HostClient([HOST, "/fake/manifest.json", "browser@hybridgate.dev"], env)


def creation_options(challenge, rp_id=None):
    o = {"rp": {"name": "Test"}, "user": {"id": b64(b"user-1"), "name": "alice", "displayName": "Alice"},
         "challenge": challenge, "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
         "authenticatorSelection": {"residentKey": "required"}}
    if rp_id:
        o["rp"]["id"] = rp_id
    return o


def qr_url(wd):
    path = wd.file("qr.txt")
    wait_for(lambda: os.path.exists(path) and open(path).read().strip(), 20, "the QR URL file")
    check(oct(os.stat(path).st_mode & 0o777) == "0o600", "the QR URL file is not private")
    return open(path).read().strip()


def test_checks_before_any_ui():
    wd = Workdir("nh-check")
    relay = Relay(BIN, wd)
    h = host(wd, relay)
    try:
        h.send({"type": "hello"})
        m = h.next()
        check(m["type"] == "hello" and m["phones"] == [], "hello: %r" % m)
        cases = [
            ("create", creation_options(b64(os.urandom(32))), ORIGIN, "checked"),           # rp.id = the host
            ("create", creation_options(b64(os.urandom(32)), "example.com"), ORIGIN, "rp_id.mismatch"),
            ("get", {"challenge": b64(os.urandom(32)), "rpId": "example.com"}, ORIGIN, "rp_id.mismatch"),
            ("get", {"challenge": b64(os.urandom(32))}, "http://example.com", "origin.insecure"),
            ("get", {"challenge": b64(os.urandom(32)), "rpId": "com"}, "https://com", "rp_id.public_suffix"),
            ("get", {"challenge": "***"}, ORIGIN, "invalid_argument"),
            ("get", {"challenge": b64(os.urandom(32))}, ORIGIN, "checked"),
        ]
        for i, (kind, options, origin, want) in enumerate(cases):
            h.send({"type": "check", "id": str(i), "kind": kind, "origin": origin, "options": options})
            m = h.next()
            got = m["type"] if m["type"] == "checked" else m.get("code")
            check(m.get("id") == str(i) and got == want, "case %d: expected %s, got %r" % (i, want, m))
        # A refused create never reaches a QR code.
        h.send({"type": "create", "id": "x", "origin": ORIGIN, "options": creation_options(b64(os.urandom(32)), "example.com")})
        m = h.next()
        check(m["type"] == "error" and m["code"] == "rp_id.mismatch", "create with a foreign rp.id: %r" % m)
        check(not os.path.exists(wd.file("qr.txt")), "a QR code was made for a refused request")
        h.close_input()
        check(h.wait() == 0, "the host did not exit 0 at the end of its input")
        # The shared desktop settings: a config file (HYBRIDGATE_CONFIG) ...
        conf = wd.file("config.toml")
        with open(conf, "w") as f:
            f.write('link_phone = true\nphone = "Pixel"\n')
        h = host(wd, relay, HYBRIDGATE_CONFIG=conf)
        h.send({"type": "hello"})
        m = h.next()
        check(m["linkPhone"] is True and m["defaultPhone"] == "Pixel", "hello with a config file: %r" % m)
        h.close_input()
        h.wait()
        # ... and a bad one is reported, not ignored.
        with open(conf, "w") as f:
            f.write("no_such_key = 1\n")
        h = host(wd, relay, HYBRIDGATE_CONFIG=conf)
        h.send({"type": "hello"})
        m = h.next()
        check(m["type"] == "error" and m["code"] == "config.invalid" and "no_such_key" in m["detail"],
              "a bad config file: %r" % m)
        h.send({"type": "check", "id": "9", "kind": "get", "origin": ORIGIN, "options": {}})
        m = h.next()
        check(m.get("id") == "9" and m["code"] == "config.invalid", "a bad config file, second message: %r" % m)
        h.close_input()
        check(h.wait() == 1, "the host did not exit 1 on a bad config file")
    finally:
        h.kill()
        relay.stop()
        wd.cleanup()


def test_register_then_sign_in_verified():
    """Also: the settings' remembered phone (HYBRIDGATE_PHONE, unknown here) is only a default for the
    dialog: a request that names no phone shows a QR code instead of waking it."""
    wd = Workdir("nh-e2e")
    relay = Relay(BIN, wd)
    h = host(wd, relay, HYBRIDGATE_PHONE="Absent Phone")
    try:
        h.send({"type": "hello"})
        m = h.next()
        check(m["defaultPhone"] == "Absent Phone" and m["linkPhone"] is False, "hello: %r" % m)
        store = wd.file("store.json")
        challenge = b64(os.urandom(32))
        h.send({"type": "create", "id": "c1", "origin": ORIGIN, "options": creation_options(challenge)})
        first = h.until(lambda m: m["type"] == "qr")
        svg = first[-1]["svg"]
        check(svg.startswith("<?xml") or svg.startswith("<svg"), "the QR is not an SVG document")
        url = qr_url(wd)
        check(url.startswith("FIDO:/"), "the QR URL file holds no FIDO:/ URL")
        p = phone(BIN, wd, url, relay.url, store, "--yes", name="p1")
        msgs = h.until(lambda m: m["type"] in ("result", "error"), timeout=60)
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        end = msgs[-1]
        check(end["type"] == "result" and end["id"] == "c1", "registration: %r" % end)
        stages = [m["stage"] for m in msgs if m["type"] == "stage"]
        for s in ("scanning", "phone_found", "secure_channel", "waiting_for_user"):
            check(s in stages, "stage %s missing from %r" % (s, stages))
        everything = json.dumps(first + msgs) + open(wd.file("host.log")).read()
        check(url not in everything and url[6:30] not in everything, "the FIDO:/ URL left the host")
        cred = end["credential"]
        rc, stored, err = verify("register", cred, rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the verifier rejected the registration: " + err)
        # getPublicKey(): the SPKI the host sends is the attested key (compared by cryptography).
        from cryptography.hazmat.primitives.serialization import load_der_public_key
        from fido2.ctap2 import AttestationObject
        from fido2.utils import websafe_decode
        att = AttestationObject(websafe_decode(cred["response"]["attestationObject"]))
        cose = att.auth_data.credential_data.public_key  # {1: 2, 3: -7, -1: 1, -2: x, -3: y}
        numbers = load_der_public_key(websafe_decode(cred["response"]["publicKey"])).public_numbers()
        check((numbers.x, numbers.y) == (int.from_bytes(cose[-2], "big"), int.from_bytes(cose[-3], "big")),
              "publicKey (SPKI) is not the attested COSE key")
        check(cred["response"]["publicKeyAlgorithm"] == -7, "publicKeyAlgorithm: %r" % cred["response"].get("publicKeyAlgorithm"))
        check(websafe_decode(cred["response"]["authenticatorData"]) == bytes(att.auth_data), "authenticatorData differs")

        check(not os.path.exists(wd.file("qr.txt")), "the QR URL file outlived the ceremony")
        challenge = b64(os.urandom(32))
        h.send({"type": "get", "id": "g1", "origin": ORIGIN, "options": {"challenge": challenge}})
        url = qr_url(wd)
        p = phone(BIN, wd, url, relay.url, store, "--yes", name="p2")
        end = h.until(lambda m: m["type"] in ("result", "error"), timeout=60)[-1]
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        check(end["type"] == "result" and end["id"] == "g1", "sign-in: %r" % end)
        with open(wd.file("stored.json"), "w") as f:
            json.dump(stored, f)
        rc, out, err = verify("authenticate", end["credential"], rp_id=RP, origin=ORIGIN, challenge=challenge,
                              stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
        check(rc == 0, "the verifier rejected the assertion: " + err)
        h.close_input()
        check(h.wait() == 0, "the host did not exit 0")
    finally:
        h.kill()
        relay.stop()
        wd.cleanup()


def cancel_case(how):
    import pty
    wd = Workdir("nh-cancel-" + how)
    relay = Relay(BIN, wd)
    h = host(wd, relay)
    try:
        h.send({"type": "create", "id": "c1", "origin": ORIGIN, "options": creation_options(b64(os.urandom(32)))})
        url = qr_url(wd)
        master, slave = pty.openpty()
        p = phone(BIN, wd, url, relay.url, wd.file("store.json"), name="asking-phone", stdin=slave)
        os.close(slave)
        wait_for(lambda: "Allow? [y/N]" in p.stderr() or p.proc.poll() is not None, 30, "the phone's prompt")
        h.until(lambda m: m.get("stage") == "waiting_for_user")
        if how == "message":
            h.send({"type": "cancel", "id": "c1"})
            end = h.until(lambda m: m["type"] in ("result", "error"))[-1]
            check(end["type"] == "error" and end["code"] == "session.cancelled", "after cancel: %r" % end)
            h.close_input()
        else:
            h.close_input()  # the browser closed the port
        check(h.wait(20) == 0, "the host did not exit after the cancel")
        rc = p.wait(20)
        os.close(master)
        check(rc != 0, "the phone reported success for a desktop that went away")
        check("request was withdrawn" in p.stderr(), "the phone did not see the desktop go away:\n" + p.stderr())
        log = open(wd.file("host.log")).read()
        want = "cancel requested by the browser" if how == "message" else "the browser closed the port: cancelling"
        check(want in log, "host log lacks %r:\n%s" % (want, log))
    finally:
        h.kill()
        relay.stop()
        wd.cleanup()


def test_cancel_message_reaches_the_phone():
    cancel_case("message")


def test_closed_port_cancels_and_reaches_the_phone():
    cancel_case("eof")


def test_framing_errors():
    wd = Workdir("nh-frame")
    relay = Relay(BIN, wd)
    try:
        for name, data in (("oversized", struct.pack("=I", 64 << 20)), ("truncated", struct.pack("=I", 10) + b"{}"),
                           ("not an object", struct.pack("=I", 2) + b"[]")):
            h = host(wd, relay)
            h.send_raw(data)
            if name != "truncated":
                h.proc.stdin.close()
            else:
                h.close_input()
            check(h.wait() == 0, "%s: the host did not end cleanly" % name)
            check(h.next() is None, "%s: the host answered" % name)
        log = open(wd.file("host.log")).read()
        for what in ("too large", "ended early", "not a JSON object"):
            check(what in log, "host log does not say %r:\n%s" % (what, log))
        h = host(wd, relay)
        h.send({"type": "nonsense", "id": 7})
        m = h.next()
        check(m["type"] == "error" and m["id"] == 7 and m["code"] == "invalid_argument", "unknown type: %r" % m)
        h.send({"type": 5, "id": "t"})
        m = h.next()
        check(m["type"] == "error" and m["code"] == "invalid_argument", "a number as type: %r" % m)
        h.send({"type": "create", "id": "u", "origin": ["x"], "options": {}})
        m = h.next()
        check(m["type"] == "error" and m["code"] == "invalid_argument", "an array as origin: %r" % m)
        h.send({"type": "hello"})
        check(h.next()["type"] == "hello", "the host stopped answering after malformed messages")
        h.close_input()
        h.wait()
    finally:
        relay.stop()
        wd.cleanup()


if __name__ == "__main__":
    tests = [test_checks_before_any_ui, test_register_then_sign_in_verified, test_cancel_message_reaches_the_phone,
             test_closed_port_cancels_and_reaches_the_phone, test_framing_errors]
    if len(sys.argv) > 2:
        tests = [t for t in tests if t.__name__ == sys.argv[2]]
        if not tests:
            sys.exit("no test named " + sys.argv[2])
    run_tests(tests)
