# SPDX-License-Identifier: Apache-2.0
"""Helpers for the relay integration tests: start hybridgate-relay on ephemeral ports and wait
for its JSON log events (no sleeps, no guessed ports), plus small WebSocket/HTTP helpers built on
Debian's python3-websockets 10.4, which is independent of hybridgate's own client code."""
import asyncio
import http.client
import json
import os
import queue
import secrets
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import websockets

FAILURES = []


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        FAILURES.append(what)


def finish():
    if FAILURES:
        print("%d check(s) failed:" % len(FAILURES))
        for f in FAILURES:
            print("  - " + f)
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


class Relay:
    """One hybridgate-relay process on 127.0.0.1:0 with an admin listener on 127.0.0.1:0."""

    def __init__(self, binary, *args, routing_id=None, tmpdir=None, env=None, listen="127.0.0.1:0", pass_fds=(),
                 preexec_fn=None):
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="hg-relay-")
        self.port_file = os.path.join(self.tmp, "port-%s" % secrets.token_hex(4))
        cmd = [binary, "--listen", listen, "--admin-listen", "127.0.0.1:0",
               "--port-file", self.port_file, "--log-level", "debug"]
        if routing_id:
            cmd += ["--routing-id", routing_id]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, pass_fds=pass_fds,
                                     preexec_fn=preexec_fn)
        self.events = queue.Queue()
        self.log = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ev = self.wait_event("listening", timeout=10)
        if ev is None:
            # Its stdout can reach EOF a moment before the process can be reaped: wait (bounded)
            # for the exit before reading what it said on stderr.
            try:
                self.proc.wait(timeout=10)
                err = self.proc.stderr.read().decode(errors="replace")
            except subprocess.TimeoutExpired:
                self.proc.kill()
                err = "(still running after 10 s without logging \"listening\"; killed)"
            raise RuntimeError("relay did not start: " + err)
        self.port = ev["port"]
        self.admin_port = ev["admin_port"]
        self.routing_id = ev["routing_id"]
        self.pid = ev["pid"]

    def _read(self):
        for line in self.proc.stdout:
            try:
                j = json.loads(line)
            except ValueError:
                j = {"event": "unparsable", "line": line.decode(errors="replace")}
            self.log.append(j)
            self.events.put(j)
        self.events.put(None)

    def wait_event(self, event, pred=lambda j: True, timeout=10):
        """Blocks until the relay logs `event` (matching pred); None on timeout or exit."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                j = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if j is None:
                return None
            if j.get("event") == event and pred(j):
                return j

    def url(self, path, scheme="ws"):
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, path)

    def admin(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, body

    def metric(self, name):
        """Value of one metric line (name including labels), or 0 if absent."""
        _, body = self.admin("/metrics")
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


async def raw_upgrade(port, path, local_ip="127.0.0.1", headers=None, ssl_ctx=None):
    """A WebSocket upgrade over a plain asyncio stream; returns (reader, writer, headers) or None."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local_ip, 0), ssl=ssl_ctx)
    key = secrets.token_bytes(16).hex()[:22] + "=="
    writer.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: fido.cable\r\n%s\r\n"
                  % (path, key, "".join("%s: %s\r\n" % kv for kv in (headers or {}).items()))).encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode().split("\r\n")
    if " 101 " not in lines[0]:
        writer.close()
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return reader, writer, headers


def frame_header(length):
    """FIN + binary, masked with key 0 (payload unchanged), length in its shortest encoding."""
    if length < 126:
        return bytes([0x82, 0x80 | length]) + b"\0\0\0\0"
    if length < 65536:
        return bytes([0x82, 0x80 | 126]) + struct.pack(">H", length) + b"\0\0\0\0"
    return bytes([0x82, 0x80 | 127]) + struct.pack(">Q", length) + b"\0\0\0\0"


async def send_partial(writer, total, sent):
    """Sends the header of a `total`-byte frame and `sent` payload bytes, then stops (the frame stays
    unfinished and the connection open) — what a client does to make the relay hold its bytes."""
    chunk = b"\xa5" * 65536
    try:
        writer.write(frame_header(total))
        left = sent
        while left > 0:
            writer.write(chunk[:min(left, len(chunk))])
            left -= min(left, len(chunk))
            await asyncio.wait_for(writer.drain(), 20)
    except (OSError, asyncio.TimeoutError):
        pass  # the relay closed it


def close_frame(code, reason=b""):
    """A masked (key 0) close frame from a client."""
    payload = struct.pack(">H", code) + reason
    return bytes([0x88, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


async def eof_within(reader, timeout):
    """Reads (discarding) until the relay closes the TCP connection; True if that happens in time."""
    try:
        async def drain():
            while await reader.read(65536):
                pass
        await asyncio.wait_for(drain(), timeout)
        return True
    except asyncio.TimeoutError:
        return False
    except OSError:
        return True  # reset: closed too


async def wait_until(cond, timeout, interval=0.05):
    """Polls cond() until it is true or `timeout` seconds passed; returns its last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        v = cond()
        if v or loop.time() >= end:
            return v
        await asyncio.sleep(interval)


def new_tid():
    return secrets.token_hex(16).upper()


async def ws_connect(url, protocols=("fido.cable",), **kw):
    return await websockets.connect(url, subprotocols=list(protocols), max_size=None, compression=None,
                                    open_timeout=10, close_timeout=10, ping_interval=None, **kw)


async def status_of(url, protocols=("fido.cable",), **kw):
    """HTTP status of a WebSocket handshake: 101, or the rejection status."""
    try:
        ws = await ws_connect(url, protocols, **kw)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


async def pair(relay, tid=None, rid=None):
    tid = tid or new_tid()
    phone = await ws_connect(relay.url("/cable/new/" + tid))
    rid = rid or phone.response_headers["X-caBLE-Routing-ID"]
    desktop = await ws_connect(relay.url("/cable/connect/%s/%s" % (rid, tid)))
    return phone, desktop, tid


async def closed_code(ws, timeout=10):
    """Waits for the connection to close (draining what arrives) and returns the close code."""
    async def drain():
        try:
            while True:
                await ws.recv()
        except websockets.exceptions.ConnectionClosed:
            pass
    await asyncio.wait_for(drain(), timeout)
    return ws.close_code


def http_status(port, method, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def sanitized(pid):
    """An ASan build keeps freed memory in its quarantine: RSS says nothing about a budget there."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def check_rss(pid, ok, what):
    """check(ok, what) about the relay's RSS, skipped (and said so) in an ASan build."""
    if sanitized(pid):
        print("skip " + what + " (ASan build: RSS includes its quarantine; the budget checks still apply)")
    else:
        check(ok, what)
