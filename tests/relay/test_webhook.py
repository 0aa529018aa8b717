#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Wake channel 2 (docs/linking.md): with --wake-webhook the relay POSTs the wake-up JSON for a
contact it has no listener for, to a tiny Python HTTP server here; 2xx -> the desktop gets 101 and
pairs with the phone that connects to the tunnel ID from the body; 404/410 -> 410; 500 -> 503;
no answer within --wake-webhook-timeout -> 503. A contact with a listener still uses the listener.

With --tls the gateway speaks HTTPS (a throw-away certificate for IP 127.0.0.1 made with the
openssl command): the same scenario over https:// with --wake-webhook-ca-file, then the refusals a
webhook client must make: an untrusted certificate (system store only), a URL host the certificate
does not name, and start-up errors for an unreadable CA file or a CA file with an http:// URL."""
import asyncio
import http.server
import json
import os
import queue
import ssl
import sys
import tempfile
import threading

from linktest import b64url, client_payload, contact, contact_status, listen, new_token, wakeup
from relaytest import Relay, check, closed_code, finish, ws_connect
from test_ops import make_cert


class Gateway:
    """An HTTP server answering each POST with the next queued status (default 200)."""

    def __init__(self, cert=None, key=None):
        self.bodies = queue.Queue()
        self.statuses = queue.Queue()
        self.release = threading.Event()
        gw = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                try:
                    status = gw.statuses.get_nowait()
                except queue.Empty:
                    status = 200
                gw.bodies.put((self.path, self.headers.get("Content-Type"), body))
                if status == 0:  # hang until released (the relay's timeout must answer 503)
                    gw.release.wait(30)
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], ssl.SSLError):  # a refused handshake is expected
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), H)
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            # The handshake runs in the handler's thread, so a client that refuses the certificate
            # does not stall the accept loop.
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def body(self, timeout=10):
        return self.bodies.get(timeout=timeout)


async def with_gateway(binary, gw, url, *extra):
    """The webhook scenario against `gw` through a relay whose --wake-webhook is `url`."""
    r = Relay(binary, "--wake-webhook", url, "--wake-webhook-timeout", "1", *extra, routing_id="0C0D0E")
    try:
        await scenario(r, gw)
    finally:
        gw.release.set()
        r.stop()


async def main(binary):
    gw = Gateway()
    try:
        await with_gateway(binary, gw, "http://127.0.0.1:%d/wake/v1" % gw.port)
    finally:
        gw.server.shutdown()


async def refused_over_tls(binary, url, what, *extra):
    """A contact request whose webhook POST must fail in the TLS handshake: 503, no POST arrives."""
    r = Relay(binary, "--wake-webhook", url, "--wake-webhook-timeout", "5", *extra)
    try:
        got = await contact_status("ws://127.0.0.1:%d" % r.port, b64url(b"tls-contact"), client_payload())
        check(got == 503, "%s -> desktop gets 503 (got %s)" % (what, got))
        ev = r.wait_event("wake_failed", timeout=5)
        err = (ev or {}).get("error", "")
        check("TLS handshake" in err and "certificate verify failed" in err,
              "%s -> logged as a failed TLS handshake (%r)" % (what, err))
        check(r.metric('hybridgate_relay_webhook_results_total{result="failed"}') == 1, what + " -> counted as failed")
    finally:
        r.stop()


def start_fails(binary, what, want, *args):
    try:
        r = Relay(binary, *args)
    except RuntimeError as e:
        check(want in str(e), "%s -> the relay refuses to start, saying %r (%s)" % (what, want, str(e).strip()[:200]))
        return
    r.stop()
    check(False, what + " -> the relay should refuse to start")


async def main_tls(binary):
    with tempfile.TemporaryDirectory(prefix="hg-webhook-tls-") as d:
        await tls_scenarios(binary, d)


async def tls_scenarios(binary, d):
    cert, key = make_cert(d, "gateway", san="IP:127.0.0.1")
    gw = Gateway(cert, key)
    try:
        url = "https://127.0.0.1:%d/wake/v1" % gw.port
        await with_gateway(binary, gw, url, "--wake-webhook-ca-file", cert)
        check(gw.bodies.empty(), "(no stray POSTs)")
        await refused_over_tls(binary, url, "https gateway with a certificate the system store does not trust")
        await refused_over_tls(binary, "https://localhost:%d/wake/v1" % gw.port,
                               "https URL host 'localhost' not named by the certificate (IP 127.0.0.1 only)",
                               "--wake-webhook-ca-file", cert)
        check(gw.bodies.empty(), "no POST reached the gateway over a refused TLS connection")
        start_fails(binary, "an unreadable --wake-webhook-ca-file", "--wake-webhook-ca-file",
                    "--wake-webhook", url, "--wake-webhook-ca-file", os.path.join(d, "missing.pem"))
        start_fails(binary, "--wake-webhook-ca-file with an http:// webhook", "goes with an https://",
                    "--wake-webhook", "http://127.0.0.1:%d/" % gw.port, "--wake-webhook-ca-file", cert)
    finally:
        gw.release.set()
        gw.server.shutdown()


async def scenario(r, gw):
    base = "ws://127.0.0.1:%d" % r.port
    cid = b64url(b"fcm-contact-" + bytes(range(20)))  # opaque to the relay
    payload = client_payload("ga")

    # 2xx: delivered -> 101, the phone connects with the tunnel ID from the body
    desk_task = asyncio.create_task(contact(base, cid, payload, signal=True))
    path, ctype, raw = await asyncio.get_running_loop().run_in_executor(None, gw.body)
    body = json.loads(raw)
    check(path == "/wake/v1" and ctype == "application/json", "POST to the webhook URL's path, application/json")
    check(set(body) == {"contactID", "caBLE.tunnelID", "caBLE.routingID", "caBLE.clientPayload"},
          "webhook body has contactID + the three caBLE fields (%s)" % sorted(body))
    check(body.get("contactID") == cid, "webhook body: contactID is the requested contact (base64url)")
    check(body.get("caBLE.clientPayload") == payload, "webhook body: the client payload as sent")
    check(body.get("caBLE.routingID") == "0C0D0E", "webhook body: this node's routing ID")
    desktop = await asyncio.wait_for(desk_task, 10)
    check(desktop.response_headers.get("X-caBLE-Signal-Connection") == "true", "2xx -> desktop 101 with the signal echo")
    phone = await ws_connect(base + "/cable/connect/%s/%s" % (body["caBLE.routingID"], body["caBLE.tunnelID"]))
    check(await asyncio.wait_for(desktop.recv(), 10) == b"\x00", "desktop gets 0x00 when the woken phone joins")
    await phone.send(b"from phone")
    check(await asyncio.wait_for(desktop.recv(), 10) == b"from phone", "webhook-woken tunnel relays phone -> desktop")
    await desktop.send(b"from desktop")
    check(await asyncio.wait_for(phone.recv(), 10) == b"from desktop", "webhook-woken tunnel relays desktop -> phone")
    await desktop.close()
    check(await closed_code(phone) == 1000, "desktop close -> phone 1000")

    # 410 / 404 -> 410; 500 -> 503; no answer in time -> 503
    for status, want in ((410, 410), (404, 410), (500, 503), (0, 503)):
        gw.statuses.put(status)
        got = await contact_status(base, cid, client_payload())
        await asyncio.get_running_loop().run_in_executor(None, gw.body)
        what = "no answer within --wake-webhook-timeout" if status == 0 else "gateway %d" % status
        check(got == want, "%s -> desktop gets %d (got %s)" % (what, want, got))
    gw.release.set()

    # a bad client payload is refused before the gateway is asked
    check(await contact_status(base, cid, "zz") == 400, "bad client payload -> 400 (no POST)")
    check(gw.bodies.empty(), "no webhook POST for a 400")

    # a contact with a listener on this node is woken through the listener, not the webhook
    l, lcid = await listen(base, new_token())
    desk_task = asyncio.create_task(contact(base, lcid, client_payload()))
    wake = await wakeup(l)
    check("caBLE.tunnelID" in wake, "a listening contact is woken over its listen connection")
    await (await asyncio.wait_for(desk_task, 10)).close()
    check(gw.bodies.empty(), "... and not through the webhook")
    await l.close()

    m = r.metric
    check(m('hybridgate_relay_wakeups_sent_total{channel="webhook"}') == 1, "wakeups_sent_total{channel=webhook} = 1")
    check(m('hybridgate_relay_wakeups_sent_total{channel="listen"}') == 1, "wakeups_sent_total{channel=listen} = 1")
    check(m('hybridgate_relay_webhook_results_total{result="gone"}') == 2, "webhook_results_total{result=gone} = 2")
    check(m('hybridgate_relay_webhook_results_total{result="refused"}') == 1, "webhook_results_total{result=refused} = 1")
    check(m('hybridgate_relay_webhook_results_total{result="failed"}') == 1, "webhook_results_total{result=failed} = 1")
    check(m('hybridgate_relay_contact_requests_total{status="503"}') == 2, "contact_requests_total{status=503} = 2")
    check(m("hybridgate_relay_tunnels_waiting") == 0, "no tunnel left waiting after failed wake-ups")


if __name__ == "__main__":
    asyncio.run(main_tls(sys.argv[1]) if sys.argv[2:] == ["--tls"] else main(sys.argv[1]))
    finish()
