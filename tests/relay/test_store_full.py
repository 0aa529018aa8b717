#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A full disk never turns into a revocation that was not made, or a lost one (issue 21): while the
contact store cannot grow, a registration is refused (503), a revocation by header gets 503 and a
revocation by message a 1011 close — never a 101 / 1000 for a change that is not durable — and a
desktop contacting those phones never gets 410 (the one answer on which it deletes its link).
Once there is room again the relay writes again, and after a SIGKILL and restart every contact that
was answered 101 is known and none that was refused is revoked.

The disk is made full for the relay process alone: its file-size limit (RLIMIT_FSIZE, set with
prlimit on the running process, SIGXFSZ ignored so the write fails with EFBIG) is set to the
current size of the store's write-ahead log, so no write can extend a file any more — what a full
filesystem does — without a privileged mount."""
import asyncio
import os
import resource
import signal
import sys
import tempfile

import websockets

from linktest import client_payload, contact_status, listen, new_token
from relaytest import Relay, check, closed_code, finish, status_of

RID = "0D0E0F"


def ignore_sigxfsz():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def start(binary, state):
    return Relay(binary, "--state-dir", state, "--rate-reattach", "0", routing_id=RID, preexec_fn=ignore_sigxfsz)


async def register_status(base):
    try:
        ws, cid = await listen(base, new_token(), ping_interval=None)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code, None
    await ws.close()
    return 101, cid


async def main(binary):
    state = tempfile.mkdtemp(prefix="hg-state-")
    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    tok_a, tok_b = new_token(), new_token()
    try:
        la, cid_a = await listen(base, tok_a, ping_interval=None)
        lb, cid_b = await listen(base, tok_b, ping_interval=None)
        check(await contact_status(base, cid_a, client_payload()) == 101, "phone A is registered and reachable")
        wal = os.path.join(state, "contacts.sqlite3-wal")
        size = os.path.getsize(wal)
        resource.prlimit(r.pid, resource.RLIMIT_FSIZE, (max(size, 1), resource.RLIM_INFINITY))
        # The disk is full from here on.
        st, cid_new = await register_status(base)
        check(st == 503 and cid_new is None, "a registration on a full disk -> 503, no contact ID (%s)" % st)
        st = await status_of(base + "/cable/listen/" + cid_a,
                             extra_headers={"X-Hybridgate-Contact-Token": tok_a, "X-Hybridgate-Revoke": "true"})
        check(st == 503, "a revocation by header on a full disk -> 503, not 101 (%s)" % st)
        await lb.send('{"revoke": true}')
        code = await closed_code(lb)
        check(code == 1011, "a revocation by message on a full disk -> close 1011, not 1000 (%s)" % code)
        for name, cid in (("A", cid_a), ("B", cid_b)):
            st = await contact_status(base, cid, client_payload())
            check(st != 410, "a desktop contacting phone %s during the full disk does not get 410 (%s)" % (name, st))
        check(r.metric("hybridgate_relay_contact_store_errors_total") >= 3, "the failed writes are counted")
        check(r.wait_event("contact_store_failed", timeout=5) is not None, "... and logged (contact_store_failed)")
        # Room again: the relay writes again.
        resource.prlimit(r.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        st, cid_c = await register_status(base)
        check(st == 101 and cid_c, "with room again a registration succeeds (%s)" % st)
        await la.close()
        r.proc.send_signal(signal.SIGKILL)
        r.proc.wait(timeout=10)
    finally:
        r.stop()

    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        for name, cid in (("A", cid_a), ("B", cid_b), ("C (registered after)", cid_c)):
            st = await contact_status(base, cid, client_payload())
            check(st == 503, "after SIGKILL and restart contact %s is known and not revoked (503 until re-attach: %s)"
                  % (name, st))
        ws, got = await listen(base, tok_b, cid_b, ping_interval=None)
        check(got == cid_b, "phone B re-attaches: its failed revocation was not made")
        await ws.send('{"revoke": true}')
        check(await closed_code(ws) == 1000, "... and revokes with room on the disk: 1000")
        check(await contact_status(base, cid_b, client_payload()) == 410, "then the desktop gets 410")
    finally:
        r.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
