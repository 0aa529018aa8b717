#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The hybridgate Python package (python/): installed offline with pip into a fresh target folder,
then used unmodified by Debian's python3-fido2 — Fido2Client(HybridDevice(...)) makes a credential
and gets an assertion through `hybridgate phone` (our relay, loopback radio), each checked by
python-fido2's Fido2Server — and through the package's own register()/sign_in() (WebAuthn JSON),
checked by Fido2Server too. Errors arrive as HybridgateError with the library's code.

usage: test_python.py --bin BIN_DIR --lib LIBHYBRIDGATE --target DIR [TEST_NAME]
  test_install   (the CTest fixture) pip install --no-index --target DIR ./python
  other tests    import hybridgate from DIR, with HYBRIDGATE_LIBRARY=LIBHYBRIDGATE"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from hgtest import Proc, Relay, TestFailure, Workdir, check, run_selected, to_json  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--lib", required=True)
ap.add_argument("--target", required=True)
ap.add_argument("test", nargs="?")
ARGS = ap.parse_args()
RP = {"id": "example.com", "name": "Example RP"}
ORIGIN = "https://example.com"


def import_package():
    sys.path.insert(0, ARGS.target)
    os.environ["HYBRIDGATE_LIBRARY"] = ARGS.lib
    import hybridgate
    check(os.path.dirname(hybridgate.__file__) == os.path.join(ARGS.target, "hybridgate"),
          "imported hybridgate from %s, not from the installed copy" % hybridgate.__file__)
    return hybridgate


class Phone:
    """Starts `hybridgate phone` for the QR URL the package hands to on_qr (through a 0600 file,
    not argv)."""

    def __init__(self, wd, store, *args, name="phone", stdin=subprocess.DEVNULL):
        self.wd, self.store, self.args, self.name, self.stdin = wd, store, args, name, stdin
        self.proc = None
        self.urls = []

    def on_qr(self, url):
        check(url.startswith("FIDO:/"), "on_qr got %r" % url[:8])
        self.urls.append(url)
        path = self.wd.file(self.name + ".qr")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, url.encode())
        os.close(fd)
        self.proc = Proc([os.path.join(ARGS.bin, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url",
                          self.wd.relay.url, "--qr-file", path, "--store", self.store, *self.args],
                         self.wd, self.name, stdin=self.stdin)

    def wait(self):
        check(self.proc is not None, "no QR code was shown")
        return self.proc.wait(60)


def with_relay(name, body):
    wd = Workdir(name)
    wd.relay = Relay(ARGS.bin, wd)
    os.environ["HYBRIDGATE_RADIO_DIR"] = wd.radio
    os.environ["HYBRIDGATE_CONFIG"] = wd.file("empty-config")  # not the user's: the defaults, then the keywords
    with open(wd.file("empty-config"), "w"):
        pass
    try:
        body(wd)
    finally:
        wd.relay.stop()
        wd.cleanup()


def test_install():
    shutil.rmtree(ARGS.target, ignore_errors=True)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--target", ARGS.target,
                        os.path.join(ROOT, "python")], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "pip install ./python failed:\n%s%s" % (r.stdout, r.stderr))
    hybridgate = import_package()
    check(hybridgate.library_version().count(".") == 2, "library_version() = %r" % hybridgate.library_version())


def test_fido2_client_make_credential_and_get_assertion():
    hybridgate = import_package()
    from fido2.client import Fido2Client
    from fido2.ctap import CtapDevice
    from fido2.server import Fido2Server

    def body(wd):
        server = Fido2Server(RP)
        store = wd.file("store.json")
        common = dict(tunnel_url=wd.relay.url, radio="loopback", advert_timeout=30)
        stages = []
        user = {"id": b"user-handle-erin", "name": "erin@example.com", "displayName": "Erin"}
        options, state = server.register_begin(user, resident_key=True, user_verification="discouraged")
        phone = Phone(wd, store, "--yes", name="reg-phone")
        device = hybridgate.HybridDevice(request="create", on_qr=phone.on_qr,
                                         on_stage=lambda s, d: stages.append(s), **common)
        check(isinstance(device, CtapDevice), "HybridDevice is not a fido2.ctap.CtapDevice")
        with device:
            client = Fido2Client(device, ORIGIN)  # connects: getInfo comes from the phone
            check("ES256" in str(client.info.algorithms) or -7 in [a.get("alg") for a in client.info.algorithms or []],
                  "the phone's getInfo did not reach python-fido2: %r" % client.info)
            result = client.make_credential(options["publicKey"])
        check(phone.wait() == 0, "phone failed:\n" + phone.proc.stderr())
        auth_data = server.register_complete(state, result.client_data, result.attestation_object)
        check(len(phone.urls) == 1, "expected one QR code, got %d" % len(phone.urls))
        for s in ("qr_shown", "phone_found", "secure_channel", "done"):
            check(s in stages, "stage %s not reported: %s" % (s, stages))
        known = [auth_data.credential_data]

        for allow in (known, None):  # with an allow list, then discoverable
            options, state = server.authenticate_begin(allow, user_verification="discouraged")
            phone = Phone(wd, store, "--yes", name="sign-phone")
            with hybridgate.HybridDevice(on_qr=phone.on_qr, **common) as device:
                result = Fido2Client(device, ORIGIN).get_assertion(options["publicKey"])
            check(phone.wait() == 0, "phone failed:\n" + phone.proc.stderr())
            r = result.get_response(0)
            server.authenticate_complete(state, known, r.credential_id, r.client_data, r.authenticator_data,
                                         r.signature)  # raises if the signature does not verify
            check(r.credential_id == auth_data.credential_data.credential_id, "signed in with another credential")
            if allow is None:
                check(r.user_handle == b"user-handle-erin", "no user handle from a discoverable sign-in")

    with_relay("py-fido2", body)


def test_register_and_sign_in_json():
    hybridgate = import_package()
    from fido2.client import ClientData
    from fido2.ctap2 import AttestationObject, AuthenticatorData
    from fido2.server import Fido2Server
    from fido2.utils import websafe_decode

    def body(wd):
        server = Fido2Server(RP)
        store = wd.file("store.json")
        common = dict(tunnel_url=wd.relay.url, radio="loopback", advert_timeout=30)
        user = {"id": b"user-handle-finn", "name": "finn@example.com", "displayName": "Finn"}
        options, state = server.register_begin(user, resident_key=True)
        phone = Phone(wd, store, "--yes", name="reg-phone")
        cred = hybridgate.register(json.dumps(to_json(options)), ORIGIN, on_qr=phone.on_qr, **common)
        check(phone.wait() == 0, "phone failed:\n" + phone.proc.stderr())
        check(cred["type"] == "public-key" and "hybrid" in cred["response"]["transports"],
              "not a hybrid PublicKeyCredential: %r" % cred)
        auth_data = server.register_complete(state, ClientData(websafe_decode(cred["response"]["clientDataJSON"])),
                                             AttestationObject(websafe_decode(cred["response"]["attestationObject"])))
        known = [auth_data.credential_data]
        options, state = server.authenticate_begin(known)
        phone = Phone(wd, store, "--yes", name="sign-phone")
        a = hybridgate.sign_in(to_json(options), ORIGIN, on_qr=phone.on_qr, **common)  # a dict works too
        check(phone.wait() == 0, "phone failed:\n" + phone.proc.stderr())
        server.authenticate_complete(state, known, websafe_decode(a["id"]),
                                     ClientData(websafe_decode(a["response"]["clientDataJSON"])),
                                     AuthenticatorData(websafe_decode(a["response"]["authenticatorData"])),
                                     websafe_decode(a["response"]["signature"]))

    with_relay("py-json", body)


def test_errors_carry_the_library_code():
    hybridgate = import_package()
    from fido2.client import Fido2Client
    from fido2.server import Fido2Server

    # The numeric codes as the C header defines them (HG_E_X for the code "x"), read from the header.
    header = open(os.path.join(ROOT, "include", "hybridgate", "hybridgate.h")).read()
    numbers = {m.group(1).lower(): int(m.group(2)) for m in re.finditer(r"HG_E_([A-Z0-9_]+) = (\d+)\b", header)}

    def expect(code, fn):
        try:
            fn()
        except hybridgate.HybridgateError as e:
            check(e.code == code, "expected %s, got %s (%s)" % (code, e.code, e))
            check(e.number == numbers[code.replace(".", "_")],
                  "%s: number %s, the header says %s" % (code, e.number, numbers[code.replace(".", "_")]))
            check(e.message and e.code in str(e), "the exception does not read well: %r" % str(e))
            return e
        raise TestFailure("no HybridgateError (expected %s)" % code)

    def body(wd):
        server = Fido2Server(RP)
        store = wd.file("store.json")
        common = dict(tunnel_url=wd.relay.url, radio="loopback", advert_timeout=30)
        options, _ = server.register_begin({"id": b"u", "name": "gus", "displayName": "Gus"})
        opts = to_json(options)

        # The person says no on the phone.
        phone = Phone(wd, store, name="deny-phone", stdin=subprocess.PIPE)
        def deny(url):
            phone.on_qr(url)
            phone.proc.proc.stdin.write(b"n\n")
            phone.proc.proc.stdin.flush()
        expect("ctap.operation_denied", lambda: hybridgate.register(opts, ORIGIN, on_qr=deny, **common))
        phone.wait()

        # The relying party's timeout bounds the whole ceremony: 3 s with nobody scanning → ≤ 4 s.
        timed = json.loads(json.dumps(opts))
        timed["publicKey"]["timeout"] = 3000
        start = time.monotonic()
        e = expect("session.deadline", lambda: hybridgate.register(json.dumps(timed), ORIGIN, on_qr=lambda url: None,
                                                                  **common))
        took = time.monotonic() - start
        check(took <= 4.0, "a 3 s timeout took %.2f s" % took)
        check("3000 ms" in e.message, "the error does not name the timeout: %r" % e.message)

        # Nobody scans the QR code: python-fido2's Fido2Client sees our error, not a CTAP one.
        expect("session.no_advert", lambda: Fido2Client(
            hybridgate.HybridDevice(tunnel_url=wd.relay.url, radio="loopback", advert_timeout=0.5,
                                    on_qr=lambda url: None), ORIGIN))
        # Nowhere to show a QR code (no on_qr, no QR URL file, no remembered phone): refused at once.
        start = time.monotonic()
        expect("invalid_argument", lambda: hybridgate.register(opts, ORIGIN, **common))
        check(time.monotonic() - start < 2, "refusing a ceremony nobody can scan took %.1f s" % (time.monotonic() - start))

        # A threading.Event cancels (as python-fido2's clients use it).
        event = threading.Event()
        expect("session.cancelled", lambda: hybridgate.register(opts, ORIGIN, event=event,
                                                                on_qr=lambda url: event.set(), **common))

        # Bad input is refused before anything starts.
        expect("invalid_argument", lambda: hybridgate.HybridDevice(radio="carrier-pigeon"))
        os.environ["HYBRIDGATE_RADIO"] = "carrier-pigeon"  # the shared configuration is checked too
        try:
            expect("config.invalid", lambda: hybridgate.HybridDevice())
        finally:
            del os.environ["HYBRIDGATE_RADIO"]
        # A bad tunnel URL is refused where it is set (keyword or HYBRIDGATE_TUNNEL_URL), not after
        # the phone scanned a QR code: no on_qr call.
        shown = []
        e = expect("invalid_argument", lambda: hybridgate.register(
            opts, ORIGIN, on_qr=shown.append, **dict(common, tunnel_url="https://relay.example.org")))
        check("ws://" in e.message and not shown, "tunnel_url=https://...: %s, QR shown %d times" % (e, len(shown)))
        os.environ["HYBRIDGATE_TUNNEL_URL"] = "relay.example.org"
        try:
            e = expect("config.invalid", lambda: hybridgate.register(opts, ORIGIN, on_qr=shown.append, radio="loopback"))
            check("HYBRIDGATE_TUNNEL_URL" in e.message and not shown, "HYBRIDGATE_TUNNEL_URL: %s" % e)
        finally:
            del os.environ["HYBRIDGATE_TUNNEL_URL"]
        expect("origin.insecure", lambda: hybridgate.register(opts, "http://example.com", **common))
        expect("invalid_argument", lambda: hybridgate.register("{not json", ORIGIN, **common))
        try:
            hybridgate.HybridDevice(colour="blue")
            raise TestFailure("an unknown keyword was accepted")
        except TypeError:
            pass

    with_relay("py-errors", body)


TESTS = [test_install, test_fido2_client_make_credential_and_get_assertion, test_register_and_sign_in_json,
         test_errors_carry_the_library_code]

if __name__ == "__main__":
    run_selected(TESTS, ARGS.test)
