#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Contacts never look revoked (issue 21). With --state-dir and no --routing-id the routing ID is
generated once and kept (<state-dir>/routing-id), so a restart (clean or SIGKILL) keeps every
linked phone reachable; a --routing-id that differs from the kept one is refused. 410 only for a
contact the relay knows it revoked or expired; an unknown contact gets 404, which desktops do not
treat as revoked (tunnel/client: only 410 is tunnel.gone). A state directory whose database is
missing, or whose write-ahead log is gone after an unclean stop (a deleted -wal, a database file
copied alone from a running relay), is refused with a sentence instead of starting empty. The
per-client contact cap counts live contacts only."""
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile

import websockets

from linktest import b64url, client_payload, contact, contact_status, listen, new_token, unb64url, wakeup
from relaytest import Relay, check, closed_code, finish, status_of, ws_connect


def start(binary, state, *extra):
    return Relay(binary, "--state-dir", state, "--rate-new", "0", *extra)


def refused(binary, state, *extra):
    """Runs the relay on `state` expecting it to refuse to start; returns its stderr (None if it started)."""
    p = subprocess.run([binary, "--listen", "127.0.0.1:0", "--state-dir", state, *extra], capture_output=True,
                       text=True, timeout=20)
    return p.stderr.strip() if p.returncode != 0 else None


async def listen_status(base, cid, token):
    return await status_of(base + "/cable/listen/" + cid, extra_headers={"X-Hybridgate-Contact-Token": token})


async def reaches(base, rid, cid, token):
    """The phone re-attaches and a desktop's contact request wakes it and pairs; True if a message passes."""
    l1, got = await listen(base, token, cid, ping_interval=None)
    try:
        desk = asyncio.ensure_future(contact(base, cid, client_payload()))
        wake = await wakeup(l1)
        d = await asyncio.wait_for(desk, 10)
        p = await ws_connect(base + "/cable/connect/%s/%s" % (rid, wake["caBLE.tunnelID"]))
        await d.send(b"hello")
        ok = got == cid and await asyncio.wait_for(p.recv(), 10) == b"hello"
        await d.close()
        await p.close()
        return ok
    finally:
        await l1.close()


async def routing_id_kept(binary):
    state = tempfile.mkdtemp(prefix="hg-state-")
    r = Relay(binary)
    try:
        st, body = r.admin("/readyz")
        check(st == 200 and "ephemeral" in body, "a relay without --state-dir says in /readyz that it is ephemeral (%r)" % body)
        check(any(j.get("event") == "contacts_in_memory" and "routing ID" in j.get("note", "") for j in r.log),
              "... and at start (contacts_in_memory)")
    finally:
        r.stop()
    r = start(binary, state)
    rid = r.routing_id
    base = "ws://127.0.0.1:%d" % r.port
    token = new_token()
    try:
        check(r.admin("/readyz") == (200, "ready\n"), "with --state-dir /readyz says just ready")
        l1, cid = await listen(base, token, ping_interval=None)
        await l1.close()
        with open(os.path.join(state, "routing-id")) as f:
            check(f.read().strip() == rid, "the routing ID is kept in <state-dir>/routing-id (%s)" % rid)
        r.signal(signal.SIGTERM)
        check(r.wait_exit(10) == 0, "clean stop")
    finally:
        r.stop()
    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        check(r.routing_id == rid, "restart without --routing-id keeps the routing ID (%s -> %s)" % (rid, r.routing_id))
        check(await reaches(base, r.routing_id, cid, token), "the linked phone is reachable after a clean restart")
        r.proc.send_signal(signal.SIGKILL)
        r.proc.wait(timeout=10)
    finally:
        r.stop()
    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        check(r.routing_id == rid, "... and after SIGKILL")
        check(await reaches(base, r.routing_id, cid, token), "the linked phone is reachable after SIGKILL and restart")
        r.signal(signal.SIGTERM)
        r.wait_exit(10)
    finally:
        r.stop()
    other = "ABCDEF" if rid != "ABCDEF" else "123456"
    err = refused(binary, state, "--routing-id", other)
    check(err is not None and "differs from the routing ID" in err and "routing-id" in err,
          "a --routing-id other than the kept one is refused with a sentence (%r)" % (err or "")[-160:])
    return state, cid, token, rid


async def statuses(binary):
    state = tempfile.mkdtemp(prefix="hg-state-")
    r = start(binary, state, "--max-contacts-per-client", "2")
    base = "ws://127.0.0.1:%d" % r.port
    try:
        la, cid_a = await listen(base, new_token(), ping_interval=None)
        lb, cid_b = await listen(base, new_token(), ping_interval=None)
        unknown = b64url(unb64url(cid_a)[:9] + secrets.token_bytes(16))
        check(await contact_status(base, unknown, client_payload()) == 404,
              "an unknown contact of this node -> 404 (not 410: the desktop keeps its link)")
        check(await listen_status(base, unknown, new_token()) == 404, "re-attach to an unknown contact -> 404")
        check(await contact_status(base, b64url(b"not a hybridgate contact"), client_payload()) == 404,
              "a foreign contact ID -> 404")
        await lb.send('{"revoke": true}')
        check(await closed_code(lb) == 1000, "contact b revoked by its phone")
        check(await contact_status(base, cid_b, client_payload()) == 410, "a revoked contact -> 410")
        # The cap (2) counts live contacts: after the revocation a second live one may be registered.
        lc, cid_c = await listen(base, new_token(), ping_interval=None)
        check(bool(cid_c), "--max-contacts-per-client 2 with one live and one revoked contact: a new one registers")
        try:
            await listen(base, new_token(), ping_interval=None)
            third = 101
        except websockets.exceptions.InvalidStatusCode as e:
            third = e.status_code
        check(third == 503, "a third live contact -> 503 (%r)" % third)
        await la.close()
        await lc.close()
    finally:
        r.stop()


async def damaged_stores(binary, state):
    db = os.path.join(state, "contacts.sqlite3")
    # A database file copied alone from a running relay (its changes still in the -wal).
    r = start(binary, state)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        l2, cid2 = await listen(base, new_token(), ping_interval=None)
        await l2.close()
        copy = tempfile.mkdtemp(prefix="hg-state-copy-")
        shutil.copy(db, copy)
        shutil.copy(os.path.join(state, "routing-id"), copy)
        err = refused(binary, copy)
        check(err is not None and "write-ahead log" in err,
              "a database file copied alone from a running relay is refused (%r)" % (err or "")[-200:])
        r.proc.send_signal(signal.SIGKILL)
        r.proc.wait(timeout=10)
    finally:
        r.stop()
    # SIGKILL, then the -wal is lost: refused, not an empty store.
    wal = db + "-wal"
    check(os.path.exists(wal), "after SIGKILL the write-ahead log is there")
    saved = wal + ".saved"
    os.rename(wal, saved)
    err = refused(binary, state)
    check(err is not None and "write-ahead log" in err and "missing" in err,
          "a store whose -wal was deleted after an unclean stop is refused with a sentence (%r)" % (err or "")[-200:])
    os.rename(saved, wal)
    r = start(binary, state)
    try:
        check(r.metric("hybridgate_relay_contacts_registered") >= 2, "with the -wal back, every contact is there")
        r.signal(signal.SIGTERM)
        check(r.wait_exit(10) == 0, "clean stop")
    finally:
        r.stop()
    # After a clean stop the database file alone is complete.
    copy = tempfile.mkdtemp(prefix="hg-state-copy-")
    shutil.copy(db, copy)
    shutil.copy(os.path.join(state, "routing-id"), copy)
    r = start(binary, copy)
    try:
        check(r.metric("hybridgate_relay_contacts_registered") >= 2, "a copy of a cleanly stopped store starts complete")
    finally:
        r.stop()
    # The database deleted, the routing ID still there: refused.
    os.remove(db)
    err = refused(binary, state)
    check(err is not None and "is missing" in err, "a state directory without its database is refused (%r)"
          % (err or "")[-200:])
    # A damaged database: refused with a sentence.
    with open(db, "wb") as f:
        f.write(b"this is not an SQLite database" * 100)
    err = refused(binary, state)
    check(err is not None and "contacts.sqlite3" in err, "a damaged database is refused (%r)" % (err or "")[-200:])


async def main(binary):
    state, _, _, _ = await routing_id_kept(binary)
    await statuses(binary)
    await damaged_stores(binary, state)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
