#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Relay limits: every limit answers with its status or close code (1009, 1008, 429, 503, 431)
and is counted in /metrics under its name."""
import asyncio
import socket
import sys

from relaytest import Relay, check, closed_code, finish, new_tid, pair, status_of, ws_connect


async def main(binary):
    r = Relay(binary, "--max-message-size", "1024", "--max-tunnel-messages", "6", "--max-tunnel-bytes", "4000",
              "--max-pending-messages", "2", "--max-pending-bytes", "1500", "--wait-timeout", "0.5",
              "--idle-timeout", "0.5", "--tunnel-lifetime", "3", "--max-header-size", "2048",
              "--upgrade-timeout", "0.5", "--max-waiting-tunnels", "3", "--max-connections", "12",
              "--rate-new", "0.01", "--rate-new-burst", "30", "--rate-connect", "0.01", "--rate-connect-burst", "40")
    r2 = Relay(binary, "--tunnel-lifetime", "1.5", "--idle-timeout", "0.6")
    try:
        await limits(r)
        await lifetime(r2)
    finally:
        r.stop()
        r2.stop()


async def limits(r):
    # 1009: a message over --max-message-size
    phone, desktop, _ = await pair(r)
    await phone.send(b"a" * 1024)
    check(len(await asyncio.wait_for(desktop.recv(), 10)) == 1024, "a message of exactly the limit is relayed")
    await phone.send(b"a" * 1025)
    check(await closed_code(phone) == 1009, "message over the size limit -> sender closed 1009")
    check(await closed_code(desktop) == 1009, "message over the size limit -> peer closed 1009")

    # 1008: messages per tunnel
    phone, desktop, _ = await pair(r)
    for i in range(6):
        await (phone if i % 2 else desktop).send(b"m")
    for i in range(3):
        await asyncio.wait_for(phone.recv(), 10)
        await asyncio.wait_for(desktop.recv(), 10)
    await phone.send(b"7th")
    check(await closed_code(phone) == 1008, "7th message over --max-tunnel-messages 6 -> 1008")
    check(await closed_code(desktop) == 1008, "message quota -> peer 1008")

    # 1008: bytes per tunnel
    phone, desktop, _ = await pair(r)
    for _ in range(3):
        await phone.send(b"b" * 1000)
        await asyncio.wait_for(desktop.recv(), 10)
    await desktop.send(b"c" * 1001)
    check(await closed_code(desktop) == 1008, "bytes over --max-tunnel-bytes -> 1008")
    check(await closed_code(phone) == 1008, "byte quota -> peer 1008")

    # 1008: too much buffered before the desktop joins (count, then bytes)
    phone = await ws_connect(r.url("/cable/new/" + new_tid()))
    for _ in range(3):
        await phone.send(b"p")
    check(await closed_code(phone) == 1008, "3rd message before the join over --max-pending-messages 2 -> 1008")
    phone = await ws_connect(r.url("/cable/new/" + new_tid()))
    await phone.send(b"p" * 1000)
    await phone.send(b"p" * 501)
    check(await closed_code(phone) == 1008, "pending bytes over --max-pending-bytes -> 1008")

    # 1008: phone waited too long for its desktop
    phone = await ws_connect(r.url("/cable/new/" + new_tid()))
    check(await closed_code(phone) == 1008, "no desktop within --wait-timeout -> 1008")

    # 1008: idle tunnel
    phone, desktop, _ = await pair(r)
    check(await closed_code(phone) == 1008 and await closed_code(desktop) == 1008, "idle tunnel -> both sides 1008")

    # 431: header over --max-header-size
    check(await status_of(r.url("/cable/new/" + new_tid()), extra_headers={"X-Big": "x" * 4000}) == 431,
          "request header over --max-header-size -> 431")

    # slow client: connects and never sends the request -> closed after --upgrade-timeout
    s = socket.create_connection(("127.0.0.1", r.port))
    s.settimeout(10)
    s.sendall(b"GET /cable/new/")
    try:
        data = s.recv(100)
    except OSError:
        data = b""
    check(data == b"", "slow client is disconnected after --upgrade-timeout")
    s.close()

    # 503: waiting tunnels over --max-waiting-tunnels 3
    waiting = [await ws_connect(r.url("/cable/new/" + new_tid())) for _ in range(3)]
    check(await status_of(r.url("/cable/new/" + new_tid())) == 503, "4th waiting tunnel over --max-waiting-tunnels 3 -> 503")
    for w in waiting:
        await w.close()

    # 503: connections over --max-connections 12
    conns = []
    for _ in range(6):
        p, d, _ = await pair(r)
        conns += [p, d]
    check(await status_of(r.url("/cable/new/" + new_tid())) == 503, "13th connection over --max-connections 12 -> 503")
    for c in conns:
        await c.close()
    for c in conns:
        await closed_code(c)

    # 429: per-IP rate limit (burst 30 for new, nearly no refill)
    codes = [await status_of(r.url("/cable/new/" + new_tid())) for _ in range(30)]
    check(codes[-1] == 429, "/cable/new over the per-IP rate limit -> 429 (statuses %s)" % sorted(set(codes)))
    codes = [await status_of(r.url("/cable/connect/%s/%s" % (r.routing_id, new_tid()))) for _ in range(40)]
    check(429 in codes, "/cable/connect over the per-IP rate limit -> 429")

    m = r.metric
    for lim in ["message_size", "tunnel_messages", "tunnel_bytes", "pending_buffer", "wait_timeout", "idle_timeout",
                "header_size", "upgrade_timeout", "max_waiting_tunnels", "max_connections",
                "rate_new", "rate_connect"]:
        check(m('hybridgate_relay_limit_hits_total{limit="%s"}' % lim) >= 1, "limit %s counted in metrics" % lim)
    check(m('hybridgate_relay_rejections_total{reason="rate_limited"}') >= 2, "429s counted as rejections")
    check(m('hybridgate_relay_tunnels_finished_total{outcome="limit"}') >= 6, "tunnels finished by limit counted")
    logged = {j.get("limit") for j in r.log if j.get("event") == "limit_hit"}
    check({"message_size", "idle_timeout", "wait_timeout", "rate_new"} <= logged, "limit hits are logged with their reason")


async def lifetime(r):
    # 1008: tunnel lifetime, while messages keep it from being idle
    phone, desktop, _ = await pair(r)
    async def chatter():
        try:
            while True:
                await phone.send(b"k")
                await desktop.recv()
                await asyncio.sleep(0.2)  # pacing only; the check below waits for the close itself
        except Exception:
            pass
    await asyncio.wait_for(chatter(), 15)
    await asyncio.wait_for(desktop.wait_closed(), 10)
    check(desktop.close_code == 1008, "tunnel over --tunnel-lifetime (with traffic) -> 1008, got %r" % desktop.close_code)

    check(r.metric('hybridgate_relay_limit_hits_total{limit="tunnel_lifetime"}') == 1, "limit tunnel_lifetime counted")
    check(r.metric('hybridgate_relay_limit_hits_total{limit="idle_timeout"}') == 0, "traffic every 0.2 s keeps the idle timer off")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
