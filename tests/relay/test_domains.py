#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`hybridgate-relay domains` against the known-answer vectors in tests/vectors/vectors.json: the
"tunnel_domain" entries come from Chromium's v2_handshake_unittest.cc (IDs 0 and 266) and
libwebauthn's tests (IDs 0 and 1); the "hashed_domains" entries were computed with Chromium's
algorithm outside this project. Forward (--id), listing (--from) and reverse (--host) lookups.

usage: test_domains.py HYBRIDGATE_RELAY VECTORS_JSON"""
import json
import re
import subprocess
import sys

from relaytest import check, finish

RELAY, VECTORS = sys.argv[1], sys.argv[2]


def run(*args):
    return subprocess.run([RELAY, "domains", *args], capture_output=True, text=True, timeout=60)


def expected_names():
    """{ID: host name} from the vectors file."""
    out = {}
    for v in json.load(open(VECTORS)):
        if v.get("kind") == "tunnel_domain":
            ex, inp = v["expected"], v["input"]
            if "domain_id" in inp:  # Chromium: the host of the new-tunnel URL
                host = ex.get("domain") or re.match(r"wss://([^/]+)/", ex["url"]).group(1)
                out[int(inp["domain_id"])] = host
            else:  # libwebauthn: {"0": name, "1": name}
                for k, name in ex.items():
                    out[int(k)] = name
        elif v.get("kind") == "hashed_domains":
            for k, name in v["expected"].items():
                out[int(k)] = name
    return out


def main():
    names = expected_names()
    check({0, 1, 266} <= set(names) and len(names) >= 5, "the vectors name IDs 0, 1, 266 and hashed ones (%s)" % sorted(names))
    for i, host in sorted(names.items()):
        p = run("--id", str(i))
        check(p.returncode == 0 and p.stdout == "%d %s\n" % (i, host), "--id %d -> %s (%r)" % (i, host, p.stdout))
    p = run(*sum([["--id", str(i)] for i in sorted(names)], []))
    check(p.stdout.splitlines() == ["%d %s" % (i, names[i]) for i in sorted(names)], "several --id in one call, in order")
    p = run()
    check(p.returncode == 0 and p.stdout.splitlines() == ["0 " + names[0], "1 " + names[1]],
          "no options: the assigned IDs 0 and 1 (%r)" % p.stdout)
    # Reverse: each known name, in any case and fully qualified, gives back its ID (and only it).
    for i, host in sorted(names.items()):
        for form in (host, host.upper() + "."):
            p = run("--host", form)
            check(p.returncode == 0 and p.stdout == "%d %s\n" % (i, host), "--host %s -> %d (%r)" % (form, i, p.stdout))
    hashed = sorted(i for i in names if i >= 256)
    lo = hashed[0]
    listed = run("--from", str(lo), "--count", "2").stdout.splitlines()
    check(len(listed) == 2 and listed[0] == "%d %s" % (lo, names[lo]), "--from %d lists %d first (%r)" % (lo, lo, listed))
    if lo + 1 in names:
        check(listed[1] == "%d %s" % (lo + 1, names[lo + 1]), "then %d" % (lo + 1))
    for bad in ("2", "255"):
        p = run("--id", bad)
        check(p.returncode == 1 and p.stdout == "" and "unassigned" in p.stderr, "--id %s: unassigned, exit 1" % bad)
    p = run("--id", "65536")
    check(p.returncode != 0 and p.stdout == "", "--id 65536 is refused")
    p = run("--host", "relay.example.org")
    check(p.returncode == 1 and p.stdout == "" and "no tunnel domain ID" in p.stderr,
          "--host of a name no ID maps to: exit 1 and says so")


if __name__ == "__main__":
    main()
    finish()
