# SPDX-License-Identifier: Apache-2.0
"""What the browser tests share: the test relying party's web server (tests/browser/page), the
options it asks for, the checks of what a page got, and the scripts run in the extension's dialog
(promises with deadlines that wait on the dialog's DOM)."""

import base64
import functools
import http.server
import os
import threading

from hgcheck import check

HERE = os.path.dirname(os.path.abspath(__file__))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Scripts run in the extension's dialog.
CLICK = """(sel, ms) => new Promise((resolve, reject) => {
  const ready = () => { const b = document.querySelector(sel); return b && !b.disabled && !b.closest("[hidden]") ? b : null; };
  let obs, timer;
  const go = (b) => { if (obs) obs.disconnect(); clearTimeout(timer); b.click(); resolve(b.textContent); };
  const now = ready();
  if (now) return go(now);
  obs = new MutationObserver(() => { const b = ready(); if (b) go(b); });
  obs.observe(document, {subtree: true, childList: true, attributes: true});
  timer = setTimeout(() => { obs.disconnect(); reject(new Error("no enabled " + sel)); }, ms);
})"""
QR_SHOWN = """(ms) => new Promise((resolve, reject) => {
  const img = document.getElementById("qr"), box = document.getElementById("qr-box");
  const shown = () => !box.hidden && img.complete && img.naturalWidth > 0;
  let obs, timer;
  const done = () => { if (shown()) { obs.disconnect(); clearTimeout(timer); resolve(img.naturalWidth); } };
  obs = new MutationObserver(done);
  obs.observe(document, {subtree: true, childList: true, attributes: true});
  img.addEventListener("load", done);
  timer = setTimeout(() => { obs.disconnect(); reject(new Error("no QR code shown")); }, ms);
  done();
})"""
VISIBLE_TEXT = """(sel, ms) => new Promise((resolve, reject) => {
  const text = () => { const e = document.querySelector(sel); return e && !e.closest("[hidden]") && e.textContent ? e.textContent : null; };
  let obs, timer;
  const done = () => { const t = text(); if (t) { obs.disconnect(); clearTimeout(timer); resolve(t); } };
  obs = new MutationObserver(done);
  obs.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  timer = setTimeout(() => { obs.disconnect(); reject(new Error("nothing shown in " + sel)); }, ms);
  done();
})"""
TEXT_OF = "(sel) => document.querySelector(sel) ? document.querySelector(sel).textContent : null"
# The element that has the focus in a document (its id, else its tag and text).
FOCUSED = "() => { const e = document.activeElement; return e ? (e.id || e.tagName + ':' + e.textContent) : null; }"

# What a page learns when the call did not succeed: WebAuthn's generic NotAllowedError, with the
# message browsers use, never why (the person closed the dialog, the host ended, the phone said no).
GENERIC_MESSAGE = "The operation either timed out or was not allowed."


def check_generic(r, what):
    """The page got NotAllowedError with the generic message (the answer as rp.js reports it)."""
    check(r.get("error") == "NotAllowedError" and r.get("message") == GENERIC_MESSAGE,
          "%s: the page learnt %r, not the generic NotAllowedError" % (what, r))


class PageServer:
    """http://localhost:PORT (and http://127.0.0.1:PORT: another origin) serving tests/browser/page.
    Both are secure contexts for the browsers (loopback), as WebAuthn requires."""

    def __init__(self):
        handler = functools.partial(QuietHandler, directory=os.path.join(HERE, "page"))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.origin = "http://localhost:%d" % self.port
        self.other_origin = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def creation_options(challenge, **extra):
    o = {"rp": {"name": "hybridgate test RP"},
         "user": {"id": b64(b"user-ff-1"), "name": "alice@localhost", "displayName": "Alice"},
         "challenge": challenge, "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
         "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"},
         "attestation": "none"}
    o.update(extra)
    return o


def check_shape(d, kind):
    check("error" not in d, "the page got an error: %r" % d)
    check(d["isPublicKeyCredential"] and d["isResponse"], "not PublicKeyCredential-shaped: %r" % d)
    check(d["rawIdIsArrayBuffer"] and d["clientDataIsArrayBuffer"], "binary fields are not ArrayBuffers")
    j, fb = d["toJSON"], d["fromBuffers"]
    check(j["id"] == fb["id"] == fb["rawId"] == j["rawId"], "id / rawId differ")
    check(fb["type"] == "public-key" and fb["authenticatorAttachment"] == "cross-platform", "type / attachment")
    for k, v in fb["response"].items():
        check(j["response"].get(k) == v, "toJSON().response.%s differs from the ArrayBuffer" % k)
    if kind == "create":
        check(d["transports"] == ["hybrid"], "getTransports(): %r" % d["transports"])
        check(j["response"]["transports"] == ["hybrid"], "toJSON transports: %r" % j["response"]["transports"])
        check(d["publicKeyAlgorithm"] == -7, "getPublicKeyAlgorithm(): %r" % d["publicKeyAlgorithm"])
        check(d["publicKey"] == j["response"]["publicKey"] and d["authenticatorData"] == j["response"]["authenticatorData"],
              "getPublicKey() / getAuthenticatorData() differ from toJSON()")
        check(d["extensionResults"] == {}, "getClientExtensionResults(): %r" % d["extensionResults"])


def check_public_key(d):
    """getPublicKey() (SPKI) is the key in the attestation object (python3-fido2 + cryptography)."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from fido2.ctap2 import AttestationObject
    from fido2.utils import websafe_decode
    att = AttestationObject(websafe_decode(d["fromBuffers"]["response"]["attestationObject"]))
    cose = att.auth_data.credential_data.public_key
    n = load_der_public_key(websafe_decode(d["publicKey"])).public_numbers()
    check((n.x, n.y) == (int.from_bytes(cose[-2], "big"), int.from_bytes(cose[-3], "big")),
          "getPublicKey() is not the attested key")
    check(websafe_decode(d["authenticatorData"]) == bytes(att.auth_data), "getAuthenticatorData() differs")


