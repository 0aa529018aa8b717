#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Nothing a person created is ever lost: credential stores shared by several processes.

1. Writers killed with SIGKILL at random points, round after round: the store always parses,
   keeps every passkey whose addition a writer reported, and stays mode 0600.
2. Eight phone processes registering at once on one store while a linked phone (`--listen`, the
   same store) serves linked sign-ins: every passkey is there afterwards, with the right counters.
3. A store whose lock another process holds (longer than the phone waits, 30 s) is reported as such
   — store.locked with a non-zero exit, the desktop told CTAP1_ERR_OTHER — never as a full key
   store with `request_served` and exit 0 (issue 21).
Stores are read back with Python's json module, not with hybridgate's own parser.

usage: test_stores.py BIN_DIR STORE_WRITER [TEST_NAME]"""

import base64
import fcntl
import json
import os
import random
import signal
import stat
import sys

from hgtest import Proc, Relay, Workdir, check, desktop, phone, run_selected, wait_for, wait_qr

BIN = sys.argv[1]
WRITER = sys.argv[2]
RP, ORIGIN = "example.com", "https://example.com"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def store_ids(path):
    with open(path) as f:
        doc = json.load(f)
    check(isinstance(doc.get("credentials"), list), "the store has no credentials list")
    return {base64.urlsafe_b64decode(c["id"] + "=" * (-len(c["id"]) % 4)).decode(errors="replace"): c
            for c in doc["credentials"]}


def committed(p):
    return [line.split(" ", 1)[1] for line in p.stdout().splitlines() if line.startswith("committed ")]


def test_killed_writers_never_lose_or_corrupt_the_store():
    wd = Workdir("killed")
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    try:
        store = wd.file("store.json")
        kept = set()
        for rnd in range(12):
            writers = [Proc([WRITER, store, "add", "400", "r%dw%d" % (rnd, k)], wd, "w%d-%d" % (rnd, k)) for k in range(3)]
            target = rng.randint(1, 25)  # kill once this many additions were reported in all
            wait_for(lambda: sum(len(committed(w)) for w in writers) >= target or
                     all(w.proc.poll() is not None for w in writers), 60, "the writers' first additions")
            for w in writers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGKILL)
                w.wait(10)
                kept.update(committed(w))
            ids = store_ids(store)
            lost = kept - set(ids)
            check(not lost, "round %d: %d reported passkeys are gone, e.g. %s" % (rnd, len(lost), sorted(lost)[:3]))
            mode = stat.S_IMODE(os.stat(store).st_mode)
            check(mode == 0o600, "round %d: the store is mode %o" % (rnd, mode))
        # hybridgate itself still opens it (and refuses nothing).
        again = Proc([WRITER, store, "add", "1", "final"], wd, "final")
        check(again.wait(30) == 0, "the store no longer opens:\n" + again.stderr())
        check(len(store_ids(store)) >= len(kept) + 1, "the final addition is missing")
    finally:
        wd.cleanup()


def test_eight_phones_and_a_listener_share_one_store():
    wd = Workdir("shared")
    relay = Relay(BIN, wd)
    procs = []
    try:
        store, links = wd.file("store.json"), wd.file("links.json")
        # A linked phone first (its passkey is the one the linked sign-ins use).
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "linked",
                    "--link-phone", "--links", links, name="link-desktop")
        p = phone(BIN, wd, wait_qr(d), relay.url, store, "--yes", "--link", "--phone-name", "Shared", name="link-phone")
        check(p.wait(60) == 0 and d.wait(60) == 0, "linking failed:\n" + d.stderr() + p.stderr())
        linked_id = d.json()["id"]
        listener = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", relay.url,
                         "--store", store, "--yes", "--listen"], wd, "listener")
        procs.append(listener)
        wait_for(lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None, 20, "the listener")

        # Eight QR registrations at once, each with its own phone process on the same store.
        pairs = []
        for i in range(8):
            di = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name",
                         "user%d" % i, name="d%d" % i, advert_timeout=60)
            pairs.append(di)
        for i, di in enumerate(pairs):
            procs.append(phone(BIN, wd, wait_qr(di), relay.url, store, "--yes", name="p%d" % i))
        # Meanwhile, linked sign-ins one after another through the listening phone.
        signed = 0
        for k in range(3):
            s = Proc([os.path.join(BIN, "hybridgate"), "sign-in", "--radio", "loopback", "--rp-id", RP, "--origin",
                      ORIGIN, "--phone", "Shared", "--links", links, "--allow", linked_id, "--advert-timeout", "30"],
                     wd, "linked%d" % k)
            check(s.wait(90) == 0, "linked sign-in %d failed:\n%s\nlistener:\n%s" % (k, s.stderr(), listener.stderr()))
            signed += 1
        made = {}
        for i, di in enumerate(pairs):
            check(di.wait(90) == 0, "desktop %d failed:\n%s" % (i, di.stderr()))
            check(procs[1 + i].wait(60) == 0, "phone %d failed:\n%s" % (i, procs[1 + i].stderr()))
            made[di.json()["id"]] = "user%d" % i
        with open(store) as f:
            creds = {c["id"]: c for c in json.load(f)["credentials"]}
        missing = [cid for cid in list(made) + [linked_id] if cid not in creds]
        check(not missing, "%d of %d passkeys are missing from the shared store" % (len(missing), len(made) + 1))
        check(len(creds) == len(made) + 1, "the store holds %d passkeys, not %d" % (len(creds), len(made) + 1))
        for cid, user in made.items():
            check(creds[cid]["user_name"] == user and creds[cid]["sign_count"] == 0, "passkey of %s: %r" % (user, creds[cid]))
        check(creds[linked_id]["sign_count"] == signed,
              "the linked passkey's counter is %d after %d sign-ins" % (creds[linked_id]["sign_count"], signed))
    finally:
        for p in procs:
            p.kill()
        relay.stop()
        wd.cleanup()


def test_a_held_store_lock_is_reported_as_such():
    wd = Workdir("locked")
    relay = Relay(BIN, wd)
    lock = None
    try:
        store = wd.file("store.json")
        fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b'{"version": 1, "credentials": []}\n')
        os.close(fd)
        lock = os.open(store + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process holds the store (for longer than the phone waits)
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "held",
                    name="held-desktop")
        p = phone(BIN, wd, wait_qr(d), relay.url, store, "--yes", name="held-phone")
        prc, drc = p.wait(120), d.wait(120)
        err = p.stderr()
        check(prc != 0, "the phone exits non-zero when the store stays locked (exit %s)" % prc)
        check("store.locked" in err and "locked by another process" in err,
              "the phone says the store is locked:\n" + err)
        check(p.json().get("error", {}).get("code") == "store.locked", "its JSON names store.locked: %r" % p.stdout())
        check("request_served" not in p.stdout() and "no room" not in err, "... not a served request or a full store")
        check(drc != 0 and "ctap.other" in d.stderr() and "no room" not in d.stderr(),
              "the desktop's registration fails with ctap.other, not a full key store:\n" + d.stderr())
        fcntl.flock(lock, fcntl.LOCK_UN)
        check(store_ids(store) == {}, "no passkey was stored")
    finally:
        if lock is not None:
            os.close(lock)
        relay.stop()
        wd.cleanup()


TESTS = [test_killed_writers_never_lose_or_corrupt_the_store, test_eight_phones_and_a_listener_share_one_store,
         test_a_held_store_lock_is_reported_as_such]

if __name__ == "__main__":
    run_selected(TESTS, sys.argv[3] if len(sys.argv) > 3 else None)
