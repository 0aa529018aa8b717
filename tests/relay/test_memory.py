#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Memory budget (issue 13): messages still being read count, sides may only send small messages
before pairing, and the per-tunnel and global budgets (--max-tunnel-buffer, --max-buffered-bytes)
bound the relay's RSS under the attacks that grew it without bound: 300 phones each sending most
of a 1 MiB frame and stopping, and one client IP pairing its own tunnels at the default rate
limits with 1 MiB partial frames on both sides. The clients are raw sockets (asyncio streams,
flow-controlled), so the test itself holds little memory. RSS is sampled throughout the attack;
the assertion is on its peak."""
import asyncio
import sys

from relaytest import Relay, check, check_rss, closed_code, finish, new_tid, send_partial, pair, raw_upgrade, ws_connect

MIB = 1 << 20


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Samples the relay's RSS every 20 ms (observation only) and keeps the peak."""

    def __init__(self, pid):
        self.pid, self.peak, self.base = pid, 0, rss(pid)
        self.task = asyncio.ensure_future(self.run())

    async def run(self):
        while True:
            self.peak = max(self.peak, rss(self.pid))
            await asyncio.sleep(0.02)

    async def settle(self, r, seconds=2.0):
        """After the attack: keep sampling for a bounded time so what the relay still reads shows."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            self.peak = max(self.peak, rss(self.pid))
            await asyncio.sleep(0.02)
        self.task.cancel()
        return self.peak - self.base


async def partial_phones(binary):
    # 300 phones from five source addresses in five /24s (60 each: within the default per-client
    # and per-network caps), at defaults.
    r = Relay(binary)
    try:
        s = Sampler(r.pid)
        conns = []
        for i in range(300):
            c = await raw_upgrade(r.port, "/cable/new/" + new_tid(), "127.0.%d.10" % (1 + i % 5))
            if c:
                conns.append(c)
        check(len(conns) == 300, "300 phones from 5 addresses are waiting (got %d)" % len(conns))
        await asyncio.gather(*(send_partial(w, MIB, MIB - 1) for _, w, _ in conns))
        growth = await s.settle(r)
        print("     300 partial-frame phones: RSS %.1f MB -> peak %.1f MB" % (s.base / 1e6, s.peak / 1e6))
        check_rss(r.pid, growth < 24 * MIB, "300 phones sending most of a 1 MiB frame: RSS growth %.1f MB < 24 MiB" % (growth / 1e6))
        check(r.metric('hybridgate_relay_limit_hits_total{limit="message_size"}') >= 250,
              "a large frame before pairing is refused (1009) at its header")
        for _, w, _ in conns:
            w.close()
        # Within the before-pairing limit: 4000 of 4096 bytes, 300 times: a few hundred KiB.
        s = Sampler(r.pid)
        conns = []
        for i in range(300):
            c = await raw_upgrade(r.port, "/cable/new/" + new_tid(), "127.0.0.%d" % (20 + i % 5))
            if c:
                conns.append(c)
        await asyncio.gather(*(send_partial(w, 4096, 4000) for _, w, _ in conns))
        growth = await s.settle(r, 1.0)
        check_rss(r.pid, growth < 24 * MIB, "300 phones each 4000 bytes into a 4096-byte frame: RSS growth %.1f MB" % (growth / 1e6))
        check(r.metric("hybridgate_relay_buffered_bytes") >= 300 * 3000,
              "the partial frames are charged to the budget (buffered_bytes %d)" % r.metric("hybridgate_relay_buffered_bytes"))
        for _, w, _ in conns:
            w.close()
    finally:
        r.stop()


async def one_ip_flood(binary):
    # One client address at the default rate limits pairs its own tunnels and has both sides send
    # most of a 1 MiB frame: bounded by its share of the budget (--max-client-buffer, default 1/8
    # of --max-buffered-bytes: 16 MiB), not by the attacker. At its share, its new connections are
    # dropped before their request (they are charged too) until its tunnels' 1008s free some.
    r = Relay(binary)
    try:
        s = Sampler(r.pid)
        ip = "127.0.0.9"
        sides, tasks = [], []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len(sides) < 2 * 170 and loop.time() < deadline:
            tid = new_tid()
            try:
                ph = await raw_upgrade(r.port, "/cable/new/" + tid, ip)
            except (OSError, asyncio.IncompleteReadError):
                ph = None
            if not ph:
                await asyncio.sleep(0.05)  # pacing only: wait for the rate limiter's next token
                continue
            rid = ph[2].get("x-cable-routing-id")
            try:
                dk = await raw_upgrade(r.port, "/cable/connect/%s/%s" % (rid, tid), ip)
            except (OSError, asyncio.IncompleteReadError):
                dk = None
            if not dk:
                ph[1].close()
                await asyncio.sleep(0.05)
                continue
            for c in (ph, dk):
                sides.append(c)
                tasks.append(asyncio.ensure_future(send_partial(c[1], MIB, MIB - 1)))
        await asyncio.gather(*tasks)
        growth = await s.settle(r)
        print("     one-IP flood: %d pairs, RSS %.1f MB -> peak %.1f MB" % (len(sides) // 2, s.base / 1e6, s.peak / 1e6))
        # Enough pairs to fill its share (16 MiB at ~2 MiB per pair); how many more it gets depends
        # on how fast its tunnels' 1008s free the share again (its new connections are dropped while
        # it is at its share).
        check(len(sides) >= 2 * 8, "the flood paired at least 8 tunnels, enough to fill its share (%d)" % (len(sides) // 2))
        check_rss(r.pid, growth < 16 * MIB + 40 * MIB,
                  "one-IP flood of 1 MiB partial frames: RSS growth %.1f MB < its share 16 MiB + 40 MiB" % (growth / 1e6))
        check(r.metric('hybridgate_relay_limit_hits_total{limit="client_buffer"}') >= 1,
              "tunnels over the client's share are counted (limit client_buffer)")
        check(any(j.get("event") == "limit_hit" and j.get("limit") == "client_buffer" for j in r.log),
              "the share's rejections are logged")
        check(r.metric("hybridgate_relay_buffered_bytes") <= 16 * MIB, "buffered_bytes stays within the client's share")
        for _, w, _ in sides:
            w.close()
    finally:
        r.stop()


async def budgets(binary):
    # Small budgets, checked exactly: a message that would take a tunnel over --max-tunnel-buffer,
    # and a side whose partial message would take the relay over --max-buffered-bytes -> 1008.
    # One client address here: its share (--max-client-buffer) is above the whole budget, so the global
    # budget is what these checks reach (test_pressure.py covers the shares).
    r = Relay(binary, "--max-tunnel-buffer", "300000", "--max-buffered-bytes", "1500000", "--max-client-buffer", "100000000",
              "--rate-new", "0", "--rate-connect", "0")
    try:
        phone, desktop, _ = await pair(r)
        await phone.send(b"x" * 100000)
        check(len(await asyncio.wait_for(desktop.recv(), 10)) == 100000, "a message within the tunnel budget is relayed")
        await phone.send(b"x" * 400000)
        check(await closed_code(phone) == 1008 and await closed_code(desktop) == 1008,
              "a message over --max-tunnel-buffer -> 1008 to both sides")
        check(r.metric('hybridgate_relay_limit_hits_total{limit="tunnel_buffer"}') == 1, "limit tunnel_buffer counted")

        # 8 paired phones each send 249,999 bytes of a 250,000-byte frame and stop.
        conns = []
        for _ in range(8):
            tid = new_tid()
            ph = await raw_upgrade(r.port, "/cable/new/" + tid)
            dk = await ws_connect(r.url("/cable/connect/%s/%s" % (ph[2]["x-cable-routing-id"], tid)))
            conns.append((ph, dk))
        await asyncio.gather(*(send_partial(ph[1], 250000, 249999) for ph, _ in conns))
        codes = await asyncio.gather(*(closed_code(dk, 2) for _, dk in conns), return_exceptions=True)
        check(1008 in codes, "partial messages beyond --max-buffered-bytes end their tunnel with 1008 (%r)"
              % [c if isinstance(c, int) else "open" for c in codes])
        check(r.metric('hybridgate_relay_limit_hits_total{limit="buffer_budget"}') >= 1, "limit buffer_budget counted")
        check(r.metric("hybridgate_relay_buffered_bytes") <= 1500000, "buffered_bytes within --max-buffered-bytes")
        for ph, dk in conns:
            ph[1].close()
            await dk.close()

        # Before pairing, only small messages: 4096 bytes pass, 4097 -> 1009.
        phone = await ws_connect(r.url("/cable/new/" + new_tid()))
        await phone.send(b"h" * 4096)
        await phone.send(b"h" * 4097)
        check(await closed_code(phone) == 1009, "a 4097-byte message before pairing -> 1009")
        phone, desktop, _ = await pair(r)
        await phone.send(b"h" * 200000)
        check(len(await asyncio.wait_for(desktop.recv(), 10)) == 200000, "after pairing large messages pass again")
        for ws in (phone, desktop):
            await ws.close()
    finally:
        r.stop()


async def main(binary):
    await budgets(binary)
    await partial_phones(binary)
    await one_ip_flood(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
