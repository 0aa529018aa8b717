#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A tunnel server that misbehaves in one way, written with plain sockets (independent of both
hybridgate and any WebSocket library), for the client-side failure tests.

  bad_relay.py MODE PORT_FILE
    stall        accepts, reads the upgrade request, never answers
    status200    answers the upgrade with HTTP 200 OK
    hangup       reads the upgrade request and closes the connection
    close-no-fin upgrades properly (101, fido.cable, X-caBLE-Routing-ID), sends a WebSocket close
                 frame (1000) and then keeps the TCP connection open without reading or closing
Serves until killed."""

import base64
import hashlib
import socket
import sys
import threading

MODE, PORT_FILE = sys.argv[1], sys.argv[2]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
held = []  # connections kept open on purpose


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def serve(conn):
    req = read_request(conn)
    if req is None:
        conn.close()
        return
    if MODE == "stall":
        held.append(conn)
    elif MODE == "status200":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        conn.close()
    elif MODE == "hangup":
        conn.close()
    elif MODE == "close-no-fin":
        key = b""
        for line in req.split(b"\r\n"):
            if line.lower().startswith(b"sec-websocket-key:"):
                key = line.split(b":", 1)[1].strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: fido.cable\r\n"
                     b"X-caBLE-Routing-ID: 0A0B0C\r\n\r\n")
        conn.sendall(bytes([0x88, 0x02, 0x03, 0xE8]))  # FIN + close, unmasked, code 1000
        held.append(conn)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    import os
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
