#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Flow control with a slow reader (the soak's slow-reader case, deterministic): the phone writes
fast while the desktop does not read, until back-pressure reaches the phone (its socket stops
draining); then the desktop reads everything, one message at a time, while writing itself.
Every message must arrive, once, in order, both ways, and the relay must not buffer unboundedly."""
import asyncio
import sys

from relaytest import Relay, check, closed_code, finish, pair

N = 1500
SIZE = 32 * 1024


def msg(tag, i):
    head = b"%s-%05d-" % (tag, i)
    return head + bytes([(i * 7 + j) % 251 for j in range(64)]) * ((SIZE - len(head)) // 64)


async def main(binary):
    r = Relay(binary, "--rate-new", "0", "--rate-connect", "0", "--max-tunnel-messages", "0",
              "--max-tunnel-bytes", "0")
    try:
        phone, desktop, _ = await pair(r)
        rss0 = rss_kb(r.pid)
        sent = 0

        async def writer(ws, tag):
            nonlocal sent
            for i in range(N):
                await ws.send(msg(tag, i))
                if tag == b"P":
                    sent = i + 1

        wp = asyncio.create_task(writer(phone, b"P"))
        # Observable back-pressure: the phone's transport keeps unsent bytes (the kernel buffers
        # on the phone->relay path are full because the relay stopped reading the phone).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while loop.time() < deadline and phone.transport.get_write_buffer_size() == 0 and not wp.done():
            await asyncio.sleep(0.01)  # polling an observable state with a deadline
        check(not wp.done() and phone.transport.get_write_buffer_size() > 0,
              "a desktop that does not read stalls the phone's writes (back-pressure, %d of %d sent)" % (sent, N))
        check(sent < N // 2, "the relay did not swallow the stream into memory (%d of %d messages accepted)" % (sent, N))
        rss1 = rss_kb(r.pid)
        check(rss1 - rss0 < 16 * 1024, "relay RSS grew by %d kB while the reader stalled (< 16 MiB)" % (rss1 - rss0))

        wd = asyncio.create_task(writer(desktop, b"D"))
        got_d, got_p = [], []

        async def slow_reader(ws, out):
            for _ in range(N):
                out.append(await asyncio.wait_for(ws.recv(), 30))
                await asyncio.sleep(0)  # yield: one message per turn, like the bench's slow reader

        await asyncio.gather(slow_reader(desktop, got_d), slow_reader(phone, got_p), wp, wd)
        check(got_d == [msg(b"P", i) for i in range(N)], "all %d phone messages reach the slow desktop, in order" % N)
        check(got_p == [msg(b"D", i) for i in range(N)], "all %d desktop messages reach the phone, in order" % N)
        await phone.close()
        check(await closed_code(desktop) == 1000, "phone closes -> desktop 1000")
    finally:
        r.stop()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
