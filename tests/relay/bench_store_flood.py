#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""By hand (not a CTest: timings are measured, never asserted): what contact-store writes cost
everyone else (issue 21). 16 client addresses churn their own contacts (register, then revoke by
header) as fast as the relay answers, while another address pairs tunnels one after another;
prints the pairings' latency (phone /cable/new -> desktop /cable/connect -> one message each way)
quiet and during the flood, and the registrations per second with --state-dir and without.

usage: bench_store_flood.py HYBRIDGATE_RELAY [SECONDS]"""
import asyncio
import os
import sys
import tempfile
import time

import websockets

from linktest import new_token
from relaytest import Relay, new_tid, ws_connect


async def pairing(r):
    t0 = time.perf_counter()
    tid = new_tid()
    phone = await ws_connect(r.url("/cable/new/" + tid), local_addr=("127.0.0.200", 0))
    desktop = await ws_connect(r.url("/cable/connect/%s/%s" % (r.routing_id, tid)), local_addr=("127.0.0.200", 0))
    await phone.send(b"p")
    await desktop.recv()
    await desktop.send(b"d")
    await phone.recv()
    dt = time.perf_counter() - t0
    await phone.close()
    await desktop.close()
    return dt


async def pairings(r, seconds):
    out = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        out.append(await pairing(r))
    return out


async def churn(base, ip, stop, counter):
    while not stop.is_set():
        token = new_token()
        try:
            ws = await websockets.connect(base + "/cable/listen", subprotocols=["fido.cable"],
                                          extra_headers={"X-Hybridgate-Contact-Token": token}, open_timeout=30,
                                          ping_interval=None, compression=None, local_addr=(ip, 0))
            cid = ws.response_headers.get("X-Hybridgate-Contact-ID")
            await ws.close()
            rv = await websockets.connect(base + "/cable/listen/" + cid, subprotocols=["fido.cable"],
                                          extra_headers={"X-Hybridgate-Contact-Token": token,
                                                         "X-Hybridgate-Revoke": "true"},
                                          open_timeout=30, ping_interval=None, compression=None, local_addr=(ip, 0))
            await rv.wait_closed()
            counter[0] += 1
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
            await asyncio.sleep(0.01)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000


async def flood(port, seconds):
    """The flood, in its own process (so the pairing client's loop is not the one it loads)."""
    base = "ws://127.0.0.1:%d" % port
    stop, counter = asyncio.Event(), [0]
    tasks = [asyncio.ensure_future(churn(base, "127.0.1.%d" % (i + 1), stop, counter)) for i in range(16)]
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)  # the flood's duration (a load generator's timer, not a synchronisation)
    stop.set()
    await asyncio.gather(*tasks)
    print(counter[0] / (time.perf_counter() - t0))


async def run(binary, seconds, state):
    # The per-client contact cap would stop the churn of an older relay (it counted revoked
    # contacts): lifted so that both relays take every write.
    args = ["--rate-new", "0", "--rate-connect", "0", "--max-contacts-per-client", "1000000"]
    if state:
        args += ["--state-dir", tempfile.mkdtemp(prefix="hg-bench-state-")]
    r = Relay(binary, *args)
    try:
        quiet = await pairings(r, seconds)
        child = await asyncio.create_subprocess_exec(sys.executable, os.path.abspath(__file__), "--flood", str(r.port),
                                                     str(seconds), stdout=asyncio.subprocess.PIPE)
        busy = await pairings(r, seconds)
        regs = float((await child.communicate())[0].decode().strip() or 0)
        print("  %-9s pairing quiet p50 %.1f ms p99 %.1f ms | during the flood p50 %.1f ms p99 %.1f ms (%d pairings) | "
              "%.0f registrations+revocations/s" % ("store" if state else "no store", pct(quiet, 0.5), pct(quiet, 0.99),
                                                    pct(busy, 0.5), pct(busy, 0.99), len(busy), regs))
        return pct(quiet, 0.99), pct(busy, 0.99), regs
    finally:
        r.stop()


async def main(binary, seconds):
    print(binary)
    q, b, regs_store = await run(binary, seconds, True)
    _, _, regs_mem = await run(binary, seconds, False)
    print("  pairing p99 during the flood / quiet: %.2f ; registrations/s with the store / without: %.2f"
          % (b / q, regs_store / regs_mem if regs_mem else 0))


if __name__ == "__main__":
    if sys.argv[1] == "--flood":
        asyncio.run(flood(int(sys.argv[2]), float(sys.argv[3])))
    else:
        asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 5))
