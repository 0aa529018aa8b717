// SPDX-License-Identifier: Apache-2.0
// The extension's isolated content script: carries the page's requests (page.js, CustomEvents with
// JSON text) to the background over one runtime port per ceremony, and the answers back. It sends
// only the kind and the options: the background takes the origin from the port's sender (the
// browser's record of this frame), so a page cannot claim another origin. When this document goes
// away (navigation, tab closed) the ports close and the background cancels the ceremony.
(() => {
  "use strict";
  const api = globalThis.browser ?? globalThis.chrome;
  const ports = new Map();  // rid → runtime port

  function answer(rid, m) {
    document.dispatchEvent(new CustomEvent("hybridgate:response", {detail: JSON.stringify({...m, rid})}));
  }

  document.addEventListener("hybridgate:request", (e) => {
    if (typeof e.detail !== "string") return;
    let req;
    try { req = JSON.parse(e.detail); } catch { return; }
    if (!req || typeof req.rid !== "string" || ports.has(req.rid)) return;
    if (req.kind !== "create" && req.kind !== "get") return;
    const port = api.runtime.connect({name: "ceremony"});
    ports.set(req.rid, port);
    port.onMessage.addListener((m) => {
      ports.delete(req.rid);
      port.disconnect();
      answer(req.rid, m);
    });
    port.onDisconnect.addListener(() => {
      if (!ports.delete(req.rid)) return;
      answer(req.rid, {kind: "error", name: "NotAllowedError", message: "The request ended."});
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
