#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Operations: SIGTERM drain (readyz 503, new upgrades 503, tunnels continue, then 1001, exit 0),
TLS listener, SIGHUP certificate reload without dropping tunnels, TLS handshake failure metric."""
import asyncio
import os
import signal
import ssl
import subprocess
import sys
import tempfile

from linktest import listen, new_token
from relaytest import Relay, check, closed_code, finish, new_tid, pair, status_of, ws_connect


def make_cert(d, name, san="DNS:localhost,IP:127.0.0.1"):
    """A throw-away self-signed P-256 certificate and key (the openssl command)."""
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=" + san], check=True, capture_output=True)
    return cert, key


def client_ctx(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx


async def drain(binary):
    r = Relay(binary, "--drain-timeout", "1.5")
    try:
        phone, desktop, _ = await pair(r)
        waiting_tid = new_tid()
        waiting = await ws_connect(r.url("/cable/new/" + waiting_tid))
        listener, _ = await listen("ws://127.0.0.1:%d" % r.port, new_token(), ping_interval=None)
        r.signal(signal.SIGTERM)
        check(r.wait_event("draining") is not None, "SIGTERM logs draining")
        check(await closed_code(listener, 5) == 1012 and phone.open,
              "a phone's listen connection gets 1012 (service restart) at the start of the drain, before the tunnels end")
        check(r.admin("/readyz")[0] == 503, "/readyz 503 while draining")
        check(r.admin("/healthz")[0] == 200, "/healthz still 200 while draining")
        check(await status_of(r.url("/cable/new/" + new_tid())) == 503, "new /cable/new while draining -> 503")
        check(await status_of(r.url("/cable/connect/%s/%s" % (r.routing_id, new_tid()))) == 503,
              "connect to an unknown tunnel while draining -> 503")
        late = await ws_connect(r.url("/cable/connect/%s/%s" % (r.routing_id, waiting_tid)))
        await waiting.send(b"still joins")
        check(await asyncio.wait_for(late.recv(), 10) == b"still joins", "a waiting tunnel can still be joined while draining")
        await phone.send(b"during drain")
        check(await asyncio.wait_for(desktop.recv(), 10) == b"during drain", "existing tunnels keep relaying while draining")
        check(await closed_code(phone) == 1001 and await closed_code(desktop) == 1001,
              "tunnels still open at the drain deadline are closed with 1001")
        check(await closed_code(waiting) == 1001 and await closed_code(late) == 1001, "every tunnel gets 1001")
        check(r.wait_exit(10) == 0, "relay exits 0 after draining")
    finally:
        r.stop()

    # drain finishes early when the last tunnel ends
    r = Relay(binary, "--drain-timeout", "30")
    try:
        phone, desktop, _ = await pair(r)
        r.signal(signal.SIGTERM)
        check(r.wait_event("draining") is not None, "second relay drains")
        await phone.close()
        check(await closed_code(desktop) == 1000, "tunnel closes normally during drain")
        check(r.wait_exit(10) == 0, "relay exits as soon as its last tunnel finished (well before the 30 s deadline)")
    finally:
        r.stop()


async def tls(binary):
    d = tempfile.mkdtemp(prefix="hg-relay-tls-")
    cert_a, key_a = make_cert(d, "certA")
    cert_b, key_b = make_cert(d, "certB")
    live_cert, live_key = os.path.join(d, "live.crt"), os.path.join(d, "live.key")
    for src, dst in ((cert_a, live_cert), (key_a, live_key)):
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
    r = Relay(binary, "--tls-cert", live_cert, "--tls-key", live_key)
    try:
        url = lambda p: r.url(p, "wss")
        tid = new_tid()
        phone = await ws_connect(url("/cable/new/" + tid), ssl=client_ctx(cert_a))
        check(phone.response_headers["X-caBLE-Routing-ID"] == r.routing_id, "TLS: 101 with routing ID")
        desktop = await ws_connect(url("/cable/connect/%s/%s" % (r.routing_id, tid)), ssl=client_ctx(cert_a))
        await phone.send(b"over tls")
        check(await asyncio.wait_for(desktop.recv(), 10) == b"over tls", "TLS: message relayed")

        # a client that does not trust the certificate fails its handshake; the relay counts it
        try:
            await ws_connect(url("/cable/new/" + new_tid()), ssl=client_ctx(cert_b))
            check(False, "TLS: untrusted certificate must fail")
        except ssl.SSLError:
            check(True, "TLS: client that does not trust cert A fails")
        # SIGHUP swaps in cert B
        for src, dst in ((cert_b, live_cert), (key_b, live_key)):
            with open(src, "rb") as f, open(dst + ".new", "wb") as g:
                g.write(f.read())
            os.replace(dst + ".new", dst)
        r.signal(signal.SIGHUP)
        check(r.wait_event("tls_reloaded") is not None, "SIGHUP: TLS reloaded")
        await desktop.send(b"after reload")
        check(await asyncio.wait_for(phone.recv(), 10) == b"after reload", "tunnel opened before SIGHUP keeps working")
        check(await status_of(url("/cable/new/" + new_tid()), ssl=client_ctx(cert_b)) == 101, "new connections get cert B")
        try:
            await ws_connect(url("/cable/new/" + new_tid()), ssl=client_ctx(cert_a))
            check(False, "cert A no longer served")
        except ssl.SSLError:
            check(True, "cert A is no longer served after SIGHUP")
        check(r.metric("hybridgate_relay_tls_handshake_failures_total") >= 2, "TLS handshake failures counted")
        check(r.metric('hybridgate_relay_tls_reloads_total{result="ok"}') == 1, "TLS reload counted")
        # a broken key file: reload fails, the old context stays
        with open(live_key, "w") as f:
            f.write("garbage")
        r.signal(signal.SIGHUP)
        check(r.wait_event("tls_reload_failed") is not None, "SIGHUP with a broken key logs tls_reload_failed")
        check(await status_of(url("/cable/new/" + new_tid()), ssl=client_ctx(cert_b)) == 101, "old context stays after a failed reload")
        await phone.close()
        check(await closed_code(desktop) == 1000, "TLS tunnel closes cleanly")
    finally:
        r.stop()


async def main(binary):
    await drain(binary)
    await tls(binary)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
