#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Linked sign-ins through three relay nodes behind the real nginx (deploy/nginx template): each
phone links through the proxy (its listen registration lands on some node, which its contact ID
names), then a desktop signs in with no QR code through the proxy; the contact request must reach
the phone's node. Repeated until every node has served one. Checked by python3-fido2.

usage: test_linking_multinode.py BIN_DIR"""

import base64
import json
import os
import socket
import subprocess
import sys

from hgtest import Relay, Workdir, check, free_port, run_tests, verify, wait_for
import test_linking as tl

BIN = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "relay"))
from nginxsite import write_config  # noqa: E402  (the shipped site file in a minimal nginx.conf)


class Proxy:
    def __init__(self, wd, relays):
        self.port = free_port()
        subst = {"LISTEN": "127.0.0.1:%d" % self.port}
        for i, r in enumerate(relays):
            n = i + 1
            subst["NODE%d_ADDR" % n] = "127.0.0.1:%d" % r.port
            subst["NODE%d_RID" % n] = r.rid
            subst["NODE%d_PREFIX" % n] = subprocess.run(
                [os.path.join(BIN, "hybridgate-relay"), "--routing-id", r.rid, "--print-contact-prefix"],
                capture_output=True, text=True, timeout=10).stdout.strip()
        path, left = write_config(wd.path, subst)
        check(not left, "placeholders of the nginx site left unfilled: %r" % left)
        self.proc = subprocess.Popen(["/usr/sbin/nginx", "-p", wd.path, "-c", path, "-g", "daemon off;"],
                                     stderr=open(wd.file("nginx.err"), "w"))
        self.url = "ws://127.0.0.1:%d" % self.port

        def accepting():
            check(self.proc.poll() is None, "nginx exited: " + open(wd.file("nginx.err")).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(accepting, 20, "nginx to accept connections")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def contact_node(store):
    state = json.load(open(store + ".link"))
    cid = base64.urlsafe_b64decode(state["contact_id"] + "=" * (-len(state["contact_id"]) % 4))
    check(cid[:2] == b"hg" and cid[8:9] == b".", "contact ID is not a hybridgate contact ID: %r" % cid[:9])
    return cid[2:8].decode()


def test_linked_sign_in_through_three_nodes_behind_nginx():
    wd = Workdir("link3")
    rids = ["0A0B01", "0A0B02", "0A0B03"]
    relays = []
    proxy = None
    try:
        for rid in rids:
            r = Relay(BIN, wd, "--routing-id", rid, "--trusted-proxy", "127.0.0.1")
            r.rid = rid
            relays.append(r)
        proxy = Proxy(wd, relays)
        served = {}
        for attempt in range(12):
            if len(served) == len(rids):
                break
            store, links = wd.file("store%d.json" % attempt), wd.file("links%d.json" % attempt)
            stored, _ = tl.link_by_qr(wd, proxy, store, links)
            node = contact_node(store)
            if node in served:
                continue
            listener = tl.listen(wd, proxy, store, name="listener%d" % attempt)
            d, challenge = tl.linked_sign_in(wd, proxy, links, name="linked%d" % attempt)
            check(d.wait(60) == 0, "linked sign-in via node %s failed:\n%s\nphone:\n%s" % (node, d.stderr(), listener.stderr()))
            check(listener.wait(30) == 0, "the phone's session failed:\n" + listener.stderr())
            with open(wd.file("stored.json"), "w") as f:
                json.dump(stored, f)
            rc, _, err = verify("authenticate", d.json(), rp_id=tl.RP, origin=tl.ORIGIN, challenge=challenge,
                                stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
            check(rc == 0, "the verifier rejected the assertion via node %s: %s" % (node, err))
            served[node] = True
        check(sorted(served) == rids, "not every node served a linked sign-in: %s" % sorted(served))
    finally:
        if proxy:
            proxy.stop()
        for r in relays:
            r.stop()
        wd.cleanup()


if __name__ == "__main__":
    run_tests([test_linked_sign_in_through_three_nodes_behind_nginx])
