// SPDX-License-Identifier: Apache-2.0
// The extension's background: one ceremony per tab. For each request from a page (content.js):
//   1. the origin is the browser's record of the calling frame (port.sender), never the page's word;
//      a frame whose ancestors are not all of its own origin is refused (NotAllowedError), as
//      WebAuthn does without a permissions policy delegation;
//   2. the native host (hybridgate-native-host) checks the options, the origin and the RP ID before
//      any UI (SecurityError / TypeError as a browser). When the host is missing, ends, or cannot
//      start, the call falls through to the browser's own navigator.credentials: the page is never
//      worse off than without the extension;
//   3. the extension's dialog (dialog.html) is shown in the calling tab, in an extension frame of a
//      modal overlay the content script puts over the page (focus stays in the tab, so the browser's
//      own WebAuthn accepts a fall-through call). It offers the remembered phones, "Use a phone or
//      tablet (QR code)", the browser's own flow (security key) and Cancel; shows the QR code and the
//      progress. One ceremony runs its phone at a time: a second tab's dialog says it waits;
//   4. the host runs the ceremony; the credential JSON goes back to the page.
// The tab closing or navigating (the content port closes), Cancel / Escape, the page's AbortSignal
// or the page's timeout end the ceremony: the host gets a cancel message and the port closes. The
// page learns only what WebAuthn lets it learn: the credential, or an exception with the generic
// message a browser uses (the reason is shown to the person in the dialog, never to the page).
"use strict";
const api = globalThis.browser ?? globalThis.chrome;
const HOST = "hybridgate";
const DEFAULT_TIMEOUT_MS = 300000;  // WebAuthn's recommended default when the page names none
const MAX_TIMEOUT_MS = 600000;      // the most this extension waits for one call
const SUCCESS_SHOWN_MS = 1200;      // the success state stays this long before the overlay goes

const byTab = new Map();     // tabId → ceremony
const byToken = new Map();   // dialog token → ceremony
let nextId = 1;

const GENERIC = {name: "NotAllowedError", message: "The operation either timed out or was not allowed."};

function originOf(url) {
  try { return new URL(url).origin; } catch { return "null"; }
}

// The host's error codes as the exceptions a browser's WebAuthn would throw, with a browser's
// generic message (the page learns the kind of failure a browser would tell it, never why).
function exceptionFor(error) {
  const code = error.code || "";
  if (code.startsWith("origin.") || code.startsWith("rp_id."))
    return {name: "SecurityError", message: "The relying party ID is not a registrable domain suffix of, nor equal to the current domain."};
  if (code === "invalid_argument")
    return {name: "TypeError", message: "The options are not valid."};
  if (code === "ctap.credential_excluded")
    return {name: "InvalidStateError", message: "The authenticator already holds a credential of this account."};
  return GENERIC;
}

// Failures after which trying again cannot help (the person or the phone said no): the page is
// answered at once. Others (network, relay, radio) let the person retry, use a QR code instead or
// the browser's own method while the page still waits.
function isFinal(code) {
  return code.startsWith("ctap.") || code.startsWith("origin.") || code.startsWith("rp_id.") ||
         code === "invalid_argument" || code === "session.deadline";
}

// True when every ancestor of the frame has the frame's origin (same-origin with its ancestors).
async function sameOriginWithAncestors(tabId, frameId, origin) {
  if (frameId === 0) return true;
  const frames = await api.webNavigation.getAllFrames({tabId});
  if (!frames) return false;
  const byId = new Map(frames.map((f) => [f.frameId, f]));
  let f = byId.get(frameId);
  while (f && f.parentFrameId !== -1) {
    const parent = byId.get(f.parentFrameId);
    if (!parent || originOf(parent.url) !== origin) return false;
    f = parent;
  }
  return Boolean(f);
}

// The ceremony whose phone is in use (started, not ended), other than `except`.
function busyWith(except) {
  for (const c of byTab.values()) if (c !== except && c.started && !c.ended) return c;
  return null;
}

// A ceremony ended or stopped using the phone: dialogs that waited for it may go on.
function wakeWaiting() {
  for (const c of byTab.values()) if (!c.ended && c.view.state === "waiting" && !busyWith(c)) c.show({state: "choose"});
}

class Ceremony {
  constructor(port, kind, options, origin, tabId) {
    this.id = String(nextId++);
    this.token = crypto.randomUUID();  // names this ceremony's dialog frame (not guessable)
    this.page = port;
    this.kind = kind;
    this.options = options;
    this.origin = origin;
    this.tabId = tabId;
    this.native = null;
    this.dialog = null;      // the dialog frame's port
    this.phones = [];
    this.defaultPhone = "";
    this.linkPhone = false;  // the settings' link_phone: "Remember this phone" starts ticked
    this.started = false;    // the host runs a phone ceremony now
    this.answered = false;   // the page has its answer
    this.ended = false;      // the ceremony is over (the overlay may still show its end)
    this.view = {state: "choose"};  // what the dialog shows (sent again when it connects)
    this.waiters = new Map();       // host message type → resolve (hello, checked)
    this.timer = null;
    this.closeTimer = null;
  }

  account() {
    const u = this.kind === "create" && this.options && this.options.user;
    if (!u || typeof u !== "object") return "";
    const name = typeof u.name === "string" ? u.name : "";
    const display = typeof u.displayName === "string" ? u.displayName : "";
    return display && display !== name ? `${display} (${name})` : name;
  }

  async begin() {
    const timeout = Number(this.options && this.options.timeout);
    const ms = Number.isFinite(timeout) && timeout > 0 ? Math.min(timeout, MAX_TIMEOUT_MS) : DEFAULT_TIMEOUT_MS;
    this.timer = setTimeout(() => this.timedOut(), ms);
    try {
      this.native = api.runtime.connectNative(HOST);
    } catch (e) {
      this.fallThrough(`cannot start hybridgate-native-host: ${e}`);
      return;
    }
    this.native.onMessage.addListener((m) => this.fromHost(m));
    this.native.onDisconnect.addListener((port) => {
      // Firefox names the reason in port.error; Chromium in runtime.lastError.
      const why = (port && port.error && port.error.message) ||
                  (api.runtime.lastError && api.runtime.lastError.message) || "the native host ended";
      this.native = null;
      for (const resolve of this.waiters.values()) resolve({type: "error", code: "host", message: why});
      this.waiters.clear();
      if (this.ended) return;
      if (!this.started) this.fallThrough(`hybridgate-native-host is not available: ${why}`);
      else this.fail({code: "host", message: "hybridgate stopped unexpectedly."}, true);
    });
    const hello = await this.ask("hello", {type: "hello"});
    if (this.ended) return;
    if (hello.type !== "hello") {  // e.g. a mistake in the settings: the browser's own flow
      this.fallThrough(`hybridgate cannot start: ${hello.message}${hello.detail ? ` (${hello.detail})` : ""}`);
      return;
    }
    this.phones = hello.phones || [];
    this.defaultPhone = hello.defaultPhone || "";
    this.linkPhone = hello.linkPhone === true;
    const checked = await this.ask("checked", {type: "check", id: this.id, kind: this.kind, origin: this.origin,
                                               options: this.options});
    if (this.ended) return;
    if (checked.type !== "checked") {
      if (checked.code === "host") return;  // the host ended: handled by onDisconnect
      this.finish(exceptionFor(checked.code ? checked : {code: ""}), null);
      return;
    }
    if (busyWith(this)) this.view.state = "waiting";
    this.view.busy = busyWith(this) ? busyWith(this).origin : "";
    byToken.set(this.token, this);
    this.postPage({type: "overlay", url: api.runtime.getURL(`dialog.html#${this.token}`)});
  }

  ask(type, message) {
    return new Promise((resolve) => {
      if (!this.native) return resolve({type: "error", code: "host", message: "the native host ended"});
      this.waiters.set(type, resolve);
      this.native.postMessage(message);
    });
  }

  fromHost(m) {
    if (m.type === "error" && !this.started && this.waiters.size) {
      const [type, resolve] = [...this.waiters.entries()][0];
      this.waiters.delete(type);
      resolve(m);
      return;
    }
    const waiter = this.waiters.get(m.type);
    if (waiter) {
      this.waiters.delete(m.type);
      waiter(m);
      return;
    }
    if (m.id !== this.id || this.ended || !this.started) return;
    if (m.type === "qr") this.show({qrSvg: m.svg});
    else if (m.type === "stage") this.show({stage: m.stage, detail: m.detail});
    else if (m.type === "notice") this.show({notice: m.text});
    else if (m.type === "result") this.succeed(m.credential);
    else if (m.type === "error") this.fail(m, isFinal(m.code || ""));
  }

  postPage(m) {
    try { this.page.postMessage(m); } catch { /* the page is gone */ }
  }

  show(update) {
    Object.assign(this.view, update);
    if (this.dialog) this.dialog.postMessage(update);
  }

  attachDialog(port) {
    this.dialog = port;
    port.postMessage({origin: this.origin, kind: this.kind, account: this.account(), phones: this.phones,
                      defaultPhone: this.defaultPhone, linkPhone: this.linkPhone, ...this.view});
    port.onMessage.addListener((m) => this.fromDialog(m));
    port.onDisconnect.addListener(() => {
      this.dialog = null;
      this.cancel();  // the frame went away (the page removed it, or the tab is closing)
    });
  }

  fromDialog(m) {
    if (typeof m.height === "number") {
      this.postPage({type: "size", height: Math.max(120, Math.min(800, Math.ceil(m.height)))});
      return;
    }
    if (m.choice === "close") return this.close();
    if (this.ended) return;
    if (m.choice === "phone" && !this.started && this.view.state !== "waiting") {
      if (busyWith(this)) return this.show({state: "waiting", busy: busyWith(this).origin});
      if (!this.native) return this.fallThrough("the native host ended");
      this.started = true;
      const phone = typeof m.phone === "string" ? m.phone : "";
      this.show({state: "running", phone, qrSvg: null, stage: null, notice: null, error: null, code: null});
      this.native.postMessage({type: this.kind, id: this.id, origin: this.origin, options: this.options,
                               phone, link: !phone && m.link === true});
    } else if (m.choice === "fallback" && !this.started) {
      this.fallThrough(null);
    } else if (m.choice === "cancel") {
      this.cancel();
    }
  }

  // The browser's own navigator.credentials takes the call (the overlay is removed first, so the
  // page has the focus). `why`: the reason the bridge cannot help, for the extension's console.
  fallThrough(why) {
    if (why) console.warn(`hybridgate: the browser handles this call: ${why}`);
    this.finish({kind: "fallback"}, null);
  }

  timedOut() {
    this.timer = null;
    if (this.ended) return;
    if (this.native && this.started) this.native.postMessage({type: "cancel", id: this.id});
    this.started = false;
    this.finish(GENERIC, {state: "failed", error: PAGE_TIMEOUT_SENTENCE, code: "page.timeout", retry: false});
  }

  cancel(answer = GENERIC) {
    if (this.ended) return this.close();
    if (this.native && this.started) this.native.postMessage({type: "cancel", id: this.id});
    this.finish(answer, null);
  }

  succeed(credential) {
    this.started = false;
    this.finish({kind: "credential", credential}, {state: "done"});
  }

  // A failure of the phone ceremony: final ones answer the page; others let the person retry.
  fail(error, final) {
    this.started = false;
    const code = `${error.code || ""}${error.detail ? ` (${error.detail})` : ""}`;
    const view = {state: "failed", error: sentenceFor(error, this), code, retry: !final,
                  qrInstead: Boolean(this.view.phone) && !final};
    if (final) this.finish(exceptionFor(error), view);
    else this.show(view);
    wakeWaiting();
  }

  // Answers the page and ends the ceremony. `endView`: a last state the dialog shows (success, a
  // failure) until the person closes it (success: a moment); null: the overlay goes at once.
  finish(answer, endView) {
    if (this.ended) return;
    this.ended = true;
    this.started = false;
    clearTimeout(this.timer);
    byTab.delete(this.tabId);
    if (this.native) {
      this.native.disconnect();
      this.native = null;
    }
    wakeWaiting();
    const message = answer.kind ? answer : {kind: "error", ...answer};
    if (endView && this.dialog) {
      this.answered = true;
      this.postPage({type: "answer", answer: message});
      this.show(endView);
      if (endView.state === "done") this.closeTimer = setTimeout(() => this.close(), SUCCESS_SHOWN_MS);
    } else {
      // Fall-through and cancel: the content script removes the overlay before it answers the page.
      this.answered = true;
      this.postPage({type: "answer", answer: message, close: true});
      this.close();
    }
  }

  // Removes the overlay (the page port closes; the content script takes the frame away).
  close() {
    clearTimeout(this.closeTimer);
    byToken.delete(this.token);
    if (!this.ended) return this.cancel();
    try { this.page.disconnect(); } catch { /* gone */ }
  }
}

// The dialog's plain sentence for a host error (the code goes in the dialog's details line).
// The page's timeout ended the call: said the same whether the extension's own timer or the
// library (which bounds the ceremony by the same timeout, "the relying party's timeout of N ms")
// noticed first.
const PAGE_TIMEOUT_SENTENCE = "The time this site allows for signing in ran out.";

function sentenceFor(error, c) {
  const code = error.code || "";
  if (code === "session.deadline" && typeof error.detail === "string" && error.detail.includes("relying party's timeout"))
    return PAGE_TIMEOUT_SENTENCE;
  if (c.view.phone && (code === "tunnel.refused" || code === "tunnel.closed" || code === "session.no_advert"))
    return `${c.view.phone} did not answer. It may be switched off, asleep or offline.`;
  if (code === "tunnel.unreachable") {
    const where = typeof error.detail === "string" && error.detail ? ` at ${error.detail.split(": ")[0]}` : "";
    return `hybridgate cannot reach its relay (the tunnel server${where}). Check the network connection, or try again later.`;
  }
  if (code === "tunnel.gone") return `${c.view.phone || "This phone"} is no longer linked. Use a QR code instead.`;
  return error.message || "Something went wrong.";
}

function refuse(port, answer) {
  port.postMessage({type: "answer", answer: {kind: "error", ...answer}, close: true});
  port.disconnect();
}

async function onPageRequest(port, m) {
  const sender = port.sender || {};
  if (!sender.tab || typeof sender.tab.id !== "number") return refuse(port, GENERIC);
  if (m.kind !== "create" && m.kind !== "get") return refuse(port, {name: "TypeError", message: "Unknown request."});
  // The browser's record of the calling frame (sender.origin where the browser gives it).
  const origin = sender.origin || originOf(sender.url);
  if (origin === "null") return refuse(port, GENERIC);
  const tabId = sender.tab.id;
  // One ceremony per tab: a second call meanwhile is refused, as browsers refuse one.
  if (byTab.has(tabId)) return refuse(port, GENERIC);
  const c = new Ceremony(port, m.kind, m.options, origin, tabId);
  c.frameId = sender.frameId || 0;
  byTab.set(tabId, c);  // reserved before the first await: one ceremony per tab
  port.onMessage.addListener((x) => {
    if (x.abort) c.cancel({name: "AbortError", message: "The operation was aborted."});
    else if (x.escape) c.cancel();
  });
  port.onDisconnect.addListener(() => c.cancel());
  if (!(await sameOriginWithAncestors(tabId, sender.frameId || 0, origin))) {
    c.finish(GENERIC, null);
    return;
  }
  c.begin().catch((e) => c.fallThrough(String(e)));
}

api.runtime.onConnect.addListener((port) => {
  if (port.name === "ceremony") {
    port.onMessage.addListener(function first(m) {
      port.onMessage.removeListener(first);
      onPageRequest(port, m).catch(() => refuse(port, GENERIC));
    });
  } else if (port.name.startsWith("dialog:")) {
    // Only the extension's own page, framed in the ceremony's own tab, may attach.
    const c = byToken.get(port.name.slice("dialog:".length));
    const s = port.sender || {};
    if (!c || c.dialog || typeof s.url !== "string" || !s.url.startsWith(api.runtime.getURL("dialog.html")) ||
        !s.tab || s.tab.id !== c.tabId) return port.disconnect();
    c.attachDialog(port);
  }
});

api.tabs.onRemoved.addListener((tabId) => {
  const c = byTab.get(tabId);
  if (c) c.cancel();
});

// A new document in the calling frame (or in the whole tab) ends the ceremony: the calling
// document is gone even when the browser keeps it in its back-forward cache.
api.webNavigation.onCommitted.addListener((details) => {
  const c = byTab.get(details.tabId);
  if (c && (details.frameId === 0 || details.frameId === c.frameId)) c.cancel();
});
