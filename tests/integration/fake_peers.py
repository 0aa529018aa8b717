#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent Python peers for failure tests, written from the spec, not from our C++ code.

  fake_peers.py phone --qr URL --relay WS_URL --radio DIR [--domain-id N] --behaviour drop-after-msg1
      Opens /cable/new/<tunnel ID>, advertises the EID in the loopback radio directory, waits
      for the desktop's Noise message 1, then exits abruptly (the phone "quits mid-handshake").
  fake_peers.py relay --port-file F --tamper-phone-message N
      A tunnel server that pairs /cable/new and /cable/connect like the real one, but flips one
      bit in the N-th message from the phone to the desktop (1 = Noise message 2)."""

import argparse
import asyncio
import hashlib
import hmac
import os
import struct

import websockets
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fido2 import cbor

WIDTHS = {3: 1, 5: 2, 8: 3, 10: 4, 13: 5, 15: 6}


def digits_to_bytes(d):
    out = b""
    while len(d) >= 17:
        v = int(d[:17])
        assert v < 1 << 56
        out += v.to_bytes(7, "little")
        d = d[17:]
    if d:
        n = WIDTHS[len(d)]
        out += int(d).to_bytes(n, "little")
    return out


def derive(secret, salt, purpose, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None,
                info=struct.pack("<I", purpose)).derive(secret)


def parse_qr(url):
    assert url.upper().startswith("FIDO:/")
    m = cbor.decode(digits_to_bytes(url[6:]))
    return m[0], m[1]


async def fake_phone(args):
    _, secret = parse_qr(args.qr)
    tunnel_id = derive(secret, b"", 2, 16).hex().upper()
    async with websockets.connect(args.relay + "/cable/new/" + tunnel_id, subprotocols=["fido.cable"]) as ws:
        rid = bytes.fromhex(ws.response_headers["X-caBLE-Routing-ID"])
        plain = b"\x00" + os.urandom(10) + rid + struct.pack("<H", args.domain_id)
        key = derive(secret, b"", 1, 64)
        enc = Cipher(algorithms.AES(key[:32]), modes.ECB()).encryptor()
        ct = enc.update(plain) + enc.finalize()
        advert = ct + hmac.new(key[32:], ct, hashlib.sha256).digest()[:4]
        body = b"HGLR" + bytes([1, 0]) + struct.pack("<HIH", 0xFFF9, os.getpid(), len(advert)) + advert
        tmp = os.path.join(args.radio, ".tmp-fake-%d" % os.getpid())
        with open(tmp, "wb") as f:
            f.write(body)
        final = os.path.join(args.radio, "adv-%d-%s.bin" % (os.getpid(), os.urandom(4).hex()))
        os.rename(tmp, final)
        msg1 = await ws.recv()
        print("got message 1 (%d bytes)" % len(msg1), flush=True)
        os.unlink(final)
        if args.behaviour == "drop-after-msg1":
            os._exit(3)  # no close frame, no FIN handshake from the WebSocket layer


async def tamper_relay(args):
    waiting = {}
    count = {"phone": 0}

    def headers(path, request_headers):
        if path.startswith("/cable/new/"):
            return [("X-caBLE-Routing-ID", "0A0B0C")]
        return []

    async def pump(src, dst, from_phone):
        async for msg in src:
            if from_phone:
                count["phone"] += 1
                if count["phone"] == args.tamper_phone_message:
                    b = bytearray(msg)
                    b[len(b) // 2] ^= 0x01
                    msg = bytes(b)
            await dst.send(msg)
        pass

    async def pump_then_close(src, dst, from_phone):
        try:
            await pump(src, dst, from_phone)
        finally:
            await dst.close()

    async def handler(ws, path):
        parts = path.split("/")
        if path.startswith("/cable/new/"):
            fut = asyncio.get_running_loop().create_future()
            waiting[parts[3].upper()] = (ws, fut)
            await fut
        elif path.startswith("/cable/connect/"):
            phone_ws, fut = waiting.pop(parts[4].upper())
            await asyncio.gather(pump_then_close(phone_ws, ws, True), pump_then_close(ws, phone_ws, False), return_exceptions=True)
            fut.set_result(None)

    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["fido.cable"], extra_headers=headers) as server:
        port = server.sockets[0].getsockname()[1]
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.rename(tmp, args.port_file)
        await asyncio.Future()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("phone")
    p.add_argument("--qr", required=True)
    p.add_argument("--relay", required=True)
    p.add_argument("--radio", required=True)
    p.add_argument("--domain-id", type=int, default=0)
    p.add_argument("--behaviour", default="drop-after-msg1")
    r = sub.add_parser("relay")
    r.add_argument("--port-file", required=True)
    r.add_argument("--tamper-phone-message", type=int, default=2)
    args = ap.parse_args()
    asyncio.run(fake_phone(args) if args.cmd == "phone" else tamper_relay(args))


if __name__ == "__main__":
    main()
