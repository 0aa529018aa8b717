// SPDX-License-Identifier: Apache-2.0
// The test relying party's page script: calls navigator.credentials with options made from JSON by
// the browser's own PublicKeyCredential.parse*OptionsFromJSON, and describes what came back using
// only the credential's own accessors (ArrayBuffers encoded here), beside its toJSON().
"use strict";
const enc = (b) => new Uint8Array(b).toBase64({alphabet: "base64url", omitPadding: true});

function describe(cred, kind) {
  const r = cred.response;
  const d = {
    isPublicKeyCredential: cred instanceof PublicKeyCredential,
    isResponse: kind === "create" ? r instanceof AuthenticatorAttestationResponse : r instanceof AuthenticatorAssertionResponse,
    rawIdIsArrayBuffer: cred.rawId instanceof ArrayBuffer,
    clientDataIsArrayBuffer: r.clientDataJSON instanceof ArrayBuffer,
    toJSON: cred.toJSON(),
    extensionResults: cred.getClientExtensionResults(),
    fromBuffers: {id: cred.id, rawId: enc(cred.rawId), type: cred.type,
                  authenticatorAttachment: cred.authenticatorAttachment, clientExtensionResults: {},
                  response: {clientDataJSON: enc(r.clientDataJSON)}},
  };
  if (kind === "create") {
    Object.assign(d.fromBuffers.response, {attestationObject: enc(r.attestationObject)});
    d.transports = r.getTransports();
    d.publicKey = enc(r.getPublicKey());
    d.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    d.authenticatorData = enc(r.getAuthenticatorData());
  } else {
    Object.assign(d.fromBuffers.response, {authenticatorData: enc(r.authenticatorData), signature: enc(r.signature),
                                           userHandle: r.userHandle === null ? null : enc(r.userHandle)});
  }
  return JSON.stringify(d);
}

window.hgCreate = async (optionsJSON) => {
  try {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(optionsJSON);
    return describe(await navigator.credentials.create({publicKey}), "create");
  } catch (e) {
    return JSON.stringify({error: e.name, message: e.message});
  }
};

window.hgGet = async (optionsJSON) => {
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(optionsJSON);
    return describe(await navigator.credentials.get({publicKey}), "get");
  } catch (e) {
    return JSON.stringify({error: e.name, message: e.message});
  }
};

// A page that talks to the extension's relay directly and claims another origin.
window.hgForged = (detail) => new Promise((resolve) => {
  document.addEventListener("hybridgate:response", (e) => resolve(e.detail), {once: true});
  document.dispatchEvent(new CustomEvent("hybridgate:request", {detail: JSON.stringify(detail)}));
});

window.hgFrame = (url) => new Promise((resolve) => {
  const f = document.createElement("iframe");
  f.onload = () => resolve(true);
  f.src = url;
  document.body.append(f);
});

// get() with an AbortSignal the test can fire (window.hgAbort()).
window.hgAbortableGet = async (optionsJSON) => {
  window.hgController = new AbortController();
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(optionsJSON);
    return describe(await navigator.credentials.get({publicKey, signal: window.hgController.signal}), "get");
  } catch (e) {
    return JSON.stringify({error: e.name, message: e.message});
  }
};
window.hgAbort = () => { window.hgController.abort(); return true; };
