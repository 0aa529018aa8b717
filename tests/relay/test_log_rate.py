#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Per-tunnel log lines stay within journald's rate limit (issue 21): lines about single tunnels
and contacts share a budget of --log-rate lines per second (burst twice that; default 100/s, i.e.
at most 3,200 per 30 s against journald's default 10,000 per 30 s per service); the lines left out
are counted, by event, in a log_summary line (every 10 s, and at exit) together with the tunnels
finished by outcome, so that logged + counted = every tunnel."""
import asyncio
import signal
import sys
import time

from relaytest import Relay, check, finish, new_tid, wait_until, ws_connect

N = 60


async def churn(r, n):
    """n waiting tunnels opened and closed (each finishes as "abandoned")."""
    for _ in range(n):
        ws = await ws_connect(r.url("/cable/new/" + new_tid()))
        await ws.close()
    return await wait_until(lambda: r.metric('hybridgate_relay_tunnels_finished_total{outcome="abandoned"}') == n, 10)


def finished_lines(r):
    return sum(1 for j in r.log if j.get("event") == "tunnel_finished")


async def budget(binary):
    r = Relay(binary, "--log-rate", "5", "--rate-new", "0")
    try:
        t0 = time.monotonic()
        check(await churn(r, N), "%d tunnels finished" % N)
        elapsed = time.monotonic() - t0
        # The periodic summary (every 10 s from the start): what was left out, and the aggregate.
        ev = r.wait_event("log_summary", timeout=15)
        check(ev is not None, "a log_summary line within 10 s")
        logged = finished_lines(r)
        allowed = 10 + 5 * elapsed + 1
        check(logged <= allowed, "tunnel_finished lines within --log-rate 5 (burst 10): %d in %.1f s (at most %.0f)"
              % (logged, elapsed, allowed))
        counted = (ev or {}).get("unlogged", {}).get("tunnel_finished", 0)
        check(logged + counted == N, "log_summary counts the rest: %d logged + %d counted = %d tunnels" % (logged, counted, N))
        check((ev or {}).get("tunnels_finished", {}).get("abandoned") == N,
              "log_summary aggregates the period's tunnels by outcome (%r)" % ev)
        r.signal(signal.SIGTERM)
        check(r.wait_exit(20) == 0, "the relay drains and exits")
        r._reader.join(10)
        check(len([j for j in r.log if j.get("event") == "log_summary"]) == 1, "nothing left to summarise at exit")
    finally:
        r.stop()


async def under_budget(binary):
    # At the default rate a relay below 100 tunnels/s logs every tunnel and no summary.
    r = Relay(binary, "--rate-new", "0")
    try:
        check(await churn(r, 30), "30 tunnels finished")
        check(await wait_until(lambda: finished_lines(r) == 30, 10), "every tunnel_finished line logged at the default rate")
        r.signal(signal.SIGTERM)
        r.wait_exit(20)
        r._reader.join(10)
        check(not [j for j in r.log if j.get("event") == "log_summary"], "no log_summary when nothing was left out")
    finally:
        r.stop()


async def main(binary):
    await budget(binary)
    await under_budget(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
