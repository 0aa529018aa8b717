#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Operations metrics (issue 21): /metrics has the TLS certificate's expiry (as `openssl x509
-enddate` reads it, and renewed by SIGHUP), a histogram of tunnel durations, the event loop's lag
(made visible by stopping the process with SIGSTOP), and every effective limit — each numeric
option of `--help`, with the automatic ones resolved."""
import asyncio
import calendar
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time

from relaytest import Relay, check, finish, new_tid, wait_until, ws_connect


def make_cert(d, name, days):
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", str(days), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def openssl_not_after(cert):
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", cert], check=True, capture_output=True,
                         text=True).stdout.strip()  # notAfter=Dec  7 21:00:00 2027 GMT
    return calendar.timegm(time.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT"))


def histogram(r, name):
    """{le: count} of a histogram, plus its _count and _sum."""
    text = r.admin("/metrics")[1]
    buckets = {m.group(1): float(m.group(2))
               for m in re.finditer(r'^%s_bucket\{le="([^"]+)"\} (\S+)$' % re.escape(name), text, re.M)}
    count = re.search(r"^%s_count (\S+)$" % re.escape(name), text, re.M)
    total = re.search(r"^%s_sum (\S+)$" % re.escape(name), text, re.M)
    return buckets, float(count.group(1)) if count else None, float(total.group(1)) if total else None


def limits(r):
    text = r.admin("/metrics")[1]
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r'^hybridgate_relay_limit\{limit="([^"]+)"\} (\S+)$', text, re.M)}


async def cert_expiry(binary, d):
    cert, key = make_cert(d, "a", 10)
    r = Relay(binary, "--tls-cert", cert, "--tls-key", key)
    try:
        want = openssl_not_after(cert)
        got = r.metric("hybridgate_relay_tls_certificate_expiry_timestamp_seconds")
        check(got == want, "certificate expiry = openssl's notAfter (%r vs %r)" % (got, want))
        # Renewed in place, then SIGHUP: the metric follows.
        cert2, key2 = make_cert(d, "b", 90)
        os.replace(cert2, cert)
        os.replace(key2, key)
        want2 = openssl_not_after(cert)
        r.signal(signal.SIGHUP)
        check(await wait_until(lambda: r.metric("hybridgate_relay_tls_certificate_expiry_timestamp_seconds") == want2, 10),
              "after SIGHUP the expiry is the new certificate's (%r)" % want2)
    finally:
        r.stop()
    r = Relay(binary)
    try:
        check("tls_certificate_expiry" not in r.admin("/metrics")[1], "a plain relay has no certificate expiry")
    finally:
        r.stop()


async def durations_lag_limits(binary):
    r = Relay(binary, "--max-waiting-tunnels", "123", "--max-contacts-per-network", "0")
    name = "hybridgate_relay_tunnel_duration_seconds"
    try:
        _, count0, _ = histogram(r, name)
        check(count0 == 0, "no tunnel duration before a tunnel (%r)" % count0)
        tid = new_tid()
        phone = await ws_connect(r.url("/cable/new/" + tid))
        desktop = await ws_connect(r.url("/cable/connect/%s/%s" % (r.routing_id, tid)))
        await phone.send(b"x" * 10)
        await desktop.recv()
        await asyncio.sleep(0.6)  # the tunnel's life, not synchronisation: it is what is measured
        await phone.close()
        await desktop.close()
        check(await wait_until(lambda: histogram(r, name)[1] == 1, 10), "one tunnel duration observed")
        buckets, count, total = histogram(r, name)
        check(total is not None and 0.6 <= total < 10, "its duration is the tunnel's life (%r s)" % total)
        check(buckets.get("0.5") == 0 and buckets.get("1") == 1 and buckets.get("+Inf") == 1,
              "in the 0.5..1 s bucket (%r)" % buckets)

        # Event-loop lag: stopped for 1.5 s, the loop's 250 ms timer runs > 1 s late.
        lag = "hybridgate_relay_event_loop_lag_seconds"
        check(await wait_until(lambda: (histogram(r, lag)[1] or 0) >= 2, 10), "the loop's lag is measured")
        b, c, _ = histogram(r, lag)
        check(c - b["1"] == 0, "no lag over 1 s while idle (%r)" % b)
        os.kill(r.pid, signal.SIGSTOP)
        time.sleep(1.5)  # the process does not run: that is the lag to see
        os.kill(r.pid, signal.SIGCONT)
        check(await wait_until(lambda: histogram(r, lag)[1] - histogram(r, lag)[0]["1"] >= 1, 10),
              "a 1.5 s stop shows as a lag over 1 s (%r)" % (histogram(r, lag)[0],))

        # Every numeric option of --help is a limit, with its effective value.
        help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
        numeric = re.findall(r"^\s+--([a-z0-9-]+) (?:FLOAT|UINT|INT)", help_text, re.M)
        lim = limits(r)
        missing = [o for o in numeric if o.replace("-", "_") not in lim]
        check(len(numeric) > 30 and not missing, "every numeric option of --help is a limit metric (missing %r)" % missing)
        check(lim.get("max_waiting_tunnels") == 123, "a limit given on the command line (%r)" % lim.get("max_waiting_tunnels"))
        check(lim.get("max_contacts_per_network") == 0, "0 = no cap shows as 0")
        check(lim.get("max_client_buffer") == (128 << 20) / 8, "automatic --max-client-buffer resolved (%r)"
              % lim.get("max_client_buffer"))
        check(lim.get("max_tunnel_buffer") == 2 * (1 << 20) + 65536, "automatic --max-tunnel-buffer resolved")
        with open("/proc/%d/limits" % r.pid) as f:
            nofile = int(re.search(r"^Max open files\s+(\d+)", f.read(), re.M).group(1))
        want = nofile - 64 if nofile > 128 else 64
        check(lim.get("max_connections") == want, "automatic --max-connections = fd limit - 64 (%r vs %r)"
              % (lim.get("max_connections"), want))
    finally:
        r.stop()


async def main(binary):
    with tempfile.TemporaryDirectory(prefix="hg-metrics-") as d:
        await cert_expiry(binary, d)
    await durations_lag_limits(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
