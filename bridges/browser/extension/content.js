// SPDX-License-Identifier: Apache-2.0
// The extension's isolated content script: carries the page's requests (page.js, CustomEvents with
// JSON text) to the background over one runtime port per ceremony, and the answers back. It sends
// only the kind and the options: the background takes the origin from the port's sender (the
// browser's record of this frame), so a page cannot claim another origin. When this document goes
// away (navigation, tab closed) the ports close and the background cancels the ceremony.
//
// The dialog is shown over this page: an extension frame (dialog.html, a document the page cannot
// script) in a modal <dialog> (the top layer, the page inert behind it) inside a closed shadow
// root. The focus stays in this tab, so when the call falls through to the browser's own
// navigator.credentials, the overlay is removed first and the page has the focus, as WebAuthn
// requires. The overlay lives as long as the ceremony's port.
(() => {
  "use strict";
  const api = globalThis.browser ?? globalThis.chrome;
  const ports = new Map();  // rid → runtime port

  function answer(rid, m) {
    document.dispatchEvent(new CustomEvent("hybridgate:response", {detail: JSON.stringify({...m, rid})}));
  }

  // The overlay of one ceremony: {host, dialog, frame, previous}.
  function showOverlay(url, onEscape) {
    const host = document.createElement("hybridgate-dialog");
    host.style.setProperty("all", "initial", "important");
    host.style.setProperty("display", "block", "important");
    const root = host.attachShadow({mode: "closed"});
    const style = document.createElement("style");
    style.textContent = `
      dialog { all: initial; display: block; position: fixed; inset: 0; margin: auto; padding: 0;
               width: min(400px, calc(100vw - 24px)); height: fit-content; max-height: calc(100vh - 24px);
               border-radius: 12px; overflow: hidden; box-shadow: 0 8px 40px rgba(0,0,0,.45);
               background: Canvas; color-scheme: light dark; }
      dialog::backdrop { background: rgba(0,0,0,.45); }
      iframe { display: block; border: 0; width: 100%; height: 320px; max-height: calc(100vh - 24px); }`;
    const dialog = document.createElement("dialog");
    dialog.setAttribute("aria-label", "hybridgate: sign in with a phone or tablet");
    const frame = document.createElement("iframe");
    frame.src = url;
    frame.title = "hybridgate: sign in with a phone or tablet";
    frame.setAttribute("allow", "");
    dialog.append(frame);
    root.append(style, dialog);
    // Escape pressed while the page (not the frame) has the focus: the dialog's cancel.
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); onEscape(); });
    const previous = document.activeElement;
    (document.body || document.documentElement).append(host);
    try { dialog.showModal(); } catch { dialog.setAttribute("open", ""); }
    frame.addEventListener("load", () => frame.focus(), {once: true});
    frame.focus();
    return {host, dialog, frame, previous};
  }

  function removeOverlay(o) {
    if (!o || !o.host.isConnected) return;
    try { o.dialog.close(); } catch { /* not open */ }
    o.host.remove();
    // The focus goes back to the page (and to what had it), so the page can call WebAuthn.
    try { window.focus(); } catch { /* ignore */ }
    if (o.previous && o.previous.isConnected && typeof o.previous.focus === "function") {
      try { o.previous.focus({preventScroll: true}); } catch { /* ignore */ }
    }
  }

  document.addEventListener("hybridgate:request", (e) => {
    if (typeof e.detail !== "string") return;
    let req;
    try { req = JSON.parse(e.detail); } catch { return; }
    if (!req || typeof req.rid !== "string" || ports.has(req.rid)) return;
    if (req.kind !== "create" && req.kind !== "get") return;
    const port = api.runtime.connect({name: "ceremony"});
    ports.set(req.rid, port);
    let overlay = null;
    let answered = false;
    const reply = (m) => {
      if (answered) return;
      answered = true;
      answer(req.rid, m);
    };
    port.onMessage.addListener((m) => {
      if (m.type === "overlay" && typeof m.url === "string" && !overlay) {
        overlay = showOverlay(m.url, () => port.postMessage({escape: true}));
      } else if (m.type === "size" && overlay && typeof m.height === "number") {
        overlay.frame.style.height = `${m.height}px`;
      } else if (m.type === "answer" && m.answer) {
        if (m.close) {  // the overlay goes first: the page has the focus when it gets the answer
          removeOverlay(overlay);
          overlay = null;
        }
        reply(m.answer);
      }
    });
    port.onDisconnect.addListener(() => {
      removeOverlay(overlay);
      overlay = null;
      ports.delete(req.rid);
      reply({kind: "error", name: "NotAllowedError", message: "The operation either timed out or was not allowed."});
    });
    port.postMessage({kind: req.kind, options: req.options});
  });

  // The document is going away (navigation, closing; also into the back-forward cache, where the
  // ports would otherwise stay open): end its ceremonies.
  window.addEventListener("pagehide", () => {
    for (const [rid, port] of ports) {
      ports.delete(rid);
      port.disconnect();
    }
  });

  document.addEventListener("hybridgate:abort", (e) => {
    if (typeof e.detail !== "string") return;
    let req;
    try { req = JSON.parse(e.detail); } catch { return; }
    const port = req && ports.get(req.rid);
    if (port) port.postMessage({abort: true});
  });
})();
