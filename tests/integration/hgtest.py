# SPDX-License-Identifier: Apache-2.0
"""Helpers for hybridgate's integration tests: start a real relay, desktop and phone processes,
wait on observable conditions (files, process exits, log lines) with deadlines, and run the
independent WebAuthn verifier. Run with Debian's /usr/bin/python3."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VERIFIER = os.path.join(ROOT, "tests", "tools", "webauthn_verify.py")
PYTHON = "/usr/bin/python3"

sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
from hgcheck import TestFailure, check, free_port, wait_for  # noqa: E402,F401  (re-exported to the tests)



def to_json(value):
    """python-fido2's options (bytes, enums, None) in the WebAuthn JSON mapping: bytes → base64url,
    enums → their value, None members dropped."""
    import base64
    from enum import Enum
    if isinstance(value, (bytes, bytearray)):
        return base64.urlsafe_b64encode(bytes(value)).rstrip(b"=").decode()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


class Workdir:
    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix="hg-%s-" % name)
        self.radio = os.path.join(self.path, "radio")
        os.mkdir(self.radio, 0o700)
        self.env = dict(os.environ)
        self.env["HYBRIDGATE_RADIO_DIR"] = self.radio

    def file(self, name):
        return os.path.join(self.path, name)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Relay:
    def __init__(self, bin_dir, wd, *args, listen="127.0.0.1:0"):
        self.wd = wd
        port_file = wd.file("relay-%d.port" % id(self))
        self.log = open(wd.file("relay-%d.log" % id(self)), "w")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "hybridgate-relay"), "--listen", listen, "--port-file", port_file, *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=wd.env)
        wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(), 20, "the relay's port file")
        self.port = int(open(port_file).read().strip())
        self.url = "ws://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()


class Proc:
    """A hybridgate process with captured stdout/stderr."""

    def __init__(self, argv, wd, name, stdin=subprocess.DEVNULL):
        self.name = name
        self.out_path = wd.file(name + ".out")
        self.err_path = wd.file(name + ".err")
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err, stdin=stdin, env=wd.env)

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("%s did not finish within %ss; stderr:\n%s" % (self.name, timeout, self.stderr()))
        self.out.close()
        self.err.close()
        return rc

    def stdout(self):
        with open(self.out_path) as f:
            return f.read()

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def json(self):
        text = self.stdout()
        try:
            return json.loads(text)
        except ValueError:
            raise TestFailure("%s printed no JSON on stdout: %r\nstderr:\n%s" % (self.name, text, self.stderr()))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


def desktop(bin_dir, wd, command, relay_url, *args, name="desktop", advert_timeout=30, radio="loopback"):
    qr_file = wd.file(name + ".qr")
    if os.path.exists(qr_file):
        os.unlink(qr_file)
    argv = [os.path.join(bin_dir, "hybridgate"), command, "--radio", radio, "--tunnel-url", relay_url,
            "--qr-url-file", qr_file, "--no-terminal-qr", "--advert-timeout", str(advert_timeout), *args]
    p = Proc(argv, wd, name)
    p.qr_file = qr_file
    return p


def wait_qr(p, timeout=20):
    wait_for(lambda: os.path.exists(p.qr_file) or p.proc.poll() is not None, timeout, "the desktop's QR file")
    check(os.path.exists(p.qr_file), "%s exited before showing a QR code:\n%s" % (p.name, p.stderr()))
    with open(p.qr_file) as f:
        return f.read().strip()


def phone(bin_dir, wd, qr_url, relay_url, store, *args, name="phone", stdin=subprocess.DEVNULL, radio="loopback",
          assume_verified=True):
    """`hybridgate phone` for a QR URL. The phone has no PIN, so it verifies nobody; tests whose
    subject is not user verification (the RPs and the verifier ask for it) run it with the
    test-only --test-assume-verified unless assume_verified=False (tests/python/test_pin.py tests
    real verification)."""
    argv = [os.path.join(bin_dir, "hybridgate"), "phone", "--radio", radio, "--tunnel-url", relay_url,
            "--qr", qr_url, "--store", store, *(["--test-assume-verified"] if assume_verified else []), *args]
    return Proc(argv, wd, name, stdin=stdin)


def verify(kind, credential_json, **kw):
    """Runs the independent verifier (python3-fido2). Returns (rc, parsed stdout or None, stderr)."""
    argv = [PYTHON, VERIFIER, kind]
    for k, v in kw.items():
        if v is True:  # a flag without a value, e.g. no_require_uv=True
            argv.append("--%s" % k.replace("_", "-"))
        else:
            argv.append("--%s=%s" % (k.replace("_", "-"), v))  # "=": values may start with "-"
    argv += ["--credential", "-"]
    r = subprocess.run(argv, input=json.dumps(credential_json), capture_output=True, text=True, timeout=60)
    out = None
    if r.returncode == 0:
        out = json.loads(r.stdout)
    return r.returncode, out, r.stderr


def run_tests(tests):
    """Runs test functions; prints one line each and a summary; exits non-zero on failure."""
    failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            print("PASS %s (%.2fs)" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e), flush=True)
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)


def run_selected(tests, name=None):
    """run_tests() of `tests`, or of the one called `name` (a script's optional TEST_NAME argument);
    a name that matches none is an error."""
    selected = [t for t in tests if name is None or t.__name__ == name]
    if not selected:
        raise SystemExit("no such test: %s" % name)
    run_tests(selected)
