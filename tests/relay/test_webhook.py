#!/usr/bin/python3
"""Wake channel 2 (docs/linking.md): with --wake-webhook the relay POSTs the wake-up JSON for a
contact it has no listener for, to a tiny Python HTTP server here; 2xx -> the desktop gets 101 and
pairs with the phone that connects to the tunnel ID from the body; 404/410 -> 410; 500 -> 503;
no answer within --wake-webhook-timeout -> 503. A contact with a listener still uses the listener."""
import asyncio
import http.server
import json
import queue
import sys
import threading

from linktest import b64url, client_payload, contact, contact_status, listen, new_token, wakeup
from relaytest import Relay, check, closed_code, finish, ws_connect


class Gateway:
    """An HTTP server answering each POST with the next queued status (default 200)."""

    def __init__(self):
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

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def body(self, timeout=10):
        return self.bodies.get(timeout=timeout)


async def main(binary):
    gw = Gateway()
    r = Relay(binary, "--wake-webhook", "http://127.0.0.1:%d/wake/v1" % gw.port, "--wake-webhook-timeout", "1",
              routing_id="0C0D0E")
    try:
        await scenario(r, gw)
    finally:
        gw.release.set()
        r.stop()
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
    asyncio.run(main(sys.argv[1]))
    finish()
