// SPDX-License-Identifier: Apache-2.0
// The extension's own dialog (never page DOM): the choice between the phone (QR code or a
// remembered one), the browser's own flow and Cancel; then the QR code (an SVG from hybridgate's
// qr/ layer, shown from a blob: URL) and the progress. The page cannot reach this document.
"use strict";
const api = globalThis.browser ?? globalThis.chrome;
const id = new URLSearchParams(location.search).get("c");
const port = api.runtime.connect({name: `dialog:${id}`});
const $ = (s) => document.getElementById(s);

const STAGES = {
  qr_shown: "Scan the QR code with your phone",
  scanning: "Waiting for your phone…",
  phone_found: "Phone found nearby; connecting…",
  tunnel_connected: "Connected to the tunnel server",
  secure_channel: "Secure connection to your phone",
  waiting_for_user: "Confirm on your phone",
  done: "Done",
};

let qrUrl = null;
let built = false;

function choose(phone) {
  port.postMessage({choice: "phone", phone, link: !phone && $("remember").checked});
}

function build(m) {
  built = true;
  const creating = m.kind === "create";
  $("title").textContent = creating ? "Create a passkey" : "Sign in with a passkey";
  $("site").textContent = m.origin;
  $("hybrid").onclick = () => choose("");
  $("remember").checked = m.linkPhone === true;
  $("fallback").onclick = () => port.postMessage({choice: "fallback"});
  const phones = (m.phones || []).slice().sort((a, b) => (b.name === m.defaultPhone) - (a.name === m.defaultPhone));
  for (const p of phones) {
    const b = document.createElement("button");
    b.className = "phone";
    b.dataset.phone = p.name;
    b.textContent = `Use ${p.name} (remembered phone, no QR code)`;
    b.onclick = () => choose(p.name);
    $("phones").append(b);
  }
  $("hybrid").disabled = false;
  $("fallback").disabled = false;
  (phones.length && phones[0].name === m.defaultPhone ? $("phones").firstChild : $("hybrid")).focus();
}

function update(m) {
  if (!built && m.origin) build(m);
  if (m.state === "running") {
    $("choose").hidden = true;
    $("running").hidden = false;
    if (m.phone) $("stage").textContent = `Contacting ${m.phone}…`;
  }
  if (m.qrSvg) {
    if (qrUrl) URL.revokeObjectURL(qrUrl);
    qrUrl = URL.createObjectURL(new Blob([m.qrSvg], {type: "image/svg+xml"}));
    $("qr").src = qrUrl;
    $("qr-box").hidden = false;
  }
  if (m.stage) {
    $("stage").textContent = STAGES[m.stage] || m.stage;
    document.body.dataset.stage = m.stage;
    if (m.stage !== "qr_shown" && m.stage !== "scanning") $("qr-box").hidden = true;
  }
  if (m.notice) $("notice").textContent = m.notice;
  if (m.state === "failed") {
    $("choose").hidden = true;
    $("running").hidden = true;
    $("failed").hidden = false;
    $("error").textContent = m.error;
    $("cancel").textContent = "Close";
    $("cancel").onclick = () => window.close();
  }
}

port.onMessage.addListener(update);
$("cancel").onclick = () => port.postMessage({choice: "cancel"});
