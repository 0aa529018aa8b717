# SPDX-License-Identifier: Apache-2.0
"""The browser tests that run the same in Firefox (test_firefox.py, WebDriver BiDi + Marionette)
and Chromium (test_chromium.py, DevTools protocol). Each takes a harness `h` offering:
  h.tab                         the page's context (a tab with tests/browser/page loaded)
  h.call(ctx, fn, *args, timeout=60)   a function declaration called in a page or dialog
  h.click(ctx, selector)        clicks an enabled, visible element of the dialog (waits for it)
  h.dialog(tab=None)            the next dialog frame over `tab` (default h.tab), loaded
  h.dialogs(tab=None)           the dialog frames over `tab` (default: every tab)
  h.closed(ctx)                 waits until the dialog frame is gone
  h.new_tab(), h.activate(ctx)  another tab with the page; gives a tab the focus
  h.press(*keys, shift=False)   key presses (Tab, Enter, Escape) as a person types them in h.tab
  h.start_virtual_authenticator(), h.virtual_credential_ids()   the browser's own authenticator
  h.fresh_qr(), h.qr_url()      the host's QR URL file (HYBRIDGATE_QR_URL_FILE)
  h.wd, h.relay, h.server, h.store, h.host_log, h.qr_file
"""

import asyncio
import json
import os
import socket
import time

from hgtest import TestFailure, check, phone, verify
from webpage import (FOCUSED, QR_SHOWN, TEXT_OF, VISIBLE_TEXT, b64, check_generic, check_shape,
                     creation_options)

RP = "localhost"
WRAPPED = "() => !String(CredentialsContainer.prototype.create).includes('[native code]')"


async def browser_registers_and_signs_in(h, choose_fallback):
    """create() then get() answered by Firefox's own WebAuthn and its virtual authenticator: with
    `choose_fallback` the person picks "Use a security key or this browser's own method" in the
    dialog each time; else no dialog may appear. The credential is the virtual authenticator's
    (WebAuthn:GetCredentials), python3-fido2 verifies both results, the host ran no ceremony."""
    await h.start_virtual_authenticator()
    check(await h.call(h.tab, WRAPPED), "the extension did not wrap navigator.credentials")
    results = []
    for kind in ("create", "get"):
        challenge = b64(os.urandom(32))
        options = creation_options(challenge) if kind == "create" else {"challenge": challenge}
        fn = "o => window.hgCreate(o)" if kind == "create" else "o => window.hgGet(o)"
        call = asyncio.create_task(h.call(h.tab, fn, options, timeout=90))
        try:
            if choose_fallback:
                dlg = await h.dialog()
                await h.click(dlg, "#fallback")
            r = json.loads(await call)
        finally:
            call.cancel()
        check("error" not in r, "the browser's own %s() failed after the fall-through: %r" % (kind, r))
        if choose_fallback:
            await h.closed(dlg)
        else:
            check(len(await h.dialogs()) == 0, "a dialog was shown although the extension cannot help")
        results.append((r, challenge))
    (reg, reg_challenge), (asr, asr_challenge) = results
    check("hybrid" not in reg["transports"], "the registration went through hybridgate: %r" % reg["transports"])
    ids = await h.virtual_credential_ids()
    check(ids == [reg["fromBuffers"]["id"]], "the virtual authenticator holds %r, the page got %r"
          % (ids, reg["fromBuffers"]["id"]))
    rc, stored, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=reg_challenge)
    check(rc == 0, "the verifier rejected the browser's registration: " + err)
    with open(h.wd.file("stored.json"), "w") as f:
        json.dump(stored, f)
    # Firefox's virtual authenticator keeps no signature counter (always 0): WebAuthn §7.2 accepts
    # a counter that is zero before and after, so the previous count given is -1.
    prev = stored["sign_count"] if stored["sign_count"] else -1
    rc, out, err = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=asr_challenge,
                          stored=h.wd.file("stored.json"), prev_sign_count=prev)
    check(rc == 0, "the verifier rejected the browser's assertion: " + err)
    check(out["credential_id"] == reg["fromBuffers"]["id"], "signed in with another credential")
    log = open(h.host_log).read() if os.path.exists(h.host_log) else ""
    check("start create" not in log and "start get" not in log, "the host ran a ceremony:\n" + log)


async def focused(h, ctx, want, timeout=10):
    """Waits until the element `want` (its id, else "TAG:text") has the focus in the dialog."""
    deadline = time.monotonic() + timeout
    while True:
        now = await h.call(ctx, FOCUSED)
        if now == want:
            return now
        if time.monotonic() > deadline:
            raise TestFailure("the focus is on %r (dialog focused: %r; the page: focused %r, on %r), not %r" % (
                now, await h.call(ctx, "() => document.hasFocus()"),
                await h.call(h.tab, "() => document.hasFocus()"), await h.call(h.tab, FOCUSED), want))
        await asyncio.sleep(0.05)  # poll interval of a bounded wait (as wait_for)


async def keyboard_only(h):
    """A ceremony done with the keyboard alone: the dialog opens with the focus on its first choice,
    Tab / Shift+Tab move it, Enter picks the phone (QR code; the phone answers), the success state
    is shown and the overlay goes; in the next call Escape cancels (generic NotAllowedError)."""
    h.fresh_qr()
    # The window has the system's focus, as the browser a person types in (headless: activated).
    await h.activate(h.tab)
    challenge = b64(os.urandom(32))
    call = asyncio.create_task(h.call(h.tab, "o => window.hgCreate(o)", creation_options(challenge), timeout=120))
    try:
        dlg = await h.dialog()
        await focused(h, dlg, "hybrid")
        await h.press("Tab")
        await focused(h, dlg, "remember")
        await h.press("Tab", shift=True)
        await focused(h, dlg, "hybrid")
        await h.press("Enter")
        url = await h.qr_url()
        await focused(h, dlg, "cancel")  # the focus follows the step: Cancel while the QR code is shown
        p = phone(h.bin, h.wd, url, h.relay.url, h.store, "--yes", name="keyboard-phone")
        reg = json.loads(await call)
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
    finally:
        call.cancel()
    check_shape(reg, "create")
    rc, _, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    await h.closed(dlg)

    call = asyncio.create_task(h.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))}, timeout=60))
    try:
        dlg = await h.dialog()
        await focused(h, dlg, "hybrid")
        await h.press("Escape")
        r = json.loads(await call)
    finally:
        call.cancel()
    check_generic(r, "Escape")
    await h.closed(dlg)
    check("start get" not in open(h.host_log).read(), "Escape started a ceremony")


async def two_tabs(h):
    """The dialog belongs to its tab: tab A's ceremony (QR code shown) has its dialog in tab A only;
    tab B's request gets its own dialog in tab B, which says another tab uses the phone and waits;
    when A is cancelled, B's dialog offers its choices and runs its own ceremony. Both pages learn
    only the generic NotAllowedError."""
    h.fresh_qr()
    call_a = asyncio.create_task(h.call(h.tab, "o => window.hgCreate(o)", creation_options(b64(os.urandom(32))),
                                             timeout=120))
    call_b = None
    tab_b = None
    try:
        dlg_a = await h.dialog(tab=h.tab)
        await h.click(dlg_a, "#hybrid")
        await h.qr_url()
        tab_b = await h.new_tab()
        call_b = asyncio.create_task(h.call(tab_b, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))},
                                                 timeout=120))
        dlg_b = await h.dialog(tab=tab_b)
        check(len(await h.dialogs(h.tab)) == 1 and len(await h.dialogs(tab_b)) == 1 and len(await h.dialogs()) == 2,
              "the dialogs are not one per tab")
        busy = await h.call(dlg_b, VISIBLE_TEXT, "#busy", 20000)
        check("Another tab" in busy and h.server.origin in busy, "tab B's dialog says %r" % busy)
        check(await h.call(dlg_b, "() => document.getElementById('choose').hidden"),
              "tab B offers the phone while tab A uses it")
        await h.activate(h.tab)
        await h.click(dlg_a, "#cancel")
        check_generic(json.loads(await call_a), "tab A cancelled")
        await h.closed(dlg_a)
        check(len(await h.dialogs(tab_b)) == 1 and len(await h.dialogs()) == 1, "tab B's dialog went with tab A's")
        h.fresh_qr()
        await h.activate(tab_b)
        await h.click(dlg_b, "#hybrid")  # offered again once A has ended
        await h.qr_url()
        await h.call(dlg_b, QR_SHOWN, 20000)
        await h.click(dlg_b, "#cancel")
        check_generic(json.loads(await call_b), "tab B cancelled")
        await h.closed(dlg_b)
    finally:
        call_a.cancel()
        if call_b:
            call_b.cancel()
    log = open(h.host_log).read()
    check(log.count("start create") == 1 and log.count("start get") == 1, "host log:\n" + log)


async def page_timeout_is_honoured(h):
    """The page asks for 6 s: with the QR code shown and no phone, the page gets the generic
    NotAllowedError after about that long (well before the extension's own limits), the host is
    told, and the dialog says the time ran out."""
    h.fresh_qr()
    t0 = time.monotonic()
    call = asyncio.create_task(h.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32)),
                                                                           "timeout": 6000}, timeout=120))
    try:
        dlg = await h.dialog()
        await h.click(dlg, "#hybrid")
        await h.qr_url()
        r = json.loads(await call)
    finally:
        call.cancel()
    elapsed = time.monotonic() - t0
    print("the page's 6 s timeout ended the call after %.1f s" % elapsed)
    check_generic(r, "after the page's timeout")
    check(elapsed < 30, "the page's 6 s timeout was not honoured: %.1f s" % elapsed)
    shown = await h.call(dlg, VISIBLE_TEXT, "#error", 20000)
    check("time" in shown.lower(), "the dialog does not say the time ran out: %r" % shown)
    check(await h.call(dlg, TEXT_OF, "#cancel") == "Close", "no Close button")
    await h.click(dlg, "#cancel")
    await h.closed(dlg)


def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DOWN_PORT = closed_port()


async def relay_down_is_named(h):
    """The relay is down (nothing listens on its port): after the person picks the QR code, the
    dialog says the relay cannot be reached, naming it, within the connect deadline (15 s) rather
    than waiting for the phone; it offers Try again and the browser's own method (focused: Try
    again); the page still waits, and gets the generic NotAllowedError when the person cancels."""
    h.fresh_qr()
    call = asyncio.create_task(h.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))},
                                           timeout=120))
    try:
        dlg = await h.dialog()
        t0 = time.monotonic()
        await h.click(dlg, "#hybrid")
        shown = await h.call(dlg, VISIBLE_TEXT, "#error", 20000)
        elapsed = time.monotonic() - t0
        print("relay down: named after %.1f s: %s" % (elapsed, shown))
        check("relay" in shown and "127.0.0.1:%d" % DOWN_PORT in shown, "the dialog says %r" % shown)
        check(elapsed < 16, "the relay was named only after %.1f s" % elapsed)
        check("tunnel.unreachable" in await h.call(dlg, TEXT_OF, "#code"), "no code in the details line")
        check(not call.done(), "the page was answered while the person can still retry")
        await focused(h, dlg, "retry")
        check(await h.call(dlg, "() => !document.getElementById('fallback-failed').hidden"),
              "the browser's own method is not offered")
        await h.click(dlg, "#cancel")
        check_generic(json.loads(await call), "cancelled after the relay error")
        await h.closed(dlg)
    finally:
        call.cancel()
    check("relay probe: tunnel.unreachable" in open(h.host_log).read(), "host log")


async def link_phone(h, name):
    """A registration through the QR code with "Remember this phone" ticked: the phone is linked."""
    h.fresh_qr()
    challenge = b64(os.urandom(32))
    call = asyncio.create_task(h.call(h.tab, "o => window.hgCreate(o)", creation_options(challenge), timeout=120))
    try:
        dlg = await h.dialog()
        await h.click(dlg, "#remember")
        await h.click(dlg, "#hybrid")
        url = await h.qr_url()
        p = phone(h.bin, h.wd, url, h.relay.url, h.store, "--yes", "--link", "--phone-name", name, name="link-phone")
        reg = json.loads(await call)
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
    finally:
        call.cancel()
    check_shape(reg, "create")
    await h.closed(dlg)
    return reg, challenge


async def offline_remembered_phone_offers_a_qr_code(h):
    """A remembered phone that is offline (not listening on the relay): the dialog lists it first
    and focused, says it did not answer, and offers "Use a QR code instead" (focused); that QR code
    signs in (verified by python3-fido2)."""
    name = "Offline Phone"
    reg, challenge = await link_phone(h, name)
    rc, stored, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    h.fresh_qr()
    challenge = b64(os.urandom(32))
    call = asyncio.create_task(h.call(h.tab, "o => window.hgGet(o)", {"challenge": challenge}, timeout=120))
    try:
        dlg = await h.dialog()
        first = await h.call(dlg, "() => document.querySelector('#choose button').dataset.phone || null")
        check(first == name, "the remembered phone is not the first choice: %r" % first)
        await h.call(dlg, "() => document.activeElement.dataset.phone === %s || "
                               "Promise.reject(new Error('not focused'))" % json.dumps(name))
        await h.click(dlg, 'button.phone[data-phone="%s"]' % name)
        shown = await h.call(dlg, VISIBLE_TEXT, "#error", 30000)
        print("offline phone: %s / %s" % (shown, await h.call(dlg, TEXT_OF, "#code")))
        check(name in shown and "did not answer" in shown, "the dialog says %r" % shown)
        await focused(h, dlg, "qr-instead")
        check(not os.path.exists(h.qr_file), "a QR code before the person asked for one")
        await h.click(dlg, "#qr-instead")
        url = await h.qr_url()
        await h.call(dlg, QR_SHOWN, 20000)
        p = phone(h.bin, h.wd, url, h.relay.url, h.store, "--yes", name="qr-phone")
        asr = json.loads(await call)
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
        await h.closed(dlg)
    finally:
        call.cancel()
    check_shape(asr, "get")
    with open(h.wd.file("stored.json"), "w") as f:
        json.dump(stored, f)
    rc, _, err = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge,
                        stored=h.wd.file("stored.json"), prev_sign_count=stored["sign_count"])
    check(rc == 0, "the verifier rejected the assertion: " + err)




# -- the dialog's states: axe-core in each, and screenshots on request (docs/firefox.md)
AXE_DIR = os.path.join(os.environ.get("HG_TEST_NODE_DIR", "/var/cache/hybridgate/test-node"), "node_modules",
                       "axe-core")
AXE_OPTIONS = ('{runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", '
               '"best-practice"]}, resultTypes: ["violations"]}')
AXE_REPORT = ("(r) => r.violations.map((v) => v.id + ': ' + v.help + ' [' + "
              "v.nodes.map((n) => n.target.join(' ')).join(', ') + ']')")
AXE_RUN = "async () => (%s)(await axe.run(document, %s))" % (AXE_REPORT, AXE_OPTIONS)
# Arms a check of the success state: axe runs the moment it is shown (it stays a moment only).
AXE_ON_DONE = """() => {
  window.hgDoneAxe = new Promise((resolve, reject) => {
    const done = document.getElementById("done");
    const go = () => { if (done.hidden) return false; obs.disconnect();
                       axe.run(document, %s).then((r) => resolve((%s)(r)), reject); return true; };
    const obs = new MutationObserver(go);
    obs.observe(document, {subtree: true, childList: true, attributes: true});
    go();
  });
  return true;
}""" % (AXE_OPTIONS, AXE_REPORT)


class States:
    """Checks each dialog state with axe-core (no violations) and, with a directory, saves a
    screenshot of the page with the dialog over it as BROWSER-dialog-STATE-THEME.png."""

    def __init__(self, h, browser, theme, shots):
        self.h, self.browser, self.theme, self.shots = h, browser, theme, shots
        self.axe = open(os.path.join(AXE_DIR, "axe.min.js")).read()
        self.checked = []

    async def inject(self, dlg):
        await self.h.evaluate(dlg, self.axe)

    async def shot(self, tab, state):
        if self.shots:
            os.makedirs(self.shots, exist_ok=True)
            await self.h.screenshot(tab, os.path.join(self.shots, "%s-dialog-%s-%s.png" % (self.browser, state,
                                                                                           self.theme)))

    def record(self, state, violations):
        check(violations == [], "axe-core: %d violation(s) in the %s state (%s): %s"
              % (len(violations), state, self.theme, "; ".join(violations)))
        self.checked.append(state)

    async def check(self, dlg, tab, state):
        await self.inject(dlg)
        await self.shot(tab, state)
        self.record(state, await self.h.call(dlg, AXE_RUN, timeout=60))


async def dialog_states(h, browser, theme, shots=None):
    """Every state of the dialog, in order: the first choice, the QR code, success; the choice with
    a remembered phone (first, focused: Enter uses it), that phone offline (failure, "Use a QR code
    instead");
    a second tab waiting. Each has no axe-core violations (WCAG 2.2 A/AA and best practices); the
    colour scheme follows prefers-color-scheme (checked: the dialog's background)."""
    st = States(h, browser, theme, shots)
    name = "Pixel 8"
    h.fresh_qr()
    call = asyncio.create_task(h.call(h.tab, "o => window.hgCreate(o)", creation_options(b64(os.urandom(32))),
                                      timeout=120))
    try:
        dlg = await h.dialog()
        dark = await h.call(dlg, "() => matchMedia('(prefers-color-scheme: dark)').matches")
        bg = await h.call(dlg, "() => getComputedStyle(document.body).backgroundColor")
        check(dark == (theme == "dark"), "prefers-color-scheme: dark is %r in the %s run" % (dark, theme))
        check((bg == "rgb(43, 42, 51)") == (theme == "dark"), "the dialog's background in the %s run: %s" % (theme, bg))
        await st.check(dlg, h.tab, "choose")
        await h.click(dlg, "#remember")
        await h.click(dlg, "#hybrid")
        url = await h.qr_url()
        await h.call(dlg, QR_SHOWN, 20000)
        await st.check(dlg, h.tab, "qr")
        await h.call(dlg, AXE_ON_DONE)
        shown = asyncio.create_task(h.call(dlg, VISIBLE_TEXT, "#success", 60000, timeout=90))
        p = phone(h.bin, h.wd, url, h.relay.url, h.store, "--yes", "--link", "--phone-name", name, name="link-phone")
        check("created" in await shown, "the success state")
        await st.shot(h.tab, "done")
        st.record("done", await h.call(dlg, "() => window.hgDoneAxe"))
        check_shape(json.loads(await call), "create")
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
        await h.closed(dlg)
    finally:
        call.cancel()

    call = asyncio.create_task(h.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))}, timeout=120))
    try:
        dlg = await h.dialog()
        await focused(h, dlg, "BUTTON:Use %s (remembered, no QR code)" % name)  # first and focused
        await st.check(dlg, h.tab, "choose-remembered")
        await h.press("Enter")  # Enter uses the focused remembered phone; no phone listens: offline
        await h.call(dlg, VISIBLE_TEXT, "#error", 30000)
        await h.click(dlg, "#details summary")  # the details line, open
        await st.check(dlg, h.tab, "phone-offline")
        await h.click(dlg, "#cancel")
        check_generic(json.loads(await call), "cancelled")
        await h.closed(dlg)
    finally:
        call.cancel()

    h.fresh_qr()
    call_a = asyncio.create_task(h.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))}, timeout=120))
    call_b = None
    try:
        dlg_a = await h.dialog()
        await h.click(dlg_a, "#hybrid")
        await h.qr_url()
        tab_b = await h.new_tab()
        call_b = asyncio.create_task(h.call(tab_b, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))},
                                            timeout=120))
        dlg_b = await h.dialog(tab=tab_b)
        await h.call(dlg_b, VISIBLE_TEXT, "#busy", 20000)
        await h.activate(tab_b)
        await st.check(dlg_b, tab_b, "waiting")
        await h.click(dlg_b, "#cancel")
        check_generic(json.loads(await call_b), "tab B cancelled")
        await h.activate(h.tab)
        await h.click(dlg_a, "#cancel")
        check_generic(json.loads(await call_a), "tab A cancelled")
    finally:
        call_a.cancel()
        if call_b:
            call_b.cancel()
    print("axe-core %s: no violations in %d states (%s, %s): %s"
          % (json.load(open(os.path.join(AXE_DIR, "package.json")))["version"], len(st.checked), browser, theme,
             ", ".join(st.checked)))
