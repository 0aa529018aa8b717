#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Our Bluetooth code against real BlueZ 5.66 and the real kernel: run inside the QEMU guest
(tests/vm/vmrun.py --setup bluetooth), and the same scenarios (but doctor's, which need the
kernel) against the BlueZ double on the host (tests/vm/on_double.py): the phone advertises on hci1, the desktop scans on hci0,
both controllers on btvirt's emulated air, our relay inside the guest. Every credential is checked
by the independent verifier (python3-fido2).

usage: test_bluez_real.py TEST_NAME"""

import json
import os
import signal
import subprocess
import sys

import vmlib
from vmlib import BIN, TestFailure, check, wait_for
from hgtest import Proc, Relay, Workdir, desktop, phone, run_selected, verify, wait_qr  # noqa: E402

import base64

RP = "example.com"
ORIGIN = "https://example.com"
DESKTOP = ("--adapter", "hci0")
PHONE = ("--adapter", "hci1")
# Set by tests/vm/on_double.py: the same scenarios against the BlueZ double on the host.
DOUBLE = bool(os.environ.get("HG_BLUEZ_DOUBLE"))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hg(wd, *args, name):
    return Proc([os.path.join(BIN, "hybridgate"), *args], wd, name)


def start_desktop(wd, relay, command, *args, name, advert_timeout=60):
    return desktop(BIN, wd, command, relay.url, "--rp-id", RP, "--origin", ORIGIN, *DESKTOP, *args, name=name,
                   advert_timeout=advert_timeout, radio="bluez")


def start_phone(wd, relay, url, store, *args, name):
    return phone(BIN, wd, url, relay.url, store, *PHONE, *args, name=name, radio="bluez")


def finish(d, p, what):
    prc, drc = p.wait(120), d.wait(120)
    check(prc == 0, "%s: the phone failed (%d):\n%s" % (what, prc, p.stderr()))
    check(drc == 0, "%s: the desktop failed (%d):\n%s" % (what, drc, d.stderr()))


def register(wd, relay, store, *extra, phone_args=("--yes",), name="reg"):
    challenge = b64(os.urandom(32))
    d = start_desktop(wd, relay, "register", "--user-name", "alice", "--challenge=" + challenge, *extra,
                      name=name + "-desktop")
    p = start_phone(wd, relay, wait_qr(d, 60), store, *phone_args, name=name + "-phone")
    finish(d, p, "registration")
    cred = d.json()
    rc, stored, err = verify("register", cred, rp_id=RP, origin=ORIGIN, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    return cred, stored, d, p


def verify_assertion(wd, d, stored, challenge, prev, name):
    path = wd.file(name + "-stored.json")
    with open(path, "w") as f:
        json.dump(stored, f)
    rc, out, err = verify("authenticate", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge, stored=path,
                          prev_sign_count=prev)
    check(rc == 0, "the verifier rejected the assertion: " + err)
    return out


def phone_advertising(p):
    return "advertising" in p.stderr()


# --- ceremonies ----------------------------------------------------------------------------------

def test_register_then_sign_in():
    """QR registration and QR sign-in, --radio bluez on both sides, through real bluetoothd."""
    wd = Workdir("vm-e2e")
    relay = Relay(BIN, wd)
    try:
        store = wd.file("store.json")
        cred, stored, d, _ = register(wd, relay, store)
        check("phone_found" in d.stderr() or "phone found" in d.stderr(), "no phone-found stage:\n" + d.stderr())
        challenge = b64(os.urandom(32))
        d = start_desktop(wd, relay, "sign-in", "--challenge=" + challenge, "--allow=" + cred["id"], name="sign-desktop")
        p = start_phone(wd, relay, wait_qr(d, 60), store, "--yes", name="sign-phone")
        finish(d, p, "sign-in")
        out = verify_assertion(wd, d, stored, challenge, stored["sign_count"], "sign")
        check(out["credential_id"] == cred["id"], "signed in with another credential")
        check(vmlib.active_instances("hci1") == 0, "an advertisement is still registered on hci1 after the phone exited")
    finally:
        relay.stop()


def test_linked_sign_in():
    """A QR registration that links the phone, then a sign-in with no QR code: the relay wakes the
    listening phone, which proves proximity with a real BLE advert."""
    wd = Workdir("vm-link")
    relay = Relay(BIN, wd)
    try:
        store, links = wd.file("store.json"), wd.file("links.json")
        cred, stored, d, _ = register(wd, relay, store, "--link-phone", "--links", links,
                                      phone_args=("--yes", "--link", "--phone-name", "VM Phone"), name="link")
        check("remembered phone 'VM Phone'" in d.stderr(), "the desktop did not remember the phone:\n" + d.stderr())
        listener = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "bluez", *PHONE, "--tunnel-url",
                         relay.url, "--store", store, "--yes", "--test-assume-verified", "--listen", "--once"], wd, "listener")
        wait_for(lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None, 60,
                 "the phone's listen connection")
        check(listener.proc.poll() is None, "the listener exited:\n" + listener.stderr())
        challenge = b64(os.urandom(32))
        d2 = Proc([os.path.join(BIN, "hybridgate"), "sign-in", "--radio", "bluez", *DESKTOP, "--rp-id", RP,
                   "--origin", ORIGIN, "--challenge=" + challenge, "--phone", "VM Phone", "--links", links,
                   "--advert-timeout", "60"], wd, "linked-desktop")
        check(d2.wait(120) == 0, "linked sign-in failed:\n" + d2.stderr() + "\nphone:\n" + listener.stderr())
        check(listener.wait(60) == 0, "the phone's linked session failed:\n" + listener.stderr())
        check(not os.path.exists(d2.argv[0] + ".qr"), "no QR file expected")
        verify_assertion(wd, d2, stored, challenge, stored["sign_count"], "linked")
        check(vmlib.active_instances("hci1") == 0, "an advertisement is still registered after the woken phone exited")
    finally:
        relay.stop()


# --- advertising and its removal -----------------------------------------------------------------

def _waiting_phone(wd, relay, name):
    """A phone that advertises for a QR code whose desktop has gone: it stays on the air until its
    own deadline (or a signal)."""
    d = start_desktop(wd, relay, "register", "--user-name", "bob", name=name + "-desktop")
    url = wait_qr(d, 60)
    d.proc.kill()
    d.wait(30)
    p = start_phone(wd, relay, url, wd.file(name + ".json"), "--yes", "--desktop-timeout", "300", name=name)
    wait_for(lambda: phone_advertising(p) or p.proc.poll() is not None, 60, "the phone's advertising stage")
    check(p.proc.poll() is None, "the phone exited:\n" + p.stderr())
    return p


def test_advertising_removed():
    """The phone registers its advert through LEAdvertisingManager1 and none is left after it
    exits: normally, on SIGINT, and on SIGKILL (bluetoothd's own clean-up of a vanished client)."""
    wd = Workdir("vm-adv")
    relay = Relay(BIN, wd)
    try:
        free = vmlib.supported_instances("hci1")
        check(vmlib.active_instances("hci1") == 0 and free > 0, "hci1 starts with no adverts (%d free)" % free)
        # Normal exit: a whole registration.
        register(wd, relay, wd.file("store.json"))
        check(vmlib.active_instances("hci1") == 0, "advert left after a normal exit")
        check(vmlib.supported_instances("hci1") == free, "free instances not restored after a normal exit")
        for sig, name in ((signal.SIGINT, "sigint"), (signal.SIGTERM, "sigterm"), (signal.SIGKILL, "sigkill")):
            p = _waiting_phone(wd, relay, name)
            wait_for(lambda: vmlib.active_instances("hci1") == 1, 20, "the phone's advert registered (%s)" % name)
            scanner = vmlib.Scanner("hci0")
            try:
                wait_for(lambda: scanner.seen(), 30, "the phone's caBLE advert seen from hci0 (%s)" % name)
            finally:
                scanner.stop()
            p.proc.send_signal(sig)
            rc = p.wait(60)
            if sig != signal.SIGKILL:
                check(rc in (130, 143, 1) and rc != -sig, "%s: exit status %d:\n%s" % (name, rc, p.stderr()))
            wait_for(lambda: vmlib.active_instances("hci1") == 0, 30, "no advert left after %s" % name)
            check(vmlib.supported_instances("hci1") == free, "free instances not restored after %s" % name)
            print("  %s: advert removed, %d free instances again" % (name, free), flush=True)
    finally:
        relay.stop()


# --- discovery -----------------------------------------------------------------------------------

def test_discovery_ignores_others():
    """The desktop on hci0 ignores an unrelated advert (other service data and UUIDs) and a phone
    that advertises for another QR code, and completes with its own phone."""
    wd = Workdir("vm-disc")
    relay = Relay(BIN, wd)
    try:
        # Unrelated: service data for 0xFFF9 that is not ours, and a 16-bit UUID list with 0xFD44.
        if DOUBLE:
            double = vmlib.system_bus().get_object("org.bluez", "/")
            double.AddCableDevice("hci0", "C0:00:00:00:00:0C", "0000fff9-0000-1000-8000-00805f9b34fb",
                                  bytes(20), dbus_interface="org.bluez.Mock")
            double.AddCableDevice("hci0", "C0:00:00:00:00:0D", "0000fd44-0000-1000-8000-00805f9b34fb",
                                  bytes(8), dbus_interface="org.bluez.Mock")
        else:
            rc, out = vmlib.btmgmt("--index", "1", "add-adv", "-d", "1516f9ff" + "00" * 19 + "030244fd", "1")
            check(rc == 0, "btmgmt add-adv failed: " + out)
        other = _waiting_phone(wd, relay, "other-phone")   # advertises for another (abandoned) QR code
        challenge = b64(os.urandom(32))
        d = start_desktop(wd, relay, "register", "--user-name", "carol", "--challenge=" + challenge, name="mine-desktop")
        url = wait_qr(d, 60)
        # Let the desktop see only the strangers for a while: it must keep waiting, not fail or connect.
        wait_for(lambda: "scanning" in d.stderr(), 30, "the desktop scanning")
        check(d.proc.poll() is None, "the desktop gave up while strangers advertised:\n" + d.stderr())
        p = start_phone(wd, relay, url, wd.file("store.json"), "--yes", name="mine-phone")
        finish(d, p, "registration among strangers")
        rc, _, err = verify("register", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the verifier rejected the registration: " + err)
        check("desktop_connected" not in other.stderr(), "the other QR code's phone was contacted:\n" + other.stderr())
        check(other.proc.poll() is None, "the other phone exited:\n" + other.stderr())
        other.proc.send_signal(signal.SIGINT)
        other.wait(60)
    finally:
        if not DOUBLE:
            vmlib.btmgmt("--index", "1", "rm-adv", "1")
        relay.stop()


def test_two_phones_at_once():
    """Two phones scan the same QR code and answer at once: the desktop completes with one of them,
    the other ends with an error of its own, neither crashes, and no advert is left behind."""
    wd = Workdir("vm-two")
    relay = Relay(BIN, wd)
    try:
        challenge = b64(os.urandom(32))
        d = start_desktop(wd, relay, "register", "--user-name", "dave", "--challenge=" + challenge, name="two-desktop")
        url = wait_qr(d, 60)
        p1 = start_phone(wd, relay, url, wd.file("one.json"), "--yes", name="phone-one")
        p2 = start_phone(wd, relay, url, wd.file("two.json"), "--yes", "--desktop-timeout", "20", name="phone-two")
        check(d.wait(120) == 0, "the desktop failed:\n" + d.stderr())
        rc, _, err = verify("register", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the verifier rejected the registration: " + err)
        rcs = (p1.wait(120), p2.wait(120))
        check(sorted(rcs)[0] == 0, "no phone completed: %r\n%s\n%s" % (rcs, p1.stderr(), p2.stderr()))
        check(all(r in (0, 1) for r in rcs), "a phone crashed or was killed: %r" % (rcs,))
        loser = p2 if rcs[0] == 0 else p1
        if rcs == (0, 0):
            raise TestFailure("both phones say they served the one desktop")
        check('"code"' in loser.stdout() or "error" in loser.stderr().lower(),
              "the other phone ended without saying why:\n" + loser.stderr())
        wait_for(lambda: vmlib.active_instances("hci1") == 0, 30, "no advert left on hci1")
    finally:
        relay.stop()


# --- doctor --------------------------------------------------------------------------------------

def doctor(wd, *extra, name):
    p = hg(wd, "doctor", "--json", "--no-network", "--scan-seconds", "1", *extra, name=name)
    rc = p.wait(90)
    try:
        j = json.loads(p.stdout())
    except ValueError:
        raise TestFailure("doctor printed no JSON: %r %r" % (p.stdout(), p.stderr()))
    t = hg(wd, "doctor", "--no-network", "--scan-seconds", "1", *extra, name=name + "-text")
    t.wait(90)
    print("  --- doctor (%s), as a person reads it:\n%s" % (name, "\n".join("  | " + l for l in t.stdout().splitlines())),
          flush=True)
    return rc, {c["name"]: c for c in j["checks"]}, t.stdout()


def expect(checks, name, status, code=None):
    c = checks.get(name)
    check(c is not None, "no %s check" % name)
    check(c["status"] == status, "%s: status %s, want %s: %r" % (name, c["status"], status, c))
    if code:
        check(c.get("code") == code, "%s: code %r, want %s: %r" % (name, c.get("code"), code, c))
    if status in ("fail", "warn"):
        check(c.get("fix"), "%s: no fix sentence: %r" % (name, c))


def test_doctor_states():
    """hybridgate doctor against real BlueZ in each state it diagnoses, with its sentence and fix."""
    wd = Workdir("vm-doctor")
    try:
        rc, c, _ = doctor(wd, "--adapter", "hci0", name="healthy")
        check(rc == 0, "a healthy system: exit %d" % rc)
        for n in ("system_bus", "bluez", "adapter", "rfkill", "le_advertising"):
            expect(c, n, "pass")
        check(c["bluez"]["version"].startswith("5."), "the BlueZ version: %r" % c["bluez"])

        vmlib.set_powered("hci0", False)
        rc, c, text = doctor(wd, "--adapter", "hci0", name="powered-off")
        expect(c, "adapter", "fail", "ble.adapter_off")
        check(rc == 1, "a failed check exits 1")
        vmlib.set_powered("hci0", True)

        vmlib.set_soft_block("hci0", True)
        wait_for(lambda: not vmlib.adapter_props("hci0")["Powered"], 20, "hci0 to power down when soft-blocked")
        rc, c, _ = doctor(wd, "--adapter", "hci0", name="rfkill")
        expect(c, "rfkill", "fail", "ble.rfkill")
        expect(c, "adapter", "fail", "ble.rfkill")
        vmlib.set_soft_block("hci0", False)
        vmlib.set_powered("hci0", True)

        # Every advertising instance taken by other programs (BlueZ advertisers on the bus).
        free = vmlib.supported_instances("hci0")
        holders = []
        for i in range(free):
            h = subprocess.Popen([os.path.join(BIN, "ble_bluez_client"), "advertise", "--adapter", "hci0", "--hex",
                                  "%02x" % i * 20], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            check(h.stdout.readline().strip() == "REGISTERED", "advertiser %d did not register" % i)
            holders.append(h)
        wait_for(lambda: vmlib.supported_instances("hci0") == 0, 20, "no free advertising instance on hci0")
        rc, c, _ = doctor(wd, "--adapter", "hci0", name="advertising-full")
        expect(c, "le_advertising", "warn", "ble.advertising_busy")
        for h in holders:
            h.stdin.close()
            h.wait(30)
        wait_for(lambda: vmlib.supported_instances("hci0") == free, 20, "hci0's instances free again")

        vmlib.stop_bluetoothd()
        rc, c, _ = doctor(wd, name="no-bluetoothd")
        expect(c, "system_bus", "pass")
        expect(c, "bluez", "fail", "ble.no_bluez")
        check(rc == 1, "exit 1 without bluetoothd")
        vmlib.start_bluetoothd()

        # No adapter: the controllers removed (btvirt ends, the kernel drops hci0 and hci1).
        os.kill(int(os.environ["HG_VM_BTVIRT"]), signal.SIGTERM)
        wait_for(lambda: not os.path.exists("/sys/class/bluetooth/hci0"), 30, "the controllers to go")
        wait_for(lambda: not vmlib._has_adapter("hci0"), 30, "bluetoothd to drop hci0")
        rc, c, _ = doctor(wd, name="no-adapter")
        expect(c, "bluez", "pass")
        expect(c, "adapter", "fail", "ble.no_adapter")
    finally:
        wd.cleanup()


TESTS = [test_register_then_sign_in, test_linked_sign_in, test_advertising_removed, test_discovery_ignores_others,
         test_two_phones_at_once, test_doctor_states]

if __name__ == "__main__":
    run_selected(TESTS, sys.argv[1] if len(sys.argv) > 1 else None)
