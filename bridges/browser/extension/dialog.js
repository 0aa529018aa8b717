// SPDX-License-Identifier: Apache-2.0
// The extension's dialog, framed over the calling page by content.js (an extension document the
// page cannot script): the remembered phones first, the QR code choice, the browser's own flow
// and Cancel; then the QR code (an SVG from hybridgate's qr/ layer, shown from a blob: URL), the
// progress, a success or a failure (a plain sentence, the code in a details line, and what can be
// done next). Escape cancels (or closes an ended dialog); the focus always sits on the next step.
"use strict";
const api = globalThis.browser ?? globalThis.chrome;
const token = location.hash.slice(1);
const port = api.runtime.connect({name: `dialog:${token}`});
const $ = (s) => document.getElementById(s);

const STAGES = {
  qr_shown: "Scan the QR code with your phone.",
  scanning: "Waiting for your phone…",
  phone_found: "Phone found nearby. Connecting…",
  tunnel_connected: "Connected to the relay.",
  secure_channel: "Secure connection to your phone.",
  waiting_for_user: "Confirm on your phone.",
  done: "Done.",
};

let qrUrl = null;
let built = false;
let ended = false;
let kind = "get";
let lastPhone = "";
let focusTarget = null;  // the element the current step's focus belongs on

// Puts the focus on the step's element (also when the frame receives the focus later: focusing
// the frame from the page may leave the focus on the body).
function focusOn(el) {
  focusTarget = el;
  el.focus();
}
window.addEventListener("focus", () => {
  if (focusTarget && (document.activeElement === document.body || !document.activeElement)) focusTarget.focus();
});

function send(m) {
  try { port.postMessage(m); } catch { /* the ceremony is gone */ }
}

function choose(phone) {
  lastPhone = phone;
  send({choice: "phone", phone, link: !phone && $("remember").checked});
}

function only(section) {
  for (const s of ["choose", "waiting", "running", "failed", "done"]) $(s).hidden = s !== section;
}

function build(m) {
  built = true;
  kind = m.kind;
  const creating = m.kind === "create";
  let host = m.origin;
  try { host = new URL(m.origin).host; } catch { /* keep the origin */ }
  $("title").textContent = creating ? `Create a passkey for ${host}` : `Sign in to ${host}`;
  document.title = creating ? "Create a passkey — hybridgate" : "Sign in — hybridgate";
  $("site").textContent = m.origin;
  if (creating && m.account) {
    $("account").textContent = `Account: ${m.account}`;
    $("account").hidden = false;
  }
  $("hybrid").onclick = () => choose("");
  $("remember").checked = m.linkPhone === true;
  for (const id of ["fallback", "fallback-waiting", "fallback-failed"]) $(id).onclick = () => send({choice: "fallback"});
  $("retry").onclick = () => choose(lastPhone);
  $("qr-instead").onclick = () => choose("");
  // Remembered phones first, the default one at the top.
  const phones = (m.phones || []).slice().sort((a, b) => (b.name === m.defaultPhone) - (a.name === m.defaultPhone));
  for (const p of phones) {
    const b = document.createElement("button");
    b.className = "phone";
    b.dataset.phone = p.name;
    b.textContent = `Use ${p.name} (remembered, no QR code)`;
    b.onclick = () => choose(p.name);
    $("phones").append(b);
  }
  if (phones.length) {
    $("phones").firstChild.classList.add("primary");
    $("hybrid").classList.remove("primary");
  }
  $("hybrid").disabled = false;
  $("fallback").disabled = false;
}

function firstButton() {
  return $("phones").firstChild || $("hybrid");
}

function update(m) {
  if (!built && m.origin) build(m);
  if (m.state === "choose") {
    only("choose");
    focusOn(firstButton());
  } else if (m.state === "waiting") {
    only("waiting");
    $("busy").textContent = `Another tab${m.busy ? ` (${m.busy})` : ""} is using your phone. ` +
                            "This request goes on when that one ends.";
    focusOn($("cancel"));
  } else if (m.state === "running") {
    only("running");
    $("qr-box").hidden = true;
    $("notice").textContent = "";
    $("stage").textContent = m.phone ? `Contacting ${m.phone}…` : "Starting…";
    focusOn($("cancel"));
  }
  if (m.qrSvg) {
    if (qrUrl) URL.revokeObjectURL(qrUrl);
    qrUrl = URL.createObjectURL(new Blob([m.qrSvg], {type: "image/svg+xml"}));
    $("qr").src = qrUrl;
    $("qr-box").hidden = false;
  }
  if (m.stage) {
    $("stage").textContent = STAGES[m.stage] || "Working…";
    document.body.dataset.stage = m.stage;
    if (m.stage !== "qr_shown" && m.stage !== "scanning") $("qr-box").hidden = true;
  }
  if (m.notice) $("notice").textContent = m.notice;
  if (m.state === "failed") {
    only("failed");
    $("error").textContent = m.error;
    $("code").textContent = m.code ? `Code: ${m.code}` : "";
    $("details").hidden = !m.code;
    $("qr-instead").hidden = !m.qrInstead;
    $("retry").hidden = !m.retry;
    $("fallback-failed").hidden = !m.retry;
    if (!m.retry) end();
    focusOn(m.qrInstead ? $("qr-instead") : m.retry ? $("retry") : $("cancel"));
  } else if (m.state === "done") {
    only("done");
    $("success").textContent = kind === "create" ? "Passkey created." : "Signed in.";
    end();
    focusOn($("cancel"));
  }
  send({height: document.querySelector("main").offsetHeight});
}

// The ceremony is over: the last button closes the dialog.
function end() {
  ended = true;
  $("cancel").textContent = "Close";
}

port.onMessage.addListener(update);
port.onDisconnect.addListener(() => { if (qrUrl) URL.revokeObjectURL(qrUrl); });
$("cancel").onclick = () => send({choice: ended ? "close" : "cancel"});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") {
    e.preventDefault();
    send({choice: ended ? "close" : "cancel"});
  } else if (e.key === "Enter" && !e.repeat && document.activeElement instanceof HTMLButtonElement) {
    // Enter activates the focused button on its key press (not left to the key press event, which
    // Firefox does not always deliver to an extension frame for synthesized keys).
    e.preventDefault();
    document.activeElement.click();
  }
});
new ResizeObserver(() => send({height: document.querySelector("main").offsetHeight})).observe(document.body);
