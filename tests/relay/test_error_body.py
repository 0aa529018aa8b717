#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Clients read a relay's error answer with a small bound (issue 21: a phone read a malicious
relay's 1 GB error body). A fake relay answers the WebSocket upgrade with 503 and a 1 GB body
(with Content-Length, and delimited by the connection's end); hybridgate's tunnel client — the one
the phone, the desktop and `hybridgate doctor` use — stops reading at 64 KiB and says so (it used
to read up to Beast's 8 MB body limit). `hybridgate doctor --tunnel-url` drives it.

usage: test_error_body.py HYBRIDGATE"""
import socket
import subprocess
import sys
import threading

from relaytest import check, finish


def fake_relay(head):
    """A server that answers every request with `head` and then up to 1 GB of body, as fast as the
    client reads it; returns (port, list of bytes sent per connection)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    sent = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(c,), daemon=True).start()

    def answer(c):
        n = 0
        try:
            c.recv(65536)
            c.sendall(head)
            chunk = b"x" * 65536
            for _ in range(16384):
                c.sendall(chunk)
                n += len(chunk)
        except OSError:
            pass
        sent.append(n)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], sent


def main(binary):
    cases = (
        # Over Beast's 8 MB body limit, announced: refused at the header, nothing of the body read.
        ("1 GB, Content-Length", b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1073741824\r\n\r\n",
         ("over 64 KiB", "body limit exceeded")),
        # Within Beast's limit (it used to read all of it): stopped at 64 KiB.
        ("4 MB, Content-Length", b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4194304\r\n\r\n",
         ("over 64 KiB",)),
        # Delimited by the connection's end: stopped at 64 KiB.
        ("1 GB until the connection ends", b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n",
         ("over 64 KiB",)),
    )
    for name, head, said in cases:
        port, sent = fake_relay(head)
        p = subprocess.run([binary, "doctor", "--tunnel-url", "ws://127.0.0.1:%d" % port], capture_output=True,
                           text=True, timeout=120)
        line = [l for l in p.stdout.splitlines() if "tunnel_websocket" in l]
        check(bool(line) and any(w in line[0] for w in said),
              "error body %s: the client stops reading and says why (%r)" % (name, line[0] if line else p.stdout[-300:]))
        # What the server could push is what the client read plus the kernel's socket buffers.
        check(all(n < 16 << 20 for n in sent), "... the server could send at most a few MB (%s)"
              % ", ".join("%d MB" % (n >> 20) for n in sent))


if __name__ == "__main__":
    main(sys.argv[1])
    finish()
