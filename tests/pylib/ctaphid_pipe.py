# SPDX-License-Identifier: Apache-2.0
"""python-fido2's HID connection to a test device process that speaks 64-byte CTAPHID reports on
its standard input and output (tests/key/key_pipe_device, tests/key-window/key_window_device):
the security key's device core with a pipe instead of /dev/uhid. Closing the connection ends the
device's input (the host went away). Run with Debian's /usr/bin/python3 (python3-fido2)."""

import subprocess

from fido2.hid.base import CtapHidConnection


class PipeConnection(CtapHidConnection):
    """Starts `argv` (stderr to `err_path`) and exchanges reports with it. Subclasses may watch
    what the host writes by overriding `on_write`."""

    def __init__(self, argv, env, err_path):
        self.err = open(err_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=env)

    def on_write(self, data):
        pass

    def write_packet(self, data):
        self.on_write(data)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_packet(self):
        data = b""
        while len(data) < 64:
            chunk = self.proc.stdout.read(64 - len(data))
            if not chunk:
                raise OSError("the device closed its output")
            data += chunk
        return data

    def close(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.err.close()
