#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Memory inside the budget (issue 21), at the relay's defaults on loopback unless said otherwise:

- share: one client address pairs 100 of its own tunnels and has both sides hold most of a 1 MiB
  frame (2.6 s to fill the old 128 MiB budget). Its share (--max-client-buffer, 1/8 of the budget)
  stops it; a client at another address still pairs and relays messages over 512 bytes (what a
  real `hybridgate register` sends).
- pressure: three addresses each within their share fill the global budget; a fourth's message
  needs memory: the tunnels of the largest holder are closed first (limit buffer_pressure) and the
  fourth's message is relayed.
- handshakes (plain and --tls): one address opens 3,000 TCP connections that send nothing. Before
  their request they are charged to the budget and one peer prefix may hold at most
  --max-connections-per-client of them; the relay's RSS stays bounded, another address still
  pairs, and an idle connection is closed after --request-timeout. Then 12 addresses (250 each)
  open 3,000 such connections, close them, and the relay's RSS goes back down (malloc_trim).

The attack clients are raw sockets; every loop is bounded; RSS checks are skipped in an ASan build
(its quarantine keeps freed memory)."""
import asyncio
import os
import socket
import ssl
import subprocess
import sys
import tempfile

from relaytest import (Relay, check, check_rss, eof_within, finish, new_tid, send_partial, raw_upgrade,
                       wait_until, ws_connect)

MIB = 1 << 20


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def attacker_pairs(r, ip, count, ssl_ctx=None):
    """Pairs up to `count` tunnels whose both sides come from `ip`; returns the raw sides."""
    sides = []
    for _ in range(count):
        tid = new_tid()
        ph = await raw_upgrade(r.port, "/cable/new/" + tid, ip, ssl_ctx=ssl_ctx)
        if not ph:
            break
        dk = await raw_upgrade(r.port, "/cable/connect/%s/%s" % (ph[2]["x-cable-routing-id"], tid), ip, ssl_ctx=ssl_ctx)
        if not dk:
            ph[1].close()
            break
        sides += [ph, dk]
    return sides


async def victim_exchange(r, ip, size, scheme="ws", ssl_ctx=None):
    """A client at `ip` pairs and sends `size` bytes each way; True if both arrive intact."""
    kw = {"local_addr": (ip, 0)}
    if ssl_ctx:
        kw["ssl"] = ssl_ctx
    url = "%s://127.0.0.1:%d" % (scheme, r.port)
    tid = new_tid()
    phone = await ws_connect(url + "/cable/new/" + tid, **kw)
    desktop = await ws_connect(url + "/cable/connect/%s/%s" % (r.routing_id, tid), **kw)
    try:
        a, b = os.urandom(size), os.urandom(size)
        await phone.send(a)
        got_a = await asyncio.wait_for(desktop.recv(), 10)
        await desktop.send(b)
        got_b = await asyncio.wait_for(phone.recv(), 10)
        return got_a == a and got_b == b
    except Exception as e:  # noqa: BLE001 - a closed tunnel is the failure being tested
        print("     victim's tunnel failed: %r (close code %r)" % (e, phone.close_code or desktop.close_code))
        return False
    finally:
        await phone.close()
        await desktop.close()


async def share(binary):
    r = Relay(binary)
    try:
        base = rss(r.pid)
        sides = await attacker_pairs(r, "127.0.0.9", 100)
        check(len(sides) == 200, "one address paired 100 of its own tunnels (%d)" % (len(sides) // 2))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(*(send_partial(w, MIB, MIB - 1) for _, w, _ in sides))
        held = r.metric("hybridgate_relay_buffered_bytes")
        peak = rss(r.pid)
        print("     one address, 100 tunnels x 2 sides x (1 MiB - 1 byte): %.1f s, budget held %.1f MiB, RSS %.1f -> %.1f MB"
              % (loop.time() - t0, held / MIB, base / 1e6, peak / 1e6))
        check(held <= 16 * MIB, "one address holds at most its share, 1/8 of the budget (%.1f MiB)" % (held / MIB))
        check(r.metric('hybridgate_relay_limit_hits_total{limit="client_buffer"}') >= 1,
              "the share's refusals are counted (limit client_buffer)")
        ok = await victim_exchange(r, "127.0.0.50", 100000)
        check(ok, "during the attack a client at another address pairs and relays 100 kB each way")
        check_rss(r.pid, peak - base < 64 * MIB, "RSS growth during the attack %.1f MB < 64 MiB" % ((peak - base) / 1e6))
        for _, w, _ in sides:
            w.close()
    finally:
        r.stop()


async def pressure(binary):
    r = Relay(binary, "--max-buffered-bytes", "7000000", "--max-client-buffer", "2500000",
              "--rate-new", "0", "--rate-connect", "0")
    try:
        attackers = {}
        for ip in ("127.0.0.11", "127.0.0.12", "127.0.0.13"):
            sides = await attacker_pairs(r, ip, 2)
            # One side of each tunnel holds 1,000,000 bytes of a 1,040,000-byte frame (1 MiB charged).
            await asyncio.gather(*(send_partial(w, 1040000, 1000000) for _, w, _ in sides[::2]))
            attackers[ip] = sides
        # The relay reads what they sent at its own pace: wait (bounded) until it holds it.
        await wait_until(lambda: r.metric("hybridgate_relay_buffered_bytes") > 6000000, 10)
        held = r.metric("hybridgate_relay_buffered_bytes")
        print("     three addresses hold %.2f MB of the 7 MB budget" % (held / 1e6))
        check(held > 6000000, "three addresses within their share nearly fill the global budget (%d bytes)" % held)
        ok = await victim_exchange(r, "127.0.0.50", 900000)
        check(ok, "a fourth address's 900 kB messages are relayed under pressure")
        check(r.metric('hybridgate_relay_limit_hits_total{limit="buffer_pressure"}') >= 1,
              "the largest holder's tunnels were closed to make room (limit buffer_pressure)")
        check(r.metric('hybridgate_relay_limit_hits_total{limit="buffer_budget"}') == 0,
              "no tunnel was refused for the global budget")
        # The evicted attacker sides were dropped: at least one attacker connection sees EOF.
        eofs = await asyncio.gather(*(eof_within(rd, 5) for s in attackers.values() for rd, _, _ in s[::2]))
        check(any(eofs), "an attacker's connection was dropped (%d of %d)" % (sum(eofs), len(eofs)))
        check(r.metric("hybridgate_relay_buffered_bytes") <= 7000000, "buffered_bytes within --max-buffered-bytes")
        for s in attackers.values():
            for _, w, _ in s:
                w.close()
    finally:
        r.stop()


def make_cert(d):
    cert, key = os.path.join(d, "relay.crt"), os.path.join(d, "relay.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def idle_connections(port, ips, per_ip):
    """Opens per_ip TCP connections from each address that send nothing; returns the sockets."""
    socks = []
    for ip in ips:
        for _ in range(per_ip):
            s = socket.socket()
            s.bind((ip, 0))
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
    return socks


async def handshakes(binary, tls):
    mode = "TLS" if tls else "plain"
    args, ctx, scheme = [], None, "ws"
    if tls:
        cert, key = make_cert(tempfile.mkdtemp(prefix="hg-relay-pressure-"))
        args = ["--tls-cert", cert, "--tls-key", key]
        ctx = ssl.create_default_context(cafile=cert)
        scheme = "wss"
    r = Relay(binary, *args)
    loop = asyncio.get_running_loop()
    try:
        base = rss(r.pid)
        socks = await loop.run_in_executor(None, idle_connections, r.port, ["127.0.0.9"], 3000)
        # The relay has accepted them all once its counters say so (bounded wait).
        await wait_until(lambda: r.metric("hybridgate_relay_connections_total") >= len(socks), 20)
        peak = rss(r.pid)
        handshaking = r.metric("hybridgate_relay_handshaking_connections")
        print("     %s: 3000 idle connections from one address: RSS %.1f -> %.1f MB, %d handshaking"
              % (mode, base / 1e6, peak / 1e6, handshaking))
        dropped = r.metric('hybridgate_relay_rejections_total{reason="client_handshakes"}') + \
            r.metric('hybridgate_relay_rejections_total{reason="handshake_budget"}')
        check(handshaking <= 256 and dropped >= len(socks) - 256,
              "%s: one address holds at most 256 connections before their request (%d; %d dropped)"
              % (mode, handshaking, dropped))
        check_rss(r.pid, peak - base < 40 * MIB,
                  "%s: RSS growth with 3000 idle connections from one address %.1f MB < 40 MiB" % (mode, (peak - base) / 1e6))
        ok = await victim_exchange(r, "127.0.0.50", 4000, scheme, ctx)
        check(ok, "%s: another address pairs during the flood" % mode)
        for s in socks:
            s.close()
        # An idle connection is closed after --request-timeout (3 s), not --upgrade-timeout (10 s).
        rd, wr = await asyncio.open_connection("127.0.0.1", r.port, local_addr=("127.0.0.60", 0))
        t0 = loop.time()
        closed = await eof_within(rd, 6)
        check(closed, "%s: a connection that sends nothing is closed after --request-timeout (%.1f s)"
              % (mode, loop.time() - t0))
        wr.close()
        check(await wait_until(lambda: r.metric('hybridgate_relay_limit_hits_total{limit="request_timeout"}') >= 1, 5),
              "%s: counted as limit request_timeout" % mode)

        # Many addresses (within the per-address cap), then all gone: RSS goes back down.
        ips = ["127.0.1.%d" % i for i in range(1, 13)]
        socks = await loop.run_in_executor(None, idle_connections, r.port, ips, 250)
        total = r.metric("hybridgate_relay_connections_total")
        await wait_until(lambda: r.metric("hybridgate_relay_connections_total") >= total, 20)
        peak2 = rss(r.pid)
        for s in socks:
            s.close()
        await wait_until(lambda: r.metric("hybridgate_relay_connections_open") == 0, 20)
        t0 = loop.time()
        back = await wait_until(lambda: rss(r.pid) < 64 * MIB, 30, 0.5)
        after = rss(r.pid)
        print("     %s: 3000 idle connections from 12 addresses: RSS peak %.1f MB, %.1f MB %.1f s after they closed"
              % (mode, peak2 / 1e6, after / 1e6, loop.time() - t0))
        check_rss(r.pid, back, "%s: within 30 s after the flood RSS is under 64 MiB "
                  "(%.1f MB, start %.1f MB)" % (mode, after / 1e6, base / 1e6))
    finally:
        r.stop()


async def main(binary, parts):
    """parts: which attacks to run (default all); by hand, e.g. to measure an older build."""
    if "share" in parts:
        await share(binary)
    if "pressure" in parts:
        await pressure(binary)
    if "plain" in parts:
        await handshakes(binary, False)
    if "tls" in parts:
        await handshakes(binary, True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:] or ["share", "pressure", "plain", "tls"]))
    finish()
