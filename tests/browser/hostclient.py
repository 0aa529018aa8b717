# SPDX-License-Identifier: Apache-2.0
"""Talks to hybridgate-native-host as a browser does: 32-bit native-endian length + UTF-8 JSON on
its standard input/output. Messages are read by a thread into a queue, so a test waits for the
next one with a deadline."""

import json
import queue
import struct
import subprocess
import threading


class HostClient:
    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
        self.messages = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        out = self.proc.stdout
        while True:
            head = out.read(4)
            if len(head) < 4:
                self.messages.put(None)  # end of output
                return
            (n,) = struct.unpack("=I", head)
            self.messages.put(json.loads(out.read(n).decode("utf-8")))

    def send(self, message):
        data = json.dumps(message).encode("utf-8")
        self.proc.stdin.write(struct.pack("=I", len(data)) + data)
        self.proc.stdin.flush()

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def next(self, timeout=30):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message from the native host within %ss" % timeout)

    def until(self, pred, timeout=60):
        """Messages up to and including the first that satisfies pred (fails at end of output)."""
        seen = []
        while True:
            m = self.next(timeout)
            if m is None:
                raise AssertionError("the native host ended its output; messages: %r" % seen)
            seen.append(m)
            if pred(m):
                return seen

    def close_input(self):
        self.proc.stdin.close()

    def wait(self, timeout=20):
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
