# SPDX-License-Identifier: Apache-2.0
"""A real sshd on 127.0.0.1 for tests (tests/ssh/test_ssh.py, tests/vm/test_key_real.py): Debian's
openssh-server with a temporary host key, configuration and authorized_keys in a test Workdir
(tests/integration/hgtest.py); the user logs in with public keys only."""

import os
import subprocess

from hgcheck import TestFailure, free_port, wait_for

SSHD = "/usr/sbin/sshd"


class Sshd:
    """A real sshd on 127.0.0.1 with a temporary host key, config and authorized_keys."""

    def __init__(self, wd):
        self.wd = wd
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # Debian's privilege separation directory
        self.host_key = wd.file("host_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.host_key], check=True,
                       capture_output=True, timeout=30)
        self.authorized = wd.file("authorized_keys")
        open(self.authorized, "w").close()
        self.config = wd.file("sshd_config")
        with open(self.config, "w") as f:
            f.write("ListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\nStrictModes no\n"
                    "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "UsePAM no\nPermitRootLogin yes\nLogLevel VERBOSE\n"
                    % (self.host_key, wd.file("sshd.pid"), self.authorized))
        for _ in range(5):  # a port taken between free_port() and sshd's bind: try another
            self.port = free_port()
            self.log_path = wd.file("sshd-%d.log" % self.port)
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config, "-p", str(self.port)],
                                         stdout=self.log, stderr=subprocess.STDOUT)
            wait_for(lambda: "Server listening" in self.text() or self.proc.poll() is not None, 20,
                     "sshd listening")
            if self.proc.poll() is None:
                return
            self.log.close()
        raise TestFailure("sshd did not start:\n" + self.text())

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def authorize(self, pub_path, options=""):
        with open(pub_path) as src, open(self.authorized, "a") as dst:
            dst.write((options + " " if options else "") + src.read().strip() + "\n")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()
