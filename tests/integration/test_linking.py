#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Linked phones ("remember this phone"), end to end through our relay: a QR registration with
linking, then a sign-in with no QR code (contact request, wake-up over the phone's listen
connection, NKpsk0), unlinking (410, the desktop forgets), and a forged linking signature.
Every credential is checked by the independent WebAuthn verifier (python3-fido2).

usage: test_linking.py BIN_DIR [TEST_NAME]"""

import base64
import json
import os
import signal
import sys

from hgtest import (Proc, Relay, Workdir, check, desktop, phone, run_selected, verify, wait_for, wait_qr)

BIN = sys.argv[1]
RP, ORIGIN = "example.com", "https://example.com"
NAME = "Test Phone"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hg(wd, *args, name):
    return Proc([os.path.join(BIN, "hybridgate"), *args], wd, name)


def link_by_qr(wd, relay, store, links, extra_phone=()):
    """A QR registration where the desktop offers linking and the phone agrees."""
    challenge = b64(os.urandom(32))
    d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "erin",
                "--challenge=" + challenge, "--link-phone", "--links", links, name="link-desktop")
    p = phone(BIN, wd, wait_qr(d), relay.url, store, "--yes", "--link", "--phone-name", NAME, *extra_phone,
              name="link-phone")
    check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
    check(d.wait(60) == 0, "desktop failed:\n" + d.stderr())
    rc, stored, err = verify("register", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    return stored, d


def list_links(wd, links):
    p = hg(wd, "links", "list", "--links", links, name="links-list")
    check(p.wait(30) == 0, "links list failed:\n" + p.stderr())
    return [l["name"] for l in p.json()["links"]]


def listen(wd, relay, store, name="listener"):
    argv = [os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", relay.url,
            "--store", store, "--yes", "--test-assume-verified", "--listen", "--once"]
    p = Proc(argv, wd, name)
    wait_for(lambda: "phone: listening\n" in p.stderr() or p.proc.poll() is not None, 20, "the phone's listen connection")
    check(p.proc.poll() is None, "the listener exited:\n" + p.stderr())
    return p


def linked_sign_in(wd, relay, links, name="linked-desktop"):
    challenge = b64(os.urandom(32))
    argv = [os.path.join(BIN, "hybridgate"), "sign-in", "--radio", "loopback", "--rp-id", RP, "--origin", ORIGIN,
            "--challenge=" + challenge, "--phone", NAME, "--links", links, "--advert-timeout", "20"]
    return Proc(argv, wd, name), challenge


def test_qr_link_then_sign_in_without_qr():
    wd = Workdir("link")
    relay = Relay(BIN, wd)
    try:
        store, links = wd.file("store.json"), wd.file("links.json")
        stored, d = link_by_qr(wd, relay, store, links)
        check("remembered phone 'Test Phone'" in d.stderr(), "the desktop did not remember the phone:\n" + d.stderr())
        check(list_links(wd, links) == [NAME], "links list: %s" % list_links(wd, links))
        check(oct(os.stat(links).st_mode & 0o777) == "0o600", "the links file is not mode 0600")
        listener = listen(wd, relay, store)
        d2, challenge = linked_sign_in(wd, relay, links)
        check(d2.wait(60) == 0, "linked sign-in failed:\n" + d2.stderr() + "\nphone:\n" + listener.stderr())
        check(listener.wait(30) == 0, "the phone's linked session failed:\n" + listener.stderr())
        check("scanning" not in d2.stderr() or "phone_found" in d2.stderr(), "no advert matched")
        with open(wd.file("stored.json"), "w") as f:
            json.dump(stored, f)
        rc, out, err = verify("authenticate", d2.json(), rp_id=RP, origin=ORIGIN, challenge=challenge,
                              stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
        check(rc == 0, "the verifier rejected the linked assertion: " + err)
    finally:
        relay.stop()
        wd.cleanup()


def test_unlink_gives_410_and_the_desktop_forgets():
    wd = Workdir("unlink")
    relay = Relay(BIN, wd)
    try:
        store, links = wd.file("store.json"), wd.file("links.json")
        link_by_qr(wd, relay, store, links)
        u = Proc([os.path.join(BIN, "hybridgate"), "phone", "--store", store, "--unlink", "--tunnel-url", relay.url],
                 wd, "unlink")
        check(u.wait(30) == 0, "unlink failed:\n" + u.stderr())
        d, _ = linked_sign_in(wd, relay, links)
        check(d.wait(60) != 0, "a linked sign-in to an unlinked phone succeeded")
        err = d.json()["error"]
        check(err["code"] == "tunnel.gone", "unexpected error %s" % err)
        check(list_links(wd, links) == [], "the desktop still remembers the unlinked phone")
    finally:
        relay.stop()
        wd.cleanup()


def test_forged_linking_signature_is_rejected():
    wd = Workdir("forged")
    relay = Relay(BIN, wd)
    try:
        store, links = wd.file("store.json"), wd.file("links.json")
        _, d = link_by_qr(wd, relay, store, links, extra_phone=("--testing-forge-link-signature",))
        check("linking.signature" in d.stderr(), "the desktop did not report the bad signature:\n" + d.stderr())
        check(list_links(wd, links) == [], "the desktop stored a link with a forged signature")
    finally:
        relay.stop()
        wd.cleanup()


def test_listener_reconnects_after_relay_restart():
    """The relay restarts (SIGTERM: its listeners get 1012) with its state directory: the phone's
    `--listen` reconnects with backoff, and a linked sign-in afterwards works without a QR code."""
    wd = Workdir("restart")
    state = wd.file("relay-state")
    os.makedirs(state)
    relay = Relay(BIN, wd, "--state-dir", state)
    relay2 = None
    try:
        store, links = wd.file("store.json"), wd.file("links.json")
        stored, _ = link_by_qr(wd, relay, store, links)
        listener = listen(wd, relay, store)
        # The stage line, not the banner "listening for linked desktops": the connection is up.
        wait_for(lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None, 20,
                 "the phone's listen connection")
        relay.proc.send_signal(signal.SIGTERM)
        check(relay.proc.wait(20) == 0, "the relay did not drain and exit 0")
        wait_for(lambda: "reconnecting" in listener.stderr() or listener.proc.poll() is not None, 20,
                 "the phone noticing the restart")
        check(listener.proc.poll() is None, "the listener exited at the relay's restart:\n" + listener.stderr())
        check("1012" in listener.stderr(), "the listener was not told 1012:\n" + listener.stderr())
        relay2 = Relay(BIN, wd, "--state-dir", state, listen="127.0.0.1:%d" % relay.port)
        wait_for(lambda: listener.stderr().count("phone: listening\n") >= 2 or listener.proc.poll() is not None, 30,
                 "the phone's listen connection to the restarted relay")
        check(listener.proc.poll() is None, "the listener exited:\n" + listener.stderr())
        d2, challenge = linked_sign_in(wd, relay2, links)
        check(d2.wait(60) == 0, "linked sign-in after the restart failed:\n" + d2.stderr() + "\nphone:\n" + listener.stderr())
        check(listener.wait(30) == 0, "the phone's linked session failed:\n" + listener.stderr())
        with open(wd.file("stored.json"), "w") as f:
            json.dump(stored, f)
        rc, out, err = verify("authenticate", d2.json(), rp_id=RP, origin=ORIGIN, challenge=challenge,
                              stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
        check(rc == 0, "the verifier rejected the linked assertion: " + err)
    finally:
        relay.stop()
        if relay2:
            relay2.stop()
        wd.cleanup()


TESTS = [test_qr_link_then_sign_in_without_qr, test_unlink_gives_410_and_the_desktop_forgets,
         test_forged_linking_signature_is_rejected, test_listener_reconnects_after_relay_restart]

if __name__ == "__main__":
    run_selected(TESTS, sys.argv[2] if len(sys.argv) > 2 else None)
