#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The phone as a security key, tested against independent host code with no kernel: libfido2's
own CTAPHID/CTAP2 host code (key_host_libfido2, linked with Debian's libfido2, in-process 64-byte
reports through fido_dev_set_io_functions) and python-fido2's CtapHidDevice over a custom
CtapHidConnection (key_pipe_device: the device core on a pipe). The phone is a real
`hybridgate phone` process on the loopback radio, through a real relay; the results are verified
by libfido2 (fido_cred_verify_self, fido_assert_verify) and python-fido2's Fido2Server.

usage: test_key.py BIN_DIR KEY_HOST_LIBFIDO2 KEY_PIPE_DEVICE TEST_NAME"""

import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from hgtest import Proc, Relay, Workdir, check, run_selected, wait_for  # noqa: E402

from fido2.client import ClientError, Fido2Client  # noqa: E402
from fido2.ctap import CtapError, STATUS  # noqa: E402
from fido2.ctap2 import Ctap2  # noqa: E402
from fido2.hid import CAPABILITY, CTAPHID, CtapHidDevice  # noqa: E402
from fido2.hid.base import HidDescriptor  # noqa: E402
from ctaphid_pipe import PipeConnection  # noqa: E402
from fido2.server import Fido2Server  # noqa: E402
from fido2.webauthn import PublicKeyCredentialRpEntity  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
HOST = os.path.abspath(sys.argv[2])
PIPE_DEVICE = os.path.abspath(sys.argv[3])
HG = os.path.join(BIN, "hybridgate")
AAGUID = bytes.fromhex("035b5059b9d840bda991dce4629e36b7")
ORIGIN = "https://example.org"


class Setup:
    def __init__(self, name):
        self.wd = Workdir("key-" + name)
        self.relay = Relay(BIN, self.wd)
        self.store = self.wd.file("phone-store.json")
        self.qr = self.wd.file("key.qr")
        env = self.wd.env
        for k in [k for k in env if k.startswith("HYBRIDGATE_")]:
            if k != "HYBRIDGATE_RADIO_DIR":
                del env[k]
        env.update({"HYBRIDGATE_TUNNEL_URL": self.relay.url, "HYBRIDGATE_RADIO": "loopback",
                    "HYBRIDGATE_QR_URL_FILE": self.qr, "XDG_CONFIG_HOME": self.wd.file("config"),
                    "XDG_DATA_HOME": self.wd.file("data")})
        self.procs = []

    def phone(self, *args, stdin=subprocess.DEVNULL, name="phone"):
        """Waits for the device's QR code, then lets a phone scan it."""
        wait_for(lambda: os.path.exists(self.qr), 60, "the key's QR URL file")
        p = Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", self.relay.url, "--qr-file", self.qr,
                  "--store", self.store, "--attestation", "packed", *args], self.wd, name, stdin=stdin)
        self.procs.append(p)
        return p

    def host(self, *args, name="host"):
        p = Proc([HOST, *args], self.wd, name)
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            p.kill()
        self.relay.stop()
        self.wd.cleanup()


# ---- libfido2 ------------------------------------------------------------------------------------

def test_libfido2_local():
    """getInfo, a silent probe and libfido2's touch request are answered with no phone and no QR."""
    s = Setup("lf-local")
    try:
        h = s.host("local")
        check(h.wait(60) == 0, "libfido2 checks failed:\n" + h.stderr())
        check(not os.path.exists(s.qr), "a QR code was shown")
    finally:
        s.stop()


def test_libfido2_register_and_sign_in():
    """makeCredential then getAssertion through the phone; libfido2 verifies both."""
    s = Setup("lf-reg")
    try:
        cred = s.wd.file("cred.hex")
        h = s.host("register", cred, name="register")
        ph = s.phone("--yes", name="phone-register")
        check(h.wait(180) == 0, "libfido2 register failed:\n" + h.stderr() + "\nphone:\n" + ph.stderr())
        check(ph.wait(60) == 0, "the phone failed:\n" + ph.stderr())
        check("keepalives: processing=" in h.stderr(), "keepalive counts missing")
        check(not os.path.exists(s.qr), "the QR URL file outlived the ceremony")
        h = s.host("sign-in", cred, name="sign-in")
        ph = s.phone("--yes", name="phone-sign-in")
        check(h.wait(180) == 0, "libfido2 sign-in failed:\n" + h.stderr() + "\nphone:\n" + ph.stderr())
        check(ph.wait(60) == 0, "the phone failed:\n" + ph.stderr())
        sys.stdout.write(h.stderr())
    finally:
        s.stop()


def test_libfido2_cancel():
    """fido_dev_cancel() while the person decides on the phone: libfido2 gets KEEPALIVE_CANCEL and
    the phone learns that the desktop went away."""
    s = Setup("lf-cancel")
    try:
        h = s.host("cancel")
        # No --yes: the phone asks its person on standard input, which nobody answers.
        ph = s.phone(stdin=subprocess.PIPE, name="phone-undecided")
        check(h.wait(180) == 0, "libfido2 cancel failed:\n" + h.stderr() + "\nphone:\n" + ph.stderr())
        check(ph.wait(60) != 0, "the phone reported success for a cancelled ceremony")
        sys.stdout.write(h.stderr())
    finally:
        s.stop()


def test_libfido2_no_phone_answers():
    """No phone scans the QR code, then a phone that never decides: each time the host gets
    CTAP2_ERR_USER_ACTION_TIMEOUT when the configured deadline passes (2 s here)."""
    s = Setup("lf-timeout")
    try:
        config = s.wd.file("config.toml")
        with open(config, "w") as f:
            f.write("advert_timeout = 2\nresponse_timeout = 2\n")
        s.wd.env["HYBRIDGATE_CONFIG"] = config
        h = s.host("timeout", name="no-phone")
        check(h.wait(60) == 0, "no phone:\n" + h.stderr())
        check("session.no_advert" in h.stderr(), "the log does not say that no phone answered:\n" + h.stderr())
        check(not os.path.exists(s.qr), "the QR URL file outlived the ceremony")
        h = s.host("timeout", name="undecided")
        ph = s.phone(stdin=subprocess.PIPE, name="phone-undecided")
        check(h.wait(60) == 0, "undecided phone:\n" + h.stderr() + "\nphone:\n" + ph.stderr())
        check("waiting_for_user" in h.stderr(), "the request never reached the phone:\n" + h.stderr())
        ph.kill()
        sys.stdout.write(h.stderr())
    finally:
        s.stop()


# ---- python-fido2 --------------------------------------------------------------------------------

class KeyPipe(PipeConnection):
    """python-fido2's HID connection to key_pipe_device; keeps what the host wrote."""

    def __init__(self, s):
        super().__init__([PIPE_DEVICE], s.wd.env, s.wd.file("pipe-device.err"))
        s.procs.append(self)
        self.written = []

    def on_write(self, data):
        check(len(data) == 64, "python-fido2 wrote %d bytes" % len(data))
        self.written.append(bytes(data))


def open_device(s):
    conn = KeyPipe(s)
    desc = HidDescriptor("hybridgate-pipe", 0, 0, 64, 64)
    return CtapHidDevice(desc, conn), conn


def new_server():
    return Fido2Server(PublicKeyCredentialRpEntity("example.org", "Example"))


def start_phone_when_qr(s, *args, **kw):
    """A thread that starts the phone once the QR code is shown (the client call blocks)."""
    box = {}

    def run():
        try:
            box["phone"] = s.phone(*args, **kw)
        except Exception as e:  # noqa: BLE001 - reported by the test
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def test_python_fido2_local():
    """INIT (nonce, channel, version 2, capabilities), PING, WINK and getInfo with no phone; a
    silent probe is answered NO_CREDENTIALS; no QR code."""
    s = Setup("py-local")
    try:
        dev, conn = open_device(s)
        check(dev.version == 2, "CTAPHID protocol version %r" % dev.version)
        caps = dev.capabilities
        check(caps & CAPABILITY.CBOR and caps & CAPABILITY.WINK and caps & CAPABILITY.NMSG,
              "capabilities 0x%02x" % caps)
        payload = bytes(range(256)) * 4
        check(dev.ping(payload) == payload, "PING of 1024 bytes did not echo")
        dev.wink()
        info = Ctap2(dev).get_info()
        check(info.versions == ["FIDO_2_0", "FIDO_2_1"], "versions %r" % info.versions)
        check(bytes(info.aaguid) == AAGUID, "aaguid %r" % info.aaguid)
        check(info.options.get("plat") is False and info.options.get("up") is True, "options %r" % info.options)
        check("clientPin" not in info.options, "a PIN is offered")
        check(info.max_msg_size == 7609, "maxMsgSize %r" % info.max_msg_size)
        check(info.extensions == [], "extensions %r" % info.extensions)
        # A silent probe (up = false) for an unknown credential.
        try:
            Ctap2(dev).get_assertion("example.org", b"\x01" * 32,
                                     [{"type": "public-key", "id": b"\x02" * 32}], options={"up": False})
            check(False, "the silent probe succeeded")
        except CtapError as e:
            check(e.code == CtapError.ERR.NO_CREDENTIALS, "silent probe: %r" % e)
        # CTAP1/U2F (CTAPHID_MSG) is not offered: INVALID_CMD.
        try:
            dev.call(CTAPHID.MSG, b"\x00\x03\x00\x00\x00")
            check(False, "CTAPHID_MSG was answered")
        except CtapError as e:
            check(e.code == CtapError.ERR.INVALID_COMMAND, "MSG: %r" % e)
        check(not os.path.exists(s.qr), "a QR code was shown")
        dev.close()
        check(conn.proc.wait(30) == 0, "the device helper failed")
    finally:
        s.stop()


def test_python_fido2_register_and_sign_in():
    """Fido2Client registers and signs in through the key and the phone; Fido2Server verifies."""
    s = Setup("py-reg")
    try:
        dev, conn = open_device(s)
        client = Fido2Client(dev, ORIGIN)
        server = new_server()
        options, state = server.register_begin({"id": b"alice-id", "name": "alice", "displayName": "Alice"},
                                               user_verification="discouraged")
        t, box = start_phone_when_qr(s, "--yes", name="phone-register")
        statuses = []
        result = client.make_credential(options["publicKey"], on_keepalive=statuses.append)
        t.join(60)
        check("phone" in box, "no phone was started: %r" % box.get("error"))
        check(box["phone"].wait(60) == 0, "the phone failed:\n" + box["phone"].stderr())
        auth_data = server.register_complete(state, result.client_data, result.attestation_object)
        check(auth_data.credential_data is not None, "no credential")
        check(STATUS.PROCESSING in statuses, "no PROCESSING keepalive: %r" % statuses)
        print("register keepalives:", [str(x) for x in statuses])

        check(not os.path.exists(s.qr), "the QR URL file outlived the ceremony")
        options, state = server.authenticate_begin([auth_data.credential_data], user_verification="discouraged")
        t, box = start_phone_when_qr(s, "--yes", name="phone-sign-in")
        statuses = []
        result = client.get_assertion(options["publicKey"], on_keepalive=statuses.append)
        t.join(60)
        check("phone" in box, "no phone was started: %r" % box.get("error"))
        check(box["phone"].wait(60) == 0, "the phone failed:\n" + box["phone"].stderr())
        r = result.get_response(0)
        server.authenticate_complete(state, [auth_data.credential_data], r.credential_id, r.client_data,
                                     r.authenticator_data, r.signature)
        check(r.credential_id == auth_data.credential_data.credential_id, "another credential signed")
        check(STATUS.PROCESSING in statuses, "no PROCESSING keepalive: %r" % statuses)
        print("sign-in keepalives:", [str(x) for x in statuses])
        dev.close()
        check(conn.proc.wait(30) == 0, "the device helper failed")
    finally:
        s.stop()


def run_until_upneeded(s, act):
    """Starts a registration with an undecided phone; calls act(dev, conn, event) once the key
    says UPNEEDED; returns (exception raised by the client call, the phone)."""
    dev, conn = open_device(s)
    client = Fido2Client(dev, ORIGIN)
    server = new_server()
    options, _ = server.register_begin({"id": b"bob-id", "name": "bob", "displayName": "Bob"},
                                       user_verification="discouraged")
    t, box = start_phone_when_qr(s, stdin=subprocess.PIPE, name="phone-undecided")
    event = threading.Event()
    upneeded = threading.Event()
    out = {}

    def on_keepalive(status):
        if status == STATUS.UPNEEDED:
            upneeded.set()

    def call():
        try:
            out["result"] = client.make_credential(options["publicKey"], event=event, on_keepalive=on_keepalive)
        except Exception as e:  # noqa: BLE001 - examined by the test
            out["error"] = e
    c = threading.Thread(target=call, daemon=True)
    c.start()
    check(upneeded.wait(120), "no UPNEEDED keepalive while the person decides on the phone")
    act(dev, conn, event)
    c.join(60)
    check(not c.is_alive(), "the client call did not end")
    t.join(60)
    check("phone" in box, "no phone was started: %r" % box.get("error"))
    return out, box["phone"], conn


def test_python_fido2_cancel():
    """The client's cancel (CTAPHID_CANCEL) while the phone waits: KEEPALIVE_CANCEL, phone told."""
    s = Setup("py-cancel")
    try:
        out, ph, conn = run_until_upneeded(s, lambda dev, conn, event: event.set())
        e = out.get("error")
        check(isinstance(e, ClientError) and isinstance(e.cause, CtapError)
              and e.cause.code == CtapError.ERR.KEEPALIVE_CANCEL, "the cancelled call ended with %r" % out)
        check(any(p[4] == 0x80 | CTAPHID.CANCEL for p in conn.written), "python-fido2 sent no CANCEL")
        check(ph.wait(60) != 0, "the phone reported success for a cancelled ceremony")
    finally:
        s.stop()


def test_python_fido2_host_gone():
    """The host closes the device mid-ceremony: the ceremony ends and the phone learns it."""
    s = Setup("py-gone")
    try:
        def close(dev, conn, event):
            conn.close()
            check(conn.proc.wait(60) == 0, "the device helper did not end after its host went away")
        out, ph, conn = run_until_upneeded(s, close)
        check("result" not in out, "a credential came back after the host went away")
        check(ph.wait(60) != 0, "the phone reported success for an abandoned ceremony")
        with open(s.wd.file("pipe-device.err")) as f:
            log = f.read()
        check("the host went away" in log, "helper log:\n" + log)
    finally:
        s.stop()


# ---- the /dev/uhid events (no kernel here: the layout of include/uapi/linux/uhid.h by hand) -------

UHID_DESTROY, UHID_OUTPUT, UHID_CREATE2, UHID_INPUT2 = 1, 6, 11, 12
UHID_OUTPUT_REPORT = 1
BUS_USB = 0x03


def codec(mode, data=b""):
    r = subprocess.run([PIPE_DEVICE, mode], input=data, capture_output=True, timeout=30)
    check(r.returncode == 0, "%s failed: %r" % (mode, r.stderr))
    return r.stdout


def test_uhid_events():
    """UHID_CREATE2 names a FIDO device python-fido2's own descriptor parser accepts (usage page
    0xF1D0, 64-byte reports), no one else's vendor/product ID; UHID_INPUT2 carries a report;
    UHID_OUTPUT as hidraw delivers it (report ID 0 first) gives back the host's 64 bytes."""
    import struct
    from fido2.hid.base import parse_report_descriptor
    ev = codec("--uhid-create2")
    # type (4) + struct uhid_create2_req (4372); the whole struct uhid_event is 4380 (8-aligned union)
    check(len(ev) >= 4376, "UHID_CREATE2 event of %d bytes" % len(ev))
    (etype,) = struct.unpack_from("<I", ev, 0)
    name, phys, uniq = (ev[4:132].split(b"\0")[0], ev[132:196].split(b"\0")[0], ev[196:260].split(b"\0")[0])
    rd_size, bus, vendor, product, version, country = struct.unpack_from("<HHIIII", ev, 260)
    check(etype == UHID_CREATE2, "event type %d" % etype)
    check(b"hybridgate" in name, "name %r" % name)
    check(bus == BUS_USB and vendor == 0 and product == 0, "bus/vendor/product %r" % ((bus, vendor, product),))
    check(parse_report_descriptor(ev[280:280 + rd_size]) == (64, 64),
          "python-fido2 does not read a 64/64-byte FIDO device from the descriptor")
    report = bytes(range(64))
    ev = codec("--uhid-input2", report)
    (etype, size) = struct.unpack_from("<IH", ev, 0)
    check(etype == UHID_INPUT2 and size == 64 and ev[6:70] == report, "UHID_INPUT2 %r" % ev[:8])
    for data in (b"\0" + report, report):  # as hidraw passes it (report ID 0 first), and without
        out = struct.pack("<I", UHID_OUTPUT) + data.ljust(4096, b"\0") + struct.pack("<HB", len(data), UHID_OUTPUT_REPORT)
        out = out.ljust(4380, b"\0")
        check(codec("--uhid-parse", out) == report, "UHID_OUTPUT of %d bytes not read back" % len(data))
    out = struct.pack("<I", UHID_OUTPUT) + (b"\0" * 4096) + struct.pack("<HB", 10, UHID_OUTPUT_REPORT)
    check(codec("--uhid-parse", out.ljust(4380, b"\0")) == b"", "a 10-byte output became a report")


def test_user_unit():
    """deploy/key/hybridgate-key.service passes `systemd-analyze verify --user` (ExecStart pointed
    at the built hybridgate) with no warning, and runs `hybridgate key`."""
    import tempfile
    root = os.path.dirname(os.path.dirname(HERE))
    with open(os.path.join(root, "deploy", "key", "hybridgate-key.service")) as f:
        unit = f.read()
    check("ExecStart=/usr/local/bin/hybridgate key " in unit, "ExecStart does not run `hybridgate key`")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "hybridgate-key.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/local/bin/hybridgate", HG))
        rt = os.path.join(d, "run")
        os.mkdir(rt, 0o700)
        env = dict(os.environ, XDG_RUNTIME_DIR=rt)
        r = subprocess.run(["systemd-analyze", "verify", "--user", path], capture_output=True, text=True, env=env,
                           timeout=60)
        check(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
              "systemd-analyze verify: rc %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    r = subprocess.run([HG, "key", "--help"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "--no-terminal-qr" in r.stdout, "hybridgate key --help:\n" + r.stdout + r.stderr)


if __name__ == "__main__":
    run_selected([test_libfido2_local, test_libfido2_register_and_sign_in, test_libfido2_cancel,
                  test_libfido2_no_phone_answers,
                  test_python_fido2_local, test_python_fido2_register_and_sign_in, test_python_fido2_cancel,
                  test_python_fido2_host_gone, test_uhid_events, test_user_unit], sys.argv[4] if len(sys.argv) > 4 else None)
