#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Linked phones, relay side (docs/linking.md, issue 6): /cable/listen registration and re-attach
(token binding, contact ID format, replacement, revoke by message and by header, idle close, TTL,
bounded table) and /cable/contact (wake-up JSON, pairing through /cable/connect, the 0x00 signal,
410 revoked or expired, 404 unknown, 403/503/400), metrics, and logs free of tokens and contact IDs."""
import asyncio
import hashlib
import subprocess
import sys

from linktest import b64url, client_payload, contact, contact_status, listen, new_token, unb64url, wakeup
from relaytest import Relay, check, closed_code, finish, status_of, ws_connect

RID = "0A1B2C"
PREFIX = b"hg" + RID.encode() + b"."


async def main(binary):
    out = subprocess.run([binary, "--routing-id", RID.lower(), "--print-contact-prefix"], capture_output=True,
                         text=True, timeout=10)
    check(out.returncode == 0 and out.stdout.strip() == b64url(PREFIX),
          "--print-contact-prefix prints base64url('hg%s.') = %s (got %r)" % (RID, b64url(PREFIX), out.stdout))
    out = subprocess.run([binary, "--print-contact-prefix"], capture_output=True, text=True, timeout=10)
    check(out.returncode != 0, "--print-contact-prefix without --routing-id fails")

    r = Relay(binary, "--rate-new", "0", "--rate-connect", "0", "--listen-idle-timeout", "1.5", "--wait-timeout", "5",
              routing_id=RID)
    r2 = Relay(binary, "--contact-ttl", "0.5", "--max-contacts", "2")
    try:
        await scenario(r)
        await ttl_and_bound(r2)
    finally:
        r.stop()
        r2.stop()
    log = "\n".join(str(j) for j in r.log + r2.log)
    check(all(t not in log for t in TOKENS), "no contact token appears in the relay logs")
    check(all(c not in log for c in CONTACTS), "no contact ID appears in the relay logs")


TOKENS, CONTACTS = [], []


def tag(cid):
    """How the relay's logs name a contact: 8 hex digits of SHA-256 of the contact ID."""
    return hashlib.sha256(unb64url(cid)).hexdigest()[:8]


async def scenario(r):
    base = "ws://127.0.0.1:%d" % r.port
    token = new_token()
    TOKENS.append(token)
    phone_l, cid = await listen(base, token)
    CONTACTS.append(cid)
    raw = unb64url(cid or "")
    check(len(raw) == 25 and raw.startswith(PREFIX), "new registration: 101 with X-Hybridgate-Contact-ID = 'hg%s.' + 16 bytes" % RID)
    check(cid.startswith(b64url(PREFIX)), "the contact ID's base64url starts with the node's 12-character prefix")
    check(r.wait_event("listener_attached") is not None, "listener_attached logged")

    # --- wake-up and pairing with the 0x00 signal ---
    payload = client_payload("ga")
    desk_task = asyncio.create_task(contact(base, cid, payload, signal=True))
    wake = await wakeup(phone_l)
    check(set(wake) == {"caBLE.tunnelID", "caBLE.routingID", "caBLE.clientPayload"},
          "wake-up is a JSON object with exactly the three FCM fields (%s)" % sorted(wake))
    check(wake.get("caBLE.clientPayload") == payload, "wake-up carries the client payload as sent")
    check(wake.get("caBLE.routingID") == RID, "wake-up carries this node's routing ID")
    tid = wake.get("caBLE.tunnelID", "")
    check(len(tid) == 32 and tid == tid.upper() and all(c in "0123456789ABCDEF" for c in tid),
          "wake-up tunnel ID is 32 upper-case hex digits")
    desktop = await asyncio.wait_for(desk_task, 10)
    check(desktop.response_headers.get("X-caBLE-Signal-Connection") == "true",
          "the desktop's 101 echoes X-caBLE-Signal-Connection: true")
    phone = await ws_connect(base + "/cable/connect/%s/%s" % (wake["caBLE.routingID"], tid))
    first = await asyncio.wait_for(desktop.recv(), 10)
    check(first == b"\x00", "the desktop gets the 1-byte 0x00 message when the phone joins")
    await phone.send(b"phone hello")
    await desktop.send(b"desktop hello")
    check(await asyncio.wait_for(desktop.recv(), 10) == b"phone hello", "phone -> desktop relayed after the signal")
    check(await asyncio.wait_for(phone.recv(), 10) == b"desktop hello", "desktop -> phone relayed")
    check(await status_of(base + "/cable/connect/%s/%s" % (RID, tid)) == 409, "a second phone on the woken tunnel -> 409")
    await desktop.close()
    check(await closed_code(phone) == 1000, "desktop closes -> phone gets 1000")

    # --- without the signal: no 0x00, no echo; a desktop message before the phone joins is buffered ---
    desk_task = asyncio.create_task(contact(base, cid, client_payload("mc")))
    wake = await wakeup(phone_l)
    desktop = await asyncio.wait_for(desk_task, 10)
    check("X-caBLE-Signal-Connection" not in desktop.response_headers, "no signal asked -> no X-caBLE-Signal-Connection")
    await desktop.send(b"early from desktop")
    phone = await ws_connect(base + "/cable/connect/%s/%s" % (RID.lower(), wake["caBLE.tunnelID"].lower()))
    check(await asyncio.wait_for(phone.recv(), 10) == b"early from desktop", "desktop's early message reaches the phone")
    await phone.send(b"p1")
    check(await asyncio.wait_for(desktop.recv(), 10) == b"p1", "without the signal the desktop's first message is the phone's")
    await phone.close()
    check(await closed_code(desktop) == 1000, "phone closes -> desktop gets 1000")

    # --- the desktop's wait is bounded by --wait-timeout (1008) ---
    desk_task = asyncio.create_task(contact(base, cid, client_payload()))
    await wakeup(phone_l)
    desktop = await asyncio.wait_for(desk_task, 10)
    check(await closed_code(desktop, timeout=20) == 1008, "a parked desktop whose phone never comes -> 1008")

    # --- bad requests ---
    check(await contact_status(base, cid, "zz") == 400, "client payload not hex -> 400")
    check(await contact_status(base, cid, "A0") == 400, "client payload an empty CBOR map -> 400")
    check(await contact_status(base, cid, client_payload("xx")) == 400, "client payload with a bad hint -> 400")
    check(await contact_status(base, cid, None) == 400, "no client payload -> 400")
    unknown = b64url(PREFIX + b"\x01" * 16)
    check(await contact_status(base, unknown, client_payload()) == 404,
          "unknown contact -> 404 (not 410, which makes a desktop forget its link)")
    check(await contact_status(base, b64url(b"not a hybridgate contact"), client_payload()) == 404,
          "foreign contact ID (no webhook) -> 404")
    check(await status_of(base + "/cable/listen", extra_headers={}) == 400, "listen without a token -> 400")
    check(await status_of(base + "/cable/listen", extra_headers={"X-Hybridgate-Contact-Token": "abc"}) == 400,
          "listen with a malformed token -> 400")
    check(await status_of(base + "/cable/listen/" + b64url(b"hgFFFFFF." + b"\x00" * 16),
                          extra_headers={"X-Hybridgate-Contact-Token": token}) == 404,
          "re-attach to another node's contact ID -> 404")

    # --- 403 wrong token; re-attach with the right token replaces the old listener (1000) ---
    check(await status_of(base + "/cable/listen/" + cid, extra_headers={"X-Hybridgate-Contact-Token": new_token()}) == 403,
          "re-attach with a wrong token -> 403")
    phone_l2, cid2 = await listen(base, token, cid)
    check(cid2 == cid, "re-attach answers the same contact ID")
    check(await closed_code(phone_l) == 1000, "the replaced listener is closed with 1000")
    desk_task = asyncio.create_task(contact(base, cid, client_payload()))
    wake = await wakeup(phone_l2)
    check("caBLE.tunnelID" in wake, "the wake-up goes to the newest listener")
    desktop = await asyncio.wait_for(desk_task, 10)
    await desktop.close()

    # --- 503 while registered but offline; listening again makes it reachable ---
    await phone_l2.close()
    check(r.wait_event("listener_detached") is not None, "listener_detached logged")
    check(await contact_status(base, cid, client_payload()) == 503, "registered contact without a listener -> 503")

    # --- pings keep a listener, silence closes it (1008) ---
    quiet, _ = await listen(base, token, cid)
    pinging, _ = await listen(base, token, cid)  # replaces `quiet`
    check(await closed_code(quiet) == 1000, "(replacement again -> 1000)")
    quiet2, cid_q = await listen(base, new_token(), ping_interval=None)
    CONTACTS.append(cid_q)
    check(await closed_code(quiet2, timeout=20) == 1008, "a listener silent for --listen-idle-timeout is closed 1008")
    check(pinging.open, "a listener that pings (every 0.5 s) stays open past the idle timeout")
    desk_task = asyncio.create_task(contact(base, cid, client_payload()))
    wake = await wakeup(pinging)
    (await asyncio.wait_for(desk_task, 10))
    check("caBLE.tunnelID" in wake, "the pinging listener still gets wake-ups")

    # --- revoke by message: listener closed 1000, contact -> 410, re-attach -> 410 ---
    await pinging.send('{"revoke": true}')
    check(await closed_code(pinging) == 1000, "{\"revoke\": true} -> the listener is closed with 1000")
    check(await contact_status(base, cid, client_payload()) == 410, "revoked contact -> 410")
    check(await status_of(base + "/cable/listen/" + cid, extra_headers={"X-Hybridgate-Contact-Token": token}) == 410,
          "re-attach to a revoked contact -> 410")

    # --- revoke by header ---
    token3 = new_token()
    TOKENS.append(token3)
    l3, cid3 = await listen(base, token3)
    CONTACTS.append(cid3)
    check(await status_of(base + "/cable/listen/" + cid3, extra_headers={"X-Hybridgate-Contact-Token": new_token(),
                                                                         "X-Hybridgate-Revoke": "true"}) == 403,
          "revoke with a wrong token -> 403")
    rv = await ws_connect(base + "/cable/listen/" + cid3,
                          extra_headers={"X-Hybridgate-Contact-Token": token3, "X-Hybridgate-Revoke": "true"})
    check(await closed_code(rv) == 1000, "X-Hybridgate-Revoke: true -> 101 then closed 1000")
    check(await closed_code(l3) == 1000, "... and the contact's listener is closed 1000")
    check(await contact_status(base, cid3, client_payload()) == 410, "contact revoked by header -> 410")

    # --- re-attach to a contact this relay does not know: never bound to the token presented ---
    token4 = new_token()
    TOKENS.append(token4)
    cid4 = b64url(PREFIX + b"\x42" * 16)
    CONTACTS.append(cid4)
    check(await status_of(base + "/cable/listen/" + cid4, extra_headers={"X-Hybridgate-Contact-Token": token4}) == 404,
          "re-attach with an unknown contact ID of this node -> 404 (not bound to the token presented)")
    check(await contact_status(base, cid4, client_payload()) == 404, "... and it stays unknown")
    l4, cid4 = await listen(base, token4)
    CONTACTS.append(cid4)
    await l4.close()
    check(r.wait_event("listener_detached", lambda j: j.get("contact") == tag(cid4)) is not None,
          "listener_detached logged with the contact's hash")

    # --- metrics ---
    m = r.metric
    check(m('hybridgate_relay_wakeups_sent_total{channel="listen"}') == 5, "wakeups_sent_total{channel=listen} = 5")
    check(m('hybridgate_relay_contact_requests_total{status="101"}') == 5, "contact_requests_total{status=101} = 5")
    check(m('hybridgate_relay_contact_requests_total{status="410"}') >= 2, "contact_requests_total{status=410} counted")
    check(m('hybridgate_relay_contact_requests_total{status="404"}') >= 3, "contact_requests_total{status=404} counted")
    check(m('hybridgate_relay_contact_requests_total{status="503"}') == 1, "contact_requests_total{status=503} = 1")
    check(m('hybridgate_relay_contact_requests_total{status="400"}') == 4, "contact_requests_total{status=400} = 4")
    check(m('hybridgate_relay_upgrades_total{kind="contact"}') == 5, "upgrades_total{kind=contact} = 5")
    check(m("hybridgate_relay_contacts_revoked") == 2, "contacts_revoked gauge = 2")
    check(m("hybridgate_relay_contacts_registered") == 2, "contacts_registered gauge = 2 (quiet2's and the re-bound one)")
    check(m("hybridgate_relay_listeners_open") == 0, "listeners_open gauge back to 0")
    check(m('hybridgate_relay_limit_hits_total{limit="listen_idle_timeout"}') == 1, "listen_idle_timeout counted")


async def ttl_and_bound(r):
    base = "ws://127.0.0.1:%d" % r.port
    a, cid_a = await listen(base, new_token())
    b, cid_b = await listen(base, new_token())
    CONTACTS.extend([cid_a, cid_b])
    check(await status_of(base + "/cable/listen", extra_headers={"X-Hybridgate-Contact-Token": new_token()}) == 503,
          "--max-contacts 2: a third registration while both are listening -> 503")
    await a.close()
    check(r.wait_event("listener_detached") is not None, "listener a detached")
    check(await contact_status(base, cid_a, client_payload()) in (503, 410), "a just-offline contact -> 503 (or 410 once the TTL passed)")
    # Wait on the observable state: the contact turns 410 once --contact-ttl (0.5 s) has passed.
    deadline = asyncio.get_running_loop().time() + 10
    st = None
    while asyncio.get_running_loop().time() < deadline:
        st = await contact_status(base, cid_a, client_payload())
        if st == 410:
            break
        await asyncio.sleep(0.1)  # polling interval of a bounded wait on observable state
    check(st == 410, "after --contact-ttl without a listener the contact is forgotten -> 410")
    c, cid_c = await listen(base, new_token())
    check(cid_c is not None, "the expired contact's slot is reused for a new registration")
    check(b.open, "the listening contact b was not expired")
    await asyncio.gather(b.close(), c.close())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    finish()
