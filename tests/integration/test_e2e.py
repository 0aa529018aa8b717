#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end QR ceremonies between a real relay, a desktop and a phone process (loopback radio),
checked by an independent WebAuthn verifier (python3-fido2's server classes).

usage: test_e2e.py BIN_DIR [TEST_NAME]"""

import base64
import os
import sys

from hgtest import (Relay, Workdir, check, desktop, phone, run_selected, verify, wait_qr, wait_for)

BIN = sys.argv[1]
RP = "example.com"
ORIGIN = "https://example.com"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ceremony(wd, relay, command, store, desktop_args=(), phone_args=("--yes",), name="c"):
    d = desktop(BIN, wd, command, relay.url, "--rp-id", RP, "--origin", ORIGIN, *desktop_args, name=name + "-desktop")
    url = wait_qr(d)
    p = phone(BIN, wd, url, relay.url, store, *phone_args, name=name + "-phone")
    prc = p.wait(60)
    drc = d.wait(60)
    check(prc == 0, "phone failed (%d):\n%s" % (prc, p.stderr()))
    check(drc == 0, "desktop failed (%d):\n%s" % (drc, d.stderr()))
    return d, p


def register(wd, relay, store, user="alice", extra=(), phone_args=("--yes",), name="reg"):
    challenge = b64(os.urandom(32))
    d, _ = ceremony(wd, relay, "register", store, ("--user-name", user, "--challenge=" + challenge, *extra),
                    phone_args, name)
    cred = d.json()
    rc, stored, err = verify("register", cred, rp_id=RP, origin=ORIGIN, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    check(stored["credential_id"] == cred["id"], "credential ID mismatch")
    return cred, stored, d


def sign_in(wd, relay, store, stored, prev_count, allow=None, name="sign"):
    challenge = b64(os.urandom(32))
    args = ["--challenge=" + challenge]
    if allow:
        args += ["--allow=" + allow]
    d, _ = ceremony(wd, relay, "sign-in", store, args, name=name)
    assertion = d.json()
    stored_path = wd.file(name + "-stored.json")
    with open(stored_path, "w") as f:
        import json
        json.dump(stored, f)
    rc, out, err = verify("authenticate", assertion, rp_id=RP, origin=ORIGIN, challenge=challenge,
                          stored=stored_path, prev_sign_count=prev_count)
    check(rc == 0, "the verifier rejected the assertion: " + err)
    return assertion, out


def test_register_then_sign_in_twice():
    wd = Workdir("e2e")
    relay = Relay(BIN, wd)
    try:
        store = wd.file("store.json")
        cred, stored, d = register(wd, relay, store)
        check(oct(os.stat(store).st_mode & 0o777) == "0o600", "the credential store is not mode 0600")
        check("phone found" in d.stderr(), "the desktop did not report the phone-found-to-result time")
        # Discoverable sign-in (empty allow list), then with an allow list; the counter must rise.
        a1, v1 = sign_in(wd, relay, store, stored, stored["sign_count"], name="sign1")
        check(v1["credential_id"] == cred["id"], "signed in with another credential")
        check(a1["response"]["userHandle"], "a discoverable sign-in must return the user handle")
        a2, v2 = sign_in(wd, relay, store, stored, v1["sign_count"], allow=cred["id"], name="sign2")
        check(v2["sign_count"] > v1["sign_count"] > stored["sign_count"],
              "sign counts did not increase: %s %s %s" % (stored["sign_count"], v1["sign_count"], v2["sign_count"]))
        # A counter that does not increase is refused by the verifier (the check can fail).
        challenge = b64(os.urandom(32))
        rc, _, _ = verify("authenticate", a2, rp_id=RP, origin=ORIGIN, challenge=challenge,
                          stored=wd.file("sign2-stored.json"), prev_sign_count=v2["sign_count"])
        check(rc != 0, "the verifier accepted a replayed assertion")
    finally:
        relay.stop()
        wd.cleanup()


def test_packed_attestation_registration():
    wd = Workdir("packed")
    relay = Relay(BIN, wd)
    try:
        cred, stored, _ = register(wd, relay, wd.file("store.json"), phone_args=("--yes", "--attestation", "packed"))
        check(stored["fmt"] == "packed", "expected packed attestation, got %s" % stored["fmt"])
    finally:
        relay.stop()
        wd.cleanup()


def test_sign_in_with_unknown_credential_reports_no_credentials():
    wd = Workdir("nocred")
    relay = Relay(BIN, wd)
    try:
        d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--allow=" + b64(b"unknown-credential"))
        p = phone(BIN, wd, wait_qr(d), relay.url, wd.file("store.json"), "--yes")
        p.wait(60)
        check(d.wait(60) != 0, "the desktop succeeded without a credential")
        err = d.json()["error"]
        check(err["code"] == "ctap.no_credentials", "unexpected error %s" % err)
    finally:
        relay.stop()
        wd.cleanup()


def test_person_denies_on_the_phone():
    wd = Workdir("deny")
    relay = Relay(BIN, wd)
    try:
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "bob")
        url = wait_qr(d)
        denial = open(wd.file("no.txt"), "w+")
        denial.write("n\n")
        denial.flush()
        denial.seek(0)
        p = phone(BIN, wd, url, relay.url, wd.file("store.json"), stdin=denial)
        p.wait(60)
        check(d.wait(60) != 0, "the desktop succeeded although the person said no")
        err = d.json()["error"]
        check(err["code"] == "ctap.operation_denied", "unexpected error %s" % err)
        check("denied" in err["message"].lower(), "the message does not say it was denied: %s" % err["message"])
    finally:
        relay.stop()
        wd.cleanup()


def test_register_and_sign_in_over_the_bluez_double():
    """Desktop and phone use the BlueZ code paths (scanner: Adapter1 discovery + Device1
    ServiceData; advertiser: LEAdvertisingManager1) on a BlueZ double whose bridge turns the
    phone's registered advertisement into a Device1 the desktop sees."""
    import subprocess
    from hgtest import ROOT, PYTHON
    wd = Workdir("bluez")
    bridge = subprocess.Popen([PYTHON, os.path.join(ROOT, "tests", "ble", "bluez_bridge.py"), "--log", wd.file("bluez.log")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    relay = None
    try:
        line = bridge.stdout.readline().strip()
        check(line.startswith("DBUS_SYSTEM_BUS_ADDRESS="), "the BlueZ bridge did not start: %r" % line)
        wd.env["DBUS_SYSTEM_BUS_ADDRESS"] = line.split("=", 1)[1]
        wd.env.pop("HYBRIDGATE_RADIO_DIR", None)  # no loopback radio in this test
        relay = Relay(BIN, wd)
        store = wd.file("store.json")
        challenge = b64(os.urandom(32))
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "dave",
                    "--challenge=" + challenge, name="bz-desktop", radio="bluez")
        p = phone(BIN, wd, wait_qr(d), relay.url, store, "--yes", name="bz-phone", radio="bluez")
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        check(d.wait(60) == 0, "desktop failed:\n" + d.stderr())
        rc, stored, err = verify("register", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the verifier rejected the registration: " + err)
        log = open(wd.file("bluez.log")).read()
        for call in ("RegisterAdvertisement", "SetDiscoveryFilter", "StartDiscovery", "StopDiscovery", "UnregisterAdvertisement"):
            check(call in log, "the BlueZ double saw no %s call" % call)
        # Then a sign-in, also over BlueZ.
        challenge = b64(os.urandom(32))
        d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--challenge=" + challenge,
                    name="bz-desktop2", radio="bluez")
        p = phone(BIN, wd, wait_qr(d), relay.url, store, "--yes", name="bz-phone2", radio="bluez")
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        check(d.wait(60) == 0, "desktop failed:\n" + d.stderr())
        with open(wd.file("stored.json"), "w") as f:
            import json
            json.dump(stored, f)
        rc, _, err = verify("authenticate", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge,
                            stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
        check(rc == 0, "the verifier rejected the assertion: " + err)
    finally:
        if relay:
            relay.stop()
        bridge.stdin.close()
        bridge.wait(30)
        wd.cleanup()


def test_prf_extension():
    """The WebAuthn PRF extension through the tunnel: the same credential and input give the same
    32 bytes at registration and at every sign-in, whichever slot (first/second) the input is in;
    other inputs or another credential give other bytes; evalByCredential overrides eval; a
    registration without --prf reports nothing; bad CLI inputs fail before any QR code."""
    wd = Workdir("prf")
    relay = Relay(BIN, wd)
    try:
        store = wd.file("store.json")
        x, y = b64(b"app key v1"), b64(os.urandom(40))

        def prf_of(cred):
            ext = cred["clientExtensionResults"]
            check("prf" in ext, "no prf in clientExtensionResults: %r" % ext)
            return ext["prf"]

        def raw(v):
            return base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))

        cred, stored, _ = register(wd, relay, store, extra=("--prf", "--prf-first=" + x), name="reg-prf")
        p = prf_of(cred)
        check(p.get("enabled") is True, "registration: prf.enabled is not true: %r" % p)
        rx = p["results"]["first"]
        check(len(raw(rx)) == 32, "a PRF output is 32 bytes")

        def sign(args, name):
            challenge = b64(os.urandom(32))
            d, _ = ceremony(wd, relay, "sign-in", store, ["--challenge=" + challenge, "--allow=" + cred["id"], *args],
                            name=name)
            return prf_of(d.json())

        r = sign(["--prf-first=" + x], "s1")["results"]
        check(r == {"first": rx}, "sign-in with the registration's input gives its output: %r vs %s" % (r, rx))
        r = sign(["--prf-first=" + x, "--prf-second=" + y], "s2")["results"]
        check(r["first"] == rx and r["second"] != rx and len(raw(r["second"])) == 32, "second input: %r" % r)
        ry = r["second"]
        r = sign(["--prf-first=" + y], "s3")["results"]
        check(r == {"first": ry}, "an input gives the same output in either slot: %r vs %s" % (r, ry))
        r = sign(["--prf-first=" + x, "--prf-by-credential=%s:%s" % (cred["id"], y)], "s4")["results"]
        check(r == {"first": ry}, "evalByCredential overrides eval for its credential: %r" % r)

        # Another credential: other outputs for the same input. No --prf at registration: no prf key.
        cred2, _, _ = register(wd, relay, store, user="bob", name="reg-plain")
        check(cred2["clientExtensionResults"] == {}, "no prf asked, none reported: %r" % cred2["clientExtensionResults"])
        challenge = b64(os.urandom(32))
        d, _ = ceremony(wd, relay, "sign-in", store, ["--challenge=" + challenge, "--allow=" + cred2["id"],
                                                      "--prf-first=" + x], name="s5")
        r2 = prf_of(d.json())["results"]["first"]
        check(r2 != rx and len(raw(r2)) == 32, "another credential, the same input: another output")

        # A phone without prf (like an older phone): the desktop says so and leaves it out; the
        # results report enabled false / nothing. A phone with prf gets no such message.
        check("does not offer the PRF extension" not in d.stderr(), "a prf phone was reported as lacking prf")
        store3 = wd.file("store-noprf.json")
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "carol",
                    "--prf", "--prf-first=" + x, name="noprf-reg")
        p = phone(BIN, wd, wait_qr(d), relay.url, store3, "--yes", "--no-prf", name="noprf-phone")
        check(p.wait(60) == 0 and d.wait(60) == 0, "registration with a phone without prf failed:\n" + d.stderr())
        check(d.json()["clientExtensionResults"] == {"prf": {"enabled": False}},
              "no prf phone: %r" % d.json()["clientExtensionResults"])
        check("does not offer the PRF extension" in d.stderr(), "the desktop did not say the phone lacks prf")
        d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--prf-first=" + x, name="noprf-sign")
        p = phone(BIN, wd, wait_qr(d), relay.url, store3, "--yes", "--no-prf", name="noprf-phone2")
        check(p.wait(60) == 0 and d.wait(60) == 0, "sign-in with a phone without prf failed:\n" + d.stderr())
        check(d.json()["clientExtensionResults"] == {"prf": {}}, "no prf phone: %r" % d.json()["clientExtensionResults"])

        # CLI errors come before any QR code.
        for args, want in ((["--prf-second=" + y], "--prf-second needs --prf-first"),
                           (["--prf-first=" + x, "--prf-by-credential=%s:%s" % (b64(b"not allowed"), y)], "not in --allow"),
                           (["--prf-first=!!"], "base64url")):
            d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, *args, name="bad")
            check(d.wait(30) != 0 and want in d.stderr(), "%r -> an error saying %r:\n%s" % (args, want, d.stderr()))
    finally:
        relay.stop()
        wd.cleanup()


def test_library_example():
    """examples/desktop_sign_in (the library walk-through of docs/library.md) signs in through our
    phone and prints the credential and its PRF output for "example app key v1": the same bytes
    `hybridgate sign-in --prf-first` gets, and the credential `hybridgate register` made."""
    from hgtest import Proc, wait_for
    wd = Workdir("example")
    wd.env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/hybridgate/bus"  # automatic radio -> loopback
    relay = Relay(BIN, wd)
    try:
        store = wd.file("store.json")
        cred, _, _ = register(wd, relay, store, name="reg")
        qr_file = wd.file("example.qr")
        ex = Proc([os.path.join(BIN, "desktop_sign_in"), "--rp-id", RP, "--tunnel-url", relay.url,
                   "--qr-url-file", qr_file], wd, "example")
        wait_for(lambda: (os.path.exists(qr_file) and open(qr_file).read().strip()) or ex.proc.poll() is not None,
                 20, "the example's QR file")
        check(os.path.exists(qr_file), "the example exited before its QR code:\n" + ex.stderr())
        p = phone(BIN, wd, open(qr_file).read().strip(), relay.url, store, "--yes", name="example-phone")
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        check(ex.wait(60) == 0, "the example failed:\n" + ex.stderr())
        lines = dict(line.split(" ", 1) for line in ex.stdout().split("\n") if " " in line)
        check(lines.get("credential") == cred["id"], "the example signed in with %r, not %r" % (lines.get("credential"), cred["id"]))
        challenge = b64(os.urandom(32))
        d, _ = ceremony(wd, relay, "sign-in", store, ["--challenge=" + challenge, "--allow=" + cred["id"],
                                                      "--prf-first=" + b64(b"example app key v1")], name="cli")
        cli = d.json()["clientExtensionResults"]["prf"]["results"]["first"]
        want = base64.urlsafe_b64decode(cli + "=" * (-len(cli) % 4)).hex()
        check(lines.get("prf") == want, "the example's PRF output %r differs from the CLI's %s" % (lines.get("prf"), want))
    finally:
        relay.stop()
        wd.cleanup()


def test_choosing_among_several_accounts():
    """Two passkeys for one site on the phone, a sign-in without an allow list: `--user` picks the
    account without asking; without it the person picks from the list on the phone's terminal
    (a pseudo-terminal here). The verifier checks each assertion against that account's key."""
    import json
    import pty
    wd = Workdir("accounts")
    relay = Relay(BIN, wd)
    try:
        store = wd.file("store.json")
        _, alice, ra = register(wd, relay, store, user="alice", name="reg-alice")
        _, bob, rb = register(wd, relay, store, user="bob", name="reg-bob")
        for who, stored in (("alice", alice), ("bob", bob)):
            challenge = b64(os.urandom(32))
            d, p = ceremony(wd, relay, "sign-in", store, ["--challenge=" + challenge],
                            phone_args=("--yes", "--user", who), name="as-" + who)
            path = wd.file(who + "-stored.json")
            with open(path, "w") as f:
                json.dump(stored, f)
            rc, out, err = verify("authenticate", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge,
                                  stored=path, prev_sign_count=0)
            check(rc == 0 and out["credential_id"] == stored["credential_id"],
                  "--user %s signed in with another account: %s" % (who, err or out))
        # Interactively: the list, newest first (bob, alice); the person types 2.
        challenge = b64(os.urandom(32))
        d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--challenge=" + challenge,
                    name="pick-desktop")
        master, slave = pty.openpty()
        p = phone(BIN, wd, wait_qr(d), relay.url, store, name="pick-phone", stdin=slave)
        os.close(slave)
        wait_for(lambda: "Sign in as [1-2" in p.stderr() or p.proc.poll() is not None, 30, "the account list")
        listed = p.stderr()
        check(listed.index("1) bob") < listed.index("2) alice"), "the accounts are not listed newest first:\n" + listed)
        os.write(master, b"2\n")
        wait_for(lambda: "Allow? [y/N]" in p.stderr() or p.proc.poll() is not None, 30, "the confirmation")
        os.write(master, b"y\n")
        check(p.wait(60) == 0 and d.wait(60) == 0, "the interactive sign-in failed:\n" + p.stderr() + d.stderr())
        os.close(master)
        check(d.json()["id"] == alice["credential_id"], "picked 2 (alice) but signed in as another account")
    finally:
        relay.stop()
        wd.cleanup()


def test_configuration_file_and_environment():
    """The desktop commands take their settings from the shared configuration (config file +
    HYBRIDGATE_* variables) when no flag gives them; a mistake in it is refused with config.invalid."""
    import subprocess
    wd = Workdir("config")
    relay = Relay(BIN, wd)
    try:
        qr_file = wd.file("qr-from-config")
        conf = wd.file("hybridgate.conf")
        with open(conf, "w") as f:
            f.write('radio = "bluez"\nqr_url_file = "qr-from-config"\nadvert_timeout = 30\n')
        env = dict(wd.env, HYBRIDGATE_CONFIG=conf, HYBRIDGATE_TUNNEL_URL=relay.url, HYBRIDGATE_RADIO="loopback")
        challenge = b64(os.urandom(32))
        argv = [os.path.join(BIN, "hybridgate"), "register", "--rp-id", RP, "--origin", ORIGIN, "--user-name",
                "carol", "--challenge=" + challenge, "--no-terminal-qr"]
        out, err = open(wd.file("d.out"), "w"), open(wd.file("d.err"), "w")
        d = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        wait_for(lambda: os.path.exists(qr_file) or d.poll() is not None, 20, "the QR URL file named in the config")
        check(os.path.exists(qr_file), "no QR URL file: " + open(wd.file("d.err")).read())
        check(oct(os.stat(qr_file).st_mode & 0o777) == "0o600", "the QR URL file is not mode 0600")
        p = phone(BIN, wd, open(qr_file).read().strip(), relay.url, wd.file("store.json"), "--yes")
        check(p.wait(60) == 0, "phone failed:\n" + p.stderr())
        check(d.wait(60) == 0, "desktop failed:\n" + open(wd.file("d.err")).read())
        out.close()
        cred = __import__("json").load(open(wd.file("d.out")))
        rc, _, verr = verify("register", cred, rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the verifier rejected the registration: " + verr)

        # Mistakes: an unknown key in the file, a bad HYBRIDGATE_RADIO, a named file that is missing.
        for conf_text, extra_env, what in (('tunnel_uri = "ws://x"\n', {}, "unknown key 'tunnel_uri'"),
                                           ("", {"HYBRIDGATE_RADIO": "carrier-pigeon"}, "HYBRIDGATE_RADIO"),
                                           (None, {}, "no such file")):
            if conf_text is None:
                os.unlink(conf)
            else:
                with open(conf, "w") as f:
                    f.write(conf_text)
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=dict(env, **extra_env))
            check(r.returncode != 0, "a bad configuration was accepted (%s)" % what)
            check("config.invalid" in r.stderr and what in r.stderr,
                  "the refusal does not say what is wrong (%s):\n%s" % (what, r.stderr))
    finally:
        relay.stop()
        wd.cleanup()


TESTS = [test_register_and_sign_in_over_the_bluez_double, test_register_then_sign_in_twice, test_packed_attestation_registration,
         test_sign_in_with_unknown_credential_reports_no_credentials, test_person_denies_on_the_phone, test_prf_extension,
         test_library_example, test_choosing_among_several_accounts,
         test_configuration_file_and_environment]


if __name__ == "__main__":
    run_selected(TESTS, sys.argv[2] if len(sys.argv) > 2 else None)
