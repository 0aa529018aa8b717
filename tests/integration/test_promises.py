#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Options mean what they say (issue 22, first part): the WebAuthn options' `timeout` bounds the
whole ceremony; the QR URL file is gone once the ceremony ends; a ceremony with nowhere to show
its QR code fails at once instead of waiting for a phone nobody can point at it.

usage: test_promises.py BIN_DIR [TEST_NAME]"""

import json
import os
import sys
import time

from hgtest import Proc, Relay, Workdir, check, desktop, phone, run_selected, wait_qr

BIN = sys.argv[1]
RP = "example.com"
ORIGIN = "https://example.com"
CREATE = {"rp": {"id": RP, "name": "Example"}, "user": {"id": "dXNlcg", "name": "alice", "displayName": "Alice"},
          "challenge": "Y2hhbGxlbmdlY2hhbGxlbmdlY2hhbGxlbmdl", "pubKeyCredParams": [{"type": "public-key", "alg": -7}]}
GET = {"rpId": RP, "challenge": "Y2hhbGxlbmdlY2hhbGxlbmdlY2hhbGxlbmdl"}


def options_file(wd, name, options):
    path = wd.file(name + ".json")
    with open(path, "w") as f:
        json.dump(options, f)
    return path


def error_of(p):
    try:
        return p.json()["error"]
    except (KeyError, TypeError):
        raise AssertionError("%s printed no error JSON: %r" % (p.name, p.stdout()))


def test_timeout_bounds_the_ceremony():
    """A 3 s `timeout` with no phone ends in at most 4 s with session.deadline, though the advert
    deadline is 120 s (register and sign-in); the QR file is gone afterwards."""
    wd = Workdir("timeout")
    relay = Relay(BIN, wd)
    try:
        for command, options in (("register", dict(CREATE, timeout=3000)), ("sign-in", dict(GET, timeout=3000))):
            start = time.monotonic()
            d = desktop(BIN, wd, command, relay.url, "--origin", ORIGIN, "--options-json",
                        options_file(wd, command, options), advert_timeout=120, name=command)
            rc = d.wait(30)
            took = time.monotonic() - start
            check(rc == 1, "%s: exit %d:\n%s" % (command, rc, d.stderr()))
            err = error_of(d)
            check(err["code"] == "session.deadline", "%s: %r" % (command, err))
            check("3000 ms" in err["message"], "%s: the message names the timeout: %r" % (command, err))
            check(took <= 4.0, "%s: a 3 s timeout took %.2f s" % (command, took))
            check(not os.path.exists(d.qr_file), "%s: the QR URL file is still there" % command)
    finally:
        relay.stop()


def test_qr_file_removed_after_success():
    """After a successful ceremony the QR URL file is gone (a script watching it never picks up the
    previous ceremony's code)."""
    wd = Workdir("qrfile")
    relay = Relay(BIN, wd)
    try:
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "bob")
        p = phone(BIN, wd, wait_qr(d), relay.url, wd.file("store.json"), "--yes")
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        check(d.wait(60) == 0, "desktop failed:\n" + d.stderr())
        check(not os.path.exists(d.qr_file), "the QR URL file is still there after the ceremony")
    finally:
        relay.stop()


def test_nowhere_to_show_the_qr_code_fails_at_once():
    """--no-terminal-qr and no --qr-url-file/--qr-png: refused at once, nothing sent to the relay."""
    wd = Workdir("noqr")
    relay = Relay(BIN, wd)
    try:
        start = time.monotonic()
        d = Proc([os.path.join(BIN, "hybridgate"), "register", "--radio", "loopback", "--tunnel-url", relay.url,
                  "--rp-id", RP, "--origin", ORIGIN, "--user-name", "carol", "--no-terminal-qr"], wd, "noqr")
        rc = d.wait(30)
        took = time.monotonic() - start
        check(rc == 1, "exit %d:\n%s" % (rc, d.stderr()))
        err = error_of(d)
        check(err["code"] == "invalid_argument" and "nowhere to show the QR code" in err["message"], repr(err))
        check(took < 2.0, "refusing took %.2f s" % took)
    finally:
        relay.stop()


TESTS = [test_timeout_bounds_the_ceremony, test_qr_file_removed_after_success,
         test_nowhere_to_show_the_qr_code_fails_at_once]

if __name__ == "__main__":
    run_selected(TESTS, sys.argv[2] if len(sys.argv) > 2 else None)
