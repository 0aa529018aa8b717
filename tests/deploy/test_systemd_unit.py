#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""deploy/hybridgate-relay.service, checked without systemd running (none here):

1. `systemd-analyze verify` accepts the unit (ExecStart pointed at the built relay) and
   deploy/hybridgate-relay.socket (socket activation, one listening socket) with no warning, and `systemd-analyze security --offline` rates its exposure at most MAX_EXPOSURE.
2. The unit's SystemCallFilter= lines allow every system call the relay makes: the relay runs under
   `strace -f` through a TLS tunnel (new, connect, messages both ways, close), a webhook wake-up
   (name resolution, connect), the admin endpoints, a SIGHUP certificate reload and a SIGTERM drain; each call it made is looked up in the groups
   the unit allows and denies (expanded by `systemd-analyze syscall-filter`).

usage: test_systemd_unit.py SOURCE_DIR RELAY_BINARY"""
import asyncio
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "relay"))
import websockets  # noqa: E402
from linktest import b64url, client_payload  # noqa: E402
from relaytest import check, finish, new_tid, ws_connect  # noqa: E402
from test_ops import make_cert  # noqa: E402

MAX_EXPOSURE = 2.0


def analyze(*args):
    return subprocess.run(["systemd-analyze"] + list(args), capture_output=True, text=True)


def expand(group, seen=None):
    """System call names of a systemd filter group (nested groups expanded)."""
    seen = seen if seen is not None else set()
    if group in seen:
        return set()
    seen.add(group)
    out = set()
    for line in analyze("syscall-filter", group).stdout.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        out |= expand(w, seen) if w.startswith("@") else {w}
    return out


def unit_filter(unit_text):
    """(allowed, denied) system call sets from the unit's SystemCallFilter= lines."""
    allowed, denied = set(), set()
    for m in re.finditer(r"^SystemCallFilter=(~?)(.*)$", unit_text, re.M):
        names = set()
        for w in m.group(2).split():
            names |= expand(w) if w.startswith("@") else {w}
        (denied if m.group(1) else allowed).update(names)
    return allowed, denied


def wait_file(path, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and open(path).read().strip():
            return int(open(path).read())
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


async def exercise(port, cert):
    ctx = ssl.create_default_context(cafile=cert)
    tid = new_tid()
    phone = await ws_connect("wss://127.0.0.1:%d/cable/new/%s" % (port, tid), ssl=ctx)
    rid = phone.response_headers["X-caBLE-Routing-ID"]
    desktop = await ws_connect("wss://127.0.0.1:%d/cable/connect/%s/%s" % (port, rid, tid), ssl=ctx)
    await phone.send(b"p" * 100)
    got1 = await asyncio.wait_for(desktop.recv(), 10)
    await desktop.send(b"d" * 5000)
    got2 = await asyncio.wait_for(phone.recv(), 10)
    await desktop.close()
    await asyncio.wait_for(phone.wait_closed(), 10)
    return got1 == b"p" * 100 and got2 == b"d" * 5000


async def wake_by_webhook(port, cert):
    """A contact request for an unknown contact: the relay resolves the webhook's host name
    (getaddrinfo: files, maybe nscd/resolved over AF_UNIX) and connects; nothing listens -> 503."""
    try:
        ws = await ws_connect("wss://127.0.0.1:%d/cable/contact/%s" % (port, b64url(b"unit-contact")),
                              ssl=ssl.create_default_context(cafile=cert),
                              extra_headers={"X-caBLE-Client-Payload": client_payload()})
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


def syscalls_of_relay(relay, d):
    cert, key = make_cert(d, "unit")
    trace = os.path.join(d, "strace.out")
    pf, apf = os.path.join(d, "port"), os.path.join(d, "admin-port")
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, relay, "--listen", "127.0.0.1:0",
                             "--admin-listen", "127.0.0.1:0", "--port-file", pf, "--admin-port-file", apf,
                             "--tls-cert", cert, "--tls-key", key, "--drain-timeout", "2",
                             "--wake-webhook", "http://localhost:9/wake", "--wake-webhook-timeout", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port, admin = wait_file(pf, proc), wait_file(apf, proc)
        check(port is not None and admin is not None, "relay under strace started")
        if port is None or admin is None:
            return set()
        check(asyncio.run(exercise(port, cert)), "a TLS tunnel relays both ways under strace")
        check(asyncio.run(wake_by_webhook(port, cert)) == 503, "a webhook wake-up to a closed port -> 503")
        for path in ("/healthz", "/readyz", "/metrics"):
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (admin, path), timeout=10) as r:
                check(r.status == 200, "admin %s answers 200" % path)
        # SIGHUP (certificate reload) and SIGTERM (drain): signals go to strace's child, the relay.
        pid = int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()[0])
        os.kill(pid, signal.SIGHUP)
        asyncio.run(exercise(port, cert))  # a tunnel after the reload: the reload has run
        os.kill(pid, signal.SIGTERM)
        check(proc.wait(30) == 0, "relay drained and exited 0 on SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    names = set()
    for line in open(trace):
        m = re.match(r"\d+\s+([a-z0-9_]+)\(", line)
        if m:
            names.add(m.group(1))
    names.discard("execve")  # strace starting the relay (systemd execs it before the filter applies)
    return names


def main(src, relay):
    unit_path = os.path.join(src, "deploy", "hybridgate-relay.service")
    unit_text = open(unit_path).read()
    with tempfile.TemporaryDirectory(prefix="hg-unit-") as d:
        unit = os.path.join(d, "hybridgate-relay.service")
        with open(unit, "w") as f:
            f.write(re.sub(r"^ExecStart=\S+", "ExecStart=" + os.path.abspath(relay), unit_text, flags=re.M))
        v = analyze("verify", unit)
        check(v.returncode == 0 and not (v.stdout + v.stderr).strip(),
              "systemd-analyze verify: clean (%s)" % (v.stdout + v.stderr).strip()[:500])
        # The .socket unit (socket activation) next to it: verified together.
        sock = os.path.join(d, "hybridgate-relay.socket")
        sock_text = open(os.path.join(src, "deploy", "hybridgate-relay.socket")).read()
        with open(sock, "w") as f:
            f.write(sock_text)
        v = analyze("verify", sock, unit)
        check(v.returncode == 0 and not (v.stdout + v.stderr).strip(),
              "systemd-analyze verify hybridgate-relay.socket: clean (%s)" % (v.stdout + v.stderr).strip()[:500])
        check(re.search(r"^StateDirectory=\S+", unit_text, re.M) and "--state-dir" not in unit_text.split("ExecStart=")[1].split("\n")[0],
              "the unit has a state directory by default (StateDirectory=, which the relay takes as --state-dir)")
        check(len(re.findall(r"^Listen\w+=", sock_text, re.M)) == 1 and re.search(r"^Accept=no$", sock_text, re.M),
              "the .socket unit passes one listening socket (Accept=no): what the relay takes as fd 3")
        s = analyze("security", "--offline=true", unit)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", s.stdout + s.stderr)
        check(m is not None and float(m.group(1)) <= MAX_EXPOSURE,
              "systemd-analyze security exposure %s <= %.1f" % (m.group(1) if m else "?", MAX_EXPOSURE))

        allowed, denied = unit_filter(unit_text)
        check(len(allowed) > 100 and len(denied) > 10, "the unit has an allow list (%d calls) and a deny list (%d)"
              % (len(allowed), len(denied)))
        used = syscalls_of_relay(relay, d)
        check(len(used) > 20, "collected the relay's system calls (%d)" % len(used))
        for name in sorted(used):
            check(name in allowed and name not in denied, "system call %s is allowed by the unit" % name)
    finish()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
