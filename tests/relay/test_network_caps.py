#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Per-network caps (issue 21, "Capacity"): the relay counts waiting tunnels, contacts and
connections at a second, wider prefix (IPv4 /24, IPv6 /48 by default; --network-prefix-v4/-v6)
so that many addresses of one network cannot fill the relay's tables, while a client of another
network still gets in. Loopback only: the clients are 127.x.y.z source addresses (all of
127.0.0.0/8 is local on Linux), in bounded loops."""
import asyncio
import subprocess
import sys

import websockets

from linktest import new_token
from relaytest import Relay, check, eof_within, finish, new_tid, status_of, wait_until, ws_connect


def at(ip):
    return {"local_addr": (ip, 0)}


async def try_open(r, ip, path=None):
    """A waiting tunnel from `ip`: the open WebSocket, or the HTTP status it was refused with."""
    try:
        return await ws_connect(r.url(path or "/cable/new/" + new_tid()), **at(ip))
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


async def register(base, ip):
    try:
        ws = await websockets.connect(base + "/cable/listen", subprotocols=["fido.cable"],
                                      extra_headers={"X-Hybridgate-Contact-Token": new_token()}, compression=None,
                                      open_timeout=10, close_timeout=10, ping_interval=None, local_addr=(ip, 0))
        return ws
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


async def waiting_flood(binary):
    # The flood, scaled down: the waiting table holds 300; 5 addresses of one /24 each open
    # up to their per-client 64 (320 attempts). At the default --max-waiting-per-network (256) the
    # /24 stops at 256, and a phone from another /24 still opens a tunnel (before: the table filled,
    # 503 max_waiting_tunnels for everyone).
    r = Relay(binary, "--max-waiting-tunnels", "300", "--rate-new", "0", "--rate-connect", "0")
    opened, refused = [], []
    try:
        for host in range(1, 6):
            for _ in range(64):
                got = await try_open(r, "127.0.5.%d" % host)
                (refused if isinstance(got, int) else opened).append(got)
        check(len(opened) == 256, "one /24 holds at most --max-waiting-per-network (default 256) waiting tunnels (%d)"
              % len(opened))
        check(refused and set(refused) == {503}, "the rest -> 503 (%r)" % sorted(set(refused)))
        check(r.metric('hybridgate_relay_rejections_total{reason="network_waiting_tunnels"}') == 64,
              "counted: rejections network_waiting_tunnels (%r)"
              % r.metric('hybridgate_relay_rejections_total{reason="network_waiting_tunnels"}'))
        check(r.metric('hybridgate_relay_limit_hits_total{limit="network_waiting_tunnels"}') == 64,
              "counted: limit network_waiting_tunnels")
        other = await try_open(r, "127.0.6.1")
        check(not isinstance(other, int), "a phone from another /24 still opens a tunnel during the flood (%r)" % other)
        # A tunnel of the network that is paired frees its slot.
        phone = opened.pop()
        desktop = await try_open(r, "127.0.7.1", "/cable/connect/%s/%s" % (r.routing_id, phone.path.split("/")[-1]))
        check(not isinstance(desktop, int), "the flood's tunnel pairs")
        again = await try_open(r, "127.0.5.9")
        check(not isinstance(again, int), "a paired tunnel frees its network's waiting slot")
        for ws in opened + [other, phone, desktop, again]:
            if not isinstance(ws, int):
                await ws.close()
    finally:
        r.stop()


async def contacts_and_connections(binary):
    r = Relay(binary, "--max-contacts-per-client", "2", "--max-contacts-per-network", "4",
              "--max-connections-per-client", "8", "--max-connections-per-network", "12",
              "--max-waiting-per-network", "0", "--rate-new", "0", "--rate-connect", "0", "--request-timeout", "30")
    base = "ws://127.0.0.1:%d" % r.port
    held = []
    try:
        # Contacts: 2 each from .1 and .2 of 127.0.8.0/24; .3 of the same /24 -> 503; another /24 registers.
        for host in (1, 2):
            for _ in range(2):
                ws = await register(base, "127.0.8.%d" % host)
                check(not isinstance(ws, int), "contact registered from 127.0.8.%d" % host)
                held.append(ws)
        third = await register(base, "127.0.8.3")
        check(third == 503, "a 5th contact of one /24 over --max-contacts-per-network 4 -> 503 (%r)" % third)
        check(r.metric('hybridgate_relay_rejections_total{reason="network_contacts"}') == 1,
              "counted: network_contacts")
        other = await register(base, "127.0.9.1")
        check(not isinstance(other, int), "a phone from another /24 registers (%r)" % other)
        held.append(other)

        # Connections (counted from the request on): the 4 listeners of 127.0.8.0/24 plus 8 tunnels
        # from .4 and .5 make 12; the 13th from .6 -> 503; another /24 connects.
        for host in (4, 5):
            for _ in range(4):
                ws = await try_open(r, "127.0.8.%d" % host)
                check(not isinstance(ws, int), "connection from 127.0.8.%d" % host)
                held.append(ws)
        over = await try_open(r, "127.0.8.6")
        check(over == 503, "the 13th connection of one /24 over --max-connections-per-network 12 -> 503 (%r)" % over)
        check(r.metric('hybridgate_relay_rejections_total{reason="network_connections"}') == 1,
              "counted: network_connections")
        ok = await try_open(r, "127.0.9.2")
        check(not isinstance(ok, int), "a client of another /24 connects (%r)" % ok)
        held.append(ok)
        for ws in held:
            await ws.close()
        check(await wait_until(lambda: r.metric("hybridgate_relay_connections_open") == 0, 10), "all closed")

        # Connections before their request (silent TCP, --request-timeout 30): 12 from three
        # addresses of 127.0.10.0/24 are held; the 13th is closed unread at once.
        silent = []
        for i in range(12):
            silent.append(await asyncio.open_connection("127.0.0.1", r.port, local_addr=("127.0.10.%d" % (1 + i % 3), 0)))
        check(await wait_until(lambda: r.metric("hybridgate_relay_handshaking_connections") == 12, 10),
              "12 silent connections held")
        rd, wr = await asyncio.open_connection("127.0.0.1", r.port, local_addr=("127.0.10.4", 0))
        check(await eof_within(rd, 5), "the 13th silent connection of the /24 is closed at once (not after 30 s)")
        wr.close()
        check(r.metric('hybridgate_relay_rejections_total{reason="network_handshakes"}') == 1,
              "counted: network_handshakes")
        elsewhere = await try_open(r, "127.0.11.1")
        check(not isinstance(elsewhere, int), "a client of another /24 still connects")
        await elsewhere.close()
        for _, w in silent:
            w.close()
    finally:
        r.stop()


async def prefix_option(binary):
    # --network-prefix-v4 16: 127.0.12.1 and 127.0.13.1 are one network.
    r = Relay(binary, "--network-prefix-v4", "16", "--max-waiting-per-network", "2", "--rate-new", "0")
    try:
        a = await try_open(r, "127.0.12.1")
        b = await try_open(r, "127.0.13.1")
        c = await try_open(r, "127.0.14.1")
        d = await try_open(r, "127.1.0.1")
        check(not isinstance(a, int) and not isinstance(b, int), "two tunnels from one /16")
        check(c == 503, "a third from the same /16 -> 503 with --network-prefix-v4 16 (%r)" % c)
        check(not isinstance(d, int), "another /16 gets in")
        for ws in (a, b, d):
            if not isinstance(ws, int):
                await ws.close()
    finally:
        r.stop()
    # A network narrower than a client makes no sense: refused with a sentence.
    p = subprocess.run([binary, "--listen", "127.0.0.1:0", "--client-prefix-v4", "24", "--network-prefix-v4", "28"],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode != 0 and "--network-prefix-v4" in p.stderr,
          "--network-prefix-v4 longer than --client-prefix-v4 is refused (%d: %s)" % (p.returncode, p.stderr.strip()))


async def main(binary):
    await waiting_flood(binary)
    await contacts_and_connections(binary)
    await prefix_option(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
