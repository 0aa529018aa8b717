#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The security key's window (tools/key-window) under Xvfb, driven through the device core
(key_window_device: the KeyDevice and the daemon's WindowGlue on a pipe) by python-fido2's
CtapHidDevice, with a real `hybridgate phone` on the loopback radio through a real relay. The QR
code the phone scans is read from a screenshot of the window with zbarimg (no QR URL file), the
window is found, photographed and typed into with xdotool, xwininfo and ImageMagick's import.
Results are verified by python-fido2's Fido2Server.

The session-bus interface (org.hybridgate.Key1, bridges/key/bus.hpp) runs on a private
dbus-daemon: python3-dbus as an independent client, `hybridgate register --no-terminal-qr`, and
OpenSSH's ssh-keygen with our provider and no terminal.

usage: test_window.py BIN_DIR KEY_WINDOW_DEVICE WINDOW_PROGRAM SHOT_DIR DOC_SHOT_DIR|"" SK_PROVIDER TEST_NAME"""

import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from hgtest import Proc, Relay, Workdir, check, run_selected, wait_for  # noqa: E402

from fido2.client import ClientError, Fido2Client  # noqa: E402
from fido2.ctap import CtapError  # noqa: E402
from fido2.hid import CTAPHID, CtapHidDevice  # noqa: E402
from fido2.hid.base import HidDescriptor  # noqa: E402
from ctaphid_pipe import PipeConnection  # noqa: E402
from fido2.server import Fido2Server  # noqa: E402
from fido2.webauthn import PublicKeyCredentialRpEntity  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
DEVICE = os.path.abspath(sys.argv[2])
WINDOW = os.path.abspath(sys.argv[3])
SHOTS = os.path.abspath(sys.argv[4])
DOC_SHOTS = sys.argv[5]
SK_PROVIDER = os.path.abspath(sys.argv[6])
HG = os.path.join(BIN, "hybridgate")
ORIGIN = "https://example.org"
TITLE = "^hybridgate security key"
# The screenshots docs/security-key.md shows (copied to DOC_SHOTS when given).
DOC_NAMES = {"key-window-registration.png", "key-window-sign-in.png", "key-window-remembered-phone.png",
             "key-window-error.png"}


class Xvfb:
    """A private X server; its display number comes back on a pipe (-displayfd), no waiting."""

    def __init__(self):
        r, w = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                                     pass_fds=(w,), stderr=subprocess.DEVNULL)
        os.close(w)
        data = b""
        with os.fdopen(r, "rb") as f:
            while not data.endswith(b"\n"):
                chunk = f.read(1)
                if not chunk:
                    break
                data += chunk
        check(data.strip().isdigit(), "Xvfb gave no display number")
        self.display = ":" + data.decode().strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Setup:
    def __init__(self, name, config=""):
        self.wd = Workdir("keywin-" + name)
        self.x = Xvfb()
        self.relay = Relay(BIN, self.wd)
        self.store = self.wd.file("phone-store.json")
        env = self.wd.env
        for k in [k for k in env if k.startswith("HYBRIDGATE_")]:
            if k != "HYBRIDGATE_RADIO_DIR":
                del env[k]
        env.pop("WAYLAND_DISPLAY", None)
        # A session bus of our own, as a desktop session has one (GTK's accessibility uses it;
        # without one GTK would autolaunch a bus through X11).
        self.bus = PrivateBus()
        env["DBUS_SESSION_BUS_ADDRESS"] = self.bus.address
        self.config = self.wd.file("config.toml")
        with open(self.config, "w") as f:
            f.write(config)
        # No QR URL file: the only way to the QR code is the window.
        env.update({"HYBRIDGATE_TUNNEL_URL": self.relay.url, "HYBRIDGATE_RADIO": "loopback",
                    "HYBRIDGATE_CONFIG": self.config, "XDG_CONFIG_HOME": self.wd.file("config"),
                    "XDG_DATA_HOME": self.wd.file("data"), "DISPLAY": self.x.display,
                    "XDG_RUNTIME_DIR": self.wd.file("run")})
        os.makedirs(self.wd.file("run"), mode=0o700)
        self.procs = []
        self.log_path = self.wd.file("device.err")

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def x_run(self, *argv):
        return subprocess.run(list(argv), env=self.wd.env, capture_output=True, text=True, timeout=30)

    def wait_shown(self, count):
        wait_for(lambda: self.log().count("the window is shown") >= count, 60, "the window")
        r = self.x_run("xdotool", "search", "--name", TITLE)
        ids = r.stdout.split()
        check(len(ids) == 1, "windows named like ours: %r\n%s" % (ids, self.log()))
        return ids[0]

    def title(self, wid):
        return self.x_run("xdotool", "getwindowname", wid).stdout.strip()

    def exists(self, wid):
        return self.x_run("xwininfo", "-id", wid).returncode == 0

    def screenshot(self, wid, name):
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, name)
        r = self.x_run("import", "-window", wid, path)
        check(r.returncode == 0 and os.path.exists(path), "import failed: " + r.stderr)
        if DOC_SHOTS and name in DOC_NAMES:
            shutil.copyfile(path, os.path.join(DOC_SHOTS, name))
        print("screenshot:", path)
        return path

    def qr_from(self, path):
        r = subprocess.run(["zbarimg", "--quiet", "--raw", path], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "zbarimg read no QR code in %s: %s" % (path, r.stderr))
        url = r.stdout.strip()
        check(url.startswith("FIDO:/"), "the QR code holds %r" % url[:12])
        return url

    def phone(self, url, *args, stdin=subprocess.DEVNULL, name="phone"):
        qr = self.wd.file(name + ".qr")
        with open(qr, "w") as f:
            f.write(url)
        p = Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", self.relay.url, "--qr-file", qr,
                  "--store", self.store, *args], self.wd, name, stdin=stdin)
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            p.kill()
        self.relay.stop()
        self.x.stop()
        self.bus.stop()
        self.wd.cleanup()


class PrivateBus:
    """A session dbus-daemon of our own (its address comes back on stdout, no waiting)."""

    def __init__(self):
        self.proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        check(self.address.startswith("unix:"), "dbus-daemon address: %r" % self.address)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def with_bus(s):
    """Starts a private session bus and the device with --bus; returns (bus, device connection)."""
    bus = s.bus
    conn = WindowPipe(s, "--bus")
    wait_for(lambda: "serving org.hybridgate.Key1" in s.log() or conn.proc.poll() is not None, 30, "the bus name")
    check(conn.proc.poll() is None, "the device did not serve the bus:\n" + s.log())
    return bus, conn


def bus_window(s, count):
    wait_for(lambda: s.log().count("the bus window is shown") >= count, 60, "the bus window")
    ids = s.x_run("xdotool", "search", "--name", TITLE).stdout.split()
    check(len(ids) == 1, "windows named like ours: %r" % ids)
    return ids[0]


class WindowPipe(PipeConnection):
    """python-fido2's HID connection to key_window_device; notes when it writes a CTAPHID_CANCEL."""

    def __init__(self, s, *extra):
        super().__init__([DEVICE, WINDOW, *extra], s.wd.env, s.log_path)
        s.procs.append(self)
        self.cancel_sent = None

    def on_write(self, data):
        if data[4] == 0x80 | CTAPHID.CANCEL and self.cancel_sent is None:
            self.cancel_sent = time.monotonic()


def open_client(s):
    conn = WindowPipe(s)
    dev = CtapHidDevice(HidDescriptor("hybridgate-pipe", 0, 0, 64, 64), conn)
    return Fido2Client(dev, ORIGIN), conn


def server():
    return Fido2Server(PublicKeyCredentialRpEntity("example.org", "Example"))


def in_thread(fn, *args, **kw):
    out = {}

    def run():
        try:
            out["result"] = fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 - examined by the test
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def ctap_code(out):
    e = out.get("error")
    return e.cause.code if isinstance(e, ClientError) and isinstance(e.cause, CtapError) else None


def register(s, client, srv, shot, *phone_args, user="alice"):
    options, state = srv.register_begin({"id": user.encode() + b"-id", "name": user, "displayName": user.title()},
                                        user_verification="discouraged")
    t, out = in_thread(client.make_credential, options["publicKey"])
    shown = s.log().count("the window is shown") + 1
    wid = s.wait_shown(shown)
    check("example.org" in s.title(wid), "the window's title %r does not name the site" % s.title(wid))
    url = s.qr_from(s.screenshot(wid, shot))
    ph = s.phone(url, "--yes", *phone_args, name="phone-" + shot)
    t.join(120)
    check("result" in out, "the registration failed: %r\n%s\nphone:\n%s" % (out, s.log(), ph.stderr()))
    check(ph.wait(60) == 0, "the phone failed:\n" + ph.stderr())
    auth = srv.register_complete(state, out["result"].client_data, out["result"].attestation_object)
    wait_for(lambda: not s.exists(wid), 10, "the window to close after the answer")
    return auth


def test_register_and_sign_in_from_screenshot():
    """Registration and sign-in: the window names the site (and the account), its QR code read
    from a screenshot by zbarimg is what the phone scans; Fido2Server verifies both; the window
    closes when the request ends."""
    s = Setup("reg")
    try:
        client, conn = open_client(s)
        srv = server()
        auth = register(s, client, srv, "key-window-registration.png")
        check(not os.path.exists(os.path.join(s.wd.env["XDG_RUNTIME_DIR"], "hybridgate-key-qr-url")),
              "a QR URL file was written")
        options, state = srv.authenticate_begin([auth.credential_data], user_verification="discouraged")
        t, out = in_thread(client.get_assertion, options["publicKey"])
        wid = s.wait_shown(2)
        check(s.title(wid).endswith("Sign in — example.org"), "sign-in window title %r" % s.title(wid))
        url = s.qr_from(s.screenshot(wid, "key-window-sign-in.png"))
        ph = s.phone(url, "--yes", name="phone-sign-in")
        t.join(120)
        check("result" in out, "the sign-in failed: %r\n%s" % (out, s.log()))
        check(ph.wait(60) == 0, "the phone failed:\n" + ph.stderr())
        r = out["result"].get_response(0)
        srv.authenticate_complete(state, [auth.credential_data], r.credential_id, r.client_data,
                                  r.authenticator_data, r.signature)
        wait_for(lambda: not s.exists(wid), 10, "the window to close after the answer")
        conn.close()
        check(conn.proc.wait(30) == 0, "the device failed:\n" + s.log())
    finally:
        s.stop()


def test_host_cancel_closes_window():
    """The host's CTAPHID_CANCEL while the window shows the QR code: the host gets
    KEEPALIVE_CANCEL and the window is gone (xwininfo no longer finds it); the time from the
    CANCEL packet to that is printed (the figure is key-window-bench's; not asserted)."""
    s = Setup("cancel")
    try:
        client, conn = open_client(s)
        options, _ = server().register_begin({"id": b"bob-id", "name": "bob", "displayName": "Bob"},
                                             user_verification="discouraged")
        event = threading.Event()
        t, out = in_thread(client.make_credential, options["publicKey"], event=event)
        wid = s.wait_shown(1)
        event.set()
        wait_for(lambda: conn.cancel_sent is not None, 10, "python-fido2's CANCEL")
        while s.exists(wid) and time.monotonic() - conn.cancel_sent < 10:
            pass  # xwininfo per pass: a few ms each
        gone = time.monotonic()
        check(not s.exists(wid), "the window is still there 10 s after the host's CANCEL")
        print("host CANCEL -> window gone: %.0f ms (xwininfo polling; ±5 ms)" % ((gone - conn.cancel_sent) * 1000))
        t.join(60)
        check(ctap_code(out) == CtapError.ERR.KEEPALIVE_CANCEL, "the cancelled call ended with %r" % out)
    finally:
        s.stop()


def test_escape_declines():
    """Escape in the window (keyboard focus on it, as a person would have it) is the Cancel
    button: the host gets CTAP2_ERR_OPERATION_DENIED and the window closes."""
    s = Setup("escape")
    try:
        client, conn = open_client(s)
        options, _ = server().register_begin({"id": b"carol-id", "name": "carol", "displayName": "Carol"},
                                             user_verification="discouraged")
        t, out = in_thread(client.make_credential, options["publicKey"])
        wid = s.wait_shown(1)
        r = s.x_run("xdotool", "windowfocus", "--sync", wid, "key", "Escape")
        check(r.returncode == 0, "xdotool: " + r.stderr)
        t.join(60)
        check(ctap_code(out) == CtapError.ERR.OPERATION_DENIED, "Escape ended the call with %r\n%s" % (out, s.log()))
        check("the person declined the request in the window" in s.log(), s.log())
        wait_for(lambda: not s.exists(wid), 10, "the window to close")
    finally:
        s.stop()


def test_remembered_phone_picked_in_window():
    """A phone linked at registration is listed in the next window with the keyboard focus on
    it; Return picks it: the QR code is dropped, the phone is woken through the relay (no QR
    code), and the sign-in verifies."""
    s = Setup("remembered", config="link_phone = true\n")
    try:
        client, conn = open_client(s)
        srv = server()
        auth = register(s, client, srv, "key-window-registration-linking.png", "--link", "--phone-name", "Test Phone")
        listener = Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", s.relay.url, "--store", s.store,
                         "--yes", "--listen", "--once"], s.wd, "listener")
        s.procs.append(listener)
        wait_for(lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None, 20, "the listener")
        check(listener.proc.poll() is None, "the listener exited:\n" + listener.stderr())
        options, state = srv.authenticate_begin([auth.credential_data], user_verification="discouraged")
        t, out = in_thread(client.get_assertion, options["publicKey"])
        wid = s.wait_shown(2)
        s.screenshot(wid, "key-window-remembered-phone.png")
        r = s.x_run("xdotool", "windowfocus", "--sync", wid, "key", "Return")
        check(r.returncode == 0, "xdotool: " + r.stderr)
        t.join(120)
        check("result" in out, "the sign-in failed: %r\n%s\nlistener:\n%s" % (out, s.log(), listener.stderr()))
        check("the person chose the remembered phone 'Test Phone'" in s.log(), s.log())
        check(listener.wait(60) == 0, "the listener failed:\n" + listener.stderr())
        res = out["result"].get_response(0)
        srv.authenticate_complete(state, [auth.credential_data], res.credential_id, res.client_data,
                                  res.authenticator_data, res.signature)
    finally:
        s.stop()


def test_phone_never_answers_closes_window():
    """No phone answers (2 s advert deadline): the host gets USER_ACTION_TIMEOUT within it and the
    window closes with it (the host shows its own error; nothing is left for the person to close)."""
    s = Setup("timeout", config="advert_timeout = 2\n")
    try:
        client, conn = open_client(s)
        options, _ = server().register_begin({"id": b"erin-id", "name": "erin", "displayName": "Erin"},
                                             user_verification="discouraged")
        t, out = in_thread(client.make_credential, options["publicKey"])
        wid = s.wait_shown(1)
        t.join(60)
        check(ctap_code(out) == CtapError.ERR.USER_ACTION_TIMEOUT, "the call ended with %r" % out)
        wait_for(lambda: not s.exists(wid), 10, "the window to close when no phone answered")
        check("the window shows the failure" not in s.log(), "a timeout was shown as a failure")
    finally:
        s.stop()


def test_failure_is_shown():
    """The radio cannot be used (BlueZ asked for, no system bus): the host gets an error at once,
    the window stays and says why the request failed, and Escape closes it."""
    s = Setup("failure")
    s.wd.env["HYBRIDGATE_RADIO"] = "bluez"
    s.wd.env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/hybridgate/system_bus"
    try:
        client, conn = open_client(s)
        options, _ = server().register_begin({"id": b"dave-id", "name": "dave", "displayName": "Dave"},
                                             user_verification="discouraged")
        t, out = in_thread(client.make_credential, options["publicKey"])
        t.join(60)
        check(ctap_code(out) is not None and ctap_code(out) != CtapError.ERR.USER_ACTION_TIMEOUT,
              "the call ended with %r" % out)
        wait_for(lambda: "the window shows the failure" in s.log(), 20, "the window to show the failure")
        r = s.x_run("xdotool", "search", "--name", TITLE)
        ids = r.stdout.split()
        check(len(ids) == 1, "windows named like ours: %r\n%s" % (ids, s.log()))
        wid = ids[0]
        check(s.title(wid).endswith("the request failed"), "the window's title is %r" % s.title(wid))
        s.screenshot(wid, "key-window-error.png")
        r = s.x_run("xdotool", "windowfocus", "--sync", wid, "key", "Escape")
        check(r.returncode == 0, "xdotool: " + r.stderr)
        wait_for(lambda: not s.exists(wid), 10, "Escape to close the failed request's window")
    finally:
        s.stop()


def test_bus_show_qr_cancel_and_close():
    """org.hybridgate.Key1 with python3-dbus as the client: ShowQr opens the window with the site
    and the QR code (zbarimg reads back the URL given); a URL that is not FIDO:/ is refused with
    InvalidArgs; Escape emits Cancelled(handle); Close(handle) closes the window."""
    import dbus
    from dbus.mainloop.glib import DBusGMainLoop
    from gi.repository import GLib
    s = Setup("bus")
    try:
        bus, _ = with_bus(s)
        DBusGMainLoop(set_as_default=True)
        conn = dbus.bus.BusConnection(bus.address)
        key = dbus.Interface(conn.get_object("org.hybridgate.Key1", "/org/hybridgate/Key1"), "org.hybridgate.Key1")
        cancelled = []
        loop = GLib.MainLoop()
        conn.add_signal_receiver(lambda h: (cancelled.append(int(h)), loop.quit()), "Cancelled", "org.hybridgate.Key1")
        try:
            key.ShowQr("example.org", "alice", "https://example.org/not-a-fido-url")
            check(False, "a non-FIDO URL was accepted")
        except dbus.DBusException as e:
            check(e.get_dbus_name() == "org.hybridgate.Key1.Error.InvalidArgs", "refusal: %s" % e.get_dbus_name())
        url = "FIDO:/" + "1234567890" * 8
        handle = int(key.ShowQr("example.org", "alice", url))
        wid = bus_window(s, 1)
        check("Create a passkey" in s.title(wid) and "example.org" in s.title(wid), "title %r" % s.title(wid))
        check(s.qr_from(s.screenshot(wid, "key-window-bus.png")) == url, "the window shows another QR code")
        r = s.x_run("xdotool", "windowfocus", "--sync", wid, "key", "Escape")
        check(r.returncode == 0, "xdotool: " + r.stderr)
        GLib.timeout_add_seconds(20, loop.quit)  # the bound of the wait, not a synchronisation
        loop.run()
        check(cancelled == [handle], "Cancelled signals %r for handle %d" % (cancelled, handle))
        key.Close(dbus.UInt32(handle))
        wait_for(lambda: not s.exists(wid), 10, "Close to close the window")
        key.Close(dbus.UInt32(handle))  # again: no error
        conn.close()
    finally:
        s.stop()


def test_register_no_terminal_qr_in_window():
    """`hybridgate register --no-terminal-qr` with the key daemon on the session bus: its QR code
    is shown in the key's window (read back from a screenshot by zbarimg, scanned by the phone);
    the registration succeeds and the window closes."""
    s = Setup("cli")
    try:
        with_bus(s)
        reg = Proc([HG, "register", "--rp-id", "example.org", "--user-name", "erin", "--origin", ORIGIN,
                    "--no-terminal-qr", "--advert-timeout", "60"], s.wd, "register")
        s.procs.append(reg)
        wait_for(lambda: "the bus window is shown" in s.log() or reg.proc.poll() is not None, 60, "the window")
        check(reg.proc.poll() is None, "register ended before the window:\n" + reg.stderr())
        wid = bus_window(s, 1)
        check("Create a passkey" in s.title(wid) and "example.org" in s.title(wid), "title %r" % s.title(wid))
        ph = s.phone(s.qr_from(s.screenshot(wid, "key-window-register-cli.png")), "--yes", name="phone-cli")
        check(reg.wait(120) == 0, "register failed:\n" + reg.stderr())
        check(ph.wait(60) == 0, "the phone failed:\n" + ph.stderr())
        check(reg.json().get("type") == "public-key", "register printed %r" % reg.stdout()[:200])
        check("shown in the security key's window" in reg.stderr(), reg.stderr())
        wait_for(lambda: not s.exists(wid), 10, "the window to close")
    finally:
        s.stop()


def test_ssh_provider_without_terminal_uses_window():
    """ssh-keygen -t ecdsa-sk with our provider, no controlling terminal and no QR URL file (as
    under ssh-agent): the QR code appears in the key's window, the phone scans it from a
    screenshot, ssh-keygen writes the key."""
    s = Setup("ssh")
    try:
        with_bus(s)
        key = s.wd.file("id_ecdsa_sk")
        askpass = s.wd.file("askpass.sh")
        with open(askpass, "w") as f:
            f.write("#!/bin/sh\necho\n")
        os.chmod(askpass, 0o700)
        env = dict(s.wd.env, HOME=s.wd.path, SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force")
        env.pop("SSH_AUTH_SOCK", None)
        env.pop("HG_SSH_PRELOAD", None)
        if os.environ.get("HG_SSH_PRELOAD"):  # the ASan build: ssh-keygen loads an instrumented provider
            env.update(LD_PRELOAD=os.environ["HG_SSH_PRELOAD"], ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
        out, err = open(s.wd.file("keygen.out"), "w"), open(s.wd.file("keygen.err"), "w")
        kg = subprocess.Popen(["ssh-keygen", "-q", "-t", "ecdsa-sk", "-w", SK_PROVIDER, "-N", "", "-f", key],
                              stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True)
        try:
            wait_for(lambda: "the bus window is shown" in s.log() or kg.poll() is not None, 60, "the window")
            check(kg.poll() is None, "ssh-keygen ended before the window:\n" + open(s.wd.file("keygen.err")).read())
            wid = bus_window(s, 1)
            check("ssh:" in s.title(wid), "title %r" % s.title(wid))
            ph = s.phone(s.qr_from(s.screenshot(wid, "key-window-ssh.png")), "--yes", name="phone-ssh")
            check(kg.wait(120) == 0, "ssh-keygen failed:\n" + open(s.wd.file("keygen.err")).read())
            check(ph.wait(60) == 0, "the phone failed:\n" + ph.stderr())
        finally:
            if kg.poll() is None:
                kg.kill()
            out.close()
            err.close()
        pub = open(key + ".pub").read()
        check(pub.startswith("sk-ecdsa-sha2-nistp256@openssh.com "), "public key %r" % pub[:60])
        wait_for(lambda: not s.exists(wid), 10, "the window to close")
    finally:
        s.stop()


def daemon(s, name):
    """`hybridgate key` itself, on a FIFO instead of /dev/uhid (none here): it writes its
    UHID_CREATE2 event into the FIFO and waits for events, which never come."""
    fifo = s.wd.file("uhid-" + name)
    os.mkfifo(fifo)
    p = Proc([HG, "key", "--uhid", fifo, "--window-program", WINDOW], s.wd, name)
    s.procs.append(p)
    wait_for(lambda: "serving the security key" in p.stderr() or p.proc.poll() is not None, 30, "hybridgate key")
    check(p.proc.poll() is None, "hybridgate key exited:\n" + p.stderr())
    return p


def test_daemon_without_graphical_session():
    """With neither DISPLAY nor WAYLAND_DISPLAY, `hybridgate key` opens no window and says at once
    where each QR code's URL goes and how to show it."""
    s = Setup("nogui")
    try:
        del s.wd.env["DISPLAY"]
        p = daemon(s, "key-nogui")
        qr = os.path.join(s.wd.env["XDG_RUNTIME_DIR"], "hybridgate-key-qr-url")
        check("no graphical session" in p.stderr() and qr in p.stderr() and "hybridgate qr render" in p.stderr(),
              "no line saying what to do:\n" + p.stderr())
        p.proc.terminate()
        check(p.wait(30) == 0, "hybridgate key did not stop cleanly:\n" + p.stderr())
    finally:
        s.stop()


def test_daemon_serves_the_bus_interface():
    """`hybridgate key` in a graphical session takes org.hybridgate.Key1 on the session bus; a
    ShowQr through it opens the window, Close closes it."""
    import dbus
    s = Setup("daemon-bus")
    try:
        bus = s.bus
        p = daemon(s, "key-bus")
        check("serving org.hybridgate.Key1 on the session bus" in p.stderr(), p.stderr())
        conn = dbus.bus.BusConnection(bus.address)
        key = dbus.Interface(conn.get_object("org.hybridgate.Key1", "/org/hybridgate/Key1"), "org.hybridgate.Key1")
        url = "FIDO:/" + "9876543210" * 8
        handle = key.ShowQr("example.com", "", url)
        wait_for(lambda: "the bus window is shown" in p.stderr(), 60, "the window")
        wid = s.x_run("xdotool", "search", "--name", TITLE).stdout.split()[0]
        check(s.title(wid).endswith("Sign in — example.com"), "title %r" % s.title(wid))
        key.Close(handle)
        wait_for(lambda: not s.exists(wid), 10, "Close to close the window")
        conn.close()
    finally:
        s.stop()


if __name__ == "__main__":
    run_selected([test_register_and_sign_in_from_screenshot, test_host_cancel_closes_window, test_escape_declines,
                  test_remembered_phone_picked_in_window, test_phone_never_answers_closes_window,
                  test_failure_is_shown,
                  test_bus_show_qr_cancel_and_close, test_register_no_terminal_qr_in_window,
                  test_ssh_provider_without_terminal_uses_window, test_daemon_without_graphical_session,
                  test_daemon_serves_the_bus_interface],
                 sys.argv[7] if len(sys.argv) > 7 else None)
