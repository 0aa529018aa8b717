#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A linked phone whose listen connection stops reading (its TCP receive window closed) is dropped,
and what the relay holds for it stays bounded (docs/relay.md, "Deadlines on every ending"):

1. write deadline: wake-ups until one cannot be written (the relay's global buffer gauge shows a
   queued wake-up), then no more: the connection is dropped within --close-timeout of the stuck
   write (limit write_timeout), the queued bytes are released;
2. queue bound: wake-ups keep coming after the write got stuck: the relay queues at most 16
   (limit listener_queue), then drops the listener; the queued bytes never exceed 16 wake-ups and
   the relay's RSS does not grow with the number of wake-ups sent.

The listener is a blocking socket with a small receive buffer that is never read after the 101."""
import asyncio
import socket
import sys
import time

from linktest import client_payload, contact, new_token
from relaytest import Relay, check, check_rss, finish, wait_until

CLOSE = 1.5   # --close-timeout
SLACK = 3.0   # scheduling slack on a shared machine
QUEUE = 16    # the relay's listener queue bound (session.hpp kListenerQueue)


def stalled_listener(port):
    """A listen registration on a socket that will never be read; returns (socket, contact ID)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET /cable/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: fido.cable\r\nX-Hybridgate-Contact-Token: %s\r\n\r\n" % new_token()).encode())
    s.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)  # byte by byte: nothing after the header is consumed
        if not chunk:
            raise AssertionError("the relay closed the listen upgrade")
        head += chunk
    lines = head.decode().split("\r\n")
    assert " 101 " in lines[0], lines[0]
    cid = [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("x-hybridgate-contact-id:")][0]
    return s, cid


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def wake(base, cid, desktops):
    """One desktop contact request; True if it was answered 101 (the listener was woken)."""
    try:
        desktops.append(await contact(base, cid, client_payload()))
        return True
    except Exception:
        return False


async def wake_until_stuck(r, base, cid, desktops, limit=5000):
    """Wake-ups until the relay holds one it cannot write (buffered bytes > 0); returns how many."""
    for n in range(1, limit + 1):
        if not await wake(base, cid, desktops):
            return None
        if r.metric("hybridgate_relay_buffered_bytes") > 0:
            return n
    return None


async def main(binary):
    r = Relay(binary, "--close-timeout", str(CLOSE), "--rate-new", "0", "--rate-connect", "0",
              "--max-waiting-per-client", "100000", "--max-connections-per-client", "100000",
              "--max-waiting-tunnels", "100000", "--listen-idle-timeout", "600")
    base = "ws://127.0.0.1:%d" % r.port
    desktops = []
    try:
        # 1. The write deadline.
        sock, cid = stalled_listener(r.port)
        check(await wait_until(lambda: r.metric("hybridgate_relay_listeners_open") == 1, 5), "listener attached")
        n = await wake_until_stuck(r, base, cid, desktops)
        t_stuck = time.monotonic()
        check(n is not None, "after %s wake-ups one waits in the relay (the listener's window is closed)" % n)
        gone = await wait_until(lambda: r.metric("hybridgate_relay_listeners_open") == 0, CLOSE + SLACK)
        took = time.monotonic() - t_stuck
        check(gone, "the stalled listener is dropped within --close-timeout of the stuck write (%.2f s)" % took)
        check(r.metric('hybridgate_relay_limit_hits_total{limit="write_timeout"}') == 1, "counted as write_timeout")
        check(r.metric('hybridgate_relay_limit_hits_total{limit="listener_queue"}') == 0, "not as listener_queue")
        check(await wait_until(lambda: r.metric("hybridgate_relay_buffered_bytes") == 0, SLACK),
              "the queued wake-up is released")
        check(not await wake(base, cid, desktops), "a contact request after the drop is refused (no listener)")
        sock.close()
        for d in desktops:
            await d.close()
        desktops.clear()

        # 2. The queue bound: keep waking after the write got stuck.
        sock, cid = stalled_listener(r.port)
        check(await wait_until(lambda: r.metric("hybridgate_relay_listeners_open") == 1, 5), "second listener attached")
        n = await wake_until_stuck(r, base, cid, desktops)
        check(n is not None, "after %s wake-ups one waits in the relay" % n)
        per = r.metric("hybridgate_relay_buffered_bytes")  # one queued wake-up's charge
        rss0 = rss_kb(r.pid)
        peak, extra = per, 0
        while extra < 200 and r.metric("hybridgate_relay_listeners_open") == 1:
            ok = await wake(base, cid, desktops)
            extra += 1
            peak = max(peak, r.metric("hybridgate_relay_buffered_bytes"))
            if not ok:
                break
        check(r.metric('hybridgate_relay_limit_hits_total{limit="listener_queue"}') == 1,
              "the 17th queued wake-up hits listener_queue (after %d more)" % extra)
        check(extra <= QUEUE + 1, "the listener is dropped after at most %d more wake-ups (%d)" % (QUEUE + 1, extra))
        check(peak <= QUEUE * per, "queued bytes stay within %d wake-ups (peak %d, one %d)" % (QUEUE, peak, per))
        check(await wait_until(lambda: r.metric("hybridgate_relay_listeners_open") == 0, CLOSE + SLACK),
              "the listener is gone within --close-timeout (its close frame cannot be written either)")
        check(await wait_until(lambda: r.metric("hybridgate_relay_buffered_bytes") == 0, SLACK), "queued bytes released")
        # More wake-ups for the same contact cost nothing: nobody listens (503).
        refused = 0
        for _ in range(200):
            refused += not await wake(base, cid, desktops)
        check(refused == 200, "200 more contact requests are refused, none queued (%d)" % refused)
        growth = rss_kb(r.pid) - rss0
        check_rss(r.pid, growth < 4096, "relay RSS grew by %d KiB over 200+ wake-ups to a stalled listener" % growth)
        sock.close()
    finally:
        for d in desktops:
            await d.close()
        r.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
