#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Failure paths of a QR ceremony; each asserts the error code a person or program would see.

usage: test_failures.py BIN_DIR [TEST_NAME]"""

import os
import sys
import time

from hgtest import (PYTHON, HERE, Proc, Relay, Workdir, check, desktop, phone, run_selected, wait_for, wait_qr)

BIN = sys.argv[1]
RP_ARGS = ("--rp-id", "example.com", "--origin", "https://example.com", "--user-name", "carol")
FAKE = os.path.join(HERE, "fake_peers.py")


def error_code(p):
    return p.json().get("error", {}).get("code")


def test_phone_quits_mid_handshake():
    wd = Workdir("quit")
    relay = Relay(BIN, wd)
    try:
        d = desktop(BIN, wd, "register", relay.url, *RP_ARGS)
        url = wait_qr(d)
        fake = Proc([PYTHON, FAKE, "phone", "--qr", url, "--relay", relay.url, "--radio", wd.radio], wd, "fake-phone")
        rc = fake.wait(30)
        quit_at = time.monotonic()
        check(rc == 3, "the fake phone did not get message 1 and quit: %d\n%s" % (rc, fake.stderr()))
        check(d.wait(10) != 0, "the desktop succeeded without a phone")
        reported_after = time.monotonic() - quit_at
        check(error_code(d) == "session.phone_closed", "unexpected error: %s" % d.stdout())
        check(reported_after < 1.0, "the desktop took %.2fs to notice the phone left" % reported_after)
    finally:
        relay.stop()
        wd.cleanup()


def test_stale_qr_times_out_with_no_matching_advert():
    wd = Workdir("stale")
    relay = Relay(BIN, wd)
    try:
        old = desktop(BIN, wd, "register", relay.url, *RP_ARGS, name="old-desktop", advert_timeout=30)
        stale_url = wait_qr(old)
        old.kill()
        old.wait(10)
        d = desktop(BIN, wd, "register", relay.url, *RP_ARGS, advert_timeout=3)
        wait_qr(d)
        # The phone scanned the old QR: it opens a tunnel and advertises, but for the old secret.
        p = phone(BIN, wd, stale_url, relay.url, wd.file("store.json"), "--yes", "--desktop-timeout", "10")
        wait_for(lambda: "advertising" in p.stderr() or p.proc.poll() is not None, 20, "the phone to advertise")
        check(d.wait(30) != 0, "the desktop matched a stale QR's advert")
        check(error_code(d) == "session.no_advert", "unexpected error: %s" % d.stdout())
        check("scan the current QR code" in d.json()["error"]["message"], "the message gives no fix")
        p.kill()
    finally:
        relay.stop()
        wd.cleanup()


def test_relay_down_phone_reports_tunnel_unreachable():
    wd = Workdir("down")
    relay = Relay(BIN, wd)
    dead_url = relay.url
    relay.stop()  # nothing listens on this port any more
    try:
        d = desktop(BIN, wd, "register", dead_url, *RP_ARGS, advert_timeout=30)
        url = wait_qr(d)
        p = phone(BIN, wd, url, dead_url, wd.file("store.json"), "--yes")
        check(p.wait(30) != 0, "the phone succeeded without a relay")
        check(error_code(p) == "tunnel.unreachable", "unexpected error: %s" % p.stdout())
        d.kill()
    finally:
        wd.cleanup()


def test_relay_down_desktop_reports_tunnel_unreachable():
    # The phone's tunnel is on a live relay, but the desktop's tunnel server is down.
    wd = Workdir("down2")
    live = Relay(BIN, wd)
    dead = Relay(BIN, wd)
    dead_url = dead.url
    dead.stop()
    try:
        d = desktop(BIN, wd, "register", dead_url, *RP_ARGS, advert_timeout=30)
        url = wait_qr(d)
        p = phone(BIN, wd, url, live.url, wd.file("store.json"), "--yes", "--desktop-timeout", "20")
        check(d.wait(30) != 0, "the desktop succeeded without a relay")
        check(error_code(d) == "tunnel.unreachable", "unexpected error: %s" % d.stdout())
        p.kill()
    finally:
        live.stop()
        wd.cleanup()


def run_through_tampering_relay(tamper_message, expected_code):
    """A ceremony through a relay that flips one bit of the phone's N-th message to the desktop."""
    wd = Workdir("tamper%d" % tamper_message)
    port_file = wd.file("evil.port")
    evil = Proc([PYTHON, FAKE, "relay", "--port-file", port_file, "--tamper-phone-message", str(tamper_message)],
                wd, "evil-relay")
    try:
        wait_for(lambda: os.path.exists(port_file), 20, "the tampering relay")
        url = "ws://127.0.0.1:" + open(port_file).read().strip()
        d = desktop(BIN, wd, "register", url, *RP_ARGS)
        p = phone(BIN, wd, wait_qr(d), url, wd.file("store.json"), "--yes", "--desktop-timeout", "20")
        drc = d.wait(30)
        check(drc == 1, "the desktop should fail with exit 1 (not crash): %d\n%s" % (drc, d.stderr()))
        check(error_code(d) == expected_code, "unexpected error: %s" % d.stdout())
        prc = p.wait(30)
        check(prc in (0, 1), "the phone crashed: %d\n%s" % (prc, p.stderr()))
    finally:
        evil.kill()
        wd.cleanup()


def test_tampered_crypter_frame_is_rejected():
    run_through_tampering_relay(2, "crypter.decrypt")  # the post-handshake message


def test_tampered_handshake_is_rejected():
    run_through_tampering_relay(1, "session.handshake")  # Noise message 2


def test_ctrl_c_cancels_the_desktop():
    """SIGINT while the QR code is shown, and again while the phone asks its person on a terminal
    (a pseudo-terminal here): the desktop stops at once with session.cancelled and exit status 130;
    the phone takes its prompt down, creates nothing and exits with a named error, and a "y" typed
    afterwards changes nothing."""
    import json
    import pty
    import signal
    wd = Workdir("sigint")
    relay = Relay(BIN, wd)
    try:
        d = desktop(BIN, wd, "register", relay.url, *RP_ARGS, name="qr-shown")
        wait_qr(d)
        sent = time.monotonic()
        d.proc.send_signal(signal.SIGINT)
        check(d.wait(10) == 130, "Ctrl-C while the QR code is shown: exit %s, not 130\n%s" % (d.proc.returncode, d.stderr()))
        check(time.monotonic() - sent < 5, "the desktop took %.1fs to stop" % (time.monotonic() - sent))
        check(error_code(d) == "session.cancelled", "unexpected error: %s" % d.stdout())

        store = wd.file("store.json")
        d = desktop(BIN, wd, "register", relay.url, *RP_ARGS, name="asking")
        master, slave = pty.openpty()
        p = phone(BIN, wd, wait_qr(d), relay.url, store, name="asking-phone", stdin=slave)
        os.close(slave)
        wait_for(lambda: "Allow? [y/N]" in p.stderr() or p.proc.poll() is not None, 20, "the phone's prompt")
        wait_for(lambda: "waiting_for_user" in d.stderr() or d.proc.poll() is not None, 20, "the desktop to wait")
        sent = time.monotonic()
        d.proc.send_signal(signal.SIGINT)
        check(d.wait(10) == 130, "Ctrl-C while the phone asks: exit %s, not 130\n%s" % (d.proc.returncode, d.stderr()))
        check(time.monotonic() - sent < 5, "the desktop took %.1fs to stop" % (time.monotonic() - sent))
        check(error_code(d) == "session.cancelled", "unexpected error: %s" % d.stdout())
        rc = p.wait(10)  # raises if the phone keeps prompting
        os.write(master, b"y\n")  # too late: nothing may come of it
        os.close(master)
        check(rc != 0, "the phone reported success for a desktop that went away")
        check(error_code(p) in ("tunnel.closed", "session.cancelled"), "the phone's error: %s" % p.stdout())
        check("request was withdrawn" in p.stderr(), "the prompt was not taken down:\n" + p.stderr())
        with open(store) as f:
            creds = json.load(f)["credentials"]
        check(creds == [], "a passkey was created for a desktop that went away: %r" % creds)
    finally:
        relay.stop()
        wd.cleanup()


def test_wrong_origin_is_refused_before_any_qr_code():
    """Origin / RP ID pairs a browser refuses: the CLI names the error and exits before it shows a
    QR code, touches the radio or dials the (here dead) tunnel server."""
    wd = Workdir("origin")
    try:
        dead = "ws://127.0.0.1:9"  # discard port: nothing listens
        cases = [("register", "example.com", "https://evil.org", "rp_id.mismatch"),
                 ("register", "com", "https://example.com", "rp_id.public_suffix"),
                 ("sign-in", "example.com", "http://example.com", "origin.insecure"),
                 ("sign-in", "github.io", "https://alice.github.io", "rp_id.public_suffix"),
                 ("sign-in", "127.0.0.1", "https://127.0.0.1", "rp_id.invalid"),
                 ("sign-in", "example.com", "https://example.com/login", "origin.invalid")]
        for i, (cmd, rp, origin, want) in enumerate(cases):
            extra = ("--user-name", "carol") if cmd == "register" else ()
            d = desktop(BIN, wd, cmd, dead, "--rp-id", rp, "--origin", origin, *extra, name="o%d" % i)
            check(d.wait(10) == 1, "%s %s: exit %s" % (rp, origin, d.proc.returncode))
            check(error_code(d) == want, "%s %s: %s, not %s" % (rp, origin, d.stdout(), want))
            check(not os.path.exists(d.qr_file), "%s %s: a QR code was shown" % (rp, origin))
            check("scanning" not in d.stderr(), "%s %s: the radio was used" % (rp, origin))
        check(os.listdir(wd.radio) == [], "the loopback radio was touched: %r" % os.listdir(wd.radio))
    finally:
        wd.cleanup()


def test_qr_outputs_are_private_and_bounded():
    """The QR code's secret: --qr-url-file and --qr-png are mode 0600 and hold the same URL
    (the PNG read back by zbarimg), --print-qr-url prints it, --dark-on-light inverts the
    terminal drawing; `phone --qr-file -` reads the URL from standard input and refuses an
    endless input instead of growing without bound."""
    import subprocess
    wd = Workdir("qrfiles")
    relay = Relay(BIN, wd)
    try:
        png = wd.file("qr.png")
        runs = {}
        for name, extra in (("light", ()), ("dark", ("--dark-on-light",))):
            argv = [os.path.join(BIN, "hybridgate"), "register", "--radio", "loopback", "--tunnel-url", relay.url,
                    "--qr-url-file", wd.file(name + ".qr"), "--qr-png", png, "--print-qr-url", *extra, *RP_ARGS]
            d = Proc(argv, wd, name)
            wait_for(lambda: os.path.exists(wd.file(name + ".qr")) or d.proc.poll() is not None, 20, "the QR file")
            wait_for(lambda: "Scan this QR code" in d.stderr() or d.proc.poll() is not None, 20, "the terminal QR")
            url = open(wd.file(name + ".qr")).read().strip()
            for f in (wd.file(name + ".qr"), png):
                mode = os.stat(f).st_mode & 0o777
                check(mode == 0o600, "%s has mode %o" % (f, mode))
            check(url.startswith("FIDO:/") and url in d.stderr(), "--print-qr-url did not print the URL")
            z = subprocess.run(["zbarimg", "--raw", "-q", png], capture_output=True, text=True, timeout=30)
            check(z.stdout.strip() == url, "the PNG decodes to %r, not the URL" % z.stdout.strip())
            runs[name] = d.stderr()
            d.kill()
            d.wait(10)
        light = [l for l in runs["light"].splitlines() if "\u2588" in l or "\u2580" in l or "\u2584" in l]
        dark = [l for l in runs["dark"].splitlines() if "\u2588" in l or "\u2580" in l or "\u2584" in l]
        check(light and dark and light != dark, "--dark-on-light drew the same terminal QR code")

        d = desktop(BIN, wd, "register", relay.url, *RP_ARGS, name="stdin-desktop")
        url = wait_qr(d)
        p = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", relay.url,
                  "--qr-file", "-", "--store", wd.file("store.json"), "--yes"], wd, "stdin-phone", stdin=subprocess.PIPE)
        p.proc.stdin.write((url + "\n").encode())
        p.proc.stdin.close()
        check(p.wait(60) == 0 and d.wait(60) == 0, "a QR URL on standard input failed:\n" + p.stderr() + d.stderr())
        with open("/dev/zero", "rb") as zero:
            p = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", relay.url,
                      "--qr-file", "-", "--store", wd.file("store.json")], wd, "zero-phone", stdin=zero)
            check(p.wait(20) == 1, "an endless standard input was not refused")
        check("too large" in p.stderr(), "unexpected error:\n" + p.stderr())
    finally:
        relay.stop()
        wd.cleanup()


def test_misbehaving_relays_are_reported_as_what_they_did():
    """Against a relay that stalls, answers 200, hangs up, or sends a close frame and keeps TCP
    open, the phone reports what the relay did, each within a bound (not the whole deadline)."""
    wd = Workdir("badrelay")
    try:
        qr_desktop = None
        for mode, want_code, want_text, bound in (
                ("stall", "tunnel.unreachable", "did not answer the WebSocket upgrade within 2 s", 10),
                ("status200", "tunnel.refused", "HTTP 200 OK instead of 101", 5),
                ("hangup", "tunnel.unreachable", "closed the connection without answering", 5),
                ("close-no-fin", "tunnel.closed", "close 1000", 10)):
            port_file = wd.file(mode + ".port")
            relay = Proc([PYTHON, os.path.join(HERE, "bad_relay.py"), mode, port_file], wd, "relay-" + mode)
            try:
                wait_for(lambda: os.path.exists(port_file), 20, "the fake relay")
                url = "ws://127.0.0.1:" + open(port_file).read().strip()
                if qr_desktop is None:  # any valid QR code will do: the phone never gets past the relay
                    qr_desktop = desktop(BIN, wd, "register", url, *RP_ARGS, name="qr-source", advert_timeout=120)
                    qr_url = wait_qr(qr_desktop)
                start = time.monotonic()
                p = phone(BIN, wd, qr_url, url, wd.file("store.json"), "--yes", "--connect-timeout", "2",
                          "--desktop-timeout", "60", name="phone-" + mode)
                rc = p.wait(bound + 20)
                took = time.monotonic() - start
                check(rc == 1, "%s: the phone exited %s" % (mode, rc))
                err = p.json()["error"]
                check(err["code"] == want_code and want_text in err["message"],
                      "%s: %s, not %s %r" % (mode, err, want_code, want_text))
                check(took < bound, "%s: the phone took %.1fs to give up" % (mode, took))
            finally:
                relay.kill()
                relay.wait(10)
        qr_desktop.kill()
    finally:
        wd.cleanup()


TESTS = [test_phone_quits_mid_handshake, test_stale_qr_times_out_with_no_matching_advert,
         test_relay_down_phone_reports_tunnel_unreachable, test_relay_down_desktop_reports_tunnel_unreachable,
         test_tampered_crypter_frame_is_rejected, test_tampered_handshake_is_rejected, test_ctrl_c_cancels_the_desktop,
         test_wrong_origin_is_refused_before_any_qr_code, test_qr_outputs_are_private_and_bounded,
         test_misbehaving_relays_are_reported_as_what_they_did]

if __name__ == "__main__":
    run_selected(TESTS, sys.argv[2] if len(sys.argv) > 2 else None)
