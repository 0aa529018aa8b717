#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""libhybridgate-sk.so with Debian's OpenSSH: ssh-keygen enrols ecdsa-sk / ed25519-sk keys through
`hybridgate phone` (loopback radio, a real relay), a real sshd on a loopback port accepts logins
signed on the phone (directly, through ssh-agent, with resident keys loaded by ssh-keygen -K), and
the failures (a phone that says no, one that never answers, a relay that is down, a phone without
EdDSA) end with our sentence on ssh's stderr. OpenSSH is the independent checker: sshd verifies
every signature, ssh-keygen parses every key.

usage: test_ssh.py BIN_DIR PROVIDER [TEST_NAME]"""

import fcntl
import getpass
import os
import pty
import shutil
import subprocess
import sys
import termios
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from hgtest import Proc, Relay, TestFailure, Workdir, check, free_port, run_selected, wait_for  # noqa: E402
from sshd import Sshd  # noqa: E402

BIN = sys.argv[1]
PROVIDER = os.path.abspath(sys.argv[2])
HG = os.path.join(BIN, "hybridgate")
USER = getpass.getuser()


class Env:
    """A relay, an sshd, the shared hybridgate configuration file and the environment OpenSSH runs
    in (HYBRIDGATE_CONFIG; no controlling terminal unless a test gives one)."""

    def __init__(self, name, **settings):
        self.wd = Workdir("ssh-" + name)
        self.relay = Relay(BIN, self.wd)
        self.sshd = Sshd(self.wd)
        self.qr_file = self.wd.file("qr.txt")
        self.store = self.wd.file("phone-store.json")
        self.conf = self.wd.file("hybridgate.conf")
        conf = {"tunnel_url": '"%s"' % self.relay.url, "radio": '"loopback"', "qr_url_file": '"qr.txt"',
                "advert_timeout": "30", "response_timeout": "30", "links_file": '"links.json"'}
        conf.update(settings)
        with open(self.conf, "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.env = dict(self.wd.env, HYBRIDGATE_CONFIG=self.conf, HOME=self.wd.path,
                        XDG_CONFIG_HOME=self.wd.file("xdg-config"), XDG_DATA_HOME=self.wd.file("xdg-data"))
        self.env.pop("SSH_AUTH_SOCK", None)
        askpass = self.wd.file("askpass.sh")  # answers OpenSSH's PIN / passphrase prompts with ""
        with open(askpass, "w") as f:
            f.write("#!/bin/sh\necho\n")
        os.chmod(askpass, 0o700)
        self.env.update(SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
        self.env.pop("HG_SSH_PRELOAD", None)
        if os.environ.get("HG_SSH_PRELOAD"):  # the ASan build: OpenSSH's programs load an instrumented provider
            self.env.update(LD_PRELOAD=os.environ["HG_SSH_PRELOAD"], ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
        self.last = None  # the OpenSSH command started last (whose QR code a phone scans)

    def cleanup(self):
        self.sshd.stop()
        self.relay.stop()
        self.wd.cleanup()

    def start(self, argv, name, tty=False):
        """Starts an OpenSSH command in its own session: without a controlling terminal, or with a
        pseudo-terminal as its controlling terminal (tty=True; what it draws there is collected)."""
        if os.path.exists(self.qr_file):
            os.unlink(self.qr_file)
        p = Proc.__new__(Proc)
        p.name = name
        p.out_path, p.err_path = self.wd.file(name + ".out"), self.wd.file(name + ".err")
        p.out, p.err = open(p.out_path, "w"), open(p.err_path, "w")
        p.argv = argv
        p.tty_text = []
        self.last = p
        if not tty:
            p.proc = subprocess.Popen(argv, stdout=p.out, stderr=p.err, stdin=subprocess.DEVNULL, env=self.env,
                                      cwd=self.wd.path, start_new_session=True)
            return p
        master, slave = pty.openpty()

        def own_terminal():
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        p.proc = subprocess.Popen(argv, stdout=p.out, stderr=p.err, stdin=slave, env=self.env, cwd=self.wd.path,
                                  preexec_fn=own_terminal, pass_fds=(slave,))
        os.close(slave)

        def drain():
            while True:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    break
                if not data:
                    break
                p.tty_text.append(data)
            os.close(master)

        p.drain = threading.Thread(target=drain, daemon=True)
        p.drain.start()
        return p

    def phone(self, *args, name="phone", stdin=subprocess.DEVNULL):
        """`hybridgate phone` for the QR code the provider shows: it reads the URL from the QR file
        (never from argv)."""
        last = self.last
        try:
            wait_for(lambda: os.path.exists(self.qr_file) or (last and last.proc.poll() is not None), 30,
                     "the QR URL file")
        except TestFailure:
            raise TestFailure("no QR URL file from %s; its stderr:\n%s" % (last.name, read(last.err_path)))
        check(os.path.exists(self.qr_file), "%s ended (%s) without a QR code:\n%s"
              % (last.name, last.proc.returncode, read(last.err_path)))
        argv = [HG, "phone", "--radio", "loopback", "--tunnel-url", self.relay.url, "--qr-file", self.qr_file,
                "--store", self.store, *args]
        return Proc(argv, self.wd, name, stdin=stdin)

    def phone_with_pin(self, pin, *args, name):
        """A phone that reads its store's PIN from standard input (--pin-fd 0), asked when a request
        wants user verification."""
        ph = self.phone("--pin-fd", "0", *args, name=name, stdin=subprocess.PIPE)
        ph.proc.stdin.write((pin + "\n").encode())
        ph.proc.stdin.close()
        return ph

    def enroll(self, key_type, key, *options, phone_args=("--yes",), tty=False, pin=None):
        argv = ["ssh-keygen", "-q", "-t", key_type, "-w", PROVIDER, "-N", "", "-f", key]
        for o in options:
            argv += ["-O", o]
        kg = self.start(argv, "keygen-" + os.path.basename(key), tty=tty)
        if pin:
            ph = self.phone_with_pin(pin, *phone_args, name="phone-enrol-" + os.path.basename(key))
        else:
            ph = self.phone(*phone_args, name="phone-enrol-" + os.path.basename(key))
        rc = kg.wait(90)
        ph.wait(60)
        return rc, kg, ph

    def ssh(self, key=None, agent=None, name="ssh"):
        argv = ["ssh", "-F", "/dev/null", "-o", "UserKnownHostsFile=" + self.wd.file("known_hosts"),
                "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=no", "-o", "PasswordAuthentication=no",
                "-o", "KbdInteractiveAuthentication=no", "-p", str(self.sshd.port)]
        if key:
            argv += ["-o", "IdentitiesOnly=yes", "-o", "SecurityKeyProvider=" + PROVIDER, "-i", key]
        if agent:
            argv += ["-o", "IdentityAgent=" + agent]
        else:
            argv += ["-o", "IdentityAgent=none"]
        argv += ["%s@127.0.0.1" % USER, "echo", "logged-in-through-the-phone"]
        return self.start(argv, name)

    def login(self, key=None, agent=None, phone_args=("--yes",), name="login", pin=None):
        s = self.ssh(key, agent, name)
        if pin:
            ph = self.phone_with_pin(pin, *phone_args, name="phone-" + name)
        else:
            ph = self.phone(*phone_args, name="phone-" + name)
        rc = s.wait(90)
        prc = ph.wait(60)
        return rc, s, ph, prc


def read(path):
    with open(path) as f:
        return f.read()


def key_fingerprint(pub):
    r = subprocess.run(["ssh-keygen", "-l", "-f", pub], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "ssh-keygen cannot read %s: %s" % (pub, r.stderr))
    return r.stdout.split()[1]


def check_no_secret(*texts):
    for t in texts:
        check("FIDO:/" not in t, "the QR code's URL leaked into an output:\n" + t)


# ---------------------------------------------------------------------------------------------


def test_ecdsa_enrol_on_a_terminal_then_login():
    e = Env("ecdsa")
    try:
        key = e.wd.file("id_ecdsa_sk")
        rc, kg, ph = e.enroll("ecdsa-sk", key, tty=True)
        check(rc == 0, "ssh-keygen failed (%d):\n%s\nphone:\n%s" % (rc, kg.stderr(), ph.stderr()))
        kg.drain.join(10)
        tty = b"".join(kg.tty_text).decode("utf-8", "replace")
        check("scan this QR code with your phone to create the SSH key for 'ssh:':" in tty,
              "no QR code heading naming the application on the terminal:\n" + tty)
        check("ssh::" not in tty, "the heading reads 'ssh::':\n" + tty)
        check("\u2580" in tty or "\u2584" in tty or "\u2588" in tty, "no QR code drawn on the terminal:\n" + tty)
        check_no_secret(tty, kg.stderr(), ph.stderr())
        pub = read(key + ".pub")
        check(pub.startswith("sk-ecdsa-sha2-nistp256@openssh.com "), "not an ecdsa-sk public key: " + pub)
        key_fingerprint(key + ".pub")
        check('"rp_id": "ssh:"' in read(e.store), "the phone holds no credential for the application ssh:")

        # Not yet authorized: sshd refuses (the phone is never asked).
        s = e.ssh(key, name="login-unauthorized")
        check(s.wait(60) != 0, "sshd accepted a key that is not in authorized_keys")
        e.sshd.authorize(key + ".pub")
        rc, s, ph, prc = e.login(key)
        check(rc == 0, "ssh login failed (%d):\n%s\nphone:\n%s\nsshd:\n%s" % (rc, s.stderr(), ph.stderr(), e.sshd.text()))
        check("logged-in-through-the-phone" in s.stdout(), "the remote command did not run: " + s.stdout())
        check("Accepted publickey for %s" % USER in e.sshd.text() and "ECDSA-SK" in e.sshd.text(),
              "sshd did not log an ECDSA-SK login:\n" + e.sshd.text())
        check_no_secret(s.stderr(), ph.stderr(), e.sshd.text())
    finally:
        e.cleanup()


def test_ed25519_enrol_and_login_and_a_phone_without_eddsa():
    e = Env("ed25519")
    try:
        key = e.wd.file("id_ed25519_sk")
        # A phone without EdDSA: ssh-keygen fails with our sentence, no key is written.
        rc, kg, _ = e.enroll("ed25519-sk", key, phone_args=("--yes", "--no-eddsa"))
        check(rc != 0, "ed25519-sk enrolment succeeded on a phone without EdDSA")
        check("hybridgate: The phone does not offer Ed25519 (EdDSA) keys; use -t ecdsa-sk." in kg.stderr(),
              "no sentence about EdDSA:\n" + kg.stderr())
        check(not os.path.exists(key + ".pub"), "a key file was written although enrolment failed")

        rc, kg, ph = e.enroll("ed25519-sk", key)
        check(rc == 0, "ssh-keygen failed (%d):\n%s\nphone:\n%s" % (rc, kg.stderr(), ph.stderr()))
        pub = read(key + ".pub")
        check(pub.startswith("sk-ssh-ed25519@openssh.com "), "not an ed25519-sk public key: " + pub)
        key_fingerprint(key + ".pub")
        check('"alg": -8' in read(e.store), "the phone did not store an EdDSA credential")
        e.sshd.authorize(key + ".pub")
        rc, s, ph, _ = e.login(key)
        check(rc == 0, "ssh login failed (%d):\n%s\nphone:\n%s\nsshd:\n%s" % (rc, s.stderr(), ph.stderr(), e.sshd.text()))
        check("ED25519-SK" in e.sshd.text(), "sshd did not log an ED25519-SK login:\n" + e.sshd.text())
    finally:
        e.cleanup()


def test_agent_and_resident_keys():
    e = Env("agent")
    agent = None
    try:
        # A phone with no resident key: ssh-keygen -K downloads nothing and says why.
        k = e.start(["ssh-keygen", "-K", "-w", PROVIDER], "keygen-K-empty")
        ph = e.phone("--yes", name="phone-K-empty")
        k.wait(90)
        ph.wait(60)
        check("hybridgate: the phone holds no resident SSH keys" in k.stderr(), "no sentence:\n" + k.stderr())
        check(not [f for f in os.listdir(e.wd.path) if f.startswith("id_")], "ssh-keygen -K wrote key files")

        key = e.wd.file("id_ecdsa_sk_rk")
        rc, kg, ph = e.enroll("ecdsa-sk", key, "resident", "user=alice")
        check(rc == 0, "resident enrolment failed (%d):\n%s\nphone:\n%s" % (rc, kg.stderr(), ph.stderr()))
        e.sshd.authorize(key + ".pub")
        enrolled = key_fingerprint(key + ".pub")

        # ssh-keygen -K in an empty folder: the key comes back from the phone alone.
        dl = e.wd.file("download")
        os.mkdir(dl)
        argv = ["sh", "-c", 'cd "$1" && exec ssh-keygen -K -w "$2"', "sh", dl, PROVIDER]
        k = e.start(argv, "keygen-K")
        ph = e.phone("--yes", name="phone-K")
        rc = k.wait(90)
        ph.wait(60)
        check(rc == 0, "ssh-keygen -K failed (%d):\n%s\n%s\nphone:\n%s" % (rc, k.stdout(), k.stderr(), ph.stderr()))
        # Several requests over one connection, one approval: the person is told once.
        check(k.stderr().count("approve on the phone") == 1,
              "ssh-keygen -K says 'approve on the phone' %d times:\n%s" % (k.stderr().count("approve on the phone"), k.stderr()))
        files = sorted(os.listdir(dl))
        check("id_ecdsa_sk_rk_alice.pub" in files, "ssh-keygen -K wrote %s" % files)
        check(key_fingerprint(os.path.join(dl, "id_ecdsa_sk_rk_alice.pub")) == enrolled,
              "the loaded resident key is not the enrolled one")

        # The agent: ssh-add -S PROVIDER with the downloaded key, then a login that signs through it.
        sock = e.wd.file("agent.sock")
        pattern = os.path.join(os.path.dirname(PROVIDER), "*")
        agent_bin = "/usr/bin/ssh-agent"
        if "LD_PRELOAD" in e.env:
            # Debian's ssh-agent is setgid _ssh, so the loader drops LD_PRELOAD for it and its
            # ssh-sk-helper; the ASan build runs a copy without the setgid bit.
            agent_bin = e.wd.file("ssh-agent")
            shutil.copyfile("/usr/bin/ssh-agent", agent_bin)
            os.chmod(agent_bin, 0o755)
        agent = subprocess.Popen([agent_bin, "-D", "-a", sock, "-P", pattern], env=e.env,
                                 stdout=open(e.wd.file("agent.out"), "w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        wait_for(lambda: os.path.exists(sock) or agent.poll() is not None, 20, "the agent's socket")
        env = dict(e.env, SSH_AUTH_SOCK=sock)
        r = subprocess.run(["ssh-add", "-S", PROVIDER, os.path.join(dl, "id_ecdsa_sk_rk_alice")], env=env,
                           capture_output=True, text=True, timeout=60, start_new_session=True)
        check(r.returncode == 0, "ssh-add failed: %s" % r.stderr)
        r = subprocess.run(["ssh-add", "-l"], env=env, capture_output=True, text=True, timeout=30)
        check(enrolled in r.stdout, "the agent does not hold the key: " + r.stdout)
        rc, s, ph, _ = e.login(agent=sock, name="login-agent")
        check(rc == 0, "login through the agent failed (%d):\n%s\nphone:\n%s\nagent:\n%s\nsshd:\n%s"
              % (rc, s.stderr(), ph.stderr(), read(e.wd.file("agent.out")), e.sshd.text()))
        check("Accepted publickey" in e.sshd.text(), "sshd logged no login")
    finally:
        if agent and agent.poll() is None:
            agent.terminate()
            agent.wait(10)
        e.cleanup()


def test_no_touch_required_and_verify_required():
    """-O no-touch-required: signatures are asked for with up=false, so a phone that refuses every
    prompt still signs (sshd accepts it only with the no-touch-required key option); -O
    verify-required: the UV flag is requested and sshd's verify-required option checks it."""
    e = Env("flags")
    try:
        silent = e.wd.file("id_silent")
        rc, kg, ph = e.enroll("ecdsa-sk", silent, "no-touch-required")
        check(rc == 0, "enrolment failed (%d):\n%s\nphone:\n%s" % (rc, kg.stderr(), ph.stderr()))
        e.sshd.authorize(silent + ".pub", "no-touch-required")
        # No --yes and nothing on its stdin: any prompt would be refused.
        rc, s, ph, _ = e.login(silent, phone_args=(), name="login-silent")
        check(rc == 0, "no-touch-required login failed (%d):\n%s\nphone:\n%s\nsshd:\n%s"
              % (rc, s.stderr(), ph.stderr(), e.sshd.text()))

        # User verification is real: the phone's store gets a PIN, and the phone asks for it.
        r = subprocess.run([HG, "phone", "--store", e.store, "--set-pin", "--pin-fd", "0"], input=b"2580-ssh\n",
                           capture_output=True, timeout=60)
        check(r.returncode == 0, "--set-pin failed: %r" % r.stderr)
        uv = e.wd.file("id_uv")
        rc, kg, ph = e.enroll("ed25519-sk", uv, "verify-required", pin="2580-ssh")
        check(rc == 0, "enrolment failed (%d):\n%s\nphone:\n%s" % (rc, kg.stderr(), ph.stderr()))
        e.sshd.authorize(uv + ".pub", "verify-required")
        rc, s, ph, _ = e.login(uv, name="login-uv", pin="2580-ssh")
        check(rc == 0, "verify-required login failed (%d):\n%s\nphone:\n%s\nsshd:\n%s"
              % (rc, s.stderr(), ph.stderr(), e.sshd.text()))
        check(e.sshd.text().count("Accepted publickey") == 2, "sshd did not log both logins:\n" + e.sshd.text())
    finally:
        e.cleanup()


def enrolled_env(name, **settings):
    e = Env(name, **settings)
    key = e.wd.file("id_ecdsa_sk")
    rc, kg, ph = e.enroll("ecdsa-sk", key)
    if rc != 0:
        e.cleanup()
        raise TestFailure("enrolment failed (%d):\n%s\nphone:\n%s" % (rc, kg.stderr(), ph.stderr()))
    e.sshd.authorize(key + ".pub")
    return e, key


def test_a_phone_that_says_no():
    e, key = enrolled_env("deny")
    try:
        no = open(e.wd.file("no.txt"), "w+")  # no --yes: the phone asks its stdin, which says no
        no.write("n\n")
        no.flush()
        no.seek(0)
        s = e.ssh(key, name="login-denied")
        ph = e.phone(name="phone-denied", stdin=no)
        rc = s.wait(90)
        ph.wait(60)
        check(rc != 0, "ssh logged in although the phone said no")
        check("hybridgate: The request was denied on the phone." in s.stderr(), "no sentence:\n" + s.stderr())
        check("Accepted publickey" not in e.sshd.text(), "sshd accepted a login")
    finally:
        e.cleanup()


def test_a_phone_that_never_answers():
    e, key = enrolled_env("silent", response_timeout="4")
    try:
        s = e.ssh(key, name="login-silent")
        r, w = os.pipe()  # the phone's prompt reads a pipe nobody writes to
        ph = e.phone(name="phone-silent", stdin=r)
        rc = s.wait(60)
        os.close(w)
        ph.wait(60)
        os.close(r)
        check(rc != 0, "ssh logged in without an answer from the phone")
        check("hybridgate: The operation took too long and was stopped." in s.stderr(),
              "no sentence:\n" + s.stderr())
    finally:
        e.cleanup()


def test_a_relay_that_is_down():
    e, key = enrolled_env("norelay")
    try:
        down = free_port()
        text = read(e.conf).replace(e.relay.url, "ws://127.0.0.1:%d" % down)
        with open(e.conf, "w") as f:
            f.write(text)
        # The phone reaches its relay and advertises; the desktop's relay is down.
        s = e.ssh(key, name="login-norelay")
        ph = e.phone("--yes", "--desktop-timeout", "20", name="phone-norelay")
        rc = s.wait(60)
        ph.kill()
        check(rc != 0, "ssh logged in with the relay down")
        check("hybridgate: The tunnel server could not be reached." in s.stderr(), "no sentence:\n" + s.stderr())
    finally:
        e.cleanup()


def test_no_terminal_and_no_qr_file_is_refused():
    e, key = enrolled_env("notty")
    try:
        text = "\n".join(l for l in read(e.conf).splitlines() if not l.startswith("qr_url_file")) + "\n"
        with open(e.conf, "w") as f:
            f.write(text)
        s = e.ssh(key, name="login-notty")
        check(s.wait(60) != 0, "ssh logged in without any way to show the QR code")
        check("hybridgate: There is no terminal to show the QR code on" in s.stderr(), "no sentence:\n" + s.stderr())
    finally:
        e.cleanup()


def test_remembered_phone_needs_no_qr_code():
    e = Env("linked", link_phone="true")
    listener = None
    try:
        key = e.wd.file("id_ecdsa_sk")
        link_state = e.wd.file("phone.link")
        rc, kg, ph = e.enroll("ecdsa-sk", key, phone_args=("--yes", "--link", "--link-state", link_state,
                                                           "--phone-name", "Test Phone"))
        check(rc == 0, "enrolment failed (%d):\n%s\nphone:\n%s" % (rc, kg.stderr(), ph.stderr()))
        check(os.path.exists(e.wd.file("links.json")), "the desktop did not remember the phone")
        e.sshd.authorize(key + ".pub")
        listener = Proc([HG, "phone", "--radio", "loopback", "--tunnel-url", e.relay.url, "--store", e.store,
                         "--link-state", link_state, "--yes", "--listen", "--once"], e.wd, "listener")
        wait_for(lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None, 20, "the listener")
        check(listener.proc.poll() is None, "the listener exited:\n" + listener.stderr())
        e.env["HYBRIDGATE_PHONE"] = "Test Phone"
        s = e.ssh(key, name="login-linked")
        rc = s.wait(90)
        check(rc == 0, "linked login failed (%d):\n%s\nphone:\n%s" % (rc, s.stderr(), listener.stderr()))
        check(listener.wait(30) == 0, "the phone's linked session failed:\n" + listener.stderr())
        check(not os.path.exists(e.qr_file), "a QR code was shown for a remembered phone")
        check("asking the phone 'Test Phone' (no QR code)" in s.stderr(), "no line about the phone:\n" + s.stderr())
        check(e.sshd.text().count("Accepted publickey") == 1, "sshd did not log the login")
    finally:
        if listener:
            listener.kill()
        e.cleanup()


TESTS = [test_ecdsa_enrol_on_a_terminal_then_login, test_ed25519_enrol_and_login_and_a_phone_without_eddsa,
         test_agent_and_resident_keys, test_no_touch_required_and_verify_required, test_a_phone_that_says_no, test_a_phone_that_never_answers,
         test_a_relay_that_is_down, test_no_terminal_and_no_qr_file_is_refused,
         test_remembered_phone_needs_no_qr_code]

if __name__ == "__main__":
    run_selected(TESTS, sys.argv[3] if len(sys.argv) > 3 else None)
