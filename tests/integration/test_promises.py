#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Options mean what they say (issue 22, first part): the WebAuthn options' `timeout` bounds the
whole ceremony; the QR URL file is gone once the ceremony ends; a ceremony with nowhere to show
its QR code fails at once instead of waiting for a phone nobody can point at it; a bad setting
(tunnel URL, CA file, QR URL file) is refused where it is set (flag, environment, config file)
with exit 2, before any QR code.

usage: test_promises.py BIN_DIR [TEST_NAME]"""

import json
import os
import sys
import time

from hgtest import Proc, Relay, Workdir, check, desktop, phone, run_selected, wait_for, wait_qr

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


def test_bad_settings_refused_before_any_qr_code():
    """A bad tunnel URL, CA file or QR URL file from the command line, the environment or the
    config file: exit 2 at once with the setting named (config.invalid naming the key and the
    file, or the variable), no QR code drawn or written, for register and for the phone."""
    wd = Workdir("settings")
    config = wd.file("config")
    qr = wd.file("would-be.qr")
    base = ["register", "--radio", "loopback", "--rp-id", RP, "--origin", ORIGIN, "--user-name", "dave",
            "--qr-url-file", qr, "--advert-timeout", "3"]
    cases = [
        # (name, extra argv, extra environment, config file text, what the error must name)
        ("flag-url", ["--tunnel-url", "https://relay.example.org"], {}, "", "https://relay.example.org"),
        ("flag-url-noscheme", ["--tunnel-url", "relay.example.org:443"], {}, "", "relay.example.org:443"),
        ("flag-ca", ["--tunnel-url", "ws://127.0.0.1:1", "--ca-file", wd.file("no-ca.pem")], {}, "", "no-ca.pem"),
        ("env-url", [], {"HYBRIDGATE_TUNNEL_URL": "http://relay.example.org"}, "", "HYBRIDGATE_TUNNEL_URL"),
        ("env-ca", ["--tunnel-url", "ws://127.0.0.1:1"], {"HYBRIDGATE_CA_FILE": wd.file("no-ca.pem")}, "",
         "HYBRIDGATE_CA_FILE"),
        ("file-url", [], {}, 'tunnel_url = "wss://relay.example.org:70000"\n', config + ": tunnel_url"),
        ("file-ca", ["--tunnel-url", "ws://127.0.0.1:1"], {}, 'ca_file = "missing.pem"\n', config + ": ca_file"),
        ("file-qr", ["--tunnel-url", "ws://127.0.0.1:1"], {}, 'qr_url_file = "/nonexistent/qr"\n',
         config + ": qr_url_file"),
    ]
    try:
        for name, argv, env, text, named in cases:
            with open(config, "w") as f:
                f.write(text)
            wd.env = dict(os.environ, HYBRIDGATE_RADIO_DIR=wd.radio, HYBRIDGATE_CONFIG=config, **env)
            for k in ("HYBRIDGATE_TUNNEL_URL", "HYBRIDGATE_CA_FILE", "HYBRIDGATE_QR_URL_FILE", "HYBRIDGATE_PHONE"):
                if k not in env:
                    wd.env.pop(k, None)
            start = time.monotonic()
            d = Proc([os.path.join(BIN, "hybridgate"), *base, *argv], wd, name)
            rc = d.wait(30)
            took = time.monotonic() - start
            print("%s: exit %d in %.0f ms" % (name, rc, took * 1000))
            check(rc == 2, "%s: exit %d, not 2:\n%s" % (name, rc, d.stderr()))
            check(named in d.stderr(), "%s: stderr does not name %r:\n%s" % (name, named, d.stderr()))
            if not argv or env or text:  # config file and environment: config.invalid on stdout
                err = error_of(d)
                check(err["code"] == "config.invalid" and named in err["message"], "%s: %r" % (name, err))
            check(not os.path.exists(qr), "%s: a QR URL file was written" % name)
            check("Scan this QR code" not in d.stderr(), "%s: a QR code was drawn" % name)
            check(took < 2.0, "%s: refusing took %.2f s" % (name, took))
        # The phone's --tunnel-url too: refused before it reads the QR code or opens a tunnel.
        wd.env = dict(os.environ, HYBRIDGATE_RADIO_DIR=wd.radio)
        p = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", "wss//relay",
                  "--qr", "FIDO:/1234", "--store", wd.file("store.json")], wd, "phone")
        rc = p.wait(30)
        check(rc == 2 and "wss//relay" in p.stderr(), "phone: exit %d:\n%s" % (rc, p.stderr()))
    finally:
        wd.cleanup()


def test_phone_waits_for_the_qr_file():
    """`hybridgate phone --qr-file F` started before the desktop has written F waits for it and
    completes the registration; a file that never appears fails after --qr-file-timeout with
    session.deadline naming the file."""
    wd = Workdir("qrwait")
    relay = Relay(BIN, wd)
    try:
        qr = wd.file("desktop.qr")  # the name desktop() gives its --qr-url-file
        p = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", relay.url,
                  "--qr-file", qr, "--store", wd.file("store.json"), "--yes"], wd, "phone")
        wait_for(lambda: "waiting for the QR file" in p.stderr() or p.proc.poll() is not None, 20,
                 "the phone waiting for its QR file")
        check(p.proc.poll() is None, "the phone did not wait for %s:\n%s" % (qr, p.stderr()))
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "erin")
        check(d.wait(60) == 0, "desktop failed:\n" + d.stderr())
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        check(d.json()["response"]["attestationObject"], "no attestation object: %r" % d.stdout())

        missing = wd.file("never.qr")
        start = time.monotonic()
        p = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", relay.url,
                  "--qr-file", missing, "--qr-file-timeout", "1", "--store", wd.file("store.json"), "--yes"],
                 wd, "phone-never")
        rc = p.wait(30)
        took = time.monotonic() - start
        check(rc == 1, "exit %d:\n%s" % (rc, p.stderr()))
        err = error_of(p)
        check(err["code"] == "session.deadline" and missing in err["message"], repr(err))
        check(took >= 1.0, "gave up after %.2f s, before --qr-file-timeout 1" % took)
    finally:
        relay.stop()


TESTS = [test_timeout_bounds_the_ceremony, test_qr_file_removed_after_success,
         test_nowhere_to_show_the_qr_code_fails_at_once, test_bad_settings_refused_before_any_qr_code,
         test_phone_waits_for_the_qr_file]

if __name__ == "__main__":
    run_selected(TESTS, sys.argv[2] if len(sys.argv) > 2 else None)
