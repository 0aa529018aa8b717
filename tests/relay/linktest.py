# SPDX-License-Identifier: Apache-2.0
"""Helpers for the linking tests (docs/linking.md): a phone's listen connection, contact requests
and the client payload, written against the documented wire format only (Debian's websockets 10.4;
no hybridgate code)."""
import asyncio
import base64
import json
import secrets

import websockets

from relaytest import ws_connect


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def client_payload(hint="ga", pairing_id=None, nonce=None):
    """CBOR {1: pairing ID (8 bytes), 2: client nonce (16 bytes), 3: hint}, hand-encoded; upper-case hex."""
    pairing_id = pairing_id or secrets.token_bytes(8)
    nonce = nonce or secrets.token_bytes(16)
    cbor = (b"\xa3" + b"\x01\x48" + pairing_id + b"\x02\x50" + nonce + b"\x03" + bytes([0x60 + len(hint)]) +
            hint.encode())
    return cbor.hex().upper()


def new_token():
    return secrets.token_hex(32)


async def listen(base, token, contact_b64=None, ping_interval=0.5, extra_headers=None):
    """Opens /cable/listen (or re-attaches to /cable/listen/<contact>) and, like a phone, pings
    every ping_interval seconds (None: never); returns (ws, contact ID from the 101)."""
    path = "/cable/listen" + ("/" + contact_b64 if contact_b64 else "")
    headers = {"X-Hybridgate-Contact-Token": token}
    headers.update(extra_headers or {})
    ws = await websockets.connect(base + path, subprotocols=["fido.cable"], extra_headers=headers, max_size=None,
                                  compression=None, open_timeout=10, close_timeout=10, ping_interval=ping_interval)
    return ws, ws.response_headers.get("X-Hybridgate-Contact-ID")


async def contact(base, contact_b64, payload=None, signal=False, extra=None):
    """A desktop's /cable/contact request; returns the WebSocket (raises InvalidStatusCode)."""
    headers = {}
    if payload is not None:
        headers["X-caBLE-Client-Payload"] = payload
    if signal:
        headers["X-caBLE-Signal-Connection"] = "true"
    headers.update(extra or {})
    return await ws_connect(base + "/cable/contact/" + contact_b64, extra_headers=headers)


async def contact_status(base, contact_b64, payload=None, **kw):
    try:
        ws = await contact(base, contact_b64, payload, **kw)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


async def wakeup(listener, timeout=10):
    """The next wake-up on a listen connection: a text message with a JSON object."""
    m = await asyncio.wait_for(listener.recv(), timeout)
    if not isinstance(m, str):
        raise AssertionError("wake-up is not a text message: %r" % (m,))
    return json.loads(m)
