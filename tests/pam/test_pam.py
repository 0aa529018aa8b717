#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""pam_hybridgate.so through the real PAM stack: Debian's pamtester under libpam-wrapper (the PAM
configuration comes from a test directory; nothing is written to /etc/pam.d), with a real relay
and `hybridgate phone` on the loopback radio. The verdicts are pamtester's (pam_strerror
sentences); what enrolment stored is checked independently (python3-fido2 + python3-cryptography
against the phone's own key), and a public key the test makes itself must be refused.

usage: test_pam.py BIN_DIR PAM_MODULE [TEST_NAME]"""

import base64
import ctypes
import json
import os
import pwd
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from hgtest import Proc, Relay, Workdir, check, run_tests, wait_for  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from fido2 import cbor  # noqa: E402
from fido2.cose import CoseKey  # noqa: E402

BIN, MODULE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
HG = os.path.join(BIN, "hybridgate")
USER = pwd.getpwuid(os.getuid()).pw_name
PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
RP = "pam:test"


def pam_strerror(code):
    """The sentence pamtester prints for a PAM result, from libpam itself (pam_strerror)."""
    lib = ctypes.CDLL("libpam.so.0")
    lib.pam_strerror.restype = ctypes.c_char_p
    lib.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib.pam_strerror(None, code).decode()


# Linux-PAM's result codes (security/_pam_types.h).
SUCCESS = "successfully authenticated"  # pamtester's own line for PAM_SUCCESS
AUTH_ERR = pam_strerror(7)  # PAM_AUTH_ERR
AUTHINFO_UNAVAIL = pam_strerror(9)  # PAM_AUTHINFO_UNAVAIL
USER_UNKNOWN = pam_strerror(10)  # PAM_USER_UNKNOWN
SCAN = "Scan this QR code with your phone"


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def pam_wrapper_path():
    out = subprocess.run(["dpkg", "-L", "libpam-wrapper"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.endswith("/libpam_wrapper.so"):
            return line
    return PAM_WRAPPER


def authfile_lines(path):
    with open(path) as f:
        return [l for l in f.read().splitlines() if l and not l.startswith("#")]


def parse_line(line):
    user, rest = line.split(":", 1)
    fields = rest.split(",")
    return {"user": user, "id": fields[0], "key": fields[1], "counter": int(fields[2]),
            "flags": fields[3] if len(fields) > 3 else ""}


def phone_credentials(store):
    with open(store) as f:
        return json.load(f)["credentials"]


class _WithEnv:
    """A Workdir seen with another environment (Proc takes its environment from its workdir)."""

    def __init__(self, wd, env):
        self.file = wd.file
        self.env = env


class Setup:
    """A relay, a work directory, an authfile and the PAM configuration directory."""

    def __init__(self, name):
        self.wd = Workdir("pam-" + name)
        self.relay = Relay(BIN, self.wd)
        self.authfile = self.wd.file("pam_keys")
        self.store = self.wd.file("store.json")
        self.pamdir = self.wd.file("pam.d")
        os.mkdir(self.pamdir, 0o700)
        with open(os.path.join(self.pamdir, "other"), "w") as f:
            f.write("auth required pam_deny.so\naccount required pam_deny.so\n")
        self.runs = 0

    def stop(self):
        self.relay.stop()
        self.wd.cleanup()

    def args(self, *extra, timeout=30):
        return ["authfile=" + self.authfile, "rp_id=" + RP, "tunnel_url=" + self.relay.url, "radio=loopback",
                "qr_url_file=" + self.wd.file("pam.qr"), "timeout=%d" % timeout, *extra]

    def service(self, name, *lines):
        with open(os.path.join(self.pamdir, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        return name

    def enroll(self, *extra, phone_args=()):
        qr = self.wd.file("enroll.qr")
        if os.path.exists(qr):
            os.unlink(qr)
        e = Proc([HG, "pam", "enroll", "--authfile", self.authfile, "--rp-id", RP, "--radio", "loopback",
                  "--tunnel-url", self.relay.url, "--qr-url-file", qr, "--no-terminal-qr", "--advert-timeout", "30",
                  *extra], self.wd, "enroll")
        wait_for(lambda: os.path.exists(qr) or e.proc.poll() is not None, 30, "the enrolment's QR file")
        check(os.path.exists(qr), "enrol exited before showing a QR code:\n" + e.stderr())
        p = Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", self.relay.url, "--qr-file", qr,
                  "--store", self.store, "--yes", *phone_args], self.wd, "enroll-phone")
        check(p.wait(60) == 0, "the phone failed during enrolment:\n" + p.stderr())
        check(e.wait(60) == 0, "hybridgate pam enroll failed:\n" + e.stderr() + e.stdout())
        return e.json()

    def pamtester(self, service, user=USER):
        """Starts pamtester (libpam-wrapper: the service files come from self.pamdir)."""
        self.runs += 1
        qr = self.wd.file("pam.qr")
        if os.path.exists(qr):
            os.unlink(qr)
        env = dict(self.wd.env)
        # An ASan build's module needs the sanitizer runtime loaded first (HG_PAM_PRELOAD, from CTest).
        preload = [p for p in (os.environ.get("HG_PAM_PRELOAD", ""), pam_wrapper_path()) if p]
        env.update({"LD_PRELOAD": " ".join(preload), "PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": self.pamdir,
                    "HYBRIDGATE_RADIO": "loopback"})
        if os.environ.get("HG_PAM_PRELOAD"):
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        env.pop("HYBRIDGATE_PHONE", None)
        p = Proc(["pamtester", "-v", service, user, "authenticate"], _WithEnv(self.wd, env), "pamtester-%d" % self.runs)
        p.qr_file = qr
        return p

    def answer_qr(self, pt, *phone_args, stdin=subprocess.DEVNULL, name="phone"):
        """Waits for the module's QR code and lets the phone scan it."""
        wait_for(lambda: os.path.exists(pt.qr_file) or pt.proc.poll() is not None, 30, "the module's QR file")
        check(os.path.exists(pt.qr_file), "pamtester ended before a QR code:\n" + pt.stdout() + pt.stderr())
        return Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", self.relay.url, "--qr-file", pt.qr_file,
                     "--store", self.store, *phone_args], self.wd, name, stdin=stdin)


def verdict(pt, timeout=90):
    pt.wait(timeout)
    return pt.stdout() + pt.stderr()


def sign_in_with_qr(s, *module_extra):
    svc = s.service("hg-qr", "auth required %s %s" % (MODULE, " ".join(s.args(*module_extra))))
    pt = s.pamtester(svc)
    ph = s.answer_qr(pt, "--yes")
    out = verdict(pt)
    ph.wait(60)
    return out, ph


# ---- tests ---------------------------------------------------------------------------------------

def test_enrolment_stores_the_phones_key():
    """What `pam enroll` appends is the phone's credential: the same ID, the public key of the
    private key the phone keeps (derived here with python3-cryptography, compared with the COSE key
    decoded by python3-fido2), counter 0; the file is mode 0600."""
    s = Setup("enrol")
    try:
        out = s.enroll()
        check(out["user"] == USER and out["rp_id"] == RP, "enrol printed %s" % out)
        check(oct(os.stat(s.authfile).st_mode & 0o777) == "0o600", "the authfile is not mode 0600")
        lines = authfile_lines(s.authfile)
        check(len(lines) == 1, "authfile lines: %s" % lines)
        line = parse_line(lines[0])
        creds = phone_credentials(s.store)
        check(len(creds) == 1 and creds[0]["rp_id"] == RP, "the phone stored %s" % creds)
        check(line["user"] == USER and line["id"] == creds[0]["id"], "the authfile names another credential")
        check(line["counter"] == creds[0]["sign_count"] == 0, "counter %d" % line["counter"])
        key = CoseKey.parse(cbor.decode(b64d(line["key"])))
        check(key.ALGORITHM == -7, "not an ES256 key: %r" % key)
        priv = ec.derive_private_key(int.from_bytes(b64d(creds[0]["private_key"]), "big"), ec.SECP256R1())
        nums = priv.public_key().public_numbers()
        check(key[-2] == nums.x.to_bytes(32, "big") and key[-3] == nums.y.to_bytes(32, "big"),
              "the stored public key is not the phone's")
        # The same phone again: its credential is excluded, the file keeps one line.
        qr = s.wd.file("enroll.qr")
        check(not os.path.exists(qr), "the QR URL file outlived the enrolment")
        e = Proc([HG, "pam", "enroll", "--authfile", s.authfile, "--rp-id", RP, "--radio", "loopback",
                  "--tunnel-url", s.relay.url, "--qr-url-file", qr, "--no-terminal-qr"], s.wd, "enroll-again")
        wait_for(lambda: os.path.exists(qr) or e.proc.poll() is not None, 30, "the second QR file")
        p = Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", s.relay.url, "--qr-file", qr,
                  "--store", s.store, "--yes"], s.wd, "enroll-again-phone")
        p.wait(60)
        check(e.wait(60) != 0, "the same phone was enrolled twice")
        check(e.json()["error"]["code"] == "ctap.credential_excluded", "error: %s" % e.stdout())
        check(len(authfile_lines(s.authfile)) == 1, "a second line was written")
    finally:
        s.stop()


def test_qr_sign_in_succeeds_and_counts():
    s = Setup("qr")
    try:
        s.enroll()
        out, ph = sign_in_with_qr(s)
        check(SUCCESS in out, "pamtester did not authenticate:\n" + out + "\nphone:\n" + ph.stderr())
        check(SCAN in out and any(ch in out for ch in "\u2580\u2584\u2588"),
              "no QR code drawn in the conversation:\n" + out)
        check("FIDO:/" not in out, "the QR URL leaked into the conversation text")
        phone_count = phone_credentials(s.store)[0]["sign_count"]
        stored = parse_line(authfile_lines(s.authfile)[0])["counter"]
        check(phone_count == 1 and stored == phone_count, "counter: authfile %d, phone %d" % (stored, phone_count))
        check(oct(os.stat(s.authfile).st_mode & 0o777) == "0o600", "the counter update changed the mode")
        out, ph = sign_in_with_qr(s)
        check(SUCCESS in out, "the second sign-in failed:\n" + out)
        check(parse_line(authfile_lines(s.authfile)[0])["counter"] == 2, "the counter did not rise to 2")
    finally:
        s.stop()


def test_person_denies_on_the_phone():
    s = Setup("deny")
    try:
        s.enroll()
        svc = s.service("hg-deny", "auth required %s %s" % (MODULE, " ".join(s.args("debug"))))
        pt = s.pamtester(svc)
        no = open(s.wd.file("no.txt"), "w+")
        no.write("n\n")
        no.flush()
        no.seek(0)
        ph = s.answer_qr(pt, stdin=no)
        out = verdict(pt)
        ph.wait(60)
        check(AUTH_ERR in out and SUCCESS not in out, "a refusal on the phone did not fail:\n" + out)
        check("ctap.operation_denied" in out, "the debug output does not say the phone refused:\n" + out)
        check(parse_line(authfile_lines(s.authfile)[0])["counter"] == 0, "the counter moved")
    finally:
        s.stop()


def test_wrong_public_key_is_refused():
    """The authfile's key replaced by one the test made: the phone's signature must not verify."""
    s = Setup("wrongkey")
    try:
        s.enroll()
        line = parse_line(authfile_lines(s.authfile)[0])
        other = CoseKey.for_alg(-7).from_cryptography_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        with open(s.authfile, "w") as f:
            f.write("%s:%s,%s,%d\n" % (USER, line["id"], b64e(cbor.encode(dict(other))), line["counter"]))
        os.chmod(s.authfile, 0o600)
        out, _ = sign_in_with_qr(s, "debug")
        check(AUTH_ERR in out and SUCCESS not in out, "a wrong key authenticated:\n" + out)
        check("signature does not verify" in out, "the debug output does not name the signature:\n" + out)
    finally:
        s.stop()


def test_counter_regression_is_refused():
    """A stored counter above the phone's (as after a clone signed elsewhere) is a refusal, and the
    stored counter stays."""
    s = Setup("counter")
    try:
        s.enroll()
        line = parse_line(authfile_lines(s.authfile)[0])
        with open(s.authfile, "w") as f:
            f.write("%s:%s,%s,%d,%s\n" % (USER, line["id"], line["key"], 1000, line["flags"]))
        out, _ = sign_in_with_qr(s, "debug")
        check(AUTH_ERR in out and SUCCESS not in out, "a falling counter authenticated:\n" + out)
        check("counter did not rise" in out, "the debug output does not name the counter:\n" + out)
        check(phone_credentials(s.store)[0]["sign_count"] == 1, "the phone did not sign once")
        check(parse_line(authfile_lines(s.authfile)[0])["counter"] == 1000, "the stored counter changed")
    finally:
        s.stop()


def test_relay_down_is_unavailable_and_the_next_module_decides():
    s = Setup("down")
    try:
        s.enroll()
        s.relay.stop()  # nothing listens at the relay's address any more
        for next_module, expected in (("pam_permit.so", SUCCESS), ("pam_deny.so", AUTH_ERR)):
            svc = s.service("hg-down", "auth [success=done authinfo_unavail=ignore default=die] %s %s" %
                            (MODULE, " ".join(s.args(timeout=3))), "auth required " + next_module)
            pt = s.pamtester(svc)
            ph = s.answer_qr(pt, "--yes", name="down-phone")  # it cannot reach the relay either
            out = verdict(pt, 60)
            check(ph.wait(60) != 0, "the phone reached a stopped relay")
            check(expected in out, "with %s next: expected %r:\n%s" % (next_module, expected, out))
        svc = s.service("hg-down-alone", "auth required %s %s" % (MODULE, " ".join(s.args(timeout=3))))
        pt = s.pamtester(svc)
        out = verdict(pt, 60)
        check(AUTHINFO_UNAVAIL in out, "alone, the module did not report PAM_AUTHINFO_UNAVAIL:\n" + out)
    finally:
        s.stop()


def test_unsafe_authfile_is_refused():
    """An authfile others can write, or a symlink, is refused before any phone is asked."""
    s = Setup("perm")
    try:
        s.enroll()
        before = open(s.authfile).read()
        svc = s.service("hg-perm", "auth required %s %s" % (MODULE, " ".join(s.args("debug"))))
        os.chmod(s.authfile, 0o666)
        pt = s.pamtester(svc)
        out = verdict(pt, 60)
        check(AUTH_ERR in out and SUCCESS not in out, "a world-writable authfile was used:\n" + out)
        check("mode 0666" in out, "the debug output does not name the mode:\n" + out)
        check(not os.path.exists(pt.qr_file) and SCAN not in out, "a QR code was shown for an unsafe authfile")
        os.chmod(s.authfile, 0o600)
        real = s.wd.file("real_keys")
        os.rename(s.authfile, real)
        os.symlink(real, s.authfile)
        # Without debug: the reason goes to the system log only (libpam_wrapper shows pam_syslog's
        # LOG_ERR lines on stderr).
        quiet = s.service("hg-perm-quiet", "auth required %s %s" % (MODULE, " ".join(s.args())))
        pt = s.pamtester(quiet)
        out = verdict(pt, 60)
        check(AUTH_ERR in out and SUCCESS not in out, "a symlinked authfile was used:\n" + out)
        check("refusing the authfile" in pt.stderr() and "symbolic links" in pt.stderr(),
              "no log line names the symlink:\n" + pt.stderr())
        check("hybridgate debug" not in pt.stdout(), "without debug, the person was told the details")
        check(not os.path.exists(pt.qr_file), "a QR code was shown for a symlinked authfile")
        check(open(real).read() == before, "the refused authfile changed")
    finally:
        s.stop()


def test_user_without_enrolment():
    s = Setup("nouser")
    try:
        with open(s.authfile, "w") as f:
            f.write("# nobody enrolled\n")
        os.chmod(s.authfile, 0o600)
        svc = s.service("hg-nouser", "auth required %s %s" % (MODULE, " ".join(s.args())))
        out = verdict(s.pamtester(svc), 60)
        check(USER_UNKNOWN in out, "without nouserok: expected PAM_USER_UNKNOWN:\n" + out)
        # nouserok: PAM_IGNORE, so the next module alone decides.
        for next_module, expected in (("pam_permit.so", SUCCESS), ("pam_deny.so", AUTH_ERR)):
            svc = s.service("hg-nouserok", "auth sufficient %s %s" % (MODULE, " ".join(s.args("nouserok"))),
                            "auth required " + next_module)
            out = verdict(s.pamtester(svc), 60)
            check(expected in out, "nouserok with %s next: expected %r:\n%s" % (next_module, expected, out))
            check(SCAN not in out, "a QR code was shown for a user without enrolment")
    finally:
        s.stop()


def test_option_typo_is_told_with_debug():
    """A typo in the module's options (uv_required for uv) fails with PAM_SERVICE_ERR before any QR
    code; with `debug` in the line (after the typo, too) the person is told which option it is,
    not only the system log; without `debug` the conversation stays quiet."""
    s = Setup("typo")
    try:
        with open(s.authfile, "w") as f:
            f.write("# nobody enrolled\n")
        os.chmod(s.authfile, 0o600)
        service_err = pam_strerror(3)  # PAM_SERVICE_ERR
        svc = s.service("hg-typo-debug", "auth required %s %s" % (MODULE, " ".join(s.args("uv_required", "debug"))))
        out = verdict(s.pamtester(svc), 60)
        check(service_err in out, "expected PAM_SERVICE_ERR:\n" + out)
        # The conversation's line (PAM_TEXT_INFO), not pam_wrapper's copy of the syslog line.
        check("hybridgate debug: unknown option 'uv_required'" in out, "debug does not tell the person the typo:\n" + out)
        check(SCAN not in out, "a QR code was shown despite the bad option")
        svc = s.service("hg-typo", "auth required %s %s" % (MODULE, " ".join(s.args("uv_required"))))
        out = verdict(s.pamtester(svc), 60)
        check(service_err in out and "hybridgate debug" not in out, "without debug:\n" + out)
    finally:
        s.stop()


def test_linked_phone_signs_in_without_qr():
    s = Setup("linked")
    try:
        links = s.wd.file("links.json")
        s.enroll("--link-phone", "--links", links,
                 phone_args=("--link", "--phone-name", "TestPhone", "--link-state", s.wd.file("phone.link")))
        check(os.path.exists(links), "enrolment with --link-phone remembered no phone")
        listener = Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", s.relay.url, "--store", s.store,
                         "--link-state", s.wd.file("phone.link"), "--yes", "--listen", "--once"], s.wd, "listener")
        wait_for(lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None, 20,
                 "the phone's listen connection")
        check(listener.proc.poll() is None, "the listener exited:\n" + listener.stderr())
        svc = s.service("hg-linked", "auth required %s %s" % (
            MODULE, " ".join(s.args("phone=TestPhone", "links=" + links))))
        pt = s.pamtester(svc)
        out = verdict(pt)
        check(listener.wait(60) == 0, "the phone's linked session failed:\n" + listener.stderr())
        check(SUCCESS in out, "the linked phone did not authenticate:\n" + out + "\nphone:\n" + listener.stderr())
        check(SCAN not in out and not os.path.exists(pt.qr_file), "a QR code was shown for a remembered phone")
        check(parse_line(authfile_lines(s.authfile)[0])["counter"] == phone_credentials(s.store)[0]["sign_count"] == 1,
              "the counter was not updated to the phone's")
    finally:
        s.stop()


ALL = [test_enrolment_stores_the_phones_key, test_qr_sign_in_succeeds_and_counts, test_person_denies_on_the_phone,
       test_wrong_public_key_is_refused, test_counter_regression_is_refused,
       test_relay_down_is_unavailable_and_the_next_module_decides, test_unsafe_authfile_is_refused,
       test_user_without_enrolment, test_linked_phone_signs_in_without_qr, test_option_typo_is_told_with_debug]

if __name__ == "__main__":
    names = sys.argv[3:]
    run_tests([t for t in ALL if not names or t.__name__ in names])
