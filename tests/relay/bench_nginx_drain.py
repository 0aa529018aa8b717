#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""By hand (a load run, not a CTest test): three relays behind the real nginx, configured from the
shipped site (deploy/nginx/hybridgate-relay.conf via nginxsite.py), carry TOTAL tunnels (default
2,000; CONCURRENCY at a time), each paired through nginx (phone /cable/new, desktop /cable/connect
by routing ID) with one message each way; when a third of them have started, one node is drained
(SIGTERM) while a tunnel of its own keeps it draining. Prints every failed pairing with its reason
and the figures; exit 1 if any pairing failed (issue 21: "nginx with three relays in front of a
2,000-tunnel load, one node drained mid-run: no pairing fails").

usage: bench_nginx_drain.py HYBRIDGATE_RELAY [TOTAL [CONCURRENCY]]"""
import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time

import websockets

from nginxsite import write_config
from relaytest import Relay, new_tid, ws_connect

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pylib"))
from hgcheck import free_port  # noqa: E402
from test_multinode import NGINX, wait_listening  # noqa: E402

ARGS = ("--trusted-proxy", "127.0.0.1", "--rate-new", "0", "--rate-connect", "0", "--max-waiting-per-client", "1000",
        "--max-connections-per-client", "10000", "--max-waiting-per-network", "0", "--max-connections-per-network", "0")


async def one(base, i, stats, failures):
    tid = new_tid()
    t0 = time.monotonic()
    stage = "phone /cable/new"
    phone = desktop = None
    try:
        phone = await ws_connect(base + "/cable/new/" + tid)
        rid = phone.response_headers.get("X-caBLE-Routing-ID")
        stage = "desktop /cable/connect on %s" % rid
        desktop = await ws_connect(base + "/cable/connect/%s/%s" % (rid, tid))
        stage = "messages on %s" % rid
        await phone.send(b"p%d" % i)
        await desktop.send(b"d%d" % i)
        a = await asyncio.wait_for(desktop.recv(), 20)
        b = await asyncio.wait_for(phone.recv(), 20)
        if a != b"p%d" % i or b != b"d%d" % i:
            raise AssertionError("wrong message")
        stats["ok"] += 1
        stats["node " + rid] += 1
        stats["latency"].append(time.monotonic() - t0)
    except (OSError, asyncio.TimeoutError, AssertionError, websockets.exceptions.WebSocketException) as e:
        failures.append((i, stage, repr(e)[:160]))
    finally:
        for ws in (phone, desktop):
            if ws is not None:
                await ws.close()


async def main(binary, total, concurrency):
    rids = ["0A0B01", "0A0B02", "0A0B03"]
    relays = [Relay(binary, *ARGS, routing_id=r) for r in rids]
    tmp = tempfile.mkdtemp(prefix="hg-nginx-drain-")
    port = free_port()
    subst = {"LISTEN": "127.0.0.1:%d" % port}
    for i, r in enumerate(relays):
        subst["NODE%d_ADDR" % (i + 1)] = "127.0.0.1:%d" % r.port
        subst["NODE%d_RID" % (i + 1)] = r.routing_id
        subst["NODE%d_PREFIX" % (i + 1)] = subprocess.run(
            [binary, "--routing-id", r.routing_id, "--print-contact-prefix"], capture_output=True, text=True,
            timeout=10).stdout.strip()
    # 4 nginx connections per open tunnel (docs/relay.md, "Scale-out"), and some room.
    conf_path, _ = write_config(tmp, subst, worker_connections=4 * concurrency + 1024)
    nginx = subprocess.Popen([NGINX, "-p", tmp, "-c", conf_path, "-g", "daemon off;"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    stats = collections.Counter()
    stats["latency"] = []
    failures = []
    try:
        if not wait_listening(port, nginx):
            print("nginx did not start")
            return 1
        base = "ws://127.0.0.1:%d" % port
        node = relays[1]
        sem = asyncio.Semaphore(concurrency)
        drained_at = None
        held = []

        async def run(i):
            try:
                await one(base, i, stats, failures)
            finally:
                sem.release()

        t0 = time.monotonic()
        tasks = []
        for i in range(total):
            if i == total // 3:
                tid = new_tid()  # a tunnel of its own keeps the node draining
                held.append(await ws_connect(node.url("/cable/new/" + tid)))
                held.append(await ws_connect(node.url("/cable/connect/%s/%s" % (node.routing_id, tid))))
                node.signal(signal.SIGTERM)
                drained_at = time.monotonic() - t0
            await sem.acquire()  # released by the tunnel's task: CONCURRENCY in flight, started as they end
            tasks.append(asyncio.ensure_future(run(i)))
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        lat = sorted(stats.pop("latency"))
        draining_refusals = node.metric('hybridgate_relay_rejections_total{reason="draining"}')
        print("tunnels %d, concurrency %d, wall %.1f s, node %s drained at %.1f s (still draining: %s)" % (
            total, concurrency, wall, node.routing_id, drained_at, node.proc.poll() is None))
        print("paired and relayed both ways: %d; failed: %d" % (stats["ok"], len(failures)))
        print("per node: %s" % ", ".join("%s %d" % (k, v) for k, v in sorted(stats.items()) if k.startswith("node")))
        print("pairing+messages latency p50 %.1f ms, p99 %.1f ms" % (lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000))
        print("the draining node answered %d new tunnels 503 (nginx retried them on the others)" % draining_refusals)
        for f in failures[:20]:
            print("FAILED tunnel %d at %s: %s" % f)
        for ws in held:
            await ws.close()
        return 1 if failures else 0
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        for r in relays:
            r.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
                              int(sys.argv[3]) if len(sys.argv) > 3 else 50)))
