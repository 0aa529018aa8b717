#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Contacts persist (issue 13): with --state-dir the contact registry (ID -> SHA-256 of the phone's
token, state, expiry) is in SQLite and survives a restart, SIGKILL included. Until the phone
re-attaches, a desktop's contact request gets 503 (try later), never 410 (which would make it delete
the link); re-attach needs the registered token (a wrong one gets 403, an unknown contact ID is not
bound to whatever token arrives first); a revocation stays revoked."""
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile

import websockets

from linktest import b64url, client_payload, contact, contact_status, listen, new_token, unb64url, wakeup
from relaytest import Relay, check, closed_code, finish, status_of, ws_connect

RID = "0A0B0C"


def start(binary, state):
    return Relay(binary, "--state-dir", state, "--rate-new", "0", routing_id=RID)


async def listen_status(base, cid, token):
    return await status_of(base + "/cable/listen/" + cid, extra_headers={"X-Hybridgate-Contact-Token": token})


async def main(binary):
    state = tempfile.mkdtemp(prefix="hg-state-")
    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    token, token_rv = new_token(), new_token()
    try:
        l1, cid = await listen(base, token, ping_interval=None)
        lrv, cid_rv = await listen(base, token_rv, ping_interval=None)
        await lrv.send('{"revoke": true}')
        check(await closed_code(lrv) == 1000, "a contact revoked by its phone")
        check(await contact_status(base, cid_rv, client_payload()) == 410, "revoked -> 410")
        check(os.path.exists(os.path.join(state, "contacts.sqlite3")), "the store is under --state-dir")
        second = subprocess.run([binary, "--listen", "127.0.0.1:0", "--state-dir", state], capture_output=True,
                                text=True, timeout=20)
        check(second.returncode != 0 and "locked" in second.stderr,
              "a second relay on the same --state-dir refuses to start (%r)" % second.stderr.strip()[-120:])
        r.proc.send_signal(signal.SIGKILL)  # no chance to flush anything: what was answered is on disk
        r.proc.wait(timeout=10)
    finally:
        r.stop()

    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        check(r.metric("hybridgate_relay_contacts_registered") == 1 and r.metric("hybridgate_relay_contacts_revoked") == 1,
              "after SIGKILL and restart both contacts are known (1 registered, 1 revoked)")
        check(await contact_status(base, cid, client_payload()) == 503,
              "a contact request before the phone re-attached -> 503 (not 410)")
        check(await listen_status(base, cid, new_token()) == 403, "re-attach with another token -> 403 (no takeover)")
        unknown = b64url(unb64url(cid)[:9] + secrets.token_bytes(16))
        check(await listen_status(base, unknown, new_token()) == 404,
              "re-attach to an unknown contact ID of this node -> 404, not bound to the token presented")
        check(await listen_status(base, unknown, new_token()) == 404, "... and still unknown afterwards")
        check(await contact_status(base, cid_rv, client_payload()) == 410, "the revocation survived (410)")
        check(await listen_status(base, cid_rv, token_rv) == 410, "a revoked contact cannot be re-attached (410)")
        l1, got = await listen(base, token, cid, ping_interval=None)
        check(got == cid, "the phone re-attaches with its registered token")
        desk = asyncio.ensure_future(contact(base, cid, client_payload()))
        wake = await wakeup(l1)
        d = await asyncio.wait_for(desk, 10)
        p = await ws_connect(base + "/cable/connect/%s/%s" % (RID, wake["caBLE.tunnelID"]))
        await d.send(b"after restart")
        check(await asyncio.wait_for(p.recv(), 10) == b"after restart", "the desktop reaches the phone after the restart")
        await d.close()
        await p.close()
        await l1.close()
        r.signal(signal.SIGTERM)
        check(r.wait_exit(10) == 0, "clean stop")
    finally:
        r.stop()

    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        check(await contact_status(base, cid, client_payload()) == 503, "after a clean restart too: 503 until re-attach")
        try:
            ws = await websockets.connect(base + "/cable/listen/" + cid, subprotocols=["fido.cable"],
                                          extra_headers={"X-Hybridgate-Contact-Token": token,
                                                         "X-Hybridgate-Revoke": "true"}, open_timeout=10)
            await closed_code(ws)
        except websockets.exceptions.InvalidStatusCode:
            pass
        r.proc.send_signal(signal.SIGKILL)
        r.proc.wait(timeout=10)
    finally:
        r.stop()
    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        check(await contact_status(base, cid, client_payload()) == 410, "a revocation by header survives SIGKILL")
    finally:
        r.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
