#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Operations (issue 21): the rate limiter fails closed when its table is full (it used to stop
limiting: a flood of new addresses got through unlimited) and counts it; close codes a client
chooses are passed on to its peer but counted as "other" in the metrics, so clients cannot create
unbounded label values (50 codes made 55 series)."""
import asyncio
import sys

import websockets

from relaytest import Relay, check, closed_code, finish, new_tid, pair, status_of, ws_connect


def at(ip):
    return {"local_addr": (ip, 0)}


async def rate_table(binary):
    r = Relay(binary, "--rate-table-size", "2", "--rate-new", "0.001", "--rate-new-burst", "5")
    try:
        for ip in ("127.0.0.2", "127.0.0.3"):
            check(await status_of(r.url("/cable/new/" + new_tid()), **at(ip)) == 101, "%s gets in (its bucket is tracked)" % ip)
        st = await status_of(r.url("/cable/new/" + new_tid()), **at("127.0.0.4"))
        check(st == 503, "a third address while the 2-entry table is full of active buckets -> 503, not let through (%r)" % st)
        check(r.metric('hybridgate_relay_limit_hits_total{limit="rate_table_full"}') >= 1, "counted: limit rate_table_full")
        check(r.metric('hybridgate_relay_rejections_total{reason="rate_table_full"}') >= 1,
              "counted: rejection rate_table_full")
        check(await status_of(r.url("/cable/new/" + new_tid()), **at("127.0.0.2")) == 101,
              "an address already in the table is still limited by its own bucket (gets in)")
    finally:
        r.stop()


def close_code_series(r):
    _, body = r.admin("/metrics")
    return [l for l in body.splitlines() if l.startswith("hybridgate_relay_close_codes_sent_total{")]


async def close_codes(binary):
    r = Relay(binary, "--rate-new", "0", "--rate-connect", "0")
    try:
        before = len(close_code_series(r))
        phone, desktop, _ = await pair(r)
        await phone.close(4321, "client's own code")
        check(await closed_code(desktop) == 4321, "the peer still gets the client's close code (4321)")
        for i in range(50):
            phone, desktop, _ = await pair(r)
            await phone.close(4000 + i)
            await closed_code(desktop)
        series = close_code_series(r)
        check(len(series) == before, "50 client-chosen close codes add no metric series (%d -> %d)" % (before, len(series)))
        check(not any('code="4321"' in l for l in series), "no series for a client's code")
        check(r.metric('hybridgate_relay_close_codes_sent_total{code="other"}') == 51, "they are counted as code=\"other\"")
    finally:
        r.stop()


async def main(binary):
    await rate_table(binary)
    await close_codes(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
