#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Close handshakes and teardown (issue 13): a peer that sends a close frame (or breaks the
protocol) and then keeps TCP open without a word is dropped within --close-timeout; its close
code reaches the other side at once (not at the idle timeout); a listener that stops reading its
wake-ups is dropped (bounded queue, write deadline); over TLS, a close frame followed by a TCP
close without close_notify (what Python's ssl does) is a clean close: the peer gets the code sent
and the tunnel counts as "closed", not "vanished"."""
import asyncio
import ssl
import sys
import tempfile

from linktest import listen, new_token
from relaytest import Relay, check, close_frame, closed_code, finish, new_tid, raw_upgrade, wait_until, ws_connect
from test_ops import make_cert

CLOSE = 1.0   # --close-timeout for these relays
SLACK = 4.0   # scheduling slack on a shared machine (the idle timeouts are far longer)


async def code_of(ws):
    """The close code the relay sent ws within CLOSE + SLACK, or "none in time"."""
    try:
        return await closed_code(ws, CLOSE + SLACK)
    except asyncio.TimeoutError:
        return "none in time"


def open_conns(r, n):
    return lambda: r.metric("hybridgate_relay_connections_open") == n


async def silent_after_close(binary):
    r = Relay(binary, "--close-timeout", str(CLOSE), "--idle-timeout", "120", "--listen-idle-timeout", "120",
              "--rate-new", "0", "--rate-connect", "0", "--rate-reattach", "0")
    try:
        # A desktop sends close 4000 and then neither reads nor closes TCP.
        tid = new_tid()
        phone = await ws_connect(r.url("/cable/new/" + tid))
        reader, writer, _ = await raw_upgrade(r.port, "/cable/connect/%s/%s" % (r.routing_id, tid))
        writer.write(close_frame(4000, b"bye"))
        code = await code_of(phone)
        check(code == 4000, "the phone gets the desktop's close code 4000 at once (got %r)" % code)
        await phone.wait_closed()
        check(await wait_until(open_conns(r, 0), CLOSE + SLACK),
              "a desktop silent after its close frame is dropped within --close-timeout")
        ev = r.wait_event("tunnel_finished", lambda j: j.get("paired"), timeout=CLOSE + SLACK)
        check(ev is not None and ev["outcome"] == "closed", "counted as closed (%r)" % (ev and ev["outcome"]))

        # Same for a side that breaks the protocol (an unmasked frame) and stays silent.
        tid = new_tid()
        phone = await ws_connect(r.url("/cable/new/" + tid))
        reader, writer, _ = await raw_upgrade(r.port, "/cable/connect/%s/%s" % (r.routing_id, tid))
        writer.write(b"\x82\x03abc")  # a client frame without a mask
        code = await code_of(phone)
        check(code in (1001, 1002), "the phone learns at once (got %r)" % code)
        check(await wait_until(open_conns(r, 0), CLOSE + SLACK), "a desktop that broke the protocol and stays silent is dropped")
        writer.close()

        # A listen connection: close frame, then silence.
        reader, writer, hdrs = await raw_upgrade(r.port, "/cable/listen", headers={"X-Hybridgate-Contact-Token": new_token()})
        writer.write(close_frame(1000))
        check(await wait_until(open_conns(r, 0), CLOSE + SLACK),
              "a listener silent after its close frame is dropped within --close-timeout")
        writer.close()

        # 50 re-attaches of one registration: each replaced listener gets 1000 and, silent, is dropped.
        token = new_token()
        first, cid = await listen("ws://127.0.0.1:%d" % r.port, token, ping_interval=None)
        raws = []
        for _ in range(50):
            raws.append(await raw_upgrade(r.port, "/cable/listen/" + cid, headers={"X-Hybridgate-Contact-Token": token}))
        await first.wait_closed()
        check(await wait_until(open_conns(r, 1), CLOSE + SLACK),
              "49 replaced, silent listeners are dropped within --close-timeout (%d connections open)"
              % r.metric("hybridgate_relay_connections_open"))
        check(r.metric("hybridgate_relay_listeners_open") == 1, "one listener left attached")
        for _, w, _ in raws:
            w.close()
        await first.close()

    finally:
        r.stop()


async def tls_clean_close(binary):
    d = tempfile.mkdtemp(prefix="hg-close-")
    cert, key = make_cert(d, "relay")
    r = Relay(binary, "--tls-cert", cert, "--tls-key", key, "--close-timeout", str(CLOSE))
    ctx = ssl.create_default_context(cafile=cert)
    try:
        for code in (1000, 4321):
            tid = new_tid()
            phone = await ws_connect(r.url("/cable/new/" + tid, "wss"), ssl=ctx)
            reader, writer, _ = await raw_upgrade(r.port, "/cable/connect/%s/%s" % (r.routing_id, tid), ssl_ctx=ctx)
            await phone.send(b"hello")
            check((await asyncio.wait_for(reader.readexactly(7), 10))[2:] == b"hello", "TLS tunnel relays")
            # The desktop sends its close frame and drops TCP without a TLS close_notify (as Python's
            # ssl does when a connection is closed under it).
            writer.write(close_frame(code))
            await writer.drain()
            writer.transport.abort()
            got = await code_of(phone)
            check(got == code, "TLS: the desktop's close %d reaches the phone as %d (got %r)" % (code, code, got))
        ev = r.wait_event("tunnel_finished", lambda j: j.get("paired"), timeout=CLOSE + SLACK)
        check(ev is not None and ev["outcome"] == "closed", "TLS clean close logged as outcome closed (%r)" % (ev and ev["outcome"]))
        check(r.metric('hybridgate_relay_tunnels_finished_total{outcome="vanished"}') == 0, "nothing counted as vanished")
        check(r.metric('hybridgate_relay_tunnels_finished_total{outcome="closed"}') == 2, "both counted as closed")
    finally:
        r.stop()


async def main(binary):
    await tls_clean_close(binary)
    await silent_after_close(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
