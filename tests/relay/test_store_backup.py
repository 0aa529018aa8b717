#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A relay's contacts are never silently lost (issue 21): `hybridgate-relay backup` copies the
contact store while the relay runs and registers contacts (SQLite's online backup API; before,
the store was opened with an exclusive lock and any reader got "database is locked"), `restore`
puts the copy into an empty state directory, and a relay started on it knows every contact that
was answered 101 before the backup began (503 until the phone re-attaches with its token, 410 for a
revoked one, never 404 or a lost revocation). The write-ahead log is checkpointed while the relay
runs (it does not grow with the number of changes) and at a clean stop."""
import asyncio
import os
import subprocess
import sys
import tempfile

from linktest import client_payload, contact_status, listen, new_token
from relaytest import Relay, check, closed_code, finish, status_of

ARGS = ("--rate-new", "0", "--rate-reattach", "0", "--max-contacts-per-client", "100000",
        "--max-contacts-per-network", "0", "--max-waiting-per-network", "0", "--max-connections-per-network", "0")


def run(binary, *args):
    return subprocess.run([binary] + list(args), capture_output=True, text=True, timeout=60)


async def register(base, n):
    """n phones register (one listen connection each, closed once the contact ID came back)."""
    out = []
    for _ in range(n):
        token = new_token()
        ws, cid = await listen(base, token, ping_interval=None)
        await ws.close()
        out.append((cid, token))
    return out


async def main(binary):
    state = tempfile.mkdtemp(prefix="hg-state-")
    r = Relay(binary, "--state-dir", state, *ARGS)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        before = await register(base, 40)
        lrv, cid_rv = await listen(base, new_token(), ping_interval=None)
        await lrv.send('{"revoke": true}')
        check(await closed_code(lrv) == 1000, "a contact revoked by its phone before the backup")

        # The backup runs in another process while this one keeps registering contacts.
        stop = asyncio.Event()
        during = []

        async def flood():
            while not stop.is_set():
                during.extend(await register(base, 5))
        flooding = asyncio.ensure_future(flood())
        await asyncio.sleep(0)
        backup = os.path.join(tempfile.mkdtemp(prefix="hg-backup-"), "relay.backup")
        b = await asyncio.get_running_loop().run_in_executor(None, run, binary, "backup", "--state-dir", state,
                                                             "--to", backup)
        stop.set()
        await flooding
        check(b.returncode == 0 and "routing ID %s" % r.routing_id in b.stdout,
              "backup while the relay runs and registers contacts: exit 0, names the routing ID (%r %r)"
              % (b.stdout.strip(), b.stderr.strip()[-200:]))
        check(len(during) > 0, "the relay kept registering contacts during the backup (%d)" % len(during))
        check(r.proc.poll() is None and await status_of(base + "/cable/new/" + "AB" * 16) == 101,
              "the relay still serves after the backup")
        again = run(binary, "backup", "--state-dir", state, "--to", backup)
        check(again.returncode != 0 and "exists" in again.stderr, "a backup never overwrites a file (%r)"
              % again.stderr.strip()[-120:])

        # Checkpoints while running: 1,500 more changes, the write-ahead log stays bounded.
        await register(base, 1500)
        wal = os.path.getsize(os.path.join(state, "contacts.sqlite3-wal"))
        check(wal <= 4200 * 1024, "after 1,540 registrations the -wal file is checkpointed, not growing (%d bytes)" % wal)

        busy = run(binary, "restore", "--from", backup, "--state-dir", state)
        check(busy.returncode != 0 and "locked" in busy.stderr,
              "restore into the directory of a running relay is refused (%r)" % busy.stderr.strip()[-120:])

        r.signal(15)
        check(r.wait_exit(20) == 0, "clean stop")
        check(not os.path.exists(os.path.join(state, "contacts.sqlite3-wal")) or
              os.path.getsize(os.path.join(state, "contacts.sqlite3-wal")) == 0,
              "a clean stop checkpoints everything (the -wal file is gone or empty)")
    finally:
        r.stop()

    restored = os.path.join(tempfile.mkdtemp(prefix="hg-restored-"), "state")
    res = run(binary, "restore", "--from", backup, "--state-dir", restored)
    check(res.returncode == 0 and "routing ID %s" % r.routing_id in res.stdout,
          "restore into a new state directory (%r %r)" % (res.stdout.strip(), res.stderr.strip()[-200:]))
    with open(os.path.join(restored, "routing-id")) as f:
        check(f.read().strip() == r.routing_id, "restore writes the routing ID")
    twice = run(binary, "restore", "--from", backup, "--state-dir", restored)
    check(twice.returncode != 0 and "exists" in twice.stderr, "restore never overwrites a store (%r)"
          % twice.stderr.strip()[-120:])
    junk = os.path.join(restored, "..", "junk")
    with open(junk, "wb") as f:
        f.write(os.urandom(8192))
    bad = run(binary, "restore", "--from", junk, "--state-dir", restored + "-2")
    check(bad.returncode != 0, "restore refuses a file that is not a backup (%r)" % bad.stderr.strip()[-120:])

    r = Relay(binary, "--state-dir", restored, *ARGS)
    base = "ws://127.0.0.1:%d" % r.port
    try:
        check(r.routing_id == res.stdout.split("routing ID ")[1].split(",")[0], "the restored relay has the routing ID")
        codes = [await contact_status(base, cid, client_payload()) for cid, _ in before]
        check(codes == [503] * len(before),
              "every contact registered before the backup is known after restore (503 until re-attach): %s"
              % sorted(set(codes)))
        check(await contact_status(base, cid_rv, client_payload()) == 410, "the revocation is in the backup (410)")
        cid, token = before[0]
        ws, got = await listen(base, token, cid, ping_interval=None)
        check(got == cid, "a phone re-attaches to the restored relay with its token")
        await ws.close()
    finally:
        r.stop()

    # Not a backup: a store recorded for another routing ID is refused at start.
    other = tempfile.mkdtemp(prefix="hg-state-")
    os.rename(os.path.join(restored, "contacts.sqlite3"), os.path.join(other, "contacts.sqlite3"))
    with open(os.path.join(other, "routing-id"), "w") as f:
        f.write("ABCDEF\n" if r.routing_id != "ABCDEF" else "ABCDEE\n")
    wrong = run(binary, "--listen", "127.0.0.1:0", "--state-dir", other)
    check(wrong.returncode != 0 and "belongs to routing ID" in wrong.stderr,
          "a store under another routing ID's directory is refused at start (%r)" % wrong.stderr.strip()[-160:])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
