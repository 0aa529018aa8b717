#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Client addresses behind proxies (issue 13): only what the configured proxies appended to
X-Forwarded-For counts (the rightmost entry that is not a trusted proxy; several header lines are
one list), IPv4-mapped IPv6 peers match IPv4 --trusted-proxy entries, and limits are keyed by
prefix (IPv6 /64 by default). Each case runs a burst of 2 /cable/new upgrades with (almost) no
refill: the third upgrade from one client must get 429, and distinct clients must not."""
import asyncio
import random
import sys

from relaytest import Relay, check, finish, new_tid, status_of

LIMITS = ("--rate-new", "0.001", "--rate-new-burst", "2")


async def statuses(r, header_sets):
    out = []
    for hs in header_sets:
        out.append(await status_of(r.url("/cable/new/" + new_tid()), extra_headers=hs))
    return out


def xff(*lines):
    return [("X-Forwarded-For", line) for line in lines]


async def main(binary):
    r = Relay(binary, "--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.1.0.0/16", *LIMITS)
    try:
        # Two header lines: the first written by the client (varied), the second by the proxy.
        codes = await statuses(r, [xff("203.0.113.%d" % i, "198.51.100.7") for i in range(4)])
        check(codes[2:] == [429, 429], "two X-Forwarded-For lines: the proxy's (last) line names the client (%r)" % codes)
        # One line, client-written entries on the left.
        codes = await statuses(r, [xff("203.0.113.%d, 198.51.100.8" % i) for i in range(4)])
        check(codes[2:] == [429, 429], "entries left of the proxy's are ignored (%r)" % codes)
        # A chain through a second trusted proxy (10.1.2.3): the client is the entry before it.
        codes = await statuses(r, [xff("192.0.2.%d, 10.1.2.3" % i) for i in range(4)])
        check(codes == [101] * 4, "distinct clients behind a trusted proxy chain are not limited together (%r)" % codes)
        codes = await statuses(r, [xff("192.0.2.200", "10.1.2.3") for _ in range(3)])
        check(codes[2] == 429, "one client behind a trusted proxy chain is limited (%r)" % codes)
        # IPv6 clients: keyed per /64.
        codes = await statuses(r, [xff("2001:db8:1:2::%x" % (i + 1)) for i in range(4)])
        check(codes[2:] == [429, 429], "IPv6 clients of one /64 share one limit (%r)" % codes)
        codes = await statuses(r, [xff("2001:db8:1:%x::1" % (i + 10)) for i in range(4)])
        check(codes == [101] * 4, "IPv6 clients of different /64s do not (%r)" % codes)
        # IPv4-mapped IPv6 written by a proxy is the IPv4 client.
        codes = await statuses(r, [xff("::ffff:198.51.100.9"), xff("198.51.100.9"), xff("::ffff:198.51.100.9")])
        check(codes[2] == 429, "::ffff:a.b.c.d and a.b.c.d are one client (%r)" % codes)
        # Garbage from the proxy: the proxy itself is the client (and is limited), nothing is spoofed.
        codes = await statuses(r, [xff("not-an-ip") for _ in range(3)])
        check(codes[2] == 429, "an unparsable entry falls back to the proxy's address (%r)" % codes)
        ev = [j for j in r.log if j.get("event") == "rejected" and j.get("reason") == "rate_limited"]
        check(bool(ev) and ev[0].get("client") == "198.51.100.7", "logs name the client found (%r)" % (ev[:1],))
    finally:
        r.stop()

    # Robustness: random X-Forwarded-For lists (addresses, ports, brackets, junk, empty elements)
    # from a trusted proxy; every request gets an answer and the relay stays up (run it under ASan).
    r = Relay(binary, "--trusted-proxy", "127.0.0.0/8", "--trusted-proxy", "::1", "--rate-new", "0")
    try:
        rnd = random.Random(13)
        atoms = ["1.2.3.4", "1.2.3.4:80", "[2001:db8::1]", "[2001:db8::1]:443", "::ffff:10.0.0.1", "127.0.0.1",
                 "::1", "", " ", "unknown", "1.2.3", "1.2.3.4.5", "::ffff:1.2.3", "[::1", "fe80::1%eth0",
                 "2001:db8::/64", "999.1.1.1", "1.2.3.4:", ":80", "\t10.9.8.7\t", "a" * 70]
        answered = 0
        for _ in range(300):
            lines = [", ".join(rnd.choice(atoms) for _ in range(rnd.randint(0, 6))) for _ in range(rnd.randint(1, 3))]
            lines = [l if l.strip() else "x" for l in lines]
            st = await status_of(r.url("/cable/new/" + new_tid()), extra_headers=xff(*lines))
            answered += st == 101
        check(answered == 300, "300 random X-Forwarded-For lists from a trusted proxy: all answered 101 (%d)" % answered)
        check(r.proc.poll() is None, "the relay is still running")
    finally:
        r.stop()

    # A relay on [::] behind an IPv4 proxy sees ::ffff:127.0.0.1, which must match --trusted-proxy 127.0.0.1.
    r = Relay(binary, "--trusted-proxy", "127.0.0.1", *LIMITS, listen="[::]:0")
    try:
        codes = await statuses(r, [xff("198.51.100.%d" % i) for i in range(4)])
        check(codes == [101] * 4, "dual-stack listener: the IPv4-mapped proxy is trusted (%r)" % codes)
    finally:
        r.stop()

    # Untrusted peers' X-Forwarded-For is ignored.
    r = Relay(binary, *LIMITS)
    try:
        codes = await statuses(r, [xff("198.51.100.%d" % i) for i in range(3)])
        check(codes[2] == 429, "no --trusted-proxy: X-Forwarded-For is ignored (%r)" % codes)
    finally:
        r.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
