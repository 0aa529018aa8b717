#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Socket activation (issue 21): the relay takes its listening socket from systemd the way
systemd passes it — fd 3, LISTEN_FDS=1, LISTEN_PID=<the relay's pid> (sd_listen_fds) — instead of
binding --listen. This test is the launcher (what the .socket unit does): it holds the listening
socket across a restart under load, and no connection is refused: while the old relay drains
(it stops accepting at once) and before the new one runs, connections wait in the socket's backlog."""
import asyncio
import os
import signal
import socket
import sys
import tempfile

import websockets

from relaytest import Relay, check, finish, new_tid, pair, ws_connect


def launcher(d, binary, fd):
    """A wrapper that puts `fd` at 3 and sets LISTEN_FDS/LISTEN_PID for the relay it execs."""
    path = os.path.join(d, "activate.sh")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec 3<&%d %d<&-\nexport LISTEN_FDS=1 LISTEN_PID=$$\nexec "%s" "$@"\n' % (fd, fd, binary))
    os.chmod(path, 0o755)
    return path


def start(d, binary, sock):
    # --listen names the socket's own address: a relay that ignored fd 3 would fail to bind it.
    return Relay(launcher(d, binary, sock.fileno()), "--rate-new", "0", listen="127.0.0.1:%d" % sock.getsockname()[1],
                 pass_fds=(sock.fileno(),), tmpdir=d)


async def load(port, results, stop):
    """Opens and closes waiting tunnels one after another until `stop` is set; records outcomes."""
    while not stop.is_set():
        try:
            ws = await websockets.connect("ws://127.0.0.1:%d/cable/new/%s" % (port, new_tid()),
                                          subprotocols=["fido.cable"], compression=None, open_timeout=30,
                                          ping_interval=None, close_timeout=5)
            results.append(101)
            await ws.close()
        except websockets.exceptions.InvalidStatusCode as e:
            results.append(e.status_code)
        except ConnectionRefusedError:
            results.append("refused")
        except Exception as e:  # noqa: BLE001 - every other failure is recorded too
            results.append(type(e).__name__)


async def main(binary):
    with tempfile.TemporaryDirectory(prefix="hg-sockact-") as d:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(4096)
        port = sock.getsockname()[1]
        a = start(d, binary, sock)
        try:
            ev = [j for j in a.log if j.get("event") == "listening"]
            check(ev and ev[0].get("socket_activated") is True and a.port == port,
                  "the relay listens on the passed socket (port %d, %r)" % (port, ev and ev[0].get("socket_activated")))
            phone, desktop, _ = await pair(a)
            await phone.send(b"hello")
            check(await desktop.recv() == b"hello", "a tunnel pairs through the activated socket")
            await phone.close()
            await desktop.close()

            # Restart under load: 4 clients open tunnels back to back; SIGTERM the relay, start the
            # next one on the same socket once the first has exited.
            results, stop = [], asyncio.Event()
            workers = [asyncio.ensure_future(load(port, results, stop)) for _ in range(4)]
            while results.count(101) < 20:
                await asyncio.sleep(0.05)
            a.signal(signal.SIGTERM)
            loop = asyncio.get_running_loop()
            code = await loop.run_in_executor(None, a.wait_exit, 40)
            check(code == 0, "the first relay drained and exited (%r)" % code)
            during = len(results)
            b = start(d, binary, sock)
            try:
                while results[during:].count(101) < 20:
                    await asyncio.sleep(0.05)
                stop.set()
                await asyncio.gather(*workers)
                refused = results.count("refused")
                other = [x for x in results if x not in (101, 503)]
                check(refused == 0, "no connection refused across the restart (%d of %d)" % (refused, len(results)))
                check(not other, "no other failure (%r)" % other[:5])
                check(results.count(503) <= 4, "at most the in-flight requests at the drain's start got 503 (%d)"
                      % results.count(503))
                check(results[-4:] == [101] * 4, "the new relay serves the load")
                print("     %d connections, %d answered by the new relay, %d x 503 (in flight at the drain)"
                      % (len(results), len(results) - during, results.count(503)))
            finally:
                b.stop()
        finally:
            a.stop()
            sock.close()

    # Not a listening TCP socket at fd 3: refused with a sentence.
    with tempfile.TemporaryDirectory(prefix="hg-sockact-") as d:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        try:
            start(d, binary, udp)
            check(False, "a UDP socket at fd 3 is refused")
        except RuntimeError as e:
            check("fd 3 is not a listening TCP socket" in str(e), "a UDP socket at fd 3 is refused (%s)" % str(e)[-120:])
        udp.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
