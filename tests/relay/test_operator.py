#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Operator items (issue 13, 21): --version; an unknown config key is an error naming the file and
line; a bind failure says the address is in use, or that the bind failed; an unusable TLS key names
the file and OpenSSL's reason; Prometheus names and series (..._bytes_total, labelled series present at 0 from
the start, process_* metrics, build_info); sd_notify READY/WATCHDOG/STOPPING on a NOTIFY_SOCKET the
test binds; log lines carry journald priorities when stdout is the journal's stream."""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from relaytest import Relay, check, finish


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=20)


def cli(binary):
    p = run(binary, "--version")
    check(p.returncode == 0 and re.match(r"hybridgate-relay \d+\.\d+\.\d+", p.stdout), "--version: %r" % p.stdout)
    d = tempfile.mkdtemp(prefix="hg-op-")
    conf = os.path.join(d, "relay.conf")
    with open(conf, "w") as f:
        f.write('listen = "127.0.0.1:0"\nmax-mesage-size = 10\n')  # misspelt
    p = run(binary, "--config", conf)
    check(p.returncode != 0 and "max-mesage-size" in p.stderr, "an unknown config key is an error naming it (%r)" % p.stderr[-200:])
    check(conf + ":2:" in p.stderr, "... with the file and line (%r)" % p.stderr.strip()[-200:])
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    p = run(binary, "--listen", "127.0.0.1:%d" % s.getsockname()[1])
    check(p.returncode != 0 and "in use" in p.stderr, "a bind failure says the address is in use (%r)" % p.stderr.strip())
    check("could not be read or written" not in p.stderr, "... and not that a file could not be read or written")
    s.close()
    # 192.0.2.1 (TEST-NET-1) is no address of this host: the bind fails and says so.
    p = run(binary, "--listen", "192.0.2.1:0")
    check(p.returncode != 0 and "cannot listen on 192.0.2.1:0 (bind failed)" in p.stderr,
          "a bind failure says which address and that the bind failed (%r)" % p.stderr.strip()[-200:])
    # A TLS key that is not a key: the file and OpenSSL's reason, not just "asio.ssl error".
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=op"], check=True, capture_output=True)
    bad = os.path.join(d, "bad.pem")
    with open(bad, "w") as f:
        f.write("not a key\n")
    p = run(binary, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", bad)
    check(p.returncode != 0 and ("the TLS key " + bad + " is not a PEM private key") in p.stderr and "OpenSSL:" in p.stderr,
          "an unusable TLS key names the file and the reason (%r)" % p.stderr.strip()[-200:])
    p = run(binary, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", cert)
    check(p.returncode != 0 and cert in p.stderr, "a certificate given as the key names the file (%r)" % p.stderr.strip()[-200:])


def metrics(binary):
    r = Relay(binary)
    try:
        _, body = r.admin("/metrics")
        families, samples = {}, {}
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split()
                families[name] = typ
            elif line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        bad = [n for n, t in families.items() if t == "counter" and not n.endswith("_total")]
        check(not bad, "every counter ends in _total (%r)" % bad)
        check("hybridgate_relay_relayed_bytes_total" in families and "hybridgate_relay_bytes_relayed_total" not in families,
              "bytes counter named ..._bytes_total")
        for s in ['hybridgate_relay_rejections_total{reason="rate_limited"}',
                  'hybridgate_relay_limit_hits_total{limit="buffer_budget"}',
                  'hybridgate_relay_tunnels_finished_total{outcome="vanished"}',
                  'hybridgate_relay_close_codes_sent_total{code="1008"}',
                  'hybridgate_relay_wakeups_sent_total{channel="webhook"}',
                  'hybridgate_relay_contact_requests_total{status="503"}',
                  'hybridgate_relay_webhook_results_total{result="failed"}']:
            check(samples.get(s) == 0, "labelled series present at 0 from the start: " + s)
        for n in ["process_start_time_seconds", "process_cpu_seconds_total", "process_resident_memory_bytes",
                  "process_open_fds", "process_max_fds", "process_virtual_memory_bytes"]:
            check(samples.get(n, 0) > 0, "%s present (%r)" % (n, samples.get(n)))
        check(abs(samples.get("process_start_time_seconds", 0) - time.time()) < 3600, "start time is a recent Unix time")
        bi = [k for k in samples if k.startswith("hybridgate_relay_build_info{version=")]
        check(len(bi) == 1 and samples[bi[0]] == 1, "build_info gauge (%r)" % bi)
    finally:
        r.stop()


def notify(binary):
    d = tempfile.mkdtemp(prefix="hg-notify-")
    path = os.path.join(d, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
    r = Relay(binary, env=env)
    got = []

    def until(word, n=1):
        deadline = time.monotonic() + 10
        while sum(word in m for m in got) < n and time.monotonic() < deadline:
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                break
        return sum(word in m for m in got) >= n
    try:
        check(until("READY=1"), "sd_notify READY=1 once listening")
        check(until("WATCHDOG=1", 3), "sd_notify WATCHDOG=1 repeatedly with WATCHDOG_USEC set")
        r.signal(signal.SIGTERM)
        check(until("STOPPING=1"), "sd_notify STOPPING=1 when draining")
        check(r.wait_exit(10) == 0, "exits 0")
    finally:
        r.stop()
        sock.close()


def journald(binary):
    rfd, wfd = os.pipe()
    st = os.fstat(wfd)
    env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--log-level", "debug"], stdout=wfd, stderr=subprocess.PIPE,
                         env=env)
    os.close(wfd)
    lines = []
    with os.fdopen(rfd, "r") as f:
        for line in f:
            lines.append(line)
            if '"listening"' in line:
                break
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    prio = {}
    for line in lines:
        m = re.match(r"<(\d)>(\{.*\})$", line.strip())
        if m:
            prio[json.loads(m.group(2))["event"]] = int(m.group(1))
    check(prio.get("listening") == 6, "under journald: info lines start with <6> (%r)" % lines[-1:])
    check(prio.get("contacts_in_memory") == 4, "under journald: warnings start with <4>")


async def main(binary):
    cli(binary)
    metrics(binary)
    notify(binary)
    journald(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
