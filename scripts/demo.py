#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The main job: relay + register + sign-in between a desktop and a phone process (loopback radio).
usage: demo.py BIN_DIR"""

import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from hgtest import Relay, TestFailure, Workdir, check, desktop, phone, verify, wait_qr  # noqa: E402

BIN = sys.argv[1]
RP, ORIGIN, USER = "example.com", "https://example.com", "alice@example.com"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def ceremony(wd, relay, command, store, *args, name):
    d = desktop(BIN, wd, command, relay.url, "--rp-id", RP, "--origin", ORIGIN, *args, name=name + "-desktop")
    p = phone(BIN, wd, wait_qr(d), relay.url, store, "--yes", name=name + "-phone")
    prc, drc = p.wait(120), d.wait(120)
    if prc != 0 or drc != 0:
        raise TestFailure("%s failed.\ndesktop:\n%s\nphone:\n%s" % (command, d.stderr(), p.stderr()))
    m = re.search(r"phone found → result in (\d+) ms", d.stderr())
    return d.json(), (m.group(1) if m else "?")


def main():
    wd = Workdir("demo")
    relay = Relay(BIN, wd)
    try:
        store = wd.file("phone-credentials.json")
        print("hybridgate main job: relay, desktop and phone on this machine (loopback radio)")
        print("  relay        %s  (hybridgate-relay, pid %d)" % (relay.url, relay.proc.pid))

        challenge = b64(os.urandom(32))
        cred, ms = ceremony(wd, relay, "register", store, "--user-name", USER, "--challenge=" + challenge, name="register")
        rc, stored, err = verify("register", cred, rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the WebAuthn verifier rejected the registration: " + err)
        print("  registered   passkey %s for %s at %s" % (cred["id"], USER, RP))
        print("               attestation %s verified by python3-fido2; phone found → result in %s ms" % (stored["fmt"], ms))

        challenge = b64(os.urandom(32))
        assertion, ms = ceremony(wd, relay, "sign-in", store, "--challenge=" + challenge, name="sign-in")
        stored_path = wd.file("stored.json")
        with open(stored_path, "w") as f:
            json.dump(stored, f)
        rc, result, err = verify("authenticate", assertion, rp_id=RP, origin=ORIGIN, challenge=challenge,
                                 stored=stored_path, prev_sign_count=stored["sign_count"])
        check(rc == 0, "the WebAuthn verifier rejected the sign-in: " + err)
        print("  signed in    with passkey %s, user handle %s, sign count %d → %d" %
              (assertion["id"], assertion["response"]["userHandle"], stored["sign_count"], result["sign_count"]))
        print("               assertion verified by python3-fido2; phone found → result in %s ms" % ms)
        print("OK: registration and sign-in completed through the relay.")
        print("Try it by hand: see README.md (hybridgate register / phone / sign-in).")
    except TestFailure as e:
        print("FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
    finally:
        relay.stop()
        wd.cleanup()


if __name__ == "__main__":
    main()
