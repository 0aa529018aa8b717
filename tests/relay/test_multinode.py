#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Scale-out: three relay processes with distinct routing IDs behind the real nginx, configured
from the drop-in site deploy/nginx/hybridgate-relay.conf (nginxsite.py). Tunnels whose two sides both arrive through the
proxy complete on every node; /cable/connect is routed by routing ID in either hex case. Linked phones: listeners that
registered through the proxy's bare /cable/listen (spread over the nodes) are re-attached and
reached by /cable/contact through the proxy on their own node, for every node."""
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import websockets

from nginxsite import write_config
from linktest import client_payload, contact, listen, new_token, unb64url, wakeup
from relaytest import Relay, check, closed_code, finish, new_tid, status_of, ws_connect

HERE = os.path.dirname(os.path.abspath(__file__))
NGINX = "/usr/sbin/nginx"
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))
from hgcheck import free_port  # noqa: E402  (only that: the relay tests keep relaytest's check())


def wait_listening(port, proc, timeout=10):
    """Readiness: retry connecting until nginx accepts (bounded), failing fast if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


async def main(binary):
    rids = ["0A0B01", "0a0b02", "0A0B03"]
    relays = [Relay(binary, "--trusted-proxy", "127.0.0.1", routing_id=r) for r in rids]
    tmp = tempfile.mkdtemp(prefix="hg-nginx-")
    port = free_port()
    subst = {"LISTEN": "127.0.0.1:%d" % port}
    for i, r in enumerate(relays):
        subst["NODE%d_ADDR" % (i + 1)] = "127.0.0.1:%d" % r.port
        subst["NODE%d_RID" % (i + 1)] = r.routing_id
        prefix = subprocess.run([binary, "--routing-id", r.routing_id, "--print-contact-prefix"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        check(len(prefix) == 12, "node %s: --print-contact-prefix gives 12 characters (%r)" % (r.routing_id, prefix))
        subst["NODE%d_PREFIX" % (i + 1)] = prefix
    conf_path, left = write_config(tmp, subst)
    check(not left, "every placeholder of the shipped nginx site is filled (%r)" % left)
    nginx = subprocess.Popen([NGINX, "-p", tmp, "-c", conf_path, "-g", "daemon off;"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ok = wait_listening(port, nginx)
        if not ok:
            print(nginx.stderr.read().decode(errors="replace") if nginx.poll() is not None else "nginx not listening")
        check(ok, "nginx is listening on 127.0.0.1:%d" % port)
        base = "ws://127.0.0.1:%d" % port
        seen = {}
        ids = []  # every tunnel and contact ID that went through nginx: none may reach its access log
        for i in range(9):
            tid = new_tid()
            ids.append(tid)
            phone = await ws_connect(base + "/cable/new/" + tid)
            rid = phone.response_headers.get("X-caBLE-Routing-ID")
            seen[rid] = seen.get(rid, 0) + 1
            # alternate hex case on the connect path
            path_rid = rid.lower() if i % 2 else rid.upper()
            path_tid = tid.lower() if i % 3 else tid
            desktop = await ws_connect(base + "/cable/connect/%s/%s" % (path_rid, path_tid))
            await phone.send(b"to desktop %d" % i)
            await desktop.send(b"to phone %d" % i)
            a = await asyncio.wait_for(desktop.recv(), 10)
            b = await asyncio.wait_for(phone.recv(), 10)
            check(a == b"to desktop %d" % i and b == b"to phone %d" % i,
                  "tunnel %d through the proxy on node %s relays both ways" % (i, rid))
            await phone.close()
            await desktop.wait_closed()
            check(desktop.close_code == 1000, "tunnel %d closes 1000 through the proxy" % i)
        check(set(seen) == {r.upper() for r in rids}, "/cable/new/ is spread over all three nodes (%s)" % seen)
        for r in relays:
            check(r.metric("hybridgate_relay_tunnels_paired_total") == 3, "node %s paired 3 tunnels" % r.routing_id)
        check(await status_of(base + "/cable/connect/0A0B09/" + new_tid()) == 404, "proxy: unknown routing ID -> 404")
        # From 127.0.0.2 (nginx reaches the nodes from 127.0.0.1, their --trusted-proxy), with an
        # X-Forwarded-For the client wrote itself: the site appends the address nginx saw, which is
        # the entry the relay uses; the client's own entry to its left is never believed.
        st = await status_of(base + "/cable/connect/0A0B01/" + new_tid(), local_addr=("127.0.0.2", 0),
                             extra_headers={"X-Forwarded-For": "198.51.100.7"})
        check(st == 404, "proxy -> node: unknown tunnel -> 404")
        # The relay's log is read by a thread: wait (bounded) for the line instead of assuming it arrived.
        deadline = time.monotonic() + 10
        ev = []
        while not ev and time.monotonic() < deadline:
            ev = [j for j in list(relays[0].log) if j.get("event") == "rejected" and j.get("reason") == "unknown_tunnel"]
            if not ev:
                time.sleep(0.01)
        check(bool(ev) and ev[0].get("client") == "127.0.0.2",
              "X-Forwarded-For appended by the proxy names the client, not the entry it wrote (%r)" % (ev and ev[0].get("client")))
        ids += await linking(base, relays)
        await drained_node(base, relays)
        with open(os.path.join(tmp, "access.log")) as f:
            log = f.read()
        check("/cable/new/-" in log and "/cable/contact/-" in log and "/cable/listen" in log,
              "the access log records the requests (%d lines)" % log.count("\n"))
        leaked = [i for i in ids if i.lower() in log.lower()]
        check(not leaked, "the access log holds no tunnel or contact ID (%d of %d found)" % (len(leaked), len(ids)))
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        for r in relays:
            r.stop()


async def linking(base, relays):
    """Listeners registered through the proxy, one per node; contact requests through the proxy.
    Returns the contact and tunnel IDs used."""
    ids = []
    by_rid = {}
    for _ in range(12):  # round robin over three nodes: a few registrations cover every node
        token = new_token()
        ws, cid = await listen(base, token)
        ids.append(cid)
        rid = unb64url(cid)[2:8].decode()
        if rid in by_rid:
            await ws.close()
        else:
            by_rid[rid] = (ws, cid, token)
        if len(by_rid) == 3:
            break
    check(set(by_rid) == {r.routing_id for r in relays}, "bare /cable/listen through the proxy is spread over all nodes (%s)" % sorted(by_rid))
    for r in relays:
        if r.routing_id not in by_rid:
            continue
        ws, cid, token = by_rid[r.routing_id]
        # re-attach through the proxy: routed by the contact ID's prefix to the owning node
        ws2, cid2 = await listen(base, token, cid)
        check(cid2 == cid and await closed_code(ws) == 1000,
              "node %s: re-attach through the proxy reaches the owning node (old listener replaced)" % r.routing_id)
        payload = client_payload()
        desk_task = asyncio.create_task(contact(base, cid, payload, signal=True))
        wake = await wakeup(ws2)
        check(wake.get("caBLE.routingID") == r.routing_id and wake.get("caBLE.clientPayload") == payload,
              "node %s: /cable/contact through the proxy wakes the listener on its node" % r.routing_id)
        desktop = await asyncio.wait_for(desk_task, 10)
        check(desktop.response_headers.get("X-caBLE-Signal-Connection") == "true",
              "node %s: X-caBLE-Signal-Connection passes the proxy both ways" % r.routing_id)
        ids.append(wake["caBLE.tunnelID"])
        phone = await ws_connect(base + "/cable/connect/%s/%s" % (wake["caBLE.routingID"], wake["caBLE.tunnelID"]))
        first = await asyncio.wait_for(desktop.recv(), 10)
        await phone.send(b"hello via proxy")
        got = await asyncio.wait_for(desktop.recv(), 10)
        check(first == b"\x00" and got == b"hello via proxy", "node %s: woken tunnel pairs and relays through the proxy" % r.routing_id)
        await desktop.close()
        await phone.wait_closed()
        await ws2.close()
        check(r.metric('hybridgate_relay_wakeups_sent_total{channel="listen"}') == 1,
              "node %s: the wake-up was sent by that node" % r.routing_id)
    return ids


async def drained_node(base, relays):
    """One node drains (SIGTERM) while a tunnel keeps it draining: nginx retries new tunnels and
    new registrations that it answers 503 on the other nodes, so none fails."""
    node = relays[1]
    tid = new_tid()
    held_phone = await ws_connect(node.url("/cable/new/" + tid))
    held_desktop = await ws_connect(node.url("/cable/connect/%s/%s" % (node.routing_id, tid)))
    node.signal(signal.SIGTERM)
    check(node.wait_event("draining") is not None, "node %s drains" % node.routing_id)
    statuses = [await status_of(base + "/cable/new/" + new_tid()) for _ in range(12)]
    check(statuses == [101] * 12, "while one node drains, 12 new tunnels through nginx all get 101 (%s)" % statuses)
    regs = []
    for _ in range(6):
        try:
            ws, _ = await listen(base, new_token())
            regs.append(101)
            await ws.close()
        except websockets.exceptions.InvalidStatusCode as e:
            regs.append(e.status_code)
    check(regs == [101] * 6, "... and 6 new registrations too (%s)" % regs)
    check(node.metric('hybridgate_relay_rejections_total{reason="draining"}') >= 1,
          "the draining node did refuse some (nginx retried them elsewhere)")
    await held_phone.close()
    await held_desktop.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
