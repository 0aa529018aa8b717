#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Relay protocol and HTTP status codes (spec §5, issue 3): 101 + headers, relaying in order both
ways, buffering before the join, hex case, 405/404/400/409, peer close codes, metrics/healthz."""
import asyncio
import sys

import websockets

from relaytest import (Relay, check, closed_code, finish, http_status, new_tid, pair, status_of, ws_connect)


async def main(binary):
    relay = Relay(binary, "--rate-new", "0", "--rate-connect", "0", routing_id="a1b2c3")
    try:
        await scenario(relay)
    finally:
        relay.stop()


async def scenario(r):
    check(r.routing_id == "A1B2C3", "routing ID from --routing-id is reported upper-case")

    # --- happy path: 101, headers, buffered messages, relaying both ways in order ---
    tid = new_tid()
    phone = await ws_connect(r.url("/cable/new/" + tid.lower()))
    check(phone.subprotocol == "fido.cable", "101 selects Sec-WebSocket-Protocol fido.cable")
    rid_hdr = phone.response_headers.get_all("X-caBLE-Routing-ID")
    check(rid_hdr == ["A1B2C3"], "101 carries exactly one X-caBLE-Routing-ID: A1B2C3 (got %r)" % rid_hdr)
    check(await status_of(r.url("/cable/new/" + tid.upper())) == 409, "409 for a tunnel ID already waiting (other hex case)")
    early = [b"early-1", b"", b"\x00" * 3000]
    for m in early:
        await phone.send(m)
    desktop = await ws_connect(r.url("/cable/connect/a1b2c3/" + tid.lower()))
    check(desktop.subprotocol == "fido.cable", "desktop 101 selects fido.cable")
    got = [await asyncio.wait_for(desktop.recv(), 10) for _ in early]
    check(got == early, "messages sent before the desktop joined arrive in order (incl. empty)")
    check(await status_of(r.url("/cable/connect/A1B2C3/" + tid)) == 409, "409 for a second desktop on a tunnel in use")

    msgs = [bytes([i % 256]) * (1 + i * 997 % 70000) for i in range(40)]
    async def sender(ws, ms):
        for m in ms:
            await ws.send(m)
    async def receiver(ws, n):
        return [await asyncio.wait_for(ws.recv(), 10) for _ in range(n)]
    back = [m[::-1] + b"back" for m in msgs]
    res = await asyncio.gather(sender(phone, msgs), sender(desktop, back), receiver(desktop, len(msgs)),
                               receiver(phone, len(back)))
    check(res[2] == msgs, "40 messages phone->desktop arrive unchanged and in order")
    check(res[3] == back, "40 messages desktop->phone arrive unchanged and in order")
    await phone.send([b"frag", b"mented", b"!"])  # one message in three frames
    check(await asyncio.wait_for(desktop.recv(), 10) == b"fragmented!", "a fragmented message arrives as one message")
    big = b"\xab" * (1 << 20)
    await desktop.send(big)
    check(await asyncio.wait_for(phone.recv(), 10) == big, "a 1 MiB message (the default limit) is relayed")

    # the desktop closes with its own code: the phone gets that code, after every earlier message
    for i in range(5):
        await desktop.send(b"last-%d" % i)
    await desktop.close(4001, "bye")
    got = []
    try:
        while True:
            got.append(await asyncio.wait_for(phone.recv(), 10))
    except websockets.exceptions.ConnectionClosed:
        pass
    check(got == [b"last-%d" % i for i in range(5)], "messages sent just before a close all arrive first")
    check(phone.close_code == 4001, "peer left -> the peer's close code (4001), got %r" % phone.close_code)

    # the phone closes normally: desktop gets 1000
    phone, desktop, _ = await pair(r)
    await phone.close(1000)
    check(await closed_code(desktop) == 1000, "phone closes 1000 -> desktop gets 1000")

    # a side vanishes without a close frame: the peer gets 1001
    phone, desktop, _ = await pair(r)
    await phone.send(b"x")
    await desktop.recv()
    desktop.transport.abort()
    check(await closed_code(phone) == 1001, "desktop vanished (TCP abort) -> phone gets 1001")
    phone, desktop, _ = await pair(r)
    phone.transport.abort()
    check(await closed_code(desktop) == 1001, "phone vanished -> desktop gets 1001")

    # a phone that leaves before the desktop comes: its tunnel ID is gone -> 404
    tid = new_tid()
    phone = await ws_connect(r.url("/cable/new/" + tid))
    await phone.close()
    ev = r.wait_event("tunnel_finished", lambda j: j.get("outcome") == "abandoned")
    check(ev is not None, "abandoned tunnel is logged as finished")
    check(tid not in str(ev) and tid.lower() not in str(ev), "the log line does not contain the tunnel ID")
    check(await status_of(r.url("/cable/connect/A1B2C3/" + tid)) == 404, "404 connect after the phone left")

    # text message -> 1003 for the sender, and the peer is told with the same code
    phone, desktop, _ = await pair(r)
    await phone.send("text is not allowed")
    check(await closed_code(phone) == 1003, "text message -> sender closed with 1003")
    check(await closed_code(desktop) == 1003, "text message -> peer closed with 1003")

    # --- status codes ---
    tid = new_tid()
    check(http_status(r.port, "POST", "/cable/new/" + tid) == 405, "405 for POST")
    check(http_status(r.port, "PUT", "/cable/connect/A1B2C3/" + tid) == 405, "405 for PUT")
    check(http_status(r.port, "GET", "/cable/new/" + tid) == 400, "400 for a plain GET (not a WebSocket upgrade)")
    check(await status_of(r.url("/cable/new/" + tid), protocols=("other",)) == 400, "400 when fido.cable is not offered")
    check(await status_of(r.url("/cable/new/" + tid), protocols=()) == 400, "400 when no subprotocol is offered")
    check(await status_of(r.url("/cable/new/" + tid), protocols=("x", "fido.cable")) == 101, "fido.cable among several is accepted")
    check(await status_of(r.url("/nothing/here")) == 404, "404 unknown path")
    check(await status_of(r.url("/cable/new/" + tid[:30])) == 404, "404 short tunnel ID")
    check(await status_of(r.url("/cable/new/" + "zz" * 16)) == 404, "404 non-hex tunnel ID")
    check(await status_of(r.url("/cable/new/%s?x=1" % new_tid())) == 404, "404 with a query string")
    check(await status_of(r.url("/cable/connect/A1B2C3/" + new_tid())) == 404, "404 unknown tunnel")
    tid = new_tid()
    p = await ws_connect(r.url("/cable/new/" + tid))
    check(await status_of(r.url("/cable/connect/A1B2C4/" + tid)) == 404, "404 routing ID not ours (tunnel exists)")
    check(await status_of(r.url("/cable/contact/AAECAwQ")) == 400, "400 for /cable/contact/ without a client payload (test_linking.py has the rest)")
    check(await status_of(r.url("/cable/contact/")) == 404, "404 for /cable/contact/ without a contact ID")
    d = await ws_connect(r.url("/cable/connect/a1B2c3/" + tid.lower()))
    await p.send(b"mixed case ok")
    check(await asyncio.wait_for(d.recv(), 10) == b"mixed case ok", "mixed-case routing and tunnel IDs are accepted")
    await p.close()
    await d.close()

    # --- admin ---
    check(r.admin("/healthz")[0] == 200, "/healthz 200")
    check(r.admin("/readyz")[0] == 200, "/readyz 200")
    check(r.admin("/nope")[0] == 404, "admin 404 for unknown path")
    check(r.metric('hybridgate_relay_rejections_total{reason="method_not_allowed"}') == 2, "metrics count 405s")
    check(r.metric('hybridgate_relay_rejections_total{reason="tunnel_exists"}') == 1, "metrics count 409 tunnel_exists")
    check(r.metric('hybridgate_relay_rejections_total{reason="tunnel_in_use"}') == 1, "metrics count 409 tunnel_in_use")
    check(r.metric('hybridgate_relay_rejections_total{reason="wrong_routing_id"}') == 1, "metrics count wrong routing ID")
    check(r.metric('hybridgate_relay_limit_hits_total{limit="text_message"}') == 1, "metrics count text messages")
    check(r.metric("hybridgate_relay_messages_relayed_total") >= 92, "metrics count relayed messages")
    check(r.metric("hybridgate_relay_pairing_latency_seconds_count") >= 6, "pairing latency histogram observed")
    check(r.metric('hybridgate_relay_close_codes_sent_total{code="1001"}') >= 2, "metrics count close codes sent")
    check(r.metric("process_resident_memory_bytes") > 0, "RSS exported")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
