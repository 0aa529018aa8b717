#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Per-client caps (issue 13), from several loopback source addresses (127.0.0.x): open
connections, waiting tunnels and contact registrations per client prefix, the shorter TTL of
contacts no desktop ever contacted, webhook POSTs in flight, and re-attach rate limiting. Each cap
refuses the client at its limit (503/429, counted and logged) while another address still gets in."""
import asyncio
import secrets
import sys

import websockets

from linktest import b64url, client_payload, contact_status, listen, new_token
from relaytest import Relay, check, finish, new_tid, status_of, wait_until, ws_connect


def at(ip):
    return {"local_addr": (ip, 0)}


async def open_phone(r, ip):
    return await ws_connect(r.url("/cable/new/" + new_tid()), **at(ip))


async def caps(binary):
    r = Relay(binary, "--max-connections-per-client", "4", "--max-waiting-per-client", "3",
              "--max-contacts-per-client", "2", "--rate-new", "0", "--rate-connect", "0",
              "--rate-reattach", "0.001", "--rate-reattach-burst", "3", "--unused-contact-ttl", "0.5",
              "--contact-ttl", "3600")
    base = "ws://127.0.0.1:%d" % r.port
    try:
        # Waiting tunnels per client: 3 from .2, the 4th -> 503; .3 still gets in.
        phones = [await open_phone(r, "127.0.0.2") for _ in range(3)]
        check(await status_of(r.url("/cable/new/" + new_tid()), **at("127.0.0.2")) == 503,
              "4th waiting tunnel from one client over --max-waiting-per-client 3 -> 503")
        other = await open_phone(r, "127.0.0.3")
        check(other.open, "another client can still open a waiting tunnel")
        # Pairing one frees a waiting slot (the desktop from .4); the 4th connection of .2 is fine.
        desktop = await ws_connect(r.url("/cable/connect/%s/%s" % (r.routing_id, phones[0].path.split("/")[-1])),
                                   **at("127.0.0.4"))
        phones.append(await open_phone(r, "127.0.0.2"))
        check(phones[-1].open, "a paired tunnel frees its client's waiting slot")
        # Connections per client: .2 now holds 4 -> the 5th connection (any path) -> 503.
        check(await status_of(r.url("/cable/connect/%s/%s" % (r.routing_id, new_tid())), **at("127.0.0.2")) == 503,
              "5th open connection from one client over --max-connections-per-client 4 -> 503")
        check(r.metric('hybridgate_relay_rejections_total{reason="client_connections"}') == 1, "counted: client_connections")
        check(r.metric('hybridgate_relay_rejections_total{reason="client_waiting_tunnels"}') == 1,
              "counted: client_waiting_tunnels")
        for ws in phones + [other, desktop]:
            await ws.close()
        check(await wait_until(lambda: r.metric("hybridgate_relay_connections_open") == 0, 10), "all closed")

        # Contact registrations per client: 2 from .5, the 3rd -> 503; .6 still registers.
        listeners = []
        for _ in range(2):
            listeners.append(await register(base, "127.0.0.5"))
        try:
            await register(base, "127.0.0.5")
            third = 101
        except websockets.exceptions.InvalidStatusCode as e:
            third = e.status_code
        check(third == 503, "3rd contact registration from one client over --max-contacts-per-client 2 -> 503 (%r)" % third)
        listeners.append(await register(base, "127.0.0.6"))
        check(bool(listeners[-1][1]), "another client registers")

        # Unused contacts expire after --unused-contact-ttl once their listener is gone; a contact a
        # desktop reached keeps the full --contact-ttl.
        (l_unused, cid_unused), (l_used, cid_used) = listeners[0], listeners[1]
        st = await contact_status(base, cid_used, client_payload())
        check(st == 101, "a desktop reaches a listening contact")
        await l_unused.close()
        await l_used.close()
        gone = await poll_status(base, cid_unused, 410, 10)
        check(gone, "a never-contacted contact without listener is forgotten after --unused-contact-ttl (410)")
        check(await contact_status(base, cid_used, client_payload()) == 503,
              "a contacted one is still registered (503: no listener)")
        # Its slot is free again: .5 can register once more.
        listeners.append(await register(base, "127.0.0.5"))
        check(bool(listeners[-1][1]), "the expired contact's registration slot is free again")

        # Re-attach rate limit per contact: burst 3, then 429.
        token = new_token()
        first, cid = await listen(base, token, ping_interval=None)
        codes = []
        for _ in range(4):
            try:
                ws, _ = await listen(base, token, cid, ping_interval=None)
                codes.append(101)
                await ws.close()
            except websockets.exceptions.InvalidStatusCode as e:
                codes.append(e.status_code)
        check(codes == [101, 101, 101, 429], "re-attaching one contact over --rate-reattach -> 429 (%r)" % codes)
        check(r.metric('hybridgate_relay_limit_hits_total{limit="rate_reattach"}') == 1, "counted: rate_reattach")
        await first.close()
        for ws, _ in listeners[2:]:
            await ws.close()
    finally:
        r.stop()


async def register(base, ip):
    ws = await websockets.connect(base + "/cable/listen", subprotocols=["fido.cable"],
                                  extra_headers={"X-Hybridgate-Contact-Token": new_token()}, compression=None,
                                  open_timeout=10, close_timeout=10, ping_interval=None, local_addr=(ip, 0))
    return ws, ws.response_headers.get("X-Hybridgate-Contact-ID")


async def poll_status(base, cid, want, timeout):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await contact_status(base, cid, client_payload()) == want:
            return True
        await asyncio.sleep(0.1)
    return False


async def webhook_in_flight(binary):
    # A gateway that accepts and never answers: 2 POSTs may wait, the 3rd contact request -> 503 at once.
    hung = []

    async def never_answer(reader, writer):
        hung.append(writer)
        await reader.read(1 << 16)

    srv = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r = Relay(binary, "--wake-webhook", "http://127.0.0.1:%d/wake" % port, "--wake-webhook-timeout", "30",
              "--max-webhook-in-flight", "2", "--rate-new", "0")
    try:
        base = "ws://127.0.0.1:%d" % r.port
        cids = [b64url(b"ext" + secrets.token_bytes(20)) for _ in range(3)]
        pending = [asyncio.ensure_future(contact_status(base, c, client_payload())) for c in cids[:2]]
        check(await wait_until(lambda: r.metric("hybridgate_relay_webhook_requests_in_flight") == 2, 10),
              "two webhook POSTs in flight")
        check(await contact_status(base, cids[2], client_payload()) == 503,
              "a 3rd over --max-webhook-in-flight 2 -> 503 without a POST")
        check(r.metric('hybridgate_relay_rejections_total{reason="webhook_busy"}') == 1, "counted: webhook_busy")
        check(len(hung) == 2, "only two POSTs reached the gateway (%d)" % len(hung))
        for p in pending:
            p.cancel()
    finally:
        r.stop()
        for w in hung:
            w.close()
        srv.close()


async def main(binary):
    await caps(binary)
    await webhook_in_flight(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
