#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SIGHUP reloads the limits (issue 21): the relay re-reads its --config file (and command line);
a per-client cap and a rate limit take their new values for new requests without a restart,
/metrics shows them (hybridgate_relay_limit), a broken file keeps the previous limits (logged and
counted) and the relay keeps serving, and an option only a restart changes is named in the log."""
import asyncio
import os
import signal
import sys
import tempfile

import websockets

from relaytest import Relay, check, finish, new_tid, wait_until, ws_connect


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


async def try_open(r, ip="127.0.0.2"):
    try:
        return await ws_connect(r.url("/cable/new/" + new_tid()), local_addr=(ip, 0))
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


async def reload(binary, d):
    conf = os.path.join(d, "relay.conf")
    write(conf, 'max-waiting-per-client = 2\nrate-new = 0\n')
    r = Relay(binary, "--config", conf)
    held = []
    try:
        check(r.metric('hybridgate_relay_limit{limit="max_waiting_per_client"}') == 2, "the file's cap is in effect (2)")
        held += [await try_open(r), await try_open(r)]
        third = await try_open(r)
        check(third == 503, "3rd waiting tunnel over the file's --max-waiting-per-client 2 -> 503 (%r)" % third)

        # Raise the cap and turn on a rate limit, SIGHUP: both apply to new requests.
        write(conf, 'max-waiting-per-client = 5\nrate-new = 0.001\nrate-new-burst = 2\n')
        r.signal(signal.SIGHUP)
        check(r.wait_event("limits_reloaded") is not None, "limits_reloaded logged")
        check(r.metric('hybridgate_relay_limit{limit="max_waiting_per_client"}') == 5, "the new cap shows in /metrics")
        check(r.metric('hybridgate_relay_config_reloads_total{result="ok"}') == 1, "counted: config reload ok")
        more = [await try_open(r) for _ in range(2)]
        check(all(not isinstance(w, int) for w in more), "two more waiting tunnels under the new cap 5 (%r)"
              % [w if isinstance(w, int) else 101 for w in more])
        held += [w for w in more if not isinstance(w, int)]
        limited = await try_open(r, "127.0.0.3")
        limited2 = await try_open(r, "127.0.0.3")
        limited3 = await try_open(r, "127.0.0.3")
        check(not isinstance(limited, int) and not isinstance(limited2, int) and limited3 == 429,
              "the new --rate-new (burst 2) limits a client: third -> 429 (%r)" % (limited3,))
        held += [w for w in (limited, limited2) if not isinstance(w, int)]

        # A broken file: the previous limits stay, the relay serves on.
        write(conf, 'max-waiting-per-client = 1\nno-such-option = 1\n')
        r.signal(signal.SIGHUP)
        check(r.wait_event("config_reload_failed") is not None, "a broken file is logged (config_reload_failed)")
        check(r.metric('hybridgate_relay_config_reloads_total{result="failed"}') == 1, "counted: config reload failed")
        check(r.metric('hybridgate_relay_limit{limit="max_waiting_per_client"}') == 5, "the previous cap stays (5)")
        ok = await try_open(r, "127.0.0.4")
        check(not isinstance(ok, int), "the relay still serves")
        held.append(ok) if not isinstance(ok, int) else None

        # An option only a restart changes is named.
        write(conf, 'max-waiting-per-client = 5\nrate-new = 0\nclient-prefix-v4 = 24\n')
        r.signal(signal.SIGHUP)
        ev = r.wait_event("limits_reloaded")
        check(ev is not None and "client-prefix-v4" in ev.get("restart_needed_for", []),
              "a changed --client-prefix-v4 is named as needing a restart (%r)" % ev)
        for w in held:
            if not isinstance(w, int):
                await w.close()
    finally:
        r.stop()


async def main(binary):
    with tempfile.TemporaryDirectory(prefix="hg-reload-") as d:
        await reload(binary, d)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
