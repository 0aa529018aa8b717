#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""User verification on `hybridgate phone` is real (issue 25), checked with Debian's python3-fido2 as
the CTAP client, through our relay and the hybrid transport (the Python package's HybridDevice):

  no PIN      getInfo says uv false / clientPin false; no UV flag; a request that requires UV
              (options.uv) is refused with CTAP2_ERR_INVALID_OPTION;
  clientPIN   python-fido2's ClientPin sets the PIN (protocols 2 and 1); the UV flag comes only
              with a pinUvAuthToken got with the right PIN; wrong PINs count down, 3 in a row need
              a restart, the count survives the restart, 8 wrong PINs block it for good;
  on-phone    the PIN asked by the phone itself (--pin-fd, a pinentry program) for options.uv;
              --yes alone never verifies;
  sealed      the store sealed at rest with a passphrase (--seal), or by a TPM 2.0 (--seal --tpm,
              a swtpm the test starts; a second swtpm is another machine's TPM).

Every credential and assertion is checked by python-fido2's Fido2Server (signatures, flags).

usage: test_pin.py --bin BIN_DIR --lib LIBHYBRIDGATE --target DIR [TEST_NAME]"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from hgtest import Proc, Relay, TestFailure, Workdir, check, run_selected  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--lib", required=True)
ap.add_argument("--target", required=True)
ap.add_argument("test", nargs="?")
ARGS = ap.parse_args()
RP = {"id": "example.com", "name": "Example RP"}
ORIGIN = "https://example.com"
PIN = "4711-open"


def import_package():
    sys.path.insert(0, ARGS.target)
    os.environ["HYBRIDGATE_LIBRARY"] = ARGS.lib
    import hybridgate
    return hybridgate


class Phone:
    """`hybridgate phone` for the QR URL HybridDevice hands to on_qr; `pins` are written to its
    standard input, which --pin-fd 0 reads (never argv)."""

    def __init__(self, wd, store, *args, name="phone", pins=None, stdin_fd=None):
        self.wd, self.store, self.args, self.name, self.pins, self.stdin_fd = wd, store, args, name, pins, stdin_fd
        self.proc = None

    def on_qr(self, url):
        path = self.wd.file(self.name + ".qr")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, url.encode())
        os.close(fd)
        self.proc = Proc([os.path.join(ARGS.bin, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url",
                          self.wd.relay.url, "--qr-file", path, "--store", self.store, *self.args],
                         self.wd, self.name, stdin=self.stdin_fd if self.stdin_fd is not None else
                         subprocess.PIPE if self.pins is not None else subprocess.DEVNULL)
        if self.pins is not None:
            self.proc.proc.stdin.write("".join(p + "\n" for p in self.pins).encode())
            self.proc.proc.stdin.close()

    def wait(self):
        check(self.proc is not None, "no QR code was shown")
        rc = self.proc.wait(60)
        check(rc == 0, "%s failed (%d):\n%s" % (self.name, rc, self.proc.stderr()))
        return self.proc.stderr()


class Session:
    """One connection to a phone process (a restart of the phone = a new Session)."""

    def __init__(self, hybridgate, wd, store, *args, name, pins=None, request="create", stdin_fd=None):
        self.phone = Phone(wd, store, "--yes", *args, name=name, pins=pins, stdin_fd=stdin_fd)
        self.device = hybridgate.HybridDevice(request=request, on_qr=self.phone.on_qr, tunnel_url=wd.relay.url,
                                              radio="loopback", advert_timeout=30)

    def __enter__(self):
        from fido2.ctap2 import Ctap2
        self.ctap = Ctap2(self.device)
        return self

    def __exit__(self, *exc):
        self.device.close()
        self.stderr = self.phone.wait()
        return False


def with_relay(name, body):
    wd = Workdir(name)
    wd.relay = Relay(ARGS.bin, wd)
    os.environ["HYBRIDGATE_RADIO_DIR"] = wd.radio
    os.environ["HYBRIDGATE_CONFIG"] = wd.file("empty-config")
    with open(wd.file("empty-config"), "w"):
        pass
    try:
        body(wd)
    finally:
        wd.relay.stop()
        wd.cleanup()


def expect_ctap(code, fn, what):
    from fido2.ctap import CtapError
    try:
        fn()
    except CtapError as e:
        check(e.code == code, "%s: expected %s, got %s" % (what, code, e.code))
        return
    raise TestFailure("%s: no CTAP error (expected %s)" % (what, code))


def token(cp, pin):
    """A pinUvAuthToken for makeCredential and getAssertion at example.com (CTAP 2.1 requires permissions)."""
    from fido2.ctap2.pin import ClientPin
    return cp.get_pin_token(pin, ClientPin.PERMISSION.MAKE_CREDENTIAL | ClientPin.PERMISSION.GET_ASSERTION,
                            "example.com")


def make_credential(server, client, user, uv, pin=None, rk=True):
    options, state = server.register_begin(user, resident_key=rk, user_verification=uv)
    kw = {"pin": pin} if pin else {}
    result = client.make_credential(options["publicKey"], **kw)
    auth_data = server.register_complete(state, result.client_data, result.attestation_object)
    return auth_data


def get_assertion(server, client, known, uv, pin=None):
    options, state = server.authenticate_begin(known, user_verification=uv)
    kw = {"pin": pin} if pin else {}
    result = client.get_assertion(options["publicKey"], **kw)
    r = result.get_response(0)
    server.authenticate_complete(state, known, r.credential_id, r.client_data, r.authenticator_data, r.signature)
    return r.authenticator_data


def raw_make_credential(ctap, **kw):
    from fido2.utils import sha256
    return ctap.make_credential(sha256(b"client data"), {"id": "example.com", "name": "Example"},
                                {"id": b"raw-user", "name": "raw", "displayName": "Raw"},
                                [{"type": "public-key", "alg": -7}], **kw)


def test_no_pin_no_uv():
    """No PIN: getInfo is truthful, no UV flag, options.uv refused with CTAP2_ERR_INVALID_OPTION."""
    hybridgate = import_package()
    from fido2.client import ClientError, Fido2Client
    from fido2.ctap import CtapError
    from fido2.server import Fido2Server
    from fido2.utils import sha256

    def body(wd):
        server = Fido2Server(RP)
        store = wd.file("store.json")
        user = {"id": b"user-ada", "name": "ada@example.com", "displayName": "Ada"}
        with Session(hybridgate, wd, store, name="nopin") as s:
            opts = s.ctap.info.options
            check(opts.get("uv") is False, "getInfo uv = %r without a PIN (want false)" % opts.get("uv"))
            check(opts.get("clientPin") is False, "getInfo clientPin = %r without a PIN" % opts.get("clientPin"))
            check(2 in s.ctap.info.pin_uv_protocols, "pinUvAuthProtocols: %r" % s.ctap.info.pin_uv_protocols)
            client = Fido2Client(s.device, ORIGIN)
            auth = make_credential(server, client, user, "discouraged")
            check(auth.is_user_present() and not auth.is_user_verified(), "flags 0x%02x: UV set without a PIN" % auth.flags)
            known = [auth.credential_data]
            ad = get_assertion(server, client, known, "discouraged")
            check(not ad.is_user_verified(), "assertion flags 0x%02x: UV set without a PIN" % ad.flags)
            expect_ctap(CtapError.ERR.INVALID_OPTION, lambda: raw_make_credential(s.ctap, options={"uv": True}),
                        "makeCredential uv=true without a PIN")
            expect_ctap(CtapError.ERR.INVALID_OPTION,
                        lambda: s.ctap.get_assertion("example.com", sha256(b"cd"),
                                                     [{"type": "public-key", "id": known[0].credential_id}],
                                                     options={"uv": True}),
                        "getAssertion uv=true without a PIN")
            try:  # python-fido2's own client refuses "required" against this getInfo
                make_credential(server, client, user, "required")
                raise TestFailure("userVerification=required succeeded without a PIN")
            except ClientError as e:
                check(e.code == ClientError.ERR.CONFIGURATION_UNSUPPORTED, "required without a PIN: %r" % e)
        # The test-only flag is the only way to a UV flag without a PIN, and it says so.
        with Session(hybridgate, wd, store, "--test-assume-verified", name="assume") as s:
            check(s.ctap.info.options.get("uv") is True, "--test-assume-verified: getInfo uv not true")
            auth = make_credential(server, Fido2Client(s.device, ORIGIN), user, "required")
            check(auth.is_user_verified(), "--test-assume-verified: no UV flag")

    with_relay("pin-none", body)


def test_client_pin_uv_lockout_restart():
    """clientPIN through python-fido2's ClientPin: UV only after the right PIN, retries, lock-out,
    counts that survive a restart, blocked for good after 8."""
    hybridgate = import_package()
    from fido2.client import Fido2Client
    from fido2.ctap import CtapError
    from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
    from fido2.server import Fido2Server
    from fido2.utils import sha256

    def body(wd):
        server = Fido2Server(RP)
        store = wd.file("store.json")
        user = {"id": b"user-bea", "name": "bea@example.com", "displayName": "Bea"}
        E = CtapError.ERR
        with Session(hybridgate, wd, store, name="p1") as s:
            cp = ClientPin(s.ctap, PinProtocolV2())
            check(cp.get_pin_retries()[0] == 8, "retries before a PIN: %r" % (cp.get_pin_retries(),))
            expect_ctap(E.PIN_NOT_SET, lambda: token(cp, PIN), "a token before a PIN is set")
            cp.set_pin(PIN)
            expect_ctap(E.NOT_ALLOWED, lambda: cp.set_pin("another-pin"), "setPIN when a PIN is set")
            expect_ctap(E.PIN_INVALID, lambda: token(cp, "wrong-pin"), "a wrong PIN")
            check(cp.get_pin_retries()[0] == 7, "retries after one wrong PIN: %r" % (cp.get_pin_retries(),))
            # A token from the right PIN: the UV flag, on a credential Fido2Server verifies.
            tok = cp.get_pin_token(PIN, ClientPin.PERMISSION.MAKE_CREDENTIAL, "example.com")
            check(cp.get_pin_retries()[0] == 8, "the right PIN did not restore the retries")
            cdh = sha256(b"raw client data")
            att = s.ctap.make_credential(cdh, {"id": "example.com", "name": "Ex"},
                                         {"id": b"raw", "name": "raw", "displayName": "Raw"},
                                         [{"type": "public-key", "alg": -7}],
                                         pin_uv_param=cp.protocol.authenticate(tok, cdh), pin_uv_protocol=2)
            check(att.auth_data.is_user_verified(), "no UV flag with a valid pinUvAuthParam")
            # The token was spent; a forged MAC is refused.
            expect_ctap(E.PIN_AUTH_INVALID, lambda: s.ctap.make_credential(
                cdh, {"id": "example.com", "name": "Ex"}, {"id": b"raw", "name": "raw", "displayName": "Raw"},
                [{"type": "public-key", "alg": -7}], pin_uv_param=b"\0" * 32, pin_uv_protocol=2), "a forged MAC")
            # A discoverable passkey on a PIN-protected store needs the PIN.
            expect_ctap(E.PIN_REQUIRED, lambda: raw_make_credential(s.ctap, options={"rk": True}),
                        "rk without user verification on a PIN-protected store")
            # Protocol 1 works too.
            cp1 = ClientPin(s.ctap, PinProtocolV1())
            t1 = token(cp1, PIN)
            att = s.ctap.make_credential(cdh, {"id": "example.com", "name": "Ex"},
                                         {"id": b"raw1", "name": "raw", "displayName": "Raw"},
                                         [{"type": "public-key", "alg": -7}],
                                         pin_uv_param=cp1.protocol.authenticate(t1, cdh), pin_uv_protocol=1)
            check(att.auth_data.is_user_verified(), "no UV flag with PIN protocol 1")

        # A restart: getInfo now says clientPin and uv; Fido2Client with the PIN gets UV flags.
        with Session(hybridgate, wd, store, name="p2") as s:
            opts = s.ctap.info.options
            check(opts.get("clientPin") is True and opts.get("uv") is True, "getInfo with a PIN: %r" % opts)
            client = Fido2Client(s.device, ORIGIN)
            auth = make_credential(server, client, user, "required", pin=PIN)
            check(auth.is_user_verified(), "Fido2Client with the PIN: no UV flag")
            known = [auth.credential_data]
            ad = get_assertion(server, client, known, "required", pin=PIN)
            check(ad.is_user_verified(), "assertion with the PIN: no UV flag")
            # Without the PIN an assertion is still possible, but says so.
            r = s.ctap.get_assertion("example.com", sha256(b"cd"),
                                     [{"type": "public-key", "id": known[0].credential_id}])
            check(not r.auth_data.is_user_verified(), "an assertion without the PIN has the UV flag")

        # Three wrong PINs in a row: the third says "restart first", and so does the right PIN.
        with Session(hybridgate, wd, store, name="p3") as s:
            cp = ClientPin(s.ctap)
            expect_ctap(E.PIN_INVALID, lambda: token(cp, "wrong-1"), "wrong PIN 1")
            expect_ctap(E.PIN_INVALID, lambda: token(cp, "wrong-2"), "wrong PIN 2")
            expect_ctap(E.PIN_AUTH_BLOCKED, lambda: token(cp, "wrong-3"), "wrong PIN 3")
            expect_ctap(E.PIN_AUTH_BLOCKED, lambda: token(cp, PIN), "the right PIN before a restart")
            retries, power_cycle = cp.get_pin_retries()
            check(retries == 5 and power_cycle, "after 3 wrong: retries %r, power cycle %r" % (retries, power_cycle))
        # The count survives the restart; the right PIN works again and restores it.
        with Session(hybridgate, wd, store, name="p4") as s:
            cp = ClientPin(s.ctap)
            retries, power_cycle = cp.get_pin_retries()
            check(retries == 5 and not power_cycle, "after a restart: retries %r, power cycle %r" % (retries, power_cycle))
            token(cp, PIN)
            check(cp.get_pin_retries()[0] == 8, "the right PIN after a restart did not restore the retries")
            # changePIN: the old PIN is checked.
            expect_ctap(E.PIN_INVALID, lambda: cp.change_pin("not-the-pin", "new-pin-1"), "changePIN with a wrong PIN")
            cp.change_pin(PIN, "new-pin-1")
            cp.change_pin("new-pin-1", PIN)
        # 8 wrong PINs (over restarts): blocked for good, the right PIN too, after a restart too.
        left = 8  # the right PIN (changePIN) restored all 8
        n = 0
        while left > 0:
            n += 1
            with Session(hybridgate, wd, store, name="lock%d" % n) as s:
                cp = ClientPin(s.ctap)
                for _ in range(min(3, left)):
                    left -= 1
                    want = E.PIN_BLOCKED if left == 0 else (E.PIN_AUTH_BLOCKED if _ == 2 else E.PIN_INVALID)
                    expect_ctap(want, lambda: token(cp, "wrong"), "wrong PIN (%d left)" % left)
        with Session(hybridgate, wd, store, name="blocked") as s:
            cp = ClientPin(s.ctap)
            check(cp.get_pin_retries()[0] == 0, "retries after 8 wrong PINs: %r" % (cp.get_pin_retries(),))
            expect_ctap(E.PIN_BLOCKED, lambda: token(cp, PIN), "the right PIN once blocked")

    with_relay("pin-client", body)


def set_pin_cli(wd, store, pin, current=None):
    lines = ([current] if current else []) + [pin]
    r = subprocess.run([os.path.join(ARGS.bin, "hybridgate"), "phone", "--store", store, "--set-pin", "--pin-fd", "0"],
                       input="".join(x + "\n" for x in lines).encode(), capture_output=True, env=wd.env, timeout=60)
    return r


def test_pin_asked_on_the_phone():
    """options.uv with a PIN set: the phone asks for it (--pin-fd, a pinentry program); a wrong one
    is asked again and counted; --yes with nothing to ask is refused. The same verification gives
    a pinUvAuthToken (getPinUvAuthTokenUsingUvWithPermissions, as Chromium asks for it)."""
    hybridgate = import_package()
    from fido2.client import ClientError, Fido2Client
    from fido2.server import Fido2Server
    from fido2.ctap2.pin import ClientPin

    def body(wd):
        server = Fido2Server(RP)
        store = wd.file("store.json")
        for short in ("ab", "ab\u00e4"):  # the second is 4 bytes but 3 characters
            r = set_pin_cli(wd, store, short)
            check(r.returncode != 0 and b"PIN_POLICY" in r.stderr, "PIN %r was accepted: %r" % (short, r.stderr))
        r = set_pin_cli(wd, store, PIN)
        check(r.returncode == 0, "--set-pin failed: %r" % r.stderr)
        check(PIN.encode() not in r.stdout + r.stderr, "the PIN was echoed")
        r = set_pin_cli(wd, store, "x-new-pin")
        check(r.returncode != 0, "--set-pin replaced a PIN without the current one")
        user = {"id": b"user-cy", "name": "cy@example.com", "displayName": "Cy"}
        with Session(hybridgate, wd, store, "--pin-fd", "0", name="fd", pins=["wrong-pin", PIN]) as s:
            client = Fido2Client(s.device, ORIGIN)  # uv true in getInfo: python-fido2 sends options.uv
            auth = make_credential(server, client, user, "required")
            check(auth.is_user_verified(), "PIN entered on the phone: no UV flag")
            check(ClientPin(s.ctap).get_pin_retries()[0] == 8, "the right PIN did not restore the retries")
        check("wrong-pin" not in s.stderr and PIN not in s.stderr, "a PIN reached the phone's log")
        known = [auth.credential_data]
        # What Chromium does with a phone whose getInfo says uv and pinUvAuthToken: a token from
        # the phone's built-in verification (getPinUvAuthTokenUsingUvWithPermissions: the PIN asked
        # on the phone), then a request with its pinUvAuthParam. getUVRetries reports the PIN's.
        from fido2.utils import sha256
        with Session(hybridgate, wd, store, "--pin-fd", "0", name="uvtoken", pins=["wrong-pin", PIN],
                     request="get") as s:
            cp = ClientPin(s.ctap)
            check(s.ctap.info.options.get("pinUvAuthToken") is True, "getInfo: %r" % s.ctap.info.options)
            check(cp.get_uv_retries()[0] == 8, "getUVRetries: %r" % (cp.get_uv_retries(),))
            tok = cp.get_uv_token(ClientPin.PERMISSION.GET_ASSERTION, "example.com")
            check(cp.get_uv_retries()[0] == 8, "the right PIN on the phone did not restore the retries")
            cdh = sha256(b"uv token client data")
            r = s.ctap.get_assertion("example.com", cdh, [{"type": "public-key", "id": known[0].credential_id}],
                                     pin_uv_param=cp.protocol.authenticate(tok, cdh), pin_uv_protocol=2)
            check(r.auth_data.is_user_verified(), "no UV flag with a token from the phone's own verification")
        check("wrong-pin" not in s.stderr and PIN not in s.stderr, "a PIN reached the phone's log")
        # Without a PIN on the phone, its built-in verification is not configured: NOT_ALLOWED.
        from fido2.ctap import CtapError
        with Session(hybridgate, wd, wd.file("store-nopin.json"), name="uvtoken-nopin", request="get") as s:
            expect_ctap(CtapError.ERR.NOT_ALLOWED,
                        lambda: ClientPin(s.ctap).get_uv_token(ClientPin.PERMISSION.GET_ASSERTION, "example.com"),
                        "a UV token from a phone without a PIN")
        # --yes with no way to ask: refused (presence is not verification).
        try:
            with Session(hybridgate, wd, store, name="nofd") as s:
                get_assertion(server, Fido2Client(s.device, ORIGIN), known, "required")
            raise TestFailure("uv required was answered with --yes and no PIN")
        except ClientError as e:
            check(e.code == ClientError.ERR.OTHER_ERROR or e.code == ClientError.ERR.BAD_REQUEST
                  or e.code == ClientError.ERR.DEVICE_INELIGIBLE, "--yes without a PIN source: %r" % e)
        # A pinentry program (Assuan): the description names the site; the PIN goes nowhere else.
        log = wd.file("pinentry.log")
        wd.env["FAKE_PINENTRY_LOG"] = log
        wd.env["FAKE_PINENTRY_PIN"] = PIN
        with Session(hybridgate, wd, store, "--pinentry", os.path.join(HERE, "fake_pinentry.py"), name="pe",
                     request="get") as s:
            ad = get_assertion(server, Fido2Client(s.device, ORIGIN), known, "required")
            check(ad.is_user_verified(), "PIN from pinentry: no UV flag")
        got = open(log).read()
        check("GETPIN" in got and "SETDESC" in got and "example.com" in got, "pinentry saw: %r" % got)
        check(PIN not in got, "the PIN was sent to pinentry")
        # pinentry declines: the request is refused, nothing counted.
        del wd.env["FAKE_PINENTRY_PIN"]
        try:
            with Session(hybridgate, wd, store, "--pinentry", os.path.join(HERE, "fake_pinentry.py"), name="pe-no",
                         request="get") as s:
                get_assertion(server, Fido2Client(s.device, ORIGIN), known, "required")
            raise TestFailure("a declined pinentry still verified")
        except ClientError:
            pass

    with_relay("pin-phone", body)


def hybridgate_phone(wd, *args, stdin_text=None):
    return subprocess.run([os.path.join(ARGS.bin, "hybridgate"), "phone", *args],
                          input=stdin_text.encode() if stdin_text is not None else None,
                          stdin=None if stdin_text is not None else subprocess.DEVNULL,
                          capture_output=True, env=wd.env, timeout=120)


def error_code(r):
    try:
        return json.loads(r.stdout)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def test_sealed_store():
    """Keys sealed at rest: `--seal` (the person's consent) migrates a plaintext store keeping every
    passkey (python-fido2 verifies signatures before and after); the file then holds no key, RP or
    user name; Python's own scrypt + AES-GCM (hashlib, cryptography) opens it with the passphrase
    and not without; a wrong passphrase is store.passphrase and changes nothing."""
    hybridgate = import_package()
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from fido2.client import Fido2Client
    from fido2.server import Fido2Server
    from fido2.utils import websafe_decode

    def body(wd):
        server = Fido2Server(RP)
        store = wd.file("store.json")
        known = []
        for n, rk in ((1, True), (2, False)):
            with Session(hybridgate, wd, store, name="reg%d" % n) as s:
                user = {"id": b"user-%d" % n, "name": "user%d@example.com" % n, "displayName": "User %d" % n}
                known.append(make_credential(server, Fido2Client(s.device, ORIGIN), user, "discouraged",
                                             rk=rk).credential_data)

        def sign_in_each(tag, *args, pins=None):
            for i, cred in enumerate(known):
                with Session(hybridgate, wd, store, *args, name="%s%d" % (tag, i), pins=pins, request="get") as s:
                    get_assertion(server, Fido2Client(s.device, ORIGIN), [cred], "discouraged")  # raises if bad

        sign_in_each("before")
        plain = json.load(open(store))
        keys = [websafe_decode(c["private_key"]) for c in plain["credentials"]]
        check(len(keys) == 2, "expected 2 credentials in the plaintext store")

        r = hybridgate_phone(wd, "--store", store, "--seal", "--passphrase-fd", "0", stdin_text="correct horse\n")
        check(r.returncode == 0, "--seal failed: %r" % r.stderr)
        check(json.loads(r.stdout) == {"sealed": True, "credentials": 2}, "--seal said %r" % r.stdout)
        check(oct(os.stat(store).st_mode & 0o777) == "0o600", "the sealed store is not 0600")
        raw = open(store, "rb").read()
        for k in keys:
            for form in (k, k.hex().encode(), base64.urlsafe_b64encode(k).rstrip(b"="), base64.b64encode(k)):
                check(form not in raw, "a private key is readable in the sealed file")
        for word in (b"example.com", b"user1@example.com", b"private_key", b"credentials"):
            check(word not in raw, "%r is readable in the sealed file" % word)

        # An independent opening: RFC 7914 scrypt (hashlib) and AES-256-GCM (cryptography).
        doc = json.loads(raw)
        h = doc["seal"]
        ad = ("hybridgate credential store v2 scrypt %s %d %d %d" % (h["salt"], h["log2_n"], h["r"], h["p"])).encode()

        def open_with(passphrase):
            key = hashlib.scrypt(passphrase, salt=websafe_decode(h["salt"]), n=2 ** h["log2_n"], r=h["r"], p=h["p"],
                                 maxmem=256 * 1024 * 1024, dklen=32)
            return AESGCM(key).decrypt(websafe_decode(doc["nonce"]), websafe_decode(doc["sealed"]), ad)

        check(h["log2_n"] >= 17 and h["r"] >= 8, "scrypt parameters too weak: %r" % h)
        inner = json.loads(open_with(b"correct horse"))
        check(sorted(websafe_decode(c["private_key"]) for c in inner["credentials"]) == sorted(keys),
              "the sealed keys are not the plaintext store's")
        try:
            open_with(b"correct horse!")
            raise TestFailure("another passphrase opened the sealed store")
        except InvalidTag:
            pass

        # A wrong passphrase, or none: a clear error, the file untouched.
        before = hashlib.sha256(raw).hexdigest()
        r = hybridgate_phone(wd, "--store", store, "--qr", "FIDO:/0", "--passphrase-fd", "0", stdin_text="wrong\n")
        check(r.returncode != 0 and error_code(r) == "store.passphrase", "wrong passphrase: %r %r" % (r.stdout, r.stderr))
        check(b"Nothing was changed" in r.stderr, "the error does not say nothing changed: %r" % r.stderr)
        r = hybridgate_phone(wd, "--store", store, "--qr", "FIDO:/0", "--passphrase-fd", "0", stdin_text="")
        check(error_code(r) == "store.sealed", "no passphrase: %r" % r.stdout)
        r = hybridgate_phone(wd, "--store", store, "--seal", "--passphrase-fd", "0", stdin_text="again\n")
        check(error_code(r) == "store.sealed", "sealing twice: %r" % r.stdout)
        check(hashlib.sha256(open(store, "rb").read()).hexdigest() == before, "a refused open changed the file")

        # Every passkey signs after the migration; a new one is sealed too.
        sign_in_each("after", "--passphrase-fd", "0", pins=["correct horse"])
        with Session(hybridgate, wd, store, "--passphrase-fd", "0", name="reg3", pins=["correct horse"]) as s:
            user = {"id": b"user-3", "name": "user3@example.com", "displayName": "User 3"}
            make_credential(server, Fido2Client(s.device, ORIGIN), user, "discouraged")
        raw = open(store, "rb").read()
        check(b"user3@example.com" not in raw and json.loads(raw)["version"] == 2, "a new passkey was written in the clear")
        doc = json.loads(raw)
        n = len(json.loads(open_with(b"correct horse"))["credentials"])
        check(n == 3, "the new passkey is not in the store (%d credentials)" % n)

    with_relay("pin-seal", body)


def test_pinentry_tty():
    """Debian's own pinentry-tty asks for the PIN on the phone's terminal (a pseudo-terminal here,
    answered like a person would: after the prompt appears): the UV flag; nothing echoed."""
    import pty
    import threading
    hybridgate = import_package()
    from fido2.client import Fido2Client
    from fido2.server import Fido2Server

    def body(wd):
        program = shutil.which("pinentry-tty")
        check(program is not None, "pinentry-tty is not installed (scripts/deps.sh installs it)")
        server = Fido2Server(RP)
        store = wd.file("store.json")
        check(set_pin_cli(wd, store, PIN).returncode == 0, "--set-pin failed")
        master, slave = pty.openpty()
        screen = []

        def person():
            text = b""
            answered = False
            while True:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    return
                if not data:
                    return
                screen.append(data)
                text += data
                if not answered and b"PIN:" in text:
                    os.write(master, (PIN + "\n").encode())
                    answered = True

        t = threading.Thread(target=person, daemon=True)
        t.start()
        user = {"id": b"user-tty", "name": "tty@example.com", "displayName": "Tty"}
        try:
            with Session(hybridgate, wd, store, "--pinentry", program, name="tty", stdin_fd=slave) as s:
                auth = make_credential(server, Fido2Client(s.device, ORIGIN), user, "required")
        finally:
            os.close(slave)
        check(auth.is_user_verified(), "PIN from pinentry-tty: no UV flag")
        shown = b"".join(screen)
        check(b"example.com" in shown, "pinentry-tty did not show the site: %r" % shown)
        check(PIN.encode() not in shown, "the PIN was echoed on the terminal")
        os.close(master)

    with_relay("pin-tty", body)


def without_asan_preload(env):
    """`env` without the ASan build's LD_PRELOAD (libasan, for the instrumented library the Python
    package loads), for swtpm and tpm2-tools: they are not our code, and tpm2_createprimary hangs
    under it."""
    return {k: v for k, v in env.items() if k != "LD_PRELOAD"}


class Swtpm:
    """A software TPM 2.0 of its own (Debian's swtpm), its state in a fresh folder: a TPM with a
    new owner seed, i.e. another machine's TPM. `tcti` is its tpm2-tss TCTI configuration."""

    def __init__(self, wd, name):
        import socket
        import time
        self.state = wd.file(name)
        os.mkdir(self.state, 0o700)
        self.proc = None
        for _ in range(5):  # a port taken between the probe and swtpm's bind: another pair
            port = free_port_pair()
            self.log = open(wd.file(name + ".log"), "wb")
            self.proc = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--server", "type=tcp,port=%d,bindaddr=127.0.0.1" % port,
                 "--ctrl", "type=tcp,port=%d,bindaddr=127.0.0.1" % (port + 1), "--tpmstate", "dir=" + self.state,
                 "--flags", "not-need-init,startup-clear"], stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=subprocess.STDOUT, env=without_asan_preload(os.environ))
            deadline = time.monotonic() + 20
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:  # polled with a bound: swtpm listens once its TPM is initialised and started
                    for p in (port, port + 1):
                        socket.create_connection(("127.0.0.1", p), timeout=2).close()
                    self.tcti = "swtpm:host=127.0.0.1,port=%d" % port
                    return
                except OSError:
                    time.sleep(0.02)
            self.stop()
        raise TestFailure("swtpm did not start: %s" % open(wd.file(name + ".log"), "rb").read().decode(errors="replace"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def free_port_pair():
    """A port P with P + 1 free too (swtpm's control channel), on the loopback address."""
    import socket
    for _ in range(100):
        a, b = socket.socket(), socket.socket()
        try:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
        finally:
            a.close()
            b.close()
    raise TestFailure("no two free neighbouring ports")


def tpm2_tools_unseal(wd, tcti, seal):
    """The store's key unsealed independently with tpm2-tools (tpm2_createprimary with the same SRK
    template, tpm2_load, tpm2_unseal), or None when tpm2-tools is not installed. swtpm has no
    resource manager: the transient objects are flushed after each tool."""
    from fido2.utils import websafe_decode
    if not shutil.which("tpm2_unseal"):
        return None
    d = wd.file("tpm2-tools")
    os.makedirs(d, exist_ok=True)
    for name in ("public", "private"):
        with open(os.path.join(d, name), "wb") as f:
            f.write(websafe_decode(seal[name]))
    env = without_asan_preload(dict(wd.env, TPM2TOOLS_TCTI=tcti))

    def tool(*argv):
        r = subprocess.run(argv, cwd=d, env=env, capture_output=True, timeout=60)
        check(r.returncode == 0, "%s failed: %r" % (argv[0], r.stderr))
        subprocess.run(["tpm2_flushcontext", "-t"], cwd=d, env=env, capture_output=True, timeout=60)

    tool("tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb", "-a",
         "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt", "-c", "primary.ctx")
    tool("tpm2_load", "-Q", "-C", "primary.ctx", "-u", "public", "-r", "private", "-c", "sealed.ctx")
    tool("tpm2_unseal", "-c", "sealed.ctx", "-o", "key.bin")
    with open(os.path.join(d, "key.bin"), "rb") as f:
        return f.read()


def test_tpm_sealed_store():
    """Keys sealed by a TPM 2.0 (swtpm, through tpm2-tss): `--seal --tpm` migrates a plaintext store
    keeping every passkey (python-fido2 verifies signatures before and after, with no passphrase);
    the file holds no key, RP or user name; tpm2-tools unseals the key independently and
    `cryptography`'s AES-GCM opens the contents with it; a copy of the file opened with another TPM
    (a fresh swtpm), or with no TPM, is store.sealed, and the file is unchanged."""
    hybridgate = import_package()
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from fido2.client import Fido2Client
    from fido2.server import Fido2Server
    from fido2.utils import websafe_decode

    def body(wd):
        tpm = Swtpm(wd, "tpm-here")
        other = None
        try:
            server = Fido2Server(RP)
            store = wd.file("store.json")
            known = []
            for n, rk in ((1, True), (2, False)):
                with Session(hybridgate, wd, store, name="reg%d" % n) as s:
                    user = {"id": b"user-%d" % n, "name": "user%d@example.com" % n, "displayName": "User %d" % n}
                    known.append(make_credential(server, Fido2Client(s.device, ORIGIN), user, "discouraged",
                                                 rk=rk).credential_data)

            def sign_in_each(tag, *args):
                for i, cred in enumerate(known):
                    with Session(hybridgate, wd, store, *args, name="%s%d" % (tag, i), request="get") as s:
                        get_assertion(server, Fido2Client(s.device, ORIGIN), [cred], "discouraged")  # raises if bad

            sign_in_each("before")
            keys = [websafe_decode(c["private_key"]) for c in json.load(open(store))["credentials"]]
            check(len(keys) == 2, "expected 2 credentials in the plaintext store")

            r = hybridgate_phone(wd, "--store", store, "--tpm", "--qr", "FIDO:/0")
            check(r.returncode != 0, "--tpm without --seal was accepted: %r" % r.stdout)
            r = hybridgate_phone(wd, "--store", store, "--seal", "--tpm", "--tpm-tcti", tpm.tcti)
            check(r.returncode == 0, "--seal --tpm failed: %r" % r.stderr)
            check(json.loads(r.stdout) == {"sealed": True, "seal": "tpm2", "credentials": 2},
                  "--seal --tpm said %r" % r.stdout)
            check(oct(os.stat(store).st_mode & 0o777) == "0o600", "the sealed store is not 0600")
            raw = open(store, "rb").read()
            for k in keys:
                for form in (k, k.hex().encode(), base64.urlsafe_b64encode(k).rstrip(b"="), base64.b64encode(k)):
                    check(form not in raw, "a private key is readable in the TPM-sealed file")
            for word in (b"example.com", b"user1@example.com", b"private_key", b"credentials"):
                check(word not in raw, "%r is readable in the TPM-sealed file" % word)
            doc = json.loads(raw)
            h = doc["seal"]
            check(doc["version"] == 2 and h["kdf"] == "tpm2" and set(h) == {"kdf", "public", "private"},
                  "unexpected seal header %r" % h)
            ad = ("hybridgate credential store v2 tpm2 %s %s" % (h["public"], h["private"])).encode()

            # An independent opening: tpm2-tools unseals the key, cryptography's AES-GCM the contents.
            key = tpm2_tools_unseal(wd, tpm.tcti, h)
            if key is None:
                print("tpm2-tools not installed: the independent unseal is skipped", file=sys.stderr)
            else:
                check(len(key) == 32, "the TPM-sealed key is %d bytes" % len(key))
                inner = json.loads(AESGCM(key).decrypt(websafe_decode(doc["nonce"]), websafe_decode(doc["sealed"]), ad))
                check(sorted(websafe_decode(c["private_key"]) for c in inner["credentials"]) == sorted(keys),
                      "the TPM-sealed keys are not the plaintext store's")

            # Every passkey signs after the migration, with no passphrase (nothing on standard input).
            sign_in_each("after", "--tpm-tcti", tpm.tcti)

            # A copy of the file elsewhere: another TPM, no TPM, a passphrase; never opened, never changed.
            copy = wd.file("copied-store.json")
            shutil.copyfile(store, copy)
            os.chmod(copy, 0o600)
            before = hashlib.sha256(open(store, "rb").read()).hexdigest()  # the sign-ins moved the counters
            other = Swtpm(wd, "tpm-elsewhere")
            for where, args, env in (("another TPM (--tpm-tcti)", ["--tpm-tcti", other.tcti], None),
                                     ("another TPM (TPM2TOOLS_TCTI)", [], {"TPM2TOOLS_TCTI": other.tcti}),
                                     ("no TPM", ["--tpm-tcti", "swtpm:host=127.0.0.1,port=%d" % free_port_pair()], None)):
                for f in (store, copy):
                    e = dict(wd.env, **env) if env else wd.env
                    r = subprocess.run([os.path.join(ARGS.bin, "hybridgate"), "phone", "--store", f, "--qr", "FIDO:/0",
                                        "--passphrase-fd", "0", *args], input=b"correct horse\n", capture_output=True,
                                       env=e, timeout=120)
                    check(r.returncode != 0 and error_code(r) == "store.sealed",
                          "%s opened %s: %r %r" % (where, f, r.stdout, r.stderr))
                    msg = json.loads(r.stdout)["error"]["message"]
                    want = "no TPM is reachable" if where == "no TPM" else "a TPM this machine does not have"
                    check(want in msg and "nothing was changed" in msg, "%s: unclear error %r" % (where, msg))
                    check(hashlib.sha256(open(f, "rb").read()).hexdigest() == before, "%s changed %s" % (where, f))
            r = hybridgate_phone(wd, "--store", store, "--seal", "--tpm", "--tpm-tcti", tpm.tcti)
            check(error_code(r) == "store.sealed", "sealing twice: %r" % r.stdout)
            r = hybridgate_phone(wd, "--store", store, "--seal", "--passphrase-fd", "0", stdin_text="pw\n")
            check(error_code(r) == "store.sealed", "a passphrase seal over a TPM seal: %r" % r.stdout)
            check(hashlib.sha256(open(store, "rb").read()).hexdigest() == before, "a refused open changed the file")

            # Nothing was lost: this TPM still opens it; a new passkey is sealed too.
            with Session(hybridgate, wd, store, "--tpm-tcti", tpm.tcti, name="reg3") as s:
                user = {"id": b"user-3", "name": "user3@example.com", "displayName": "User 3"}
                known.append(make_credential(server, Fido2Client(s.device, ORIGIN), user, "discouraged").credential_data)
            raw = open(store, "rb").read()
            check(b"user3@example.com" not in raw and json.loads(raw)["seal"]["kdf"] == "tpm2",
                  "a new passkey was written in the clear")
            sign_in_each("last", "--tpm-tcti", tpm.tcti)
        finally:
            tpm.stop()
            if other:
                other.stop()

    with_relay("pin-tpm", body)


TESTS = [test_no_pin_no_uv, test_client_pin_uv_lockout_restart, test_pin_asked_on_the_phone, test_pinentry_tty,
         test_sealed_store, test_tpm_sealed_store]

if __name__ == "__main__":
    run_selected(TESTS, ARGS.test)
