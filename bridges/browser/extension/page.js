// SPDX-License-Identifier: Apache-2.0
// Runs in the page's own world (content script, world MAIN, document_start): wraps
// navigator.credentials.create() and get() for publicKey requests. The request goes to the
// extension's isolated content script (content.js) as a CustomEvent carrying JSON text; the answer
// comes back the same way. Nothing here is trusted by the extension: the origin is the one the
// browser reports for this frame, and the QR code is shown only in the extension's own frame.
// Answers: a credential, an exception, or "fallback": the very call then goes to the browser's
// original navigator.credentials (the extension's dialog is gone and the page has the focus).
(() => {
  "use strict";
  const Container = globalThis.CredentialsContainer;
  if (!Container || !navigator.credentials) return;
  const originalCreate = Container.prototype.create;
  const originalGet = Container.prototype.get;

  const bytesOf = (v) => v instanceof ArrayBuffer ? new Uint8Array(v)
    : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const toB64url = (v) => bytesOf(v).toBase64({alphabet: "base64url", omitPadding: true});
  const fromB64url = (s) => Uint8Array.fromBase64(s, {alphabet: "base64url"}).buffer;
  const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);

  // The options in their JSON form (WebAuthn L3 §5.1: BufferSources → base64url).
  function optionsToJSON(v) {
    if (isBinary(v)) return toB64url(v);
    if (Array.isArray(v)) return v.map(optionsToJSON);
    if (v && typeof v === "object") {
      const out = {};
      for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = optionsToJSON(x);
      return out;
    }
    return v;
  }

  function define(obj, props) {
    for (const [k, v] of Object.entries(props))
      Object.defineProperty(obj, k, {value: v, enumerable: typeof v !== "function", configurable: true});
    return obj;
  }

  // clientExtensionResults with the prf outputs as ArrayBuffers (as getClientExtensionResults()).
  function extensionResults(json) {
    const out = structuredClone(json || {});
    const r = out.prf && out.prf.results;
    if (r) for (const k of ["first", "second"]) if (typeof r[k] === "string") r[k] = fromB64url(r[k]);
    return out;
  }

  // A PublicKeyCredential-shaped object from the credential's JSON form (toJSON()).
  function credentialFromJSON(j, kind) {
    const r = j.response;
    const transports = ["hybrid"];
    const pkc = globalThis.PublicKeyCredential;
    const respClass = kind === "create" ? globalThis.AuthenticatorAttestationResponse : globalThis.AuthenticatorAssertionResponse;
    const response = Object.create(respClass ? respClass.prototype : Object.prototype);
    const json = () => {
      const copy = structuredClone(j);
      if (kind === "create") copy.response.transports = transports.slice();
      return copy;
    };
    if (kind === "create") {
      define(response, {
        clientDataJSON: fromB64url(r.clientDataJSON),
        attestationObject: fromB64url(r.attestationObject),
        getTransports: () => transports.slice(),
        getAuthenticatorData: () => fromB64url(r.authenticatorData),
        getPublicKey: () => typeof r.publicKey === "string" ? fromB64url(r.publicKey) : null,
        getPublicKeyAlgorithm: () => r.publicKeyAlgorithm,
      });
    } else {
      define(response, {
        clientDataJSON: fromB64url(r.clientDataJSON),
        authenticatorData: fromB64url(r.authenticatorData),
        signature: fromB64url(r.signature),
        userHandle: typeof r.userHandle === "string" ? fromB64url(r.userHandle) : null,
      });
    }
    const cred = Object.create(pkc ? pkc.prototype : Object.prototype);
    return define(cred, {
      id: j.id,
      rawId: fromB64url(j.rawId),
      type: "public-key",
      authenticatorAttachment: j.authenticatorAttachment || "cross-platform",
      response,
      getClientExtensionResults: () => extensionResults(j.clientExtensionResults),
      toJSON: json,
    });
  }

  function fail(name, message) {
    if (name === "TypeError") return new TypeError(message);
    return new DOMException(message, name);
  }

  // One request to the extension; resolves with its answer {kind: credential|fallback|error}.
  function ask(kind, options, signal) {
    const rid = crypto.randomUUID();
    return new Promise((resolve) => {
      const onAnswer = (e) => {
        if (typeof e.detail !== "string") return;
        let m;
        try { m = JSON.parse(e.detail); } catch { return; }
        if (m.rid !== rid) return;
        document.removeEventListener("hybridgate:response", onAnswer);
        if (signal) signal.removeEventListener("abort", onAbort);
        resolve(m);
      };
      const onAbort = () => document.dispatchEvent(
        new CustomEvent("hybridgate:abort", {detail: JSON.stringify({rid})}));
      document.addEventListener("hybridgate:response", onAnswer);
      if (signal) signal.addEventListener("abort", onAbort, {once: true});
      document.dispatchEvent(new CustomEvent("hybridgate:request",
        {detail: JSON.stringify({rid, kind, options: optionsToJSON(options)})}));
    });
  }

  async function wrapped(kind, original, container, options) {
    // Not ours: other credential types, conditional mediation (autofill), no publicKey member.
    if (!options || !options.publicKey || options.mediation === "conditional")
      return original.call(container, options);
    const signal = options.signal;
    if (signal && signal.aborted) throw fail("AbortError", "The operation was aborted.");
    const answer = await ask(kind, options.publicKey, signal);
    if (answer.kind === "fallback") return original.call(container, options);  // the browser's own flow
    if (answer.kind === "credential") return credentialFromJSON(answer.credential, kind);
    throw fail(answer.name || "NotAllowedError", answer.message || "The operation failed.");
  }

  Object.defineProperty(Container.prototype, "create", {
    configurable: true, writable: true,
    value: function create(options) { return wrapped("create", originalCreate, this, options); },
  });
  Object.defineProperty(Container.prototype, "get", {
    configurable: true, writable: true,
    value: function get(options) { return wrapped("get", originalGet, this, options); },
  });
})();
