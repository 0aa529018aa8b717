// SPDX-License-Identifier: Apache-2.0
// The extension's background: one ceremony per tab. For each request from a page (content.js):
//   1. the origin is the browser's record of the calling frame (port.sender), never the page's word;
//      a frame whose ancestors are not all of its own origin is refused (NotAllowedError), as
//      WebAuthn does without a permissions policy delegation;
//   2. the native host (hybridgate-native-host) checks the options, the origin and the RP ID before
//      any UI (SecurityError / TypeError as a browser);
//   3. the extension's own window (dialog.html) offers "Use a phone or tablet (hybridgate)", the
//      remembered phones, the browser's own flow (security key: the page's original
//      navigator.credentials call) and Cancel; it shows the QR code and the progress;
//   4. the host runs the ceremony; the credential JSON goes back to the page.
// The tab closing or navigating (the content port closes), the dialog closing, Cancel or the
// page's AbortSignal cancel the ceremony: the host gets a cancel message and the port closes.
"use strict";
const api = globalThis.browser ?? globalThis.chrome;
const HOST = "hybridgate";

const byTab = new Map();     // tabId → ceremony
const byDialog = new Map();  // ceremony id → ceremony
let nextId = 1;

function originOf(url) {
  try { return new URL(url).origin; } catch { return "null"; }
}

// The host's error codes as the exceptions a browser's WebAuthn would throw.
function exceptionFor(error) {
  const code = error.code || "";
  if (code.startsWith("origin.") || code.startsWith("rp_id."))
    return {name: "SecurityError", message: `${error.message} (${error.detail || code})`};
  if (code === "invalid_argument")
    return {name: "TypeError", message: error.detail || error.message};
  if (code === "ctap.credential_excluded")
    return {name: "InvalidStateError", message: "The authenticator already holds a credential of this account."};
  // Like browsers, nothing that tells a page why a person or an authenticator said no.
  return {name: "NotAllowedError", message: "The operation either timed out or was not allowed."};
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

class Ceremony {
  constructor(port, kind, options, origin, tabId) {
    this.id = String(nextId++);
    this.page = port;
    this.kind = kind;
    this.options = options;
    this.origin = origin;
    this.tabId = tabId;
    this.native = null;
    this.dialog = null;      // the dialog's port
    this.windowId = null;
    this.phones = [];
    this.defaultPhone = "";
    this.linkPhone = false;  // the settings' link_phone: "Remember this phone" starts ticked
    this.startError = null;  // the host's error before it exited at start (settings)
    this.started = false;    // the host runs the ceremony
    this.ended = false;
    this.view = {state: "choose"};  // what the dialog shows (sent again when it connects)
    this.waiters = new Map();       // host message type → resolve (hello, checked)
  }

  async begin() {
    this.native = api.runtime.connectNative(HOST);
    this.native.onMessage.addListener((m) => this.fromHost(m));
    this.native.onDisconnect.addListener(() => {
      this.native = null;
      const why = (api.runtime.lastError && api.runtime.lastError.message) || "the native host ended";
      for (const resolve of this.waiters.values()) resolve({type: "error", code: "host", message: why});
      this.waiters.clear();
      if (!this.ended) this.finish({kind: "error", name: "NotAllowedError", message: "hybridgate's native host ended."},
                                   this.startError ? cannotStart(this.startError)
                                                   : "hybridgate-native-host is not available: " + why);
    });
    const hello = await this.ask("hello", {type: "hello"});
    if (this.ended) return;
    if (hello.type !== "hello") {  // e.g. a mistake in the settings: say it in the dialog
      this.finish({kind: "error", name: "NotAllowedError", message: "The operation either timed out or was not allowed."},
                  cannotStart(hello));
      return;
    }
    this.phones = hello.phones || [];
    this.defaultPhone = hello.defaultPhone || "";
    this.linkPhone = hello.linkPhone === true;
    const checked = await this.ask("checked", {type: "check", id: this.id, kind: this.kind, origin: this.origin,
                                               options: this.options});
    if (this.ended) return;
    if (checked.type !== "checked") {
      this.finish({kind: "error", ...exceptionFor(checked)});
      return;
    }
    await this.openDialog();
  }

  async openDialog() {
    if (this.opening) return;
    this.opening = true;
    const w = await api.windows.create({url: api.runtime.getURL(`dialog.html?c=${this.id}`), type: "popup",
                                        width: 440, height: 620});
    this.windowId = w.id;
    if (this.ended && this.view.state !== "failed") this.closeDialog();
  }

  closeDialog() {
    byDialog.delete(this.id);
    if (this.windowId !== null) api.windows.remove(this.windowId).catch(() => {});
  }

  ask(type, message) {
    return new Promise((resolve) => {
      if (!this.native) return resolve({type: "error", code: "host", message: "the native host ended"});
      this.waiters.set(type, resolve);
      this.native.postMessage(message);
    });
  }

  fromHost(m) {
    if (m.type === "error" && (m.id === null || m.id === undefined)) this.startError = m;  // then it exits
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
    if (m.id !== this.id || this.ended) return;
    if (m.type === "qr") this.show({qrSvg: m.svg});
    else if (m.type === "stage") this.show({stage: m.stage, detail: m.detail});
    else if (m.type === "notice") this.show({notice: m.text});
    else if (m.type === "result") this.finish({kind: "credential", credential: m.credential});
    else if (m.type === "error") this.finish({kind: "error", ...exceptionFor(m)}, `${m.message} [${m.code}]`);
  }

  show(update) {
    Object.assign(this.view, update);
    if (this.dialog) this.dialog.postMessage(update);
  }

  attachDialog(port) {
    this.dialog = port;
    port.postMessage({origin: this.origin, kind: this.kind, phones: this.phones, defaultPhone: this.defaultPhone,
                      linkPhone: this.linkPhone, ...this.view});
    port.onMessage.addListener((m) => this.fromDialog(m));
    port.onDisconnect.addListener(() => {
      this.dialog = null;
      if (this.ended) byDialog.delete(this.id);
      this.cancel("NotAllowedError", "The person closed the dialog.");
    });
  }

  fromDialog(m) {
    if (this.ended) return;
    if (m.choice === "phone" && !this.started) {
      this.started = true;
      this.show({state: "running", phone: m.phone || ""});
      this.native.postMessage({type: this.kind, id: this.id, origin: this.origin, options: this.options,
                               phone: m.phone || "", link: !m.phone && m.link === true});
    } else if (m.choice === "fallback" && !this.started) {
      this.finish({kind: "fallback"});
    } else if (m.choice === "cancel") {
      this.cancel("NotAllowedError", "The person cancelled.");
    }
  }

  cancel(name, message) {
    if (this.ended) return;
    if (this.native && this.started) this.native.postMessage({type: "cancel", id: this.id});
    this.finish({kind: "error", name, message});
  }

  // Ends the ceremony: answers the page (if it is still there) and closes the host port. With an
  // error to show, the dialog shows it (opened for it if need be) until the person closes it;
  // otherwise the dialog closes.
  finish(answer, errorForDialog) {
    if (this.ended) return;
    this.ended = true;
    byTab.delete(this.tabId);
    try { this.page.postMessage(answer); } catch { /* the page is gone */ }
    if (this.native) {
      this.native.disconnect();
      this.native = null;
    }
    if (errorForDialog) {
      this.show({state: "failed", error: errorForDialog});
      if (this.windowId === null) this.openDialog().catch(() => byDialog.delete(this.id));
    } else {
      this.closeDialog();
    }
  }
}

// The sentence for the dialog when the host could not start (its error message, e.g. config.invalid).
function cannotStart(error) {
  return `hybridgate cannot start: ${error.message}${error.detail ? ` (${error.detail})` : ""}`;
}

function refuse(port, name, message) {
  port.postMessage({kind: "error", name, message});
}

async function onPageRequest(port, m) {
  const sender = port.sender || {};
  if (!sender.tab || typeof sender.tab.id !== "number") return refuse(port, "NotAllowedError", "Not a tab.");
  if (m.kind !== "create" && m.kind !== "get") return refuse(port, "TypeError", "Unknown request.");
  // The browser's record of the calling frame (sender.origin where the browser gives it).
  const origin = sender.origin || originOf(sender.url);
  if (origin === "null") return refuse(port, "NotAllowedError", "An opaque origin cannot use WebAuthn.");
  const tabId = sender.tab.id;
  if (byTab.has(tabId)) return refuse(port, "NotAllowedError", "A request is already pending in this tab.");
  const c = new Ceremony(port, m.kind, m.options, origin, tabId);
  c.frameId = sender.frameId || 0;
  byTab.set(tabId, c);  // reserved before the first await: one ceremony per tab
  if (!(await sameOriginWithAncestors(tabId, sender.frameId || 0, origin))) {
    byTab.delete(tabId);
    return refuse(port, "NotAllowedError", "WebAuthn is not allowed in a cross-origin frame.");
  }
  byDialog.set(c.id, c);
  port.onMessage.addListener((x) => { if (x.abort) c.cancel("AbortError", "The operation was aborted."); });
  port.onDisconnect.addListener(() => c.cancel("NotAllowedError", "The page went away."));
  c.begin().catch((e) => c.finish({kind: "error", name: "NotAllowedError", message: "hybridgate failed."}, String(e)));
}

api.runtime.onConnect.addListener((port) => {
  if (port.name === "ceremony") {
    port.onMessage.addListener(function first(m) {
      port.onMessage.removeListener(first);
      onPageRequest(port, m).catch(() => refuse(port, "NotAllowedError", "hybridgate failed."));
    });
  } else if (port.name.startsWith("dialog:")) {
    // Only the extension's own page (dialog.html) may attach.
    if (!port.sender || port.sender.url === undefined ||
        !port.sender.url.startsWith(api.runtime.getURL("dialog.html"))) return port.disconnect();
    const c = byDialog.get(port.name.slice("dialog:".length));
    if (!c || c.dialog) return port.disconnect();
    c.attachDialog(port);
  }
});

api.tabs.onRemoved.addListener((tabId) => {
  const c = byTab.get(tabId);
  if (c) c.cancel("NotAllowedError", "The tab was closed.");
});

// A new document in the calling frame (or in the whole tab) ends the ceremony: the calling
// document is gone even when the browser keeps it in its back-forward cache.
api.webNavigation.onCommitted.addListener((details) => {
  const c = byTab.get(details.tabId);
  if (c && (details.frameId === 0 || details.frameId === c.frameId))
    c.cancel("NotAllowedError", "The page navigated away.");
});

api.windows.onRemoved.addListener((windowId) => {
  for (const c of byDialog.values()) {
    if (c.windowId !== windowId) continue;
    byDialog.delete(c.id);
    c.cancel("NotAllowedError", "The person closed the dialog.");
  }
});
